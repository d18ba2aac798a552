"""Reading a clip's container without decoding it all, and refusing what cannot go out.

``probe_video`` opens the file with PyAV (FFmpeg's demuxers, shipped in the wheel),
reads the streams' parameters, decodes ONE frame (it proves the stream decodes and
carries the display rotation) and demuxes, without decoding, the last seconds (a file
cut short, e.g. a copy that never finished, has no packets there). Everything is
checked before anything expensive: the size on disk first, then the first bytes (a
renamed photo), then the frame size (a 10,000 x 10,000 "video" is refused before its
first frame is decoded), then the length (a 4-hour clip before any packet is read).

Each refusal is a :class:`~social_publisher.errors.MediaError` whose Vietnamese message
names the file, what is wrong and what to do.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from ...errors import MediaError
from ...numbers import vn_decimal, vn_megabytes
from .rules import (
    ACCEPTED_CONTAINERS,
    ACCEPTED_VIDEO_CODECS,
    FACEBOOK_FEED,
    FACEBOOK_REELS,
    FORM_REELS,
    MAX_FRAME_PIXELS,
    MAX_FRAME_SIDE,
    MIN_SECONDS,
    RULES,
    ZALO,
    default_facebook_form,
    zalo_max_seconds,
)

#: container metadata keys that may say where or on what a clip was shot
SENSITIVE_METADATA = (
    "location",
    "location-eng",
    "com.apple.quicktime.location.iso6709",
    "com.apple.quicktime.make",
    "com.apple.quicktime.model",
    "com.apple.quicktime.software",
    "com.android.manufacturer",
    "com.android.model",
    "make",
    "model",
    "gps",
)

_IMAGE_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "ảnh JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "ảnh PNG"),
    (b"GIF87a", 0, "ảnh GIF"),
    (b"GIF89a", 0, "ảnh GIF"),
    (b"WEBP", 8, "ảnh WEBP"),
    (b"%PDF", 0, "tài liệu PDF"),
    (b"PK\x03\x04", 0, "tệp nén ZIP (hoặc tài liệu Word/Excel)"),
    (b"BM", 0, "ảnh BMP"),
)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif"}


@dataclass(frozen=True)
class VideoLimits:
    """The tool's caps (settings), passed in so this module needs no Settings."""

    max_seconds: float = 1200.0
    max_bytes: int = 1_000_000_000
    zalo_max_bytes: int = 50_000_000

    @classmethod
    def from_settings(cls, settings: Any) -> VideoLimits:
        return cls(
            max_seconds=float(settings.video_max_seconds),
            max_bytes=int(settings.video_max_mb) * 1_000_000,
            zalo_max_bytes=int(settings.zalo_video_max_mb) * 1_000_000,
        )


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    profile: str | None
    sample_rate: int
    channels: int
    bitrate: int | None


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe_video`` learned. ``width`` x ``height`` is the coded frame;
    ``display_*`` applies the rotation (a phone's portrait clip is often coded
    landscape with a 90° rotation)."""

    path: Path
    bytes: int
    container: str
    duration: float
    width: int
    height: int
    rotation: int
    codec: str
    profile: str | None
    pixel_format: str | None
    fps: Fraction | None
    bitrate: int | None
    interlaced: bool
    audio: AudioInfo | None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def display_width(self) -> int:
        return self.height if self.rotation % 180 else self.width

    @property
    def display_height(self) -> int:
        return self.width if self.rotation % 180 else self.height

    @property
    def portrait(self) -> bool:
        return self.display_height > self.display_width

    @property
    def sensitive_metadata(self) -> list[str]:
        """Keys that would tell where or on what the clip was shot (removed on render)."""
        return [k for k in self.metadata if k.lower() in SENSITIVE_METADATA]

    @property
    def default_form(self) -> str:
        return default_facebook_form(self.display_width, self.display_height, self.duration)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "bytes": self.bytes,
            "container": self.container,
            "duration": round(self.duration, 3),
            "width": self.width,
            "height": self.height,
            "rotation": self.rotation,
            "display_width": self.display_width,
            "display_height": self.display_height,
            "codec": self.codec,
            "profile": self.profile,
            "pixel_format": self.pixel_format,
            "fps": str(self.fps) if self.fps else None,
            "bitrate": self.bitrate,
            "interlaced": self.interlaced,
            "audio": None
            if self.audio is None
            else {
                "codec": self.audio.codec,
                "profile": self.audio.profile,
                "sample_rate": self.audio.sample_rate,
                "channels": self.audio.channels,
                "bitrate": self.audio.bitrate,
            },
            "default_form": self.default_form,
        }


# ---------------------------------------------------------------- messages


def duration_label(seconds: float) -> str:
    """``4 giờ 0 phút``, ``2 phút 5 giây``, ``12 giây``: how staff say a length."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} giờ {minutes} phút"
    if minutes:
        return f"{minutes} phút {secs} giây" if secs else f"{minutes} phút"
    return f"{secs} giây"


