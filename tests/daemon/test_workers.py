"""The worker registry: liveness from the database, takeover of a dead worker's claims,
leases renewed during long calls, cluster-wide locks, reconnection, the operator view."""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from social_publisher.errors import StoreError
from social_publisher.services import workers_view
from social_publisher.services.cluster import ClusterMember
from social_publisher.services.daemon import build_context
from social_publisher.services.planner import plan
from social_publisher.states import PubState
from social_publisher.store import Database, Publication
from social_publisher.store import workers as registry
from social_publisher.store.db import is_connection_loss
from social_publisher.store.lifecycle import claim

from .conftest import T0, add_post, pubs

GRACE = timedelta(seconds=0)


def _publisher(db, settings, clock, fb, name):
    ctx = build_context(
        settings, db, clock=clock, channels={"facebook": fb}, ingest=False, render=False,
        worker=name, rng=random.Random(1),
    )  # fmt: skip
    ctx.publisher.exclusive = False
    return ctx.publisher


def _claimed_by(db: Database, name: str, clock) -> int:
    """One due Facebook publication, claimed by ``name`` (PUBLISHING, a 300 s lease)."""
    post = add_post(db, f"p-{name}", publish_at=T0, channels=("facebook",))
    plan(db, now=clock())
    with db.session() as s:
        pub = s.scalars(select(Publication).where(Publication.post_id == post)).one()
        assert claim(
            s, pub, from_=[PubState.DUE], to=PubState.PUBLISHING, worker=name,
            now=clock(), lease=timedelta(seconds=300),
        )  # fmt: skip
        return pub.id


@pytest.mark.postgres
def test_a_dead_workers_claim_is_taken_at_once_a_live_ones_never(pg_db, clock):
    dead_conn = pg_db.engine.connect()
    live_conn = pg_db.engine.connect()
    registry.register(dead_conn, "host:1:dead", "host", 1)
    registry.register(live_conn, "host:2:live", "host", 2)
    dead_pub = _claimed_by(pg_db, "host:1:dead", clock)
    live_pub = _claimed_by(pg_db, "host:2:live", clock)
    with pg_db.engine.connect() as conn:
        assert registry.dead_holders(conn, GRACE) == []  # both locks held
    dead_conn.invalidate()  # the process is gone: its session (and lock) with it
    dead_conn.close()
    with pg_db.engine.connect() as conn:
        # an old heartbeat alone is not death: the live one's lock is held
        conn.exec_driver_sql(
            "UPDATE workers SET heartbeat_at = timezone('utc', now()) - interval '1 hour'"
        )
        conn.commit()
        assert registry.dead_holders(conn, GRACE) == ["host:1:dead"]
        assert registry.dead_holders(conn, timedelta(hours=2)) == []  # within the grace
    with pg_db.session() as s:
        for pub_id, expected in ((dead_pub, True), (live_pub, False)):
            pub = s.get(Publication, pub_id)
            taken = claim(
                s, pub, from_=[PubState.PUBLISHING], to=None, worker="host:3:other",
                now=clock(), lease=timedelta(seconds=300), dead=["host:1:dead"],
            )  # fmt: skip
            assert taken is expected
    live_conn.close()


@pytest.mark.postgres
def test_a_stopped_worker_frees_its_claims_and_its_lock(pg_db, clock):
    conn = pg_db.engine.connect()
    worker_id = registry.register(conn, "host:1:a", "host", 1)
    _claimed_by(pg_db, "host:1:a", clock)
    registry.close(conn, worker_id)
    with pg_db.engine.connect() as other:
        assert registry.dead_holders(other, timedelta(hours=1)) == ["host:1:a"]  # no grace
    _, views = registry.list_workers(pg_db, stale_after=timedelta(seconds=30))
    assert [(v.name, v.alive, len(v.claims)) for v in views] == [("host:1:a", False, 1)]
    assert registry.relock(conn, worker_id) is False  # a closed identity never comes back
    conn.close()


@pytest.mark.postgres
def test_reconcile_takes_over_a_dead_workers_post_without_sending_it_twice(
    pg_db, dsettings, clock, fb
):
    conn = pg_db.engine.connect()
    registry.register(conn, "host:1:dead", "host", 1)
    dead = _publisher(pg_db, dsettings, clock, fb, "host:1:dead")
    post = add_post(pg_db, "p", publish_at=T0, channels=("facebook",))
    plan(pg_db, now=clock())
    # the dead worker's create went out, then it died before recording the answer
    fb.script["publish"] = [("after", RuntimeError("killed"))]
    dead.publish_due(clock())
    assert len(fb.live()) == 1
    pub_id = pubs(pg_db, post)["facebook"].id
    with pg_db.session() as s:
        s.execute(
            update(Publication)
            .where(Publication.id == pub_id)
            .values(lease_until=clock() + timedelta(seconds=300))
        )
    conn.invalidate()
    conn.close()
    other = _publisher(pg_db, dsettings, clock, fb, "host:2:other")
    clock.advance(3)  # far inside the lease
    other.reconcile(clock())  # no liveness: the lease still holds it
    assert pubs(pg_db, post)["facebook"].state == "publishing"
    with pg_db.engine.connect() as c:
        names = registry.dead_holders(c, GRACE)
    assert names == ["host:1:dead"]
    other.liveness = lambda: names
    result = other.reconcile(clock())
    assert result.adopted == [pub_id]
    assert len(fb.live()) == 1


