"""The agencies expected to re-share posts, read from ``agencies.csv``.

The administrative map is data, not code: Vietnam's 2025 reorganisation merged
communes and removed the district level, so merging or renaming units is an
edit of the file. A unit that leaves the file is deactivated, never deleted,
so its share history stays in past reports; and the first time each unit was
seen is remembered, so a unit added in November is not counted "missing" for
January's posts.

The CSV reader here is shared with ``shares import``: staff save these files
from Excel or Notepad, so UTF-8 with or without BOM, UTF-16 and Windows-1258
are accepted, and Excel's ``;`` separator (Vietnamese regional settings) too.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Settings
from ..errors import ConfigError, Problem
from ..queue.share_list import ALL_AGENCIES as ALL_AGENCIES
from ..queue.share_list import GROUPS as GROUPS
from ..queue.share_list import NOBODY as NOBODY
from ..queue.share_list import AgencyEntry, ShareDirectory
from ..store import Agency, Database, Meta
from ..store.tenancy import unit_key

# GROUPS, ALL_AGENCIES and NOBODY (the groups and keywords of ``Chia sẻ``) live with the
# queue, which reads ``Chia sẻ`` at ``check`` time

COLUMNS = (
    "id",
    "name",
    "group",
    "fb_page_id",
    "fb_page_url",
    "zalo_oa_id",
    "token_setting",
    "token_app",
)
#: ``token_app``: the agency's token came from its own app (default: never our
#: appsecret_proof, Graph refuses it) or through the town's app (FB_APP_ID: our proof)
TOKEN_APP_OWN = "rieng"
TOKEN_APP_OURS = "chung"
_TOKEN_APP_WORDS = {
    "": None,
    "rieng": TOKEN_APP_OWN,
    "own": TOKEN_APP_OWN,
    "chung": TOKEN_APP_OURS,
    "ours": TOKEN_APP_OURS,
    "thi-xa": TOKEN_APP_OURS,
}
REQUIRED_COLUMNS = ("id", "name", "group")
FIRST_SEEN_KEY = "agencies:first_seen"
#: stands for "known since before the tool kept records" (the first load of the file)
SINCE_ALWAYS = datetime(1970, 1, 1, tzinfo=UTC)

_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_SETTING_RE = re.compile(r"^[A-Z][A-Z0-9_]{2,99}$")
_FB_HOSTS = ("facebook.com", "fb.com", "fb.me", "fb.watch")


class FileProblems(ConfigError):
    """A staff file (agencies.csv, a shares import) has problems; every one is listed."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# ------------------------------------------------------------------ text helpers


def slug(text: str) -> str:
    """ASCII, lower case, dashes: how ids, groups and column names are compared."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def split_list(value: str) -> list[str]:
    """``"xa-phuong, doan-the; tw"`` → ``["xa-phuong", "doan-the", "tw"]``."""
    return [part.strip() for part in re.split(r"[,;]", value) if part.strip()]


# ------------------------------------------------------------------ CSV reading


@dataclass(frozen=True)
class CsvRow:
    line: int
    values: dict[str, str]
    extra: bool = False  # more cells than header columns


@dataclass(frozen=True)
class CsvTable:
    path: Path
    header: list[str]  # slugged names, in file order
    header_line: int
    rows: list[CsvRow]


def decode_text(data: bytes) -> str:
    """Staff files come from Excel, Notepad or Word: UTF-8 (BOM or not), UTF-16, Windows-1258."""
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8")
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("cp1258", errors="replace")
    return unicodedata.normalize("NFC", text)


def read_csv(path: Path, *, what: str) -> CsvTable:
    """Rows of a staff CSV with their line numbers; blank and ``#`` lines are skipped."""
    shown = str(path)
    if not path.is_file():
        raise FileProblems([Problem(shown, f"không tìm thấy tệp {what}.")])
    try:
        text = decode_text(path.read_bytes())
    except OSError as exc:
        raise FileProblems([Problem(shown, f"không đọc được tệp: {exc.strerror}.")]) from None
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip() and not ln.startswith("#")), None)
    if first is None:
        raise FileProblems([Problem(shown, "tệp trống: dòng đầu phải là dòng tiêu đề cột.")])
    header_text = lines[first]
    delimiter = max((",", ";", "\t"), key=header_text.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] = []
    header_line = first + 1
    rows: list[CsvRow] = []
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        if not header:
            header = [slug(c).replace("-", "_") for c in cells]
            header_line = line
            continue
        values = {
            name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(header)
        }
        extra = any(c.strip() for c in cells[len(header) :])
        rows.append(CsvRow(line=line, values=values, extra=extra))
    return CsvTable(path=path, header=header, rows=rows, header_line=header_line)


