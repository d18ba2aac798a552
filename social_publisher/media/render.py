"""Per-channel renditions: decode once, shape each spec, fit each under its byte cap.

Speed comes from doing less: a cached rendition is never re-encoded; a JPEG is decoded
once, DCT-scaled by libjpeg to about the largest size any missing rendition needs (a
12-MP phone photo is decoded at 2000x1500, never at full size); every rendition is
made from that one decoded image (the cover of a landscape photo is an exact crop of
the Zalo body image); the renditions are resized and encoded in parallel threads
(Pillow releases the GIL there). ``render_images`` renders a post's photos at once, one
thread per photo: decoding, the largest part of the work, then runs in parallel too
(only header reads take the warnings lock, see ``load``).

Size targeting: the first encode is at quality 95 and usually fits (phone photos at
these sizes are far below the caps). When it does not, the quality is searched between
95 and the floor (60) by interpolating the logarithm of the file size (JPEG size falls
about exponentially with quality), with bisection as a guard: typically 2-4 encodes
find the highest quality that fits. Only when even the floor does not fit (photos of
pure noise: gravel, foliage at night) are the dimensions reduced, by the square root of
the size ratio, and the search repeated.
"""

from __future__ import annotations

import io
import itertools
import logging
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..errors import MediaError
from . import cache
from .load import decode, header_orientation, open_image, upright_size
from .specs import MIN_SHORT_SIDE, RENDITION_SPECS, Rendition, RenditionSpec

log = logging.getLogger("social_publisher.media")

#: Resampling for what is left to downscale after DCT scaling or integer reduction
#: (at most about 2x). HAMMING costs about 60% of BICUBIC here; compared with a LANCZOS
#: resize of the full-resolution photo it scores 44.8 dB PSNR (BICUBIC 47.3 dB), a
#: difference far below what the JPEG encoding itself changes: invisible, and faster.
RESAMPLE = Image.Resampling.HAMMING

# Typical ln(size(q) / size(95)) of a phone photo, used for the first guess only.
_TYPICAL_LOG_SIZE: tuple[tuple[int, float], ...] = (
    (95, 0.0),
    (90, -0.49),
    (85, -0.76),
    (80, -0.95),
    (75, -1.12),
    (70, -1.25),
    (65, -1.37),
    (60, -1.48),
    (1, -3.5),
)
_MAX_SHRINKS = 8
#: photos rendered at once by ``render_images`` unless told: more than the office PC's
#: 2-4 cores gains nothing, and each photo in flight holds its decoded pixels (~9 MB)
MAX_PHOTO_WORKERS = 4


@dataclass(frozen=True)
class Encoded:
    data: bytes
    quality: int
    width: int
    height: int
    encodes: int


def encode_jpeg(im: Image.Image, quality: int) -> bytes:
    """Baseline 4:2:0 JPEG with no metadata at all (no EXIF, XMP, ICC or comment)."""
    buf = io.BytesIO()
    # comment=b"" because Pillow would otherwise copy im.info["comment"] into the file
    im.save(buf, "JPEG", quality=quality, subsampling="4:2:0", optimize=False, comment=b"")
    return buf.getvalue()


def _typical(q: float) -> float:
    pts = _TYPICAL_LOG_SIZE
    for (q1, v1), (q2, v2) in itertools.pairwise(pts):
        if q2 <= q <= q1:
            return v2 + (v1 - v2) * (q - q2) / (q1 - q2)
    return pts[-1][1]


def _guess_below(q_known: int, size_known: int, cap: int, floor: int) -> int:
    """The quality the typical curve says lands just under ``cap``, given one point
    (``q_known``, ``size_known``) above it."""
    want = _typical(q_known) + math.log(cap * 0.98 / size_known)
    for q in range(q_known - 1, floor - 1, -1):
        if _typical(q) <= want:
            return q
    return floor


@dataclass(frozen=True)
class _Search:
    data: bytes | None  # None: even the floor quality is over the cap
    quality: int
    encodes: int
    floor_size: int = 0


