"""render_video: per-channel MP4s that are what the sheet asks, cached, made in a worker."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from social_publisher.errors import MediaError
from social_publisher.media.video import (
    FACEBOOK_FEED,
    FACEBOOK_REELS,
    ZALO,
    VideoLimits,
    WorkerLimits,
    probe_video,
    render_video,
)
from social_publisher.media.video.plan import plan_target
from social_publisher.media.video.probe import mp4_boxes
from social_publisher.media.video.transcode import scan_stream

from .conftest import ClipMaker

MAX_PIXELS = 80_000_000


def render(source: Path, cache: Path, limits: VideoLimits, worker: WorkerLimits, **kw: object):  # type: ignore[no-untyped-def]
    return render_video(
        source, cache_dir=cache, limits=limits, worker=worker, max_pixels=MAX_PIXELS, **kw
    )


def first_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return frame.to_ndarray(format="gray")
    raise AssertionError("no frame")


def test_a_clip_that_fits_is_copied_without_its_metadata(
    make_clip: ClipMaker, tmp_path: Path, limits: VideoLimits, worker_limits: WorkerLimits
) -> None:
    clip = make_clip(
        "fits.mp4",
        width=320,
        height=240,
        seconds=2,
        options={"profile": "high", "x264-params": "keyint=60"},
        metadata={"location": "+15.0+108.8/", "make": "Phone Co"},
    )
    assert probe_video(clip).sensitive_metadata
    result = render(clip, tmp_path / "cache", limits, worker_limits)
    assert set(result.renditions) == {FACEBOOK_FEED, ZALO}
    for rendition in result.renditions.values():
        assert not rendition.transcoded
        out = probe_video(rendition.path)
        assert out.sensitive_metadata == []
        assert (out.width, out.height) == (320, 240)
        boxes = [b.type for b in mp4_boxes(rendition.path)[0]]
        assert boxes.index("moov") < boxes.index("mdat")  # faststart
    # the same target for both channels: one file
    assert result.renditions[FACEBOOK_FEED].path == result.renditions[ZALO].path
    assert any("vị trí" in w for w in result.warnings)
    assert {c.channel for c in result.cover} == {"facebook", "zalo_cover"}


def test_a_phone_portrait_is_turned_upright(
    make_clip: ClipMaker, tmp_path: Path, limits: VideoLimits, worker_limits: WorkerLimits
) -> None:
    # coded landscape, bright on its left; rotation 90 (counter-clockwise) to show it
    clip = make_clip("phone.mov", width=320, height=240, seconds=2, rotation=90, left_bright=True,
                     fps=25, sample_rate=44_100)  # fmt: skip
    result = render(clip, tmp_path / "cache", limits, worker_limits, channels=(FACEBOOK_FEED,))
    rendition = result.renditions[FACEBOOK_FEED]
    assert rendition.transcoded
    out = probe_video(rendition.path)
    assert (out.width, out.height, out.rotation) == (240, 320, 0)
    assert out.profile == "High" and out.pixel_format == "yuv420p"
    assert out.fps == Fraction(25)  # a plain 25 fps source keeps its rate
    assert out.audio is not None and (out.audio.sample_rate, out.audio.channels) == (48_000, 2)
    gray = first_frame(rendition.path)
    # the coded left side is the displayed bottom after a counter-clockwise turn
    assert gray[200:].mean() > 150 > 60 > gray[:120].mean()
    cover = next(c for c in result.cover if c.channel == "facebook")
    assert (cover.width, cover.height) == (240, 320)


def test_webm_screen_recording_is_padded_transcoded_and_cfr(
    make_clip: ClipMaker, tmp_path: Path, limits: VideoLimits, worker_limits: WorkerLimits
) -> None:
    # 9:19.5, like a phone's screen recording; VP9 in WebM; no audio
    clip = make_clip("screen.webm", width=180, height=390, seconds=2, codec="libvpx-vp9",
                     audio=False, fps=60)  # fmt: skip
    result = render(
        clip, tmp_path / "cache", limits, worker_limits, channels=(FACEBOOK_FEED, ZALO), cover=False
    )
    rendition = result.renditions[FACEBOOK_FEED]
    out = probe_video(rendition.path)
    assert out.codec == "h264" and out.audio is None
    assert out.width / out.height == pytest.approx(9 / 16, abs=0.02)  # padded to 9:16
    assert out.fps == Fraction(30)  # 60 fps becomes a constant 30
    scan = scan_stream(rendition.path)
    assert scan.constant_rate and scan.max_gop_seconds <= 2.05


def test_reels_rendition_is_9_16(
    make_clip: ClipMaker, tmp_path: Path, limits: VideoLimits, worker_limits: WorkerLimits
) -> None:
    clip = make_clip("reel.mp4", width=540, height=720, seconds=3.2)
    result = render(clip, tmp_path / "cache", limits, worker_limits, cover=False)
    assert set(result.renditions) == {FACEBOOK_REELS, ZALO}  # the default form of an upright clip
    reel = probe_video(result.renditions[FACEBOOK_REELS].path)
    assert (reel.width, reel.height) == (540, 960)
    assert reel.audio is not None and reel.audio.sample_rate == 48_000


def test_second_render_comes_from_the_cache_and_a_damaged_file_is_remade(
    make_clip: ClipMaker, tmp_path: Path, limits: VideoLimits, worker_limits: WorkerLimits
) -> None:
    clip = make_clip("again.mp4", width=320, height=240, seconds=1.5, rotation=180)
    cache = tmp_path / "cache"
    first = render(clip, cache, limits, worker_limits, channels=(FACEBOOK_FEED,), cover=False)
    assert first.made == (FACEBOOK_FEED,)
    second = render(clip, cache, limits, worker_limits, channels=(FACEBOOK_FEED,), cover=False)
    assert second.made == ()
    assert second.renditions == first.renditions
    path = first.renditions[FACEBOOK_FEED].path
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    third = render(clip, cache, limits, worker_limits, channels=(FACEBOOK_FEED,), cover=False)
    assert third.made == (FACEBOOK_FEED,)
    assert third.renditions[FACEBOOK_FEED].sha256 == first.renditions[FACEBOOK_FEED].sha256


def test_zalo_rendition_stays_under_its_cap(
    make_clip: ClipMaker, tmp_path: Path, limits: VideoLimits, worker_limits: WorkerLimits
) -> None:
    # noise at 640x360 for 3 s weighs megabytes at CRF 23: only the bitrate cap keeps it small
    clip = make_clip("busy.mp4", width=640, height=360, seconds=3, noise=True)
    small = replace(limits, zalo_max_bytes=400_000)
    assert clip.stat().st_size > small.zalo_max_bytes
    result = render(clip, tmp_path / "cache", small, worker_limits, channels=(ZALO,), cover=False)
    rendition = result.renditions[ZALO]
    assert rendition.transcoded and rendition.bytes <= small.zalo_max_bytes


def test_plan_caps_zalo_bitrate_and_size_for_long_clips(
    make_clip: ClipMaker, limits: VideoLimits
) -> None:
    # a 10-minute 1080p clip from a phone held sideways, as the probe would see it
    clip = make_clip("plan.mp4", width=64, height=48, seconds=1)
    info = replace(probe_video(clip), duration=600.0, width=1080, height=1920, rotation=270)
    scan = scan_stream(clip)
    zalo = plan_target(info, scan, ZALO, limits)
    assert zalo.max_bitrate is not None
    assert (zalo.max_bitrate + 128_000) * (600 + 2) <= 50_000_000 * 8
    assert min(zalo.width, zalo.height) == 480  # about 500 kbps: 480p looks better than 1080p
    feed = plan_target(info, scan, FACEBOOK_FEED, limits)
    assert (feed.width, feed.height) == (1920, 1080) and feed.max_bitrate == 8_000_000
    assert feed.transcodes and feed.rotation == 270
    short = plan_target(replace(info, duration=60.0), scan, ZALO, limits)
    assert min(short.width, short.height) == 1080
    with pytest.raises(MediaError, match="Reels"):
        plan_target(info, scan, FACEBOOK_REELS, limits)


def test_progress_is_reported(
    make_clip: ClipMaker, tmp_path: Path, limits: VideoLimits, worker_limits: WorkerLimits
) -> None:
    clip = make_clip("progress.mp4", width=320, height=240, seconds=2, rotation=90)
    seen: list[tuple[str, float, float]] = []
    render(clip, tmp_path / "cache", limits, worker_limits, channels=(FACEBOOK_FEED,),
           cover=False, progress=lambda c, d, t: seen.append((c, d, t)))  # fmt: skip
    assert seen and all(c == FACEBOOK_FEED for c, _, _ in seen)
    assert seen[-1][1] == seen[-1][2] == pytest.approx(2.0, abs=0.1)
    assert [d for _, d, _ in seen] == sorted(d for _, d, _ in seen)


def test_the_watchdog_kills_a_worker_past_its_time(
    make_clip: ClipMaker, tmp_path: Path, limits: VideoLimits
) -> None:
    clip = make_clip("slow.mp4", width=320, height=240, seconds=1)
    started = time.monotonic()
    with pytest.raises(MediaError) as caught:
        render(clip, tmp_path / "cache", limits, WorkerLimits(timeout_seconds=0.05, memory_mb=3072))
    assert time.monotonic() - started < 10
    assert (
        "VIDEO_TRANSCODE_TIMEOUT_SECONDS" in caught.value.message
        and "slow.mp4" in caught.value.message
    )
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_the_memory_limit_stops_the_worker_not_the_caller(
    make_clip: ClipMaker, tmp_path: Path, limits: VideoLimits
) -> None:
    clip = make_clip("hungry.mp4", width=320, height=240, seconds=1)
    with pytest.raises(MediaError) as caught:
        render(clip, tmp_path / "cache", limits, WorkerLimits(timeout_seconds=60, memory_mb=150))
    assert "VIDEO_TRANSCODE_MEMORY_MB" in caught.value.message
    assert "hungry.mp4" in caught.value.message


def test_a_refused_clip_raises_from_the_worker(
    tmp_path: Path, limits: VideoLimits, worker_limits: WorkerLimits
) -> None:
    clip = tmp_path / "empty.mp4"
    clip.write_bytes(b"")
    with pytest.raises(MediaError, match="0 byte"):
        render(clip, tmp_path / "cache", limits, worker_limits)


def test_media_render_takes_a_video(
    make_clip: ClipMaker, tmp_path: Path, env: dict[str, str]
) -> None:
    import io
    import json

    from social_publisher.cli import main

    clip = make_clip("Lễ hội.mov", width=320, height=240, seconds=2, rotation=90)
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["--env-file", str(env_file), "media", "render", str(clip), "--out", str(tmp_path / "out"),
         "--json"], out=out, err=err,
    )  # fmt: skip
    assert code == 0, out.getvalue() + err.getvalue()
    (result,) = json.loads(out.getvalue())
    assert result["ok"] and result["video"]["rotation"] == 90
    channels = {r["channel"] for r in result["renditions"]}
    assert channels == {"facebook", "zalo"}
    for r in result["renditions"]:
        assert Path(r["path"]).name.startswith("Lễ hội.") and Path(r["path"]).is_file()
        assert probe_video(Path(r["path"])).rotation == 0
    assert {c["channel"] for c in result["cover"]} == {"facebook", "zalo_cover"}
    assert "100%" in err.getvalue() and "Lễ hội.mov" in err.getvalue()  # progress on stderr
    # the console form, and a refused clip beside it
    bad = tmp_path / "rong.mp4"
    bad.write_bytes(b"")
    out = io.StringIO()
    code = main(
        ["--env-file", str(env_file), "media", "render", str(clip), str(bad), "--out",
         str(tmp_path / "out")], out=out, err=io.StringIO(),
    )  # fmt: skip
    text = out.getvalue()
    assert code == 1
    assert "Facebook (video thường)" in text and "0 byte" in text
    assert text.strip().endswith("Xong: 1/2 tệp đã xử lý, 1 tệp bị từ chối.")


def test_prune_treats_video_entries_like_photos(
    make_clip: ClipMaker, tmp_path: Path, limits: VideoLimits, worker_limits: WorkerLimits
) -> None:
    from social_publisher.media.cache import prune

    clip = make_clip("prune.mp4", width=320, height=240, seconds=1, rotation=90)
    cache = tmp_path / "cache"
    result = render(clip, cache, limits, worker_limits, channels=(FACEBOOK_FEED,))
    mp4 = result.renditions[FACEBOOK_FEED].path
    old = time.time() - 10 * 86_400
    for path in mp4.parent.iterdir():
        os.utime(path, (old, old))
    # a hit renews the record: the MP4 (older than the cutoff itself) is kept with it
    render(clip, cache, limits, worker_limits, channels=(FACEBOOK_FEED,), cover=False)
    prune(cache, keep_days=5)
    assert mp4.is_file() and mp4.with_suffix(".json").is_file()
    pruned = prune(cache, keep_days=5, now=time.time() + 30 * 86_400)
    assert pruned.entries >= 2 and not mp4.exists()  # the rendition and the cover frame
