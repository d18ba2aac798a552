"""Read the header block and body of one post's text (already decoded to NFC).

The format is the staff contract, content_queue/README.md: ``Key: value``
lines, one blank line, then the body exactly as it should appear. Keys may be
Vietnamese or English and are matched without case or accents, because staff
type on whatever keyboard layout the office PC happens to have. Every problem
is a :class:`~social_publisher.errors.Problem` in Vietnamese naming the file,
the line and the fix; parsing never raises on bad input.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

from ..errors import Problem
from ..platforms import CHANNELS, ZALO_MAX_DESCRIPTION
from .dates import DATE_FORMAT_HINT, read_datetime

#: longest approver / author name the record keeps (a name, not a paragraph)
NAME_MAX = 200

#: field -> (Vietnamese display name, English name); order is the order staff see them in
FIELDS: dict[str, tuple[str, str]] = {
    "title": ("Tiêu đề", "title"),
    "publish_at": ("Thời gian đăng", "publish_at"),
    "channels": ("Kênh", "channels"),
    "approved_by": ("Người duyệt", "approved_by"),
    "images": ("Ảnh", "images"),
    "cover": ("Ảnh bìa", "cover"),
    "video": ("Video", "video"),
    "video_title": ("Tiêu đề video", "video_title"),
    "video_description": ("Mô tả video", "video_description"),
    "video_form": ("Dạng video", "video_form"),
    "link": ("Liên kết", "link"),
    "author": ("Tác giả", "author"),
    "description": ("Mô tả", "description"),
    "share_with": ("Chia sẻ", "share_with"),
    "zalo_broadcast": ("Gửi tin Zalo", "zalo_broadcast"),
    "status": ("Trạng thái", "status"),
}


@lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """Lower-case, accent-free, single-spaced: how keys and keyword values are compared."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[_\-.]+", " ", bare.casefold()).split())


#: folded alias -> (field, the alias as staff would write it)
_ALIASES: dict[str, tuple[str, str]] = {}
for _name, (_vi, _en) in FIELDS.items():
    _ALIASES[fold(_vi)] = (_name, _vi)
    _ALIASES[fold(_en)] = (_name, _en)


#: ``Dạng video`` values (folded) -> the form (``media.video.rules`` FORM_REELS / FORM_FEED)
VIDEO_FORMS = {
    "reels": "reels",
    "reel": "reels",
    "thuong": "thường",
    "binh thuong": "thường",
    "video thuong": "thường",
    "feed": "thường",
}


def display(field_name: str) -> str:
    return FIELDS[field_name][0]


_VALID_KEYS = ", ".join(vi for vi, _ in FIELDS.values())


class HeaderField(NamedTuple):
    """One ``Key: value`` line (a NamedTuple: built for every header line of every post)."""

    name: str
    written: str  # the key exactly as staff wrote it
    value: str
    line: int


#: ``HeaderField(...)`` without its Python-level ``__new__`` (one per header line, per post)
_header_field = tuple.__new__


@dataclass
class ParsedText:
    """The header fields (by canonical name), the body, and the problems found."""

    fields: dict[str, HeaderField] = field(default_factory=dict)
    body: str = ""
    body_line: int | None = None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    #: fields a misspelled key was taken for (their "missing" error would repeat it)
    suggested: set[str] = field(default_factory=set)
    #: a header line without "Key:" was found (most often: no blank line before the body)
    bad_line: bool = False

    def value(self, name: str) -> str | None:
        found = self.fields.get(name)
        return found.value if found else None

    def line(self, name: str) -> int | None:
        found = self.fields.get(name)
        return found.line if found else None


_APPROVAL_KEYS = ("người duyệt", "approved by")
_USUAL_APPROVAL_KEYS = frozenset(("Người duyệt", "approved_by"))


def approval_key_ok(written: str) -> bool:
    """``Người duyệt`` spelt right (any case or spacing), typed with no accents at all
    (``Nguoi duyet``: a PC without a Vietnamese keyboard), or ``approved_by``.

    Other keys may carry wrong accents, but this one is the approval itself: a key that
    only looks like it (``Ngưoi duyêt``) is a mistake to fix, never an approval.
    """
    if written in _USUAL_APPROVAL_KEYS:
        return True
    spaced = " ".join(re.sub(r"[_\-.]+", " ", written.casefold()).split())
    if spaced in _APPROVAL_KEYS:
        return True
    plain = unicodedata.normalize("NFD", written)
    return plain.isascii() and fold(written) == "nguoi duyet"


def suggest_key(written: str) -> str | None:
    """The known key closest to a misspelled one, as staff would write it."""
    close = difflib.get_close_matches(fold(written), list(_ALIASES), n=1, cutoff=0.6)
    return _ALIASES[close[0]][1] if close else None


