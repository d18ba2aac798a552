"""The ledger of attempts: committed before every platform call, completed after it.

An :class:`~social_publisher.store.Attempt` without an outcome is the evidence a
crash leaves; reconciliation reads it (docs/architecture.md "Exactly once").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from ...errors import ChannelError
from ...store import Attempt
from .context import PublishContext, error_kind, error_text

#: the attempts that create something on a platform (reconcile looks for what they made)
CREATE_ACTIONS = ("create", "schedule")


def start_attempt(
    ctx: PublishContext, pub_id: int, action: str, content_hash: str | None, **details: Any
) -> int:
    """Commit the attempt row (action, worker, hash, start) and return its id."""
    with ctx.db.session() as session:
        attempt = Attempt(
            publication_id=pub_id,
            action=action,
            worker=ctx.worker,
            content_hash=content_hash,
            started_at=ctx.now(),
            details=details,
        )
        session.add(attempt)
        session.flush()
        return attempt.id


def note_attempt(ctx: PublishContext, attempt_id: int, **details: Any) -> None:
    """Merge facts into an in-flight attempt and commit them (crash evidence)."""
    with ctx.db.session() as session:
        attempt = session.get(Attempt, attempt_id)
        assert attempt is not None
        attempt.details = {**(attempt.details or {}), **details}
        flag_modified(attempt, "details")


def finish_attempt(
    ctx: PublishContext,
    session: Session,
    attempt_id: int,
    outcome: str,
    *,
    remote_id: str | None = None,
    exc: BaseException | None = None,
    **details: Any,
) -> Attempt:
    """Record the outcome (in the caller's transaction, with the publication's new state)."""
    attempt = session.get(Attempt, attempt_id)
    assert attempt is not None
    attempt.outcome = outcome
    attempt.finished_at = ctx.now()
    if remote_id:
        attempt.remote_id = remote_id
    if exc is not None:
        attempt.error_kind = error_kind(exc)
        attempt.error_message = error_text(exc)
        if isinstance(exc, ChannelError):
            attempt.http_status = exc.http_status
            attempt.error_code = exc.code
            if exc.trace_id:
                details.setdefault("trace_id", exc.trace_id)
    if details:
        attempt.details = {**(attempt.details or {}), **details}
        flag_modified(attempt, "details")
    return attempt


def record_not_found(
    ctx: PublishContext,
    session: Session,
    pub_id: int,
    content_hash: str | None,
    attempt_id: int,
    since: datetime,
    now: datetime,
) -> None:
    """A settled "not on the platform" for an earlier attempt: the only licence to retry."""
    record_look(
        ctx,
        session,
        pub_id,
        "reconcile",
        content_hash,
        now,
        "not_found",
        attempt_id=attempt_id,
        since=since.isoformat(),
    )


def record_look(
    ctx: PublishContext,
    session: Session,
    pub_id: int,
    action: str,
    content_hash: str | None,
    started: datetime,
    outcome: str,
    *,
    remote_id: str | None = None,
    **details: Any,
) -> None:
    """A look on the platform that created nothing, recorded whole (started and finished)
    in the caller's transaction: ``reconcile``'s "not there", ``look_first``'s adoption."""
    session.add(
        Attempt(
            publication_id=pub_id,
            action=action,
            worker=ctx.worker,
            content_hash=content_hash,
            started_at=started,
            finished_at=ctx.now(),
            outcome=outcome,
            remote_id=remote_id,
            details=details,
        )
    )


def last_create_attempt(session: Session, pub_id: int) -> Attempt | None:
    return session.scalars(
        select(Attempt)
        .where(Attempt.publication_id == pub_id, Attempt.action.in_(CREATE_ACTIONS))
        .order_by(Attempt.id.desc())
        .limit(1)
    ).first()


def first_create_started(session: Session, pub_id: int) -> datetime | None:
    """When the first create of this publication began (Facebook's 506 duplicate looks
    back that far)."""
    return session.scalar(
        select(func.min(Attempt.started_at)).where(
            Attempt.publication_id == pub_id, Attempt.action.in_(CREATE_ACTIONS)
        )
    )