def _search_quality(im: Image.Image, spec: RenditionSpec) -> _Search:
    """The highest quality in [floor, top] whose encoding fits the cap."""
    cap, top, floor = spec.max_bytes, spec.quality_top, spec.quality_floor
    sizes: dict[int, int] = {}

    def attempt(q: int) -> bytes:
        data = encode_jpeg(im, q)
        sizes[q] = len(data)
        return data

    data = attempt(top)
    if len(data) <= cap:
        return _Search(data, top, 1)
    lo: int | None = None  # highest quality known to fit
    lo_data = b""
    hi = top  # lowest quality known not to fit
    q = _guess_below(top, sizes[top], cap, floor)
    while True:
        low_bound = lo if lo is not None else floor - 1
        # strictly inside the bracket, and a quarter in from each end when it is wide,
        # so a bad guess still shrinks the bracket geometrically
        span = hi - low_bound
        inner = span // 4 if span > 4 else 1
        q = min(max(q, low_bound + inner), hi - inner)
        data = attempt(q)
        if len(data) <= cap:
            lo, lo_data = q, data
        else:
            hi = q
        if lo is not None and hi - lo <= 1:
            return _Search(lo_data, lo, len(sizes))
        if lo is None and hi <= floor:
            return _Search(None, floor, len(sizes), sizes[floor])
        if lo is not None:
            # ln(size) is close to linear in quality between two near points
            s_lo, s_hi = math.log(sizes[lo]), math.log(sizes[hi])
            t = (math.log(cap * 0.99) - s_lo) / (s_hi - s_lo) if s_hi > s_lo else 0.5
            q = lo + math.floor(t * (hi - lo))
        else:
            q = _guess_below(hi, sizes[hi], cap, floor)


def fit(im: Image.Image, spec: RenditionSpec, path: Path) -> Encoded:
    """Encode ``im`` at the best quality under ``spec.max_bytes``, shrinking if needed."""
    current = im
    total = 0
    for _ in range(_MAX_SHRINKS):
        found = _search_quality(current, spec)
        total += found.encodes
        if found.data is not None:
            return Encoded(found.data, found.quality, current.width, current.height, total)
        factor = math.sqrt(spec.max_bytes / found.floor_size) * 0.95
        new_size = (max(1, int(current.width * factor)), max(1, int(current.height * factor)))
        if min(new_size) < MIN_SHORT_SIDE // 2:
            break
        log.info(
            "image %s: %s at quality %d is over %d bytes; shrinking to %dx%d",
            path,
            spec.channel,
            spec.quality_floor,
            spec.max_bytes,
            *new_size,
        )
        current = current.resize(new_size, RESAMPLE)
    raise MediaError(
        f"Không nén được ảnh {path.name} xuống dưới {spec.max_bytes / 1e6:.0f} MB cho "
        f"{spec.channel} mà vẫn giữ chất lượng chấp nhận được. Hãy chọn ảnh khác.",
        path=str(path),
    )


def _crop_box(spec: RenditionSpec, width: int, height: int) -> tuple[int, int, int, int]:
    """Where the cover's crop sits: centred, or around the upper third of a portrait."""
    box_w, box_h = spec.crop_box_size(width, height)
    left = (width - box_w) // 2
    centre_y = height / 3 if height > width else height / 2
    top = int(min(max(centre_y - box_h / 2, 0), height - box_h))
    return left, top, left + box_w, top + box_h


def shape(im: Image.Image, spec: RenditionSpec) -> Image.Image:
    """The pixels one spec wants, made from the decoded, upright image."""
    size = spec.target_size(im.width, im.height)
    if spec.crop is not None:
        box = _crop_box(spec, im.width, im.height)
        if size == (box[2] - box[0], box[3] - box[1]):
            return im.crop(box)
        return im.resize(size, RESAMPLE, box=box)
    if size == im.size:
        return im
    return im.resize(size, RESAMPLE)


def render_image(
    source: Path, *, cache_dir: Path, max_pixels: int, workers: int | None = None
) -> list[Rendition]:
    """Every rendition of ``source`` (one per spec in ``RENDITION_SPECS``), from the
    cache when it has them. Raises :class:`MediaError` when the photo is refused."""
    return render_specs(
        source, RENDITION_SPECS, cache_dir=cache_dir, max_pixels=max_pixels, workers=workers
    )


