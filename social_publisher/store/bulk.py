"""The bulk writes ingest needs, per dialect: scan-cache rows and post → version pointers.

A cold scan of thousands of folders writes thousands of rows: one executemany
on SQLite's raw connection, ``INSERT ... ON CONFLICT`` batches on PostgreSQL.
The rows' meaning (what a signature is, what the result holds) is the queue's;
this module only moves them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, Text, bindparam, delete, select, type_coerce, update
from sqlalchemy.orm import Session

from ..errors import StoreError
from .models import Post, ScanCache
from .tenancy import unit_of

#: keys per ``IN (...)`` list and rows per batch
IN_BATCH = 500
_POSTS = cast(Table, Post.__table__)


class ScanRow(NamedTuple):
    """One ``scan_cache`` row; ``result`` is its JSON text as read (decoded only if used)."""

    folder: str
    signature: str
    content_hash: str | None
    result: dict[str, Any] | str


def read_scan_rows(
    session: Session, *, prefix: str | None = None, keys: Sequence[str] | None = None
) -> Iterator[ScanRow]:
    """The rows whose folder starts with ``prefix``, or those of ``keys``."""
    # Core, not ORM, and the JSON left as text: the scanner decodes only what it uses.
    columns = select(
        ScanCache.folder,
        ScanCache.signature,
        ScanCache.content_hash,
        type_coerce(ScanCache.result, Text),
    )
    if keys is None:
        assert prefix is not None
        queries = [columns.where(ScanCache.folder.startswith(prefix, autoescape=True))]
    else:
        queries = [
            columns.where(ScanCache.folder.in_(keys[start : start + IN_BATCH]))
            for start in range(0, len(keys), IN_BATCH)
        ]
    connection = session.connection()
    for query in queries:
        for folder, signature, digest, result in connection.execute(query).all():
            yield ScanRow(folder, signature, digest, result or {})


def scan_folders(session: Session, prefix: str) -> Iterable[str]:
    """Every folder key stored under ``prefix``."""
    return session.scalars(
        select(ScanCache.folder).where(ScanCache.folder.startswith(prefix, autoescape=True))
    )


def delete_scan_rows(session: Session, keys: Iterable[str]) -> None:
    gone = sorted(keys)
    for start in range(0, len(gone), IN_BATCH):
        chunk = gone[start : start + IN_BATCH]
        session.execute(delete(ScanCache).where(ScanCache.folder.in_(chunk)))


def upsert_scan_rows(session: Session, rows: Sequence[ScanRow], now: datetime) -> None:
    """Insert or replace ``rows`` (in the order given: the scan's, sorted by folder)."""
    if not rows:
        return
    unit = unit_of(session)
    if unit is None:
        raise StoreError("internal: scan rows written install-wide name no unit")
    if session.get_bind().dialect.name == "sqlite":
        _upsert_sqlite(session, unit, rows, now)
    else:
        _upsert_postgresql(session, unit, rows, now)


def _upsert_sqlite(session: Session, unit: str, rows: Sequence[ScanRow], now: datetime) -> None:
    """One executemany on the raw connection: a cold scan writes thousands of rows.

    SQLite has one writer, so no lock order to keep, and the folder index is filled in
    order.
    """
    stamp = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # UTCDateTime's format
    params = [
        (unit, row.folder, row.signature, row.content_hash, _json_text(row.result), stamp)
        for row in rows
    ]
    session.connection().exec_driver_sql(
        "INSERT INTO scan_cache (unit_id, folder, signature, content_hash, result, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (folder) DO UPDATE SET unit_id = excluded.unit_id, "
        "signature = excluded.signature, content_hash = excluded.content_hash, "
        "result = excluded.result, updated_at = excluded.updated_at",
        params,
    )


def _json_text(result: dict[str, Any] | str) -> str:
    return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)


def _upsert_postgresql(session: Session, unit: str, rows: Sequence[ScanRow], now: datetime) -> None:
    params = [
        {
            "unit_id": unit,
            "folder": row.folder,
            "signature": row.signature,
            "content_hash": row.content_hash,
            "result": json.loads(row.result) if isinstance(row.result, str) else row.result,
            "updated_at": now,
        }
        for row in sorted(rows)  # one lock order for concurrent writers
    ]
    # imported here: an SQLite office never loads the PostgreSQL dialect (2 MB of an idle
    # daemon's memory)
    from sqlalchemy.dialects.postgresql import insert

    statement = insert(ScanCache)
    statement = statement.on_conflict_do_update(
        index_elements=[ScanCache.folder],
        set_={
            "unit_id": statement.excluded.unit_id,
            "signature": statement.excluded.signature,
            "content_hash": statement.excluded.content_hash,
            "result": statement.excluded.result,
            "updated_at": statement.excluded.updated_at,
        },
    )
    for start in range(0, len(params), IN_BATCH):
        session.execute(statement, params[start : start + IN_BATCH])


def point_posts_at_versions(
    session: Session, pointers: Iterable[tuple[int, int]], now: datetime
) -> None:
    """Set each post's ``current_version_id`` (and ``updated_at``) in one UPDATE.

    By ids, not through the ORM relationships: those would tie each post and its
    versions into a reference cycle that outlives the session until a full garbage
    collection, and a first ingest makes thousands. ``updated_at`` is set here: left
    out, its ``onupdate`` would put the wall clock there instead of ``now``.
    """
    session.execute(
        update(_POSTS)
        .where(_POSTS.c.id == bindparam("post"))
        .values(current_version_id=bindparam("version"), updated_at=bindparam("at")),
        [{"post": post, "version": version, "at": now} for post, version in pointers],
    )
