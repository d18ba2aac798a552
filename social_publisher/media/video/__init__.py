"""Video clips: probing, per-channel renditions, cover frames (PyAV, loaded lazily).

Nothing imported here loads FFmpeg: ``rules`` and ``plan`` are pure data and
arithmetic, ``probe``, ``render`` and ``worker`` import PyAV only inside the functions
that handle a clip (or in the worker process), so the daemon's idle memory stays what it
was (a test checks that importing the daemon does not import ``av``).

- :func:`probe.probe_video`: the container's facts, or a Vietnamese refusal;
- :func:`render.render_video`: each channel's MP4 (copied when it fits, else
  transcoded in a worker process with a time and memory limit) and the cover frame;
- :data:`rules.RULES`: what each channel takes, in one place.
"""

from __future__ import annotations

from pathlib import Path

from .probe import VideoInfo, VideoLimits, channel_problems, probe_video
from .render import VideoRenders, VideoRendition, probe_isolated, render_video
from .rules import (
    CHANNELS,
    FACEBOOK_FEED,
    FACEBOOK_REELS,
    FORM_FEED,
    FORM_REELS,
    RULES,
    ZALO,
    ChannelRule,
    VideoTarget,
    default_facebook_form,
)
from .worker import WorkerLimits

#: file name endings taken as a video (the content is checked by ``probe_video``)
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm"})


def is_video_name(path: Path | str) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


__all__ = [
    "CHANNELS",
    "FACEBOOK_FEED",
    "FACEBOOK_REELS",
    "FORM_FEED",
    "FORM_REELS",
    "RULES",
    "VIDEO_SUFFIXES",
    "ZALO",
    "ChannelRule",
    "VideoInfo",
    "VideoLimits",
    "VideoRenders",
    "VideoRendition",
    "VideoTarget",
    "WorkerLimits",
    "channel_problems",
    "default_facebook_form",
    "is_video_name",
    "probe_isolated",
    "probe_video",
    "render_video",
]
