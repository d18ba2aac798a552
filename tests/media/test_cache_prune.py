"""The rendition cache does not fill the disk: unused entries go, used ones stay."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from social_publisher.cli import main
from social_publisher.media import cache as media_cache
from social_publisher.media import render_image

MAX = 80_000_000
DAY = 86_400


def age(path: Path, days: float) -> None:
    when = time.time() - days * DAY
    os.utime(path, (when, when))


def cache_files(cache: Path) -> list[str]:
    return sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file())


def test_unused_entries_go_used_ones_stay(
    photo: Path, dirs: SimpleNamespace, h: SimpleNamespace
) -> None:
    other = dirs.root / "khac.jpg"
    h.scene((1000, 800)).save(other, "JPEG", quality=80)
    kept = render_image(photo, cache_dir=dirs.cache, max_pixels=MAX)
    old = render_image(other, cache_dir=dirs.cache, max_pixels=MAX)
    for r in (*kept, *old):
        age(r.path.with_suffix(".json"), 90)
    # the first photo is used again: its records are touched
    assert render_image(photo, cache_dir=dirs.cache, max_pixels=MAX) == kept
    folder = old[0].path.parent
    orphan_old, orphan_new = folder / "x-1.jpg", folder / "x-2.jpg"  # a crash between writes
    orphan_old.write_bytes(b"1" * 100)
    orphan_new.write_bytes(b"2" * 100)
    age(orphan_old, 90)
    freed = sum(r.path.stat().st_size + r.path.with_suffix(".json").stat().st_size for r in old)

    pruned = media_cache.prune(dirs.cache, keep_days=60)

    assert pruned == media_cache.Pruned(entries=3, files=7, bytes=freed + 100)
    assert all(r.path.is_file() for r in kept)
    assert not any(r.path.exists() for r in old)
    assert orphan_new.is_file()
    orphan_new.unlink()
    assert media_cache.prune(dirs.cache, keep_days=60) == media_cache.Pruned(0, 0, 0)
    assert not folder.exists() and not folder.parent.exists()  # empty folders go too
    # a removed entry is simply rendered again
    again = render_image(other, cache_dir=dirs.cache, max_pixels=MAX)
    assert [r.sha256 for r in again] == [r.sha256 for r in old]


def test_prune_of_a_missing_or_foreign_cache_does_nothing(tmp_path: Path) -> None:
    assert media_cache.prune(tmp_path / "khong-co", keep_days=1) == media_cache.Pruned(0, 0, 0)
    (tmp_path / "notes.txt").write_text("x")  # not a shard: left alone
    (tmp_path / "abc").mkdir()
    assert media_cache.prune(tmp_path, keep_days=1).files == 0
    assert (tmp_path / "notes.txt").exists() and (tmp_path / "abc").exists()


def run_cli(dirs: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("MEDIA_CACHE_DIR", str(dirs.cache))
    out, err = io.StringIO(), io.StringIO()
    argv = ["--env-file", str(dirs.root / "no.env"), "media", "prune", *args]
    code = main(argv, out=out, err=err)
    return code, out.getvalue() + err.getvalue()


def test_media_prune_command(
    photo: Path,
    dirs: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    made = render_image(photo, cache_dir=dirs.cache, max_pixels=MAX)
    for r in made:
        age(r.path.with_suffix(".json"), 10)
    size = sum(r.path.stat().st_size + r.path.with_suffix(".json").stat().st_size for r in made)
    monkeypatch.delenv("MEDIA_CACHE_DAYS", raising=False)
    assert run_cli(dirs, monkeypatch) == (
        0,
        f"Không có ảnh đã xử lý nào bỏ không quá 60 ngày trong {dirs.cache}.\n",
    )
    code, out = run_cli(dirs, monkeypatch, "--days", "7")
    assert (code, out) == (
        0,
        f"Đã xóa 3 ảnh đã xử lý không dùng đến trong 7 ngày "
        f"({media_cache.size_label(size)}) khỏi {dirs.cache}.\n",
    )
    assert cache_files(dirs.cache) == []
    with pytest.raises(SystemExit) as bad_usage:
        run_cli(dirs, monkeypatch, "--days", "0")
    assert bad_usage.value.code == 2
    assert "--days: '0' không hợp lệ: cần số ngày từ 1 trở lên" in capsys.readouterr().err
    monkeypatch.setenv("MEDIA_CACHE_DAYS", "0")
    assert run_cli(dirs, monkeypatch) == (
        0,
        "MEDIA_CACHE_DAYS=0: ảnh đã xử lý được giữ mãi, không xóa gì. "
        "Dùng --days N để xóa ảnh không dùng đến trong N ngày.\n",
    )


def test_size_label_is_vietnamese() -> None:
    assert media_cache.size_label(1_500_000) == "1,5 MB"
    assert media_cache.size_label(120_400) == "120 KB"
    assert media_cache.size_label(10) == "1 KB"
