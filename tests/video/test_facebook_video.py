"""Facebook feed videos and Reels against the sandbox over real sockets, crashes included."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from social_publisher.channels.facebook import FacebookChannel
from social_publisher.channels.facebook_video import (
    FacebookVideoClient,
    VideoPost,
    VideoUploadState,
)
from social_publisher.config import Settings, load_settings
from social_publisher.errors import InvalidRequestError, OutcomeUnknownError, QuotaError
from social_publisher.sandbox import Sandbox

from .conftest import write_clip

pytestmark = pytest.mark.e2e


class Crash(Exception):
    """The process dies right after the caller committed a step."""


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(graphvideo_chunk_bytes=8_000, graphvideo_processing_polls=2) as box:
        yield box


@pytest.fixture
def fb_settings(sandbox: Sandbox, env: dict[str, str]) -> Settings:
    return load_settings({**env, **sandbox.env()}, dotenv_path=None)


def client(settings: Settings, sandbox: Sandbox) -> FacebookVideoClient:
    return FacebookVideoClient(settings, clock=sandbox.now, sleep=lambda s: None, poll_interval=1)


@pytest.fixture(scope="module")
def feed_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clip = write_clip(tmp_path_factory.mktemp("feed") / "feed.mp4", width=128, height=96,
                      seconds=1, noise=True)  # fmt: skip
    assert clip.stat().st_size > 40_000  # several chunks of 8 KB
    return clip


POST = VideoPost(title="Lễ hội Đức Phổ", description="Video toàn cảnh lễ hội.")


def test_feed_video_goes_out_in_chunks_with_every_step_committed(
    sandbox: Sandbox, fb_settings: Settings, feed_clip: Path
) -> None:
    states: list[VideoUploadState] = []
    final = client(fb_settings, sandbox).upload_feed_video(feed_clip, POST, states.append)
    steps = [s.step for s in states]
    assert steps[0] == "started" and states[0].video_id  # the id is committed before any byte
    assert steps.count("transferring") >= 4
    assert steps[-4:] == ["uploaded", "finishing", "finished", "ready"]
    assert final.post_id == f"{fb_settings.fb_page_id}_{final.post_id.split('_')[1]}"  # type: ignore[union-attr]
    assert final.permalink and final.permalink.startswith("https://www.facebook.com/")
    (video,) = sandbox.graph_video.finished_videos()
    assert bytes(video.data) == feed_clip.read_bytes()
    assert video.post_id == final.post_id
    assert sandbox.graph.post(final.post_id or "")["status"] == "published"
    routes = sandbox.request_counts()["routes"]
    assert routes["POST /graph-video/{version}/{page}/videos"] >= 6  # start, chunks, finish


FEED_STEPS = ["started", "transferring", "uploaded", "finishing", "finished", "ready"]


@pytest.mark.parametrize("crash_after", FEED_STEPS)
def test_a_crash_after_any_step_resumes_to_exactly_one_video(
    sandbox: Sandbox, fb_settings: Settings, feed_clip: Path, crash_after: str
) -> None:
    states: list[VideoUploadState] = []

    def commit_then_die(state: VideoUploadState) -> None:
        states.append(state)
        if state.step == crash_after and sum(s.step == crash_after for s in states) == 1:
            raise Crash

    with pytest.raises(Crash):
        client(fb_settings, sandbox).upload_feed_video(feed_clip, POST, commit_then_die)
    # a new process: a new client, from the last committed state only
    restored = VideoUploadState.from_dict(states[-1].as_dict())
    assert restored.step == crash_after
    final = client(fb_settings, sandbox).resume(feed_clip, POST, restored, states.append)
    assert final.step == "ready"
    finished = sandbox.graph_video.finished_videos()
    assert len(finished) == 1 and bytes(finished[0].data) == feed_clip.read_bytes()
    live = [p for p in sandbox.graph.posts() if p["id"] == final.post_id]
    assert len(live) == 1


def test_a_lost_finish_answer_is_reconciled_not_repeated(
    sandbox: Sandbox, fb_settings: Settings, feed_clip: Path
) -> None:
    sandbox.faults.set("graph.video_finish=drop:x1")
    states: list[VideoUploadState] = []
    with pytest.raises(OutcomeUnknownError):
        client(fb_settings, sandbox).upload_feed_video(feed_clip, POST, states.append)
    assert states[-1].step == "finishing"
    final = client(fb_settings, sandbox).resume(feed_clip, POST, states[-1], states.append)
    assert final.step == "ready"
    assert len(sandbox.graph_video.finished_videos()) == 1
    # one finish reached the platform; the resume only read the status
    assert sandbox.request_counts()["routes"]["GET /{version}/{video-id}"] >= 1


def test_dropped_transfers_and_500s_resume_from_graphs_offsets(
    sandbox: Sandbox, fb_settings: Settings, feed_clip: Path
) -> None:
    sandbox.faults.set("graph.video_transfer=drop:x1,graph.video_transfer=500:x1")
    states: list[VideoUploadState] = []
    final = client(fb_settings, sandbox).upload_feed_video(feed_clip, POST, states.append)
    assert final.step == "ready"
    (video,) = sandbox.graph_video.finished_videos()
    assert bytes(video.data) == feed_clip.read_bytes()  # no chunk twice, none missing


def test_a_wrong_offset_is_corrected_by_graph(
    sandbox: Sandbox, fb_settings: Settings, feed_clip: Path
) -> None:
    states: list[VideoUploadState] = []
    c = client(fb_settings, sandbox)
    with pytest.raises(Crash):

        def die_after_three(state: VideoUploadState) -> None:
            states.append(state)
            if len(states) == 3:
                raise Crash

        c.upload_feed_video(feed_clip, POST, die_after_three)
    # the commit of the third step was lost: resume from the FIRST committed state
    final = client(fb_settings, sandbox).resume(feed_clip, POST, states[0], states.append)
    assert final.step == "ready"
    (video,) = sandbox.graph_video.finished_videos()
    assert bytes(video.data) == feed_clip.read_bytes()


def test_scheduled_feed_video_goes_live_with_the_sandbox_clock(
    sandbox: Sandbox, fb_settings: Settings, feed_clip: Path
) -> None:
    at = sandbox.now() + timedelta(hours=2)
    post = VideoPost(title="Hẹn giờ", description="Video hẹn giờ.", publish_at=at)
    final = client(fb_settings, sandbox).upload_feed_video(feed_clip, post, lambda s: None)
    assert final.scheduled_for == int(at.timestamp())
    (video,) = sandbox.graph_video.finished_videos()
    assert video.post_id and sandbox.graph.post(video.post_id)["status"] == "scheduled"
    sandbox.advance(3 * 3600)
    assert sandbox.graph.post(video.post_id)["status"] == "published"


def test_schedule_outside_the_window_is_refused_before_uploading(
    sandbox: Sandbox, fb_settings: Settings, feed_clip: Path
) -> None:
    post = VideoPost(title="x", description="y", publish_at=sandbox.now() + timedelta(minutes=5))
    with pytest.raises(InvalidRequestError, match="15 phút"):
        client(fb_settings, sandbox).upload_feed_video(feed_clip, post, lambda s: None)
    assert sandbox.request_counts()["total"] == 0


def test_the_plain_graph_host_refuses_video_uploads(
    sandbox: Sandbox, env: dict[str, str], feed_clip: Path
) -> None:
    wrong = {**env, **sandbox.env(), "FB_GRAPH_VIDEO_URL": sandbox.url}
    settings = load_settings(wrong, dotenv_path=None)
    with pytest.raises(InvalidRequestError, match="graph-video"):
        client(settings, sandbox).upload_feed_video(feed_clip, POST, lambda s: None)


def test_the_channel_hands_out_a_video_client(fb_settings: Settings, sandbox: Sandbox) -> None:
    video = FacebookChannel(fb_settings, clock=sandbox.now).video_client()
    assert isinstance(video, FacebookVideoClient)
    assert video.video_url.startswith(sandbox.url + "/graph-video/")


# ---------------------------------------------------------------- reels


@pytest.fixture(scope="module")
def reel_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("reel") / "reel.mp4", width=96, height=160,
                      seconds=0.5, noise=True)  # fmt: skip


@pytest.mark.parametrize("crash_after", ["started", "uploaded", "finishing", "finished", "ready"])
def test_reel_crash_after_any_step_resumes_to_one_reel(
    sandbox: Sandbox, fb_settings: Settings, reel_clip: Path, crash_after: str
) -> None:
    states: list[VideoUploadState] = []

    def commit_then_die(state: VideoUploadState) -> None:
        states.append(state)
        if state.step == crash_after and sum(s.step == crash_after for s in states) == 1:
            raise Crash

    with pytest.raises(Crash):
        client(fb_settings, sandbox).upload_reel(reel_clip, POST, commit_then_die)
    restored = VideoUploadState.from_dict(states[-1].as_dict())
    final = client(fb_settings, sandbox).resume(reel_clip, POST, restored, states.append)
    steps = [s.step for s in states]
    assert steps[:3] == ["started", "uploaded", "finishing"] and "finished" in steps
    assert final.step == "ready" and final.post_id
    (reel,) = sandbox.graph_video.finished_videos("reel")
    assert bytes(reel.data) == reel_clip.read_bytes()
    assert states[0].upload_url and "/rupload/video-upload/" in states[0].upload_url


def test_a_dropped_reel_upload_resumes_at_bytes_transfered(
    sandbox: Sandbox, fb_settings: Settings, reel_clip: Path
) -> None:
    sandbox.faults.set("graph.reel_upload=drop:x1")
    final = client(fb_settings, sandbox).upload_reel(reel_clip, POST, lambda s: None)
    assert final.step == "ready"
    (reel,) = sandbox.graph_video.finished_videos("reel")
    assert bytes(reel.data) == reel_clip.read_bytes()


def test_thirty_reels_a_day_is_a_quota(
    sandbox: Sandbox, fb_settings: Settings, reel_clip: Path
) -> None:
    c = client(fb_settings, sandbox)
    for i in range(30):
        c.upload_reel(reel_clip, VideoPost(title=f"Reel {i}", description="d"), lambda s: None,
                      check_quota=False)  # fmt: skip
    quota = c.reels_quota()
    assert (quota.used, quota.remaining) == (30, 0) and quota.next_free is not None
    with pytest.raises(QuotaError) as caught:
        c.upload_reel(reel_clip, POST, lambda s: None)
    assert caught.value.retry_after and caught.value.retry_after > 23 * 3600
    # the sandbox refuses the 31st too, should a caller skip the check
    with pytest.raises(InvalidRequestError, match="limit"):
        c.upload_reel(reel_clip, POST, lambda s: None, check_quota=False)
    sandbox.advance(24 * 3600 + 60)
    assert c.reels_quota().remaining == 30


def test_a_reel_can_be_scheduled(sandbox: Sandbox, fb_settings: Settings, reel_clip: Path) -> None:
    at = sandbox.now() + timedelta(days=2)
    post = VideoPost(title="Reel hẹn giờ", description="d", publish_at=at)
    final = client(fb_settings, sandbox).upload_reel(reel_clip, post, lambda s: None)
    assert final.scheduled_for == int(at.timestamp())
    (reel,) = sandbox.graph_video.finished_videos("reel")
    assert reel.state == "SCHEDULED"
