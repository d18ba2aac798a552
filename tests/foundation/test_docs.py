"""Docs tests: every command and every setting is documented (the sqlite-utils habit)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from social_publisher.cli import build_parser
from social_publisher.config import setting_names

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{prefix} {name}".strip()
                nested = list(_commands(sub, full))
                yield from nested or [full]


COMMANDS = sorted(_commands(build_parser()))


def _leaf_parsers(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{prefix} {name}".strip()
                nested = list(_leaf_parsers(sub, full))
                yield from nested or [(full, sub)]


FLAGS = sorted(
    (command, flag)
    for command, sub in _leaf_parsers(build_parser())
    for action in sub._actions
    if action.help != argparse.SUPPRESS
    for flag in action.option_strings
    if flag.startswith("--") and flag != "--help"
)


def test_the_cli_has_every_command_of_the_design() -> None:
    design = {
        "init", "check", "status", "run", "retry", "withdraw", "publish-now", "media render",
        "collect", "shares import", "shares status", "report", "zalo token set",
        "zalo token refresh", "doctor", "sandbox", "demo",
    }  # fmt: skip
    assert design <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"`social-publisher {command}" in README, f"README does not document {command!r}"


@pytest.mark.parametrize(("command", "flag"), FLAGS)
def test_every_flag_is_in_its_commands_row(command: str, flag: str) -> None:
    rows = [line for line in README.splitlines() if f"`social-publisher {command}" in line]
    assert any(flag in row for row in rows), f"README's row of {command!r} lacks {flag}"


@pytest.mark.parametrize("name", setting_names())
def test_every_setting_is_in_the_readme(name: str) -> None:
    assert f"`{name}`" in README, f"README does not document {name}"


def test_readme_gives_the_two_commands() -> None:
    assert ".venv/bin/pip install -e . && .venv/bin/social-publisher demo" in README
    assert ".venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest" in README
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert '"$VENV/bin/python" -m pytest' in ci


def test_staff_guide_and_changelog_exist() -> None:
    guide = (ROOT / "content_queue" / "README.md").read_text(encoding="utf-8")
    assert "Tiêu đề" in guide and "Thời gian đăng" in guide and "Người duyệt" in guide
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
