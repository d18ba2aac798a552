"""The engagement report the town sends to the province (monthly, and year to date for 20/11).

One folder per period (``bao-cao-2024-10/``, ``bao-cao-nam-2024/``) holding an
Excel workbook (summary, comparison with earlier periods, month by month for a
year, per post, per agency, plan targets vs achieved, the share matrix, the
chart), the same tables as CSV in UTF-8 with BOM (so Excel shows the
Vietnamese), the PNG chart (posts and engagement by week for a month, by month
for a year), and a formal report document (.docx, Nghị định 30/2020/NĐ-CP) the
office can sign and file as it is.

What counts: publications that went live in the period by local time (a post
at 23:30 on the 31st belongs to that month); each one's figures are its last
snapshot taken before the period ended, i.e. what was true at month end. The
data is read with a handful of set-based queries (a window function picks each
publication's last snapshot), so a year of a busy Page takes seconds.

Every file is written under a temporary name and renamed into place when all
are written, the workbook last: a report killed half-way never leaves a
corrupt file under a final name, and the workbook's presence means the set is
complete (the daemon's monthly job relies on that).
"""

from __future__ import annotations

import calendar
import csv
import logging
import os
import re
import time
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..config import Settings
from ..errors import SocialPublisherError
from ..numbers import vn_decimal, vn_number, vn_percent
from ..platforms import PLATFORM_NAMES
from ..store import Database, EngagementSnapshot
from .agencies import GROUPS, FileProblems, load_agencies
from .report_chart import ChartPoint, render_chart
from .shares import STATE_LABELS, PostRef, ShareMatrix, ShareState, Tally, live_posts, share_matrix
from .shares import live_publications as _live

log = logging.getLogger("social_publisher.report")

CHANNEL_LABELS = PLATFORM_NAMES
METRICS = ("reactions", "comments", "shares", "views", "reach")
#: the counters each platform gives (Zalo articles: views and shares only)
CHANNEL_METRICS = {
    "facebook": ("reactions", "comments", "shares", "views", "reach"),
    "zalo": ("shares", "views"),
}
#: temporary files of a report being written start with this
PARTIAL_PREFIX = ".dang-ghi-"
#: how long a second writer of the same report folder waits for the first, seconds
_WRITER_WAIT = 300


# ------------------------------------------------------------------ numbers for people


def vn_date_line(place: str, day: date) -> str:
    """``Đức Phổ, ngày 05 tháng 3 năm 2024``: a leading zero for days below 10 and months 1, 2.

    That is Nghị định 30/2020/NĐ-CP, Phụ lục I, mục II.6.
    """
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)
    return f"{place}, ngày {day.day:02d} tháng {month} năm {day.year}"


# ------------------------------------------------------------------ periods


@dataclass(frozen=True)
class Period:
    """A report period in local time; ``start``/``end`` (exclusive) are aware datetimes."""

    year: int
    month: int | None  # None: the whole year (year to date)
    tz: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month or 1, 1, tzinfo=self.tz)

    @property
    def end(self) -> datetime:
        if self.month is None or self.month == 12:
            return datetime(self.year + 1, 1, 1, tzinfo=self.tz)
        return datetime(self.year, self.month + 1, 1, tzinfo=self.tz)

    @property
    def label(self) -> str:
        return f"tháng {self.month:02d}/{self.year}" if self.month else f"năm {self.year}"

    @property
    def slug(self) -> str:
        return f"{self.year}-{self.month:02d}" if self.month else f"nam-{self.year}"

    @property
    def folder_name(self) -> str:
        return f"bao-cao-{self.slug}"

    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()

    def to_date(self, now: datetime) -> bool:
        """The period is still running (a year-to-date or month-to-date report)."""
        return self.start <= now < self.end

    def months_begun(self, now: datetime) -> int:
        """Months of the period begun by ``now``: 1 for a month; for a year, January to now."""
        if self.month is not None:
            return 1
        local = now.astimezone(self.tz)
        if local.year > self.year:
            return 12
        if local.year < self.year:
            return 0
        return local.month

    def months_elapsed(self, now: datetime) -> float:
        """Months of plan the period has had by ``now``: whole months, the current one by day.

        Plan targets are monthly; on 18 November a year-to-date report is measured against
        10 + 18/30 months of them, not 11 (nor 12).
        """
        if now >= self.end:
            return 1.0 if self.month is not None else 12.0
        if now < self.start:
            return 0.0
        local = now.astimezone(self.tz)
        part = local.day / calendar.monthrange(local.year, local.month)[1]
        return part if self.month is not None else (local.month - 1) + part

    def range_text(self, now: datetime) -> str:
        last = self.end - timedelta(seconds=1)
        if self.start <= now < last:  # year (or month) to date
            last = now.astimezone(self.tz)
        return f"{self.start:%d/%m/%Y} – {last:%d/%m/%Y}"


def parse_month(text: str, tz: ZoneInfo) -> Period:
    """``YYYY-MM`` (also ``MM/YYYY``) or ValueError with a Vietnamese message."""
    text = text.strip()
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", text) or re.fullmatch(r"(\d{1,2})/(\d{4})", text)
    if m:
        year, month = (
            (int(m.group(1)), int(m.group(2)))
            if "-" in text
            else (int(m.group(2)), int(m.group(1)))
        )
        if 1 <= month <= 12 and 2000 <= year <= 2100:
            return Period(year, month, tz)
    raise ValueError(
        f"tháng “{text}” không hợp lệ: ghi dạng YYYY-MM, ví dụ --month 2024-10 cho tháng 10/2024."
    )


def parse_year(text: str, tz: ZoneInfo) -> Period:
    text = text.strip()
    if re.fullmatch(r"\d{4}", text) and 2000 <= int(text) <= 2100:
        return Period(int(text), None, tz)
    raise ValueError(f"năm “{text}” không hợp lệ: ghi 4 chữ số, ví dụ --year 2024.")


