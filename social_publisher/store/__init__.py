"""Persistence: the models, the engine, and the migrations."""

from __future__ import annotations

from ..states import PostState, PubState
from .db import Database, make_engine
from .models import (
    Agency,
    Attempt,
    AuditEvent,
    Base,
    ChannelHealth,
    EngagementSnapshot,
    Meta,
    PlatformToken,
    Post,
    PostVersion,
    Publication,
    ScanCache,
    Share,
    utcnow,
)

__all__ = [
    "Agency",
    "Attempt",
    "AuditEvent",
    "Base",
    "ChannelHealth",
    "Database",
    "EngagementSnapshot",
    "Meta",
    "PlatformToken",
    "Post",
    "PostState",
    "PostVersion",
    "PubState",
    "Publication",
    "ScanCache",
    "Share",
    "make_engine",
    "utcnow",
]
