"""What an answer means: published, scheduled, or a failure and what to do about it.

The failure policy (docs/architecture.md "Exactly once"): a failure that concerns
the whole channel (rate limit, policy block, quota, auth, permission) blocks the
channel; a definite refusal of the post goes to staff; a transient one waits with
exponential backoff until ``RETRY_MAX_ATTEMPTS``; an unknown outcome is never
retried but reconciled.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from ...channels.base import RemotePost
from ...errors import (
    AuthError,
    ChannelError,
    DuplicateError,
    InvalidRequestError,
    NightTimeError,
    PermissionDeniedError,
    PolicyError,
    QuotaError,
    RateLimitError,
    SetupError,
    SocialPublisherError,
)
from ...localtime import next_month_start
from ...platforms import next_broadcast_opening, platform_name
from ...states import BLOCKING_HEALTH, HealthState
from ...states import PubState as S
from ...store import ChannelHealth, Post, Publication
from ...store.lifecycle import audit, extend_lease, health_of, set_health, transition
from ...store.tenancy import unit_key
from .context import PublishContext, error_kind, error_text, fmt_local
from .ledger import finish_attempt

log = logging.getLogger("social_publisher.publisher")

#: after a create, wait this long before confirming it is live
CONFIRM_DELAY = timedelta(seconds=3)
#: a policy block with no estimate from the platform lasts this long
POLICY_DEFAULT_WAIT = timedelta(hours=2)
#: wait this long after an unanswered create before looking for the post (Zalo's
#: ``find_published`` itself says "not settled yet" until its processing window passed)
RECONCILE_DELAY = timedelta(seconds=2)


def platform_of(pub: Publication) -> str:
    return platform_name(pub.channel)


def post_title(session: Session, pub: Publication) -> object:
    """The post's title for a staff line (its number if the row is gone)."""
    post = session.get(Post, pub.post_id)
    return post.title if post else pub.post_id


def _take_remote(pub: Publication, remote: RemotePost) -> None:
    """The platform's id (and link) for the post; earlier errors are over."""
    pub.remote_id = remote.remote_id
    if remote.url:
        pub.remote_url = remote.url
    pub.last_error = pub.last_error_kind = None


def published(
    ctx: PublishContext, session: Session, pub: Publication, remote: RemotePost, now: datetime
) -> None:
    _take_remote(pub, remote)
    pub.published_at = remote.created_time or now
    pub.next_attempt_at = now + CONFIRM_DELAY
    transition(session, pub, S.PUBLISHED, actor=ctx.worker, at=now, remote_id=remote.remote_id)
    log.info(
        "Đã đăng '%s' lên %s: %s",
        post_title(session, pub),
        platform_of(pub),
        pub.remote_url or pub.remote_id,
    )


def scheduled(
    ctx: PublishContext, session: Session, pub: Publication, remote: RemotePost, now: datetime
) -> None:
    _take_remote(pub, remote)
    pub.remote_scheduled_for = remote.scheduled_for or pub.due_at
    pub.next_attempt_at = None
    transition(
        session, pub, S.SCHEDULED_REMOTE, actor=ctx.worker, at=now, remote_id=remote.remote_id
    )
    log.info(
        "Đã hẹn giờ '%s' trên Facebook lúc %s (Facebook tự đăng, kể cả khi máy tắt).",
        post_title(session, pub),
        fmt_local(pub.remote_scheduled_for, ctx.tz),
    )


def adopted(
    ctx: PublishContext,
    session: Session,
    pub: Publication,
    found: RemotePost,
    now: datetime,
    *,
    as_scheduled: bool,
    **why: Any,
) -> None:
    """``found`` is this publication's post (an earlier create made it, or it went out
    before the database knew): recorded as ours; nothing is sent again."""
    audit(session, ctx.worker, "adopted", pub, at=now, remote_id=found.remote_id, **why)
    if as_scheduled:
        scheduled(ctx, session, pub, found, now)
    else:
        published(ctx, session, pub, found, now)


def needs_attention(
    ctx: PublishContext, session: Session, pub: Publication, reason: str, now: datetime
) -> None:
    """Hand it to staff: the reason says what happened and what to run."""
    transition(session, pub, S.NEEDS_ATTENTION, actor=ctx.worker, at=now, reason=reason)
    log.error("%s", reason)


def unknown(
    ctx: PublishContext, pub_id: int, attempt_id: int, exc: BaseException, now: datetime, title: str
) -> None:
    """No trustworthy answer: stay ``publishing``; reconcile looks on the platform first."""
    with ctx.locked(pub_id) as (session, pub):
        mark_unknown(ctx, session, pub, attempt_id, exc, now)
        log.warning(
            "Không rõ bài '%s' đã lên %s chưa (%s): sẽ kiểm tra trên %s trước khi gửi lại.",
            title,
            platform_of(pub),
            error_text(exc),
            platform_of(pub),
        )


