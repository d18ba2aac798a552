"""The province report (``report --all-units``) against a fixture computed by hand.

Three units in one database, October 2024, every share window closed by 20 November:

- UBND phường Phổ Minh (plan 2 Facebook, 1 Zalo, 50 %): two October posts (one on both
  channels), last October snapshots 20/3/2/200 + Zalo 1 share/50 views + 5/0/0/40; agencies
  a1, a2: post 1 on time by a1 and late by a2, post 2 on time by a1 → 3 of 4, 2 on time. A
  September post, and a November snapshot, that must not count.
- UBND xã Phổ Phong (plan 3, 2, 80 %): one post on both channels, 40/6/4/700 + 2/300; its one
  agency shared on time → 1 of 1. Its post has the same folder name as Phổ Minh's first one.
- UBND phường Đức Phổ (plan 4, 0, 50 %): two Facebook posts (the second at 23:30 on 31/10, no
  snapshot), 7/1/0/90; agencies c1, c2: c1 shared the first on time → 1 of 4.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from social_publisher.cli import main
from social_publisher.config import Settings, load_settings
from social_publisher.services.agencies import load_agencies
from social_publisher.services.report import ReportHeading, parse_month
from social_publisher.services.report_units import (
    make_province_report,
    safe_sheet_names,
    vietnamese_key,
)
from social_publisher.store import Database, Share
from social_publisher.units import Unit, load_units

UNITS_TOML = """
[[don_vi]]
id = "phuong-pho-minh"
name = "UBND phường Phổ Minh"
AGENCIES_FILE = "{dir}/agencies-pho-minh.csv"
REPORT_PARENT_BODY = "UBND tỉnh Quảng Ngãi"
PLAN_POSTS_PER_MONTH_FACEBOOK = 2
PLAN_POSTS_PER_MONTH_ZALO = 1
PLAN_SHARE_RATE_PERCENT = 50

[[don_vi]]
id = "xa-pho-phong"
name = "UBND xã Phổ Phong"
AGENCIES_FILE = "{dir}/agencies-pho-phong.csv"
PLAN_POSTS_PER_MONTH_FACEBOOK = 3
PLAN_POSTS_PER_MONTH_ZALO = 2
PLAN_SHARE_RATE_PERCENT = 80

