"""`init`: exact output on a fresh folder and on a second run."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from social_publisher.cli import main
from social_publisher.store.db import SCHEMA_HEAD

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "content_queue" / "README.md"
AGENCIES = ROOT / "agencies.csv"


def run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_init_creates_env_database_and_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "QUEUE_DIR", "LOG_DIR", "FB_PAGE_ID", "ZALO_APP_ID"):
        monkeypatch.delenv(name, raising=False)
    code, out, _ = run(["init"])
    assert code == 0
    assert out == (
        "Đã tạo tệp cấu hình .env từ mẫu: hãy mở và điền thông tin Fanpage, Zalo OA.\n"
        f"Đã tạo cơ sở dữ liệu sqlite:///data/social_publisher.db (phiên bản {SCHEMA_HEAD}).\n"
        "Đã tạo thư mục content_queue\n"
        "Đã tạo thư mục logs\n"
        "Đã chép hướng dẫn cho cán bộ vào content_queue/README.md (cách viết bài, ghi ngày giờ, "
        "các lỗi thường gặp).\n"
        "Đã tạo danh sách đơn vị agencies.csv từ mẫu (các xã, phường, phòng ban của thị xã Đức "
        "Phổ): kiểm tra lại tên đơn vị và thêm địa chỉ Trang Facebook (cột fb_page_url) của từng "
        "đơn vị.\n"
        "Kênh Facebook đang tắt: chưa có FB_PAGE_ID, FB_PAGE_ACCESS_TOKEN trong .env.\n"
        "Kênh Zalo OA đang tắt: chưa có ZALO_APP_ID, ZALO_APP_SECRET trong .env.\n"
    )
    assert (tmp_path / "content_queue" / "README.md").read_bytes() == GUIDE.read_bytes()
    assert (tmp_path / "agencies.csv").read_bytes() == AGENCIES.read_bytes()
    assert (tmp_path / "data" / "social_publisher.db").is_file()
    assert (tmp_path / ".env").read_text(encoding="utf-8").startswith("# social-publisher")

    code, out, _ = run(["init"])
    assert code == 0
    assert out.splitlines()[:4] == [
        "Giữ nguyên tệp cấu hình có sẵn: .env",
        "Cơ sở dữ liệu sqlite:///data/social_publisher.db đã ở phiên bản mới nhất "
        f"({SCHEMA_HEAD}).",
        "Giữ nguyên hướng dẫn cho cán bộ có sẵn: content_queue/README.md",
        "Giữ nguyên danh sách đơn vị có sẵn: agencies.csv",
    ]


def test_the_packaged_guide_and_agencies_file_are_the_checkout_s() -> None:
    data = ROOT / "social_publisher" / "data"
    assert (data / "content_queue_README.md").read_bytes() == GUIDE.read_bytes()
    assert (data / "agencies.csv").read_bytes() == AGENCIES.read_bytes()


def test_a_new_install_checks_share_lists_against_the_copied_agencies_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "QUEUE_DIR", "LOG_DIR", "AGENCIES_FILE", "FB_PAGE_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ZALO_APP_ID", raising=False)
    assert run(["init"])[0] == 0
    post = tmp_path / "content_queue" / "bai-1"
    post.mkdir()
    (post / "bai-viet.txt").write_text(
        "Tiêu đề: A\nThời gian đăng: 10/12/2030 7h30\nNgười duyệt: Võ Thanh Hùng\n"
        "Chia sẻ: Phổ Văn, Thị đoànn\n\nNội dung.\n",
        encoding="utf-8",
    )
    code, out, _ = run(["check"])
    assert code == 1
    assert "Có phải ý bạn là 'thi-doan-duc-pho' (Thị đoàn Đức Phổ)?" in out
    assert "Phổ Văn'" not in out  # the name staff wrote is known


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([])[0] == 2


def test_unknown_command_is_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        run(["khong-co-lenh-nay"])
    assert info.value.code == 2


def test_an_unexpected_error_is_one_line_and_the_traceback_goes_to_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from social_publisher.cli import cmd_init
    from social_publisher.errors import register_secret

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "nhat-ky"))
    register_secret("crash-secret-token-42")

    def boom(*_args: object) -> int:
        raise RuntimeError("hỏng với crash-secret-token-42")

    monkeypatch.setattr(cmd_init, "run", boom)
    code, out, err = run(["init"])
    assert code == 1 and out == ""
    log_file = tmp_path / "nhat-ky" / "social-publisher.log"
    assert err == (
        "Lỗi ngoài dự kiến (RuntimeError): hỏng với ***. "
        f"Chi tiết đã ghi vào {log_file}: gửi tệp này cho bộ phận kỹ thuật.\n"
    )
    text = log_file.read_text(encoding="utf-8")
    assert "Traceback" in text and "RuntimeError" in text
    assert "crash-secret-token-42" not in text
