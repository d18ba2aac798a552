"""What ``status`` and the staff actions read: every post × channel, channel health, warnings.

The command line prints; this module reads (no writes besides the fresh ingest
``status`` asks for). Staff read it to answer "did it go out, and if not, why":
the publication state per channel, the due time, the link on the platform, the
last error or the reason a person must act, and whether each channel is usable.

Posts come in time order (due time, then folder), each with its number (the id
``publish-now N`` takes) and its state as the database knows it (``đã đăng``
once live, not the folder's ``sẵn sàng``: :func:`~social_publisher.states.post_progress`).
:class:`StatusView` narrows the list (``--upcoming``, ``--week``, ``--attention``).

Extension point: :data:`WARNING_SOURCES` holds callables that add warning lines
(Zalo refresh-token age, for one). Each gets ``(settings, db, now)`` and returns
lines of Vietnamese text; a failing source becomes a warning itself and never
breaks ``status``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..config import Settings
from ..errors import QueueError
from ..platforms import CHANNELS
from ..states import (
    BLOCKING_HEALTH,
    OPEN_STATES,
    PLATFORM_HELD,
    POST_LABELS,
    PUBLICATION_LABELS,
    SHOWN_LABELS,
    PostState,
    PubState,
    post_progress,
)
from ..store import ChannelHealth, Database, Post, Publication
from .alert_sender import undelivered_warnings
from .ingest import ingest
from .planner import OVERRIDE_PUBLISH, OVERRIDE_WITHDRAW
from .settle import settles_at
from .setup_checks import status_warnings
from .zalo_token_report import token_warnings

WarningSource = Callable[[Settings, Database, datetime], Iterable[str]]
#: callables adding warning lines to ``status`` (see the module docstring)
WARNING_SOURCES: list[WarningSource] = [
    lambda settings, db, now: token_warnings(db, settings, now) if settings.zalo_enabled else [],
    status_warnings,
    undelivered_warnings,  # alerts still owed to an ALERT_URLS target
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
    #: the post's number (its id): what ``publish-now N``, ``retry N``, ``withdraw N`` take
    number: int = 0
    #: how far it went, from its publications (None: the folder's ``state`` is the truth)
    progress: str | None = None

    @property
    def shown_state(self) -> str:
        """What the post column says: the database's knowledge first, then the folder's."""
        return self.progress or self.state

    @property
    def shown_label(self) -> str:
        return SHOWN_LABELS.get(self.shown_state, self.shown_state)

    @property
    def due_at(self) -> datetime | None:
        """The earliest time any channel of the post is due (the sort key)."""
        times = [c.due_at for c in self.channels if c.due_at is not None]
        return min(times) if times else self.publish_at


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


def status(
    db: Database, settings: Settings, now: datetime, view: StatusView | None = None
) -> StatusReport:
    """``status``: read the queue again (a missing queue is a warning), then :func:`collect`
    (narrowed to ``view``)."""
    queue_warnings: list[str] = []
    try:
        ingest(db, settings, now=now)
    except QueueError as exc:
        queue_warnings = [p.message for p in exc.problems]
    report = collect(db, settings, now)
    report.warnings[:0] = queue_warnings
    if view is not None:
        report.posts = view.select(report, now, settings.tz)
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
            row.number = post.id
            row.progress = post_progress(
                [pub.state for pub in pubs.values()],
                publish_now=post.override == OVERRIDE_PUBLISH,
                withdrawn_by_staff=post.override == OVERRIDE_WITHDRAW,
            )
            channels = [c for c in CHANNELS if c in post.channels or c in pubs] or list(CHANNELS)
            for channel in channels:
                row.channels.append(_channel_row(channel, pubs.get(channel), post, settings))
                _show_settling(row.channels[-1], post, settings, now)
            rows.append(row)
    rows.sort(key=_by_time)  # stable: folders stay in name order within a time
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


def _by_time(row: PostRow) -> tuple[bool, datetime]:
    """Due time first (a post without one last), then folder (the query's order)."""
    when = row.due_at
    return (when is None, when or datetime.min.replace(tzinfo=UTC))


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


# ------------------------------------------------------------------ narrowing the list


def week_of(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """This calendar week in the office's zone: Monday 00:00 to the next Monday 00:00 (the
    week an office plans by, and the reports' week)."""
    local = now.astimezone(tz)
    monday = datetime(local.year, local.month, local.day, tzinfo=tz) - timedelta(
        days=local.weekday()
    )
    return monday, monday + timedelta(days=7)


@dataclass(frozen=True)
class StatusView:
    """Which posts ``status`` lists; every filter set must hold (``--week --attention``)."""

    #: not yet live: a channel still to go out (drafts and held posts count, withdrawn and
    #: removed posts do not)
    upcoming: bool = False
    #: due this calendar week (:func:`week_of`)
    week: bool = False
    #: needs a person: a post in error or held, a publication that needs attention, or a
    #: channel blocked until staff act (token, permission, setting) with the post still to go
    attention: bool = False

    @property
    def active(self) -> bool:
        return self.upcoming or self.week or self.attention

    def select(self, report: StatusReport, now: datetime, tz: ZoneInfo) -> list[PostRow]:
        blocked = {c.channel for c in report.channels if c.health in BLOCKING_HEALTH}
        start, end = week_of(now, tz)
        return [
            post
            for post in report.posts
            if (not self.upcoming or _upcoming(post))
            and (not self.week or (post.due_at is not None and start <= post.due_at < end))
            and (not self.attention or _needs_a_person(post, blocked))
        ]


_STILL_TO_GO = frozenset(s.value for s in (*OPEN_STATES, *PLATFORM_HELD))


def _to_go(channel: ChannelRow) -> bool:
    if channel.publication_state is None:
        return channel.enabled
    return channel.publication_state in _STILL_TO_GO


def _upcoming(post: PostRow) -> bool:
    if post.shown_state in (PostState.WITHDRAWN, PostState.REMOVED):
        return False
    return any(_to_go(c) for c in post.channels)


def _needs_a_person(post: PostRow, blocked: set[str]) -> bool:
    if post.shown_state in (PostState.ERROR, PostState.HELD, PubState.NEEDS_ATTENTION):
        return True
    return any(
        c.publication_state == PubState.NEEDS_ATTENTION
        or (c.enabled and c.channel in blocked and _to_go(c))
        for c in post.channels
    )
