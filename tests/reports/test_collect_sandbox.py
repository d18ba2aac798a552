"""collect() over real HTTP: the sandbox (request counts, feed shares) and `responses`."""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from sqlalchemy import select

from social_publisher.channels.facebook import FacebookChannel
from social_publisher.cli import main
from social_publisher.config import Settings, load_settings
from social_publisher.sandbox import Sandbox
from social_publisher.services.engagement import UNAVAILABLE_KEY, collect
from social_publisher.services.setup_checks import agency_token_diagnoses, status_warnings
from social_publisher.services.shares import share_matrix
from social_publisher.store import ChannelHealth, Database, EngagementSnapshot, Meta, Share
from social_publisher.store.tenancy import unit_key

START = datetime(2024, 10, 12, 1, 0, tzinfo=UTC)
AGENCY_TOKEN = "agency-token-pho-hoa-3c9d"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> Iterator[Sandbox]:
    box = Sandbox(clock=clock, graph_refused_metrics=("post_total_media_view_unique",))
    box.start()
    yield box
    box.stop()


@pytest.fixture
def sb_settings(env: dict[str, str], sandbox: Sandbox) -> Settings:
    return load_settings(
        {**env, **sandbox.env(), "FB_TOKEN_PHO_HOA": AGENCY_TOKEN}, dotenv_path=None
    )


def _requests(sandbox: Sandbox) -> dict[str, Any]:
    answer = requests.get(f"{sandbox.url}/__sandbox/requests", timeout=5)
    answer.raise_for_status()
    return answer.json()  # type: ignore[no-any-return]


def _graph_requests(sandbox: Sandbox) -> int:
    return int(_requests(sandbox)["halves"].get("graph", 0))


def _seed(db: Database, sandbox: Sandbox, h: type, n: int) -> list[dict[str, Any]]:
    """n posts live on the sandbox Page and Zalo OA, and as publications in the DB."""
    out = []
    for i in range(n):
        at = START - timedelta(days=2, minutes=i)
        fb_id = sandbox.graph.add_post(f"Bài {i}", created_time=at)
        sandbox.graph.add_engagement(fb_id, reactions=i, comments=i % 7, shares=i % 3, views=10 * i)
        assert sandbox.zalo is not None
        art = sandbox.zalo.add_article(f"Bài {i}", created=at, views=5 * i, shares=i % 4)
        ids = h.add_post(
            db,
            f"bai-{i:03d}",
            f"Bài {i}",
            at,
            remote_ids={"facebook": fb_id, "zalo": art},
            remote_urls={"facebook": sandbox.graph.post(fb_id)["permalink_url"]},
        )
        out.append({"i": i, "fb": fb_id, "zalo": art, **ids})
    return out


def test_collect_against_the_sandbox_costs_two_requests_per_50_posts(
    loaded: Database, sandbox: Sandbox, sb_settings: Settings, clock: Clock, h: type
) -> None:
    n = 120
    seeded = _seed(loaded, sandbox, h, n)
    before = _graph_requests(sandbox)
    report = collect(loaded, sb_settings, now=START, detect=False)
    assert report.ok, report.errors
    assert report.collected == {"facebook": n, "zalo": n}
    fb_requests = _graph_requests(sandbox) - before
    # counters + insights per 50 ids; the first time, the refused metric costs one failed
    # lookup and one probe per metric (the channel learns which one the Page refuses)
    assert fb_requests <= 2 * math.ceil(n / 50) + 3, _requests(sandbox)["routes"]
    assert report.unavailable_metrics == ["post_total_media_view_unique"]

    with loaded.session() as s:
        snaps = {sn.publication_id: sn for sn in s.scalars(select(EngagementSnapshot))}
        meta = s.get(Meta, unit_key(s, UNAVAILABLE_KEY.format(page_id=sb_settings.fb_page_id)))
        assert meta is not None and meta.value["metrics"] == ["post_total_media_view_unique"]
    for item in seeded:
        fb, zl = snaps[item["facebook"]], snaps[item["zalo"]]
        i = item["i"]
        assert (fb.reactions, fb.comments, fb.shares, fb.views, fb.reach) == (
            i,
            i % 7,
            i % 3,
            10 * i,
            None,
        )
        assert (zl.views, zl.shares) == (5 * i, i % 4)

    # the next run knows the refused metric: exactly one batch request per 50 posts and
    # metric family (counters, insights), no probing, no legacy lookups
    before = _requests(sandbox)["routes"]
    again = collect(loaded, sb_settings, now=START, everything=True, detect=False)
    assert again.collected["facebook"] == n
    after = _requests(sandbox)["routes"]
    graph = {
        k: v - before.get(k, 0)
        for k, v in after.items()
        if "/zalo/" not in k and v != before.get(k, 0)
    }
    assert graph == {"POST /{version}/ (batch)": 2 * math.ceil(n / 50)}
    assert sandbox.graph.state()["legacy_refused"] == {}


