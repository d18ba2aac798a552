"""Video for the queue and the publisher: the ``check`` probe and each channel's rendition.

The probe and every transcode run in a worker process (``media.video.worker``) with
the settings' time and memory limits, so a hostile clip refused by ``check`` or by the
daemon costs a child process, never the daemon. PyAV is imported only there: the
daemon's idle memory is what it was.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import MediaError
from ..media.specs import Rendition

log = logging.getLogger("social_publisher.video")

#: the publication channels and the rendition each one sends
FACEBOOK, ZALO = "facebook", "zalo"


def video_check(settings: Settings) -> Any:
    """``check(path, form, channels)`` for the queue: the clip's facts or a MediaError
    (every refusal of every channel the post names, in Vietnamese)."""
    from ..media.video import VideoLimits, WorkerLimits, channel_problems, probe_isolated
    from ..media.video.probe import facebook_channel, warnings_for
    from ..media.video.rules import ZALO as ZALO_RULE

    limits = VideoLimits.from_settings(settings)
    worker = WorkerLimits.from_settings(settings)

    def check(path: str, form: str | None, channels: tuple[str, ...]) -> Mapping[str, Any]:
        probed = probe_isolated(Path(path), limits, worker)
        info = probed.info
        wanted = []
        if FACEBOOK in channels:
            wanted.append(facebook_channel(info, form))
        if ZALO in channels:
            wanted.append(ZALO_RULE)
        problems: list[str] = []
        warnings: list[str] = []
        for channel in wanted:
            for text in channel_problems(info, channel, limits):
                if text not in problems:
                    problems.append(text)
            for text in warnings_for(info, channel):
                if text not in warnings:
                    warnings.append(text)
        if problems:
            raise MediaError(" ".join(problems), path=path)
        return {
            "duration": round(info.duration, 3),
            "width": info.display_width,
            "height": info.display_height,
            "form": form or info.default_form,
            "warnings": warnings,
        }

    return check


@dataclass(frozen=True)
class VideoForChannel:
    """What one publication sends: the MP4, its Facebook form, and the cover photo."""

    path: Path
    sha256: str
    #: ``feed``/``reel`` for Facebook, ``zalo`` for Zalo
    kind: str
    duration: float
    #: the cover: a photo of the folder or a frame of the clip, rendered for the channel
    cover: Rendition | None


def render_for(
    settings: Settings,
    source: Path,
    channel: str,
    form: str | None,
    *,
    cover_photo: Rendition | None = None,
) -> VideoForChannel:
    """The channel's rendition of ``source`` (cached by content; made in a worker)."""
    from ..media.video import VideoLimits, WorkerLimits, render_video
    from ..media.video.probe import facebook_channel
    from ..media.video.render import probe_isolated
    from ..media.video.rules import FACEBOOK_REELS
    from ..media.video.rules import ZALO as ZALO_RULE

    limits = VideoLimits.from_settings(settings)
    worker = WorkerLimits.from_settings(settings)
    probed = probe_isolated(source, limits, worker)
    rule = facebook_channel(probed.info, form) if channel == FACEBOOK else ZALO_RULE

    def progress(name: str, done: float, total: float) -> None:
        log.info("video %s for %s: %.0f/%.0f s encoded", source.name, name, done, total)

    renders = render_video(
        source,
        cache_dir=settings.media_cache_dir,
        limits=limits,
        worker=worker,
        max_pixels=settings.media_max_pixels,
        channels=(rule,),
        # Facebook makes its own thumbnail: a frame is only needed for Zalo's avatar
        cover=cover_photo is None and channel != FACEBOOK,
        progress=progress,
        probed=probed,
    )
    rendition = renders.renditions[rule]
    cover = cover_photo
    if cover is None:
        wanted = "facebook" if channel == FACEBOOK else "zalo_cover"
        cover = next((r for r in renders.cover if r.channel == wanted), None)
    kind = ("reel" if rule == FACEBOOK_REELS else "feed") if channel == FACEBOOK else "zalo"
    return VideoForChannel(
        path=rendition.path,
        sha256=rendition.sha256,
        kind=kind,
        duration=rendition.duration,
        cover=cover,
    )