def previous_month(now: datetime, tz: ZoneInfo) -> Period:
    local = now.astimezone(tz)
    if local.month == 1:
        return Period(local.year - 1, 12, tz)
    return Period(local.year, local.month - 1, tz)


@dataclass(frozen=True)
class Span:
    """A stretch of time a period is compared with: [start, end), named for people."""

    start: datetime
    end: datetime
    label: str


def _same_moment(now: datetime, period: Period, other: Period) -> datetime:
    """``now``'s place in ``period`` moved into ``other`` (18/11/2024 09:00 → 18/11/2023 09:00)."""
    local = now.astimezone(period.tz)
    month = other.month or local.month
    day = min(local.day, calendar.monthrange(other.year, month)[1])
    return local.replace(year=other.year, month=month, day=day)


def comparison_spans(period: Period, now: datetime) -> list[tuple[str, Span]]:
    """(column heading, span): a month against the month before and the same month a year
    before; a year against the year before. A period still running is compared with the
    same stretch of the other (1 to 18 October against 1 to 18 September)."""
    tz = period.tz
    others: list[tuple[str, Period]]
    if period.month:
        others = [
            ("Tháng trước", previous_month(period.start, tz)),
            ("Cùng kỳ năm trước", Period(period.year - 1, period.month, tz)),
        ]
    else:
        others = [("Cùng kỳ năm trước", Period(period.year - 1, None, tz))]
    spans = []
    for heading, other in others:
        end, label = other.end, other.label
        if period.to_date(now):
            end = min(other.end, max(other.start, _same_moment(now, period, other)))
            label = f"{other.label}, đến {end - timedelta(seconds=1):%d/%m/%Y}"
        spans.append((heading, Span(other.start, end, label)))
    return spans


# ------------------------------------------------------------------ who reports


@dataclass(frozen=True)
class ReportHeading:
    """The fixed texts of one unit's report: its heading, number line, signer and recipients.

    Built from settings for the one unit of an office install; a many-unit install builds
    one per unit and passes it to ``make_report``. Nothing here comes from the Zalo author
    setting (``DEFAULT_AUTHOR``): an article's byline is not the report's issuer.
    """

    unit_name: str
    parent_body: str = ""
    place: str = ""
    number_code: str = "BC"
    subject: str = "Kết quả truyền thông chuyển đổi số trên mạng xã hội"
    basis: str = ""
    signer_authority: str = ""
    signer_title: str = ""
    signer_name: str = ""
    recipients: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> ReportHeading:
        return cls(
            unit_name=settings.report_unit_name,
            parent_body=settings.report_parent_body,
            place=settings.report_place,
            number_code=settings.report_number_code,
            subject=settings.report_subject,
            basis=settings.report_basis,
            signer_authority=settings.report_signer_authority,
            signer_title=settings.report_signer_title,
            signer_name=settings.report_signer_name,
            recipients=tuple(r.strip() for r in settings.report_recipients.split(";") if r.strip()),
        )

    @property
    def unit_line(self) -> str:
        """``Phòng Văn hóa và Thông tin – UBND thị xã Đức Phổ`` (workbook and chart titles)."""
        return " – ".join(x for x in (self.unit_name, self.parent_body) if x)


# ------------------------------------------------------------------ the data


@dataclass(frozen=True)
class PubFigures:
    """One publication's row: its last snapshot before the period ended."""

    pub_id: int
    post_id: int
    channel: str
    folder: str
    title: str
    published_at: datetime
    url: str | None
    taken_at: datetime | None
    reactions: int | None
    comments: int | None
    shares: int | None
    views: int | None
    reach: int | None

    @property
    def interactions(self) -> int:
        return (self.reactions or 0) + (self.comments or 0) + (self.shares or 0)


@dataclass
class ChannelTotals:
    posts: int = 0
    values: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(METRICS))

    def add(self, figures: Sequence[int | None]) -> None:
        """One publication: its metrics ordered like ``METRICS`` (None: not measured)."""
        self.posts += 1
        for metric, value in zip(METRICS, figures, strict=True):
            if value is not None:
                self.values[metric] = (self.values[metric] or 0) + value


@dataclass(frozen=True)
class PeriodFigures:
    """The headline figures of one period: what the comparison table sets side by side."""

    label: str
    totals: dict[str, ChannelTotals]
    shares: Tally

    def posts(self, channel: str) -> int:
        return self.totals[channel].posts

    def metric(self, metric: str) -> int:
        return sum(t.values[metric] or 0 for t in self.totals.values())

    @property
    def interactions(self) -> int:
        return self.metric("reactions") + self.metric("comments") + self.metric("shares")


@dataclass
class Bucket:
    """A week (month report) or a month (year report): one chart bar, one table row."""

    start: date
    label: str  # on the chart: "07/10", "T10"
    title: str  # in the table: "Tuần từ 07/10/2024", "Tháng 10"
    posts: dict[str, int] = field(default_factory=lambda: {"facebook": 0, "zalo": 0})
    values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRICS, 0))
    shares: Tally = field(default_factory=Tally)

    @property
    def interactions(self) -> int:
        return self.values["reactions"] + self.values["comments"] + self.values["shares"]

    def point(self) -> ChartPoint:
        return ChartPoint(
            self.start,
            self.label,
            self.posts["facebook"],
            self.posts["zalo"],
            self.interactions,
            self.values["views"],
        )


