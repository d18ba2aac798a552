"""The header/body contract: every key in both languages, every date form, every message."""

from __future__ import annotations

import codecs
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from social_publisher.errors import Problem
from social_publisher.queue import decode_text, interpret
from social_publisher.queue.parser import _NOT_A_NAME, first_sentence, fold

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
FILE = "ngay-cds/bai-viet.txt"
VN = timezone(timedelta(hours=7))
BASE = {
    "title": "Tiêu đề: Bài mẫu",
    "publish_at": "Thời gian đăng: 10/12/2026 07:30",
}


def post(*header: str, body: str = "Nội dung bài.") -> str:
    return "\n".join(header) + "\n\n" + body + "\n"


def only_errors(text: str) -> list[Problem]:
    return interpret(text, FILE, TZ).errors


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("line", "attribute", "expected"),
    [
        ("Kênh: zalo", "channels", ("zalo",)),
        ("channels: Facebook", "channels", ("facebook",)),
        ("KENH: ZALO, facebook", "channels", ("facebook", "zalo")),
        ("Người duyệt: Võ Thanh Hùng", "approved_by", "Võ Thanh Hùng"),
        ("approved_by: Võ Thanh Hùng", "approved_by", "Võ Thanh Hùng"),
        ("nguoi duyet: A", "approved_by", "A"),
        ("Ảnh: 2.jpg, 1.jpg", "images", ["2.jpg", "1.jpg"]),
        ("images: a.png", "images", ["a.png"]),
        ("ANH: không", "images", []),
        ("Ảnh bìa: bia.jpg", "cover", "bia.jpg"),
        ("cover: bia.jpg", "cover", "bia.jpg"),
        ("anh bia: bia.jpg", "cover", "bia.jpg"),
        (
            "Liên kết: https://ducpho.quangngai.gov.vn/tin",
            "link",
            "https://ducpho.quangngai.gov.vn/tin",
        ),
        ("link: http://example.org", "link", "http://example.org"),
        ("Tác giả: Phòng VHTT", "author", "Phòng VHTT"),
        ("author: Phòng VHTT", "author", "Phòng VHTT"),
        ("Mô tả: Tóm tắt.", "description", "Tóm tắt."),
        ("description: Tóm tắt.", "description", "Tóm tắt."),
        ("Chia sẻ: xa-phuong, thi-doan-duc-pho", "share_with", ["xa-phuong", "thi-doan-duc-pho"]),
        ("share_with: tat-ca", "share_with", ["tat-ca"]),
        ("Gửi tin Zalo: có", "zalo_broadcast", True),
        ("gui tin zalo: Không", "zalo_broadcast", False),
        ("zalo_broadcast: yes", "zalo_broadcast", True),
        ("Zalo-Broadcast: no", "zalo_broadcast", False),
        ("Trạng thái: hủy", "withdrawn", True),
        ("status: HUỶ", "withdrawn", True),
        ("trang thai: huy", "withdrawn", True),
    ],
)
def test_every_key_in_both_languages(line: str, attribute: str, expected: object) -> None:
    parsed = interpret(post(BASE["title"], BASE["publish_at"], line), FILE, TZ)
    assert parsed.errors == []
    assert getattr(parsed, attribute) == expected


@pytest.mark.parametrize(
    "key", ["Tiêu đề", "title", "TIÊU ĐỀ", "tieu de", "Tieu_De", "Title", "tiêu  đề"]
)
def test_title_key_ignores_case_accents_and_spacing(key: str) -> None:
    parsed = interpret(post(f"{key}: Bài mẫu", BASE["publish_at"]), FILE, TZ)
    assert parsed.errors == [] and parsed.title == "Bài mẫu"


@pytest.mark.parametrize(
    "key", ["Thời gian đăng", "publish_at", "thoi gian dang", "THOI GIAN DANG", "Publish-At"]
)
def test_publish_key_variants(key: str) -> None:
    parsed = interpret(post(BASE["title"], f"{key}: 10/12/2026 07:30"), FILE, TZ)
    assert parsed.errors == []
    assert parsed.publish_at == datetime(2026, 12, 10, 7, 30, tzinfo=VN)


def test_defaults_when_optional_keys_are_absent() -> None:
    parsed = interpret(post(BASE["title"], BASE["publish_at"]), FILE, TZ)
    assert parsed.channels == ("facebook", "zalo")
    assert parsed.approved_by is None
    assert parsed.images is None and parsed.cover is None and parsed.link is None
    assert parsed.share_with is None and parsed.zalo_broadcast is False
    assert parsed.withdrawn is False


