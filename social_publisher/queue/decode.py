"""Turn the bytes of a staff post file into clean NFC text.

Staff write in Notepad, Word or Unikey-era tools, so the same post may arrive
as UTF-8 (with or without BOM), UTF-16 with BOM, or Windows-1258 with
combining tone marks. The order matters: strict UTF-8 first (it almost never
decodes other encodings by accident), then the UTF-16 BOMs, then cp1258 as
the last legacy guess. Whatever came in, the result is NFC with ``\\n`` line
ends, so the content hash does not depend on how the file was saved.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from ..numbers import vn_megabytes

MAX_TEXT_BYTES = 1024 * 1024

#: control characters that legacy editors leave behind and that carry no meaning
_SOFT_BREAKS = {"\x0b": "\n", "\x0c": "\n"}
#: every C0/C1 control except tab and line ends (soft breaks are replaced before the check)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]")
#: text with no control character at all but tab and LF (no CR, DOS EOF, soft break)
_CLEAN = re.compile(r"[^\x00-\x08\x0b-\x1f\x7f-\x9f]*")
#: the same controls as UTF-8 bytes: C0 (but tab and LF) and DEL are single bytes, and
#: C1 (U+0080-U+009F) starts with 0xC2, which Vietnamese text seldom has
_C0_BYTES = bytes([*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F])


class DecodeError(ValueError):
    """The bytes are not a text file in any encoding we accept; ``message`` is Vietnamese."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


_JUNK = (
    "Tệp không phải văn bản thuần (có ký tự nhị phân hoặc mã hóa lạ). Mở tệp bằng Notepad, "
    "chọn Lưu thành (Save As) với mã hóa UTF-8; nếu soạn bằng Word, hãy chép nội dung sang "
    "Notepad rồi lưu lại."
)


def _raw_decode(data: bytes) -> tuple[str, str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return (text[1:], "utf-8-sig") if text.startswith("\ufeff") else (text, "utf-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise DecodeError(_JUNK) from None
    try:
        return data.decode("cp1258"), "cp1258"
    except UnicodeDecodeError:
        raise DecodeError(_JUNK) from None


def decode_text(data: bytes) -> tuple[str, str]:
    """Decoded NFC text with ``\\n`` line ends, and the encoding that was recognised."""
    if len(data) > MAX_TEXT_BYTES:
        raise DecodeError(too_big_message(len(data)))
    text, encoding = _raw_decode(data)
    # most files have no control character: nothing below has anything to do
    if not _clean_utf8(data, encoding) and _CLEAN.fullmatch(text) is None:
        if "\x00" in text:
            raise DecodeError(_JUNK)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if text.endswith("\x1a"):  # DOS end-of-file marker
            text = text[:-1]
        for soft, hard in _SOFT_BREAKS.items():
            text = text.replace(soft, hard)
        if _CONTROL.search(text):
            raise DecodeError(_JUNK)
    return unicodedata.normalize("NFC", text), encoding


def _clean_utf8(data: bytes, encoding: str) -> bool:
    """What ``_CLEAN`` says of UTF-8 text, read from its bytes (cheaper than the regex);
    False when it cannot tell, and the regex decides."""
    return (
        encoding.startswith("utf-8")
        and b"\xc2" not in data
        and len(data.translate(None, _C0_BYTES)) == len(data)
    )


def too_big_message(size: int) -> str:
    return (
        f"Tệp bài viết quá lớn ({vn_megabytes(size, binary=True)}; tối đa 1 MB). Tệp này chỉ "
        "chứa chữ: kiểm tra xem có dán nhầm ảnh hay nội dung khác vào không."
    )
