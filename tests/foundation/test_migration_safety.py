"""Migrations are atomic and serialised; a half-made database is repaired by ``init``.

Real processes on a real SQLite file and on PostgreSQL (a schema of its own): ``init``
SIGKILLed right after ``CREATE TABLE agencies``, then ``init``, ``status`` and
``run --once``; several processes starting together on an empty database; the database an
older release left half made (tables, no ``alembic_version`` row); a PostgreSQL connection
terminated while a command starts.
"""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import make_url

from social_publisher.cli import main
from social_publisher.errors import StoreError
from social_publisher.store import Database
from social_publisher.store.db import SCHEMA_HEAD

WORKER = Path(__file__).with_name("migration_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def child_env(tmp_path: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FB_", "ZALO_", "DATABASE"))}
    env.update(
        {
            "DATABASE_URL": url,
            "QUEUE_DIR": str(tmp_path / "queue"),
            "LOG_DIR": str(tmp_path / "logs"),
            "MEDIA_CACHE_DIR": str(tmp_path / "cache"),
            "REPORT_DIR": str(tmp_path / "reports"),
            "AGENCIES_FILE": str(tmp_path / "agencies.csv"),
            "TIMEZONE": "Asia/Ho_Chi_Minh",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def cli(tmp_path: Path, url: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "social_publisher", "--env-file", str(tmp_path / "t.env"), *argv],
        cwd=tmp_path,
        env=child_env(tmp_path, url),
        capture_output=True,
        text=True,
        timeout=120,
    )


def worker(
    tmp_path: Path, url: str, mode: str, marker: Path, *argv: str, go: Path | None = None
) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(WORKER), mode, str(marker)]
    if go is not None:
        cmd.append(str(go))
    cmd += ["--", "--env-file", str(tmp_path / "t.env"), *argv]
    return subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=child_env(tmp_path, url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def pg_schema_url(pg_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose connections use a fresh, empty schema."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def kill_after_first_table(tmp_path: Path, url: str) -> None:
    marker = tmp_path / "first-table"
    proc = worker(tmp_path, url, "pause", marker, "init")
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "init never reached CREATE TABLE agencies"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.communicate()


def assert_usable_after(tmp_path: Path, url: str) -> None:
    """``init``, ``status`` and ``run --once`` all work after the kill, with no traceback."""
    for argv in (["init"], ["status"], ["run", "--once"]):
        done = cli(tmp_path, url, *argv)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr and "already exists" not in done.stderr
    db = Database(url)
    try:
        assert db.current_revision() == SCHEMA_HEAD
    finally:
        db.dispose()


@pytest.mark.slow
def test_kill_during_the_first_migration_leaves_a_usable_sqlite_file(tmp_path: Path) -> None:
    db_file = tmp_path / "data" / "sp.db"
    url = f"sqlite:///{db_file}"
    kill_after_first_table(tmp_path, url)
    with sqlite3.connect(db_file) as conn:  # nothing of the killed migration was kept
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert tables == []
    assert_usable_after(tmp_path, url)


@pytest.mark.slow
@pytest.mark.postgres
def test_kill_during_the_first_migration_on_postgresql(tmp_path: Path, pg_schema_url: str) -> None:
    kill_after_first_table(tmp_path, pg_schema_url)
    engine = create_engine(pg_schema_url)
    try:
        with engine.connect() as conn:
            assert inspect(conn).get_table_names() == []
    finally:
        engine.dispose()
    assert_usable_after(tmp_path, pg_schema_url)


def start_together(tmp_path: Path, url: str, count: int = 4) -> list[tuple[int, str]]:
    go = tmp_path / "go"
    procs = [
        worker(tmp_path, url, "slow", tmp_path / f"m{i}", "status", go=go) for i in range(count)
    ]
    time.sleep(1.5)  # every child has imported the package and waits for the signal
    go.write_text("go", encoding="utf-8")
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, out + err))
    return results


@pytest.mark.slow
def test_processes_starting_together_on_an_empty_sqlite_file(tmp_path: Path) -> None:
    results = start_together(tmp_path, f"sqlite:///{tmp_path / 'data' / 'sp.db'}")
    assert [code for code, _ in results] == [0, 0, 0, 0], results
    assert not any("already exists" in text or "Lỗi" in text for _, text in results), results


@pytest.mark.slow
@pytest.mark.postgres
def test_processes_starting_together_on_an_empty_postgresql_schema(
    tmp_path: Path, pg_schema_url: str
) -> None:
    results = start_together(tmp_path, pg_schema_url)
    assert [code for code, _ in results] == [0, 0, 0, 0], results
    assert not any("pg_type" in text or "Lỗi" in text for _, text in results), results


# ---------------------------------------------------------------- a half-made database


