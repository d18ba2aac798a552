"""Dates and times as Vietnamese staff write them: one reader for the queue, ``shares import``
and the web console.

Staff mix the pieces freely (``8h00 ngày 5/12/2026``, ``5/12/26 08:00``, ``8 giờ sáng thứ
Bảy 5/12/2026``, ``05/12/2026 2:30 CH`` as Windows shows it), so the text is cut into tokens
and read by a small grammar: a date part and a time part, in either order, with optional
connecting words. Every combination of the accepted forms reads the same way, and every
refusal is a refusal whatever the spacing, case or accents.

What is refused, and why:

* a value that does not exist (``31/11``, ``24:00``): said so, with the reason;
* a value that could mean two times (``12 giờ đêm``: the start or the end of the day?) or
  contradicts itself (``14 giờ sáng``, a weekday that is not the date's): a post going out
  at the wrong time is worse than a post held until staff fix one line;
* a date without a time, a time without a date, a day and month without a year: there is no
  safe default.

When a value cannot be read, a lenient second reading (typos of the unit words, ``8.30``,
a bare hour, a swapped day and month) is offered as a suggestion, never taken.
:func:`read_datetime` never raises.
"""

from __future__ import annotations

import calendar
import difflib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, tzinfo

#: the form every message asks for
DATE_FORMAT_HINT = "dd/mm/yyyy HH:MM, ví dụ 10/12/2026 07:30"

#: (how staff would describe it, an example): the staff guide lists these, and a test reads
#: every example back
ACCEPTED_FORMS: tuple[tuple[str, str], ...] = (
    ("ngày/tháng/năm giờ:phút", "10/12/2026 07:30"),
    ("không cần số 0 ở đầu", "1/2/2027 7:05"),
    ("năm viết 2 chữ số", "5/12/26 08:00"),
    ("dấu `-` hoặc `.` thay dấu `/`", "10-12-2026 07:30"),
    ("giờ viết kiểu `h` hoặc `g`", "10/12/2026 7h30"),
    ("giờ chẵn, không ghi phút", "5/12/2026 8h"),
    ("chữ `giờ`, `phút`, `rưỡi`", "5/12/2026 8 giờ 30 phút"),
    ("giờ đứng trước ngày", "8h00 ngày 5/12/2026"),
    ("buổi `sáng`, `trưa`, `chiều`, `tối`", "8 giờ tối 5/12/2026"),
    ("`SA`/`CH` như Windows hiển thị", "05/12/2026 2:30 CH"),
    ("có thứ trong tuần (phải đúng với ngày)", "thứ Bảy, 5/12/2026 lúc 7g30"),
    ("ngày ... tháng ... năm ...", "ngày 5 tháng 12 năm 2026, 8 giờ"),
    ("dạng quốc tế ISO 8601", "2026-12-10T07:30:00+07:00"),
)

_GENERAL_HINT = f"Ghi theo dạng {DATE_FORMAT_HINT} (ngày/tháng/năm, rồi giờ:phút)."
#: longer text is not a date: refused without trying to read it
_MAX_LENGTH = 120

_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,6})?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?"
)
_TOKEN = re.compile(r"[0-9]+|[a-z]+|[^\sa-z0-9]")

_DATE_SEPARATORS = frozenset("/.-")
_HOUR_UNITS = frozenset(("h", "g", "gio"))
_MINUTE_UNITS = frozenset(("p", "phut", "'"))
#: words and marks between the parts (``8h00 ngày 5/12/2026``, ``5/12/2026, lúc 8h``)
_CONNECTORS = frozenset(("ngay", "luc", "vao", "buoi", ",", "-", ".", "(", ")", ";"))
#: period word → how staff would write it
_PERIODS = {
    "sa": "SA",
    "am": "SA",
    "ch": "CH",
    "pm": "CH",
    "sang": "sáng",
    "trua": "trưa",
    "chieu": "chiều",
    "toi": "tối",
    "dem": "đêm",
}
_WEEKDAY_WORDS = {"hai": 0, "ba": 1, "tu": 2, "nam": 3, "sau": 4, "bay": 5}
_WEEKDAY_NAMES = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")
#: every word the grammar knows: a misspelt one is replaced by the closest for a suggestion
_VOCABULARY = sorted(
    {*_HOUR_UNITS, *_MINUTE_UNITS, *_CONNECTORS, *_PERIODS, *_WEEKDAY_WORDS}
    | {"thang", "nam", "thu", "chu", "nhat", "cn", "t", "ruoi"}
)


