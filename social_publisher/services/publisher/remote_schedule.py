"""Remote schedule upkeep: keep Facebook's scheduled posts in line with the queue.

A post Facebook holds is edited there (text, time), cancelled and planned again
(new photos, a time out of the window, a dropped channel), cancelled (withdrawn),
or published at once (``publish-now``). Each call is its own attempt row. Within
``REMOTE_EDIT_MARGIN`` of its time it is left alone: Facebook is about to publish.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ...channels.base import OutgoingPost, RemotePost, SchedulesNatively
from ...errors import ChannelError, MediaError
from ...states import PubState as S
from ...store import Post, PostVersion, Publication
from ...store.lifecycle import audit, release, transition
from ..planner import OVERRIDE_PUBLISH, Disposition, adopt_version
from .context import Candidate, PublishContext, StepResult, error_kind, error_text, fmt_local
from .ledger import finish_attempt, last_create_attempt, start_attempt
from .outcomes import channel_level, published
from .outgoing import ContentChanged
from .video import has_video, video_state

log = logging.getLogger("social_publisher.publisher")

#: native scheduling: do not touch a Facebook scheduled post this close to its time
REMOTE_EDIT_MARGIN = timedelta(minutes=2)
#: steps that only change our record, not the platform
LOCAL_STEPS = ("adopt_version", "replan")
#: what each platform step is called in the lines staff read
STEP_LABELS = {
    "cancel": "hủy lịch",
    "update": "sửa nội dung",
    "reschedule": "đổi giờ đăng",
    "publish_now": "đăng ngay",
}


@dataclass
class _Plan:
    """What to do on the platform for one scheduled post, read under its claim."""

    remote_id: str
    title: str
    verdict: Disposition
    steps: list[str]
    version: PostVersion | None
    outgoing: OutgoingPost | None
    #: a scheduled Facebook video: cancelled by deleting the video (its post goes with it)
    video_id: str | None = None


def sync_remote(ctx: PublishContext, now: datetime, *, only_post: int | None = None) -> StepResult:
    """Keep Facebook's scheduled posts in line with the queue (edits, withdrawals)."""
    result = StepResult()

    def task_for(c: Candidate) -> tuple[str, SchedulesNatively] | None:
        pub = c.pub
        channel = ctx.channels[pub.channel]
        if not isinstance(channel, SchedulesNatively) or pub.remote_id is None:
            return None
        at = pub.remote_scheduled_for
        if at is not None and at <= now + REMOTE_EDIT_MARGIN:
            return None  # Facebook is about to publish it (or has): hands off, confirm later
        version = c.post.current_version
        if c.verdict == Disposition.PUBLISH and c.post.override == OVERRIDE_PUBLISH:
            return "publish_now", channel
        if c.verdict != Disposition.PUBLISH:
            return "cancel", channel
        if (version is not None and version.content_hash != pub.content_hash) or (
            pub.due_at is not None and at is not None and pub.due_at != at
        ):
            return "edit", channel
        return None

    for pub_id, (task, channel) in ctx.candidates(
        now,
        [Publication.state == S.SCHEDULED_REMOTE],
        task_for,
        only_post=only_post,
        claim_from=[S.SCHEDULED_REMOTE],
        to=None,
    ):
        plan = _plan(ctx, pub_id, task, channel, now)
        if plan is not None and _call(ctx, pub_id, task, plan, channel, now, result):
            _apply(ctx, pub_id, task, plan, now, result)
    return result


def _steps(pub: Publication, version: PostVersion, old: PostVersion | None) -> list[str]:
    """The platform calls an edit needs (the new time's window is checked by the caller)."""
    if (
        old is None
        or [i.get("sha256") for i in old.images or []]
        != [i.get("sha256") for i in version.images or []]
        or (old.link or "") != (version.link or "")
        or version.publish_at is None
    ):
        return ["cancel", "replan"]  # new photos or link: Facebook cannot edit those
    steps = []
    if old.title != version.title or old.body != version.body:
        steps.append("update")
    if version.publish_at != pub.remote_scheduled_for:
        steps.append("reschedule")
    return [*steps, "adopt_version"]


def _plan(
    ctx: PublishContext, pub_id: int, task: str, channel: SchedulesNatively, now: datetime
) -> _Plan | None:
    with ctx.locked(pub_id) as (session, pub):
        post = session.get(Post, pub.post_id)
        assert post is not None and pub.remote_id is not None
        version = post.current_version
        old = session.get(PostVersion, pub.version_id) if pub.version_id else None
        candidate = Candidate(session, pub)
        steps = [task]
        video_id = None
        if has_video(old):
            # Graph edits a video's text and time on the video, not on its post (and the
            # sheet confirms neither): any change is a cancel and a new upload
            video_id = str((video_state(last_create_attempt(session, pub_id)) or {}).get(
                "video_id") or "") or None  # fmt: skip
            if task != "cancel":
                steps = ["cancel", "replan"]
        elif task == "edit" and version is not None:
            steps = _steps(pub, version, old)
            new_at = version.publish_at
            if new_at is not None and not channel.in_schedule_window(new_at, now):
                steps = ["cancel", "replan"]  # a time Facebook's scheduler cannot take
        outgoing = None
        if "update" in steps and version is not None:
            try:
                outgoing = _message_of(ctx, session, pub, version)
            except (ContentChanged, MediaError):
                release(pub)
                return None
        return _Plan(
            pub.remote_id, post.title, candidate.verdict, steps, version, outgoing, video_id
        )


