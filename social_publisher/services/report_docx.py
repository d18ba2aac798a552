"""The formal report (.docx) in the state administrative format of Nghị định 30/2020/NĐ-CP.

What the decree's Phụ lục I fixes, and where it is done here:

- A4 portrait; margins top and bottom 20 mm, left 30 mm, right 15 mm (20–25, 20–25,
  30–35, 15–20 allowed); Times New Roman (Unicode, TCVN 6909:2001), black.
- Top left: the parent body (upper case, 13 pt, upright) above the issuing unit (upper
  case, 13 pt, bold) and a short rule under it; below them ``Số:     /BC-VHTT`` (13 pt),
  the number left blank for the clerk who registers the document.
- Top right: the Quốc hiệu (upper case, 12–13 pt, bold), the tiêu ngữ (13–14 pt, bold,
  hyphens between spaces) with a rule as long as it, and the place-and-date line
  (13–14 pt, italic; a leading zero for days below 10 and for months 1 and 2).
- ``BÁO CÁO`` (14 pt, bold, centred), its subject under it (14 pt, bold) and a rule.
- Body 14 pt, justified, first-line indent 1.27 cm, at least 6 pt between paragraphs,
  line spacing between single and 1.5 lines; the last paragraph ends with ``./.``.
- ``Nơi nhận:`` (12 pt, bold italic) with its list (11 pt) bottom left; the signer's
  authority and title (upper case, 14 pt, bold) and name (14 pt, bold) bottom right.
- Page numbers centred in the top margin (13–14 pt), not on the first page.

The rules are paragraph borders with computed indents rather than drawn shapes: they
stay in place when the text is edited in Word or LibreOffice, and python-docx writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..numbers import vn_decimal, vn_number, vn_percent
from .report import (
    CHANNEL_LABELS,
    Change,
    Pct,
    ReportData,
    _hours,
    plan_basis,
    plan_rows,
    trend_change,
    trend_value,
    vn_date_line,
)
from .report_chart import NO_POSTS

FONT = "Times New Roman"
QUOC_HIEU = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
TIEU_NGU = "Độc lập - Tự do - Hạnh phúc"
#: page geometry, mm
PAGE_W, PAGE_H = 210, 297
TOP, BOTTOM, LEFT, RIGHT = 20, 20, 30, 15
TEXT_W = PAGE_W - LEFT - RIGHT  # 165
HEAD_LEFT_W, HEAD_RIGHT_W = 70, 95
#: the tiêu ngữ in Times New Roman 13 pt bold is 53 mm long; its rule is that long
TIEU_NGU_MM = 54
TOP_POSTS = 5


def _text(value: Any) -> str:
    """A table cell as people read it: 1.234; 85,3%; +12,5%; — for nothing."""
    if value is None:
        return "—"
    if isinstance(value, Pct):
        return vn_percent(value.value)
    if isinstance(value, Change):
        return ("+" if value.value > 0 else "") + vn_percent(value.value)
    if isinstance(value, bool):
        return "có" if value else "không"
    if isinstance(value, int | float):
        return vn_number(value) if float(value).is_integer() else vn_decimal(value)
    return str(value)


def _change_words(current: float, earlier: float | None, unit: str, label: str) -> str:
    """``tăng 2 bài (+28,6%) so với tháng 09/2024``; ``bằng`` when equal."""
    if earlier is None:
        return f"chưa có số liệu {label} để so sánh"
    diff = current - earlier
    if diff == 0:
        return f"bằng {label}"
    verb = "tăng" if diff > 0 else "giảm"
    ratio = f" ({'+' if diff > 0 else '-'}{vn_percent(abs(diff) / earlier)})" if earlier else ""
    return f"{verb} {vn_number(abs(diff))} {unit}{ratio} so với {label}"


class _Doc:
    """python-docx with the decree's styles set once; helpers for each kind of block."""

    def __init__(self) -> None:
        from docx import Document
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Mm, Pt

        self.Mm, self.Pt, self.align = Mm, Pt, WD_ALIGN_PARAGRAPH
        self.doc = Document()
        section = self.doc.sections[0]
        section.page_width, section.page_height = Mm(PAGE_W), Mm(PAGE_H)
        section.top_margin, section.bottom_margin = Mm(TOP), Mm(BOTTOM)
        section.left_margin, section.right_margin = Mm(LEFT), Mm(RIGHT)
        section.header_distance, section.footer_distance = Mm(10), Mm(10)
        styles = self.doc.styles
        normal = styles["Normal"]
        self._font(normal, 14)
        fmt = normal.paragraph_format
        fmt.space_before, fmt.space_after = Pt(0), Pt(6)
        fmt.line_spacing = 1.15
        from docx.enum.style import WD_STYLE_TYPE

        body = styles.add_style("Nội dung", WD_STYLE_TYPE.PARAGRAPH)
        body.base_style = normal
        body.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
        body.paragraph_format.first_line_indent = Mm(12.7)
        cell = styles.add_style("Ô bảng", WD_STYLE_TYPE.PARAGRAPH)
        cell.base_style = normal
        self._font(cell, 12)
        cell.paragraph_format.space_after = Pt(0)
        cell.paragraph_format.line_spacing = 1.0
        self._font(styles["Table Grid"], 12)
        # style ids looked up once: python-docx resolves a style name by scanning every
        # style, which for a year's tables (a few thousand cells) costs most of a second
        self.style_ids: dict[str, str | None] = {
            "Normal": None,
            "Nội dung": body.style_id,
            "Ô bảng": cell.style_id,
        }
        self._page_numbers(section)

    def _font(self, style: Any, size: int) -> None:
        from docx.oxml.ns import qn

        style.font.name = FONT
        style.font.size = self.Pt(size)
        rpr = style.element.get_or_add_rPr()
        fonts = rpr.get_or_add_rFonts()
        for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
            fonts.set(qn(attr), FONT)

    def _page_numbers(self, section: Any) -> None:
        """PAGE field centred in the header, from page 2 on (the first page has none)."""
        from docx.oxml import OxmlElement
        from docx.oxml.ns import qn

        section.different_first_page_header_footer = True
        p = section.header.paragraphs[0]
        p.alignment = self.align.CENTER
        run = p.add_run()
        run.font.size = self.Pt(14)
        for kind, text in (("begin", None), (None, "PAGE"), ("separate", None), ("end", None)):
            if kind is None:
                instr = OxmlElement("w:instrText")
                instr.set(qn("xml:space"), "preserve")
                instr.text = f" {text} "
                run._r.append(instr)
            else:
                char = OxmlElement("w:fldChar")
                char.set(qn("w:fldCharType"), kind)
                run._r.append(char)
                if kind == "separate":
                    placeholder = OxmlElement("w:t")
                    placeholder.text = "2"
                    run._r.append(placeholder)

    # -------------------------------------------------------------- blocks

    def para(
        self,
        text: str = "",
        *,
        container: Any = None,
        style: str | None = "Nội dung",
        size: int | None = None,
        bold: bool = False,
        italic: bool = False,
        center: bool = False,
        after: float | None = None,
        before: float | None = None,
        keep_next: bool = False,
    ) -> Any:
        target = container if container is not None else self.doc
        p = target.add_paragraph()
        style_id = self.style_ids[style] if style else None
        if style_id:
            p._p.style = style_id
        if center:
            p.alignment = self.align.CENTER
            p.paragraph_format.first_line_indent = self.Mm(0)
        if after is not None:
            p.paragraph_format.space_after = self.Pt(after)
        if before is not None:
            p.paragraph_format.space_before = self.Pt(before)
        if keep_next:
            p.paragraph_format.keep_with_next = True
        if text:
            run = p.add_run(text)
            run.bold = bold or None
            run.italic = italic or None
            if size is not None:
                run.font.size = self.Pt(size)
        return p

    def rule(self, container: Any, width: float, length: float) -> None:
        """A centred horizontal line ``length`` mm long in a block ``width`` mm wide."""
        from docx.oxml import OxmlElement
        from docx.oxml.ns import qn

        p = self.para(container=container, style="Normal", after=0, before=3)
        side = self.Mm(max((width - length) / 2, 0))
        p.paragraph_format.left_indent = p.paragraph_format.right_indent = side
        p.paragraph_format.line_spacing = self.Pt(3)
        borders = OxmlElement("w:pBdr")
        top = OxmlElement("w:top")
        for key, value in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1")):
            top.set(qn(key), value)
        top.set(qn("w:color"), "000000")
        borders.append(top)
        p._p.get_or_add_pPr().append(borders)

    def borderless(self, widths: Sequence[float]) -> Any:
        """A layout table (the heading, the signature): no borders, no cell padding."""
        from docx.oxml import OxmlElement
        from docx.oxml.ns import qn

        table = self.doc.add_table(rows=1, cols=len(widths))
        table.autofit = False
        tbl_pr = table._tbl.tblPr
        margins = OxmlElement("w:tblCellMar")
        for side in ("left", "right"):
            m = OxmlElement(f"w:{side}")
            m.set(qn("w:w"), "0")
            m.set(qn("w:type"), "dxa")
            margins.append(m)
        tbl_pr.append(margins)
        self._widths(table, widths)
        for cell in table.rows[0].cells:
            cell.paragraphs[0].paragraph_format.space_after = self.Pt(0)
        return table

    def _widths(self, table: Any, widths: Sequence[float]) -> None:
        """Word reads each cell's width, LibreOffice the grid's: set both."""
        for column, width in zip(table.columns, widths, strict=True):
            column.width = self.Mm(width)
        for row in table.rows:
            for cell, width in zip(row.cells, widths, strict=True):
                cell.width = self.Mm(width)

    def grid(
        self,
        caption: str,
        header: Sequence[str],
        rows: Sequence[Sequence[Any]],
        widths: Sequence[float],
        *,
        bold_last: bool = False,
    ) -> None:
        """A numbered table with a caption, its header row repeated on each page."""
        from docx.enum.table import WD_TABLE_ALIGNMENT
        from docx.oxml import OxmlElement
        from docx.oxml.ns import qn

        self.para(caption, style="Normal", bold=True, italic=True, size=13, keep_next=True)
        table = self.doc.add_table(rows=1, cols=len(header))
        table.style = self.doc.styles["Table Grid"]
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        cell_style = self.style_ids["Ô bảng"]
        head = table.rows[0]
        tr_pr = head._tr.get_or_add_trPr()
        repeat = OxmlElement("w:tblHeader")
        repeat.set(qn("w:val"), "true")
        tr_pr.append(repeat)
        for cell, title in zip(head.cells, header, strict=True):
            p = cell.paragraphs[0]
            p._p.style = cell_style
            p.alignment = self.align.CENTER
            p.add_run(title).bold = True
        no_split = OxmlElement("w:cantSplit")
        tr_pr.append(no_split)
        for i, values in enumerate(rows):
            row = table.add_row()
            row._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
            cells = row.cells
            for c, (cell, value) in enumerate(zip(cells, values, strict=True)):
                p = cell.paragraphs[0]
                p._p.style = cell_style
                if c > 0 and not isinstance(value, str):
                    p.alignment = self.align.RIGHT
                run = p.add_run(_text(value))
                if bold_last and i == len(rows) - 1:
                    run.bold = True
        self._widths(table, widths)
        self.para(style="Normal", after=0)

    def save(self, path: Path) -> None:
        self.doc.save(str(path))


