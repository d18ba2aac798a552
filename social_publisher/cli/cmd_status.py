"""``status``: every post × channel as the database knows it, after a fresh ingest.

The reading is :func:`social_publisher.services.status.status` (with its
``WARNING_SOURCES`` extension point); this module prints it, as a table or JSON.
Posts are in time order with their numbers; ``--upcoming``, ``--week`` and
``--attention`` narrow the list (text and JSON alike).

Exit 0; 1 when a listed post is in error or a publication needs a person.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..queue import format_local
from ..services import workers_view
from ..services.status import (
    CHANNEL_OFF,
    ChannelStatus,
    StatusReport,
    StatusView,
    week_of,
)
from ..services.status import (
    status as read_status,
)
from ..states import HEALTH_LABELS, SHOWN_LABELS, SHOWN_ORDER, HealthState
from ..units import Unit
from .cmd_check import table, unit_heading

if TYPE_CHECKING:
    from . import Context


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
    parser.add_argument(
        "--upcoming", action="store_true", help="chỉ các bài chưa đăng (còn kênh chưa lên trang)"
    )
    parser.add_argument(
        "--week", action="store_true", help="chỉ các bài đăng trong tuần này (thứ Hai đến Chủ nhật)"
    )
    parser.add_argument(
        "--attention",
        action="store_true",
        help="chỉ các bài cần người xử lý (lỗi, chờ quyết định, cần xử lý, kênh bị chặn)",
    )
    parser.set_defaults(handler=run)


# ---------------------------------------------------------------- command


def run(args: argparse.Namespace, ctx: Context) -> int:
    now = clock()
    view = StatusView(upcoming=args.upcoming, week=args.week, attention=args.attention)
    units = ctx.chosen_units()
    if len(units) > 1:
        return _run_all(args, ctx, units, now, view)
    settings = ctx.settings
    report = read_status(ctx.db, settings, now, view)
    db_now, workers = workers_view.workers(ctx.db, settings)
    if args.json:
        data = as_json(report, settings.tz)
        data["workers"] = workers_view.as_json(db_now, workers, settings.tz)
        ctx.print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        text = render_text(report, settings.tz, view, now)
        extra = workers_view.text_lines(db_now, workers, settings.tz)
        ctx.print(text + ("\n" + "\n".join(extra) + "\n" if extra else ""), end="")
    return 1 if report.needs_people else 0


def _run_all(
    args: argparse.Namespace, ctx: Context, units: list[Unit], now: datetime, view: StatusView
) -> int:
    """Every unit of the install, one after the other under its heading (no ``--unit``)."""
    install = ctx.install_settings
    reports = [(unit, read_status(ctx.db_for(unit), unit.settings, now, view)) for unit in units]
    db_now, workers = workers_view.workers(ctx.install_db.everywhere(), install)
    if args.json:
        data: dict[str, Any] = {"posts": [], "channels": [], "warnings": []}
        for unit, report in reports:
            part = as_json(report, unit.settings.tz)
            data["posts"] += [{"unit": unit.id, **row} for row in part["posts"]]
            data["channels"] += [{"unit": unit.id, **row} for row in part["channels"]]
            data["warnings"] += [{"unit": unit.id, "message": w} for w in part["warnings"]]
        data["workers"] = workers_view.as_json(db_now, workers, install.tz)
        ctx.print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        parts = [
            f"{unit_heading(unit)}\n{render_text(report, unit.settings.tz, view, now)}"
            for unit, report in reports
        ]
        posts = sum(len(report.posts) for _, report in reports)
        needing = [unit.id for unit, report in reports if report.needs_people]
        tail = f"Cả bản cài: {len(units)} đơn vị, {posts} bài"
        tail += f"; cần người xử lý ở {', '.join(needing)}." if needing else "."
        extra = workers_view.text_lines(db_now, workers, install.tz)
        ctx.print("\n".join(parts) + "\n" + tail + "\n", end="")
        if extra:
            ctx.print("\n" + "\n".join(extra) + "\n", end="")
    return 1 if any(report.needs_people for _, report in reports) else 0


def _iso(value: datetime | None, tz: ZoneInfo) -> str | None:
    return value.astimezone(tz).isoformat() if value else None


def as_json(report: StatusReport, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "posts": [
            {
                "number": p.number,
                "folder": p.folder,
                "title": p.title,
                "state": p.state,
                "progress": p.progress,
                "label": p.shown_label,
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
        return f"  {status.channel}: {HEALTH_LABELS[HealthState.OK]}"
    text = f"  {status.channel}: {HEALTH_LABELS.get(HealthState(status.health), status.health)}"
    if status.blocked_until:
        text += f" đến {format_local(status.blocked_until, tz)}"
    if status.reason:
        text += f" — {status.reason}"
    return text


FILTER_WORDS = {
    "upcoming": "chưa đăng",
    "week": "trong tuần này",
    "attention": "cần người xử lý",
}


def render_text(
    report: StatusReport, tz: ZoneInfo, view: StatusView | None = None, now: datetime | None = None
) -> str:
    lines: list[str] = []
    view = view or StatusView()
    if view.week:
        start, end = week_of(now or clock(), tz)
        last = end - timedelta(days=1)
        lines.append(f"Tuần từ {start:%d/%m/%Y} đến {last:%d/%m/%Y}.")
    if not report.posts and view.active:
        words = [w for name, w in FILTER_WORDS.items() if getattr(view, name)]
        lines.append(f"Không có bài nào {', '.join(words)}.")
    elif not report.posts:
        lines.append("Chưa có bài nào trong hàng đợi.")
    else:
        headers = ["Số", "Thư mục", "Tiêu đề", "Bài", "Kênh", "Đăng", "Giờ đăng"]
        rows: list[list[str]] = []
        #: detail lines printed under the table row with the same index
        details: dict[int, list[str]] = {}
        for post in report.posts:
            for index, channel in enumerate(post.channels):
                first = index == 0
                rows.append(
                    [
                        str(post.number) if first else "",
                        post.folder if first else "",
                        _short(post.title) if first else "",
                        post.shown_label if first else "",
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
    counts = Counter(p.shown_state for p in report.posts)
    parts = [f"{counts[s]} {SHOWN_LABELS[s]}" for s in SHOWN_ORDER if counts[s]]
    attention = sum(
        1 for p in report.posts for c in p.channels if c.publication_state == "needs_attention"
    )
    tail = f"{len(report.posts)} bài" + (": " + ", ".join(parts) if parts else "")
    if attention:
        tail += f"; {attention} lượt đăng cần xử lý"
    lines += ["", tail]
    return "\n".join(lines) + "\n"
