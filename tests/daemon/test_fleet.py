"""Many units in one daemon (services.fleet): isolation, fairness, and an idle pass that
costs little per unit."""

from __future__ import annotations

import math
import os
import random
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, cast

from sqlalchemy import event, func, select

from social_publisher.channels.base import OutgoingPost, RemotePost
from social_publisher.config import Settings
from social_publisher.services.fleet import (
    QUANTUM,
    SWEEP_SECONDS,
    Fleet,
    UnitPass,
    _in_turn,
    build_fleet,
    sweep_turn,
)
from social_publisher.states import HealthState
from social_publisher.store import Database, PostVersion, Publication
from social_publisher.store.lifecycle import set_health
from social_publisher.units import Unit

from .conftest import T0, Clock, FakeFacebook, add_post


class Recording(FakeFacebook):
    """A unit's Page that also writes, in one list shared by every unit, who published."""

    def __init__(self, unit: str, clock: Clock, log: list[str]) -> None:
        super().__init__("facebook", clock)
        self.unit = unit
        self.log = log

    def publish(self, post: OutgoingPost) -> RemotePost:
        self.log.append(self.unit)
        return super().publish(post)


def _fleet(
    db: Database,
    settings: Settings,
    clock: Clock,
    ids: list[str],
    log: list[str] | None = None,
    *,
    threads: int = 1,
    page: type[Recording] | None = None,
) -> tuple[Fleet, dict[str, Recording]]:
    """A fleet over ``ids``, one thread unless asked (so the order is the test's to read)."""
    log = [] if log is None else log
    settings = replace(settings, unit_threads=threads)
    pages = {i: (page or Recording)(i, clock, log) for i in ids}
    units = [Unit(i, f"Đơn vị {i}", settings) for i in ids]
    fleet = build_fleet(
        settings,
        db,
        units,
        clock=clock,
        channels={i: {"facebook": pages[i]} for i in ids},
        ingest=False,
        render=False,
        worker="w1",
        rng=random.Random(7),
    )
    fleet.offset = ""  # rounds start at the first unit: the order is the test's to read
    return fleet, pages


def _states(db: Database, unit: str) -> list[str]:
    with db.for_unit(unit).session() as s:
        return list(s.scalars(select(Publication.state).order_by(Publication.id)))


def test_each_units_post_goes_to_its_own_page_and_nowhere_else(
    db: Database, dsettings: Settings, clock: Clock
) -> None:
    fleet, pages = _fleet(db, dsettings, clock, ["a", "b"])
    for unit in ("a", "b"):  # the same folder name in both queues
        add_post(db.for_unit(unit), "ngay-cds", publish_at=T0, channels=("facebook",),
                 title=f"Bài của {unit}")  # fmt: skip
    result = fleet.run_pass(clock())
    assert result.errors == []
    assert [r.title for r in pages["a"].live()] == ["Bài của a"]
    assert [r.title for r in pages["b"].live()] == ["Bài của b"]
    assert _states(db, "a") == _states(db, "b") == ["published"]


def test_a_blocked_channel_of_one_unit_never_pauses_another(
    db: Database, dsettings: Settings, clock: Clock
) -> None:
    fleet, pages = _fleet(db, dsettings, clock, ["a", "b"])
    for unit in ("a", "b"):
        add_post(db.for_unit(unit), "bai", publish_at=T0, channels=("facebook",))
    with db.for_unit("a").session() as s:  # a's Page token was revoked
        set_health(s, "facebook", HealthState.AUTH_FAILED, actor="t", at=T0, reason="token")
    fleet.run_pass(clock())
    assert pages["a"].live() == [] and len(pages["b"].live()) == 1
    assert _states(db, "a") != ["published"] and _states(db, "b") == ["published"]


def test_a_burst_of_one_unit_cannot_starve_the_others(
    db: Database, dsettings: Settings, clock: Clock
) -> None:
    log: list[str] = []
    fleet, _ = _fleet(db, dsettings, clock, ["dot", "b", "c"], log)
    for i in range(4 * QUANTUM):  # a province-wide campaign lands in one unit at once
        add_post(db.for_unit("dot"), f"bai-{i:02d}", publish_at=T0, channels=("facebook",))
    for unit in ("b", "c"):
        add_post(db.for_unit(unit), "bai", publish_at=T0, channels=("facebook",))
    fleet.run_pass(clock())
    assert len(log) == 4 * QUANTUM + 2  # everything went out in the one pass
    # b's and c's one post went out in the first round, after at most one turn of the burst
    assert log.index("b") <= QUANTUM + 1 and log.index("c") <= QUANTUM + 1
    assert log[:QUANTUM] == ["dot"] * QUANTUM  # the first pass starts with the first unit