def _heading(d: _Doc, data: ReportData) -> None:
    h = data.heading
    table = d.borderless([HEAD_LEFT_W, HEAD_RIGHT_W])
    left, right = table.rows[0].cells
    first = left.paragraphs[0]
    first.alignment = d.align.CENTER
    if h.parent_body:
        first.add_run(h.parent_body.upper()).font.size = d.Pt(13)
        unit_p = d.para(container=left, style="Normal", center=True, after=0)
    else:
        unit_p = first
    unit = unit_p.add_run(h.unit_name.upper())
    unit.bold = True
    # 13 pt when the name fits on one line, else 12 (both allowed); bold capitals take
    # about 2,85 mm a letter at 13 pt
    size = 13 if len(h.unit_name) * 2.85 <= HEAD_LEFT_W else 12
    unit.font.size = d.Pt(size)
    width = min(len(h.unit_name) * 2.85 * size / 13, HEAD_LEFT_W)
    # the rule under it: a third to a half of the name's length
    d.rule(left, HEAD_LEFT_W, min(max(width * 0.4, 15), 40))
    number = d.para(container=left, style="Normal", center=True, after=0, before=4)
    number.add_run(
        f"Số:\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0/{h.number_code}"
    ).font.size = d.Pt(13)

    qh = right.paragraphs[0]
    qh.alignment = d.align.CENTER
    run = qh.add_run(QUOC_HIEU)
    run.bold = True
    run.font.size = d.Pt(12)
    tn = d.para(TIEU_NGU, container=right, style="Normal", bold=True, size=13, center=True)
    tn.paragraph_format.space_after = d.Pt(0)
    d.rule(right, HEAD_RIGHT_W, TIEU_NGU_MM)
    day = data.now.astimezone(data.period.tz).date()
    d.para(
        vn_date_line(h.place, day) if h.place else vn_date_line("", day).lstrip(", "),
        container=right,
        style="Normal",
        italic=True,
        size=14,
        center=True,
        before=4,
        after=0,
    )


