"""What each channel takes from a clip, as data in one place (``docs/api/video.md``).

Two kinds of rule live here. A *refusal* rule says a clip cannot go to a channel at all
(a 2-minute clip as a Reel, a 30-minute clip anywhere); a *fit* rule says whether the
clip can be sent as it is (only its metadata removed) or must be transcoded to the
channel's :class:`VideoTarget`. The targets are the sheet's: H.264 High, yuv420p,
constant frame rate, closed GOP of 2 s, AAC-LC 48 kHz stereo, MP4 with ``+faststart``,
at most 1080p; the Zalo rendition's bitrate is capped so that the file stays under
Zalo's limit (unconfirmed: 50 MB, ``ZALO_VIDEO_MAX_MB``), dropping to 720p or 480p for
long clips, because a low bitrate looks better at a smaller size.

This module imports no video library: ``check`` and the daemon's idle loop can read the
rules without loading FFmpeg.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

#: bump when the transcoding changes in a way that should invalidate cached renditions
VIDEO_RENDER_VERSION = 1

FACEBOOK_FEED = "facebook"
FACEBOOK_REELS = "reels"
ZALO = "zalo"
CHANNELS = (FACEBOOK_FEED, FACEBOOK_REELS, ZALO)

#: the header value (``Dạng video:``) for each Facebook form
FORM_REELS = "reels"
FORM_FEED = "thường"

#: containers FFmpeg may report for the files staff bring (phones, cameras, screen
#: recorders); anything else (an image, a GIF, a document) is refused by name
ACCEPTED_CONTAINERS = {
    "mov,mp4,m4a,3gp,3g2,mj2": "MP4/MOV",
    "avi": "AVI",
    "matroska,webm": "MKV/WebM",
}
#: video codecs decoded and transcoded; others (ProRes RAW, lossless archival codecs,
#: animated images) are refused with a fix ("export as MP4 H.264")
ACCEPTED_VIDEO_CODECS = frozenset(
    {"h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mpeg2video", "mjpeg", "prores", "vc1"}
)
#: the largest frame accepted (8K UHD, in pixels): a 10,000 x 10,000 "video" is an attack
#: or a mistake, and decoding one frame of it already costs 150 MB
MAX_FRAME_PIXELS = 7680 * 4320
MAX_FRAME_SIDE = 8192
#: shorter than this is not a clip (and Graph refuses files under 1 KB: subcode 1363022)
MIN_SECONDS = 1.0


@dataclass(frozen=True)
class ChannelRule:
    """One channel's limits and what it takes without a transcode."""

    channel: str
    label: str  # Vietnamese, for messages
    min_seconds: float
    #: None: the tool's own cap (``VIDEO_MAX_SECONDS``)
    max_seconds: float | None
    #: None: the tool's own cap (``VIDEO_MAX_MB``); Zalo's comes from ``ZALO_VIDEO_MAX_MB``
    max_bytes: int | None
    #: the frame's width / height range the channel shows without bars; outside it the
    #: rendition is padded (phones' 9:19.5 screen recordings, 21:9 cinema clips)
    min_aspect: float
    max_aspect: float
    #: the rendition's frame: the short side at most ``max_short_side``, the long side at
    #: most ``max_long_side`` (Reels: 1080 x 1920)
    max_short_side: int
    max_long_side: int
    #: a source is sent as it is only in one of these containers, codecs and formats
    containers: frozenset[str]
    video_codecs: frozenset[str]
    video_profiles: frozenset[str]
    pixel_formats: frozenset[str]
    audio_codecs: frozenset[str]
    audio_rates: frozenset[int]
    min_fps: float
    max_fps: float
    max_gop_seconds: float
    #: bits per second a source may have to be sent as it is (None: any)
    max_bitrate: int | None = None
    #: the display's short side below which the channel refuses the clip (0: any)
    min_short_side: int = 0


_MP4 = frozenset({"mov,mp4,m4a,3gp,3g2,mj2"})
_H264 = frozenset({"h264"})
_PROFILES = frozenset({"Baseline", "Constrained Baseline", "Main", "High"})
_YUV420 = frozenset({"yuv420p", "yuvj420p"})
_AAC = frozenset({"aac"})

