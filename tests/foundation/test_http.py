"""The shared transport: reads are retried, creates never are (outcome unknown instead)."""

from __future__ import annotations

import logging

import pytest
import requests
import responses

from social_publisher.channels.http import HttpClient
from social_publisher.errors import OutcomeUnknownError, TransientError, register_secret

URL = "https://graph.example.test/v25.0/123/feed"


def client() -> HttpClient:
    return HttpClient("facebook", sleep=lambda _s: None, read_retries=2)


@responses.activate
def test_read_is_retried_after_5xx_then_succeeds() -> None:
    responses.add(responses.GET, URL, status=502)
    responses.add(responses.GET, URL, json={"data": []})
    assert client().request("GET", URL).json() == {"data": []}
    assert len(responses.calls) == 2


@responses.activate
def test_read_gives_up_after_its_retries_with_transient_error() -> None:
    for _ in range(3):
        responses.add(responses.GET, URL, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(TransientError):
        client().request("GET", URL)
    assert len(responses.calls) == 3


@responses.activate
@pytest.mark.parametrize(
    "failure",
    [
        requests.ReadTimeout("read timed out"),
        requests.ConnectionError("('Connection aborted.', RemoteDisconnected('closed'))"),
    ],
)
def test_create_after_sending_is_outcome_unknown_and_not_retried(failure: Exception) -> None:
    responses.add(responses.POST, URL, body=failure)
    with pytest.raises(OutcomeUnknownError):
        client().request("POST", URL, creates=True, data={"message": "x"})
    assert len(responses.calls) == 1


@responses.activate
def test_create_answered_with_5xx_is_outcome_unknown() -> None:
    responses.add(responses.POST, URL, status=500, body="oops")
    with pytest.raises(OutcomeUnknownError) as info:
        client().request("POST", URL, creates=True)
    assert info.value.http_status == 500
    assert len(responses.calls) == 1


@responses.activate
def test_create_that_never_connected_is_plain_transient() -> None:
    responses.add(
        responses.POST,
        URL,
        body=requests.ConnectionError(
            "HTTPSConnectionPool: Max retries exceeded (Caused by NewConnectionError("
            "'Failed to establish a new connection: [Errno 111] Connection refused'))"
        ),
    )
    with pytest.raises(TransientError) as info:
        client().request("POST", URL, creates=True)
    assert not isinstance(info.value, OutcomeUnknownError)


@responses.activate
def test_4xx_is_returned_for_the_channel_to_classify() -> None:
    responses.add(responses.POST, URL, status=400, json={"error": {"code": 100}})
    assert client().request("POST", URL, creates=True).status_code == 400


@responses.activate
def test_log_lines_never_carry_a_token(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("EAAG-token-in-url-123")
    responses.add(responses.GET, URL, body=requests.ReadTimeout("timeout"))
    responses.add(responses.GET, URL, json={})
    caplog.set_level(logging.DEBUG, logger="social_publisher.http")
    client().request("GET", URL + "?access_token=EAAG-token-in-url-123")
    assert caplog.records
    assert "EAAG-token-in-url-123" not in caplog.text


@responses.activate
@pytest.mark.parametrize(
    ("failure", "said"),
    [
        (
            requests.ConnectionError(
                "HTTPSConnectionPool(host='graph.example.test', port=443): Max retries exceeded "
                "(Caused by NewConnectionError('Failed to establish a new connection: "
                "[Errno 111] Connection refused'))"
            ),
            "Không kết nối được tới graph.example.test: máy chủ từ chối kết nối (không chạy, "
            "hoặc sai cổng)",
        ),
        (
            requests.ConnectionError(
                'Max retries exceeded (Caused by NameResolutionError("Failed to resolve '
                "'graph.example.test' ([Errno -2] Name or service not known)\"))"
            ),
            "Không tìm thấy máy chủ graph.example.test (tên miền không phân giải được)",
        ),
        (
            requests.ConnectTimeout("connect timeout=5"),
            "Không kết nối được tới graph.example.test (hết thời gian chờ kết nối)",
        ),
        (
            requests.ReadTimeout("read timed out"),
            "Hết thời gian chờ graph.example.test trả lời",
        ),
    ],
)
def test_a_failure_in_transit_is_said_in_vietnamese(failure: Exception, said: str) -> None:
    """Staff read the host, the cause and the setting: never urllib3's English text."""
    for _ in range(3):
        responses.add(responses.GET, URL, body=failure)
    with pytest.raises(TransientError) as info:
        client().request("GET", URL)
    assert info.value.platform_message == (
        f"{said}. Kiểm tra kết nối mạng của máy, hoặc địa chỉ FB_GRAPH_URL trong .env"
    )


@responses.activate
def test_an_unanswered_create_says_so_in_vietnamese() -> None:
    responses.add(responses.POST, URL, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(OutcomeUnknownError) as info:
        HttpClient("zalo", setting="ZALO_OAUTH_URL").request("POST", URL, creates=True)
    assert info.value.platform_message == (
        "Không rõ kết quả (đã gửi đi nhưng không nhận được trả lời): Hết thời gian chờ "
        "graph.example.test trả lời. Kiểm tra kết nối mạng của máy, hoặc địa chỉ ZALO_OAUTH_URL "
        "trong .env"
    )
