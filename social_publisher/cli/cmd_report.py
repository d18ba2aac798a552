"""``report``: the monthly / year-to-date engagement report (Excel, CSV, chart, .docx)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..services.report import (
    Period,
    ReportHeading,
    make_report,
    parse_month,
    parse_year,
    summary_lines,
)
from ..services.report_units import make_province_report, province_json, province_lines
from . import Context


def parse_now(text: str | None) -> datetime:
    """``--now`` (hidden): run as of a given moment, for tests and re-running old reports."""
    if not text:
        return datetime.now(UTC)
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.all_units:
        return run_all_units(args, ctx)
    tz = ctx.settings.tz
    period = _period(args, ctx, tz)
    if period is None:
        return 2
    now = parse_now(args.now)
    out = Path(args.out) if args.out else ctx.settings.report_dir
    output = make_report(ctx.db, ctx.settings, period, out, now=now)
    if args.json:
        data = output.data
        total = data.matrix.total
        ctx.print(
            json.dumps(
                {
                    "period": period.slug,
                    "folder": str(output.folder),
                    "workbook": str(output.workbook),
                    "csv": [str(p) for p in output.csv_files],
                    "chart": str(output.chart),
                    "document": str(output.document),
                    "posts": {ch: t.posts for ch, t in data.totals.items()},
                    "totals": {ch: t.values for ch, t in data.totals.items()},
                    "shares": {
                        "expected": total.expected,
                        "on_time": total.on_time,
                        "late": total.late,
                        "missing": total.missing,
                        "pending": total.pending,
                        "rate": total.rate,
                    },
                    "targets": data.targets,
                    "compared_with": {
                        figures.label: {
                            "posts": {ch: t.posts for ch, t in figures.totals.items()},
                            "interactions": figures.interactions,
                            "views": figures.metric("views"),
                            "share_rate": figures.shares.rate,
                        }
                        for _, figures in data.comparisons
                    },
                    "notes": data.notes,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        for line in summary_lines(output):
            ctx.print(line)
    return 0


def _period(args: argparse.Namespace, ctx: Context, tz: Any) -> Period | None:
    """``--month`` or ``--year`` (exactly one), or None after saying what is wrong."""
    if bool(args.month) == bool(args.year):
        ctx.error(
            "Lỗi: cần đúng một trong hai tùy chọn --month YYYY-MM (báo cáo tháng) hoặc "
            "--year YYYY (báo cáo từ đầu năm), ví dụ: social-publisher report --month 2024-10"
        )
        return None
    try:
        parse_now(args.now)
        return parse_month(args.month, tz) if args.month else parse_year(args.year, tz)
    except ValueError as exc:
        ctx.error(f"Lỗi: {exc}")
        return None


def run_all_units(args: argparse.Namespace, ctx: Context) -> int:
    """The province workbook: every unit of the install, into the install's REPORT_DIR."""
    if ctx.unit_id is not None:
        ctx.error(
            "Lỗi: --all-units lập báo cáo cho mọi đơn vị, không dùng cùng --unit. Bỏ --unit, "
            "hoặc bỏ --all-units để lập báo cáo của một đơn vị."
        )
        return 2
    settings = ctx.install_settings
    period = _period(args, ctx, settings.tz)
    if period is None:
        return 2
    report = make_province_report(
        ctx.install_db,
        ctx.units,
        period,
        Path(args.out) if args.out else settings.report_dir,
        now=parse_now(args.now),
        heading=ReportHeading.from_settings(settings),
    )
    if args.json:
        ctx.print(json.dumps(province_json(report), ensure_ascii=False, indent=2))
    else:
        for line in province_lines(report):
            ctx.print(line)
    return 0


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="xuất báo cáo tương tác (Excel, CSV, biểu đồ, văn bản .docx) theo tháng hoặc năm",
        description=(
            "Xuất báo cáo vào thư mục bao-cao-YYYY-MM (hoặc bao-cao-nam-YYYY) bên trong --out: "
            "tệp Excel, các bảng CSV (UTF-8 có BOM), biểu đồ PNG và văn bản báo cáo .docx "
            "theo thể thức Nghị định 30/2020/NĐ-CP (tên đơn vị, người ký, nơi nhận: các "
            "thiết lập REPORT_…). Với --all-units: một tệp Excel tổng hợp mọi đơn vị của bản "
            "cài (trang Tổng hợp, rồi một trang cho mỗi đơn vị), "
            "REPORT_DIR/bao-cao-cac-don-vi-YYYY-MM.xlsx."
        ),
    )
    parser.add_argument("--month", metavar="YYYY-MM", help="tháng báo cáo, ví dụ 2024-10")
    parser.add_argument(
        "--year", metavar="YYYY", help="năm báo cáo (từ đầu năm đến nay, cho báo cáo 20/11)"
    )
    parser.add_argument(
        "--all-units",
        action="store_true",
        help="báo cáo tổng hợp mọi đơn vị của bản cài (cho Sở): một tệp Excel gồm trang tổng "
        "hợp và một trang cho mỗi đơn vị, ghi vào REPORT_DIR của bản cài",
    )
    parser.add_argument("--out", metavar="DIR", help="thư mục chứa báo cáo (mặc định REPORT_DIR)")
    parser.add_argument("--json", action="store_true", help="in kết quả dạng JSON")
    parser.add_argument("--now", help=argparse.SUPPRESS)
    parser.set_defaults(handler=run)
