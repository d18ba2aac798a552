"""ALERT_* settings: refused with the file, line and fix; URLs are secrets; labels show none."""

from __future__ import annotations

from pathlib import Path

import pytest

from social_publisher.config import load_settings
from social_publisher.errors import ConfigError, redact
from social_publisher.services.alert_sender import in_quiet_hours, targets

from .conftest import T0


def test_bad_quiet_hours_name_the_line_and_the_fix(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TIMEZONE=Asia/Ho_Chi_Minh\nALERT_QUIET_HOURS=22h-6h\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, dotenv_path=env_file)
    message = caught.value.message
    assert "ALERT_QUIET_HOURS='22h-6h' không hợp lệ" in message
    assert "21:00-06:00" in message and f"dòng 2 của tệp {env_file}" in message


def test_quiet_hours_wrap_past_midnight() -> None:
    settings = load_settings({"ALERT_QUIET_HOURS": "21:30-6:00"}, dotenv_path=None)
    assert settings.alert_quiet_hours == "21:30-06:00"
    at = T0.replace(hour=14, minute=29)  # 21:29 local
    assert not in_quiet_hours(settings, at)
    assert in_quiet_hours(settings, at.replace(minute=30))
    assert in_quiet_hours(settings, at.replace(hour=22, minute=59))  # 05:59
    assert not in_quiet_hours(settings, at.replace(hour=23, minute=0))  # 06:00
    assert not in_quiet_hours(load_settings({"ALERT_QUIET_HOURS": ""}, dotenv_path=None), at)


def test_urls_are_secrets_and_labels_show_none() -> None:
    urls = (
        "mailtos://vhtt:Mat-Khau-Thu-99@mail.quangngai.gov.vn:465?mode=ssl&to=ld@quangngai.gov.vn,"
        "tgram://123456789:AAE-bot-token-abcdefghij/-1001234567 "
        "json://hooks.example.vn/canh-bao/khoa-rat-dai-0123456789"
    )
    settings = load_settings({"ALERT_URLS": urls}, dotenv_path=None)
    assert len(settings.alert_urls) == 3
    assert "Mat-Khau-Thu-99" not in repr(settings)
    labels = [t.label for t in targets(settings)]
    assert labels == [
        "1. mailtos://mail.quangngai.gov.vn:465 → ld@quangngai.gov.vn",
        "2. tgram://…",
        "3. json://hooks.example.vn",
    ]
    line = f"lỗi khi gửi: {settings.alert_urls[1]} và Mat-Khau-Thu-99, khoa-rat-dai-0123456789"
    assert redact(line) == "lỗi khi gửi: *** và ***, ***"


def test_a_target_without_a_scheme_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"ALERT_URLS": "lanh-dao@quangngai.gov.vn"}, dotenv_path=None)
    assert "địa chỉ thứ 1 không có dạng dịch vụ://" in caught.value.message
