"""The outgoing post: exactly the approved version, with each photo rendered for its channel.

A photo is used only while its bytes are still those that were approved (their
hash is in the version); one that changed or disappeared means the folder is
being edited, and the step waits for the next scan (:class:`ContentChanged`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.orm import Session

from ...channels.base import OutgoingImage, OutgoingPost
from ...config import Settings
from ...errors import MediaError
from ...media.cache import file_sha256
from ...media.specs import Rendition
from ...store import Post, PostVersion, Publication

#: the cover of a Zalo article whose post has no photo
DEFAULT_COVER = Path(__file__).resolve().parents[2] / "data" / "default-cover.jpg"


RenderFn = Callable[[Path], Sequence[Rendition]]


@runtime_checkable
class RendersMany(Protocol):
    """A render that also takes all of a post's photos in one call, rendering them
    concurrently (``media.render_images``): one entry per source, in order, its
    renditions or the MediaError that refused it."""

    def render_many(
        self, sources: Sequence[Path]
    ) -> Sequence[Sequence[Rendition] | MediaError]: ...


class ContentChanged(Exception):
    """A photo on disk no longer matches the approved version: wait for the next scan."""


class OutgoingBuilder:
    """Builds :class:`OutgoingPost` from a publication's version and the queue folder."""

    def __init__(
        self, settings: Settings, render: RenderFn | None, clock: Callable[[], datetime]
    ) -> None:
        self.settings = settings
        self.render = render
        self.clock = clock

    def build(
        self, session: Session, pub: Publication, *, with_images: bool = True
    ) -> OutgoingPost:
        """Exactly the approved version, rendered for this channel."""
        version = session.get(PostVersion, pub.version_id) if pub.version_id else None
        post = session.get(Post, pub.post_id)
        if version is None or post is None:
            raise ContentChanged(f"publication {pub.id} has no version")
        images: list[OutgoingImage] = []
        cover: OutgoingImage | None = None
        if with_images and (version.images or version.cover):
            folder = self.settings.queue_dir / post.folder
            wanted = "facebook" if pub.channel == "facebook" else "zalo"
            needs: list[tuple[Mapping[str, Any], str]] = [
                (item, wanted) for item in version.images or []
            ]
            count = len(needs)
            if pub.channel == "zalo":
                cover_name = version.cover or (
                    version.images[0]["name"] if version.images else None
                )
                if cover_name:
                    meta = next(
                        (i for i in version.images or [] if i.get("name") == cover_name),
                        {"name": cover_name},
                    )
                    needs.append((meta, "zalo_cover"))
            made = self._renditions(folder, needs)
            images, cover = made[:count], (made[count] if len(made) > count else None)
        if with_images and pub.channel == "zalo" and cover is None and not images:
            cover = self._default_cover()  # a Zalo article needs a cover; a text post has none
        publish_at = version.publish_at or pub.due_at or self.clock()
        return OutgoingPost(
            publication_id=pub.id,
            content_hash=version.content_hash,
            title=version.title,
            body=version.body,
            publish_at=publish_at,
            link=version.link,
            author=version.author or self.settings.default_author,
            description=version.description,
            images=tuple(images),
            cover=cover,
            zalo_broadcast=bool(version.zalo_broadcast),
        )

    def _default_cover(self) -> OutgoingImage | None:
        """The office's default Zalo cover (``ZALO_DEFAULT_COVER``, else the packaged one)."""
        configured = self.settings.zalo_default_cover
        if configured is not None and not configured.is_file():
            raise MediaError(
                f"Không thấy ảnh bìa Zalo mặc định {configured} (cấu hình ZALO_DEFAULT_COVER): "
                "sửa đường dẫn trong .env hoặc để trống để dùng ảnh bìa có sẵn của công cụ."
            )
        source = configured or DEFAULT_COVER
        if not source.is_file() or self.render is None:
            return None
        for rendition in self.render(source):
            if rendition.channel == "zalo_cover":
                return _image(rendition)
        return None

    def _renditions(
        self, folder: Path, needs: Sequence[tuple[Mapping[str, Any], str]]
    ) -> list[OutgoingImage]:
        """``_rendition`` of each (image, wanted rendition), in order. When the render
        takes a post's photos at once, they are rendered in one concurrent call; the
        error raised is the one the one-by-one order meets first, as without it."""
        if not needs or not isinstance(self.render, RendersMany):
            return [self._rendition(folder, item, wanted) for item, wanted in needs]
        sources: list[Path] = []
        gone: ContentChanged | None = None
        for item, _ in needs:  # one by one would not render past a changed photo
            try:
                sources.append(_checked_source(folder, item))
            except ContentChanged as exc:
                gone = exc
                break
        unique = list(dict.fromkeys(sources))
        rendered = dict(zip(unique, self.render.render_many(unique), strict=True)) if unique else {}
        images = []
        for source, (_, wanted) in zip(sources, needs, strict=False):
            result = rendered[source]
            if isinstance(result, MediaError):
                raise result
            images.append(_pick(source, result, wanted))
        if gone is not None:
            raise gone
        return images

    def _rendition(self, folder: Path, item: Mapping[str, Any], wanted: str) -> OutgoingImage:
        source = _checked_source(folder, item)
        if self.render is None:
            raise MediaError("Chưa có bộ xử lý ảnh (media) nên không thể chuẩn bị ảnh để đăng.")
        return _pick(source, self.render(source), wanted)


def _checked_source(folder: Path, item: Mapping[str, Any]) -> Path:
    """The photo's path, still there and still the bytes that were approved."""
    source = folder / str(item["name"])
    if not source.is_file():
        raise ContentChanged(f"{source} is gone")
    expected = item.get("sha256")
    if expected and file_sha256(source) != expected:
        raise ContentChanged(f"{source} changed since it was approved")
    return source


def _image(rendition: Rendition) -> OutgoingImage:
    return OutgoingImage(
        path=Path(rendition.path),
        sha256=rendition.sha256,
        width=rendition.width,
        height=rendition.height,
        bytes=rendition.bytes,
    )


def _pick(source: Path, renditions: Sequence[Rendition], wanted: str) -> OutgoingImage:
    for rendition in renditions:
        if rendition.channel == wanted:
            return _image(rendition)
    raise MediaError(f"Không tạo được ảnh cho {wanted} từ {source.name}.", path=str(source))
