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
Số  Thư mục   Tiêu đề                                   Bài       Kênh      Đăng           Giờ đăng
2   ngay-cds  Đức Phổ hưởng ứng Ngày Chuyển đổi số qu…  sẵn sàng  facebook  chưa lên lịch  10/12/2026 07:30
                                                                  zalo      kênh tắt       10/12/2026 07:30
3   vneid     VNeID                                     sẵn sàng  zalo      kênh tắt       12/12/2026 08:00
1   loi       Bài lỗi                                   lỗi       facebook  chưa lên lịch  —
                                                                  zalo      kênh tắt       —
    loi/bai-viet.txt:2: Thời gian đăng '12/12/2026' chỉ có ngày, thiếu giờ. Ghi thêm giờ, ví dụ 12/12/2026 07:30.

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
Số  Thư mục   Tiêu đề                                   Bài        Kênh      Đăng                      Giờ đăng
2   ngay-cds  Đức Phổ hưởng ứng Ngày Chuyển đổi số qu…  cần xử lý  facebook  đã hẹn giờ trên Facebook  10/12/2026 07:30
    facebook: https://www.facebook.com/1234567890/posts/42
                                                                   zalo      cần xử lý                 10/12/2026 07:30
    zalo: cần xử lý: Mã truy cập Zalo hết hạn: chạy 'social-publisher zalo token set'.
    zalo: lỗi gần nhất: [zalo, code -216] Access token is invalid
3   vneid     VNeID                                     sẵn sàng   zalo      kênh tắt                  12/12/2026 08:00
1   loi       Bài lỗi                                   lỗi        facebook  chưa lên lịch             —
                                                                   zalo      kênh tắt                  —
    loi/bai-viet.txt:2: Thời gian đăng '12/12/2026' chỉ có ngày, thiếu giờ. Ghi thêm giờ, ví dụ 12/12/2026 07:30.

Kênh:
  facebook: đang hoạt động
  zalo: kênh tắt (thiếu cấu hình ZALO_APP_ID, ZALO_APP_SECRET trong tệp .env)

Cảnh báo:
  Mã Zalo (refresh token) đã dùng 80 ngày, còn 10 ngày nữa hết hạn.
  Không kiểm tra được cảnh báo broken (RuntimeError).

