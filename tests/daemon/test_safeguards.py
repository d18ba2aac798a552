"""The publisher's safeguards against the fake platforms: Zalo's settle window counted
exactly, posts other publications hold never adopted, an unverifiable match held for a
person, nothing created while the platform cannot be looked at, an empty queue folder
that is a fault and not a withdrawal, reconcile logs that name posts by title."""

from __future__ import annotations

import logging
import random
import shutil
from datetime import timedelta

import pytest
from sqlalchemy import update

from social_publisher.config import load_settings
from social_publisher.errors import AppSecretProofError, TransientError, UnverifiedMatchError
from social_publisher.services.daemon import build_context, run_pass
from social_publisher.services.planner import plan, staff_publish_now, staff_withdraw
from social_publisher.store import Attempt, ChannelHealth, Post, Publication
from social_publisher.store.tenancy import unit_key

from .conftest import T0, add_post, pubs, unknown


def test_zalo_not_found_is_believed_only_after_the_whole_settle_window(db, make_ctx, clock, zalo):
    """ZALO_SETTLE_SECONDS (90) from the attempt's start, not 2 s less."""
    post = add_post(db, "cho-du", publish_at=T0, channels=("zalo",))
    zalo.script["create_article"] = [unknown("zalo")]  # sent, no answer, nothing made
    ctx = make_ctx()
    run_pass(ctx, clock())
    started = T0
    clock.now = started + timedelta(seconds=89)
    run_pass(ctx, clock())
    assert pubs(db, post)["zalo"].state == "publishing"  # Zalo may still be processing
    with db.session() as s:
        assert s.query(Attempt).filter_by(action="reconcile").count() == 0
    clock.now = started + timedelta(seconds=100)  # past the window and the re-look's lease
    run_pass(ctx, clock())
    with db.session() as s:
        assert s.query(Attempt).filter_by(action="reconcile", outcome="not_found").count() == 1


def test_a_post_another_publication_holds_is_never_adopted(db, make_ctx, clock, fb):
    """Two posts with the same text: the second one's lost create answer must not make it
    adopt the first one's post (withdraw --live would then take down the wrong one)."""
    same = {"channels": ("facebook",), "title": "Lịch tiếp công dân", "body": "Thứ Năm."}
    first = add_post(db, "tuan-1", publish_at=T0, **same)
    ctx = make_ctx()
    run_pass(ctx, clock())
    assert pubs(db, first)["facebook"].remote_id == "facebook-1"
    clock.advance(60)  # a minute later: both inside the lookup's window
    second = add_post(db, "tuan-2", publish_at=clock(), **same)
    fb.script["publish"] = [("after", unknown())]  # created as facebook-2, answer lost
    for _ in range(3):
        run_pass(ctx, clock())
        clock.advance(5)
    assert pubs(db, second)["facebook"].remote_id == "facebook-2"
    assert pubs(db, first)["facebook"].remote_id == "facebook-1"
    assert len(fb.live()) == 2


def test_an_unverifiable_match_is_held_for_a_person_then_publish_now_decides(
    db, make_ctx, clock, zalo
):
    post = add_post(db, "khong-chac", publish_at=T0, channels=("zalo",))
    zalo.script["create_article"] = [unknown("zalo")]
    doubt = UnverifiedMatchError("content unreadable", platform="zalo", candidate="https://z/a1")
    zalo.script["find_published"] = [None, doubt]  # the look before creating, then reconcile
    ctx = make_ctx()
    run_pass(ctx, clock())
    clock.advance(120)
    run_pass(ctx, clock())
    pub = pubs(db, post)["zalo"]
    assert pub.state == "needs_attention"
    assert "https://z/a1" in pub.attention_reason
    assert "withdraw khong-chac" in pub.attention_reason
    assert "publish-now khong-chac" in pub.attention_reason
    assert [c for c, _ in zalo.calls].count("create_article") == 1  # nothing sent again

    staff_publish_now(db, "khong-chac", now=clock(), actor="staff")
    zalo.script["find_published"] = [doubt]  # staff looked and decided: publish
    run_pass(ctx, clock())
    assert pubs(db, post)["zalo"].state == "published"
    assert [c for c, _ in zalo.calls].count("create_article") == 2


def test_nothing_is_created_while_the_platform_cannot_be_looked_at(db, make_ctx, clock, fb):
    post = add_post(db, "xem-truoc", publish_at=T0, channels=("facebook",))
    fb.script["find_published"] = [TransientError("HTTP 500", platform="facebook")]
    ctx = make_ctx()
    run_pass(ctx, clock())
    pub = pubs(db, post)["facebook"]
    assert pub.state == "due" and pub.next_attempt_at is not None
    assert "publish" not in [c for c, _ in fb.calls]
    clock.now = pub.next_attempt_at
    run_pass(ctx, clock())
    assert pubs(db, post)["facebook"].state == "published" and len(fb.live()) == 1


