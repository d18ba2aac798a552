"""The Zalo channel against ``responses``: every error path, tokens, verify polling, body."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import responses

from social_publisher.channels.base import OutgoingImage, OutgoingPost
from social_publisher.channels.http import HttpClient
from social_publisher.channels.public_media import PublicMedia
from social_publisher.channels.zalo import (
    MAX_DESCRIPTION,
    ZaloChannel,
    paragraphs,
    parse_zalo_time,
    shorten,
)
from social_publisher.config import Settings
from social_publisher.errors import (
    AuthError,
    InvalidRequestError,
    NightTimeError,
    OutcomeUnknownError,
    PermissionDeniedError,
    ProcessingError,
    PublicMediaError,
    QuotaError,
    RateLimitError,
    TransientError,
)

from .conftest import MEDIA_BASE, OPENAPI, FakeClock, FakeTokens, public_dns, serve_folder

CREATE = f"{OPENAPI}/v2.0/article/create"
VERIFY = f"{OPENAPI}/v2.0/article/verify"
DETAIL = f"{OPENAPI}/v2.0/article/getdetail"
SLICE = f"{OPENAPI}/v2.0/article/getslice"
MESSAGE = f"{OPENAPI}/v2.0/oa/message"


def zalo(data: Any = None, error: int = 0, message: str = "Success") -> str:
    body: dict[str, Any] = {"error": error, "message": message}
    if data is not None:
        body["data"] = data
    return json.dumps(body)


def answers(*bodies: str) -> Callable[[requests.PreparedRequest], tuple[int, dict[str, str], str]]:
    """A callback answering the given bodies in turn (the last one repeats)."""
    queue = list(bodies)

    def callback(req: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        body = queue.pop(0) if len(queue) > 1 else queue[0]
        return 200, {"Content-Type": "application/json"}, body

    return callback


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def tokens() -> FakeTokens:
    return FakeTokens()


@pytest.fixture
def channel(
    zsettings: Settings, tokens: FakeTokens, clock: FakeClock, sleeps: Sleeps
) -> ZaloChannel:
    http = HttpClient("zalo", sleep=sleeps)
    return ZaloChannel(
        zsettings,
        tokens=tokens,
        http=http,
        public_media=PublicMedia(
            zsettings, HttpClient("public_media", sleep=sleeps), resolver=public_dns
        ),
        clock=clock,
        sleep=sleeps,
    )


def public(image: OutgoingImage, url: str) -> OutgoingImage:
    return OutgoingImage(image.path, image.sha256, image.width, image.height, image.bytes, url)


# ---------------------------------------------------------------- body building


def test_paragraphs_split_on_blank_lines_and_normalise_to_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Chuyển đổi số")
    body = f"  {decomposed} một.\r\n  dòng hai\n\n\n\t\nĐoạn hai.\n \nĐoạn ba."
    assert paragraphs(body) == ["Chuyển đổi số một.\n  dòng hai", "Đoạn hai.", "Đoạn ba."]


def test_shorten_cuts_at_a_word_with_an_ellipsis() -> None:
    text = "Thị xã Đức Phổ " * 40
    short = shorten(text, MAX_DESCRIPTION)
    assert len(short) <= MAX_DESCRIPTION
    assert short.endswith("…")
    assert not short[:-1].endswith(" ")
    assert shorten("ngắn", 10) == "ngắn"


def test_article_body_interleaves_images_and_respects_limits(
    channel: ZaloChannel, make_post: Callable[..., OutgoingPost], renditions: Any
) -> None:
    images = [public(renditions(), f"https://cdn.test/{i}.jpg") for i in range(4)]
    cover = public(renditions(), "https://cdn.test/cover.jpg")
    post = make_post(
        images=tuple(images),
        cover=cover,
        title=unicodedata.normalize("NFD", "Ngày  Chuyển đổi số"),
        description="Mô tả " * 80,
    )
    article = channel.build_article(post, {})
    assert article["type"] == "normal"
    assert article["title"] == "Ngày Chuyển đổi số"
    assert unicodedata.is_normalized("NFC", article["title"])
    assert article["author"] == "Phòng VHTT thị xã Đức Phổ"
    assert len(article["description"]) <= 290
    assert article["cover"] == {
        "cover_type": "photo",
        "photo_url": "https://cdn.test/cover.jpg",
        "status": "show",
    }
    assert article["status"] == "show" and article["comment"] == "show"
    assert article["tracking_link"] == "https://ducpho.quangngai.gov.vn/cds"
    kinds = [(item["type"], item.get("url", "")[-5:]) for item in article["body"]]
    assert kinds == [
        ("text", ""),
        ("image", "0.jpg"),
        ("text", ""),
        ("image", "1.jpg"),
        ("text", ""),
        ("image", "2.jpg"),
        ("image", "3.jpg"),
    ]


def test_description_defaults_to_the_first_sentence(
    channel: ZaloChannel, make_post: Callable[..., OutgoingPost], renditions: Any
) -> None:
    post = make_post(cover=public(renditions(), "https://cdn.test/c.jpg"), link=None)
    article = channel.build_article(post, {})
    assert article["description"] == "Hưởng ứng Ngày Chuyển đổi số quốc gia."
    assert "tracking_link" not in article


@pytest.mark.parametrize(
    ("field", "value", "label"),
    [("title", "T" * 141, "Tiêu đề"), ("author", "A" * 41, "Tác giả"), ("title", "  ", "Tiêu đề")],
)
def test_title_and_author_beyond_the_margin_are_refused_before_any_call(
    channel: ZaloChannel,
    make_post: Callable[..., OutgoingPost],
    renditions: Any,
    field: str,
    value: str,
    label: str,
) -> None:
    post = make_post(cover=public(renditions(), "https://cdn.test/c.jpg"), **{field: value})
    with responses.RequestsMock(), pytest.raises(InvalidRequestError) as caught:
        channel.create_article(post)
    assert label in caught.value.message


def test_exactly_at_the_margin_is_accepted(
    channel: ZaloChannel, make_post: Callable[..., OutgoingPost], renditions: Any
) -> None:
    post = make_post(
        cover=public(renditions(), "https://cdn.test/c.jpg"), title="T" * 140, author="A" * 40
    )
    assert channel.build_article(post, {})["title"] == "T" * 140


def test_a_post_without_any_image_is_refused(
    channel: ZaloChannel, make_post: Callable[..., OutgoingPost]
) -> None:
    with pytest.raises(InvalidRequestError, match="ảnh bìa"):
        channel.create_article(make_post())


# ---------------------------------------------------------------- create + verify


@responses.activate
def test_publish_creates_then_polls_verify_until_processed(
    channel: ZaloChannel,
    make_post: Callable[..., OutgoingPost],
    renditions: Any,
    sleeps: Sleeps,
    zsettings: Settings,
) -> None:
    seen: list[requests.PreparedRequest] = []

    def create(req: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        seen.append(req)
        return 200, {}, zalo({"token": "processing-token-1"})

    responses.add_callback(responses.POST, CREATE, callback=create)
    responses.add_callback(
        responses.POST,
        VERIFY,
        callback=answers(
            zalo(error=-214, message="Article is being processed"),
            zalo(error=-214, message="Article is being processed"),
            zalo({"id": "article-42"}),
        ),
    )
    responses.add(
        responses.GET, DETAIL, body=zalo({"id": "article-42", "link_view": "https://zalo.me/a/42"})
    )
    post = make_post(cover=public(renditions(), "https://cdn.test/c.jpg"))
    remote = channel.publish(post)

    assert remote.remote_id == "article-42"
    assert remote.url == "https://zalo.me/a/42"
    assert remote.extra["processing_token"] == "processing-token-1"
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]  # backoff, never a real wait
    request = seen[0]
    assert request.headers["access_token"] == "access-token-one-0001"
    assert (
        request.headers["appsecret_proof"]
        == hmac.new(
            zsettings.zalo_app_secret.encode(), b"access-token-one-0001", hashlib.sha256
        ).hexdigest()
    )
    assert "access-token" not in str(request.url)
    assert "Authorization" not in request.headers
    verify_body = json.loads(responses.calls[1].request.body or b"{}")
    assert verify_body == {"token": "processing-token-1"}


@responses.activate
def test_verify_accepts_data_article_id(channel: ZaloChannel) -> None:
    responses.add(responses.POST, VERIFY, body=zalo({"article_id": "a-77"}))
    responses.add(responses.GET, DETAIL, body=zalo(error=-201, message="nope"))
    remote = channel.verify_article("tok")
    assert remote.remote_id == "a-77"
    assert remote.url is None  # the link is best effort


@responses.activate
def test_verify_gives_up_after_about_a_minute(channel: ZaloChannel, sleeps: Sleeps) -> None:
    responses.add(responses.POST, VERIFY, body=zalo(error=-214, message="processing"))
    with pytest.raises(ProcessingError) as caught:
        channel.verify_article("tok")
    assert 60 <= sum(sleeps) <= 80
    assert caught.value.retry_after and caught.value.retry_after >= 30


@responses.activate
def test_publish_turns_a_verify_timeout_into_outcome_unknown(
    channel: ZaloChannel, make_post: Callable[..., OutgoingPost], renditions: Any
) -> None:
    responses.add(responses.POST, CREATE, body=zalo({"token": "t"}))
    responses.add(responses.POST, VERIFY, body=zalo(error=-214, message="processing"))
    with pytest.raises(OutcomeUnknownError):
        channel.publish(make_post(cover=public(renditions(), "https://cdn.test/c.jpg")))


@responses.activate
def test_verify_minus_200_means_nothing_was_published(
    channel: ZaloChannel, make_post: Callable[..., OutgoingPost], renditions: Any
) -> None:
    responses.add(responses.POST, CREATE, body=zalo({"token": "t"}))
    responses.add(responses.POST, VERIFY, body=zalo(error=-200, message="Fetch cover failed"))
    with pytest.raises(TransientError) as caught:
        channel.publish(make_post(cover=public(renditions(), "https://cdn.test/c.jpg")))
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert caught.value.code == -200
    assert "Fetch cover failed" in caught.value.message


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 502, "body": "Bad gateway"},
        {"body": requests.ConnectionError("Connection reset by peer")},
        {"body": requests.ReadTimeout("read timed out")},
        {"status": 200, "body": "<html>not json</html>"},
        {"status": 200, "body": zalo({})},
    ],
)
def test_a_create_without_a_trustworthy_answer_is_outcome_unknown(
    channel: ZaloChannel,
    make_post: Callable[..., OutgoingPost],
    renditions: Any,
    failure: dict[str, Any],
) -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, CREATE, **failure)
        with pytest.raises(OutcomeUnknownError):
            channel.create_article(make_post(cover=public(renditions(), "https://cdn.test/c.jpg")))
        assert len(mock.calls) == 1  # never resent


# ---------------------------------------------------------------- tokens


@pytest.mark.parametrize("code", [-216, -220])
@responses.activate
def test_invalid_token_refreshes_once_and_retries_once(
    channel: ZaloChannel, tokens: FakeTokens, code: int
) -> None:
    used: list[str] = []

    def slice_(req: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        used.append(req.headers["access_token"])
        if req.headers["access_token"] == "access-token-one-0001":
            return 200, {}, zalo(error=code, message="Access token is invalid")
        return 200, {}, zalo({"medias": [], "total": 0})

    responses.add_callback(responses.GET, SLICE, callback=slice_)
    assert channel.list_articles() == ([], 0)
    assert tokens.refreshed == ["access-token-one-0001"]
    assert used == ["access-token-one-0001", "access-token-new-0001"]


@responses.activate
def test_invalid_token_after_the_refresh_is_an_auth_error(
    channel: ZaloChannel, tokens: FakeTokens
) -> None:
    responses.add(responses.GET, SLICE, body=zalo(error=-216, message="Access token is invalid"))
    with pytest.raises(AuthError) as caught:
        channel.list_articles()
    assert len(tokens.refreshed) == 1
    assert len(responses.calls) == 2
    assert "zalo token set" in caught.value.message
    assert "access-token" not in caught.value.message


@responses.activate
def test_refused_refresh_stops_at_once(channel: ZaloChannel, tokens: FakeTokens) -> None:
    tokens.fail_refresh = AuthError("refresh refused", platform="zalo")
    responses.add(responses.POST, CREATE, body=zalo(error=-216, message="Access token is invalid"))
    with pytest.raises(AuthError, match="refresh refused"):
        channel._call("POST", "/v2.0/article/create", action="x", json_body={}, creates=True)
    assert len(responses.calls) == 1


@responses.activate
def test_create_refused_for_the_token_is_resent_after_the_refresh(
    channel: ZaloChannel, make_post: Callable[..., OutgoingPost], renditions: Any
) -> None:
    responses.add_callback(
        responses.POST,
        CREATE,
        callback=answers(zalo(error=-216, message="invalid"), zalo({"token": "tk"})),
    )
    post = make_post(cover=public(renditions(), "https://cdn.test/c.jpg"))
    assert channel.create_article(post) == "tk"
    assert len(responses.calls) == 2


# ---------------------------------------------------------------- other error codes


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (-32, RateLimitError),
        (-223, QuotaError),
        (-211, QuotaError),
        (-201, InvalidRequestError),
        (-209, PermissionDeniedError),
        (-242, PermissionDeniedError),
        (-200, TransientError),
        (-9876, InvalidRequestError),
    ],
)
def test_create_errors_arrive_with_http_200_and_are_classified(
    channel: ZaloChannel,
    make_post: Callable[..., OutgoingPost],
    renditions: Any,
    code: int,
    cls: type,
) -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, CREATE, status=200, body=zalo(error=code, message=f"msg {code}"))
        with pytest.raises(cls) as caught:
            channel.create_article(make_post(cover=public(renditions(), "https://cdn.test/c.jpg")))
    assert type(caught.value) is cls
    assert caught.value.code == code
    assert f"msg {code}" in caught.value.message


@responses.activate
def test_quota_error_waits_until_next_month(
    channel: ZaloChannel, make_post: Callable[..., OutgoingPost], renditions: Any, clock: FakeClock
) -> None:
    responses.add(
        responses.POST,
        CREATE,
        body=zalo(error=-223, message="Your OA has reach the limit quota create article"),
    )
    with pytest.raises(QuotaError) as caught:
        channel.create_article(make_post(cover=public(renditions(), "https://cdn.test/c.jpg")))
    reset = datetime(2026, 4, 1, tzinfo=channel.tz)
    assert caught.value.retry_after == (reset - clock.now).total_seconds()


def test_configured_monthly_quota(
    zsettings: Settings, tokens: FakeTokens, clock: FakeClock
) -> None:
    from dataclasses import replace

    channel = ZaloChannel(
        replace(zsettings, zalo_monthly_article_quota=15), tokens=tokens, clock=clock
    )
    channel.check_quota(14, clock.now)
    with pytest.raises(QuotaError) as caught:
        channel.check_quota(15, clock.now)
    assert (
        caught.value.retry_after
        == (datetime(2026, 4, 1, tzinfo=channel.tz) - clock.now).total_seconds()
    )
    ZaloChannel(zsettings, tokens=tokens, clock=clock).check_quota(1000, clock.now)  # 0: unknown


@responses.activate
def test_http_errors_without_zalo_error_field(channel: ZaloChannel) -> None:
    responses.add(responses.GET, SLICE, status=429, body="{}")
    with pytest.raises(RateLimitError):
        channel.list_articles()
    responses.replace(responses.GET, SLICE, status=404, body='{"message": "no route"}')
    with pytest.raises(InvalidRequestError, match="404"):
        channel.list_articles()


# ---------------------------------------------------------------- public media staging


@responses.activate
def test_create_stages_images_to_the_public_folder_first(
    channel: ZaloChannel,
    make_post: Callable[..., OutgoingPost],
    renditions: Any,
    zsettings: Settings,
) -> None:
    folder = zsettings.public_media_dir
    assert folder is not None
    serve_folder(folder)
    responses.add(responses.POST, CREATE, body=zalo({"token": "tk"}))
    cover, photo = renditions(), renditions()
    channel.create_article(make_post(cover=cover, images=(photo,)))
    sent = json.loads(responses.calls[-1].request.body or b"{}")
    cover_url = sent["cover"]["photo_url"]
    image_url = sent["body"][1]["url"]
    for url, image in ((cover_url, cover), (image_url, photo)):
        assert url.startswith(MEDIA_BASE + "/") and url.isascii()
        name = url.rsplit("/", 1)[-1]
        assert name == hashlib.sha256(image.path.read_bytes()).hexdigest()[:32] + ".jpg"
        assert (folder / name).read_bytes() == image.path.read_bytes()


def test_create_refuses_images_without_public_media(
    zsettings: Settings,
    tokens: FakeTokens,
    make_post: Callable[..., OutgoingPost],
    renditions: Any,
) -> None:
    channel = ZaloChannel(zsettings, tokens=tokens)
    with responses.RequestsMock(), pytest.raises(PublicMediaError, match="PUBLIC_MEDIA_DIR"):
        channel.create_article(make_post(cover=renditions()))


# ---------------------------------------------------------------- find_published


def media(
    article_id: str, title: str, created: Any, views: int = 0, shares: int = 0
) -> dict[str, Any]:
    return {
        "id": article_id,
        "type": "normal",
        "title": title,
        "status": "show",
        "total_view": views,
        "total_share": shares,
        "create_date": created,
        "link_view": f"https://zalo.me/{article_id}",
    }


def paged(
    items: list[dict[str, Any]],
) -> Callable[[requests.PreparedRequest], tuple[int, dict[str, str], str]]:
    def callback(req: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        from urllib.parse import parse_qs, urlsplit

        query = parse_qs(urlsplit(str(req.url)).query)
        assert query["type"] == ["normal"]
        limit = int(query["limit"][0])
        assert limit <= 10
        offset = int(query["offset"][0])
        return 200, {}, zalo({"medias": items[offset : offset + limit], "total": len(items)})

    return callback


@responses.activate
def test_find_published_matches_title_and_creation_time_across_pages(
    channel: ZaloChannel, make_post: Callable[..., OutgoingPost], clock: FakeClock
) -> None:
    post = make_post()
    since = clock.now - timedelta(minutes=3)
    ms = int(clock.now.timestamp() * 1000)
    old_same_title = media("old", post.title, int((since - timedelta(days=30)).timestamp()))
    others = [media(f"o{i}", f"Bài khác {i}", ms) for i in range(10)]
    mine = media("mine", unicodedata.normalize("NFD", post.title), str(ms))
    responses.add_callback(responses.GET, SLICE, callback=paged([*others, old_same_title, mine]))
    responses.add(responses.GET, DETAIL, body=zalo(article_detail("mine", post.body)))
    found = channel.find_published(post, since)
    assert found is not None and found.remote_id == "mine"
    assert found.url == "https://zalo.me/mine"
    assert len(responses.calls) == 3  # two pages, then the one same-title candidate's detail


def article_detail(article_id: str, body: str, images: tuple[str, ...] = ()) -> dict[str, Any]:
    """``getdetail`` of an article built from ``body`` (paragraphs) and image URLs."""
    items: list[dict[str, str]] = [
        {"type": "text", "content": para.strip()} for para in body.split("\n\n") if para.strip()
    ]
    items += [{"type": "image", "url": url} for url in images]
    return {"id": article_id, "body": items, "cover": {"photo_url": images[0] if images else ""}}


@responses.activate
def test_not_found_is_not_final_within_the_processing_window(
    channel: ZaloChannel, make_post: Callable[..., OutgoingPost], clock: FakeClock
) -> None:
    responses.add_callback(responses.GET, SLICE, callback=paged([]))
    since = clock.now - timedelta(seconds=30)
    with pytest.raises(ProcessingError) as caught:
        channel.find_published(make_post(), since)
    # ZALO_SETTLE_SECONDS defaults to 600: ten times the minute the sheet gives processing
    assert caught.value.retry_after == pytest.approx(570)
    clock.advance(300)
    with pytest.raises(ProcessingError):  # a slow article may still appear: no answer yet
        channel.find_published(make_post(), since)
    clock.advance(271)
    assert channel.find_published(make_post(), since) is None


@responses.activate
def test_find_published_without_reading_the_whole_list_concludes_nothing(
    zsettings: Settings,
    tokens: FakeTokens,
    clock: FakeClock,
    make_post: Callable[..., OutgoingPost],
) -> None:
    ms = int(clock.now.timestamp() * 1000)
    responses.add_callback(
        responses.GET, SLICE, callback=paged([media(f"x{i}", "khác", ms) for i in range(40)])
    )
    channel = ZaloChannel(zsettings, tokens=tokens, clock=clock, max_pages=2, settle_window=0)
    with pytest.raises(TransientError):
        channel.find_published(make_post(), clock.now - timedelta(hours=1))


def test_zalo_times_in_every_shape() -> None:
    at = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    assert parse_zalo_time(int(at.timestamp() * 1000)) == at
    assert parse_zalo_time(str(int(at.timestamp()))) == at
    assert parse_zalo_time("10/03/2026 09:00:00", datetime.now().astimezone().tzinfo) is not None
    assert parse_zalo_time("2026-03-10T09:00:00+07:00") == at
    assert parse_zalo_time("garbage") is None
    assert parse_zalo_time(None) is None


# ---------------------------------------------------------------- engagement


@responses.activate
def test_engagement_pages_until_every_id_is_found(channel: ZaloChannel) -> None:
    items = [media(f"a{i}", f"Bài {i}", 0, views=i * 10, shares=i) for i in range(35)]
    responses.add_callback(responses.GET, SLICE, callback=paged(items))
    got = channel.fetch_engagement(["a1", "a15", "gone"])
    assert set(got) == {"a1", "a15"}
    assert (got["a15"].views, got["a15"].shares) == (150, 15)
    assert len(responses.calls) == 4  # read to the end looking for "gone", then stop

    responses.calls.reset()
    got = channel.fetch_engagement(["a2", "a12"])
    assert len(responses.calls) == 2  # stops once both are found
    assert channel.fetch_engagement([]) == {}


# ---------------------------------------------------------------- broadcast


@responses.activate
def test_broadcast_sends_the_article_to_followers(channel: ZaloChannel, clock: FakeClock) -> None:
    responses.add(responses.POST, MESSAGE, body=zalo({"message_id": "m1"}))
    channel.broadcast("article-42", now=clock.now, sent_this_month=3)
    sent = json.loads(responses.calls[0].request.body or b"{}")
    element = sent["message"]["attachment"]["payload"]["elements"][0]
    assert element == {"media_type": "article", "attachment_id": "article-42"}
    assert sent["message"]["attachment"]["payload"]["template_type"] == "media"
    assert "target" in sent["recipient"]


def test_broadcast_only_in_the_daytime(channel: ZaloChannel) -> None:
    night = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)  # 23:00 local
    with responses.RequestsMock(), pytest.raises(NightTimeError) as caught:
        channel.broadcast("a", now=night)
    assert caught.value.retry_after == 7 * 3600
    assert "06:00" in caught.value.message


def test_broadcast_within_the_monthly_budget(channel: ZaloChannel, clock: FakeClock) -> None:
    with responses.RequestsMock(), pytest.raises(QuotaError, match="ZALO_BROADCAST_MONTHLY_BUDGET"):
        channel.broadcast("a", now=clock.now, sent_this_month=4)


@pytest.mark.parametrize(("code", "cls"), [(-221, PermissionDeniedError), (-234, NightTimeError)])
@responses.activate
def test_broadcast_refused_by_zalo_is_reported_clearly(
    channel: ZaloChannel, clock: FakeClock, code: int, cls: type
) -> None:
    responses.add(responses.POST, MESSAGE, body=zalo(error=code, message="refused"))
    with pytest.raises(cls) as caught:
        channel.broadcast("a", now=clock.now)
    assert "gửi tin bài viết tới người quan tâm" in caught.value.message


# ---------------------------------------------------------------- diagnose


def test_diagnose_reports_a_disabled_channel(settings: Settings, tokens: FakeTokens) -> None:
    lines = ZaloChannel(settings, tokens=tokens).diagnose()
    assert len(lines) == 1 and not lines[0].ok
    assert "ZALO_APP_ID" in lines[0].message


@responses.activate
def test_diagnose_checks_the_api_and_the_public_folder(
    channel: ZaloChannel, zsettings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    folder = zsettings.public_media_dir
    assert folder is not None
    serve_folder(folder)
    responses.add(responses.GET, SLICE, body=zalo({"medias": [], "total": 3}))
    lines = {d.name: d for d in channel.diagnose()}
    assert lines["zalo.settings"].ok
    assert lines["zalo.api"].ok and "3 bài viết" in lines["zalo.api"].message
    assert lines["zalo.public_media"].ok
    assert list(folder.iterdir()) == []  # the probe is removed

    responses.replace(responses.GET, SLICE, body=zalo(error=-205, message="OA not found"))
    lines = {d.name: d for d in channel.diagnose()}
    assert not lines["zalo.api"].ok and "OA not found" in lines["zalo.api"].message


def test_nothing_is_logged_with_a_token(
    channel: ZaloChannel, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), responses.RequestsMock() as mock:
        mock.add(responses.GET, SLICE, body=zalo(error=-216, message="bad"))
        with pytest.raises(AuthError):
            channel.list_articles()
    assert "access-token" not in caplog.text


# ---------------------------------------------------------------- find_published: by content


PARAS = (
    "Hưởng ứng Ngày Chuyển đổi số quốc gia. Thị xã tổ chức nhiều hoạt động.",
    "Người dân được hướng dẫn cài đặt VNeID.",
    "Ban tổ chức cảm ơn các đơn vị.",
)


def detail_of(article_id: str, texts: tuple[str, ...], images: tuple[str, ...] = ()) -> str:
    body: list[dict[str, str]] = [{"type": "text", "content": t} for t in texts]
    body += [{"type": "image", "url": u} for u in images]
    return zalo({"id": article_id, "body": body, "cover": {"photo_url": (images or ("",))[0]}})


def details(bodies: dict[str, str]) -> Callable[[requests.PreparedRequest], tuple[int, Any, str]]:
    def callback(req: requests.PreparedRequest) -> tuple[int, Any, str]:
        from urllib.parse import parse_qs, urlsplit

        article_id = parse_qs(urlsplit(str(req.url)).query)["id"][0]
        return 200, {}, bodies[article_id]

    return callback


@responses.activate
def test_an_article_with_the_same_title_but_another_text_is_not_ours(
    channel: ZaloChannel, make_post: Callable[..., OutgoingPost], clock: FakeClock
) -> None:
    """Weekly posts share a title: the newest same-title article is another week's."""
    post = make_post()
    ms = int(clock.now.timestamp() * 1000)
    other_week = (PARAS[0], "Lịch tiếp công dân tuần sau.", PARAS[2])
    responses.add_callback(
        responses.GET,
        SLICE,
        callback=paged([media("theirs", post.title, ms), media("ours", post.title, ms - 5000)]),
    )
    responses.add_callback(
        responses.GET,
        DETAIL,
        callback=details(
            {"theirs": detail_of("theirs", other_week), "ours": detail_of("ours", PARAS)}
        ),
    )
    found = channel.find_published(post, clock.now - timedelta(minutes=2))
    assert found is not None and found.remote_id == "ours"


