"""From the queue folder to the database: the scan cache, ``check``, and ``ingest``.

``ingest`` is what the daemon calls every pass, so it is idempotent and cheap
when nothing changed: unchanged folders are answered from the scan cache (kept
in the ``scan_cache`` table) and nothing is written for them.

What ingest records, and why:

* a new folder: a ``Post`` and its first ``PostVersion`` (audit ``post_added``,
  with the hash and the approver);
* changed content: a new ``PostVersion`` (or the earlier one with the same
  hash, when staff undo an edit), ``Post.current_version_id`` moves to it, and
  ``post_edited`` records the old and new hash (``post_withdrawn`` when the
  change is ``Trạng thái: hủy``);
* a version with errors is recorded like any other (its ``problems`` say
  why) and the post's state becomes ``error``: ``current_version`` always
  points at what is in the folder now, so ``status`` shows the real problem.
  The daemon never publishes a post in ``error`` (nor ``draft``/``held``/
  ``withdrawn``/``removed``), and a post already live is never re-posted by a
  local edit: that is the daemon's rule;
* a folder gone: ``Post.state = removed`` (audit ``post_removed``); it comes
  back as ``post_added`` with ``restored`` if the folder reappears;
* a file that cannot be read right now (an editor holds it) or a folder whose
  scan crashed changes nothing already recorded: it is tried again next pass.

The content hash covers the values that go out, including the settings
defaults applied (``DEFAULT_AUTHOR``, ``DEFAULT_SHARE_WITH``): changing those
gives every post a new version, which is the truthful record.

The overdue rule (held beyond ``OVERDUE_GRACE_HOURS``) applies when a
publishing time first appears for a publishable post; a post that was ready in
time and later became overdue (the PC was off) is the daemon's to decide. A
staff ``publish-now`` decision (``Post.override == "publish"``) is dropped when
the publishing time itself is edited: it was a decision about the old time. A
staff ``withdraw`` is never undone by an edit.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Text, delete, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ..config import Settings
from ..errors import StoreError
from ..media import check_image
from ..queue import (
    BytesImageCheck,
    CachedScan,
    CheckedPost,
    ImageCheck,
    MemoryScanCache,
    Previous,
    QueueScan,
    ScannedPost,
    ScanOptions,
    State,
    evaluate,
    evaluate_all,
    scan_queue,
)
from ..store import AuditEvent, Database, Post, PostState, PostVersion
from ..store import ScanCache as ScanCacheRow

log = logging.getLogger("social_publisher.ingest")

ACTOR = "queue"
#: ``Post.override`` value set by ``publish-now`` (services.planner uses the same string)
OVERRIDE_PUBLISH = "publish"


# ---------------------------------------------------------------- image check


def default_image_check(settings: Settings) -> tuple[ImageCheck, str]:
    """The image check the queue uses, and a name for it (part of the scan-cache signature).

    It is given the bytes the scanner read for the content hash, so a photo is read
    once per scan (and the hash and the check see the same bytes).
    """
    max_pixels = settings.media_max_pixels

    def check(path: str, data: bytes) -> object:
        return check_image(path, max_pixels=max_pixels, data=data)

    return BytesImageCheck(check), f"media.check_image:{max_pixels}"


def _check_id(check: Callable[..., object]) -> str:
    if isinstance(check, BytesImageCheck):
        return _check_id(check.check)
    if isinstance(check, functools.partial):
        inner = getattr(check.func, "__qualname__", type(check.func).__name__)
        return f"{inner}{check.args!r}{sorted(check.keywords.items())!r}"
    return str(getattr(check, "__qualname__", type(check).__qualname__))


def _resolve_check(settings: Settings, image_check: ImageCheck | None) -> tuple[ImageCheck, str]:
    if image_check is None:
        return default_image_check(settings)
    return image_check, _check_id(image_check)


def scan_options(settings: Settings, image_check_id: str) -> ScanOptions:
    share = tuple(s.strip() for s in settings.default_share_with.split(",") if s.strip())
    return ScanOptions(
        timezone=settings.timezone,
        default_author=settings.default_author or None,
        default_share_with=share,
        image_check_id=image_check_id,
    )


# ---------------------------------------------------------------- the scan cache in the DB


class DbScanCache:
    """The ``scan_cache`` table behind the queue's :class:`ScanCache` protocol.

    All rows of one queue root are read in one query and written back in one
    batch, so a warm scan of thousands of folders costs two round trips.
    """

    def __init__(self, root: Path) -> None:
        self.prefix = f"{root.as_posix()}/"
        self.entries: dict[str, CachedScan] = {}
        self.dirty: set[str] = set()
        self.deleted: set[str] = set()

    def load(self, session: Session) -> DbScanCache:
        # Core, not ORM, and the JSON left as text: the scanner decodes only what it uses.
        rows = session.connection().execute(
            select(
                ScanCacheRow.folder,
                ScanCacheRow.signature,
                ScanCacheRow.content_hash,
                type_coerce(ScanCacheRow.result, Text),
            ).where(ScanCacheRow.folder.startswith(self.prefix, autoescape=True))
        )
        for folder, signature, digest, result in rows.all():
            self.entries[folder] = CachedScan(signature, digest, result or {})
        return self

    def get(self, key: str) -> CachedScan | None:
        return self.entries.get(key)

    def put(self, key: str, entry: CachedScan) -> None:
        self.entries[key] = entry
        self.dirty.add(key)
        self.deleted.discard(key)

    def delete(self, key: str) -> None:
        if self.entries.pop(key, None) is not None:
            self.deleted.add(key)
        self.dirty.discard(key)

    def prune(self, present: Iterable[str]) -> None:
        """Forget folders of this root that are no longer in the queue."""
        for key in set(self.entries) - set(present):
            self.delete(key)

    def flush(self, session: Session, now: datetime) -> None:
        gone = sorted(self.deleted)
        for start in range(0, len(gone), 500):
            chunk = gone[start : start + 500]
            session.execute(delete(ScanCacheRow).where(ScanCacheRow.folder.in_(chunk)))
        if self.dirty:
            dialect = session.get_bind().dialect.name
            if dialect == "sqlite":
                self._flush_sqlite(session, now)
            else:
                self._flush_core(session, now, dialect)
        self.dirty.clear()
        self.deleted.clear()

    def _flush_sqlite(self, session: Session, now: datetime) -> None:
        """One executemany on the raw connection: a cold scan writes thousands of rows."""
        stamp = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # UTCDateTime's format
        rows = []
        for key in sorted(self.dirty):
            entry = self.entries[key]
            result = entry.result
            text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
            rows.append((key, entry.signature, entry.content_hash, text, stamp))
        session.connection().exec_driver_sql(
            "INSERT INTO scan_cache (folder, signature, content_hash, result, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (folder) DO UPDATE SET "
            "signature = excluded.signature, content_hash = excluded.content_hash, "
            "result = excluded.result, updated_at = excluded.updated_at",
            rows,
        )

    def _flush_core(self, session: Session, now: datetime, dialect: str) -> None:
        rows = [
            {
                "folder": key,
                "signature": self.entries[key].signature,
                "content_hash": self.entries[key].content_hash,
                "result": _as_dict(self.entries[key].result),
                "updated_at": now,
            }
            for key in sorted(self.dirty)
        ]
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(ScanCacheRow)
        statement = statement.on_conflict_do_update(
            index_elements=[ScanCacheRow.folder],
            set_={
                "signature": statement.excluded.signature,
                "content_hash": statement.excluded.content_hash,
                "result": statement.excluded.result,
                "updated_at": statement.excluded.updated_at,
            },
        )
        for start in range(0, len(rows), 500):
            session.execute(statement, rows[start : start + 500])


def _as_dict(result: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(result, str):
        loaded: dict[str, Any] = json.loads(result)
        return loaded
    return result


# ---------------------------------------------------------------- check


@dataclass
class CheckReport:
    """What ``check`` shows: every folder with its state decided now."""

    root: Path
    posts: list[CheckedPost]
    read: list[str]

    @property
    def has_errors(self) -> bool:
        return any(p.state == State.ERROR for p in self.posts)


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _previous(session: Session) -> dict[str, Previous]:
    return {
        folder: Previous(state, publish_at)
        for folder, state, publish_at in session.execute(
            select(Post.folder, Post.state, Post.publish_at)
        )
    }


def check_queue(
    db: Database | None,
    settings: Settings,
    *,
    now: datetime,
    queue_dir: Path | None = None,
    image_check: ImageCheck | None = None,
) -> CheckReport:
    """Validate every folder without touching posts; only the scan cache is written.

    With a database, the cache makes re-runs fast and the overdue rule sees
    what ingest decided before (a post ready in time stays ready). Without one
    (it could not be opened), everything is read and judged at ``now``.
    Raises :class:`~social_publisher.errors.QueueError` if the queue folder is missing.
    """
    queue_dir = queue_dir or settings.queue_dir
    check, check_id = _resolve_check(settings, image_check)
    options = scan_options(settings, check_id)
    grace = timedelta(hours=settings.overdue_grace_hours)
    if db is None:
        scan = scan_queue(queue_dir, options, cache=MemoryScanCache(), image_check=check)
        posts = evaluate_all(scan.posts, now=now, grace=grace, tz=settings.tz)
        return CheckReport(scan.root, posts, scan.read)

    cache = DbScanCache(queue_dir.resolve())
    with db.session() as session:
        cache.load(session)
        known = _previous(session) if _same_dir(queue_dir, settings.queue_dir) else {}
    scan = scan_queue(queue_dir, options, cache=cache, image_check=check)
    cache.prune(scan.keys)
    if cache.dirty or cache.deleted:
        try:
            with db.session() as session:
                cache.flush(session, now)
        except (IntegrityError, OperationalError) as exc:  # a busy DB must not fail check
            log.warning("scan cache not saved: %s", type(exc).__name__)
    posts = evaluate_all(scan.posts, now=now, grace=grace, tz=settings.tz, previous=known)
    return CheckReport(scan.root, posts, scan.read)


# ---------------------------------------------------------------- ingest


@dataclass
class IngestReport:
    """What one ingest pass found and wrote (folders by name)."""

    posts: list[CheckedPost] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: folders actually re-read from disk this pass (the rest came from the cache)
    read: list[str] = field(default_factory=list)
    #: ids of posts whose current version or state changed this pass
    changed_post_ids: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changed_post_ids)

    @property
    def errors(self) -> list[CheckedPost]:
        return [p for p in self.posts if p.state == State.ERROR]


def _version(scanned: ScannedPost) -> PostVersion:
    return PostVersion(
        content_hash=scanned.content_hash,
        source_file=(scanned.source_file or "")[:200],
        title=scanned.title,
        body=scanned.body,
        publish_at=scanned.publish_at,
        channels=list(scanned.channels),
        approved_by=scanned.approved_by,
        link=scanned.link,
        author=scanned.author[:200] if scanned.author else None,
        description=scanned.description,
        share_with=list(scanned.share_with),
        zalo_broadcast=scanned.zalo_broadcast,
        withdrawn=scanned.withdrawn,
        images=[img.as_dict() for img in scanned.images],
        cover=scanned.cover.name[:300] if scanned.cover else None,
        problems=[p.as_dict() for p in scanned.errors],
    )


def _details(scanned: ScannedPost, checked: CheckedPost, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {
        "folder": scanned.folder,
        "hash": scanned.content_hash,
        "approved_by": scanned.approved_by,
        "state": checked.state.value,
        "publish_at": scanned.publish_at.isoformat() if scanned.publish_at else None,
    }
    if scanned.errors:
        details["problems"] = len(scanned.errors)
    details.update(extra)
    return details


def _apply(
    session: Session,
    post: Post,
    scanned: ScannedPost,
    checked: CheckedPost,
    now: datetime,
) -> None:
    """Point ``post`` at the version with the scanned content (an earlier one, or a new one)."""
    version = None
    if post.id is not None:  # staff may undo an edit: reuse that version, never duplicate it
        version = session.scalars(
            select(PostVersion).where(
                PostVersion.post_id == post.id, PostVersion.content_hash == scanned.content_hash
            )
        ).one_or_none()
    if version is None:
        version = _version(scanned)
        version.post = post
    if post.publish_at != scanned.publish_at and post.override == OVERRIDE_PUBLISH:
        post.override = None  # "publish now" was decided for the old time; a withdrawal stays
    post.current_version = version
    post.title = scanned.title or post.title or scanned.folder
    post.publish_at = scanned.publish_at
    post.channels = list(scanned.channels)
    post.approved_by = scanned.approved_by
    post.state = PostState(checked.state.value).value
    post.removed_at = None
    post.updated_at = now


@dataclass(frozen=True)
class _Known:
    """What ingest needs of a post it already has, read without loading the ORM object."""

    id: int
    state: str
    publish_at: datetime | None
    current_hash: str | None


def _sync(
    session: Session,
    scan: QueueScan,
    settings: Settings,
    now: datetime,
    report: IngestReport,
) -> None:
    grace = timedelta(hours=settings.overdue_grace_hours)
    tz = settings.tz
    rows = session.execute(
        select(
            Post.folder, Post.id, Post.state, Post.publish_at, PostVersion.content_hash
        ).outerjoin(PostVersion, Post.current_version_id == PostVersion.id)
    ).all()
    known = {folder: _Known(pid, state, when, digest) for folder, pid, state, when, digest in rows}
    #: (post, event, details) for audit rows written once the new posts have ids
    events: list[tuple[Post, str, dict[str, Any]]] = []

    for scanned in scan.posts:
        seen = known.pop(scanned.folder, None)
        if seen is None:
            checked = evaluate(scanned, now=now, grace=grace, tz=tz)
            post = Post(folder=scanned.folder, first_seen_at=now)
            session.add(post)
            _apply(session, post, scanned, checked, now)
            events.append((post, "post_added", _details(scanned, checked)))
            report.added.append(scanned.folder)
            report.posts.append(checked)
            continue

        was_removed = seen.state == PostState.REMOVED
        previous = None if was_removed else Previous(seen.state, seen.publish_at)
        checked = evaluate(scanned, now=now, grace=grace, tz=tz, previous=previous)
        report.posts.append(checked)
        unchanged = seen.current_hash == scanned.content_hash
        if not was_removed and (unchanged or not scanned.cacheable):
            # nothing new, or a file locked by an editor / a crash: keep what was recorded
            continue
        post = session.get_one(Post, seen.id)
        _apply(session, post, scanned, checked, now)
        if was_removed:
            event = "post_added"
            extra: dict[str, Any] = {"restored": True, "old_hash": seen.current_hash}
            report.added.append(scanned.folder)
        elif checked.state == State.WITHDRAWN and seen.state != PostState.WITHDRAWN:
            event = "post_withdrawn"
            extra = {"old_hash": seen.current_hash, "new_hash": scanned.content_hash}
            report.withdrawn.append(scanned.folder)
        else:
            event = "post_edited"
            extra = {
                "old_hash": seen.current_hash,
                "new_hash": scanned.content_hash,
                "old_state": seen.state,
            }
            report.edited.append(scanned.folder)
        events.append((post, event, _details(scanned, checked, **extra)))

    for folder, seen in known.items():
        if seen.state == PostState.REMOVED:
            continue
        post = session.get_one(Post, seen.id)
        post.state = PostState.REMOVED.value
        post.removed_at = now
        post.updated_at = now
        details = {"folder": folder, "hash": seen.current_hash, "old_state": seen.state}
        events.append((post, "post_removed", details))
        report.removed.append(folder)

    session.flush()  # new posts and versions are inserted in batches; now they have ids
    for post, event, details in events:
        session.add(AuditEvent(at=now, actor=ACTOR, event=event, post_id=post.id, details=details))
        report.changed_post_ids.append(post.id)


def ingest(
    db: Database,
    settings: Settings,
    *,
    now: datetime,
    image_check: ImageCheck | None = None,
    queue_dir: Path | None = None,
) -> IngestReport:
    """Scan the queue and bring posts and versions in the database up to date.

    Raises :class:`~social_publisher.errors.QueueError` when the queue folder
    itself is missing (nothing is marked removed then: an unplugged drive is
    not a withdrawal). ``image_check`` defaults to ``media.check_image``.
    """
    if now.tzinfo is None:
        raise ValueError("ingest needs an aware 'now'")
    queue_dir = queue_dir or settings.queue_dir
    check, check_id = _resolve_check(settings, image_check)
    options = scan_options(settings, check_id)
    cache = DbScanCache(queue_dir.resolve())
    with db.session() as session:
        cache.load(session)
    scan = scan_queue(queue_dir, options, cache=cache, image_check=check)
    cache.prune(scan.keys)

    last: Exception | None = None
    for _attempt in range(3):  # another process may ingest the same folders at once
        report = IngestReport(read=list(scan.read))
        try:
            with db.session() as session:
                _sync(session, scan, settings, now, report)
                cache.flush(session, now)
        except (IntegrityError, OperationalError) as exc:
            last = exc
            log.info("ingest raced another writer (%s); trying again", type(exc).__name__)
            continue
        _log(report)
        return report
    raise StoreError(
        f"Không ghi được hàng đợi vào cơ sở dữ liệu ({type(last).__name__}). Thử lại sau ít phút."
    )


def _log(report: IngestReport) -> None:
    for kind, folders in (
        ("added", report.added),
        ("edited", report.edited),
        ("withdrawn", report.withdrawn),
        ("removed", report.removed),
    ):
        for folder in folders:
            log.info("queue: %s %s", kind, folder)
