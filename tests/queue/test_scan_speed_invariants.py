"""What the second round of cold-scan and first-ingest work must not change.

The scan reads files in a different way (one first read, ``fstat`` only for big files),
checks text for control characters from its bytes, keeps its cache record around the
hashed content JSON and builds its result objects with a faster ``__init__``; ingest
records the queue in parts, pointing posts at their versions by id. Each test below
holds one of those to what it replaced.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import stat
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from social_publisher.config import Settings
from social_publisher.errors import Problem
from social_publisher.queue import (
    CachedScan,
    CheckedPost,
    DecodeError,
    ImageRef,
    MemoryScanCache,
    ScannedPost,
    ScanOptions,
    decode_text,
    scan_queue,
)
from social_publisher.queue import scanner as scanner_module
from social_publisher.services import ingest as ingest_module
from social_publisher.services.ingest import ingest
from social_publisher.states import PostState as State
from social_publisher.store import AuditEvent, Database, Post, PostVersion, ScanCache

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
OPTIONS = ScanOptions(default_author="Phòng VHTT", default_share_with=("tat-ca",))
HEAD = "Tiêu đề: Bài {n}\nThời gian đăng: {when}\nNgười duyệt: Võ Thanh Hùng\n"


def text(n: object, when: str = "10/12/2026 07:30", body: str = "Nội dung. Câu hai.") -> str:
    return HEAD.format(n=n, when=when) + "\n" + body


def no_check(path: Path) -> None:
    return None


# ---------------------------------------------------------------- reading files


@pytest.mark.parametrize(
    "size", [65_535, 65_536, 65_537, 131_072, 131_073, scanner_module._FIRST_READ * 3 + 7]
)
def test_files_around_the_first_read_are_read_whole(tmp_path: Path, size: int) -> None:
    path = tmp_path / "f.bin"
    data = os.urandom(size)
    path.write_bytes(data)
    assert scanner_module._read_file(str(path)) == data


def test_a_big_file_that_grew_after_its_first_read_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.bin"
    data = os.urandom(300_000)
    path.write_bytes(data)
    real = os.fstat

    class Small:
        st_size = 70_000  # what the file measured before it grew
        st_mode = stat.S_IFREG | 0o644

    def fstat(fd: int) -> object:
        real(fd)
        return Small

    monkeypatch.setattr(os, "fstat", fstat)
    assert scanner_module._read_file(str(path)) == data


def test_a_small_file_is_read_without_fstat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 1000)
    real = os.fstat
    asked: list[int] = []

    def fstat(fd: int) -> os.stat_result:
        asked.append(fd)
        return real(fd)

    monkeypatch.setattr(os, "fstat", fstat)
    data = scanner_module._read_file(str(path))
    monkeypatch.undo()
    assert data == b"x" * 1000 and asked == []


# ---------------------------------------------------------------- decoding


def decode_by_regex(raw: bytes) -> tuple[str, str] | str:
    """``decode_text`` as it was before the byte-level shortcut (the message if refused)."""
    from social_publisher.queue import decode as decode_module

    if len(raw) > decode_module.MAX_TEXT_BYTES:
        return decode_module.too_big_message(len(raw))
    try:
        text, encoding = decode_module._raw_decode(raw)
    except DecodeError as exc:
        return exc.message
    if decode_module._CLEAN.fullmatch(text) is None:
        if "\x00" in text:
            return decode_module._JUNK
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if text.endswith("\x1a"):
            text = text[:-1]
        for soft, hard in decode_module._SOFT_BREAKS.items():
            text = text.replace(soft, hard)
        if decode_module._CONTROL.search(text):
            return decode_module._JUNK
    return unicodedata.normalize("NFC", text), encoding


def decoded(raw: bytes) -> tuple[str, str] | str:
    try:
        return decode_text(raw)
    except DecodeError as exc:
        return exc.message


@pytest.mark.parametrize(
    "data",
    [
        "Tiêu đề\u0085x".encode(),  # C1 control (NEL) as UTF-8: 0xC2 0x85
        "a\u009fb".encode(),
        "\ufeffa\x0bb".encode(),  # BOM, then a soft break (fixed, not refused)
        b"a\x7fb",
        b"a\r\nb\x1a",
        "Ông\u00a0Bà ©".encode(),  # 0xC2 without any control: clean
        b"a\x00b",
        "Tiêu đề\u0085x".encode("utf-16"),
        "Ông\x0cx".encode("cp1258"),
    ],
)
def test_control_characters_are_judged_as_before(data: bytes) -> None:
    assert decoded(data) == decode_by_regex(data)


PIECES = [b"a", b"\n", b"\r", b"\t", b"\x00", b"\x0b", b"\x0c", b"\x1a", b"\x7f", b"\xc2",
          b"\x80", b"\x85", b"\x9f", b"\xa0", b"\xef\xbb\xbf", b"\xff\xfe", b"\xe1\xbb\x87",
          b" "]  # fmt: skip


@hypothesis_settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=16))
def test_decoding_any_bytes_is_unchanged(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    assert decoded(data) == decode_by_regex(data)


# ---------------------------------------------------------------- result objects


def test_quick_init_keeps_dataclass_semantics() -> None:
    image = ImageRef("1.jpg", "ab" * 32, 10)
    post = ScannedPost("a", "bai-viet.txt", title="T", images=(image,), cover=image)
    assert post == ScannedPost(
        folder="a", source_file="bai-viet.txt", title="T", images=(image,), cover=image
    )
    assert post.body == "" and post.cacheable is True and post.errors == ()
    assert hash(post) == hash(dataclasses.replace(post))
    assert dataclasses.replace(post, title="U").title == "U"
    with pytest.raises(dataclasses.FrozenInstanceError):
        post.title = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        ScannedPost()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ScannedPost("a", unknown=1)  # type: ignore[call-arg]
    checked = CheckedPost(post, State.READY)
    assert checked.notes == () and checked.folder == "a"
    assert CachedScan("s", None, "{}") == CachedScan(signature="s", content_hash=None, result="{}")
    assert "_content_json" not in repr(post)


def test_cache_record_is_the_json_of_to_dict(queue: Path, write_post: Callable[..., Path]) -> None:
    write_post(
        "a",
        text("a", body='Trích "dẫn" \\ và tab\t. Hết.').replace(
            "Người duyệt", "Ảnh bìa: 2.jpg\nẢnh: 1.jpg\nNgười duyệt"
        ),
        images={"1.jpg": None, "2.jpg": None, "3.jpg": None},
    )
    write_post("loi", "Tiêu đề: x\nThời gian: y\n\nz")
    write_post("trong", "Tiêu đề: x\n")
    cache = MemoryScanCache()
    scan = scan_queue(queue, OPTIONS, cache=cache, image_check=no_check)
    assert [p.folder for p in scan.posts] == ["a", "loi", "trong"]
    assert scan.posts[0].warnings and scan.posts[1].errors  # both kinds are kept
    for post in scan.posts:
        entry = cache.entries[f"{scan.root.as_posix()}/{post.folder}"]
        assert isinstance(entry.result, str)
        record = json.loads(entry.result)
        assert record == post.to_dict()
        assert record["folder"] == post.folder
        assert ScannedPost.from_dict(record) == post
        # the record embeds exactly the JSON the content hash covers
        content = json.dumps(record["content"], ensure_ascii=False, separators=(",", ":"))
        if not post.errors:
            assert scanner_module._hash(post, content, None) == post.content_hash
        assert post._content_json == ""  # not kept once cached


def test_an_older_cache_record_is_read_again(queue: Path, write_post: Callable[..., Path]) -> None:
    write_post("a", text("a"))
    cache = MemoryScanCache()
    first = scan_queue(queue, OPTIONS, cache=cache, image_check=no_check)
    ((key, entry),) = cache.entries.items()
    old = first.posts[0]
    version_2 = {"folder": "a", "title": old.title, "body": old.body}  # the former layout
    cache.entries[key] = CachedScan(entry.signature, entry.content_hash, json.dumps(version_2))
    again = scan_queue(queue, OPTIONS, cache=cache, image_check=no_check)
    assert again.read == ["a"] and again.posts == first.posts


# ---------------------------------------------------------------- ingest in parts


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    with db.session() as s:
        return {
            "posts": [
                (
                    p.id,
                    p.folder,
                    p.state,
                    p.title,
                    p.publish_at,
                    p.current_version_id,
                    p.override,
                    p.first_seen_at,
                    p.updated_at,
                    p.removed_at,
                )
                for p in s.scalars(select(Post).order_by(Post.id))
            ],
            "versions": [
                (v.id, v.post_id, v.content_hash, v.body, v.description, v.images, v.problems)
                for v in s.scalars(select(PostVersion).order_by(PostVersion.id))
            ],
            "events": [
                (e.id, e.at, e.event, e.post_id, e.details)
                for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))
            ],
            "cache": [
                (c.folder, c.content_hash)
                for c in s.scalars(select(ScanCache).order_by(ScanCache.folder))
            ],
        }


def history(
    db: Database, settings: Settings, write_post: Callable[..., Path], queue: Path
) -> list[dict[str, Any]]:
    """The same edits, ingest after ingest; what each report said."""
    reports = []

    def run(at: timedelta) -> None:
        report = ingest(db, settings, now=NOW + at, image_check=no_check)
        reports.append(
            {
                "added": report.added,
                "edited": report.edited,
                "withdrawn": report.withdrawn,
                "removed": report.removed,
                "read": report.read,
                "changed": report.changed_post_ids,
                "posts": [(p.folder, p.state.value, p.post.content_hash) for p in report.posts],
            }
        )

    for n in range(11):
        write_post(f"bai-{n:02d}", text(n, when=f"{10 + n}/12/2026 07:30"))
    write_post("loi", "Tiêu đề: x\n\nkhông có giờ")
    run(timedelta(0))
    write_post("bai-03", text(3, when="13/12/2026 07:30", body="Sửa."))
    write_post("bai-09", text(9, when="19/12/2026 07:30").replace("\n\n", "\nTrạng thái: hủy\n\n"))
    for gone in ("bai-04", "bai-07"):
        for child in (queue / gone).iterdir():
            child.unlink()
        (queue / gone).rmdir()
    run(timedelta(hours=1))
    write_post("bai-03", text(3, when="13/12/2026 07:30"))  # undo: the first version again
    write_post("bai-04", text(4, when="14/12/2026 07:30"))  # back again
    run(timedelta(hours=2))
    write_post("bai-05", text(5, when="15/12/2026 07:30", body="Cùng giờ."))
    run(timedelta(hours=2))  # the same "now" again
    run(timedelta(hours=3))  # nothing changed
    return reports


def test_ingest_in_parts_records_what_one_transaction_did(
    tmp_path: Path,
    db: Database,
    settings: Settings,
    write_post: Callable[..., Path],
    queue: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ingest_module, "INGEST_PART", 1_000)
    whole = history(db, settings, write_post, queue)
    expected = dump(db)

    other = tmp_path / "parts"
    other.mkdir()
    parts_settings = dataclasses.replace(
        settings, database_url=f"sqlite:///{other / 'sp.db'}", queue_dir=other / "queue"
    )
    parts_db = Database(parts_settings.database_url)
    parts_db.upgrade()
    try:
        (other / "queue").mkdir()

        def write_there(folder: str, body: str, **kwargs: Any) -> Path:
            path = other / "queue" / folder
            path.mkdir(exist_ok=True)
            (path / "bai-viet.txt").write_text(body, encoding="utf-8")
            return path

        monkeypatch.setattr(ingest_module, "INGEST_PART", 3)
        in_parts = history(parts_db, parts_settings, write_there, other / "queue")
        assert in_parts == whole
        got = dump(parts_db)
        prefix = (other / "queue").resolve().as_posix()
        got["cache"] = [
            (key.replace(prefix, queue.resolve().as_posix()), h) for key, h in got["cache"]
        ]
        assert got == expected
    finally:
        parts_db.dispose()
    added = whole[0]
    assert added["added"] == [f"bai-{n:02d}" for n in range(11)] + ["loi"]
    assert whole[1]["removed"] == ["bai-04", "bai-07"] and whole[1]["edited"] == ["bai-03"]
    assert whole[1]["withdrawn"] == ["bai-09"] and whole[2]["added"] == ["bai-04"]
    assert whole[3]["edited"] == ["bai-05"] and not whole[4]["changed"]
    posts = {row[1]: row for row in expected["posts"]}
    assert posts["bai-05"][8] == NOW + timedelta(hours=2)  # updated_at is "now", not the clock
    assert all(row[7] <= row[8] for row in expected["posts"])


def test_a_part_that_races_another_writer_is_tried_again(
    db: Database,
    settings: Settings,
    write_post: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ingest_module, "INGEST_PART", 2)
    for n in range(5):
        write_post(f"bai-{n}", text(n))
    real = ingest_module._sync
    calls: list[list[str]] = []

    def flaky(session: Any, posts: Any, *args: Any) -> None:
        calls.append([p.folder for p in posts])
        real(session, posts, *args)
        if len(calls) == 2:  # the second part fails once, after writing
            raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(ingest_module, "_sync", flaky)
    report = ingest(db, settings, now=NOW, image_check=no_check)
    assert calls == [["bai-0", "bai-1"], ["bai-2", "bai-3"], ["bai-2", "bai-3"], ["bai-4"]]
    assert report.added == [f"bai-{n}" for n in range(5)]
    assert [p.folder for p in report.posts] == report.added
    assert len(report.changed_post_ids) == 5 == len(set(report.changed_post_ids))
    with db.session() as s:
        assert s.scalars(select(Post.folder).order_by(Post.id)).all() == report.added
        assert len(s.scalars(select(PostVersion.id)).all()) == 5
        assert len(s.scalars(select(AuditEvent.id)).all()) == 5


def test_a_first_ingest_leaves_no_posts_for_the_collector(
    db: Database, settings: Settings, write_post: Callable[..., Path]
) -> None:
    """Posts and versions are not tied into reference cycles: once a part is
    committed they are freed at once, without waiting for a full collection."""
    for n in range(30):
        write_post(f"bai-{n:02d}", text(n))
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        report = ingest(db, settings, now=NOW, image_check=no_check)
        assert len(report.added) == 30
        alive = [o for o in gc.get_objects() if isinstance(o, Post | PostVersion | AuditEvent)]
        assert alive == []
    finally:
        if was:
            gc.enable()


def test_problems_survive_the_cache_record(queue: Path, write_post: Callable[..., Path]) -> None:
    write_post("a", "Tiêu đề: x\nThời gian đăng: 31/02/2026 07:30\nKênh: fb, tiktok\n\nz")
    cache = MemoryScanCache()
    first = scan_queue(queue, OPTIONS, cache=cache, image_check=no_check)
    again = scan_queue(queue, OPTIONS, cache=cache, image_check=no_check)
    assert again.read == [] and again.posts == first.posts
    assert all(isinstance(p, Problem) for p in again.posts[0].errors)
    assert len(again.posts[0].errors) >= 2
