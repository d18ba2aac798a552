"""The Graph half of the sandbox: a Facebook Page as ``docs/api/facebook-graph.md`` describes it.

It reproduces the shapes the client depends on, including the unpleasant ones: error
bodies with ``fbtrace_id`` (classified by body, HTTP status varies), the usage header
growing with every call (a batch counts one call per entry), 506 for a repeated message,
190 for a bad token, ``appsecret_proof`` checked against the app that issued each token
(agency Pages' tokens belong to their own apps by default), native scheduling only within
10 min–30 days, one invalid insights metric failing the whole request, ``paging.next`` URLs
that carry ``access_token`` (as Graph's do: a client must not follow them verbatim), and
agency Pages whose feeds hold re-shares of our posts.

By default it is an app created after 4 Nov 2026: multi-ID requests (``?ids=``), field
aliases (``.as(…)``), ``date_format``, HTTP method override (``method=`` on a POST), JSONP
``callback`` and asynchronous batches are refused with a Graph error (code 12).
``legacy_app=True`` emulates an older app, which may still use them (asynchronous batches
are not emulated either way). The synchronous batch (``POST /`` with ``batch=[…]``, at most
50 entries) answers in order ``{code, headers, body: "<json string>"}`` per entry; each
entry fails on its own, and fault injection can leave entries ``null``.

Any ``/vNN.N/`` prefix is accepted, except a version past its end of life on the sandbox
clock (two years after its successor shipped). Scheduled posts go live lazily, when the
sandbox clock has passed their time at the next request or state read.

Fault operations (``graph.<op>=...``, see :mod:`.faults`): ``create`` (POST feed,
POST photos, including unpublished uploads), ``feed`` (POST /{page}/feed only),
``photo`` (POST /{page}/photos), ``upload`` (unpublished photo uploads only),
``read`` (every GET), ``ids`` (``GET /?ids=``), ``insights``, ``token`` (``/me``,
``/debug_token``), ``update`` (POST /{post-id}), ``delete``, ``batch`` (the whole batch
request), ``batch_entry`` (each entry of a batch; an entry also matches its own ops, e.g.
``read``; ``null`` leaves it unprocessed), ``any``.

Deliberate strictness beyond Graph's documented behaviour (flagged so nobody mistakes it
for a platform fact): a scheduled post with ``attached_media`` must say
``unpublished_content_type=SCHEDULED``; ``limit`` over 100 is refused, not capped; more than
10 attached photos are refused; the legacy-feature refusals answer code 12 (Meta's answer to
them is not documented).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import html
import json
import math
import random
import re
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast
from urllib.parse import urlencode, urlsplit

from ..graph_versions import DEFAULT_VERSION, is_expired
from .faults import ENTRY_KINDS
from .halves import HalfContext, SandboxRequest, SandboxResponse

# The default identity the demo and the tests use.
PAGE_ID = "100000000000001"
PAGE_NAME = "Chuyển đổi số thị xã Đức Phổ"
PAGE_TOKEN = "sandbox-fb-page-token-0123456789"
APP_ID = "100000000000099"
APP_SECRET = "sandbox-fb-app-secret-0123456789"
GRAPH_VERSION = DEFAULT_VERSION
#: apps created on or after this day are refused Graph's legacy features (v27.0 announcement)
LEGACY_CUTOFF = "November 4, 2026"
#: first id of the apps agency Pages' tokens are issued by
AGENCY_APP_BASE = 300000000000000

DEFAULT_SCOPES = (
    "pages_show_list",
    "pages_read_engagement",
    "pages_manage_posts",
    "pages_read_user_content",
    "read_insights",
)
MAX_MESSAGE = 63_206
MAX_PHOTO_BYTES = 4 * 1024 * 1024
MAX_IDS = 50
MAX_BATCH = 50
MAX_LIMIT = 100
#: photos a post may carry (practical maximum, unconfirmed: the sandbox enforces it)
MAX_ATTACHED = 10
#: unused unpublished uploads are deleted after about this long
UNUSED_UPLOAD_TTL = timedelta(hours=24)
SCHEDULE_MIN = timedelta(minutes=10)
SCHEDULE_MAX = timedelta(days=30)
#: metrics a post answers in 2026; anything else (post_impressions*, ...) is refused with #100
POST_METRICS = (
    "post_media_view",
    "post_total_media_view_unique",
    "post_clicks",
    "post_reactions_by_type_total",
)

_VERSION_PATH = re.compile(r"^/(v\d+\.\d+)(?:/(.*))?$")
_JSONP_NAME = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$.]*$")
_ALIAS = re.compile(r"\.as\(")
_WEB_POST = re.compile(r"^/(\d+)/posts/(\d+)/?$")
_WEB_PHOTO = re.compile(r"^/graph-photos/(\d+)$")

# code -> (message, type, HTTP status, is_transient)
_ERRORS: dict[int, tuple[str, str, int, bool]] = {
    1: ("An unknown error occurred", "OAuthException", 500, False),
    2: ("An unexpected error has occurred. Please retry your request later.", "OAuthException",
        500, True),
    3: ("(#3) Application does not have the capability to make this API call.",
        "OAuthException", 400, False),
    4: ("(#4) Application request limit reached", "OAuthException", 400, True),
    10: ("(#10) Application does not have permission for this action", "OAuthException", 403,
         False),
    17: ("(#17) User request limit reached", "OAuthException", 400, True),
    32: ("(#32) Page request limit reached", "OAuthException", 400, True),
    100: ("(#100) Invalid parameter", "OAuthException", 400, False),
    102: ("Session key invalid or no longer valid", "OAuthException", 400, False),
    104: ("An access token is required to request this resource.", "OAuthException", 400,
          False),
    190: ("Invalid OAuth access token - Cannot parse access token", "OAuthException", 400,
          False),
    200: ("(#200) Permissions error", "OAuthException", 403, False),
    324: ("(#324) Missing or invalid image file", "OAuthException", 400, False),
    341: ("(#341) Application limit reached", "OAuthException", 400, True),
    368: ("The action attempted has been deemed abusive or is otherwise disallowed",
          "OAuthException", 400, False),
    506: ("(#506) Duplicate status message", "OAuthException", 400, False),
    613: ("(#613) Calls to this api have exceeded the rate limit.", "OAuthException", 400, True),
    803: ("(#803) Some of the aliases you requested do not exist", "OAuthException", 404, False),
    80001: ("(#80001) There have been too many calls to this Page account. Wait a bit and try "
            "again. For more info, please refer to "
            "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
            "OAuthException", 400, True),
    1609005: ("(#1609005) Error Posting Link: the URL could not be fetched", "OAuthException",
              400, False),
}  # fmt: skip
_TOKEN_SUBCODES = {
    458: "Error validating access token: The user has not authorized application.",
    460: "Error validating access token: The session has been invalidated because the user "
    "changed their password or Facebook has changed the session for security reasons.",
    463: "Error validating access token: Session has expired.",
    467: "Error validating access token: The session is invalid because the user logged out.",
    492: "Error validating access token: The user is not an admin of this page.",
}
_MISSING = (
    "Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to "
    "missing permissions, or does not support this operation. Please read the Graph API "
    "documentation at https://developers.facebook.com/docs/graph-api"
)


class GraphError(Exception):
    """An error the half answers with Graph's error body."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        *,
        subcode: int | None = None,
        status: int | None = None,
        type_: str | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
    ) -> None:
        default = _ERRORS.get(code, (f"(#{code}) Sandbox error", "OAuthException", 400, False))
        if message is None and code == 190 and subcode in _TOKEN_SUBCODES:
            message = _TOKEN_SUBCODES[subcode]
        self.code = code
        self.subcode = subcode
        self.message = message or default[0]
        self.type = type_ or default[1]
        self.status = status or default[2]
        self.transient = default[3]
        self.user_title = user_title
        self.user_msg = user_msg
        self.headers: dict[str, str] = {}
        super().__init__(self.message)


def _missing(object_id: str) -> GraphError:
    return GraphError(100, _MISSING.format(id=object_id), subcode=33, type_="GraphMethodException")


# ---------------------------------------------------------------- field expansion


@dataclass(frozen=True)
class FieldSpec:
    """One requested field: ``reactions.summary(total_count).limit(0)``, ``attachments{media}``."""

    name: str
    modifiers: dict[str, str] = field(default_factory=dict)
    sub: tuple[FieldSpec, ...] = ()


