"""Setup problems and the platforms' unconfirmed answers, end to end: the daemon, the real
channels and the strict sandbox over real sockets, one injected clock (no waiting).

- a ``FB_APP_SECRET`` of another app: the Facebook channel is stopped with advice naming the
  setting, no post is put in "needs attention", and ``retry`` after the fix publishes once;
- a ``PUBLIC_MEDIA_BASE_URL`` Zalo cannot reach: the Zalo channel is stopped, no article;
- one photo scheduled while Graph answers no ``post_id``: the stored id is the post's, so
  rescheduling, "publish now" and insights reach the right object;
- a slow Zalo article (a dropped create, processing for 5 minutes; an undocumented
  "processing" code at verify): never created twice.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from social_publisher.cli import main
from social_publisher.cli.cmd_status import render_text
from social_publisher.config import load_settings
from social_publisher.sandbox import Sandbox
from social_publisher.services.daemon import PassContext, build_context, run_pass
from social_publisher.services.engagement import collect
from social_publisher.services.planner import clear_channel_blocks, staff_publish_now
from social_publisher.services.status import status as status_collect
from social_publisher.store import Attempt, ChannelHealth, Database
from social_publisher.store.tenancy import unit_key

from .conftest import T0, Clock, add_post, pubs, write_image

pytestmark = pytest.mark.e2e

WRONG_SECRET = "khoa-bi-mat-cua-ung-dung-khac-9f2e"


class Rig:
    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.clock = Clock(T0)
        self.sandbox: Sandbox | None = None
        self.db: Database | None = None

    def start(self, overrides: dict[str, str] | None = None, **options: Any) -> PassContext:
        public = self.tmp_path / "public"
        public.mkdir(exist_ok=True)
        self.sandbox = Sandbox(public_dir=public, clock=self.clock, **options)
        self.sandbox.start("127.0.0.1", 0)
        self.full_env = {**self.env, **self.sandbox.env(), **(overrides or {})}
        self.settings = load_settings(self.full_env, dotenv_path=None)
        self.db = Database(self.settings.database_url)
        self.db.upgrade()
        return self.context()

    def context(self, overrides: dict[str, str] | None = None) -> PassContext:
        assert self.db is not None
        if overrides:
            self.full_env = {**self.full_env, **overrides}
            self.settings = load_settings(self.full_env, dotenv_path=None)
        return build_context(
            self.settings,
            self.db,
            clock=self.clock,
            ingest=False,
            worker="w",
            rng=random.Random(3),
        )

    def status(self) -> str:
        assert self.db is not None
        return render_text(status_collect(self.db, self.settings, self.clock()), self.settings.tz)

    def stop(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()
        if self.db is not None:
            self.db.dispose()


@pytest.fixture
def rig(tmp_path: Path, env: dict[str, str]) -> Iterator[Rig]:
    made = Rig(tmp_path, env)
    yield made
    made.stop()


def doctor(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    (rig.tmp_path / "queue").mkdir(exist_ok=True)
    for key, value in rig.full_env.items():
        monkeypatch.setenv(key, value)
    out = io.StringIO()
    code = main(["--env-file", "/nonexistent/.env", "doctor"], out=out, err=out)
    return code, out.getvalue()


def health(db: Database, channel: str) -> ChannelHealth | None:
    with db.session() as s:
        return s.get(ChannelHealth, unit_key(s, channel))


# ---------------------------------------------------------------- FB_APP_SECRET of another app


def test_wrong_app_secret_stops_facebook_with_advice_not_the_posts(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = rig.start({"FB_APP_SECRET": WRONG_SECRET})
    assert rig.db is not None and rig.sandbox is not None
    now_post = add_post(rig.db, "dang-ngay", publish_at=T0, channels=("facebook",))
    later_post = add_post(
        rig.db, "hen-gio", publish_at=T0 + timedelta(hours=3), channels=("facebook",)
    )
    run_pass(ctx, rig.clock())

    states = {p: pubs(rig.db, p)["facebook"].state for p in (now_post, later_post)}
    assert states == {now_post: "due", later_post: "pending"}  # waiting, not "cần xử lý"
    blocked = health(rig.db, "facebook")
    assert blocked is not None and blocked.state == "setup"
    assert "FB_APP_SECRET" in (blocked.reason or "") and "không cần sửa bài" in (
        blocked.reason or ""
    )
    assert rig.sandbox.graph.posts() == []
    # stopped: the next passes send nothing at all
    before = rig.sandbox.request_counts()["total"]
    rig.clock.advance(120)
    run_pass(ctx, rig.clock())
    assert rig.sandbox.request_counts()["total"] == before

    shown = rig.status()
    assert "facebook: dừng vì cấu hình sai (sửa .env, rồi chạy retry) — FB_APP_SECRET" in shown
    assert "cần xử lý" not in shown and "sửa bài theo" not in shown.lower()
    assert WRONG_SECRET not in shown

    code, out = doctor(rig, monkeypatch)
    assert code == 1
    assert "[ LỖI ] FB_APP_SECRET trong .env không phải khóa bí mật của ứng dụng" in out
    assert WRONG_SECRET not in out

    # the fix: the right secret, then "retry" (reopens the channel): each post exactly once
    ctx = rig.context({"FB_APP_SECRET": rig.sandbox.env()["FB_APP_SECRET"]})
    with rig.db.session() as s:
        assert clear_channel_blocks(s, actor="staff", now=rig.clock()) == ["facebook"]
    run_pass(ctx, rig.clock())
    assert pubs(rig.db, now_post)["facebook"].state in ("published", "confirmed")
    assert pubs(rig.db, later_post)["facebook"].state == "scheduled_remote"
    assert len(rig.sandbox.graph.posts()) == 2


def test_collection_meeting_the_wrong_secret_stops_the_channel_too(rig: Rig) -> None:
    ctx = rig.start({"FB_APP_SECRET": WRONG_SECRET})
    assert rig.db is not None and rig.sandbox is not None
    del ctx
    report = collect(rig.db, rig.settings, now=rig.clock(), detect=False, everything=True)
    assert report.errors == []  # nothing was due yet: no call, nothing learnt
    # a live publication to collect
    post_id = rig.sandbox.graph.add_post("Bài đã đăng", created_time=T0 - timedelta(days=1))
    with rig.db.session() as s:
        from social_publisher.store import Post, Publication

        p = Post(folder="da-dang", title="Bài đã đăng")
        s.add(p)
        s.flush()
        s.add(
            Publication(
                post_id=p.id,
                channel="facebook",
                state="confirmed",
                remote_id=post_id,
                published_at=T0 - timedelta(days=1),
            )
        )
    report = collect(rig.db, rig.settings, now=rig.clock(), detect=False, everything=True)
    [error] = report.errors
    assert "FB_APP_SECRET" in error and report.snapshots == 0
    blocked = health(rig.db, "facebook")
    assert blocked is not None and blocked.state == "setup"
    assert "FB_APP_SECRET" in rig.status()


# ---------------------------------------------------------------- public media Zalo cannot reach


@pytest.mark.parametrize(
    ("base", "said"),
    [
        ("http://192.168.1.20/cds-media", "địa chỉ mạng nội bộ"),
        ("http://mayvanphong/cds-media", "tên máy trong mạng văn phòng"),
        ("http://169.254.10.2/cds-media", "link-local"),
        ("https://nas.local/cds-media", "tên dành riêng"),
    ],
)
def test_public_media_zalo_cannot_reach_stops_zalo_not_the_post(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, base: str, said: str
) -> None:
    ctx = rig.start({"PUBLIC_MEDIA_BASE_URL": base}, zalo_processing_seconds=2.0)
    assert rig.db is not None and rig.sandbox is not None
    post = add_post(rig.db, "bai-zalo", publish_at=T0, channels=("zalo",))
    run_pass(ctx, rig.clock())
    pub = pubs(rig.db, post)["zalo"]
    assert pub.state == "due" and pub.attention_reason is None
    blocked = health(rig.db, "zalo")
    assert blocked is not None and blocked.state == "setup"
    assert said in (blocked.reason or "") and "PUBLIC_MEDIA_BASE_URL" in (blocked.reason or "")
    assert rig.sandbox.state()["zalo"]["articles"] == []  # nothing reached Zalo
    assert list((rig.tmp_path / "public").iterdir()) == []  # nothing copied either

    shown = rig.status()
    assert "zalo: dừng vì cấu hình sai" in shown and said in shown
    assert "cần xử lý" not in shown

    code, out = doctor(rig, monkeypatch)
    assert code == 1
    assert f"[ LỖI ] PUBLIC_MEDIA_BASE_URL={base}: " in out and said in out
    assert "Thư mục ảnh công khai được phục vụ đúng" not in out  # no fetch-back to the LAN


def test_loopback_media_is_right_only_when_zalo_runs_here(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = rig.start(zalo_processing_seconds=2.0)  # the sandbox: Zalo on this machine
    assert rig.db is not None and rig.sandbox is not None
    post = add_post(rig.db, "bai-zalo", publish_at=T0, channels=("zalo",))
    run_pass(ctx, rig.clock())
    for _ in range(3):
        rig.clock.advance(3)
        run_pass(ctx, rig.clock())
    assert pubs(rig.db, post)["zalo"].state in ("published", "confirmed")
    code, out = doctor(rig, monkeypatch)
    assert code == 0, out
    assert "đúng vì Zalo API (ZALO_OPENAPI_URL) cũng chạy trên máy này" in out
    # the same loopback URL with the real Zalo: an error (status judges it offline)
    rig.context({"ZALO_OPENAPI_URL": "https://openapi.zalo.me"})
    shown = rig.status()
    assert "địa chỉ loopback" in shown and "PUBLIC_MEDIA_BASE_URL" in shown


# ---------------------------------------------------------------- one scheduled photo


def test_one_scheduled_photo_without_post_id_is_tracked_by_its_post(rig: Rig) -> None:
    ctx = rig.start(graph_photo_post_id="never")
    assert rig.db is not None and rig.sandbox is not None
    folder = rig.settings.queue_dir / "mot-anh"
    image = write_image(folder / "anh.jpg")
    due = T0 + timedelta(hours=4)
    post = add_post(rig.db, "mot-anh", publish_at=due, channels=("facebook",), images=[image])
    run_pass(ctx, rig.clock())
    pub = pubs(rig.db, post)["facebook"]
    assert pub.state == "scheduled_remote"
    [held] = rig.sandbox.graph.posts()
    assert pub.remote_id == held["id"] and "_" in held["id"]  # a post id, not the photo's
    assert held["photo_count"] == 1 and held["status"] == "scheduled"

    # reschedule (a new time in the folder) reaches the post
    later = due + timedelta(hours=2)
    add_post(rig.db, "mot-anh", publish_at=later, channels=("facebook",), images=[image])
    rig.clock.advance(60)
    run_pass(ctx, rig.clock())
    assert pubs(rig.db, post)["facebook"].remote_scheduled_for == later
    assert rig.sandbox.graph.post(held["id"])["scheduled_publish_time"] is not None
    assert rig.sandbox.graph.posts(status="scheduled")[0]["id"] == held["id"]

    # staff's "publish now" reaches it too
    staff_publish_now(rig.db, "mot-anh", now=rig.clock(), actor="staff")
    run_pass(ctx, rig.clock())
    assert rig.sandbox.graph.post(held["id"])["published"] is True
    assert pubs(rig.db, post)["facebook"].state in ("published", "confirmed")

    # insights: the post answers them (a photo id would fail with #100)
    rig.sandbox.graph.add_engagement(held["id"], reactions=5, views=40)
    report = collect(rig.db, rig.settings, now=rig.clock(), detect=False, everything=True)
    assert report.errors == [] and report.collected == {"facebook": 1}
    from social_publisher.store import EngagementSnapshot

    with rig.db.session() as s:
        snap = s.scalars(select(EngagementSnapshot)).one()
    assert (snap.reactions, snap.views) == (5, 40)
    assert len(rig.sandbox.graph.posts()) == 1


def test_one_photo_published_now_without_post_id(rig: Rig) -> None:
    ctx = rig.start(graph_photo_post_id="never")
    assert rig.db is not None and rig.sandbox is not None
    folder = rig.settings.queue_dir / "ngay"
    image = write_image(folder / "anh.jpg", seed=4)
    post = add_post(rig.db, "ngay", publish_at=T0, channels=("facebook",), images=[image])
    run_pass(ctx, rig.clock())
    [live] = rig.sandbox.graph.posts()
    pub = pubs(rig.db, post)["facebook"]
    assert pub.state in ("published", "confirmed") and pub.remote_id == live["id"]
    assert pub.remote_url == live["permalink_url"]


# ---------------------------------------------------------------- a slow Zalo article


def _zalo_post(rig: Rig, folder: str) -> int:
    assert rig.db is not None
    return add_post(rig.db, folder, publish_at=T0, channels=("zalo",), title=f"Tin {folder}")


def _run_for(rig: Rig, ctx: PassContext, seconds: int, step: int = 10) -> None:
    for _ in range(seconds // step):
        rig.clock.advance(step)
        run_pass(ctx, rig.clock())


def _creates(db: Database, pub_id: int) -> int:
    with db.session() as s:
        return len(
            s.scalars(
                select(Attempt).where(Attempt.publication_id == pub_id, Attempt.action == "create")
            ).all()
        )


def test_dropped_create_of_a_slow_article_is_adopted_not_sent_twice(rig: Rig) -> None:
    # Processing takes 5 minutes: longer than the 90 s the tool used to wait.
    ctx = rig.start(faults="zalo.create=drop:x1", zalo_processing_seconds=300.0)
    assert rig.db is not None and rig.sandbox is not None
    post = _zalo_post(rig, "cham")
    run_pass(ctx, rig.clock())
    pub = pubs(rig.db, post)["zalo"]
    assert pub.state == "publishing"  # outcome unknown: look before anything else
    _run_for(rig, ctx, 420)
    articles = rig.sandbox.state()["zalo"]["articles"]
    assert len(articles) == 1  # never created twice
    pub = pubs(rig.db, post)["zalo"]
    assert pub.state in ("published", "confirmed") and pub.remote_id == articles[0]["id"]
    assert _creates(rig.db, pub.id) == 1


def test_undocumented_processing_code_at_verify_never_leads_to_a_second_create(
    rig: Rig,
) -> None:
    # A short settle window, so only verify's own judgement keeps the article from a
    # second create (the longer default window would also have caught it later).
    ctx = rig.start(
        {"ZALO_SETTLE_SECONDS": "60"},
        zalo_processing_seconds=240.0,
        zalo_processing_code=-1234,
        zalo_processing_message="Article is being processed, please wait",
    )
    assert rig.db is not None and rig.sandbox is not None
    post = _zalo_post(rig, "ma-la")
    run_pass(ctx, rig.clock())
    _run_for(rig, ctx, 300)
    articles = rig.sandbox.state()["zalo"]["articles"]
    assert len(articles) == 1
    pub = pubs(rig.db, post)["zalo"]
    assert pub.state in ("published", "confirmed") and pub.remote_id == articles[0]["id"]
    assert _creates(rig.db, pub.id) == 1


def test_zalo_articles_carry_author_and_cover_status(rig: Rig) -> None:
    ctx = rig.start(zalo_processing_seconds=2.0)
    assert rig.db is not None and rig.sandbox is not None
    _zalo_post(rig, "tac-gia")
    run_pass(ctx, rig.clock())
    _run_for(rig, ctx, 10, step=5)
    zalo = rig.sandbox.zalo
    assert zalo is not None
    [article] = rig.sandbox.state()["zalo"]["articles"]
    content = zalo.article(article["id"])
    assert content["author"] == rig.settings.default_author
    assert content["cover"]["status"] == "show"