@responses.activate
def test_an_article_another_publication_holds_is_never_answered(
    channel: ZaloChannel, make_post: Callable[..., OutgoingPost], clock: FakeClock
) -> None:
    post = make_post()
    ms = int(clock.now.timestamp() * 1000)
    responses.add_callback(responses.GET, SLICE, callback=paged([media("held", post.title, ms)]))
    responses.add(responses.GET, DETAIL, body=detail_of("held", PARAS))
    since = clock.now - timedelta(minutes=11)  # the settle window (600 s) has passed
    assert channel.find_published(post, since, exclude=frozenset({"held"})) is None
    assert not any("getdetail" in call.request.url for call in responses.calls)


@responses.activate
def test_a_same_title_article_whose_content_cannot_be_read_is_held_for_a_person(
    channel: ZaloChannel, make_post: Callable[..., OutgoingPost], clock: FakeClock
) -> None:
    post = make_post()
    ms = int(clock.now.timestamp() * 1000)
    responses.add_callback(responses.GET, SLICE, callback=paged([media("odd", post.title, ms)]))
    responses.add(responses.GET, DETAIL, body=zalo({"id": "odd", "title": post.title}))
    from social_publisher.errors import UnverifiedMatchError

    with pytest.raises(UnverifiedMatchError) as caught:
        channel.find_published(post, clock.now - timedelta(minutes=3))
    assert caught.value.candidate == "https://zalo.me/odd"


