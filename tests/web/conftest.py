"""The web console's fixtures: a queue, accounts of each role, logged-in test clients."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from PIL import Image
from starlette.testclient import TestClient

from social_publisher.config import Settings, load_settings
from social_publisher.services import accounts
from social_publisher.store import Database

ROOT = Path(__file__).parents[2]
#: 08:00 on Monday 2 March 2026 in Đức Phổ
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
PASSWORD = "mat-khau-du-dai-1"
PEOPLE = {
    "an": ("Nguyễn Văn An", "staff"),
    "hung": ("Võ Thanh Hùng", "approver"),
    "lan": ("Trần Thị Lan", "approver"),
    "quan": ("Lê Minh Quân", "admin"),
}


@pytest.fixture(autouse=True)
def cheap_argon2() -> Iterator[None]:
    """The real argon2id, with parameters light enough for a test suite."""
    accounts.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    accounts.use_hasher(None)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Runner:
    """Records what the console asked to be carried out."""

    def __init__(self) -> None:
        self.nudged: list[int | None] = []

    def nudge(self, post_id: int | None) -> str:
        self.nudged.append(post_id)
        return "(đã báo tiến trình nền)"


@pytest.fixture
def web_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    (tmp_path / "queue").mkdir()
    shutil.copy(ROOT / "agencies.csv", tmp_path / "agencies.csv")
    return env


@pytest.fixture
def settings(web_env: dict[str, str]) -> Settings:
    return load_settings(web_env, dotenv_path=None)


@pytest.fixture
def people(db: Database) -> dict[str, int]:
    return {
        name: accounts.add(
            db, name, full_name=full, role=role, password=PASSWORD, now=T0, actor="test"
        ).id
        for name, (full, role) in PEOPLE.items()
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runner() -> Runner:
    return Runner()


@pytest.fixture
def app(settings: Settings, db: Database, clock: Clock, runner: Runner) -> Any:
    from social_publisher.web.app import create_app

    return create_app(settings, db, clock=clock, runner=runner)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


class Browser:
    """A test client with the account's session and the page's CSRF token at hand."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, follow_redirects=False, **kw)

    def token(self, url: str = "/lich") -> str:
        return csrf_of(self.client.get(url).text)

    def post(
        self, url: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any
    ) -> Any:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf", self.token())
        return self.client.post(url, data=form, follow_redirects=False, **kw)

    def flash(self, response: Any) -> str:
        page = self.client.get(response.headers["location"]).text
        found = re.search(r'class="flash[^"]*"[^>]*>([^<]*)<', page)
        assert found, "no message on the page"
        import html

        return html.unescape(found.group(1))


def log_in(app: Any, name: str) -> Browser:
    """A client of ``app`` logged in as ``name`` (password :data:`PASSWORD`)."""
    client = TestClient(app)
    token = csrf_of(client.get("/dang-nhap").text)
    answer = client.post(
        "/dang-nhap",
        data={"ten": name, "mat_khau": PASSWORD, "csrf": token, "tiep": "/lich"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return Browser(client)


@pytest.fixture
def login(app: Any, people: dict[str, int]) -> Callable[[str], Browser]:
    return lambda name: log_in(app, name)


def jpeg(color: str = "red", size: tuple[int, int] = (1200, 900)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", quality=85)
    return out.getvalue()


def write_post(
    queue: Path,
    folder: str,
    *,
    approved_by: str | None = None,
    when: str = "05/03/2026 08:00",
    photos: int = 0,
    extra: str = "",
    body: str = "Nội dung bài viết.",
) -> Path:
    path = queue / folder
    path.mkdir(parents=True)
    header = f"Tiêu đề: Bài {folder}\nThời gian đăng: {when}\nKênh: facebook, zalo\n"
    if approved_by:
        header += f"Người duyệt: {approved_by}\n"
    (path / "bai-viet.txt").write_text(header + extra + "\n" + body + "\n", encoding="utf-8")
    for i in range(photos):
        (path / f"anh-{i + 1}.jpg").write_bytes(jpeg(["red", "blue", "green"][i % 3]))
    return path


COMPOSE_FORM = {
    "tieu_de": "Ngày Chuyển đổi số quốc gia",
    "thoi_gian": "2026-03-05T08:00",
    "kenh": ["facebook", "zalo"],
    "noi_dung": "Hưởng ứng Ngày Chuyển đổi số.\n\nMời bà con tham gia.",
    "chia_se": "mac-dinh",
}
