"""Engagement collection: snapshots of each live publication's counters on a schedule.

A small town Page has a small API budget (4800 calls × engaged users a day),
so collection is batched: Facebook through synchronous batch requests of at
most 50 entries (two requests per 50 posts, not two per post; ``?ids=`` is
refused to apps made since Nov 2026), Zalo through the paged article list.
Each publication has its own schedule (``Publication.next_collect_at``): 1 h
and 24 h after publishing, then daily for 30 days, then at each month end
(23:00 local) for a year, so a month's figure (the last snapshot taken in the
month) is close to the true month-end value. Metrics a Page refuses (insights
need 100+ likes) are remembered in ``Meta`` and not asked again for a month.

The daemon calls :func:`collect` hourly; ``social-publisher collect`` runs it now.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select, update

from ..config import Settings
from ..errors import AuthError, ChannelError, RateLimitError, SetupError
from ..store import Database, EngagementSnapshot, Meta, Publication
from ..store.tenancy import unit_key
from .agencies import FileProblems, load_agencies
from .shares import DetectReport, UnitPage, detect_shares, live_publications
from .video_engagement import add_facebook_views, video_uploads, zalo_video_engagement

log = logging.getLogger("social_publisher.engagement")

FB_BATCH = 50
DAILY_DAYS = 30
MONTHLY_FOR_DAYS = 365
MONTH_END_HOUR = 23
#: a claimed publication is retried after this long if its collection dies half-way
CLAIM_LEASE = timedelta(minutes=30)
#: metrics a Page refused are asked again after this long (a Page may pass 100 likes)
UNAVAILABLE_RETRY = timedelta(days=30)
UNAVAILABLE_KEY = "facebook:unavailable_metrics:{page_id}"
#: Zalo's article list is walked at most this many pages (10 articles each) per collection
ZALO_MAX_PAGES = 100


# ------------------------------------------------------------------ the schedule


def _month_ends(start: datetime, stop: datetime, tz: ZoneInfo) -> Iterable[datetime]:
    local = start.astimezone(tz)
    year, month = local.year, local.month
    while True:
        last_day = calendar.monthrange(year, month)[1]
        point = datetime(year, month, last_day, MONTH_END_HOUR, tzinfo=tz)
        if point > stop:
            return
        yield point
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def collection_points(published_at: datetime, tz: ZoneInfo) -> list[datetime]:
    """Every moment a publication's counters are read, in order."""
    points = {published_at + timedelta(hours=1), published_at + timedelta(hours=24)}
    points.update(published_at + timedelta(days=d) for d in range(2, DAILY_DAYS + 1))
    first = published_at + timedelta(hours=1)
    points.update(
        p
        for p in _month_ends(published_at, published_at + timedelta(days=MONTHLY_FOR_DAYS), tz)
        if p > first
    )
    return sorted(points)


def next_collect_after(published_at: datetime, after: datetime, tz: ZoneInfo) -> datetime | None:
    """The first scheduled read after ``after`` (missed ones are not caught up one by one)."""
    return next((p for p in collection_points(published_at, tz) if p > after), None)


# ------------------------------------------------------------------ collection


@dataclass
class CollectReport:
    """What one collection did; ``lines()`` is the staff summary."""

    now: datetime
    due: dict[str, int] = field(default_factory=dict)
    collected: dict[str, int] = field(default_factory=dict)
    snapshots: int = 0
    not_found: list[str] = field(default_factory=list)
    unavailable_metrics: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    shares: DetectReport | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and not (self.shares and self.shares.errors)

    def log_lines(self) -> list[str]:
        """What the daemon's log says of this run (staff read it: Vietnamese)."""
        due = sum(self.due.values())
        lines = [
            f"Thu thập số liệu: {due} bài đến lượt, lưu {self.snapshots} bản ghi"
            + (f", không tìm thấy {len(self.not_found)} bài" if self.not_found else "")
            + "."
        ]
        if self.shares is not None and (self.shares.pages_read or self.shares.found):
            lines.append(
                f"Chia sẻ của đơn vị: đọc {self.shares.pages_read} Trang, "
                f"tìm thấy {len(self.shares.found)} lượt mới."
            )
        lines += self.notes
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "due": self.due,
            "collected": self.collected,
            "snapshots": self.snapshots,
            "not_found": self.not_found,
            "unavailable_metrics": self.unavailable_metrics,
            "notes": self.notes,
            "errors": self.errors,
            "shares_found": len(self.shares.found) if self.shares else 0,
            "agency_pages_read": self.shares.pages_read if self.shares else 0,
            "share_errors": self.shares.errors if self.shares else [],
        }


