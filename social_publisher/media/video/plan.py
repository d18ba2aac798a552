"""Deciding each channel's rendition from the probe: copy what fits, transcode the rest.

Pure functions (no FFmpeg): the daemon plans in its own process, the worker does the
work. A stream is copied only when every rule of :data:`.rules.RULES` for the channel
holds (container, codec, profile, pixel format, size, rate, GOP, bitrate, no rotation,
progressive); otherwise it is transcoded to the sheet's target. The Zalo rendition's
bitrate is capped so that its file stays under ``ZALO_VIDEO_MAX_MB``.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any

from ...errors import MediaError
from .probe import VideoInfo, VideoLimits, channel_problems
from .rules import (
    AUDIO_BITRATE,
    FACEBOOK_MAX_BITRATE,
    RULES,
    TARGET_FPS,
    ZALO,
    ChannelRule,
    VideoTarget,
    aspect_of,
    bitrate_for_size,
    fit_frame,
    zalo_short_side,
)

#: source rates kept as they are (a constant 24, 25 or 30 fps, NTSC's included)
_KEPT_RATES = (
    Fraction(24),
    Fraction(25),
    Fraction(30),
    Fraction(24000, 1001),
    Fraction(30000, 1001),
)


def target_fps(info: VideoInfo, constant_rate: bool) -> Fraction:
    """The rendition's constant rate: the source's own when it is a plain 24-30, else 30."""
    if info.fps is not None and constant_rate:
        for rate in _KEPT_RATES:
            if abs(float(info.fps) - float(rate)) < 0.01:
                return rate
    return TARGET_FPS


def _video_fits(info: VideoInfo, scan: Any, rule: ChannelRule, max_bitrate: int | None) -> bool:
    aspect = aspect_of(info.display_width, info.display_height)
    short, long_ = sorted((info.width, info.height))
    bitrate = info.bitrate or 0
    return (
        info.container in rule.containers
        and info.codec in rule.video_codecs
        and (info.profile or "") in rule.video_profiles
        and (info.pixel_format or "") in rule.pixel_formats
        and info.rotation == 0
        and not info.interlaced
        and rule.min_aspect - 0.01 <= aspect <= rule.max_aspect + 0.01
        and short <= rule.max_short_side
        and long_ <= rule.max_long_side
        and info.fps is not None
        and rule.min_fps <= float(info.fps) <= rule.max_fps
        and bool(scan.constant_rate)
        and 0 < float(scan.max_gop_seconds) <= rule.max_gop_seconds
        and (max_bitrate is None or bitrate <= max_bitrate)
        and (rule.max_bitrate is None or bitrate <= rule.max_bitrate)
    )


def _audio_fits(info: VideoInfo, rule: ChannelRule) -> bool:
    audio = info.audio
    return (
        audio is not None
        and audio.codec in rule.audio_codecs
        and audio.profile == "LC"
        and audio.sample_rate in rule.audio_rates
        and audio.channels in (1, 2)
        and (audio.bitrate or 0) <= 320_000
    )


def plan_target(info: VideoInfo, scan: Any, channel: str, limits: VideoLimits) -> VideoTarget:
    """The rendition ``channel`` gets from the clip; MediaError when it cannot have one."""
    problems = channel_problems(info, channel, limits)
    if problems:
        raise MediaError(" ".join(problems), path=str(info.path))
    rule = RULES[channel]
    audio = info.audio is not None
    max_bytes = limits.zalo_max_bytes if channel == ZALO else limits.max_bytes
    size_cap = bitrate_for_size(max_bytes, info.duration, AUDIO_BITRATE if audio else 0)
    short_limit: int | None = None
    max_bitrate: int | None = min(FACEBOOK_MAX_BITRATE, size_cap)
    if channel == ZALO:
        short_limit = zalo_short_side(size_cap)
        if short_limit is None:  # channel_problems refuses these first; kept as a guard
            raise MediaError(
                f"Video {info.path.name} quá dài để gửi lên Zalo dưới "
                f"{limits.zalo_max_bytes // 1_000_000} MB. Hãy cắt ngắn video.",
                path=str(info.path),
            )
    (fw, fh), (pw, ph) = fit_frame(info.display_width, info.display_height, rule, short_limit)
    fps = target_fps(info, bool(scan.constant_rate))
    target = VideoTarget(
        channel=channel,
        width=fw,
        height=fh,
        picture_width=pw,
        picture_height=ph,
        fps=str(fps),
        rotation=info.rotation,
        max_bitrate=max_bitrate,
        audio=audio,
        max_bytes=max_bytes,
    )
    # a stream that fits is copied; its bytes must fit the size cap on their own
    source_fits_size = info.bytes <= max_bytes * 0.98
    short_ok = short_limit is None or min(info.width, info.height) <= short_limit
    if source_fits_size and short_ok and _video_fits(info, scan, rule, max_bitrate):
        target = replace(
            target,
            width=info.width,
            height=info.height,
            picture_width=info.width,
            picture_height=info.height,
            fps=str(info.fps),
            rotation=0,
            max_bitrate=None,
            copy_video=True,
            copy_audio=audio and _audio_fits(info, rule),
        )
    return target
