# ruff: noqa: E501  (exact CLI output: staff lines are long)
"""``Chia sẻ`` read against the agencies file at ``check`` time, and the cache kept right."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from social_publisher.config import Settings
from social_publisher.queue import MemoryScanCache, ScannedPost, scan_queue
from social_publisher.queue import scanner as scanner_module
from social_publisher.queue.share_list import AgencyEntry, ShareDirectory, read_without_directory
from social_publisher.services.agencies import share_directory
from social_publisher.services.ingest import ingest, scan_options
from social_publisher.store import Database, PostVersion

from .conftest import NOW

Run = Callable[..., tuple[int, str, str]]
REPO_AGENCIES = Path(__file__).resolve().parents[2] / "agencies.csv"
HEAD = "Tiêu đề: Bài mẫu\nThời gian đăng: 10/12/2026 07:30\nNgười duyệt: Võ Thanh Hùng\n"


def directory(*extra: AgencyEntry) -> ShareDirectory:
    settings = Settings(agencies_file=REPO_AGENCIES)
    loaded = share_directory(settings)
    assert loaded.directory is not None
    return ShareDirectory([*loaded.directory.agencies.values(), *extra], "agencies.csv")


@pytest.mark.parametrize(
    ("written", "entries"),
    [
        (["xa-phuong", "thi-doan-duc-pho"], ("xa-phuong", "thi-doan-duc-pho")),
        (["phường Phổ Văn", "Thị đoàn"], ("phuong-pho-van", "thi-doan-duc-pho")),
        (["UBND phường Phổ Văn"], ("phuong-pho-van",)),
        (["Ủy ban nhân dân phường Phổ Văn"], ("phuong-pho-van",)),
        (["UBND P. Phổ Văn"], ("phuong-pho-van",)),
        (["Phổ Văn"], ("phuong-pho-van",)),
        (["pho van"], ("phuong-pho-van",)),
        (["PHỔ VĂN", "  Phổ   Văn "], ("phuong-pho-van",)),
        (["xã Phổ An"], ("xa-pho-an",)),
        (["Thị đoàn Đức Phổ"], ("thi-doan-duc-pho",)),
        (["Phòng Tài chính – Kế hoạch"], ("phong-tai-chinh-ke-hoach",)),
        (["Trung tâm Truyền thông – Văn hóa – Thể thao thị xã"], ("trung-tam-tt-vh-tt",)),
        (["Xã, phường".replace(",", "")], ("xa-phuong",)),
        (["UBND xã phường", "đoàn thể", "Phòng ban"], ("xa-phuong", "doan-the", "phong-ban")),
        (["tat-ca"], ("tat-ca",)),
        (["Tất cả"], ("tat-ca",)),
        (["không"], ("khong",)),
        (["Khong"], ("khong",)),
    ],
)
def test_entries_as_staff_write_them(written: list[str], entries: tuple[str, ...]) -> None:
    read = directory().read(written)
    assert read.problems == ()
    assert read.entries == entries


def test_an_unknown_entry_names_the_file_and_the_nearest_id() -> None:
    read = directory().read(["xa-phuong", "pho-vann", "Sở TT&TT", "xa phuongg"])
    assert read.entries == ("xa-phuong", "pho-vann", "Sở TT&TT", "xa phuongg")
    assert read.problems == (
        "Chia sẻ 'pho-vann' không có trong danh sách đơn vị agencies.csv. Có phải ý bạn là "
        "'phuong-pho-van' (UBND phường Phổ Văn)? Ghi mã đơn vị (cột id) hoặc tên đơn vị trong "
        "tệp đó, một nhóm (xa-phuong, phong-ban, doan-the, trung-tam, khac), 'tat-ca' hoặc "
        "'khong', cách nhau dấu phẩy.",
        "Chia sẻ 'Sở TT&TT' không có trong danh sách đơn vị agencies.csv. Ghi mã đơn vị (cột "
        "id) hoặc tên đơn vị trong tệp đó, một nhóm (xa-phuong, phong-ban, doan-the, trung-tam, "
        "khac), 'tat-ca' hoặc 'khong', cách nhau dấu phẩy.",
        "Chia sẻ 'xa phuongg' không có trong danh sách đơn vị agencies.csv. Có phải ý bạn là "
        "'xa-phuong' (UBND xã, phường)? Ghi mã đơn vị (cột id) hoặc tên đơn vị trong tệp đó, "
        "một nhóm (xa-phuong, phong-ban, doan-the, trung-tam, khac), 'tat-ca' hoặc 'khong', "
        "cách nhau dấu phẩy.",
    )


def test_a_name_two_units_share_is_not_guessed() -> None:
    twin = AgencyEntry("xa-pho-van", "UBND xã Phổ Văn", "xa-phuong")
    read = directory(twin).read(["Phổ Văn"])
    assert read.problems == (
        "Chia sẻ 'Phổ Văn' có thể là nhiều đơn vị: phuong-pho-van (UBND phường Phổ Văn), "
        "xa-pho-van (UBND xã Phổ Văn). Ghi rõ mã đơn vị (cột id trong agencies.csv).",
    )
    assert directory(twin).read(["xã Phổ Văn"]).entries == ("xa-pho-van",)


def test_nobody_with_somebody_is_a_contradiction() -> None:
    assert directory().read(["khong", "xa-phuong"]).problems == (
        "Chia sẻ ghi 'khong' (không đơn vị nào) cùng với đơn vị khác. Chỉ giữ 'khong', hoặc "
        "bỏ 'khong' và giữ các đơn vị cần chia sẻ.",
    )


def test_without_a_directory_only_fixed_entries_are_read() -> None:
    assert read_without_directory(["Tất cả", "Phổ Văn"]).entries == ("tat-ca", "Phổ Văn")


# ---------------------------------------------------------------- at check time


@pytest.fixture
def agencies(cli_env: dict[str, str]) -> Path:
    path = Path(cli_env["AGENCIES_FILE"])
    shutil.copyfile(REPO_AGENCIES, path)
    return path


def test_check_refuses_an_unknown_entry_before_the_post_is_live(
    run_cli: Run, write_post: Callable[..., Path], agencies: Path
) -> None:
    write_post("dung-ten", HEAD + "Chia sẻ: phường Phổ Văn, Thị đoàn\n\nNội dung.")
    write_post("sai-ma", HEAD + "Chia sẻ: xa-phuong, thi-doan-ducpho\n\nNội dung.")
    code, out, err = run_cli("check")
    assert (code, err) == (1, "")
    assert (
        "  sai-ma/bai-viet.txt:4: Chia sẻ 'thi-doan-ducpho' không có trong danh sách đơn vị "
        f"{agencies}. Có phải ý bạn là 'thi-doan-duc-pho' (Thị đoàn Đức Phổ)? Ghi mã đơn vị (cột id) hoặc tên đơn vị trong tệp đó, một nhóm (xa-phuong, phong-ban, doan-the, trung-tam, khac), 'tat-ca' hoặc 'khong', cách nhau dấu phẩy."
    ) in out.splitlines()
    states = {p["folder"]: p["state"] for p in json.loads(run_cli("check", "--json")[1])["posts"]}
    assert states == {"dung-ten": "ready", "sai-ma": "error"}


def test_ingest_records_the_ids_not_the_names(
    db: Database, settings: Settings, write_post: Callable[..., Path], queue: Path
) -> None:
    shutil.copyfile(REPO_AGENCIES, settings.agencies_file)
    write_post("dung-ten", HEAD + "Chia sẻ: UBND phường Phổ Văn; Thị đoàn, xã phường\n\nNội dung.")
    ingest(db, settings, now=NOW, image_check=lambda p: None)
    with db.session() as s:
        version = s.query(PostVersion).one()
        assert version.share_with == ["phuong-pho-van", "thi-doan-duc-pho", "xa-phuong"]
        assert version.problems == []


def test_a_missing_agencies_file_is_said_once_and_only_when_a_post_needs_it(
    run_cli: Run, write_post: Callable[..., Path], cli_env: dict[str, str]
) -> None:
    write_post("mac-dinh")  # the default (tat-ca): nothing to look up
    code, out, _ = run_cli("check")
    assert code == 0 and "cảnh báo" not in out
    write_post("ten", HEAD + "Chia sẻ: Phổ Văn\n\nNội dung.")
    code, out, _ = run_cli("check")
    assert code == 0
    assert (
        f"  {cli_env['AGENCIES_FILE']}: cảnh báo: Mục Chia sẻ của 1 bài chưa được kiểm tra (ten) "
        f"vì không tìm thấy tệp {cli_env['AGENCIES_FILE']} (AGENCIES_FILE). Chạy "
        "'social-publisher init' để tạo tệp mẫu, hoặc sửa AGENCIES_FILE trong tệp .env."
    ) in out.splitlines()
    assert out.endswith("2 bài: 2 sẵn sàng; 1 cảnh báo\n")
    notes = json.loads(run_cli("check", "--json")[1])["notes"]
    assert [n["file"] for n in notes] == [cli_env["AGENCIES_FILE"]]


def test_a_broken_agencies_file_lists_its_problems(
    run_cli: Run, write_post: Callable[..., Path], agencies: Path
) -> None:
    agencies.write_text("id,name,group\nphuong-pho-van,UBND phường Phổ Văn,sai-nhom\n", "utf-8")
    write_post("ten", HEAD + "Chia sẻ: Phổ Văn\n\nNội dung.")
    out = run_cli("check")[1]
    assert (
        f"vì tệp {agencies} (AGENCIES_FILE) có lỗi. Sửa các lỗi của tệp được liệt kê dưới đây."
        in out
    )
    assert f"  {agencies}:2: cảnh báo: nhóm “sai-nhom” không hợp lệ" in out


def test_an_unknown_default_share_list_is_said(
    run_cli: Run, write_post: Callable[..., Path], agencies: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEFAULT_SHARE_WITH", "xa-phuong, thi doan ducpho")
    write_post("mac-dinh")
    out = run_cli("check")[1]
    assert (
        "  DEFAULT_SHARE_WITH: cảnh báo: Cấu hình DEFAULT_SHARE_WITH: Chia sẻ 'thi doan ducpho' "
        "không có trong danh sách đơn vị"
    ) in out


# ---------------------------------------------------------------- the scan cache


def test_a_change_of_the_agencies_file_re_reads_exactly_the_folders_that_depend_on_it(
    queue: Path,
    write_post: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "agencies.csv"
    shutil.copyfile(REPO_AGENCIES, path)
    settings = Settings(agencies_file=path)
    write_post("ten", HEAD + "Chia sẻ: Phổ Văn\n\nNội dung.")
    write_post("nhom", HEAD + "Chia sẻ: xa-phuong\n\nNội dung.")
    write_post("mac-dinh")
    calls: list[str] = []
    real = scanner_module.read_folder

    def counting(root: Path, name: str, *args: object, **kwargs: object) -> ScannedPost:
        calls.append(name)
        return real(root, name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(scanner_module, "read_folder", counting)
    cache = MemoryScanCache()

    def scan() -> dict[str, ScannedPost]:
        options = scan_options(settings, "none", share_directory(settings).directory)
        return {p.folder: p for p in scan_queue(queue, options, cache=cache).posts}

    first = scan()
    assert sorted(calls) == ["mac-dinh", "nhom", "ten"]
    assert first["ten"].share_with == ("phuong-pho-van",) and first["ten"].errors == ()
    calls.clear()
    assert scan() == first and calls == []  # unchanged: nothing read

    # an edit that changes no verdict (a Page address) keeps every cached verdict
    text = path.read_text(encoding="utf-8-sig")
    path.write_text(
        text.replace(
            "phuong-pho-van,UBND phường Phổ Văn,xa-phuong,,",
            "phuong-pho-van,UBND phường Phổ Văn,xa-phuong,,https://www.facebook.com/phovan",
        ),
        "utf-8",
    )
    os.utime(path, ns=(10**18, 10**18))
    assert scan() == first and calls == []

    # Phổ Văn is renamed: only the folder whose list names it is read again, and now fails
    path.write_text(
        text.replace("UBND phường Phổ Văn", "UBND phường Phổ Văn Mới").replace(
            "phuong-pho-van,", "phuong-pho-van-moi,"
        ),
        "utf-8",
    )
    os.utime(path, ns=(2 * 10**18, 2 * 10**18))
    third = scan()
    assert calls == ["ten"]
    assert [p.message for p in third["ten"].errors] == [
        "Chia sẻ 'Phổ Văn' không có trong danh sách đơn vị "
        f"{path}. Có phải ý bạn là 'phuong-pho-van-moi' (UBND phường Phổ Văn Mới)? Ghi mã đơn vị (cột id) hoặc tên đơn vị trong tệp đó, một nhóm (xa-phuong, phong-ban, doan-the, trung-tam, khac), 'tat-ca' hoặc 'khong', cách nhau dấu phẩy."
    ]
    assert third["nhom"] == first["nhom"] and third["mac-dinh"] == first["mac-dinh"]

    # the file disappears, then comes back: the dependent folder follows each time
    calls.clear()
    path.unlink()
    assert scan()["ten"].errors == () and calls == ["ten"]
    shutil.copyfile(REPO_AGENCIES, path)
    calls.clear()
    assert scan()["ten"] == first["ten"] and calls == ["ten"]


def test_the_cache_stays_right_when_workers_read_the_folders(
    queue: Path, write_post: Callable[..., Path], tmp_path: Path
) -> None:
    from social_publisher.queue import parallel

    if not parallel.can_fork():
        pytest.skip("forked scan workers are Linux-only")
    path = tmp_path / "agencies.csv"
    shutil.copyfile(REPO_AGENCIES, path)
    settings = Settings(agencies_file=path)
    for i in range(60):
        write_post(
            f"bai-{i:02d}", HEAD + f"Chia sẻ: {'Phổ Văn' if i % 2 else 'tat-ca'}\n\nNội dung."
        )
    cache = MemoryScanCache()
    options = scan_options(settings, "none", share_directory(settings).directory)
    first = scan_queue(queue, options, cache=cache, workers=2)
    assert first.workers == 2 and len(first.read) == 60
    other = ShareDirectory([], str(path))  # an empty file: every named agency is unknown
    changed = dataclasses.replace(options, agencies=other)
    again = scan_queue(queue, changed, cache=cache, workers=2)
    assert sorted(again.read) == [f"bai-{i:02d}" for i in range(1, 60, 2)]
    assert all(bool(p.errors) == (int(p.folder[-2:]) % 2 == 1) for p in again.posts)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_the_database_scan_cache_keeps_the_agencies_dependency(
    backend: str,
    request: pytest.FixtureRequest,
    settings: Settings,
    write_post: Callable[..., Path],
) -> None:
    from social_publisher.services.ingest import check_queue

    database: Database = request.getfixturevalue("db" if backend == "sqlite" else "pg_db")
    shutil.copyfile(REPO_AGENCIES, settings.agencies_file)
    write_post("ten", HEAD + "Chia sẻ: Phổ Văn\n\nNội dung.")
    write_post("mac-dinh")
    first = check_queue(database, settings, now=NOW, image_check=lambda p: None)
    assert sorted(first.read) == ["mac-dinh", "ten"]
    assert check_queue(database, settings, now=NOW, image_check=lambda p: None).read == []
    text = settings.agencies_file.read_text(encoding="utf-8-sig")
    settings.agencies_file.write_text(text.replace("Phổ Văn", "Phổ Văn Mới"), "utf-8")
    again = check_queue(database, settings, now=NOW, image_check=lambda p: None)
    assert again.read == ["ten"]
    assert [p.state.value for p in again.posts] == ["ready", "error"]  # "Phổ Văn" is gone
    assert "Có phải ý bạn là 'phuong-pho-van' (UBND phường Phổ Văn Mới)?" in str(
        again.posts[1].errors
    )
