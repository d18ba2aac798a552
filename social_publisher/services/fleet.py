"""Many units in one daemon: one pass serves every unit of the install, fairly.

Each unit has its own :class:`~.daemon.PassContext`: its settings, its database handle
(``store.tenancy``: it sees only its rows), its channels (its Page, its OA, its tokens).
They share the worker's identity, its fence and its in-flight claims (:class:`Crew`), so
the cluster registry, the heartbeat and the takeover of a dead worker's claims work for
all units at once (``services.cluster``).

A fleet pass (docs/units.md "Fair order"):

1. every unit's queue is scanned (by one worker of the cluster at a time); an idle unit's
   files are only compared with what this process last recorded (``ingest.QuietWatch``);
2. the units with something to do are planned and run their publishing steps: those
   whose scan changed something, those one install-wide query finds due (a publication
   due, retrying, with an expired lease or a remote time passed) or touched since the
   last pass (a staff action, another worker's outcome: the audit log), and a tenth of
   the others in turn, so every unit gets a full pass at least every ``SWEEP_SECONDS``;
3. publishing is round-robin: each busy unit publishes at most ``QUANTUM`` posts per
   turn, turns go round until no unit has more due, and the first unit of the round
   moves on by one each pass (and differs between workers). A unit with a burst of 500
   posts delays another unit's one post by at most one turn of each unit, never by 500.
"""

from __future__ import annotations

import math
import random
import threading
import zlib
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from ..channels.base import Channel
from ..config import Settings
from ..store import AuditEvent, ChannelHealth, Database, Publication
from ..store.tenancy import ALL_UNITS
from ..store.workers import cluster_lock
from ..units import Unit
from .daemon import (
    STEPS,
    Guard,
    PassContext,
    PassResult,
    attention_counts,
    build_context,
    guard,
    plan_step,
    scan,
    step,
    utcnow,
    worker_id,
)
from .ingest import QuietWatch
from .publisher import StepResult
from .publisher.wakeup import MIN_DELAY, due_now, wait_queries
from .settle import settle_wakeups

#: posts a unit publishes before the next unit's turn
QUANTUM = 5
#: every unit gets a full pass at least this often (seconds), whatever else happens
SWEEP_SECONDS = 600


@dataclass
class UnitPass:
    unit: Unit
    ctx: PassContext
    #: its queue as last recorded: an idle unit's unchanged folders need no database work
    watch: QuietWatch = field(default_factory=QuietWatch)


class Crew:
    """The worker as the cluster sees it: one identity over every unit's publisher."""

    def __init__(self, publishers: list[Any], worker: str) -> None:
        self.publishers = publishers
        first = publishers[0]
        self.fenced = first.fenced
        self.takeover_due = first.takeover_due
        self.in_flight: dict[int, datetime] = first.in_flight
        self.lease: timedelta = first.lease
        for publisher in publishers:  # one fence, one takeover signal, one set of claims
            publisher.fenced = self.fenced
            publisher.takeover_due = self.takeover_due
            publisher.in_flight = self.in_flight
        self._worker = worker
        self.channels: dict[str, Channel] = {}
        for publisher in publishers:
            self.channels.update(publisher.channels)

    @property
    def worker(self) -> str:
        return self._worker

    @worker.setter
    def worker(self, name: str) -> None:
        self._worker = name
        for publisher in self.publishers:
            publisher.worker = name

    @property
    def liveness(self) -> Callable[[], Collection[str]] | None:
        return self.publishers[0].liveness  # type: ignore[no-any-return]

    @liveness.setter
    def liveness(self, fn: Callable[[], Collection[str]] | None) -> None:
        for publisher in self.publishers:
            publisher.liveness = fn


@dataclass
class Fleet:
    """Every unit's pass context, and the install's view the daemon and cluster need."""

    units: list[UnitPass]
    #: the install's database handle (reads every unit)
    db: Database
    settings: Settings
    publisher: Crew
    stop: threading.Event = field(default_factory=threading.Event)
    #: passes run so far (the round's first unit and the sweep move with it)
    passes: int = 0
    #: when the previous pass began: what was touched since then wants a pass
    last_pass_at: datetime | None = None
    #: the next pass runs every unit's steps (a staff action through the console's wake)
    everything: threading.Event = field(default_factory=threading.Event)
    #: where this worker's rounds start (its name: each worker of a cluster elsewhere)
    offset: str = ""
    _pool: ThreadPoolExecutor | None = None

    def pool(self) -> ThreadPoolExecutor | None:
        """The threads units publish in (none for one thread or one unit)."""
        if self.settings.unit_threads < 2 or len(self.units) < 2:
            return None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.settings.unit_threads, "unit")
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def run_pass(self, now: datetime) -> PassResult:
        return run_fleet_pass(self, now)

    @property
    def contexts(self) -> list[PassContext]:
        return [u.ctx for u in self.units]


