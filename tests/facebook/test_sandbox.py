"""The sandbox itself: framework endpoints, media serving, faults, and Graph's refusals."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from social_publisher.sandbox import (
    SANDBOX_FB_PAGE_ID,
    SANDBOX_FB_PAGE_NAME,
    SANDBOX_FB_PAGE_TOKEN,
    Faults,
    Sandbox,
)
from social_publisher.sandbox.faults import parse_spec
from social_publisher.sandbox.graph import parse_fields

from .conftest import FakeClock

PAGE = SANDBOX_FB_PAGE_ID
AUTH = {"Authorization": f"Bearer {SANDBOX_FB_PAGE_TOKEN}"}
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


@pytest.fixture
def sandbox(clock: FakeClock, tmp_path: Path) -> Iterator[Sandbox]:
    public = tmp_path / "public"
    (public / "sub").mkdir(parents=True)
    (public / "anh.jpg").write_bytes(JPEG)
    (public / "sub" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n....")
    (tmp_path / "secret.txt").write_text("không được lộ")
    with Sandbox(clock=clock, public_dir=public) as box:
        yield box


def graph(box: Sandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {**AUTH, **kwargs.pop("headers", {})}
    return requests.request(method, f"{box.url}/v27.0/{path}", headers=headers, timeout=5, **kwargs)


def error_of(response: requests.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert error["fbtrace_id"]
    return error


# ---------------------------------------------------------------- faults


def test_fault_spec_parsing() -> None:
    rules, seed = parse_spec(
        "graph.create=drop:0.2, graph.create=500:0.1,graph.any=code:4:0.05,"
        "zalo.create=drop:0.2,zalo.verify=code:-214:0.5,graph.read=code:190/460:x2,seed=7"
    )
    assert seed == 7
    assert [(r.half, r.op, r.fault.kind) for r in rules][:3] == [
        ("graph", "create", "drop"),
        ("graph", "create", "500"),
        ("graph", "any", "code"),
    ]
    assert rules[4].fault.code == -214 and rules[4].probability == 0.5
    assert (rules[5].fault.code, rules[5].fault.subcode, rules[5].remaining) == (190, 460, 2)
    for bad in ("graph.create", "graph.create=explode", "graph.create=drop:1.5", "create=drop"):
        with pytest.raises(ValueError):
            parse_spec(bad)


def test_one_shot_and_seeded_faults_are_deterministic() -> None:
    faults = Faults("graph.feed=drop:x1")
    assert faults.pick("graph", {"create", "feed"}) is not None
    assert faults.pick("graph", {"create", "feed"}) is None
    assert faults.pick("zalo", {"create"}) is None
    a, b = Faults("graph.any=500:0.5", seed=3), Faults("graph.any=500:0.5,seed=3")
    draws_a = [a.pick("graph", {"read"}) is not None for _ in range(40)]
    draws_b = [b.pick("graph", {"read"}) is not None for _ in range(40)]
    assert draws_a == draws_b and any(draws_a) and not all(draws_a)


def test_faults_set_at_runtime_over_http(sandbox: Sandbox) -> None:
    reply = requests.post(f"{sandbox.url}/__sandbox/faults", data="graph.read=code:2:x1", timeout=5)
    assert reply.json()["rules"][0]["rule"] == "graph.read=code:2:x1"
    first = graph(sandbox, "GET", "me")
    assert first.status_code == 500 and error_of(first)["code"] == 2
    assert error_of(first)["is_transient"] is True
    assert graph(sandbox, "GET", "me").json()["id"] == PAGE
    bad = requests.post(f"{sandbox.url}/__sandbox/faults", data="nonsense", timeout=5)
    assert bad.status_code == 400


def test_drop_processes_then_closes_the_socket(sandbox: Sandbox) -> None:
    sandbox.faults.set("graph.feed=drop:x1")
    with pytest.raises(requests.ConnectionError):
        graph(sandbox, "POST", f"{PAGE}/feed", data={"message": "Bài bị rớt kết nối"})
    assert [p["message"] for p in sandbox.graph.posts()] == ["Bài bị rớt kết nối"]


def test_500_fault_processes_then_answers_500(sandbox: Sandbox) -> None:
    sandbox.faults.set("graph.create=500:x1")
    reply = graph(sandbox, "POST", f"{PAGE}/feed", data={"message": "Bài lỗi 500"})
    assert reply.status_code == 500 and error_of(reply)["code"] == 1
    assert len(sandbox.graph.posts()) == 1


# ---------------------------------------------------------------- framework


def test_state_reset_and_request_counts(sandbox: Sandbox) -> None:
    graph(sandbox, "POST", f"{PAGE}/feed", data={"message": "Một"})
    graph(sandbox, "GET", f"{PAGE}/feed")
    graph(sandbox, "GET", f"{PAGE}/feed")
    counts = requests.get(f"{sandbox.url}/__sandbox/requests", timeout=5).json()
    assert counts["routes"] == {"GET /{version}/{page}/feed": 2, "POST /{version}/{page}/feed": 1}
    assert counts["total"] == 3 and counts["halves"] == {"graph": 3}
    state = requests.get(f"{sandbox.url}/__sandbox/state", timeout=5).json()
    assert state["graph"]["page"] == {"id": PAGE, "name": SANDBOX_FB_PAGE_NAME}
    assert state["graph"]["posts"][0]["message"] == "Một"
    assert state["requests"]["total"] == 3  # introspection is not counted
    requests.post(f"{sandbox.url}/__sandbox/reset", timeout=5)
    assert sandbox.state()["graph"]["posts"] == []
    assert sandbox.request_counts()["total"] == 0


def test_clock_endpoint_moves_sandbox_time(sandbox: Sandbox, clock: FakeClock) -> None:
    reply = requests.post(
        f"{sandbox.url}/__sandbox/clock", json={"advance_seconds": 3600}, timeout=5
    )
    assert (sandbox.now() - clock()).total_seconds() == 3600
    assert reply.json()["now"] == sandbox.now().isoformat()


def test_media_served_with_type_and_length(sandbox: Sandbox) -> None:
    reply = requests.get(f"{sandbox.url}/media/anh.jpg", timeout=5)
    assert reply.content == JPEG
    assert reply.headers["Content-Type"] == "image/jpeg"
    assert reply.headers["Content-Length"] == str(len(JPEG))
    head = requests.head(f"{sandbox.url}/media/sub/b.png", timeout=5)
    assert head.status_code == 200 and head.headers["Content-Type"] == "image/png"
    assert head.content == b""


@pytest.mark.parametrize(
    "target", ["/media/../secret.txt", "/media/%2e%2e/secret.txt", "/media/sub/../../secret.txt"]
)
def test_media_refuses_path_traversal(sandbox: Sandbox, target: str) -> None:
    with socket.create_connection(("127.0.0.1", int(sandbox.url.rsplit(":", 1)[1]))) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        raw = b""
        while chunk := conn.recv(4096):
            raw += chunk
    assert raw.startswith(b"HTTP/1.1 404")
    assert "không được lộ".encode() not in raw


def test_unknown_path_is_404_json(sandbox: Sandbox) -> None:
    reply = requests.get(f"{sandbox.url}/nowhere", timeout=5)
    assert reply.status_code == 404 and "no emulator" in reply.json()["error"]["message"]


def test_unknown_half_option_refused() -> None:
    with pytest.raises(TypeError):
        Sandbox(colour="blue")


def test_env_points_at_the_sandbox(sandbox: Sandbox) -> None:
    env = sandbox.env()
    assert env["FB_GRAPH_URL"] == sandbox.url
    assert env["FB_PAGE_ID"] == PAGE and env["FB_PAGE_ACCESS_TOKEN"] == SANDBOX_FB_PAGE_TOKEN


# ---------------------------------------------------------------- Graph's refusals


def test_any_version_prefix_and_token_checks(sandbox: Sandbox) -> None:
    reply = requests.get(f"{sandbox.url}/v19.0/me", headers=AUTH, timeout=5)
    assert reply.json() == {"name": SANDBOX_FB_PAGE_NAME, "id": PAGE}
    wrong = graph(sandbox, "GET", "me", headers={"Authorization": "Bearer nope"})
    assert error_of(wrong)["code"] == 190
    missing = requests.get(f"{sandbox.url}/v27.0/me", timeout=5)
    assert error_of(missing)["code"] == 104
    sandbox.graph.revoke_token(subcode=463)
    expired = graph(sandbox, "GET", "me")
    assert (error_of(expired)["code"], error_of(expired)["error_subcode"]) == (190, 463)


def test_token_in_query_is_noticed(sandbox: Sandbox) -> None:
    requests.get(
        f"{sandbox.url}/v27.0/me", params={"access_token": SANDBOX_FB_PAGE_TOKEN}, timeout=5
    )
    assert sandbox.graph.state()["token_in_query"] == 1


def test_appsecret_proof_checked(clock: FakeClock) -> None:
    with Sandbox(clock=clock, graph_require_appsecret_proof=True) as box:
        missing = graph(box, "GET", "me")
        assert "require an appsecret_proof" in error_of(missing)["message"]
        wrong = graph(box, "GET", "me", params={"appsecret_proof": "00"})
        assert "Invalid appsecret_proof" in error_of(wrong)["message"]


def test_ids_lookups_work_only_for_an_old_app(sandbox: Sandbox, clock: FakeClock) -> None:
    post = sandbox.graph.add_post("Một")
    refused = graph(sandbox, "GET", "", params={"ids": post})
    assert refused.status_code == 400
    error = error_of(refused)
    assert error["code"] == 12 and "Multi-ID requests" in error["message"]
    assert "November 4, 2026" in error["message"]
    with Sandbox(clock=clock, graph_legacy_app=True) as old:
        post = old.graph.add_post("Một")
        reply = graph(old, "GET", "", params={"ids": ",".join(str(i) for i in range(51))})
        assert error_of(reply)["message"] == "(#100) Too many IDs. Maximum: 50"
        reply = graph(old, "GET", "", params={"ids": f"{post},{PAGE}_404"})
        assert error_of(reply)["code"] == 803
        assert graph(old, "GET", "", params={"ids": post}).json()[post]["id"] == post


def test_retired_insight_metric_fails_whole_request(sandbox: Sandbox) -> None:
    post = sandbox.graph.add_post("Một")
    reply = graph(
        sandbox, "GET", f"{post}/insights", params={"metric": "post_media_view,post_impressions"}
    )
    assert error_of(reply)["code"] == 100
    ok = graph(sandbox, "GET", f"{post}/insights", params={"metric": "post_media_view"})
    assert ok.json()["data"][0]["name"] == "post_media_view"


def test_schedule_window_enforced(sandbox: Sandbox, clock: FakeClock) -> None:
    for minutes in (5, 60 * 24 * 31):
        at = int(clock().timestamp()) + minutes * 60
        reply = graph(
            sandbox,
            "POST",
            f"{PAGE}/feed",
            data={"message": "Hẹn", "published": "false", "scheduled_publish_time": str(at)},
        )
        assert error_of(reply)["code"] == 100
        assert "10 minutes and 30 days" in error_of(reply)["error_user_msg"]
    assert sandbox.graph.posts() == []


def test_photo_refusals(sandbox: Sandbox) -> None:
    big = JPEG + b"\x00" * (4 * 1024 * 1024)
    reply = graph(sandbox, "POST", f"{PAGE}/photos", files={"source": ("a.jpg", big)})
    assert error_of(reply)["error_subcode"] == 1366046
    reply = graph(sandbox, "POST", f"{PAGE}/photos", files={"source": ("a.txt", b"hello")})
    assert error_of(reply)["code"] == 324


def test_photo_by_url_from_public_dir(sandbox: Sandbox) -> None:
    reply = graph(sandbox, "POST", f"{PAGE}/photos", data={"url": f"{sandbox.url}/media/anh.jpg"})
    assert "post_id" in reply.json()


def test_unpublished_photo_attaches_once(sandbox: Sandbox) -> None:
    photo = graph(
        sandbox, "POST", f"{PAGE}/photos", data={"published": "false"},
        files={"source": ("a.jpg", JPEG)},
    ).json()["id"]  # fmt: skip
    media = {"attached_media[0]": json.dumps({"media_fbid": photo})}
    assert "id" in graph(sandbox, "POST", f"{PAGE}/feed", data={"message": "A", **media}).json()
    again = graph(sandbox, "POST", f"{PAGE}/feed", data={"message": "B", **media})
    assert "invalid media_fbid" in error_of(again)["message"]


def test_feed_limit_over_100_refused(sandbox: Sandbox) -> None:
    assert error_of(graph(sandbox, "GET", f"{PAGE}/feed", params={"limit": 101}))["code"] == 100


def test_unknown_field_refused(sandbox: Sandbox) -> None:
    post = sandbox.graph.add_post("Một")
    reply = graph(sandbox, "GET", post, params={"fields": "id,permalink_urls"})
    assert "nonexisting field (permalink_urls)" in error_of(reply)["message"]


def test_usage_header_grows_and_batch_counts_per_entry(clock: FakeClock) -> None:
    with Sandbox(clock=clock, graph_budget=20) as box:
        posts = [box.graph.add_post(f"Bài {i}") for i in range(5)]
        first = graph(box, "GET", "me")
        usage = json.loads(first.headers["X-Business-Use-Case-Usage"])[PAGE][0]
        assert usage["call_count"] == 5
        batch = [{"method": "GET", "relative_url": p} for p in posts]
        reply = graph(box, "POST", "", data={"batch": json.dumps(batch)})
        usage = json.loads(reply.headers["X-Business-Use-Case-Usage"])[PAGE][0]
        assert usage["call_count"] == 30  # 1 + 5 entries of 20
        box.graph.use_budget(14)
        graph(box, "GET", "me")
        refused = graph(box, "GET", "me")
        assert error_of(refused)["code"] == 80001
        usage = json.loads(refused.headers["X-Business-Use-Case-Usage"])[PAGE][0]
        assert usage["call_count"] >= 100 and usage["estimated_time_to_regain_access"] > 0
    with Sandbox(clock=clock, graph_budget=20, graph_legacy_app=True) as old:
        posts = [old.graph.add_post(f"Bài {i}") for i in range(5)]
        reply = graph(old, "GET", "", params={"ids": ",".join(posts)})
        usage = json.loads(reply.headers["X-Business-Use-Case-Usage"])[PAGE][0]
        assert usage["call_count"] == 25  # ?ids= counts one call per id too


def test_field_expansion_parser() -> None:
    specs = parse_fields(
        "id,reactions.summary(total_count).limit(0),attachments{subattachments,media},"
        "insights.metric(post_media_view,post_total_media_view_unique)"
    )
    assert specs is not None
    assert [s.name for s in specs] == ["id", "reactions", "attachments", "insights"]
    assert specs[1].modifiers == {"summary": "total_count", "limit": "0"}
    assert [s.name for s in specs[2].sub] == ["subattachments", "media"]
    assert specs[3].modifiers["metric"] == "post_media_view,post_total_media_view_unique"


def test_permalink_opens_in_a_browser(sandbox: Sandbox) -> None:
    post = sandbox.graph.add_post("Xin chào <Đức Phổ>", photos=1)
    page = requests.get(sandbox.graph.post(post)["permalink_url"], timeout=5)
    assert page.status_code == 200 and "Xin chào &lt;Đức Phổ&gt;" in page.text


def test_a_client_gone_before_the_answer_leaves_no_traceback(
    sandbox: Sandbox, capfd: pytest.CaptureFixture[str]
) -> None:
    """A worker SIGKILLed mid-call closes its socket; the sandbox has nobody to answer and
    must say nothing (socketserver would print a BrokenPipeError traceback)."""
    import struct
    import time

    sandbox.latency = 0.3
    host, port = sandbox.url.removeprefix("http://").split(":")
    for _ in range(3):
        client = socket.create_connection((host, int(port)))
        client.sendall(b"GET /v27.0/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        # close with a reset, as a killed process's socket is
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
    time.sleep(0.8)  # the handlers' latency runs out and they write into the dead sockets
    sandbox.latency = 0.0
    assert requests.get(f"{sandbox.url}/v27.0/me", timeout=5).status_code in (200, 400, 401)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