@dataclass
class ReportData:
    period: Period
    now: datetime
    heading: ReportHeading
    pubs: list[PubFigures]
    totals: dict[str, ChannelTotals]
    matrix: ShareMatrix
    buckets: list[Bucket]
    #: plan targets for the period, pro-rated to ``now`` for a period still running
    targets: dict[str, int]
    #: the monthly targets they come from (PLAN_POSTS_PER_MONTH_*)
    plan_posts: dict[str, int]
    plan_share_rate: float
    months: float
    comparisons: list[tuple[str, PeriodFigures]] = field(default_factory=list)
    #: agency id → share tally per bucket (a year's agency × month table)
    agency_buckets: dict[str, list[Tally]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def unit(self) -> str:
        return self.heading.unit_line

    @property
    def by_month(self) -> bool:
        return self.period.month is None

    @property
    def current(self) -> PeriodFigures:
        return PeriodFigures(self.period.label, self.totals, self.matrix.total)

    @property
    def on_time_hours(self) -> float:
        return self.matrix.on_time_hours


def _last_snapshots(session: Any, start: datetime, end: datetime) -> dict[int, tuple[Any, ...]]:
    """publication id → (taken_at, reactions, comments, shares, views, reach), one query."""
    snap = EngagementSnapshot
    ranked = (
        select(
            snap.publication_id,
            snap.taken_at,
            snap.reactions,
            snap.comments,
            snap.shares,
            snap.views,
            snap.reach,
            func.row_number()
            .over(
                partition_by=snap.publication_id,
                order_by=(snap.taken_at.desc(), snap.id.desc()),
            )
            .label("rn"),
        )
        .where(snap.taken_at < end, snap.publication_id.in_(_live(start, end)))
        .subquery()
    )
    rows = session.execute(
        select(
            ranked.c.publication_id,
            ranked.c.taken_at,
            ranked.c.reactions,
            ranked.c.comments,
            ranked.c.shares,
            ranked.c.views,
            ranked.c.reach,
        ).where(ranked.c.rn == 1)
    )
    result: dict[int, tuple[Any, ...]] = {}
    for row in rows:
        taken = row[1]
        if isinstance(taken, datetime) and taken.tzinfo is None:  # the column type is lost
            taken = taken.replace(tzinfo=UTC)  # through the subquery on some drivers
        elif isinstance(taken, str):
            taken = datetime.fromisoformat(taken).replace(tzinfo=UTC)
        result[row[0]] = (taken, *row[2:])
    return result


def _totals(
    posts: Sequence[PostRef], snaps: dict[int, tuple[Any, ...]]
) -> dict[str, ChannelTotals]:
    totals = {ch: ChannelTotals() for ch in CHANNEL_LABELS}
    empty = (None,) * len(METRICS)
    for post in posts:
        for pub in post.pubs:
            snap = snaps.get(pub.id)
            totals.setdefault(pub.channel, ChannelTotals()).add(snap[1:] if snap else empty)
    return totals


def _span_figures(
    session: Session, settings: Settings, span: Span, *, now: datetime
) -> PeriodFigures:
    """An earlier period's headline figures, by the same rules as its own report."""
    posts = live_posts(session, span.start, span.end)
    snaps = _last_snapshots(session, span.start, span.end)
    matrix = share_matrix(session, settings, span.start, span.end, now=now, posts=posts)
    return PeriodFigures(span.label, _totals(posts, snaps), matrix.total)


def build_report(
    db: Database,
    settings: Settings,
    period: Period,
    *,
    now: datetime,
    heading: ReportHeading | None = None,
) -> ReportData:
    """Everything the report shows, read from the database (nothing is fetched from platforms)."""
    start, end = period.start, period.end
    with db.session() as s:
        posts = live_posts(s, start, end)
        snaps = _last_snapshots(s, start, end)
        matrix = share_matrix(s, settings, start, end, now=now, posts=posts)
        comparisons = [
            (title, _span_figures(s, settings, span, now=now))
            for title, span in comparison_spans(period, now)
        ]
    pubs: list[PubFigures] = []
    for post in posts:
        for pub in post.pubs:
            snap = snaps.get(pub.id)
            taken, reactions, comments, shares, views, reach = snap or (None,) * 6
            pubs.append(
                PubFigures(
                    pub_id=pub.id,
                    post_id=post.post_id,
                    channel=pub.channel,
                    folder=post.folder,
                    title=post.title,
                    published_at=pub.published_at,
                    url=pub.remote_url,
                    taken_at=taken,
                    reactions=reactions,
                    comments=comments,
                    shares=shares,
                    views=views,
                    reach=reach,
                )
            )
    pubs.sort(key=lambda p: (p.published_at, p.channel, p.pub_id))
    notes: list[str] = []
    without = sum(1 for p in pubs if p.taken_at is None)
    if without:
        notes.append(
            f"{without} bài chưa có số liệu tương tác (chưa thu thập được trước khi hết kỳ)."
        )
    if matrix.open_posts:
        notes.append(
            f"{vn_number(len(matrix.open_posts))} bài còn trong thời hạn chia sẻ "
            f"({_hours(matrix.on_time_hours)} giờ sau khi đăng): lượt chia sẻ của các bài này "
            "được ghi là đang chờ và chưa tính vào tỷ lệ chia sẻ."
        )
    notes.extend(matrix.warnings)
    months = period.months_elapsed(now)
    buckets, agency_buckets = _buckets(pubs, matrix, period, now=now)
    plan_posts = {
        "facebook": settings.plan_posts_per_month_facebook,
        "zalo": settings.plan_posts_per_month_zalo,
    }
    return ReportData(
        period=period,
        now=now,
        heading=heading or ReportHeading.from_settings(settings),
        pubs=pubs,
        totals=_totals(posts, snaps),
        matrix=matrix,
        buckets=buckets,
        targets={channel: _round(n * months) for channel, n in plan_posts.items()},
        plan_posts=plan_posts,
        plan_share_rate=settings.plan_share_rate_percent / 100,
        months=months,
        comparisons=comparisons,
        agency_buckets=agency_buckets,
        notes=notes,
    )


def _round(x: float) -> int:
    """Half up (Python's round() would make 2.5 posts a target of 2)."""
    return int(x + 0.5)


def _empty_buckets(period: Period, *, now: datetime) -> list[Bucket]:
    """Weeks of a month (from Monday; the first one from the 1st), or months of a year, to now."""
    if period.month is None:
        return [
            Bucket(date(period.year, m, 1), f"T{m:02d}", f"Tháng {m:02d}")
            for m in range(1, max(period.months_begun(now), 1) + 1)
        ]
    first = period.start.date()
    last = min(period.last_day(), now.astimezone(period.tz).date())
    last = max(last, first)
    monday = first - timedelta(days=first.weekday())
    buckets = []
    while monday <= last:
        day = max(monday, first)
        buckets.append(Bucket(day, f"{day:%d/%m}", f"Tuần từ {day:%d/%m/%Y}"))
        monday += timedelta(days=7)
    return buckets


def _buckets(
    pubs: Sequence[PubFigures], matrix: ShareMatrix, period: Period, *, now: datetime
) -> tuple[list[Bucket], dict[str, list[Tally]]]:
    """Posts, engagement and share tallies per week or month; agency × bucket tallies."""
    tz = period.tz
    buckets = _empty_buckets(period, now=now)
    starts = [b.start for b in buckets]

    def index(when: datetime) -> int | None:
        day = when.astimezone(tz).date()
        if period.month is None:
            i = day.month - 1 if day.year == period.year else -1
        else:
            i = bisect_right(starts, day) - 1  # weeks from Monday; the first may be short
        return i if 0 <= i < len(buckets) else None

    for p in pubs:
        i = index(p.published_at)
        if i is None:
            continue
        bucket = buckets[i]
        if p.channel in bucket.posts:
            bucket.posts[p.channel] += 1
        for metric in METRICS:
            value = getattr(p, metric)
            if value:
                bucket.values[metric] += value

    # counts like Tally.of: on time, late, missing, pending, open (one list per bucket)
    order = {ShareState.ON_TIME: 0, ShareState.LATE: 1, ShareState.MISSING: 2}
    post_bucket = {post.post_id: index(post.published_at) for post in matrix.posts}
    n = len(buckets)
    bucket_counts = [[0, 0, 0, 0, 0] for _ in range(n)]
    agency_counts: dict[str, list[list[int]]] = {}
    open_posts = matrix.open_posts
    for (post_id, agency_id), cell in matrix.cells.items():
        i = post_bucket.get(post_id)
        if not cell.expected or cell.state is None or i is None:
            continue
        k = order.get(cell.state, 3)
        shared_early = k != 3 and post_id in open_posts  # as share_matrix counts it
        per_agency = agency_counts.get(agency_id)
        if per_agency is None:
            per_agency = agency_counts[agency_id] = [[0, 0, 0, 0, 0] for _ in range(n)]
        for counts in (bucket_counts[i], per_agency[i]):
            if shared_early:
                counts[3] += 1
                counts[4] += 1
            else:
                counts[k] += 1
    for bucket, counts in zip(buckets, bucket_counts, strict=True):
        bucket.shares = Tally.of(counts)
    return buckets, {
        agency_id: [Tally.of(c) for c in per_bucket]
        for agency_id, per_bucket in agency_counts.items()
    }


# ------------------------------------------------------------------ tables


@dataclass(frozen=True)
class Pct:
    """A fraction shown as a percentage (0.853 → 85,3 %)."""

    value: float


@dataclass(frozen=True)
class Change:
    """A signed change shown as a percentage (+12,5 %; points for a rate)."""

    value: float


@dataclass(frozen=True)
class Link:
    text: str
    url: str


@dataclass(frozen=True)
class Column:
    title: str
    width: float


@dataclass
class Table:
    """One sheet of the workbook and one CSV file: the same rows in both."""

    sheet: str
    csv_name: str
    title: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    freeze_cols: int = 0
    bold_last_row: bool = False
    fills: dict[str, str] = field(default_factory=dict)  # cell text → fill colour
    #: printed on one page (a summary), else fitted to the page width only
    one_page: bool = False
    #: a line printed under the table (what a column means)
    footnote: str = ""
    #: header text turned upright (the share matrix's many agency columns)
    vertical_header: bool = False
    #: only the first columns are printed (links and folder names are for the screen)
    print_cols: int | None = None

    @property
    def printed(self) -> list[Column]:
        return self.columns[: self.print_cols] if self.print_cols else self.columns

    @property
    def landscape(self) -> bool:
        return sum(c.width for c in self.printed) > 100


def _local(dt: datetime | None, tz: ZoneInfo) -> datetime | None:
    return dt.astimezone(tz).replace(tzinfo=None) if dt else None


def _metric(totals: ChannelTotals, channel: str, metric: str) -> int | None:
    if metric not in CHANNEL_METRICS.get(channel, ()):
        return None
    value = totals.values[metric]
    return value if value is not None or totals.posts else 0


def _sum(*values: int | None) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


METRIC_LABELS = {
    "reactions": "Lượt cảm xúc (thích, yêu thích…)",
    "comments": "Lượt bình luận",
    "shares": "Lượt chia sẻ trên mạng xã hội",
    "views": "Lượt xem",
    "reach": "Số người tiếp cận",
}
PENDING_LABEL = "Đang chờ (còn trong hạn chia sẻ)"


def build_tables(data: ReportData) -> list[Table]:
    tables = [summary_table(data), trend_table(data)]
    if data.by_month:
        tables.append(month_table(data))
    tables += [per_post_table(data), per_agency_table(data), plan_table(data)]
    tables.append(_monthly_agency_table(data) if data.by_month else _matrix_table(data))
    return tables


def summary_table(data: ReportData) -> Table:
    fb, zl = data.totals["facebook"], data.totals["zalo"]
    total = data.matrix.total
    summary = Table(
        "Tổng hợp",
        "tong-hop.csv",
        f"Kết quả truyền thông chuyển đổi số {data.period.label}",
        [
            Column("Chỉ tiêu", 42),
            Column("Facebook", 16),
            Column("Zalo OA", 16),
            Column("Tổng cộng", 16),
        ],
        one_page=True,
    )
    summary.rows.append(["Số bài đã đăng", fb.posts, zl.posts, fb.posts + zl.posts])
    for metric, label in METRIC_LABELS.items():
        f_val, z_val = _metric(fb, "facebook", metric), _metric(zl, "zalo", metric)
        summary.rows.append([label, f_val, z_val, _sum(f_val, z_val)])
    summary.rows += [
        ["Lượt đơn vị được giao chia sẻ", None, None, total.expected],
        ["Đơn vị chia sẻ đúng hạn", None, None, total.on_time],
        ["Đơn vị chia sẻ muộn", None, None, total.late],
        ["Đơn vị chưa chia sẻ", None, None, total.missing],
        [PENDING_LABEL, None, None, total.pending],
        ["Tỷ lệ đơn vị chia sẻ (%)", None, None, _pct(total.rate)],
        ["Tỷ lệ chia sẻ đúng hạn (%)", None, None, _pct(total.on_time_rate)],
    ]
    summary.footnote = _rate_footnote(data)
    return summary


def _rate_footnote(data: ReportData) -> str:
    return (
        f"Tỷ lệ chia sẻ chỉ tính các bài đã hết thời hạn chia sẻ "
        f"({_hours(data.on_time_hours)} giờ sau khi đăng)."
    )


#: (label, how to read it from PeriodFigures, is a rate)
_TREND_ROWS: tuple[tuple[str, str], ...] = (
    ("Số bài đăng trên Fanpage Facebook", "posts:facebook"),
    ("Số bài đăng trên Zalo OA", "posts:zalo"),
    ("Lượt cảm xúc, bình luận, chia sẻ", "interactions"),
    ("Lượt xem (Facebook và Zalo OA)", "views"),
    ("Số người tiếp cận (Facebook)", "reach"),
    ("Tỷ lệ đơn vị chia sẻ (%)", "rate"),
)


def trend_value(figures: PeriodFigures, key: str) -> float | None:
    if key.startswith("posts:"):
        return figures.posts(key.split(":", 1)[1])
    if key == "interactions":
        return figures.interactions
    if key == "rate":
        return figures.shares.rate
    return figures.metric(key)


def trend_change(current: float | None, earlier: float | None, key: str) -> float | None:
    """Relative change of a count; for the share rate, the difference in points."""
    if current is None or earlier is None:
        return None
    if key == "rate":
        return current - earlier
    return (current - earlier) / earlier if earlier else None


def trend_table(data: ReportData) -> Table:
    current = data.current
    columns = [Column("Chỉ tiêu", 36), Column(f"Kỳ này ({current.label})", 16)]
    for heading, figures in data.comparisons:
        columns += [Column(f"{heading} ({figures.label})", 16), Column("Tăng, giảm (%)", 11)]
    table = Table(
        "So sánh",
        "so-sanh.csv",
        f"So sánh {data.period.label} với " + " và ".join(h.lower() for h, _ in data.comparisons),
        columns,
        one_page=True,
        footnote="Tăng, giảm: so với kỳ trước, tính theo phần trăm; với tỷ lệ chia sẻ là "
        "chênh lệch điểm phần trăm. " + _rate_footnote(data),
    )
    for label, key in _TREND_ROWS:
        now_value = trend_value(current, key)
        row: list[Any] = [label, _shown(now_value, key)]
        for _, figures in data.comparisons:
            earlier = trend_value(figures, key)
            change = trend_change(now_value, earlier, key)
            row += [_shown(earlier, key), None if change is None else Change(change)]
        table.rows.append(row)
    return table


def _shown(value: float | None, key: str) -> Any:
    if key == "rate":
        return _pct(value)
    return None if value is None else int(value)


def month_table(data: ReportData) -> Table:
    """A year: one row per month (posts, engagement, share rate) and the total."""
    table = Table(
        "Theo tháng",
        "theo-thang.csv",
        f"Kết quả từng tháng {data.period.label}",
        [
            Column("Tháng", 12),
            Column("Bài Facebook", 11),
            Column("Bài Zalo OA", 11),
            Column("Cảm xúc", 11),
            Column("Bình luận", 11),
            Column("Chia sẻ", 11),
            Column("Lượt xem", 12),
            Column("Tiếp cận", 12),
            Column("Tỷ lệ đơn vị chia sẻ (%)", 13),
        ],
        bold_last_row=True,
        footnote="Số liệu tương tác của các bài đăng trong tháng, tính đến khi lập báo cáo. "
        + _rate_footnote(data),
    )
    for b in data.buckets:
        table.rows.append(
            [
                b.title,
                b.posts["facebook"],
                b.posts["zalo"],
                *(b.values[m] for m in METRICS),
                _pct(b.shares.rate),
            ]
        )
    table.rows.append(
        [
            "Cả kỳ",
            data.totals["facebook"].posts,
            data.totals["zalo"].posts,
            *(sum(b.values[m] for b in data.buckets) for m in METRICS),
            _pct(data.matrix.total.rate),
        ]
    )
    return table


def per_post_table(data: ReportData) -> Table:
    tz = data.period.tz
    shared_counts = {pid: (t.shared_so_far, t.expected) for pid, t in data.matrix.per_post.items()}
    deadline = timedelta(hours=data.on_time_hours)
    first_pub = {post.post_id: post.published_at for post in data.matrix.posts}
    per_post = Table(
        "Theo bài viết",
        "theo-bai-viet.csv",
        f"Số liệu từng bài viết {data.period.label}",
        [
            Column("Ngày đăng", 16),
            Column("Kênh", 9),
            Column("Tiêu đề", 48),
            Column("Cảm xúc", 10),
            Column("Bình luận", 10),
            Column("Chia sẻ", 10),
            Column("Lượt xem", 11),
            Column("Tiếp cận", 11),
            Column("Số liệu lúc", 16),
            Column("Đơn vị đã chia sẻ", 11),
            Column("Đơn vị được giao", 11),
            Column("Hạn chia sẻ", 20),
            Column("Liên kết", 40),
            Column("Thư mục bài", 24),
        ],
        freeze_cols=3,
        print_cols=12,
        footnote="Bản in không gồm hai cột Liên kết và Thư mục bài (xem trong tệp).",
    )
    for p in data.pubs:
        shared, expected = shared_counts.get(p.post_id, (0, 0))
        status = ""
        if p.post_id in data.matrix.open_posts:
            until = first_pub[p.post_id] + deadline
            status = f"đang chờ (đến {until.astimezone(tz):%d/%m %H:%M})"
        per_post.rows.append(
            [
                _local(p.published_at, tz),
                CHANNEL_LABELS.get(p.channel, p.channel),
                p.title,
                p.reactions,
                p.comments,
                p.shares,
                p.views,
                p.reach,
                _local(p.taken_at, tz),
                shared,
                expected,
                status,
                Link(p.url, p.url) if p.url else None,
                p.folder,
            ]
        )
    if data.pubs:
        per_post.rows.append(
            ["Tổng cộng", None, f"{len(data.pubs)} lượt đăng"]
            + [_sum(*(getattr(p, m) for p in data.pubs)) for m in METRICS]
            + [None] * 6
        )
        per_post.bold_last_row = True
    return per_post


def per_agency_table(data: ReportData) -> Table:
    total = data.matrix.total
    per_agency = Table(
        "Theo đơn vị",
        "theo-don-vi.csv",
        f"Chia sẻ bài của các đơn vị {data.period.label} "
        f"(đúng hạn: trong {_hours(data.on_time_hours)} giờ sau khi đăng)",
        [
            Column("Mã đơn vị", 22),
            Column("Tên đơn vị", 36),
            Column("Nhóm", 22),
            Column("Số bài được giao", 11),
            Column("Chia sẻ đúng hạn", 11),
            Column("Chia sẻ muộn", 11),
            Column("Chưa chia sẻ", 11),
            Column("Đang chờ", 11),
            Column("Tỷ lệ chia sẻ (%)", 11),
            Column("Tỷ lệ đúng hạn (%)", 11),
            Column("Ghi chú", 18),
        ],
        freeze_cols=2,
        footnote="Đang chờ: bài còn trong thời hạn chia sẻ, đơn vị chưa chia sẻ. "
        + _rate_footnote(data),
    )
    for agency in data.matrix.agencies:
        t = data.matrix.per_agency[agency.id]
        per_agency.rows.append(
            [
                agency.id,
                agency.name,
                GROUPS.get(agency.group, agency.group),
                t.expected,
                t.on_time,
                t.late,
                t.missing,
                t.pending,
                _pct(t.rate),
                _pct(t.on_time_rate),
                "" if agency.active else "đã ngừng theo dõi",
            ]
        )
    per_agency.rows.append(
        [
            "Tổng cộng",
            f"{len(data.matrix.agencies)} đơn vị",
            None,
            total.expected,
            total.on_time,
            total.late,
            total.missing,
            total.pending,
            _pct(total.rate),
            _pct(total.on_time_rate),
            None,
        ]
    )
    per_agency.bold_last_row = True
    return per_agency


def plan_rows(data: ReportData) -> list[list[Any]]:
    """Target, achieved, ratio, verdict: the plan table of the workbook and the document."""
    rows: list[list[Any]] = []
    for channel, label in (
        ("facebook", "Số bài đăng trên Fanpage Facebook"),
        ("zalo", "Số bài đăng trên Zalo OA"),
    ):
        target = data.targets[channel]
        actual = data.totals[channel].posts
        rows.append([label, target, actual, *_achievement(actual, target)])
    rate_target = data.plan_share_rate
    rate = data.matrix.total.rate
    rows.append(
        [
            "Tỷ lệ đơn vị chia sẻ bài (%)",
            Pct(rate_target),
            _pct(rate),
            *(
                _achievement(rate, rate_target)
                if rate is not None
                else (None, "Chưa có bài đến hạn chia sẻ")
            ),
        ]
    )
    return rows


def plan_basis(data: ReportData) -> str:
    """How the targets were scaled: ``12 tháng``, or ``10,6 tháng, tính đến ngày 18/11/2024``."""
    text = f"{vn_decimal(data.months)} tháng"
    if data.period.to_date(data.now):
        text += f", tính đến ngày {data.now.astimezone(data.period.tz):%d/%m/%Y}"
    return text


def plan_table(data: ReportData) -> Table:
    plan = Table(
        "Kế hoạch",
        "ke-hoach.csv",
        f"Kết quả so với kế hoạch {data.period.label} (kế hoạch của {plan_basis(data)})",
        [
            Column("Chỉ tiêu", 44),
            Column("Kế hoạch", 14),
            Column("Thực hiện", 14),
            Column("Tỷ lệ hoàn thành (%)", 16),
            Column("Đánh giá", 26),
        ],
        one_page=True,
        footnote="Kế hoạch số bài = chỉ tiêu mỗi tháng × số tháng của kỳ "
        "(kỳ chưa kết thúc: tính theo số ngày đã qua). " + _rate_footnote(data),
    )
    plan.rows = plan_rows(data)
    return plan


def _matrix_table(data: ReportData) -> Table:
    """A month: post × agency, each cell the share's state (coloured in Excel)."""
    tz = data.period.tz
    matrix = Table(
        "Chia sẻ theo bài",
        "chia-se-theo-bai.csv",
        f"Đơn vị chia sẻ từng bài {data.period.label}",
        [Column("Ngày đăng", 15), Column("Tiêu đề", 36)]
        + [Column(a.name, 10.5) for a in data.matrix.agencies],
        freeze_cols=2,
        fills={
            STATE_LABELS[ShareState.ON_TIME]: "C6EFCE",
            STATE_LABELS[ShareState.LATE]: "FFEB9C",
            STATE_LABELS[ShareState.MISSING]: "FFC7CE",
        },
        vertical_header=True,
        footnote="Ô trống: đơn vị không được giao chia sẻ bài đó. Đang chờ: bài còn trong "
        "thời hạn chia sẻ.",
    )
    for post in data.matrix.posts:
        row: list[Any] = [_local(post.published_at, tz), post.title]
        for agency in data.matrix.agencies:
            cell = data.matrix.cells.get((post.post_id, agency.id))
            row.append(STATE_LABELS[cell.state] if cell and cell.state else "")
        matrix.rows.append(row)
    return matrix


def _monthly_agency_table(data: ReportData) -> Table:
    """A year: agency × month share rate (a year of posts × agencies is unreadable)."""
    table = Table(
        "Chia sẻ theo tháng",
        "chia-se-theo-thang.csv",
        f"Tỷ lệ chia sẻ của từng đơn vị theo tháng, {data.period.label}",
        [Column("Mã đơn vị", 22), Column("Tên đơn vị", 34)]
        + [Column(b.title + " (%)", 9) for b in data.buckets]
        + [Column("Cả kỳ (%)", 9)],
        freeze_cols=2,
        footnote=_rate_footnote(data),
    )
    for agency in data.matrix.agencies:
        row: list[Any] = [agency.id, agency.name]
        tallies = data.agency_buckets.get(agency.id)
        for i in range(len(data.buckets)):
            tally = tallies[i] if tallies else None
            row.append(_pct(tally.rate) if tally and tally.expected else None)
        row.append(_pct(data.matrix.per_agency[agency.id].rate))
        table.rows.append(row)
    return table


def _pct(x: float | None) -> Pct | None:
    return None if x is None else Pct(x)


def _hours(h: float) -> str:
    return vn_decimal(h, 2)


def _achievement(actual: float, target: float) -> tuple[Pct | None, str]:
    if not target:
        return None, "Không đặt chỉ tiêu"
    ratio = actual / target
    return Pct(ratio), "Đạt" if ratio >= 1 else "Chưa đạt"


# ------------------------------------------------------------------ writing


@dataclass(frozen=True)
class ReportOutput:
    folder: Path
    workbook: Path
    csv_files: tuple[Path, ...]
    chart: Path
    document: Path
    data: ReportData
    #: what the chart said instead of drawing (no post, no engagement yet)
    chart_messages: tuple[str, ...] = ()
    #: seconds each step took (chart, workbook, csv, document, commit), for the benchmark
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.workbook, self.document, *self.csv_files, self.chart)


