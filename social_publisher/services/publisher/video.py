"""Publish a post's video: a Facebook feed video or Reel, a Zalo video article, exactly once.

An upload takes minutes and several calls, so it is a sequence of steps
(``channels.facebook_video``, ``channels.zalo_video``). The attempt row is committed
before the first call, and every step's state (Facebook's ``video_id`` known at
``start``, the upload session and offsets; Zalo's upload token, ``video_id``, article
token) is committed into it (``details.video``) before the next step starts. A crash, a
dropped answer or a 5xx at any step therefore leaves the publication ``publishing`` with
that state, and :func:`resume_video` (from ``reconcile``) continues from it: the upload
goes on at the offset the platform gives, a finish that may have reached Facebook is read
back before finishing again, a Zalo create that may have happened is looked for first.
Nothing is uploaded twice, and a Facebook upload that cannot go on (a definite refusal,
attempts exhausted) is cancelled, so no second draft stays on the Page.

Before the first upload the video is looked for on the platform (:func:`_look_first`, as
photo posts do in :mod:`.lookup`): found, it is adopted and nothing is uploaded. A Facebook
video 15 min to 29/179 days ahead is handed to Facebook's scheduler (``action="schedule"``,
from ``schedule_remote``) and lives as ``scheduled_remote`` like a photo post
(:mod:`.remote_schedule` deletes the video on withdrawal, re-plans it on any change).

Reels: at most 30 per Page in 24 h (Graph's own list, read before a new Reel); a Reel
over the limit waits in ``retry_wait`` until the oldest leaves the window, without
counting as a failure and without stopping the channel's other posts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ... import errors
from ...channels.base import ChecksQuota, OutgoingImage, RemotePost
from ...media.cache import file_sha256
from ...media.specs import Rendition
from ...states import PubState as S
from ...store import Attempt, Post, PostVersion
from ...store.lifecycle import extend_lease, transition
from ..settle import folder_seen_changing
from ..video_media import FACEBOOK, VideoForChannel, render_for
from . import outcomes
from .context import PublishContext, StepResult, error_kind, error_text
from .ledger import finish_attempt, note_attempt, start_attempt
from .outcomes import platform_of

log = logging.getLogger("social_publisher.publisher.video")

#: ``last_error_kind`` of a Reel held for the 30-a-day limit (the overdue rule allows
#: for the hold: the tool held it, not staff)
REELS_QUOTA_KIND = "reels_quota"
REELS_HOLD = timedelta(hours=24)
#: how the daemon polls a platform's processing inside one pass (then: a later pass)
POLL_INTERVAL = 2.0
POLL_TIMEOUT = 60.0
#: a failed step is resumed this many times before the upload is given up (and cancelled)
MAX_RESUMES = 8


class _Changed(Exception):
    """The clip (or its cover photo) changed since approval: wait for the next scan."""


@dataclass(frozen=True)
class _Job:
    pub_id: int
    channel: str
    title: str
    description: str
    content_hash: str | None
    source: Path
    form: str | None
    cover_photo: Path | None
    folder_post_id: int
    due_at: datetime | None = None
    chosen_form: str | None = None


def has_video(version: PostVersion | None) -> bool:
    return version is not None and bool(version.video)


def _job(ctx: PublishContext, session: Any, pub: Any) -> _Job:
    version = session.get(PostVersion, pub.version_id) if pub.version_id else None
    post = session.get(Post, pub.post_id)
    assert version is not None and version.video and post is not None
    video = version.video
    folder = ctx.settings.queue_dir / post.folder
    source = folder / str(video["name"])
    if not source.is_file() or file_sha256(source) != video["sha256"]:
        raise _Changed(f"{source} changed since it was approved")
    cover_name = version.cover or (version.images[0]["name"] if version.images else None)
    cover = folder / cover_name if cover_name else None
    if cover is not None and not cover.is_file():
        raise _Changed(f"{cover} is gone")
    title = video.get("title") or version.title
    description = video.get("description") or version.body
    return _Job(
        pub_id=pub.id,
        channel=pub.channel,
        title=str(title),
        description=str(description),
        content_hash=version.content_hash,
        source=source,
        form=video.get("form"),
        cover_photo=cover,
        folder_post_id=post.id,
        due_at=pub.due_at,
        chosen_form=video.get("chosen_form"),
    )


def _cover_rendition(ctx: PublishContext, job: _Job) -> Rendition | None:
    if job.cover_photo is None or ctx.render is None:
        return None
    wanted = "facebook" if job.channel == FACEBOOK else "zalo_cover"
    return next((r for r in ctx.render(job.cover_photo) if r.channel == wanted), None)


def _prepare(ctx: PublishContext, job: _Job) -> VideoForChannel:
    return render_for(
        ctx.settings,
        job.source,
        job.channel,
        job.form,
        cover_photo=_cover_rendition(ctx, job),
    )


# ------------------------------------------------------------------ the two flows


def _facebook(
    ctx: PublishContext,
    job: _Job,
    media: VideoForChannel,
    state: dict[str, Any] | None,
    step: Any,
    publish_at: datetime | None = None,
) -> RemotePost:
    from ...channels.facebook_video import FEED, VideoPost, VideoUploadState

    client = ctx.channels[job.channel].video_client(  # type: ignore[attr-defined]
        poll_interval=POLL_INTERVAL, poll_timeout=POLL_TIMEOUT
    )
    post = VideoPost(
        title=job.title,
        description=job.description,
        thumbnail=media.cover.path if media.cover is not None and media.kind == FEED else None,
        publish_at=publish_at,
    )
    current = (
        VideoUploadState.from_dict(state)
        if state
        else VideoUploadState(kind="reel" if media.kind == "reel" else FEED)
    )

    def on_step(new: VideoUploadState) -> None:
        step(new.as_dict())

    final = client.resume(media.path, post, current, on_step)
    remote_id = final.post_id or final.video_id
    scheduled = datetime.fromtimestamp(final.scheduled_for, UTC) if final.scheduled_for else None
    return RemotePost(
        remote_id=str(remote_id),
        url=final.permalink,
        created_time=scheduled or ctx.now(),
        scheduled_for=scheduled,
        is_published=scheduled is None,
        extra={"video_id": final.video_id, "video_kind": final.kind},
    )


def _zalo(
    ctx: PublishContext,
    job: _Job,
    media: VideoForChannel,
    state: dict[str, Any] | None,
    step: Any,
    publish_at: datetime | None = None,
) -> RemotePost:
    from ...channels.zalo_video import ZaloVideoPost, ZaloVideoState

    channel = ctx.channels[job.channel]
    client = channel.video_client(  # type: ignore[attr-defined]
        poll_interval=POLL_INTERVAL, poll_timeout=POLL_TIMEOUT
    )
    if media.cover is None:
        raise errors.MediaError("Không có ảnh bìa cho bài video Zalo.", path=str(job.source))
    image = OutgoingImage(
        path=Path(media.cover.path),
        sha256=media.cover.sha256,
        width=media.cover.width,
        height=media.cover.height,
        bytes=media.cover.bytes,
    )
    public = getattr(channel, "public_media", None)
    if public is None:
        raise errors.PublicMediaError(
            "Chưa cấu hình thư mục ảnh công khai cho Zalo: đặt PUBLIC_MEDIA_DIR và "
            "PUBLIC_MEDIA_BASE_URL trong tệp .env (Zalo tự tải ảnh bìa từ địa chỉ công khai)."
        )
    cover_url = public.publish_all([image])[image.path]
    post = ZaloVideoPost(title=job.title, description=job.description, cover_url=cover_url)
    current = ZaloVideoState.from_dict(state) if state else ZaloVideoState()

    def on_step(new: ZaloVideoState) -> None:
        step(new.as_dict())

    final = client.resume(media.path, post, current, on_step)
    return RemotePost(
        remote_id=str(final.article_id),
        url=final.url,
        created_time=ctx.now(),
        extra={"video_id": final.video_id},
    )


# ------------------------------------------------------------------ entry points


def create_video(
    ctx: PublishContext, pub_id: int, now: datetime, result: StepResult, action: str = "create"
) -> None:
    """A claimed publication whose version has a video: render, then upload.

    ``action="schedule"``: a Facebook video handed to Facebook's own scheduler (feed:
    ``published=false`` + ``scheduled_publish_time``; Reels: ``video_state=SCHEDULED``),
    which then lives as ``scheduled_remote`` like a scheduled photo post.
    """
    _run(ctx, pub_id, now, result, attempt_id=None, state=None, action=action)


def resume_video(
    ctx: PublishContext,
    pub_id: int,
    attempt_id: int,
    state: dict[str, Any],
    now: datetime,
    result: StepResult,
    action: str = "create",
) -> None:
    """Continue an upload a crash or a failed step left at ``state`` (from reconcile)."""
    _run(ctx, pub_id, now, result, attempt_id=attempt_id, state=state, action=action)


def schedule_window(kind: str | None) -> tuple[timedelta, timedelta]:
    """How far ahead Facebook's scheduler takes a video of ``kind`` (``feed``/``reel``;
    None: the narrower Reels window), with the tool's margins (docs/api/video.md)."""
    from ...channels.facebook_video import FEED, FEED_SCHEDULE, REEL_SCHEDULE

    return FEED_SCHEDULE if kind == FEED else REEL_SCHEDULE


