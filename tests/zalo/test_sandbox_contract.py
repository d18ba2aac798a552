"""The Zalo client against the sandbox's Zalo half, over real sockets on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from social_publisher.channels.base import OutgoingImage, OutgoingPost
from social_publisher.channels.http import HttpClient
from social_publisher.channels.public_media import PublicMedia
from social_publisher.channels.zalo import ZaloChannel, ZaloOAuthClient
from social_publisher.errors import (
    AuthError,
    OutcomeUnknownError,
    PermissionDeniedError,
    ProcessingError,
    PublicMediaError,
    QuotaError,
    RateLimitError,
    TransientError,
)
from social_publisher.sandbox.zalo import (
    ACCESS_TOKEN,
    APP_ID,
    APP_SECRET,
    REFRESH_TOKEN,
    fetch_image,
    is_loopback_url,
)
from social_publisher.services.zalo_tokens import DbTokenStore

from .conftest import SandboxRig


def no_sleep(_: float) -> None:
    return None


def make_channel(rig: SandboxRig, **kw: Any) -> ZaloChannel:
    settings = rig.settings
    http = HttpClient("zalo", sleep=no_sleep, read_timeout=10)
    store = DbTokenStore(rig.db, settings, ZaloOAuthClient(settings, http), rig.clock)
    return ZaloChannel(
        settings,
        tokens=store,
        http=http,
        public_media=PublicMedia(settings, HttpClient("public_media", sleep=no_sleep)),
        clock=rig.clock,
        sleep=no_sleep,
        **kw,
    )


def zalo_state(rig: SandboxRig) -> dict[str, Any]:
    state: dict[str, Any] = requests.get(f"{rig.sandbox.url}/__sandbox/state", timeout=5).json()
    return state["zalo"]


def test_identity_constants(sandbox_rig: SandboxRig) -> None:
    env = sandbox_rig.env
    assert (env["ZALO_APP_ID"], env["ZALO_APP_SECRET"]) == (APP_ID, APP_SECRET)
    assert env["ZALO_REFRESH_TOKEN"] == REFRESH_TOKEN == "sandbox-zalo-refresh-0"
    assert env["ZALO_ACCESS_TOKEN"] == ACCESS_TOKEN == "sandbox-zalo-access-0"
    assert env["PUBLIC_MEDIA_BASE_URL"].endswith("/media")


def test_publish_with_photos_fetched_by_the_sandbox(
    sandbox_rig: SandboxRig, make_post: Callable[..., OutgoingPost], renditions: Any
) -> None:
    channel = make_channel(sandbox_rig)
    cover, photo = renditions(), renditions()
    post = make_post(cover=cover, images=(photo, cover))
    remote = channel.publish(post)

    state = zalo_state(sandbox_rig)
    [article] = state["articles"]
    assert article["id"] == remote.remote_id
    assert article["status"] == "show"
    assert article["title"] == post.title
    assert article["body_items"] == 5  # 3 paragraphs + 2 photos
    assert all(url.startswith(f"{sandbox_rig.sandbox.url}/media/") for url in article["image_urls"])
    assert {f["ok"] for f in state["fetches"]} == {True}
    assert len(state["fetches"]) == 3  # cover + 2 body images, each fetched over HTTP
    assert remote.url and requests.get(remote.url, timeout=5).status_code == 200
    assert state["token_in_query"] == 0

    engagement = channel.fetch_engagement([remote.remote_id])
    assert engagement[remote.remote_id].views == 0
    sandbox_rig.zalo.add_views(remote.remote_id, views=120, shares=7)
    engagement = channel.fetch_engagement([remote.remote_id])
    assert (engagement[remote.remote_id].views, engagement[remote.remote_id].shares) == (120, 7)


def test_an_unreachable_cover_fails_at_verify_with_minus_200(
    sandbox_rig: SandboxRig, make_post: Callable[..., OutgoingPost], renditions: Any
) -> None:
    channel = make_channel(sandbox_rig)
    image = renditions()
    # A non-loopback URL: the sandbox refuses to fetch it (and never contacts it).
    elsewhere = OutgoingImage(
        image.path, image.sha256, 1, 1, image.bytes, "http://203.0.113.5/anh-bia.jpg"
    )
    with pytest.raises(TransientError) as caught:
        channel.publish(make_post(cover=elsewhere))
    assert caught.value.code == -200
    state = zalo_state(sandbox_rig)
    assert state["articles"][0]["status"] == "failed"
    assert channel.list_articles() == ([], 0)


def test_public_folder_not_served_stops_before_creating(
    sandbox_rig: SandboxRig, make_post: Callable[..., OutgoingPost], renditions: Any
) -> None:
    from dataclasses import replace

    wrong = replace(
        sandbox_rig.settings, public_media_base_url=f"{sandbox_rig.sandbox.url}/khong-phuc-vu"
    )
    channel = make_channel(sandbox_rig)
    channel.public_media = PublicMedia(wrong, HttpClient("public_media", sleep=no_sleep))
    with pytest.raises(PublicMediaError, match="Không tải được ảnh từ địa chỉ công khai"):
        channel.publish(make_post(cover=renditions()))
    assert zalo_state(sandbox_rig)["articles"] == []


@pytest.mark.parametrize("sandbox_rig", [{"faults": "zalo.create=drop:x1"}], indirect=True)
def test_dropped_create_is_found_after_processing_and_adopted(
    sandbox_rig: SandboxRig, make_post: Callable[..., OutgoingPost], renditions: Any
) -> None:
    channel = make_channel(sandbox_rig)
    post = make_post(cover=renditions())
    since = sandbox_rig.clock()
    with pytest.raises(OutcomeUnknownError):
        channel.publish(post)
    [article] = zalo_state(sandbox_rig)["articles"]  # it WAS created
    assert article["status"] == "processing"

    # Right after the unanswered create, the article is not listed: not a final answer.
    with pytest.raises(ProcessingError) as caught:
        channel.find_published(post, since)
    assert caught.value.retry_after and caught.value.retry_after > 0

    sandbox_rig.clock.advance(95)  # processing done (20 s) and the settle window (90 s) passed
    found = channel.find_published(post, since)
    assert found is not None and found.remote_id == article["id"]
    assert len(zalo_state(sandbox_rig)["articles"]) == 1


def test_engagement_pages_through_more_than_ten_articles(sandbox_rig: SandboxRig) -> None:
    zalo = sandbox_rig.zalo
    ids = []
    for n in range(23):
        sandbox_rig.clock.advance(60)
        ids.append(zalo.add_article(f"Bài số {n}", views=n * 3, shares=n))
    channel = make_channel(sandbox_rig)
    before = requests.get(f"{sandbox_rig.sandbox.url}/__sandbox/requests", timeout=5).json()
    got = channel.fetch_engagement([ids[0], ids[11], ids[22]])
    after = requests.get(f"{sandbox_rig.sandbox.url}/__sandbox/requests", timeout=5).json()
    assert {k: (v.views, v.shares) for k, v in got.items()} == {
        ids[0]: (0, 0),
        ids[11]: (33, 11),
        ids[22]: (66, 22),
    }
    route = "GET /zalo/v2.0/article/getslice"
    assert after["routes"][route] - before["routes"].get(route, 0) == 3


def test_expired_access_token_is_refreshed_with_real_rotation(
    sandbox_rig: SandboxRig, make_post: Callable[..., OutgoingPost], renditions: Any
) -> None:
    channel = make_channel(sandbox_rig)
    assert channel.list_articles() == ([], 0)  # bootstrapped from the settings
    sandbox_rig.zalo.revoke_access()
    assert channel.list_articles() == ([], 0)
    state = zalo_state(sandbox_rig)
    assert state["refreshes_ok"] == 1 and state["refreshes_refused"] == 0
    store = channel.tokens
    assert isinstance(store, DbTokenStore)
    pair = store.load()
    assert pair is not None and pair.refresh_token == sandbox_rig.zalo.refresh_token


@pytest.mark.parametrize("sandbox_rig", [{"zalo_article_quota": 1}], indirect=True)
def test_monthly_quota(
    sandbox_rig: SandboxRig, make_post: Callable[..., OutgoingPost], renditions: Any
) -> None:
    channel = make_channel(sandbox_rig)
    channel.publish(make_post(cover=renditions()))
    with pytest.raises(QuotaError) as caught:
        channel.publish(make_post(cover=renditions(), title="Bài thứ hai"))
    assert caught.value.code == -223 and caught.value.retry_after


def test_update_then_remove(
    sandbox_rig: SandboxRig, make_post: Callable[..., OutgoingPost], renditions: Any
) -> None:
    channel = make_channel(sandbox_rig)
    remote = channel.publish(make_post(cover=renditions()))
    updated = channel.update_article(
        remote.remote_id, make_post(cover=renditions(), title="Tiêu đề mới")
    )
    assert updated.remote_id == remote.remote_id
    assert sandbox_rig.zalo.article(remote.remote_id)["title"] == "Tiêu đề mới"
    channel.remove_article(remote.remote_id)
    assert channel.list_articles() == ([], 0)


@pytest.mark.parametrize("sandbox_rig", [{"zalo_broadcast_error": -221}], indirect=True)
def test_broadcast_refused_by_the_oa(
    sandbox_rig: SandboxRig, make_post: Callable[..., OutgoingPost], renditions: Any
) -> None:
    channel = make_channel(sandbox_rig)
    remote = channel.publish(make_post(cover=renditions()))
    with pytest.raises(PermissionDeniedError, match="OA chưa được xác thực"):
        channel.broadcast(remote.remote_id, now=sandbox_rig.clock())


def test_broadcast_by_day_and_night(
    sandbox_rig: SandboxRig, make_post: Callable[..., OutgoingPost], renditions: Any
) -> None:
    channel = make_channel(sandbox_rig)
    remote = channel.publish(make_post(cover=renditions()))
    channel.broadcast(remote.remote_id, now=sandbox_rig.clock())
    assert zalo_state(sandbox_rig)["broadcasts"][0]["article_ids"] == [remote.remote_id]
    # The sandbox itself refuses at night (its clock), whatever the client believes.
    sandbox_rig.clock.advance(14 * 3600)  # 23:00 local
    token = channel.tokens.current()
    answer = requests.post(
        f"{sandbox_rig.settings.zalo_openapi_url}/v2.0/oa/message",
        headers={"access_token": token},
        json={
            "recipient": {"target": {"gender": "0"}},
            "message": {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "media",
                        "elements": [{"media_type": "article", "attachment_id": remote.remote_id}],
                    },
                }
            },
        },
        timeout=5,
    ).json()
    assert answer["error"] == -234


def test_sandbox_shapes_and_limits(sandbox_rig: SandboxRig) -> None:
    base = sandbox_rig.settings.zalo_openapi_url
    headers = {"access_token": ACCESS_TOKEN}
    too_many = requests.get(
        f"{base}/v2.0/article/getslice",
        params={"offset": 0, "limit": 11, "type": "normal"},
        headers=headers,
        timeout=5,
    )
    assert too_many.status_code == 200 and too_many.json()["error"] == -201
    no_type = requests.get(
        f"{base}/v2.0/article/getslice",
        params={"offset": 0, "limit": 5},
        headers=headers,
        timeout=5,
    )
    assert no_type.json()["error"] == -201
    bearer = requests.get(
        f"{base}/v2.0/article/getslice",
        params={"offset": 0, "limit": 5, "type": "normal"},
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        timeout=5,
    )
    assert bearer.json()["error"] == -216
    proof = requests.get(
        f"{base}/v2.0/article/getslice",
        params={"offset": 0, "limit": 5, "type": "normal"},
        headers={**headers, "appsecret_proof": "0" * 64},
        timeout=5,
    )
    assert proof.json()["error"] == -242
    article = {
        "type": "normal",
        "title": "T" * 150,
        "author": "A",
        "description": "D",
        "cover": {"cover_type": "photo", "photo_url": "http://127.0.0.1/x.jpg", "status": "show"},
        "body": [{"type": "text", "content": "x"}],
    }
    at_limit = requests.post(
        f"{base}/v2.0/article/create", json=article, headers=headers, timeout=5
    )
    assert at_limit.json()["error"] == -201 and "title" in at_limit.json()["message"]
    vietnamese_url = {
        **article,
        "title": "T",
        "cover": {**article["cover"], "photo_url": "http://127.0.0.1/ảnh bìa.jpg"},
    }
    refused = requests.post(
        f"{base}/v2.0/article/create", json=vietnamese_url, headers=headers, timeout=5
    )
    assert refused.json()["error"] == -201
    gone = requests.post(f"{base}/v2.0/article/upload_image", headers=headers, timeout=5)
    assert gone.json()["error"] == -209


def test_token_endpoint_rotates_and_refuses_a_used_refresh_token(sandbox_rig: SandboxRig) -> None:
    url = f"{sandbox_rig.settings.zalo_oauth_url}/v4/oa/access_token"
    form = {"app_id": APP_ID, "grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN}
    headers = {"secret_key": APP_SECRET}
    first = requests.post(url, data=form, headers=headers, timeout=5).json()
    assert first["expires_in"] == "90000"
    assert first["refresh_token"] != REFRESH_TOKEN
    again = requests.post(url, data=form, headers=headers, timeout=5).json()
    assert again["error"] < 0 and {"error_name", "error_reason", "error_description"} <= set(again)
    wrong_secret = requests.post(url, data=form, headers={"secret_key": "nope"}, timeout=5).json()
    assert wrong_secret["error"] < 0
    state = zalo_state(sandbox_rig)
    assert (state["refreshes_ok"], state["refreshes_refused"], state["tokens_issued"]) == (1, 1, 1)


def test_the_sandbox_fetches_loopback_only(sandbox_rig: SandboxRig, renditions: Any) -> None:
    assert is_loopback_url("http://127.0.0.1:9/x.jpg")
    assert is_loopback_url("http://127.8.9.10/x.jpg")
    assert is_loopback_url("http://localhost/x.jpg")
    assert is_loopback_url("http://[::1]:80/x.jpg")
    assert not is_loopback_url("http://10.0.0.1/x.jpg")
    assert not is_loopback_url("http://example.com/x.jpg")
    assert not is_loopback_url("file:///etc/passwd")
    image = renditions()
    big = sandbox_rig.public_dir / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"\0" * (1024 * 1024))
    data, error = fetch_image(f"{sandbox_rig.sandbox.url}/media/big.jpg")
    assert data is None and error and "1MB" in error
    (sandbox_rig.public_dir / "ok.jpg").write_bytes(image.path.read_bytes())
    data, error = fetch_image(f"{sandbox_rig.sandbox.url}/media/ok.jpg")
    assert error is None and data == image.path.read_bytes()
    (sandbox_rig.public_dir / "text.jpg").write_text("not an image")
    assert fetch_image(f"{sandbox_rig.sandbox.url}/media/text.jpg")[0] is None
    assert fetch_image(f"{sandbox_rig.sandbox.url}/media/missing.jpg")[0] is None


def test_reset_forgets_articles_but_keeps_the_rotated_pair(sandbox_rig: SandboxRig) -> None:
    channel = make_channel(sandbox_rig)
    sandbox_rig.zalo.add_article("Bài cũ")
    channel.tokens.refresh(channel.tokens.current())
    rotated = sandbox_rig.zalo.refresh_token
    assert requests.post(f"{sandbox_rig.sandbox.url}/__sandbox/reset", timeout=5).ok
    assert zalo_state(sandbox_rig)["articles"] == []
    assert sandbox_rig.zalo.refresh_token == rotated
    assert channel.list_articles() == ([], 0)  # the stored access token still works


@pytest.mark.parametrize(
    ("drop", "field"),
    [("author", "author"), ("cover.status", "cover.status")],
)
def test_article_without_author_or_cover_status_is_refused(
    sandbox_rig: SandboxRig, drop: str, field: str
) -> None:
    base = sandbox_rig.settings.zalo_openapi_url
    headers = {"access_token": ACCESS_TOKEN}
    article: dict[str, Any] = {
        "type": "normal",
        "title": "Tiêu đề",
        "author": "Phòng VHTT",
        "description": "Mô tả",
        "cover": {"cover_type": "photo", "photo_url": "http://127.0.0.1/x.jpg", "status": "show"},
        "body": [{"type": "text", "content": "x"}],
    }
    if drop == "author":
        del article["author"]
    else:
        del article["cover"]["status"]
    answer = requests.post(f"{base}/v2.0/article/create", json=article, headers=headers, timeout=5)
    assert answer.status_code == 200
    assert answer.json()["error"] == -201 and f"{field} is required" in answer.json()["message"]
    bad = {**article, "author": "A", "cover": {**article["cover"], "status": "maybe"}}
    answer = requests.post(f"{base}/v2.0/article/create", json=bad, headers=headers, timeout=5)
    assert "cover.status is invalid" in answer.json()["message"]
    assert zalo_state(sandbox_rig)["articles"] == []


def test_verify_with_an_undocumented_processing_code_keeps_polling(
    sandbox_rig: SandboxRig, make_post: Callable[..., OutgoingPost], renditions: Any
) -> None:
    assert sandbox_rig.sandbox.zalo is not None
    sandbox_rig.sandbox.zalo.processing_code = -999
    sandbox_rig.sandbox.zalo.processing_verifies = 3
    channel = make_channel(sandbox_rig)
    token = channel.create_article(make_post(cover=renditions()))
    remote = channel.verify_article(token)  # -999 three times, then the id
    [article] = zalo_state(sandbox_rig)["articles"]
    assert remote.remote_id == article["id"]
    sandbox_rig.sandbox.zalo.processing_verifies = 10**6
    again = channel.create_article(make_post(title="Bài thứ hai", cover=renditions()))
    quick = make_channel(sandbox_rig, verify_timeout=3.0)
    with pytest.raises(ProcessingError) as caught:  # never a plain "failed": keep the token
        quick.verify_article(again)
    assert caught.value.code == -999


@pytest.mark.parametrize("sandbox_rig", [{"zalo_rate_limit_per_minute": 3}], indirect=True)
def test_rate_limit_per_minute_with_its_headers(sandbox_rig: SandboxRig) -> None:
    channel = make_channel(sandbox_rig)
    base = sandbox_rig.settings.zalo_openapi_url
    for remain in ("2", "1", "0"):
        answer = requests.get(
            f"{base}/v2.0/article/getslice",
            params={"offset": 0, "limit": 5, "type": "normal"},
            headers={"access_token": ACCESS_TOKEN},
            timeout=5,
        )
        assert answer.json()["error"] == 0
        assert answer.headers["X-RateLimit-Limit"] == "3"
        assert answer.headers["X-RateLimit-Remain"] == remain
    with pytest.raises(RateLimitError):
        channel.list_articles()
    # the OA API has a bucket of its own, and the next minute starts afresh
    other = requests.post(
        f"{base}/v2.0/oa/upload/image", headers={"access_token": ACCESS_TOKEN}, timeout=5
    )
    assert other.json()["error"] == -201 and other.headers["X-RateLimit-Remain"] == "2"
    sandbox_rig.clock.advance(60)
    assert channel.list_articles() == ([], 0)


def test_the_oa_profile_answers_an_accepted_token_only(sandbox_rig: SandboxRig) -> None:
    """``getoa``, what ``zalo token set`` tries a pair with: authenticated like every call."""
    channel = make_channel(sandbox_rig)
    profile = channel.oa_profile(token=ACCESS_TOKEN)
    assert profile["name"] == "Thị xã Đức Phổ" and profile["oa_id"]
    with pytest.raises(AuthError) as refused:
        channel.oa_profile(token="not-a-token")
    assert refused.value.code == -216
    base = sandbox_rig.settings.zalo_openapi_url
    bare = requests.get(f"{base}/v2.0/oa/getoa", timeout=5).json()
    assert bare["error"] == -216 and "data" not in bare