# ------------------------------------------------------------------ agencies.csv


@dataclass(frozen=True)
class AgencyRow:
    id: str
    name: str
    group: str
    fb_page_id: str | None = None
    fb_page_url: str | None = None
    zalo_oa_id: str | None = None
    token_setting: str | None = None
    #: ``chung`` (token issued through our app) or None (its own app)
    token_app: str | None = None
    line: int = 0


def _fb_url_ok(url: str) -> bool:
    m = re.match(r"^https?://([^/]+)/?", url, re.IGNORECASE)
    if m is None:
        return False
    host = m.group(1).lower()
    return any(host == h or host.endswith("." + h) for h in _FB_HOSTS)


def parse_agencies(path: Path) -> list[AgencyRow]:
    """Every row of the file, or :class:`FileProblems` listing every mistake at once."""
    table = read_csv(path, what="danh sách đơn vị (AGENCIES_FILE)")
    shown = str(path)
    problems: list[Problem] = []
    header_hint = "Dòng tiêu đề đúng là: " + ",".join(COLUMNS) + "."
    for name in REQUIRED_COLUMNS:
        if name not in table.header:
            problems.append(
                Problem(
                    shown, f"thiếu cột “{name}” ở dòng tiêu đề. {header_hint}", table.header_line
                )
            )
    for name in table.header:
        if name and name not in COLUMNS:
            problems.append(
                Problem(shown, f"cột “{name}” không có trong mẫu. {header_hint}", table.header_line)
            )
    dupes = {n for n in table.header if table.header.count(n) > 1 and n}
    for name in sorted(dupes):
        problems.append(Problem(shown, f"cột “{name}” xuất hiện hai lần.", table.header_line))
    if problems:
        raise FileProblems(problems)

    reserved = {ALL_AGENCIES, NOBODY, *GROUPS}
    seen: dict[str, int] = {}
    rows: list[AgencyRow] = []
    for row in table.rows:
        v = row.values
        line = row.line
        before = len(problems)

        def bad(message: str, line: int = line) -> None:
            problems.append(Problem(shown, message, line))

        if row.extra:
            bad(
                "dòng có nhiều ô hơn số cột tiêu đề (có thể tên đơn vị có dấu phẩy: "
                'đặt tên trong ngoặc kép, ví dụ "Phòng Tài chính, Kế hoạch").'
            )
        agency_id = v.get("id", "")
        if not agency_id:
            bad("thiếu mã đơn vị (cột id), ví dụ phuong-pho-hoa.")
        elif not _ID_RE.match(agency_id):
            bad(
                f"mã đơn vị “{agency_id}” không hợp lệ: chỉ dùng chữ thường không dấu, số và "
                f"dấu gạch ngang, ví dụ {slug(agency_id) or 'phuong-pho-hoa'}."
            )
        elif agency_id in reserved:
            bad(
                f"mã đơn vị “{agency_id}” trùng tên nhóm hoặc từ khóa "
                f"({', '.join(sorted(reserved))}); đặt mã khác."
            )
        elif agency_id in seen:
            bad(
                f"mã đơn vị “{agency_id}” trùng với dòng {seen[agency_id]}; "
                "mỗi đơn vị phải có một mã riêng."
            )
        else:
            seen[agency_id] = line
        name = v.get("name", "")
        if not name:
            bad("thiếu tên đơn vị (cột name), ví dụ UBND phường Phổ Hòa.")
        group = v.get("group", "")
        if group not in GROUPS:
            shown_group = f"“{group}”" if group else "(trống)"
            bad(
                f"nhóm {shown_group} không hợp lệ; cột group dùng một trong: "
                + ", ".join(f"{k} ({label})" for k, label in GROUPS.items())
                + "."
            )
        page_id = v.get("fb_page_id", "")
        if page_id and not page_id.isdigit():
            bad(
                f"fb_page_id “{page_id}” không hợp lệ: mã Trang Facebook là một dãy số "
                "(Trang → Giới thiệu → Minh bạch trang); nếu chưa biết thì để trống."
            )
        page_url = v.get("fb_page_url", "")
        if page_url and not _fb_url_ok(page_url):
            bad(
                f"fb_page_url “{page_url}” không phải địa chỉ Trang Facebook; "
                "ví dụ https://www.facebook.com/phuongphohoa (nếu chưa biết thì để trống)."
            )
        token_setting = v.get("token_setting", "")
        if token_setting and not _SETTING_RE.match(token_setting):
            # never echo the value: staff sometimes paste the token itself here
            bad(
                "token_setting phải là TÊN một biến cấu hình viết hoa, ví dụ "
                "FB_TOKEN_PHUONG_PHO_HOA; đặt mã truy cập vào biến đó trong .env, "
                "không ghi mã truy cập vào tệp này."
            )
        elif token_setting and not page_id:
            bad("có token_setting nhưng thiếu fb_page_id: ghi mã Trang Facebook của đơn vị.")
        raw_app = v.get("token_app", "")
        token_app = _TOKEN_APP_WORDS.get(slug(raw_app), "?")
        if token_app == "?":
            bad(
                f"token_app “{raw_app}” không hợp lệ: ghi {TOKEN_APP_OWN} (mã do ứng dụng riêng "
                f"của đơn vị cấp, mặc định) hoặc {TOKEN_APP_OURS} (mã cấp qua ứng dụng của thị "
                "xã, FB_APP_ID), hoặc để trống."
            )
        if len(problems) == before:
            rows.append(
                AgencyRow(
                    id=agency_id,
                    name=name,
                    group=group,
                    fb_page_id=page_id or None,
                    fb_page_url=page_url or None,
                    zalo_oa_id=v.get("zalo_oa_id") or None,
                    token_setting=token_setting or None,
                    token_app=token_app if token_app == TOKEN_APP_OURS else None,
                    line=line,
                )
            )
    if problems:
        raise FileProblems(problems)
    return rows


