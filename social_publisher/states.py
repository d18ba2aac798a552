"""The lifecycle's vocabulary: every state, which moves are allowed, the named groups.

Pure data, in the bottom layer, so the queue (which decides a post's state), the
store (which keeps it) and the services (which move publications) share one
definition. The moves themselves (the audit row, the listeners, the claims)
are made by :mod:`social_publisher.store.lifecycle`; docs/architecture.md draws
the table.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import TypeVar


class PostState(enum.StrEnum):
    """What the queue says of a post (the staff side), see ``check``."""

    READY = "ready"
    DRAFT = "draft"
    WITHDRAWN = "withdrawn"
    HELD = "held"  # overdue beyond grace: needs a staff decision
    ERROR = "error"
    REMOVED = "removed"  # folder gone from the queue


class PubState(enum.StrEnum):
    """A publication's state (docs/architecture.md "The lifecycle")."""

    PENDING = "pending"
    SCHEDULED_REMOTE = "scheduled_remote"  # Facebook's scheduler holds it
    DUE = "due"
    PUBLISHING = "publishing"  # an attempt is in flight (or was, before a crash)
    PUBLISHED = "published"
    CONFIRMED = "confirmed"
    RETRY_WAIT = "retry_wait"
    NEEDS_ATTENTION = "needs_attention"
    CANCELLED = "cancelled"


class HealthState(enum.StrEnum):
    """Whether a channel may be called now (``ChannelHealth.state``)."""

    OK = "ok"
    RATE_LIMITED = "rate_limited"
    POLICY = "policy"
    QUOTA = "quota"
    AUTH_FAILED = "auth_failed"
    PERMISSION = "permission"
    #: a wrong setting (an app secret of another app, an unreachable public media host)
    SETUP = "setup"


E = TypeVar("E", PostState, PubState, HealthState)


class IllegalTransition(ValueError):
    """A move the transition table does not allow: a bug, never a staff mistake."""


P = PubState
H = HealthState

#: publication: from -> the states it may move to (claims move to ``publishing``)
PUBLICATION_MOVES: Mapping[PubState, frozenset[PubState]] = {
    P.PENDING: frozenset({P.DUE, P.PUBLISHING, P.CANCELLED}),
    P.DUE: frozenset({P.PENDING, P.PUBLISHING, P.CANCELLED}),
    P.RETRY_WAIT: frozenset({P.PENDING, P.DUE, P.PUBLISHING, P.CANCELLED}),
    P.NEEDS_ATTENTION: frozenset({P.PENDING, P.DUE, P.CANCELLED}),
    P.PUBLISHING: frozenset(
        {P.PENDING, P.DUE, P.RETRY_WAIT, P.NEEDS_ATTENTION, P.SCHEDULED_REMOTE, P.PUBLISHED}
    ),
    P.SCHEDULED_REMOTE: frozenset(
        {P.PENDING, P.PUBLISHED, P.CONFIRMED, P.NEEDS_ATTENTION, P.CANCELLED}
    ),
    P.PUBLISHED: frozenset({P.CONFIRMED, P.NEEDS_ATTENTION, P.CANCELLED}),
    P.CONFIRMED: frozenset({P.CANCELLED}),  # only ``withdraw --live`` takes it down
    P.CANCELLED: frozenset({P.PENDING, P.DUE}),  # the post came back, or publish-now
}

#: a post's state is what its folder says now: staff may edit it into any state
POST_MOVES: Mapping[PostState, frozenset[PostState]] = {
    state: frozenset(PostState) - {state} for state in PostState
}

#: only a staff action (retry, doctor, a new token, a fixed setting) clears these
BLOCKING_HEALTH = (H.AUTH_FAILED, H.PERMISSION, H.SETUP)

#: channel health: a blocking state is left only for ``ok`` (a staff action or a new
#: token) or another blocking state; a temporary one may be renewed (a new ``until``)
HEALTH_MOVES: Mapping[HealthState, frozenset[HealthState]] = {
    H.OK: frozenset(HealthState) - {H.OK},
    H.RATE_LIMITED: frozenset(HealthState),
    H.POLICY: frozenset(HealthState),
    H.QUOTA: frozenset(HealthState),
    H.AUTH_FAILED: frozenset({H.OK, *BLOCKING_HEALTH}),
    H.PERMISSION: frozenset({H.OK, *BLOCKING_HEALTH}),
    H.SETUP: frozenset({H.OK, *BLOCKING_HEALTH}),
}

#: the state a new row starts in (``None`` -> this); a post starts where its scan puts it
PUBLICATION_INITIAL = P.PENDING
HEALTH_INITIAL = H.OK

# ------------------------------------------------------------------ named groups

#: not gone out yet, and still following its post (edits, withdrawals)
OPEN_STATES = (P.PENDING, P.DUE, P.RETRY_WAIT, P.NEEDS_ATTENTION)
#: live on the platform (reports, shares, take-down, quotas count these)
LIVE_STATES = (P.PUBLISHED, P.CONFIRMED)
#: a call is in flight, or the platform holds it: the publisher's, not the planner's
PLATFORM_HELD = (P.PUBLISHING, P.SCHEDULED_REMOTE)
#: what ``publish_due`` claims once ``next_attempt_at`` has passed
PUBLISHABLE_NOW = (P.DUE, P.RETRY_WAIT)
#: ``publish-now`` puts these back in the line
REQUEUEABLE = (*OPEN_STATES, P.CANCELLED)
#: work not finished (``run --once`` exit code, the daemon's open-work count)
UNFINISHED = (
    P.PENDING,
    P.DUE,
    P.PUBLISHING,
    P.RETRY_WAIT,
    P.SCHEDULED_REMOTE,
    P.PUBLISHED,
)
#: states whose ``next_attempt_at`` is a moment the daemon must wake up for
TIMED_STATES = (P.PENDING, P.DUE, P.RETRY_WAIT, P.PUBLISHED)

