"""The workers as ``status`` shows them: alive or not, last heartbeat, the claims each holds.

Read from the registry (``store.workers``). A worker stopped cleanly and holding nothing
is left out, and so is one lost over an hour ago (forgotten after a day anyway); one
gone but still holding claims is always shown, since its claims are what an operator
asks about.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from ..config import Settings
from ..platforms import platform_name
from ..states import PUBLICATION_LABELS, PubState
from ..store import Database
from ..store.workers import WorkerView, list_workers

#: a worker gone this long ago and holding nothing is not shown
SHOWN_AFTER_EXIT = timedelta(hours=1)


def workers(db: Database, settings: Settings) -> tuple[datetime | None, list[WorkerView]]:
    """The database's time and the workers worth showing (none before the registry exists)."""
    stale = timedelta(seconds=max(90, 3 * settings.worker_takeover_seconds))
    try:
        now, views = list_workers(db, stale_after=stale)
    except SQLAlchemyError:
        return None, []
    shown = [
        w
        for w in views
        if w.alive
        or w.claims
        or (w.stopped_at is None and now - w.heartbeat_at <= SHOWN_AFTER_EXIT)
    ]
    return now, shown


def _label(state: str) -> str:
    try:
        return PUBLICATION_LABELS[PubState(state)]
    except (KeyError, ValueError):
        return state


def _seconds(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds()))


def as_json(now: datetime | None, views: list[WorkerView], tz: ZoneInfo) -> list[dict[str, Any]]:
    def iso(value: datetime | None) -> str | None:
        return value.astimezone(tz).isoformat() if value else None

    return [
        {
            "name": w.name,
            "host": w.host,
            "pid": w.pid,
            "alive": w.alive,
            "started_at": iso(w.started_at),
            "heartbeat_at": iso(w.heartbeat_at),
            "heartbeat_age_seconds": _seconds(now - w.heartbeat_at) if now else None,
            "stopped_at": iso(w.stopped_at),
            "claims": [
                {
                    "publication": pub_id,
                    "channel": channel,
                    "state": state,
                    "lease_until": iso(lease),
                }
                for pub_id, channel, state, lease in w.claims
            ],
        }
        for w in views
    ]


def text_lines(now: datetime | None, views: list[WorkerView], tz: ZoneInfo) -> list[str]:
    """Vietnamese lines for ``status`` (empty when no worker ever registered)."""
    if now is None or not views:
        return []
    alive = sum(1 for w in views if w.alive)
    lines = [f"Tiến trình ({alive} đang chạy):"]
    for w in views:
        if w.alive:
            shown = f"đang chạy, nhịp gần nhất {_seconds(now - w.heartbeat_at)} giây trước"
        elif w.stopped_at is not None:
            shown = f"đã dừng lúc {w.stopped_at.astimezone(tz):%H:%M:%S %d/%m/%Y}"
        else:
            shown = (
                "đã mất (không còn giữ khóa), nhịp cuối lúc "
                f"{w.heartbeat_at.astimezone(tz):%H:%M:%S %d/%m/%Y}"
            )
        lines.append(f"  {w.name} (máy {w.host}, pid {w.pid}): {shown}")
        if w.claims:
            held = ", ".join(
                f"#{pub_id} {platform_name(channel)} ({_label(state)}"
                + (f", đến {lease.astimezone(tz):%H:%M:%S}" if lease else "")
                + ")"
                for pub_id, channel, state, lease in w.claims
            )
            lines.append(f"    đang giữ {len(w.claims)} việc: {held}")
    return lines
