"""End to end: the daemon *process* publishes 30 posts through the sandbox over real HTTP,
with faults on, while it is SIGKILLed at seeded random moments and restarted.

Afterwards every post is on each channel exactly once with all its photos, and no
secret appears in anything the run wrote (outputs, logs, the database outside the
token table).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from social_publisher.sandbox import Sandbox
from social_publisher.store import Database, Publication

from .conftest import write_image

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
FAULTS = (
    "graph.create=500:0.05,graph.create=drop:0.05,graph.create=code:2:0.04,"
    "graph.create=code:4:0.02,graph.read=code:4:0.01,"
    "zalo.create=drop:0.08,zalo.create=500:0.08,zalo.create=code:-32:0.03,"
    "zalo.verify=code:-214:0.2,zalo.getslice=code:-32:0.02"
)
POSTS = 30
DEADLINE = 50.0


def write_queue(queue: Path, due: datetime) -> dict[str, int]:
    photos: dict[str, int] = {}
    for i in range(POSTS):
        folder = queue / f"bai-{i:02d}"
        folder.mkdir(parents=True)
        count = (0, 1, 5)[i % 3]
        names = [
            write_image(folder / f"anh-{k}.jpg", seed=i * 10 + k, size=(320, 240))["name"]
            for k in range(count)
        ]
        header = [
            f"Tiêu đề: Bài thử nghiệm số {i:02d} về chuyển đổi số",
            f"Thời gian đăng: {due:%d/%m/%Y %H:%M}",
            "Kênh: facebook, zalo",
            "Người duyệt: Võ Thanh Hùng",
        ]
        if names:
            header.append(f"Ảnh: {', '.join(names)}")
        body = f"Nội dung bài số {i:02d}: người dân Đức Phổ dùng dịch vụ công trực tuyến."
        (folder / "bai-viet.txt").write_text(
            "\n".join(header) + "\n\n" + body + "\n", encoding="utf-8"
        )
        photos[f"{i:02d}"] = count
    return photos


def open_count(db: Database) -> tuple[int, int]:
    try:
        with db.session() as s:
            states = list(s.scalars(select(Publication.state)))
    except OperationalError:  # the first daemon has not created the schema yet
        return 0, 0
    done = sum(1 for st in states if st in ("published", "confirmed"))
    return done, len(states)


def test_kill_restart_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("E2E_SEED", "20261126")))
    public = tmp_path / "public"
    public.mkdir()
    sandbox = Sandbox(
        faults=FAULTS,
        seed=int(os.environ.get("E2E_SEED", "7")) % 1000,
        public_dir=public,
        zalo_processing_seconds=2.0,
    )
    url = sandbox.start("127.0.0.1", 0)
    try:
        tz = ZoneInfo("Asia/Ho_Chi_Minh")
        photos = write_queue(tmp_path / "queue", datetime.now(tz) - timedelta(minutes=1))
        db_file = tmp_path / "data" / "sp.db"
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("FB_", "ZALO_", "DATABASE"))
            },
            **sandbox.env(),
            "DATABASE_URL": f"sqlite:///{db_file}",
            "QUEUE_DIR": str(tmp_path / "queue"),
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
            "ZALO_SETTLE_SECONDS": "5",
            # the folders are written before the first start: a short settle keeps the
            # run inside its deadline while every post still waits for it
            "QUEUE_SETTLE_SECONDS": "2",
            "PYTHONUNBUFFERED": "1",
        }
        secrets = [
            env[k]
            for k in (
                "FB_PAGE_ACCESS_TOKEN",
                "FB_APP_SECRET",
                "ZALO_APP_SECRET",
                "ZALO_ACCESS_TOKEN",
                "ZALO_REFRESH_TOKEN",
            )
            if env.get(k)
        ]
        outputs = tmp_path / "outputs"
        outputs.mkdir()
        cmd = [
            sys.executable,
            "-m",
            "social_publisher",
            "--env-file",
            str(tmp_path / "none.env"),
            "run",
        ]

        def start(n: int) -> subprocess.Popen[bytes]:
            with (
                (outputs / f"out-{n}.txt").open("wb") as out,
                (outputs / f"err-{n}.txt").open("wb") as err,
            ):  # the child keeps its own copies of both
                return subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=out, stderr=err)

        started = time.monotonic()
        procs = [start(0)]
        proc = procs[0]
        kills = 0
        for n in range(1, 6):  # five SIGKILLs at seeded random moments
            time.sleep(rng.uniform(0.8, 3.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            kills += 1
            proc = start(n)
            procs.append(proc)

        db = Database(f"sqlite:///{db_file}")
        try:
            while time.monotonic() - started < DEADLINE:
                done, total = open_count(db)
                if total == 2 * POSTS and done == total:
                    break
                time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0  # graceful stop
            done, total = open_count(db)
            with db.session() as s:
                stuck = [
                    (p.post_id, p.channel, p.state, p.attention_reason or p.last_error)
                    for p in s.scalars(select(Publication))
                    if p.state not in ("published", "confirmed")
                ]
            assert (done, total) == (2 * POSTS, 2 * POSTS), stuck
            # Tokens the run may have rotated: also secrets.
            with sqlite3.connect(db_file) as conn:
                secrets += [
                    v
                    for row in conn.execute(
                        "SELECT access_token, refresh_token FROM platform_tokens"
                    )
                    for v in row
                    if v
                ]
                dump = "\n".join(line for line in conn.iterdump() if "platform_tokens" not in line)
        finally:
            db.dispose()

        state = sandbox.state()
        assert kills == 5
        fb_live = [p for p in state["graph"]["posts"] if p["published"]]
        articles = [
            a for a in state["zalo"]["articles"] if not a["removed"] and a["status"] == "show"
        ]
        for key, count in photos.items():
            fb = [p for p in fb_live if f"bài số {key}:" in (p["message"] or "")]
            assert len(fb) == 1, (key, fb)
            assert fb[0]["photo_count"] == count or (count == 0 and fb[0]["photo_count"] == 0)
            za = [a for a in articles if a["title"].startswith(f"Bài thử nghiệm số {key} ")]
            assert len(za) == 1, (key, za)
            assert len(za[0]["image_urls"]) >= max(count, 1)  # the photos (+ cover)
        assert len(fb_live) == POSTS and len(articles) == POSTS
        assert sum(sandbox.faults.fired.values()) > 10, sandbox.faults.fired

        written = [*outputs.iterdir(), *(tmp_path / "logs").iterdir()]
        blobs = {str(p): p.read_bytes().decode("utf-8", "replace") for p in written}
        blobs["db"] = dump
        assert any("Đã đăng" in text for text in blobs.values())
        for secret in secrets:
            for where, text in blobs.items():
                assert secret not in text, f"a secret leaked into {where}"
        assert time.monotonic() - started < 60
    finally:
        for p in locals().get("procs", []):
            if p.poll() is None:
                p.kill()
                p.wait(10)
        sandbox.stop()