@dataclass(frozen=True)
class DateReading:
    """What :func:`read_datetime` made of a text.

    ``value`` is an aware datetime, or ``None`` with ``problem``: Vietnamese that follows
    the quoted text in a message (``f"Thời gian đăng '{text}' {problem}"``) and says what is
    wrong and how to write it. ``suggestion`` is the closest reading of a text that could
    not be read, already quoted in ``problem`` (``Có phải ý bạn là 05/12/2026 08:00?``).
    """

    value: datetime | None
    problem: str | None = None
    suggestion: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None


def format_datetime(when: datetime, tz: tzinfo | None = None) -> str:
    """``05/12/2026 08:00`` (seconds only when there are some): what staff are shown."""
    local = when.astimezone(tz) if tz is not None else when
    return local.strftime("%d/%m/%Y %H:%M:%S" if local.second else "%d/%m/%Y %H:%M")


def read_datetime(text: str, tz: tzinfo) -> DateReading:
    """Read a publishing or share time; a local time is in ``tz``. Never raises."""
    try:
        return _read(text, tz)
    except Exception:  # a reader bug must not stop a scan: the value is refused instead
        return DateReading(None, f"không đúng định dạng. {_GENERAL_HINT}")


# ---------------------------------------------------------------- refusals


class _Refused(Exception):
    """The strict reading failed: ``kind`` says how, ``detail`` is the Vietnamese reason."""

    def __init__(self, kind: str, detail: str = "", parts: _Parts | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.detail = detail
        self.parts = parts


#: kinds: the text is not in an accepted form; a value that does not exist; two readings;
#: one part contradicts another; a part is missing
UNREADABLE, IMPOSSIBLE, AMBIGUOUS, CONTRADICTION, NO_TIME, NO_DATE, NO_YEAR = (
    "unreadable",
    "impossible",
    "ambiguous",
    "contradiction",
    "no_time",
    "no_date",
    "no_year",
)


@dataclass
class _Parts:
    year: int | None = None
    month: int | None = None
    day: int | None = None
    hour: int | None = None
    minute: int = 0
    second: int = 0
    period: str | None = None
    weekday: int | None = None
    no_year: bool = False


#: the form nearly every post uses, read without the grammar (the same reading: a scan of
#: thousands of folders reads one per folder)
_USUAL = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2})[:h](\d{2})")


def _read(text: str, tz: tzinfo) -> DateReading:
    usual = _USUAL.fullmatch(text.strip())
    if usual is not None and text.isascii():
        day, month, year, hour, minute = map(int, usual.groups())
        try:
            return DateReading(datetime(year, month, day, hour, minute, tzinfo=tz))
        except ValueError:
            pass  # the grammar says why
    written = unicodedata.normalize("NFC", text).strip()
    if len(written) > _MAX_LENGTH:
        return DateReading(None, f"không đúng định dạng. {_GENERAL_HINT}")
    if _ISO.fullmatch(written):
        try:
            parsed = datetime.fromisoformat(written)
        except ValueError:
            return DateReading(
                None,
                "không có thật hoặc sai dạng ISO 8601. Ghi theo dạng "
                f"{DATE_FORMAT_HINT} (hoặc ISO 8601 như 2026-12-10T07:30:00+07:00).",
            )
        return DateReading(parsed if parsed.tzinfo else parsed.replace(tzinfo=tz))
    tokens = _tokens(written)
    try:
        return DateReading(_strict(tokens, tz))
    except _Refused as refused:
        return _refusal(refused, tokens, tz)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


class _Token(str):
    """A token that remembers whether white space came before it: ``0h00 - 1/10/2000`` is a
    time, a dash and a date, not the minute ``00`` and a date ``00-1/10``."""

    __slots__ = ("gap",)
    gap: bool


def _tokens(text: str) -> list[str]:
    # "’" and "′" are the minute mark too (Word turns ' into ’)
    folded = _fold(text).replace("’", "'").replace("′", "'")
    tokens: list[str] = []
    end = 0
    for match in _TOKEN.finditer(folded):
        token = _Token(match.group())
        token.gap = match.start() > end
        end = match.end()
        tokens.append(token)
    return tokens


