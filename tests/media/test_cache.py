"""The rendition cache: keyed by content + spec, verified on every hit, written atomically."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from social_publisher.errors import MediaError
from social_publisher.media import RENDITION_SPECS, ZALO, render_image, render_specs
from social_publisher.media import cache as media_cache
from social_publisher.media import render as media_render
from social_publisher.media.specs import RenditionSpec

MAX = 80_000_000


def no_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("must come from the cache")

    monkeypatch.setattr(media_render, "encode_jpeg", refuse)
    monkeypatch.setattr(media_render, "decode", refuse)


def test_second_render_is_a_cache_hit(
    photo: Path, dirs: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = render_image(photo, cache_dir=dirs.cache, max_pixels=MAX)
    no_encoding(monkeypatch)
    second = render_image(photo, cache_dir=dirs.cache, max_pixels=MAX)
    assert second == first
    assert all(r.path.is_relative_to(dirs.cache) for r in second)


def test_cache_is_keyed_by_content_not_name(
    photo: Path, dirs: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = render_image(photo, cache_dir=dirs.cache, max_pixels=MAX)
    renamed = dirs.root / "doi-ten.jpg"
    shutil.copy(photo, renamed)
    with monkeypatch.context() as mp:
        no_encoding(mp)
        assert render_image(renamed, cache_dir=dirs.cache, max_pixels=MAX) == first
    # an edited photo (same name) is rendered again
    Image.new("RGB", (1600, 1200), "navy").save(photo, "JPEG")
    edited = render_image(photo, cache_dir=dirs.cache, max_pixels=MAX)
    assert {r.sha256 for r in edited}.isdisjoint({r.sha256 for r in first})


def test_cache_is_keyed_by_spec(
    photo: Path, dirs: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    render_image(photo, cache_dir=dirs.cache, max_pixels=MAX)
    other = RenditionSpec("zalo", max_bytes=1_000_000, max_long_side=1000)
    assert other.cache_key != ZALO.cache_key
    made = render_specs(photo, (other,), cache_dir=dirs.cache, max_pixels=MAX)
    assert (made[0].width, made[0].height) == (1000, 750)


def test_only_missing_renditions_are_made(
    photo: Path, dirs: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = render_image(photo, cache_dir=dirs.cache, max_pixels=MAX)
    zalo = next(r for r in first if r.channel == "zalo")
    zalo.path.unlink()
    sizes: list[tuple[int, int]] = []
    original = media_render.encode_jpeg

    def spy(im: Image.Image, quality: int) -> bytes:
        sizes.append(im.size)
        return original(im, quality)

    monkeypatch.setattr(media_render, "encode_jpeg", spy)
    again = render_image(photo, cache_dir=dirs.cache, max_pixels=MAX)
    assert again == first
    assert set(sizes) == {(1280, 960)}


def test_a_damaged_cache_file_is_re_rendered_not_published(
    photo: Path, dirs: SimpleNamespace
) -> None:
    first = render_image(photo, cache_dir=dirs.cache, max_pixels=MAX)
    fb = first[0]
    data = fb.path.read_bytes()
    fb.path.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])  # same size
    again = render_image(photo, cache_dir=dirs.cache, max_pixels=MAX)
    assert again == first
    assert media_cache.file_sha256(fb.path) == fb.sha256


def test_a_hit_still_enforces_the_pixel_cap(photo: Path, dirs: SimpleNamespace) -> None:
    render_image(photo, cache_dir=dirs.cache, max_pixels=MAX)
    with pytest.raises(MediaError, match="quá lớn"):
        render_image(photo, cache_dir=dirs.cache, max_pixels=1_000_000)


def test_atomic_write_leaves_nothing_when_writing_fails_midway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "x.jpg"
    target.write_bytes(b"old complete file")
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def __enter__(self) -> HalfWriter:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

        def write(self, data: bytes) -> int:
            self.fh.write(data[: len(data) // 2])
            self.fh.flush()
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(
        media_cache.os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode))
    )
    with pytest.raises(OSError):
        media_cache.atomic_write_bytes(target, b"new data " * 1000)
    assert target.read_bytes() == b"old complete file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.jpg"]


def test_a_crash_while_rendering_leaves_no_half_rendition(
    photo: Path, dirs: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace

    def crash_on_zalo(src: Any, dst: Any) -> None:
        if "zalo-" in str(dst) and str(dst).endswith(".jpg"):
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(media_cache.os, "replace", crash_on_zalo)
    with pytest.raises(MediaError, match="MEDIA_CACHE_DIR"):
        render_image(photo, cache_dir=dirs.cache, max_pixels=MAX, workers=1)
    files = sorted(p.name for p in dirs.cache.rglob("*") if p.is_file())
    fb_jpg, fb_meta = media_cache.entry_paths(
        dirs.cache, media_cache.file_sha256(photo), RENDITION_SPECS[0]
    )
    # facebook was finished before the crash (jpeg + record); nothing of zalo, no temp file
    assert files == sorted([fb_jpg.name, fb_meta.name])
    monkeypatch.setattr(media_cache.os, "replace", real_replace)
    assert len(render_image(photo, cache_dir=dirs.cache, max_pixels=MAX)) == 3


def test_a_record_without_its_jpeg_is_a_miss(photo: Path, dirs: SimpleNamespace) -> None:
    first = render_image(photo, cache_dir=dirs.cache, max_pixels=MAX)
    for r in first:
        r.path.unlink()
    assert render_image(photo, cache_dir=dirs.cache, max_pixels=MAX) == first


def test_stale_temp_files_are_swept(tmp_path: Path) -> None:
    old = tmp_path / ".x.jpg.abc.tmp"
    old.write_bytes(b"half")
    fresh = tmp_path / ".y.jpg.def.tmp"
    fresh.write_bytes(b"being written")
    os.utime(old, (1, 1))
    media_cache.sweep_stale_temp(tmp_path)
    assert not old.exists() and fresh.exists()


def test_unwritable_cache_dir_is_a_clear_media_error(photo: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    with pytest.raises(MediaError, match="MEDIA_CACHE_DIR"):
        render_image(photo, cache_dir=blocker, max_pixels=MAX)


def test_durable_write_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(media_cache.os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    media_cache.atomic_write_bytes(tmp_path / "a", b"x")
    assert synced == []
    media_cache.atomic_write_bytes(tmp_path / "b", b"y", durable=True)
    assert len(synced) == 1 and (tmp_path / "b").read_bytes() == b"y"
