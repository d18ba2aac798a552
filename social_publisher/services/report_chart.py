"""The report's chart: posts and engagement by week (a month) or by month (a year), as a PNG.

matplotlib runs on the Agg canvas without pyplot (no display on a server or a service,
and pyplot alone costs half a second to import), and the font is pinned to DejaVu Sans,
which matplotlib bundles and which has every Vietnamese glyph, so the labels render the
same on any office PC. Numbers are written the Vietnamese way (1.234; 2,5).

A period with nothing to show says so in words instead of drawing an axis of zeros:
no post at all, or posts whose engagement has not been collected yet.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

FONT = "DejaVu Sans"
FACEBOOK_COLOR = "#1877F2"
ZALO_COLOR = "#7FB2FF"
INTERACTIONS_COLOR = "#E8730C"
VIEWS_COLOR = "#2E7D32"

NO_POSTS = "Chưa có dữ liệu: không có bài viết nào được đăng trong kỳ báo cáo."
NO_ENGAGEMENT = (
    "Chưa có dữ liệu tương tác: chưa thu thập được lượt tương tác, lượt xem của các bài trong kỳ."
)


@dataclass(frozen=True)
class ChartPoint:
    """One bar of the chart: a week (from its Monday, or the period's first day) or a month."""

    start: date
    label: str  # "07/10" for a week, "T10" for a month
    facebook_posts: int
    zalo_posts: int
    interactions: int  # reactions + comments + shares, both channels
    views: int


def vn_tick(n: float, _pos: object = None) -> str:
    """Axis and bar labels: 12345 → ``12.345``, 2.5 → ``2,5``."""
    if float(n).is_integer():
        return f"{round(n):,}".replace(",", ".")
    return f"{n:,.1f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def empty_messages(points: Sequence[ChartPoint]) -> tuple[str, ...]:
    """Why (part of) the chart has nothing to draw; empty when it has data."""
    if not any(p.facebook_posts or p.zalo_posts for p in points):
        return (NO_POSTS,)
    if not any(p.interactions or p.views for p in points):
        return (NO_ENGAGEMENT,)
    return ()


def build_figure(points: Sequence[ChartPoint], *, title: str, by_month: bool) -> Any:
    """The matplotlib Figure (not saved): tests read its axes to see what is drawn."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    messages = empty_messages(points)
    fig = Figure(figsize=(11, 6.5))
    fig.suptitle(title, fontsize=13, fontweight="bold")
    if messages == (NO_POSTS,):
        fig.text(0.5, 0.5, NO_POSTS, ha="center", va="center", fontsize=13, color="#555555")
        return fig
    ax_posts, ax_eng = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.3]})
    x = list(range(len(points)))
    unit = "tháng" if by_month else "tuần"
    fb = [p.facebook_posts for p in points]
    zl = [p.zalo_posts for p in points]
    ax_posts.bar(x, fb, color=FACEBOOK_COLOR, label="Facebook")
    bars = ax_posts.bar(x, zl, bottom=fb, color=ZALO_COLOR, label="Zalo OA")
    if len(points) <= 16:
        labels = [vn_tick(a + b) if a + b else "" for a, b in zip(fb, zl, strict=True)]
        ax_posts.bar_label(bars, labels=labels, padding=2, fontsize=8)
    ax_posts.set_ylabel("Số bài đăng")
    ax_posts.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_posts.yaxis.set_major_formatter(FuncFormatter(vn_tick))
    ax_posts.set_ylim(top=max((a + b for a, b in zip(fb, zl, strict=True)), default=1) * 1.2)
    ax_posts.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, frameon=False)
    ax_posts.set_title(f"Số bài đăng theo {unit}", loc="left")
    ax_posts.grid(axis="y", alpha=0.3)

    labels = [p.label for p in points]
    step = max(1, len(points) // 16)
    ax_eng.set_xticks(x[::step], labels[::step], rotation=45 if step > 1 else 0)
    ax_eng.set_xlim(-0.6, len(points) - 0.4)
    ax_eng.set_xlabel("Tháng" if by_month else "Tuần, tính từ ngày")
    if messages == (NO_ENGAGEMENT,):
        # the axis frame stays for the x labels, but no zero scale is drawn
        ax_eng.set_yticks([])
        for side in ("left", "right", "top"):
            ax_eng.spines[side].set_visible(False)
        ax_eng.text(
            0.5,
            0.5,
            NO_ENGAGEMENT,
            transform=ax_eng.transAxes,
            ha="center",
            va="center",
            fontsize=11,
            color="#555555",
        )
        return fig
    ax_eng.bar(x, [p.interactions for p in points], color=INTERACTIONS_COLOR)
    ax_eng.set_ylabel("Cảm xúc + bình luận + chia sẻ")
    ax_eng.yaxis.set_major_formatter(FuncFormatter(vn_tick))
    ax_eng.grid(axis="y", alpha=0.3)
    ax_views = ax_eng.twinx()
    ax_views.plot(x, [p.views for p in points], color=VIEWS_COLOR, marker="o", ms=3)
    ax_views.set_ylabel("Lượt xem", color=VIEWS_COLOR)
    ax_views.yaxis.set_major_formatter(FuncFormatter(vn_tick))
    ax_views.set_ylim(bottom=0)
    ax_eng.set_ylim(bottom=0)
    ax_eng.set_title(
        f"Tương tác (cột) và lượt xem (đường) của các bài đăng trong {unit}", loc="left"
    )
    return fig


def render_chart(
    points: Sequence[ChartPoint], path: Path, *, title: str, by_month: bool = False
) -> tuple[str, ...]:
    """Write the PNG; returns the empty-state messages it showed (none when it had data)."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with (
        warnings.catch_warnings(),
        rc_context({"font.family": FONT, "font.size": 9, "axes.titlesize": 11}),
    ):
        # a missing glyph must fail loudly, never ship a report with boxes in it
        warnings.filterwarnings("error", message=r".*[Gg]lyph.*missing.*")
        fig = build_figure(points, title=title, by_month=by_month)
        FigureCanvasAgg(fig)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, format="png")
    return empty_messages(points)
