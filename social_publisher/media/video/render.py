"""A clip's per-channel renditions and its cover frame, cached by content like photos.

``render_video`` probes the clip (in a worker), plans each channel's target
(:func:`.plan.plan_target`: copy what fits, transcode the rest), and makes each target
at most once: two channels whose targets are equal (a portrait clip's Reel and feed
renditions, say) share one file, and a target already in the cache is not made again.

Layout, beside the photo renditions (:mod:`..cache`): ``<cache_dir>/<sha[:2]>/<sha>/``
holds ``video-<target hash>.mp4`` and its ``.json`` record (written after the MP4, so a
record means a complete, validated file; on a hit the MP4 is hashed again and must
match), and ``cover-<ms>.jpg`` (the frame picked as a cover) with its record; the cover
frame then goes through the photo path (:func:`..render.render_specs`), which caches its
own renditions. ``prune`` treats these entries like the photos'.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import MediaError
from .. import cache
from ..specs import FACEBOOK, ZALO_COVER, Rendition
from .probe import VideoInfo, VideoLimits, facebook_channel, warnings_for
from .rules import ZALO, VideoTarget
from .worker import PROBE_TIMEOUT_SECONDS, WorkerLimits, run_job

log = logging.getLogger("social_publisher.media.video")

#: ``progress(channel, seconds done, seconds total)``
RenderProgress = Callable[[str, float, float], None]


@dataclass(frozen=True)
class VideoRendition:
    """One finished MP4 in the cache; ``sha256`` is of the file's bytes."""

    channel: str
    path: Path
    width: int
    height: int
    duration: float
    fps: str
    bytes: int
    sha256: str
    transcoded: bool
    audio: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "path": str(self.path),
            "width": self.width,
            "height": self.height,
            "duration": round(self.duration, 3),
            "fps": self.fps,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "transcoded": self.transcoded,
            "audio": self.audio,
        }


@dataclass(frozen=True)
class Probed:
    """A clip as the worker read it: its facts and its packet scan."""

    info: VideoInfo
    scan: Any


@dataclass(frozen=True)
class VideoRenders:
    """Everything the channels need from one clip."""

    info: VideoInfo
    source_sha256: str
    renditions: dict[str, VideoRendition]
    #: photo renditions of the cover frame (``facebook`` thumbnail, ``zalo_cover``)
    cover: tuple[Rendition, ...] = ()
    warnings: tuple[str, ...] = ()
    made: tuple[str, ...] = field(default=())  # channels transcoded or remuxed this time


def probe_isolated(source: Path, limits: VideoLimits, worker: WorkerLimits) -> Probed:
    """:func:`.probe.probe_video` plus the packet scan, in a worker process."""
    result = run_job(
        {"kind": "probe", "source": str(source), "limits": limits},
        source=source,
        limits=worker,
        timeout=min(worker.timeout_seconds, PROBE_TIMEOUT_SECONDS),
    )
    return Probed(result["info"], result["scan"])


def default_channels(info: VideoInfo, form: str | None) -> tuple[str, ...]:
    """The Facebook form (chosen, or the default from the clip's shape and length) and Zalo."""
    return (facebook_channel(info, form), ZALO)


def _entry(cache_dir: Path, sha: str, stem: str, suffix: str) -> tuple[Path, Path]:
    folder = Path(cache_dir) / sha[:2] / sha
    return folder / f"{stem}{suffix}", folder / f"{stem}.json"


def _lookup(path: Path, record_path: Path) -> dict[str, Any] | None:
    try:
        os.utime(record_path)  # in use: prune keeps it
        record: dict[str, Any] = json.loads(record_path.read_text(encoding="utf-8"))
        if path.stat().st_size != int(record["bytes"]) or cache.file_sha256(path) != str(
            record["sha256"]
        ):
            log.warning("video cache entry %s does not match its record; making it again", path)
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record


def _write_record(record_path: Path, record: dict[str, Any]) -> None:
    cache.atomic_write_bytes(record_path, json.dumps(record, sort_keys=True).encode("utf-8"))


def _temp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return Path(name)