def subtitle(data: ReportData) -> str:
    return (
        f"Kỳ báo cáo: {data.period.range_text(data.now)} · "
        f"Lập lúc {data.now.astimezone(data.period.tz):%d/%m/%Y %H:%M}"
    )


def chart_title(data: ReportData) -> str:
    unit = "tháng" if data.by_month else "tuần"
    return f"Bài đăng và tương tác theo {unit}, {data.period.label} – {data.heading.unit_name}"


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Pct):
        return f"{value.value * 100:.1f}"
    if isinstance(value, Change):
        return f"{value.value * 100:+.1f}"
    if isinstance(value, Link):
        return value.url
    if isinstance(value, datetime):
        return f"{value:%d/%m/%Y %H:%M}"
    return str(value)


def write_csv(table: Table, path: Path) -> Path:
    """UTF-8 with BOM: without it Excel opens Vietnamese as mojibake."""
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow([c.title for c in table.columns])
        for row in table.rows:
            writer.writerow([_csv_value(v) for v in row])
    return path


class _Staging:
    """Files written under temporary names in the target folder, renamed into place together.

    ``os.replace`` is atomic on one file system (NTFS too), so each final name holds
    either the previous complete file or the new complete file, never half of one. One
    writer at a time per folder (the daemon's monthly job and a ``report`` typed at the
    same moment), through a lock beside the folder that the OS releases if the writer
    dies; so whoever holds it may remove any partial file found: its writer is gone.
    """

    def __init__(self, folder: Path) -> None:
        from filelock import FileLock, Timeout

        self.folder = folder
        self.moves: list[tuple[Path, Path]] = []
        self.lock = FileLock(str(folder.parent / f"{PARTIAL_PREFIX}{folder.name}.lock"))
        try:
            self.lock.acquire(timeout=_WRITER_WAIT)
        except Timeout:
            raise SocialPublisherError(
                f"Báo cáo trong thư mục {folder} đang được một tiến trình khác ghi (quá "
                f"{_WRITER_WAIT // 60} phút): chờ tiến trình đó xong rồi chạy lại lệnh report."
            ) from None
        for leftover in folder.glob(PARTIAL_PREFIX + "*"):  # a killed run's
            leftover.unlink(missing_ok=True)

    def path(self, final: Path) -> Path:
        """Where to write ``final`` for now (same folder, same extension)."""
        partial = final.with_name(f"{PARTIAL_PREFIX}{os.getpid()}-{final.name}")
        self.moves.append((partial, final))
        return partial

    def commit(self, last: Path) -> None:
        """Flush each file to disk, then rename them, ``last`` (the workbook) at the end."""
        ordered = sorted(self.moves, key=lambda m: m[1] == last)
        for partial, _ in ordered:
            with partial.open("rb+") as fh:
                os.fsync(fh.fileno())
        for partial, final in ordered:
            try:
                os.replace(partial, final)
            except PermissionError:  # Windows: Excel or Word has the old file open
                raise SocialPublisherError(
                    f"Không thay được tệp {final}: tệp đang mở (trong Excel hoặc Word?). "
                    "Đóng tệp rồi chạy lại lệnh report."
                ) from None
        self.moves.clear()

    def discard(self) -> None:
        for partial, _ in self.moves:
            partial.unlink(missing_ok=True)
        self.moves.clear()
        self.lock.release()


