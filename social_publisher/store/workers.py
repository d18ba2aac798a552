"""The worker registry and the database's locks: who is alive, and what runs once.

Every daemon writes one ``workers`` row for its life (host, pid, start, heartbeat).
On PostgreSQL it also holds a *session-level* advisory lock keyed on the row's id,
on a connection of its own: the server releases it the moment that session ends,
whether the process exited, was SIGKILLed, or its host lost power. So a claim
whose worker's lock is free belongs to a dead worker, and is taken over at once
instead of after its lease (:func:`dead_holders`). Two guards keep that safe:

- a lock must also have been free with no heartbeat for ``grace`` seconds: a
  worker whose own connection was cut (``pg_terminate_backend``, a server restart)
  takes its lock again within a second or two and keeps its claims;
- a worker that just (re)connected takes over nobody's claims for ``grace``
  seconds (the others may be reconnecting at the same moment).

Times the workers compare are the server's own (``now()`` in UTC), so hosts with
skewed clocks agree. SQLite has one daemon per file (the file lock in
``services.daemon``): it registers for the operator view only.

:func:`cluster_lock` is the named, try-once advisory lock for work that must run
once in the whole cluster (docs/deployment.md lists who uses it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from .db import Database
from .models import Meta, Publication, Worker
from .tenancy import INSTALL, install_options, unit_of

#: the two-key advisory lock space of this schema's workers: (namespace, worker id)
NAMESPACE = "(hashtext('social-publisher:' || current_schema()) & 2147483647)"
#: the server's time, as the naive UTC the columns store
SERVER_NOW = "timezone('utc', now())"
_DATABASE = "(SELECT oid FROM pg_database WHERE datname = current_database())"
_HELD = (
    "SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
    f"AND l.database = {_DATABASE} AND l.objsubid = 2 "
    f"AND l.classid::bigint = {NAMESPACE} AND l.objid::bigint = workers.id"
)


def _now(dialect: str) -> Any:
    """The time to write: the server's on PostgreSQL, this machine's on SQLite."""
    if dialect == "postgresql":
        return func.timezone("utc", func.now())
    return datetime.now(UTC)


def server_now(session: Session) -> datetime:
    """The database's clock (UTC); the local clock on SQLite."""
    if session.get_bind().dialect.name != "postgresql":
        return datetime.now(UTC)
    value = session.execute(text(f"SELECT {SERVER_NOW}")).scalar_one()
    return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]


def _held() -> Any:
    """SQL (PostgreSQL): the worker row's advisory lock is held by some session."""
    return literal_column(f"EXISTS ({_HELD})", Boolean)


def register(conn: Connection, name: str, host: str, pid: int) -> int:
    """Write the worker's row and (PostgreSQL) take its lock, in one commit; its id.

    Others see the row only once it is committed, and by then the lock is held: a
    worker is never seen without its lock.
    """
    dialect = conn.dialect.name
    now = _now(dialect)
    worker_id = conn.execute(
        insert(Worker)
        .values(name=name, host=host[:200], pid=pid, started_at=now, heartbeat_at=now)
        .returning(Worker.id)
    ).scalar_one()
    if dialect == "postgresql":
        conn.execute(text(f"SELECT pg_advisory_lock({NAMESPACE}, :id)"), {"id": worker_id})
    conn.commit()
    return int(worker_id)


def relock(conn: Connection, worker_id: int) -> bool:
    """After a reconnection: take the worker's lock again (False: some session still has it,
    or the row was closed meanwhile)."""
    stopped = conn.execute(
        select(Worker.stopped_at, Worker.id).where(Worker.id == worker_id)
    ).first()
    if stopped is None or stopped[0] is not None:
        conn.rollback()
        return False
    got = conn.execute(
        text(f"SELECT pg_try_advisory_lock({NAMESPACE}, :id)"), {"id": worker_id}
    ).scalar_one()
    conn.commit()
    return bool(got)


def heartbeat(conn: Connection, worker_id: int) -> None:
    """Say "still here" (the server's time on PostgreSQL)."""
    conn.execute(
        update(Worker).where(Worker.id == worker_id).values(heartbeat_at=_now(conn.dialect.name))
    )
    conn.commit()


def close(conn: Connection, worker_id: int) -> None:
    """A worker leaves (a graceful stop, or an identity given up): its claims are free now."""
    conn.execute(
        update(Worker).where(Worker.id == worker_id).values(stopped_at=_now(conn.dialect.name))
    )
    conn.commit()
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SELECT pg_advisory_unlock({NAMESPACE}, :id)"), {"id": worker_id})
        conn.commit()


def dead_holders(conn: Connection, grace: timedelta) -> list[str]:
    """Names of the workers that are gone but still hold claims (PostgreSQL only).

    Gone: stopped, or lock free and no heartbeat for ``grace``. Claims carrying a name
    that is not in the registry at all (an older release's daemon) are left to their
    lease.
    """
    if conn.dialect.name != "postgresql":
        return []
    stale = Worker.heartbeat_at < func.timezone("utc", func.now()) - func.make_interval(
        0, 0, 0, 0, 0, 0, grace.total_seconds()
    )
    query = select(Worker.name).where(
        exists().where(Publication.claimed_by == Worker.name),
        or_(Worker.stopped_at.is_not(None), and_(stale, ~_held())),
    )
    return list(conn.scalars(query))


