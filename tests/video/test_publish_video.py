"""A post with a video goes out end to end: queue folder → check → daemon passes → the
sandbox over real sockets, as a Reel, a feed video and a Zalo video article, exactly once."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from social_publisher.config import load_settings
from social_publisher.sandbox import Sandbox
from social_publisher.services.daemon import PassContext, build_context, run_pass
from social_publisher.store import Attempt, Database, Publication

from .conftest import write_clip

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 08:00 in Đức Phổ
DUE = T0 + timedelta(minutes=5)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def write_post(folder: Path, title: str, *extra: str, channels: str = "facebook, zalo") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    local = DUE.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Ho_Chi_Minh"))
    header = [
        f"Tiêu đề: {title}",
        f"Thời gian đăng: {local:%d/%m/%Y %H:%M}",
        f"Kênh: {channels}",
        "Người duyệt: Võ Thanh Hùng",
        *extra,
    ]
    (folder / "bai-viet.txt").write_text(
        "\n".join(header) + f"\n\nNội dung {title}: hướng dẫn dịch vụ công trực tuyến.\n",
        encoding="utf-8",
    )
    return folder


@pytest.fixture(scope="module")
def portrait(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s upright, 540×960 (Reels' least), 30 fps, 2 s GOP: sent as it is."""
    return write_clip(tmp_path_factory.mktemp("doc") / "doc.mp4", width=540, height=960,
                      seconds=20, options={"g": "60"})  # fmt: skip


