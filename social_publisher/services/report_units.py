"""The province report (``report --all-units``): one workbook for the Sở, every unit in it.

Each unit's figures are its own monthly (or year-to-date) report, built by
:func:`report.build_report` with that unit's database handle and settings, so the
province never counts a post, snapshot or share by rules of its own: a number in the
summary is the number in that unit's own report. The summary comes first, one row per
unit, lowest plan achievement first (the units the Sở has to call about come first; ties
and units without targets in Vietnamese alphabetical order), then a total row; then one
sheet per unit, in alphabetical order, holding every table of its own workbook. Design
notes: docs/province-report.md.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import SocialPublisherError
from ..numbers import vn_number, vn_percent
from ..store import Database
from ..units import Unit
from .agencies import FileProblems, load_agencies
from .report import (
    PARTIAL_PREFIX,
    Column,
    Pct,
    Period,
    ReportData,
    ReportHeading,
    Table,
    build_report,
    build_tables,
)
from .shares import Tally

#: the summary sheet's name (a unit's sheet never takes it)
SUMMARY_SHEET = "Tổng hợp"
#: Excel's limit on a sheet name, and the characters it refuses in one
SHEET_NAME_MAX = 31
_SHEET_FORBIDDEN = frozenset("[]:*?/\\")
#: what the summary's verdict column says
MET, NOT_MET, NO_TARGET = "Đạt", "Chưa đạt", "Không đặt chỉ tiêu"
#: the criteria a unit is measured on, in the order of the summary's columns
CRITERIA = ("facebook", "zalo", "share_rate")


# ------------------------------------------------------------------ Vietnamese order

_ALPHABET = (
    *("a", "ă", "â", "b", "c", "d", "đ", "e", "ê", "f", "g", "h", "i", "j", "k", "l", "m"),
    *("n", "o", "ô", "ơ", "p", "q", "r", "s", "t", "u", "ư", "v", "w", "x", "y", "z"),
)
_LETTER_RANK = {letter: i for i, letter in enumerate(_ALPHABET)}
#: a letter's own marks (ă â ê ô ơ ư): part of the letter, not a tone
_LETTER_MARKS = {"\u0306", "\u0302", "\u031b"}
#: tones in dictionary order: ngang, huyền, hỏi, ngã, sắc, nặng
_TONE_RANK = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}


def vietnamese_key(text: str) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...], str]:
    """Sort key of Vietnamese dictionary order: letters first (a < ă < â < b … d < đ), then
    tones (a < à < ả < ã < á < ạ), then case. Plain code point order puts ``Đ`` after ``Z``
    and ``Ấ`` after every plain letter; the install has no ICU to ask."""
    letters: list[tuple[int, int]] = []
    tones: list[int] = []
    for char in unicodedata.normalize("NFC", text):
        parts = unicodedata.normalize("NFD", char.lower())
        base, marks = parts[0], parts[1:]
        letter = base + "".join(m for m in marks if m in _LETTER_MARKS)
        letter = unicodedata.normalize("NFC", letter)
        rank = _LETTER_RANK.get(letter)
        letters.append((1, rank) if rank is not None else (0, ord(base)))
        tones.append(max((_TONE_RANK.get(m, 0) for m in marks), default=0))
    return tuple(letters), tuple(tones), text


# ------------------------------------------------------------------ sheet names


def safe_sheet_names(names: Sequence[str], *, taken: Sequence[str] = (SUMMARY_SHEET,)) -> list[str]:
    """Excel-safe, unique sheet names for ``names``, in order.

    Excel refuses ``[]:*?/\\``, names over 31 characters, names starting or ending with an
    apostrophe, ``History``, and two names equal but for case; two long unit names that cut
    to the same 31 characters get `` (2)``, `` (3)``… within the limit.
    """
    used = {t.casefold() for t in (*taken, "History")}  # Excel keeps "History" for itself
    result: list[str] = []
    for raw in names:
        cleaned = "".join("-" if ch in _SHEET_FORBIDDEN else ch for ch in raw)
        cleaned = " ".join(cleaned.split()).strip("'").strip() or "Đơn vị"
        candidate = cleaned[:SHEET_NAME_MAX].rstrip(" '")
        n = 1
        while candidate.casefold() in used:
            n += 1
            suffix = f" ({n})"
            candidate = cleaned[: SHEET_NAME_MAX - len(suffix)].rstrip(" '") + suffix
        used.add(candidate.casefold())
        result.append(candidate)
    return result


# ------------------------------------------------------------------ figures


@dataclass(frozen=True)
class UnitFigures:
    """One unit's report, and how it stands against its plan."""

    unit: Unit
    data: ReportData
    sheet: str

    def posts(self, channel: str) -> int:
        return self.data.totals[channel].posts

    def metric(self, metric: str) -> int:
        return self.data.current.metric(metric)

    @property
    def shares(self) -> Tally:
        return self.data.matrix.total

    def achievement(self, criterion: str) -> float | None:
        """Achieved / target (None: no target set, or no share due yet to measure a rate)."""
        if criterion == "share_rate":
            rate, target = self.shares.rate, self.data.plan_share_rate
            return None if rate is None or not target else rate / target
        target = self.data.targets[criterion]
        return self.posts(criterion) / target if target else None

    @property
    def score(self) -> float | None:
        """The weakest criterion's achievement: a unit is as far along as its worst target."""
        measured = [a for a in map(self.achievement, CRITERIA) if a is not None]
        return min(measured) if measured else None

    @property
    def verdict(self) -> str:
        score = self.score
        if score is None:
            return NO_TARGET
        return MET if score >= 1 else NOT_MET


