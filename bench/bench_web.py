"""The web console with 1,000 posts: server time per page, against per-post queries.

    .venv/bin/python bench/bench_web.py [--posts 1000] [--repeat 40] [--idle-seconds 20]

Writes N approved posts (two photos each for one in ten) spread over a year, ingests and
plans them, puts a third of them live with attempts, engagement snapshots and agency
shares, then asks the console (Starlette's test client: routing, session, the services'
queries and the template, no network) for the month and week calendars, the lists and
post pages, ``--repeat`` times each, and prints p50/p95 server time (goal p95 < 150 ms).
The same pages' data is then read the naive way in the same run: the calendar with one
query per post for its publications and version, the post page loading each
publication's attempts, snapshots and shares one publication at a time, and the audit
log filtered in Python.

Last, the daemon's idle memory with the console off: ``social-publisher run`` with the
same queue, VmRSS after the first pass, and which console modules it loaded (none: the
console is imported only by ``web`` and ``run --web``). Linux only for that part.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from social_publisher.config import load_settings  # noqa: E402
from social_publisher.store import (  # noqa: E402
    Agency,
    Attempt,
    AuditEvent,
    Database,
    EngagementSnapshot,
    Post,
    PostVersion,
    Publication,
    Share,
)

NOW = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)


def write_queue(queue: Path, posts: int, photo: bytes) -> None:
    start = NOW - timedelta(days=180)
    for i in range(posts):
        folder = queue / f"bai-{i:04d}"
        folder.mkdir(parents=True)
        when = start + timedelta(hours=i * 365 * 24 // posts)
        extra = ""
        if i % 10 == 0:
            for n in (1, 2):
                (folder / f"anh-{n}.jpg").write_bytes(photo)
        approved = "Người duyệt: Võ Thanh Hùng\n" if i % 7 else ""
        (folder / "bai-viet.txt").write_text(
            f"Tiêu đề: Bài số {i:04d} về chuyển đổi số\n"
            f"Thời gian đăng: {when.isoformat(timespec='minutes')}\n"
            f"Kênh: facebook, zalo\n{approved}{extra}\n"
            f"Nội dung bài số {i:04d}.\n\nĐoạn thứ hai của bài.\n",
            encoding="utf-8",
        )


def seed_history(db: Database) -> None:
    """Live posts with what a year of running leaves: attempts, snapshots, shares, audit."""
    rng = random.Random(5)
    with db.session() as s:
        agencies = list(s.scalars(select(Agency.id)))
        for pub in s.scalars(select(Publication).where(Publication.due_at < NOW)):
            pub.state = "confirmed"
            pub.published_at = pub.due_at
            pub.remote_id = f"{pub.channel}-{pub.id}"
            pub.remote_url = f"https://example.test/{pub.channel}/{pub.id}"
            s.add(
                Attempt(
                    publication_id=pub.id,
                    action="create",
                    worker="w",
                    started_at=pub.due_at,
                    outcome="ok",
                    finished_at=pub.due_at,
                )
            )
            for d in range(6):
                s.add(
                    EngagementSnapshot(
                        publication_id=pub.id,
                        taken_at=pub.due_at + timedelta(days=d),
                        reactions=rng.randint(0, 90),
                        comments=rng.randint(0, 9),
                        shares=rng.randint(0, 9),
                    )
                )
            if pub.channel == "facebook":
                for agency in agencies[: rng.randint(0, len(agencies))]:
                    s.add(
                        Share(
                            publication_id=pub.id,
                            agency_id=agency,
                            url=f"https://facebook.com/{agency}/posts/{pub.id}",
                            shared_at=pub.due_at + timedelta(hours=3),
                            source="manual",
                        )
                    )
            s.add(
                AuditEvent(
                    at=pub.due_at,
                    actor="w",
                    event="transition",
                    post_id=pub.post_id,
                    publication_id=pub.id,
                    details={"from": "pending", "to": "confirmed"},
                )
            )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm the caches the way a console that has run for a while has them
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def show(name: str, values: list[float], goal: float | None = 150.0) -> None:
    p50, p95 = statistics.median(values), percentile(values, 0.95)
    mark = "" if goal is None else ("  ok" if p95 < goal else "  OVER GOAL")
    print(f"  {name:<44} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms{mark}")


# ------------------------------------------------------------------ the naive way


def naive_calendar(db: Database, start: datetime, end: datetime) -> int:
    """What an ORM page tends to do: the posts, then each post's rows one by one."""
    from social_publisher.services.console import category

    count = 0
    with db.session() as s:
        for post in s.scalars(select(Post).where(Post.publish_at.between(start, end))):
            version = s.get(PostVersion, post.current_version_id)
            for pub in s.scalars(select(Publication).where(Publication.post_id == post.id)):
                category(post.state, post.approved_by, pub.state)
                count += 1
            assert version is not None
    return count


