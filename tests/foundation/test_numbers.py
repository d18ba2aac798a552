"""Numbers staff read: the Vietnamese decimal comma, through one helper (``numbers.py``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from social_publisher.numbers import vn_decimal, vn_megabytes, vn_number, vn_percent

PACKAGE = Path(__file__).parents[2] / "social_publisher"
VIETNAMESE = re.compile(
    "[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]", re.IGNORECASE
)
#: a format spec that prints a decimal point: ``.1f``, ``.2f``, ``g``, ``.3g``
DECIMAL_SPEC = re.compile(r"(\.[1-9]\d*[fF%]|[gG]$)")


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (2.14, 1, "2,1"),
        (0.5, 1, "0,5"),
        (0.0, 1, "0"),
        (12.0, 1, "12"),
        (1.96, 1, "2"),
        (1234.5, 1, "1.234,5"),
        (1.5, 2, "1,5"),
        (0.25, 2, "0,25"),
        (None, 1, "—"),
    ],
)
def test_vn_decimal(value: float | None, digits: int, text: str) -> None:
    assert vn_decimal(value, digits) == text


def test_other_helpers() -> None:
    assert vn_number(1234567) == "1.234.567"
    assert vn_percent(0.853) == "85,3%"
    assert vn_megabytes(4.5 * 1024 * 1024, binary=True) == "4,5 MB"
    assert vn_megabytes(1_500_000) == "1,5 MB"


@pytest.mark.parametrize(("fps", "text"), [("30000/1001", "29,97"), ("30", "30"), ("25/1", "25")])
def test_frame_rates_as_staff_read_them(fps: str, text: str) -> None:
    from social_publisher.cli.cmd_media import fps_label

    assert fps_label(fps) == text


def _violations() -> list[str]:
    """Vietnamese f-strings that format a number with a decimal point themselves."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.JoinedStr):
                continue
            parts = [v.value for v in node.values if isinstance(v, ast.Constant)]
            literal = "".join(p for p in parts if isinstance(p, str))
            if not VIETNAMESE.search(literal):
                continue
            before = ""
            for part in node.values:
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    before = part.value
                    continue
                assert isinstance(part, ast.FormattedValue)
                spec = "".join(
                    str(v.value)
                    for v in (part.format_spec.values if part.format_spec else [])
                    if isinstance(v, ast.Constant)
                )
                # ``NAME={value:g}`` quotes a setting as .env spells it: a point is right there
                if DECIMAL_SPEC.search(spec) and not before.endswith("="):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {spec}")
                before = ""
    return found


def test_staff_text_formats_decimals_through_the_helper() -> None:
    assert _violations() == []
