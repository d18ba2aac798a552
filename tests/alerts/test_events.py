"""Which events become alerts, once per occurrence: overdue posts from a real queue scan,
late posts, token age and a failed refresh, the watchdog, the digest, the monthly report."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from social_publisher.channels.base import Diagnosis
from social_publisher.cli import cmd_alerts, main
from social_publisher.config import Settings, load_settings
from social_publisher.services import alert_watch
from social_publisher.services.alert_sender import Sender, apprise_notify
from social_publisher.services.ingest import ingest
from social_publisher.states import HealthState, PubState
from social_publisher.store import (
    Agency,
    Alert,
    Database,
    PlatformToken,
    Post,
    PostVersion,
    Publication,
)
from social_publisher.store.lifecycle import set_health, transition

from .conftest import Clock, Mailbox, Webhook, make_post, secrets_absent

pytestmark = pytest.mark.usefixtures("listening")


def _kinds(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(Alert.kind).order_by(Alert.id)))


def write_post(queue: Path, name: str, when: str, title: str) -> None:
    folder = queue / name
    folder.mkdir(parents=True)
    (folder / "bai-viet.txt").write_text(
        f"Tiêu đề: {title}\nThời gian đăng: {when}\nKênh: facebook\n"
        "Người duyệt: Võ Thanh Hùng\n\nNội dung bài viết về dịch vụ công trực tuyến.\n",
        encoding="utf-8",
    )


def test_overdue_post_found_by_ingest_is_told_once(
    db: Database, alert_settings: Settings, webhook: Webhook
) -> None:
    clock = Clock()
    write_post(alert_settings.queue_dir, "bai-cu", "25/02/2026 08:00", "Thông báo họp dân cũ")
    ingest(db, alert_settings, now=clock())
    ingest(db, alert_settings, now=clock.advance(minutes=1))  # the next pass: no repeat
    assert _kinds(db) == ["overdue"]
    Sender(db, alert_settings, worker="w", clock=clock, notify=apprise_notify).run()
    assert len(webhook.received) == 1
    text = webhook.texts()[0]
    assert "Bài “Thông báo họp dân cũ” quá giờ đăng, đang chờ quyết định" in text
    assert "social-publisher publish-now" in text


def test_late_post_once_and_on_time_post_never(db: Database, alert_settings: Settings) -> None:
    clock = Clock()
    _, late = make_post(db, title="Trễ", due=clock() - timedelta(minutes=11))
    _, on_time = make_post(db, title="Đúng giờ", due=clock() - timedelta(minutes=9))
    for pub_id in (late, on_time):
        with db.session() as s:
            pub = s.get(Publication, pub_id)
            assert pub is not None
            transition(s, pub, PubState.PUBLISHING, actor="w", at=clock())
            pub.published_at = clock()
            transition(s, pub, PubState.PUBLISHED, actor="w", at=clock())
            transition(s, pub, PubState.CONFIRMED, actor="w", at=clock())
            s.commit()
    with db.session() as s:
        assert [a.title for a in s.scalars(select(Alert))] == ["Bài “Trễ” lên Facebook trễ 11 phút"]


def test_zalo_token_age_and_failed_refresh(env: dict[str, str], alert_env: dict[str, str]) -> None:
    settings = load_settings(
        alert_env | {"ZALO_APP_ID": "1234567890", "ZALO_APP_SECRET": "zalo-app-secret-xyz"},
        dotenv_path=None,
    )
    db = Database(settings.database_url)
    db.upgrade()
    clock = Clock()
    with db.session() as s:
        s.add(
            PlatformToken(
                platform="zalo",
                account=settings.zalo_app_id,
                access_token="zalo-access-token-abc",
                refresh_token="zalo-refresh-token-abc",
                refresh_issued_at=clock() - timedelta(days=81),
            )
        )
        s.commit()
    from social_publisher.services.zalo_tokens import account_name

    with db.session() as s:
        row = s.scalars(select(PlatformToken)).one()
        row.account = account_name(settings)
        s.commit()
    alert_watch.check_tokens(db, settings, clock())
    alert_watch.check_tokens(db, settings, clock.advance(hours=1))
    assert _kinds(db) == ["token"]
    with db.session() as s:
        row = s.scalars(select(PlatformToken)).one()
        row.last_error = "Zalo từ chối mã làm mới (-14014): cần cấp lại quyền."
        s.commit()
    alert_watch.check_tokens(db, settings, clock.advance(hours=1))
    alert_watch.check_tokens(db, settings, clock.advance(hours=1))
    with db.session() as s:
        titles = list(s.scalars(select(Alert.title).order_by(Alert.id)))
        bodies = " ".join(s.scalars(select(Alert.body)))
    assert titles == [
        "Zalo OA: mã làm mới token sắp hết hạn",
        "Zalo OA: không làm mới được token",
    ]
    assert "đã dùng 81 ngày, hết hạn ngày 11/03/2026 (còn 9 ngày)" in bodies
    secrets_absent(bodies)
    assert "zalo-refresh-token-abc" not in bodies
    db.dispose()


def test_digest_once_a_day_from_its_hour(
    db: Database, alert_settings: Settings, webhook: Webhook
) -> None:
    clock = Clock(Clock().now.replace(hour=8))  # 15:00 local: before the digest hour
    make_post(db, title="Bài ngày mai", due=clock() + timedelta(hours=20), state="pending")
    _, attention = make_post(db, title="Bài lỗi")
    with db.session() as s:
        pub = s.get(Publication, attention)
        assert pub is not None
        transition(s, pub, PubState.PUBLISHING, actor="w", at=clock())
        transition(s, pub, PubState.NEEDS_ATTENTION, actor="w", at=clock(), reason="x")
        set_health(s, "zalo", HealthState.QUOTA, actor="w", at=clock(), reason="hết hạn mức")
        s.commit()
    assert not alert_watch.daily_digest(db, alert_settings, clock())
    assert alert_watch.daily_digest(db, alert_settings, clock.advance(hours=1, minutes=1))
    assert not alert_watch.daily_digest(db, alert_settings, clock.advance(hours=2))
    with db.session() as s:
        digest = s.scalars(select(Alert).where(Alert.kind == "digest")).one()
    assert digest.title == "Bản tin ngày 02/03/2026"
    assert "- 11:00 Facebook: “Bài ngày mai”" in digest.body
    assert "“Bài lỗi” (số 2) trên Facebook: cần xử lý" in digest.body
    assert "kênh Zalo OA: hết hạn mức đăng bài" in digest.body


def test_monthly_report_attached_to_the_mail(
    db: Database, alert_settings: Settings, mailbox: Mailbox
) -> None:
    folder = alert_settings.report_dir / "bao-cao-2026-02"
    folder.mkdir(parents=True)
    (folder / "bao-cao-2026-02.xlsx").write_bytes(b"PK\x03\x04 bang tinh")
    (folder / "bao-cao-2026-02.docx").write_bytes(b"PK\x03\x04 van ban")
    clock = Clock()
    alert_watch.report_ready(db, alert_settings, folder, clock())
    Sender(db, alert_settings, worker="w", clock=clock, notify=apprise_notify).run()
    assert len(mailbox.messages) == 1
    names = sorted(p.get_filename() for p in mailbox.messages[0].iter_attachments())
    assert names == ["bao-cao-2026-02.docx", "bao-cao-2026-02.xlsx"]


def test_watchdog_and_alerts_test_commands(
    tmp_path: Path,
    alert_env: dict[str, str],
    mailbox: Mailbox,
    webhook: Webhook,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in alert_env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(alert_env, dotenv_path=None)
    env_file = str(tmp_path / "none.env")
    out = io.StringIO()
    assert main(["--env-file", env_file, "alerts", "test"], out=out) == 0
    assert "Đã gửi tin thử đến cả 2 nơi nhận." in out.getvalue()
    assert "[ OK ] 1. mailto://127.0.0.1" in out.getvalue()
    assert len(mailbox.messages) == 1 and len(webhook.received) == 1
    assert "Tin thử cảnh báo" in webhook.texts()[0]

    db = Database(settings.database_url)
    out = io.StringIO()
    assert main(["--env-file", env_file, "doctor", "--alert"], out=out) == 1
    assert "Tiến trình nền không chạy" in out.getvalue()
    assert main(["--env-file", env_file, "doctor", "--alert"], out=io.StringIO()) == 1
    assert len(webhook.received) == 2  # told once, not every cron run
    assert "Tiến trình nền social-publisher đã dừng" in webhook.texts()[1]
    out = io.StringIO()
    assert main(["--env-file", env_file, "alerts", "list"], out=out) == 0
    listed = out.getvalue()
    assert "Tiến trình nền social-publisher đã dừng" in listed
    assert f"    đã gửi 1. mailto://127.0.0.1:{mailbox.port} → lanh.dao@ducpho.gov.vn lúc" in listed
    assert "    đã gửi 2. json://127.0.0.1:" in listed
    secrets_absent(listed)

    from social_publisher.services.daemon import utcnow

    alert_watch.beat(db, "daemon-1", utcnow())
    out = io.StringIO()
    assert main(["--env-file", env_file, "doctor", "--alert"], out=out) == 0
    assert "[ OK ] Tiến trình nền đang chạy" in out.getvalue()

    webhook.stop()
    out = io.StringIO()
    assert main(["--env-file", env_file, "alerts", "test"], out=out) == 1
    assert "[ LỖI ] 2. json://127.0.0.1" in out.getvalue()
    secrets_absent(out.getvalue())
    assert cmd_alerts.clock is not None
    db.dispose()


class _Page:
    """A channel whose ``doctor`` line about the token is given (debug_token's verdict)."""

    def __init__(self, message: str, ok: bool = True, warning: bool = True) -> None:
        self.lines = [Diagnosis("facebook.token", ok, message, warning)]
        self.calls = 0

    def diagnose(self) -> list[Diagnosis]:
        self.calls += 1
        return self.lines


def test_facebook_token_expiry_from_debug_token_once(
    db: Database, alert_settings: Settings
) -> None:
    clock = Clock()
    page = _Page(
        "Mã truy cập hợp lệ nhưng sẽ hết hạn lúc 30/04/2026 08:00: đổi sang mã Trang không "
        "hết hạn (lấy từ mã người dùng dài hạn) để bài hẹn giờ không bị dừng."
    )
    alert_watch.check_facebook_token(db, alert_settings, page, clock())
    alert_watch.check_facebook_token(db, alert_settings, page, clock.advance(hours=3))
    assert page.calls == 1  # once a day: two Graph calls, not every five minutes
    alert_watch.check_facebook_token(db, alert_settings, page, clock.advance(days=1))
    assert page.calls == 2
    with db.session() as s:
        alerts = list(s.scalars(select(Alert)))
    assert [(a.title, a.urgent) for a in alerts] == [
        ("Facebook: mã truy cập Trang sắp hết hạn", False)
    ]
    assert "30/04/2026 08:00" in alerts[0].body
    quiet = _Page("Mã truy cập hợp lệ, đủ quyền đăng bài; thiếu pages_read_user_content …")
    alert_watch.check_facebook_token(db, alert_settings, quiet, clock.advance(days=1))
    with db.session() as s:
        assert len(list(s.scalars(select(Alert)))) == 1


def test_run_once_sends_what_its_pass_raised(
    tmp_path: Path,
    alert_env: dict[str, str],
    webhook: Webhook,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in (alert_env | {"ALERT_URLS": webhook.url, "ALERT_QUIET_HOURS": ""}).items():
        monkeypatch.setenv(key, value)
    write_post(Path(alert_env["QUEUE_DIR"]), "bai-cu", "25/02/2026 08:00", "Họp tổ dân phố")
    env_file = str(tmp_path / "none.env")
    assert main(["--env-file", env_file, "init"], out=io.StringIO()) == 0
    main(["--env-file", env_file, "run", "--once"], out=io.StringIO(), err=io.StringIO())
    assert [m["title"] for m in webhook.received] == [
        "[social-publisher] Bài “Họp tổ dân phố” quá giờ đăng, đang chờ quyết định"
    ]
    main(["--env-file", env_file, "run", "--once"], out=io.StringIO(), err=io.StringIO())
    assert len(webhook.received) == 1


def test_digest_lists_posts_units_have_not_shared(db: Database, alert_settings: Settings) -> None:
    clock = Clock(Clock().now.replace(hour=10))  # 17:00 local
    with db.session() as s:
        s.add_all(
            [
                Agency(id="xa-pho-an", name="UBND xã Phổ An", group="xa"),
                Agency(id="xa-pho-quang", name="UBND xã Phổ Quang", group="xa"),
            ]
        )
        post = Post(folder="bai-da-dang", title="Hướng dẫn nộp hồ sơ trực tuyến")
        s.add(post)
        s.flush()
        version = PostVersion(
            post_id=post.id, content_hash="h" * 64, source_file="bai-viet.txt",
            title=post.title, body="b", share_with=["tat-ca"],
        )  # fmt: skip
        s.add(version)
        s.flush()
        post.current_version_id = version.id
        s.add(
            Publication(
                post_id=post.id, channel="facebook", state="confirmed", version_id=version.id,
                due_at=clock() - timedelta(days=2), published_at=clock() - timedelta(days=2),
                remote_id="1_2", remote_url="https://facebook.com/1_2",
            )
        )  # fmt: skip
        s.commit()
    assert alert_watch.daily_digest(db, alert_settings, clock())
    with db.session() as s:
        body = s.scalars(select(Alert.body)).one()
    assert "Đơn vị chưa chia sẻ (bài 7 ngày qua):" in body
    assert "- “Hướng dẫn nộp hồ sơ trực tuyến”: 2 đơn vị chưa chia sẻ" in body
