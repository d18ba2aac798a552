"""Zalo Official Account: articles, their engagement, optional broadcast, OAuth refresh.

The contract is ``docs/api/zalo-oa.md``. What shapes this module:

* Errors come with HTTP 200 and a negative ``error`` field (see :mod:`.zalo_errors`).
* Creating an article is two steps: ``create`` returns a processing token, and
  ``verify`` turns it into the article id (answering -214 while Zalo processes it).
  :meth:`ZaloChannel.create_article` and :meth:`ZaloChannel.verify_article` are
  separate so the daemon can commit the token in between.
* The access token rotates with the refresh token. This module never touches the
  database: it asks a :class:`TokenProvider` (``services.zalo_tokens.DbTokenStore``)
  for the current token and, on -216/-220, for a refreshed one (once per call).
* The token travels in the ``access_token`` header (never in a URL), with
  ``appsecret_proof`` = HMAC-SHA256(app secret, token).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import requests

from ..config import Settings
from ..errors import (
    AuthError,
    ChannelError,
    ConfigError,
    InvalidRequestError,
    NightTimeError,
    OutcomeUnknownError,
    ProcessingError,
    PublicMediaError,
    QuotaError,
    RateLimitError,
    SetupError,
    SocialPublisherError,
    TransientError,
    UnverifiedMatchError,
    register_secret,
)
from ..localtime import next_month_start
from ..numbers import vn_number
from ..platforms import (
    ZALO_MAX_AUTHOR,
    ZALO_MAX_DESCRIPTION,
    ZALO_MAX_TITLE,
    is_broadcast_hours,
    next_broadcast_opening,
)
from .base import (
    Broadcasts,
    Channel,
    ChecksQuota,
    CollectsEngagement,
    CreatesInTwoSteps,
    Diagnoses,
    Diagnosis,
    Engagement,
    OutgoingImage,
    OutgoingPost,
    RemotePost,
    RemovesArticles,
)
from .http import HttpClient
from .public_media import PublicMedia, public_name
from .zalo_errors import (
    PLATFORM,
    RATE_LIMIT_WAIT_SECONDS,
    SEND_FAILED,
    TOKEN_INVALID,
    classify,
    still_processing_at_verify,
)

log = logging.getLogger("social_publisher.zalo")

OAUTH_TOKEN_PATH = "/v4/oa/access_token"
#: Zalo's limits (platforms.py); real OAs refused strings of exactly the limit
MAX_TITLE, MAX_AUTHOR, MAX_DESCRIPTION = ZALO_MAX_TITLE, ZALO_MAX_AUTHOR, ZALO_MAX_DESCRIPTION
#: getslice refuses a larger page
PAGE_SIZE = 10
#: the access token lives 25 h (``expires_in`` "90000"); the refresh token 3 months
DEFAULT_ACCESS_LIFETIME = 90_000
#: tolerated difference between our clock and Zalo's when matching creation times
CLOCK_SLACK = timedelta(minutes=5)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# ---------------------------------------------------------------- tokens


class TokenProvider(Protocol):
    """Where the channel gets its access token (``services.zalo_tokens.DbTokenStore``)."""

    def current(self) -> str:
        """A usable access token (refreshed beforehand if it is near its end)."""
        ...

    def refresh(self, stale: str) -> str:
        """A token newer than ``stale``: refresh now, unless another worker already did."""
        ...


@runtime_checkable
class TokenDiagnostics(Protocol):
    """A token provider that can also say how healthy its tokens are (for ``doctor``)."""

    def token_diagnoses(self) -> list[Diagnosis]: ...


@dataclass(frozen=True)
class TokenPair:
    """What the token endpoint answered; ``repr`` never shows the tokens."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int = DEFAULT_ACCESS_LIFETIME


def _error_code(value: object) -> int:
    """Zalo's ``error`` field as an int (it is sometimes a string); 0 when absent."""
    if value is None or value == "":
        return 0
    try:
        return int(str(value).strip())
    except ValueError:
        return -1


