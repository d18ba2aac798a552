"""A local emulator of the Graph and Zalo OA APIs, for the demo, training and tests.

``Sandbox`` (see :mod:`.server`) serves both halves on one loopback port with fault
injection (:mod:`.faults`). The constants are the default sandbox identity: the demo and
the tests configure the tool with them (``Sandbox.env()`` gives the matching settings).
"""

from __future__ import annotations

from .faults import Fault, Faults
from .graph import APP_ID as SANDBOX_FB_APP_ID
from .graph import APP_SECRET as SANDBOX_FB_APP_SECRET
from .graph import GRAPH_VERSION as SANDBOX_FB_GRAPH_VERSION
from .graph import PAGE_ID as SANDBOX_FB_PAGE_ID
from .graph import PAGE_NAME as SANDBOX_FB_PAGE_NAME
from .graph import PAGE_TOKEN as SANDBOX_FB_PAGE_TOKEN
from .graph import GraphHalf
from .halves import DropConnection, HalfContext, SandboxRequest, SandboxResponse
from .server import Sandbox, serve_forever

__all__ = [
    "SANDBOX_FB_APP_ID",
    "SANDBOX_FB_APP_SECRET",
    "SANDBOX_FB_GRAPH_VERSION",
    "SANDBOX_FB_PAGE_ID",
    "SANDBOX_FB_PAGE_NAME",
    "SANDBOX_FB_PAGE_TOKEN",
    "DropConnection",
    "Fault",
    "Faults",
    "GraphHalf",
    "HalfContext",
    "Sandbox",
    "SandboxRequest",
    "SandboxResponse",
    "serve_forever",
]
