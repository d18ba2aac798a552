"""Alerts found by looking: the daemon's heartbeat, token age, the daily digest, the report.

These are conditions, not moves, so each is written with a ``key`` naming its
occurrence (a heartbeat's time, a token's issue date, a day, a month) and
:func:`~.alert_outbox.enqueue` tells it once. A dead daemon cannot say it is
dead: ``doctor --alert`` (cron, Task Scheduler) reads the heartbeat the daemon
writes every minute and raises the alert, then sends it itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from datetime import datetime, time, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..channels.base import Diagnoses
from ..config import Settings
from ..platforms import platform_name
from ..states import BLOCKING_HEALTH, HEALTH_LABELS, POST_LABELS, HealthState, PostState, PubState
from ..store import Alert, ChannelHealth, Database, Meta, PlatformToken, Post, Publication
from ..store.tenancy import INSTALL, install_options, unit_key
from .alert_outbox import HEALTH_PAGE, enqueue, unit_alert_key

log = logging.getLogger("social_publisher.alerts")

HEARTBEAT_PREFIX = "heartbeat:"
#: how often the daemon writes its heartbeat
HEARTBEAT_EVERY = timedelta(minutes=1)
#: heartbeats of processes gone this long are removed
HEARTBEAT_FORGET = timedelta(days=7)
DOWN, UP = "daemon_down", "daemon_up"


# ------------------------------------------------------------------ heartbeat and watchdog


def beat(db: Database, worker: str, now: datetime) -> None:
    """The daemon is alive at ``now`` (one ``meta`` row per process)."""
    with db.session() as session:
        key = f"{HEARTBEAT_PREFIX}{worker}"[:200]
        row = session.get(Meta, (INSTALL, key), execution_options=install_options())
        value = {"at": now.isoformat(), "pid": os.getpid(), "host": socket.gethostname()}
        if row is None:
            session.add(Meta(unit_id=INSTALL, key=key, value=value, updated_at=now))
            session.execute(
                delete(Meta)
                .where(
                    Meta.unit_id == INSTALL,
                    Meta.key.like(f"{HEARTBEAT_PREFIX}%"),
                    Meta.updated_at < now - HEARTBEAT_FORGET,
                )
                .execution_options(**install_options())
            )
        else:
            row.value, row.updated_at = value, now
        session.commit()


def last_beat(db: Database) -> datetime | None:
    with db.session() as session:
        found = session.scalar(
            select(func.max(Meta.updated_at))
            .where(Meta.unit_id == INSTALL, Meta.key.like(f"{HEARTBEAT_PREFIX}%"))
            .execution_options(**install_options())
        )
    return found


def _last_daemon_alert(session: Session) -> str | None:
    return session.scalar(
        select(Alert.kind).where(Alert.kind.in_((DOWN, UP))).order_by(Alert.id.desc()).limit(1)
    )


def watchdog(db: Database, settings: Settings, now: datetime) -> tuple[bool, datetime | None]:
    """(daemon alive, its last heartbeat); a stale heartbeat writes the ``daemon_down`` alert."""
    beat_at = last_beat(db)
    limit = timedelta(minutes=settings.alert_heartbeat_minutes)
    if beat_at is not None and now - beat_at <= limit:
        return True, beat_at
    if beat_at is None:
        when = "chưa từng chạy trên cơ sở dữ liệu này"
        key = "daemon_down:never"
    else:
        minutes = int((now - beat_at).total_seconds() // 60)
        when = (
            f"không hoạt động từ {beat_at.astimezone(settings.tz):%H:%M ngày %d/%m/%Y} "
            f"({minutes} phút)"
        )
        key = f"daemon_down:{beat_at.isoformat()}"
    with db.session() as session:
        enqueue(
            session,
            key=key,
            kind=DOWN,
            urgent=True,
            title="Tiến trình nền social-publisher đã dừng",
            body=(
                f"Tiến trình nền (social-publisher run) {when}: bài đến giờ sẽ không được "
                "đăng và không có cảnh báo nào khác được gửi.\nCách xử lý: mở máy chạy "
                "social-publisher, chạy lại social-publisher run (hoặc khởi động lại dịch vụ), "
                "rồi chạy social-publisher doctor để kiểm tra."
            ),
            at=now,
            unit=None,  # the install's: every unit stops with it
        )
        session.commit()
    return False, beat_at


def daemon_started(db: Database, settings: Settings, now: datetime) -> None:
    """The daemon runs again after a ``daemon_down`` alert: say so."""
    with db.session() as session:
        if _last_daemon_alert(session) != DOWN:
            return
        enqueue(
            session,
            key=f"daemon_up:{now.isoformat()}",
            kind=UP,
            title="Tiến trình nền social-publisher đã chạy lại",
            body=(
                "Tiến trình nền (social-publisher run) đã chạy lại lúc "
                f"{now.astimezone(settings.tz):%H:%M ngày %d/%m/%Y}; bài đến giờ trong lúc "
                "dừng sẽ được đăng tiếp (bài quá hạn chờ quyết định)."
            ),
            at=now,
            unit=None,
        )
        session.commit()


# ------------------------------------------------------------------ tokens


def check_tokens(db: Database, settings: Settings, now: datetime) -> None:
    """Zalo's refresh token past day 80 of 90, or its last refresh failed."""
    if not settings.zalo_enabled:
        return
    from .zalo_tokens import PLATFORM, REFRESH_LIFETIME, REFRESH_WARN_AFTER, account_name

    with db.session() as session:
        row = session.scalars(
            select(PlatformToken).where(
                PlatformToken.platform == PLATFORM, PlatformToken.account == account_name(settings)
            )
        ).one_or_none()
        if row is None:
            return
        name = platform_name("zalo")
        if row.last_error:
            digest = hashlib.sha256(row.last_error.encode()).hexdigest()[:12]
            enqueue(
                session,
                key=f"token_failed:zalo:{row.generation}:{digest}",
                kind="token",
                urgent=True,
                title=f"{name}: không làm mới được token",
                body=(
                    f"Lần làm mới token {name} gần nhất không thành công: {row.last_error}\n"
                    "Cách xử lý: lấy cặp token mới (API Explorer trên developers.zalo.me) rồi "
                    "chạy: social-publisher zalo token set"
                ),
                at=now,
                link=HEALTH_PAGE,
                channel="zalo",
            )
        issued = row.refresh_issued_at
        if row.refresh_token and issued is not None and now - issued >= REFRESH_WARN_AFTER:
            expires = issued + REFRESH_LIFETIME
            days = max(0, (expires - now).days)
            enqueue(
                session,
                key=f"token_old:zalo:{issued.isoformat()}",
                kind="token",
                title=f"{name}: mã làm mới token sắp hết hạn",
                body=(
                    f"Mã làm mới (refresh token) {name} đã dùng {(now - issued).days} ngày, hết "
                    f"hạn ngày {expires.astimezone(settings.tz):%d/%m/%Y} (còn {days} ngày). "
                    "Tiến trình nền thường làm mới hằng ngày, nên mã cũ nghĩa là việc làm mới "
                    "đã không chạy.\nCách xử lý: chạy social-publisher doctor; nếu Zalo từ chối, "
                    "lấy cặp token mới rồi chạy: social-publisher zalo token set"
                ),
                at=now,
                link=HEALTH_PAGE,
                channel="zalo",
            )
        session.commit()


