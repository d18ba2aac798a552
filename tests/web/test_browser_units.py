"""Two units in a real browser: a ward's account logs in and sees its ward's posts only;
a province account filters the calendar by unit (htmx swaps the grid)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from social_publisher.config import load_settings
from social_publisher.services import accounts
from social_publisher.services.ingest import ingest
from social_publisher.store import Database, Post
from social_publisher.units import load_units

from .conftest import PASSWORD, Clock, write_post
from .test_browser import ARGS, CHROMIUM, Page

expect: Any = pytest.importorskip("playwright.sync_api").expect

#: 09:00 on Monday 7 December 2026 in Đức Phổ
START = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
A, B = "phuong-pho-minh", "xa-pho-phong"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                       "(apt-get install -y chromium; .ci/run installs it)"),
]  # fmt: skip


@pytest.fixture
def world(tmp_path: Path, web_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    from social_publisher.web.app import create_app
    from social_publisher.web.server import BackgroundServer

    (tmp_path / "units.toml").write_text(
        f'[[don_vi]]\nid = "{A}"\nname = "UBND phường Phổ Minh"\n\n'
        f'[[don_vi]]\nid = "{B}"\nname = "UBND xã Phổ Phong"\n',
        encoding="utf-8",
    )
    settings = load_settings(
        {**web_env, "UNITS_FILE": str(tmp_path / "units.toml")}, dotenv_path=None
    )
    units = load_units(settings)
    db = Database(settings.database_url)
    db.upgrade()
    ids: dict[str, int] = {}
    for unit, folders in zip(units, (("pm-mot", "pm-hai"), ("pp-mot",)), strict=True):
        unit.queue_dir.mkdir(parents=True)
        for folder in folders:
            write_post(unit.queue_dir, folder, when="08/12/2026 08:00")
        handle = db.for_unit(unit.id)
        ingest(handle, unit.settings, now=START)
        with handle.session() as session:
            ids.update({p.folder: p.id for p in session.scalars(select(Post))})
    everywhere = db.everywhere()
    for name, unit_id in (("hung.pm", A), ("tinh", None)):
        accounts.add(
            everywhere, name, full_name=name, role="approver", password=PASSWORD, now=START,
            actor="t", unit=unit_id, units=units, all_units=unit_id is None,
        )  # fmt: skip
    app = create_app(units[0].settings, db, units=units, clock=Clock(START))
    server = BackgroundServer(app, "127.0.0.1", 0).start()
    try:
        yield {"ids": ids, "url": f"http://127.0.0.1:{server.port}"}
    finally:
        server.stop()
        db.dispose()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def test_a_ward_account_sees_only_its_wards_posts_in_a_real_browser(
    world: dict[str, Any], browser: Any
) -> None:
    ids = world["ids"]
    ward = Page(browser, world["url"], 1366, 768)
    ward.login("hung.pm")
    page = ward.page
    assert "UBND phường Phổ Minh" in page.inner_text("header .who")
    page.goto(world["url"] + "/lich?ngay=2026-12-08")
    expect(page.locator("#luoi a.item")).to_have_count(4)  # two posts × two channels
    for folder in ("pm-mot", "pm-hai"):
        assert page.locator(f'#luoi a.item[href="/bai/{ids[folder]}"]').count() == 2
    assert page.locator(f'a[href="/bai/{ids["pp-mot"]}"]').count() == 0
    assert page.locator("#chon-don-vi").count() == 0
    page.goto(world["url"] + "/danh-sach?loai=cho-duyet")
    assert "Bài pm-mot" in page.inner_text("main") and "Bài pp-mot" not in page.inner_text("main")
    answer = page.goto(world["url"] + f"/bai/{ids['pp-mot']}")  # a typed URL of another ward
    assert answer is not None and answer.status == 404
    assert "Không tìm thấy" in page.inner_text("main") and "pp-mot" not in page.content()
    assert f"404 {world['url']}/bai/{ids['pp-mot']}" in ward.problems  # the 404, nothing else
    assert all("404" in p for p in ward.problems)
    assert ward.fits()

    # a province account sees both, and the unit select narrows the calendar in place
    province = Page(browser, world["url"], 1366, 768)
    province.login("tinh")
    page = province.page
    page.goto(world["url"] + "/lich?ngay=2026-12-08")
    expect(page.locator("#luoi a.item")).to_have_count(6)
    page.select_option("#chon-don-vi", B)  # htmx swaps the grid
    expect(page.locator("#luoi a.item")).to_have_count(2)
    assert f"don_vi={B}" in page.url
    assert page.locator(f'#luoi a.item[href="/bai/{ids["pp-mot"]}"]').count() == 2
    assert "UBND xã Phổ Phong" in page.inner_text("#luoi")
    page.click("text=Sau ›")  # the next month keeps the filter
    page.wait_for_url(re.compile(r"don_vi=" + B))
    assert province.problems == []

    # the unit names and the select fit a phone's width
    phone = Page(browser, world["url"], 390, 844)
    phone.login("tinh")
    for path in ("/lich?ngay=2026-12-08", "/danh-sach?loai=cho-duyet"):
        phone.go(path)
        assert phone.fits(), (path, phone.too_wide)
    assert phone.problems == []