def _mb(n: float) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 10e6 else vn_megabytes(n)


def _refuse(path: Path, message: str) -> MediaError:
    return MediaError(f"Video {path.name}: {message}", path=str(path))


# ---------------------------------------------------------------- cheap checks


def sniff(head: bytes) -> str | None:
    """What a file that is NOT a video is, from its first bytes (None: maybe a video)."""
    for magic, offset, label in _IMAGE_MAGIC:
        if head[offset : offset + len(magic)] == magic and (
            magic != b"WEBP" or head[:4] == b"RIFF"
        ):
            return label
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "ảnh HEIF/HEIC của điện thoại"
    return None


@dataclass(frozen=True)
class Mp4Box:
    type: str
    offset: int
    size: int


def mp4_boxes(path: Path) -> tuple[list[Mp4Box], bool]:
    """The top-level boxes of an MP4/MOV and whether the last one runs past the end of
    the file (the file was cut short: a copy or download that did not finish)."""
    boxes: list[Mp4Box] = []
    size = path.stat().st_size
    with path.open("rb") as fh:
        offset = 0
        while offset + 8 <= size:
            fh.seek(offset)
            header = fh.read(16)
            if len(header) < 8:
                break
            box_size, kind = struct.unpack(">I4s", header[:8])
            if box_size == 1 and len(header) >= 16:
                box_size = struct.unpack(">Q", header[8:16])[0]
            elif box_size == 0:  # "to the end of the file"
                box_size = size - offset
            if box_size < 8:
                return boxes, True
            boxes.append(Mp4Box(kind.decode("latin-1"), offset, box_size))
            offset += box_size
        return boxes, offset > size


def _format_label(container: str) -> str:
    return ACCEPTED_CONTAINERS.get(container, container)


# ---------------------------------------------------------------- the probe


def probe_video(path: Path, limits: VideoLimits | None = None) -> VideoInfo:
    """Read ``path``'s container; raise :class:`MediaError` for any clip that cannot go out."""
    import av  # loaded only when a video is handled (the idle daemon never imports it)

    limits = limits or VideoLimits()
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(64)
    except FileNotFoundError:
        raise _refuse(path, "không tìm thấy tệp. Hãy kiểm tra tên tệp trong thư mục bài.") from None
    except OSError as exc:
        raise _refuse(
            path, f"không đọc được tệp ({exc.strerror or exc}). Hãy chép lại tệp vào thư mục bài."
        ) from None
    if size == 0:
        raise _refuse(
            path,
            "tệp rỗng (0 byte), có lẽ chép chưa xong. Hãy chép lại video từ điện thoại "
            "hoặc máy quay vào thư mục bài.",
        )
    if size > limits.max_bytes:
        raise _refuse(
            path,
            f"tệp nặng {_mb(size)}, quá giới hạn {_mb(limits.max_bytes)} (VIDEO_MAX_MB). "
            "Hãy cắt ngắn video hoặc xuất lại ở độ phân giải 1080p.",
        )
    other = sniff(head)
    if other is not None:
        raise _refuse(
            path,
            f"đây là {other} được đổi tên thành {path.suffix or 'video'}, không phải video. "
            "Hãy đặt lại đúng đuôi tệp (ảnh đặt cùng thư mục vẫn được đăng) hoặc chép đúng "
            "tệp video.",
        )
    truncated = False
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        _, truncated = mp4_boxes(path)
    cut_message = (
        "tệp bị cắt dở (thiếu phần cuối, thường do chép hoặc tải về chưa xong). "
        "Hãy chép lại video gốc từ điện thoại hoặc máy quay."
    )
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except MemoryError:
        raise
    except av.error.FFmpegError as exc:
        if truncated or "moov atom not found" in str(exc):
            raise _refuse(path, cut_message) from None
        raise _refuse(
            path,
            "không đọc được tệp: tệp hỏng hoặc không phải video. Hãy mở thử trên máy tính; "
            "nếu xem được, hãy xuất lại thành MP4 (H.264).",
        ) from None
    try:
        return _inspect(av, container, path, size, limits, truncated, cut_message)
    finally:
        container.close()


