"""From posts to publications: one per post × channel, following the post's latest version.

The planner only touches the database. It decides what each publication
*should* be from the post as the queue last showed it (:func:`disposition`)
and applies the changes that need no platform call. Anything held on a
platform (a Facebook scheduled post) is left for the publisher, which
compares ``Publication.content_hash`` / ``remote_scheduled_for`` with the
post's current version and moves or cancels it there first.

Rules (docs/architecture.md "Approval and edits"):
- a ready, approved, valid post gets a publication per channel it names,
  ``due_at`` = its publish time; ``pending`` becomes ``due`` when that passes;
- an edit before publishing moves the publication to the new version (audit
  event with old and new hash); an edit after publishing is only logged;
- a withdrawn or removed post (or a channel dropped from ``Kênh``) cancels
  what has not gone out; the cancellation is undone if the post comes back;
- a draft, invalid or held post keeps its publications waiting (``pending``).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from ..platforms import CHANNELS
from ..platforms import platform_name as _platform
from ..queue import fold
from ..states import (
    LIVE_STATES,
    OPEN_STATES,
    PLATFORM_HELD,
    REQUEUEABLE,
    HealthState,
    PostState,
)
from ..states import PubState as S
from ..store import AuditEvent, Database, Post, PostVersion, Publication
from ..store.lifecycle import audit, set_health, transition

log = logging.getLogger("social_publisher.planner")

OVERRIDE_PUBLISH = "publish"
OVERRIDE_WITHDRAW = "withdraw"


class Disposition(StrEnum):
    PUBLISH = "publish"  # approved and valid: it should go out at due_at
    HOLD = "hold"  # draft, invalid or held for a decision: wait, do not publish
    CANCEL = "cancel"  # withdrawn, removed, or this channel dropped


def disposition(post: Post, version: PostVersion | None, channel: str) -> Disposition:
    """What a publication of ``post`` on ``channel`` should be, from the post alone.

    Approval is ``post.approved_by``: ingest sets it for the current version to who
    approved that content as it counts (a web-console approval of its hash, or the
    ``Người duyệt`` header when APPROVAL_MODE lets it), never to a header that does not.
    """
    if (
        post.state in (PostState.WITHDRAWN, PostState.REMOVED)
        or post.override == OVERRIDE_WITHDRAW
        or (version is not None and version.withdrawn)
    ):
        return Disposition.CANCEL
    if version is None:
        return Disposition.HOLD
    if channel not in (version.channels or []):
        return Disposition.CANCEL
    ready = post.state == PostState.READY or (
        post.state == PostState.HELD and post.override == OVERRIDE_PUBLISH
    )
    if (
        not ready
        or not post.approved_by
        or version.problems
        or version.publish_at is None
        or post.current_version_id != version.id
    ):
        return Disposition.HOLD
    return Disposition.PUBLISH


@dataclass
class PlanResult:
    created: int = 0
    edited: int = 0
    cancelled: int = 0
    revived: int = 0
    became_due: int = 0
    held: int = 0
    edited_after_publish: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return (
            self.created
            + self.edited
            + self.cancelled
            + self.revived
            + self.became_due
            + self.held
            + self.edited_after_publish
        )

    def merge(self, other: PlanResult) -> None:
        """Add another unit's plan (the fleet's pass sums them)."""
        for item in fields(self):
            mine = getattr(self, item.name)
            if isinstance(mine, list):
                mine.extend(getattr(other, item.name))
            else:
                setattr(self, item.name, mine + getattr(other, item.name))


def adopt_version(pub: Publication, version: PostVersion) -> None:
    """The publication now follows ``version``: its content, approver and time.

    The approver on record is the post's (who approved this content as it counts, see
    :func:`disposition`) when ``version`` is the post's current one, as it is for every
    caller; the version's header name otherwise."""
    pub.version_id = version.id
    pub.content_hash = version.content_hash
    post = version.post
    current = post is not None and post.current_version_id == version.id
    pub.approved_by = post.approved_by if current else version.approved_by
    pub.due_at = version.publish_at


