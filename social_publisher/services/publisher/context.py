"""What every publishing step shares: the worker's context, the one claim loop, the results."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...channels.base import Channel
from ...config import Settings
from ...errors import SocialPublisherError, redact
from ...states import BLOCKING_HEALTH, HealthState
from ...states import PubState as S
from ...store import ChannelHealth, Database, Post, Publication
from ...store.lifecycle import claim
from ...store.tenancy import unit_key
from ..planner import Disposition, disposition
from .outgoing import OutgoingBuilder, RenderFn

T = TypeVar("T")


@dataclass
class StepResult:
    """The publication ids each step moved, by what happened to them."""

    published: list[int] = field(default_factory=list)
    scheduled: list[int] = field(default_factory=list)
    confirmed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    adopted: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    attention: list[int] = field(default_factory=list)
    remote_updates: int = 0
    #: the step stopped at its limit with work perhaps left (``publish_due(limit=...)``)
    more: bool = False

    def merge(self, other: StepResult) -> None:
        for item in fields(self):
            mine = getattr(self, item.name)
            if isinstance(mine, list):
                mine.extend(getattr(other, item.name))
        self.remote_updates += other.remote_updates
        self.more = self.more or other.more

    def note(self, pub: Publication) -> None:
        """Count a publication a failure left waiting for a retry or for staff."""
        if pub.state == S.RETRY_WAIT:
            self.retrying.append(pub.id)
        elif pub.state == S.NEEDS_ATTENTION:
            self.attention.append(pub.id)


def fmt_local(at: datetime | None, tz: ZoneInfo) -> str:
    if at is None:
        return "?"
    return at.astimezone(tz).strftime("%H:%M:%S %d/%m/%Y")


def error_kind(exc: BaseException) -> str:
    return getattr(exc, "kind", type(exc).__name__)


def error_text(exc: BaseException) -> str:
    if isinstance(exc, SocialPublisherError):
        return exc.message
    return redact(f"{type(exc).__name__}: {exc}")


class Candidate:
    """A publication the loop loaded, with its post and verdict read only when asked."""

    def __init__(self, session: Session, pub: Publication) -> None:
        self.session = session
        self.pub = pub

    @cached_property
    def post(self) -> Post:
        post = self.session.get(Post, self.pub.post_id)
        assert post is not None
        return post

    @cached_property
    def verdict(self) -> Disposition:
        """What the post says of this publication now (the planner's one rule)."""
        return disposition(self.post, self.post.current_version, self.pub.channel)


class PublishContext:
    """One worker's view: database, settings, channels, clock, and the shared loop."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        channels: Mapping[str, Channel],
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
        #: the workers found gone that still hold claims (``services.cluster`` sets it)
        self.liveness: Callable[[], Collection[str]] | None = None
        #: set while this worker is cut off from the database: claim nothing new
        self.fenced = threading.Event()
        #: set when a dead worker's claims appeared: other steps end early, so the next
        #: pass (woken at once) reconciles them instead of after a long publishing loop
        self.takeover_due = threading.Event()
        #: publication id -> lease, for the claims whose platform call runs now (renewed
        #: by the heartbeat while a long call runs)
        self.in_flight: dict[int, datetime] = {}

    def now(self) -> datetime:
        return self.clock()

    def dead_workers(self) -> Collection[str]:
        """Workers the registry found gone whose claims may be taken now (none: leases only)."""
        return self.liveness() if self.liveness is not None else ()

    @property
    def builder(self) -> OutgoingBuilder:
        return OutgoingBuilder(self.settings, self.render, self.clock)

    def backoff(self, failures: int) -> timedelta:
        """Exponential backoff with jitter: base·2^(n-1), capped, then 50–100 % of it."""
        base = float(self.settings.retry_base_seconds)
        cap = float(self.settings.retry_max_seconds)
        delay = min(cap, base * (2 ** max(0, failures - 1)))
        return timedelta(seconds=delay / 2 + self.rng.random() * delay / 2)

    def channel_usable(self, session: Session, channel: str, now: datetime) -> bool:
        if channel not in self.channels:
            return False
        health = session.get(ChannelHealth, unit_key(session, channel))
        if health is None or health.state == HealthState.OK:
            return True
        if health.state in BLOCKING_HEALTH:
            return False
        return health.blocked_until is None or health.blocked_until <= now

    @contextmanager
    def locked(self, pub_id: int) -> Iterator[tuple[Session, Publication]]:
        """The publication, freshly read, in a transaction committed on exit."""
        with self.db.session() as session:
            pub = session.get(Publication, pub_id, populate_existing=True)
            assert pub is not None
            yield session, pub

    def ids(self, session: Session, *conditions: Any, only_post: int | None = None) -> list[int]:
        query = select(Publication.id).where(*conditions)
        if only_post is not None:
            query = query.where(Publication.post_id == only_post)
        return list(session.scalars(query.order_by(Publication.due_at, Publication.id)))

    def candidates(
        self,
        now: datetime,
        conditions: Sequence[Any],
        pick: Callable[[Candidate], T | None],
        *,
        only_post: int | None = None,
        claim_from: Sequence[S] = (),
        to: S | None = S.PUBLISHING,
        take_over: bool = False,
        after_claim: Callable[[Candidate], bool] | None = None,
    ) -> Iterator[tuple[int, T]]:
        """The one loop of every step: publications matching ``conditions``, one at a time.

        For each (until a stop is asked): load it, skip it when its channel is off or
        blocked, let ``pick`` decide (None: skip; anything else is handed on), claim it
        from ``claim_from`` to ``to`` when asked (another worker's: skip), let
        ``after_claim`` act inside the claim's transaction, then yield it *after* that
        transaction is committed, so the platform call happens with the claim held.
        """
        with self.db.session() as session:
            pub_ids = self.ids(session, *conditions, only_post=only_post)
        dead = self.dead_workers() if claim_from else ()
        for pub_id in pub_ids:
            if self.stop.is_set() or self.fenced.is_set():
                break
            if self.takeover_due.is_set() and not take_over:
                break
            with self.db.session() as session:
                pub = session.get(Publication, pub_id)
                if pub is None or not self.channel_usable(session, pub.channel, now):
                    continue
                candidate = Candidate(session, pub)
                picked = pick(candidate)
                if picked is None:
                    continue
                if claim_from and not claim(
                    session,
                    pub,
                    from_=claim_from,
                    to=to,
                    worker=self.worker,
                    now=now,
                    lease=self.lease,
                    take_over=take_over and self.exclusive,
                    dead=dead,
                ):
                    continue
                if after_claim is not None and not after_claim(candidate):
                    continue
                lease = pub.lease_until if claim_from else None
            if lease is None:
                yield pub_id, picked
                continue
            self.in_flight[pub_id] = lease
            try:
                yield pub_id, picked
            finally:
                self.in_flight.pop(pub_id, None)
