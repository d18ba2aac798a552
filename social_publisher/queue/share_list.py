"""``Chia sẻ``: who is expected to re-share a post, read as staff write it.

Staff write agency names the way they say them (``phường Phổ Văn``, ``UBND phường Phổ
Văn``, just ``Phổ Văn``, ``Thị đoàn``), ids from ``agencies.csv`` (``phuong-pho-van``),
groups (``xa-phuong``) or ``tat-ca`` / ``khong``. The scanner turns each entry into its id
at ``check`` time, so a mistake is found before the post is live (afterwards its share
figures would be wrong), and names the closest id when an entry matches nothing.

The agencies file is read by services (it is data, not code) and handed to the scanner as
a :class:`ShareDirectory`. Only posts whose list names agencies depend on it: their scan
cache entries carry the directory's :attr:`~ShareDirectory.digest`, so a change of the file
re-reads exactly those folders.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: group id → how staff call it (Vietnamese)
GROUPS: dict[str, str] = {
    "xa-phuong": "UBND xã, phường",
    "phong-ban": "Phòng, ban thị xã",
    "doan-the": "Mặt trận, đoàn thể",
    "trung-tam": "Trung tâm, đơn vị sự nghiệp",
    "khac": "Đơn vị khác",
}
#: ``Chia sẻ: tat-ca`` = every active agency; ``khong`` = nobody
ALL_AGENCIES = "tat-ca"
NOBODY = "khong"
#: entries whose meaning does not come from the agencies file
FIXED_ENTRIES = frozenset((ALL_AGENCIES, NOBODY, *GROUPS))

#: written words → one spelling (``UBND P. Phổ Văn`` = ``Ủy ban nhân dân phường Phổ Văn``)
_WORDS = {"p": "phuong", "x": "xa", "tx": "thi xa"}
_PREFIXES = ("ubnd ",)
_KINDS = ("phuong ", "xa ", "thi tran ")
_PLACES = (" thi xa duc pho", " duc pho", " thi xa")


def name_key(text: str) -> str:
    """Lower case, no accents, words only: how names are compared."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    words = re.sub(r"[^a-z0-9]+", " ", bare).split()
    text = " ".join(_WORDS.get(word, word) for word in words)
    return re.sub(r"^(uy ban nhan dan|u ban nhan dan)\b", "ubnd", text)


def _variants(name: str) -> set[str]:
    """The ways staff shorten a unit's name: without ``UBND``, its kind, or ``Đức Phổ``."""
    found = {name_key(name)}
    for prefixes in (_PREFIXES, _KINDS):
        found |= {v[len(p) :] for v in found for p in prefixes if v.startswith(p)}
    found |= {v[: -len(s)] for v in found for s in _PLACES if v.endswith(s)}
    return {v for v in found if v}


_FIXED_ALIASES: dict[str, str] = {
    "tat ca": ALL_AGENCIES,
    "tat ca don vi": ALL_AGENCIES,
    "all": ALL_AGENCIES,
    "khong": NOBODY,
    "khong ai": NOBODY,
    "khong co": NOBODY,
    "khong don vi nao": NOBODY,
    "none": NOBODY,
}
for _group, _label in GROUPS.items():
    _key = name_key(_label)  # "ubnd xa phuong", "phong ban thi xa"…
    _short = (_key.removeprefix("ubnd "), _key.removesuffix(" thi xa"))
    for _alias in (name_key(_group), _key, *_short):
        _FIXED_ALIASES.setdefault(_alias, _group)


@dataclass(frozen=True)
class AgencyEntry:
    """An agency as ``Chia sẻ`` needs it."""

    id: str
    name: str
    group: str


@dataclass(frozen=True)
class ShareList:
    """A ``Chia sẻ`` value read: its entries as ids (an unknown one as written), and one
    Vietnamese problem per entry that could not be read."""

    entries: tuple[str, ...]
    problems: tuple[str, ...] = ()


