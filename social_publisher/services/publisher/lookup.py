"""Looking on the platform: what a publication may adopt, and a look before every create.

* **Look before creating.** The platforms are the truth, not the database: one
  that lost its history (a 0-byte file taken as new, a week-old backup restored)
  holds no trace of what went out meanwhile. So before every create the post is
  looked for on the platform (:func:`look_before_create`): among the posts
  Facebook's scheduler holds before handing it one (:class:`FindsScheduled`), in
  the feed / the article list before publishing. Found: adopted, nothing sent.
* **Never adopt what another publication holds** (:func:`find`, with
  :func:`held_remote_ids`): two posts with the same text or title are routine.
* **Hold for a person** a match that cannot be verified (:func:`hold_unverified`):
  neither adopted on a guess nor sent a second time.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...channels.base import Channel, FindsScheduled, OutgoingPost, RemotePost
from ...errors import ChannelError, UnverifiedMatchError
from ...platforms import platform_name
from ...states import PubState as S
from ...store import ChannelHealth, Post, Publication
from ...store.lifecycle import transition
from ...store.tenancy import unit_key
from ..planner import OVERRIDE_PUBLISH
from .context import PublishContext, StepResult
from .ledger import finish_attempt, record_look
from .outcomes import adopted, channel_level, platform_of

log = logging.getLogger("social_publisher.publisher")

#: how far before a post's time a look before creating reaches (staff may publish early)
LOOK_BACK = timedelta(hours=12)
#: Facebook takes a post up to 30 days ahead: a scheduled copy was made no earlier
SCHEDULE_LOOK_BACK = timedelta(days=31)


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
    channel: Channel, post: OutgoingPost, since: datetime, exclude: frozenset[str]
) -> RemotePost | None:
    """``channel.find_published``, never answering a post another publication holds."""
    found = channel.find_published(post, since=since, exclude=exclude)
    if found is not None and found.remote_id in exclude:  # a channel that ignored exclude
        raise UnverifiedMatchError(
            "the only match is a post another publication already holds",
            platform=channel.name,
            candidate=found.url or found.remote_id,
        )
    return found


# ------------------------------------------------------------------ look before creating


def look_before_create(
    ctx: PublishContext,
    pub_id: int,
    action: str,
    channel: Channel,
    post: OutgoingPost,
    due_at: datetime | None,
    now: datetime,
    result: StepResult,
) -> bool:
    """Look for the post on the platform before the first byte of a create is sent.

    True when that settled the publication (the post was there and is adopted, or the
    look could not conclude and the publication waits): then nothing is created.
    """
    with ctx.db.session() as session:
        pub = session.get_one(Publication, pub_id)
        exclude = held_remote_ids(session, pub.channel, pub_id)
        owner = session.get(Post, pub.post_id)
        staff_decided = owner is not None and owner.override == OVERRIDE_PUBLISH
    at = due_at or now
    try:
        if action == "schedule" and isinstance(channel, FindsScheduled):
            found = channel.find_scheduled(post, exclude=exclude)
        else:
            back = SCHEDULE_LOOK_BACK if action == "schedule" else LOOK_BACK
            found = find(channel, post, min(at, now) - back, exclude)
    except UnverifiedMatchError as exc:
        if not staff_decided:
            hold_unverified(ctx, pub_id, None, exc, post.title, now, result)
            return True
        found = None  # staff looked and chose publish-now: a verified match still wins
    except ChannelError as exc:
        wait_to_look(ctx, pub_id, action, exc, post.title, now)
        return True
    if found is None:
        return False
    adopt_found(ctx, pub_id, action, channel.name, found, post.title, now, result)
    return True


def adopt_found(
    ctx: PublishContext,
    pub_id: int,
    action: str,
    channel_name: str,
    found: RemotePost,
    title: str,
    now: datetime,
    result: StepResult,
) -> None:
    """A look before creating found the post on the platform: ours, nothing is sent."""
    with ctx.locked(pub_id) as (session, pub):
        unverified = bool(found.extra.get("photos_unverified"))
        record_look(
            ctx,
            session,
            pub_id,
            "look_first",
            pub.content_hash,
            now,
            "adopted",
            remote_id=found.remote_id,
            before=action,
            photos_unverified=unverified,
        )
        as_scheduled = not found.is_published
        adopted(ctx, session, pub, found, now, as_scheduled=as_scheduled, before_create=action)
        result.adopted.append(pub_id)
    log.warning(
        "Bài '%s' đã có sẵn trên %s (%s) dù cơ sở dữ liệu chưa ghi nhận: không đăng lại, chỉ "
        "ghi nhận bài có sẵn.",
        title,
        platform_name(channel_name),
        found.url or found.remote_id,
    )


def wait_to_look(
    ctx: PublishContext, pub_id: int, action: str, exc: ChannelError, title: str, now: datetime
) -> None:
    """The platform could not be read: nothing is created until it can be."""
    with ctx.locked(pub_id) as (session, pub):
        if channel_level(ctx, session, pub, exc, now):
            health = session.get(ChannelHealth, unit_key(session, pub.channel))
            pub.next_attempt_at = health.blocked_until if health else None
        else:
            pub.next_attempt_at = now + max(ctx.backoff(1), timedelta(seconds=1))
        back = S.PENDING if action == "schedule" else S.DUE
        transition(session, pub, back, actor=ctx.worker, at=now, reason="look first failed")
        platform, retry_at = platform_of(pub), pub.next_attempt_at
    log.warning(
        "Chưa xem được trên %s bài '%s' đã có chưa (%s): chưa đăng, sẽ xem lại lúc %s.",
        platform,
        title,
        exc.message,
        retry_at.astimezone(ctx.tz).strftime("%H:%M:%S") if retry_at else "kênh được mở lại",
    )


# ------------------------------------------------------------------ hold for a person


def hold_unverified(
    ctx: PublishContext,
    pub_id: int,
    attempt_id: int | None,
    exc: UnverifiedMatchError,
    title: str,
    now: datetime,
    result: StepResult,
) -> None:
    """A post that may be ours but cannot be verified: a person decides, nothing is sent."""
    with ctx.locked(pub_id) as (session, pub):
        owner = session.get(Post, pub.post_id)
        folder = owner.folder if owner is not None else str(pub.post_id)
        platform = platform_of(pub)
        if attempt_id is not None:
            finish_attempt(ctx, session, attempt_id, "unknown", exc=exc, reconciled="held")
        reason = (
            f"Không chắc bài '{title}' đã lên {platform} chưa: có bài {exc.candidate} đăng sau "
            f"lần gửi trước nhưng không so được nội dung với bài này. Mở trang {platform} xem: "
            f"nếu đó đúng là bài này thì chạy 'social-publisher withdraw {folder}' (bài trên "
            f"trang giữ nguyên, công cụ không đăng nữa); nếu không phải thì chạy "
            f"'social-publisher publish-now {folder}' để đăng."
        )
        pub.last_error, pub.last_error_kind = exc.message, exc.kind
        transition(session, pub, S.NEEDS_ATTENTION, actor=ctx.worker, at=now, reason=reason)
        result.attention.append(pub_id)
    log.error("%s", reason)
