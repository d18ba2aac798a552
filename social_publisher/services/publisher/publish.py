"""Publish: hand Facebook posts to its scheduler, and create what is due, exactly once.

Only a post whose folder has settled is claimed (:mod:`..settle`). For a claimed
publication the discipline is: the outgoing post is built (a photo changed since
approval means "wait"), the post is looked for on the platform first (a database
that lost its history must not create it again: :mod:`.lookup`), an attempt row
is committed, the call is made, and its result is committed with the new state.
Zalo creates in two steps:
the processing token is committed before ``verify_article`` so that a crash in
between resumes with the token instead of creating the article again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select

from ... import errors
from ...channels.base import ChecksQuota, CreatesInTwoSteps, ScheduleHorizon, SchedulesNatively
from ...localtime import month_start
from ...states import LIVE_STATES, PUBLISHABLE_NOW
from ...states import PubState as S
from ...store import PostVersion, Publication
from ...store.lifecycle import extend_lease, transition
from ..planner import OVERRIDE_PUBLISH, Disposition
from ..settle import folder_seen_changing, folder_settled
from . import outcomes
from .context import Candidate, PublishContext, StepResult, error_kind, error_text, fmt_local
from .ledger import finish_attempt, note_attempt, start_attempt
from .lookup import look_before_create
from .outcomes import platform_of, post_title
from .outgoing import ContentChanged
from .video import REELS_HOLD, REELS_QUOTA_KIND, create_video, has_video, in_video_window

log = logging.getLogger("social_publisher.publisher")

#: poll a Zalo processing token this often, and give up polling after this long
ZALO_VERIFY_POLL = timedelta(seconds=2)
ZALO_VERIFY_GIVE_UP = timedelta(minutes=10)
#: Zalo -200 at verify: the article could not be built, so it does not exist
ZALO_SEND_FAILED = -200


def _not_before(now: datetime) -> ColumnElement[bool]:
    return or_(Publication.next_attempt_at.is_(None), Publication.next_attempt_at <= now)


# ------------------------------------------------------------------ hand to Facebook's scheduler


def schedule_remote(
    ctx: PublishContext, now: datetime, *, only_post: int | None = None
) -> StepResult:
    """Give approved Facebook posts 10 min–30 days ahead to Facebook's own scheduler."""
    result = StepResult()
    natives = {n: c for n, c in ctx.channels.items() if isinstance(c, SchedulesNatively)}
    if not natives:
        return result
    # Posts beyond every channel's horizon are not candidates: on an idle daemon with a
    # long queue, loading each one only to find it out of the window was most of a pass.
    leads = [
        c.schedule_max_lead if isinstance(c, ScheduleHorizon) else None for c in natives.values()
    ]
    known = [lead for lead in leads if lead is not None]
    horizon = [Publication.due_at <= now + max(known)] if len(known) == len(leads) else []
    conditions = [
        Publication.state == S.PENDING,
        Publication.channel.in_(list(natives)),
        Publication.due_at > now,
        *horizon,
        Publication.attempt_count < ctx.settings.retry_max_attempts,
        _not_before(now),
    ]

    def pick(c: Candidate) -> bool | None:
        pub = c.pub
        if pub.due_at is None or not natives[pub.channel].in_schedule_window(pub.due_at, now):
            return None
        if c.post.override == OVERRIDE_PUBLISH or c.verdict != Disposition.PUBLISH:
            return None
        version = c.post.current_version
        if has_video(version):
            assert version is not None and version.video is not None
            # Facebook schedules videos too (feed and Reels, each its own window)
            if not in_video_window(version.video.get("chosen_form"), pub.due_at, now):
                return None
        # a new version: the planner moves the publication to it first; a folder still
        # being copied or saved waits
        return (
            c.post.current_version_id == pub.version_id
            and folder_settled(c.post, now, ctx.settings)
        ) or None

    for pub_id, _ in ctx.candidates(
        now, conditions, pick, only_post=only_post, claim_from=[S.PENDING]
    ):
        _create(ctx, pub_id, "schedule", now, result)
    return result


# ------------------------------------------------------------------ publish what is due