def _edit_logged(session: Session, pub_ids: list[int]) -> set[tuple[int, str]]:
    if not pub_ids:
        return set()
    rows = session.execute(
        select(AuditEvent.publication_id, AuditEvent.details).where(
            AuditEvent.event == "edited_after_publish", AuditEvent.publication_id.in_(pub_ids)
        )
    )
    return {(pid, str(details.get("new_hash"))) for pid, details in rows if pid is not None}


def plan(
    db: Database,
    *,
    now: datetime,
    actor: str = "daemon",
    only_post: int | None = None,
) -> PlanResult:
    """Bring every publication in line with its post (one transaction)."""
    result = PlanResult()
    with db.session() as session:
        post_q = (
            select(Post, PostVersion)
            .outerjoin(PostVersion, PostVersion.id == Post.current_version_id)
            .options(
                load_only(
                    PostVersion.id,
                    PostVersion.post_id,
                    PostVersion.content_hash,
                    PostVersion.channels,
                    PostVersion.publish_at,
                    PostVersion.approved_by,
                    PostVersion.withdrawn,
                    PostVersion.problems,
                    PostVersion.title,
                )
            )
        )
        pub_q = select(Publication)
        if only_post is not None:
            post_q = post_q.where(Post.id == only_post)
            pub_q = pub_q.where(Publication.post_id == only_post)
        posts = session.execute(post_q).all()
        pubs_by_post: dict[int, dict[str, Publication]] = {}
        for pub in session.scalars(pub_q):
            pubs_by_post.setdefault(pub.post_id, {})[pub.channel] = pub

        edited_done: list[tuple[Publication, PostVersion]] = []
        for post, version in posts:
            existing = pubs_by_post.get(post.id, {})
            wanted = [c for c in CHANNELS if version is not None and c in (version.channels or [])]
            for channel in wanted:
                if channel in existing or version is None:
                    continue
                if disposition(post, version, channel) != Disposition.PUBLISH:
                    continue
                pub = Publication(post_id=post.id, channel=channel, state=S.PENDING.value)
                adopt_version(pub, version)
                session.add(pub)
                session.flush()
                audit(
                    session,
                    actor,
                    "planned",
                    pub,
                    at=now,
                    channel=channel,
                    content_hash=version.content_hash,
                    approved_by=version.approved_by,
                    due_at=pub.due_at.isoformat() if pub.due_at else None,
                )
                result.created += 1
                existing[channel] = pub
                if pub.due_at is not None and pub.due_at <= now:
                    transition(session, pub, S.DUE, actor=actor, at=now)
                    pub.next_attempt_at = None
                    result.became_due += 1

            for channel, pub in existing.items():
                verdict = disposition(post, version, channel)
                state = S(pub.state)
                if state in LIVE_STATES:
                    if version is not None and pub.content_hash != version.content_hash:
                        edited_done.append((pub, version))
                    continue
                if state in PLATFORM_HELD:
                    continue  # in flight, or held on the platform: the publisher's job
                if state == S.CANCELLED:
                    if verdict == Disposition.PUBLISH and version is not None:
                        adopt_version(pub, version)
                        pub.attempt_count = 0
                        pub.next_attempt_at = None
                        pub.remote_id = pub.remote_url = None
                        pub.remote_scheduled_for = None
                        pub.last_error = pub.last_error_kind = None
                        transition(session, pub, S.PENDING, actor=actor, at=now, reason="revived")
                        result.revived += 1
                    else:
                        continue
                elif verdict == Disposition.CANCEL:
                    why = f"post {post.state}"
                    transition(session, pub, S.CANCELLED, actor=actor, at=now, reason=why)
                    pub.next_attempt_at = None
                    result.cancelled += 1
                    continue
                elif verdict == Disposition.HOLD:
                    if state in (S.DUE, S.RETRY_WAIT):
                        why = f"post {post.state}"
                        transition(session, pub, S.PENDING, actor=actor, at=now, reason=why)
                        pub.next_attempt_at = None
                        result.held += 1
                    continue
                assert version is not None
                if pub.version_id != version.id:
                    old_hash = pub.content_hash
                    adopt_version(pub, version)
                    audit(
                        session,
                        actor,
                        "edited_before_publish",
                        pub,
                        at=now,
                        old_hash=old_hash,
                        new_hash=version.content_hash,
                        due_at=pub.due_at.isoformat() if pub.due_at else None,
                    )
                    log.info(
                        "Bài '%s' đã được sửa trước khi đăng lên %s: sẽ đăng bản mới.",
                        post.title,
                        _platform(channel),
                    )
                    result.edited += 1
                    pub.attempt_count = 0
                    pub.next_attempt_at = None
                    pub.last_error = pub.last_error_kind = None
                    keep_due = post.override == OVERRIDE_PUBLISH and state == S.DUE
                    if state != S.PENDING and not keep_due:
                        transition(session, pub, S.PENDING, actor=actor, at=now, reason="edited")
                if (
                    pub.state == S.PENDING
                    and pub.due_at is not None
                    and (pub.due_at <= now or post.override == OVERRIDE_PUBLISH)
                    and (pub.next_attempt_at is None or pub.next_attempt_at <= now)
                ):
                    transition(session, pub, S.DUE, actor=actor, at=now)
                    pub.next_attempt_at = None
                    pub.attempt_count = 0
                    result.became_due += 1

        if edited_done:
            logged = _edit_logged(session, [p.id for p, _ in edited_done])
            for pub, version in edited_done:
                if (pub.id, version.content_hash) in logged:
                    continue
                audit(
                    session,
                    actor,
                    "edited_after_publish",
                    pub,
                    at=now,
                    old_hash=pub.content_hash,
                    new_hash=version.content_hash,
                    remote_id=pub.remote_id,
                )
                log.warning(
                    "Bài '%s' đã đăng lên %s; nội dung sửa sau đó KHÔNG được đăng lại (%s). "
                    "Muốn sửa bài đã đăng, hãy sửa trực tiếp trên %s.",
                    version.title,
                    _platform(pub.channel),
                    pub.remote_url or pub.remote_id,
                    _platform(pub.channel),
                )
                result.edited_after_publish += 1
    return result


