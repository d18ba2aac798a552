"""The date reader: every accepted Vietnamese form, every refusal, and its suggestions.

Property tests (hypothesis): generated forms read back to the time they were made from;
arbitrary text never makes the reader raise; refused values stay refused however they are
spaced, cased or accented; a suggestion always reads back to itself.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from social_publisher.queue import dates
from social_publisher.queue.dates import ACCEPTED_FORMS, format_datetime, read_datetime

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
VN = timezone(timedelta(hours=7))
GUIDE = Path(__file__).resolve().parents[2] / "content_queue" / "README.md"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN)  # type: ignore[misc]


# ---------------------------------------------------------------- the forms of issue 13


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("5/12/2026 8h", at(2026, 12, 5, 8, 0)),
        ("5/12/2026 08g00", at(2026, 12, 5, 8, 0)),
        ("5/12/2026 8 giờ", at(2026, 12, 5, 8, 0)),
        ("8h00 ngày 5/12/2026", at(2026, 12, 5, 8, 0)),
        ("5/12/26 08:00", at(2026, 12, 5, 8, 0)),
        ("5/12/2026 8:00 SA", at(2026, 12, 5, 8, 0)),
        ("05/12/2026 2:30 CH", at(2026, 12, 5, 14, 30)),
        ("05/12/2026 12:15 CH", at(2026, 12, 5, 12, 15)),
        ("05/12/2026 12:15 SA", at(2026, 12, 5, 0, 15)),
        ("05/12/2026 2:30 PM", at(2026, 12, 5, 14, 30)),
        ("5/12/2026 14h", at(2026, 12, 5, 14, 0)),
        ("5/12/2026 7h30", at(2026, 12, 5, 7, 30)),
        ("5/12/2026 7g30", at(2026, 12, 5, 7, 30)),
        ("5/12/2026 7h30p", at(2026, 12, 5, 7, 30)),
        ("5/12/2026 7h30'", at(2026, 12, 5, 7, 30)),
        ("5/12/2026 8 giờ 5 phút", at(2026, 12, 5, 8, 5)),
        ("5/12/2026 8 giờ rưỡi", at(2026, 12, 5, 8, 30)),
        ("8 giờ sáng 5/12/2026", at(2026, 12, 5, 8, 0)),
        ("8 giờ tối 5/12/2026", at(2026, 12, 5, 20, 0)),
        ("5/12/2026 2 giờ chiều", at(2026, 12, 5, 14, 0)),
        ("5/12/2026 15 giờ chiều", at(2026, 12, 5, 15, 0)),
        ("5/12/2026 12 giờ trưa", at(2026, 12, 5, 12, 0)),
        ("5/12/2026 1 giờ trưa", at(2026, 12, 5, 13, 0)),
        ("5/12/2026 10 giờ đêm", at(2026, 12, 5, 22, 0)),
        ("5/12/2026 7h30 buổi sáng", at(2026, 12, 5, 7, 30)),
        ("thứ Bảy, 5/12/2026 lúc 7g30", at(2026, 12, 5, 7, 30)),
        ("T7 5/12/2026 7:30", at(2026, 12, 5, 7, 30)),
        ("Chủ nhật 6/12/2026 7:30", at(2026, 12, 6, 7, 30)),
        ("ngày 5 tháng 12 năm 2026, 8 giờ", at(2026, 12, 5, 8, 0)),
        ("8 giờ ngày 5 tháng 12 năm 2026", at(2026, 12, 5, 8, 0)),
        ("2026-12-05 8h", at(2026, 12, 5, 8, 0)),
        ("2026/12/05 08:00", at(2026, 12, 5, 8, 0)),
        ("5/12/2026 8H", at(2026, 12, 5, 8, 0)),
        ("  5 / 12 / 2026   8 h 00  ", at(2026, 12, 5, 8, 0)),
        ("5/12/2026 8 gio sang", at(2026, 12, 5, 8, 0)),  # typed without accents
        ("5/12/2026 8 giờ tối.", at(2026, 12, 5, 20, 0)),
        ("10/12/2026 07:30", at(2026, 12, 10, 7, 30)),
        ("10.12.2026, 07:30", at(2026, 12, 10, 7, 30)),
        ("01/02/2027 19:00:30", at(2027, 2, 1, 19, 0, 30)),
        ("2026-12-10T07:30", at(2026, 12, 10, 7, 30)),
        ("2026-12-10T00:30:00Z", datetime(2026, 12, 10, 0, 30, tzinfo=UTC)),
    ],
)
def test_accepted_forms(written: str, expected: datetime) -> None:
    reading = read_datetime(written, TZ)
    assert reading.problem is None
    assert reading.value == expected
    assert reading.value is not None and reading.value.utcoffset() == expected.utcoffset()


def test_every_form_in_the_staff_guide_is_read_and_listed() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    for description, example in ACCEPTED_FORMS:
        assert read_datetime(example, TZ).ok, example
        assert f"| {description} | `{example}` |" in guide, description


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        (
            "5/12/2026 8",
            "không đúng định dạng. Có phải ý bạn là 05/12/2026 08:00? Ghi theo dạng "
            "dd/mm/yyyy HH:MM, ví dụ 10/12/2026 07:30 (ngày/tháng/năm, rồi giờ:phút).",
        ),
        (
            "12/13/2026 07:30",
            "không có thật (không có tháng 13). Có phải ý bạn là 13/12/2026 07:30? Ghi theo "
            "dạng dd/mm/yyyy HH:MM, ví dụ 10/12/2026 07:30.",
        ),
        (
            "31/11/2026 07:30",
            "không có thật (tháng 11/2026 không có ngày 31). Ghi theo dạng dd/mm/yyyy HH:MM, "
            "ví dụ 10/12/2026 07:30.",
        ),
        ("10/12/2026", "chỉ có ngày, thiếu giờ. Ghi thêm giờ, ví dụ 10/12/2026 07:30."),
        (
            "2:30 CH",
            "chỉ có giờ, thiếu ngày. Ghi cả ngày/tháng/năm, ví dụ 10/12/2026 14:30.",
        ),
        (
            "5/12 8h",
            "thiếu năm. Ghi đủ ngày/tháng/năm (năm 4 chữ số, hoặc 2 chữ số cuối), ví dụ "
            "10/12/2026 07:30.",
        ),
        (
            "5/12/2026 12 giờ sáng",
            "chưa rõ: '12 giờ sáng' có thể là 12:00 (trưa) hoặc 00:00 (nửa đêm). Ghi theo dạng "
            "dd/mm/yyyy HH:MM, ví dụ 10/12/2026 07:30 (ngày/tháng/năm, rồi giờ:phút).",
        ),
        (
            "5/12/2026 14 giờ sáng",
            "không khớp: 14 giờ không phải giờ buổi sáng. Ghi theo dạng dd/mm/yyyy HH:MM, ví dụ "
            "10/12/2026 07:30 (ngày/tháng/năm, rồi giờ:phút).",
        ),
        (
            "thứ Hai 5/12/2026 8h",
            "không khớp: ngày 05/12/2026 là thứ Bảy, không phải thứ Hai; sửa lại ngày hoặc thứ. "
            "Ghi theo dạng dd/mm/yyyy HH:MM, ví dụ 10/12/2026 07:30 (ngày/tháng/năm, rồi "
            "giờ:phút).",
        ),
    ],
)
def test_refusals_say_why_and_suggest_the_closest_reading(written: str, problem: str) -> None:
    reading = read_datetime(written, TZ)
    assert reading.value is None
    assert reading.problem == problem


@pytest.mark.parametrize(
    ("written", "suggestion"),
    [
        ("5/12/2026 8", at(2026, 12, 5, 8, 0)),
        ("5/12/2026 8.30", at(2026, 12, 5, 8, 30)),
        ("5/12/2026 0830", at(2026, 12, 5, 8, 30)),
        ("5/12/2026 8 30", at(2026, 12, 5, 8, 30)),
        ("5 12 2026 8h", at(2026, 12, 5, 8, 0)),
        ("5/12/2026 8h5", at(2026, 12, 5, 8, 5)),
        ("5/12/2026 7:5", at(2026, 12, 5, 7, 5)),
        ("5/12/2026 8 giòo sáng", at(2026, 12, 5, 8, 0)),
        ("5/12/2026 3 giờ chiềuu", at(2026, 12, 5, 15, 0)),
        ("12/13/2026 07:30", at(2026, 12, 13, 7, 30)),
    ],
)
def test_suggestions(written: str, suggestion: datetime) -> None:
    reading = read_datetime(written, TZ)
    assert reading.value is None
    assert reading.suggestion == suggestion
    assert f"Có phải ý bạn là {format_datetime(suggestion)}?" in (reading.problem or "")


@pytest.mark.parametrize(
    "written",
    [
        "sáng mai",
        "",
        "5/12/2026 12 giờ đêm",  # ambiguous: no suggestion either
        "5/12/2026 99",
        "10/12/2026",
        "hôm qua 8h",
    ],
)
def test_no_suggestion_where_there_is_no_safe_reading(written: str) -> None:
    reading = read_datetime(written, TZ)
    assert reading.value is None and reading.suggestion is None
    assert "Có phải ý bạn là" not in (reading.problem or "")


def test_the_configured_timezone_applies_to_local_forms_only() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    assert read_datetime("5/12/2026 8h", tokyo).value == datetime(2026, 12, 5, 8, tzinfo=tokyo)
    assert read_datetime("2026-12-05T08:00+07:00", tokyo).value == at(2026, 12, 5, 8, 0)


# ---------------------------------------------------------------- properties


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_WEEKDAYS = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")


@st.composite
def _date_text(draw: st.DrawFn, when: datetime) -> str:
    d, m, y = when.day, when.month, when.year
    pad = draw(st.booleans())
    dd, mm = (f"{d:02d}", f"{m:02d}") if pad else (str(d), str(m))
    sep = draw(st.sampled_from(["/", "-", ".", " / "]))
    form = draw(st.sampled_from(["dmy", "dmyy", "words", "ymd"]))
    if form == "dmy":
        text = f"{dd}{sep}{mm}{sep}{y}"
    elif form == "dmyy":
        text = f"{dd}{sep}{mm}{sep}{y % 100:02d}"
    elif form == "words":
        text = f"ngày {d} tháng {m} năm {y}"
    else:
        text = f"{y}{sep}{m:02d}{sep}{d:02d}"
    if draw(st.booleans()):
        text = f"{_WEEKDAYS[when.weekday()]}, {text}"
    return text


@st.composite
def _time_text(draw: st.DrawFn, when: datetime) -> str:
    h, mi = when.hour, when.minute
    forms = [f"{h}:{mi:02d}", f"{h:02d}:{mi:02d}", f"{h}h{mi:02d}", f"{h}g{mi:02d}"]
    forms += [f"{h} giờ {mi:02d}", f"{h} giờ {mi} phút", f"{h}h{mi:02d}p"]
    if mi == 0:
        forms += [f"{h}h", f"{h}g", f"{h} giờ", f"{h:02d}g00"]
    if mi == 30:
        forms.append(f"{h} giờ rưỡi")
    twelve = h % 12 or 12
    forms.append(f"{twelve}:{mi:02d} {'SA' if h < 12 else 'CH'}")
    if h <= 11:
        forms.append(f"{h}h{mi:02d} sáng")
    if 13 <= h <= 19:
        forms.append(f"{h - 12} giờ {mi:02d} chiều")
    if 18 <= h <= 23:
        forms.append(f"{h - 12}h{mi:02d} tối")
    return draw(st.sampled_from(forms))


@st.composite
def _written(draw: st.DrawFn) -> tuple[str, datetime]:
    naive = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
    when = naive.replace(second=0, microsecond=0, tzinfo=TZ)
    date, time = draw(_date_text(when)), draw(_time_text(when))
    if draw(st.booleans()):
        text = date + draw(st.sampled_from([" ", ", ", " lúc ", " - ", ", lúc "])) + time
    else:
        text = time + draw(st.sampled_from([" ", " ngày ", ", ", " - "])) + date
    text = draw(
        st.sampled_from([text, text.upper(), text.lower(), _strip_accents(text), text.title()])
    )
    if draw(st.booleans()):
        text = unicodedata.normalize("NFD", text)
    if draw(st.booleans()):
        text = f"  {text.replace(' ', '   ')}  "
    return text, when


@settings(max_examples=400, deadline=None)
@given(_written())
def test_generated_forms_round_trip(written: tuple[str, datetime]) -> None:
    text, when = written
    reading = read_datetime(text, TZ)
    assert reading.problem is None, text
    assert reading.value == when, text
    # and what staff are shown reads back to the same time
    assert read_datetime(format_datetime(when), TZ).value == when


_PIECES = st.sampled_from(
    [
        *"0123456789/.-:,'()hg",
        "12",
        "2026",
        "26",
        "giờ",
        "phút",
        "rưỡi",
        "sáng",
        "trưa",
        "chiều",
        "tối",
        "đêm",
        "SA",
        "CH",
        "ngày",
        "tháng",
        "năm",
        "thứ",
        "Bảy",
        "T7",
        "CN",
        "lúc",
        "buổi",
        "T",
        "Z",
        "+07:00",
    ]
)
_grammar_soup = st.lists(_PIECES, max_size=14).flatmap(
    lambda pieces: st.lists(
        st.sampled_from(["", " ", "  "]), min_size=len(pieces), max_size=len(pieces)
    ).map(lambda gaps: "".join(p + g for p, g in zip(pieces, gaps, strict=True)))
)


def _check_reading(text: str) -> None:
    reading = dates._read(text, TZ)  # the reader itself: read_datetime's guard must not be needed
    if reading.value is not None:
        assert reading.value.tzinfo is not None and reading.problem is None
        assert reading.suggestion is None
    else:
        assert reading.problem
    if reading.suggestion is not None:
        again = read_datetime(format_datetime(reading.suggestion), TZ)
        assert again.value == reading.suggestion


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_arbitrary_text_never_makes_the_reader_raise(text: str) -> None:
    _check_reading(text)


@settings(max_examples=800, deadline=None)
@given(_grammar_soup)
def test_text_made_of_the_grammar_s_own_words_never_makes_it_raise(text: str) -> None:
    _check_reading(text)


@settings(max_examples=300, deadline=None)
@given(_grammar_soup)
def test_case_and_accents_never_change_a_reading(text: str) -> None:
    reading = read_datetime(text, TZ).value
    for variant in (text.upper(), text.lower(), _strip_accents(text)):
        assert read_datetime(variant, TZ).value == reading, variant


_REFUSED = [
    "31/11/2026 07:30",
    "29/02/2027 07:30",
    "12/13/2026 07:30",
    "10/12/2026 24:00",
    "10/12/2026 07:75",
    "0/12/2026 07:30",
    "10/12/2026 12 giờ sáng",
    "10/12/2026 12 giờ đêm",
    "10/12/2026 1 giờ đêm",
    "10/12/2026 12 giờ tối",
    "10/12/2026 14 giờ sáng",
    "10/12/2026 13:00 SA",
    "10/12/2026 0:30 CH",
    "10/12/2026 9 giờ chiều",
    "thứ Hai 10/12/2026 8h",
    "10/12/2026",
    "8h30",
    "10/12 8h",
    "ngày 10 tháng 12, 8 giờ",
    "10/12/2026 8h 9h",
    "10/12/2026 11/12/2026 8h",
]


@settings(max_examples=400, deadline=None)
@given(
    text=st.sampled_from(_REFUSED),
    case=st.sampled_from([str, str.upper, str.lower, _strip_accents]),
    spaces=st.sampled_from(["", " ", "   "]),
    time_first=st.booleans(),
    connector=st.sampled_from([" ", " lúc ", ", ", " ngày "]),
)
def test_refusals_stay_refusals(
    text: str, case: object, spaces: str, time_first: bool, connector: str
) -> None:
    variant = text
    match = re.fullmatch(r"(\S+) (\S.*)", text)
    if time_first and match and re.fullmatch(r"[\d/]+", match.group(1)):
        variant = match.group(2) + connector + match.group(1)  # the time before the date
    variant = spaces + case(variant).replace(" ", " " + spaces) + spaces  # type: ignore[operator]
    reading = read_datetime(variant, TZ)
    assert reading.value is None, variant
    assert reading.problem
