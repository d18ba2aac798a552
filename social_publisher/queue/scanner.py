"""Scan the queue folder: one :class:`ScannedPost` per post folder, never an exception.

Why it is shaped like this:

* A bad folder must never stop the others, so each folder is read inside its
  own guard; anything unexpected becomes an error problem for that folder.
* The daemon scans every pass, so unchanged folders are not re-read: each
  folder has a signature (names, sizes and mtimes of its files) and the parsed
  result is kept in an injected :class:`ScanCache` (the database, in
  services). The cached result never holds the state: whether a post is
  overdue depends on *now*, so :func:`evaluate` recomputes it every time.
* The content hash covers what will go out (normalised header values, the
  body, each image's bytes in publishing order), so the same post saved in a
  different encoding or with CRLF has the same hash.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import gc
import hashlib
import json
import logging
import os
import re
import stat
import traceback
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from ..errors import MediaError, Problem, QueueError
from ..platforms import FACEBOOK_MAX_CHARS, FACEBOOK_MAX_PHOTOS, ZALO_LIMIT_MARGIN, ZALO_LIMITS
from ..states import PostState
from . import parallel
from .decode import MAX_TEXT_BYTES, DecodeError, decode_text, too_big_message
from .parser import PostText, check_approver, display, first_sentence, fold, interpret
from .share_list import ShareDirectory, depends_on_agencies, read_without_directory

log = logging.getLogger(__name__)


def _json_encoder(item_separator: str, key_separator: str) -> Callable[[Any], str]:
    """``json.dumps(o, ensure_ascii=False, separators=...)``, same text, cheaper per call.

    ``json.dumps`` (and ``JSONEncoder.encode``) build a new C encoder on every call; a
    cold scan encodes twice per folder, so the C encoder is built once here (no
    circular-reference check: scan results are trees).
    """
    plain = json.JSONEncoder(ensure_ascii=False, separators=(item_separator, key_separator))

    def refuse(o: object) -> object:
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")

    try:
        encode = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
            None, refuse, json.encoder.encode_basestring, None, key_separator, item_separator,
            False, False, True,
        )  # fmt: skip
        sample = {"a": [1, None, True, 'ẫ\n"']}
        if "".join(encode(sample, 0)) != plain.encode(sample):
            raise ValueError("different text")
    except Exception:  # no C accelerator, or another signature: the plain, slower way
        return plain.encode
    return lambda o: "".join(encode(o, 0))


#: the content hash's JSON, and the cache record's:
#: json.dumps(..., ensure_ascii=False, separators=(",", ":"))
_compact_json = _json_encoder(",", ":")

#: bump when parsing or validation changes, so cached results are re-read
PARSER_VERSION = 6

TEXT_FILE_NAMES = ("bai-viet.txt", "post.txt", "post.md")
_TEXT_FOLDED = {fold(name): name for name in TEXT_FILE_NAMES}
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".gif")
_IGNORED = frozenset(("thumbs.db", "desktop.ini", ".ds_store"))

ZALO_MARGIN = ZALO_LIMIT_MARGIN
FAR_FUTURE = timedelta(days=366)
#: subfolders a post folder's signature looks into; an image named deeper is refused, so a
#: photo is never read from a place whose changes the signature would not notice
MAX_SUBFOLDER_DEPTH = 3
#: publishing years the tool takes (beyond them a date is a typing slip, and year 0001
#: cannot even be converted to UTC)
YEARS = range(2000, 2200)
_NO_TIME = timedelta(0)

ImageCheck = Callable[[Path], object]
VideoCheck = Callable[[str, "str | None", tuple[str, ...]], Mapping[str, Any]]


@dataclass(frozen=True)
class BytesImageCheck:
    """An image check handed the bytes the scanner already read: each photo is read once.

    ``check(path, data)`` gets the file's path as a string (building a ``Path`` per
    photo is a measurable part of a cold scan) and raises
    :class:`~social_publisher.errors.MediaError` to refuse. Called with a path alone it
    reads the file itself, so it is also an ``ImageCheck``.
    """

    check: Callable[[str, bytes], object]
    #: ``video(path, form, channels)``: the clip's facts (``duration``, ``width``,
    #: ``height``, ``form``, ``warnings``) or a MediaError saying why it cannot go out;
    #: None: videos are only hashed (their refusals come when they are rendered)
    video: VideoCheck | None = None

    def __call__(self, path: Path) -> object:
        return self.check(str(path), _read_file(str(path)))


@dataclass(frozen=True)
class ScanOptions:
    """Everything outside the folder that changes how it reads (part of the cache signature)."""

    timezone: str = "Asia/Ho_Chi_Minh"
    default_author: str | None = None
    default_share_with: tuple[str, ...] = ()
    #: names the image check in use, so a different check re-validates every folder
    image_check_id: str = "none"
    #: APPROVERS: the names an approval is expected from (empty: any name)
    approvers: tuple[str, ...] = ()
    #: APPROVAL_MODE: ``header`` (a header approves), ``listed`` (only a name on
    #: APPROVERS does), ``console`` (only the web console's approval counts)
    approval_mode: str = "header"
    #: the agencies file as ``Chia sẻ`` reads it (None: none could be read). Not part of
    #: the fingerprint: only folders whose list names agencies depend on it, and their cache
    #: entries say so (see :func:`_agencies_signature`)
    agencies: ShareDirectory | None = field(default=None, compare=False, repr=False)

    @functools.cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def fingerprint(self) -> str:
        return json.dumps(
            [
                PARSER_VERSION,
                self.timezone,
                self.default_author,
                list(self.default_share_with),
                self.image_check_id,
                list(self.approvers),
                *([self.approval_mode] if self.approval_mode != "header" else []),
            ],
            ensure_ascii=False,
        )


_T = TypeVar("_T")


def _quick_init(cls: type[_T]) -> type[_T]:
    """Give a frozen, slotted dataclass a faster ``__init__``: same signature, same result.

    The generated one stores each field through ``object.__setattr__``, looked up per
    field; storing through each slot's descriptor costs half as much, which a cold scan
    notices: it builds a post, its images and its state for every folder.
    """
    params: list[str] = []
    lines: list[str] = []
    env: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.default_factory is not dataclasses.MISSING or f.kw_only is True:
            raise TypeError(f"{cls.__name__}.{f.name}: not supported by _quick_init")
        env[f"set_{f.name}"] = getattr(cls, f.name).__set__  # the slot's descriptor
        if f.default is not dataclasses.MISSING:
            env[f"default_{f.name}"] = f.default
            params.append(f"{f.name}=default_{f.name}" if f.init else "")
        elif f.init:
            params.append(f.name)
        else:
            raise TypeError(
                f"{cls.__name__}.{f.name}: a field left out of __init__ needs a default"
            )
        lines.append(f"    set_{f.name}(self, {f.name if f.init else f'default_{f.name}'})")
    arguments = ", ".join(p for p in params if p)
    exec(f"def __init__(self, {arguments}) -> None:\n" + "\n".join(lines), env)
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


@_quick_init
@dataclass(frozen=True, slots=True)
class ImageRef:
    """One image as read: its name inside the folder (posix), sha256 and size in bytes."""

    name: str
    sha256: str
    size: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "bytes": self.size}


@dataclass(frozen=True, slots=True)
class VideoRef:
    """The post's video: the file (name, sha256, bytes), what the header says of it, and
    the facts ``check`` read (not hashed: they follow from the bytes)."""

    name: str
    sha256: str
    size: int
    #: ``Dạng video`` as written (None: chosen from the clip's shape and length)
    form: str | None = None
    title: str | None = None
    description: str | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    #: the Facebook form the post goes out as (written, or the default)
    chosen_form: str | None = None

    def content(self) -> list[Any]:
        return [self.name, self.sha256, self.form, self.title, self.description]

    def facts(self) -> list[Any]:
        return [self.size, self.duration, self.width, self.height, self.chosen_form]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sha256": self.sha256,
            "bytes": self.size,
            "form": self.form,
            "title": self.title,
            "description": self.description,
            "duration": self.duration,
            "width": self.width,
            "height": self.height,
            "chosen_form": self.chosen_form,
        }

    @classmethod
    def from_lists(cls, content: list[Any], facts: list[Any]) -> VideoRef:
        name, sha, form, title, description = content
        size, duration, width, height, chosen = facts
        return cls(name, sha, int(size), form, title, description, duration, width, height, chosen)


#: version of the content-hash payload (the first item of the list that is hashed)
CONTENT_VERSION = 1


@_quick_init
@dataclass(frozen=True, slots=True)
class ScannedPost:
    """One post folder as read from disk, with every problem found; no time-dependent state."""

    folder: str
    source_file: str | None = None
    title: str = ""
    body: str = ""
    publish_at: datetime | None = None
    channels: tuple[str, ...] = ()
    approved_by: str | None = None
    images: tuple[ImageRef, ...] = ()
    cover: ImageRef | None = None
    link: str | None = None
    author: str | None = None
    description: str | None = None
    share_with: tuple[str, ...] = ()
    zalo_broadcast: bool = False
    withdrawn: bool = False
    #: the post's one video (None: a text or photo post); hashed only when present, so
    #: the hash of every post without one is what it was before video support
    video: VideoRef | None = None
    content_hash: str = ""
    errors: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    publish_at_line: int | None = None
    #: False when the result depends on a passing condition (a locked file, a crash)
    cacheable: bool = True
    #: the hashed payload as JSON text, set with the hash and handed to the cache record
    #: (which embeds it instead of encoding title and body a second time), then dropped
    _content_json: str = field(default="", init=False, repr=False, compare=False)

    @property
    def label(self) -> str:
        """How problems name the text file: ``folder/bai-viet.txt`` (or the folder)."""
        return f"{self.folder}/{self.source_file}" if self.source_file else self.folder

    def content(self) -> list[Any]:
        """What the content hash covers, in its fixed order (see :func:`content_hash`)."""
        return [
            CONTENT_VERSION,
            self.title,
            self.body,
            self.publish_at.astimezone(UTC).isoformat() if self.publish_at else None,
            self.channels,
            self.approved_by,
            [(img.name, img.sha256) for img in self.images],
            (self.cover.name, self.cover.sha256) if self.cover else None,
            self.link,
            self.author,
            self.description,
            self.share_with,
            self.zalo_broadcast,
            self.withdrawn,
            *([self.video.content()] if self.video is not None else []),
        ]

    def _more(self) -> list[Any]:
        """What the cache record keeps besides the folder and the content (kept as the
        hashed JSON text): compact, as thousands of records are written at once."""
        cover = self.cover
        return [
            self.source_file,
            self.publish_at.isoformat() if self.publish_at else None,  # its own offset
            self.publish_at_line,
            [img.size for img in self.images],
            cover.size if cover is not None else None,
            self.content_hash,
            [(p.file, p.message, p.line) for p in self.errors] if self.errors else [],
            [(p.file, p.message, p.line) for p in self.warnings] if self.warnings else [],
            *([self.video.facts()] if self.video is not None else []),
        ]

    def to_dict(self) -> dict[str, Any]:
        """The cache record: ``folder``, ``content`` (the list the content hash covers)
        and ``more``: source file, publishing time with its offset, its line, image
        sizes, cover size, content hash, errors and warnings as (file, message, line).

        :func:`cache_record` writes the same record as JSON text without building this
        dict (``json.loads(cache_record(post)) == post.to_dict()``).
        """
        cover = self.cover
        return {
            "folder": self.folder,
            "content": [
                CONTENT_VERSION,
                self.title,
                self.body,
                self.publish_at.astimezone(UTC).isoformat() if self.publish_at else None,
                list(self.channels),
                self.approved_by,
                [[img.name, img.sha256] for img in self.images],
                [cover.name, cover.sha256] if cover is not None else None,
                self.link,
                self.author,
                self.description,
                list(self.share_with),
                self.zalo_broadcast,
                self.withdrawn,
                *([self.video.content()] if self.video is not None else []),
            ],
            "more": [
                self.source_file,
                self.publish_at.isoformat() if self.publish_at else None,
                self.publish_at_line,
                [img.size for img in self.images],
                cover.size if cover is not None else None,
                self.content_hash,
                [[p.file, p.message, p.line] for p in self.errors],
                [[p.file, p.message, p.line] for p in self.warnings],
                *([self.video.facts()] if self.video is not None else []),
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScannedPost:
        """Rebuild a post from its cache record; raises KeyError, TypeError or ValueError
        when it is not one (an older format, damage): the folder is read again then."""
        (
            version,
            title,
            body,
            _utc,
            channels,
            approved_by,
            images,
            cover,
            link,
            author,
            description,
            share_with,
            broadcast,
            withdrawn,
            *video_content,
        ) = data["content"]
        if version != CONTENT_VERSION:
            raise ValueError(f"content version {version!r}")
        source_file, when, line, sizes, cover_size, digest, errors, warnings, *facts = data["more"]
        video = VideoRef.from_lists(video_content[0], facts[0]) if video_content else None
        return cls(
            folder=data["folder"],
            source_file=source_file,
            title=title,
            body=body,
            publish_at=datetime.fromisoformat(when) if when else None,
            channels=tuple(channels),
            approved_by=approved_by,
            images=tuple(
                ImageRef(name, sha, int(size))
                for (name, sha), size in zip(images, sizes, strict=True)
            ),
            cover=ImageRef(cover[0], cover[1], int(cover_size)) if cover else None,
            link=link,
            author=author,
            description=description,
            share_with=tuple(share_with),
            zalo_broadcast=bool(broadcast),
            withdrawn=bool(withdrawn),
            video=video,
            content_hash=digest,
            errors=tuple(Problem(file, message, at) for file, message, at in errors),
            warnings=tuple(Problem(file, message, at) for file, message, at in warnings),
            publish_at_line=line,
        )


def cache_record(post: ScannedPost) -> str:
    """The post's cache record as JSON text (see :meth:`ScannedPost.to_dict`).

    It embeds the content JSON already hashed: encoding title and body once per
    folder instead of twice is a measurable part of a cold scan.
    """
    content = post._content_json or _compact_json(post.content())
    rest = _compact_json({"folder": post.folder, "more": post._more()})
    return f'{{"content":{content},{rest[1:]}'


# ---------------------------------------------------------------- the cache


@_quick_init
@dataclass(frozen=True, slots=True)
class CachedScan:
    """One folder's cached scan; ``result`` may stay JSON text until it is needed."""

    signature: str
    content_hash: str | None
    result: dict[str, Any] | str