def run(argv: list[str], tmp_path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--env-file", str(tmp_path / "none.env"), *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def office(tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """Settings in os.environ for in-process commands; returns DATABASE_URL."""
    for key in list(os.environ):
        if key.startswith(("FB_", "ZALO_", "DATABASE")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    Path(env["QUEUE_DIR"]).mkdir(parents=True, exist_ok=True)
    (tmp_path / "none.env").write_text("", encoding="utf-8")
    return env["DATABASE_URL"]


def half_made(url: str, *, drop: tuple[str, ...] = (), agency: bool = False) -> None:
    """What an older release left: the 0001 tables (some of them), no version row."""
    db = Database(url)
    try:
        db.upgrade("0001")
        with db.engine.begin() as conn:
            for table in drop:
                conn.execute(text(f'DROP TABLE "{table}"'))
            if agency:
                conn.execute(
                    text(
                        'INSERT INTO agencies (id, name, "group", active, updated_at) '
                        "VALUES ('pho-hoa', 'UBND phường Phổ Hòa', 'xa-phuong', true, "
                        "'2026-11-01 00:00:00')"
                    )
                )
            conn.execute(text("DELETE FROM alembic_version"))
    finally:
        db.dispose()


def test_every_command_but_init_points_at_init(office: str, tmp_path: Path) -> None:
    half_made(office, drop=("shares", "scan_cache"))
    code, _, err = run(["status"], tmp_path)
    assert code == 1
    assert "được tạo dở dang" in err and "social-publisher init" in err
    assert "already exists" not in err and "Lỗi ngoài dự kiến" not in err


def test_init_rebuilds_a_half_made_database_that_holds_nothing(office: str, tmp_path: Path) -> None:
    half_made(office, drop=("shares", "scan_cache", "audit_log"))
    code, out, err = run(["init"], tmp_path)
    assert code == 0, err
    assert "được tạo dở dang từ lần khởi tạo trước" in out and "đã tạo lại từ đầu" in out
    assert run(["status"], tmp_path)[0] == 0
    assert run(["run", "--once"], tmp_path)[0] == 0
    db = Database(office)
    try:
        assert db.current_revision() == SCHEMA_HEAD
        with db.engine.connect() as conn:
            assert "shares" in inspect(conn).get_table_names()
    finally:
        db.dispose()


def test_init_stamps_a_whole_0001_schema_that_holds_data(office: str, tmp_path: Path) -> None:
    half_made(office, agency=True)
    code, out, err = run(["init"], tmp_path)
    assert code == 0, err
    assert "đã ghi nhận là phiên bản 0001 và nâng cấp tiếp" in out
    db = Database(office)
    try:
        assert db.current_revision() == SCHEMA_HEAD
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM agencies")).scalar() == "UBND phường Phổ Hòa"
            columns = {c["name"] for c in inspect(conn).get_columns("posts")}
        assert "folder_changed_at" in columns  # upgraded past 0001
    finally:
        db.dispose()


def test_init_refuses_a_partial_schema_that_holds_data(office: str, tmp_path: Path) -> None:
    half_made(office, drop=("shares",), agency=True)
    code, _, err = run(["init"], tmp_path)
    assert code == 1
    assert "thiếu bảng shares" in err and "không tự sửa được" in err
    db = Database(office)
    try:  # untouched: the agency row is still there
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM agencies")).scalar() == 1
    finally:
        db.dispose()


@pytest.mark.postgres
def test_init_rebuilds_a_half_made_postgresql_schema(
    pg_schema_url: str, tmp_path: Path, office: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_schema_url)
    half_made(pg_schema_url, drop=("shares",))
    assert "social-publisher init" in run(["status"], tmp_path)[2]
    code, out, err = run(["init"], tmp_path)
    assert code == 0, err
    assert "đã tạo lại từ đầu" in out
    assert run(["status"], tmp_path)[0] == 0


# ---------------------------------------------------------------- PostgreSQL drops a connection


@pytest.mark.postgres
def test_a_connection_terminated_while_starting_is_opened_again(pg_schema_url: str) -> None:
    admin = create_engine(pg_schema_url)
    db = Database(pg_schema_url)
    terminated: list[int] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def terminate_once(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if not terminated:
            pid = conn.connection.dbapi_connection.info.backend_pid
            terminated.append(pid)
            with admin.begin() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    slept: list[float] = []
    try:
        db.ensure_current(sleep=slept.append)
        assert terminated and slept  # it was cut, waited, and connected again
        assert db.current_revision() == SCHEMA_HEAD
    finally:
        db.dispose()
        admin.dispose()


def test_a_database_that_stays_unreachable_is_a_vietnamese_error(tmp_path: Path) -> None:
    db = Database("postgresql+psycopg://postgres@127.0.0.1:9/test?connect_timeout=2")
    try:
        with pytest.raises(StoreError) as caught:
            db.ensure_current(sleep=lambda s: None)
    finally:
        db.dispose()
    assert "Không kết nối được PostgreSQL 127.0.0.1:9/test" in caught.value.message
    assert "DATABASE_URL" in caught.value.message
