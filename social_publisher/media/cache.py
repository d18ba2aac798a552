"""The rendition cache: one JPEG plus a small JSON record per (source content, spec).

Layout: ``<cache_dir>/<sha[:2]>/<sha>/<channel>-<spec hash>.jpg`` and ``.json`` beside
it, where ``sha`` is the SHA-256 of the source file's bytes: renaming or moving a photo
keeps its cache, editing it does not. The JSON (size, dimensions, the JPEG's own
SHA-256, the source's dimensions) is written after the JPEG, so its presence means the
JPEG is complete; on a hit the JPEG is hashed again and must match, so a damaged or
tampered cache file is re-rendered instead of published.

Entries are kept while they are used: a hit touches the record, and :func:`prune`
(the daemon, daily; ``media prune``) removes entries unused for ``MEDIA_CACHE_DAYS``.
Nothing else holds a rendition's path: the publisher renders (or finds) a post's
images when it publishes, so a pruned entry is simply rendered again.

Every write is a temporary file in the same directory, then ``os.replace``d into
place: a crash leaves either the old file, the new one, or a ``.tmp`` leftover that no
reader looks at (swept after an hour). Cache writes are not fsynced: after a power cut
the file system may hold a renamed file whose blocks never reached the disk, but the
hash check on every hit turns that into a miss and a re-render, never a published
half-image; an fsync per file would cost more than the render on an office hard disk.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..numbers import vn_megabytes
from .specs import RenditionSpec

log = logging.getLogger("social_publisher.media")

_TMP_SUFFIX = ".tmp"
_STALE_TMP_SECONDS = 3600


@dataclass(frozen=True)
class CachedFile:
    """A cache entry as its JSON record describes it, checked against the JPEG."""

    path: Path
    width: int
    height: int
    bytes: int
    sha256: str
    quality: int
    source_width: int
    source_height: int


def file_sha256(path: Path) -> str:
    """The sha256 of a regular file; a FIFO or device (swapped in since it was checked) is
    refused at once (``O_NONBLOCK`` open, then ``fstat``) instead of blocking or never ending."""
    digest = hashlib.sha256()
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def entry_paths(cache_dir: Path, source_sha: str, spec: RenditionSpec) -> tuple[Path, Path]:
    folder = Path(cache_dir) / source_sha[:2] / source_sha
    stem = spec.cache_key
    return folder / f"{stem}.jpg", folder / f"{stem}.json"


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` at ``path`` so that no reader ever sees a partial file;
    ``durable`` also fsyncs it before it appears (for files nothing re-verifies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TMP_SUFFIX)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def lookup(cache_dir: Path, source_sha: str, spec: RenditionSpec) -> CachedFile | None:
    """The cached rendition, or None when absent, incomplete, or not what was written."""
    jpg, meta_path = entry_paths(cache_dir, source_sha, spec)
    try:
        os.utime(meta_path)  # in use: :func:`prune` keeps it (touched before it is checked)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        entry = CachedFile(
            path=jpg,
            width=int(meta["width"]),
            height=int(meta["height"]),
            bytes=int(meta["bytes"]),
            sha256=str(meta["sha256"]),
            quality=int(meta["quality"]),
            source_width=int(meta["source_width"]),
            source_height=int(meta["source_height"]),
        )
        if jpg.stat().st_size != entry.bytes or file_sha256(jpg) != entry.sha256:
            log.warning("media cache entry %s does not match its record; re-rendering", jpg)
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return entry


def store(
    cache_dir: Path,
    source_sha: str,
    spec: RenditionSpec,
    data: bytes,
    *,
    width: int,
    height: int,
    quality: int,
    source_size: tuple[int, int],
) -> CachedFile:
    """Write one rendition (JPEG first, then its record) and return its entry."""
    jpg, meta_path = entry_paths(cache_dir, source_sha, spec)
    entry = CachedFile(
        path=jpg,
        width=width,
        height=height,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        quality=quality,
        source_width=source_size[0],
        source_height=source_size[1],
    )
    atomic_write_bytes(jpg, data)
    record = {
        "channel": spec.channel,
        "width": width,
        "height": height,
        "bytes": entry.bytes,
        "sha256": entry.sha256,
        "quality": quality,
        "source_width": source_size[0],
        "source_height": source_size[1],
    }
    atomic_write_bytes(meta_path, json.dumps(record, sort_keys=True).encode("utf-8"))
    sweep_stale_temp(jpg.parent)
    return entry


def sweep_stale_temp(folder: Path, *, now: float | None = None) -> None:
    """Remove temp files a crashed writer left behind (old enough to be nobody's)."""
    cutoff = (time.time() if now is None else now) - _STALE_TMP_SECONDS
    try:
        leftovers = [p for p in folder.iterdir() if p.name.endswith(_TMP_SUFFIX)]
    except OSError:
        return
    for leftover in leftovers:
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()


def size_label(n: int) -> str:
    """A size as staff read it: Vietnamese decimal comma (``1,5 MB``, ``120 KB``)."""
    if n >= 1_000_000:
        return vn_megabytes(n)
    return f"{max(1, round(n / 1000))} KB"


@dataclass(frozen=True)
class Pruned:
    """What :func:`prune` removed."""

    entries: int
    files: int
    bytes: int


def prune(cache_dir: Path, *, keep_days: int, now: float | None = None) -> Pruned:
    """Remove the entries not used for ``keep_days`` days (by their record's time, which
    every hit renews), files without a record as old, and the folders left empty.

    Safe beside a running daemon: an entry is found, touched, then checked, so one in
    use is never old; one removed meanwhile is a miss, rendered again.
    """
    cutoff = (time.time() if now is None else now) - keep_days * 86_400
    entries = files = freed = 0
    try:
        shards = [d for d in Path(cache_dir).iterdir() if d.is_dir() and len(d.name) == 2]
    except OSError:
        return Pruned(0, 0, 0)
    for shard in shards:
        for folder in _subdirs(shard):
            for path in _old_files(folder, cutoff):
                with contextlib.suppress(OSError):
                    size = path.stat().st_size
                    path.unlink()
                    files += 1
                    freed += size
                    entries += path.suffix == ".json"
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty
        with contextlib.suppress(OSError):
            shard.rmdir()
    if files:
        log.info("media cache: removed %d entries (%d files, %d bytes)", entries, files, freed)
    return Pruned(entries, files, freed)


def _subdirs(folder: Path) -> list[Path]:
    try:
        return [d for d in folder.iterdir() if d.is_dir()]
    except OSError:
        return []


def _old_files(folder: Path, cutoff: float) -> list[Path]:
    """A folder's files to remove: each old record with its file (JPEG, or a video's MP4),
    then any file, temp or other, left without a record (a crash between the two writes)
    once it is old."""
    try:
        names = {p.name: p for p in folder.iterdir() if p.is_file()}
    except OSError:
        return []

    def old(path: Path) -> bool:
        try:
            return path.stat().st_mtime < cutoff
        except OSError:
            return False

    def stem(name: str) -> str:
        return name.rsplit(".", 1)[0] if "." in name else name

    records = {stem(name) for name in names if name.endswith(".json")}
    doomed: list[Path] = []
    for name, path in names.items():
        if name.endswith(".json"):
            if old(path):
                doomed.append(path)
                # the entry's file: a photo's .jpg, a video rendition's .mp4
                doomed += [
                    p for n, p in names.items() if not n.endswith(".json") and stem(n) == stem(name)
                ]
        elif (name.endswith(_TMP_SUFFIX) or stem(name) not in records) and old(path):
            doomed.append(path)
    # the record first: a JPEG without its record is a miss, never a half entry
    doomed.sort(key=lambda p: not p.name.endswith(".json"))
    return doomed