class ScanCache(Protocol):
    """Where scan results survive between runs (services keep it in the database)."""

    def get(self, key: str) -> CachedScan | None: ...

    def put(self, key: str, entry: CachedScan) -> None: ...

    def delete(self, key: str) -> None: ...


class MemoryScanCache:
    """A :class:`ScanCache` in a dict: for tests, and for ``check`` when no database opens."""

    def __init__(self) -> None:
        self.entries: dict[str, CachedScan] = {}

    def get(self, key: str) -> CachedScan | None:
        return self.entries.get(key)

    def put(self, key: str, entry: CachedScan) -> None:
        self.entries[key] = entry

    def delete(self, key: str) -> None:
        self.entries.pop(key, None)


# ---------------------------------------------------------------- file system helpers


_HIDDEN = (".", "~$")


def _ignored(name: str) -> bool:
    return name.startswith(_HIDDEN) or name.casefold() in _IGNORED


def _natural_key(name: str) -> list[tuple[int, int | str]]:
    return [
        (0, int(part)) if part.isdigit() else (1, part)
        for part in re.split(r"(\d+)", unicodedata.normalize("NFC", name).casefold())
    ]


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogates(name: str) -> bool:
    """Undecodable bytes in a file name (Python keeps them as lone surrogates)."""
    return not name.isascii() and _SURROGATE.search(name) is not None


def _printable(name: str) -> str:
    """A name safe to print and store (undecodable bytes become U+FFFD)."""
    if not _has_surrogates(name):
        return name
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def is_image_name(name: str) -> bool:
    return name.casefold().endswith(IMAGE_EXTENSIONS)


def folder_signature(path: Path, options: ScanOptions, max_depth: int = MAX_SUBFOLDER_DEPTH) -> str:
    """Names, sizes and mtimes of every file in the folder (and its subfolders), hashed."""
    return _signature(str(path), options.fingerprint().encode("utf-8"), max_depth)[0]


