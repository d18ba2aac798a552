"""End to end on PostgreSQL: several daemon *processes* share 30+ posts on both channels,
with the sandbox's faults on, while each is SIGKILLed at seeded random moments and restarted.

Every post ends on each channel exactly once, none is missing, and all are live within
60 s of the last restart: a dead worker's claims are taken over as soon as its
advisory lock is gone, not after ``LEASE_SECONDS`` (left at its 300 s default here).
A second run terminates the workers' PostgreSQL backends mid-run instead: they
reconnect and still publish everything exactly once.
"""

from __future__ import annotations

import os
import random
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from social_publisher.sandbox import Sandbox
from social_publisher.store import Database

from .workers_harness import (
    FAULTS,
    Workers,
    daemon_env,
    exactly_once,
    not_live,
    pg_schema,
    schema_of,
    wait_all_live,
    wait_registered,
    write_posts,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres]

POSTS = 30
WORKERS = 3
KILLS = 9  # three per worker on average, every worker at least twice
AFTER_LAST_RESTART = 60.0


def _seed() -> int:
    return int(os.environ.get("E2E_SEED", "20261202"))


def _kill_order(rng: random.Random) -> list[int]:
    order = [slot for slot in range(WORKERS) for _ in range(2)]
    order += [rng.randrange(WORKERS) for _ in range(KILLS - len(order))]
    rng.shuffle(order)
    return order


def test_workers_sigkilled_exactly_once(tmp_path: Path, pg_url: str) -> None:
    seed = _seed()
    rng = random.Random(seed)
    public = tmp_path / "public"
    public.mkdir()
    sandbox = Sandbox(
        faults=FAULTS, seed=seed % 1000, public_dir=public, zalo_processing_seconds=2.0
    )
    sandbox.start("127.0.0.1", 0)
    with pg_schema(pg_url) as url:
        db = Database(url)
        db.upgrade()
        write_posts(
            tmp_path / "queue",
            datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) - timedelta(minutes=1),
            POSTS,
        )
        workers = Workers(tmp_path, daemon_env(tmp_path, sandbox, url))
        try:
            for slot in range(WORKERS):
                workers.start(slot)
            for slot in _kill_order(rng):
                time.sleep(rng.uniform(0.7, 3.0))
                workers.kill(slot)
                workers.start(slot)
            last_restart = time.monotonic()
            finished = wait_all_live(db, 2 * POSTS, last_restart + AFTER_LAST_RESTART)
            stuck = not_live(db)
            assert finished is not None, (seed, stuck)
            assert wait_registered(db, WORKERS, time.monotonic() + 30) == WORKERS
            assert workers.wait_serving(time.monotonic() + 30)
            assert workers.stop_all() == [0] * WORKERS
            exactly_once(sandbox, POSTS)
            assert sum(sandbox.faults.fired.values()) > 10, sandbox.faults.fired
            print(f"seed {seed}: all live {finished - last_restart:.1f} s after the last restart")
        finally:
            workers.kill_all()
            db.dispose()
            sandbox.stop()


def test_backends_terminated_exactly_once(tmp_path: Path, pg_url: str) -> None:
    seed = _seed()
    rng = random.Random(seed + 1)
    public = tmp_path / "public"
    public.mkdir()
    sandbox = Sandbox(
        faults=FAULTS, seed=(seed + 1) % 1000, public_dir=public, zalo_processing_seconds=2.0
    )
    sandbox.start("127.0.0.1", 0)
    with pg_schema(pg_url) as url:
        db = Database(url)
        db.upgrade()
        admin = Database(pg_url)
        write_posts(
            tmp_path / "queue",
            datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) - timedelta(minutes=1),
            POSTS,
        )
        workers = Workers(tmp_path, daemon_env(tmp_path, sandbox, url))
        schema = schema_of(url)
        terminated = 0
        try:
            for slot in range(WORKERS):
                workers.start(slot)
            for _ in range(5):
                time.sleep(rng.uniform(1.5, 4.0))
                with admin.engine.begin() as conn:
                    terminated += len(
                        conn.exec_driver_sql(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            f"WHERE application_name = '{schema}' AND pid <> pg_backend_pid()"
                        ).all()
                    )
            last = time.monotonic()
            finished = wait_all_live(db, 2 * POSTS, last + AFTER_LAST_RESTART)
            assert finished is not None, (seed, not_live(db))
            assert all(p.poll() is None for p in workers.procs.values())  # none gave up
            assert wait_registered(db, WORKERS, time.monotonic() + 30) == WORKERS
            assert workers.wait_serving(time.monotonic() + 30)
            assert workers.stop_all() == [0] * WORKERS
            exactly_once(sandbox, POSTS)
            assert terminated >= 5
            assert "Mất kết nối tới cơ sở dữ liệu" in workers.stderr()
        finally:
            workers.kill_all()
            admin.dispose()
            db.dispose()
            sandbox.stop()