class ZaloOAuthClient:
    """The OAuth v4 token endpoint: one refresh = one rotation of the pair.

    A refresh is sent as a create call: once it may have reached Zalo, a lost
    answer is :class:`OutcomeUnknownError` (the old refresh token may be spent),
    never a silent retry.
    """

    def __init__(self, settings: Settings, http: HttpClient | None = None) -> None:
        self.settings = settings
        self.http = http or HttpClient(PLATFORM, read_timeout=30.0, setting="ZALO_OAUTH_URL")

    def refresh(self, refresh_token: str) -> TokenPair:
        settings = self.settings
        if not settings.zalo_app_id or not settings.zalo_app_secret:
            missing = ", ".join(settings.missing_for("zalo"))
            raise ConfigError(
                f"Không làm mới được token Zalo: thiếu cấu hình {missing} trong .env."
            )
        register_secret(refresh_token)
        register_secret(settings.zalo_app_secret)
        response = self.http.request(
            "POST",
            f"{settings.zalo_oauth_url}{OAUTH_TOKEN_PATH}",
            creates=True,
            data={
                "refresh_token": refresh_token,
                "app_id": settings.zalo_app_id,
                "grant_type": "refresh_token",
            },
            headers={
                "secret_key": settings.zalo_app_secret,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise OutcomeUnknownError(
                "Không rõ kết quả làm mới token: Zalo trả về nội dung không đọc được "
                f"(HTTP {response.status_code})",
                platform=PLATFORM,
                http_status=response.status_code,
            )
        code = _error_code(payload.get("error"))
        access = payload.get("access_token")
        new_refresh = payload.get("refresh_token")
        if code == 0 and isinstance(access, str) and access and isinstance(new_refresh, str):
            register_secret(access)
            register_secret(new_refresh)
            try:
                expires_in = int(str(payload.get("expires_in", DEFAULT_ACCESS_LIFETIME)).strip())
            except ValueError:
                log.warning("Zalo answered an unreadable expires_in; assuming 25 h")
                expires_in = DEFAULT_ACCESS_LIFETIME
            return TokenPair(access, new_refresh, expires_in)
        reason = " / ".join(
            str(payload[k])
            for k in ("error_name", "error_reason", "error_description", "message")
            if payload.get(k)
        )
        log.warning("Zalo refused the token refresh: code %s: %s", code, reason)
        if code == -32:
            raise RateLimitError(
                f"Zalo báo gọi API quá nhanh khi làm mới token: {reason}",
                platform=PLATFORM,
                code=code,
                http_status=response.status_code,
                retry_after=RATE_LIMIT_WAIT_SECONDS,
            )
        raise AuthError(
            f"Zalo từ chối mã làm mới (refresh token): {reason or 'không rõ lý do'} (mã {code})",
            platform=PLATFORM,
            code=code,
            http_status=response.status_code,
        )


def _untested(line: Diagnosis) -> Diagnosis:
    """A token line Zalo could not confirm (the call failed for another reason)."""
    if not line.ok or line.warning:
        return line
    said = line.message.rstrip(".")
    return Diagnosis(line.name, True, f"{said}; chưa thử được với Zalo (xem dòng dưới).", True)


# ---------------------------------------------------------------- article shape


def paragraphs(body: str) -> list[str]:
    """The body's paragraphs: split on blank lines, each stripped, empty ones dropped."""
    text = nfc(body).replace("\r\n", "\n").replace("\r", "\n")
    return [p.strip() for p in re.split(r"\n[ \t]*\n", text) if p.strip()]


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a word boundary, with an ellipsis when cut."""
    text = " ".join(nfc(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–") + "…"


def first_sentence(body: str) -> str:
    paras = paragraphs(body)
    if not paras:
        return ""
    return re.split(r"(?<=[.!?…])\s+", " ".join(paras[0].split()), maxsplit=1)[0]


def parse_zalo_time(value: object, tz: Any = UTC) -> datetime | None:
    """A Zalo timestamp (epoch ms or s, as number or string, or a date string) as aware UTC."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        number = float(value)
        if number > 1e11:
            number /= 1000.0
        try:
            return datetime.fromtimestamp(number, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value).strip()
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y"):
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        log.info("unreadable Zalo time %r", value)
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


def _flat(text: str) -> str:
    """Text compared whitespace- and normalisation-insensitively (Zalo may re-wrap it)."""
    return " ".join(nfc(text).split())


@dataclass(frozen=True)
class _Content:
    """What an article of a post holds, as :meth:`ZaloChannel.find_published` compares it."""

    texts: list[str]
    images: list[str] | None
    cover: str | None


def _int_or_none(value: object) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


# ---------------------------------------------------------------- the channel


class ZaloChannel(
    Channel,
    CreatesInTwoSteps,
    ChecksQuota,
    Broadcasts,
    RemovesArticles,
    CollectsEngagement,
    Diagnoses,
):
    """Publishes a post as a Zalo OA article; see the module docstring.

    ``clock`` and ``sleep`` are injected so tests never wait for Zalo's processing.
    """

    name = "zalo"

    def __init__(
        self,
        settings: Settings,
        *,
        tokens: TokenProvider,
        http: HttpClient | None = None,
        public_media: PublicMedia | None = None,
        clock: Callable[[], datetime] = _utcnow,
        sleep: Callable[[float], None] = time.sleep,
        verify_timeout: float = 60.0,
        verify_interval: float = 3.0,
        settle_window: float | None = None,
        max_pages: int = 20,
        broadcast_target: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        self.http = http or HttpClient(PLATFORM, sleep=sleep)
        self.public_media = public_media
        self.clock = clock
        self.sleep = sleep
        self.verify_timeout = verify_timeout
        self.verify_interval = verify_interval
        #: how long an unanswered create may stay unlisted while Zalo processes it
        self.settle_window = (
            settings.zalo_settle_seconds if settle_window is None else settle_window
        )
        self.max_pages = max_pages
        #: whom a broadcast reaches; gender "0" is everyone (the contract's example adds cities)
        self.broadcast_target = dict(broadcast_target or {"gender": "0"})
        self.tz = settings.tz

    # ------------------------------------------------------------ transport

    def _headers(self, token: str) -> dict[str, str]:
        register_secret(token)
        headers = {"access_token": token}
        if self.settings.zalo_app_secret:
            headers["appsecret_proof"] = hmac.new(
                self.settings.zalo_app_secret.encode(), token.encode(), hashlib.sha256
            ).hexdigest()
        return headers

    def _call(
        self,
        method: str,
        path: str,
        *,
        action: str,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        creates: bool = False,
        token: str | None = None,
    ) -> dict[str, Any]:
        """One OA API call; its ``data`` on success, a classified error otherwise.

        On -216/-220 the token is refreshed once and the call sent once more: a
        refused token means Zalo did nothing, so even a create may be resent. A
        ``token`` given by the caller is tried as it is, never refreshed.
        """
        url = f"{self.settings.zalo_openapi_url}{path}"
        refreshed = token is not None
        token = token if token is not None else self.tokens.current()
        while True:
            response = self.http.request(
                method,
                url,
                params=params,
                json=json_body,
                headers=self._headers(token),
                creates=creates,
            )
            payload = self._decode(response, creates=creates, action=action)
            code = _error_code(payload.get("error"))
            if code == 0 and response.status_code < 400:
                remain = response.headers.get("X-RateLimit-Remain")
                if remain is not None:
                    log.debug("Zalo rate limit remaining: %s", remain)
                data = payload.get("data")
                return data if isinstance(data, dict) else {}
            if code in TOKEN_INVALID and not refreshed:
                log.info("Zalo answered %s on %s; refreshing the access token once", code, path)
                token = self.tokens.refresh(token)
                refreshed = True
                continue
            message = str(payload.get("message") or payload.get("error_description") or "")
            if code == 0:  # an HTTP error without Zalo's error field
                if response.status_code == 429:
                    raise RateLimitError(
                        f"Zalo báo gọi API quá nhanh (HTTP 429) khi {action}",
                        platform=PLATFORM,
                        http_status=429,
                        retry_after=RATE_LIMIT_WAIT_SECONDS,
                    )
                raise InvalidRequestError(
                    f"Không {action} được trên Zalo: HTTP {response.status_code} {message}".strip(),
                    platform=PLATFORM,
                    http_status=response.status_code,
                    body=response.text[:500],
                )
            raise classify(
                code,
                message,
                now=self.clock(),
                tz=self.tz,
                http_status=response.status_code,
                body=response.text[:500],
                action=action,
            )

    @staticmethod
    def _decode(response: requests.Response, *, creates: bool, action: str) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            return payload
        message = f"Zalo trả về nội dung không đọc được khi {action} (HTTP {response.status_code})"
        if creates:
            raise OutcomeUnknownError(
                f"Không rõ kết quả: {message}",
                platform=PLATFORM,
                http_status=response.status_code,
                body=response.text[:500],
            )
        raise TransientError(
            message, platform=PLATFORM, http_status=response.status_code, body=response.text[:500]
        )

    # ------------------------------------------------------------ article body

    def _cover(self, post: OutgoingPost) -> OutgoingImage:
        cover = post.cover or (post.images[0] if post.images else None)
        if cover is None:
            raise InvalidRequestError(
                f"Bài “{post.title}” không có ảnh nào: bài viết Zalo cần một ảnh bìa. "
                "Thêm ảnh vào thư mục bài (hoặc dòng “Ảnh bìa:”).",
                platform=PLATFORM,
            )
        return cover

    def _staged_urls(self, post: OutgoingPost) -> dict[Path, str]:
        """Public URLs of the post's images, copying the ones that have none yet."""
        images = [self._cover(post), *post.images]
        pending = [image for image in images if image.public_url is None]
        if not pending:
            return {}
        if self.public_media is None:
            raise PublicMediaError(
                "Chưa cấu hình thư mục ảnh công khai cho Zalo: đặt PUBLIC_MEDIA_DIR và "
                "PUBLIC_MEDIA_BASE_URL trong tệp .env (Zalo tự tải ảnh từ địa chỉ công khai)."
            )
        return self.public_media.publish_all(pending)

    @staticmethod
    def _url(image: OutgoingImage, urls: Mapping[Path, str]) -> str:
        url = image.public_url or urls.get(image.path)
        if not url:
            raise PublicMediaError(f"Ảnh {image.path.name} chưa có địa chỉ công khai cho Zalo.")
        return url

    def title_of(self, post: OutgoingPost) -> str:
        """The article title exactly as sent (and as ``find_published`` looks for it)."""
        return " ".join(nfc(post.title).split())

    def build_article(
        self, post: OutgoingPost, urls: Mapping[Path, str], *, article_id: str | None = None
    ) -> dict[str, Any]:
        """The ``article/create`` (or ``update``) JSON body for ``post``.

        Paragraphs (split on blank lines) become text items; the post's images are
        placed one after each paragraph, in order, any left over at the end, so a
        photo stays next to the text it illustrates.
        """
        title = self.title_of(post)
        author = " ".join(nfc(post.author or self.settings.default_author).split())
        for label, value, limit in (("Tiêu đề", title, MAX_TITLE), ("Tác giả", author, MAX_AUTHOR)):
            if not value:
                raise InvalidRequestError(
                    f"Bài viết Zalo thiếu “{label}”: thêm dòng “{label}:” vào tệp bài viết.",
                    platform=PLATFORM,
                )
            if len(value) > limit:
                raise InvalidRequestError(
                    f"“{label}” dài {len(value)} ký tự, Zalo chỉ nhận tối đa {limit}: "
                    f"rút gọn dòng “{label}:” trong tệp bài viết.",
                    platform=PLATFORM,
                )
        description = shorten(
            post.description or first_sentence(post.body) or title, MAX_DESCRIPTION
        )

        texts = paragraphs(post.body)
        images = list(post.images)
        body: list[dict[str, str]] = []
        for index, text in enumerate(texts):
            body.append({"type": "text", "content": text})
            if index < len(images):
                body.append({"type": "image", "url": self._url(images[index], urls)})
        body.extend(
            {"type": "image", "url": self._url(image, urls)} for image in images[len(texts) :]
        )
        if not body:
            body.append({"type": "text", "content": description})

        article: dict[str, Any] = {
            "type": "normal",
            "title": title,
            "author": author,
            "cover": {
                "cover_type": "photo",
                "photo_url": self._url(self._cover(post), urls),
                "status": "show",
            },
            "description": description,
            "body": body,
            "status": "show",
            "comment": "show",
        }
        if post.link:
            article["tracking_link"] = post.link.strip()
        if article_id is not None:
            article["id"] = article_id
        return article

    # ------------------------------------------------------------ articles

    def create_article(self, post: OutgoingPost) -> str:
        """Create the article; return Zalo's processing token (NOT the article id).

        Images without a public URL are copied to the public folder and checked
        first. A lost answer raises :class:`OutcomeUnknownError`: reconcile with
        :meth:`find_published`, never call this again blindly.
        """
        article = self.build_article(post, self._staged_urls(post))
        data = self._call(
            "POST", "/v2.0/article/create", json_body=article, creates=True, action="tạo bài viết"
        )
        token = data.get("token")
        if not token:
            raise OutcomeUnknownError(
                "Không rõ kết quả: Zalo báo tạo bài thành công nhưng không trả mã xử lý (token)",
                platform=PLATFORM,
            )
        log.info("Zalo article created for publication %s, processing", post.publication_id)
        return str(token)

    def verify_article(self, token: str) -> RemotePost:
        """The article id for a processing ``token``, polling while Zalo answers -214.

        Polls with backoff for about ``verify_timeout`` seconds (injected ``sleep``).
        What the daemon must do with each outcome:

        * a :class:`RemotePost`: published; ``remote_id`` is the article id.
        * :class:`ProcessingError`: still processing after the wait (-214, or an answer
          that may mean it: see :func:`.zalo_errors.still_processing_at_verify`); the article
          exists: keep the token and call ``verify_article(token)`` again after
          ``retry_after``. Never create again.
        * :class:`TransientError` with ``code == -200``: Zalo could not build the
          article (typically it could not fetch an image): nothing was published,
          creating again later is safe; after a few tries it is a permanent error.
        * any other error: the article may exist; reconcile with ``find_published``.
        """
        waited = 0.0
        delay = self.verify_interval
        while True:
            try:
                data = self._call(
                    "POST",
                    "/v2.0/article/verify",
                    json_body={"token": token},
                    action="xác nhận bài viết",
                )
            except ChannelError as exc:
                if not still_processing_at_verify(exc):
                    raise
                if not isinstance(exc, ProcessingError):
                    log.warning(
                        "Zalo verify answered code %s (%s): taken as still processing",
                        exc.code,
                        exc.platform_message,
                    )
                if waited >= self.verify_timeout:
                    raise ProcessingError(
                        f"Zalo vẫn đang xử lý bài viết sau {waited:.0f} giây; sẽ kiểm tra lại sau. "
                        f"{exc.platform_message}",
                        platform=PLATFORM,
                        code=exc.code,
                        http_status=exc.http_status,
                        retry_after=max(self.verify_interval, 30.0),
                    ) from None
                self.sleep(delay)
                waited += delay
                delay = min(delay * 1.5, 15.0)
                continue
            article_id = data.get("id") or data.get("article_id")
            if not article_id:
                raise TransientError(
                    "Zalo xác nhận bài viết nhưng không trả mã bài viết (id)", platform=PLATFORM
                )
            return self._remote(str(article_id), token)

    def _remote(self, article_id: str, token: str | None = None) -> RemotePost:
        """The published article, with its public link when Zalo tells it (best effort)."""
        link: str | None = None
        try:
            detail = self.article_detail(article_id)
            found = detail.get("link_view") or detail.get("link") or detail.get("url")
            link = str(found) if found else None
        except ChannelError as exc:
            log.info("could not read the link of Zalo article %s: %s", article_id, exc)
        extra: dict[str, object] = {"processing_token": token} if token else {}
        return RemotePost(remote_id=article_id, url=link, created_time=self.clock(), extra=extra)

    def video_client(self, **options: Any) -> Any:
        """Video articles (``channels.zalo_video``) through this channel's tokens."""
        from .zalo_video import ZaloVideoClient

        return ZaloVideoClient(self, **options)

    def publish(self, post: OutgoingPost) -> RemotePost:
        """Create then verify (the Channel protocol); see :meth:`verify_article` for outcomes.

        Once create has answered, the article may exist: every verify failure other
        than Zalo's explicit -200 becomes :class:`OutcomeUnknownError` (reconcile).
        """
        token = self.create_article(post)
        try:
            return self.verify_article(token)
        except ChannelError as exc:
            if isinstance(exc, TransientError) and exc.code == SEND_FAILED:
                raise
            raise OutcomeUnknownError(
                f"Bài đã gửi tạo trên Zalo nhưng chưa xác nhận được: {exc.platform_message}",
                platform=PLATFORM,
                code=exc.code,
                http_status=exc.http_status,
                retry_after=exc.retry_after,
            ) from None

    def update_article(self, article_id: str, post: OutgoingPost) -> RemotePost:
        """Replace a live article's content (new processing token, verified again)."""
        article = self.build_article(post, self._staged_urls(post), article_id=article_id)
        data = self._call(
            "POST", "/v2.0/article/update", json_body=article, action="cập nhật bài viết"
        )
        token = data.get("token")
        if not token:
            return self._remote(article_id)
        return self.verify_article(str(token))

    def remove_article(self, article_id: str) -> None:
        self._call(
            "POST", "/v2.0/article/remove", json_body={"id": article_id}, action="gỡ bài viết"
        )
        log.info("Zalo article %s removed", article_id)

    def oa_profile(self, token: str | None = None) -> dict[str, Any]:
        """The OA's profile (``getoa``): ``oa_id``, ``name``…; with ``token``, that token only
        (``zalo token set`` tries a pair before storing it)."""
        return self._call("GET", "/v2.0/oa/getoa", action="đọc thông tin OA", token=token)

    def article_detail(self, article_id: str) -> dict[str, Any]:
        return self._call(
            "GET", "/v2.0/article/getdetail", params={"id": article_id}, action="đọc bài viết"
        )

    def list_articles(
        self, offset: int = 0, limit: int = PAGE_SIZE
    ) -> tuple[list[dict[str, Any]], int | None]:
        """One page of ``getslice`` (newest first): the articles and Zalo's total, if given."""
        data = self._call(
            "GET",
            "/v2.0/article/getslice",
            params={"offset": offset, "limit": min(limit, PAGE_SIZE), "type": "normal"},
            action="đọc danh sách bài viết",
        )
        medias = data.get("medias") or []
        return [m for m in medias if isinstance(m, dict)], _int_or_none(data.get("total"))

    def _pages(self) -> Iterable[list[dict[str, Any]]]:
        """getslice pages until the list ends; TransientError if ``max_pages`` cut it short."""
        for page in range(self.max_pages):
            medias, total = self.list_articles(page * PAGE_SIZE)
            yield medias
            seen = (page + 1) * PAGE_SIZE
            if len(medias) < PAGE_SIZE or (total is not None and seen >= total):
                return
        raise TransientError(
            f"Danh sách bài viết Zalo dài hơn {self.max_pages * PAGE_SIZE} bài: chưa đọc hết",
            platform=PLATFORM,
        )

    def find_published(
        self, post: OutgoingPost, since: datetime, *, exclude: frozenset[str] = frozenset()
    ) -> RemotePost | None:
        """Look for ``post``'s article created since ``since`` (after an unanswered create).

        An article is ours when its title is the one sent, it was created no earlier
        than ``since`` (minus 5 minutes of clock slack), and its content is this post's
        (:meth:`_same_content`: the text paragraphs, the images): a title alone is not
        enough, offices post "Thông báo lịch tiếp công dân" every week. An article in
        ``exclude`` (held by another publication) is never answered. Pages of ``getslice``
        are read until they are older than ``since``.

        An article Zalo is still processing is NOT listed yet, so "not found" is
        only final once the processing window has passed. The rule, for the daemon:

        * returns a :class:`RemotePost`: it is there; adopt it (no new create).
        * raises :class:`ProcessingError`: not listed yet, but less than
          ``settle_window`` (``ZALO_SETTLE_SECONDS``, default 600 s) has passed since
          ``since``: NOT a final answer;
          ask again after ``retry_after`` seconds; do not create.
        * raises :class:`UnverifiedMatchError`: an article with this title was created
          since, but its content could not be read to compare: a person decides.
        * returns ``None``: not there, and the window has passed: creating again is safe.
        * raises another :class:`ChannelError` (e.g. TransientError when the list could
          not be read in full): no conclusion; ask again later; do not create.
        """
        title = self.title_of(post)
        floor = since - CLOCK_SLACK
        expected = self._expected_content(post)
        unverified: list[str] = []
        for medias in self._pages_since(floor):
            for media in medias:
                if " ".join(nfc(str(media.get("title") or "")).split()) != title:
                    continue
                created = parse_zalo_time(media.get("create_date"), self.tz)
                if created is not None and created < floor:
                    continue
                article_id = str(media.get("id"))
                link = media.get("link_view")
                if article_id in exclude:
                    log.info("Zalo article %s is another publication's: not adopted", article_id)
                    continue
                verdict = self._same_content(article_id, expected)
                if verdict is False:
                    continue
                if verdict is None:
                    unverified.append(str(link or article_id))
                    continue
                log.info(
                    "found Zalo article %s for publication %s", article_id, post.publication_id
                )
                return RemotePost(
                    remote_id=article_id,
                    url=str(link) if link else None,
                    created_time=created,
                    extra={"status": media.get("status")},
                )
        if unverified:
            raise UnverifiedMatchError(
                f"Có bài Zalo cùng tiêu đề “{title}” tạo sau lần gửi trước nhưng không đọc được "
                "nội dung để so sánh",
                platform=PLATFORM,
                candidate=", ".join(unverified),
            )
        elapsed = (self.clock() - since).total_seconds()
        if elapsed < self.settle_window:
            wait = self.settle_window - elapsed
            raise ProcessingError(
                "Chưa thấy bài trên Zalo, nhưng Zalo có thể vẫn đang xử lý: "
                f"xem lại sau {wait:.0f} giây",
                platform=PLATFORM,
                retry_after=wait,
            )
        return None

    def _pages_since(self, floor: datetime) -> Iterable[list[dict[str, Any]]]:
        """``getslice`` pages, stopping after the first one wholly older than ``floor``
        (newest first, whether Zalo orders by creation or by update)."""
        for medias in self._pages():
            yield medias
            times = [
                max(
                    (
                        t
                        for t in (
                            parse_zalo_time(m.get("create_date"), self.tz),
                            parse_zalo_time(m.get("update_date"), self.tz),
                        )
                        if t is not None
                    ),
                    default=None,
                )
                for m in medias
            ]
            if times and all(t is not None and t < floor for t in times):
                return

    def _expected_content(self, post: OutgoingPost) -> _Content:
        """What an article made from ``post`` holds: text paragraphs, and image URLs when
        they can be known without side effects (None: the post was given without images,
        or their public URLs cannot be computed here)."""
        texts = [_flat(t) for t in paragraphs(post.body)]
        if not texts:
            texts = [
                _flat(
                    shorten(
                        post.description or first_sentence(post.body) or self.title_of(post),
                        MAX_DESCRIPTION,
                    )
                )
            ]
        if post.cover is None and not post.images:
            return _Content(texts, None, None)
        try:
            images = [self._public_url(image) for image in post.images]
            cover = self._public_url(self._cover(post))
        except (OSError, SocialPublisherError):
            return _Content(texts, None, None)
        if None in images or cover is None:
            return _Content(texts, None, None)
        return _Content(texts, [u for u in images if u is not None], cover)

    def _public_url(self, image: OutgoingImage) -> str | None:
        """The URL :meth:`create_article` gives this rendition (its content-hash name)."""
        if image.public_url:
            return image.public_url
        if self.public_media is None:
            return None
        return self.public_media.url_for(public_name(image.path.read_bytes(), image.path.suffix))

    def _same_content(self, article_id: str, expected: _Content) -> bool | None:
        """True when the article holds ``expected``, False when it holds something else,
        None when its content cannot be read (a shape we do not know)."""
        try:
            detail = self.article_detail(article_id)
        except InvalidRequestError as exc:
            log.info("Zalo article %s cannot be read (%s): not ours", article_id, exc.code)
            return False  # gone (-201 "not existed"): it is not live, so not adoptable
        body = detail.get("body")
        if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
            return None
        texts = [_flat(str(i.get("content") or "")) for i in body if i.get("type") == "text"]
        urls = [str(i.get("url") or "") for i in body if i.get("type") == "image"]
        if not texts:
            return None
        if texts != expected.texts:
            return False
        if expected.images is None:
            return True
        base = self.settings.public_media_base_url.rstrip("/") + "/"
        if self.settings.public_media_base_url and all(u.startswith(base) for u in urls):
            cover = detail.get("cover")
            photo = cover.get("photo_url") if isinstance(cover, dict) else None
            ours = isinstance(photo, str) and photo.startswith(base)
            return urls == expected.images and (not ours or photo == expected.cover)
        # Zalo may serve the images from its own hosts: then the count is what can be told.
        return len(urls) == len(expected.images)

    # ------------------------------------------------------------ engagement

    def fetch_engagement(self, article_ids: Iterable[str]) -> dict[str, Engagement]:
        """Views and shares of the given articles, read from ``getslice`` pages.

        Articles not found in the list (removed, or beyond ``max_pages``) are absent
        from the result.
        """
        wanted = {str(i) for i in article_ids}
        found: dict[str, Engagement] = {}
        if not wanted:
            return found
        try:
            for medias in self._pages():
                for media in medias:
                    article_id = str(media.get("id"))
                    if article_id in wanted:
                        found[article_id] = Engagement(
                            remote_id=article_id,
                            views=_int_or_none(media.get("total_view")),
                            shares=_int_or_none(media.get("total_share")),
                            raw={
                                k: media[k]
                                for k in ("total_view", "total_share", "status", "create_date")
                                if k in media
                            },
                        )
                if wanted <= found.keys():
                    break
        except TransientError as exc:
            if not found:
                raise
            log.info(
                "Zalo engagement is partial (%s of %s articles): %s", len(found), len(wanted), exc
            )
        return found

    # ------------------------------------------------------------ quota and broadcast

    def check_quota(self, published_this_month: int, now: datetime) -> None:
        """QuotaError when the configured monthly article quota is used up.

        ``published_this_month``: the caller counts Zalo publications published since
        ``localtime.month_start(now, tz)`` (local time). A quota of 0 means unknown:
        Zalo's own -223 then tells.
        """
        quota = self.settings.zalo_monthly_article_quota
        if quota and published_this_month >= quota:
            reset = next_month_start(now, self.tz)
            raise QuotaError(
                f"Đã đăng {published_this_month}/{quota} bài Zalo trong tháng "
                f"(ZALO_MONTHLY_ARTICLE_QUOTA): bài được giữ đến {reset:%d/%m/%Y} rồi tự đăng.",
                platform=PLATFORM,
                retry_after=(reset - now).total_seconds(),
            )

    def broadcast(self, article_id: str, *, now: datetime, sent_this_month: int = 0) -> None:
        """Push a published article to the OA's followers (optional, scarce).

        Only 06:00-22:00 local (else NightTimeError with ``retry_after`` to 06:00) and
        within ``ZALO_BROADCAST_MONTHLY_BUDGET`` (the caller counts Publications whose
        ``broadcast_state`` is "sent" this month). Sending is a create: a lost answer is
        OutcomeUnknownError (do not resend: followers would get it twice). Zalo's refusal
        comes as the classified ChannelError with a Vietnamese message to show staff.
        """
        if not is_broadcast_hours(now, self.tz):
            opening = next_broadcast_opening(now, self.tz)
            raise NightTimeError(
                "Zalo không gửi tin tới người quan tâm từ 22:00 đến 06:00: "
                f"sẽ gửi lúc {opening:%H:%M %d/%m/%Y}.",
                platform=PLATFORM,
                retry_after=(opening - now).total_seconds(),
            )
        budget = self.settings.zalo_broadcast_monthly_budget
        if sent_this_month >= budget:
            reset = next_month_start(now, self.tz)
            raise QuotaError(
                f"Đã dùng hết {budget} lượt gửi tin Zalo của tháng "
                f"(ZALO_BROADCAST_MONTHLY_BUDGET): bài vẫn được đăng, chỉ không gửi tin.",
                platform=PLATFORM,
                retry_after=(reset - now).total_seconds(),
            )
        body = {
            "recipient": {"target": self.broadcast_target},
            "message": {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "media",
                        "elements": [{"media_type": "article", "attachment_id": article_id}],
                    },
                }
            },
        }
        try:
            self._call(
                "POST",
                "/v2.0/oa/message",
                json_body=body,
                creates=True,
                action="gửi tin bài viết tới người quan tâm",
            )
        except ChannelError as exc:
            log.warning("Zalo refused the broadcast of article %s: %s", article_id, exc)
            raise
        log.info(
            "Zalo broadcast of article %s accepted (Zalo moderates it before sending)", article_id
        )

    # ------------------------------------------------------------ doctor

    def diagnose(self) -> list[Diagnosis]:
        """Settings, token health, one cheap authenticated call, public media."""
        missing = self.settings.missing_for("zalo")
        if missing:
            return [
                Diagnosis(
                    "zalo.settings",
                    False,
                    f"Kênh Zalo đang tắt: thiếu {', '.join(missing)} trong .env.",
                    warning=True,
                )
            ]
        out = [Diagnosis("zalo.settings", True, "Đã cấu hình ZALO_APP_ID và ZALO_APP_SECRET.")]
        # One verdict per token: the lines about the stored pair (read before the call, which
        # may rotate it) are then judged by what Zalo made of it, so "valid" never stands
        # above a line saying Zalo refused it.
        diagnostics = self.tokens if isinstance(self.tokens, TokenDiagnostics) else None
        tokens = diagnostics.token_diagnoses() if diagnostics is not None else []
        failure: SocialPublisherError | None = None
        try:
            _, total = self.list_articles(0, 1)
            count = f" ({vn_number(total)} bài viết)" if total is not None else ""
            api = Diagnosis("zalo.api", True, f"Gọi API Zalo OA thành công{count}.")
        except SocialPublisherError as exc:
            failure = exc
            said = exc.platform_message if isinstance(exc, ChannelError) else exc.message
            api = Diagnosis("zalo.api", False, f"Không gọi được API Zalo OA: {said.rstrip('.')}.")
        if isinstance(failure, AuthError) and not isinstance(failure, SetupError):
            # Zalo refused the token (and its refresh): what the store now says of it, once.
            after = diagnostics.token_diagnoses() if diagnostics is not None else []
            tokens = [t for t in after if not t.ok]
            if not tokens:
                tokens = [Diagnosis("zalo.token", False, api.message)]
            out.extend(tokens)
        else:
            if failure is not None:
                tokens = [_untested(t) for t in tokens]
            out.extend([*tokens, api])
        if self.public_media is not None:
            out.extend(self.public_media.diagnose())
        else:
            out.append(
                Diagnosis(
                    "zalo.public_media",
                    False,
                    "Chưa cấu hình PUBLIC_MEDIA_DIR và PUBLIC_MEDIA_BASE_URL: không đăng được "
                    "bài Zalo có ảnh.",
                )
            )
        return out
