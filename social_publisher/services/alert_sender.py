"""Alerts go out from here: each outbox row to each ALERT_URLS target, through Apprise.

For every alert and every target there is one :class:`~social_publisher.store.AlertDelivery`.
A delivery is *claimed* first (a conditional ``UPDATE`` checked by row count, with a
lease, committed), then sent, then recorded as sent (committed). A crash between the
send and the record leaves the claim to run out and the message is sent again: one
repeat, never a loss. A failure backs off (30 s doubling to an hour, with jitter) and
is kept for ever: ``status`` shows what is still owed. A target that is down delays
only its own deliveries; the sender runs in its own thread, never inside a pass.

An alert of a unit goes to that unit's targets (its ``ALERT_URLS_ENV``; a unit that names
none has the install's ALERT_URLS) and waits out that unit's quiet hours; an alert of
the install (a stopped daemon) goes to every target, once each (docs/alerts.md, "Units").

Non-urgent alerts wait out ALERT_QUIET_HOURS. The console path of an alert becomes a
link when WEB_BASE_URL is set. No URL, password or token reaches a record or a log:
targets are stored as a digest with Apprise's own privacy form of the URL as label.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import or_, select, true, update
from sqlalchemy.exc import IntegrityError

from ..config import Settings
from ..errors import redact
from ..store import Alert, AlertDelivery, Database
from ..units import Unit
from .alert_outbox import of_unit

log = logging.getLogger("social_publisher.alerts")

#: how long one send may take before another worker may try it again
SEND_LEASE = timedelta(minutes=2)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
#: seconds Apprise may wait on a target (connect and read): a dead mail server must not
#: hold the sender for minutes
TARGET_TIMEOUT = 10


@dataclass(frozen=True)
class Target:
    """One ALERT_URLS entry: ``key`` (a digest, stored), ``label`` (shown), ``url`` (not)."""

    key: str
    label: str
    url: str = field(repr=False)


#: (target, title, body, attachments) -> None when sent, else the reason (redacted)
Notifier = Callable[[Target, str, str, Sequence[str]], str | None]


def targets(settings: Settings) -> list[Target]:
    return [
        Target(hashlib.sha256(url.encode()).hexdigest()[:32], _label(url, n), url)
        for n, url in enumerate(settings.alert_urls, 1)
    ]


@dataclass(frozen=True)
class Route:
    """Where and when an alert of one unit (or of the install) goes."""

    settings: Settings
    targets: tuple[Target, ...]
    #: shown before the title when the install has several units ("" otherwise)
    name: str = ""

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(t.key for t in self.targets)


class Routes:
    """Each unit's route by its id; the install's for install alerts and unknown units."""

    def __init__(self, settings: Settings, units: Sequence[Unit] | None = None) -> None:
        named = units is not None and len(units) > 1
        own = Route(settings, tuple(targets(settings)))
        self.by_unit = {
            u.id: Route(u.settings, tuple(targets(u.settings)), u.name if named else "")
            for u in units or ()
        }
        #: a unit no longer in the units file: its alerts go to the install's targets
        self.fallback = own
        everyone = {t.key: t for t in own.targets}
        for route in self.by_unit.values():
            everyone.update({t.key: t for t in route.targets})
        #: an install alert (a stopped daemon stops every unit): every target hears it once
        self.install = Route(settings, tuple(everyone.values()))

    def of(self, unit_id: str | None) -> Route:
        if unit_id is None:
            return self.install
        return self.by_unit.get(unit_id, self.fallback)

    def every_target(self) -> dict[str, Target]:
        return {t.key: t for t in self.install.targets}


def _label(url: str, number: int) -> str:
    """What staff read for a target: its service and host, never a password, key or token."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    if "." not in host and not host.startswith(("localhost", "[")):
        host = "…"  # a "host" that is a token (Telegram's bot token)
    shown = redact(f"{parts.scheme}://{host}")
    to = parse_qs(parts.query).get("to")
    if parts.scheme.startswith("mailto") and to:
        shown += f" → {redact(to[0])}"
    return f"{number}. {shown}"[:200]


def _quiet_apprise() -> None:
    """Apprise logs whole URLs (keys in paths) at DEBUG: keep its records to our capture."""
    logger = logging.getLogger("apprise")
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    if not logger.handlers:  # else Python's last-resort handler prints its records
        logger.addHandler(logging.NullHandler())


def apprise_notify(target: Target, title: str, body: str, attachments: Sequence[str]) -> str | None:
    """Send through Apprise; None when the target took it, else why not (no secret)."""
    import apprise

    _quiet_apprise()
    sender = apprise.Apprise()
    url = target.url
    for name in ("cto", "rto"):
        if f"{name}=" not in url:
            url += ("&" if "?" in url else "?") + f"{name}={TARGET_TIMEOUT}"
    if not sender.add(url):
        return (
            f"Apprise không hiểu địa chỉ {target.label}: kiểm tra lại ALERT_URLS "
            "(xem README, mục Cảnh báo)."
        )
    attach = apprise.AppriseAttachment()
    for path in attachments:
        if Path(path).is_file():
            attach.add(str(path))
    with apprise.LogCapture(level=logging.WARNING) as output:  # type: ignore[no-untyped-call]
        ok = sender.notify(body=body, title=title, attach=attach if len(attach) else None)
        said = output.getvalue()
    if ok:
        return None
    lines = [line.split(" - ", 2)[-1].strip() for line in str(said).splitlines() if line.strip()]
    return redact("; ".join(lines[-3:]) or "nơi nhận không nhận tin")[:500]


#: a send in the child process is killed past this (it is retried later)
CHILD_TIMEOUT = 90


def child_notify(target: Target, title: str, body: str, attachments: Sequence[str]) -> str | None:
    """:func:`apprise_notify` in a short-lived child process (the daemon's default).

    Apprise loads its hundred plugins on first use, about 14 MB that a daemon idle for
    days would keep for one message a day; the child frees them when it exits, and a
    plugin that hangs is killed at CHILD_TIMEOUT. The URL travels on stdin, never in the
    command line (which other users of the machine can read).
    """
    request = {
        "key": target.key,
        "label": target.label,
        "url": target.url,
        "title": title,
        "body": body,
        "attachments": list(attachments),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "social_publisher.services.alert_child"],
            input=json.dumps(request, ensure_ascii=False).encode(),
            capture_output=True,
            timeout=CHILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"quá {CHILD_TIMEOUT} giây không gửi xong (nơi nhận không trả lời)"
    except OSError as exc:
        return redact(f"không chạy được tiến trình gửi: {exc}")[:500]
    try:
        answer = json.loads(done.stdout.decode("utf-8") or "{}")
    except ValueError:
        answer = {}
    if done.returncode != 0 or "error" not in answer:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        return redact(f"tiến trình gửi dừng bất thường ({done.returncode}) {tail[0]}")[:500]
    error = answer["error"]
    return None if error is None else redact(str(error))[:500]


# ------------------------------------------------------------------ quiet hours


def in_quiet_hours(settings: Settings, now: datetime) -> bool:
    if not settings.alert_quiet_hours:
        return False
    start_text, end_text = settings.alert_quiet_hours.split("-")
    start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    local = now.astimezone(settings.tz).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end


# ------------------------------------------------------------------ the text


def message(alert: Alert, settings: Settings, unit_name: str = "") -> tuple[str, str]:
    """(title, body) as staff read them: the body ends with the console link; in an install
    of several units the title names the unit."""
    body = alert.body
    if alert.link:
        if settings.web_base_url:
            body += f"\n\nXem trên bảng điều khiển: {settings.web_base_url}{alert.link}"
        else:
            body += f"\n\nTrên bảng điều khiển (social-publisher web): trang {alert.link}"
    tag = f"[social-publisher · {unit_name}]" if unit_name else "[social-publisher]"
    return f"{tag} {alert.title}", body


# ------------------------------------------------------------------ delivering


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    #: non-urgent deliveries held by quiet hours
    quiet: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    doubled: int = 2 ** min(12, max(0, attempts - 1))
    base: timedelta = min(BACKOFF_MAX, BACKOFF_BASE * doubled)
    factor: float = 0.8 + 0.4 * (rng or random.Random()).random()
    return base * factor


class Sender:
    """Delivers what the outbox owes. One per process; :meth:`run` is safe to call anytime."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        worker: str,
        clock: Callable[[], datetime],
        notify: Notifier = child_notify,
        exclusive: bool = False,
        rng: random.Random | None = None,
        stop: threading.Event | None = None,
        units: Sequence[Unit] | None = None,
    ) -> None:
        """``settings``: the install's; ``units``: every unit (None: alerts all go by
        ``settings``, as in an install of one unit)."""
        self.db, self.settings, self.worker, self.clock = db, settings, worker, clock
        self.notify = notify
        #: the single SQLite daemon: a claim that is not its own is a dead process's
        self.exclusive = exclusive
        self.rng = rng or random.Random()
        self.stop = stop or threading.Event()
        self.routes = Routes(settings, units)
        self.targets = list(self.routes.every_target().values())
        self._lock = threading.Lock()

    def run(self) -> SendReport:
        """Send every delivery that is due now (never two runs at once in a process)."""
        report = SendReport()
        if not self.targets:
            return report
        with self._lock:
            now = self.clock()
            self._expand(now)
            quiet: dict[str | None, bool] = {}
            for delivery_id, urgent, unit_id in self._due(now):
                if self.stop.is_set():
                    break
                if unit_id not in quiet:
                    quiet[unit_id] = in_quiet_hours(self.routes.of(unit_id).settings, now)
                if quiet[unit_id] and not urgent:
                    report.quiet += 1
                    continue
                self._one(delivery_id, report)
        return report

    def _expand(self, now: datetime) -> None:
        """One delivery row per open alert × current target of its unit (a new target gets
        what is open)."""
        with self.db.session() as session:
            open_alerts = list(session.scalars(select(Alert).where(Alert.done_at.is_(None))))
            if not open_alerts:
                return
            have = {
                (a, t)
                for a, t in session.execute(
                    select(AlertDelivery.alert_id, AlertDelivery.target).where(
                        AlertDelivery.alert_id.in_([a.id for a in open_alerts])
                    )
                )
            }
            for alert in open_alerts:
                route = self.routes.of(alert.unit_id)
                if not route.targets:  # a unit with no target anywhere: nobody to tell
                    alert.done_at = now
                for target in route.targets:
                    if (alert.id, target.key) not in have:
                        session.add(
                            AlertDelivery(alert_id=alert.id, target=target.key, label=target.label)
                        )
            try:
                session.commit()
            except IntegrityError:  # another worker added them first
                session.rollback()

    def _due(self, now: datetime) -> list[tuple[int, bool, str | None]]:
        """(delivery, urgent, unit) owed now to a current target of the alert's unit."""
        keys = [t.key for t in self.targets]
        with self.db.session() as session:
            rows = session.execute(
                select(AlertDelivery.id, Alert.urgent, Alert.unit_id, AlertDelivery.target)
                .join(Alert, Alert.id == AlertDelivery.alert_id)
                .where(
                    AlertDelivery.sent_at.is_(None),
                    AlertDelivery.target.in_(keys),
                    or_(
                        AlertDelivery.next_attempt_at.is_(None),
                        AlertDelivery.next_attempt_at <= now,
                    ),
                    self._free(now),
                )
                .order_by(Alert.urgent.desc(), AlertDelivery.id)
            )
            return [
                (int(i), bool(u), unit)
                for i, u, unit, target in rows
                if target in self.routes.of(unit).keys
            ]

    def _free(self, now: datetime):  # type: ignore[no-untyped-def]
        free = or_(AlertDelivery.lease_until.is_(None), AlertDelivery.lease_until < now)
        if self.exclusive:
            free = or_(
                free, AlertDelivery.claimed_by.is_(None), AlertDelivery.claimed_by != self.worker
            )
        return free

    def _claim(self, delivery_id: int, now: datetime) -> bool:
        with self.db.session() as session:
            result = session.execute(
                update(AlertDelivery)
                .where(
                    AlertDelivery.id == delivery_id,
                    AlertDelivery.sent_at.is_(None),
                    self._free(now),
                )
                .values(
                    claimed_by=self.worker,
                    lease_until=now + SEND_LEASE,
                    attempts=AlertDelivery.attempts + 1,
                    last_attempt_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def _one(self, delivery_id: int, report: SendReport) -> None:
        if not self._claim(delivery_id, self.clock()):
            return  # another worker has it
        with self.db.session() as session:
            delivery = session.get(AlertDelivery, delivery_id)
            assert delivery is not None
            alert = delivery.alert
            route = self.routes.of(alert.unit_id)
            title, body = message(alert, route.settings, route.name)
            attachments = list(alert.attachments or [])
            target = next(t for t in route.targets if t.key == delivery.target)
        try:
            error = self.notify(target, title, body, attachments)
        except Exception as exc:  # a plugin's bug must not stop the other alerts
            error = redact(f"{type(exc).__name__}: {exc}")[:500]
        self._record(delivery_id, error)
        if error is None:
            report.sent += 1
            log.info("Đã gửi cảnh báo “%s” đến %s.", alert.title, target.label)
        else:
            report.failed += 1
            report.errors.append(f"{target.label}: {error}")
            log.warning("Chưa gửi được cảnh báo đến %s: %s", target.label, error)

    def _record(self, delivery_id: int, error: str | None) -> None:
        now = self.clock()
        with self.db.session() as session:
            delivery = session.get(AlertDelivery, delivery_id)
            assert delivery is not None
            delivery.claimed_by = None
            delivery.lease_until = None
            if error is None:
                delivery.sent_at = now
                delivery.last_error = None
                session.flush()
                keys = self.routes.of(delivery.alert.unit_id).keys
                owed = session.scalar(
                    select(AlertDelivery.id).where(
                        AlertDelivery.alert_id == delivery.alert_id,
                        AlertDelivery.target.in_(keys),
                        AlertDelivery.sent_at.is_(None),
                    )
                )
                if owed is None:
                    delivery.alert.done_at = now
            else:
                delivery.last_error = error
                delivery.next_attempt_at = now + backoff(delivery.attempts, self.rng)
            session.commit()


# ------------------------------------------------------------------ what staff read


@dataclass(frozen=True)
class TestResult:
    label: str
    error: str | None


def send_test(
    settings: Settings, *, now: datetime, notify: Notifier = child_notify
) -> list[TestResult]:
    """``alerts test``: one test message to every target, each result (not through the outbox)."""
    local = now.astimezone(settings.tz)
    title = "[social-publisher] Tin thử cảnh báo"
    body = (
        f"Đây là tin thử của social-publisher lúc {local:%H:%M ngày %d/%m/%Y}. Nếu anh/chị "
        "nhận được tin này, cảnh báo (bài cần xử lý, kênh bị tạm dừng, tiến trình nền dừng, "
        "bản tin hằng ngày) sẽ đến đúng nơi này."
    )
    if settings.web_base_url:
        body += f"\n\nBảng điều khiển: {settings.web_base_url}/"
    results = []
    for target in targets(settings):
        try:
            error = notify(target, title, body, ())
        except Exception as exc:
            error = redact(f"{type(exc).__name__}: {exc}")[:500]
        results.append(TestResult(target.label, error))
    return results


def _of_handle(db: Database):  # type: ignore[no-untyped-def]
    """Alerts ``db``'s unit reads: its own (an install-wide handle: every alert)."""
    return of_unit(db.unit) if db.unit is not None else true()


def undelivered_warnings(settings: Settings, db: Database, now: datetime) -> list[str]:
    """``status`` lines: alerts still owed to a target, with its last error."""
    current = {t.key: t for t in targets(settings)}
    if not current:
        return []
    mine = _of_handle(db)
    with db.session() as session:
        open_count = session.scalar(select(Alert.id).where(Alert.done_at.is_(None), mine).limit(1))
        if open_count is None:
            return []
        rows = session.execute(
            select(AlertDelivery.target, AlertDelivery.last_error, AlertDelivery.attempts)
            .join(Alert, Alert.id == AlertDelivery.alert_id)
            .where(Alert.done_at.is_(None), AlertDelivery.sent_at.is_(None), mine)
            .order_by(AlertDelivery.id)
        ).all()
        fresh = session.scalar(
            select(Alert.id).where(Alert.done_at.is_(None), ~Alert.deliveries.any(), mine).limit(1)
        )
    lines: list[str] = []
    per_target: dict[str, tuple[int, str | None]] = {}
    for key, error, attempts in rows:
        if key not in current:
            continue
        count, last = per_target.get(key, (0, None))
        per_target[key] = (count + 1, error if attempts else last)
    for key, (count, error) in per_target.items():
        why = f" Lỗi gần nhất: {error}" if error else " (chưa đến lượt gửi)"
        lines.append(
            f"Cảnh báo: {count} tin chưa gửi được đến {current[key].label}.{why} Kiểm tra "
            "ALERT_URLS, rồi chạy social-publisher alerts test."
        )
    if fresh is not None and not per_target:
        lines.append("Cảnh báo: có tin mới chưa gửi (tiến trình nền sẽ gửi ngay khi chạy).")
    return lines


@dataclass(frozen=True)
class AlertLine:
    """One alert as ``alerts list`` shows it: (label, sent at, last error) per target."""

    created_at: datetime
    title: str
    deliveries: list[tuple[str, datetime | None, str | None]]


def recent_alerts(db: Database, *, limit: int = 20) -> list[AlertLine]:
    """The latest alerts of ``db``'s unit (an install-wide handle: every unit's)."""
    with db.session() as session:
        alerts = list(
            session.scalars(
                select(Alert).where(_of_handle(db)).order_by(Alert.id.desc()).limit(limit)
            )
        )
        return [
            AlertLine(
                a.created_at,
                a.title,
                [(d.label, d.sent_at, d.last_error) for d in a.deliveries],
            )
            for a in alerts
        ]