def test_blank_optional_values_mean_not_given() -> None:
    parsed = interpret(
        post(BASE["title"], BASE["publish_at"], "Người duyệt:", "Trạng thái:", "Liên kết: "),
        FILE,
        TZ,
    )
    assert parsed.errors == []
    assert parsed.approved_by is None and not parsed.withdrawn and parsed.link is None


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("10/12/2026 07:30", datetime(2026, 12, 10, 7, 30, tzinfo=VN)),
        ("1/2/2027 7:05", datetime(2027, 2, 1, 7, 5, tzinfo=VN)),
        ("01/02/2027 19:00:30", datetime(2027, 2, 1, 19, 0, 30, tzinfo=VN)),
        ("10/12/2026 7h30", datetime(2026, 12, 10, 7, 30, tzinfo=VN)),
        ("10-12-2026 07:30", datetime(2026, 12, 10, 7, 30, tzinfo=VN)),
        ("10.12.2026, 07:30", datetime(2026, 12, 10, 7, 30, tzinfo=VN)),
        ("2026-12-10T07:30", datetime(2026, 12, 10, 7, 30, tzinfo=VN)),
        ("2026-12-10 07:30:00", datetime(2026, 12, 10, 7, 30, tzinfo=VN)),
        ("2026-12-10T07:30:00+07:00", datetime(2026, 12, 10, 7, 30, tzinfo=VN)),
        ("2026-12-10T00:30:00Z", datetime(2026, 12, 10, 0, 30, tzinfo=UTC)),
        ("2026-12-10T09:30:00+09:00", datetime(2026, 12, 10, 7, 30, tzinfo=VN)),
    ],
)
def test_every_date_form(written: str, expected: datetime) -> None:
    parsed = interpret(post(BASE["title"], f"Thời gian đăng: {written}"), FILE, TZ)
    assert parsed.errors == []
    assert parsed.publish_at == expected
    assert parsed.publish_at is not None and parsed.publish_at.tzinfo is not None


def test_local_times_use_the_configured_timezone() -> None:
    parsed = interpret(post(BASE["title"], BASE["publish_at"]), FILE, ZoneInfo("Asia/Tokyo"))
    assert parsed.publish_at == datetime(2026, 12, 10, 7, 30, tzinfo=timezone(timedelta(hours=9)))


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (
            "31/02/2026 07:30",
            "Thời gian đăng '31/02/2026 07:30' không có thật (tháng 2/2026 không có ngày 31). "
            "Ghi theo dạng dd/mm/yyyy HH:MM, ví dụ 10/12/2026 07:30.",
        ),
        (
            "29/02/2027 07:30",
            "Thời gian đăng '29/02/2027 07:30' không có thật (tháng 2/2027 không có ngày 29). "
            "Ghi theo dạng dd/mm/yyyy HH:MM, ví dụ 10/12/2026 07:30.",
        ),
        (
            "12/13/2026 07:30",
            "Thời gian đăng '12/13/2026 07:30' không có thật (không có tháng 13). "
            "Có phải ý bạn là 13/12/2026 07:30? "
            "Ghi theo dạng dd/mm/yyyy HH:MM, ví dụ 10/12/2026 07:30.",
        ),
        (
            "10/12/2026 24:00",
            "Thời gian đăng '10/12/2026 24:00' không có thật (không có 24 giờ (giờ từ 0 đến "
            "23)). Ghi theo dạng dd/mm/yyyy HH:MM, ví dụ 10/12/2026 07:30.",
        ),
        (
            "10/12/2026 07:75",
            "Thời gian đăng '10/12/2026 07:75' không có thật (không có phút 75 (phút từ 00 đến "
            "59)). Ghi theo dạng dd/mm/yyyy HH:MM, ví dụ 10/12/2026 07:30.",
        ),
        (
            "2026-02-30T07:30",
            "Thời gian đăng '2026-02-30T07:30' không có thật hoặc sai dạng ISO 8601. Ghi theo "
            "dạng dd/mm/yyyy HH:MM, ví dụ 10/12/2026 07:30 (hoặc ISO 8601 như "
            "2026-12-10T07:30:00+07:00).",
        ),
        (
            "10/12/2026",
            "Thời gian đăng '10/12/2026' chỉ có ngày, thiếu giờ. Ghi thêm giờ, ví dụ "
            "10/12/2026 07:30.",
        ),
        (
            "sáng mai",
            "Thời gian đăng 'sáng mai' không đúng định dạng. Ghi theo dạng dd/mm/yyyy HH:MM, "
            "ví dụ 10/12/2026 07:30 (ngày/tháng/năm, rồi giờ:phút).",
        ),
    ],
)
def test_bad_dates_name_the_expected_format(written: str, message: str) -> None:
    errors = only_errors(post(BASE["title"], f"Thời gian đăng: {written}"))
    assert errors == [Problem(FILE, message, 2)]