def _subject(data: ReportData) -> str:
    period = data.period
    text = f"{data.heading.subject} {period.label}"
    if period.to_date(data.now):
        local = data.now.astimezone(period.tz)
        text += f" (từ ngày {period.start:%d/%m/%Y} đến ngày {local:%d/%m/%Y})"
    return text


def _posts_paragraph(data: ReportData) -> str:
    fb, zl = data.totals["facebook"].posts, data.totals["zalo"].posts
    text = (
        f"Trong kỳ báo cáo, đã đăng {vn_number(fb)} bài trên Fanpage Facebook và "
        f"{vn_number(zl)} bài trên Zalo OA (tổng cộng {vn_number(fb + zl)} lượt đăng)"
    )
    parts = [
        _change_words(fb + zl, f.posts("facebook") + f.posts("zalo"), "lượt đăng", f.label)
        for _, f in data.comparisons
    ]
    return text + (", " + " và ".join(parts) if parts else "") + "."


def _engagement_paragraph(data: ReportData) -> str:
    fb, zl = data.totals["facebook"], data.totals["zalo"]
    if not data.pubs:
        return "Không có bài viết nào được đăng trong kỳ nên chưa có số liệu tương tác."
    if all(p.taken_at is None for p in data.pubs):
        return "Chưa thu thập được số liệu tương tác của các bài đăng trong kỳ."
    v = fb.values
    text = (
        f"Các bài trên Fanpage Facebook đạt {vn_number(v['reactions'] or 0)} lượt cảm xúc, "
        f"{vn_number(v['comments'] or 0)} lượt bình luận, {vn_number(v['shares'] or 0)} "
        f"lượt chia sẻ, {vn_number(v['views'] or 0)} lượt xem"
    )
    if v["reach"] is not None:
        text += f" và tiếp cận {vn_number(v['reach'])} người"
    text += (
        f"; các bài trên Zalo OA đạt {vn_number(zl.values['views'] or 0)} lượt xem và "
        f"{vn_number(zl.values['shares'] or 0)} lượt chia sẻ."
    )
    current = data.current
    parts = [
        _change_words(current.interactions, f.interactions, "lượt", f.label)
        for _, f in data.comparisons
    ]
    if parts:
        text += " Tổng lượt tương tác (cảm xúc, bình luận, chia sẻ) " + " và ".join(parts) + "."
    return text


