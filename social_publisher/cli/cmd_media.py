"""``media render IMAGE... --out DIR [--json]``: make each photo's per-channel renditions.

Staff (and the lead's demo) use it to see what will be published before it is: every
photo gets ``<stem>.facebook.jpg``, ``<stem>.zalo.jpg`` and ``<stem>.zalo_cover.jpg`` in
DIR. One bad photo is reported and the others still go through; exit 1 if any was
refused.

``media prune [--days N]``: what the daemon does daily, now (to free disk space).
"""

from __future__ import annotations

import argparse
import json
import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import MediaError
from ..media import Rendition, render_image
from ..media.cache import atomic_write_bytes, prune, size_label
from ..media.video import VideoLimits, WorkerLimits, is_video_name
from ..numbers import vn_decimal
from . import Context

log = logging.getLogger("social_publisher.cli.media")

_LABELS = {
    "facebook": "Facebook",
    "zalo": "Zalo (ảnh trong bài)",
    "zalo_cover": "Zalo (ảnh bìa)",
}


def _unique_stem(stem: str, used: set[str]) -> str:
    candidate, n = stem, 1
    while candidate.casefold() in used:
        n += 1
        candidate = f"{stem}-{n}"
    used.add(candidate.casefold())
    return candidate


def _copy_out(renditions: list[Rendition], out_dir: Path, stem: str) -> list[dict[str, Any]]:
    copied = []
    for r in renditions:
        dest = out_dir / f"{stem}.{r.channel}.jpg"
        atomic_write_bytes(dest, r.path.read_bytes(), durable=True)
        copied.append(
            {
                "channel": r.channel,
                "path": str(dest),
                "width": r.width,
                "height": r.height,
                "bytes": r.bytes,
            }
        )
    return copied


_VIDEO_LABELS = {
    "facebook": "Facebook (video thường)",
    "reels": "Facebook Reels",
    "zalo": "Zalo (bài video)",
}


def _copy_file(source: Path, dest: Path) -> None:
    """Copy a (possibly large) rendition without holding it in memory."""
    import shutil

    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(dest)


def _render_video_one(path: Path, out_dir: Path, stem: str, ctx: Context) -> dict[str, Any]:
    """A clip's renditions (the Facebook form chosen from its shape and length, and
    Zalo) and its cover frame; progress goes to stderr so ``--json`` stays clean."""
    from ..media.video import render_video

    settings = ctx.settings
    shown: dict[str, int] = {}

    def progress(channel: str, done: float, total: float) -> None:
        percent = int(100 * done / total) if total else 100
        if shown.get(channel, -10) + 10 <= percent or percent == 100:
            shown[channel] = percent
            label = _VIDEO_LABELS.get(channel, channel)
            print(f"  {path.name} → {label}: {percent}%", file=ctx.err, flush=True)

    try:
        result = render_video(
            path,
            cache_dir=settings.media_cache_dir,
            limits=VideoLimits.from_settings(settings),
            worker=WorkerLimits.from_settings(settings),
            max_pixels=settings.media_max_pixels,
            progress=progress,
        )
        copied = []
        for channel, rendition in result.renditions.items():
            dest = out_dir / f"{stem}.{channel}.mp4"
            _copy_file(rendition.path, dest)
            copied.append({**rendition.as_dict(), "path": str(dest)})
        covers = []
        for cover in result.cover:
            dest = out_dir / f"{stem}.cover.{cover.channel}.jpg"
            atomic_write_bytes(dest, cover.path.read_bytes(), durable=True)
            covers.append(
                {
                    "channel": cover.channel,
                    "path": str(dest),
                    "width": cover.width,
                    "height": cover.height,
                    "bytes": cover.bytes,
                }
            )
    except MediaError as exc:
        return {"input": str(path), "ok": False, "error": exc.message}
    except OSError as exc:
        return {
            "input": str(path),
            "ok": False,
            "error": (
                f"Không ghi được video vào thư mục {out_dir} ({exc.strerror or exc}). "
                "Hãy kiểm tra dung lượng ổ đĩa và quyền ghi, hoặc chọn thư mục khác với --out."
            ),
        }
    return {
        "input": str(path),
        "ok": True,
        "video": result.info.as_dict(),
        "renditions": copied,
        "cover": covers,
        "warnings": list(result.warnings),
    }


def _render_one(path: Path, out_dir: Path, stem: str, ctx: Context) -> dict[str, Any]:
    if is_video_name(path):
        return _render_video_one(path, out_dir, stem, ctx)
    settings = ctx.settings
    try:
        renditions = render_image(
            path, cache_dir=settings.media_cache_dir, max_pixels=settings.media_max_pixels
        )
    except MediaError as exc:
        return {"input": str(path), "ok": False, "error": exc.message}
    except Exception as exc:  # a bug must not stop the other photos, nor print a traceback
        log.info("unexpected error rendering %s", path, exc_info=True)
        return {
            "input": str(path),
            "ok": False,
            "error": (
                f"Lỗi ngoài dự kiến khi xử lý ảnh {path.name} ({type(exc).__name__}). "
                "Hãy báo cho bộ phận kỹ thuật, kèm tệp ảnh này."
            ),
        }
    try:
        copied = _copy_out(renditions, out_dir, stem)
    except OSError as exc:
        return {
            "input": str(path),
            "ok": False,
            "error": (
                f"Không ghi được ảnh vào thư mục {out_dir} ({exc.strerror or exc}). "
                "Hãy kiểm tra dung lượng ổ đĩa và quyền ghi, hoặc chọn thư mục khác với --out."
            ),
        }
    return {"input": str(path), "ok": True, "renditions": copied}


