"""The console in a real browser: Playwright drives Debian's chromium against the console
served by uvicorn on a real socket, with the sandbox as both platforms and the daemon's
pass run in-process on one injected clock (no test waits for a schedule).

The flow: log in; write a post with two photos (reordered); see it in the calendar; an
approver approves it; the daemon publishes it to the sandbox; the post page shows the
live links; withdraw another post; every page works at 1366×768 and at 390 px wide, with
no Content-Security-Policy violation. ``SCREENSHOTS=1`` also writes the main pages to
docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from social_publisher.config import load_settings
from social_publisher.sandbox import Sandbox
from social_publisher.services import accounts
from social_publisher.services.daemon import build_context, run_pass
from social_publisher.services.ingest import ingest
from social_publisher.services.planner import plan
from social_publisher.store import Database, Post, Publication

from .conftest import PASSWORD, PEOPLE, Clock, write_post

expect: Any = pytest.importorskip("playwright.sync_api").expect

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
#: 09:00 on Monday 7 December 2026 in Đức Phổ
START = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)

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

    clock = Clock(START)
    public = tmp_path / "public"
    public.mkdir()
    sandbox = Sandbox(public_dir=public, clock=clock, zalo_processing_seconds=2.0)
    sandbox.start("127.0.0.1", 0)
    settings = load_settings({**web_env, **sandbox.env()}, dotenv_path=None)
    db = Database(settings.database_url)
    db.upgrade()
    for name, (full, role) in PEOPLE.items():
        accounts.add(db, name, full_name=full, role=role, password=PASSWORD, now=START, actor="t")
    server = BackgroundServer(create_app(settings, db, clock=clock), "127.0.0.1", 0).start()
    try:
        yield {
            "clock": clock, "sandbox": sandbox, "settings": settings, "db": db,
            "url": f"http://127.0.0.1:{server.port}",
        }  # fmt: skip
    finally:
        server.stop()
        sandbox.stop()
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


class Page:
    """A Playwright page that records CSP violations and script errors."""

    def __init__(self, browser: Any, base: str, width: int, height: int) -> None:
        self.context = browser.new_context(
            viewport={"width": width, "height": height}, locale="vi-VN"
        )
        self.page = self.context.new_page()
        self.base = base
        self.problems: list[str] = []
        self.page.on(
            "console", lambda m: self.problems.append(m.text) if m.type == "error" else None
        )
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.page.on(
            "response",
            lambda r: self.problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )

    def go(self, path: str) -> Any:
        self.page.goto(self.base + path)
        return self.page

    def login(self, name: str) -> None:
        page = self.go("/dang-nhap")
        page.fill("input[name=ten]", name)
        page.fill("input[name=mat_khau]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/lich"))

    def fits(self) -> bool:
        """No horizontal scrolling: the page fits the viewport's width."""
        wide = self.page.evaluate(
            "() => Array.from(document.querySelectorAll('body *')).filter(e => "
            "e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName + '.' + "
            "e.className + '#' + e.id + ':' + Math.round(e.getBoundingClientRect().right))"
        )
        self.too_wide = wide
        return bool(
            self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        )

    def shot(self, name: str) -> None:
        if os.environ.get("SCREENSHOTS"):
            SHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SHOTS / name), full_page=True)


def _pass(world: dict[str, Any], ctx: Any, seconds: float = 0) -> None:
    world["clock"].now += timedelta(seconds=seconds)
    run_pass(ctx, world["clock"]())


