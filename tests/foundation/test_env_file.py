"""``.env`` saved by Notepad in any encoding; a crash handler that never re-reads it (point 7)."""

from __future__ import annotations

import io
import os
import unicodedata
from pathlib import Path

import pytest

from social_publisher import cli
from social_publisher.config import load_settings
from social_publisher.errors import ConfigError

TEXT = "# cấu hình\nQUEUE_DIR=hàng-đợi\nDEFAULT_AUTHOR=Phòng VHTT thị xã Đức Phổ\n"
TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese Windows writes it: base letters precomposed, tones apart."""
    out = []
    for ch in text:
        parts = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in TONES))
        out.append(base + "".join(c for c in parts if c in TONES))
    return "".join(out).encode("cp1258")


@pytest.mark.parametrize(
    "encoded",
    [
        TEXT.encode("utf-8"),
        b"\xef\xbb\xbf" + TEXT.encode("utf-8"),
        TEXT.encode("utf-16"),  # Notepad's "Unicode": UTF-16 with a BOM
        cp1258(TEXT.replace("\n", "\r\n")),  # Notepad's "ANSI" on Vietnamese Windows
    ],
    ids=["utf-8", "utf-8-bom", "utf-16", "windows-1258"],
)
def test_env_is_read_in_every_encoding_notepad_saves(tmp_path: Path, encoded: bytes) -> None:
    env_file = tmp_path / ".env"
    env_file.write_bytes(encoded)
    settings = load_settings({}, dotenv_path=env_file)
    assert settings.default_author == "Phòng VHTT thị xã Đức Phổ"
    assert settings.queue_dir == Path("hàng-đợi")


def run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, out=out, err=err)
    return code, out.getvalue() + err.getvalue()


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith(("FB_", "ZALO_", "DATABASE", "QUEUE_", "LOG_", "DEFAULT_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_an_unreadable_env_is_refused_in_vietnamese_naming_the_file(clean_env: Path) -> None:
    env_file = clean_env / "cau-hinh.env"
    env_file.write_bytes(b"QUEUE_DIR=\x00\xff\xfeq\x00\x81")
    code, text = run(["--env-file", str(env_file), "check"])
    assert code == 1
    assert f"Lỗi: Không đọc được tệp cấu hình {env_file}" in text
    assert "Lưu thành (Save As) với mã hóa UTF-8" in text
    assert "Lỗi ngoài dự kiến" not in text and "Traceback" not in text


def test_a_bad_value_names_its_line_in_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TIMEZONE=Asia/Ho_Chi_Minh\n\nOVERDUE_GRACE_HOURS=-5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, dotenv_path=env_file)
    assert "OVERDUE_GRACE_HOURS=-5 không được nhỏ hơn 0" in caught.value.message
    assert f"dòng 3 của tệp {env_file}" in caught.value.message


def test_the_crash_handler_does_not_read_the_settings_again(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the settings failed unexpectedly: the handler reports it once and writes the
    traceback to the log (LOG_DIR from the environment), instead of failing in its turn."""
    calls: list[object] = []

    def broken(*args: object, **kwargs: object) -> object:
        calls.append(args)
        raise RuntimeError("settings exploded")

    monkeypatch.setattr(cli, "load_settings", broken)
    monkeypatch.setenv("LOG_DIR", str(clean_env / "nhat-ky"))
    code, text = run(["--env-file", str(clean_env / "none.env"), "check"])
    assert code == 1
    assert "Lỗi ngoài dự kiến (RuntimeError): settings exploded" in text
    assert len(calls) == 1
    log = (clean_env / "nhat-ky" / "social-publisher.log").read_text(encoding="utf-8")
    assert "RuntimeError: settings exploded" in log
