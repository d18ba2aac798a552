"""The channel contract: each real channel has the capabilities it claims and no other, the
publisher asks for capabilities only through the protocols, and platform facts live once."""

from __future__ import annotations

import ast
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from social_publisher import platforms
from social_publisher.channels import base
from social_publisher.channels.facebook import FacebookChannel
from social_publisher.channels.zalo import ZaloChannel, ZaloOAuthClient
from social_publisher.config import Settings, load_settings
from social_publisher.queue import scanner
from social_publisher.queue.parser import DESCRIPTION_DEFAULT_MAX, interpret
from social_publisher.services.zalo_tokens import DbTokenStore
from social_publisher.store import Database

PACKAGE = Path(__file__).parents[2] / "social_publisher"
CAPABILITIES = (
    base.SchedulesNatively,
    base.ScheduleHorizon,
    base.ReadsPosts,
    base.CreatesInTwoSteps,
    base.ChecksQuota,
    base.Broadcasts,
    base.RemovesArticles,
    base.CollectsEngagement,
    base.ReadsFeeds,
    base.Diagnoses,
)
EXPECTED = {
    "facebook": {
        base.SchedulesNatively,
        base.ScheduleHorizon,
        base.ReadsPosts,
        base.CollectsEngagement,
        base.ReadsFeeds,
        base.Diagnoses,
    },
    "zalo": {
        base.CreatesInTwoSteps,
        base.ChecksQuota,
        base.Broadcasts,
        base.RemovesArticles,
        base.CollectsEngagement,
        base.Diagnoses,
    },
}


@pytest.fixture
def both(env: dict[str, str], db: Database) -> dict[str, base.Channel]:
    settings: Settings = load_settings(
        {
            **env,
            "FB_PAGE_ID": "1",
            "FB_PAGE_ACCESS_TOKEN": "page-token-for-tests",
            "ZALO_APP_ID": "2",
            "ZALO_APP_SECRET": "zalo-secret-for-tests",
        },
        dotenv_path=None,
    )
    tokens = DbTokenStore(db, settings, ZaloOAuthClient(settings))
    return {"facebook": FacebookChannel(settings), "zalo": ZaloChannel(settings, tokens=tokens)}


@pytest.mark.parametrize("name", ["facebook", "zalo"])
def test_each_channel_has_exactly_the_capabilities_it_claims(
    both: dict[str, base.Channel], name: str
) -> None:
    channel = both[name]
    assert isinstance(channel, base.Channel) and channel.name == name
    assert {c for c in CAPABILITIES if isinstance(channel, c)} == EXPECTED[name]


def test_a_bare_channel_has_no_capability() -> None:
    class Bare:
        name = "bare"

        def publish(self, post: base.OutgoingPost) -> base.RemotePost:
            return base.RemotePost("1")

        def find_published(self, post: base.OutgoingPost, since: object) -> None:
            return None

    assert isinstance(Bare(), base.Channel)
    assert not any(isinstance(Bare(), c) for c in CAPABILITIES)


def test_services_never_probe_a_channel_with_hasattr() -> None:
    offenders = []
    for path in sorted((PACKAGE / "services").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "hasattr":
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


def test_platform_limits_are_the_ones_queue_and_channels_enforce() -> None:
    from social_publisher.channels import facebook, zalo

    assert facebook.MAX_MESSAGE == scanner.FACEBOOK_MAX_CHARS == platforms.FACEBOOK_MAX_CHARS
    assert facebook.MAX_PHOTOS == scanner.FACEBOOK_MAX_PHOTOS == platforms.FACEBOOK_MAX_PHOTOS
    assert scanner.ZALO_LIMITS is platforms.ZALO_LIMITS
    assert zalo.MAX_TITLE == platforms.ZALO_MAX_TITLE == 150 - 10  # docs/api/zalo-oa.md
    assert zalo.MAX_DESCRIPTION == DESCRIPTION_DEFAULT_MAX == platforms.ZALO_MAX_DESCRIPTION
    text = interpret(
        "Tiêu đề: A\nThời gian đăng: 10/12/2026 07:30\nKênh: zalo, facebook\n\nB\n",
        "bai-viet.txt",
        ZoneInfo("Asia/Ho_Chi_Minh"),
    )
    assert text.channels == platforms.CHANNELS  # the queue orders channels as the platforms do
