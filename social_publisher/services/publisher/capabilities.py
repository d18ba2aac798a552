"""What the publishing steps ask of a channel beyond publishing (moved to channels.base next)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ...channels.base import OutgoingPost, RemotePost


@runtime_checkable
class SchedulesNatively(Protocol):
    """Facebook: the platform holds the post and publishes it at its time."""

    def schedule(self, post: OutgoingPost, at: datetime) -> RemotePost: ...

    def reschedule(self, remote_id: str, at: datetime) -> Any: ...

    def update_message(self, remote_id: str, post: OutgoingPost) -> Any: ...

    def cancel(self, remote_id: str) -> Any: ...

    def publish_scheduled_now(self, remote_id: str) -> Any: ...

    def in_schedule_window(self, at: datetime, now: datetime) -> bool: ...


@runtime_checkable
class ReadsPosts(Protocol):
    def get_post(self, remote_id: str) -> RemotePost | None: ...


@runtime_checkable
class CreatesInTwoSteps(Protocol):
    """Zalo: create answers a processing token; verify turns it into the article."""

    def create_article(self, post: OutgoingPost) -> str: ...

    def verify_article(self, token: str) -> RemotePost: ...
