"""The monthly / yearly report: true stored totals, local-time months, files staff can open."""

from __future__ import annotations

import csv
import io
import random
import warnings
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from PIL import Image

from social_publisher.cli import main
from social_publisher.config import Settings
from social_publisher.services.report import (
    Period,
    build_report,
    make_report,
    parse_month,
    previous_month,
    vn_number,
    vn_percent,
    write_monthly_report,
)
from social_publisher.services.shares import import_shares
from social_publisher.store import Database, EngagementSnapshot

METRIC_ROWS = {
    "reactions": "Lượt cảm xúc (thích, yêu thích…)",
    "comments": "Lượt bình luận",
    "shares": "Lượt chia sẻ trên mạng xã hội",
    "views": "Lượt xem",
    "reach": "Số người tiếp cận",
}


def test_vietnamese_number_format() -> None:
    assert vn_number(1234) == "1.234"
    assert vn_number(1234567) == "1.234.567"
    assert vn_number(0) == "0"
    assert vn_percent(0.8526) == "85,3%"
    assert vn_percent(12.5) == "1.250,0%"
    assert vn_percent(None) == "—"


def test_periods_are_local_months(h: type) -> None:
    p = parse_month("2024-10", h.TZ)
    assert p.start == h.local(2024, 10, 1) and p.end == h.local(2024, 11, 1)
    assert (p.label, p.folder_name) == ("tháng 10/2024", "bao-cao-2024-10")
    assert parse_month("12/2024", h.TZ).end == h.local(2025, 1, 1)
    for bad in ("2024-13", "2024/10", "oct", "24-10", ""):
        with pytest.raises(ValueError, match="YYYY-MM"):
            parse_month(bad, h.TZ)
    # 1 November 07:00 local is still 31 October in UTC: last month is October
    assert previous_month(h.local(2024, 11, 1, 7, 0), h.TZ) == p
    assert previous_month(h.local(2025, 1, 1, 7, 0), h.TZ).slug == "2024-12"


@pytest.fixture
def october(loaded: Database, h: type) -> dict[str, Any]:
    """Posts around October 2024 with random snapshots, some taken after the month ended."""
    rng = random.Random(20241120)
    times = [
        h.local(2024, 9, 30, 23, 50),  # September (local), though 16:50 UTC on the 30th
        h.local(2024, 10, 1, 6, 0),  # October, though 23:00 UTC on 30 September
        h.local(2024, 10, 10, 7, 30),
        h.local(2024, 10, 15, 9, 0),
        h.local(2024, 10, 22, 14, 0),
        h.local(2024, 10, 31, 23, 30),  # October (local), 16:30 UTC
        h.local(2024, 11, 1, 0, 15),  # November (local), though 31 October in UTC
    ]
    pubs: list[tuple[int, str, datetime]] = []
    for i, at in enumerate(times):
        channels = ("facebook",) if i == 3 else ("facebook", "zalo")
        ids = h.add_post(
            loaded, f"bai-{i}", f"Bài viết số {i} – chuyển đổi số", at, channels=channels
        )
        pubs += [(pid, ch, at) for ch, pid in ids.items()]
    snaps: list[tuple[int, datetime, dict[str, int | None]]] = []
    for pid, channel, at in pubs:
        taken = at + timedelta(hours=1)
        while taken < h.local(2024, 11, 20):
            values: dict[str, int | None] = {
                "reactions": rng.randint(0, 3000),
                "comments": rng.randint(0, 200),
                "shares": rng.randint(0, 90),
                "views": rng.randint(0, 90000),
                "reach": rng.choice([None, rng.randint(0, 50000)]),
            }
            if channel == "zalo":
                values.update(reactions=None, comments=None, reach=None)
            snaps.append((pid, taken, values))
            taken += timedelta(hours=rng.choice([5, 23, 30]))
    with loaded.session() as s:
        s.add_all(
            EngagementSnapshot(publication_id=pid, taken_at=taken, **values)
            for pid, taken, values in snaps
        )
    return {"pubs": pubs, "snaps": snaps}


