"""Renditions: right size, shape, colours and orientation; under the caps; no metadata."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pillow_heif
import pytest
from PIL import Image, ImageCms, ImageDraw

from social_publisher.media import (
    FACEBOOK,
    RENDITION_SPECS,
    ZALO,
    ZALO_COVER,
    Rendition,
    RenditionSpec,
    check_image,
    render_image,
)
from social_publisher.media import load as media_load
from social_publisher.media import render as media_render

MAX = 80_000_000


def render(path: Path, cache: Path) -> dict[str, Rendition]:
    return {r.channel: r for r in render_image(path, cache_dir=cache, max_pixels=MAX)}


def pixel(path: Path, xy: tuple[float, float]) -> tuple[int, int, int]:
    """The pixel at a fraction (x, y) of the image."""
    with Image.open(path) as im:
        rgb = im.convert("RGB")
        value = rgb.getpixel((int(xy[0] * (im.width - 1)), int(xy[1] * (im.height - 1))))
    assert isinstance(value, tuple)
    return value[0], value[1], value[2]


def is_red(p: tuple[int, int, int]) -> bool:
    return p[0] > 190 and p[1] < 70 and p[2] < 70


def close(p: tuple[int, int, int], want: tuple[int, int, int], tol: int = 12) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(p, want, strict=True))


# ------------------------------------------------------------------ orientation

# Where the visual top-left corner lies in the stored pixels, for each EXIF orientation,
# from the EXIF definition of the 0th row and 0th column (not from Pillow's tables).
STORED_CORNER = {
    1: ("top", "left"),
    2: ("top", "right"),
    3: ("bottom", "right"),
    4: ("bottom", "left"),
    5: ("top", "left"),
    6: ("bottom", "left"),
    7: ("bottom", "right"),
    8: ("top", "right"),
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(
    orientation: int, dirs: SimpleNamespace, h: SimpleNamespace
) -> None:
    upright_w, upright_h = 480, 320
    stored = (upright_w, upright_h) if orientation <= 4 else (upright_h, upright_w)
    im = Image.new("RGB", stored, (235, 235, 235))
    vertical, horizontal = STORED_CORNER[orientation]
    block = 90
    x0 = 0 if horizontal == "left" else stored[0] - block
    y0 = 0 if vertical == "top" else stored[1] - block
    ImageDraw.Draw(im).rectangle((x0, y0, x0 + block - 1, y0 + block - 1), fill=(230, 20, 20))
    path = dirs.root / f"o{orientation}.jpg"
    im.save(path, "JPEG", quality=95, exif=h.gps_exif(orientation))

    out = render(path, dirs.cache)
    fb = out["facebook"]
    assert (fb.width, fb.height) == (upright_w, upright_h)
    assert is_red(pixel(fb.path, (0.05, 0.07))), "red block must be top-left"
    for corner in ((0.95, 0.07), (0.05, 0.93), (0.95, 0.93)):
        assert not is_red(pixel(fb.path, corner))
    for r in out.values():
        h.assert_no_metadata(r.path)
        with Image.open(r.path) as rendered:
            assert 0x0112 not in rendered.getexif()
    assert check_image(path, max_pixels=MAX).width == upright_w


# ------------------------------------------------------------------ metadata


def test_gps_exif_xmp_comment_and_icc_never_leave(
    dirs: SimpleNamespace, h: SimpleNamespace
) -> None:
    path = dirs.root / "gps.jpg"
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>14,49N</exif:GPSLatitude>'
    xmp += b"</x:xmpmeta>"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    h.scene((1200, 900)).save(
        path,
        "JPEG",
        exif=h.gps_exif(1),
        comment=b"GPS 14.82N 108.94E",
        xmp=xmp,
        icc_profile=srgb,
    )
    with Image.open(path) as src:  # the test input really carries it all
        assert src.getexif().get_ifd(0x8825)
        assert {"comment", "xmp", "icc_profile"} <= set(src.info)
    for r in render(path, dirs.cache).values():
        h.assert_no_metadata(r.path)


def test_png_with_exif_and_text_chunks_leaves_nothing(
    dirs: SimpleNamespace, h: SimpleNamespace
) -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "Chụp tại 14.82N 108.94E")
    path = dirs.root / "gps.png"
    h.scene((800, 600)).save(path, "PNG", pnginfo=info, exif=h.gps_exif(1))
    for r in render(path, dirs.cache).values():
        h.assert_no_metadata(r.path)


# ------------------------------------------------------------------ sizes and shapes


def test_landscape_phone_photo_sizes(dirs: SimpleNamespace, h: SimpleNamespace) -> None:
    path = dirs.root / "ngang.jpg"
    h.scene((4000, 3000)).save(path, "JPEG", quality=90)
    out = render(path, dirs.cache)
    fb, zalo, cover = out["facebook"], out["zalo"], out["zalo_cover"]
    # JPEG DCT scaling gives 2000x1500 directly (within 3% of 2048): no resample needed
    assert (fb.width, fb.height) == (2000, 1500)
    assert (zalo.width, zalo.height) == (1280, 960)
    assert (cover.width, cover.height) == (1280, 720)
    for r in out.values():
        with Image.open(r.path) as im:
            assert im.format == "JPEG" and im.mode == "RGB"
            assert im.size == (r.width, r.height)
        assert r.path.stat().st_size == r.bytes
        assert r.bytes <= next(s.max_bytes for s in RENDITION_SPECS if s.channel == r.channel)


def test_exact_2048_when_dct_scaling_cannot_get_close(
    dirs: SimpleNamespace, h: SimpleNamespace
) -> None:
    path = dirs.root / "3000.png"
    h.scene((3000, 2000)).save(path, "PNG")
    out = render(path, dirs.cache)
    assert (out["facebook"].width, out["facebook"].height) == (2048, 1365)
    assert (out["zalo"].width, out["zalo"].height) == (1280, 853)
    assert (out["zalo_cover"].width, out["zalo_cover"].height) == (1280, 720)


def test_portrait_cover_is_cut_around_the_upper_third(
    dirs: SimpleNamespace, h: SimpleNamespace
) -> None:
    im = Image.new("RGB", (1500, 2000), (240, 240, 240))
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 640, 1499, 700), fill=(230, 20, 20))  # a band at 1/3 of the height
    draw.rectangle((0, 1300, 1499, 1500), fill=(20, 20, 230))  # far below it
    path = dirs.root / "doc.jpg"
    im.save(path, "JPEG", quality=95)
    cover = render(path, dirs.cache)["zalo_cover"]
    assert (cover.width, cover.height) == (1280, 720)
    assert is_red(pixel(cover.path, (0.5, 0.5)))
    with Image.open(cover.path) as c:
        colours = c.convert("RGB").getcolors(1 << 20) or []
    assert not any(b > 190 and r < 70 for _, (r, g, b) in colours), "lower part not in cover"


def test_small_image_is_never_upscaled(dirs: SimpleNamespace, h: SimpleNamespace) -> None:
    path = dirs.root / "nho.jpg"
    h.scene((320, 240)).save(path, "JPEG")
    out = render(path, dirs.cache)
    assert (out["facebook"].width, out["facebook"].height) == (320, 240)
    assert (out["zalo"].width, out["zalo"].height) == (320, 240)
    assert (out["zalo_cover"].width, out["zalo_cover"].height) == (320, 180)


def test_spec_sizes() -> None:
    assert FACEBOOK.target_size(4000, 3000) == (2048, 1536)
    assert ZALO.target_size(3000, 4000) == (960, 1280)
    assert ZALO_COVER.target_size(4000, 1000) == (1280, 720)
    assert ZALO_COVER.crop_box_size(4000, 1000) == (1778, 1000)
    assert ZALO_COVER.target_size(1000, 2000) == (1000, 562)


def test_large_jpeg_is_dct_scaled_not_fully_decoded(
    dirs: SimpleNamespace, h: SimpleNamespace
) -> None:
    path = dirs.root / "lon.jpg"
    h.scene((6000, 4000)).save(path, "JPEG", quality=85)
    with media_load.open_image(path, max_pixels=MAX) as im:
        base = media_load.decode(im, FACEBOOK.needed_fraction(6000, 4000), path)
    assert base.size == (3000, 2000)  # 1/2 scale: the smallest that still gives >= 2048
    with media_load.open_image(path, max_pixels=MAX) as im:
        base = media_load.decode(im, ZALO.needed_fraction(6000, 4000), path)
    assert base.size == (1500, 1000)  # 1/4 scale when only the 1280 rendition is wanted


def test_other_formats_are_reduced_early(dirs: SimpleNamespace, h: SimpleNamespace) -> None:
    path = dirs.root / "lon.png"
    h.scene((3000, 2400)).save(path, "PNG", compress_level=1)
    with media_load.open_image(path, max_pixels=MAX) as im:
        base = media_load.decode(im, 1280 / 3000, path)
    assert base.size == (1500, 1200)


# ------------------------------------------------------------------ byte caps


def test_byte_caps_met_on_incompressible_noise(dirs: SimpleNamespace, h: SimpleNamespace) -> None:
    path = dirs.root / "noise.bmp"
    h.noise((2600, 1950)).save(path, "BMP")
    out = render(path, dirs.cache)
    for spec in RENDITION_SPECS:
        r = out[spec.channel]
        assert r.bytes <= spec.max_bytes, (spec.channel, r.bytes)
        assert spec.quality_floor <= r.quality <= spec.quality_top
    assert out["zalo"].quality < 95, "noise at 1280 px cannot fit 1 MB at q95"


def test_quality_search_finds_the_best_quality_in_few_encodes(
    h: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    im = h.noise((900, 700), seed=3)
    encodes: list[int] = []
    original = media_render.encode_jpeg

    def counting(image: Image.Image, quality: int) -> bytes:
        encodes.append(quality)
        return original(image, quality)

    monkeypatch.setattr(media_render, "encode_jpeg", counting)
    for cap in (700_000, 500_000, 400_000, 320_000):
        encodes.clear()
        spec = RenditionSpec("t", max_bytes=cap, max_long_side=2000)
        result = media_render.fit(im, spec, Path("t.jpg"))
        assert len(result.data) <= cap
        assert result.quality > spec.quality_floor
        assert len(original(im, result.quality + 1)) > cap, "a higher quality would fit"
        assert (result.width, result.height) == im.size
        assert len(encodes) <= 6, encodes


def test_dimensions_shrink_only_when_the_floor_does_not_fit(h: SimpleNamespace) -> None:
    im = h.noise((1000, 800), seed=4)
    spec = RenditionSpec("t", max_bytes=120_000, max_long_side=2000)
    result = media_render.fit(im, spec, Path("t.jpg"))
    assert len(result.data) <= spec.max_bytes
    assert result.width < 1000 and result.height < 800
    assert abs(result.width / result.height - 1.25) < 0.01


# ------------------------------------------------------------------ colour and modes


def test_cmyk_jpeg_becomes_rgb(dirs: SimpleNamespace) -> None:
    im = Image.new("CMYK", (600, 400), (0, 0, 0, 0))  # white
    ImageDraw.Draw(im).rectangle((0, 0, 299, 399), fill=(0, 255, 255, 0))  # red
    path = dirs.root / "cmyk.jpg"
    im.save(path, "JPEG", quality=95)
    fb = render(path, dirs.cache)["facebook"]
    assert is_red(pixel(fb.path, (0.2, 0.5)))
    assert close(pixel(fb.path, (0.8, 0.5)), (255, 255, 255))


def test_alpha_png_is_flattened_on_white(dirs: SimpleNamespace) -> None:
    im = Image.new("RGBA", (600, 400), (0, 0, 0, 0))  # fully transparent black
    ImageDraw.Draw(im).rectangle((0, 0, 199, 399), fill=(230, 20, 20, 255))
    ImageDraw.Draw(im).rectangle((400, 0, 599, 399), fill=(0, 0, 0, 128))  # half black
    path = dirs.root / "logo.png"
    im.save(path, "PNG")
    fb = render(path, dirs.cache)["facebook"]
    assert is_red(pixel(fb.path, (0.15, 0.5)))
    assert close(pixel(fb.path, (0.5, 0.5)), (255, 255, 255), tol=4), "transparent -> white"
    assert close(pixel(fb.path, (0.85, 0.5)), (127, 127, 127), tol=8), "half alpha -> grey"


def test_palette_gif_with_transparency_and_animation(dirs: SimpleNamespace) -> None:
    frames = [Image.new("RGB", (400, 300), colour) for colour in ("red", "lime", "blue")]
    for frame in frames:
        ImageDraw.Draw(frame).rectangle((300, 0, 399, 299), fill=(0, 0, 0))
    pal = [f.convert("P", palette=Image.Palette.ADAPTIVE, colors=4) for f in frames]
    path = dirs.root / "dong.gif"
    black_index = pal[0].getpixel((350, 150))
    pal[0].save(
        path, save_all=True, append_images=pal[1:], duration=100, loop=0, transparency=black_index
    )
    with Image.open(path) as src:
        assert src.n_frames == 3
    fb = render(path, dirs.cache)["facebook"]
    assert is_red(pixel(fb.path, (0.3, 0.5))), "first frame"
    assert close(pixel(fb.path, (0.95, 0.5)), (255, 255, 255), tol=6), "transparent -> white"


def test_16_bit_greyscale_png_is_scaled_not_clipped(dirs: SimpleNamespace) -> None:
    im = Image.new("I;16", (400, 300), 32768)  # mid grey in 16 bits
    path = dirs.root / "16bit.png"
    im.save(path, "PNG")
    with Image.open(path) as src:
        assert src.mode == "I;16"
    p = pixel(render(path, dirs.cache)["facebook"].path, (0.5, 0.5))
    assert close(p, (128, 128, 128), tol=3), p


def test_non_srgb_icc_profile_is_converted(dirs: SimpleNamespace, h: SimpleNamespace) -> None:
    # a profile whose "red" is sRGB's green: converted correctly, red pixels turn green
    swapped = h.rgb_icc_profile("Swapped RG test", h.SRGB_GREEN, h.SRGB_RED, h.SRGB_BLUE)
    im = Image.new("RGB", (400, 300), (255, 0, 0))
    path = dirs.root / "icc.jpg"
    im.save(path, "JPEG", quality=95, icc_profile=swapped)
    with Image.open(path) as src:
        assert src.info["icc_profile"] == swapped
    for r in render(path, dirs.cache).values():
        p = pixel(r.path, (0.5, 0.5))
        assert p[1] > 200 and p[0] < 60 and p[2] < 60, p
        h.assert_no_metadata(r.path)


def test_embedded_srgb_profile_is_not_carried_and_colours_kept(
    dirs: SimpleNamespace, h: SimpleNamespace
) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = dirs.root / "srgb.png"
    Image.new("RGB", (400, 300), (200, 120, 40)).save(path, "PNG", icc_profile=srgb)
    fb = render(path, dirs.cache)["facebook"]
    assert close(pixel(fb.path, (0.5, 0.5)), (200, 120, 40), tol=4)
    h.assert_no_metadata(fb.path)


def test_broken_icc_profile_does_not_refuse_the_photo(dirs: SimpleNamespace) -> None:
    path = dirs.root / "badicc.jpg"
    Image.new("RGB", (400, 300), (10, 200, 10)).save(path, "JPEG", icc_profile=b"not a profile")
    fb = render(path, dirs.cache)["facebook"]
    assert close(pixel(fb.path, (0.5, 0.5)), (10, 200, 10))


def test_heic_with_gps(dirs: SimpleNamespace, h: SimpleNamespace) -> None:
    im = h.scene((800, 600))
    path = dirs.root / "IMG_0001.HEIC"
    pillow_heif.from_pillow(im).save(path, quality=85, exif=h.gps_exif(1).tobytes())
    assert check_image(path, max_pixels=MAX).format == "HEIF"
    out = render(path, dirs.cache)
    assert (out["facebook"].width, out["facebook"].height) == (800, 600)
    for r in out.values():
        h.assert_no_metadata(r.path)


@pytest.mark.parametrize("fmt", ["WEBP", "TIFF", "BMP"])
def test_other_accepted_formats(fmt: str, dirs: SimpleNamespace, h: SimpleNamespace) -> None:
    path = dirs.root / f"anh.{fmt.lower()}"
    h.scene((640, 480)).save(path, fmt)
    assert check_image(path, max_pixels=MAX).format == fmt
    out = render(path, dirs.cache)
    assert (out["zalo"].width, out["zalo"].height) == (640, 480)


def test_tiff_orientation_tag(dirs: SimpleNamespace) -> None:
    im = Image.new("RGB", (300, 480), (235, 235, 235))
    ImageDraw.Draw(im).rectangle((0, 390, 89, 479), fill=(230, 20, 20))  # stored bottom-left
    path = dirs.root / "o6.tif"
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(path, "TIFF", exif=exif)
    assert check_image(path, max_pixels=MAX).width == 480
    fb = render(path, dirs.cache)["facebook"]
    assert (fb.width, fb.height) == (480, 300)
    assert is_red(pixel(fb.path, (0.05, 0.07)))


def test_mpo_from_a_phone_is_a_jpeg(dirs: SimpleNamespace, h: SimpleNamespace) -> None:
    first = h.scene((800, 600))
    path = dirs.root / "mpo.jpg"
    first.save(path, "MPO", save_all=True, append_images=[first.rotate(180)])
    with Image.open(path) as src:
        assert src.format == "MPO"
    assert check_image(path, max_pixels=MAX).format == "JPEG"
    assert render(path, dirs.cache)["facebook"].width == 800


def test_renditions_are_deterministic(dirs: SimpleNamespace, h: SimpleNamespace) -> None:
    path = dirs.root / "a.jpg"
    h.scene((1600, 1200)).save(path, "JPEG")
    first = render_image(path, cache_dir=dirs.cache / "1", max_pixels=MAX, workers=1)
    second = render_image(path, cache_dir=dirs.cache / "2", max_pixels=MAX, workers=3)
    assert [r.sha256 for r in first] == [r.sha256 for r in second]


def test_encoder_writes_no_metadata_even_if_an_image_carries_some(
    tmp_path: Path, h: SimpleNamespace
) -> None:
    im = h.scene((300, 200))
    im.info.update(
        comment=b"GPS 14.82N",
        exif=h.gps_exif(1).tobytes(),
        xmp=b"<x:xmpmeta/>",
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
        dpi=(300, 300),
    )
    path = tmp_path / "enc.jpg"
    path.write_bytes(media_render.encode_jpeg(im, 90))
    h.assert_no_metadata(path)


def test_png_exif_orientation(dirs: SimpleNamespace, h: SimpleNamespace) -> None:
    im = Image.new("RGB", (300, 480), (235, 235, 235))
    ImageDraw.Draw(im).rectangle((0, 390, 89, 479), fill=(230, 20, 20))  # stored bottom-left
    path = dirs.root / "o6.png"
    im.save(path, "PNG", exif=h.gps_exif(6))
    fb = render(path, dirs.cache)["facebook"]
    assert (fb.width, fb.height) == (480, 300)
    assert is_red(pixel(fb.path, (0.05, 0.07)))
    h.assert_no_metadata(fb.path)


def test_concurrent_renders_keep_warning_filters_intact(
    dirs: SimpleNamespace, h: SimpleNamespace
) -> None:
    import threading
    import warnings

    paths = []
    for i in range(6):
        path = dirs.root / f"t{i}.jpg"
        h.scene((700 + 10 * i, 500)).save(path, "JPEG")
        paths.append(path)
    bomb = dirs.root / "bom.png"
    bomb.write_bytes(h.png_header_only(100_000, 100_000))
    paths.append(bomb)
    before = list(warnings.filters)
    outcomes: dict[str, str] = {}

    def work(p: Path) -> None:
        try:
            render_image(p, cache_dir=dirs.cache, max_pixels=MAX)
            outcomes[p.name] = "ok"
        except Exception as exc:
            outcomes[p.name] = type(exc).__name__

    threads = [threading.Thread(target=work, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == {**{f"t{i}.jpg": "ok" for i in range(6)}, "bom.png": "MediaError"}
    assert warnings.filters == before


def test_large_alpha_png_is_reduced_then_flattened(dirs: SimpleNamespace) -> None:
    im = Image.new("RGBA", (5000, 1000), (0, 0, 255, 0))  # transparent *blue*
    ImageDraw.Draw(im).rectangle((0, 0, 2499, 999), fill=(230, 20, 20, 255))
    path = dirs.root / "banner.png"
    im.save(path, "PNG", compress_level=1)
    with media_load.open_image(path, max_pixels=MAX) as opened:
        base = media_load.decode(opened, FACEBOOK.needed_fraction(5000, 1000), path)
    assert base.size == (2500, 500) and base.mode == "RGB"
    fb = render(path, dirs.cache)["facebook"]
    assert (fb.width, fb.height) == (2048, 410)
    assert is_red(pixel(fb.path, (0.25, 0.5)))
    # no blue bleeding from the transparent pixels' colour, at the edge or elsewhere
    assert close(pixel(fb.path, (0.75, 0.5)), (255, 255, 255), tol=4)
    edge = pixel(fb.path, (0.502, 0.5))
    assert edge[2] <= edge[0] + 10, edge
