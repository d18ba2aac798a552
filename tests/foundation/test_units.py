"""The units file: each unit's settings, every refusal naming file, line and fix, no secret."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from social_publisher.cli import main
from social_publisher.config import load_settings
from social_publisher.errors import ConfigError, redact
from social_publisher.units import DEFAULT_UNIT_ID, find_unit, load_units

ROOT = Path(__file__).parents[2]

TWO_UNITS = """\
# two wards
[[don_vi]]
id = "phuong-pho-minh"
name = "UBND phường Phổ Minh"
FB_PAGE_ID = "111"
FB_PAGE_ACCESS_TOKEN_ENV = "FB_TOKEN_PHO_MINH"
PLAN_POSTS_PER_MONTH_FACEBOOK = 12
APPROVERS = ["Võ Thanh Hùng", "Nguyễn Thị Lan"]

[[don_vi]]
id = "xa-pho-phong"
name = "UBND xã Phổ Phong"
QUEUE_DIR = "hang_doi/pho_phong"
REPORT_PLACE = "Phổ Phong"
"""

ENV = {
    "FB_TOKEN_PHO_MINH": "EAAB-pho-minh-secret-token",
    "FB_PAGE_ACCESS_TOKEN": "EAAB-install-token",
    "FB_PAGE_ID": "999",
    "QUEUE_DIR": "content_queue",
}


def _settings(tmp_path: Path, text: str, **env: str):
    path = tmp_path / "units.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings({**ENV, "UNITS_FILE": str(path), **env}, dotenv_path=None)


def _refusal(tmp_path: Path, text: str, **env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_units(_settings(tmp_path, text, **env))
    return caught.value.message


def test_without_a_units_file_the_install_is_one_unit_of_its_settings() -> None:
    settings = load_settings(ENV, dotenv_path=None)
    [unit] = load_units(settings)
    assert (unit.id, unit.name) == (DEFAULT_UNIT_ID, settings.report_unit_name)
    assert unit.settings is settings


def test_each_unit_lays_its_settings_over_the_installs(tmp_path: Path) -> None:
    minh, phong = load_units(_settings(tmp_path, TWO_UNITS))
    assert (minh.id, minh.name, minh.line, phong.line) == (
        "phuong-pho-minh",
        "UBND phường Phổ Minh",
        2,
        10,
    )
    assert minh.settings.fb_page_id == "111"
    assert minh.settings.fb_page_access_token == "EAAB-pho-minh-secret-token"
    assert minh.settings.plan_posts_per_month_facebook == 12
    assert minh.settings.approvers == ("Võ Thanh Hùng", "Nguyễn Thị Lan")
    assert minh.settings.queue_dir == Path("content_queue/phuong-pho-minh")  # the default
    assert minh.settings.report_unit_name == "UBND phường Phổ Minh"
    # what a unit does not set is the install's: the other ward has the install's Page
    assert phong.settings.fb_page_id == "999"
    assert phong.settings.fb_page_access_token == "EAAB-install-token"
    assert phong.settings.queue_dir == Path("hang_doi/pho_phong")
    assert phong.settings.report_place == "Phổ Phong"
    assert find_unit([minh, phong], "xa-pho-phong") is phong


def test_a_units_secret_is_redacted_like_the_installs(tmp_path: Path) -> None:
    load_units(_settings(tmp_path, TWO_UNITS))
    assert "pho-minh-secret" not in redact("sent EAAB-pho-minh-secret-token to the Page")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            '[[don_vi]]\nid = "a"\nname = "A"\nFB_PAGE_ACCESS_TOKEN = "EAAB-oops"\n',
            4,
            ["không ghi mã bí mật FB_PAGE_ACCESS_TOKEN", 'FB_PAGE_ACCESS_TOKEN_ENV = "'],
        ),
        (
            '[[don_vi]]\nid = "a"\nname = "A"\nZALO_APP_SECRET_ENV = "CHUA_CO"\n',
            4,
            ["biến CHUA_CO", "chưa có trong .env", "CHUA_CO=<giá trị>"],
        ),
        (
            '[[don_vi]]\nid = "a"\nname = "A"\nFB_PAGE_ACCESS_TOKEN_ENV = "EAAB-abc"\n',
            4,
            ["phải là tên một biến"],
        ),
        ('[[don_vi]]\nid = "a"\nname = "A"\nDATABASE_URL = "x"\n', 4, ["cài đặt chung"]),
        ('[[don_vi]]\nid = "a"\nname = "A"\nfb_page_id = "1"\n', 4, ["chữ in hoa: FB_PAGE_ID"]),
        ('[[don_vi]]\nid = "a"\nname = "A"\nFB_PAGE_IDS = "1"\n', 4, ["ý bạn là FB_PAGE_ID"]),
        ('[[don_vi]]\nid = "Phường A"\nname = "A"\n', 2, ["id viết thường, không dấu"]),
        ('[[don_vi]]\nid = "a"\n', 1, ["cần name"]),
        (
            '[[don_vi]]\nid = "a"\nname = "A"\n\n[[don_vi]]\nid = "a"\nname = "B"\n',
            6,
            ["id “a” đã dùng cho đơn vị ở dòng 1"],
        ),
        (
            '[[don_vi]]\nid = "a"\nname = "A"\nPLAN_SHARE_RATE_PERCENT = 150\n',
            4,
            ["(đơn vị “a”)", "PLAN_SHARE_RATE_PERCENT"],
        ),
        (
            '[[don_vi]]\nid = "a"\nname = "A"\nFB_PAGE_ID = "7"\n\n'
            '[[don_vi]]\nid = "b"\nname = "B"\nFB_PAGE_ID = "7"\n',
            6,
            ["Trang Facebook 7 đã thuộc đơn vị “a”", "đăng hai lần"],
        ),
        (
            '[[don_vi]]\nid = "a"\nname = "A"\nQUEUE_DIR = "q"\n\n'
            '[[don_vi]]\nid = "b"\nname = "B"\nQUEUE_DIR = "q/b"\n',
            6,
            ["trùng hoặc lồng", "“a”"],
        ),
        ('[[don_vi]]\nid = "a"\nname = "A\n', 3, ["sai cú pháp TOML"]),
    ],
)
def test_every_refusal_names_the_file_the_line_and_the_fix(
    tmp_path: Path, text: str, line: int, words: list[str]
) -> None:
    message = _refusal(tmp_path, text)
    assert f"{tmp_path / 'units.toml'}, dòng {line}" in message, message
    for word in words:
        assert word in message, message
    assert "EAAB-oops" not in message and "EAAB-abc" not in message


def test_an_empty_or_foreign_file_is_refused(tmp_path: Path) -> None:
    assert "không có đơn vị nào" in _refusal(tmp_path, "# nothing yet\n")
    assert "ngoài các bảng [[don_vi]]" in _refusal(tmp_path, 'FB_PAGE_ID = "1"\n')
    missing = load_settings({"UNITS_FILE": str(tmp_path / "none.toml")}, dotenv_path=None)
    with pytest.raises(ConfigError, match="Không đọc được tệp đơn vị"):
        load_units(missing)


def test_find_unit_names_the_choices() -> None:
    settings = load_settings({}, dotenv_path=None)
    units = load_units(settings)
    assert find_unit(units, None) is units[0]
    with pytest.raises(ConfigError, match="Có phải ý bạn là mac-dinh"):
        find_unit(units, "mac-dinhh")


def test_the_example_file_is_valid_and_packaged(tmp_path: Path) -> None:
    packaged = ROOT / "social_publisher" / "data" / "units.example.toml"
    assert packaged.read_bytes() == (ROOT / "units.example.toml").read_bytes()
    env = {
        name: "x-" + name.lower()
        for name in (
            "FB_TOKEN_PHO_MINH",
            "ZALO_SECRET_PHO_MINH",
            "ZALO_REFRESH_PHO_MINH",
            "FB_TOKEN_PHO_PHONG",
        )
    }
    shutil.copy(packaged, tmp_path / "units.toml")
    settings = load_settings({**env, "UNITS_FILE": str(tmp_path / "units.toml")}, dotenv_path=None)
    minh, phong = load_units(settings)
    assert minh.settings.facebook_enabled and minh.settings.zalo_enabled
    assert phong.settings.facebook_enabled and not phong.settings.zalo_enabled


def _cli(tmp_path: Path, *args: str, env: str) -> tuple[int, str, str]:
    (tmp_path / ".env").write_text(env, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = main(["--env-file", str(tmp_path / ".env"), *args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_units_command_lists_each_unit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "units.toml").write_text(TWO_UNITS, encoding="utf-8")
    env = "UNITS_FILE=units.toml\nFB_TOKEN_PHO_MINH=EAAB-pho-minh-secret-token\n"
    code, out, err = _cli(tmp_path, "units", env=env)
    assert (code, err) == (0, "")
    assert out == (
        "Tệp đơn vị units.toml: 2 đơn vị, không có lỗi.\n"
        "- phuong-pho-minh: UBND phường Phổ Minh\n"
        "    Thư mục hàng đợi: content_queue/phuong-pho-minh\n"
        "    Danh sách đơn vị chia sẻ: agencies.csv\n"
        "    Facebook: bật\n"
        "    Zalo: tắt (thiếu ZALO_APP_ID, ZALO_APP_SECRET)\n"
        "- xa-pho-phong: UBND xã Phổ Phong\n"
        "    Thư mục hàng đợi: hang_doi/pho_phong\n"
        "    Danh sách đơn vị chia sẻ: agencies.csv\n"
        "    Facebook: tắt (thiếu FB_PAGE_ID, FB_PAGE_ACCESS_TOKEN)\n"
        "    Zalo: tắt (thiếu ZALO_APP_ID, ZALO_APP_SECRET)\n"
    )
    code, out, _ = _cli(tmp_path, "units", "--json", env=env)
    rows = json.loads(out)
    assert [r["id"] for r in rows] == ["phuong-pho-minh", "xa-pho-phong"]
    assert "secret" not in out


def test_units_command_without_a_file_says_one_unit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = _cli(tmp_path, "units", env="")
    assert code == 0
    assert out.startswith("Bản cài có một đơn vị (chưa đặt UNITS_FILE)")
    assert "- mac-dinh: Phòng Văn hóa và Thông tin\n" in out


def test_a_file_of_one_unit_is_what_every_command_runs_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "units.toml").write_text(
        '[[don_vi]]\nid = "a"\nname = "A"\nQUEUE_DIR = "hang_doi_a"\n', encoding="utf-8"
    )
    (tmp_path / "hang_doi_a").mkdir()
    code, out, err = _cli(tmp_path, "check", env="UNITS_FILE=units.toml\n")
    assert code == 0, err
    assert "hang_doi_a" in out


def test_a_command_for_one_unit_asks_which_when_there_are_several(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "units.toml").write_text(TWO_UNITS, encoding="utf-8")
    env = "UNITS_FILE=units.toml\nFB_TOKEN_PHO_MINH=EAAB-pho-minh-secret-token\n"
    code, out, err = _cli(tmp_path, "report", "--month", "11", "--year", "2026", env=env)
    assert (code, out) == (1, "")
    ids = "phuong-pho-minh, xa-pho-phong"
    assert err == f"Lỗi: Bản cài có 2 đơn vị: chọn một bằng --unit, một trong {ids}.\n"
    code, out, err = _cli(tmp_path, "report", "--unit", "phuong-pho-mihn", env=env)
    assert err.startswith(
        "Lỗi: Không có đơn vị “phuong-pho-mihn”. Có phải ý bạn là phuong-pho-minh?"
    )


def test_every_per_unit_name_is_a_setting_and_in_the_template() -> None:
    from social_publisher.config import setting_names
    from social_publisher.units import UNIT_SECRETS, UNIT_SETTINGS

    assert set(setting_names()) >= UNIT_SETTINGS | UNIT_SECRETS
    template = (ROOT / "units.example.toml").read_text(encoding="utf-8")
    for name in UNIT_SETTINGS | UNIT_SECRETS:
        assert name in template, name


def test_a_unit_has_its_own_alert_targets_from_a_named_variable(tmp_path: Path) -> None:
    text = (
        '[[don_vi]]\nid = "a"\nname = "A"\nALERT_URLS_ENV = "ALERTS_A"\n'
        'ALERT_DIGEST_HOUR = 7\n\n[[don_vi]]\nid = "b"\nname = "B"\n'
    )
    url = "mailtos://vhtt:Mat-Khau-Thu-42@mail.quangngai.gov.vn?to=vhtt@quangngai.gov.vn"
    a, b = load_units(_settings(tmp_path, text, ALERTS_A=url, FB_PAGE_ID=""))
    assert a.settings.alert_urls == (url,) and a.settings.alert_digest_hour == 7
    assert b.settings.alert_urls == () and b.settings.alert_digest_hour == 16
    assert "Mat-Khau-Thu-42" not in redact(f"could not send to {url}")
    message = _refusal(tmp_path, f'[[don_vi]]\nid = "a"\nname = "A"\nALERT_URLS = "{url}"\n')
    assert "không ghi mã bí mật ALERT_URLS" in message and "Mat-Khau" not in message


def test_init_makes_every_units_queue_guide_and_agencies_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "units.toml").write_text(TWO_UNITS, encoding="utf-8")
    env = (
        "UNITS_FILE=units.toml\nFB_TOKEN_PHO_MINH=EAAB-pho-minh-secret-token\n"
        f"DATABASE_URL=sqlite:///{tmp_path / 'sp.db'}\nQUEUE_DIR=hang_doi\n"
        "AGENCIES_FILE=agencies.csv\n"
    )
    code, out, err = _cli(tmp_path, "init", env=env)
    assert (code, err) == (0, "")
    for queue in ("hang_doi/phuong-pho-minh", "hang_doi/pho_phong"):
        assert (tmp_path / queue / "README.md").is_file()
    assert "Đã tạo thư mục hang_doi/phuong-pho-minh\n" in out
    assert "Đơn vị phuong-pho-minh (UBND phường Phổ Minh):\n" in out
    assert "Đơn vị xa-pho-phong (UBND xã Phổ Phong):\n" in out
    assert "EAAB-pho-minh-secret-token" not in out
