"""Graph API versions: when each shipped, and so when it stops working.

The contract sheet's rule: a version stops working two years after its successor ships.
Only the releases the sheet names are in the table (v25.0 Feb 2026, v26.0 Jul 2026, v27.0
4 Nov 2026); a month without a day counts from its first day, so an end of life is never
later than the real one. v24.0 is in the table by that rule alone (its successor v25.0
shipped Feb 2026), without a release date of its own. The newest version has no known
successor: its *earliest possible* end is two years after its own release (if the next one
shipped the next day), and that is what a warning is based on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

#: the version the tool is tested against (the default of FB_GRAPH_VERSION)
DEFAULT_VERSION = "v27.0"
#: release dates from the contract sheet (None: released, date not in the sheet)
RELEASES: dict[str, date | None] = {
    "v24.0": None,
    "v25.0": date(2026, 2, 1),
    "v26.0": date(2026, 7, 1),
    "v27.0": date(2026, 11, 4),
}
#: warn this long before a version's end of life
WARN_MONTHS = 6

_VERSION = re.compile(r"^v(\d+)\.(\d+)$")


def _key(version: str) -> tuple[int, int] | None:
    match = _VERSION.match(version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _plus_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, 28))


@dataclass(frozen=True)
class VersionVerdict:
    """What doctor says of FB_GRAPH_VERSION. ``level``: ok | warning | error."""

    level: str
    end_of_life: date | None
    #: True when ``end_of_life`` is only the earliest possible one (no successor known)
    earliest: bool = False
    known: bool = True
    malformed: bool = False


def end_of_life(version: str) -> tuple[date | None, bool]:
    """(end of life, is it only the earliest possible one); (None, False) when unknown."""
    key = _key(version)
    ordered = sorted(RELEASES, key=lambda v: _key(v) or (0, 0))
    if key is None or version not in RELEASES:
        return None, False
    index = ordered.index(version)
    if index + 1 < len(ordered):
        successor = RELEASES[ordered[index + 1]]
        return (_plus_months(successor, 24) if successor else None), False
    own = RELEASES[version]
    return (_plus_months(own, 24) if own else None), True


def judge(version: str, today: date) -> VersionVerdict:
    """Past its end: error; within six months of it: warning; unknown versions: warning."""
    key = _key(version)
    if key is None:
        return VersionVerdict("error", None, known=False, malformed=True)
    if version not in RELEASES:
        newest = max(RELEASES, key=lambda v: _key(v) or (0, 0))
        newer = key > (_key(newest) or (0, 0))
        # newer than the table: fine but untested; older: probably past its end
        return VersionVerdict("warning", None, known=False, earliest=newer)
    eol, earliest = end_of_life(version)
    if eol is None:
        return VersionVerdict("ok", None)
    if today >= eol and not earliest:
        return VersionVerdict("error", eol)
    if today >= _plus_months(eol, -WARN_MONTHS):
        return VersionVerdict("warning", eol, earliest=earliest)
    return VersionVerdict("ok", eol, earliest=earliest)


def is_expired(version: str, today: date) -> bool:
    """True when ``version`` has certainly stopped working on ``today`` (the sandbox uses it)."""
    eol, earliest = end_of_life(version)
    return eol is not None and not earliest and today >= eol
