"""The daemon around the pass: exact wake-ups, one daemon per SQLite file, signals, logs, CLI."""

from __future__ import annotations

import io
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from social_publisher.cli import main
from social_publisher.errors import DaemonAlreadyRunning, register_secret
from social_publisher.services.daemon import Daemon, build_context, daemon_lock, run_pass
from social_publisher.services.logs import setup_logging, teardown_logging
from social_publisher.services.planner import plan

from .conftest import T0, FakeFacebook, add_post, pubs


def test_exact_wakeup_publishes_within_a_second_not_at_next_tick(db, dsettings):
    real = lambda: datetime.now(UTC)  # noqa: E731
    fb = FakeFacebook("facebook", real)  # type: ignore[arg-type]
    ctx = build_context(
        dsettings,
        db,
        clock=real,
        channels={"facebook": fb},
        ingest=False,
        render=False,
        worker="w",
        rng=random.Random(1),
    )
    assert dsettings.tick_seconds == 30
    due = datetime.now(UTC) + timedelta(seconds=1.5)
    post = add_post(db, "dung-gio", publish_at=due, channels=("facebook",))
    daemon = Daemon(ctx, clock=real, background_jobs=False)
    daemon.start()
    try:
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and pubs(db, post).get("facebook") is None:
            time.sleep(0.05)
        while time.monotonic() < deadline and pubs(db, post)["facebook"].state != "published":
            time.sleep(0.05)
    finally:
        daemon.shutdown()
    pub = pubs(db, post)["facebook"]
    assert pub.state == "published"
    late = (fb.live()[0].created - due).total_seconds()
    assert 0 <= late < 1.0, late  # a tick-only daemon would be up to 30 s late
    assert daemon.passes <= 4


def test_next_wakeup_is_earliest_of_due_retry_and_lease(db, make_ctx, clock):
    add_post(db, "a", publish_at=T0 + timedelta(minutes=7), channels=("zalo",))
    add_post(db, "b", publish_at=T0 + timedelta(minutes=3), channels=("zalo",))
    result = run_pass(make_ctx(), clock())
    assert result.next_wakeup == T0 + timedelta(minutes=3)


def test_second_daemon_is_refused_with_a_clear_message(settings, env, monkeypatch):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with daemon_lock(settings):
        with pytest.raises(DaemonAlreadyRunning) as info, daemon_lock(settings):
            pass
        assert "Đã có một tiến trình" in info.value.message
        out, err = io.StringIO(), io.StringIO()
        assert main(["--env-file", "/nonexistent.env", "run", "--once"], out=out, err=err) == 1
        assert "Đã có một tiến trình social-publisher khác" in err.getvalue()
    teardown_logging()


def test_run_once_exit_codes(env, monkeypatch, tmp_path):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "queue").mkdir()
    out, err = io.StringIO(), io.StringIO()
    assert main(["--env-file", "/nonexistent.env", "run", "--once"], out=out, err=err) == 0
    assert "Xong một lượt" in out.getvalue()
    teardown_logging()


