"""Every state change in the package: one ``transition()``, the claims, the audit record.

The table of allowed moves is :mod:`social_publisher.states` (docs/architecture.md
draws it). A move happens here and nowhere else, so that:

- an illegal move raises :class:`~social_publisher.states.IllegalTransition`
  before anything is written (a bug must not become a wrong record);
- the audit row is written in the caller's transaction, beside the change;
- a publication that changes state gives its claim back (the work the claim
  covered is over);
- every *listener* (:func:`add_listener`) is called inside that same transaction
  with the :class:`Change`, so a later feature (an alert outbox row, a worker
  registry) is written atomically with the move without touching any caller.

Claims are the one move that is a conditional ``UPDATE`` checked by row count:
two workers never hold the same publication, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ..states import (
    HEALTH_MOVES,
    POST_MOVES,
    PUBLICATION_MOVES,
    HealthState,
    IllegalTransition,
    PostState,
    PubState,
    allowed,
)
from .models import AuditEvent, ChannelHealth, Post, Publication
from .tenancy import unit_key

Kind = Literal["publication", "post", "channel"]


@dataclass(frozen=True)
class Change:
    """One move, as listeners see it (``before`` None: the row is new)."""

    kind: Kind
    entity: Publication | Post | ChannelHealth
    before: str | None
    after: str
    actor: str
    at: datetime
    reason: str | None = None


Listener = Callable[[Session, Change], None]
_listeners: list[Listener] = []


def add_listener(listener: Listener) -> Callable[[], None]:
    """Call ``listener(session, change)`` inside the transaction of every move from now on.

    Returns the function that removes it again. A listener that raises rolls the
    move back with the rest of the transaction: it must only write rows.
    """
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


def _notify(session: Session, change: Change) -> None:
    for listener in list(_listeners):
        listener(session, change)


def audit(
    session: Session,
    actor: str,
    event: str,
    pub: Publication | None = None,
    *,
    post_id: int | None = None,
    at: datetime,
    **details: Any,
) -> None:
    """One audit row; transitions carry ``from``/``to`` in their details."""
    if "from_" in details:
        details["from"] = details.pop("from_")
    session.add(
        AuditEvent(
            at=at,
            actor=actor,
            event=event,
            post_id=pub.post_id if pub is not None else post_id,
            publication_id=pub.id if pub is not None else None,
            details=details,
        )
    )


def _refuse(kind: Kind, key: object, before: str | None, after: str) -> IllegalTransition:
    return IllegalTransition(f"{kind} {key}: {before} -> {after} is not in the transition table")


# ------------------------------------------------------------------ transition


def transition(
    session: Session,
    entity: Publication | Post,
    to: PubState | PostState,
    *,
    actor: str,
    at: datetime,
    reason: str | None = None,
    record: bool = True,
    **details: Any,
) -> bool:
    """Move a publication or a post to ``to``; True when its state changed.

    A publication's move writes a ``transition`` audit row (``from``, ``to``,
    ``reason`` and ``details``) and frees its claim; ``needs_attention`` stores
    ``reason`` as the attention reason, and leaving it clears it. A post's move
    is recorded by the caller's own event when ``record`` is False (ingest writes
    ``post_edited``/``post_removed`` with the old and new state). The two state sets share
    no value, so a post state given for a publication (or the reverse) raises ValueError.
    """
    move = _Move(actor, at, reason, record, details)
    if isinstance(entity, Publication):
        return _move_publication(session, entity, PubState(to), move)
    return _move_post(session, entity, PostState(to), move)


@dataclass(frozen=True)
class _Move:
    """Who moves it, when, why; whether the move writes its own audit row."""

    actor: str
    at: datetime
    reason: str | None
    record: bool
    details: dict[str, Any]


def _recorded(
    session: Session,
    kind: Kind,
    entity: Publication | Post | ChannelHealth,
    before: str | None,
    after: str,
    move: _Move,
    event: str,
    **where: Any,
) -> bool:
    """The audit row (unless the caller records the move itself), then the listeners."""
    if move.record:
        why: dict[str, Any] = {"reason": move.reason} if move.reason else {}
        audit(session, move.actor, event, at=move.at, from_=before, to=after, **where, **why)
    _notify(session, Change(kind, entity, before, after, move.actor, move.at, move.reason))
    return True


def _move_publication(session: Session, pub: Publication, to: PubState, move: _Move) -> bool:
    before = PubState(pub.state) if pub.state is not None else None
    if before != to and not allowed(PUBLICATION_MOVES, before, to):
        raise _refuse("publication", pub.id, before, to)
    pub.state = to.value
    if to == PubState.NEEDS_ATTENTION:
        pub.attention_reason = move.reason
    elif before == PubState.NEEDS_ATTENTION:
        pub.attention_reason = None
    if before == to:
        return False
    release(pub)
    return _recorded(
        session, "publication", pub, before, to.value, move, "transition", pub=pub, **move.details
    )


def _move_post(session: Session, post: Post, to: PostState, move: _Move) -> bool:
    before = PostState(post.state) if post.state is not None else None
    if before == to:
        return False
    if not allowed(POST_MOVES, before, to):
        raise _refuse("post", post.id, before, to)
    post.state = to.value
    return _recorded(
        session, "post", post, before, to.value, move, "post_state", post_id=post.id, **move.details
    )


def set_health(
    session: Session,
    channel: str,
    to: HealthState,
    *,
    actor: str,
    at: datetime,
    reason: str | None = None,
    until: datetime | None = None,
    **details: Any,
) -> bool:
    """Set a channel's health (a ``channel_health`` audit row); True unless it stayed ``ok``.

    A blocked state set again is a renewal (new ``until`` and reason): it is recorded,
    and listeners see ``before == after``.
    """
    health = session.get(ChannelHealth, unit_key(session, channel))
    if health is None:
        if to == HealthState.OK:
            return False  # no row means ok: nothing to record
        health = ChannelHealth(channel=channel, state=HealthState.OK.value)
        session.add(health)
    before = HealthState(health.state) if health.state is not None else None
    if before == to == HealthState.OK:
        return False
    if not allowed(HEALTH_MOVES, before, to):
        raise _refuse("channel", channel, before, to)
    health.state = to.value
    health.blocked_until = until
    health.reason = reason
    health.updated_at = at
    move = _Move(actor, at, reason, True, details)
    when = until.isoformat() if until else None
    return _recorded(
        session, "channel", health, before, to.value, move, "channel_health",
        channel=channel, until=when, **details,
    )  # fmt: skip


def health_of(session: Session, channel: str) -> HealthState:
    """The channel's health now (no row yet: ``ok``)."""
    row = session.get(ChannelHealth, unit_key(session, channel))
    return HealthState(row.state) if row is not None and row.state else HealthState.OK


