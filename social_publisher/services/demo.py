"""``demo``: the whole pipeline on the example queue against the in-process sandbox.

No credentials and no network beyond 127.0.0.1: a throw-away folder holds the
SQLite database, a copy of the example queue and the public media folder the
sandbox serves at ``/media``. The copied posts' publishing time is rewritten to
"a minute ago" (copies only: staff files are never touched) so the demo never
waits for a schedule; then passes run until every publication is live.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from ..config import Settings, load_settings
from ..errors import ConfigError
from ..numbers import vn_decimal
from ..platforms import platform_name
from ..store import Database, Post, Publication
from .daemon import build_context, run_pass, zalo_token_store
from .logs import setup_logging, teardown_logging

log = logging.getLogger("social_publisher.demo")

DEMO_DEADLINE_SECONDS = 45.0
_TIME_KEYS = ("thoi gian dang", "publish_at", "publish at")


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower().strip()


def example_queue() -> Path:
    """The example queue: the checkout's ``content_queue`` (next to the package), else the CWD's."""
    for candidate in (Path(__file__).resolve().parents[2] / "content_queue", Path("content_queue")):
        if candidate.is_dir() and any(p.is_dir() for p in candidate.iterdir()):
            return candidate
    raise ConfigError(
        "Không tìm thấy thư mục bài mẫu content_queue/: chạy lệnh demo từ thư mục gốc của "
        "mã nguồn social-publisher (nơi có thư mục content_queue)."
    )


def rewrite_time(text_file: Path, when: datetime) -> bool:
    """Set the ``Thời gian đăng`` header of a copied post file to ``when`` (local time)."""
    try:
        text = text_file.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError):
        return False
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if not line.strip():
            break  # end of the header block
        key, sep, _ = line.partition(":")
        if sep and _plain(key) in _TIME_KEYS:
            ending = "\r\n" if line.endswith("\r\n") else "\n"
            lines[index] = f"{key.strip()}: {when:%d/%m/%Y %H:%M}{ending}"
            text_file.write_text("".join(lines), encoding="utf-8")
            return True
    return False


@dataclass
class DemoRow:
    title: str
    channel: str
    state: str
    url: str | None
    problem: str | None


def run_demo(
    say: Callable[[str], None],
    *,
    source: Path | None = None,
    deadline_seconds: float = DEMO_DEADLINE_SECONDS,
    keep: bool = False,
    console: object = None,
) -> int:
    """Run the demo, report through ``say``; 0 when every publication went out."""
    from ..sandbox import Sandbox

    source = source or example_queue()
    work = Path(tempfile.mkdtemp(prefix="social-publisher-demo-"))
    queue = work / "content_queue"
    shutil.copytree(source, queue, ignore=shutil.ignore_patterns(".*", "README*"))
    public = work / "public"
    public.mkdir()
    sandbox = Sandbox(public_dir=public, zalo_processing_seconds=5.0)
    url = sandbox.start("127.0.0.1", 0)
    db: Database | None = None
    try:
        env = {
            **sandbox.env(),
            "DATABASE_URL": f"sqlite:///{work / 'demo.db'}",
            "QUEUE_DIR": str(queue),
            "LOG_DIR": str(work / "logs"),
            "MEDIA_CACHE_DIR": str(work / "media_cache"),
            "REPORT_DIR": str(work / "reports"),
            "AGENCIES_FILE": str(work / "agencies.csv"),
            "TIMEZONE": "Asia/Ho_Chi_Minh",
            "TICK_SECONDS": "1",
            "RETRY_BASE_SECONDS": "1",
            "RETRY_MAX_SECONDS": "2",
            "ZALO_SETTLE_SECONDS": "8",
            # the sample folders were just copied in: a short settle time so the demo
            # shows it (each post waits for its folder) without a minute's wait
            "QUEUE_SETTLE_SECONDS": "3",
        }
        settings: Settings = load_settings(env, dotenv_path=None)
        setup_logging(settings.log_dir, console=console, tz=settings.tz)  # type: ignore[arg-type]
        say(
            f"Giả lập Facebook + Zalo đang chạy tại {url} (không cần tài khoản, không ra Internet)."
        )
        say(f"Thư mục tạm của bản chạy thử: {work}")

        due = datetime.now(settings.tz) - timedelta(minutes=1)
        posts = sorted(p for p in queue.iterdir() if p.is_dir())
        for folder in posts:
            for name in ("bai-viet.txt", "post.txt", "post.md"):
                if (folder / name).is_file():
                    rewrite_time(folder / name, due)
                    break
        say(f"Đã chép {len(posts)} bài mẫu từ {source}; đặt giờ đăng là bây giờ.")

        db = Database(settings.database_url)
        db.upgrade()
        zalo_token_store(db, settings).set_pair(env["ZALO_ACCESS_TOKEN"], env["ZALO_REFRESH_TOKEN"])
        ctx = build_context(settings, db)
        started = time.monotonic()
        passes = 0
        while True:
            result = run_pass(ctx, datetime.now(UTC))
            passes += 1
            rows = _rows(db)
            finished = rows and all(
                r.state in ("published", "confirmed", "needs_attention", "cancelled") for r in rows
            )
            if finished or time.monotonic() - started > deadline_seconds:
                break
            wait = 0.5
            if result.next_wakeup is not None:
                wait = (result.next_wakeup - datetime.now(UTC)).total_seconds()
            time.sleep(min(max(wait, 0.05), 1.0))
        elapsed = time.monotonic() - started
        say("")
        say(f"Kết quả ({passes} lượt, {vn_decimal(elapsed)} giây):")
        ok = bool(rows)
        for row in rows:
            live = row.state in ("published", "confirmed")
            ok = ok and live
            mark = "✔" if live else "✘"
            where = row.url or ""
            extra = f" — {row.problem}" if row.problem and not live else ""
            platform = platform_name(row.channel)
            say(f"  {mark} {platform}: '{row.title}' {where}{extra}")
        state = sandbox.state()
        fb_posts = [p for p in state.get("graph", {}).get("posts", []) if p.get("published")]
        articles = [
            a for a in (state.get("zalo") or {}).get("articles", []) if not a.get("removed")
        ]
        say(f"Trên giả lập: {len(fb_posts)} bài trên Fanpage, {len(articles)} bài trên Zalo OA.")
        say(
            "Bản chạy thử đã xong: mọi bài đã được đăng đúng một lần."
            if ok
            else "Bản chạy thử chưa đăng hết bài: xem các dòng ✘ ở trên."
        )
        return 0 if ok else 1
    finally:
        sandbox.stop()
        if db is not None:
            db.dispose()
        teardown_logging()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _rows(db: Database) -> list[DemoRow]:
    with db.session() as session:
        query = (
            select(
                Post.title,
                Publication.channel,
                Publication.state,
                Publication.remote_url,
                Publication.remote_id,
                Publication.attention_reason,
                Publication.last_error,
            )
            .join(Post, Post.id == Publication.post_id)
            .order_by(Post.folder, Publication.channel)
        )
        return [
            DemoRow(title, channel, state, url or remote_id, reason or error)
            for title, channel, state, url, remote_id, reason, error in session.execute(query)
        ]