def test_the_first_unit_of_the_round_moves_on_each_pass(
    db: Database, dsettings: Settings, clock: Clock
) -> None:
    log: list[str] = []
    fleet, _ = _fleet(db, dsettings, clock, ["a", "b", "c"], log)
    for unit in ("a", "b", "c"):
        add_post(db.for_unit(unit), "bai-1", publish_at=T0, channels=("facebook",))
    fleet.run_pass(clock())
    for unit in ("a", "b", "c"):
        add_post(db.for_unit(unit), "bai-2", publish_at=T0, channels=("facebook",))
    fleet.run_pass(clock.advance(30))
    assert log == ["a", "b", "c", "b", "c", "a"]


def _statements(db: Database, work: Any) -> int:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        work()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len([s for s in seen if not s.startswith(("PRAGMA", "SAVEPOINT", "RELEASE"))])


def test_an_idle_pass_runs_the_steps_of_a_few_units_only(
    db: Database, dsettings: Settings, clock: Clock
) -> None:
    ids = [f"u{i:02d}" for i in range(30)]
    fleet, pages = _fleet(db, dsettings, clock, ids)
    for unit in ids:
        add_post(db.for_unit(unit), "bai", publish_at=T0, channels=("facebook",))
    fleet.run_pass(clock())
    assert all(len(p.live()) == 1 for p in pages.values())
    fleet.run_pass(clock.advance(60))  # confirms what the first pass published
    fleet.run_pass(clock.advance(60))  # looks once more at what the last one moved
    idle = fleet.run_pass(clock.advance(60))
    # the sweep: 30 units each within SWEEP_SECONDS, a pass every TICK_SECONDS (30)
    assert idle.units_active <= math.ceil(len(ids) * 30 / SWEEP_SECONDS)
    many = _statements(db, lambda: fleet.run_pass(clock.advance(60)))
    one, _ = _fleet(db, dsettings, clock, ["u00"])
    for _ in range(3):
        one.run_pass(clock.advance(60))
    single = _statements(db, lambda: one.run_pass(clock.advance(60)))
    assert many < 10 * single, (many, single)


def test_new_posts_in_idle_units_go_out_at_the_next_pass(
    db: Database, dsettings: Settings, clock: Clock, tmp_path: Path
) -> None:
    ids = [f"u{i:02d}" for i in range(20)]
    queues = {i: tmp_path / "hang_doi" / i for i in ids}
    for folder in queues.values():
        folder.mkdir(parents=True)
    pages = {i: Recording(i, clock, []) for i in ids}
    units = [
        Unit(i, i, replace(dsettings, queue_dir=queues[i], queue_settle_seconds=0)) for i in ids
    ]
    fleet = build_fleet(dsettings, db, units, clock=clock, render=False, worker="w1",
                        channels={i: {"facebook": pages[i]} for i in ids})  # fmt: skip
    for _ in range(3):
        fleet.run_pass(clock.advance(30))
    assert fleet.run_pass(clock.advance(30)).units_active <= 2  # idle now
    for unit in ("u07", "u13"):  # the same folder name in two queues
        post = queues[unit] / "bai-moi"
        post.mkdir()
        when = clock.now + timedelta(hours=7)  # due now, in Đức Phổ's time
        (post / "bai-viet.txt").write_text(
            f"Tiêu đề: Bài mới của {unit}\nThời gian đăng: {when:%d/%m/%Y %H:%M}"
            "\nKênh: facebook\nNgười duyệt: Võ Thanh Hùng\n\nNội dung.\n",
            encoding="utf-8",
        )
    result = fleet.run_pass(clock.advance(30))
    assert result.errors == []
    assert [r.title for r in pages["u07"].live()] == ["Bài mới của u07"]
    assert [r.title for r in pages["u13"].live()] == ["Bài mới của u13"]
    assert sum(len(p.live()) for p in pages.values()) == 2
    for _ in range(3):  # confirmed, looked at once more: idle again
        fleet.run_pass(clock.advance(30))
    quiet = _statements(db, lambda: fleet.run_pass(clock.advance(30)))
    # an edit on disk in an idle unit is seen at once, though its queue was only stat'ed
    text = queues["u13"] / "bai-moi" / "bai-viet.txt"
    text.write_text(text.read_text(encoding="utf-8") + "Thêm một dòng.\n", encoding="utf-8")
    os.utime(text, (time.time() + 5, time.time() + 5))
    assert fleet.run_pass(clock.advance(30)).errors == []
    with db.for_unit("u13").session() as s:
        assert s.scalar(select(func.count(PostVersion.id))) == 2
    # twenty units, two of them in their sweep turn: a sync for each of the eighteen idle
    # ones would add five reads each (90)
    assert quiet < 70, quiet


