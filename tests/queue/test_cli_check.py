# ruff: noqa: E501  (exact CLI output: staff lines are long)
"""``check`` as staff and scripts see it: exact text, exact JSON, exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

HEAD = "Tiêu đề: {title}\nThời gian đăng: {when}\nNgười duyệt: Võ Thanh Hùng\n"

Run = Callable[..., tuple[int, str, str]]


def fill(write_post: Callable[..., Path]) -> None:
    write_post(
        "hoa-don-dien-tu",
        HEAD.format(title="Hóa đơn điện tử", when="03/12/2026 08:00")
        + "Kênh: facebook\n\nNội dung.",
        images={"anh-2.jpg": None, "anh-10.jpg": None},
    )
    write_post(
        "Ngày CĐS 10-10",
        "Tiêu đề: Ngày Chuyển đổi số\nThời gian đăng: 31/02/2026 07:30\nKenhh: zalo\n\nNội dung.",
    )
    write_post("vneid nháp", "Tiêu đề: VNeID\nThời gian đăng: 2026-12-10T07:30\n\nNội dung.")
    write_post("cu", HEAD.format(title="Bài cũ", when="01/11/2026 07:30") + "\nNội dung.")


EXPECTED_TEXT = """\
Thư mục          Trạng thái      Giờ đăng          Kênh
Ngày CĐS 10-10   lỗi             —                 facebook, zalo
cu               chờ quyết định  01/11/2026 07:30  facebook, zalo
hoa-don-dien-tu  sẵn sàng        03/12/2026 08:00  facebook
vneid nháp       bản nháp        10/12/2026 07:30  facebook, zalo

Lỗi và cảnh báo:
  Ngày CĐS 10-10/bai-viet.txt:2: Thời gian đăng '31/02/2026 07:30' không có thật (tháng 2/2026 không có ngày 31). Ghi theo dạng dd/mm/yyyy HH:MM, ví dụ 10/12/2026 07:30.
  Ngày CĐS 10-10/bai-viet.txt:3: Mục 'Kenhh' không có trong mẫu bài viết. Có phải ý bạn là 'Kênh'? Sửa lại tên mục. Nếu đây là nội dung bài, hãy để một dòng trống giữa phần đầu và nội dung.
  cu/bai-viet.txt:2: cảnh báo: Thời gian đăng 01/11/2026 07:30 đã qua hơn 24 giờ nên bài được giữ lại chờ quyết định. Sửa Thời gian đăng sang thời điểm mới, hoặc chạy 'social-publisher publish-now "cu"' để đăng ngay.
  vneid nháp/bai-viet.txt: cảnh báo: Chưa có Người duyệt nên bài là bản nháp, sẽ không được đăng. Khi bài đã được duyệt, thêm dòng 'Người duyệt: <họ và tên>'.

