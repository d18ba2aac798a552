"""A unit that is an agency of another (a ward re-sharing the province's post): its Page is
read with its own Page token (FB_PAGE_ACCESS_TOKEN of that unit), never a second copy in
``token_setting``; the token reaches no output, log line or record."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from social_publisher.cli import main
from social_publisher.sandbox import Sandbox
from social_publisher.store import Database

from .conftest import Helpers

START = datetime(2024, 10, 12, 1, 0, tzinfo=UTC)  # 08:00 local
WARD_TOKEN = "EAAB-phuong-pho-hoa-unit-token-7f3e"
PROVINCE, WARD = "so-vhttdl", "phuong-pho-hoa"
WARD_PAGE = "2000001"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox(clock=Clock())
    box.start()
    yield box
    box.stop()


@pytest.fixture
def install(
    env: dict[str, str], tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The province's unit (the sandbox's Page, its agencies: the ward) and the ward's unit
    (its own Page and token); the ward's row names no token_setting."""
    (tmp_path / "don-vi-so.csv").write_text(
        "id,name,group,fb_page_id,fb_page_url,zalo_oa_id,token_setting\n"
        f"{WARD},UBND phường Phổ Hòa,xa-phuong,{WARD_PAGE},https://www.facebook.com/phuongphohoa,,\n",
        encoding="utf-8",
    )
    (tmp_path / "don-vi-phuong.csv").write_text(
        "id,name,group,fb_page_id,fb_page_url,zalo_oa_id,token_setting\n", encoding="utf-8"
    )
    (tmp_path / "units.toml").write_text(
        f"""\
[[don_vi]]
id = "{PROVINCE}"
name = "Sở Văn hóa, Thể thao và Du lịch"
AGENCIES_FILE = "{tmp_path / "don-vi-so.csv"}"

[[don_vi]]
id = "{WARD}"
name = "UBND phường Phổ Hòa"
FB_PAGE_ID = "{WARD_PAGE}"
FB_PAGE_ACCESS_TOKEN_ENV = "FB_TOKEN_PHUONG_PHO_HOA"
AGENCIES_FILE = "{tmp_path / "don-vi-phuong.csv"}"
""",
        encoding="utf-8",
    )
    full = {
        **env,
        **sandbox.env(),
        "UNITS_FILE": str(tmp_path / "units.toml"),
        "FB_TOKEN_PHUONG_PHO_HOA": WARD_TOKEN,
        "ZALO_APP_ID": "",
    }
    for key, value in full.items():
        monkeypatch.setenv(key, value)
    return full


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--env-file", "/nonexistent/.env", *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _province_post(install: dict[str, str], sandbox: Sandbox, h: type[Helpers]) -> str:
    """One post of the province live on its Page two days ago; returns its Graph id."""
    db = Database(install["DATABASE_URL"])
    db.upgrade()
    at = START - timedelta(days=2)
    fb_id = sandbox.graph.add_post("Ngày Chuyển đổi số quốc gia", created_time=at)
    h.add_post(
        db.for_unit(PROVINCE),
        "ngay-cds",
        "Ngày Chuyển đổi số quốc gia",
        at,
        channels=("facebook",),
        share_with=("tat-ca",),
        remote_ids={"facebook": fb_id},
        remote_urls={"facebook": sandbox.graph.post(fb_id)["permalink_url"]},
    )
    db.dispose()
    return fb_id


def _no_token_anywhere(
    install: dict[str, str], caplog: pytest.LogCaptureFixture, *texts: str
) -> None:
    logs = "".join(
        p.read_text(encoding="utf-8") for p in Path(install["LOG_DIR"]).rglob("*") if p.is_file()
    )
    db = Database(install["DATABASE_URL"])
    with db.engine.connect() as conn:
        rows = [
            repr(tuple(r))
            for table in ("meta", "shares", "audit_log", "agencies")
            for r in conn.exec_driver_sql(f"SELECT * FROM {table}")
        ]
    db.dispose()
    for text in (*texts, caplog.text, logs, *rows):
        assert WARD_TOKEN not in text


SHARES_TEXT = """\
Chia sẻ bài của các đơn vị, bài đăng từ 12/09/2024 đến 12/10/2024
Đúng hạn: chia sẻ trong 24 giờ sau khi đăng; tính đến 12/10/2024 08:00.

Bài viết:
  #1  10/10/2024 08:00  Ngày Chuyển đổi số quốc gia (ngay-cds)

Đơn vị               #1  Được giao  Đúng hạn  Muộn  Chưa  Chờ  Tỷ lệ
UBND phường Phổ Hòa  Đ           1         1     0     0    0 100,0%
Tổng cộng                        1         1     0     0    0 100,0%

Ký hiệu: Đ đúng hạn · M muộn · - chưa chia sẻ · ~ đang chờ (chưa hết hạn) · trống: không được giao;
         chữ thường (đ, m): không được giao nhưng đã chia sẻ.
Tỷ lệ = số bài đã chia sẻ / số bài được giao đã hết hạn chia sẻ.

Đơn vị trong cùng bản cài (đọc Trang bằng mã Trang của chính đơn vị đó):
  - UBND phường Phổ Hòa: Trang của đơn vị phuong-pho-hoa, đã đọc lúc 12/10/2024 08:00
"""


