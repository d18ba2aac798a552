"""The idle daemon with 1,000 future posts queued: resident memory and CPU.

    .venv/bin/python bench/bench_idle.py [--posts 1000] [--seconds 60]

Writes N approved posts (both channels) due 60+ days ahead, so nothing is due and
nothing is handed to Facebook's scheduler; starts the real daemon
(``python -m social_publisher run``, default TICK_SECONDS=30) against an in-process
sandbox; waits for the first pass to ingest and plan everything; then samples
``/proc/<pid>/stat`` (utime+stime) and ``/proc/<pid>/status`` (VmRSS) for the given
window. Linux only.

Goals: resident memory ≤ 80 MB; CPU ≤ 2 % of one core.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from social_publisher.sandbox import Sandbox  # noqa: E402
from social_publisher.store import Database, Publication  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


#: the ``run`` handler without the CLI's discovery of every command module (some of
#: which import the report stack: matplotlib, openpyxl, numpy) at start-up
DAEMON_ONLY = (
    "import argparse, sys; from social_publisher.cli import Context; "
    "from social_publisher.cli.cmd_run import run; "
    "sys.exit(run(argparse.Namespace(once=False), Context(None)))"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "social_publisher", "--env-file", "none.env", "run"]
    measure(args, "social-publisher run (CLI)", cli)
    measure(
        args, "the daemon without the other commands' imports", [sys.executable, "-c", DAEMON_ONLY]
    )


def measure(args: argparse.Namespace, name: str, command: list[str]) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    queue = work / "queue"
    due = datetime.now(UTC) + timedelta(days=60)
    for i in range(args.posts):
        folder = queue / f"bai-{i:04d}"
        folder.mkdir(parents=True)
        (folder / "bai-viet.txt").write_text(
            f"Tiêu đề: Bài chờ đăng số {i:04d}\n"
            f"Thời gian đăng: {(due + timedelta(minutes=i)).isoformat(timespec='seconds')}\n"
            "Kênh: facebook, zalo\nNgười duyệt: Võ Thanh Hùng\n\n"
            f"Nội dung bài số {i:04d} về chuyển đổi số.\n",
            encoding="utf-8",
        )
    with Sandbox() as sandbox:
        env = {
            **os.environ,
            **sandbox.env(),
            "DATABASE_URL": f"sqlite:///{work / 'sp.db'}",
            "QUEUE_DIR": str(queue),
            "LOG_DIR": str(work / "logs"),
            "MEDIA_CACHE_DIR": str(work / "cache"),
            "TIMEZONE": "Asia/Ho_Chi_Minh",
        }
        started = time.monotonic()
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            db = Database(env["DATABASE_URL"])
            while True:
                time.sleep(0.5)
                try:
                    with db.session() as s:
                        planned = s.scalar(select(func.count(Publication.id))) or 0
                except Exception:
                    planned = 0
                if planned >= 2 * args.posts or time.monotonic() - started > 300:
                    break
            db.dispose()
            first_pass = time.monotonic() - started
            time.sleep(2)  # let the first pass settle
            rss_peak = rss_mb(proc.pid)
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            while time.monotonic() - t0 < args.seconds:
                time.sleep(1)
                rss_peak = max(rss_peak, rss_mb(proc.pid))
            cpu = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0) * 100
            rss_end = rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    print(f"{name}: idle, {args.posts} future posts ({2 * args.posts} publications), TICK 30 s")
    print(f"  start-up + first pass (ingest {args.posts} folders, plan): {first_pass:.1f} s")
    print(f"  CPU over {args.seconds:.0f} s: {cpu:.2f} % of one core (goal ≤ 2 %)")
    print(f"  resident memory: {rss_end:.1f} MB at the end, {rss_peak:.1f} MB peak (goal ≤ 80 MB)")
    sandbox_calls = sandbox.request_counts()["total"]
    print(f"  platform calls while idle: {sandbox_calls}")


if __name__ == "__main__":
    main()
