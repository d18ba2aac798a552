"""What the web console's pages read: the calendar, the lists, one post's page, health.

Each function takes the :class:`~social_publisher.services.scope.Scope` of the account
asking and filters through it (a ward's account: its unit's posts only), and reads through
the database handle it is given: a unit's (its sessions see that unit only) or, for a
province account's lists, the install-wide one; each item names its unit. Reads only: the
console's actions are the planner's, the takedown's, the approvals' and the composer's own
functions. Every page is a handful of queries whatever the number of posts
(``bench/bench_web.py`` compares it with per-post queries).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..config import Settings
from ..errors import Problem, QueueError
from ..platforms import CHANNELS, platform_name
from ..queue import format_datetime as format_time
from ..states import (
    LIVE_STATES,
    POST_LABELS,
    PUBLICATION_LABELS,
    PostState,
    PubState,
)
from ..store import (
    Agency,
    Approval,
    Attempt,
    AuditEvent,
    Database,
    EngagementSnapshot,
    Post,
    PostVersion,
    Publication,
    Share,
)
from .approvals import writers
from .scope import Permission, Scope

__all__ = ["format_time"]

# ------------------------------------------------------------------ categories (colours)

#: what the calendar colours by, in the order the legend shows them
CATEGORIES: dict[str, str] = {
    "draft": "bản nháp (còn lỗi)",
    "waiting": "chờ duyệt",
    "scheduled": "chờ đến giờ đăng",
    "scheduled_remote": "đã hẹn giờ trên Facebook",
    "published": "đã đăng",
    "attention": "cần xử lý",
    "withdrawn": "đã hủy",
}


def category(post_state: str, approved_by: str | None, pub_state: str | None) -> str:
    """The calendar's colour of one post on one channel."""
    if pub_state is not None:
        state = PubState(pub_state)
        if state in LIVE_STATES:
            return "published"
        if state == PubState.NEEDS_ATTENTION:
            return "attention"
        if state == PubState.CANCELLED:
            return "withdrawn"
        if state == PubState.SCHEDULED_REMOTE:
            return "scheduled_remote"
    if post_state in (PostState.WITHDRAWN, PostState.REMOVED):
        return "withdrawn"
    if post_state == PostState.HELD:
        return "attention"
    if post_state == PostState.ERROR:
        return "attention" if approved_by else "draft"
    if post_state == PostState.DRAFT:
        return "waiting"
    return "scheduled"


def state_label(post_state: str, pub_state: str | None) -> str:
    if pub_state is not None:
        return PUBLICATION_LABELS[PubState(pub_state)]
    return POST_LABELS[PostState(post_state)]


@dataclass(frozen=True)
class CalendarItem:
    """One post on one channel, at its time."""

    post_id: int
    folder: str
    title: str
    channel: str
    when: datetime | None
    category: str
    label: str
    url: str | None = None
    #: the post's unit (each row of a province account's list names it)
    unit_id: str = ""

    @property
    def category_label(self) -> str:
        return CATEGORIES[self.category]

    @property
    def platform(self) -> str:
        return platform_name(self.channel)


_ITEM_COLUMNS = (
    Post.id,
    Post.folder,
    Post.title,
    Post.state,
    Post.approved_by,
    Post.publish_at,
    Post.channels,
    Post.unit_id,
    Publication.channel,
    Publication.state,
    Publication.due_at,
    Publication.published_at,
    Publication.remote_url,
)