# ------------------------------------------------------------------ staff actions


class PostNotFound(LookupError):
    pass


@dataclass
class ActionResult:
    """What a staff action changed, for the command to print (Vietnamese notes)."""

    post_id: int
    folder: str
    title: str
    changed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def find_post(session: Session, key: str) -> Post:
    """A post by folder name (a path to it works too) or by its number (its id, the ``Số``
    column of ``status``). A near miss is never taken: it is suggested (:func:`nearest_folders`),
    since these actions publish or take down."""
    key = key.strip().rstrip("/\\")
    name = key.replace("\\", "/").rsplit("/", 1)[-1]
    post = session.scalars(select(Post).where(Post.folder.in_([key, name]))).first()
    if post is None and key.isdigit():
        post = session.get(Post, int(key))
    if post is None:
        how = (
            "Dùng tên thư mục bài trong hàng đợi hoặc số của bài (cột Số của lệnh "
            "'social-publisher status')."
        )
        if key.isdigit():
            raise PostNotFound(f"Không có bài số {key}. {how}")
        folders = {folder: pid for folder, pid in session.execute(select(Post.folder, Post.id))}
        close = nearest_folders(name, folders)
        guess = ""
        if close:
            names = " hoặc ".join(f'"{folder}" (số {folders[folder]})' for folder in close)
            guess = f" Có phải ý bạn là {names}?"
        raise PostNotFound(f"Không tìm thấy bài '{key}'.{guess} {how}")
    return post


def nearest_folders(written: str, folders: Iterable[str], limit: int = 3) -> list[str]:
    """The folder names ``written`` most likely means, compared without accents, case or
    punctuation (``hoi nghi cds`` → ``Hội nghị CĐS tháng 12``): every folder holding all
    the words written, else the closest spellings."""
    wanted = fold(written)
    if not wanted:
        return []
    by_key: dict[str, list[str]] = {}
    for folder in sorted(folders):
        by_key.setdefault(fold(folder), []).append(folder)
    words = wanted.split()
    holding = [
        folder
        for key, names in by_key.items()
        if all(any(part.startswith(w) for part in key.split()) for w in words)
        for folder in names
    ]
    if holding:
        return holding[:limit]
    close = difflib.get_close_matches(wanted, list(by_key), n=limit, cutoff=0.6)
    return [folder for key in close for folder in by_key[key]][:limit]


