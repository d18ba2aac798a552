"""Queue → database: versions, audit events, states; idempotent and incremental."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from social_publisher.config import Settings
from social_publisher.errors import QueueError
from social_publisher.queue import ScannedPost
from social_publisher.queue import scanner as scanner_module
from social_publisher.services.ingest import ingest
from social_publisher.store import AuditEvent, Database, Post, PostVersion, ScanCache

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
HEAD = "Tiêu đề: Bài mẫu\nThời gian đăng: 10/12/2026 07:30\nNgười duyệt: Võ Thanh Hùng\n"


def no_check(path: Path) -> None:
    return None


def run(db: Database, settings: Settings, now: datetime = NOW) -> Any:
    return ingest(db, settings, now=now, image_check=no_check)


def events(db: Database) -> list[tuple[str, dict[str, Any]]]:
    with db.session() as s:
        return [(e.event, e.details) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def post_row(db: Database, folder: str) -> Post:
    with db.session() as s:
        post = s.scalars(select(Post).where(Post.folder == folder)).one()
        s.expunge(post)
        return post


def versions(db: Database, folder: str) -> list[PostVersion]:
    with db.session() as s:
        rows = s.scalars(
            select(PostVersion)
            .join(Post, PostVersion.post_id == Post.id)
            .where(Post.folder == folder)
            .order_by(PostVersion.id)
        ).all()
        for row in rows:
            s.expunge(row)
        return list(rows)


def count(db: Database, model: Any) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_new_folder_becomes_a_post_with_a_version(
    db: Database, settings: Settings, write_post: Callable[..., Path]
) -> None:
    write_post("ngay-cds", HEAD + "Ảnh: 1.jpg\n\nNội dung bài.", images={"1.jpg": None})
    report = run(db, settings)
    assert report.added == ["ngay-cds"] and report.read == ["ngay-cds"]
    post = post_row(db, "ngay-cds")
    (version,) = versions(db, "ngay-cds")
    assert post.state == "ready" and post.current_version_id == version.id
    assert post.title == "Bài mẫu" and post.approved_by == "Võ Thanh Hùng"
    assert post.publish_at == datetime(2026, 12, 10, 0, 30, tzinfo=UTC)
    assert post.channels == ["facebook", "zalo"] and post.first_seen_at == NOW
    assert version.source_file == "bai-viet.txt" and version.body == "Nội dung bài."
    assert version.images[0]["name"] == "1.jpg" and len(version.images[0]["sha256"]) == 64
    assert version.cover == "1.jpg" and version.problems == []
    assert version.author == settings.default_author and version.share_with == ["tat-ca"]
    assert version.description == "Nội dung bài."
    assert events(db) == [
        (
            "post_added",
            {
                "folder": "ngay-cds",
                "hash": version.content_hash,
                "approved_by": "Võ Thanh Hùng",
                "state": "ready",
                "publish_at": "2026-12-10T07:30:00+07:00",
            },
        )
    ]


def test_unchanged_folder_is_neither_read_nor_written(
    db: Database,
    settings: Settings,
    write_post: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_post("a")
    write_post("b")
    run(db, settings)
    reads: list[str] = []
    real = scanner_module.read_folder

    def counting(root: Path, name: str, *args: Any, **kwargs: Any) -> ScannedPost:
        reads.append(name)
        return real(root, name, *args, **kwargs)

    monkeypatch.setattr(scanner_module, "read_folder", counting)
    before = (count(db, AuditEvent), count(db, PostVersion), post_row(db, "a").updated_at)
    report = run(db, settings, NOW + timedelta(minutes=5))
    assert reads == [] and report.read == [] and not report.changed
    assert [p.state.value for p in report.posts] == ["ready", "ready"]
    assert (count(db, AuditEvent), count(db, PostVersion), post_row(db, "a").updated_at) == before

    (Path(settings.queue_dir) / "b" / "bai-viet.txt").write_text(HEAD + "\nMới.", encoding="utf-8")
    report = run(db, settings)
    assert reads == ["b"] and report.edited == ["b"]


def test_changed_content_adds_a_version_and_logs_both_hashes(
    db: Database, settings: Settings, write_post: Callable[..., Path]
) -> None:
    write_post("a", HEAD + "\nBản một.")
    run(db, settings)
    write_post("a", HEAD.replace("07:30", "08:00") + "\nBản hai.")
    report = run(db, settings)
    assert report.edited == ["a"] and report.changed_post_ids == [post_row(db, "a").id]
    first, second = versions(db, "a")
    post = post_row(db, "a")
    assert post.current_version_id == second.id and second.body == "Bản hai."
    assert post.publish_at == datetime(2026, 12, 10, 1, 0, tzinfo=UTC)
    event, details = events(db)[-1]
    assert event == "post_edited"
    assert details["old_hash"] == first.content_hash and details["new_hash"] == second.content_hash
    assert details["approved_by"] == "Võ Thanh Hùng" and details["old_state"] == "ready"

    write_post("a", HEAD + "\nBản một.")  # undo: back to the first version, no duplicate row
    run(db, settings)
    assert [v.id for v in versions(db, "a")] == [first.id, second.id]
    assert post_row(db, "a").current_version_id == first.id
    assert events(db)[-1][1]["new_hash"] == first.content_hash


def test_withdrawal_and_removal_and_return(
    db: Database, settings: Settings, write_post: Callable[..., Path]
) -> None:
    path = write_post("a")
    run(db, settings)
    write_post("a", HEAD + "Trạng thái: hủy\n\nNội dung.")
    report = run(db, settings)
    assert report.withdrawn == ["a"] and post_row(db, "a").state == "withdrawn"
    assert events(db)[-1][0] == "post_withdrawn"
    assert versions(db, "a")[-1].withdrawn is True

    shutil.rmtree(path)
    later = NOW + timedelta(hours=1)
    report = run(db, settings, later)
    post = post_row(db, "a")
    assert report.removed == ["a"] and post.state == "removed" and post.removed_at == later
    assert events(db)[-1] == (
        "post_removed",
        {"folder": "a", "hash": versions(db, "a")[-1].content_hash, "old_state": "withdrawn"},
    )
    assert count(db, ScanCache) == 0
    assert not run(db, settings).changed  # removed once, not again

    write_post("a", HEAD + "Trạng thái: hủy\n\nNội dung.")
    report = run(db, settings)
    assert report.added == ["a"] and post_row(db, "a").state == "withdrawn"
    assert events(db)[-1][1]["restored"] is True
    assert len(versions(db, "a")) == 2


def test_error_versions_are_recorded_and_fixed(
    db: Database, settings: Settings, write_post: Callable[..., Path]
) -> None:
    write_post("a")
    run(db, settings)
    write_post("a", HEAD + "Kênh: fb\n\nNội dung.")
    report = run(db, settings)
    assert [p.folder for p in report.errors] == ["a"]
    post = post_row(db, "a")
    bad = versions(db, "a")[-1]
    assert post.state == "error" and post.current_version_id == bad.id
    assert bad.problems == [
        {
            "file": "a/bai-viet.txt",
            "line": 4,
            "message": "Kênh 'fb' không có. Có phải ý bạn là 'facebook'? Chỉ dùng facebook "
            "và/hoặc zalo, cách nhau bằng dấu phẩy.",
        }
    ]
    assert events(db)[-1][1]["problems"] == 1
    write_post("a", HEAD + "Kênh: facebook\n\nNội dung.")
    run(db, settings)
    assert post_row(db, "a").state == "ready"


def test_overdue_rule_applies_when_the_post_first_appears(
    db: Database, settings: Settings, write_post: Callable[..., Path]
) -> None:
    write_post("cu", HEAD.replace("10/12/2026", "01/11/2026") + "\nx")
    write_post("tre", HEAD.replace("10/12/2026 07:30", "26/11/2026 08:00") + "\nx")
    write_post("dung-gio")
    report = run(db, settings)
    assert {p.folder: p.state.value for p in report.posts} == {
        "cu": "held",
        "tre": "ready",
        "dung-gio": "ready",
    }
    # the PC was off for weeks: a post first seen in time is not held by ingest
    weeks_later = datetime(2027, 1, 15, tzinfo=UTC)
    assert post_row(db, "dung-gio").state == "ready"
    assert not run(db, settings, weeks_later).changed
    assert post_row(db, "dung-gio").state == "ready"
    # ... but moving it to another past time is a new appearance of that time
    write_post("dung-gio", HEAD.replace("10/12/2026", "11/12/2026") + "\nx")
    run(db, settings, weeks_later)
    assert post_row(db, "dung-gio").state == "held"


def test_a_staff_decision_is_dropped_when_the_time_changes(
    db: Database, settings: Settings, write_post: Callable[..., Path]
) -> None:
    write_post("a", HEAD + "\nx")
    run(db, settings)
    with db.session() as s:
        s.scalars(select(Post)).one().override = "publish"
    write_post("a", HEAD + "\nsửa chữ")
    run(db, settings)
    assert post_row(db, "a").override == "publish"
    write_post("a", HEAD.replace("07:30", "09:00") + "\nsửa chữ")
    run(db, settings)
    assert post_row(db, "a").override is None
    with db.session() as s:
        s.scalars(select(Post)).one().override = "withdraw"
    write_post("a", HEAD.replace("07:30", "10:00") + "\nsửa chữ")
    run(db, settings)
    assert post_row(db, "a").override == "withdraw"  # a staff withdrawal is never undone


def test_a_locked_file_does_not_flap_the_post(
    db: Database,
    settings: Settings,
    write_post: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = write_post("a")
    run(db, settings)
    (path / "bai-viet.txt").write_text(HEAD + "\nđang sửa", encoding="utf-8")
    real = scanner_module._read_file

    def locked(path: str) -> bytes:
        if path.endswith("bai-viet.txt"):
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(scanner_module, "_read_file", locked)
    report = run(db, settings)
    assert report.posts[0].state.value == "error" and not report.changed
    assert post_row(db, "a").state == "ready" and len(versions(db, "a")) == 1
    monkeypatch.undo()
    assert run(db, settings).edited == ["a"]


def test_missing_queue_folder_marks_nothing_removed(
    db: Database, settings: Settings, write_post: Callable[..., Path]
) -> None:
    write_post("a")
    run(db, settings)
    shutil.rmtree(settings.queue_dir)
    with pytest.raises(QueueError):
        run(db, settings)
    assert post_row(db, "a").state == "ready"


def test_scan_cache_rows_follow_the_folders(
    db: Database, settings: Settings, write_post: Callable[..., Path]
) -> None:
    write_post("a")
    write_post("b c")
    run(db, settings)
    with db.session() as s:
        rows = {r.folder: r for r in s.scalars(select(ScanCache))}
    root = Path(settings.queue_dir).resolve().as_posix()
    assert set(rows) == {f"{root}/a", f"{root}/b c"}
    assert rows[f"{root}/a"].content_hash == versions(db, "a")[0].content_hash
    assert rows[f"{root}/a"].updated_at == NOW
    assert rows[f"{root}/a"].result["folder"] == "a"
    shutil.rmtree(Path(settings.queue_dir) / "a")
    run(db, settings)
    with db.session() as s:
        assert s.scalars(select(ScanCache.folder)).all() == [f"{root}/b c"]


def test_default_image_check_is_media_check_image(
    db: Database, settings: Settings, write_post: Callable[..., Path], jpeg: Callable[..., bytes]
) -> None:
    write_post("a", images={"1.jpg": None, "hong.jpg": jpeg()[:200]})
    report = ingest(db, settings, now=NOW)
    assert report.posts[0].state.value == "error"
    assert [p["file"] for p in versions(db, "a")[0].problems] == ["a/hong.jpg"]


def test_naive_now_is_refused(db: Database, settings: Settings) -> None:
    with pytest.raises(ValueError, match="aware"):
        ingest(db, settings, now=datetime(2026, 1, 1))


@pytest.mark.postgres
def test_ingest_on_postgres(
    pg_db: Database, settings: Settings, write_post: Callable[..., Path]
) -> None:
    write_post("ngày cds", images={"1.jpg": None})
    write_post("b")
    assert run(pg_db, settings).added == ["b", "ngày cds"]
    again = run(pg_db, settings)
    assert not again.changed and again.read == []  # answered from the scan cache
    write_post("b", HEAD + "\nsửa")
    assert run(pg_db, settings).edited == ["b"]
    shutil.rmtree(Path(settings.queue_dir) / "b")
    assert run(pg_db, settings).removed == ["b"]
    assert [e for e, _ in events(pg_db)] == [
        "post_added",
        "post_added",
        "post_edited",
        "post_removed",
    ]
