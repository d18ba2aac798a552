"""Scale-out on PostgreSQL: throughput with 1, 2 and 4 workers, queries per post, takeover.

    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/bench_workers.py [--posts 40] [--latency 0.1] [--naive-lease 60]

Each run gets a schema of its own on that database and an in-process sandbox whose every
request waits ``--latency`` seconds (a platform round trip), with no faults. The workers
are real ``python -m social_publisher run`` processes (through a small launcher that
counts the SQL statements each one executes, written out at its graceful stop).

1. Throughput: ``--posts`` posts due now on Facebook and Zalo (no photos: the figure is
   about sharing the work, not rendering), for 1, 2 and 4 workers: publications per
   minute from the first create attempt to the last publication live, and SQL
   statements per published publication (every worker's, idle heartbeats included).
   Goal: 4 workers ≥ 3× one.
2. Takeover: two workers; as soon as one holds a claim, it is SIGKILLed; the time until
   the other has taken that claim over, and until the post is live. Goal: ≤ 10 s. The
   naive approach (leases only: the registry's takeover switched off with
   ``WORKER_TAKEOVER_SECONDS=3600``) waits for the lease, ``LEASE_SECONDS`` (300 s by
   default; ``--naive-lease`` shortens it so the comparison ends in reasonable time).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "daemon"))

from sqlalchemy import func, select  # noqa: E402
from workers_harness import (  # noqa: E402
    Workers,
    daemon_env,
    exactly_once,
    pg_schema,
    wait_all_live,
    write_posts,
)

from social_publisher.sandbox import Sandbox  # noqa: E402
from social_publisher.store import Attempt, Database, Publication  # noqa: E402

LAUNCHER = """
import atexit, runpy, signal, sys
from sqlalchemy import event
from sqlalchemy.engine import Engine
count = [0]
@event.listens_for(Engine, "before_cursor_execute")
def _count(*args):
    count[0] += 1
out = sys.argv.pop(1)
def _write(*_):
    open(out, "w").write(str(count[0]))
signal.signal(signal.SIGUSR1, _write)  # the count so far, for a bench that samples it
atexit.register(_write)
sys.argv[0] = "social-publisher"
runpy.run_module("social_publisher", run_name="__main__")
"""


class CountingWorkers(Workers):
    """Workers whose SQL statements are counted (one file per start, written at exit and on
    SIGUSR1)."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        super().__init__(tmp, env)
        launcher = tmp / "launcher.py"
        launcher.write_text(LAUNCHER, encoding="utf-8")
        self.base = self.cmd
        self.launcher = launcher

    def start(self, slot: int):  # type: ignore[no-untyped-def]
        count_file = self.outputs / f"queries-{slot}-{self.starts + 1}.txt"
        self.cmd = [sys.executable, str(self.launcher), str(count_file), *self.base[3:]]
        return super().start(slot)

    def queries(self) -> int:
        return sum(int(p.read_text() or 0) for p in self.outputs.glob("queries-*.txt"))


@contextmanager
def world(
    url: str, posts: int, latency: float, extra: dict[str, str]
) -> Iterator[tuple[Path, Sandbox, Database, dict[str, str]]]:
    """A schema of its own, a sandbox with ``latency`` per call, ``posts`` posts due now, and
    the environment of a worker; all torn down after."""
    with tempfile.TemporaryDirectory() as tmp_name, pg_schema(url) as schema_url:
        tmp = Path(tmp_name)
        (tmp / "public").mkdir()
        sandbox = Sandbox(public_dir=tmp / "public", zalo_processing_seconds=0.0)
        sandbox.latency = latency
        sandbox.start("127.0.0.1", 0)
        db = Database(schema_url)
        try:
            db.upgrade()
            write_posts(
                tmp / "queue", datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) - timedelta(minutes=1),
                posts, photos=False,
            )  # fmt: skip
            yield (
                tmp,
                sandbox,
                db,
                daemon_env(tmp, sandbox, schema_url, QUEUE_SETTLE_SECONDS="0", **extra),
            )
        finally:
            db.dispose()
            sandbox.stop()