def parse_text(text: str, file: str) -> ParsedText:
    """Split ``text`` into header fields and body; ``file`` names it in problems."""
    parsed = ParsedText()
    lines = text.split("\n")
    count = len(lines)
    index = 0
    # ``not line or line.isspace()`` is ``not line.strip()`` without the copy
    while index < count and (not lines[index] or lines[index].isspace()):
        index += 1
    if index == count:
        parsed.errors.append(
            Problem(
                file,
                "Tệp bài viết đang trống. Ghi phần đầu (Tiêu đề, Thời gian đăng, Người duyệt…), "
                "một dòng trống, rồi nội dung bài.",
            )
        )
        return parsed

    fields = parsed.fields
    bad_line_reported = False
    while index < count:
        raw = lines[index]
        if not raw or raw.isspace():
            break  # the blank line that ends the header
        index += 1
        number = index  # 1-based
        key, colon, value = raw.partition(":")
        key = key.strip()
        if not colon or not key:
            if not bad_line_reported:
                parsed.errors.append(
                    Problem(
                        file,
                        f"Dòng {number} không đúng dạng 'Tên mục: giá trị' (ví dụ 'Tiêu đề: …'). "
                        "Nếu đây là nội dung bài, hãy để một dòng trống giữa phần đầu và "
                        "nội dung.",
                        number,
                    )
                )
                bad_line_reported = True
                parsed.bad_line = True
            continue
        value = value.strip()
        alias = _ALIASES.get(fold(key))
        if alias is None:
            suggestion = suggest_key(key)
            if suggestion:
                parsed.suggested.add(_ALIASES[fold(suggestion)][0])
            hint = (
                f"Có phải ý bạn là '{suggestion}'? Sửa lại tên mục."
                if suggestion
                else f"Các mục dùng được: {_VALID_KEYS}."
            )
            parsed.errors.append(
                Problem(
                    file,
                    f"Mục '{key}' không có trong mẫu bài viết. {hint} Nếu đây là nội dung bài, "
                    "hãy để một dòng trống giữa phần đầu và nội dung.",
                    number,
                )
            )
            continue
        name = alias[0]
        if name == "approved_by" and not approval_key_ok(key):
            parsed.suggested.add(name)
            parsed.errors.append(
                Problem(
                    file,
                    f"Mục '{key}' gần giống 'Người duyệt' nhưng sai dấu, nên không được tính là "
                    "bài đã duyệt. Có phải ý bạn là 'Người duyệt'? Sửa lại tên mục (gõ đủ dấu "
                    "'Người duyệt', hoặc không dấu 'Nguoi duyet').",
                    number,
                )
            )
            continue
        earlier = fields.get(name)
        if earlier is not None:
            parsed.errors.append(
                Problem(
                    file,
                    f"Mục '{display(name)}' được ghi hai lần (dòng {earlier.line} và dòng "
                    f"{number}). Chỉ giữ lại một dòng.",
                    number,
                )
            )
            continue
        fields[name] = _header_field(HeaderField, (name, key, value, number))

    # ``index`` is at the blank separator line (or past the end); the body follows it.
    while index < count and (not lines[index] or lines[index].isspace()):
        index += 1
    if index < count:
        parsed.body_line = index + 1
        parsed.body = "\n".join(lines[index:]).rstrip()
    return parsed


# ---------------------------------------------------------------- values


def parse_publish_at(value: str, tz: tzinfo) -> tuple[datetime | None, str | None]:
    """``(aware datetime, None)``, or ``(None, Vietnamese reason)``: :func:`.dates.read_datetime`
    with the message staff see for ``Thời gian đăng``."""
    reading = read_datetime(value, tz)
    if reading.value is not None:
        return reading.value, None
    return None, f"Thời gian đăng '{value.strip()}' {reading.problem}"


_CHANNEL_HINTS = {"fb": "facebook", "face book": "facebook", "zalo oa": "zalo", "oa": "zalo"}


def parse_channels(value: str) -> tuple[tuple[str, ...], list[str]]:
    """Channels in canonical order, and one Vietnamese reason per unknown entry."""
    channels, bad = _channels(value)
    return channels, list(bad)


