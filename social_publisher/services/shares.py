"""Which agencies re-shared which post, and whether on time.

Shares reach the database two ways. Detection reads the feed of every agency
Page that granted the tool a token (or that is another unit's of the same install, read
with that unit's own Page token: :func:`install_unit_pages`) and matches items against
our posts (parent id, attachment target, permalink): those rows are ``source="feed"``,
``verified=True``. Everything else is recorded by hand with ``shares import``
from the links agencies report; the tool checks each link is on that agency's
own Page (or Zalo OA), and ties it to our post by the ``post`` column, or,
when that is empty, to the only post we published in the 7 days before.

A share is *on time* when it came within SHARE_ON_TIME_HOURS of the post,
*late* after that, *pending* while that window is still open, and *missing*
once it has closed with no share. Rates count only posts whose window has
closed: a post shared by 3 of 15 agencies an hour ago is neither 100 % nor 20 %.
"""

from __future__ import annotations

import enum
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from ..channels.base import ReadsFeeds
from ..config import Settings
from ..errors import (
    AppSecretProofError,
    AuthError,
    ChannelError,
    PermissionDeniedError,
    Problem,
)
from ..queue.dates import read_datetime
from ..states import LIVE_STATES
from ..store import Database, Meta, Post, PostVersion, Publication, Share
from ..store.tenancy import unit_key
from ..units import Unit, loaded_units
from .agencies import (
    AgencyInfo,
    FileProblems,
    ShareTargets,
    agency_infos,
    read_csv,
    resolve_share_with,
    slug,
)

log = logging.getLogger("social_publisher.shares")

#: a manual share with no ``post`` column is tied to the only post of this many days before it
INFER_POST_DAYS = 7
#: feed detection looks for shares of posts published in this many days
TRACK_DAYS = 30
#: an agency's feed is read at most this often by the hourly collection
FEED_INTERVAL = timedelta(hours=3)
FEED_CURSOR_KEY = "facebook:feed_read:{page_id}"
#: an agency whose Page could not be read for a reason staff must fix (``status`` shows it)
UNREADABLE_KEY = "facebook:agency_unreadable:{agency_id}"
UNREADABLE_PREFIX = "facebook:agency_unreadable:"
_FB_HOSTS = ("facebook.com", "fb.com", "fb.me", "fb.watch")
_FB_NOT_A_PAGE = {
    "permalink.php",
    "story.php",
    "photo.php",
    "photo",
    "photos",
    "watch",
    "share",
    "groups",
    "profile.php",
    "reel",
    "posts",
    "people",
    "pages",
    "videos",
    "events",
}


class ShareState(enum.StrEnum):
    ON_TIME = "dung-han"
    LATE = "muon"
    MISSING = "chua-chia-se"
    PENDING = "dang-cho"


_STATES = (ShareState.ON_TIME, ShareState.LATE, ShareState.MISSING, ShareState.PENDING)

STATE_LABELS = {
    ShareState.ON_TIME: "đúng hạn",
    ShareState.LATE: "muộn",
    ShareState.MISSING: "chưa chia sẻ",
    ShareState.PENDING: "đang chờ",
}


# ------------------------------------------------------------------ our live posts


@dataclass(frozen=True)
class PubRef:
    id: int
    channel: str
    remote_id: str | None
    remote_url: str | None
    published_at: datetime


@dataclass(frozen=True)
class PostRef:
    """A post with the publications of it that went live in a period."""

    post_id: int
    folder: str
    title: str
    published_at: datetime  # the first of its publications
    share_with: tuple[str, ...]
    pubs: tuple[PubRef, ...]

    def pub(self, channel: str) -> PubRef | None:
        return next((p for p in self.pubs if p.channel == channel), None)

    @property
    def link(self) -> str | None:
        for channel in ("facebook", "zalo"):
            pub = self.pub(channel)
            if pub is not None and pub.remote_url:
                return pub.remote_url
        return None


def live_publications(start: datetime | None = None, end: datetime | None = None) -> Select[Any]:
    """Publications that went live (published_at in [start, end)): the id subquery reports reuse."""
    stmt = select(Publication.id).where(
        Publication.state.in_(LIVE_STATES), Publication.published_at.is_not(None)
    )
    if start is not None:
        stmt = stmt.where(Publication.published_at >= start)
    if end is not None:
        stmt = stmt.where(Publication.published_at < end)
    return stmt