def _split_top(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char in "({":
            depth += 1
        elif char in ")}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _closing(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text[index] in "({":
            depth += 1
        elif text[index] in ")}":
            depth -= 1
            if depth == 0:
                return index
    raise GraphError(100, f"(#100) Syntax error in fields: {text!r}")


def parse_fields(text: str | None) -> list[FieldSpec] | None:
    """Graph's ``fields`` syntax; None when no fields were asked for."""
    if text is None or not text.strip():
        return None
    specs: list[FieldSpec] = []
    for piece in _split_top(text):
        match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", piece)
        if not match:
            raise GraphError(100, f"(#100) Syntax error in fields: {piece!r}")
        name, pos = match.group(0), match.end()
        modifiers: dict[str, str] = {}
        sub: tuple[FieldSpec, ...] = ()
        while pos < len(piece):
            if piece[pos] == "{":
                end = _closing(piece, pos)
                sub = tuple(parse_fields(piece[pos + 1 : end]) or ())
                pos = end + 1
            elif piece[pos] == ".":
                mod = re.match(r"\.([A-Za-z_]+)\(", piece[pos:])
                if not mod:
                    raise GraphError(100, f"(#100) Syntax error in fields: {piece!r}")
                open_at = pos + mod.end() - 1
                end = _closing(piece, open_at)
                modifiers[mod.group(1)] = piece[open_at + 1 : end]
                pos = end + 1
            else:
                raise GraphError(100, f"(#100) Syntax error in fields: {piece!r}")
        specs.append(FieldSpec(name, modifiers, sub))
    return specs


def _wants(specs: list[FieldSpec] | None, *names: str) -> bool:
    return bool(specs) and any(s.name in names for s in specs or ())


# ---------------------------------------------------------------- model


def graph_time(moment: datetime) -> str:
    """Graph's time format: ``2024-10-10T00:30:00+0000``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass
class _Page:
    id: str
    name: str
    token: str | None
    agency: bool = False


@dataclass
class _App:
    """A Facebook app: the one that issued a token is the one whose secret makes its proof."""

    id: str
    secret: str | None
    require_proof: bool = False

    @property
    def token(self) -> str | None:
        return f"{self.id}|{self.secret}" if self.secret else None


@dataclass
class _Photo:
    id: str
    page_id: str
    data: bytes
    content_type: str
    caption: str
    published: bool
    temporary: bool
    created_time: datetime
    post_id: str | None = None
    deleted: bool = False


@dataclass
class _Post:
    id: str
    seq: int
    page_id: str
    message: str
    link: str | None
    kind: str  # status | link | photo | album | share
    made_at: datetime  # when it was created (the 506 window counts from here)
    created_time: datetime  # what Graph shows (becomes the go-live time for scheduled posts)
    published: bool
    scheduled_for: datetime | None = None
    photos: list[str] = field(default_factory=list)
    unpublished_content_type: str | None = None
    deleted: bool = False
    updated_time: datetime | None = None
    reactions: int = 0
    comments: int = 0
    shares: int = 0
    views: int = 0
    reach: int = 0
    parent_id: str | None = None
    share_target_id: str | None = None
    share_url: str | None = None
    #: the app whose token created it (None: made on facebook.com, e.g. by a test helper)
    app_id: str | None = None

    @property
    def number(self) -> str:
        return self.id.split("_", 1)[1]

    @property
    def status(self) -> str:
        if self.deleted:
            return "deleted"
        if self.published:
            return "published"
        return "scheduled" if self.scheduled_for else "unpublished"

    @property
    def status_type(self) -> str:
        return {
            "status": "mobile_status_update",
            "link": "shared_story",
            "photo": "added_photos",
            "album": "added_photos",
            "share": "shared_story",
            "video": "added_video",  # feed videos and reels (sandbox/graph_video.py)
        }[self.kind]


@dataclass
class _Principal:
    kind: str  # page | app
    token: str
    page_id: str | None = None
    app_id: str | None = None


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes")


def _is_image(data: bytes) -> str | None:
    signatures = {
        b"\xff\xd8\xff": "image/jpeg",
        b"\x89PNG\r\n\x1a\n": "image/png",
        b"GIF87a": "image/gif",
        b"GIF89a": "image/gif",
        b"BM": "image/bmp",
        b"II*\x00": "image/tiff",
        b"MM\x00*": "image/tiff",
    }
    for magic, ctype in signatures.items():
        if data.startswith(magic):
            return ctype
    return None


Handler = Callable[[SandboxRequest, _Principal], Any]
_F = TypeVar("_F", bound=Callable[..., Any])


def _locked(method: _F) -> _F:
    """Test helpers run on the test's thread while the server thread handles requests."""

    @functools.wraps(method)
    def wrapper(self: GraphHalf, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return method(self, *args, **kwargs)

    return cast(_F, wrapper)


@dataclass
class _Route:
    name: str
    ops: frozenset[str]
    handler: Handler
    weight: int = 1


class GraphHalf:
    """The emulated Graph API. Options (``Sandbox(graph_<name>=...)``):

    ``page_id``, ``page_name``, ``page_token``, ``app_id``, ``app_secret`` (our app: it
    issued the Page token), ``require_appsecret_proof`` (our app has "Require App Secret"
    on: refuse its tokens without a proof), ``scopes`` (what debug_token reports),
    ``budget`` (calls per ``usage_window`` before 80001; the usage header is
    ``calls / budget``), ``usage_window`` (timedelta), ``duplicate_window`` (506 for the
    same message within it), ``refused_metrics`` (insights metrics this Page refuses with
    #100 besides the retired ones), ``posts_per_hour`` (368 "posting too fast" above it;
    None: no limit), ``legacy_app`` (emulate an app created before 4 Nov 2026: ``?ids=``,
    aliases, ``date_format``, ``method=``, JSONP allowed), ``photo_post_id`` (when
    ``POST /photos`` answers ``post_id``: ``always``, ``unscheduled`` (not for a scheduled
    photo: the sheet leaves it unconfirmed) or ``never``).
    """

    name = "graph"

    def __init__(
        self,
        ctx: HalfContext,
        *,
        page_id: str = PAGE_ID,
        page_name: str = PAGE_NAME,
        page_token: str = PAGE_TOKEN,
        app_id: str = APP_ID,
        app_secret: str | None = APP_SECRET,
        require_appsecret_proof: bool = False,
        scopes: tuple[str, ...] | list[str] = DEFAULT_SCOPES,
        budget: int = 4800,
        usage_window: timedelta = timedelta(hours=24),
        duplicate_window: timedelta = timedelta(hours=24),
        refused_metrics: tuple[str, ...] | list[str] | set[str] = (),
        posts_per_hour: int | None = None,
        legacy_app: bool = False,
        photo_post_id: str = "always",
    ) -> None:
        if photo_post_id not in ("always", "unscheduled", "never"):
            raise ValueError(f"photo_post_id must be always, unscheduled or never: {photo_post_id}")
        self.ctx = ctx
        self.page_id = page_id
        self.page_name = page_name
        self.page_token = page_token
        self.app_id = app_id
        self.app_secret = app_secret
        self.require_appsecret_proof = require_appsecret_proof
        self.scopes = list(scopes)
        self.budget = budget
        self.usage_window = usage_window
        self.duplicate_window = duplicate_window
        self.refused_metrics = set(refused_metrics)
        self.posts_per_hour = posts_per_hour
        self.legacy_app = legacy_app
        self.photo_post_id = photo_post_id
        #: the PHP-style ``date_format`` of the request being answered (legacy apps only)
        self._date_format: str | None = None
        #: held by the server while it handles a request, and by every public helper
        self.lock = threading.RLock()
        self.reset()

    # ------------------------------------------------------------ state

    @_locked
    def reset(self) -> None:
        self._pages: dict[str, _Page] = {
            self.page_id: _Page(self.page_id, self.page_name, self.page_token)
        }
        self._apps: dict[str, _App] = {
            self.app_id: _App(self.app_id, self.app_secret, self.require_appsecret_proof)
        }
        #: token -> id of the app that issued it
        self._token_apps: dict[str, str] = {self.page_token: self.app_id}
        self._posts: dict[str, _Post] = {}
        self._photos: dict[str, _Photo] = {}
        self._seq = 0
        self._photo_seq = 0
        self._usage: dict[str, list[tuple[datetime, int]]] = {}
        self._revoked: dict[str, int] = {}
        self._trace_rng = random.Random(20241010)
        self.token_in_query = 0
        self.versions_seen: set[str] = set()
        #: legacy feature -> how many requests were refused for using it
        self.legacy_refused: dict[str, int] = {}

    def env(self) -> dict[str, str]:
        """Settings that point the Facebook channel at this half."""
        return {
            "FB_GRAPH_URL": self.ctx.base_url(),
            "FB_GRAPH_VERSION": GRAPH_VERSION,
            "FB_PAGE_ID": self.page_id,
            "FB_PAGE_ACCESS_TOKEN": self.page_token,
            "FB_APP_ID": self.app_id,
            "FB_APP_SECRET": self.app_secret or "",
        }

    @_locked
    def state(self) -> dict[str, Any]:
        self._go_live()
        ours = [p for p in self._posts.values() if p.page_id == self.page_id]
        return {
            "page": {"id": self.page_id, "name": self.page_name},
            "posts": [self._post_state(p) for p in sorted(ours, key=lambda p: p.seq)],
            "photos": [
                {
                    "id": ph.id,
                    "published": ph.published,
                    "temporary": ph.temporary,
                    "post_id": ph.post_id,
                    "bytes": len(ph.data),
                    "content_type": ph.content_type,
                    "deleted": ph.deleted,
                }
                for ph in self._photos.values()
            ],
            "scheduled_posts": [p.id for p in ours if p.status == "scheduled"],
            "agency_pages": {
                page.id: {
                    "name": page.name,
                    "has_token": page.token is not None,
                    "feed": [
                        self._post_state(p)
                        for p in sorted(self._posts.values(), key=lambda p: p.seq)
                        if p.page_id == page.id
                    ],
                }
                for page in self._pages.values()
                if page.agency
            },
            "usage_percent": {k: self._usage_percent(k) for k in self._usage},
            # calls charged against each budget in the window (a batch: one per entry)
            "calls": {k: sum(n for _, n in v) for k, v in self._usage.items()},
            "token_in_query": self.token_in_query,
            "versions": sorted(self.versions_seen),
            "legacy_refused": dict(self.legacy_refused),
        }

    def _post_state(self, post: _Post) -> dict[str, Any]:
        return {
            "id": post.id,
            "message": post.message,
            "link": post.link,
            "kind": post.kind,
            "status": post.status,
            "published": post.published,
            "photo_count": len(post.photos),
            "photos": list(post.photos),
            "scheduled_publish_time": (
                graph_time(post.scheduled_for) if post.scheduled_for else None
            ),
            "unpublished_content_type": post.unpublished_content_type,
            "created_time": graph_time(post.created_time),
            "permalink_url": self._permalink(post),
            "parent_id": post.parent_id,
            "engagement": {
                "reactions": post.reactions,
                "comments": post.comments,
                "shares": post.shares,
                "views": post.views,
                "reach": post.reach,
            },
        }

    # ------------------------------------------------------------ test helpers

    @_locked
    def post(self, post_id: str) -> dict[str, Any]:
        """One post as :meth:`state` shows it."""
        self._go_live()
        return self._post_state(self._posts[post_id])

    @_locked
    def posts(self, *, status: str | None = None) -> list[dict[str, Any]]:
        """Our Page's posts (optionally only ``published`` / ``scheduled`` / ``deleted``)."""
        return [p for p in self.state()["posts"] if status is None or p["status"] == status]

    @_locked
    def add_post(
        self,
        message: str = "",
        *,
        created_time: datetime | None = None,
        photos: int = 0,
        link: str | None = None,
    ) -> str:
        """Put a published post on our Page directly (no request, no usage)."""
        when = created_time or self.ctx.clock()
        photo_ids = [
            self._new_photo(self.page_id, b"\xff\xd8\xff", "image/jpeg", message, True, False)
            for _ in range(photos)
        ]
        kind = "album" if photos > 1 else "photo" if photos else "link" if link else "status"
        post = self._new_post(self.page_id, message, link, kind, when, True, photo_ids)
        post.created_time = when
        return post.id

    @_locked
    def add_engagement(
        self,
        post_id: str,
        *,
        reactions: int = 0,
        comments: int = 0,
        shares: int = 0,
        views: int = 0,
        reach: int = 0,
    ) -> None:
        post = self._posts[post_id]
        post.reactions += reactions
        post.comments += comments
        post.shares += shares
        post.views += views
        post.reach += reach

    @_locked
    def add_agency_page(
        self,
        page_id: str,
        token: str | None = None,
        *,
        name: str | None = None,
        issued_by: str = "own",
        require_proof: bool = False,
    ) -> None:
        """An agency Page; with ``token`` only that token may read its feed, else ours may.

        ``issued_by``: ``own`` (default: the token comes from the agency's own app, so our
        ``appsecret_proof`` is refused with it) or ``ours`` (the agency authorised our app).
        ``require_proof``: the agency's own app has "Require App Secret" on.
        """
        if issued_by not in ("own", "ours"):
            raise ValueError(f"issued_by must be own or ours: {issued_by}")
        old = self._pages.get(page_id)
        if old is not None and old.token:
            self._token_apps.pop(old.token, None)
        self._pages[page_id] = _Page(page_id, name or f"Agency {page_id}", token, agency=True)
        if token is None:
            return
        if issued_by == "ours":
            self._token_apps[token] = self.app_id
            return
        app_id, secret = self.agency_app(page_id)
        self._apps[app_id] = _App(app_id, secret, require_proof)
        self._token_apps[token] = app_id

    @_locked
    def set_require_proof(self, on: bool = True, *, app_id: str | None = None) -> None:
        """Turn "Require App Secret" on or off for our app (or another registered app)."""
        self._apps[app_id or self.app_id].require_proof = on

    def agency_app(self, page_id: str) -> tuple[str, str]:
        """The (id, secret) of the agency's own app that issues its token (``issued_by=own``)."""
        digits = int(hashlib.sha256(page_id.encode()).hexdigest()[:10], 16) % 10**12
        return str(AGENCY_APP_BASE + digits), f"agency-app-secret-{page_id}"

    @_locked
    def add_share(
        self,
        agency_page_id: str,
        of_post_id: str,
        *,
        created_time: datetime | None = None,
        via: str = "parent",
        message: str = "",
    ) -> str:
        """The agency re-shares our post. ``via``: ``parent`` (parent_id + attachment target),
        ``attachment`` (attachment target only), ``link`` (only a facebook.com URL)."""
        original = self._posts[of_post_id]
        when = created_time or self.ctx.clock()
        share = self._new_post(agency_page_id, message, None, "share", when, True, [])
        share.created_time = when
        if via == "parent":
            share.parent_id = original.id
            share.share_target_id = original.number
            share.share_url = self._permalink(original)
        elif via == "attachment":
            share.share_target_id = original.number
            share.share_url = self._permalink(original)
        elif via == "link":
            share.share_url = (
                f"https://www.facebook.com/{original.page_id}/posts/{original.number}/"
            )
        else:
            raise ValueError(f"unknown share style {via!r}")
        return share.id

    @_locked
    def add_agency_post(
        self, agency_page_id: str, message: str, *, created_time: datetime | None = None
    ) -> str:
        """An unrelated post on an agency Page (noise for share matching)."""
        when = created_time or self.ctx.clock()
        post = self._new_post(agency_page_id, message, None, "status", when, True, [])
        post.created_time = when
        return post.id

    @_locked
    def revoke_token(self, token: str | None = None, subcode: int = 460) -> None:
        """From now on ``token`` (default: our Page token) answers 190/``subcode``."""
        self._revoked[token or self.page_token] = subcode

    @_locked
    def use_budget(self, calls: int, page_id: str | None = None) -> None:
        """Record ``calls`` calls as if made now (push the usage header up)."""
        self._usage.setdefault(page_id or self.page_id, []).append((self.ctx.clock(), calls))

    # ------------------------------------------------------------ request entry

    def handle(self, req: SandboxRequest) -> SandboxResponse | None:
        match = _VERSION_PATH.match(req.path)
        if not match:
            return self._web(req)
        version, rest = match.group(1), (match.group(2) or "").strip("/")
        self.versions_seen.add(version)
        self._go_live()
        usage_headers: dict[str, str] = {}
        try:
            self._check_version(version)
            self._check_legacy(req, rest)
            req = self._overridden(req)
            route = self._route(req, rest)
        except GraphError as err:
            req.route = "/{version}/(unknown)"
            return self._error_response(err)
        req.route = "/{version}" + route.name
        fault = self.ctx.faults.pick("graph", route.ops)
        self._date_format = req.param("date_format")
        try:
            if fault is not None and fault.before_processing:
                raise GraphError(fault.code or 1, subcode=fault.subcode)
            principal = self._authenticate(req)
            usage_headers = self._charge(principal, route.weight)
            response = SandboxResponse.json(route.handler(req, principal), 200, usage_headers)
        except GraphError as err:
            response = self._error_response(err, usage_headers)
        finally:
            self._date_format = None
        if fault is not None and fault.kind == "drop":
            return SandboxResponse.dropped()
        if fault is not None and fault.kind == "500":
            return self._error_response(GraphError(1), usage_headers)
        return self._jsonp(req, response)

    # ------------------------------------------------------------ versions and legacy features

    def _check_version(self, version: str) -> None:
        """A version stops working two years after its successor ships (the sheet's rule)."""
        if is_expired(version, self.ctx.clock().date()):
            raise GraphError(
                12,
                f"(#12) Graph API {version} is no longer available: a version stops working "
                "two years after the next one ships. Call a newer version.",
            )

    def _refuse_legacy(self, feature: str) -> None:
        if self.legacy_app:
            return
        self.legacy_refused[feature] = self.legacy_refused.get(feature, 0) + 1
        raise GraphError(
            12,
            f"(#12) {feature} is not available to apps created on or after {LEGACY_CUTOFF}.",
        )

    def _check_legacy(self, req: SandboxRequest, rest: str) -> None:
        """Refuse what Meta's v27.0 announcement took from apps created since 4 Nov 2026."""
        if req.method == "GET" and req.arg("ids") is not None:
            self._refuse_legacy("Multi-ID requests (ids=)")
        if _ALIAS.search(req.param("fields") or ""):
            self._refuse_legacy("Field aliases (.as())")
        if req.param("date_format") is not None:
            self._refuse_legacy("Date and time formatting (date_format)")
        if req.method == "POST" and req.param("method") is not None:
            self._refuse_legacy("HTTP method override (method=)")
        if req.param("callback") is not None:
            self._refuse_legacy("JSONP callbacks (callback=)")
        if rest.endswith("async_batch_requests") or (
            req.method == "POST" and _flag(req.param("asynchronous"), False)
        ):
            self._refuse_legacy("Asynchronous batch requests")
            raise GraphError(
                100,
                "(#100) The sandbox does not emulate asynchronous batch requests",
                type_="GraphMethodException",
            )

    def _overridden(self, req: SandboxRequest) -> SandboxRequest:
        """A legacy app's ``POST …?method=GET|DELETE`` handled as that method."""
        method = (req.param("method") or "").upper() if req.method == "POST" else ""
        if not method or method == "POST":
            return req
        if method not in ("GET", "DELETE"):
            raise GraphError(100, f"(#100) Unsupported method override: {method}")
        query = {**req.query, **{k: [v] for k, v in req.form().items()}}
        query.pop("method", None)
        return SandboxRequest(method, req.path, query, req.headers)

    def _jsonp(self, req: SandboxRequest, response: SandboxResponse) -> SandboxResponse:
        callback = req.param("callback")
        if callback is None or response.drop:
            return response
        if not _JSONP_NAME.match(callback):
            return self._error_response(GraphError(100, "(#100) Invalid callback name"))
        body = b"/**/ " + callback.encode("ascii") + b"(" + response.body + b");"
        headers = {**response.headers, "Content-Type": "text/javascript; charset=UTF-8"}
        return SandboxResponse(200, headers, body)

    def _time(self, moment: datetime) -> Any:
        """A time as Graph renders it, or in the request's ``date_format`` (legacy apps)."""
        fmt = self._date_format
        if not fmt:
            return graph_time(moment)
        moment = moment.astimezone(UTC)
        if fmt == "U":
            return int(moment.timestamp())
        php = {"Y": "%Y", "y": "%y", "m": "%m", "d": "%d", "H": "%H", "i": "%M", "s": "%S"}
        out = []
        for char in fmt:
            if char == "U":
                out.append(str(int(moment.timestamp())))
            elif char == "c":
                out.append(moment.isoformat())
            else:
                out.append(moment.strftime(php[char]) if char in php else char)
        return "".join(out)

    def _error_body(self, err: GraphError) -> dict[str, Any]:
        body: dict[str, Any] = {"message": err.message, "type": err.type, "code": err.code}
        if err.subcode is not None:
            body["error_subcode"] = err.subcode
        body["is_transient"] = err.transient
        if err.user_title:
            body["error_user_title"] = err.user_title
        if err.user_msg:
            body["error_user_msg"] = err.user_msg
        body["fbtrace_id"] = "A" + "".join(
            self._trace_rng.choice(string.ascii_letters + string.digits) for _ in range(10)
        )
        return {"error": body}

    def _error_response(
        self, err: GraphError, headers: dict[str, str] | None = None
    ) -> SandboxResponse:
        merged = {**(headers or {}), **err.headers}
        if err.code in (104, 190):
            merged["WWW-Authenticate"] = (
                f'OAuth "Facebook Platform" "invalid_token" "{err.message}"'
            )
        return SandboxResponse.json(self._error_body(err), err.status, merged)

    def _route(self, req: SandboxRequest, rest: str) -> _Route:
        parts = [p for p in rest.split("/") if p]
        method = req.method
        read = frozenset({"read"})
        if not parts:
            if method == "GET" and req.arg("ids") is not None:
                count = len([i for i in (req.arg("ids") or "").split(",") if i.strip()])
                return _Route("/?ids", frozenset({"read", "ids"}), self._ids, max(1, count))
            if method == "POST" and req.param("batch") is not None:
                try:
                    entries = json.loads(req.param("batch") or "[]")
                except ValueError:
                    entries = []
                weight = len(entries) if isinstance(entries, list) else 1
                return _Route("/ (batch)", frozenset({"batch"}), self._batch, max(1, weight))
            raise GraphError(100, "(#100) Missing ids or batch parameter")
        head = parts[0]
        if len(parts) == 1:
            if head == "me" and method == "GET":
                return _Route("/me", frozenset({"read", "token"}), self._me)
            if head == "debug_token" and method == "GET":
                return _Route("/debug_token", frozenset({"read", "token"}), self._debug_token)
            if method == "GET":
                return _Route("/{id}", read, lambda r, p: self._get_node(head, r))
            if method == "POST":
                return _Route("/{id}", frozenset({"update"}), lambda r, p: self._update(head, r, p))
            if method == "DELETE":
                return _Route("/{id}", frozenset({"delete"}), lambda r, p: self._delete(head, p))
        elif len(parts) == 2:
            edge = parts[1]
            page_route = "/{page}" if head == self.page_id else "/{other-page}"
            if edge == "feed" and method == "GET":
                return _Route(f"{page_route}/feed", read, lambda r, p: self._feed(head, r, p))
            if edge == "feed" and method == "POST":
                return _Route(
                    f"{page_route}/feed",
                    frozenset({"create", "feed"}),
                    lambda r, p: self._publish_feed(head, r, p),
                )
            if edge == "photos" and method == "POST":
                ops = {"create", "photo"}
                if not _flag(req.param("published"), True) and not req.param(
                    "scheduled_publish_time"
                ):
                    ops.add("upload")
                return _Route(
                    f"{page_route}/photos",
                    frozenset(ops),
                    lambda r, p: self._publish_photo(head, r, p),
                )
            if edge == "scheduled_posts" and method == "GET":
                return _Route(
                    f"{page_route}/scheduled_posts",
                    read,
                    lambda r, p: self._scheduled(head, r, p),
                )
            if edge == "insights" and method == "GET":
                return _Route(
                    "/{id}/insights",
                    frozenset({"read", "insights"}),
                    lambda r, p: self._insights_edge(head, r, p),
                )
            if edge == "sharedposts" and method == "GET":
                return _Route("/{id}/sharedposts", read, lambda r, p: self._sharedposts(head))
        raise GraphError(
            100, f"(#100) Unknown path components: /{rest}", type_="GraphMethodException"
        )

    # ------------------------------------------------------------ auth and usage

    def _authenticate(self, req: SandboxRequest, *, in_body: bool = False) -> _Principal:
        token = None
        auth = req.headers.get("Authorization", "")
        if auth.lower().startswith(("bearer ", "oauth ")):
            token = auth.split(None, 1)[1].strip()
        if req.arg("access_token") and not in_body:
            self.token_in_query += 1
        token = token or req.param("access_token")
        if not token:
            raise GraphError(104)
        if token in self._revoked:
            raise GraphError(190, subcode=self._revoked[token])
        app = next((a for a in self._apps.values() if a.token and a.token == token), None)
        if app is not None:
            principal = _Principal("app", token, app_id=app.id)
        else:
            page = next((p for p in self._pages.values() if p.token == token), None)
            if page is None:
                raise GraphError(190)
            app = self._apps[self._token_apps.get(token, self.app_id)]
            principal = _Principal("page", token, page.id, app_id=app.id)
        # The proof is HMAC(secret of the app that ISSUED this token, token): a proof made
        # with any other app's secret is refused, as Graph refuses it.
        if app.secret:
            proof = req.param("appsecret_proof")
            expected = hmac.new(app.secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            if proof is not None and not hmac.compare_digest(proof, expected):
                raise GraphError(
                    100,
                    "Invalid appsecret_proof provided in the API argument",
                    type_="GraphMethodException",
                )
            if proof is None and app.require_proof:
                raise GraphError(
                    100,
                    "API calls from the server require an appsecret_proof argument",
                    type_="GraphMethodException",
                )
        return principal

    def _usage_key(self, principal: _Principal) -> str:
        return principal.page_id or f"app:{principal.app_id or self.app_id}"

    def _usage_percent(self, key: str) -> int:
        now = self.ctx.clock()
        calls = [(t, n) for t, n in self._usage.get(key, []) if now - t < self.usage_window]
        self._usage[key] = calls
        return math.floor(100 * sum(n for _, n in calls) / max(1, self.budget))

    def _regain_minutes(self, key: str) -> int:
        calls = self._usage.get(key, [])
        if not calls:
            return 0
        oldest = min(t for t, _ in calls)
        remaining = oldest + self.usage_window - self.ctx.clock()
        return max(1, math.ceil(remaining.total_seconds() / 60))

    def _usage_headers(self, principal: _Principal, key: str) -> dict[str, str]:
        percent = self._usage_percent(key)
        regain = self._regain_minutes(key) if percent >= 100 else 0
        if principal.kind == "app":
            value = {
                "call_count": percent,
                "total_time": percent // 2,
                "total_cputime": percent // 3,
            }
            return {"X-App-Usage": json.dumps(value)}
        usage = {
            key: [
                {
                    "type": "pages",
                    "call_count": percent,
                    "total_cputime": percent // 3,
                    "total_time": percent // 2,
                    "estimated_time_to_regain_access": regain,
                }
            ]
        }
        return {"X-Business-Use-Case-Usage": json.dumps(usage)}

    def _charge(self, principal: _Principal, weight: int) -> dict[str, str]:
        key = self._usage_key(principal)
        if self._usage_percent(key) >= 100:
            err = GraphError(80001 if principal.kind == "page" else 4)
            err.headers = self._usage_headers(principal, key)
            raise err
        self._usage.setdefault(key, []).append((self.ctx.clock(), weight))
        return self._usage_headers(principal, key)

    def _require_owner(self, principal: _Principal, page_id: str) -> None:
        ours = principal.page_id == self.page_id
        lacking = ours and not {"pages_manage_posts", "pages_read_engagement"} <= set(self.scopes)
        if principal.kind != "page" or principal.page_id != page_id or lacking:
            raise GraphError(
                200,
                "(#200) If posting to a page, requires both pages_read_engagement and "
                "pages_manage_posts as an admin with sufficient administrative permission",
            )

    def _require_scope(self, principal: _Principal, scope: str) -> None:
        """Our Page token has the scopes debug_token reports (``scopes``); others have all."""
        if principal.page_id == self.page_id and scope not in self.scopes:
            raise GraphError(10, f"(#10) This endpoint requires the '{scope}' permission.")

    # ------------------------------------------------------------ helpers

    def _permalink(self, post: _Post) -> str:
        return f"{self.ctx.base_url()}/{post.page_id}/posts/{post.number}"

    def _photo_url(self, photo_id: str) -> str:
        return f"{self.ctx.base_url()}/graph-photos/{photo_id}"

    def _go_live(self) -> None:
        now = self.ctx.clock()
        for photo in self._photos.values():
            if (
                not photo.published
                and photo.post_id is None
                and not photo.deleted
                and now - photo.created_time > UNUSED_UPLOAD_TTL
            ):
                photo.deleted = True  # Facebook drops unused unpublished uploads after ~24 h
        for post in self._posts.values():
            if (
                not post.deleted
                and not post.published
                and post.scheduled_for is not None
                and post.scheduled_for <= now
            ):
                self._make_live(post, post.scheduled_for)

    def _make_live(self, post: _Post, when: datetime) -> None:
        post.published = True
        post.created_time = when
        for photo_id in post.photos:
            self._photos[photo_id].published = True

    def _new_post(
        self,
        page_id: str,
        message: str,
        link: str | None,
        kind: str,
        now: datetime,
        published: bool,
        photos: list[str],
    ) -> _Post:
        self._seq += 1
        post_id = f"{page_id}_{122100000000000 + self._seq}"
        post = _Post(post_id, self._seq, page_id, message, link, kind, now, now, published)
        post.photos = photos
        self._posts[post_id] = post
        for photo_id in photos:
            self._photos[photo_id].post_id = post_id
        return post

    def _new_photo(
        self,
        page_id: str,
        data: bytes,
        content_type: str,
        caption: str,
        published: bool,
        temporary: bool,
    ) -> str:
        self._photo_seq += 1
        photo_id = str(5000000000000 + self._photo_seq)
        self._photos[photo_id] = _Photo(
            photo_id,
            page_id,
            data,
            content_type,
            caption,
            published,
            temporary,
            self.ctx.clock(),
        )
        return photo_id

    def _live_post(self, post_id: str) -> _Post:
        post = self._posts.get(post_id)
        if post is None or post.deleted:
            raise _missing(post_id)
        return post

    def _parse_time(self, value: str, name: str) -> datetime:
        try:
            return datetime.fromtimestamp(int(value), UTC)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise GraphError(100, f"(#100) Param {name} must be a valid timestamp") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def _check_schedule(self, when: datetime) -> None:
        ahead = when - self.ctx.clock()
        if ahead < SCHEDULE_MIN or ahead > SCHEDULE_MAX:
            raise GraphError(
                100,
                "(#100) The specified scheduled publish time is invalid.",
                user_title="Invalid scheduled publish time",
                user_msg="The scheduled publish time must be between 10 minutes and 30 days "
                "from the time of the request.",
            )

    def _check_message(self, message: str) -> None:
        if len(message) > MAX_MESSAGE:
            raise GraphError(
                100, f"(#100) Param message must be at most {MAX_MESSAGE} characters long"
            )

    def _check_posting_rate(self, page_id: str) -> None:
        if self.posts_per_hour is None:
            return
        since = self.ctx.clock() - timedelta(hours=1)
        recent = [p for p in self._posts.values() if p.page_id == page_id and p.made_at >= since]
        if len(recent) >= self.posts_per_hour:
            raise GraphError(
                368,
                subcode=1390008,
                user_title="You Can't Use This Feature Right Now",
                user_msg="You're posting too fast. Please slow down and try again later.",
            )

    # ------------------------------------------------------------ rendering

    def _attachments(self, post: _Post) -> list[dict[str, Any]]:
        def photo_item(photo_id: str) -> dict[str, Any]:
            url = self._photo_url(photo_id)
            return {
                "type": "photo",
                "media": {"image": {"src": url, "height": 720, "width": 960}},
                "target": {"id": photo_id, "url": url},
                "url": url,
            }

        if post.kind == "photo" and post.photos:
            return [photo_item(post.photos[0])]
        if post.kind == "album" and post.photos:
            first = photo_item(post.photos[0])
            return [
                {
                    "type": "album",
                    "media": first["media"],
                    "target": {"id": post.number, "url": self._permalink(post)},
                    "url": self._permalink(post),
                    "subattachments": {"data": [photo_item(p) for p in post.photos]},
                }
            ]
        if post.kind == "link" and post.link:
            return [{"type": "share", "target": {"url": post.link}, "url": post.link}]
        if post.kind == "share" and post.share_url:
            target: dict[str, Any] = {"url": post.share_url}
            if post.share_target_id:
                target["id"] = post.share_target_id
            return [{"type": "share", "target": target, "url": post.share_url}]
        return []

    def _edge_summary(self, spec: FieldSpec, total: int, comments: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"data": []}
        if "summary" in spec.modifiers:
            summary: dict[str, Any] = {"total_count": total}
            if comments:
                summary.update({"order": "ranked", "can_comment": True})
            else:
                summary["viewer_reaction"] = "NONE"
            out["summary"] = summary
        return out

    def _metric_names(self, raw: str | None) -> list[str]:
        names = [m.strip() for m in (raw or "").split(",") if m.strip()]
        if not names:
            return list(POST_METRICS)
        for metric in names:
            if metric not in POST_METRICS or metric in self.refused_metrics:
                raise GraphError(100, "(#100) The value must be a valid insights metric")
        return names

    def _insights(self, post: _Post, names: list[str]) -> list[dict[str, Any]]:
        values: dict[str, Any] = {
            "post_media_view": post.views,
            "post_total_media_view_unique": post.reach,
            "post_clicks": 0,
            "post_reactions_by_type_total": {"like": post.reactions} if post.reactions else {},
        }
        return [
            {
                "name": name,
                "period": "lifetime",
                "values": [{"value": values[name]}],
                "title": name.replace("_", " ").capitalize(),
                "description": f"Lifetime: {name}",
                "id": f"{post.id}/insights/{name}/lifetime",
            }
            for name in names
        ]

    @staticmethod
    def _select(
        node_id: str,
        node_type: str,
        specs: list[FieldSpec] | None,
        default: tuple[str, ...],
        fields: dict[str, Callable[[FieldSpec], Any]],
    ) -> dict[str, Any]:
        """Render the asked fields of one node; a None value is left out, as Graph does."""
        out: dict[str, Any] = {}
        for spec in specs or [FieldSpec(name) for name in default]:
            getter = fields.get(spec.name)
            if getter is None:
                raise GraphError(
                    100,
                    f"(#100) Tried accessing nonexisting field ({spec.name}) on node type "
                    f"({node_type})",
                )
            value = getter(spec)
            if value is not None:
                out[spec.modifiers.get("as", spec.name)] = value  # .as(): legacy apps only
        out.setdefault("id", node_id)  # Graph always answers the id
        return out

    def _attachments_field(self, post: _Post, spec: FieldSpec) -> dict[str, Any] | None:
        items = self._attachments(post)
        if items and spec.sub:
            keep = {s.name for s in spec.sub}
            items = [{k: v for k, v in i.items() if k in keep} for i in items]
        return {"data": items} if items else None

    def _render_post(self, post: _Post, specs: list[FieldSpec] | None) -> dict[str, Any]:
        page = self._pages.get(post.page_id)
        scheduled = post.scheduled_for if not post.published else None
        fields: dict[str, Callable[[FieldSpec], Any]] = {
            "id": lambda s: post.id,
            "message": lambda s: post.message or None,
            "created_time": lambda s: self._time(post.created_time),
            "updated_time": lambda s: self._time(post.updated_time or post.created_time),
            "permalink_url": lambda s: self._permalink(post),
            "is_published": lambda s: post.published,
            "scheduled_publish_time": lambda s: int(scheduled.timestamp()) if scheduled else None,
            "status_type": lambda s: post.status_type,
            "parent_id": lambda s: post.parent_id,
            "shares": lambda s: {"count": post.shares} if post.shares else None,
            "reactions": lambda s: self._edge_summary(s, post.reactions, comments=False),
            "comments": lambda s: self._edge_summary(s, post.comments, comments=True),
            "attachments": lambda s: self._attachments_field(post, s),
            "insights": lambda s: {
                "data": self._insights(post, self._metric_names(s.modifiers.get("metric")))
            },
            "from": lambda s: {"name": page.name if page else "", "id": post.page_id},
            "full_picture": lambda s: self._photo_url(post.photos[0]) if post.photos else None,
        }
        return self._select(post.id, "Post", specs, ("created_time", "message", "id"), fields)

    def _render_page(self, page: _Page, specs: list[FieldSpec] | None) -> dict[str, Any]:
        fields: dict[str, Callable[[FieldSpec], Any]] = {
            "id": lambda s: page.id,
            "name": lambda s: page.name,
            "link": lambda s: f"{self.ctx.base_url()}/{page.id}",
            "category": lambda s: "Government organization",
        }
        return self._select(page.id, "Page", specs, ("name", "id"), fields)

    def _render_photo(self, photo: _Photo, specs: list[FieldSpec] | None) -> dict[str, Any]:
        fields: dict[str, Callable[[FieldSpec], Any]] = {
            "id": lambda s: photo.id,
            "created_time": lambda s: self._time(photo.created_time),
            "name": lambda s: photo.caption or None,
            "link": lambda s: self._photo_url(photo.id),
            "page_story_id": lambda s: photo.post_id,
        }
        return self._select(photo.id, "Photo", specs, ("created_time", "id"), fields)

    def _render_node(self, node_id: str, specs: list[FieldSpec] | None) -> dict[str, Any] | None:
        if node_id in self._pages:
            return self._render_page(self._pages[node_id], specs)
        post = self._posts.get(node_id)
        if post is not None and not post.deleted:
            return self._render_post(post, specs)
        photo = self._photos.get(node_id)
        if photo is not None and not photo.deleted:
            return self._render_photo(photo, specs)
        return None

    # ------------------------------------------------------------ listing

    def _cursor(self, post: _Post) -> str:
        raw = f"{int(post.created_time.timestamp())}:{post.seq}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _decode_cursor(self, cursor: str) -> tuple[int, int]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            stamp, seq = raw.split(":")
            return int(stamp), int(seq)
        except (ValueError, UnicodeDecodeError):
            raise GraphError(100, "(#100) Invalid cursor") from None

    def _listing(
        self, req: SandboxRequest, principal: _Principal, items: list[_Post], edge: str
    ) -> dict[str, Any]:
        specs = parse_fields(req.param("fields"))
        limit_text = req.param("limit") or "25"
        try:
            limit = int(limit_text)
        except ValueError:
            raise GraphError(100, "(#100) Param limit must be an integer") from None
        if limit > MAX_LIMIT:
            raise GraphError(100, f"(#100) The limit parameter must be at most {MAX_LIMIT}")
        since = req.param("since")
        until = req.param("until")
        if since:
            start = self._parse_time(since, "since")
            items = [p for p in items if p.created_time >= start]
        if until:
            end = self._parse_time(until, "until")
            items = [p for p in items if p.created_time <= end]
        items = sorted(items, key=lambda p: (p.created_time, p.seq), reverse=True)
        after = req.param("after")
        if after:
            stamp, seq = self._decode_cursor(after)
            items = [p for p in items if (int(p.created_time.timestamp()), p.seq) < (stamp, seq)]
        page, more = items[: max(limit, 0)], len(items) > limit
        result: dict[str, Any] = {"data": [self._render_post(p, specs) for p in page]}
        if page:
            paging: dict[str, Any] = {
                "cursors": {"before": self._cursor(page[0]), "after": self._cursor(page[-1])}
            }
            if more:
                params = {
                    k: v[0]
                    for k, v in req.query.items()
                    if k not in ("after", "access_token", "appsecret_proof")
                }
                params["after"] = self._cursor(page[-1])
                # Graph puts the token in paging URLs; a careful client strips it.
                params["access_token"] = principal.token
                result_url = f"{self.ctx.base_url()}/{GRAPH_VERSION}/{edge}?{urlencode(params)}"
                paging["next"] = result_url
            result["paging"] = paging
        return result

    def _feed(self, page_id: str, req: SandboxRequest, principal: _Principal) -> dict[str, Any]:
        page = self._pages.get(page_id)
        if page is None:
            raise _missing(page_id)
        if page.agency and page.token is not None and principal.page_id != page.id:
            raise GraphError(
                10,
                "(#10) This endpoint requires the 'pages_read_engagement' permission or the "
                "'Page Public Content Access' feature.",
            )
        if page.agency and principal.page_id != page.id:
            self._require_scope(principal, "pages_read_user_content")
        specs = parse_fields(req.param("fields"))
        with_scheduled = page.id == self.page_id and _wants(
            specs, "is_published", "scheduled_publish_time"
        )
        items = [
            p
            for p in self._posts.values()
            if p.page_id == page.id
            and not p.deleted
            and (p.published or (with_scheduled and p.status == "scheduled"))
        ]
        return self._listing(req, principal, items, f"{page_id}/feed")

    def _scheduled(
        self, page_id: str, req: SandboxRequest, principal: _Principal
    ) -> dict[str, Any]:
        self._require_owner(principal, page_id)
        items = [
            p for p in self._posts.values() if p.page_id == page_id and p.status == "scheduled"
        ]
        return self._listing(req, principal, items, f"{page_id}/scheduled_posts")

    def _sharedposts(self, post_id: str) -> dict[str, Any]:
        self._live_post(post_id)
        # As in practice: shares by Pages that did not grant this app access are not listed.
        return {"data": []}

    # ------------------------------------------------------------ reads

    def _me(self, req: SandboxRequest, principal: _Principal) -> dict[str, Any]:
        if principal.page_id is None:
            raise GraphError(
                2500,
                "An active access token must be used to query information about the current user.",
                type_="OAuthException",
            )
        return self._render_page(self._pages[principal.page_id], parse_fields(req.param("fields")))

    def _debug_token(self, req: SandboxRequest, principal: _Principal) -> dict[str, Any]:
        token = req.param("input_token")
        if not token:
            raise GraphError(100, "(#100) The parameter input_token is required")
        now = self.ctx.clock()
        issuer = self._token_apps.get(token, self.app_id)
        data: dict[str, Any] = {
            "app_id": issuer,
            "application": "Social Publisher" if issuer == self.app_id else f"App {issuer}",
        }
        page = next((p for p in self._pages.values() if p.token == token), None)
        if page is None or token in self._revoked:
            subcode = self._revoked.get(token)
            error: dict[str, Any] = {
                "code": 190,
                "message": GraphError(190, subcode=subcode).message,
            }
            if subcode:
                error["subcode"] = subcode
            data.update({"is_valid": False, "scopes": [], "error": error})
            if page is not None:
                data.update({"type": "PAGE", "profile_id": page.id})
            return {"data": data}
        data.update(
            {
                "type": "PAGE",
                "data_access_expires_at": int((now + timedelta(days=90)).timestamp()),
                "expires_at": 0,
                "is_valid": True,
                "issued_at": int((now - timedelta(days=3)).timestamp()),
                "profile_id": page.id,
                "scopes": list(self.scopes),
                "granular_scopes": [{"scope": s} for s in self.scopes],
                "user_id": "100000000000077",
            }
        )
        return {"data": data}

    def _get_node(self, node_id: str, req: SandboxRequest) -> dict[str, Any]:
        rendered = self._render_node(node_id, parse_fields(req.param("fields")))
        if rendered is None:
            raise _missing(node_id)
        return rendered

    def _ids(self, req: SandboxRequest, principal: _Principal) -> dict[str, Any]:
        ids = [i.strip() for i in (req.arg("ids") or "").split(",") if i.strip()]
        if not ids:
            raise GraphError(100, "(#100) The parameter ids is required")
        if len(ids) > MAX_IDS:
            raise GraphError(100, f"(#100) Too many IDs. Maximum: {MAX_IDS}")
        specs = parse_fields(req.param("fields"))
        missing = [i for i in ids if self._render_node(i, None) is None]
        if missing:
            raise GraphError(
                803, f"(#803) Some of the aliases you requested do not exist: {','.join(missing)}"
            )
        return {i: self._render_node(i, specs) for i in ids}

    def _insights_edge(
        self, post_id: str, req: SandboxRequest, principal: _Principal
    ) -> dict[str, Any]:
        self._require_scope(principal, "read_insights")
        post = self._live_post(post_id)
        names = self._metric_names(req.param("metric"))
        return {"data": self._insights(post, names)}

    def _batch(self, req: SandboxRequest, principal: _Principal) -> list[Any]:
        """The synchronous batch: each entry is a request of its own, answered in order.

        An entry's answer is ``{code, headers, body: "<json string>"}`` (``headers`` left out
        with ``include_headers=false``); an entry that fails does not fail the others; an
        entry the fault rules leave unprocessed is ``null`` (Graph does that to a batch that
        ran out of time: the client sends those entries again). Entries may carry their own
        ``access_token`` (in ``relative_url`` or ``body``); the legacy features are refused
        in entries as in plain requests. Dependencies between entries (``name``,
        ``depends_on``, ``{result=…}``) are not emulated: such an entry is refused.
        """
        try:
            entries = json.loads(req.param("batch") or "")
        except ValueError:
            raise GraphError(100, "(#100) Param batch must be a JSON array") from None
        if not isinstance(entries, list) or not entries:
            raise GraphError(100, "(#100) Param batch must be a non-empty JSON array")
        if len(entries) > MAX_BATCH:
            raise GraphError(
                100, f"(#100) Too many requests in batch message. Maximum batch size is {MAX_BATCH}"
            )
        with_headers = _flag(req.param("include_headers"), True)
        return [self._batch_entry(entry, req, principal, with_headers) for entry in entries]

    def _batch_entry(
        self, entry: Any, req: SandboxRequest, principal: _Principal, with_headers: bool
    ) -> dict[str, Any] | None:
        if not isinstance(entry, dict) or not isinstance(entry.get("relative_url"), str):
            data: Any = self._error_body(
                GraphError(100, "(#100) Each batch entry needs a method and a relative_url")
            )
            return self._entry(400, data, with_headers)
        method = str(entry.get("method", "GET")).upper()
        relative = str(entry["relative_url"]).lstrip("/")
        body = str(entry.get("body", "")).encode()
        headers = {k: req.headers[k] for k in req.headers if k.lower() != "content-length"}
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        target = relative if _VERSION_PATH.match("/" + relative) else f"{GRAPH_VERSION}/{relative}"
        sub = SandboxRequest.build(method, "/" + target, headers=headers, body=body)
        own_token = sub.param("access_token")
        if own_token:  # an entry's own token wins over the batch's
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            sub = SandboxRequest.build(method, "/" + target, headers=headers, body=body)
        path_match = _VERSION_PATH.match(sub.path)
        version = path_match.group(1) if path_match else GRAPH_VERSION
        rest = ((path_match.group(2) if path_match else "") or "").strip("/")
        fault = None
        self._date_format = sub.param("date_format")
        try:
            if "depends_on" in entry or "{result=" in relative + body.decode(errors="replace"):
                raise GraphError(
                    100, "(#100) The sandbox does not emulate batch dependencies (depends_on)"
                )
            self._check_version(version)
            self._check_legacy(sub, rest)
            if method not in ("GET", "POST", "DELETE"):
                raise GraphError(100, f"(#100) Unsupported batch method: {method}")
            route = self._route(sub, rest)
            fault = self.ctx.faults.pick("graph", {*route.ops, "batch_entry"}, kinds=ENTRY_KINDS)
            if fault is not None and fault.kind == "null":
                return None
            if fault is not None and fault.before_processing:
                raise GraphError(fault.code or 1, subcode=fault.subcode)
            # (inside the POST body, not a URL: not counted as a token in a query)
            sub_principal = self._authenticate(sub, in_body=True) if own_token else principal
            data, status = route.handler(sub, sub_principal), 200
        except GraphError as err:
            data, status = self._error_body(err), err.status
        finally:
            self._date_format = None
        if fault is not None and fault.kind == "drop":
            return None  # processed, answer lost: as unprocessed to the client
        if fault is not None and fault.kind == "500":
            data, status = self._error_body(GraphError(1)), 500
        return self._entry(status, data, with_headers)

    @staticmethod
    def _entry(status: int, data: Any, with_headers: bool) -> dict[str, Any]:
        item: dict[str, Any] = {"code": status}
        if with_headers:
            item["headers"] = [
                {"name": "Content-Type", "value": "application/json; charset=UTF-8"},
                {"name": "Cache-Control", "value": "private, no-cache, no-store, must-revalidate"},
            ]
        item["body"] = json.dumps(data, ensure_ascii=False)
        return item

    # ------------------------------------------------------------ writes

    def _publish_feed(
        self, page_id: str, req: SandboxRequest, principal: _Principal
    ) -> dict[str, Any]:
        self._require_owner(principal, page_id)
        now = self.ctx.clock()
        message = req.param("message") or ""
        link = req.param("link") or None
        published = _flag(req.param("published"), True)
        scheduled_raw = req.param("scheduled_publish_time")
        self._check_message(message)
        media = self._attached_media(req, page_id)
        if not message and not link and not media:
            raise GraphError(100, "(#100) Missing message or attachment")
        if link:
            host = urlsplit(link).hostname or ""
            if not link.startswith(("http://", "https://")) or not host:
                raise GraphError(100, "(#100) Param link must be a valid URL")
            if host.endswith(".invalid"):
                raise GraphError(1609005)
        scheduled_for = None
        if scheduled_raw:
            if published:
                raise GraphError(
                    100, "(#100) Cannot specify a scheduled publish time on a published post"
                )
            scheduled_for = self._parse_time(scheduled_raw, "scheduled_publish_time")
            self._check_schedule(scheduled_for)
            content_type = req.param("unpublished_content_type")
            if media and (content_type or "").upper() != "SCHEDULED":
                raise GraphError(
                    100,
                    "(#100) A scheduled post with attached_media needs "
                    "unpublished_content_type=SCHEDULED",
                )
        self._check_duplicate(page_id, message, now)
        self._check_posting_rate(page_id)
        kind = "album" if len(media) > 1 else "photo" if media else "link" if link else "status"
        post = self._new_post(page_id, message, link, kind, now, published, media)
        post.app_id = principal.app_id
        post.scheduled_for = scheduled_for
        post.unpublished_content_type = req.param("unpublished_content_type")
        for photo_id in media:
            self._photos[photo_id].published = published
        result = {"id": post.id}
        specs = parse_fields(req.param("fields"))
        if specs:
            result.update(self._render_post(post, specs))
        return result

    def _attached_media(self, req: SandboxRequest, page_id: str) -> list[str]:
        raw: list[tuple[str, str]] = []
        keys = set(req.query) | set(req.form())
        for key in keys:
            match = re.fullmatch(r"attached_media\[(\d+)\]", key)
            if match:
                raw.append((match.group(1), req.param(key) or ""))
        raw.sort(key=lambda item: int(item[0]))
        if req.param("attached_media"):
            try:
                listed = json.loads(req.param("attached_media") or "[]")
                raw.extend((str(i), json.dumps(v)) for i, v in enumerate(listed))
            except ValueError:
                raise GraphError(100, "(#100) Param attached_media must be a JSON array") from None
        media: list[str] = []
        for index, value in raw:
            try:
                fbid = str(json.loads(value)["media_fbid"])
            except (ValueError, KeyError, TypeError):
                raise GraphError(
                    100, f'(#100) param attached_media[{index}] must be {{"media_fbid": ...}}'
                ) from None
            photo = self._photos.get(fbid)
            if (
                photo is None
                or photo.deleted
                or photo.page_id != page_id
                or photo.published
                or photo.post_id is not None
                or fbid in media
            ):
                raise GraphError(
                    100, f"(#100) param attached_media[{index}] has invalid media_fbid"
                )
            media.append(fbid)
        if len(media) > MAX_ATTACHED:
            raise GraphError(
                100,
                f"(#100) A post can have at most {MAX_ATTACHED} attached photos "
                "(sandbox: the practical maximum, unconfirmed)",
            )
        return media

    def _check_duplicate(self, page_id: str, message: str, now: datetime) -> None:
        text = " ".join(message.split())
        if not text:
            return
        for post in self._posts.values():
            if (
                post.page_id == page_id
                and not post.deleted
                and now - post.made_at < self.duplicate_window
                and " ".join(post.message.split()) == text
            ):
                raise GraphError(506)

    def _publish_photo(
        self, page_id: str, req: SandboxRequest, principal: _Principal
    ) -> dict[str, Any]:
        self._require_owner(principal, page_id)
        form = req.form()
        upload = form.files.get("source") or next(iter(form.files.values()), None)
        data = upload.data if upload else None
        if data is None and req.param("url"):
            data = self.ctx.read_public(req.param("url") or "")
        if data is None:
            raise GraphError(324, "(#324) Requires upload file")
        if len(data) > MAX_PHOTO_BYTES:
            raise GraphError(
                100,
                "Invalid parameter",
                subcode=1366046,
                user_title="Photo size too large",
                user_msg="The photo you're trying to upload is too large. Please make sure "
                "the photo is smaller than 4 MB",
            )
        content_type = _is_image(data)
        if content_type is None:
            raise GraphError(324)
        caption = req.param("caption") or req.param("message") or ""
        self._check_message(caption)
        published = _flag(req.param("published"), True)
        temporary = _flag(req.param("temporary"), False)
        scheduled_raw = req.param("scheduled_publish_time")
        scheduled_for = None
        if scheduled_raw:
            if published:
                raise GraphError(
                    100, "(#100) Cannot specify a scheduled publish time on a published post"
                )
            scheduled_for = self._parse_time(scheduled_raw, "scheduled_publish_time")
            self._check_schedule(scheduled_for)
        now = self.ctx.clock()
        if published or scheduled_for is not None:
            self._check_posting_rate(page_id)
        photo_id = self._new_photo(page_id, data, content_type, caption, published, temporary)
        if not published and scheduled_for is None:
            return {"id": photo_id}
        post = self._new_post(page_id, caption, None, "photo", now, published, [photo_id])
        post.app_id = principal.app_id
        post.scheduled_for = scheduled_for
        if self.photo_post_id == "never" or (
            self.photo_post_id == "unscheduled" and scheduled_for is not None
        ):
            return {"id": photo_id}  # the sheet: post_id may be missing (unconfirmed)
        return {"id": photo_id, "post_id": post.id}

    def _update(self, node_id: str, req: SandboxRequest, principal: _Principal) -> dict[str, Any]:
        post = self._live_post(node_id)
        self._require_owner(principal, post.page_id)
        message = req.param("message")
        scheduled_raw = req.param("scheduled_publish_time")
        go_live = _flag(req.param("is_published"), False)
        if message is None and scheduled_raw is None and not go_live:
            raise GraphError(100, "(#100) No fields to update were given")
        now = self.ctx.clock()
        if scheduled_raw is not None:
            if post.published:
                raise GraphError(100, "(#100) Cannot reschedule a post that is already published")
            when = self._parse_time(scheduled_raw, "scheduled_publish_time")
            self._check_schedule(when)
            post.scheduled_for = when
        if message is not None:
            if post.app_id != principal.app_id:
                raise GraphError(
                    200,
                    "(#200) Permissions error: only posts made by this app can be edited",
                )
            self._check_message(message)
            post.message = message
            post.updated_time = now
            for photo_id in post.photos:
                self._photos[photo_id].caption = message
        if go_live and not post.published:
            post.scheduled_for = None
            self._make_live(post, now)
        return {"success": True}

    def _delete(self, node_id: str, principal: _Principal) -> dict[str, Any]:
        post = self._posts.get(node_id)
        if post is not None and not post.deleted:
            self._require_owner(principal, post.page_id)
            post.deleted = True
            for photo_id in post.photos:
                self._photos[photo_id].deleted = True
            return {"success": True}
        photo = self._photos.get(node_id)
        if photo is not None and not photo.deleted:
            self._require_owner(principal, photo.page_id)
            photo.deleted = True
            if photo.post_id and photo.post_id in self._posts:
                owner = self._posts[photo.post_id]
                owner.photos = [p for p in owner.photos if p != photo.id]
            return {"success": True}
        raise _missing(node_id)

    # ------------------------------------------------------------ web views

    def _web(self, req: SandboxRequest) -> SandboxResponse | None:
        """Permalinks and photos, so the demo's links open in a browser."""
        if req.method not in ("GET", "HEAD"):
            return None
        photo_match = _WEB_PHOTO.match(req.path)
        if photo_match:
            req.route = "/graph-photos/{id}"
            photo = self._photos.get(photo_match.group(1))
            if photo is None or photo.deleted:
                return SandboxResponse.text("not found", 404)
            return SandboxResponse(200, {"Content-Type": photo.content_type}, photo.data)
        post_match = _WEB_POST.match(req.path)
        if not post_match:
            return None
        req.route = "/{page}/posts/{n}"
        self._go_live()
        post = self._posts.get(f"{post_match.group(1)}_{post_match.group(2)}")
        if post is None or post.deleted or not post.published:
            return SandboxResponse.text("Bài viết không tồn tại hoặc chưa đăng.", 404)
        page = self._pages.get(post.page_id)
        photos = "".join(
            f'<img src="/graph-photos/{p}" style="max-width:100%">' for p in post.photos
        )
        body = (
            f"<!doctype html><meta charset=utf-8><title>{html.escape(page.name if page else '')}"
            f"</title><h1>{html.escape(page.name if page else '')}</h1>"
            f"<p><small>{graph_time(post.created_time)}</small></p>"
            f"<pre style='white-space:pre-wrap'>{html.escape(post.message)}</pre>{photos}"
        )
        return SandboxResponse.text(body, content_type="text/html; charset=utf-8")
