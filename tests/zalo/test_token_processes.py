"""Real processes refreshing the Zalo token against the sandbox: the newest token is never lost.

Each worker is a separate Python process (``token_worker.py``) talking to the sandbox
over a real socket and to the same database: SQLite (file lock) and PostgreSQL
(advisory lock, ``pg_db``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from social_publisher.channels.zalo import ZaloOAuthClient
from social_publisher.errors import AuthError
from social_publisher.services.zalo_tokens import DbTokenStore
from social_publisher.store import ChannelHealth, Database, PlatformToken
from social_publisher.store.tenancy import unit_key

from .conftest import SandboxRig

WORKER = Path(__file__).with_name("token_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def search_path(db: Database) -> str | None:
    if db.dialect != "postgresql":
        return None
    with db.engine.connect() as conn:
        return str(conn.execute(text("SELECT current_schema()")).scalar_one())


def spawn(rig: SandboxRig, db: Database, mode: str, iterations: int = 1) -> subprocess.Popen[str]:
    config = {
        "env": {**rig.env, "DATABASE_URL": db.url},
        "search_path": search_path(db),
        "mode": mode,
        "iterations": iterations,
    }
    return subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def ready(*procs: subprocess.Popen[str]) -> list[subprocess.Popen[str]]:
    """Wait until every worker has started (imports done), so they race for real."""
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line == "ready", proc.stderr.read() if proc.stderr else line
    return list(procs)


def start(rig: SandboxRig, db: Database, mode: str) -> subprocess.Popen[str]:
    return ready(spawn(rig, db, mode))[0]


def go(*procs: subprocess.Popen[str]) -> list[tuple[int, str, str]]:
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        results.append((proc.returncode, out, err))
    return results


def stored(db: Database) -> PlatformToken:
    with db.session() as session:
        row = session.scalars(select(PlatformToken)).one()
        session.expunge(row)
        return row


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def seeded_store(rig: SandboxRig, db: Database) -> DbTokenStore:
    store = DbTokenStore(db, rig.settings, ZaloOAuthClient(rig.settings), rig.clock)
    store.set_pair(rig.env["ZALO_ACCESS_TOKEN"], rig.env["ZALO_REFRESH_TOKEN"])
    return store


def check_race(rig: SandboxRig, db: Database) -> None:
    seeded_store(rig, db)
    workers = ready(*(spawn(rig, db, "refresh", iterations=3) for _ in range(2)))
    results = go(*workers)
    for code, _, err in results:
        assert code == 0, err
        assert "sandbox-zalo" not in err  # no token in any log line

    zalo = rig.zalo.state()
    # Exactly one refresh per stale token, none refused: nobody ever sent a spent token.
    used = [r["used_generation"] for r in zalo["refreshes"]]
    assert zalo["refreshes_refused"] == 0
    assert sorted(used) == list(range(len(used)))
    assert 3 <= len(used) <= 6
    # The database holds the newest pair, and every worker ended on a token of it.
    row = stored(db)
    assert row.refresh_token == rig.zalo.refresh_token
    assert row.generation == 1 + len(used)
    assert row.refresh_started_at is None
    finals = {json.loads(out.strip().splitlines()[-1])["access_sha256"] for _, out, _ in results}
    assert sha(row.access_token) in finals


SLOW_TOKENS = [{"zalo_token_delay": 0.05}]


@pytest.mark.parametrize("sandbox_rig", SLOW_TOKENS, indirect=True)
def test_processes_refreshing_at_once_never_lose_the_token_sqlite(sandbox_rig: SandboxRig) -> None:
    check_race(sandbox_rig, sandbox_rig.db)


@pytest.mark.postgres
@pytest.mark.parametrize("sandbox_rig", SLOW_TOKENS, indirect=True)
def test_processes_refreshing_at_once_never_lose_the_token_postgres(
    sandbox_rig: SandboxRig, pg_db: Database
) -> None:
    check_race(sandbox_rig, pg_db)


def check_crash_after_answer(
    rig: SandboxRig, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    store = seeded_store(rig, db)
    [(code, _, _)] = go(start(rig, db, "crash-after-answer"))
    assert code == 17
    # Zalo rotated (its answer died with the process); the database still has the old pair
    # and the evidence of the refresh in flight.
    assert rig.zalo.state()["refreshes_ok"] == 1
    row = stored(db)
    assert row.refresh_token == "sandbox-zalo-refresh-0" and row.refresh_started_at is not None

    with caplog.at_level(logging.ERROR), pytest.raises(AuthError) as caught:
        store.recover_interrupted()
    assert "MẤT TOKEN ZALO" in caught.value.message and "zalo token set" in caught.value.message
    assert any(
        r.levelno == logging.ERROR and "MẤT TOKEN ZALO" in r.getMessage() for r in caplog.records
    )
    with db.session() as session:
        health = session.get(ChannelHealth, unit_key(session, "zalo"))
        assert health is not None and health.state == "auth_failed"
        assert health.reason and "cấp lại quyền" in health.reason
    # Exactly one retry with the stored token, refused: the loss is real and reported.
    assert rig.zalo.state()["refreshes_refused"] == 1
    assert stored(db).refresh_started_at is None


def test_crash_after_the_answer_is_reported_loudly_sqlite(
    sandbox_rig: SandboxRig, caplog: pytest.LogCaptureFixture
) -> None:
    check_crash_after_answer(sandbox_rig, sandbox_rig.db, caplog)


@pytest.mark.postgres
def test_crash_after_the_answer_is_reported_loudly_postgres(
    sandbox_rig: SandboxRig, pg_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    check_crash_after_answer(sandbox_rig, pg_db, caplog)


def test_crash_before_the_call_is_recovered_quietly(
    sandbox_rig: SandboxRig, caplog: pytest.LogCaptureFixture
) -> None:
    db = sandbox_rig.db
    store = seeded_store(sandbox_rig, db)
    [(code, _, _)] = go(start(sandbox_rig, db, "crash-before-call"))
    assert code == 17
    assert stored(db).refresh_started_at is not None
    assert sandbox_rig.zalo.state()["refreshes"] == []
    with caplog.at_level(logging.WARNING):
        assert store.recover_interrupted() is True
    assert "recovered" in caplog.text
    row = stored(db)
    assert row.refresh_token == sandbox_rig.zalo.refresh_token and row.refresh_started_at is None
    assert store.recover_interrupted() is False
    state: dict[str, Any] = sandbox_rig.zalo.state()
    assert (state["refreshes_ok"], state["refreshes_refused"]) == (1, 0)
