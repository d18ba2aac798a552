"""Facebook feed videos and Reels, resumable from any committed step (``docs/api/video.md``).

An upload takes minutes, so it is a sequence of steps, each ending in a state the
caller commits (``on_step(state)``) BEFORE the next step starts:

feed:  ``new`` → start (``video_id`` known here, before any byte) → ``started`` →
       transfer chunks at the offsets Graph returns (``transferring`` after each) →
       ``uploaded`` → ``finishing`` (committed before the create call) → finish →
       ``finished`` → processing polled → ``ready`` (post id, permalink)
reel:  ``new`` → start → ``started`` (``video_id``, ``upload_url``) → upload →
       ``uploaded`` → ``finishing`` → finish → ``finished`` → ``ready``

:meth:`FacebookVideoClient.resume` continues from any of these states, in a new process
after a crash: transfers restart at the committed offset (Graph corrects a wrong one
with subcode 1363037 and the right offsets), a reel's upload restarts at
``bytes_transfered``, and a state left at ``finishing`` (the finish may or may not have
reached Graph) is reconciled by reading the video's status before finishing again, so a
video is never finished twice nor left as a second draft. A dropped connection during a
transfer or upload is retried here from the offsets Graph gives.

Feed video uploads go to ``FB_GRAPH_VIDEO_URL`` (``graph-video.facebook.com``); a reel's
bytes go to the ``upload_url`` Graph returned, and only when its host is Facebook's (or
the configured Graph hosts): the Page token travels in its ``Authorization`` header.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..config import Settings
from ..errors import (
    ChannelError,
    ConfigError,
    InvalidRequestError,
    OutcomeUnknownError,
    ProcessingError,
    QuotaError,
    TransientError,
    register_secret,
)
from .base import RemotePost
from .graph_errors import PLATFORM, as_int, classify_error, graph_error
from .http import HttpClient

log = logging.getLogger("social_publisher.facebook.video")

FEED = "feed"
REEL = "reel"
STEPS = ("new", "started", "transferring", "uploaded", "finishing", "finished", "ready")
BAD_OFFSET_SUBCODE = 1363037
#: Reels: at most 30 API-published reels per Page in a rolling 24 h
REELS_PER_DAY = 30
REELS_WINDOW = timedelta(hours=24)
#: native scheduling, with the same 5-minute margin as photo posts at the near end
FEED_SCHEDULE = (timedelta(minutes=15), timedelta(days=180) - timedelta(days=1))
REEL_SCHEDULE = (timedelta(minutes=15), timedelta(days=29) - timedelta(hours=1))

StepCallback = Callable[["VideoUploadState"], None]
#: the insights metric(s) giving a video's plays, asked in this order (docs/api/video.md)
VIDEO_VIEW_METRICS = {
    "feed": ("total_video_views",),
    "reel": ("blue_reels_play_count", "fb_reels_total_plays"),
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class VideoUploadState:
    """Everything needed to resume an upload; JSON-friendly (``as_dict``/``from_dict``)."""

    kind: str
    step: str = "new"
    file_size: int = 0
    file_sha256: str = ""
    video_id: str | None = None
    upload_session_id: str | None = None
    start_offset: int = 0
    end_offset: int = 0
    upload_url: str | None = None
    post_id: str | None = None
    permalink: str | None = None
    scheduled_for: int | None = None  # unix seconds

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VideoUploadState:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class VideoPost:
    """What the video says on the Page; ``publish_at`` set: Facebook's scheduler."""

    title: str
    description: str
    publish_at: datetime | None = None
    thumbnail: Path | None = None


@dataclass(frozen=True)
class ReelsQuota:
    used: int
    limit: int
    #: when the oldest reel of the window leaves it (None: a slot is free now)
    next_free: datetime | None

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


