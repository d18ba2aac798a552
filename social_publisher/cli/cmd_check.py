"""``check``: validate every post folder and tell staff exactly what to fix.

Exit 0 when no post has an error (warnings allowed), 1 when any does or the
queue folder is missing. ``--json`` is for scripts and the demo; its shape is
part of the stable command line. A post the database knows went out is shown
as such (``đã đăng``, ``đã hẹn giờ``: ``progress`` in JSON), not as its folder's state.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Problem, QueueError
from ..queue import CheckedPost, format_local, missing_queue_problem
from ..services.ingest import check_queue
from ..states import SHOWN_LABELS, SHOWN_ORDER
from ..units import Unit

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from ..store import Database
    from . import Context


def clock() -> datetime:
    """Now (tests replace it)."""
    return datetime.now(UTC)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "check",
        help="kiểm tra các bài trong thư mục hàng đợi",
        description="Kiểm tra từng thư mục bài viết; liệt kê lỗi theo tệp và dòng.",
    )
    parser.add_argument(
        "--queue", type=Path, default=None, help="thư mục hàng đợi (mặc định: QUEUE_DIR)"
    )
    parser.add_argument("--json", action="store_true", help="in kết quả dạng JSON")
    parser.set_defaults(handler=run)


def _database(ctx: Context, *, install: bool = False) -> Database | None:
    """The database for the scan cache; ``check`` still works (slower) without one."""
    try:
        return ctx.install_db if install else ctx.db
    except Exception as exc:  # a broken DB must not stop staff from checking their posts
        ctx.error(
            f"Cảnh báo: không mở được cơ sở dữ liệu ({type(exc).__name__}); vẫn kiểm tra "
            "nhưng không dùng bộ nhớ đệm."
        )
        return None


def run(args: argparse.Namespace, ctx: Context) -> int:
    units = ctx.chosen_units()
    if len(units) > 1:
        if args.queue is not None:
            ctx.error(
                f"Lỗi: --queue kiểm tra một thư mục, nhưng bản cài có {len(units)} đơn vị: "
                "thêm --unit ID để chọn đơn vị của thư mục đó, hoặc bỏ --queue để kiểm tra "
                "thư mục hàng đợi của mọi đơn vị."
            )
            return 2
        return _run_all(args, ctx, units)
    settings = ctx.settings
    queue_dir: Path = args.queue or settings.queue_dir
    if not queue_dir.is_dir():  # said before the database is even opened
        ctx.error(missing_queue_problem(queue_dir).message)
        return 1
    try:
        report = check_queue(_database(ctx), settings, now=clock(), queue_dir=queue_dir)
    except QueueError as exc:
        for problem in exc.problems:
            ctx.error(problem.message)
        return 1
    if args.json:
        ctx.print(render_json(report.posts, settings.tz, report.notes, report.progress))
    else:
        text = render_text(report.posts, settings.tz, queue_dir, report.notes, report.progress)
        ctx.print(text, end="")
    return 1 if report.has_errors else 0


def unit_heading(unit: Unit) -> str:
    """The line each unit's part of ``status``, ``check`` and ``collect`` starts with."""
    return f"Đơn vị {unit.id}: {unit.name}"


def _run_all(args: argparse.Namespace, ctx: Context, units: list[Unit]) -> int:
    """Every unit's queue folder, each under its heading (no ``--unit``, several units)."""
    failed = False
    parts: list[str] = []
    posts: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    count = 0
    database = _database(ctx, install=True)
    for unit in units:
        settings = unit.settings
        queue_dir = settings.queue_dir
        heading = unit_heading(unit)
        if not queue_dir.is_dir():
            failed = True
            ctx.error(f"{heading}: {missing_queue_problem(queue_dir).message}")
            continue
        try:
            handle = database.for_unit(unit.id) if database is not None else None
            report = check_queue(handle, settings, now=clock(), queue_dir=queue_dir)
        except QueueError as exc:
            failed = True
            for problem in exc.problems:
                ctx.error(f"{heading}: {problem.message}")
            continue
        failed = failed or report.has_errors
        count += len(report.posts)
        if args.json:
            part = json.loads(render_json(report.posts, settings.tz, report.notes, report.progress))
            posts += [{"unit": unit.id, **row} for row in part["posts"]]
            notes += [{"unit": unit.id, **row} for row in part.get("notes", [])]
        else:
            text = render_text(report.posts, settings.tz, queue_dir, report.notes, report.progress)
            parts.append(f"{heading}\n{text}")
    if args.json:
        data: dict[str, Any] = {"posts": posts}
        if notes:
            data["notes"] = notes
        ctx.print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        tail = f"Cả bản cài: {len(units)} đơn vị, {count} bài" + (
            "; có lỗi cần sửa." if failed else "."
        )
        ctx.print("\n".join([*parts, tail]) + "\n", end="")
    return 1 if failed else 0


def render_json(
    posts: list[CheckedPost],
    tz: ZoneInfo,
    notes: Sequence[Problem] = (),
    progress: Mapping[str, str] | None = None,
) -> str:
    known = progress or {}
    data: dict[str, Any] = {
        "posts": [{**p.as_check_json(tz), "progress": known.get(p.folder)} for p in posts]
    }
    if notes:  # about the whole queue (an agencies file that could not be read)
        data["notes"] = [p.as_dict() for p in notes]
    return json.dumps(data, ensure_ascii=False, indent=2)


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces, no trailing blanks."""
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]


def summary(states: Sequence[str]) -> str:
    """``4 bài: 1 đã đăng, 2 sẵn sàng, 1 lỗi`` (states: ``PostState`` or progress values)."""
    counts = Counter(states)
    parts = [f"{counts[s]} {SHOWN_LABELS[s]}" for s in SHOWN_ORDER if counts[s]]
    return f"{len(states)} bài" + (": " + ", ".join(parts) if parts else "")


def render_text(
    posts: list[CheckedPost],
    tz: ZoneInfo,
    queue_dir: Path,
    notes: Sequence[Problem] = (),
    progress: Mapping[str, str] | None = None,
) -> str:
    if not posts:
        return f"Chưa có bài nào trong thư mục hàng đợi '{queue_dir}'.\n0 bài\n"
    known = progress or {}
    shown = [known.get(p.folder, p.state.value) for p in posts]
    rows = [
        [
            p.folder,
            SHOWN_LABELS[state],
            format_local(p.post.publish_at, tz) if p.post.publish_at else "—",
            ", ".join(p.post.channels) or "—",
        ]
        for p, state in zip(posts, shown, strict=True)
    ]
    lines = table(["Thư mục", "Trạng thái", "Giờ đăng", "Kênh"], rows)
    problems = [f"  {_where(p.file, p.line)}: cảnh báo: {p.message}" for p in notes]
    for post in posts:
        problems.extend(f"  {p}" for p in post.errors)
        problems.extend(f"  {_where(p.file, p.line)}: cảnh báo: {p.message}" for p in post.warnings)
    if problems:
        lines += ["", "Lỗi và cảnh báo:", *problems]
    warning_count = sum(len(p.warnings) for p in posts) + len(notes)
    tail = summary(shown)
    if warning_count:
        tail += f"; {warning_count} cảnh báo"
    lines += ["", tail]
    return "\n".join(lines) + "\n"


def _where(file: str, line: int | None) -> str:
    return f"{file}:{line}" if line else file
