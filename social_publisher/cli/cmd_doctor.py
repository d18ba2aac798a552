"""``doctor``: check settings, database, folders, tokens, API reachability and public media.

Each check is one line with a verdict and, when something is wrong, what to do
(Vietnamese). A channel that is simply off is a warning, not a failure: an office
may use only Facebook. Exit 1 when any check failed.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ..channels.base import Diagnoses, Diagnosis
from ..config import Settings
from ..errors import SocialPublisherError
from ..platforms import CHANNELS, SHORT_NAMES
from ..services.daemon import build_channels, lock_is_free
from ..services.setup_checks import doctor_checks
from ..store import Database
from ..units import DEFAULT_UNIT_ID
from . import Context

MARKS = {"ok": "[ OK ]", "warning": "[CHÚ Ý]", "error": "[ LỖI ]"}


def _database(settings: Settings, unit: str) -> tuple[Database | None, Diagnosis]:
    try:
        db = Database(settings.database_url, unit=unit)
        db.ensure_current()
        revision = db.current_revision()
    except (SocialPublisherError, SQLAlchemyError) as exc:
        reason = exc.message if isinstance(exc, SocialPublisherError) else type(exc).__name__
        return None, Diagnosis(
            "database",
            False,
            f"Không mở được cơ sở dữ liệu ({reason}). Kiểm tra DATABASE_URL trong .env "
            "và quyền ghi thư mục data/; chạy 'social-publisher init'.",
        )
    return db, Diagnosis(
        "database", True, f"Cơ sở dữ liệu {db.safe_url} sẵn sàng (phiên bản {revision})."
    )


def _folders(settings: Settings) -> list[Diagnosis]:
    out = []
    queue = settings.queue_dir
    if queue.is_dir():
        out.append(Diagnosis("queue", True, f"Thư mục hàng đợi {queue} có sẵn."))
    else:
        out.append(
            Diagnosis(
                "queue",
                False,
                f"Không thấy thư mục hàng đợi {queue}: tạo thư mục này hoặc sửa QUEUE_DIR.",
            )
        )
    logs = settings.log_dir
    try:
        logs.mkdir(parents=True, exist_ok=True)
        writable = os.access(logs, os.W_OK)
    except OSError:
        writable = False
    if writable:
        out.append(Diagnosis("logs", True, f"Ghi được nhật ký vào {logs}."))
    else:
        out.append(
            Diagnosis("logs", False, f"Không ghi được vào thư mục nhật ký {logs}: sửa LOG_DIR.")
        )
    return out


def diagnose(settings: Settings, unit: str = DEFAULT_UNIT_ID) -> list[Diagnosis]:
    """Every check of one unit, in the order staff should fix them."""
    db, db_check = _database(settings, unit)
    results = [db_check, *_folders(settings)]
    if db is None:
        return results
    try:
        channels = build_channels(settings, db)
        for name in CHANNELS:
            channel = channels.get(name)
            if channel is None:
                missing = ", ".join(settings.missing_for(name))
                label = SHORT_NAMES[name]
                results.append(
                    Diagnosis(
                        name, False, f"Kênh {label} đang tắt: thiếu {missing} trong .env.", True
                    )
                )
            elif isinstance(channel, Diagnoses):
                results.extend(channel.diagnose())
        results.extend(doctor_checks(settings, db, channels))
        if settings.is_sqlite:
            running = not lock_is_free(settings)
            results.append(
                Diagnosis(
                    "daemon",
                    True,
                    "Tiến trình nền đang chạy."
                    if running
                    else "Tiến trình nền chưa chạy: chạy 'social-publisher run' để đăng bài.",
                    warning=not running,
                )
            )
    finally:
        db.dispose()
    return results


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.alert:
        return watchdog(ctx)
    units = ctx.chosen_units()
    failed = 0
    for unit in units:  # every unit's settings, tokens and API access
        if len(units) > 1:
            ctx.print(f"Đơn vị {unit.id} ({unit.name}):")
        for item in diagnose(unit.settings, unit.id):
            verdict = (
                "ok"
                if item.ok and not item.warning
                else ("warning" if item.ok or item.warning else "error")
            )
            failed += verdict == "error"
            ctx.print(f"{MARKS[verdict]} {item.message}")
    if failed:
        ctx.print(f"Có {failed} vấn đề cần sửa.")
        return 1
    ctx.print("Mọi kiểm tra đều đạt.")
    return 0


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "doctor", help="kiểm tra cấu hình, token, kết nối API và địa chỉ ảnh công khai"
    )
    parser.add_argument(
        "--alert",
        action="store_true",
        help="chỉ kiểm tra tiến trình nền còn chạy không; nếu đã dừng thì gửi cảnh báo "
        "(chạy định kỳ bằng cron / Task Scheduler)",
    )
    parser.set_defaults(handler=run)


def watchdog(ctx: Context) -> int:
    """``doctor --alert``: exit 0 while the daemon's heartbeat is fresh, else alert and exit 1."""
    from datetime import UTC, datetime

    from ..services.alert_daemon import run_watchdog
    from ..services.daemon import worker_id

    settings = ctx.install_settings  # the daemon is the install's; owed alerts go by unit
    alive, beat_at, sent = run_watchdog(
        ctx.install_db,
        settings,
        clock=lambda: datetime.now(UTC),
        worker=worker_id(),
        units=ctx.units,
    )
    when = f"{beat_at.astimezone(settings.tz):%H:%M %d/%m/%Y}" if beat_at else "chưa bao giờ"
    if alive:
        ctx.print(f"[ OK ] Tiến trình nền đang chạy (tín hiệu gần nhất lúc {when}).")
        return 0
    ctx.print(f"[ LỖI ] Tiến trình nền không chạy (tín hiệu gần nhất: {when}).")
    if not settings.alert_urls and not sent.sent and not sent.failed:
        ctx.print("Chưa đặt ALERT_URLS nên không gửi được cảnh báo (xem README, mục Cảnh báo).")
    elif sent.failed:
        ctx.print("Chưa gửi được cảnh báo: " + "; ".join(sent.errors))
    elif sent.sent:
        ctx.print(f"Đã gửi {sent.sent} cảnh báo.")
    return 1
