"""Zalo error codes -> the project's error classes, and the time rules they carry."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from social_publisher.channels.zalo_errors import classify, still_processing_at_verify
from social_publisher.errors import (
    AuthError,
    InvalidRequestError,
    NightTimeError,
    PermissionDeniedError,
    ProcessingError,
    QuotaError,
    RateLimitError,
    TransientError,
)
from social_publisher.localtime import month_start, next_month_start
from social_publisher.platforms import is_broadcast_hours, next_broadcast_opening

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 09:00 local


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (-216, AuthError),
        (-220, AuthError),
        (-32, RateLimitError),
        (-214, ProcessingError),
        (-200, TransientError),
        (-234, NightTimeError),
        (-211, QuotaError),
        (-223, QuotaError),
        (-224, QuotaError),
        (-201, InvalidRequestError),
        (-204, PermissionDeniedError),
        (-205, PermissionDeniedError),
        (-209, PermissionDeniedError),
        (-212, PermissionDeniedError),
        (-221, PermissionDeniedError),
        (-242, PermissionDeniedError),
        (-230, InvalidRequestError),
    ],
)
def test_each_documented_code_has_its_class(code: int, cls: type) -> None:
    err = classify(code, "zalo says so", now=NOW, tz=TZ, action="tạo bài viết")
    assert type(err) is cls
    assert err.code == code
    assert err.platform == "zalo"
    assert "zalo says so" in err.message and f"mã {code}" in err.message
    assert "Không tạo bài viết được trên Zalo" in err.message


def test_unknown_code_is_invalid_and_logged_with_code_and_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="social_publisher.zalo"):
        err = classify(-999, "brand new failure", now=NOW, tz=TZ)
    assert isinstance(err, InvalidRequestError)
    assert "-999" in caplog.text and "brand new failure" in caplog.text


def test_quota_waits_until_the_first_of_next_month_local_time() -> None:
    # 31/12/2026 23:30 local = 16:30 UTC: the quota resets at 01/01/2027 00:00 local.
    now = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)
    err = classify(-223, "Your OA has reach the limit quota create article", now=now, tz=TZ)
    assert isinstance(err, QuotaError)
    assert err.retry_after == 30 * 60
    assert "01/01/2027" in err.message
    assert next_month_start(now, TZ) == datetime(2027, 1, 1, tzinfo=TZ)
    assert month_start(now, TZ) == datetime(2026, 12, 1, tzinfo=TZ)


def test_night_time_waits_until_six_local() -> None:
    late = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)  # 22:30 local
    err = classify(-234, "night", now=late, tz=TZ)
    assert isinstance(err, NightTimeError)
    assert err.retry_after == 7.5 * 3600
    early = datetime(2026, 3, 9, 22, 0, tzinfo=UTC)  # 05:00 local on the 10th
    assert next_broadcast_opening(early, TZ) == datetime(2026, 3, 10, 6, 0, tzinfo=TZ)
    assert not is_broadcast_hours(early, TZ)
    assert not is_broadcast_hours(late, TZ)
    assert is_broadcast_hours(NOW, TZ)


def test_rate_limit_carries_a_wait() -> None:
    err = classify(-32, "Rate limit", now=NOW, tz=TZ)
    assert err.retry_after == 60
    assert err.retryable


@pytest.mark.parametrize(
    ("code", "message", "processing"),
    [
        (-214, "Article is being processed", True),
        (-999, "Whatever Zalo says", True),  # not in the contract's table
        (-201, "Article is processing, please wait", True),
        (-201, "title is required", False),
        (-200, "Can not fetch photo", False),  # a documented, definite failure
        (-216, "Access token is invalid", False),
        (-32, "Rate limit", False),
        (-223, "quota", False),
        (-242, "appsecret_proof is invalid", False),
    ],
)
def test_what_verify_may_take_for_still_processing(
    code: int, message: str, processing: bool
) -> None:
    exc = classify(code, message, now=NOW, tz=TZ, action="xác nhận bài viết")
    assert still_processing_at_verify(exc) is processing
