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
* a folder gone: the post becomes ``removed`` (audit ``post_removed``); it comes
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
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, true, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ..config import Settings
from ..errors import Problem, QueueError, StoreError
from ..media import check_image
from ..queue import (
    BytesImageCheck,
    CheckedPost,
    ImageCheck,
    MemoryScanCache,
    Previous,
    ScannedPost,
    ScanOptions,
    evaluate,
    evaluate_all,
    header_approver,
    list_queue,
    scan_queue,
)
from ..queue.share_list import ShareDirectory, depends_on_agencies
from ..states import GONE_OUT, OPEN_STATES, PostState, PubState, post_progress
from ..store import AuditEvent, Database, Post, PostVersion, Publication
from ..store.bulk import (
    IN_BATCH,
    point_posts_at_versions,
)
from ..store.db import describe_db_error
from ..store.lifecycle import transition
from ..store.tenancy import unit_of
from .agencies import DirectoryLoad, share_directory
from .approvals import (
    VOID_EDITED,
    ActiveApproval,
    active_by_folder,
    active_by_post,
    edited_message,
    void,
)
from .scan_cache import DbScanCache
from .settle import settle_notes

log = logging.getLogger("social_publisher.ingest")

ACTOR = "queue"
_IN_BATCH = IN_BATCH
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

    from .video_media import video_check

    limits = f"{settings.video_max_seconds}:{settings.video_max_mb}:{settings.zalo_video_max_mb}"
    return (
        BytesImageCheck(check, video=video_check(settings)),
        f"media.check_image:{max_pixels}:video:{limits}",
    )


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


def scan_options(
    settings: Settings, image_check_id: str, agencies: ShareDirectory | None = None
) -> ScanOptions:
    share = tuple(s.strip() for s in settings.default_share_with.split(",") if s.strip())
    if agencies is not None:  # DEFAULT_SHARE_WITH may name agencies as staff write them too
        share = agencies.read(share).entries
    return ScanOptions(
        timezone=settings.timezone,
        default_author=settings.default_author or None,
        default_share_with=share,
        image_check_id=image_check_id,
        approvers=settings.approvers,
        approval_mode=settings.approval_mode,
        agencies=agencies,
    )


def share_notes(
    settings: Settings, loaded: DirectoryLoad, posts: Sequence[ScannedPost]
) -> list[Problem]:
    """What ``check`` says once about ``Chia sẻ`` beyond each post: an agencies file that
    could not be read (when some post needed it), and a DEFAULT_SHARE_WITH it does not know."""
    shown = str(settings.agencies_file)
    default = [s.strip() for s in settings.default_share_with.split(",") if s.strip()]
    if loaded.directory is not None:
        return [
            Problem("DEFAULT_SHARE_WITH", f"Cấu hình DEFAULT_SHARE_WITH: {problem}")
            for problem in loaded.directory.read(default).problems
        ]
    unchecked = [p.folder for p in posts if depends_on_agencies(p.share_with)]
    if not unchecked:
        return []
    names = ", ".join(unchecked[:5]) + (
        f" và {len(unchecked) - 5} bài khác" if len(unchecked) > 5 else ""
    )
    fix = (
        "Chạy 'social-publisher init' để tạo tệp mẫu, hoặc sửa AGENCIES_FILE trong tệp .env."
        if not loaded.problems
        else "Sửa các lỗi của tệp được liệt kê dưới đây."
    )
    note = Problem(
        shown,
        f"Mục Chia sẻ của {len(unchecked)} bài chưa được kiểm tra ({names}) vì "
        f"{loaded.failure}. {fix}",
    )
    return [note, *loaded.problems]


# ---------------------------------------------------------------- check


@dataclass
class CheckReport:
    """What ``check`` shows: every folder with its state decided now."""

    root: Path
    posts: list[CheckedPost]
    read: list[str]
    #: processes that read the folders (see ``queue.scan_queue``)
    workers: int = 1
    #: warnings about the whole queue rather than one post (an unreadable agencies file)
    notes: list[Problem] = field(default_factory=list)
    #: folder -> how far the post went, as the database knows (``states.post_progress``)
    progress: dict[str, str] = field(default_factory=dict)

    @property
    def has_errors(self) -> bool:
        return any(p.state == PostState.ERROR for p in self.posts)


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


