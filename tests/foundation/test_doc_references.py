"""Every document the code points at is in the repository, and the architecture note
covers what the issue asked of it (the lifecycle table and the layers)."""

from __future__ import annotations

import re
from pathlib import Path

from social_publisher.states import PUBLICATION_MOVES, PubState

ROOT = Path(__file__).parents[2]
#: a path-like name ending in .md (``post.md`` is a queue file name, not a document)
MD_REFERENCE = re.compile(r"(?<![\w/.-])(/?(?:[\w.-]+/)*[\w.-]+\.md)\b")
NOT_DOCUMENTS = {"post.md"}
#: files the package ships (``packaged("content_queue_README.md")``) are named from here
PACKAGE_DATA = ROOT / "social_publisher" / "data"


def _references() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "social_publisher").rglob("*.py")):
        for match in MD_REFERENCE.finditer(path.read_text(encoding="utf-8")):
            found.append((str(path.relative_to(ROOT)), match.group(1)))
    return found


def test_every_document_the_code_names_exists() -> None:
    references = _references()
    assert ("social_publisher/states.py", "docs/architecture.md") in references
    missing = [
        (where, name)
        for where, name in references
        if name not in NOT_DOCUMENTS
        and not (ROOT / name.lstrip("/")).is_file()
        and not (PACKAGE_DATA / name).is_file()
    ]
    assert missing == []


def test_the_pattern_sees_a_dangling_reference() -> None:
    text = 'x = 1  # see DESIGN.md "State" and ``/api/zalo-oa.md`` and post.md'
    assert [m.group(1) for m in MD_REFERENCE.finditer(text)] == [
        "DESIGN.md",
        "/api/zalo-oa.md",
        "post.md",
    ]


def test_the_architecture_note_draws_the_table_and_the_layers_in_under_two_pages() -> None:
    note = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert len(note.split()) < 1000 and len(note.splitlines()) < 120
    table = {
        line.split("|")[1].strip().strip("`"): line.split("|")[2]
        for line in note.splitlines()
        if line.startswith("| `") and line.split("|")[1].strip().strip("`") in set(PubState)
    }
    assert set(table) == set(PubState)  # one row per state
    for before, allowed in PUBLICATION_MOVES.items():
        named = set(re.findall(r"`(\w+)`", table[before]))
        assert named == {s.value for s in allowed}, before  # the note says what the code does
    assert "cli  →  services  →  store · channels · media · queue · sandbox" in note
