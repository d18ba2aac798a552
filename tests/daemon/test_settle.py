"""A post folder goes out only once it has stopped changing, and a changed photo is always seen.

Real files written the way Explorer copies a folder (the text first, the photos 1.5 s
apart) or the way a slow save writes a text (half a paragraph, a pause, the rest), read by
the real ingest and rendered by the real media stage; the daemon's passes run at an
injected time, so nothing here waits for the settle time.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
from datetime import timedelta
from pathlib import Path

import pytest

from social_publisher.cli import cmd_check, cmd_status, main
from social_publisher.config import Settings, load_settings
from social_publisher.services.daemon import PassContext, build_context, run_pass
from social_publisher.services.ingest import check_queue
from social_publisher.store import Database

from .conftest import T0, Clock, FakeFacebook, FakeZalo, pubs, write_image

HEADER = (
    "Tiêu đề: Ra quân hướng dẫn VNeID\n"
    "Thời gian đăng: 02/03/2026 08:00\n"  # T0: due now
    "Kênh: facebook, zalo\n"
    "Người duyệt: Võ Thanh Hùng\n"
    "\n"
)
FIRST_HALF = "Sáng nay, tổ công nghệ số cộng đồng các phường đã hướng dẫn người dân"
SECOND_HALF = " cài đặt và kích hoạt tài khoản định danh điện tử mức 2.\n"


@pytest.fixture
def settle_env(daemon_env: dict[str, str]) -> dict[str, str]:
    return {**daemon_env, "QUEUE_SETTLE_SECONDS": "60"}


@pytest.fixture
def ssettings(settle_env: dict[str, str]) -> Settings:
    settings = load_settings(settle_env, dotenv_path=None)
    settings.queue_dir.mkdir(parents=True, exist_ok=True)
    return settings


@pytest.fixture
def live_ctx(
    db: Database, ssettings: Settings, clock: Clock, fb: FakeFacebook, zalo: FakeZalo
) -> PassContext:
    """The daemon with the real queue reader and the real image stage, fake platforms."""
    return build_context(
        ssettings,
        db,
        clock=clock,
        channels={"facebook": fb, "zalo": zalo},
        worker="w1",
        rng=random.Random(5),
    )


def folder(settings: Settings, name: str = "vneid") -> Path:
    path = settings.queue_dir / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_a_folder_copied_file_by_file_goes_out_whole_once_settled(
    live_ctx: PassContext, ssettings: Settings, db: Database, clock: Clock, fb: FakeFacebook
) -> None:
    post_dir = folder(ssettings)
    (post_dir / "bai-viet.txt").write_text(HEADER + FIRST_HALF + SECOND_HALF, encoding="utf-8")
    result = run_pass(live_ctx, clock())
    assert fb.live() == []  # due, but the folder was first seen just now
    assert result.next_wakeup == T0 + timedelta(seconds=60)
    for index in range(3):  # the photos arrive 1.5 s apart, after the text
        clock.advance(1.5)
        write_image(post_dir / f"IMG_{index}.jpg", seed=index)
        run_pass(live_ctx, clock())
        assert fb.live() == []
    last_change = clock()
    clock.now = last_change + timedelta(seconds=59)
    run_pass(live_ctx, clock())
    assert fb.live() == []  # one second short of the settle time
    clock.now = last_change + timedelta(seconds=60)
    run_pass(live_ctx, clock())
    [post] = fb.live()
    assert post.images == 3  # every photo, not the text alone
    [pid] = {p.post_id for p in pubs(db).values()}
    assert pubs(db, pid)["facebook"].state == "published"


def test_a_text_saved_in_two_goes_out_whole(
    live_ctx: PassContext, ssettings: Settings, clock: Clock, fb: FakeFacebook, zalo: FakeZalo
) -> None:
    text = folder(ssettings, "luu-cham") / "bai-viet.txt"
    text.write_text(HEADER + FIRST_HALF, encoding="utf-8")  # header and half a sentence
    run_pass(live_ctx, clock())
    clock.advance(5)
    with text.open("a", encoding="utf-8") as fh:
        fh.write(SECOND_HALF)
    run_pass(live_ctx, clock())
    clock.advance(59)
    run_pass(live_ctx, clock())
    assert fb.live() == [] and zalo.live() == []
    clock.advance(1)
    run_pass(live_ctx, clock())
    [post] = fb.live()
    assert post.body == (FIRST_HALF + SECOND_HALF).strip()
    assert [c for c, _ in zalo.calls].count("create_article") == 1


def run_cli(
    settle_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *argv: str
) -> tuple[int, str]:
    for key in list(os.environ):
        if key.startswith(("FB_", "ZALO_", "DATABASE", "QUEUE_")):
            monkeypatch.delenv(key)
    for key, value in settle_env.items():
        monkeypatch.setenv(key, value)
    out, err = io.StringIO(), io.StringIO()
    code = main(["--env-file", str(tmp_path / "none.env"), *argv], out=out, err=err)
    return code, out.getvalue() + err.getvalue()


def test_status_and_check_say_a_due_post_waits_for_its_folder(
    live_ctx: PassContext,
    ssettings: Settings,
    settle_env: dict[str, str],
    db: Database,
    clock: Clock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    post_dir = folder(ssettings)
    (post_dir / "bai-viet.txt").write_text(HEADER + FIRST_HALF + SECOND_HALF, encoding="utf-8")
    run_pass(live_ctx, clock())  # first seen at 08:00:00
    monkeypatch.setattr(cmd_status, "clock", lambda: T0 + timedelta(seconds=20))
    _, out = run_cli(settle_env, tmp_path, monkeypatch, "status")
    assert "đến giờ đăng, chờ thư mục bài ổn định đến 08:01:00" in out, out

    write_image(post_dir / "DSC_0001.jpg", seed=9)  # a photo arrives: check sees it first
    later = T0 + timedelta(seconds=30)
    [checked] = check_queue(db, ssettings, now=later).posts
    [note] = [n.message for n in checked.notes]
    assert note.startswith("Thư mục bài vừa thay đổi: bài chỉ được đăng khi thư mục để yên 60 giây")
    assert "từ khoảng 08:01:30" in note
    monkeypatch.setattr(cmd_check, "clock", lambda: later)
    assert "Thư mục bài vừa thay đổi" in run_cli(settle_env, tmp_path, monkeypatch, "check")[1]


# ---------------------------------------------------------------- photos that change (point 5)


def deep_post(settings: Settings, name: str, image: str) -> Path:
    post_dir = folder(settings, name)
    (post_dir / "bai-viet.txt").write_text(
        HEADER.replace("Người duyệt", f"Ảnh: {image}\nNgười duyệt") + FIRST_HALF + SECOND_HALF,
        encoding="utf-8",
    )
    write_image(post_dir / image, seed=1)
    return post_dir


def test_a_photo_deeper_than_the_signature_sees_is_refused(
    ssettings: Settings, db: Database, clock: Clock
) -> None:
    deep_post(ssettings, "sau-qua", "a/b/c/d/anh.jpg")
    deep_post(ssettings, "vua-du", "a/b/c/anh.jpg")
    posts = {p.folder: p for p in check_queue(db, ssettings, now=clock()).posts}
    assert posts["vua-du"].state.value == "ready"
    [problem] = posts["sau-qua"].errors
    assert problem.line == 4  # the "Ảnh:" line
    assert "nằm sâu 4 tầng thư mục con, công cụ chỉ xem tới 3 tầng" in problem.message


def test_a_changed_photo_three_folders_deep_is_seen(
    live_ctx: PassContext, ssettings: Settings, db: Database, clock: Clock, fb: FakeFacebook
) -> None:
    post_dir = deep_post(ssettings, "vua-du", "a/b/c/anh.jpg")
    run_pass(live_ctx, clock())
    new = write_image(post_dir / "a/b/c/anh.jpg", seed=2)  # replaced after approval
    clock.advance(30)
    run_pass(live_ctx, clock())
    clock.advance(61)
    run_pass(live_ctx, clock())
    [pid] = {p.post_id for p in pubs(db).values()}
    pub = pubs(db, pid)["facebook"]
    assert pub.state == "published" and len(fb.live()) == 1
    assert approved_image_sha(db, pub.version_id) == new["sha256"]


def approved_image_sha(db: Database, version_id: int | None) -> str:
    from social_publisher.store import PostVersion

    with db.session() as s:
        version = s.get(PostVersion, version_id)
        assert version is not None
        return str(version.images[0]["sha256"])


def same_size_other_jpeg(data: bytes) -> bytes:
    """``data`` with a run of its compressed image bytes changed: still a JPEG (no 0xFF is
    written, none is cut from its stuffing byte), same size, different content."""
    start = len(data) // 2
    while data[start - 1] == 0xFF or data[start] == 0xFF:
        start += 1
    rng = random.Random(4)
    chunk = bytes(rng.randrange(0, 0xFF) for _ in range(32))
    stop = start + len(chunk)
    assert 0xFF not in data[start:stop]
    return data[:start] + chunk + data[stop:]


def test_a_photo_swapped_without_a_trace_never_leaves_the_post_stuck(
    live_ctx: PassContext,
    ssettings: Settings,
    db: Database,
    clock: Clock,
    fb: FakeFacebook,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A photo replaced by one of the same size with its old time put back: the folder
    signature cannot see it, but the publisher's byte check does, and the folder is read
    again at once instead of being waited for at every pass."""
    post_dir = folder(ssettings, "doi-anh")
    (post_dir / "bai-viet.txt").write_text(
        HEADER.replace("08:00", "08:02") + FIRST_HALF + SECOND_HALF, encoding="utf-8"
    )
    photo = post_dir / "anh.jpg"
    write_image(photo, seed=3)
    caplog.set_level("INFO", logger="social_publisher")
    run_pass(live_ctx, clock())  # approved with the first photo
    stat = photo.stat()
    original = photo.read_bytes()
    swapped = same_size_other_jpeg(original)
    photo.write_bytes(swapped)
    os.utime(photo, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    clock.now = T0 + timedelta(minutes=2, seconds=5)
    for _ in range(6):
        run_pass(live_ctx, clock())
        clock.advance(30)
    [pid] = {p.post_id for p in pubs(db).values()}
    pub = pubs(db, pid)["facebook"]
    assert pub.state in ("published", "confirmed"), [r.getMessage() for r in caplog.records]
    assert approved_image_sha(db, pub.version_id) == hashlib.sha256(swapped).hexdigest()
    assert len(fb.live()) == 1
    assert any(
        "Bài 'Ra quân hướng dẫn VNeID' đang được sửa" in r.getMessage() for r in caplog.records
    )