RULES: dict[str, ChannelRule] = {
    FACEBOOK_FEED: ChannelRule(
        channel=FACEBOOK_FEED,
        label="Facebook (video thường)",
        min_seconds=MIN_SECONDS,
        max_seconds=None,
        max_bytes=None,
        min_aspect=9 / 16,
        max_aspect=16 / 9,
        max_short_side=1080,
        max_long_side=1920,
        containers=_MP4,
        video_codecs=_H264,
        video_profiles=_PROFILES,
        pixel_formats=_YUV420,
        audio_codecs=_AAC,
        audio_rates=frozenset({44100, 48000}),
        min_fps=23.0,
        max_fps=60.5,
        max_gop_seconds=10.0,
        max_bitrate=12_000_000,
    ),
    FACEBOOK_REELS: ChannelRule(
        channel=FACEBOOK_REELS,
        label="Facebook Reels",
        min_seconds=3.0,
        max_seconds=90.0,
        max_bytes=None,
        min_aspect=9 / 16,
        max_aspect=9 / 16,
        max_short_side=1080,
        max_long_side=1920,
        containers=_MP4,
        video_codecs=_H264,
        video_profiles=_PROFILES,
        pixel_formats=_YUV420,
        audio_codecs=_AAC,
        audio_rates=frozenset({48000}),
        min_fps=23.9,
        max_fps=60.5,
        max_gop_seconds=5.0,
        max_bitrate=12_000_000,
        min_short_side=540,
    ),
    ZALO: ChannelRule(
        channel=ZALO,
        label="Zalo",
        min_seconds=MIN_SECONDS,
        max_seconds=None,
        max_bytes=None,  # ZALO_VIDEO_MAX_MB
        min_aspect=9 / 16,
        max_aspect=16 / 9,
        max_short_side=1080,
        max_long_side=1920,
        containers=_MP4,
        video_codecs=_H264,
        video_profiles=_PROFILES,
        pixel_formats=_YUV420,
        audio_codecs=_AAC,
        audio_rates=frozenset({44100, 48000}),
        min_fps=23.0,
        max_fps=60.5,
        max_gop_seconds=10.0,
    ),
}

# ---------------------------------------------------------------- the transcode target

#: frames per second of a transcode when the source's own rate is not a plain 24-30
TARGET_FPS = Fraction(30)
GOP_SECONDS = 2
AUDIO_RATE = 48_000
AUDIO_BITRATE = 128_000
#: x264 quality and speed: CRF 23 is x264's default quality; "veryfast" keeps a 1080p
#: minute within about a minute on a 2-core office PC
CRF = 23
PRESET = "veryfast"
#: the most bits a Facebook rendition spends (Meta's guides suggest about 8 Mbps at 1080p)
FACEBOOK_MAX_BITRATE = 8_000_000
#: the Zalo rendition's resolution ladder: the short side used at or above each video
#: bitrate; below the last rung the clip is refused for Zalo as too long
ZALO_LADDER: tuple[tuple[int, int], ...] = ((3_000_000, 1080), (1_500_000, 720), (300_000, 480))
#: a VBV buffer of this many seconds of the maximum rate (the size bound allows for it)
VBV_SECONDS = 2.0
#: the share of a size cap spent on the streams (the rest: MP4 boxes, rounding)
SIZE_MARGIN = 0.94


