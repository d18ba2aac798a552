"""Fixtures for the Facebook channel and the sandbox: settings, photos, a fake clock."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from social_publisher.channels.base import OutgoingImage, OutgoingPost
from social_publisher.channels.facebook import FacebookChannel
from social_publisher.config import Settings, load_settings
from social_publisher.sandbox import Sandbox

GRAPH = "https://graph.example.test"
VERSION = "v27.0"
BASE = f"{GRAPH}/{VERSION}"
PAGE = "100000000000001"
TOKEN = "unit-page-token-5f0e9a1c"
APP_ID = "4242"
APP_SECRET = "unit-app-secret-77aa01"
NOW = datetime(2024, 10, 9, 1, 0, tzinfo=UTC)


class FakeClock:
    """A clock tests move by hand (shared by the channel and the sandbox)."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def fb_settings(env: dict[str, str]) -> Settings:
    env = {
        **env,
        "FB_GRAPH_URL": GRAPH,
        "FB_GRAPH_VERSION": VERSION,
        "FB_PAGE_ID": PAGE,
        "FB_PAGE_ACCESS_TOKEN": TOKEN,
        "FB_APP_ID": APP_ID,
        "FB_APP_SECRET": APP_SECRET,
    }
    return load_settings(env, dotenv_path=None)


@pytest.fixture
def channel(fb_settings: Settings, clock: FakeClock, sleeps: list[float]) -> FacebookChannel:
    return FacebookChannel(fb_settings, clock=clock, sleep=sleeps.append)


@pytest.fixture
def photos(tmp_path: Path) -> list[OutgoingImage]:
    """Ten small JPEG renditions."""
    out = []
    for index in range(10):
        path = tmp_path / f"anh-{index}.jpg"
        Image.new("RGB", (80, 60), (index * 20, 120, 200)).save(path, "JPEG")
        data = path.read_bytes()
        out.append(OutgoingImage(path, hashlib.sha256(data).hexdigest(), 80, 60, len(data)))
    return out


def make_post(
    title: str = "Ngày Chuyển đổi số quốc gia 10/10",
    body: str = "Hưởng ứng Ngày Chuyển đổi số quốc gia, thị xã Đức Phổ tổ chức nhiều hoạt động.",
    *,
    images: tuple[OutgoingImage, ...] = (),
    link: str | None = None,
    publication_id: int = 1,
) -> OutgoingPost:
    return OutgoingPost(
        publication_id=publication_id,
        content_hash=hashlib.sha256(f"{title}{body}".encode()).hexdigest(),
        title=title,
        body=body,
        publish_at=NOW,
        link=link,
        images=images,
    )


@pytest.fixture
def sandbox_factory(
    env: dict[str, str], clock: FakeClock
) -> Iterator[Callable[..., tuple[Sandbox, FacebookChannel]]]:
    """Start a sandbox (on the fake clock) and a channel pointed at it."""
    started: list[tuple[Sandbox, FacebookChannel]] = []

    def start(
        *, settings_overrides: dict[str, str] | None = None, **options: object
    ) -> tuple[Sandbox, FacebookChannel]:
        sandbox = Sandbox(clock=clock, **options)  # type: ignore[arg-type]
        sandbox.start()
        settings = load_settings(
            {**env, **sandbox.env(), **(settings_overrides or {})}, dotenv_path=None
        )
        fb = FacebookChannel(settings, clock=clock, sleep=lambda _s: None)
        started.append((sandbox, fb))
        return sandbox, fb

    yield start
    for sandbox, fb in started:
        fb.close()
        sandbox.stop()
