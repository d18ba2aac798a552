"""Units (đơn vị): the communes, wards and offices one install serves.

A unit is the install's settings with its own Page, OA, queue folder, agencies list,
plan targets and report heading laid over them. They are listed in ``UNITS_FILE``
(TOML: it has comments, nesting and line numbers, and Python reads it without a
dependency). With no such file the install is one unit built from ``.env``, so a town
office never has to learn about units. Secrets never go in the file: a secret setting
is named by the environment variable that holds it (``FB_PAGE_ACCESS_TOKEN_ENV =
"FB_TOKEN_PHO_MINH"``), so the file can be printed, mailed and kept in version control.

Each unit's settings are built by the same code as ``.env``'s (:func:`config.settings_from`),
so a unit's bad value is refused with the same Vietnamese message, plus its file and line.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import SECRET_SETTINGS, Settings, setting_names, settings_from
from .errors import ConfigError

#: the id of the one unit of an install without a units file
DEFAULT_UNIT_ID = "mac-dinh"

#: settings a unit may set for itself; the rest (database, tick, logs, web) are the install's
UNIT_SETTINGS = frozenset(
    {
        "QUEUE_DIR",
        "AGENCIES_FILE",
        "FB_PAGE_ID",
        "FB_APP_ID",
        "ZALO_APP_ID",
        "ZALO_MONTHLY_ARTICLE_QUOTA",
        "ZALO_BROADCAST_MONTHLY_BUDGET",
        "ZALO_DEFAULT_COVER",
        "PUBLIC_MEDIA_DIR",
        "PUBLIC_MEDIA_BASE_URL",
        "DEFAULT_SHARE_WITH",
        "DEFAULT_AUTHOR",
        "APPROVERS",
        "APPROVAL_MODE",
        "REPORT_DIR",
        "PLAN_POSTS_PER_MONTH_FACEBOOK",
        "PLAN_POSTS_PER_MONTH_ZALO",
        "PLAN_SHARE_RATE_PERCENT",
        "SHARE_ON_TIME_HOURS",
        "REPORT_UNIT_NAME",
        "REPORT_PARENT_BODY",
        "REPORT_PLACE",
        "REPORT_NUMBER_CODE",
        "REPORT_SUBJECT",
        "REPORT_BASIS",
        "REPORT_SIGNER_AUTHORITY",
        "REPORT_SIGNER_TITLE",
        "REPORT_SIGNER_NAME",
        "REPORT_RECIPIENTS",
        "ALERT_QUIET_HOURS",
        "ALERT_DIGEST_HOUR",
        "ALERT_LATE_MINUTES",
        # where its platforms answer: the real ones for all, or a unit's own sandbox
        # (a ward training its staff while the others publish for real)
        "FB_GRAPH_URL",
        "FB_GRAPH_VIDEO_URL",
        "ZALO_OAUTH_URL",
        "ZALO_OPENAPI_URL",
    }
)
#: per-unit secrets, each given only as ``<NAME>_ENV``: the variable that holds it (alert
#: targets too: an SMTP URL carries its password)
UNIT_SECRETS = frozenset(SECRET_SETTINGS - {"WEB_SECRET_KEY"} | {"ALERT_URLS"})
_ENV_SUFFIX = "_ENV"
_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_VARIABLE = re.compile(r"[A-Z_][A-Z0-9_]*")
_TABLE = "don_vi"
_HEADER = re.compile(r"\s*\[\[\s*" + _TABLE + r"\s*\]\]")
_KEY = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=")
_TOML_LINE = re.compile(r"at line (\d+)")


@dataclass(frozen=True)
class Unit:
    """One unit: its id, name, and the settings it publishes, collects and reports with."""

    id: str
    name: str
    settings: Settings = field(repr=False)
    #: the line of its ``[[don_vi]]`` table in the units file (0: built from ``.env``)
    line: int = 0

    @property
    def queue_dir(self) -> Path:
        return self.settings.queue_dir


def _where(path: Path, line: int) -> str:
    return f"Tệp {path}, dòng {line}: "


def _lines(text: str) -> list[tuple[int, dict[str, int]]]:
    """For each ``[[don_vi]]`` table in order: its header line and the line of each key."""
    tables: list[tuple[int, dict[str, int]]] = []
    current: dict[str, int] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if _HEADER.match(raw):
            current = {}
            tables.append((number, current))
        elif raw.lstrip().startswith("["):
            current = None  # another table: its keys are not a unit's
        elif current is not None and (match := _KEY.match(raw)):
            current.setdefault(match.group(1), number)
    return tables


def _parse(path: Path) -> tuple[list[dict[str, Any]], list[tuple[int, dict[str, int]]]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"Không đọc được tệp đơn vị {path} ({exc.strerror or type(exc).__name__}): kiểm "
            "tra UNITS_FILE trong .env và quyền đọc tệp."
        ) from None
    try:
        text = unicodedata.normalize("NFC", raw.decode("utf-8").removeprefix("\ufeff"))
    except UnicodeDecodeError:
        raise ConfigError(
            f"Tệp đơn vị {path} không phải văn bản UTF-8: mở bằng Notepad, chọn Lưu thành "
            "(Save As) với mã hóa UTF-8, rồi chạy lại."
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        line = f", dòng {found.group(1)}" if found else ""
        raise ConfigError(
            f'Tệp {path}{line}: sai cú pháp TOML ({exc}). Mỗi dòng có dạng TÊN = "giá trị"; '
            "chữ phải nằm trong dấu ngoặc kép; mỗi đơn vị bắt đầu bằng một dòng [[don_vi]]."
        ) from None
    unknown = sorted(set(data) - {_TABLE})
    if unknown:
        raise ConfigError(
            f"Tệp {path}: có mục “{unknown[0]}” ngoài các bảng [[don_vi]]. Mỗi đơn vị là "
            "một bảng bắt đầu bằng dòng [[don_vi]]; xóa hoặc chuyển mục đó vào một đơn vị."
        )
    units = data.get(_TABLE, [])
    if not isinstance(units, list) or not units:
        raise ConfigError(
            f"Tệp {path} không có đơn vị nào: thêm ít nhất một bảng [[don_vi]] có id và "
            "name (xem ví dụ units.example.toml), hoặc bỏ UNITS_FILE để dùng một đơn vị."
        )
    return units, _lines(text)


def _overrides(
    path: Path, table: dict[str, Any], lines: dict[str, int], header: int, env: Mapping[str, str]
) -> dict[str, str]:
    """The unit's settings as ``.env`` values, every key and secret name checked."""
    values: dict[str, str] = {}
    for key, value in table.items():
        at = _where(path, lines.get(key, header))
        if key in ("id", "name"):
            continue
        if key in UNIT_SECRETS:
            raise ConfigError(
                f"{at}không ghi mã bí mật {key} vào tệp đơn vị (tệp này được in, gửi và lưu "
                f"trữ). Đặt giá trị trong .env dưới một tên riêng, ví dụ {key}_DON_VI, rồi ghi ở "
                f'đây {key}{_ENV_SUFFIX} = "{key}_DON_VI".'
            )
        if key.endswith(_ENV_SUFFIX) and key.removesuffix(_ENV_SUFFIX) in UNIT_SECRETS:
            secret = key.removesuffix(_ENV_SUFFIX)
            if not isinstance(value, str) or not _VARIABLE.fullmatch(value):
                raise ConfigError(
                    f"{at}{key} phải là tên một biến trong .env (chữ in hoa, số và dấu gạch "
                    f'dưới), ví dụ {key} = "{secret}_PHUONG_A"; không ghi chính mã bí mật ở đây.'
                )
            if not env.get(value, "").strip():
                raise ConfigError(
                    f"{at}{key} chỉ tới biến {value}, nhưng biến này chưa có trong .env hay "
                    f"môi trường. Thêm dòng {value}=<giá trị> vào .env, rồi chạy lại."
                )
            values[secret] = env[value]
            continue
        if key not in UNIT_SETTINGS:
            if key in setting_names():
                hint = " Đây là cài đặt chung của cả bản cài: đặt trong .env."
            elif key.upper() in UNIT_SETTINGS | UNIT_SECRETS:
                hint = f" Tên cài đặt viết chữ in hoa: {key.upper()}."
            elif close := difflib.get_close_matches(key, sorted(UNIT_SETTINGS), n=1):
                hint = f" Có phải ý bạn là {close[0]}?"
            else:
                hint = " Xem các tên dùng được ở đầu tệp units.example.toml."
            raise ConfigError(f"{at}đơn vị không đặt được “{key}”.{hint}")
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif not isinstance(value, str | int | float):
            raise ConfigError(f"{at}{key} phải là một giá trị (chữ trong ngoặc kép hoặc số).")
        values[key] = str(value)
    return values


