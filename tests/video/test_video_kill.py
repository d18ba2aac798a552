"""The daemon *process* is SIGKILLed at every upload step of a Reel, a feed video and a
Zalo video article (right after the platform processed the step, before its answer
arrives) and restarted each time: each video still ends on each channel exactly once,
and no half-uploaded video is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from social_publisher.sandbox import Sandbox
from social_publisher.sandbox.halves import SandboxRequest
from social_publisher.store import Database, Publication

from .conftest import write_clip

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEADLINE = 150.0


def _phase(req: SandboxRequest) -> str:
    return req.param("upload_phase") or ""


def _feed(phase: str) -> Callable[[SandboxRequest], bool]:
    return lambda r: (r.route or "").endswith("/{page}/videos") and _phase(r) == phase


#: every upload step of the three flows: (name, does this request perform it?)
STEPS: list[tuple[str, Callable[[SandboxRequest], bool]]] = [
    ("reel start", lambda r: r.route == "/{version}/{page}/video_reels" and _phase(r) == "start"),
    ("reel upload", lambda r: (r.route or "").startswith("/rupload/")),
    ("reel finish", lambda r: r.route == "/{version}/{page}/video_reels" and _phase(r) == "finish"),
    ("feed start", _feed("start")),
    ("feed transfer", _feed("transfer")),
    ("feed finish", _feed("finish")),
    ("video status", lambda r: r.method == "GET" and r.route == "/{version}/{video-id}"),
    ("zalo upload", lambda r: (r.route or "").endswith("/upload_video/preparevideo")),
    ("zalo video verify", lambda r: (r.route or "").endswith("/upload_video/verify")),
    ("zalo create", lambda r: r.route == "/zalo/v2.0/article/create"),
    ("zalo article verify", lambda r: r.route == "/zalo/v2.0/article/verify"),
]


class Killer:
    """Kills the running daemon at the first request of each step not yet killed at."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.killed: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, req: SandboxRequest) -> None:
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                return
            for name, matches in STEPS:
                if name not in self.killed and matches(req):
                    self.proc.send_signal(signal.SIGKILL)
                    self.proc.wait(10)
                    self.killed.append(name)
                    return


def write_post(queue: Path, name: str, title: str, due: datetime, channels: str) -> Path:
    folder = queue / name
    folder.mkdir(parents=True)
    (folder / "bai-viet.txt").write_text(
        f"Tiêu đề: {title}\nThời gian đăng: {due:%d/%m/%Y %H:%M}\nKênh: {channels}\n"
        f"Người duyệt: Võ Thanh Hùng\n\nNội dung {title}: video hướng dẫn.\n",
        encoding="utf-8",
    )
    return folder


def open_count(db: Database) -> tuple[int, int]:
    try:
        with db.session() as s:
            states = list(s.scalars(select(Publication.state)))
    except OperationalError:
        return 0, 0
    return sum(1 for st in states if st in ("published", "confirmed")), len(states)


def test_sigkill_at_every_upload_step_still_publishes_each_video_once(tmp_path: Path) -> None:
    public = tmp_path / "public"
    public.mkdir()
    sandbox = Sandbox(
        public_dir=public,
        zalo_processing_seconds=1.0,
        graphvideo_chunk_bytes=48_000,
        graphvideo_processing_polls=2,
        zalovideo_processing_polls=2,
    )
    killer = Killer()
    sandbox.after_processing = killer
    sandbox.start("127.0.0.1", 0)
    try:
        tz = ZoneInfo("Asia/Ho_Chi_Minh")
        due = datetime.now(tz) - timedelta(minutes=1)
        queue = tmp_path / "queue"
        reel = write_post(queue, "doc", "Reels ngày hội", due, "facebook, zalo")
        write_clip(reel / "clip.mp4", width=540, height=960, seconds=6, options={"g": "60"})
        # on Zalo too: the first article's create is killed (then found, adopted), the
        # second one's verify is
        feed = write_post(queue, "ngang", "Video hội nghị", due, "facebook, zalo")
        Image.new("RGB", (640, 360), (20, 90, 160)).save(feed / "bia.jpg")
        write_clip(feed / "clip.mp4", width=192, height=108, seconds=60, fps=24,
                   options={"g": "48"})  # fmt: skip
        assert (feed / "clip.mp4").stat().st_size > 3 * 48_000
        db_file = tmp_path / "data" / "sp.db"
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("FB_", "ZALO_", "DATABASE"))
            },
            **sandbox.env(),
            "DATABASE_URL": f"sqlite:///{db_file}",
            "QUEUE_DIR": str(queue),
            "LOG_DIR": str(tmp_path / "logs"),
            "MEDIA_CACHE_DIR": str(tmp_path / "cache"),
            "REPORT_DIR": str(tmp_path / "reports"),
            "AGENCIES_FILE": str(tmp_path / "agencies.csv"),
            "TIMEZONE": "Asia/Ho_Chi_Minh",
            "TICK_SECONDS": "1",
            "RETRY_BASE_SECONDS": "1",
            "RETRY_MAX_SECONDS": "2",
            "RETRY_MAX_ATTEMPTS": "60",
            "LEASE_SECONDS": "10",
            "ZALO_SETTLE_SECONDS": "3",
            "QUEUE_SETTLE_SECONDS": "0",
            "PYTHONUNBUFFERED": "1",
        }
        cmd = [sys.executable, "-m", "social_publisher", "--env-file",
               str(tmp_path / "none.env"), "run"]  # fmt: skip
        outputs = tmp_path / "outputs"
        outputs.mkdir()
        starts = 0

        def start() -> subprocess.Popen[bytes]:
            nonlocal starts
            with (
                (outputs / f"out-{starts}.txt").open("wb") as out,
                (outputs / f"err-{starts}.txt").open("wb") as err,
            ):
                proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=out, stderr=err)
            starts += 1
            return proc

        with killer.lock:
            killer.proc = start()
        db = Database(f"sqlite:///{db_file}")
        began = time.monotonic()
        try:
            while time.monotonic() - began < DEADLINE:
                with killer.lock:
                    if killer.proc.poll() is not None:  # killed: start the next daemon
                        killer.proc = start()
                done, total = open_count(db)
                if total == 4 and done == 4 and len(killer.killed) == len(STEPS):
                    break
                time.sleep(0.2)
            with killer.lock:
                proc, killer.proc = killer.proc, None
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
            with db.session() as s:
                pubs = [(p.post_id, p.channel, p.state, p.last_error) for p in
                        s.scalars(select(Publication))]  # fmt: skip
        finally:
            db.dispose()
        assert sorted(killer.killed) == sorted(name for name, _ in STEPS), killer.killed
        assert all(state in ("published", "confirmed") for *_, state, _ in pubs), pubs
        videos = sandbox.state()["graph_video"]["videos"]
        finished = [v for v in videos if v["finished"]]
        assert sorted(v["kind"] for v in finished) == ["feed", "reel"], videos
        assert all(v["published"] and v["received"] == v["file_size"] for v in finished)
        # an upload started but never finished: only where the daemon died before it
        # learnt the video id (the start's answer lost); none holds a byte
        others = [v for v in videos if not v["finished"]]
        assert all(v["received"] == 0 or v["cancelled"] for v in others), others
        articles = [
            a
            for a in sandbox.state()["zalo"]["articles"]
            if a["type"] == "video" and not a["removed"] and a["status"] == "show"
        ]
        assert sorted(a["title"] for a in articles) == ["Reels ngày hội", "Video hội nghị"]
        assert starts == len(STEPS) + 1
    finally:
        sandbox.stop()