def test_write_approve_publish_withdraw_in_a_real_browser(
    world: dict[str, Any], browser: Any, tmp_path: Path
) -> None:
    settings, db, clock = world["settings"], world["db"], world["clock"]
    other = write_post(
        settings.queue_dir, "bai-khac", approved_by="Võ Thanh Hùng", when="10/12/2026 08:00"
    )
    ingest(db, settings, now=clock())
    plan(db, now=clock())
    photos = []
    example = Path(__file__).parents[2] / "content_queue" / "ngay-chuyen-doi-so-quoc-gia"
    for name, source in (("anh-thu-nhat.jpg", "anh-1.jpg"), ("anh-thu-hai.jpg", "anh-2.jpg")):
        path = tmp_path / name
        path.write_bytes((example / source).read_bytes())
        photos.append(str(path))

    # --- a staff member writes the post, with two photos, the second moved first
    staff = Page(browser, world["url"], 1366, 768)
    staff.login("an")
    page = staff.page
    page.click("text=Soạn bài")
    page.fill("input[name=tieu_de]", "Ngày hội Chuyển đổi số thị xã Đức Phổ")
    page.fill("input[name=thoi_gian]", "2026-12-07T11:00")
    page.fill(
        "textarea[name=noi_dung]",
        "Mời bà con đến Ngày hội Chuyển đổi số.\n\nCó hướng dẫn cài VNeID.",
    )
    page.set_input_files("#anh-moi", photos)
    assert page.locator("#anh-list li.photo").count() == 2
    page.locator("#anh-list li.photo").nth(1).locator("button.up").click()
    assert page.input_value("#thu-tu") == "moi:1,moi:0"
    staff.shot("soan-bai.png")
    page.click("#luu")
    page.wait_for_url(re.compile(r"/bai/\d+$"))
    post_id = int(page.url.rsplit("/", 1)[1])
    assert "Đã lưu bài mới" in page.inner_text(".flash")
    with db.session() as s:
        post = s.get(Post, post_id)
        text = (settings.queue_dir / post.folder / "bai-viet.txt").read_text(encoding="utf-8")
    assert "Ảnh: anh-thu-hai.jpg, anh-thu-nhat.jpg" in text and "Người duyệt" not in text

    # --- it is in the calendar, waiting for approval, on both channels
    page.goto(world["url"] + "/lich?ngay=2026-12-07")
    assert page.locator(f'a.item.cat-waiting[href="/bai/{post_id}"]').count() == 2
    page.select_option("select[name=kenh]", "zalo")  # htmx swaps the grid
    expect(page.locator("#luoi a.item")).to_have_count(2)  # this post and bai-khac, on Zalo
    expect(page.locator("#luoi a.item.cat-waiting")).to_have_count(1)
    assert "kenh=zalo" in page.url
    page.select_option("select[name=kenh]", "")
    expect(page.locator("#luoi a.item")).to_have_count(4)
    staff.shot("lich-thang.png")
    assert staff.fits()

    # --- the author cannot approve; an approver can
    page.goto(world["url"] + f"/bai/{post_id}")
    assert page.locator("#nut-duyet").count() == 0
    approver = Page(browser, world["url"], 1366, 768)
    approver.login("hung")
    page2 = approver.go(f"/bai/{post_id}")
    assert page2.locator(".fb-photos img").count() == 2
    for image in page2.locator(".fb-photos img, .zalo-cover").all():
        image.scroll_into_view_if_needed()
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("i => i.naturalWidth") > 0  # a rendition served by the console
    page2.click("#nut-duyet")
    page2.wait_for_url(re.compile(rf"/bai/{post_id}$"))
    assert "Đã duyệt bài" in page2.inner_text(".flash")
    approver.shot("bai-viet.png")
    assert approver.fits()

    # --- the daemon publishes it to the sandbox (Facebook holds it, then Zalo at its time)
    ctx = build_context(settings, db, clock=clock, ingest=True, worker="w", rng=random.Random(3))
    settle = settings.queue_settle_seconds + 1  # a folder just written waits to settle first
    _pass(world, ctx, settle)
    with db.session() as s:
        states = {
            p.channel: p.state
            for p in s.scalars(select(Publication).where(Publication.post_id == post_id))
        }
    assert states == {"facebook": "scheduled_remote", "zalo": "pending"}
    # 11:00:02: Facebook published it by itself; Zalo is due
    _pass(world, ctx, 2 * 3600 + 2 - settle)
    for _ in range(4):
        _pass(world, ctx, 3)
    with db.session() as s:
        live = {
            p.channel: p.remote_url
            for p in s.scalars(select(Publication).where(Publication.post_id == post_id))
            if p.state in ("published", "confirmed")
        }
    assert set(live) == {"facebook", "zalo"}, live
    page2.reload()
    links = page2.locator("a.live-link")
    assert links.count() == 2
    assert {links.nth(i).get_attribute("href") for i in range(2)} == set(live.values())
    state = world["sandbox"].state()
    assert [
        p["published"] for p in state["graph"]["posts"] if "Ngày hội" in p.get("message", "")
    ] == [True]

    # --- withdraw another post
    with db.session() as s:
        other_id = s.scalars(select(Post.id).where(Post.folder == other.name)).one()
    page.goto(world["url"] + f"/bai/{other_id}")
    page.click("#nut-rut")
    page.wait_for_url(re.compile(rf"/bai/{other_id}$"))
    assert "Đã ghi nhận cho" in page.inner_text(".flash")
    assert "sẽ được hủy ở đó" in page.inner_text(".flash")  # it was on Facebook's scheduler
    _pass(world, ctx)  # the daemon cancels it there
    with db.session() as s:
        assert {
            p.state for p in s.scalars(select(Publication).where(Publication.post_id == other_id))
        } == {"cancelled"}

    # --- other pages at the laptop size
    pages = [
        ("/suc-khoe", "tinh-trang-kenh.png"),
        ("/danh-sach?loai=tuan-nay", "danh-sach.png"),
        ("/lich?xem=tuan&ngay=2026-12-07", "lich-tuan.png"),
        ("/chia-se?thang=2026-12", None),
        ("/bao-cao", None),
        ("/tai-khoan", None),
    ]
    for path, shot in pages:
        page.goto(world["url"] + path)
        assert page.locator("h1").count() >= 1, path
        assert staff.fits(), path
        if shot:
            staff.shot(shot)

    # --- a phone, 390 px wide
    phone = Page(browser, world["url"], 390, 844)
    phone.login("lan")
    for path in ("/lich?ngay=2026-12-07", f"/bai/{post_id}", "/soan", "/danh-sach", "/suc-khoe"):
        phone.go(path)
        assert phone.fits(), f"{path} is wider than a phone: {phone.too_wide}"
    phone.go("/lich?ngay=2026-12-07")
    assert phone.page.locator(f'a.item[href="/bai/{post_id}"]').first.is_visible()
    phone.shot("lich-dien-thoai.png")
    phone.go(f"/bai/{post_id}")
    phone.shot("bai-viet-dien-thoai.png")

    for who in (staff, approver, phone):
        assert [p for p in who.problems if "Content Security Policy" in p or "Refused" in p] == []
        assert who.problems == [], who.problems
