# ruff: noqa: E501  (exact CLI output: staff lines are long)
"""``status`` after an ingest: every post × channel, channel health, warnings; exact output."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from social_publisher.services import status as status_service
from social_publisher.store import ChannelHealth, Database, Post, Publication

Run = Callable[..., tuple[int, str, str]]
HEAD = "Tiêu đề: {title}\nThời gian đăng: {when}\nNgười duyệt: Võ Thanh Hùng\n"


def fill(write_post: Callable[..., Path]) -> None:
    write_post(
        "ngay-cds",
        HEAD.format(
            title="Đức Phổ hưởng ứng Ngày Chuyển đổi số quốc gia 10/10 năm 2026",
            when="10/12/2026 07:30",
        )
        + "\nNội dung.",
    )
    write_post("vneid", HEAD.format(title="VNeID", when="12/12/2026 08:00") + "Kênh: zalo\n\nx")
    write_post("loi", "Tiêu đề: Bài lỗi\nThời gian đăng: 12/12/2026\n\nx")


FIRST = """\
Thư mục   Tiêu đề                                   Bài       Kênh      Đăng           Giờ đăng
loi       Bài lỗi                                   lỗi       facebook  chưa lên lịch  —
                                                              zalo      kênh tắt       —
    loi/bai-viet.txt:2: Thời gian đăng '12/12/2026' chỉ có ngày, thiếu giờ. Ghi thêm giờ, ví dụ 12/12/2026 07:30.
ngay-cds  Đức Phổ hưởng ứng Ngày Chuyển đổi số qu…  sẵn sàng  facebook  chưa lên lịch  10/12/2026 07:30
                                                              zalo      kênh tắt       10/12/2026 07:30
vneid     VNeID                                     sẵn sàng  zalo      kênh tắt       12/12/2026 08:00

Kênh:
  facebook: đang hoạt động
  zalo: kênh tắt (thiếu cấu hình ZALO_APP_ID, ZALO_APP_SECRET trong tệp .env)

3 bài: 2 sẵn sàng, 1 lỗi
"""


@pytest.fixture
def facebook_on(monkeypatch: pytest.MonkeyPatch, cli_env: dict[str, str]) -> None:
    monkeypatch.setenv("FB_PAGE_ID", "1234567890")
    monkeypatch.setenv("FB_PAGE_ACCESS_TOKEN", "EAAB-test-token-value")


def test_status_before_the_daemon_planned_anything(
    run_cli: Run, write_post: Callable[..., Path], facebook_on: None
) -> None:
    fill(write_post)
    assert run_cli("status") == (1, FIRST, "")


def _daemon_did_things(url: str) -> None:
    db = Database(url)
    when = datetime(2026, 12, 10, 0, 30, tzinfo=UTC)
    with db.session() as s:
        posts = {p.folder: p for p in s.query(Post)}
        s.add_all(
            [
                Publication(
                    post_id=posts["ngay-cds"].id,
                    channel="facebook",
                    state="scheduled_remote",
                    due_at=when,
                    remote_id="1234567890_42",
                    remote_url="https://www.facebook.com/1234567890/posts/42",
                ),
                Publication(
                    post_id=posts["ngay-cds"].id,
                    channel="zalo",
                    state="needs_attention",
                    due_at=when,
                    last_error="[zalo, code -216] Access token is invalid",
                    attention_reason="Mã truy cập Zalo hết hạn: chạy 'social-publisher zalo token set'.",
                ),
                ChannelHealth(
                    channel="zalo",
                    state="auth_failed",
                    reason="Zalo -216",
                    blocked_until=datetime(2026, 11, 27, 1, 0, tzinfo=UTC),
                ),
            ]
        )
    db.dispose()


SECOND = """\
Thư mục   Tiêu đề                                   Bài       Kênh      Đăng                      Giờ đăng
loi       Bài lỗi                                   lỗi       facebook  chưa lên lịch             —
                                                              zalo      kênh tắt                  —
    loi/bai-viet.txt:2: Thời gian đăng '12/12/2026' chỉ có ngày, thiếu giờ. Ghi thêm giờ, ví dụ 12/12/2026 07:30.
ngay-cds  Đức Phổ hưởng ứng Ngày Chuyển đổi số qu…  sẵn sàng  facebook  đã hẹn giờ trên Facebook  10/12/2026 07:30
    facebook: https://www.facebook.com/1234567890/posts/42
                                                              zalo      cần xử lý                 10/12/2026 07:30
    zalo: cần xử lý: Mã truy cập Zalo hết hạn: chạy 'social-publisher zalo token set'.
    zalo: lỗi gần nhất: [zalo, code -216] Access token is invalid
vneid     VNeID                                     sẵn sàng  zalo      kênh tắt                  12/12/2026 08:00

Kênh:
  facebook: đang hoạt động
  zalo: kênh tắt (thiếu cấu hình ZALO_APP_ID, ZALO_APP_SECRET trong tệp .env)

