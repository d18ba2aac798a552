"""Many units on PostgreSQL: a province-wide campaign, and what 100 idle units cost.

    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/bench_units.py [--units 100] [--posts 10] [--latency 0.1]

Every unit has its own sandbox Page (and OA with ``--zalo``), each request waiting
``--latency`` seconds (a platform round trip), no faults. Workers are real
``social-publisher run`` processes over one units file.

1. Campaign: ``--units`` x ``--posts`` posts due in the same minute (written a minute
   ahead, as staff prepare a campaign), served by 1 worker and by 4 workers: p50 and p95
   of due -> live (``published_at - due_at``). Goal: p95 <= 60 s with 4 workers. The naive
   approach is measured too: one worker serving the units one after another
   (``UNIT_THREADS=1``).
2. Idle: one worker over the 100 units, everything live, against one worker over one unit
   with the same posts per unit: CPU per tick, resident memory, SQL statements per tick.
   Goal: an idle tick of 100 units under 10x the cost of one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "daemon"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_idle import cpu_seconds, rss_mb  # noqa: E402
from bench_workers import CountingWorkers  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from workers_harness import daemon_env, pg_schema, wait_all_live  # noqa: E402

from social_publisher.sandbox import Sandbox  # noqa: E402
from social_publisher.store import Attempt, Database, Publication  # noqa: E402

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SECRETS = ("FB_PAGE_ACCESS_TOKEN", "FB_APP_SECRET", "ZALO_APP_SECRET", "ZALO_REFRESH_TOKEN",
           "ZALO_ACCESS_TOKEN")  # fmt: skip


def write_unit_posts(queue: Path, unit: str, due: datetime, count: int, zalo: bool) -> None:
    for i in range(count):
        folder = queue / f"bai-{i:03d}"
        folder.mkdir(parents=True)
        (folder / "bai-viet.txt").write_text(
            f"Tiêu đề: Chiến dịch chuyển đổi số, bài {i:03d} của {unit}\n"
            f"Thời gian đăng: {due:%d/%m/%Y %H:%M}\n"
            f"Kênh: {'facebook, zalo' if zalo else 'facebook'}\n"
            "Người duyệt: Võ Thanh Hùng\n\n"
            f"Nội dung bài {i:03d} của {unit}: người dân dùng dịch vụ công trực tuyến.\n",
            encoding="utf-8",
        )


@contextmanager
def province(
    url: str, units: int, posts: int, latency: float, zalo: bool, due: datetime, **extra: str
) -> Iterator[tuple[Path, Database, dict[str, str], list[Sandbox]]]:
    """A schema, ``units`` sandboxes and units, ``posts`` posts each due at ``due``."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        schema_url = stack.enter_context(pg_schema(url))
        sandboxes, tables, secrets = [], [], {}
        for n in range(units):
            unit = f"don-vi-{n:03d}"
            sandbox = Sandbox(
                graph_page_id=f"1000000000{n:05d}",
                graph_page_token=f"sandbox-fb-page-token-{n:05d}-0123456789",
                zalo_app_id=f"sandbox-zalo-app-{n}",
                zalo_processing_seconds=0.0,
            )
            sandbox.latency = latency
            sandbox.start("127.0.0.1", 0)
            stack.callback(sandbox.stop)
            sandboxes.append(sandbox)
            lines = ["[[don_vi]]", f'id = "{unit}"', f'name = "Đơn vị {n:03d}"']
            for key, value in sandbox.env().items():
                if key in SECRETS:
                    secrets[f"U{n}_{key}"] = value
                    lines.append(f'{key}_ENV = "U{n}_{key}"')
                elif key != "FB_GRAPH_VERSION" and (zalo or not key.startswith("ZALO_")):
                    lines.append(f'{key} = "{value}"')
            tables.append("\n".join(lines))
            write_unit_posts(tmp / "queue" / unit, unit, due, posts, zalo)
        (tmp / "units.toml").write_text("\n\n".join(tables) + "\n", encoding="utf-8")
        db = Database(schema_url).everywhere()
        stack.callback(db.dispose)
        db.upgrade()
        env = daemon_env(
            tmp, sandboxes[0], schema_url, UNITS_FILE=str(tmp / "units.toml"),
            QUEUE_SETTLE_SECONDS="0", **secrets, **extra,
        )  # fmt: skip
        for key in (*SECRETS, "FB_PAGE_ID", "ZALO_APP_ID"):
            env.pop(key, None)
        yield tmp, db, env, sandboxes


