"""Outbox → real SMTP server and real JSON webhook: once per event, Vietnamese, no secret."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from social_publisher.config import Settings, load_settings
from social_publisher.services import alert_outbox
from social_publisher.services.alert_sender import (
    Sender,
    apprise_notify,
    child_notify,
    undelivered_warnings,
)
from social_publisher.services.status import status
from social_publisher.states import HealthState, PubState
from social_publisher.store import Alert, AlertDelivery, Database, Publication
from social_publisher.store.lifecycle import set_health, transition

from .conftest import (
    SMTP_USER,
    T0,
    Clock,
    Mailbox,
    Webhook,
    dump_tables,
    make_post,
    secrets_absent,
)

pytestmark = pytest.mark.usefixtures("listening")


def _attention(db: Database, pub_id: int, clock: Clock, reason: str) -> None:
    with db.session() as s:
        pub = s.get(Publication, pub_id)
        assert pub is not None
        transition(s, pub, PubState.PUBLISHING, actor="w", at=clock())
        transition(s, pub, PubState.NEEDS_ATTENTION, actor="w", at=clock(), reason=reason)
        s.commit()


def _sender(db: Database, settings: Settings, clock: Clock, *, child: bool = False) -> Sender:
    """The daemon's sender; Apprise in this process unless ``child`` (the daemon's way: a
    child process per send, slower)."""
    notify = child_notify if child else apprise_notify
    return Sender(db, settings, worker="test-worker", clock=clock, notify=notify)


def test_needs_attention_reaches_mail_and_webhook_once(
    db: Database,
    alert_settings: Settings,
    mailbox: Mailbox,
    webhook: Webhook,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    post_id, pub_id = make_post(db, title="Ngày hội chuyển đổi số")
    _attention(db, pub_id, clock, "Facebook từ chối ảnh anh-2.jpg: ảnh quá nhỏ (dưới 200 px).")

    report = _sender(db, alert_settings, clock, child=True).run()
    assert (report.sent, report.failed) == (2, 0)
    assert len(mailbox.messages) == 1 and len(webhook.received) == 1
    assert mailbox.logins == [SMTP_USER]  # the account's password was used, and works
    for text in (*mailbox.texts(), *webhook.texts()):
        assert "Cần xử lý: bài “Ngày hội chuyển đổi số” trên Facebook" in text
        assert "ảnh quá nhỏ (dưới 200 px)" in text
        assert f"social-publisher retry {post_id}" in text
        assert f"https://cds.ducpho.gov.vn/bai/{post_id}" in text
    assert mailbox.messages[0]["To"] == "lanh.dao@ducpho.gov.vn"

    # Nothing owed any more: later runs (every tick) send nothing again.
    clock.advance(minutes=5)
    assert _sender(db, alert_settings, clock).run().sent == 0
    assert len(mailbox.messages) == 1 and len(webhook.received) == 1
    with db.session() as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.done_at is not None and alert.urgent
        assert all(d.sent_at and d.attempts == 1 for d in alert.deliveries)
    secrets_absent(
        *[r.decode() for r in mailbox.raw], str(webhook.received), dump_tables(db), caplog.text
    )


def test_a_rolled_back_move_has_no_alert(db: Database, alert_settings: Settings) -> None:
    clock = Clock()
    _, pub_id = make_post(db)
    with db.session() as s:
        pub = s.get(Publication, pub_id)
        assert pub is not None
        transition(s, pub, PubState.PUBLISHING, actor="w", at=clock())
        transition(s, pub, PubState.NEEDS_ATTENTION, actor="w", at=clock(), reason="x")
        s.rollback()
    with db.session() as s:
        assert s.scalars(select(Alert)).all() == []


def test_down_target_gets_it_after_it_comes_back(
    db: Database, alert_settings: Settings, mailbox: Mailbox, webhook: Webhook
) -> None:
    clock = Clock()
    webhook.stop()  # the webhook's server is down; mail works
    _, pub_id = make_post(db, title="Lịch tiêm chủng tháng 3")
    _attention(db, pub_id, clock, "Mã truy cập không đủ quyền.")

    first = _sender(db, alert_settings, clock).run()
    assert (first.sent, first.failed) == (1, 1)
    assert len(mailbox.messages) == 1
    warnings = undelivered_warnings(alert_settings, db, clock())
    assert len(warnings) == 1 and "1 tin chưa gửi được đến 2. json://127.0.0.1" in warnings[0]
    secrets_absent(*warnings, dump_tables(db))

    # Backing off: a run straight after tries nothing.
    clock.advance(seconds=5)
    assert _sender(db, alert_settings, clock).run().failed == 0
    with db.session() as s:
        owed = s.scalars(select(AlertDelivery).where(AlertDelivery.sent_at.is_(None))).one()
        assert owed.attempts == 1 and owed.last_error and owed.next_attempt_at
        retry_at = owed.next_attempt_at

    webhook.start()
    clock.now = retry_at + timedelta(seconds=1)
    again = _sender(db, alert_settings, clock).run()
    assert (again.sent, again.failed) == (1, 0)
    assert len(webhook.received) == 1 and len(mailbox.messages) == 1  # mail not repeated
    assert "Lịch tiêm chủng tháng 3" in webhook.texts()[0]
    assert undelivered_warnings(alert_settings, db, clock()) == []


def test_channel_paused_and_recovered_once_each(
    db: Database, alert_settings: Settings, mailbox: Mailbox, webhook: Webhook
) -> None:
    clock = Clock()
    with db.session() as s:
        # a short rate limit is not worth a message
        set_health(
            s, "facebook", HealthState.RATE_LIMITED, actor="w", at=clock(),
            until=clock() + timedelta(minutes=5), reason="Graph #4",
        )  # fmt: skip
        set_health(s, "facebook", HealthState.OK, actor="w", at=clock())
        set_health(
            s, "facebook", HealthState.AUTH_FAILED, actor="w", at=clock(),
            reason="Mã truy cập Trang đã hết hạn.",
        )  # fmt: skip
        s.commit()
    with db.session() as s:  # the daemon keeps meeting the same block: still one alert
        set_health(s, "facebook", HealthState.AUTH_FAILED, actor="w", at=clock(), reason="again")
        s.commit()
    _sender(db, alert_settings, clock).run()
    assert len(webhook.received) == 1
    text = webhook.texts()[0]
    assert "Facebook bị tạm dừng: lỗi mã truy cập (token), cần cấp lại" in text
    assert "FB_PAGE_ACCESS_TOKEN" in text and "https://cds.ducpho.gov.vn/suc-khoe" in text

    clock.advance(hours=2)
    with db.session() as s:
        set_health(s, "facebook", HealthState.OK, actor="staff", at=clock())
        s.commit()
    _sender(db, alert_settings, clock).run()
    assert [m["title"] for m in webhook.received][1:] == [
        "[social-publisher] Facebook đã hoạt động lại"
    ]
    assert len(mailbox.messages) == 2


def test_quiet_hours_hold_only_what_can_wait(
    db: Database, alert_env: dict[str, str], webhook: Webhook
) -> None:
    settings = load_settings(alert_env | {"ALERT_URLS": webhook.url}, dotenv_path=None)
    clock = Clock(Clock().now.replace(hour=15))  # 22:00 in Đức Phổ
    _, pub_id = make_post(db, title="Bài đăng trễ", due=clock() - timedelta(minutes=25))
    with db.session() as s:
        pub = s.get(Publication, pub_id)
        assert pub is not None
        transition(s, pub, PubState.PUBLISHING, actor="w", at=clock())
        pub.published_at = clock()
        transition(s, pub, PubState.PUBLISHED, actor="w", at=clock())
        s.commit()
    _, other = make_post(db, title="Bài lỗi ban đêm")
    _attention(db, other, clock, "Zalo từ chối nội dung.")

    night = _sender(db, settings, clock).run()
    assert (night.sent, night.quiet) == (1, 1)
    assert "Bài lỗi ban đêm" in webhook.texts()[0]

    clock.now = clock.now.replace(hour=23, minute=5)  # 06:05 next morning
    morning = _sender(db, settings, clock).run()
    assert morning.sent == 1
    assert "“Bài đăng trễ” lên Facebook trễ 25 phút" in webhook.texts()[1]


def test_short_rate_limits_renewed_for_half_an_hour_are_told_once(
    db: Database, alert_settings: Settings, webhook: Webhook
) -> None:
    clock = Clock()
    for _ in range(8):  # a 5-minute limit met again every 5 minutes
        with db.session() as s:
            set_health(
                s, "zalo", HealthState.RATE_LIMITED, actor="w", at=clock(),
                until=clock() + timedelta(minutes=5), reason="Zalo -32",
            )  # fmt: skip
            s.commit()
        clock.advance(minutes=5)
    with db.session() as s:
        alerts = list(s.scalars(select(Alert)))
    assert [a.kind for a in alerts] == ["channel_paused"]
    assert alerts[0].created_at == T0 + timedelta(minutes=25)
    assert "Zalo OA bị tạm dừng: tạm dừng vì gọi quá nhiều lần" in alerts[0].title
    with db.session() as s:
        set_health(s, "zalo", HealthState.OK, actor="w", at=clock())
        s.commit()
    _sender(db, alert_settings, clock).run()
    assert [m["title"] for m in webhook.received] == [
        "[social-publisher] Zalo OA bị tạm dừng: tạm dừng vì gọi quá nhiều lần",
        "[social-publisher] Zalo OA đã hoạt động lại",
    ]


def test_status_lists_what_is_owed_and_the_sender_is_woken_by_the_commit(
    db: Database, alert_settings: Settings, webhook: Webhook
) -> None:
    woken: list[int] = []
    remove = alert_outbox.add_waker(lambda: woken.append(1))
    try:
        clock = Clock()
        _, pub_id = make_post(db, title="Bài chờ")
        assert woken == []  # a commit that wrote no alert wakes nobody
        with db.session() as s:
            pub = s.get(Publication, pub_id)
            assert pub is not None
            transition(s, pub, PubState.PUBLISHING, actor="w", at=clock())
            transition(s, pub, PubState.NEEDS_ATTENTION, actor="w", at=clock(), reason="x")
            s.rollback()
        assert woken == []  # nor a rolled-back one
        _attention(db, pub_id, clock, "Ảnh hỏng.")
        assert woken == [1]  # the daemon's sender runs now, not at its next poll
    finally:
        remove()
    webhook.stop()
    _sender(db, alert_settings, clock).run()
    report = status(db, alert_settings, clock())
    owed = [w for w in report.warnings if w.startswith("Cảnh báo:")]
    assert len(owed) == 1  # mail went out; the webhook (down) is owed
    assert "1 tin chưa gửi được đến 2. json://127.0.0.1" in owed[0]
