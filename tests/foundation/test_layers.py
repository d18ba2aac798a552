"""The layer rule (docs/architecture.md "Layers"), read from every import in the package.

cli, web -> services -> store / channels / media / queue / sandbox -> platforms,
graph_versions, states, localtime, numbers, errors, config, units. A module may import its
own package and anything in a lower layer, never a higher one nor a sibling of its own layer; the
CLI runs no query. The web console is a top layer beside the CLI that only calls services: no
query, no store model, no middle layer, never the CLI.
Function-level and TYPE_CHECKING imports count: they are dependencies all the same.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "social_publisher"
ROOT = "social_publisher"
BOTTOM = {
    *("errors", "config", "units", "platforms", "graph_versions", "states", "localtime"),
    *("numbers", ""),
}
MIDDLE = {"store", "channels", "media", "queue", "sandbox"}
LAYER = {"cli": 3, "web": 3, "__main__": 3, "services": 2, **dict.fromkeys(MIDDLE, 1)}
TOP = {"cli", "web"}


def _module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) of every import in one file."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            folder = root.parent.joinpath(*target.split("."))
            modules = [n for n in names if (folder / f"{n}.py").is_file() or (folder / n).is_dir()]
            for name in modules:  # from . import x, where x is a module
                yield node.lineno, f"{target}.{name}", []
            if len(modules) < len(names):
                yield node.lineno, target, [n for n in names if n not in modules]


def _top(module: str) -> str:
    """The first package under social_publisher ("" for the package itself)."""
    rest = module[len(ROOT) :].lstrip(".")
    return rest.split(".")[0]


def _layer(top: str) -> int:
    return 0 if top in BOTTOM else LAYER[top]


def _violations(root: Path = PACKAGE) -> Iterator[str]:
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts:  # Alembic scripts: the store's own
            continue
        source = _top(_module_name(path, root))
        for line, target, names in _imports(path, root):
            where = f"{path.relative_to(root)}:{line} imports {target}"
            if source in TOP and target.split(".")[0] == "sqlalchemy":
                if target != "sqlalchemy.exc":
                    yield f"{where}: the {source} layer runs no query (call a service)"
                continue
            if target != ROOT and not target.startswith(ROOT + "."):
                continue
            top = _top(target)
            if source in TOP and top == "store" and set(names) - {"Database"}:
                yield f"{where} {names}: the {source} layer only passes the Database handle"
            if top == source:
                continue
            if source == "web" and (top in MIDDLE - {"store"} or top == "cli"):
                yield f"{where}: the web console only calls services ({source} -> {top})"
                continue
            if _layer(top) > _layer(source):
                yield f"{where}: upward ({source} -> {top})"
            elif _layer(top) == _layer(source) == 1:  # the bottom modules may share
                yield f"{where}: sideways ({source} -> {top}); go through a lower layer"


def test_every_import_follows_the_layer_rule() -> None:
    assert list(_violations()) == []


@pytest.mark.parametrize(
    ("source", "line", "why"),
    [
        ("queue/x.py", "from ..channels import zalo", "sideways"),
        ("store/x.py", "from ..services.planner import plan", "upward"),
        ("services/x.py", "from ..cli import main", "upward"),
        ("sandbox/x.py", "from ..store import Database", "sideways"),
        ("platforms.py", "from .queue import scanner", "upward"),
        ("cli/x.py", "from sqlalchemy import select", "runs no query"),
        ("cli/x.py", "from ..store import Publication", "only passes the Database"),
        ("services/publisher/x.py", "from ...cli import cmd_status", "upward"),
        ("services/x.py", "from ..web import app", "upward"),
        ("web/x.py", "from sqlalchemy import select", "runs no query"),
        ("web/x.py", "from ..store import Post", "only passes the Database"),
        ("web/x.py", "from ..queue import dates", "only calls services"),
        ("web/x.py", "from ..media import render_image", "only calls services"),
        ("web/x.py", "from ..cli import main", "only calls services"),
    ],
)
def test_the_rule_catches(tmp_path: Path, source: str, line: str, why: str) -> None:
    fake = tmp_path / ROOT
    target = fake / source
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(line + "\n", encoding="utf-8")
    found = list(_violations(fake))
    assert len(found) == 1 and why in found[0], found