def kind_of_form(chosen_form: str | None) -> str | None:
    """The Facebook kind the queue's chosen form (``reels``/``thường``) goes out as."""
    from ...media.video.rules import FORM_FEED, FORM_REELS

    return {FORM_FEED: "feed", FORM_REELS: "reel"}.get(chosen_form or "")


def in_video_window(chosen_form: str | None, at: datetime, now: datetime) -> bool:
    low, high = schedule_window(kind_of_form(chosen_form))
    return low <= at - now <= high


def video_state(attempt: Attempt | None) -> dict[str, Any] | None:
    """The committed upload state of a video attempt (None: not a video attempt)."""
    if attempt is None:
        return None
    video = (attempt.details or {}).get("video")
    return dict(video) if isinstance(video, dict) else None


def _run(
    ctx: PublishContext,
    pub_id: int,
    now: datetime,
    result: StepResult,
    *,
    attempt_id: int | None,
    state: dict[str, Any] | None,
    action: str = "create",
) -> None:
    timeout = timedelta(seconds=ctx.settings.video_transcode_timeout_seconds)
    scheduling = action == "schedule"
    back = S.PENDING if scheduling else S.DUE
    with ctx.locked(pub_id) as (session, pub):
        try:
            job = _job(ctx, session, pub)
        except _Changed as exc:
            if attempt_id is None:  # nothing sent yet: wait for the folder to settle
                transition(session, pub, back, actor=ctx.worker, at=now, reason="content changed")
                folder_seen_changing(session, ctx.settings, pub.post_id, now)
                log.info("Video của bài đang được sửa (%s): chờ lần quét sau.", exc)
                return
            changed: Exception | None = exc
        else:
            changed = None
        # a transcode may take minutes: the claim lasts as long as it may
        extend_lease(pub, now + timeout)
    if changed is not None:  # mid-upload: the approved clip must come back to go on
        _later(ctx, pub_id, changed, now, timedelta(minutes=1))
        return
    try:
        media = _prepare(ctx, job)
    except errors.MediaError as exc:
        _media_refused(ctx, pub_id, attempt_id, exc, now, result, job.title)
        return
    publish_at: datetime | None = None
    if scheduling:
        at = (state or {}).get("step")
        publish_at = job.due_at
        low, high = schedule_window(media.kind)
        ahead = (job.due_at - ctx.now()) if job.due_at is not None else None
        if (
            at not in CREATING
            and at not in CREATED
            and not (ahead is not None and low <= ahead <= high)
        ):
            # the window closed while rendering or between resumes: published by us at its time
            if attempt_id is None:
                with ctx.locked(pub_id) as (session, pub):
                    transition(session, pub, S.PENDING, actor=ctx.worker, at=now, reason="window")
                log.info("Video '%s' không còn trong khung hẹn giờ của Facebook: "
                         "công cụ tự đăng đúng giờ.", job.title)  # fmt: skip
                return
            if ahead is not None and ahead > timedelta(0):
                with ctx.locked(pub_id) as (_, pub):
                    extend_lease(pub, now + ahead)
                return
            publish_at = None
    if attempt_id is None:
        if not _quota_allows(ctx, job, media, now, back):
            return
        if _look_first(ctx, job, media, action, now, result):
            return  # already on the platform (adopted), or it could not be looked at yet
        attempt_id = start_attempt(
            ctx, pub_id, action, job.content_hash, title=job.title, video={}, kind=media.kind
        )
    resumes = int((state or {}).get("_resumes", 0))
    committed: dict[str, Any] = dict(state or {})
    aid = attempt_id

    def step(new: dict[str, Any]) -> None:
        committed.clear()
        committed.update(new, _resumes=resumes)
        note_attempt(ctx, aid, video=dict(committed))
        with ctx.locked(pub_id) as (_, pub):
            extend_lease(pub, ctx.now() + ctx.lease)

    clean = {k: v for k, v in (state or {}).items() if not k.startswith("_")}
    try:
        flow = _facebook if job.channel == FACEBOOK else _zalo
        remote = flow(ctx, job, media, clean or None, step, publish_at)
    except errors.ProcessingError as exc:
        # uploaded, still processing: a later pass polls again from the committed step
        _later(ctx, pub_id, exc, now, timedelta(seconds=exc.retry_after or 30.0))
        return
    except errors.SocialPublisherError as exc:
        at = committed.get("step")
        if at in CREATED:
            go_on = True  # the post exists: only ever finish what was started
        elif at in CREATING:  # sent or not: only a definite refusal says "not"
            go_on = not isinstance(exc, errors.InvalidRequestError)
        else:
            go_on = _resumable(exc) and resumes < MAX_RESUMES
        if go_on:
            note_attempt(ctx, aid, video={**committed, "_resumes": resumes + 1})
            with ctx.locked(pub_id) as (session, pub):
                if isinstance(exc, errors.ChannelError):
                    outcomes.channel_level(ctx, session, pub, exc, now)
            _later(ctx, pub_id, exc, now, max(ctx.backoff(resumes + 1), timedelta(seconds=1)))
            return
        _give_up(ctx, job, aid, committed, exc, now, result, scheduling=scheduling)
        return
    except Exception as exc:  # a bug or a library error: the committed step is kept
        log.exception("unexpected error while uploading the video of %s", pub_id)
        _later(ctx, pub_id, exc, now, timedelta(seconds=30))
        return
    with ctx.locked(pub_id) as (session, pub):
        finish_attempt(ctx, session, aid, "ok", remote_id=remote.remote_id)
        if remote.scheduled_for is not None and not remote.is_published:
            outcomes.scheduled(ctx, session, pub, remote, now)
            result.scheduled.append(pub_id)
        else:
            outcomes.published(ctx, session, pub, remote, now)
            result.published.append(pub_id)
        outcomes.mark_channel_ok(ctx, session, pub.channel, now)


