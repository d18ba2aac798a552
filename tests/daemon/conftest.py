"""Fakes for the daemon tests: channels with the real interfaces, a settable clock, post rows."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from social_publisher.channels.base import OutgoingPost, RemotePost
from social_publisher.config import Settings, load_settings
from social_publisher.errors import OutcomeUnknownError, ProcessingError
from social_publisher.services.daemon import PassContext, build_context
from social_publisher.store import Database, Post, PostVersion, Publication

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 08:00 in Đức Phổ


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class Remote:
    remote_id: str
    content_hash: str
    title: str
    body: str
    images: int
    created: datetime
    scheduled_for: datetime | None = None
    published: bool = True
    deleted: bool = False


@dataclass
class FakeChannel:
    """Platform state plus a script of faults per method.

    ``script[method]`` is a list consumed one call at a time; each item is an
    exception to raise before doing anything, or ``("after", exc)`` to do the
    work (the post IS created) and then raise ``exc`` (a dropped answer).
    """

    name: str
    clock: Clock
    remotes: dict[str, Remote] = field(default_factory=dict)
    script: dict[str, list[Any]] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    counter: int = 0

    def _fault(self, method: str) -> Any:
        queue = self.script.get(method) or []
        return queue.pop(0) if queue else None

    def _run(self, method: str, work: Callable[[], Any]) -> Any:
        self.calls.append((method, None))
        fault = self._fault(method)
        if isinstance(fault, Exception):
            raise fault
        value = work()
        if isinstance(fault, tuple) and fault[0] == "after":
            raise fault[1]
        return value

    def _new(self, post: OutgoingPost, **kw: Any) -> Remote:
        self.counter += 1
        remote = Remote(
            remote_id=f"{self.name}-{self.counter}",
            content_hash=post.content_hash,
            title=post.title,
            body=post.body,
            images=len(post.images),
            created=self.clock(),
            **kw,
        )
        self.remotes[remote.remote_id] = remote
        return remote

    def _as_remote(self, r: Remote) -> RemotePost:
        return RemotePost(
            remote_id=r.remote_id,
            url=f"https://example.test/{r.remote_id}",
            created_time=r.created,
            scheduled_for=r.scheduled_for,
            is_published=r.published
            and (r.scheduled_for is None or r.scheduled_for <= self.clock()),
        )

    def live(self, content_hash: str | None = None) -> list[Remote]:
        return [
            r
            for r in self.remotes.values()
            if not r.deleted and (content_hash is None or r.content_hash == content_hash)
        ]

    # Channel protocol
    def publish(self, post: OutgoingPost) -> RemotePost:
        return self._run("publish", lambda: self._as_remote(self._new(post)))

    def find_published(
        self, post: OutgoingPost, since: datetime, *, exclude: frozenset[str] = frozenset()
    ) -> RemotePost | None:
        def work() -> RemotePost | None:
            for r in self.remotes.values():
                if (
                    not r.deleted
                    and r.remote_id not in exclude
                    and r.title == post.title
                    and r.body == post.body
                    and r.created >= since - timedelta(minutes=5)
                ):
                    return self._as_remote(r)
            return None

        return self._run("find_published", work)  # type: ignore[no-any-return]


@dataclass
class FakeFacebook(FakeChannel):
    def schedule(self, post: OutgoingPost, at: datetime) -> RemotePost:
        return self._run(
            "schedule", lambda: self._as_remote(self._new(post, scheduled_for=at, published=True))
        )

    def reschedule(self, remote_id: str, at: datetime) -> None:
        def work() -> None:
            self.remotes[remote_id].scheduled_for = at

        self._run("reschedule", work)

    def update_message(self, remote_id: str, post: OutgoingPost) -> None:
        def work() -> None:
            r = self.remotes[remote_id]
            r.title, r.body, r.content_hash = post.title, post.body, post.content_hash

        self._run("update_message", work)

    def cancel(self, remote_id: str) -> None:
        def work() -> None:
            self.remotes[remote_id].deleted = True

        self._run("cancel", work)

    def publish_scheduled_now(self, remote_id: str) -> None:
        def work() -> None:
            self.remotes[remote_id].scheduled_for = None

        self._run("publish_scheduled_now", work)

    def get_post(self, remote_id: str) -> RemotePost | None:
        def work() -> RemotePost | None:
            r = self.remotes.get(remote_id)
            return None if r is None or r.deleted else self._as_remote(r)

        return self._run("get_post", work)  # type: ignore[no-any-return]

    def in_schedule_window(self, at: datetime, now: datetime) -> bool:
        return now + timedelta(minutes=10) < at <= now + timedelta(days=30)


@dataclass
class FakeZalo(FakeChannel):
    """Two-step create; an article is listed only once processed (``process_seconds``)."""

    settle_window: float = 90.0
    process_seconds: float = 0.0
    tokens: dict[str, str] = field(default_factory=dict)

    def create_article(self, post: OutgoingPost) -> str:
        def work() -> str:
            remote = self._new(post)
            token = f"tok-{remote.remote_id}"
            self.tokens[token] = remote.remote_id
            return token

        return self._run("create_article", work)  # type: ignore[no-any-return]

    def verify_article(self, token: str) -> RemotePost:
        def work() -> RemotePost:
            remote = self.remotes[self.tokens[token]]
            if self.clock() < remote.created + timedelta(seconds=self.process_seconds):
                raise ProcessingError("processing", platform="zalo", code=-214, retry_after=3)
            return self._as_remote(remote)

        return self._run("verify_article", work)  # type: ignore[no-any-return]

    def publish(self, post: OutgoingPost) -> RemotePost:
        return self.verify_article(self.create_article(post))

    def find_published(
        self, post: OutgoingPost, since: datetime, *, exclude: frozenset[str] = frozenset()
    ) -> RemotePost | None:
        def work() -> RemotePost | None:
            for r in self.remotes.values():
                processed = self.clock() >= r.created + timedelta(seconds=self.process_seconds)
                if (
                    not r.deleted
                    and processed
                    and r.remote_id not in exclude
                    and r.title == post.title
                    and r.created >= since - timedelta(minutes=5)
                ):
                    return self._as_remote(r)
            if (self.clock() - since).total_seconds() < self.settle_window:
                raise ProcessingError("not settled", platform="zalo", retry_after=5)
            return None

        return self._run("find_published", work)  # type: ignore[no-any-return]


def unknown(platform: str = "facebook") -> OutcomeUnknownError:
    return OutcomeUnknownError("Không rõ kết quả (mạng): ReadTimeout", platform=platform)


@pytest.fixture
def daemon_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "RETRY_BASE_SECONDS": "60", "RETRY_MAX_SECONDS": "3600", "TICK_SECONDS": "30"}


@pytest.fixture
def dsettings(daemon_env: dict[str, str]) -> Settings:
    return load_settings(daemon_env, dotenv_path=None)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fb(clock: Clock) -> FakeFacebook:
    return FakeFacebook("facebook", clock)


@pytest.fixture
def zalo(clock: Clock) -> FakeZalo:
    return FakeZalo("zalo", clock)


@pytest.fixture
def make_ctx(
    db: Database, dsettings: Settings, clock: Clock, fb: FakeFacebook, zalo: FakeZalo
) -> Iterator[Callable[..., PassContext]]:
    def make(worker: str = "w1", channels: dict[str, Any] | None = None, **kw: Any) -> PassContext:
        return build_context(
            dsettings,
            db,
            clock=clock,
            channels=channels if channels is not None else {"facebook": fb, "zalo": zalo},
            ingest=False,
            render=kw.pop("render", False),
            worker=worker,
            rng=random.Random(7),
            **kw,
        )

    yield make


def add_post(
    db: Database,
    folder: str,
    *,
    publish_at: datetime,
    channels: tuple[str, ...] = ("facebook", "zalo"),
    title: str | None = None,
    body: str = "Nội dung bài viết về chuyển đổi số.",
    approved_by: str | None = "Võ Thanh Hùng",
    state: str = "ready",
    images: list[dict[str, Any]] | None = None,
    withdrawn: bool = False,
) -> int:
    """Insert (or add a new version of) a post the way ingest would."""
    title = title or f"Bài {folder}"
    digest = hashlib.sha256(
        repr((title, body, publish_at, channels, approved_by, images, withdrawn)).encode()
    ).hexdigest()
    with db.session() as s:
        post = s.scalars(select(Post).where(Post.folder == folder)).first()
        if post is None:
            post = Post(folder=folder, title=title, first_seen_at=T0)
            s.add(post)
            s.flush()
        version = s.scalars(
            select(PostVersion).where(
                PostVersion.post_id == post.id, PostVersion.content_hash == digest
            )
        ).first()
        if version is None:
            version = PostVersion(
                post_id=post.id,
                content_hash=digest,
                source_file="bai-viet.txt",
                title=title,
                body=body,
                publish_at=publish_at,
                channels=list(channels),
                approved_by=approved_by,
                images=images or [],
                withdrawn=withdrawn,
            )
            s.add(version)
            s.flush()
        post.current_version_id = version.id
        post.state = state
        post.title = title
        post.publish_at = publish_at
        post.channels = list(channels)
        post.approved_by = approved_by
        return post.id


def pubs(db: Database, post_id: int | None = None) -> dict[str, Publication]:
    with db.session() as s:
        q = select(Publication)
        if post_id is not None:
            q = q.where(Publication.post_id == post_id)
        return {
            p.channel if post_id is not None else f"{p.post_id}:{p.channel}": p
            for p in s.scalars(q)
        }


def write_image(path: Path, seed: int = 0, size: tuple[int, int] = (640, 480)) -> dict[str, Any]:
    from PIL import Image

    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256))).save(
        path, "JPEG"
    )
    data = path.read_bytes()
    return {"name": path.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
