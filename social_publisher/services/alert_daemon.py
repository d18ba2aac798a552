"""The daemon's side of alerts: the heartbeat, the sender thread, the watch jobs.

:func:`attach` adds them to the daemon's APScheduler. The sender runs on an executor
of its own, so a slow or dead target never delays a pass; it is woken right after
any commit that wrote an alert (``alert_outbox.add_waker``) and polls every minute
for retries. The heartbeat has its own executor too: a sender stuck on a dead mail
server must not make ``doctor --alert`` think the daemon is gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..store import Database
from ..units import Unit
from . import alert_outbox, alert_watch
from .alert_sender import Notifier, Sender, SendReport, child_notify

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger("social_publisher.alerts")

SEND_EVERY = timedelta(minutes=1)
WATCH_EVERY = timedelta(minutes=5)


def alerts_on(settings: Settings, units: Sequence[Unit] | None = None) -> bool:
    """Whether the install or any of its units has an alert target."""
    return bool(settings.alert_urls) or any(u.settings.alert_urls for u in units or ())


def install_listener(settings: Settings, units: Sequence[Unit] | None = None) -> None:
    """Every process that moves publications writes alert rows when alerts are on (for any
    unit: each unit's ALERT_LATE_MINUTES applies to its own posts)."""
    if alerts_on(settings, units):
        alert_outbox.install(
            late_after=timedelta(minutes=settings.alert_late_minutes),
            tz=settings.tz,
            late_by_unit={
                u.id: timedelta(minutes=u.settings.alert_late_minutes) for u in units or ()
            },
        )


def watch_units(
    db: Database,
    settings: Settings,
    at: datetime,
    *,
    units: Sequence[Unit] | None = None,
    channels: Mapping[str, object] | None = None,
    channels_by_unit: Mapping[str, Mapping[str, object]] | None = None,
) -> None:
    """One look of the watch job: each unit's tokens and digest with its own settings and
    database handle. Without ``units``: the one unit of ``settings`` (and ``channels``)."""
    if not units:
        looks = [(settings, db, channels)]
    else:
        by_unit = channels_by_unit or {}
        only = channels if len(units) == 1 else None  # one unit: ``channels`` are its own
        looks = [(u.settings, db.for_unit(u.id), by_unit.get(u.id) or only) for u in units]
    for unit_settings, handle, unit_channels in looks:
        try:
            alert_watch.check_tokens(handle, unit_settings, at)
            if unit_channels and "facebook" in unit_channels:
                alert_watch.check_facebook_token(
                    handle, unit_settings, unit_channels["facebook"], at
                )
            alert_watch.daily_digest(handle, unit_settings, at)
        except Exception:  # one unit's broken watch must not hide the others'
            log.exception("alert watch failed for unit %s", handle.unit)


def _guard(name: str, fn: Callable[[], Any]) -> Callable[[], None]:
    def run() -> None:
        try:
            fn()
        except Exception:  # an alert job must never stop the daemon
            log.exception("alert job %s failed", name)

    return run


def attach(
    scheduler: BaseScheduler,
    db: Database,
    settings: Settings,
    *,
    worker: str,
    clock: Callable[[], datetime],
    stop: Any,
    watch: bool = True,
    channels: Mapping[str, object] | None = None,
    units: Sequence[Unit] | None = None,
    channels_by_unit: Mapping[str, Mapping[str, object]] | None = None,
) -> Sender | None:
    """Add the heartbeat (always) and, with ALERT_URLS (the install's or a unit's), the
    sender and watch jobs.

    ``settings``: the install's; ``units``: every unit (None: one unit, ``settings``,
    whose channels are ``channels``); ``channels_by_unit``: each unit's channels by name.
    """
    from apscheduler.triggers.interval import IntervalTrigger

    now = clock()
    scheduler.add_job(
        _guard("heartbeat", lambda: alert_watch.beat(db, worker, clock())),
        IntervalTrigger(seconds=alert_watch.HEARTBEAT_EVERY.total_seconds()),
        id="heartbeat",
        executor="beat",
        next_run_time=now,
    )
    if not alerts_on(settings, units):
        return None
    install_listener(settings, units)
    sender = Sender(
        db,
        settings,
        worker=worker,
        clock=clock,
        exclusive=settings.is_sqlite,
        stop=stop,
        units=units,
    )
    send = _guard("send", sender.run)

    def wake() -> None:
        if scheduler.running and not stop.is_set():
            scheduler.add_job(send, id="alerts_now", executor="alerts", replace_existing=True)

    alert_outbox.add_waker(wake)
    alert_watch.daemon_started(db, settings, now)
    scheduler.add_job(
        send,
        IntervalTrigger(seconds=SEND_EVERY.total_seconds()),
        id="alerts_send",
        executor="alerts",
        next_run_time=now,
    )
    if watch:

        def look() -> None:
            watch_units(
                db,
                settings,
                clock(),
                units=units,
                channels=channels,
                channels_by_unit=channels_by_unit,
            )

        scheduler.add_job(
            _guard("watch", look),
            IntervalTrigger(seconds=WATCH_EVERY.total_seconds()),
            id="alerts_watch",
            executor="alerts",
            next_run_time=now + timedelta(seconds=20),
        )
    return sender


def run_watchdog(
    db: Database,
    settings: Settings,
    *,
    clock: Callable[[], datetime],
    worker: str,
    notify: Notifier | None = None,
    units: Sequence[Unit] | None = None,
) -> tuple[bool, datetime | None, SendReport]:
    """``doctor --alert``: (daemon alive, last heartbeat, what was sent).

    A dead daemon sends nothing, so when the heartbeat is stale this process writes
    the ``daemon_down`` alert and delivers everything the outbox owes itself.
    """
    alive, beat_at = alert_watch.watchdog(db, settings, clock())
    report = SendReport()
    if not alive and alerts_on(settings, units):
        sender = Sender(
            db, settings, worker=worker, clock=clock, notify=notify or child_notify, units=units
        )
        report = sender.run()
    return alive, beat_at, report


def send_owed(
    db: Database,
    settings: Settings,
    *,
    clock: Callable[[], datetime],
    worker: str,
    units: Sequence[Unit] | None = None,
) -> SendReport:
    """Deliver what the outbox owes now (``run --once``: no daemon thread will)."""
    if not alerts_on(settings, units):
        return SendReport()
    return Sender(
        db, settings, worker=worker, clock=clock, exclusive=settings.is_sqlite, units=units
    ).run()
