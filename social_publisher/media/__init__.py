"""Images: per-channel renditions that always fit, never leak metadata, never crash.

``render_image`` makes (or finds in the cache) one JPEG per spec in ``RENDITION_SPECS``
for a staff photo, ``render_images`` does it for all of a post's photos at once
(in parallel threads); ``check_image`` is the cheap validation ``check`` runs on every
post's photos. A refused photo gets a :class:`~social_publisher.errors.MediaError`
(raised; ``render_images`` returns it in the photo's place) whose Vietnamese message
names the file and the fix. See ``specs`` for the sizes
chosen and why, ``load`` for how untrusted files are opened, ``render`` for size
targeting and ``cache`` for the on-disk cache.
"""

from __future__ import annotations

from .load import ACCEPTED_FORMATS, check_image
from .render import render_image, render_images, render_specs
from .specs import (
    FACEBOOK,
    MIN_SHORT_SIDE,
    RENDITION_SPECS,
    ZALO,
    ZALO_COVER,
    ImageInfo,
    Rendition,
    RenditionSpec,
)

__all__ = [
    "ACCEPTED_FORMATS",
    "FACEBOOK",
    "MIN_SHORT_SIDE",
    "RENDITION_SPECS",
    "ZALO",
    "ZALO_COVER",
    "ImageInfo",
    "Rendition",
    "RenditionSpec",
    "check_image",
    "render_image",
    "render_images",
    "render_specs",
]
