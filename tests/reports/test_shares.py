"""Agency shares: manual import (checked against the agency's page), the status matrix."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from social_publisher.cli import main
from social_publisher.config import Settings
from social_publisher.services.shares import (
    ShareState,
    facebook_page_keys,
    import_shares,
    share_matrix,
)
from social_publisher.store import Database, Share

HEADER = "agency,link,time,post\n"


@pytest.fixture
def posts(loaded: Database, h: type) -> dict[str, dict[str, int]]:
    return {
        "a": h.add_post(
            loaded, "2024-10-05-ngay-cds", "Ngày Chuyển đổi số", h.local(2024, 10, 5, 7, 30)
        ),
        "b": h.add_post(
            loaded,
            "2024-10-20-vneid",
            "Hướng dẫn cài VNeID",
            h.local(2024, 10, 20, 8, 0),
            channels=("facebook",),
            share_with=["xa-phuong", "phong-xyz"],
        ),
        "c": h.add_post(
            loaded,
            "2024-10-31-tong-ket",
            "Tổng kết tháng",
            h.local(2024, 10, 31, 23, 30),
            channels=("zalo",),
            share_with=["thi-doan-duc-pho"],
        ),
    }


def _csv(tmp_path: Path, body: str, name: str = "chia-se.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8-sig")
    return path


GOOD = (
    "phuong-pho-hoa,https://www.facebook.com/phuongphohoa/posts/pfbid0abc,05/10/2024 09:00,"
    "2024-10-05-ngay-cds\n"
    "phuong-nguyen-nghiem,https://m.facebook.com/NguyenNghiem/posts/123,07/10/2024 10:00,"
    "2024-10-05-ngay-cds\n"
    "thi-doan-duc-pho,https://www.facebook.com/2000004/posts/555,2024-10-20T09:00,{b_link}\n"
)


def _good(loaded: Database, h: type, posts: dict[str, dict[str, int]]) -> str:
    return GOOD.format(
        b_link=f"https://www.facebook.com/{h.PAGE_ID}/posts/"
        + h.remote_id_of(loaded, posts["b"]["facebook"]).split("_")[1]
    )


def test_page_keys_from_the_url_shapes_staff_paste() -> None:
    assert facebook_page_keys("https://www.facebook.com/phuongphohoa/posts/pfbid02x") == {
        "phuongphohoa"
    }
    assert facebook_page_keys("https://www.facebook.com/permalink.php?story_fbid=9&id=2000003") == {
        "2000003"
    }
    assert facebook_page_keys("https://www.facebook.com/profile.php?id=2000003") == {"2000003"}
    assert facebook_page_keys("https://www.facebook.com/pages/Pho-Hoa/2000001") == {
        "pho-hoa",
        "2000001",
    }
    assert facebook_page_keys("https://zalo.me/x") == set()


def test_import_valid_rows_then_reimport_is_idempotent(
    loaded: Database, settings: Settings, h: type, posts: dict[str, dict[str, int]], tmp_path: Path
) -> None:
    path = _csv(tmp_path, _good(loaded, h, posts))
    now = h.local(2024, 11, 1, 10, 0)
    report = import_shares(loaded, settings, path, now=now)
    assert report.ok and report.written
    assert [(r.line, r.agency_id, r.action) for r in report.rows] == [
        (2, "phuong-pho-hoa", "added"),
        (3, "phuong-nguyen-nghiem", "added"),
        (4, "thi-doan-duc-pho", "added"),
    ]
    with loaded.session() as s:
        shares = s.scalars(select(Share).order_by(Share.id)).all()
    assert [(sh.publication_id, sh.source, sh.verified) for sh in shares] == [
        (posts["a"]["facebook"], "manual", False),  # a Facebook link goes on the FB publication
        (posts["a"]["facebook"], "manual", False),
        (posts["b"]["facebook"], "manual", False),
    ]
    assert shares[0].shared_at == h.local(2024, 10, 5, 9, 0)
    again = import_shares(loaded, settings, path, now=now)
    assert [r.action for r in again.rows] == ["unchanged"] * 3
    with loaded.session() as s:
        assert len(s.scalars(select(Share)).all()) == 3


def test_import_is_all_or_nothing_and_names_each_bad_line(
    loaded: Database, settings: Settings, h: type, posts: dict[str, dict[str, int]], tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        # 2: fine on its own (profile.php page of xã Phổ An, no post column: one post that week)
        "xa-pho-an,https://www.facebook.com/permalink.php?story_fbid=9&id=2000003,"
        "06/10/2024 08:00,\n"
        # 3: a link on another agency's page
        "phuong-pho-hoa,https://www.facebook.com/nguyennghiem/posts/1,05/10/2024 09:00,"
        "2024-10-05-ngay-cds\n"
        # 4: unknown agency
        "phuong-khong-co,https://www.facebook.com/x/posts/1,05/10/2024 09:00,2024-10-05-ngay-cds\n"
        # 5: bad time
        "phuong-pho-hoa,https://www.facebook.com/phuongphohoa/posts/2,31/02/2024 25:00,"
        "2024-10-05-ngay-cds\n"
        # 6: a share link that hides the page
        "phuong-pho-hoa,https://www.facebook.com/share/p/AbC123/,05/10/2024 09:00,"
        "2024-10-05-ngay-cds\n"
        # 7: no post column and no post in the 7 days before
        "phuong-pho-hoa,https://www.facebook.com/phuongphohoa/posts/3,16/10/2024 09:00,\n"
        # 8: unknown post
        "phuong-pho-hoa,https://www.facebook.com/phuongphohoa/posts/4,21/10/2024 09:00,bai-la\n"
        # 9: shared before our post went out
        "phuong-pho-hoa,https://www.facebook.com/phuongphohoa/posts/5,19/10/2024 09:00,"
        "2024-10-20-vneid\n",
    )
    report = import_shares(loaded, settings, path, now=h.local(2024, 11, 1, 10, 0))
    assert not report.ok and not report.written
    assert [str(p) for p in report.problems] == [
        f"{path}:3: liên kết “https://www.facebook.com/nguyennghiem/posts/1” không nằm trên "
        "Trang Facebook của UBND phường Phổ Hòa (https://www.facebook.com/phuongphohoa); "
        "kiểm tra lại cột agency hoặc liên kết.",
        f"{path}:4: mã đơn vị “phuong-khong-co” không có trong {settings.agencies_file}; "
        "dùng mã ở cột id của tệp đó (ví dụ phuong-pho-hoa).",
        f"{path}:5: thời điểm “31/02/2024 25:00” không có thật (tháng 2/2024 không có ngày "
        "31). Ghi theo dạng dd/mm/yyyy HH:MM, ví dụ 10/12/2026 07:30.",
        f"{path}:6: liên kết rút gọn “https://www.facebook.com/share/p/AbC123/” không cho biết "
        "Trang nào đã chia sẻ; mở liên kết rồi chép địa chỉ đầy đủ trên thanh địa chỉ của "
        "trình duyệt.",
        f"{path}:7: cột post trống và không có bài nào được đăng trong 7 ngày trước "
        "16/10/2024 09:00; ghi tên thư mục bài vào cột post.",
        f"{path}:8: không tìm thấy bài “bai-la” (cột post) trong các bài đã đăng; ghi tên "
        "thư mục bài trong hàng đợi hoặc liên kết bài trên Trang của thị xã.",
        f"{path}:9: thời điểm chia sẻ 19/10/2024 09:00 sớm hơn lúc đăng bài “Hướng dẫn cài "
        "VNeID” (20/10/2024 08:00); kiểm tra lại ngày giờ hoặc cột post.",
    ]
    with loaded.session() as s:
        assert s.scalars(select(Share)).all() == []  # nothing written, not even line 2


def test_import_reads_share_times_as_staff_write_them(
    loaded: Database, settings: Settings, h: type, posts: dict[str, dict[str, int]], tmp_path: Path
) -> None:
    link = "https://www.facebook.com/phuongphohoa/posts/"
    path = _csv(tmp_path, f"phuong-pho-hoa,{link}7,5/10/2024 14h,2024-10-05-ngay-cds\n")
    report = import_shares(loaded, settings, path, now=h.local(2024, 11, 1, 10, 0))
    assert report.ok, report.problems
    assert [r.shared_at for r in report.rows] == [h.local(2024, 10, 5, 14, 0)]
    # a value that cannot be read: the closest reading is offered, nothing is written
    path = _csv(tmp_path, f"phuong-pho-hoa,{link}8,5/10/2024 9,2024-10-05-ngay-cds\n", "b.csv")
    report = import_shares(loaded, settings, path, now=h.local(2024, 11, 1, 10, 0))
    assert [str(p) for p in report.problems] == [
        f"{path}:2: thời điểm “5/10/2024 9” không đúng định dạng. Có phải ý bạn là "
        "05/10/2024 09:00? Ghi theo dạng dd/mm/yyyy HH:MM, ví dụ 10/12/2026 07:30 "
        "(ngày/tháng/năm, rồi giờ:phút)."
    ]


def test_import_without_post_column_needs_a_single_candidate(
    loaded: Database, settings: Settings, h: type, posts: dict[str, dict[str, int]], tmp_path: Path
) -> None:
    h.add_post(loaded, "2024-10-21-them", "Bài thêm", h.local(2024, 10, 21, 8, 0))
    path = _csv(
        tmp_path,
        "phuong-pho-hoa,https://www.facebook.com/phuongphohoa/posts/3,22/10/2024 09:00,\n",
    )
    report = import_shares(loaded, settings, path, now=h.local(2024, 11, 1, 10, 0))
    assert [str(p) for p in report.problems] == [
        f"{path}:2: cột post trống và có 2 bài (2024-10-20-vneid, 2024-10-21-them) được đăng "
        "trong 7 ngày trước 22/10/2024 09:00; ghi tên thư mục bài vào cột post."
    ]
    ok = _csv(
        tmp_path,
        "xa-pho-an,https://www.facebook.com/permalink.php?story_fbid=9&id=2000003,"
        "06/10/2024 08:00,\n",
        "ok.csv",
    )
    report = import_shares(loaded, settings, ok, now=h.local(2024, 11, 1, 10, 0))
    assert report.ok
    assert [(r.agency_id, r.post_id) for r in report.rows] == [("xa-pho-an", 1)]


def _cli(
    argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out, err = io.StringIO(), io.StringIO()
    code = main(["--env-file", "/nonexistent/.env", *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def shared(
    loaded: Database, settings: Settings, h: type, posts: dict[str, dict[str, int]], tmp_path: Path
) -> Path:
    path = _csv(tmp_path, _good(loaded, h, posts))
    assert import_shares(loaded, settings, path, now=h.local(2024, 11, 1, 10, 0)).ok
    return path


def test_status_matrix_states(
    loaded: Database, settings: Settings, h: type, posts: dict[str, dict[str, int]], shared: Path
) -> None:
    m = share_matrix(
        loaded, settings, h.local(2024, 10, 1), h.local(2024, 11, 1), now=h.local(2024, 11, 1, 10)
    )
    a, b, c = (p.post_id for p in m.posts)
    state = {k: (cell.state, cell.expected) for k, cell in m.cells.items()}
    assert state[(a, "phuong-pho-hoa")] == (ShareState.ON_TIME, True)
    assert state[(a, "phuong-nguyen-nghiem")] == (ShareState.LATE, True)
    assert state[(a, "xa-pho-an")] == (ShareState.MISSING, True)
    assert state[(b, "thi-doan-duc-pho")] == (ShareState.ON_TIME, False)  # not asked, did anyway
    assert state[(c, "thi-doan-duc-pho")] == (ShareState.PENDING, True)
    assert (b, "phuong-pho-hoa") in m.cells and (c, "phuong-pho-hoa") not in m.cells
    t = m.total
    assert (t.expected, t.on_time, t.late, t.missing, t.pending) == (8, 1, 1, 5, 1)
    assert m.per_agency["phuong-pho-hoa"].rate == 0.5
    assert m.warnings == [
        "Bài “Hướng dẫn cài VNeID” (thư mục 2024-10-20-vneid): “Chia sẻ” ghi “phong-xyz”, "
        f"không phải mã đơn vị hay nhóm nào trong {settings.agencies_file}; "
        "sửa lại ở bài viết hoặc thêm đơn vị vào tệp."
    ]


def test_shares_status_exact_output(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, shared: Path
) -> None:
    code, out, err = _cli(
        ["shares", "status", "--month", "2024-10", "--now", "2024-11-01T03:00:00+00:00"],
        env,
        monkeypatch,
    )
    assert (code, err) == (0, "")
    assert out == EXPECTED_STATUS.format(agencies=env["AGENCIES_FILE"])


EXPECTED_STATUS = """\
Chia sẻ bài của các đơn vị, bài đăng từ 01/10/2024 đến 31/10/2024
Đúng hạn: chia sẻ trong 24 giờ sau khi đăng; tính đến 01/11/2024 10:00.

