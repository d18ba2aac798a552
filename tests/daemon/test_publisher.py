"""The state machine against fake channels and a real SQLite database, with an injected clock."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from social_publisher.errors import (
    AuthError,
    DuplicateError,
    InvalidRequestError,
    RateLimitError,
    TransientError,
)
from social_publisher.services.daemon import run_pass
from social_publisher.services.planner import staff_publish_now, staff_retry, staff_withdraw
from social_publisher.store import Attempt, AuditEvent, ChannelHealth, Publication
from social_publisher.store.tenancy import unit_key

from .conftest import T0, add_post, pubs, unknown


def attempts(db, pub_id=None):
    with db.session() as s:
        q = select(Attempt).order_by(Attempt.id)
        if pub_id is not None:
            q = q.where(Attempt.publication_id == pub_id)
        return list(s.scalars(q))


def test_due_post_published_then_confirmed_with_attempts_and_audit(db, make_ctx, clock, fb, zalo):
    post = add_post(db, "ngay-cds", publish_at=T0)
    ctx = make_ctx()
    result = run_pass(ctx, clock())
    p = pubs(db, post)
    assert p["facebook"].state == "published" and p["zalo"].state == "published"
    assert len(fb.live()) == 1 and len(zalo.live()) == 1
    assert sorted(result.steps.published) == sorted([p["facebook"].id, p["zalo"].id])
    fb_attempts = attempts(db, p["facebook"].id)
    assert [(a.action, a.outcome) for a in fb_attempts] == [("create", "ok")]
    assert (
        fb_attempts[0].worker == "w1" and fb_attempts[0].content_hash == p["facebook"].content_hash
    )
    zalo_attempt = attempts(db, p["zalo"].id)[0]
    assert zalo_attempt.details["token"].startswith("tok-")  # committed before verify
    clock.advance(5)
    run_pass(ctx, clock())
    p = pubs(db, post)
    assert p["facebook"].state == "confirmed" and p["zalo"].state == "confirmed"
    assert p["facebook"].remote_url == f"https://example.test/{p['facebook'].remote_id}"
    with db.session() as s:
        trail = [
            (e.details["from"], e.details["to"])
            for e in s.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.publication_id == p["facebook"].id, AuditEvent.event == "transition"
                )
                .order_by(AuditEvent.id)
            )
        ]
    assert trail == [
        ("pending", "due"),
        ("due", "publishing"),
        ("publishing", "published"),
        ("published", "confirmed"),
    ]


def test_future_post_waits_and_wakeup_is_its_due_time(db, make_ctx, clock, fb):
    due = T0 + timedelta(minutes=5)  # inside 10 min: not for Facebook's scheduler
    post = add_post(db, "sap-toi", publish_at=due)
    ctx = make_ctx()
    result = run_pass(ctx, clock())
    assert {p.state for p in pubs(db, post).values()} == {"pending"}
    assert result.next_wakeup == due
    clock.now = due
    run_pass(ctx, clock())
    assert {p.state for p in pubs(db, post).values()} == {"published"}


def test_created_then_dropped_is_adopted_not_reposted(db, make_ctx, clock, fb):
    post = add_post(db, "drop", publish_at=T0, channels=("facebook",))
    fb.script["publish"] = [("after", unknown())]
    ctx = make_ctx()
    run_pass(ctx, clock())
    pub = pubs(db, post)["facebook"]
    assert pub.state == "publishing" and pub.lease_until is not None
    assert [a.outcome for a in attempts(db)] == ["unknown"]
    clock.advance(3)
    result = run_pass(ctx, clock())
    pub = pubs(db, post)["facebook"]
    assert pub.state == "published" and result.steps.adopted == [pub.id]
    assert len(fb.live()) == 1 and pub.remote_id == "facebook-1"
    assert [(a.action, a.outcome) for a in attempts(db)] == [("create", "adopted")]


def test_unknown_and_not_created_is_retried_once_found_missing(db, make_ctx, clock, fb):
    post = add_post(db, "lost", publish_at=T0, channels=("facebook",))
    fb.script["publish"] = [unknown()]
    ctx = make_ctx()
    run_pass(ctx, clock())
    clock.advance(3)
    run_pass(ctx, clock())  # reconcile: not there -> retry_wait with backoff
    pub = pubs(db, post)["facebook"]
    assert pub.state == "retry_wait" and pub.attempt_count == 1
    assert 30 <= (pub.next_attempt_at - clock()).total_seconds() <= 60
    clock.now = pub.next_attempt_at
    run_pass(ctx, clock())
    assert pubs(db, post)["facebook"].state == "published"
    assert len(fb.live()) == 1
    outcomes = [(a.action, a.outcome) for a in attempts(db)]
    assert outcomes == [("create", "unknown"), ("reconcile", "not_found"), ("create", "ok")]


def test_crash_between_attempt_row_and_call_is_reconciled_then_published(db, make_ctx, clock, fb):
    post = add_post(db, "crash1", publish_at=T0, channels=("facebook",))
    ctx = make_ctx()
    from social_publisher.services.planner import plan

    plan(db, now=clock())
    pub_id = pubs(db, post)["facebook"].id
    # A dead worker claimed it and committed its attempt row, then died before the call.
    with db.session() as s:
        s.execute(
            update(Publication)
            .where(Publication.id == pub_id)
            .values(
                state="publishing", claimed_by="dead", lease_until=clock() + timedelta(minutes=5)
            )
        )
        s.add(Attempt(publication_id=pub_id, action="create", worker="dead", started_at=clock()))
    run_pass(ctx, clock())  # single SQLite daemon: a claim that is not ours is a dead worker's
    pub = pubs(db, post)["facebook"]
    assert pub.state == "published" and len(fb.live()) == 1
    assert [a.outcome for a in attempts(db)][:2] == ["not_found", "not_found"]


def test_crash_after_call_before_result_adopts(db, make_ctx, clock, fb):
    post = add_post(db, "crash2", publish_at=T0, channels=("facebook",))
    from social_publisher.services.planner import plan

    plan(db, now=clock())
    pub_id = pubs(db, post)["facebook"].id
    ctx = make_ctx()
    out = ctx.publisher
    with db.session() as s:
        pub = s.get(Publication, pub_id)
        outgoing = out.outgoing(s, pub)
        s.execute(
            update(Publication)
            .where(Publication.id == pub_id)
            .values(state="publishing", claimed_by="dead")
        )
        s.add(Attempt(publication_id=pub_id, action="create", worker="dead", started_at=clock()))
    fb.publish(outgoing)  # the call went through; the process died before writing the result
    clock.advance(1)
    result = run_pass(ctx, clock())
    assert result.steps.adopted == [pub_id]
    assert len(fb.live()) == 1
    assert [a.outcome for a in attempts(db)] == ["adopted"]


def test_zalo_crash_after_token_resumes_with_verify(db, make_ctx, clock, zalo):
    post = add_post(db, "zalo-crash", publish_at=T0, channels=("zalo",))
    from social_publisher.services.planner import plan

    plan(db, now=clock())
    pub_id = pubs(db, post)["zalo"].id
    ctx = make_ctx()
    with db.session() as s:
        outgoing = ctx.publisher.outgoing(s, s.get(Publication, pub_id))
    token = zalo.create_article(outgoing)
    with db.session() as s:
        s.execute(
            update(Publication)
            .where(Publication.id == pub_id)
            .values(state="publishing", claimed_by="dead")
        )
        s.add(
            Attempt(
                publication_id=pub_id,
                action="create",
                worker="dead",
                started_at=clock(),
                details={"token": token},
            )
        )
    zalo.calls.clear()
    run_pass(ctx, clock())
    assert pubs(db, post)["zalo"].state == "published"
    assert [c for c, _ in zalo.calls if c in ("create_article", "verify_article")] == [
        "verify_article"
    ]
    assert len(zalo.live()) == 1


def test_zalo_unknown_waits_for_settle_window_before_retry(db, make_ctx, clock, zalo):
    post = add_post(db, "zalo-unknown", publish_at=T0, channels=("zalo",))
    zalo.script["create_article"] = [unknown("zalo")]
    ctx = make_ctx()
    run_pass(ctx, clock())
    for _ in range(5):  # within the settle window: "not listed yet" is no answer
        clock.advance(10)
        run_pass(ctx, clock())
        assert pubs(db, post)["zalo"].state == "publishing"
        assert not [a for a in attempts(db) if a.action == "create" and a.outcome == "ok"]
    clock.advance(60)
    run_pass(ctx, clock())
    pub = pubs(db, post)["zalo"]
    assert pub.state == "retry_wait"
    clock.now = pub.next_attempt_at
    run_pass(ctx, clock())
    assert pubs(db, post)["zalo"].state == "published" and len(zalo.live()) == 1


def test_zalo_slow_processing_is_polled_not_recreated(db, make_ctx, clock, zalo):
    post = add_post(db, "zalo-slow", publish_at=T0, channels=("zalo",))
    zalo.process_seconds = 20
    ctx = make_ctx()
    run_pass(ctx, clock())
    assert pubs(db, post)["zalo"].state == "publishing"
    clock.advance(25)
    run_pass(ctx, clock())
    assert pubs(db, post)["zalo"].state == "published"
    assert [c for c, _ in zalo.calls].count("create_article") == 1


def test_backoff_schedule_then_needs_attention(db, make_ctx, clock, fb):
    post = add_post(db, "flaky", publish_at=T0, channels=("facebook",))
    fb.script["publish"] = [TransientError("HTTP 503", platform="facebook", http_status=503)] * 5
    ctx = make_ctx()
    delays = []
    for _ in range(4):
        run_pass(ctx, clock())
        pub = pubs(db, post)["facebook"]
        assert pub.state == "retry_wait"
        delays.append((pub.next_attempt_at - clock()).total_seconds())
        clock.now = pub.next_attempt_at
    for n, delay in enumerate(delays, start=1):
        full = min(3600, 60 * 2 ** (n - 1))
        assert full / 2 <= delay <= full
    run_pass(ctx, clock())
    pub = pubs(db, post)["facebook"]
    assert pub.state == "needs_attention" and "5 lần" in pub.attention_reason
    assert not fb.live()
    # Staff fix the network and retry: it goes out.
    staff_retry(db, "flaky", now=clock(), actor="staff")
    run_pass(ctx, clock())
    assert pubs(db, post)["facebook"].state == "published"


def test_auth_failure_stops_channel_without_burning_other_posts(db, make_ctx, clock, fb, zalo):
    ids = [add_post(db, f"p{i}", publish_at=T0) for i in range(3)]
    fb.script["publish"] = [
        AuthError("(#190) Error validating access token", platform="facebook", code=190)
    ]
    ctx = make_ctx()
    run_pass(ctx, clock())
    with db.session() as s:
        health = s.get(ChannelHealth, unit_key(s, "facebook"))
        assert health.state == "auth_failed" and "Token Facebook" in health.reason
    states = [pubs(db, i)["facebook"] for i in ids]
    assert [p.state for p in states] == ["due", "due", "due"]
    assert [p.attempt_count for p in states] == [0, 0, 0]
    assert len([c for c, _ in fb.calls if c == "publish"]) == 1  # the others were not tried
    assert all(pubs(db, i)["zalo"].state == "published" for i in ids)  # Zalo goes on
    clock.advance(60)
    run_pass(ctx, clock())
    assert len([c for c, _ in fb.calls if c == "publish"]) == 1
    result = run_pass(ctx, clock())
    assert result.needs_attention
    # Staff renew the token and run `retry` (no post): the channel resumes.
    from social_publisher.services.planner import clear_channel_blocks

    with db.session() as s:
        assert clear_channel_blocks(s, actor="staff", now=clock()) == ["facebook"]
    run_pass(ctx, clock())
    assert all(pubs(db, i)["facebook"].state == "published" for i in ids)


def test_rate_limit_blocks_channel_until_platform_estimate(db, make_ctx, clock, fb):
    ids = [add_post(db, f"r{i}", publish_at=T0, channels=("facebook",)) for i in range(2)]
    fb.script["publish"] = [
        RateLimitError("(#4) limit", platform="facebook", code=4, retry_after=600)
    ]
    ctx = make_ctx()
    result = run_pass(ctx, clock())
    with db.session() as s:
        health = s.get(ChannelHealth, unit_key(s, "facebook"))
        assert health.state == "rate_limited" and health.blocked_until == clock() + timedelta(
            seconds=600
        )
    assert result.next_wakeup == clock() + timedelta(seconds=600)
    clock.advance(300)
    run_pass(ctx, clock())
    assert [pubs(db, i)["facebook"].state for i in ids] == ["due", "due"]
    clock.advance(301)
    run_pass(ctx, clock())
    assert [pubs(db, i)["facebook"].state for i in ids] == ["published", "published"]
    assert all(pubs(db, i)["facebook"].attempt_count == 0 for i in ids)


def test_invalid_goes_to_needs_attention_with_platform_message(db, make_ctx, clock, fb):
    post = add_post(db, "bad", publish_at=T0, channels=("facebook",))
    fb.script["publish"] = [
        InvalidRequestError("(#100) Invalid parameter", platform="facebook", code=100)
    ]
    run_pass(make_ctx(), clock())
    pub = pubs(db, post)["facebook"]
    assert pub.state == "needs_attention" and "(#100) Invalid parameter" in pub.attention_reason


def test_duplicate_506_adopts_our_earlier_post(db, make_ctx, clock, fb):
    post = add_post(db, "dup", publish_at=T0, channels=("facebook",))
    fb.script["publish"] = [
        ("after", unknown()),
        DuplicateError("Duplicate status message", platform="facebook", code=506),
    ]
    ctx = make_ctx()
    # The first lookup is the one before creating (nothing there yet); the second, the
    # reconciliation after the lost answer, fails.
    fb.script["find_published"] = [None, TransientError("HTTP 500", platform="facebook")]
    run_pass(ctx, clock())
    clock.advance(3)
    run_pass(ctx, clock())  # the lookup failed: still publishing, nothing resent
    assert pubs(db, post)["facebook"].state == "publishing"
    clock.advance(60)
    run_pass(ctx, clock())
    assert pubs(db, post)["facebook"].state == "published" and len(fb.live()) == 1


def test_overdue_needs_decision_then_publish_now(db, make_ctx, clock, zalo):
    post = add_post(db, "tre", publish_at=T0 - timedelta(hours=30), channels=("zalo",))
    ctx = make_ctx()
    run_pass(ctx, clock())
    pub = pubs(db, post)["zalo"]
    assert pub.state == "needs_attention"
    assert "quá hạn" in pub.attention_reason and "publish-now" in pub.attention_reason
    assert not zalo.live()
    result = staff_publish_now(db, "tre", now=clock(), actor="staff")
    assert result.changed == ["zalo"]
    run_pass(ctx, clock())
    assert pubs(db, post)["zalo"].state == "published"


def test_publish_now_on_future_post(db, make_ctx, clock, fb, zalo):
    post = add_post(db, "som", publish_at=T0 + timedelta(days=2))
    ctx = make_ctx()
    run_pass(ctx, clock())
    assert pubs(db, post)["facebook"].state == "scheduled_remote"
    staff_publish_now(db, "som", now=clock(), actor="staff")
    run_pass(ctx, clock())
    p = pubs(db, post)
    assert p["zalo"].state == "published" and p["facebook"].state == "published"
    assert fb.remotes[p["facebook"].remote_id].scheduled_for is None  # made live now


def test_native_scheduling_then_confirmed_after_time(db, make_ctx, clock, fb, zalo):
    due = T0 + timedelta(hours=2)
    post = add_post(db, "hen-gio", publish_at=due)
    ctx = make_ctx()
    result = run_pass(ctx, clock())
    p = pubs(db, post)
    assert p["facebook"].state == "scheduled_remote" and p["facebook"].remote_scheduled_for == due
    assert p["zalo"].state == "pending"
    assert result.next_wakeup == due
    assert [(a.action, a.outcome) for a in attempts(db, p["facebook"].id)] == [("schedule", "ok")]
    clock.now = due  # the PC could be off now: Facebook publishes it by itself
    run_pass(ctx, clock())
    p = pubs(db, post)
    assert p["zalo"].state == "published"
    clock.advance(5)
    run_pass(ctx, clock())
    p = pubs(db, post)
    assert p["facebook"].state == "confirmed" and p["facebook"].published_at == due
    assert len([c for c, _ in fb.calls if c == "publish"]) == 0


def test_withdraw_scheduled_post_cancels_it_on_facebook(db, make_ctx, clock, fb):
    post = add_post(db, "rut", publish_at=T0 + timedelta(hours=3), channels=("facebook",))
    ctx = make_ctx()
    run_pass(ctx, clock())
    remote_id = pubs(db, post)["facebook"].remote_id
    staff_withdraw(db, "rut", now=clock(), actor="staff")
    run_pass(ctx, clock())
    pub = pubs(db, post)["facebook"]
    assert pub.state == "cancelled" and fb.remotes[remote_id].deleted
    assert ("cancel", "ok") in [(a.action, a.outcome) for a in attempts(db)]


def test_status_huy_in_file_cancels_scheduled_post(db, make_ctx, clock, fb):
    due = T0 + timedelta(hours=3)
    post = add_post(db, "huy", publish_at=due, channels=("facebook",))
    ctx = make_ctx()
    run_pass(ctx, clock())
    add_post(db, "huy", publish_at=due, channels=("facebook",), withdrawn=True, state="withdrawn")
    run_pass(ctx, clock())
    assert pubs(db, post)["facebook"].state == "cancelled" and not fb.live()


def test_edits_before_publish_propagate_to_facebook_schedule(db, make_ctx, clock, fb, tmp_path):
    due = T0 + timedelta(hours=3)
    post = add_post(db, "sua", publish_at=due, channels=("facebook",), body="Bản 1")
    ctx = make_ctx()
    run_pass(ctx, clock())
    remote_id = pubs(db, post)["facebook"].remote_id
    # text only -> update_message on the same scheduled post
    add_post(db, "sua", publish_at=due, channels=("facebook",), body="Bản 2")
    run_pass(ctx, clock())
    pub = pubs(db, post)["facebook"]
    assert pub.state == "scheduled_remote" and pub.remote_id == remote_id
    assert fb.remotes[remote_id].body == "Bản 2"
    # time only -> reschedule
    later = due + timedelta(hours=1)
    add_post(db, "sua", publish_at=later, channels=("facebook",), body="Bản 2")
    run_pass(ctx, clock())
    pub = pubs(db, post)["facebook"]
    assert fb.remotes[remote_id].scheduled_for == later and pub.remote_scheduled_for == later
    with db.session() as s:
        events = list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.event == "remote_updated")
                .order_by(AuditEvent.id)
            )
        )
    assert [e.details["steps"] for e in events] == [
        ["update", "adopt_version"],
        ["reschedule", "adopt_version"],
    ]
    assert events[0].details["old_hash"] != events[0].details["new_hash"]
    # photos changed -> cancel there and schedule again
    from .conftest import write_image

    folder = tmp_path / "queue" / "sua"
    image = write_image(folder / "anh.jpg")

    def render(source):
        from social_publisher.media import render_image

        return render_image(source, cache_dir=tmp_path / "cache", max_pixels=80_000_000)

    ctx = make_ctx(render=render)
    add_post(db, "sua", publish_at=later, channels=("facebook",), body="Bản 2", images=[image])
    run_pass(ctx, clock())
    pub = pubs(db, post)["facebook"]
    assert fb.remotes[remote_id].deleted
    assert pub.state == "scheduled_remote" and pub.remote_id != remote_id
    assert fb.remotes[pub.remote_id].images == 1 and len(fb.live()) == 1


def test_zalo_follows_latest_version_until_published(db, make_ctx, clock, zalo):
    due = T0 + timedelta(hours=1)
    post = add_post(db, "z", publish_at=due, channels=("zalo",), body="Cũ")
    ctx = make_ctx()
    run_pass(ctx, clock())
    add_post(db, "z", publish_at=due, channels=("zalo",), body="Mới")
    clock.now = due
    run_pass(ctx, clock())
    assert [r.body for r in zalo.live()] == ["Mới"]
    assert pubs(db, post)["zalo"].state == "published"


def test_edit_after_publish_is_logged_not_reposted(db, make_ctx, clock, fb):
    post = add_post(db, "da-dang", publish_at=T0, channels=("facebook",), body="Gốc")
    ctx = make_ctx()
    run_pass(ctx, clock())
    add_post(db, "da-dang", publish_at=T0, channels=("facebook",), body="Sửa sau khi đăng")
    for _ in range(3):
        clock.advance(10)
        run_pass(ctx, clock())
    assert len(fb.live()) == 1 and fb.live()[0].body == "Gốc"
    with db.session() as s:
        events = list(
            s.scalars(select(AuditEvent).where(AuditEvent.event == "edited_after_publish"))
        )
    assert (
        len(events) == 1
        and events[0].details["old_hash"] == pubs(db, post)["facebook"].content_hash
    )


def test_media_failure_needs_attention_with_message(db, make_ctx, clock, fb, tmp_path):
    folder = tmp_path / "queue" / "anh-hong"
    folder.mkdir(parents=True)
    (folder / "anh.jpg").write_bytes(b"not a jpeg at all")
    import hashlib

    meta = {
        "name": "anh.jpg",
        "sha256": hashlib.sha256(b"not a jpeg at all").hexdigest(),
        "bytes": 17,
    }

    def render(source):
        from social_publisher.media import render_image

        return render_image(source, cache_dir=tmp_path / "cache", max_pixels=80_000_000)

    post = add_post(db, "anh-hong", publish_at=T0, channels=("facebook",), images=[meta])
    run_pass(make_ctx(render=render), clock())
    pub = pubs(db, post)["facebook"]
    assert pub.state == "needs_attention" and "anh.jpg" in pub.attention_reason
    assert not fb.calls


def test_multi_photo_post_goes_out_whole(db, make_ctx, clock, fb, zalo, tmp_path):
    from .conftest import write_image

    folder = tmp_path / "queue" / "nam-anh"
    images = [write_image(folder / f"anh-{i}.jpg", seed=i) for i in range(5)]

    def render(source):
        from social_publisher.media import render_image

        return render_image(source, cache_dir=tmp_path / "cache", max_pixels=80_000_000)

    post = add_post(db, "nam-anh", publish_at=T0, images=images)
    run_pass(make_ctx(render=render), clock())
    assert {p.state for p in pubs(db, post).values()} == {"published"}
    assert [r.images for r in fb.live()] == [5] and [r.images for r in zalo.live()] == [5]


def test_claim_is_atomic_by_row_count(db, make_ctx, clock):
    post = add_post(db, "claim", publish_at=T0, channels=("facebook",))
    from social_publisher.services.planner import plan

    plan(db, now=clock())
    pub_id = pubs(db, post)["facebook"].id
    from social_publisher.states import PubState
    from social_publisher.store import Publication
    from social_publisher.store.lifecycle import claim

    for worker, expected in (("wa", True), ("wb", False)):
        with db.session() as s:
            pub = s.get(Publication, pub_id)
            assert pub is not None
            lease = make_ctx(worker).publisher.lease
            won = claim(
                s, pub, from_=[PubState.DUE], to=PubState.PUBLISHING, worker=worker,
                now=clock(), lease=lease,
            )  # fmt: skip
            assert won is expected
    assert pubs(db, post)["facebook"].claimed_by == "wa"


def test_postgres_two_workers_race_for_one_due_publication(pg_db, dsettings, clock, fb):
    import random
    import threading

    from social_publisher.services.daemon import build_context
    from social_publisher.services.planner import plan

    for i in range(8):
        add_post(pg_db, f"race-{i}", publish_at=T0, channels=("facebook",))
    plan(pg_db, now=clock())
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def worker(name: str) -> None:
        ctx = build_context(
            dsettings,
            pg_db,
            clock=clock,
            channels={"facebook": fb},
            ingest=False,
            render=False,
            worker=name,
            rng=random.Random(1),
        )
        ctx.publisher.exclusive = False  # PostgreSQL: leases only, many daemons
        barrier.wait()
        results[name] = ctx.publisher.publish_due(clock())

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("wa", "wb")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    won = results["wa"].published + results["wb"].published  # type: ignore[attr-defined]
    assert sorted(won) == sorted(set(won)) and len(won) == 8
    assert len(fb.live()) == 8
    with pg_db.session() as s:
        assert len(list(s.scalars(select(Attempt)))) == 8


def test_postgres_claim_same_row_exactly_one_wins(pg_db, dsettings, clock, fb):
    import random
    import threading

    from social_publisher.services.daemon import build_context
    from social_publisher.services.planner import plan
    from social_publisher.states import PubState
    from social_publisher.store import Publication
    from social_publisher.store.lifecycle import claim

    post = add_post(pg_db, "one", publish_at=T0, channels=("facebook",))
    plan(pg_db, now=clock())
    pub_id = pubs(pg_db, post)["facebook"].id
    barrier = threading.Barrier(4)
    wins: list[str] = []

    def worker(name: str) -> None:
        pub = build_context(
            dsettings,
            pg_db,
            clock=clock,
            channels={"facebook": fb},
            ingest=False,
            render=False,
            worker=name,
            rng=random.Random(1),
        ).publisher
        with pg_db.session() as s:
            row = s.get(Publication, pub_id)
            assert row is not None
            barrier.wait()
            won = claim(
                s, row, from_=[PubState.DUE], to=PubState.PUBLISHING, worker=name,
                now=clock(), lease=pub.lease,
            )  # fmt: skip
            if won:
                wins.append(name)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(wins) == 1 and pubs(pg_db, post)["facebook"].claimed_by == wins[0]


def test_update_lines_staff_read_are_all_vietnamese(db, make_ctx, clock, fb):
    """What the console shows while posts are edited: platform names, no step identifiers."""
    import io
    import re

    from social_publisher.services.logs import setup_logging, teardown_logging

    console = io.StringIO()
    setup_logging(None, console=console, tz=ZoneInfo("Asia/Ho_Chi_Minh"))
    try:
        due = T0 + timedelta(hours=3)
        post = add_post(db, "sua", publish_at=due, body="Bản 1")
        ctx = make_ctx()
        run_pass(ctx, clock())  # Facebook: scheduled there; Zalo: waits
        add_post(db, "sua", publish_at=due, body="Bản 2")
        run_pass(ctx, clock())  # text edit: Facebook's scheduled post is updated
        add_post(db, "sua", publish_at=due + timedelta(hours=1), body="Bản 2")
        run_pass(ctx, clock())  # time edit: rescheduled there
        clock.now = due + timedelta(hours=1)
        run_pass(ctx, clock())
        assert pubs(db, post)["zalo"].state == "published"
        add_post(db, "sua", publish_at=due + timedelta(hours=1), body="Bản 3")
        run_pass(ctx, clock())  # edited after publishing: said, not re-posted
    finally:
        teardown_logging()
    lines = [line.split(" ", 1)[1] for line in console.getvalue().splitlines()]
    assert "Bài 'Bài sua' đã được sửa trước khi đăng lên Zalo OA: sẽ đăng bản mới." in lines
    assert [line for line in lines if line.startswith("Đã cập nhật bài hẹn giờ")] == [
        "Đã cập nhật bài hẹn giờ 'Bài sua' trên Facebook (sửa nội dung), "
        "đăng lúc 11:00:00 02/03/2026.",
        "Đã cập nhật bài hẹn giờ 'Bài sua' trên Facebook (đổi giờ đăng), "
        "đăng lúc 12:00:00 02/03/2026.",
    ]
    assert any(line.startswith("Bài 'Bài sua' đã đăng lên Zalo OA; nội dung sửa") for line in lines)
    for line in lines:
        words = re.sub(r"https?://\S+", "", line)  # a link may name the platform
        assert not re.search(r"\b(zalo|facebook|update|reschedule|adopt_version)\b", words), line
