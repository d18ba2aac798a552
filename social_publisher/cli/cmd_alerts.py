"""``alerts``: try every ALERT_URLS target (``alerts test``), list recent alerts (``alerts list``).

``doctor --alert`` (the watchdog for cron / Task Scheduler) is in ``cmd_doctor``.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from ..services.alert_sender import recent_alerts, send_test
from . import Context


def clock() -> datetime:
    """Now (tests replace it)."""
    return datetime.now(UTC)


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "alerts",
        help="cảnh báo: gửi tin thử đến mọi nơi nhận (test), xem các cảnh báo gần đây (list)",
    )
    actions = parser.add_subparsers(dest="alerts_action", metavar="VIỆC")
    test = actions.add_parser("test", help="gửi một tin thử đến từng địa chỉ trong ALERT_URLS")
    test.set_defaults(handler=run_test)
    listing = actions.add_parser("list", help="các cảnh báo gần đây và đã gửi đến đâu")
    listing.add_argument("--limit", type=int, default=20, help="số cảnh báo (mặc định 20)")
    listing.set_defaults(handler=run_list)
    parser.set_defaults(handler=lambda args, ctx: _help(parser, ctx))


def _help(parser: argparse.ArgumentParser, ctx: Context) -> int:
    parser.print_help(ctx.out)
    return 2


def run_test(args: argparse.Namespace, ctx: Context) -> int:
    settings = ctx.settings
    if not settings.alert_urls:
        ctx.error(
            "Chưa có nơi nhận cảnh báo: đặt ALERT_URLS trong .env (xem README, mục Cảnh báo), "
            "rồi chạy lại social-publisher alerts test."
        )
        return 1
    results = send_test(settings, now=clock())
    failed = 0
    for result in results:
        if result.error is None:
            ctx.print(f"[ OK ] {result.label}: đã gửi tin thử.")
        else:
            failed += 1
            ctx.print(f"[ LỖI ] {result.label}: {result.error}")
    if failed:
        ctx.print(f"{failed}/{len(results)} nơi nhận chưa nhận được tin thử.")
        return 1
    ctx.print(f"Đã gửi tin thử đến cả {len(results)} nơi nhận.")
    return 0


def run_list(args: argparse.Namespace, ctx: Context) -> int:
    tz = ctx.settings.tz
    rows = recent_alerts(ctx.db, limit=max(1, args.limit))
    if not rows:
        ctx.print("Chưa có cảnh báo nào.")
        return 0
    for row in rows:
        ctx.print(f"{row.created_at.astimezone(tz):%d/%m/%Y %H:%M}  {row.title}")
        for label, sent_at, error in row.deliveries:
            if sent_at is not None:
                ctx.print(f"    đã gửi {label} lúc {sent_at.astimezone(tz):%H:%M %d/%m}")
            else:
                ctx.print(f"    chưa gửi {label}" + (f": {error}" if error else ""))
    return 0