def test_collect_a_deleted_post_and_null_entries_cost_nobody_their_figures(
    loaded: Database, sandbox: Sandbox, sb_settings: Settings, h: type
) -> None:
    n = 60
    seeded = _seed(loaded, sandbox, h, n)
    gone = seeded[17]
    requests.delete(
        f"{sandbox.url}/{sb_settings.fb_graph_version}/{gone['fb']}",
        headers={"Authorization": f"Bearer {sb_settings.fb_page_access_token}"},
        timeout=5,
    ).raise_for_status()
    sandbox.faults.set("graph.batch_entry=null:x6")  # six entries left unprocessed once
    report = collect(loaded, sb_settings, now=START, detect=False)
    assert sandbox.faults.describe()["fired"] == {"graph.batch_entry=null:x6": 6}
    assert report.collected == {"facebook": n - 1, "zalo": n}
    assert report.not_found == [f"facebook:{gone['fb']}"]
    with loaded.session() as s:
        snaps = {sn.publication_id: sn for sn in s.scalars(select(EngagementSnapshot))}
    for item in seeded:
        if item is gone:
            assert item["facebook"] not in snaps
            continue
        fb = snaps[item["facebook"]]
        i = item["i"]
        assert (fb.reactions, fb.comments, fb.views) == (i, i % 7, 10 * i), i


def test_wrong_app_secret_at_collection_is_said_once_with_the_fix(
    loaded: Database, sandbox: Sandbox, env: dict[str, str], h: type
) -> None:
    wrong = load_settings(
        {**env, **sandbox.env(), "FB_APP_SECRET": "khoa-cua-ung-dung-khac-1234"}, dotenv_path=None
    )
    _seed(loaded, sandbox, h, 3)
    report = collect(loaded, wrong, now=START, detect=False)
    [error] = report.errors
    assert error.startswith("Facebook: không đọc được số liệu của 3 bài. FB_APP_SECRET trong .env")
    assert report.collected == {"zalo": 3}
    with loaded.session() as s:
        health = s.get(ChannelHealth, unit_key(s, "facebook"))
    assert (
        health is not None and health.state == "setup" and "FB_APP_SECRET" in (health.reason or "")
    )


def _agencies_with(token_app: str) -> str:
    lines = AGENCIES_CSV_WITH_APP.splitlines()
    return "\n".join(
        [
            lines[0],
            *(ln + (token_app if ln.startswith("phuong-pho-hoa,") else "") for ln in lines[1:]),
        ]
    )


AGENCIES_CSV_WITH_APP = """id,name,group,fb_page_id,fb_page_url,zalo_oa_id,token_setting,token_app
phuong-pho-hoa,UBND phường Phổ Hòa,xa-phuong,2000001,https://www.facebook.com/phuongphohoa,,FB_TOKEN_PHO_HOA,
phuong-nguyen-nghiem,UBND phường Nguyễn Nghiêm,xa-phuong,2000002,https://www.facebook.com/nguyennghiem,,,
"""


