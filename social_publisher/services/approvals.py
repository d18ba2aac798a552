"""Approvals on record: an approver approves a post in the web console.

An approval names the account, the time and the content hash approved. It counts
only while the post's content is still that hash: ingest voids it when the folder
changes (the post goes back to waiting, with a message saying why), and the
approver may take it back. Which approvals count is decided in one place, ingest,
through the post's state and its ``approved_by`` (the planner's ``disposition``
reads those), so the publisher needs to know nothing of this table.

``APPROVAL_MODE`` decides whether a ``Người duyệt`` header approves as well
(:func:`~social_publisher.queue.scanner.header_approver`); an approval given here
counts in every mode. Nobody approves a post they wrote or edited in the console.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..config import Settings
from ..errors import QueueError, SocialPublisherError
from ..states import PostState
from ..store import Approval, ConsoleWrite, Database, Post, PostVersion
from ..store.lifecycle import audit
from .scope import Permission, Scope

log = logging.getLogger("social_publisher.approvals")

VOID_EDITED = "edited"
VOID_REVOKED = "revoked"


class ApprovalRefused(SocialPublisherError):
    """The approval (or taking it back) cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class ActiveApproval:
    """What ingest needs of an approval that still counts."""

    id: int
    post_id: int
    content_hash: str
    account: str
    approver_name: str
    approved_at: datetime


def _fact(row: Approval) -> ActiveApproval:
    return ActiveApproval(
        row.id, row.post_id, row.content_hash, row.account, row.approver_name, row.approved_at
    )


def _active(rows: Iterable[Approval]) -> dict[int, ActiveApproval]:
    return {row.post_id: _fact(row) for row in rows}  # ordered by id: the newest wins


def active_by_post(session: Session, post_ids: Sequence[int]) -> dict[int, ActiveApproval]:
    """The approval still counting for each of these posts (at most one each)."""
    if not post_ids:
        return {}
    found: dict[int, ActiveApproval] = {}
    for start in range(0, len(post_ids), 500):
        found.update(
            _active(
                session.scalars(
                    select(Approval)
                    .where(
                        Approval.post_id.in_(post_ids[start : start + 500]),
                        Approval.voided_at.is_(None),
                    )
                    .order_by(Approval.id)
                )
            )
        )
    return found


def active_by_folder(session: Session) -> dict[str, ActiveApproval]:
    """Every approval still counting, by the post's folder (``check`` reads these)."""
    rows = session.execute(
        select(Post.folder, Approval)
        .join(Approval, Approval.post_id == Post.id)
        .where(Approval.voided_at.is_(None))
        .order_by(Approval.id)
    )
    return {folder: _fact(row) for folder, row in rows}


def void(
    session: Session,
    approval_id: int,
    *,
    reason: str,
    message: str,
    actor: str,
    now: datetime,
    **details: Any,
) -> None:
    """The approval no longer counts; the audit log and the post page say why."""
    row = session.get(Approval, approval_id)
    if row is None or row.voided_at is not None:
        return
    row.voided_at = now
    row.void_reason = reason
    row.void_message = message
    audit(
        session,
        actor,
        "approval_voided",
        post_id=row.post_id,
        at=now,
        reason=reason,
        message=message,
        account=row.account,
        content_hash=row.content_hash,
        **details,
    )
    log.info("approval %s of post %s voided (%s)", row.id, row.post_id, reason)


def edited_message(approval: ActiveApproval, tz: object) -> str:
    from ..queue.dates import format_datetime

    when = format_datetime(approval.approved_at, tz)  # type: ignore[arg-type]
    return (
        f"Bài đã được sửa sau khi {approval.approver_name} duyệt lúc {when}: bản duyệt cũ "
        "không còn giá trị, bài trở lại chờ duyệt. Người duyệt xem lại bài rồi bấm Duyệt bài."
    )


# ------------------------------------------------------------------ who wrote it


def record_write(
    session: Session,
    scope: Scope,
    *,
    folder: str,
    action: str,
    now: datetime,
    post_id: int | None = None,
    content_hash: str | None = None,
) -> None:
    session.add(
        ConsoleWrite(
            at=now,
            account=scope.account,
            folder=folder,
            post_id=post_id,
            content_hash=content_hash,
            action=action,
        )
    )