def live_posts(session: Session, start: datetime | None, end: datetime | None) -> list[PostRef]:
    """Posts with at least one publication live in the period, oldest first (one query)."""
    pub_version = aliased(PostVersion)
    current_version = aliased(PostVersion)
    stmt = (
        select(
            Publication.id,
            Publication.channel,
            Publication.remote_id,
            Publication.remote_url,
            Publication.published_at,
            Post.id,
            Post.folder,
            Post.title,
            pub_version.share_with,
            pub_version.title,
            current_version.share_with,
        )
        .join(Post, Post.id == Publication.post_id)
        .outerjoin(pub_version, pub_version.id == Publication.version_id)
        .outerjoin(current_version, current_version.id == Post.current_version_id)
        .where(Publication.id.in_(live_publications(start, end)))
        .order_by(Publication.published_at, Publication.id)
    )
    grouped: dict[int, dict[str, Any]] = {}
    for pid, channel, rid, url, at, post_id, folder, title, sw, vtitle, cur_sw in session.execute(
        stmt
    ):
        entry = grouped.setdefault(
            post_id,
            {
                "folder": folder,
                "title": vtitle or title or folder,
                "share_with": sw if sw is not None else cur_sw,
                "pubs": [],
            },
        )
        if entry["share_with"] is None and sw is not None:
            entry["share_with"] = sw
        entry["pubs"].append(PubRef(pid, channel, rid, url, at))
    posts = [
        PostRef(
            post_id=post_id,
            folder=e["folder"],
            title=e["title"],
            published_at=min(p.published_at for p in e["pubs"]),
            share_with=tuple(str(x) for x in (e["share_with"] or [])),
            pubs=tuple(e["pubs"]),
        )
        for post_id, e in grouped.items()
    ]
    posts.sort(key=lambda p: (p.published_at, p.post_id))
    return posts


# ------------------------------------------------------------------ the matrix


class ShareRef(NamedTuple):  # NamedTuples: a year's matrix builds ~100,000 of these
    publication_id: int
    url: str | None
    shared_at: datetime | None
    source: str
    verified: bool


class Cell(NamedTuple):
    expected: bool
    state: ShareState | None  # None: not expected and not shared
    share: ShareRef | None = None


@dataclass
class Tally:
    expected: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0
    #: every expected share of a post whose window is still open, shared yet or not
    pending: int = 0
    #: of ``pending``, those already made: facts, but not in a rate until the window closes
    pending_shared: int = 0

    @property
    def shared(self) -> int:
        """Shares counted in the rates (posts whose window has closed)."""
        return self.on_time + self.late

    @property
    def shared_so_far(self) -> int:
        return self.shared + self.pending_shared

    @property
    def due(self) -> int:
        """Expected shares of posts whose window has closed."""
        return self.expected - self.pending

    @property
    def rate(self) -> float | None:
        return self.shared / self.due if self.due else None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.due if self.due else None

    @classmethod
    def of(cls, counts: Sequence[int]) -> Tally:
        """From counts ordered like ``_STATES`` (on time, late, missing, pending), then how
        many of the pending were already shared."""
        on_time, late, missing, pending, *shared = counts
        return cls(on_time + late + missing + pending, on_time, late, missing, pending, sum(shared))

    def add(self, state: ShareState, n: int = 1, *, window_open: bool = False) -> None:
        self.expected += n
        if window_open or state is ShareState.PENDING:
            self.pending += n
            if state is not ShareState.PENDING:
                self.pending_shared += n
        elif state is ShareState.ON_TIME:
            self.on_time += n
        elif state is ShareState.LATE:
            self.late += n
        else:
            self.missing += n


@dataclass
class ShareMatrix:
    start: datetime | None
    end: datetime | None
    now: datetime
    on_time_hours: float
    posts: list[PostRef]
    agencies: list[AgencyInfo]
    cells: dict[tuple[int, str], Cell]
    per_agency: dict[str, Tally]
    per_post: dict[int, Tally]
    total: Tally
    warnings: list[str] = field(default_factory=list)
    #: posts whose on-time window is still open at ``now`` (their shares are not in rates yet)
    open_posts: frozenset[int] = frozenset()


def evaluate(
    published_at: datetime, share: ShareRef | None, *, now: datetime, window: timedelta
) -> ShareState:
    if share is not None:
        if share.shared_at is not None and share.shared_at - published_at <= window:
            return ShareState.ON_TIME
        return ShareState.LATE
    return ShareState.PENDING if now < published_at + window else ShareState.MISSING


def share_matrix(
    db_or_session: Database | Session,
    settings: Settings,
    start: datetime | None,
    end: datetime | None,
    *,
    now: datetime,
    posts: list[PostRef] | None = None,
) -> ShareMatrix:
    """Post × agency for posts live in [start, end), judged as of ``now``."""
    if isinstance(db_or_session, Session):
        return _share_matrix(db_or_session, settings, start, end, now=now, posts=posts)
    with db_or_session.session() as session:
        return _share_matrix(session, settings, start, end, now=now, posts=posts)


