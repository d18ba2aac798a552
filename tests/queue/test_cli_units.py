# ruff: noqa: E501  (exact CLI output: staff lines are long)
"""``status``, ``check``, ``collect`` and ``shares`` in an install of two units: exact output."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., tuple[int, str, str]]
HEAD = "Tiêu đề: {title}\nThời gian đăng: {when}\nNgười duyệt: Võ Thanh Hùng\n"
A, B = "phuong-pho-minh", "xa-pho-phong"

UNITS = f"""\
[[don_vi]]
id = "{A}"
name = "UBND phường Phổ Minh"
FB_PAGE_ID = "1111"
FB_PAGE_ACCESS_TOKEN_ENV = "FB_TOKEN_PHO_MINH"

[[don_vi]]
id = "{B}"
name = "UBND xã Phổ Phong"
"""


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / name / "bai-viet.txt").write_text(text, encoding="utf-8")


@pytest.fixture
def two_units(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """Two wards: A with its Page, B with none; their queue folders, A's with two posts."""
    (tmp_path / "units.toml").write_text(UNITS, encoding="utf-8")
    monkeypatch.setenv("UNITS_FILE", str(tmp_path / "units.toml"))
    monkeypatch.setenv("FB_TOKEN_PHO_MINH", "EAAB-pho-minh-secret-token")
    queue = Path(cli_env["QUEUE_DIR"])
    a, b = queue / A, queue / B
    _write(
        a,
        "ngay-cds",
        HEAD.format(title="Ngày Chuyển đổi số", when="10/12/2026 07:30") + "Kênh: facebook\n\nx",
    )
    _write(a, "loi", "Tiêu đề: Bài lỗi\nThời gian đăng: 12/12/2026\nKênh: facebook\n\nx")
    _write(
        b,
        "vneid",
        HEAD.format(title="VNeID ở Phổ Phong", when="11/12/2026 08:00") + "Kênh: zalo\n\nx",
    )
    return a, b


STATUS_ALL = """\
Đơn vị phuong-pho-minh: UBND phường Phổ Minh
Số  Thư mục   Tiêu đề             Bài       Kênh      Đăng           Giờ đăng
2   ngay-cds  Ngày Chuyển đổi số  sẵn sàng  facebook  chưa lên lịch  10/12/2026 07:30
1   loi       Bài lỗi             lỗi       facebook  chưa lên lịch  —
    loi/bai-viet.txt:2: Thời gian đăng '12/12/2026' chỉ có ngày, thiếu giờ. Ghi thêm giờ, ví dụ 12/12/2026 07:30.

Kênh:
  facebook: đang hoạt động
  zalo: kênh tắt (thiếu cấu hình ZALO_APP_ID, ZALO_APP_SECRET trong tệp .env)

2 bài: 1 sẵn sàng, 1 lỗi

Đơn vị xa-pho-phong: UBND xã Phổ Phong
Số  Thư mục  Tiêu đề            Bài       Kênh  Đăng      Giờ đăng
3   vneid    VNeID ở Phổ Phong  sẵn sàng  zalo  kênh tắt  11/12/2026 08:00

Kênh:
  facebook: kênh tắt (thiếu cấu hình FB_PAGE_ID, FB_PAGE_ACCESS_TOKEN trong tệp .env)
  zalo: kênh tắt (thiếu cấu hình ZALO_APP_ID, ZALO_APP_SECRET trong tệp .env)

1 bài: 1 sẵn sàng

Cả bản cài: 2 đơn vị, 3 bài; cần người xử lý ở phuong-pho-minh.
"""

STATUS_B = """\
Số  Thư mục  Tiêu đề            Bài       Kênh  Đăng      Giờ đăng
3   vneid    VNeID ở Phổ Phong  sẵn sàng  zalo  kênh tắt  11/12/2026 08:00

Kênh:
  facebook: kênh tắt (thiếu cấu hình FB_PAGE_ID, FB_PAGE_ACCESS_TOKEN trong tệp .env)
  zalo: kênh tắt (thiếu cấu hình ZALO_APP_ID, ZALO_APP_SECRET trong tệp .env)

1 bài: 1 sẵn sàng
"""


