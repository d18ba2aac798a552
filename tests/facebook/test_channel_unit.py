"""FacebookChannel against ``responses``: request shapes, errors, usage, outcome-unknown."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from social_publisher.channels.base import OutgoingImage
from social_publisher.channels.facebook import (
    FacebookChannel,
    FeedItem,
    compose_message,
    in_schedule_window,
    match_share,
)
from social_publisher.config import load_settings
from social_publisher.errors import (
    AuthError,
    ChannelError,
    ConfigError,
    DuplicateError,
    InvalidRequestError,
    OutcomeUnknownError,
    PermissionDeniedError,
    PolicyError,
    RateLimitError,
    TransientError,
)

from .conftest import APP_SECRET, BASE, NOW, PAGE, TOKEN, FakeClock, make_post

POST_ID = f"{PAGE}_122100000000001"
PERMALINK = f"https://www.facebook.com/{PAGE}/posts/122100000000001"


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    """A responses mock that, after each test, checks no secret ever reached a URL."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
        for call in mock.calls:
            url = call.request.url or ""
            assert TOKEN not in url
            assert APP_SECRET not in url
            assert "access_token" not in url


def raw(call: Any) -> bytes:
    body = call.request.body
    return body if isinstance(body, bytes) else (body or "").encode()


def url_of(call: Any) -> str:
    return str(call.request.url)


def form(call: Any) -> dict[str, str]:
    body = call.request.body
    if isinstance(body, bytes):
        body = body.decode()
    return {k: v[0] for k, v in parse_qs(body or "", keep_blank_values=True).items()}