@dataclass(frozen=True)
class _Due:
    id: int
    channel: str
    remote_id: str
    published_at: datetime
    next_collect_at: datetime | None


ChannelFactory = Callable[[], Any]


def collect(
    db: Database,
    settings: Settings,
    *,
    now: datetime,
    facebook: Any = None,
    zalo: Any = None,
    everything: bool = False,
    detect: bool = True,
    sync_agencies: bool = True,
    pages: Mapping[str, UnitPage] | None = None,
) -> CollectReport:
    """Collect every publication whose ``next_collect_at`` has come (all live ones if
    ``everything``), then look for agency shares in the feeds we can read (``pages``: the
    install's units' Pages, read with their own tokens; None: from the units file).

    Channels are injected; when None they are built from settings, and a channel
    that is off is skipped with a note (its publications stay due).
    """
    report = CollectReport(now=now)
    _schedule_new(db, settings, now=now)
    due = _claim_due(db, now=now, everything=everything)
    by_channel: dict[str, list[_Due]] = {}
    for item in due:
        by_channel.setdefault(item.channel, []).append(item)
    report.due = {ch: len(items) for ch, items in by_channel.items()}

    fb_items = by_channel.pop("facebook", [])
    zalo_items = by_channel.pop("zalo", [])
    if fb_items or detect:
        facebook = facebook if facebook is not None else _default_facebook(settings, report)
    if fb_items:
        if facebook is None:
            _release(db, fb_items)
        else:
            _collect_facebook(db, settings, facebook, fb_items, report, now=now)
    if zalo_items:
        zalo = zalo if zalo is not None else _default_zalo(db, settings, report)
        if zalo is None:
            _release(db, zalo_items)
        else:
            _collect_zalo(db, settings, zalo, zalo_items, report, now=now)
    for channel, items in by_channel.items():
        report.notes.append(f"Kênh “{channel}” không thu thập được số liệu ({len(items)} bài).")
        _advance(db, settings, items, now=now)

    if detect and facebook is not None:
        if sync_agencies:
            try:
                load_agencies(db, settings, now=now)
            except FileProblems as exc:
                report.notes.append(
                    "Không cập nhật được danh sách đơn vị, dùng danh sách đã lưu:\n" + exc.message
                )
        matcher = _matcher(facebook)
        if matcher is not None:
            report.shares = detect_shares(
                db,
                settings,
                now=now,
                facebook=facebook,
                match_share=matcher,
                force=everything,
                pages=pages,
            )
    for line in report.log_lines():
        log.info(line)
    for error in [*report.errors, *(report.shares.errors if report.shares else [])]:
        log.warning(error)
    return report


def _schedule_new(db: Database, settings: Settings, *, now: datetime) -> None:
    """Publications that went live but were never scheduled: first read 1 h after publishing."""
    with db.session() as s:
        rows = s.execute(
            select(Publication.id, Publication.published_at).where(
                Publication.id.in_(live_publications()),
                Publication.remote_id.is_not(None),
                Publication.next_collect_at.is_(None),
                ~exists().where(EngagementSnapshot.publication_id == Publication.id),
            )
        ).all()
        for pub_id, published_at in rows:
            if published_at is None:
                continue
            first = next_collect_after(published_at, published_at, settings.tz)
            if first is None:
                continue
            s.execute(
                update(Publication)
                .where(Publication.id == pub_id, Publication.next_collect_at.is_(None))
                .values(next_collect_at=first)
            )