@pytest.mark.postgres
def test_lease_renewed_only_while_the_worker_knows_it(pg_db, clock):
    pub_id = _claimed_by(pg_db, "w", clock)
    with pg_db.session() as s:
        known = s.get(Publication, pub_id).lease_until
    until = known + timedelta(seconds=300)
    with pg_db.engine.connect() as conn:
        assert registry.renew_leases(conn, "w", {pub_id: known}, until) == {pub_id: until}
        # the publishing code moved the lease meanwhile (a verify to poll): left alone
        assert registry.renew_leases(conn, "w", {pub_id: known}, until + timedelta(1)) == {}
        assert registry.renew_leases(conn, "x", {pub_id: until}, until + timedelta(1)) == {}
    with pg_db.session() as s:
        assert s.get(Publication, pub_id).lease_until == until


@pytest.mark.postgres
def test_cluster_lock_has_one_holder_and_once_runs_once(pg_db):
    with registry.cluster_lock(pg_db, "job") as first:
        with registry.cluster_lock(pg_db, "job") as second:
            assert (first, second) == (True, False)
        with registry.cluster_lock(pg_db, "other") as third:
            assert third is True
    with registry.cluster_lock(pg_db, "job") as again:
        assert again is True
    ran = []
    for _ in range(2):
        with registry.once_in_cluster(pg_db, "monthly-report:2026-11") as mine:
            if mine:
                ran.append(1)
    assert ran == [1]
    with (
        registry.once_in_cluster(pg_db, "monthly-report:2026-11") as mine,
        registry.once_in_cluster(pg_db, "monthly-report:2026-12") as other,
    ):
        assert (mine, other) == (False, True)


@pytest.mark.postgres
def test_member_survives_its_backends_being_terminated(pg_db, dsettings, clock, fb, caplog):
    caplog.set_level(logging.INFO, logger="social_publisher")
    settings = dataclasses.replace(dsettings, worker_takeover_seconds=4)
    publisher = _publisher(pg_db, settings, clock, fb, "host:9:m")
    member = ClusterMember(pg_db, settings, publisher).start()
    try:
        first_id = member.worker_id
        with pg_db.engine.connect() as admin:
            pid = member._conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
            admin.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "Đã kết nối lại" not in caplog.text:
            time.sleep(0.1)
        assert "Mất kết nối tới cơ sở dữ liệu" in caplog.text
        assert "Đã kết nối lại cơ sở dữ liệu" in caplog.text
        assert member.worker_id == first_id  # back within the grace: the same identity
        assert not publisher.fenced.is_set()
        _, views = registry.list_workers(pg_db, stale_after=timedelta(seconds=30))
        assert [(v.name, v.alive) for v in views] == [("host:9:m", True)]
        member.renew_identity()  # a pass lost its connection: a new identity
        assert member.name != "host:9:m" and publisher.worker == member.name
        _, views = registry.list_workers(pg_db, stale_after=timedelta(seconds=30))
        assert {(v.name == member.name, v.alive) for v in views} == {(True, True), (False, False)}
    finally:
        member.stop()
    _, views = registry.list_workers(pg_db, stale_after=timedelta(seconds=30))
    assert not any(v.alive for v in views)


def test_sqlite_member_registers_for_the_operator_view(db, dsettings, clock, fb, capsys):
    stale = db.engine.connect()
    registry.register(stale, "old:1:x", "old", 1)  # a daemon SIGKILLed earlier
    stale.close()
    publisher = _publisher(db, dsettings, clock, fb, "host:5:s")
    with ClusterMember(db, dsettings, publisher) as member:
        now, views = workers_view.workers(db, dsettings)
        assert [(v.name, v.alive) for v in views] == [(member.name, True)]  # the old one closed
        lines = workers_view.text_lines(now, views, dsettings.tz)
        assert lines[0] == "Tiến trình (1 đang chạy):"
        assert "host:5:s (máy" in lines[1] and "đang chạy, nhịp gần nhất" in lines[1]
        data = workers_view.as_json(now, views, dsettings.tz)
        assert data[0]["alive"] is True and data[0]["claims"] == []
        json.dumps(data)
    assert publisher.dead_workers() == ()
    assert workers_view.workers(db, dsettings)[1] == []  # stopped cleanly, holds nothing


def test_connection_loss_is_recognised():
    from sqlalchemy.exc import OperationalError

    lost = OperationalError("SELECT 1", {}, Exception("terminating connection due to admin"))
    assert is_connection_loss(lost)
    other = OperationalError("SELECT 1", {}, Exception("syntax error at or near"))
    assert not is_connection_loss(other)
    try:
        try:
            raise lost
        except OperationalError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as wrapped:
        assert is_connection_loss(wrapped)


def test_an_older_release_refuses_a_newer_schema(db):
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'i99_0009'")
    with pytest.raises(StoreError, match="phiên bản social-publisher mới hơn"):
        db.ensure_current()


@pytest.mark.postgres
def test_member_renews_the_lease_of_a_long_call(pg_db, dsettings, clock, fb):
    from datetime import UTC, datetime

    settings = dataclasses.replace(dsettings, worker_takeover_seconds=2)
    publisher = _publisher(pg_db, settings, clock, fb, "host:8:long")
    member = ClusterMember(pg_db, settings, publisher).start()
    try:
        pub_id = _claimed_by(pg_db, "host:8:long", clock)
        soon = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
        with pg_db.session() as s:
            s.execute(update(Publication).where(Publication.id == pub_id).values(lease_until=soon))
        publisher.in_flight[pub_id] = soon  # its upload has run for most of the lease
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and publisher.in_flight[pub_id] == soon:
            time.sleep(0.1)
        renewed = publisher.in_flight[pub_id]
        assert renewed - datetime.now(UTC) > timedelta(seconds=250)  # a whole lease again
        with pg_db.session() as s:
            assert s.get(Publication, pub_id).lease_until == renewed
    finally:
        publisher.in_flight.clear()
        member.stop()
