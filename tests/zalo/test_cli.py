"""``zalo token set|refresh|show``: tokens go in, only ages and dates come out."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from social_publisher.cli import main
from social_publisher.store import Database, PlatformToken

from .conftest import SandboxRig


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


def test_set_reads_two_lines_from_stdin_and_never_echoes_them(cli_env: dict[str, str]) -> None:
    code, out, err = run(
        ["zalo", "token", "set"], "\n  secret-access-AAAA  \nsecret-refresh-BBBB\n"
    )
    assert code == 0, err
    assert "Đã lưu cặp token Zalo (thế hệ 1)" in out
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
