"""agencies.csv: parsing, staff-facing errors, syncing into the database, who must share."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from social_publisher.config import Settings
from social_publisher.services.agencies import (
    FileProblems,
    agency_infos,
    load_agencies,
    parse_agencies,
    resolve_share_with,
)
from social_publisher.store import Agency, Database

REPO_ROOT = Path(__file__).resolve().parents[2]
NOW_FOR_SYNC = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
HEADER = "id,name,group,fb_page_id,fb_page_url,zalo_oa_id,token_setting\n"


TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def cp1258(text: str) -> bytes:
    """What Windows-1258 editors write: precomposed vowel + combining tone mark."""
    out = b""
    for ch in text:
        try:
            out += ch.encode("cp1258")
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", ch)
            base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in TONES))
            out += (base + "".join(c for c in parts if c in TONES)).encode("cp1258")
    return out


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(cp1258(text) if encoding == "cp1258" else text.encode(encoding))
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(FileProblems) as info:
        parse_agencies(path)
    return [str(p) for p in info.value.problems]


def test_shipped_example_has_the_15_communes_and_town_units() -> None:
    rows = parse_agencies(REPO_ROOT / "agencies.csv")
    by_id = {r.id: r for r in rows}
    communes = [r for r in rows if r.group == "xa-phuong"]
    assert len(communes) == 15
    assert sum(r.name.startswith("UBND phường") for r in communes) == 8
    assert sum(r.name.startswith("UBND xã") for r in communes) == 7
    assert by_id["phuong-pho-hoa"].name == "UBND phường Phổ Hòa"
    assert by_id["xa-pho-cuong"].name == "UBND xã Phổ Cường"
    assert by_id["thi-doan-duc-pho"].group == "doan-the"
    assert by_id["trung-tam-tt-vh-tt"].group == "trung-tam"
    assert by_id["phong-tai-chinh-ke-hoach"].group == "phong-ban"
    assert all(r.fb_page_id is None and r.token_setting is None for r in rows)
    # the publisher itself (Phòng VHTT) does not re-share its own posts
    assert not any("Văn hóa và Thông tin" in r.name for r in rows)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1258"])
def test_encodings_from_excel_and_notepad(tmp_path: Path, encoding: str) -> None:
    path = write(
        tmp_path / "a.csv",
        HEADER + "phuong-pho-hoa,UBND phường Phổ Hòa,xa-phuong,,,,\n",
        encoding,
    )
    [row] = parse_agencies(path)
    assert row.name == "UBND phường Phổ Hòa"  # NFC whatever the source encoding


def test_semicolon_separator_and_quoted_commas(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv",
        HEADER.replace(",", ";")
        + 'phong-tc-kh;"Phòng Tài chính; Kế hoạch";phong-ban;123;;;FB_TOKEN_TCKH\n',
    )
    [row] = parse_agencies(path)
    assert (row.name, row.fb_page_id, row.token_setting) == (
        "Phòng Tài chính; Kế hoạch",
        "123",
        "FB_TOKEN_TCKH",
    )


def test_missing_column_names_file_line_and_fix(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "id,name\nphuong-pho-hoa,UBND phường Phổ Hòa\n")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:1: thiếu cột “group” ở dòng tiêu đề.")
    assert "id,name,group,fb_page_id,fb_page_url,zalo_oa_id,token_setting" in problem


def test_every_row_problem_is_listed_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv",
        HEADER
        + "phuong-pho-hoa,UBND phường Phổ Hòa,xa-phuong,,,,\n"
        + "\n"  # blank lines are skipped but still counted
        + "phuong-pho-hoa,UBND phường Phổ Hòa 2,xa-phuong,,,,\n"
        + "Phường Phổ Minh,UBND phường Phổ Minh,phuong,,,,\n"
        + "xa-pho-an,,xa-phuong,abc,https://example.com/x,,\n"
        + "xa-pho-chau,UBND xã Phổ Châu,xa-phuong,,,,EAAB-secret-token-value\n",
    )
    problems = problems_of(path)
    assert problems[0] == (
        f"{path}:4: mã đơn vị “phuong-pho-hoa” trùng với dòng 2; mỗi đơn vị phải có một mã riêng."
    )
    assert problems[1].startswith(
        f"{path}:5: mã đơn vị “Phường Phổ Minh” không hợp lệ: chỉ dùng chữ thường không dấu"
    )
    assert "ví dụ phuong-pho-minh" in problems[1]
    assert problems[2].startswith(
        f"{path}:5: nhóm “phuong” không hợp lệ; cột group dùng một trong:"
    )
    assert "xa-phuong (UBND xã, phường)" in problems[2]
    assert problems[3] == f"{path}:6: thiếu tên đơn vị (cột name), ví dụ UBND phường Phổ Hòa."
    assert problems[4].startswith(f"{path}:6: fb_page_id “abc” không hợp lệ")
    assert problems[5].startswith(f"{path}:6: fb_page_url “https://example.com/x” không phải")
    assert problems[6].startswith(f"{path}:7: token_setting phải là TÊN một biến cấu hình")
    assert len(problems) == 7
    assert not any("EAAB-secret-token-value" in p for p in problems)


def test_missing_file_says_which_setting(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path / "khong-co.csv")
    assert "không tìm thấy tệp danh sách đơn vị (AGENCIES_FILE)" in problem


def test_sync_adds_updates_and_deactivates_keeping_history(
    db: Database, settings: Settings, h: type
) -> None:
    path = Path(settings.agencies_file)
    write(
        path,
        HEADER
        + "phuong-pho-hoa,UBND phường Phổ Hòa,xa-phuong,,,,\n"
        + "xa-pho-an,UBND xã Phổ An,xa-phuong,,,,\n",
    )
    t0 = h.local(2024, 1, 2, 8, 0)
    first = load_agencies(db, settings, now=t0)
    assert first.added == ["phuong-pho-hoa", "xa-pho-an"]

    # 2025: Phổ An merged into a new unit, Phổ Hòa renamed
    write(
        path,
        HEADER
        + "phuong-pho-hoa,UBND phường Phổ Hòa (mới),xa-phuong,,,,\n"
        + "xa-pho-an-moi,UBND xã Phổ An (sau sáp nhập),xa-phuong,,,,\n",
    )
    t1 = t0 + timedelta(days=300)
    second = load_agencies(db, settings, now=t1)
    assert (second.added, second.updated, second.deactivated) == (
        ["xa-pho-an-moi"],
        ["phuong-pho-hoa"],
        ["xa-pho-an"],
    )
    assert "ngừng theo dõi 1 (xa-pho-an)" in second.summary()
    with db.session() as s:
        rows = {a.id: a for a in s.scalars(select(Agency))}
        assert rows["xa-pho-an"].active is False  # kept, for past reports
        assert rows["phuong-pho-hoa"].name == "UBND phường Phổ Hòa (mới)"
        infos = {a.id: a for a in agency_infos(s)}
    # the first load's units count as known since always; later ones from when they appeared
    assert infos["phuong-pho-hoa"].existed_at(t0 - timedelta(days=100))
    assert not infos["xa-pho-an-moi"].existed_at(t1 - timedelta(hours=1))
    assert infos["xa-pho-an"].existed_at(t1 - timedelta(hours=1))
    assert not infos["xa-pho-an"].existed_at(t1 + timedelta(hours=1))

    # unchanged file: nothing to do
    third = load_agencies(db, settings, now=t1 + timedelta(days=1))
    assert (third.added, third.updated, third.deactivated, third.unchanged) == ([], [], [], 2)


def test_resolve_share_with_ids_groups_all_and_unknown(loaded: Database, h: type) -> None:
    with loaded.session() as s:
        infos = agency_infos(s)
    at = h.local(2024, 10, 1, 8, 0)
    every = {"phuong-pho-hoa", "phuong-nguyen-nghiem", "xa-pho-an", "thi-doan-duc-pho"}
    assert resolve_share_with([], "tat-ca", infos, at=at).agency_ids == every
    assert resolve_share_with(["Tất cả"], "khong", infos, at=at).agency_ids == every
    assert resolve_share_with(["xã phường"], "", infos, at=at).agency_ids == every - {
        "thi-doan-duc-pho"
    }
    targets = resolve_share_with(
        ["thi-doan-duc-pho", "phong-khong-co", "khong"], "tat-ca", infos, at=at
    )
    assert targets.agency_ids == {"thi-doan-duc-pho"}
    assert targets.unknown == ("phong-khong-co",)
    assert resolve_share_with(["khong"], "tat-ca", infos, at=at).agency_ids == frozenset()


def test_token_app_column_says_whose_app_issued_the_token(tmp_path: Path, db: Database) -> None:
    path = write(
        tmp_path / "a.csv",
        "id,name,group,fb_page_id,fb_page_url,zalo_oa_id,token_setting,token_app\n"
        "phuong-pho-hoa,UBND phường Phổ Hòa,xa-phuong,2000001,,,FB_TOKEN_PHO_HOA,chung\n"
        "phuong-pho-minh,UBND phường Phổ Minh,xa-phuong,2000002,,,FB_TOKEN_PHO_MINH,Riêng\n"
        "phuong-pho-ninh,UBND phường Phổ Ninh,xa-phuong,2000003,,,FB_TOKEN_PHO_NINH,\n"
        "phuong-pho-quang,UBND phường Phổ Quang,xa-phuong,,,,\n",
    )
    rows = {r.id: r for r in parse_agencies(path)}
    assert rows["phuong-pho-hoa"].token_app == "chung"
    assert rows["phuong-pho-minh"].token_app is None  # its own app: the default
    assert rows["phuong-pho-ninh"].token_app is None
    assert rows["phuong-pho-quang"].token_app is None  # a file of the old shape still reads
    from social_publisher.services.agencies import sync_agencies

    sync_agencies(db, path, list(rows.values()), now=NOW_FOR_SYNC)
    with db.session() as s:
        infos = {a.id: a for a in agency_infos(s)}
    assert infos["phuong-pho-hoa"].token_of_our_app
    assert not infos["phuong-pho-minh"].token_of_our_app


def test_token_app_with_a_wrong_word_names_the_line_and_the_fix(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv",
        "id,name,group,fb_page_id,fb_page_url,zalo_oa_id,token_setting,token_app\n"
        "phuong-pho-hoa,UBND phường Phổ Hòa,xa-phuong,2000001,,,FB_TOKEN_PHO_HOA,co\n",
    )
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:2: token_app “co” không hợp lệ: ghi rieng")
    assert "chung" in problem and "FB_APP_ID" in problem


def test_the_example_file_has_the_token_app_column() -> None:
    header = (REPO_ROOT / "agencies.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.split(",")[-1] == "token_app"
