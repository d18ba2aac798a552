"""Fixtures for the Zalo channel, its tokens, public media and the sandbox's Zalo half."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from PIL import Image

from social_publisher.channels.base import OutgoingImage, OutgoingPost
from social_publisher.config import Settings, load_settings
from social_publisher.sandbox import Sandbox
from social_publisher.store import Database

OAUTH = "https://oauth.zalo.test"
OPENAPI = "https://openapi.zalo.test"
MEDIA_BASE = "https://media.ducpho.gov.vn/cong-khai"


def public_dns(host: str) -> list[str]:
    """A resolver that never touches the network: every name is a public address."""
    return ["14.225.12.34"]


APP_ID = "app-1234567"
APP_SECRET = "app-secret-abcdef-123456"

#: 09:00 on a Tuesday in Đức Phổ: inside the broadcast hours
DAYTIME = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


class FakeClock:
    """A clock tests move by hand; shared by the channel, the token store and the sandbox."""

    def __init__(self, start: datetime = DAYTIME) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class FakeTokens:
    """A TokenProvider that rotates in memory and records what it was asked."""

    token: str = "access-token-one-0001"
    refreshed: list[str] = field(default_factory=list)
    fail_refresh: Exception | None = None

    def current(self) -> str:
        return self.token

    def refresh(self, stale: str) -> str:
        self.refreshed.append(stale)
        if self.fail_refresh is not None:
            raise self.fail_refresh
        self.token = f"access-token-new-{len(self.refreshed):04d}"
        return self.token


def jpeg_bytes(
    color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 48)
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def make_image(folder: Path, name: str, color: tuple[int, int, int], **kw: Any) -> OutgoingImage:
    data = jpeg_bytes(color)
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return OutgoingImage(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        width=64,
        height=48,
        bytes=len(data),
        **kw,
    )


def serve_folder(folder: Path, *, tamper: bool = False, status: int = 200) -> None:
    """Answer GETs under MEDIA_BASE from ``folder`` (the web server staff would run).

    ``tamper`` serves altered bytes; ``status`` other than 200 answers every GET with it.
    """

    def callback(req: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        if status != 200:
            return status, {}, b"error page"
        path = folder / str(req.url).rsplit("/", 1)[-1]
        if not path.is_file():
            return 404, {}, b"not found"
        data = path.read_bytes()
        return 200, {"Content-Type": "image/jpeg"}, data[:-1] if tamper else data

    responses.add_callback(
        responses.GET, re.compile(re.escape(MEDIA_BASE) + "/.*"), callback=callback
    )


@pytest.fixture
def zalo_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **env,
        "ZALO_APP_ID": APP_ID,
        "ZALO_APP_SECRET": APP_SECRET,
        "ZALO_OAUTH_URL": OAUTH,
        "ZALO_OPENAPI_URL": OPENAPI,
        "PUBLIC_MEDIA_DIR": str(tmp_path / "public"),
        "PUBLIC_MEDIA_BASE_URL": MEDIA_BASE,
    }


@pytest.fixture
def zsettings(zalo_env: dict[str, str]) -> Settings:
    return load_settings(zalo_env, dotenv_path=None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def renditions(tmp_path: Path) -> Callable[..., OutgoingImage]:
    """Makes a JPEG rendition file under a Vietnamese-named folder (as the media cache may)."""
    counter = iter(range(1, 1000))

    def make(color: tuple[int, int, int] | None = None, **kw: Any) -> OutgoingImage:
        n = next(counter)
        return make_image(
            tmp_path / "bộ nhớ đệm", f"ảnh {n}.jpg", color or (n * 20 % 255, 90, 160), **kw
        )

    return make


@pytest.fixture
def make_post() -> Callable[..., OutgoingPost]:
    def make(**overrides: Any) -> OutgoingPost:
        fields: dict[str, Any] = {
            "publication_id": 7,
            "content_hash": "c" * 64,
            "title": "Ngày Chuyển đổi số quốc gia 10/10",
            "body": (
                "Hưởng ứng Ngày Chuyển đổi số quốc gia. Thị xã tổ chức nhiều hoạt động.\n\n"
                "Người dân được hướng dẫn cài đặt VNeID.\n\nBan tổ chức cảm ơn các đơn vị."
            ),
            "publish_at": DAYTIME,
            "link": "https://ducpho.quangngai.gov.vn/cds",
        }
        fields.update(overrides)
        return OutgoingPost(**fields)

    return make


# ---------------------------------------------------------------- the sandbox


@dataclass
class SandboxRig:
    sandbox: Sandbox
    clock: FakeClock
    env: dict[str, str]
    settings: Settings
    db: Database
    public_dir: Path

    @property
    def zalo(self) -> Any:
        return self.sandbox.zalo


@pytest.fixture
def sandbox_rig(
    env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[SandboxRig]:
    """A running sandbox (real socket) with a public folder, and settings pointing at it."""
    options: dict[str, Any] = getattr(request, "param", {}) or {}
    public = tmp_path / "public"
    public.mkdir()
    clock = FakeClock()
    sandbox = Sandbox(public_dir=public, clock=clock, seed=1, **options)
    sandbox.start()
    full_env = {**env, **sandbox.env()}
    settings = load_settings(full_env, dotenv_path=None)
    database = Database(settings.database_url)
    database.upgrade()
    try:
        yield SandboxRig(sandbox, clock, full_env, settings, database, public)
    finally:
        database.dispose()
        sandbox.stop()
