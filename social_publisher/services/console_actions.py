"""The console's actions: the staff actions, reports, channel reopening, each checked
against the account's :class:`~social_publisher.services.scope.Scope` and recorded
with it (``web:<account>`` in the audit log and the attempt rows).

A decision is recorded first, as the command line does; then a :class:`Runner` gets
it carried out: in ``run --web`` the daemon in the same process is woken at once; a
console on its own runs the pass for that post itself when no daemon holds the
database, and otherwise leaves it to the daemon's next pass.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import select

from ..config import Settings
from ..errors import DaemonAlreadyRunning, SocialPublisherError
from ..platforms import CHANNELS, platform_name
from ..store import Database, Post
from .planner import (
    ActionResult,
    clear_channel_blocks,
    staff_publish_now,
    staff_retry,
    staff_withdraw,
)
from .scope import Permission, Scope

log = logging.getLogger("social_publisher.web")


class ActionRefused(SocialPublisherError):
    """The action does not apply (no such post, nothing to take down...)."""


class Runner(Protocol):
    """Gets a recorded decision carried out; returns a note for the person."""

    def nudge(self, post_id: int | None) -> str: ...


class WakeDaemon:
    """``run --web``: the daemon of this process runs a pass now."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake

    def nudge(self, post_id: int | None) -> str:
        self.wake()
        return "Tiến trình nền đang thực hiện ngay."


class PassWhenFree:
    """A console on its own: run the pass for that post when no daemon holds the database."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._lock = threading.Lock()

    def nudge(self, post_id: int | None) -> str:
        from .daemon import lock_is_free

        if not lock_is_free(self.settings):
            return (
                "Tiến trình nền đang chạy sẽ thực hiện trong vòng "
                f"{self.settings.tick_seconds} giây."
            )
        threading.Thread(target=self._run, args=(post_id,), daemon=True).start()
        return "Đang thực hiện."

    def _run(self, post_id: int | None) -> None:
        from .daemon import build_context, daemon_lock, run_pass, utcnow

        with self._lock:
            try:
                with daemon_lock(self.settings):
                    ctx = build_context(self.settings, self.db, ingest=post_id is None)
                    ctx.only_post = post_id
                    run_pass(ctx, utcnow())
            except DaemonAlreadyRunning:
                return
            except Exception:  # never let a background pass kill the console
                log.exception("pass after a console action failed")


class NoRunner:
    """Record only (tests; a read-only console): the daemon's next pass carries it out."""

    def nudge(self, post_id: int | None) -> str:
        return "Tiến trình nền sẽ thực hiện ở lượt chạy tới."


def _key(db: Database, scope: Scope, post_id: int) -> str:
    with db.session() as session:
        found = session.scalars(
            select(Post.id).where(Post.id == post_id, scope.posts(Post))
        ).first()
    if found is None:
        raise ActionRefused("Không tìm thấy bài này.")
    return str(post_id)


def retry(db: Database, scope: Scope, post_id: int, *, now: datetime) -> ActionResult:
    scope.require(Permission.RETRY)
    return staff_retry(db, _key(db, scope, post_id), now=now, actor=scope.actor)


def withdraw(db: Database, scope: Scope, post_id: int, *, now: datetime) -> ActionResult:
    scope.require(Permission.WITHDRAW)
    return staff_withdraw(db, _key(db, scope, post_id), now=now, actor=scope.actor)


def publish_now(db: Database, scope: Scope, post_id: int, *, now: datetime) -> ActionResult:
    scope.require(Permission.PUBLISH_NOW)
    return staff_publish_now(db, _key(db, scope, post_id), now=now, actor=scope.actor)


def take_down(
    db: Database, settings: Settings, scope: Scope, post_id: int, *, now: datetime
) -> ActionResult:
    """``withdraw --live``: never publish it again, and remove it from the Page and the OA."""
    from .daemon import build_channels
    from .takedown import take_down as remove_live

    scope.require(Permission.TAKE_DOWN)
    key = _key(db, scope, post_id)
    result = staff_withdraw(db, key, now=now, actor=scope.actor, live=True)
    taken = remove_live(db, build_channels(settings, db), key, now=now, actor=scope.actor)
    result.notes += taken.notes
    result.changed += [c for c in taken.changed if c not in result.changed]
    return result


def reopen_channel(db: Database, scope: Scope, channel: str, *, now: datetime) -> str:
    scope.require(Permission.REOPEN_CHANNEL)
    if channel not in CHANNELS:
        raise ActionRefused(f"Không có kênh '{channel}'.")
    with db.session() as session:
        cleared = clear_channel_blocks(session, actor=scope.actor, now=now, channels=[channel])
    if not cleared:
        return f"Kênh {platform_name(channel)} không bị tạm dừng."
    return f"Đã mở lại kênh {platform_name(channel)}: các bài đang chờ sẽ được đăng ở lượt tới."


# ------------------------------------------------------------------ reports

_REPORT_FOLDER = re.compile(r"^bao-cao-(\d{4}-\d{2}|nam-\d{4})$")


def make_report(
    db: Database, settings: Settings, scope: Scope, *, month: str | None, year: str | None,
    now: datetime,
) -> tuple[str, list[str], list[str]]:  # fmt: skip
    """``report --month``/``--year`` into REPORT_DIR: (folder name, file names, notes)."""
    from .report import make_report as write
    from .report import parse_month, parse_year

    scope.require(Permission.REPORT)
    try:
        period = parse_month(month, settings.tz) if month else parse_year(year or "", settings.tz)
    except ValueError as exc:
        raise ActionRefused(str(exc)) from None
    output = write(db, settings, period, settings.report_dir, now=now)
    return output.folder.name, [p.name for p in output.files], list(output.data.notes)


def reports(settings: Settings, scope: Scope) -> list[tuple[str, list[str]]]:
    """The reports already in REPORT_DIR, newest first, with their files."""
    scope.require(Permission.VIEW)
    root = settings.report_dir
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir(), key=lambda p: p.name, reverse=True):
        if folder.is_dir() and _REPORT_FOLDER.match(folder.name):
            files = sorted(
                p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
            )
            found.append((folder.name, files))
    return found


def report_file(settings: Settings, scope: Scope, folder: str, name: str) -> Path:
    """A file of a report folder, or LookupError; nothing outside REPORT_DIR is ever served."""
    scope.require(Permission.VIEW)
    if not _REPORT_FOLDER.match(folder) or "/" in name or "\\" in name or name.startswith("."):
        raise LookupError(name)
    root = settings.report_dir.resolve()
    path = (root / folder / name).resolve()
    if path.parent.parent != root or not path.is_file():
        raise LookupError(name)
    return path
