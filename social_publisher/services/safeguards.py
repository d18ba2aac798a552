"""What keeps a post from going out twice or wrong when people and machines misbehave.

The publisher calls these in one or two lines each:

* **Settle time.** A folder still being copied (Explorer brings ``bai-viet.txt``
  before the photos) or a text still being saved must not go out. Ingest stamps
  ``Post.folder_changed_at`` whenever it sees the folder's content change (or finds
  a file locked by an editor); a post is publishable only once that is
  ``QUEUE_SETTLE_SECONDS`` old (:func:`folder_settled`). Measured by observation,
  not by file times: a copy keeps the photos' old modification times.
* **Look before creating.** The platforms are the truth, not the database: a
  database that lost its history (a 0-byte file taken as new, a week-old backup
  restored) holds no trace of what went out meanwhile. So before every create the
  publisher looks for the post on the platform (:func:`look_before_create`): on
  Facebook's ``/scheduled_posts`` before handing a post to its scheduler, in the
  feed / the article list before publishing. Found: adopted, nothing sent.
* **Never adopt what another publication holds**, and **hold for a person** a
  match that cannot be verified (:func:`hold_unverified`): neither adopted on a
  guess nor sent a second time.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..channels.base import OutgoingPost, RemotePost
from ..config import Settings
from ..errors import ChannelError, Problem, UnverifiedMatchError
from ..queue import CheckedPost, State
from ..queue.scanner import cache_key
from ..store import Attempt, ChannelHealth, Database, Post, PostVersion, Publication, ScanCache
from ..store import PubState as S
from .planner import OVERRIDE_PUBLISH, PLATFORM_NAMES, audit, set_state

if TYPE_CHECKING:
    from .publisher import Publisher, StepResult

log = logging.getLogger("social_publisher.safeguards")

#: how far before a post's time a look before creating reaches (staff may publish early)
LOOK_BACK = timedelta(hours=12)
#: Facebook takes a post up to 30 days ahead: a scheduled copy was made no earlier
SCHEDULE_LOOK_BACK = timedelta(days=31)
#: states in which a publication is waiting to go out (and so waits for its folder)
WAITING = (S.PENDING, S.DUE, S.RETRY_WAIT)


# ------------------------------------------------------------------ settle time


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
        .where(Post.folder_changed_at > cutoff, Publication.state.in_([str(s) for s in WAITING]))
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
    session.execute(delete(ScanCache).where(ScanCache.folder == key))


def settle_notes(
    db: Database, settings: Settings, posts: list[CheckedPost], now: datetime
) -> list[CheckedPost]:
    """``check``'s posts, a due one whose folder has not settled yet saying so."""
    settle = timedelta(seconds=settings.queue_settle_seconds)
    if settle <= timedelta(0):
        return posts
    soon = [p for p in posts if p.state == State.READY and p.post.publish_at is not None]
    soon = [p for p in soon if p.post.publish_at is not None and p.post.publish_at <= now + settle]
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
            f"Thư mục bài vừa thay đổi: bài chỉ được đăng khi thư mục để yên "
            f"{settings.queue_settle_seconds:g} giây (không chép thêm, không sửa gì), tức là "
            f"từ khoảng {ready.astimezone(settings.tz):%H:%M:%S} nếu không thay đổi gì thêm.",
        )
    return [
        CheckedPost(p.post, p.state, (*p.notes, notes[p.folder])) if p.folder in notes else p
        for p in posts
    ]


# ------------------------------------------------------------------ what other publications hold


def held_remote_ids(session: Session, channel: str, pub_id: int) -> frozenset[str]:
    """Remote ids other publications on ``channel`` hold: never adopted for this one."""
    return frozenset(
        session.scalars(
            select(Publication.remote_id).where(
                Publication.channel == channel,
                Publication.id != pub_id,
                Publication.remote_id.is_not(None),
            )
        )
    )


def find(
    channel: Any, post: OutgoingPost, since: datetime, exclude: frozenset[str]
) -> RemotePost | None:
    """``channel.find_published``, never answering a post another publication holds."""
    found: RemotePost | None = channel.find_published(post, since=since, exclude=exclude)
    if found is not None and found.remote_id in exclude:  # a channel that ignored exclude
        raise UnverifiedMatchError(
            "the only match is a post another publication already holds",
            platform=str(getattr(channel, "name", "")),
            candidate=found.url or found.remote_id,
        )
    return found


# ------------------------------------------------------------------ look before creating


