"""Migrations and models on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from social_publisher.store import (
    Attempt,
    AuditEvent,
    Database,
    Post,
    PostVersion,
    Publication,
    PubState,
)
from social_publisher.store.db import alembic_config

EXPECTED_TABLES = {
    "posts",
    "post_versions",
    "publications",
    "attempts",
    "engagement_snapshots",
    "agencies",
    "shares",
    "platform_tokens",
    "web_accounts",
    "approvals",
    "console_writes",
    "channel_health",
    "meta",
    "audit_log",
    "scan_cache",
    "alerts",
    "alert_deliveries",
    "workers",
    "alembic_version",
}


def _roundtrip(database: Database) -> None:
    local = timezone(timedelta(hours=7))
    due = datetime(2024, 10, 10, 7, 30, tzinfo=local)
    with database.session() as s:
        post = Post(folder="ngay-cds", title="Ngày Chuyển đổi số", publish_at=due)
        s.add(post)
        s.flush()
        version = PostVersion(
            post_id=post.id,
            content_hash="a" * 64,
            source_file="bai-viet.txt",
            title="Ngày Chuyển đổi số",
            body="Nội dung",
            publish_at=due,
            channels=["facebook", "zalo"],
            images=[{"name": "anh.jpg", "sha256": "b" * 64, "bytes": 10}],
        )
        s.add(version)
        s.flush()
        post.current_version_id = version.id
        pub = Publication(post_id=post.id, channel="facebook", version_id=version.id, due_at=due)
        s.add(pub)
        s.flush()
        s.add(Attempt(publication_id=pub.id, action="create", worker="w1"))
        s.add(AuditEvent(actor="test", event="ingest", post_id=post.id, details={"k": "v"}))
    with database.session() as s:
        post = s.scalars(select(Post)).one()
        assert post.publish_at == due
        assert post.publish_at.tzinfo is not None and post.publish_at.utcoffset() == timedelta(0)
        assert post.current_version is not None
        assert post.current_version.images[0]["name"] == "anh.jpg"
        pub = s.scalars(select(Publication)).one()
        assert pub.state == PubState.PENDING
        assert pub.attempts[0].outcome is None
        s.add(Publication(post_id=post.id, channel="facebook"))
        with pytest.raises(IntegrityError):
            s.flush()
        s.rollback()


def test_sqlite_migrates_from_empty_with_pragmas(db: Database) -> None:
    assert set(inspect(db.engine).get_table_names()) == EXPECTED_TABLES
    assert db.is_current()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000
    _roundtrip(db)


def test_naive_datetime_is_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive"), db.session() as s:
        s.add(Post(folder="x", publish_at=datetime(2024, 1, 1)))
        s.flush()


def test_older_database_is_upgraded_in_place(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from alembic import command

    database = Database(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(database.engine), "head")
    with database.session() as s:
        s.add(Post(folder="giu-lai", title="Dữ liệu cũ"))
    command.downgrade(alembic_config(database.engine), "base")
    assert database.current_revision() is None
    database.ensure_current()
    assert database.is_current()
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM posts")).scalar() == 0


def test_utc_roundtrip_keeps_instant(db: Database) -> None:
    instant = datetime(2024, 11, 19, 23, 30, tzinfo=UTC)
    with db.session() as s:
        s.add(Post(folder="utc", publish_at=instant))
    with db.session() as s:
        assert s.scalars(select(Post.publish_at)).one() == instant


@pytest.mark.postgres
def test_postgres_migrates_and_roundtrips(pg_db: Database) -> None:
    assert set(inspect(pg_db.engine).get_table_names()) == EXPECTED_TABLES
    assert pg_db.is_current()
    _roundtrip(pg_db)


def test_schema_head_constant_is_alembics_head(db: Database) -> None:
    from social_publisher.store.db import SCHEMA_HEAD

    assert db.head_revision() == SCHEMA_HEAD
    assert db.current_revision() == SCHEMA_HEAD