def _expected(data: dict[str, Any], start: datetime, end: datetime) -> dict[str, Any]:
    """Sums computed independently of the service: the last snapshot before the end."""
    in_period = {pid: ch for pid, ch, at in data["pubs"] if start <= at < end}
    last: dict[int, tuple[datetime, dict[str, int | None]]] = {}
    for pid, taken, values in data["snaps"]:
        if pid in in_period and taken < end and (pid not in last or taken > last[pid][0]):
            last[pid] = (taken, values)
    sums: dict[str, dict[str, int]] = {"facebook": {}, "zalo": {}}
    for pid, (_, values) in last.items():
        for metric, value in values.items():
            if value is not None:
                bucket = sums[in_period[pid]]
                bucket[metric] = bucket.get(metric, 0) + value
    posts = {ch: sum(1 for c in in_period.values() if c == ch) for ch in ("facebook", "zalo")}
    return {"sums": sums, "posts": posts, "pubs": in_period}


def _rows(ws: Any) -> list[tuple[Any, ...]]:
    """The table's rows: from under the header to the blank row before the notes."""
    rows = []
    for r in ws.iter_rows(min_row=5, values_only=True):
        if all(v is None for v in r):
            break
        rows.append(tuple(r))
    return rows


def test_workbook_totals_equal_snapshot_sums(
    loaded: Database, settings: Settings, h: type, october: dict[str, Any], tmp_path: Path
) -> None:
    period = parse_month("2024-10", h.TZ)
    now = h.local(2024, 11, 20, 8, 0)
    out = make_report(loaded, settings, period, tmp_path, now=now)
    want = _expected(october, period.start, period.end)
    assert want["posts"] == {"facebook": 5, "zalo": 4}

    wb = load_workbook(out.workbook)
    assert wb.sheetnames == [
        "Tổng hợp",
        "So sánh",
        "Theo bài viết",
        "Theo đơn vị",
        "Kế hoạch",
        "Chia sẻ theo bài",
        "Biểu đồ",
    ]
    summary = {row[0]: row[1:4] for row in _rows(wb["Tổng hợp"]) if row[0]}
    assert summary["Số bài đã đăng"] == (5, 4, 9)
    for metric, label in METRIC_ROWS.items():
        fb = want["sums"]["facebook"].get(metric, 0)
        zl = want["sums"]["zalo"].get(metric) if metric in ("shares", "views") else None
        assert summary[label] == (fb, zl, fb + (zl or 0)), metric

    per_post = _rows(wb["Theo bài viết"])
    body, total = per_post[:-1], per_post[-1]
    assert len(body) == 9 and total[0] == "Tổng cộng"
    assert total[3] == want["sums"]["facebook"]["reactions"]
    assert total[6] == want["sums"]["facebook"]["views"] + want["sums"]["zalo"]["views"]
    # the month boundary in local time: 31/10 23:30 in, 01/11 00:15 and 30/09 23:50 out
    dates = sorted({r[0] for r in body})
    assert dates[0] == datetime(2024, 10, 1, 6, 0) and dates[-1] == datetime(2024, 10, 31, 23, 30)
    # formats staff expect
    ws = wb["Theo bài viết"]
    assert ws.freeze_panes == "D5"
    assert ws["D5"].number_format == "#,##0"
    assert ws["A5"].number_format == "dd/mm/yyyy hh:mm"
    assert ws["M5"].hyperlink is not None and ws["M5"].hyperlink.target.startswith("https://")
    assert ws.column_dimensions["C"].width == pytest.approx(48, abs=1)  # Excel adds padding
    assert wb["Tổng hợp"].freeze_panes == "A5"


