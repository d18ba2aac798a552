"""One error hierarchy for the whole project.

Modelled on stripe-python's ``_error.py``: every failure a caller may want to
tell apart is its own class, and platform errors carry the HTTP context
(platform, status, code, subcode, trace id, the platform's message) so the
daemon can decide retry / wait / stop without parsing strings.

Secrets never reach an exception's text: :func:`redact` is applied to every
message built here, and channel code registers each token it uses with
:func:`register_secret`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

_secrets_lock = threading.Lock()
_secrets: set[str] = set()
# Query parameters and header-ish pairs that carry credentials, whatever their value.
_SECRET_PARAM = re.compile(
    r"(?i)(access_token|refresh_token|secret_key|app_secret|appsecret_proof|client_secret"
    r"|input_token|authorization|password)([\"']?\s*[=:]\s*[\"']?)(bearer\s+)?[^\s&\"',;}]+"
)
MASK = "***"


#: shorter strings are not remembered (nor the pieces of a secret split on whitespace)
_MIN_SECRET = 6


def secret_forms(value: str) -> set[str]:
    """Every spelling of ``value`` a message may carry: as is, as Python's ``repr`` shows
    it (a token with a newline comes back from ``requests`` as ``'...\\n...'``), JSON- and
    unicode-escaped, bytes' ``repr``, percent-encoded (``quote``, ``quote_plus``), and,
    when it holds whitespace, each piece between the whitespace."""
    forms = {
        value,
        repr(value)[1:-1],
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        value.encode("unicode_escape").decode("ascii"),
        repr(value.encode("utf-8", "surrogatepass"))[2:-1],
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
    }
    forms.update(value.split())
    return {form for form in forms if len(form) >= _MIN_SECRET}


def register_secret(value: str | None) -> None:
    """Remember a secret so :func:`redact` masks it (in every form) wherever it turns up."""
    if value and len(value) >= _MIN_SECRET:
        forms = secret_forms(value)
        with _secrets_lock:
            _secrets.update(forms)


def redact(text: str) -> str:
    """Mask every registered secret and every credential-looking parameter."""
    if not text:
        return text
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


class SocialPublisherError(Exception):
    """Base of every error this project raises on purpose."""

    def __init__(self, message: str) -> None:
        self.message = redact(message)
        super().__init__(self.message)


class ConfigError(SocialPublisherError):
    """A setting is missing or malformed; the message says which and how to fix it."""


class StoreError(SocialPublisherError):
    """The database is unreachable, locked, or at an unexpected schema version."""


class DaemonAlreadyRunning(StoreError):
    """Another daemon holds this database's lock."""


@dataclass(frozen=True)
class Problem:
    """One staff-facing problem: Vietnamese message, the file, the line (1-based) if any."""

    file: str
    message: str
    line: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "message": self.message}

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class QueueError(SocialPublisherError):
    """A post folder cannot be used as it is; carries every problem found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems) or "bài viết không hợp lệ")


class MediaError(SocialPublisherError):
    """An image is refused (corrupt, bomb, unsupported, too small). Message is Vietnamese."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)


class PublicMediaError(SocialPublisherError):
    """A rendition could not be placed at, or fetched back from, the public media URL."""


# ---------------------------------------------------------------- platforms


class ChannelError(SocialPublisherError):
    """An error answered by (or on the way to) Facebook or Zalo.

    ``retry_after`` is the platform's own estimate in seconds, when it gave one.
    """

    #: the classifier's verdict, one of: transient, rate_limit, policy, auth,
    #: permission, invalid, duplicate, quota, unknown_outcome, processing, setup
    kind = "channel"

    def __init__(
        self,
        message: str,
        *,
        platform: str,
        http_status: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
        trace_id: str | None = None,
        retry_after: float | None = None,
        body: str | None = None,
    ) -> None:
        self.platform = platform
        self.http_status = http_status
        self.code = code
        self.subcode = subcode
        self.trace_id = trace_id
        self.retry_after = retry_after
        self.body = redact(body) if body else None
        self.platform_message = redact(message)
        super().__init__(self._compose(message))

    def _compose(self, message: str) -> str:
        parts = [f"{self.platform}"]
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.code is not None:
            parts.append(f"code {self.code}" + (f"/{self.subcode}" if self.subcode else ""))
        if self.trace_id:
            parts.append(f"trace {self.trace_id}")
        return f"[{', '.join(parts)}] {message}"

    @property
    def retryable(self) -> bool:
        return self.kind in ("transient", "rate_limit", "processing")


