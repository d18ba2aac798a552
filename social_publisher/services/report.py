"""The engagement report the town sends to the province (monthly, and year to date for 20/11).

One folder per period (``bao-cao-2024-10/``, ``bao-cao-nam-2024/``) holding an
Excel workbook (summary, per post, per agency, plan targets vs achieved, the
share matrix), the same tables as CSV in UTF-8 with BOM (so Excel shows the
Vietnamese), and a PNG chart of posts and engagement by week.

What counts: publications that went live in the period by local time (a post
at 23:30 on the 31st belongs to that month); each one's figures are its last
snapshot taken before the period ended, i.e. what was true at month end. The
data is read with a handful of set-based queries (a window function picks each
publication's last snapshot), so a year of a busy Page takes seconds.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Sequence
from copy import copy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from ..config import Settings
from ..platforms import PLATFORM_NAMES
from ..store import Database, EngagementSnapshot
from .agencies import GROUPS, FileProblems, load_agencies
from .report_chart import WeekPoint, render_weekly_chart
from .shares import STATE_LABELS, ShareMatrix, ShareState, Tally, live_posts, share_matrix
from .shares import live_publications as _live

log = logging.getLogger("social_publisher.report")

CHANNEL_LABELS = PLATFORM_NAMES
METRICS = ("reactions", "comments", "shares", "views", "reach")
#: the counters each platform gives (Zalo articles: views and shares only)
CHANNEL_METRICS = {
    "facebook": ("reactions", "comments", "shares", "views", "reach"),
    "zalo": ("shares", "views"),
}


# ------------------------------------------------------------------ numbers for people


def vn_number(n: float | None) -> str:
    """1234567 → ``1.234.567`` (Vietnamese thousands separator)."""
    if n is None:
        return "—"
    return f"{round(n):,}".replace(",", ".")


def vn_percent(x: float | None, digits: int = 1) -> str:
    """0.8525 → ``85,3%``."""
    if x is None:
        return "—"
    text = f"{x * 100:,.{digits}f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    return f"{text}%"


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

    def months_covered(self, now: datetime) -> int:
        """Months the plan targets apply to: 1 for a month; for a year, those begun by ``now``."""
        if self.month is not None:
            return 1
        local = now.astimezone(self.tz)
        if local.year > self.year:
            return 12
        if local.year < self.year:
            return 0
        return local.month

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


@dataclass
class ChannelTotals:
    posts: int = 0
    values: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(METRICS))

    def add(self, figures: PubFigures) -> None:
        self.posts += 1
        for metric in METRICS:
            value = getattr(figures, metric)
            if value is not None:
                self.values[metric] = (self.values[metric] or 0) + value


@dataclass
class ReportData:
    period: Period
    now: datetime
    unit: str
    pubs: list[PubFigures]
    totals: dict[str, ChannelTotals]
    matrix: ShareMatrix
    weeks: list[WeekPoint]
    plan_posts: dict[str, int]
    plan_share_rate: float
    months: int
    notes: list[str] = field(default_factory=list)


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


def build_report(db: Database, settings: Settings, period: Period, *, now: datetime) -> ReportData:
    """Everything the report shows, read from the database (nothing is fetched from platforms)."""
    start, end = period.start, period.end
    with db.session() as s:
        posts = live_posts(s, start, end)
        snaps = _last_snapshots(s, start, end)
        matrix = share_matrix(s, settings, start, end, now=now, posts=posts)
    pubs: list[PubFigures] = []
    totals = {ch: ChannelTotals() for ch in CHANNEL_LABELS}
    for post in posts:
        for pub in post.pubs:
            snap = snaps.get(pub.id)
            taken, reactions, comments, shares, views, reach = snap or (None,) * 6
            fig = PubFigures(
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
            pubs.append(fig)
            totals.setdefault(pub.channel, ChannelTotals()).add(fig)
    pubs.sort(key=lambda p: (p.published_at, p.channel, p.pub_id))
    notes: list[str] = []
    without = sum(1 for p in pubs if p.taken_at is None)
    if without:
        notes.append(
            f"{without} bài chưa có số liệu tương tác (chưa thu thập được trước khi hết kỳ)."
        )
    notes.extend(matrix.warnings)
    return ReportData(
        period=period,
        now=now,
        unit=settings.default_author,
        pubs=pubs,
        totals=totals,
        matrix=matrix,
        weeks=_weeks(pubs, period, now=now),
        plan_posts={
            "facebook": settings.plan_posts_per_month_facebook,
            "zalo": settings.plan_posts_per_month_zalo,
        },
        plan_share_rate=settings.plan_share_rate_percent / 100,
        months=period.months_covered(now),
        notes=notes,
    )


def _weeks(pubs: Sequence[PubFigures], period: Period, *, now: datetime) -> list[WeekPoint]:
    tz = period.tz
    first = period.start.date()
    last = min(period.last_day(), now.astimezone(tz).date())
    if last < first:
        last = first
    monday = first - timedelta(days=first.weekday())
    buckets: dict[date, dict[str, int]] = {}
    while monday <= last:
        buckets[monday] = {"facebook": 0, "zalo": 0, "interactions": 0, "views": 0}
        monday += timedelta(days=7)
    for p in pubs:
        day = p.published_at.astimezone(tz).date()
        bucket = buckets.get(day - timedelta(days=day.weekday()))
        if bucket is None:
            continue
        if p.channel in ("facebook", "zalo"):
            bucket[p.channel] += 1
        bucket["interactions"] += (p.reactions or 0) + (p.comments or 0) + (p.shares or 0)
        bucket["views"] += p.views or 0
    return [
        WeekPoint(max(start, first), b["facebook"], b["zalo"], b["interactions"], b["views"])
        for start, b in buckets.items()
    ]


# ------------------------------------------------------------------ tables


@dataclass(frozen=True)
class Pct:
    """A fraction shown as a percentage (0.853 → 85,3 %)."""

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


def build_tables(data: ReportData) -> list[Table]:
    tz = data.period.tz
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
    )
    labels = {
        "reactions": "Lượt cảm xúc (thích, yêu thích…)",
        "comments": "Lượt bình luận",
        "shares": "Lượt chia sẻ trên mạng xã hội",
        "views": "Lượt xem",
        "reach": "Số người tiếp cận",
    }
    summary.rows.append(["Số bài đã đăng", fb.posts, zl.posts, fb.posts + zl.posts])
    for metric, label in labels.items():
        f_val, z_val = _metric(fb, "facebook", metric), _metric(zl, "zalo", metric)
        summary.rows.append([label, f_val, z_val, _sum(f_val, z_val)])
    summary.rows += [
        ["Lượt đơn vị được giao chia sẻ", None, None, total.expected],
        ["Đơn vị chia sẻ đúng hạn", None, None, total.on_time],
        ["Đơn vị chia sẻ muộn", None, None, total.late],
        ["Đơn vị chưa chia sẻ", None, None, total.missing],
        ["Chưa đến hạn chia sẻ", None, None, total.pending],
        ["Tỷ lệ đơn vị chia sẻ (%)", None, None, _pct(total.rate)],
        ["Tỷ lệ chia sẻ đúng hạn (%)", None, None, _pct(total.on_time_rate)],
    ]

    shared_counts = {pid: (t.shared, t.expected) for pid, t in data.matrix.per_post.items()}
    per_post = Table(
        "Theo bài viết",
        "theo-bai-viet.csv",
        f"Số liệu từng bài viết {data.period.label}",
        [
            Column("Ngày đăng", 17),
            Column("Kênh", 10),
            Column("Tiêu đề", 48),
            Column("Thư mục bài", 24),
            Column("Liên kết", 40),
            Column("Cảm xúc", 11),
            Column("Bình luận", 11),
            Column("Chia sẻ", 11),
            Column("Lượt xem", 12),
            Column("Tiếp cận", 12),
            Column("Số liệu lúc", 17),
            Column("Đơn vị đã chia sẻ", 12),
            Column("Đơn vị được giao", 12),
        ],
        freeze_cols=3,
    )
    for p in data.pubs:
        shared, expected = shared_counts.get(p.post_id, (0, 0))
        per_post.rows.append(
            [
                _local(p.published_at, tz),
                CHANNEL_LABELS.get(p.channel, p.channel),
                p.title,
                p.folder,
                Link(p.url, p.url) if p.url else None,
                p.reactions,
                p.comments,
                p.shares,
                p.views,
                p.reach,
                _local(p.taken_at, tz),
                shared,
                expected,
            ]
        )
    if data.pubs:
        per_post.rows.append(
            ["Tổng cộng", None, f"{len(data.pubs)} lượt đăng", None, None]
            + [_sum(*(getattr(p, m) for p in data.pubs)) for m in METRICS]
            + [None, None, None]
        )
        per_post.bold_last_row = True

    per_agency = Table(
        "Theo đơn vị",
        "theo-don-vi.csv",
        f"Chia sẻ bài của các đơn vị {data.period.label} "
        f"(đúng hạn: trong {_hours(data.matrix.on_time_hours)} giờ sau khi đăng)",
        [
            Column("Mã đơn vị", 26),
            Column("Tên đơn vị", 44),
            Column("Nhóm", 24),
            Column("Số bài được giao", 12),
            Column("Chia sẻ đúng hạn", 12),
            Column("Chia sẻ muộn", 12),
            Column("Chưa chia sẻ", 12),
            Column("Chưa đến hạn", 12),
            Column("Tỷ lệ chia sẻ (%)", 12),
            Column("Tỷ lệ đúng hạn (%)", 12),
            Column("Ghi chú", 24),
        ],
        freeze_cols=2,
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

    plan = Table(
        "Kế hoạch",
        "ke-hoach.csv",
        f"Kết quả so với kế hoạch {data.period.label} ({data.months} tháng)",
        [
            Column("Chỉ tiêu", 44),
            Column("Kế hoạch", 14),
            Column("Thực hiện", 14),
            Column("Tỷ lệ hoàn thành (%)", 16),
            Column("Đánh giá", 18),
        ],
    )
    for channel, label in (
        ("facebook", "Số bài đăng trên Fanpage Facebook"),
        ("zalo", "Số bài đăng trên Zalo OA"),
    ):
        target = data.plan_posts[channel] * data.months
        actual = data.totals[channel].posts
        plan.rows.append([label, target, actual, *_achievement(actual, target)])
    rate_target = data.plan_share_rate
    rate = total.rate
    plan.rows.append(
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

    last = _matrix_table(data) if data.period.month else _monthly_agency_table(data)
    return [summary, per_post, per_agency, plan, last]


def _matrix_table(data: ReportData) -> Table:
    """A month: post × agency, each cell the share's state (coloured in Excel)."""
    tz = data.period.tz
    matrix = Table(
        "Chia sẻ theo bài",
        "chia-se-theo-bai.csv",
        f"Đơn vị chia sẻ từng bài {data.period.label}",
        [Column("Ngày đăng", 17), Column("Tiêu đề", 40)]
        + [Column(a.name, 14) for a in data.matrix.agencies],
        freeze_cols=2,
        fills={
            STATE_LABELS[ShareState.ON_TIME]: "C6EFCE",
            STATE_LABELS[ShareState.LATE]: "FFEB9C",
            STATE_LABELS[ShareState.MISSING]: "FFC7CE",
        },
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
    tz = data.period.tz
    months = list(range(1, max(data.months, 1) + 1))
    tallies: dict[tuple[str, int], Tally] = {}
    month_of = {p.post_id: p.published_at.astimezone(tz).month for p in data.matrix.posts}
    for (post_id, agency_id), cell in data.matrix.cells.items():
        if cell.expected and cell.state is not None:
            key = (agency_id, month_of[post_id])
            tallies.setdefault(key, Tally()).add(cell.state)
    table = Table(
        "Chia sẻ theo tháng",
        "chia-se-theo-thang.csv",
        f"Tỷ lệ chia sẻ của từng đơn vị theo tháng, {data.period.label}",
        [Column("Mã đơn vị", 26), Column("Tên đơn vị", 40)]
        + [Column(f"Tháng {m:02d} (%)", 10) for m in months]
        + [Column("Cả kỳ (%)", 10)],
        freeze_cols=2,
    )
    for agency in data.matrix.agencies:
        row: list[Any] = [agency.id, agency.name]
        for m in months:
            tally = tallies.get((agency.id, m))
            row.append(_pct(tally.rate) if tally else None)
        row.append(_pct(data.matrix.per_agency[agency.id].rate))
        table.rows.append(row)
    return table


def _pct(x: float | None) -> Pct | None:
    return None if x is None else Pct(x)


def _hours(h: float) -> str:
    return vn_number(h) if float(h).is_integer() else f"{h:g}".replace(".", ",")


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
    data: ReportData


HEADER_ROW = 4
_INT_FORMAT = "#,##0"
_PCT_FORMAT = "0.0%"
_DATETIME_FORMAT = "dd/mm/yyyy hh:mm"


def _subtitle(data: ReportData) -> str:
    return (
        f"{data.unit} · Kỳ báo cáo: {data.period.range_text(data.now)} · "
        f"Lập lúc {data.now.astimezone(data.period.tz):%d/%m/%Y %H:%M}"
    )


def _cell_value(value: Any) -> Any:
    if isinstance(value, Pct):
        return value.value
    if isinstance(value, Link):
        return value.text
    if isinstance(value, bool):
        return "có" if value else "không"
    if value == "":
        return None
    return value


def write_workbook(tables: Sequence[Table], data: ReportData, path: Path) -> Path:
    """The workbook staff open: frozen headers, widths, number formats, links, colours.

    Rows go in with ``append`` and each number format is built once and copied as a
    style array, so a year of a busy Page (100,000 cells) is written in about a second.
    """
    # Imported here, not at module level: the daemon imports this module for its monthly
    # job and the CLI for number formatting, and openpyxl is a large import neither needs.
    from openpyxl import Workbook
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    header_fill = PatternFill("solid", fgColor="DDEBF7")
    bold = Font(bold=True)
    link_font = Font(color="0563C1", underline="single")
    wb = Workbook()
    if wb.active is not None:
        wb.remove(wb.active)
    protos: dict[str, Any] = {}

    def styled(cell: Any, number_format: str) -> None:
        proto = protos.get(number_format)
        if proto is None:
            cell.number_format = number_format
            protos[number_format] = copy(cell._style)
        else:
            cell._style = copy(proto)

    for table in tables:
        ws = wb.create_sheet(table.sheet)
        ws.cell(1, 1, table.title).font = Font(bold=True, size=14)
        ws.cell(2, 1, _subtitle(data)).font = Font(italic=True, color="555555")
        for col, column in enumerate(table.columns, start=1):
            cell = ws.cell(HEADER_ROW, col, column.title)
            cell.font = bold
            cell.fill = header_fill
            cell.alignment = Alignment(wrap_text=True, vertical="center")
            ws.column_dimensions[get_column_letter(col)].width = column.width
        ws.row_dimensions[HEADER_ROW].height = 32
        for r, values in enumerate(table.rows, start=HEADER_ROW + 1):
            ws.append([_cell_value(v) for v in values])
            for c, value in enumerate(values, start=1):
                if isinstance(value, bool) or value is None:
                    continue
                if isinstance(value, int):
                    styled(ws.cell(r, c), _INT_FORMAT)
                elif isinstance(value, Pct):
                    styled(ws.cell(r, c), _PCT_FORMAT)
                elif isinstance(value, datetime):
                    styled(ws.cell(r, c), _DATETIME_FORMAT)
                elif isinstance(value, Link):
                    cell = ws.cell(r, c)
                    cell.hyperlink = value.url
                    cell.font = link_font
        last = HEADER_ROW + len(table.rows)
        if table.bold_last_row and table.rows:
            for c in range(1, len(table.columns) + 1):
                ws.cell(last, c).font = bold
        if table.fills and table.rows:
            # conditional formats colour the share matrix without styling 100,000 cells
            area = f"A{HEADER_ROW + 1}:{get_column_letter(len(table.columns))}{last}"
            for text, color in table.fills.items():
                ws.conditional_formatting.add(
                    area,
                    CellIsRule(
                        operator="equal",
                        formula=[f'"{text}"'],
                        fill=PatternFill("solid", fgColor=color, bgColor=color),
                    ),
                )
        ws.freeze_panes = ws.cell(HEADER_ROW + 1, table.freeze_cols + 1).coordinate
        if table.rows:
            ws.auto_filter.ref = f"A{HEADER_ROW}:{get_column_letter(len(table.columns))}{last}"
    if data.notes:
        ws = wb[tables[0].sheet]
        row = HEADER_ROW + len(tables[0].rows) + 2
        ws.cell(row, 1, "Ghi chú").font = bold
        for i, note in enumerate(data.notes, start=1):
            ws.cell(row + i, 1, f"- {note}")
    wb.properties.title = tables[0].title
    wb.properties.creator = "social-publisher"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Pct):
        return f"{value.value * 100:.1f}"
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


