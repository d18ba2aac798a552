"""Video plays for the monthly report, where the platforms give them.

A video's post on the Page answers reactions, comments and shares like any post (the
engagement batch); its plays come from the video's own ``video_insights`` (feed:
``total_video_views``; Reels: ``blue_reels_play_count``, unconfirmed), asked one video at
a time and only for the few video posts due. Zalo lists video articles only under
``getslice?type=video``, so their views and shares are read there. A refused metric or
an unlisted video leaves the figure empty, never the post's other figures.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select

from ..channels.base import Engagement
from ..errors import ChannelError
from ..store import Attempt, Database

log = logging.getLogger("social_publisher.engagement")


def video_uploads(db: Database, pub_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Publication id → its finished upload (``video_id``, ``kind``), for video posts only."""
    wanted = list(pub_ids)
    if not wanted:
        return {}
    found: dict[int, dict[str, Any]] = {}
    with db.session() as s:
        rows = s.execute(
            select(Attempt.publication_id, Attempt.details)
            .where(
                Attempt.publication_id.in_(wanted),
                Attempt.action == "create",
                Attempt.outcome.in_(("ok", "adopted")),
            )
            .order_by(Attempt.id)
        ).all()
    for pub_id, details in rows:
        video = (details or {}).get("video")
        if isinstance(video, dict) and video:
            found[pub_id] = {
                "video_id": video.get("video_id"),
                "kind": video.get("kind") or (details or {}).get("kind"),
            }
    return found


def add_facebook_views(
    facebook: Any,
    uploads: Mapping[int, dict[str, Any]],
    items: Iterable[Any],
    results: Mapping[str, Engagement],
) -> dict[str, Engagement]:
    """``results`` with each video post's ``views`` replaced by its video's plays."""
    merged = dict(results)
    client = None
    for item in items:
        upload = uploads.get(item.id)
        if not upload or not upload.get("video_id"):
            continue
        client = client or facebook.video_client()
        try:
            views = client.video_views(str(upload["video_id"]), str(upload.get("kind") or "feed"))
        except ChannelError as exc:
            log.info("video %s: plays not read (%s)", upload["video_id"], exc)
            continue
        if views is None:
            continue
        known = merged.get(item.remote_id)
        merged[item.remote_id] = (
            dataclasses.replace(known, views=views)
            if known is not None
            else Engagement(remote_id=item.remote_id, views=views)
        )
    return merged


def zalo_video_engagement(zalo: Any, remote_ids: list[str]) -> Mapping[str, Engagement]:
    """Views and shares of Zalo video articles (``getslice?type=video``)."""
    if not remote_ids:
        return {}
    result: Mapping[str, Engagement] = zalo.video_client().fetch_engagement(remote_ids)
    return result
