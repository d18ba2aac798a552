"""Zalo broadcast: push a published article to the OA's followers when the post asks.

Sending has no idempotency either, so the publication's ``broadcast_state`` is
set to ``sending`` and committed before the call: a crash never sends it twice
(an interrupted send stays ``sending`` for staff to look at).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import func, select

from ...channels.base import Broadcasts
from ...errors import ChannelError, NightTimeError, OutcomeUnknownError, QuotaError
from ...localtime import month_start
from ...platforms import next_broadcast_opening
from ...states import LIVE_STATES
from ...store import PostVersion, Publication
from ...store.lifecycle import audit
from .context import PublishContext, StepResult

log = logging.getLogger("social_publisher.publisher")


def broadcast(ctx: PublishContext, now: datetime, *, only_post: int | None = None) -> StepResult:
    """Send each live Zalo article whose post says ``Gửi tin Zalo: có``, once."""
    result = StepResult()
    channel = ctx.channels.get("zalo")
    if not isinstance(channel, Broadcasts):
        return result
    with ctx.db.session() as session:
        query = (
            select(Publication.id)
            .join(PostVersion, PostVersion.id == Publication.version_id)
            .where(
                Publication.channel == "zalo",
                Publication.state.in_(LIVE_STATES),
                Publication.broadcast_state.is_(None),
                PostVersion.zalo_broadcast.is_(True),
            )
        )
        if only_post is not None:
            query = query.where(Publication.post_id == only_post)
        ids = list(session.scalars(query))
        if not ids or not ctx.channel_usable(session, "zalo", now):
            return result
        sent = int(
            session.scalar(
                select(func.count(Publication.id)).where(
                    Publication.channel == "zalo",
                    Publication.broadcast_state == "sent",
                    Publication.published_at >= month_start(now, ctx.tz),
                )
            )
            or 0
        )
    for pub_id in ids:
        with ctx.locked(pub_id) as (session, pub):
            if pub.broadcast_state is not None or pub.remote_id is None:
                continue
            if (
                pub.next_attempt_at is not None
                and pub.next_attempt_at > now
                and pub.broadcast_message
            ):
                continue  # waiting for 06:00
            pub.broadcast_state = "sending"
            remote_id = pub.remote_id
        state, message = "sent", "Zalo đã nhận yêu cầu gửi tin (Zalo duyệt trước khi gửi)."
        try:
            channel.broadcast(remote_id, now=now, sent_this_month=sent)
            sent += 1
        except NightTimeError as exc:
            state, message = "", exc.message
        except QuotaError as exc:
            state, message = "skipped", exc.message
        except OutcomeUnknownError as exc:
            state = "unknown"
            message = f"Không rõ Zalo đã nhận yêu cầu gửi tin chưa (không gửi lại): {exc.message}"
        except ChannelError as exc:
            state, message = "refused", exc.message
        with ctx.locked(pub_id) as (session, pub):
            pub.broadcast_state = state or None
            pub.broadcast_message = message
            if not state:
                pub.next_attempt_at = next_broadcast_opening(now, ctx.tz).astimezone(UTC)
            audit(
                session,
                ctx.worker,
                "broadcast",
                pub,
                at=now,
                state=state or "waiting",
                message=message,
            )
        log.info("Gửi tin Zalo cho bài %s: %s", pub_id, message)
    return result
