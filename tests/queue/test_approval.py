"""``Người duyệt``: only the right key approves, and names are checked against APPROVERS."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from social_publisher.config import load_settings
from social_publisher.errors import Problem
from social_publisher.queue import MemoryScanCache, ScanOptions, evaluate, scan_queue
from social_publisher.queue.parser import approval_key_ok, check_approver, interpret
from social_publisher.states import PostState as State

from .conftest import GRACE, NOW

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
FILE = "bai/bai-viet.txt"
HEAD = "Tiêu đề: Bài mẫu\nThời gian đăng: 10/12/2026 07:30\n"
OPTIONS = ScanOptions(default_share_with=("tat-ca",))
APPROVERS = ("Võ Thanh Hùng", "Nguyễn Thị Lan")


@pytest.mark.parametrize(
    "key",
    [
        *("Người duyệt", "NGƯỜI DUYỆT", "người  duyệt", "Nguoi duyet", "NGUOI DUYET"),
        *("nguoi_duyet", "approved_by", "Approved-By", "approved by"),
    ],
)
def test_the_approval_key_written_right_approves(key: str) -> None:
    assert approval_key_ok(key)
    post = interpret(f"{HEAD}{key}: Võ Thanh Hùng\n\nNội dung.", FILE, TZ)
    assert post.errors == [] and post.approved_by == "Võ Thanh Hùng"


@pytest.mark.parametrize("key", ["Ngưoi duyêt", "Nguoi duyệt", "Người duyêt", "Nguời duyệt"])
def test_a_key_that_only_looks_like_it_is_never_an_approval(key: str) -> None:
    post = interpret(f"{HEAD}{key}: Võ Thanh Hùng\n\nNội dung.", FILE, TZ)
    assert post.approved_by is None
    assert post.errors == [
        Problem(
            FILE,
            f"Mục '{key}' gần giống 'Người duyệt' nhưng sai dấu, nên không được tính là bài đã "
            "duyệt. Có phải ý bạn là 'Người duyệt'? Sửa lại tên mục (gõ đủ dấu 'Người duyệt', "
            "hoặc không dấu 'Nguoi duyet').",
            3,
        )
    ]


def test_the_misspelt_key_makes_an_error_not_a_ready_post(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    write_post("bai", f"{HEAD}Ngưoi duyêt: Võ Thanh Hùng\n\nNội dung.")
    (post,) = scan_queue(queue, OPTIONS).posts
    assert evaluate(post, now=NOW, grace=GRACE, tz=TZ).state == State.ERROR


@pytest.mark.parametrize("name", ["chưa", "Chưa duyệt", "chờ duyệt", "không", "?"])
def test_words_that_say_nobody_approved_are_not_an_approval(name: str) -> None:
    post = interpret(f"{HEAD}Người duyệt: {name}\n\nNội dung.", FILE, TZ)
    assert post.approved_by is None
    assert [e.message for e in post.errors] == [
        f"Người duyệt ghi '{name}': đây không phải họ tên người duyệt. Bài chưa được duyệt thì "
        "xóa dòng này (bài là bản nháp); đã duyệt thì ghi họ và tên người duyệt."
    ]


def test_approvers_match_without_case_accents_or_extra_spaces() -> None:
    assert check_approver("vo  thanh HUNG", APPROVERS).known == "Võ Thanh Hùng"
    assert check_approver("Võ Thanh Hùng", APPROVERS).known == "Võ Thanh Hùng"
    unknown = check_approver("Võ Thanh Hưng Anh", APPROVERS)
    assert unknown.known is None and unknown.closest == "Võ Thanh Hùng"
    assert check_approver("Trần Văn B", APPROVERS).closest is None


def test_the_approvers_setting() -> None:
    settings = load_settings({"APPROVERS": " Võ Thanh  Hùng ; Nguyễn Thị Lan,,"}, dotenv_path=None)
    assert settings.approvers == ("Võ Thanh Hùng", "Nguyễn Thị Lan")
    assert load_settings({}, dotenv_path=None).approvers == ()


def test_a_known_approver_is_recorded_as_the_list_spells_the_name(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    write_post("bai", f"{HEAD}Người duyệt: vo thanh hung\n\nNội dung.")
    options = dataclasses.replace(OPTIONS, approvers=APPROVERS)
    (post,) = scan_queue(queue, options).posts
    assert post.warnings == () and post.approved_by == "Võ Thanh Hùng"


def test_an_unknown_approver_warns_and_still_counts(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    write_post("bai", f"{HEAD}Người duyệt: Võ Thanh Hưng\n\nNội dung.")
    options = dataclasses.replace(OPTIONS, approvers=("Võ Thanh Hùng Anh", "Nguyễn Thị Lan"))
    (post,) = scan_queue(queue, options).posts
    assert post.approved_by == "Võ Thanh Hưng"  # the record keeps what the file says
    assert post.warnings == (
        Problem(
            "bai/bai-viet.txt",
            "Người duyệt 'Võ Thanh Hưng' không có trong danh sách người duyệt (APPROVERS). Có "
            "phải ý bạn là 'Võ Thanh Hùng Anh'? Bài vẫn được tính là đã duyệt, ghi đúng tên như "
            "trong tệp. Nếu gõ sai tên thì sửa lại; nếu đúng là người duyệt mới thì nhờ bộ phận "
            "kỹ thuật thêm tên vào APPROVERS.",
            3,
        ),
    )
    assert evaluate(post, now=NOW, grace=GRACE, tz=TZ).state == State.READY
    # without a list any name counts, silently (as before the setting existed)
    (plain,) = scan_queue(queue, OPTIONS).posts
    assert plain.warnings == () and plain.approved_by == "Võ Thanh Hưng"


def test_a_change_of_the_approvers_list_re_reads_the_folders(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    write_post("bai", f"{HEAD}Người duyệt: Võ Thanh Hùng\n\nNội dung.")
    cache = MemoryScanCache()
    options = dataclasses.replace(OPTIONS, approvers=("Nguyễn Thị Lan",))
    assert scan_queue(queue, options, cache=cache).posts[0].warnings
    assert scan_queue(queue, options, cache=cache).read == []
    fixed = dataclasses.replace(options, approvers=APPROVERS)
    again = scan_queue(queue, fixed, cache=cache)
    assert again.read == ["bai"] and again.posts[0].warnings == ()