def _share_matrix(
    session: Session,
    settings: Settings,
    start: datetime | None,
    end: datetime | None,
    *,
    now: datetime,
    posts: list[PostRef] | None,
) -> ShareMatrix:
    window = timedelta(hours=settings.share_on_time_hours)
    if posts is None:
        posts = live_posts(session, start, end)
    agencies = agency_infos(session)
    pub_to_post = {pub.id: post.post_id for post in posts for pub in post.pubs}

    # earliest share of each (post, agency), over all the post's publications
    shares: dict[tuple[int, str], ShareRef] = {}
    rows = session.execute(
        select(
            Share.publication_id,
            Share.agency_id,
            Share.url,
            Share.shared_at,
            Share.source,
            Share.verified,
        ).where(Share.publication_id.in_(live_publications(start, end)))
    )
    for pub_id, agency_id, url, shared_at, source, verified in rows:
        key = (pub_to_post[pub_id], agency_id)
        ref = ShareRef(pub_id, url, shared_at, source, verified)
        old = shares.get(key)
        if old is None or _earlier(ref, old):
            shares[key] = ref

    by_post: dict[int, dict[str, ShareRef]] = defaultdict(dict)
    for (post_id, agency_id), ref in shares.items():
        by_post[post_id][agency_id] = ref

    cells: dict[tuple[int, str], Cell] = {}
    # counted into plain lists indexed like _STATES and turned into tallies at the end: a
    # year of a busy Page is ~100,000 cells, so the loop stays lean
    agency_counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    post_counts: dict[int, list[int]] = {}
    warnings: list[str] = []
    if not agencies:
        warnings.append(
            f"Chưa có đơn vị nào trong cơ sở dữ liệu: kiểm tra tệp {settings.agencies_file} "
            "(AGENCIES_FILE)."
        )
    resolved: dict[tuple[tuple[str, ...], frozenset[str]], ShareTargets] = {}
    on_time, late, missing, pending = _STATES
    open_posts: set[int] = set()
    for post in posts:
        present = frozenset(a.id for a in agencies if a.existed_at(post.published_at))
        memo = (post.share_with, present)
        targets = resolved.get(memo)
        if targets is None:
            targets = resolved[memo] = resolve_share_with(
                post.share_with, settings.default_share_with, agencies, at=post.published_at
            )
        for token in targets.unknown:
            warnings.append(
                f"Bài “{post.title}” (thư mục {post.folder}): “Chia sẻ” ghi “{token}”, "
                f"không phải mã đơn vị hay nhóm nào trong {settings.agencies_file}; "
                "sửa lại ở bài viết hoặc thêm đơn vị vào tệp."
            )
        post_shares = by_post.get(post.post_id, {})
        deadline = post.published_at + window
        window_open = now < deadline
        if window_open:
            open_posts.add(post.post_id)
        waiting, waiting_i = (pending, 3) if window_open else (missing, 2)
        counts = post_counts[post.post_id] = [0, 0, 0, 0, 0]
        expected_ids = targets.agency_ids
        for agency_id in expected_ids | post_shares.keys():
            share = post_shares.get(agency_id)
            if share is None:
                state, index = waiting, waiting_i
            elif share.shared_at is not None and share.shared_at <= deadline:
                state, index = on_time, 0
            else:
                state, index = late, 1
            expected = agency_id in expected_ids
            cells[(post.post_id, agency_id)] = Cell(expected, state, share)
            if expected:
                if window_open and share is not None:  # a fact, but not in a rate yet
                    agency_counts[agency_id][4] += 1
                    counts[4] += 1
                    index = 3
                agency_counts[agency_id][index] += 1
                counts[index] += 1
    involved = {aid for (_, aid) in cells}
    shown = [a for a in agencies if a.active or a.id in involved]
    per_agency = {a.id: Tally.of(agency_counts.get(a.id, [0, 0, 0, 0, 0])) for a in shown}
    per_post = {post_id: Tally.of(c) for post_id, c in post_counts.items()}
    total = Tally.of([sum(c[i] for c in post_counts.values()) for i in range(5)])
    return ShareMatrix(
        start=start,
        end=end,
        now=now,
        on_time_hours=settings.share_on_time_hours,
        posts=posts,
        agencies=shown,
        cells=cells,
        per_agency=per_agency,
        per_post=per_post,
        total=total,
        warnings=warnings,
        open_posts=frozenset(open_posts),
    )


def _earlier(a: ShareRef, b: ShareRef) -> bool:
    if a.shared_at is None:
        return False
    return b.shared_at is None or a.shared_at < b.shared_at


# ------------------------------------------------------------------ links


def _host_is(host: str, domains: Iterable[str]) -> bool:
    host = host.lower().split(":")[0]
    return any(host == d or host.endswith("." + d) for d in domains)


