"""The town's Facebook Page, over the Graph API (contract: ``docs/api/facebook-graph.md``).

Three rules shape this module:

- A create call is sent once. The transport raises :class:`OutcomeUnknownError` when its
  answer is lost; the daemon then calls :meth:`FacebookChannel.find_published`, which looks
  for the post on the Page by its text and photo count and adopts it. Code 506 (duplicate)
  is settled the same way. A multi-photo post is one create (the ``/feed`` call after the
  unpublished uploads), so it is on the Page whole or not at all.
- The Page token travels only in the ``Authorization`` header (``appsecret_proof`` beside
  it when ``FB_APP_SECRET`` is set): never in a URL. Graph's ``paging.next`` URLs carry the
  token, so they are never followed verbatim: their cursor is re-sent by us. The proof is
  only valid for tokens our app issued: an agency's token gets it only when its row in
  ``agencies.csv`` says the token came through our app; a refused proof is a setup
  problem (:class:`AppSecretProofError`), never a problem of the post.
- A small Page's API budget is small: usage headers above 75 % slow the channel down, at
  100 % it stops calling until Graph's own estimate has passed. Engagement is read with the
  synchronous batch (``POST /`` with ``batch=[…]``, 50 entries a request: counters, then
  insights, so two requests per 50 posts); ``GET /?ids=`` and the other legacy features are
  refused to apps created since 4 Nov 2026 and are never used.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import mimetypes
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

from ..config import Settings
from ..errors import (
    AppSecretProofError,
    AuthError,
    ChannelError,
    ConfigError,
    ConnectError,
    InvalidRequestError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    SetupError,
    TransientError,
    register_secret,
)
from ..numbers import vn_megabytes
from ..platforms import FACEBOOK_MAX_CHARS, FACEBOOK_MAX_PHOTO_BYTES, FACEBOOK_MAX_PHOTOS
from .base import (
    Channel,
    CollectsEngagement,
    Diagnoses,
    Diagnosis,
    Engagement,
    FindsScheduled,
    OutgoingImage,
    OutgoingPost,
    ReadsFeeds,
    ReadsPosts,
    RemotePost,
    ScheduleHorizon,
    SchedulesNatively,
)
from .graph_errors import (
    PLATFORM,
    RATE_LIMIT_FLOOR_SECONDS,
    Usage,
    as_int,
    classify_error,
    graph_error,
    is_missing_object,
    parse_usage,
    proof_refusal,
)
from .http import HttpClient

log = logging.getLogger("social_publisher.facebook")

#: how the ``doctor`` line starts when Graph cannot be reached at all
UNREACHABLE = "Không gọi được Graph API"
_T = TypeVar("_T")

REQUIRED_SCOPES = (
    "pages_manage_posts",
    "pages_read_engagement",
    "pages_show_list",
    "read_insights",
)
#: needed only to read agency Pages' feeds with our own token
OPTIONAL_SCOPES = ("pages_read_user_content",)
MAX_MESSAGE, MAX_PHOTOS = FACEBOOK_MAX_CHARS, FACEBOOK_MAX_PHOTOS  # platforms.py
MAX_PHOTO_BYTES = FACEBOOK_MAX_PHOTO_BYTES
#: entries of one synchronous batch request (Graph's maximum)
BATCH_SIZE = 50
#: how many times entries answered ``null`` (not processed) are sent again
BATCH_NULL_RETRIES = 3
FEED_PAGE_LIMIT = 100
SEARCH_PAGE_LIMIT = 25
MAX_PAGES = 20
#: Graph takes 10 min < t ≤ 30 days. We keep 5 min spare at the near end (uploads of up to
#: ten photos and clock skew happen before Graph checks the time) and 1 h at the far end.
SCHEDULE_MIN_LEAD = timedelta(minutes=15)
SCHEDULE_MAX_LEAD = timedelta(days=30) - timedelta(hours=1)
#: how far before an attempt's start find_published still looks (clock skew)
FIND_MARGIN = timedelta(minutes=5)
SLOW_DOWN_PERCENT = 75.0
METRIC_VIEWS = "post_media_view"
METRIC_REACH = "post_total_media_view_unique"
ENGAGEMENT_FIELDS = "shares,reactions.summary(total_count).limit(0),comments.summary(true).limit(0)"
POST_FIELDS = "id,message,created_time,permalink_url,is_published,scheduled_publish_time"
FIND_FIELDS = (
    "id,message,created_time,permalink_url,is_published,scheduled_publish_time,"
    "attachments{subattachments,media}"
)
AGENCY_FEED_FIELDS = (
    "id,created_time,permalink_url,parent_id,status_type,attachments{target,url,subattachments}"
)
#: what finds the post of a photo published without ``post_id`` in its answer
PHOTO_POST_FIELDS = "id,message,created_time,permalink_url,is_published,attachments{target,media}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- pure helpers


def compose_message(post: OutgoingPost) -> str:
    """The text Facebook shows: title, a blank line, the body.

    Photo posts cannot carry a ``link`` parameter, so there the link goes at the end of
    the text (unless the body already has it). The one place this text is built:
    publishing, editing and :meth:`FacebookChannel.find_published` all use it.
    """
    text = "\n\n".join(part for part in (post.title.strip(), post.body.strip()) if part)
    if post.images and post.link and post.link not in text:
        text = f"{text}\n\n{post.link}" if text else post.link
    return unicodedata.normalize("NFC", text)


def _same_text(a: str, b: str) -> bool:
    """Equal up to whitespace and Unicode normalization (Facebook may trim or re-wrap)."""
    return " ".join(unicodedata.normalize("NFC", a).split()) == " ".join(
        unicodedata.normalize("NFC", b).split()
    )


def in_schedule_window(at: datetime, now: datetime) -> bool:
    """True when Facebook's scheduler takes a post due at ``at``: 15 min ≤ at-now ≤ 30 d − 1 h.

    Graph's own rule is 10 min < t ≤ 30 days (the documents disagree beyond 30 days); the
    margins (see :data:`SCHEDULE_MIN_LEAD`) keep us clear of both edges.
    """
    if at.tzinfo is None or now.tzinfo is None:
        raise ValueError("in_schedule_window needs aware datetimes")
    return SCHEDULE_MIN_LEAD <= at - now <= SCHEDULE_MAX_LEAD


def parse_graph_time(value: Any) -> datetime | None:
    """``2024-10-10T00:30:00+0000`` (or ISO 8601, or unix seconds) as an aware datetime."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _photo_count(item: Mapping[str, Any]) -> int | None:
    """Photos in a feed item's attachments; None when they cannot be counted.

    Uncountable: attachments not returned, or an attachment in a shape we do not know
    (neither ``media`` nor ``subattachments``, only a ``type``). Counted as 0 it would
    make our own photo post look like a stranger's and have it sent twice.
    """
    attachments = item.get("attachments")
    if not isinstance(attachments, Mapping):
        return None if "attachments" in item else 0
    total = 0
    for attachment in attachments.get("data") or []:
        if not isinstance(attachment, Mapping):
            return None
        subs = attachment.get("subattachments")
        sub_items = subs.get("data") if isinstance(subs, Mapping) else None
        if sub_items:
            total += len(sub_items)
        elif attachment.get("media") is not None:
            total += 1
        else:
            return None
    return total


