"""Settings: names fixed by DESIGN.md, defaults, bad values, channels off when unset."""

from __future__ import annotations

from pathlib import Path

import pytest

from social_publisher.config import Settings, load_settings, setting_names
from social_publisher.errors import ConfigError, redact


def test_defaults_match_design() -> None:
    s = load_settings({}, dotenv_path=None)
    assert s.database_url == "sqlite:///data/social_publisher.db"
    assert s.queue_dir == Path("content_queue")
    assert s.timezone == "Asia/Ho_Chi_Minh"
    assert s.overdue_grace_hours == 24
    assert (s.fb_graph_url, s.fb_graph_version) == ("https://graph.facebook.com", "v27.0")
    assert (s.zalo_oauth_url, s.zalo_openapi_url) == (
        "https://oauth.zaloapp.com",
        "https://openapi.zalo.me",
    )
    assert s.agencies_file == Path("agencies.csv")
    assert (s.tick_seconds, s.retry_base_seconds, s.retry_max_seconds) == (30, 60, 3600)
    assert s.log_dir == Path("logs")
    assert not s.facebook_enabled and not s.zalo_enabled and not s.public_media_enabled


def test_channel_turns_on_only_with_its_settings() -> None:
    s = load_settings({"FB_PAGE_ID": "123"}, dotenv_path=None)
    assert not s.facebook_enabled
    assert s.missing_for("facebook") == ["FB_PAGE_ACCESS_TOKEN"]
    s = load_settings(
        {"FB_PAGE_ID": "123", "FB_PAGE_ACCESS_TOKEN": "tok-abcdef", "ZALO_APP_ID": "1"},
        dotenv_path=None,
    )
    assert s.facebook_enabled and s.channel_enabled("facebook")
    assert not s.zalo_enabled and s.missing_for("zalo") == ["ZALO_APP_SECRET"]


def test_dotenv_is_read_and_environment_wins(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    env_file = tmp_path / ".env"
    env_file.write_text("TICK_SECONDS=5\nQUEUE_DIR=hang-doi\n", encoding="utf-8")
    monkeypatch.setenv("TICK_SECONDS", "7")
    s = load_settings(dotenv_path=env_file)
    assert s.tick_seconds == 7
    assert s.queue_dir == Path("hang-doi")


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("TICK_SECONDS", "nửa phút", "TICK_SECONDS"),
        ("TICK_SECONDS", "0", "lớn hơn hoặc bằng 1"),
        ("TIMEZONE", "Asia/Hanoi_City", "múi giờ"),
        ("OVERDUE_GRACE_HOURS", "mot ngay", "OVERDUE_GRACE_HOURS"),
    ],
)
def test_bad_values_are_vietnamese_config_errors(name: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings({name: value}, dotenv_path=None)


def test_retry_max_below_base_is_refused() -> None:
    with pytest.raises(ConfigError, match="RETRY_MAX_SECONDS"):
        load_settings({"RETRY_BASE_SECONDS": "100", "RETRY_MAX_SECONDS": "10"}, dotenv_path=None)


def test_secrets_are_registered_and_hidden_from_repr() -> None:
    s = load_settings(
        {"FB_PAGE_ACCESS_TOKEN": "EAAB-secret-page-token", "ZALO_APP_SECRET": "zsecret-123456"},
        dotenv_path=None,
    )
    assert "EAAB-secret-page-token" not in repr(s)
    assert redact("token EAAB-secret-page-token leaked") == "token *** leaked"
    assert redact("k=zsecret-123456") == "k=***"


def test_agency_token_setting_is_read_and_registered() -> None:
    s = load_settings({"AGENCY_PHO_HOA_TOKEN": "agency-token-xyz"}, dotenv_path=None)
    assert s.secret("AGENCY_PHO_HOA_TOKEN") == "agency-token-xyz"
    assert "agency-token-xyz" not in redact("x agency-token-xyz")


def test_every_setting_is_documented_in_the_example_env() -> None:
    example = (Path(__file__).parents[2] / "config.example.env").read_text(encoding="utf-8")
    documented = {
        line.split("=", 1)[0]
        for line in example.splitlines()
        if line and not line.startswith("#") and "=" in line
    }
    assert set(setting_names()) == documented
    # Each setting sits in a block of settings that a comment introduces.
    previous = ""
    for line in example.splitlines():
        if line and not line.startswith("#"):
            assert previous.startswith("#") or "=" in previous, f"{line} has no comment above it"
        previous = line


def test_packaged_template_is_the_checkout_template() -> None:
    root = Path(__file__).parents[2]
    assert (root / "social_publisher" / "data" / "config.example.env").read_bytes() == (
        root / "config.example.env"
    ).read_bytes()


def test_settings_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().tick_seconds = 1  # type: ignore[misc]