@contextmanager
def _staged(folder: Path) -> Iterator[_Staging]:
    staging = _Staging(folder)
    try:
        yield staging
    finally:
        staging.discard()  # nothing left after a commit; the partial files after an error


def write_report(data: ReportData, out_dir: Path) -> ReportOutput:
    """Chart, workbook (with the chart), CSVs and document, renamed into place when all exist."""
    from .report_docx import write_document
    from .report_xlsx import write_workbook

    folder = Path(out_dir) / data.period.folder_name
    folder.mkdir(parents=True, exist_ok=True)
    tables = build_tables(data)
    name = data.period.folder_name
    workbook = folder / f"{name}.xlsx"
    document = folder / f"{name}.docx"
    chart = folder / f"bieu-do-{data.period.slug}.png"
    csvs = tuple(folder / t.csv_name for t in tables)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step], clock = now - clock, now

    with _staged(folder) as staging:
        chart_tmp = staging.path(chart)
        messages = render_chart(
            [b.point() for b in data.buckets],
            chart_tmp,
            title=chart_title(data),
            by_month=data.by_month,
        )
        lap("chart")
        write_workbook(tables, data, staging.path(workbook), chart=chart_tmp)
        lap("workbook")
        for table, csv_path in zip(tables, csvs, strict=True):
            write_csv(table, staging.path(csv_path))
        lap("csv")
        write_document(data, staging.path(document), chart=chart_tmp, chart_messages=messages)
        lap("document")
        staging.commit(last=workbook)
        lap("commit")
    return ReportOutput(folder, workbook, csvs, chart, document, data, messages, timings)