def _progress(session: Session) -> dict[str, str]:
    """Each post's progress from its publications (only the posts that have one)."""
    from .planner import OVERRIDE_WITHDRAW

    found: dict[str, tuple[list[str], str | None]] = {}
    rows = session.execute(
        select(Post.folder, Post.override, Publication.state).join(
            Publication, Publication.post_id == Post.id
        )
    )
    for folder, override, state in rows:
        found.setdefault(folder, ([], override))[0].append(state)
    out = {}
    for folder, (states, override) in found.items():
        progress = post_progress(
            states,
            publish_now=override == OVERRIDE_PUBLISH,
            withdrawn_by_staff=override == OVERRIDE_WITHDRAW,
        )
        if progress is not None:
            out[folder] = progress
    return out


def _gone_out(post: CheckedPost) -> CheckedPost:
    """A post that went out (or is going): the folder's timing advice ("overdue: run
    publish-now", "will be published at once") no longer holds."""
    return CheckedPost(post.post, post.state, ())


def check_queue(
    db: Database | None,
    settings: Settings,
    *,
    now: datetime,
    queue_dir: Path | None = None,
    image_check: ImageCheck | None = None,
) -> CheckReport:
    """Validate every folder without touching posts; only the scan cache is written.

    With a database, the cache makes re-runs fast, the overdue rule sees what
    ingest decided before (a post ready in time stays ready), and a post already
    live (or scheduled on Facebook) is shown as such, never told to publish-now.
    Without one (it could not be opened), everything is read and judged at ``now``.
    Raises :class:`~social_publisher.errors.QueueError` if the queue folder is missing.
    """
    queue_dir = queue_dir or settings.queue_dir
    check, check_id = _resolve_check(settings, image_check)
    agencies = share_directory(settings)
    options = scan_options(settings, check_id, agencies.directory)
    grace = timedelta(hours=settings.overdue_grace_hours)
    if db is None:
        scan = scan_queue(queue_dir, options, cache=MemoryScanCache(), image_check=check)
        posts = evaluate_all(scan.posts, now=now, grace=grace, tz=settings.tz)
        notes = share_notes(settings, agencies, scan.posts)
        return CheckReport(scan.root, posts, scan.read, scan.workers, notes)

    cache = DbScanCache(queue_dir.resolve())
    with db.session() as session:
        cache.load(session)
        same = _same_dir(queue_dir, settings.queue_dir)
        known = _previous(session) if same else {}
        progress = _progress(session) if same else {}
        console = active_by_folder(session) if same else {}
    cache.write_during_scan(db, now)
    try:
        scan = scan_queue(queue_dir, options, cache=cache, image_check=check)
    finally:
        cache.stop_writing()
    cache.prune(scan.keys)
    if cache.dirty or cache.deleted:
        try:
            with db.session() as session:
                cache.flush(session, now)
            cache.saved()
        except (IntegrityError, OperationalError) as exc:  # a busy DB must not fail check
            log.warning("scan cache not saved: %s", type(exc).__name__)
    posts = evaluate_all(
        scan.posts,
        now=now,
        grace=grace,
        tz=settings.tz,
        previous=known,
        approver=functools.partial(_approver_of, options=options, console=console),
    )
    if known:
        posts = settle_notes(db, settings, posts, now)
    posts = [_gone_out(p) if progress.get(p.folder) in GONE_OUT else p for p in posts]
    notes = share_notes(settings, agencies, scan.posts)
    return CheckReport(scan.root, posts, scan.read, scan.workers, notes, progress)