Cảnh báo:
  Mã Zalo (refresh token) đã dùng 80 ngày, còn 10 ngày nữa hết hạn.
  Không kiểm tra được cảnh báo broken (RuntimeError).

3 bài: 2 sẵn sàng, 1 lỗi; 1 lượt đăng cần xử lý
"""


def test_status_with_publications_health_and_warnings(
    run_cli: Run,
    write_post: Callable[..., Path],
    facebook_on: None,
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fill(write_post)
    run_cli("status")
    _daemon_did_things(cli_env["DATABASE_URL"])

    def token_age(settings: object, db: object, now: datetime) -> list[str]:
        assert now == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
        return ["Mã Zalo (refresh token) đã dùng 80 ngày, còn 10 ngày nữa hết hạn."]

    def broken(settings: object, db: object, now: datetime) -> list[str]:
        raise RuntimeError("x")

    monkeypatch.setattr(status_service, "WARNING_SOURCES", [token_age, broken])
    assert run_cli("status") == (1, SECOND, "")

    code, out, err = run_cli("status", "--json")
    data = json.loads(out)
    assert (code, err) == (1, "")
    assert data["channels"] == [
        {
            "channel": "facebook",
            "enabled": True,
            "missing": [],
            "health": None,
            "blocked_until": None,
            "reason": None,
        },
        {
            "channel": "zalo",
            "enabled": False,
            "missing": ["ZALO_APP_ID", "ZALO_APP_SECRET"],
            "health": "auth_failed",
            "blocked_until": "2026-11-27T08:00:00+07:00",
            "reason": "Zalo -216",
        },
    ]
    assert data["warnings"] == [
        "Mã Zalo (refresh token) đã dùng 80 ngày, còn 10 ngày nữa hết hạn.",
        "Không kiểm tra được cảnh báo broken (RuntimeError).",
    ]
    ngay = data["posts"][1]
    assert {k: ngay[k] for k in ("folder", "state", "approved_by", "publish_at", "problems")} == {
        "folder": "ngay-cds",
        "state": "ready",
        "approved_by": "Võ Thanh Hùng",
        "publish_at": "2026-12-10T07:30:00+07:00",
        "problems": [],
    }
    assert ngay["channels"] == [
        {
            "channel": "facebook",
            "enabled": True,
            "publication_state": "scheduled_remote",
            "label": "đã hẹn giờ trên Facebook",
            "due_at": "2026-12-10T07:30:00+07:00",
            "remote_id": "1234567890_42",
            "remote_url": "https://www.facebook.com/1234567890/posts/42",
            "last_error": None,
            "attention_reason": None,
            "next_attempt_at": None,
        },
        {
            "channel": "zalo",
            "enabled": False,
            "publication_state": "needs_attention",
            "label": "cần xử lý",
            "due_at": "2026-12-10T07:30:00+07:00",
            "remote_id": None,
            "remote_url": None,
            "last_error": "[zalo, code -216] Access token is invalid",
            "attention_reason": "Mã truy cập Zalo hết hạn: chạy 'social-publisher zalo token set'.",
            "next_attempt_at": None,
        },
    ]
    assert data["posts"][0]["problems"][0]["line"] == 2
    assert [c["label"] for c in data["posts"][2]["channels"]] == ["kênh tắt"]


def test_status_health_when_the_channel_is_on(
    run_cli: Run, write_post: Callable[..., Path], facebook_on: None, cli_env: dict[str, str]
) -> None:
    write_post("a", HEAD.format(title="A", when="10/12/2026 07:30") + "Kênh: facebook\n\nx")
    run_cli("status")
    db = Database(cli_env["DATABASE_URL"])
    with db.session() as s:
        s.add(
            ChannelHealth(
                channel="facebook",
                state="rate_limited",
                reason="code 4",
                blocked_until=datetime(2026, 11, 26, 3, 0, tzinfo=UTC),
            )
        )
    db.dispose()
    code, out, _ = run_cli("status")
    assert code == 0
    assert "\n  facebook: tạm dừng vì gọi quá nhiều lần đến 26/11/2026 10:00 — code 4\n" in out


def test_status_removed_posts_and_missing_queue(
    run_cli: Run, write_post: Callable[..., Path], cli_env: dict[str, str]
) -> None:
    import shutil

    path = write_post("a", HEAD.format(title="A", when="10/12/2026 07:30") + "\nx")
    run_cli("status")
    shutil.rmtree(path)
    assert run_cli("status")[1].startswith("Chưa có bài nào trong hàng đợi.\n")
    shutil.rmtree(cli_env["QUEUE_DIR"])
    code, out, err = run_cli("status")
    assert code == 0 and err == ""
    assert f"Cảnh báo:\n  Không tìm thấy thư mục hàng đợi '{cli_env['QUEUE_DIR']}'." in out


def test_status_empty(run_cli: Run) -> None:
    code, out, _ = run_cli("status", "--json")
    assert code == 0
    assert json.loads(out)["posts"] == []