# ------------------------------------------------------------------ the daily digest


def digest_due(settings: Settings, now: datetime) -> bool:
    hour = settings.alert_digest_hour
    return hour >= 0 and now.astimezone(settings.tz).time() >= time(hour)


def daily_digest(db: Database, settings: Settings, now: datetime) -> bool:
    """From ALERT_DIGEST_HOUR, once a day: tomorrow's posts, what needs a person, shares.

    Per unit: ``db`` is the unit's handle and ``settings`` its settings (its own hour).
    """
    if not digest_due(settings, now):
        return False
    local = now.astimezone(settings.tz)
    key = f"digest:{local:%Y-%m-%d}"
    stored = unit_alert_key(db.unit, key)
    with db.session() as session:
        if session.scalar(select(Alert.id).where(Alert.key == stored)) is not None:
            return False
    lines = _digest_lines(db, settings, now)
    with db.session() as session:
        written = enqueue(
            session,
            key=key,
            kind="digest",
            title=f"Bản tin ngày {local:%d/%m/%Y}",
            body="\n".join(lines),
            at=now,
            link="/",
        )
        session.commit()
    return written is not None


def _digest_lines(db: Database, settings: Settings, now: datetime) -> list[str]:
    tz = settings.tz
    local = now.astimezone(tz)
    start = datetime.combine(local.date() + timedelta(days=1), time(0), tz)
    end = start + timedelta(days=1)
    upcoming = (PubState.PENDING, PubState.DUE, PubState.SCHEDULED_REMOTE, PubState.RETRY_WAIT)
    lines = [f"Ngày mai ({start:%d/%m/%Y}) sẽ đăng:"]
    with db.session() as session:
        due = session.execute(
            select(Publication.due_at, Publication.channel, Post.id, Post.title, Post.folder)
            .join(Post, Post.id == Publication.post_id)
            .where(
                Publication.state.in_(upcoming),
                Publication.due_at >= start,
                Publication.due_at < end,
            )
            .order_by(Publication.due_at, Post.id)
        ).all()
        lines += [
            f"- {at.astimezone(tz):%H:%M} {platform_name(ch)}: “{title or folder}” (số {pid})"
            for at, ch, pid, title, folder in due
            if at is not None
        ] or ["- không có bài nào."]
        lines.append("")
        lines.append("Cần người xử lý:")
        need = session.execute(
            select(Post.id, Post.title, Post.folder, Publication.channel)
            .join(Post, Post.id == Publication.post_id)
            .where(Publication.state == PubState.NEEDS_ATTENTION)
            .order_by(Post.id)
        ).all()
        people = [
            f"- “{title or folder}” (số {pid}) trên {platform_name(ch)}: cần xử lý"
            for pid, title, folder, ch in need
        ]
        posts = session.execute(
            select(Post.id, Post.title, Post.folder, Post.state)
            .where(Post.state.in_((PostState.ERROR, PostState.HELD)))
            .order_by(Post.id)
        ).all()
        people += [
            f"- “{title or folder}” (số {pid}): {POST_LABELS[PostState(state)]}"
            for pid, title, folder, state in posts
        ]
        blocked = session.execute(
            select(ChannelHealth.channel, ChannelHealth.state).where(
                ChannelHealth.state != HealthState.OK
            )
        ).all()
        people += [
            f"- kênh {platform_name(ch)}: {HEALTH_LABELS[HealthState(st)]}"
            + (" (cần người xử lý)" if HealthState(st) in BLOCKING_HEALTH else "")
            for ch, st in blocked
        ]
        lines += people or ["- không có việc nào."]
    lines.append("")
    lines += _missing_shares(db, settings, now)
    return lines