def _shares_paragraphs(data: ReportData) -> list[str]:
    m = data.matrix
    t = m.total
    hours = _hours(data.on_time_hours)
    if not t.expected:
        return ["Trong kỳ không có bài nào giao các đơn vị chia sẻ."]
    text = (
        f"Các bài trong kỳ được giao cho {vn_number(len(m.agencies))} đơn vị chia sẻ, tổng cộng "
        f"{vn_number(t.expected)} lượt. "
    )
    if t.due:
        text += (
            f"Trong {vn_number(t.due)} lượt đã hết thời hạn chia sẻ ({hours} giờ sau khi đăng), "
            f"có {vn_number(t.shared)} lượt đã chia sẻ, đạt {vn_percent(t.rate)} (kế hoạch "
            f"{vn_percent(data.plan_share_rate, 0)}), gồm {vn_number(t.on_time)} lượt đúng hạn "
            f"và {vn_number(t.late)} lượt muộn; {vn_number(t.missing)} lượt chưa chia sẻ."
        )
    else:
        text += "Chưa có bài nào hết thời hạn chia sẻ."
    paragraphs = [text]
    if t.pending:
        paragraphs.append(
            f"Có {vn_number(t.pending)} lượt đang chờ (bài còn trong thời hạn chia sẻ"
            + (
                f", trong đó {vn_number(t.pending_shared)} lượt đã chia sẻ"
                if t.pending_shared
                else ""
            )
            + "), chưa tính vào tỷ lệ."
        )
    never = [a.name for a in m.agencies if m.per_agency[a.id].due and not m.per_agency[a.id].shared]
    if never:
        paragraphs.append(
            "Các đơn vị chưa chia sẻ bài nào đã đến hạn trong kỳ: " + ", ".join(never) + "."
        )
    return paragraphs


