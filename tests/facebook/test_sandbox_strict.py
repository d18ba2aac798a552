"""The Graph sandbox as strict as Graph in November 2026: the batch endpoint, the legacy
features refused to new apps, ``appsecret_proof`` per issuing app, expired versions, and a
scheduled photo answered without ``post_id``. Raw HTTP over real sockets."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from social_publisher.sandbox import (
    SANDBOX_FB_APP_ID,
    SANDBOX_FB_APP_SECRET,
    SANDBOX_FB_PAGE_ID,
    SANDBOX_FB_PAGE_TOKEN,
    Sandbox,
)

from .conftest import FakeClock

PAGE = SANDBOX_FB_PAGE_ID
AUTH = {"Authorization": f"Bearer {SANDBOX_FB_PAGE_TOKEN}"}
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
AGENCY_PAGE = "200000000000011"
AGENCY_TOKEN = "agency-token-pho-hoa-77aa"


@pytest.fixture
def box(clock: FakeClock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock) as sandbox:
        yield sandbox


def call(
    sandbox: Sandbox, method: str, path: str, *, version: str = "v27.0", **kwargs: Any
) -> requests.Response:
    headers = {**AUTH, **kwargs.pop("headers", {})}
    return requests.request(
        method, f"{sandbox.url}/{version}/{path}", headers=headers, timeout=5, **kwargs
    )


def error_of(response: requests.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert error["fbtrace_id"] and error["type"]
    return error


def proof(secret: str, token: str) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def batch(sandbox: Sandbox, entries: list[Any], **extra: str) -> requests.Response:
    return call(sandbox, "POST", "", data={"batch": json.dumps(entries), **extra})


# ---------------------------------------------------------------- the synchronous batch


def test_batch_answers_in_order_each_entry_on_its_own(box: Sandbox) -> None:
    first = box.graph.add_post("Một")
    second = box.graph.add_post("Hai")
    box.graph.add_engagement(second, reactions=4)
    entries = [
        {"method": "GET", "relative_url": f"{second}?fields=id,reactions.summary(true).limit(0)"},
        {"method": "GET", "relative_url": f"{PAGE}_404?fields=id"},
        {"method": "GET", "relative_url": f"v27.0/{first}?fields=id,message"},
        {"method": "GET", "relative_url": f"{first}?fields=id,nope"},
    ]
    reply = batch(box, entries)
    assert reply.status_code == 200
    answers = reply.json()
    assert [a["code"] for a in answers] == [200, 400, 200, 400]
    assert all(isinstance(a["body"], str) for a in answers)  # a JSON string, not an object
    bodies = [json.loads(a["body"]) for a in answers]
    assert bodies[0]["id"] == second and bodies[0]["reactions"]["summary"]["total_count"] == 4
    assert (bodies[1]["error"]["code"], bodies[1]["error"]["error_subcode"]) == (100, 33)
    assert bodies[2] == {"id": first, "message": "Một"}
    assert "nonexisting field (nope)" in bodies[3]["error"]["message"]
    assert {"name": "Content-Type", "value": "application/json; charset=UTF-8"} in answers[0][
        "headers"
    ]
    lean = batch(box, entries[:1], include_headers="false").json()
    assert set(lean[0]) == {"code", "body"}


def test_batch_limits_and_entry_shape(box: Sandbox) -> None:
    post = box.graph.add_post("Một")
    too_many = batch(box, [{"method": "GET", "relative_url": post}] * 51)
    assert "Maximum batch size is 50" in error_of(too_many)["message"]
    assert error_of(batch(box, []))["code"] == 100
    bad = call(box, "POST", "", data={"batch": "not json"})
    assert "JSON array" in error_of(bad)["message"]
    answers = batch(box, [{"method": "GET"}, {"method": "PATCH", "relative_url": post}]).json()
    assert [a["code"] for a in answers] == [400, 400]
    depends = batch(
        box,
        [
            {"method": "GET", "relative_url": post, "name": "p"},
            {"method": "GET", "relative_url": "{result=p:$.id}", "depends_on": "p"},
        ],
    ).json()
    assert depends[0]["code"] == 200
    assert (
        "does not emulate batch dependencies" in json.loads(depends[1]["body"])["error"]["message"]
    )


def test_batch_entry_with_its_own_token(box: Sandbox) -> None:
    box.graph.add_agency_page(AGENCY_PAGE, token=AGENCY_TOKEN)
    mine = {"method": "GET", "relative_url": f"{AGENCY_PAGE}/feed?access_token={AGENCY_TOKEN}"}
    ours = {"method": "GET", "relative_url": f"{AGENCY_PAGE}/feed"}
    answers = batch(box, [mine, ours]).json()
    assert [a["code"] for a in answers] == [200, 403]


def test_batch_entry_faults_null_error_and_dropped(box: Sandbox) -> None:
    posts = [box.graph.add_post(f"Bài {i}") for i in range(4)]
    box.faults.set("graph.batch_entry=null:x1,graph.read=code:2:x1,graph.batch_entry=drop:x1")
    answers = batch(box, [{"method": "GET", "relative_url": p} for p in posts]).json()
    assert answers[0] is None  # left unprocessed
    assert answers[1]["code"] == 500 and json.loads(answers[1]["body"])["error"]["code"] == 2
    assert answers[2] is None  # processed, answer lost
    assert json.loads(answers[3]["body"])["id"] == posts[3]
    # a null rule never fires on a plain request (and is not used up by one)
    box.faults.set("graph.read=null:x1")
    assert call(box, "GET", posts[0]).status_code == 200
    assert batch(box, [{"method": "GET", "relative_url": posts[0]}]).json() == [None]


# ---------------------------------------------------------------- legacy features


LEGACY = [
    ("GET", "", {"params": {"ids": "{post}"}}, "Multi-ID requests"),
    ("GET", "{post}", {"params": {"fields": "id,message.as(text)"}}, "Field aliases"),
    ("GET", "{post}", {"params": {"date_format": "U"}}, "date_format"),
    ("POST", "{post}", {"data": {"method": "GET"}}, "HTTP method override"),
    ("GET", "{post}", {"params": {"callback": "cb"}}, "JSONP callbacks"),
    ("POST", "act_1/async_batch_requests", {"data": {"adbatch": "[]"}}, "Asynchronous batch"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "feature"), LEGACY)
def test_legacy_features_refused_to_a_new_app(
    box: Sandbox, method: str, path: str, kwargs: dict[str, Any], feature: str
) -> None:
    post = box.graph.add_post("Một")
    filled = {
        k: {name: value.format(post=post) for name, value in v.items()} for k, v in kwargs.items()
    }
    reply = call(box, method, path.format(post=post), **filled)
    assert reply.status_code == 400
    error = error_of(reply)
    assert error["code"] == 12 and feature in error["message"]
    assert "apps created on or after November 4, 2026" in error["message"]
    assert box.graph.state()["legacy_refused"]
    # inside a batch entry too
    query = "&".join(f"{k}={v}" for k, v in filled.get("params", {}).items())
    entry = {
        "method": method,
        "relative_url": path.format(post=post) + (f"?{query}" if query else ""),
    }
    if "data" in filled:
        entry["body"] = "&".join(f"{k}={v}" for k, v in filled["data"].items())
    answer = batch(box, [entry]).json()[0]
    assert answer["code"] == 400 and json.loads(answer["body"])["error"]["code"] == 12


def test_an_old_app_may_still_use_them(clock: FakeClock) -> None:
    with Sandbox(clock=clock, graph_legacy_app=True) as old:
        post = old.graph.add_post("Một")
        aliased = call(old, "GET", post, params={"fields": "id,message.as(text)"}).json()
        assert aliased == {"id": post, "text": "Một"}
        stamped = call(old, "GET", post, params={"fields": "created_time", "date_format": "U"})
        assert stamped.json()["created_time"] == int(clock().timestamp())
        ymd = call(old, "GET", post, params={"fields": "created_time", "date_format": "Y-m-d"})
        assert ymd.json()["created_time"] == clock().strftime("%Y-%m-%d")
        overridden = call(old, "POST", post, data={"method": "GET", "fields": "id"})
        assert overridden.json() == {"id": post}
        jsonp = call(old, "GET", post, params={"callback": "cb", "fields": "id"})
        assert jsonp.headers["Content-Type"].startswith("text/javascript")
        assert jsonp.text == f'/**/ cb({{"id": "{post}"}});'
        assert old.graph.state()["legacy_refused"] == {}
        deleted = call(old, "POST", post, data={"method": "DELETE"})
        assert deleted.json() == {"success": True}


# ---------------------------------------------------------------- appsecret_proof per app


def test_proof_checked_against_the_app_that_issued_the_token(box: Sandbox) -> None:
    box.graph.add_agency_page(AGENCY_PAGE, token=AGENCY_TOKEN)
    agency_auth = {"Authorization": f"Bearer {AGENCY_TOKEN}"}
    ours = proof(SANDBOX_FB_APP_SECRET, SANDBOX_FB_PAGE_TOKEN)
    assert call(box, "GET", "me", params={"appsecret_proof": ours}).json()["id"] == PAGE
    # our proof with the agency's own token: refused, as Graph refuses it
    wrong = call(
        box,
        "GET",
        f"{AGENCY_PAGE}/feed",
        headers=agency_auth,
        params={"appsecret_proof": proof(SANDBOX_FB_APP_SECRET, AGENCY_TOKEN)},
    )
    error = error_of(wrong)
    assert (error["code"], error["type"]) == (100, "GraphMethodException")
    assert error["message"] == "Invalid appsecret_proof provided in the API argument"
    # with the agency app's own secret, or without a proof, it is fine
    _, agency_secret = box.graph.agency_app(AGENCY_PAGE)
    right = proof(agency_secret, AGENCY_TOKEN)
    assert call(
        box, "GET", f"{AGENCY_PAGE}/feed", headers=agency_auth, params={"appsecret_proof": right}
    ).json() == {"data": []}
    assert call(box, "GET", f"{AGENCY_PAGE}/feed", headers=agency_auth).json() == {"data": []}


def test_agency_token_through_our_app_and_apps_that_require_a_proof(box: Sandbox) -> None:
    agency_auth = {"Authorization": f"Bearer {AGENCY_TOKEN}"}
    box.graph.add_agency_page(AGENCY_PAGE, token=AGENCY_TOKEN, issued_by="ours")
    ours = proof(SANDBOX_FB_APP_SECRET, AGENCY_TOKEN)
    ok = call(
        box, "GET", f"{AGENCY_PAGE}/feed", headers=agency_auth, params={"appsecret_proof": ours}
    )
    assert ok.json() == {"data": []}
    box.graph.add_agency_page(AGENCY_PAGE, token=AGENCY_TOKEN, require_proof=True)
    missing = call(box, "GET", f"{AGENCY_PAGE}/feed", headers=agency_auth)
    assert "require an appsecret_proof" in error_of(missing)["message"]
    app_id, _ = box.graph.agency_app(AGENCY_PAGE)
    assert app_id != SANDBOX_FB_APP_ID


def test_debug_token_names_the_issuing_app(box: Sandbox) -> None:
    box.graph.add_agency_page(AGENCY_PAGE, token=AGENCY_TOKEN)
    app_auth = {"Authorization": f"Bearer {SANDBOX_FB_APP_ID}|{SANDBOX_FB_APP_SECRET}"}
    mine = call(
        box, "GET", "debug_token", headers=app_auth, params={"input_token": SANDBOX_FB_PAGE_TOKEN}
    )
    theirs = call(box, "GET", "debug_token", headers=app_auth, params={"input_token": AGENCY_TOKEN})
    assert mine.json()["data"]["app_id"] == SANDBOX_FB_APP_ID
    assert theirs.json()["data"]["app_id"] == box.graph.agency_app(AGENCY_PAGE)[0]


# ---------------------------------------------------------------- versions


def test_a_version_past_its_end_is_refused(clock: FakeClock) -> None:
    clock.now = datetime(2028, 7, 2, tzinfo=UTC)  # v25.0 ended Jul 2028 (v26.0 + 2 years)
    with Sandbox(clock=clock) as late:
        expired = call(late, "GET", "me", version="v25.0")
        assert error_of(expired)["code"] == 12 and "v25.0 is no longer available" in expired.text
        assert call(late, "GET", "me", version="v26.0").json()["id"] == PAGE
        assert call(late, "GET", "me", version="v27.0").json()["id"] == PAGE
    clock.now = datetime(2028, 6, 30, tzinfo=UTC)
    with Sandbox(clock=clock) as before:
        assert call(before, "GET", "me", version="v25.0").json()["id"] == PAGE


# ---------------------------------------------------------------- a single scheduled photo


def test_scheduled_photo_without_post_id_when_asked(clock: FakeClock) -> None:
    at = str(int(clock().timestamp()) + 3600)
    scheduled = {"published": "false", "scheduled_publish_time": at, "caption": "Ảnh hẹn"}
    for option, expect_scheduled, expect_now in (
        ("always", True, True),
        ("unscheduled", False, True),
        ("never", False, False),
    ):
        with Sandbox(clock=clock, graph_photo_post_id=option) as sandbox:
            files = {"source": ("a.jpg", JPEG)}
            later = call(sandbox, "POST", f"{PAGE}/photos", data=scheduled, files=files).json()
            now = call(sandbox, "POST", f"{PAGE}/photos", data={"caption": "Ngay"}, files=files)
            assert ("post_id" in later) is expect_scheduled, option
            assert ("post_id" in now.json()) is expect_now, option
            assert len(sandbox.graph.posts()) == 2  # the posts exist either way
            # the photo id is no post: post fields on it fail with #100
            photo = call(sandbox, "GET", later["id"], params={"fields": "id,is_published"})
            assert error_of(photo)["code"] == 100
    with pytest.raises(ValueError):
        Sandbox(graph_photo_post_id="sometimes")


@pytest.mark.parametrize(("flag", "ids_status"), [([], 400), (["--legacy-app"], 200)])
def test_sandbox_command_emulates_an_old_app_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, flag: list[str], ids_status: int
) -> None:
    import io

    import social_publisher.sandbox as sandbox_package
    from social_publisher.cli import main

    seen: dict[str, int] = {}

    def serve_once(host: str, port: int, *, on_ready: Any, **options: Any) -> None:
        options.pop("faults"), options.pop("public_dir")
        with Sandbox(**options) as running:
            on_ready(running)
            post = running.graph.add_post("Một")
            seen["ids"] = call(running, "GET", "", params={"ids": post}).status_code

    monkeypatch.setattr(sandbox_package, "serve_forever", serve_once)
    out = io.StringIO()
    assert main(["sandbox", "--port", "0", *flag], out=out, err=out) == 0
    assert seen["ids"] == ids_status
    assert ("Giả lập ứng dụng Facebook cũ" in out.getvalue()) is bool(flag)
    assert "FB_GRAPH_VERSION=v27.0" in out.getvalue()


# ---------------------------------------------------------------- more of the sheet


def test_scopes_the_token_lacks_are_enforced(clock: FakeClock) -> None:
    with Sandbox(clock=clock, graph_scopes=["pages_show_list", "pages_read_engagement"]) as box:
        post = box.graph.add_post("Một")
        refused = call(box, "POST", f"{PAGE}/feed", data={"message": "Không có quyền đăng"})
        assert error_of(refused)["code"] == 200 and box.graph.posts()[1:] == []
        insights = call(box, "GET", f"{post}/insights", params={"metric": "post_media_view"})
        assert error_of(insights)["code"] == 10 and "read_insights" in insights.text
        box.graph.add_agency_page(AGENCY_PAGE)  # readable with our token only with the scope
        feed = call(box, "GET", f"{AGENCY_PAGE}/feed")
        assert "pages_read_user_content" in error_of(feed)["message"]


def test_unused_uploads_expire_and_ten_photos_at_most(box: Sandbox, clock: FakeClock) -> None:
    def upload() -> str:
        answer = call(
            box, "POST", f"{PAGE}/photos", data={"published": "false"},
            files={"source": ("a.jpg", JPEG)},
        )  # fmt: skip
        return str(answer.json()["id"])

    old = upload()
    clock.advance(hours=25)
    media = {"attached_media[0]": json.dumps({"media_fbid": old})}
    stale = call(box, "POST", f"{PAGE}/feed", data={"message": "Ảnh cũ", **media})
    assert "invalid media_fbid" in error_of(stale)["message"]
    eleven = {f"attached_media[{i}]": json.dumps({"media_fbid": upload()}) for i in range(11)}
    too_many = call(box, "POST", f"{PAGE}/feed", data={"message": "Mười một ảnh", **eleven})
    assert "at most 10 attached photos" in error_of(too_many)["message"]
    ten = dict(list(eleven.items())[:10])
    assert "id" in call(box, "POST", f"{PAGE}/feed", data={"message": "Mười ảnh", **ten}).json()


def test_only_posts_of_this_app_can_be_edited(box: Sandbox) -> None:
    elsewhere = box.graph.add_post("Đăng trên facebook.com")
    ours = call(box, "POST", f"{PAGE}/feed", data={"message": "Đăng bằng công cụ"}).json()["id"]
    refused = call(box, "POST", elsewhere, data={"message": "Sửa"})
    assert error_of(refused)["code"] == 200 and "made by this app" in refused.text
    assert call(box, "POST", ours, data={"message": "Sửa"}).json() == {"success": True}
    assert box.graph.post(ours)["message"] == "Sửa"
