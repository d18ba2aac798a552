"""What each channel needs from a photo, and what the media stage hands back.

The limits come from ``shared/api``: Facebook takes JPEG up to 4 MB (older docs and
error subcode 1366046 say 4 MB, so that is the cap, counted in decimal bytes to stay on
the safe side of either reading) and shows photos at most 2048 px on the long side;
Zalo article images are fetched by Zalo from a public URL and must be at most 1 MB.

Zalo body images use a 1280 px long side. Zalo shows an article full width on a
phone (about 1170 device px on a 390-pt, 3x screen) and in a column of about 680 px
on the web, so 1280 px is sharp on both; at that size a phone photo fits 1 MB at
quality 95 with room to spare (about 0.45 MB), so even detailed photos (foliage,
crowds) keep a high quality instead of being squeezed; and the cover below is then
an exact 1280-wide crop of the body image of a landscape photo, with no second resize.

The Zalo cover is a 16:9 crop at 1280x720. Zalo shows an article's cover as a wide
banner (the article header, the OA's article list and the card a broadcast sends),
which crops whatever shape it receives; sending 16:9 ourselves makes that crop ours and
predictable instead of Zalo's. Zalo publishes no exact size for the cover, so this is
our choice, kept in one constant. The crop is centred, except that portrait photos are
cropped around the upper third (rule of thirds), where faces and banners usually are
in the office's event photos: a centred 16:9 band of a portrait photo cuts off heads.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

#: bump when the rendering changes in a way that should invalidate cached renditions
RENDER_VERSION = 1

#: shorter side (in px) below which a photo is refused: it would look blurry everywhere
MIN_SHORT_SIDE = 200

#: JPEG quality range searched for each rendition
QUALITY_FLOOR = 60
QUALITY_TOP = 95


@dataclass(frozen=True)
class RenditionSpec:
    """One channel's target: a JPEG no larger than ``max_bytes``.

    ``max_long_side`` bounds the long side, keeping the photo's shape; ``crop`` (w, h)
    instead crops to that exact aspect ratio and size (never upscaling).
    """

    channel: str
    max_bytes: int
    max_long_side: int | None = None
    crop: tuple[int, int] | None = None
    quality_floor: int = QUALITY_FLOOR
    quality_top: int = QUALITY_TOP

    @cached_property
    def cache_key(self) -> str:
        """Changes whenever anything that shapes the output changes."""
        blob = json.dumps({"v": RENDER_VERSION, **asdict(self)}, sort_keys=True)
        return f"{self.channel}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"

    def crop_box_size(self, width: int, height: int) -> tuple[int, int]:
        """The largest box of the crop's shape inside a ``width`` x ``height`` source."""
        if self.crop is None:
            return width, height
        cw, ch = self.crop
        if width * ch >= height * cw:  # source is wider than the crop's shape
            return max(1, min(width, round(height * cw / ch))), height
        return width, max(1, min(height, round(width * ch / cw)))

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        """Output size for an upright ``width`` x ``height`` source; never upscales."""
        if self.crop is not None:
            box_w, box_h = self.crop_box_size(width, height)
            return self.crop if box_w >= self.crop[0] else (box_w, box_h)
        long_side = max(width, height)
        limit = self.max_long_side or long_side
        if long_side <= limit:
            return width, height
        scale = limit / long_side
        return max(1, round(width * scale)), max(1, round(height * scale))

    def needed_fraction(self, width: int, height: int) -> float:
        """How small a copy of the source this spec can still be made from (0-1]."""
        out_w, _ = self.target_size(width, height)
        box_w, _ = self.crop_box_size(width, height)
        return min(1.0, out_w / box_w)


FACEBOOK = RenditionSpec("facebook", max_bytes=4_000_000, max_long_side=2048)
ZALO = RenditionSpec("zalo", max_bytes=1_000_000, max_long_side=1280)
ZALO_COVER = RenditionSpec("zalo_cover", max_bytes=1_000_000, crop=(1280, 720))

#: every rendition made for each image, in the order they are returned
RENDITION_SPECS: tuple[RenditionSpec, ...] = (FACEBOOK, ZALO, ZALO_COVER)


@dataclass(frozen=True)
class Rendition:
    """One finished JPEG in the cache; ``sha256`` is of the file's bytes."""

    channel: str
    path: Path
    width: int
    height: int
    bytes: int
    sha256: str
    quality: int = 0


@dataclass(frozen=True)
class ImageInfo:
    """What ``check_image`` learned: upright size (EXIF orientation applied) and format.

    ``format`` is detected from the content, never the file name: JPEG (also for
    phones' multi-picture MPO files), PNG, WEBP, GIF, TIFF, BMP or HEIF.
    """

    width: int
    height: int
    format: str