def _claim_due(db: Database, *, now: datetime, everything: bool) -> list[_Due]:
    """Due publications, each claimed by a conditional UPDATE so two daemons never both read it."""
    with db.session() as s:
        stmt = select(
            Publication.id,
            Publication.channel,
            Publication.remote_id,
            Publication.published_at,
            Publication.next_collect_at,
        ).where(Publication.id.in_(live_publications()), Publication.remote_id.is_not(None))
        if not everything:
            stmt = stmt.where(Publication.next_collect_at <= now)
        rows = [
            _Due(pid, channel, rid, published_at, next_at)
            for pid, channel, rid, published_at, next_at in s.execute(stmt.order_by(Publication.id))
            if rid and published_at is not None
        ]
        claimed: list[_Due] = []
        lease = now + CLAIM_LEASE
        for row in rows:
            cond = (
                Publication.next_collect_at.is_(None)
                if row.next_collect_at is None
                else Publication.next_collect_at == row.next_collect_at
            )
            result = s.execute(
                update(Publication)
                .where(Publication.id == row.id, cond)
                .values(next_collect_at=lease)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) == 1:
                claimed.append(row)
    return claimed


def _release(db: Database, items: Sequence[_Due]) -> None:
    """Give back claims of a channel that is off, so they stay due."""
    with db.session() as s:
        for item in items:
            s.execute(
                update(Publication)
                .where(Publication.id == item.id)
                .values(next_collect_at=item.next_collect_at)
            )


def _advance(db: Database, settings: Settings, items: Sequence[_Due], *, now: datetime) -> None:
    with db.session() as s:
        for item in items:
            s.execute(
                update(Publication)
                .where(Publication.id == item.id)
                .values(next_collect_at=next_collect_after(item.published_at, now, settings.tz))
            )


def _store(
    db: Database,
    settings: Settings,
    items: Sequence[_Due],
    results: Mapping[str, Any],
    report: CollectReport,
    *,
    now: datetime,
) -> None:
    """Snapshots for what came back; every item's schedule moves on either way."""
    with db.session() as s:
        for item in items:
            eng = results.get(item.remote_id)
            if eng is None:
                report.not_found.append(f"{item.channel}:{item.remote_id}")
            else:
                s.add(
                    EngagementSnapshot(
                        publication_id=item.id,
                        taken_at=now,
                        reactions=eng.reactions,
                        comments=eng.comments,
                        shares=eng.shares,
                        views=eng.views,
                        reach=eng.reach,
                        raw=dict(eng.raw or {}),
                    )
                )
                report.snapshots += 1
                report.collected[item.channel] = report.collected.get(item.channel, 0) + 1
            s.execute(
                update(Publication)
                .where(Publication.id == item.id)
                .values(next_collect_at=next_collect_after(item.published_at, now, settings.tz))
            )


def _channel_error(report: CollectReport, name: str, exc: ChannelError, left: int) -> None:
    if isinstance(exc, SetupError):  # a setting to fix, said in full (never the posts' fault)
        report.errors.append(f"{name}: không đọc được số liệu của {left} bài. {exc.advice}")
        return
    if isinstance(exc, AuthError):
        hint = "mã truy cập không còn hiệu lực: cấp lại mã rồi chạy lại"
    elif isinstance(exc, RateLimitError):
        hint = "vượt giới hạn gọi API: sẽ thử lại ở lần thu thập sau"
    else:
        hint = "sẽ thử lại ở lần thu thập sau"
    report.errors.append(f"{name}: không đọc được số liệu của {left} bài ({hint}). {exc.message}")