def mark_unknown(
    ctx: PublishContext,
    session: Session,
    pub: Publication,
    attempt_id: int,
    exc: BaseException,
    now: datetime,
) -> None:
    """Record the attempt as unknown and keep the claim until reconcile may look."""
    finish_attempt(ctx, session, attempt_id, "unknown", exc=exc)
    pub.last_error, pub.last_error_kind = error_text(exc), error_kind(exc)
    extend_lease(pub, now + RECONCILE_DELAY)


def create_failed(
    ctx: PublishContext,
    pub_id: int,
    attempt_id: int | None,
    exc: SocialPublisherError,
    now: datetime,
    title: str,
    *,
    scheduling: bool = False,
) -> Publication:
    """A create (or schedule) that certainly created nothing; returns the publication."""
    with ctx.locked(pub_id) as (session, pub):
        if attempt_id is not None:
            finish_attempt(ctx, session, attempt_id, "failed", exc=exc)
        if scheduling:
            schedule_failed(ctx, session, pub, exc, now, title)
        elif isinstance(exc, ChannelError):
            after_failure(ctx, session, pub, exc, now, title)
        else:  # public media or a local problem before anything was sent
            retry_or_attention(ctx, session, pub, error_text(exc), now, title=title)
        return pub


# ------------------------------------------------------------------ channel health


def block_channel(
    ctx: PublishContext,
    session: Session,
    channel: str,
    state: HealthState,
    reason: str,
    *,
    until: datetime | None,
    now: datetime,
) -> None:
    if health_of(session, channel) in BLOCKING_HEALTH and state not in BLOCKING_HEALTH:
        return  # an auth or permission block stays until staff clear it
    set_health(session, channel, state, actor=ctx.worker, at=now, reason=reason, until=until)


def mark_channel_ok(ctx: PublishContext, session: Session, channel: str, now: datetime) -> None:
    if health_of(session, channel) in BLOCKING_HEALTH:
        return  # only a staff action (retry / doctor / token update) clears these
    set_health(session, channel, HealthState.OK, actor=ctx.worker, at=now)


#: a failure that concerns the whole channel: the health it sets, and why (Vietnamese)
CHANNEL_BLOCKS: dict[type[ChannelError], tuple[HealthState, str]] = {
    RateLimitError: (
        HealthState.RATE_LIMITED,
        "{platform} báo gửi quá nhiều yêu cầu; tạm dừng đến {until}.",
    ),
    PolicyError: (
        HealthState.POLICY,
        "{platform} tạm chặn đăng bài ({message}); tạm dừng đến {until}. Không đăng dồn dập; "
        "kiểm tra Trang.",
    ),
    QuotaError: (
        HealthState.QUOTA,
        "Zalo OA đã hết lượt đăng bài của gói ({message}); các bài Zalo chờ đến {until} hoặc "
        "nâng gói rồi chạy 'social-publisher retry'.",
    ),
    # before AuthError (its base): a wrong setting, whose advice is the whole reason
    SetupError: (HealthState.SETUP, "{advice}"),
    AuthError: (
        HealthState.AUTH_FAILED,
        "Token {platform} không còn hợp lệ ({message}). Dừng đăng lên {platform}: {fix}, rồi "
        "chạy 'social-publisher retry'.",
    ),
    PermissionDeniedError: (
        HealthState.PERMISSION,
        "{platform} từ chối quyền ({message}). Kiểm tra quyền của ứng dụng và tài khoản, rồi "
        "chạy 'social-publisher retry'.",
    ),
}
TOKEN_FIX = {
    "facebook": "cấp lại FB_PAGE_ACCESS_TOKEN trong .env",
    "zalo": "chạy 'social-publisher zalo token set' với cặp token mới",
}


def _blocked_until(ctx: PublishContext, exc: ChannelError, now: datetime) -> datetime | None:
    """Until when the channel waits: the platform's estimate, else our own rule."""
    if isinstance(exc, RateLimitError):
        # Capped at RETRY_MAX_SECONDS: one probe an hour at most is harmless, and a stale
        # estimate never parks a channel for a day.
        wait = timedelta(seconds=exc.retry_after) if exc.retry_after else ctx.backoff(1)
        return now + min(wait, timedelta(seconds=max(1, ctx.settings.retry_max_seconds)))
    if isinstance(exc, AuthError | PermissionDeniedError):
        return None  # until staff act
    if exc.retry_after:
        return now + timedelta(seconds=exc.retry_after)
    if isinstance(exc, QuotaError):
        return next_month_start(now, ctx.tz).astimezone(UTC)  # when Zalo's quota resets
    return now + POLICY_DEFAULT_WAIT