def _look_first(
    ctx: PublishContext, job: _Job, media: VideoForChannel, action: str, now: datetime,
    result: StepResult,
) -> bool:  # fmt: skip
    """Before the first byte of an upload, look for the video on the platform (as photo
    posts do, :mod:`.lookup`): a database that lost its history must not post it twice.
    True when that settled the publication (adopted, held for a person, or waiting)."""
    from .lookup import (
        LOOK_BACK,
        SCHEDULE_LOOK_BACK,
        adopt_found,
        held_remote_ids,
        hold_unverified,
        wait_to_look,
    )

    with ctx.db.session() as session:
        exclude = held_remote_ids(session, job.channel, job.pub_id)
    back = SCHEDULE_LOOK_BACK if action == "schedule" else LOOK_BACK
    since = min(job.due_at or now, now) - back
    channel = ctx.channels[job.channel]
    try:
        if job.channel == FACEBOOK:
            client = channel.video_client()  # type: ignore[attr-defined]
            found = client.find_video(
                media.kind, job.title, job.description, since, exclude=exclude
            )
        else:
            from ...channels.zalo_video import ZaloVideoPost

            post = ZaloVideoPost(title=job.title, description=job.description, cover_url="")
            found = channel.video_client().find_existing(  # type: ignore[attr-defined]
                post, since, exclude=exclude
            )
    except errors.UnverifiedMatchError as exc:
        hold_unverified(ctx, job.pub_id, None, exc, job.title, now, result)
        return True
    except errors.ChannelError as exc:  # ProcessingError too: ask again, upload nothing
        wait_to_look(ctx, job.pub_id, action, exc, job.title, now)
        return True
    if found is None:
        return False
    adopt_found(ctx, job.pub_id, action, job.channel, found, job.title, now, result)
    return True