def test_agency_sheet_and_plan_sheet(
    loaded: Database, settings: Settings, h: type, october: dict[str, Any], tmp_path: Path
) -> None:
    shares = tmp_path / "chia-se.csv"
    shares.write_text(
        "agency,link,time,post\n"
        "phuong-pho-hoa,https://www.facebook.com/phuongphohoa/posts/1,10/10/2024 09:00,bai-2\n"
        "thi-doan-duc-pho,https://www.facebook.com/2000004/posts/2,13/10/2024 09:00,bai-2\n",
        encoding="utf-8",
    )
    assert import_shares(loaded, settings, shares, now=h.local(2024, 11, 1)).ok
    out = make_report(
        loaded, settings, parse_month("2024-10", h.TZ), tmp_path, now=h.local(2024, 11, 20)
    )
    wb = load_workbook(out.workbook)
    agencies = {r[0]: r for r in _rows(wb["Theo đơn vị"])}
    # 5 October posts × 4 agencies (default "tat-ca"); pho-hoa on time once, thi-doan late once
    assert agencies["phuong-pho-hoa"][3:8] == (5, 1, 0, 4, 0)
    assert agencies["phuong-pho-hoa"][8] == pytest.approx(0.2)
    assert agencies["thi-doan-duc-pho"][3:8] == (5, 0, 1, 4, 0)
    assert agencies["Tổng cộng"][3:8] == (20, 1, 1, 18, 0)
    assert wb["Theo đơn vị"]["I5"].number_format == "0.0%"
    plan = {r[0]: r for r in _rows(wb["Kế hoạch"])}
    fb = plan["Số bài đăng trên Fanpage Facebook"]
    assert fb[1:5] == (8, 5, pytest.approx(5 / 8), "Chưa đạt")
    rate = plan["Tỷ lệ đơn vị chia sẻ bài (%)"]
    assert rate[1] == pytest.approx(0.8) and rate[2] == pytest.approx(0.1)
    matrix = _rows(wb["Chia sẻ theo bài"])
    header = [c.value for c in wb["Chia sẻ theo bài"][4]]
    col = header.index("UBND phường Phổ Hòa")
    assert [r[col] for r in matrix].count("đúng hạn") == 1


def test_csv_files_have_bom_and_vietnamese(
    loaded: Database, settings: Settings, h: type, october: dict[str, Any], tmp_path: Path
) -> None:
    out = make_report(
        loaded, settings, parse_month("2024-10", h.TZ), tmp_path, now=h.local(2024, 11, 20)
    )
    names = sorted(p.name for p in out.csv_files)
    assert names == [
        "chia-se-theo-bai.csv",
        "ke-hoach.csv",
        "so-sanh.csv",
        "theo-bai-viet.csv",
        "theo-don-vi.csv",
        "tong-hop.csv",
    ]
    for path in out.csv_files:
        assert path.read_bytes().startswith(b"\xef\xbb\xbf"), path
    rows = list(csv.reader(io.StringIO(out.folder.joinpath("tong-hop.csv").read_text("utf-8-sig"))))
    assert rows[0] == ["Chỉ tiêu", "Facebook", "Zalo OA", "Tổng cộng"]
    assert rows[1] == ["Số bài đã đăng", "5", "4", "9"]
    posts = list(
        csv.DictReader(io.StringIO(out.folder.joinpath("theo-bai-viet.csv").read_text("utf-8-sig")))
    )
    assert posts[0]["Tiêu đề"] == "Bài viết số 1 – chuyển đổi số"
    assert posts[0]["Ngày đăng"] == "01/10/2024 06:00"


