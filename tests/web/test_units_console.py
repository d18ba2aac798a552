"""The console in an install of two units: a ward's account sees and acts on its ward only,
a province account sees both and filters, the composer writes into the unit's own queue."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from social_publisher.config import Settings, load_settings
from social_publisher.services import accounts
from social_publisher.services.ingest import ingest
from social_publisher.services.planner import plan
from social_publisher.store import (
    Approval,
    AuditEvent,
    ConsoleWrite,
    Database,
    Post,
    PostVersion,
    Publication,
    WebAccount,
)
from social_publisher.units import Unit, load_units

from .conftest import (
    COMPOSE_FORM,
    PASSWORD,
    T0,
    Browser,
    Clock,
    Runner,
    csrf_of,
    log_in,
    write_post,
)

A, B = "phuong-pho-minh", "xa-pho-phong"
UNITS_TOML = f"""
[[don_vi]]
id = "{A}"
name = "UBND phường Phổ Minh"

[[don_vi]]
id = "{B}"
name = "UBND xã Phổ Phong"
"""
#: name: (full name, role, unit)
PEOPLE = {
    "an.pm": ("Nguyễn Văn An", "staff", A),
    "hung.pm": ("Võ Thanh Hùng", "approver", A),
    "lan.pp": ("Trần Thị Lan", "approver", B),
    "tinh": ("Lê Minh Quân", "admin", None),
}


@pytest.fixture
def two_env(web_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    (tmp_path / "units.toml").write_text(UNITS_TOML, encoding="utf-8")
    return {**web_env, "UNITS_FILE": str(tmp_path / "units.toml")}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def install(request: pytest.FixtureRequest, two_env: dict[str, str]) -> Iterator[Database]:
    """The install's database (default-unit handle), on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        database = Database(load_settings(two_env, dotenv_path=None).database_url)
        database.upgrade()
        yield database
        database.dispose()
    else:
        yield request.getfixturevalue("pg_db")


@pytest.fixture
def units(two_env: dict[str, str], install: Database) -> list[Unit]:
    found = load_units(load_settings({**two_env, "DATABASE_URL": install.url}, dotenv_path=None))
    for unit in found:
        unit.settings.queue_dir.mkdir(parents=True)
    return found


@pytest.fixture
def by_id(units: list[Unit]) -> dict[str, Unit]:
    return {u.id: u for u in units}


@pytest.fixture
def posts(install: Database, by_id: dict[str, Unit]) -> dict[str, int]:
    """One post waiting for approval in each unit, and a failed one in B (to retry)."""
    write_post(by_id[A].queue_dir, "bai-pho-minh", photos=1)
    write_post(by_id[B].queue_dir, "bai-pho-phong", photos=1)
    write_post(by_id[B].queue_dir, "bai-loi-pho-phong", approved_by="Trần Thị Lan")
    found: dict[str, int] = {}
    for unit in by_id.values():
        db = install.for_unit(unit.id)
        ingest(db, unit.settings, now=T0)
        plan(db, now=T0)
        with db.session() as session:
            found.update({p.folder: p.id for p in session.scalars(select(Post))})
    with install.for_unit(B).session() as session:  # the approved one failed for good
        for pub in session.scalars(
            select(Publication).where(Publication.post_id == found["bai-loi-pho-phong"])
        ):
            pub.state = "needs_attention"
            pub.attention_reason = "lỗi thử"
    return found


@pytest.fixture
def runner() -> Runner:
    return Runner()


@pytest.fixture
def app(units: list[Unit], install: Database, runner: Runner) -> Any:
    from social_publisher.web.app import create_app

    everywhere = install.everywhere()
    for name, (full, role, unit) in PEOPLE.items():
        accounts.add(
            everywhere, name, full_name=full, role=role, password=PASSWORD, now=T0,
            actor="test", unit=unit, units=units, all_units=unit is None,
        )  # fmt: skip
    return create_app(units[0].settings, install, units=units, clock=Clock(), runner=runner)


@pytest.fixture
def login(app: Any) -> Callable[[str], Browser]:
    return lambda name: log_in(app, name)


