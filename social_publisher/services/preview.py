"""The post page's preview: the Facebook post and the Zalo article exactly as they go out.

The texts come from the channels' own builders (``facebook.compose_message``,
``ZaloChannel.build_article``) fed with the approved version, so the preview cannot
drift from what is published; the photos are the renditions the daemon uploads
(``media.render_image``, from the same cache), served by the console one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..channels.base import OutgoingImage, OutgoingPost
from ..config import Settings
from ..errors import MediaError
from ..media.cache import file_sha256
from ..store import Database, Post, PostVersion
from .publisher.outgoing import DEFAULT_COVER
from .scope import Permission, Scope

RENDITIONS = ("facebook", "zalo", "zalo_cover")


@dataclass(frozen=True)
class Preview:
    facebook_text: str
    facebook_images: list[str]
    link: str | None
    zalo: dict[str, Any] | None
    zalo_problem: str | None


class _NoTokens:
    """The preview builds an article and never calls Zalo."""

    def current(self) -> str:
        raise RuntimeError("the preview never calls Zalo")

    def refresh(self, stale: str) -> str:
        raise RuntimeError("the preview never calls Zalo")


def _image(url: str) -> OutgoingImage:
    return OutgoingImage(path=Path(url), sha256="", width=0, height=0, bytes=0, public_url=url)


def _version(db: Database, scope: Scope, post_id: int) -> tuple[Post, PostVersion] | None:
    with db.session() as session:
        post = session.scalars(
            select(Post).where(Post.id == post_id, scope.posts(Post))
        ).one_or_none()
        if post is None or post.current_version is None:
            return None
        version = post.current_version
        session.expunge_all()
        return post, version


def preview(db: Database, settings: Settings, scope: Scope, post_id: int) -> Preview | None:
    """Both platforms' view of the post's current version; None when it has none."""
    from ..channels.facebook import compose_message
    from ..channels.zalo import ZaloChannel
    from ..errors import SocialPublisherError

    scope.require(Permission.VIEW)
    found = _version(db, scope, post_id)
    if found is None:
        return None
    post, version = found
    count = len(version.images or [])
    base = f"/bai/{post.id}/anh"
    facebook = tuple(_image(f"{base}/facebook/{i}") for i in range(count))
    zalo_images = tuple(_image(f"{base}/zalo/{i}") for i in range(count))
    outgoing = OutgoingPost(
        publication_id=0,
        content_hash=version.content_hash,
        title=version.title,
        body=version.body,
        publish_at=version.publish_at or datetime.now(UTC),
        link=version.link,
        author=version.author or settings.default_author,
        description=version.description,
        images=facebook,
        zalo_broadcast=bool(version.zalo_broadcast),
    )
    text = compose_message(outgoing)
    article: dict[str, Any] | None = None
    problem = None
    try:
        zalo_post = OutgoingPost(
            **{**outgoing.__dict__, "images": zalo_images, "cover": _image(f"{base}/zalo_cover/0")}
        )
        article = ZaloChannel(settings, tokens=_NoTokens()).build_article(zalo_post, {})
    except SocialPublisherError as exc:
        problem = exc.message
    return Preview(text, [i.public_url or "" for i in facebook], version.link, article, problem)


def rendition(
    db: Database, settings: Settings, scope: Scope, post_id: int, kind: str, index: int
) -> Path:
    """The rendition file of the post's ``index``-th photo for ``kind`` (or the Zalo cover).

    Only a photo whose bytes are still those of the version is rendered (the preview is
    of what is approved); raises LookupError when there is none, MediaError when refused.
    """
    from ..media import render_image

    scope.require(Permission.VIEW)
    if kind not in RENDITIONS:
        raise LookupError(kind)
    found = _version(db, scope, post_id)
    if found is None:
        raise LookupError(post_id)
    post, version = found
    images = list(version.images or [])
    if kind == "zalo_cover":
        name = version.cover or (images[0]["name"] if images else None)
        item = next((i for i in images if i.get("name") == name), None) if name else None
        source = settings.queue_dir / post.folder / str(name) if name else None
        if source is None:
            source = settings.zalo_default_cover or DEFAULT_COVER
            item = None
    else:
        if not 0 <= index < len(images):
            raise LookupError(index)
        item = images[index]
        source = settings.queue_dir / post.folder / str(item["name"])
    if not source.is_file():
        raise LookupError(str(source))
    if item is not None and item.get("sha256") and file_sha256(source) != item["sha256"]:
        raise LookupError("the photo changed since this version was read")
    for made in render_image(
        source, cache_dir=settings.media_cache_dir, max_pixels=settings.media_max_pixels
    ):
        if made.channel == kind:
            return Path(made.path)
    raise MediaError(f"Không tạo được ảnh {kind} từ {source.name}.", path=str(source))
