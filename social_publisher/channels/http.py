"""The HTTP transport both channels share.

Its one real decision is the line between "never sent" and "sent, answer
unknown". A read request that fails in transit is retried here, a couple of
times with backoff. A create request (``creates=True``) is never retried:
once its bytes may have left, a timeout, a reset or a 5xx raises
:class:`OutcomeUnknownError` and the daemon reconciles. Only a failure to
connect at all is a plain :class:`TransientError` for a create call, because
nothing reached the platform.

Platform error bodies are classified by each channel; this module only knows
transport. URLs are logged redacted and headers are never logged.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from ..errors import AuthError, OutcomeUnknownError, TransientError, redact

log = logging.getLogger("social_publisher.http")

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 60.0


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
    ) -> None:
        self.platform = platform
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
                if creates and not _sent_nothing(exc):
                    raise OutcomeUnknownError(
                        f"Không rõ kết quả (mạng): {reason}", platform=self.platform
                    ) from None
                last = TransientError(f"Lỗi mạng: {reason}", platform=self.platform)
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
