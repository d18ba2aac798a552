"""Zalo OA video articles, resumable from any committed step (``docs/api/video.md``).

Steps, each committed by the caller (``on_step(state)``) before the next starts:
``new`` → ``preparevideo`` upload → ``uploaded`` (upload token) → ``upload_video/verify``
polled until usable → ``video_ready`` (``video_id``) → ``creating`` (committed before the
create call) → ``article/create`` → ``created`` (processing token) → ``article/verify``
→ ``published`` (article id).

Resuming: ``uploaded`` polls again with the token; ``video_ready`` creates; ``creating``
(the create may or may not have reached Zalo) first looks for the article by title in
``getslice?type=video`` (honouring the settle window: Zalo lists an article only once it
is processed) and creates only when it is certainly not there; ``created`` verifies with
the token. An unanswered upload is simply sent again: an upload alone publishes nothing.

Zalo's video endpoints are unconfirmed beyond the official sample's paths and field
names, so answers are read tolerantly: the upload token as ``data.token`` (or
``upload_token``), the verify token sent both as the ``token`` header (the sample) and
``?token=`` (other clients), ``status`` as a number or a string, ``video_id`` under
``video_id`` or ``id``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import (
    ChannelError,
    InvalidRequestError,
    OutcomeUnknownError,
    ProcessingError,
    TransientError,
    UnverifiedMatchError,
)
from .base import Engagement, RemotePost
from .zalo import MAX_DESCRIPTION, MAX_TITLE, PAGE_SIZE, ZaloChannel, _int_or_none, nfc, shorten
from .zalo_errors import PLATFORM

log = logging.getLogger("social_publisher.zalo.video")

STEPS = ("new", "uploaded", "video_ready", "creating", "created", "published")
#: upload_video/verify statuses (unconfirmed): 1 usable, 3 processing, 2 locked,
#: 4 failed, 5 deleted
READY, PROCESSING, LOCKED, FAILED, DELETED = 1, 3, 2, 4, 5

StepCallback = Callable[["ZaloVideoState"], None]


@dataclass(frozen=True)
class ZaloVideoState:
    step: str = "new"
    upload_token: str | None = None
    video_id: str | None = None
    create_started: str | None = None  # ISO time the create was attempted
    article_token: str | None = None
    article_id: str | None = None
    url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ZaloVideoState:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class ZaloVideoPost:
    """The article: ``cover_url`` is a public image URL Zalo fetches itself."""

    title: str
    description: str
    cover_url: str
    status: str = "show"
    comment: str = "show"


def _status_code(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


class ZaloVideoClient:
    """Video articles on the OA, through a :class:`ZaloChannel` (its tokens and transport)."""

    def __init__(
        self,
        channel: ZaloChannel,
        *,
        poll_interval: float = 5.0,
        poll_timeout: float = 600.0,
        upload_timeout: float = 600.0,
    ) -> None:
        self.channel = channel
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        self.upload_timeout = upload_timeout

    # ------------------------------------------------------------ entry points

    def publish(self, path: Path, post: ZaloVideoPost, on_step: StepCallback) -> ZaloVideoState:
        return self.resume(path, post, ZaloVideoState(), on_step)

    def resume(
        self, path: Path, post: ZaloVideoPost, state: ZaloVideoState, on_step: StepCallback
    ) -> ZaloVideoState:
        """Continue from a committed ``state`` to ``published``."""
        if state.step == "new":
            state = replace(state, step="uploaded", upload_token=self.upload(path))
            on_step(state)
        if state.step == "uploaded":
            assert state.upload_token
            state = replace(state, step="video_ready", video_id=self.wait_video(state.upload_token))
            on_step(state)
        if state.step == "creating":
            found = self.find_article(post, datetime.fromisoformat(str(state.create_started)))
            if found is not None:
                state = replace(state, step="published", article_id=found.remote_id, url=found.url)
                on_step(state)
                return state
            state = replace(state, step="video_ready")
        if state.step == "video_ready":
            state = replace(state, step="creating", create_started=self.channel.clock().isoformat())
            on_step(state)
            state = replace(state, step="created", article_token=self.create_article(state, post))
            on_step(state)
        if state.step == "created":
            assert state.article_token
            try:
                remote = self.channel.verify_article(state.article_token)
            except TransientError as exc:
                if exc.code == -200:  # Zalo could not build it (the cover): nothing published
                    on_step(replace(state, step="video_ready", article_token=None))
                raise
            state = replace(state, step="published", article_id=remote.remote_id, url=remote.url)
            on_step(state)
        return state

    # ------------------------------------------------------------ steps

    def upload(self, path: Path) -> str:
        """``preparevideo``: the upload token. A lost answer is retried by the caller
        (an upload alone creates nothing anyone sees)."""
        ch = self.channel
        url = f"{ch.settings.zalo_openapi_url}/v2.0/article/upload_video/preparevideo"
        token = ch.tokens.current()
        for attempt in (1, 2):
            try:
                with Path(path).open("rb") as fh:
                    response = ch.http.request(
                        "POST",
                        url,
                        files={"file": (Path(path).name, fh, "video/mp4")},
                        headers=ch._headers(token),
                        creates=True,
                        timeout=(5.0, self.upload_timeout),
                    )
            except OutcomeUnknownError as exc:
                raise TransientError(
                    f"Không rõ kết quả tải video lên Zalo (sẽ tải lại): {exc.platform_message}",
                    platform=PLATFORM,
                ) from None
            payload = ch._decode(response, creates=False, action="tải video lên")
            code = _status_code(payload.get("error")) or 0
            if code in (-216, -220) and attempt == 1:
                token = ch.tokens.refresh(token)
                continue
            if code != 0:
                from .zalo_errors import classify

                raise classify(
                    code,
                    str(payload.get("message") or ""),
                    now=ch.clock(),
                    tz=ch.tz,
                    http_status=response.status_code,
                    body=response.text[:500],
                    action="tải video lên",
                )
            data = payload.get("data") or {}
            found = data.get("token") or data.get("upload_token")
            if not found:
                raise TransientError(
                    "Zalo nhận video nhưng không trả mã (token)", platform=PLATFORM
                )
            log.info("Zalo video %s uploaded", Path(path).name)
            return str(found)
        raise AssertionError("unreachable")

    def check_video(self, upload_token: str) -> tuple[int | None, str | None, dict[str, Any]]:
        """One ``upload_video/verify``: (status, video_id, data)."""
        ch = self.channel
        headers_token = {"token": upload_token}
        # ZaloChannel._call sends the access token header; the upload token rides beside it
        url = f"{ch.settings.zalo_openapi_url}/v2.0/article/upload_video/verify"
        token = ch.tokens.current()
        response = ch.http.request(
            "GET",
            url,
            params={"token": upload_token},
            headers={**ch._headers(token), **headers_token},
        )
        payload = ch._decode(response, creates=False, action="kiểm tra video")
        code = _status_code(payload.get("error")) or 0
        if code in (-216, -220):
            token = ch.tokens.refresh(token)
            response = ch.http.request(
                "GET",
                url,
                params={"token": upload_token},
                headers={**ch._headers(token), **headers_token},
            )
            payload = ch._decode(response, creates=False, action="kiểm tra video")
            code = _status_code(payload.get("error")) or 0
        if code != 0:
            raise TransientError(
                f"Zalo không kiểm tra được video (mã {code}): {payload.get('message', '')}",
                platform=PLATFORM,
                code=code,
            )
        data = payload.get("data") or {}
        video_id = data.get("video_id") or data.get("id") or None
        status = _status_code(data.get("status"))
        if status is None and video_id and (_int_or_none(data.get("convert_percent")) or 0) >= 100:
            status = READY
        return status, (str(video_id) if video_id else None), data

    def wait_video(self, upload_token: str) -> str:
        """Poll until the video is usable; its ``video_id``."""
        waited = 0.0
        while True:
            status, video_id, data = self.check_video(upload_token)
            if status == READY and video_id:
                return video_id
            if status in (FAILED, LOCKED, DELETED):
                raise InvalidRequestError(
                    f"Zalo không nhận video (trạng thái {status}: "
                    f"{data.get('status_message', '')}). Hãy xuất lại video thành MP4 (H.264) "
                    "dưới 50 MB rồi đăng lại.",
                    platform=PLATFORM,
                )
            if waited >= self.poll_timeout:
                raise ProcessingError(
                    f"Zalo vẫn đang xử lý video sau {waited:.0f} giây "
                    f"({data.get('convert_percent', '?')} %); sẽ kiểm tra lại sau",
                    platform=PLATFORM,
                    retry_after=60.0,
                )
            self.channel.sleep(self.poll_interval)
            waited += self.poll_interval

    def article_body(self, state: ZaloVideoState, post: ZaloVideoPost) -> dict[str, Any]:
        return {
            "type": "video",
            "title": shorten(nfc(post.title), MAX_TITLE),
            "description": shorten(nfc(post.description or post.title), MAX_DESCRIPTION),
            "video_id": state.video_id,
            "avatar": post.cover_url,
            "status": post.status,
            "comment": post.comment,
        }

    def create_article(self, state: ZaloVideoState, post: ZaloVideoPost) -> str:
        """``article/create`` with the video: the processing token. A lost answer raises
        OutcomeUnknownError: resume from ``creating`` (it reconciles)."""
        data = self.channel._call(
            "POST",
            "/v2.0/article/create",
            json_body=self.article_body(state, post),
            creates=True,
            action="tạo bài video",
        )
        token = data.get("token")
        if not token:
            raise OutcomeUnknownError(
                "Không rõ kết quả: Zalo báo tạo bài video thành công nhưng không trả mã xử lý",
                platform=PLATFORM,
            )
        return str(token)

    def list_video_articles(self, offset: int = 0) -> tuple[list[dict[str, Any]], int | None]:
        data = self.channel._call(
            "GET",
            "/v2.0/article/getslice",
            params={"offset": offset, "limit": PAGE_SIZE, "type": "video"},
            action="đọc danh sách bài video",
        )
        medias = [m for m in data.get("medias") or [] if isinstance(m, dict)]
        return medias, _int_or_none(data.get("total"))

    def _titled_since(
        self, post: ZaloVideoPost, since: datetime
    ) -> Iterator[tuple[Mapping[str, Any], datetime | None]]:
        """The OA's video articles titled like ``post`` and not older than ``since``, page by
        page (stops at the last page), with their creation time."""
        from .zalo import CLOCK_SLACK, parse_zalo_time

        ch = self.channel
        title = " ".join(shorten(nfc(post.title), MAX_TITLE).split())
        for page in range(ch.max_pages):
            medias, total = self.list_video_articles(page * PAGE_SIZE)
            for media in medias:
                if " ".join(nfc(str(media.get("title") or "")).split()) != title:
                    continue
                created = parse_zalo_time(media.get("create_date"), ch.tz)
                if created is not None and created < since - CLOCK_SLACK:
                    continue
                yield media, created
            if len(medias) < PAGE_SIZE or (total is not None and (page + 1) * PAGE_SIZE >= total):
                break

    def find_article(self, post: ZaloVideoPost, since: datetime) -> RemotePost | None:
        """The video article titled like ``post`` created since ``since``, or None once
        Zalo's settle window has passed (ProcessingError before that: ask again)."""

        ch = self.channel
        for media, _created in self._titled_since(post, since):
            link = media.get("link_view")
            return RemotePost(str(media.get("id")), url=str(link) if link else None)
        elapsed = (ch.clock() - since).total_seconds()
        if elapsed < ch.settle_window:
            raise ProcessingError(
                "Chưa thấy bài video trên Zalo, nhưng Zalo có thể vẫn đang xử lý: "
                f"xem lại sau {ch.settle_window - elapsed:.0f} giây",
                platform=PLATFORM,
                retry_after=ch.settle_window - elapsed,
            )
        return None

    def find_existing(
        self, post: ZaloVideoPost, since: datetime, *, exclude: frozenset[str] = frozenset()
    ) -> RemotePost | None:
        """Our video article already on the OA (looked for before the first upload: a
        database that lost its history must not post it twice), or None.

        As for photo articles, the title alone is not enough (offices reuse titles):
        an article titled like ``post``, created since ``since``, not held by another
        publication (``exclude``), is ours when its description (``getdetail``) is the
        one sent; UnverifiedMatchError when its content cannot be read to compare."""
        from .zalo import _flat

        ch = self.channel
        title = " ".join(shorten(nfc(post.title), MAX_TITLE).split())
        expected = _flat(shorten(nfc(post.description or post.title), MAX_DESCRIPTION))
        unverified: list[str] = []
        for media, created in self._titled_since(post, since):
            article_id = str(media.get("id"))
            if article_id in exclude:
                continue
            link = media.get("link_view")
            try:
                detail = ch.article_detail(article_id)
            except InvalidRequestError:
                continue  # gone: not live, not adoptable
            text = detail.get("description")
            if not isinstance(text, str):
                unverified.append(str(link or article_id))
                continue
            if _flat(text) != expected:
                continue
            log.info("found Zalo video article %s before uploading again", article_id)
            return RemotePost(article_id, url=str(link) if link else None, created_time=created)
        if unverified:
            raise UnverifiedMatchError(
                f"Có bài video Zalo cùng tiêu đề “{title}” nhưng không đọc được nội dung "
                "để so sánh",
                platform=PLATFORM,
                candidate=unverified[0],
            )
        return None

    def fetch_engagement(self, article_ids: list[str]) -> dict[str, Engagement]:
        """Views and shares of video articles, from ``getslice?type=video``."""
        wanted = set(article_ids)
        found: dict[str, Engagement] = {}
        try:
            for page in range(self.channel.max_pages):
                medias, total = self.list_video_articles(page * PAGE_SIZE)
                for media in medias:
                    article_id = str(media.get("id"))
                    if article_id in wanted:
                        found[article_id] = Engagement(
                            remote_id=article_id,
                            views=_int_or_none(media.get("total_view")),
                            shares=_int_or_none(media.get("total_share")),
                        )
                if wanted <= found.keys() or len(medias) < PAGE_SIZE:
                    break
                if total is not None and (page + 1) * PAGE_SIZE >= total:
                    break
        except ChannelError:
            if not found:
                raise
        return found
