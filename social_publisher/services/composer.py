"""The console's ``Soạn bài``: writes a queue folder in exactly the staff format.

The folder stays the one source of truth: the composer writes ``bai-viet.txt`` (the
header lines staff write by hand, a blank line, the body) and the photos under safe
ASCII names, then ingest reads it like any other folder and ``check`` judges it. Editing
a post edits its folder. Nothing is ever written outside ``QUEUE_DIR``: a new folder is
built under a hidden name (the scanner skips names starting with a dot) and renamed
into place whole; an edit writes hidden temporary files and renames each over.

Uploads are checked as the queue checks photos (``media.check_image``: real format
from the content, size, pixel cap, decompression bombs) plus a size cap per file
(``WEB_UPLOAD_MAX_MB``), and named from their content's format, never the sender's.
The console never writes ``Người duyệt``: approval is given in the console, and an edit
made there needs a new one.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from ..config import Settings
from ..errors import MediaError, QueueError, SocialPublisherError
from ..numbers import vn_megabytes
from ..platforms import CHANNELS, FACEBOOK_MAX_PHOTOS
from ..queue import TEXT_FILE_NAMES, decode_text, format_datetime, read_datetime
from ..queue.parser import parse_text, valid_link
from ..queue.scanner import is_image_name
from ..states import LIVE_STATES, PubState
from ..store import ConsoleWrite, Database, Post, Publication
from ..store.lifecycle import audit
from .approvals import record_write
from .scope import Permission, Scope

#: content format (``media.check_image``) → the extension the queue reads it by
FORMAT_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "HEIF": ".heic"}
FOLDER_MAX = 60
TEXT_FILE = TEXT_FILE_NAMES[0]


class ComposeRefused(SocialPublisherError):
    """The form cannot be saved as it is; ``problems`` say what to fix, field by field."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__(" ".join(message for _, message in self.problems))


@dataclass(frozen=True)
class Upload:
    """A photo sent with the form: the name the sender gave it and its bytes."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class Photo:
    """One photo of the post, in order: a file already in the folder, or an upload."""

    existing: str | None = None
    upload: Upload | None = None


@dataclass
class Draft:
    """The composer form's values (what staff typed and chose)."""

    title: str = ""
    when: str = ""
    channels: list[str] = field(default_factory=lambda: list(CHANNELS))
    body: str = ""
    link: str = ""
    #: ``mac-dinh`` (DEFAULT_SHARE_WITH), ``khong``, ``tat-ca`` or ``chon`` (``share_ids``)
    share_mode: str = "mac-dinh"
    share_ids: list[str] = field(default_factory=list)
    photos: list[Photo] = field(default_factory=list)
    #: index into ``photos`` of the Zalo cover (None: the first photo)
    cover: int | None = None
    zalo_broadcast: bool = False


@dataclass(frozen=True)
class Saved:
    post_id: int | None
    folder: str
    created: bool
    notes: list[str]


# ------------------------------------------------------------------ names


def slug(text: str) -> str:
    """ASCII, lower case, dashes (``Ngày CĐS 10/10`` → ``ngay-cds-10-10``)."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def _inside(root: Path, name: str) -> Path:
    """``root/name``, refused unless it is a direct child of ``root`` (no ``..``, no ``/``)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ComposeRefused([("", f"Tên '{name}' không hợp lệ.")])
    path = root / name
    if path.resolve().parent != root.resolve():
        raise ComposeRefused([("", f"Tên '{name}' không hợp lệ.")])
    return path


def _photo_name(upload: Upload, extension: str, taken: set[str]) -> str:
    stem = slug(Path(upload.filename).stem)[:40] or "anh"
    name, n = f"{stem}{extension}", 2
    while name.casefold() in taken:
        name, n = f"{stem}-{n}{extension}", n + 1
    taken.add(name.casefold())
    return name


def new_folder_name(queue_dir: Path, title: str, when: datetime | None, tz: object) -> str:
    day = when.astimezone(tz).strftime("%Y-%m-%d-") if when is not None else ""  # type: ignore[arg-type]
    base = (day + slug(title))[:FOLDER_MAX].strip("-") or "bai-viet"
    name, n = base, 2
    while (queue_dir / name).exists():
        name, n = f"{base}-{n}", n + 1
    return name


# ------------------------------------------------------------------ checks