def test_chart_is_a_real_png_without_missing_glyphs(
    loaded: Database, settings: Settings, h: type, october: dict[str, Any], tmp_path: Path
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any "Glyph … missing from font" would fail here
        out = make_report(
            loaded, settings, parse_month("2024-10", h.TZ), tmp_path, now=h.local(2024, 11, 20)
        )
    assert out.chart.name == "bieu-do-2024-10.png"
    with Image.open(out.chart) as img:
        assert img.format == "PNG"
        assert img.size[0] > 800 and img.size[1] > 500
        colors = img.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colors is not None and len(colors) > 50  # drawn, not blank


def test_empty_month_is_a_valid_empty_report(
    db: Database, settings: Settings, h: type, tmp_path: Path
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = make_report(
            db, settings, parse_month("2024-02", h.TZ), tmp_path, now=h.local(2024, 3, 1, 7)
        )
    assert out.folder == tmp_path / "bao-cao-2024-02"
    wb = load_workbook(out.workbook)
    summary = {row[0]: row[1:4] for row in _rows(wb["Tổng hợp"]) if row[0]}
    assert summary["Số bài đã đăng"] == (0, 0, 0)
    assert summary["Lượt xem"] == (0, 0, 0)
    assert _rows(wb["Theo bài viết"]) == []
    plan = {r[0]: r for r in _rows(wb["Kế hoạch"])}
    assert plan["Tỷ lệ đơn vị chia sẻ bài (%)"][4] == "Chưa có bài đến hạn chia sẻ"
    with Image.open(out.chart) as chart:
        assert chart.format == "PNG"
    assert out.data.notes[0].startswith("Dùng danh sách đơn vị đã lưu vì tệp có lỗi")


def test_year_to_date_for_the_20_11_report(
    loaded: Database, settings: Settings, h: type, october: dict[str, Any], tmp_path: Path
) -> None:
    now = h.local(2024, 11, 20, 9, 0)  # after the last snapshot
    period = Period(2024, None, h.TZ)
    data = build_report(loaded, settings, period, now=now)
    want = _expected(october, period.start, period.end)
    # January to November 20th: the plan targets scale with it, November pro rata
    assert data.months == pytest.approx(10 + 20 / 30)
    assert data.totals["facebook"].posts == want["posts"]["facebook"] == 7
    assert data.totals["zalo"].posts == want["posts"]["zalo"] == 6
    for channel in ("facebook", "zalo"):
        for metric, value in want["sums"][channel].items():
            assert data.totals[channel].values[metric] == value, (channel, metric)


def test_write_monthly_report_writes_last_month(
    loaded: Database, settings: Settings, h: type, october: dict[str, Any]
) -> None:
    folder = write_monthly_report(loaded, settings, now=h.local(2024, 11, 1, 7, 0))
    assert folder == settings.report_dir / "bao-cao-2024-10"
    assert (folder / "bao-cao-2024-10.xlsx").is_file()


def _cli(
    argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out, err = io.StringIO(), io.StringIO()
    code = main(["--env-file", "/nonexistent/.env", *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_report_exit_codes_and_summary(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    loaded: Database,
    october: dict[str, Any],
    tmp_path: Path,
) -> None:
    code, out, err = _cli(["report", "--month", "2024-13"], env, monkeypatch)
    assert code == 2 and out == ""
    assert err == (
        "Lỗi: tháng “2024-13” không hợp lệ: ghi dạng YYYY-MM, ví dụ --month 2024-10 "
        "cho tháng 10/2024.\n"
    )
    code, _, err = _cli(["report"], env, monkeypatch)
    assert code == 2 and "--month YYYY-MM" in err
    code, _, err = _cli(["report", "--month", "2024-10", "--year", "2024"], env, monkeypatch)
    assert code == 2
    code, _, err = _cli(["report", "--year", "24"], env, monkeypatch)
    assert code == 2 and "năm “24” không hợp lệ" in err

    code, out, err = _cli(
        [
            "report",
            "--month",
            "2024-10",
            "--out",
            str(tmp_path / "out"),
            "--now",
            "2024-11-20T01:00:00+00:00",
        ],
        env,
        monkeypatch,
    )
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == (
        f"Đã xuất báo cáo tháng 10/2024 (01/10/2024 – 31/10/2024) vào thư mục "
        f"{tmp_path / 'out' / 'bao-cao-2024-10'}"
    )
    assert lines[1] == "  Bài đã đăng: Facebook 5, Zalo 4 (kế hoạch 8 và 4)"
    want = _expected(october, h_local(2024, 10, 1), h_local(2024, 11, 1))["sums"]
    assert lines[2] == (
        f"  Facebook: {vn_number(want['facebook']['reactions'])} cảm xúc, "
        f"{vn_number(want['facebook']['comments'])} bình luận, "
        f"{vn_number(want['facebook']['shares'])} chia sẻ, "
        f"{vn_number(want['facebook']['views'])} lượt xem"
    )
    assert "." in lines[2]  # thousands are grouped the Vietnamese way


def h_local(*args: int) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(*args, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))  # type: ignore[misc]


def test_yearly_workbook_has_share_rates_by_month(
    loaded: Database, settings: Settings, h: type, october: dict[str, Any], tmp_path: Path
) -> None:
    shares = tmp_path / "chia-se.csv"
    shares.write_text(
        "agency,link,time,post\n"
        "phuong-pho-hoa,https://www.facebook.com/phuongphohoa/posts/1,10/10/2024 09:00,bai-2\n"
        "phuong-pho-hoa,https://www.facebook.com/phuongphohoa/posts/2,30/09/2024 23:55,bai-0\n",
        encoding="utf-8",
    )
    assert import_shares(loaded, settings, shares, now=h.local(2024, 11, 1)).ok
    out = make_report(
        loaded, settings, Period(2024, None, h.TZ), tmp_path, now=h.local(2024, 11, 20)
    )
    assert out.folder.name == "bao-cao-nam-2024"
    wb = load_workbook(out.workbook)
    assert wb.sheetnames[-2:] == ["Chia sẻ theo tháng", "Biểu đồ"]
    ws = wb["Chia sẻ theo tháng"]
    header = [c.value for c in ws[4]]
    assert header[:3] == ["Mã đơn vị", "Tên đơn vị", "Tháng 01 (%)"]
    assert header[-2:] == ["Tháng 11 (%)", "Cả kỳ (%)"]
    rows = {r[0]: r for r in _rows(ws)}
    sept, octo = header.index("Tháng 09 (%)"), header.index("Tháng 10 (%)")
    assert rows["phuong-pho-hoa"][sept] == 1.0  # the one September post, shared on time
    assert rows["phuong-pho-hoa"][octo] == pytest.approx(1 / 5)
    assert rows["phuong-pho-hoa"][header.index("Tháng 03 (%)")] is None  # no post that month
    assert rows["xa-pho-an"][octo] == 0
    assert ws.cell(5, octo + 1).number_format == "0.0%"
    assert (out.folder / "chia-se-theo-thang.csv").read_bytes().startswith(b"\xef\xbb\xbf")


@pytest.mark.postgres
def test_report_on_postgresql(pg_db: Database, settings: Settings, h: type, tmp_path: Path) -> None:
    ids = h.add_post(pg_db, "bai-pg", "Bài trên PostgreSQL", h.local(2024, 10, 31, 23, 30))
    h.add_snapshot(pg_db, ids["facebook"], h.local(2024, 10, 31, 23, 45), reactions=5, views=9)
    h.add_snapshot(pg_db, ids["facebook"], h.local(2024, 11, 1, 0, 30), reactions=50, views=90)
    h.add_snapshot(pg_db, ids["zalo"], h.local(2024, 11, 1, 0, 30), views=7, shares=1)
    out = make_report(
        pg_db,
        settings,
        parse_month("2024-10", h.TZ),
        tmp_path,
        now=h.local(2024, 11, 20),
        sync_agencies=False,
    )
    fb, zl = out.data.totals["facebook"], out.data.totals["zalo"]
    assert (fb.posts, fb.values["reactions"], fb.values["views"]) == (1, 5, 9)
    assert (zl.posts, zl.values["views"]) == (1, None)  # its only snapshot is November's
    assert out.data.pubs[0].taken_at == h.local(2024, 10, 31, 23, 45)


def test_ensure_monthly_report_writes_once_from_day_1_0700(
    loaded: Database, settings: Settings, h: type, october: dict[str, Any]
) -> None:
    from social_publisher.services.report import ensure_monthly_report

    assert ensure_monthly_report(loaded, settings, now=h.local(2024, 11, 1, 6, 59)) is None
    # the PC was off at 07:00: the first hourly call after that writes it
    folder = ensure_monthly_report(loaded, settings, now=h.local(2024, 11, 1, 9, 5))
    assert folder == settings.report_dir / "bao-cao-2024-10"
    assert ensure_monthly_report(loaded, settings, now=h.local(2024, 11, 1, 10, 5)) is None
