"""Due-to-live latency of the daemon, against the sandbox over real HTTP.

    .venv/bin/python bench/bench_latency.py [--posts 20] [--skip-naive]

Writes N Facebook posts due a few seconds apart (ISO 8601 times with seconds),
starts the real daemon (``python -m social_publisher run``, default settings:
TICK_SECONDS=30) against an in-process sandbox, and measures for each post the
moment the create call finished (the attempt row, microseconds) and the post's
``created_time`` on the sandbox (whole seconds), minus its due time.

The naive alternative (a tick-only daemon: the same library daemon with the exact
wake-ups turned off, in this process) is measured the same way for comparison.

Goal: p95 ≤ 5 s with default settings.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from social_publisher.config import load_settings  # noqa: E402
from social_publisher.sandbox import Sandbox  # noqa: E402
from social_publisher.services.daemon import Daemon, build_context  # noqa: E402
from social_publisher.store import Attempt, Database, Post, Publication  # noqa: E402

LEAD_SECONDS = 20.0  # the first post is due this long after start (the daemon boots first)
SPACING_SECONDS = 1.3


def write_queue(queue: Path, start: datetime, count: int, tag: str) -> dict[str, datetime]:
    dues: dict[str, datetime] = {}
    for i in range(count):
        due = start + timedelta(seconds=LEAD_SECONDS + i * SPACING_SECONDS + random.random())
        folder = queue / f"{tag}-{i:02d}"
        folder.mkdir(parents=True)
        (folder / "bai-viet.txt").write_text(
            f"Tiêu đề: Đo độ trễ {tag} {i:02d}\n"
            f"Thời gian đăng: {due.astimezone().isoformat(timespec='seconds')}\n"
            "Kênh: facebook\nNgười duyệt: Võ Thanh Hùng\n\n"
            f"Bài đo độ trễ số {i:02d} ({tag}).\n",
            encoding="utf-8",
        )
        dues[folder.name] = due.replace(microsecond=0)
    return dues


def env_for(sandbox: Sandbox, work: Path) -> dict[str, str]:
    return {
        **sandbox.env(),
        "DATABASE_URL": f"sqlite:///{work / 'sp.db'}",
        "QUEUE_DIR": str(work / "queue"),
        "LOG_DIR": str(work / "logs"),
        "MEDIA_CACHE_DIR": str(work / "cache"),
        "REPORT_DIR": str(work / "reports"),
        "AGENCIES_FILE": str(work / "agencies.csv"),
        "TIMEZONE": "Asia/Ho_Chi_Minh",
        # the folders are written at start, LEAD_SECONDS before the first is due: settled
        # by then, so what is measured is the wake-up, not the settle time
        "QUEUE_SETTLE_SECONDS": "5",
    }


def measure(
    db_url: str, sandbox: Sandbox, dues: dict[str, datetime]
) -> tuple[list[float], list[float]]:
    db = Database(db_url)
    by_attempt: list[float] = []
    with db.session() as s:
        rows = s.execute(
            select(Post.folder, Attempt.finished_at)
            .join(Publication, Publication.post_id == Post.id)
            .join(Attempt, Attempt.publication_id == Publication.id)
            .where(Attempt.outcome.in_(["ok", "adopted"]))
        ).all()
    for folder, finished in rows:
        if folder in dues and finished is not None:
            by_attempt.append((finished - dues[folder]).total_seconds())
    db.dispose()
    by_sandbox: list[float] = []
    for post in sandbox.state()["graph"]["posts"]:
        for folder, due in dues.items():
            number = folder.rsplit("-", 1)[1]
            tag = folder.rsplit("-", 1)[0]
            if f"Bài đo độ trễ số {number} ({tag})." in (post["message"] or ""):
                created = datetime.strptime(post["created_time"], "%Y-%m-%dT%H:%M:%S%z")
                by_sandbox.append((created - due).total_seconds())
    return by_attempt, by_sandbox


def wait_until_done(db_url: str, count: int, deadline: float) -> None:
    db = Database(db_url)
    try:
        while time.monotonic() < deadline:
            try:
                with db.session() as s:
                    done = s.scalars(
                        select(Publication.id).where(
                            Publication.state.in_(["published", "confirmed"])
                        )
                    ).all()
                if len(done) >= count:
                    return
            except Exception:
                pass
            time.sleep(0.5)
    finally:
        db.dispose()


def report(name: str, values: list[float]) -> None:
    if not values:
        print(f"{name}: no data")
        return
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    print(
        f"{name}: n={len(values)} median={statistics.median(values):.2f}s "
        f"p95={p95:.2f}s max={values[-1]:.2f}s"
    )


def run_real(count: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    with Sandbox() as sandbox:
        env = {**os.environ, **env_for(sandbox, work)}
        dues = write_queue(work / "queue", datetime.now(UTC), count, "exact")
        proc = subprocess.Popen(
            [sys.executable, "-m", "social_publisher", "--env-file", str(work / "none.env"), "run"],
            env=env,
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            last = max(dues.values())
            wait_until_done(
                env["DATABASE_URL"],
                count,
                time.monotonic() + (last - datetime.now(UTC)).total_seconds() + 40,
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        by_attempt, by_sandbox = measure(env["DATABASE_URL"], sandbox, dues)
    print("Daemon process (exact wake-ups, TICK_SECONDS=30):")
    report("  create finished - due", by_attempt)
    report("  sandbox created_time - due (1 s resolution)", by_sandbox)


def run_naive(count: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-latency-naive-"))
    with Sandbox() as sandbox:
        settings = load_settings(env_for(sandbox, work), dotenv_path=None)
        db = Database(settings.database_url)
        db.upgrade()
        dues = write_queue(work / "queue", datetime.now(UTC), count, "tick")
        daemon = Daemon(build_context(settings, db), exact_wakeups=False, background_jobs=False)
        daemon.start()
        try:
            last = max(dues.values())
            wait_until_done(
                settings.database_url,
                count,
                time.monotonic() + (last - datetime.now(UTC)).total_seconds() + 40,
            )
        finally:
            daemon.shutdown()
            db.dispose()
        by_attempt, by_sandbox = measure(settings.database_url, sandbox, dues)
    print("Naive tick-only daemon (same code, exact wake-ups off, TICK_SECONDS=30):")
    report("  create finished - due", by_attempt)
    report("  sandbox created_time - due (1 s resolution)", by_sandbox)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    run_real(args.posts)
    if not args.skip_naive:
        run_naive(args.posts)


if __name__ == "__main__":
    main()
