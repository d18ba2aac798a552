"""Taking a live post down: the explicit staff command (docs/architecture.md).

Nothing else ever removes a published post: not a local edit, not a removed folder,
not ``Trạng thái: hủy``. ``withdraw POST --live`` does, and like every call that
changes a platform it commits an attempt row before the call and the result after,
so the record shows who took what down, and when.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select

from ..channels.base import Channel, RemovesArticles, SchedulesNatively
from ..errors import SocialPublisherError
from ..platforms import platform_name
from ..states import LIVE_STATES
from ..states import PubState as S
from ..store import Attempt, Database, Publication
from ..store.lifecycle import audit, transition
from .planner import ActionResult, find_post

log = logging.getLogger("social_publisher.takedown")


def _remove(channel: Channel, remote_id: str) -> None:
    if isinstance(channel, RemovesArticles):  # Zalo
        channel.remove_article(remote_id)
    elif isinstance(channel, SchedulesNatively):  # Facebook: DELETE takes a live post too
        channel.cancel(remote_id)
    else:
        raise SocialPublisherError(
            f"kênh {platform_name(channel.name)} không gỡ được bài qua API, gỡ trực tiếp trên trang"
        )


def take_down(
    db: Database, channels: Mapping[str, Channel], key: str, *, now: datetime, actor: str
) -> ActionResult:
    """Remove every live publication of a post from its platform; each channel on its own."""
    with db.session() as session:
        post = find_post(session, key)
        result = ActionResult(post.id, post.folder, post.title)
        live = [
            (pub.id, pub.channel, pub.remote_id, pub.content_hash)
            for pub in session.scalars(
                select(Publication)
                .where(Publication.post_id == post.id)
                .where(Publication.state.in_([s.value for s in LIVE_STATES]))
                .order_by(Publication.channel)
            )
        ]
    if not live:
        result.notes.append("Bài chưa đăng trên kênh nào: không có gì để gỡ.")
    for pub_id, name, remote_id, content_hash in live:
        platform = platform_name(name)
        channel = channels.get(name)
        if channel is None or not remote_id:
            result.notes.append(
                f"{platform}: kênh đang tắt (thiếu cấu hình) nên không gỡ được; gỡ trực tiếp "
                "trên trang."
            )
            continue
        with db.session() as session:
            attempt = Attempt(
                publication_id=pub_id,
                action="remove",
                worker=actor,
                content_hash=content_hash,
                started_at=now,
                remote_id=remote_id,
            )
            session.add(attempt)
            session.flush()
            attempt_id = attempt.id
        try:
            _remove(channel, remote_id)
        except SocialPublisherError as exc:
            with db.session() as session:
                done = session.get(Attempt, attempt_id)
                assert done is not None
                done.outcome, done.finished_at = "failed", now
                done.error_kind = getattr(exc, "kind", type(exc).__name__)
                done.error_message = exc.message
            log.error("Không gỡ được bài '%s' trên %s: %s", post.title, platform, exc.message)
            result.notes.append(f"{platform}: không gỡ được ({exc.message}). Thử lại sau.")
            continue
        with db.session() as session:
            done = session.get(Attempt, attempt_id)
            pub = session.get(Publication, pub_id)
            assert done is not None and pub is not None
            done.outcome, done.finished_at = "ok", now
            transition(
                session, pub, S.CANCELLED, actor=actor, at=now, reason="removed live by staff"
            )
            audit(session, actor, "removed_live", pub, at=now, remote_id=remote_id)
        log.info("Đã gỡ bài '%s' khỏi %s theo yêu cầu của %s.", post.title, platform, actor)
        result.changed.append(name)
        result.notes.append(f"{platform}: đã gỡ bài khỏi trang.")
    return result