@dataclass(frozen=True)
class PostBrief:
    """A post as a confirmation names it: what it is, and where it is live now."""

    post_id: int
    folder: str
    title: str
    #: (platform name, link or id) of every live publication
    live: list[tuple[str, str]]


def post_brief(db: Database, key: str) -> PostBrief:
    """What ``withdraw --live`` asks about before it takes anything down."""
    with db.session() as session:
        post = find_post(session, key)
        live = [
            (_platform(pub.channel), pub.remote_url or pub.remote_id or "")
            for pub in _pubs(session, post)
            if S(pub.state) in LIVE_STATES
        ]
        return PostBrief(post.id, post.folder, post.title, live)


def _pubs(session: Session, post: Post) -> list[Publication]:
    return list(
        session.scalars(
            select(Publication).where(Publication.post_id == post.id).order_by(Publication.channel)
        )
    )


def _requeue(session: Session, pub: Publication, *, actor: str, now: datetime, reason: str) -> None:
    pub.attempt_count = 0
    pub.next_attempt_at = None
    pub.last_error = pub.last_error_kind = None
    if pub.state == S.NEEDS_ATTENTION and pub.remote_id and pub.published_at:
        # It had gone out and then vanished from the platform: staff ask for it again.
        pub.remote_id = pub.remote_url = None
        pub.published_at = None
    transition(session, pub, S.DUE, actor=actor, at=now, reason=reason)


def clear_channel_blocks(
    session: Session, *, actor: str, now: datetime, channels: list[str] | None = None
) -> list[str]:
    """Let blocked channels be tried again (auth, permission, quota, rate limit)."""
    from ..store import ChannelHealth

    query = select(ChannelHealth.channel).where(ChannelHealth.state != HealthState.OK.value)
    if channels is not None:
        query = query.where(ChannelHealth.channel.in_(channels))
    cleared = list(session.scalars(query))
    for channel in cleared:
        set_health(session, channel, HealthState.OK, actor=actor, at=now, by="staff")
    return cleared


def reopen_channels(db: Database, *, actor: str, now: datetime) -> list[str]:
    """``retry`` without a post: every blocked channel may be tried again."""
    with db.session() as session:
        return clear_channel_blocks(session, actor=actor, now=now)


def staff_retry(db: Database, key: str, *, now: datetime, actor: str) -> ActionResult:
    """``retry POST``: try again what failed or waits, and unblock its channels."""
    with db.session() as session:
        post = find_post(session, key)
        result = ActionResult(post.id, post.folder, post.title)
        pubs = _pubs(session, post)
        cleared = clear_channel_blocks(
            session, actor=actor, now=now, channels=[p.channel for p in pubs]
        )
        for channel in cleared:
            result.notes.append(f"Đã mở lại kênh {_platform(channel)} (trước đó bị tạm dừng).")
        for pub in pubs:
            state = S(pub.state)
            if state in (S.NEEDS_ATTENTION, S.RETRY_WAIT) or (
                state == S.DUE and pub.next_attempt_at is not None
            ):
                _requeue(session, pub, actor=actor, now=now, reason="retry")
                result.changed.append(pub.channel)
            elif state == S.PENDING and pub.next_attempt_at is not None:
                pub.next_attempt_at = None
                pub.attempt_count = 0
                result.changed.append(pub.channel)
            elif state in LIVE_STATES:
                result.notes.append(
                    f"{_platform(pub.channel)}: đã đăng ({pub.remote_url or pub.remote_id}), "
                    "không đăng lại."
                )
            elif state == S.CANCELLED:
                result.notes.append(
                    f"{_platform(pub.channel)}: bài đã rút; muốn đăng thì chạy publish-now."
                )
        audit(session, actor, "staff_retry", post_id=post.id, at=now, channels=result.changed)
        return result


