"""The daemon: one pass = scan, plan, publish, confirm; run on a tick and at exact due times.

A pass is a plain function, :func:`run_pass` (``ctx``, ``now``) → :class:`PassResult`,
whose ``next_wakeup`` is the earliest moment something becomes actionable
(the model is APScheduler's own "next fire time"). The :class:`Daemon` runs a
pass every ``TICK_SECONDS`` and arms an APScheduler ``date`` job at each
``next_wakeup``, so a post due at 08:00 goes out within a second or two of
08:00 rather than at the next tick. Passes never overlap (one lock).

One daemon per SQLite database: a file lock next to the database file
(``<db>.daemon.lock``) that the OS releases when the process dies, even on
SIGKILL. On PostgreSQL any number of daemons share the work through the
publisher's row claims; a dead worker's claims are taken over as soon as the
worker registry (``services.cluster``) finds its lock free, the lease being the
fallback. A pass that loses its database connection is followed by a reconnection
with backoff and a new worker identity, before the next pass.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import random
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, cast

from filelock import FileLock, Timeout
from sqlalchemy import func, select

from ..channels.base import Channel
from ..config import Settings
from ..errors import DaemonAlreadyRunning, SocialPublisherError
from ..platforms import platform_name
from ..states import BLOCKING_HEALTH, POST_NEEDS_PEOPLE, UNFINISHED
from ..states import PubState as S
from ..store import ChannelHealth, Database, Post, Publication
from ..store.db import is_connection_loss, sqlite_path
from ..store.workers import cluster_lock, once_in_cluster
from .failures import explain
from .planner import PlanResult, plan
from .publisher import Publisher, RenderFn, StepResult

if TYPE_CHECKING:
    from .cluster import ClusterMember
    from .fleet import Fleet
    from .zalo_tokens import DbTokenStore

log = logging.getLogger("social_publisher.daemon")

IngestFn = Callable[[Database, Settings, datetime], Any]
#: refresh the Zalo access token once it is this old (it lives 25 h)
ZALO_REFRESH_AGE = timedelta(hours=20)


def _malloc_trim() -> Callable[[], object] | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (Windows, macOS, musl)
        return None
    return lambda: trim(0)


_TRIM = _malloc_trim() if sys.platform.startswith("linux") else None


def release_memory() -> None:
    """Give back what a pass freed, so the idle daemon stays small between passes.

    A pass over a large queue builds thousands of short-lived objects; CPython frees
    them but glibc keeps the pages. ``malloc_trim`` returns them to the system (tens of
    MB on a 1,000-post queue). Elsewhere this is only a garbage collection.
    """
    gc.collect()
    if _TRIM is not None:
        _TRIM()


def worker_id() -> str:
    """Unique per process: host, pid and a random suffix (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def utcnow() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ one pass


@dataclass
class PassContext:
    """What a pass needs; built once per process by :func:`build_context`."""

    db: Database
    settings: Settings
    publisher: Publisher
    ingest: IngestFn | None = None
    #: restrict the pass to one post (staff actions run it for that post only)
    only_post: int | None = None
    #: set by a signal: stages and loops stop between calls, never inside one
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class PassResult:
    next_wakeup: datetime | None
    plan: PlanResult = field(default_factory=PlanResult)
    steps: StepResult = field(default_factory=StepResult)
    ingest: Any = None
    errors: list[str] = field(default_factory=list)
    #: publications waiting for staff, blocked channels, posts with problems (right now)
    attention: int = 0
    open_work: int = 0
    #: a step lost its database connection (the daemon reconnects before the next pass)
    connection_lost: bool = False
    #: units whose publishing steps ran this pass (``services.fleet``; 1 for one unit)
    units_active: int = 1

    @property
    def needs_attention(self) -> bool:
        return bool(self.errors) or self.attention > 0


#: the publishing steps of a pass, in order (staff read the names in error lines)
STEPS = (
    ("đối soát", "reconcile"),
    ("cập nhật bài hẹn giờ", "sync_remote"),
    ("hẹn giờ Facebook", "schedule_remote"),
    ("đăng bài đến hạn", "publish_due"),
    ("xác nhận", "confirm"),
    ("gửi tin Zalo", "broadcast"),
)
Guard = Callable[[str, Callable[[], Any]], Any]


def guard(ctx: PassContext, result: PassResult, label: str = "") -> Guard:
    """Run one stage so that its failure is logged and counted, never stops the rest."""

    def guarded(name: str, fn: Callable[[], Any]) -> Any:
        name = f"{label}{name}"
        try:
            return fn()
        except SocialPublisherError as exc:
            log.error("Lỗi ở bước %s: %s", name, exc.message)
            result.errors.append(f"{name}: {exc.message}")
        except Exception as exc:
            if is_connection_loss(exc):
                result.connection_lost = True
            known = explain(exc, ctx.settings)  # a full disk, a read-only database...
            if known is not None:
                log.error("Lỗi ở bước %s: %s", name, known)
                result.errors.append(f"{name}: {known}")
                return None
            log.exception("unexpected error in pass step %s", name)
            result.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        return None

    return guarded


def scan(
    ctx: PassContext, now: datetime, result: PassResult, guarded: Guard, *, lock: bool = True
) -> Any:
    """Scan the unit's queue (one scanner per unit in the cluster); the ingest report.

    ``lock=False``: the caller holds the cluster's scan lock already (a fleet, for all
    its units at once)."""
    if ctx.ingest is None or ctx.only_post is not None:
        return None
    ingest = ctx.ingest

    def run() -> Any:
        if not lock:
            return ingest(ctx.db, ctx.settings, now)
        # one scan at a time in the cluster: the others would only race to insert the
        # same new posts; a worker that finds the lock taken skips the scan this pass
        with cluster_lock(ctx.db, "ingest") as mine:
            return ingest(ctx.db, ctx.settings, now) if mine else None

    report = guarded("quét hàng đợi", run)
    if result.ingest is None:
        result.ingest = report
    return report


def plan_step(ctx: PassContext, now: datetime, result: PassResult, guarded: Guard) -> None:
    """Turn posts into publications (and follow their edits and withdrawals)."""
    worker, only = ctx.publisher.worker, ctx.only_post
    planned = guarded("lập kế hoạch", lambda: plan(ctx.db, now=now, actor=worker, only_post=only))
    if planned is not None:
        result.plan.merge(planned)


def step(
    ctx: PassContext, now: datetime, result: PassResult, guarded: Guard, name: str, method: str,
    **options: Any,
) -> StepResult | None:  # fmt: skip
    """One publishing step of one unit, merged into ``result``."""
    fn = getattr(ctx.publisher, method)
    done = guarded(name, lambda: fn(now, only_post=ctx.only_post, **options))
    if isinstance(done, StepResult):
        result.steps.merge(done)
        return done
    return None


def run_pass(ctx: PassContext, now: datetime) -> PassResult:
    """One full pass at ``now``; each stage is guarded so one failure never stops the rest."""
    result = PassResult(next_wakeup=None)
    publisher = ctx.publisher
    guarded = guard(ctx, result)
    scan(ctx, now, result, guarded)
    plan_step(ctx, now, result, guarded)
    for name, method in STEPS:
        if ctx.stop.is_set():
            break
        step(ctx, now, result, guarded, name, method)
    result.next_wakeup = guarded("tính giờ thức", lambda: publisher.next_wakeup(publisher.clock()))
    counts = guarded("đếm việc", lambda: attention_counts(ctx.db))
    if counts is not None:
        result.attention, result.open_work = counts
    return result


def attention_counts(db: Database) -> tuple[int, int]:
    """(things staff must act on, publications not yet live)."""
    with db.session() as session:
        waiting = session.scalar(
            select(func.count(Publication.id)).where(Publication.state == S.NEEDS_ATTENTION)
        )
        blocked = session.scalar(
            select(func.count(ChannelHealth.channel)).where(
                ChannelHealth.state.in_(BLOCKING_HEALTH)
            )
        )
        bad_posts = session.scalar(
            select(func.count(Post.id)).where(Post.state.in_(POST_NEEDS_PEOPLE))
        )
        open_work = session.scalar(
            select(func.count(Publication.id)).where(Publication.state.in_(UNFINISHED))
        )
    return int(waiting or 0) + int(blocked or 0) + int(bad_posts or 0), int(open_work or 0)


# ------------------------------------------------------------------ wiring


def default_ingest() -> IngestFn:
    """The queue reader (``services.ingest``) with its default image check."""
    from .ingest import ingest

    def run(db: Database, settings: Settings, now: datetime) -> Any:
        return ingest(db, settings, now=now)

    return run


class MediaRender:
    """``media.render_image`` bound to the cache folder and the pixel limit, and
    ``render_many`` (``media.render_images``): a post's photos rendered concurrently."""

    def __init__(
        self,
        settings: Settings,
        one: Callable[..., Sequence[Any]],
        many: Callable[..., Sequence[Any]],
    ) -> None:
        self.cache_dir = settings.media_cache_dir
        self.max_pixels = settings.media_max_pixels
        self._one, self._many = one, many

    def __call__(self, source: Path) -> Sequence[Any]:
        return self._one(source, cache_dir=self.cache_dir, max_pixels=self.max_pixels)

    def render_many(self, sources: Sequence[Path]) -> Sequence[Any]:
        return self._many(sources, cache_dir=self.cache_dir, max_pixels=self.max_pixels)


def default_render(settings: Settings) -> RenderFn | None:
    """``media.render_image`` (and ``render_images``) bound to the cache folder and the
    pixel limit."""
    try:
        from ..media import render_image, render_images  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        log.warning("media.render_image is missing: posts with photos cannot be published")
        return None
    return MediaRender(settings, render_image, render_images)


def zalo_token_store(
    db: Database, settings: Settings, *, clock: Callable[[], datetime] = utcnow
) -> DbTokenStore:
    """The database-backed Zalo token pair (``services.zalo_tokens``)."""
    from ..channels.zalo import ZaloOAuthClient
    from .zalo_tokens import DbTokenStore

    return DbTokenStore(db, settings, ZaloOAuthClient(settings), clock)


def build_channels(
    settings: Settings, db: Database, *, clock: Callable[[], datetime] = utcnow
) -> dict[str, Channel]:
    """The enabled channels; a channel whose settings are missing is simply absent."""
    channels: dict[str, Channel] = {}
    if settings.facebook_enabled:
        from ..channels.facebook import FacebookChannel  # type: ignore[attr-defined,unused-ignore]

        channels["facebook"] = FacebookChannel(settings, clock=clock)
    if settings.zalo_enabled:
        from ..channels.public_media import PublicMedia
        from ..channels.zalo import ZaloChannel

        channels["zalo"] = ZaloChannel(
            settings,
            tokens=zalo_token_store(db, settings, clock=clock),
            public_media=PublicMedia(settings) if settings.public_media_enabled else None,
            clock=clock,
            settle_window=settings.zalo_settle_seconds,
            # One verify per call: while Zalo processes, the daemon moves on and polls the
            # committed token again from a later pass instead of sleeping here.
            verify_timeout=0.0,
        )
    return channels


def build_context(
    settings: Settings,
    db: Database,
    *,
    clock: Callable[[], datetime] = utcnow,
    channels: Mapping[str, Channel] | None = None,
    ingest: IngestFn | bool | None = True,
    render: RenderFn | bool | None = True,
    worker: str | None = None,
    stop: threading.Event | None = None,
    rng: random.Random | None = None,
) -> PassContext:
    """Everything a pass needs, with the real collaborators unless given."""
    stop = stop or threading.Event()
    if settings.alert_urls:
        from .alert_daemon import install_listener

        install_listener(settings)  # moves made by this process write their alerts
    publisher = Publisher(
        db,
        settings,
        channels if channels is not None else build_channels(settings, db, clock=clock),
        worker=worker or worker_id(),
        clock=clock,
        render=default_render(settings) if render is True else (render or None),
        exclusive=settings.is_sqlite,
        rng=rng,
        stop=stop,
    )
    return PassContext(
        db=db,
        settings=settings,
        publisher=publisher,
        ingest=default_ingest() if ingest is True else (ingest or None),
        stop=stop,
    )


# ------------------------------------------------------------------ one daemon per SQLite file


@contextmanager
def daemon_lock(settings: Settings) -> Iterator[Path | None]:
    """Hold ``<db file>.daemon.lock`` (SQLite only); a second holder is refused."""
    path = sqlite_path(settings.database_url)
    if path is None:
        yield None
        return
    lock_path = Path(f"{path}.daemon.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise DaemonAlreadyRunning(
            f"Đã có một tiến trình social-publisher khác đang chạy với cơ sở dữ liệu {path} "
            f"(khóa {lock_path}). Mỗi cơ sở dữ liệu SQLite chỉ chạy một tiến trình: dừng "
            "tiến trình kia trước (Ctrl+C trong cửa sổ của nó, hoặc dừng dịch vụ), hoặc dùng "
            "PostgreSQL (DATABASE_URL) để chạy nhiều tiến trình."
        ) from None
    try:
        yield lock_path
    finally:
        lock.release()


def lock_is_free(settings: Settings) -> bool:
    """True when no daemon holds this database (always True on PostgreSQL)."""
    try:
        with daemon_lock(settings):
            return True
    except DaemonAlreadyRunning:
        return False


# ------------------------------------------------------------------ the daemon


class Daemon:
    """APScheduler around :func:`run_pass`: a tick, exact wake-ups, and the hourly jobs."""

    def __init__(
        self,
        ctx: PassContext | Fleet,
        *,
        clock: Callable[[], datetime] = utcnow,
        exact_wakeups: bool = True,
        background_jobs: bool = True,
        member: ClusterMember | None = None,
    ) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        self.ctx = ctx
        #: the many-unit pass (``services.fleet``), or None for the daemon of one office
        self.fleet: Fleet | None = None if isinstance(ctx, PassContext) else ctx
        self.clock = clock
        self.exact_wakeups = exact_wakeups
        self.background_jobs = background_jobs
        #: the worker's registration (``run`` gives one): reconnections go through it
        self.member = member
        self.stop_event = ctx.stop
        self._pass_lock = threading.Lock()
        self.passes = 0
        self.last_result: PassResult | None = None
        self.scheduler = BackgroundScheduler(
            timezone=ctx.settings.tz,
            executors={
                "default": ThreadPoolExecutor(1),
                "jobs": ThreadPoolExecutor(1),
                # alerts (services.alert_daemon): the sender and the heartbeat, apart
                "alerts": ThreadPoolExecutor(1),
                "beat": ThreadPoolExecutor(1),
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # ------------------------------------------------------------ passes

    def run_once(self) -> PassResult:
        """One pass now (never two at once), then arm the exact wake-up."""
        with self._pass_lock:
            if self.stop_event.is_set():
                return self.last_result or PassResult(next_wakeup=None)
            ctx = self.ctx
            if isinstance(ctx, PassContext):
                result = run_pass(ctx, self.clock())
            else:
                result = ctx.run_pass(self.clock())
            self.passes += 1
            self.last_result = result
            if result.connection_lost:
                self._reconnect()
            release_memory()
        if self.exact_wakeups and self.scheduler.running:
            self._arm(result.next_wakeup)
        return result

    def _reconnect(self) -> None:
        """After a pass that lost the database: wait with backoff until it answers, then go
        on under a new worker identity (the half-done claims are reconciled at once)."""
        from sqlalchemy import text

        delay = 0.5
        log.warning(
            "Mất kết nối tới cơ sở dữ liệu giữa một lượt: chờ %.1f giây rồi kết nối lại.", delay
        )
        while not self.stop_event.wait(delay):
            try:
                with self.ctx.db.session() as session:
                    session.execute(text("SELECT 1"))
                if self.member is not None:
                    self.member.renew_identity()
                return
            except Exception as exc:
                if not is_connection_loss(exc):
                    log.exception("unexpected error while reconnecting to the database")
                delay = min(delay * 2, 8.0)
                log.info("Chưa kết nối lại được cơ sở dữ liệu; thử lại sau %.1f giây.", delay)

    def wake(self) -> None:
        """Run a pass as soon as possible (a decision made in the web console of ``run --web``)."""
        if self.scheduler.running and not self.stop_event.is_set():
            if self.fleet is not None:  # the staff's unit may be an idle one
                self.fleet.everything.set()
            self.scheduler.add_job(self.run_once, id="nudge", name="console", replace_existing=True)

    def _arm(self, at: datetime | None) -> None:
        from apscheduler.triggers.date import DateTrigger

        if self.stop_event.is_set():
            return
        if at is None:
            if self.scheduler.get_job("wakeup") is not None:
                self.scheduler.remove_job("wakeup")
            return
        tick = timedelta(seconds=self.ctx.settings.tick_seconds)
        if at - self.clock() >= tick:
            # The tick comes first anyway; keep no date job around.
            if self.scheduler.get_job("wakeup") is not None:
                self.scheduler.remove_job("wakeup")
            return
        self.scheduler.add_job(
            self.run_once,
            DateTrigger(run_date=at),
            id="wakeup",
            name="exact wake-up",
            replace_existing=True,
        )
        log.debug("next wake-up at %s", at.isoformat())

    # ------------------------------------------------------------ side jobs

    @property
    def unit_contexts(self) -> list[PassContext]:
        """Each unit's pass context (one: the daemon of one office)."""
        return self.fleet.contexts if self.fleet is not None else [cast(PassContext, self.ctx)]

    def refresh_zalo_token(self) -> None:
        """Hourly: rotate each unit's Zalo pair once its access token is 20 h old."""
        for ctx in self.unit_contexts:
            self._refresh_zalo_token(ctx)

    def _refresh_zalo_token(self, ctx: PassContext) -> None:
        settings = ctx.settings
        if not settings.zalo_enabled:
            return
        try:
            store = zalo_token_store(ctx.db, settings, clock=self.clock)
            pair = store.load()
            if pair is None:
                return
            if pair.refresh_started_at is not None or pair.refresh_due(self.clock()):
                store.refresh(pair.access_token)
                log.info("Đã làm mới token Zalo (token cũ đã dùng khoảng 20 giờ).")
        except SocialPublisherError as exc:
            log.error("Không làm mới được token Zalo: %s", exc.message)
        except Exception:
            log.exception("unexpected error refreshing the Zalo token")

    def collect_engagement(self) -> None:
        from .shares import unit_pages

        # the install's units' Pages, read with their own tokens (once, for every unit)
        pages = unit_pages([u.unit for u in self.fleet.units]) if self.fleet else None
        for ctx in self.unit_contexts:
            self._collect_engagement(ctx, pages)

    def _collect_engagement(self, ctx: PassContext, pages: Mapping[str, Any] | None) -> None:
        try:
            from .engagement import collect

            collect(ctx.db, ctx.settings, now=self.clock(), pages=pages)
        except SocialPublisherError as exc:
            log.error("Không thu thập được số liệu tương tác: %s", exc.message)
        except Exception:
            log.exception("unexpected error collecting engagement")

    def monthly_report(self) -> None:
        """Day 1 at 07:00: last month's report of each unit into its REPORT_DIR, and with
        several units the province's workbook of them all into the install's."""
        for ctx in self.unit_contexts:
            self._monthly_report(ctx)
        if self.fleet is not None and len(self.fleet.units) > 1:
            self._province_report([u.unit for u in self.fleet.units])

    def _province_report(self, units: Sequence[Any]) -> None:
        try:
            from .report import ReportHeading, previous_month
            from .report_units import make_province_report

            settings = self.ctx.settings
            period = previous_month(self.clock(), settings.tz)
            with once_in_cluster(self.ctx.db, f"province-report:{period.slug}") as mine:
                if not mine:
                    return
                report = make_province_report(
                    self.ctx.db, units, period, settings.report_dir, now=self.clock(),
                    heading=ReportHeading.from_settings(settings),
                )  # fmt: skip
            log.info("Đã xuất báo cáo tổng hợp các đơn vị: %s", report.workbook)
        except SocialPublisherError as exc:
            log.error("Không xuất được báo cáo tổng hợp các đơn vị: %s", exc.message)
        except Exception:
            log.exception("unexpected error writing the province report")

    def _monthly_report(self, ctx: PassContext) -> None:
        try:
            from .report import previous_month, write_monthly_report

            period = previous_month(self.clock(), ctx.settings.tz)
            with once_in_cluster(ctx.db, f"monthly-report:{period.slug}") as mine:
                if not mine:
                    log.info("Báo cáo tháng %s do tiến trình khác xuất.", period.slug)
                    return
                folder = write_monthly_report(ctx.db, ctx.settings, now=self.clock())
            log.info("Đã xuất báo cáo tháng: %s", folder)
            if ctx.settings.alert_urls:
                from .alert_watch import report_ready

                report_ready(ctx.db, ctx.settings, folder, self.clock())
        except SocialPublisherError as exc:
            log.error("Không xuất được báo cáo tháng: %s", exc.message)
        except Exception:
            log.exception("unexpected error writing the monthly report")

    def prune_media_cache(self) -> None:
        """Daily: drop renditions unused for MEDIA_CACHE_DAYS, between passes (a pass may be
        about to upload one it just found)."""
        settings = self.ctx.settings
        if settings.media_cache_days <= 0:
            return
        try:
            from ..media.cache import prune, size_label

            name = f"media-cache:{socket.gethostname()}:{settings.media_cache_dir.resolve()}"
            with cluster_lock(self.ctx.db, name) as mine, self._pass_lock:
                if not mine:
                    return  # another worker on this host prunes the same folder right now
                pruned = prune(
                    settings.media_cache_dir,
                    keep_days=settings.media_cache_days,
                    now=self.clock().timestamp(),
                )
            if pruned.entries:
                log.info(
                    "Đã xóa %d ảnh đã xử lý không dùng đến trong %d ngày (%s).",
                    pruned.entries,
                    settings.media_cache_days,
                    size_label(pruned.bytes),
                )
        except Exception:
            log.exception("unexpected error pruning the media cache")

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        settings = self.ctx.settings
        now = self.clock()
        self.scheduler.add_job(
            self.run_once,
            IntervalTrigger(seconds=settings.tick_seconds),
            id="tick",
            name="regular pass",
            next_run_time=now,
        )
        if self.background_jobs:
            self.scheduler.add_job(
                self.refresh_zalo_token,
                IntervalTrigger(hours=1),
                id="zalo_tokens",
                executor="jobs",
                next_run_time=now + timedelta(seconds=5),
            )
            self.scheduler.add_job(
                self.collect_engagement,
                IntervalTrigger(hours=1),
                id="engagement",
                executor="jobs",
                next_run_time=now + timedelta(minutes=2),
            )
            self.scheduler.add_job(
                self.prune_media_cache,
                IntervalTrigger(hours=24),  # not a fixed hour: office PCs sleep at night
                id="media_cache",
                executor="jobs",
                next_run_time=now + timedelta(minutes=10),
            )
            self.scheduler.add_job(
                self.monthly_report,
                CronTrigger(day=1, hour=7, minute=0, timezone=settings.tz),
                id="monthly_report",
                executor="jobs",
            )
        from .alert_daemon import attach

        fleet = self.fleet.units if self.fleet else None  # each unit's targets and hours
        attach(
            self.scheduler,
            self.ctx.db,
            settings,
            worker=self.ctx.publisher.worker,
            clock=self.clock,
            stop=self.stop_event,
            watch=self.background_jobs,
            channels=self.ctx.publisher.channels,
            units=[u.unit for u in fleet] if fleet else None,
            channels_by_unit={u.unit.id: u.ctx.publisher.channels for u in fleet}
            if fleet
            else None,
        )
        self.scheduler.start()

    def request_stop(self, reason: str = "") -> None:
        if not self.stop_event.is_set():
            log.info(
                "Đang dừng%s: chờ việc đang làm xong rồi thoát.", f" ({reason})" if reason else ""
            )
        self.stop_event.set()

    def shutdown(self) -> None:
        self.stop_event.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.fleet is not None:  # its unit threads
            self.fleet.close()

    def serve(self, *, install_signals: bool = True) -> int:
        """Run until SIGINT/SIGTERM (SIGBREAK on Windows); the in-flight call finishes first."""
        previous: dict[int, Any] = {}
        if install_signals and threading.current_thread() is threading.main_thread():
            names = ["SIGINT", "SIGTERM", "SIGBREAK", "SIGHUP"]
            for name in names:
                signum = getattr(signal, name, None)
                if signum is None:
                    continue

                def handler(num: int, frame: FrameType | None, name: str = name) -> None:
                    self.request_stop(name)

                try:
                    previous[signum] = signal.signal(signum, handler)
                except (OSError, ValueError):
                    continue
        self.start()
        settings = self.ctx.settings
        log.info(
            "Đã khởi động: quét %s mỗi %s giây; kênh đang bật: %s.",
            settings.queue_dir,
            settings.tick_seconds,
            ", ".join(platform_name(c) for c in self.ctx.publisher.channels)
            or "không có (thiếu cấu hình)",
        )
        try:
            while not self.stop_event.wait(0.5):
                pass
        finally:
            self.shutdown()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        log.info("Đã dừng.")
        return 0