def build_fleet(
    settings: Settings,
    db: Database,
    units: Iterable[Unit],
    *,
    clock: Callable[[], datetime] = utcnow,
    channels: Mapping[str, Mapping[str, Channel]] | None = None,
    ingest: Any = True,
    render: Any = True,
    worker: str | None = None,
    stop: threading.Event | None = None,
    rng: random.Random | None = None,
) -> Fleet:
    """A pass context per unit (``channels``: per unit id, for tests), one crew over them."""
    from .alert_daemon import alerts_on, install_listener  # loaded only by a daemon

    stop = stop or threading.Event()
    name = worker or worker_id()
    passes = [
        UnitPass(
            unit,
            build_context(
                unit.settings,
                db.for_unit(unit.id),
                clock=clock,
                channels=None if channels is None else channels.get(unit.id, {}),
                ingest=ingest,
                render=render,
                worker=name,
                stop=stop,
                rng=rng,
            ),
        )
        for unit in units
    ]
    crew = Crew([u.ctx.publisher for u in passes], name)
    served = [u.unit for u in passes]
    if alerts_on(settings, served):  # each unit's alerts with its own hours (not the last's)
        install_listener(settings, served)
    return Fleet(passes, db.everywhere(), settings, crew, stop=stop, offset=name)


def busy_units(db: Database, now: datetime, since: datetime | None) -> set[str]:
    """Units with something due now or touched since ``since``: one query each, for all."""
    queries = [
        select(Publication.unit_id).where(due_now(now)).distinct(),
        select(ChannelHealth.unit_id)
        .where(ChannelHealth.state != "ok", ChannelHealth.blocked_until <= now)
        .distinct(),
    ]
    if since is not None:
        queries.append(select(AuditEvent.unit_id).where(AuditEvent.at >= since).distinct())
    found: set[str] = set()
    with db.session() as session:
        for query in queries:
            found.update(session.scalars(query.execution_options(**{ALL_UNITS: True})))
    return found


def sweep_turn(units: list[UnitPass], passes: int, tick_seconds: float) -> list[UnitPass]:
    """The units whose sweep turn this pass is: enough per pass that each comes round
    within ``SWEEP_SECONDS`` at one pass a tick, and at least one."""
    if not units:
        return []
    count = min(len(units), max(1, math.ceil(len(units) * tick_seconds / SWEEP_SECONDS)))
    start = (passes * count) % len(units)
    return [units[(start + i) % len(units)] for i in range(count)]


def _in_turn(units: list[UnitPass], passes: int, worker: str = "") -> list[UnitPass]:
    """The units in this pass's order: the round starts one unit further each pass, and
    each worker somewhere else (several workers do not queue behind each other's claims)."""
    if not units:
        return []
    start = (passes + zlib.crc32(worker.encode())) % len(units)
    return units[start:] + units[:start]


def run_fleet_pass(fleet: Fleet, now: datetime) -> PassResult:
    """One pass over every unit (see the module docstring for the order)."""
    result = PassResult(next_wakeup=None)
    order = _in_turn(fleet.units, fleet.passes, fleet.offset)
    everything = fleet.everything.is_set() or fleet.publisher.takeover_due.is_set()
    fleet.everything.clear()
    since = fleet.last_pass_at - timedelta(seconds=1) if fleet.last_pass_at else None
    first_pass = fleet.passes == 0
    fleet.passes += 1
    fleet.last_pass_at = now
    if not order:
        return result
    guards = {u.unit.id: guard(u.ctx, result, label=_label(fleet, u)) for u in order}
    first = guards[order[0].unit.id]
    busy = first("tìm việc", lambda: busy_units(fleet.db, now, since))
    sweep = {u.unit.id for u in sweep_turn(fleet.units, fleet.passes, fleet.settings.tick_seconds)}
    full = everything or first_pass or busy is None
    changed: set[str] = set()
    # one scanner in the cluster for every unit: one lock, not one per unit (on
    # PostgreSQL two statements a unit, most of an idle tick)
    with cluster_lock(fleet.db, "ingest") as mine:
        for u in order if mine else ():
            if fleet.stop.is_set():
                return result
            g = guards[u.unit.id]
            idle = not full and u.unit.id not in (busy or set()) | sweep
            if idle and u.ctx.ingest is not None and g("xem hàng đợi", _quiet(u)):
                continue  # nothing on disk or in the database moved: no sync to do
            report = scan(u.ctx, now, result, g, lock=False)
            if report is not None:
                u.watch.recorded()
            if report is not None and getattr(report, "changed", False):
                changed.add(u.unit.id)
    if full:
        active = order
    else:
        wanted = changed | busy | sweep
        active = [u for u in order if u.unit.id in wanted]
    result.units_active = len(active)
    for u in active:
        if fleet.stop.is_set():
            return result
        plan_step(u.ctx, now, result, guards[u.unit.id])
    for name, method in STEPS[:3]:
        _each(fleet, active, result, _step_of(now, name, method))
    _publish_round_robin(fleet, active, now, result)
    for name, method in STEPS[4:]:
        _each(fleet, active, result, _step_of(now, name, method))
    result.next_wakeup = _next_wakeup(fleet, active, guards, now)
    counts = first("đếm việc", lambda: attention_counts(fleet.db))
    if counts is not None:
        result.attention, result.open_work = counts
    return result


