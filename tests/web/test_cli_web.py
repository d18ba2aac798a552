"""``web user add|passwd|remove|list``, ``run --web`` as a real process, and the rule that
nothing of the console is loaded unless it runs."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from social_publisher.cli import main
from social_publisher.services import accounts
from social_publisher.store import Database

ROOT = Path(__file__).parents[2]


@pytest.fixture
def cli(web_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in web_env.items():
        monkeypatch.setenv(key, value)

    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        out, err = io.StringIO(), io.StringIO()
        code = main(["--env-file", "khong-co.env", *args], out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    return run


def test_user_add_passwd_list_remove(cli: Any, db: Database) -> None:
    code, out, _ = cli(
        "web", "user", "add", "vthung", "--role", "approver", "--full-name", "Võ Thanh Hùng",
        stdin="mat-khau-du-dai-1\n",
    )  # fmt: skip
    assert code == 0 and "Đã thêm tài khoản vthung (Võ Thanh Hùng, người duyệt)" in out
    assert accounts.authenticate(db, "vthung", "mat-khau-du-dai-1", now=_now()) is not None
    code, _, err = cli(
        "web",
        "user",
        "add",
        "vthung",
        "--role",
        "staff",
        "--full-name",
        "X",
        stdin="khac-mat-khau-2\n",
    )
    assert code == 1 and "Đã có tài khoản 'vthung'" in err
    code, _, err = cli(
        "web", "user", "add", "an", "--role", "staff", "--full-name", "An", stdin="ngan\n"
    )
    assert code == 1 and "ít nhất 10 ký tự" in err
    code, out, _ = cli("web", "user", "passwd", "vthung", stdin="mot-mat-khau-moi\n")
    assert code == 0 and "các phiên đang mở đã bị đăng xuất" in out
    assert accounts.authenticate(db, "vthung", "mat-khau-du-dai-1", now=_now()) is None
    [info] = accounts.accounts(db)
    assert info.session_epoch == 2
    with db.engine.connect() as conn:  # only the argon2id hash is stored, never the password
        [stored] = conn.exec_driver_sql("SELECT password_hash FROM web_accounts").scalars()
        dump = "\n".join(conn.connection.iterdump())  # type: ignore[attr-defined]
    assert stored.startswith("$argon2id$") and "mot-mat-khau-moi" not in dump
    code, out, _ = cli("web", "user", "list")
    assert "vthung  Võ Thanh Hùng  người duyệt" in out
    assert cli("web", "user", "remove", "vthung")[0] == 0
    code, _, err = cli("web", "user", "remove", "vthung")
    assert code == 1 and "Không có tài khoản 'vthung'" in err
    with pytest.raises(SystemExit) as bad:
        cli("web", "user", "add", "x", "--role", "boss", "--full-name", "X")
    assert bad.value.code == 2


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_the_console_is_not_loaded_unless_it_runs() -> None:
    probe = (
        "import sys\n"
        "from social_publisher.cli import build_parser\n"
        "build_parser()\n"
        "import social_publisher.services.daemon, social_publisher.services.ingest\n"
        "import social_publisher.services.planner\n"
        "web = ('starlette', 'jinja2', 'uvicorn', 'argon2', 'multipart', 'python_multipart', "
        "'itsdangerous', 'social_publisher.web')\n"
        "print(sorted(m for m in sys.modules if m.startswith(web)))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert found.stdout.strip() == "[]", found.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.e2e
def test_run_web_serves_the_console_from_the_daemon_process(
    web_env: dict[str, str], tmp_path: Path
) -> None:
    port = _free_port()
    env = {**os.environ, **web_env, "WEB_PORT": str(port), "TICK_SECONDS": "3600"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "social_publisher", "--env-file", "khong-co.env", "run", "--web"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/dang-nhap", timeout=2) as r:
                    page = r.read().decode()
                    headers = dict(r.headers)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        assert "Đăng nhập" in page and "default-src 'self'" in headers["content-security-policy"]
        assert "server" not in {k.lower() for k in headers}
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"Trang quản trị: http://127.0.0.1:{port}/" in out


def test_a_console_action_wakes_the_daemon_of_run_web(settings: Any, db: Database) -> None:
    """``run --web``: WakeDaemon makes the daemon run a pass at once, not at the next tick."""
    from social_publisher.services.console_actions import WakeDaemon
    from social_publisher.services.daemon import Daemon, build_context

    daemon = Daemon(build_context(settings, db, channels={}, ingest=False, render=False))
    daemon.background_jobs = False
    daemon.start()  # the first tick runs now; the next one is TICK_SECONDS (30 s) away
    try:
        _wait(lambda: daemon.passes >= 1)
        first = daemon.passes
        note = WakeDaemon(daemon.wake).nudge(1)
        _wait(lambda: daemon.passes > first)
    finally:
        daemon.shutdown()
    assert note == "Tiến trình nền đang thực hiện ngay."


def _wait(done: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


UNITS_TOML = """
[[don_vi]]
id = "phuong-pho-minh"
name = "UBND phường Phổ Minh"

