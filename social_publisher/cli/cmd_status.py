"""``status``: every post × channel as the database knows it, after a fresh ingest.

Staff read it to answer "did it go out, and if not, why": the publication
state per channel, the due time, the link on the platform, the last error or
the reason a person must act, and whether each channel is usable at all.

Extension point: :data:`WARNING_SOURCES` holds callables that add warning
lines (Zalo refresh-token age, for one). Each gets ``(settings, db, now)``
and returns lines of Vietnamese text; a failing source becomes a warning
itself and never breaks ``status``.

Exit 0; 1 when a post is in error or a publication needs a person.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..errors import QueueError
from ..queue import STATE_LABELS, format_local
from ..services.ingest import ingest
from ..services.safeguards import settles_at
from ..services.zalo_tokens import token_warnings
from ..store import CHANNELS, ChannelHealth, Post, PostState, Publication, PubState
from .cmd_check import table

if TYPE_CHECKING:
    from ..config import Settings
    from ..store import Database
    from . import Context

WarningSource = Callable[["Settings", "Database", datetime], Iterable[str]]
#: callables adding warning lines to ``status`` (see the module docstring)
WARNING_SOURCES: list[WarningSource] = [
    lambda settings, db, now: token_warnings(db, settings, now) if settings.zalo_enabled else [],
]

POST_STATE_LABELS: dict[str, str] = {
    **{state.value: label for state, label in STATE_LABELS.items()},
    PostState.REMOVED.value: "đã gỡ khỏi hàng đợi",
}
PUB_STATE_LABELS: dict[str, str] = {
    PubState.PENDING.value: "chờ đến giờ",
    PubState.SCHEDULED_REMOTE.value: "đã hẹn giờ trên Facebook",
    PubState.DUE.value: "đến giờ đăng",
    PubState.PUBLISHING.value: "đang đăng",
    PubState.PUBLISHED.value: "đã đăng",
    PubState.CONFIRMED.value: "đã đăng (đã xác nhận)",
    PubState.RETRY_WAIT.value: "chờ thử lại",
    PubState.NEEDS_ATTENTION.value: "cần xử lý",
    PubState.CANCELLED.value: "đã hủy",
}
NOT_SCHEDULED = "chưa lên lịch"
#: a due post whose folder changed less than QUEUE_SETTLE_SECONDS ago
SETTLING = "chờ thư mục bài ổn định"
CHANNEL_OFF = "kênh tắt"
HEALTH_LABELS = {
    "ok": "đang hoạt động",
    "auth_failed": "lỗi mã truy cập (token), cần cấp lại",
    "rate_limited": "tạm dừng vì gọi quá nhiều lần",
    "policy": "tạm dừng vì nền tảng chặn đăng quá nhanh",
    "quota": "hết hạn mức đăng bài",
    "permission": "thiếu quyền trên nền tảng",
}
SUMMARY_ORDER = ("ready", "held", "draft", "withdrawn", "error", "removed")


def clock() -> datetime:
    """Now (tests replace it)."""
    return datetime.now(UTC)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "status",
        help="trạng thái từng bài trên từng kênh",
        description="Đọc lại hàng đợi rồi liệt kê từng bài × kênh: trạng thái, giờ đăng, "
        "liên kết, lỗi gần nhất.",
    )
    parser.add_argument("--json", action="store_true", help="in kết quả dạng JSON")
    parser.set_defaults(handler=run)


# ---------------------------------------------------------------- data


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
            row = PostRow(
                folder=post.folder,
                title=post.title,
                state=post.state,
                approved_by=post.approved_by,
                publish_at=post.publish_at,
                problems=list(version.problems) if version and post.state == "error" else [],
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


# ---------------------------------------------------------------- command


def run(args: argparse.Namespace, ctx: Context) -> int:
    settings, db = ctx.settings, ctx.db
    now = clock()
    queue_warnings: list[str] = []
    try:
        ingest(db, settings, now=now)
    except QueueError as exc:
        queue_warnings = [p.message for p in exc.problems]
    report = collect(db, settings, now)
    report.warnings[:0] = queue_warnings
    if args.json:
        ctx.print(json.dumps(as_json(report, settings.tz), ensure_ascii=False, indent=2))
    else:
        ctx.print(render_text(report, settings.tz), end="")
    return 1 if report.needs_people else 0


def _iso(value: datetime | None, tz: ZoneInfo) -> str | None:
    return value.astimezone(tz).isoformat() if value else None


def as_json(report: StatusReport, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "posts": [
            {
                "folder": p.folder,
                "title": p.title,
                "state": p.state,
                "approved_by": p.approved_by,
                "publish_at": _iso(p.publish_at, tz),
                "problems": p.problems,
                "channels": [
                    {
                        "channel": c.channel,
                        "enabled": c.enabled,
                        "publication_state": c.publication_state,
                        "label": c.label,
                        "due_at": _iso(c.due_at, tz),
                        "remote_id": c.remote_id,
                        "remote_url": c.remote_url,
                        "last_error": c.last_error,
                        "attention_reason": c.attention_reason,
                        "next_attempt_at": _iso(c.next_attempt_at, tz),
                    }
                    for c in p.channels
                ],
            }
            for p in report.posts
        ],
        "channels": [
            {
                "channel": c.channel,
                "enabled": c.enabled,
                "missing": c.missing,
                "health": c.health,
                "blocked_until": _iso(c.blocked_until, tz),
                "reason": c.reason,
            }
            for c in report.channels
        ],
        "warnings": report.warnings,
    }


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _time(value: datetime | None, tz: ZoneInfo) -> str:
    return format_local(value, tz) if value else "—"


def channel_line(status: ChannelStatus, tz: ZoneInfo) -> str:
    if not status.enabled:
        return (
            f"  {status.channel}: {CHANNEL_OFF} (thiếu cấu hình {', '.join(status.missing)} "
            "trong tệp .env)"
        )
    if status.health in (None, "ok"):
        return f"  {status.channel}: {HEALTH_LABELS['ok']}"
    text = f"  {status.channel}: {HEALTH_LABELS.get(status.health, status.health)}"
    if status.blocked_until:
        text += f" đến {format_local(status.blocked_until, tz)}"
    if status.reason:
        text += f" — {status.reason}"
    return text


def render_text(report: StatusReport, tz: ZoneInfo) -> str:
    lines: list[str] = []
    if not report.posts:
        lines.append("Chưa có bài nào trong hàng đợi.")
    else:
        headers = ["Thư mục", "Tiêu đề", "Bài", "Kênh", "Đăng", "Giờ đăng"]
        rows: list[list[str]] = []
        #: detail lines printed under the table row with the same index
        details: dict[int, list[str]] = {}
        for post in report.posts:
            for index, channel in enumerate(post.channels):
                first = index == 0
                rows.append(
                    [
                        post.folder if first else "",
                        _short(post.title) if first else "",
                        POST_STATE_LABELS.get(post.state, post.state) if first else "",
                        channel.channel,
                        channel.label,
                        _time(channel.due_at, tz),
                    ]
                )
                extra = details.setdefault(len(rows) - 1, [])
                if channel.remote_url:
                    extra.append(f"    {channel.channel}: {channel.remote_url}")
                if channel.attention_reason:
                    extra.append(f"    {channel.channel}: cần xử lý: {channel.attention_reason}")
                if channel.last_error:
                    extra.append(f"    {channel.channel}: lỗi gần nhất: {channel.last_error}")
            for problem in post.problems:
                where = problem["file"] + (f":{problem['line']}" if problem.get("line") else "")
                details.setdefault(len(rows) - 1, []).append(f"    {where}: {problem['message']}")
        rendered = table(headers, rows)
        lines.append(rendered[0])
        for index, text in enumerate(rendered[1:]):
            lines.append(text)
            lines.extend(details.get(index, []))
    lines += ["", "Kênh:", *(channel_line(c, tz) for c in report.channels)]
    if report.warnings:
        lines += ["", "Cảnh báo:", *(f"  {w}" for w in report.warnings)]
    counts = Counter(p.state for p in report.posts)
    parts = [f"{counts[s]} {POST_STATE_LABELS[s]}" for s in SUMMARY_ORDER if counts[s]]
    attention = sum(
        1 for p in report.posts for c in p.channels if c.publication_state == "needs_attention"
    )
    tail = f"{len(report.posts)} bài" + (": " + ", ".join(parts) if parts else "")
    if attention:
        tail += f"; {attention} lượt đăng cần xử lý"
    lines += ["", tail]
    return "\n".join(lines) + "\n"
