"""`withdraw --live`: the explicit command that takes a live post down, with its record."""

from __future__ import annotations

from sqlalchemy import select

from social_publisher.services.daemon import build_channels, run_pass
from social_publisher.services.planner import staff_withdraw
from social_publisher.services.takedown import take_down
from social_publisher.store import Attempt, AuditEvent

from .conftest import T0, add_post, pubs
from .test_sandbox_flow import world  # noqa: F401  (the sandbox fixture)


def _live_everywhere(sandbox, ctx, clock, db, folder: str) -> int:  # type: ignore[no-untyped-def]
    post = add_post(db, folder, publish_at=T0, body="Bài sẽ bị gỡ.")
    for _ in range(4):
        run_pass(ctx, clock())
        clock.advance(3)
    assert {p.state for p in pubs(db, post).values()} <= {"published", "confirmed"}
    return post


def test_plain_withdraw_leaves_a_live_post_and_says_how(world) -> None:  # noqa: F811
    sandbox, ctx, clock, db = world
    _live_everywhere(sandbox, ctx, clock, db, "da-dang")
    result = staff_withdraw(db, "da-dang", now=clock(), actor="staff:test")
    assert result.changed == []
    assert any("chạy lại lệnh với --live" in note for note in result.notes)
    assert [p["published"] for p in sandbox.state()["graph"]["posts"]] == [True]


def test_withdraw_live_removes_it_on_both_platforms_with_attempts(world) -> None:  # noqa: F811
    sandbox, ctx, clock, db = world
    post = _live_everywhere(sandbox, ctx, clock, db, "go-bai")
    remote = {name: p.remote_id for name, p in pubs(db, post).items()}
    staff_withdraw(db, "go-bai", now=clock(), actor="staff:test", live=True)
    channels = build_channels(ctx.settings, db, clock=clock)
    result = take_down(db, channels, "go-bai", now=clock(), actor="staff:test")

    assert sorted(result.changed) == ["facebook", "zalo"]
    assert {p.state for p in pubs(db, post).values()} == {"cancelled"}
    state = sandbox.state()
    [fb_post] = [p for p in state["graph"]["posts"] if p["id"] == remote["facebook"]]
    [article] = [a for a in state["zalo"]["articles"] if a["id"] == remote["zalo"]]
    assert fb_post["status"] == "deleted" and article["removed"] is True
    with db.session() as s:
        removes = s.scalars(select(Attempt).where(Attempt.action == "remove")).all()
        assert sorted((a.outcome, a.remote_id) for a in removes) == sorted(
            ("ok", remote[c]) for c in ("facebook", "zalo")
        )
        events = s.scalars(select(AuditEvent).where(AuditEvent.event == "removed_live")).all()
        assert len(events) == 2 and {e.actor for e in events} == {"staff:test"}

    # the daemon never re-posts a withdrawn post
    for _ in range(2):
        clock.advance(30)
        run_pass(ctx, clock())
    assert {p.state for p in pubs(db, post).values()} == {"cancelled"}


def test_nothing_live_says_so(world) -> None:  # noqa: F811
    _sandbox, ctx, clock, db = world
    add_post(db, "chua-dang", publish_at=T0.replace(year=T0.year + 1))
    channels = build_channels(ctx.settings, db, clock=clock)
    result = take_down(db, channels, "chua-dang", now=clock(), actor="staff:test")
    assert result.changed == [] and result.notes == [
        "Bài chưa đăng trên kênh nào: không có gì để gỡ."
    ]
