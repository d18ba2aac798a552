"""Faults of the machine or its setup get a Vietnamese cause and fix, never "Lỗi ngoài dự
kiến" with English text: a wrong DATABASE_URL, PostgreSQL down, a read-only, damaged or full
database, numbers in settings that are no numbers, ``shares status --days 3000000``."""

from __future__ import annotations

import errno
import io
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from social_publisher.cli import main
from social_publisher.services.failures import explain
from social_publisher.store import Database
from social_publisher.store import db as db_module

POST = (
    "Tiêu đề: Ngày hội CĐS\nThời gian đăng: 10/12/2026 07:30\nKênh: facebook\n"
    "Người duyệt: Võ Thanh Hùng\n\nNội dung.\n"
)


@pytest.fixture
def office(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key in list(os.environ):
        if key.startswith(("FB_", "ZALO_", "DATABASE", "OVERDUE_", "TICK_", "QUEUE_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    Path(env["QUEUE_DIR"]).mkdir(parents=True, exist_ok=True)
    return env


@pytest.fixture
def run(tmp_path: Path) -> Callable[..., tuple[int, str]]:
    def call(*argv: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(["--env-file", str(tmp_path / "none.env"), *argv], out=out, err=err)
        return code, out.getvalue() + err.getvalue()

    return call


def assert_guidance(text: str, *fragments: str) -> None:
    assert "Lỗi ngoài dự kiến" not in text and "Traceback" not in text, text
    for fragment in fragments:
        assert fragment in text, text


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://u@db.local/cds", "loại cơ sở dữ liệu 'mysql' mà công cụ không hỗ trợ"),
        ("postgres://u@127.0.0.1/cds", "viết postgresql+psycopg:// thay cho postgres://"),
        ("đây không phải địa chỉ", "DATABASE_URL không đúng dạng địa chỉ cơ sở dữ liệu"),
    ],
)
def test_a_wrong_database_url(
    office: dict[str, str],
    run: Callable[..., tuple[int, str]],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    fragment: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    code, text = run("status")
    assert code == 1
    assert_guidance(text, "Lỗi: ", fragment, "sqlite:///data/social_publisher.db")


def test_postgresql_down_at_start(
    office: dict[str, str], run: Callable[..., tuple[int, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@127.0.0.1:9/cds?connect_timeout=2")
    code, text = run("status")
    assert code == 1
    assert_guidance(text, "Không kết nối được PostgreSQL 127.0.0.1:9/cds", "máy chủ PostgreSQL")


def test_a_damaged_database_file(
    office: dict[str, str], run: Callable[..., tuple[int, str]]
) -> None:
    path = Path(office["DATABASE_URL"].removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database, just bytes that were once a database " * 200)
    code, text = run("status")
    assert code == 1
    assert_guidance(text, f"Tệp cơ sở dữ liệu {path} bị hỏng", "bản sao lưu")


def make_read_only(path: Path) -> Iterator[None]:
    """Really read-only for this process: immutable as root (``chattr +i``), 0444 otherwise."""
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip("cannot make a file read-only here (chattr unavailable)")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=False)
    else:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)


def test_a_read_only_database_file(
    office: dict[str, str], run: Callable[..., tuple[int, str]], tmp_path: Path
) -> None:
    url = office["DATABASE_URL"]
    database = Database(url)
    database.upgrade()
    database.dispose()
    path = Path(url.removeprefix("sqlite:///"))
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    post = Path(office["QUEUE_DIR"]) / "ngay-hoi"
    post.mkdir()
    (post / "bai-viet.txt").write_text(POST, encoding="utf-8")  # status must record it
    guard = make_read_only(path)
    next(guard)
    try:
        with pytest.raises(OSError):
            path.open("r+b")  # it really is read-only
        code, text = run("status")
    finally:
        next(guard, None)
    assert code == 1
    assert_guidance(text, f"Cơ sở dữ liệu {path} chỉ cho đọc", "cấp quyền ghi")


def test_a_full_disk(
    office: dict[str, str], run: Callable[..., tuple[int, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's own SQLITE_FULL, as on a full disk: the database may not grow by a page."""
    url = office["DATABASE_URL"]
    database = Database(url)
    database.upgrade()
    database.dispose()
    for index in range(40):
        post = Path(office["QUEUE_DIR"]) / f"bai-{index:02d}"
        post.mkdir()
        (post / "bai-viet.txt").write_text(POST + "x" * 2000, encoding="utf-8")
    real = db_module.make_engine

    def full(url: str, **kwargs: Any) -> Any:
        engine = real(url, **kwargs)

        @event.listens_for(engine, "connect")
        def no_room(dbapi_connection: Any, record: Any) -> None:
            pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

        return engine

    monkeypatch.setattr(db_module, "make_engine", full)
    code, text = run("status")
    assert code == 1
    assert_guidance(text, "Ổ đĩa chứa cơ sở dữ liệu", "đã đầy", "giải phóng chỗ trống")
    code, text = run("run", "--once")  # every step of the pass says the same, in Vietnamese
    assert code == 1
    assert_guidance(text, "Lỗi: quét hàng đợi: Ổ đĩa chứa cơ sở dữ liệu")
    assert "OperationalError" not in text


def test_a_full_disk_elsewhere_is_said_plainly() -> None:
    text = explain(OSError(errno.ENOSPC, "No space left on device", "logs/social-publisher.log"))
    assert text is not None and text.startswith(
        "Ổ đĩa đầy: không ghi được logs/social-publisher.log"
    )


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("OVERDUE_GRACE_HOURS", "nan", "cần một số cụ thể (ví dụ 24), không dùng nan hay inf"),
        ("OVERDUE_GRACE_HOURS", "inf", "không dùng nan hay inf"),
        ("OVERDUE_GRACE_HOURS", "1e400", "không dùng nan hay inf"),
        ("OVERDUE_GRACE_HOURS", "-3", "OVERDUE_GRACE_HOURS=-3 không được nhỏ hơn 0"),
        ("ZALO_SETTLE_SECONDS", "-90", "ZALO_SETTLE_SECONDS=-90 không được nhỏ hơn 0"),
        ("QUEUE_SETTLE_SECONDS", "-1", "QUEUE_SETTLE_SECONDS=-1 không được nhỏ hơn 0"),
        ("TICK_SECONDS", "99999999999999999999", "quá lớn: tối đa 86400"),
        ("SHARE_ON_TIME_HOURS", "1e12", "quá lớn: tối đa 8760"),
    ],
)
def test_numbers_in_settings_that_are_no_numbers(
    office: dict[str, str],
    run: Callable[..., tuple[int, str]],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str,
    fragment: str,
) -> None:
    monkeypatch.setenv(name, value)
    code, text = run("check")
    assert code == 1
    assert_guidance(text, f"Lỗi: Cấu hình {name}", fragment)


def test_shares_status_over_three_million_days(
    office: dict[str, str], run: Callable[..., tuple[int, str]]
) -> None:
    code, text = run("shares", "status", "--days", "3000000")
    assert code == 2
    assert_guidance(text, "--days phải từ 1 đến 36500")
