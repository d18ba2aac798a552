"""The report's chart: posts and engagement by week, as a PNG with Vietnamese labels.

matplotlib runs on the Agg backend (no display on a server or a service) and
the font is pinned to DejaVu Sans, which matplotlib bundles and which has
every Vietnamese glyph, so the labels render the same on any office PC.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

FONT = "DejaVu Sans"


@dataclass(frozen=True)
class WeekPoint:
    start: date  # Monday, or the period's first day for a week that began before it
    facebook_posts: int
    zalo_posts: int
    interactions: int  # reactions + comments + shares, both channels
    views: int


def _vn(n: float, _pos: object = None) -> str:
    return f"{round(n):,}".replace(",", ".")


def render_weekly_chart(weeks: Sequence[WeekPoint], path: Path, *, title: str) -> Path:
    """Two panels (posts, engagement) sharing the week axis; an empty period says so."""
    # Imported here: matplotlib costs ~50 MB, and the daemon needs it once a month at most.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    labels = [f"{w.start:%d/%m}" for w in weeks]
    x = list(range(len(weeks)))
    with (
        warnings.catch_warnings(),
        plt.rc_context({"font.family": FONT, "font.size": 9, "axes.titlesize": 11}),
    ):
        # a missing glyph must fail loudly, never ship a report with boxes in it
        warnings.filterwarnings("error", message=r".*[Gg]lyph.*missing.*")
        fig, (ax_posts, ax_eng) = plt.subplots(
            2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [1, 1.3]}
        )
        try:
            fig.suptitle(title, fontsize=13, fontweight="bold")
            fb = [w.facebook_posts for w in weeks]
            zl = [w.zalo_posts for w in weeks]
            ax_posts.bar(x, fb, color="#1877F2", label="Facebook")
            ax_posts.bar(x, zl, bottom=fb, color="#0068FF", alpha=0.45, label="Zalo OA")
            ax_posts.set_ylabel("Số bài đăng")
            ax_posts.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax_posts.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, frameon=False)
            ax_posts.set_title("Số bài đăng theo tuần", loc="left")
            ax_posts.grid(axis="y", alpha=0.3)

            ax_eng.bar(x, [w.interactions for w in weeks], color="#E8730C", label="Lượt tương tác")
            ax_eng.set_ylabel("Cảm xúc + bình luận + chia sẻ")
            ax_eng.yaxis.set_major_formatter(FuncFormatter(_vn))
            ax_eng.grid(axis="y", alpha=0.3)
            ax_views = ax_eng.twinx()
            ax_views.plot(x, [w.views for w in weeks], color="#2E7D32", marker="o", ms=3)
            ax_views.set_ylabel("Lượt xem", color="#2E7D32")
            ax_views.yaxis.set_major_formatter(FuncFormatter(_vn))
            ax_views.set_ylim(bottom=0)
            ax_eng.set_ylim(bottom=0)
            ax_eng.set_title(
                "Tương tác (cột) và lượt xem (đường) của các bài đăng trong tuần", loc="left"
            )
            ax_eng.set_xlabel("Tuần, tính từ ngày")
            if weeks:
                step = max(1, len(weeks) // 16)
                ax_eng.set_xticks(x[::step], labels[::step], rotation=45 if step > 1 else 0)
                ax_eng.set_xlim(-0.6, len(weeks) - 0.4)
            if not any(w.facebook_posts or w.zalo_posts for w in weeks):
                ax_posts.text(
                    0.5,
                    0.5,
                    "Không có bài viết nào được đăng trong kỳ báo cáo",
                    transform=ax_posts.transAxes,
                    ha="center",
                    va="center",
                    fontsize=11,
                    color="#555555",
                )
            fig.tight_layout()
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=110)
        finally:
            plt.close(fig)
    return path
