"""The real FacebookChannel against the sandbox over real sockets, faults on."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta

import pytest

from social_publisher.channels.base import OutgoingImage
from social_publisher.channels.facebook import (
    FacebookChannel,
    compose_message,
    match_share,
)
from social_publisher.errors import (
    AppSecretProofError,
    AuthError,
    DuplicateError,
    InvalidRequestError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    SetupError,
    TransientError,
)
from social_publisher.sandbox import SANDBOX_FB_PAGE_ID, Sandbox

from .conftest import FakeClock, make_post

Start = Callable[..., tuple[Sandbox, FacebookChannel]]
PAGE = SANDBOX_FB_PAGE_ID


def batch_requests(box: Sandbox) -> int:
    return int(box.request_counts()["routes"].get("POST /{version}/ (batch)", 0))


def no_legacy_calls(box: Sandbox) -> None:
    routes = box.request_counts()["routes"]
    assert "GET /{version}/?ids" not in routes and "GET /{version}/(unknown)" not in routes
    assert box.graph.state()["legacy_refused"] == {}


# ---------------------------------------------------------------- publishing


def test_each_publish_makes_exactly_one_post(
    sandbox_factory: Start, photos: list[OutgoingImage]
) -> None:
    box, fb = sandbox_factory(graph_require_appsecret_proof=True)
    fb.publish(make_post("Chữ", "Chỉ có chữ"))
    fb.publish(make_post("Liên kết", "Có link", link="https://ducpho.quangngai.gov.vn/cds"))
    one = fb.publish(make_post("Một ảnh", "Một ảnh", images=(photos[0],)))
    five = fb.publish(make_post("Năm ảnh", "Năm ảnh", images=tuple(photos[:5])))
    posts = box.graph.posts()
    assert [(p["kind"], p["photo_count"], p["status"]) for p in posts] == [
        ("status", 0, "published"),
        ("link", 0, "published"),
        ("photo", 1, "published"),
        ("album", 5, "published"),
    ]
    assert posts[1]["link"] == "https://ducpho.quangngai.gov.vn/cds"
    assert posts[2]["message"] == "Một ảnh\n\nMột ảnh"
    assert one.url == posts[2]["permalink_url"] and five.remote_id == posts[3]["id"]
    assert all(p["post_id"] for p in box.graph.state()["photos"])  # no orphan uploads
    assert box.graph.state()["token_in_query"] == 0


def test_created_then_dropped_is_adopted(sandbox_factory: Start, clock: FakeClock) -> None:
    box, fb = sandbox_factory(faults="graph.feed=drop:x1")
    post = make_post()
    since = clock()
    with pytest.raises(OutcomeUnknownError):
        fb.publish(post)
    clock.advance(seconds=30)
    found = fb.find_published(post, since)
    assert found is not None and found.is_published
    assert [p["id"] for p in box.graph.posts()] == [found.remote_id]
    assert found.url == box.graph.posts()[0]["permalink_url"]


def test_created_then_500_multi_photo_is_adopted(
    sandbox_factory: Start, clock: FakeClock, photos: list[OutgoingImage]
) -> None:
    box, fb = sandbox_factory(faults="graph.feed=500:x1")
    post = make_post(images=tuple(photos[:3]))
    since = clock()
    with pytest.raises(OutcomeUnknownError) as caught:
        fb.publish(post)
    assert caught.value.code == 1  # Graph's body is read even on a 500
    found = fb.find_published(post, since)
    assert found is not None
    assert [(p["id"], p["photo_count"]) for p in box.graph.posts()] == [(found.remote_id, 3)]
    # the same text with another photo count is not "ours"
    assert fb.find_published(make_post(images=tuple(photos[:2])), since) is None


def test_single_photo_dropped_is_adopted(
    sandbox_factory: Start, clock: FakeClock, photos: list[OutgoingImage]
) -> None:
    box, fb = sandbox_factory(faults="graph.photo=drop:x1")
    post = make_post(images=(photos[0],), link="https://ducpho.quangngai.gov.vn")
    since = clock()
    with pytest.raises(OutcomeUnknownError):
        fb.publish(post)
    found = fb.find_published(post, since)
    assert found is not None and found.remote_id == box.graph.posts()[0]["id"]


def test_dropped_scheduled_post_is_found_among_scheduled(
    sandbox_factory: Start, clock: FakeClock, photos: list[OutgoingImage]
) -> None:
    box, fb = sandbox_factory(faults="graph.feed=drop:x1")
    post = make_post(images=tuple(photos[:2]))
    since = clock()
    with pytest.raises(OutcomeUnknownError):
        fb.schedule(post, since + timedelta(days=2))
    found = fb.find_published(post, since)
    assert found is not None and not found.is_published
    assert box.graph.state()["scheduled_posts"] == [found.remote_id]


def test_error_before_processing_then_clean_retry(sandbox_factory: Start, clock: FakeClock) -> None:
    box, fb = sandbox_factory(faults="graph.create=code:2:x1")
    post = make_post()
    since = clock()
    # Graph answers code 2 with HTTP 500: for a create that is "outcome unknown"...
    with pytest.raises(OutcomeUnknownError) as caught:
        fb.publish(post)
    assert caught.value.code == 2
    # ...and reconciling shows nothing was made, so a retry is safe.
    assert fb.find_published(post, since) is None
    fb.publish(post)
    assert len(box.graph.posts()) == 1


def test_transient_code_on_reads(sandbox_factory: Start) -> None:
    box, fb = sandbox_factory(faults="graph.read=code:2")
    with pytest.raises(TransientError) as caught:
        fb.get_post(f"{PAGE}_1")
    assert caught.value.code == 2
    assert box.request_counts()["total"] == 3  # the transport retried the read twice


def test_rate_limit_code(sandbox_factory: Start) -> None:
    _, fb = sandbox_factory(faults="graph.any=code:4:x1")
    with pytest.raises(RateLimitError) as caught:
        fb.publish(make_post())
    assert caught.value.code == 4 and (caught.value.retry_after or 0) >= 60


def test_revoked_token_is_auth_error(sandbox_factory: Start) -> None:
    box, fb = sandbox_factory()
    box.graph.revoke_token(subcode=460)
    with pytest.raises(AuthError) as caught:
        fb.publish(make_post())
    assert (caught.value.code, caught.value.subcode) == (190, 460)


def test_wrong_token_is_auth_error(sandbox_factory: Start) -> None:
    _, fb = sandbox_factory(settings_overrides={"FB_PAGE_ACCESS_TOKEN": "not-the-page-token"})
    with pytest.raises(AuthError):
        fb.get_post(f"{PAGE}_1")


def test_wrong_app_secret_is_a_setup_error_naming_the_setting(sandbox_factory: Start) -> None:
    _, fb = sandbox_factory(settings_overrides={"FB_APP_SECRET": "wrong-app-secret-value"})
    with pytest.raises(AppSecretProofError) as caught:
        fb.get_post(f"{PAGE}_1")
    error = caught.value
    assert isinstance(error, SetupError) and error.kind == "setup" and error.proof_sent
    assert (error.code, error.http_status) == (100, 400)
    assert "FB_APP_SECRET" in error.advice and "không phải lỗi bài viết" in error.advice
    assert "Invalid appsecret_proof" in error.advice  # Graph's own words kept
    assert "wrong-app-secret-value" not in str(error)


def test_missing_app_secret_when_the_app_requires_a_proof(sandbox_factory: Start) -> None:
    _, fb = sandbox_factory(
        graph_require_appsecret_proof=True,
        settings_overrides={"FB_APP_SECRET": "", "FB_APP_ID": ""},
    )
    with pytest.raises(AppSecretProofError) as caught:
        fb.publish(make_post())
    assert not caught.value.proof_sent
    assert "Require App Secret" in caught.value.advice and "FB_APP_SECRET" in caught.value.advice


def test_repeated_message_is_506_then_adopted(sandbox_factory: Start, clock: FakeClock) -> None:
    box, fb = sandbox_factory()
    post = make_post()
    since = clock()
    first = fb.publish(post)
    clock.advance(minutes=2)
    with pytest.raises(DuplicateError) as caught:
        fb.publish(post)
    assert caught.value.code == 506
    found = fb.find_published(post, since)
    assert found is not None and found.remote_id == first.remote_id
    assert len(box.graph.posts()) == 1


def test_usage_slows_then_stops(sandbox_factory: Start, clock: FakeClock) -> None:
    box, fb = sandbox_factory(graph_budget=10, graph_usage_window=timedelta(hours=1))
    pauses: list[float] = []
    fb.sleep = pauses.append
    post_id = fb.publish(make_post()).remote_id
    for _ in range(7):
        fb.get_post(post_id)
    assert fb.usage_percent == 80 and pauses == []
    fb.get_post(post_id)  # the 9th call is made after a pause
    assert len(pauses) == 1 and pauses[0] >= 2
    fb.get_post(post_id)  # 10th: usage reaches 100 %
    sent = box.request_counts()["total"]
    with pytest.raises(RateLimitError) as caught:
        fb.get_post(post_id)
    assert (caught.value.retry_after or 0) >= 60
    assert box.request_counts()["total"] == sent  # stopped locally, nothing sent
    clock.advance(hours=1, minutes=1)
    assert fb.get_post(post_id) is not None


def test_scheduled_post_goes_live_with_the_sandbox_clock(
    sandbox_factory: Start, clock: FakeClock, photos: list[OutgoingImage]
) -> None:
    box, fb = sandbox_factory()
    at = clock() + timedelta(hours=3)
    remote = fb.schedule(make_post(images=(photos[0],)), at)
    post = fb.get_post(remote.remote_id)
    assert (
        post is not None
        and not post.is_published
        and post.scheduled_for == at.replace(microsecond=0)
    )
    assert box.graph.state()["scheduled_posts"] == [remote.remote_id]
    clock.advance(hours=3, seconds=1)
    live = fb.get_post(remote.remote_id)
    assert live is not None and live.is_published and live.created_time == at
    assert live.url and box.graph.state()["scheduled_posts"] == []


def test_reschedule_update_publish_now_cancel(
    sandbox_factory: Start, clock: FakeClock, photos: list[OutgoingImage]
) -> None:
    box, fb = sandbox_factory()
    remote = fb.schedule(make_post(images=tuple(photos[:3])), clock() + timedelta(days=1))
    later = clock() + timedelta(days=5)
    fb.reschedule(remote.remote_id, later)
    fb.update_message(remote.remote_id, make_post("Đã sửa", "Nội dung đã sửa"))
    state = box.graph.post(remote.remote_id)
    assert state["message"] == "Đã sửa\n\nNội dung đã sửa"
    assert state["unpublished_content_type"] == "SCHEDULED"
    assert state["scheduled_publish_time"] == later.strftime("%Y-%m-%dT%H:%M:%S+0000")
    live = fb.publish_scheduled_now(remote.remote_id)
    assert live.is_published and box.graph.post(remote.remote_id)["status"] == "published"
    fb.cancel(remote.remote_id)
    fb.cancel(remote.remote_id)  # twice is fine
    assert fb.get_post(remote.remote_id) is None


def test_refused_first_upload_leaves_nothing_on_the_page(
    sandbox_factory: Start, photos: list[OutgoingImage]
) -> None:
    box, fb = sandbox_factory(faults="graph.upload=code:324:x1")
    with pytest.raises(InvalidRequestError):
        fb.publish(make_post(images=tuple(photos[:4])))
    assert box.graph.posts() == []
    assert box.graph.state()["photos"] == []


def test_failed_third_upload_discards_the_first_two(
    sandbox_factory: Start, photos: list[OutgoingImage]
) -> None:
    box, fb = sandbox_factory()
    broken = photos[9].path.with_name("hong.jpg")
    broken.write_bytes(b"not an image at all")
    bad = OutgoingImage(broken, "x", 1, 1, broken.stat().st_size)
    with pytest.raises(InvalidRequestError) as caught:
        fb.publish(make_post(images=(photos[0], photos[1], bad)))
    assert caught.value.code == 324
    assert box.graph.posts() == []
    assert [ph["deleted"] for ph in box.graph.state()["photos"]] == [True, True]


def test_dropped_upload_is_retried_and_the_post_is_whole(
    sandbox_factory: Start, photos: list[OutgoingImage]
) -> None:
    box, fb = sandbox_factory(faults="graph.upload=drop:x1")
    fb.publish(make_post(images=tuple(photos[:3])))
    assert [p["photo_count"] for p in box.graph.posts()] == [3]
    orphans = [ph for ph in box.graph.state()["photos"] if ph["post_id"] is None]
    assert len(orphans) == 1 and not orphans[0]["published"]  # expires on Facebook by itself


# ---------------------------------------------------------------- engagement


def test_engagement_for_120_posts_costs_about_two_requests_per_50(
    sandbox_factory: Start, clock: FakeClock
) -> None:
    box, fb = sandbox_factory()
    ids = [box.graph.add_post(f"Bài số {i}") for i in range(120)]
    for index, post_id in enumerate(ids):
        box.graph.add_engagement(
            post_id, reactions=index, comments=index % 7, shares=index % 3, views=10 * index,
            reach=5 * index,
        )  # fmt: skip
    result = fb.fetch_engagement(ids)
    assert len(result.results) == 120 and result.unavailable_metrics == frozenset()
    assert box.request_counts()["total"] == batch_requests(box) == 2 * math.ceil(120 / 50)
    no_legacy_calls(box)
    sample = result.results[ids[17]]
    assert (sample.reactions, sample.comments, sample.shares, sample.views, sample.reach) == (
        17, 3, 2, 170, 85,
    )  # fmt: skip
    assert result.results[ids[0]].shares == 0  # Graph omits shares when zero


def test_refused_metric_is_learnt_and_skipped_next_time(sandbox_factory: Start) -> None:
    box, fb = sandbox_factory(graph_refused_metrics=["post_total_media_view_unique"])
    ids = [box.graph.add_post(f"Bài {i}") for i in range(3)]
    box.graph.add_engagement(ids[0], views=40, reach=30)
    first = fb.fetch_engagement(ids)
    assert first.unavailable_metrics == frozenset({"post_total_media_view_unique"})
    assert first.results[ids[0]].views == 40 and first.results[ids[0]].reach is None
    before = box.request_counts()["total"]
    second = fb.fetch_engagement(ids, unavailable_metrics=first.unavailable_metrics)
    assert box.request_counts()["total"] - before == 2  # counters + views, no probing
    assert second.unavailable_metrics == frozenset()
    assert second.results[ids[0]].views == 40


def test_deleted_post_does_not_sink_the_collection(sandbox_factory: Start) -> None:
    box, fb = sandbox_factory()
    ids = [box.graph.add_post(f"Bài {i}") for i in range(8)]
    box.graph.add_engagement(ids[5], reactions=9)
    fb.cancel(ids[3])
    box.graph.add_engagement(ids[2], views=12)
    before = box.request_counts()["total"]
    result = fb.fetch_engagement(ids)
    assert result.missing == frozenset({ids[3]})
    assert set(result.results) == set(ids) - {ids[3]}
    assert result.results[ids[5]].reactions == 9 and result.results[ids[2]].views == 12
    # the deleted post costs no other post its figures, and no extra request
    assert box.request_counts()["total"] - before == 2
    no_legacy_calls(box)


def test_null_batch_entries_are_sent_again(sandbox_factory: Start) -> None:
    box, fb = sandbox_factory(faults="graph.batch_entry=null:x7")
    ids = [box.graph.add_post(f"Bài {i}") for i in range(60)]
    for index, post_id in enumerate(ids):
        box.graph.add_engagement(post_id, reactions=index, views=index + 1)
    result = fb.fetch_engagement(ids)
    assert box.faults.describe()["fired"] == {"graph.batch_entry=null:x7": 7}
    assert len(result.results) == 60 and result.missing == frozenset()
    assert [result.results[i].reactions for i in ids] == list(range(60))
    assert [result.results[i].views for i in ids] == [i + 1 for i in range(60)]
    # 2 counter batches + 1 resend of the 7 nulls (all in the first batch) + 2 insight batches
    assert batch_requests(box) == 5


# ---------------------------------------------------------------- agency pages


def test_agency_feed_and_share_matching(sandbox_factory: Start, clock: FakeClock) -> None:
    box, fb = sandbox_factory()
    ours = [fb.publish(make_post(f"Bài {i}", f"Nội dung {i}")) for i in range(3)]
    our_posts = {p.remote_id: p.url or "" for p in ours}
    since = clock()
    box.graph.add_agency_page("200000000000011", token="agency-token-phuong-nguyen-nghiem")
    box.graph.add_agency_page("200000000000012")  # no token of its own: ours may read it
    old = box.graph.add_share(
        "200000000000011", ours[0].remote_id, created_time=since - timedelta(days=2)
    )
    clock.advance(hours=1)
    by_parent = box.graph.add_share("200000000000011", ours[0].remote_id)
    by_target = box.graph.add_share("200000000000011", ours[1].remote_id, via="attachment")
    noise = box.graph.add_agency_post("200000000000011", "Tin hoạt động của phường")
    by_link = box.graph.add_share("200000000000012", ours[2].remote_id, via="link")

    items = fb.read_page_feed(
        "200000000000011", token="agency-token-phuong-nguyen-nghiem", since=since
    )
    assert {i.id for i in items} == {by_parent, by_target, noise}
    assert old not in {i.id for i in items}
    matched = {i.id: match_share(i, our_posts) for i in items}
    assert matched == {
        by_parent: ours[0].remote_id,
        by_target: ours[1].remote_id,
        noise: None,
    }
    other = fb.read_page_feed("200000000000012", token=None, since=since)
    assert [match_share(i, our_posts) for i in other] == [ours[2].remote_id]
    assert [i.id for i in other] == [by_link]
    with pytest.raises(PermissionDeniedError):
        fb.read_page_feed("200000000000011", token=None, since=since)
    assert box.graph.state()["token_in_query"] == 0


def test_agency_feed_pages_through_more_than_100(sandbox_factory: Start, clock: FakeClock) -> None:
    box, fb = sandbox_factory()
    our = fb.publish(make_post())
    box.graph.add_agency_page("200000000000013")
    since = clock()
    for minute in range(130):
        box.graph.add_share(
            "200000000000013", our.remote_id, created_time=since + timedelta(minutes=minute)
        )
    items = fb.read_page_feed("200000000000013", token=None, since=since)
    assert len(items) == 130
    assert box.request_counts()["routes"]["GET /{version}/{other-page}/feed"] == 2


# ---------------------------------------------------------------- doctor


def test_diagnose_all_good(sandbox_factory: Start) -> None:
    _, fb = sandbox_factory()
    result = fb.diagnose()
    assert [(d.name, d.ok, d.warning) for d in result] == [
        ("facebook.page", True, False),
        ("facebook.token", True, False),
    ]
    assert "Chuyển đổi số thị xã Đức Phổ" in result[0].message


def test_diagnose_missing_scopes_and_revoked_token(sandbox_factory: Start) -> None:
    box, fb = sandbox_factory(graph_scopes=["pages_show_list", "pages_read_engagement"])
    token = fb.diagnose()[1]
    assert not token.ok and "pages_manage_posts, read_insights" in token.message
    box.graph.revoke_token()
    page, token = fb.diagnose()
    assert not page.ok and "FB_PAGE_ACCESS_TOKEN" in page.message and "hết hạn" in page.message
    assert not token.ok and "hết hạn hoặc bị thu hồi" in token.message


def test_diagnose_without_app_credentials_skips_token_check(sandbox_factory: Start) -> None:
    _, fb = sandbox_factory(settings_overrides={"FB_APP_ID": "", "FB_APP_SECRET": ""})
    page, token = fb.diagnose()
    assert page.ok and token.ok and token.warning and "FB_APP_ID" in token.message


def test_diagnose_channel_off(env: dict[str, str]) -> None:
    from social_publisher.config import load_settings

    result = FacebookChannel(load_settings(env, dotenv_path=None)).diagnose()
    assert len(result) == 1 and not result[0].ok
    assert "FB_PAGE_ID" in result[0].message and "FB_PAGE_ACCESS_TOKEN" in result[0].message


def test_message_composition_is_what_the_page_shows(sandbox_factory: Start) -> None:
    box, fb = sandbox_factory()
    post = make_post("Tiêu đề", "Dòng 1\nDòng 2")
    fb.publish(post)
    assert box.graph.posts()[0]["message"] == compose_message(post) == "Tiêu đề\n\nDòng 1\nDòng 2"


def test_diagnose_a_page_token_issued_by_another_app(sandbox_factory: Start) -> None:
    # FB_APP_ID/FB_APP_SECRET are of our app, the Page token of another one
    box, _ = sandbox_factory()
    box.graph.add_agency_page("200000000000021", token="page-token-of-another-app-42")
    _, fb = sandbox_factory(
        settings_overrides={
            "FB_GRAPH_URL": box.url,
            "FB_PAGE_ID": "200000000000021",
            "FB_PAGE_ACCESS_TOKEN": "page-token-of-another-app-42",
        }
    )
    page, token = fb.diagnose()
    assert not page.ok and page.message.startswith("FB_APP_SECRET trong .env không phải")
    other_app = box.graph.agency_app("200000000000021")[0]
    assert not token.ok and f"do ứng dụng Facebook {other_app} cấp" in token.message
    assert "page-token-of-another-app-42" not in page.message + token.message