def throughput(url: str, workers: int, posts: int, latency: float) -> dict[str, float]:
    with world(url, posts, latency, {}) as (tmp, sandbox, db, env):
        pool = CountingWorkers(tmp, env)
        try:
            for slot in range(workers):
                pool.start(slot)
            done = wait_all_live(db, 2 * posts, time.monotonic() + 600)
            assert done is not None, "not everything went live"
            assert pool.wait_serving(time.monotonic() + 30)
            assert pool.stop_all() == [0] * workers
            exactly_once(sandbox, posts)
            with db.session() as s:
                first = s.scalar(select(func.min(Attempt.started_at)))
                last = s.scalar(select(func.max(Publication.published_at)))
            assert first is not None and last is not None
            seconds = (last - first).total_seconds()
            return {
                "per_minute": 2 * posts / seconds * 60,
                "seconds": seconds,
                "queries_per_post": pool.queries() / (2 * posts),
            }
        finally:
            pool.kill_all()


def takeover(url: str, latency: float, extra: dict[str, str]) -> tuple[float, float]:
    """(seconds until the killed worker's claim was taken, seconds until that post was live)."""
    with world(url, 20, latency, extra) as (tmp, sandbox, db, env):
        pool = Workers(tmp, env)
        try:
            for slot in range(2):
                pool.start(slot)
            pids = {pool.procs[slot].pid: slot for slot in range(2)}
            victim: tuple[int, str, int] | None = None
            deadline = time.monotonic() + 120
            while victim is None and time.monotonic() < deadline:
                with db.session() as s:
                    for pub_id, holder in s.execute(
                        select(Publication.id, Publication.claimed_by).where(
                            Publication.state == "publishing", Publication.claimed_by.is_not(None)
                        )
                    ):
                        pid = int(str(holder).split(":")[1])
                        if pid in pids:
                            victim = (pub_id, str(holder), pids[pid])
                            break
                time.sleep(0.02)
            assert victim is not None, "no claim seen"
            pub_id, holder, slot = victim
            pool.kill(slot)
            killed = time.monotonic()
            taken = live = None
            while time.monotonic() < killed + 900 and live is None:
                with db.session() as s:
                    pub = s.get(Publication, pub_id)
                    assert pub is not None
                    if taken is None and pub.claimed_by != holder:
                        taken = time.monotonic() - killed
                    if pub.state in ("published", "confirmed"):
                        live = time.monotonic() - killed
                        taken = taken if taken is not None else live
                time.sleep(0.05)
            assert taken is not None and live is not None
            wait_all_live(db, 40, time.monotonic() + 120)
            pool.stop_all()
            exactly_once(sandbox, 20)
            return taken, live
        finally:
            pool.kill_all()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--takeovers", type=int, default=3)
    parser.add_argument("--naive-lease", type=int, default=60)
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        print("Set TEST_DATABASE_URL to a PostgreSQL database (the bench makes its own schemas).")
        return 2

    print(f"== throughput: {args.posts} posts x 2 channels, {args.latency * 1000:.0f} ms per call")
    results = {}
    for n in (1, 2, 4):
        r = throughput(url, n, args.posts, args.latency)
        results[n] = r
        print(
            f"{n} worker(s): {r['per_minute']:7.1f} publications/min "
            f"({r['seconds']:.1f} s), {r['queries_per_post']:.1f} SQL statements per publication"
        )
    ratio = results[4]["per_minute"] / results[1]["per_minute"]
    print(f"4 workers / 1 worker: {ratio:.2f}x (goal >= 3x): {'ok' if ratio >= 3 else 'MISSED'}")

    print("== takeover after SIGKILL (2 workers)")
    runs = [takeover(url, args.latency, {}) for _ in range(args.takeovers)]
    for taken, live in runs:
        print(f"  claim taken over after {taken:.1f} s, post live after {live:.1f} s")
    median = statistics.median(t for t, _ in runs)
    print(f"median takeover {median:.1f} s (goal <= 10 s): {'ok' if median <= 10 else 'MISSED'}")
    if not args.skip_naive:
        extra = {"WORKER_TAKEOVER_SECONDS": "3600", "LEASE_SECONDS": str(args.naive_lease)}
        taken, live = takeover(url, args.latency, extra)
        print(
            f"naive (leases only, LEASE_SECONDS={args.naive_lease}): taken over after "
            f"{taken:.1f} s, live after {live:.1f} s (with the default 300 s lease: ~300 s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