# ---------------------------------------------------------------- errors


def test_unknown_key_suggests_the_closest_one() -> None:
    errors = only_errors(post(BASE["title"], BASE["publish_at"], "Ngươi duyt: A", "Kenhh: zalo"))
    hint = " Nếu đây là nội dung bài, hãy để một dòng trống giữa phần đầu và nội dung."
    assert errors == [
        Problem(
            FILE,
            f"Mục 'Ngươi duyt' không có trong mẫu bài viết. Có phải ý bạn là "
            f"'Người duyệt'? Sửa lại tên mục.{hint}",
            3,
        ),
        Problem(
            FILE,
            f"Mục 'Kenhh' không có trong mẫu bài viết. Có phải ý bạn là 'Kênh'? "
            f"Sửa lại tên mục.{hint}",
            4,
        ),
    ]


def test_english_misspelling_suggests_the_english_key() -> None:
    errors = only_errors(post(BASE["title"], BASE["publish_at"], "publish_time: x"))
    assert "Có phải ý bạn là 'publish_at'?" in errors[0].message


def test_unknown_key_without_a_close_match_lists_the_keys() -> None:
    errors = only_errors(post(BASE["title"], BASE["publish_at"], "Địa điểm: Đức Phổ"))
    assert errors == [
        Problem(
            FILE,
            "Mục 'Địa điểm' không có trong mẫu bài viết. Các mục dùng được: Tiêu đề, Thời gian "
            "đăng, Kênh, Người duyệt, Ảnh, Ảnh bìa, Video, Tiêu đề video, Mô tả video, Dạng "
            "video, Liên kết, Tác giả, Mô tả, Chia sẻ, Gửi tin "
            "Zalo, Trạng thái. Nếu đây là nội dung bài, hãy để một dòng trống giữa phần đầu và "
            "nội dung.",
            3,
        )
    ]


def test_duplicate_key_is_an_error_even_across_languages() -> None:
    errors = only_errors(post(BASE["title"], BASE["publish_at"], "title: Khác"))
    assert errors == [
        Problem(
            FILE,
            "Mục 'Tiêu đề' được ghi hai lần (dòng 1 và dòng 3). Chỉ giữ lại một dòng.",
            3,
        )
    ]


def test_missing_blank_line_between_header_and_body() -> None:
    text = "Tiêu đề: A\nThời gian đăng: 10/12/2026 07:30\nHưởng ứng ngày chuyển đổi số\nDòng hai\n"
    errors = only_errors(text)
    assert errors[0] == Problem(
        FILE,
        "Dòng 3 không đúng dạng 'Tên mục: giá trị' (ví dụ 'Tiêu đề: …'). Nếu đây là nội dung "
        "bài, hãy để một dòng trống giữa phần đầu và nội dung.",
        3,
    )
    assert len([e for e in errors if "không đúng dạng" in e.message]) == 1  # said once


