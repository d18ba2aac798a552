"""The Zalo half's video articles, per ``docs/api/video.md`` (whose Zalo parts are unconfirmed).

Served before the Zalo half (under ``/zalo`` and at the root, like it), sharing its
tokens, articles, processing jobs and monthly quota:

- ``POST /v2.0/article/upload_video/preparevideo``: multipart ``file`` (MP4 or AVI, at most
  ``max_bytes``, default 50 MB) → ``{error: 0, data: {token}}``; a larger file is refused
  (-201), a file that is not MP4/AVI is accepted and then fails processing (status 4);
- ``GET /v2.0/article/upload_video/verify`` with the ``token`` header (or ``?token=``) →
  ``data{video_id, status, status_message, convert_percent}``: status 3 (processing)
  until ``processing_polls`` verify calls or ``processing_seconds`` of the sandbox clock
  have passed, then 1 (usable) with the ``video_id``, or 4 (failed);
- ``POST /v2.0/article/create`` with ``type: "video"``: ``title``/``description`` within
  the article limits, a ``video_id`` that is usable on this OA, an ``avatar`` that is a
  public URL the sandbox fetches (a failed fetch fails the article at verify with -200,
  as for covers); answered with a processing token that the Zalo half's
  ``article/verify`` turns into the article id; listed by ``getslice?type=video`` only.

Fault operations (``zalo.<op>=...``): ``video`` (every request here),
``preparevideo``, ``video_verify`` (also ``read``), ``video_create`` (also ``create``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .halves import HalfContext, SandboxRequest, SandboxResponse
from .zalo import (
    DESCRIPTION_LIMIT,
    PREFIX,
    TITLE_LIMIT,
    ZaloError,
    ZaloHalf,
    fetch_image,
)

MAX_VIDEO_BYTES = 50 * 1024 * 1024


def _video_kind(data: bytes) -> str | None:
    if data[4:8] == b"ftyp":
        return "mp4"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "avi"
    return None


@dataclass
class _Upload:
    token: str
    video_id: str
    bytes: int
    kind: str | None
    started: datetime
    verifies: int = 0
    done: bool = False


class ZaloVideoHalf:
    """Options (``Sandbox(zalovideo_...)``): ``max_bytes``, ``processing_polls``,
    ``processing_seconds``, ``require_header_token`` (refuse ``?token=`` alone)."""

    name = "zalo_video"

    def __init__(
        self,
        ctx: HalfContext,
        zalo: ZaloHalf,
        *,
        max_bytes: int = MAX_VIDEO_BYTES,
        processing_polls: int = 2,
        processing_seconds: float = 120.0,
        require_header_token: bool = False,
    ) -> None:
        self.ctx = ctx
        self.zalo = zalo
        self.max_bytes = max_bytes
        self.processing_polls = processing_polls
        self.processing_seconds = processing_seconds
        self.require_header_token = require_header_token
        # one lock with the Zalo half: video articles are its articles
        self.lock: threading.RLock = getattr(zalo, "lock", None) or threading.RLock()
        zalo.lock = self.lock  # type: ignore[attr-defined]
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.uploads: dict[str, _Upload] = {}

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "uploads": [
                    {
                        "token": u.token,
                        "video_id": u.video_id,
                        "bytes": u.bytes,
                        "kind": u.kind,
                        "done": u.done,
                        "verifies": u.verifies,
                    }
                    for u in self.uploads.values()
                ]
            }

    def handle(self, req: SandboxRequest) -> SandboxResponse | None:
        path = req.path[len(PREFIX) :] if req.path.startswith(PREFIX + "/") else req.path
        route: tuple[frozenset[str], Any] | None = None
        if path == "/v2.0/article/upload_video/preparevideo" and req.method == "POST":
            route = frozenset({"video", "preparevideo"}), self._prepare
        elif path == "/v2.0/article/upload_video/verify" and req.method == "GET":
            route = frozenset({"video", "video_verify", "read"}), self._verify
        elif path == "/v2.0/article/create" and req.method == "POST" and self._is_video(req):
            route = frozenset({"video", "video_create", "create"}), self._create
        if route is None:
            return None
        req.route = PREFIX + path
        ops, handler = route
        fault = self.ctx.faults.pick("zalo", ops)
        try:
            if fault is not None and fault.before_processing:
                raise ZaloError(fault.code or -201)
            self.zalo._authenticate(req)
            response = SandboxResponse.json(
                {"data": handler(req), "error": 0, "message": "Success"}
            )
        except ZaloError as err:
            response = SandboxResponse.json({"error": err.code, "message": err.message})
        if fault is not None and fault.kind == "drop":
            return SandboxResponse.dropped()
        if fault is not None and fault.kind == "500":
            return SandboxResponse.json({"error": -1, "message": "Internal Server Error"}, 500)
        return response

    @staticmethod
    def _is_video(req: SandboxRequest) -> bool:
        try:
            body = req.json()
        except (ValueError, UnicodeDecodeError):
            return False
        return isinstance(body, dict) and body.get("type") == "video"

    # ------------------------------------------------------------ upload

    def _prepare(self, req: SandboxRequest) -> dict[str, Any]:
        upload = req.form().files.get("file")
        if upload is None or not upload.data:
            raise ZaloError(-201, "file is required (multipart field 'file')")
        if len(upload.data) > self.max_bytes:
            raise ZaloError(-201, f"File size exceeds {self.max_bytes // (1024 * 1024)}MB")
        n = len(self.uploads) + 1
        token = f"sandbox-video-token-{n}"
        self.uploads[token] = _Upload(
            token,
            f"sandboxvideo{n:06d}",
            len(upload.data),
            _video_kind(upload.data),
            self.ctx.clock(),
        )
        return {"token": token}

    def _upload(self, token: str) -> _Upload:
        upload = self.uploads.get(token)
        if upload is None:
            raise ZaloError(-201, "token is invalid")
        return upload

    def _settle(self, upload: _Upload) -> None:
        aged = (self.ctx.clock() - upload.started).total_seconds() >= self.processing_seconds
        if upload.verifies > self.processing_polls or aged:
            upload.done = True

    def _verify(self, req: SandboxRequest) -> dict[str, Any]:
        token = req.headers.get("token") or ("" if self.require_header_token else req.arg("token"))
        upload = self._upload(token or "")
        upload.verifies += 1
        self._settle(upload)
        if not upload.done:
            percent = min(95, 100 * upload.verifies // (self.processing_polls + 1))
            return {
                "video_id": "",
                "status": 3,
                "status_message": "Video is processing",
                "convert_percent": percent,
            }
        if upload.kind is None:
            return {
                "video_id": "",
                "status": 4,
                "status_message": "Video format is not supported (MP4 or AVI)",
                "convert_percent": 0,
            }
        return {
            "video_id": upload.video_id,
            "status": 1,
            "status_message": "Video is ready",
            "convert_percent": 100,
        }

    # ------------------------------------------------------------ article

    def _create(self, req: SandboxRequest) -> dict[str, Any]:
        z = self.zalo
        content = z._body(req)
        for name, limit in (("title", TITLE_LIMIT), ("description", DESCRIPTION_LIMIT)):
            value = content.get(name)
            if not isinstance(value, str) or not value.strip():
                raise ZaloError(-201, f"{name} is required")
            if len(value) >= limit:
                raise ZaloError(-201, f"{name} is too long (must be less than {limit} characters)")
        video_id = content.get("video_id")
        upload = next((u for u in self.uploads.values() if u.video_id == video_id), None)
        if upload is None or not upload.done or upload.kind is None:
            raise ZaloError(-201, "video_id is invalid or the video is not ready")
        avatar = content.get("avatar")
        if not isinstance(avatar, str) or not avatar.isascii() or " " in avatar or not avatar:
            raise ZaloError(-201, "avatar is required (a public image URL)")
        for name in ("status", "comment"):
            if content.get(name, "show") not in ("show", "hide"):
                raise ZaloError(-201, f"{name} is invalid (show or hide)")
        now = self.ctx.clock()
        if z.article_quota is not None and z._this_month(now) >= z.article_quota:
            raise ZaloError(-223)
        data, error = fetch_image(avatar)
        z.fetches.append({"url": avatar, "ok": error is None, "bytes": len(data) if data else 0})
        article = z._new_article(content, now)
        return {"token": z._new_job(article, "create", content, error)}
