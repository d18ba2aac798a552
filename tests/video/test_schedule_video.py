"""Facebook schedules videos too: a Reel and a feed video handed to Facebook's own
scheduler (``scheduled_remote``), confirmed live at their time; withdrawn before it,
nothing is left on the Page. The sandbox enforces the sheet's windows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from social_publisher.services.daemon import run_pass
from social_publisher.services.planner import staff_withdraw

from . import test_publish_video as pv
from .test_publish_video import T0, World, states

# the end-to-end world and clips of the publishing tests
world, portrait, landscape = pv.world, pv.portrait, pv.landscape

pytestmark = pytest.mark.e2e

AT = T0 + timedelta(days=2, hours=3)


def _post(queue: Path, name: str, title: str, clip: Path, *extra: str) -> Path:
    folder = queue / name
    folder.mkdir(parents=True)
    local = AT.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    header = [
        f"Tiêu đề: {title}",
        f"Thời gian đăng: {local:%d/%m/%Y %H:%M}",
        "Kênh: facebook",
        "Người duyệt: Võ Thanh Hùng",
        *extra,
    ]
    (folder / "bai-viet.txt").write_text(
        "\n".join(header) + f"\n\nNội dung {title}.\n", encoding="utf-8"
    )
    (folder / f"{name}.mp4").write_bytes(clip.read_bytes())
    return folder


def _videos(sandbox) -> list[dict]:  # type: ignore[no-untyped-def]
    return [v for v in sandbox.state()["graph_video"]["videos"] if v["finished"]]


def _live_posts(sandbox) -> list[dict]:  # type: ignore[no-untyped-def]
    return [p for p in sandbox.state()["graph"]["posts"] if p["status"] == "published"]


def _run(world: World, n: int = 4, step: float = 20) -> None:
    _, ctx, clock, _, _ = world
    for _ in range(n):
        run_pass(ctx, clock())
        clock.advance(step)


@pytest.mark.parametrize("form", ["reel", "feed"])
def test_a_video_is_scheduled_on_facebook_and_confirmed_at_its_time(
    world: World, portrait: Path, landscape: Path, form: str
) -> None:
    sandbox, _ctx, clock, db, queue = world
    clip = portrait if form == "reel" else landscape
    _post(queue, "hen-gio", "Lịch tiếp công dân", clip)
    _run(world)
    (pub,) = states(db).values()
    assert pub.state == "scheduled_remote", (pub.state, pub.last_error)
    assert pub.remote_scheduled_for == AT
    (video,) = _videos(sandbox)
    assert video["kind"] == form and not video["published"]
    assert video["scheduled_for"] == AT.isoformat()
    assert video["post_id"] == pub.remote_id
    assert _live_posts(sandbox) == []  # nothing on the Page before its time
    clock.now = AT - timedelta(minutes=5)
    _run(world, n=2)
    assert states(db)[(pub.post_id, "facebook")].state == "scheduled_remote"
    clock.now = AT + timedelta(seconds=30)  # Facebook publishes it; the daemon only confirms
    _run(world, n=3)
    (pub,) = states(db).values()
    assert pub.state == "confirmed", (pub.state, pub.last_error)
    assert pub.published_at == AT and pub.remote_url
    (live,) = _live_posts(sandbox)
    assert live["id"] == pub.remote_id
    assert len(sandbox.state()["graph_video"]["videos"]) == 1  # uploaded once


def test_a_scheduled_video_withdrawn_before_its_time_leaves_nothing_on_the_page(
    world: World, landscape: Path
) -> None:
    sandbox, _ctx, clock, db, queue = world
    _post(queue, "rut", "Thông báo cắt điện", landscape)
    _run(world)
    (pub,) = states(db).values()
    assert pub.state == "scheduled_remote", pub.last_error
    staff_withdraw(db, "rut", now=clock(), actor="staff")
    _run(world)
    (pub,) = states(db).values()
    assert pub.state == "cancelled" and pub.remote_id is None
    (video,) = sandbox.state()["graph_video"]["videos"]
    assert video["cancelled"]
    clock.now = AT + timedelta(minutes=1)
    _run(world, n=3)
    assert _live_posts(sandbox) == []
    assert states(db)[(pub.post_id, "facebook")].state == "cancelled"


def test_a_reel_beyond_29_days_is_not_handed_to_facebook(world: World, portrait: Path) -> None:
    """A Reel 40 days ahead is not handed to Facebook (its scheduler stops at 29 days):
    it waits in the queue, nothing is uploaded."""
    sandbox, _ctx, clock, db, queue = world
    _post(queue, "xa", "Lễ hội cuối năm", portrait)
    clock.now = AT - timedelta(days=40)
    _run(world)
    (pub,) = states(db).values()
    assert pub.state == "pending" and _videos(sandbox) == []


@pytest.mark.parametrize(
    ("form", "ahead", "taken"),
    [
        ("feed", timedelta(minutes=9), False),
        ("feed", timedelta(days=170), True),  # feed videos: up to 6 months
        ("feed", timedelta(days=181), False),
        ("reel", timedelta(minutes=9), False),
        ("reel", timedelta(days=28), True),
        ("reel", timedelta(days=30), False),  # Reels: at most 29 days
    ],
)
def test_the_sandbox_holds_facebook_to_the_sheets_windows(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    tmp_path: Path,
    form: str,
    ahead: timedelta,
    taken: bool,
) -> None:
    """The client's own margins are switched off: only the sandbox decides."""
    from social_publisher.channels.facebook_video import FacebookVideoClient, VideoPost
    from social_publisher.config import load_settings
    from social_publisher.errors import InvalidRequestError
    from social_publisher.sandbox import Sandbox

    from .conftest import write_clip

    clip = write_clip(tmp_path / "c.mp4", width=96, height=160, seconds=0.5, noise=True)
    monkeypatch.setattr(FacebookVideoClient, "_check_window", lambda self, at, window: None)
    with Sandbox(graphvideo_processing_polls=1) as box:
        settings = load_settings({**env, **box.env()}, dotenv_path=None)
        c = FacebookVideoClient(settings, clock=box.now, sleep=lambda s: None, poll_interval=1)
        post = VideoPost(title="t", description="d", publish_at=box.now() + ahead)
        upload = c.upload_feed_video if form == "feed" else c.upload_reel
        if taken:
            assert upload(clip, post, lambda s: None).scheduled_for
        else:
            with pytest.raises(InvalidRequestError, match="scheduled publish time is invalid"):
                upload(clip, post, lambda s: None)
            assert box.graph_video.finished_videos() == []