def summary_order(figures: Sequence[UnitFigures]) -> list[UnitFigures]:
    """Lowest plan achievement first; units with nothing to measure last; ties by name."""
    return sorted(
        figures,
        key=lambda f: (
            f.score is None,
            f.score or 0.0,
            vietnamese_key(f.unit.name),
            f.unit.id,
        ),
    )


@dataclass(frozen=True)
class ProvinceReport:
    period: Period
    now: datetime
    heading: ReportHeading
    #: every unit, in the summary's order
    units: list[UnitFigures]
    workbook: Path

    @property
    def sheets_order(self) -> list[UnitFigures]:
        """The unit sheets' order: by name, so a ward's sheet is found among a hundred."""
        return sorted(self.units, key=lambda f: (vietnamese_key(f.unit.name), f.unit.id))

    @property
    def title(self) -> str:
        return f"Tổng hợp kết quả truyền thông chuyển đổi số của các đơn vị {self.period.label}"

    @property
    def subtitle(self) -> str:
        return (
            f"Kỳ báo cáo: {self.period.range_text(self.now)} · {len(self.units)} đơn vị · "
            f"Lập lúc {self.now.astimezone(self.period.tz):%d/%m/%Y %H:%M}"
        )

    def met(self) -> list[UnitFigures]:
        return [f for f in self.units if f.verdict == MET]


def file_name(period: Period) -> str:
    """``bao-cao-cac-don-vi-2024-10.xlsx``, ``bao-cao-cac-don-vi-nam-2024.xlsx``."""
    return f"bao-cao-cac-don-vi-{period.slug}.xlsx"


def collect_units(
    install_db: Database,
    units: Sequence[Unit],
    period: Period,
    *,
    now: datetime,
    sync_agencies: bool = True,
) -> list[UnitFigures]:
    """Each unit's report data, read through its own handle with its own settings."""
    names = safe_sheet_names([u.name for u in units])
    figures: list[UnitFigures] = []
    for unit, sheet in zip(units, names, strict=True):
        db = install_db.for_unit(unit.id)
        notes: list[str] = []
        if sync_agencies:
            try:
                load_agencies(db, unit.settings, now=now)
            except FileProblems as exc:
                notes.append("Dùng danh sách đơn vị đã lưu vì tệp có lỗi: " + exc.message)
        data = build_report(
            db, unit.settings, period, now=now, heading=ReportHeading.from_settings(unit.settings)
        )
        data.notes[:0] = notes
        figures.append(UnitFigures(unit, data, sheet))
    return figures


# ------------------------------------------------------------------ the summary table