def _items(rows: Iterable[Any]) -> list[CalendarItem]:
    """Rows of (post columns, publication columns or NULLs) into items, one per channel."""
    by_post: dict[int, list[Any]] = defaultdict(list)
    order: list[int] = []
    for row in rows:
        if row[0] not in by_post:
            order.append(row[0])
        by_post[row[0]].append(row)
    items: list[CalendarItem] = []
    for post_id in order:
        group = by_post[post_id]
        _, folder, title, post_state, approved, publish_at, channels, unit_id, *_ = group[0]
        seen: set[str] = set()
        for *_, channel, pub_state, due_at, published_at, url in group:
            if channel is None:
                continue
            seen.add(channel)
            when = published_at if pub_state in LIVE_STATES else (due_at or publish_at)
            items.append(
                CalendarItem(
                    post_id, folder, title, channel, when,
                    category(post_state, approved, pub_state),
                    state_label(post_state, pub_state), url, unit_id,
                )
            )  # fmt: skip
        if post_state == PostState.REMOVED:
            continue  # gone before anything happened: history, not the calendar
        for channel in [c for c in CHANNELS if c in (channels or []) and c not in seen]:
            items.append(
                CalendarItem(
                    post_id, folder, title, channel, publish_at,
                    category(post_state, approved, None), state_label(post_state, None),
                    None, unit_id,
                )
            )  # fmt: skip
    return items


def _filtered(
    items: list[CalendarItem], channel: str | None, wanted: str | None
) -> list[CalendarItem]:
    return [
        i
        for i in items
        if (channel is None or i.channel == channel) and (wanted is None or i.category == wanted)
    ]


def items_between(
    db: Database,
    scope: Scope,
    start: datetime,
    end: datetime,
    *,
    channel: str | None = None,
    wanted: str | None = None,
) -> list[CalendarItem]:
    """Every post × channel whose time falls in [start, end), sorted by time (one query)."""
    scope.require(Permission.VIEW)
    with db.session() as session:
        rows = session.execute(
            select(*_ITEM_COLUMNS)
            .outerjoin(Publication, Publication.post_id == Post.id)
            .where(
                scope.posts(Post),
                or_(
                    Post.publish_at.between(start, end),
                    Publication.published_at.between(start, end),
                ),
            )
            .order_by(Post.publish_at, Post.id, Publication.channel)
        ).all()
    items = [i for i in _items(rows) if i.when is not None and start <= i.when < end]
    items.sort(key=lambda i: (i.when or start, i.post_id, i.channel))
    return _filtered(items, channel, wanted)


def needing_attention(
    db: Database, scope: Scope, *, channel: str | None = None
) -> list[CalendarItem]:
    """Everything a person must act on, whatever its time (oldest first)."""
    scope.require(Permission.VIEW)
    with db.session() as session:
        attention_posts = select(Publication.post_id).where(
            Publication.state == PubState.NEEDS_ATTENTION.value
        )
        rows = session.execute(
            select(*_ITEM_COLUMNS)
            .outerjoin(Publication, Publication.post_id == Post.id)
            .where(
                scope.posts(Post),
                or_(
                    Post.state.in_([PostState.HELD.value, PostState.ERROR.value]),
                    Post.id.in_(attention_posts),
                ),
            )
            .order_by(Post.publish_at, Post.id, Publication.channel)
        ).all()
    return _filtered(_items(rows), channel, "attention")


def waiting_for_approval(db: Database, scope: Scope) -> list[CalendarItem]:
    """Posts nobody has approved yet: the valid ones (what an approver opens first), then
    drafts still to fix (a draft whose time cannot be read is on no day of the calendar)."""
    scope.require(Permission.VIEW)
    with db.session() as session:
        rows = session.execute(
            select(*_ITEM_COLUMNS)
            .outerjoin(Publication, Publication.post_id == Post.id)
            .where(
                scope.posts(Post),
                Post.state.in_([PostState.DRAFT.value, PostState.ERROR.value]),
                Post.approved_by.is_(None),
            )
            .order_by(Post.publish_at, Post.id)
        ).all()
    items = _items(rows)
    return [i for i in items if i.category == "waiting"] + [
        i for i in items if i.category == "draft"
    ]


# ------------------------------------------------------------------ month and week grids


@dataclass
class Day:
    day: date
    in_month: bool
    today: bool
    items: list[CalendarItem] = field(default_factory=list)


