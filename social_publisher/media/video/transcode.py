"""The FFmpeg work, through PyAV: scanning packets, transcoding, a cover frame, validating.

Everything here runs inside the worker process (:mod:`.worker`), never in the daemon:
a hostile clip may make FFmpeg allocate, loop or crash, and the worker's limits and the
parent's watchdog contain that.

A transcode is one pass: demux → decode (FFmpeg's own threads) → a filter graph
(``transpose`` for the phone's rotation, ``yadif`` for interlaced camera footage,
``scale``, ``pad`` to an aspect the channel shows, ``fps`` for a constant frame rate,
``format=yuv420p``) → libx264 (High profile, CRF with a VBV cap where a size matters,
a closed GOP of ``gop_seconds`` with no scene-cut keyframes) and FFmpeg's native AAC-LC
encoder (48 kHz stereo) → an MP4 muxed with ``+faststart`` (the index first, so a
platform can start processing before the whole file arrives). Nothing of the source's
container metadata is copied: GPS position and phone model stay behind.

When a stream already fits (see :func:`.plan.plan_target`) it is copied packet by packet
instead: the file is rewritten (metadata gone, index first) but its pictures are not
touched.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.filter

from ...errors import MediaError
from ...numbers import vn_decimal
from .probe import SENSITIVE_METADATA, VideoLimits, mp4_boxes, probe_video
from .rules import VideoTarget

Progress = Callable[[float, float], None]

#: seconds between two progress reports
PROGRESS_EVERY = 0.5


@dataclass(frozen=True)
class StreamScan:
    """What demuxing the video packets (no decoding) tells: the longest GOP and whether
    the frame rate is constant."""

    max_gop_seconds: float
    constant_rate: bool
    packets: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_gop_seconds": self.max_gop_seconds,
            "constant_rate": self.constant_rate,
            "packets": self.packets,
        }


def scan_stream(path: Path) -> StreamScan:
    """Keyframe spacing and frame-duration regularity of the first video stream."""
    with av.open(str(path), metadata_errors="ignore") as container:
        stream: Any = container.streams.video[0]
        tb = stream.time_base
        pts: list[int] = []
        keys: list[int] = []
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            pts.append(packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
    if not pts:
        return StreamScan(0.0, False, 0)
    pts.sort()
    end = pts[-1] + (pts[-1] - pts[-2] if len(pts) > 1 else 0)
    marks = [*sorted(keys), end]
    gop = max((b - a for a, b in itertools.pairwise(marks)), default=end - pts[0])
    deltas = {b - a for a, b in itertools.pairwise(pts)}
    constant = bool(deltas) and max(deltas) - min(deltas) <= 1
    return StreamScan(float(gop * tb), constant, len(pts))


# ---------------------------------------------------------------- transcoding


def _filters(target: VideoTarget, interlaced: bool) -> list[tuple[str, str]]:
    chain: list[tuple[str, str]] = []
    if interlaced:
        chain.append(("yadif", "mode=send_frame"))
    if target.rotation == 90:
        chain.append(("transpose", "cclock"))
    elif target.rotation == 270:
        chain.append(("transpose", "clock"))
    elif target.rotation == 180:
        chain += [("hflip", ""), ("vflip", "")]
    chain.append(("scale", f"{target.picture_width}:{target.picture_height}:flags=bicubic"))
    if (target.picture_width, target.picture_height) != (target.width, target.height):
        chain.append(("pad", f"{target.width}:{target.height}:(ow-iw)/2:(oh-ih)/2:color=black"))
    chain += [("setsar", "1"), ("fps", f"fps={target.fps}"), ("format", "pix_fmts=yuv420p")]
    return chain


def _graph(stream: Any, target: VideoTarget, interlaced: bool) -> Any:
    graph = av.filter.Graph()
    node = graph.add_buffer(template=stream)
    for name, args in _filters(target, interlaced):
        nxt = graph.add(name, args) if args else graph.add(name)
        node.link_to(nxt)
        node = nxt
    sink = graph.add("buffersink")
    node.link_to(sink)
    graph.configure()
    return graph


def _video_encoder(out: Any, target: VideoTarget) -> Any:
    rate = Fraction(target.fps)
    stream = out.add_stream("libx264", rate=rate)
    stream.width, stream.height = target.width, target.height
    stream.pix_fmt = "yuv420p"
    gop = max(1, round(float(rate) * target.gop_seconds))
    options = {
        "preset": target.preset,
        "crf": str(target.crf),
        "profile": "high",
        "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0",
    }
    if target.max_bitrate:
        options["maxrate"] = str(target.max_bitrate)
        options["bufsize"] = str(target.max_bitrate * 2)
    stream.codec_context.options = options
    stream.codec_context.time_base = 1 / rate
    # frame threads, as the ffmpeg command line uses (PyAV's default, slices, compresses
    # worse: x264 then codes each frame as independent slices)
    stream.thread_type = "FRAME"
    return stream


def transcode(
    source: Path,
    target: VideoTarget,
    out_path: Path,
    *,
    interlaced: bool,
    duration: float,
    progress: Progress | None = None,
) -> None:
    """Write ``target``'s rendition of ``source`` at ``out_path`` (an MP4)."""
    with av.open(str(source), metadata_errors="ignore") as inp:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        ain = inp.streams.audio[0] if (target.audio and inp.streams.audio) else None
        with av.open(str(out_path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            _run(inp, out, vin, ain, target, interlaced, duration, progress)


def _run(
    inp: Any,
    out: Any,
    vin: Any,
    ain: Any,
    target: VideoTarget,
    interlaced: bool,
    duration: float,
    progress: Progress | None,
) -> None:
    graph = None
    if target.copy_video:
        vout = out.add_stream_from_template(vin)
    else:
        vout = _video_encoder(out, target)
        graph = _graph(vin, target, interlaced)
    aout = resampler = None
    if ain is not None:
        if target.copy_audio:
            aout = out.add_stream_from_template(ain)
        else:
            aout = out.add_stream("aac", rate=target.audio_rate)
            aout.bit_rate = target.audio_bitrate
            aout.layout = "stereo"
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=target.audio_rate)
    for stream in (vout, aout):
        if stream is not None:
            stream.metadata.clear()
    out.metadata.clear()

    video_index = 0
    last_report = 0.0
    start = float(vin.start_time * vin.time_base) if vin.start_time else 0.0

    def report(at: float) -> None:
        nonlocal last_report
        now = time.monotonic()
        if progress is not None and now - last_report >= PROGRESS_EVERY:
            last_report = now
            progress(min(max(at - start, 0.0), duration), duration)

    def encode_video(frame: Any) -> None:
        nonlocal video_index
        assert graph is not None
        graph.push(frame)
        while True:
            try:
                filtered = graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            filtered.pts = video_index
            filtered.time_base = vout.codec_context.time_base
            video_index += 1
            for packet in vout.encode(filtered):
                out.mux(packet)

    def encode_audio(frame: Any) -> None:
        assert resampler is not None and aout is not None
        for resampled in resampler.resample(frame):
            resampled.pts = None
            for packet in aout.encode(resampled):
                out.mux(packet)

    streams = [vin] + ([ain] if ain is not None else [])
    for packet in inp.demux(*streams):
        if packet.stream is vin:
            if target.copy_video:
                if packet.dts is None:
                    continue
                if packet.pts is not None:
                    report(float(packet.pts * vin.time_base))
                packet.stream = vout
                out.mux(packet)
                continue
            for frame in packet.decode():
                report(frame.time or 0.0)
                encode_video(frame)
        elif ain is not None and packet.stream is ain:
            if target.copy_audio:
                if packet.dts is None:
                    continue
                packet.stream = aout
                out.mux(packet)
                continue
            for aframe in packet.decode():
                encode_audio(aframe)
    if graph is not None:
        graph.push(None)
        while True:
            try:
                filtered = graph.pull()
            except (av.BlockingIOError, av.EOFError):
                break
            filtered.pts = video_index
            filtered.time_base = vout.codec_context.time_base
            video_index += 1
            for packet in vout.encode(filtered):
                out.mux(packet)
        for packet in vout.encode(None):
            out.mux(packet)
    if resampler is not None and aout is not None:
        for resampled in resampler.resample(None):
            resampled.pts = None
            for packet in aout.encode(resampled):
                out.mux(packet)
        for packet in aout.encode(None):
            out.mux(packet)
    if progress is not None:
        progress(duration, duration)


# ---------------------------------------------------------------- the cover frame


def extract_frame(source: Path, at: float, out_path: Path, rotation: int) -> tuple[int, int]:
    """Save the frame shown at ``at`` seconds (upright) as a JPEG; its size."""
    from PIL import Image

    with av.open(str(source), metadata_errors="ignore") as container:
        stream: Any = container.streams.video[0]
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        if at > 0:
            container.seek(int((start + at) / stream.time_base), stream=stream, backward=True)
        picked = None
        for frame in container.decode(stream):
            picked = frame
            if (frame.time or 0.0) - start >= at:
                break
        if picked is None:
            raise MediaError(
                f"Video {source.name}: không lấy được khung hình làm ảnh bìa (tệp hỏng). "
                "Hãy đặt một ảnh vào thư mục bài để làm ảnh bìa.",
                path=str(source),
            )
        image: Any = picked.to_image()
    turn = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180}
    turn[270] = Image.Transpose.ROTATE_270
    if rotation in turn:
        image = image.transpose(turn[rotation])
    image.save(out_path, "JPEG", quality=95)
    return int(image.width), int(image.height)