def _snapshot(install: Database) -> list[Any]:
    """Everything an action could change, across both units."""
    with install.everywhere().session() as session:
        return [
            sorted(session.execute(select(Post.id, Post.state, Post.approved_by, Post.override))),
            sorted(session.execute(select(Publication.id, Publication.state, Publication.due_at))),
            session.scalar(select(func.count()).select_from(Approval)),
            session.scalar(select(func.count()).select_from(AuditEvent)),
            session.scalar(select(func.count()).select_from(ConsoleWrite)),
            session.scalar(select(func.count()).select_from(PostVersion)),
        ]


def _digest(install: Database, post_id: int) -> str:
    with install.everywhere().session() as session:
        post = session.get(Post, post_id)
        assert post is not None and post.current_version is not None
        return post.current_version.content_hash


def _folders(unit: Unit) -> set[str]:
    return {p.name for p in unit.queue_dir.iterdir()}


# ------------------------------------------------------------------ a ward's account


def test_a_ward_account_lists_only_its_ward(
    login: Callable[[str], Browser], posts: dict[str, int]
) -> None:
    ward = login("hung.pm")
    pages = [
        "/lich?ngay=2026-03-05",
        "/lich?xem=tuan&ngay=2026-03-05",
        "/danh-sach?loai=tuan-nay",
        "/danh-sach?loai=cho-duyet",
        "/danh-sach?loai=can-xu-ly",
        f"/danh-sach?loai=cho-duyet&don_vi={B}",  # the filter cannot widen a ward's view
        f"/lich?ngay=2026-03-05&don_vi={B}",
    ]
    for url in pages:
        page = ward.get(url)
        assert page.status_code == 200, url
        assert (
            "bai-pho-phong" not in page.text and f"/bai/{posts['bai-pho-phong']}" not in page.text
        )
        assert "bai-loi-pho-phong" not in page.text
        assert "chon-don-vi" not in page.text, "a ward account has no unit filter"
    waiting = ward.get("/danh-sach?loai=cho-duyet").text
    assert "Bài bai-pho-minh" in waiting and f"/bai/{posts['bai-pho-minh']}" in waiting
    assert "UBND phường Phổ Minh" in waiting  # its unit is named, on the page and the row


def test_another_wards_post_is_a_404_and_no_action_changes_anything(
    login: Callable[[str], Browser], posts: dict[str, int], install: Database,
    by_id: dict[str, Unit], runner: Runner,
) -> None:  # fmt: skip
    ward = login("hung.pm")  # an approver of A: every action is in its role
    other, failed = posts["bai-pho-phong"], posts["bai-loi-pho-phong"]
    missing = ward.get("/bai/999999")
    assert missing.status_code == 404
    for url in (
        f"/bai/{other}", f"/bai/{other}/trang-thai", f"/bai/{other}/sua",
        f"/bai/{other}/anh/facebook/0", f"/bai/{other}/go-bai", f"/bai/{failed}",
    ):  # fmt: skip
        page = ward.get(url)
        assert page.status_code == 404, url
        assert page.text == missing.text, url  # exactly a missing post: nothing of its content
    text_file = by_id[B].queue_dir / "bai-pho-phong" / "bai-viet.txt"
    before_text = text_file.read_text(encoding="utf-8")
    before = _snapshot(install)
    token = ward.token()
    actions: list[tuple[str, dict[str, Any]]] = [
        (f"/bai/{other}/duyet", {"ban": _digest(install, other)}),
        (f"/bai/{other}/bo-duyet", {}),
        (f"/bai/{failed}/thu-lai", {}),
        (f"/bai/{other}/rut", {}),
        (f"/bai/{failed}/dang-ngay", {}),
        (f"/bai/{failed}/go-bai", {"xac_nhan": "bai-loi-pho-phong"}),
        (
            f"/bai/{other}/sua",
            {**COMPOSE_FORM, "tieu_de": "Sửa trộm", "ban": _digest(install, other)},
        ),
    ]
    for url, data in actions:
        answer = ward.post(url, {**data, "csrf": token})
        assert answer.status_code == 404, url
        assert "Bài bai-pho-phong" not in answer.text
    assert _snapshot(install) == before
    assert text_file.read_text(encoding="utf-8") == before_text
    assert _folders(by_id[A]) == {"bai-pho-minh"} and "Sửa trộm" not in before_text
    assert runner.nudged == []
    # the same approver acts on its own ward's post: the refusals above were the unit's
    own = posts["bai-pho-minh"]
    answer = ward.post(f"/bai/{own}/duyet", {"ban": _digest(install, own), "csrf": token})
    assert answer.status_code == 303 and runner.nudged == [own]
    with install.for_unit(A).session() as session:
        assert session.scalars(select(Approval.account)).all() == ["hung.pm"]