def _signature(
    path: str, seed: bytes, max_depth: int = MAX_SUBFOLDER_DEPTH
) -> tuple[str, list[os.DirEntry[str]]]:
    """The signature, and the folder's own entries (reused if the folder must be read).

    This runs for every folder on every scan, so it is kept tight: one scandir
    per directory and one stat per file, nothing else.
    """
    rows: list[str] = []
    top: list[os.DirEntry[str]] = []
    stack: list[tuple[str, str, int]] = [(path, "", 0)]
    while stack:
        directory, prefix, depth = stack.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(_HIDDEN) or name.casefold() in _IGNORED:
                    continue
                if not depth:
                    top.append(entry)
                if entry.is_dir(follow_symlinks=False):
                    if depth < max_depth:
                        stack.append((entry.path, f"{prefix}{name}/", depth + 1))
                    continue
                try:
                    st = entry.stat()
                except OSError:
                    st = entry.stat(follow_symlinks=False)
                rows.append(f"{prefix}{name}\0{st.st_size}\0{st.st_mtime_ns}")
    if len(rows) > 1:
        rows.sort()
    return (
        hashlib.blake2b(
            seed + "\n".join(rows).encode("utf-8", "surrogateescape"), digest_size=20
        ).hexdigest(),
        top,
    )


#: O_NONBLOCK: opening a FIFO returns at once instead of waiting (for ever) for a writer
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
#: the first read's size: post texts and small photos are read whole by it
_FIRST_READ = 1 << 16


class NotRegularFile(OSError):
    """The path is a FIFO, a socket or a device (perhaps behind a symlink): never read it."""


NOT_REGULAR = (
    "không phải tệp thông thường (là FIFO, socket hoặc thiết bị, có thể qua một lối tắt) nên "
    "không đọc được. Xóa nó khỏi thư mục bài và chép tệp thật vào."
)


def _read_file(path: str) -> bytes:
    """Every byte the scanner reads from disk goes through here.

    It never blocks and never reads without end on something that is not a regular
    file: the callers list only regular files (``DirEntry.is_file``, ``Path.is_file``),
    and a file swapped for a FIFO since then opens at once (``O_NONBLOCK``) and reads as
    empty or fails; a device fills the first read, and then ``fstat`` refuses it.

    ``os.read`` costs a few microseconds less per file than ``open().read()``, which a
    cold scan of thousands of folders notices; so does ``fstat`` (a ``stat_result``
    per file), which is only asked when the first read fills its buffer: then the file
    is read again from the start with the size it gives. Reading stops only at an empty
    read (end of file), so a file that grows meanwhile is read whole.
    """
    fd = os.open(path, _OPEN_FLAGS)
    try:
        data = os.read(fd, _FIRST_READ)
        if len(data) == _FIRST_READ:  # a big file: one read of its whole size
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise NotRegularFile(errno.EINVAL, NOT_REGULAR, path)
            size = info.st_size
            os.lseek(fd, 0, os.SEEK_SET)
            data = os.read(fd, size + 1)
        if not data:
            return data
        parts = [data]
        while chunk := os.read(fd, 1 << 16):  # usually one empty read: the end
            parts.append(chunk)
        return data if len(parts) == 1 else b"".join(parts)
    finally:
        os.close(fd)


def _inside(path: Path, folder_real: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder_real)
    except (OSError, RuntimeError):
        return False


# ---------------------------------------------------------------- reading one folder


class _Folder:
    """Working state while one folder is read (a plain class: one is made per folder read)."""

    __slots__ = (
        "_real",
        "cacheable",
        "dir",
        "errors",
        "files",
        "image_check",
        "name",
        "options",
        "read_images",
        "warnings",
    )

    def __init__(
        self, name: str, dir: str, options: ScanOptions, image_check: ImageCheck | None
    ) -> None:
        self.name = name
        #: the folder's path as a string (a ``Path`` is built only when a rare case needs it)
        self.dir = dir
        self.options = options
        self.image_check = image_check
        self.files: dict[str, os.DirEntry[str]] = {}
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        self.read_images: dict[str, ImageRef] = {}
        self.cacheable = True
        self._real: Path | None = None

    def label(self, name: str) -> str:
        return f"{self.name}/{_printable(name)}"

    @property
    def path(self) -> Path:
        return Path(self.dir)

    @property
    def real(self) -> Path:
        """The folder's resolved path (only needed when a symlink or subfolder is involved)."""
        if self._real is None:
            self._real = self.path.resolve()
        return self._real


def _list_files(work: _Folder, entries: list[os.DirEntry[str]] | None) -> None:
    if entries is None:
        with os.scandir(work.dir) as listing:
            entries = [e for e in listing if not _ignored(e.name)]
    for entry in entries:
        try:
            is_file = entry.is_file()
        except OSError:
            is_file = False
        if not is_file:
            problem = _not_a_file(work, entry)
            if problem is not None:
                work.errors.append(problem)
            continue
        if _has_surrogates(entry.name):
            work.errors.append(
                Problem(
                    work.label(entry.name),
                    "Tên tệp có ký tự không đọc được. Đổi tên tệp (chữ có dấu hoặc không dấu "
                    "đều được, miễn là gõ lại bằng bàn phím Unicode).",
                )
            )
            continue
        work.files[entry.name] = entry


LOOP = (
    "Lối tắt (symlink) này trỏ vòng về chính nó nên không mở được. Xóa lối tắt và chép tệp "
    "(hoặc thư mục) thật vào."
)


def _not_a_file(work: _Folder, entry: os.DirEntry[str]) -> Problem | None:
    """The problem with an entry that is not a regular file; None for a subfolder.

    A FIFO, socket or device (or a symlink to one) is refused, never skipped: skipped, the
    only photo of a post would vanish from it without a word.
    """
    try:
        if entry.is_dir():
            return None
    except OSError:  # a symlink loop
        return Problem(work.label(entry.name), LOOP)
    if entry.is_symlink():
        try:
            os.stat(entry.path)
        except FileNotFoundError:
            return Problem(
                work.label(entry.name),
                "Lối tắt (symlink) này trỏ tới tệp không còn tồn tại. Xóa lối tắt "
                "và chép tệp thật vào thư mục.",
            )
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return Problem(work.label(entry.name), LOOP)
            return Problem(
                work.label(entry.name),
                f"Không mở được lối tắt này ({exc.strerror or type(exc).__name__}). Xóa lối tắt "
                "và chép tệp thật vào thư mục.",
            )
    return Problem(work.label(entry.name), f"'{_printable(entry.name)}' {NOT_REGULAR}")


def _missing_text_file(work: _Folder) -> Problem:
    names = sorted(work.files, key=_natural_key)
    hint = "Tạo tệp bai-viet.txt (hoặc post.txt, post.md) theo mẫu trong content_queue/README.md."
    for name in names:
        folded = fold(name)
        if any(folded.startswith(known + " ") for known in _TEXT_FOLDED):
            hint = (
                f"Có tệp '{name}': Windows đang ẩn phần đuôi tệp nên tên bị thừa đuôi. "
                "Đổi tên tệp thành bai-viet.txt."
            )
            break
        if folded.endswith((" doc", " docx", " odt", " rtf")):
            hint = (
                f"Có tệp '{name}' soạn bằng Word: chép nội dung sang Notepad và lưu thành "
                "bai-viet.txt (mã hóa UTF-8)."
            )
            break
        if folded.endswith((" txt", " md")):
            hint = f"Có tệp '{name}': đổi tên tệp này thành bai-viet.txt."
            break
    return Problem(work.name, f"Thư mục chưa có tệp bài viết. {hint}")


def _read_text(work: _Folder) -> tuple[str | None, str | None, bytes]:
    """(file name, decoded text, raw bytes); problems are recorded on ``work``."""
    found = [name for name in work.files if fold(name) in _TEXT_FOLDED]
    if not found:
        work.errors.append(_missing_text_file(work))
        return None, None, b""
    if len(found) > 1:
        names = ", ".join(sorted(found, key=_natural_key))
        work.errors.append(
            Problem(
                work.name,
                f"Thư mục có nhiều tệp bài viết ({names}). Chỉ giữ lại một tệp, xóa hoặc đổi "
                "tên các tệp còn lại.",
            )
        )
        return None, None, b""
    name = found[0]
    entry = work.files[name]
    if entry.is_symlink() and not _inside(Path(entry.path), work.real):
        work.errors.append(
            Problem(
                work.label(name),
                "Tệp bài viết là lối tắt trỏ ra ngoài thư mục bài. Chép tệp thật vào thư mục.",
            )
        )
        return name, None, b""
    try:
        size = entry.stat().st_size
        if size > MAX_TEXT_BYTES:
            work.errors.append(Problem(work.label(name), too_big_message(size)))
            return name, None, b""
        data = _read_file(entry.path)
    except NotRegularFile:
        work.errors.append(Problem(work.label(name), f"'{_printable(name)}' {NOT_REGULAR}"))
        return name, None, b""
    except OSError as exc:
        work.cacheable = False
        work.errors.append(
            Problem(
                work.label(name),
                f"Không đọc được tệp ({exc.strerror or type(exc).__name__}). Đóng chương trình "
                "đang mở tệp này (Word, Notepad…) hoặc kiểm tra quyền truy cập, rồi thử lại.",
            )
        )
        return name, None, b""
    try:
        text, _encoding = decode_text(data)
    except DecodeError as exc:
        work.errors.append(Problem(work.label(name), exc.message))
        return name, None, data
    return name, text, data


