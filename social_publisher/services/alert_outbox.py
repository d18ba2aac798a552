"""Alerts are written here: one outbox row per occurrence, in the transaction of the event.

The lifecycle calls :func:`on_change` inside every move's transaction
(``store.lifecycle.add_listener``), so a publication that moves to "needs
attention", a post held as overdue, a channel paused or recovered and a post that
went live late each get their alert row atomically with the move: committed
together, or rolled back together. Conditions found by looking (a token's age,
a stopped daemon, the digest) are written by :mod:`.alert_watch` with
:func:`enqueue` and a ``key`` that names the occurrence, so each is told once.

Texts are Vietnamese, name the post and the channel, say what to do, and carry a
console path (``/bai/12``) the sender turns into a link when WEB_BASE_URL is set.
They never hold a token: every text passes :func:`~social_publisher.errors.redact`.

An alert belongs to the unit whose post or channel it is about (``alerts.unit_id``: the
moved row's unit, else the session's), so the sender routes it to that unit's targets and
hours; its key is prefixed with the unit's id (the default unit's keys are as they always
were), so two wards' pauses at the same second are two alerts. Install alerts (a stopped
daemon) have no unit.

After a transaction that wrote an alert commits, the registered *wakers* run (the
daemon's sender job), so an alert goes out at once instead of at the next poll.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session

from ..errors import redact
from ..platforms import platform_name
from ..states import (
    BLOCKING_HEALTH,
    HEALTH_LABELS,
    LIVE_STATES,
    HealthState,
    PostState,
    PubState,
)
from ..store import Alert, ChannelHealth, Meta, Post, Publication
from ..store.lifecycle import Change, add_listener
from ..store.tenancy import DEFAULT_UNIT, unit_of

log = logging.getLogger("social_publisher.alerts")

#: a temporary block (rate limit, policy, quota) is told only when it lasts this long
LASTING_BLOCK = timedelta(minutes=30)
#: how late a post may go live before it is reported (ALERT_LATE_MINUTES overrides)
LATE_AFTER = timedelta(minutes=10)

PAUSED, RECOVERED = "channel_paused", "channel_recovered"
HEALTH_PAGE = "/suc-khoe"

_wakers: list[Callable[[], None]] = []
_remove_listener: Callable[[], None] | None = None
_late_after = LATE_AFTER
#: ALERT_LATE_MINUTES of each unit that sets its own (the others use ``_late_after``)
_late_by_unit: dict[str, timedelta] = {}
_tz: tzinfo | None = None

#: ``enqueue``'s default unit: the session's
SESSION_UNIT = object()


def post_page(post_id: int) -> str:
    return f"/bai/{post_id}"


def unit_alert_key(unit_id: str | None, key: str) -> str:
    """The stored key of occurrence ``key`` of ``unit_id`` (unique across units)."""
    scoped = key if unit_id in (None, DEFAULT_UNIT) else f"{unit_id}/{key}"
    return scoped[:200]


def of_unit(unit_id: str | None):  # type: ignore[no-untyped-def]
    """Where-clause: alerts of ``unit_id`` (the default unit's include the install's, as in
    an install of one unit)."""
    if unit_id is None:
        return Alert.unit_id.is_(None)
    if unit_id == DEFAULT_UNIT:
        return or_(Alert.unit_id == unit_id, Alert.unit_id.is_(None))
    return Alert.unit_id == unit_id


def enqueue(
    session: Session,
    *,
    key: str,
    kind: str,
    title: str,
    body: str,
    at: datetime,
    urgent: bool = False,
    link: str | None = None,
    post_id: int | None = None,
    channel: str | None = None,
    attachments: Sequence[str] = (),
    unit: str | object | None = SESSION_UNIT,
) -> Alert | None:
    """Add the alert for occurrence ``key`` to the caller's transaction (None: already told).

    ``unit``: the unit it is about (default: the session's; None: the install's).
    """
    unit_id = unit_of(session) if unit is SESSION_UNIT else unit
    assert unit_id is None or isinstance(unit_id, str)
    key = unit_alert_key(unit_id, key)
    session.flush()
    if session.scalar(select(Alert.id).where(Alert.key == key)) is not None:
        return None
    alert = Alert(
        key=key,
        unit_id=unit_id,
        kind=kind,
        urgent=urgent,
        title=redact(title),
        body=redact(body),
        link=link,
        post_id=post_id,
        channel=channel,
        attachments=list(attachments),
        created_at=at,
    )
    session.add(alert)
    session.info["alerts_written"] = True
    return alert


# ------------------------------------------------------------------ the lifecycle listener


def install(
    *,
    late_after: timedelta = LATE_AFTER,
    tz: tzinfo | None = None,
    late_by_unit: Mapping[str, timedelta] | None = None,
) -> Callable[[], None]:
    """Hear every lifecycle move from now on (once per process); returns the remover.

    ``late_by_unit``: a unit's own ALERT_LATE_MINUTES (others use ``late_after``).
    """
    global _remove_listener, _late_after, _tz
    _late_after, _tz = late_after, tz
    _late_by_unit.clear()
    _late_by_unit.update(late_by_unit or {})
    if _remove_listener is None:
        _remove_listener = add_listener(on_change)
    return uninstall


def uninstall() -> None:
    global _remove_listener
    if _remove_listener is not None:
        _remove_listener()
        _remove_listener = None


def installed() -> bool:
    return _remove_listener is not None


def add_waker(waker: Callable[[], None]) -> Callable[[], None]:
    """Call ``waker()`` after each commit that wrote an alert; returns the remover."""
    _wakers.append(waker)
    return lambda: _wakers.remove(waker) if waker in _wakers else None


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if not session.info.pop("alerts_written", False):
        return
    for waker in list(_wakers):
        try:
            waker()
        except Exception:  # a waker must never break the committing caller
            log.exception("alert waker failed")


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("alerts_written", None)


def on_change(session: Session, change: Change) -> None:
    """The lifecycle listener: the moves staff must hear about become outbox rows."""
    unit = getattr(change.entity, "unit_id", None) or unit_of(session)
    if change.kind == "publication":
        assert isinstance(change.entity, Publication)
        _publication(session, change.entity, change, unit)
    elif change.kind == "post":
        assert isinstance(change.entity, Post)
        if change.after == PostState.HELD and change.before != change.after:
            _overdue(session, change.entity, change, unit)
    else:
        assert isinstance(change.entity, ChannelHealth)
        _channel(session, change.entity, change, unit)


def _title_of(session: Session, post_id: int) -> str:
    post = session.get(Post, post_id)
    return (post.title or post.folder) if post is not None else f"#{post_id}"


def _publication(session: Session, pub: Publication, change: Change, unit: str | None) -> None:
    if change.before == change.after:
        return
    name = platform_name(pub.channel)
    if change.after == PubState.NEEDS_ATTENTION:
        title = _title_of(session, pub.post_id)
        reason = change.reason or pub.attention_reason or "không rõ lý do"
        enqueue(
            session,
            key=f"attention:{pub.id}:{change.at.isoformat()}",
            kind="needs_attention",
            urgent=True,
            title=f"Cần xử lý: bài “{title}” trên {name}",
            body=(
                f"Bài “{title}” (số {pub.post_id}) chưa đăng được lên {name} và cần người xử "
                f"lý.\nLý do: {reason}\nCách xử lý: sửa theo lý do trên, rồi bấm “Thử lại” ở "
                f"trang bài trong bảng điều khiển, hoặc chạy: social-publisher retry "
                f"{pub.post_id}"
            ),
            at=change.at,
            unit=unit,
            link=post_page(pub.post_id),
            post_id=pub.post_id,
            channel=pub.channel,
        )
    elif change.after in LIVE_STATES and change.before not in LIVE_STATES:
        _late(session, pub, change, unit)


def _late(session: Session, pub: Publication, change: Change, unit: str | None) -> None:
    due = pub.due_at
    live = pub.published_at or change.at
    if due is None or live - due <= _late_by_unit.get(unit or "", _late_after):
        return
    post = session.get(Post, pub.post_id)
    if post is not None and post.override == "publish":
        return  # staff chose to publish an overdue post now: late on purpose
    minutes = int((live - due).total_seconds() // 60)
    title = _title_of(session, pub.post_id)
    name = platform_name(pub.channel)
    enqueue(
        session,
        key=f"late:{pub.id}",
        kind="late",
        title=f"Bài “{title}” lên {name} trễ {minutes} phút",
        body=(
            f"Bài “{title}” (số {pub.post_id}) đã lên {name} nhưng trễ {minutes} phút so với "
            "giờ đăng. Thường do máy tắt hoặc mất mạng lúc đến giờ, hoặc kênh bị tạm dừng: "
            "kiểm tra máy chạy social-publisher luôn bật, và xem lại lịch các bài sắp tới."
            + (f"\nBài trên trang: {pub.remote_url}" if pub.remote_url else "")
        ),
        at=change.at,
        unit=unit,
        link=post_page(pub.post_id),
        post_id=pub.post_id,
        channel=pub.channel,
    )


def _overdue(session: Session, post: Post, change: Change, unit: str | None) -> None:
    session.flush()  # a post new in this scan gets its id
    title = post.title or post.folder
    enqueue(
        session,
        key=f"held:{post.id}:{change.at.isoformat()}",
        kind="overdue",
        urgent=True,
        title=f"Bài “{title}” quá giờ đăng, đang chờ quyết định",
        body=(
            f"Bài “{title}” (số {post.id}, thư mục {post.folder}) đã quá giờ đăng nên không "
            "tự đăng nữa.\nCách xử lý: nếu vẫn cần đăng, bấm “Đăng ngay” ở trang bài trong "
            f"bảng điều khiển hoặc chạy: social-publisher publish-now {post.id}; nếu không, "
            f"chạy: social-publisher withdraw {post.id}, hoặc sửa “Thời gian đăng” trong tệp "
            "bài viết."
        ),
        at=change.at,
        unit=unit,
        link=post_page(post.id),
        post_id=post.id,
    )


def _open_pause(session: Session, channel: str, unit: str | None) -> bool:
    """Whether the channel's last pause alert has had no recovery alert yet."""
    session.flush()
    last = session.scalar(
        select(Alert.kind)
        .where(
            Alert.channel == channel,
            Alert.kind.in_((PAUSED, RECOVERED)),
            of_unit(unit),
        )
        .order_by(Alert.id.desc())
        .limit(1)
    )
    return last == PAUSED