def run_render(args: argparse.Namespace, ctx: Context) -> int:
    out_dir: Path = args.out
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        ctx.error(
            f"Không tạo được thư mục {out_dir} ({exc.strerror or exc}). "
            "Hãy chọn một thư mục khác với --out."
        )
        return 2
    used: set[str] = set()
    results = []
    for path in args.images:
        stem = _unique_stem(path.stem or "anh", used)
        result = _render_one(path, out_dir, stem, ctx)
        results.append(result)
        if not args.json:
            _print_result(ctx, result, path)
    refused = sum(1 for r in results if not r["ok"])
    if args.json:
        ctx.print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        done = len(results) - refused
        noun = "tệp" if any(is_video_name(p) for p in args.images) else "ảnh"
        summary = f"Xong: {done}/{len(results)} {noun} đã xử lý"
        ctx.print(summary + (f", {refused} {noun} bị từ chối." if refused else "."))
    return 1 if refused else 0


def fps_label(fps: str) -> str:
    """``30000/1001`` (as the probe gives it) → ``29,97``; ``30`` → ``30``."""
    try:
        return vn_decimal(float(Fraction(fps)), 2)
    except (ValueError, ZeroDivisionError):
        return fps


def _print_result(ctx: Context, result: dict[str, Any], path: Path) -> None:
    if not result["ok"]:
        ctx.print(f"Không xử lý được {path}: {result['error']}")
        return
    ctx.print(f"Đã xử lý {path}:")
    if "video" in result:
        for r in result["renditions"]:
            label = _VIDEO_LABELS.get(r["channel"], r["channel"])
            how = "chuyển đổi" if r["transcoded"] else "giữ nguyên hình, đã xóa thông tin"
            ctx.print(
                f"  {label}: {r['width']}×{r['height']}, {fps_label(r['fps'])} hình/giây, "
                f"{size_label(r['bytes'])} ({how}) → {r['path']}"
            )
        for c in result["cover"]:
            label = _LABELS.get(c["channel"], c["channel"])
            ctx.print(f"  Ảnh bìa {label}: {c['width']}×{c['height']} → {c['path']}")
        for warning in result["warnings"]:
            ctx.print(f"  Lưu ý: {warning}")
        return
    for r in result["renditions"]:
        label = _LABELS.get(r["channel"], r["channel"])
        ctx.print(
            f"  {label}: {r['width']}×{r['height']} điểm ảnh, {size_label(r['bytes'])}"
            f" → {r['path']}"
        )


def run_prune(args: argparse.Namespace, ctx: Context) -> int:
    settings = ctx.settings
    days = settings.media_cache_days if args.days is None else args.days
    if days <= 0:
        ctx.print(
            "MEDIA_CACHE_DAYS=0: ảnh đã xử lý được giữ mãi, không xóa gì. "
            "Dùng --days N để xóa ảnh không dùng đến trong N ngày."
        )
        return 0
    pruned = prune(settings.media_cache_dir, keep_days=days)
    if pruned.entries or pruned.files:
        ctx.print(
            f"Đã xóa {pruned.entries} ảnh đã xử lý không dùng đến trong {days} ngày "
            f"({size_label(pruned.bytes)}) khỏi {settings.media_cache_dir}."
        )
    else:
        ctx.print(
            f"Không có ảnh đã xử lý nào bỏ không quá {days} ngày trong {settings.media_cache_dir}."
        )
    return 0


def _days(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{raw}' không hợp lệ: cần số ngày từ 1 trở lên")
    return value


def register(sub: Any) -> None:
    media: argparse.ArgumentParser = sub.add_parser(
        "media", help="xử lý ảnh: tạo ảnh cho Facebook, Zalo và ảnh bìa Zalo"
    )
    media_sub = media.add_subparsers(dest="media_command", metavar="LỆNH")

    def usage(args: argparse.Namespace, ctx: Context) -> int:
        media.print_help(ctx.out)
        return 2

    media.set_defaults(handler=usage)
    render = media_sub.add_parser(
        "render",
        help="tạo ảnh cho từng kênh từ các ảnh gốc",
        description=(
            "Tạo cho mỗi ảnh: bản Facebook (cạnh dài tối đa 2048 điểm ảnh, ≤ 4 MB), bản Zalo "
            "(cạnh dài tối đa 1280, ≤ 1 MB) và ảnh bìa Zalo (16:9, 1280×720, ≤ 1 MB); "
            "đã xoay đúng chiều, chuyển màu sRGB và xóa mọi thông tin vị trí (GPS). Với video "
            "(mp4, mov, avi, mkv, webm): bản Facebook (Reels hoặc video thường) và bản Zalo "
            "(≤ ZALO_VIDEO_MAX_MB), chỉ chuyển đổi khi cần, kèm ảnh bìa lấy từ một khung hình."
        ),
    )
    render.add_argument(
        "images", nargs="+", type=Path, metavar="IMAGE", help="tệp ảnh hoặc video gốc"
    )
    render.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="thư mục ghi ảnh kết quả"
    )
    render.add_argument("--json", action="store_true", help="in kết quả dạng JSON")
    render.set_defaults(handler=run_render)
    prune_cmd = media_sub.add_parser(
        "prune",
        help="xóa ảnh đã xử lý không dùng đến (trình chạy nền làm việc này mỗi ngày)",
        description=(
            "Xóa khỏi MEDIA_CACHE_DIR các ảnh đã xử lý không dùng đến trong MEDIA_CACHE_DAYS "
            "ngày (hoặc --days). Khi cần, ảnh được xử lý lại từ ảnh gốc trong hàng đợi."
        ),
    )
    prune_cmd.add_argument(
        "--days", type=_days, metavar="N", help="số ngày (mặc định: MEDIA_CACHE_DAYS)"
    )
    prune_cmd.set_defaults(handler=run_prune)