def test_a_ward_unit_is_read_with_its_own_page_token(
    install: dict[str, str], sandbox: Sandbox, h: type[Helpers], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fb_id = _province_post(install, sandbox, h)
    # the sandbox lets only the ward's own token read the ward's Page
    sandbox.graph.add_agency_page(
        WARD_PAGE, token=WARD_TOKEN, issued_by="ours", name="UBND phường Phổ Hòa"
    )
    sandbox.graph.add_share(WARD_PAGE, fb_id, created_time=START - timedelta(days=2, hours=-3))
    now = START.isoformat()

    code, out, err = _cli("collect", "--unit", PROVINCE, "--now", now)
    assert (code, err) == (0, "")
    assert out == (
        "Thu thập số liệu lúc 12/10/2024 08:00: 1 bài đến lượt (Facebook 1).\n"
        "Đã lưu 1 bản ghi số liệu (Facebook 1).\n"
        "Chia sẻ của đơn vị: đọc 1 Trang, tìm thấy 1 lượt chia sẻ mới.\n"
    )
    assert _cli("shares", "status", "--unit", PROVINCE, "--now", now) == (0, SHARES_TEXT, "")
    code, out, _ = _cli("shares", "status", "--unit", PROVINCE, "--now", now, "--json")
    data = json.loads(out)
    assert data["unit_pages"] == [
        {
            "agency": WARD,
            "unit": WARD,
            "page_id": WARD_PAGE,
            "read_with": "unit_token",
            "read_at": "2024-10-12T01:00:00+00:00",
        }
    ]
    assert [(c["agency"], c["state"], c["source"]) for c in data["cells"]] == [
        (WARD, "dung-han", "feed")
    ]
    # the ward's own shares list has no agencies: its collection reads no Page
    code, out, err = _cli("collect", "--unit", WARD, "--now", now)
    assert (code, err) == (0, "")
    assert "đọc 0 Trang" in out
    _no_token_anywhere(install, caplog, out, err)


def test_a_ward_token_refused_names_the_unit_and_never_the_token(
    install: dict[str, str], sandbox: Sandbox, h: type[Helpers], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _province_post(install, sandbox, h)
    # the ward's Page now answers to a newer token only: ours in .env is refused
    sandbox.graph.add_agency_page(WARD_PAGE, token="EAAB-newer-token-ward-only", issued_by="ours")
    now = START.isoformat()

    code, out, err = _cli("collect", "--unit", PROVINCE, "--now", now)
    assert code == 1
    [line] = err.splitlines()
    assert line.startswith(
        "Lỗi: UBND phường Phổ Hòa: mã Trang của đơn vị phuong-pho-hoa (FB_PAGE_ACCESS_TOKEN "
        "của đơn vị đó) không còn hiệu lực ("
    )
    assert line.endswith(
        "); cấp lại mã Trang của đơn vị phuong-pho-hoa (cũng là mã đăng bài của đơn vị đó)."
    )
    code, text, _ = _cli("shares", "status", "--unit", PROVINCE, "--now", now)
    assert text.endswith(
        "Đơn vị trong cùng bản cài (đọc Trang bằng mã Trang của chính đơn vị đó):\n"
        "  - UBND phường Phổ Hòa: Trang của đơn vị phuong-pho-hoa, chưa đọc\n"
    )
    code, status, _ = _cli("status", "--unit", PROVINCE)
    assert f"  Không đọc được Trang đơn vị: {line.removeprefix('Lỗi: ')}\n" in status
    _no_token_anywhere(install, caplog, out, err, text, status)


def test_a_collection_handed_one_units_settings_finds_the_other_units_pages(
    install: dict[str, str], sandbox: Sandbox, h: type[Helpers]
) -> None:
    """The daemon collects with one unit's settings and no ``pages``: the units this process
    loaded give the ward's Page and token."""
    from social_publisher.config import load_settings
    from social_publisher.services.engagement import collect
    from social_publisher.services.shares import install_unit_pages
    from social_publisher.units import load_units

    fb_id = _province_post(install, sandbox, h)
    sandbox.graph.add_agency_page(WARD_PAGE, token=WARD_TOKEN, issued_by="ours")
    sandbox.graph.add_share(WARD_PAGE, fb_id, created_time=START - timedelta(days=2, hours=-1))
    province, ward = load_units(load_settings(install, dotenv_path=None))
    pages = install_unit_pages(province.settings)
    assert sorted(pages) == [sandbox.graph.page_id, WARD_PAGE]
    assert WARD_TOKEN not in repr(pages[WARD_PAGE])
    db = Database(install["DATABASE_URL"])
    try:
        report = collect(db.for_unit(PROVINCE), province.settings, now=START)
        assert report.shares is not None and report.shares.errors == []
        assert (report.shares.pages_read, len(report.shares.found)) == (1, 1)
        # the ward's own collection: the province's Page is not one of its agencies
        report = collect(db.for_unit(WARD), ward.settings, now=START)
        assert report.shares is not None and report.shares.pages_read == 0
    finally:
        db.dispose()