def publish_due(
    ctx: PublishContext, now: datetime, *, only_post: int | None = None, limit: int | None = None
) -> StepResult:
    """Publish what is due; with ``limit``, stop after that many claims (``result.more``
    says whether more was due): a unit's turn in the fair order of ``services.fleet``."""
    result = StepResult()
    grace = timedelta(hours=ctx.settings.overdue_grace_hours)

    def publishable(c: Candidate) -> bool | None:
        if c.verdict != Disposition.PUBLISH:
            return None  # the planner holds or cancels it
        return folder_settled(c.post, now, ctx.settings) or None  # still being copied or saved

    def in_time(c: Candidate) -> bool:
        """Too late without a staff decision: claimed, then handed to staff."""
        pub, post = c.pub, c.post
        if post.override == OVERRIDE_PUBLISH or pub.due_at is None or now - pub.due_at <= grace:
            return True
        if pub.last_error_kind == REELS_QUOTA_KIND and now - pub.due_at <= grace + REELS_HOLD:
            return True  # held by the tool for Facebook's Reels limit, not by staff
        hours = (now - pub.due_at).total_seconds() / 3600
        reason = (
            f"Bài '{post.title}' quá hạn {hours:.0f} giờ (hẹn đăng "
            f"{fmt_local(pub.due_at, ctx.tz)}) nên chưa đăng lên {platform_of(pub)}: cần quyết "
            f"định: chạy 'social-publisher publish-now {post.folder}' để đăng hoặc "
            f"'social-publisher withdraw {post.folder}' để rút."
        )
        transition(c.session, pub, S.NEEDS_ATTENTION, actor=ctx.worker, at=now, reason=reason)
        log.warning("%s", reason)
        result.attention.append(pub.id)
        return False

    due = ctx.candidates(
        now,
        [Publication.state.in_(PUBLISHABLE_NOW), _not_before(now)],
        publishable,
        only_post=only_post,
        claim_from=PUBLISHABLE_NOW,
        after_claim=in_time,
    )
    for taken, (pub_id, _) in enumerate(due, start=1):
        _create(ctx, pub_id, "create", now, result)
        if limit is not None and taken >= limit:
            result.more = True  # maybe more are due: at this unit's next turn
            break
    return result


def _published_this_month(ctx: PublishContext, channel: str, now: datetime) -> int:
    with ctx.db.session() as session:
        return int(
            session.scalar(
                select(func.count(Publication.id)).where(
                    Publication.channel == channel,
                    Publication.state.in_(LIVE_STATES),
                    Publication.published_at >= month_start(now, ctx.tz),
                )
            )
            or 0
        )


def _create(
    ctx: PublishContext, pub_id: int, action: str, now: datetime, result: StepResult
) -> None:
    """Build, record the attempt, call, record the result: for a claimed publication."""
    with ctx.locked(pub_id) as (session, pub):
        version = session.get(PostVersion, pub.version_id) if pub.version_id else None
        is_video = has_video(version)
    if is_video:  # an upload in committed steps (publisher/video.py)
        create_video(ctx, pub_id, now, result, action)
        return
    with ctx.locked(pub_id) as (session, pub):
        channel = ctx.channels[pub.channel]
        try:
            post = ctx.builder.build(session, pub)
        except ContentChanged as exc:
            back = S.PENDING if action == "schedule" else S.DUE
            transition(session, pub, back, actor=ctx.worker, at=now, reason="content changed")
            folder_seen_changing(session, ctx.settings, pub.post_id, now)
            log.info(
                "Bài '%s' đang được sửa (%s): chờ lần quét sau.", post_title(session, pub), exc
            )
            return
        except errors.MediaError as exc:
            reason = f"Ảnh của bài không dùng được: {exc.message}"
            transition(session, pub, S.NEEDS_ATTENTION, actor=ctx.worker, at=now, reason=reason)
            pub.last_error, pub.last_error_kind = exc.message, "media"
            log.error(
                "Không đăng được bài '%s' lên %s: %s",
                post_title(session, pub),
                platform_of(pub),
                reason,
            )
            result.attention.append(pub_id)
            return
        content_hash, due_at = pub.content_hash, pub.due_at
    if action == "create" and isinstance(channel, ChecksQuota):
        try:
            channel.check_quota(_published_this_month(ctx, channel.name, now), now)
        except errors.QuotaError as exc:
            outcomes.create_failed(ctx, pub_id, None, exc, now, post.title)
            return
    if look_before_create(ctx, pub_id, action, channel, post, due_at, now, result):
        return  # already on the platform (adopted), or it could not be looked at yet
    started = ctx.now()
    attempt_id = start_attempt(ctx, pub_id, action, content_hash, title=post.title)
    try:
        if action == "schedule":
            assert due_at is not None and isinstance(channel, SchedulesNatively)
            remote = channel.schedule(post, due_at)
        elif isinstance(channel, CreatesInTwoSteps):
            token = channel.create_article(post)
            # Durable before verify: a crash from here on resumes with verify_article(token).
            note_attempt(ctx, attempt_id, token=token)
            verify_token(ctx, pub_id, attempt_id, channel, token, started, now, result, post.title)
            return
        else:
            remote = channel.publish(post)
    except (errors.OutcomeUnknownError, errors.DuplicateError) as exc:
        outcomes.unknown(ctx, pub_id, attempt_id, exc, now, post.title)
        return
    except errors.ProcessingError as exc:
        # Created, still processing after the channel's own polling: verify later.
        with ctx.locked(pub_id) as (session, pub):
            extend_lease(pub, now + ZALO_VERIFY_POLL)
            pub.last_error, pub.last_error_kind = error_text(exc), error_kind(exc)
        return
    except errors.SocialPublisherError as exc:
        # A definite refusal, or public media / a local problem before anything was sent.
        scheduling = action == "schedule"
        failed = outcomes.create_failed(
            ctx, pub_id, attempt_id, exc, now, post.title, scheduling=scheduling
        )
        result.note(failed)
        return
    except Exception as exc:  # a bug or an unexpected library error: we cannot know
        log.exception("unexpected error while publishing %s", pub_id)
        outcomes.unknown(ctx, pub_id, attempt_id, exc, now, post.title)
        return
    with ctx.locked(pub_id) as (session, pub):
        finish_attempt(ctx, session, attempt_id, "ok", remote_id=remote.remote_id)
        if action == "schedule":
            outcomes.scheduled(ctx, session, pub, remote, now)
            result.scheduled.append(pub_id)
        else:
            outcomes.published(ctx, session, pub, remote, now)
            result.published.append(pub_id)
        outcomes.mark_channel_ok(ctx, session, pub.channel, now)


