"""Reading Graph's answers: error bodies into the project's error classes, usage headers.

Graph's HTTP status is not reliable (the same code comes with 400, 403 or 500), so the
verdict is taken from the body's ``code`` / ``error_subcode`` / ``is_transient``, per the
table in ``docs/api/facebook-graph.md``. The exception text leads with a short Vietnamese
explanation (staff read it in ``status``) and keeps Graph's own message;
``platform_message`` holds Graph's message alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import (
    AuthError,
    ChannelError,
    DuplicateError,
    InvalidRequestError,
    PermissionDeniedError,
    PolicyError,
    RateLimitError,
    TransientError,
    redact,
)

PLATFORM = "facebook"

TRANSIENT_CODES = frozenset({1, 2})
#: 80000-80014 are the business-use-case limits (80001: Pages)
RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})
POLICY_CODES = frozenset({368})
#: 104 ("an access token is required") is not in the contract table; it means the same
AUTH_CODES = frozenset({102, 104, 190})
PERMISSION_CODES = frozenset({3, 10, *range(200, 300)})
INVALID_CODES = frozenset({100, 324, 1609005})
DUPLICATE_CODES = frozenset({506})

#: the floor of any rate-limit wait, and the pause after a 368 block ("back off for hours")
RATE_LIMIT_FLOOR_SECONDS = 60.0
POLICY_BACKOFF_SECONDS = 3 * 3600.0

_HINTS: dict[type[ChannelError], str] = {
    TransientError: "Facebook đang lỗi tạm thời, sẽ thử lại",
    RateLimitError: "Facebook giới hạn số lần gọi API của Trang, tạm dừng rồi thử lại",
    PolicyError: "Facebook tạm chặn đăng bài (đăng quá nhanh hoặc bị coi là vi phạm chính "
    "sách); chờ vài giờ và kiểm tra Trang",
    AuthError: "Mã truy cập Trang không còn hiệu lực: tạo mã mới và cập nhật "
    "FB_PAGE_ACCESS_TOKEN trong .env",
    PermissionDeniedError: "Ứng dụng thiếu quyền trên Trang (cần pages_manage_posts, "
    "pages_read_engagement, pages_show_list, read_insights)",
    InvalidRequestError: "Facebook từ chối nội dung yêu cầu này",
    DuplicateError: "Facebook từ chối vì nội dung trùng một bài vừa đăng",
}


def as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def error_class(
    code: int | None, subcode: int | None, is_transient: bool, http_status: int | None
) -> type[ChannelError]:
    """The verdict for one Graph error (the contract's table, body first)."""
    if code in RATE_LIMIT_CODES:
        return RateLimitError
    if code in POLICY_CODES:
        return PolicyError
    if code in AUTH_CODES:
        return AuthError
    if code in PERMISSION_CODES:
        return PermissionDeniedError
    if code in DUPLICATE_CODES:
        return DuplicateError
    if code in TRANSIENT_CODES or is_transient:
        return TransientError
    if code in INVALID_CODES or subcode == 1609005:
        return InvalidRequestError
    if http_status is not None and http_status >= 500:
        return TransientError
    return InvalidRequestError


def graph_error(payload: Any) -> Mapping[str, Any] | None:
    """The ``error`` object of a Graph answer, if it is one."""
    if isinstance(payload, Mapping) and isinstance(payload.get("error"), Mapping):
        error: Mapping[str, Any] = payload["error"]
        return error
    return None


def classify_error(
    payload: Mapping[str, Any],
    http_status: int | None,
    *,
    retry_after: float | None = None,
) -> ChannelError:
    """A project error for a Graph error body. ``retry_after``: the usage header's estimate."""
    error = graph_error(payload) or {}
    code = as_int(error.get("code"))
    subcode = as_int(error.get("error_subcode"))
    message = str(error.get("message") or "Graph API error")
    user_msg = error.get("error_user_msg")
    if isinstance(user_msg, str) and user_msg and user_msg not in message:
        message = f"{message} ({user_msg})"
    cls = error_class(code, subcode, error.get("is_transient") is True, http_status)
    wait: float | None = None
    if cls is RateLimitError:
        wait = max(retry_after or 0.0, RATE_LIMIT_FLOOR_SECONDS)
    elif cls is PolicyError:
        wait = POLICY_BACKOFF_SECONDS
    trace = error.get("fbtrace_id")
    exc = cls(
        f"{_HINTS[cls]}: {message}",
        platform=PLATFORM,
        http_status=http_status,
        code=code,
        subcode=subcode,
        trace_id=str(trace) if trace else None,
        retry_after=wait,
        body=json.dumps(payload, ensure_ascii=False)[:1000],
    )
    exc.platform_message = redact(message)
    return exc


def proof_refusal(payload: Any) -> bool | None:
    """Graph's two ``appsecret_proof`` refusals (code 100, GraphMethodException): True for
    "Invalid appsecret_proof provided in the API argument" (a proof made with the secret of
    an app that did not issue the token), False for "... require an appsecret_proof
    argument" (the app wants one and none was sent), None for any other answer."""
    error = graph_error(payload)
    if error is None or as_int(error.get("code")) != 100:
        return None
    message = str(error.get("message") or "").lower()
    if "appsecret_proof" not in message:
        return None
    return "invalid" in message


def is_missing_object(exc: ChannelError) -> bool:
    """Graph's "object does not exist" (code 100 subcode 33, or 803 on ``?ids=``)."""
    return (exc.code == 100 and exc.subcode == 33) or exc.code == 803


@dataclass(frozen=True)
class Usage:
    """The highest usage percentage any header reports, and Graph's wait estimate."""

    percent: float = 0.0
    regain_seconds: float = 0.0
    present: bool = False


def _fold(entry: Mapping[str, Any], percent: float, regain: float) -> tuple[float, float]:
    for key in ("call_count", "total_cputime", "total_time"):
        value = entry.get(key)
        if isinstance(value, int | float):
            percent = max(percent, float(value))
    minutes = entry.get("estimated_time_to_regain_access")
    if isinstance(minutes, int | float):
        regain = max(regain, float(minutes) * 60.0)
    return percent, regain


def parse_usage(headers: Mapping[str, str]) -> Usage:
    """Read ``X-Business-Use-Case-Usage``, ``X-App-Usage`` and ``X-Page-Usage`` (percentages;
    the regain estimate is in minutes). Malformed headers are ignored, never fatal."""
    percent = regain = 0.0
    present = False
    buc = headers.get("X-Business-Use-Case-Usage")
    if buc:
        try:
            data = json.loads(buc)
        except ValueError:
            data = None
        if isinstance(data, Mapping):
            present = True
            for entries in data.values():
                for entry in entries if isinstance(entries, list) else [entries]:
                    if isinstance(entry, Mapping):
                        percent, regain = _fold(entry, percent, regain)
    for name in ("X-App-Usage", "X-Page-Usage"):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if isinstance(data, Mapping):
            present = True
            percent, regain = _fold(data, percent, regain)
    return Usage(percent, regain, present)