@responses.activate
def test_images_are_compared_when_the_article_shows_our_public_urls(
    channel: ZaloChannel, make_post: Callable[..., OutgoingPost], clock: FakeClock, tmp_path: Any
) -> None:
    def image(name: str) -> OutgoingImage:
        path = tmp_path / name
        path.write_bytes(b"jpeg " + name.encode())
        return OutgoingImage(path, "s" * 64, 1280, 720, 9, public_url=f"{MEDIA_BASE}/{name}")

    photos = (image("a.jpg"), image("b.jpg"))
    post = make_post(images=photos, cover=image("cover.jpg"))
    ms = int(clock.now.timestamp() * 1000)
    ours = (f"{MEDIA_BASE}/a.jpg", f"{MEDIA_BASE}/b.jpg")
    swapped = (f"{MEDIA_BASE}/b.jpg", f"{MEDIA_BASE}/a.jpg")
    responses.add_callback(
        responses.GET,
        SLICE,
        callback=paged([media("other", post.title, ms), media("mine", post.title, ms - 1)]),
    )
    bodies = {"other": detail_of("other", PARAS, swapped), "mine": detail_of("mine", PARAS, ours)}
    mine = json.loads(bodies["mine"])
    mine["data"]["cover"]["photo_url"] = f"{MEDIA_BASE}/cover.jpg"
    bodies["mine"] = json.dumps(mine)
    responses.add_callback(responses.GET, DETAIL, callback=details(bodies))
    found = channel.find_published(post, clock.now - timedelta(minutes=3))
    assert found is not None and found.remote_id == "mine"


@responses.activate
def test_the_article_list_is_read_only_back_to_the_attempt(
    zsettings: Settings,
    tokens: FakeTokens,
    clock: FakeClock,
    make_post: Callable[..., OutgoingPost],
) -> None:
    """A large OA: pages older than the attempt are not read, so the lookup concludes."""
    old = int((clock.now - timedelta(days=20)).timestamp() * 1000)
    responses.add_callback(
        responses.GET, SLICE, callback=paged([media(f"x{i}", "khác", old) for i in range(40)])
    )
    channel = ZaloChannel(zsettings, tokens=tokens, clock=clock, max_pages=2, settle_window=0)
    assert channel.find_published(make_post(), clock.now - timedelta(hours=1)) is None
    assert len(responses.calls) == 1
