"""Alerts per unit: each unit's post or channel is told to that unit's targets only, with
its own quiet hours, late minutes and digest; a stopped daemon is told to every target."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from social_publisher.config import Settings, load_settings
from social_publisher.services import alert_daemon, alert_watch
from social_publisher.services.alert_sender import Sender, apprise_notify, undelivered_warnings
from social_publisher.states import HealthState, PubState
from social_publisher.store import Alert, Database, Publication
from social_publisher.store.lifecycle import set_health, transition
from social_publisher.units import Unit, load_units

from .conftest import (
    T0,
    Clock,
    Mailbox,
    Webhook,
    dump_tables,
    mail_url,
    make_post,
    secrets_absent,
    start_mailbox,
)

A, B = "phuong-pho-minh", "xa-pho-phong"

UNITS = f"""\
[[don_vi]]
id = "{A}"
name = "UBND phường Phổ Minh"
ALERT_URLS_ENV = "ALERT_URLS_PHO_MINH"
ALERT_QUIET_HOURS = "07:00-09:00"
ALERT_LATE_MINUTES = 30

[[don_vi]]
id = "{B}"
name = "UBND xã Phổ Phong"
ALERT_URLS_ENV = "ALERT_URLS_PHO_PHONG"
ALERT_QUIET_HOURS = ""
ALERT_DIGEST_HOUR = 9
"""


@pytest.fixture
def mailbox_b() -> Iterator[Mailbox]:
    yield from start_mailbox()


@pytest.fixture
def two_units(
    env: dict[str, str], tmp_path: Path, mailbox: Mailbox, mailbox_b: Mailbox, webhook: Webhook
) -> tuple[Settings, list[Unit]]:
    """Unit A's targets: ``mailbox``; unit B's: ``mailbox_b``; the install's: ``webhook``."""
    (tmp_path / "units.toml").write_text(UNITS, encoding="utf-8")
    settings = load_settings(
        {
            **env,
            "UNITS_FILE": str(tmp_path / "units.toml"),
            "ALERT_URLS": webhook.url,
            "ALERT_URLS_PHO_MINH": mail_url(mailbox),
            "ALERT_URLS_PHO_PHONG": mail_url(mailbox_b),
            "ALERT_QUIET_HOURS": "",
        },
        dotenv_path=None,
    )
    return settings, load_units(settings)


@pytest.fixture
def listening_units(two_units: tuple[Settings, list[Unit]]) -> Iterator[None]:
    settings, units = two_units
    alert_daemon.install_listener(settings, units)
    yield
    from social_publisher.services import alert_outbox

    alert_outbox.uninstall()


def _sender(db: Database, two_units: tuple[Settings, list[Unit]], clock: Clock) -> Sender:
    settings, units = two_units
    return Sender(db, settings, worker="w", clock=clock, notify=apprise_notify, units=units)


def _block(db: Database, clock: Clock) -> None:
    with db.session() as s:
        set_health(
            s, "facebook", HealthState.AUTH_FAILED, actor="w", at=clock(), reason="token hết hạn"
        )
        s.commit()


pytestmark = pytest.mark.usefixtures("listening_units")


def test_a_units_blocked_channel_reaches_only_its_own_targets(
    db: Database,
    two_units: tuple[Settings, list[Unit]],
    mailbox: Mailbox,
    mailbox_b: Mailbox,
    webhook: Webhook,
) -> None:
    clock = Clock()
    _block(db.for_unit(A), clock)

    report = _sender(db, two_units, clock).run()
    assert (report.sent, report.failed) == (1, 0)
    assert len(mailbox.messages) == 1
    subject = mailbox.messages[0]["Subject"]
    assert subject.startswith("[social-publisher · UBND phường Phổ Minh] Facebook bị tạm dừng")
    assert mailbox_b.messages == [] and webhook.received == []
    with db.session() as s:
        alert = s.scalars(select(Alert)).one()
    assert alert.unit_id == A and alert.key.startswith(f"{A}/paused:facebook:")
    # B's status owes nothing; A's would list its own targets only
    settings_a = two_units[1][0].settings
    settings_b = two_units[1][1].settings
    assert undelivered_warnings(settings_b, db.for_unit(B), clock()) == []
    assert undelivered_warnings(settings_a, db.for_unit(A), clock()) == []
    secrets_absent(dump_tables(db), *mailbox.texts())


def test_two_units_blocked_in_the_same_second_are_two_alerts_each_to_its_own(
    db: Database,
    two_units: tuple[Settings, list[Unit]],
    mailbox: Mailbox,
    mailbox_b: Mailbox,
    webhook: Webhook,
) -> None:
    clock = Clock(T0 + timedelta(hours=2))  # 10:00 local: past A's quiet hours
    _block(db.for_unit(A), clock)
    _block(db.for_unit(B), clock)
    # each unit's renewal is its own: B's open pause does not silence A's recovery
    with db.for_unit(A).session() as s:
        set_health(s, "facebook", HealthState.OK, actor="w", at=clock.advance(minutes=1))
        s.commit()

    _sender(db, two_units, clock).run()
    assert [m["Subject"].split("] ")[1] for m in mailbox.messages] == [
        mailbox.messages[0]["Subject"].split("] ")[1],
        "Facebook đã hoạt động lại",
    ]
    assert len(mailbox_b.messages) == 1
    assert mailbox_b.messages[0]["Subject"].startswith(
        "[social-publisher · UBND xã Phổ Phong] Facebook bị tạm dừng"
    )
    assert webhook.received == []
    with db.session() as s:
        units = list(s.scalars(select(Alert.unit_id).order_by(Alert.id)))
    assert units == [A, B, A]


