# ruff: noqa: E501  (exact CLI output: staff lines are long)
"""Staff actions as typed: ``withdraw --live`` asks first; a mistyped post name is suggested."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from social_publisher.cli import main
from social_publisher.services.logs import teardown_logging
from social_publisher.store import AuditEvent, Database, Post, Publication

from .conftest import add_post, pubs

Run = Callable[..., tuple[int, str, str]]


class Terminal(io.StringIO):
    """Stdin as a person at a terminal: it answers what was typed."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def run(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Run:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("FB_PAGE_ID", "FB_PAGE_ACCESS_TOKEN", "ZALO_APP_ID", "ZALO_APP_SECRET"):
        monkeypatch.delenv(key, raising=False)

    def call(*argv: str, stdin: io.StringIO | None = None) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", stdin if stdin is not None else io.StringIO(""))
        out, err = io.StringIO(), io.StringIO()
        code = main(["--env-file", "/nonexistent/.env", *argv], out=out, err=err)
        teardown_logging()
        return code, out.getvalue(), err.getvalue()

    return call


def live_post(db: Database) -> int:
    """A post live on both platforms (as the daemon would have left it)."""
    post = add_post(
        db,
        "Hội nghị CĐS tháng 12",
        title="Hội nghị chuyển đổi số tháng 12",
        publish_at=datetime.now(UTC) - timedelta(days=1),
    )
    with db.session() as s:
        for channel, url in (
            ("facebook", "https://www.facebook.com/100/posts/7"),
            ("zalo", "https://zalo.me/a/42"),
        ):
            s.add(
                Publication(
                    post_id=post,
                    channel=channel,
                    state="published",
                    remote_id=url.rsplit("/", 1)[-1],
                    remote_url=url,
                    published_at=datetime.now(UTC) - timedelta(days=1),
                )
            )
    return post


def nothing_happened(db: Database, post: int) -> None:
    assert {p.state for p in pubs(db, post).values()} == {"published"}
    with db.session() as s:
        assert s.get(Post, post).override is None  # type: ignore[union-attr]
        assert not s.scalars(select(AuditEvent).where(AuditEvent.event == "staff_withdraw")).all()


def test_withdraw_live_refuses_without_a_terminal(run: Run, db: Database) -> None:
    post = live_post(db)
    code, out, err = run("withdraw", str(post), "--live")
    assert (code, out) == (1, "")
    assert err == (
        f"Không gỡ bài 'Hội nghị chuyển đổi số tháng 12' (thư mục Hội nghị CĐS tháng 12, số {post}): gỡ bài đã đăng thì không hoàn tác được, nên lệnh cần được xác nhận ở màn hình. Chạy lại trong cửa sổ lệnh, hoặc thêm --yes nếu chạy từ script.\n"
    )
    nothing_happened(db, post)


def test_withdraw_live_asks_naming_the_post_and_stops_on_enter(run: Run, db: Database) -> None:
    post = live_post(db)
    code, out, err = run("withdraw", "Hội nghị CĐS tháng 12", "--live", stdin=Terminal("\n"))
    assert (code, err) == (1, "")
    assert out == (
        f"Sắp gỡ bài 'Hội nghị chuyển đổi số tháng 12' (thư mục Hội nghị CĐS tháng 12, số {post}) khỏi:\n"
        "  - Facebook: https://www.facebook.com/100/posts/7\n"
        "  - Zalo OA: https://zalo.me/a/42\n"
        "Việc này KHÔNG hoàn tác được: bài và các lượt thích, bình luận, chia sẻ trên trang sẽ mất. Gõ 'có' để gỡ, hoặc Enter để thôi: "
        "Đã thôi: không gỡ, không thay đổi gì.\n"
    )
    nothing_happened(db, post)


TAKEN_DOWN = """\
Bài 'Hội nghị chuyển đổi số tháng 12' (Hội nghị CĐS tháng 12):
  - Facebook: kênh đang tắt (thiếu cấu hình) nên không gỡ được; gỡ trực tiếp trên trang.
  - Zalo OA: kênh đang tắt (thiếu cấu hình) nên không gỡ được; gỡ trực tiếp trên trang.
  Không có gì thay đổi.
"""


@pytest.mark.parametrize("answer", ["có\n", "Co\n", "C\n"])
def test_withdraw_live_goes_on_when_staff_say_yes(run: Run, db: Database, answer: str) -> None:
    post = live_post(db)
    code, out, err = run("withdraw", str(post), "--live", stdin=Terminal(answer))
    assert (code, err) == (0, "")
    assert out.endswith("Gõ 'có' để gỡ, hoặc Enter để thôi: " + TAKEN_DOWN)
    with db.session() as s:
        assert s.get(Post, post).override == "withdraw"  # type: ignore[union-attr]


def test_withdraw_live_yes_skips_the_question_for_scripts(run: Run, db: Database) -> None:
    post = live_post(db)
    assert run("withdraw", str(post), "--live", "--yes") == (0, TAKEN_DOWN, "")


def test_withdraw_live_of_a_post_not_live_asks_nothing(run: Run, db: Database) -> None:
    post = add_post(db, "chua-dang", publish_at=datetime.now(UTC) + timedelta(days=3))
    code, out, err = run("withdraw", "chua-dang", "--live")
    assert (code, err) == (0, "")
    assert out == (
        "Bài 'Bài chua-dang' (chua-dang):\n"
        "  - Bài chưa đăng trên kênh nào: không có gì để gỡ.\n"
        "  Không có gì thay đổi.\n"
    )
    assert post


@pytest.mark.parametrize(
    "command", [["publish-now"], ["retry"], ["withdraw"], ["withdraw", "--live"]]
)
def test_a_mistyped_post_name_suggests_the_folder(
    run: Run, db: Database, command: list[str]
) -> None:
    post = live_post(db)
    add_post(db, "vneid", publish_at=datetime.now(UTC) + timedelta(days=3))
    code, out, err = run(command[0], "hoi nghi cds", *command[1:])
    assert (code, out) == (1, "")
    assert err == (
        f"Lỗi: Không tìm thấy bài 'hoi nghi cds'. Có phải ý bạn là \"Hội nghị CĐS tháng 12\" (số {post})? Dùng tên thư mục bài trong hàng đợi hoặc số của bài (cột Số của lệnh 'social-publisher status').\n"
    )
    nothing_happened(db, post)


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("HỘI NGHỊ CĐS", "Hội nghị CĐS tháng 12"),
        ("hoi-nghi-cds-thang-12", "Hội nghị CĐS tháng 12"),
        ("hoi ngi cds thang 12", "Hội nghị CĐS tháng 12"),
        ("vneld", "vneid"),
    ],
)
def test_suggestions_ignore_accents_case_and_punctuation(
    run: Run, db: Database, written: str, meant: str
) -> None:
    live_post(db)
    add_post(db, "vneid", publish_at=datetime.now(UTC) + timedelta(days=3))
    _, _, err = run("publish-now", written)
    assert f'Có phải ý bạn là "{meant}"' in err


def test_an_unknown_number_says_where_numbers_are(run: Run, db: Database) -> None:
    live_post(db)
    assert run("publish-now", "999") == (
        1,
        "",
        "Lỗi: Không có bài số 999. Dùng tên thư mục bài trong hàng đợi hoặc số của bài (cột Số của lệnh 'social-publisher status').\n",
    )