Bài viết:
  #1  05/10/2024 07:30  Ngày Chuyển đổi số (2024-10-05-ngay-cds)
  #2  20/10/2024 08:00  Hướng dẫn cài VNeID (2024-10-20-vneid)
  #3  31/10/2024 23:30  Tổng kết tháng (2024-10-31-tong-ket)

Đơn vị                     #1 #2 #3  Được giao  Đúng hạn  Muộn  Chưa  Chờ  Tỷ lệ
UBND phường Nguyễn Nghiêm  M  -              2         0     1     1    0  50,0%
UBND phường Phổ Hòa        Đ  -              2         1     0     1    0  50,0%
UBND xã Phổ An             -  -              2         0     0     2    0   0,0%
Thị đoàn Đức Phổ           -  đ  ~           2         0     0     1    1   0,0%
Tổng cộng                                    8         1     1     5    1  28,6%

Ký hiệu: Đ đúng hạn · M muộn · - chưa chia sẻ · ~ đang chờ (chưa hết hạn) · trống: không được giao;
         chữ thường (đ, m): không được giao nhưng đã chia sẻ.
Tỷ lệ = số bài đã chia sẻ / số bài được giao đã hết hạn chia sẻ.

Cảnh báo:
  - Bài “Hướng dẫn cài VNeID” (thư mục 2024-10-20-vneid): “Chia sẻ” ghi “phong-xyz”, \