def make_report(
    db: Database,
    settings: Settings,
    period: Period,
    out_dir: Path,
    *,
    now: datetime,
    sync_agencies: bool = True,
    heading: ReportHeading | None = None,
) -> ReportOutput:
    """Build and write one period's report (syncing agencies.csv first when it is readable)."""
    notes: list[str] = []
    if sync_agencies:
        try:
            load_agencies(db, settings, now=now)
        except FileProblems as exc:
            notes.append("Dùng danh sách đơn vị đã lưu vì tệp có lỗi: " + exc.message)
    data = build_report(db, settings, period, now=now, heading=heading)
    data.notes[:0] = notes
    return write_report(data, out_dir)


def write_monthly_report(db: Database, settings: Settings, *, now: datetime) -> Path:
    """Last month's report into REPORT_DIR (the daemon calls this on day 1 at 07:00)."""
    period = previous_month(now, settings.tz)
    output = make_report(db, settings, period, settings.report_dir, now=now)
    log.info("monthly report %s written to %s", period.slug, output.folder)
    return output.folder


def ensure_monthly_report(db: Database, settings: Settings, *, now: datetime) -> Path | None:
    """Last month's report if REPORT_DIR does not have it yet (from day 1, 07:00 local).

    For a daemon on an office PC that may be off at 07:00 on the 1st: calling this hourly
    writes the report once, at the first chance. The workbook is renamed into place after
    every other file, so its presence means the whole set was written. Returns the folder
    when it wrote one.
    """
    local = now.astimezone(settings.tz)
    if local.day == 1 and local.hour < 7:
        return None
    period = previous_month(now, settings.tz)
    folder = settings.report_dir / period.folder_name
    if (folder / f"{period.folder_name}.xlsx").is_file():
        return None
    return write_monthly_report(db, settings, now=now)


