"""FIFOs, devices and symlinks in the queue: never blocked on, never silently skipped (point 9
and the Low items on symlinks). Real FIFOs, real device nodes, real symlinks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from social_publisher.queue import ScannedPost, read_folder, scan_queue
from social_publisher.queue import scanner as scanner_module

from .conftest import GOOD, TZ_OPTIONS

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
ROOT = Path(__file__).resolve().parents[2]


def errors_of(queue: Path, name: str) -> list[str]:
    [post] = [p for p in scan_queue(queue, TZ_OPTIONS).posts if p.folder == name]
    return [str(p) for p in post.errors]


def test_a_fifo_as_the_only_photo_is_refused_not_skipped(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    folder = write_post("chi-co-fifo")
    os.mkfifo(folder / "anh.jpg")
    [message] = errors_of(queue, "chi-co-fifo")
    assert message.startswith("chi-co-fifo/anh.jpg: 'anh.jpg' không phải tệp thông thường")
    assert "FIFO" in message and "chép tệp thật vào" in message


def test_a_symlink_to_a_device_as_the_only_photo_is_refused(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    folder = write_post("thiet-bi")
    (folder / "anh.jpg").symlink_to("/dev/zero")
    [message] = errors_of(queue, "thiet-bi")
    assert "thiet-bi/anh.jpg: 'anh.jpg' không phải tệp thông thường" in message


def test_a_fifo_named_in_the_header_is_refused(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    folder = write_post(
        "anh-con-fifo", GOOD.replace("Người duyệt", "Ảnh: con/anh.jpg\nNgười duyệt")
    )
    (folder / "con").mkdir()
    os.mkfifo(folder / "con" / "anh.jpg")
    [message] = errors_of(queue, "anh-con-fifo")
    assert "Ảnh 'con/anh.jpg' không phải tệp thông thường" in message


def test_a_file_swapped_for_a_fifo_after_listing_never_blocks(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    """The folder is listed (its signature), then the text becomes a FIFO with no writer
    before it is read: the read returns at once instead of waiting for a writer for ever."""
    folder = write_post("doi-thanh-fifo")
    _, entries = scanner_module._signature(str(folder), b"seed")
    (folder / "bai-viet.txt").unlink()
    os.mkfifo(folder / "bai-viet.txt")
    done: list[ScannedPost] = []
    reader = threading.Thread(
        target=lambda: done.append(read_folder(queue, "doi-thanh-fifo", TZ_OPTIONS, None, entries)),
        daemon=True,
    )
    reader.start()
    reader.join(5)
    if reader.is_alive():  # unblock the stuck read so the test run can end, then fail
        with open(folder / "bai-viet.txt", "wb"):
            pass
        reader.join(5)
        pytest.fail("reading a FIFO blocked the scan")
    [post] = done
    assert post.errors  # an empty text: refused, not published


def test_check_with_a_fifo_in_a_post_folder_ends_and_reports_it(
    queue: Path, write_post: Callable[..., Path], tmp_path: Path
) -> None:
    """A real ``check`` process, SIGTERM-able and finished in seconds."""
    folder = write_post("co-fifo")
    os.mkfifo(folder / "ghi-chu.txt")
    os.mkfifo(folder / "IMG_0001.jpg")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FB_", "ZALO_"))}
    env.update({"QUEUE_DIR": str(queue), "DATABASE_URL": f"sqlite:///{tmp_path / 'sp.db'}"})
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "social_publisher", "--env-file", str(tmp_path / "x.env"), "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "co-fifo/IMG_0001.jpg: 'IMG_0001.jpg' không phải tệp thông thường" in done.stdout
    assert "co-fifo/ghi-chu.txt: 'ghi-chu.txt' không phải tệp thông thường" in done.stdout


def test_a_post_folder_that_links_outside_the_queue_is_refused(
    queue: Path, write_post: Callable[..., Path], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "ngoai-hang-doi"
    elsewhere.mkdir()
    (elsewhere / "bai-viet.txt").write_text(GOOD, encoding="utf-8")
    (queue / "loi-tat").symlink_to(elsewhere, target_is_directory=True)
    [message] = errors_of(queue, "loi-tat")
    assert message.startswith("loi-tat: Thư mục bài này là lối tắt (symlink) trỏ ra ngoài")


def test_a_post_folder_linking_to_another_folder_of_the_queue_is_read(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    write_post("that")
    (queue / "ban-sao").symlink_to(queue / "that", target_is_directory=True)
    assert errors_of(queue, "ban-sao") == []


def test_symlink_loops_are_named_not_unexpected(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    folder = write_post("co-vong")
    (folder / "a.jpg").symlink_to(folder / "b.jpg")
    (folder / "b.jpg").symlink_to(folder / "a.jpg")
    (queue / "vong-1").symlink_to(queue / "vong-2")
    (queue / "vong-2").symlink_to(queue / "vong-1")
    messages = errors_of(queue, "co-vong")
    assert messages and all("trỏ vòng về chính nó" in m for m in messages)
    [loop] = errors_of(queue, "vong-1")
    assert loop.startswith("vong-1: Thư mục bài là lối tắt (symlink) trỏ vòng về chính nó")
    assert not any("Lỗi ngoài dự kiến" in m for m in [*messages, loop])


def test_a_looping_queue_folder_says_so(tmp_path: Path) -> None:
    from social_publisher.errors import QueueError

    loop = tmp_path / "hang-doi"
    loop.symlink_to(tmp_path / "hang-doi")
    with pytest.raises(QueueError) as caught:
        scan_queue(loop, TZ_OPTIONS)
    [problem] = caught.value.problems
    assert "là lối tắt (symlink) trỏ vòng hoặc trỏ tới nơi không còn tồn tại" in problem.message


def test_year_0001_is_a_message_not_a_crash(queue: Path, write_post: Callable[..., Path]) -> None:
    write_post("nam-1", GOOD.replace("10/12/2026 07:30", "01/01/0001 00:00"))
    [message] = errors_of(queue, "nam-1")
    assert message == (
        "nam-1/bai-viet.txt:2: Năm 0001 trong Thời gian đăng không hợp lệ: ghi năm đủ 4 chữ số, "
        "ví dụ 'Thời gian đăng: 10/10/2026 07:30'."
    )