#: steps at which the create was sent (Facebook's finish, Zalo's article/create) and
#: its answer is not known: a definite refusal means "not made", anything else resumes
CREATING = frozenset({"finishing", "creating"})
#: steps after the platform made the post: nothing is given up, every failure resumes
CREATED = frozenset({"finished", "ready", "created", "published"})


def _resumable(exc: errors.SocialPublisherError) -> bool:
    """A failure after which the upload may go on from its committed step."""
    return isinstance(
        exc, errors.TransientError | errors.OutcomeUnknownError | errors.RateLimitError
    )


def _later(
    ctx: PublishContext, pub_id: int, exc: BaseException, now: datetime, wait: timedelta
) -> None:
    """Stay ``publishing`` with the committed step; reconcile resumes once the lease ends."""
    with ctx.locked(pub_id) as (_, pub):
        pub.last_error, pub.last_error_kind = error_text(exc), error_kind(exc)
        extend_lease(pub, now + wait)
    log.warning(
        "Video lên %s chưa xong (%s): sẽ tải tiếp từ bước đã lưu.",
        "Facebook" if pub.channel == FACEBOOK else "Zalo OA",
        error_text(exc),
    )


def _give_up(
    ctx: PublishContext,
    job: _Job,
    attempt_id: int,
    committed: dict[str, Any],
    exc: errors.SocialPublisherError,
    now: datetime,
    result: StepResult,
    *,
    scheduling: bool = False,
) -> None:
    """A definite refusal (or too many failed resumes): cancel a half-made Facebook
    upload so no draft stays on the Page, then the usual failure policy."""
    if job.channel == FACEBOOK and committed.get("video_id"):
        from ...channels.facebook_video import VideoUploadState

        upload = VideoUploadState.from_dict(committed)
        try:
            ctx.channels[job.channel].video_client().cancel(upload)  # type: ignore[attr-defined]
            log.info("cancelled the unfinished Facebook upload %s", upload.video_id)
        except errors.SocialPublisherError as cancel_exc:
            if upload.step not in ("finished", "ready"):
                # the draft may stay: keep the state so a later pass cancels or resumes it
                _later(ctx, job.pub_id, cancel_exc, now, max(ctx.backoff(2), timedelta(seconds=5)))
                return
    failed = outcomes.create_failed(
        ctx, job.pub_id, attempt_id, exc, now, job.title, scheduling=scheduling
    )
    result.note(failed)


