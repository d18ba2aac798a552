"""Bad input: every refusal is a MediaError with a Vietnamese message naming file and fix,
for ``check_image`` and ``render_image`` alike, and never anything else."""

from __future__ import annotations

import functools
import io
import unicodedata
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image, ImageFile

from social_publisher.errors import MediaError
from social_publisher.media import check_image, render_image
from social_publisher.media.specs import ImageInfo

MAX = 80_000_000


def refused(path: Path, max_pixels: int = MAX, cache: Path | None = None) -> list[str]:
    """The messages of check_image and render_image (both must refuse)."""
    messages = []
    with pytest.raises(MediaError) as by_check:
        check_image(path, max_pixels=max_pixels)
    messages.append(by_check.value.message)
    with pytest.raises(MediaError) as by_render:
        render_image(path, cache_dir=cache or path.parent / "cache", max_pixels=max_pixels)
    messages.append(by_render.value.message)
    for message in messages:
        assert message == unicodedata.normalize("NFC", message)
        assert path.name in message, message
        assert "Hãy" in message, f"no fix named: {message}"
    assert by_check.value.path == str(path)
    return messages


def test_truncated_jpeg_is_refused_by_check_and_render(tmp_path: Path, h: SimpleNamespace) -> None:
    buf = io.BytesIO()
    h.scene((800, 600)).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) * 2 // 3])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    for message in refused(path):
        assert "cắt cụt" in message


def test_truncated_progressive_jpeg_is_refused(tmp_path: Path, h: SimpleNamespace) -> None:
    buf = io.BytesIO()
    h.scene((800, 600)).save(buf, "JPEG", quality=90, progressive=True)
    path = tmp_path / "prog.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) - 300])
    refused(path)


def test_even_a_library_that_turned_truncated_loading_on_cannot_weaken_us(
    tmp_path: Path, h: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    buf = io.BytesIO()
    h.scene((800, 600)).save(buf, "JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[:20_000])
    refused(path)


def test_truncated_png_is_refused(tmp_path: Path, h: SimpleNamespace) -> None:
    buf = io.BytesIO()
    h.noise((400, 300)).save(buf, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    refused(path)


def test_png_with_a_flipped_byte_is_refused_by_check(tmp_path: Path, h: SimpleNamespace) -> None:
    buf = io.BytesIO()
    h.scene((400, 300)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "flip.png"
    path.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="bị hỏng"):
        check_image(path, max_pixels=MAX)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    for message in refused(path):
        assert "rỗng" in message


def test_text_file_named_jpg_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "anh-dep.jpg"
    path.write_text("Đây là văn bản, không phải ảnh.\n" * 20, encoding="utf-8")
    for message in refused(path):
        assert "không phải là ảnh" in message
        assert ".jpg" in message


def test_png_named_jpg_is_accepted_by_content(tmp_path: Path, h: SimpleNamespace) -> None:
    path = tmp_path / "thuc-ra-la-png.jpg"
    h.scene((600, 400)).save(path, "PNG")
    assert check_image(path, max_pixels=MAX) == ImageInfo(600, 400, "PNG")
    renditions = render_image(path, cache_dir=tmp_path / "c", max_pixels=MAX)
    assert [r.channel for r in renditions] == ["facebook", "zalo", "zalo_cover"]


def test_unsupported_format_is_named(tmp_path: Path, h: SimpleNamespace) -> None:
    path = tmp_path / "anh.jpg"
    h.scene((400, 300)).save(path, "TGA")
    for message in refused(path):
        assert "TGA" in message
        assert "chưa được hỗ trợ" in message


def test_broken_header_of_a_known_format_reads_as_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "hong.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    for message in refused(path):
        assert "bị hỏng" in message


def test_bomb_header_claiming_huge_dimensions(tmp_path: Path, h: SimpleNamespace) -> None:
    path = tmp_path / "bom.png"
    path.write_bytes(h.png_header_only(100_000, 100_000))
    filters_before = list(warnings.filters)
    refused(path)
    assert warnings.filters == filters_before, "the bomb filter must stay local"


def test_pillow_bomb_warning_is_an_error_here(tmp_path: Path, h: SimpleNamespace) -> None:
    # just over Pillow's own warning threshold, which is a warning (not an error) by default
    side = int(Image.MAX_IMAGE_PIXELS**0.5) + 10
    path = tmp_path / "bom-nho.png"
    path.write_bytes(h.png_header_only(side, side))
    refused(path, max_pixels=10**12)


def test_pixel_cap_from_settings_is_checked_on_the_header(
    tmp_path: Path, h: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "lon.jpg"
    h.scene((1000, 800)).save(path, "JPEG")
    loads: list[object] = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self))
    for message in refused(path, max_pixels=500_000):
        assert "1000×800" in message
        assert "quá lớn" in message
    assert loads == [], "nothing may be decoded before the pixel cap is checked"


def test_too_small_image(tmp_path: Path, h: SimpleNamespace) -> None:
    path = tmp_path / "nho.jpg"
    h.scene((640, 150)).save(path, "JPEG")
    for message in refused(path):
        assert "quá nhỏ" in message
        assert "200" in message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="Không tìm thấy"):
        check_image(tmp_path / "khong-co.jpg", max_pixels=MAX)
    folder = tmp_path / "thu-muc.jpg"
    folder.mkdir()
    with pytest.raises(MediaError, match="không phải là ảnh"):
        check_image(folder, max_pixels=MAX)


def test_one_bad_image_does_not_affect_the_next(tmp_path: Path, h: SimpleNamespace) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0garbage")
    good = tmp_path / "good.jpg"
    h.scene((800, 600)).save(good, "JPEG")
    with pytest.raises(MediaError):
        render_image(bad, cache_dir=tmp_path / "c", max_pixels=MAX)
    assert len(render_image(good, cache_dir=tmp_path / "c", max_pixels=MAX)) == 3


def test_check_image_works_as_the_queue_calls_it(tmp_path: Path, h: SimpleNamespace) -> None:
    path = tmp_path / "dung.jpg"
    h.scene((900, 600)).save(path, "JPEG", exif=h.gps_exif(orientation=6))
    check = functools.partial(check_image, max_pixels=MAX)
    # upright size: orientation 6 turns the stored 900x600 into a 600x900 portrait
    assert check(path) == ImageInfo(600, 900, "JPEG")


def test_check_is_cheap_for_a_12mp_jpeg(tmp_path: Path, h: SimpleNamespace) -> None:
    path = tmp_path / "12mp.jpg"
    h.scene((4000, 3000)).save(path, "JPEG", quality=90)
    seen: list[tuple[int, int]] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        result = original(self)
        seen.append(self.size)
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ImageFile.ImageFile, "load", spy)
        assert check_image(path, max_pixels=MAX).format == "JPEG"
    # a sound JPEG is vouched for by its marker structure (test_check_structure.py):
    # nothing is decoded at all (it was a 1/8-scale decode before)
    assert seen == [], "check decodes no pixels of a sound JPEG"