def load_units(settings: Settings) -> list[Unit]:
    """Every unit of the install, each with its own settings; one unit without a units file."""
    if settings.units_file is None:
        return [Unit(DEFAULT_UNIT_ID, settings.report_unit_name, settings)]
    path = settings.units_file
    tables, lines = _parse(path)
    env = settings.extra
    units: list[Unit] = []
    seen: dict[str, int] = {}
    for index, table in enumerate(tables):
        header, keys = lines[index] if index < len(lines) else (0, {})
        at = _where(path, header)
        if not isinstance(table, dict):
            raise ConfigError(f"{at}mỗi [[don_vi]] phải là một bảng các dòng TÊN = giá trị.")
        unit_id = table.get("id")
        if not isinstance(unit_id, str) or not _ID.fullmatch(unit_id):
            raise ConfigError(
                f"{_where(path, keys.get('id', header))}mỗi đơn vị cần id viết thường, không dấu, "
                'nối bằng gạch ngang, ví dụ id = "phuong-pho-minh".'
            )
        if unit_id in seen:
            raise ConfigError(
                f"{_where(path, keys.get('id', header))}id “{unit_id}” đã dùng cho đơn vị ở dòng "
                f"{seen[unit_id]}: mỗi đơn vị một id riêng."
            )
        seen[unit_id] = header
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(
                f'{at}đơn vị “{unit_id}” cần name, ví dụ name = "UBND phường Phổ Minh".'
            )
        values = _overrides(path, table, keys, header, env)
        values.setdefault("QUEUE_DIR", str(settings.queue_dir / unit_id))
        # each unit's reports in a folder of its own: two units' October folders would be one
        values.setdefault("REPORT_DIR", str(settings.report_dir / unit_id))
        values.setdefault("REPORT_UNIT_NAME", name.strip())
        try:
            unit_settings = settings_from({**env, **values})
        except ConfigError as exc:
            setting = getattr(exc, "setting", "")
            line = keys.get(setting, keys.get(f"{setting}{_ENV_SUFFIX}", header))
            raise ConfigError(f"{_where(path, line)}(đơn vị “{unit_id}”) {exc}") from None
        units.append(Unit(unit_id, name.strip(), unit_settings, header))
    _check_apart(path, units)
    _LOADED[str(path)] = units
    return units