def render_images(
    sources: Sequence[Path], *, cache_dir: Path, max_pixels: int, workers: int | None = None
) -> list[list[Rendition] | MediaError]:
    """``render_image`` for each photo of a post, several photos at once.

    One entry per source, in order: its renditions, or the :class:`MediaError` that
    refused it (one bad photo never stops the others; any other exception is a bug and
    propagates). ``workers``: photos rendered at once, default ``min(4, CPU cores)``;
    each photo's renditions share the cores left. A source given twice is rendered once.
    """
    paths = [Path(source) for source in sources]
    unique = list(dict.fromkeys(paths))
    cores = os.cpu_count() or 1
    pool_size = max(1, min(len(unique), workers or min(MAX_PHOTO_WORKERS, cores)))
    per_photo = max(1, cores // pool_size)

    def one(path: Path) -> list[Rendition] | MediaError:
        try:
            return render_specs(
                path, RENDITION_SPECS, cache_dir=cache_dir, max_pixels=max_pixels, workers=per_photo
            )
        except MediaError as exc:
            return exc

    if pool_size <= 1:
        done = [one(path) for path in unique]
    else:
        with ThreadPoolExecutor(pool_size, thread_name_prefix="media-photo") as pool:
            done = list(pool.map(one, unique))
    by_path = dict(zip(unique, done, strict=True))
    return [by_path[path] for path in paths]


def _chains(base_size: tuple[int, int], missing: list[RenditionSpec]) -> list[list[RenditionSpec]]:
    """Group the specs to make: a crop that is exactly a box of another rendition (the
    cover of a landscape photo inside the Zalo body image) is cut from that rendition
    instead of being resampled again from the decoded photo."""
    chains = [[spec] for spec in missing if spec.crop is None]
    for spec in missing:
        if spec.crop is None:
            continue
        want = spec.target_size(*base_size)
        for chain in chains:
            size = chain[0].target_size(*base_size)
            if spec.crop_box_size(*size) == want == spec.target_size(*size):
                chain.append(spec)
                break
        else:
            chains.append([spec])
    return chains


def _make_chain(
    base: Image.Image,
    chain: list[RenditionSpec],
    source: Path,
    source_sha: str,
    upright: tuple[int, int],
    cache_dir: Path,
) -> dict[str, cache.CachedFile]:
    made: dict[str, cache.CachedFile] = {}
    first = shape(base, chain[0])
    for spec in chain:
        shaped = first if spec is chain[0] else shape(first, spec)
        encoded = fit(shaped, spec, source)
        log.debug(
            "image %s: %s %dx%d q%d %d bytes in %d encodes",
            source,
            spec.channel,
            encoded.width,
            encoded.height,
            encoded.quality,
            len(encoded.data),
            encoded.encodes,
        )
        try:
            made[spec.channel] = cache.store(
                cache_dir,
                source_sha,
                spec,
                encoded.data,
                width=encoded.width,
                height=encoded.height,
                quality=encoded.quality,
                source_size=upright,
            )
        except OSError as exc:
            raise MediaError(
                f"Không ghi được ảnh đã xử lý vào thư mục {cache_dir} ({exc.strerror or exc}). "
                "Hãy kiểm tra dung lượng ổ đĩa và quyền ghi của MEDIA_CACHE_DIR.",
                path=str(source),
            ) from exc
    return made


def render_specs(
    source: Path,
    specs: tuple[RenditionSpec, ...],
    *,
    cache_dir: Path,
    max_pixels: int,
    workers: int | None = None,
) -> list[Rendition]:
    """``render_image`` for any specs. The missing renditions are made in parallel
    (``workers``, default: one per CPU core, at most one per rendition): Pillow releases
    the GIL while resizing and encoding, so a 2-core office PC renders about twice as
    fast."""
    source = Path(source)
    cache_dir = Path(cache_dir)
    with open_image(source, max_pixels=max_pixels) as im:
        # header checks passed (format, pixel cap, minimum size): now the cache
        try:
            source_sha = cache.file_sha256(source)
        except OSError as exc:
            raise MediaError(f"Không đọc được tệp ảnh {source.name}.", path=str(source)) from exc
        found = {spec.channel: cache.lookup(cache_dir, source_sha, spec) for spec in specs}
        missing = [spec for spec in specs if found[spec.channel] is None]
        if missing:
            upright = upright_size(im.size, header_orientation(im))
            fraction = max(spec.needed_fraction(*upright) for spec in missing)
            base = decode(im, fraction, source)
    if missing:
        chains = _chains(base.size, missing)
        pool_size = min(len(chains), workers or os.cpu_count() or 1)
        args = (source, source_sha, upright, cache_dir)
        if pool_size <= 1:
            for chain in chains:
                found.update(_make_chain(base, chain, *args))
        else:
            with ThreadPoolExecutor(pool_size, thread_name_prefix="media") as pool:
                futures = [pool.submit(_make_chain, base, chain, *args) for chain in chains]
                for future in futures:
                    found.update(future.result())
    renditions = []
    for spec in specs:
        entry = found[spec.channel]
        assert entry is not None
        renditions.append(
            Rendition(
                channel=spec.channel,
                path=entry.path,
                width=entry.width,
                height=entry.height,
                bytes=entry.bytes,
                sha256=entry.sha256,
                quality=entry.quality,
            )
        )
    return renditions