def _message_of(
    ctx: PublishContext, session: Session, pub: Publication, version: PostVersion
) -> OutgoingPost:
    """The new version's text, built as if the publication already followed it."""
    old = pub.version_id
    pub.version_id = version.id
    try:
        return ctx.builder.build(session, pub, with_images=False)
    finally:
        pub.version_id = old


def _call(
    ctx: PublishContext,
    pub_id: int,
    task: str,
    plan: _Plan,
    channel: SchedulesNatively,
    now: datetime,
    result: StepResult,
) -> bool:
    """Make the platform calls, one attempt row each; False (claim given back) on a failure."""
    new_hash = plan.version.content_hash if plan.version is not None else None
    remote_id = plan.remote_id
    for step in plan.steps:
        if step in LOCAL_STEPS:
            continue
        attempt_id = start_attempt(ctx, pub_id, step, new_hash, remote_id=remote_id, reason=task)
        try:
            if step == "cancel":
                if plan.video_id:
                    channel.video_client().delete(plan.video_id)  # type: ignore[attr-defined]
                channel.cancel(remote_id)  # a post already gone counts as cancelled
            elif step == "update":
                assert plan.outgoing is not None
                channel.update_message(remote_id, plan.outgoing)
            elif step == "reschedule":
                assert plan.version is not None and plan.version.publish_at is not None
                channel.reschedule(remote_id, plan.version.publish_at)
            elif step == "publish_now":
                channel.publish_scheduled_now(remote_id)
        except ChannelError as exc:
            with ctx.locked(pub_id) as (session, pub):
                finish_attempt(ctx, session, attempt_id, "failed", exc=exc)
                release(pub)
                if not channel_level(ctx, session, pub, exc, now):
                    pub.last_error, pub.last_error_kind = error_text(exc), error_kind(exc)
                log.warning(
                    "Không cập nhật được bài hẹn giờ '%s' trên Facebook (%s): %s. Sẽ thử lại.",
                    plan.title,
                    STEP_LABELS.get(step, step),
                    error_text(exc),
                )
            return False
        with ctx.db.session() as session:
            finish_attempt(ctx, session, attempt_id, "ok", remote_id=remote_id)
        result.remote_updates += 1
    return True


def _apply(
    ctx: PublishContext, pub_id: int, task: str, plan: _Plan, now: datetime, result: StepResult
) -> None:
    """Record what the platform now holds, and give the claim back."""
    with ctx.locked(pub_id) as (session, pub):
        post = session.get(Post, pub.post_id)
        assert post is not None
        version = post.current_version
        release(pub)
        old_hash = pub.content_hash
        if "publish_now" in plan.steps:
            remote = RemotePost(remote_id=plan.remote_id, url=pub.remote_url)
            published(ctx, session, pub, remote, now)
            result.published.append(pub_id)
        elif "cancel" in plan.steps:
            pub.remote_id = pub.remote_url = None
            pub.remote_scheduled_for = None
            if plan.verdict == Disposition.CANCEL:
                transition(session, pub, S.CANCELLED, actor=ctx.worker, at=now, reason="withdrawn")
                log.info("Đã hủy bài hẹn giờ '%s' trên Facebook (bài đã rút).", plan.title)
                result.cancelled.append(pub_id)
                return
            if version is not None and plan.verdict == Disposition.PUBLISH:
                adopt_version(pub, version)
                audit(
                    session,
                    ctx.worker,
                    "edited_before_publish",
                    pub,
                    at=now,
                    old_hash=old_hash,
                    new_hash=version.content_hash,
                    remote="cancelled for re-scheduling",
                )
            pub.attempt_count = 0
            pub.next_attempt_at = None
            transition(session, pub, S.PENDING, actor=ctx.worker, at=now, reason=task)
            log.info("Đã gỡ lịch đăng '%s' trên Facebook để lên lịch lại theo bản mới.", plan.title)
        else:
            assert version is not None
            adopt_version(pub, version)
            pub.remote_scheduled_for = version.publish_at
            audit(
                session,
                ctx.worker,
                "remote_updated",
                pub,
                at=now,
                old_hash=old_hash,
                new_hash=version.content_hash,
                steps=plan.steps,
                scheduled_for=version.publish_at.isoformat() if version.publish_at else None,
            )
            log.info(
                "Đã cập nhật bài hẹn giờ '%s' trên Facebook (%s), đăng lúc %s.",
                plan.title,
                ", ".join(STEP_LABELS.get(s, s) for s in plan.steps if s not in LOCAL_STEPS),
                fmt_local(version.publish_at, ctx.tz),
            )