def _gap(tokens: list[str], i: int) -> bool:
    return i < len(tokens) and getattr(tokens[i], "gap", False)


def _even(tokens: list[str], i: int, last: int) -> bool:
    """The separators of a date starting at ``i`` are spaced alike (``5/12/2026``,
    ``5 / 12 / 2026``): tokens ``i + 1`` to ``last`` all follow white space, or none does."""
    gaps = {_gap(tokens, k) for k in range(i + 1, last + 1)}
    return len(gaps) == 1


def _refusal(refused: _Refused, tokens: list[str], tz: tzinfo) -> DateReading:
    suggestion = _suggest(refused, tokens, tz)
    ask = f"Có phải ý bạn là {format_datetime(suggestion)}? " if suggestion else ""
    kind, detail = refused.kind, refused.detail
    if kind == IMPOSSIBLE:
        problem = f"không có thật ({detail}). {ask}Ghi theo dạng {DATE_FORMAT_HINT}."
    elif kind == AMBIGUOUS:
        problem = f"chưa rõ: {detail}. {_GENERAL_HINT}"
    elif kind == CONTRADICTION:
        problem = f"không khớp: {detail}. {_GENERAL_HINT}"
    elif kind == NO_TIME:
        problem = f"chỉ có ngày, thiếu giờ. Ghi thêm giờ, ví dụ {detail} 07:30."
    elif kind == NO_DATE:
        problem = f"chỉ có giờ, thiếu ngày. Ghi cả ngày/tháng/năm, ví dụ 10/12/2026 {detail}."
    elif kind == NO_YEAR:
        problem = (
            "thiếu năm. Ghi đủ ngày/tháng/năm (năm 4 chữ số, hoặc 2 chữ số cuối), ví dụ "
            "10/12/2026 07:30."
        )
    else:
        problem = f"không đúng định dạng. {ask}{_GENERAL_HINT}"
    return DateReading(None, problem, suggestion)


# ---------------------------------------------------------------- the strict grammar


def _strict(tokens: list[str], tz: tzinfo) -> datetime:
    parts = _Parts()
    have_date = have_time = False
    i, count = 0, len(tokens)
    while i < count:
        token = tokens[i]
        if token in _CONNECTORS:
            i += 1
            continue
        found = _date(tokens, i, parts, first=not have_date)
        if found is not None:
            if have_date:
                raise _Refused(UNREADABLE)
            have_date, i = True, found
            if i < count and tokens[i] == "t":  # ISO's date/time separator, "2026-12-10T7:30"
                i += 1
            continue
        found = _time(tokens, i, parts)
        if found is not None:
            if have_time:
                raise _Refused(UNREADABLE)
            have_time, i = True, found
            continue
        found = _weekday(tokens, i, parts)
        if found is not None:
            i = found
            continue
        raise _Refused(UNREADABLE, parts=parts)
    if parts.no_year:
        raise _Refused(NO_YEAR, parts=parts)
    if not have_date and not have_time:
        raise _Refused(UNREADABLE, parts=parts)
    if not have_time:
        _check_date(parts)
        raise _Refused(NO_TIME, f"{parts.day:02d}/{parts.month:02d}/{parts.year}", parts)
    if not have_date:
        _check_time(parts)
        hour = _hour(parts)
        raise _Refused(NO_DATE, f"{hour:02d}:{parts.minute:02d}", parts)
    _check_date(parts)
    _check_time(parts)
    assert parts.year is not None and parts.month is not None and parts.day is not None
    when = datetime(
        parts.year, parts.month, parts.day, _hour(parts), parts.minute, parts.second, tzinfo=tz
    )
    if parts.weekday is not None and when.weekday() != parts.weekday:
        raise _Refused(
            CONTRADICTION,
            f"ngày {when:%d/%m/%Y} là {_WEEKDAY_NAMES[when.weekday()]}, không phải "
            f"{_WEEKDAY_NAMES[parts.weekday]}; sửa lại ngày hoặc thứ",
            parts,
        )
    return when