[[don_vi]]
id = "phuong-duc-pho"
name = "UBND phường Đức Phổ"
AGENCIES_FILE = "{dir}/agencies-duc-pho.csv"
PLAN_POSTS_PER_MONTH_FACEBOOK = 4
PLAN_POSTS_PER_MONTH_ZALO = 0
PLAN_SHARE_RATE_PERCENT = 50
"""
HEADER = "id,name,group,fb_page_id,fb_page_url,zalo_oa_id,token_setting\n"
AGENCIES = {
    "agencies-pho-minh.csv": HEADER
    + "pm-to-dan-pho-1,Tổ dân phố 1 Phổ Minh,xa-phuong,3000001,,,\n"
    + "pm-doan-thanh-nien,Đoàn Thanh niên phường Phổ Minh,doan-the,3000002,,,\n",
    "agencies-pho-phong.csv": HEADER + "pp-hoi-nong-dan,Hội Nông dân xã Phổ Phong,doan-the,,,,\n",
    "agencies-duc-pho.csv": HEADER
    + "dp-thon-1,Thôn 1 Đức Phổ,xa-phuong,,,,\n"
    + "dp-hoi-phu-nu,Hội Phụ nữ phường Đức Phổ,doan-the,,,,\n",
}
TITLES = {
    "phuong-pho-minh": ["Phổ Minh: hướng dẫn VNeID", "Phổ Minh: thanh toán không tiền mặt"],
    "xa-pho-phong": ["Phổ Phong: nông sản lên sàn"],
    "phuong-duc-pho": ["Đức Phổ: dịch vụ công trực tuyến", "Đức Phổ: hội nghị Đề án 06"],
}
NOW = "2024-11-20T01:00:00+00:00"  # 08:00 on 20/11 in Việt Nam

SUMMARY_HEADER = (
    "STT",
    "Đơn vị",
    "Mã đơn vị",
    "Bài đăng Facebook",
    "Bài đăng Zalo OA",
    "Lượt cảm xúc",
    "Lượt bình luận",
    "Lượt chia sẻ trên mạng xã hội",
    "Lượt xem",
    "Lượt đơn vị được giao chia sẻ",
    "Lượt đã đến hạn",
    "Lượt đã chia sẻ",
    "Chia sẻ đúng hạn",
    "Tỷ lệ chia sẻ (%)",
    "Tỷ lệ chia sẻ đúng hạn (%)",
    "Kế hoạch bài Facebook",
    "Hoàn thành bài Facebook (%)",
    "Kế hoạch bài Zalo OA",
    "Hoàn thành bài Zalo OA (%)",
    "Kế hoạch tỷ lệ chia sẻ (%)",
    "Hoàn thành tỷ lệ chia sẻ (%)",
    "Mức hoàn thành kế hoạch (%)",
    "Đánh giá",
)
# Computed by hand from the fixture (module docstring). Lowest plan achievement first:
# Phổ Phong 1/3 (its Facebook posts), Đức Phổ 1/2, Phổ Minh 1 (every target met).
# columns: STT, unit, id | posts Facebook, Zalo | reactions, comments, shares, views |
# shares expected, due, shared, on time, rate, on-time rate | plan Facebook, achieved,
# plan Zalo, achieved, plan share rate, achieved | lowest achievement, verdict
SUMMARY_ROWS = [
    (
        1, "UBND xã Phổ Phong", "xa-pho-phong", 1, 1, 40, 6, 6, 1000,
        1, 1, 1, 1, 1.0, 1.0,
        3, 1 / 3, 2, 0.5, 0.8, 1.25, 1 / 3, "Chưa đạt",
    ),
    (
        2, "UBND phường Đức Phổ", "phuong-duc-pho", 2, 0, 7, 1, 0, 90,
        4, 4, 1, 1, 0.25, 0.25,
        4, 0.5, 0, None, 0.5, 0.5, 0.5, "Chưa đạt",
    ),
    (
        3, "UBND phường Phổ Minh", "phuong-pho-minh", 2, 1, 25, 3, 3, 290,
        4, 4, 3, 2, 0.75, 0.5,
        2, 1.0, 1, 1.0, 0.5, 1.5, 1.0, "Đạt",
    ),
]  # fmt: skip
# sums; rates of the sums (5 of 9 due shares, 4 on time; 5 of 9 and 2 of 3 planned posts);
# no province-wide target rate (each unit has its own); 1 unit of 3 met its plan
TOTAL_ROW = (
    None, "Tổng cộng", "3 đơn vị", 5, 2, 72, 10, 9, 1380,
    9, 9, 5, 4, 5 / 9, 4 / 9,
    9, 5 / 9, 3, 2 / 3, None, None, None, "1/3 đơn vị đạt",
)  # fmt: skip


def _units(settings_env: dict[str, str], tmp_path: Path) -> list[Unit]:
    (tmp_path / "units.toml").write_text(UNITS_TOML.format(dir=tmp_path), encoding="utf-8")
    for name, text in AGENCIES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    env = {**settings_env, "UNITS_FILE": str(tmp_path / "units.toml")}
    return load_units(load_settings(env, dotenv_path=None))


def _share(db: Database, pub: int, agency: str, at: datetime) -> None:
    with db.session() as s:
        s.add(
            Share(
                publication_id=pub,
                agency_id=agency,
                url=f"https://www.facebook.com/{agency}/posts/{pub}",
                shared_at=at,
                source="manual",
                verified=True,
                recorded_at=at,
            )
        )


def seed(database: Database, units: list[Unit], h: Any) -> None:
    """The three units' agencies, posts, snapshots and shares, each through its own handle."""
    L, snap = h.local, h.add_snapshot
    for unit in units:  # the first load of a file: known since always
        load_agencies(database.for_unit(unit.id), unit.settings, now=L(2024, 9, 1))
    pm = database.for_unit("phuong-pho-minh")
    a0 = h.add_post(
        pm, "2024-09-30-bai-cu", "Phổ Minh: bài tháng 9", L(2024, 9, 30, 20), channels=("facebook",)
    )
    snap(pm, a0["facebook"], L(2024, 10, 1, 8), reactions=500, comments=50, shares=9, views=9000)
    _share(pm, a0["facebook"], "pm-to-dan-pho-1", L(2024, 9, 30, 21))
    a1 = h.add_post(
        pm,
        "2024-10-bai-chung",
        TITLES["phuong-pho-minh"][0],
        L(2024, 10, 5, 8, 0),
        remote_ids={"facebook": "3000000_11", "zalo": "artpm1"},
    )
    snap(pm, a1["facebook"], L(2024, 10, 5, 9), reactions=10, comments=2, shares=1, views=100)
    snap(pm, a1["facebook"], L(2024, 10, 6, 8), reactions=20, comments=3, shares=2, views=200)
    snap(pm, a1["facebook"], L(2024, 11, 2, 8), reactions=99, comments=9, shares=9, views=999)
    snap(pm, a1["zalo"], L(2024, 10, 6, 8), shares=1, views=50)
    _share(pm, a1["facebook"], "pm-to-dan-pho-1", L(2024, 10, 5, 10))  # on time
    _share(pm, a1["facebook"], "pm-doan-thanh-nien", L(2024, 10, 7, 8))  # 48 h: late
    a2 = h.add_post(
        pm,
        "2024-10-20-bai",
        TITLES["phuong-pho-minh"][1],
        L(2024, 10, 20, 8, 0),
        channels=("facebook",),
    )
    snap(pm, a2["facebook"], L(2024, 10, 21, 8), reactions=5, comments=0, shares=0, views=40)
    _share(pm, a2["facebook"], "pm-to-dan-pho-1", L(2024, 10, 20, 12))  # on time

    pp = database.for_unit("xa-pho-phong")
    b1 = h.add_post(
        pp,
        "2024-10-bai-chung",  # the same folder name as Phổ Minh's: each unit has its own
        TITLES["xa-pho-phong"][0],
        L(2024, 10, 10, 7, 30),
        remote_ids={"facebook": "4000000_21", "zalo": "artpp1"},
    )
    snap(pp, b1["facebook"], L(2024, 10, 11, 8), reactions=40, comments=6, shares=4, views=700)
    snap(pp, b1["zalo"], L(2024, 10, 11, 8), shares=2, views=300)
    _share(pp, b1["facebook"], "pp-hoi-nong-dan", L(2024, 10, 10, 9))

    dp = database.for_unit("phuong-duc-pho")
    c1 = h.add_post(
        dp, "2024-10-02-bai", TITLES["phuong-duc-pho"][0], L(2024, 10, 2, 9), channels=("facebook",)
    )
    snap(dp, c1["facebook"], L(2024, 10, 3, 8), reactions=7, comments=1, shares=0, views=90)
    _share(dp, c1["facebook"], "dp-thon-1", L(2024, 10, 2, 10))
    h.add_post(
        dp,
        "2024-10-31-bai",
        TITLES["phuong-duc-pho"][1],
        L(2024, 10, 31, 23, 30),
        channels=("facebook",),
    )


