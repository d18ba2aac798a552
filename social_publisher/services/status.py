"""What ``status`` and the staff actions read: every post × channel, channel health, warnings.

The command line prints; this module reads (no writes besides the fresh ingest
``status`` asks for). Staff read it to answer "did it go out, and if not, why":
the publication state per channel, the due time, the link on the platform, the
last error or the reason a person must act, and whether each channel is usable.

Extension point: :data:`WARNING_SOURCES` holds callables that add warning lines
(Zalo refresh-token age, for one). Each gets ``(settings, db, now)`` and returns
lines of Vietnamese text; a failing source becomes a warning itself and never
breaks ``status``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..config import Settings
from ..errors import QueueError
from ..platforms import CHANNELS
from ..states import POST_LABELS, PUBLICATION_LABELS, PostState, PubState
from ..store import ChannelHealth, Database, Post, Publication
from .ingest import ingest
from .settle import settles_at
from .setup_checks import status_warnings
from .zalo_token_report import token_warnings

WarningSource = Callable[[Settings, Database, datetime], Iterable[str]]
#: callables adding warning lines to ``status`` (see the module docstring)
WARNING_SOURCES: list[WarningSource] = [
    lambda settings, db, now: token_warnings(db, settings, now) if settings.zalo_enabled else [],
    status_warnings,
]

POST_STATE_LABELS: dict[str, str] = {state.value: label for state, label in POST_LABELS.items()}
PUB_STATE_LABELS: dict[str, str] = {
    state.value: label for state, label in PUBLICATION_LABELS.items()
}
NOT_SCHEDULED = "chưa lên lịch"
#: a due post whose folder changed less than QUEUE_SETTLE_SECONDS ago
SETTLING = "chờ thư mục bài ổn định"
CHANNEL_OFF = "kênh tắt"


@dataclass
class ChannelRow:
    channel: str
    enabled: bool
    publication_state: str | None
    label: str
    due_at: datetime | None
    remote_id: str | None = None
    remote_url: str | None = None
    last_error: str | None = None
    attention_reason: str | None = None
    next_attempt_at: datetime | None = None


@dataclass
class PostRow:
    folder: str
    title: str
    state: str
    approved_by: str | None
    publish_at: datetime | None
    problems: list[dict[str, Any]]
    channels: list[ChannelRow] = field(default_factory=list)


@dataclass
class ChannelStatus:
    channel: str
    enabled: bool
    missing: list[str]
    health: str | None
    blocked_until: datetime | None
    reason: str | None


@dataclass
class StatusReport:
    posts: list[PostRow]
    channels: list[ChannelStatus]
    warnings: list[str]

    @property
    def needs_people(self) -> bool:
        return any(p.state == PostState.ERROR for p in self.posts) or any(
            c.publication_state == PubState.NEEDS_ATTENTION for p in self.posts for c in p.channels
        )


def status(db: Database, settings: Settings, now: datetime) -> StatusReport:
    """``status``: read the queue again (a missing queue is a warning), then :func:`collect`."""
    queue_warnings: list[str] = []
    try:
        ingest(db, settings, now=now)
    except QueueError as exc:
        queue_warnings = [p.message for p in exc.problems]
    report = collect(db, settings, now)
    report.warnings[:0] = queue_warnings
    return report


def collect(db: Database, settings: Settings, now: datetime) -> StatusReport:
    """Read posts, publications and channel health; no writes."""
    with db.session() as session:
        posts = session.scalars(
            select(Post)
            .options(selectinload(Post.publications), selectinload(Post.current_version))
            .order_by(Post.folder)
        ).all()
        health = {h.channel: h for h in session.scalars(select(ChannelHealth))}
        rows: list[PostRow] = []
        for post in posts:
            pubs = {pub.channel: pub for pub in post.publications}
            if post.state == PostState.REMOVED and not pubs:
                continue  # gone before anything happened: history, not status
            version = post.current_version
            problems = list(version.problems) if version and post.state == PostState.ERROR else []
            row = PostRow(
                post.folder, post.title, post.state, post.approved_by, post.publish_at, problems
            )
            channels = [c for c in CHANNELS if c in post.channels or c in pubs] or list(CHANNELS)
            for channel in channels:
                row.channels.append(_channel_row(channel, pubs.get(channel), post, settings))
                _show_settling(row.channels[-1], post, settings, now)
            rows.append(row)
    statuses = [
        ChannelStatus(
            channel=channel,
            enabled=settings.channel_enabled(channel),
            missing=settings.missing_for(channel),
            health=health[channel].state if channel in health else None,
            blocked_until=health[channel].blocked_until if channel in health else None,
            reason=health[channel].reason if channel in health else None,
        )
        for channel in CHANNELS
    ]
    return StatusReport(rows, statuses, _warnings(settings, db, now))


def _channel_row(
    channel: str, pub: Publication | None, post: Post, settings: Settings
) -> ChannelRow:
    enabled = settings.channel_enabled(channel)
    if pub is None:
        return ChannelRow(
            channel=channel,
            enabled=enabled,
            publication_state=None,
            label=NOT_SCHEDULED if enabled else CHANNEL_OFF,
            due_at=post.publish_at,
        )
    return ChannelRow(
        channel=channel,
        enabled=enabled,
        publication_state=pub.state,
        label=PUB_STATE_LABELS.get(pub.state, pub.state),
        due_at=pub.due_at or post.publish_at,
        remote_id=pub.remote_id,
        remote_url=pub.remote_url,
        last_error=pub.last_error,
        attention_reason=pub.attention_reason,
        next_attempt_at=pub.next_attempt_at,
    )


def _show_settling(row: ChannelRow, post: Post, settings: Settings, now: datetime) -> None:
    """A due post waiting for its folder to stop changing says so, with until when."""
    waiting = row.publication_state in (PubState.DUE, PubState.RETRY_WAIT) or (
        row.publication_state == PubState.PENDING and row.due_at is not None and row.due_at <= now
    )
    ready = settles_at(post.folder_changed_at, settings)
    if waiting and ready is not None and ready > now:
        row.label = f"{row.label}, {SETTLING} đến {ready.astimezone(settings.tz):%H:%M:%S}"


def _warnings(settings: Settings, db: Database, now: datetime) -> list[str]:
    lines: list[str] = []
    for source in WARNING_SOURCES:
        try:
            lines.extend(source(settings, db, now))
        except Exception as exc:  # a warning source must never break status
            name = getattr(source, "__name__", type(source).__name__)
            lines.append(f"Không kiểm tra được cảnh báo {name} ({type(exc).__name__}).")
    return lines


# ------------------------------------------------------------------ one post, after an action


@dataclass(frozen=True)
class PublicationLine:
    """One channel of one post, as a staff action reports it."""

    channel: str
    state: str
    label: str
    where: str
    attention_reason: str | None
    last_error: str | None

    @property
    def needs_people(self) -> bool:
        return self.state == PubState.NEEDS_ATTENTION


def post_publications(db: Database, post_id: int) -> list[PublicationLine]:
    """Each publication of the post, by channel (what ``retry``/``withdraw``/``publish-now``
    print once they ran the pass themselves)."""
    with db.session() as session:
        return [
            PublicationLine(
                channel=pub.channel,
                state=pub.state,
                label=PUB_STATE_LABELS.get(pub.state, pub.state),
                where=pub.remote_url or pub.remote_id or "",
                attention_reason=pub.attention_reason,
                last_error=pub.last_error,
            )
            for pub in session.scalars(
                select(Publication)
                .where(Publication.post_id == post_id)
                .order_by(Publication.channel)
            )
        ]