def _isnum(token: str) -> bool:
    """ASCII digits only: ``"²".isdigit()`` is true, and ``int("²")`` fails."""
    return token.isascii() and token.isdigit()


def _number(tokens: list[str], i: int, most: int = 2) -> int | None:
    if i < len(tokens) and _isnum(tokens[i]) and len(tokens[i]) <= most:
        return int(tokens[i])
    return None


def _at(tokens: list[str], i: int) -> str:
    return tokens[i] if i < len(tokens) else ""


def _year(token: str) -> int | None:
    if len(token) == 4:
        return int(token)
    if len(token) == 2:
        return 2000 + int(token)  # "26" is 2026: posts and shares are of this century
    return None


def _date(tokens: list[str], i: int, parts: _Parts, *, first: bool) -> int | None:
    """Index after a date starting at ``i`` (recorded in ``parts``), or None if none starts."""
    a = _at(tokens, i)
    if not _isnum(a):
        return None
    sep1, b, sep2, c = (_at(tokens, i + k) for k in range(1, 5))
    if sep1 in _DATE_SEPARATORS and _isnum(b) and _even(tokens, i, i + 2):
        if sep2 == sep1 and _isnum(c) and _even(tokens, i, i + 4):
            if len(a) == 4 and len(b) <= 2 and len(c) <= 2:  # 2026-12-05, 2026/12/05
                parts.year, parts.month, parts.day = int(a), int(b), int(c)
                return i + 5
            year = _year(c)
            if len(a) <= 2 and len(b) <= 2 and year is not None:
                parts.day, parts.month, parts.year = int(a), int(b), year
                return i + 5
            raise _Refused(UNREADABLE, parts=parts)
        if first and sep1 in "/-" and sep2 not in _DATE_SEPARATORS and len(a) <= 2 >= len(b):
            # 5/12: no year
            parts.day, parts.month, parts.no_year = int(a), int(b), True
            return i + 3
        return None
    if sep1 == "thang" and len(a) <= 2 and _isnum(b) and len(b) <= 2:
        # ngày 5 tháng 12 năm 2026 (the "ngày" is a connector)
        j = i + 3
        if _at(tokens, j) in ("nam", ","):
            j += 1
        year = _year(_at(tokens, j)) if _isnum(_at(tokens, j)) else None
        parts.day, parts.month = int(a), int(b)
        if year is None:
            parts.no_year = True
            return j
        parts.year = year
        return j + 1
    return None


def _date_ahead(tokens: list[str], j: int) -> bool:
    """Whether a date starts at ``j`` (``8h 5/12/2026``: the 5 is the day, not the minute)."""
    a, sep1, b, sep2, c = (_at(tokens, j + k) for k in range(5))
    if sep1 == "thang":
        return True
    if not (_isnum(a) and sep1 in _DATE_SEPARATORS and _isnum(b) and _even(tokens, j, j + 2)):
        return False
    if sep2 in _DATE_SEPARATORS:
        if not (sep2 == sep1 and _isnum(c) and _even(tokens, j, j + 4) and len(b) <= 2):
            return False
        return len(c) <= 2 if len(a) == 4 else len(a) <= 2 and len(c) in (2, 4)
    return sep1 in "/-" and len(a) <= 2 and len(b) <= 2


def _time(tokens: list[str], i: int, parts: _Parts) -> int | None:
    """Index after a time starting at ``i``, or None if none starts there."""
    hour = _number(tokens, i)
    if hour is None:
        return None
    unit = _at(tokens, i + 1)
    minute, second = 0, 0
    if unit == ":":
        minute_token = _at(tokens, i + 2)
        if not (_isnum(minute_token) and len(minute_token) == 2):
            raise _Refused(UNREADABLE, parts=parts)
        minute, j = int(minute_token), i + 3
        if _at(tokens, j) == ":":
            second_token = _at(tokens, j + 1)
            if not (_isnum(second_token) and len(second_token) == 2):
                raise _Refused(UNREADABLE, parts=parts)
            second, j = int(second_token), j + 2
        if _at(tokens, j) in _MINUTE_UNITS:
            j += 1
    elif unit in _HOUR_UNITS:
        j = i + 2
        following = _at(tokens, j)
        if _isnum(following) and not _date_ahead(tokens, j):
            has_unit = _at(tokens, j + 1) in _MINUTE_UNITS
            if len(following) == 2 or (len(following) == 1 and has_unit):
                minute, j = int(following), j + 1 + has_unit
            else:
                raise _Refused(UNREADABLE, parts=parts)
        elif following == "ruoi":  # "8 giờ rưỡi" = 8:30
            minute, j = 30, j + 1
    else:
        return None
    if _at(tokens, j) == "buoi" and _at(tokens, j + 1) in _PERIODS:
        j += 1
    period = _PERIODS.get(_at(tokens, j))
    if period is not None:
        j += 1
    parts.hour, parts.minute, parts.second, parts.period = hour, minute, second, period
    return j


