"""Settle time: a post folder still being copied or saved must not go out.

Explorer brings ``bai-viet.txt`` before the photos, and an editor may save a text
in two goes. Ingest stamps ``Post.folder_changed_at`` whenever it sees the folder's
content change (or finds a file locked by an editor); a post is publishable only
once that is ``QUEUE_SETTLE_SECONDS`` old (:func:`folder_settled`). Measured by
observation, not by file times: a copy keeps the photos' old modification times.

The publisher asks :func:`folder_settled` before it claims, :func:`settle_wakeups`
for its exact wake-up, and calls :func:`folder_seen_changing` when it meets a photo
that is not the approved one; ``status`` shows the wait (:func:`settles_at`) and
``check`` says it (:func:`settle_notes`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..config import Settings
from ..errors import Problem
from ..numbers import vn_decimal
from ..queue import CheckedPost
from ..queue.scanner import cache_key
from ..states import PostState
from ..states import PubState as S
from ..store import Database, Post, PostVersion, Publication
from ..store.bulk import delete_scan_rows

#: states in which a publication is waiting to go out (and so waits for its folder)
WAITING = (S.PENDING, S.DUE, S.RETRY_WAIT)


def settles_at(changed_at: datetime | None, settings: Settings) -> datetime | None:
    """When a folder last seen changing at ``changed_at`` may publish (None: it may now)."""
    if changed_at is None:
        return None
    return changed_at + timedelta(seconds=settings.queue_settle_seconds)


def folder_settled(post: Post, now: datetime, settings: Settings) -> bool:
    """True once the post's folder has not changed for ``QUEUE_SETTLE_SECONDS``."""
    at = settles_at(post.folder_changed_at, settings)
    return at is None or at <= now


def settle_wakeups(session: Session, now: datetime, settings: Settings) -> list[datetime]:
    """The earliest moment a waiting publication's folder settles (for the exact wake-up)."""
    if settings.queue_settle_seconds <= 0:
        return []
    cutoff = now - timedelta(seconds=settings.queue_settle_seconds)
    changed = session.scalar(
        select(func.min(Post.folder_changed_at))
        .join(Publication, Publication.post_id == Post.id)
        .where(Post.folder_changed_at > cutoff, Publication.state.in_(WAITING))
    )
    at = settles_at(changed, settings)
    return [at] if at is not None else []


def folder_seen_changing(session: Session, settings: Settings, post_id: int, now: datetime) -> None:
    """The publisher met a photo that is not the approved one: the folder is changing.

    Restart its settle time and forget its scan-cache row, so the next scan reads the
    folder again whatever its signature says: a post is never stuck waiting silently.
    """
    post = session.get(Post, post_id)
    if post is None:
        return
    post.folder_changed_at = now
    try:
        key = cache_key(settings.queue_dir.resolve(), post.folder)
    except OSError:
        return
    delete_scan_rows(session, [key])


def settle_notes(
    db: Database, settings: Settings, posts: list[CheckedPost], now: datetime
) -> list[CheckedPost]:
    """``check``'s posts, a due one whose folder has not settled yet saying so."""
    settle = timedelta(seconds=settings.queue_settle_seconds)
    if settle <= timedelta(0):
        return posts
    soon = [
        p
        for p in posts
        if p.state == PostState.READY
        and p.post.publish_at is not None
        and p.post.publish_at <= now + settle
    ]
    if not soon:
        return posts
    with db.session() as session:
        known = {
            folder: (digest, changed)
            for folder, digest, changed in session.execute(
                select(Post.folder, PostVersion.content_hash, Post.folder_changed_at)
                .outerjoin(PostVersion, Post.current_version_id == PostVersion.id)
                .where(Post.folder.in_([p.folder for p in soon]))
            )
        }
    notes: dict[str, Problem] = {}
    for checked in soon:
        digest, changed = known.get(checked.folder, (None, None))
        if digest != checked.post.content_hash:
            ready = now + settle  # the daemon has not seen this content yet
        elif changed is not None and changed + settle > now:
            ready = changed + settle
        else:
            continue
        notes[checked.folder] = Problem(
            checked.post.label,
            "Thư mục bài vừa thay đổi: bài chỉ được đăng khi thư mục để yên "
            f"{vn_decimal(settings.queue_settle_seconds)} giây (không chép thêm, không sửa gì), "
            f"tức là từ khoảng {ready.astimezone(settings.tz):%H:%M:%S} "
            + "nếu không thay đổi gì thêm.",
        )
    return [
        CheckedPost(p.post, p.state, (*p.notes, notes[p.folder])) if p.folder in notes else p
        for p in posts
    ]
