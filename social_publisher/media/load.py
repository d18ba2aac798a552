"""Opening staff photos safely, and turning them into upright, flat, sRGB pixels.

Every photo is hostile until proven otherwise: it may be cut short by a copy that
did not finish (a half-grey photo must never reach the town's page), claim a size
that would eat the office PC's memory, or be a text file named ``.jpg``. So:

- the format is detected from the content (never the extension), and only formats
  the office really gets are opened (``ACCEPTED_FORMATS``);
- the pixel count is checked on the header, before anything is decoded;
- ``ImageFile.LOAD_TRUNCATED_IMAGES`` is forced off and Pillow's
  ``DecompressionBombWarning`` is an error, inside a local ``warnings`` block only;
- photos decode in parallel: Python 3.11's warning filters are process state, so the
  ``warnings`` block holds a lock, and it is held only where Pillow can warn. For
  JPEG (and MPO) and HEIF that is the header: ``Image.open`` (where Pillow's bomb
  check runs) and the EXIF read, well under a millisecond; their decoding (libjpeg's
  DCT-scaled decode, libheif, ICC transform, rotation) warns about nothing, checked in
  Pillow's and pillow-heif's source, and runs unlocked. Other formats (PNG, GIF,
  TIFF, WebP, BMP: rare in the office) decode under the lock, as their readers can
  warn while decoding (palette transparency, TIFF tiles);
- pillow-heif is imported on the first HEIF photo met (detected by its ``ftyp``
  brand, as pillow-heif itself does), not at import: libheif and its codecs cost
  about 3.5 MB of resident memory in every process, and most never see an iPhone photo;
- anything Pillow or a codec raises while parsing becomes a :class:`MediaError` with
  a Vietnamese message naming the file and the fix; the original is kept as the cause.

Integrity in ``check_image`` (used by ``check`` and by every ingest pass, so it must be
cheap) differs from ``render_image``'s on purpose; see ``check_image`` for exactly what each
guarantees.
"""

from __future__ import annotations

import enum
import functools
import io
import logging
import re
import struct
import threading
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import NamedTuple

from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

from ..errors import MediaError
from .specs import MIN_SHORT_SIDE, ImageInfo

log = logging.getLogger("social_publisher.media")

# A half-decoded photo is never acceptable here, whatever another library may set.
ImageFile.LOAD_TRUNCATED_IMAGES = False
Image.init()  # register every plugin now, so _identify_refusal can name other formats

#: Pillow format names we open (JPEG also yields MPO, the multi-picture JPEG of many phones)
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "HEIF")
#: formats whose decoding (after the header and EXIF are read) cannot warn: decoded
#: without the warnings lock, so photos of a post decode in parallel
_QUIET_DECODE = frozenset({"JPEG", "MPO", "HEIF"})
#: major brands of the ``ftyp`` box pillow-heif opens (its ``_is_supported_heif``)
_HEIF_BRANDS = frozenset(
    (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1")
)
_ACCEPTED_LABEL = "JPEG, PNG, HEIC, WebP, GIF, TIFF hoặc BMP"
_IMAGE_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".jpe",
    ".png",
    ".heic",
    ".heif",
    ".webp",
    ".gif",
    ".tif",
    ".tiff",
    ".bmp",
}

#: how far below a target size a JPEG's DCT-scaled decode may land and still be used
DRAFT_SLACK = 0.97

_ORIENTATION_TAG = 0x0112
_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Modes Image.reduce averages correctly: no palette (indices cannot be averaged); alpha
# modes are premultiplied by Pillow while reducing, so colours do not bleed.
_REDUCE_FIRST = {"L", "LA", "RGB", "RGBA", "CMYK", "YCbCr", "I", "F"}
_SRGB = ImageCms.createProfile("sRGB")
_LAB = ImageCms.createProfile("LAB")

# Leading bytes of the formats we know, to tell "a broken photo" from "not a photo".
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"GIF87a", 0, "GIF"),
    (b"GIF89a", 0, "GIF"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"BM", 0, "BMP"),
    (b"WEBP", 8, "WEBP"),
    (b"ftyp", 4, "HEIF"),
)


# ------------------------------------------------------------------ messages


def _msg_missing(path: Path) -> str:
    return f"Không tìm thấy tệp ảnh {path}. Hãy kiểm tra lại tên tệp và thư mục chứa ảnh."


def _msg_unreadable(path: Path) -> str:
    return (
        f"Không đọc được tệp ảnh {path.name}: không có quyền đọc hoặc tệp đang bị khóa. "
        "Hãy đóng chương trình đang mở ảnh, kiểm tra quyền truy cập rồi thử lại."
    )


def _msg_empty(path: Path) -> str:
    return (
        f"Tệp ảnh {path.name} rỗng (0 byte), thường do chép chưa xong. "
        "Hãy chép lại ảnh gốc từ điện thoại hoặc máy ảnh vào thư mục bài viết."
    )


