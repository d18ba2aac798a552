"""Folders, images, limits, states, hashes and the cache."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from social_publisher.errors import MediaError, Problem, QueueError
from social_publisher.queue import (
    MemoryScanCache,
    Previous,
    ScannedPost,
    ScanOptions,
    evaluate,
    read_folder,
    scan_queue,
)
from social_publisher.queue import scanner as scanner_module
from social_publisher.states import PostState as State

OPTIONS = ScanOptions(default_author="Phòng VHTT", default_share_with=("tat-ca",))
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 26/11/2026 09:00 in Vietnam
GRACE = timedelta(hours=24)
HEAD = "Tiêu đề: Bài mẫu\nThời gian đăng: 10/12/2026 07:30\nNgười duyệt: Võ Thanh Hùng\n"


def one(queue: Path, **kwargs: object) -> ScannedPost:
    posts = scan_queue(queue, OPTIONS, **kwargs).posts  # type: ignore[arg-type]
    assert len(posts) == 1
    return posts[0]


def state(post: ScannedPost, now: datetime = NOW, previous: Previous | None = None) -> State:
    return evaluate(post, now=now, grace=GRACE, tz=TZ, previous=previous).state


# ---------------------------------------------------------------- folders and text files


def test_a_good_post(queue: Path, write_post: Callable[..., Path]) -> None:
    write_post("ngay-cds")
    post = one(queue)
    assert post.errors == () and post.warnings == ()
    assert post.label == "ngay-cds/bai-viet.txt"
    assert post.title == "Ngày Chuyển đổi số quốc gia 10/10"
    assert post.body == "Hưởng ứng Ngày Chuyển đổi số quốc gia. Câu thứ hai.\n\nĐoạn thứ hai."
    assert post.description == "Hưởng ứng Ngày Chuyển đổi số quốc gia."
    assert post.author == "Phòng VHTT" and post.share_with == ("tat-ca",)
    assert post.channels == ("facebook", "zalo") and post.images == ()
    assert len(post.content_hash) == 64
    assert state(post) == State.READY


@pytest.mark.parametrize(
    "name", ["post.txt", "post.md", "Bài viết.txt", "BAI-VIET.TXT", "bai_viet.txt"]
)
def test_accepted_text_file_names(queue: Path, write_post: Callable[..., Path], name: str) -> None:
    write_post("a", name=name)
    post = one(queue)
    assert post.errors == () and post.source_file == name


@pytest.mark.parametrize(
    "folder", ["Ngày CĐS (10-10), đợt #1", "hóa đơn điện tử & máy tính tiền", "a b  c", "x'y\"z"]
)
def test_folder_names_with_spaces_vietnamese_and_punctuation(
    queue: Path, write_post: Callable[..., Path], folder: str
) -> None:
    write_post(folder, images={"ảnh 1.jpg": None})
    post = one(queue, image_check=lambda p: None)
    assert post.folder == folder and post.errors == ()
    assert post.images[0].name == "ảnh 1.jpg"


def test_several_text_files_is_an_error(queue: Path, write_post: Callable[..., Path]) -> None:
    write_post("a")
    write_post("a", name="post.txt")
    assert one(queue).errors == (
        Problem(
            "a",
            "Thư mục có nhiều tệp bài viết (bai-viet.txt, post.txt). Chỉ giữ lại một tệp, xóa "
            "hoặc đổi tên các tệp còn lại.",
        ),
    )


@pytest.mark.parametrize(
    ("files", "hint"),
    [
        (
            [],
            "Tạo tệp bai-viet.txt (hoặc post.txt, post.md) theo mẫu trong content_queue/README.md.",
        ),
        (
            ["bai-viet.txt.txt"],
            "Có tệp 'bai-viet.txt.txt': Windows đang ẩn phần đuôi tệp nên tên bị thừa đuôi. Đổi "
            "tên tệp thành bai-viet.txt.",
        ),
        (
            ["Bài viết.docx"],
            "Có tệp 'Bài viết.docx' soạn bằng Word: chép nội dung sang Notepad và lưu thành "
            "bai-viet.txt (mã hóa UTF-8).",
        ),
        (["noi dung.txt"], "Có tệp 'noi dung.txt': đổi tên tệp này thành bai-viet.txt."),
    ],
)
def test_missing_text_file_says_how_to_fix(queue: Path, files: list[str], hint: str) -> None:
    (queue / "a").mkdir()
    for name in files:
        (queue / "a" / name).write_text("x", encoding="utf-8")
    assert one(queue).errors == (Problem("a", f"Thư mục chưa có tệp bài viết. {hint}"),)


def test_text_file_over_one_megabyte(queue: Path, write_post: Callable[..., Path]) -> None:
    write_post("a", HEAD + "\n" + "x" * (1024 * 1024 + 10))
    post = one(queue)
    assert post.errors == (
        Problem(
            "a/bai-viet.txt",
            "Tệp bài viết quá lớn (1,0 MB; tối đa 1 MB). Tệp này chỉ chứa chữ: kiểm tra xem có "
            "dán nhầm ảnh hay nội dung khác vào không.",
        ),
    )
    assert state(post) == State.ERROR


def test_binary_junk_text_file(queue: Path) -> None:
    (queue / "a").mkdir()
    (queue / "a" / "bai-viet.txt").write_bytes(b"PK\x03\x04\x00\x00junk\xff\xfe")
    assert one(queue).errors == (
        Problem(
            "a/bai-viet.txt",
            "Tệp không phải văn bản thuần (có ký tự nhị phân hoặc mã hóa lạ). Mở tệp bằng "
            "Notepad, chọn Lưu thành (Save As) với mã hóa UTF-8; nếu soạn bằng Word, hãy chép "
            "nội dung sang Notepad rồi lưu lại.",
        ),
    )


def test_locked_text_file_is_an_error_that_is_not_cached(
    queue: Path, write_post: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_post("a")
    real = scanner_module._read_file

    def locked(path: str) -> bytes:
        if path.endswith("bai-viet.txt"):
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(scanner_module, "_read_file", locked)
    cache = MemoryScanCache()
    post = one(queue, cache=cache)
    assert post.errors == (
        Problem(
            "a/bai-viet.txt",
            "Không đọc được tệp (Permission denied). Đóng chương trình đang mở tệp này (Word, "
            "Notepad…) hoặc kiểm tra quyền truy cập, rồi thử lại.",
        ),
    )
    assert cache.entries == {}


def test_hidden_and_system_files_and_loose_files_are_ignored(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    path = write_post("a")
    for junk in (".DS_Store", "Thumbs.db", "desktop.ini", "~$bai-viet.docx", ".anh.jpg"):
        (path / junk).write_bytes(b"\x00junk")
    (queue / "README.md").write_text("hướng dẫn", encoding="utf-8")
    (queue / ".git").mkdir()
    post = one(queue, image_check=lambda p: None)
    assert post.errors == () and post.images == ()


def test_missing_queue_folder_raises_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(QueueError) as caught:
        scan_queue(tmp_path / "khong-co", OPTIONS)
    assert caught.value.problems[0].message.startswith(
        f"Không tìm thấy thư mục hàng đợi '{tmp_path / 'khong-co'}'. Kiểm tra QUEUE_DIR"
    )


@pytest.mark.skipif(os.name != "posix", reason="undecodable names only exist on POSIX")
def test_undecodable_folder_name_is_an_error_not_a_crash(queue: Path, good: str) -> None:
    raw = os.fsencode(str(queue)) + b"/bad-\xff-name"
    os.mkdir(raw)
    with open(raw + b"/bai-viet.txt", "w", encoding="utf-8") as handle:
        handle.write(good)
    post = one(queue)
    assert post.folder == "bad-\ufffd-name"
    assert post.errors[0].message.startswith("Tên thư mục có ký tự không đọc được.")
    assert state(post) == State.ERROR


# ---------------------------------------------------------------- images


def test_default_images_in_natural_order_and_cover_first(
    queue: Path, write_post: Callable[..., Path], jpeg: Callable[..., bytes]
) -> None:
    write_post(
        "a",
        images={"anh-10.jpg": None, "anh-2.png": None, "Anh-1.JPG": None, "ghi-chu.docx": b"x"},
    )
    seen: list[str] = []
    post = one(queue, image_check=lambda p: seen.append(p.name))
    assert [i.name for i in post.images] == ["Anh-1.JPG", "anh-2.png", "anh-10.jpg"]
    assert post.cover == post.images[0]
    assert sorted(seen) == sorted(["Anh-1.JPG", "anh-2.png", "anh-10.jpg"])
    assert post.images[0].size == len(jpeg())


def test_listed_images_keep_their_order_and_match_case_insensitively(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    write_post(
        "a",
        HEAD + "Ảnh: b.jpg, A.JPG\nẢnh bìa: bia.webp\n\nNội dung.",
        images={"a.jpg": None, "b.jpg": None, "bia.webp": None, "thua.jpg": None},
    )
    post = one(queue, image_check=lambda p: None)
    assert [i.name for i in post.images] == ["b.jpg", "a.jpg"]
    assert post.cover is not None and post.cover.name == "bia.webp"
    assert post.errors == ()
    assert post.warnings == (
        Problem(
            "a/bai-viet.txt",
            "Ảnh có trong thư mục nhưng không ghi trong mục Ảnh nên sẽ không được đăng: "
            "bia.webp, thua.jpg.",
            4,
        ),
    )


def test_images_in_a_subfolder_may_be_listed(queue: Path, write_post: Callable[..., Path]) -> None:
    write_post("a", HEAD + "Ảnh: anh\\1.jpg\n\nNội dung.", images={"anh/1.jpg": None})
    post = one(queue, image_check=lambda p: None)
    assert post.errors == () and post.images[0].name == "anh/1.jpg"


def test_empty_image_list_means_text_only(queue: Path, write_post: Callable[..., Path]) -> None:
    write_post("a", HEAD + "Ảnh: không\n\nNội dung.", images={"1.jpg": None})
    post = one(queue, image_check=lambda p: None)
    assert post.images == () and post.cover is None and post.errors == ()


LINE5 = "a/bai-viet.txt"


@pytest.mark.parametrize(
    ("listed", "message"),
    [
        (
            "mat.jpg",
            "Không tìm thấy ảnh 'mat.jpg' trong thư mục a. Kiểm tra lại tên tệp (cả phần đuôi "
            ".jpg, .png…) hoặc chép ảnh vào thư mục.",
        ),
        (
            "../khac/1.jpg",
            "Ảnh '../khac/1.jpg' nằm ngoài thư mục bài viết. Chép ảnh vào thư mục a và chỉ ghi "
            "tên tệp.",
        ),
        (
            "/etc/1.jpg",
            "Ảnh '/etc/1.jpg' nằm ngoài thư mục bài viết. Chép ảnh vào thư mục a và chỉ ghi tên "
            "tệp.",
        ),
        (
            "C:\\Users\\anh.jpg",
            "Ảnh 'C:\\Users\\anh.jpg' nằm ngoài thư mục bài viết. Chép ảnh vào thư mục a và chỉ "
            "ghi tên tệp.",
        ),
        (
            "bai-viet.txt",
            "Ảnh 'bai-viet.txt' không phải tệp ảnh. Chỉ dùng ảnh jpg, jpeg, png, webp, heic, "
            "heif, gif.",
        ),
        ("1.jpg, 1.jpg", "Ảnh '1.jpg' được ghi hai lần trong mục Ảnh. Mỗi ảnh chỉ ghi một lần."),
    ],
)
def test_bad_image_entries(
    queue: Path, write_post: Callable[..., Path], listed: str, message: str
) -> None:
    (queue / "khac").mkdir()
    (queue / "khac" / "1.jpg").write_bytes(b"x")
    write_post("a", HEAD + f"Ảnh: {listed}\n\nNội dung.", images={"1.jpg": None})
    post = next(
        p for p in scan_queue(queue, OPTIONS, image_check=lambda p: None).posts if p.folder == "a"
    )
    assert post.errors == (Problem(LINE5, message, 4),)


def test_bad_cover(queue: Path, write_post: Callable[..., Path]) -> None:
    write_post("a", HEAD + "Ảnh bìa: bia.jpg\n\nNội dung.", images={"1.jpg": None})
    assert one(queue, image_check=lambda p: None).errors == (
        Problem(
            LINE5,
            "Không tìm thấy ảnh bìa 'bia.jpg' trong thư mục a. Kiểm tra lại tên tệp (cả phần "
            "đuôi .jpg, .png…) hoặc chép ảnh vào thư mục.",
            4,
        ),
    )


@pytest.mark.skipif(os.name != "posix", reason="symlinks need privileges on Windows")
def test_symlinks_leaving_the_folder(
    queue: Path, write_post: Callable[..., Path], tmp_path: Path, jpeg: Callable[..., bytes]
) -> None:
    outside = tmp_path / "bi-mat.jpg"
    outside.write_bytes(jpeg())
    path = write_post("a")
    (path / "lien-ket.jpg").symlink_to(outside)
    (path / "gay.jpg").symlink_to(tmp_path / "khong-ton-tai.jpg")
    post = one(queue, image_check=lambda p: None)
    assert post.errors == (
        Problem(
            "a/gay.jpg",
            "Lối tắt (symlink) này trỏ tới tệp không còn tồn tại. Xóa lối tắt và chép tệp thật "
            "vào thư mục.",
        ),
        Problem(
            "a/lien-ket.jpg",
            "Ảnh này là lối tắt trỏ ra ngoài thư mục bài viết. Chép ảnh thật vào thư mục.",
        ),
    )
    (path / "gay.jpg").unlink()
    write_post("a", HEAD + "Ảnh: lien-ket.jpg\n\nNội dung.")
    assert one(queue, image_check=lambda p: None).errors == (
        Problem(
            LINE5,
            "Ảnh 'lien-ket.jpg' là lối tắt trỏ ra ngoài thư mục bài viết. Chép ảnh thật vào thư "
            "mục a.",
            4,
        ),
    )


def test_symlink_inside_the_folder_is_fine(queue: Path, write_post: Callable[..., Path]) -> None:
    path = write_post("a", images={"goc.jpg": None})
    (path / "ban-sao.jpg").symlink_to(path / "goc.jpg")
    post = one(queue, image_check=lambda p: None)
    assert post.errors == () and [i.name for i in post.images] == ["ban-sao.jpg", "goc.jpg"]


def test_image_refused_by_the_injected_check(queue: Path, write_post: Callable[..., Path]) -> None:
    write_post("a", images={"1.jpg": None, "hong.jpg": b"not a jpeg"})

    def check(path: Path) -> None:
        if path.name == "hong.jpg":
            raise MediaError(f"Ảnh {path.name} bị hỏng, không đọc được.", path=str(path))

    post = one(queue, image_check=check)
    assert post.errors == (Problem("a/hong.jpg", "Ảnh hong.jpg bị hỏng, không đọc được."),)
    assert [i.name for i in post.images] == ["1.jpg"]
    assert state(post) == State.ERROR


def test_a_crashing_image_check_is_contained(queue: Path, write_post: Callable[..., Path]) -> None:
    write_post("a", images={"1.jpg": None})

    def check(path: Path) -> None:
        raise ZeroDivisionError("bug")

    assert one(queue, image_check=check).errors == (
        Problem(
            "a/1.jpg",
            "Không kiểm tra được ảnh (ZeroDivisionError: bug). Thử lưu lại ảnh dạng JPEG hoặc "
            "thay ảnh khác.",
        ),
    )


def test_real_media_check_refuses_a_corrupt_photo(
    queue: Path, write_post: Callable[..., Path], jpeg: Callable[..., bytes]
) -> None:
    from social_publisher.config import Settings
    from social_publisher.services.ingest import default_image_check

    check, _ = default_image_check(Settings())
    write_post("a", images={"tot.jpg": None, "cut.jpg": jpeg()[:300], "gia.png": b"hello"})
    post = one(queue, image_check=check)
    assert [p.file for p in post.errors] == ["a/cut.jpg", "a/gia.png"]
    assert [i.name for i in post.images] == ["tot.jpg"]


# ---------------------------------------------------------------- platform limits


def _post(
    queue: Path, write_post: Callable[..., Path], header: str, body: str = "Nội dung.", **kw: object
) -> ScannedPost:
    write_post("a", HEAD + header + "\n" + body, **kw)
    return one(queue, image_check=lambda p: None)


def test_facebook_text_limit(queue: Path, write_post: Callable[..., Path]) -> None:
    title = "Bài mẫu"
    fits = "x" * (63_206 - len(title) - 2)
    assert _post(queue, write_post, "Kênh: facebook\n", fits).errors == ()
    post = _post(queue, write_post, "Kênh: facebook\n", fits + "y")
    assert post.errors == (
        Problem(
            LINE5,
            "Bài quá dài cho Facebook: 63.207 ký tự (tiêu đề và nội dung), tối đa 63.206 ký tự. "
            "Rút gọn nội dung hoặc bỏ kênh facebook.",
            6,
        ),
    )
    assert _post(queue, write_post, "Kênh: zalo\n", fits + "y").errors == ()


def test_facebook_photo_limit(queue: Path, write_post: Callable[..., Path]) -> None:
    images: dict[str, bytes | None] = {f"{i}.jpg": None for i in range(1, 12)}
    post = _post(queue, write_post, "Kênh: facebook\n", images=images)
    assert post.errors == (
        Problem(
            LINE5,
            "Facebook chỉ đăng tối đa 10 ảnh mỗi bài, bài này có 11 ảnh. Chọn bớt ảnh trong mục "
            "Ảnh (ví dụ 'Ảnh: 1.jpg, 2.jpg') hoặc chuyển bớt ảnh ra khỏi thư mục.",
        ),
    )
    assert _post(queue, write_post, "Kênh: zalo\n", images=images).errors == ()


@pytest.mark.parametrize(
    ("key", "name", "hard"),
    [("Tiêu đề", "Tiêu đề", 150), ("Mô tả", "Mô tả", 300), ("Tác giả", "Tác giả", 50)],
)
def test_zalo_limits_error_at_the_hard_limit_and_warn_in_the_margin(
    queue: Path, write_post: Callable[..., Path], key: str, name: str, hard: int
) -> None:
    def scan(size: int, channels: str = "zalo") -> ScannedPost:
        text = HEAD.replace("Tiêu đề: Bài mẫu\n", "") if key == "Tiêu đề" else HEAD
        write_post("a", f"{key}: {'a' * size}\n{text}Kênh: {channels}\n\nNội dung.")
        return one(queue)

    assert scan(hard - 10).errors == () and scan(hard - 10).warnings == ()
    assert scan(hard - 9).errors == ()
    assert scan(hard - 9).warnings == (
        Problem(
            LINE5,
            f"{name} dài {hard - 9} ký tự, sát giới hạn {hard} ký tự của Zalo (Zalo từng từ chối "
            f"chuỗi gần giới hạn). Nên rút gọn xuống {hard - 10} ký tự trở xuống.",
            1,
        ),
    )
    assert scan(hard).errors == (
        Problem(
            LINE5,
            f"{name} dài {hard} ký tự, Zalo chỉ nhận dưới {hard} ký tự. Rút gọn xuống "
            f"{hard - 10} ký tự trở xuống, hoặc bỏ kênh zalo.",
            1,
        ),
    )
    assert scan(hard, "facebook").errors == ()


def test_zalo_broadcast_without_zalo_warns(queue: Path, write_post: Callable[..., Path]) -> None:
    post = _post(queue, write_post, "Kênh: facebook\nGửi tin Zalo: có\n")
    assert post.warnings == (
        Problem(
            LINE5,
            "Có 'Gửi tin Zalo: có' nhưng bài không đăng lên Zalo (mục Kênh không có zalo), nên "
            "sẽ không gửi tin.",
            5,
        ),
    )


# ---------------------------------------------------------------- states


def _scanned(queue: Path, write_post: Callable[..., Path], text: str) -> ScannedPost:
    write_post("a", text)
    return one(queue)


def test_states(queue: Path, write_post: Callable[..., Path]) -> None:
    assert state(_scanned(queue, write_post, HEAD + "\nx")) == State.READY
    draft = _scanned(queue, write_post, HEAD.replace("Người duyệt: Võ Thanh Hùng\n", "") + "\nx")
    checked = evaluate(draft, now=NOW, grace=GRACE, tz=TZ)
    assert checked.state == State.DRAFT
    assert checked.warnings == (
        Problem(
            LINE5,
            "Chưa có Người duyệt nên bài là bản nháp, sẽ không được đăng. Khi bài đã được duyệt, "
            "thêm dòng 'Người duyệt: <họ và tên>'.",
        ),
    )
    withdrawn = _scanned(queue, write_post, HEAD + "Trạng thái: hủy\n\nx")
    assert state(withdrawn) == State.WITHDRAWN
    undecided = _scanned(
        queue, write_post, "Tiêu đề: A\nThời gian đăng: 10/12/2026 07:30\nTrạng thái: hủy\n\nx"
    )
    assert state(undecided) == State.WITHDRAWN  # withdrawing a draft is still a withdrawal
    broken = _scanned(queue, write_post, HEAD + "Trạng thái: hủy\nKênh: fb\n\nx")
    assert state(broken) == State.ERROR  # errors win over everything


def test_overdue_within_grace_publishes_now_with_a_warning(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    post = _scanned(queue, write_post, HEAD + "\nx")
    late = datetime(2026, 12, 10, 3, 30, tzinfo=UTC)  # 10:30 local, 3 hours late
    checked = evaluate(post, now=late, grace=GRACE, tz=TZ)
    assert checked.state == State.READY
    assert checked.notes == (
        Problem(
            LINE5,
            "Thời gian đăng 10/12/2026 07:30 đã qua 3 giờ: bài sẽ được đăng ngay. Nếu không "
            "muốn, sửa Thời gian đăng hoặc thêm dòng 'Trạng thái: hủy'.",
            2,
        ),
    )


def test_overdue_beyond_grace_is_held(queue: Path, write_post: Callable[..., Path]) -> None:
    post = _scanned(queue, write_post, HEAD + "\nx")
    late = datetime(2026, 12, 12, 0, 31, tzinfo=UTC)  # 24 h 1 min late
    checked = evaluate(post, now=late, grace=GRACE, tz=TZ)
    assert checked.state == State.HELD
    assert checked.notes == (
        Problem(
            LINE5,
            "Thời gian đăng 10/12/2026 07:30 đã qua hơn 24 giờ nên bài được giữ lại chờ quyết "
            "định. Sửa Thời gian đăng sang thời điểm mới, hoặc chạy 'social-publisher "
            'publish-now "a"\' để đăng ngay.',
            2,
        ),
    )
    exactly = datetime(2026, 12, 11, 0, 30, tzinfo=UTC)
    assert state(post, exactly) == State.READY


def test_overdue_rule_applies_once_per_publishing_time(
    queue: Path, write_post: Callable[..., Path]
) -> None:
    post = _scanned(queue, write_post, HEAD + "\nx")
    much_later = datetime(2027, 1, 1, tzinfo=UTC)
    assert post.publish_at is not None
    assert state(post, much_later, Previous("ready", post.publish_at)) == State.READY
    assert state(post, NOW, Previous("held", post.publish_at)) == State.HELD
    moved = post.publish_at - timedelta(days=1)
    assert state(post, much_later, Previous("ready", moved)) == State.HELD
    assert state(post, much_later, Previous("draft", post.publish_at)) == State.HELD


def test_far_future_date_warns(queue: Path, write_post: Callable[..., Path]) -> None:
    post = _scanned(queue, write_post, HEAD.replace("2026", "2028") + "\nx")
    checked = evaluate(post, now=NOW, grace=GRACE, tz=TZ)
    assert checked.state == State.READY
    assert checked.notes[0].message == (
        "Thời gian đăng 10/12/2028 07:30 còn hơn một năm nữa. Kiểm tra lại năm đã ghi."
    )


# ---------------------------------------------------------------- content hash


def test_same_content_same_hash_whatever_the_encoding(
    queue: Path, write_post: Callable[..., Path], good: str, cp1258_nfd: Callable[[str], bytes]
) -> None:
    hashes = set()
    for index, (encoding, newline) in enumerate(
        [("utf-8", "\n"), ("utf-8-sig", "\r\n"), ("utf-16", "\r\n"), ("utf-16-be", "\n")]
    ):
        text = ("\ufeff" + good) if encoding == "utf-16-be" else good
        write_post(f"p{index}", text, encoding=encoding, newline=newline)
    (queue / "p9").mkdir()
    (queue / "p9" / "bai-viet.txt").write_bytes(cp1258_nfd(good.replace("\n", "\r\n")))
    for post in scan_queue(queue, OPTIONS).posts:
        assert post.errors == (), post.folder
        hashes.add(post.content_hash)
    assert len(hashes) == 1


def test_hash_covers_body_header_and_image_bytes_and_order(
    queue: Path, write_post: Callable[..., Path], jpeg: Callable[..., bytes]
) -> None:
    def digest(text: str, images: dict[str, bytes | None]) -> str:
        shutil.rmtree(queue / "a", ignore_errors=True)
        write_post("a", text, images=images)
        return one(queue, image_check=lambda p: None).content_hash

    base = HEAD + "Ảnh: 1.jpg, 2.jpg\n\nNội dung."
    imgs: dict[str, bytes | None] = {"1.jpg": jpeg(), "2.jpg": jpeg(colour=(1, 2, 3))}
    reference = digest(base, imgs)
    assert digest(base, imgs) == reference
    variants = [
        digest(base.replace("Nội dung.", "Nội dung!"), imgs),
        digest(base.replace("Võ Thanh Hùng", "Nguyễn Văn A"), imgs),
        digest(base.replace("1.jpg, 2.jpg", "2.jpg, 1.jpg"), imgs),
        digest(base, {"1.jpg": jpeg(colour=(9, 9, 9)), "2.jpg": imgs["2.jpg"]}),
        digest(base.replace("07:30", "07:31"), imgs),
        digest(base.replace("\n\n", "\nKênh: zalo\n\n"), imgs),
    ]
    assert reference not in variants and len(set(variants)) == len(variants)


def test_error_posts_hash_their_raw_text(queue: Path, write_post: Callable[..., Path]) -> None:
    write_post("a", HEAD + "Sai 1: x\n\nNội dung.")
    first = one(queue).content_hash
    write_post("a", HEAD + "Sai 2: x\n\nNội dung.")
    assert one(queue).content_hash != first


# ---------------------------------------------------------------- cache and isolation


def test_unchanged_folders_are_not_read_again(
    queue: Path, write_post: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_post("a", images={"1.jpg": None})
    write_post("b")
    calls: list[str] = []
    real = scanner_module.read_folder

    def counting(root: Path, name: str, *args: object, **kwargs: object) -> ScannedPost:
        calls.append(name)
        return real(root, name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(scanner_module, "read_folder", counting)
    cache = MemoryScanCache()
    first = scan_queue(queue, OPTIONS, cache=cache, image_check=lambda p: None)
    assert calls == ["a", "b"] and first.read == ["a", "b"]
    second = scan_queue(queue, OPTIONS, cache=cache, image_check=lambda p: None)
    assert calls == ["a", "b"] and second.read == []
    assert second.posts == first.posts  # the cached result is the same post

    (queue / "b" / "bai-viet.txt").write_text(HEAD + "\nSửa nội dung.", encoding="utf-8")
    third = scan_queue(queue, OPTIONS, cache=cache, image_check=lambda p: None)
    assert calls == ["a", "b", "b"] and third.read == ["b"]
    assert third.posts[1].content_hash != first.posts[1].content_hash

    os.utime(queue / "a" / "1.jpg", ns=(1, 1))  # touched image: read again
    assert scan_queue(queue, OPTIONS, cache=cache, image_check=lambda p: None).read == ["a"]
    other = ScanOptions(timezone="Asia/Tokyo")  # settings changed: every folder again
    assert scan_queue(queue, other, cache=cache, image_check=lambda p: None).read == ["a", "b"]


def test_nothing_in_the_queue_crashes_the_scan(
    queue: Path, write_post: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_post("a")
    write_post("bom")
    write_post("c")
    real = scanner_module.interpret

    def explode(text: str, file: str, tz: object) -> object:
        if file.startswith("bom/"):
            raise RuntimeError("hỏng")
        return real(text, file, tz)  # type: ignore[arg-type]

    monkeypatch.setattr(scanner_module, "interpret", explode)
    cache = MemoryScanCache()
    posts = scan_queue(queue, OPTIONS, cache=cache).posts
    assert [p.folder for p in posts] == ["a", "bom", "c"]
    assert posts[0].errors == () and posts[2].errors == ()
    assert posts[1].errors == (
        Problem(
            "bom",
            "Lỗi ngoài dự kiến khi đọc thư mục này (RuntimeError: hỏng). Các bài khác vẫn được "
            "xử lý; báo cho bộ phận kỹ thuật nếu lỗi còn lặp lại.",
        ),
    )
    assert state(posts[1]) == State.ERROR
    assert len(cache.entries) == 2  # the crash is not cached: it is tried again next time


def test_cached_result_survives_json(queue: Path, write_post: Callable[..., Path]) -> None:
    import json

    write_post("a", HEAD + "Ảnh: 1.jpg\nKênh: fb\n\nx", images={"1.jpg": None})
    post = one(queue, image_check=lambda p: None)
    assert ScannedPost.from_dict(json.loads(json.dumps(post.to_dict()))) == post


def test_read_folder_directly(queue: Path, write_post: Callable[..., Path]) -> None:
    write_post("a")
    assert read_folder(queue, "a", OPTIONS).errors == ()