def test_sigterm_stops_gracefully(env, tmp_path):
    (tmp_path / "queue").mkdir()
    run_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FB_", "ZALO_"))},
        **env,
        "TICK_SECONDS": "1",
    }
    err_file = tmp_path / "err.txt"
    env_file = str(tmp_path / "none.env")
    with err_file.open("wb") as err:  # the child keeps its own copy
        proc = subprocess.Popen(
            [sys.executable, "-m", "social_publisher", "--env-file", env_file, "run"],
            env=run_env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "Đã khởi động" not in err_file.read_text(
            "utf-8", "replace"
        ):
            time.sleep(0.1)
        time.sleep(1.2)  # let a pass or two run
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = err_file.read_text("utf-8")
    assert "Đang dừng (SIGTERM)" in text and "Đã dừng." in text


def test_logs_redact_secrets_everywhere(tmp_path):
    secret = "EAAGtestPAGEtoken1234567890"
    register_secret(secret)
    console = io.StringIO()
    path = setup_logging(tmp_path / "logs", console=console)
    log = logging.getLogger("social_publisher.test")
    log.info("calling with token %s", secret)
    log.warning("url https://graph.test/me?access_token=%s&x=1", "unregistered-abcdef")
    try:
        raise RuntimeError(f"boom {secret}")
    except RuntimeError:
        log.exception("failed")
    teardown_logging()
    assert path is not None
    text = path.read_text("utf-8") + console.getvalue()
    assert secret not in text and "unregistered-abcdef" not in text
    assert "calling with token ***" in text and "boom ***" in text


def test_console_shows_staff_lines_and_errors_the_file_keeps_everything(tmp_path):
    console = io.StringIO()
    path = setup_logging(tmp_path / "logs", console=console)
    log = logging.getLogger("social_publisher.test")
    log.info("Đã đăng '%s' lên Facebook: %s", "Ngày Chuyển đổi số", "https://fb.test/1")
    log.info("queue: added %s (title %s)", "bai-a", "Ngày Chuyển đổi số")
    log.warning("engineering detail %s", 42)
    log.error("zalo verify failed: %s", "boom")
    teardown_logging()
    shown = console.getvalue()
    assert "Đã đăng 'Ngày Chuyển đổi số' lên Facebook: https://fb.test/1" in shown
    assert "queue: added" not in shown and "engineering detail" not in shown
    assert "zalo verify failed: boom" in shown
    assert path is not None
    kept = path.read_text("utf-8")
    for line in ("Đã đăng", "queue: added bai-a", "engineering detail 42", "zalo verify failed"):
        assert line in kept


def test_log_times_are_office_time_not_the_machine_clock(tmp_path):
    """A server on UTC: the console shows Vietnam time, the file ISO with the +07:00 offset."""
    from zoneinfo import ZoneInfo

    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        console = io.StringIO()
        path = setup_logging(tmp_path / "logs", console=console, tz=ZoneInfo("Asia/Ho_Chi_Minh"))
        log = logging.getLogger("social_publisher.test")
        record = log.makeRecord(log.name, logging.INFO, __file__, 1, "Đã đăng '%s'", ("A",), None)
        record.created = datetime(2026, 11, 26, 1, 30, 5, tzinfo=UTC).timestamp()
        log.handle(record)
        teardown_logging()
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()
    assert console.getvalue() == "08:30:05 Đã đăng 'A'\n"
    assert path is not None
    assert path.read_text("utf-8").startswith(
        f"2026-11-26T08:30:05.000+07:00 INFO social_publisher.test [{os.getpid()}] Đã đăng 'A'"
    )


def test_cli_actions(env, monkeypatch, db, clock):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    post = add_post(
        db, "bai-a", publish_at=datetime.now(UTC) - timedelta(hours=40), channels=("zalo",)
    )
    plan(db, now=datetime.now(UTC))
    out, err = io.StringIO(), io.StringIO()
    assert main(["--env-file", "/x.env", "withdraw", "bai-a"], out=out, err=err) == 0
    assert pubs(db, post)["zalo"].state == "cancelled"
    out = io.StringIO()
    assert main(["--env-file", "/x.env", "withdraw", "khong-co"], out=out, err=err) == 1
    assert "Không tìm thấy bài 'khong-co'" in err.getvalue()
    out = io.StringIO()
    # Zalo is not configured here, so publish-now records the decision and reports the state.
    code = main(["--env-file", "/x.env", "publish-now", str(post)], out=out, err=err)
    assert pubs(db, post)["zalo"].state == "due" and code == 0
    assert "Đã ghi nhận cho: Zalo OA" in out.getvalue()
    out = io.StringIO()
    assert main(["--env-file", "/x.env", "retry"], out=out, err=err) == 0
    assert "Không có kênh nào đang bị tạm dừng" in out.getvalue()
    teardown_logging()


def test_side_jobs_are_scheduled_and_guarded(db, dsettings, tmp_path):
    ctx = build_context(dsettings, db, channels={}, ingest=False, render=False, worker="w")
    daemon = Daemon(ctx, background_jobs=True)
    daemon.start()
    try:
        jobs = {job.id: job for job in daemon.scheduler.get_jobs()}
        assert {"tick", "zalo_tokens", "engagement", "monthly_report"} <= set(jobs)
        report = jobs["monthly_report"].next_run_time.astimezone(dsettings.tz)
        assert (report.day, report.hour, report.minute) == (1, 7, 0)
    finally:
        daemon.shutdown()
    daemon.monthly_report()  # writes last month's (empty) report; never raises
    assert any(dsettings.report_dir.iterdir())
    daemon.refresh_zalo_token()  # Zalo off: nothing to do, no error
    daemon.collect_engagement()


def test_daily_media_cache_prune_runs_between_passes(db, dsettings, tmp_path):
    import dataclasses

    from PIL import Image

    from social_publisher.media import render_image

    photo = tmp_path / "anh.jpg"
    Image.new("RGB", (900, 600), (30, 120, 200)).save(photo, "JPEG")
    settings = dataclasses.replace(dsettings, media_cache_dir=tmp_path / "cache")
    made = render_image(photo, cache_dir=settings.media_cache_dir, max_pixels=10**8)
    ctx = build_context(settings, db, channels={}, ingest=False, render=False, worker="w")
    clock_now = [datetime.now(UTC)]
    daemon = Daemon(ctx, clock=lambda: clock_now[0], background_jobs=True)
    daemon.start()
    try:
        job = daemon.scheduler.get_job("media_cache")
        assert job is not None and job.trigger.interval == timedelta(days=1)
    finally:
        daemon.shutdown()
    daemon.prune_media_cache()  # nothing is 60 days old yet
    assert all(r.path.is_file() for r in made)
    clock_now[0] += timedelta(days=61)
    daemon._pass_lock.acquire()  # a pass is running: the prune waits for it
    pruner = threading.Thread(target=daemon.prune_media_cache)
    pruner.start()
    pruner.join(0.2)
    assert pruner.is_alive() and all(r.path.is_file() for r in made)
    daemon._pass_lock.release()
    pruner.join(10)
    assert not any(r.path.exists() for r in made)
    off = Daemon(
        build_context(
            dataclasses.replace(settings, media_cache_days=0),
            db,
            channels={},
            ingest=False,
            render=False,
            worker="w",
        )
    )
    render_image(photo, cache_dir=settings.media_cache_dir, max_pixels=10**8)
    off.prune_media_cache()
    assert all(r.path.is_file() for r in made)