def _missing_shares(db: Database, settings: Settings, now: datetime) -> list[str]:
    """Posts of the last 7 days that units have not shared yet (when agencies are listed)."""
    from .shares import share_matrix

    try:
        matrix = share_matrix(db, settings, now - timedelta(days=7), now, now=now)
    except Exception:  # shares are a bonus here: never lose the digest over them
        log.exception("digest: shares unreadable")
        return ["Chia sẻ: không đọc được số liệu chia sẻ (xem social-publisher shares)."]
    if not matrix.agencies:
        return []
    lines = ["Đơn vị chưa chia sẻ (bài 7 ngày qua):"]
    for post in matrix.posts:
        tally = matrix.per_post.get(post.post_id)
        missing = (tally.missing + tally.pending - tally.pending_shared) if tally else 0
        if missing:
            lines.append(f"- “{post.title or post.folder}”: {missing} đơn vị chưa chia sẻ")
    if len(lines) == 1:
        lines.append("- các đơn vị đã chia sẻ đủ.")
    return lines


# ------------------------------------------------------------------ the monthly report


def report_ready(db: Database, settings: Settings, folder: Path, now: datetime) -> None:
    """The monthly report was written: e-mail it (attached) to every target."""
    files = sorted(str(p) for p in folder.iterdir() if p.suffix in (".docx", ".xlsx"))
    with db.session() as session:
        enqueue(
            session,
            key=f"monthly:{folder.name}",
            kind="monthly_report",
            title=f"Báo cáo tháng: {folder.name}",
            body=(
                f"Báo cáo tháng đã được tạo trong thư mục {folder}. Tệp đính kèm: "
                + (", ".join(Path(f).name for f in files) or "không có")
                + ". Kiểm tra số liệu, điền số văn bản và người ký trước khi gửi."
            ),
            at=now,
            link="/bao-cao",
            attachments=files,
        )
        session.commit()


#: the Facebook token is checked (debug_token, two Graph calls) once a day
FB_CHECKED_KEY = "alerts:facebook_token_checked"


def check_facebook_token(db: Database, settings: Settings, channel: object, now: datetime) -> None:
    """Once a local day: a Page token that ``debug_token`` says expires (or has expired)."""
    if not isinstance(channel, Diagnoses):
        return
    today = f"{now.astimezone(settings.tz):%Y-%m-%d}"
    with db.session() as session:
        row = session.get(Meta, unit_key(session, FB_CHECKED_KEY))
        if row is not None and row.value.get("day") == today:
            return
        if row is None:
            row = Meta(key=FB_CHECKED_KEY, value={})
            session.add(row)
        row.value, row.updated_at = {"day": today}, now
        session.commit()
    found = [
        d
        for d in channel.diagnose()
        if d.name == "facebook.token" and (not d.ok or (d.warning and "hết hạn" in d.message))
    ]
    if not found:
        return
    with db.session() as session:
        for diagnosis in found:
            digest = hashlib.sha256(diagnosis.message.encode()).hexdigest()[:16]
            enqueue(
                session,
                key=f"token:facebook:{digest}",
                kind="token",
                urgent=not diagnosis.ok,
                title="Facebook: mã truy cập Trang "
                + ("không dùng được" if not diagnosis.ok else "sắp hết hạn"),
                body=f"{diagnosis.message}\nSau khi sửa, chạy social-publisher doctor để kiểm tra.",
                at=now,
                link=HEALTH_PAGE,
                channel="facebook",
            )
        session.commit()
