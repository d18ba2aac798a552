"""The database: the single source of truth for every post's state.

Typed SQLAlchemy 2.x models. Times are stored as naive UTC and come back
timezone-aware (UTC) through :class:`UTCDateTime`, the same on SQLite and
PostgreSQL. Schema changes go through Alembic (``store/migrations``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from ..states import HealthState, PostState, PubState
from .tenancy import UnitOwned


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; naive UTC on disk."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it as a plain dict)
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Post(UnitOwned, Base):
    """One folder of the queue, across all its versions."""

    __tablename__ = "posts"
    __table_args__ = (UniqueConstraint("unit_id", "folder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    folder: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(20), default=PostState.READY.value)
    title: Mapped[str] = mapped_column(Text, default="")
    publish_at: Mapped[datetime | None]
    channels: Mapped[list[Any]] = mapped_column(default=list)
    approved_by: Mapped[str | None] = mapped_column(String(200))
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("post_versions.id", use_alter=True, ondelete="SET NULL")
    )
    #: staff decision on an overdue post: "publish" (publish-now) or None
    override: Mapped[str | None] = mapped_column(String(20))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    removed_at: Mapped[datetime | None]
    #: when ingest last saw the folder's content change (or found it locked by an editor);
    #: a post goes out only once this is QUEUE_SETTLE_SECONDS old (None: settled)
    folder_changed_at: Mapped[datetime | None]

    versions: Mapped[list[PostVersion]] = relationship(
        back_populates="post", foreign_keys="PostVersion.post_id", order_by="PostVersion.id"
    )
    current_version: Mapped[PostVersion | None] = relationship(
        foreign_keys=[current_version_id], post_update=True
    )
    publications: Mapped[list[Publication]] = relationship(back_populates="post")


class PostVersion(UnitOwned, Base):
    """One content hash of a post, exactly as read from the queue; never updated."""

    __tablename__ = "post_versions"
    __table_args__ = (UniqueConstraint("post_id", "content_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    source_file: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    publish_at: Mapped[datetime | None]
    channels: Mapped[list[Any]] = mapped_column(default=list)
    approved_by: Mapped[str | None] = mapped_column(String(200))
    link: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    share_with: Mapped[list[Any]] = mapped_column(default=list)
    zalo_broadcast: Mapped[bool] = mapped_column(Boolean, default=False)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    #: [{"name": "anh-1.jpg", "sha256": "...", "bytes": 123}] in publishing order
    images: Mapped[list[Any]] = mapped_column(default=list)
    cover: Mapped[str | None] = mapped_column(String(300))
    #: the post's one video (``queue.scanner.VideoRef.as_dict``); None: no video
    video: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    #: [{"file", "line", "message"}] found when it was read; empty when valid
    problems: Mapped[list[Any]] = mapped_column(default=list)

    post: Mapped[Post] = relationship(back_populates="versions", foreign_keys=[post_id])


class Publication(UnitOwned, Base):
    """A post on one channel: the unit the daemon claims, publishes and confirms."""

    __tablename__ = "publications"
    __table_args__ = (
        UniqueConstraint("post_id", "channel"),
        Index("ix_publications_state_due", "state", "next_attempt_at"),
        Index("ix_publications_claimed_by", "claimed_by"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), default=PubState.PENDING.value)
    #: the version this publication is (or was) about to publish / has published
    version_id: Mapped[int | None] = mapped_column(ForeignKey("post_versions.id"))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(200))
    due_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    remote_id: Mapped[str | None] = mapped_column(String(200))
    remote_url: Mapped[str | None] = mapped_column(Text)
    remote_scheduled_for: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_kind: Mapped[str | None] = mapped_column(String(30))
    attention_reason: Mapped[str | None] = mapped_column(Text)
    #: worker id holding the claim, and until when (leases expire after a crash)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    #: Zalo broadcast: None (not asked), "sent", "refused", "skipped"
    broadcast_state: Mapped[str | None] = mapped_column(String(20))
    broadcast_message: Mapped[str | None] = mapped_column(Text)
    next_collect_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    post: Mapped[Post] = relationship(back_populates="publications")
    version: Mapped[PostVersion | None] = relationship()
    attempts: Mapped[list[Attempt]] = relationship(
        back_populates="publication", order_by="Attempt.id"
    )
    snapshots: Mapped[list[EngagementSnapshot]] = relationship(back_populates="publication")


class Attempt(UnitOwned, Base):
    """One call that creates or changes something on a platform.

    Committed *before* the call (``outcome`` NULL) and completed after it, so a
    crash in between leaves evidence that reconciliation reads.
    """

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE"), index=True
    )
    #: create | schedule | reschedule | cancel | publish_now | update | verify | reconcile
    action: Mapped[str] = mapped_column(String(30))
    worker: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    #: NULL while in flight; ok | failed | unknown | adopted | not_found
    outcome: Mapped[str | None] = mapped_column(String(20))
    remote_id: Mapped[str | None] = mapped_column(String(200))
    http_status: Mapped[int | None]
    error_kind: Mapped[str | None] = mapped_column(String(30))
    error_code: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    publication: Mapped[Publication] = relationship(back_populates="attempts")


class EngagementSnapshot(UnitOwned, Base):
    """What a publication's counters were at one moment; a month's figure is the last one in it."""

    __tablename__ = "engagement_snapshots"
    __table_args__ = (Index("ix_snapshots_pub_taken", "publication_id", "taken_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id", ondelete="CASCADE"))
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)
    reactions: Mapped[int | None]
    comments: Mapped[int | None]
    shares: Mapped[int | None]
    views: Mapped[int | None]
    reach: Mapped[int | None]
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)

    publication: Mapped[Publication] = relationship(back_populates="snapshots")


class Agency(UnitOwned, Base):
    """A unit expected to re-share posts; loaded from ``agencies.csv`` (data, not code)."""

    __tablename__ = "agencies"

    unit_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    group: Mapped[str] = mapped_column(String(100), index=True)
    fb_page_id: Mapped[str | None] = mapped_column(String(100))
    fb_page_url: Mapped[str | None] = mapped_column(Text)
    zalo_oa_id: Mapped[str | None] = mapped_column(String(100))
    #: name of the environment setting holding this page's token, if it granted one
    token_setting: Mapped[str | None] = mapped_column(String(100))
    #: which app issued that token: ``chung`` (our app: send our appsecret_proof) or
    #: ``rieng``/None (the agency's own app: never our proof)
    token_app: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Share(UnitOwned, Base):
    """An agency's re-share of one publication, found in its feed or recorded by hand."""

    __tablename__ = "shares"
    __table_args__ = (
        UniqueConstraint("publication_id", "agency_id"),
        ForeignKeyConstraint(
            ["unit_id", "agency_id"], ["agencies.unit_id", "agencies.id"], ondelete="CASCADE"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE"), index=True
    )
    agency_id: Mapped[str] = mapped_column(String(100))
    url: Mapped[str | None] = mapped_column(Text)
    remote_id: Mapped[str | None] = mapped_column(String(200))
    shared_at: Mapped[datetime | None]
    #: feed | manual
    source: Mapped[str] = mapped_column(String(20))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlatformToken(UnitOwned, Base):
    """The current token pair of a platform account (Zalo rotates it at every refresh)."""

    __tablename__ = "platform_tokens"

    def __repr__(self) -> str:  # never show the tokens
        return f"<PlatformToken {self.platform}:{self.account} gen={self.generation}>"

    __table_args__ = (UniqueConstraint("unit_id", "platform", "account"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    account: Mapped[str] = mapped_column(String(100))
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str | None] = mapped_column(Text)
    access_expires_at: Mapped[datetime | None]
    refresh_issued_at: Mapped[datetime | None]
    generation: Mapped[int] = mapped_column(Integer, default=1)
    #: set while a refresh is in flight (crash evidence), cleared on commit of the new pair
    refresh_started_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChannelHealth(UnitOwned, Base):
    """Whether a channel may be called now (auth failure, rate limit, quota) and why."""

    __tablename__ = "channel_health"

    unit_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    #: a :class:`~social_publisher.states.HealthState`
    state: Mapped[str] = mapped_column(String(20), default=HealthState.OK.value)
    blocked_until: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Meta(UnitOwned, Base):
    """Small facts learnt at run time (e.g. which insight metrics a Page answers)."""

    __tablename__ = "meta"

    #: ``store.tenancy.INSTALL`` ("") for the install's own facts
    unit_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AuditEvent(UnitOwned, Base):
    """Who did what, when: approvals, edits (old/new hash), transitions, staff actions."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(50))
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("posts.id", ondelete="SET NULL"), index=True
    )
    publication_id: Mapped[int | None] = mapped_column(
        ForeignKey("publications.id", ondelete="SET NULL")
    )
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ScanCache(UnitOwned, Base):
    """Per-folder signature (file sizes + mtimes) so an unchanged folder is not re-read."""

    __tablename__ = "scan_cache"

    folder: Mapped[str] = mapped_column(String(500), primary_key=True)
    signature: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebAccount(Base):
    """A log-in of the staff web console (``social-publisher web user add``).

    ``role`` is ``staff``, ``approver`` or ``admin``. ``unit`` is the unit the account works
    for (a ward's staff: the console shows and acts on that unit only); NULL means every unit
    of the install (a province account). The calendar feed secret is kept only as
    its sha256, so the database never holds a usable feed URL.
    """

    __tablename__ = "web_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(300))
    #: bumped by every password change: older sessions of the account stop working
    session_epoch: Mapped[int] = mapped_column(Integer, default=1)
    feed_secret_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    unit: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None]


class Approval(UnitOwned, Base):
    """An approval given in the web console: who, when, and of exactly which content.

    Active while ``voided_at`` is NULL. A change of the post's content voids it (the
    post goes back to waiting); so does the approver taking it back. Names are copied,
    not referenced, so the record outlives the account.
    """

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_post_active", "post_id", "voided_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    version_id: Mapped[int | None] = mapped_column(
        ForeignKey("post_versions.id", ondelete="SET NULL")
    )
    content_hash: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(100))
    approver_name: Mapped[str] = mapped_column(String(200))
    approved_at: Mapped[datetime] = mapped_column(default=utcnow)
    voided_at: Mapped[datetime | None]
    #: ``edited`` (the content changed), ``revoked`` (taken back), ``removed`` (folder gone)
    void_reason: Mapped[str | None] = mapped_column(String(30))
    void_message: Mapped[str | None] = mapped_column(Text)


class ConsoleWrite(UnitOwned, Base):
    """A post folder written or edited in the web console, and by whom.

    Kept by folder and content hash as well as by post, so the rule "nobody approves a
    post they wrote" holds even before ingest has recorded the post.
    """

    __tablename__ = "console_writes"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    account: Mapped[str] = mapped_column(String(100), index=True)
    folder: Mapped[str] = mapped_column(String(500), index=True)
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("posts.id", ondelete="SET NULL"), index=True
    )
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    #: ``create`` | ``edit``
    action: Mapped[str] = mapped_column(String(20))


class Worker(Base):
    """A daemon process, registered for its life (``store.workers``).

    On PostgreSQL it also holds a session-level advisory lock keyed on ``id`` while it
    lives: a free lock is a dead worker, whose claims are taken over at once.
    """

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the id its claims carry (``publications.claimed_by``)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: set by a graceful stop (or a worker that left this identity after a lost connection)
    stopped_at: Mapped[datetime | None]