# ------------------------------------------------------------------ for the queue


@dataclass(frozen=True)
class DirectoryLoad:
    """The agencies file as ``Chia sẻ`` reads it, or why it could not be read."""

    directory: ShareDirectory | None
    #: Vietnamese, without a trailing full stop: "không tìm thấy tệp …" (None: read)
    failure: str | None = None
    problems: tuple[Problem, ...] = ()


#: the last file read, by (path, mtime, size): the daemon scans every pass
_DIRECTORIES: dict[str, tuple[tuple[int, int], ShareDirectory]] = {}


def share_directory(settings: Settings) -> DirectoryLoad:
    """AGENCIES_FILE for ``check`` and ingest; read again only when the file changed."""
    path = settings.agencies_file
    shown = str(path)
    try:
        stat = path.stat()
    except OSError:
        return DirectoryLoad(None, f"không tìm thấy tệp {shown} (AGENCIES_FILE)")
    stamp = (stat.st_mtime_ns, stat.st_size)
    known = _DIRECTORIES.get(shown)
    if known is not None and known[0] == stamp:
        return DirectoryLoad(known[1])
    try:
        rows = parse_agencies(path)
    except FileProblems as exc:
        return DirectoryLoad(None, f"tệp {shown} (AGENCIES_FILE) có lỗi", tuple(exc.problems))
    directory = ShareDirectory((AgencyEntry(r.id, r.name, r.group) for r in rows), shown)
    _DIRECTORIES[shown] = (stamp, directory)
    return DirectoryLoad(directory)


# ------------------------------------------------------------------ sync to DB


@dataclass
class AgencySync:
    """What a load changed; ``summary`` is for staff."""

    path: Path
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def active(self) -> int:
        return len(self.added) + len(self.updated) + len(self.reactivated) + self.unchanged

    def summary(self) -> str:
        parts = [f"{self.active} đơn vị đang theo dõi"]
        if self.added:
            parts.append(f"thêm {len(self.added)}")
        if self.updated:
            parts.append(f"cập nhật {len(self.updated)}")
        if self.reactivated:
            parts.append(f"dùng lại {len(self.reactivated)}")
        if self.deactivated:
            parts.append(
                f"ngừng theo dõi {len(self.deactivated)} ({', '.join(self.deactivated)}), "
                "lịch sử chia sẻ vẫn giữ"
            )
        return f"Danh sách đơn vị {self.path}: " + "; ".join(parts) + "."


_FIELDS = (
    "name",
    "group",
    "fb_page_id",
    "fb_page_url",
    "zalo_oa_id",
    "token_setting",
    "token_app",
)


