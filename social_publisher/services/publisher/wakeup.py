"""Wake-up: the earliest moment something becomes actionable, for the daemon's exact timer."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from ...states import BLOCKING_HEALTH, TIMED_STATES, HealthState
from ...states import PubState as S
from ...store import ChannelHealth, Publication
from ..settle import settle_wakeups
from .context import PublishContext

#: never wake up sooner than this after now (a pass that just ran)
MIN_DELAY = timedelta(milliseconds=200)


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
            queries = [
                select(func.min(Publication.due_at)).where(
                    Publication.state == S.PENDING, Publication.due_at > now
                ),
                select(func.min(Publication.next_attempt_at)).where(
                    Publication.state.in_(TIMED_STATES), Publication.next_attempt_at > now
                ),
                select(func.min(Publication.lease_until)).where(Publication.state == S.PUBLISHING),
                select(func.min(Publication.remote_scheduled_for)).where(
                    Publication.state == S.SCHEDULED_REMOTE, Publication.remote_scheduled_for > now
                ),
            ]
            for query in queries:
                value = session.scalar(query.where(Publication.channel.in_(open_channels)))
                if value is not None:
                    candidates.append(value)
            candidates += settle_wakeups(session, now, ctx.settings)
    if not candidates:
        return None
    return max(min(candidates), now + MIN_DELAY)
