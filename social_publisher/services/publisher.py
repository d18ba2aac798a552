"""Publishing exactly once: claims, attempts, results, reconciliation, retries, channel health.

Neither platform has an idempotency key, so every call that creates something
follows one discipline (DESIGN.md "State, and publishing exactly once"):

1. *claim*: ``UPDATE publications SET state='publishing', claimed_by, lease_until
   WHERE id=? AND state IN (...) AND lease is free``, checked by row count, so two
   workers never hold the same publication;
2. a committed :class:`Attempt` row (action, worker, content hash, start time);
3. the call;
4. the committed result (attempt outcome and the publication's new state, in
   one transaction).

A create that got no trustworthy answer (:class:`OutcomeUnknownError`, and
Facebook's 506 duplicate) is never retried blindly: the publication stays
``publishing`` and :meth:`Publisher.reconcile` looks for the post on the
platform (``find_published`` since the attempt began) and adopts it if found;
only a settled "not there" leads to a retry. A crash anywhere leaves the same
evidence (a ``publishing`` row, an attempt without outcome), reconciled the
same way once the lease has expired, or at once for the single SQLite daemon.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from ..channels.base import OutgoingImage, OutgoingPost, RemotePost
from ..channels.zalo_errors import month_start, next_broadcast_opening, next_month_start
from ..config import Settings
from ..errors import (
    AuthError,
    ChannelError,
    DuplicateError,
    InvalidRequestError,
    MediaError,
    NightTimeError,
    OutcomeUnknownError,
    PermissionDeniedError,
    PolicyError,
    ProcessingError,
    QuotaError,
    RateLimitError,
    SocialPublisherError,
    TransientError,
    UnverifiedMatchError,
    redact,
)
from ..media.cache import file_sha256
from ..store import Attempt, ChannelHealth, Database, Post, PostVersion, Publication
from ..store import PubState as S
from .planner import (
    OVERRIDE_PUBLISH,
    PLATFORM_NAMES,
    Disposition,
    audit,
    disposition,
    set_state,
)
from .safeguards import (
    find,
    folder_seen_changing,
    folder_settled,
    held_remote_ids,
    hold_unverified,
    look_before_create,
    settle_wakeups,
)

log = logging.getLogger("social_publisher.publisher")

#: the cover of a Zalo article whose post has no photo
DEFAULT_COVER = Path(__file__).resolve().parents[1] / "data" / "default-cover.jpg"
#: look a little before an attempt's start (the channels add their own clock slack)
FIND_MARGIN = timedelta(seconds=2)
#: wait this long after an unanswered create before looking for the post (Zalo's
#: ``find_published`` itself says "not settled yet" until its processing window passed)
RECONCILE_DELAY = timedelta(seconds=2)
#: poll a Zalo processing token this often, and give up polling after this long
ZALO_VERIFY_POLL = timedelta(seconds=2)
ZALO_VERIFY_GIVE_UP = timedelta(minutes=10)
#: native scheduling: do not touch a Facebook scheduled post this close to its time
REMOTE_EDIT_MARGIN = timedelta(minutes=2)
#: after the scheduled time, how long Facebook may take before we call it missing
SCHEDULED_LATE_LIMIT = timedelta(hours=1)
CONFIRM_DELAY = timedelta(seconds=3)
CONFIRM_GIVE_UP = timedelta(minutes=30)
POLICY_DEFAULT_WAIT = timedelta(hours=2)
CREATE_ACTIONS = ("create", "schedule")
#: Zalo -200 at verify: the article could not be built, so it does not exist
ZALO_SEND_FAILED = -200
BLOCKING_HEALTH = ("auth_failed", "permission")


# ------------------------------------------------------------------ channel capabilities


@runtime_checkable
class Publishes(Protocol):
    name: str

    def publish(self, post: OutgoingPost) -> RemotePost: ...

    def find_published(
        self, post: OutgoingPost, since: datetime, *, exclude: frozenset[str] = ...
    ) -> RemotePost | None: ...


@runtime_checkable
class SchedulesNatively(Protocol):
    """Facebook: the platform holds the post and publishes it at its time."""

    def schedule(self, post: OutgoingPost, at: datetime) -> RemotePost: ...

    def reschedule(self, remote_id: str, at: datetime) -> Any: ...

    def update_message(self, remote_id: str, post: OutgoingPost) -> Any: ...

    def cancel(self, remote_id: str) -> Any: ...

    def publish_scheduled_now(self, remote_id: str) -> Any: ...

    def in_schedule_window(self, at: datetime, now: datetime) -> bool: ...


@runtime_checkable
class ReadsPosts(Protocol):
    def get_post(self, remote_id: str) -> RemotePost | None: ...


@runtime_checkable
class CreatesInTwoSteps(Protocol):
    """Zalo: create answers a processing token; verify turns it into the article."""

    def create_article(self, post: OutgoingPost) -> str: ...

    def verify_article(self, token: str) -> RemotePost: ...


class Rendition(Protocol):
    channel: str
    path: Path
    width: int
    height: int
    bytes: int
    sha256: str


RenderFn = Callable[[Path], Sequence[Rendition]]


@runtime_checkable
class RendersMany(Protocol):
    """A render that also takes all of a post's photos in one call, rendering them
    concurrently (``media.render_images``): one entry per source, in order, its
    renditions or the MediaError that refused it."""

    def render_many(
        self, sources: Sequence[Path]
    ) -> Sequence[Sequence[Rendition] | MediaError]: ...


class ContentChanged(Exception):
    """A photo on disk no longer matches the approved version: wait for the next scan."""


# ------------------------------------------------------------------ results


@dataclass
class StepResult:
    published: list[int] = field(default_factory=list)
    scheduled: list[int] = field(default_factory=list)
    confirmed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    adopted: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    attention: list[int] = field(default_factory=list)
    remote_updates: int = 0

    def merge(self, other: StepResult) -> None:
        for name in (
            "published",
            "scheduled",
            "confirmed",
            "cancelled",
            "adopted",
            "retrying",
            "attention",
        ):
            getattr(self, name).extend(getattr(other, name))
        self.remote_updates += other.remote_updates


def _fmt_local(at: datetime | None, tz: ZoneInfo) -> str:
    if at is None:
        return "?"
    return at.astimezone(tz).strftime("%H:%M:%S %d/%m/%Y")


def _error_kind(exc: BaseException) -> str:
    return getattr(exc, "kind", type(exc).__name__)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, SocialPublisherError):
        return exc.message
    return redact(f"{type(exc).__name__}: {exc}")


class Publisher:
    """Drives publications through the state machine for one worker."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        channels: Mapping[str, Any],
        *,
        worker: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        render: RenderFn | None = None,
        exclusive: bool = True,
        rng: random.Random | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.channels = dict(channels)
        self.worker = worker
        self.clock = clock
        self.render = render
        #: True for the single SQLite daemon: any claim not ours is a dead worker's
        self.exclusive = exclusive
        self.rng = rng or random.Random()
        self.stop = stop or threading.Event()
        self.tz = settings.tz
        self.lease = timedelta(seconds=settings.lease_seconds)

    # ------------------------------------------------------------ small helpers

    def backoff(self, failures: int) -> timedelta:
        """Exponential backoff with jitter: base·2^(n-1), capped, then 50–100 % of it."""
        base = float(self.settings.retry_base_seconds)
        cap = float(self.settings.retry_max_seconds)
        delay = min(cap, base * (2 ** max(0, failures - 1)))
        return timedelta(seconds=delay / 2 + self.rng.random() * delay / 2)

    def _now(self) -> datetime:
        return self.clock()

    def channel_usable(self, session: Session, channel: str, now: datetime) -> bool:
        if channel not in self.channels:
            return False
        health = session.get(ChannelHealth, channel)
        if health is None or health.state == "ok":
            return True
        if health.state in BLOCKING_HEALTH:
            return False
        return health.blocked_until is None or health.blocked_until <= now

    def _block_channel(
        self,
        session: Session,
        channel: str,
        state: str,
        reason: str,
        *,
        until: datetime | None,
        now: datetime,
    ) -> None:
        health = session.get(ChannelHealth, channel)
        if health is None:
            health = ChannelHealth(channel=channel)
            session.add(health)
        previous = health.state
        health.state = state
        health.blocked_until = until
        health.reason = reason
        health.updated_at = now
        audit(
            session,
            self.worker,
            "channel_health",
            at=now,
            channel=channel,
            from_=previous,
            to=state,
            until=until.isoformat() if until else None,
            reason=reason,
        )

    def _mark_channel_ok(self, session: Session, channel: str, now: datetime) -> None:
        health = session.get(ChannelHealth, channel)
        if health is not None and health.state != "ok":
            if health.state in BLOCKING_HEALTH:
                return  # only a staff action (retry / doctor / token update) clears these
            health.state = "ok"
            health.blocked_until = None
            health.reason = None
            health.updated_at = now
            audit(session, self.worker, "channel_health", at=now, channel=channel, to="ok")

    def _claim(
        self,
        session: Session,
        pub_id: int,
        states: Sequence[S],
        now: datetime,
        *,
        to: S | None = S.PUBLISHING,
        stale_claims: bool = False,
    ) -> bool:
        """Atomic claim, checked by row count (works the same on SQLite and PostgreSQL)."""
        free = or_(Publication.lease_until.is_(None), Publication.lease_until < now)
        if stale_claims and self.exclusive:
            free = or_(
                free, Publication.claimed_by.is_(None), Publication.claimed_by != self.worker
            )
        values: dict[str, Any] = {
            "claimed_by": self.worker,
            "lease_until": now + self.lease,
            "updated_at": now,
        }
        if to is not None:
            values["state"] = to.value
        result = session.execute(
            update(Publication)
            .where(Publication.id == pub_id, Publication.state.in_([str(s) for s in states]), free)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined, no-any-return]

    @contextmanager
    def _locked(self, pub_id: int) -> Iterator[tuple[Session, Publication]]:
        with self.db.session() as session:
            pub = session.get(Publication, pub_id, populate_existing=True)
            assert pub is not None
            yield session, pub

    def _release(self, pub: Publication) -> None:
        pub.claimed_by = None
        pub.lease_until = None

    def _start_attempt(
        self, pub_id: int, action: str, content_hash: str | None, **details: Any
    ) -> int:
        with self.db.session() as session:
            attempt = Attempt(
                publication_id=pub_id,
                action=action,
                worker=self.worker,
                content_hash=content_hash,
                started_at=self._now(),
                details=details,
            )
            session.add(attempt)
            session.flush()
            return attempt.id

    def _note_attempt(self, attempt_id: int, **details: Any) -> None:
        """Merge facts into an in-flight attempt and commit them (crash evidence)."""
        with self.db.session() as session:
            attempt = session.get(Attempt, attempt_id)
            assert attempt is not None
            attempt.details = {**(attempt.details or {}), **details}
            flag_modified(attempt, "details")

    def _finish_attempt(
        self,
        session: Session,
        attempt_id: int,
        outcome: str,
        *,
        remote_id: str | None = None,
        exc: BaseException | None = None,
        **details: Any,
    ) -> Attempt:
        attempt = session.get(Attempt, attempt_id)
        assert attempt is not None
        attempt.outcome = outcome
        attempt.finished_at = self._now()
        if remote_id:
            attempt.remote_id = remote_id
        if exc is not None:
            attempt.error_kind = _error_kind(exc)
            attempt.error_message = _error_text(exc)
            if isinstance(exc, ChannelError):
                attempt.http_status = exc.http_status
                attempt.error_code = exc.code
                if exc.trace_id:
                    details.setdefault("trace_id", exc.trace_id)
        if details:
            attempt.details = {**(attempt.details or {}), **details}
            flag_modified(attempt, "details")
        return attempt

    # ------------------------------------------------------------ building the post

    def outgoing(
        self, session: Session, pub: Publication, *, with_images: bool = True
    ) -> OutgoingPost:
        """Exactly the approved version, rendered for this channel."""
        version = session.get(PostVersion, pub.version_id) if pub.version_id else None
        post = session.get(Post, pub.post_id)
        if version is None or post is None:
            raise ContentChanged(f"publication {pub.id} has no version")
        images: list[OutgoingImage] = []
        cover: OutgoingImage | None = None
        if with_images and (version.images or version.cover):
            folder = self.settings.queue_dir / post.folder
            wanted = "facebook" if pub.channel == "facebook" else "zalo"
            needs: list[tuple[Mapping[str, Any], str]] = [
                (item, wanted) for item in version.images or []
            ]
            count = len(needs)
            if pub.channel == "zalo":
                cover_name = version.cover or (
                    version.images[0]["name"] if version.images else None
                )
                if cover_name:
                    meta = next(
                        (i for i in version.images or [] if i.get("name") == cover_name),
                        {"name": cover_name},
                    )
                    needs.append((meta, "zalo_cover"))
            made = self._renditions(folder, needs)
            images, cover = made[:count], (made[count] if len(made) > count else None)
        if with_images and pub.channel == "zalo" and cover is None and not images:
            cover = self._default_cover()  # a Zalo article needs a cover; a text post has none
        publish_at = version.publish_at or pub.due_at or self._now()
        return OutgoingPost(
            publication_id=pub.id,
            content_hash=version.content_hash,
            title=version.title,
            body=version.body,
            publish_at=publish_at,
            link=version.link,
            author=version.author or self.settings.default_author,
            description=version.description,
            images=tuple(images),
            cover=cover,
            zalo_broadcast=bool(version.zalo_broadcast),
        )

    def _default_cover(self) -> OutgoingImage | None:
        """The office's default Zalo cover (``ZALO_DEFAULT_COVER``, else the packaged one)."""
        configured = self.settings.zalo_default_cover
        if configured is not None and not configured.is_file():
            raise MediaError(
                f"Không thấy ảnh bìa Zalo mặc định {configured} (cấu hình ZALO_DEFAULT_COVER): "
                "sửa đường dẫn trong .env hoặc để trống để dùng ảnh bìa có sẵn của công cụ."
            )
        source = configured or DEFAULT_COVER
        if not source.is_file() or self.render is None:
            return None
        for rendition in self.render(source):
            if rendition.channel == "zalo_cover":
                return OutgoingImage(
                    path=Path(rendition.path),
                    sha256=rendition.sha256,
                    width=rendition.width,
                    height=rendition.height,
                    bytes=rendition.bytes,
                )
        return None

    def _renditions(
        self, folder: Path, needs: Sequence[tuple[Mapping[str, Any], str]]
    ) -> list[OutgoingImage]:
        """``_rendition`` of each (image, wanted rendition), in order. When the render
        takes a post's photos at once, they are rendered in one concurrent call; the
        error raised is the one the one-by-one order meets first, as without it."""
        if not needs or not isinstance(self.render, RendersMany):
            return [self._rendition(folder, item, wanted) for item, wanted in needs]
        sources: list[Path] = []
        gone: ContentChanged | None = None
        for item, _ in needs:  # one by one would not render past a changed photo
            try:
                sources.append(self._checked_source(folder, item))
            except ContentChanged as exc:
                gone = exc
                break
        unique = list(dict.fromkeys(sources))
        rendered = dict(zip(unique, self.render.render_many(unique), strict=True)) if unique else {}
        images = []
        for source, (_, wanted) in zip(sources, needs, strict=False):
            result = rendered[source]
            if isinstance(result, MediaError):
                raise result
            images.append(self._pick(source, result, wanted))
        if gone is not None:
            raise gone
        return images

    def _checked_source(self, folder: Path, item: Mapping[str, Any]) -> Path:
        """The photo's path, still there and still the bytes that were approved."""
        source = folder / str(item["name"])
        if not source.is_file():
            raise ContentChanged(f"{source} is gone")
        expected = item.get("sha256")
        if expected and file_sha256(source) != expected:
            raise ContentChanged(f"{source} changed since it was approved")
        return source

    def _rendition(self, folder: Path, item: Mapping[str, Any], wanted: str) -> OutgoingImage:
        source = self._checked_source(folder, item)
        if self.render is None:
            raise MediaError("Chưa có bộ xử lý ảnh (media) nên không thể chuẩn bị ảnh để đăng.")
        return self._pick(source, self.render(source), wanted)

    def _pick(self, source: Path, renditions: Sequence[Rendition], wanted: str) -> OutgoingImage:
        for rendition in renditions:
            if rendition.channel == wanted:
                return OutgoingImage(
                    path=Path(rendition.path),
                    sha256=rendition.sha256,
                    width=rendition.width,
                    height=rendition.height,
                    bytes=rendition.bytes,
                )
        raise MediaError(f"Không tạo được ảnh cho {wanted} từ {source.name}.", path=str(source))

    # ------------------------------------------------------------ queries

    def _ids(self, session: Session, *conditions: Any, only_post: int | None = None) -> list[int]:
        query = select(Publication.id).where(*conditions)
        if only_post is not None:
            query = query.where(Publication.post_id == only_post)
        return list(session.scalars(query.order_by(Publication.due_at, Publication.id)))

    # ------------------------------------------------------------ 1. reconcile

    def reconcile(self, now: datetime, *, only_post: int | None = None) -> StepResult:
        """Settle every ``publishing`` row whose worker is gone or whose outcome was unknown."""
        result = StepResult()
        with self.db.session() as session:
            stale: list[Any] = [
                Publication.state == S.PUBLISHING,
                or_(Publication.lease_until.is_(None), Publication.lease_until < now),
            ]
            if self.exclusive:
                stale[1] = or_(
                    stale[1],
                    Publication.claimed_by.is_(None),
                    Publication.claimed_by != self.worker,
                )
            ids = self._ids(session, *stale, only_post=only_post)
        for pub_id in ids:
            if self.stop.is_set():
                break
            with self.db.session() as session:
                pub = session.get(Publication, pub_id)
                if pub is None or not self.channel_usable(session, pub.channel, now):
                    continue
                if not self._claim(
                    session, pub_id, [S.PUBLISHING], now, to=None, stale_claims=True
                ):
                    continue
            self._reconcile_one(pub_id, now, result)
        return result

    def _last_create_attempt(self, session: Session, pub_id: int) -> Attempt | None:
        return session.scalars(
            select(Attempt)
            .where(Attempt.publication_id == pub_id, Attempt.action.in_(CREATE_ACTIONS))
            .order_by(Attempt.id.desc())
            .limit(1)
        ).first()

    def _reconcile_one(self, pub_id: int, now: datetime, result: StepResult) -> None:
        with self._locked(pub_id) as (session, pub):
            attempt = self._last_create_attempt(session, pub_id)
            channel = self.channels[pub.channel]
            settled = attempt is not None and (
                attempt.outcome in ("ok", "adopted", "failed", "not_found")
                or bool((attempt.details or {}).get("reconciled"))
            )
            if attempt is None or settled:
                # Claimed, then nothing sent (or the result is already recorded): give it back.
                back = S.DUE if pub.due_at is None or pub.due_at <= now else S.PENDING
                self._release(pub)
                set_state(session, pub, back, actor=self.worker, at=now, reason="reclaimed")
                owner = session.get(Post, pub.post_id)
                log.info(
                    "Lấy lại bài '%s' trên %s (tiến trình trước đã dừng).",
                    owner.title if owner is not None else pub.post_id,
                    PLATFORM_NAMES.get(pub.channel, pub.channel),
                )
                return
            attempt_id = attempt.id
            action = attempt.action
            started = attempt.started_at
            token = (attempt.details or {}).get("token")
            was_unknown = attempt.outcome == "unknown"
            error_kind = attempt.error_kind
            first_started = (
                session.scalar(
                    select(func.min(Attempt.started_at)).where(
                        Attempt.publication_id == pub_id, Attempt.action.in_(CREATE_ACTIONS)
                    )
                )
                or started
            )
            try:
                post = self.outgoing(session, pub)
            except (ContentChanged, MediaError):
                post = self.outgoing(session, pub, with_images=False)
            exclude = held_remote_ids(session, pub.channel, pub_id)
        title = post.title

        if token and not was_unknown and isinstance(channel, CreatesInTwoSteps):
            self._verify_token(pub_id, attempt_id, channel, str(token), started, now, result, title)
            return

        since = started
        if error_kind == "duplicate":
            # 506: the same text is already on the Page; look since our first attempt.
            since = first_started
        try:
            # ``since`` exactly: the channels look a few minutes earlier themselves, and
            # Zalo's settle window counts from it (a margin here would shorten it).
            found = find(channel, post, since, exclude)
        except UnverifiedMatchError as exc:
            hold_unverified(self, pub_id, attempt_id, exc, title, now, result)
            return
        except ProcessingError as exc:
            # Zalo: not listed yet, but it may still be processing: not a final answer.
            wait = timedelta(seconds=exc.retry_after or ZALO_VERIFY_POLL.total_seconds())
            with self._locked(pub_id) as (session, pub):
                pub.lease_until = now + min(max(wait, timedelta(seconds=1)), ZALO_VERIFY_POLL * 5)
            return
        except ChannelError as exc:
            with self._locked(pub_id) as (session, pub):
                self._channel_level(session, pub, exc, now)
                pub.lease_until = now + max(self.backoff(1), timedelta(seconds=1))
            log.warning(
                "Chưa kiểm tra được bài '%s' trên %s (%s); sẽ kiểm tra lại.",
                title,
                PLATFORM_NAMES.get(pub.channel, pub.channel),
                _error_text(exc),
            )
            return
        with self._locked(pub_id) as (session, pub):
            if found is not None:
                self._adopt(session, pub, attempt_id, action, found, now)
                result.adopted.append(pub_id)
                return
            self._finish_attempt(
                session,
                attempt_id,
                "unknown" if was_unknown else "not_found",
                reconciled="not_found",
            )
            session.add(
                Attempt(
                    publication_id=pub_id,
                    action="reconcile",
                    worker=self.worker,
                    content_hash=pub.content_hash,
                    started_at=now,
                    finished_at=self._now(),
                    outcome="not_found",
                    details={"attempt_id": attempt_id, "since": started.isoformat()},
                )
            )
            self._release(pub)
            if action == "schedule":
                pub.next_attempt_at = now + self.backoff(max(1, pub.attempt_count))
                back = S.DUE if pub.due_at is None or pub.due_at <= now else S.PENDING
                set_state(session, pub, back, actor=self.worker, at=now, reason="not_found")
            elif was_unknown:
                self._retry_or_attention(session, pub, pub.last_error or "không rõ kết quả", now)
            else:
                pub.next_attempt_at = None
                set_state(session, pub, S.DUE, actor=self.worker, at=now, reason="not_found")
            log.info(
                "Không thấy bài '%s' trên %s sau lần gửi trước: sẽ gửi lại.",
                title,
                PLATFORM_NAMES.get(pub.channel, pub.channel),
            )
            if pub.state == S.RETRY_WAIT:
                result.retrying.append(pub_id)
            elif pub.state == S.NEEDS_ATTENTION:
                result.attention.append(pub_id)

    def _reconcile_delay(self, channel_name: str) -> timedelta:
        """How long after an unanswered create to first look for the post."""
        return RECONCILE_DELAY

    def _published_this_month(self, channel: str, now: datetime) -> int:
        start = self._month_start(now)
        with self.db.session() as session:
            return int(
                session.scalar(
                    select(func.count(Publication.id)).where(
                        Publication.channel == channel,
                        Publication.state.in_([S.PUBLISHED, S.CONFIRMED]),
                        Publication.published_at >= start,
                    )
                )
                or 0
            )

    def _adopt(
        self,
        session: Session,
        pub: Publication,
        attempt_id: int,
        action: str,
        found: RemotePost,
        now: datetime,
    ) -> None:
        self._finish_attempt(session, attempt_id, "adopted", remote_id=found.remote_id)
        audit(
            session,
            self.worker,
            "adopted",
            pub,
            at=now,
            attempt_id=attempt_id,
            remote_id=found.remote_id,
        )
        if action == "schedule" and not found.is_published:
            self._scheduled(session, pub, found, now)
        else:
            self._published(session, pub, found, now)
        log.info(
            "Đã tìm thấy trên %s bài gửi trước đó (không gửi lại): %s",
            PLATFORM_NAMES.get(pub.channel, pub.channel),
            found.url or found.remote_id,
        )

    def _verify_token(
        self,
        pub_id: int,
        attempt_id: int,
        channel: CreatesInTwoSteps,
        token: str,
        started: datetime,
        now: datetime,
        result: StepResult,
        title: str,
    ) -> None:
        try:
            remote = channel.verify_article(token)
        except ProcessingError as exc:
            with self._locked(pub_id) as (session, pub):
                if now - started > ZALO_VERIFY_GIVE_UP:
                    self._finish_attempt(session, attempt_id, "failed", exc=exc)
                    self._release(pub)
                    set_state(
                        session,
                        pub,
                        S.NEEDS_ATTENTION,
                        actor=self.worker,
                        at=now,
                        reason=(
                            f"Zalo xử lý bài '{title}' quá lâu (hơn "
                            f"{int(ZALO_VERIFY_GIVE_UP.total_seconds() // 60)} phút). Kiểm tra "
                            "trang quản lý Zalo OA: nếu bài đã có thì không cần làm gì, nếu "
                            "chưa có thì chạy 'social-publisher retry'."
                        ),
                    )
                    result.attention.append(pub_id)
                else:
                    # Poll again soon (the pass wakes up for it); never create again.
                    age = now - started
                    pub.lease_until = now + min(
                        max(ZALO_VERIFY_POLL, age / 4), timedelta(minutes=1)
                    )
            return
        except ChannelError as exc:
            with self._locked(pub_id) as (session, pub):
                if self._channel_level(session, pub, exc, now):
                    pub.lease_until = now + max(self.backoff(1), timedelta(seconds=1))
                    return
                if isinstance(exc, TransientError) and exc.code == ZALO_SEND_FAILED:
                    # Zalo could not build the article (e.g. cover not fetchable): nothing
                    # was published, creating it again later is safe.
                    self._finish_attempt(session, attempt_id, "failed", exc=exc)
                    self._release(pub)
                    self._after_failure(session, pub, exc, now, title)
                    self._note_result(pub, result)
                    return
                # Anything else: the article may exist. Look for it before any new create.
                self._finish_attempt(session, attempt_id, "unknown", exc=exc)
                pub.last_error, pub.last_error_kind = _error_text(exc), _error_kind(exc)
                pub.lease_until = now + self._reconcile_delay(pub.channel)
            return
        with self._locked(pub_id) as (session, pub):
            self._finish_attempt(session, attempt_id, "ok", remote_id=remote.remote_id)
            self._published(session, pub, remote, now)
            result.published.append(pub_id)

    # ------------------------------------------------------------ 2. remote schedule upkeep

    def sync_remote(self, now: datetime, *, only_post: int | None = None) -> StepResult:
        """Keep Facebook's scheduled posts in line with the queue (edits, withdrawals)."""
        result = StepResult()
        with self.db.session() as session:
            ids = self._ids(session, Publication.state == S.SCHEDULED_REMOTE, only_post=only_post)
        for pub_id in ids:
            if self.stop.is_set():
                break
            with self.db.session() as session:
                pub = session.get(Publication, pub_id)
                if pub is None or not self.channel_usable(session, pub.channel, now):
                    continue
                channel = self.channels[pub.channel]
                if not isinstance(channel, SchedulesNatively) or pub.remote_id is None:
                    continue
                post = session.get(Post, pub.post_id)
                assert post is not None
                version = post.current_version
                verdict = disposition(post, version, pub.channel)
                at = pub.remote_scheduled_for
                if at is not None and at <= now + REMOTE_EDIT_MARGIN:
                    # Facebook is about to publish it (or has): hands off, confirm later.
                    continue
                if verdict == Disposition.PUBLISH and post.override == OVERRIDE_PUBLISH:
                    task = "publish_now"
                elif verdict != Disposition.PUBLISH:
                    task = "cancel"
                elif (version is not None and version.content_hash != pub.content_hash) or (
                    pub.due_at is not None and at is not None and pub.due_at != at
                ):
                    task = "edit"
                else:
                    continue
                if not self._claim(session, pub_id, [S.SCHEDULED_REMOTE], now, to=None):
                    continue
            self._sync_one(pub_id, task, channel, now, result)
        return result

    def _sync_one(
        self, pub_id: int, task: str, channel: SchedulesNatively, now: datetime, result: StepResult
    ) -> None:
        with self._locked(pub_id) as (session, pub):
            post = session.get(Post, pub.post_id)
            assert post is not None and pub.remote_id is not None
            remote_id = pub.remote_id
            version = post.current_version
            old_version = session.get(PostVersion, pub.version_id) if pub.version_id else None
            verdict = disposition(post, version, pub.channel)
            title = post.title
            steps: list[str] = []
            if task == "edit" and version is not None:
                new_at = version.publish_at
                images_changed = old_version is None or (
                    [i.get("sha256") for i in old_version.images or []]
                    != [i.get("sha256") for i in version.images or []]
                    or (old_version.link or "") != (version.link or "")
                )
                text_changed = old_version is None or (
                    old_version.title != version.title or old_version.body != version.body
                )
                time_changed = new_at != pub.remote_scheduled_for
                if images_changed or new_at is None or not channel.in_schedule_window(new_at, now):
                    steps = ["cancel", "replan"]
                else:
                    if text_changed:
                        steps.append("update")
                    if time_changed:
                        steps.append("reschedule")
                    steps.append("adopt_version")
            else:
                steps = [task]
            try:
                old_pub_version = pub.version_id
                outgoing = None
                if "update" in steps and version is not None:
                    pub.version_id = version.id  # build the message from the new version
                    outgoing = self.outgoing(session, pub, with_images=False)
                    pub.version_id = old_pub_version
            except (ContentChanged, MediaError):
                self._release(pub)
                return
            new_hash = version.content_hash if version is not None else None
        for step in steps:
            if step in ("adopt_version", "replan"):
                continue
            attempt_id = self._start_attempt(
                pub_id, step, new_hash, remote_id=remote_id, reason=task
            )
            try:
                if step == "cancel":
                    channel.cancel(remote_id)  # a post already gone counts as cancelled
                elif step == "update":
                    assert outgoing is not None
                    channel.update_message(remote_id, outgoing)
                elif step == "reschedule":
                    assert version is not None and version.publish_at is not None
                    channel.reschedule(remote_id, version.publish_at)
                elif step == "publish_now":
                    channel.publish_scheduled_now(remote_id)
            except ChannelError as exc:
                with self._locked(pub_id) as (session, pub):
                    self._finish_attempt(session, attempt_id, "failed", exc=exc)
                    self._release(pub)
                    if not self._channel_level(session, pub, exc, now):
                        pub.last_error = _error_text(exc)
                        pub.last_error_kind = _error_kind(exc)
                    log.warning(
                        "Không cập nhật được bài hẹn giờ '%s' trên Facebook (%s): %s. Sẽ thử lại.",
                        title,
                        step,
                        _error_text(exc),
                    )
                return
            with self.db.session() as session:
                self._finish_attempt(session, attempt_id, "ok", remote_id=remote_id)
            result.remote_updates += 1
        with self._locked(pub_id) as (session, pub):
            post = session.get(Post, pub.post_id)
            assert post is not None
            version = post.current_version
            self._release(pub)
            if "publish_now" in steps:
                self._published(
                    session, pub, RemotePost(remote_id=remote_id, url=pub.remote_url), now
                )
                result.published.append(pub_id)
                return
            if "cancel" in steps:
                old_hash = pub.content_hash
                pub.remote_id = pub.remote_url = None
                pub.remote_scheduled_for = None
                if verdict == Disposition.CANCEL:
                    set_state(
                        session, pub, S.CANCELLED, actor=self.worker, at=now, reason="withdrawn"
                    )
                    log.info("Đã hủy bài hẹn giờ '%s' trên Facebook (bài đã rút).", title)
                    result.cancelled.append(pub_id)
                    return
                if version is not None and verdict == Disposition.PUBLISH:
                    pub.version_id = version.id
                    pub.content_hash = version.content_hash
                    pub.approved_by = version.approved_by
                    pub.due_at = version.publish_at
                    audit(
                        session,
                        self.worker,
                        "edited_before_publish",
                        pub,
                        at=now,
                        old_hash=old_hash,
                        new_hash=version.content_hash,
                        remote="cancelled for re-scheduling",
                    )
                pub.attempt_count = 0
                pub.next_attempt_at = None
                set_state(session, pub, S.PENDING, actor=self.worker, at=now, reason=task)
                log.info("Đã gỡ lịch đăng '%s' trên Facebook để lên lịch lại theo bản mới.", title)
                return
            assert version is not None
            old_hash = pub.content_hash
            pub.version_id = version.id
            pub.content_hash = version.content_hash
            pub.approved_by = version.approved_by
            pub.due_at = version.publish_at
            pub.remote_scheduled_for = version.publish_at
            audit(
                session,
                self.worker,
                "remote_updated",
                pub,
                at=now,
                old_hash=old_hash,
                new_hash=version.content_hash,
                steps=steps,
                scheduled_for=version.publish_at.isoformat() if version.publish_at else None,
            )
            log.info(
                "Đã cập nhật bài hẹn giờ '%s' trên Facebook (%s), đăng lúc %s.",
                title,
                ", ".join(s for s in steps if s != "adopt_version"),
                _fmt_local(version.publish_at, self.tz),
            )

    # ------------------------------------------------------------ 3. hand to Facebook's scheduler

    def schedule_remote(self, now: datetime, *, only_post: int | None = None) -> StepResult:
        """Give approved Facebook posts 10 min–30 days ahead to Facebook's own scheduler."""
        result = StepResult()
        candidates = [n for n, c in self.channels.items() if isinstance(c, SchedulesNatively)]
        if not candidates:
            return result
        # Posts beyond every channel's horizon are not candidates: on an idle daemon with a
        # long queue, loading each one only to find it out of the window was most of a pass.
        leads: list[timedelta | None] = [
            getattr(self.channels[n], "schedule_max_lead", None) for n in candidates
        ]
        known = [lead for lead in leads if lead is not None]
        horizon = [Publication.due_at <= now + max(known)] if len(known) == len(leads) else []
        with self.db.session() as session:
            ids = self._ids(
                session,
                Publication.state == S.PENDING,
                Publication.channel.in_(candidates),
                Publication.due_at > now,
                *horizon,
                Publication.attempt_count < self.settings.retry_max_attempts,
                or_(Publication.next_attempt_at.is_(None), Publication.next_attempt_at <= now),
                only_post=only_post,
            )
        for pub_id in ids:
            if self.stop.is_set():
                break
            with self.db.session() as session:
                pub = session.get(Publication, pub_id)
                assert pub is not None
                channel = self.channels[pub.channel]
                if pub.due_at is None or not channel.in_schedule_window(pub.due_at, now):
                    continue
                post = session.get(Post, pub.post_id)
                assert post is not None
                if post.override == OVERRIDE_PUBLISH:
                    continue
                if disposition(post, post.current_version, pub.channel) != Disposition.PUBLISH:
                    continue
                if post.current_version_id != pub.version_id:
                    continue  # the planner moves it to the new version first
                if not folder_settled(post, now, self.settings):
                    continue  # still being copied or saved
                if not self.channel_usable(session, pub.channel, now):
                    continue
                if not self._claim(session, pub_id, [S.PENDING], now):
                    continue
                audit(
                    session,
                    self.worker,
                    "transition",
                    pub,
                    at=now,
                    from_="pending",
                    to="publishing",
                )
            self._create(pub_id, "schedule", now, result)
        return result

    # ------------------------------------------------------------ 4. publish what is due

    def publish_due(self, now: datetime, *, only_post: int | None = None) -> StepResult:
        result = StepResult()
        with self.db.session() as session:
            ids = self._ids(
                session,
                Publication.state.in_([S.DUE, S.RETRY_WAIT]),
                or_(Publication.next_attempt_at.is_(None), Publication.next_attempt_at <= now),
                only_post=only_post,
            )
        for pub_id in ids:
            if self.stop.is_set():
                break
            with self.db.session() as session:
                pub = session.get(Publication, pub_id)
                assert pub is not None
                if not self.channel_usable(session, pub.channel, now):
                    continue
                post = session.get(Post, pub.post_id)
                assert post is not None
                if disposition(post, post.current_version, pub.channel) != Disposition.PUBLISH:
                    continue  # the planner holds or cancels it
                if not folder_settled(post, now, self.settings):
                    continue  # still being copied or saved: status says so
                if not self._claim(session, pub_id, [S.DUE, S.RETRY_WAIT], now):
                    continue
                before = pub.state
                session.refresh(pub)
                audit(
                    session,
                    self.worker,
                    "transition",
                    pub,
                    at=now,
                    from_=before,
                    to="publishing",
                )
                grace = timedelta(hours=self.settings.overdue_grace_hours)
                if (
                    post.override != OVERRIDE_PUBLISH
                    and pub.due_at is not None
                    and now - pub.due_at > grace
                ):
                    hours = (now - pub.due_at).total_seconds() / 3600
                    reason = (
                        f"Bài '{post.title}' quá hạn {hours:.0f} giờ (hẹn đăng "
                        f"{_fmt_local(pub.due_at, self.tz)}) nên chưa đăng lên "
                        f"{PLATFORM_NAMES.get(pub.channel, pub.channel)}: cần quyết định: chạy "
                        f"'social-publisher publish-now {post.folder}' để đăng hoặc "
                        f"'social-publisher withdraw {post.folder}' để rút."
                    )
                    self._release(pub)
                    set_state(
                        session, pub, S.NEEDS_ATTENTION, actor=self.worker, at=now, reason=reason
                    )
                    log.warning("%s", reason)
                    result.attention.append(pub_id)
                    continue
            self._create(pub_id, "create", now, result)
        return result

    def _create(self, pub_id: int, action: str, now: datetime, result: StepResult) -> None:
        """Steps 2–4 of the discipline for a claimed publication."""
        with self._locked(pub_id) as (session, pub):
            channel = self.channels[pub.channel]
            try:
                post = self.outgoing(session, pub)
            except ContentChanged as exc:
                self._release(pub)
                back = S.PENDING if action == "schedule" else S.DUE
                set_state(session, pub, back, actor=self.worker, at=now, reason="content changed")
                folder_seen_changing(session, self.settings, pub.post_id, now)
                owner = session.get(Post, pub.post_id)
                log.info(
                    "Bài '%s' đang được sửa (%s): chờ lần quét sau.",
                    owner.title if owner is not None else pub.post_id,
                    exc,
                )
                return
            except MediaError as exc:
                self._release(pub)
                reason = f"Ảnh của bài không dùng được: {exc.message}"
                set_state(session, pub, S.NEEDS_ATTENTION, actor=self.worker, at=now, reason=reason)
                pub.last_error, pub.last_error_kind = exc.message, "media"
                log.error("Không đăng được bài %s lên %s: %s", pub.post_id, pub.channel, reason)
                result.attention.append(pub_id)
                return
            content_hash = pub.content_hash
            due_at = pub.due_at
        if action == "create" and hasattr(channel, "check_quota"):
            try:
                channel.check_quota(self._published_this_month(channel.name, now), now)
            except QuotaError as exc:
                with self._locked(pub_id) as (session, pub):
                    self._release(pub)
                    self._after_failure(session, pub, exc, now, post.title)
                return
        if look_before_create(self, pub_id, action, channel, post, due_at, now, result):
            return  # already on the platform (adopted), or it could not be looked at yet
        started = self._now()
        attempt_id = self._start_attempt(pub_id, action, content_hash, title=post.title)
        try:
            if action == "schedule":
                assert due_at is not None
                remote = channel.schedule(post, due_at)
            elif isinstance(channel, CreatesInTwoSteps):
                token = channel.create_article(post)
                # Durable before verify: a crash from here on resumes with verify_article(token).
                self._note_attempt(attempt_id, token=token)
                self._verify_token(
                    pub_id, attempt_id, channel, token, started, now, result, post.title
                )
                return
            else:
                remote = channel.publish(post)
        except (OutcomeUnknownError, DuplicateError) as exc:
            self._unknown(pub_id, attempt_id, exc, now, post.title)
            return
        except ProcessingError as exc:
            # Created, still processing after the channel's own polling: verify later.
            with self._locked(pub_id) as (session, pub):
                pub.lease_until = now + ZALO_VERIFY_POLL
                pub.last_error, pub.last_error_kind = _error_text(exc), _error_kind(exc)
            return
        except ChannelError as exc:
            with self._locked(pub_id) as (session, pub):
                self._finish_attempt(session, attempt_id, "failed", exc=exc)
                self._release(pub)
                if action == "schedule":
                    self._schedule_failed(session, pub, exc, now, post.title)
                else:
                    self._after_failure(session, pub, exc, now, post.title)
                self._note_result(pub, result)
            return
        except SocialPublisherError as exc:
            # Public media or a local problem before anything was sent.
            with self._locked(pub_id) as (session, pub):
                self._finish_attempt(session, attempt_id, "failed", exc=exc)
                self._release(pub)
                if action == "schedule":
                    self._schedule_failed(session, pub, exc, now, post.title)
                else:
                    self._retry_or_attention(session, pub, _error_text(exc), now, title=post.title)
                self._note_result(pub, result)
            return
        except Exception as exc:  # a bug or an unexpected library error: we cannot know
            log.exception("unexpected error while publishing %s", pub_id)
            self._unknown(pub_id, attempt_id, exc, now, post.title)
            return
        with self._locked(pub_id) as (session, pub):
            self._finish_attempt(session, attempt_id, "ok", remote_id=remote.remote_id)
            if action == "schedule":
                self._scheduled(session, pub, remote, now)
                result.scheduled.append(pub_id)
            else:
                self._published(session, pub, remote, now)
                result.published.append(pub_id)
            self._mark_channel_ok(session, pub.channel, now)

    def _unknown(
        self, pub_id: int, attempt_id: int, exc: BaseException, now: datetime, title: str
    ) -> None:
        with self._locked(pub_id) as (session, pub):
            self._finish_attempt(session, attempt_id, "unknown", exc=exc)
            pub.last_error, pub.last_error_kind = _error_text(exc), _error_kind(exc)
            delay = self._reconcile_delay(pub.channel)
            pub.lease_until = now + delay  # stays publishing: reconcile decides
            log.warning(
                "Không rõ bài '%s' đã lên %s chưa (%s): sẽ kiểm tra trên %s trước khi gửi lại.",
                title,
                PLATFORM_NAMES.get(pub.channel, pub.channel),
                _error_text(exc),
                PLATFORM_NAMES.get(pub.channel, pub.channel),
            )

    def _note_result(self, pub: Publication, result: StepResult) -> None:
        if pub.state == S.RETRY_WAIT:
            result.retrying.append(pub.id)
        elif pub.state == S.NEEDS_ATTENTION:
            result.attention.append(pub.id)

    # ------------------------------------------------------------ outcomes

    def _published(
        self, session: Session, pub: Publication, remote: RemotePost, now: datetime
    ) -> None:
        pub.remote_id = remote.remote_id
        if remote.url:
            pub.remote_url = remote.url
        pub.published_at = remote.created_time or now
        pub.next_attempt_at = now + CONFIRM_DELAY
        pub.last_error = pub.last_error_kind = None
        self._release(pub)
        set_state(session, pub, S.PUBLISHED, actor=self.worker, at=now, remote_id=remote.remote_id)
        post = session.get(Post, pub.post_id)
        log.info(
            "Đã đăng '%s' lên %s: %s",
            post.title if post else pub.post_id,
            PLATFORM_NAMES.get(pub.channel, pub.channel),
            pub.remote_url or pub.remote_id,
        )

    def _scheduled(
        self, session: Session, pub: Publication, remote: RemotePost, now: datetime
    ) -> None:
        pub.remote_id = remote.remote_id
        if remote.url:
            pub.remote_url = remote.url
        pub.remote_scheduled_for = remote.scheduled_for or pub.due_at
        pub.next_attempt_at = None
        pub.last_error = pub.last_error_kind = None
        self._release(pub)
        set_state(
            session, pub, S.SCHEDULED_REMOTE, actor=self.worker, at=now, remote_id=remote.remote_id
        )
        post = session.get(Post, pub.post_id)
        log.info(
            "Đã hẹn giờ '%s' trên Facebook lúc %s (Facebook tự đăng, kể cả khi máy tắt).",
            post.title if post else pub.post_id,
            _fmt_local(pub.remote_scheduled_for, self.tz),
        )

    def _channel_level(
        self, session: Session, pub: Publication, exc: ChannelError, now: datetime
    ) -> bool:
        """Record a failure that concerns the whole channel; True when it was one."""
        platform = PLATFORM_NAMES.get(pub.channel, pub.channel)
        if isinstance(exc, RateLimitError):
            # The platform's estimate, capped at RETRY_MAX_SECONDS: one probe an hour at
            # most is harmless, and a stale estimate never parks a channel for a day.
            wait = timedelta(seconds=exc.retry_after) if exc.retry_after else self.backoff(1)
            wait = min(wait, timedelta(seconds=max(1, self.settings.retry_max_seconds)))
            until = now + wait
            self._block_channel(
                session,
                pub.channel,
                "rate_limited",
                f"{platform} báo gửi quá nhiều yêu cầu; tạm dừng đến {_fmt_local(until, self.tz)}.",
                until=until,
                now=now,
            )
            log.warning(
                "%s giới hạn tần suất: tạm dừng kênh này đến %s.",
                platform,
                _fmt_local(until, self.tz),
            )
            return True
        if isinstance(exc, PolicyError):
            wait = timedelta(seconds=exc.retry_after) if exc.retry_after else POLICY_DEFAULT_WAIT
            until = now + wait
            reason = (
                f"{platform} tạm chặn đăng bài ({exc.platform_message}); tạm dừng đến "
                f"{_fmt_local(until, self.tz)}. Không đăng dồn dập; kiểm tra Trang."
            )
            self._block_channel(session, pub.channel, "policy", reason, until=until, now=now)
            log.error("%s", reason)
            return True
        if isinstance(exc, QuotaError):
            until = (
                now + timedelta(seconds=exc.retry_after)
                if exc.retry_after
                else self._next_month(now)
            )
            reason = (
                f"Zalo OA đã hết lượt đăng bài của gói ({exc.platform_message}); các bài Zalo chờ "
                f"đến {_fmt_local(until, self.tz)} hoặc nâng gói rồi chạy 'social-publisher retry'."
            )
            self._block_channel(session, pub.channel, "quota", reason, until=until, now=now)
            log.error("%s", reason)
            return True
        if isinstance(exc, AuthError):
            fix = (
                "cấp lại FB_PAGE_ACCESS_TOKEN trong .env"
                if pub.channel == "facebook"
                else "chạy 'social-publisher zalo token set' với cặp token mới"
            )
            reason = (
                f"Token {platform} không còn hợp lệ ({exc.platform_message}). Dừng đăng lên "
                f"{platform}: {fix}, rồi chạy 'social-publisher retry'."
            )
            self._block_channel(session, pub.channel, "auth_failed", reason, until=None, now=now)
            log.error("%s", reason)
            return True
        if isinstance(exc, PermissionDeniedError):
            reason = (
                f"{platform} từ chối quyền ({exc.platform_message}). Kiểm tra quyền của ứng dụng "
                f"và tài khoản, rồi chạy 'social-publisher retry'."
            )
            self._block_channel(session, pub.channel, "permission", reason, until=None, now=now)
            log.error("%s", reason)
            return True
        return False

    def _next_month(self, now: datetime) -> datetime:
        return next_month_start(now, self.tz).astimezone(UTC)

    def _after_failure(
        self, session: Session, pub: Publication, exc: ChannelError, now: datetime, title: str
    ) -> None:
        """A create failed with a definite answer (nothing was created)."""
        pub.last_error, pub.last_error_kind = _error_text(exc), _error_kind(exc)
        platform = PLATFORM_NAMES.get(pub.channel, pub.channel)
        if self._channel_level(session, pub, exc, now):
            if isinstance(exc, PermissionDeniedError):
                set_state(
                    session,
                    pub,
                    S.NEEDS_ATTENTION,
                    actor=self.worker,
                    at=now,
                    reason=f"{platform} từ chối quyền: {exc.platform_message}",
                )
                return
            blocked = session.get(ChannelHealth, pub.channel)
            pub.next_attempt_at = blocked.blocked_until if blocked else None
            set_state(session, pub, S.DUE, actor=self.worker, at=now, reason=_error_kind(exc))
            return
        if isinstance(exc, InvalidRequestError | DuplicateError):
            reason = (
                f"{platform} từ chối bài '{title}': {exc.platform_message}. Sửa bài theo thông "
                f"báo rồi lưu lại (bài sẽ được đăng lại), hoặc chạy 'social-publisher withdraw'."
            )
            set_state(session, pub, S.NEEDS_ATTENTION, actor=self.worker, at=now, reason=reason)
            log.error("%s", reason)
            return
        if isinstance(exc, NightTimeError):
            pub.next_attempt_at = self._after_six(now)
            set_state(session, pub, S.RETRY_WAIT, actor=self.worker, at=now, reason="night")
            return
        self._retry_or_attention(session, pub, _error_text(exc), now, title=title)

    def _after_six(self, now: datetime) -> datetime:
        return next_broadcast_opening(now, self.tz).astimezone(UTC)

    def _retry_or_attention(
        self, session: Session, pub: Publication, error: str, now: datetime, *, title: str = ""
    ) -> None:
        pub.attempt_count += 1
        platform = PLATFORM_NAMES.get(pub.channel, pub.channel)
        limit = self.settings.retry_max_attempts
        if pub.attempt_count >= limit:
            reason = (
                f"Đã thử đăng {pub.attempt_count} lần lên {platform} không thành công: {error}. "
                f"Kiểm tra kết nối/cấu hình rồi chạy 'social-publisher retry'."
            )
            set_state(session, pub, S.NEEDS_ATTENTION, actor=self.worker, at=now, reason=reason)
            log.error("Bài '%s': %s", title or pub.post_id, reason)
            return
        pub.next_attempt_at = now + self.backoff(pub.attempt_count)
        set_state(session, pub, S.RETRY_WAIT, actor=self.worker, at=now, error=error)
        log.warning(
            "Lỗi khi đăng '%s' lên %s: %s. Sẽ thử lại lúc %s (lần %d/%d).",
            title or pub.post_id,
            platform,
            error,
            _fmt_local(pub.next_attempt_at, self.tz),
            pub.attempt_count + 1,
            limit,
        )

    def _schedule_failed(
        self,
        session: Session,
        pub: Publication,
        exc: SocialPublisherError,
        now: datetime,
        title: str,
    ) -> None:
        """Native scheduling failed: fall back to publishing it ourselves at its time."""
        pub.last_error, pub.last_error_kind = _error_text(exc), _error_kind(exc)
        if isinstance(exc, ChannelError) and self._channel_level(session, pub, exc, now):
            set_state(session, pub, S.PENDING, actor=self.worker, at=now, reason=_error_kind(exc))
            return
        if isinstance(exc, InvalidRequestError):
            reason = (
                f"Facebook từ chối bài '{title}': {exc.platform_message}. Sửa bài theo thông báo "
                f"rồi lưu lại, hoặc chạy 'social-publisher withdraw'."
            )
            set_state(session, pub, S.NEEDS_ATTENTION, actor=self.worker, at=now, reason=reason)
            log.error("%s", reason)
            return
        pub.attempt_count += 1
        pub.next_attempt_at = now + self.backoff(pub.attempt_count)
        set_state(session, pub, S.PENDING, actor=self.worker, at=now, reason="schedule failed")
        log.warning(
            "Chưa hẹn giờ được '%s' trên Facebook (%s); sẽ thử lại lúc %s.",
            title,
            _error_text(exc),
            _fmt_local(pub.next_attempt_at, self.tz),
        )

    # ------------------------------------------------------------ 5. confirm

    def confirm(self, now: datetime, *, only_post: int | None = None) -> StepResult:
        """Check once that what we published (or Facebook scheduled) is live."""
        result = StepResult()
        with self.db.session() as session:
            ids = self._ids(
                session,
                or_(
                    (Publication.state == S.PUBLISHED)
                    & or_(
                        Publication.next_attempt_at.is_(None), Publication.next_attempt_at <= now
                    ),
                    (Publication.state == S.SCHEDULED_REMOTE)
                    & (Publication.remote_scheduled_for <= now),
                ),
                only_post=only_post,
            )
        for pub_id in ids:
            if self.stop.is_set():
                break
            with self.db.session() as session:
                pub = session.get(Publication, pub_id)
                assert pub is not None
                if not self.channel_usable(session, pub.channel, now) or pub.remote_id is None:
                    continue
                channel = self.channels[pub.channel]
                state, remote_id = S(pub.state), pub.remote_id
                try:
                    probe = (
                        None
                        if isinstance(channel, ReadsPosts)
                        else self.outgoing(session, pub, with_images=False)
                    )
                except ContentChanged:
                    continue
                since = (pub.published_at or now) - FIND_MARGIN
            try:
                if isinstance(channel, ReadsPosts):
                    remote = channel.get_post(remote_id)
                else:
                    assert probe is not None
                    remote = channel.find_published(probe, since=since)
            except ChannelError as exc:
                with self._locked(pub_id) as (session, pub):
                    if not self._channel_level(session, pub, exc, now):
                        pub.next_attempt_at = now + self.backoff(1)
                continue
            with self._locked(pub_id) as (session, pub):
                if pub.state != state:
                    continue
                self._confirm_one(session, pub, remote, now, result)
        return result

    def _confirm_one(
        self,
        session: Session,
        pub: Publication,
        remote: RemotePost | None,
        now: datetime,
        result: StepResult,
    ) -> None:
        post = session.get(Post, pub.post_id)
        title = post.title if post else str(pub.post_id)
        platform = PLATFORM_NAMES.get(pub.channel, pub.channel)
        if remote is not None and remote.is_published:
            if remote.url:
                pub.remote_url = remote.url
            if pub.state == S.SCHEDULED_REMOTE:
                pub.published_at = pub.remote_scheduled_for or remote.created_time or now
            elif pub.published_at is None:
                pub.published_at = remote.created_time or now
            pub.confirmed_at = now
            pub.next_attempt_at = None
            was = pub.state
            set_state(session, pub, S.CONFIRMED, actor=self.worker, at=now)
            if was == S.SCHEDULED_REMOTE:
                log.info(
                    "Facebook đã đăng bài hẹn giờ '%s': %s", title, pub.remote_url or pub.remote_id
                )
            result.confirmed.append(pub.id)
            return
        reference = (
            pub.remote_scheduled_for if pub.state == S.SCHEDULED_REMOTE else pub.published_at
        )
        limit = SCHEDULED_LATE_LIMIT if pub.state == S.SCHEDULED_REMOTE else CONFIRM_GIVE_UP
        if remote is None and reference is not None and now - reference > limit:
            reason = (
                f"Không thấy bài '{title}' trên {platform} ({pub.remote_url or pub.remote_id}): "
                f"có thể đã bị xóa trên {platform}. Kiểm tra trang; muốn đăng lại thì chạy "
                f"'social-publisher retry'."
            )
            set_state(session, pub, S.NEEDS_ATTENTION, actor=self.worker, at=now, reason=reason)
            log.error("%s", reason)
            result.attention.append(pub.id)
            return
        pub.next_attempt_at = now + timedelta(seconds=max(5, self.settings.tick_seconds))
        if pub.state == S.SCHEDULED_REMOTE and reference is not None and now - reference > limit:
            reason = (
                f"Facebook chưa đăng bài hẹn giờ '{title}' dù đã quá giờ hẹn "
                f"{_fmt_local(reference, self.tz)}. Kiểm tra mục bài hẹn giờ của Trang."
            )
            set_state(session, pub, S.NEEDS_ATTENTION, actor=self.worker, at=now, reason=reason)
            result.attention.append(pub.id)

    # ------------------------------------------------------------ 6. Zalo broadcast

    def broadcast(self, now: datetime, *, only_post: int | None = None) -> StepResult:
        """Push a published Zalo article to followers when the post asks (``Gửi tin Zalo: có``).

        Sending is a create with no idempotency either: the state is set to
        ``sending`` and committed first, so a crash never sends it twice.
        """
        result = StepResult()
        channel = self.channels.get("zalo")
        if channel is None or not hasattr(channel, "broadcast"):
            return result
        with self.db.session() as session:
            query = (
                select(Publication.id)
                .join(PostVersion, PostVersion.id == Publication.version_id)
                .where(
                    Publication.channel == "zalo",
                    Publication.state.in_([S.PUBLISHED, S.CONFIRMED]),
                    Publication.broadcast_state.is_(None),
                    PostVersion.zalo_broadcast.is_(True),
                )
            )
            if only_post is not None:
                query = query.where(Publication.post_id == only_post)
            ids = list(session.scalars(query))
            if not ids or not self.channel_usable(session, "zalo", now):
                return result
            sent = int(
                session.scalar(
                    select(func.count(Publication.id)).where(
                        Publication.channel == "zalo",
                        Publication.broadcast_state == "sent",
                        Publication.published_at >= self._month_start(now),
                    )
                )
                or 0
            )
        for pub_id in ids:
            with self._locked(pub_id) as (session, pub):
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
                message = (
                    f"Không rõ Zalo đã nhận yêu cầu gửi tin chưa (không gửi lại): {exc.message}"
                )
            except ChannelError as exc:
                state, message = "refused", exc.message
            with self._locked(pub_id) as (session, pub):
                pub.broadcast_state = state or None
                pub.broadcast_message = message
                if not state:
                    pub.next_attempt_at = self._after_six(now)
                audit(
                    session,
                    self.worker,
                    "broadcast",
                    pub,
                    at=now,
                    state=state or "waiting",
                    message=message,
                )
            log.info("Gửi tin Zalo cho bài %s: %s", pub_id, message)
        return result

    def _month_start(self, now: datetime) -> datetime:
        return month_start(now, self.tz)

    # ------------------------------------------------------------ wake-up

    def next_wakeup(self, now: datetime) -> datetime | None:
        """The earliest moment something becomes actionable (the exact wake-up)."""
        usable = [name for name in self.channels]
        if not usable:
            return None
        candidates: list[datetime] = []
        with self.db.session() as session:
            blocked: dict[str, datetime | None] = {}
            for health in session.scalars(select(ChannelHealth)):
                if health.state in BLOCKING_HEALTH:
                    blocked[health.channel] = None
                elif health.state != "ok" and health.blocked_until and health.blocked_until > now:
                    blocked[health.channel] = health.blocked_until
                    candidates.append(health.blocked_until)
            open_channels = [c for c in usable if c not in blocked]
            if open_channels:
                queries = [
                    select(func.min(Publication.due_at)).where(
                        Publication.state == S.PENDING, Publication.due_at > now
                    ),
                    select(func.min(Publication.next_attempt_at)).where(
                        Publication.state.in_([S.PENDING, S.DUE, S.RETRY_WAIT, S.PUBLISHED]),
                        Publication.next_attempt_at > now,
                    ),
                    select(func.min(Publication.lease_until)).where(
                        Publication.state == S.PUBLISHING
                    ),
                    select(func.min(Publication.remote_scheduled_for)).where(
                        Publication.state == S.SCHEDULED_REMOTE,
                        Publication.remote_scheduled_for > now,
                    ),
                ]
                for query in queries:
                    value = session.scalar(query.where(Publication.channel.in_(open_channels)))
                    if value is not None:
                        candidates.append(value)
                candidates += settle_wakeups(session, now, self.settings)
        if not candidates:
            return None
        return max(min(candidates), now + timedelta(milliseconds=200))
