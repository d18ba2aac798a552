"""Transcode time and peak memory: the tool's worker against a plain ffmpeg command line.

Run: ``.venv/bin/python bench/bench_video.py [--seconds 60]`` (needs the ``bench`` extra,
``imageio-ffmpeg``, for the ffmpeg binary, or an ``ffmpeg`` on PATH).

1. Writes a 60 s 1080p30 clip with PyAV (a moving pattern and a tone, H.264 at
   ``ultrafast``); the job below asks for a transcode (never a "fits" copy).
2. Transcodes it to the Facebook target through the real worker process
   (``python -m social_publisher.media.video.worker``, the same pickled job the daemon
   sends), and with ``ffmpeg`` given the same settings (libx264 High ``veryfast`` CRF 23,
   maxrate 8 Mbps, bufsize 16 Mbps, closed 2 s GOP without scene cuts, 30 fps CFR,
   yuv420p, AAC 128 kbps 48 kHz stereo, ``+faststart``). Wall time and each child's peak
   RSS (``wait4``) are printed; the goal is within 1.2x of ffmpeg's time.
3. Idle memory: the RSS of a process that imports the daemon and publisher modules,
   against the same plus ``import av`` (what the daemon would carry if it loaded PyAV at
   start; ``tests/video/test_lazy_import.py`` checks it does not).
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from social_publisher.media.video.probe import VideoLimits, probe_video
from social_publisher.media.video.rules import VideoTarget


def make_source(path: Path, seconds: int) -> None:
    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=30)
    stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
    stream.codec_context.options = {"preset": "ultrafast", "crf": "18"}
    audio = out.add_stream("aac", rate=48_000)
    audio.layout = "stereo"
    yy, xx = np.mgrid[0:1080, 0:1920]
    base = (xx // 8 + yy // 8).astype(np.int32)
    for i in range(seconds * 30):
        luma = ((base + i * 4) % 220 + 16).astype(np.uint8)
        rgb = np.stack([luma, luma[:, ::-1], luma], axis=2)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    rate = 48_000
    for start in range(0, seconds * rate, 1024):
        t = np.arange(start, start + 1024) / rate
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = rate, start
        for packet in audio.encode(frame):
            out.mux(packet)
    for packet in audio.encode():
        out.mux(packet)
    out.close()


def run_child(cmd: list[str], stdin: bytes | None = None) -> tuple[float, float, bytes]:
    """(seconds, peak RSS in MB, stdout) of one child process (its own ``wait4`` usage)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdin is not None and proc.stdout is not None
    if stdin:
        proc.stdin.write(stdin)
    proc.stdin.close()
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    if code:
        raise SystemExit(f"{cmd[0]} failed with {code}")
    return elapsed, usage.ru_maxrss / 1024, out


def ffmpeg_binary() -> str:
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def idle_rss(extra: str) -> float:
    code = (
        "import social_publisher.cli, social_publisher.services.daemon, "
        f"social_publisher.services.publisher{extra}\n"
        "status = open('/proc/self/status').read()\n"
        "print(status.split('VmRSS:')[1].split()[0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-video-"))
    source = work / "source.mp4"
    t = time.perf_counter()
    make_source(source, args.seconds)
    info = probe_video(source)
    written = time.perf_counter() - t
    size = source.stat().st_size / 1e6
    print(f"source: {info.width}x{info.height} {info.fps} fps {info.duration:.1f} s {size:.1f} MB"
          f" (written in {written:.1f} s)")  # fmt: skip

    target = VideoTarget(
        channel="facebook", width=1920, height=1080, picture_width=1920, picture_height=1080,
        fps="30", rotation=0, max_bitrate=8_000_000, audio=True, max_bytes=1_000_000_000,
    )  # fmt: skip
    ours = work / "ours.mp4"
    job = {
        "kind": "transcode", "source": str(source), "limits": VideoLimits(), "target": target,
        "out": str(ours), "interlaced": False, "duration": info.duration,
    }  # fmt: skip
    payload = pickle.dumps((job, 8 * 1024**3))
    cmd = [sys.executable, "-m", "social_publisher.media.video.worker"]
    our_time, our_peak, _ = run_child(cmd, payload)

    theirs = work / "ffmpeg.mp4"
    gop = 60
    ff = [
        ffmpeg_binary(), "-nostdin", "-y", "-i", str(source), "-map_metadata", "-1",
        "-vf", "scale=1920:1080:flags=bicubic,setsar=1,fps=fps=30,format=yuv420p",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-profile:v", "high",
        "-x264-params", f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0",
        "-maxrate", "8000000", "-bufsize", "16000000",
        "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2",
        "-movflags", "+faststart", str(theirs),
    ]  # fmt: skip
    ff_time, ff_peak, _ = run_child(ff)

    for name, path in (("ours", ours), ("ffmpeg", theirs)):
        out = probe_video(path)
        print(f"{name:>7}: {out.width}x{out.height} {out.profile} {out.fps} fps "
              f"{out.duration:.1f} s {path.stat().st_size / 1e6:.1f} MB")  # fmt: skip
    ratio = our_time / ff_time
    print(f"transcode time: worker {our_time:.1f} s, ffmpeg {ff_time:.1f} s, ratio {ratio:.2f}x "
          f"(goal <= 1.2x: {'met' if ratio <= 1.2 else 'NOT met'})")  # fmt: skip
    print(f"peak RSS: worker {our_peak:.0f} MB, ffmpeg {ff_peak:.0f} MB")
    plain, with_av = idle_rss(""), idle_rss(", av")
    print(f"idle daemon modules: {plain:.1f} MB; if PyAV were imported too: {with_av:.1f} MB "
          f"(+{with_av - plain:.1f} MB, avoided by importing it only for a video)")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
