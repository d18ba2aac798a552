"""The error hierarchy carries HTTP context and never a secret."""

from __future__ import annotations

import pytest

from social_publisher.errors import (
    AuthError,
    ChannelError,
    OutcomeUnknownError,
    Problem,
    QueueError,
    RateLimitError,
    TransientError,
    redact,
    register_secret,
)


def test_channel_error_carries_context_in_text() -> None:
    err = RateLimitError(
        "(#4) Application request limit reached",
        platform="facebook",
        http_status=400,
        code=4,
        subcode=1234,
        trace_id="EJplcsCHuLu",
        retry_after=600,
    )
    assert str(err) == (
        "[facebook, HTTP 400, code 4/1234, trace EJplcsCHuLu] "
        "(#4) Application request limit reached"
    )
    assert err.retryable and err.retry_after == 600 and err.kind == "rate_limit"
    assert isinstance(err, ChannelError)
    assert not AuthError("x", platform="zalo").retryable
    assert TransientError("x", platform="zalo").retryable
    assert not OutcomeUnknownError("x", platform="zalo").retryable


def test_registered_secret_never_reaches_error_text_or_body() -> None:
    register_secret("EAAG-very-secret-token")
    err = AuthError(
        "Invalid OAuth access token EAAG-very-secret-token",
        platform="facebook",
        body='{"access_token": "EAAG-very-secret-token"}',
    )
    assert "EAAG-very-secret-token" not in str(err)
    assert "EAAG-very-secret-token" not in (err.body or "")
    assert "EAAG-very-secret-token" not in err.platform_message


@pytest.mark.parametrize(
    "text",
    [
        "GET /me?access_token=abcdef123456&fields=id",
        "refresh_token=r-0123456789",
        'headers {"secret_key": "s3cr3t-value"}',
        "Authorization: Bearer unregistered-token-1",
        "appsecret_proof=deadbeefcafe",
    ],
)
def test_credential_parameters_are_masked_even_unregistered(text: str) -> None:
    masked = redact(text)
    assert "***" in masked
    for leaked in (
        "abcdef123456",
        "r-0123456789",
        "s3cr3t-value",
        "unregistered-token-1",
        "deadbeefcafe",
    ):
        assert leaked not in masked


def test_queue_error_lists_problems_with_file_and_line() -> None:
    err = QueueError(
        [
            Problem("bai-1/bai-viet.txt", "Ngày không hợp lệ", 2),
            Problem("bai-1/anh.jpg", "Thiếu ảnh"),
        ]
    )
    assert str(err) == "bai-1/bai-viet.txt:2: Ngày không hợp lệ; bai-1/anh.jpg: Thiếu ảnh"
    assert err.problems[0].as_dict() == {
        "file": "bai-1/bai-viet.txt",
        "line": 2,
        "message": "Ngày không hợp lệ",
    }
