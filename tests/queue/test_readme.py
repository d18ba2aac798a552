"""Every message quoted in the staff guide is exactly what ``check`` prints."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "content_queue" / "README.md"
OK = "Tiêu đề: Hướng dẫn cài VNeID\nThời gian đăng: 10/12/2026 07:30\nNgười duyệt: Võ Thanh Hùng\n"
LONG_TITLE = (
    "Thị xã Đức Phổ triển khai đồng bộ các giải pháp chuyển đổi số trong cải cách hành chính, "
    "phát triển kinh tế số, xã hội số và hướng dẫn người dân sử dụng dịch vụ công trực tuyến"
)
MISTAKES = {
    "quen-dong-trong": OK + "Tổ công nghệ số cộng đồng hướng dẫn bà con cài VNeID.\n",
    "sai-ten-muc": OK.replace("Người duyệt", "Nguoi duyt") + "\nNội dung.\n",
    "ngay-khong-co-that": OK.replace("10/12/2026", "31/11/2026") + "\nNội dung.\n",
    "thieu-gio": OK.replace("10/12/2026 07:30", "10/12/2026") + "\nNội dung.\n",
    "thieu-anh": OK + "Ảnh: anh-1.jpg, anh-2.jpg\n\nNội dung.\n",
    "anh-hong": OK + "\nNội dung.\n",
    "sai-kenh": OK.replace("Người duyệt", "Kênh: fb, zalo\nNgười duyệt") + "\nNội dung.\n",
    "tieu-de-dai": OK.replace("Hướng dẫn cài VNeID", LONG_TITLE) + "\nNội dung.\n",
    "sai-trang-thai": OK + "Trạng thái: tạm hoãn\n\nNội dung.\n",
    "chua-duyet": OK.replace("Người duyệt: Võ Thanh Hùng\n", "") + "\nNội dung.\n",
    "qua-gio": OK.replace("10/12/2026", "20/11/2026") + "\nNội dung.\n",
    "goi-y-gio": OK.replace("10/12/2026 07:30", "10/12/2026 7") + "\nNội dung.\n",
    "sai-dau-nguoi-duyet": OK.replace("Người duyệt", "Ngưoi duyêt") + "\nNội dung.\n",
    "sai-chia-se": OK + "Chia sẻ: xa-phuong, phuong-pho-hoaa\n\nNội dung.\n",
    "co-video": OK + "\nNội dung.\n",
}


def test_guide_messages_are_verbatim(
    run_cli: Callable[..., tuple[int, str, str]],
    write_post: Callable[..., Path],
    queue: Path,
    jpeg: Callable[..., bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the guide names the agencies file as an office has it: agencies.csv next to .env
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENCIES_FILE", "agencies.csv")
    shutil.copyfile(README.parents[1] / "agencies.csv", tmp_path / "agencies.csv")
    (write_post("co-video", MISTAKES["co-video"]) / "clip.mp4").write_bytes(bytes(64))
    for folder, text in MISTAKES.items():
        write_post(folder, text)
    write_post("thieu-anh", MISTAKES["thieu-anh"], images={"anh-1.jpg": None})
    write_post("anh-hong", MISTAKES["anh-hong"], images={"anh-1.jpg": jpeg()[:400]})
    (queue / "an-duoi-tep").mkdir()
    (queue / "an-duoi-tep" / "bai-viet.txt.txt").write_text(OK + "\nx", encoding="utf-8")
    code, out, _ = run_cli("check")
    assert code == 1
    guide = README.read_text(encoding="utf-8")
    quoted = [
        line
        for block in re.findall(r"```\n(.*?)```", guide, re.S)
        for line in block.splitlines()
        if line.startswith("  ") and ": " in line
    ]
    assert len(quoted) == 16
    printed = out.splitlines()
    for line in quoted:
        assert line in printed, line
    assert "16 bài: 1 chờ quyết định, 1 bản nháp,\n14 lỗi; 2 cảnh báo" in guide
    assert printed[-1] == "16 bài: 1 chờ quyết định, 1 bản nháp, 14 lỗi; 2 cảnh báo"
