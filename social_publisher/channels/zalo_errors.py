"""Zalo OA error codes -> the project's error hierarchy (with the waits they imply).

Zalo answers failures with HTTP 200 and a negative ``error`` field; third-party
tables disagree on meanings, so every classified error keeps Zalo's own code
and message (``ChannelError.code`` / ``platform_message``) and unknown codes are
logged in full. Staff read these messages (status, doctor), hence Vietnamese.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from ..errors import (
    AuthError,
    ChannelError,
    InvalidRequestError,
    NightTimeError,
    PermissionDeniedError,
    ProcessingError,
    QuotaError,
    RateLimitError,
    TransientError,
)
from ..localtime import next_month_start
from ..platforms import ZALO, next_broadcast_opening

log = logging.getLogger("social_publisher.zalo")

PLATFORM = ZALO

TOKEN_INVALID = frozenset({-216, -220})
RATE_LIMITED = -32
PROCESSING = -214
SEND_FAILED = -200
NIGHT_TIME = -234
QUOTA = frozenset({-211, -223, -224})
FIELD_INVALID = -201
CONFIG = frozenset({-204, -205, -209, -212, -221, -242})
FOLLOWER_ONLY = frozenset({-213, -230, -232})
#: every code the contract table gives a meaning to
KNOWN_CODES = frozenset(
    {
        *TOKEN_INVALID,
        RATE_LIMITED,
        PROCESSING,
        SEND_FAILED,
        NIGHT_TIME,
        *QUOTA,
        FIELD_INVALID,
        *CONFIG,
        *FOLLOWER_ONLY,
    }
)

#: Zalo gives no estimate for -32; its buckets are per minute.
RATE_LIMIT_WAIT_SECONDS = 60.0

_CONFIG_HINTS = {
    -204: "OA đã bị vô hiệu hóa",
    -205: "không tìm thấy OA",
    -209: "ứng dụng chưa được cấp quyền dùng API này",
    -212: "OA chưa đăng ký dùng API này",
    -221: "OA chưa được xác thực",
    -242: "appsecret_proof sai: kiểm tra ZALO_APP_SECRET",
}


def still_processing_at_verify(exc: ChannelError) -> bool:
    """Whether a verify answer may mean "still processing" (the code is unconfirmed: -214
    rests on one source). Besides -214: any code the contract table does not know, and a
    "field invalid" answer whose message speaks of processing. Never -200 (a documented,
    definite failure), nor token, rate-limit, quota or configuration answers.

    Why so wide: a token from ``create`` proves the article exists or soon will; taking a
    slow article's unknown answer for a failure would lead to a second create (a duplicate
    on the OA and a spent quota slot), while taking a failure for "processing" only costs
    polling until the give-up window, after which staff are asked to look.
    """
    if isinstance(exc, ProcessingError):
        return True
    if not isinstance(exc, InvalidRequestError) or exc.code is None:
        return False
    if exc.code not in KNOWN_CODES:
        return True
    return exc.code == FIELD_INVALID and "process" in (exc.platform_message or "").lower()


def _seconds_until(when: datetime, now: datetime) -> float:
    return max(0.0, (when - now).total_seconds())


def classify(
    code: int,
    message: str,
    *,
    now: datetime,
    tz: ZoneInfo,
    http_status: int | None = None,
    body: str | None = None,
    action: str = "",
) -> ChannelError:
    """The error to raise for a Zalo answer ``{"error": code, "message": message}``.

    ``action`` is a short Vietnamese phrase naming what was attempted ("tạo bài viết"),
    prefixed to the message so staff see what failed.
    """
    zalo_says = f"Zalo trả lời: {message or 'không có nội dung'} (mã {code})"
    prefix = f"Không {action} được trên Zalo. " if action else ""

    def error(
        cls: type[ChannelError], explanation: str, retry_after: float | None = None
    ) -> ChannelError:
        return cls(
            f"{prefix}{explanation}. {zalo_says}",
            platform=PLATFORM,
            http_status=http_status,
            code=code,
            retry_after=retry_after,
            body=body,
        )

    if code in TOKEN_INVALID:
        return error(
            AuthError,
            "Token truy cập Zalo không hợp lệ hoặc đã hết hạn, làm mới cũng không được. "
            "Quản trị viên OA cần cấp lại quyền rồi nhập cặp token mới bằng "
            "`social-publisher zalo token set`",
        )
    if code == RATE_LIMITED:
        return error(
            RateLimitError,
            "Zalo báo gọi API quá nhanh; sẽ thử lại sau một phút",
            RATE_LIMIT_WAIT_SECONDS,
        )
    if code == PROCESSING:
        return error(ProcessingError, "Zalo vẫn đang xử lý bài viết; sẽ kiểm tra lại sau")
    if code == SEND_FAILED:
        return error(
            TransientError,
            "Zalo không lấy được ảnh hoặc không gửi được (ảnh không tải được từ địa chỉ "
            "công khai, hoặc ảnh lớn hơn 1 MB); sẽ thử lại vài lần",
        )
    if code == NIGHT_TIME:
        return error(
            NightTimeError,
            "Zalo không gửi tin quảng bá từ 22:00 đến 06:00; sẽ gửi lại sau 06:00",
            _seconds_until(next_broadcast_opening(now, tz), now),
        )
    if code in QUOTA:
        reset = next_month_start(now, tz)
        return error(
            QuotaError,
            "OA đã dùng hết hạn mức của gói trong tháng; bài Zalo được giữ lại đến "
            f"{reset:%d/%m/%Y} (đầu tháng sau) rồi tự đăng",
            _seconds_until(reset, now),
        )
    if code == FIELD_INVALID:
        return error(
            InvalidRequestError,
            "Zalo từ chối một trường của bài viết; sửa bài theo thông báo rồi thử lại",
        )
    if code in CONFIG:
        return error(
            PermissionDeniedError,
            f"Lỗi cấu hình Zalo OA ({_CONFIG_HINTS[code]}); "
            "quản trị viên OA cần kiểm tra trên trang developers.zalo.me",
        )
    if code in FOLLOWER_ONLY:
        return error(
            InvalidRequestError,
            "Zalo chỉ cho gửi tin này tới người quan tâm đã tương tác gần đây",
        )
    log.error("Zalo answered an unknown error code %s: %s", code, message)
    return error(
        InvalidRequestError,
        "Zalo trả về mã lỗi chưa biết; bài được giữ lại để cán bộ kiểm tra",
    )
