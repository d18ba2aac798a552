"""Clip makers for the video tests: every clip is written here with PyAV, small and fast."""

from __future__ import annotations

import struct
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from social_publisher.media.video import VideoLimits, WorkerLimits

ClipMaker = Callable[..., Path]


def write_clip(
    path: Path,
    *,
    width: int = 64,
    height: int = 48,
    seconds: float = 2.0,
    fps: int = 30,
    audio: bool = True,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    container_format: str | None = None,
    rotation: int | None = None,
    metadata: dict[str, str] | None = None,
    sample_rate: int = 48_000,
    options: dict[str, str] | None = None,
    timestamps: list[float] | None = None,
    left_bright: bool = False,
    noise: bool = False,
) -> Path:
    """A synthetic clip: a moving gradient (or a bright left half) and a 440 Hz tone.

    ``timestamps`` (seconds) replaces the regular frame times: two frames 4 hours apart
    make a 4-hour clip in a few kilobytes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    out = av.open(str(path), "w", format=container_format)
    stream = out.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    stream.codec_context.options = {"preset": "ultrafast"} if codec == "libx264" else {}
    if options:
        stream.codec_context.options = {**stream.codec_context.options, **options}
    if rotation is not None:
        stream.set_display_rotation(rotation)
    if timestamps is not None:
        stream.codec_context.time_base = Fraction(1, 1000)
    for key, value in (metadata or {}).items():
        out.metadata[key] = value
    a_stream = None
    if audio:
        a_stream = out.add_stream("aac", rate=sample_rate)
        a_stream.layout = "stereo"
    times = timestamps if timestamps is not None else [i / fps for i in range(round(seconds * fps))]
    xs = np.arange(width, dtype=np.int32)
    for index, t in enumerate(times):
        if noise:
            rgb = np.random.default_rng(index).integers(0, 256, (height, width, 3), np.uint8)
        elif left_bright:
            rgb = np.zeros((height, width, 3), np.uint8)
            rgb[:, : width // 2] = 235
        else:
            shade = ((xs + index * 3) % 256).astype(np.uint8)
            rgb = np.broadcast_to(shade[None, :, None], (height, width, 3)).copy()
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        if timestamps is not None:
            frame.pts = round(t * 1000)
            frame.time_base = Fraction(1, 1000)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    if a_stream is not None:
        total = times[-1] + 1 / fps if times else seconds
        samples = int(total * sample_rate)
        step = 1024
        for start in range(0, samples, step):
            n = min(step, samples - start)
            t = (np.arange(start, start + n) / sample_rate).astype(np.float32)
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(
                np.stack([tone, tone]), format="fltp", layout="stereo"
            )
            frame.sample_rate = sample_rate
            frame.pts = start
            for packet in a_stream.encode(frame):
                out.mux(packet)
        for packet in a_stream.encode():
            out.mux(packet)
    out.close()
    return path


def write_voice(path: Path) -> None:
    """An mp4 of sound only: a clip with no video stream."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48_000)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((2, 1024), np.float32), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = 48_000, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_huge_frame(path: Path) -> None:
    """A tiny MJPEG AVI that says 10,000 x 10,000 everywhere AVI and JPEG say a size."""
    write_clip(path, width=64, height=48, seconds=2 / 30, codec="mjpeg", pix_fmt="yuvj420p",
               audio=False)  # fmt: skip
    data = bytearray(path.read_bytes())
    at = data.index(b"avih")
    struct.pack_into("<II", data, at + 8 + 32, 10_000, 10_000)
    at = data.index(b"strf")
    struct.pack_into("<ii", data, at + 8 + 4, 10_000, 10_000)
    at = data.find(b"\xff\xc0")
    while at >= 0:
        struct.pack_into(">HH", data, at + 5, 10_000, 10_000)
        at = data.find(b"\xff\xc0", at + 2)
    path.write_bytes(bytes(data))


@pytest.fixture
def make_clip(tmp_path: Path) -> ClipMaker:
    """``make_clip("name.mp4", width=..., ...)``: a clip in the test's folder."""

    def make(name: str = "clip.mp4", **kwargs: Any) -> Path:
        return write_clip(tmp_path / "clips" / name, **kwargs)

    return make


@pytest.fixture
def limits() -> VideoLimits:
    return VideoLimits(max_seconds=1200, max_bytes=1_000_000_000, zalo_max_bytes=50_000_000)


@pytest.fixture
def worker_limits() -> WorkerLimits:
    return WorkerLimits(timeout_seconds=120, memory_mb=3072)