def summary_lines(output: ReportOutput) -> list[str]:
    """What ``report`` prints (numbers in Vietnamese format)."""
    data = output.data
    fb, zl = data.totals["facebook"], data.totals["zalo"]
    total = data.matrix.total
    lines = [
        f"Đã xuất báo cáo {data.period.label} ({data.period.range_text(data.now)}) "
        f"vào thư mục {output.folder}",
        f"  Bài đã đăng: Facebook {vn_number(fb.posts)}, Zalo {vn_number(zl.posts)} "
        f"(kế hoạch {vn_number(data.targets['facebook'])} và "
        f"{vn_number(data.targets['zalo'])})",
        f"  Facebook: {vn_number(fb.values['reactions'] or 0)} cảm xúc, "
        f"{vn_number(fb.values['comments'] or 0)} bình luận, "
        f"{vn_number(fb.values['shares'] or 0)} chia sẻ, "
        f"{vn_number(fb.values['views'] or 0)} lượt xem",
        f"  Zalo: {vn_number(zl.values['views'] or 0)} lượt xem, "
        f"{vn_number(zl.values['shares'] or 0)} chia sẻ",
        f"  Đơn vị chia sẻ: {vn_number(total.shared)}/{vn_number(total.due)} lượt đến hạn "
        f"({vn_percent(total.rate)}; kế hoạch {vn_percent(data.plan_share_rate, 0)}), "
        f"đúng hạn {vn_number(total.on_time)}, muộn {vn_number(total.late)}, "
        f"chưa chia sẻ {vn_number(total.missing)}, đang chờ {vn_number(total.pending)}",
        "  Tệp: " + ", ".join(p.name for p in output.files),
    ]
    lines += [f"  Lưu ý: {n}" for n in data.notes]
    return lines