def test_a_ward_staff_member_composes_into_its_own_queue(
    login: Callable[[str], Browser], posts: dict[str, int], install: Database,
    by_id: dict[str, Unit],
) -> None:  # fmt: skip
    staff = login("an.pm")
    form = staff.get("/soan").text
    assert "UBND phường Phổ Minh" in form and "chon-don-vi" not in form
    answer = staff.post(f"/soan?don_vi={B}", COMPOSE_FORM)  # the query cannot move a ward
    assert answer.status_code == 303
    made = _folders(by_id[A]) - {"bai-pho-minh"}
    assert len(made) == 1 and _folders(by_id[B]) == {"bai-pho-phong", "bai-loi-pho-phong"}
    with install.for_unit(A).session() as session:
        post = session.scalars(select(Post).where(Post.folder == made.pop())).one()
        assert post.unit_id == A and post.title == COMPOSE_FORM["tieu_de"]
        assert session.scalars(select(ConsoleWrite.unit_id)).all() == [A]


def test_the_composer_refuses_a_ward_account_another_units_handle(
    install: Database, by_id: dict[str, Unit]
) -> None:
    """Defence in depth: the service itself, handed B's handle by mistake, writes nothing."""
    from social_publisher.services import composer
    from social_publisher.services.scope import NotAllowed, Role, Scope

    ward = Scope("an.pm", "Nguyễn Văn An", Role.STAFF, A)
    draft = composer.Draft(
        title="Bài lạc", when="2026-03-05T08:00", channels=["facebook"], body="Nội dung."
    )
    with pytest.raises(NotAllowed):
        composer.save(install.for_unit(B), by_id[B].settings, ward, draft, now=T0)
    assert _folders(by_id[B]) == set()


def test_a_ward_accounts_calendar_feed_is_its_wards(
    login: Callable[[str], Browser], posts: dict[str, int], install: Database
) -> None:
    ward = login("hung.pm")
    assert ward.post("/tai-khoan/lich").status_code == 303
    url = re.search(r"(/lich/[^\s\"<]+\.ics)", ward.client.get("/tai-khoan").text)
    assert url is not None
    feed = TestClient(ward.client.app).get(url.group(1)).text
    assert "Bài bai-pho-minh" in feed and "bai-pho-phong" not in feed
    with install.for_unit(A).session() as session:  # the ward's own audit log
        assert "web_feed_secret_made" in session.scalars(select(AuditEvent.event)).all()


def test_an_account_of_a_unit_not_in_the_units_file_is_refused(
    app: Any, install: Database, units: list[Unit], posts: dict[str, int]
) -> None:
    with install.everywhere().session() as session:  # the unit left UNITS_FILE since
        session.execute(
            update(WebAccount).where(WebAccount.name == "an.pm").values(unit="phuong-cu")
        )
    client = TestClient(app)
    token = csrf_of(client.get("/dang-nhap").text)
    client.post("/dang-nhap", data={"ten": "an.pm", "mat_khau": PASSWORD, "csrf": token})
    page = client.get("/danh-sach?loai=cho-duyet")
    assert page.status_code == 403 and "phuong-cu" in page.text
    assert "bai-pho-minh" not in page.text and "bai-pho-phong" not in page.text


# ------------------------------------------------------------------ a province account


