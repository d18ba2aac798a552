"""``shares import FILE`` and ``shares status``: agencies' re-shares of our posts."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..numbers import vn_number, vn_percent
from ..services.agencies import AgencyInfo, FileProblems, load_agencies
from ..services.report import parse_month
from ..services.shares import (
    STATE_LABELS,
    ShareMatrix,
    ShareState,
    Tally,
    UnitPage,
    import_shares,
    share_matrix,
    unit_agency_reads,
    unit_pages,
)
from . import Context
from .cmd_report import parse_now

DEFAULT_DAYS = 30
SYMBOLS = {
    ShareState.ON_TIME: "Đ",
    ShareState.LATE: "M",
    ShareState.MISSING: "-",
    ShareState.PENDING: "~",
}
ACTIONS = {
    "added": "thêm mới",
    "updated": "cập nhật",
    "unchanged": "đã có, không đổi",
    "kept": "đã có (tìm thấy trên Trang của đơn vị), giữ nguyên",
}


def _sync(ctx: Context, now: datetime) -> None:
    try:
        load_agencies(ctx.db, ctx.settings, now=now)
    except FileProblems as exc:
        ctx.error("Cảnh báo: không đọc được danh sách đơn vị, dùng danh sách đã lưu:")
        for problem in exc.problems:
            ctx.error(f"  {problem}")


# ------------------------------------------------------------------ import


def run_import(args: argparse.Namespace, ctx: Context) -> int:
    try:
        now = parse_now(args.now)
    except ValueError as exc:
        ctx.error(f"Lỗi: thời điểm --now không hợp lệ ({exc}).")
        return 2
    _sync(ctx, now)
    path = Path(args.file)
    report = import_shares(ctx.db, ctx.settings, path, now=now, dry_run=args.dry_run)
    tz = ctx.settings.tz
    if args.json:
        ctx.print(
            json.dumps(
                {
                    "file": str(path),
                    "written": report.written,
                    "problems": [p.as_dict() for p in report.problems],
                    "rows": [
                        {
                            "line": r.line,
                            "agency": r.agency_id,
                            "post_id": r.post_id,
                            "post_folder": r.folder,
                            "publication_id": r.publication_id,
                            "link": r.url,
                            "shared_at": r.shared_at.isoformat(),
                            "action": r.action,
                        }
                        for r in report.rows
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0 if report.ok else 1
    if not report.ok:
        for problem in report.problems:
            ctx.error(str(problem))
        ctx.error(
            f"Không ghi dòng nào ({vn_number(len(report.problems))} lỗi): sửa các dòng trên "
            "rồi nhập lại cả tệp (nhập lại không tạo bản trùng)."
        )
        return 1
    counts: dict[str, int] = {}
    for row in report.rows:
        counts[row.action] = counts.get(row.action, 0) + 1
        ctx.print(
            f"  dòng {row.line}: {row.agency_id}, {row.shared_at.astimezone(tz):%d/%m/%Y %H:%M}"
            f", bài {row.folder}: {ACTIONS[row.action]}"
        )
    verb = "Kiểm tra xong (chưa ghi vì --dry-run)" if args.dry_run else "Đã nhập"
    detail = ", ".join(f"{ACTIONS[a]} {vn_number(n)}" for a, n in counts.items())
    ctx.print(
        f"{verb} {vn_number(len(report.rows))} lượt chia sẻ từ {path}"
        + (f": {detail}." if detail else ".")
    )
    return 0


# ------------------------------------------------------------------ status


def _rate(t: Tally) -> str:
    return vn_percent(t.rate)


def render_status(matrix: ShareMatrix, tz: Any) -> list[str]:
    """The human table: agencies down, posts across (a town has ~20 units, ~10 posts a month)."""
    lines: list[str] = []
    start = f"{matrix.start.astimezone(tz):%d/%m/%Y}" if matrix.start else "…"
    end = (
        f"{(matrix.end - timedelta(seconds=1)).astimezone(tz):%d/%m/%Y}"
        if matrix.end
        else f"{matrix.now.astimezone(tz):%d/%m/%Y}"
    )
    lines.append(f"Chia sẻ bài của các đơn vị, bài đăng từ {start} đến {end}")
    lines.append(
        f"Đúng hạn: chia sẻ trong {vn_number(matrix.on_time_hours)} giờ sau khi đăng; "
        f"tính đến {matrix.now.astimezone(tz):%d/%m/%Y %H:%M}."
    )
    if not matrix.posts:
        lines.append("Không có bài nào được đăng trong khoảng thời gian này.")
        lines += _warnings(matrix)
        return lines
    lines.append("")
    lines.append("Bài viết:")
    for i, post in enumerate(matrix.posts, start=1):
        lines.append(
            f"  #{i:<3}{post.published_at.astimezone(tz):%d/%m/%Y %H:%M}  {post.title} "
            f"({post.folder})"
        )
    lines.append("")
    name_w = min(
        44, max([len("Đơn vị"), len("Tổng cộng")] + [len(a.name) for a in matrix.agencies])
    )
    col_w = max(3, len(f"#{len(matrix.posts)}") + 1)
    heads = ["Được giao", "Đúng hạn", "Muộn", "Chưa", "Chờ", "Tỷ lệ"]
    widths = [len(h) for h in heads]

    def row(name: str, cells: list[str], figures: list[str]) -> str:
        text = name[:name_w].ljust(name_w) + " "
        text += "".join(c.center(col_w) for c in cells)
        text += "".join(f.rjust(w + 2) for f, w in zip(figures, widths, strict=True))
        return text.rstrip()

    lines.append(row("Đơn vị", [f"#{i}" for i in range(1, len(matrix.posts) + 1)], heads))
    for agency in matrix.agencies:
        cells = []
        for post in matrix.posts:
            cell = matrix.cells.get((post.post_id, agency.id))
            if cell is None or cell.state is None:
                cells.append("")
            else:
                symbol = SYMBOLS[cell.state]
                cells.append(symbol if cell.expected else symbol.lower())
        t = matrix.per_agency[agency.id]
        name = agency.name if agency.active else f"{agency.name} (đã ngừng)"
        lines.append(row(name, cells, _figures(t)))
    lines.append(row("Tổng cộng", [""] * len(matrix.posts), _figures(matrix.total)))
    lines.append("")
    lines.append(
        "Ký hiệu: Đ đúng hạn · M muộn · - chưa chia sẻ · ~ đang chờ (chưa hết hạn) · "
        "trống: không được giao;"
    )
    lines.append("         chữ thường (đ, m): không được giao nhưng đã chia sẻ.")
    lines.append("Tỷ lệ = số bài đã chia sẻ / số bài được giao đã hết hạn chia sẻ.")
    lines += _warnings(matrix)
    return lines


def _figures(t: Tally) -> list[str]:
    return [
        vn_number(t.expected),
        vn_number(t.on_time),
        vn_number(t.late),
        vn_number(t.missing),
        vn_number(t.pending),
        _rate(t),
    ]


def _warnings(matrix: ShareMatrix) -> list[str]:
    if not matrix.warnings:
        return []
    return ["", "Cảnh báo:"] + [f"  - {w}" for w in matrix.warnings]


def status_json(matrix: ShareMatrix) -> dict[str, Any]:
    def tally(t: Tally) -> dict[str, Any]:
        return {
            "expected": t.expected,
            "on_time": t.on_time,
            "late": t.late,
            "missing": t.missing,
            "pending": t.pending,
            "rate": t.rate,
        }

    return {
        "from": matrix.start.isoformat() if matrix.start else None,
        "to": matrix.end.isoformat() if matrix.end else None,
        "now": matrix.now.isoformat(),
        "on_time_hours": matrix.on_time_hours,
        "posts": [
            {
                "post_id": p.post_id,
                "folder": p.folder,
                "title": p.title,
                "published_at": p.published_at.isoformat(),
                "link": p.link,
            }
            for p in matrix.posts
        ],
        "agencies": [
            {
                "id": a.id,
                "name": a.name,
                "group": a.group,
                "active": a.active,
                **tally(matrix.per_agency[a.id]),
            }
            for a in matrix.agencies
        ],
        "cells": [
            {
                "post_id": post_id,
                "agency": agency_id,
                "expected": cell.expected,
                "state": cell.state.value if cell.state else None,
                "label": STATE_LABELS[cell.state] if cell.state else None,
                "shared_at": (
                    cell.share.shared_at.isoformat()
                    if cell.share and cell.share.shared_at
                    else None
                ),
                "link": cell.share.url if cell.share else None,
                "source": cell.share.source if cell.share else None,
            }
            for (post_id, agency_id), cell in matrix.cells.items()
        ],
        "total": tally(matrix.total),
        "warnings": matrix.warnings,
    }


#: the longest ``--days`` (beyond it the period's start is not a date Python can hold)
MAX_DAYS = 36_500


def run_status(args: argparse.Namespace, ctx: Context) -> int:
    tz = ctx.settings.tz
    if not 1 <= args.days <= MAX_DAYS:  # before any date arithmetic: 3,000,000 days overflows
        ctx.error(f"Lỗi: --days phải từ 1 đến {MAX_DAYS} (100 năm), ví dụ --days 30.")
        return 2
    try:
        now = parse_now(args.now)
        if args.month:
            period = parse_month(args.month, tz)
            start, end = period.start, period.end
        else:
            start, end = now - timedelta(days=args.days), None
    except ValueError as exc:
        ctx.error(f"Lỗi: {exc}")
        return 2
    _sync(ctx, now)
    matrix = share_matrix(ctx.db, ctx.settings, start, end, now=now)
    reads = unit_agency_reads(ctx.db, ctx.settings, unit_pages(ctx.units))
    if args.json:
        data = status_json(matrix)
        if reads:  # only in an install where an agency is one of its units
            data["unit_pages"] = [
                {
                    "agency": agency.id,
                    "unit": page.unit_id,
                    "page_id": page.page_id,
                    "read_with": "unit_token",
                    "read_at": read_at.isoformat() if read_at else None,
                }
                for agency, page, read_at in reads
            ]
        ctx.print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for line in [*render_status(matrix, tz), *render_unit_reads(reads, tz)]:
            ctx.print(line)
    return 0


def render_unit_reads(
    reads: list[tuple[AgencyInfo, UnitPage, datetime | None]], tz: Any
) -> list[str]:
    """Agencies that are units of this install: read with their own Page token, no other."""
    if not reads:
        return []
    lines = ["", "Đơn vị trong cùng bản cài (đọc Trang bằng mã Trang của chính đơn vị đó):"]
    for agency, page, read_at in reads:
        when = f"đã đọc lúc {read_at.astimezone(tz):%d/%m/%Y %H:%M}" if read_at else "chưa đọc"
        lines.append(f"  - {agency.name}: Trang của đơn vị {page.unit_id}, {when}")
    return lines


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "shares", help="chia sẻ bài của các đơn vị: nhập liên kết, xem ai đã chia sẻ"
    )
    shares_sub = parser.add_subparsers(dest="shares_command", metavar="LỆNH")

    imp = shares_sub.add_parser(
        "import",
        help="ghi nhận các liên kết chia sẻ đơn vị báo về (tệp CSV agency,link,time,post)",
        description=(
            "Tệp CSV có dòng tiêu đề agency,link,time,post. agency: mã đơn vị trong "
            "agencies.csv; link: địa chỉ bài chia sẻ trên Trang của đơn vị; time: "
            "dd/mm/yyyy HH:MM; post (không bắt buộc): thư mục bài hoặc liên kết bài của "
            "thị xã. Có lỗi ở bất kỳ dòng nào thì không ghi dòng nào."
        ),
    )
    imp.add_argument("file", metavar="FILE", help="tệp CSV")
    imp.add_argument("--dry-run", action="store_true", help="chỉ kiểm tra, không ghi")
    imp.add_argument("--json", action="store_true", help="in kết quả dạng JSON")
    imp.add_argument("--now", help=argparse.SUPPRESS)
    imp.set_defaults(handler=run_import)

    status = shares_sub.add_parser(
        "status", help="bảng bài × đơn vị: đúng hạn, muộn, chưa chia sẻ; tỷ lệ từng đơn vị"
    )
    status.add_argument("--month", metavar="YYYY-MM", help="các bài đăng trong tháng này")
    status.add_argument(
        "--days",
        type=int,
        default=DEFAULT_DAYS,
        help=f"các bài đăng trong số ngày gần đây (mặc định {DEFAULT_DAYS})",
    )
    status.add_argument("--json", action="store_true", help="in kết quả dạng JSON")
    status.add_argument("--now", help=argparse.SUPPRESS)
    status.set_defaults(handler=run_status)

    def no_command(args: argparse.Namespace, ctx: Context) -> int:
        parser.print_help(ctx.out)
        return 2

    parser.set_defaults(handler=no_command)