#: posts a person must look at (counted in a pass's "needs attention")
POST_NEEDS_PEOPLE = (PostState.ERROR, PostState.HELD)

#: these clear themselves when ``blocked_until`` passes (or a call succeeds)
TEMPORARY_HEALTH = (H.RATE_LIMITED, H.POLICY, H.QUOTA)

# ------------------------------------------------------------------ staff labels (Vietnamese)

POST_LABELS: Mapping[PostState, str] = {
    PostState.READY: "sẵn sàng",
    PostState.DRAFT: "bản nháp",
    PostState.WITHDRAWN: "đã hủy",
    PostState.HELD: "chờ quyết định",
    PostState.ERROR: "lỗi",
    PostState.REMOVED: "đã gỡ khỏi hàng đợi",
}
PUBLICATION_LABELS: Mapping[PubState, str] = {
    P.PENDING: "chờ đến giờ",
    P.SCHEDULED_REMOTE: "đã hẹn giờ trên Facebook",
    P.DUE: "đến giờ đăng",
    P.PUBLISHING: "đang đăng",
    P.PUBLISHED: "đã đăng",
    P.CONFIRMED: "đã đăng (đã xác nhận)",
    P.RETRY_WAIT: "chờ thử lại",
    P.NEEDS_ATTENTION: "cần xử lý",
    P.CANCELLED: "đã hủy",
}
HEALTH_LABELS: Mapping[HealthState, str] = {
    H.OK: "đang hoạt động",
    H.AUTH_FAILED: "lỗi mã truy cập (token), cần cấp lại",
    H.RATE_LIMITED: "tạm dừng vì gọi quá nhiều lần",
    H.POLICY: "tạm dừng vì nền tảng chặn đăng quá nhanh",
    H.QUOTA: "hết hạn mức đăng bài",
    H.PERMISSION: "thiếu quyền trên nền tảng",
    H.SETUP: "dừng vì cấu hình sai (sửa .env, rồi chạy retry)",
}


# ------------------------------------------------------------------ a post as staff read it


class PostProgress(enum.StrEnum):
    """How far a post has gone, from its publications: what ``status`` and ``check`` show in
    place of the folder's state once the database knows better (``sẵn sàng`` is not the
    truth of a post already live)."""

    PUBLISHED = "published"  # live on every channel it went to
    PARTLY_PUBLISHED = "partly_published"  # live on one channel, not yet on another
    SCHEDULED = "scheduled"  # Facebook's scheduler holds it
    PUBLISHING = "publishing"
    NEEDS_ATTENTION = "needs_attention"
    PUBLISH_NOW = "publish_now"  # held, and staff ran publish-now: goes out at the next pass


PROGRESS_LABELS: Mapping[PostProgress, str] = {
    PostProgress.PUBLISHED: "đã đăng",
    PostProgress.PARTLY_PUBLISHED: "đã đăng một phần",
    PostProgress.SCHEDULED: "đã hẹn giờ",
    PostProgress.PUBLISHING: "đang đăng",
    PostProgress.NEEDS_ATTENTION: "cần xử lý",
    PostProgress.PUBLISH_NOW: "chờ đăng ngay",
}
#: progress that means the post is out, or on its way out: the folder's timing advice
#: ("đã quá hạn: chạy publish-now…") no longer applies
GONE_OUT = (
    PostProgress.PUBLISHED,
    PostProgress.PARTLY_PUBLISHED,
    PostProgress.SCHEDULED,
    PostProgress.PUBLISHING,
    PostProgress.PUBLISH_NOW,
)
#: every state a post is shown in (``PostState`` and ``PostProgress`` values) and its label
SHOWN_LABELS: Mapping[str, str] = {
    **{state.value: label for state, label in POST_LABELS.items()},
    **{progress.value: label for progress, label in PROGRESS_LABELS.items()},
}
#: the order of the summary line: what went out first, then what the folders say
SHOWN_ORDER: tuple[str, ...] = (
    *(p.value for p in PostProgress),
    PostState.READY.value,
    PostState.HELD.value,
    PostState.DRAFT.value,
    PostState.WITHDRAWN.value,
    PostState.ERROR.value,
    PostState.REMOVED.value,
)


def post_progress(
    publications: Iterable[str], *, publish_now: bool = False, withdrawn_by_staff: bool = False
) -> str | None:
    """The post's state from its publications' states (None: the folder's state is the truth).

    Live wins (did it go out is the first question), then a person's turn, then what is in
    flight or held by Facebook; a post every channel of which staff cancelled is withdrawn.
    """
    states = [PubState(s) for s in publications]
    open_ = [s for s in states if s != P.CANCELLED]
    live = [s for s in open_ if s in LIVE_STATES]
    if live:
        return (
            PostProgress.PUBLISHED if len(live) == len(open_) else PostProgress.PARTLY_PUBLISHED
        ).value
    if not open_:
        return PostState.WITHDRAWN.value if states and withdrawn_by_staff else None
    if P.NEEDS_ATTENTION in open_:
        return PostProgress.NEEDS_ATTENTION.value
    if P.PUBLISHING in open_:
        return PostProgress.PUBLISHING.value
    if all(s == P.SCHEDULED_REMOTE for s in open_):
        return PostProgress.SCHEDULED.value
    if publish_now:
        return PostProgress.PUBLISH_NOW.value
    return None


def allowed(moves: Mapping[E, frozenset[E]], before: E | None, after: E) -> bool:
    """True when the table lets ``before`` move to ``after`` (``before`` None: a new row)."""
    return before is None or after in moves.get(before, frozenset())
