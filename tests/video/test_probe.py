"""probe_video: the facts of real (generated) clips, and every refusal in Vietnamese."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import av
import pytest
from PIL import Image

from social_publisher.errors import MediaError
from social_publisher.media.video import (
    FACEBOOK_REELS,
    FORM_FEED,
    FORM_REELS,
    ZALO,
    VideoLimits,
    channel_problems,
    probe_video,
)
from social_publisher.media.video.probe import duration_label, sniff

from .conftest import ClipMaker, write_huge_frame, write_voice


def refusal(path: Path, limits: VideoLimits | None = None) -> str:
    with pytest.raises(MediaError) as caught:
        probe_video(path, limits)
    message = caught.value.message
    assert path.name in message, message
    assert caught.value.path == str(path)
    return message


# ---------------------------------------------------------------- facts


def test_landscape_mp4_with_audio(make_clip: ClipMaker) -> None:
    clip = make_clip("land.mp4", width=320, height=240, seconds=2, fps=25)
    info = probe_video(clip)
    assert (info.width, info.height, info.rotation) == (320, 240, 0)
    assert info.codec == "h264" and info.pixel_format == "yuv420p"
    assert float(info.fps or 0) == 25
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert info.audio is not None and info.audio.codec == "aac" and info.audio.channels == 2
    assert info.audio.sample_rate == 48_000
    assert info.bytes == clip.stat().st_size and info.bitrate
    assert not info.interlaced and not info.portrait
    assert info.default_form == FORM_FEED


def test_phone_portrait_is_a_rotated_landscape_frame(make_clip: ClipMaker) -> None:
    clip = make_clip("phone.mov", width=960, height=540, seconds=3.5, rotation=90, audio=False)
    info = probe_video(clip)
    assert (info.width, info.height) == (960, 540)
    assert info.rotation == 90
    assert (info.display_width, info.display_height) == (540, 960)
    assert info.portrait and info.audio is None
    assert info.default_form == FORM_REELS  # upright, 3-90 s, 540 px wide


def test_webm_vp9_without_audio(make_clip: ClipMaker) -> None:
    clip = make_clip(
        "screen.webm", width=64, height=128, seconds=1.5, codec="libvpx-vp9", audio=False
    )
    info = probe_video(clip)
    assert info.container == "matroska,webm" and info.codec == "vp9"
    assert info.audio is None and info.portrait
    # too small for a Reel: a feed video by default
    assert info.default_form == FORM_FEED


def test_location_and_device_are_seen(make_clip: ClipMaker) -> None:
    clip = make_clip("gps.mp4", metadata={"location": "+15.1+108.8/", "make": "Phone Co"})
    info = probe_video(clip)
    assert "location" in info.sensitive_metadata


def test_default_form_long_portrait_is_feed(make_clip: ClipMaker) -> None:
    # 95 s upright at 540x960, only a few frames: too long for a Reel
    clip = make_clip("long.mp4", width=540, height=960, audio=False, timestamps=[0, 47, 95])
    info = probe_video(clip)
    assert info.duration == pytest.approx(95, abs=1)
    assert info.default_form == FORM_FEED


# ---------------------------------------------------------------- refusals


def test_zero_bytes(tmp_path: Path) -> None:
    clip = tmp_path / "empty.mp4"
    clip.write_bytes(b"")
    message = refusal(clip)
    assert "0 byte" in message and "chép lại" in message


def test_missing_file(tmp_path: Path) -> None:
    assert "không tìm thấy" in refusal(tmp_path / "absent.mp4")


def test_truncated_mp4_without_its_index(make_clip: ClipMaker) -> None:
    clip = make_clip("cut.mp4", seconds=3)
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) // 2])  # moov is at the end: never reached
    message = refusal(clip)
    assert "cắt dở" in message and "chép lại" in message


def test_truncated_faststart_mp4(make_clip: ClipMaker) -> None:
    clip = make_clip("cut-fast.mp4", seconds=3)
    whole = clip.parent / "whole.mp4"
    # remux with the index first, then cut: the index promises data that is not there
    with (
        av.open(str(clip)) as inp,
        av.open(str(whole), "w", options={"movflags": "+faststart"}) as out,
    ):
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    data = whole.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")
    cut = clip.parent / "cut2.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    assert "cắt dở" in refusal(cut)


def test_truncated_mkv(make_clip: ClipMaker) -> None:
    clip = make_clip(
        "cut.mkv", seconds=4, codec="libx264", audio=False, container_format="matroska"
    )
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) // 3])
    assert "cắt dở" in refusal(clip)


def test_renamed_jpeg(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(buf, "JPEG")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(buf.getvalue())
    message = refusal(clip)
    assert "ảnh JPEG" in message and "đổi tên" in message and ".mp4" in message


def test_sniff_knows_photos_and_documents() -> None:
    assert sniff(b"\x89PNG\r\n\x1a\n" + b"\0" * 8) == "ảnh PNG"
    assert sniff(b"\0\0\0\x18ftypheic" + b"\0" * 8) == "ảnh HEIF/HEIC của điện thoại"
    assert sniff(b"%PDF-1.7") == "tài liệu PDF"
    assert sniff(b"\0\0\0\x18ftypisom") is None


def test_no_video_stream(tmp_path: Path) -> None:
    clip = tmp_path / "voice.mp4"
    write_voice(clip)
    message = refusal(clip)
    assert "không có hình" in message


def test_unsupported_codec(make_clip: ClipMaker) -> None:
    clip = make_clip("archive.mkv", codec="ffv1", pix_fmt="yuv420p", audio=False, seconds=1.2)
    message = refusal(clip)
    assert "ffv1" in message and "MP4 (H.264)" in message


def test_a_gif_is_not_a_video(tmp_path: Path) -> None:
    clip = tmp_path / "anim.mp4"
    frames = [Image.new("RGB", (32, 32), (i * 40, 0, 0)) for i in range(3)]
    frames[0].save(clip, "GIF", save_all=True, append_images=frames[1:])
    assert "ảnh GIF" in refusal(clip)


def test_huge_frame_is_refused_before_decoding(tmp_path: Path) -> None:
    clip = tmp_path / "huge.avi"
    write_huge_frame(clip)
    message = refusal(clip)
    assert "10000×10000" in message and "1080p" in message


def test_four_hour_clip(make_clip: ClipMaker) -> None:
    clip = make_clip("meeting.mp4", audio=False, timestamps=[0.0, 2.0, 4 * 3600.0])
    message = refusal(clip)
    assert "4 giờ" in message and "VIDEO_MAX_SECONDS" in message and "cắt" in message


def test_too_big(make_clip: ClipMaker, limits: VideoLimits) -> None:
    clip = make_clip("heavy.mp4", seconds=1)
    message = refusal(clip, replace(limits, max_bytes=clip.stat().st_size - 1))
    assert "VIDEO_MAX_MB" in message and "quá giới hạn" in message


def test_too_short(make_clip: ClipMaker) -> None:
    clip = make_clip("blink.mp4", seconds=0.3, audio=False)
    assert "dài hơn" in refusal(clip)


# ---------------------------------------------------------------- per channel


def test_too_long_for_reels(make_clip: ClipMaker, limits: VideoLimits) -> None:
    clip = make_clip("reel.mp4", width=540, height=960, audio=False, timestamps=[0, 50, 100])
    info = probe_video(clip)
    problems = channel_problems(info, FACEBOOK_REELS, limits)
    assert len(problems) == 1
    assert "reel.mp4" in problems[0] and "quá dài cho Facebook Reels" in problems[0]
    assert "1 phút 30 giây" in problems[0] and "Dạng video: thường" in problems[0]
    assert channel_problems(info, "facebook", limits) == []


def test_too_small_for_reels(make_clip: ClipMaker, limits: VideoLimits) -> None:
    info = probe_video(make_clip("tiny.mp4", width=64, height=128, seconds=4, audio=False))
    (problem,) = channel_problems(info, FACEBOOK_REELS, limits)
    assert "quá nhỏ" in problem and "540" in problem


def test_too_long_for_zalo_size(make_clip: ClipMaker, limits: VideoLimits) -> None:
    info = probe_video(make_clip("talk.mp4", audio=False, timestamps=[0, 10, 40]))
    small = replace(limits, zalo_max_bytes=1_000_000)
    (problem,) = channel_problems(info, ZALO, small)
    assert "Zalo" in problem and "ZALO_VIDEO_MAX_MB" in problem and "cắt ngắn" in problem
    assert channel_problems(info, ZALO, limits) == []


def test_duration_labels() -> None:
    assert duration_label(4 * 3600) == "4 giờ 0 phút"
    assert duration_label(125) == "2 phút 5 giây"
    assert duration_label(90) == "1 phút 30 giây"
    assert duration_label(12.4) == "12 giây"
