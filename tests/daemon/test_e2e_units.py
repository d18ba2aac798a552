"""End to end on PostgreSQL: five units, each with its own sandbox Page and OA, served by
three daemon processes from one install, with faults on and SIGKILLs at seeded moments.

Every post ends exactly once on its own unit's Page and OA, and nothing of one unit ever
reaches another unit's Page or OA (each unit's posts carry its id in their body).
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
    wait_all_live,
    wait_registered,
    write_posts,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres]

UNITS = 5
POSTS = 6  # per unit
WORKERS = 3
KILLS = 6
AFTER_LAST_RESTART = 90.0
#: the settings a unit names by variable (its secrets) rather than writes in the file
SECRETS = ("FB_PAGE_ACCESS_TOKEN", "FB_APP_SECRET", "ZALO_APP_SECRET", "ZALO_REFRESH_TOKEN",
           "ZALO_ACCESS_TOKEN")  # fmt: skip


def _unit_id(n: int) -> str:
    return f"phuong-{n}"


def _mark(folder: Path, unit: str) -> None:
    """Sign every post of ``unit``: a post found on another unit's Page would say whose."""
    for text in folder.glob("*/bai-viet.txt"):
        body = text.read_text(encoding="utf-8")
        text.write_text(body.rstrip("\n") + f" (đơn vị {unit})\n", encoding="utf-8")


def _units_file(tmp: Path, sandboxes: list[Sandbox]) -> tuple[Path, dict[str, str]]:
    tables, secrets = [], {}
    for n, sandbox in enumerate(sandboxes):
        unit = _unit_id(n)
        lines = ["[[don_vi]]", f'id = "{unit}"', f'name = "UBND phường số {n}"',
                 f'QUEUE_DIR = "{tmp / "queue" / unit}"']  # fmt: skip
        for key, value in sandbox.env().items():
            if key in SECRETS:
                variable = f"U{n}_{key}"
                secrets[variable] = value
                lines.append(f'{key}_ENV = "{variable}"')
            elif key != "FB_GRAPH_VERSION":
                lines.append(f'{key} = "{value}"')
        tables.append("\n".join(lines))
    path = tmp / "units.toml"
    path.write_text("\n\n".join(tables) + "\n", encoding="utf-8")
    return path, secrets


def _kill_order(rng: random.Random) -> list[int]:
    order = [slot for slot in range(WORKERS) for _ in range(2)]
    rng.shuffle(order)
    return order[:KILLS]


def test_five_units_three_workers_sigkilled_each_post_once_on_its_own_page(
    tmp_path: Path, pg_url: str
) -> None:
    seed = int(os.environ.get("E2E_SEED", "20261203"))
    rng = random.Random(seed)
    sandboxes = []
    for n in range(UNITS):
        public = tmp_path / "public" / str(n)
        public.mkdir(parents=True)
        sandbox = Sandbox(
            faults=FAULTS,
            seed=(seed + n) % 1000,
            public_dir=public,
            zalo_processing_seconds=2.0,
            graph_page_id=f"10000000000010{n}",
            graph_page_name=f"UBND phường số {n}",
            graph_page_token=f"sandbox-fb-page-token-unit-{n}-0123456789",
            zalo_app_id=f"sandbox-zalo-app-{n}",
        )
        sandbox.start("127.0.0.1", 0)
        sandboxes.append(sandbox)
    due = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) - timedelta(minutes=1)
    for n in range(UNITS):
        queue = tmp_path / "queue" / _unit_id(n)
        write_posts(queue, due, POSTS)
        _mark(queue, _unit_id(n))
    units_file, secrets = _units_file(tmp_path, sandboxes)
    with pg_schema(pg_url) as url:
        db = Database(url).everywhere()
        db.upgrade()
        env = daemon_env(tmp_path, sandboxes[0], url, UNITS_FILE=str(units_file), **secrets)
        for key in (*SECRETS, "FB_PAGE_ID", "ZALO_APP_ID"):
            env.pop(key, None)  # nothing of unit 0's leaks into the install's own settings
        workers = Workers(tmp_path, env)
        try:
            for slot in range(WORKERS):
                workers.start(slot)
            for slot in _kill_order(rng):
                time.sleep(rng.uniform(1.0, 3.5))
                workers.kill(slot)
                workers.start(slot)
            last_restart = time.monotonic()
            expected = 2 * POSTS * UNITS
            finished = wait_all_live(db, expected, last_restart + AFTER_LAST_RESTART)
            assert finished is not None, (seed, not_live(db), workers.stderr()[-3000:])
            assert wait_registered(db, WORKERS, time.monotonic() + 30) == WORKERS
            assert workers.wait_serving(time.monotonic() + 30)
            assert workers.stop_all() == [0] * WORKERS
            for n, sandbox in enumerate(sandboxes):
                exactly_once(sandbox, POSTS)  # each of its posts once, nothing more
                state = sandbox.state()
                messages = [p["message"] or "" for p in state["graph"]["posts"] if p["published"]]
                assert all(f"(đơn vị {_unit_id(n)})" in m for m in messages), (n, messages)
            fired = sum(sum(s.faults.fired.values()) for s in sandboxes)
            assert fired > 10, fired
            print(f"seed {seed}: all live {finished - last_restart:.1f} s after the last restart")
        finally:
            workers.kill_all()
            db.dispose()
            for sandbox in sandboxes:
                sandbox.stop()