def facebook_page_keys(url: str) -> set[str]:
    """What names a Page in a Facebook URL: its username and/or numeric id."""
    parts = urlsplit(url if "://" in url else "https://" + url)
    if not _host_is(parts.netloc, _FB_HOSTS):
        return set()
    segments = [s for s in parts.path.split("/") if s]
    query = parse_qs(parts.query)
    keys: set[str] = set()
    for name in ("id", "profile_id", "page_id"):
        keys.update(v for v in query.get(name, []) if v.isdigit())
    if segments:
        first = segments[0].lower()
        if first == "pages" and len(segments) >= 2:
            keys.add(segments[1].lower())
            keys.update(s for s in segments[2:] if s.isdigit())
        elif first not in _FB_NOT_A_PAGE:
            keys.add(first)
    return keys


def agency_page_keys(agency: AgencyInfo) -> set[str]:
    keys = facebook_page_keys(agency.fb_page_url) if agency.fb_page_url else set()
    if agency.fb_page_id:
        keys.add(agency.fb_page_id)
    return keys


def check_link_owner(link: str, agency: AgencyInfo, agencies_file: Path) -> tuple[str, str | None]:
    """(kind, None) when ``link`` is on the agency's own page, else (kind, Vietnamese error)."""
    parts = urlsplit(link)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "", (
            f"liên kết “{link}” không phải địa chỉ web; chép nguyên địa chỉ bài chia sẻ "
            "(bắt đầu bằng https://)."
        )
    if _host_is(parts.netloc, ("zalo.me",)):
        if not agency.zalo_oa_id:
            return "zalo", (
                f"đơn vị “{agency.id}” chưa có zalo_oa_id trong {agencies_file}, nên không kiểm "
                "tra được liên kết Zalo; bổ sung mã Zalo OA của đơn vị."
            )
        if agency.zalo_oa_id not in link:
            return "zalo", (
                f"liên kết Zalo “{link}” không thuộc Zalo OA của {agency.name} "
                f"(mã {agency.zalo_oa_id}); kiểm tra lại đơn vị hoặc liên kết."
            )
        return "zalo", None
    if not _host_is(parts.netloc, _FB_HOSTS):
        return "", (
            f"liên kết “{link}” không phải Facebook hay Zalo; chép địa chỉ bài chia sẻ trên "
            "Trang Facebook (hoặc Zalo OA) của đơn vị."
        )
    segments = [s.lower() for s in parts.path.split("/") if s]
    short = _host_is(parts.netloc, ("fb.me", "fb.watch")) or (segments[:1] == ["share"])
    if short:
        return "facebook", (
            f"liên kết rút gọn “{link}” không cho biết Trang nào đã chia sẻ; mở liên kết rồi "
            "chép địa chỉ đầy đủ trên thanh địa chỉ của trình duyệt."
        )
    mine = agency_page_keys(agency)
    if not mine:
        return "facebook", (
            f"đơn vị “{agency.id}” chưa có fb_page_url hoặc fb_page_id trong {agencies_file}, "
            "nên không kiểm tra được liên kết; bổ sung địa chỉ Trang Facebook của đơn vị."
        )
    if not (facebook_page_keys(link) & mine):
        return "facebook", (
            f"liên kết “{link}” không nằm trên Trang Facebook của {agency.name} "
            f"({agency.fb_page_url or agency.fb_page_id}); kiểm tra lại cột agency hoặc liên kết."
        )
    return "facebook", None


# ------------------------------------------------------------------ import


_IMPORT_COLUMNS = {
    "agency": ("agency", "don_vi", "ma_don_vi"),
    "link": ("link", "lien_ket", "url", "duong_dan"),
    "time": ("time", "thoi_gian", "thoi_diem"),
    "post": ("post", "bai_viet", "bai"),
}


def parse_local_time(text: str, tz: ZoneInfo) -> datetime | None:
    """A share time as staff write it: the queue's own reader and forms (``5/10/2024 14h``,
    ``14h30 ngày 5/10/2024``… in ``tz``, or ISO 8601 with a time); a date alone cannot say
    whether it was on time."""
    return read_datetime(text, tz).value


@dataclass(frozen=True)
class ImportedShare:
    line: int
    agency_id: str
    post_id: int
    publication_id: int
    url: str
    shared_at: datetime
    #: added | updated | kept (already found in the agency's feed) | unchanged
    action: str = "added"
    folder: str = ""