@pytest.fixture(scope="module")
def landscape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 minutes, 192×108 at 24 fps."""
    return write_clip(tmp_path_factory.mktemp("ngang") / "ngang.mp4", width=192, height=108,
                      seconds=180, fps=24, options={"g": "48"})  # fmt: skip


World = tuple[Sandbox, PassContext, Clock, Database, Path]


@pytest.fixture
def world(tmp_path: Path, env: dict[str, str]) -> Iterator[World]:
    clock = Clock(T0)
    public = tmp_path / "public"
    public.mkdir()
    sandbox = Sandbox(
        public_dir=public,
        clock=clock,
        zalo_processing_seconds=2.0,
        graphvideo_chunk_bytes=64_000,
        graphvideo_processing_polls=1,
        zalovideo_processing_polls=1,
    )
    sandbox.start("127.0.0.1", 0)
    settings = load_settings(
        {**env, **sandbox.env(), "QUEUE_SETTLE_SECONDS": "0"}, dotenv_path=None
    )
    db = Database(settings.database_url)
    db.upgrade()
    ctx = build_context(settings, db, clock=clock, worker="w", rng=random.Random(3))
    try:
        yield sandbox, ctx, clock, db, settings.queue_dir
    finally:
        sandbox.stop()
        db.dispose()


def passes(ctx: PassContext, clock: Clock, n: int = 6, step: float = 20) -> None:
    for _ in range(n):
        run_pass(ctx, clock())
        clock.advance(step)


def states(db: Database) -> dict[tuple[int, str], Publication]:
    with db.session() as s:
        return {(p.post_id, p.channel): p for p in s.scalars(select(Publication))}


def live_videos(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [v for v in sandbox.state()["graph_video"]["videos"] if v["finished"]]


def zalo_video_articles(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [
        a
        for a in sandbox.state()["zalo"]["articles"]
        if a["type"] == "video" and not a["removed"] and a["status"] == "show"
    ]


def test_a_portrait_clip_goes_out_as_a_reel_and_a_zalo_video_article(
    world: World, portrait: Path
) -> None:
    sandbox, ctx, clock, db, queue = world
    folder = write_post(queue / "doc", "Ngày hội chuyển đổi số", "Tiêu đề video: Toàn cảnh")
    (folder / "clip.mp4").write_bytes(portrait.read_bytes())
    clock.now = DUE + timedelta(seconds=1)
    passes(ctx, clock)
    pubs = states(db)
    assert {p.state for p in pubs.values()} <= {"published", "confirmed"}, [
        (p.channel, p.state, p.last_error) for p in pubs.values()
    ]
    (reel,) = live_videos(sandbox)
    assert reel["kind"] == "reel" and reel["title"] == "Toàn cảnh" and reel["published"]
    assert reel["received"] == reel["file_size"]
    fb = next(p for (_, ch), p in pubs.items() if ch == "facebook")
    assert fb.remote_id == reel["post_id"] and fb.remote_url
    (article,) = zalo_video_articles(sandbox)
    zalo = next(p for (_, ch), p in pubs.items() if ch == "zalo")
    assert zalo.remote_id == str(article["id"])
    assert article["video_id"] and article["avatar"].startswith("http")  # a frame of the clip
    with db.session() as s:
        attempts = list(s.scalars(select(Attempt).where(Attempt.action == "create")))
    assert len(attempts) == 2 and all(a.outcome == "ok" for a in attempts)
    steps = {a.details["kind"]: a.details["video"]["step"] for a in attempts}
    assert steps == {"reel": "ready", "zalo": "published"}
    passes(ctx, clock, n=3, step=3600)  # later passes publish nothing again
    assert len(live_videos(sandbox)) == 1 and len(zalo_video_articles(sandbox)) == 1


def test_a_three_minute_landscape_clip_is_a_feed_video_with_its_cover(
    world: World, landscape: Path
) -> None:
    sandbox, ctx, clock, db, queue = world
    folder = write_post(queue / "ngang", "Hội nghị trực tuyến", channels="facebook")
    (folder / "hoi-nghi.mp4").write_bytes(landscape.read_bytes())
    Image.new("RGB", (640, 360), (20, 90, 160)).save(folder / "bia.jpg")
    clock.now = DUE + timedelta(seconds=1)
    passes(ctx, clock)
    (pub,) = states(db).values()
    assert pub.state in ("published", "confirmed"), pub.last_error
    (video,) = live_videos(sandbox)
    assert video["kind"] == "feed" and video["thumb"] and video["published"]
    assert video["received"] == video["file_size"] > 3 * 64_000  # several chunks
    assert pub.remote_id == video["post_id"]
    routes = sandbox.request_counts()["routes"]
    assert routes["POST /graph-video/{version}/{page}/videos"] >= 5  # start, chunks, finish


def test_a_dropped_transfer_and_a_crash_after_start_still_make_one_video(
    world: World, landscape: Path
) -> None:
    sandbox, ctx, clock, db, queue = world
    folder = write_post(queue / "ngang", "Hội nghị trực tuyến", channels="facebook")
    (folder / "hoi-nghi.mp4").write_bytes(landscape.read_bytes())
    sandbox.faults.set("graph.video_transfer=drop:x1,graph.video_finish=500:x1")
    clock.now = DUE + timedelta(seconds=1)
    passes(ctx, clock, n=10, step=60)
    (pub,) = states(db).values()
    assert pub.state in ("published", "confirmed"), pub.last_error
    assert len(live_videos(sandbox)) == 1
    assert len(sandbox.state()["graph_video"]["videos"]) == 1  # one upload, resumed
    with db.session() as s:
        (attempt,) = s.scalars(select(Attempt).where(Attempt.action == "create"))
    # the 500 after the finish was resumed from the committed step, not sent again
    assert attempt.outcome == "ok" and attempt.details["video"]["_resumes"] == 1
    assert [r["remaining"] for r in sandbox.faults.describe()["rules"]] == [0, 0]  # both fired


def test_video_plays_reach_the_monthly_report(
    world: World, portrait: Path, landscape: Path
) -> None:
    from social_publisher.services.engagement import collect
    from social_publisher.services.report import build_report, parse_month
    from social_publisher.store import EngagementSnapshot

    sandbox, ctx, clock, db, queue = world
    folder = write_post(queue / "doc", "Ngày hội chuyển đổi số")
    (folder / "clip.mp4").write_bytes(portrait.read_bytes())
    feed = write_post(queue / "ngang", "Hội nghị trực tuyến", channels="facebook")
    (feed / "hoi-nghi.mp4").write_bytes(landscape.read_bytes())
    Image.new("RGB", (640, 360), (20, 90, 160)).save(feed / "bia.jpg")
    clock.now = DUE + timedelta(seconds=1)
    passes(ctx, clock, n=8)
    pubs = states(db)
    assert all(p.state in ("published", "confirmed") for p in pubs.values())
    by_kind = {v["kind"]: v["id"] for v in live_videos(sandbox)}
    sandbox.graph_video.set_views(by_kind["reel"], 1234)
    sandbox.graph_video.set_views(by_kind["feed"], 56)
    (article,) = zalo_video_articles(sandbox)
    sandbox.zalo.add_views(str(article["id"]), views=78, shares=3)
    settings = ctx.settings
    report = collect(db, settings, now=clock(), everything=True, detect=False)
    assert not report.errors, report.errors
    with db.session() as s:
        views = {
            (p.channel, p.remote_id): snap.views
            for snap in s.scalars(select(EngagementSnapshot))
            for p in [snap.publication]
        }
    assert sorted(views.values()) == [56, 78, 1234], views
    data = build_report(db, settings, parse_month(f"{T0:%m/%Y}", settings.tz), now=clock())
    assert data.totals["facebook"].values["views"] == 1234 + 56
    assert data.totals["zalo"].values["views"] == 78


def test_reels_over_the_daily_limit_wait_without_stopping_the_channel(
    world: World, portrait: Path, landscape: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import social_publisher.channels.facebook_video as fbv

    sandbox, ctx, clock, db, queue = world
    monkeypatch.setattr(fbv, "REELS_PER_DAY", 1)  # the Page's 30, made 1 for the test
    sandbox.graph_video.reels_per_day = 1  # and the sandbox refuses the 2nd as Graph would
    for name in ("mot", "hai"):
        folder = write_post(queue / name, f"Reels {name}", channels="facebook")
        (folder / "clip.mp4").write_bytes(portrait.read_bytes())
    feed = write_post(queue / "ngang", "Hội nghị", channels="facebook")
    (feed / "hoi-nghi.mp4").write_bytes(landscape.read_bytes())
    clock.now = DUE + timedelta(seconds=1)
    passes(ctx, clock, n=4)
    pubs = sorted(states(db).values(), key=lambda p: p.post_id)
    assert [p.state for p in pubs].count("retry_wait") == 1, [(p.state, p.last_error) for p in pubs]
    waiting = next(p for p in pubs if p.state == "retry_wait")
    assert "Reels" in (waiting.last_error or "") and waiting.attempt_count == 0
    assert waiting.next_attempt_at is not None
    assert waiting.next_attempt_at >= DUE + timedelta(hours=23)
    # the feed video went out meanwhile: the limit holds Reels only
    assert sorted(v["kind"] for v in live_videos(sandbox)) == ["feed", "reel"]
    clock.now = waiting.next_attempt_at + timedelta(seconds=1)
    passes(ctx, clock, n=4)
    after = states(db).values()
    assert all(p.state in ("published", "confirmed") for p in after), [
        (p.state, p.last_error, p.next_attempt_at, clock()) for p in after
    ]
    assert sorted(v["kind"] for v in live_videos(sandbox)) == ["feed", "reel", "reel"]


def test_a_refused_finish_cancels_the_upload_so_no_draft_stays(
    world: World, landscape: Path
) -> None:
    sandbox, ctx, clock, db, queue = world
    feed = write_post(queue / "ngang", "Hội nghị", channels="facebook")
    (feed / "hoi-nghi.mp4").write_bytes(landscape.read_bytes())
    sandbox.faults.set("graph.video_finish=code:100:x1")
    clock.now = DUE + timedelta(seconds=1)
    passes(ctx, clock, n=3)
    (pub,) = states(db).values()
    assert pub.state == "needs_attention" and "Facebook" in (pub.attention_reason or "")
    (video,) = sandbox.state()["graph_video"]["videos"]
    assert video["cancelled"] and not video["finished"]
