"""The jobs a video worker process runs (``run``); each takes and returns plain data.

Kept apart from :mod:`.worker` so that the parent never imports PyAV: only the child
imports this module.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import av

from ...errors import MediaError
from .probe import VideoLimits, exhausted, probe_video
from .rules import VideoTarget
from .transcode import Progress, extract_frame, scan_stream, transcode, validate


def run(job: dict[str, Any], progress: Progress) -> Any:
    kind = job["kind"]
    source = Path(job["source"])
    limits: VideoLimits = job["limits"]
    if kind == "probe":
        info = probe_video(source, limits)
        return {"info": info, "scan": scan_stream(source)}
    if kind == "frame":
        return extract_frame(source, float(job["at"]), Path(job["out"]), int(job["rotation"]))
    if kind == "transcode":
        target: VideoTarget = job["target"]
        out = Path(job["out"])
        try:
            transcode(
                source,
                target,
                out,
                interlaced=bool(job["interlaced"]),
                duration=float(job["duration"]),
                progress=progress,
            )
            return validate(out, target, source_duration=float(job["duration"]), limits=limits)
        except MemoryError:
            _remove(out)
            raise
        except av.error.FFmpegError as exc:
            _remove(out)
            if exhausted(exc):
                raise MemoryError(str(exc)) from exc
            raise MediaError(
                f"Video {source.name}: hỏng ở giữa tệp, không chuyển đổi được ({exc}). Hãy chép "
                "lại video gốc, hoặc xuất lại thành MP4 (H.264).",
                path=str(source),
            ) from None
        except BaseException:
            _remove(out)
            raise
    raise ValueError(f"unknown video job {kind!r}")


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