@dataclass
class ImportReport:
    path: Path
    rows: list[ImportedShare] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    written: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def import_shares(
    db: Database,
    settings: Settings,
    path: Path,
    *,
    now: datetime,
    dry_run: bool = False,
) -> ImportReport:
    """Record the shares of a CSV (agency,link,time[,post]); all rows or none.

    Every row is checked first; if any row has a problem nothing is written and
    every problem is reported, so staff fix the file and import it again (a
    re-import never duplicates: one share per post and agency).
    """
    report = ImportReport(path=path)
    try:
        table = read_csv(path, what="danh sách chia sẻ")
    except FileProblems as exc:
        report.problems = exc.problems
        return report
    shown = str(path)
    columns: dict[str, str] = {}
    for key, aliases in _IMPORT_COLUMNS.items():
        found = next((c for c in table.header if c in aliases), None)
        if found:
            columns[key] = found
        elif key != "post":
            report.problems.append(
                Problem(
                    shown,
                    f"thiếu cột “{key}” ở dòng tiêu đề; dòng đầu phải là: agency,link,time,post "
                    "(cột post không bắt buộc).",
                    table.header_line,
                )
            )
    if report.problems:
        return report
    tz = settings.tz
    with db.session() as s:
        agencies = {a.id: a for a in agency_infos(s)}
        posts = live_posts(s, None, None)
        by_pub = {(pub.id): post for post in posts for pub in post.pubs}  # publication id → post
        seen: dict[tuple[int, str], int] = {}
        planned: list[ImportedShare] = []
        for row in table.rows:
            problem = _check_row(
                row.values, columns, agencies, posts, settings, tz, now=now, seen=seen
            )
            if isinstance(problem, str):
                report.problems.append(Problem(shown, problem, row.line))
                continue
            agency_id, post, pub, link, when = problem
            seen[(post.post_id, agency_id)] = row.line
            planned.append(
                ImportedShare(
                    row.line, agency_id, post.post_id, pub.id, link, when, folder=post.folder
                )
            )
        if report.problems:
            return report
        existing = {
            (sh.publication_id, sh.agency_id): sh
            for sh in s.scalars(
                select(Share).where(Share.publication_id.in_([p.publication_id for p in planned]))
            )
        }
        # a post already shared by that agency on another channel counts as the same share
        for item in planned:
            share = existing.get((item.publication_id, item.agency_id))
            if share is None:
                share = next(
                    (
                        sh
                        for (pub_id, aid), sh in existing.items()
                        if aid == item.agency_id and by_pub[pub_id].post_id == item.post_id
                    ),
                    None,
                )
            if share is not None and share.source == "feed":
                action = "kept"
            elif share is not None:
                action = (
                    "unchanged"
                    if share.url == item.url and share.shared_at == item.shared_at
                    else "updated"
                )
                if not dry_run:
                    share.url = item.url
                    share.shared_at = item.shared_at
                    share.note = f"nhập tay từ {path.name} dòng {item.line}"
                    share.recorded_at = now
            else:
                action = "added"
                if not dry_run:
                    s.add(
                        Share(
                            publication_id=item.publication_id,
                            agency_id=item.agency_id,
                            url=item.url,
                            shared_at=item.shared_at,
                            source="manual",
                            verified=False,
                            note=f"nhập tay từ {path.name} dòng {item.line}",
                            recorded_at=now,
                        )
                    )
            report.rows.append(
                ImportedShare(
                    item.line,
                    item.agency_id,
                    item.post_id,
                    item.publication_id,
                    item.url,
                    item.shared_at,
                    action,
                    item.folder,
                )
            )
        if dry_run:
            s.rollback()
        report.written = not dry_run
    return report


def _check_row(
    values: Mapping[str, str],
    columns: Mapping[str, str],
    agencies: Mapping[str, AgencyInfo],
    posts: Sequence[PostRef],
    settings: Settings,
    tz: ZoneInfo,
    *,
    now: datetime,
    seen: Mapping[tuple[int, str], int],
) -> str | tuple[str, PostRef, PubRef, str, datetime]:
    """The row's (agency, post, publication, link, time), or a Vietnamese problem."""
    raw_agency = values.get(columns["agency"], "")
    link = values.get(columns["link"], "")
    raw_time = values.get(columns["time"], "")
    raw_post = values.get(columns["post"], "") if "post" in columns else ""
    agency = agencies.get(raw_agency) or agencies.get(slug(raw_agency))
    if not raw_agency:
        return "thiếu mã đơn vị (cột agency), ví dụ phuong-pho-hoa."
    if agency is None:
        return (
            f"mã đơn vị “{raw_agency}” không có trong {settings.agencies_file}; dùng mã ở cột id "
            "của tệp đó (ví dụ phuong-pho-hoa)."
        )
    if not link:
        return "thiếu liên kết bài chia sẻ (cột link)."
    kind, problem = check_link_owner(link, agency, settings.agencies_file)
    if problem:
        return problem
    if not raw_time:
        return "thiếu thời điểm chia sẻ (cột time), dạng dd/mm/yyyy HH:MM, ví dụ 10/10/2024 08:15."
    reading = read_datetime(raw_time, tz)
    when = reading.value
    if when is None:  # what is wrong, and the closest reading when there is one
        return f"thời điểm “{raw_time}” {reading.problem}"
    if when > now + timedelta(minutes=5):
        return f"thời điểm “{raw_time}” ở tương lai; kiểm tra lại ngày giờ chia sẻ."
    post: PostRef | None
    if raw_post:
        post = _find_post(raw_post, posts)
        if post is None:
            return (
                f"không tìm thấy bài “{raw_post}” (cột post) trong các bài đã đăng; ghi tên "
                "thư mục bài trong hàng đợi hoặc liên kết bài trên Trang của thị xã."
            )
    else:
        before = [
            p for p in posts if when - timedelta(days=INFER_POST_DAYS) <= p.published_at <= when
        ]
        if len(before) != 1:
            found = (
                "không có bài nào"
                if not before
                else f"có {len(before)} bài ({', '.join(p.folder for p in before)})"
            )
            return (
                f"cột post trống và {found} được đăng trong {INFER_POST_DAYS} ngày trước "
                f"{when.astimezone(tz):%d/%m/%Y %H:%M}; ghi tên thư mục bài vào cột post."
            )
        post = before[0]
    if when < post.published_at - timedelta(minutes=1):
        return (
            f"thời điểm chia sẻ {when.astimezone(tz):%d/%m/%Y %H:%M} sớm hơn lúc đăng bài "
            f"“{post.title}” ({post.published_at.astimezone(tz):%d/%m/%Y %H:%M}); "
            "kiểm tra lại ngày giờ hoặc cột post."
        )
    first = seen.get((post.post_id, agency.id))
    if first is not None:
        return (
            f"trùng với dòng {first}: {agency.id} đã có một lượt chia sẻ bài “{post.title}” "
            "trong tệp; xóa một trong hai dòng."
        )
    pub = post.pub(kind) or post.pubs[0]
    return agency.id, post, pub, link, when