SUMMARY_COLUMNS = [
    Column("STT", 5),
    Column("Đơn vị", 32),
    Column("Mã đơn vị", 18),
    Column("Bài đăng Facebook", 10),
    Column("Bài đăng Zalo OA", 10),
    Column("Lượt cảm xúc", 11),
    Column("Lượt bình luận", 11),
    Column("Lượt chia sẻ trên mạng xã hội", 11),
    Column("Lượt xem", 12),
    Column("Lượt đơn vị được giao chia sẻ", 11),
    Column("Lượt đã đến hạn", 10),
    Column("Lượt đã chia sẻ", 10),
    Column("Chia sẻ đúng hạn", 10),
    Column("Tỷ lệ chia sẻ (%)", 10),
    Column("Tỷ lệ chia sẻ đúng hạn (%)", 10),
    Column("Kế hoạch bài Facebook", 10),
    Column("Hoàn thành bài Facebook (%)", 11),
    Column("Kế hoạch bài Zalo OA", 10),
    Column("Hoàn thành bài Zalo OA (%)", 11),
    Column("Kế hoạch tỷ lệ chia sẻ (%)", 10),
    Column("Hoàn thành tỷ lệ chia sẻ (%)", 11),
    Column("Mức hoàn thành kế hoạch (%)", 11),
    Column("Đánh giá", 16),
]
#: columns frozen at the left (number and name)
SUMMARY_FREEZE_COLS = 2


def _pct(x: float | None) -> Pct | None:
    return None if x is None else Pct(x)


def summary_table(report: ProvinceReport) -> Table:
    """One row per unit in the summary's order, then the province's total."""
    table = Table(
        SUMMARY_SHEET,
        "",
        report.title,
        list(SUMMARY_COLUMNS),
        freeze_cols=SUMMARY_FREEZE_COLS,
        bold_last_row=True,
        footnote=(
            "Sắp xếp: đơn vị có mức hoàn thành kế hoạch thấp nhất lên đầu (mức hoàn thành là "
            "chỉ tiêu đạt thấp nhất trong ba: bài Facebook, bài Zalo OA, tỷ lệ chia sẻ); đơn vị "
            "bằng nhau xếp theo tên. Tỷ lệ chia sẻ chỉ tính các bài đã hết thời hạn chia sẻ; "
            "kế hoạch số bài = chỉ tiêu mỗi tháng của đơn vị × số tháng của kỳ."
        ),
    )
    for i, f in enumerate(report.units, start=1):
        t = f.shares
        table.rows.append(
            [
                i,
                f.unit.name,
                f.unit.id,
                f.posts("facebook"),
                f.posts("zalo"),
                f.metric("reactions"),
                f.metric("comments"),
                f.metric("shares"),
                f.metric("views"),
                t.expected,
                t.due,
                t.shared,
                t.on_time,
                _pct(t.rate),
                _pct(t.on_time_rate),
                f.data.targets["facebook"],
                _pct(f.achievement("facebook")),
                f.data.targets["zalo"],
                _pct(f.achievement("zalo")),
                Pct(f.data.plan_share_rate),
                _pct(f.achievement("share_rate")),
                _pct(f.score),
                f.verdict,
            ]
        )
    table.rows.append(total_row(report.units))
    return table


def total_row(units: Sequence[UnitFigures]) -> list[Any]:
    """Sums of counts; rates of the summed tallies (not an average of rates)."""
    total = Tally()
    for f in units:
        t = f.shares
        total.expected += t.expected
        total.on_time += t.on_time
        total.late += t.late
        total.missing += t.missing
        total.pending += t.pending
        total.pending_shared += t.pending_shared
    fb_posts = sum(f.posts("facebook") for f in units)
    zl_posts = sum(f.posts("zalo") for f in units)
    fb_target = sum(f.data.targets["facebook"] for f in units)
    zl_target = sum(f.data.targets["zalo"] for f in units)
    met = sum(1 for f in units if f.verdict == MET)
    return [
        None,
        "Tổng cộng",
        f"{len(units)} đơn vị",
        fb_posts,
        zl_posts,
        *(sum(f.metric(m) for f in units) for m in ("reactions", "comments", "shares", "views")),
        total.expected,
        total.due,
        total.shared,
        total.on_time,
        _pct(total.rate),
        _pct(total.on_time_rate),
        fb_target,
        _pct(fb_posts / fb_target if fb_target else None),
        zl_target,
        _pct(zl_posts / zl_target if zl_target else None),
        None,  # each unit has its own target rate
        None,
        None,
        f"{met}/{len(units)} đơn vị đạt",
    ]


