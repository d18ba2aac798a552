"""The public media host judged as Zalo's servers see it: address ranges, office names,
special-use names, public DNS (an injected resolver: these tests never touch the network),
https recommended, and loopback allowed only when the Zalo API runs on this machine."""

from __future__ import annotations

from dataclasses import replace

import pytest

from social_publisher.channels.public_media import PublicMedia, judge_host, zalo_runs_here
from social_publisher.config import Settings
from social_publisher.errors import PublicMediaSetupError, SetupError

from .conftest import public_dns

REAL_ZALO = "https://openapi.zalo.me"


def levels(settings: Settings, base: str, resolver=public_dns, zalo=REAL_ZALO) -> list[str]:  # type: ignore[no-untyped-def]
    judged = replace(settings, public_media_base_url=base, zalo_openapi_url=zalo)
    return [v.level for v in judge_host(judged, resolver)]


def message(settings: Settings, base: str, resolver=public_dns, zalo=REAL_ZALO) -> str:  # type: ignore[no-untyped-def]
    judged = replace(settings, public_media_base_url=base, zalo_openapi_url=zalo)
    return " | ".join(v.message for v in judge_host(judged, resolver))


@pytest.mark.parametrize(
    ("base", "said"),
    [
        ("http://127.0.0.1:8080/media", "loopback"),
        ("http://[::1]/media", "loopback"),
        ("http://localhost/media", "tên của chính máy này"),
        ("http://10.0.0.5/cds", "mạng nội bộ"),
        ("https://172.20.1.1/cds", "mạng nội bộ"),
        ("https://192.168.1.20/cds", "mạng nội bộ"),
        ("http://169.254.3.4/cds", "link-local"),
        ("http://[fe80::1]/cds", "link-local"),
        ("http://100.64.0.9/cds", "dành riêng"),
        ("http://0.0.0.0/cds", "dành riêng"),
        ("http://240.0.0.1/cds", "dành riêng"),
        ("http://224.0.0.251/cds", "dành riêng"),
        ("http://[::ffff:192.168.0.7]/cds", "mạng nội bộ"),
        ("https://mayvanphong/cds", "tên máy trong mạng văn phòng"),
        ("https://nas.local/cds", "tên dành riêng"),
        ("https://media.ducpho.lan/cds", "tên dành riêng"),
        ("https://ducpho.test/cds", "tên dành riêng"),
        ("https://router.home.arpa/cds", "tên dành riêng"),
        ("ftp://ducpho.gov.vn/cds", "không phải địa chỉ web"),
        ("ducpho.gov.vn/cds", "không phải địa chỉ web"),
    ],
)
def test_hosts_zalo_cannot_reach_are_errors(zsettings: Settings, base: str, said: str) -> None:
    assert "error" in levels(zsettings, base)
    text = message(zsettings, base)
    assert said in text
    assert "PUBLIC_MEDIA_BASE_URL" in text and "PUBLIC_MEDIA_DIR" in text  # the setting, the fix


def test_dns_decides_for_real_names(zsettings: Settings) -> None:
    def office_dns(host: str) -> list[str]:
        return {
            "anh.ducpho.gov.vn": ["192.168.10.4"],
            "mix.ducpho.gov.vn": ["14.1.1.1", "10.1.1.1"],
        }[host]

    def no_dns(host: str) -> list[str]:
        raise OSError("Name or service not known")

    assert levels(zsettings, "https://cds.ducpho.gov.vn/m") == ["ok"]
    split = message(zsettings, "https://anh.ducpho.gov.vn/m", office_dns)
    assert "trỏ về 192.168.10.4" in split and "mạng nội bộ" in split
    assert "trỏ về 10.1.1.1" in message(zsettings, "https://mix.ducpho.gov.vn/m", office_dns)
    assert "không phân giải được trong DNS" in message(zsettings, "https://ma.gov.vn/m", no_dns)
    assert levels(zsettings, "https://ma.gov.vn/m", lambda host: []) == ["error"]
    # without a resolver (status), only what can be judged offline
    assert levels(zsettings, "https://ma.gov.vn/m", None) == ["ok"]
    assert levels(zsettings, "https://14.225.12.34/m", no_dns) == ["ok"]  # a public address


def test_http_is_a_warning_https_recommended(zsettings: Settings) -> None:
    assert levels(zsettings, "http://cds.ducpho.gov.vn/m") == ["warning"]
    assert "nên dùng https" in message(zsettings, "http://cds.ducpho.gov.vn/m")
    assert levels(zsettings, "http://192.168.1.2/m") == ["error", "warning"]


def test_loopback_is_right_when_zalo_runs_on_this_machine(zsettings: Settings) -> None:
    for zalo in ("http://127.0.0.1:8765/zalo", "http://localhost:8765/zalo", "http://[::1]:9/z"):
        local = replace(zsettings, zalo_openapi_url=zalo)
        assert zalo_runs_here(local)
        assert levels(zsettings, "http://127.0.0.1:8765/media", zalo=zalo) == ["ok"]
        assert levels(zsettings, "http://localhost:8765/media", zalo=zalo) == ["ok"]
        # a LAN host is not "this machine": judged as usual
        assert "error" in levels(zsettings, "http://192.168.1.20/media", zalo=zalo)
    assert not zalo_runs_here(replace(zsettings, zalo_openapi_url=REAL_ZALO))
    assert "error" in levels(zsettings, "http://127.0.0.1:8765/media", zalo=REAL_ZALO)


def test_publishing_stops_before_copying_with_a_setup_error(
    zsettings: Settings, renditions: object
) -> None:
    bad = replace(zsettings, public_media_base_url="http://192.168.1.20/cds")
    media = PublicMedia(bad, resolver=public_dns)
    image = renditions()  # type: ignore[operator]
    with pytest.raises(PublicMediaSetupError) as caught:
        media.publish_all([image])
    assert isinstance(caught.value, SetupError) and caught.value.platform == "zalo"
    assert "PUBLIC_MEDIA_BASE_URL=http://192.168.1.20/cds" in caught.value.advice
    assert (
        bad.public_media_dir is None
        or not bad.public_media_dir.exists()
        or not any(bad.public_media_dir.iterdir())
    )
    lines = media.diagnose()  # no fetch-back to a host of the office network
    assert [(d.name, d.ok, d.warning) for d in lines] == [
        ("zalo.public_media.host", False, False),
        ("zalo.public_media.host", True, True),  # and http: https recommended
    ]