class ShareDirectory:
    """The agencies file, as ``Chia sẻ`` entries are looked up in it."""

    def __init__(self, agencies: Iterable[AgencyEntry], source: str) -> None:
        self.agencies = {a.id: a for a in agencies}
        #: the file as staff know it (AGENCIES_FILE), for messages
        self.source = source
        aliases: dict[str, set[str]] = {}
        for agency in self.agencies.values():
            for alias in {name_key(agency.id), *_variants(agency.name)}:
                if alias not in _FIXED_ALIASES:
                    aliases.setdefault(alias, set()).add(agency.id)
        self._aliases = {alias: tuple(sorted(ids)) for alias, ids in aliases.items()}
        self._read: dict[tuple[str, ...], ShareList] = {}
        rows = sorted((a.id, a.name, a.group) for a in self.agencies.values())
        #: changes whenever a verdict on a ``Chia sẻ`` entry could change
        self.digest = hashlib.blake2b(
            json.dumps([source, rows], ensure_ascii=False).encode("utf-8"), digest_size=10
        ).hexdigest()

    def read(self, written: Sequence[str]) -> ShareList:
        """Each entry to its id, group, ``tat-ca`` or ``khong``; problems for the rest."""
        key = tuple(written)
        known = self._read.get(key)
        if known is None:  # most posts write one of a few lists
            known = self._read[key] = self._read_list(key)
        return known

    def _read_list(self, written: Sequence[str]) -> ShareList:
        entries: list[str] = []
        problems: list[str] = []
        for item in written:
            entry, problem = self._entry(item)
            entries.append(entry)
            if problem:
                problems.append(problem)
        if NOBODY in entries and len(set(entries)) > 1:
            problems.append(
                "Chia sẻ ghi 'khong' (không đơn vị nào) cùng với đơn vị khác. Chỉ giữ 'khong', "
                "hoặc bỏ 'khong' và giữ các đơn vị cần chia sẻ."
            )
        return ShareList(tuple(dict.fromkeys(entries)), tuple(problems))

    def _entry(self, item: str) -> tuple[str, str | None]:
        key = name_key(item)
        fixed = _FIXED_ALIASES.get(key)
        if fixed is not None:
            return fixed, None
        ids = self._aliases.get(key)
        if ids is not None and len(ids) == 1:
            return ids[0], None
        if ids:
            choices = ", ".join(f"{i} ({self.agencies[i].name})" for i in ids)
            return item, (
                f"Chia sẻ '{item}' có thể là nhiều đơn vị: {choices}. Ghi rõ mã đơn vị (cột id "
                f"trong {self.source})."
            )
        return item, (
            f"Chia sẻ '{item}' không có trong danh sách đơn vị {self.source}. "
            f"{self._closest(key)}Ghi mã đơn vị (cột id) hoặc tên đơn vị trong tệp đó, một nhóm "
            f"({', '.join(GROUPS)}), '{ALL_AGENCIES}' hoặc '{NOBODY}', cách nhau dấu phẩy."
        )

    def _closest(self, key: str) -> str:
        # a unit whose name holds every word written ("Phổ Văn" for "Phổ Văn Mới") first
        words = set(key.split())
        within = {i for a, ids in self._aliases.items() if words <= set(a.split()) for i in ids}
        if len(within) == 1:
            (only,) = within
            return f"Có phải ý bạn là '{only}' ({self.agencies[only].name})? "
        candidates = [*self._aliases, *_FIXED_ALIASES]
        for alias in difflib.get_close_matches(key, candidates, n=3, cutoff=0.6):
            fixed = _FIXED_ALIASES.get(alias)
            if fixed is not None:
                label = f" ({GROUPS[fixed]})" if fixed in GROUPS else ""
                return f"Có phải ý bạn là '{fixed}'{label}? "
            ids = self._aliases[alias]
            if len(ids) == 1:
                return f"Có phải ý bạn là '{ids[0]}' ({self.agencies[ids[0]].name})? "
        return ""


def read_without_directory(written: Sequence[str]) -> ShareList:
    """Without an agencies file only the fixed entries can be read; the rest stay as written
    (``check`` says once that the file is missing, not once per post)."""
    return _without_directory(tuple(written))


@functools.lru_cache(maxsize=256)
def _without_directory(written: tuple[str, ...]) -> ShareList:
    entries = [_FIXED_ALIASES.get(name_key(item), item) for item in written]
    return ShareList(tuple(dict.fromkeys(entries)))


def depends_on_agencies(entries: Sequence[str]) -> bool:
    """Whether a verdict on these entries could change with the agencies file."""
    return any(entry not in FIXED_ENTRIES for entry in entries)