def _since_key(channel: str) -> str:
    return f"alerts:blocked_since:{channel}"


def _blocked_since(session: Session, channel: str, change: Change, unit: str) -> datetime:
    """When the channel's current run of blocks began (renewals keep the first start)."""
    row = session.get(Meta, (unit, _since_key(channel)))
    if change.before in (None, HealthState.OK) or row is None:
        if row is None:
            row = Meta(unit_id=unit, key=_since_key(channel), value={})
            session.add(row)
        row.value = {"at": change.at.isoformat()}
        row.updated_at = change.at
        return change.at
    return datetime.fromisoformat(str(row.value.get("at")))


def _lasting(health: ChannelHealth, since: datetime) -> bool:
    """A blocking state always; a temporary one once the run of blocks spans 30 minutes
    (one long block, or short ones renewed again and again)."""
    state = HealthState(health.state)
    if state in BLOCKING_HEALTH:
        return True
    until = health.blocked_until
    return until is None or until - since >= LASTING_BLOCK


def _channel(session: Session, health: ChannelHealth, change: Change, unit: str | None) -> None:
    channel = health.channel
    name = platform_name(channel)
    state = HealthState(change.after)
    owner = health.unit_id or unit or DEFAULT_UNIT
    if state == HealthState.OK:
        marker = session.get(Meta, (owner, _since_key(channel)))
        if marker is not None:
            session.delete(marker)
        if change.before != change.after and _open_pause(session, channel, unit):
            enqueue(
                session,
                key=f"recovered:{channel}:{change.at.isoformat()}",
                kind=RECOVERED,
                title=f"{name} đã hoạt động lại",
                body=f"Kênh {name} đã hoạt động lại; các bài đang chờ sẽ được đăng tiếp.",
                at=change.at,
                unit=unit,
                link=HEALTH_PAGE,
                channel=channel,
            )
        return
    renewal = change.before == change.after
    since = _blocked_since(session, channel, change, owner)
    if not _lasting(health, since) or (renewal and _open_pause(session, channel, unit)):
        return
    until = health.blocked_until
    when = f" đến {_local(until)}" if until is not None else ""
    enqueue(
        session,
        key=f"paused:{channel}:{state.value}:{change.at.isoformat()}",
        kind=PAUSED,
        urgent=True,
        title=f"{name} bị tạm dừng: {HEALTH_LABELS[state]}",
        body=(
            f"Kênh {name} bị tạm dừng{when}: {HEALTH_LABELS[state]}.\n"
            f"Lý do: {change.reason or health.reason or 'không rõ'}\n"
            f"Cách xử lý: {_fix(state, channel)}"
        ),
        at=change.at,
        unit=unit,
        link=HEALTH_PAGE,
        channel=channel,
    )


def _fix(state: HealthState, channel: str) -> str:
    if state == HealthState.AUTH_FAILED:
        if channel == "zalo":
            return (
                "cấp lại token Zalo OA (social-publisher zalo token set), rồi chạy: "
                "social-publisher retry"
            )
        return (
            "tạo mã truy cập Trang mới, cập nhật FB_PAGE_ACCESS_TOKEN trong .env, rồi chạy: "
            "social-publisher retry"
        )
    if state == HealthState.PERMISSION:
        return "cấp lại quyền cho ứng dụng trên nền tảng, rồi chạy: social-publisher retry"
    if state == HealthState.SETUP:
        return "sửa cấu hình trong .env theo lý do trên, chạy social-publisher doctor, rồi retry"
    return "không cần làm gì: kênh tự hoạt động lại khi hết thời gian chờ."


def _local(at: datetime) -> str:
    return f"{(at.astimezone(_tz) if _tz else at):%H:%M %d/%m/%Y}"
