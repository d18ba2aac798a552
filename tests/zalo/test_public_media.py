"""Public media: ASCII content names, atomic copies, and proof that the URL serves the bytes."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from typing import Any

import pytest
import requests
import responses

from social_publisher.channels.http import HttpClient
from social_publisher.channels.public_media import PublicMedia, ascii_url
from social_publisher.config import Settings
from social_publisher.errors import PublicMediaError

from .conftest import MEDIA_BASE, public_dns, serve_folder


def no_sleep(_: float) -> None:
    return None


@pytest.fixture
def media(zsettings: Settings) -> PublicMedia:
    return PublicMedia(zsettings, HttpClient("public_media", sleep=no_sleep), resolver=public_dns)


@responses.activate
def test_publish_copies_under_an_ascii_content_name_and_checks_the_url(
    media: PublicMedia, zsettings: Settings, renditions: Any
) -> None:
    assert zsettings.public_media_dir is not None
    serve_folder(zsettings.public_media_dir)
    image = renditions()
    assert not image.path.name.isascii()  # "ảnh 1.jpg" in "bộ nhớ đệm"
    url = media.publish(image)
    digest = hashlib.sha256(image.path.read_bytes()).hexdigest()
    assert url == f"{MEDIA_BASE}/{digest[:32]}.jpg"
    placed = zsettings.public_media_dir / f"{digest[:32]}.jpg"
    assert placed.read_bytes() == image.path.read_bytes()
    assert oct(placed.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in zsettings.public_media_dir.iterdir()] == [placed.name]  # no temp left
    assert len(responses.calls) == 1 and responses.calls[0].request.url == url

    # The same content again: same name, no second copy, but checked again.
    assert media.publish(image) == url
    assert len(responses.calls) == 2


@responses.activate
def test_bytes_that_differ_are_refused(
    media: PublicMedia, zsettings: Settings, renditions: Any
) -> None:
    assert zsettings.public_media_dir is not None
    serve_folder(zsettings.public_media_dir, tamper=True)
    with pytest.raises(PublicMediaError, match="khác với ảnh đã chép"):
        media.publish(renditions())


@pytest.mark.parametrize("status", [404, 403])
@responses.activate
def test_a_folder_not_served_gives_a_clear_vietnamese_error(
    media: PublicMedia, zsettings: Settings, renditions: Any, status: int
) -> None:
    assert zsettings.public_media_dir is not None
    serve_folder(zsettings.public_media_dir, status=status)
    with pytest.raises(PublicMediaError) as caught:
        media.publish(renditions())
    text = caught.value.message
    assert text.startswith("Không tải được ảnh từ địa chỉ công khai")
    assert (
        "PUBLIC_MEDIA_DIR" in text and "PUBLIC_MEDIA_BASE_URL" in text and f"HTTP {status}" in text
    )


def test_an_unreachable_server_gives_the_same_advice(
    media: PublicMedia, zsettings: Settings, renditions: Any
) -> None:
    with responses.RequestsMock() as mock:
        mock.add(
            responses.GET, re.compile(".*"), body=requests.ConnectionError("Connection refused")
        )
        with pytest.raises(PublicMediaError, match="kiểm tra máy chủ web phục vụ thư mục"):
            media.publish(renditions())


def test_not_configured(settings: Settings, renditions: Any) -> None:
    with pytest.raises(PublicMediaError, match="PUBLIC_MEDIA_DIR"):
        PublicMedia(settings).publish(renditions())
    [line] = PublicMedia(settings).diagnose()
    assert not line.ok and "PUBLIC_MEDIA_BASE_URL" in line.message


def test_oversized_renditions_are_refused(media: PublicMedia, renditions: Any) -> None:
    image = renditions()
    image.path.write_bytes(b"\xff\xd8\xff" + b"0" * (1024 * 1024))
    with pytest.raises(PublicMediaError, match="1 MB"):
        media.publish(image)


def test_urls_are_ascii_and_percent_encoded(zsettings: Settings) -> None:
    assert ascii_url("https://xn--c-phng.test/ảnh công khai/a b.jpg") == (
        "https://xn--c-phng.test/%E1%BA%A3nh%20c%C3%B4ng%20khai/a%20b.jpg"
    )
    assert ascii_url("https://đứcphổ.vn:8443/x/%C3%A1.jpg").startswith("https://xn--")
    assert ascii_url("https://đứcphổ.vn:8443/x/%C3%A1.jpg").endswith(":8443/x/%C3%A1.jpg")
    media = PublicMedia(replace(zsettings, public_media_base_url="https://h.test/ảnh"))
    assert media.url_for("abc.jpg") == "https://h.test/%E1%BA%A3nh/abc.jpg"


@responses.activate
def test_diagnose_writes_a_probe_and_fetches_it(media: PublicMedia, zsettings: Settings) -> None:
    assert zsettings.public_media_dir is not None
    serve_folder(zsettings.public_media_dir)
    host, line = media.diagnose()
    assert host.ok and not host.warning and "tên miền công khai" in host.message
    assert line.ok
    assert list(zsettings.public_media_dir.iterdir()) == []


@responses.activate
def test_diagnose_fails_when_the_folder_is_not_served(
    media: PublicMedia, zsettings: Settings
) -> None:
    assert zsettings.public_media_dir is not None
    serve_folder(zsettings.public_media_dir, status=404)
    host, line = media.diagnose()
    assert host.ok
    assert not line.ok and "PUBLIC_MEDIA_DIR" in line.message
