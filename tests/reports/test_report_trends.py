"""Trends (against the month before and the year before), the month chart of a year, plan
targets pro-rated to the date, the chart in the workbook, an empty chart that says so, and
shares still inside their window shown as pending instead of counted in a rate."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from openpyxl import load_workbook
from PIL import Image

from social_publisher.config import Settings
from social_publisher.services.report import (
    Period,
    build_report,
    comparison_spans,
    make_report,
    parse_month,
)
from social_publisher.services.report_chart import (
    INTERACTIONS_COLOR,
    NO_ENGAGEMENT,
    NO_POSTS,
    ChartPoint,
    build_figure,
    vn_tick,
)
from social_publisher.services.shares import share_matrix
from social_publisher.store import Database, Share


def _rows(ws: Any) -> list[tuple[Any, ...]]:
    rows = []
    for r in ws.iter_rows(min_row=5, values_only=True):
        if all(v is None for v in r):
            break
        rows.append(tuple(r))
    return rows


def _post(db: Database, h: type, folder: str, at: datetime, views: int, reactions: int) -> None:
    """A post on both channels with a snapshot soon after (Zalo: views only)."""
    ids = h.add_post(db, folder, f"Bài {folder}", at)
    taken = at + timedelta(minutes=5)
    h.add_snapshot(db, ids["facebook"], taken, reactions=reactions, views=views)
    h.add_snapshot(db, ids["zalo"], taken, views=views * 2)


def test_month_is_compared_with_the_month_before_and_the_same_month_last_year(
    loaded: Database, settings: Settings, h: type, tmp_path: Path
) -> None:
    _post(loaded, h, "t10-2023-a", h.local(2023, 10, 5, 8), views=100, reactions=10)
    _post(loaded, h, "t09-2024-a", h.local(2024, 9, 3, 8), views=300, reactions=30)
    _post(loaded, h, "t09-2024-b", h.local(2024, 9, 30, 23, 50), views=100, reactions=10)
    _post(loaded, h, "t10-2024-a", h.local(2024, 10, 1, 6), views=500, reactions=40)
    _post(loaded, h, "t10-2024-b", h.local(2024, 10, 20, 9), views=700, reactions=60)
    _post(loaded, h, "t10-2024-c", h.local(2024, 10, 31, 23, 30), views=400, reactions=20)
    _post(loaded, h, "t11-2024-a", h.local(2024, 11, 1, 0, 15), views=9000, reactions=900)
    out = make_report(
        loaded, settings, parse_month("2024-10", h.TZ), tmp_path, now=h.local(2024, 11, 20)
    )
    rows = {r[0]: r[1:] for r in _rows(load_workbook(out.workbook)["So sánh"])}
    # this month, last month, change, October 2023, change
    assert rows["Số bài đăng trên Fanpage Facebook"] == (3, 2, pytest.approx(0.5), 1, 2.0)
    views = rows["Lượt xem (Facebook và Zalo OA)"]
    assert views == (4800, 1200, pytest.approx(3.0), 300, pytest.approx(15.0))
    assert rows["Lượt cảm xúc, bình luận, chia sẻ"] == (120, 40, 2.0, 10, 11.0)
    header = [c.value for c in load_workbook(out.workbook)["So sánh"][4]]
    assert header[1:4] == [
        "Kỳ này (tháng 10/2024)",
        "Tháng trước (tháng 09/2024)",
        "Tăng, giảm (%)",
    ]
    assert header[4] == "Cùng kỳ năm trước (tháng 10/2023)"
    assert load_workbook(out.workbook)["So sánh"]["D5"].number_format == "+0.0%;-0.0%;0.0%"
    # the document says it in words, numbers the Vietnamese way
    prose = " ".join(p.text for p in Document(str(out.document)).paragraphs)
    assert "tăng 2 lượt đăng (+50,0%) so với tháng 09/2024" in prose
    assert "tăng 4 lượt đăng (+200,0%) so với tháng 10/2023" in prose


def test_a_period_still_running_is_compared_with_the_same_stretch(h: type) -> None:
    now = h.local(2024, 10, 18, 9, 0)
    (_, prev), (_, last_year) = comparison_spans(parse_month("2024-10", h.TZ), now)
    assert (prev.start, prev.end) == (h.local(2024, 9, 1), h.local(2024, 9, 18, 9, 0))
    assert last_year.end == h.local(2023, 10, 18, 9, 0)
    assert prev.label == "tháng 09/2024, đến 18/09/2024"
    # 31 March against February: the month's last day
    (_, feb), _ = comparison_spans(parse_month("2024-03", h.TZ), h.local(2024, 3, 31, 10))
    assert feb.end == h.local(2024, 2, 29, 10)
    [(_, year)] = comparison_spans(Period(2024, None, h.TZ), h.local(2024, 11, 18, 9))
    assert (year.start, year.end) == (h.local(2023, 1, 1), h.local(2023, 11, 18, 9))
    # a finished period: whole periods
    [(_, y2023)] = comparison_spans(Period(2024, None, h.TZ), h.local(2025, 1, 5))
    assert y2023.end == h.local(2024, 1, 1)


def test_year_report_has_months_and_a_month_chart_and_prorated_targets(
    loaded: Database, settings: Settings, h: type, tmp_path: Path
) -> None:
    for month in range(1, 12):
        for k in range(month % 3 + 1):  # 2, 3, 1, 2, … posts a month
            _post(loaded, h, f"m{month:02d}-{k}", h.local(2024, month, 3 + k, 8), 100 * month, k)
    _post(loaded, h, "nam-truoc", h.local(2023, 6, 3, 8), views=50, reactions=5)
    now = h.local(2024, 11, 18, 9, 0)
    out = make_report(loaded, settings, Period(2024, None, h.TZ), tmp_path, now=now)
    wb = load_workbook(out.workbook)
    months = _rows(wb["Theo tháng"])
    assert [r[0] for r in months] == [f"Tháng {m:02d}" for m in range(1, 12)] + ["Cả kỳ"]
    for m, row in enumerate(months[:-1], start=1):
        n = m % 3 + 1
        assert row[1:3] == (n, n), m  # Facebook, Zalo posts
        assert row[6] == n * 100 * m * 3, m  # views: Facebook 100·m, Zalo twice that
    assert months[-1][1] == sum(m % 3 + 1 for m in range(1, 12))
    assert months[-1][6] == sum(r[6] for r in months[:-1])
    # the chart: 11 months, not ~46 weeks
    data = out.data
    assert [b.label for b in data.buckets] == [f"T{m:02d}" for m in range(1, 12)]
    fig = build_figure([b.point() for b in data.buckets], title="t", by_month=True)
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()][:2] == ["T01", "T02"]
    assert len(fig.axes[1].get_xticks()) == 11
    # targets: 10 months and 18/30 of November, so 8 × 10,6 = 84,8 → 85 and 4 × 10,6 → 42
    assert data.months == pytest.approx(10.6)
    plan = {r[0]: r for r in _rows(wb["Kế hoạch"])}
    assert plan["Số bài đăng trên Fanpage Facebook"][1:3] == (85, months[-1][1])
    assert plan["Số bài đăng trên Zalo OA"][1] == 42
    assert "10,6 tháng, tính đến ngày 18/11/2024" in wb["Kế hoạch"]["A1"].value
    prose = " ".join(p.text for p in Document(str(out.document)).paragraphs)
    assert "Chỉ tiêu kế hoạch được tính cho 10,6 tháng, tính đến ngày 18/11/2024" in prose
    # and against last year to the same day
    trend = {r[0]: r for r in _rows(wb["So sánh"])}
    assert trend["Số bài đăng trên Fanpage Facebook"][2] == 1
    # a finished year: the full twelve months of targets
    done = build_report(loaded, settings, Period(2024, None, h.TZ), now=h.local(2025, 1, 2))
    assert done.months == 12 and done.targets["facebook"] == 96


def test_the_chart_is_embedded_in_the_workbook(
    loaded: Database, settings: Settings, h: type, tmp_path: Path
) -> None:
    _post(loaded, h, "bai", h.local(2024, 10, 3, 8), views=100, reactions=10)
    out = make_report(
        loaded, settings, parse_month("2024-10", h.TZ), tmp_path, now=h.local(2024, 11, 2)
    )
    ws = load_workbook(out.workbook)["Biểu đồ"]
    assert ws["A1"].value.startswith("Bài đăng và tương tác theo tuần, tháng 10/2024")
    with zipfile.ZipFile(out.workbook) as z:
        media = [n for n in z.namelist() if n.startswith("xl/media/")]
        assert len(media) == 1
        embedded = z.read(media[0])
        drawings = [n for n in z.namelist() if n.startswith("xl/drawings/drawing")]
        assert len(drawings) == 1  # on one sheet: the chart sheet
    assert embedded == out.chart.read_bytes()
    with Image.open(io.BytesIO(embedded)) as img:
        assert img.format == "PNG"
    assert len(Document(str(out.document)).inline_shapes) == 1


def _colors(png: Path) -> set[tuple[int, int, int]]:
    with Image.open(png) as img:
        return {c for _, c in img.convert("RGB").getcolors(maxcolors=2_000_000) or []}


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def test_a_chart_with_nothing_to_show_says_so(
    db: Database, loaded: Database, settings: Settings, h: type, tmp_path: Path
) -> None:
    weeks = [ChartPoint(date(2024, 10, d), f"{d:02d}/10", 0, 0, 0, 0) for d in (1, 7, 14)]
    empty = build_figure(weeks, title="t", by_month=False)
    assert empty.axes == []  # no axis of zeros...
    said = [t.get_text() for t in empty.texts if t is not empty._suptitle]
    assert said == [NO_POSTS]  # ...a sentence instead
    posted = [ChartPoint(date(2024, 10, 1), "01/10", 2, 1, 0, 0), *weeks[1:]]
    fig = build_figure(posted, title="t", by_month=False)
    posts_ax, engagement_ax = fig.axes
    assert len(posts_ax.patches) == 6  # the posts are drawn
    assert list(engagement_ax.get_yticks()) == [] and not engagement_ax.patches
    assert [t.get_text() for t in engagement_ax.texts] == [NO_ENGAGEMENT]
    full = build_figure(
        [ChartPoint(date(2024, 10, 1), "01/10", 2, 1, 1234, 56789)], title="t", by_month=False
    )
    assert len(full.axes) == 3 and full.axes[1].patches  # bars, and the views line's axis

    # the report of an empty month: the chart and the document say there is nothing yet
    out = make_report(db, settings, parse_month("2024-02", h.TZ), tmp_path, now=h.local(2024, 3, 2))
    assert out.chart_messages == (NO_POSTS,)
    assert _rgb(INTERACTIONS_COLOR) not in _colors(out.chart)
    doc = Document(str(out.document))
    assert NO_POSTS in [p.text for p in doc.paragraphs] and len(doc.inline_shapes) == 0
    # posts whose engagement has not been collected yet
    h.add_post(loaded, "chua-thu-thap", "Bài chưa có số liệu", h.local(2024, 4, 2, 8))
    out = make_report(
        loaded, settings, parse_month("2024-04", h.TZ), tmp_path, now=h.local(2024, 4, 2, 9)
    )
    assert out.chart_messages == (NO_ENGAGEMENT,)
    assert _rgb(INTERACTIONS_COLOR) not in _colors(out.chart)


def test_chart_numbers_are_vietnamese() -> None:
    assert vn_tick(12345) == "12.345"
    assert vn_tick(2.5) == "2,5"
    assert vn_tick(1234567.5) == "1.234.567,5"


def test_shares_still_inside_their_window_are_pending_not_a_rate(
    loaded: Database, settings: Settings, h: type, tmp_path: Path
) -> None:
    now = h.local(2024, 10, 10, 10, 0)
    ids = h.add_post(loaded, "moi-dang", "Bài vừa đăng", now - timedelta(hours=2))
    with loaded.session() as s:
        s.add(
            Share(
                publication_id=ids["facebook"],
                agency_id="phuong-pho-hoa",
                url="https://www.facebook.com/phuongphohoa/posts/9",
                shared_at=now - timedelta(hours=1),
                source="manual",
                verified=True,
            )
        )
    period = parse_month("2024-10", h.TZ)
    out = make_report(loaded, settings, period, tmp_path, now=now)
    total = out.data.matrix.total
    # one agency of four has shared, an hour into a 24-hour window: not "100 %" (1 of 1
    # counted) nor "25 %": the post is pending until its window closes
    assert (total.expected, total.pending, total.pending_shared) == (4, 4, 1)
    assert (total.on_time, total.missing, total.rate) == (0, 0, None)
    wb = load_workbook(out.workbook)
    summary = {r[0]: r[3] for r in _rows(wb["Tổng hợp"])}
    assert summary["Đang chờ (còn trong hạn chia sẻ)"] == 4
    assert summary["Tỷ lệ đơn vị chia sẻ (%)"] is None
    plan = {r[0]: r for r in _rows(wb["Kế hoạch"])}
    assert plan["Tỷ lệ đơn vị chia sẻ bài (%)"][4] == "Chưa có bài đến hạn chia sẻ"
    agencies = {r[0]: r for r in _rows(wb["Theo đơn vị"])}
    assert agencies["phuong-pho-hoa"][3:9] == (1, 0, 0, 0, 1, None)
    # the share itself is a fact: the matrix shows it, the post row counts it
    matrix = wb["Chia sẻ theo bài"]
    header = [c.value for c in matrix[4]]
    assert _rows(matrix)[0][header.index("UBND phường Phổ Hòa")] == "đúng hạn"
    assert _rows(matrix)[0][header.index("UBND xã Phổ An")] == "đang chờ"
    post = _rows(wb["Theo bài viết"])[0]
    assert post[9:12] == (1, 4, "đang chờ (đến 11/10 08:00)")
    assert any("chưa tính vào tỷ lệ" in n for n in out.data.notes)
    # a day later the window has closed: now it counts, 1 of 4
    later = share_matrix(loaded, settings, period.start, period.end, now=now + timedelta(days=1))
    assert later.total.rate == pytest.approx(0.25) and later.total.pending == 0