def _values(ws: Any, row: int) -> tuple[Any, ...]:
    return tuple(c.value for c in ws[row])


def _approx(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(pytest.approx(v) if isinstance(v, float) else v for v in row)


def _sheet_text(ws: Any) -> str:
    return "\n".join(str(v) for r in ws.iter_rows(values_only=True) for v in r if v is not None)


def _check_summary(path: Path) -> Any:
    wb = load_workbook(path)
    ws = wb["Tổng hợp"]
    assert ws["A1"].value == (
        "Tổng hợp kết quả truyền thông chuyển đổi số của các đơn vị tháng 10/2024"
    )
    assert _values(ws, 4) == SUMMARY_HEADER
    for i, want in enumerate(SUMMARY_ROWS):
        assert _values(ws, 5 + i) == _approx(want), want[1]
    assert _values(ws, 8) == _approx(TOTAL_ROW)
    assert ws["A9"].value is None  # nothing after the total but the note
    assert ws["A10"].value.startswith("Sắp xếp: đơn vị có mức hoàn thành kế hoạch thấp nhất")
    return wb


@pytest.fixture
def units(env: dict[str, str], tmp_path: Path) -> list[Unit]:
    return _units(env, tmp_path)


def test_summary_equals_the_hand_computed_figures(
    db: Database, units: list[Unit], settings: Settings, h: Any, tmp_path: Path
) -> None:
    seed(db, units, h)
    report = make_province_report(
        db,
        units,
        parse_month("2024-10", h.TZ),
        tmp_path / "out",
        now=h.local(2024, 11, 20, 8, 0),
        heading=ReportHeading.from_settings(settings),
    )
    assert report.workbook == tmp_path / "out" / "bao-cao-cac-don-vi-2024-10.xlsx"
    wb = _check_summary(report.workbook)
    # the summary first, then one sheet per unit in Vietnamese alphabetical order (Đ after D,
    # before P: code point order would put it after Z)
    assert wb.sheetnames == [
        "Tổng hợp",
        "UBND phường Đức Phổ",
        "UBND phường Phổ Minh",
        "UBND xã Phổ Phong",
    ]
    ws = wb["Tổng hợp"]
    assert ws["A2"].value == "Phòng Văn hóa và Thông tin – UBND thị xã Đức Phổ"
    assert (
        ws["A3"].value
        == "Kỳ báo cáo: 01/10/2024 – 31/10/2024 · 3 đơn vị · Lập lúc 20/11/2024 08:00"
    )
    # formatted for the Sở: frozen header and names, widths, number formats, bold total,
    # each unit's name a link to its sheet
    assert ws.freeze_panes == "C5"
    assert ws.column_dimensions["B"].width == pytest.approx(32, abs=1)
    assert ws["D5"].number_format == "#,##0"
    assert ws["N5"].number_format == "0.0%"
    assert ws["V5"].number_format == "0.0%"
    assert ws["B8"].font.b and ws["D8"].font.b
    assert ws["B5"].hyperlink.location == "'UBND xã Phổ Phong'!A1"
    assert ws.auto_filter.ref == "A4:W7"  # the units, never the total row
    assert ws.page_setup.orientation == "landscape"


def test_each_unit_sheet_holds_its_own_report_and_nothing_of_another(
    db: Database, units: list[Unit], settings: Settings, h: Any, tmp_path: Path
) -> None:
    seed(db, units, h)
    report = make_province_report(
        db,
        units,
        parse_month("2024-10", h.TZ),
        tmp_path,
        now=h.local(2024, 11, 20, 8, 0),
        heading=ReportHeading.from_settings(settings),
    )
    wb = load_workbook(report.workbook)
    sheets = {
        "phuong-pho-minh": wb["UBND phường Phổ Minh"],
        "xa-pho-phong": wb["UBND xã Phổ Phong"],
        "phuong-duc-pho": wb["UBND phường Đức Phổ"],
    }
    agencies = {
        "phuong-pho-minh": ["pm-to-dan-pho-1", "pm-doan-thanh-nien"],
        "xa-pho-phong": ["pp-hoi-nong-dan"],
        "phuong-duc-pho": ["dp-thon-1", "dp-hoi-phu-nu"],
    }
    for unit_id, ws in sheets.items():
        text = _sheet_text(ws)
        for other, titles in TITLES.items():
            for title in titles:
                assert (title in text) == (other == unit_id), (unit_id, title)
            for agency in agencies[other]:
                assert (agency in text) == (other == unit_id), (unit_id, agency)
        assert "Phổ Minh: bài tháng 9" not in text  # September is not October
    pm = sheets["phuong-pho-minh"]
    assert pm["A1"].value == "UBND phường Phổ Minh: kết quả tháng 10/2024"
    assert pm["A2"].value == "UBND phường Phổ Minh – UBND tỉnh Quảng Ngãi"  # its own heading
    assert pm["A4"].hyperlink.location == "'Tổng hợp'!A1"
    assert pm.freeze_panes == "A5"
    # the unit's own workbook's tables, one under another
    titles = [r[0] for r in pm.iter_rows(values_only=True) if r[0] and r[1] is None]
    for table in (
        "Kết quả truyền thông chuyển đổi số tháng 10/2024",
        "So sánh tháng 10/2024 với tháng trước và cùng kỳ năm trước",
        "Số liệu từng bài viết tháng 10/2024",
        "Kết quả so với kế hoạch tháng 10/2024 (kế hoạch của 1 tháng)",
        "Đơn vị chia sẻ từng bài tháng 10/2024",
    ):
        assert table in titles
    rows = {r[0]: r for r in pm.iter_rows(values_only=True) if r[0]}
    assert rows["Số bài đã đăng"][1:4] == (2, 1, 3)
    assert rows["Lượt xem"][1:4] == (240, 50, 290)
    assert rows["pm-to-dan-pho-1"][3:8] == (2, 2, 0, 0, 0)
    assert rows["pm-doan-thanh-nien"][3:8] == (2, 0, 1, 1, 0)
    dp = _sheet_text(sheets["phuong-duc-pho"])
    assert "1 bài chưa có số liệu tương tác (chưa thu thập được trước khi hết kỳ)." in dp


def test_sheet_names_are_excel_safe_and_unique() -> None:
    names = safe_sheet_names(
        [
            "UBND phường Nguyễn Nghiêm thị xã Đức Phổ",
            "UBND phường Nguyễn Nghiêm thị xã Đức Phổ cũ",
            "Ban [Tuyên giáo]: tin/bài *mới*?",
            "tổng hợp",
            "'Xã An'",
            "history",
        ]
    )
    assert names == [
        "UBND phường Nguyễn Nghiêm thị x",
        "UBND phường Nguyễn Nghiêm t (2)",
        "Ban -Tuyên giáo-- tin-bài -mới-",
        "tổng hợp (2)",
        "Xã An",
        "history (2)",
    ]
    assert all(len(n) <= 31 for n in names)


def test_vietnamese_alphabetical_order() -> None:
    words = ["Phổ An", "Đức Phổ", "Dung", "Bình", "Ân", "Ba", "An", "Ăn"]
    assert sorted(words, key=vietnamese_key) == [
        "An",
        "Ăn",
        "Ân",
        "Ba",
        "Bình",
        "Dung",
        "Đức Phổ",
        "Phổ An",
    ]
    tones = ["mạ", "má", "ma", "mã", "mà", "mả"]
    assert sorted(tones, key=vietnamese_key) == ["ma", "mà", "mả", "mã", "má", "mạ"]


@pytest.mark.postgres
def test_province_report_on_postgresql(
    pg_db: Database, units: list[Unit], settings: Settings, h: Any, tmp_path: Path
) -> None:
    seed(pg_db, units, h)
    report = make_province_report(
        pg_db,
        units,
        parse_month("2024-10", h.TZ),
        tmp_path,
        now=h.local(2024, 11, 20, 8, 0),
        heading=ReportHeading.from_settings(settings),
    )
    wb = _check_summary(report.workbook)
    assert len(wb.sheetnames) == 4


def _cli(argv: list[str], env: dict[str, str], mp: pytest.MonkeyPatch) -> tuple[int, str, str]:
    for key, value in env.items():
        mp.setenv(key, value)
    out, err = io.StringIO(), io.StringIO()
    code = main(["--env-file", "/nonexistent/.env", *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli_env(env: dict[str, str], units: list[Unit], tmp_path: Path) -> dict[str, str]:
    return {**env, "UNITS_FILE": str(tmp_path / "units.toml")}


def test_cli_report_all_units(
    db: Database,
    units: list[Unit],
    cli_env: dict[str, str],
    h: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(db, units, h)
    code, out, err = _cli(
        ["report", "--all-units", "--month", "2024-10", "--now", NOW], cli_env, monkeypatch
    )
    assert (code, err) == (0, "")
    workbook = tmp_path / "reports" / "bao-cao-cac-don-vi-2024-10.xlsx"
    assert out == (
        "Đã xuất báo cáo tổng hợp 3 đơn vị tháng 10/2024 (01/10/2024 – 31/10/2024) vào tệp "
        f"{workbook}\n"
        "  Bài đã đăng: Facebook 5, Zalo 2; đạt kế hoạch: 1/3 đơn vị\n"
        "  - UBND xã Phổ Phong (xa-pho-phong): chưa đạt; Facebook 1/3 bài, Zalo 1/2 bài, "
        "chia sẻ 100,0% (kế hoạch 80%)\n"
        "  - UBND phường Đức Phổ (phuong-duc-pho): chưa đạt; Facebook 2/4 bài, Zalo 0 bài "
        "(không đặt chỉ tiêu), chia sẻ 25,0% (kế hoạch 50%)\n"
        "  - UBND phường Phổ Minh (phuong-pho-minh): đạt; Facebook 2/2 bài, Zalo 1/1 bài, "
        "chia sẻ 75,0% (kế hoạch 50%)\n"
        "  Lưu ý (phuong-duc-pho): 1 bài chưa có số liệu tương tác (chưa thu thập được trước "
        "khi hết kỳ).\n"
    )
    _check_summary(workbook)
    # no partial file left; the writers' lock stays, as the per-unit reports' does
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        f".dang-ghi-{workbook.name}.lock",
        workbook.name,
    ]

    code, out, err = _cli(
        ["report", "--all-units", "--unit", "xa-pho-phong", "--month", "2024-10"],
        cli_env,
        monkeypatch,
    )
    assert (code, out) == (2, "")
    assert err == (
        "Lỗi: --all-units lập báo cáo cho mọi đơn vị, không dùng cùng --unit. Bỏ --unit, "
        "hoặc bỏ --all-units để lập báo cáo của một đơn vị.\n"
    )
    code, out, err = _cli(["report", "--all-units"], cli_env, monkeypatch)
    assert (code, out) == (2, "")
    assert err == (
        "Lỗi: cần đúng một trong hai tùy chọn --month YYYY-MM (báo cáo tháng) hoặc --year YYYY "
        "(báo cáo từ đầu năm), ví dụ: social-publisher report --month 2024-10\n"
    )


def test_cli_report_per_unit_has_its_own_figures_and_heading(
    db: Database,
    units: list[Unit],
    cli_env: dict[str, str],
    h: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(db, units, h)
    files = (
        "bao-cao-2024-10.xlsx, bao-cao-2024-10.docx, tong-hop.csv, so-sanh.csv, "
        "theo-bai-viet.csv, theo-don-vi.csv, ke-hoach.csv, chia-se-theo-bai.csv, "
        "bieu-do-2024-10.png"
    )
    want = {
        "phuong-pho-minh": [
            "  Bài đã đăng: Facebook 2, Zalo 1 (kế hoạch 2 và 1)",
            "  Facebook: 25 cảm xúc, 3 bình luận, 2 chia sẻ, 240 lượt xem",
            "  Zalo: 50 lượt xem, 1 chia sẻ",
            "  Đơn vị chia sẻ: 3/4 lượt đến hạn (75,0%; kế hoạch 50%), đúng hạn 2, muộn 1, "
            "chưa chia sẻ 1, đang chờ 0",
        ],
        "xa-pho-phong": [
            "  Bài đã đăng: Facebook 1, Zalo 1 (kế hoạch 3 và 2)",
            "  Facebook: 40 cảm xúc, 6 bình luận, 4 chia sẻ, 700 lượt xem",
            "  Zalo: 300 lượt xem, 2 chia sẻ",
            "  Đơn vị chia sẻ: 1/1 lượt đến hạn (100,0%; kế hoạch 80%), đúng hạn 1, muộn 0, "
            "chưa chia sẻ 0, đang chờ 0",
        ],
    }
    headings = {
        "phuong-pho-minh": "UBND phường Phổ Minh – UBND tỉnh Quảng Ngãi",
        "xa-pho-phong": "UBND xã Phổ Phong – UBND thị xã Đức Phổ",
    }
    for unit_id, lines in want.items():
        code, out, err = _cli(
            ["report", "--unit", unit_id, "--month", "2024-10", "--now", NOW],
            cli_env,
            monkeypatch,
        )
        assert (code, err) == (0, ""), unit_id
        folder = tmp_path / "reports" / unit_id / "bao-cao-2024-10"
        assert out.splitlines() == [
            "Đã xuất báo cáo tháng 10/2024 (01/10/2024 – 31/10/2024) vào thư mục " + str(folder),
            *lines,
            "  Tệp: " + files,
        ]
        wb = load_workbook(folder / "bao-cao-2024-10.xlsx")
        assert wb["Tổng hợp"]["A2"].value == headings[unit_id]
        posts = _sheet_text(wb["Theo bài viết"])
        for other, titles in TITLES.items():
            for title in titles:
                assert (title in posts) == (other == unit_id), (unit_id, title)


def test_cli_report_all_units_year_to_date_as_json(
    db: Database,
    units: list[Unit],
    cli_env: dict[str, str],
    h: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The year to 20/11: targets are 10 + 20/30 months of each unit's plan, half up (Phổ
    Minh 2 × 10,67 = 21 Facebook, 11 Zalo; Phổ Phong 32 and 21; Đức Phổ 43 and none), and
    Phổ Minh's September post and November snapshot count now (a1 shared on time, a2 not)."""
    seed(db, units, h)
    code, out, err = _cli(
        ["report", "--all-units", "--year", "2024", "--json", "--now", NOW], cli_env, monkeypatch
    )
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["period"] == "nam-2024"
    assert data["workbook"] == str(tmp_path / "reports" / "bao-cao-cac-don-vi-nam-2024.xlsx")
    # lowest achievement first: Phổ Phong 1/32, Đức Phổ 2/43, Phổ Minh 1/11
    assert [u["id"] for u in data["units"]] == ["xa-pho-phong", "phuong-duc-pho", "phuong-pho-minh"]
    pm = data["units"][2]
    assert pm["sheet"] == "UBND phường Phổ Minh"
    assert pm["posts"] == {"facebook": 3, "zalo": 1}
    # 500/50/9/9000 (September) + 99/9/9/999 (the 2 November snapshot is in the year) +
    # Zalo 1 share, 50 views + 5/0/0/40
    assert pm["engagement"] == {"reactions": 604, "comments": 59, "shares": 19, "views": 10089}
    assert pm["shares"] == {
        "expected": 6,
        "due": 6,
        "shared": 4,
        "on_time": 3,
        "rate": pytest.approx(4 / 6),
        "on_time_rate": 0.5,
    }
    assert pm["targets"] == {"facebook": 21, "zalo": 11, "share_rate": 0.5}
    assert pm["achievement"] == {
        "facebook": pytest.approx(3 / 21),
        "zalo": pytest.approx(1 / 11),
        "share_rate": pytest.approx(4 / 3),
    }
    assert [u["targets"] for u in data["units"][:2]] == [
        {"facebook": 32, "zalo": 21, "share_rate": 0.8},
        {"facebook": 43, "zalo": 0, "share_rate": 0.5},
    ]
    assert data["units"][1]["achievement"]["zalo"] is None
    assert [u["verdict"] for u in data["units"]] == ["Chưa đạt"] * 3
    wb = load_workbook(data["workbook"])
    titles = [r[0] for r in wb["UBND phường Phổ Minh"].iter_rows(values_only=True) if r[0]]
    assert "Kết quả từng tháng năm 2024" in titles  # the year's own tables
    assert "Tỷ lệ chia sẻ của từng đơn vị theo tháng, năm 2024" in titles