def test_agency_token_of_another_app_marks_the_agency_unreadable_with_the_fix(
    loaded: Database, sandbox: Sandbox, sb_settings: Settings, clock: Clock, h: type
) -> None:
    seeded = _seed(loaded, sandbox, h, 2)
    # Phổ Hòa's token comes from its own app; its row wrongly says "through our app"
    sandbox.graph.add_agency_page("2000001", token=AGENCY_TOKEN, name="UBND phường Phổ Hòa")
    sandbox.graph.add_share("2000001", seeded[0]["fb"], created_time=START - timedelta(days=1))
    sb_settings.agencies_file.write_text(_agencies_with("chung"), encoding="utf-8")
    report = collect(loaded, sb_settings, now=START)
    assert report.shares is not None and report.shares.pages_read == 0
    [problem] = report.shares.errors
    assert problem.startswith("UBND phường Phổ Hòa: mã truy cập ở FB_TOKEN_PHO_HOA do ứng dụng")
    assert "Invalid appsecret_proof" in problem and "cột token_app" in problem
    assert str(sb_settings.agencies_file) in problem and AGENCY_TOKEN not in problem
    assert report.collected == {"facebook": 2, "zalo": 2}  # our counters are untouched
    with loaded.session() as s:
        assert s.scalars(select(Share)).all() == []
        assert s.get(ChannelHealth, unit_key(s, "facebook")) is None  # our channel is fine
    warnings = status_warnings(sb_settings, loaded, START)
    assert any("Không đọc được Trang đơn vị: UBND phường Phổ Hòa" in w for w in warnings)
    fb = FacebookChannel(sb_settings, sleep=lambda _s: None)
    [check] = [
        d
        for d in agency_token_diagnoses(loaded, sb_settings, fb)
        if "2000001" in d.message or "Phổ Hòa" in d.message
    ]
    assert not check.ok and "cột token_app" in check.message

    # the fix: the default (its own app, no proof): read, the share found, the mark cleared
    sb_settings.agencies_file.write_text(_agencies_with(""), encoding="utf-8")
    report = collect(loaded, sb_settings, now=START, everything=True)
    assert report.shares is not None and report.shares.pages_read == 1
    assert report.shares.found == [("phuong-pho-hoa", seeded[0]["facebook"])]
    assert not any("Phổ Hòa" in w for w in status_warnings(sb_settings, loaded, START))
    [check] = agency_token_diagnoses(loaded, sb_settings, fb)
    assert check.ok and "ứng dụng riêng" in check.message


def test_agency_token_through_our_app_that_requires_a_proof(
    loaded: Database, sandbox: Sandbox, sb_settings: Settings, h: type
) -> None:
    seeded = _seed(loaded, sandbox, h, 1)
    sandbox.graph.add_agency_page("2000001", token=AGENCY_TOKEN, issued_by="ours")
    sandbox.graph.set_require_proof()  # our app: "Require App Secret" on
    sandbox.graph.add_share("2000001", seeded[0]["fb"], created_time=START - timedelta(days=1))
    sb_settings.agencies_file.write_text(_agencies_with(""), encoding="utf-8")
    report = collect(loaded, sb_settings, now=START)
    assert report.shares is not None
    [problem] = report.shares.errors
    assert "Require App Secret" in problem and "ghi chung ở cột token_app" in problem
    sb_settings.agencies_file.write_text(_agencies_with("chung"), encoding="utf-8")
    report = collect(loaded, sb_settings, now=START, everything=True)
    assert report.shares is not None and report.shares.errors == []
    assert report.shares.found == [("phuong-pho-hoa", seeded[0]["facebook"])]