class _BadOffset(Exception):
    def __init__(self, start: int, end: int) -> None:
        super().__init__(f"resume at {start}")
        self.start, self.end = start, end


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class FacebookVideoClient:
    """Feed videos and Reels for the town's Page; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        http: HttpClient | None = None,
        clock: Callable[[], datetime] = _utcnow,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval: float = 5.0,
        poll_timeout: float = 900.0,
        transfer_retries: int = 3,
    ) -> None:
        self.settings = settings
        self.page_id = settings.fb_page_id
        self._token = settings.fb_page_access_token
        self._secret = settings.fb_app_secret
        register_secret(self._token)
        register_secret(self._secret)
        version = settings.fb_graph_version.strip("/")
        self.graph_url = f"{settings.fb_graph_url.rstrip('/')}/{version}"
        self.video_url = f"{settings.fb_graph_video_url.rstrip('/')}/{version}"
        self.http = http or HttpClient(
            PLATFORM, read_timeout=300.0, sleep=sleep, setting="FB_GRAPH_VIDEO_URL"
        )
        self.clock = clock
        self.sleep = sleep
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        self.transfer_retries = transfer_retries

    # ------------------------------------------------------------ transport

    def _require_enabled(self) -> None:
        missing = self.settings.missing_for("facebook")
        if missing:
            raise ConfigError(
                f"Kênh Facebook đang tắt: thiếu {', '.join(missing)} trong .env "
                "(xem config.example.env)."
            )

    def _proof(self) -> str | None:
        if not self._secret:
            return None
        return hmac.new(self._secret.encode(), self._token.encode(), hashlib.sha256).hexdigest()

    def _call(
        self,
        method: str,
        url: str,
        *,
        data: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        creates: bool = False,
        oauth: bool = False,
    ) -> Any:
        fields = dict(data or {})
        query = dict(params or {})
        proof = self._proof()
        if proof and not oauth:
            (fields if method == "POST" else query)["appsecret_proof"] = proof
        scheme = "OAuth" if oauth else "Bearer"
        try:
            response = self.http.request(
                method,
                url,
                params=query or None,
                data=body if body is not None else (fields or None),
                files=dict(files) if files else None,
                headers={"Authorization": f"{scheme} {self._token}", **(headers or {})},
                creates=creates,
            )
        except ChannelError as exc:
            raise self._reread(exc) from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        error = graph_error(payload)
        if error is not None or response.status_code >= 400:
            if error is not None and as_int(error.get("error_subcode")) == BAD_OFFSET_SUBCODE:
                extra = error.get("error_data") or {}
                start, end = as_int(extra.get("start_offset")), as_int(extra.get("end_offset"))
                if start is not None and end is not None:
                    raise _BadOffset(start, end)
            if error is None:
                payload = {"error": {"message": response.text[:300] or "no body"}}
            raise classify_error(payload, response.status_code)
        return payload

    @staticmethod
    def _reread(exc: ChannelError) -> ChannelError:
        """A 5xx body may carry Graph's 1363037 too; else keep the transport's verdict."""
        import json

        try:
            error = graph_error(json.loads(exc.body or ""))
        except ValueError:
            return exc
        if error and as_int(error.get("error_subcode")) == BAD_OFFSET_SUBCODE:
            extra = error.get("error_data") or {}
            start, end = as_int(extra.get("start_offset")), as_int(extra.get("end_offset"))
            if start is not None and end is not None:
                return _BadOffsetError(start, end)
        return exc

    # ------------------------------------------------------------ public entry points

    def upload_feed_video(
        self, path: Path, post: VideoPost, on_step: StepCallback
    ) -> VideoUploadState:
        """Publish (or schedule) ``path`` as a feed video; the final ``ready`` state."""
        return self.resume(path, post, VideoUploadState(kind=FEED), on_step)

    def upload_reel(
        self, path: Path, post: VideoPost, on_step: StepCallback, *, check_quota: bool = True
    ) -> VideoUploadState:
        """Publish (or schedule) ``path`` as a Reel; QuotaError at 30 reels in 24 h."""
        if check_quota:
            quota = self.reels_quota()
            if quota.remaining <= 0:
                wait = (quota.next_free - self.clock()).total_seconds() if quota.next_free else 3600
                raise QuotaError(
                    f"Trang đã đăng {quota.used}/{quota.limit} Reels trong 24 giờ qua (giới hạn "
                    "của Facebook): video được giữ lại và tự đăng khi có chỗ.",
                    platform=PLATFORM,
                    retry_after=max(wait, 60.0),
                )
        return self.resume(path, post, VideoUploadState(kind=REEL), on_step)

    def resume(
        self, path: Path, post: VideoPost, state: VideoUploadState, on_step: StepCallback
    ) -> VideoUploadState:
        """Continue an upload from a committed ``state`` to ``ready``."""
        self._require_enabled()
        path = Path(path)
        if state.step == "ready":
            return state
        if state.step == "new":
            state = self._start(path, post, state)
            on_step(state)
        elif state.file_sha256 and state.file_sha256 != _sha256(path):
            raise InvalidRequestError(
                f"Tệp video {path.name} đã thay đổi từ khi bắt đầu tải lên Facebook: "
                "không thể tải tiếp; hãy hủy lượt tải cũ.",
                platform=PLATFORM,
            )
        if state.step in ("started", "transferring"):
            state = (
                self._transfer(path, state, on_step)
                if state.kind == FEED
                else self._rupload(path, state)
            )
            on_step(state)
        if state.step == "finishing":
            state = self._reconcile_finish(state)
            if state.step == "finished":
                on_step(state)
        if state.step == "uploaded":
            state = replace(state, step="finishing")
            on_step(state)
            state = self._finish(path, post, state)
            on_step(state)
        if state.step == "finished":
            state = self._wait_ready(state)
            on_step(state)
        return state

    def cancel(self, state: VideoUploadState) -> None:
        """Abandon an unfinished upload so no draft stays behind (feed: ``cancel``;
        reel: the unfinished video is deleted)."""
        if state.video_id is None or state.step in ("finished", "ready"):
            return
        if state.kind == FEED and state.upload_session_id:
            self._call(
                "POST",
                f"{self.video_url}/{self.page_id}/videos",
                data={"upload_phase": "cancel", "upload_session_id": state.upload_session_id},
            )
        else:
            self._call("DELETE", f"{self.graph_url}/{state.video_id}")

    def find_video(
        self,
        kind: str,
        title: str,
        description: str,
        since: datetime,
        *,
        exclude: frozenset[str] = frozenset(),
    ) -> RemotePost | None:
        """Our video already on the Page (live or scheduled) since ``since``, or None.

        Looked for before the first upload: a database that lost its history must not
        post the clip twice. Feed videos from ``/{page}/videos``, Reels from
        ``/{page}/video_reels``; matched by the description (whitespace-insensitive) and,
        where the list gives one, the title. A match is read back (``status``) for its
        post id, link and schedule; one another publication holds (``exclude``) is never
        answered; one still processing raises ProcessingError (ask again later)."""
        from .facebook import _same_text

        self._require_enabled()
        edge = "videos" if kind == FEED else "video_reels"
        body = self._call(
            "GET",
            f"{self.graph_url}/{self.page_id}/{edge}",
            params={
                "since": int(since.timestamp()),
                "fields": "id,title,description,created_time,updated_time",
                "limit": 100,
            },
        )
        for item in (body or {}).get("data") or []:
            if not _same_text(str(item.get("description") or ""), description):
                continue
            if item.get("title") and not _same_text(str(item["title"]), title):
                continue
            video_id = str(item.get("id"))
            try:
                status = self.status(video_id)
            except InvalidRequestError as exc:
                from .graph_errors import is_missing_object

                if is_missing_object(exc):
                    continue  # deleted (or an abandoned upload): not on the Page
                raise
            post_id = self._post_id(status.get("post_id"))
            if video_id in exclude or (post_id is not None and post_id in exclude):
                continue
            phase = (status.get("status") or {}).get("publishing_phase") or {}
            publish_time = as_int(phase.get("publish_time"))
            live = bool(status.get("published"))
            if post_id is None and publish_time is None:
                raise ProcessingError(
                    f"Video {video_id} trên Trang trùng nội dung nhưng Facebook vẫn đang xử lý: "
                    "xem lại sau, chưa tải lên lần nữa",
                    platform=PLATFORM,
                    retry_after=max(self.poll_interval, 60.0),
                )
            scheduled = datetime.fromtimestamp(publish_time, UTC) if publish_time else None
            log.info("found video %s on the Page before uploading it again", video_id)
            return RemotePost(
                remote_id=post_id or video_id,
                url=self._permalink(status.get("permalink_url")),
                scheduled_for=None if live else scheduled,
                is_published=live or scheduled is None,
                extra={"video_id": video_id, "video_kind": kind},
            )
        return None

    def read(self, video_id: str) -> RemotePost | None:
        """A video as Facebook has it now (live or not, its post id once it has one);
        None when it was deleted. Confirms a scheduled video known by its video id."""
        from .graph_errors import is_missing_object

        self._require_enabled()
        try:
            body = self.status(video_id)
        except InvalidRequestError as exc:
            if is_missing_object(exc):
                return None
            raise
        return RemotePost(
            remote_id=self._post_id(body.get("post_id")) or video_id,
            url=self._permalink(body.get("permalink_url")),
            is_published=bool(body.get("published")),
            extra={"video_id": video_id},
        )

    def delete(self, video_id: str) -> None:
        """Delete a finished video (a scheduled one too: its post goes with it); a video
        already gone counts as deleted."""
        from .graph_errors import is_missing_object

        self._require_enabled()
        try:
            self._call("DELETE", f"{self.graph_url}/{video_id}")
        except InvalidRequestError as exc:
            if not is_missing_object(exc):
                raise
            log.info("video %s already deleted on Facebook", video_id)

    def status(self, video_id: str) -> dict[str, Any]:
        body = self._call(
            "GET",
            f"{self.graph_url}/{video_id}",
            params={"fields": "status,post_id,permalink_url,created_time,published"},
        )
        return body if isinstance(body, dict) else {}

    def video_views(self, video_id: str, kind: str) -> int | None:
        """Plays of one video from its ``video_insights`` (feed: ``total_video_views``;
        Reels: ``blue_reels_play_count``, then ``fb_reels_total_plays``: unconfirmed names,
        asked in turn); None when the Page answers none of them."""
        metrics = VIDEO_VIEW_METRICS.get(kind, VIDEO_VIEW_METRICS[FEED])
        for metric in metrics:
            try:
                body = self._call(
                    "GET", f"{self.graph_url}/{video_id}/video_insights", params={"metric": metric}
                )
            except InvalidRequestError:
                continue  # #100: this Page (or this kind of video) has no such metric
            for item in (body or {}).get("data") or []:
                values = item.get("values") or []
                if item.get("name") == metric and values:
                    return as_int(values[-1].get("value"))
        return None

    def reels_quota(self) -> ReelsQuota:
        """Reels published through the API in the last 24 h, from Graph's own list."""
        now = self.clock()
        since = now - REELS_WINDOW
        body = self._call(
            "GET",
            f"{self.graph_url}/{self.page_id}/video_reels",
            params={
                "since": int(since.timestamp()),
                "until": int(now.timestamp()) + 1,  # whole seconds: include this one
                "fields": "id,description,updated_time",
            },
        )
        times = []
        for item in (body or {}).get("data") or []:
            raw = item.get("updated_time")
            try:
                times.append(datetime.fromisoformat(str(raw).replace("+0000", "+00:00")))
            except ValueError:
                continue
        times = [t for t in times if t >= since]
        next_free = min(times) + REELS_WINDOW if len(times) >= REELS_PER_DAY else None
        return ReelsQuota(len(times), REELS_PER_DAY, next_free)

    # ------------------------------------------------------------ steps

    def _start(self, path: Path, post: VideoPost, state: VideoUploadState) -> VideoUploadState:
        size = path.stat().st_size
        sha = _sha256(path)
        if post.publish_at is not None:
            self._check_window(
                post.publish_at, FEED_SCHEDULE if state.kind == FEED else REEL_SCHEDULE
            )
        try:
            if state.kind == FEED:
                body = self._call(
                    "POST",
                    f"{self.video_url}/{self.page_id}/videos",
                    data={"upload_phase": "start", "file_size": str(size)},
                    creates=True,
                )
                return replace(
                    state,
                    step="started",
                    file_size=size,
                    file_sha256=sha,
                    video_id=str(body["video_id"]),
                    upload_session_id=str(body["upload_session_id"]),
                    start_offset=int(body["start_offset"]),
                    end_offset=int(body["end_offset"]),
                )
            body = self._call(
                "POST",
                f"{self.graph_url}/{self.page_id}/video_reels",
                data={"upload_phase": "start"},
                creates=True,
            )
        except OutcomeUnknownError as exc:
            # an unanswered start created at most an empty, unfinished upload that never
            # shows on the Page: starting again is safe. It cannot be found to cancel it:
            # its video_id was in the lost answer, and Graph lists finished videos only
            # (/{page}/videos; the video_reels edge's reference says it cannot be read)
            raise TransientError(
                f"Không rõ kết quả bước bắt đầu tải video lên Facebook: {exc.platform_message}",
                platform=PLATFORM,
            ) from None
        upload_url = str(body["upload_url"])
        self._check_upload_url(upload_url)
        return replace(
            state,
            step="started",
            file_size=size,
            file_sha256=sha,
            video_id=str(body["video_id"]),
            upload_url=upload_url,
        )

    def _check_window(self, at: datetime, window: tuple[timedelta, timedelta]) -> None:
        ahead = at - self.clock()
        if not window[0] <= ahead <= window[1]:
            raise InvalidRequestError(
                "Facebook chỉ hẹn giờ đăng video từ 15 phút tới "
                f"{window[1].days} ngày tới; thời điểm {at.isoformat()} nằm ngoài khoảng đó",
                platform=PLATFORM,
            )

    def _check_upload_url(self, url: str) -> None:
        host = (urlsplit(url).hostname or "").lower()
        allowed = {
            (urlsplit(u).hostname or "").lower()
            for u in (self.settings.fb_graph_url, self.settings.fb_graph_video_url)
        }
        if not (host == "facebook.com" or host.endswith(".facebook.com") or host in allowed):
            raise InvalidRequestError(
                f"Facebook trả địa chỉ tải Reels lạ ({host}): không gửi mã truy cập tới đó",
                platform=PLATFORM,
            )

    def _transfer(
        self, path: Path, state: VideoUploadState, on_step: StepCallback
    ) -> VideoUploadState:
        start, end = state.start_offset, state.end_offset
        failures = 0
        with path.open("rb") as fh:
            while start < end:
                fh.seek(start)
                chunk = fh.read(end - start)
                try:
                    body = self._call(
                        "POST",
                        f"{self.video_url}/{self.page_id}/videos",
                        data={
                            "upload_phase": "transfer",
                            "upload_session_id": state.upload_session_id,
                            "start_offset": str(start),
                        },
                        files={"video_file_chunk": (path.name, chunk, "application/octet-stream")},
                    )
                    start, end = int(body["start_offset"]), int(body["end_offset"])
                    failures = 0
                except (_BadOffset, _BadOffsetError) as exc:
                    log.info("video %s: Graph asks to resume at %s", state.video_id, exc.start)
                    start, end = exc.start, exc.end
                except (OutcomeUnknownError, TransientError):
                    failures += 1
                    if failures > self.transfer_retries:
                        raise
                    self.sleep(min(2.0**failures, 30.0))
                    continue  # the same chunk again: Graph corrects the offset if it had it
                state = replace(state, step="transferring", start_offset=start, end_offset=end)
                on_step(state)
        return replace(state, step="uploaded", start_offset=start, end_offset=end)

    def _bytes_received(self, video_id: str) -> int:
        status = self.status(video_id).get("status") or {}
        phase = status.get("uploading_phase") or {}
        return int(phase.get("bytes_transfered") or phase.get("bytes_transferred") or 0)

    def _rupload(self, path: Path, state: VideoUploadState) -> VideoUploadState:
        assert state.upload_url and state.video_id
        self._check_upload_url(state.upload_url)
        failures = 0
        offset = self._bytes_received(state.video_id) if state.step != "started" else 0
        while True:
            if offset >= state.file_size:
                return replace(state, step="uploaded")
            with path.open("rb") as fh:
                fh.seek(offset)
                data = fh.read()
            try:
                self._call(
                    "POST",
                    state.upload_url,
                    body=data,
                    headers={"offset": str(offset), "file_size": str(state.file_size)},
                    oauth=True,
                )
                return replace(state, step="uploaded")
            except (_BadOffset, _BadOffsetError) as exc:
                offset = exc.start
            except (OutcomeUnknownError, TransientError):
                failures += 1
                if failures > self.transfer_retries:
                    raise
                self.sleep(min(2.0**failures, 30.0))
                offset = self._bytes_received(state.video_id)

    def _finish(self, path: Path, post: VideoPost, state: VideoUploadState) -> VideoUploadState:
        scheduled = int(post.publish_at.timestamp()) if post.publish_at else None
        if state.kind == FEED:
            data: dict[str, Any] = {
                "upload_phase": "finish",
                "upload_session_id": state.upload_session_id,
                "title": post.title,
                "description": post.description,
            }
            if scheduled is not None:
                data.update(published="false", scheduled_publish_time=str(scheduled))
            files = None
            if post.thumbnail is not None:
                files = {"thumb": (post.thumbnail.name, post.thumbnail.read_bytes(), "image/jpeg")}
            self._call(
                "POST",
                f"{self.video_url}/{self.page_id}/videos",
                data=data,
                files=files,
                creates=True,
            )
        else:
            data = {
                "upload_phase": "finish",
                "video_id": state.video_id,
                "video_state": "SCHEDULED" if scheduled is not None else "PUBLISHED",
                "title": post.title,
                "description": post.description,
            }
            if scheduled is not None:
                data["scheduled_publish_time"] = str(scheduled)
            self._call(
                "POST", f"{self.graph_url}/{self.page_id}/video_reels", data=data, creates=True
            )
        log.info("Facebook %s video %s finished", state.kind, state.video_id)
        return replace(state, step="finished", scheduled_for=scheduled)

    def _reconcile_finish(self, state: VideoUploadState) -> VideoUploadState:
        """After a crash or lost answer at finish: did Graph receive it? (never guess)."""
        assert state.video_id
        status = self.status(state.video_id).get("status") or {}
        processing = (status.get("processing_phase") or {}).get("status")
        publishing = status.get("publishing_phase") or {}
        received = processing not in (None, "not_started") or publishing.get("status") not in (
            None,
            "not_started",
        )
        if received or status.get("video_status") in ("processing", "ready"):
            log.info("video %s: the finish had reached Facebook; adopting it", state.video_id)
            publish_time = as_int(publishing.get("publish_time"))
            return replace(
                state, step="finished", scheduled_for=state.scheduled_for or publish_time
            )
        return replace(state, step="uploaded")

    def _wait_ready(self, state: VideoUploadState) -> VideoUploadState:
        assert state.video_id
        waited = 0.0
        while True:
            body = self.status(state.video_id)
            status = body.get("status") or {}
            if status.get("video_status") == "error":
                raise InvalidRequestError(
                    f"Facebook không xử lý được video {state.video_id} (video_status=error): "
                    "hãy xuất lại video thành MP4 (H.264) rồi đăng lại",
                    platform=PLATFORM,
                )
            publishing = status.get("publishing_phase") or {}
            ready = status.get("video_status") == "ready" and (
                publishing.get("status") in (None, "complete")
                or publishing.get("publish_status") == "scheduled"
            )
            if ready and (body.get("post_id") or state.scheduled_for):
                return replace(
                    state,
                    step="ready",
                    post_id=self._post_id(body.get("post_id")),
                    permalink=self._permalink(body.get("permalink_url")),
                )
            if waited >= self.poll_timeout:
                raise ProcessingError(
                    f"Facebook vẫn đang xử lý video {state.video_id} sau {waited:.0f} giây; "
                    "sẽ kiểm tra lại sau",
                    platform=PLATFORM,
                    retry_after=max(self.poll_interval, 60.0),
                )
            self.sleep(self.poll_interval)
            waited += self.poll_interval

    def _post_id(self, raw: Any) -> str | None:
        """``{page-id}_{post_id}`` (Graph may answer the number alone: unconfirmed)."""
        if not raw:
            return None
        text = str(raw)
        return text if "_" in text else f"{self.page_id}_{text}"

    @staticmethod
    def _permalink(raw: Any) -> str | None:
        """Graph answers video permalinks as paths (``/123/videos/456/``): made absolute."""
        if not raw:
            return None
        text = str(raw)
        return text if "://" in text else f"https://www.facebook.com{text}"


class _BadOffsetError(TransientError):
    """1363037 arriving through the transport (a 5xx body): resume at the given offsets."""

    def __init__(self, start: int, end: int) -> None:
        super().__init__(f"resume at {start}", platform=PLATFORM)
        self.start, self.end = start, end