def _msg_not_image(path: Path) -> str:
    lie = f" (dù tên tệp có đuôi {path.suffix})" if path.suffix.lower() in _IMAGE_SUFFIXES else ""
    return (
        f"Tệp {path.name} không phải là ảnh{lie}: nội dung không phải {_ACCEPTED_LABEL}. "
        "Hãy mở ảnh gốc và lưu lại dưới dạng JPEG, hoặc bỏ tệp này khỏi thư mục bài viết."
    )


def _msg_unsupported(path: Path, fmt: str) -> str:
    return (
        f"Ảnh {path.name} ở định dạng {fmt}, chưa được hỗ trợ (chỉ nhận {_ACCEPTED_LABEL}). "
        "Hãy mở ảnh và lưu lại dưới dạng JPEG."
    )


def _msg_corrupt(path: Path, truncated: bool) -> str:
    what = "bị cắt cụt (chép chưa hết)" if truncated else "bị hỏng, không đọc được"
    return (
        f"Ảnh {path.name} {what}. Hãy chép lại ảnh gốc từ điện thoại hoặc máy ảnh "
        "và lưu đè lên tệp này."
    )


def _msg_too_many_pixels(path: Path, width: int, height: int, max_pixels: int) -> str:
    return (
        f"Ảnh {path.name} quá lớn: {width}×{height} điểm ảnh "
        f"({width * height / 1e6:.0f} megapixel), vượt giới hạn {max_pixels / 1e6:.0f} megapixel. "
        "Hãy thu nhỏ ảnh (ví dụ cạnh dài 4000 điểm ảnh) rồi lưu lại."
    )


def _msg_bomb(path: Path) -> str:
    return (
        f"Ảnh {path.name} khai báo kích thước quá lớn so với dung lượng tệp (nghi là tệp độc hại "
        "hoặc hỏng). Hãy dùng ảnh gốc chụp từ điện thoại hoặc máy ảnh."
    )


def _msg_too_small(path: Path, width: int, height: int) -> str:
    return (
        f"Ảnh {path.name} quá nhỏ ({width}×{height} điểm ảnh): cạnh ngắn cần ít nhất "
        f"{MIN_SHORT_SIDE} điểm ảnh. Hãy dùng ảnh gốc có độ phân giải cao hơn."
    )


def _msg_colour_mode(path: Path, mode: str) -> str:
    return (
        f"Ảnh {path.name} dùng hệ màu {mode}, không chuyển được sang màu hiển thị web (sRGB). "
        "Hãy mở ảnh và lưu lại dưới dạng JPEG màu RGB."
    )


# ------------------------------------------------------------------ opening


def _sniff(path: Path, data: bytes | None = None) -> str | None:
    """The format a file's leading bytes announce, if any we know."""
    if data is not None:
        head = data[:16]
    else:
        try:
            with path.open("rb") as fh:
                head = fh.read(16)
        except OSError:
            return None
    for magic, offset, name in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return name
    return None


def _stat_ok(path: Path) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise MediaError(_msg_missing(path), path=str(path)) from None
    except OSError:
        raise MediaError(_msg_unreadable(path), path=str(path)) from None
    if path.is_dir():
        raise MediaError(_msg_not_image(path), path=str(path))
    if size == 0:
        raise MediaError(_msg_empty(path), path=str(path))


#: held wherever Pillow may warn (the filters are process state), and so around every
#: ``Image.open`` of ours: short blocks only
_WARNINGS_LOCK = threading.RLock()
_heif_registered = False