def query(call: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def proof(token: str = TOKEN) -> str:
    return hmac.new(APP_SECRET.encode(), token.encode(), hashlib.sha256).hexdigest()


def graph_error(code: int, subcode: int | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": extra.pop("message", f"(#{code}) something"),
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "EJplcsCHuLu",
        **extra,
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


FEED_OK = {"id": POST_ID, "permalink_url": PERMALINK, "created_time": "2024-10-09T01:00:05+0000"}


# ---------------------------------------------------------------- composition and window


def test_compose_message_is_title_blank_line_body() -> None:
    assert compose_message(make_post("Tiêu đề", "Nội dung")) == "Tiêu đề\n\nNội dung"


def test_compose_message_appends_link_only_for_photo_posts(photos: list[OutgoingImage]) -> None:
    link = "https://ducpho.quangngai.gov.vn/cds"
    assert compose_message(make_post("T", "B", link=link)) == "T\n\nB"
    assert compose_message(make_post("T", "B", link=link, images=(photos[0],))) == (
        f"T\n\nB\n\n{link}"
    )


def test_in_schedule_window_margins() -> None:
    assert not in_schedule_window(NOW + timedelta(minutes=11), NOW)
    assert in_schedule_window(NOW + timedelta(minutes=15), NOW)
    assert in_schedule_window(NOW + timedelta(days=29), NOW)
    assert not in_schedule_window(NOW + timedelta(days=30), NOW)
    assert not in_schedule_window(NOW - timedelta(minutes=20), NOW)


# ---------------------------------------------------------------- publishing shapes


def test_text_post_shape_auth_header_and_proof(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    rsps.post(f"{BASE}/{PAGE}/feed", json=FEED_OK)
    remote = channel.publish(make_post("Tiêu đề", "Nội dung"))
    assert remote.remote_id == POST_ID
    assert remote.url == PERMALINK
    assert remote.created_time == datetime(2024, 10, 9, 1, 0, 5, tzinfo=UTC)
    assert remote.is_published
    call = rsps.calls[0]
    sent = form(call)
    assert sent["message"] == "Tiêu đề\n\nNội dung"
    assert sent["fields"] == "id,permalink_url,created_time"
    assert sent["appsecret_proof"] == proof()
    assert "published" not in sent and "link" not in sent
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_link_post_sends_link(rsps: responses.RequestsMock, channel: FacebookChannel) -> None:
    rsps.post(f"{BASE}/{PAGE}/feed", json=FEED_OK)
    channel.publish(make_post(link="https://ducpho.quangngai.gov.vn"))
    assert form(rsps.calls[0])["link"] == "https://ducpho.quangngai.gov.vn"


def test_one_photo_goes_to_photos_with_caption(
    rsps: responses.RequestsMock, channel: FacebookChannel, photos: list[OutgoingImage]
) -> None:
    rsps.post(f"{BASE}/{PAGE}/photos", json={"id": "5001", "post_id": POST_ID})
    rsps.get(f"{BASE}/{POST_ID}", json={**FEED_OK, "is_published": True})
    remote = channel.publish(make_post("Ảnh", "Một ảnh", images=(photos[0],)))
    assert remote.remote_id == POST_ID
    assert remote.url == PERMALINK
    assert remote.extra["photo_ids"] == ["5001"]
    body = raw(rsps.calls[0])
    assert b'name="source"; filename="anh-0.jpg"' in body
    assert b'name="caption"' in body and "Ảnh\n\nMột ảnh".encode() in body
    assert b'name="published"' not in body
    assert proof().encode() in body


def test_photo_post_survives_a_failed_read_back(
    rsps: responses.RequestsMock, channel: FacebookChannel, photos: list[OutgoingImage]
) -> None:
    rsps.post(f"{BASE}/{PAGE}/photos", json={"id": "5001", "post_id": POST_ID})
    rsps.get(f"{BASE}/{POST_ID}", json=graph_error(2, is_transient=True), status=500)
    remote = channel.publish(make_post(images=(photos[0],)))
    assert remote.remote_id == POST_ID and remote.url is None


def test_five_photos_upload_unpublished_then_one_feed_post(
    rsps: responses.RequestsMock, channel: FacebookChannel, photos: list[OutgoingImage]
) -> None:
    for index in range(5):
        rsps.post(f"{BASE}/{PAGE}/photos", json={"id": f"90{index}"})
    rsps.post(f"{BASE}/{PAGE}/feed", json=FEED_OK)
    remote = channel.publish(make_post(images=tuple(photos[:5])))
    assert remote.remote_id == POST_ID
    uploads = [c for c in rsps.calls if url_of(c).endswith("/photos")]
    assert len(uploads) == 5
    for upload in uploads:
        assert b'name="published"\r\n\r\nfalse' in raw(upload)
        assert b'name="temporary"' not in raw(upload)
    feed = form(rsps.calls[5])
    assert [json.loads(feed[f"attached_media[{i}]"])["media_fbid"] for i in range(5)] == [
        f"90{i}" for i in range(5)
    ]
    assert "published" not in feed and "unpublished_content_type" not in feed


def test_more_than_ten_photos_refused_before_any_call(
    rsps: responses.RequestsMock, channel: FacebookChannel, photos: list[OutgoingImage]
) -> None:
    with pytest.raises(InvalidRequestError, match="tối đa 10"):
        channel.publish(make_post(images=(*photos, photos[0])))
    assert len(rsps.calls) == 0


def test_failed_upload_posts_nothing_and_cleans_up(
    rsps: responses.RequestsMock, channel: FacebookChannel, photos: list[OutgoingImage]
) -> None:
    rsps.post(f"{BASE}/{PAGE}/photos", json={"id": "901"})
    rsps.post(f"{BASE}/{PAGE}/photos", json={"id": "902"})
    rsps.post(f"{BASE}/{PAGE}/photos", json=graph_error(324), status=400)
    rsps.delete(f"{BASE}/901", json={"success": True})
    rsps.delete(f"{BASE}/902", json={"success": True})
    with pytest.raises(InvalidRequestError):
        channel.publish(make_post(images=tuple(photos[:4])))
    assert not any(url_of(c).endswith("/feed") for c in rsps.calls)
    deleted = {
        url_of(c).split("/")[-1].split("?")[0] for c in rsps.calls if c.request.method == "DELETE"
    }
    assert deleted == {"901", "902"}


def test_feed_outcome_unknown_keeps_uploads(
    rsps: responses.RequestsMock, channel: FacebookChannel, photos: list[OutgoingImage]
) -> None:
    rsps.post(f"{BASE}/{PAGE}/photos", json={"id": "901"})
    rsps.post(f"{BASE}/{PAGE}/photos", json={"id": "902"})
    rsps.post(f"{BASE}/{PAGE}/feed", body=requests.ReadTimeout("read timed out"))
    with pytest.raises(OutcomeUnknownError):
        channel.publish(make_post(images=tuple(photos[:2])))
    assert not any(c.request.method == "DELETE" for c in rsps.calls)


def test_feed_duplicate_after_uploads_discards_them(
    rsps: responses.RequestsMock, channel: FacebookChannel, photos: list[OutgoingImage]
) -> None:
    rsps.post(f"{BASE}/{PAGE}/photos", json={"id": "901"})
    rsps.post(f"{BASE}/{PAGE}/photos", json={"id": "902"})
    rsps.post(f"{BASE}/{PAGE}/feed", json=graph_error(506), status=400)
    rsps.delete(f"{BASE}/901", json={"success": True})
    rsps.delete(f"{BASE}/902", json={"success": True})
    with pytest.raises(DuplicateError):
        channel.publish(make_post(images=tuple(photos[:2])))
    assert sum(c.request.method == "DELETE" for c in rsps.calls) == 2


def test_schedule_text_post(rsps: responses.RequestsMock, channel: FacebookChannel) -> None:
    at = NOW + timedelta(hours=3)
    rsps.post(f"{BASE}/{PAGE}/feed", json=FEED_OK)
    remote = channel.schedule(make_post(), at)
    sent = form(rsps.calls[0])
    assert sent["published"] == "false"
    assert sent["scheduled_publish_time"] == str(int(at.timestamp()))
    assert "unpublished_content_type" not in sent
    assert not remote.is_published and remote.scheduled_for == at


def test_schedule_one_photo_through_feed_with_one_attached_media(
    rsps: responses.RequestsMock, channel: FacebookChannel, photos: list[OutgoingImage]
) -> None:
    # A scheduled /photos call may answer no post_id (unconfirmed): one unpublished,
    # temporary upload, then a scheduled /feed post, whose answer is the post's own id.
    at = NOW + timedelta(days=2)
    rsps.post(f"{BASE}/{PAGE}/photos", json={"id": "5001"})
    rsps.post(f"{BASE}/{PAGE}/feed", json=FEED_OK)
    remote = channel.schedule(make_post(images=(photos[0],)), at)
    upload = raw(rsps.calls[0])
    assert b'name="published"\r\n\r\nfalse' in upload
    assert b'name="temporary"\r\n\r\ntrue' in upload
    assert b"scheduled_publish_time" not in upload
    feed = form(rsps.calls[1])
    assert json.loads(feed["attached_media[0]"]) == {"media_fbid": "5001"}
    assert "attached_media[1]" not in feed
    assert feed["published"] == "false"
    assert feed["unpublished_content_type"] == "SCHEDULED"
    assert feed["scheduled_publish_time"] == str(int(at.timestamp()))
    assert remote.remote_id == POST_ID and not remote.is_published
    assert remote.extra["photo_ids"] == ["5001"]
    assert len(rsps.calls) == 2


def test_photo_published_without_post_id_is_found_on_the_feed(
    rsps: responses.RequestsMock, channel: FacebookChannel, photos: list[OutgoingImage]
) -> None:
    rsps.post(f"{BASE}/{PAGE}/photos", json={"id": "5001"})
    other = {"id": f"{PAGE}_9", "attachments": {"data": [{"target": {"id": "4999"}}]}}
    mine = {"id": POST_ID, "attachments": {"data": [{"target": {"id": "5001"}}]}}
    rsps.get(f"{BASE}/{PAGE}/feed", json={"data": [other, mine]})
    rsps.get(f"{BASE}/{POST_ID}", json={**FEED_OK, "is_published": True})
    remote = channel.publish(make_post(images=(photos[0],)))
    assert remote.remote_id == POST_ID and remote.url == PERMALINK
    assert remote.extra["photo_ids"] == ["5001"]
    assert "attachments{target,media}" in query(rsps.calls[1])["fields"]


def test_photo_without_post_id_and_not_on_the_feed_is_outcome_unknown(
    rsps: responses.RequestsMock, channel: FacebookChannel, photos: list[OutgoingImage]
) -> None:
    rsps.post(f"{BASE}/{PAGE}/photos", json={"id": "5001"})
    rsps.get(f"{BASE}/{PAGE}/feed", json={"data": []})
    with pytest.raises(OutcomeUnknownError, match="post_id"):
        channel.publish(make_post(images=(photos[0],)))
    # never the photo id in place of a post id
    assert not any(url_of(c).split("?")[0].endswith("/5001") for c in rsps.calls)


def test_schedule_multi_photo_uses_temporary_and_scheduled_type(
    rsps: responses.RequestsMock, channel: FacebookChannel, photos: list[OutgoingImage]
) -> None:
    at = NOW + timedelta(days=1)
    rsps.post(f"{BASE}/{PAGE}/photos", json={"id": "901"})
    rsps.post(f"{BASE}/{PAGE}/photos", json={"id": "902"})
    rsps.post(f"{BASE}/{PAGE}/feed", json=FEED_OK)
    channel.schedule(make_post(images=tuple(photos[:2])), at)
    for upload in rsps.calls[:2]:
        assert b'name="temporary"\r\n\r\ntrue' in raw(upload)
    feed = form(rsps.calls[2])
    assert feed["published"] == "false"
    assert feed["unpublished_content_type"] == "SCHEDULED"
    assert feed["scheduled_publish_time"] == str(int(at.timestamp()))


def test_schedule_outside_window_sends_nothing(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    with pytest.raises(InvalidRequestError, match="15 phút đến 30 ngày"):
        channel.schedule(make_post(), NOW + timedelta(minutes=5))
    with pytest.raises(InvalidRequestError):
        channel.schedule(make_post(), NOW + timedelta(days=31))
    assert len(rsps.calls) == 0


def test_reschedule_update_publish_now_and_cancel(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    at = NOW + timedelta(days=3)
    rsps.post(f"{BASE}/{POST_ID}", json={"success": True})
    rsps.get(f"{BASE}/{POST_ID}", json={**FEED_OK, "is_published": True})
    rsps.delete(f"{BASE}/{POST_ID}", json={"success": True})
    channel.reschedule(POST_ID, at)
    channel.update_message(POST_ID, make_post("Mới", "Nội dung mới"))
    live = channel.publish_scheduled_now(POST_ID)
    channel.cancel(POST_ID)
    assert form(rsps.calls[0]) == {
        "scheduled_publish_time": str(int(at.timestamp())),
        "appsecret_proof": proof(),
    }
    assert form(rsps.calls[1])["message"] == "Mới\n\nNội dung mới"
    assert form(rsps.calls[2])["is_published"] == "true"
    assert live.is_published and live.url == PERMALINK
    assert rsps.calls[4].request.method == "DELETE"
    assert query(rsps.calls[4])["appsecret_proof"] == proof()


def test_cancel_of_a_post_already_gone_is_done(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    rsps.delete(f"{BASE}/{POST_ID}", json=graph_error(100, 33), status=400)
    channel.cancel(POST_ID)


def test_get_post_reads_state_and_none_when_deleted(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    rsps.get(
        f"{BASE}/{POST_ID}",
        json={**FEED_OK, "is_published": False, "scheduled_publish_time": 1728550800},
    )
    rsps.get(f"{BASE}/{PAGE}_2", json=graph_error(100, 33), status=400)
    post = channel.get_post(POST_ID)
    assert post is not None and not post.is_published
    assert post.scheduled_for == datetime.fromtimestamp(1728550800, UTC)
    assert query(rsps.calls[0])["fields"].startswith("id,message,created_time,permalink_url")
    assert channel.get_post(f"{PAGE}_2") is None


def test_message_over_the_limit_refused_locally(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    with pytest.raises(InvalidRequestError, match="63206"):
        channel.publish(make_post("T", "x" * 63_300))
    assert len(rsps.calls) == 0


def test_channel_off_raises_config_error(env: dict[str, str]) -> None:
    channel = FacebookChannel(load_settings(env, dotenv_path=None))
    with pytest.raises(ConfigError, match="FB_PAGE_ID, FB_PAGE_ACCESS_TOKEN"):
        channel.publish(make_post())


def test_no_proof_without_app_secret(
    rsps: responses.RequestsMock, env: dict[str, str], clock: FakeClock
) -> None:
    settings = load_settings(
        {**env, "FB_GRAPH_URL": BASE.rsplit("/", 1)[0], "FB_PAGE_ID": PAGE,
         "FB_PAGE_ACCESS_TOKEN": TOKEN},
        dotenv_path=None,
    )  # fmt: skip
    rsps.get(f"{BASE}/{POST_ID}", json=FEED_OK)
    FacebookChannel(settings, clock=clock).get_post(POST_ID)
    assert "appsecret_proof" not in query(rsps.calls[0])


# ---------------------------------------------------------------- errors

ERROR_TABLE = [
    (1, None, False, 400, TransientError),
    (2, None, True, 500, TransientError),
    (9999, None, True, 400, TransientError),
    (9999, None, False, 503, TransientError),
    (4, None, True, 400, RateLimitError),
    (17, None, False, 400, RateLimitError),
    (32, None, False, 400, RateLimitError),
    (341, None, False, 400, RateLimitError),
    (613, None, False, 400, RateLimitError),
    (613, 1996, False, 400, RateLimitError),
    (80001, None, True, 400, RateLimitError),
    (368, None, False, 400, PolicyError),
    (368, 1390008, False, 400, PolicyError),
    (190, None, False, 400, AuthError),
    (190, 458, False, 400, AuthError),
    (190, 459, False, 400, AuthError),
    (190, 460, False, 400, AuthError),
    (190, 463, False, 400, AuthError),
    (190, 464, False, 400, AuthError),
    (190, 467, False, 400, AuthError),
    (190, 492, False, 401, AuthError),
    (102, None, False, 400, AuthError),
    (10, None, False, 403, PermissionDeniedError),
    (200, None, False, 403, PermissionDeniedError),
    (230, None, False, 400, PermissionDeniedError),
    (299, None, False, 400, PermissionDeniedError),
    (3, None, False, 400, PermissionDeniedError),
    (100, None, False, 400, InvalidRequestError),
    (100, 33, False, 400, InvalidRequestError),
    (324, None, False, 400, InvalidRequestError),
    (1609005, None, False, 400, InvalidRequestError),
    (9999, None, False, 400, InvalidRequestError),
    (506, None, False, 400, DuplicateError),
    (506, None, False, 200, DuplicateError),
]


@pytest.mark.parametrize(("code", "subcode", "transient", "status", "expected"), ERROR_TABLE)
def test_error_table_on_create(
    rsps: responses.RequestsMock,
    channel: FacebookChannel,
    code: int,
    subcode: int | None,
    transient: bool,
    status: int,
    expected: type[ChannelError],
) -> None:
    message = f"(#{code}) Graph said no to {TOKEN}"  # a platform that echoes the token
    rsps.post(
        f"{BASE}/{PAGE}/feed",
        json=graph_error(code, subcode, is_transient=transient, message=message),
        status=status,
    )
    with pytest.raises(ChannelError) as caught:
        channel.publish(make_post())
    exc = caught.value
    if status >= 500:
        # a create answered by a server failure may have happened: reconcile, never retry
        assert type(exc) is OutcomeUnknownError
    else:
        assert type(exc) is expected
    assert len(rsps.calls) == 1
    assert (exc.platform, exc.http_status, exc.code) == ("facebook", status, code)
    assert exc.subcode == subcode and exc.trace_id == "EJplcsCHuLu"
    assert TOKEN not in str(exc) and TOKEN not in (exc.body or "")
    assert TOKEN not in exc.platform_message


@pytest.mark.parametrize(("code", "subcode", "transient", "status", "expected"), ERROR_TABLE)
def test_error_table_on_reads(
    rsps: responses.RequestsMock,
    channel: FacebookChannel,
    code: int,
    subcode: int | None,
    transient: bool,
    status: int,
    expected: type[ChannelError],
) -> None:
    rsps.get(
        f"{BASE}/{POST_ID}",
        json=graph_error(code, subcode, is_transient=transient, error_user_msg="Thử lại sau"),
        status=status,
    )
    if (code, subcode) == (100, 33):
        assert channel.get_post(POST_ID) is None  # "does not exist" is an answer here
        return
    with pytest.raises(expected) as caught:
        channel.get_post(POST_ID)
    exc = caught.value
    assert type(exc) is expected
    assert (exc.http_status, exc.code, exc.subcode) == (status, code, subcode)
    assert exc.trace_id == "EJplcsCHuLu"
    assert exc.platform_message.startswith(f"(#{code}) something")
    assert "Thử lại sau" in exc.platform_message
    assert len(rsps.calls) == (3 if status >= 500 else 1)  # reads retried on 5xx


def test_rate_limit_retry_after_from_header_or_floor(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    usage = {PAGE: [{"type": "pages", "call_count": 60, "estimated_time_to_regain_access": 7}]}
    rsps.get(
        f"{BASE}/{POST_ID}",
        json=graph_error(32),
        status=400,
        headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
    )
    with pytest.raises(RateLimitError) as caught:
        channel.get_post(POST_ID)
    assert caught.value.retry_after == 7 * 60
    rsps.replace(responses.GET, f"{BASE}/{POST_ID}", json=graph_error(4), status=400)
    with pytest.raises(RateLimitError) as caught:
        channel.get_post(POST_ID)
    assert caught.value.retry_after == 60


# ---------------------------------------------------------------- usage headers


def test_usage_above_75_percent_slows_down(
    rsps: responses.RequestsMock, channel: FacebookChannel, sleeps: list[float]
) -> None:
    usage = {PAGE: [{"type": "pages", "call_count": 80, "total_time": 10, "total_cputime": 5,
                     "estimated_time_to_regain_access": 0}]}  # fmt: skip
    rsps.get(
        f"{BASE}/{POST_ID}",
        json=FEED_OK,
        headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
    )
    channel.get_post(POST_ID)
    assert sleeps == [] and channel.usage_percent == 80
    assert 2 <= channel.throttle_delay < 30
    channel.get_post(POST_ID)
    assert sleeps == [pytest.approx(channel.throttle_delay)]


def test_app_usage_header_is_read_too(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    rsps.get(
        f"{BASE}/{POST_ID}",
        json=FEED_OK,
        headers={
            "X-App-Usage": json.dumps({"call_count": 12, "total_time": 91, "total_cputime": 3})
        },
    )
    channel.get_post(POST_ID)
    assert channel.usage_percent == 91


def test_usage_at_100_percent_stops_calls_until_regained(
    rsps: responses.RequestsMock, channel: FacebookChannel, clock: FakeClock
) -> None:
    usage = {PAGE: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 5}]}
    rsps.get(
        f"{BASE}/{POST_ID}",
        json=FEED_OK,
        headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
    )
    assert channel.get_post(POST_ID) is not None  # the answer itself is kept
    with pytest.raises(RateLimitError) as caught:
        channel.publish(make_post())
    assert caught.value.retry_after == pytest.approx(300)
    assert len(rsps.calls) == 1  # stopped before sending
    clock.advance(minutes=6)
    rsps.replace(responses.GET, f"{BASE}/{POST_ID}", json=FEED_OK)
    assert channel.get_post(POST_ID) is not None
    assert channel.usage_percent == 0


def test_usage_at_100_without_estimate_waits_at_least_a_minute(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    rsps.get(f"{BASE}/{POST_ID}", json=FEED_OK, headers={"X-Page-Usage": '{"call_count": 100}'})
    channel.get_post(POST_ID)
    with pytest.raises(RateLimitError) as caught:
        channel.get_post(POST_ID)
    assert caught.value.retry_after == pytest.approx(60)


# ---------------------------------------------------------------- outcome unknown


@pytest.mark.parametrize(
    "failure",
    [
        requests.ReadTimeout("read timed out"),
        requests.ConnectionError("('Connection aborted.', RemoteDisconnected('closed'))"),
    ],
)
def test_create_transport_failure_is_outcome_unknown_and_not_retried(
    rsps: responses.RequestsMock, channel: FacebookChannel, failure: Exception
) -> None:
    rsps.post(f"{BASE}/{PAGE}/feed", body=failure)
    with pytest.raises(OutcomeUnknownError):
        channel.publish(make_post())
    assert len(rsps.calls) == 1


def test_create_500_is_outcome_unknown_with_graph_code(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    rsps.post(f"{BASE}/{PAGE}/feed", json=graph_error(1, message="An unknown error"), status=500)
    with pytest.raises(OutcomeUnknownError) as caught:
        channel.publish(make_post())
    assert len(rsps.calls) == 1
    assert caught.value.code == 1 and caught.value.trace_id == "EJplcsCHuLu"
    assert caught.value.http_status == 500


def test_single_photo_create_timeout_is_outcome_unknown(
    rsps: responses.RequestsMock, channel: FacebookChannel, photos: list[OutgoingImage]
) -> None:
    rsps.post(f"{BASE}/{PAGE}/photos", body=requests.ReadTimeout("read timed out"))
    with pytest.raises(OutcomeUnknownError):
        channel.publish(make_post(images=(photos[0],)))
    assert len(rsps.calls) == 1


def test_connect_failure_on_create_is_plain_transient(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    rsps.post(f"{BASE}/{PAGE}/feed", body=requests.ConnectTimeout("connect timed out"))
    with pytest.raises(TransientError) as caught:
        channel.publish(make_post())
    assert not isinstance(caught.value, OutcomeUnknownError)


def test_reads_are_retried(rsps: responses.RequestsMock, channel: FacebookChannel) -> None:
    rsps.get(f"{BASE}/{POST_ID}", body=requests.ReadTimeout("read timed out"))
    rsps.get(f"{BASE}/{POST_ID}", json=graph_error(2, is_transient=True), status=500)
    rsps.get(f"{BASE}/{POST_ID}", json=FEED_OK)
    assert channel.get_post(POST_ID) is not None
    assert len(rsps.calls) == 3


# ---------------------------------------------------------------- find_published


def test_find_published_pages_without_leaking_the_token(
    rsps: responses.RequestsMock, channel: FacebookChannel, photos: list[OutgoingImage]
) -> None:
    post = make_post(images=tuple(photos[:3]))
    text = compose_message(post)
    album: dict[str, Any] = {
        "data": [{"subattachments": {"data": [{"media": {}}] * 3}, "media": {}}]
    }
    page1 = {
        "data": [
            {"id": f"{PAGE}_9", "message": "khác", "created_time": "2024-10-09T01:05:00+0000"},
            {"id": f"{PAGE}_8", "message": text, "created_time": "2024-10-09T01:04:00+0000",
             "attachments": {"data": [{"subattachments": {"data": [{"media": {}}] * 2}}]}},
        ],
        "paging": {"next": f"{BASE}/{PAGE}/feed?access_token={TOKEN}&limit=25&after=CUR2"
                           f"&fields=id&appsecret_proof=abc"},
    }  # fmt: skip
    page2 = {
        "data": [
            {"id": f"{PAGE}_7", "message": f"  {text}\n",
             "created_time": "2024-10-09T01:02:00+0000",
             "permalink_url": PERMALINK, "is_published": True, "attachments": album},
        ]
    }  # fmt: skip
    rsps.get(f"{BASE}/{PAGE}/feed", json=page1)
    rsps.get(f"{BASE}/{PAGE}/feed", json=page2)
    found = channel.find_published(post, NOW)
    assert found is not None and found.remote_id == f"{PAGE}_7" and found.url == PERMALINK
    second = query(rsps.calls[1])
    assert second["after"] == "CUR2"
    assert second["appsecret_proof"] == proof()


def test_find_published_stops_at_older_posts_then_checks_scheduled(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    post = make_post()
    old = {"data": [{"id": f"{PAGE}_1", "message": compose_message(post),
                     "created_time": "2024-10-08T01:00:00+0000"}],
           "paging": {"next": f"{BASE}/{PAGE}/feed?after=X"}}  # fmt: skip
    rsps.get(f"{BASE}/{PAGE}/feed", json=old)
    rsps.get(f"{BASE}/{PAGE}/scheduled_posts", json={"data": []})
    assert channel.find_published(post, NOW) is None
    assert [urlsplit(url_of(c)).path.rsplit("/", 1)[-1] for c in rsps.calls] == [
        "feed",
        "scheduled_posts",
    ]


@pytest.mark.parametrize(
    "attachments",
    [
        {"data": [{"type": "album"}]},  # a Graph that names the attachment only by type
        {"data": [{"type": "photo"}, {"type": "photo"}, {"type": "photo"}]},
        {"data": [{"type": "album", "subattachments": {}}]},
    ],
)
def test_a_text_match_whose_photos_cannot_be_counted_is_ours(
    rsps: responses.RequestsMock,
    channel: FacebookChannel,
    photos: list[OutgoingImage],
    attachments: dict[str, Any],
) -> None:
    """Counted as 0, it looked like a stranger's post and was sent a second time."""
    post = make_post(images=tuple(photos[:3]))
    item = {"id": f"{PAGE}_5", "message": compose_message(post), "attachments": attachments,
            "created_time": "2024-10-09T01:01:00+0000", "permalink_url": PERMALINK}  # fmt: skip
    rsps.get(f"{BASE}/{PAGE}/feed", json={"data": [item]})
    found = channel.find_published(post, NOW)
    assert found is not None and found.remote_id == f"{PAGE}_5"
    assert found.extra["photos_unverified"] is True


def test_a_counted_different_number_of_photos_is_not_ours(
    rsps: responses.RequestsMock, channel: FacebookChannel, photos: list[OutgoingImage]
) -> None:
    post = make_post(images=tuple(photos[:3]))
    two = {"data": [{"subattachments": {"data": [{"media": {}}] * 2}, "media": {}}]}
    item = {"id": f"{PAGE}_5", "message": compose_message(post), "attachments": two,
            "created_time": "2024-10-09T01:01:00+0000"}  # fmt: skip
    rsps.get(f"{BASE}/{PAGE}/feed", json={"data": [item]})
    rsps.get(f"{BASE}/{PAGE}/scheduled_posts", json={"data": []})
    assert channel.find_published(post, NOW) is None


def test_a_post_another_publication_holds_is_never_answered(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    post = make_post()
    item = {"id": f"{PAGE}_5", "message": compose_message(post),
            "created_time": "2024-10-09T01:01:00+0000"}  # fmt: skip
    rsps.get(f"{BASE}/{PAGE}/feed", json={"data": [item]})
    rsps.get(f"{BASE}/{PAGE}/scheduled_posts", json={"data": [item]})
    assert channel.find_published(post, NOW, exclude=frozenset({f"{PAGE}_5"})) is None


def test_find_scheduled_reads_only_what_facebook_holds(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    """Asked before scheduling: a post handed over weeks ago (before a restored backup)."""
    post = make_post()
    held = {"id": f"{PAGE}_6", "message": compose_message(post), "is_published": False,
            "created_time": "2024-09-12T01:00:00+0000",
            "scheduled_publish_time": 1728540000}  # fmt: skip
    rsps.get(f"{BASE}/{PAGE}/scheduled_posts", json={"data": [held]})
    found = channel.find_scheduled(post)
    assert found is not None and found.remote_id == f"{PAGE}_6" and not found.is_published
    assert [urlsplit(url_of(c)).path.rsplit("/", 1)[-1] for c in rsps.calls] == ["scheduled_posts"]


# ---------------------------------------------------------------- engagement (unit)


def batch_answers(
    answer: Callable[[str], tuple[int, Any] | None],
) -> Callable[[Any], tuple[int, dict[str, str], str]]:
    """A ``responses`` callback for ``POST /`` with ``batch=[…]``: ``answer(relative_url)``
    gives each entry's (HTTP code, body) or None (a ``null`` entry), in order."""

    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        sent = json.loads(parse_qs(body)["batch"][0])
        assert len(sent) <= 50
        out = []
        for entry in sent:
            assert entry["method"] == "GET"
            got = answer(entry["relative_url"])
            out.append(None if got is None else {"code": got[0], "body": json.dumps(got[1])})
        return 200, {"Content-Type": "application/json"}, json.dumps(out)

    return callback


def relative_parts(relative_url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(relative_url)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def test_engagement_missing_shares_means_zero(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    node = {
        "id": POST_ID,
        "reactions": {"data": [], "summary": {"total_count": 7}},
        "comments": {"data": [], "summary": {"total_count": 2}},
    }
    insights = {"data": [
        {"name": "post_media_view", "values": [{"value": {"is_from_ads": 0, "organic": 40}}]},
        {"name": "post_total_media_view_unique", "values": [{"value": 31}]},
    ]}  # fmt: skip
    seen: list[tuple[str, dict[str, str]]] = []

    def answer(relative_url: str) -> tuple[int, Any]:
        seen.append(relative_parts(relative_url))
        return (200, insights) if "/insights" in relative_url else (200, node)

    rsps.add_callback(responses.POST, f"{BASE}/", callback=batch_answers(answer))
    result = channel.fetch_engagement([POST_ID])
    got = result.results[POST_ID]
    assert (got.reactions, got.comments, got.shares, got.views, got.reach) == (7, 2, 0, 40, 31)
    assert len(rsps.calls) == 2
    assert seen == [
        (POST_ID, {
            "fields": "shares,reactions.summary(total_count).limit(0),"
            "comments.summary(true).limit(0)"
        }),
        (f"{POST_ID}/insights", {"metric": "post_media_view,post_total_media_view_unique"}),
    ]  # fmt: skip
    sent = form(rsps.calls[0])
    assert sent["include_headers"] == "false" and sent["appsecret_proof"] == proof()
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "ids" not in query(rsps.calls[0]) and "ids" not in sent  # refused to new apps


def test_engagement_skips_known_unavailable_metrics(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    rsps.add_callback(
        responses.POST, f"{BASE}/", callback=batch_answers(lambda url: (200, {"id": POST_ID}))
    )
    result = channel.fetch_engagement(
        [POST_ID],
        unavailable_metrics=frozenset({"post_media_view", "post_total_media_view_unique"}),
    )
    assert len(rsps.calls) == 1
    assert result.results[POST_ID].views is None


def test_engagement_permission_error_on_insights_keeps_counts(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    def answer(url: str) -> tuple[int, Any]:
        if "/insights" in url:
            return 403, graph_error(10)
        return 200, {"id": POST_ID, "shares": {"count": 3}}

    rsps.add_callback(responses.POST, f"{BASE}/", callback=batch_answers(answer))
    result = channel.fetch_engagement([POST_ID])
    assert result.results[POST_ID].shares == 3
    assert result.results[POST_ID].views is None
    assert result.unavailable_metrics == frozenset()


def test_engagement_auth_error_propagates(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    rsps.post(f"{BASE}/", json=graph_error(190, 460), status=400)
    with pytest.raises(AuthError):
        channel.fetch_engagement([POST_ID])


def test_engagement_auth_or_rate_limit_inside_an_entry_propagates(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    for error, raised in ((graph_error(190, 460), AuthError), (graph_error(80001), RateLimitError)):
        rsps.reset()
        rsps.add_callback(
            responses.POST, f"{BASE}/", callback=batch_answers(lambda url, e=error: (400, e))
        )
        with pytest.raises(raised):
            channel.fetch_engagement([POST_ID, f"{PAGE}_2"])


def test_engagement_entries_fail_alone_and_nulls_are_sent_again(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    ids = [f"{PAGE}_{100 + i}" for i in range(60)]
    deleted, flaky = ids[7], {ids[3], ids[55]}
    tries: dict[str, int] = {}

    def answer(url: str) -> tuple[int, Any] | None:
        path, _ = relative_parts(url)
        post_id = path.split("/")[0]
        if "/insights" in path:
            return 200, {"data": [{"name": "post_media_view", "values": [{"value": 4}]}]}
        if post_id == deleted:
            return 400, graph_error(100, 33, message="Object does not exist")
        tries[post_id] = tries.get(post_id, 0) + 1
        if post_id in flaky and tries[post_id] < 3:
            return None  # not processed: retried
        return 200, {"id": post_id, "reactions": {"summary": {"total_count": int(post_id[-2:])}}}

    rsps.add_callback(responses.POST, f"{BASE}/", callback=batch_answers(answer))
    result = channel.fetch_engagement(ids)
    assert result.missing == frozenset({deleted})
    assert set(result.results) == set(ids) - {deleted}
    assert result.results[ids[3]].reactions == 3 and result.results[ids[55]].reactions == 55
    assert result.results[ids[8]].views == 4
    # counters: 2 batches, then the two nulls together twice; insights: 2 batches
    sizes = [len(json.loads(form(c)["batch"])) for c in rsps.calls]
    assert sizes == [50, 10, 2, 2, 50, 9]


def test_engagement_entries_still_null_after_the_retries_are_left_out(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    def answer(url: str) -> tuple[int, Any] | None:
        return None if url.startswith(f"{PAGE}_2") else (200, {"id": f"{PAGE}_1"})

    rsps.add_callback(responses.POST, f"{BASE}/", callback=batch_answers(answer))
    result = channel.fetch_engagement([f"{PAGE}_1", f"{PAGE}_2"])
    assert set(result.results) == {f"{PAGE}_1"} and result.missing == frozenset()
    assert len(rsps.calls) == 1 + 3 + 1  # counters, 3 resends of the null, insights


# ---------------------------------------------------------------- agency pages (unit)


def test_agency_token_usage_does_not_stop_our_page(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    agency, agency_token = "200000000000011", "agency-token-abcdef"
    full = {agency: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 9}]}
    rsps.get(
        f"{BASE}/{agency}/feed",
        json={"data": []},
        headers={"X-Business-Use-Case-Usage": json.dumps(full)},
    )
    rsps.get(f"{BASE}/{POST_ID}", json=FEED_OK)
    assert channel.read_page_feed(agency, token=agency_token, since=NOW) == []
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {agency_token}"
    # the agency's own app issued its token: our proof would be refused with it
    assert "appsecret_proof" not in query(rsps.calls[0])
    assert channel.get_post(POST_ID) is not None  # our own budget is untouched
    assert query(rsps.calls[1])["appsecret_proof"] == proof()


def test_agency_token_of_our_app_carries_our_proof(
    rsps: responses.RequestsMock, channel: FacebookChannel
) -> None:
    agency, agency_token = "200000000000011", "agency-token-abcdef"
    rsps.get(f"{BASE}/{agency}/feed", json={"data": []})
    channel.read_page_feed(agency, token=agency_token, since=NOW, with_proof=True)
    assert query(rsps.calls[0])["appsecret_proof"] == proof(agency_token)
    channel.read_page_feed(agency, token=None, since=NOW)  # our token: always our proof
    assert query(rsps.calls[1])["appsecret_proof"] == proof()


def test_match_share_rules() -> None:
    ours = {
        f"{PAGE}_122100000000042": f"https://www.facebook.com/{PAGE}/posts/pfbid02abcXYZ",
        f"{PAGE}_122100000000043": "",
    }

    def item(**kw: Any) -> FeedItem:
        return FeedItem(
            id="x", created_time=None, permalink_url=None, parent_id=kw.get("parent"),
            status_type="shared_story", attachment_targets=kw.get("targets", ()),
            attachment_urls=kw.get("urls", ()),
        )  # fmt: skip

    first, second = list(ours)
    assert match_share(item(parent=second), ours) == second
    assert match_share(item(targets=("122100000000042",)), ours) == first
    assert (
        match_share(item(urls=(f"https://m.facebook.com/{PAGE}/posts/pfbid02abcXYZ/",)), ours)
        == first
    )
    assert (
        match_share(item(urls=("https://fb.com/story.php?story_fbid=122100000000043",)), ours)
        == second
    )
    assert (
        match_share(item(urls=("https://fb.com/story.php?story_fbid=9122100000000043",)), ours)
        is None
    )
    assert match_share(item(targets=("999",), urls=("https://vnexpress.net/",)), ours) is None