def _find(
    work: _Folder, written: str, kind: str = "Ảnh"
) -> tuple[str | None, str | None, str | None]:
    """(path, name inside the folder, Vietnamese reason) for an image named in the header."""
    name = written.replace("\\", "/").strip()
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        return (
            None,
            None,
            (
                f"{kind} '{written}' nằm ngoài thư mục bài viết. Chép ảnh vào thư mục "
                f"{work.name} và chỉ ghi tên tệp."
            ),
        )
    if not parts:
        return None, None, f"{kind} '{written}' không hợp lệ. Chỉ ghi tên tệp ảnh."
    if len(parts) - 1 > MAX_SUBFOLDER_DEPTH:
        return (
            None,
            None,
            (
                f"{kind} '{written}' nằm sâu {len(parts) - 1} tầng thư mục con, công cụ chỉ xem "
                f"tới {MAX_SUBFOLDER_DEPTH} tầng (sâu hơn thì không nhận ra khi ảnh bị thay). "
                f"Chuyển ảnh lên gần thư mục {work.name} hơn và sửa lại dòng này."
            ),
        )
    if not is_image_name(parts[-1]):
        return (
            None,
            None,
            (
                f"{kind} '{written}' không phải tệp ảnh. Chỉ dùng ảnh "
                f"{', '.join(e[1:] for e in IMAGE_EXTENSIONS)}."
            ),
        )
    relative = "/".join(parts)
    if len(parts) == 1:
        entry = work.files.get(relative)
        if entry is None:  # Windows ignores case; staff may type a different one
            wanted = unicodedata.normalize("NFC", relative).casefold()
            matches = [
                e
                for n, e in work.files.items()
                if unicodedata.normalize("NFC", n).casefold() == wanted
            ]
            entry = matches[0] if len(matches) == 1 else None
        if entry is None:
            return None, None, _missing_image(work, written, kind)
        path, relative = entry.path, entry.name
        outside = entry.is_symlink() and not _inside(Path(path), work.real)
    else:
        nested = work.path.joinpath(*parts)
        if not nested.is_file():
            if os.path.lexists(nested) and not nested.is_dir():
                return None, None, f"{kind} '{written}' {NOT_REGULAR}"
            return None, None, _missing_image(work, written, kind)
        path, outside = str(nested), not _inside(nested, work.real)
    if outside:
        return (
            None,
            None,
            (
                f"{kind} '{written}' là lối tắt trỏ ra ngoài thư mục bài viết. Chép ảnh thật "
                f"vào thư mục {work.name}."
            ),
        )
    return path, relative, None


def _missing_image(work: _Folder, written: str, kind: str = "Ảnh") -> str:
    return (
        f"Không tìm thấy {kind.lower()} '{written}' trong thư mục {work.name}. Kiểm tra lại "
        "tên tệp (cả phần đuôi .jpg, .png…) hoặc chép ảnh vào thư mục."
    )


def _read_image(work: _Folder, path: str, name: str) -> ImageRef | None:
    known = work.read_images.get(name)
    if known is not None:
        return known
    try:
        data = _read_file(path)
    except NotRegularFile:
        work.errors.append(Problem(work.label(name), f"'{_printable(name)}' {NOT_REGULAR}"))
        return None
    except OSError as exc:
        work.cacheable = False
        work.errors.append(
            Problem(
                work.label(name),
                f"Không đọc được ảnh ({exc.strerror or type(exc).__name__}). Đóng chương trình "
                "đang mở ảnh hoặc kiểm tra quyền truy cập, rồi thử lại.",
            )
        )
        return None
    check = work.image_check
    if check is not None:
        try:
            if isinstance(check, BytesImageCheck):
                check.check(path, data)
            else:
                check(Path(path))
        except MediaError as exc:
            work.errors.append(Problem(work.label(name), exc.message))
            return None
        except Exception as exc:  # a broken decoder must not stop the scan
            work.errors.append(
                Problem(
                    work.label(name),
                    f"Không kiểm tra được ảnh ({type(exc).__name__}: {exc}). Thử lưu lại ảnh "
                    "dạng JPEG hoặc thay ảnh khác.",
                )
            )
            return None
    ref = ImageRef(name, hashlib.sha256(data).hexdigest(), len(data))
    work.read_images[name] = ref
    return ref


def _images(work: _Folder, text: PostText, text_label: str) -> tuple[list[ImageRef], bool]:
    """The images in publishing order, and whether every one could be used."""
    all_ok = True
    refs: list[ImageRef] = []
    if text.images is None:
        names = [n for n in work.files if is_image_name(n)]
        if len(names) > 1:
            names.sort(key=_natural_key)
        for name in names:
            entry = work.files[name]
            if entry.is_symlink() and not _inside(Path(entry.path), work.real):
                work.errors.append(
                    Problem(
                        work.label(name),
                        "Ảnh này là lối tắt trỏ ra ngoài thư mục bài viết. Chép ảnh thật vào "
                        "thư mục.",
                    )
                )
                all_ok = False
                continue
            ref = _read_image(work, entry.path, name)
            all_ok = all_ok and ref is not None
            if ref is not None:
                refs.append(ref)
        return refs, all_ok

    line = text.lines.get("images")
    seen: set[str] = set()
    for written in text.images:
        path, found, reason = _find(work, written)
        if reason or path is None or found is None:
            work.errors.append(Problem(text_label, reason or _missing_image(work, written), line))
            all_ok = False
            continue
        if found in seen:
            work.errors.append(
                Problem(
                    text_label,
                    f"Ảnh '{written}' được ghi hai lần trong mục Ảnh. Mỗi ảnh chỉ ghi một lần.",
                    line,
                )
            )
            all_ok = False
            continue
        seen.add(found)
        ref = _read_image(work, path, found)
        all_ok = all_ok and ref is not None
        if ref is not None:
            refs.append(ref)
    unlisted = sorted(
        (n for n in work.files if is_image_name(n) and n not in seen), key=_natural_key
    )
    if unlisted and all_ok:
        work.warnings.append(
            Problem(
                text_label,
                f"Ảnh có trong thư mục nhưng không ghi trong mục Ảnh nên sẽ không được đăng: "
                f"{', '.join(unlisted)}.",
                line,
            )
        )
    return refs, all_ok


def _cover(work: _Folder, text: PostText, refs: list[ImageRef], label: str) -> ImageRef | None:
    if text.cover is None:
        return refs[0] if refs else None
    line = text.lines.get("cover")
    path, name, reason = _find(work, text.cover, "Ảnh bìa")
    if reason or path is None or name is None:
        work.errors.append(Problem(label, reason or _missing_image(work, text.cover), line))
        return None
    return _read_image(work, path, name)


def _number(value: int) -> str:
    """Vietnamese thousands separator: 63.206."""
    return f"{value:,}".replace(",", ".")