#: the units each units file gave this process (services handed one unit's settings ask)
_LOADED: dict[str, list[Unit]] = {}


def loaded_units(settings: Settings) -> list[Unit] | None:
    """The units this process loaded from ``settings``' units file (None: not loaded here).

    A unit's settings cannot load the file again (its values stand over the install's)."""
    if settings.units_file is None:
        return None
    return _LOADED.get(str(settings.units_file))


def _check_apart(path: Path, units: list[Unit]) -> None:
    """Refuse two units sharing what must be theirs alone: a Page served twice posts twice."""
    folders: dict[Path, Unit] = {}
    pages: dict[str, Unit] = {}
    for unit in units:
        folder = unit.settings.queue_dir.resolve()
        for other_folder, other in folders.items():
            if (
                folder == other_folder
                or other_folder in folder.parents
                or folder in (other_folder.parents)
            ):
                raise ConfigError(
                    f"{_where(path, unit.line)}thư mục hàng đợi của “{unit.id}” "
                    f"({unit.settings.queue_dir}) trùng hoặc lồng trong thư mục của “{other.id}” "
                    f"({other.settings.queue_dir}): mỗi đơn vị một thư mục riêng, không lồng nhau."
                )
        folders[folder] = unit
        page = unit.settings.fb_page_id
        if page:
            if page in pages:
                raise ConfigError(
                    f"{_where(path, unit.line)}Trang Facebook {page} đã thuộc đơn vị "
                    f"“{pages[page].id}”: một Trang chỉ thuộc một đơn vị, nếu không bài sẽ "
                    "đăng hai lần."
                )
            pages[page] = unit


def find_unit(units: list[Unit], unit_id: str | None) -> Unit:
    """The unit ``--unit`` names, or the only one; a Vietnamese error listing the ids."""
    if unit_id is None:
        if len(units) == 1:
            return units[0]
        raise ConfigError(
            f"Bản cài có {len(units)} đơn vị: chọn một bằng --unit, một trong "
            + ", ".join(u.id for u in units)
            + "."
        )
    for unit in units:
        if unit.id == unit_id:
            return unit
    close = difflib.get_close_matches(unit_id, [u.id for u in units], n=1)
    hint = f" Có phải ý bạn là {close[0]}?" if close else ""
    raise ConfigError(
        f"Không có đơn vị “{unit_id}”.{hint} Các đơn vị: " + ", ".join(u.id for u in units) + "."
    )
