"""Many real ``social-publisher run`` processes on one PostgreSQL database, against the sandbox.

Shared by the multi-worker end-to-end tests and ``bench/bench_workers.py``: a schema of
its own per run (so parallel runs never collide), the daemon environment, starting and
killing workers, and the two checks every run ends with (the database says every
publication is live; the sandbox holds each post exactly once on each channel).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from social_publisher.sandbox import Sandbox
from social_publisher.store import Database, Publication

FAULTS = (
    "graph.create=500:0.05,graph.create=drop:0.05,graph.create=code:2:0.04,"
    "graph.create=code:4:0.02,graph.read=code:4:0.01,"
    "zalo.create=drop:0.08,zalo.create=500:0.08,zalo.create=code:-32:0.03,"
    "zalo.verify=code:-214:0.2,zalo.getslice=code:-32:0.02"
)
LIVE = ("published", "confirmed")


def write_posts(queue: Path, due: datetime, count: int, *, photos: bool = True) -> None:
    """``count`` approved posts due at ``due`` on both channels (some with photos)."""
    from PIL import Image

    for i in range(count):
        folder = queue / f"bai-{i:03d}"
        folder.mkdir(parents=True)
        names = []
        for k in range((0, 1, 3)[i % 3] if photos else 0):
            name = f"anh-{k}.jpg"
            Image.new("RGB", (320, 240), ((i * 37) % 256, (k * 91) % 256, 120)).save(
                folder / name, quality=85
            )
            names.append(name)
        header = [
            f"Tiêu đề: Bài thử nghiệm số {i:03d} về chuyển đổi số",
            f"Thời gian đăng: {due:%d/%m/%Y %H:%M}",
            "Kênh: facebook, zalo",
            "Người duyệt: Võ Thanh Hùng",
        ]
        if names:
            header.append(f"Ảnh: {', '.join(names)}")
        body = f"Nội dung bài số {i:03d}: người dân Đức Phổ dùng dịch vụ công trực tuyến."
        (folder / "bai-viet.txt").write_text(
            "\n".join(header) + "\n\n" + body + "\n", encoding="utf-8"
        )


@contextmanager
def pg_schema(base_url: str) -> Iterator[str]:
    """A fresh schema on ``base_url``'s database; yields a URL whose connections use it.

    The schema name is also the connections' ``application_name``, so a test can find
    (and terminate) exactly the backends of its own workers.
    """
    schema = f"w_{uuid.uuid4().hex[:12]}"
    admin = Database(base_url)
    with admin.engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = make_url(base_url).update_query_dict(
        {"options": f"-csearch_path={schema}", "application_name": schema}
    )
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.engine.begin() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE application_name = '{schema}' AND pid <> pg_backend_pid()"
            )
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def schema_of(url: str) -> str:
    return str(make_url(url).query["application_name"])


def daemon_env(tmp: Path, sandbox: Sandbox, url: str, **extra: str) -> dict[str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FB_", "ZALO_", "DATABASE"))},
        **sandbox.env(),
        "DATABASE_URL": url,
        "QUEUE_DIR": str(tmp / "queue"),
        "LOG_DIR": str(tmp / "logs"),
        "MEDIA_CACHE_DIR": str(tmp / "cache"),
        "REPORT_DIR": str(tmp / "reports"),
        "AGENCIES_FILE": str(tmp / "agencies.csv"),
        "TIMEZONE": "Asia/Ho_Chi_Minh",
        "TICK_SECONDS": "1",
        "RETRY_BASE_SECONDS": "1",
        "RETRY_MAX_SECONDS": "2",
        "RETRY_MAX_ATTEMPTS": "60",
        "ZALO_SETTLE_SECONDS": "5",
        "QUEUE_SETTLE_SECONDS": "2",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return env


class Workers:
    """Real daemon processes, numbered; each start gets its own output files."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.env = env
        self.outputs = tmp / "outputs"
        self.outputs.mkdir(exist_ok=True)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.errs: dict[int, Path] = {}
        self.starts = 0
        self.cmd = [
            sys.executable,
            "-m",
            "social_publisher",
            "--env-file",
            str(tmp / "none.env"),
            "run",
        ]

    def start(self, slot: int) -> subprocess.Popen[bytes]:
        self.starts += 1
        n = self.starts
        with (
            (self.outputs / f"out-{slot}-{n}.txt").open("wb") as out,
            (self.outputs / f"err-{slot}-{n}.txt").open("wb") as err,
        ):  # the child keeps its own copies of both
            proc = subprocess.Popen(self.cmd, cwd=self.tmp, env=self.env, stdout=out, stderr=err)
        self.procs[slot] = proc
        self.errs[slot] = self.outputs / f"err-{slot}-{n}.txt"
        return proc

    def wait_serving(self, deadline: float) -> bool:
        """Wait until every current worker says it started (its SIGTERM handler is set)."""
        while time.monotonic() < deadline:
            if all("Đã khởi động" in p.read_text("utf-8", "replace") for p in self.errs.values()):
                return True
            time.sleep(0.25)
        return False

    def kill(self, slot: int) -> None:
        proc = self.procs[slot]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop_all(self, timeout: float = 20) -> list[int | None]:
        """SIGTERM every worker (a graceful stop); their exit codes."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.procs.values():
            try:
                codes.append(proc.wait(timeout))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
                codes.append(None)
        return codes

    def kill_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)

    def stderr(self) -> str:
        return "\n".join(
            p.read_text("utf-8", "replace") for p in sorted(self.outputs.glob("err-*.txt"))
        )


def live_count(db: Database) -> tuple[int, int]:
    """(live publications, all publications); (0, 0) while the schema is not made yet."""
    try:
        with db.session() as s:
            states = list(s.scalars(select(Publication.state)))
    except SQLAlchemyError:
        return 0, 0
    return sum(1 for st in states if st in LIVE), len(states)


def wait_all_live(db: Database, expected: int, deadline: float) -> float | None:
    """Poll until ``expected`` publications are live; the monotonic time it happened."""
    while time.monotonic() < deadline:
        done, total = live_count(db)
        if total == expected and done == total:
            return time.monotonic()
        time.sleep(0.25)
    return None


def wait_registered(db: Database, count: int, deadline: float) -> int:
    """Wait until ``count`` workers are alive in the registry (a worker still starting
    has no SIGTERM handler yet); how many are."""
    from datetime import timedelta

    from social_publisher.store.workers import list_workers

    alive = 0
    while time.monotonic() < deadline:
        _, views = list_workers(db, stale_after=timedelta(seconds=30))
        alive = sum(1 for w in views if w.alive)
        if alive >= count:
            break
        time.sleep(0.25)
    return alive


def not_live(db: Database) -> list[tuple[Any, ...]]:
    with db.session() as s:
        return [
            (p.post_id, p.channel, p.state, p.claimed_by, p.attention_reason or p.last_error)
            for p in s.scalars(select(Publication))
            if p.state not in LIVE
        ]


def exactly_once(sandbox: Sandbox, count: int) -> None:
    """Each post is on the Facebook Page once and in the Zalo OA once; nothing else is."""
    state = sandbox.state()
    fb_live = [p for p in state["graph"]["posts"] if p["published"]]
    articles = [a for a in state["zalo"]["articles"] if not a["removed"] and a["status"] == "show"]
    for i in range(count):
        key = f"{i:03d}"
        fb = [p for p in fb_live if f"bài số {key}:" in (p["message"] or "")]
        assert len(fb) == 1, (key, [p.get("id") for p in fb])
        za = [a for a in articles if a["title"].startswith(f"Bài thử nghiệm số {key} ")]
        assert len(za) == 1, (key, [a.get("id") for a in za])
    assert len(fb_live) == count, len(fb_live)
    assert len(articles) == count, len(articles)
