"""``collect``: read engagement counters now (and look for agency shares)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from ..config import Settings
from ..numbers import vn_number
from ..platforms import SHORT_NAMES
from ..services.engagement import CollectReport, collect
from ..services.shares import unit_pages
from . import Context
from .cmd_check import unit_heading
from .cmd_report import parse_now

CHANNEL = SHORT_NAMES


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{CHANNEL.get(ch, ch)} {vn_number(n)}" for ch, n in sorted(counts.items()))


def run(args: argparse.Namespace, ctx: Context) -> int:
    try:
        now = parse_now(args.now)
    except ValueError as exc:
        ctx.error(f"Lỗi: thời điểm --now không hợp lệ ({exc}).")
        return 2
    units = ctx.chosen_units()
    pages = unit_pages(ctx.units)  # an agency that is a unit here is read with its own token
    if len(units) == 1:
        report = collect(ctx.db, ctx.settings, now=now, everything=args.all, pages=pages)
        if args.json:
            ctx.print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
            return 0 if report.ok else 1
        return _print(ctx, report, ctx.settings, now)
    # several units and no --unit: each unit's counters and shares, with its own tokens
    reports = [
        (
            unit,
            collect(ctx.db_for(unit), unit.settings, now=now, everything=args.all, pages=pages),
        )
        for unit in units
    ]
    if args.json:
        rows = [{"unit": unit.id, **report.as_dict()} for unit, report in reports]
        ctx.print(json.dumps({"units": rows}, ensure_ascii=False, indent=2))
    else:
        for index, (unit, report) in enumerate(reports):
            ctx.print(("\n" if index else "") + unit_heading(unit))
            _print(ctx, report, unit.settings, now, unit=unit.id)
    return 0 if all(report.ok for _, report in reports) else 1


def _print(
    ctx: Context, report: CollectReport, settings: Settings, now: datetime, unit: str = ""
) -> int:
    local = now.astimezone(settings.tz)
    due = sum(report.due.values())
    if due:
        ctx.print(
            f"Thu thập số liệu lúc {local:%d/%m/%Y %H:%M}: {vn_number(due)} bài đến lượt "
            f"({_counts(report.due)})."
        )
        ctx.print(
            f"Đã lưu {vn_number(report.snapshots)} bản ghi số liệu"
            + (f" ({_counts(report.collected)})." if report.collected else ".")
        )
    else:
        ctx.print(f"Thu thập số liệu lúc {local:%d/%m/%Y %H:%M}: chưa có bài nào đến lượt.")
    if report.not_found:
        ctx.print(
            f"Không tìm thấy {vn_number(len(report.not_found))} bài trên nền tảng (có thể đã bị "
            "xóa): " + ", ".join(report.not_found)
        )
    if report.shares is not None:
        ctx.print(
            f"Chia sẻ của đơn vị: đọc {vn_number(report.shares.pages_read)} Trang, tìm thấy "
            f"{vn_number(len(report.shares.found))} lượt chia sẻ mới."
        )
        for note in report.shares.notes:
            ctx.print(f"Lưu ý: {note}")
    for note in report.notes:
        ctx.print(f"Lưu ý: {note}")
    for error in [*report.errors, *(report.shares.errors if report.shares else [])]:
        ctx.error(f"Lỗi: {unit + ': ' if unit else ''}{error}")
    return 0 if report.ok else 1


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "collect", help="thu thập số liệu tương tác ngay (và tìm lượt chia sẻ của đơn vị)"
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="đọc lại mọi bài đã đăng, không chỉ các bài đến lượt theo lịch",
    )
    parser.add_argument("--json", action="store_true", help="in kết quả dạng JSON")
    parser.add_argument("--now", help=argparse.SUPPRESS)
    parser.set_defaults(handler=run)
