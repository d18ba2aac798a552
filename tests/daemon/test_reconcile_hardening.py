"""Reconciliation that cannot be fooled, over real HTTP against the sandbox, with one
injected clock for the daemon and the sandbox.

* Zalo: two posts with the same title, one create answer dropped: each publication ends up
  on its own article, and ``withdraw --live`` of one leaves the other live (point 3).
* Facebook: a photo post whose create answer was dropped, on a Graph that shows photo
  attachments only by ``type``: adopted, never sent twice (point 4).
* A database that lost its history (a 0-byte file, a restored backup): nothing that already
  went out, or that Facebook already holds, is created again (point 8).
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from social_publisher.config import Settings, load_settings
from social_publisher.sandbox import Sandbox
from social_publisher.services.daemon import PassContext, build_context, run_pass
from social_publisher.services.takedown import take_down
from social_publisher.store import Attempt, Database

from .conftest import T0, Clock, add_post, pubs, write_image

pytestmark = pytest.mark.e2e


@dataclass
class World:
    sandbox: Sandbox
    clock: Clock
    settings: Settings
    db: Database
    make_ctx: Callable[[Database], PassContext]

    def passes(self, ctx: PassContext, count: int, step: float = 3.0) -> None:
        for _ in range(count):
            run_pass(ctx, self.clock())
            self.clock.advance(step)


@pytest.fixture
def world(tmp_path: Path, env: dict[str, str]) -> Iterator[World]:
    clock = Clock(T0)
    public = tmp_path / "public"
    public.mkdir()
    sandbox = Sandbox(public_dir=public, clock=clock, zalo_processing_seconds=2.0)
    sandbox.start("127.0.0.1", 0)
    settings = load_settings({**env, **sandbox.env(), "ZALO_SETTLE_SECONDS": "6"}, dotenv_path=None)
    settings.queue_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    db.upgrade()

    def make_ctx(database: Database) -> PassContext:
        return build_context(
            settings, database, clock=clock, ingest=False, worker="w", rng=random.Random(3)
        )

    try:
        yield World(sandbox, clock, settings, db, make_ctx)
    finally:
        sandbox.stop()
        db.dispose()


def live_articles(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [
        a for a in sandbox.state()["zalo"]["articles"] if not a["removed"] and a["status"] == "show"
    ]


def live_fb(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [p for p in sandbox.state()["graph"]["posts"] if p["published"]]


def article_texts(sandbox: Sandbox, article_id: str) -> list[str]:
    article = sandbox.zalo.article(article_id)
    return [item["content"] for item in article["body"] if item.get("type") == "text"]


# ---------------------------------------------------------------- point 3


def test_two_zalo_posts_with_one_title_each_keep_their_own_article(world: World) -> None:
    title = "Thông báo lịch tiếp công dân"
    first = add_post(
        world.db,
        "tiep-dan-tuan-1",
        publish_at=T0,
        channels=("zalo",),
        title=title,
        body="Lãnh đạo UBND thị xã tiếp công dân sáng thứ Năm, 05/03/2026.",
    )
    second = add_post(
        world.db,
        "tiep-dan-tuan-2",
        publish_at=T0,
        channels=("zalo",),
        title=title,
        body="Lãnh đạo UBND thị xã tiếp công dân sáng thứ Năm, 12/03/2026.",
    )
    world.sandbox.faults.add("zalo.create=drop:x1")  # the first create's answer is lost
    ctx = world.make_ctx(world.db)
    world.passes(ctx, 12)

    articles = live_articles(world.sandbox)
    assert len(articles) == 2  # each post created once
    held = {post: pubs(world.db, post)["zalo"] for post in (first, second)}
    assert {p.state for p in held.values()} <= {"published", "confirmed"}
    assert held[first].remote_id != held[second].remote_id
    assert article_texts(world.sandbox, str(held[first].remote_id)) == [
        "Lãnh đạo UBND thị xã tiếp công dân sáng thứ Năm, 05/03/2026."
    ]
    assert article_texts(world.sandbox, str(held[second].remote_id)) == [
        "Lãnh đạo UBND thị xã tiếp công dân sáng thứ Năm, 12/03/2026."
    ]

    take_down(world.db, ctx.publisher.channels, "tiep-dan-tuan-1", now=world.clock(), actor="t")
    [left] = live_articles(world.sandbox)
    assert left["id"] == held[second].remote_id  # the other week's article is still live


# ---------------------------------------------------------------- point 4


def test_a_photo_post_is_adopted_when_graph_shows_its_photos_only_by_type(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = world.sandbox.graph

    def type_only(post: Any, spec: Any) -> dict[str, Any] | None:
        items = graph._attachments(post)
        return {"data": [{"type": item["type"]} for item in items]} if items else None

    monkeypatch.setattr(graph, "_attachments_field", type_only)
    folder = world.settings.queue_dir / "anh-ra-quan"
    images = [write_image(folder / f"anh-{i}.jpg", seed=i) for i in range(2)]
    post = add_post(
        world.db,
        "anh-ra-quan",
        publish_at=T0,
        channels=("facebook",),
        body="Ra quân hướng dẫn VNeID.",
        images=images,
    )
    world.sandbox.faults.add("graph.feed=drop:x1")  # created, then the answer is lost
    world.passes(world.make_ctx(world.db), 6)

    [live] = live_fb(world.sandbox)  # once, not twice
    assert live["photo_count"] == 2
    pub = pubs(world.db, post)["facebook"]
    assert pub.state in ("published", "confirmed") and pub.remote_id == live["id"]


# ---------------------------------------------------------------- point 8


def test_a_zero_byte_database_publishes_nothing_again(world: World, tmp_path: Path) -> None:
    folder = world.settings.queue_dir / "vneid"
    images = [write_image(folder / "anh.jpg", seed=7)]
    kwargs: dict[str, Any] = {"publish_at": T0, "body": "Mời bà con cài VNeID.", "images": images}
    add_post(world.db, "vneid", **kwargs)
    add_post(world.db, "chu", publish_at=T0, body="Bài chỉ có chữ.")
    world.passes(world.make_ctx(world.db), 8)
    assert len(live_fb(world.sandbox)) == 2 and len(live_articles(world.sandbox)) == 2

    empty = tmp_path / "data" / "zero.db"
    empty.write_bytes(b"")  # a 0-byte file: taken as a new database
    lost = Database(f"sqlite:///{empty}")
    lost.ensure_current()
    try:
        vneid = add_post(lost, "vneid", **kwargs)
        chu = add_post(lost, "chu", publish_at=T0, body="Bài chỉ có chữ.")
        world.clock.advance(600)  # the office restarts ten minutes later
        world.passes(world.make_ctx(lost), 6)
        assert len(live_fb(world.sandbox)) == 2 and len(live_articles(world.sandbox)) == 2
        for post in (vneid, chu):
            for pub in pubs(lost, post).values():
                assert pub.state in ("published", "confirmed") and pub.remote_id
    finally:
        lost.dispose()


@pytest.mark.parametrize("photos", [0, 1, 3])
def test_a_restored_backup_does_not_schedule_a_facebook_post_twice(
    world: World, tmp_path: Path, photos: int
) -> None:
    """Also for photo posts: one photo is scheduled as a ``/feed`` post with one attached
    photo, several as one with many; the strict Graph shows them on ``/scheduled_posts``."""
    due = T0 + timedelta(days=3)
    folder = world.settings.queue_dir / "hen-gio"
    images = [write_image(folder / f"anh-{i}.jpg", seed=20 + i) for i in range(photos)]
    add_post(
        world.db,
        "hen-gio",
        publish_at=due,
        channels=("facebook",),
        body="Ngày hội CĐS.",
        images=images,
    )
    db_file = Path(world.settings.database_url.removeprefix("sqlite:///"))
    backup = tmp_path / "backup.db"
    world.db.dispose()
    shutil.copy(db_file, backup)  # last week's backup: the post not yet handed to Facebook

    run_pass(world.make_ctx(world.db), world.clock())
    [held] = world.sandbox.state()["graph"]["posts"]
    assert held["published"] is False  # Facebook's scheduler holds it

    world.db.dispose()
    for suffix in ("-wal", "-shm"):
        Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, db_file)  # the backup is restored
    restored = Database(world.settings.database_url)
    try:
        world.clock.advance(3600)
        world.passes(world.make_ctx(restored), 3)
        assert len(world.sandbox.state()["graph"]["posts"]) == 1  # not scheduled again
        [pub] = pubs(restored).values()
        assert pub.state == "scheduled_remote" and pub.remote_id == held["id"]
        with restored.session() as session:
            [look] = session.scalars(select(Attempt).where(Attempt.action == "look_first"))
            # found among the scheduled posts, its photos counted (not adopted on text alone)
            assert look.outcome == "adopted" and look.details["before"] == "schedule"
            assert look.details["photos_unverified"] is False
    finally:
        restored.dispose()