@lru_cache(maxsize=256)
def _channels(value: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """:func:`parse_channels`, remembered: nearly every post writes the same few values."""
    channels, bad = _parse_channels(value)
    return channels, tuple(bad)


def _parse_channels(value: str) -> tuple[tuple[str, ...], list[str]]:
    wanted: set[str] = set()
    bad: list[str] = []
    items = split_list(value)
    if not items:
        return (), [
            "Mục Kênh đang để trống. Ghi 'facebook, zalo' (hoặc xóa dòng này để đăng cả hai kênh)."
        ]
    for item in items:
        key = " ".join(item.casefold().split())
        if key in CHANNELS:
            wanted.add(key)
            continue
        guess = _CHANNEL_HINTS.get(key) or next(
            iter(difflib.get_close_matches(key, CHANNELS, n=1, cutoff=0.5)), None
        )
        hint = f"Có phải ý bạn là '{guess}'? " if guess else ""
        bad.append(
            f"Kênh '{item}' không có. {hint}Chỉ dùng facebook và/hoặc zalo, cách nhau bằng "
            "dấu phẩy."
        )
    return tuple(c for c in CHANNELS if c in wanted), bad


_YES = {"co", "yes", "y", "true", "1", "x", "gui"}
_NO = {"khong", "no", "n", "false", "0", "ko", "k"}


def parse_yes_no(value: str) -> bool | None:
    folded = fold(value)
    if folded in _YES:
        return True
    if folded in _NO:
        return False
    return None


_WITHDRAW = {"huy", "da huy", "huy bai", "cancel", "cancelled", "canceled", "withdrawn"}


def is_withdraw(value: str) -> bool:
    return fold(value) in _WITHDRAW


_LIST_SEPARATOR = re.compile(r"[,;]")


def split_list(value: str) -> list[str]:
    return [item for item in map(str.strip, _LIST_SEPARATOR.split(value)) if item]


@lru_cache(maxsize=256)
def _unique_list(value: str) -> tuple[str, ...]:
    """The items of a list value, each once (``Chia sẻ`` repeats from post to post)."""
    return tuple(dict.fromkeys(split_list(value)))


def valid_link(value: str) -> bool:
    if any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


DESCRIPTION_DEFAULT_MAX = ZALO_MAX_DESCRIPTION
_SENTENCE_END = re.compile(r"[.!?…](?=[\s\"'”’)]|$)")


def first_sentence(body: str, limit: int = DESCRIPTION_DEFAULT_MAX) -> str:
    """The Zalo description when staff give none: the body's first sentence, cut to fit.

    Whitespace runs count as one space. The sentence end is found before they are
    collapsed, and only the sentence is collapsed (a long body is not split into words
    to keep a few): the same result, since ``\\s`` and ``str.split`` agree on what
    whitespace is, and a sentence end is followed by whitespace (or the end) either way.
    """
    paragraph = body.strip()
    end = paragraph.find("\n\n")  # the first paragraph, without splitting the others off
    if end >= 0:
        paragraph = paragraph[:end]
    match = _SENTENCE_END.search(paragraph)
    sentence = " ".join((paragraph[: match.end()] if match else paragraph).split())
    if len(sentence) <= limit:
        return sentence
    cut = sentence[: limit - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


# ---------------------------------------------------------------- interpretation


@dataclass
class PostText:
    """What the text file says, checked value by value; defaults are applied by the scanner."""

    title: str = ""
    body: str = ""
    publish_at: datetime | None = None
    channels: tuple[str, ...] = CHANNELS
    approved_by: str | None = None
    #: None: not given (all images in the folder); [] given empty (no images)
    images: list[str] | None = None
    cover: str | None = None
    #: the video file named in ``Video:`` (None: the folder's only video, if any)
    video: str | None = None
    video_title: str | None = None
    video_description: str | None = None
    #: ``Dạng video``: FORM_REELS or FORM_FEED (None: chosen from the clip)
    video_form: str | None = None
    link: str | None = None
    author: str | None = None
    description: str | None = None
    share_with: list[str] | None = None
    zalo_broadcast: bool = False
    withdrawn: bool = False
    lines: dict[str, int] = field(default_factory=dict)
    body_line: int | None = None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


#: what staff write in ``Người duyệt`` when nobody approved yet: never an approval
_NOT_A_NAME = frozenset(
    {"chua", "chua duyet", "chua co", "cho duyet", "dang duyet", "khong", "khong co", "ko"}
    | {"?", "??", "…"}
)


@dataclass(frozen=True)
class ApproverCheck:
    """How a ``Người duyệt`` name compares with the approvers list (``APPROVERS``)."""

    #: the name as the list spells it (None: not on the list)
    known: str | None
    #: the closest name on the list, for an unknown one
    closest: str | None = None


def check_approver(name: str, approvers: tuple[str, ...]) -> ApproverCheck:
    """Match ``name`` against the list without case, accents or extra spaces."""
    keys = {fold(known): known for known in approvers}
    found = keys.get(fold(name))
    if found is not None:
        return ApproverCheck(found)
    close = difflib.get_close_matches(fold(name), list(keys), n=1, cutoff=0.7)
    return ApproverCheck(None, keys[close[0]] if close else None)


def interpret(text: str, file: str, tz: tzinfo) -> PostText:
    """Parse and check every header value of one post file."""
    parsed = parse_text(text, file)
    post = PostText(
        body=parsed.body,
        body_line=parsed.body_line,
        errors=parsed.errors,
        warnings=parsed.warnings,
        lines={name: f.line for name, f in parsed.fields.items()},
    )
    # parsed.value, without a method call per field (this runs for every post, every scan)
    value = {name: f.value for name, f in parsed.fields.items()}.get

    def error(message: str, name: str | None = None) -> None:
        post.errors.append(Problem(file, message, parsed.line(name) if name else None))

    if not parsed.fields and not parsed.body:
        return post  # empty file: parse_text already said so

    title = value("title")
    if title is None:
        if "title" not in parsed.suggested:  # else the misspelled key's error says it
            error("Thiếu tiêu đề. Thêm dòng 'Tiêu đề: …' vào phần đầu tệp.")
    elif not title:
        error("Tiêu đề đang để trống. Ghi tiêu đề bài sau dấu hai chấm.", "title")
    post.title = title or ""

    when = value("publish_at")
    if when is None and "publish_at" in parsed.suggested:
        pass  # the misspelled key's own error says what to fix
    elif when is None:
        error(
            "Thiếu thời gian đăng. Thêm dòng 'Thời gian đăng: dd/mm/yyyy HH:MM', "
            "ví dụ 'Thời gian đăng: 10/12/2026 07:30'."
        )
    elif not when:
        error(
            f"Thời gian đăng đang để trống. Ghi theo dạng {DATE_FORMAT_HINT}.",
            "publish_at",
        )
    else:
        post.publish_at, reason = parse_publish_at(when, tz)
        if reason:
            error(reason, "publish_at")

    channels = value("channels")
    if channels is not None:
        post.channels, reasons = _channels(channels)
        for reason in reasons:
            error(reason, "channels")

    post.approved_by = value("approved_by") or None
    if post.approved_by and fold(post.approved_by) in _NOT_A_NAME:
        error(
            f"Người duyệt ghi '{post.approved_by}': đây không phải họ tên người duyệt. Bài chưa "
            "được duyệt thì xóa dòng này (bài là bản nháp); đã duyệt thì ghi họ và tên người "
            "duyệt.",
            "approved_by",
        )
        post.approved_by = None
    elif post.approved_by and len(post.approved_by) > NAME_MAX:
        error(
            f"Tên người duyệt dài {len(post.approved_by)} ký tự (tối đa {NAME_MAX}). Chỉ ghi họ "
            "và tên người duyệt.",
            "approved_by",
        )

    images = value("images")
    if images is not None:
        post.images = [] if fold(images) in ("khong", "none", "no") else split_list(images)
    post.cover = value("cover") or None
    post.video = value("video") or None
    post.video_title = value("video_title") or None
    post.video_description = value("video_description") or None
    form = value("video_form")
    if form:
        post.video_form = VIDEO_FORMS.get(fold(form))
        if post.video_form is None:
            error(
                f"Dạng video '{form}' không hợp lệ: ghi 'reels' (video dọc ngắn, 3–90 giây) "
                "hoặc 'thường' (video đăng lên trang). Bỏ dòng này để công cụ tự chọn theo "
                "hình dạng và độ dài video.",
                "video_form",
            )

    link = value("link")
    if link:
        if valid_link(link):
            post.link = link
        else:
            error(
                f"Liên kết '{link}' không hợp lệ: cần một địa chỉ đầy đủ bắt đầu bằng http:// "
                "hoặc https://, ví dụ https://ducpho.quangngai.gov.vn.",
                "link",
            )

    post.author = value("author") or None
    if post.author and len(post.author) > NAME_MAX:
        error(
            f"Tác giả dài {len(post.author)} ký tự (tối đa {NAME_MAX}). Chỉ ghi tên tác giả.",
            "author",
        )
    post.description = value("description") or None
    share_with = value("share_with")
    if share_with:
        post.share_with = list(_unique_list(share_with))

    broadcast = value("zalo_broadcast")
    if broadcast:
        answer = parse_yes_no(broadcast)
        if answer is None:
            error(
                f"Gửi tin Zalo '{broadcast}' không hợp lệ: ghi 'có' hoặc 'không'.",
                "zalo_broadcast",
            )
        post.zalo_broadcast = bool(answer)

    status = value("status")
    if status:
        if is_withdraw(status):
            post.withdrawn = True
        else:
            error(
                f"Trạng thái '{status}' không hợp lệ: chỉ dùng 'Trạng thái: hủy' để hủy bài. "
                "Muốn đăng bài thì xóa dòng này.",
                "status",
            )

    if not post.body and not parsed.bad_line:
        post.errors.append(
            Problem(
                file,
                "Nội dung bài viết đang trống. Sau phần đầu, để một dòng trống rồi viết nội dung "
                "bài.",
            )
        )
    return post