def naive_post(db: Database, post_id: int) -> int:
    count = 0
    with db.session() as s:
        post = s.get(Post, post_id)
        assert post is not None
        for pub in post.publications:
            count += len(list(s.scalars(select(Attempt).where(Attempt.publication_id == pub.id))))
            count += len(
                list(
                    s.scalars(
                        select(EngagementSnapshot).where(
                            EngagementSnapshot.publication_id == pub.id
                        )
                    )
                )
            )
            for share in s.scalars(select(Share).where(Share.publication_id == pub.id)):
                count += s.get(Agency, share.agency_id) is not None
        count += sum(1 for e in s.scalars(select(AuditEvent)) if e.post_id == post_id)
    return count


# ------------------------------------------------------------------ idle memory


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def idle_daemon(env: dict[str, str], work: Path, seconds: float, posts: int) -> None:
    from social_publisher.sandbox import Sandbox

    cli = [sys.executable, "-m", "social_publisher", "--env-file", "none.env"]
    probe = (
        "import sys, runpy, threading\n"
        "def report():\n"
        "    import time; time.sleep(float(sys.argv[1]))\n"
        "    web = ('starlette', 'jinja2', 'uvicorn', 'argon2', 'multipart',\n"
        "           'social_publisher.web')\n"
        "    print('LOADED', sorted(m for m in sys.modules if m.startswith(web)), flush=True)\n"
        "threading.Thread(target=report, daemon=True).start()\n"
        "sys.argv = ['social-publisher', '--env-file', 'none.env', 'run']\n"
        "runpy.run_module('social_publisher', run_name='__main__')\n"
    )
    with Sandbox() as sandbox:
        env = {**env, **sandbox.env()}
        subprocess.run([*cli, "init"], env=env, cwd=work, check=True, capture_output=True)
        proc = subprocess.Popen(
            [sys.executable, "-c", probe, str(seconds)],
            env=env,
            cwd=work,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            time.sleep(seconds)
            rss = rss_mb(proc.pid)
            line = proc.stdout.readline() if proc.stdout else ""
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    print(
        f"  `social-publisher run` (console off), {posts} posts, after {seconds:.0f} s: "
        f"{rss:.1f} MB resident"
    )
    print(f"  console modules the daemon loaded: {line.strip().removeprefix('LOADED ') or '?'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    args = parser.parse_args()

    from argon2 import PasswordHasher
    from starlette.testclient import TestClient

    from social_publisher.services import accounts
    from social_publisher.services.agencies import load_agencies
    from social_publisher.services.ingest import ingest
    from social_publisher.services.planner import plan
    from social_publisher.web.app import create_app

    work = Path(tempfile.mkdtemp(prefix="bench-web-"))
    shutil.copy(ROOT / "agencies.csv", work / "agencies.csv")
    photo = (ROOT / "content_queue" / "ngay-chuyen-doi-so-quoc-gia" / "anh-1.jpg").read_bytes()
    write_queue(work / "queue", args.posts, photo)
    env = {
        "DATABASE_URL": f"sqlite:///{work / 'sp.db'}",
        "QUEUE_DIR": str(work / "queue"),
        "LOG_DIR": str(work / "logs"),
        "MEDIA_CACHE_DIR": str(work / "cache"),
        "REPORT_DIR": str(work / "reports"),
        "AGENCIES_FILE": str(work / "agencies.csv"),
        "TIMEZONE": "Asia/Ho_Chi_Minh",
    }
    settings = load_settings(env, dotenv_path=None)
    db = Database(settings.database_url)
    db.upgrade()
    t = time.perf_counter()
    load_agencies(db, settings, now=NOW)
    ingest(db, settings, now=NOW - timedelta(days=200))
    plan(db, now=NOW)
    seed_history(db)
    print(
        f"web console, {args.posts} posts over a year (set up in {time.perf_counter() - t:.1f} s)"
    )
    accounts.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    accounts.add(
        db,
        "an",
        full_name="Nguyễn Văn An",
        role="approver",
        password="mat-khau-du-dai",
        now=NOW,
        actor="b",
    )
    client = TestClient(create_app(settings, db, clock=lambda: NOW))
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/dang-nhap").text).group(1)  # type: ignore[union-attr]
    client.post("/dang-nhap", data={"ten": "an", "mat_khau": "mat-khau-du-dai", "csrf": token})
    with db.session() as s:
        ids = list(s.scalars(select(Post.id)))
        live = list(
            s.scalars(
                select(Publication.post_id).where(Publication.state == "confirmed").distinct()
            )
        )
    rng = random.Random(7)
    sample = rng.sample(live, min(len(live), 60))

    def get(url: str) -> Callable[[], Any]:
        def fetch() -> Any:
            answer = client.get(url)
            assert answer.status_code == 200, (url, answer.status_code)
            return answer

        return fetch

    posts_cycle = iter(sample * (args.repeat + 2))
    print("server time per page (test client: routing, session, queries, template):")
    show(
        "month calendar (June, ~83 posts x 2 channels)",
        timed(get("/lich?ngay=2026-06-01"), args.repeat),
    )
    show("week calendar", timed(get("/lich?xem=tuan&ngay=2026-06-15"), args.repeat))
    show("list: this week", timed(get("/danh-sach?loai=tuan-nay"), args.repeat))
    show("list: needs attention", timed(get("/danh-sach?loai=can-xu-ly"), args.repeat))
    show("list: waiting for approval", timed(get("/danh-sach?loai=cho-duyet"), args.repeat))
    show(
        "post page (live post: timeline, preview, check)",
        timed(lambda: get(f"/bai/{next(posts_cycle)}")(), args.repeat),
    )

    from social_publisher.services.console import items_between, post_page
    from social_publisher.services.scope import Role, Scope

    me = Scope("an", "Nguyễn Văn An", Role.APPROVER)
    start, end = datetime(2026, 5, 31, 17, tzinfo=UTC), datetime(2026, 6, 30, 17, tzinfo=UTC)
    print("the data of those pages, this way against the naive way (same run):")
    show(
        "calendar month: one query",
        timed(lambda: items_between(db, me, start, end), args.repeat),
        None,
    )
    show(
        "calendar month: naive, queries per post",
        timed(lambda: naive_calendar(db, start, end), args.repeat),
        None,
    )
    cycle2 = iter(sample * (args.repeat + 2))
    cycle3 = iter(sample * (args.repeat + 2))
    show(
        "post page data: queries per page",
        timed(lambda: post_page(db, settings, me, next(cycle2), now=NOW), args.repeat),
        None,
    )
    show(
        "post page data: naive, per publication",
        timed(lambda: naive_post(db, next(cycle3)), args.repeat),
        None,
    )
    print(f"  ({len(ids)} posts, {len(live)} of them live)")
    if sys.platform.startswith("linux") and args.idle_seconds > 0:
        print("the daemon with the console off:")
        idle_daemon({**os.environ, **env}, work, args.idle_seconds, args.posts)
    db.dispose()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
