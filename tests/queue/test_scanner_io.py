"""What the cold-scan speed work must not change: every byte read, each photo read once,
the same bytes hashed and checked, content hashes exactly as documented."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from social_publisher.config import Settings
from social_publisher.errors import MediaError, Problem
from social_publisher.queue import (
    BytesImageCheck,
    ImageRef,
    MemoryScanCache,
    ScannedPost,
    ScanOptions,
    scan_queue,
)
from social_publisher.queue import scanner as scanner_module
from social_publisher.services.ingest import default_image_check

OPTIONS = ScanOptions(default_author="Phòng VHTT", default_share_with=("tat-ca",))


@pytest.mark.parametrize("size", [0, 1, 4095, 70_000, 300_001])
def test_read_file_reads_every_byte(tmp_path: Path, size: int) -> None:
    path = tmp_path / "f.bin"
    data = os.urandom(size)
    path.write_bytes(data)
    assert scanner_module._read_file(str(path)) == data


def test_a_file_that_grew_after_it_was_measured_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.bin"
    data = os.urandom(200_000)
    path.write_bytes(data)
    real = os.fstat

    class Small:
        st_size = 10  # what the file measured before it grew
        st_mode = stat.S_IFREG | 0o644

    def fstat(fd: int) -> object:
        real(fd)
        return Small

    monkeypatch.setattr(scanner_module.os, "fstat", fstat)
    assert scanner_module._read_file(str(path)) == data


def test_missing_file_raises_for_the_caller(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        scanner_module._read_file(str(tmp_path / "none"))


def test_each_photo_is_read_once_and_checked_on_the_hashed_bytes(
    queue: Path,
    write_post: Callable[..., Path],
    jpeg: Callable[..., bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = jpeg(), jpeg(colour=(200, 10, 10))
    write_post("a", images={"1.jpg": first, "2.jpg": second})
    reads: list[str] = []
    real = scanner_module._read_file

    def counting(path: str) -> bytes:
        reads.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(scanner_module, "_read_file", counting)
    seen: list[tuple[str, bytes]] = []
    media_check, _ = default_image_check(Settings())
    assert isinstance(media_check, BytesImageCheck)

    def check(path: str, data: bytes) -> object:
        seen.append((os.path.basename(path), data))
        return media_check.check(path, data)

    post = scan_queue(queue, OPTIONS, image_check=BytesImageCheck(check)).posts[0]
    assert sorted(reads) == ["1.jpg", "2.jpg", "bai-viet.txt"]
    assert seen == [("1.jpg", first), ("2.jpg", second)]
    assert [(i.name, i.sha256, i.size) for i in post.images] == [
        ("1.jpg", hashlib.sha256(first).hexdigest(), len(first)),
        ("2.jpg", hashlib.sha256(second).hexdigest(), len(second)),
    ]


def test_bytes_check_refusal_names_the_photo(
    queue: Path, write_post: Callable[..., Path], jpeg: Callable[..., bytes]
) -> None:
    write_post("a", images={"1.jpg": None, "cut.jpg": jpeg()[:-2]})
    check, _ = default_image_check(Settings())
    post = scan_queue(queue, OPTIONS, image_check=check).posts[0]
    assert [p.file for p in post.errors] == ["a/cut.jpg"]
    assert "cắt cụt" in post.errors[0].message
    assert [i.name for i in post.images] == ["1.jpg"]


def test_bytes_check_is_also_a_plain_image_check(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    got: list[tuple[str, bytes]] = []
    check = BytesImageCheck(lambda p, d: got.append((p, d)))
    check(path)
    assert got == [(str(path), b"abc")]

    def refuse(p: str, d: bytes) -> object:
        raise MediaError("no", path=p)

    with pytest.raises(MediaError):
        BytesImageCheck(refuse)(path)


def _documented_hash(post: ScannedPost, raw: str | None = None) -> str:
    """content_hash as its docstring defines it, with the standard library only."""
    payload: list[object] = [
        1,
        post.title,
        post.body,
        post.publish_at.astimezone(UTC).isoformat() if post.publish_at else None,
        list(post.channels),
        post.approved_by,
        [[i.name, i.sha256] for i in post.images],
        [post.cover.name, post.cover.sha256] if post.cover else None,
        post.link,
        post.author,
        post.description,
        list(post.share_with),
        post.zalo_broadcast,
        post.withdrawn,
    ]
    if post.errors:
        payload += [raw, [str(p) for p in post.errors]]
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def test_content_hash_is_the_documented_json() -> None:
    image = ImageRef("ảnh 1.jpg", "ab" * 32, 10)
    post = ScannedPost(
        folder="Ngày CĐS",
        source_file="bai-viet.txt",
        title='Tiêu đề "trích" \\ và \t tab',
        body="Nội dung\n\nĐoạn hai \u2028 \udcff",
        publish_at=datetime(2026, 12, 10, 0, 30, tzinfo=UTC),
        channels=("facebook", "zalo"),
        approved_by="Võ Thanh Hùng",
        images=(image,),
        cover=image,
        link="https://ducpho.quangngai.gov.vn/?a=1&b=2",
        author=None,
        description="Nội dung",
        share_with=("xa-phuong",),
        zalo_broadcast=True,
    )
    assert scanner_module.content_hash(post) == _documented_hash(post)
    broken = ScannedPost(folder="x", errors=(Problem("x/bai-viet.txt", "Lỗi", 3),))
    raw = "Tiêu đề: x\r\n\x00"
    assert scanner_module.content_hash(broken, raw) == _documented_hash(broken, raw)


def test_cache_keeps_json_text_that_rebuilds_the_post(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    write_post("a", images={"1.jpg": None})
    cache = MemoryScanCache()
    first = scan_queue(queue, OPTIONS, cache=cache, image_check=lambda p: None)
    (entry,) = cache.entries.values()
    assert isinstance(entry.result, str)
    assert json.loads(entry.result) == first.posts[0].to_dict()
    again = scan_queue(queue, OPTIONS, cache=cache, image_check=lambda p: None)
    assert again.read == [] and again.posts == first.posts