def _weekday(tokens: list[str], i: int, parts: _Parts) -> int | None:
    token, after = _at(tokens, i), _at(tokens, i + 1)
    day: int | None = None
    j = i + 2
    if token == "thu" and after in _WEEKDAY_WORDS:
        day = _WEEKDAY_WORDS[after]
    elif token in ("thu", "t") and _isnum(after) and len(after) == 1 and 2 <= int(after) <= 7:
        day = int(after) - 2
    elif token == "chu" and after == "nhat":
        day = 6
    elif token == "cn":
        day, j = 6, i + 1
    if day is None or parts.weekday is not None:
        return None
    parts.weekday = day
    return j


def _check_date(parts: _Parts) -> None:
    assert parts.year is not None and parts.month is not None and parts.day is not None
    if not 1 <= parts.month <= 12:
        raise _Refused(IMPOSSIBLE, f"không có tháng {parts.month}", parts)
    if parts.year < 1:
        raise _Refused(IMPOSSIBLE, f"không có năm {parts.year}", parts)
    if not 1 <= parts.day <= calendar.monthrange(parts.year, parts.month)[1]:
        raise _Refused(
            IMPOSSIBLE, f"tháng {parts.month}/{parts.year} không có ngày {parts.day}", parts
        )


def _check_time(parts: _Parts) -> None:
    assert parts.hour is not None
    if parts.hour > 23:
        raise _Refused(IMPOSSIBLE, f"không có {parts.hour} giờ (giờ từ 0 đến 23)", parts)
    if parts.minute > 59 or parts.second > 59:
        bad = parts.minute if parts.minute > 59 else parts.second
        raise _Refused(IMPOSSIBLE, f"không có phút {bad} (phút từ 00 đến 59)", parts)


def _hour(parts: _Parts) -> int:
    """The hour on the 24-hour clock, from the hour written and its period, if any."""
    hour, period = parts.hour, parts.period
    assert hour is not None
    if period is None:
        return hour
    said = f"{hour} giờ {period}"
    if period == "SA":  # Windows' Vietnamese AM: 12:30 SA is 00:30
        if hour <= 12:
            return 0 if hour == 12 else hour
    elif period == "CH":  # 12:30 CH is 12:30, 2:30 CH is 14:30
        if 1 <= hour <= 11:
            return hour + 12
        if 12 <= hour <= 23:
            return hour
    elif period == "sáng":
        if hour <= 11:
            return hour
        if hour == 12:
            raise _Refused(
                AMBIGUOUS, f"'{said}' có thể là 12:00 (trưa) hoặc 00:00 (nửa đêm)", parts
            )
    elif period == "trưa":
        if 10 <= hour <= 14:
            return hour
        if 1 <= hour <= 2:
            return hour + 12
    elif period == "chiều":
        if 1 <= hour <= 7:
            return hour + 12
        if 13 <= hour <= 19:
            return hour
    elif period == "tối":
        if 6 <= hour <= 11:
            return hour + 12
        if 18 <= hour <= 23:
            return hour
        if hour in (0, 12):
            raise _Refused(AMBIGUOUS, _midnight(said), parts)
    elif period == "đêm":
        if 9 <= hour <= 11:
            return hour + 12
        if 21 <= hour <= 23:
            return hour
        if hour == 12 or hour <= 5:
            raise _Refused(AMBIGUOUS, _midnight(said), parts)
    raise _Refused(CONTRADICTION, f"{hour} giờ không phải giờ buổi {period}", parts)


