"""The idle daemon with 1,000 future posts queued: resident memory and CPU.

    .venv/bin/python bench/bench_idle.py [--posts 1000] [--seconds 60]

Writes N approved posts (both channels) due 60+ days ahead, so nothing is due and
nothing is handed to Facebook's scheduler; runs ``social-publisher init`` (as an office
does once), then the real daemon (``python -m social_publisher run``, default
TICK_SECONDS=30) against an in-process sandbox, twice: the first start (which ingests
every folder and plans every publication) and a restart on the same database (what an
office PC does after every reboot). Each time it waits for the first pass, then samples
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
from collections.abc import Mapping
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


def sample(pid: int, seconds: float) -> tuple[float, float, float]:
    """(resident MB at the end, peak MB, CPU % of one core) of ``pid`` over ``seconds``."""
    peak = rss_mb(pid)
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    while time.monotonic() - t0 < seconds:
        time.sleep(1)
        peak = max(peak, rss_mb(pid))
    cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0) * 100
    return rss_mb(pid), peak, cpu


def daemon_env(work: Path, sandbox: Sandbox, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of a daemon on ``work``'s SQLite file and queue, against ``sandbox``."""
    return {
        **base,
        **sandbox.env(),
        "DATABASE_URL": f"sqlite:///{work / 'sp.db'}",
        "QUEUE_DIR": str(work / "queue"),
        "LOG_DIR": str(work / "logs"),
        "MEDIA_CACHE_DIR": str(work / "cache"),
        "TIMEZONE": "Asia/Ho_Chi_Minh",
    }


def write_queue(queue: Path, posts: int) -> None:
    due = datetime.now(UTC) + timedelta(days=60)
    for i in range(posts):
        folder = queue / f"bai-{i:04d}"
        folder.mkdir(parents=True)
        (folder / "bai-viet.txt").write_text(
            f"Tiêu đề: Bài chờ đăng số {i:04d}\n"
            f"Thời gian đăng: {(due + timedelta(minutes=i)).isoformat(timespec='seconds')}\n"
            "Kênh: facebook, zalo\nNgười duyệt: Võ Thanh Hùng\n\n"
            f"Nội dung bài số {i:04d} về chuyển đổi số.\n",
            encoding="utf-8",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    write_queue(work / "queue", args.posts)
    cli = [sys.executable, "-m", "social_publisher", "--env-file", "none.env"]
    with Sandbox() as sandbox:
        env = daemon_env(work, sandbox, os.environ)
        subprocess.run([*cli, "init"], env=env, cwd=work, check=True, capture_output=True)
        print(f"idle daemon (`social-publisher run`), {args.posts} future posts queued, TICK 30 s")
        measure(args, sandbox, env, work, cli, "first start: ingests every folder, plans")
        measure(args, sandbox, env, work, cli, "restart (the usual case after a reboot)")


def measure(
    args: argparse.Namespace,
    sandbox: Sandbox,
    env: dict[str, str],
    work: Path,
    cli: list[str],
    name: str,
) -> None:
    calls_before = sandbox.request_counts()["total"]
    started = time.monotonic()
    proc = subprocess.Popen(
        [*cli, "run"], env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
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
        rss_end, rss_peak, cpu = sample(proc.pid, args.seconds)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    calls = sandbox.request_counts()["total"] - calls_before
    print(f"  {name}:")
    print(
        f"    ready after {first_pass:.1f} s; CPU over {args.seconds:.0f} s idle: {cpu:.2f} % "
        "of one core (goal ≤ 2 %)"
    )
    print(
        f"    resident memory: {rss_end:.1f} MB at the end, {rss_peak:.1f} MB peak (goal ≤ 80 MB)"
    )
    print(f"    platform calls while idle: {calls}")


if __name__ == "__main__":
    main()
