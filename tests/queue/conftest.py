"""Helpers for the queue tests: write post folders in any encoding, make small real images."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from social_publisher.cli import main
from social_publisher.queue import ScanOptions

TZ_OPTIONS = ScanOptions(
    timezone="Asia/Ho_Chi_Minh", default_author="Phòng VHTT", default_share_with=("tat-ca",)
)
#: the suite's "now": 26/11/2026 09:00 in Vietnam
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
GRACE = timedelta(hours=24)

GOOD = (
    "Tiêu đề: Ngày Chuyển đổi số quốc gia 10/10\n"
    "Thời gian đăng: 10/12/2026 07:30\n"
    "Kênh: facebook, zalo\n"
    "Người duyệt: Võ Thanh Hùng\n"
    "\n"
    "Hưởng ứng Ngày Chuyển đổi số quốc gia. Câu thứ hai.\n"
    "\n"
    "Đoạn thứ hai.\n"
)


def jpeg_bytes(
    width: int = 240, height: int = 240, colour: tuple[int, int, int] = (20, 90, 160)
) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, "JPEG", quality=70)
    return buf.getvalue()


WritePost = Callable[..., Path]


@pytest.fixture
def queue(tmp_path: Path) -> Path:
    path = tmp_path / "queue"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def write_post(queue: Path) -> WritePost:
    """write_post(folder, text, *, encoding, newline, name, images={name: bytes|None})."""

    def write(
        folder: str,
        text: str = GOOD,
        *,
        encoding: str = "utf-8",
        newline: str = "\n",
        name: str = "bai-viet.txt",
        images: dict[str, bytes | None] | None = None,
    ) -> Path:
        path = queue / folder
        path.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(text.replace("\n", newline).encode(encoding))
        for image, data in (images or {}).items():
            target = path / image
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(jpeg_bytes() if data is None else data)
        return path

    return write


@pytest.fixture
def cli_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """os.environ = the shared ``env`` fixture (channels off), queue folder created."""
    for key in list(os.environ):
        if key.startswith(("FB_", "ZALO_", "PUBLIC_MEDIA_", "DEFAULT_", "OVERDUE_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    Path(env["QUEUE_DIR"]).mkdir(parents=True, exist_ok=True)
    yield env


@pytest.fixture
def run_cli(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str, str]]:
    from social_publisher.cli import cmd_check, cmd_status

    monkeypatch.setattr(cmd_check, "clock", lambda: NOW)
    monkeypatch.setattr(cmd_status, "clock", lambda: NOW)

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(["--env-file", str(tmp_path / "no.env"), *argv], out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    return run


def as_nfd_cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese Windows writes it: base letters precomposed, tones combining."""
    import unicodedata

    tones = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
    out = []
    for ch in text:
        parts = unicodedata.normalize("NFD", ch)
        tone = [c for c in parts if c in tones]
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in tones))
        out.append(base + "".join(tone))
    return "".join(out).encode("cp1258")


@pytest.fixture
def jpeg() -> Callable[..., bytes]:
    return jpeg_bytes


@pytest.fixture
def cp1258_nfd() -> Callable[[str], bytes]:
    return as_nfd_cp1258


@pytest.fixture
def good() -> str:
    """A valid post text (ready, both channels, 10/12/2026 07:30)."""
    return GOOD