def _chart_block(d: _Doc, data: ReportData, chart: Path | None, messages: Sequence[str]) -> None:
    unit = "tháng" if data.by_month else "tuần"
    if chart is None or NO_POSTS in messages:
        d.para(NO_POSTS)
        return
    p = d.para(style="Normal", center=True, after=2, keep_next=True)
    p.add_run().add_picture(str(chart), width=d.Mm(TEXT_W - 5))
    d.para(
        f"Biểu đồ: Số bài đăng và lượt tương tác theo {unit}, {data.period.label}",
        style="Normal",
        italic=True,
        size=12,
        center=True,
    )
    for message in messages:
        d.para(message)


def write_document(
    data: ReportData, path: Path, *, chart: Path | None, chart_messages: Sequence[str] = ()
) -> Path:
    """Write the report document; every fixed text comes from ``data.heading``."""
    d = _Doc()
    h = data.heading
    tz = data.period.tz
    _heading(d, data)
    d.para("BÁO CÁO", style="Normal", bold=True, size=14, center=True, before=18, after=0)
    d.para(_subject(data), style="Normal", bold=True, size=14, center=True, after=0)
    d.rule(d.doc, TEXT_W, 40)
    d.para(style="Normal", after=0)

    if h.basis:
        d.para(h.basis)
    first, last = data.period.range_text(data.now).split(" – ")
    d.para(
        f"{h.unit_name} báo cáo kết quả truyền thông chuyển đổi số trên Fanpage Facebook và "
        f"Zalo OA {data.period.label} (từ ngày {first} đến ngày {last}) như sau:"
    )

    d.para("I. KẾT QUẢ THỰC HIỆN", bold=True, keep_next=True)
    d.para("1. Bài đăng và tương tác", bold=True, keep_next=True)
    d.para(_posts_paragraph(data))
    d.para(_engagement_paragraph(data))

    fb, zl = data.totals["facebook"], data.totals["zalo"]
    summary_rows: list[list[Any]] = [["Số bài đã đăng", fb.posts, zl.posts, fb.posts + zl.posts]]
    for metric, label in (
        ("reactions", "Lượt cảm xúc"),
        ("comments", "Lượt bình luận"),
        ("shares", "Lượt chia sẻ"),
        ("views", "Lượt xem"),
        ("reach", "Số người tiếp cận"),
    ):
        f_val = fb.values[metric] if fb.posts else None
        z_val = zl.values[metric] if metric in ("shares", "views") and zl.posts else None
        both = [v for v in (f_val, z_val) if v is not None]
        summary_rows.append([label, f_val, z_val, sum(both) if both else None])
    number = 1
    d.grid(
        f"Bảng {number}. Kết quả đăng bài và tương tác {data.period.label}",
        ["Chỉ tiêu", "Facebook", "Zalo OA", "Tổng cộng"],
        summary_rows,
        [65, 32, 32, 32],
    )

    if data.comparisons:
        number += 1
        current = data.current
        header = ["Chỉ tiêu", f"Kỳ này ({current.label})"]
        widths = [45.0, 26.0]
        for heading, figures in data.comparisons:
            header += [f"{heading} ({figures.label})", "Tăng, giảm"]
            widths += [26.0, 20.0] if len(data.comparisons) > 1 else [40.0, 32.0]
        rows = []
        for label, key in (
            ("Số bài đăng Facebook", "posts:facebook"),
            ("Số bài đăng Zalo OA", "posts:zalo"),
            ("Lượt tương tác", "interactions"),
            ("Lượt xem", "views"),
            ("Tỷ lệ đơn vị chia sẻ", "rate"),
        ):
            now_value = trend_value(current, key)
            row: list[Any] = [label, _as_cell(now_value, key)]
            for _, figures in data.comparisons:
                earlier = trend_value(figures, key)
                change = trend_change(now_value, earlier, key)
                row += [_as_cell(earlier, key), None if change is None else Change(change)]
            rows.append(row)
        d.grid(f"Bảng {number}. So sánh với các kỳ trước", header, rows, widths)
        d.para(
            "Tăng, giảm tính theo phần trăm so với kỳ trước; với tỷ lệ đơn vị chia sẻ là "
            "chênh lệch điểm phần trăm.",
            italic=True,
            size=12,
        )

    if data.by_month:
        number += 1
        rows = [
            [
                b.title,
                b.posts["facebook"],
                b.posts["zalo"],
                b.interactions,
                b.values["views"],
                Pct(b.shares.rate) if b.shares.rate is not None else None,
            ]
            for b in data.buckets
        ]
        rows.append(
            [
                "Cả kỳ",
                fb.posts,
                zl.posts,
                data.current.interactions,
                data.current.metric("views"),
                Pct(data.matrix.total.rate) if data.matrix.total.rate is not None else None,
            ]
        )
        d.grid(
            f"Bảng {number}. Kết quả từng tháng",
            ["Tháng", "Bài Facebook", "Bài Zalo OA", "Lượt tương tác", "Lượt xem", "Tỷ lệ chia sẻ"],
            rows,
            [25, 25, 25, 30, 30, 25],
            bold_last=True,
        )

    _chart_block(d, data, chart, chart_messages)

    top = sorted(
        (p for p in data.pubs if p.taken_at is not None),
        key=lambda p: (p.interactions, p.views or 0),
        reverse=True,
    )[:TOP_POSTS]
    if top:
        number += 1
        d.grid(
            f"Bảng {number}. Các bài có nhiều tương tác nhất",
            ["Ngày đăng", "Tiêu đề", "Kênh", "Tương tác", "Lượt xem"],
            [
                [
                    f"{p.published_at.astimezone(tz):%d/%m/%Y}",
                    p.title,
                    CHANNEL_LABELS.get(p.channel, p.channel),
                    p.interactions,
                    p.views,
                ]
                for p in top
            ],
            [25, 72, 22, 23, 23],
        )

    d.para("2. Chia sẻ của các đơn vị", bold=True, keep_next=True)
    for text in _shares_paragraphs(data):
        d.para(text)
    if data.matrix.agencies and data.matrix.total.expected:
        number += 1
        rows = []
        for i, agency in enumerate(data.matrix.agencies, start=1):
            t = data.matrix.per_agency[agency.id]
            rows.append(
                [
                    str(i),
                    agency.name,
                    t.expected,
                    t.on_time,
                    t.late,
                    t.missing,
                    t.pending,
                    Pct(t.rate) if t.rate is not None else None,
                ]
            )
        t = data.matrix.total
        rows.append(
            [
                "",
                "Tổng cộng",
                t.expected,
                t.on_time,
                t.late,
                t.missing,
                t.pending,
                Pct(t.rate) if t.rate is not None else None,
            ]
        )
        d.grid(
            f"Bảng {number}. Kết quả chia sẻ của các đơn vị",
            ["TT", "Đơn vị", "Được giao", "Đúng hạn", "Muộn", "Chưa chia sẻ", "Đang chờ", "Tỷ lệ"],
            rows,
            [10, 56, 16, 16, 15, 18, 17, 17],
            bold_last=True,
        )

    d.para("II. SO VỚI KẾ HOẠCH", bold=True, keep_next=True)
    d.para(
        f"Chỉ tiêu kế hoạch được tính cho {plan_basis(data)}: mỗi tháng "
        f"{vn_number(data.plan_posts['facebook'])} bài trên Fanpage Facebook, "
        f"{vn_number(data.plan_posts['zalo'])} bài trên Zalo OA, tỷ lệ đơn vị chia sẻ "
        f"{vn_percent(data.plan_share_rate, 0)}."
    )
    number += 1
    d.grid(
        f"Bảng {number}. Kết quả so với kế hoạch",
        ["Chỉ tiêu", "Kế hoạch", "Thực hiện", "Tỷ lệ hoàn thành", "Đánh giá"],
        plan_rows(data),
        [55, 25, 25, 27, 33],
    )

    d.para("III. GHI CHÚ VỀ SỐ LIỆU", bold=True, keep_next=True)
    end_text = (
        f"{(data.period.end - timedelta(seconds=1)).astimezone(tz):%d/%m/%Y}"
        if not data.period.to_date(data.now)
        else f"{data.now.astimezone(tz):%d/%m/%Y}"
    )
    d.para(
        f"- Bài đăng tính theo giờ Việt Nam; số liệu tương tác của mỗi bài là lần thu thập cuối "
        f"cùng trước khi hết kỳ (đến ngày {end_text}); một lượt chia sẻ đúng hạn là chia sẻ "
        f"trong {_hours(data.on_time_hours)} giờ sau khi bài được đăng."
    )
    for note in data.notes:
        d.para(f"- {note}")
    d.para(
        f"- Số liệu chi tiết từng bài, từng đơn vị: tệp Excel {data.period.folder_name}.xlsx "
        "kèm theo."
    )
    d.para(
        f"Trên đây là báo cáo {h.subject[:1].lower() + h.subject[1:]} {data.period.label} "
        f"của {h.unit_name}./."
    )
    _signature(d, data)
    d.save(path)
    return path