def look_before_create(
    publisher: Publisher,
    pub_id: int,
    action: str,
    channel: Any,
    post: OutgoingPost,
    due_at: datetime | None,
    now: datetime,
    result: StepResult,
) -> bool:
    """Look for the post on the platform before the first byte of a create is sent.

    True when that settled the publication (the post was there and is adopted, or the
    look could not conclude and the publication waits): then nothing is created.
    """
    with publisher.db.session() as session:
        pub = session.get_one(Publication, pub_id)
        exclude = held_remote_ids(session, pub.channel, pub_id)
        owner = session.get(Post, pub.post_id)
        staff_decided = owner is not None and owner.override == OVERRIDE_PUBLISH
    at = due_at or now
    try:
        finder = getattr(channel, "find_scheduled", None)
        if action == "schedule" and finder is not None:
            found: RemotePost | None = finder(post, exclude=exclude)
        else:
            back = SCHEDULE_LOOK_BACK if action == "schedule" else LOOK_BACK
            found = find(channel, post, min(at, now) - back, exclude)
    except UnverifiedMatchError as exc:
        if not staff_decided:
            hold_unverified(publisher, pub_id, None, exc, post.title, now, result)
            return True
        found = None  # staff looked and chose publish-now: a verified match still wins
    except ChannelError as exc:
        _wait_to_look(publisher, pub_id, action, exc, post.title, now)
        return True
    if found is None:
        return False
    platform = PLATFORM_NAMES.get(getattr(channel, "name", ""), getattr(channel, "name", ""))
    with publisher._locked(pub_id) as (session, pub):
        session.add(
            Attempt(
                publication_id=pub_id,
                action="look_first",
                worker=publisher.worker,
                content_hash=pub.content_hash,
                started_at=now,
                finished_at=publisher.clock(),
                outcome="adopted",
                remote_id=found.remote_id,
                details={
                    "before": action,
                    "photos_unverified": bool(found.extra.get("photos_unverified")),
                },
            )
        )
        audit(
            session,
            publisher.worker,
            "adopted",
            pub,
            at=now,
            remote_id=found.remote_id,
            before_create=action,
        )
        if not found.is_published:
            publisher._scheduled(session, pub, found, now)
        else:
            publisher._published(session, pub, found, now)
        result.adopted.append(pub_id)
    log.warning(
        "Bài '%s' đã có sẵn trên %s (%s) dù cơ sở dữ liệu chưa ghi nhận: không đăng lại, chỉ "
        "ghi nhận bài có sẵn.",
        post.title,
        platform,
        found.url or found.remote_id,
    )
    return True


def _wait_to_look(
    publisher: Publisher, pub_id: int, action: str, exc: ChannelError, title: str, now: datetime
) -> None:
    """The platform could not be read: nothing is created until it can be."""
    with publisher._locked(pub_id) as (session, pub):
        publisher._release(pub)
        if publisher._channel_level(session, pub, exc, now):
            health = session.get(ChannelHealth, pub.channel)
            pub.next_attempt_at = health.blocked_until if health else None
        else:
            pub.next_attempt_at = now + max(publisher.backoff(1), timedelta(seconds=1))
        back = S.PENDING if action == "schedule" else S.DUE
        set_state(session, pub, back, actor=publisher.worker, at=now, reason="look first failed")
        platform = PLATFORM_NAMES.get(pub.channel, pub.channel)
    log.warning(
        "Chưa xem được trên %s bài '%s' đã có chưa (%s): chưa đăng, sẽ xem lại lúc %s.",
        platform,
        title,
        exc.message,
        pub.next_attempt_at.astimezone(publisher.tz).strftime("%H:%M:%S")
        if pub.next_attempt_at
        else "kênh được mở lại",
    )


# ------------------------------------------------------------------ hold for a person


def hold_unverified(
    publisher: Publisher,
    pub_id: int,
    attempt_id: int | None,
    exc: UnverifiedMatchError,
    title: str,
    now: datetime,
    result: StepResult,
) -> None:
    """A post that may be ours but cannot be verified: a person decides, nothing is sent."""
    with publisher._locked(pub_id) as (session, pub):
        owner = session.get(Post, pub.post_id)
        folder = owner.folder if owner is not None else str(pub.post_id)
        platform = PLATFORM_NAMES.get(pub.channel, pub.channel)
        if attempt_id is not None:
            publisher._finish_attempt(session, attempt_id, "unknown", exc=exc, reconciled="held")
        reason = (
            f"Không chắc bài '{title}' đã lên {platform} chưa: có bài {exc.candidate} đăng sau "
            f"lần gửi trước nhưng không so được nội dung với bài này. Mở trang {platform} xem: "
            f"nếu đó đúng là bài này thì chạy 'social-publisher withdraw {folder}' (bài trên "
            f"trang giữ nguyên, công cụ không đăng nữa); nếu không phải thì chạy "
            f"'social-publisher publish-now {folder}' để đăng."
        )
        publisher._release(pub)
        pub.last_error, pub.last_error_kind = exc.message, exc.kind
        set_state(session, pub, S.NEEDS_ATTENTION, actor=publisher.worker, at=now, reason=reason)
        result.attention.append(pub_id)
    log.error("%s", reason)