def check_folder(
    db: Database, settings: Settings, folder: str, *, now: datetime
) -> CheckedPost | None:
    """``check`` for one folder of the queue (the web console's post page), judged as
    ``check`` judges it; None when the folder is not there. The scan cache makes an
    unchanged folder a few stat calls; nothing is written."""
    queue_dir = settings.queue_dir
    if folder.startswith((".", "~")) or "/" in folder or "\\" in folder:
        return None
    if not (queue_dir / folder).is_dir():
        return None
    check, check_id = _resolve_check(settings, None)
    options = scan_options(settings, check_id, share_directory(settings).directory)
    cache = DbScanCache(queue_dir.resolve())
    with db.session() as session:
        cache.load(session, [cache.prefix + folder])
        row = session.execute(
            select(Post.state, Post.publish_at).where(Post.folder == folder)
        ).first()
        console = {
            name: approval for name, approval in active_by_folder(session).items() if name == folder
        }
    scan = scan_queue(queue_dir, options, cache=cache, image_check=check, names=[folder])
    if not scan.posts:
        return None
    [scanned] = scan.posts
    previous = Previous(row[0], row[1]) if row is not None else None
    return evaluate(
        scanned,
        now=now,
        grace=timedelta(hours=settings.overdue_grace_hours),
        tz=settings.tz,
        previous=previous,
        approver=_approver_of(scanned, options=options, console=console),
    )


def _approver_of(
    scanned: ScannedPost, *, options: ScanOptions, console: dict[str, ActiveApproval]
) -> str | None:
    """Who approved this content: the console's approval of this exact hash, else the
    header when APPROVAL_MODE lets it count."""
    approval = console.get(scanned.folder)
    if approval is not None and approval.content_hash == scanned.content_hash:
        return approval.approver_name
    return header_approver(scanned, options)


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
        return [p for p in self.posts if p.state == PostState.ERROR]

    def merge(self, other: IngestReport, read: Iterable[str] = ()) -> None:
        """Add what one part of the pass found (ingest works in parts)."""
        self.posts += other.posts
        self.added += other.added
        self.edited += other.edited
        self.withdrawn += other.withdrawn
        self.removed += other.removed
        self.read += other.read
        self.read.extend(read)
        self.changed_post_ids += other.changed_post_ids


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
        video=scanned.video.as_dict() if scanned.video is not None else None,
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


def _fields(
    post: Post, scanned: ScannedPost, checked: CheckedPost, now: datetime, approver: str | None
) -> None:
    """Bring the post's own columns up to the scanned content (its version is set apart).

    ``approved_by`` is who approved this content as it counts (a console approval, or the
    header under APPROVAL_MODE): the planner publishes nothing without it."""
    if post.publish_at != scanned.publish_at and post.override == OVERRIDE_PUBLISH:
        post.override = None  # "publish now" was decided for the old time; a withdrawal stays
    post.title = scanned.title or post.title or scanned.folder
    post.publish_at = scanned.publish_at
    post.channels = list(scanned.channels)
    post.approved_by = approver
    post.removed_at = None
    post.updated_at = now
    post.folder_changed_at = now  # the settle time starts again (services.settle)


@dataclass(frozen=True)
class _Known:
    """What ingest needs of a post it already has, read without loading the ORM object."""

    id: int
    state: str
    publish_at: datetime | None
    current_hash: str | None
    approved_by: str | None


@dataclass(frozen=True)
class _Change:
    """A post whose content moved this pass, with its audit event."""

    post: Post
    scanned: ScannedPost
    checked: CheckedPost
    event: str
    extra: dict[str, Any]
    #: False for a post first seen now (it has no earlier version to go back to)
    known: bool = True


def _known(session: Session, folders: Sequence[str]) -> dict[str, _Known]:
    known: dict[str, _Known] = {}
    # Core: columns only, no ORM bookkeeping, and so no unit filter of its own either
    connection = session.connection()
    unit = unit_of(session)
    mine = Post.unit_id == unit if unit is not None else true()
    for start in range(0, len(folders), _IN_BATCH):
        rows = connection.execute(
            select(
                Post.folder,
                Post.id,
                Post.state,
                Post.publish_at,
                PostVersion.content_hash,
                Post.approved_by,
            )
            .outerjoin(PostVersion, Post.current_version_id == PostVersion.id)
            .where(mine, Post.folder.in_(folders[start : start + _IN_BATCH]))
        )
        for folder, pid, state, when, digest, approver in rows:
            known[folder] = _Known(pid, state, when, digest, approver)
    return known