# ------------------------------------------------------------------ claims and leases


def claim_is_free(
    now: datetime, *, worker: str, take_over: bool = False, dead: Collection[str] = ()
) -> ColumnElement[bool]:
    """SQL: the publication's claim may be taken now.

    Free when no lease runs, or when a worker in ``dead`` holds it (the registry,
    ``store.workers``, found it gone); with ``take_over`` (the single SQLite daemon, for
    which any claim not its own is a dead worker's) also when another worker holds it.
    """
    free = or_(Publication.lease_until.is_(None), Publication.lease_until < now)
    if dead:
        free = or_(free, Publication.claimed_by.in_(list(dead)))
    if take_over:
        free = or_(free, Publication.claimed_by.is_(None), Publication.claimed_by != worker)
    return free


def claim(
    session: Session,
    pub: Publication,
    *,
    from_: Collection[PubState],
    to: PubState | None,
    worker: str,
    now: datetime,
    lease: timedelta,
    take_over: bool = False,
    dead: Collection[str] = (),
) -> bool:
    """Take ``pub`` for ``worker`` until ``now + lease``, moving it to ``to`` (None: stay).

    One conditional ``UPDATE`` checked by its row count, so it works the same on
    SQLite and PostgreSQL; the loaded ``pub`` is brought in line without a reload.
    A move is recorded and heard like any other.
    """
    if to is not None:
        for state in from_:
            if state != to and not allowed(PUBLICATION_MOVES, state, to):
                raise _refuse("publication", pub.id, state, to)
    values: dict[str, Any] = {
        "claimed_by": worker,
        "lease_until": now + lease,
        "updated_at": now,
    }
    if to is not None:
        values["state"] = to.value
    result = session.execute(
        update(Publication)
        .where(
            Publication.id == pub.id,
            Publication.state.in_([s.value for s in from_]),
            claim_is_free(now, worker=worker, take_over=take_over, dead=dead),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    before = pub.state
    for key, value in values.items():
        set_committed_value(pub, key, value)
    if to is not None and before != to.value:
        audit(session, worker, "transition", pub, at=now, from_=before, to=to.value)
        _notify(session, Change("publication", pub, before, to.value, worker, now))
    return True


def extend_lease(pub: Publication, until: datetime) -> None:
    """Keep the claim until ``until`` (a verify to poll, a reconcile to wait for)."""
    pub.lease_until = until


def release(pub: Publication) -> None:
    """Give the claim back (the publication's state is left as it is)."""
    pub.claimed_by = None
    pub.lease_until = None
