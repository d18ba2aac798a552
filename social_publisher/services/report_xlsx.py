"""The report's workbook: the tables as sheets staff open and print, and the chart.

XlsxWriter streams the cells with one format object per number format (a year of a busy
Page, 50,000 cells, in about half a second: three times openpyxl). Numbers are written as
numbers with number formats, so Excel shows them in the PC's (Vietnamese) format. Every
sheet is set up to print on A4: landscape where wide, fitted to the page width (small
tables on one page), the header row repeated, the sheet name and page numbers in the
footer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .report import Change, Link, Pct, ReportData, Table, chart_title, subtitle

HEADER_ROW = 4
_INT_FORMAT = "#,##0"
_PCT_FORMAT = "0.0%"
_CHANGE_FORMAT = "+0.0%;-0.0%;0.0%"
_DATETIME_FORMAT = "dd/mm/yyyy hh:mm"
CHART_SHEET = "Biểu đồ"


def _page_setup(ws: Any, *, landscape: bool, one_page: bool, repeat_header: bool) -> None:
    """A4, fitted to the page width (and height for a summary), page numbers in the footer."""
    ws.set_paper(9)  # A4
    if landscape:
        ws.set_landscape()
    else:
        ws.set_portrait()
    ws.fit_to_pages(1, 1 if one_page else 0)
    ws.set_margins(left=0.5, right=0.4, top=0.6, bottom=0.7)
    ws.center_horizontally()
    if repeat_header:
        ws.repeat_rows(HEADER_ROW - 1)
    ws.set_footer("&L&9&A&C&9Trang &P/&N", {"margin": 0.3})


class _Formats:
    """XlsxWriter formats, each made once (a workbook may hold only so many)."""

    def __init__(self, wb: Any) -> None:
        self.wb = wb
        self.cache: dict[tuple[str, bool], Any] = {}
        self.title = wb.add_format({"bold": True, "font_size": 14})
        self.subtitle = wb.add_format({"italic": True, "font_color": "#555555"})
        base = {"bold": True, "bg_color": "#DDEBF7", "text_wrap": True, "valign": "vcenter"}
        self.header = wb.add_format(base)
        self.header_upright = wb.add_format(
            {**base, "rotation": 90, "valign": "bottom", "align": "center"}
        )
        self.footnote = wb.add_format({"italic": True, "font_size": 9, "text_wrap": True})
        self.note = wb.add_format({"text_wrap": True, "valign": "top"})

    def __call__(self, kind: str, bold: bool = False) -> Any:
        key = (kind, bold)
        fmt = self.cache.get(key)
        if fmt is None:
            props: dict[str, Any] = {"bold": True} if bold else {}
            if kind == "link":
                props.update(font_color="#0563C1", underline=1)
            elif kind != "text":
                props["num_format"] = kind
            fmt = self.cache[key] = self.wb.add_format(props)
        return fmt


def write_workbook(
    tables: Sequence[Table], data: ReportData, path: Path, *, chart: Path | None = None
) -> Path:
    """The workbook staff open and print: frozen headers, widths, number formats, links,
    colours, A4 page setup on every sheet, and the chart on a sheet of its own.

    XlsxWriter streams the cells with one format object per number format; a year of a
    busy Page (50,000 cells) is written in about half a second, three times openpyxl.
    """
    # Imported here, not at module level: the daemon imports this module for its monthly
    # job and the CLI for number formatting, and neither needs a workbook library then.
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path), {"in_memory": True, "strings_to_urls": False})
    fmt = _Formats(wb)
    try:
        for table in tables:
            _write_sheet(wb, fmt, table, data, notes=data.notes if table is tables[0] else [])
        if chart is not None:
            _chart_sheet(wb, fmt, data, chart)
        wb.set_properties({"title": tables[0].title, "author": "social-publisher"})
    finally:
        wb.close()
    return path


def write_row(ws: Any, fmt: _Formats, r: int, values: Sequence[Any], *, bold: bool) -> None:
    """One table row as typed cells: numbers with number formats, links, local times."""
    for c, value in enumerate(values):
        if value is None or value == "":
            if bold:
                ws.write_blank(r, c, None, fmt("text", True))
            continue
        if isinstance(value, bool):
            ws.write_string(r, c, "có" if value else "không", fmt("text", bold) if bold else None)
        elif isinstance(value, int):
            ws.write_number(r, c, value, fmt(_INT_FORMAT, bold))
        elif isinstance(value, Pct):
            ws.write_number(r, c, value.value, fmt(_PCT_FORMAT, bold))
        elif isinstance(value, Change):
            ws.write_number(r, c, value.value, fmt(_CHANGE_FORMAT, bold))
        elif isinstance(value, datetime):
            ws.write_datetime(r, c, value, fmt(_DATETIME_FORMAT, bold))
        elif isinstance(value, Link):
            ws.write_url(r, c, value.url, fmt("link", bold), string=value.text)
        else:
            ws.write_string(r, c, str(value), fmt("text", True) if bold else None)


def _write_sheet(wb: Any, fmt: _Formats, table: Table, data: ReportData, notes: list[str]) -> None:
    ws = wb.add_worksheet(table.sheet)
    ncols = len(table.columns)
    h = HEADER_ROW - 1  # XlsxWriter counts rows and columns from 0
    ws.write_string(0, 0, table.title, fmt.title)
    ws.write_string(1, 0, data.heading.unit_line, fmt.subtitle)
    ws.write_string(2, 0, subtitle(data), fmt.subtitle)
    for col, column in enumerate(table.columns):
        upright = table.vertical_header and col >= table.freeze_cols
        ws.write_string(h, col, column.title, fmt.header_upright if upright else fmt.header)
        ws.set_column(col, col, column.width)
    ws.set_row(h, 110 if table.vertical_header else 32)
    last_index = len(table.rows) - 1
    for i, values in enumerate(table.rows):
        write_row(ws, fmt, h + 1 + i, values, bold=table.bold_last_row and i == last_index)
    last = h + len(table.rows)  # 0-based index of the last row
    if table.fills and table.rows:
        # conditional formats colour the share matrix without styling every cell
        for text, color in table.fills.items():
            ws.conditional_format(
                h + 1,
                0,
                last,
                ncols - 1,
                {
                    "type": "cell",
                    "criteria": "==",
                    "value": f'"{text}"',
                    "format": wb.add_format({"bg_color": f"#{color}"}),
                },
            )
    ws.freeze_panes(h + 1, table.freeze_cols)
    if table.rows:
        ws.autofilter(h, 0, last, ncols - 1)
    # notes under the table, merged across it and wrapped so they print inside the page
    texts = ([table.footnote] if table.footnote else []) + [f"- {n}" for n in notes]
    pcols = len(table.printed)
    line_chars = max(sum(c.width for c in table.printed), 40)
    row = last + 2
    for i, note in enumerate(texts):
        style = fmt.footnote if i == 0 and table.footnote else fmt.note
        if pcols > 1:
            ws.merge_range(row, 0, row, pcols - 1, note, style)
        else:
            ws.write_string(row, 0, note, style)
        ws.set_row(row, 15 * (1 + int(len(note) * 1.1 // line_chars)))
        row += 1
    if table.print_cols:
        ws.print_area(0, 0, row, pcols - 1)
    _page_setup(ws, landscape=table.landscape, one_page=table.one_page, repeat_header=True)


def _chart_sheet(wb: Any, fmt: _Formats, data: ReportData, chart: Path) -> None:
    """The chart PNG on its own sheet, sized to print on one landscape A4 page."""
    from PIL import Image

    ws = wb.add_worksheet(CHART_SHEET)
    ws.write_string(0, 0, chart_title(data), fmt.title)
    ws.write_string(1, 0, f"{data.heading.unit_line} · {subtitle(data)}", fmt.subtitle)
    with Image.open(chart) as img:
        width_px, height_px = img.size
        dpi = float(img.info.get("dpi", (96, 96))[0]) or 96.0
    shown = 1000  # px at 96 dpi ≈ 26,5 cm: the printable width of a landscape A4 page
    natural = width_px * 96 / dpi  # how wide Excel would show it unscaled
    scale = shown / natural
    ws.insert_image(3, 0, str(chart), {"x_scale": scale, "y_scale": scale})
    # a print area over the picture (a sheet of no cells would print nothing)
    cols = 1 + shown // 64  # default column: 64 px
    rows = 4 + round(height_px * 96 / dpi * scale) // 20  # default row: 20 px
    ws.print_area(0, 0, rows, cols)
    _page_setup(ws, landscape=True, one_page=True, repeat_header=False)