@dataclass
class CalendarView:
    """A month (weeks of Monday..Sunday) or one week, with the items of each day."""

    mode: str  # "thang" | "tuan"
    start: date
    #: the day the view is of (the 1st of the month, the Monday of the week)
    anchor: date
    weeks: list[list[Day]]
    title: str
    previous: date
    next: date
    counts: dict[str, int]


MONTH_NAMES = [f"tháng {m}" for m in range(1, 13)]
WEEKDAYS = ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật"]


def _local_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=tz)


def calendar_view(
    db: Database,
    settings: Settings,
    scope: Scope,
    *,
    mode: str,
    anchor: date,
    today: date,
    channel: str | None = None,
    wanted: str | None = None,
) -> CalendarView:
    """The month (``thang``) or week (``tuan``) holding ``anchor``."""
    tz = settings.tz
    if mode == "tuan":
        first = anchor - timedelta(days=anchor.weekday())
        days = [first + timedelta(days=i) for i in range(7)]
        title = f"Tuần {days[0]:%d/%m} – {days[-1]:%d/%m/%Y}"
        previous, nxt = first - timedelta(days=7), first + timedelta(days=7)
        month = None
        anchor = first
    else:
        mode = "thang"
        month_start = anchor.replace(day=1)
        month = month_start.month
        first = month_start - timedelta(days=month_start.weekday())
        following = (month_start + timedelta(days=32)).replace(day=1)
        last = following - timedelta(days=1)
        count = (last - first).days + 1 + (6 - last.weekday())
        days = [first + timedelta(days=i) for i in range(count)]
        title = f"{MONTH_NAMES[month - 1].capitalize()} năm {month_start.year}"
        previous = (month_start - timedelta(days=1)).replace(day=1)
        nxt = following
        anchor = month_start
    start, end = _local_start(days[0], tz), _local_start(days[-1] + timedelta(days=1), tz)
    items = items_between(db, scope, start, end, channel=channel, wanted=wanted)
    cells = {d: Day(d, month is None or d.month == month, d == today) for d in days}
    counts: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
    for item in items:
        assert item.when is not None
        cells[item.when.astimezone(tz).date()].items.append(item)
        counts[item.category] += 1
    weeks = [[cells[d] for d in days[i : i + 7]] for i in range(0, len(days), 7)]
    return CalendarView(mode, days[0], anchor, weeks, title, previous, nxt, counts)


