"""What every channel takes and gives back, so the daemon never needs to know a platform.

A channel's create calls raise :class:`~social_publisher.errors.OutcomeUnknownError`
when the request was sent and no trustworthy answer came back; the daemon then
calls :meth:`Channel.find_published` before it would ever retry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class OutgoingImage:
    """One rendition ready to send (Facebook uploads the file, Zalo fetches ``public_url``)."""

    path: Path
    sha256: str
    width: int
    height: int
    bytes: int
    public_url: str | None = None


@dataclass(frozen=True)
class OutgoingPost:
    """Exactly what was approved, in the shape a channel publishes."""

    publication_id: int
    content_hash: str
    title: str
    body: str
    publish_at: datetime
    link: str | None = None
    author: str | None = None
    description: str | None = None
    images: tuple[OutgoingImage, ...] = ()
    cover: OutgoingImage | None = None
    zalo_broadcast: bool = False


@dataclass(frozen=True)
class RemotePost:
    """A post as the platform knows it."""

    remote_id: str
    url: str | None = None
    created_time: datetime | None = None
    scheduled_for: datetime | None = None
    is_published: bool = True
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Engagement:
    """Counters read from a platform; None where the platform does not answer that figure."""

    remote_id: str
    reactions: int | None = None
    comments: int | None = None
    shares: int | None = None
    views: int | None = None
    reach: int | None = None
    raw: dict[str, object] = field(default_factory=dict)


class Channel(Protocol):
    """The part of a channel the daemon drives; platform extras live on the concrete class."""

    name: str

    def publish(self, post: OutgoingPost) -> RemotePost:
        """Create the post now, whole (with all its photos) or not at all."""
        ...

    def find_published(
        self, post: OutgoingPost, since: datetime, *, exclude: frozenset[str] = frozenset()
    ) -> RemotePost | None:
        """Look on the platform for ``post`` created since ``since``; None when not there.

        By content, never by title alone; a post whose id is in ``exclude`` (held by
        another publication) is never answered; one that may be ours but cannot be
        verified raises :class:`~social_publisher.errors.UnverifiedMatchError`.
        """
        ...


@dataclass(frozen=True)
class Diagnosis:
    """One line of ``doctor``: what was checked, whether it is fine, and (Vietnamese) what to do."""

    name: str
    ok: bool
    message: str
    warning: bool = False