3 bài: 1 cần xử lý, 1 sẵn sàng, 1 lỗi; 1 lượt đăng cần xử lý
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
    assert [(p["number"], p["folder"]) for p in data["posts"]] == [
        (2, "ngay-cds"),
        (3, "vneid"),
        (1, "loi"),
    ]
    ngay = data["posts"][0]
    keys = ("number", "folder", "state", "progress", "label", "approved_by", "publish_at")
    assert {k: ngay[k] for k in (*keys, "problems")} == {
        "number": 2,
        "folder": "ngay-cds",
        "state": "ready",
        "progress": "needs_attention",
        "label": "cần xử lý",
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
    assert data["posts"][2]["problems"][0]["line"] == 2
    assert [c["label"] for c in data["posts"][1]["channels"]] == ["kênh tắt"]


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


# ---------------------------------------------------------------- the real state, numbers, order


def _publications(url: str, rows: dict[str, list[tuple[str, str]]], **post_fields: str) -> None:
    """Publications as the daemon leaves them: folder -> [(channel, state)]."""
    db = Database(url)
    when = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    with db.session() as s:
        posts = {p.folder: p for p in s.query(Post)}
        for folder, pubs in rows.items():
            for channel, state in pubs:
                live = state in ("published", "confirmed")
                s.add(
                    Publication(
                        post_id=posts[folder].id,
                        channel=channel,
                        state=state,
                        due_at=posts[folder].publish_at,
                        remote_id=f"{folder}-{channel}"
                        if live or state == "scheduled_remote"
                        else None,
                        remote_url=f"https://{channel}.example/{folder}" if live else None,
                        published_at=when if live else None,
                    )
                )
        for folder, override in post_fields.items():
            posts[folder.replace("_", "-")].override = override
    db.dispose()


REAL = """\
Số  Thư mục     Tiêu đề     Bài               Kênh      Đăng                      Giờ đăng
6   qua-han     Quá hạn     chờ đăng ngay     facebook  đến giờ đăng              01/11/2026 07:30
2   da-dang-cu  Đã đăng cũ  đã đăng           facebook  đã đăng                   02/11/2026 07:30
    facebook: https://facebook.example/da-dang-cu
1   da-dang     Đã đăng     đã đăng           facebook  đã đăng (đã xác nhận)     20/11/2026 08:00
    facebook: https://facebook.example/da-dang
                                              zalo      đã đăng                   20/11/2026 08:00
    zalo: https://zalo.example/da-dang
5   mot-phan    Một phần    đã đăng một phần  facebook  đã đăng                   21/11/2026 08:00
    facebook: https://facebook.example/mot-phan
                                              zalo      chờ thử lại               21/11/2026 08:00
4   hen-gio     Hẹn giờ     đã hẹn giờ        facebook  đã hẹn giờ trên Facebook  10/12/2026 08:00
3   da-rut      Đã rút      đã hủy            facebook  đã hủy                    12/12/2026 08:00

Kênh:
  facebook: đang hoạt động
  zalo: kênh tắt (thiếu cấu hình ZALO_APP_ID, ZALO_APP_SECRET trong tệp .env)

6 bài: 2 đã đăng, 1 đã đăng một phần, 1 đã hẹn giờ, 1 chờ đăng ngay, 1 đã hủy
"""


def test_status_shows_what_the_database_knows_not_the_folder(
    run_cli: Run,
    write_post: Callable[..., Path],
    facebook_on: None,
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Live posts say so, in time order, with the number publish-now takes."""
    # folders written just now would also wait to settle (tests/daemon/test_settle.py)
    monkeypatch.setenv("QUEUE_SETTLE_SECONDS", "0")
    posts = [
        ("da-dang", "Đã đăng", "20/11/2026 08:00", "facebook, zalo"),
        ("mot-phan", "Một phần", "21/11/2026 08:00", "facebook, zalo"),
        ("hen-gio", "Hẹn giờ", "10/12/2026 08:00", "facebook"),
        ("qua-han", "Quá hạn", "01/11/2026 07:30", "facebook"),  # held, then publish-now
        ("da-dang-cu", "Đã đăng cũ", "02/11/2026 07:30", "facebook"),  # held by the folder
        ("da-rut", "Đã rút", "12/12/2026 08:00", "facebook"),
    ]
    for folder, title, when, channels in posts:
        write_post(folder, HEAD.format(title=title, when=when) + f"Kênh: {channels}\n\nx")
    run_cli("status")
    _publications(
        cli_env["DATABASE_URL"],
        {
            "da-dang": [("facebook", "confirmed"), ("zalo", "published")],
            "mot-phan": [("facebook", "published"), ("zalo", "retry_wait")],
            "hen-gio": [("facebook", "scheduled_remote")],
            "qua-han": [("facebook", "due")],
            "da-dang-cu": [("facebook", "published")],
            "da-rut": [("facebook", "cancelled")],
        },
        qua_han="publish",
        da_rut="withdraw",
    )
    assert run_cli("status") == (0, REAL, "")
    _, out, _ = run_cli("status", "--json")
    shown = [(p["number"], p["state"], p["progress"], p["label"]) for p in json.loads(out)["posts"]]
    assert shown == [
        (6, "held", "publish_now", "chờ đăng ngay"),
        (2, "held", "published", "đã đăng"),
        (1, "held", "published", "đã đăng"),
        (5, "held", "partly_published", "đã đăng một phần"),
        (4, "ready", "scheduled", "đã hẹn giờ"),
        (3, "ready", "withdrawn", "đã hủy"),
    ]


def _filtered_queue(run_cli: Run, write_post: Callable[..., Path], cli_env: dict[str, str]) -> None:
    """26/11/2026 is a Thursday: this week runs from Monday 23/11 to Sunday 29/11."""
    both, facebook = "facebook, zalo", "facebook"
    for folder, when, channels in (
        ("da-dang", "24/11/2026 08:00", both),
        ("tuan-nay", "28/11/2026 08:00", facebook),
        ("token-loi", "27/11/2026 08:00", both),
        ("bi-chan", "29/11/2026 20:00", both),
        ("tuan-sau", "30/11/2026 07:00", facebook),
        ("cho-quyet-dinh", "01/11/2026 07:30", both),
    ):
        write_post(folder, HEAD.format(title=folder, when=when) + f"Kênh: {channels}\n\nx")
    write_post("loi", "Tiêu đề: Bài lỗi\nThời gian đăng: 12/12/2026\n\nx")
    run_cli("status")
    _publications(
        cli_env["DATABASE_URL"],
        {
            "da-dang": [("facebook", "confirmed"), ("zalo", "published")],
            "token-loi": [("facebook", "published"), ("zalo", "needs_attention")],
            "bi-chan": [("facebook", "pending"), ("zalo", "pending")],
            "tuan-nay": [("facebook", "scheduled_remote")],
        },
    )
    db = Database(cli_env["DATABASE_URL"])
    with db.session() as s:
        s.add(ChannelHealth(channel="zalo", state="auth_failed", reason="Zalo -216"))
    db.dispose()


def _folders(run_cli: Run, *flags: str) -> tuple[int, list[str]]:
    code, out, err = run_cli("status", "--json", *flags)
    assert err == ""
    return code, [p["folder"] for p in json.loads(out)["posts"]]


WEEK_ATTENTION = """\
Tuần từ 23/11/2026 đến 29/11/2026.
Số  Thư mục    Tiêu đề    Bài               Kênh      Đăng         Giờ đăng
5   token-loi  token-loi  đã đăng một phần  facebook  đã đăng      27/11/2026 08:00
    facebook: https://facebook.example/token-loi
                                            zalo      cần xử lý    27/11/2026 08:00
1   bi-chan    bi-chan    sẵn sàng          facebook  chờ đến giờ  29/11/2026 20:00
                                            zalo      chờ đến giờ  29/11/2026 20:00

Kênh:
  facebook: đang hoạt động
  zalo: lỗi mã truy cập (token), cần cấp lại — Zalo -216

2 bài: 1 đã đăng một phần, 1 sẵn sàng; 1 lượt đăng cần xử lý
"""


def test_status_filters_upcoming_week_attention(
    run_cli: Run,
    write_post: Callable[..., Path],
    facebook_on: None,
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZALO_APP_ID", "app-1")
    monkeypatch.setenv("ZALO_APP_SECRET", "secret-1")
    monkeypatch.setattr(status_service, "WARNING_SOURCES", [])
    _filtered_queue(run_cli, write_post, cli_env)
    every = ["cho-quyet-dinh", "da-dang", "token-loi", "tuan-nay", "bi-chan", "tuan-sau", "loi"]
    assert _folders(run_cli) == (1, every)
    upcoming = ["cho-quyet-dinh", "token-loi", "tuan-nay", "bi-chan", "tuan-sau", "loi"]
    assert _folders(run_cli, "--upcoming") == (1, upcoming)
    assert _folders(run_cli, "--week") == (1, ["da-dang", "token-loi", "tuan-nay", "bi-chan"])
    # bi-chan: Zalo is blocked until staff give a new token (tuan-nay goes to Facebook only)
    attention = ["cho-quyet-dinh", "token-loi", "bi-chan", "loi"]
    assert _folders(run_cli, "--attention") == (1, attention)
    assert _folders(run_cli, "--week", "--attention") == (1, ["token-loi", "bi-chan"])
    assert _folders(run_cli, "--week", "--upcoming") == (1, ["token-loi", "tuan-nay", "bi-chan"])

    assert run_cli("status", "--week", "--attention") == (1, WEEK_ATTENTION, "")


def test_status_filters_that_match_nothing_say_so(
    run_cli: Run, write_post: Callable[..., Path], facebook_on: None
) -> None:
    write_post("sau", HEAD.format(title="Sau", when="10/12/2026 07:30") + "Kênh: facebook\n\nx")
    code, out, err = run_cli("status", "--attention")
    assert (code, err) == (0, "")
    assert out.startswith("Không có bài nào cần người xử lý.\n\nKênh:\n")
    assert out.endswith("\n0 bài\n")
    code, out, _ = run_cli("status", "--week", "--upcoming")
    assert out.startswith(
        "Tuần từ 23/11/2026 đến 29/11/2026.\nKhông có bài nào chưa đăng, trong tuần này.\n"
    )