# ---------------------------------------------------------------- validation


def validate(
    path: Path, target: VideoTarget, *, source_duration: float, limits: VideoLimits
) -> dict[str, Any]:
    """Reopen a finished rendition and check it is what ``target`` promised; its facts.

    Raises :class:`MediaError` (naming the source's rendition) when it is not: the cached
    file is then never written.
    """
    info = probe_video(path, VideoLimits(limits.max_seconds + 60, 1 << 62, limits.zalo_max_bytes))
    problems: list[str] = []
    if info.codec != "h264":
        problems.append(f"mã hóa {info.codec}")
    if not target.copy_video:
        if info.profile != "High":
            problems.append(f"profile {info.profile}")
        if info.pixel_format != "yuv420p":
            problems.append(f"pixel format {info.pixel_format}")
        if (info.width, info.height) != (target.width, target.height):
            problems.append(f"kích thước {info.width}×{info.height}")
        if info.fps is None or abs(float(info.fps) - float(Fraction(target.fps))) > 0.01:
            problems.append(f"tốc độ khung hình {info.fps}")
        if info.rotation:
            problems.append(f"còn xoay {info.rotation}°")
    if abs(info.duration - source_duration) > max(0.6, 0.02 * source_duration):
        problems.append(
            f"độ dài {vn_decimal(info.duration, 2)} giây thay vì "
            f"{vn_decimal(source_duration, 2)} giây"
        )
    if target.max_bytes is not None and info.bytes > target.max_bytes:
        problems.append(f"dung lượng {info.bytes} byte > {target.max_bytes}")
    if target.audio and not target.copy_audio:
        audio = info.audio
        if audio is None or (audio.codec, audio.profile, audio.sample_rate, audio.channels) != (
            "aac",
            "LC",
            target.audio_rate,
            2,
        ):
            problems.append("âm thanh không phải AAC-LC 48 kHz stereo")
    if not target.audio and info.audio is not None:
        problems.append("còn âm thanh")
    leaked = [k for k in info.metadata if k.lower() in SENSITIVE_METADATA]
    if leaked:
        problems.append(f"còn thông tin {', '.join(leaked)}")
    boxes, _ = mp4_boxes(path)
    kinds = [b.type for b in boxes]
    if "moov" not in kinds or "mdat" not in kinds or kinds.index("moov") > kinds.index("mdat"):
        problems.append("không có chỉ mục ở đầu tệp (faststart)")
    scan = scan_stream(path)
    if not target.copy_video:
        if not scan.constant_rate:
            problems.append("tốc độ khung hình không cố định")
        frame = 1 / float(Fraction(target.fps))
        if scan.max_gop_seconds > target.gop_seconds + frame + 1e-6:
            problems.append(f"GOP {vn_decimal(scan.max_gop_seconds, 2)} giây")
    if problems:
        raise MediaError(
            f"Bản video {target.channel} của {path.name} không đạt yêu cầu sau khi chuyển đổi "
            f"({'; '.join(problems)}). Hãy báo cho bộ phận kỹ thuật, kèm tệp video gốc.",
            path=str(path),
        )
    return {
        "width": info.width,
        "height": info.height,
        "duration": info.duration,
        "fps": str(info.fps),
        "bytes": info.bytes,
        "profile": info.profile,
        "audio": info.audio is not None,
        "max_gop_seconds": scan.max_gop_seconds,
    }