def _find_post(ref: str, posts: Sequence[PostRef]) -> PostRef | None:
    ref = ref.strip()
    key = slug(Path(ref.rstrip("/\\")).name) if "://" not in ref else ""
    for post in posts:
        if key and (slug(Path(post.folder).name) == key or slug(post.folder) == key):
            return post
        for pub in post.pubs:
            if pub.remote_id and (ref == pub.remote_id or ref.rstrip("/").endswith(pub.remote_id)):
                return post
            if pub.remote_url and ref.rstrip("/") == pub.remote_url.rstrip("/"):
                return post
            # a link to our post whose id is the part after the page id: /posts/<post id>
            if pub.remote_id and "_" in pub.remote_id and "://" in ref:
                post_part = pub.remote_id.split("_", 1)[1]
                if re.search(rf"(?:/|=){re.escape(post_part)}(?:\D|$)", ref):
                    return post
    return None


# ------------------------------------------------------------------ feed detection


@dataclass(frozen=True)
class UnitPage:
    """A Page of a unit of this install: an agency on it is read with the unit's own token."""

    unit_id: str
    unit_name: str
    page_id: str
    token: str = field(repr=False)
    #: the app that issued the token (``FB_APP_ID`` of that unit)
    app_id: str = ""


def unit_pages(units: Sequence[Unit]) -> dict[str, UnitPage]:
    """Each unit's Page (with a token) by Page id."""
    return {
        u.settings.fb_page_id: UnitPage(
            u.id,
            u.name,
            u.settings.fb_page_id,
            u.settings.fb_page_access_token,
            u.settings.fb_app_id,
        )
        for u in units
        if u.settings.fb_page_id and u.settings.fb_page_access_token
    }


def install_unit_pages(settings: Settings) -> dict[str, UnitPage]:
    """The Pages of the install's units, as this process loaded them from its units file
    (none without one): for callers handed one unit's settings only (a collection)."""
    units = loaded_units(settings)
    return unit_pages(units) if units else {}


def _other_units(settings: Settings, pages: Mapping[str, UnitPage] | None) -> dict[str, UnitPage]:
    found = install_unit_pages(settings) if pages is None else dict(pages)
    found.pop(settings.fb_page_id, None)  # our own Page is not an agency of ours
    return found


def _with_proof(settings: Settings, page: UnitPage) -> bool:
    """Our ``appsecret_proof`` goes with the other unit's token only if one app issued both."""
    return bool(settings.fb_app_secret and page.app_id and page.app_id == settings.fb_app_id)


def unit_agency_reads(
    db: Database, settings: Settings, pages: Mapping[str, UnitPage] | None = None
) -> list[tuple[AgencyInfo, UnitPage, datetime | None]]:
    """Agencies that are units of this install: (agency, its unit's Page, last read)."""
    others = _other_units(settings, pages)
    if not others:
        return []
    with db.session() as s:
        agencies = [a for a in agency_infos(s) if a.active and a.fb_page_id in others]
        cursors = {
            m.key: m.value
            for m in s.scalars(select(Meta).where(Meta.key.like("facebook:feed_read:%")))
        }
    out: list[tuple[AgencyInfo, UnitPage, datetime | None]] = []
    for agency in agencies:
        assert agency.fb_page_id
        read = cursors.get(FEED_CURSOR_KEY.format(page_id=agency.fb_page_id), {}).get("read_at")
        out.append(
            (agency, others[agency.fb_page_id], datetime.fromisoformat(read) if read else None)
        )
    return out