# ------------------------------------------------------------------ writing


def make_province_report(
    install_db: Database,
    units: Sequence[Unit],
    period: Period,
    out_dir: Path,
    *,
    now: datetime,
    heading: ReportHeading,
    sync_agencies: bool = True,
) -> ProvinceReport:
    """Every unit's figures, and the workbook written under a temporary name then renamed."""
    figures = collect_units(install_db, units, period, now=now, sync_agencies=sync_agencies)
    path = Path(out_dir) / file_name(period)
    report = ProvinceReport(period, now, heading, summary_order(figures), path)
    write_province_workbook(report)
    return report


def write_province_workbook(report: ProvinceReport) -> Path:
    """Summary first, then one sheet per unit; in place only once complete."""
    from filelock import FileLock

    final = report.workbook
    final.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(final.with_name(f"{PARTIAL_PREFIX}{final.name}.lock"))):
        for leftover in final.parent.glob(f"{PARTIAL_PREFIX}*-{final.name}"):  # a killed run's
            leftover.unlink(missing_ok=True)
        partial = final.with_name(f"{PARTIAL_PREFIX}{os.getpid()}-{final.name}")
        try:
            _write(report, partial)
            with partial.open("rb+") as fh:
                os.fsync(fh.fileno())
            try:
                os.replace(partial, final)
            except PermissionError:  # Windows: Excel has the old file open
                raise SocialPublisherError(
                    f"Không thay được tệp {final}: tệp đang mở (trong Excel?). Đóng tệp rồi "
                    "chạy lại lệnh report --all-units."
                ) from None
        finally:
            partial.unlink(missing_ok=True)
    return final


def _write(report: ProvinceReport, path: Path) -> None:
    import xlsxwriter

    from .report_xlsx import _Formats

    wb = xlsxwriter.Workbook(str(path), {"in_memory": True, "strings_to_urls": False})
    fmt = _Formats(wb)
    try:
        _summary_sheet(wb, fmt, report)
        for f in report.sheets_order:
            _unit_sheet(wb, fmt, f)
        wb.set_properties({"title": report.title, "author": "social-publisher"})
    finally:
        wb.close()


def _internal(sheet: str) -> str:
    return "internal:'" + sheet.replace("'", "''") + "'!A1"


_SUMMARY_HEADER = 3  # 0-based row of the summary's column headers


def _summary_sheet(wb: Any, fmt: Any, report: ProvinceReport) -> None:
    from .report_xlsx import _page_setup, write_row

    table = summary_table(report)
    ws = wb.add_worksheet(SUMMARY_SHEET)
    h = _SUMMARY_HEADER
    ws.write_string(0, 0, report.title, fmt.title)
    ws.write_string(1, 0, report.heading.unit_line, fmt.subtitle)
    ws.write_string(2, 0, report.subtitle, fmt.subtitle)
    for col, column in enumerate(table.columns):
        ws.write_string(h, col, column.title, fmt.header)
        ws.set_column(col, col, column.width)
    ws.set_row(h, 62)
    last_index = len(table.rows) - 1
    for i, values in enumerate(table.rows):
        write_row(ws, fmt, h + 1 + i, values, bold=i == last_index)
    # each unit's name leads to its sheet
    for i, f in enumerate(report.units):
        ws.write_url(h + 1 + i, 1, _internal(f.sheet), fmt("link"), string=f.unit.name)
    ws.freeze_panes(h + 1, table.freeze_cols)
    if report.units:  # the filter covers the units, never the total row
        ws.autofilter(h, 0, h + len(report.units), len(table.columns) - 1)
    row = h + len(table.rows) + 2  # a blank row under the total
    ws.merge_range(row, 0, row, len(table.columns) - 1, table.footnote, fmt.footnote)
    ws.set_row(row, 45)
    _page_setup(ws, landscape=True, one_page=False, repeat_header=True)


