"""`doctor` against the sandbox over real sockets, and the Zalo token-age warning in `status`."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

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


def test_doctor_with_channels_off_warns_but_passes(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "queue").mkdir()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("FB_PAGE_ID", "FB_PAGE_ACCESS_TOKEN", "ZALO_APP_ID", "ZALO_APP_SECRET"):
        monkeypatch.delenv(key, raising=False)
    code, out = run("doctor")
    assert code == 0
    assert "[CHÚ Ý] Kênh Facebook đang tắt: thiếu FB_PAGE_ID, FB_PAGE_ACCESS_TOKEN" in out
    assert "[CHÚ Ý] Kênh Zalo đang tắt: thiếu ZALO_APP_ID, ZALO_APP_SECRET trong .env." in out


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
