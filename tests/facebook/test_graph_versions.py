"""FB_GRAPH_VERSION against the sheet's table: a version stops working two years after its
successor ships; doctor warns within six months of that, and says when it has passed."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from social_publisher import graph_versions
from social_publisher.cli import main
from social_publisher.config import Settings, load_settings
from social_publisher.sandbox import Sandbox
from social_publisher.services import setup_checks
from social_publisher.services.setup_checks import graph_version_diagnosis, status_warnings
from social_publisher.store import Database


def test_end_of_life_follows_the_successor() -> None:
    assert graph_versions.DEFAULT_VERSION == "v27.0"
    assert graph_versions.end_of_life("v25.0") == (date(2028, 7, 1), False)  # the sheet: Jul 2028
    assert graph_versions.end_of_life("v24.0") == (date(2028, 2, 1), False)
    assert graph_versions.end_of_life("v26.0") == (date(2028, 11, 4), False)
    # no successor known yet: the earliest it could end is two years after its own release
    assert graph_versions.end_of_life("v27.0") == (date(2028, 11, 4), True)
    assert graph_versions.end_of_life("v99.0") == (None, False)


@pytest.mark.parametrize(
    ("version", "today", "level"),
    [
        ("v25.0", date(2027, 12, 31), "ok"),
        ("v25.0", date(2028, 1, 1), "warning"),  # six months before Jul 2028
        ("v25.0", date(2028, 7, 1), "error"),
        ("v27.0", date(2026, 12, 2), "ok"),
        ("v27.0", date(2028, 5, 4), "warning"),  # could end Nov 2028 at the earliest
        ("v27.0", date(2029, 1, 1), "warning"),  # never "ended" without a known successor
        ("v28.0", date(2027, 6, 1), "warning"),  # newer than tested
        ("v19.0", date(2026, 12, 2), "warning"),  # older than the table
        ("27.0", date(2026, 12, 2), "error"),
    ],
)
def test_judge(version: str, today: date, level: str) -> None:
    assert graph_versions.judge(version, today).level == level


def test_expired_is_only_for_a_known_end() -> None:
    assert graph_versions.is_expired("v25.0", date(2028, 7, 1))
    assert not graph_versions.is_expired("v25.0", date(2028, 6, 30))
    assert not graph_versions.is_expired("v27.0", date(2031, 1, 1))


@pytest.fixture
def fb_on(env: dict[str, str]) -> Settings:
    return load_settings(
        {**env, "FB_PAGE_ID": "1", "FB_PAGE_ACCESS_TOKEN": "tok-123456"}, dotenv_path=None
    )


def test_doctor_lines(fb_on: Settings) -> None:
    ok = graph_version_diagnosis(fb_on, date(2026, 12, 2))
    assert ok is not None and ok.ok and not ok.warning and "v27.0" in ok.message
    old = replace(fb_on, fb_graph_version="v25.0")
    soon = graph_version_diagnosis(old, date(2028, 2, 1))
    assert soon is not None and soon.ok and soon.warning
    assert "FB_GRAPH_VERSION=v25.0 ngừng từ 07/2028" in soon.message and "v27.0" in soon.message
    gone = graph_version_diagnosis(old, date(2028, 8, 1))
    assert gone is not None and not gone.ok
    assert "đã ngừng hoạt động từ 07/2028" in gone.message
    assert "FB_GRAPH_VERSION=v27.0" in gone.message
    bad = graph_version_diagnosis(replace(fb_on, fb_graph_version="27"), date(2026, 12, 2))
    assert bad is not None and not bad.ok and "dạng v27.0" in bad.message
    off = replace(fb_on, fb_page_id="")
    assert graph_version_diagnosis(off, date(2028, 8, 1)) is None


def test_status_warns_near_the_end(fb_on: Settings, db: Database) -> None:
    old = replace(fb_on, fb_graph_version="v25.0")
    assert status_warnings(old, db, datetime(2027, 6, 1, tzinfo=UTC)) == []
    [line] = status_warnings(old, db, datetime(2028, 3, 1, tzinfo=UTC))
    assert line.startswith("FB_GRAPH_VERSION=v25.0 ngừng từ 07/2028")


def test_doctor_command_shows_the_warning(
    fb_on: Settings, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    Path(fb_on.queue_dir).mkdir(parents=True, exist_ok=True)
    with Sandbox() as box:
        graph_env = {k: v for k, v in box.env().items() if k.startswith("FB_")}
        for key, value in {**env, **graph_env, "FB_GRAPH_VERSION": "v25.0"}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(setup_checks, "clock", lambda: datetime(2028, 2, 1, tzinfo=UTC))
        out = io.StringIO()
        main(["--env-file", "/nonexistent/.env", "doctor"], out=out, err=out)
    text = out.getvalue()
    assert "[ OK ] Kết nối Graph API v25.0 tốt" in text
    assert "[CHÚ Ý] FB_GRAPH_VERSION=v25.0 ngừng từ 07/2028 (còn dưới sáu tháng)" in text
