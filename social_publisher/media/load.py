"""Opening staff photos safely, and turning them into upright, flat, sRGB pixels.

Every photo is hostile until proven otherwise: it may be cut short by a copy that
did not finish (a half-grey photo must never reach the town's page), claim a size
that would eat the office PC's memory, or be a text file named ``.jpg``. So:

- the format is detected from the content (never the extension), and only formats
  the office really gets are opened (``ACCEPTED_FORMATS``);
- the pixel count is checked on the header, before anything is decoded;
- ``ImageFile.LOAD_TRUNCATED_IMAGES`` is forced off and Pillow's
  ``DecompressionBombWarning`` is an error, inside a local ``warnings`` block only
  (note: ``warnings.catch_warnings`` is process-wide state in Python 3.11, so
  renders in threads share the filter; it is the same filter for every render);
- anything Pillow or a codec raises while parsing becomes a :class:`MediaError` with
  a Vietnamese message naming the file and the fix; the original is kept as the cause.

Integrity in ``check_image`` (used by ``check`` on every scan, so it must be cheap):
JPEG is decoded at 1/8 scale (libjpeg still reads every entropy-coded byte, so a
truncated or corrupt file fails exactly as a full decode would, at a fraction of the
cost); PNG uses ``verify()``, which walks every chunk to IEND and checks each CRC
without inflating pixels (a PNG whose zlib data is wrong under a correct CRC would
pass check and still be refused by the render); other formats are decoded (first
frame only), which for the rare WebP/TIFF/HEIC is what it costs.
"""

from __future__ import annotations

import io
import logging
import struct
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pillow_heif
from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

from ..errors import MediaError
from .specs import MIN_SHORT_SIDE, ImageInfo

log = logging.getLogger("social_publisher.media")

# A half-decoded photo is never acceptable here, whatever another library may set.
ImageFile.LOAD_TRUNCATED_IMAGES = False
Image.init()  # register every plugin now, so _identify_refusal can name other formats
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

#: Pillow format names we open (JPEG also yields MPO, the multi-picture JPEG of many phones)
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "HEIF")
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


def _sniff(path: Path) -> str | None:
    """The format a file's leading bytes announce, if any we know."""
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


_WARNINGS_LOCK = threading.RLock()


@contextmanager
def guarded(path: Path) -> Iterator[None]:
    """Run Pillow work on an untrusted file: every failure becomes a MediaError."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
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
            log.info(
                "image %s refused: %s: %s", path, type(exc).__name__, exc, exc_info=not expected
            )
            truncated = isinstance(exc, EOFError) or "truncat" in str(exc).lower()
            raise MediaError(_msg_corrupt(path, truncated), path=str(path)) from exc
    for warning in caught:
        log.debug("image %s: %s", path, warning.message)


def _identify_refusal(path: Path) -> MediaError:
    """Why a file none of our formats opened: another format, a broken photo, or no photo."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(path) as other:
                fmt = other.format or "không rõ"
        except Exception:
            fmt = None
    if fmt is not None and fmt not in (*ACCEPTED_FORMATS, "MPO"):
        return MediaError(_msg_unsupported(path, fmt), path=str(path))
    if _sniff(path) is not None:
        return MediaError(_msg_corrupt(path, truncated=False), path=str(path))
    return MediaError(_msg_not_image(path), path=str(path))


@contextmanager
def open_image(path: Path, *, max_pixels: int) -> Iterator[ImageFile.ImageFile]:
    """Open ``path`` lazily (header only) after the checks that need no decoding.

    The caller decodes inside the ``with`` block; decoding errors are converted too.
    """
    path = Path(path)
    _stat_ok(path)
    with guarded(path):
        try:
            im = Image.open(path, formats=ACCEPTED_FORMATS)
        except UnidentifiedImageError:
            raise _identify_refusal(path) from None
        with im:
            assert isinstance(im, ImageFile.ImageFile)
            width, height = im.size
            if width * height > max_pixels:
                raise MediaError(
                    _msg_too_many_pixels(path, width, height, max_pixels), path=str(path)
                )
            if min(width, height) < MIN_SHORT_SIDE:
                raise MediaError(_msg_too_small(path, width, height), path=str(path))
            yield im


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
    icc = im.info.get("icc_profile")
    scale = _scale_for(fraction)
    if im.format in ("JPEG", "MPO"):
        orient = orientation(im)
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


def check_image(path: Path, *, max_pixels: int) -> ImageInfo:
    """Validate one photo the way rendering will, cheaply; raise MediaError if refused.

    Returns the upright size (EXIF orientation applied) and the detected format.
    """
    path = Path(path)
    with open_image(path, max_pixels=max_pixels) as im:
        fmt = normalized_format(im)
        width, height = upright_size(im.size, header_orientation(im))
        if fmt == "JPEG":
            im.draft("RGB", (max(1, im.size[0] // 8), max(1, im.size[1] // 8)))
            im.load()
        elif fmt == "PNG":
            im.verify()
        else:
            im.load()
    return ImageInfo(width=width, height=height, format=fmt)
