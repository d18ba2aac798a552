"""Persistence: the models, the engine, and the migrations."""

from __future__ import annotations

from ..states import PostState, PubState
from .alert_models import Alert, AlertDelivery
from .db import Database, make_engine
from .models import (
    Agency,
    Approval,
    Attempt,
    AuditEvent,
    Base,
    ChannelHealth,
    ConsoleWrite,
    EngagementSnapshot,
    Meta,
    PlatformToken,
    Post,
    PostVersion,
    Publication,
    ScanCache,
    Share,
    WebAccount,
    Worker,
    utcnow,
)

__all__ = [
    "Agency",
    "Alert",
    "AlertDelivery",
    "Approval",
    "Attempt",
    "AuditEvent",
    "Base",
    "ChannelHealth",
    "ConsoleWrite",
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
    "WebAccount",
    "Worker",
    "make_engine",
    "utcnow",
]
