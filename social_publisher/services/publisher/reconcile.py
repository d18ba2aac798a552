"""Reconcile: settle every ``publishing`` row a crash or an unknown outcome left behind.

Never a blind retry. The last create attempt says what was sent; the platform is
asked whether the post is there (``find_published`` since the attempt began, or
since the first one after Facebook's 506 duplicate), never answering a post
another publication holds. Found: adopted. A match that cannot be verified: held
for a person (:mod:`.lookup`). A settled "not there": the create may run again.
Anything else: look again later.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ...channels.base import CreatesInTwoSteps, RemotePost
from ...errors import ChannelError, MediaError, ProcessingError, UnverifiedMatchError
from ...states import PubState as S
from ...store import Publication
from ...store.lifecycle import claim_is_free, extend_lease, transition
from .context import Candidate, PublishContext, StepResult, error_text
from .ledger import finish_attempt, first_create_started, last_create_attempt, record_not_found
from .lookup import find, held_remote_ids, hold_unverified
from .outcomes import adopted, channel_level, platform_of, post_title, retry_or_attention
from .outgoing import ContentChanged
from .publish import ZALO_VERIFY_POLL, verify_token
from .video import resume_video, video_state

log = logging.getLogger("social_publisher.publisher")

SETTLED = ("ok", "adopted", "failed", "not_found")


def _any(candidate: Candidate) -> bool:
    return True


def reconcile(ctx: PublishContext, now: datetime, *, only_post: int | None = None) -> StepResult:
    """Settle every ``publishing`` row whose worker is gone or whose outcome was unknown."""
    result = StepResult()
    ctx.takeover_due.clear()
    stale = [
        Publication.state == S.PUBLISHING,
        claim_is_free(now, worker=ctx.worker, take_over=ctx.exclusive, dead=ctx.dead_workers()),
    ]
    for pub_id, _ in ctx.candidates(
        now,
        stale,
        _any,
        only_post=only_post,
        claim_from=[S.PUBLISHING],
        to=None,
        take_over=True,
    ):
        _reconcile_one(ctx, pub_id, now, result)
    return result


def _back(pub: Publication, now: datetime) -> S:
    return S.DUE if pub.due_at is None or pub.due_at <= now else S.PENDING


def _reconcile_one(ctx: PublishContext, pub_id: int, now: datetime, result: StepResult) -> None:
    with ctx.locked(pub_id) as (session, pub):
        attempt = last_create_attempt(session, pub_id)
        channel = ctx.channels[pub.channel]
        settled = attempt is not None and (
            attempt.outcome in SETTLED or bool((attempt.details or {}).get("reconciled"))
        )
        if attempt is None or settled:
            # Claimed, then nothing sent (or the result is already recorded): give it back.
            transition(session, pub, _back(pub, now), actor=ctx.worker, at=now, reason="reclaimed")
            log.info(
                "Lấy lại bài '%s' trên %s (tiến trình trước đã dừng).",
                post_title(session, pub),
                platform_of(pub),
            )
            return
        attempt_id, action, started = attempt.id, attempt.action, attempt.started_at
        upload = video_state(attempt)
    if upload is not None:  # a video upload: continue from its committed step
        resume_video(ctx, pub_id, attempt_id, upload, now, result, action)
        return
    with ctx.locked(pub_id) as (session, pub):
        attempt = last_create_attempt(session, pub_id)
        assert attempt is not None
        channel = ctx.channels[pub.channel]
        token = (attempt.details or {}).get("token")
        was_unknown = attempt.outcome == "unknown"
        # 506: the same text is already on the Page; look since our first attempt.
        since = started
        if attempt.error_kind == "duplicate":
            since = first_create_started(session, pub_id) or started
        try:
            post = ctx.builder.build(session, pub)
        except (ContentChanged, MediaError):
            post = ctx.builder.build(session, pub, with_images=False)
        exclude = held_remote_ids(session, pub.channel, pub_id)
    title = post.title

    if token and not was_unknown and isinstance(channel, CreatesInTwoSteps):
        verify_token(ctx, pub_id, attempt_id, channel, str(token), started, now, result, title)
        return
    try:
        # ``since`` exactly: the channels look a few minutes earlier themselves, and
        # Zalo's settle window counts from it (a margin here would shorten it).
        found = find(channel, post, since, exclude)
    except UnverifiedMatchError as exc:
        hold_unverified(ctx, pub_id, attempt_id, exc, title, now, result)
        return
    except ProcessingError as exc:
        # Zalo: not listed yet, but it may still be processing: not a final answer.
        wait = timedelta(seconds=exc.retry_after or ZALO_VERIFY_POLL.total_seconds())
        with ctx.locked(pub_id) as (session, pub):
            extend_lease(pub, now + min(max(wait, timedelta(seconds=1)), ZALO_VERIFY_POLL * 5))
        return
    except ChannelError as exc:
        with ctx.locked(pub_id) as (session, pub):
            channel_level(ctx, session, pub, exc, now)
            extend_lease(pub, now + max(ctx.backoff(1), timedelta(seconds=1)))
        log.warning(
            "Chưa kiểm tra được bài '%s' trên %s (%s); sẽ kiểm tra lại.",
            title,
            platform_of(pub),
            error_text(exc),
        )
        return
    with ctx.locked(pub_id) as (session, pub):
        if found is not None:
            adopt(ctx, session, pub, attempt_id, action, found, now)
            result.adopted.append(pub_id)
            return
        outcome = "unknown" if was_unknown else "not_found"
        finish_attempt(ctx, session, attempt_id, outcome, reconciled="not_found")
        record_not_found(ctx, session, pub_id, pub.content_hash, attempt_id, started, now)
        if action == "schedule":
            pub.next_attempt_at = now + ctx.backoff(max(1, pub.attempt_count))
            transition(session, pub, _back(pub, now), actor=ctx.worker, at=now, reason="not_found")
        elif was_unknown:
            retry_or_attention(ctx, session, pub, pub.last_error or "không rõ kết quả", now)
        else:
            pub.next_attempt_at = None
            transition(session, pub, S.DUE, actor=ctx.worker, at=now, reason="not_found")
        log.info(
            "Không thấy bài '%s' trên %s sau lần gửi trước: sẽ gửi lại.", title, platform_of(pub)
        )
        result.note(pub)


def adopt(
    ctx: PublishContext,
    session: Session,
    pub: Publication,
    attempt_id: int,
    action: str,
    found: RemotePost,
    now: datetime,
) -> None:
    """The earlier create did make the post: record it as ours instead of sending it again."""
    finish_attempt(ctx, session, attempt_id, "adopted", remote_id=found.remote_id)
    as_scheduled = action == "schedule" and not found.is_published
    adopted(ctx, session, pub, found, now, as_scheduled=as_scheduled, attempt_id=attempt_id)
    log.info(
        "Đã tìm thấy trên %s bài gửi trước đó (không gửi lại): %s",
        platform_of(pub),
        found.url or found.remote_id,
    )
