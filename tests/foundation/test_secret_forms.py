"""A token with a newline: refused at start-up, masked in every form it can take, and the
request that could not even be built is not "outcome unknown" (point 6)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import responses

from social_publisher.channels.base import OutgoingPost
from social_publisher.channels.facebook import FacebookChannel
from social_publisher.config import Settings, load_settings
from social_publisher.errors import (
    AuthError,
    ConfigError,
    OutcomeUnknownError,
    redact,
    register_secret,
)
from social_publisher.services.daemon import build_context, run_pass
from social_publisher.store import Database, Post, PostVersion

TOKEN = "EAABsecretFirstHalf0123\nsecondHalfOfTheToken4567"


def forms(secret: str) -> list[str]:
    return [
        secret,
        repr(secret),
        repr(secret)[1:-1],
        json.dumps(secret),
        secret.encode("unicode_escape").decode(),
        repr(secret.encode()),
        quote(secret, safe=""),
        quote_plus(secret),
        *secret.split(),
    ]


def leaks(text: str, secret: str = TOKEN) -> list[str]:
    return [form for form in forms(secret) if form.strip("'\"b") in text]


def test_every_form_of_a_secret_is_masked() -> None:
    register_secret(TOKEN)
    for form in forms(TOKEN):
        masked = redact(f"header value: {form} end")
        assert leaks(masked) == [], (form, masked)
        assert "***" in masked


def test_a_token_with_a_line_break_in_env_is_refused_at_start(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    quoted = TOKEN.replace("\n", "\\n")  # a quoted value with \n: dotenv makes it a newline
    env_file.write_text(
        f'QUEUE_DIR=hang-doi\nFB_PAGE_ID=123\nFB_PAGE_ACCESS_TOKEN="{quoted}"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings({}, dotenv_path=env_file)
    message = caught.value.message
    assert "FB_PAGE_ACCESS_TOKEN có khoảng trắng hoặc ký tự xuống dòng" in message
    assert f"dòng 3 của tệp {env_file}" in message
    assert leaks(message) == []


def settings_with_bad_token(env: dict[str, str]) -> Settings:
    """As if the token came from somewhere the start-up check does not read (a database)."""
    base = load_settings({**env, "FB_PAGE_ID": "100000000000001"}, dotenv_path=None)
    register_secret(TOKEN)
    return Settings(**{**base.__dict__, "fb_page_access_token": TOKEN})


def test_a_request_that_could_not_be_built_is_not_outcome_unknown(env: dict[str, str]) -> None:
    channel = FacebookChannel(settings_with_bad_token(env))
    post = OutgoingPost(1, "h" * 64, "Tiêu đề", "Nội dung.", datetime(2026, 3, 2, tzinfo=UTC))
    with responses.RequestsMock() as rsps:
        with pytest.raises(AuthError) as caught:
            channel.publish(post)
        assert len(rsps.calls) == 0  # nothing left the office
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert "có ký tự xuống dòng hoặc khoảng trắng" in caught.value.message
    assert leaks(str(caught.value)) == []


def test_nothing_the_daemon_writes_holds_the_token(
    env: dict[str, str], db: Database, tmp_path: Path
) -> None:
    settings = settings_with_bad_token(env)
    with db.session() as s:
        post = Post(folder="bai", title="Bài", state="ready", channels=["facebook"])
        s.add(post)
        s.flush()
        version = PostVersion(
            post_id=post.id,
            content_hash="c" * 64,
            source_file="bai-viet.txt",
            title="Bài",
            body="Nội dung.",
            publish_at=datetime(2026, 3, 2, tzinfo=UTC),
            channels=["facebook"],
            approved_by="Võ Thanh Hùng",
        )
        s.add(version)
        s.flush()
        post.current_version_id = version.id
        post.approved_by = "Võ Thanh Hùng"
        post.publish_at = version.publish_at
    ctx = build_context(settings, db, ingest=False, render=False, worker="w")
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        result = run_pass(ctx, datetime(2026, 3, 2, 0, 1, tzinfo=UTC))
    assert result.attention  # the Facebook channel is stopped until the token is fixed
    db_file = settings.database_url.removeprefix("sqlite:///")
    db.dispose()
    with sqlite3.connect(db_file) as conn:
        dump = "\n".join(conn.iterdump())
    assert "có ký tự xuống dòng hoặc khoảng trắng" in dump  # the reason is on record...
    assert leaks(dump) == []  # ...the token in no form
    assert leaks(" ".join(result.errors)) == []