def _make_target(
    source: Path,
    probed: Probed,
    target: VideoTarget,
    sha: str,
    cache_dir: Path,
    limits: VideoLimits,
    worker: WorkerLimits,
    progress: Callable[[float, float], None] | None,
) -> tuple[dict[str, Any], bool]:
    """The target's cache record, and whether it was made now (False: a cache hit)."""
    path, record_path = _entry(cache_dir, sha, target.cache_key, ".mp4")
    found = _lookup(path, record_path)
    if found is not None:
        return found, False
    tmp = _temp_beside(path)
    try:
        facts = run_job(
            {
                "kind": "transcode",
                "source": str(source),
                "limits": limits,
                "target": target,
                "out": str(tmp),
                "interlaced": probed.info.interlaced,
                "duration": probed.info.duration,
            },
            source=source,
            limits=worker,
            on_progress=progress,
        )
        record = {
            "kind": "video",
            "bytes": tmp.stat().st_size,
            "sha256": cache.file_sha256(tmp),
            "width": int(facts["width"]),
            "height": int(facts["height"]),
            "duration": float(facts["duration"]),
            "fps": str(facts["fps"]),
            "audio": bool(facts["audio"]),
            "transcoded": target.transcodes,
            "target": target.cache_key,
        }
        os.replace(tmp, path)
    except OSError as exc:
        raise MediaError(
            f"Không ghi được video đã xử lý vào thư mục {cache_dir} ({exc.strerror or exc}). "
            "Hãy kiểm tra dung lượng ổ đĩa và quyền ghi của MEDIA_CACHE_DIR.",
            path=str(source),
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    _write_record(record_path, record)
    return record, True


def cover_time(duration: float) -> float:
    """Where the cover frame is taken: a tenth in, at most 3 s (past a phone's first blur)."""
    return round(min(duration * 0.1, 3.0), 3)


def cover_frame(
    source: Path,
    probed: Probed,
    sha: str,
    *,
    cache_dir: Path,
    worker: WorkerLimits,
    limits: VideoLimits,
    at: float | None = None,
) -> Path:
    """The JPEG of the frame at ``at`` seconds (default :func:`cover_time`), cached."""
    at = cover_time(probed.info.duration) if at is None else min(max(at, 0.0), probed.info.duration)
    path, record_path = _entry(cache_dir, sha, f"cover-{round(at * 1000)}", ".jpg")
    if _lookup(path, record_path) is not None:
        return path
    tmp = _temp_beside(path)
    try:
        width, height = run_job(
            {
                "kind": "frame",
                "source": str(source),
                "limits": limits,
                "at": at,
                "out": str(tmp),
                "rotation": probed.info.rotation,
            },
            source=source,
            limits=worker,
            timeout=min(worker.timeout_seconds, PROBE_TIMEOUT_SECONDS),
        )
        record = {
            "kind": "frame",
            "bytes": tmp.stat().st_size,
            "sha256": cache.file_sha256(tmp),
            "width": width,
            "height": height,
            "at": at,
        }
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    _write_record(record_path, record)
    return path


def render_video(
    source: Path,
    *,
    cache_dir: Path,
    limits: VideoLimits,
    worker: WorkerLimits,
    max_pixels: int,
    channels: Iterable[str] | None = None,
    form: str | None = None,
    cover: bool = True,
    cover_at: float | None = None,
    progress: RenderProgress | None = None,
    probed: Probed | None = None,
) -> VideoRenders:
    """Every rendition of ``source`` the ``channels`` need (default: the Facebook form
    and Zalo), from the cache when it has them, and the cover frame's photo renditions.

    Raises :class:`MediaError` when the clip is refused (for any of the channels).
    """
    from ..render import render_specs

    source = Path(source)
    cache_dir = Path(cache_dir)
    probed = probed or probe_isolated(source, limits, worker)
    info = probed.info
    wanted = tuple(channels) if channels is not None else default_channels(info, form)
    from .plan import plan_target

    targets = {channel: plan_target(info, probed.scan, channel, limits) for channel in wanted}
    try:
        sha = cache.file_sha256(source)
    except OSError as exc:
        raise MediaError(f"Không đọc được tệp video {source.name}.", path=str(source)) from exc
    made: dict[str, dict[str, Any]] = {}
    fresh: list[str] = []
    for channel, target in targets.items():
        key = target.cache_key
        if key in made:
            continue

        def report(done: float, total: float, channel: str = channel) -> None:
            if progress is not None:
                progress(channel, done, total)

        made[key], now = _make_target(
            source, probed, target, sha, cache_dir, limits, worker, report
        )
        if now:
            fresh.append(channel)
    renditions = {}
    for channel, target in targets.items():
        record = made[target.cache_key]
        if target.max_bytes is not None and int(record["bytes"]) > target.max_bytes:
            raise MediaError(
                f"Bản video {channel} của {source.name} nặng {record['bytes']} byte, quá giới "
                f"hạn {target.max_bytes} byte. Hãy cắt ngắn video.",
                path=str(source),
            )
        path, _ = _entry(cache_dir, sha, target.cache_key, ".mp4")
        renditions[channel] = VideoRendition(
            channel=channel,
            path=path,
            width=int(record["width"]),
            height=int(record["height"]),
            duration=float(record["duration"]),
            fps=str(record["fps"]),
            bytes=int(record["bytes"]),
            sha256=str(record["sha256"]),
            transcoded=bool(record["transcoded"]),
            audio=bool(record["audio"]),
        )
    covers: tuple[Rendition, ...] = ()
    if cover:
        frame = cover_frame(
            source, probed, sha, cache_dir=cache_dir, worker=worker, limits=limits, at=cover_at
        )
        try:
            covers = tuple(
                render_specs(
                    frame, (FACEBOOK, ZALO_COVER), cache_dir=cache_dir, max_pixels=max_pixels
                )
            )
        except MediaError as exc:
            raise MediaError(
                f"Không làm được ảnh bìa từ khung hình của video {source.name} "
                f"({info.display_width}×{info.display_height} điểm ảnh: {exc.message}). "
                "Hãy đặt một ảnh vào thư mục bài để làm ảnh bìa.",
                path=str(source),
            ) from exc
    warnings: list[str] = []
    for channel in wanted:
        for text in warnings_for(info, channel):
            if text not in warnings:
                warnings.append(text)
    return VideoRenders(
        info=info,
        source_sha256=sha,
        renditions=renditions,
        cover=covers,
        warnings=tuple(warnings),
        made=tuple(fresh),
    )