4 bài: 1 sẵn sàng, 1 chờ quyết định, 1 bản nháp, 1 lỗi; 2 cảnh báo
"""


def test_check_human_output(run_cli: Run, write_post: Callable[..., Path]) -> None:
    fill(write_post)
    code, out, err = run_cli("check")
    assert (code, err) == (1, "")
    assert out == EXPECTED_TEXT
    assert run_cli("check") == (1, EXPECTED_TEXT, "")  # from the cache: same answer


def test_check_json_output(run_cli: Run, write_post: Callable[..., Path]) -> None:
    fill(write_post)
    code, out, err = run_cli("check", "--json")
    assert (code, err) == (1, "")
    data = json.loads(out)
    assert list(data) == ["posts"]
    assert [p["folder"] for p in data["posts"]] == [
        "Ngày CĐS 10-10",
        "cu",
        "hoa-don-dien-tu",
        "vneid nháp",
    ]
    assert data["posts"][2] == {
        "folder": "hoa-don-dien-tu",
        "state": "ready",
        "title": "Hóa đơn điện tử",
        "publish_at": "2026-12-03T08:00:00+07:00",
        "channels": ["facebook"],
        "images": ["anh-2.jpg", "anh-10.jpg"],
        "errors": [],
        "warnings": [],
        "progress": None,
    }
    assert data["posts"][0] == {
        "folder": "Ngày CĐS 10-10",
        "state": "error",
        "title": "Ngày Chuyển đổi số",
        "publish_at": None,
        "channels": ["facebook", "zalo"],
        "images": [],
        "errors": [
            {
                "file": "Ngày CĐS 10-10/bai-viet.txt",
                "line": 2,
                "message": "Thời gian đăng '31/02/2026 07:30' không có thật (tháng 2/2026 không "
                "có ngày 31). Ghi theo dạng dd/mm/yyyy HH:MM, ví dụ 10/12/2026 07:30.",
            },
            {
                "file": "Ngày CĐS 10-10/bai-viet.txt",
                "line": 3,
                "message": "Mục 'Kenhh' không có trong mẫu bài viết. Có phải ý bạn là 'Kênh'? Sửa "
                "lại tên mục. Nếu đây là nội dung bài, hãy để một dòng trống giữa phần đầu và "
                "nội dung.",
            },
        ],
        "warnings": [],
        "progress": None,
    }
    assert data["posts"][1]["state"] == "held"
    assert data["posts"][1]["warnings"][0]["line"] == 2
    assert data["posts"][3]["state"] == "draft"
    assert data["posts"][3]["publish_at"] == "2026-12-10T07:30:00+07:00"


def test_check_exit_zero_with_only_warnings(run_cli: Run, write_post: Callable[..., Path]) -> None:
    write_post("a", "Tiêu đề: A\nThời gian đăng: 10/12/2026 07:30\n\nx")
    code, out, _ = run_cli("check")
    assert code == 0 and out.endswith("\n1 bài: 1 bản nháp; 1 cảnh báo\n")


def test_check_empty_queue(run_cli: Run, cli_env: dict[str, str]) -> None:
    assert run_cli("check") == (
        0,
        f"Chưa có bài nào trong thư mục hàng đợi '{cli_env['QUEUE_DIR']}'.\n0 bài\n",
        "",
    )
    assert run_cli("check", "--json") == (0, '{\n  "posts": []\n}\n', "")


def test_check_missing_queue(run_cli: Run, tmp_path: Path) -> None:
    missing = tmp_path / "khong-co"
    assert run_cli("check", "--queue", str(missing)) == (
        1,
        "",
        f"Không tìm thấy thư mục hàng đợi '{missing}'. Kiểm tra QUEUE_DIR trong tệp .env (hoặc "
        "tùy chọn --queue), hoặc tạo thư mục này.\n",
    )


def test_check_other_queue_folder(run_cli: Run, tmp_path: Path) -> None:
    other = tmp_path / "khac"
    (other / "bai 1").mkdir(parents=True)
    (other / "bai 1" / "post.md").write_text(
        HEAD.format(title="A", when="10/12/2026 07:30") + "\nx", encoding="utf-8"
    )
    code, out, _ = run_cli("check", "--queue", str(other))
    assert code == 0 and "\nbai 1    sẵn sàng    10/12/2026 07:30  facebook, zalo\n" in out


def test_check_reruns_use_the_cache(
    run_cli: Run, write_post: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from social_publisher.queue import scanner

    fill(write_post)
    run_cli("check")
    reads: list[str] = []
    real = scanner.read_folder
    monkeypatch.setattr(scanner, "read_folder", lambda *a, **k: reads.append(a[1]) or real(*a, **k))
    assert run_cli("check")[1] == EXPECTED_TEXT
    assert reads == []


def test_check_works_when_the_database_cannot_open(
    run_cli: Run, write_post: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{blocker}/sub/db.sqlite")
    fill(write_post)
    code, out, err = run_cli("check")
    assert code == 1 and out == EXPECTED_TEXT
    assert err.startswith("Cảnh báo: không mở được cơ sở dữ liệu (")


def test_nothing_in_the_queue_crashes_check(
    run_cli: Run, write_post: Callable[..., Path], queue: Path, jpeg: Callable[..., bytes]
) -> None:
    """A zoo of broken folders: every one is a reported problem, none is a traceback."""
    write_post("tot", HEAD.format(title="A", when="10/12/2026 07:30") + "\nx")
    (queue / "rong").mkdir()
    (queue / "nhi-phan").mkdir()
    (queue / "nhi-phan" / "bai-viet.txt").write_bytes(bytes(range(256)) * 10)
    write_post("anh-hong", images={"1.jpg": b"\xff\xd8\xff garbage", "2.png": jpeg()[:100]})
    write_post("chi-dau", "\n\n\n")
    write_post(
        "utf16-khong-bom",
        HEAD.format(title="A", when="1/1/2027 7:00") + "\nx",
        encoding="utf-16-le",
    )
    write_post("dau-hai-cham", ":::\n: :\n\n")
    write_post("anh-la-thu-muc", images={"thu-muc.jpg/1.jpg": None})
    write_post("ten-anh-la", HEAD.format(title="A", when="10/12/2026 07:30") + "Ảnh: ,,, ; ..\n\nx")
    write_post("ngay-la", "Tiêu đề: A\nThời gian đăng: 99/99/99999 99:99\n\nx")
    write_post("dai", "Tiêu đề: " + "A" * 100_000 + "\nThời gian đăng: 10/12/2026 07:30\n\nx")
    code, out, err = run_cli("check")
    assert code == 1 and err == ""
    assert "Traceback" not in out
    assert out.splitlines()[-1] == "11 bài: 2 sẵn sàng, 9 lỗi"
    code, out, err = run_cli("check", "--json")
    states = {p["folder"]: p["state"] for p in json.loads(out)["posts"]}
    # a folder named "thu-muc.jpg" is not an image: that post is simply text-only
    assert [f for f, s in states.items() if s != "error"] == ["anh-la-thu-muc", "tot"]


def test_check_shows_a_live_post_as_live_not_as_a_decision_to_make(
    run_cli: Run, write_post: Callable[..., Path], cli_env: dict[str, str]
) -> None:
    """Held for being late, then staff ran publish-now and it went out: check says so."""
    from datetime import UTC, datetime

    from social_publisher.store import Database, Post, Publication

    write_post("cu", HEAD.format(title="Bài cũ", when="01/11/2026 07:30") + "Kênh: facebook\n\nx")
    write_post("hen-gio", HEAD.format(title="Hẹn", when="10/12/2026 08:00") + "Kênh: facebook\n\nx")
    write_post("moi", HEAD.format(title="Mới", when="03/12/2026 08:00") + "Kênh: facebook\n\nx")
    run_cli("status")  # the daemon's ingest
    _, out, _ = run_cli("check")
    assert "'social-publisher publish-now \"cu\"'" in out  # held: the decision is staff's
    db = Database(cli_env["DATABASE_URL"])
    with db.session() as s:
        posts = {p.folder: p for p in s.query(Post)}
        posts["cu"].override = "publish"
        s.add_all(
            [
                Publication(
                    post_id=posts["cu"].id,
                    channel="facebook",
                    state="published",
                    remote_id="1_2",
                    remote_url="https://www.facebook.com/1/posts/2",
                    published_at=datetime(2026, 11, 26, 1, 0, tzinfo=UTC),
                ),
                Publication(
                    post_id=posts["hen-gio"].id,
                    channel="facebook",
                    state="scheduled_remote",
                    remote_id="1_3",
                ),
            ]
        )
    db.dispose()
    assert run_cli("check") == (
        0,
        "Thư mục  Trạng thái  Giờ đăng          Kênh\n"
        "cu       đã đăng     01/11/2026 07:30  facebook\n"
        "hen-gio  đã hẹn giờ  10/12/2026 08:00  facebook\n"
        "moi      sẵn sàng    03/12/2026 08:00  facebook\n"
        "\n"
        "3 bài: 1 đã đăng, 1 đã hẹn giờ, 1 sẵn sàng\n",
        "",
    )
    _, out, _ = run_cli("check", "--json")
    posts = json.loads(out)["posts"]
    assert [(p["folder"], p["state"], p["progress"], p["warnings"]) for p in posts] == [
        ("cu", "held", "published", []),
        ("hen-gio", "ready", "scheduled", []),
        ("moi", "ready", None, []),
    ]
