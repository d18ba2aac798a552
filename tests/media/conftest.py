"""Image makers for the media tests: every case is generated with Pillow, small and fast."""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import ExifTags, Image, ImageDraw

# sRGB primaries adapted to D50 (the ICC connection space), as in every sRGB profile.
SRGB_RED = (0.4361, 0.2225, 0.0139)
SRGB_GREEN = (0.3851, 0.7169, 0.0971)
SRGB_BLUE = (0.1431, 0.0606, 0.7141)
D50 = (0.9642, 1.0, 0.8249)


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz(values: tuple[float, float, float]) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in values)


def rgb_icc_profile(
    description: str,
    red: tuple[float, float, float],
    green: tuple[float, float, float],
    blue: tuple[float, float, float],
) -> bytes:
    """A minimal ICC v2 matrix/TRC display profile (gamma 2.2) with the given primaries."""
    desc_ascii = description.encode("ascii") + b"\0"
    desc = (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(desc_ascii))
        + desc_ascii
        + b"\0" * 4
        + b"\0" * 4
        + b"\0" * 2
        + b"\0"
        + b"\0" * 67
    )
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0233) + b"\0\0"
    tags = [
        (b"desc", desc),
        (b"wtpt", _xyz(D50)),
        (b"rXYZ", _xyz(red)),
        (b"gXYZ", _xyz(green)),
        (b"bXYZ", _xyz(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0test\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        while (offset + len(data)) % 4:
            data += b"\0"
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    while len(data) % 4:
        data += b"\0"
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"test"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)
        + b"".join(_s15(v) for v in D50)
        + b"test"
        + b"\0" * 44
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def gps_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestPhone"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (14.0, 49.0, 12.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (108.0, 56.0, 31.2)
    return exif


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of every segment before the image data (SOS)."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    pos, out = 2, []
    while pos < len(data):
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        if marker == 0xD9:
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        out.append((marker, data[pos + 4 : pos + 2 + length]))
        if marker == 0xDA:  # start of scan: pixel data follows
            break
        pos += 2 + length
    return out


def assert_no_metadata(path: Path) -> None:
    """Only JFIF, tables and frame headers: no EXIF/XMP (APP1), ICC (APP2), IPTC (APP13),
    Adobe or any other APPn but APP0, and no comment (COM)."""
    data = path.read_bytes()
    for marker, payload in jpeg_segments(data):
        if marker == 0xE0:
            assert payload.startswith(b"JFIF\0"), payload[:8]
            continue
        assert not 0xE1 <= marker <= 0xEF, f"APP{marker - 0xE0} segment left in {path.name}"
        assert marker != 0xFE, f"comment left in {path.name}"
    with Image.open(path) as im:
        assert not im.getexif()
        assert "icc_profile" not in im.info
        assert "xmp" not in im.info
        assert "comment" not in im.info


def noise(size: tuple[int, int], seed: int = 1) -> Image.Image:
    """Uniform random pixels: as hard to compress as a photo can get."""
    rnd = random.Random(seed)
    return Image.frombytes("RGB", size, rnd.randbytes(size[0] * size[1] * 3))


def scene(size: tuple[int, int]) -> Image.Image:
    """A cheap photo-ish picture: gradient and some shapes."""
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.ellipse((w // 4, h // 4, w // 2, h // 2), fill=(30, 120, 200))
    draw.rectangle((w // 2, h // 2, w - w // 8, h - h // 8), fill=(220, 180, 40))
    return img


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` with almost no data (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@dataclass
class Paths:
    root: Path
    cache: Path
    out: Path


@pytest.fixture
def dirs(tmp_path: Path) -> Paths:
    paths = Paths(tmp_path / "in", tmp_path / "cache", tmp_path / "out")
    paths.root.mkdir()
    return paths


@pytest.fixture
def photo(dirs: Paths) -> Path:
    """A 1600×1200 JPEG, ``anh.jpg``, in the input folder."""
    path = dirs.root / "anh.jpg"
    scene((1600, 1200)).save(path, "JPEG", quality=90)
    return path


@pytest.fixture(scope="session")
def h() -> SimpleNamespace:
    """The helpers above, for test modules (importlib mode: tests cannot import conftest)."""
    return SimpleNamespace(
        rgb_icc_profile=rgb_icc_profile,
        gps_exif=gps_exif,
        jpeg_segments=jpeg_segments,
        assert_no_metadata=assert_no_metadata,
        noise=noise,
        scene=scene,
        png_header_only=png_header_only,
        SRGB_RED=SRGB_RED,
        SRGB_GREEN=SRGB_GREEN,
        SRGB_BLUE=SRGB_BLUE,
    )
