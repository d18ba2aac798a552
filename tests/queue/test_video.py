"""A video file in a post folder is said, not dropped (until video support, issue 19)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from social_publisher.errors import Problem
from social_publisher.queue import ScanOptions, evaluate, scan_queue
from social_publisher.states import PostState as State

from .conftest import GOOD, GRACE, NOW

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
OPTIONS = ScanOptions(default_share_with=("tat-ca",))


def message(name: str) -> str:
    return (
        f"Tệp '{name}' là video: video chưa được hỗ trợ; bài sẽ đăng không có video. Bài được "
        "giữ lại để không đăng thiếu video ngoài ý muốn: muốn đăng bài không có video thì chuyển "
        "tệp này ra khỏi thư mục bài."
    )


@pytest.mark.parametrize(
    "name", ["clip.mp4", "CLIP.MOV", "a.avi", "a.mkv", "a.webm", "a.m4v", "quay-dt.3gp"]
)
def test_a_folder_with_only_a_clip_is_held_with_a_clear_message(
    queue: Path, write_post: Callable[..., Path], name: str
) -> None:
    folder = write_post("co-video")
    (folder / name).write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    (post,) = scan_queue(queue, OPTIONS).posts
    assert post.errors == (Problem(f"co-video/{name}", message(name)),)
    assert evaluate(post, now=NOW, grace=GRACE, tz=TZ).state == State.ERROR


def test_photos_and_clips_each_clip_is_named_and_removing_them_makes_the_post_ready(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    folder = write_post("anh-va-video", GOOD, images={"anh-1.jpg": None})
    for name in ("b.mp4", "a.mov"):
        (folder / name).write_bytes(bytes(100))
    (post,) = scan_queue(queue, OPTIONS).posts
    assert [p.message for p in post.errors] == [message("a.mov"), message("b.mp4")]
    assert [img.name for img in post.images] == ["anh-1.jpg"]
    for name in ("b.mp4", "a.mov"):
        (folder / name).unlink()
    (post,) = scan_queue(queue, OPTIONS).posts
    assert post.errors == () and evaluate(post, now=NOW, grace=GRACE, tz=TZ).state == State.READY
