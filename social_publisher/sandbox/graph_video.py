"""The Graph half's video host: feed videos (chunked upload) and Reels, per ``docs/api/video.md``.

Served beside the Graph half on the same port, sharing its Page, tokens, usage budget,
error bodies and posts (a processed video becomes a post of kind ``video`` on the Page):

- the video host is mounted at ``/graph-video`` (``env()`` hands out
  ``FB_GRAPH_VIDEO_URL=<base>/graph-video``); ``POST /{version}/{page}/videos`` on the
  plain Graph host is refused, so a client that ignores the setting fails here;
- ``upload_phase=start`` (``file_size``) → ``{upload_session_id, video_id, start_offset,
  end_offset}``; ``transfer`` must send exactly ``[start_offset, end_offset)`` of the
  file as the ``video_file_chunk`` part of the session, else error 100 / subcode
  1363037 with ``error_data{start_offset, end_offset}`` (where to resume); ``finish``
  only once, only when every byte has arrived; ``cancel`` ends a session;
- Reels: ``POST /{page}/video_reels`` start → ``{video_id, upload_url}`` on
  ``/rupload/video-upload/{version}/{video_id}`` (headers ``Authorization: OAuth``,
  ``offset`` equal to the bytes received so far, ``file_size``; the raw bytes as the
  body), then finish with ``video_state``; ``status.uploading_phase.bytes_transfered``
  says where an interrupted upload stands; at most 30 reels per Page in 24 h;
- processing is not wall-clock: a finished video is ready after ``processing_polls``
  status reads, or once the sandbox clock has moved ``processing_seconds`` past its
  finish (tests advance the clock, never sleep);
- native scheduling: feed videos 10 min to 6 months ahead, reels 10 min to 29 days.

Fault operations (``graph.<op>=...``): ``video`` (every request here), ``video_start``,
``video_transfer``, ``video_finish``, ``reel_start``, ``reel_upload``, ``reel_finish``,
``video_status`` (status reads), and ``create`` for both finishes, ``read`` for GETs.

Sandbox choices where the sheet is silent (flagged, not platform facts): the 31st reel
in 24 h is refused with error 100 and a plain message; a second ``finish`` of a session
is refused with error 100; a reel's status carries ``post_id`` once published.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .graph import GraphError, GraphHalf, _Post, graph_time
from .halves import HalfContext, SandboxRequest, SandboxResponse

PREFIX = "/graph-video"
FEED_SCHEDULE = (timedelta(minutes=10), timedelta(days=180))
REEL_SCHEDULE = (timedelta(minutes=10), timedelta(days=29))
REELS_PER_DAY = 30
BAD_OFFSET = 1363037

_VERSION = r"/v\d+\.\d+"
_PAGE_VIDEOS = re.compile(rf"^(?:{PREFIX})?{_VERSION}/(\d+)/videos/?$")
_PAGE_REELS = re.compile(rf"^{_VERSION}/(\d+)/video_reels/?$")
_NODE = re.compile(rf"^{_VERSION}/(\d+)/?$")
_INSIGHTS = re.compile(rf"^{_VERSION}/(\d+)/video_insights/?$")
#: the video insights metrics the sandbox knows (others: #100, as Graph answers)
VIDEO_METRICS = ("total_video_views", "total_video_views_unique", "blue_reels_play_count")
_RUPLOAD = re.compile(rf"^/rupload/video-upload{_VERSION}/(\d+)/?$")


@dataclass
class _Video:
    id: str
    kind: str  # feed | reel
    page_id: str
    file_size: int = 0
    session_id: str | None = None
    data: bytearray = field(default_factory=bytearray)
    finished_at: datetime | None = None
    polls: int = 0
    ready: bool = False
    cancelled: bool = False
    title: str = ""
    description: str = ""
    published: bool = True
    scheduled_for: datetime | None = None
    state: str = "PUBLISHED"
    post_id: str | None = None
    thumb: bytes | None = None
    #: plays so far (tests set it: ``set_views``)
    views: int = 0


class GraphVideoHalf:
    """Feed video and Reels uploads for the Graph half. Options (``Sandbox(graphvideo_...)``):
    ``chunk_bytes`` (the window each transfer must send), ``processing_polls``,
    ``processing_seconds``, ``reels_per_day``, ``scheduled_post_id`` (False: a scheduled
    video's status carries no ``post_id`` until it is live; which Graph does is unconfirmed)."""

    name = "graph_video"

    def __init__(
        self,
        ctx: HalfContext,
        graph: GraphHalf,
        *,
        chunk_bytes: int = 1 << 20,
        processing_polls: int = 2,
        processing_seconds: float = 60.0,
        reels_per_day: int = REELS_PER_DAY,
        scheduled_post_id: bool = True,
    ) -> None:
        self.ctx = ctx
        self.graph = graph
        self.chunk_bytes = chunk_bytes
        self.processing_polls = processing_polls
        self.processing_seconds = processing_seconds
        self.reels_per_day = reels_per_day
        self.scheduled_post_id = scheduled_post_id
        #: the Graph half's lock: videos become its posts
        self.lock: threading.RLock = graph.lock
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.videos: dict[str, _Video] = {}
            self._seq = 0

    def env(self) -> dict[str, str]:
        return {"FB_GRAPH_VIDEO_URL": self.ctx.base_url().rstrip("/") + PREFIX}

    def state(self) -> dict[str, Any]:
        with self.lock:
            self._settle_all()
            return {
                "videos": [
                    {
                        "id": v.id,
                        "kind": v.kind,
                        "file_size": v.file_size,
                        "received": len(v.data),
                        "finished": v.finished_at is not None,
                        "ready": v.ready,
                        "cancelled": v.cancelled,
                        "published": v.published,
                        "scheduled_for": v.scheduled_for.isoformat() if v.scheduled_for else None,
                        "post_id": v.post_id,
                        "title": v.title,
                        "description": v.description,
                        "thumb": v.thumb is not None,
                    }
                    for v in self.videos.values()
                ]
            }

    # ------------------------------------------------------------ test helpers

    def finished_videos(self, kind: str | None = None) -> list[_Video]:
        with self.lock:
            return [
                v
                for v in self.videos.values()
                if v.finished_at is not None and (kind is None or v.kind == kind)
            ]

    def set_views(self, video_id: str, views: int) -> None:
        with self.lock:
            self.videos[video_id].views = views

    def _video_insights(self, vid: str, req: SandboxRequest) -> dict[str, Any]:
        """``GET /{video-id}/video_insights?metric=a,b``: one unknown metric fails it all;
        Reels answer ``blue_reels_play_count``, feed videos ``total_video_views*``."""
        video = self.videos[vid]
        names = [m.strip() for m in (req.param("metric") or "").split(",") if m.strip()]
        known = [m for m in VIDEO_METRICS if (m.startswith("blue_reels")) == (video.kind == "reel")]
        for name in names:
            if name not in known:
                raise GraphError(100, "(#100) The value must be a valid insights metric")
        return {
            "data": [
                {
                    "name": name,
                    "period": "lifetime",
                    "values": [{"value": video.views}],
                    "id": f"{vid}/video_insights/{name}/lifetime",
                }
                for name in names or known
            ]
        }

    # ------------------------------------------------------------ dispatch

    def handle(self, req: SandboxRequest) -> SandboxResponse | None:
        self._settle_all()
        path = req.path
        route: tuple[str, frozenset[str], Any] | None = None
        if (m := _PAGE_VIDEOS.match(path)) and req.method == "GET":
            page = m.group(1)
            route = (
                "/{version}/{page}/videos",
                frozenset({"video", "read"}),
                lambda r, p: self._list_videos(page, r, p),
            )
        elif (m := _PAGE_VIDEOS.match(path)) and req.method == "POST":
            if not path.startswith(PREFIX):
                req.route = "/{version}/{page}/videos"
                return self.graph._error_response(
                    GraphError(
                        100,
                        "(#100) Video uploads must be sent to graph-video.facebook.com "
                        "(sandbox: FB_GRAPH_VIDEO_URL)",
                    )
                )
            route = self._feed_route(req, m.group(1))
        elif (m := _PAGE_REELS.match(path)) and req.method in ("POST", "GET"):
            route = self._reel_route(req, m.group(1))
        elif (m := _RUPLOAD.match(path)) and req.method == "POST":
            vid = m.group(1)
            route = (
                "/rupload/video-upload/{version}/{video-id}",
                frozenset({"video", "reel_upload"}),
                lambda r, p: self._reel_upload(vid, r, p),
            )
        elif (m := _INSIGHTS.match(path)) and req.method == "GET" and m.group(1) in self.videos:
            vid = m.group(1)
            route = (
                "/{version}/{video-id}/video_insights",
                frozenset({"video", "insights", "read"}),
                lambda r, p: self._video_insights(vid, r),
            )
        elif (m := _NODE.match(path)) and m.group(1) in self.videos:
            vid = m.group(1)
            if req.method == "GET":
                route = (
                    "/{version}/{video-id}",
                    frozenset({"video", "video_status", "read"}),
                    lambda r, p: self._status(vid, p),
                )
            elif req.method == "DELETE":
                route = (
                    "/{version}/{video-id}",
                    frozenset({"video", "delete"}),
                    lambda r, p: self._delete(vid, p),
                )
        if route is None:
            return None
        name, ops, handler = route
        req.route = name
        fault = self.ctx.faults.pick("graph", ops)
        headers: dict[str, str] = {}
        try:
            if fault is not None and fault.before_processing:
                raise GraphError(fault.code or 1, subcode=fault.subcode)
            principal = self.graph._authenticate(req)
            headers = self.graph._charge(principal, 1)
            response = SandboxResponse.json(handler(req, principal), 200, headers)
        except _OffsetError as err:
            response = self._offset_response(err, headers)
        except GraphError as err:
            response = self.graph._error_response(err, headers)
        if fault is not None and fault.kind == "drop":
            return SandboxResponse.dropped()
        if fault is not None and fault.kind == "500":
            return self.graph._error_response(GraphError(1), headers)
        return response

    def _feed_route(self, req: SandboxRequest, page_id: str) -> tuple[str, frozenset[str], Any]:
        phase = req.param("upload_phase") or ""
        ops = {"video", f"video_{phase}"}
        if phase == "finish":
            ops.add("create")
        return (
            PREFIX + "/{version}/{page}/videos",
            frozenset(ops),
            lambda r, p: self._feed(page_id, phase, r, p),
        )

    def _reel_route(self, req: SandboxRequest, page_id: str) -> tuple[str, frozenset[str], Any]:
        if req.method == "GET":
            return (
                "/{version}/{page}/video_reels",
                frozenset({"video", "read"}),
                lambda r, p: self._list_reels(page_id, r, p),
            )
        phase = req.param("upload_phase") or ""
        ops = {"video", f"reel_{phase}"}
        if phase == "finish":
            ops.add("create")
        return (
            "/{version}/{page}/video_reels",
            frozenset(ops),
            lambda r, p: self._reel(page_id, phase, r, p),
        )

    # ------------------------------------------------------------ feed videos

    def _new_video(self, kind: str, page_id: str) -> _Video:
        self._seq += 1
        video = _Video(str(700000000000000 + self._seq), kind, page_id)
        self.videos[video.id] = video
        return video

    def _session(self, req: SandboxRequest, page_id: str) -> _Video:
        sid = req.param("upload_session_id") or ""
        video = next(
            (v for v in self.videos.values() if v.session_id == sid and v.page_id == page_id),
            None,
        )
        if video is None or video.cancelled:
            raise GraphError(100, "(#100) Invalid upload_session_id", subcode=1363020)
        return video

    def _window(self, video: _Video) -> tuple[int, int]:
        start = len(video.data)
        return start, min(video.file_size, start + self.chunk_bytes)

    def _feed(self, page_id: str, phase: str, req: SandboxRequest, principal: Any) -> Any:
        self.graph._require_owner(principal, page_id)
        if phase == "start":
            try:
                size = int(req.param("file_size") or "")
            except ValueError:
                raise GraphError(
                    100, "(#100) file_size is required for upload_phase=start"
                ) from None
            if size < 1024:
                raise GraphError(100, "(#100) The video file is too small", subcode=1363022)
            video = self._new_video("feed", page_id)
            video.file_size = size
            video.session_id = f"{video.id}-session"
            start, end = self._window(video)
            return {
                "upload_session_id": video.session_id,
                "video_id": video.id,
                "start_offset": str(start),
                "end_offset": str(end),
            }
        if phase == "transfer":
            video = self._session(req, page_id)
            if video.finished_at is not None:
                raise GraphError(100, "(#100) The upload session is already finished")
            chunk = req.form().files.get("video_file_chunk")
            start, end = self._window(video)
            if chunk is None:
                raise GraphError(100, "(#100) video_file_chunk is required")
            if req.param("start_offset") != str(start) or len(chunk.data) != end - start:
                raise _OffsetError(start, end)
            video.data += chunk.data
            start, end = self._window(video)
            return {"start_offset": str(start), "end_offset": str(end)}
        if phase == "finish":
            video = self._session(req, page_id)
            if video.finished_at is not None:
                raise GraphError(100, "(#100) The upload session is already finished")
            if len(video.data) != video.file_size:
                raise GraphError(6000, "There was a problem uploading your video file")
            published = req.param("published") not in ("false", "0")
            scheduled = req.param("scheduled_publish_time")
            if scheduled:
                if published:
                    raise GraphError(100, "(#100) A scheduled video must be published=false")
                video.scheduled_for = self._schedule(scheduled, FEED_SCHEDULE)
            elif not published:
                raise GraphError(100, "(#100) Unpublished videos are not used by this sandbox")
            video.published = not scheduled
            video.title = req.param("title") or ""
            video.description = req.param("description") or ""
            thumb = req.form().files.get("thumb")
            video.thumb = thumb.data if thumb else None
            video.finished_at = self.ctx.clock()
            return {"success": True}
        if phase == "cancel":
            video = self._session(req, page_id)
            if video.finished_at is not None:
                raise GraphError(100, "(#100) A finished upload cannot be cancelled")
            video.cancelled = True
            return {"success": True}
        raise GraphError(100, "(#100) upload_phase must be start, transfer, finish or cancel")

    def _schedule(self, raw: str, window: tuple[timedelta, timedelta]) -> datetime:
        when = self.graph._parse_time(raw, "scheduled_publish_time")
        ahead = when - self.ctx.clock()
        if not window[0] < ahead <= window[1]:
            raise GraphError(
                100,
                "(#100) The specified scheduled publish time is invalid: it must be between "
                f"{int(window[0].total_seconds() // 60)} minutes and "
                f"{window[1].days} days from now",
            )
        return when

    # ------------------------------------------------------------ reels

    def _reel(self, page_id: str, phase: str, req: SandboxRequest, principal: Any) -> Any:
        self.graph._require_owner(principal, page_id)
        if phase == "start":
            video = self._new_video("reel", page_id)
            version = req.path.split("/")[1]
            return {
                "video_id": video.id,
                "upload_url": f"{self.ctx.base_url().rstrip('/')}/rupload/video-upload/"
                f"{version}/{video.id}",
            }
        if phase == "finish":
            found = self.videos.get(req.param("video_id") or "")
            if found is None or found.kind != "reel" or found.page_id != page_id:
                raise GraphError(100, "(#100) Invalid video_id")
            video = found
            if video.finished_at is not None:
                raise GraphError(100, "(#100) The reel is already finished")
            if not video.file_size or len(video.data) != video.file_size:
                raise GraphError(6000, "There was a problem uploading your video file")
            state = req.param("video_state") or ""
            if state not in ("PUBLISHED", "SCHEDULED", "DRAFT"):
                raise GraphError(100, "(#100) video_state must be PUBLISHED, SCHEDULED or DRAFT")
            now = self.ctx.clock()
            recent = [
                v
                for v in self.videos.values()
                if v.kind == "reel"
                and v.page_id == page_id
                and v.finished_at is not None
                and now - v.finished_at < timedelta(hours=24)
            ]
            if state != "DRAFT" and len(recent) >= self.reels_per_day:
                raise GraphError(
                    100, f"(#100) Reels publishing limit reached ({self.reels_per_day} in 24 hours)"
                )
            scheduled = req.param("scheduled_publish_time")
            if state == "SCHEDULED":
                if not scheduled:
                    raise GraphError(100, "(#100) scheduled_publish_time is required")
                video.scheduled_for = self._schedule(scheduled, REEL_SCHEDULE)
            elif scheduled:
                raise GraphError(100, "(#100) scheduled_publish_time needs video_state=SCHEDULED")
            video.state = state
            video.published = state == "PUBLISHED"
            video.title = req.param("title") or ""
            video.description = req.param("description") or ""
            video.finished_at = now
            return {"success": True}
        raise GraphError(100, "(#100) upload_phase must be start or finish")

    def _reel_upload(self, video_id: str, req: SandboxRequest, principal: Any) -> Any:
        if not req.headers.get("Authorization", "").startswith("OAuth "):
            raise GraphError(190, "Invalid OAuth access token (send Authorization: OAuth)")
        video = self.videos.get(video_id)
        if video is None or video.kind != "reel":
            raise GraphError(100, "(#100) Invalid video_id")
        self.graph._require_owner(principal, video.page_id)
        if video.finished_at is not None:
            raise GraphError(100, "(#100) The reel is already finished")
        try:
            offset = int(req.headers.get("offset", ""))
            size = int(req.headers.get("file_size", ""))
        except ValueError:
            raise GraphError(100, "(#100) offset and file_size headers are required") from None
        if video.file_size and size != video.file_size:
            raise GraphError(100, "(#100) file_size differs from the first upload")
        video.file_size = size
        if offset != len(video.data):
            raise _OffsetError(len(video.data), size)
        if offset + len(req.body) > size:
            raise GraphError(100, "(#100) More bytes than file_size")
        video.data += req.body
        return {"success": True}

    def _list_videos(self, page_id: str, req: SandboxRequest, principal: Any) -> Any:
        """``GET /{page}/videos``: the Page's finished feed videos, newest first (a
        deleted one is no longer listed)."""
        since = req.arg("since")
        low = self.graph._parse_time(since, "since") if since else None
        items = []
        for v in sorted(self.videos.values(), key=lambda v: v.id, reverse=True):
            if v.kind != "feed" or v.page_id != page_id or v.finished_at is None or v.cancelled:
                continue
            if low and v.finished_at < low:
                continue
            items.append(
                {
                    "id": v.id,
                    "title": v.title,
                    "description": v.description,
                    "created_time": graph_time(v.finished_at),
                    "updated_time": graph_time(v.finished_at),
                }
            )
        return {"data": items}

    def _list_reels(self, page_id: str, req: SandboxRequest, principal: Any) -> Any:
        since = req.arg("since")
        until = req.arg("until")
        low = self.graph._parse_time(since, "since") if since else None
        high = self.graph._parse_time(until, "until") if until else None
        items = []
        for v in sorted(self.videos.values(), key=lambda v: v.id, reverse=True):
            if v.kind != "reel" or v.page_id != page_id or v.finished_at is None:
                continue
            if (low and v.finished_at < low) or (high and v.finished_at > high):
                continue
            items.append(
                {
                    "id": v.id,
                    "description": v.description,
                    "updated_time": graph_time(v.finished_at),
                }
            )
        return {"data": items}

    # ------------------------------------------------------------ status and processing

    def _settle_all(self) -> None:
        now = self.ctx.clock()
        for video in self.videos.values():
            if video.finished_at is not None and not video.ready:
                aged = (now - video.finished_at).total_seconds() >= self.processing_seconds
                if aged or video.polls >= self.processing_polls:
                    self._make_ready(video, now)

    def _make_ready(self, video: _Video, now: datetime) -> None:
        video.ready = True
        if video.state == "DRAFT":
            return
        g = self.graph
        message = "\n\n".join(p for p in (video.title, video.description) if p)
        post: _Post = g._new_post(video.page_id, message, None, "video", now, video.published, [])
        post.scheduled_for = video.scheduled_for
        if video.scheduled_for is not None:
            post.created_time = video.scheduled_for
        video.post_id = post.id

    def _status(self, video_id: str, principal: Any) -> Any:
        video = self.videos[video_id]
        self.graph._require_owner(principal, video.page_id)
        self.graph._go_live()  # a scheduled video's post goes live at its time
        if video.cancelled:
            raise GraphError(100, f"(#100) Object with ID '{video_id}' does not exist", subcode=33)
        if video.finished_at is not None and not video.ready:
            video.polls += 1
            self._settle_all()
        post = self.graph._posts.get(video.post_id or "")
        live = post is not None and post.published and not post.deleted
        uploaded = bool(video.file_size) and len(video.data) == video.file_size
        finished = video.finished_at is not None
        status = {
            "video_status": "ready" if video.ready else ("processing" if finished else "upload"),
            "processing_progress": 100 if video.ready else 0,
            "uploading_phase": {
                "status": "complete" if uploaded else "in_progress",
                "bytes_transfered": len(video.data),
            },
            "processing_phase": {
                "status": "complete"
                if video.ready
                else ("in_progress" if finished else "not_started")
            },
            "publishing_phase": {
                "status": "complete" if video.ready else "not_started",
                "publish_status": "published"
                if live
                else ("scheduled" if video.scheduled_for else ("draft" if video.ready else "")),
                "publish_time": int(video.scheduled_for.timestamp())
                if video.scheduled_for
                else None,
            },
        }
        body: dict[str, Any] = {"id": video.id, "status": status, "published": live}
        if video.post_id and (live or self.scheduled_post_id):
            # the post id's number only: clients must compose {page}_{number} themselves
            body["post_id"] = video.post_id.split("_", 1)[1]
            body["permalink_url"] = (
                f"/{video.page_id}/videos/{video.id}/"
                if video.kind == "feed"
                else f"/reel/{video.id}"
            )
        return body

    def _delete(self, video_id: str, principal: Any) -> Any:
        video = self.videos[video_id]
        self.graph._require_owner(principal, video.page_id)
        video.cancelled = True
        post = self.graph._posts.get(video.post_id or "")
        if post is not None:
            post.deleted = True
        return {"success": True}

    def _offset_response(self, err: _OffsetError, headers: dict[str, str]) -> SandboxResponse:
        response = self.graph._error_response(
            GraphError(
                100,
                "(#100) Invalid start offset: the chunk must start where the last one ended",
                subcode=BAD_OFFSET,
            ),
            headers,
        )
        body = response.data()
        body["error"]["error_data"] = {
            "start_offset": str(err.start),
            "end_offset": str(err.end),
        }
        return SandboxResponse.json(body, response.status, response.headers)


class _OffsetError(Exception):
    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end
        super().__init__(f"bad offset, resume at {start}")
