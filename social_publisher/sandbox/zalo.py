"""The Zalo half of the sandbox: a Zalo Official Account as ``docs/api/zalo-oa.md`` describes it.

It reproduces what the client depends on, unpleasant parts included: errors with
HTTP 200 and a negative ``error``; OAuth v4 with REAL rotation (a used refresh token
is refused; ``expires_in`` is the string "90000"); the token in an ``access_token``
header (-216 otherwise); article create -> processing token -> verify answering -214
while processing; processing articles absent from ``getslice`` until processed; the
sandbox FETCHING every ``photo_url`` over HTTP (loopback hosts only; anything else,
a failed fetch, a non-jpg/png or an image over 1 MB fails the article with -200 at
verify); ``getslice`` refusing ``limit`` > 10 or a missing ``type``; title/author/
description refused AT their limits (150/50/300, as real OAs did); an article without
``author`` or ``cover.status`` refused with -201 naming the field; a monthly article
quota (-223); broadcasts refused at night (-234, Asia/Ho_Chi_Minh by the sandbox clock);
4,000 requests a minute per app (the Article API in its own bucket) before -32, with the
``X-RateLimit-*`` headers.

Mounted at the root AND under ``/zalo`` (``env()`` hands out ``<base>/zalo``): on one port
with the Graph half, ``/v2.0/...`` looks like a Graph version path, the prefix keeps the
two apart.

Fault operations (``zalo.<op>=...``, see :mod:`.faults`): ``create`` (article create),
``verify``, ``update``, ``remove``, ``getslice``, ``getdetail``, ``getoa`` (the OA's
profile), ``read`` (every GET),
``token`` (the OAuth token endpoint), ``broadcast`` (``/v2.0/oa/message``), ``upload``,
``any``. ``code:N`` answers Zalo's error body for N before processing (``code:-32``: rate
limit); ``drop`` processes then drops the connection ("created, then the connection
dropped"); ``500`` processes then answers HTTP 500.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from .halves import HalfContext, SandboxRequest, SandboxResponse

# The default sandbox identity (the demo and the tests configure the tool with these).
APP_ID = "sandbox-zalo-app"
APP_SECRET = "sandbox-zalo-secret-0123456789"
REFRESH_TOKEN = "sandbox-zalo-refresh-0"
ACCESS_TOKEN = "sandbox-zalo-access-0"
AUTH_CODE = "sandbox-zalo-code"
OA_NAME = "Thị xã Đức Phổ"
OA_ID = "4318205612741357201"
PREFIX = "/zalo"

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ACCESS_TTL = 90_000  # seconds: 25 h
REFRESH_TTL = timedelta(days=90)
#: real OAs refused strings of exactly these lengths
TITLE_LIMIT, AUTHOR_LIMIT, DESCRIPTION_LIMIT = 150, 50, 300
MAX_IMAGE_BYTES = 1024 * 1024
MAX_SLICE = 10
MAX_BROADCAST_ARTICLES = 5
FETCH_TIMEOUT = 5.0

MESSAGES = {
    -32: "Rate limit exceeded",
    -200: "Send message failed",
    -201: "Parameters are invalid",
    -204: "Official Account has been disabled",
    -205: "Official Account is not existed",
    -209: "This API is not supported",
    -211: "Out of quota",
    -212: "Official Account has not registered this API",
    -214: "Article is being processed",
    -216: "Access token is invalid",
    -220: "Access token has expired or has been removed",
    -221: "Official Account is not verified",
    -223: "Your OA has reach the limit quota create article",
    -224: "Your OA has reached the package limit",
    -234: "Can not send promotion message at night (22h-6h)",
    -242: "appsecret_proof is invalid",
}


class ZaloError(Exception):
    """An error the half answers as ``{"error": code, "message": ...}`` (HTTP 200)."""

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = code
        self.message = message or MESSAGES.get(code, "Unknown error")
        self.headers: dict[str, str] = {}
        super().__init__(self.message)


@dataclass
class _Article:
    id: str
    seq: int
    content: dict[str, Any]
    created: datetime
    updated: datetime
    status: str = "processing"  # processing | show | hide | failed
    removed: bool = False
    views: int = 0
    shares: int = 0
    failure: str | None = None

    @property
    def title(self) -> str:
        return str(self.content.get("title", ""))

    def image_urls(self) -> list[str]:
        return _image_urls(self.content)


@dataclass
class _Job:
    """A processing token: an article create or update being processed."""

    token: str
    article_id: str
    kind: str  # create | update
    started: datetime
    content: dict[str, Any]
    failure: str | None
    verify_calls: int = 0
    done: bool = False


@dataclass
class _TokenState:
    access: dict[str, datetime] = field(default_factory=dict)  # token -> expiry
    refresh: str | None = None
    refresh_issued: datetime | None = None
    generation: int = 0
    issued: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)


def _image_urls(content: dict[str, Any]) -> list[str]:
    urls: list[str] = []
    cover = content.get("cover")
    if isinstance(cover, dict) and cover.get("photo_url"):
        urls.append(str(cover["photo_url"]))
    for item in content.get("body") or []:
        if isinstance(item, dict) and item.get("type") == "image" and item.get("url"):
            urls.append(str(item["url"]))
    return urls


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def is_loopback_url(url: str) -> bool:
    """True for http(s) URLs on 127.0.0.0/8, ::1 or localhost: the only hosts it fetches."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect could lead off loopback: treat it as a failed fetch


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def fetch_image(url: str) -> tuple[bytes | None, str | None]:
    """Fetch ``url`` as Zalo would: (bytes, None) or (None, why it failed)."""
    if not url.isascii() or " " in url:
        return None, f"photo_url is not a valid URL: {url}"
    if not is_loopback_url(url):
        return None, f"Can not fetch photo (sandbox fetches loopback hosts only): {url}"
    try:
        with _OPENER.open(url, timeout=FETCH_TIMEOUT) as response:
            if response.status != 200:
                return None, f"Can not fetch photo (HTTP {response.status}): {url}"
            data: bytes = response.read(MAX_IMAGE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        return None, f"Can not fetch photo (HTTP {exc.code}): {url}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, f"Can not fetch photo ({exc}): {url}"
    if len(data) > MAX_IMAGE_BYTES:
        return None, f"Photo is larger than 1MB: {url}"
    if not (data.startswith(b"\xff\xd8\xff") or data.startswith(b"\x89PNG\r\n\x1a\n")):
        return None, f"Photo is not a jpg/png image: {url}"
    return data, None


class ZaloHalf:
    """The Zalo OA emulator; options come from ``Sandbox(zalo_<option>=...)``.

    Options: ``app_id``, ``app_secret``, ``refresh_token``, ``access_token`` (the
    identity), ``access_ttl`` (seconds, default 90000), ``article_quota`` (articles a
    month before -223; None: no limit), ``processing_verifies`` (verify calls answered
    -214 before success, default 1), ``processing_seconds`` (sandbox-clock seconds after
    which an article is processed even if nobody verifies it, default 20),
    ``verify_key`` ("id" or "article_id": the key of the article id in verify's data),
    ``processing_code`` / ``processing_message`` (what verify answers while processing:
    -214 by default; which code real Zalo uses is unconfirmed),
    ``require_appsecret_proof``, ``broadcast_error`` (a code every broadcast is refused
    with, e.g. -221), ``broadcast_quota`` (broadcasts a month before -211),
    ``token_delay`` (real seconds the token endpoint takes: widens race windows),
    ``rate_limit_per_minute`` (requests a minute per app before -32, the Article API in its
    own bucket; answers carry ``X-RateLimit-Limit`` / ``X-RateLimit-Remain``).
    """

    name = "zalo"

    def __init__(
        self,
        ctx: HalfContext,
        *,
        app_id: str = APP_ID,
        app_secret: str = APP_SECRET,
        refresh_token: str = REFRESH_TOKEN,
        access_token: str = ACCESS_TOKEN,
        access_ttl: int = ACCESS_TTL,
        article_quota: int | None = None,
        processing_verifies: int = 1,
        processing_seconds: float = 20.0,
        verify_key: str = "id",
        processing_code: int = -214,
        processing_message: str | None = None,
        require_appsecret_proof: bool = False,
        broadcast_error: int | None = None,
        broadcast_quota: int | None = None,
        token_delay: float = 0.0,
        rate_limit_per_minute: int = 4000,
    ) -> None:
        self.ctx = ctx
        self.app_id = app_id
        self.app_secret = app_secret
        self.initial_refresh = refresh_token
        self.initial_access = access_token
        self.access_ttl = access_ttl
        self.article_quota = article_quota
        self.processing_verifies = processing_verifies
        self.processing_seconds = processing_seconds
        self.verify_key = verify_key
        self.processing_code = processing_code
        self.processing_message = processing_message
        self.require_appsecret_proof = require_appsecret_proof
        self.broadcast_error = broadcast_error
        self.broadcast_quota = broadcast_quota
        self.token_delay = token_delay
        self.rate_limit_per_minute = rate_limit_per_minute
        #: (bucket, minute) -> requests, for the per-minute rate limit
        self._minute_counts: dict[tuple[str, int], int] = {}
        now = ctx.clock()
        self.tokens = _TokenState(
            access={access_token: now + timedelta(seconds=access_ttl)},
            refresh=refresh_token,
            refresh_issued=now,
        )
        self.reset()

    # ------------------------------------------------------------ state

    def reset(self) -> None:
        """Forget articles, broadcasts and fetches. The token pair stays as rotated: the
        tool's database holds it, and a reset must not cut a running demo off."""
        self._articles: dict[str, _Article] = {}
        self._jobs: dict[str, _Job] = {}
        self._seq = 0
        self.broadcasts: list[dict[str, Any]] = []
        self.fetches: list[dict[str, Any]] = []
        self.token_in_query = 0
        self._minute_counts = {}

    def env(self) -> dict[str, str]:
        """Settings that point the Zalo channel (and public media) at this half."""
        base = self.ctx.base_url().rstrip("/")
        env = {
            "ZALO_OAUTH_URL": base + PREFIX,
            "ZALO_OPENAPI_URL": base + PREFIX,
            "ZALO_APP_ID": self.app_id,
            "ZALO_APP_SECRET": self.app_secret,
            "ZALO_REFRESH_TOKEN": self.initial_refresh,
            "ZALO_ACCESS_TOKEN": self.initial_access,
        }
        if self.ctx.public_dir is not None:
            env["PUBLIC_MEDIA_DIR"] = str(self.ctx.public_dir)
            env["PUBLIC_MEDIA_BASE_URL"] = base + "/media"
        return env

    def state(self) -> dict[str, Any]:
        now = self.ctx.clock()
        for article in self._articles.values():
            self._settle(article, now)
        return {
            "articles": [
                {
                    "id": a.id,
                    "title": a.title,
                    "status": a.status,
                    "removed": a.removed,
                    "created": a.created.isoformat(),
                    "updated": a.updated.isoformat(),
                    "body_items": len(a.content.get("body") or []),
                    "image_urls": a.image_urls(),
                    "tracking_link": a.content.get("tracking_link"),
                    "views": a.views,
                    "shares": a.shares,
                    "failure": a.failure,
                    "type": a.content.get("type") or "normal",
                    "video_id": a.content.get("video_id"),
                    "avatar": a.content.get("avatar") or a.content.get("cover"),
                }
                for a in sorted(self._articles.values(), key=lambda a: a.seq)
            ],
            "tokens_issued": self.tokens.issued,
            "token_generation": self.tokens.generation,
            "refreshes": list(self.tokens.log),
            "refreshes_ok": sum(1 for r in self.tokens.log if r["ok"]),
            "refreshes_refused": sum(1 for r in self.tokens.log if not r["ok"]),
            "broadcasts": list(self.broadcasts),
            "fetches": list(self.fetches),
            "token_in_query": self.token_in_query,
        }

    # ------------------------------------------------------------ test helpers

    def add_views(self, article_id: str, *, views: int = 0, shares: int = 0) -> None:
        """Add to an article's view and share counters (engagement tests)."""
        article = self._articles[article_id]
        article.views += views
        article.shares += shares

    def add_article(
        self,
        title: str,
        *,
        created: datetime | None = None,
        views: int = 0,
        shares: int = 0,
    ) -> str:
        """An already processed article, as if published earlier (listing tests)."""
        when = created or self.ctx.clock()
        article = self._new_article({"type": "normal", "title": title, "body": []}, when)
        article.status = "show"
        article.views, article.shares = views, shares
        return article.id

    def article(self, article_id: str) -> dict[str, Any]:
        article = self._articles[article_id]
        self._settle(article, self.ctx.clock())
        return {"id": article.id, "status": article.status, **article.content}

    def revoke_access(self, token: str | None = None) -> None:
        """Invalidate one access token (or all): the next call gets -216."""
        if token is None:
            self.tokens.access.clear()
        else:
            self.tokens.access.pop(token, None)

    @property
    def refresh_token(self) -> str | None:
        """The one refresh token Zalo accepts now (tests compare the stored pair to it)."""
        return self.tokens.refresh

    # ------------------------------------------------------------ entry

    def handle(self, req: SandboxRequest) -> SandboxResponse | None:
        path = req.path
        if path.startswith(PREFIX + "/"):
            path = path[len(PREFIX) :]
        elif path == PREFIX:
            path = "/"
        elif not (path.startswith("/v4/oa/") or path.startswith("/v2.0/")):
            return None
        route = self._routes().get((req.method, path))
        if route is None:
            if path.startswith("/a/") and req.method in ("GET", "HEAD"):
                req.route = PREFIX + "/a/{id}"
                return self._web_article(path[len("/a/") :])
            if not path.startswith(("/v4/", "/v2.0/", "/v3.0/")):
                return None
            req.route = PREFIX + "/(unknown)"
            return SandboxResponse.json({"error": -209, "message": MESSAGES[-209]}, 404)
        ops, handler = route
        req.route = PREFIX + path
        fault = self.ctx.faults.pick("zalo", ops)
        limit_headers: dict[str, str] = {}
        try:
            if fault is not None and fault.before_processing:
                raise ZaloError(fault.code or -201)
            if path != "/v4/oa/access_token":
                limit_headers = self._rate_limit(path)
            data = handler(req)
            response = (
                SandboxResponse.json(data)
                if path == "/v4/oa/access_token"
                else SandboxResponse.json({"data": data, "error": 0, "message": "Success"})
            )
        except ZaloError as err:
            response = SandboxResponse.json({"error": err.code, "message": err.message})
            limit_headers = err.headers or limit_headers
        except _OAuthError as err:
            response = SandboxResponse.json(err.body())
        response.headers.update(limit_headers)
        if fault is not None and fault.kind == "drop":
            return SandboxResponse.dropped()
        if fault is not None and fault.kind == "500":
            return SandboxResponse.json({"error": -1, "message": "Internal Server Error"}, 500)
        return response

    def _rate_limit(self, path: str) -> dict[str, str]:
        """4,000 requests a minute per app, the Article API in a bucket of its own (-32)."""
        bucket = "article" if path.startswith("/v2.0/article/") else "oa"
        minute = int(self.ctx.clock().timestamp() // 60)
        key = (bucket, minute)
        used = self._minute_counts.get(key, 0)
        if len(self._minute_counts) > 16:  # keep only recent minutes
            self._minute_counts = {k: v for k, v in self._minute_counts.items() if k[1] >= minute}
        headers = {"X-RateLimit-Limit": str(self.rate_limit_per_minute)}
        if used >= self.rate_limit_per_minute:
            headers["X-RateLimit-Remain"] = "0"
            err = ZaloError(-32)
            err.headers = headers
            raise err
        self._minute_counts[key] = used + 1
        headers["X-RateLimit-Remain"] = str(self.rate_limit_per_minute - used - 1)
        return headers

    def _routes(self) -> dict[tuple[str, str], tuple[frozenset[str], Any]]:
        ops = frozenset
        return {
            ("POST", "/v4/oa/access_token"): (ops({"token"}), self._token),
            ("POST", "/v2.0/article/create"): (ops({"create"}), self._create),
            ("POST", "/v2.0/article/verify"): (ops({"verify"}), self._verify),
            ("POST", "/v2.0/article/update"): (ops({"update"}), self._update),
            ("POST", "/v2.0/article/remove"): (ops({"remove"}), self._remove),
            ("GET", "/v2.0/article/getslice"): (ops({"getslice", "read"}), self._getslice),
            ("GET", "/v2.0/article/getdetail"): (ops({"getdetail", "read"}), self._getdetail),
            ("GET", "/v2.0/oa/getoa"): (ops({"getoa", "read"}), self._getoa),
            ("POST", "/v2.0/oa/message"): (ops({"broadcast"}), self._broadcast),
            ("POST", "/v2.0/oa/upload/image"): (ops({"upload"}), self._upload_image),
            ("POST", "/v2.0/article/upload_image"): (ops({"upload"}), self._gone),
        }

    # ------------------------------------------------------------ OAuth

    def _token(self, req: SandboxRequest) -> dict[str, Any]:
        if self.token_delay:
            time.sleep(self.token_delay)
        now = self.ctx.clock()
        if req.headers.get("secret_key") != self.app_secret:
            raise _OAuthError(-14002, "Invalid secret key", "secret_key header is invalid")
        form = req.form()
        if form.get("app_id") != self.app_id:
            raise _OAuthError(-14001, "Invalid app id", "app_id is invalid")
        grant = form.get("grant_type")
        if grant == "refresh_token":
            given = form.get("refresh_token", "")
            used = self._generation_of(given)
            valid = (
                given == self.tokens.refresh
                and self.tokens.refresh_issued is not None
                and now < self.tokens.refresh_issued + REFRESH_TTL
            )
            entry = {"at": now.isoformat(), "used_generation": used, "ok": valid}
            if not valid:
                entry["reason"] = "used or unknown refresh token"
                self.tokens.log.append(entry)
                raise _OAuthError(
                    -14014,
                    "Invalid refresh token",
                    "Refresh token is invalid, expired or has already been used",
                )
            self.tokens.log.append(entry)
        elif grant == "authorization_code":
            if form.get("code") != AUTH_CODE or not form.get("code_verifier"):
                raise _OAuthError(-14019, "Invalid code", "Authorization code is invalid")
        else:
            raise _OAuthError(-14003, "Invalid grant type", "grant_type is invalid")
        return self._issue(now)

    def _issue(self, now: datetime) -> dict[str, Any]:
        self.tokens.generation += 1
        self.tokens.issued += 1
        generation = self.tokens.generation
        access = f"sandbox-zalo-access-{generation}"
        refresh = f"sandbox-zalo-refresh-{generation}"
        self.tokens.access[access] = now + timedelta(seconds=self.access_ttl)
        self.tokens.refresh = refresh
        self.tokens.refresh_issued = now
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": str(self.access_ttl),
        }

    @staticmethod
    def _generation_of(token: str) -> int | None:
        tail = token.rsplit("-", 1)[-1]
        return int(tail) if tail.isdigit() else None

    def _authenticate(self, req: SandboxRequest) -> None:
        if "access_token" in req.query:
            self.token_in_query += 1  # a secret in a URL: the client must never do this
        token = req.headers.get("access_token")
        if not token:
            raise ZaloError(-216, "Access token is invalid (send it in the access_token header)")
        expiry = self.tokens.access.get(token)
        if expiry is None:
            raise ZaloError(-216)
        if self.ctx.clock() >= expiry:
            raise ZaloError(-220)
        proof = req.headers.get("appsecret_proof")
        expected = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        if (proof is not None and proof != expected) or (
            proof is None and self.require_appsecret_proof
        ):
            raise ZaloError(-242)

    # ------------------------------------------------------------ articles

    def _body(self, req: SandboxRequest) -> dict[str, Any]:
        try:
            payload = req.json()
        except (ValueError, UnicodeDecodeError):
            raise ZaloError(-201, "Body is not valid JSON") from None
        if not isinstance(payload, dict):
            raise ZaloError(-201, "Body must be a JSON object")
        return payload

    def _validate(self, content: dict[str, Any]) -> None:
        if content.get("type") != "normal":
            raise ZaloError(-201, "type is invalid (normal or video)")
        for name, limit, required in (
            ("title", TITLE_LIMIT, True),
            ("author", AUTHOR_LIMIT, True),  # the real API refuses an article without it
            ("description", DESCRIPTION_LIMIT, True),
        ):
            value = content.get(name)
            if value is None and not required:
                continue
            if not isinstance(value, str) or not value.strip():
                raise ZaloError(-201, f"{name} is required")
            if len(value) >= limit:
                raise ZaloError(-201, f"{name} is too long (must be less than {limit} characters)")
        cover = content.get("cover")
        if not isinstance(cover, dict) or cover.get("cover_type") != "photo":
            raise ZaloError(-201, "cover is invalid (cover_type photo with photo_url)")
        if not isinstance(cover.get("photo_url"), str) or not cover["photo_url"]:
            raise ZaloError(-201, "cover.photo_url is required")
        if "status" not in cover:
            raise ZaloError(-201, "cover.status is required (show or hide)")
        if cover["status"] not in ("show", "hide"):
            raise ZaloError(-201, "cover.status is invalid (show or hide)")
        body = content.get("body")
        if not isinstance(body, list) or not body:
            raise ZaloError(-201, "body is required")
        for index, item in enumerate(body):
            if not isinstance(item, dict):
                raise ZaloError(-201, f"body[{index}] is invalid")
            kind = item.get("type")
            if kind == "text":
                if not isinstance(item.get("content"), str) or not item["content"]:
                    raise ZaloError(-201, f"body[{index}].content is required")
            elif kind == "image":
                if not isinstance(item.get("url"), str) or not item["url"]:
                    raise ZaloError(-201, f"body[{index}].url is required")
            else:
                raise ZaloError(-201, f"body[{index}].type is invalid")
        for url in _image_urls(content):
            if not url.isascii() or " " in url:
                raise ZaloError(-201, f"photo url is invalid: {url}")
        for name in ("status", "comment"):
            if content.get(name, "show") not in ("show", "hide"):
                raise ZaloError(-201, f"{name} is invalid (show or hide)")

    def _fetch_all(self, content: dict[str, Any]) -> str | None:
        """Fetch every image like Zalo's processing does; the first failure, or None."""
        failure = None
        for url in _image_urls(content):
            data, error = fetch_image(url)
            self.fetches.append(
                {"url": url, "ok": error is None, "bytes": len(data) if data else 0}
            )
            if error and failure is None:
                failure = error
        return failure

    def _this_month(self, now: datetime) -> int:
        local = now.astimezone(TZ)
        return sum(
            1
            for a in self._articles.values()
            if (c := a.created.astimezone(TZ)).year == local.year and c.month == local.month
        )

    def _new_article(self, content: dict[str, Any], now: datetime) -> _Article:
        self._seq += 1
        article_id = hashlib.md5(f"sandbox-article-{self._seq}".encode()).hexdigest()
        article = _Article(article_id, self._seq, dict(content), now, now)
        self._articles[article_id] = article
        return article

    def _new_job(
        self, article: _Article, kind: str, content: dict[str, Any], failure: str | None
    ) -> str:
        token = f"sandbox-article-token-{article.seq}-{len(self._jobs) + 1}"
        self._jobs[token] = _Job(token, article.id, kind, self.ctx.clock(), content, failure)
        return token

    def _create(self, req: SandboxRequest) -> dict[str, Any]:
        self._authenticate(req)
        content = self._body(req)
        self._validate(content)
        now = self.ctx.clock()
        if self.article_quota is not None and self._this_month(now) >= self.article_quota:
            raise ZaloError(-223)
        failure = self._fetch_all(content)
        article = self._new_article(content, now)
        return {"token": self._new_job(article, "create", content, failure)}

    def _update(self, req: SandboxRequest) -> dict[str, Any]:
        self._authenticate(req)
        content = self._body(req)
        article = self._live(str(content.get("id", "")))
        content = {k: v for k, v in content.items() if k != "id"}
        self._validate(content)
        failure = self._fetch_all(content)
        return {"token": self._new_job(article, "update", content, failure)}

    def _settle(self, article: _Article, now: datetime) -> None:
        """Finish processing when its time (or its verify calls) has come."""
        for job in self._jobs.values():
            if job.article_id != article.id or job.done:
                continue
            aged = (now - job.started).total_seconds() >= self.processing_seconds
            if job.verify_calls > self.processing_verifies or aged:
                self._complete(job, article, now)

    def _complete(self, job: _Job, article: _Article, now: datetime) -> None:
        job.done = True
        if job.kind == "create":
            if job.failure:
                article.status, article.failure = "failed", job.failure
            else:
                article.status = str(job.content.get("status", "hide"))
        elif not job.failure:
            article.content = dict(job.content)
            article.updated = now
            article.status = str(job.content.get("status", article.status))

    def _verify(self, req: SandboxRequest) -> dict[str, Any]:
        self._authenticate(req)
        token = str(self._body(req).get("token", ""))
        job = self._jobs.get(token)
        if job is None:
            raise ZaloError(-201, "token is invalid")
        article = self._articles[job.article_id]
        job.verify_calls += 1
        self._settle(article, self.ctx.clock())
        if not job.done:
            raise ZaloError(self.processing_code, self.processing_message)
        if job.failure:
            raise ZaloError(-200, job.failure)
        return {self.verify_key: article.id}

    def _live(self, article_id: str) -> _Article:
        article = self._articles.get(article_id)
        if article is None or article.removed:
            raise ZaloError(-201, "Article is not existed")
        self._settle(article, self.ctx.clock())
        if article.status == "failed":
            raise ZaloError(-201, "Article is not existed")
        return article

    def _remove(self, req: SandboxRequest) -> dict[str, Any]:
        self._authenticate(req)
        article = self._live(str(self._body(req).get("id", "")))
        article.removed = True
        return {}

    def _media(self, article: _Article) -> dict[str, Any]:
        cover = article.content.get("cover") or {}
        return {
            "id": article.id,
            "type": article.content.get("type", "normal"),
            "title": article.title,
            "status": article.status,
            "total_view": article.views,
            "total_share": article.shares,
            "create_date": _ms(article.created),
            "update_date": _ms(article.updated),
            "thumb": cover.get("photo_url", "") if isinstance(cover, dict) else "",
            "link_view": f"{self.ctx.base_url().rstrip('/')}{PREFIX}/a/{article.id}",
        }

    def _getslice(self, req: SandboxRequest) -> dict[str, Any]:
        self._authenticate(req)
        if not req.arg("type"):
            raise ZaloError(-201, "type is required")
        try:
            offset = int(req.arg("offset") or 0)
            limit = int(req.arg("limit") or MAX_SLICE)
        except ValueError:
            raise ZaloError(-201, "offset and limit must be numbers") from None
        if limit > MAX_SLICE or limit < 1 or offset < 0:
            raise ZaloError(-201, f"limit must be between 1 and {MAX_SLICE}")
        now = self.ctx.clock()
        listed = []
        for article in self._articles.values():
            self._settle(article, now)
            if not article.removed and article.status in ("show", "hide"):
                listed.append(article)
        # video articles (sandbox/zalo_video.py) are listed under type=video only
        listed = [a for a in listed if a.content.get("type", "normal") == req.arg("type")]
        listed.sort(key=lambda a: (a.created, a.seq), reverse=True)
        return {
            "medias": [self._media(a) for a in listed[offset : offset + limit]],
            "total": len(listed),
        }

    def _getoa(self, req: SandboxRequest) -> dict[str, Any]:
        """The OA's profile: the cheapest authenticated call (``zalo token set`` tries a pair)."""
        self._authenticate(req)
        return {
            "oa_id": OA_ID,
            "name": OA_NAME,
            "description": "Trang thông tin chính thức của UBND thị xã Đức Phổ",
            "is_verified": True,
            "avatar": "",
            "cover": "",
            "num_follower": 1280,
        }

    def _getdetail(self, req: SandboxRequest) -> dict[str, Any]:
        self._authenticate(req)
        article = self._live(req.arg("id") or "")
        if article.status == "processing":
            raise ZaloError(-214)
        return {
            **self._media(article),
            **{
                k: article.content.get(k)
                for k in ("author", "description", "cover", "body", "comment", "tracking_link")
            },
        }

    # ------------------------------------------------------------ messages

    def _broadcast(self, req: SandboxRequest) -> dict[str, Any]:
        self._authenticate(req)
        payload = self._body(req)
        now = self.ctx.clock()
        if self.broadcast_error is not None:
            raise ZaloError(self.broadcast_error)
        try:
            target = payload["recipient"]["target"]
            template = payload["message"]["attachment"]["payload"]
            elements = template["elements"]
        except (KeyError, TypeError):
            raise ZaloError(-201, "recipient.target and message.attachment are required") from None
        if not isinstance(target, dict) or template.get("template_type") != "media":
            raise ZaloError(-201, "template_type must be media")
        if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_BROADCAST_ARTICLES:
            raise ZaloError(-201, f"elements must hold 1 to {MAX_BROADCAST_ARTICLES} articles")
        ids = []
        for element in elements:
            if not isinstance(element, dict) or element.get("media_type") != "article":
                raise ZaloError(-201, "media_type must be article")
            article = self._live(str(element.get("attachment_id", "")))
            if article.status != "show":
                raise ZaloError(-201, "Article is not published")
            ids.append(article.id)
        local = now.astimezone(TZ)
        if not 6 <= local.hour < 22:
            raise ZaloError(-234)
        if self.broadcast_quota is not None:
            month = [
                b
                for b in self.broadcasts
                if (at := datetime.fromisoformat(b["at"]).astimezone(TZ)).year == local.year
                and at.month == local.month
            ]
            if len(month) >= self.broadcast_quota:
                raise ZaloError(-211)
        message_id = hashlib.md5(f"broadcast-{len(self.broadcasts)}".encode()).hexdigest()
        self.broadcasts.append(
            {"at": now.isoformat(), "article_ids": ids, "target": target, "id": message_id}
        )
        return {"message_id": message_id}

    def _upload_image(self, req: SandboxRequest) -> dict[str, Any]:
        self._authenticate(req)
        upload = req.form().files.get("file")
        if upload is None or len(upload.data) > MAX_IMAGE_BYTES:
            raise ZaloError(-201, "file is required (jpg/png, at most 1MB)")
        return {"attachment_id": hashlib.sha256(upload.data).hexdigest()[:32]}

    def _gone(self, req: SandboxRequest) -> dict[str, Any]:
        raise ZaloError(-209)

    def _web_article(self, article_id: str) -> SandboxResponse:
        """A readable page for an article, so the demo's links open in a browser."""
        article = self._articles.get(article_id)
        if article is None or article.removed or article.status not in ("show", "hide"):
            return SandboxResponse.text("Bài viết không tồn tại hoặc chưa xử lý xong.", 404)
        parts = [f"<h1>{html.escape(article.title)}</h1>"]
        for item in article.content.get("body") or []:
            if item.get("type") == "text":
                parts.append(f"<p>{html.escape(str(item.get('content', '')))}</p>")
            elif item.get("type") == "image":
                parts.append(f'<img src="{html.escape(str(item.get("url", "")))}" width="600">')
        page = (
            f"<!doctype html><meta charset=utf-8><title>{html.escape(OA_NAME)}</title>"
            + "".join(parts)
        )
        return SandboxResponse.text(page, content_type="text/html; charset=utf-8")


class _OAuthError(Exception):
    """An OAuth v4 error, answered in the token endpoint's own shape."""

    def __init__(self, code: int, name: str, description: str) -> None:
        super().__init__(description)
        self.code, self.name, self.description = code, name, description

    def body(self) -> dict[str, Any]:
        return {
            "error": self.code,
            "error_name": self.name,
            "error_reason": self.description,
            "error_description": self.description,
        }
