"""``zalo token set|refresh|show``: tokens go in, only ages and dates come out."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
import responses
from sqlalchemy import select

from social_publisher.cli import main
from social_publisher.store import Database, PlatformToken

from .conftest import OPENAPI, SandboxRig


def run(argv: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        code = main(["--env-file", "/nonexistent/.env", *argv], out=out, err=err)
    finally:
        sys.stdin = old
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, zalo_env: dict[str, str]) -> dict[str, str]:
    for name, value in zalo_env.items():
        monkeypatch.setenv(name, value)
    return zalo_env


def stored(url: str) -> PlatformToken:
    database = Database(url)
    try:
        with database.session() as session:
            found = session.scalars(select(PlatformToken)).one()
            session.expunge(found)
            return found
    finally:
        database.dispose()


GETOA = f"{OPENAPI}/v2.0/oa/getoa"


def zalo_answer(data: dict[str, object] | None = None, error: int = 0) -> str:
    body: dict[str, object] = {"error": error, "message": "Success" if not error else "refused"}
    if data is not None:
        body["data"] = data
    return json.dumps(body)


@responses.activate
def test_set_reads_two_lines_from_stdin_and_never_echoes_them(cli_env: dict[str, str]) -> None:
    responses.add(responses.GET, GETOA, body=zalo_answer({"oa_id": "1", "name": "Phường Phổ Văn"}))
    code, out, err = run(
        ["zalo", "token", "set"], "\n  secret-access-AAAA  \nsecret-refresh-BBBB\n"
    )
    assert code == 0, err
    assert out.startswith("Zalo đã nhận cặp token: đây là OA “Phường Phổ Văn”.\n")
    assert "Đã lưu cặp token Zalo (thế hệ 1)" in out
    assert responses.calls[0].request.headers["access_token"] == "secret-access-AAAA"
    assert "secret-" not in out + err
    row = stored(cli_env["DATABASE_URL"])
    assert (row.access_token, row.refresh_token) == ("secret-access-AAAA", "secret-refresh-BBBB")

    code, out, err = run(["zalo", "token", "show"])
    assert code == 0, out + err
    assert "Thế hệ cặp token: 1" in out and "(0 ngày trước)" in out
    assert "secret-" not in out + err

    code, out, _ = run(["zalo", "token", "show", "--json"])
    info = json.loads(out)
    assert info["generation"] == 1 and info["has_refresh_token"] is True
    assert "secret-" not in out


@pytest.mark.parametrize(
    ("stdin", "needle"),
    [("only-one-line-token\n", "cần đủ 2 dòng"), ("access token\nrefresh\n", "khoảng trắng")],
)
def test_set_refuses_an_incomplete_pair(cli_env: dict[str, str], stdin: str, needle: str) -> None:
    code, out, err = run(["zalo", "token", "set"], stdin)
    assert code == 2
    assert needle in err
    assert "only-one-line-token" not in out + err


def test_commands_say_when_zalo_is_off(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ZALO_APP_ID", raising=False)
    monkeypatch.delenv("ZALO_APP_SECRET", raising=False)
    code, _, err = run(["zalo", "token", "show"])
    assert code == 1 and "ZALO_APP_ID" in err


def test_show_without_a_token_reports_it(cli_env: dict[str, str]) -> None:
    code, out, _ = run(["zalo", "token", "show"])
    assert code == 1
    assert "Chưa có token Zalo" in out and "zalo token set" in out


def test_refresh_rotates_against_the_sandbox(
    monkeypatch: pytest.MonkeyPatch, sandbox_rig: SandboxRig, tmp_path: Path
) -> None:
    for name, value in sandbox_rig.env.items():
        monkeypatch.setenv(name, value)
    code, _, err = run(["zalo", "token", "set"], "sandbox-zalo-access-0\nsandbox-zalo-refresh-0\n")
    assert code == 0, err
    code, out, err = run(["zalo", "token", "refresh"])
    assert code == 0, err
    assert "Đã làm mới token Zalo (thế hệ 2)" in out
    assert "sandbox-zalo" not in out + err
    row = stored(sandbox_rig.env["DATABASE_URL"])
    assert row.refresh_token == sandbox_rig.zalo.refresh_token
    # The refresh token just used is spent: refreshing with it again is refused, loudly.
    code, out, err = run(
        ["zalo", "token", "set"], "sandbox-zalo-access-0\nsandbox-zalo-refresh-0\n"
    )
    code, out, err = run(["zalo", "token", "refresh"])
    assert code == 1
    assert "zalo token set" in err and "cấp lại quyền" in err


@responses.activate
def test_set_stores_nothing_when_the_proof_is_refused(cli_env: dict[str, str]) -> None:
    responses.add(responses.GET, GETOA, body=zalo_answer(error=-242))
    code, out, err = run(["zalo", "token", "set"], "access-CCCC\nrefresh-DDDD\n")
    assert (code, out) == (1, "")
    assert err == (
        "Không lưu token Zalo: Zalo từ chối chữ ký appsecret_proof: ZALO_APP_SECRET trong .env "
        "không phải khóa bí mật của ứng dụng ZALO_APP_ID. Chưa lưu gì: cặp token đang lưu (nếu "
        "có) vẫn giữ nguyên. Sửa ZALO_APP_SECRET rồi chạy lại lệnh này.\n"
    )


def sandbox_cli(monkeypatch: pytest.MonkeyPatch, rig: SandboxRig) -> None:
    for name, value in rig.env.items():
        monkeypatch.setenv(name, value)


def test_set_tries_the_pair_and_keeps_the_stored_one_when_zalo_refuses(
    monkeypatch: pytest.MonkeyPatch, sandbox_rig: SandboxRig
) -> None:
    sandbox_cli(monkeypatch, sandbox_rig)
    code, out, err = run(
        ["zalo", "token", "set"], "sandbox-zalo-access-0\nsandbox-zalo-refresh-0\n"
    )
    assert code == 0, err
    assert out.startswith("Zalo đã nhận cặp token: đây là OA “Thị xã Đức Phổ”.\n")
    before = sandbox_rig.zalo.refresh_token

    code, out, err = run(["zalo", "token", "set"], "mistyped-access\nmistyped-refresh\n")
    assert (code, out) == (1, "")
    assert err == (
        "Không lưu token Zalo: Zalo không nhận token truy cập vừa nhập (mã -216): token sai, đã "
        "hết hạn (25 giờ sau khi cấp) hoặc thuộc ứng dụng khác. Chưa lưu gì: cặp token đang lưu "
        "(nếu có) vẫn giữ nguyên. Lấy cặp token mới ở API Explorer trên developers.zalo.me (chọn "
        "ứng dụng ZALO_APP_ID và OA của thị xã) rồi chạy lại lệnh này.\n"
    )
    row = stored(sandbox_rig.env["DATABASE_URL"])
    assert (row.access_token, row.refresh_token, row.generation) == (
        "sandbox-zalo-access-0",
        "sandbox-zalo-refresh-0",
        1,
    )
    assert sandbox_rig.zalo.refresh_token == before  # the trial spent no refresh token
    assert "mistyped" not in out + err


def test_set_with_zalo_unreachable_stores_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, sandbox_rig: SandboxRig
) -> None:
    from social_publisher.channels.http import HttpClient

    sandbox_cli(monkeypatch, sandbox_rig)
    original = HttpClient.__init__
    monkeypatch.setattr(
        HttpClient,
        "__init__",
        lambda self, *a, **kw: original(self, *a, **{**kw, "sleep": lambda s: None}),
    )
    host = sandbox_rig.env["ZALO_OPENAPI_URL"].split("//", 1)[1].split("/", 1)[0]
    sandbox_rig.sandbox.stop()
    code, out, err = run(["zalo", "token", "set"], "access-EEEE\nrefresh-FFFF\n")
    assert (code, err) == (0, "")
    assert out.startswith("Đã lưu cặp token Zalo (thế hệ 1).")
    assert out.endswith(
        f"Cảnh báo: Chưa thử được cặp token với Zalo (Không kết nối được tới {host}: máy chủ từ "
        "chối kết nối (không chạy, hoặc sai cổng). Kiểm tra kết nối mạng của máy, hoặc địa chỉ "
        "ZALO_OPENAPI_URL trong .env). Đã lưu cặp token; khi Zalo trả lời được, chạy "
        "'social-publisher doctor' để kiểm tra.\n"
    )
    assert stored(sandbox_rig.env["DATABASE_URL"]).access_token == "access-EEEE"