def verify_token(
    ctx: PublishContext,
    pub_id: int,
    attempt_id: int,
    channel: CreatesInTwoSteps,
    token: str,
    started: datetime,
    now: datetime,
    result: StepResult,
    title: str,
) -> None:
    """Zalo's second step: the processing token becomes the article (or says why not)."""
    try:
        remote = channel.verify_article(token)
    except errors.ProcessingError as exc:
        with ctx.locked(pub_id) as (session, pub):
            if now - started > ZALO_VERIFY_GIVE_UP:
                finish_attempt(ctx, session, attempt_id, "failed", exc=exc)
                reason = (
                    f"Zalo xử lý bài '{title}' quá lâu (hơn "
                    f"{int(ZALO_VERIFY_GIVE_UP.total_seconds() // 60)} phút). Kiểm tra "
                    "trang quản lý Zalo OA: nếu bài đã có thì không cần làm gì, nếu "
                    "chưa có thì chạy 'social-publisher retry'."
                )
                transition(session, pub, S.NEEDS_ATTENTION, actor=ctx.worker, at=now, reason=reason)
                result.attention.append(pub_id)
            else:
                # Poll again soon (the pass wakes up for it); never create again.
                age = now - started
                extend_lease(pub, now + min(max(ZALO_VERIFY_POLL, age / 4), timedelta(minutes=1)))
        return
    except errors.ChannelError as exc:
        with ctx.locked(pub_id) as (session, pub):
            if outcomes.channel_level(ctx, session, pub, exc, now):
                extend_lease(pub, now + max(ctx.backoff(1), timedelta(seconds=1)))
                return
            if isinstance(exc, errors.TransientError) and exc.code == ZALO_SEND_FAILED:
                # Zalo could not build the article (e.g. cover not fetchable): nothing
                # was published, creating it again later is safe.
                finish_attempt(ctx, session, attempt_id, "failed", exc=exc)
                outcomes.after_failure(ctx, session, pub, exc, now, title)
                result.note(pub)
                return
            # Anything else: the article may exist. Look for it before any new create.
            outcomes.mark_unknown(ctx, session, pub, attempt_id, exc, now)
        return
    with ctx.locked(pub_id) as (session, pub):
        finish_attempt(ctx, session, attempt_id, "ok", remote_id=remote.remote_id)
        outcomes.published(ctx, session, pub, remote, now)
        result.published.append(pub_id)