def write_report(data: ReportData, out_dir: Path) -> ReportOutput:
    folder = Path(out_dir) / data.period.folder_name
    folder.mkdir(parents=True, exist_ok=True)
    tables = build_tables(data)
    workbook = write_workbook(tables, data, folder / f"{data.period.folder_name}.xlsx")
    csvs = tuple(write_csv(t, folder / t.csv_name) for t in tables)
    chart = render_weekly_chart(
        data.weeks,
        folder / f"bieu-do-{data.period.slug}.png",
        title=f"Bài đăng và tương tác theo tuần, {data.period.label} – {data.unit}",
    )
    return ReportOutput(folder, workbook, csvs, chart, data)


def make_report(
    db: Database,
    settings: Settings,
    period: Period,
    out_dir: Path,
    *,
    now: datetime,
    sync_agencies: bool = True,
) -> ReportOutput:
    """Build and write one period's report (syncing agencies.csv first when it is readable)."""
    notes: list[str] = []
    if sync_agencies:
        try:
            load_agencies(db, settings, now=now)
        except FileProblems as exc:
            notes.append("Dùng danh sách đơn vị đã lưu vì tệp có lỗi: " + exc.message)
    data = build_report(db, settings, period, now=now)
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
    writes the report once, at the first chance. Returns the folder when it wrote one.
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
        f"(kế hoạch {vn_number(data.plan_posts['facebook'] * data.months)} và "
        f"{vn_number(data.plan_posts['zalo'] * data.months)})",
        f"  Facebook: {vn_number(fb.values['reactions'] or 0)} cảm xúc, "
        f"{vn_number(fb.values['comments'] or 0)} bình luận, "
        f"{vn_number(fb.values['shares'] or 0)} chia sẻ, "
        f"{vn_number(fb.values['views'] or 0)} lượt xem",
        f"  Zalo: {vn_number(zl.values['views'] or 0)} lượt xem, "
        f"{vn_number(zl.values['shares'] or 0)} chia sẻ",
        f"  Đơn vị chia sẻ: {vn_number(total.shared)}/{vn_number(total.due)} lượt đến hạn "
        f"({vn_percent(total.rate)}; kế hoạch {vn_percent(data.plan_share_rate, 0)}), "
        f"đúng hạn {vn_number(total.on_time)}, muộn {vn_number(total.late)}, "
        f"chưa chia sẻ {vn_number(total.missing)}",
        "  Tệp: " + ", ".join(p.name for p in (output.workbook, *output.csv_files, output.chart)),
    ]
    lines += [f"  Lưu ý: {n}" for n in data.notes]
    return lines