class TransientError(ChannelError):
    """Worth retrying with backoff: 5xx, connect errors, codes 1/2, is_transient, Zalo -200."""

    kind = "transient"


class ConnectError(TransientError):
    """The platform could not be reached, or the connection broke, before any answer: the
    message says which host, why and which setting to check (never the HTTP library's text)."""


class RateLimitError(ChannelError):
    """Stop calling this platform until ``retry_after`` has passed."""

    kind = "rate_limit"


class PolicyError(ChannelError):
    """Facebook 368: posting too fast or a policy block; back off for hours, tell staff."""

    kind = "policy"


class AuthError(ChannelError):
    """The token is invalid or expired: stop the whole account, tell staff to renew it."""

    kind = "auth"


class SetupError(AuthError):
    """A setting of this install is wrong for the platform (an app secret of another app, a
    public media URL Zalo cannot reach): stop the channel and tell staff which setting to fix.

    Never a problem of the post: the message is the whole Vietnamese advice (the setting and
    the fix), shown as the channel's reason, and no post is put in "needs attention".
    """

    kind = "setup"

    @property
    def advice(self) -> str:
        """The Vietnamese advice alone (no platform/HTTP prefix): the channel's reason."""
        return self.platform_message


class AppSecretProofError(SetupError):
    """Graph refused ``appsecret_proof`` (code 100): the proof was made with the secret of an
    app that did not issue the token, or the app requires a proof that was not sent.

    ``proof_sent``: True for "Invalid appsecret_proof", False for "requires appsecret_proof".
    """

    def __init__(self, message: str, *, proof_sent: bool, **kwargs: Any) -> None:
        self.proof_sent = proof_sent
        super().__init__(message, **kwargs)


class PublicMediaSetupError(SetupError):
    """``PUBLIC_MEDIA_BASE_URL`` is not reachable from where the Zalo API runs (a private,
    loopback or link-local address, a bare office host name, a name public DNS does not know)."""


class PermissionDeniedError(ChannelError):
    """Missing permission or a config error on the platform side; permanent until fixed."""

    kind = "permission"


class InvalidRequestError(ChannelError):
    """The platform refused this post's content; permanent for this post."""

    kind = "invalid"


class DuplicateError(ChannelError):
    """Facebook 506: the same text was already posted; look for our earlier post and adopt it."""

    kind = "duplicate"


class QuotaError(ChannelError):
    """Zalo package quota reached (-211/-223/-224): hold until it resets."""

    kind = "quota"


class ProcessingError(ChannelError):
    """Zalo -214: still being processed; poll again later."""

    kind = "processing"


class NightTimeError(ChannelError):
    """Zalo -234: promotional sends are refused 22:00–06:00."""

    kind = "night"


class OutcomeUnknownError(ChannelError):
    """A create call was sent but no trustworthy answer came back (timeout, reset, 5xx).

    The thing may or may not exist on the platform now. Never retry blindly:
    reconcile first (look for it, adopt it if found).
    """

    kind = "unknown_outcome"


class UnverifiedMatchError(ChannelError):
    """Reconciliation found a post that may be ours (same title, made after the attempt
    began) but could not read its content to be sure: neither adopt it nor send a second
    copy; a person decides. ``candidate`` is that post's link or id."""

    kind = "unverified"

    def __init__(self, message: str, *, platform: str, candidate: str) -> None:
        self.candidate = candidate
        super().__init__(message, platform=platform)
