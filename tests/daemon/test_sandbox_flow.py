"""Native scheduling, edits and withdrawals through the real channels and the sandbox,
with one injected clock shared by the daemon and the sandbox (no waiting)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from social_publisher.config import load_settings
from social_publisher.sandbox import Sandbox
from social_publisher.services.daemon import PassContext, build_context, run_pass
from social_publisher.services.planner import staff_withdraw
from social_publisher.store import Database

from .conftest import T0, Clock, add_post, pubs

pytestmark = pytest.mark.e2e


@pytest.fixture
def world(
    tmp_path: Path, env: dict[str, str]
) -> Iterator[tuple[Sandbox, PassContext, Clock, Database]]:
    clock = Clock(T0)
    public = tmp_path / "public"
    public.mkdir()
    sandbox = Sandbox(public_dir=public, clock=clock, zalo_processing_seconds=2.0)
    sandbox.start("127.0.0.1", 0)
    settings = load_settings({**env, **sandbox.env()}, dotenv_path=None)
    db = Database(settings.database_url)
    db.upgrade()
    ctx = build_context(settings, db, clock=clock, ingest=False, worker="w", rng=random.Random(3))
    try:
        yield sandbox, ctx, clock, db
    finally:
        sandbox.stop()
        db.dispose()


def fb_posts(sandbox: Sandbox) -> list[dict]:
    return sandbox.state()["graph"]["posts"]


def test_facebook_holds_it_then_it_is_confirmed(world) -> None:
    sandbox, ctx, clock, db = world
    due = T0 + timedelta(hours=2)
    post = add_post(db, "hen-gio", publish_at=due, body="Mời bà con dùng VNeID.")
    result = run_pass(ctx, clock())
    p = pubs(db, post)
    assert p["facebook"].state == "scheduled_remote" and p["zalo"].state == "pending"
    assert result.next_wakeup == due
    [held] = fb_posts(sandbox)
    assert held["published"] is False and held["scheduled_publish_time"] is not None

    clock.now = due + timedelta(seconds=2)  # Facebook publishes it by itself
    run_pass(ctx, clock())
    p = pubs(db, post)
    assert p["facebook"].state == "confirmed" and p["facebook"].remote_url
    assert p["zalo"].state in ("publishing", "published")  # Zalo: the daemon publishes it
    for _ in range(3):
        clock.advance(3)
        run_pass(ctx, clock())
    assert pubs(db, post)["zalo"].state in ("published", "confirmed")
    assert [x["published"] for x in fb_posts(sandbox)] == [True]
    assert len(sandbox.state()["zalo"]["articles"]) == 1


def test_edit_and_withdraw_reach_the_scheduled_post(world) -> None:
    sandbox, ctx, clock, db = world
    due = T0 + timedelta(days=2)
    post = add_post(db, "sua-roi-rut", publish_at=due, channels=("facebook",), body="Bản đầu.")
    run_pass(ctx, clock())
    remote = pubs(db, post)["facebook"].remote_id
    add_post(db, "sua-roi-rut", publish_at=due, channels=("facebook",), body="Bản đã sửa.")
    clock.advance(60)
    run_pass(ctx, clock())
    [held] = fb_posts(sandbox)
    assert "Bản đã sửa." in held["message"] and pubs(db, post)["facebook"].remote_id == remote
    later = due + timedelta(hours=5)
    add_post(db, "sua-roi-rut", publish_at=later, channels=("facebook",), body="Bản đã sửa.")
    run_pass(ctx, clock())
    [held] = fb_posts(sandbox)
    assert pubs(db, post)["facebook"].remote_scheduled_for == later
    staff_withdraw(db, "sua-roi-rut", now=clock(), actor="staff")
    run_pass(ctx, clock())
    assert pubs(db, post)["facebook"].state == "cancelled"
    assert fb_posts(sandbox) == [] or all(x["status"] == "deleted" for x in fb_posts(sandbox))