def test_each_units_quiet_hours_and_late_minutes(
    db: Database,
    two_units: tuple[Settings, list[Unit]],
    mailbox: Mailbox,
    mailbox_b: Mailbox,
) -> None:
    clock = Clock()  # 08:00 local: inside A's quiet hours, B has none
    late = T0 - timedelta(minutes=20)  # 20 minutes late: over B's 10, under A's 30
    for unit in (A, B):
        _, pub_id = make_post(db.for_unit(unit), title=f"Bài {unit}", due=late)
        with db.for_unit(unit).session() as s:
            pub = s.get(Publication, pub_id)
            assert pub is not None
            transition(s, pub, PubState.PUBLISHING, actor="w", at=clock())
            pub.published_at = clock()
            transition(s, pub, PubState.PUBLISHED, actor="w", at=clock())
            s.commit()
    with db.session() as s:
        assert [(a.unit_id, a.kind) for a in s.scalars(select(Alert))] == [(B, "late")]
    _block(db.for_unit(A), clock)  # urgent: not held by A's quiet hours
    with db.for_unit(A).session() as s:
        set_health(s, "facebook", HealthState.OK, actor="w", at=clock())  # not urgent: held
        s.commit()

    report = _sender(db, two_units, clock).run()
    assert (report.sent, report.quiet) == (2, 1)
    assert len(mailbox.messages) == 1 and "bị tạm dừng" in mailbox.messages[0]["Subject"]
    assert len(mailbox_b.messages) == 1 and "trễ 20 phút" in mailbox_b.messages[0]["Subject"]
    clock.advance(hours=1)  # 09:00: A's quiet hours are over
    assert _sender(db, two_units, clock).run().sent == 1
    assert "đã hoạt động lại" in mailbox.messages[1]["Subject"]


def test_the_digest_is_per_unit_at_its_own_hour(
    db: Database, two_units: tuple[Settings, list[Unit]], mailbox: Mailbox, mailbox_b: Mailbox
) -> None:
    settings, units = two_units
    clock = Clock(T0.replace(hour=2, minute=30))  # 09:30 local: B's hour, not yet A's (16)
    tomorrow = clock() + timedelta(hours=20)
    make_post(db.for_unit(A), title="Bài của Phổ Minh", due=tomorrow, state="pending")
    make_post(db.for_unit(B), title="Bài của Phổ Phong", due=tomorrow, state="pending")

    alert_daemon.watch_units(db, settings, clock(), units=units)
    with db.session() as s:
        [digest] = s.scalars(select(Alert).where(Alert.kind == "digest"))
    assert (digest.unit_id, digest.key) == (B, f"{B}/digest:2026-03-02")
    assert "Bài của Phổ Phong" in digest.body and "Phổ Minh" not in digest.body

    clock.now = T0.replace(hour=9, minute=5)  # 16:05 local: A's digest, B's not twice
    alert_daemon.watch_units(db, settings, clock(), units=units)
    _sender(db, two_units, clock).run()
    assert [m["Subject"] for m in mailbox_b.messages] == [
        "[social-publisher · UBND xã Phổ Phong] Bản tin ngày 02/03/2026"
    ]
    assert [m["Subject"] for m in mailbox.messages] == [
        "[social-publisher · UBND phường Phổ Minh] Bản tin ngày 02/03/2026"
    ]
    body_a = mailbox.texts()[0]
    assert "Bài của Phổ Minh" in body_a and "Phổ Phong" not in body_a


def test_a_stopped_daemon_is_told_to_every_target_once(
    db: Database,
    two_units: tuple[Settings, list[Unit]],
    mailbox: Mailbox,
    mailbox_b: Mailbox,
    webhook: Webhook,
) -> None:
    settings, units = two_units
    clock = Clock()
    alert_watch.beat(db, "w1", clock() - timedelta(minutes=30))
    alive, _, report = alert_daemon.run_watchdog(
        db, settings, clock=clock, worker="dog", notify=apprise_notify, units=units
    )
    assert not alive and (report.sent, report.failed) == (3, 0)
    for texts in (mailbox.texts(), mailbox_b.texts(), webhook.texts()):
        assert len(texts) == 1 and "Tiến trình nền social-publisher đã dừng" in texts[0]
    with db.session() as s:
        assert s.scalars(select(Alert.unit_id)).one() is None


def test_a_unit_without_any_target_leaves_nothing_owed(
    env: dict[str, str], tmp_path: Path, db: Database, mailbox: Mailbox
) -> None:
    """The install has no ALERT_URLS and ward B names none: B's alerts are closed, not
    owed for ever (they would be read again on every send)."""
    (tmp_path / "units-no-target.toml").write_text(
        f'[[don_vi]]\nid = "{A}"\nname = "A"\nALERT_URLS_ENV = "ALERTS_A"\n\n'
        f'[[don_vi]]\nid = "{B}"\nname = "B"\n',
        encoding="utf-8",
    )
    settings = load_settings(
        {
            **env,
            "UNITS_FILE": str(tmp_path / "units-no-target.toml"),
            "ALERTS_A": mail_url(mailbox),
        },
        dotenv_path=None,
    )
    units = load_units(settings)
    clock = Clock()
    _block(db.for_unit(B), clock)
    _block(db.for_unit(A), clock)
    sender = Sender(db, settings, worker="w", clock=clock, notify=apprise_notify, units=units)
    assert sender.run().sent == 1 and len(mailbox.messages) == 1
    with db.session() as s:
        rows = [
            (a.unit_id, a.done_at is not None, len(a.deliveries)) for a in s.scalars(select(Alert))
        ]
    assert rows == [(B, True, 0), (A, True, 1)]