def sync_agencies(
    db: Database, path: Path, rows: Sequence[AgencyRow], *, now: datetime
) -> AgencySync:
    """Make the Agency table match ``rows``; units gone from the file become inactive."""
    result = AgencySync(path=path)
    with db.session() as s:
        existing = {a.id: a for a in s.scalars(select(Agency))}
        meta = s.get(Meta, unit_key(s, FIRST_SEEN_KEY))
        first_seen: dict[str, str] = dict(meta.value) if meta else {}
        first_load = not existing and not first_seen
        for row in rows:
            agency = existing.pop(row.id, None)
            if agency is None:
                s.add(Agency(id=row.id, active=True, updated_at=now, **_row_fields(row)))
                result.added.append(row.id)
            else:
                changed = any(getattr(agency, k) != v for k, v in _row_fields(row).items())
                if changed:
                    for k, v in _row_fields(row).items():
                        setattr(agency, k, v)
                if not agency.active:
                    agency.active = True
                    result.reactivated.append(row.id)
                elif changed:
                    result.updated.append(row.id)
                else:
                    result.unchanged += 1
                if changed or row.id in result.reactivated:
                    agency.updated_at = now
            if row.id not in first_seen:
                first_seen[row.id] = (SINCE_ALWAYS if first_load else now).isoformat()
        for agency in existing.values():
            if agency.active:
                agency.active = False
                agency.updated_at = now  # = when it left the file
                result.deactivated.append(agency.id)
        if meta is None:
            s.add(Meta(key=FIRST_SEEN_KEY, value=first_seen, updated_at=now))
        elif meta.value != first_seen:
            meta.value = first_seen
            meta.updated_at = now
    return result


def _row_fields(row: AgencyRow) -> dict[str, str | None]:
    return {k: getattr(row, k) for k in _FIELDS}


def load_agencies(db: Database, settings: Settings, *, now: datetime | None = None) -> AgencySync:
    """Read AGENCIES_FILE and sync it into the database (raises :class:`FileProblems`)."""
    path = settings.agencies_file
    rows = parse_agencies(path)
    return sync_agencies(db, path, rows, now=now or datetime.now(UTC))


# ------------------------------------------------------------------ who must share


@dataclass(frozen=True)
class AgencyInfo:
    """An agency as the share matrix needs it (plain data, detached from any session)."""

    id: str
    name: str
    group: str
    active: bool
    fb_page_id: str | None
    fb_page_url: str | None
    zalo_oa_id: str | None
    token_setting: str | None
    first_seen: datetime
    #: when it left the file (None while active)
    left_at: datetime | None
    #: ``chung``: its token came through our app (send our appsecret_proof); None: its own
    token_app: str | None = None

    @property
    def token_of_our_app(self) -> bool:
        return self.token_app == TOKEN_APP_OURS

    def existed_at(self, when: datetime) -> bool:
        if when < self.first_seen:
            return False
        return self.left_at is None or when < self.left_at


def agency_infos(session: Session) -> list[AgencyInfo]:
    """Every agency, active or not, sorted by group then name as reports show them."""
    meta = session.get(Meta, unit_key(session, FIRST_SEEN_KEY))
    first_seen = dict(meta.value) if meta else {}
    order = {g: i for i, g in enumerate(GROUPS)}
    infos = [
        AgencyInfo(
            id=a.id,
            name=a.name,
            group=a.group,
            active=a.active,
            fb_page_id=a.fb_page_id,
            fb_page_url=a.fb_page_url,
            zalo_oa_id=a.zalo_oa_id,
            token_setting=a.token_setting,
            first_seen=(
                datetime.fromisoformat(first_seen[a.id]) if a.id in first_seen else SINCE_ALWAYS
            ),
            left_at=None if a.active else a.updated_at,
            token_app=a.token_app,
        )
        for a in session.scalars(select(Agency))
    ]
    infos.sort(key=lambda a: (order.get(a.group, len(order)), a.id))
    return infos


@dataclass(frozen=True)
class ShareTargets:
    """Who a post expects to re-share it, and the words of ``Chia sẻ`` nobody understood."""

    agency_ids: frozenset[str]
    unknown: tuple[str, ...]


def resolve_share_with(
    share_with: Sequence[str],
    default: str,
    agencies: Sequence[AgencyInfo],
    *,
    at: datetime,
) -> ShareTargets:
    """Ids, groups, ``tat-ca`` or ``khong`` → the agencies that existed at ``at``."""
    tokens = [t for item in share_with for t in split_list(str(item))] or split_list(default)
    present = [a for a in agencies if a.existed_at(at)]
    ids: set[str] = set()
    unknown: list[str] = []
    known_ids = {a.id for a in agencies}
    for raw in tokens:
        token = slug(raw)
        if token == NOBODY:
            continue
        if token == ALL_AGENCIES:
            ids.update(a.id for a in present)
        elif token in GROUPS:
            ids.update(a.id for a in present if a.group == token)
        elif token in known_ids:
            ids.update(a.id for a in present if a.id == token)
        else:
            unknown.append(raw)
    return ShareTargets(agency_ids=frozenset(ids), unknown=tuple(unknown))
