"""The DB-backed token store, one process, Zalo's token endpoint faked with ``responses``."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses
from sqlalchemy import select

from social_publisher.channels.http import HttpClient
from social_publisher.channels.zalo import ZaloChannel, ZaloOAuthClient
from social_publisher.config import Settings
from social_publisher.errors import AuthError, ConfigError, TransientError
from social_publisher.services.zalo_token_report import token_warnings
from social_publisher.services.zalo_tokens import DbTokenStore
from social_publisher.store import ChannelHealth, Database, PlatformToken
from social_publisher.store.tenancy import unit_key

from .conftest import APP_ID, APP_SECRET, OAUTH, OPENAPI, FakeClock

TOKEN_URL = f"{OAUTH}/v4/oa/access_token"
SLICE = f"{OPENAPI}/v2.0/article/getslice"


class ZaloTokenServer:
    """Zalo's token endpoint with real rotation, as a ``responses`` callback."""

    def __init__(self, refresh: str = "refresh-0000") -> None:
        self.valid_refresh = refresh
        self.generation = 0
        self.requests: list[dict[str, str]] = []
        self.refuse = False

    def __call__(self, req: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        form = {k: v[0] for k, v in parse_qs(str(req.body)).items()}
        self.requests.append(form)
        assert req.headers["secret_key"] == APP_SECRET
        assert form["app_id"] == APP_ID and form["grant_type"] == "refresh_token"
        assert "refresh" not in str(req.url)
        if self.refuse or form["refresh_token"] != self.valid_refresh:
            body = {
                "error": -14014,
                "error_name": "Invalid refresh token",
                "error_reason": "used",
                "error_description": "Refresh token is invalid",
            }
            return 200, {}, json.dumps(body)
        self.generation += 1
        self.valid_refresh = f"refresh-{self.generation:04d}"
        body = {
            "access_token": f"access-{self.generation:04d}",
            "refresh_token": self.valid_refresh,
            "expires_in": "90000",
        }
        return 200, {}, json.dumps(body)


@pytest.fixture
def server() -> ZaloTokenServer:
    return ZaloTokenServer()


@pytest.fixture
def store(db: Database, zsettings: Settings, clock: FakeClock) -> DbTokenStore:
    oauth = ZaloOAuthClient(zsettings, HttpClient("zalo", sleep=lambda _: None))
    return DbTokenStore(db, zsettings, oauth, clock)


def row(db: Database) -> PlatformToken:
    with db.session() as session:
        found = session.scalars(select(PlatformToken)).one()
        session.expunge(found)
        return found


def health(db: Database) -> ChannelHealth | None:
    with db.session() as session:
        found = session.get(ChannelHealth, unit_key(session, "zalo"))
        if found is not None:
            session.expunge(found)
        return found


def test_no_token_anywhere_says_how_to_set_one(store: DbTokenStore) -> None:
    with pytest.raises(AuthError, match="zalo token set"):
        store.current()


def test_settings_bootstrap_an_empty_database_only(
    db: Database, zsettings: Settings, clock: FakeClock
) -> None:
    first = replace(zsettings, zalo_access_token="env-access-1", zalo_refresh_token="env-refresh-1")
    store = DbTokenStore(db, first, ZaloOAuthClient(first), clock)
    assert store.current() == "env-access-1"
    stored = row(db)
    assert stored.refresh_token == "env-refresh-1" and stored.generation == 1
    assert stored.access_expires_at == clock.now + timedelta(hours=25)

    store.set_pair("rotated-access-2", "rotated-refresh-2")
    # A restart with the old pair still in .env must not overwrite the rotated one.
    again = DbTokenStore(db, first, ZaloOAuthClient(first), clock)
    assert again.current() == "rotated-access-2"
    assert row(db).refresh_token == "rotated-refresh-2"


@responses.activate
def test_a_refresh_token_alone_bootstraps_then_refreshes(
    db: Database, zsettings: Settings, clock: FakeClock, server: ZaloTokenServer
) -> None:
    responses.add_callback(responses.POST, TOKEN_URL, callback=server)
    only_refresh = replace(zsettings, zalo_refresh_token="refresh-0000")
    store = DbTokenStore(db, only_refresh, ZaloOAuthClient(only_refresh), clock)
    assert store.current() == "access-0001"
    assert row(db).refresh_token == "refresh-0001"


@responses.activate
def test_refresh_about_20_hours_in_with_expires_in_as_a_string(
    db: Database, store: DbTokenStore, clock: FakeClock, server: ZaloTokenServer
) -> None:
    responses.add_callback(responses.POST, TOKEN_URL, callback=server)
    store.set_pair("access-start", "refresh-0000")
    clock.advance(19.9 * 3600)
    assert store.current() == "access-start"
    assert server.requests == []
    clock.advance(0.2 * 3600)
    assert store.current() == "access-0001"
    stored = row(db)
    assert stored.refresh_token == "refresh-0001"
    assert stored.access_expires_at == clock.now + timedelta(seconds=90000)
    assert stored.refresh_issued_at == clock.now
    assert stored.generation == 2
    assert stored.refresh_started_at is None
    assert store.current() == "access-0001"  # no second refresh
    assert len(server.requests) == 1


@responses.activate
def test_the_new_pair_is_committed_before_it_is_used(
    db: Database,
    zsettings: Settings,
    store: DbTokenStore,
    clock: FakeClock,
    server: ZaloTokenServer,
) -> None:
    responses.add_callback(responses.POST, TOKEN_URL, callback=server)
    store.set_pair("access-start", "refresh-0000")

    def slice_(req: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        token = req.headers["access_token"]
        if token == "access-start":
            return 200, {}, json.dumps({"error": -216, "message": "Access token is invalid"})
        # The token in use is already the one in the database, with its refresh token.
        stored = row(db)
        assert stored.access_token == token and stored.refresh_token == server.valid_refresh
        return 200, {}, json.dumps({"error": 0, "data": {"medias": [], "total": 0}})

    responses.add_callback(responses.GET, SLICE, callback=slice_)
    channel = ZaloChannel(zsettings, tokens=store, clock=clock, sleep=lambda _: None)
    assert channel.list_articles() == ([], 0)
    assert [c.request.url.split("?")[0] for c in responses.calls] == [SLICE, TOKEN_URL, SLICE]


@responses.activate
def test_another_process_already_rotated_so_no_second_refresh(
    store: DbTokenStore, server: ZaloTokenServer
) -> None:
    responses.add_callback(responses.POST, TOKEN_URL, callback=server)
    store.set_pair("access-new", "refresh-0000")
    assert store.refresh("access-old") == "access-new"
    assert server.requests == []


@responses.activate
def test_refused_refresh_is_reported_loudly(
    db: Database, store: DbTokenStore, server: ZaloTokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    responses.add_callback(responses.POST, TOKEN_URL, callback=server)
    store.set_pair("access-start", "refresh-revoked")
    with caplog.at_level(logging.ERROR), pytest.raises(AuthError) as caught:
        store.refresh("access-start")
    assert "zalo token set" in caught.value.message
    assert "cấp lại quyền" in caught.value.message
    assert "refresh-revoked" not in caught.value.message and "refresh-revoked" not in caplog.text
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    state = health(db)
    assert state is not None and state.state == "auth_failed"
    assert state.reason and "zalo token set" in state.reason
    stored = row(db)
    assert stored.last_error and stored.refresh_started_at is None
    # Staff paste a new pair: the channel is usable again.
    store.set_pair("access-fresh", "refresh-0000")
    state = health(db)
    assert state is not None and state.state == "ok"
    assert row(db).last_error is None


@responses.activate
def test_lost_answer_keeps_the_evidence_and_the_next_try_detects_the_loss(
    db: Database, store: DbTokenStore, server: ZaloTokenServer
) -> None:
    store.set_pair("access-start", "refresh-0000")

    lose_answer = [True]

    def rotate(req: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        answer = server(req)
        # Zalo rotates, but the answer never arrives (a 502 from a proxy after the fact).
        return (502, {}, "Bad gateway") if lose_answer.pop() else answer

    responses.add_callback(responses.POST, TOKEN_URL, callback=rotate)
    with pytest.raises(TransientError, match="Không rõ kết quả"):
        store.refresh("access-start")
    assert row(db).refresh_started_at is not None
    assert any("Không rõ kết quả" in w for w in token_warnings(db, store.settings, store.clock()))

    lose_answer.append(False)
    responses.calls.reset()
    with pytest.raises(AuthError, match="MẤT TOKEN ZALO"):
        store.current()
    assert len(responses.calls) == 1
    state = health(db)
    assert (
        state is not None and state.state == "auth_failed" and "MẤT TOKEN" in (state.reason or "")
    )


@responses.activate
def test_connection_refused_consumes_nothing(
    db: Database, store: DbTokenStore, clock: FakeClock
) -> None:
    store.set_pair("access-start", "refresh-0000")
    responses.add(
        responses.POST,
        TOKEN_URL,
        body=requests.ConnectionError("NewConnectionError: Connection refused"),
    )
    clock.advance(21 * 3600)
    # The access token still has 4 hours: keep using it, retry the refresh later.
    assert store.current() == "access-start"
    assert row(db).refresh_started_at is None
    clock.advance(5 * 3600)
    with pytest.raises(TransientError):
        store.current()


def test_a_refresh_needs_the_app_settings(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    store = DbTokenStore(db, settings, ZaloOAuthClient(settings), clock)
    store.set_pair("a-token-1", "r-token-1")
    with pytest.raises(ConfigError, match="ZALO_APP_ID"):
        store.refresh("a-token-1")
    assert row(db).refresh_started_at is None


def test_token_warnings(
    db: Database, zsettings: Settings, store: DbTokenStore, clock: FakeClock
) -> None:
    assert any("zalo token set" in w for w in token_warnings(db, zsettings, clock.now))
    store.set_pair("a-token-1", "r-token-1")
    assert token_warnings(db, zsettings, clock.now) == []
    assert token_warnings(db, zsettings, clock.now + timedelta(days=79)) == []
    [warning] = token_warnings(db, zsettings, clock.now + timedelta(days=80, hours=1))
    assert "80 ngày tuổi" in warning and "zalo token refresh" in warning
    assert "08/06/2026" in warning  # 10/03 + 90 days
    [expired] = token_warnings(db, zsettings, clock.now + timedelta(days=91))
    assert "đã hết hạn" in expired and "zalo token set" in expired
    store.set_pair("a-token-2", "")
    assert any("không có mã làm mới" in w for w in token_warnings(db, zsettings, clock.now))


def test_describe_never_shows_a_token(store: DbTokenStore) -> None:
    store.set_pair("very-secret-access", "very-secret-refresh")
    text = json.dumps(store.describe()) + repr(store.load()) + repr(row(store.db))
    assert "very-secret" not in text
    info: dict[str, Any] = store.describe()
    assert info["generation"] == 1 and info["refresh_age_days"] == 0
    diagnoses = store.token_diagnoses()
    assert diagnoses[0].ok and "thế hệ 1" in diagnoses[0].message