def check_upload(upload: Upload, settings: Settings) -> str:
    """The queue extension of an acceptable photo; MediaError (Vietnamese) otherwise."""
    from ..media import check_image

    shown = Path(upload.filename).name or "ảnh"
    limit = settings.web_upload_max_mb * 1024 * 1024
    if len(upload.data) > limit:
        raise MediaError(
            f"Ảnh '{shown}' nặng {vn_megabytes(len(upload.data), binary=True)}, quá giới hạn "
            f"{settings.web_upload_max_mb} MB của trang quản trị. Chọn ảnh nhỏ hơn (ảnh chụp "
            "điện thoại thường dưới 10 MB).",
            path=shown,
        )
    info = check_image(shown, max_pixels=settings.media_max_pixels, data=upload.data)
    extension = FORMAT_EXTENSIONS.get(info.format)
    if extension is None:
        raise MediaError(
            f"Ảnh '{shown}' có định dạng {info.format}: hàng đợi chỉ nhận JPEG, PNG, HEIC, "
            "WebP hoặc GIF. Lưu ảnh sang JPEG rồi tải lên lại.",
            path=shown,
        )
    return extension


def _validate(draft: Draft, settings: Settings) -> tuple[datetime | None, list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    if not draft.title.strip():
        problems.append(("title", "Cần có tiêu đề bài."))
    when = None
    if not draft.when.strip():
        problems.append(("when", "Cần chọn thời gian đăng."))
    else:
        reading = read_datetime(draft.when.strip(), settings.tz)
        if reading.value is None:
            problems.append(("when", f"Thời gian đăng '{draft.when.strip()}' {reading.problem}"))
        when = reading.value
    if not draft.channels or any(c not in CHANNELS for c in draft.channels):
        problems.append(("channels", "Chọn ít nhất một kênh: Facebook, Zalo hoặc cả hai."))
    if not draft.body.strip():
        problems.append(("body", "Nội dung bài đang trống."))
    if draft.link.strip() and not valid_link(draft.link.strip()):
        problems.append(
            ("link", "Liên kết cần là một địa chỉ đầy đủ bắt đầu bằng http:// hoặc https://.")
        )
    if len(draft.photos) > FACEBOOK_MAX_PHOTOS:
        problems.append(("photos", f"Tối đa {FACEBOOK_MAX_PHOTOS} ảnh một bài."))
    if draft.share_mode == "chon" and not draft.share_ids:
        problems.append(("share", "Chọn ít nhất một đơn vị chia sẻ, hoặc chọn 'Theo mặc định'."))
    for line in (draft.title, draft.link, *draft.share_ids):
        if "\n" in line or "\r" in line:
            problems.append(("title", "Tiêu đề, liên kết và đơn vị chỉ được viết trên một dòng."))
            break
    return when, problems


# ------------------------------------------------------------------ the text file


def post_text(
    draft: Draft, when: datetime, photo_names: Sequence[str], cover: str | None,
    tz: object, keep: Sequence[tuple[str, str]] = (),
) -> str:  # fmt: skip
    """``bai-viet.txt`` as staff write it: header lines, a blank line, the body."""
    lines = [
        f"Tiêu đề: {' '.join(draft.title.split())}",
        f"Thời gian đăng: {format_datetime(when, tz)}",  # type: ignore[arg-type]
        f"Kênh: {', '.join(c for c in CHANNELS if c in draft.channels)}",
    ]
    if photo_names:
        lines.append(f"Ảnh: {', '.join(photo_names)}")
        if cover and cover != photo_names[0]:
            lines.append(f"Ảnh bìa: {cover}")
    if draft.link.strip():
        lines.append(f"Liên kết: {draft.link.strip()}")
    if draft.share_mode == "khong":
        lines.append("Chia sẻ: khong")
    elif draft.share_mode == "tat-ca":
        lines.append("Chia sẻ: tat-ca")
    elif draft.share_mode == "chon":
        lines.append(f"Chia sẻ: {', '.join(dict.fromkeys(draft.share_ids))}")
    if draft.zalo_broadcast:
        lines.append("Gửi tin Zalo: có")
    lines.extend(f"{key}: {value}" for key, value in keep)
    body = unicodedata.normalize("NFC", draft.body.replace("\r\n", "\n").replace("\r", "\n"))
    return unicodedata.normalize("NFC", "\n".join(lines)) + "\n\n" + body.strip("\n") + "\n"


#: header fields the form does not show: an edit keeps them as they were written
_KEPT = ("author", "description", "status")


def _text_file(folder: Path) -> Path | None:
    for name in TEXT_FILE_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def _kept_fields(path: Path | None) -> list[tuple[str, str]]:
    if path is None:
        return []
    try:
        text, _ = decode_text(path.read_bytes())
    except (OSError, QueueError, ValueError):
        return []
    parsed = parse_text(text, path.name)
    return [(f.written, f.value) for name, f in parsed.fields.items() if name in _KEPT and f.value]


# ------------------------------------------------------------------ save


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _editable(db: Database, scope: Scope, post_id: int, expected_hash: str | None) -> str:
    with db.session() as session:
        post = session.scalars(
            select(Post).where(Post.id == post_id, scope.posts(Post))
        ).one_or_none()
        if post is None:
            raise ComposeRefused([("", "Không tìm thấy bài này.")])
        version = post.current_version
        if expected_hash is not None and (version is None or version.content_hash != expected_hash):
            raise ComposeRefused(
                [
                    (
                        "",
                        "Bài vừa được sửa ở nơi khác trong lúc bạn sửa: mở lại bài, sửa trên "
                        "bản mới.",
                    )
                ]
            )
        busy = session.scalars(
            select(Publication.channel).where(
                Publication.post_id == post.id,
                Publication.state.in_([*[s.value for s in LIVE_STATES], PubState.PUBLISHING.value]),
            )
        ).all()
        if busy:
            raise ComposeRefused(
                [("", "Bài đã đăng (hoặc đang được gửi đi): không sửa ở đây được. Muốn gỡ bài "
                  "đã đăng thì dùng nút Gỡ bài trên trang của bài.")]
            )  # fmt: skip
        return post.folder


def save(
    db: Database,
    settings: Settings,
    scope: Scope,
    draft: Draft,
    *,
    now: datetime,
    post_id: int | None = None,
    expected_hash: str | None = None,
) -> Saved:
    """Write (or rewrite) the post's folder, then let ingest read it at once (into ``db``'s
    unit: a ward's account writes into its own unit's queue only)."""
    scope.require(Permission.WRITE, db.unit)
    when, problems = _validate(draft, settings)
    extensions: dict[int, str] = {}
    for index, photo in enumerate(draft.photos):
        if photo.upload is not None:
            try:
                extensions[index] = check_upload(photo.upload, settings)
            except MediaError as exc:
                problems.append(("photos", exc.message))
    queue_dir = settings.queue_dir
    if not queue_dir.is_dir():
        problems.append(("", f"Không tìm thấy thư mục hàng đợi '{queue_dir}' (QUEUE_DIR)."))
    folder_name = _editable(db, scope, post_id, expected_hash) if post_id is not None else None
    existing_dir = _inside(queue_dir, folder_name) if folder_name else None
    if existing_dir is not None and not existing_dir.is_dir():
        problems.append(("", f"Thư mục bài '{folder_name}' không còn trong hàng đợi."))
    for photo in draft.photos:
        if photo.existing is not None and (
            existing_dir is None or not (_inside(existing_dir, photo.existing)).is_file()
        ):
            problems.append(("photos", f"Ảnh '{photo.existing}' không còn trong thư mục bài."))
    if problems or when is None:
        raise ComposeRefused(problems)

    tz = settings.tz
    created = existing_dir is None
    if created:
        folder_name = new_folder_name(queue_dir, draft.title, when, tz)
        target = _inside(queue_dir, f".dang-soan-{secrets.token_hex(6)}")
        target.mkdir()
        text_name = TEXT_FILE
        taken: set[str] = set()
        kept: list[tuple[str, str]] = []
    else:
        assert existing_dir is not None
        target = existing_dir
        source = _text_file(existing_dir)
        text_name = source.name if source is not None else TEXT_FILE
        taken = {p.existing.casefold() for p in draft.photos if p.existing}
        kept = _kept_fields(source)
    assert folder_name is not None
    try:
        names: list[str] = []
        for index, photo in enumerate(draft.photos):
            if photo.existing is not None:
                names.append(photo.existing)
                continue
            assert photo.upload is not None
            name = _photo_name(photo.upload, extensions[index], taken)
            _write_atomic(_inside(target, name), photo.upload.data)
            names.append(name)
        cover = names[draft.cover] if draft.cover is not None and draft.cover < len(names) else None
        text = post_text(draft, when, names, cover, tz, kept)
        _write_atomic(_inside(target, text_name), text.encode("utf-8"))
        wanted = {n.casefold() for n in names}
        for entry in target.iterdir():
            if (
                entry.is_file()
                and is_image_name(entry.name)
                and entry.name.casefold() not in wanted
            ):
                entry.unlink()  # a photo taken out of the post
        if created:
            os.rename(target, _inside(queue_dir, folder_name))
    except BaseException:
        if created:
            shutil.rmtree(target, ignore_errors=True)
        raise
    return _record(db, settings, scope, folder_name, created, now)


def _record(
    db: Database, settings: Settings, scope: Scope, folder: str, created: bool, now: datetime
) -> Saved:
    from .ingest import ingest

    notes: list[str] = []
    with db.session() as session:
        record_write(session, scope, folder=folder, action="create" if created else "edit", now=now)
    try:
        ingest(db, settings, now=now)
    except SocialPublisherError as exc:
        notes.append(
            f"Đã lưu thư mục bài; chương trình sẽ đọc lại ở lượt quét sau ({exc.message})."
        )
    with db.session() as session:
        post = session.scalars(select(Post).where(Post.folder == folder)).first()
        if post is None:
            return Saved(None, folder, created, notes)
        digest = post.current_version.content_hash if post.current_version else None
        write = session.scalars(
            select(ConsoleWrite)
            .where(ConsoleWrite.folder == folder, ConsoleWrite.account == scope.account)
            .order_by(ConsoleWrite.id.desc())
        ).first()
        if write is not None:
            write.post_id, write.content_hash = post.id, digest
        audit(
            session, scope.actor, "console_write", post_id=post.id, at=now, folder=folder,
            action="create" if created else "edit", content_hash=digest,
        )  # fmt: skip
        if not created:
            notes.append("Đã lưu bài. Bài đã sửa cần được duyệt lại trước khi đăng.")
        else:
            notes.append("Đã lưu bài mới. Bài chờ người duyệt duyệt trên trang này.")
        return Saved(post.id, folder, created, notes)


# ------------------------------------------------------------------ the edit form


@dataclass
class EditForm:
    draft: Draft
    existing: list[str]
    cover: str | None
    content_hash: str | None
    folder: str


def local_input(when: datetime | None, tz: object) -> str:
    """A time as ``<input type=datetime-local>`` wants it (local, to the minute)."""
    if when is None:
        return ""
    return when.astimezone(tz).strftime("%Y-%m-%dT%H:%M")  # type: ignore[arg-type]


def edit_form(db: Database, settings: Settings, scope: Scope, post_id: int) -> EditForm:
    """The form filled from the post's folder as it is now (the folder is the truth)."""
    scope.require(Permission.WRITE)
    with db.session() as session:
        post = session.scalars(
            select(Post).where(Post.id == post_id, scope.posts(Post))
        ).one_or_none()
        if post is None:
            raise ComposeRefused([("", "Không tìm thấy bài này.")])
        version = post.current_version
        folder = post.folder
        images = [str(i["name"]) for i in (version.images if version else []) or []]
        cover = version.cover if version else None
        digest = version.content_hash if version else None
    source = _text_file(settings.queue_dir / folder)
    draft = Draft()
    if source is not None:
        text, _ = decode_text(source.read_bytes())
        parsed = parse_text(text, source.name)
        value = {name: f.value for name, f in parsed.fields.items()}.get
        draft.title = value("title") or ""
        written = value("publish_at") or ""
        reading = read_datetime(written, settings.tz) if written else None
        draft.when = (
            local_input(reading.value, settings.tz) if reading and reading.value else written
        )
        channels = value("channels")
        if channels:
            draft.channels = [c for c in CHANNELS if c in channels.lower()]
        draft.body = parsed.body
        draft.link = value("link") or ""
        share = value("share_with")
        if share:
            folded = slug(share)
            if folded in ("khong", "none"):
                draft.share_mode = "khong"
            elif folded in ("tat-ca", "all"):
                draft.share_mode = "tat-ca"
            else:
                draft.share_mode = "chon"
                draft.share_ids = [p.strip() for p in share.split(",") if p.strip()]
        broadcast = value("zalo_broadcast")
        draft.zalo_broadcast = bool(broadcast) and slug(broadcast or "") in ("co", "yes", "true")
    draft.photos = [Photo(existing=name) for name in images]
    if cover in images:
        draft.cover = images.index(cover)
    return EditForm(draft, images, cover, digest, folder)