def test_the_fleet_wakes_for_any_units_next_post(
    db: Database, dsettings: Settings, clock: Clock
) -> None:
    fleet, _ = _fleet(db, dsettings, clock, ["a", "b"])
    soon = T0 + timedelta(seconds=20)
    add_post(db.for_unit("b"), "bai", publish_at=soon, channels=("facebook",))
    fleet.run_pass(clock())
    idle = fleet.run_pass(clock.advance(5))
    assert idle.next_wakeup == soon


class Overlapping(Recording):
    """A Page that notes how many units' calls run at once, and whether one unit's overlap."""

    lock = threading.Lock()
    running: ClassVar[dict[str, int]] = {}
    most = 0
    same_unit_overlap = False

    def publish(self, post: OutgoingPost) -> RemotePost:
        cls = Overlapping
        with cls.lock:
            cls.running[self.unit] = cls.running.get(self.unit, 0) + 1
            cls.same_unit_overlap |= cls.running[self.unit] > 1
            cls.most = max(cls.most, sum(cls.running.values()))
        try:
            time.sleep(0.02)  # a platform's round trip, so calls can overlap
            return super().publish(post)
        finally:
            with cls.lock:
                cls.running[self.unit] -= 1


def test_units_publish_side_by_side_but_each_page_one_call_at_a_time(
    db: Database, dsettings: Settings, clock: Clock
) -> None:
    ids = ["a", "b", "c", "d"]
    fleet, pages = _fleet(db, dsettings, clock, ids, threads=4, page=Overlapping)
    for unit in ids:
        for i in range(2 * QUANTUM):
            add_post(db.for_unit(unit), f"bai-{i}", publish_at=T0, channels=("facebook",))
    try:
        result = fleet.run_pass(clock())
    finally:
        fleet.close()
    assert result.errors == []
    assert all(len(p.live()) == 2 * QUANTUM for p in pages.values())
    assert Overlapping.most >= 2  # units ran side by side
    assert not Overlapping.same_unit_overlap  # never two calls of one Page at once


def test_workers_start_their_rounds_at_different_units(
    db: Database, dsettings: Settings, clock: Clock
) -> None:
    ids = [f"u{i:02d}" for i in range(50)]
    units = [Unit(i, i, dsettings) for i in ids]
    starts = set()
    for worker in ("may-1:101:a", "may-1:102:b", "may-2:101:c"):
        fleet = build_fleet(dsettings, db, units, clock=clock, channels={}, ingest=False,
                            render=False, worker=worker)  # fmt: skip
        starts.add(_in_turn(fleet.units, 0, fleet.offset)[0].unit.id)
    assert len(starts) == 3


def test_the_daemon_runs_a_fleet_and_its_side_jobs_for_every_unit(
    db: Database, dsettings: Settings, clock: Clock, tmp_path: Path
) -> None:
    from social_publisher.services.daemon import Daemon

    reports = {i: tmp_path / "bao_cao" / i for i in ("a", "b")}
    fleet, pages = _fleet(db, dsettings, clock, ["a", "b"])
    for u in fleet.units:  # each unit writes its monthly report into its own folder
        u.ctx.settings = replace(u.ctx.settings, report_dir=reports[u.unit.id])
        add_post(u.ctx.db, "bai", publish_at=T0, channels=("facebook",))
    daemon = Daemon(fleet, clock=clock, exact_wakeups=False, background_jobs=False)
    result = daemon.run_once()
    assert result.errors == [] and all(len(p.live()) == 1 for p in pages.values())
    assert [c.db.unit for c in daemon.unit_contexts] == ["a", "b"]
    daemon.monthly_report()
    assert all(any(folder.iterdir()) for folder in reports.values())
    province = list(dsettings.report_dir.glob("bao-cao-cac-don-vi-*.xlsx"))
    assert len(province) == 1  # the province's workbook of both units, in the install's folder
    daemon.shutdown()
    assert fleet._pool is None


def test_the_sweep_comes_round_to_every_unit_within_its_time() -> None:
    units = [UnitPass(Unit(f"u{i:03d}", "x", cast(Settings, None)), cast(Any, None))
             for i in range(100)]  # fmt: skip
    for tick in (1, 30, 60):
        passes = math.ceil(SWEEP_SECONDS / tick)
        seen = {u.unit.id for p in range(passes) for u in sweep_turn(units, p, tick)}
        assert len(seen) == 100, tick  # everyone, within SWEEP_SECONDS of passes
        assert len(sweep_turn(units, 0, tick)) == max(1, math.ceil(100 * tick / SWEEP_SECONDS))