def campaign(args: argparse.Namespace, url: str, workers: int, threads: int) -> dict[str, float]:
    due = (datetime.now(TZ) + timedelta(seconds=90)).replace(second=0, microsecond=0)
    if due - datetime.now(TZ) < timedelta(seconds=45):
        due += timedelta(minutes=1)  # time enough to scan and plan before it is due
    expected = args.units * args.posts * (2 if args.zalo else 1)
    with province(url, args.units, args.posts, args.latency, args.zalo, due,
                  UNIT_THREADS=str(threads)) as (tmp, db, env, _):  # fmt: skip
        pool = CountingWorkers(tmp, env)
        try:
            for slot in range(workers):
                pool.start(slot)
            done = wait_all_live(db, expected, time.monotonic() + 1800)
            assert done is not None, "not everything went live"
            with db.session() as s:
                # when our create call came back (the platform's own times are whole seconds)
                rows = s.execute(
                    select(Publication.due_at, func.min(Attempt.finished_at))
                    .join(Attempt, Attempt.publication_id == Publication.id)
                    .where(Attempt.outcome.in_(("ok", "adopted")))
                    .group_by(Publication.id, Publication.due_at)
                ).all()
                assert len(rows) == expected, (len(rows), expected)
            pool.stop_all()
        finally:
            pool.kill_all()
    delays = sorted((live - due_at).total_seconds() for due_at, live in rows)
    return {
        "p50": statistics.median(delays),
        "p95": delays[max(0, int(len(delays) * 0.95) - 1)],
        "max": delays[-1],
    }


def idle(args: argparse.Namespace, url: str, units: int, seconds: float) -> dict[str, float]:
    """(CPU % of a core, resident MB, SQL statements) per tick of one idle worker."""
    due = datetime.now(TZ) - timedelta(minutes=1)
    expected = units * args.posts
    with province(url, units, args.posts, 0.0, False, due, TICK_SECONDS="1") as (
        tmp, db, env, _,
    ):  # fmt: skip
        pool = CountingWorkers(tmp, env)
        try:
            proc = pool.start(0)
            assert wait_all_live(db, expected, time.monotonic() + 900) is not None
            time.sleep(8)  # the last confirmations and the passes that look once more
            counts = pool.outputs / "queries-0-1.txt"
            before = _statements(proc.pid, counts)
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - t0
            cpu = cpu_seconds(proc.pid) - cpu0
            rss = rss_mb(proc.pid)
            after = _statements(proc.pid, counts)
            pool.stop_all()
        finally:
            pool.kill_all()
    ticks = elapsed / 1.0
    return {"cpu_ms": cpu / ticks * 1000, "rss": rss, "queries": (after - before) / ticks}


def _statements(pid: int, path: Path) -> int:
    """The worker's statements so far: it writes its count on SIGUSR1 (the launcher)."""
    import signal

    os.kill(pid, signal.SIGUSR1)
    for _ in range(50):
        time.sleep(0.05)
        if path.exists() and path.read_text().strip():
            value = int(path.read_text())
            path.unlink()
            return value
    raise RuntimeError("the worker did not report its statements")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--posts", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--zalo", action="store_true", help="posts go to the OA too")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--idle-only", action="store_true", help="measure the idle tick only")
    args = parser.parse_args()
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        print("Set TEST_DATABASE_URL to a PostgreSQL database (the bench makes its own schemas).")
        return 2
    if not args.idle_only:
        campaigns(args, url)
    print(f"== idle: one worker, everything live, {args.idle_seconds:.0f} s of 1 s ticks")
    one = idle(args, url, 1, args.idle_seconds)
    many = idle(args, url, args.units, args.idle_seconds)
    for label, r in (("1 unit", one), (f"{args.units} units", many)):
        print(f"{label}: {r['cpu_ms']:.1f} ms CPU per tick, {r['queries']:.1f} SQL statements "
              f"per tick, {r['rss']:.1f} MB resident")  # fmt: skip
    ratio = many["cpu_ms"] / max(one["cpu_ms"], 0.1)
    queries = many["queries"] / max(one["queries"], 0.1)
    memory = many["rss"] / one["rss"]
    print(f"{args.units} units / 1 unit (goal < 10x): CPU {ratio:.1f}x "
          f"{'ok' if ratio < 10 else 'MISSED'}, statements {queries:.1f}x "
          f"{'ok' if queries < 10 else 'MISSED'}, memory {memory:.2f}x "
          f"{'ok' if memory < 10 else 'MISSED'}")  # fmt: skip
    return 0


def campaigns(args: argparse.Namespace, url: str) -> None:
    channels = "Facebook + Zalo" if args.zalo else "Facebook"
    print(f"== campaign: {args.units} units x {args.posts} posts due in the same minute, "
          f"{channels}, {args.latency * 1000:.0f} ms per call")  # fmt: skip
    runs = [("4 workers", 4, 4), ("1 worker", 1, 4)]
    if not args.skip_naive:
        runs.append(("naive: 1 worker, units one after another (UNIT_THREADS=1)", 1, 1))
    figures = {}
    for label, workers, threads in runs:
        r = campaign(args, url, workers, threads)
        figures[label] = r
        print(f"{label}: due -> live p50 {r['p50']:.1f} s, p95 {r['p95']:.1f} s, "
              f"max {r['max']:.1f} s")  # fmt: skip
    p95 = figures["4 workers"]["p95"]
    print(f"p95 with 4 workers {p95:.1f} s (goal <= 60 s): {'ok' if p95 <= 60 else 'MISSED'}")


if __name__ == "__main__":
    raise SystemExit(main())