def test_an_edit_or_publish_now_replaces_the_scheduled_video(world: World, landscape: Path) -> None:
    """Any change to a scheduled video deletes it on the Page and uploads the new version;
    ``publish-now`` deletes it and publishes at once: one live video in the end."""
    from social_publisher.services.planner import staff_publish_now

    sandbox, _ctx, clock, db, queue = world
    folder = _post(queue, "sua", "Thông báo tiêm chủng", landscape)
    _run(world)
    (pub,) = states(db).values()
    assert pub.state == "scheduled_remote", pub.last_error
    first = pub.remote_id
    text = (folder / "bai-viet.txt").read_text(encoding="utf-8")
    (folder / "bai-viet.txt").write_text(text.replace("Nội dung", "Nội dung mới"), "utf-8")
    clock.advance(120)
    _run(world, n=6)
    (pub,) = states(db).values()
    assert pub.state == "scheduled_remote" and pub.remote_id != first, pub.last_error
    videos = sandbox.state()["graph_video"]["videos"]
    assert [v["cancelled"] for v in videos] == [True, False]
    assert "Nội dung mới" in videos[1]["description"]
    staff_publish_now(db, "sua", now=clock(), actor="staff")
    _run(world, n=6)
    (pub,) = states(db).values()
    assert pub.state in ("published", "confirmed"), (pub.state, pub.last_error)
    videos = sandbox.state()["graph_video"]["videos"]
    assert [v["cancelled"] for v in videos] == [True, True, False] and videos[2]["published"]
    (live,) = _live_posts(sandbox)
    assert live["id"] == pub.remote_id


def test_a_scheduled_video_known_only_by_its_video_id_is_confirmed_by_it(
    tmp_path: Path, env: dict[str, str], landscape: Path
) -> None:
    """Whether Graph gives a scheduled video's post id before it is live is unconfirmed:
    without it the video id is recorded, confirmed through the video's status, and the
    post id taken once Facebook has published it."""
    import random

    from social_publisher.config import load_settings
    from social_publisher.sandbox import Sandbox
    from social_publisher.services.daemon import build_context
    from social_publisher.store import Database

    clock = pv.Clock(T0)
    sandbox = Sandbox(
        clock=clock,
        graphvideo_chunk_bytes=64_000,
        graphvideo_processing_polls=1,
        graphvideo_scheduled_post_id=False,
    )
    sandbox.start("127.0.0.1", 0)
    settings = load_settings(
        {**env, **sandbox.env(), "QUEUE_SETTLE_SECONDS": "0"}, dotenv_path=None
    )
    db = Database(settings.database_url)
    db.upgrade()
    ctx = build_context(settings, db, clock=clock, worker="w", rng=random.Random(3))
    here: World = (sandbox, ctx, clock, db, settings.queue_dir)
    try:
        _post(settings.queue_dir, "id-video", "Lịch trực Tết", landscape)
        _run(here)
        (pub,) = states(db).values()
        (video,) = _videos(sandbox)
        assert pub.state == "scheduled_remote" and pub.remote_id == video["id"], pub.last_error
        clock.now = AT + timedelta(seconds=30)
        _run(here, n=3)
        (pub,) = states(db).values()
        assert pub.state == "confirmed", (pub.state, pub.last_error)
        (live,) = _live_posts(sandbox)
        assert pub.remote_id == live["id"] and pub.remote_url
    finally:
        sandbox.stop()
        db.dispose()