def day_range(day: date, days: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return _local_start(day, tz), _local_start(day + timedelta(days=days), tz)


# ------------------------------------------------------------------ one post


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # css class: content, approval, attempt, state, engagement, share, staff
    text: str
    actor: str | None = None


@dataclass(frozen=True)
class PublicationView:
    id: int
    channel: str
    state: str
    label: str
    category: str
    due_at: datetime | None
    published_at: datetime | None
    remote_url: str | None
    remote_id: str | None
    last_error: str | None
    attention_reason: str | None
    approved_by: str | None

    @property
    def platform(self) -> str:
        return platform_name(self.channel)

    @property
    def live(self) -> bool:
        return PubState(self.state) in LIVE_STATES


@dataclass(frozen=True)
class ApprovalView:
    account: str
    approver_name: str
    approved_at: datetime
    content_hash: str
    active: bool
    voided_at: datetime | None
    void_message: str | None


@dataclass
class PostPage:
    id: int
    folder: str
    title: str
    state: str
    state_label: str
    category: str
    approved_by: str | None
    publish_at: datetime | None
    version: PostVersion | None
    publications: list[PublicationView]
    approvals: list[ApprovalView]
    writers: set[str]
    timeline: list[TimelineEntry]
    check_errors: list[str]
    check_warnings: list[str]
    unit_id: str = ""

    @property
    def active_approval(self) -> ApprovalView | None:
        return next((a for a in self.approvals if a.active), None)

    @property
    def voided_approvals(self) -> list[ApprovalView]:
        return [a for a in self.approvals if not a.active]

    @property
    def live(self) -> list[PublicationView]:
        return [p for p in self.publications if p.live]

    @property
    def content_hash(self) -> str | None:
        return self.version.content_hash if self.version else None


class NotFound(LookupError):
    """No such post (or not in the account's scope)."""


def post_unit(db: Database, scope: Scope, post_id: int) -> str:
    """The unit of post ``post_id``, which every action on it runs as; NotFound when the
    post is not in ``db``'s view (a ward's handle sees its unit only) or not ``scope``'s."""
    scope.require(Permission.VIEW)
    with db.session() as session:
        unit = session.scalars(
            select(Post.unit_id).where(Post.id == post_id, scope.posts(Post))
        ).first()
    if unit is None or not scope.sees(unit):
        raise NotFound(post_id)
    return unit


def _short(digest: str | None) -> str:
    return (digest or "")[:10]


_EVENT_TEXT: dict[str, str] = {
    "post_added": "Bài được đưa vào hàng đợi",
    "post_edited": "Nội dung bài được sửa",
    "post_withdrawn": "Bài được hủy (Trạng thái: hủy)",
    "post_removed": "Thư mục bài bị xóa khỏi hàng đợi",
    "approval_changed": "Người duyệt thay đổi",
    "approved": "Duyệt bài trên trang quản trị",
    "approval_voided": "Bản duyệt không còn giá trị",
    "planned": "Lên lịch đăng",
    "edited_before_publish": "Sửa trước giờ đăng: sẽ đăng bản mới",
    "edited_after_publish": "Sửa sau khi đã đăng: bản sửa KHÔNG được đăng lại",
    "staff_retry": "Cán bộ yêu cầu thử lại",
    "staff_withdraw": "Cán bộ rút bài",
    "staff_publish_now": "Cán bộ yêu cầu đăng ngay",
    "removed_live": "Gỡ bài đã đăng khỏi trang",
    "console_write": "Soạn/sửa trên trang quản trị",
}

_ATTEMPT_TEXT = {
    "create": "Gửi bài",
    "schedule": "Hẹn giờ trên Facebook",
    "reschedule": "Đổi giờ hẹn trên Facebook",
    "cancel": "Hủy bài hẹn giờ",
    "publish_now": "Đăng ngay bài đã hẹn giờ",
    "update": "Cập nhật nội dung trên nền tảng",
    "verify": "Kiểm tra bài đã lên",
    "reconcile": "Đối soát",
    "remove": "Gỡ bài",
}
_OUTCOME_TEXT = {
    None: "đang thực hiện",
    "ok": "thành công",
    "failed": "thất bại",
    "unknown": "chưa rõ kết quả (sẽ đối soát, không gửi lại)",
    "adopted": "đã thấy bài trên nền tảng",
    "not_found": "không thấy trên nền tảng",
}


def _audit_text(event: AuditEvent, channel: str | None, tz: ZoneInfo) -> str:
    d = event.details or {}
    base = _EVENT_TEXT.get(event.event, event.event)
    where = f" ({platform_name(channel)})" if channel else ""
    if event.event == "transition":
        before = d.get("from")
        after = d.get("to")
        label_to = PUBLICATION_LABELS.get(PubState(after), after) if after else "?"
        label_from = PUBLICATION_LABELS.get(PubState(before), before) if before else "mới"
        why = f": {d['reason']}" if d.get("reason") else ""
        return f"{platform_name(channel or '')}: {label_from} → {label_to}{why}"
    if event.event in ("post_edited", "edited_before_publish", "edited_after_publish"):
        return f"{base}{where}: bản {_short(d.get('old_hash'))} → {_short(d.get('new_hash'))}"
    if event.event == "approved":
        return f"{base}: {d.get('approver')} duyệt bản {_short(d.get('content_hash'))}"
    if event.event == "approval_voided":
        return f"{base}: {d.get('message')}"
    if event.event == "approval_changed":
        before = d.get("old_approved_by") or "chưa duyệt"
        return f"{base}: {before} → {d.get('approved_by') or 'chưa duyệt'}"
    if event.event == "post_added":
        who = f", người duyệt {d['approved_by']}" if d.get("approved_by") else ""
        return f"{base}: bản {_short(d.get('hash'))}{who}"
    if event.event == "planned":
        return f"{base}{where}"
    if event.event == "removed_live":
        return f"{base}{where}"
    return f"{base}{where}"


def _timeline(
    session: Session, post: Post, pubs: Sequence[Publication], tz: ZoneInfo
) -> list[TimelineEntry]:
    channel_of = {p.id: p.channel for p in pubs}
    entries: list[TimelineEntry] = []
    for event in session.scalars(
        select(AuditEvent).where(AuditEvent.post_id == post.id).order_by(AuditEvent.id)
    ):
        channel = channel_of.get(event.publication_id) if event.publication_id else None
        kind = (
            "approval"
            if event.event in ("approved", "approval_voided", "approval_changed")
            else "staff"
            if event.event.startswith("staff_") or event.event == "removed_live"
            else "content"
            if event.event.startswith("post_") or "edited" in event.event
            else "state"
        )
        entries.append(TimelineEntry(event.at, kind, _audit_text(event, channel, tz), event.actor))
    pub_ids = list(channel_of)
    if pub_ids:
        for attempt in session.scalars(
            select(Attempt).where(Attempt.publication_id.in_(pub_ids)).order_by(Attempt.id)
        ):
            text = (
                f"{platform_name(channel_of[attempt.publication_id])}: "
                f"{_ATTEMPT_TEXT.get(attempt.action, attempt.action)}: "
                f"{_OUTCOME_TEXT.get(attempt.outcome, attempt.outcome)}"
            )
            if attempt.error_message:
                text += f" ({attempt.error_message})"
            entries.append(TimelineEntry(attempt.started_at, "attempt", text, attempt.worker))
        for snap in session.scalars(
            select(EngagementSnapshot)
            .where(EngagementSnapshot.publication_id.in_(pub_ids))
            .order_by(EngagementSnapshot.id)
        ):
            figures = [
                f"{label} {value}"
                for label, value in (
                    ("cảm xúc", snap.reactions),
                    ("bình luận", snap.comments),
                    ("chia sẻ", snap.shares),
                    ("lượt xem", snap.views),
                    ("tiếp cận", snap.reach),
                )
                if value is not None
            ]
            entries.append(
                TimelineEntry(
                    snap.taken_at,
                    "engagement",
                    f"{platform_name(channel_of[snap.publication_id])}: số liệu tương tác: "
                    + (", ".join(figures) or "chưa có số liệu"),
                )
            )
        for share, name in session.execute(
            select(Share, Agency.name)
            .join(Agency, Agency.id == Share.agency_id)
            .where(Share.publication_id.in_(pub_ids))
            .order_by(Share.id)
        ):
            how = "tự phát hiện" if share.source == "feed" else "ghi nhận thủ công"
            entries.append(
                TimelineEntry(
                    share.shared_at or share.recorded_at,
                    "share",
                    f"{name} chia sẻ lại ({how})" + (f": {share.url}" if share.url else ""),
                )
            )
    entries.sort(key=lambda e: e.at)
    return entries


def post_page(
    db: Database, settings: Settings, scope: Scope, post_id: int, *, now: datetime
) -> PostPage:
    """Everything the post page shows; the check is the same as ``check``'s, for this folder."""
    scope.require(Permission.VIEW)
    tz = settings.tz
    with db.session() as session:
        post = session.scalars(
            select(Post).where(Post.id == post_id, scope.posts(Post))
        ).one_or_none()
        if post is None:
            raise NotFound(post_id)
        version = post.current_version
        pubs = list(
            session.scalars(
                select(Publication)
                .where(Publication.post_id == post.id)
                .order_by(Publication.channel)
            )
        )
        views = [
            PublicationView(
                p.id, p.channel, p.state, PUBLICATION_LABELS[PubState(p.state)],
                category(post.state, post.approved_by, p.state), p.due_at, p.published_at,
                p.remote_url, p.remote_id, p.last_error, p.attention_reason, p.approved_by,
            )
            for p in pubs
        ]  # fmt: skip
        approvals = [
            ApprovalView(
                a.account, a.approver_name, a.approved_at, a.content_hash, a.voided_at is None,
                a.voided_at, a.void_message,
            )
            for a in session.scalars(
                select(Approval).where(Approval.post_id == post.id).order_by(Approval.id.desc())
            )
        ]  # fmt: skip
        page = PostPage(
            id=post.id,
            folder=post.folder,
            title=post.title,
            state=post.state,
            state_label=POST_LABELS[PostState(post.state)],
            category=category(post.state, post.approved_by, None),
            approved_by=post.approved_by,
            publish_at=post.publish_at,
            version=version,
            publications=views,
            approvals=approvals,
            writers=writers(session, post),
            timeline=_timeline(session, post, pubs, tz),
            check_errors=[],
            check_warnings=[],
            unit_id=post.unit_id,
        )
        if version is not None:
            session.expunge(version)
    if post.state != PostState.REMOVED:
        page.check_errors, page.check_warnings = check_lines(db, settings, post.folder, now=now)
    return page


def check_lines(
    db: Database, settings: Settings, folder: str, *, now: datetime
) -> tuple[list[str], list[str]]:
    """``check``'s lines for one folder: errors, then warnings, worded as ``check`` prints them."""
    from .ingest import check_folder

    try:
        checked = check_folder(db, settings, folder, now=now)
    except QueueError as exc:
        return [p.message for p in exc.problems], []
    if checked is None:
        return [], []
    errors = [str(p) for p in checked.errors]
    warnings = [_warning_line(p) for p in checked.warnings]
    return errors, warnings


def _warning_line(problem: Problem) -> str:
    where = f"{problem.file}:{problem.line}" if problem.line else problem.file
    return f"{where}: cảnh báo: {problem.message}"


# ------------------------------------------------------------------ health


@dataclass(frozen=True)
class ChannelHealthView:
    channel: str
    enabled: bool
    ok: bool
    label: str
    reason: str | None
    blocked_until: datetime | None
    fix: str

    @property
    def platform(self) -> str:
        return platform_name(self.channel)


@dataclass
class HealthPage:
    channels: list[ChannelHealthView]
    warnings: list[str]
    zalo_token: dict[str, Any] | None
    counts: dict[str, int]


_FIXES = {
    "auth_failed": (
        "Cấp lại mã truy cập (token) của kênh, chạy 'social-publisher doctor', rồi bấm Mở lại kênh."
    ),
    "permission": (
        "Cấp lại quyền cho ứng dụng trên nền tảng (quản trị viên Trang/OA), rồi bấm Mở lại kênh."
    ),
    "rate_limited": "Không cần làm gì: kênh tự chạy lại khi hết thời gian chờ của nền tảng.",
    "policy": "Không cần làm gì: kênh tự chạy lại sau thời gian chờ; nếu lặp lại, đăng thưa hơn.",
    "quota": (
        "Hết hạn mức đăng bài của gói OA: bài chờ đến đầu tháng sau, hoặc nâng gói rồi bấm "
        "Mở lại kênh."
    ),
    "setup": (
        "Sửa cấu hình trong tệp .env theo lý do ở trên, chạy 'social-publisher doctor', rồi "
        "bấm Mở lại kênh."
    ),
}


def health_page(db: Database, settings: Settings, scope: Scope, *, now: datetime) -> HealthPage:
    """Each channel's health with the fix in plain Vietnamese, the Zalo token's age, warnings."""
    from ..states import HEALTH_LABELS, HealthState
    from .status import collect
    from .zalo_token_report import describe
    from .zalo_tokens import DbTokenStore

    scope.require(Permission.VIEW)
    report = collect(db, settings, now)
    channels = []
    for status in report.channels:
        state = HealthState(status.health or HealthState.OK.value)
        if not status.enabled:
            missing = ", ".join(status.missing)
            channels.append(
                ChannelHealthView(
                    status.channel, False, False, "kênh tắt (thiếu cấu hình)", None, None,
                    f"Điền {missing} trong tệp .env rồi khởi động lại chương trình.",
                )
            )  # fmt: skip
            continue
        channels.append(
            ChannelHealthView(
                status.channel, True, state == HealthState.OK, HEALTH_LABELS[state],
                status.reason, status.blocked_until, _FIXES.get(state.value, ""),
            )
        )  # fmt: skip
    token: dict[str, Any] | None = None
    if settings.zalo_enabled:
        try:
            from ..channels.zalo import ZaloOAuthClient

            pair = DbTokenStore(db, settings, ZaloOAuthClient(settings), lambda: now).load()
            token = describe(pair, db, settings, now)
        except Exception as exc:  # the page must show even if the token row is unreadable
            token = {
                "stored": False,
                "warnings": [f"Không đọc được token Zalo ({type(exc).__name__})."],
            }
    counts: dict[str, int] = defaultdict(int)
    for row in report.posts:
        for channel_row in row.channels:
            key = category(row.state, row.approved_by, channel_row.publication_state)
            counts[key] += 1
    return HealthPage(channels, report.warnings, token, dict(counts))


# ------------------------------------------------------------------ the calendar feed (.ics)


def _ics_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> list[str]:
    """RFC 5545 3.1: lines of at most 75 octets, continued with a leading space."""
    out: list[str] = []
    data = line.encode("utf-8")
    while len(data) > 75:
        cut = 75 if not out else 74
        while cut > 0 and (data[cut] & 0xC0) == 0x80:  # never inside a UTF-8 sequence
            cut -= 1
        out.append(data[:cut].decode("utf-8"))
        data = data[cut:]
    out.append(data.decode("utf-8"))
    return [out[0], *(" " + part for part in out[1:])]


def _ics_time(when: datetime) -> str:
    from datetime import UTC

    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def ics_feed(
    db: Database, settings: Settings, scope: Scope, *, now: datetime, base_url: str
) -> str:
    """The schedule as an iCalendar feed: 30 days back to 90 ahead, one event per post ×
    channel (a phone calendar shows it; staff subscribe with their secret URL)."""
    items = items_between(db, scope, now - timedelta(days=30), now + timedelta(days=90))
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//social-publisher//lich dang bai//VI",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:Lịch đăng bài",
        f"X-WR-TIMEZONE:{settings.timezone}",
    ]
    stamp = _ics_time(now)
    for item in items:
        if item.when is None or item.category == "withdrawn":
            continue
        url = f"{base_url}/bai/{item.post_id}" if base_url else ""
        description = f"{item.platform}: {item.label}" + (f"\n{url}" if url else "")
        event = [
            "BEGIN:VEVENT",
            f"UID:post-{item.post_id}-{item.channel}@social-publisher",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{_ics_time(item.when)}",
            f"DTEND:{_ics_time(item.when + timedelta(minutes=15))}",
            f"SUMMARY:{_ics_text(f'[{item.platform}] {item.title}')}",
            f"DESCRIPTION:{_ics_text(description)}",
            f"CATEGORIES:{_ics_text(item.category_label)}",
        ]
        if url:
            event.append(f"URL:{url}")
        event.append("END:VEVENT")
        lines.extend(event)
    lines.append("END:VCALENDAR")
    return "".join(part + "\r\n" for line in lines for part in _fold(line))