def _is_heif(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


def _register_heif_if_needed(path: Path, data: bytes | None) -> None:
    """Import and register pillow-heif when this file is a HEIF, on the first one met."""
    global _heif_registered
    if _heif_registered:
        return
    if data is not None:
        head = data[:12]
    else:
        try:
            with path.open("rb") as fh:
                head = fh.read(12)
        except OSError:
            return  # Image.open meets the same error and reports it
    if not _is_heif(head):
        return
    with _WARNINGS_LOCK:  # every Image.open runs under it: none sees Pillow's registry change
        if not _heif_registered:
            import pillow_heif

            pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
            _heif_registered = True


def _open_formats() -> tuple[str, ...]:
    """``ACCEPTED_FORMATS`` Pillow has an opener for now (HEIF once pillow-heif is in)."""
    return tuple(fmt for fmt in ACCEPTED_FORMATS if fmt in Image.OPEN)


@contextmanager
def converted(path: Path) -> Iterator[None]:
    """Run Pillow work on an untrusted file: every failure becomes a MediaError."""
    try:
        yield
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError(_msg_bomb(path), path=str(path)) from exc
    except MemoryError as exc:
        raise MediaError(_msg_bomb(path), path=str(path)) from exc
    except PermissionError as exc:
        raise MediaError(_msg_unreadable(path), path=str(path)) from exc
    except FileNotFoundError as exc:
        raise MediaError(_msg_missing(path), path=str(path)) from exc
    except Exception as exc:  # any parser/codec failure on this file means: broken file
        # INFO, with the traceback for what a parser should not raise: the console
        # never shows it, the log file (when configured) keeps it for a bug report
        expected = isinstance(exc, (OSError, SyntaxError, EOFError, ValueError, struct.error))
        log.info("image %s refused: %s: %s", path, type(exc).__name__, exc, exc_info=not expected)
        truncated = isinstance(exc, EOFError) or "truncat" in str(exc).lower()
        raise MediaError(_msg_corrupt(path, truncated), path=str(path)) from exc


@contextmanager
def guarded(path: Path) -> Iterator[None]:
    """``converted``, for Pillow work that may warn: ``DecompressionBombWarning`` is an
    error, other warnings are logged. Holds the warnings lock (the filters are process
    state): keep the block short, never around a decode that cannot warn."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with converted(path):
        with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
        for warning in caught:
            log.debug("image %s: %s", path, warning.message)


def pixel_guard(im: Image.Image, path: Path) -> AbstractContextManager[None]:
    """Where decoding ``im`` runs (inside ``open_image``): unlocked for the formats whose
    decoding cannot warn, under ``guarded`` for the others."""
    return nullcontext() if im.format in _QUIET_DECODE else guarded(path)


def _identify_refusal(path: Path, data: bytes | None = None) -> MediaError:
    """Why a file none of our formats opened: another format, a broken photo, or no photo."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(path if data is None else io.BytesIO(data)) as other:
                fmt = other.format or "không rõ"
        except Exception:
            fmt = None
    if fmt is not None and fmt not in (*ACCEPTED_FORMATS, "MPO"):
        return MediaError(_msg_unsupported(path, fmt), path=str(path))
    if _sniff(path, data) is not None:
        return MediaError(_msg_corrupt(path, truncated=False), path=str(path))
    return MediaError(_msg_not_image(path), path=str(path))


@contextmanager
def open_image(
    path: Path, *, max_pixels: int, data: bytes | None = None
) -> Iterator[ImageFile.ImageFile]:
    """Open ``path`` lazily (header only) after the checks that need no decoding.

    With ``data`` (the file's bytes, already read by the caller) the file is not opened
    again. The caller decodes inside the ``with`` block, under ``pixel_guard``; decoding
    errors are converted too. Only the header is read under the warnings lock.
    """
    path = Path(path)
    if data is None:
        _stat_ok(path)
    elif not data:
        raise MediaError(_msg_empty(path), path=str(path))
    _register_heif_if_needed(path, data)
    with converted(path):
        with guarded(path):
            try:
                im = Image.open(path if data is None else io.BytesIO(data), formats=_open_formats())
            except UnidentifiedImageError:
                raise _identify_refusal(path, data) from None
            try:
                _check_header(im, path, max_pixels)
                # Read the EXIF now, under the lock (a damaged one warns): Pillow keeps
                # it, so the orientation reads after the lock is released parse nothing.
                header_orientation(im)
            except BaseException:
                im.close()
                raise
        with im:
            assert isinstance(im, ImageFile.ImageFile)
            yield im


def _check_header(im: Image.Image, path: Path, max_pixels: int) -> None:
    """Pillow's bomb limit (``Image.open`` checked it too, as a warning made an error by
    ``guarded``: checked here again so no decode depends on the warnings filter), our
    pixel cap and the minimum size, all on the header."""
    width, height = im.size
    bomb = Image.MAX_IMAGE_PIXELS
    if bomb is not None and width * height > bomb:
        raise MediaError(_msg_bomb(path), path=str(path))
    if width * height > max_pixels:
        raise MediaError(_msg_too_many_pixels(path, width, height, max_pixels), path=str(path))
    if min(width, height) < MIN_SHORT_SIDE:
        raise MediaError(_msg_too_small(path, width, height), path=str(path))


def orientation(im: Image.Image) -> int:
    """The EXIF orientation (1-8); 1 when absent or unreadable (a bad EXIF is no reason to
    refuse a photo)."""
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and value in range(1, 9) else 1


def header_orientation(im: Image.Image) -> int:
    """Orientation still to apply to ``im.size``, without decoding. Pillow's TIFF reader
    reports (and loads) TIFFs already upright; a PNG's eXIf after the pixel data is not
    read here."""
    if im.format == "TIFF" or (im.format == "PNG" and "exif" not in im.info):
        return 1
    return orientation(im)


def upright_size(size: tuple[int, int], orient: int) -> tuple[int, int]:
    return (size[1], size[0]) if orient in (5, 6, 7, 8) else size


def normalized_format(im: Image.Image) -> str:
    return "JPEG" if im.format == "MPO" else (im.format or "")


# ------------------------------------------------------------------ decoding


def _scale_for(fraction: float) -> int:
    """The largest power-of-two reduction that still leaves ``fraction`` of the source."""
    for scale in (8, 4, 2):
        if 1 / scale >= fraction * DRAFT_SLACK:
            return scale
    return 1


def _to_8bit(im: Image.Image) -> Image.Image:
    """16-bit, 32-bit and float greys to 8-bit L, scaled (Pillow's convert would clip)."""
    if im.mode.startswith("I;16"):
        return im.convert("I").point(lambda v: v * (1 / 257)).convert("L")
    lo, hi = im.getextrema()
    assert isinstance(lo, (int, float)) and isinstance(hi, (int, float))
    if im.mode == "F" and lo >= 0 and hi <= 1:  # float images in 0..1
        return im.point(lambda v: v * 255).convert("L")
    if lo >= 0 and hi <= 255:
        return im.convert("L")
    if lo >= 0 and hi <= 65535:
        return im.point(lambda v: v * (1 / 257)).convert("L")
    span = (hi - lo) or 1
    return im.point(lambda v: (v - lo) * (255 / span)).convert("L")


def _flatten(im: Image.Image) -> Image.Image:
    """Palette and alpha to plain L/RGB, transparency composited onto white."""
    mode = im.mode
    if mode == "1":
        return im.convert("L")
    if mode == "P":
        palette_alpha = im.palette is not None and im.palette.mode == "RGBA"
        has_alpha = "transparency" in im.info or palette_alpha
        im = im.convert("RGBA" if has_alpha else "RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode in ("L", "RGB") and "transparency" in im.info:
        im = im.convert("LA" if mode == "L" else "RGBA")
    elif mode in ("RGBa", "La"):
        im = im.convert("RGBA" if mode == "RGBa" else "LA")
    if im.mode not in ("RGBA", "LA"):
        return im
    base_mode = im.mode[:-1]
    white: int | tuple[int, int, int] = 255 if base_mode == "L" else (255, 255, 255)
    flat = Image.new(base_mode, im.size, white)
    flat.paste(im.convert(base_mode), (0, 0), im.getchannel("A"))
    return flat


def _is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    try:
        return "srgb" in ImageCms.getProfileDescription(profile).lower()
    except ImageCms.PyCMSError:
        return False


def _apply_icc(im: Image.Image, icc: bytes | None, path: Path) -> Image.Image:
    """Convert from the embedded profile to sRGB. A broken or mismatched profile is
    ignored (the pixels are taken as sRGB) rather than refusing the photo."""
    if not icc:
        return im
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ImageCms.PyCMSError, ValueError):
        log.info("image %s: unreadable ICC profile ignored", path)
        return im
    if _is_srgb(profile):
        return im
    space = str(profile.profile.xcolor_space).strip()
    if {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK"}.get(space) != im.mode:
        log.info("image %s: ICC profile for %s on a %s image ignored", path, space, im.mode)
        return im
    try:
        converted = ImageCms.profileToProfile(im, profile, _SRGB, outputMode="RGB")
    except ImageCms.PyCMSError as exc:
        log.info("image %s: ICC conversion failed (%s), pixels taken as sRGB", path, exc)
        return im
    assert converted is not None
    return converted


def _to_srgb(im: Image.Image, icc: bytes | None, path: Path) -> Image.Image:
    """Any mode Pillow may hand us, to 8-bit sRGB RGB."""
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        im = _to_8bit(im)
    im = _flatten(im)
    if im.mode in ("RGB", "L", "CMYK"):
        im = _apply_icc(im, icc, path)
    elif im.mode == "LAB":
        transform = ImageCms.buildTransform(_LAB, _SRGB, "LAB", "RGB")
        converted = ImageCms.applyTransform(im, transform)
        assert converted is not None
        im = converted
    if im.mode != "RGB":
        try:
            im = im.convert("RGB")
        except (ValueError, OSError) as exc:
            raise MediaError(_msg_colour_mode(path, im.mode), path=str(path)) from exc
    return im


def decode(im: ImageFile.ImageFile, fraction: float, path: Path) -> Image.Image:
    """Decode ``im`` to an upright sRGB RGB image at least ``fraction`` of its size
    (within ``DRAFT_SLACK``), as cheaply as the format allows. Call inside ``open_image``.

    JPEG is DCT-scaled by libjpeg while decoding (``draft``), so a 50-MP photo wanted at
    2048 px is never held at full size; other formats are decoded, then box-reduced by
    an integer factor at once, before any per-pixel work.
    """
    with pixel_guard(im, path):
        return _decode(im, fraction, path)


def _decode(im: ImageFile.ImageFile, fraction: float, path: Path) -> Image.Image:
    icc = im.info.get("icc_profile")
    scale = _scale_for(fraction)
    if im.format in ("JPEG", "MPO"):
        orient = orientation(im)  # read by open_image already: Pillow kept it
        if scale > 1:
            im.draft("RGB", (im.size[0] // scale, im.size[1] // scale))
        im.load()
        out: Image.Image = im
    else:
        im.load()
        orient = orientation(im)
        out = im
        if out.mode not in _REDUCE_FIRST:
            out = _to_srgb(out, icc, path)
            icc = None
        factor = _int_scale(fraction)
        if factor > 1:
            out = out.reduce(factor)
    out = _to_srgb(out, icc, path)
    if orient in _TRANSPOSE:
        out = out.transpose(_TRANSPOSE[orient])
    out.info = {}  # nothing of the source's metadata may travel further
    return out


def _int_scale(fraction: float) -> int:
    """Integer box-reduction factor that still leaves ``fraction`` (within the slack)."""
    return max(1, int(1 / (fraction * DRAFT_SLACK)))


# ------------------------------------------------------------------ check


def check_image(path: Path | str, *, max_pixels: int, data: bytes | None = None) -> ImageInfo:
    """Validate one photo cheaply, the way the queue needs it; raise MediaError if refused.

    ``data`` is the file's content when the caller has already read it (the queue
    scanner hashes every photo), so the file is read once. Returns the upright size
    (EXIF orientation applied) and the format detected from the content.

    What ``check`` (and so every ingest pass) guarantees for a photo it accepts:

    - the content is an accepted format (never judged by the extension), not empty;
    - the header: size and EXIF orientation as Pillow reads them (read here directly
      for the usual JPEG header, by Pillow for anything else); the pixel cap, the
      decompression-bomb limit and the minimum short side hold on that size;
    - JPEG (also MPO, whose first picture is the one published): the whole marker
      structure of the picture is walked and must be sound, as libjpeg itself checks
      it: every segment inside the file, one 8-bit baseline/progressive frame with
      sampling factors and tables libjpeg accepts, every scan naming frame components,
      quantisation and Huffman tables that are defined (and valid), progressive scan
      parameters in range, every component scanned, each scan's entropy-coded data
      ended by a marker, and an EOI after the last scan. Whatever follows the EOI
      (MPO pictures, phone trailers, zero padding) is not part of the picture. A file
      that ends before its EOI, or whose tail is zero-filled by a copy that did not
      finish, is refused as cut short: stricter than decoding, which accepts a file
      whose last rows are missing or grey once libjpeg has every MCU. A JPEG using
      anything else (arithmetic coding, 12-bit, lossless, DNL, unknown markers, junk
      between segments) is decoded at 1/8 scale instead, as before.
    - PNG: ``verify()``, every chunk's CRC to IEND (pixels not inflated);
    - WebP, GIF, TIFF, BMP, HEIF: the first frame is decoded.

    What only ``render_image`` (run by the daemon before anything is published)
    guarantees on top: a full decode of the pixels. It catches what no structural check
    can: entropy-coded bytes libjpeg cannot decode at all (libjpeg reports nearly all
    damage there only as a warning and shows garbled blocks, which a decode accepts
    too), zlib data of a PNG that is wrong under a correct CRC, and colour profiles or
    modes that cannot be converted to sRGB. A photo that passes ``check`` but fails
    rendering is refused then with the same kind of message, and never published.

    ``tests/media/test_check_structure.py`` holds this check to refusing everything the
    former 1/8-scale decode refused, on hundreds of damaged files.
    """
    if data is None:
        data = _read_photo(Path(path))
    if not data:
        raise MediaError(_msg_empty(Path(path)), path=str(path))
    walked: JpegStructure | None = None
    if data.startswith(b"\xff\xd8\xff"):
        found = jpeg_structure(data)
        if found is TRUNCATED:
            raise MediaError(_msg_corrupt(Path(path), truncated=True), path=str(path))
        if isinstance(found, JpegStructure):
            walked = found
            pixels = found.width * found.height
            bomb = Image.MAX_IMAGE_PIXELS
            if (
                found.plain
                and found.orientation is not None
                and pixels <= max_pixels
                and (bomb is None or pixels <= bomb)
                and min(found.width, found.height) >= MIN_SHORT_SIDE
            ):
                width, height = upright_size((found.width, found.height), found.orientation)
                return ImageInfo(width=width, height=height, format="JPEG")
    # Anything else: Pillow reads the header (and says why a photo is refused).
    with (
        open_image(Path(path), max_pixels=max_pixels, data=data) as im,
        pixel_guard(im, Path(path)),
    ):
        fmt = normalized_format(im)
        width, height = upright_size(im.size, header_orientation(im))
        if fmt == "JPEG":
            if walked is None or im.size != (walked.width, walked.height):
                im.draft("RGB", (max(1, im.size[0] // 8), max(1, im.size[1] // 8)))
                im.load()
        elif fmt == "PNG":
            im.verify()
        else:
            im.load()
    return ImageInfo(width=width, height=height, format=fmt)


def _read_photo(path: Path) -> bytes:
    _stat_ok(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MediaError(_msg_missing(path), path=str(path)) from None
    except IsADirectoryError:
        raise MediaError(_msg_not_image(path), path=str(path)) from None
    except OSError:
        raise MediaError(_msg_unreadable(path), path=str(path)) from None


# ------------------------------------------------------------------ JPEG structure


class JpegStructure(NamedTuple):
    """What the structural walk of a sound JPEG learned (see ``check_image``)."""

    width: int
    height: int
    #: EXIF orientation 1-8; None when only Pillow can say (XMP, unusual EXIF)
    orientation: int | None
    #: the header holds nothing Pillow reads differently from this walk (MPF, Photoshop…)
    plain: bool


class _Verdict(enum.Enum):
    TRUNCATED = "truncated"
    UNUSUAL = "unusual"


#: the picture ends before its EOI: cut short, or zero-filled by an unfinished copy
TRUNCATED = _Verdict.TRUNCATED
#: not a shape this walk vouches for: decoding decides
UNUSUAL = _Verdict.UNUSUAL

# A marker ends entropy-coded data: 0xFF followed by anything but a stuffed zero or RSTn.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_U16 = struct.Struct(">H")
#: libjpeg's limit on blocks in one MCU of an interleaved scan (D_MAX_BLOCKS_IN_MCU)
_MAX_BLOCKS_IN_MCU = 10


@functools.lru_cache(maxsize=256)
def _huffman_tables(body: bytes) -> tuple[int, int] | None:
    """(DC ids, AC ids) as bit masks that a DHT segment defines; None if libjpeg refuses it.

    Mirrors jdmarker.c get_dht and jdhuff.c jpeg_make_d_derived_tbl: counts within the
    segment and at most 256 symbols, canonical codes that fit their lengths (no all-ones
    code), DC symbols 0-15. Encoders reuse the same tables, hence the cache.
    """
    dc = ac = 0
    p, end = 0, len(body)
    while p < end:
        if p + 17 > end:
            return None
        index = body[p]
        klass, table = index >> 4, index & 15
        if klass > 1 or table > 3:
            return None
        counts = body[p + 1 : p + 17]
        total = sum(counts)
        if total > 256 or p + 17 + total > end:
            return None
        code = 0
        for length, count in enumerate(counts.rstrip(b"\0"), start=1):
            code += count
            if code >= 1 << length:
                return None
            code <<= 1
        symbols = body[p + 17 : p + 17 + total]
        if klass == 0:
            if symbols and max(symbols) > 15:
                return None
            dc |= 1 << table
        else:
            ac |= 1 << table
        p += 17 + total
    return dc, ac


#: APPn segments Pillow's header reader parses: (marker, prefix, shortest body it reads
#: safely); None: always left to Pillow (MPO index, FlashPix, Photoshop resources)
_PILLOW_APPS: tuple[tuple[int, bytes, int | None], ...] = (
    (0xE0, b"JFIF", 14),
    (0xE2, b"ICC_PROFILE\0", 14),
    (0xE2, b"MPF\0", None),
    (0xE2, b"FPXR\0", None),
    (0xED, b"Photoshop 3.0\0", None),
    (0xEE, b"Adobe", 12),
)


def _plain_app(data: bytes, marker: int, body: int, size: int) -> bool:
    """Whether Pillow reads this APPn segment without effect on what ``check`` returns."""
    for known, prefix, shortest in _PILLOW_APPS:
        if marker == known and data.startswith(prefix, body):
            return shortest is not None and size >= shortest
    return True


class _Frame(NamedTuple):
    width: int
    height: int
    #: (id, horizontal and vertical sampling factors, quantisation table) per component
    components: tuple[tuple[int, int, int, int], ...]
    #: the component ids as a bit mask
    ids: int


@functools.lru_cache(maxsize=256)
def _frame(body: bytes) -> _Frame | None:
    """A SOF0-2 segment as libjpeg (get_sof, initial_setup, upsampling) and Pillow take it.

    8-bit, 1, 3 or 4 components with distinct ids, sampling factors 1-4 that divide the
    largest (libjpeg cannot upsample by a fraction), tables 0-3, and a height (0 would
    mean DNL, which libjpeg does not support). Cached: a camera writes the same frame
    header in every photo.
    """
    if len(body) < 6:
        return None
    count = body[5]
    if body[0] != 8 or count not in (1, 3, 4) or len(body) != 6 + 3 * count:
        return None
    height, width = _U16.unpack_from(body, 1)[0], _U16.unpack_from(body, 3)[0]
    if not width or not height:
        return None
    components = []
    ids = 0
    for i in range(6, len(body), 3):
        cid, h, v, tq = body[i], body[i + 1] >> 4, body[i + 1] & 15, body[i + 2]
        if ids >> cid & 1 or not (0 < h <= 4 and 0 < v <= 4) or tq > 3:
            return None
        ids |= 1 << cid
        components.append((cid, h, v, tq))
    h_max = max(c[1] for c in components)
    v_max = max(c[2] for c in components)
    if any(h_max % c[1] or v_max % c[2] for c in components):
        return None
    return _Frame(width, height, tuple(components), ids)


class _Scan(NamedTuple):
    #: component ids of the scan, and the tables it needs defined, as bit masks
    ids: int
    quant: int
    dc: int
    ac: int
    #: the scan that brings a component in (sequential, or progressive DC first pass)
    first: bool


@functools.lru_cache(maxsize=1024)
def _scan(body: bytes, frame: _Frame, progressive: bool) -> _Scan | None:
    """An SOS segment as libjpeg takes it (get_sos, per_scan_setup, start_pass of
    jdhuff.c / jdphuff.c): known distinct components, at most 10 blocks per MCU when
    interleaved, Huffman tables 0-3 where needed, and scan parameters in range; a
    sequential scan must cover the whole spectrum (libjpeg only warns otherwise, but
    this walk leaves such files to the decoder)."""
    count = body[0] if body else 0
    if not 1 <= count <= 4 or len(body) != 4 + 2 * count:
        return None
    ss, se, approx = body[-3], body[-2], body[-1]
    ah, al = approx >> 4, approx & 15
    first = not progressive or (ss == 0 and ah == 0)
    need_dc = first if progressive else True
    need_ac = ss > 0 if progressive else True
    by_id = {c[0]: c for c in frame.components}
    ids = quant = dc = ac = blocks = 0
    for i in range(1, 1 + 2 * count, 2):
        component = by_id.get(body[i])
        if component is None or ids >> body[i] & 1:
            return None
        ids |= 1 << body[i]
        blocks += component[1] * component[2]
        quant |= 1 << component[3]
        td, ta = body[i + 1] >> 4, body[i + 1] & 15
        if (need_dc and td > 3) or (need_ac and ta > 3):
            return None
        dc |= need_dc << td
        ac |= need_ac << ta
    if count > 1 and blocks > _MAX_BLOCKS_IN_MCU:
        return None
    if progressive:
        if ss == 0:
            if se != 0:
                return None
        elif ss > se or se > 63 or count != 1:
            return None
        if (ah and al != ah - 1) or al > 13:
            return None
    elif ss != 0 or se != 63 or approx:
        return None
    return _Scan(ids, quant, dc, ac, first)


@functools.lru_cache(maxsize=256)
def _quant_tables(body: bytes) -> int | None:
    """Table ids (bit mask) a DQT segment defines: full 8- or 16-bit tables, ids 0-3."""
    tables = p = 0
    while p < len(body):
        precision, table = body[p] >> 4, body[p] & 15
        if precision > 1 or table > 3:
            return None
        p += 1 + 64 * (precision + 1)
        if p > len(body):
            return None
        tables |= 1 << table
    return tables


class _Tables(NamedTuple):
    """What the table and frame segments read so far define (table ids as bit masks)."""

    frame: _Frame | None = None
    progressive: bool = False
    quant: int = 0
    dc: int = 0
    ac: int = 0


_NO_TABLES = _Tables()
#: the segments ``_table_segment`` reads: SOF0-2, DHT, DQT, DRI
_TABLE_MARKERS = frozenset((0xC0, 0xC1, 0xC2, 0xC4, 0xDB, 0xDD))


def _table_segment(marker: int, body: bytes, tables: _Tables) -> _Tables | None:
    """``tables`` updated by one SOF0-2, DHT, DQT or DRI segment; None if unusual."""
    if marker == 0xDB:
        quant = _quant_tables(body)
        return None if quant is None else tables._replace(quant=tables.quant | quant)
    if marker == 0xC4:
        defined = _huffman_tables(body)
        if defined is None:
            return None
        return tables._replace(dc=tables.dc | defined[0], ac=tables.ac | defined[1])
    if marker == 0xDD:
        return tables if len(body) == 2 else None
    if tables.frame is not None:  # a second frame header
        return None
    frame = _frame(body)
    return None if frame is None else tables._replace(frame=frame, progressive=marker == 0xC2)


def _scan_usable(scan: _Scan | None, tables: _Tables, scanned: int) -> bool:
    """The scan's tables are defined, and a sequential scan brings in new components."""
    return not (
        scan is None
        or scan.quant & ~tables.quant
        or scan.dc & ~tables.dc
        or scan.ac & ~tables.ac
        or (not tables.progressive and scan.ids & scanned)
    )


@functools.lru_cache(maxsize=256)
def _header_block(block: bytes) -> tuple[_Tables, _Scan] | None:
    """Table segments followed by the first scan header, exactly filling ``block``.

    Phones and cameras write these bytes identically in every photo, so the whole
    block is checked once (segment by segment, as in ``jpeg_structure``) and cached.
    """
    tables: _Tables | None = _NO_TABLES
    pos, n = 0, len(block)
    while tables is not None and pos + 4 <= n and block[pos] == 0xFF:
        marker, end = block[pos + 1], pos + 2 + _U16.unpack_from(block, pos + 2)[0]
        if end > n or end < pos + 4:
            return None
        if marker == 0xDA:
            if end != n or tables.frame is None:
                return None
            scan = _scan(block[pos + 4 : end], tables.frame, tables.progressive)
            if scan is None or not _scan_usable(scan, tables, 0):
                return None
            return tables, scan
        if marker not in _TABLE_MARKERS:
            return None
        tables = _table_segment(marker, block[pos + 4 : end], tables)
        pos = end
    return None


def jpeg_structure(data: bytes) -> JpegStructure | _Verdict:
    """Walk the markers of the JPEG (first picture) in ``data``, without decoding.

    Returns what was learned when the structure is sound (see ``check_image``),
    ``TRUNCATED`` when the picture ends before its EOI, ``UNUSUAL`` otherwise. The
    segments that repeat from photo to photo (tables, frame and scan headers) are
    checked once and cached; what is left per photo is the walk itself and one pass
    of ``re`` over the entropy-coded data.
    """
    n = len(data)
    if not data.startswith(b"\xff\xd8"):
        return UNUSUAL
    u16 = _U16.unpack_from
    pos = 2
    tables: _Tables | None = _NO_TABLES
    scanned = scans = 0
    exif_at = exif_end = exifs = 0
    xmp = False
    plain = True
    while True:
        if pos + 2 > n:
            return TRUNCATED
        if data[pos] != 0xFF:
            return UNUSUAL  # junk between segments (libjpeg skips it with a warning)
        marker = data[pos + 1]
        pos += 2
        while marker == 0xFF:  # fill bytes
            if pos >= n:
                return TRUNCATED
            marker = data[pos]
            pos += 1
        if marker == 0xD9:  # EOI
            break
        if pos + 2 > n:
            return TRUNCATED
        end = pos + u16(data, pos)[0]
        if end < pos + 2:
            return UNUSUAL
        if end > n:
            return TRUNCATED
        scan: _Scan | None = None
        if tables is _NO_TABLES and marker in _TABLE_MARKERS:
            # the usual layout: tables, frame and first scan header in one run, cached
            sos = data.find(b"\xff\xda", pos)
            if 0 < sos <= n - 4 and (block_end := sos + 4 + u16(data, sos + 2)[0] - 2) <= n:
                known = _header_block(data[pos - 2 : block_end])
                if known is not None:
                    tables, scan = known
                    marker, pos, end = 0xDA, sos + 2, block_end
        if marker == 0xDA:  # SOS: check the scan, then skip its entropy-coded data
            assert tables is not None
            if scan is None and tables.frame is not None:
                scan = _scan(data[pos + 2 : end], tables.frame, tables.progressive)
            if scan is None or not _scan_usable(scan, tables, scanned):
                return UNUSUAL
            if scan.first:
                scanned |= scan.ids
            scans += 1
            found = _SCAN_END.search(data, end)
            if found is None:
                return TRUNCATED  # the data runs to the end of the file: no EOI
            pos = found.start()
            continue
        if 0xE0 <= marker <= 0xEF:  # APPn: only what Pillow's header reader looks at
            if marker == 0xE1 and data.startswith(b"Exif\0\0", pos + 2):
                exifs += 1
                if exifs == 1:
                    exif_at, exif_end = pos + 8, end
            elif marker == 0xE1 and data.startswith(b"http://ns.adobe.com/xap/1.0/\0", pos + 2):
                xmp = True
            elif not _plain_app(data, marker, pos + 2, end - pos - 2):
                plain = False
        elif marker in _TABLE_MARKERS:
            assert tables is not None
            tables = _table_segment(marker, data[pos + 2 : end], tables)
            if tables is None:
                return UNUSUAL
        elif marker != 0xFE:  # COM is skipped; anything else is not for this walk
            return UNUSUAL
        pos = end
    assert tables is not None
    frame = tables.frame
    if frame is None or not scans or scanned != frame.ids:
        return UNUSUAL
    orientation: int | None = 1
    if exifs > 1:
        orientation = None  # Pillow joins the segments
    elif exifs:
        orientation = _exif_orientation(data, exif_at, exif_end)
        if orientation == 0:
            orientation = None if xmp else 1
    elif xmp:
        orientation = None  # Pillow falls back to the XMP tiff:Orientation
    return JpegStructure(frame.width, frame.height, orientation, plain)


#: bytes per value of each TIFF field type Pillow's IFD reader knows (others are skipped)
_TIFF_UNIT = {
    **{kind: 1 for kind in (1, 2, 6, 7)},
    **{kind: 2 for kind in (3, 8)},
    **{kind: 4 for kind in (4, 9, 11, 13)},
    **{kind: 8 for kind in (5, 10, 12, 16)},
}


def _exif_orientation(data: bytes, start: int, end: int) -> int | None:
    """IFD0's orientation as ``orientation`` reads it (1-8), 0 if absent, None if unsure.

    Follows Pillow's IFD reader (TiffImagePlugin.ImageFileDirectory_v2.load), which
    stops at the first entry whose out-of-line value does not fit in the EXIF data: the
    entries after it, the orientation too, are then absent for Pillow, so here too.
    """
    head = data[start : start + 8]
    if head[:4] == b"II*\0":
        order = "<"
    elif head[:4] == b"MM\0*":
        order = ">"
    else:
        return None
    limit = end - start
    (ifd,) = struct.unpack_from(order + "I", head, 4)
    if ifd < 8 or ifd + 2 > limit:
        return None
    (count,) = struct.unpack_from(order + "H", data, start + ifd)
    first = start + ifd + 2
    if first + 12 * count > end:
        return None
    entry = struct.Struct(order + "HHII")
    seen: set[int] = set()
    total = 0
    for at in range(first, first + 12 * count, 12):
        tag, kind, number, value = entry.unpack_from(data, at)
        if tag in seen:
            continue  # Pillow keeps the first
        unit = _TIFF_UNIT.get(kind)
        if unit is None:
            continue
        size = number * unit
        if size > 4:
            total += size
            if total > limit:
                continue  # skipped with a warning
            if value + size > limit:
                return 0  # Pillow stops reading here
        if not size:
            continue
        seen.add(tag)
        if tag == _ORIENTATION_TAG:
            if kind != 3 or number != 1:
                return None
            (orient,) = struct.unpack_from(order + "H", data, at + 8)
            return orient if 1 <= orient <= 8 else 1
    return 0