def test_status_shows_every_unit_under_its_heading(
    run_cli: Run, two_units: tuple[Path, Path]
) -> None:
    assert run_cli("status") == (1, STATUS_ALL, "")
    # one unit chosen: exactly the single-unit output, no heading
    assert run_cli("status", "--unit", B) == (0, STATUS_B, "")
    assert run_cli("--unit", B, "status") == (0, STATUS_B, "")


def test_status_json_names_the_unit_of_every_row(
    run_cli: Run, two_units: tuple[Path, Path]
) -> None:
    code, out, err = run_cli("status", "--json")
    assert (code, err) == (1, "")
    data = json.loads(out)
    assert [(p["unit"], p["number"], p["folder"]) for p in data["posts"]] == [
        (A, 2, "ngay-cds"),
        (A, 1, "loi"),
        (B, 3, "vneid"),
    ]
    assert [(c["unit"], c["channel"], c["enabled"]) for c in data["channels"]] == [
        (A, "facebook", True),
        (A, "zalo", False),
        (B, "facebook", False),
        (B, "zalo", False),
    ]
    assert data["posts"][1]["problems"] == [
        {
            "file": "loi/bai-viet.txt",
            "line": 2,
            "message": "Thời gian đăng '12/12/2026' chỉ có ngày, thiếu giờ. Ghi thêm giờ, ví dụ 12/12/2026 07:30.",
        }
    ]
    assert (data["warnings"], data["workers"]) == ([], [])
    assert "EAAB-pho-minh-secret-token" not in out
    code, one, _ = run_cli("status", "--json", "--unit", B)
    assert "unit" not in json.loads(one)["posts"][0]  # one unit: today's shape


CHECK_ALL = """\
Đơn vị phuong-pho-minh: UBND phường Phổ Minh
Thư mục   Trạng thái  Giờ đăng          Kênh
loi       lỗi         —                 facebook
ngay-cds  sẵn sàng    10/12/2026 07:30  facebook

Lỗi và cảnh báo:
  loi/bai-viet.txt:2: Thời gian đăng '12/12/2026' chỉ có ngày, thiếu giờ. Ghi thêm giờ, ví dụ 12/12/2026 07:30.

2 bài: 1 sẵn sàng, 1 lỗi

Đơn vị xa-pho-phong: UBND xã Phổ Phong
Thư mục  Trạng thái  Giờ đăng          Kênh
vneid    sẵn sàng    11/12/2026 08:00  zalo

1 bài: 1 sẵn sàng

Cả bản cài: 2 đơn vị, 3 bài; có lỗi cần sửa.
"""


def test_check_validates_every_units_queue(run_cli: Run, two_units: tuple[Path, Path]) -> None:
    assert run_cli("check") == (1, CHECK_ALL, "")
    assert run_cli("check") == (1, CHECK_ALL, "")  # from each unit's scan cache: the same
    code, out, err = run_cli("check", "--unit", B)
    assert (code, err) == (0, "")
    assert out == (
        "Thư mục  Trạng thái  Giờ đăng          Kênh\n"
        "vneid    sẵn sàng    11/12/2026 08:00  zalo\n"
        "\n"
        "1 bài: 1 sẵn sàng\n"
    )
    code, out, _ = run_cli("check", "--json")
    rows = json.loads(out)["posts"]
    assert [(r["unit"], r["folder"], r["state"]) for r in rows] == [
        (A, "loi", "error"),
        (A, "ngay-cds", "ready"),
        (B, "vneid", "ready"),
    ]
    assert rows[0]["errors"][0] | {"message": ""} == {
        "file": "loi/bai-viet.txt",
        "line": 2,
        "message": "",
    }