def renew_leases(
    conn: Connection, name: str, leases: Mapping[int, datetime], until: datetime
) -> dict[int, datetime]:
    """Extend the claims ``name`` holds on ``leases`` (id → the lease it knows) to ``until``.

    Conditional on the lease being the one the worker knows: a lease the publishing code
    changed meanwhile (a verify to poll soon) is left as it is. Returns the renewed ones.
    """
    renewed: dict[int, datetime] = {}
    for pub_id, known in leases.items():
        result = conn.execute(
            update(Publication)
            .where(
                Publication.id == pub_id,
                Publication.claimed_by == name,
                Publication.lease_until == known,
            )
            .values(lease_until=until)
        )
        if result.rowcount == 1:
            renewed[pub_id] = until
    conn.commit()
    return renewed


def prune(conn: Connection, older_than: timedelta) -> int:
    """Forget workers gone for longer than ``older_than`` that hold nothing."""
    gone: Any = Worker.stopped_at.is_not(None)
    if conn.dialect.name == "postgresql":
        gone = or_(gone, ~_held())
    cutoff = datetime.now(UTC) - older_than
    result = conn.execute(
        delete(Worker).where(
            gone,
            Worker.heartbeat_at < cutoff,
            ~exists().where(Publication.claimed_by == Worker.name),
        )
    )
    conn.commit()
    return int(result.rowcount or 0)


# ------------------------------------------------------------------ the operator view


@dataclass(frozen=True)
class WorkerView:
    """One registered worker as ``status`` shows it."""

    name: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    alive: bool
    #: (publication id, channel, state, lease until) of the claims it holds
    claims: tuple[tuple[int, str, str, datetime | None], ...]


def list_workers(db: Database, *, stale_after: timedelta) -> tuple[datetime, list[WorkerView]]:
    """The database's time and every registered worker, newest first.

    Alive on PostgreSQL: its lock is held. On SQLite: not stopped and a heartbeat within
    ``stale_after``.
    """
    postgres = db.dialect == "postgresql"
    with db.session() as session:
        now = server_now(session)
        held = _held() if postgres else literal(False)
        rows = session.execute(
            select(Worker, held.label("held")).order_by(Worker.started_at.desc(), Worker.id.desc())
        ).all()
        claims: dict[str, list[tuple[int, str, str, datetime | None]]] = {}
        for pub_id, channel, state, holder, lease in session.execute(
            select(
                Publication.id,
                Publication.channel,
                Publication.state,
                Publication.claimed_by,
                Publication.lease_until,
            )
            .where(Publication.claimed_by.is_not(None))
            .order_by(Publication.id)
        ):
            claims.setdefault(holder or "", []).append((pub_id, channel, state, lease))
    views = []
    for worker, lock_held in rows:
        if postgres:
            alive = bool(lock_held) and worker.stopped_at is None
        else:
            alive = worker.stopped_at is None and now - worker.heartbeat_at <= stale_after
        views.append(
            WorkerView(
                name=worker.name,
                host=worker.host,
                pid=worker.pid,
                started_at=worker.started_at,
                heartbeat_at=worker.heartbeat_at,
                stopped_at=worker.stopped_at,
                alive=alive,
                claims=tuple(claims.get(worker.name, ())),
            )
        )
    return now, views


# ------------------------------------------------------------------ once in the cluster


@contextmanager
def cluster_lock(db: Database, name: str) -> Iterator[bool]:
    """Try once to hold the cluster-wide lock ``name``; yields whether this process has it.

    PostgreSQL: a session-level advisory lock (one bigint key per schema and name) on a
    connection of its own, released on exit or when the process dies. SQLite: always
    True (one daemon per file; its CLI commands guard themselves with file locks).
    """
    if db.dialect != "postgresql":
        yield True
        return
    if db.unit is not None:  # a unit's job (its scan, its report) locks that unit only
        name = f"{db.unit}:{name}"
    key = "hashtextextended('social-publisher:' || current_schema() || ':' || :name, 0)"
    with db.engine.connect() as conn:
        got = bool(
            conn.execute(text(f"SELECT pg_try_advisory_lock({key})"), {"name": name}).scalar()
        )
        conn.commit()
        try:
            yield got
        finally:
            if got:
                try:
                    conn.execute(text(f"SELECT pg_advisory_unlock({key})"), {"name": name})
                    conn.commit()
                except Exception:  # the session is gone: so is its lock
                    conn.invalidate()


@contextmanager
def once_in_cluster(db: Database, key: str) -> Iterator[bool]:
    """Run the body once in the whole cluster for ``key`` (a month's report): yields False
    when another process holds it now or has already done it.

    :func:`cluster_lock` plus a ``meta`` row written after the body succeeded: a body that
    failed is tried again by whoever comes next.
    """
    marker = f"once:{key}"
    with cluster_lock(db, key) as got:
        if got:
            with db.session() as session:
                where = (unit_of(session) or INSTALL, marker)
                got = session.get(Meta, where, execution_options=install_options()) is None
        if not got:
            yield False
            return
        yield True
        with db.session() as session:
            done = {"at": datetime.now(UTC).isoformat()}
            session.merge(Meta(unit_id=unit_of(session) or INSTALL, key=marker, value=done))