def _collect_facebook(
    db: Database,
    settings: Settings,
    facebook: Any,
    items: list[_Due],
    report: CollectReport,
    *,
    now: datetime,
) -> None:
    key = UNAVAILABLE_KEY.format(page_id=settings.fb_page_id or "page")
    with db.session() as s:
        meta = s.get(Meta, unit_key(s, key))
        stored = dict(meta.value) if meta else {}
    stored_metrics = set(stored.get("metrics", []))
    since = stored.get("since")
    unavailable = frozenset(stored_metrics)
    reset = bool(unavailable and since and now - datetime.fromisoformat(since) > UNAVAILABLE_RETRY)
    if reset:
        unavailable = frozenset()  # ask again: the Page may answer them now
    learnt = set(unavailable)
    uploads = video_uploads(db, [i.id for i in items])
    for start in range(0, len(items), FB_BATCH):
        chunk = items[start : start + FB_BATCH]
        try:
            result = facebook.fetch_engagement(
                [i.remote_id for i in chunk], unavailable_metrics=frozenset(learnt)
            )
        except ChannelError as exc:
            # the rest keep their claim lease and are retried in about half an hour
            _channel_error(report, "Facebook", exc, len(items) - start)
            if isinstance(exc, SetupError):
                from .setup_checks import record_setup_block

                record_setup_block(db, "facebook", exc, now=now, actor="collect")
            break
        learnt |= set(getattr(result, "unavailable_metrics", frozenset()))
        found = add_facebook_views(facebook, uploads, chunk, result.results) if uploads else None
        _store(db, settings, chunk, found if found is not None else result.results, report, now=now)
    report.unavailable_metrics = sorted(learnt)
    if learnt != stored_metrics or reset:
        value = {"metrics": sorted(learnt), "since": now.isoformat()}
        with db.session() as s:
            meta = s.get(Meta, unit_key(s, key))
            if meta is None:
                s.add(Meta(key=key, value=value, updated_at=now))
            else:
                meta.value = value
                meta.updated_at = now
    if learnt:
        report.notes.append(
            "Trang Facebook chưa trả các chỉ số: "
            + ", ".join(sorted(learnt))
            + " (thường do Trang dưới 100 lượt thích); sẽ thử lại sau 30 ngày."
        )


def _collect_zalo(
    db: Database,
    settings: Settings,
    zalo: Any,
    items: list[_Due],
    report: CollectReport,
    *,
    now: datetime,
) -> None:
    uploads = video_uploads(db, [i.id for i in items])
    videos = [i for i in items if i.id in uploads]
    items = [i for i in items if i.id not in uploads]
    try:
        results = zalo.fetch_engagement([i.remote_id for i in items]) if items else {}
        if videos:  # video articles are listed apart (getslice?type=video)
            results = {
                **results,
                **zalo_video_engagement(zalo, [i.remote_id for i in videos]),
            }
    except ChannelError as exc:
        _channel_error(report, "Zalo", exc, len(items) + len(videos))
        return
    _store(db, settings, [*items, *videos], results, report, now=now)


def _default_facebook(settings: Settings, report: CollectReport) -> Any:
    if not settings.facebook_enabled:
        report.notes.append(
            "Facebook chưa được cấu hình (thiếu "
            + ", ".join(settings.missing_for("facebook"))
            + "): bỏ qua số liệu Facebook."
        )
        return None
    from ..channels.facebook import FacebookChannel

    return FacebookChannel(settings)


def _default_zalo(db: Database, settings: Settings, report: CollectReport) -> Any:
    if not settings.zalo_enabled:
        report.notes.append(
            "Zalo chưa được cấu hình (thiếu "
            + ", ".join(settings.missing_for("zalo"))
            + "): bỏ qua số liệu Zalo."
        )
        return None
    from ..channels.zalo import ZaloChannel, ZaloOAuthClient
    from .zalo_tokens import DbTokenStore

    tokens = DbTokenStore(db, settings, ZaloOAuthClient(settings))
    # getslice lists newest first, 10 a page, and stops once every wanted article is
    # found; the cap only bounds the walk when an article was removed from the OA
    return ZaloChannel(settings, tokens=tokens, max_pages=ZALO_MAX_PAGES)


def _matcher(facebook: Any) -> Callable[[Any, Mapping[str, str]], str | None] | None:
    method = getattr(facebook, "match_share", None)
    if callable(method):
        return method  # type: ignore[no-any-return]
    try:
        from ..channels import facebook as fb_module
    except ImportError:
        return None
    func = getattr(fb_module, "match_share", None)
    return func if callable(func) else None