def _inspect(
    av: Any,
    container: Any,
    path: Path,
    size: int,
    limits: VideoLimits,
    truncated: bool,
    cut_message: str,
) -> VideoInfo:
    fmt = container.format.name
    if fmt not in ACCEPTED_CONTAINERS:
        what = "ảnh" if fmt.endswith("_pipe") or fmt in ("image2", "gif", "apng") else fmt
        raise _refuse(
            path,
            f"định dạng {what} không phải video được nhận (nhận MP4, MOV, AVI, MKV, WebM). "
            "Hãy xuất lại thành MP4 (H.264).",
        )
    if not container.streams.video:
        raise _refuse(
            path,
            "tệp không có hình (chỉ có tiếng hoặc không có gì). Hãy chọn đúng tệp video có hình.",
        )
    stream = container.streams.video[0]
    ctx = stream.codec_context
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    if width <= 0 or height <= 0:
        raise _refuse(path, "không đọc được kích thước khung hình: tệp hỏng. " + cut_message)
    if width * height > MAX_FRAME_PIXELS or max(width, height) > MAX_FRAME_SIDE:
        raise _refuse(
            path,
            f"khung hình {width}×{height} điểm ảnh quá lớn (tối đa 8K: 7680×4320). "
            "Hãy xuất lại video ở 1080p (1920×1080).",
        )
    codec = str(ctx.name)
    if codec not in ACCEPTED_VIDEO_CODECS or not _decodable(av, codec):
        raise _refuse(
            path,
            f"mã hóa hình {codec} không được hỗ trợ. Hãy xuất lại video thành MP4 (H.264) "
            "bằng phần mềm dựng phim hoặc điện thoại.",
        )
    duration = _duration(container, stream)
    if duration is None:
        raise _refuse(path, "không xác định được độ dài video: " + cut_message)
    if duration > limits.max_seconds:
        raise _refuse(
            path,
            f"video dài {duration_label(duration)}, quá giới hạn "
            f"{duration_label(limits.max_seconds)} (VIDEO_MAX_SECONDS). "
            "Hãy cắt thành các đoạn ngắn hơn.",
        )
    if duration < MIN_SECONDS:
        raise _refuse(path, f"video chỉ dài {vn_decimal(duration)} giây. Hãy chọn video dài hơn.")
    if truncated or not _tail_present(av, container, stream, duration):
        raise _refuse(path, cut_message)
    rotation = _first_frame_rotation(av, container, stream, path)
    audio = None
    if container.streams.audio:
        a = container.streams.audio[0].codec_context
        layout = getattr(a, "layout", None)
        channels = int(getattr(layout, "nb_channels", 0) or getattr(a, "channels", 0) or 0)
        audio = AudioInfo(
            codec=str(a.name),
            profile=container.streams.audio[0].profile,
            sample_rate=int(a.sample_rate or 0),
            channels=channels,
            bitrate=int(a.bit_rate) if a.bit_rate else None,
        )
    fps = stream.average_rate or stream.guessed_rate
    # AVFieldOrder: 0 unknown, 1 progressive, 2-5 the interlaced orders (a name in some builds)
    field_order = getattr(ctx, "field_order", 0)
    interlaced = (
        field_order in (2, 3, 4, 5)
        if isinstance(field_order, int)
        else str(field_order).lower() in ("tt", "bb", "tb", "bt")
    )
    metadata = {str(k): str(v) for k, v in dict(container.metadata).items()}
    return VideoInfo(
        path=path,
        bytes=size,
        container=fmt,
        duration=duration,
        width=width,
        height=height,
        rotation=rotation,
        codec=codec,
        profile=stream.profile,
        pixel_format=str(ctx.pix_fmt) if ctx.pix_fmt else None,
        fps=Fraction(fps) if fps else None,
        bitrate=int(container.bit_rate) if container.bit_rate else None,
        interlaced=interlaced,
        audio=audio,
        metadata=metadata,
    )


def exhausted(exc: BaseException) -> bool:
    """True when FFmpeg failed for want of memory, not because of the file: ENOMEM, or
    EAGAIN from opening a codec (its threads' stacks did not fit the address space)."""
    if isinstance(exc, MemoryError):
        return True
    errno = getattr(exc, "errno", None)
    return errno == 12 or (errno == 11 and "avcodec_open2" in str(exc))


def _decodable(av: Any, name: str) -> bool:
    try:
        av.codec.Codec(name, "r")
    except (av.error.FFmpegError, ValueError):
        return False
    return True


