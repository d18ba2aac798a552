"""`doctor` against the sandbox over real sockets, and the Zalo token-age warning in `status`."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from social_publisher.channels.zalo import ZaloOAuthClient
from social_publisher.cli import main
from social_publisher.config import load_settings
from social_publisher.sandbox.server import Sandbox
from social_publisher.services.zalo_tokens import DbTokenStore
from social_publisher.store import Database, utcnow


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    public = tmp_path / "public"
    public.mkdir()
    with Sandbox(public_dir=public) as box:
        box.start()
        yield box


@pytest.fixture
def sandbox_env(
    sandbox: Sandbox, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    (tmp_path / "queue").mkdir()
    full = {**env, **sandbox.env()}
    for key, value in full.items():
        monkeypatch.setenv(key, value)
    return full


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--env-file", "/nonexistent/.env", *args], out=out, err=out)
    return code, out.getvalue()


def test_doctor_all_green_against_the_sandbox(sandbox_env: dict[str, str]) -> None:
    code, out = run("doctor")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("[ OK ] Cơ sở dữ liệu sqlite:///")
    assert "[ OK ] Kết nối Graph API v27.0 tốt" in out
    assert "[ OK ] Gọi API Zalo OA thành công" in out
    assert "[ OK ] Thư mục ảnh công khai được phục vụ đúng" in out
    assert lines[-1] == "Mọi kiểm tra đều đạt."
    for key in (
        "FB_PAGE_ACCESS_TOKEN",
        "ZALO_APP_SECRET",
        "ZALO_ACCESS_TOKEN",
        "ZALO_REFRESH_TOKEN",
    ):
        assert sandbox_env[key] not in out


def test_doctor_reports_a_revoked_page_token_and_exits_1(
    sandbox: Sandbox, sandbox_env: dict[str, str]
) -> None:
    sandbox.graph.revoke_token()
    code, out = run("doctor")
    assert code == 1
    assert "[ LỖI ] Mã truy cập Trang đã hết hạn hoặc bị thu hồi" in out
    assert out.splitlines()[-1].startswith("Có ") and "vấn đề cần sửa" in out
    assert sandbox_env["FB_PAGE_ACCESS_TOKEN"] not in out


def test_doctor_with_both_channels_off_says_nothing_can_be_published(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "queue").mkdir()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("FB_PAGE_ID", "FB_PAGE_ACCESS_TOKEN", "ZALO_APP_ID", "ZALO_APP_SECRET"):
        monkeypatch.delenv(key, raising=False)
    code, out = run("doctor")
    assert code == 1
    assert out.splitlines()[3:] == [
        "[CHÚ Ý] Kênh Facebook đang tắt: thiếu FB_PAGE_ID, FB_PAGE_ACCESS_TOKEN trong .env.",
        "[CHÚ Ý] Kênh Zalo đang tắt: thiếu ZALO_APP_ID, ZALO_APP_SECRET trong .env.",
        "[ LỖI ] Cả hai kênh đều tắt: công cụ không đăng được bài nào. Điền trong tệp .env ít "
        "nhất một kênh (FB_PAGE_ID, FB_PAGE_ACCESS_TOKEN cho Facebook; ZALO_APP_ID, "
        "ZALO_APP_SECRET cho Zalo), rồi chạy lại 'social-publisher doctor'.",
        "[CHÚ Ý] Tiến trình nền chưa chạy: chạy 'social-publisher run' để đăng bài.",
        "Có 1 vấn đề cần sửa.",
    ]


def test_doctor_with_one_channel_off_warns_but_passes(
    sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZALO_APP_ID")
    code, out = run("doctor")
    assert code == 0, out
    assert "[CHÚ Ý] Kênh Zalo đang tắt: thiếu ZALO_APP_ID trong .env." in out
    assert out.splitlines()[-1] == "Mọi kiểm tra đều đạt."


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries of a failed read do not wait (time is injected, tests never sleep)."""
    from social_publisher.channels.http import HttpClient

    original = HttpClient.__init__

    def init(self: HttpClient, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **{**kwargs, "sleep": lambda seconds: None})

    monkeypatch.setattr(HttpClient, "__init__", init)