def writers(session: Session, post: Post) -> set[str]:
    """Accounts that wrote or edited this post in the console (by post, folder or content)."""
    hashes = list(
        session.scalars(select(PostVersion.content_hash).where(PostVersion.post_id == post.id))
    )
    conditions = [ConsoleWrite.post_id == post.id, ConsoleWrite.folder == post.folder]
    if hashes:
        conditions.append(ConsoleWrite.content_hash.in_(hashes))
    return set(session.scalars(select(ConsoleWrite.account).where(or_(*conditions))))


# ------------------------------------------------------------------ the actions


def _reingest(db: Database, settings: Settings, now: datetime) -> None:
    """Let ingest, the one place that decides a post's state, apply the change now."""
    from .ingest import ingest

    try:
        ingest(db, settings, now=now)
    except QueueError as exc:  # the next daemon pass applies it
        log.warning("approval recorded; ingest failed: %s", exc)


def approve(
    db: Database,
    settings: Settings,
    scope: Scope,
    post_id: int,
    content_hash: str,
    *,
    now: datetime,
) -> str:
    """Record ``scope``'s approval of exactly ``content_hash`` (what the approver saw)."""
    scope.require(Permission.APPROVE)
    with db.session() as session:
        post = session.scalars(
            select(Post).where(Post.id == post_id, scope.posts(Post))
        ).one_or_none()
        if post is None:
            raise ApprovalRefused("Không tìm thấy bài này (có thể đã bị xóa khỏi hàng đợi).")
        version = post.current_version
        if version is None or post.state == PostState.REMOVED:
            raise ApprovalRefused("Thư mục bài không còn trong hàng đợi: không duyệt được.")
        if version.content_hash != content_hash:
            raise ApprovalRefused(
                "Bài vừa được sửa trong lúc bạn xem: tải lại trang, xem bản mới rồi duyệt."
            )
        if version.problems:
            raise ApprovalRefused(
                "Bài đang có lỗi (xem mục Kiểm tra): sửa lỗi trước, rồi mới duyệt."
            )
        if version.withdrawn or post.state == PostState.WITHDRAWN:
            raise ApprovalRefused("Bài đang ghi 'Trạng thái: hủy': không duyệt bài đã hủy.")
        if scope.account in writers(session, post):
            raise ApprovalRefused(
                "Bạn đã soạn hoặc sửa bài này trên trang quản trị nên không tự duyệt được: "
                "nhờ một người duyệt khác."
            )
        current = active_by_post(session, [post.id]).get(post.id)
        if current is not None and current.content_hash == content_hash:
            raise ApprovalRefused(f"Bài đã được {current.approver_name} duyệt rồi.")
        if current is not None:  # an older content's approval ingest has not voided yet
            message = edited_message(current, settings.tz)
            void(
                session, current.id, reason=VOID_EDITED, message=message, actor=scope.actor,
                now=now,
            )  # fmt: skip
        session.add(
            Approval(
                post_id=post.id,
                version_id=version.id,
                content_hash=content_hash,
                account=scope.account,
                approver_name=scope.full_name,
                approved_at=now,
            )
        )
        audit(
            session, scope.actor, "approved", post_id=post.id, at=now,
            content_hash=content_hash, account=scope.account, approver=scope.full_name,
        )  # fmt: skip
        title = post.title
    _reingest(db, settings, now)
    return f"Đã duyệt bài '{title}'. Bài sẽ được đăng đúng giờ hẹn."


def revoke(db: Database, settings: Settings, scope: Scope, post_id: int, *, now: datetime) -> str:
    """Take back the approval of a post not yet published (the post goes back to waiting)."""
    scope.require(Permission.APPROVE)
    with db.session() as session:
        post = session.scalars(
            select(Post).where(Post.id == post_id, scope.posts(Post))
        ).one_or_none()
        if post is None:
            raise ApprovalRefused("Không tìm thấy bài này.")
        current = active_by_post(session, [post.id]).get(post.id)
        if current is None:
            raise ApprovalRefused("Bài chưa được duyệt trên trang quản trị: không có gì để bỏ.")
        void(
            session, current.id, reason=VOID_REVOKED,
            message=f"{scope.full_name} đã bỏ duyệt: bài trở lại chờ duyệt.",
            actor=scope.actor, now=now,
        )  # fmt: skip
        title = post.title
    _reingest(db, settings, now)
    return (
        f"Đã bỏ duyệt bài '{title}'. Bài chưa đăng sẽ không được đăng (bài đã hẹn giờ trên "
        "Facebook sẽ được hủy ở đó); bài đã đăng thì vẫn còn trên trang."
    )