def test_a_province_account_sees_both_units_and_filters(
    login: Callable[[str], Browser], posts: dict[str, int]
) -> None:
    province = login("tinh")
    every = province.get("/danh-sach?loai=cho-duyet").text
    assert "Bài bai-pho-minh" in every and "Bài bai-pho-phong" in every
    assert 'id="chon-don-vi"' in every and "Tất cả đơn vị" in every
    assert every.count("UBND xã Phổ Phong</td>") == 2  # each row names its unit (two channels)
    only_a = province.get(f"/danh-sach?loai=cho-duyet&don_vi={A}").text
    assert "Bài bai-pho-minh" in only_a and "Bài bai-pho-phong" not in only_a
    assert f'<option value="{A}" selected>' in only_a
    only_b = province.get(f"/lich?ngay=2026-03-05&don_vi={B}").text
    assert "Bài bai-pho-phong" in only_b and "Bài bai-pho-minh" not in only_b
    assert f"don_vi={B}" in only_b  # the month's arrows keep the filter
    attention = province.get("/danh-sach?loai=can-xu-ly").text
    assert "Bài bai-loi-pho-phong" in attention
    calendar = province.get("/lich?ngay=2026-03-05").text
    assert "Bài bai-pho-minh" in calendar and "Bài bai-pho-phong" in calendar
    post = province.get(f"/bai/{posts['bai-pho-phong']}")
    assert post.status_code == 200 and "UBND xã Phổ Phong" in post.text
    health = province.get(f"/suc-khoe?don_vi={B}").text
    assert "UBND xã Phổ Phong" in health


def test_a_province_account_acts_with_the_posts_unit(
    login: Callable[[str], Browser], posts: dict[str, int], install: Database, runner: Runner
) -> None:
    province = login("tinh")
    other, failed = posts["bai-pho-phong"], posts["bai-loi-pho-phong"]
    answer = province.post(f"/bai/{other}/duyet", {"ban": _digest(install, other)})
    assert answer.status_code == 303
    answer = province.post(f"/bai/{failed}/thu-lai")
    assert answer.status_code == 303 and runner.nudged == [other, failed]
    with install.for_unit(B).session() as session:
        assert session.scalars(select(Approval.account)).all() == ["tinh"]
        states = session.scalars(select(Publication.state).where(Publication.post_id == failed))
        assert "needs_attention" not in set(states)
    with install.for_unit(A).session() as session:
        assert session.scalars(select(Approval)).all() == []


def test_a_province_account_picks_the_unit_it_composes_for(
    login: Callable[[str], Browser], posts: dict[str, int], install: Database,
    by_id: dict[str, Unit],
) -> None:  # fmt: skip
    province = login("tinh")
    picker = province.get("/soan")
    assert picker.status_code == 200 and 'id="chon-don-vi"' in picker.text
    assert 'name="tieu_de"' not in picker.text and "Tất cả đơn vị" not in picker.text
    refused = province.post("/soan", COMPOSE_FORM)
    assert refused.status_code == 422 and "Chưa chọn đơn vị" in refused.text
    assert _folders(by_id[A]) == {"bai-pho-minh"}
    form = province.get(f"/soan?don_vi={B}").text
    assert f'action="/soan?don_vi={B}"' in form and "UBND xã Phổ Phong" in form
    answer = province.post(f"/soan?don_vi={B}", COMPOSE_FORM)
    assert answer.status_code == 303
    made = _folders(by_id[B]) - {"bai-pho-phong", "bai-loi-pho-phong"}
    assert len(made) == 1 and _folders(by_id[A]) == {"bai-pho-minh"}
    with install.for_unit(B).session() as session:
        assert session.scalars(select(Post.unit_id).where(Post.folder == made.pop())).one() == B


# ------------------------------------------------------------------ one unit: as before


def test_a_one_unit_install_shows_no_unit_anywhere(
    login_one: Callable[[str], Browser], settings: Settings, db: Database
) -> None:
    write_post(settings.queue_dir, "bai-mot")
    ingest(db, settings, now=T0)
    browser = login_one("hung")
    for url in ("/lich?ngay=2026-03-05", "/danh-sach?loai=cho-duyet", "/soan", "/suc-khoe"):
        page = browser.get(url).text
        assert "chon-don-vi" not in page and "Đơn vị:" not in page, url
        assert "mọi đơn vị" not in page and 'class="unit"' not in page, url
    assert "Bài bai-mot" in browser.get("/danh-sach?loai=cho-duyet").text


@pytest.fixture
def login_one(app_one: Any, people: dict[str, int]) -> Callable[[str], Browser]:
    def log_in(name: str) -> Browser:
        client = TestClient(app_one)
        token = csrf_of(client.get("/dang-nhap").text)
        client.post("/dang-nhap", data={"ten": name, "mat_khau": PASSWORD, "csrf": token})
        return Browser(client)

    return log_in


@pytest.fixture
def app_one(settings: Settings, db: Database) -> Any:
    from social_publisher.web.app import create_app

    return create_app(settings, db, clock=Clock(), runner=Runner())
