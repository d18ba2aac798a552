"""Each platform's facts, written once: its channel name, its label, its limits.

Bottom layer, so the queue (which warns staff while they write) and the channels
(which refuse before sending) read the same numbers. The numbers come from the
contract sheets, docs/api/facebook-graph.md and docs/api/zalo-oa.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time
from zoneinfo import ZoneInfo

from .localtime import next_local_time

FACEBOOK = "facebook"
ZALO = "zalo"
#: every channel, in the order staff see them
CHANNELS = (FACEBOOK, ZALO)

#: what staff call each channel (messages, status, reports)
PLATFORM_NAMES: Mapping[str, str] = {FACEBOOK: "Facebook", ZALO: "Zalo OA"}
#: the short form, where the platform is already clear (``collect``, ``doctor``)
SHORT_NAMES: Mapping[str, str] = {FACEBOOK: "Facebook", ZALO: "Zalo"}


def platform_name(channel: str) -> str:
    return PLATFORM_NAMES.get(channel, channel)


# ------------------------------------------------------------------ Facebook (Graph API)

#: characters in a post's message (title, blank line, body)
FACEBOOK_MAX_CHARS = 63_206
FACEBOOK_MAX_PHOTOS = 10
#: bytes of one uploaded photo (older docs, and error subcode 1366046, say 4 MB)
FACEBOOK_MAX_PHOTO_BYTES = 4 * 1024 * 1024

# ------------------------------------------------------------------ Zalo OA

#: article limits: refused at or above these; real OAs refused strings of exactly the
#: limit, so everything is kept ``ZALO_LIMIT_MARGIN`` below
ZALO_LIMITS: Mapping[str, int] = {"title": 150, "description": 300, "author": 50}
ZALO_LIMIT_MARGIN = 10
ZALO_MAX_TITLE = ZALO_LIMITS["title"] - ZALO_LIMIT_MARGIN
ZALO_MAX_AUTHOR = ZALO_LIMITS["author"] - ZALO_LIMIT_MARGIN
ZALO_MAX_DESCRIPTION = ZALO_LIMITS["description"] - ZALO_LIMIT_MARGIN
#: promotional sends (broadcasts) are refused 22:00–06:00 local time
ZALO_BROADCAST_OPENS = time(6, 0)
ZALO_BROADCAST_CLOSES = time(22, 0)


def next_broadcast_opening(now: datetime, tz: ZoneInfo) -> datetime:
    """The next 06:00 local time strictly after ``now`` is inside the night window."""
    return next_local_time(now, tz, ZALO_BROADCAST_OPENS)


def is_broadcast_hours(now: datetime, tz: ZoneInfo) -> bool:
    return ZALO_BROADCAST_OPENS <= now.astimezone(tz).time() < ZALO_BROADCAST_CLOSES
