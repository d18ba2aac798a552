"""The daemon's side of alerts: the heartbeat, the sender thread, the watch jobs.

:func:`attach` adds them to the daemon's APScheduler. The sender runs on an executor
of its own, so a slow or dead target never delays a pass; it is woken right after
any commit that wrote an alert (``alert_outbox.add_waker``) and polls every minute
for retries. The heartbeat has its own executor too: a sender stuck on a dead mail
server must not make ``doctor --alert`` think the daemon is gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..store import Database
from . import alert_outbox, alert_watch
from .alert_sender import Notifier, Sender, SendReport, child_notify

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger("social_publisher.alerts")

SEND_EVERY = timedelta(minutes=1)
WATCH_EVERY = timedelta(minutes=5)


def install_listener(settings: Settings) -> None:
    """Every process that moves publications writes alert rows when alerts are on."""
    if settings.alert_urls:
        alert_outbox.install(
            late_after=timedelta(minutes=settings.alert_late_minutes), tz=settings.tz
        )


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
) -> Sender | None:
    """Add the heartbeat (always) and, with ALERT_URLS, the sender and watch jobs."""
    from apscheduler.triggers.interval import IntervalTrigger

    now = clock()
    scheduler.add_job(
        _guard("heartbeat", lambda: alert_watch.beat(db, worker, clock())),
        IntervalTrigger(seconds=alert_watch.HEARTBEAT_EVERY.total_seconds()),
        id="heartbeat",
        executor="beat",
        next_run_time=now,
    )
    if not settings.alert_urls:
        return None
    install_listener(settings)
    sender = Sender(
        db, settings, worker=worker, clock=clock, exclusive=settings.is_sqlite, stop=stop
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
            at = clock()
            alert_watch.check_tokens(db, settings, at)
            if channels and "facebook" in channels:
                alert_watch.check_facebook_token(db, settings, channels["facebook"], at)
            alert_watch.daily_digest(db, settings, at)

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
) -> tuple[bool, datetime | None, SendReport]:
    """``doctor --alert``: (daemon alive, last heartbeat, what was sent).

    A dead daemon sends nothing, so when the heartbeat is stale this process writes
    the ``daemon_down`` alert and delivers everything the outbox owes itself.
    """
    alive, beat_at = alert_watch.watchdog(db, settings, clock())
    report = SendReport()
    if not alive and settings.alert_urls:
        sender = Sender(db, settings, worker=worker, clock=clock, notify=notify or child_notify)
        report = sender.run()
    return alive, beat_at, report


def send_owed(
    db: Database, settings: Settings, *, clock: Callable[[], datetime], worker: str
) -> SendReport:
    """Deliver what the outbox owes now (``run --once``: no daemon thread will)."""
    if not settings.alert_urls:
        return SendReport()
    return Sender(db, settings, worker=worker, clock=clock, exclusive=settings.is_sqlite).run()
