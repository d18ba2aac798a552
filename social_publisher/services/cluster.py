"""One daemon as a member of the cluster: registered, alive by its lock, back after a lost link.

:class:`ClusterMember` is what ``run`` wraps around the daemon. It registers the
worker (``store.workers``), holds the worker's advisory lock on a connection of its
own and beats every ``WORKER_TAKEOVER_SECONDS / 4`` on it. Each beat also:

- renews the lease of a claim whose platform call has run for half a lease (a long
  video upload is not taken for a dead worker's);
- reads which workers are gone but still hold claims, hands that list to the
  publisher (their claims are free to take) and wakes the daemon when it grows, so a
  dead worker's posts go out seconds after it died, not at the next tick;
- now and then forgets long-gone workers that hold nothing.

When the link to the database breaks (a server restart, ``pg_terminate_backend``),
the member logs it in Vietnamese, *fences* the publisher (no new claim while cut
off), reconnects with backoff and takes its lock again. Cut off for longer than
the takeover grace, the others may have taken its claims: it then leaves that
identity and registers a new one, but only once its in-flight call is over. A pass
that lost its connection mid-way (:meth:`ClusterMember.renew_identity`) does the
same, so the claims it left half done are reconciled at once, by anyone.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from ..config import Settings
from ..store import Database
from ..store import workers as registry
from ..store.db import database_place

if TYPE_CHECKING:
    from .fleet import Crew
    from .publisher import Publisher

log = logging.getLogger("social_publisher.cluster")

#: reconnection waits: 0.5 s, doubling, at most this long
MAX_BACKOFF = 8.0
#: forget workers gone (and holding nothing) this long ago
FORGET_AFTER = timedelta(days=1)


def new_name() -> str:
    """Unique per process and incarnation: host, pid and a random suffix (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ClusterMember:
    """The worker's registration, lock and heartbeat for the life of a daemon."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        publisher: Publisher | Crew,
        *,
        wake: Callable[[], None] | None = None,
        name: str | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.publisher = publisher
        self.wake = wake
        self.postgres = db.dialect == "postgresql"
        self.grace = timedelta(seconds=settings.worker_takeover_seconds)
        # SQLite: one daemon per file, the beat only feeds the operator view
        self.interval = max(0.25, settings.worker_takeover_seconds / 4) if self.postgres else 30.0
        self.name = name or publisher.worker
        self.worker_id: int | None = None
        self._conn: Connection | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._dead: tuple[str, ...] = ()
        self._connected_at = time.monotonic()
        self._last_beat = time.monotonic()
        self._beats = 0
        #: times this worker left an identity (lost link, or a pass that lost it)
        self.renewals = 0

    # ------------------------------------------------------------ lifecycle

    def start(self) -> ClusterMember:
        """Register (and lock), then beat in the background."""
        with self._lock:
            self._conn = self.db.engine.connect()
            if not self.postgres:
                self._close_others()  # one daemon per SQLite file: any other row is a dead one
            self.worker_id = registry.register(
                self._conn, self.name, socket.gethostname(), os.getpid()
            )
            self._connected_at = self._last_beat = time.monotonic()
        self.publisher.worker = self.name
        self.publisher.liveness = self.dead_workers
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """A graceful stop: the row says so, the lock is given back."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            if self._conn is not None and self.worker_id is not None:
                try:
                    registry.close(self._conn, self.worker_id)
                except SQLAlchemyError:
                    log.warning("could not record the worker's stop (the lock dies with it)")
            self._drop()
        self.publisher.liveness = None

    def __enter__(self) -> ClusterMember:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ what the publisher asks

    def dead_workers(self) -> Collection[str]:
        """Workers gone that still hold claims; none while this one has just (re)connected."""
        if time.monotonic() - self._connected_at < self.grace.total_seconds():
            return ()
        return self._dead

    def renew_identity(self) -> None:
        """Leave this identity for a new one (a pass lost its connection mid-way).

        Called between passes, with nothing in flight: the claims the old identity left
        half done are free at once (a stopped worker's), reconciled like a dead one's.
        """
        with self._lock:
            old, old_id = self.name, self.worker_id
            self._drop()
            self._conn = self.db.engine.connect()
            self.name = new_name()
            self.worker_id = registry.register(
                self._conn, self.name, socket.gethostname(), os.getpid()
            )
            if old_id is not None:
                registry.close(self._conn, old_id)
            self._connected_at = self._last_beat = time.monotonic()
            self.publisher.worker = self.name
            self.renewals += 1
        log.info(
            "Đã kết nối lại cơ sở dữ liệu với danh tính mới %s: việc dở dang của %s được "
            "đối soát ngay.",
            self.name,
            old,
        )

    # ------------------------------------------------------------ the heartbeat

    def _run(self) -> None:
        delay = 0.5
        cut_off_since: float | None = None
        while not self._stopping.wait(self.interval if cut_off_since is None else delay):
            try:
                with self._lock:
                    if self._conn is None:
                        self._reconnect(cut_off_since)
                    self._beat()
                if cut_off_since is not None:
                    log.info("Đã kết nối lại cơ sở dữ liệu %s: tiếp tục làm việc.", self._place)
                cut_off_since, delay = None, 0.5
                self.publisher.fenced.clear()
            except SQLAlchemyError as exc:
                with self._lock:
                    self._drop(invalidate=True)
                self.publisher.fenced.set()
                if cut_off_since is None:
                    cut_off_since = time.monotonic()
                    log.warning(
                        "Mất kết nối tới cơ sở dữ liệu %s (%s): tạm ngừng nhận việc mới, thử "
                        "kết nối lại sau %.1f giây.",
                        self._place,
                        type(getattr(exc, "orig", None) or exc).__name__,
                        delay,
                    )
                elif not isinstance(exc, _StillInFlight):
                    log.info("Chưa kết nối lại được cơ sở dữ liệu; thử lại sau %.1f giây.", delay)
                delay = min(delay * 2, MAX_BACKOFF)
            except Exception:
                log.exception("unexpected error in the worker heartbeat")

    @property
    def _place(self) -> str:
        return database_place(self.db.url)

    def _reconnect(self, cut_off_since: float | None) -> None:
        """A new connection; the same identity if its lock is still ours to take again."""
        conn = self.db.engine.connect()
        self._conn = conn
        assert self.worker_id is not None
        away = time.monotonic() - (cut_off_since or time.monotonic())
        in_time = away + self.interval < self.grace.total_seconds()
        if self.postgres and in_time and registry.relock(conn, self.worker_id):
            self._connected_at = time.monotonic()
            return
        if self.publisher.in_flight:
            # A call of the old identity still runs: leave it only once that call is over.
            raise _StillInFlight()
        old, old_id = self.name, self.worker_id
        self.name = new_name()
        self.worker_id = registry.register(conn, self.name, socket.gethostname(), os.getpid())
        registry.close(conn, old_id)
        self.publisher.worker = self.name
        self._connected_at = time.monotonic()
        self.renewals += 1
        log.warning(
            "Mất kết nối lâu hơn %d giây: tiến trình nhận danh tính mới %s, việc dở dang của %s "
            "được đối soát lại.",
            int(self.grace.total_seconds()),
            self.name,
            old,
        )

    def _beat(self) -> None:
        conn, worker_id = self._conn, self.worker_id
        assert conn is not None and worker_id is not None
        registry.heartbeat(conn, worker_id)
        self._last_beat = time.monotonic()
        self._beats += 1
        if self.postgres:
            self._renew_leases(conn)
            dead = tuple(registry.dead_holders(conn, self.grace))
            conn.commit()
            grew = bool(set(dead) - set(self._dead))
            self._dead = dead
            if grew and self.dead_workers():
                self.publisher.takeover_due.set()
                if self.wake is not None:
                    self.wake()
        if self._beats % 200 == 1:
            registry.prune(conn, FORGET_AFTER)

    def _renew_leases(self, conn: Connection) -> None:
        """Keep the claims whose call has run for half a lease (the lease is the fallback)."""
        lease = self.publisher.lease
        now = datetime.now(UTC)
        due = {
            pub_id: known
            for pub_id, known in dict(self.publisher.in_flight).items()
            if known - now < lease / 2
        }
        if not due:
            return
        renewed = registry.renew_leases(conn, self.name, due, now + lease)
        for pub_id, until in renewed.items():
            if pub_id in self.publisher.in_flight:
                self.publisher.in_flight[pub_id] = until

    def _close_others(self) -> None:
        assert self._conn is not None
        from sqlalchemy import update

        from ..store import Worker

        self._conn.execute(
            update(Worker).where(Worker.stopped_at.is_(None)).values(stopped_at=datetime.now(UTC))
        )
        self._conn.commit()

    def _drop(self, *, invalidate: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if invalidate:
                conn.invalidate()
            conn.close()
        except Exception:  # already gone
            pass


class _StillInFlight(SQLAlchemyError):
    """Reconnected, but the old identity's call still runs: try again at the next beat."""
