"""The report the office files: a printable workbook and a .docx in the Nghị định 30 format.

The LibreOffice test converts both to PDF the way an office PC would print them and reads the
pages back; it is skipped (with the reason) where LibreOffice is not installed.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from docx.shared import Mm, Pt
from openpyxl import load_workbook

from social_publisher.config import Settings, load_settings
from social_publisher.services.report import (
    ReportHeading,
    make_report,
    parse_month,
    vn_date_line,
    vn_decimal,
)
from social_publisher.store import Database

WIDE_SHEETS = {"Theo bài viết", "Theo đơn vị", "Chia sẻ theo bài", "Biểu đồ"}
ONE_PAGE_SHEETS = {"Tổng hợp", "So sánh", "Kế hoạch", "Biểu đồ"}


@pytest.fixture
def office(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        default_author="Tác giả bài Zalo (không phải đơn vị báo cáo)",
        report_signer_name="Nguyễn Văn An",
        report_basis="Thực hiện Kế hoạch số 20/KH-UBND ngày 25/01/2024 của UBND thị xã Đức Phổ;",
    )


@pytest.fixture
def october_report(loaded: Database, office: Settings, h: type, tmp_path: Path) -> Any:
    h.seed_office(loaded, office, since=h.local(2024, 8, 26), until=h.local(2024, 11, 20, 8))
    return make_report(
        loaded,
        office,
        parse_month("2024-10", h.TZ),
        tmp_path / "out",
        now=h.local(2024, 11, 20, 8, 0),
        sync_agencies=False,
    )


def _all_text(path: Path) -> list[str]:
    """Every paragraph of the document, table cells included, in order."""
    doc = Document(str(path))
    texts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            for cell in row.cells:
                texts += [p.text for p in cell.paragraphs]
    return texts


def test_vietnamese_date_line_and_decimals() -> None:
    # Nghị định 30: a leading zero for days below 10 and for months 1 and 2 only
    assert vn_date_line("Đức Phổ", date(2024, 3, 5)) == "Đức Phổ, ngày 05 tháng 3 năm 2024"
    assert vn_date_line("Đức Phổ", date(2025, 1, 20)) == "Đức Phổ, ngày 20 tháng 01 năm 2025"
    assert vn_date_line("Phổ Văn", date(2024, 11, 18)) == "Phổ Văn, ngày 18 tháng 11 năm 2024"
    assert vn_decimal(10.6) == "10,6" and vn_decimal(1234.5) == "1.234,5"
    assert vn_decimal(12.0) == "12"


def test_every_sheet_is_set_up_for_a4_printing(october_report: Any) -> None:
    wb = load_workbook(october_report.workbook)
    assert set(wb.sheetnames) >= WIDE_SHEETS | ONE_PAGE_SHEETS
    for ws in wb:
        setup = ws.page_setup
        assert int(setup.paperSize) == 9, ws.title  # A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        # absent means 1 (the OOXML default), as Excel and LibreOffice read it
        fit_width = 1 if setup.fitToWidth is None else int(setup.fitToWidth)
        fit_height = 1 if setup.fitToHeight is None else int(setup.fitToHeight)
        assert fit_width == 1, ws.title
        assert fit_height == (1 if ws.title in ONE_PAGE_SHEETS else 0), ws.title
        assert setup.orientation == ("landscape" if ws.title in WIDE_SHEETS else "portrait") or (
            ws.title in ("So sánh", "Kế hoạch")  # wide enough to be turned, one page anyway
        ), ws.title
        assert "&P" in (ws.oddFooter.center.text or ""), ws.title  # page numbers
        if ws.title != "Biểu đồ":
            assert ws.print_title_rows == "$4:$4", ws.title  # the header row on every page
    assert wb["Tổng hợp"].page_setup.orientation == "portrait"
    # links and folder names are for the screen: the printed per-post sheet stops before them
    per_post = wb["Theo bài viết"]
    assert per_post.print_area.split("!")[1].startswith("$A$1:$L$")
    assert per_post["M4"].value == "Liên kết"


def test_the_heading_comes_from_report_settings_not_the_zalo_author(
    loaded: Database, settings: Settings, h: type, tmp_path: Path
) -> None:
    unit = load_settings(
        {
            "DATABASE_URL": settings.database_url,
            "DEFAULT_AUTHOR": "Ban biên tập Zalo",
            "REPORT_UNIT_NAME": "UBND phường Phổ Văn",
            "REPORT_PARENT_BODY": "UBND tỉnh Quảng Ngãi",
            "REPORT_PLACE": "Phổ Văn",
            "REPORT_NUMBER_CODE": "BC-UBND",
            "REPORT_SIGNER_AUTHORITY": "TM. Ủy ban nhân dân",
            "REPORT_SIGNER_TITLE": "Chủ tịch",
            "REPORT_SIGNER_NAME": "Trần Thị Bình",
            "REPORT_RECIPIENTS": "Sở Văn hóa, Thể thao và Du lịch; Lưu: VT",
        },
        dotenv_path=None,
    )
    h.add_post(loaded, "bai-1", "Bài một", h.local(2024, 10, 3, 8, 0))
    out = make_report(
        loaded,
        unit,
        parse_month("2024-10", h.TZ),
        tmp_path,
        now=h.local(2024, 11, 3, 8, 0),
        sync_agencies=False,
    )
    wb = load_workbook(out.workbook)
    for ws in wb:
        assert ws["A2"].value.startswith("UBND phường Phổ Văn – UBND tỉnh Quảng Ngãi"), ws.title
        assert "Ban biên tập Zalo" not in " ".join(
            str(c.value) for row in ws.iter_rows(max_row=3) for c in row if c.value
        )
    texts = _all_text(out.document)
    assert "UBND TỈNH QUẢNG NGÃI" in texts and "UBND PHƯỜNG PHỔ VĂN" in texts
    assert "Phổ Văn, ngày 03 tháng 11 năm 2024" in texts
    assert any(t.startswith("Số:") and t.endswith("/BC-UBND") for t in texts)
    signer = ["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"]
    assert [t for t in texts if t in signer] == signer  # authority above title
    assert "Trần Thị Bình" in texts
    assert "- Sở Văn hóa, Thể thao và Du lịch;" in texts and "- Lưu: VT." in texts
    assert not any("Ban biên tập Zalo" in t for t in texts)
    # a many-unit install passes each unit's own heading
    other = ReportHeading(unit_name="UBND xã Phổ An", place="Phổ An", number_code="BC-UBND")
    out2 = make_report(
        loaded,
        unit,
        parse_month("2024-10", h.TZ),
        tmp_path / "pho-an",
        now=h.local(2024, 11, 3, 8, 0),
        sync_agencies=False,
        heading=other,
    )
    assert "UBND XÃ PHỔ AN" in _all_text(out2.document)
    assert load_workbook(out2.workbook)["Tổng hợp"]["A2"].value == "UBND xã Phổ An"


def test_document_follows_decree_30(october_report: Any) -> None:
    path = october_report.document
    assert path.name == "bao-cao-2024-10.docx"
    doc = Document(str(path))
    section = doc.sections[0]
    # A4 and the decree's margins (top/bottom 20–25 mm, left 30–35 mm, right 15–20 mm)
    sizes = ("page_width", "page_height", "top_margin", "bottom_margin")
    mm = {
        name: round(getattr(section, name).mm, 1)
        for name in (*sizes, "left_margin", "right_margin")
    }
    assert (mm["page_width"], mm["page_height"]) == (210, 297)
    assert 20 <= mm["top_margin"] <= 25 and 20 <= mm["bottom_margin"] <= 25
    assert 30 <= mm["left_margin"] <= 35 and 15 <= mm["right_margin"] <= 20
    normal = doc.styles["Normal"]
    assert normal.font.name == "Times New Roman" and normal.font.size == Pt(14)
    body = doc.styles["Nội dung"]
    assert body.paragraph_format.first_line_indent == Mm(12.7)
    # page numbers in the header, not on the first page
    assert section.different_first_page_header_footer
    assert "PAGE" in section.header._element.xml
    assert "PAGE" not in section.first_page_header._element.xml

    heading = doc.tables[0]
    left, right = (cell.text.split("\n") for cell in heading.rows[0].cells)
    assert left[:2] == ["UBND THỊ XÃ ĐỨC PHỔ", "PHÒNG VĂN HÓA VÀ THÔNG TIN"]
    assert re.fullmatch(r"Số:\s+/BC-VHTT", left[-1])
    assert right[:2] == ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"]
    assert right[-1] == "Đức Phổ, ngày 20 tháng 11 năm 2024"
    quoc_hieu = heading.rows[0].cells[1].paragraphs[0].runs[0]
    assert quoc_hieu.bold and Pt(12) <= quoc_hieu.font.size <= Pt(13)
    # the rules under the unit name and the tiêu ngữ: paragraph borders
    assert heading._element.xml.count("<w:pBdr>") == 2

    texts = [p.text for p in doc.paragraphs]
    title = texts.index("BÁO CÁO")
    assert texts[title + 1] == ("Kết quả truyền thông chuyển đổi số trên mạng xã hội tháng 10/2024")
    assert "Thực hiện Kế hoạch số 20/KH-UBND" in texts[title + 4]
    assert "I. KẾT QUẢ THỰC HIỆN" in texts and "II. SO VỚI KẾ HOẠCH" in texts
    assert any(t.endswith("của Phòng Văn hóa và Thông tin./.") for t in texts)
    # figures as prose, in Vietnamese number format
    data = october_report.data
    fb = data.totals["facebook"]
    prose = " ".join(texts)
    assert f"đã đăng {fb.posts} bài trên Fanpage Facebook" in prose
    reactions = f"{fb.values['reactions']:,}".replace(",", ".")
    assert f"đạt {reactions} lượt cảm xúc" in prose
    assert "so với tháng 09/2024" in prose and "so với tháng 10/2023" in prose
    # the chart, and the tables: summary, comparison, top posts, agencies, plan
    assert len(doc.inline_shapes) == 1
    captions = [t for t in texts if t.startswith("Bảng ")]
    assert [c.split(".")[0] for c in captions] == [f"Bảng {i}" for i in range(1, 6)]
    plan = doc.tables[-2]
    assert [c.text for c in plan.rows[0].cells] == [
        "Chỉ tiêu",
        "Kế hoạch",
        "Thực hiện",
        "Tỷ lệ hoàn thành",
        "Đánh giá",
    ]
    assert plan.rows[1].cells[1].text == "8"  # 8 Facebook posts a month
    rate = plan.rows[3].cells[2].text
    assert re.fullmatch(r"\d{1,3},\d%", rate), rate  # decimal comma
    # Nơi nhận and the signature
    signature = doc.tables[-1]
    recipients = signature.rows[0].cells[0].text.split("\n")
    assert recipients[0] == "Nơi nhận:"
    assert recipients[1:] == [
        "- Sở Thông tin và Truyền thông tỉnh Quảng Ngãi;",
        "- UBND thị xã Đức Phổ;",
        "- Lưu: VT, VHTT.",
    ]
    signer = [t for t in signature.rows[0].cells[1].text.split("\n") if t]
    assert signer == ["TRƯỞNG PHÒNG", "Nguyễn Văn An"]
    for run in (p.runs[0] for p in doc.paragraphs if p.runs):
        assert run.font.name in (None, "Times New Roman")
        assert run.font.size is None or Pt(11) <= run.font.size <= Pt(14)


def _pages(pdf: Path) -> int:
    if shutil.which("pdfinfo"):
        out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
        return int(re.search(r"^Pages:\s+(\d+)", out.stdout, re.M).group(1))  # type: ignore[union-attr]
    return len(re.findall(rb"/Type\s*/Page\b", pdf.read_bytes()))


def _page_texts(pdf: Path) -> list[str] | None:
    """Each page's text (NFC), or None without pdftotext."""
    if not shutil.which("pdftotext"):
        return None
    out = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    )
    return [unicodedata.normalize("NFC", page) for page in out.stdout.split("\f")][:-1]


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) not installed")
def test_libreoffice_prints_the_report_on_few_pages(october_report: Any, tmp_path: Path) -> None:
    work = tmp_path / "print"
    work.mkdir()
    shutil.copy(october_report.document, work / "van-ban.docx")
    shutil.copy(october_report.workbook, work / "so-lieu.xlsx")
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(work),
            str(work / "van-ban.docx"),
            str(work / "so-lieu.xlsx"),
        ],
        check=True,
        capture_output=True,
        timeout=240,
    )
    document, workbook = work / "van-ban.pdf", work / "so-lieu.pdf"
    # the month report of a town office: a few pages, not the 19 of a raw workbook
    assert 2 <= _pages(document) <= 5
    sheets = len(load_workbook(october_report.workbook).sheetnames)
    assert _pages(workbook) <= sheets + 1  # one page a sheet; the per-post list may take two

    pages = _page_texts(document)
    if pages is None:
        pytest.skip("pdftotext (poppler-utils) not installed: page count checked, text not")
    first = pages[0]
    for text in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "PHÒNG VĂN HÓA VÀ THÔNG TIN",
        "/BC-VHTT",
        "Đức Phổ, ngày 20 tháng 11 năm 2024",
        "BÁO CÁO",
        "tháng 10/2024",
    ):
        assert text in first, text
    assert first.split()[0] != "1"  # no page number on the first page
    assert pages[1].split()[0] == "2"  # then centred at the top
    last = pages[-1]
    assert "Nơi nhận:" in last and "TRƯỞNG PHÒNG" in last and "Nguyễn Văn An" in last

    sheet_pages = _page_texts(workbook)
    assert sheet_pages is not None
    # the summary on one page of its own, then the comparison
    assert "Kết quả truyền thông chuyển đổi số tháng 10/2024" in sheet_pages[0]
    assert "Đơn vị chưa chia sẻ" in sheet_pages[0] and "Trang 1/" in sheet_pages[0]
    assert sheet_pages[1].lstrip().startswith("So sánh tháng 10/2024")
