"""Zalo video articles against the sandbox over real sockets, crashes included."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from social_publisher.channels.zalo import ZaloChannel
from social_publisher.channels.zalo_video import (
    ZaloVideoClient,
    ZaloVideoPost,
    ZaloVideoState,
)
from social_publisher.config import Settings, load_settings
from social_publisher.errors import InvalidRequestError, OutcomeUnknownError, ProcessingError
from social_publisher.sandbox import Sandbox
from social_publisher.sandbox.zalo import ACCESS_TOKEN

from .conftest import write_clip

pytestmark = pytest.mark.e2e


class Crash(Exception):
    pass


class Tokens:
    def current(self) -> str:
        return ACCESS_TOKEN

    def refresh(self, stale: str) -> str:
        raise AssertionError("the sandbox token does not expire in these tests")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    public = tmp_path / "public"
    public.mkdir()
    buf = io.BytesIO()
    Image.new("RGB", (320, 180), (30, 90, 160)).save(buf, "JPEG")
    (public / "cover.jpg").write_bytes(buf.getvalue())
    with Sandbox(public_dir=public, zalovideo_processing_polls=2) as box:
        yield box


@pytest.fixture
def zalo_settings(sandbox: Sandbox, env: dict[str, str]) -> Settings:
    return load_settings({**env, **sandbox.env()}, dotenv_path=None)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("zalo") / "clip.mp4", width=96, height=160,
                      seconds=0.5)  # fmt: skip


def video_client(settings: Settings, sandbox: Sandbox, settle: float = 0.0) -> ZaloVideoClient:
    channel = ZaloChannel(
        settings, tokens=Tokens(), clock=sandbox.now, sleep=lambda s: None, settle_window=settle
    )
    client = channel.video_client(poll_interval=1)
    assert isinstance(client, ZaloVideoClient)
    return client


def post(sandbox: Sandbox, title: str = "Video lễ hội Đức Phổ") -> ZaloVideoPost:
    return ZaloVideoPost(
        title=title, description="Toàn cảnh lễ hội.", cover_url=f"{sandbox.url}/media/cover.jpg"
    )


def video_articles(sandbox: Sandbox) -> list[dict[str, object]]:
    return [a for a in sandbox.zalo.state()["articles"] if not a["removed"]]


def test_a_video_article_goes_out_with_every_step_committed(
    sandbox: Sandbox, zalo_settings: Settings, clip: Path
) -> None:
    states: list[ZaloVideoState] = []
    final = video_client(zalo_settings, sandbox).publish(clip, post(sandbox), states.append)
    assert [s.step for s in states] == [
        "uploaded",
        "video_ready",
        "creating",
        "created",
        "published",
    ]
    assert states[0].upload_token and states[1].video_id and states[3].article_token
    assert final.article_id
    (article,) = video_articles(sandbox)
    assert article["id"] == final.article_id and article["status"] == "show"
    assert sandbox.zalo.article(final.article_id)["video_id"] == states[1].video_id
    # listed as a video article only
    c = video_client(zalo_settings, sandbox)
    videos, _ = c.list_video_articles()
    assert [m["id"] for m in videos] == [final.article_id]
    normal, _ = c.channel.list_articles()
    assert normal == []
    # the cover was fetched by "Zalo" from its public URL
    assert any(f["url"].endswith("/media/cover.jpg") and f["ok"] for f in sandbox.zalo.fetches)
    sandbox.zalo.add_views(final.article_id, views=42, shares=3)
    counters = c.fetch_engagement([final.article_id])
    assert (counters[final.article_id].views, counters[final.article_id].shares) == (42, 3)


@pytest.mark.parametrize("crash_after", ["uploaded", "video_ready", "creating", "created"])
def test_a_crash_after_any_step_resumes_to_one_article(
    sandbox: Sandbox, zalo_settings: Settings, clip: Path, crash_after: str
) -> None:
    states: list[ZaloVideoState] = []

    def commit_then_die(state: ZaloVideoState) -> None:
        states.append(state)
        if state.step == crash_after:
            raise Crash

    with pytest.raises(Crash):
        video_client(zalo_settings, sandbox).publish(clip, post(sandbox), commit_then_die)
    restored = ZaloVideoState.from_dict(states[-1].as_dict())
    final = video_client(zalo_settings, sandbox).resume(
        clip, post(sandbox), restored, states.append
    )
    assert final.step == "published"
    (article,) = video_articles(sandbox)
    assert article["id"] == final.article_id
    uploads = sandbox.zalo_video.state()["uploads"]
    assert len(uploads) == 1  # never uploaded twice


def test_a_lost_create_answer_is_found_not_created_again(
    sandbox: Sandbox, zalo_settings: Settings, clip: Path
) -> None:
    sandbox.faults.set("zalo.video_create=drop:x1")
    states: list[ZaloVideoState] = []
    with pytest.raises(OutcomeUnknownError):
        video_client(zalo_settings, sandbox, settle=90).publish(clip, post(sandbox), states.append)
    assert states[-1].step == "creating"
    # not listed while Zalo processes it: no conclusion yet, and no second create
    with pytest.raises(ProcessingError):
        video_client(zalo_settings, sandbox, settle=90).resume(
            clip, post(sandbox), states[-1], states.append
        )
    sandbox.advance(30)  # the sandbox's processing time has passed (its clock, no sleep)
    final = video_client(zalo_settings, sandbox, settle=90).resume(
        clip, post(sandbox), states[-1], states.append
    )
    assert final.step == "published"
    assert len(video_articles(sandbox)) == 1


def test_a_dropped_upload_is_sent_again_safely(
    sandbox: Sandbox, zalo_settings: Settings, clip: Path
) -> None:
    sandbox.faults.set("zalo.preparevideo=drop:x1")
    c = video_client(zalo_settings, sandbox)
    with pytest.raises(Exception, match="tải lại"):
        c.publish(clip, post(sandbox), lambda s: None)
    final = c.publish(clip, post(sandbox), lambda s: None)
    assert final.step == "published" and len(video_articles(sandbox)) == 1


def test_a_file_zalo_cannot_use_fails_processing(
    sandbox: Sandbox, zalo_settings: Settings, tmp_path: Path
) -> None:
    bogus = tmp_path / "clip.mkv"
    write_clip(bogus, container_format="matroska", seconds=0.3, audio=False)
    with pytest.raises(InvalidRequestError, match="trạng thái 4"):
        video_client(zalo_settings, sandbox).publish(bogus, post(sandbox), lambda s: None)
    assert video_articles(sandbox) == []


def test_too_big_for_zalo_is_refused_at_upload(
    sandbox: Sandbox, zalo_settings: Settings, clip: Path
) -> None:
    sandbox.zalo_video.max_bytes = 1000
    with pytest.raises(InvalidRequestError):
        video_client(zalo_settings, sandbox).publish(clip, post(sandbox), lambda s: None)


def test_the_upload_token_travels_in_the_header(
    sandbox: Sandbox, zalo_settings: Settings, clip: Path
) -> None:
    sandbox.zalo_video.require_header_token = True
    final = video_client(zalo_settings, sandbox).publish(clip, post(sandbox), lambda s: None)
    assert final.step == "published"
    assert sandbox.zalo.token_in_query == 0  # the ACCESS token never in a URL