@dataclass
class DetectReport:
    pages_read: int = 0
    found: list[tuple[str, int]] = field(default_factory=list)  # (agency id, publication id)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def detect_shares(
    db: Database,
    settings: Settings,
    *,
    now: datetime,
    facebook: ReadsFeeds,
    match_share: Any,
    force: bool = False,
    pages: Mapping[str, UnitPage] | None = None,
) -> DetectReport:
    """Read the feed of every agency Page we have a token for; record shares of our posts.

    ``match_share(item, our_posts)`` is the Facebook channel's matcher (parent id,
    attachment target, permalink) returning our remote id or None. An agency whose Page is
    another unit's (``pages``; None: the units this process loaded) is read with that unit's
    Page token, whatever its ``token_setting`` says.
    """
    report = DetectReport()
    since_track = now - timedelta(days=TRACK_DAYS)
    others = _other_units(settings, pages)
    with db.session() as s:
        agencies = [
            a
            for a in agency_infos(s)
            if a.active and a.fb_page_id and (a.token_setting or a.fb_page_id in others)
        ]
        ours = [
            (pid, str(rid), url, at)
            for pid, rid, url, at in s.execute(
                select(
                    Publication.id,
                    Publication.remote_id,
                    Publication.remote_url,
                    Publication.published_at,
                )
                .where(Publication.id.in_(live_publications(since_track, None)))
                .where(Publication.channel == "facebook", Publication.remote_id.is_not(None))
            )
            if rid and at is not None
        ]
        shared: set[tuple[int, str]] = {
            (pub_id, agency_id)
            for pub_id, agency_id in s.execute(
                select(Share.publication_id, Share.agency_id).where(
                    Share.publication_id.in_([o[0] for o in ours]), Share.source == "feed"
                )
            )
        }
        cursors = {
            m.key: m.value
            for m in s.scalars(select(Meta).where(Meta.key.like("facebook:feed_read:%")))
        }
    if not ours:
        return report
    our_posts = {rid: url or "" for _, rid, url, _ in ours}
    pub_by_remote = {rid: pid for pid, rid, _, _ in ours}
    for agency in agencies:
        assert agency.fb_page_id
        unit_page = others.get(agency.fb_page_id)
        if unit_page is not None:
            token, with_proof = unit_page.token, _with_proof(settings, unit_page)
            whose = f"mã Trang của đơn vị {unit_page.unit_id} (FB_PAGE_ACCESS_TOKEN của đơn vị đó)"
        else:
            assert agency.token_setting
            token, with_proof = settings.secret(agency.token_setting), agency.token_of_our_app
            whose = f"mã truy cập Trang ở {agency.token_setting}"
        if not token:
            report.notes.append(
                f"{agency.name}: chưa có mã truy cập ở biến {agency.token_setting} trong .env, "
                "bỏ qua việc đọc Trang."
            )
            continue
        waiting = [at for pid, _, _, at in ours if (pid, agency.id) not in shared]
        if not waiting:
            continue
        key = FEED_CURSOR_KEY.format(page_id=agency.fb_page_id)
        last = cursors.get(key, {}).get("read_at")
        last_read = datetime.fromisoformat(last) if last else None
        if not force and last_read is not None and now - last_read < FEED_INTERVAL:
            continue
        since = min(waiting)
        if last_read is not None:
            since = max(since, last_read - timedelta(hours=1))
        try:
            items = facebook.read_page_feed(
                agency.fb_page_id,
                token=token,
                since=since,
                with_proof=with_proof,
            )
        except AppSecretProofError as exc:
            if unit_page is not None:
                problem = (
                    f"{agency.name}: Facebook từ chối {whose} ({exc.platform_message}). Cách "
                    f"sửa: kiểm tra FB_APP_ID của hai đơn vị trong tệp đơn vị và chạy "
                    f"social-publisher doctor --unit {unit_page.unit_id}."
                )
            else:
                problem = proof_advice(agency, exc, settings.agencies_file)
            report.errors.append(problem)
            _mark_unreadable(db, agency, problem, now=now)
            continue
        except AuthError as exc:
            fix = (
                f"cấp lại mã Trang của đơn vị {unit_page.unit_id} (cũng là mã đăng bài của "
                "đơn vị đó)"
                if unit_page is not None
                else "nhờ đơn vị cấp lại mã"
            )
            problem = f"{agency.name}: {whose} không còn hiệu lực ({exc.platform_message}); {fix}."
            report.errors.append(problem)
            _mark_unreadable(db, agency, problem, now=now)
            continue
        except PermissionDeniedError as exc:
            problem = f"{agency.name}: không đọc được Trang ({exc.message})."
            report.errors.append(problem)
            _mark_unreadable(db, agency, problem, now=now)
            continue
        except ChannelError as exc:
            report.errors.append(f"{agency.name}: không đọc được Trang ({exc.message}).")
            continue
        report.pages_read += 1
        with db.session() as s:
            stale = s.get(Meta, unit_key(s, UNREADABLE_KEY.format(agency_id=agency.id)))
            if stale is not None:
                s.delete(stale)
            for item in items:
                remote = match_share(item, our_posts)
                if remote is None or str(remote) not in pub_by_remote:
                    continue
                pub_id = pub_by_remote[str(remote)]
                if (pub_id, agency.id) in shared:
                    continue
                _record_feed_share(s, pub_id, agency.id, item, now=now)
                shared.add((pub_id, agency.id))
                report.found.append((agency.id, pub_id))
            meta = s.get(Meta, unit_key(s, key))
            value = {"read_at": now.isoformat(), "since": since.isoformat(), "items": len(items)}
            if meta is None:
                s.add(Meta(key=key, value=value, updated_at=now))
            else:
                meta.value = value
                meta.updated_at = now
    log.info(
        "share detection: %d pages read, %d shares found", report.pages_read, len(report.found)
    )
    return report