def _midnight(said: str) -> str:
    return (
        f"'{said}' có thể thuộc đêm trước hoặc đêm sau của ngày đã ghi; ghi giờ theo 24 tiếng "
        "với đúng ngày (nửa đêm là 00:00 của ngày hôm sau)"
    )


# ---------------------------------------------------------------- the suggestion


def _suggest(refused: _Refused, tokens: list[str], tz: tzinfo) -> datetime | None:
    """The closest reading of a refused text, or None; only ever read by the strict grammar."""
    if refused.kind == IMPOSSIBLE:
        return _swapped(refused.parts, tz)
    if refused.kind != UNREADABLE or len(tokens) > 40:
        return None
    try:
        return _strict(_repair(tokens), tz)
    except _Refused as again:
        return _swapped(again.parts, tz) if again.kind == IMPOSSIBLE else None


def _swapped(parts: _Parts | None, tz: tzinfo) -> datetime | None:
    """12/13/2026 → 13/12/2026: a month over 12 with a day that could be the month."""
    if parts is None or parts.year is None or parts.month is None or parts.day is None:
        return None
    if not (parts.month > 12 and 1 <= parts.day <= 12) or parts.hour is None:
        return None
    flipped = _Parts(**{**parts.__dict__, "day": parts.month, "month": parts.day})
    try:
        _check_date(flipped)
        _check_time(flipped)
        return datetime(
            flipped.year or 1,
            flipped.month or 1,
            flipped.day or 1,
            _hour(flipped),
            flipped.minute,
            flipped.second,
            tzinfo=tz,
        )
    except (_Refused, ValueError):
        return None


_NUMBER_WORDS = frozenset(("thang", "nam"))


def _repair(tokens: list[str]) -> list[str]:
    """Tokens with the usual slips mended: misspelt words, ``5 12 2026``, ``8.30``, ``0830``,
    a bare hour, a one-digit minute. Unknown words and marks are left out."""
    kept = _DATE_SEPARATORS | _CONNECTORS | {":", "'"}
    words: list[str] = []
    for token in map(str, tokens):  # plain strings: the mended text is read as if written tight
        if _isnum(token) or token in kept or token in _VOCABULARY:
            words.append(token)
            continue
        if token.isalpha():
            close = difflib.get_close_matches(token, _VOCABULARY, n=1, cutoff=0.75)
            if close:
                words.append(close[0])
    out: list[str] = []
    separators = _DATE_SEPARATORS | {":"}
    i, count = 0, len(words)
    while i < count:
        token = words[i]
        before = out[-1] if out else ""
        n1, n2, n3 = _at(words, i + 1), _at(words, i + 2), _at(words, i + 3)
        free = (
            _isnum(token)
            and before not in separators
            and before not in _NUMBER_WORDS
            and before not in _HOUR_UNITS
        )
        if free and len(token) <= 2:
            spaced = _isnum(n1) and len(n1) <= 2 and _isnum(n2) and len(n2) in (2, 4)
            if spaced and n3 not in separators:  # "5 12 2026": a date written with spaces
                out += [token, "/", n1, "/", n2]
                i += 3
                continue
            if n1 in _DATE_SEPARATORS and n3 in _DATE_SEPARATORS and _isnum(n2):
                four = _at(words, i + 4)
                if _isnum(four) and len(n2) <= 2 and len(four) in (2, 4):
                    out += [token, "/", n2, "/", four]  # "10/12-2026", "5/ 12/2026"
                    i += 5
                    continue
            if n1 in (".", ",") and _isnum(n2) and len(n2) <= 2 and n3 not in separators:
                out += [token, ":", n2.zfill(2)]  # "8.30" (not a date: no third number)
                i += 3
                continue
            if n1 not in separators | _HOUR_UNITS | _NUMBER_WORDS | {"ruoi"}:
                out += [token, "h"]  # a bare hour: "5/12/2026 8"
                i += 1
                continue
        packed = free and len(token) in (3, 4) and before != ","
        if packed and n1 not in separators | _NUMBER_WORDS:
            out += [token[:-2], ":", token[-2:]]  # "0830"
            i += 1
            continue
        if _isnum(token) and len(token) == 1 and before in (":", "h", "g", "gio"):
            out.append(token.zfill(2))  # "7:5" → 07:05
            i += 1
            continue
        out.append(token)
        i += 1
    return out