Work = Callable[[UnitPass, PassResult, Guard], Any]


def _quiet(u: UnitPass) -> Callable[[], bool]:
    return lambda: u.watch.unchanged(u.ctx.settings)


def _step_of(now: datetime, name: str, method: str) -> Work:
    def work(u: UnitPass, part: PassResult, g: Guard) -> StepResult | None:
        return step(u.ctx, now, part, g, name, method)

    return work


def _each(fleet: Fleet, units: list[UnitPass], result: PassResult, work: Work) -> dict[str, Any]:
    """``work`` for each unit, up to ``UNIT_THREADS`` units at once; each unit's platform
    calls stay one at a time (its turn runs in one thread). Results are merged here."""

    def one(u: UnitPass) -> tuple[PassResult, Any]:
        part = PassResult(next_wakeup=None)
        if fleet.stop.is_set() or fleet.publisher.fenced.is_set():
            return part, None
        return part, work(u, part, guard(u.ctx, part, label=_label(fleet, u)))

    pool = fleet.pool()
    if pool is None or len(units) < 2:
        done = [one(u) for u in units]
    else:
        done = [f.result() for f in [pool.submit(one, u) for u in units]]
    values: dict[str, Any] = {}
    for u, (part, value) in zip(units, done, strict=True):
        result.steps.merge(part.steps)
        result.errors.extend(part.errors)
        result.connection_lost = result.connection_lost or part.connection_lost
        values[u.unit.id] = value
    return values


def _publish_round_robin(
    fleet: Fleet, active: list[UnitPass], now: datetime, result: PassResult
) -> None:
    """Turns of at most ``QUANTUM`` posts per unit, round after round, in the pass's order."""
    name, method = STEPS[3]

    def turn(u: UnitPass, part: PassResult, g: Guard) -> StepResult | None:
        return step(u.ctx, now, part, g, name, method, limit=QUANTUM)

    waiting = list(active)
    while waiting and not (fleet.stop.is_set() or fleet.publisher.fenced.is_set()):
        done = _each(fleet, waiting, result, turn)
        waiting = [u for u in waiting if (r := done.get(u.unit.id)) is not None and r.more]
    result.steps.more = False


def install_wakeup(db: Database, now: datetime) -> datetime | None:
    """The earliest moment any unit's publication or blocked channel needs a pass."""
    queries = [
        *wait_queries(now),
        select(func.min(ChannelHealth.blocked_until)).where(
            ChannelHealth.state != "ok", ChannelHealth.blocked_until > now
        ),
    ]
    with db.session() as session:
        found = [session.scalar(q.execution_options(**{ALL_UNITS: True})) for q in queries]
    times = [t for t in found if t is not None]
    return max(min(times), now + MIN_DELAY) if times else None


def _next_wakeup(
    fleet: Fleet, active: list[UnitPass], guards: dict[str, Any], now: datetime
) -> datetime | None:
    """The earliest wake-up: any unit's due work (one query set for all), and what the
    units that ran know besides (a folder still settling)."""
    first = guards[fleet.units[0].unit.id]
    times: list[datetime] = []
    at = first("tính giờ thức", lambda: install_wakeup(fleet.db, now))
    if at is not None:
        times.append(at)
    for u in active:
        if u.ctx.publisher.channels:
            settling = guards[u.unit.id]("tính giờ thức", _settling(u))
            times += settling or []
    return min(times, default=None)


def _settling(u: UnitPass) -> Callable[[], list[datetime]]:
    def times() -> list[datetime]:
        at = u.ctx.publisher.clock()
        with u.ctx.db.session() as session:
            return [max(t, at + MIN_DELAY) for t in settle_wakeups(session, at, u.ctx.settings)]

    return times


def _label(fleet: Fleet, u: UnitPass) -> str:
    return f"{u.unit.id}: " if len(fleet.units) > 1 else ""
