"""The HTTP transport both channels share.

Its one real decision is the line between "never sent" and "sent, answer
unknown". A read request that fails in transit is retried here, a couple of
times with backoff. A create request (``creates=True``) is never retried:
once its bytes may have left, a timeout, a reset or a 5xx raises
:class:`OutcomeUnknownError` and the daemon reconciles. Only a failure to
connect at all is a plain :class:`TransientError` for a create call, because
nothing reached the platform.

Platform error bodies are classified by each channel; this module only knows
transport. URLs are logged redacted and headers are never logged. What a
failure in transit is called for staff (:func:`network_problem`) is Vietnamese
and names the host and the setting to check; the library's own English text
(urllib3's "Max retries exceeded…") goes to the log file only.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from ..errors import AuthError, ConnectError, OutcomeUnknownError, TransientError, redact

log = logging.getLogger("social_publisher.http")

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 60.0

#: the setting that holds each client's host, named when it cannot be reached
HOST_SETTINGS: Mapping[str, str] = {
    "facebook": "FB_GRAPH_URL",
    "zalo": "ZALO_OPENAPI_URL",
    "public_media": "PUBLIC_MEDIA_BASE_URL",
}
_DNS_MARKERS = (
    "Name or service not known",
    "nodename nor servname",
    "Failed to resolve",
    "getaddrinfo failed",
    "Temporary failure in name resolution",
    "No address associated with hostname",
)
_UNREACHABLE_MARKERS = ("No route to host", "Network is unreachable")
_DROPPED_MARKERS = ("Connection reset", "Connection aborted", "RemoteDisconnected", "Broken pipe")


#: raised by ``requests`` while it builds the request, before a byte is sent
_BEFORE_SENDING = (
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.URLRequired,
    requests.exceptions.InvalidJSONError,
)


def _sent_nothing(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached the server."""
    if isinstance(exc, (requests.ConnectTimeout, *_BEFORE_SENDING)):
        return True
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout):
        text = repr(exc)
        return any(
            marker in text
            for marker in (
                "NewConnectionError",
                "Connection refused",
                "Name or service not known",
                "nodename nor servname",
                "Failed to resolve",
                "No route to host",
            )
        )
    return False


def network_problem(exc: requests.RequestException, url: str, setting: str | None) -> str:
    """What went wrong in transit, for staff: the host, the cause, what to check."""
    host = urlsplit(url).netloc or url
    text = repr(exc)
    if isinstance(exc, requests.ConnectTimeout):
        why = f"không kết nối được tới {host} (hết thời gian chờ kết nối)"
    elif isinstance(exc, requests.ReadTimeout):
        why = f"hết thời gian chờ {host} trả lời"
    elif isinstance(exc, requests.exceptions.SSLError):
        why = f"không kết nối an toàn (SSL) được tới {host}: chứng chỉ không hợp lệ"
    elif any(marker in text for marker in _DNS_MARKERS):
        why = f"không tìm thấy máy chủ {host} (tên miền không phân giải được)"
    elif "Connection refused" in text:
        why = f"không kết nối được tới {host}: máy chủ từ chối kết nối (không chạy, hoặc sai cổng)"
    elif any(marker in text for marker in _UNREACHABLE_MARKERS):
        why = f"không kết nối được tới {host}: không có đường mạng tới máy chủ"
    elif any(marker in text for marker in _DROPPED_MARKERS):
        why = f"mất kết nối với {host} giữa chừng"
    else:
        why = f"không kết nối được tới {host} (lỗi mạng)"
    where = f", hoặc địa chỉ {setting} trong .env" if setting else ""
    return f"{why[0].upper()}{why[1:]}. Kiểm tra kết nối mạng của máy{where}"


class HttpClient:
    """A ``requests.Session`` with explicit timeouts and the retry policy above."""

    def __init__(
        self,
        platform: str,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        read_retries: int = 2,
        backoff_seconds: float = 0.5,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = "social-publisher",
        setting: str | None = None,
    ) -> None:
        self.platform = platform
        #: the setting holding this client's host (said when it cannot be reached)
        self.setting = setting or HOST_SETTINGS.get(platform)
        self.timeout = (connect_timeout, read_timeout)
        self.read_retries = read_retries
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=8)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        session.headers["User-Agent"] = user_agent
        self.session = session

    def request(
        self,
        method: str,
        url: str,
        *,
        creates: bool = False,
        params: Mapping[str, Any] | None = None,
        data: Any = None,
        json: Any = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> requests.Response:
        """Send one request; 5xx and transport failures become project errors.

        Any other status is returned for the channel to classify from the body.
        """
        attempts = 1 if creates else 1 + self.read_retries
        last: TransientError | None = None
        for attempt in range(attempts):
            if attempt:
                delay = self.backoff_seconds * (2 ** (attempt - 1)) * (1 + random.random() / 2)
                self.sleep(delay)
            started = time.monotonic()
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    json=json,
                    files=files,
                    headers=dict(headers or {}),
                    timeout=timeout or self.timeout,
                )
            except requests.RequestException as exc:
                reason = f"{type(exc).__name__}: {redact(str(exc))}"
                log.info("%s %s %s failed: %s", self.platform, method, redact(url), reason)
                if isinstance(exc, requests.exceptions.InvalidHeader):
                    # Only our tokens (and the proof made from them) go into headers: one
                    # with a line break or a space cannot be sent at all. Nothing left.
                    raise AuthError(
                        f"Mã truy cập (token) của {self.platform} có ký tự xuống dòng hoặc "
                        "khoảng trắng nên yêu cầu không được gửi đi (chưa có gì được đăng). "
                        "Cấp lại token, dán trên một dòng, không có khoảng trắng",
                        platform=self.platform,
                    ) from None
                if isinstance(exc, _BEFORE_SENDING):
                    raise TransientError(
                        f"Không tạo được yêu cầu (chưa gửi gì đi): {reason}",
                        platform=self.platform,
                    ) from None
                problem = network_problem(exc, url, self.setting)
                if creates and not _sent_nothing(exc):
                    raise OutcomeUnknownError(
                        f"Không rõ kết quả (đã gửi đi nhưng không nhận được trả lời): {problem}",
                        platform=self.platform,
                    ) from None
                last = ConnectError(problem, platform=self.platform)
                continue
            elapsed = time.monotonic() - started
            log.debug(
                "%s %s %s -> %s in %.2fs",
                self.platform,
                method,
                redact(url),
                response.status_code,
                elapsed,
            )
            if response.status_code >= 500:
                body = response.text[:500]
                if creates:
                    raise OutcomeUnknownError(
                        f"Không rõ kết quả: máy chủ trả lỗi HTTP {response.status_code}",
                        platform=self.platform,
                        http_status=response.status_code,
                        body=body,
                    )
                last = TransientError(
                    f"Máy chủ trả lỗi HTTP {response.status_code}",
                    platform=self.platform,
                    http_status=response.status_code,
                    body=body,
                )
                continue
            return response
        assert last is not None
        raise last

    def close(self) -> None:
        self.session.close()
