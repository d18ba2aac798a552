"""Confirm: check once that what was published (or what Facebook scheduled) is live.

A post that does not show up within ``CONFIRM_GIVE_UP`` (Facebook's own scheduled
post: ``SCHEDULED_LATE_LIMIT`` after its time) goes to staff, who decide whether
to publish it again: it may have been deleted on the platform.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlalchemy.orm import Session

from ...channels.base import OutgoingPost, ReadsPosts, RemotePost
from ...channels.facebook import FacebookChannel
from ...errors import ChannelError
from ...states import PubState as S
from ...store import Post, Publication
from ...store.lifecycle import transition
from .context import Candidate, PublishContext, StepResult, fmt_local
from .outcomes import channel_level, needs_attention, platform_of
from .outgoing import ContentChanged

log = logging.getLogger("social_publisher.publisher")

#: look a little before the publishing time (the channels add their own clock slack)
FIND_MARGIN = timedelta(seconds=2)
#: after the scheduled time, how long Facebook may take before we call it missing
SCHEDULED_LATE_LIMIT = timedelta(hours=1)
CONFIRM_GIVE_UP = timedelta(minutes=30)


@dataclass(frozen=True)
class _Look:
    """How to look for one publication on its platform."""

    channel: str
    state: S
    remote_id: str
    probe: OutgoingPost | None  # None: the channel reads the post by its id
    since: datetime


def confirm(ctx: PublishContext, now: datetime, *, only_post: int | None = None) -> StepResult:
    """Check once that what we published (or Facebook scheduled) is live."""
    result = StepResult()
    due = or_(
        (Publication.state == S.PUBLISHED)
        & or_(Publication.next_attempt_at.is_(None), Publication.next_attempt_at <= now),
        (Publication.state == S.SCHEDULED_REMOTE) & (Publication.remote_scheduled_for <= now),
    )

    def look(c: Candidate) -> _Look | None:
        pub = c.pub
        if pub.remote_id is None:
            return None
        probe = None
        if not isinstance(ctx.channels[pub.channel], ReadsPosts):
            try:
                probe = ctx.builder.build(c.session, pub, with_images=False)
            except ContentChanged:
                return None
        since = (pub.published_at or now) - FIND_MARGIN
        return _Look(pub.channel, S(pub.state), pub.remote_id, probe, since)

    for pub_id, seen in ctx.candidates(now, [due], look, only_post=only_post):
        channel = ctx.channels[seen.channel]
        try:
            if "_" not in seen.remote_id and isinstance(channel, FacebookChannel):
                # a Facebook video known by its video id (no post id yet when scheduled)
                remote = channel.video_client().read(seen.remote_id)
            elif isinstance(channel, ReadsPosts):
                remote = channel.get_post(seen.remote_id)
            else:
                assert seen.probe is not None
                remote = channel.find_published(seen.probe, since=seen.since)
        except ChannelError as exc:
            with ctx.locked(pub_id) as (session, pub):
                if not channel_level(ctx, session, pub, exc, now):
                    pub.next_attempt_at = now + ctx.backoff(1)
            continue
        with ctx.locked(pub_id) as (session, pub):
            if pub.state == seen.state:
                _confirm_one(ctx, session, pub, remote, now, result)
    return result


def _confirm_one(
    ctx: PublishContext,
    session: Session,
    pub: Publication,
    remote: RemotePost | None,
    now: datetime,
    result: StepResult,
) -> None:
    post = session.get(Post, pub.post_id)
    title = post.title if post else str(pub.post_id)
    platform = platform_of(pub)
    was_scheduled = pub.state == S.SCHEDULED_REMOTE
    if remote is not None and remote.is_published:
        if remote.url:
            pub.remote_url = remote.url
        if "_" in remote.remote_id and "_" not in (pub.remote_id or "_"):
            pub.remote_id = remote.remote_id  # a video's post id, known once it is live
        if was_scheduled:
            pub.published_at = pub.remote_scheduled_for or remote.created_time or now
        elif pub.published_at is None:
            pub.published_at = remote.created_time or now
        pub.confirmed_at = now
        pub.next_attempt_at = None
        transition(session, pub, S.CONFIRMED, actor=ctx.worker, at=now)
        if was_scheduled:
            log.info(
                "Facebook đã đăng bài hẹn giờ '%s': %s", title, pub.remote_url or pub.remote_id
            )
        result.confirmed.append(pub.id)
        return
    reference = pub.remote_scheduled_for if was_scheduled else pub.published_at
    limit = SCHEDULED_LATE_LIMIT if was_scheduled else CONFIRM_GIVE_UP
    late = reference is not None and now - reference > limit
    if remote is None and late:
        reason = (
            f"Không thấy bài '{title}' trên {platform} ({pub.remote_url or pub.remote_id}): "
            f"có thể đã bị xóa trên {platform}. Kiểm tra trang; muốn đăng lại thì chạy "
            f"'social-publisher retry'."
        )
        needs_attention(ctx, session, pub, reason, now)
        result.attention.append(pub.id)
        return
    pub.next_attempt_at = now + timedelta(seconds=max(5, ctx.settings.tick_seconds))
    if was_scheduled and late:
        reason = (
            f"Facebook chưa đăng bài hẹn giờ '{title}' dù đã quá giờ hẹn "
            f"{fmt_local(reference, ctx.tz)}. Kiểm tra mục bài hẹn giờ của Trang."
        )
        transition(session, pub, S.NEEDS_ATTENTION, actor=ctx.worker, at=now, reason=reason)
        result.attention.append(pub.id)
