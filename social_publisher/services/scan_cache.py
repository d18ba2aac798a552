"""The ``scan_cache`` table behind the queue's :class:`~social_publisher.queue.ScanCache`.

Ingest (and ``check``) hand this to the scanner: an unchanged folder is answered
from its cached record instead of being read again. The rows are moved by
:mod:`social_publisher.store.bulk`; this class keeps what is loaded and what changed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ..queue import CachedScan
from ..store import Database
from ..store.bulk import (
    ScanRow,
    delete_scan_rows,
    read_scan_rows,
    scan_folders,
    upsert_scan_rows,
)

log = logging.getLogger("social_publisher.ingest")

#: scan cache rows committed together while a big scan runs (see ``write_during_scan``)
WRITE_BATCH = 500


class DbScanCache:
    """The ``scan_cache`` table behind the queue's :class:`ScanCache` protocol.

    The rows of one queue root are read in one query (or those of a part of the
    queue: ingest works through it in parts) and written back in one batch, so a
    warm scan of thousands of folders costs two round trips.
    """

    def __init__(self, root: Path) -> None:
        self.prefix = f"{root.as_posix()}/"
        self.entries: dict[str, CachedScan] = {}
        #: keys to write, in the order they were put (the scan's: sorted)
        self.dirty: dict[str, None] = {}
        self.deleted: set[str] = set()
        self._writer: tuple[Database, datetime] | None = None

    def write_during_scan(self, db: Database, now: datetime) -> None:
        """Commit rows in batches of :data:`WRITE_BATCH` as the scan puts them.

        A cold scan shares its folders between processes, but writing thousands of
        rows at the end would be done by this process alone while the others wait;
        written as the scan goes, the work is shared too. Each batch is its own short
        transaction: the database is never locked for the length of a scan. A batch
        that fails (a busy database) stops this; :meth:`flush` then writes the rest.
        """
        self._writer = (db, now)

    def load(self, session: Session, keys: Sequence[str] | None = None) -> DbScanCache:
        """Read this root's rows, or only those of ``keys``."""
        for row in read_scan_rows(session, prefix=self.prefix, keys=keys):
            self.entries[row.folder] = CachedScan(row.signature, row.content_hash, row.result)
        return self

    def get(self, key: str) -> CachedScan | None:
        return self.entries.get(key)

    def put(self, key: str, entry: CachedScan) -> None:
        self.entries[key] = entry
        self.dirty[key] = None
        self.deleted.discard(key)
        if self._writer is not None and len(self.dirty) >= WRITE_BATCH:
            db, now = self._writer
            try:
                with db.session() as session:
                    self.flush(session, now)
                self.saved()
            except (IntegrityError, OperationalError) as exc:
                log.warning("scan cache not saved during the scan: %s", type(exc).__name__)
                self._writer = None

    def delete(self, key: str) -> None:
        if self.entries.pop(key, None) is not None:
            self.deleted.add(key)
        self.dirty.pop(key, None)

    def prune(self, present: Iterable[str]) -> None:
        """Forget folders of this root that are no longer in the queue."""
        for key in set(self.entries) - set(present):
            self.delete(key)

    def prune_stored(self, session: Session, present: set[str]) -> None:
        """Like :meth:`prune`, for rows that were not loaded: asks the table for the keys."""
        stored = scan_folders(session, self.prefix)
        self.deleted.update(key for key in stored if key not in present)

    def stop_writing(self) -> None:
        self._writer = None

    def forget(self) -> None:
        """Drop the rows held (after :meth:`saved`): ingest holds one part at a time."""
        self.entries.clear()

    def flush(self, session: Session, now: datetime) -> None:
        """Write the changes in ``session``; call :meth:`saved` once it is committed (a
        transaction that fails and is tried again writes them again)."""
        delete_scan_rows(session, self.deleted)
        entries = self.entries
        rows = [
            ScanRow(key, entries[key].signature, entries[key].content_hash, entries[key].result)
            for key in self.dirty  # in the order the scan put them (sorted by folder)
        ]
        upsert_scan_rows(session, rows, now)

    def saved(self) -> None:
        """The changes are committed: nothing is left to write."""
        self.dirty.clear()
        self.deleted.clear()