def _sync(
    session: Session,
    posts: Sequence[ScannedPost],
    now: datetime,
    grace: timedelta,
    tz: ZoneInfo,
    report: IngestReport,
    options: ScanOptions,
) -> None:
    """Record one part of the queue: new posts, and posts whose content changed.

    A post whose content is unchanged is also recorded when who approved it changed (an
    approval given or taken back in the console, APPROVAL_MODE changed): ``approval_changed``.
    A console approval of another content than the folder's is voided here.
    """
    known = _known(session, [scanned.folder for scanned in posts])
    console = active_by_post(session, [seen.id for seen in known.values()])
    changes: list[_Change] = []
    for scanned in posts:
        seen = known.get(scanned.folder)
        if seen is None:
            approver = header_approver(scanned, options)
            checked = evaluate(scanned, now=now, grace=grace, tz=tz, approver=approver)
            post = Post(folder=scanned.folder, first_seen_at=now)
            _fields(post, scanned, checked, now, approver)
            session.add(post)
            # a new row's first state, heard by listeners (an overdue post's alert)
            transition(session, post, checked.state, actor=ACTOR, at=now, record=False)
            changes.append(_Change(post, scanned, checked, "post_added", {}, known=False))
            report.added.append(scanned.folder)
            report.posts.append(checked)
            continue

        approval = console.get(seen.id)
        if approval is not None and approval.content_hash != scanned.content_hash:
            if scanned.cacheable:
                void(
                    session, approval.id, reason=VOID_EDITED, message=edited_message(approval, tz),
                    actor=ACTOR, now=now, new_hash=scanned.content_hash,
                )  # fmt: skip
            approval = None
        approver = approval.approver_name if approval else header_approver(scanned, options)
        was_removed = seen.state == PostState.REMOVED
        previous = None if was_removed else Previous(seen.state, seen.publish_at)
        checked = evaluate(
            scanned, now=now, grace=grace, tz=tz, previous=previous, approver=approver
        )
        report.posts.append(checked)
        unchanged = seen.current_hash == scanned.content_hash
        if not was_removed and (
            (unchanged and seen.approved_by == approver) or not scanned.cacheable
        ):
            # nothing new, or a file locked by an editor / a crash: keep what was recorded
            if not scanned.cacheable:  # ...but do not publish it while it is being written
                session.execute(
                    update(Post)
                    .where(Post.id == seen.id)
                    .values(folder_changed_at=now)
                    .execution_options(synchronize_session=False)
                )
            continue
        post = session.get_one(Post, seen.id)
        _fields(post, scanned, checked, now, approver)
        # recorded by this change's own event below (post_added / _edited / _withdrawn)
        transition(session, post, checked.state, actor=ACTOR, at=now, record=False)
        if was_removed:
            event = "post_added"
            extra: dict[str, Any] = {"restored": True, "old_hash": seen.current_hash}
            report.added.append(scanned.folder)
        elif unchanged:
            event = "approval_changed"
            extra = {
                "old_approved_by": seen.approved_by,
                "approved_by": approver,
                "old_state": seen.state,
                "console": approval is not None,
            }
            report.edited.append(scanned.folder)
        elif checked.state == PostState.WITHDRAWN and seen.state != PostState.WITHDRAWN:
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
        changes.append(_Change(post, scanned, checked, event, extra))
    if changes:
        _point_at_versions(session, changes, now)
        _audit(session, changes, now, report)


def _point_at_versions(session: Session, changes: list[_Change], now: datetime) -> None:
    """Point each changed post at the version with its content: an earlier one (staff may
    undo an edit: it is reused, never duplicated) or a new one.

    By ids, in one UPDATE (:func:`~social_publisher.store.bulk.point_posts_at_versions`
    says why not through the relationships).
    """
    session.flush()  # new posts get their ids
    pointers: list[tuple[int, int | PostVersion]] = []
    for change in changes:
        post, scanned = change.post, change.scanned
        version_id = None
        if change.known:
            version_id = session.scalars(
                select(PostVersion.id).where(
                    PostVersion.post_id == post.id,
                    PostVersion.content_hash == scanned.content_hash,
                )
            ).one_or_none()
        if version_id is None:
            version = _version(scanned)
            version.post_id = post.id
            session.add(version)
            pointers.append((post.id, version))
        else:
            pointers.append((post.id, version_id))
    session.flush()  # new versions get their ids
    point_posts_at_versions(
        session, [(pid, v if isinstance(v, int) else v.id) for pid, v in pointers], now
    )


