"""Fixtures every test area shares: settings on temp paths, a migrated SQLite DB, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from social_publisher.config import Settings, load_settings
from social_publisher.store import Database


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment on temp paths, with both channels off."""
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'sp.db'}",
        "QUEUE_DIR": str(tmp_path / "queue"),
        "LOG_DIR": str(tmp_path / "logs"),
        "MEDIA_CACHE_DIR": str(tmp_path / "cache"),
        "REPORT_DIR": str(tmp_path / "reports"),
        "AGENCIES_FILE": str(tmp_path / "agencies.csv"),
        "TIMEZONE": "Asia/Ho_Chi_Minh",
    }


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return load_settings(env, dotenv_path=None)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def pg_url() -> str:
    """PostgreSQL URL for tests that need it; skips visibly when unset."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL tests skipped")
    return url


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    """A PostgreSQL database in a schema of its own, so parallel runs never collide."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Database(pg_url)
    with admin.engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    database = Database(pg_url, connect_args={"options": f"-c search_path={schema}"})
    database.upgrade()
    yield database
    database.dispose()
    with admin.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()