def _chunks(items: list[_T], size: int) -> Iterator[list[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _next_params(next_url: str) -> dict[str, str]:
    """The query of Graph's ``paging.next`` minus credentials (they are sent our way)."""
    query = parse_qs(urlsplit(next_url).query, keep_blank_values=True)
    return {
        key: values[0]
        for key, values in query.items()
        if key not in ("access_token", "appsecret_proof") and values
    }


@dataclass(frozen=True)
class EngagementResult:
    """Counters per post, the insight metrics newly found refused (store them), and the
    posts Graph no longer knows (deleted on Facebook)."""

    results: dict[str, Engagement]
    unavailable_metrics: frozenset[str] = frozenset()
    missing: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FeedItem:
    """One post on an agency Page, reduced to what share matching needs."""

    id: str
    created_time: datetime | None
    permalink_url: str | None
    parent_id: str | None
    status_type: str | None
    attachment_targets: tuple[str, ...] = ()
    attachment_urls: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _url_key(url: str) -> tuple[str, str]:
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    for prefix in ("www.", "m.", "web.", "mbasic."):
        if host.startswith(prefix):
            host = host[len(prefix) :]
    return host, parts.path.rstrip("/")


def match_share(item: FeedItem, our_posts: Mapping[str, str]) -> str | None:
    """Which of our posts (remote id → permalink) ``item`` re-shares, if any.

    Tried in order: ``parent_id``; an attachment target equal to the post id or to its
    number (the part after ``_``); an attachment URL equal to the permalink, containing the
    full id, or containing the number as a whole digit run (never a mere substring).
    """
    for post_id, _ in our_posts.items():
        if item.parent_id and item.parent_id == post_id:
            return post_id
    for post_id, _ in our_posts.items():
        number = post_id.split("_", 1)[-1]
        if any(target in (post_id, number) for target in item.attachment_targets):
            return post_id
    for post_id, permalink in our_posts.items():
        number = post_id.split("_", 1)[-1]
        for url in item.attachment_urls:
            if permalink and _url_key(url) == _url_key(permalink):
                return post_id
            if post_id in url:
                return post_id
            if len(number) >= 8 and number in re.findall(r"\d+", url):
                return post_id
    return None


def _feed_item(raw: Mapping[str, Any]) -> FeedItem:
    targets: list[str] = []
    urls: list[str] = []

    def collect(attachment: Mapping[str, Any]) -> None:
        target = attachment.get("target") or {}
        if target.get("id"):
            targets.append(str(target["id"]))
        for url in (attachment.get("url"), target.get("url")):
            if isinstance(url, str) and url and url not in urls:
                urls.append(url)
        for sub in (attachment.get("subattachments") or {}).get("data") or []:
            collect(sub)

    for attachment in (raw.get("attachments") or {}).get("data") or []:
        collect(attachment)
    return FeedItem(
        id=str(raw.get("id")),
        created_time=parse_graph_time(raw.get("created_time")),
        permalink_url=raw.get("permalink_url"),
        parent_id=raw.get("parent_id"),
        status_type=raw.get("status_type"),
        attachment_targets=tuple(targets),
        attachment_urls=tuple(urls),
        raw=dict(raw),
    )


def _metric_value(item: Mapping[str, Any]) -> int | None:
    values = item.get("values") or []
    if not values:
        return None
    value = values[-1].get("value") if isinstance(values[-1], Mapping) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, Mapping):  # a breakdown: the total is the sum
        return int(sum(v for v in value.values() if isinstance(v, int | float)))
    return None


def _summary_total(node: Mapping[str, Any], edge: str) -> int | None:
    summary = (node.get(edge) or {}).get("summary") or {}
    total = summary.get("total_count")
    return int(total) if isinstance(total, int | float) else None


# ---------------------------------------------------------------- the channel


class FacebookChannel(
    Channel,
    SchedulesNatively,
    FindsScheduled,
    ScheduleHorizon,
    ReadsPosts,
    CollectsEngagement,
    ReadsFeeds,
    Diagnoses,
):
    """Publishes to, and reads from, the town's Facebook Page."""

    name = "facebook"
    in_schedule_window = staticmethod(in_schedule_window)
    #: the furthest ahead Facebook's scheduler takes a post (lets callers filter in SQL)
    schedule_max_lead = SCHEDULE_MAX_LEAD
    match_share = staticmethod(match_share)

    def __init__(
        self,
        settings: Settings,
        *,
        http: HttpClient | None = None,
        clock: Callable[[], datetime] = _utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.page_id = settings.fb_page_id
        self._token = settings.fb_page_access_token
        self._app_secret = settings.fb_app_secret
        register_secret(self._token)
        register_secret(self._app_secret)
        version = settings.fb_graph_version.strip("/")
        self.base_url = f"{settings.fb_graph_url.rstrip('/')}/{version}"
        self.http = http or HttpClient(
            PLATFORM, connect_timeout=5.0, read_timeout=60.0, sleep=sleep
        )
        self.clock = clock
        self.sleep = sleep
        #: the last usage percentage Graph reported (0 when it sent no header)
        self.usage_percent = 0.0
        #: no call is made before this moment (usage reached 100 %)
        self.blocked_until: datetime | None = None

    # ------------------------------------------------------------ plumbing

    @property
    def enabled(self) -> bool:
        return self.settings.facebook_enabled

    def close(self) -> None:
        self.http.close()

    def video_client(self, **options: Any) -> Any:
        """Feed videos and Reels (``channels.facebook_video``), on this channel's clock."""
        from .facebook_video import FacebookVideoClient

        return FacebookVideoClient(self.settings, clock=self.clock, sleep=self.sleep, **options)

    def _require_enabled(self) -> None:
        missing = self.settings.missing_for("facebook")
        if missing:
            raise ConfigError(
                f"Kênh Facebook đang tắt: thiếu {', '.join(missing)} trong .env "
                "(xem config.example.env)."
            )

    @property
    def throttle_delay(self) -> float:
        """Seconds to pause before the next call: 0 below 75 % usage, 2 s → 30 s up to 100 %."""
        if self.usage_percent < SLOW_DOWN_PERCENT:
            return 0.0
        share = min(1.0, (self.usage_percent - SLOW_DOWN_PERCENT) / (100 - SLOW_DOWN_PERCENT))
        return 2.0 + 28.0 * share

    def _proof(self, token: str) -> str | None:
        if not self._app_secret:
            return None
        return hmac.new(self._app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()

    def _before_call(self) -> None:
        now = self.clock()
        if self.blocked_until is not None:
            if now < self.blocked_until:
                remaining = (self.blocked_until - now).total_seconds()
                raise RateLimitError(
                    "Trang Facebook đã dùng hết hạn mức gọi API (100 %): tạm dừng "
                    f"khoảng {int(remaining // 60) + 1} phút",
                    platform=PLATFORM,
                    retry_after=max(remaining, 1.0),
                )
            self.blocked_until = None
        delay = self.throttle_delay
        if delay:
            log.info("Facebook usage at %.0f%%: pausing %.1fs", self.usage_percent, delay)
            self.sleep(delay)

    def _note_usage(self, usage: Usage) -> None:
        """Track our Page's budget (an agency token's usage is the agency's business)."""
        self.usage_percent = usage.percent
        if usage.percent >= 100:
            wait = max(usage.regain_seconds, RATE_LIMIT_FLOOR_SECONDS)
            self.blocked_until = self.clock() + timedelta(seconds=wait)
            log.warning("Facebook usage at %.0f%%: no calls for %.0fs", usage.percent, wait)

    def _from_transport(self, exc: ChannelError) -> ChannelError:
        """Re-read a transport error's body: Graph's code says more than the HTTP status."""
        try:
            payload = json.loads(exc.body or "")
        except ValueError:
            return exc
        error = graph_error(payload)
        if error is None:
            return exc
        if isinstance(exc, OutcomeUnknownError):
            trace = error.get("fbtrace_id")
            return OutcomeUnknownError(
                f"{exc.platform_message} ({error.get('message', '')})",
                platform=PLATFORM,
                http_status=exc.http_status,
                code=as_int(error.get("code")),
                subcode=as_int(error.get("error_subcode")),
                trace_id=str(trace) if trace else None,
                body=exc.body,
            )
        return classify_error(payload, exc.http_status)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        creates: bool = False,
        token: str | None = None,
        with_proof: bool = True,
    ) -> Any:
        """One Graph call; returns the decoded body or raises a classified error.

        ``with_proof=False`` for a token another app issued (an agency's own Page token):
        our ``appsecret_proof`` is only valid for tokens of our app.
        """
        self._before_call()
        token = token or self._token
        proof = self._proof(token) if with_proof else None
        query = dict(params or {})
        body = dict(data or {})
        if proof:
            (body if method == "POST" else query)["appsecret_proof"] = proof
        try:
            response = self.http.request(
                method,
                f"{self.base_url}/{path}",
                params=query or None,
                data=body or None,
                files=dict(files) if files else None,
                headers={"Authorization": f"Bearer {token}"},
                creates=creates,
            )
        except ChannelError as exc:
            raise self._from_transport(exc) from None
        usage = parse_usage(response.headers)
        if token == self._token:
            self._note_usage(usage)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        error = graph_error(payload)
        if error is not None or response.status_code >= 400:
            if error is None:
                payload = {"error": {"message": response.text[:300] or "no body"}}
            retry_after = usage.regain_seconds or None
            classified = classify_error(payload, response.status_code, retry_after=retry_after)
            refusal = proof_refusal(payload)
            if refusal is not None:
                ours = token == self._token or token.startswith(f"{self.settings.fb_app_id}|")
                raise self._proof_error(classified, ours=ours, proof_sent=refusal)
            raise classified
        return payload

    def _proof_error(
        self, exc: ChannelError, *, ours: bool, proof_sent: bool
    ) -> AppSecretProofError:
        """A refused ``appsecret_proof`` as the setup problem it is, with the fix.

        For our Page token the message is the whole advice (it becomes the channel's
        reason); for an agency's token the caller names the agency and its row.
        """
        said = f"Facebook trả lời: {exc.platform_message}"
        if not ours:
            why = "mã do ứng dụng khác cấp" if proof_sent else "ứng dụng yêu cầu appsecret_proof"
            text = f"Facebook từ chối appsecret_proof đi kèm mã truy cập này ({why}). {said}"
        elif proof_sent:
            text = (
                "FB_APP_SECRET trong .env không phải khóa bí mật của ứng dụng Facebook đã cấp mã "
                "truy cập Trang (FB_PAGE_ACCESS_TOKEN), nên Facebook từ chối mọi lệnh gọi "
                "(appsecret_proof sai). Cách sửa: vào developers.facebook.com → Ứng dụng của tôi "
                "→ đúng ứng dụng đã tạo mã Trang → Cài đặt → Thông tin cơ bản, chép “Khóa bí mật "
                "của ứng dụng” vào FB_APP_SECRET và “ID ứng dụng” vào FB_APP_ID (hoặc tạo lại "
                "FB_PAGE_ACCESS_TOKEN bằng chính ứng dụng có khóa đó), rồi chạy "
                "'social-publisher doctor' và 'social-publisher retry'. Đây là lỗi cấu hình, "
                f"không phải lỗi bài viết: không cần sửa bài. {said}"
            )
        else:
            text = (
                "Ứng dụng Facebook đã cấp FB_PAGE_ACCESS_TOKEN bật “Require App Secret” (yêu cầu "
                "appsecret_proof) nhưng FB_APP_SECRET trong .env đang trống. Cách sửa: chép "
                "“Khóa bí mật của ứng dụng” (Cài đặt → Thông tin cơ bản trên "
                "developers.facebook.com) vào FB_APP_SECRET và ID ứng dụng vào FB_APP_ID, rồi "
                "chạy 'social-publisher doctor' và 'social-publisher retry'. Đây là lỗi cấu "
                f"hình, không phải lỗi bài viết: không cần sửa bài. {said}"
            )
        return AppSecretProofError(
            text,
            proof_sent=proof_sent,
            platform=PLATFORM,
            http_status=exc.http_status,
            code=exc.code,
            subcode=exc.subcode,
            trace_id=exc.trace_id,
            body=exc.body,
        )

    def _paged(
        self,
        path: str,
        params: Mapping[str, Any],
        *,
        stop_before: datetime | None = None,
        token: str | None = None,
        with_proof: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """Items of a listing, newest first, until one is older than ``stop_before``."""
        query = dict(params)
        for _ in range(MAX_PAGES):
            body = self._call("GET", path, params=query, token=token, with_proof=with_proof)
            if not isinstance(body, Mapping):
                return
            items = body.get("data") or []
            for item in items:
                created = parse_graph_time(item.get("created_time"))
                if stop_before is not None and created is not None and created < stop_before:
                    return
                yield item
            next_url = (body.get("paging") or {}).get("next")
            if not items or not next_url:
                return
            query = _next_params(next_url)

    # ------------------------------------------------------------ publishing

    def publish(self, post: OutgoingPost) -> RemotePost:
        """Publish now, whole (text, link, one photo, or 2–10 photos) or not at all."""
        return self._create(post, None)

    def schedule(self, post: OutgoingPost, at: datetime) -> RemotePost:
        """Hand the post to Facebook's scheduler for ``at`` (see :func:`in_schedule_window`)."""
        self._check_window(at)
        return self._create(post, at)

    def _check_window(self, at: datetime) -> None:
        if not in_schedule_window(at, self.clock()):
            raise InvalidRequestError(
                "Facebook chỉ hẹn giờ đăng bài từ 15 phút đến 30 ngày tới; thời điểm "
                f"{at.isoformat()} nằm ngoài khoảng đó",
                platform=PLATFORM,
            )

    def _check_message(self, message: str) -> None:
        if len(message) > MAX_MESSAGE:
            raise InvalidRequestError(
                f"Bài viết dài {len(message)} ký tự, Facebook chỉ nhận tối đa {MAX_MESSAGE}: "
                "rút ngắn nội dung trong tệp bài viết",
                platform=PLATFORM,
            )

    def _create(self, post: OutgoingPost, at: datetime | None) -> RemotePost:
        self._require_enabled()
        message = compose_message(post)
        self._check_message(message)
        images = post.images
        if len(images) > MAX_PHOTOS:
            raise InvalidRequestError(
                f"Bài có {len(images)} ảnh, Facebook chỉ nhận tối đa {MAX_PHOTOS} ảnh một bài: "
                "bớt ảnh (dòng Ảnh:) trong tệp bài viết",
                platform=PLATFORM,
            )
        if not images:
            return self._post_feed(message, post.link, [], at)
        if len(images) == 1 and at is None:
            return self._post_photo(message, images[0])
        # Several photos, or one photo to schedule: unpublished uploads, then one /feed post.
        # Whether /photos answers post_id for a *scheduled* photo is unconfirmed (and the
        # photo id is no post id), while /feed always answers the post's own id.
        media = self._upload_unpublished(images, temporary=at is not None)
        try:
            return self._post_feed(message, None, media, at)
        except OutcomeUnknownError:
            raise  # the uploads may now belong to a live post: leave them alone
        except ChannelError:
            self._discard(media)
            raise

    def _schedule_fields(self, at: datetime | None) -> dict[str, str]:
        if at is None:
            return {}
        return {"published": "false", "scheduled_publish_time": str(int(at.timestamp()))}

    def _post_feed(
        self, message: str, link: str | None, media: list[str], at: datetime | None
    ) -> RemotePost:
        data: dict[str, str] = {"fields": "id,permalink_url,created_time"}
        if message:
            data["message"] = message
        if link:
            data["link"] = link
        for index, media_id in enumerate(media):
            data[f"attached_media[{index}]"] = json.dumps({"media_fbid": media_id})
        data.update(self._schedule_fields(at))
        if at is not None and media:
            data["unpublished_content_type"] = "SCHEDULED"
        body = self._call("POST", f"{self.page_id}/feed", data=data, creates=True)
        return RemotePost(
            remote_id=str(body["id"]),
            url=body.get("permalink_url"),
            created_time=parse_graph_time(body.get("created_time")),
            scheduled_for=at,
            is_published=at is None,
            extra={"photo_ids": list(media)} if media else {},
        )

    def _image_part(self, image: OutgoingImage) -> dict[str, tuple[str, bytes, str]]:
        data = image.path.read_bytes()
        if len(data) > MAX_PHOTO_BYTES:
            raise InvalidRequestError(
                f"Ảnh {image.path.name} nặng {vn_megabytes(len(data), binary=True)}, Facebook "
                "chỉ nhận ảnh dưới 4 MB: chạy lại bước xử lý ảnh",
                platform=PLATFORM,
            )
        ctype = mimetypes.guess_type(image.path.name)[0] or "image/jpeg"
        return {"source": (image.path.name, data, ctype)}

    def _post_photo(self, message: str, image: OutgoingImage) -> RemotePost:
        """One photo published now through ``/photos`` (answers ``id`` and ``post_id``)."""
        started = self.clock()
        body = self._call(
            "POST",
            f"{self.page_id}/photos",
            data={"caption": message},
            files=self._image_part(image),
            creates=True,
        )
        photo_id = str(body.get("id"))
        post_id = body.get("post_id")
        if not post_id:
            # The photo id is not a post id (post fields on it fail with #100): find the post.
            post_id = self._post_of_photo(photo_id, started)
        remote_id = str(post_id)
        found: RemotePost | None = None
        try:
            found = self.get_post(remote_id)
        except ChannelError as exc:  # the photo is up: never lose that for a read
            log.info("read-back of photo post %s failed: %s", remote_id, exc)
        return RemotePost(
            remote_id=remote_id,
            url=found.url if found else None,
            created_time=found.created_time if found else None,
            scheduled_for=None,
            is_published=True,
            extra={"photo_ids": [photo_id]},
        )

    def _post_of_photo(self, photo_id: str, started: datetime) -> str:
        """The post a just-published photo belongs to, from the Page feed (its attachment's
        target is the photo). Not found: the outcome is unknown and reconciling decides."""
        start = started - FIND_MARGIN
        try:
            feed = self._paged(
                f"{self.page_id}/feed",
                {
                    "fields": PHOTO_POST_FIELDS,
                    "limit": SEARCH_PAGE_LIMIT,
                    "since": int(start.timestamp()),
                },
                stop_before=start,
            )
            for item in feed:
                for attachment in (item.get("attachments") or {}).get("data") or []:
                    if str((attachment.get("target") or {}).get("id")) == photo_id:
                        return str(item["id"])
        except ChannelError as exc:
            log.info("looking up the post of photo %s failed: %s", photo_id, exc)
        raise OutcomeUnknownError(
            f"Ảnh {photo_id} đã lên Trang nhưng Facebook không trả mã bài (post_id) và chưa "
            "tìm thấy bài chứa ảnh: sẽ tìm lại trên Trang trước khi gửi lại",
            platform=PLATFORM,
        )

    def _upload_unpublished(self, images: Iterable[OutgoingImage], *, temporary: bool) -> list[str]:
        """Upload photos for one post without publishing them; all or none.

        Not a create in the exactly-once sense: an unpublished photo is invisible and
        expires by itself, so these uploads may be retried by the transport.
        """
        uploaded: list[str] = []
        try:
            for image in images:
                data = {"published": "false"}
                if temporary:
                    data["temporary"] = "true"
                body = self._call(
                    "POST", f"{self.page_id}/photos", data=data, files=self._image_part(image)
                )
                uploaded.append(str(body["id"]))
        except (ChannelError, OSError):
            self._discard(uploaded)
            raise
        return uploaded

    def _discard(self, photo_ids: Iterable[str]) -> None:
        """Best-effort delete of unused unpublished uploads (Facebook drops them in ~24 h)."""
        for photo_id in photo_ids:
            try:
                self._call("DELETE", photo_id)
            except ChannelError as exc:
                log.info("could not delete unused upload %s: %s", photo_id, exc)

    def reschedule(self, remote_id: str, at: datetime) -> None:
        """Move a post Facebook holds to a new time."""
        self._require_enabled()
        self._check_window(at)
        self._call("POST", remote_id, data={"scheduled_publish_time": str(int(at.timestamp()))})

    def update_message(self, remote_id: str, post: OutgoingPost) -> None:
        """Replace the text of a post (only posts this app made can be edited)."""
        self._require_enabled()
        message = compose_message(post)
        self._check_message(message)
        self._call("POST", remote_id, data={"message": message})

    def cancel(self, remote_id: str) -> None:
        """Delete a post (scheduled or live). A post already gone counts as done."""
        self._require_enabled()
        try:
            self._call("DELETE", remote_id)
        except InvalidRequestError as exc:
            if not is_missing_object(exc):
                raise
            log.info("post %s already deleted on Facebook", remote_id)

    def publish_scheduled_now(self, remote_id: str) -> RemotePost:
        """Publish a scheduled post immediately (staff's "publish now")."""
        self._require_enabled()
        self._call("POST", remote_id, data={"is_published": "true"})
        try:
            found = self.get_post(remote_id)
        except ChannelError as exc:
            log.info("read-back of %s failed: %s", remote_id, exc)
            found = None
        return found or RemotePost(remote_id=remote_id, is_published=True)

    def get_post(self, remote_id: str) -> RemotePost | None:
        """The post as Facebook has it now; None when it was deleted."""
        self._require_enabled()
        try:
            body = self._call("GET", remote_id, params={"fields": POST_FIELDS})
        except InvalidRequestError as exc:
            if is_missing_object(exc):
                return None
            raise
        return self._remote_from_item(body)

    def _remote_from_item(self, item: Mapping[str, Any]) -> RemotePost:
        published = item.get("is_published")
        return RemotePost(
            remote_id=str(item["id"]),
            url=item.get("permalink_url"),
            created_time=parse_graph_time(item.get("created_time")),
            scheduled_for=parse_graph_time(item.get("scheduled_publish_time")),
            is_published=True if published is None else bool(published),
            extra={"message": item.get("message", "")},
        )

    # ------------------------------------------------------------ reconciling

    def find_published(
        self, post: OutgoingPost, since: datetime, *, exclude: frozenset[str] = frozenset()
    ) -> RemotePost | None:
        """Our post on the Page (live or scheduled) created since ``since``, or None.

        Matched by its text (:func:`compose_message`, whitespace-insensitive) and, for
        photo posts, the photo count. Reads ``/feed`` then ``/scheduled_posts``. A post
        whose text matches but whose photos cannot be counted is ours too (it was made
        after the attempt began; sending again would put it on the Page twice): it is
        returned with ``extra["photos_unverified"]``. ``exclude``: ids other
        publications hold, never returned.
        """
        self._require_enabled()
        message = compose_message(post)
        photos = len(post.images)
        start = since - FIND_MARGIN
        feed = self._paged(
            f"{self.page_id}/feed",
            {"fields": FIND_FIELDS, "limit": SEARCH_PAGE_LIMIT, "since": int(start.timestamp())},
            stop_before=start,
        )
        for item in feed:
            if str(item.get("id")) not in exclude and self._matches(item, message, photos):
                return self._found(item, photos)
        return self._find_in_scheduled(message, photos, start, exclude)

    def find_scheduled(
        self, post: OutgoingPost, *, exclude: frozenset[str] = frozenset()
    ) -> RemotePost | None:
        """Our post among those Facebook's scheduler holds, whenever it was handed over.

        Asked before a post is scheduled: a database restored from an older backup does
        not know the posts it handed over since, and scheduling again would publish twice.
        """
        self._require_enabled()
        return self._find_in_scheduled(compose_message(post), len(post.images), None, exclude)

    def _find_in_scheduled(
        self, message: str, photos: int, start: datetime | None, exclude: frozenset[str]
    ) -> RemotePost | None:
        scheduled = self._paged(
            f"{self.page_id}/scheduled_posts",
            {"fields": FIND_FIELDS, "limit": SEARCH_PAGE_LIMIT},
        )
        for item in scheduled:
            created = parse_graph_time(item.get("created_time"))
            if start is not None and created is not None and created < start:
                continue
            if str(item.get("id")) not in exclude and self._matches(item, message, photos):
                return self._found(item, photos)
        return None

    def _found(self, item: Mapping[str, Any], photos: int) -> RemotePost:
        remote = self._remote_from_item(item)
        if photos and _photo_count(item) is None:
            log.warning(
                "post %s matches by text but its photos cannot be counted: adopted",
                remote.remote_id,
            )
            remote.extra["photos_unverified"] = True
        return remote

    @staticmethod
    def _matches(item: Mapping[str, Any], message: str, photos: int) -> bool:
        if not _same_text(str(item.get("message") or ""), message):
            return False
        if photos == 0:
            return True  # a link preview may carry an image: do not count it
        count = _photo_count(item)
        return count is None or count == photos

    # ------------------------------------------------------------ engagement

    def fetch_engagement(
        self,
        remote_ids: Iterable[str],
        *,
        unavailable_metrics: frozenset[str] = frozenset(),
    ) -> EngagementResult:
        """Reactions, comments, shares, views and reach of many posts, 50 per request.

        Two synchronous batch requests per 50 posts: counters, then insights (each entry
        counts as one call against the Page's budget, like the single calls it replaces).
        Entries fail one by one: a deleted post is only itself ``missing``; an entry left
        ``null`` (Graph did not get to it) is sent again. A metric the Page refuses (#100)
        is found by probing it alone once, left out of the retry and returned in
        ``unavailable_metrics`` (the caller stores it and passes it next time); it never
        fails the collection. Rate-limit and auth errors do propagate.
        """
        self._require_enabled()
        ids = list(dict.fromkeys(str(i) for i in remote_ids))
        nodes: dict[str, dict[str, Any]] = {}
        missing: set[str] = set()
        fields = urlencode({"fields": ENGAGEMENT_FIELDS})
        answers = self._batch_get([f"{post_id}?{fields}" for post_id in ids])
        for post_id, answer in zip(ids, answers, strict=True):
            if isinstance(answer, Mapping):
                nodes[post_id] = dict(answer)
            elif isinstance(answer, ChannelError) and is_missing_object(answer):
                missing.add(post_id)
            else:
                log.info("counters of %s not read: %s", post_id, answer or "not processed")
        metrics = [m for m in (METRIC_VIEWS, METRIC_REACH) if m not in unavailable_metrics]
        learnt: set[str] = set()
        insights: dict[str, dict[str, int | None]] = {}
        live = [i for i in ids if i in nodes]
        # The first 50 alone (where a refused metric is learnt for one batch), then the rest
        # in one go, so entries left null anywhere are resent together.
        for part in (live[:BATCH_SIZE], live[BATCH_SIZE:]):
            if part and metrics:
                metrics = self._fetch_insights(part, metrics, insights, learnt)
        results: dict[str, Engagement] = {}
        for post_id in live:
            node = nodes[post_id]
            shares = node.get("shares") or {}
            values = insights.get(post_id, {})
            results[post_id] = Engagement(
                remote_id=post_id,
                reactions=_summary_total(node, "reactions"),
                comments=_summary_total(node, "comments"),
                shares=int(shares.get("count", 0)) if isinstance(shares, Mapping) else 0,
                views=values.get(METRIC_VIEWS),
                reach=values.get(METRIC_REACH),
                raw={"node": node, "insights": values},
            )
        return EngagementResult(results, frozenset(learnt), frozenset(missing))

    def _batch_once(self, relative_urls: list[str]) -> list[Any]:
        """One ``POST /`` with ``batch=[…]`` of GETs (at most 50): Graph's answers in order,
        each ``{code, body: "<json>"}`` or ``null`` (not processed)."""
        batch = [{"method": "GET", "relative_url": url} for url in relative_urls]
        answer = self._call(
            "POST", "", data={"batch": json.dumps(batch), "include_headers": "false"}
        )
        if not isinstance(answer, list) or len(answer) != len(relative_urls):
            raise TransientError(
                "Facebook trả lời lô yêu cầu (batch) không đúng dạng: sẽ thử lại",
                platform=PLATFORM,
            )
        return answer

    def _batch_get(self, relative_urls: list[str]) -> list[Mapping[str, Any] | ChannelError | None]:
        """A batch of GETs, entry by entry: the decoded body, the entry's classified error,
        or None when Graph left it unprocessed even after :data:`BATCH_NULL_RETRIES` resends.

        Entries answered ``null`` or with a transient error are sent again (together, in as
        few requests as they fit); a rate-limit or auth error in any entry stops here, as the
        same answer to a single call would.
        """
        results: list[Mapping[str, Any] | ChannelError | None] = [None] * len(relative_urls)
        pending = list(range(len(relative_urls)))
        for round_ in range(1 + BATCH_NULL_RETRIES):
            retry: list[int] = []
            for chunk in _chunks(pending, BATCH_SIZE):
                answers = self._batch_once([relative_urls[i] for i in chunk])
                for index, entry in zip(chunk, answers, strict=True):
                    outcome = self._batch_entry(entry)
                    if isinstance(outcome, RateLimitError | AuthError):
                        raise outcome
                    results[index] = outcome
                    if outcome is None or isinstance(outcome, TransientError):
                        retry.append(index)
            if not retry:
                break
            if round_ < BATCH_NULL_RETRIES:
                log.info("Graph left %d batch entries unprocessed: sending them again", len(retry))
            pending = retry
        return results

    @staticmethod
    def _batch_entry(entry: Any) -> Mapping[str, Any] | ChannelError | None:
        if not isinstance(entry, Mapping):
            return None
        code = as_int(entry.get("code")) or 0
        try:
            body = json.loads(entry.get("body") or "null")
        except ValueError:
            body = None
        error = graph_error(body)
        if error is None and 200 <= code < 300 and isinstance(body, Mapping):
            return body
        if error is None:
            body = {"error": {"message": f"batch entry answered HTTP {code}"}}
        return classify_error(body, code)

    def _fetch_insights(
        self,
        chunk: list[str],
        metrics: list[str],
        out: dict[str, dict[str, int | None]],
        learnt: set[str],
    ) -> list[str]:
        """Insights of these posts (batches of 50); returns the metrics still worth asking for."""
        query = urlencode({"metric": ",".join(metrics)})
        try:
            answers = self._batch_get([f"{post_id}/insights?{query}" for post_id in chunk])
        except (PermissionDeniedError, TransientError, InvalidRequestError) as exc:
            log.info("insights skipped for %d posts: %s", len(chunk), exc)
            return metrics
        refused_by: list[str] = []
        for post_id, answer in zip(chunk, answers, strict=True):
            if isinstance(answer, Mapping):
                values = out.setdefault(post_id, {})
                for item in answer.get("data") or []:
                    if isinstance(item, Mapping) and item.get("name") in metrics:
                        values[str(item["name"])] = _metric_value(item)
            elif (
                isinstance(answer, InvalidRequestError)
                and answer.code == 100
                and not is_missing_object(answer)
            ):
                refused_by.append(post_id)  # one invalid metric fails the whole entry
            else:
                log.info("insights of %s skipped: %s", post_id, answer or "not processed")
        if not refused_by:
            return metrics
        refused = self._refused_metrics(refused_by[0], metrics)
        if not refused:
            log.info("insights refused for %d posts with no single metric to blame", len(chunk))
            return metrics
        learnt.update(refused)
        log.info("Facebook Page refuses insight metrics %s", ", ".join(sorted(refused)))
        remaining = [m for m in metrics if m not in refused]
        if remaining:
            return self._fetch_insights(refused_by, remaining, out, learnt)
        return remaining

    def _refused_metrics(self, post_id: str, metrics: list[str]) -> set[str]:
        """Ask each metric alone on one post: those answered #100 are refused by the Page."""
        refused: set[str] = set()
        for metric in metrics:
            try:
                self._call("GET", f"{post_id}/insights", params={"metric": metric})
            except InvalidRequestError as exc:
                if exc.code == 100 and not is_missing_object(exc):
                    refused.add(metric)
        return refused

    # ------------------------------------------------------------ agency pages

    def read_page_feed(
        self, page_id: str, *, token: str | None, since: datetime, with_proof: bool = False
    ) -> list[FeedItem]:
        """Posts of an agency Page since ``since`` (its own token when given, else ours).

        An agency's token carries our ``appsecret_proof`` only with ``with_proof`` (its row
        says the token came through our app); Graph refuses our proof with another app's
        token. Our own token always carries it.
        """
        self._require_enabled()
        register_secret(token)
        items = self._paged(
            f"{page_id}/feed",
            {
                "fields": AGENCY_FEED_FIELDS,
                "limit": FEED_PAGE_LIMIT,
                "since": int(since.timestamp()),
            },
            stop_before=since,
            token=token or None,
            with_proof=with_proof or not token,
        )
        return [_feed_item(item) for item in items]

    def token_page(self, token: str, *, with_proof: bool = False) -> tuple[str, str]:
        """(id, name) of the Page an agency's token belongs to (``GET /me``): doctor's check
        that the token works with the ``appsecret_proof`` choice of its row."""
        self._require_enabled()
        register_secret(token)
        me = self._call(
            "GET", "me", params={"fields": "id,name"}, token=token, with_proof=with_proof
        )
        return str(me.get("id", "")), str(me.get("name", ""))

    # ------------------------------------------------------------ doctor

    def diagnose(self) -> list[Diagnosis]:
        """What ``doctor`` prints for Facebook: Page identity, token validity and scopes."""
        missing = self.settings.missing_for("facebook")
        if missing:
            return [
                Diagnosis(
                    "facebook",
                    False,
                    f"Kênh Facebook đang tắt: thiếu {', '.join(missing)} trong .env. Điền mã "
                    "Trang (FB_PAGE_ID) và mã truy cập Trang (FB_PAGE_ACCESS_TOKEN) để bật.",
                    warning=True,
                )
            ]
        page = self._diagnose_page()
        if page.message.startswith(UNREACHABLE):
            return [page]  # the token check would only say the same again
        result = [page, self._diagnose_token()]
        if self.usage_percent >= SLOW_DOWN_PERCENT:
            result.append(
                Diagnosis(
                    "facebook.usage",
                    True,
                    f"Trang đã dùng {self.usage_percent:.0f} % hạn mức gọi API: công cụ đang "
                    "gọi chậm lại; tránh chạy collect nhiều lần liên tiếp.",
                    warning=True,
                )
            )
        return result

    def _diagnose_page(self) -> Diagnosis:
        """``GET /me``: the token's Page, or why Graph could not say."""
        name = "facebook.page"
        try:
            me = self._call("GET", "me", params={"fields": "id,name"})
        except SetupError as exc:
            return Diagnosis(name, False, exc.advice)
        except ConnectError as exc:
            return Diagnosis(name, False, f"{UNREACHABLE}: {exc.platform_message}.")
        except AuthError as exc:
            return Diagnosis(
                name,
                False,
                "Mã truy cập Trang đã hết hạn hoặc bị thu hồi: tạo mã mới (Page access token "
                "lấy từ mã người dùng dài hạn của quản trị viên Trang) và cập nhật "
                f"FB_PAGE_ACCESS_TOKEN trong .env. Facebook trả lời: {exc.platform_message}",
            )
        except (TransientError, OutcomeUnknownError) as exc:
            return Diagnosis(
                name,
                False,
                f"Không gọi được Graph API tại {self.base_url}: kiểm tra mạng và FB_GRAPH_URL, "
                f"FB_GRAPH_VERSION. Chi tiết: {exc.platform_message}",
            )
        except ChannelError as exc:
            return Diagnosis(name, False, f"Graph API từ chối kiểm tra Trang: {exc}")
        page_id, page_name = str(me.get("id", "")), str(me.get("name", ""))
        if page_id != self.page_id:
            return Diagnosis(
                name,
                False,
                f"Mã truy cập trong FB_PAGE_ACCESS_TOKEN thuộc “{page_name}” ({page_id}), không "
                f"phải Trang FB_PAGE_ID={self.page_id}: dùng mã truy cập của đúng Trang, hoặc "
                "sửa FB_PAGE_ID.",
            )
        return Diagnosis(
            name,
            True,
            f"Kết nối Graph API {self.settings.fb_graph_version} tốt: mã truy cập thuộc Trang "
            f"“{page_name}” ({page_id}).",
        )

    def _diagnose_token(self) -> Diagnosis:
        name = "facebook.token"
        app_id, secret = self.settings.fb_app_id, self.settings.fb_app_secret
        if not (app_id and secret):
            return Diagnosis(
                name,
                True,
                "Bỏ qua kiểm tra hạn và quyền của mã truy cập: chưa đặt FB_APP_ID và "
                "FB_APP_SECRET trong .env (cần để gọi debug_token).",
                warning=True,
            )
        app_token = f"{app_id}|{secret}"
        register_secret(app_token)
        # debug_token takes the token to inspect as a parameter; a batch entry carries it in
        # the POST body, so it never appears in a URL.
        batch = [
            {
                "method": "GET",
                "relative_url": "debug_token?" + urlencode({"input_token": self._token}),
            }
        ]
        try:
            answer = self._call(
                "POST",
                "",
                data={"batch": json.dumps(batch), "include_headers": "false"},
                token=app_token,
            )
            entry = answer[0] if isinstance(answer, list) and answer else None
            if not isinstance(entry, Mapping):
                raise TransientError("debug_token không được xử lý", platform=PLATFORM)
            payload = json.loads(entry.get("body") or "{}")
            if int(entry.get("code") or 0) != 200 or graph_error(payload):
                raise classify_error(payload, int(entry.get("code") or 0))
        except AuthError as exc:
            return Diagnosis(
                name,
                False,
                "FB_APP_ID hoặc FB_APP_SECRET không đúng (Facebook không nhận mã ứng dụng): "
                f"sao chép lại từ trang quản lý ứng dụng. Facebook trả lời: {exc.platform_message}",
            )
        except (ChannelError, ValueError) as exc:
            said = exc.platform_message if isinstance(exc, ChannelError) else str(exc)
            return Diagnosis(name, False, f"Không kiểm tra được mã truy cập (debug_token): {said}")
        return self._judge_token(payload.get("data") or {})

    def _judge_token(self, data: Mapping[str, Any]) -> Diagnosis:
        name = "facebook.token"
        if not data.get("is_valid"):
            reason = (data.get("error") or {}).get("message", "")
            return Diagnosis(
                name,
                False,
                "Mã truy cập Trang đã hết hạn hoặc bị thu hồi: tạo mã mới (Page access token) "
                f"và cập nhật FB_PAGE_ACCESS_TOKEN trong .env. Facebook: {reason}",
            )
        if data.get("type") != "PAGE":
            return Diagnosis(
                name,
                False,
                f"FB_PAGE_ACCESS_TOKEN là mã loại {data.get('type')}, không phải mã Trang: lấy "
                "Page access token (GET /me/accounts bằng mã người dùng của quản trị viên) rồi "
                "cập nhật .env.",
            )
        profile = str(data.get("profile_id") or "")
        if profile and profile != self.page_id:
            return Diagnosis(
                name,
                False,
                f"Mã truy cập thuộc Trang {profile}, không phải FB_PAGE_ID={self.page_id}.",
            )
        app = str(data.get("app_id") or "")
        if app and self.settings.fb_app_id and app != self.settings.fb_app_id:
            return Diagnosis(
                name,
                False,
                f"FB_PAGE_ACCESS_TOKEN do ứng dụng Facebook {app} cấp, không phải ứng dụng "
                f"FB_APP_ID={self.settings.fb_app_id}: đặt FB_APP_ID và FB_APP_SECRET của đúng "
                "ứng dụng đã tạo mã Trang (developers.facebook.com → Cài đặt → Thông tin cơ "
                "bản), hoặc tạo lại mã Trang bằng ứng dụng FB_APP_ID.",
            )
        scopes = {str(s) for s in data.get("scopes") or []}
        lacking = [s for s in REQUIRED_SCOPES if s not in scopes]
        if lacking:
            return Diagnosis(
                name,
                False,
                f"Mã truy cập thiếu quyền: {', '.join(lacking)}. Tạo lại mã và chọn đủ các quyền "
                f"{', '.join(REQUIRED_SCOPES)}, rồi cập nhật FB_PAGE_ACCESS_TOKEN trong .env.",
            )
        expires = data.get("expires_at")
        if isinstance(expires, int | float) and expires > 0:
            when = datetime.fromtimestamp(expires, UTC)
            shown = when.astimezone(self.settings.tz).strftime("%d/%m/%Y %H:%M")
            if when <= self.clock():
                return Diagnosis(
                    name, False, f"Mã truy cập Trang đã hết hạn lúc {shown}: tạo mã mới."
                )
            return Diagnosis(
                name,
                True,
                f"Mã truy cập hợp lệ nhưng sẽ hết hạn lúc {shown}: đổi sang mã Trang không hết "
                "hạn (lấy từ mã người dùng dài hạn) để bài hẹn giờ không bị dừng.",
                warning=True,
            )
        optional = [s for s in OPTIONAL_SCOPES if s not in scopes]
        if optional:
            return Diagnosis(
                name,
                True,
                "Mã truy cập hợp lệ, đủ quyền đăng bài; thiếu "
                f"{', '.join(optional)} nên không đọc được bài chia sẻ trên Trang của đơn vị "
                "bằng mã này.",
                warning=True,
            )
        return Diagnosis(
            name, True, "Mã truy cập Trang hợp lệ, không hết hạn, đủ quyền đăng và đọc số liệu."
        )