def _audit(session: Session, changes: list[_Change], now: datetime, report: IngestReport) -> None:
    for change in changes:
        post = change.post
        details = _details(change.scanned, change.checked, **change.extra)
        session.add(
            AuditEvent(at=now, actor=ACTOR, event=change.event, post_id=post.id, details=details)
        )
        report.changed_post_ids.append(post.id)


def _sync_removed(session: Session, present: set[str], now: datetime, report: IngestReport) -> None:
    """Folders no longer in the queue: their posts are marked removed."""
    rows = session.execute(
        select(Post.folder, Post.id, Post.state, PostVersion.content_hash)
        .outerjoin(PostVersion, Post.current_version_id == PostVersion.id)
        .where(Post.state != PostState.REMOVED.value)
        .order_by(Post.id)
    ).all()
    gone = [row for row in rows if row[0] not in present]
    for folder, pid, state, digest in gone:
        post = session.get_one(Post, pid)
        transition(session, post, PostState.REMOVED, actor=ACTOR, at=now, record=False)
        post.removed_at = now
        post.updated_at = now
        details = {"folder": folder, "hash": digest, "old_state": state}
        session.add(
            AuditEvent(at=now, actor=ACTOR, event="post_removed", post_id=pid, details=details)
        )
        report.removed.append(folder)
        report.changed_post_ids.append(pid)


#: folders recorded per transaction: a first ingest of a big queue holds the scan
#: results, posts and versions of one part at a time, not the whole queue's
INGEST_PART = 200


def ingest(
    db: Database,
    settings: Settings,
    *,
    now: datetime,
    image_check: ImageCheck | None = None,
    queue_dir: Path | None = None,
) -> IngestReport:
    """Scan the queue and bring posts and versions in the database up to date.

    The queue is read and recorded in parts of :data:`INGEST_PART` folders, each in
    its own transaction (tried again if another process writes at the same time);
    then the posts whose folder is gone are marked removed.

    Raises :class:`~social_publisher.errors.QueueError` when the queue folder
    itself is missing (nothing is marked removed then: an unplugged drive is
    not a withdrawal). ``image_check`` defaults to ``media.check_image``.
    """
    if now.tzinfo is None:
        raise ValueError("ingest needs an aware 'now'")
    queue_dir = queue_dir or settings.queue_dir
    check, check_id = _resolve_check(settings, image_check)
    options = scan_options(settings, check_id, share_directory(settings).directory)
    grace = timedelta(hours=settings.overdue_grace_hours)
    tz = settings.tz
    root, names = list_queue(queue_dir)
    if not names:
        _refuse_sudden_emptiness(db, queue_dir)
    cache = DbScanCache(root)
    report = IngestReport()
    present: set[str] = set()  # folders as recorded
    keys: set[str] = set()  # scan-cache keys
    for start in range(0, len(names), INGEST_PART):
        part = names[start : start + INGEST_PART]
        with db.session() as session:
            cache.load(session, [cache.prefix + name for name in part])
        scan = scan_queue(queue_dir, options, cache=cache, image_check=check, names=part)
        present.update(scanned.folder for scanned in scan.posts)
        keys.update(scan.keys)
        record = functools.partial(
            _record, posts=scan.posts, cache=cache, now=now, grace=grace, tz=tz, options=options
        )
        report.merge(_write(db, record), read=scan.read)
        cache.saved()
        cache.forget()
        del scan, record  # this part's scan results live on in the report only
    report.merge(_write(db, functools.partial(_finish, present, keys, cache, now)))
    cache.saved()
    _log(report)
    return report