def staff_withdraw(
    db: Database, key: str, *, now: datetime, actor: str, live: bool = False
) -> ActionResult:
    """``withdraw POST``: never publish it; cancel it on Facebook's scheduler if it is there.

    A post already live stays live unless ``live`` (``--live``): then
    :func:`~social_publisher.services.takedown.take_down` removes it and reports it.
    """
    with db.session() as session:
        post = find_post(session, key)
        result = ActionResult(post.id, post.folder, post.title)
        post.override = OVERRIDE_WITHDRAW
        for pub in _pubs(session, post):
            state = S(pub.state)
            if state in OPEN_STATES:
                transition(
                    session, pub, S.CANCELLED, actor=actor, at=now, reason="withdrawn by staff"
                )
                pub.next_attempt_at = None
                result.changed.append(pub.channel)
            elif state == S.SCHEDULED_REMOTE:
                result.changed.append(pub.channel)
                result.notes.append(
                    f"{_platform(pub.channel)}: bài đang hẹn giờ trên Facebook sẽ được hủy ở đó."
                )
            elif state == S.PUBLISHING:
                result.notes.append(
                    f"{_platform(pub.channel)}: bài đang được gửi đi ngay lúc này; nếu đã lên "
                    "trang thì cần gỡ trực tiếp trên trang."
                )
            elif state in LIVE_STATES and not live:
                result.notes.append(
                    f"{_platform(pub.channel)}: bài ĐÃ ĐĂNG ({pub.remote_url or pub.remote_id}); "
                    "muốn gỡ bài khỏi trang thì chạy lại lệnh với --live."
                )
        audit(session, actor, "staff_withdraw", post_id=post.id, at=now, channels=result.changed)
        return result


def staff_publish_now(db: Database, key: str, *, now: datetime, actor: str) -> ActionResult:
    """``publish-now POST``: publish now, even if overdue (the staff decision is recorded)."""
    with db.session() as session:
        post = find_post(session, key)
        result = ActionResult(post.id, post.folder, post.title)
        version = post.current_version
        if post.state in (PostState.REMOVED,):
            result.notes.append("Thư mục bài không còn trong hàng đợi: không đăng được.")
            return result
        if version is None or not post.approved_by or version.problems:
            why = (
                "chưa có người duyệt (dòng 'Người duyệt:')"
                if version and not version.problems
                else ("bài đang có lỗi (xem 'social-publisher check')")
            )
            result.notes.append(f"Không đăng được: {why}.")
            return result
        if post.state == PostState.WITHDRAWN or version.withdrawn:
            result.notes.append(
                "Bài đang ghi 'Trạng thái: hủy' trong tệp: xóa dòng đó trước khi đăng."
            )
            return result
        post.override = OVERRIDE_PUBLISH
        existing = {pub.channel: pub for pub in _pubs(session, post)}
        for pub in existing.values():
            state = S(pub.state)
            if state in REQUEUEABLE:
                if state == S.CANCELLED or pub.version_id != version.id:
                    adopt_version(pub, version)
                    pub.remote_id = pub.remote_url = None
                    pub.remote_scheduled_for = None
                _requeue(session, pub, actor=actor, now=now, reason="publish-now")
                result.changed.append(pub.channel)
            elif state == S.SCHEDULED_REMOTE:
                result.changed.append(pub.channel)
                result.notes.append("Facebook: bài đang hẹn giờ sẽ được đăng ngay.")
            elif state in LIVE_STATES:
                result.notes.append(
                    f"{_platform(pub.channel)}: đã đăng ({pub.remote_url or pub.remote_id})."
                )
        for channel in version.channels or []:
            if channel in CHANNELS and channel not in existing:
                pub = Publication(post_id=post.id, channel=channel, state=S.PENDING.value)
                adopt_version(pub, version)
                session.add(pub)
                session.flush()
                audit(session, actor, "planned", pub, at=now, channel=channel, by="publish-now")
                _requeue(session, pub, actor=actor, now=now, reason="publish-now")
                result.changed.append(channel)
        audit(session, actor, "staff_publish_now", post_id=post.id, at=now, channels=result.changed)
        return result
