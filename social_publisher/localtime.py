"""Calendar arithmetic in the office's time zone (month boundaries, the next local hour).

Bottom layer: the channels (Zalo's monthly quota, its night window) and the
publishing steps (counting this month's posts) ask the same questions.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def month_start(now: datetime, tz: ZoneInfo) -> datetime:
    """First instant of the current calendar month, local time (start of quota counting)."""
    local = now.astimezone(tz)
    return datetime(local.year, local.month, 1, tzinfo=tz)


def next_month_start(now: datetime, tz: ZoneInfo) -> datetime:
    """First instant of the next calendar month, local time (when Zalo's monthly quota resets)."""
    local = now.astimezone(tz)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=tz)


def next_local_time(now: datetime, tz: ZoneInfo, at: time) -> datetime:
    """The next ``at`` o'clock local time strictly after ``now``."""
    local = now.astimezone(tz)
    moment = datetime.combine(local.date(), at, tzinfo=tz)
    if local >= moment:
        moment = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=tz)
    return moment