def proof_advice(agency: AgencyInfo, exc: AppSecretProofError, agencies_file: Path) -> str:
    """What staff must change when Graph refused (or wanted) our proof with an agency's token."""
    where = f"ở dòng của đơn vị {agency.id} trong {agencies_file}"
    if exc.proof_sent:
        return (
            f"{agency.name}: mã truy cập ở {agency.token_setting} do ứng dụng Facebook riêng của "
            "đơn vị cấp, không phải ứng dụng của thị xã, nên Facebook từ chối appsecret_proof "
            f"của thị xã đi kèm mã này ({exc.platform_message}). Cách sửa: {where}, để trống "
            "cột token_app (hoặc ghi rieng) để không gửi appsecret_proof với mã này. Đây là lỗi "
            "cấu hình của mã, không phải lỗi bài viết."
        )
    return (
        f"{agency.name}: ứng dụng đã cấp mã ở {agency.token_setting} bật “Require App Secret” "
        f"nên đòi appsecret_proof ({exc.platform_message}). Cách sửa: nếu mã được cấp qua ứng "
        f"dụng của thị xã (FB_APP_ID), ghi chung ở cột token_app {where}; nếu do ứng dụng "
        "riêng của đơn vị, nhờ đơn vị cấp lại mã qua ứng dụng của thị xã. Đây là lỗi cấu hình "
        "của mã, không phải lỗi bài viết."
    )


def _mark_unreadable(db: Database, agency: AgencyInfo, problem: str, *, now: datetime) -> None:
    """Remember why an agency's Page cannot be read, until a read succeeds (``status``)."""
    key = UNREADABLE_KEY.format(agency_id=agency.id)
    value = {"agency": agency.id, "name": agency.name, "reason": problem, "at": now.isoformat()}
    with db.session() as s:
        meta = s.get(Meta, unit_key(s, key))
        if meta is None:
            s.add(Meta(key=key, value=value, updated_at=now))
        else:
            meta.value = value
            meta.updated_at = now


def unreadable_agencies(session: Session) -> list[dict[str, Any]]:
    """The agencies last found unreadable, each ``{agency, name, reason, at}``."""
    rows = session.scalars(select(Meta).where(Meta.key.like(UNREADABLE_PREFIX + "%")))
    return sorted((dict(m.value) for m in rows), key=lambda v: str(v.get("agency")))


def _record_feed_share(
    s: Session, pub_id: int, agency_id: str, item: Any, *, now: datetime
) -> None:
    created = getattr(item, "created_time", None)
    if isinstance(created, datetime) and created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    url = getattr(item, "permalink_url", None)
    remote_id = getattr(item, "id", None)
    share = s.scalars(
        select(Share).where(Share.publication_id == pub_id, Share.agency_id == agency_id)
    ).first()
    if share is None:
        s.add(
            Share(
                publication_id=pub_id,
                agency_id=agency_id,
                url=url,
                remote_id=remote_id,
                shared_at=created,
                source="feed",
                verified=True,
                note="tìm thấy trên Trang của đơn vị",
                recorded_at=now,
            )
        )
        return
    # a share staff recorded by hand, now confirmed on the page itself
    share.source = "feed"
    share.verified = True
    share.url = url or share.url
    share.remote_id = remote_id
    share.shared_at = created or share.shared_at
    share.note = f"{share.note or ''}; xác nhận trên Trang của đơn vị".lstrip("; ")
    share.recorded_at = now