[[don_vi]]
id = "xa-pho-phong"
name = "UBND xã Phổ Phong"
"""


def test_user_add_in_an_install_of_several_units(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ward's account names its unit; a province account says so: never by omission."""
    (tmp_path / "units.toml").write_text(UNITS_TOML, encoding="utf-8")
    monkeypatch.setenv("UNITS_FILE", str(tmp_path / "units.toml"))
    add = ("web", "user", "add")
    an = (*add, "an.pm", "--role", "staff", "--full-name", "Nguyễn Văn An")
    assert cli(*an, stdin="mat-khau-du-dai-1\n") == (
        1, "",
        "Lỗi: Bản cài có 2 đơn vị: thêm --unit ID cho tài khoản của một đơn vị (một trong "
        "phuong-pho-minh, xa-pho-phong), hoặc --all-units cho tài khoản cấp tỉnh xem mọi "
        "đơn vị.\n",
    )  # fmt: skip
    assert cli(*an, "--unit", "phuong-cu", stdin="mat-khau-du-dai-1\n") == (
        1, "",
        "Lỗi: Không có đơn vị “phuong-cu” trong UNITS_FILE. Các đơn vị: phuong-pho-minh, "
        "xa-pho-phong.\n",
    )  # fmt: skip
    assert cli(*an, "--unit", "phuong-pho-minh", "--all-units", stdin="x\n") == (
        1, "",
        "Lỗi: Chọn một trong hai: --unit ID (tài khoản của một đơn vị) hoặc --all-units (tài "
        "khoản cấp tỉnh, xem mọi đơn vị).\n",
    )  # fmt: skip
    assert cli(*an, "--unit", "phuong-pho-minh", stdin="mat-khau-du-dai-1\n") == (
        0,
        "Đã thêm tài khoản an.pm (Nguyễn Văn An, cán bộ, đơn vị phuong-pho-minh).\n",
        "",
    )
    # the global --unit, before the command, names the account's unit as well
    lan = ("--unit", "xa-pho-phong", *add, "lan.pp", "--role", "approver", "--full-name", "Lan")
    assert cli(*lan, stdin="mat-khau-du-dai-1\n")[0] == 0
    tinh = (*add, "tinh", "--role", "admin", "--full-name", "Lê Minh Quân", "--all-units")
    assert cli(*tinh, stdin="mat-khau-du-dai-1\n") == (
        0, "Đã thêm tài khoản tinh (Lê Minh Quân, quản trị, mọi đơn vị).\n", ""
    )  # fmt: skip
    assert cli("web", "user", "list") == (
        0,
        "an.pm  Nguyễn Văn An  cán bộ  đơn vị: phuong-pho-minh (UBND phường Phổ Minh)  "
        "đăng nhập: chưa\n"
        "lan.pp  Lan  người duyệt  đơn vị: xa-pho-phong (UBND xã Phổ Phong)  đăng nhập: chưa\n"
        "tinh  Lê Minh Quân  quản trị  đơn vị: mọi đơn vị  đăng nhập: chưa\n",
        "",
    )
    # passwd and remove need no unit (an account's name is the install's)
    assert cli("web", "user", "passwd", "an.pm", stdin="mot-mat-khau-moi\n")[0] == 0
    assert cli("web", "user", "remove", "lan.pp") == (0, "Đã xóa tài khoản lan.pp.\n", "")


def test_user_add_in_a_one_unit_install_needs_no_unit(cli: Any, db: Database) -> None:
    code, out, _ = cli(
        "web", "user", "add", "an", "--role", "staff", "--full-name", "An",
        stdin="mat-khau-du-dai-1\n",
    )  # fmt: skip
    assert (code, out) == (0, "Đã thêm tài khoản an (An, cán bộ).\n")
    [info] = accounts.accounts(db)
    assert info.unit is None and info.scope().unit is None
    assert cli("web", "user", "list")[1].startswith("an  An  cán bộ  đăng nhập: ")