@pytest.mark.parametrize(
    ("header", "message", "line"),
    [
        (
            ["Thời gian đăng: 10/12/2026 07:30"],
            "Thiếu tiêu đề. Thêm dòng 'Tiêu đề: …' vào phần đầu tệp.",
            None,
        ),
        (
            ["Tiêu đề:", "Thời gian đăng: 10/12/2026 07:30"],
            "Tiêu đề đang để trống. Ghi tiêu đề bài sau dấu hai chấm.",
            1,
        ),
        (
            ["Tiêu đề: A"],
            "Thiếu thời gian đăng. Thêm dòng 'Thời gian đăng: dd/mm/yyyy HH:MM', ví dụ "
            "'Thời gian đăng: 10/12/2026 07:30'.",
            None,
        ),
        (
            ["Tiêu đề: A", "Thời gian đăng:"],
            "Thời gian đăng đang để trống. Ghi theo dạng dd/mm/yyyy HH:MM, ví dụ 10/12/2026 07:30.",
            2,
        ),
        (
            [*BASE.values(), "Kênh: fb"],
            "Kênh 'fb' không có. Có phải ý bạn là 'facebook'? Chỉ dùng facebook và/hoặc zalo, "
            "cách nhau bằng dấu phẩy.",
            3,
        ),
        (
            [*BASE.values(), "Kênh: Zalo OA"],
            "Kênh 'Zalo OA' không có. Có phải ý bạn là 'zalo'? Chỉ dùng facebook và/hoặc zalo, "
            "cách nhau bằng dấu phẩy.",
            3,
        ),
        (
            [*BASE.values(), "Kênh: twitter"],
            "Kênh 'twitter' không có. Chỉ dùng facebook và/hoặc zalo, cách nhau bằng dấu phẩy.",
            3,
        ),
        (
            [*BASE.values(), "Kênh: ,"],
            "Mục Kênh đang để trống. Ghi 'facebook, zalo' (hoặc xóa dòng này để đăng cả hai kênh).",
            3,
        ),
        (
            [*BASE.values(), "Liên kết: ducpho.gov.vn"],
            "Liên kết 'ducpho.gov.vn' không hợp lệ: cần một địa chỉ đầy đủ bắt đầu bằng http:// "
            "hoặc https://, ví dụ https://ducpho.quangngai.gov.vn.",
            3,
        ),
        (
            [*BASE.values(), "Liên kết: ftp://x.vn/a"],
            "Liên kết 'ftp://x.vn/a' không hợp lệ: cần một địa chỉ đầy đủ bắt đầu bằng http:// "
            "hoặc https://, ví dụ https://ducpho.quangngai.gov.vn.",
            3,
        ),
        (
            [*BASE.values(), "Người duyệt: " + "A" * 201],
            "Tên người duyệt dài 201 ký tự (tối đa 200). Chỉ ghi họ và tên người duyệt.",
            3,
        ),
        (
            [*BASE.values(), "Kênh: facebook", "Tác giả: " + "A" * 201],
            "Tác giả dài 201 ký tự (tối đa 200). Chỉ ghi tên tác giả.",
            4,
        ),
        (
            [*BASE.values(), "Gửi tin Zalo: có lẽ"],
            "Gửi tin Zalo 'có lẽ' không hợp lệ: ghi 'có' hoặc 'không'.",
            3,
        ),
        (
            [*BASE.values(), "Trạng thái: tạm dừng"],
            "Trạng thái 'tạm dừng' không hợp lệ: chỉ dùng 'Trạng thái: hủy' để hủy bài. Muốn "
            "đăng bài thì xóa dòng này.",
            3,
        ),
    ],
)
def test_each_error_message(header: list[str], message: str, line: int | None) -> None:
    assert only_errors(post(*header)) == [Problem(FILE, message, line)]


def test_empty_body_is_an_error() -> None:
    assert only_errors("Tiêu đề: A\nThời gian đăng: 10/12/2026 07:30\n\n  \n\n") == [
        Problem(
            FILE,
            "Nội dung bài viết đang trống. Sau phần đầu, để một dòng trống rồi viết nội dung bài.",
        )
    ]


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file_says_what_to_write(text: str) -> None:
    assert only_errors(text) == [
        Problem(
            FILE,
            "Tệp bài viết đang trống. Ghi phần đầu (Tiêu đề, Thời gian đăng, Người duyệt…), một "
            "dòng trống, rồi nội dung bài.",
        )
    ]


# ---------------------------------------------------------------- body


def test_body_keeps_paragraphs_and_strips_only_the_end() -> None:
    body = "  Đoạn một, thụt lề.\n\n\nĐoạn hai.  \n- ý một\n- ý hai"
    parsed = interpret(post(*BASE.values(), body=body + "\n\n \t\n"), FILE, TZ)
    assert parsed.body == body
    assert parsed.body_line == 4


def test_extra_blank_lines_after_the_header_are_not_part_of_the_body() -> None:
    parsed = interpret("\n\nTiêu đề: A\nThời gian đăng: 10/12/2026 07:30\n\n\n\nNội dung", FILE, TZ)
    assert parsed.errors == [] and parsed.body == "Nội dung" and parsed.body_line == 8


