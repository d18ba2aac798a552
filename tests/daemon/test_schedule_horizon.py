"""Posts beyond Facebook's scheduling horizon wait in SQL, and are handed over once inside it."""

from __future__ import annotations

from datetime import timedelta

from social_publisher.channels.facebook import FacebookChannel, in_schedule_window
from social_publisher.services.daemon import run_pass

from .conftest import T0, add_post, pubs
from .test_sandbox_flow import world  # noqa: F401  (the sandbox fixture)


def test_horizon_constant_agrees_with_the_window() -> None:
    lead = FacebookChannel.schedule_max_lead
    assert in_schedule_window(T0 + lead, T0)
    assert not in_schedule_window(T0 + lead + timedelta(seconds=1), T0)


def test_post_beyond_the_horizon_is_scheduled_once_inside_it(world) -> None:  # noqa: F811
    sandbox, ctx, clock, db = world
    post = add_post(db, "xa-lam", publish_at=T0 + timedelta(days=40), channels=("facebook",))
    run_pass(ctx, clock())
    assert pubs(db, post)["facebook"].state == "pending"
    assert sandbox.state()["graph"]["posts"] == []

    clock.advance(11 * 24 * 3600)  # now 29 days ahead: inside the window
    run_pass(ctx, clock())
    assert pubs(db, post)["facebook"].state == "scheduled_remote"
    [held] = sandbox.state()["graph"]["posts"]
    assert held["published"] is False
