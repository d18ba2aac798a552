# ruff: noqa: E501  (exact CLI output: staff lines are long)
"""``status``, ``check``, ``collect`` and ``shares`` in an install of two units: exact output."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., tuple[int, str, str]]
HEAD = "Tiêu đề: {title}\nThời gian đăng: {when}\nNgười duyệt: Võ Thanh Hùng\n"
A, B = "phuong-pho-minh", "xa-pho-phong"

UNITS = f"""\
[[don_vi]]
id = "{A}"
name = "UBND phường Phổ Minh"
FB_PAGE_ID = "1111"
FB_PAGE_ACCESS_TOKEN_ENV = "FB_TOKEN_PHO_MINH"

[[don_vi]]
id = "{B}"
name = "UBND xã Phổ Phong"
"""


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / name / "bai-viet.txt").write_text(text, encoding="utf-8")


@pytest.fixture
def two_units(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """Two wards: A with its Page, B with none; their queue folders, A's with two posts."""
    (tmp_path / "units.toml").write_text(UNITS, encoding="utf-8")
    monkeypatch.setenv("UNITS_FILE", str(tmp_path / "units.toml"))
    monkeypatch.setenv("FB_TOKEN_PHO_MINH", "EAAB-pho-minh-secret-token")
    queue = Path(cli_env["QUEUE_DIR"])
    a, b = queue / A, queue / B
    _write(a, "ngay-cds", HEAD.format(title="Ngày Chuyển đổi số", when="10/12/2026 07:30") + "Kênh: facebook\n\nx")
    _write(a, "loi", "Tiêu đề: Bài lỗi\nThời gian đăng: 12/12/2026\nKênh: facebook\n\nx")
    _write(b, "vneid", HEAD.format(title="VNeID ở Phổ Phong", when="11/12/2026 08:00") + "Kênh: zalo\n\nx")
    return a, b