def _duration(container: Any, stream: Any) -> float | None:
    if container.duration:
        return float(container.duration) / 1_000_000
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return None


def _tail_present(av: Any, container: Any, stream: Any, duration: float) -> bool:
    """True when the last seconds of the clip have their packets (demuxed, not decoded)."""
    tolerance = max(1.0, 0.05 * duration)
    start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
    try:
        target = start + max(0.0, duration - tolerance - 2.0)
        container.seek(int(target / stream.time_base), stream=stream, backward=True)
        last = None
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            end = float((packet.pts + (packet.duration or 0)) * stream.time_base)
            last = end if last is None else max(last, end)
    except MemoryError:
        raise
    except av.error.FFmpegError:
        return False
    return last is not None and last - start >= duration - tolerance


def _first_frame_rotation(av: Any, container: Any, stream: Any, path: Path) -> int:
    """The display rotation (degrees counter-clockwise, 0/90/180/270) from the first frame,
    which also proves the stream decodes."""
    try:
        container.seek(0)
        for frame in container.decode(stream):
            return round(frame.rotation or 0) % 360
    except av.error.FFmpegError as exc:
        if exhausted(exc):  # the worker's memory limit, not a broken file
            raise MemoryError(str(exc)) from exc
    raise _refuse(
        path,
        "không giải mã được hình của video (tệp hỏng). Hãy chép lại video gốc, hoặc xuất lại "
        "thành MP4 (H.264).",
    )


# ---------------------------------------------------------------- per-channel refusals


def channel_problems(info: VideoInfo, channel: str, limits: VideoLimits) -> list[str]:
    """Why ``info`` cannot go to ``channel`` (Vietnamese, naming the file); empty: it can."""
    rule = RULES[channel]
    name = info.path.name
    problems: list[str] = []
    if rule.max_seconds is not None and info.duration > rule.max_seconds:
        problems.append(
            f"Video {name} dài {duration_label(info.duration)}, quá dài cho {rule.label} "
            f"(tối đa {duration_label(rule.max_seconds)}). Hãy cắt ngắn video, hoặc ghi "
            "'Dạng video: thường' để đăng thành video thường."
        )
    if info.duration < rule.min_seconds:
        problems.append(
            f"Video {name} chỉ dài {vn_decimal(info.duration)} giây, quá ngắn cho {rule.label} "
            f"(tối thiểu {rule.min_seconds:.0f} giây). Hãy chọn video dài hơn, hoặc ghi "
            "'Dạng video: thường'."
        )
    short = min(info.display_width, info.display_height)
    if short < rule.min_short_side:
        problems.append(
            f"Video {name} chỉ {info.display_width}×{info.display_height} điểm ảnh, quá nhỏ "
            f"cho {rule.label} (cạnh ngắn tối thiểu {rule.min_short_side}, nên dùng 1080×1920). "
            "Hãy dùng video gốc có độ phân giải cao hơn, hoặc ghi 'Dạng video: thường'."
        )
    if channel == ZALO and info.duration > zalo_max_seconds(limits.zalo_max_bytes):
        problems.append(
            f"Video {name} dài {duration_label(info.duration)}: nén xuống dưới "
            f"{_mb(limits.zalo_max_bytes)} cho Zalo (ZALO_VIDEO_MAX_MB) thì hình quá mờ. "
            f"Zalo nhận video dài tối đa khoảng "
            f"{duration_label(zalo_max_seconds(limits.zalo_max_bytes))}: hãy cắt ngắn video."
        )
    return problems


def facebook_channel(info: VideoInfo, form: str | None) -> str:
    """The rendition channel of the Facebook post: the form staff chose, else the default."""
    chosen = form or info.default_form
    return FACEBOOK_REELS if chosen == FORM_REELS else FACEBOOK_FEED


def warnings_for(info: VideoInfo, channel: str) -> list[str]:
    """What staff may want to know but that does not stop the clip (Vietnamese)."""
    name = info.path.name
    out: list[str] = []
    if channel == FACEBOOK_REELS and not info.portrait:
        out.append(
            f"Video {name} quay ngang ({info.display_width}×{info.display_height}): "
            "đăng dạng Reels sẽ có viền đen trên và dưới. Nên dùng video dọc 9:16."
        )
    if info.sensitive_metadata:
        out.append(
            f"Video {name} có thông tin vị trí hoặc thiết bị quay: sẽ được xóa trước khi đăng."
        )
    return out