def _unit_sheet(wb: Any, fmt: Any, f: UnitFigures) -> None:
    """Every table of the unit's own workbook, one under another, each with its header."""
    from .report import subtitle
    from .report_xlsx import _page_setup, write_row

    data = f.data
    tables = build_tables(data)
    ws = wb.add_worksheet(f.sheet)
    ws.write_string(0, 0, f"{f.unit.name}: kết quả {data.period.label}", fmt.title)
    ws.write_string(1, 0, data.heading.unit_line, fmt.subtitle)
    ws.write_string(2, 0, subtitle(data), fmt.subtitle)
    ws.write_url(3, 0, _internal(SUMMARY_SHEET), fmt("link"), string="← Về trang Tổng hợp")
    ncols = max(len(t.columns) for t in tables)
    widths = [0.0] * ncols
    for t in tables:
        for i, column in enumerate(t.columns):
            widths[i] = max(widths[i], min(column.width, 48))
    for i, width in enumerate(widths):
        ws.set_column(i, i, width)
    row = 5
    for t in tables:
        ws.write_string(row, 0, t.title, fmt("text", True))
        row += 1
        for col, column in enumerate(t.columns):
            upright = t.vertical_header and col >= t.freeze_cols
            ws.write_string(row, col, column.title, fmt.header_upright if upright else fmt.header)
        ws.set_row(row, 110 if t.vertical_header else 32)
        row += 1
        last_index = len(t.rows) - 1
        for i, values in enumerate(t.rows):
            write_row(ws, fmt, row, values, bold=t.bold_last_row and i == last_index)
            row += 1
        if t.footnote:
            ws.write_string(row, 0, t.footnote, fmt.footnote)
            row += 1
        row += 1
    for note in data.notes:
        ws.write_string(row, 0, f"- {note}", fmt.note)
        row += 1
    ws.freeze_panes(4, 0)
    _page_setup(ws, landscape=True, one_page=False, repeat_header=False)


# ------------------------------------------------------------------ what the command prints


def _posts(actual: int, target: int) -> str:
    if not target:
        return f"{vn_number(actual)} bài (không đặt chỉ tiêu)"
    return f"{vn_number(actual)}/{vn_number(target)} bài"


def province_lines(report: ProvinceReport) -> list[str]:
    """What ``report --all-units`` prints, one line per unit in the summary's order."""
    fb = sum(f.posts("facebook") for f in report.units)
    zl = sum(f.posts("zalo") for f in report.units)
    lines = [
        f"Đã xuất báo cáo tổng hợp {len(report.units)} đơn vị {report.period.label} "
        f"({report.period.range_text(report.now)}) vào tệp {report.workbook}",
        f"  Bài đã đăng: Facebook {vn_number(fb)}, Zalo {vn_number(zl)}; "
        f"đạt kế hoạch: {len(report.met())}/{len(report.units)} đơn vị",
    ]
    for f in report.units:
        t = f.shares
        lines.append(
            f"  - {f.unit.name} ({f.unit.id}): {f.verdict.lower()}; Facebook "
            f"{_posts(f.posts('facebook'), f.data.targets['facebook'])}, Zalo "
            f"{_posts(f.posts('zalo'), f.data.targets['zalo'])}, chia sẻ "
            f"{vn_percent(t.rate)} (kế hoạch {vn_percent(f.data.plan_share_rate, 0)})"
        )
    for f in report.units:
        lines += [f"  Lưu ý ({f.unit.id}): {n}" for n in f.data.notes]
    return lines


def province_json(report: ProvinceReport) -> dict[str, Any]:
    return {
        "period": report.period.slug,
        "workbook": str(report.workbook),
        "units": [
            {
                "id": f.unit.id,
                "name": f.unit.name,
                "sheet": f.sheet,
                "posts": {ch: f.posts(ch) for ch in ("facebook", "zalo")},
                "engagement": {
                    m: f.metric(m) for m in ("reactions", "comments", "shares", "views")
                },
                "shares": {
                    "expected": f.shares.expected,
                    "due": f.shares.due,
                    "shared": f.shares.shared,
                    "on_time": f.shares.on_time,
                    "rate": f.shares.rate,
                    "on_time_rate": f.shares.on_time_rate,
                },
                "targets": {**f.data.targets, "share_rate": f.data.plan_share_rate},
                "achievement": {c: f.achievement(c) for c in CRITERIA},
                "verdict": f.verdict,
            }
            for f in report.units
        ],
    }