def test_check_says_which_units_folder_is_missing(
    run_cli: Run, two_units: tuple[Path, Path]
) -> None:
    import shutil

    shutil.rmtree(two_units[1])
    code, out, err = run_cli("check")
    assert code == 1
    assert out.endswith("Cả bản cài: 2 đơn vị, 2 bài; có lỗi cần sửa.\n")
    assert "Đơn vị xa-pho-phong" not in out
    assert err.startswith(
        f"Đơn vị xa-pho-phong: UBND xã Phổ Phong: Không tìm thấy thư mục hàng đợi '{two_units[1]}'."
    )


def test_check_queue_with_several_units_asks_for_one(
    run_cli: Run, two_units: tuple[Path, Path]
) -> None:
    assert run_cli("check", "--queue", str(two_units[0])) == (
        2,
        "",
        "Lỗi: --queue kiểm tra một thư mục, nhưng bản cài có 2 đơn vị: thêm --unit ID để chọn "
        "đơn vị của thư mục đó, hoặc bỏ --queue để kiểm tra thư mục hàng đợi của mọi đơn vị.\n",
    )
    code, out, _ = run_cli("check", "--unit", A, "--queue", str(two_units[0]))
    assert code == 1 and out.startswith("Thư mục   Trạng thái")


def test_collect_reads_every_unit_and_shares_act_per_unit(
    run_cli: Run, two_units: tuple[Path, Path], cli_env: dict[str, str]
) -> None:
    Path(cli_env["AGENCIES_FILE"]).write_text(
        "id,name,group,fb_page_id,fb_page_url,zalo_oa_id,token_setting\n"
        "thi-doan,Thị đoàn,doan-the,,,,\n",
        encoding="utf-8",
    )
    now = "2026-11-26T09:00"
    assert run_cli("collect", "--now", now) == (
        0,
        "Đơn vị phuong-pho-minh: UBND phường Phổ Minh\n"
        "Thu thập số liệu lúc 26/11/2026 16:00: chưa có bài nào đến lượt.\n"
        "Chia sẻ của đơn vị: đọc 0 Trang, tìm thấy 0 lượt chia sẻ mới.\n"
        "\n"
        "Đơn vị xa-pho-phong: UBND xã Phổ Phong\n"
        "Thu thập số liệu lúc 26/11/2026 16:00: chưa có bài nào đến lượt.\n"
        "Lưu ý: Facebook chưa được cấu hình (thiếu FB_PAGE_ID, FB_PAGE_ACCESS_TOKEN): bỏ qua số liệu Facebook.\n",
        "",
    )
    code, out, _ = run_cli("collect", "--json", "--now", now)
    assert [(u["unit"], u["snapshots"]) for u in json.loads(out)["units"]] == [(A, 0), (B, 0)]
    code, out, _ = run_cli("collect", "--unit", B, "--now", now)
    assert code == 0
    assert out.startswith("Thu thập số liệu lúc 26/11/2026 16:00")  # one unit: no heading
    # shares read one unit's matrix: --unit says whose
    ids = f"{A}, {B}"
    assert run_cli("shares", "status", "--now", now) == (
        1,
        "",
        f"Lỗi: Bản cài có 2 đơn vị: chọn một bằng --unit, một trong {ids}.\n",
    )
    assert run_cli("shares", "status", "--unit", A, "--now", now) == (
        0,
        "Chia sẻ bài của các đơn vị, bài đăng từ 27/10/2026 đến 26/11/2026\n"
        "Đúng hạn: chia sẻ trong 24 giờ sau khi đăng; tính đến 26/11/2026 16:00.\n"
        "Không có bài nào được đăng trong khoảng thời gian này.\n",
        "",
    )
    shares = Path(cli_env["QUEUE_DIR"]).parent / "chia-se.csv"
    shares.write_text("agency,link,time,post\n", encoding="utf-8")
    assert run_cli("shares", "import", str(shares), "--unit", B, "--now", now) == (
        0,
        f"Đã nhập 0 lượt chia sẻ từ {shares}.\n",
        "",
    )