def _record(
    session: Session,
    report: IngestReport,
    *,
    posts: list[ScannedPost],
    cache: DbScanCache,
    now: datetime,
    grace: timedelta,
    tz: ZoneInfo,
    options: ScanOptions,
) -> None:
    """One part of the queue, in one transaction: its posts, then its scan-cache rows."""
    _sync(session, posts, now, grace, tz, report, options)
    cache.flush(session, now)


def _finish(
    present: set[str],
    keys: set[str],
    cache: DbScanCache,
    now: datetime,
    session: Session,
    report: IngestReport,
) -> None:
    """After every part: posts whose folder is gone, and their scan-cache rows."""
    _sync_removed(session, present, now, report)
    cache.prune_stored(session, keys)
    cache.flush(session, now)


def _refuse_sudden_emptiness(db: Database, queue_dir: Path) -> None:
    """A queue folder that is there but empty while posts still wait to go out is a fault.

    An unmounted USB disk or a disconnected network drive looks exactly like that, and
    taken as "staff removed everything" it would withdraw every scheduled post in one
    pass. Nothing is marked removed; staff who really mean it withdraw posts one by one.
    """
    from .planner import OVERRIDE_WITHDRAW

    with db.session() as session:
        waiting = session.scalar(
            select(func.count(Publication.id))
            .join(Post, Post.id == Publication.post_id)
            .where(
                Post.state != PostState.REMOVED.value,
                or_(Post.override.is_(None), Post.override != OVERRIDE_WITHDRAW),
                Publication.state.in_(_WOULD_CANCEL),
            )
        )
    if waiting:
        raise QueueError(
            [
                Problem(
                    str(queue_dir),
                    f"Thư mục hàng đợi '{queue_dir}' đang trống trong khi còn {waiting} lượt đăng "
                    "đang chờ: có thể ổ USB hoặc ổ mạng chứa hàng đợi chưa được cắm/kết nối. "
                    "Công cụ không rút bài nào. Kiểm tra ổ đĩa; nếu thật sự muốn rút các bài, chạy "
                    "'social-publisher withdraw <thư mục bài>' cho từng bài.",
                )
            ]
        )


#: publications an empty queue would cancel (states the planner cancels a removed post in)
_WOULD_CANCEL = (*OPEN_STATES, PubState.SCHEDULED_REMOTE)


def _write(db: Database, write: Callable[[Session, IngestReport], None]) -> IngestReport:
    """Run ``write`` in a transaction, tried again (with a fresh report) if another
    process ingests the same folders at the same time."""
    last: Exception | None = None
    for _attempt in range(3):
        report = IngestReport()
        try:
            with db.session() as session:
                write(session, report)
        except (IntegrityError, OperationalError) as exc:
            known = describe_db_error(exc, db.url)
            if known is not None and "database is locked" not in str(exc):
                raise StoreError(known) from None  # a full disk or a read-only file: say so
            last = exc
            log.info("ingest raced another writer (%s); trying again", type(exc).__name__)
            continue
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


class QuietWatch:
    """One unit's queue as this process last saw it, kept in memory: a look that finds the
    same folders with every file unchanged (names, sizes, times) needs no database work.

    A fleet of a hundred units asks this of each idle unit every tick (``services.fleet``)
    instead of ingesting it: the files are stat'ed exactly as ingest would, but the five
    reads of a database sync are left out. The first look reads every folder once, so the
    next ones can answer; a look that finds a change forgets what it saw until the ingest
    that follows has recorded it (:meth:`recorded`), so a failed ingest is tried again.
    """

    def __init__(self) -> None:
        self.cache = MemoryScanCache()
        self.names: tuple[str, ...] | None = None
        self._pending: tuple[str, ...] | None = None

    def unchanged(self, settings: Settings) -> bool:
        _, names = list_queue(settings.queue_dir)
        check, check_id = _resolve_check(settings, None)
        options = scan_options(settings, check_id, share_directory(settings).directory)
        scan = scan_queue(
            settings.queue_dir, options, cache=self.cache, image_check=check, workers=1
        )
        seen = tuple(names)
        if scan.read or seen != self.names:
            self.names, self._pending = None, seen
            return False
        return True

    def recorded(self) -> None:
        """The ingest after a change succeeded: what the last look saw is in the database."""
        self.names, self._pending = self._pending, None
