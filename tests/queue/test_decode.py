"""Every encoding staff editors produce decodes to the same NFC text."""

from __future__ import annotations

import codecs
import unicodedata
from collections.abc import Callable

import pytest

from social_publisher.queue import MAX_TEXT_BYTES, DecodeError, decode_text

TEXT = "Tiêu đề: Chuyển đổi số ở Đức Phổ\nNgười duyệt: Võ Thanh Hùng\n\nỨng dụng VNeID, thẻ BHYT.\n"


@pytest.mark.parametrize(
    ("encoded", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("utf-16"), "utf-16"),  # with BOM, native order
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), "utf-16"),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16"),
        (unicodedata.normalize("NFD", TEXT).encode("utf-8"), "utf-8"),
    ],
)
def test_encodings_decode_to_the_same_nfc_text(encoded: bytes, encoding: str) -> None:
    assert decode_text(encoded) == (TEXT, encoding)


def test_windows_1258_with_combining_tone_marks(cp1258_nfd: Callable[[str], bytes]) -> None:
    data = cp1258_nfd(TEXT)
    assert b"\xea\xf2" not in TEXT.encode("utf-8")  # sanity: the NFC form is not what we wrote
    text, encoding = decode_text(data)
    assert encoding == "cp1258"
    assert text == TEXT
    assert unicodedata.is_normalized("NFC", text)


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_crlf_and_cr_become_lf(newline: str) -> None:
    assert decode_text(TEXT.replace("\n", newline).encode("utf-8"))[0] == TEXT


def test_soft_breaks_and_dos_eof_are_tolerated() -> None:
    assert decode_text(b"a\x0bb\x0cc\x1a") == ("a\nb\nc", "utf-8")


@pytest.mark.parametrize(
    "junk",
    [
        b"\x00\x01\x02binary\xff\xfe\x00",
        bytes(range(256)),
        b"PK\x03\x04\x14\x00\x06\x00word document",  # a .docx renamed .txt
        TEXT.encode("utf-16-le"),  # UTF-16 without BOM: NUL bytes everywhere
        b"abc\x07def",
        codecs.BOM_UTF16_LE + b"\x00\xd8",  # lone surrogate
    ],
)
def test_binary_junk_is_refused_with_a_fix(junk: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_text(junk)
    assert "không phải văn bản thuần" in caught.value.message
    assert "UTF-8" in caught.value.message


def test_file_over_one_megabyte_is_refused() -> None:
    with pytest.raises(DecodeError) as caught:
        decode_text(b"a" * (MAX_TEXT_BYTES + 1))
    assert caught.value.message.startswith("Tệp bài viết quá lớn (1,0 MB; tối đa 1 MB).")