def test_agency_shares_found_in_feeds(
    loaded: Database, sandbox: Sandbox, sb_settings: Settings, clock: Clock, h: type
) -> None:
    seeded = _seed(loaded, sandbox, h, 3)
    sandbox.graph.add_agency_page("2000001", token=AGENCY_TOKEN, name="UBND phường Phổ Hòa")
    sandbox.graph.add_agency_page("2000002", token="other-agency-token-77", name="Nguyễn Nghiêm")
    first, second, third = seeded
    pub_time = START - timedelta(days=2)
    sandbox.graph.add_share("2000001", first["fb"], created_time=pub_time + timedelta(hours=2))
    sandbox.graph.add_share(
        "2000001", second["fb"], created_time=pub_time + timedelta(hours=30), via="link"
    )
    sandbox.graph.add_agency_post("2000001", "Tin khác của phường", created_time=pub_time)
    sandbox.graph.add_share("2000002", third["fb"], created_time=pub_time + timedelta(hours=1))

    report = collect(loaded, sb_settings, now=START)
    assert report.shares is not None
    assert report.shares.pages_read == 1  # only Phổ Hòa granted a token
    assert sorted(report.shares.found) == [
        ("phuong-pho-hoa", first["facebook"]),
        ("phuong-pho-hoa", second["facebook"]),
    ]
    with loaded.session() as s:
        rows = s.scalars(select(Share).order_by(Share.publication_id)).all()
    assert [(r.source, r.verified) for r in rows] == [("feed", True), ("feed", True)]
    assert rows[0].shared_at == pub_time + timedelta(hours=2)

    m = share_matrix(loaded, sb_settings, None, None, now=START)
    pho_hoa = m.per_agency["phuong-pho-hoa"]
    assert (pho_hoa.on_time, pho_hoa.late, pho_hoa.missing) == (1, 1, 1)

    # read again within 3 hours: the feed is not re-read (small Pages' budgets)
    before = _graph_requests(sandbox)
    again = collect(loaded, sb_settings, now=START + timedelta(hours=1))
    assert again.shares is not None and again.shares.pages_read == 0
    assert _graph_requests(sandbox) == before


def test_agency_token_missing_from_env_is_a_note(
    loaded: Database, sandbox: Sandbox, env: dict[str, str], h: type
) -> None:
    settings = load_settings({**env, **sandbox.env()}, dotenv_path=None)
    _seed(loaded, sandbox, h, 1)
    report = collect(loaded, settings, now=START, detect=True)
    assert report.shares is not None
    assert report.shares.notes == [
        "UBND phường Phổ Hòa: chưa có mã truy cập ở biến FB_TOKEN_PHO_HOA trong .env, "
        "bỏ qua việc đọc Trang."
    ]


# ------------------------------------------------------------------ responses


GRAPH = "https://graph.example.test"


@responses.activate
def test_collect_with_responses_counts_and_values(
    db: Database, env: dict[str, str], h: type
) -> None:
    settings = load_settings(
        {
            **env,
            "FB_GRAPH_URL": GRAPH,
            "FB_PAGE_ID": "1000001",
            "FB_PAGE_ACCESS_TOKEN": "unit-token-abcdef",
        },
        dotenv_path=None,
    )
    published = datetime(2024, 10, 10, 0, 30, tzinfo=UTC)
    pubs = [
        h.add_post(
            db,
            f"bai-{i}",
            f"Bài {i}",
            published,
            channels=("facebook",),
            remote_ids={"facebook": f"1000001_{900 + i}"},
        )
        for i in range(60)
    ]

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        assert "unit-token-abcdef" not in request.url  # the token travels in a header
        assert "ids" not in parse_qs(urlsplit(request.url).query)  # refused to new apps
        form = parse_qs(request.body if isinstance(request.body, str) else request.body.decode())
        entries = json.loads(form["batch"][0])
        assert len(entries) <= 50
        out = []
        for entry in entries:
            path = urlsplit(entry["relative_url"]).path
            post_id = path.split("/")[0]
            if path.endswith("/insights"):
                body: dict[str, Any] = {
                    "data": [
                        {"name": "post_media_view", "values": [{"value": 7}]},
                        {"name": "post_total_media_view_unique", "values": [{"value": 5}]},
                    ]
                }
            else:
                body = {
                    "id": post_id,
                    "reactions": {"data": [], "summary": {"total_count": int(post_id[-3:])}},
                    "comments": {"data": [], "summary": {"total_count": 2}},
                    **({"shares": {"count": 1}} if int(post_id[-3:]) % 2 else {}),
                }
            out.append({"code": 200, "body": json.dumps(body)})
        return 200, {"Content-Type": "application/json"}, json.dumps(out)

    responses.add_callback(responses.POST, re.compile(rf"{GRAPH}/v27\.0/?$"), callback=answer)
    report = collect(
        db,
        settings,
        now=published + timedelta(hours=2),
        facebook=FacebookChannel(settings, sleep=lambda _s: None),
        detect=False,
    )
    assert len(responses.calls) == 4  # 2 × ⌈60/50⌉, not 60
    assert report.snapshots == 60
    with db.session() as s:
        snap = s.scalars(
            select(EngagementSnapshot).where(
                EngagementSnapshot.publication_id == pubs[3]["facebook"]
            )
        ).one()
    assert (snap.reactions, snap.comments, snap.shares, snap.views, snap.reach) == (903, 2, 1, 7, 5)


