"""Look before the first upload: a database that lost its history (a fresh file, an old
backup) finds the video already on the Page / the OA and adopts it, uploading nothing."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from social_publisher.config import load_settings
from social_publisher.services.daemon import build_context
from social_publisher.store import Attempt, Database, Publication

from . import test_publish_video as pv
from .test_publish_video import DUE, World, live_videos, states, write_post, zalo_video_articles
from .test_schedule_video import AT, _post

pytestmark = pytest.mark.e2e

# the end-to-end world and clips of the publishing tests
world, portrait, landscape = pv.world, pv.portrait, pv.landscape


def _lost_history(world: World, tmp_path: Path, env: dict[str, str]) -> tuple[object, Database]:
    """The same queue, sandbox and clock, with a brand-new empty database."""
    sandbox, _, clock, _, _ = world
    fresh = {**env, **sandbox.env(), "QUEUE_SETTLE_SECONDS": "0"}
    fresh["DATABASE_URL"] = f"sqlite:///{tmp_path / 'lost.db'}"
    settings = load_settings(fresh, dotenv_path=None)
    db = Database(settings.database_url)
    db.upgrade()
    return build_context(settings, db, clock=clock, worker="w2", rng=random.Random(4)), db


def _creates(db: Database) -> list[Attempt]:
    with db.session() as s:
        return list(s.scalars(select(Attempt).where(Attempt.action.in_(("create", "schedule")))))


def test_a_published_reel_and_zalo_video_are_found_not_uploaded_again(
    world: World, portrait: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    sandbox, ctx, clock, db, queue = world
    folder = write_post(queue / "doc", "Ngày hội chuyển đổi số")
    (folder / "clip.mp4").write_bytes(portrait.read_bytes())
    clock.now = DUE + timedelta(seconds=1)
    pv.passes(ctx, clock)
    assert len(live_videos(sandbox)) == 1 and len(zalo_video_articles(sandbox)) == 1
    before = {(p.channel, p.remote_id) for p in states(db).values()}
    uploads = sandbox.request_counts()["routes"]

    lost_ctx, lost_db = _lost_history(world, tmp_path, env)
    try:
        pv.passes(lost_ctx, clock)  # type: ignore[arg-type]
        pubs = states(lost_db)
        assert {(p.channel, p.remote_id) for p in pubs.values()} == before
        assert {p.state for p in pubs.values()} <= {"published", "confirmed"}
        assert _creates(lost_db) == []  # nothing sent: adopted by the look first
        with lost_db.session() as s:
            looks = list(s.scalars(select(Attempt).where(Attempt.action == "look_first")))
        assert {a.outcome for a in looks} == {"adopted"} and len(looks) == 2
    finally:
        lost_db.dispose()
    assert len(live_videos(sandbox)) == 1 and len(zalo_video_articles(sandbox)) == 1
    after = sandbox.request_counts()["routes"]
    for route in (
        "POST /{version}/{page}/video_reels",
        "POST /v2.0/article/upload_video/preparevideo",
    ):
        assert after.get(route, 0) == uploads.get(route, 0), route


def test_a_scheduled_feed_video_is_found_among_the_pages_videos(
    world: World, landscape: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    sandbox, ctx, clock, db, queue = world
    _post(queue, "hen-gio", "Lịch tiếp công dân", landscape)
    pv.passes(ctx, clock, n=4)
    (pub,) = states(db).values()
    assert pub.state == "scheduled_remote", pub.last_error
    lost_ctx, lost_db = _lost_history(world, tmp_path, env)
    try:
        pv.passes(lost_ctx, clock, n=4)  # type: ignore[arg-type]
        (lost,) = states(lost_db).values()
        assert lost.state == "scheduled_remote" and lost.remote_id == pub.remote_id
        assert lost.remote_scheduled_for == AT
        assert _creates(lost_db) == []
    finally:
        lost_db.dispose()
    assert len(sandbox.state()["graph_video"]["videos"]) == 1


def test_a_different_video_with_the_same_title_is_not_adopted(
    world: World, landscape: Path
) -> None:
    """Same title, another description: a new feed video, not an adoption."""
    sandbox, ctx, clock, db, queue = world
    folder = write_post(queue / "a", "Hội nghị trực tuyến", channels="facebook")
    (folder / "a.mp4").write_bytes(landscape.read_bytes())
    clock.now = DUE + timedelta(seconds=1)
    pv.passes(ctx, clock)
    folder = queue / "b"
    write_post(folder, "Hội nghị trực tuyến", channels="facebook")
    text = (folder / "bai-viet.txt").read_text(encoding="utf-8")
    (folder / "bai-viet.txt").write_text(text.replace("hướng dẫn", "kết quả"), encoding="utf-8")
    (folder / "b.mp4").write_bytes(landscape.read_bytes())
    pv.passes(ctx, clock)
    pubs = states(db)
    assert len({p.remote_id for p in pubs.values()}) == 2, [
        (p.state, p.remote_id, p.last_error) for p in pubs.values()
    ]
    assert len(live_videos(sandbox)) == 2
    with db.session() as s:
        assert (
            list(s.scalars(select(Publication).where(Publication.state == "needs_attention"))) == []
        )