def _limits(
    work: _Folder,
    text: PostText,
    channels: tuple[str, ...],
    images: list[ImageRef],
    author: str | None,
    label: str,
) -> None:
    """Platform limits (platforms.py), only for the channels the post names."""
    if "facebook" in channels:
        length = len(text.title) + 2 + len(text.body) if text.title else len(text.body)
        if length > FACEBOOK_MAX_CHARS:
            work.errors.append(
                Problem(
                    label,
                    f"Bài quá dài cho Facebook: {_number(length)} ký tự (tiêu đề và nội dung), "
                    f"tối đa {_number(FACEBOOK_MAX_CHARS)} ký tự. Rút gọn nội dung hoặc bỏ kênh "
                    "facebook.",
                    text.body_line,
                )
            )
        if len(images) > FACEBOOK_MAX_PHOTOS:
            work.errors.append(
                Problem(
                    label,
                    f"Facebook chỉ đăng tối đa {FACEBOOK_MAX_PHOTOS} ảnh mỗi bài, bài này có "
                    f"{len(images)} ảnh. Chọn bớt ảnh trong mục Ảnh (ví dụ 'Ảnh: 1.jpg, "
                    "2.jpg') hoặc chuyển bớt ảnh ra khỏi thư mục.",
                    text.lines.get("images"),
                )
            )
    if "zalo" in channels:
        values = (
            ("title", text.title),
            ("description", text.description or ""),
            ("author", author or ""),
        )
        for key, value in values:
            hard, size = ZALO_LIMITS[key], len(value)
            if size <= hard - ZALO_MARGIN:
                continue
            line = text.lines.get(key)
            name = display(key)
            if key == "author" and text.author is None:
                name = "Tác giả (mặc định trong cấu hình DEFAULT_AUTHOR)"
            if size >= hard:
                work.errors.append(
                    Problem(
                        label,
                        f"{name} dài {size} ký tự, Zalo chỉ nhận dưới {hard} ký tự. Rút gọn "
                        f"xuống {hard - ZALO_MARGIN} ký tự trở xuống, hoặc bỏ kênh zalo.",
                        line,
                    )
                )
            elif size > hard - ZALO_MARGIN:
                work.warnings.append(
                    Problem(
                        label,
                        f"{name} dài {size} ký tự, sát giới hạn {hard} ký tự của Zalo (Zalo từng "
                        f"từ chối chuỗi gần giới hạn). Nên rút gọn xuống {hard - ZALO_MARGIN} ký "
                        "tự trở xuống.",
                        line,
                    )
                )
    elif text.zalo_broadcast:
        work.warnings.append(
            Problem(
                label,
                "Có 'Gửi tin Zalo: có' nhưng bài không đăng lên Zalo (mục Kênh không có zalo), "
                "nên sẽ không gửi tin.",
                text.lines.get("zalo_broadcast"),
            )
        )


# ---------------------------------------------------------------- checks that need settings


def _share_list(work: _Folder, text: PostText, options: ScanOptions, label: str) -> tuple[str, ...]:
    """``Chia sẻ`` as ids, groups or keywords (the settings' default when not written); an
    entry the agencies file does not know is an error naming the closest id."""
    if text.share_with is None:
        return options.default_share_with
    directory = options.agencies
    if directory is None:
        return read_without_directory(text.share_with).entries
    read = directory.read(text.share_with)
    line = text.lines.get("share_with")
    work.errors.extend(Problem(label, problem, line) for problem in read.problems)
    return read.entries


def _approver(work: _Folder, text: PostText, options: ScanOptions, label: str) -> str | None:
    """The approver as the APPROVERS list spells the name (the name as written otherwise).

    In the default mode (``header``) a name not on the list is a warning and still an
    approval: the header records who approved, it is not a log-in (the web console's
    approval is), and a list an administrator forgot to update must not stop a post due at
    07:30. With ``APPROVAL_MODE=listed`` such a name does not approve, and with ``console``
    no header does (:func:`header_approver`); ``check`` says so beforehand. The name is
    kept as written either way, so changing the mode never changes a post's content hash.
    """
    name = text.approved_by
    line = text.lines.get("approved_by")
    if name and options.approval_mode == "console":
        work.warnings.append(
            Problem(
                label,
                f"Người duyệt '{name}' ghi trong tệp không được tính là đã duyệt "
                "(APPROVAL_MODE=console): người duyệt phải đăng nhập trang quản trị "
                "(social-publisher web) và bấm Duyệt bài.",
                line,
            )
        )
        return name
    if not name or not options.approvers:
        return name
    found = check_approver(name, options.approvers)
    if found.known is not None:
        return found.known
    hint = f"Có phải ý bạn là '{found.closest}'? " if found.closest else ""
    if options.approval_mode == "listed":
        verdict = (
            f"Người duyệt '{name}' không có trong danh sách người duyệt (APPROVERS) nên bài "
            f"CHƯA được tính là đã duyệt. {hint}Ghi đúng tên như trong danh sách, hoặc người "
            "duyệt duyệt bài trên trang quản trị; nếu đúng là người duyệt mới thì nhờ bộ phận "
            "kỹ thuật thêm tên vào APPROVERS."
        )
    else:
        verdict = (
            f"Người duyệt '{name}' không có trong danh sách người duyệt (APPROVERS). {hint}Bài "
            "vẫn được tính là đã duyệt, ghi đúng tên như trong tệp. Nếu gõ sai tên thì sửa lại; "
            "nếu đúng là người duyệt mới thì nhờ bộ phận kỹ thuật thêm tên vào APPROVERS."
        )
    work.warnings.append(Problem(label, verdict, line))
    return name


def header_approver(post: ScannedPost, options: ScanOptions) -> str | None:
    """Who the ``Người duyệt`` header says approved, when it counts under APPROVAL_MODE."""
    name = post.approved_by
    if not name or options.approval_mode == "console":
        return None
    if options.approval_mode == "listed" and options.approvers and name not in options.approvers:
        return None  # the scanner spelt a listed name as the list does
    return name


#: video files a post folder may hold (compared without case)
VIDEO_EXTENSIONS = (
    ".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".3gp", ".3g2", ".wmv", ".flv", ".mpg",
    ".mpeg", ".mts", ".m2ts", ".vob", ".ogv",
)  # fmt: skip


#: containers the tool reads (others: "export as MP4")
VIDEO_TAKEN = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm")