def _media_refused(
    ctx: PublishContext,
    pub_id: int,
    attempt_id: int | None,
    exc: errors.MediaError,
    now: datetime,
    result: StepResult,
    title: str,
) -> None:
    with ctx.locked(pub_id) as (session, pub):
        if attempt_id is not None:
            finish_attempt(ctx, session, attempt_id, "failed", exc=exc)
        reason = f"Video của bài '{title}' không dùng được: {exc.message}"
        transition(session, pub, S.NEEDS_ATTENTION, actor=ctx.worker, at=now, reason=reason)
        pub.last_error, pub.last_error_kind = exc.message, "media"
        log.error("Không đăng được bài '%s' lên %s: %s", title, platform_of(pub), reason)
        result.attention.append(pub_id)


def _quota_allows(
    ctx: PublishContext, job: _Job, media: VideoForChannel, now: datetime, back: S = S.DUE
) -> bool:
    """Zalo's monthly articles, Facebook's 30 Reels in 24 h; False: it waits (not a failure)."""
    channel = ctx.channels[job.channel]
    try:
        if media.kind == "reel":
            quota = channel.video_client().reels_quota()  # type: ignore[attr-defined]
            if quota.remaining <= 0:
                until = quota.next_free or now + timedelta(hours=1)
                raise errors.QuotaError(
                    f"Trang đã đăng {quota.used}/{quota.limit} Reels trong 24 giờ qua (giới hạn "
                    "của Facebook): video được giữ lại và tự đăng khi có chỗ.",
                    platform="facebook",
                    retry_after=max((until - now).total_seconds(), 60.0),
                )
        elif isinstance(channel, ChecksQuota):
            from .publish import _published_this_month

            channel.check_quota(_published_this_month(ctx, channel.name, now), now)
    except errors.QuotaError as exc:
        if back == S.PENDING:  # scheduling: try again later, or we publish it at its time
            with ctx.locked(job.pub_id) as (session, pub):
                pub.next_attempt_at = now + timedelta(seconds=exc.retry_after or 3600)
                pub.last_error, pub.last_error_kind = exc.message, REELS_QUOTA_KIND
                transition(session, pub, back, actor=ctx.worker, at=now, reason="reels quota")
            log.warning("%s", exc.message)
            return False
        if media.kind != "reel":
            outcomes.create_failed(ctx, job.pub_id, None, exc, now, job.title)
            return False
        with ctx.locked(job.pub_id) as (session, pub):
            pub.next_attempt_at = now + timedelta(seconds=exc.retry_after or 3600)
            pub.last_error, pub.last_error_kind = exc.message, REELS_QUOTA_KIND
            transition(session, pub, S.RETRY_WAIT, actor=ctx.worker, at=now, reason="reels quota")
        log.warning("%s", exc.message)
        return False
    except errors.ChannelError as exc:
        with ctx.locked(job.pub_id) as (session, pub):
            outcomes.channel_level(ctx, session, pub, exc, now)
            pub.last_error, pub.last_error_kind = error_text(exc), error_kind(exc)
            pub.next_attempt_at = now + max(ctx.backoff(1), timedelta(seconds=1))
            transition(session, pub, back, actor=ctx.worker, at=now, reason=error_kind(exc))
        return False
    return True