def _as_cell(value: float | None, key: str) -> Any:
    if value is None:
        return None
    return Pct(value) if key == "rate" else int(value)


def _signature(d: _Doc, data: ReportData) -> None:
    h = data.heading
    d.para(style="Normal", after=0)
    table = d.borderless([80, 85])
    left, right = table.rows[0].cells
    first = left.paragraphs[0]
    run = first.add_run("Nơi nhận:")
    run.bold = run.italic = True
    run.font.size = d.Pt(12)
    recipients = list(h.recipients)
    for i, name in enumerate(recipients):
        end = "." if i == len(recipients) - 1 else ";"
        p = d.para(f"- {name}{end}", container=left, style="Normal", size=11, after=0)
        p.paragraph_format.line_spacing = 1.0

    lines = [x for x in (h.signer_authority, h.signer_title) if x]
    top = right.paragraphs[0]
    top.alignment = d.align.CENTER
    for i, line in enumerate(lines):
        p = top if i == 0 else d.para(container=right, style="Normal", center=True, after=0)
        run = p.add_run(line.upper())
        run.bold = True
        run.font.size = d.Pt(14)
    for _ in range(4):  # room for the signature and the seal
        d.para(container=right, style="Normal", after=0)
    if h.signer_name:
        d.para(h.signer_name, container=right, style="Normal", bold=True, size=14, center=True)