def test_a_wrong_setting_met_while_looking_blocks_the_channel_and_creates_nothing(
    db, make_ctx, clock, fb
):
    """Issue 11's SetupError (here Graph refusing our appsecret_proof) met by the look before
    creating: the channel stops with the setting's advice, the post waits, not for staff."""
    post = add_post(db, "sai-cau-hinh", publish_at=T0, channels=("facebook",))
    advice = "FB_APP_SECRET không phải của ứng dụng đã cấp token: sửa .env rồi chạy retry."
    fb.script["find_published"] = [
        AppSecretProofError(advice, proof_sent=True, platform="facebook", code=100)
    ]
    ctx = make_ctx()
    run_pass(ctx, clock())
    pub = pubs(db, post)["facebook"]
    assert pub.state == "due" and pub.next_attempt_at is None and pub.attention_reason is None
    assert "publish" not in [c for c, _ in fb.calls]
    with db.session() as s:
        health = s.get_one(ChannelHealth, unit_key(s, "facebook"))
        assert health.state == "setup" and health.reason == advice
    clock.advance(3600)
    run_pass(ctx, clock())  # blocked until staff fix it: not even looked at again
    assert [c for c, _ in fb.calls] == ["find_published"]


def test_a_post_already_on_the_page_is_adopted_not_published(db, make_ctx, clock, fb):
    """The database lost its history: the post went out before; it is found first."""
    post = add_post(db, "da-co", publish_at=T0 - timedelta(hours=2), channels=("facebook",))
    ctx = make_ctx()
    plan(db, now=clock())
    with db.session() as s:
        outgoing = ctx.publisher.outgoing(s, s.get_one(Publication, pubs(db, post)["facebook"].id))
    fb._new(outgoing)  # on the Page already, unknown to this database
    run_pass(ctx, clock())
    assert pubs(db, post)["facebook"].state == "published"
    assert "publish" not in [c for c, _ in fb.calls] and len(fb.live()) == 1
    with db.session() as s:
        [looked] = s.query(Attempt).filter_by(action="look_first").all()
        assert looked.outcome == "adopted" and looked.remote_id == "facebook-1"


def test_the_reconcile_log_names_the_post_by_its_title(
    db, make_ctx, clock, zalo, caplog: pytest.LogCaptureFixture
):
    post = add_post(db, "lay-lai", publish_at=T0, channels=("zalo",), title="Ngày hội CĐS")
    plan(db, now=T0)
    with db.session() as s:  # a worker claimed it, then died before sending anything
        s.execute(
            update(Publication)
            .where(Publication.post_id == post)
            .values(state="publishing", claimed_by="dead", lease_until=T0 - timedelta(1))
        )
    caplog.set_level(logging.INFO, logger="social_publisher")
    run_pass(make_ctx(), clock())
    assert "Lấy lại bài 'Ngày hội CĐS' trên Zalo OA (tiến trình trước đã dừng)." in caplog.text


# ---------------------------------------------------------------- an empty queue folder


def test_a_queue_that_suddenly_lost_all_its_folders_withdraws_nothing(
    db, daemon_env, clock, fb, tmp_path
):
    settings = load_settings({**daemon_env, "QUEUE_SETTLE_SECONDS": "0"}, dotenv_path=None)
    for name, days in (("hen-1", 2), ("hen-2", 3)):
        folder = settings.queue_dir / name
        folder.mkdir(parents=True)
        due = (T0 + timedelta(days=days)).astimezone(settings.tz)
        (folder / "bai-viet.txt").write_text(
            f"Tiêu đề: Bài {name}\nThời gian đăng: {due:%d/%m/%Y %H:%M}\nKênh: facebook\n"
            "Người duyệt: Võ Thanh Hùng\n\nNội dung.\n",
            encoding="utf-8",
        )
    ctx = build_context(
        settings, db, clock=clock, channels={"facebook": fb}, render=False, worker="w1",
        rng=random.Random(1),
    )  # fmt: skip
    run_pass(ctx, clock())
    assert {p.state for p in pubs(db).values()} == {"scheduled_remote"}

    for folder in settings.queue_dir.iterdir():  # the USB disk is unplugged: an empty folder
        shutil.rmtree(folder)
    clock.advance(60)
    result = run_pass(ctx, clock())
    assert any("đang trống trong khi còn 2 lượt đăng đang chờ" in e for e in result.errors)
    assert {p.state for p in pubs(db).values()} == {"scheduled_remote"}
    assert len(fb.live()) == 2 and "cancel" not in [c for c, _ in fb.calls]
    with db.session() as s:
        assert {p.state for p in s.query(Post)} == {"ready"}

    for name in ("hen-1", "hen-2"):  # staff who really mean it withdraw each post
        staff_withdraw(db, name, now=clock(), actor="staff")
    clock.advance(60)
    result = run_pass(ctx, clock())
    assert not result.errors
    assert len(fb.live()) == 0  # cancelled on Facebook's scheduler, as asked


def test_a_pass_step_that_meets_a_full_disk_says_so_in_vietnamese(db, dsettings, clock, fb):
    import sqlite3

    from sqlalchemy.exc import OperationalError

    def full(*args: object) -> None:
        raise OperationalError(
            "INSERT ...", {}, sqlite3.OperationalError("database or disk is full")
        )

    ctx = build_context(dsettings, db, clock=clock, channels={"facebook": fb}, ingest=full)
    result = run_pass(ctx, clock())
    [error] = result.errors
    assert error.startswith("quét hàng đợi: Ổ đĩa chứa cơ sở dữ liệu")
    assert "OperationalError" not in error
