"""assets/ is the source of the brand material; the package carries identical copies."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from social_publisher.services.publisher import DEFAULT_COVER

ROOT = Path(__file__).parents[2]
ASSETS = ROOT / "assets"
#: source in assets/ -> the copy the installed package reads
PACKAGED = {"default-cover.jpg": ROOT / "social_publisher" / "data" / "default-cover.jpg"}


@pytest.mark.parametrize("name", sorted(PACKAGED))
def test_the_packaged_copy_is_the_asset(name: str) -> None:
    source, copy = ASSETS / name, PACKAGED[name]
    assert copy.read_bytes() == source.read_bytes(), (
        f"{copy.relative_to(ROOT)} differs from assets/{name}: assets/ is the source, "
        f"copy it over (cp assets/{name} {copy.relative_to(ROOT)})"
    )


def test_every_packaged_asset_is_listed_and_documented() -> None:
    readme = (ASSETS / "README.md").read_text(encoding="utf-8")
    binaries = {p.name for p in ASSETS.iterdir() if p.name != "README.md"}
    assert binaries == set(PACKAGED)
    for name in binaries:
        assert f"`{name}`" in readme


def test_the_publisher_reads_the_packaged_cover_and_it_has_zalos_shape() -> None:
    assert PACKAGED["default-cover.jpg"].resolve() == DEFAULT_COVER
    with Image.open(DEFAULT_COVER) as image:
        assert image.format == "JPEG" and image.size == (1280, 720)