không phải mã đơn vị hay nhóm nào trong {agencies}; sửa lại ở bài viết hoặc thêm đơn vị vào tệp.
"""


def test_cli_shares_import_exit_codes_and_output(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    loaded: Database,
    h: type,
    posts: dict[str, dict[str, int]],
    tmp_path: Path,
) -> None:
    now = ["--now", "2024-11-01T03:00:00+00:00"]
    bad = _csv(tmp_path, "phuong-khong-co,https://www.facebook.com/x/posts/1,05/10/2024 09:00,\n")
    code, out, err = _cli(["shares", "import", str(bad), *now], env, monkeypatch)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"{bad}:2: mã đơn vị “phuong-khong-co” không có trong {env['AGENCIES_FILE']}; dùng mã "
        "ở cột id của tệp đó (ví dụ phuong-pho-hoa).",
        "Không ghi dòng nào (1 lỗi): sửa các dòng trên rồi nhập lại cả tệp (nhập lại không "
        "tạo bản trùng).",
    ]
    good = _csv(tmp_path, _good(loaded, h, posts), "good.csv")
    code, out, err = _cli(["shares", "import", str(good), "--dry-run", *now], env, monkeypatch)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == (
        f"Kiểm tra xong (chưa ghi vì --dry-run) 3 lượt chia sẻ từ {good}: thêm mới 3."
    )
    with loaded.session() as s:
        assert s.scalars(select(Share)).all() == []
    code, out, err = _cli(["shares", "import", str(good), *now], env, monkeypatch)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "  dòng 2: phuong-pho-hoa, 05/10/2024 09:00, bài 2024-10-05-ngay-cds: thêm mới",
        "  dòng 3: phuong-nguyen-nghiem, 07/10/2024 10:00, bài 2024-10-05-ngay-cds: thêm mới",
        "  dòng 4: thi-doan-duc-pho, 20/10/2024 09:00, bài 2024-10-20-vneid: thêm mới",
        f"Đã nhập 3 lượt chia sẻ từ {good}: thêm mới 3.",
    ]
    code, out, _ = _cli(["shares", "import", str(tmp_path / "khong-co.csv")], env, monkeypatch)
    assert code == 1


def test_cli_shares_status_json(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, shared: Path
) -> None:
    code, out, err = _cli(
        ["shares", "status", "--month", "2024-10", "--json", "--now", "2024-11-01T03:00:00+00:00"],
        env,
        monkeypatch,
    )
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert [p["folder"] for p in data["posts"]] == [
        "2024-10-05-ngay-cds",
        "2024-10-20-vneid",
        "2024-10-31-tong-ket",
    ]
    assert data["total"] == {
        "expected": 8,
        "on_time": 1,
        "late": 1,
        "missing": 5,
        "pending": 1,
        "rate": pytest.approx(2 / 7),
    }
    pho_hoa = next(a for a in data["agencies"] if a["id"] == "phuong-pho-hoa")
    assert (pho_hoa["name"], pho_hoa["rate"]) == ("UBND phường Phổ Hòa", 0.5)
    cell = next(
        c for c in data["cells"] if c["agency"] == "phuong-pho-hoa" and c["state"] == "dung-han"
    )
    assert cell["source"] == "manual" and cell["label"] == "đúng hạn"
    assert cell["link"] == "https://www.facebook.com/phuongphohoa/posts/pfbid0abc"


def test_cli_shares_status_bad_month_is_usage_error(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = _cli(["shares", "status", "--month", "10-2024"], env, monkeypatch)
    assert (code, out) == (2, "")
    assert err.startswith("Lỗi: tháng “10-2024” không hợp lệ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/12/2026 07:30", "2026-12-10T07:30:00+07:00"),
        ("10/12/2026 07:30:15", "2026-12-10T07:30:15+07:00"),
        ("10-12-2026 07:30", "2026-12-10T07:30:00+07:00"),
        (" 2026-12-10T07:30 ", "2026-12-10T07:30:00+07:00"),
        ("2026-12-10T00:30:00Z", "2026-12-10T00:30:00+00:00"),
        ("5/12/2026 14h", "2026-12-05T14:00:00+07:00"),
        ("14h30 ngày 5/12/26", "2026-12-05T14:30:00+07:00"),
        ("05/12/2026 2:30 CH", "2026-12-05T14:30:00+07:00"),
        ("2026-12-10", None),  # a date alone cannot say whether the share was on time
        ("31/02/2026 07:30", None),
        ("hôm qua", None),
    ],
)
def test_share_times_read_like_the_queue(text: str, expected: str | None) -> None:
    from zoneinfo import ZoneInfo

    from social_publisher.services.shares import parse_local_time

    when = parse_local_time(text, ZoneInfo("Asia/Ho_Chi_Minh"))
    assert (when.isoformat() if when else None) == expected