def _file_sha256(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _video(work: _Folder, text: PostText, label: str, channels: tuple[str, ...]) -> VideoRef | None:
    """The post's one video (named in ``Video:`` or the folder's only one), checked.

    Two videos without a ``Video:`` line, an unreadable or refused clip: an error, the post
    held (never published without the clip it was approved with).
    """
    videos = sorted(
        (n for n in work.files if n.casefold().endswith(VIDEO_EXTENSIONS)), key=_natural_key
    )
    line = text.lines.get("video")
    if text.video is None:
        for key in ("video_title", "video_description", "video_form"):
            if key in text.lines and not videos:
                work.errors.append(
                    Problem(
                        label,
                        f"Có mục '{display(key)}' nhưng thư mục bài không có video. Chép video "
                        "vào thư mục bài, hoặc xóa dòng này.",
                        text.lines[key],
                    )
                )
        if not videos:
            return None
        if len(videos) > 1:
            work.errors.append(
                Problem(
                    label,
                    f"Thư mục bài có {len(videos)} video ({', '.join(videos)}): mỗi bài chỉ đăng "
                    "một video. Ghi 'Video: <tên tệp>' để chọn một video, hoặc chuyển các video "
                    "kia sang thư mục bài khác.",
                )
            )
            return None
        name = videos[0]
    else:
        wanted = unicodedata.normalize("NFC", text.video.strip()).casefold()
        matches = [n for n in work.files if unicodedata.normalize("NFC", n).casefold() == wanted]
        if not matches:
            work.errors.append(
                Problem(
                    label,
                    f"Không tìm thấy video '{text.video}' trong thư mục {work.name}. Kiểm tra lại "
                    "tên tệp (cả phần đuôi .mp4, .mov…) hoặc chép video vào thư mục."
                    + (f" Video có trong thư mục: {', '.join(videos)}." if videos else ""),
                    line,
                )
            )
            return None
        name = matches[0]
        others = [n for n in videos if n != name]
        if others:
            work.warnings.append(
                Problem(
                    label,
                    f"Video có trong thư mục nhưng không ghi trong mục Video nên sẽ không được "
                    f"đăng: {', '.join(others)}.",
                    line,
                )
            )
    if not name.casefold().endswith(VIDEO_TAKEN):
        work.errors.append(
            Problem(
                work.label(name),
                f"Video '{name}' có dạng tệp công cụ không nhận. Hãy xuất lại video thành MP4 "
                "(H.264) rồi chép vào thư mục bài.",
            )
        )
        return None
    entry = work.files[name]
    if entry.is_symlink() and not _inside(Path(entry.path), work.real):
        work.errors.append(
            Problem(
                work.label(name),
                "Video này là lối tắt trỏ ra ngoài thư mục bài viết. Chép video thật vào thư mục.",
            )
        )
        return None
    try:
        size = os.stat(entry.path).st_size
        sha = _file_sha256(entry.path)
    except OSError as exc:
        work.cacheable = False
        work.errors.append(
            Problem(
                work.label(name),
                f"Không đọc được video ({exc.strerror or type(exc).__name__}). Đóng chương trình "
                "đang mở video hoặc đợi chép xong, rồi thử lại.",
            )
        )
        return None
    ref = VideoRef(
        name,
        sha,
        size,
        form=text.video_form,
        title=text.video_title,
        description=text.video_description,
        chosen_form=text.video_form,
    )
    check = work.image_check
    video_check = check.video if isinstance(check, BytesImageCheck) else None
    if video_check is None:
        return ref
    try:
        facts = video_check(entry.path, text.video_form, channels)
    except MediaError as exc:
        work.errors.append(Problem(work.label(name), exc.message))
        return None
    except Exception as exc:  # a broken library must not stop the scan
        work.errors.append(
            Problem(
                work.label(name),
                f"Không kiểm tra được video ({type(exc).__name__}). Hãy xuất lại video thành "
                "MP4 (H.264) rồi chép vào thư mục bài.",
            )
        )
        return None
    for warning in facts.get("warnings") or ():
        work.warnings.append(Problem(work.label(name), str(warning)))
    return dataclasses.replace(
        ref,
        duration=float(facts["duration"]),
        width=int(facts["width"]),
        height=int(facts["height"]),
        chosen_form=str(facts.get("form") or text.video_form or "") or None,
    )


def _video_photos(work: _Folder, refs: list[ImageRef], cover: ImageRef | None, label: str) -> None:
    """A video post carries its cover (Facebook's thumbnail, Zalo's avatar), no other photo."""
    others = [r.name for r in refs if cover is None or r.name != cover.name]
    if others:
        work.warnings.append(
            Problem(
                label,
                "Bài có video: Facebook và Zalo đăng video kèm một ảnh bìa "
                f"({cover.name if cover else 'khung hình của video'}); các ảnh khác sẽ không "
                f"được đăng: {', '.join(others)}. Muốn đăng các ảnh đó thì làm một bài riêng.",
                None,
            )
        )


def _agencies_signature(signature: str, options: ScanOptions) -> str:
    """The signature of a folder whose ``Chia sẻ`` names agencies: it also covers the
    agencies file, so a change of the file re-reads exactly those folders."""
    digest = options.agencies.digest if options.agencies is not None else "none"
    size = min(64, max(1, len(signature) // 2))  # as long as the folder's own signature
    return hashlib.blake2b(f"{signature}\0{digest}".encode(), digest_size=size).hexdigest()


def _stored_signature(signature: str, post: ScannedPost, options: ScanOptions) -> str:
    if depends_on_agencies(post.share_with):
        return _agencies_signature(signature, options)
    return signature


def _current(cached: CachedScan | None, signature: str, options: ScanOptions) -> bool:
    """Whether a cached scan still holds: same files, and (for a folder that depends on it)
    the same agencies file."""
    if cached is None:
        return False
    return cached.signature == signature or (
        cached.signature == _agencies_signature(signature, options)
    )


def content_hash(post: ScannedPost, raw_text: str | None = None) -> str:
    """sha256 of what goes out; a post with errors also hashes its raw text and problems.

    The payload is a JSON list in a fixed order (version 1): title, body,
    publish_at (UTC), channels, approver, images and cover as (name, sha256),
    link, author, description, share_with, broadcast, withdrawn.
    """
    return _hash(post, _compact_json(post.content()), raw_text)


def _hash(post: ScannedPost, content: str, raw_text: str | None) -> str:
    if post.errors:
        # the same text as encoding the longer list: "[a,b]" + ",c,d]" -> "[a,b,c,d]"
        extra = _compact_json([raw_text, [str(p) for p in post.errors]])
        content = f"{content[:-1]},{extra[1:]}"
    return hashlib.sha256(content.encode("utf-8", "surrogateescape")).hexdigest()


def _sealed(post: ScannedPost, raw: str | None) -> ScannedPost:
    """Set the content hash on a freshly built post (it is computed from the post itself)."""
    content = _compact_json(post.content())
    object.__setattr__(post, "content_hash", _hash(post, content, raw))
    object.__setattr__(post, "_content_json", content)
    return post


def read_folder(
    queue_dir: Path | str,
    name: str,
    options: ScanOptions,
    image_check: ImageCheck | None = None,
    entries: list[os.DirEntry[str]] | None = None,
) -> ScannedPost:
    """Read and validate one post folder (no cache, no guard: see :func:`scan_queue`)."""
    bad_name = _has_surrogates(name)
    work = _Folder(
        _printable(name) if bad_name else name, os.path.join(queue_dir, name), options, image_check
    )
    if bad_name:
        work.errors.append(
            Problem(
                work.name,
                "Tên thư mục có ký tự không đọc được. Đổi tên thư mục (gõ lại tên bằng bàn phím "
                "Unicode).",
            )
        )
    outside = _outside_queue(queue_dir, work)
    if outside is not None:
        return _sealed(ScannedPost(folder=work.name, errors=(outside,)), None)
    _list_files(work, entries)
    source, text, raw = _read_text(work)
    if text is None:
        post = ScannedPost(
            folder=work.name,
            source_file=source,
            errors=tuple(work.errors),
            warnings=tuple(work.warnings),
            cacheable=work.cacheable,
        )
        return _sealed(post, hashlib.sha256(raw).hexdigest() if raw else None)

    label = work.label(source or "")
    parsed = interpret(text, label, options.tz)
    work.errors.extend(parsed.errors)
    work.warnings.extend(parsed.warnings)
    if parsed.publish_at is not None and parsed.publish_at.year not in YEARS:
        work.errors.append(
            Problem(
                label,
                f"Năm {parsed.publish_at.year:04d} trong Thời gian đăng không hợp lệ: ghi năm đủ "
                "4 chữ số, ví dụ 'Thời gian đăng: 10/10/2026 07:30'.",
                parsed.lines.get("publish_at"),
            )
        )
        parsed.publish_at = None
    share_with = _share_list(work, parsed, options, label)
    approved_by = _approver(work, parsed, options, label)
    refs, _ = _images(work, parsed, label)
    cover = _cover(work, parsed, refs, label)
    description = parsed.description
    if description is None and parsed.body:
        description = first_sentence(parsed.body)
    author = parsed.author or options.default_author
    channels = parsed.channels
    video = _video(work, parsed, label, channels)
    if video is not None:
        _video_photos(work, refs, cover if parsed.cover or refs else None, label)
    _limits(work, parsed, channels, [] if video is not None else refs, author, label)
    post = ScannedPost(
        folder=work.name,
        source_file=source,
        title=parsed.title,
        body=parsed.body,
        publish_at=parsed.publish_at,
        channels=channels,
        approved_by=approved_by,
        images=tuple(refs),
        cover=cover,
        link=parsed.link,
        author=author,
        description=description,
        share_with=share_with,
        zalo_broadcast=parsed.zalo_broadcast,
        withdrawn=parsed.withdrawn,
        video=video,
        publish_at_line=parsed.lines.get("publish_at"),
        errors=_in_order(work.errors),
        warnings=_in_order(work.warnings),
        cacheable=work.cacheable,
    )
    return _sealed(post, text)


def _in_order(problems: list[Problem]) -> tuple[Problem, ...]:
    """Whole-file problems first, then by line, as staff read the file top to bottom."""
    if len(problems) < 2:
        return tuple(problems)
    return tuple(sorted(problems, key=lambda p: (p.line is not None, p.line or 0)))


def _outside_queue(queue_dir: Path | str, work: _Folder) -> Problem | None:
    """A post folder that is a symlink to somewhere outside the queue is refused: what is
    published must be what staff put in the queue."""
    if not os.path.islink(work.dir):
        return None
    if _inside(work.path, Path(queue_dir).resolve()):
        return None
    return Problem(
        work.name,
        "Thư mục bài này là lối tắt (symlink) trỏ ra ngoài thư mục hàng đợi nên không được "
        "đăng. Chép thư mục bài thật vào hàng đợi (và xóa lối tắt).",
    )


def _folder_failure(exc: BaseException) -> str:
    """Why a folder could not be read at all, for staff: the usual causes by name."""
    if isinstance(exc, OSError):
        if exc.errno == errno.ELOOP:
            return (
                "Thư mục bài là lối tắt (symlink) trỏ vòng về chính nó nên không mở được. Xóa "
                "lối tắt và chép thư mục bài thật vào hàng đợi."
            )
        if exc.errno in (errno.EACCES, errno.EPERM):
            return (
                "Không có quyền mở thư mục này. Cấp quyền đọc cho tài khoản chạy "
                "social-publisher, rồi chạy lại."
            )
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return "Thư mục vừa bị xóa hoặc đổi tên trong lúc đọc: lần quét sau sẽ đọc lại."
    return (
        f"Lỗi ngoài dự kiến khi đọc thư mục này ({type(exc).__name__}: {exc}). Các bài "
        "khác vẫn được xử lý; báo cho bộ phận kỹ thuật nếu lỗi còn lặp lại."
    )


def _crashed(name: str, exc: BaseException) -> ScannedPost:
    post = ScannedPost(
        folder=_printable(name),
        errors=(Problem(_printable(name), _folder_failure(exc)),),
        cacheable=False,
    )
    return _sealed(post, f"{type(exc).__name__}: {exc}")


# ---------------------------------------------------------------- the whole queue


@dataclass
class QueueScan:
    """Every post folder, sorted by folder name, and which ones had to be read this time."""

    root: Path
    posts: list[ScannedPost]
    read: list[str]
    keys: list[str]
    #: processes that read folders (1: this one; more: a cold scan spread over workers)
    workers: int = 1


def cache_key(root: Path, name: str) -> str:
    return f"{root.as_posix()}/{name}"


def missing_queue_problem(queue_dir: Path) -> Problem:
    if os.path.islink(queue_dir):
        return Problem(
            str(queue_dir),
            f"Thư mục hàng đợi '{queue_dir}' là lối tắt (symlink) trỏ vòng hoặc trỏ tới nơi "
            "không còn tồn tại. Sửa QUEUE_DIR trong tệp .env cho trỏ tới thư mục thật.",
        )
    return Problem(
        str(queue_dir),
        f"Không tìm thấy thư mục hàng đợi '{queue_dir}'. Kiểm tra QUEUE_DIR trong tệp .env "
        "(hoặc tùy chọn --queue), hoặc tạo thư mục này.",
    )


def list_queue(queue_dir: Path) -> tuple[Path, list[str]]:
    """The queue's resolved root and its post folder names, sorted.

    Raises :class:`~social_publisher.errors.QueueError` if the queue folder is missing.
    """
    if not queue_dir.is_dir():
        raise QueueError([missing_queue_problem(queue_dir)])
    root = queue_dir.resolve()
    names: list[str] = []
    with os.scandir(root) as entries:
        for e in entries:
            if _ignored(e.name):
                continue
            try:
                is_dir = e.is_dir()
            except OSError:  # a symlink loop: listed, so reading it reports the problem
                is_dir = e.is_symlink()
            if is_dir:
                names.append(e.name)
    names.sort()
    return root, names


def scan_queue(
    queue_dir: Path,
    options: ScanOptions,
    *,
    cache: ScanCache | None = None,
    image_check: ImageCheck | None = None,
    names: Sequence[str] | None = None,
    workers: int | None = None,
) -> QueueScan:
    """Scan every post folder under ``queue_dir`` (or only ``names``, from :func:`list_queue`:
    ingest works through a big queue in parts); raises only if the folder itself is missing.

    ``workers``: processes to read folders in (this one included); by default more
    than one only when at least :data:`PARALLEL_MIN` folders are not in the cache; never
    more than one where forking is not safe (see :mod:`.parallel`). The result is the
    same either way.
    """
    if names is None:
        root, names = list_queue(queue_dir)
    elif queue_dir.is_dir():
        root = queue_dir.resolve()
    else:
        raise QueueError([missing_queue_problem(queue_dir)])
    prefix = cache_key(root, "")
    keys = [prefix + name for name in names]
    if workers is None:
        unknown = len(names) if cache is None else sum(cache.get(k) is None for k in keys)
        workers = parallel.worker_count(unknown, PARALLEL_MIN, PARALLEL_CHUNK)
    elif not parallel.can_fork():
        workers = 1
    seed = options.fingerprint().encode("utf-8")
    # the root with one separator after it: folder paths are built by concatenation
    job = _Job(os.path.join(root, ""), names, keys, seed, options, cache, image_check)
    with _collector_paused():
        parts, workers = _run(job, workers)
    posts = [post for part_posts, _ in parts for post in part_posts]
    read = [name for _, part_read in parts for name in part_read]
    return QueueScan(root=root, posts=posts, read=read, keys=keys, workers=workers)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a scan runs.

    A scan makes no reference cycles worth collecting, but it builds thousands of
    posts that the collector would walk again and again as they pile up (a tenth of
    a cold scan's time); collection resumes when the scan is over.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


#: folders to read before a scan is shared with worker processes (below this the forks
#: cost more than they save), and folders per chunk a process takes at a time
PARALLEL_MIN = 400
PARALLEL_CHUNK = 50

#: one chunk's posts, in order, and the names of the folders that were read
_Part = tuple[list[ScannedPost], list[str]]


def _run(job: _Job, workers: int) -> tuple[list[_Part], int]:
    """The scan's parts in order, and how many processes read them."""
    if workers > 1:
        try:
            parts = parallel.share(
                len(job.names),
                PARALLEL_CHUNK,
                workers,
                here=job.here,
                work=job,
                settle=job.settle,
            )
        except OSError as exc:  # no process could be started: read everything here
            log.warning("queue scan workers not started (%s); reading in one process", exc)
        else:
            return parts, workers
    return [job.here(0, len(job.names))], 1


@dataclass(frozen=True)
class _Failed:
    """A folder that could not be read: the post saying so, and what to log (always
    logged by the scanning process, whichever process read the folder)."""

    post: ScannedPost
    summary: str
    traceback: str

    @classmethod
    def of(cls, name: str, exc: BaseException) -> _Failed:
        trace = "".join(traceback.format_exception(exc))
        return cls(_crashed(name, exc), f"{type(exc).__name__}: {exc}", trace)

    def settle(self, name: str, key: str, cache: ScanCache | None) -> ScannedPost:
        log.warning("queue folder %r could not be read: %s", name, self.summary)
        log.debug("queue folder %r traceback:\n%s", name, self.traceback)
        if cache is not None:
            cache.delete(key)  # tried again next time
        return self.post


def _from_record(result: str | dict[str, Any]) -> ScannedPost:
    """A post from its cache record (JSON text, or already decoded)."""
    return ScannedPost.from_dict(json.loads(result) if isinstance(result, str) else result)


#: what a worker sends back for one folder: ``None`` (the cached scan is current),
#: ``(signature, content_hash, record)`` (read, to be cached), a post that must not be
#: cached, or a folder that could not be read
_Outcome = tuple[str, str, str] | ScannedPost | _Failed | None


@dataclass(frozen=True)
class _Job:
    """One scan: :meth:`here` scans a range of folders in this process; a forked worker
    calls the job itself on a range, and :meth:`settle` turns what it sent into the
    same result here. The cache is only read in workers; every change is made here."""

    base: str
    names: Sequence[str]
    keys: Sequence[str]
    seed: bytes
    options: ScanOptions
    cache: ScanCache | None
    image_check: ImageCheck | None

    def here(self, start: int, stop: int) -> _Part:
        base, seed, names = self.base, self.seed, self.names[start:stop]
        # Every signature first, then the folders to read: each loop runs the same few
        # functions over and over, which a cold scan of thousands of folders notices. A
        # folder whose signature fails here is tried again (and reported) below.
        signatures: dict[str, tuple[str, list[os.DirEntry[str]]]] = {}
        for name in names:
            try:
                signatures[name] = _signature(base + name, seed)
            except Exception:  # the folder's own guard below reports it
                continue
        posts: list[ScannedPost] = []
        read: list[str] = []
        options, cache, check = self.options, self.cache, self.image_check
        for name, key in zip(names, self.keys[start:stop], strict=True):
            try:
                signature = signatures.pop(name, None) or _signature(base + name, seed)
                post = _scan_one(base, name, key, signature, options, cache, check, read)
            except Exception as exc:  # one folder never stops the others
                post = _Failed.of(name, exc).settle(name, key, cache)
            posts.append(post)
        return posts, read

    def __call__(self, start: int, stop: int) -> list[_Outcome]:
        out: list[_Outcome] = []
        cache = self.cache
        for name, key in zip(self.names[start:stop], self.keys[start:stop], strict=True):
            try:
                signature, entries = _signature(self.base + name, self.seed)
                cached = cache.get(key) if cache is not None else None
                if _current(cached, signature, self.options):
                    out.append(None)
                    continue
                post = read_folder(self.base, name, self.options, self.image_check, entries)
                if post.cacheable:  # the record is the post, and travels as one string
                    stored = _stored_signature(signature, post, self.options)
                    out.append((stored, post.content_hash, cache_record(post)))
                else:
                    object.__setattr__(post, "_content_json", "")
                    out.append(post)
            except Exception as exc:
                out.append(_Failed.of(name, exc))
        return out

    def settle(self, start: int, stop: int, outcomes: list[_Outcome]) -> _Part:
        posts: list[ScannedPost] = []
        read: list[str] = []
        for i, outcome in zip(range(start, stop), outcomes, strict=True):
            posts.append(self._settle_one(i, outcome, read))
        return posts, read

    def _settle_one(self, i: int, outcome: _Outcome, read: list[str]) -> ScannedPost:
        name, key, cache = self.names[i], self.keys[i], self.cache
        try:
            if outcome is None:  # unchanged: this process's cache has the same entry
                cached = cache.get(key) if cache is not None else None
                if cached is None:
                    raise KeyError(key)  # gone meanwhile: read the folder below
                return _from_record(cached.result)
            if isinstance(outcome, tuple):
                signature, digest, record = outcome
                read.append(name)
                if cache is not None:
                    cache.put(key, CachedScan(signature, digest, record))
                return _from_record(record)
            if isinstance(outcome, ScannedPost):
                read.append(name)
                if cache is not None:
                    cache.delete(key)
                return outcome
            return outcome.settle(name, key, cache)
        except Exception:  # a damaged cache entry: read the folder here
            posts, names_read = self.here(i, i + 1)
            read.extend(names_read)
            return posts[0]


def _scan_one(
    base: str,
    name: str,
    key: str,
    found: tuple[str, list[os.DirEntry[str]]],
    options: ScanOptions,
    cache: ScanCache | None,
    image_check: ImageCheck | None,
    read: list[str],
) -> ScannedPost:
    signature, entries = found
    if cache is not None:
        cached = cache.get(key)
        if _current(cached, signature, options):
            assert cached is not None
            try:
                return _from_record(cached.result)
            except (KeyError, TypeError, ValueError):
                pass  # an older or damaged entry: read the folder again
    post = read_folder(base, name, options, image_check, entries)
    read.append(name)
    if cache is not None:
        if post.cacheable:
            # as JSON text right away: the cache keeps one string per folder instead of a
            # tree of dicts and lists the garbage collector would walk for the whole scan
            stored = _stored_signature(signature, post, options)
            cache.put(key, CachedScan(stored, post.content_hash, cache_record(post)))
        else:
            cache.delete(key)
    object.__setattr__(post, "_content_json", "")  # the scan result need not keep it
    return post


# ---------------------------------------------------------------- state


@dataclass(frozen=True)
class Previous:
    """What the database last decided for a post: the overdue rule applies once per time."""

    state: str
    publish_at: datetime | None


@_quick_init
@dataclass(frozen=True, slots=True)
class CheckedPost:
    """A scanned post with its state decided at ``now``."""

    post: ScannedPost
    state: PostState
    notes: tuple[Problem, ...] = ()

    @property
    def folder(self) -> str:
        return self.post.folder

    @property
    def errors(self) -> tuple[Problem, ...]:
        return self.post.errors

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return self.post.warnings + self.notes

    def as_check_json(self, tz: ZoneInfo) -> dict[str, Any]:
        post = self.post
        return {
            "folder": post.folder,
            "state": self.state.value,
            "title": post.title or None,
            "publish_at": post.publish_at.astimezone(tz).isoformat() if post.publish_at else None,
            "channels": list(post.channels),
            "images": [img.name for img in post.images],
            "errors": [p.as_dict() for p in self.errors],
            "warnings": [p.as_dict() for p in self.warnings],
        }


def format_local(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime("%d/%m/%Y %H:%M")


def _late(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} phút"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} giờ"
    return f"{hours // 24} ngày"


def _held_note(post: ScannedPost, grace: timedelta, tz: ZoneInfo) -> Problem:
    assert post.publish_at is not None
    return Problem(
        post.label,
        f"Thời gian đăng {format_local(post.publish_at, tz)} đã qua hơn {_late(grace)} nên bài "
        "được giữ lại chờ quyết định. Sửa Thời gian đăng sang thời điểm mới, hoặc chạy "
        f"'social-publisher publish-now \"{post.folder}\"' để đăng ngay.",
        post.publish_at_line,
    )


class _Header:
    """The default of :func:`evaluate`'s ``approver``: the header's name as written."""


HEADER = _Header()


def _draft_note(post: ScannedPost) -> Problem:
    if post.approved_by:
        message = (
            f"Bài chưa được duyệt (dòng 'Người duyệt: {post.approved_by}' không được tính, xem "
            "cảnh báo ở trên) nên là bản nháp, sẽ không được đăng. Người duyệt duyệt bài trên "
            "trang quản trị (social-publisher web)."
        )
    else:
        message = (
            "Chưa có Người duyệt nên bài là bản nháp, sẽ không được đăng. Khi bài đã "
            "được duyệt, thêm dòng 'Người duyệt: <họ và tên>'."
        )
    return Problem(post.label, message)


def evaluate(
    post: ScannedPost,
    *,
    now: datetime,
    grace: timedelta,
    tz: ZoneInfo,
    previous: Previous | None = None,
    approver: str | _Header | None = HEADER,
) -> CheckedPost:
    """Decide the state. Errors win; then withdrawn, draft, and the overdue rule.

    The overdue rule applies when a publishing time first appears for a
    publishable post (``previous`` is what the database decided before): a
    post first seen in time that later becomes overdue because the PC was off
    stays ready, and the daemon decides what to do with it.

    ``approver`` is who approved this content, as the caller decided it (the web
    console's approval of this content hash, else :func:`header_approver`); by default
    the header's name, as before approvals on record existed.
    """
    if post.errors:
        return CheckedPost(post, PostState.ERROR)
    if post.withdrawn:
        return CheckedPost(post, PostState.WITHDRAWN)
    if not (post.approved_by if isinstance(approver, _Header) else approver):
        return CheckedPost(post, PostState.DRAFT, (_draft_note(post),))
    assert post.publish_at is not None  # no errors: the time parsed
    if (
        previous is not None
        and previous.state in (PostState.READY, PostState.HELD)
        and previous.publish_at == post.publish_at
    ):
        if previous.state == PostState.HELD:
            return CheckedPost(post, PostState.HELD, (_held_note(post, grace, tz),))
        return CheckedPost(post, PostState.READY)
    late = now - post.publish_at
    if late > grace:
        return CheckedPost(post, PostState.HELD, (_held_note(post, grace, tz),))
    if late <= _NO_TIME and -late <= FAR_FUTURE:
        return CheckedPost(post, PostState.READY)  # the usual case, decided without formatting
    when = format_local(post.publish_at, tz)
    if late > _NO_TIME:
        return CheckedPost(
            post,
            PostState.READY,
            (
                Problem(
                    post.label,
                    f"Thời gian đăng {when} đã qua {_late(late)}: bài sẽ được đăng ngay. Nếu "
                    "không muốn, sửa Thời gian đăng hoặc thêm dòng 'Trạng thái: hủy'.",
                    post.publish_at_line,
                ),
            ),
        )
    if post.publish_at - now > FAR_FUTURE:
        return CheckedPost(
            post,
            PostState.READY,
            (
                Problem(
                    post.label,
                    f"Thời gian đăng {when} còn hơn một năm nữa. Kiểm tra lại năm đã ghi.",
                    post.publish_at_line,
                ),
            ),
        )
    return CheckedPost(post, PostState.READY)


def evaluate_all(
    posts: Iterable[ScannedPost],
    *,
    now: datetime,
    grace: timedelta,
    tz: ZoneInfo,
    previous: dict[str, Previous] | None = None,
    approver: Callable[[ScannedPost], str | None] | None = None,
) -> list[CheckedPost]:
    """:func:`evaluate` for each post; ``approver`` decides each post's approver."""
    known = previous or {}
    if approver is None:
        return [
            evaluate(p, now=now, grace=grace, tz=tz, previous=known.get(p.folder)) for p in posts
        ]
    return [
        evaluate(p, now=now, grace=grace, tz=tz, previous=known.get(p.folder), approver=approver(p))
        for p in posts
    ]