def _cli(
    argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out, err = io.StringIO(), io.StringIO()
    code = main(["--env-file", "/nonexistent/.env", *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_collect_against_the_sandbox(
    loaded: Database,
    sandbox: Sandbox,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    h: type,
) -> None:
    _seed(loaded, sandbox, h, 3)
    sandbox.graph.add_agency_page("2000001", token="the-token-phuong-really-has")
    full = {**env, **sandbox.env(), "FB_TOKEN_PHO_HOA": AGENCY_TOKEN}
    code, out, err = _cli(["collect", "--now", START.isoformat()], full, monkeypatch)
    # the agency's token in .env is not the one its Page accepts: reported, counters kept
    assert code == 1
    assert err.startswith(
        "Lỗi: UBND phường Phổ Hòa: mã truy cập Trang ở FB_TOKEN_PHO_HOA không còn hiệu lực"
    )
    assert AGENCY_TOKEN not in out + err
    sandbox.graph.add_agency_page("2000001", token=AGENCY_TOKEN)
    code, out, err = _cli(["collect", "--all", "--now", START.isoformat()], full, monkeypatch)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "Thu thập số liệu lúc 12/10/2024 08:00: 6 bài đến lượt (Facebook 3, Zalo 3)."
    assert lines[1] == "Đã lưu 6 bản ghi số liệu (Facebook 3, Zalo 3)."
    assert "Chia sẻ của đơn vị: đọc 1 Trang, tìm thấy 0 lượt chia sẻ mới." in lines
    later = (START + timedelta(minutes=30)).isoformat()
    code, out, _ = _cli(["collect", "--now", later], full, monkeypatch)
    assert code == 0 and out.startswith(
        "Thu thập số liệu lúc 12/10/2024 08:30: chưa có bài nào đến lượt."
    )
    code, out, _ = _cli(
        ["collect", "--all", "--json", "--now", START.isoformat()], full, monkeypatch
    )
    assert code == 0 and json.loads(out)["snapshots"] == 6


def test_cli_collect_with_channels_off(
    db: Database, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, h: type
) -> None:
    h.add_post(db, "bai", "Bài", START - timedelta(days=1))
    code, out, err = _cli(["collect", "--now", START.isoformat()], env, monkeypatch)
    assert (code, err) == (0, "")
    assert "Lưu ý: Facebook chưa được cấu hình (thiếu FB_PAGE_ID, FB_PAGE_ACCESS_TOKEN)" in out
    code, _, err = _cli(["collect", "--now", "hôm qua"], env, monkeypatch)
    assert code == 2 and err.startswith("Lỗi: thời điểm --now không hợp lệ")