@dataclass(frozen=True)
class VideoTarget:
    """Exactly how one rendition is made: every field shapes the output (and the cache key).

    ``copy_video`` / ``copy_audio``: the source's stream already fits and is copied
    (only its container and metadata are rewritten).
    """

    channel: str
    width: int
    height: int
    #: the scaled picture inside the frame (smaller than the frame when padded)
    picture_width: int
    picture_height: int
    fps: str  # a fraction, "30" or "25" or "30000/1001"
    rotation: int  # degrees the source must be turned (counter-clockwise, as FFmpeg says)
    max_bitrate: int | None
    audio: bool
    audio_bitrate: int = AUDIO_BITRATE
    copy_video: bool = False
    copy_audio: bool = False
    max_bytes: int | None = None
    crf: int = CRF
    preset: str = PRESET
    gop_seconds: int = GOP_SECONDS
    audio_rate: int = AUDIO_RATE
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cache_key(self) -> str:
        """Two channels with the same target share one file (and one transcode)."""
        # the channel and the size cap (checked, not shaping the file) are left out
        shaping = {k: v for k, v in asdict(self).items() if k not in ("channel", "max_bytes")}
        blob = json.dumps({"v": VIDEO_RENDER_VERSION, **shaping}, sort_keys=True)
        return "video-" + hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def transcodes(self) -> bool:
        return not self.copy_video


def frame_rate(value: str) -> Fraction:
    return Fraction(value)


def aspect_of(width: int, height: int) -> float:
    return width / height if height else 0.0


def default_facebook_form(display_width: int, display_height: int, duration: float) -> str:
    """Reel for an upright clip that Reels takes (3-90 s, at least 540 px wide), else a
    feed video."""
    rule = RULES[FACEBOOK_REELS]
    upright = display_height > display_width
    assert rule.max_seconds is not None
    big_enough = min(display_width, display_height) >= rule.min_short_side
    if upright and big_enough and rule.min_seconds <= duration <= rule.max_seconds:
        return FORM_REELS
    return FORM_FEED


def channel_for_form(form: str) -> str:
    """The rendition channel a ``Dạng video`` value publishes through."""
    return FACEBOOK_REELS if form == FORM_REELS else FACEBOOK_FEED


def even(value: float) -> int:
    """H.264 4:2:0 wants even sizes."""
    return max(2, round(value / 2) * 2)


def fit_frame(
    width: int, height: int, rule: ChannelRule, short_limit: int | None = None
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The rendition's frame and the picture inside it, for an upright source.

    The picture keeps the source's shape and is never upscaled; the frame is the picture
    padded to the nearest aspect the channel shows (so a 9:19.5 screen recording gets
    thin bars rather than being refused).
    """
    short_max = min(rule.max_short_side, short_limit or rule.max_short_side)
    long_max = round(rule.max_long_side * short_max / rule.max_short_side)
    aspect = aspect_of(width, height)
    target_aspect = min(max(aspect, rule.min_aspect), rule.max_aspect)
    # the frame's shape: the target aspect; its size: as large as the picture allows
    if target_aspect >= aspect:  # bars left and right (or none)
        frame_h = float(height)
        frame_w = height * target_aspect
    else:  # bars above and below
        frame_w = float(width)
        frame_h = width / target_aspect
    scale = min(
        1.0,
        short_max / min(frame_w, frame_h),
        long_max / max(frame_w, frame_h),
    )
    fw, fh = even(frame_w * scale), even(frame_h * scale)
    pw, ph = min(fw, even(width * scale)), min(fh, even(height * scale))
    return (fw, fh), (pw, ph)


def bitrate_for_size(max_bytes: int, duration: float, audio_bitrate: int) -> int:
    """The video bitrate cap that keeps a ``duration``-second file under ``max_bytes``.

    x264's VBV lets a file hold at most ``maxrate x (duration + buffer seconds)`` bits,
    so the cap is computed from that bound, not from the average.
    """
    budget = max_bytes * 8 * SIZE_MARGIN
    return int(budget / (max(duration, 0.1) + VBV_SECONDS)) - audio_bitrate


def zalo_short_side(video_bitrate: int) -> int | None:
    """The Zalo rendition's short side for a video bitrate cap (None: too little to use)."""
    for floor, short in ZALO_LADDER:
        if video_bitrate >= floor:
            return short
    return None


def zalo_max_seconds(max_bytes: int) -> float:
    """The longest clip Zalo's limit holds at the lowest rung of the ladder."""
    floor = ZALO_LADDER[-1][0]
    return max_bytes * 8 * SIZE_MARGIN / (floor + AUDIO_BITRATE) - VBV_SECONDS
