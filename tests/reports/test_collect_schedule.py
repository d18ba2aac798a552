"""Engagement collection: the schedule math, and collect() with injected channels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from social_publisher.channels.base import Engagement
from social_publisher.config import Settings, load_settings
from social_publisher.errors import RateLimitError
from social_publisher.services.engagement import (
    UNAVAILABLE_KEY,
    collect,
    collection_points,
    next_collect_after,
)
from social_publisher.store import Database, EngagementSnapshot, Meta, Publication
from social_publisher.store.tenancy import unit_key


def test_schedule_1h_24h_daily_to_30_days_then_month_ends(h: type) -> None:
    published = h.local(2024, 10, 10, 7, 30)
    points = collection_points(published, h.TZ)
    assert points[0] == published + timedelta(hours=1)
    assert points[1] == published + timedelta(hours=24)
    daily = [p for p in points if p <= published + timedelta(days=30)]
    # 1 h, then days 1..30, plus the month end of October (23:00 on the 31st, local)
    assert published + timedelta(days=30) in daily
    assert all(published + timedelta(days=d) in daily for d in range(1, 31))
    assert h.local(2024, 10, 31, 23, 0) in daily
    assert len(daily) == 1 + 30 + 1
    monthly = [p for p in points if p > published + timedelta(days=30)]
    assert monthly[:3] == [
        h.local(2024, 11, 30, 23, 0),
        h.local(2024, 12, 31, 23, 0),
        h.local(2025, 1, 31, 23, 0),
    ]
    assert monthly[-1] <= published + timedelta(days=365)
    assert h.local(2025, 2, 28, 23, 0) in monthly  # short months by the calendar
    assert len(monthly) == 11  # Nov 2024 … Sep 2025


def test_next_collect_skips_missed_points_and_ends(h: type) -> None:
    published = h.local(2024, 10, 10, 7, 30)
    assert next_collect_after(published, published, h.TZ) == published + timedelta(hours=1)
    # the PC was off for five days: resume at the next point, not five catch-ups
    late = published + timedelta(days=7, hours=3)
    assert next_collect_after(published, late, h.TZ) == published + timedelta(days=8)
    assert next_collect_after(published, published + timedelta(days=400), h.TZ) is None


def test_post_at_2330_on_month_end_gets_its_first_read_next_month(h: type) -> None:
    published = h.local(2024, 10, 31, 23, 30)
    points = collection_points(published, h.TZ)
    assert points[0] == h.local(2024, 11, 1, 0, 30)
    assert h.local(2024, 10, 31, 23, 0) not in points


# ------------------------------------------------------------------ collect() with fakes


@dataclass
class FakeResult:
    results: dict[str, Engagement]
    unavailable_metrics: frozenset[str]


@dataclass
class FakeFacebook:
    """Answers like FacebookChannel.fetch_engagement; the Page refuses 'reach'."""

    calls: list[tuple[list[str], frozenset[str]]] = field(default_factory=list)
    fail: Exception | None = None

    def fetch_engagement(
        self, remote_ids: Sequence[str], *, unavailable_metrics: frozenset[str] = frozenset()
    ) -> FakeResult:
        self.calls.append((list(remote_ids), unavailable_metrics))
        if self.fail:
            raise self.fail
        assert len(remote_ids) <= 50
        results = {
            rid: Engagement(rid, reactions=10, comments=2, shares=1, views=100, reach=None)
            for rid in remote_ids
            if not rid.endswith("deleted")
        }
        return FakeResult(results, frozenset({"post_total_media_view_unique"}))


@dataclass
class FakeZalo:
    calls: list[list[str]] = field(default_factory=list)

    def fetch_engagement(self, article_ids: Sequence[str]) -> dict[str, Engagement]:
        self.calls.append(list(article_ids))
        return {a: Engagement(a, views=50, shares=3) for a in article_ids}


def _next_at(db: Database, pub_id: int) -> datetime | None:
    with db.session() as s:
        pub = s.get(Publication, pub_id)
        assert pub is not None
        return pub.next_collect_at


def _snapshots(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(EngagementSnapshot)) or 0


def test_collect_due_batches_and_remembers_unavailable_metrics(
    db: Database, settings: Settings, h: type
) -> None:
    published = h.local(2024, 10, 10, 7, 30)
    ids = [
        h.add_post(db, f"bai-{i:03d}", f"Bài {i}", published + timedelta(minutes=i))
        for i in range(120)
    ]
    fb, zl = FakeFacebook(), FakeZalo()
    # before the first point nothing is due, but every publication gets its schedule
    early = collect(db, settings, now=published + timedelta(minutes=30), facebook=fb, zalo=zl)
    assert early.due == {} and fb.calls == [] and zl.calls == []
    first = ids[0]["facebook"]
    assert _next_at(db, first) == published + timedelta(hours=1)

    now = published + timedelta(hours=3)
    report = collect(db, settings, now=now, facebook=fb, zalo=zl, detect=False)
    assert report.due == {"facebook": 120, "zalo": 120}
    assert [len(c[0]) for c in fb.calls] == [50, 50, 20]  # ⌈120/50⌉ lookups
    assert len(zl.calls) == 1
    assert report.snapshots == 240 == _snapshots(db)
    assert report.collected == {"facebook": 120, "zalo": 120}
    # what the Page refused in the first batch is not asked again in the next ones
    assert fb.calls[0][1] == frozenset()
    assert fb.calls[1][1] == frozenset({"post_total_media_view_unique"})
    with db.session() as s:
        meta = s.get(
            Meta, unit_key(s, UNAVAILABLE_KEY.format(page_id=settings.fb_page_id or "page"))
        )
        assert meta is not None and meta.value["metrics"] == ["post_total_media_view_unique"]
    assert _next_at(db, first) == published + timedelta(hours=24)

    # nothing due an hour later; the next run starts with the learnt metrics
    fb.calls.clear()
    again = collect(db, settings, now=now + timedelta(hours=1), facebook=fb, zalo=zl)
    assert again.due == {} and fb.calls == []
    collect(db, settings, now=published + timedelta(days=1, hours=3), facebook=fb, zalo=zl)
    assert fb.calls[0][1] == frozenset({"post_total_media_view_unique"})
    assert _snapshots(db) == 480


def test_collect_all_reads_everything_now(db: Database, settings: Settings, h: type) -> None:
    published = h.local(2024, 10, 10, 7, 30)
    ids = h.add_post(db, "bai", "Bài", published, channels=("facebook",))
    fb = FakeFacebook()
    report = collect(
        db,
        settings,
        now=published + timedelta(minutes=5),
        facebook=fb,
        zalo=FakeZalo(),
        everything=True,
        detect=False,
    )
    assert report.snapshots == 1
    assert _next_at(db, ids["facebook"]) == published + timedelta(hours=1)


def test_channel_error_keeps_publications_due_and_is_reported(
    db: Database, settings: Settings, h: type
) -> None:
    published = h.local(2024, 10, 10, 7, 30)
    ids = h.add_post(db, "bai", "Bài", published, channels=("facebook",))
    fb = FakeFacebook(
        fail=RateLimitError("(#4) Application request limit reached", platform="facebook", code=4)
    )
    now = published + timedelta(hours=2)
    report = collect(db, settings, now=now, facebook=fb, zalo=FakeZalo(), detect=False)
    assert not report.ok
    assert report.errors[0].startswith(
        "Facebook: không đọc được số liệu của 1 bài (vượt giới hạn gọi API"
    )
    assert _snapshots(db) == 0
    # claimed with a 30-minute lease: retried by a later hourly run
    assert _next_at(db, ids["facebook"]) == now + timedelta(minutes=30)
    fb.fail = None
    collect(db, settings, now=now + timedelta(hours=1), facebook=fb, zalo=FakeZalo())
    assert _snapshots(db) == 1


def test_channel_off_is_skipped_with_a_note(db: Database, env: dict[str, str], h: type) -> None:
    settings = load_settings(env, dotenv_path=None)  # both channels off
    published = h.local(2024, 10, 10, 7, 30)
    ids = h.add_post(db, "bai", "Bài", published)
    report = collect(db, settings, now=published + timedelta(hours=2))
    assert report.ok
    assert any(n.startswith("Facebook chưa được cấu hình (thiếu FB_PAGE_ID") for n in report.notes)
    assert any(n.startswith("Zalo chưa được cấu hình") for n in report.notes)
    # they stay due for when the channel is configured
    assert _next_at(db, ids["facebook"]) == published + timedelta(hours=1)


def test_deleted_post_is_noted_and_schedule_moves_on(
    db: Database, settings: Settings, h: type
) -> None:
    published = h.local(2024, 10, 10, 7, 30)
    ids = h.add_post(db, "bai", "Bài", published, channels=("facebook",))
    with db.session() as s:
        pub = s.get(Publication, ids["facebook"])
        assert pub is not None
        pub.remote_id = "1_deleted"
    report = collect(
        db, settings, now=published + timedelta(hours=2), facebook=FakeFacebook(), detect=False
    )
    assert report.not_found == ["facebook:1_deleted"]
    assert _next_at(db, ids["facebook"]) == published + timedelta(hours=24)


def test_two_collectors_never_read_the_same_publication(
    db: Database, settings: Settings, h: type
) -> None:
    published = datetime(2024, 10, 10, 0, 30, tzinfo=UTC)
    h.add_post(db, "bai", "Bài", published, channels=("facebook",))
    now = published + timedelta(hours=2)
    collect(db, settings, now=published, facebook=FakeFacebook(), detect=False)  # schedules it
    from social_publisher.services import engagement

    first = engagement._claim_due(db, now=now, everything=False)
    second = engagement._claim_due(db, now=now, everything=False)
    assert len(first) == 1 and second == []


@pytest.mark.postgres
def test_collect_and_claims_on_postgresql(pg_db: Database, settings: Settings, h: type) -> None:
    from social_publisher.services import engagement

    published = h.local(2024, 10, 10, 7, 30)
    ids = [h.add_post(pg_db, f"bai-{i}", f"Bài {i}", published) for i in range(3)]
    fb, zl = FakeFacebook(), FakeZalo()
    collect(pg_db, settings, now=published, facebook=fb, zalo=zl, detect=False)
    now = published + timedelta(hours=2)
    assert len(engagement._claim_due(pg_db, now=now, everything=False)) == 6
    assert engagement._claim_due(pg_db, now=now, everything=False) == []
    report = collect(
        pg_db, settings, now=now + timedelta(hours=1), facebook=fb, zalo=zl, detect=False
    )
    assert report.snapshots == 6
    assert _next_at(pg_db, ids[0]["zalo"]) == published + timedelta(hours=24)
