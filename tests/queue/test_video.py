"""A video file in a post folder is the post's video (probing is tested in tests/video)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from social_publisher.queue import ScanOptions, evaluate, scan_queue
from social_publisher.queue.scanner import ScannedPost
from social_publisher.states import PostState as State

from .conftest import GOOD, GRACE, NOW

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
OPTIONS = ScanOptions(default_share_with=("tat-ca",))
CLIP = b"\x00\x00\x00\x18ftypmp42" + bytes(64)


@pytest.mark.parametrize("name", ["clip.mp4", "CLIP.MOV", "a.avi", "a.mkv", "a.webm", "a.m4v"])
def test_a_clip_is_the_posts_video_hashed_with_it(
    queue: Path, write_post: Callable[..., Path], name: str
) -> None:
    folder = write_post("co-video")
    (folder / name).write_bytes(CLIP)
    (post,) = scan_queue(queue, OPTIONS).posts
    assert post.errors == ()
    assert post.video is not None and post.video.name == name
    assert post.video.sha256 == hashlib.sha256(CLIP).hexdigest() and post.video.size == len(CLIP)
    assert evaluate(post, now=NOW, grace=GRACE, tz=TZ).state == State.READY
    before = post.content_hash
    (folder / name).write_bytes(CLIP + b"x")
    (post,) = scan_queue(queue, OPTIONS).posts
    assert post.content_hash != before  # another clip: another version


def test_a_format_the_tool_does_not_take_is_named(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    (write_post("dt") / "quay-dt.3gp").write_bytes(CLIP)
    (post,) = scan_queue(queue, OPTIONS).posts
    (error,) = post.errors
    assert error.file == "dt/quay-dt.3gp" and "MP4 (H.264)" in error.message


def test_a_post_without_video_hashes_as_before(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    write_post("anh", GOOD, images={"anh-1.jpg": None})
    (post,) = scan_queue(queue, OPTIONS).posts
    assert post.video is None and len(post.content()) == 14
    record = post.to_dict()
    assert len(record["content"]) == 14 and len(record["more"]) == 8
    assert ScannedPost.from_dict(record) == post


def test_the_cache_record_round_trips_a_video(queue: Path, write_post: Callable[..., Path]) -> None:
    folder = write_post("v", GOOD.replace("Kênh", "Dạng video: reels\nKênh"))
    (folder / "clip.mp4").write_bytes(CLIP)
    (post,) = scan_queue(queue, OPTIONS).posts
    assert post.video is not None and post.video.form == "reels"
    assert ScannedPost.from_dict(post.to_dict()) == post