def test_doctor_with_the_sandbox_down_explains_in_vietnamese(
    sandbox: Sandbox, sandbox_env: dict[str, str], no_backoff: None
) -> None:
    sandbox.stop()
    host = sandbox_env["FB_GRAPH_URL"].split("//", 1)[1].split("/", 1)[0]
    refused = (
        f"Không kết nối được tới {host}: máy chủ từ chối kết nối (không chạy, hoặc sai cổng). "
        "Kiểm tra kết nối mạng của máy, hoặc địa chỉ {setting} trong .env"
    )
    code, out = run("doctor")
    assert code == 1
    lines = out.splitlines()
    assert f"[ LỖI ] Không gọi được Graph API: {refused.format(setting='FB_GRAPH_URL')}." in lines
    assert (
        "[ LỖI ] Không gọi được API Zalo OA: " + refused.format(setting="ZALO_OPENAPI_URL") + "."
    ) in lines
    assert any(
        line.startswith("[ LỖI ] Không tải được ảnh từ địa chỉ công khai ")
        and refused.format(setting="PUBLIC_MEDIA_BASE_URL") in line
        for line in lines
    )
    # the token was never put to Zalo: not called valid, not called refused
    assert not any(line.startswith("[ OK ] Token Zalo") for line in lines)
    for english in ("Max retries", "HTTPConnectionPool", "NewConnectionError", "Errno", "urllib3"):
        assert english not in out


def test_doctor_gives_one_verdict_per_zalo_token(
    sandbox: Sandbox, sandbox_env: dict[str, str]
) -> None:
    """A pair Zalo refuses (stored before ``zalo token set`` tried pairs): one LỖI, no OK."""
    settings = load_settings(sandbox_env, dotenv_path=None)
    db = Database(settings.database_url)
    db.upgrade()
    DbTokenStore(db, settings, ZaloOAuthClient(settings)).set_pair("bad-access", "bad-refresh")
    db.dispose()
    code, out = run("doctor")
    assert code == 1
    zalo = [line for line in out.splitlines() if "Zalo" in line and "PUBLIC_MEDIA" not in line]
    assert zalo == [
        "[ LỖI ] Zalo: Zalo từ chối mã làm mới token (refresh token hết hạn sau 90 ngày, đã "
        "dùng, hoặc bị thu hồi). Kênh Zalo đã dừng. Quản trị viên OA cần vào developers.zalo.me "
        "cấp lại quyền cho ứng dụng (hoặc lấy cặp token mới ở API Explorer), rồi nhập cặp token "
        "mới bằng lệnh `social-publisher zalo token set`.",
    ]


def test_status_and_doctor_warn_from_day_80_of_the_refresh_token(
    sandbox_env: dict[str, str],
) -> None:
    settings = load_settings(sandbox_env, dotenv_path=None)
    db = Database(settings.database_url)
    db.upgrade()
    issued = utcnow() - timedelta(days=81)
    store = DbTokenStore(db, settings, ZaloOAuthClient(settings), clock=lambda: issued)
    store.set_pair(sandbox_env["ZALO_ACCESS_TOKEN"], sandbox_env["ZALO_REFRESH_TOKEN"])
    db.dispose()

    code, out = run("status")
    assert code == 0
    assert "Zalo: mã làm mới token đã 81 ngày tuổi" in out
    # doctor shows the warning once, then its API call refreshes the old pair (which rotates it).
    code, out = run("doctor")
    assert code == 0, out
    assert out.count("Zalo: mã làm mới token đã 81 ngày tuổi") == 1
    assert sandbox_env["ZALO_REFRESH_TOKEN"] not in out
    code, out = run("status")
    assert "ngày tuổi" not in out
