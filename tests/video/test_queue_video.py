"""Video in the queue: one clip per post, its header keys, and ``check``'s refusals."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from social_publisher.config import Settings
from social_publisher.queue.scanner import ScannedPost
from social_publisher.services.ingest import check_queue
from social_publisher.states import PostState

from .conftest import write_clip, write_huge_frame, write_voice

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


def write_post(folder: Path, *extra: str, channels: str = "facebook, zalo") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    header = [
        "Tiêu đề: Ngày hội chuyển đổi số Đức Phổ",
        "Thời gian đăng: 10/12/2026 08:00",
        f"Kênh: {channels}",
        "Người duyệt: Võ Thanh Hùng",
        *extra,
    ]
    (folder / "bai-viet.txt").write_text(
        "\n".join(header) + "\n\nNgười dân xem video hướng dẫn dịch vụ công.\n", encoding="utf-8"
    )
    return folder


def checked(settings: Settings) -> dict[str, tuple[ScannedPost, PostState]]:
    report = check_queue(None, settings, now=NOW)
    return {p.folder: (p.post, p.state) for p in report.posts}


def test_a_portrait_clip_defaults_to_a_reel_and_a_landscape_one_to_feed(
    settings: Settings,
) -> None:
    queue = settings.queue_dir
    write_clip(write_post(queue / "doc") / "clip.mp4", width=540, height=960, seconds=4)
    write_clip(write_post(queue / "ngang") / "clip.mov", width=160, height=90, seconds=4)
    write_clip(
        write_post(queue / "chon", "Dạng video: thường", "Tiêu đề video: Hướng dẫn") / "clip.mp4",
        width=540,
        height=960,
        seconds=4,
    )
    posts = checked(settings)
    doc, state = posts["doc"]
    assert state == PostState.READY and not doc.errors, doc.errors
    assert doc.video is not None and doc.video.chosen_form == "reels" and doc.video.form is None
    assert (doc.video.width, doc.video.height) == (540, 960)
    assert posts["ngang"][0].video.chosen_form == "thường"  # type: ignore[union-attr]
    chosen = posts["chon"][0].video
    assert chosen is not None and chosen.form == "thường" and chosen.title == "Hướng dẫn"
    # the video is hashed: a different clip is a different version
    assert doc.content_hash != posts["chon"][0].content_hash


def test_a_video_post_keeps_its_cover_photo_and_warns_of_the_others(settings: Settings) -> None:
    folder = write_post(settings.queue_dir / "bai", "Ảnh bìa: bia.jpg")
    write_clip(folder / "clip.mp4", width=160, height=90, seconds=2)
    Image.new("RGB", (320, 240), (10, 120, 200)).save(folder / "bia.jpg")
    Image.new("RGB", (320, 240), (200, 120, 10)).save(folder / "khac.jpg")
    post, state = checked(settings)["bai"]
    assert state == PostState.READY, post.errors
    assert post.cover is not None and post.cover.name == "bia.jpg"
    assert any("khac.jpg" in w.message and "không" in w.message for w in post.warnings)


def test_two_videos_need_a_video_line(settings: Settings) -> None:
    folder = write_post(settings.queue_dir / "hai")
    write_clip(folder / "a.mp4", seconds=1.5)
    write_clip(folder / "b.mp4", seconds=1.5)
    post, state = checked(settings)["hai"]
    assert state == PostState.ERROR
    assert "2 video" in post.errors[0].message and "Video:" in post.errors[0].message
    (folder / "bai-viet.txt").write_text(
        (folder / "bai-viet.txt")
        .read_text(encoding="utf-8")
        .replace("Người duyệt", "Video: b.mp4\nNgười duyệt"),
        encoding="utf-8",
    )
    post, state = checked(settings)["hai"]
    assert state == PostState.READY, post.errors
    assert post.video is not None and post.video.name == "b.mp4"
    assert any("a.mp4" in w.message for w in post.warnings)


def test_a_bad_video_form_and_keys_without_a_video(settings: Settings) -> None:
    write_clip(write_post(settings.queue_dir / "sai", "Dạng video: dọc") / "c.mp4", seconds=2)
    write_post(settings.queue_dir / "thieu", "Tiêu đề video: Không có video")
    posts = checked(settings)
    assert "Dạng video 'dọc' không hợp lệ" in posts["sai"][0].errors[0].message
    assert "không có video" in posts["thieu"][0].errors[0].message


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(buf, "JPEG")
    return buf.getvalue()


def test_every_refusal_is_a_clear_message_and_holds_only_its_post(settings: Settings) -> None:
    queue = settings.queue_dir
    write_post(queue / "rong")
    (queue / "rong" / "clip.mp4").write_bytes(b"")
    cut = write_clip(write_post(queue / "cat") / "clip.mp4", seconds=3)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    write_post(queue / "anh")
    (queue / "anh" / "clip.mp4").write_bytes(_jpeg())
    write_clip(write_post(queue / "dai") / "clip.mp4", audio=False,
               timestamps=[0.0, 2.0, 4 * 3600.0])  # fmt: skip
    write_voice(write_post(queue / "tieng") / "clip.mp4")
    write_huge_frame(write_post(queue / "lon") / "clip.avi")
    write_clip(write_post(queue / "reels", "Dạng video: reels") / "c.mp4", width=160, height=90,
               seconds=2)  # fmt: skip
    write_clip(write_post(queue / "tot") / "clip.mp4", seconds=2)
    posts = checked(settings)
    expected = {
        "rong": "0 byte",
        "cat": "cắt dở",
        "anh": "ảnh JPEG",
        "dai": "4 giờ",
        "tieng": "không có hình",
        "lon": "10000×10000",
        "reels": "Facebook Reels",
    }
    for folder, words in expected.items():
        post, state = posts[folder]
        assert state == PostState.ERROR, folder
        (error,) = post.errors
        assert words in error.message, (folder, error.message)
        assert error.file.startswith(f"{folder}/c"), error.file  # names the video file
    good, state = posts["tot"]
    assert state == PostState.READY and not good.errors


@pytest.mark.parametrize("name", ["clip.MP4", "quay.webm"])
def test_video_names_staff_use(settings: Settings, name: str) -> None:
    options = {"codec": "libvpx-vp9", "container_format": "webm"} if name.endswith("webm") else {}
    write_clip(write_post(settings.queue_dir / "bai") / name, seconds=1.5, audio=False,
               **options)  # type: ignore[arg-type]  # fmt: skip
    post, state = checked(settings)["bai"]
    assert state == PostState.READY, post.errors
    assert post.video is not None and post.video.name == name
