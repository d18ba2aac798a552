"""The channel contract: what every channel takes and gives back, and what it may also do.

:class:`Channel` is what the daemon needs of any platform; the capability
protocols below are what some platforms add (Facebook schedules natively, Zalo
creates in two steps and broadcasts...). Services hold channels as
``dict[str, Channel]`` and ask for a capability with ``isinstance(channel,
SchedulesNatively)``; the real channels inherit the protocols they implement, so
mypy checks each signature against this contract.

A channel's create calls raise :class:`~social_publisher.errors.OutcomeUnknownError`
when the request was sent and no trustworthy answer came back; the daemon then
calls :meth:`Channel.find_published` before it would ever retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


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


@dataclass(frozen=True)
class Diagnosis:
    """One line of ``doctor``: what was checked, whether it is fine, and (Vietnamese) what to do."""

    name: str
    ok: bool
    message: str
    warning: bool = False


# ------------------------------------------------------------------ the contract


@runtime_checkable
class Channel(Protocol):
    """The part of a channel the daemon drives; platform extras are the capabilities below."""

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


@runtime_checkable
class SchedulesNatively(Protocol):
    """Facebook: the platform holds the post and publishes it at its time."""

    def schedule(self, post: OutgoingPost, at: datetime) -> RemotePost: ...

    def reschedule(self, remote_id: str, at: datetime) -> Any: ...

    def update_message(self, remote_id: str, post: OutgoingPost) -> Any: ...

    def cancel(self, remote_id: str) -> Any:
        """Delete a scheduled post (a live one too); a post already gone counts as done."""
        ...

    def publish_scheduled_now(self, remote_id: str) -> Any: ...

    def in_schedule_window(self, at: datetime, now: datetime) -> bool: ...


@runtime_checkable
class FindsScheduled(Protocol):
    """Looks among the posts the platform's scheduler holds, whenever they were handed over
    (asked before scheduling: a restored database does not know what it handed over since)."""

    def find_scheduled(
        self, post: OutgoingPost, *, exclude: frozenset[str] = frozenset()
    ) -> RemotePost | None: ...


@runtime_checkable
class ScheduleHorizon(Protocol):
    """How far ahead the native scheduler takes a post (lets the publisher filter in SQL)."""

    schedule_max_lead: timedelta


@runtime_checkable
class ReadsPosts(Protocol):
    """Reads one post by its id (else confirming goes through ``find_published``)."""

    def get_post(self, remote_id: str) -> RemotePost | None: ...


@runtime_checkable
class CreatesInTwoSteps(Protocol):
    """Zalo: create answers a processing token; verify turns it into the article."""

    def create_article(self, post: OutgoingPost) -> str: ...

    def verify_article(self, token: str) -> RemotePost: ...


@runtime_checkable
class ChecksQuota(Protocol):
    """Refuses (``QuotaError``) before a create the account's plan would refuse."""

    def check_quota(self, published_this_month: int, now: datetime) -> None: ...


@runtime_checkable
class Broadcasts(Protocol):
    """Zalo: push a published article to the followers (no idempotency either)."""

    def broadcast(self, article_id: str, *, now: datetime, sent_this_month: int = 0) -> None: ...


@runtime_checkable
class RemovesArticles(Protocol):
    """Zalo: take a live article down (Facebook's ``cancel`` deletes a live post too)."""

    def remove_article(self, article_id: str) -> None: ...


@runtime_checkable
class CollectsEngagement(Protocol):
    """Counters of many posts in few requests, keyed by remote id."""

    def fetch_engagement(self, remote_ids: Sequence[str], /) -> Any: ...


@runtime_checkable
class ReadsFeeds(Protocol):
    """Reads another Page's feed with that Page's token (agency shares); ``with_proof`` only
    for a token our own app issued (``appsecret_proof`` is refused with another app's)."""

    def read_page_feed(
        self, page_id: str, *, token: str, since: datetime, with_proof: bool = False
    ) -> Sequence[Any]: ...


@runtime_checkable
class Diagnoses(Protocol):
    """``doctor`` lines about this channel's settings, token and reachability."""

    def diagnose(self) -> list[Diagnosis]: ...
