"""Running FFmpeg work in a child process with a time and a memory limit.

A clip is untrusted input to a large C library. Decoding it in the daemon would let a
hostile or merely broken file hang the publishing loop (a demuxer spinning), exhaust the
PC's memory (a huge frame, a decoder bug) or kill the process outright (a crash). So
every probe, transcode and frame grab runs in a fresh Python process
(``python -m social_publisher.media.video.worker``: the same on Windows and Linux, safe
beside the daemon's threads, and independent of how the parent was started), fed one
pickled job on stdin and answering pickled messages on stdout:

- memory: on Linux the child sets ``RLIMIT_AS`` (its address space) before it imports
  PyAV, so an allocation past ``VIDEO_TRANSCODE_MEMORY_MB`` fails inside the child
  (MemoryError or a crash), never in the daemon; core dumps are off;
- time: the parent's watchdog kills the child past ``VIDEO_TRANSCODE_TIMEOUT_SECONDS``
  (on every platform), whatever the child is doing;
- progress: the child sends ``(seconds done, seconds total)`` over the pipe; the parent
  hands it to the caller's callback (``media render`` prints it; the log records it).

Any way the child can end badly becomes a :class:`MediaError` naming the file and the
fix; the parent process is never at risk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ...errors import MediaError

log = logging.getLogger("social_publisher.media.video")

ProgressCallback = Callable[[float, float], None]

#: what a probe may take at most (it decodes one frame): far less than a transcode
PROBE_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class WorkerLimits:
    timeout_seconds: float = 3600.0
    memory_mb: int = 3072

    @classmethod
    def from_settings(cls, settings: Any) -> WorkerLimits:
        return cls(
            timeout_seconds=float(settings.video_transcode_timeout_seconds),
            memory_mb=int(settings.video_transcode_memory_mb),
        )


def _limit_memory(memory_bytes: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    import resource

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def child_main() -> None:
    """The worker process (``python -m social_publisher.media.video.worker``).

    Reads one pickled ``(job, memory bytes)`` from stdin and writes pickled messages to
    its original stdout; fd 1 is then pointed at stderr, so nothing FFmpeg or a library
    prints can corrupt the message stream.
    """
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    job, memory_bytes = pickle.load(sys.stdin.buffer)
    _limit_memory(int(memory_bytes))

    def send(*message: Any) -> None:
        pickle.dump(message, channel, protocol=pickle.HIGHEST_PROTOCOL)
        channel.flush()

    try:
        from . import jobs

        result = jobs.run(job, lambda done, total: send("progress", done, total))
        send("ok", result)
    except MediaError as exc:
        send("refused", exc.message)
    except MemoryError:
        with contextlib.suppress(BaseException):
            send("memory", "")
    except BaseException as exc:  # anything else is reported, then the child ends
        with contextlib.suppress(BaseException):
            send("crash", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    finally:
        with contextlib.suppress(BaseException):
            channel.close()


def _read_messages(stream: IO[bytes], inbox: queue.Queue[tuple[Any, ...] | None]) -> None:
    try:
        while True:
            inbox.put(pickle.load(stream))
    except Exception:  # EOF (the child ended) or a torn message (it was killed)
        inbox.put(None)


def run_job(
    job: dict[str, Any],
    *,
    source: Path,
    limits: WorkerLimits,
    timeout: float | None = None,
    on_progress: ProgressCallback | None = None,
) -> Any:
    """Run ``job`` (see :mod:`.jobs`) in a child process; its result, or MediaError."""
    timeout = limits.timeout_seconds if timeout is None else timeout
    name = Path(source).name
    started = time.monotonic()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        assert process.stdin is not None and process.stdout is not None
        inbox: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        reader = threading.Thread(
            target=_read_messages, args=(process.stdout, inbox), name="video-worker", daemon=True
        )
        reader.start()
        try:
            try:
                pickle.dump((job, limits.memory_mb * 1024 * 1024), process.stdin)
                process.stdin.close()
            except OSError:
                pass  # the child died at once: reported below like any other death
            deadline = started + timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    process.kill()
                    log.warning("video %s: %s killed after %.0fs", source, job.get("kind"), timeout)
                    raise MediaError(
                        f"Video {name}: xử lý quá {timeout:.0f} giây nên đã dừng "
                        "(VIDEO_TRANSCODE_TIMEOUT_SECONDS). Tệp có thể bị hỏng hoặc quá dài: "
                        "hãy xuất lại video thành MP4 (H.264) 1080p, hoặc tăng giới hạn này.",
                        path=str(source),
                    )
                try:
                    message = inbox.get(timeout=min(remaining, 0.5))
                except queue.Empty:
                    continue
                if message is None:
                    break
                kind = message[0]
                if kind == "progress":
                    if on_progress is not None:
                        on_progress(float(message[1]), float(message[2]))
                    continue
                if kind == "ok":
                    log.debug(
                        "video %s: %s done in %.1fs",
                        source,
                        job.get("kind"),
                        time.monotonic() - started,
                    )
                    return message[1]
                if kind == "refused":
                    raise MediaError(str(message[1]), path=str(source))
                if kind == "memory":
                    raise _memory_error(name, source, limits)
                log.error("video %s: worker failed: %s", source, message[1])
                raise MediaError(
                    f"Lỗi ngoài dự kiến khi xử lý video {name}. Hãy báo cho bộ phận kỹ thuật, "
                    "kèm tệp video này.",
                    path=str(source),
                )
            # the child ended without an answer: killed by the memory limit, or it crashed
            code = process.wait(5)
            errors.seek(0)
            tail = errors.read()[-2000:].decode("utf-8", errors="replace")
            log.warning(
                "video %s: worker ended without an answer (exit code %s): %s", source, code, tail
            )
            raise _memory_error(name, source, limits, code)
        finally:
            if process.poll() is None:
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
            reader.join(5)
            process.stdout.close()


def _memory_error(
    name: str, source: Path, limits: WorkerLimits, code: int | None = None
) -> MediaError:
    detail = f" (mã thoát {code})" if code is not None else ""
    return MediaError(
        f"Video {name}: việc xử lý bị dừng vì cần quá nhiều bộ nhớ hoặc tệp làm bộ giải mã "
        f"gặp lỗi{detail}; giới hạn {limits.memory_mb} MB (VIDEO_TRANSCODE_MEMORY_MB). "
        "Hãy xuất lại video thành MP4 (H.264) 1080p; nếu video vẫn xem được bình thường, "
        "tăng giới hạn này.",
        path=str(source),
    )


if __name__ == "__main__":
    child_main()
