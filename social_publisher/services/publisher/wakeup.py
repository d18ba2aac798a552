"""Wake-up: the earliest moment something becomes actionable, for the daemon's exact timer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from ...states import BLOCKING_HEALTH, TIMED_STATES, HealthState
from ...states import PubState as S
from ...store import ChannelHealth, Publication
from ..settle import settle_wakeups
from .context import PublishContext

#: never wake up sooner than this after now (a pass that just ran)
MIN_DELAY = timedelta(milliseconds=200)


#: each waiting state, the column saying when it wants a pass, and whether a time already
#: past still counts (an expired lease: a claim to take over at once)
WAITS: tuple[tuple[ColumnElement[bool], InstrumentedAttribute[datetime | None], bool], ...] = (
    (Publication.state == S.PENDING, Publication.due_at, False),
    (Publication.state.in_(TIMED_STATES), Publication.next_attempt_at, False),
    (Publication.state == S.PUBLISHING, Publication.lease_until, True),
    (Publication.state == S.SCHEDULED_REMOTE, Publication.remote_scheduled_for, False),
)


def wait_queries(now: datetime) -> list[Select[Any]]:
    """The earliest time of each wait (``services.fleet`` asks them of every unit at once)."""
    return [
        select(func.min(column)).where(state, *(() if past else (column > now,)))
        for state, column, past in WAITS
    ]


def due_now(now: datetime) -> ColumnElement[bool]:
    """SQL: the publication's wait is over at ``now``."""
    return or_(*(and_(state, column <= now) for state, column, _ in WAITS))


def next_wakeup(ctx: PublishContext, now: datetime) -> datetime | None:
    """The earliest moment something becomes actionable (the exact wake-up)."""
    if not ctx.channels:
        return None
    candidates: list[datetime] = []
    with ctx.db.session() as session:
        blocked: set[str] = set()
        for health in session.scalars(select(ChannelHealth)):
            if health.state in BLOCKING_HEALTH:
                blocked.add(health.channel)
            elif (
                health.state != HealthState.OK
                and health.blocked_until
                and health.blocked_until > now
            ):
                blocked.add(health.channel)
                candidates.append(health.blocked_until)
        open_channels = [c for c in ctx.channels if c not in blocked]
        if open_channels:
            for query in wait_queries(now):
                value = session.scalar(query.where(Publication.channel.in_(open_channels)))
                if value is not None:
                    candidates.append(value)
            candidates += settle_wakeups(session, now, ctx.settings)
    if not candidates:
        return None
    return max(min(candidates), now + MIN_DELAY)