def channel_level(
    ctx: PublishContext, session: Session, pub: Publication, exc: ChannelError, now: datetime
) -> bool:
    """Record a failure that concerns the whole channel; True when it was one."""
    kind = next((k for k in CHANNEL_BLOCKS if isinstance(exc, k)), None)
    if kind is None:
        return False
    state, template = CHANNEL_BLOCKS[kind]
    until = _blocked_until(ctx, exc, now)
    reason = template.format(
        platform=platform_of(pub),
        message=exc.platform_message,
        until=fmt_local(until, ctx.tz),
        fix=TOKEN_FIX.get(pub.channel, TOKEN_FIX["zalo"]),
        advice=exc.advice if isinstance(exc, SetupError) else "",
    )
    block_channel(ctx, session, pub.channel, state, reason, until=until, now=now)
    if state == HealthState.RATE_LIMITED:
        log.warning(
            "%s giới hạn tần suất: tạm dừng kênh này đến %s.",
            platform_of(pub),
            fmt_local(until, ctx.tz),
        )
    else:
        log.error("%s", reason)
    return True


# ------------------------------------------------------------------ failure policy


def after_failure(
    ctx: PublishContext,
    session: Session,
    pub: Publication,
    exc: ChannelError,
    now: datetime,
    title: str,
) -> None:
    """A create failed with a definite answer (nothing was created)."""
    pub.last_error, pub.last_error_kind = error_text(exc), error_kind(exc)
    platform = platform_of(pub)
    if channel_level(ctx, session, pub, exc, now):
        if isinstance(exc, PermissionDeniedError):
            reason = f"{platform} từ chối quyền: {exc.platform_message}"
            transition(session, pub, S.NEEDS_ATTENTION, actor=ctx.worker, at=now, reason=reason)
            return
        blocked = session.get(ChannelHealth, unit_key(session, pub.channel))
        pub.next_attempt_at = blocked.blocked_until if blocked else None
        transition(session, pub, S.DUE, actor=ctx.worker, at=now, reason=error_kind(exc))
        return
    if isinstance(exc, InvalidRequestError | DuplicateError):
        reason = (
            f"{platform} từ chối bài '{title}': {exc.platform_message}. Sửa bài theo thông "
            f"báo rồi lưu lại (bài sẽ được đăng lại), hoặc chạy 'social-publisher withdraw'."
        )
        needs_attention(ctx, session, pub, reason, now)
        return
    if isinstance(exc, NightTimeError):
        pub.next_attempt_at = next_broadcast_opening(now, ctx.tz).astimezone(UTC)
        transition(session, pub, S.RETRY_WAIT, actor=ctx.worker, at=now, reason="night")
        return
    retry_or_attention(ctx, session, pub, error_text(exc), now, title=title)


def retry_or_attention(
    ctx: PublishContext,
    session: Session,
    pub: Publication,
    error: str,
    now: datetime,
    *,
    title: str = "",
) -> None:
    """Backoff and retry, until the attempts run out: then staff decide."""
    pub.attempt_count += 1
    platform = platform_of(pub)
    limit = ctx.settings.retry_max_attempts
    if pub.attempt_count >= limit:
        reason = (
            f"Đã thử đăng {pub.attempt_count} lần lên {platform} không thành công: {error}. "
            f"Kiểm tra kết nối/cấu hình rồi chạy 'social-publisher retry'."
        )
        transition(session, pub, S.NEEDS_ATTENTION, actor=ctx.worker, at=now, reason=reason)
        log.error("Bài '%s': %s", title or pub.post_id, reason)
        return
    pub.next_attempt_at = now + ctx.backoff(pub.attempt_count)
    transition(session, pub, S.RETRY_WAIT, actor=ctx.worker, at=now, error=error)
    log.warning(
        "Lỗi khi đăng '%s' lên %s: %s. Sẽ thử lại lúc %s (lần %d/%d).",
        title or pub.post_id,
        platform,
        error,
        fmt_local(pub.next_attempt_at, ctx.tz),
        pub.attempt_count + 1,
        limit,
    )


def schedule_failed(
    ctx: PublishContext,
    session: Session,
    pub: Publication,
    exc: SocialPublisherError,
    now: datetime,
    title: str,
) -> None:
    """Native scheduling failed: fall back to publishing it ourselves at its time."""
    pub.last_error, pub.last_error_kind = error_text(exc), error_kind(exc)
    if isinstance(exc, ChannelError) and channel_level(ctx, session, pub, exc, now):
        transition(session, pub, S.PENDING, actor=ctx.worker, at=now, reason=error_kind(exc))
        return
    if isinstance(exc, InvalidRequestError):
        reason = (
            f"Facebook từ chối bài '{title}': {exc.platform_message}. Sửa bài theo thông báo "
            f"rồi lưu lại, hoặc chạy 'social-publisher withdraw'."
        )
        needs_attention(ctx, session, pub, reason, now)
        return
    pub.attempt_count += 1
    pub.next_attempt_at = now + ctx.backoff(pub.attempt_count)
    transition(session, pub, S.PENDING, actor=ctx.worker, at=now, reason="schedule failed")
    log.warning(
        "Chưa hẹn giờ được '%s' trên Facebook (%s); sẽ thử lại lúc %s.",
        title,
        error_text(exc),
        fmt_local(pub.next_attempt_at, ctx.tz),
    )
