"""Every page, every action and every refusal of the console, through Starlette's test client."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select
from starlette.testclient import TestClient

from social_publisher.services.ingest import ingest
from social_publisher.services.planner import plan
from social_publisher.store import Approval, AuditEvent, ChannelHealth, Database, Post, Publication
from social_publisher.store.tenancy import unit_key

from .conftest import COMPOSE_FORM, PASSWORD, T0, csrf_of, jpeg, write_post

PAGES = [
    "/lich",
    "/lich?xem=tuan&ngay=2026-03-05",
    "/lich?kenh=zalo&trang-thai=waiting",
    "/danh-sach",
    "/danh-sach?loai=tuan-nay",
    "/danh-sach?loai=can-xu-ly",
    "/danh-sach?loai=cho-duyet",
    "/soan",
    "/bai/{id}",
    "/bai/{id}/trang-thai",
    "/bai/{id}/sua",
    "/bai/{id}/anh/facebook/0",
    "/suc-khoe",
    "/chia-se",
    "/bao-cao",
    "/tai-khoan",
]
ACTIONS = [
    "/dang-xuat",
    "/soan",
    "/bai/{id}/sua",
    "/bai/{id}/duyet",
    "/bai/{id}/bo-duyet",
    "/bai/{id}/thu-lai",
    "/bai/{id}/rut",
    "/bai/{id}/dang-ngay",
    "/bai/{id}/go-bai",
    "/kenh/facebook/mo-lai",
    "/bao-cao",
    "/tai-khoan/lich",
]


@pytest.fixture
def post_id(settings: Any, db: Database) -> int:
    write_post(settings.queue_dir, "bai-mau", photos=1)
    ingest(db, settings, now=T0)
    with db.session() as s:
        return s.scalars(select(Post.id)).one()


def _compose(browser: Any, photos: list[tuple[str, bytes, str]] | None = None, **form: Any) -> Any:
    data = {**COMPOSE_FORM, **form}
    files = [("anh_moi", photo) for photo in (photos or [])]
    return browser.post("/soan", data, files=files or None)


# ------------------------------------------------------------------ log-in and refusals


@pytest.mark.parametrize("page", PAGES)
def test_every_page_needs_a_log_in(app: Any, page: str, post_id: int) -> None:
    url = page.format(id=post_id)
    answer = TestClient(app).get(url, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/dang-nhap?tiep=")


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_needs_a_log_in(app: Any, action: str, post_id: int) -> None:
    client = TestClient(app)
    token = csrf_of(client.get("/dang-nhap").text)
    answer = client.post(action.format(id=post_id), data={"csrf": token}, follow_redirects=False)
    assert answer.status_code == 401 and "Phiên đăng nhập đã hết" in answer.text


@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_for_a_staff_member(login: Any, page: str, post_id: int) -> None:
    answer = login("an").get(page.format(id=post_id))
    assert answer.status_code == 200, answer.text[:500]
    if "/anh/" in page:
        assert answer.headers["content-type"] == "image/jpeg"
    elif page.endswith("/trang-thai"):  # the fragment htmx refreshes
        assert answer.text.startswith('<section id="trang-thai"')
    else:
        assert "Nguyễn Văn An" in answer.text  # the page knows who is logged in


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_refuses_a_missing_csrf_token(login: Any, action: str, post_id: int) -> None:
    browser = login("quan")  # an admin: the role is never the reason here
    answer = browser.post(action.format(id=post_id), {}, csrf=False)
    assert answer.status_code == 403 and "CSRF" in answer.text
    wrong = browser.post(action.format(id=post_id), {"csrf": "x" * 43})
    assert wrong.status_code == 403


@pytest.mark.parametrize(
    ("who", "action"),
    [
        ("an", "/bai/{id}/duyet"),
        ("an", "/bai/{id}/bo-duyet"),
        ("an", "/bai/{id}/dang-ngay"),
        ("an", "/bai/{id}/go-bai"),
        ("an", "/kenh/facebook/mo-lai"),
        ("hung", "/kenh/facebook/mo-lai"),
    ],
)
def test_wrong_role_is_refused(
    login: Any, db: Database, who: str, action: str, post_id: int
) -> None:
    answer = login(who).post(action.format(id=post_id), {"ban": "x"})
    assert answer.status_code == 403 and "không có quyền" in answer.text
    with db.session() as s:
        assert s.scalars(select(Approval)).all() == []
        events = {e.event for e in s.scalars(select(AuditEvent))}
    assert not events & {"approved", "staff_publish_now", "removed_live", "channel_health"}


def test_login_wrong_password_throttle_and_redirects(app: Any, people: Any) -> None:
    client = TestClient(app)
    token = csrf_of(client.get("/dang-nhap").text)
    form = {"ten": "an", "mat_khau": "sai-mat-khau", "csrf": token}
    for _ in range(5):
        bad = client.post("/dang-nhap", data=form, follow_redirects=False)
        assert bad.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu" in bad.text
    locked = client.post("/dang-nhap", data={**form, "mat_khau": PASSWORD}, follow_redirects=False)
    assert locked.status_code == 429 and "thử lại sau" in locked.text
    # another account from another client is not locked by these failures of "an"'s name
    other = TestClient(app, client=("10.0.0.9", 5000))
    token = csrf_of(other.get("/dang-nhap").text)
    ok = other.post(
        "/dang-nhap",
        data={"ten": "hung", "mat_khau": PASSWORD, "csrf": token, "tiep": "//evil.example/x"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/lich"  # never off-site
    no_csrf = TestClient(app).post("/dang-nhap", data={"ten": "hung", "mat_khau": PASSWORD})
    assert no_csrf.status_code == 403


def test_session_cookie_and_security_headers(app: Any, people: Any) -> None:
    client = TestClient(app)
    page = client.get("/dang-nhap")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in page.text and " style=" not in page.text  # nothing inline
    answer = client.post(
        "/dang-nhap",
        data={"ten": "an", "mat_khau": PASSWORD, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert PASSWORD not in answer.headers["set-cookie"]


def test_a_password_change_ends_other_sessions(login: Any, db: Database) -> None:
    from social_publisher.services import accounts

    browser = login("an")
    assert browser.get("/lich").status_code == 200
    accounts.set_password(db, "an", "mot-mat-khau-moi-2", now=T0, actor="test")
    assert browser.get("/lich").status_code == 303  # back to the log-in page


def test_logout(login: Any) -> None:
    browser = login("an")
    assert browser.post("/dang-xuat").status_code == 303
    assert browser.get("/lich").status_code == 303


# ------------------------------------------------------------------ compose and edit


def test_compose_writes_the_staff_format(login: Any, settings: Any, db: Database) -> None:
    browser = login("an")
    answer = _compose(
        browser,
        [("IMG 0001.JPG", jpeg("red"), "image/jpeg"), ("ảnh hai.png", _png(), "image/png")],
        lien_ket="https://dichvucong.gov.vn",
        chia_se="chon",
        don_vi=["phuong-pho-van", "thi-doan-duc-pho"],
        thu_tu="moi:1,moi:0",
        anh_bia="moi:0",
    )
    assert answer.status_code == 303, answer.text[:800]
    [folder] = [p for p in settings.queue_dir.iterdir()]
    assert folder.name == "2026-03-05-ngay-chuyen-doi-so-quoc-gia"
    assert sorted(p.name for p in folder.iterdir()) == [
        "anh-hai.png",
        "bai-viet.txt",
        "img-0001.jpg",
    ]
    assert (folder / "bai-viet.txt").read_text(encoding="utf-8") == (
        "Tiêu đề: Ngày Chuyển đổi số quốc gia\n"
        "Thời gian đăng: 05/03/2026 08:00\n"
        "Kênh: facebook, zalo\n"
        "Ảnh: anh-hai.png, img-0001.jpg\n"
        "Ảnh bìa: img-0001.jpg\n"
        "Liên kết: https://dichvucong.gov.vn\n"
        "Chia sẻ: phuong-pho-van, thi-doan-duc-pho\n"
        "\n"
        "Hưởng ứng Ngày Chuyển đổi số.\n\nMời bà con tham gia.\n"
    )
    with db.session() as s:
        post = s.scalars(select(Post)).one()
        assert answer.headers["location"] == f"/bai/{post.id}"
        assert post.state == "draft" and post.approved_by is None  # waits for an approver
        assert post.current_version.problems == []  # `check` finds nothing wrong
        assert [i["name"] for i in post.current_version.images] == ["anh-hai.png", "img-0001.jpg"]
    page = browser.get(answer.headers["location"]).text
    assert "chờ duyệt" in page or "bản nháp" in page
    assert "/bai/1/anh/facebook/0" in page and "/bai/1/anh/zalo_cover/0" in page


def _png(size: tuple[int, int] = (900, 700)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "green").save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("photo", "message"),
    [
        (("thu.jpg", b"this is not a photo at all" * 20, "image/jpeg"), "không phải là ảnh"),
        (("cat-cut.jpg", jpeg()[:2000], "image/jpeg"), "bị cắt cụt"),
        (("tiff.jpg", None, "image/jpeg"), "hàng đợi chỉ nhận JPEG"),
    ],
)
def test_bad_upload_is_refused_and_nothing_is_written(
    login: Any, settings: Any, photo: Any, message: str
) -> None:
    if photo[1] is None:
        out = io.BytesIO()
        Image.new("RGB", (800, 600)).save(out, "TIFF")
        photo = (photo[0], out.getvalue(), photo[2])
    answer = _compose(login("an"), [photo])
    assert answer.status_code == 422
    assert message in answer.text, re.findall(r"<li>(.*?)</li>", answer.text)
    assert list(settings.queue_dir.iterdir()) == []


def test_upload_names_cannot_leave_the_post_folder(
    login: Any, settings: Any, tmp_path: Path
) -> None:
    answer = _compose(
        login("an"),
        [("../../../thoat-ra.jpg", jpeg(), "image/jpeg"), ("..\\..\\x.png", _png(), "image/png")],
    )
    assert answer.status_code == 303
    [folder] = list(settings.queue_dir.iterdir())
    assert sorted(p.name for p in folder.iterdir()) == ["bai-viet.txt", "thoat-ra.jpg", "x.png"]
    assert not (tmp_path / "thoat-ra.jpg").exists() and not list(tmp_path.glob("*.png"))


def test_decompression_bomb_is_refused(login: Any, settings: Any) -> None:
    from PIL import Image as Pil

    out = io.BytesIO()
    Pil.new("1", (12000, 12000)).save(out, "PNG")  # 144 MP in a few kB
    answer = _compose(login("an"), [("bom.png", out.getvalue(), "image/png")])
    assert answer.status_code == 422
    assert list(settings.queue_dir.iterdir()) == []


def test_oversized_upload_and_body_cap(web_env: Any, db: Database, people: Any, clock: Any) -> None:
    from social_publisher.config import load_settings
    from social_publisher.web.app import create_app

    settings = load_settings({**web_env, "WEB_UPLOAD_MAX_MB": "1"}, dotenv_path=None)
    client = TestClient(create_app(settings, db, clock=clock))
    token = csrf_of(client.get("/dang-nhap").text)
    client.post("/dang-nhap", data={"ten": "an", "mat_khau": PASSWORD, "csrf": token})
    token = csrf_of(client.get("/soan").text)
    big = jpeg("red", (4000, 3000))[:0] + _noisy_jpeg()
    assert 1.0 < len(big) / 1048576 < 3
    answer = client.post(
        "/soan",
        data={**COMPOSE_FORM, "csrf": token},
        files=[("anh_moi", ("lon.jpg", big, "image/jpeg"))],
    )
    assert answer.status_code == 422 and "quá giới hạn 1 MB" in answer.text
    huge = b"\xff" * (12 * 1024 * 1024 + 10)  # over (photos + 1) x 1 MB + fields
    cut = client.post("/soan", content=huge, headers={"content-type": "application/octet-stream"})
    assert cut.status_code == 413
    assert list(settings.queue_dir.iterdir()) == []


def _noisy_jpeg() -> bytes:
    import random

    rng = random.Random(1)
    image = Image.frombytes(
        "RGB", (1400, 1000), bytes(rng.getrandbits(8) for _ in range(1400 * 1000 * 3))
    )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def test_compose_refuses_a_bad_form_with_the_readers_message(login: Any, settings: Any) -> None:
    answer = _compose(login("an"), thoi_gian="31/11/2026 8h", tieu_de="", kenh=[])
    assert answer.status_code == 422
    assert "Cần có tiêu đề" in answer.text and "Chọn ít nhất một kênh" in answer.text
    assert "31/11/2026 8h" in answer.text  # the date reader's own refusal
    assert list(settings.queue_dir.iterdir()) == []


def test_edit_keeps_unshown_fields_and_drops_the_header_approval(
    login: Any, settings: Any, db: Database
) -> None:
    folder = write_post(
        settings.queue_dir, "sua-bai", approved_by="Võ Thanh Hùng", photos=2,
        extra="Tác giả: Phòng VHTT\n",
    )  # fmt: skip
    ingest(db, settings, now=T0)
    with db.session() as s:
        post = s.scalars(select(Post)).one()
        assert post.state == "ready"
        pid, digest = post.id, post.current_version.content_hash
    browser = login("an")
    form = browser.get(f"/bai/{pid}/sua").text
    assert 'value="Bài sua-bai"' in form and 'value="2026-03-05T08:00"' in form
    answer = browser.post(
        f"/bai/{pid}/sua",
        {**COMPOSE_FORM, "ban": digest, "anh_co_san": ["anh-1.jpg", "anh-2.jpg"],
         "anh_cu": ["anh-2.jpg"], "tieu_de": "Bài đã sửa"},
        files=[("anh_moi", ("moi.jpg", jpeg("green"), "image/jpeg"))],
    )  # fmt: skip
    assert answer.status_code == 303, answer.text[:800]
    text = (folder / "bai-viet.txt").read_text(encoding="utf-8")
    assert "Người duyệt" not in text and "Tác giả: Phòng VHTT" in text
    assert "Ảnh: anh-2.jpg, moi.jpg" in text and not (folder / "anh-1.jpg").exists()
    with db.session() as s:
        post = s.get(Post, pid)
        assert post.title == "Bài đã sửa" and post.state == "draft"  # needs a new approval
    stale = browser.post(f"/bai/{pid}/sua", {**COMPOSE_FORM, "ban": digest})
    assert stale.status_code == 422 and "vừa được sửa ở nơi khác" in stale.text


# ------------------------------------------------------------------ approval


def test_approval_on_record_and_its_rules(login: Any, settings: Any, db: Database) -> None:
    staff, hung, lan = login("an"), login("hung"), login("lan")
    answer = _compose(hung, [("a.jpg", jpeg(), "image/jpeg")])  # hung writes it
    pid = int(answer.headers["location"].rsplit("/", 1)[1])
    page = hung.get(f"/bai/{pid}").text
    assert "không tự duyệt được" in page and 'id="nut-duyet"' not in page
    with db.session() as s:
        digest = s.get(Post, pid).current_version.content_hash
    own = hung.post(f"/bai/{pid}/duyet", {"ban": digest})
    assert "không tự duyệt được" in hung.flash(own)
    stale = lan.post(f"/bai/{pid}/duyet", {"ban": "0" * 64})
    assert "vừa được sửa trong lúc bạn xem" in lan.flash(stale)
    assert 'id="nut-duyet"' in lan.get(f"/bai/{pid}").text
    done = lan.post(f"/bai/{pid}/duyet", {"ban": digest})
    assert "Đã duyệt bài" in lan.flash(done)
    with db.session() as s:
        post = s.get(Post, pid)
        [approval] = s.scalars(select(Approval)).all()
        assert (post.state, post.approved_by) == ("ready", "Trần Thị Lan")
        assert (approval.account, approval.content_hash, approval.approved_at) == (
            "lan",
            digest,
            T0,
        )
        actors = [
            e.actor for e in s.scalars(select(AuditEvent).where(AuditEvent.event == "approved"))
        ]
        assert actors == ["web:lan"]
    plan(db, now=T0)
    with db.session() as s:
        pubs = s.scalars(select(Publication)).all()
        assert {p.channel: p.approved_by for p in pubs} == {
            "facebook": "Trần Thị Lan",
            "zalo": "Trần Thị Lan",
        }
    # an edit after approval voids it: the post goes back to waiting, with a message
    with db.session() as s:
        folder = settings.queue_dir / s.get(Post, pid).folder
    text = (folder / "bai-viet.txt").read_text(encoding="utf-8")
    (folder / "bai-viet.txt").write_text(
        text.replace("Mời bà con", "Kính mời bà con"), encoding="utf-8"
    )
    ingest(db, settings, now=T0)
    plan(db, now=T0)
    with db.session() as s:
        post = s.get(Post, pid)
        assert (post.state, post.approved_by) == ("draft", None)
        assert s.scalars(select(Approval)).one().void_reason == "edited"
        assert {p.state for p in s.scalars(select(Publication))} == {"pending"}
    page = staff.get(f"/bai/{pid}").text
    assert "Bài đã được sửa sau khi Trần Thị Lan duyệt" in page


def test_revoke_takes_the_approval_back(
    login: Any, settings: Any, db: Database, post_id: int
) -> None:
    lan = login("lan")
    with db.session() as s:
        digest = s.get(Post, post_id).current_version.content_hash
    lan.post(f"/bai/{post_id}/duyet", {"ban": digest})
    answer = lan.post(f"/bai/{post_id}/bo-duyet")
    assert "Đã bỏ duyệt" in lan.flash(answer)
    with db.session() as s:
        assert s.get(Post, post_id).state == "draft"
        assert s.scalars(select(Approval)).one().void_reason == "revoked"


# ------------------------------------------------------------------ actions


def _approved(db: Database, settings: Any, folder: str = "duyet-roi") -> int:
    write_post(settings.queue_dir, folder, approved_by="Võ Thanh Hùng")
    ingest(db, settings, now=T0)
    plan(db, now=T0)
    with db.session() as s:
        return s.scalars(select(Post.id).where(Post.folder == folder)).one()


def test_withdraw_retry_publish_now_are_recorded_with_the_account(
    login: Any, settings: Any, db: Database, runner: Any
) -> None:
    pid = _approved(db, settings)
    staff, hung = login("an"), login("hung")
    assert "Đã ghi nhận cho: Facebook, Zalo" in staff.flash(staff.post(f"/bai/{pid}/rut"))
    with db.session() as s:
        assert {p.state for p in s.scalars(select(Publication))} == {"cancelled"}
    hung.post(f"/bai/{pid}/dang-ngay")
    with db.session() as s:
        assert {p.state for p in s.scalars(select(Publication))} == {"due"}
        s.execute(
            Publication.__table__.update().values(
                state="needs_attention", attention_reason="lỗi thử"
            )
        )
    staff.post(f"/bai/{pid}/thu-lai")
    with db.session() as s:
        assert {p.state for p in s.scalars(select(Publication))} == {"due"}
        actors = {
            e.event: e.actor
            for e in s.scalars(select(AuditEvent).where(AuditEvent.event.like("staff_%")))
        }
    assert actors == {
        "staff_withdraw": "web:an",
        "staff_publish_now": "web:hung",
        "staff_retry": "web:an",
    }
    assert runner.nudged == [pid, pid, pid]


def test_take_down_confirmation_names_the_post(login: Any, settings: Any, db: Database) -> None:
    pid = _approved(db, settings, "da-dang")
    with db.session() as s:
        s.execute(
            Publication.__table__.update()
            .where(Publication.channel == "facebook")
            .values(state="published", remote_id="1_2", remote_url="https://facebook.com/1_2")
        )
    hung = login("hung")
    page = hung.get(f"/bai/{pid}").text
    assert f"/bai/{pid}/go-bai" in page and "https://facebook.com/1_2" in page
    confirm = hung.get(f"/bai/{pid}/go-bai").text
    assert "Bài da-dang" in confirm and "Không hoàn tác được" in confirm and "da-dang" in confirm
    wrong = hung.post(f"/bai/{pid}/go-bai", {"xac_nhan": "khác"})
    assert wrong.status_code == 422 and "Gõ đúng tên thư mục" in wrong.text
    done = hung.post(f"/bai/{pid}/go-bai", {"xac_nhan": "da-dang"})
    message = hung.flash(done)
    assert "kênh đang tắt" in message  # no channel configured here: said, nothing pretended
    with db.session() as s:
        remove = s.scalars(select(AuditEvent).where(AuditEvent.event == "staff_withdraw")).one()
        assert remove.actor == "web:hung"


def test_reopen_a_paused_channel(
    web_env: Any, db: Database, people: Any, clock: Any, runner: Any
) -> None:
    from social_publisher.config import load_settings
    from social_publisher.web.app import create_app

    facebook = {**web_env, "FB_PAGE_ID": "123", "FB_PAGE_ACCESS_TOKEN": "EAAB-token-thu"}
    app = create_app(load_settings(facebook, dotenv_path=None), db, clock=clock, runner=runner)
    with db.session() as s:
        s.add(ChannelHealth(channel="facebook", state="auth_failed", reason="token hết hạn"))
    client = TestClient(app)
    token = csrf_of(client.get("/dang-nhap").text)
    client.post("/dang-nhap", data={"ten": "quan", "mat_khau": PASSWORD, "csrf": token})
    from .conftest import Browser

    quan = Browser(client)
    health = quan.get("/suc-khoe").text
    assert "EAAB-token-thu" not in health  # never a token in a page
    assert "token hết hạn" in health and "Mở lại kênh" in health and "Cách xử lý" in health
    assert "Đã mở lại kênh Facebook" in quan.flash(quan.post("/kenh/facebook/mo-lai"))
    with db.session() as s:
        assert s.get(ChannelHealth, unit_key(s, "facebook")).state == "ok"
    assert runner.nudged == [None]


# ------------------------------------------------------------------ calendar, feed, reports


def test_calendar_shows_posts_by_state_and_filters(login: Any, settings: Any, db: Database) -> None:
    write_post(settings.queue_dir, "cho-duyet", when="05/03/2026 08:00")
    write_post(settings.queue_dir, "da-duyet", approved_by="Võ Thanh Hùng", when="06/03/2026 09:30")
    write_post(settings.queue_dir, "co-loi", when="31/02/2026 08:00")
    ingest(db, settings, now=T0)
    plan(db, now=T0)
    browser = login("an")
    month = browser.get("/lich?ngay=2026-03-01").text
    assert "Tháng 3 năm 2026" in month
    assert month.count("cat-waiting") >= 2 and "cat-scheduled" in month
    zalo_waiting = browser.get("/lich?ngay=2026-03-01&kenh=zalo&trang-thai=waiting").text
    assert zalo_waiting.count('class="item cat-waiting"') == 1
    assert zalo_waiting.count('class="item ') == 1
    week = browser.get("/lich?xem=tuan&ngay=2026-03-04").text
    assert "Tuần 02/03 – 08/03/2026" in week and "Bài da-duyet" in week
    fragment = browser.get("/lich?ngay=2026-03-01", headers={"HX-Request": "true"}).text
    assert fragment.startswith('<section id="luoi"')  # htmx swaps the grid alone
    attention = browser.get("/danh-sach?loai=can-xu-ly").text
    assert "Bài co-loi" not in attention  # not approved: a draft with errors, not attention
    drafts = browser.get("/lich?ngay=2026-02-01&trang-thai=draft").text  # 31/02: no date
    assert "Bài co-loi" not in drafts  # a post whose time cannot be read is on no day
    waiting = browser.get("/danh-sach?loai=cho-duyet").text  # drafts are listed there
    assert "Bài co-loi" in waiting and "Bài cho-duyet" in waiting and "Bài da-duyet" not in waiting
    week_list = browser.get("/danh-sach?loai=tuan-nay").text
    assert "Bài da-duyet" in week_list and "Bài cho-duyet" in week_list


def test_feed_secret_is_shown_once_and_serves_the_schedule(
    login: Any, settings: Any, db: Database, caplog: Any
) -> None:
    import logging

    _approved(db, settings)
    browser = login("an")
    browser.post("/tai-khoan/lich")
    page = browser.get("/tai-khoan").text
    url = re.search(r'value="(http://testserver/lich/[^"]+\.ics)"', page).group(1)
    assert url not in browser.get("/tai-khoan").text  # shown once
    with caplog.at_level(logging.INFO, logger="social_publisher.web.access"):
        feed = TestClient(browser.client.app).get(url.replace("http://testserver", ""))
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert "BEGIN:VEVENT" in feed.text and "SUMMARY:[Facebook] Bài duyet-roi" in feed.text
    assert "DTSTART:20260305T010000Z" in feed.text
    secret = url.rsplit("/", 1)[1][:-4]
    assert secret not in caplog.text and "/lich/***.ics" in caplog.text
    assert TestClient(browser.client.app).get("/lich/sai-bi-mat.ics").status_code == 404


def test_report_generated_and_downloaded(login: Any, settings: Any) -> None:
    browser = login("an")
    answer = browser.post("/bao-cao", {"thang": "2026-02"})
    assert "Đã xuất báo cáo vào thư mục bao-cao-2026-02" in browser.flash(answer)
    page = browser.get("/bao-cao").text
    assert "/bao-cao/bao-cao-2026-02/bao-cao-2026-02.xlsx" in page
    file = browser.get("/bao-cao/bao-cao-2026-02/bao-cao-2026-02.xlsx")
    assert file.status_code == 200 and file.content[:2] == b"PK"
    assert browser.get("/bao-cao/bao-cao-2026-02/..%2F..%2Fsp.db").status_code == 404
    assert browser.get("/bao-cao/..%2Fdata/sp.db").status_code == 404


def test_unknown_post_is_404(login: Any) -> None:
    browser = login("an")
    assert browser.get("/bai/999").status_code == 404
    assert browser.get("/bai/abc").status_code == 404
    assert browser.get("/bai/999/anh/facebook/0").status_code == 404