def test_values_may_contain_colons() -> None:
    parsed = interpret(post("Tiêu đề: Hội nghị: chuyển đổi số 2026", BASE["publish_at"]), FILE, TZ)
    assert parsed.title == "Hội nghị: chuyển đổi số 2026"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Câu một. Câu hai.", "Câu một."),
        ("Không có dấu chấm\nvẫn một đoạn\n\nĐoạn hai.", "Không có dấu chấm vẫn một đoạn"),
        ("Ngày 10/10. Tiếp theo!", "Ngày 10/10."),
        ("Bạn đã cài VNeID? Hãy cài ngay.", "Bạn đã cài VNeID?"),
        ("Số 3.5 triệu người. Tiếp.", "Số 3.5 triệu người."),
    ],
)
def test_default_description_is_the_first_sentence(body: str, expected: str) -> None:
    assert first_sentence(body) == expected


def test_default_description_is_cut_to_fit_zalo() -> None:
    long = " ".join(["chuyển đổi số"] * 60) + "."
    result = first_sentence(long)
    assert len(result) <= 290 and result.endswith("…")
    assert not result[:-1].endswith(" ")


# ---------------------------------------------------------------- round trips

_line_text = (
    st.text(
        alphabet=st.characters(
            whitelist_categories=("Lu", "Ll", "Nd", "Zs", "Po", "Pd"),
            whitelist_characters="àáảãạâầấẩẫậăằắẳẵặèéẻẽẹêềếểễệđìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵĐ",
            max_codepoint=0x1EFF,
        ),
        min_size=1,
        max_size=40,
    )
    .map(lambda s: unicodedata.normalize("NFC", " ".join(s.split())))
    .filter(lambda s: bool(s) and ":" not in s and s.isprintable())
)
_paragraph = st.lists(_line_text, min_size=1, max_size=3).map("\n".join)
_body = st.lists(_paragraph, min_size=1, max_size=4).map("\n\n".join)


@settings(max_examples=120, deadline=None)
@given(
    title=_line_text,
    # "chưa duyệt", "không"…: words that say nobody approved are refused (test_approval.py)
    approver=st.none() | _line_text.filter(lambda s: fold(s) not in _NOT_A_NAME),
    body=_body,
    channels=st.sampled_from([("facebook",), ("zalo",), ("facebook", "zalo")]),
    when=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2035, 12, 31)),
    english=st.booleans(),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-be-bom", "cp1258"]),
    crlf=st.booleans(),
)
def test_parser_round_trip(
    title: str,
    approver: str | None,
    body: str,
    channels: tuple[str, ...],
    when: datetime,
    english: bool,
    encoding: str,
    crlf: bool,
) -> None:
    when = when.replace(second=0, microsecond=0)
    keys = (
        ("title", "publish_at", "channels", "approved_by")
        if english
        else ("Tiêu đề", "Thời gian đăng", "Kênh", "Người duyệt")
    )
    lines = [
        f"{keys[0]}: {title}",
        f"{keys[1]}: {when:%d/%m/%Y %H:%M}",
        f"{keys[2]}: {', '.join(channels)}",
    ]
    if approver:
        lines.append(f"{keys[3]}: {approver}")
    text = "\n".join(lines) + "\n\n" + body + "\n"
    if crlf:
        text = text.replace("\n", "\r\n")
    if encoding == "cp1258":
        try:
            data = _cp1258(text)
        except UnicodeEncodeError:
            data = text.encode("utf-8")
    elif encoding == "utf-16-be-bom":
        data = codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    else:
        data = text.encode(encoding)
    parsed = interpret(decode_text(data)[0], FILE, TZ)
    assert parsed.errors == []
    assert parsed.title == title.strip()
    assert parsed.body == body
    assert parsed.channels == channels
    assert parsed.approved_by == (approver.strip() if approver else None)
    assert parsed.publish_at == when.replace(tzinfo=TZ)


def _cp1258(text: str) -> bytes:
    tones = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
    out = []
    for ch in text:
        parts = unicodedata.normalize("NFD", ch)
        tone = "".join(c for c in parts if c in tones)
        out.append(unicodedata.normalize("NFC", "".join(c for c in parts if c not in tones)) + tone)
    return "".join(out).encode("cp1258")


def test_consequences_of_one_mistake_are_not_repeated() -> None:
    # a misspelled required key: its own error, not also "missing title"
    errors = only_errors(post("Tieu de chinh: A", BASE["publish_at"]))
    assert [e.line for e in errors] == [1]
    errors = only_errors(post(BASE["title"], "Thoi gian dang bai: 10/12/2026 07:30"))
    assert [e.line for e in errors] == [2]
    # no blank line before the body: one error, not also "empty body"
    errors = only_errors("Tiêu đề: A\nThời gian đăng: 10/12/2026 07:30\nNội dung liền\n")
    assert [e.line for e in errors] == [3]
