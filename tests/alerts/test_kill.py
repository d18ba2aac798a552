"""The daemon process is SIGKILLed after the event is committed and while it is sending the
alert; after a restart the alert arrives exactly once (real process, real sockets)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from .conftest import WEBHOOK_KEY, Webhook

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _wait(condition, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _rows(db_file: Path, sql: str) -> list[tuple[object, ...]]:
    try:
        with sqlite3.connect(db_file) as conn:
            return list(conn.execute(sql))
    except sqlite3.OperationalError:  # the schema is not there yet
        return []


def test_sigkill_between_event_and_send_sends_after_restart(tmp_path: Path) -> None:
    hook = Webhook()
    hook.hang.set()  # the first daemon's send never gets an answer
    hook.start()
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    folder = tmp_path / "queue" / "bai-qua-han"
    folder.mkdir(parents=True)
    old = datetime.now(tz) - timedelta(days=3)
    (folder / "bai-viet.txt").write_text(
        f"Tiêu đề: Lịch tiếp công dân quý I\nThời gian đăng: {old:%d/%m/%Y %H:%M}\n"
        "Kênh: facebook\nNgười duyệt: Võ Thanh Hùng\n\nNội dung.\n",
        encoding="utf-8",
    )
    db_file = tmp_path / "data" / "sp.db"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FB_", "ZALO_", "DATABASE"))},
        "DATABASE_URL": f"sqlite:///{db_file}",
        "QUEUE_DIR": str(tmp_path / "queue"),
        "LOG_DIR": str(tmp_path / "logs"),
        "MEDIA_CACHE_DIR": str(tmp_path / "cache"),
        "REPORT_DIR": str(tmp_path / "reports"),
        "AGENCIES_FILE": str(tmp_path / "agencies.csv"),
        "TICK_SECONDS": "1",
        "QUEUE_SETTLE_SECONDS": "0",
        "ALERT_URLS": hook.url,
        "ALERT_QUIET_HOURS": "",
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [sys.executable, "-m", "social_publisher", "--env-file", str(tmp_path / "x"), "run"]
    logs = [tmp_path / "run-1.log", tmp_path / "run-2.log"]
    first = subprocess.Popen(cmd, env=env, stdout=logs[0].open("wb"), stderr=subprocess.STDOUT)
    try:
        _wait(hook.hung.is_set, 60, "the first daemon to start sending")
        # the event and its alert are committed; the delivery is claimed, not recorded
        assert _rows(db_file, "SELECT kind FROM alerts") == [("overdue",)]
        assert _rows(db_file, "SELECT attempts, sent_at FROM alert_deliveries") == [(1, None)]
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    hook.hang.clear()
    hook.release.set()  # the hung handler returns without reading: that message was not read
    assert hook.received == []

    second = subprocess.Popen(cmd, env=env, stdout=logs[1].open("wb"), stderr=subprocess.STDOUT)
    try:
        _wait(lambda: len(hook.received) >= 1, 60, "the alert after the restart")
        _wait(
            lambda: _rows(db_file, "SELECT sent_at FROM alert_deliveries")[0][0] is not None,
            30,
            "the delivery record",
        )
        time.sleep(2.5)  # two more ticks and sender polls: nothing is sent again
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
        hook.stop()
    assert len(hook.received) == 1
    message = hook.received[0]
    assert message["title"] == (
        "[social-publisher] Bài “Lịch tiếp công dân quý I” quá giờ đăng, đang chờ quyết định"
    )
    assert _rows(db_file, "SELECT attempts FROM alert_deliveries") == [(2,)]
    written = "".join(p.read_text("utf-8", "replace") for p in [*logs, *tmp_path.glob("logs/*")])
    assert WEBHOOK_KEY not in written
