"""``check_image`` vouches for a JPEG by its marker structure instead of decoding it.

The walk must refuse everything a decode refused (the differential test below holds
it to that on hundreds of damaged files), refuse more of what a copy that did not
finish leaves behind, and leave anything unusual to the decoder.
"""

from __future__ import annotations

import io
import random
import struct
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image, ImageFile

from social_publisher.errors import MediaError
from social_publisher.media import check_image
from social_publisher.media.load import (
    TRUNCATED,
    UNUSUAL,
    JpegStructure,
    jpeg_structure,
    upright_size,
)
from social_publisher.media.specs import ImageInfo

MAX = 80_000_000


def jpeg(im: Image.Image, **options: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", **options)
    return buf.getvalue()


def photo(h: SimpleNamespace, size: tuple[int, int] = (800, 600)) -> Image.Image:
    """A scene with some noise, so the entropy-coded data holds plenty of 0xFF bytes."""
    base = h.scene(size)
    return Image.blend(base, h.noise(size), 0.25)


def refused(data: bytes, name: str = "anh.jpg") -> str:
    with pytest.raises(MediaError) as caught:
        check_image(Path("/nowhere") / name, max_pixels=MAX, data=data)
    return caught.value.message


def decodes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Sizes of every decode ``check_image`` does from now on."""
    seen: list[tuple[int, int]] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        result = original(self)
        seen.append(self.size)
        return result

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return seen


# ---------------------------------------------------------------- sound files


@pytest.mark.parametrize(
    "options",
    [
        {"quality": 90},
        {"quality": 90, "progressive": True},
        {"quality": 90, "optimize": True},
        {"quality": 90, "subsampling": 0},
        {"quality": 90, "subsampling": 1},
        {"quality": 90, "restart_marker_blocks": 3},
        {"quality": 90, "restart_marker_rows": 1, "progressive": True},
        {"quality": 90, "comment": b"\xff\xd9 not an end"},
    ],
    ids=["baseline", "progressive", "optimized", "444", "422", "rst", "rst-prog", "comment"],
)
def test_sound_jpegs_are_accepted_without_decoding(
    h: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, options: dict[str, object]
) -> None:
    data = jpeg(photo(h), **options)
    seen = decodes(monkeypatch)
    assert check_image(Path("x.jpg"), max_pixels=MAX, data=data) == ImageInfo(800, 600, "JPEG")
    assert seen == []


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_grey_and_cmyk_jpegs(h: SimpleNamespace, mode: str) -> None:
    data = jpeg(photo(h).convert(mode), quality=85)
    assert isinstance(jpeg_structure(data), JpegStructure)
    assert check_image(Path("x.jpg"), max_pixels=MAX, data=data) == ImageInfo(800, 600, "JPEG")


def test_data_after_the_end_of_the_picture_is_not_part_of_it(h: SimpleNamespace) -> None:
    data = jpeg(photo(h), quality=85)
    for tail in (b"\0" * 4096, b"SEFHsamsung trailer\0\0" * 10, b"\xff\xd8\xff garbage"):
        assert check_image(Path("x.jpg"), max_pixels=MAX, data=data + tail).width == 800


def test_exif_thumbnail_inside_app1_is_skipped(h: SimpleNamespace) -> None:
    # an APP1 holding a whole (and a truncated) JPEG must not confuse the walk
    thumb = jpeg(h.scene((160, 120)), quality=70)
    exif = h.gps_exif(orientation=6).tobytes() + thumb + thumb[:500]
    data = jpeg(photo(h), quality=85, exif=exif)
    assert check_image(Path("x.jpg"), max_pixels=MAX, data=data) == ImageInfo(600, 800, "JPEG")


def test_orientation_from_xmp_is_read_like_render_reads_it(
    tmp_path: Path, h: SimpleNamespace
) -> None:
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
        b'tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
    )
    data = jpeg(photo(h, (900, 600)), quality=85, xmp=xmp)
    assert jpeg_structure(data) == JpegStructure(900, 600, None, True)  # Pillow decides
    assert check_image(Path("x.jpg"), max_pixels=MAX, data=data) == ImageInfo(600, 900, "JPEG")


def test_mpo_is_checked_on_its_first_picture(h: SimpleNamespace) -> None:
    buf = io.BytesIO()
    first, second = photo(h), photo(h).rotate(90, expand=True)
    first.save(buf, "MPO", save_all=True, append_images=[second], quality=80)
    data = buf.getvalue()
    structure = jpeg_structure(data)
    assert isinstance(structure, JpegStructure) and not structure.plain  # MPF: Pillow's header
    assert check_image(Path("x.jpg"), max_pixels=MAX, data=data) == ImageInfo(800, 600, "JPEG")
    assert "cắt cụt" in refused(data[: len(data) // 4])  # inside the first picture
    second = data.rindex(b"\xff\xd8\xff")
    assert check_image(Path("x.jpg"), max_pixels=MAX, data=data[: second + 100]).width == 800


def test_data_argument_means_the_file_is_not_read_again(tmp_path: Path, h: SimpleNamespace) -> None:
    path = tmp_path / "anh.jpg"
    data = jpeg(photo(h), quality=85)
    path.write_bytes(data)
    from_disk = check_image(path, max_pixels=MAX)
    path.unlink()
    assert check_image(path, max_pixels=MAX, data=data) == from_disk
    assert "rỗng" in refused(b"")
    png = io.BytesIO()
    h.scene((600, 400)).save(png, "PNG")
    assert check_image(path, max_pixels=MAX, data=png.getvalue()) == ImageInfo(600, 400, "PNG")


# ---------------------------------------------------------------- cut short


def test_missing_end_of_image_is_cut_short(h: SimpleNamespace) -> None:
    data = jpeg(photo(h), quality=85)
    assert data.endswith(b"\xff\xd9")
    assert jpeg_structure(data[:-2]) is TRUNCATED
    assert "cắt cụt" in refused(data[:-2])


@pytest.mark.parametrize("progressive", [False, True])
def test_tail_zero_filled_by_an_unfinished_copy_is_cut_short(
    h: SimpleNamespace, progressive: bool
) -> None:
    # a copy that preallocated the file and stopped: right size, zeros at the end
    data = jpeg(photo(h), quality=85, progressive=progressive)
    for keep in (len(data) // 3, len(data) * 2 // 3, len(data) - 40):
        damaged = data[:keep] + b"\0" * (len(data) - keep)
        assert jpeg_structure(damaged) is TRUNCATED
        assert "cắt cụt" in refused(damaged)


def test_cut_inside_a_header_segment(h: SimpleNamespace) -> None:
    data = jpeg(photo(h), quality=85, exif=h.gps_exif(orientation=3))
    for keep in (3, 4, 5, 30, 100, 400):
        assert jpeg_structure(data[:keep]) is TRUNCATED
        assert "cắt cụt" in refused(data[:keep])


# ---------------------------------------------------------------- unusual: decoded


def _insert_after_first_segment(data: bytes, extra: bytes) -> bytes:
    (length,) = struct.unpack_from(">H", data, 4)
    at = 4 + length
    return data[:at] + extra + data[at:]


def test_unusual_structure_is_left_to_the_decoder(
    h: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # junk between segments: libjpeg skips it with a warning, the walk does not vouch
    data = _insert_after_first_segment(jpeg(photo(h, (1600, 1200)), quality=85), b"junk")
    assert jpeg_structure(data) is UNUSUAL
    seen = decodes(monkeypatch)
    assert check_image(Path("x.jpg"), max_pixels=MAX, data=data).width == 1600
    assert seen == [(200, 150)], "decoded at 1/8 scale, as before"
    assert "cắt cụt" in refused(data[: len(data) // 2])


def _segments(data: bytes) -> dict[int, int]:
    """Offset of the first segment of each marker before the scan data."""
    found: dict[int, int] = {}
    pos = 2
    while data[pos + 1] != 0xDA:
        found.setdefault(data[pos + 1], pos)
        pos += 2 + struct.unpack_from(">H", data, pos + 2)[0]
    return found


def _patched(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new) :]


def test_what_libjpeg_refuses_in_the_headers_is_not_vouched_for(h: SimpleNamespace) -> None:
    data = jpeg(photo(h), quality=85)
    seg = _segments(data)
    sof, dht, sos = seg[0xC0], seg[0xC4], data.index(b"\xff\xda")
    cases = {
        "12-bit": _patched(data, sof + 4, b"\x0c"),
        "DNL height": _patched(data, sof + 5, b"\0\0"),
        "two layers": _patched(data, sof + 9, b"\x02"),
        "sampling 5": _patched(data, sof + 11, b"\x51"),
        "quant table 4": _patched(data, sof + 12, b"\x04"),
        "huffman class 2": _patched(data, dht + 4, b"\x20"),
        "huffman overfull": _patched(data, dht + 5, b"\x03"),  # 3 codes of length 1
        "scan of no component": _patched(data, sos + 5, b"\x09"),
        "scan table 5": _patched(data, sos + 6, b"\x55"),
        "scan not sequential": _patched(data, sos + 12, b"\x3f\x3f"),
        "arithmetic SOF9": _patched(data, sof + 1, b"\xc9"),
        "unknown marker": _patched(data, dht + 1, b"\xf3"),
    }
    for name, damaged in cases.items():
        assert jpeg_structure(damaged) is UNUSUAL, name


def test_table_segments_anywhere_before_the_scan(h: SimpleNamespace) -> None:
    """The cached fast path for the usual layout must not change what is vouched for."""
    data = jpeg(photo(h), quality=85)
    seg = _segments(data)
    sof_at, dht_at = seg[0xC0], seg[0xC4]
    sof = data[sof_at : sof_at + 2 + struct.unpack_from(">H", data, sof_at + 2)[0]]
    comment = b"\xff\xfe\x00\x07hello"
    # tables split by a comment: still sound, same answer
    split = data[:dht_at] + comment + data[dht_at:]
    assert jpeg_structure(split) == jpeg_structure(data) == JpegStructure(800, 600, 1, True)
    # a frame header before the tables, then the usual block with its own: two frames
    assert jpeg_structure(data[:2] + sof + data[2:]) is UNUSUAL
    assert jpeg_structure(data[:dht_at] + sof + data[dht_at:]) is UNUSUAL


# ---------------------------------------------------------------- never weaker


def _decode_refuses(data: bytes) -> bool:
    """The check as it was: Pillow's header, then a 1/8-scale decode."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data), formats=("JPEG",)) as im:
                im.draft("RGB", (max(1, im.size[0] // 8), max(1, im.size[1] // 8)))
                im.load()
        except Exception:
            return True
    return False


def _mutations(data: bytes, rng: random.Random) -> list[bytes]:
    n = len(data)
    out = []
    for _ in range(40):
        i = rng.randrange(2, n)
        flipped = bytearray(data)
        flipped[i] ^= 1 << rng.randrange(8)
        marker = bytearray(data)
        marker[i - 1 : i + 1] = bytes([0xFF, rng.randrange(256)])
        head = bytearray(data)
        head[rng.randrange(2, min(n, 700))] = rng.randrange(256)
        gap = rng.randrange(1, 400)
        out += [
            data[:i],
            bytes(flipped),
            bytes(marker),
            bytes(head),
            data[:i] + data[i + gap :],
            data[:i] + rng.randbytes(rng.randrange(1, 20)) + data[i:],
            data[:i] + b"\0" * (n - i),
        ]
    return out


@pytest.mark.parametrize(
    "make",
    [
        lambda h: jpeg(photo(h, (320, 240)), quality=80, exif=h.gps_exif(orientation=6)),
        lambda h: jpeg(photo(h, (320, 240)), quality=80, progressive=True),
        lambda h: jpeg(photo(h, (320, 240)), quality=80, restart_marker_blocks=2),
        lambda h: jpeg(photo(h, (320, 240)).convert("L"), quality=80, optimize=True),
    ],
    ids=["exif", "progressive", "restart", "grey-optimized"],
)
def test_check_refuses_whatever_decoding_refused(
    h: SimpleNamespace, make: Callable[[SimpleNamespace], bytes]
) -> None:
    data = make(h)
    rng = random.Random(len(data))
    checked = 0
    for damaged in _mutations(data, rng):
        try:
            info = check_image(Path("x.jpg"), max_pixels=MAX, data=damaged)
        except MediaError:
            continue
        checked += 1
        assert not _decode_refuses(damaged), "accepted what a decode refuses"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's notes on the damaged EXIF
            with Image.open(io.BytesIO(damaged)) as im:
                exif = im.getexif().get(0x0112, 1)
                size = im.size
        orient = exif if isinstance(exif, int) and exif in range(1, 9) else 1
        assert (info.width, info.height) == upright_size(size, orient)
    assert checked > 50  # most damage to entropy-coded data is invisible to both


@pytest.mark.parametrize(
    ("first_entry", "upright"),
    [
        ((0x010F, 2, 100, 1000), (300, 200)),  # value past the end: Pillow stops reading
        ((0x010F, 2, 100, 38), (200, 300)),  # a readable value: the orientation counts
        ((0x010F, 2, 10**6, 38), (200, 300)),  # larger than the data: skipped, reading goes on
    ],
)
def test_exif_orientation_is_read_as_pillow_reads_it(
    first_entry: tuple[int, int, int, int], upright: tuple[int, int]
) -> None:
    ifd = (
        struct.pack("<2sHIH", b"II", 42, 8, 2)
        + struct.pack("<HHII", *first_entry)
        + struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0)
        + b"\0\0\0\0"
        + b"x" * 120
    )
    data = jpeg(Image.new("RGB", (300, 200), (90, 120, 30)), exif=b"Exif\0\0" + ifd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's notes on the broken entry
        with Image.open(io.BytesIO(data)) as im:
            exif = im.getexif().get(0x0112, 1)
    assert upright_size((300, 200), exif if exif in range(1, 9) else 1) == upright
    info = check_image(Path("x.jpg"), max_pixels=MAX, data=data)
    assert (info.width, info.height) == upright


def test_tiff_value_sizes_match_pillow() -> None:
    from PIL import TiffImagePlugin

    from social_publisher.media.load import _TIFF_UNIT

    known = TiffImagePlugin.ImageFileDirectory_v2._load_dispatch
    assert {kind: unit for kind, (unit, _) in known.items()} == _TIFF_UNIT
