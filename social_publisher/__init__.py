"""social-publisher: the town office's Facebook Page and Zalo OA publisher."""

from __future__ import annotations

__version__ = "0.1.0"
