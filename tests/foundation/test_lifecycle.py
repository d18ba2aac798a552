"""The lifecycle: the transition tables walked pair by pair, claims, listeners, and no state
written anywhere else in the package."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from social_publisher.states import (
    HEALTH_MOVES,
    POST_MOVES,
    PUBLICATION_MOVES,
    HealthState,
    IllegalTransition,
    PostState,
    PubState,
    post_progress,
)
from social_publisher.store import AuditEvent, ChannelHealth, Database, Post, Publication
from social_publisher.store.lifecycle import (
    Change,
    add_listener,
    claim,
    set_health,
    transition,
)
from social_publisher.store.tenancy import unit_key

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
PACKAGE = Path(__file__).parents[2] / "social_publisher"
ALL_PAIRS = [(a, b) for a in PubState for b in PubState if a != b]


@pytest.fixture
def heard() -> Iterator[list[Change]]:
    changes: list[Change] = []
    remove = add_listener(lambda session, change: changes.append(change))
    yield changes
    remove()


def _publication(db: Database, state: PubState, **columns: object) -> int:
    with db.session() as s:
        post = Post(folder=f"p-{state}-{len(columns)}-{id(columns)}", state=PostState.READY)
        s.add(post)
        s.flush()
        pub = Publication(post_id=post.id, channel="facebook", state=state.value, **columns)
        s.add(pub)
        s.flush()
        return pub.id


def _transitions(db: Database, pub_id: int) -> list[tuple[str, str]]:
    with db.session() as s:
        return [
            (e.details["from"], e.details["to"])
            for e in s.scalars(
                select(AuditEvent).where(
                    AuditEvent.publication_id == pub_id, AuditEvent.event == "transition"
                )
            )
        ]


def test_every_state_has_a_row_in_its_table() -> None:
    assert set(PUBLICATION_MOVES) == set(PubState)
    assert set(POST_MOVES) == set(PostState)
    assert set(HEALTH_MOVES) == set(HealthState)
    for table in (PUBLICATION_MOVES, POST_MOVES, HEALTH_MOVES):
        reachable = set().union(*table.values())
        assert reachable - set(type(next(iter(table)))) == set()


@pytest.mark.parametrize(("before", "after"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_publication_table_pair(db: Database, heard: list[Change], before, after) -> None:
    pub_id = _publication(db, before, claimed_by="w1", lease_until=NOW + timedelta(minutes=5))
    legal = after in PUBLICATION_MOVES[before]
    with db.session() as s:
        pub = s.get_one(Publication, pub_id)
        if not legal:
            with pytest.raises(IllegalTransition):
                transition(s, pub, after, actor="test", at=NOW, reason="why")
        else:
            assert transition(s, pub, after, actor="test", at=NOW, reason="why") is True
    with db.session() as s:
        pub = s.get_one(Publication, pub_id)
        if not legal:  # nothing written: not the state, not the record, no listener
            assert pub.state == before and pub.claimed_by == "w1"
            assert _transitions(db, pub_id) == [] and heard == []
            return
        assert pub.state == after
        assert pub.claimed_by is None and pub.lease_until is None  # a move ends the claim
        assert pub.attention_reason == ("why" if after == PubState.NEEDS_ATTENTION else None)
    assert _transitions(db, pub_id) == [(before.value, after.value)]
    assert [(c.kind, c.before, c.after, c.reason) for c in heard] == [
        ("publication", before.value, after.value, "why")
    ]


def test_a_move_to_the_same_state_writes_nothing(db: Database, heard: list[Change]) -> None:
    pub_id = _publication(db, PubState.DUE)
    with db.session() as s:
        assert (
            transition(s, s.get_one(Publication, pub_id), PubState.DUE, actor="t", at=NOW) is False
        )
    assert _transitions(db, pub_id) == [] and heard == []


def test_an_unknown_state_in_the_database_is_refused(db: Database) -> None:
    pub_id = _publication(db, PubState.DUE)
    with db.session() as s:
        pub = s.get_one(Publication, pub_id)
        pub.state = "shipped"
        with pytest.raises(ValueError):
            transition(s, pub, PubState.PENDING, actor="t", at=NOW)


@pytest.mark.parametrize("before", list(HealthState))
@pytest.mark.parametrize("after", list(HealthState))
def test_health_table_pair(db: Database, heard: list[Change], before, after) -> None:
    with db.session() as s:
        s.add(ChannelHealth(channel="zalo", state=before.value))
    legal = after in HEALTH_MOVES[before]
    with db.session() as s:
        if before == after == HealthState.OK:
            assert set_health(s, "zalo", after, actor="t", at=NOW) is False
        elif not legal:
            with pytest.raises(IllegalTransition):
                set_health(s, "zalo", after, actor="t", at=NOW, reason="r")
        else:
            assert set_health(s, "zalo", after, actor="t", at=NOW, reason="r") is True
    with db.session() as s:
        health = s.get_one(ChannelHealth, unit_key(s, "zalo"))
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.event == "channel_health")))
    if legal and not before == after == HealthState.OK:
        assert health.state == after and health.reason == "r"
        assert [(r.details["from"], r.details["to"]) for r in rows] == [(before, after)]
        assert [(c.kind, c.before, c.after) for c in heard] == [("channel", before, after)]
    else:
        assert health.state == before and rows == [] and heard == []


def test_a_blocking_health_state_is_never_downgraded_to_a_temporary_one() -> None:
    for blocking in (HealthState.AUTH_FAILED, HealthState.PERMISSION):
        for temporary in (HealthState.RATE_LIMITED, HealthState.POLICY, HealthState.QUOTA):
            assert temporary not in HEALTH_MOVES[blocking]


def test_a_post_moves_freely_and_is_heard_but_recorded_by_its_caller(
    db: Database, heard: list[Change]
) -> None:
    with db.session() as s:
        post = Post(folder="p", state=PostState.READY.value)
        s.add(post)
        s.flush()
        for state in (PostState.ERROR, PostState.ERROR, PostState.REMOVED, PostState.READY):
            transition(s, post, state, actor="queue", at=NOW, record=False)
        transition(s, post, PostState.HELD, actor="queue", at=NOW)
    assert [(c.before, c.after) for c in heard] == [
        ("ready", "error"),
        ("error", "removed"),
        ("removed", "ready"),
        ("ready", "held"),
    ]
    with db.session() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.event == "post_state")))
        assert [(r.details["from"], r.details["to"]) for r in rows] == [("ready", "held")]


def test_claim_moves_records_and_is_heard_once(db: Database, heard: list[Change]) -> None:
    pub_id = _publication(db, PubState.DUE)
    lease = timedelta(minutes=5)
    with db.session() as s:
        pub = s.get_one(Publication, pub_id)
        kw = {"from_": [PubState.DUE], "to": PubState.PUBLISHING, "now": NOW, "lease": lease}
        assert claim(s, pub, worker="w1", **kw) is True  # type: ignore[arg-type]
        assert pub.state == PubState.PUBLISHING and pub.claimed_by == "w1"  # in step, no reload
    with db.session() as s:
        other = s.get_one(Publication, pub_id)
        assert claim(s, other, worker="w2", **kw) is False  # type: ignore[arg-type]
    assert _transitions(db, pub_id) == [("due", "publishing")]
    assert [(c.before, c.after, c.actor) for c in heard] == [("due", "publishing", "w1")]


def test_claim_refuses_an_illegal_target_before_writing(db: Database) -> None:
    pub_id = _publication(db, PubState.CONFIRMED)
    with db.session() as s:
        pub = s.get_one(Publication, pub_id)
        with pytest.raises(IllegalTransition):
            claim(
                s, pub, from_=[PubState.CONFIRMED], to=PubState.PUBLISHING, worker="w",
                now=NOW, lease=timedelta(minutes=1),
            )  # fmt: skip
    with db.session() as s:
        assert s.get_one(Publication, pub_id).claimed_by is None


def test_a_failing_listener_rolls_the_move_back(db: Database) -> None:
    pub_id = _publication(db, PubState.DUE)

    def broken(session: object, change: Change) -> None:
        raise RuntimeError("outbox full")

    remove = add_listener(broken)
    try:
        with pytest.raises(RuntimeError), db.session() as s:
            transition(s, s.get_one(Publication, pub_id), PubState.PENDING, actor="t", at=NOW)
    finally:
        remove()
    with db.session() as s:
        assert s.get_one(Publication, pub_id).state == PubState.DUE
    assert _transitions(db, pub_id) == []


# ------------------------------------------------------------------ nobody else writes a state


def _state_writes(tree: ast.AST) -> Iterator[int]:
    """Lines assigning ``<x>.state`` or passing ``state=`` to an UPDATE's ``values()``."""
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, ast.Attribute) and part.attr == "state":
                    yield node.lineno
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "values"
            and any(k.arg == "state" for k in node.keywords)
        ):
            yield node.lineno
        if isinstance(node, ast.Name | ast.Attribute) and "set_state" in ast.unparse(node):
            yield node.lineno


def test_no_state_is_written_outside_the_lifecycle_module() -> None:
    owner = PACKAGE / "store" / "lifecycle.py"
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != owner and "sandbox" not in path.parts  # the emulator's platform states
        for line in _state_writes(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert offenders == []
    assert list(_state_writes(ast.parse("pub.state = 'due'\nq.values(state='x')\n"))) == [1, 2]


def test_ok_on_a_channel_never_blocked_adds_no_row(db: Database, heard: list[Change]) -> None:
    with db.session() as s:
        assert set_health(s, "facebook", HealthState.OK, actor="t", at=NOW) is False
    with db.session() as s:
        assert s.get(ChannelHealth, unit_key(s, "facebook")) is None
    assert heard == []


def test_a_state_of_the_other_kind_is_refused(db: Database) -> None:
    assert not set(PubState) & set(PostState)  # what makes one transition() safe for both
    pub_id = _publication(db, PubState.DUE)
    with db.session() as s:
        pub = s.get_one(Publication, pub_id)
        with pytest.raises(ValueError):
            transition(s, pub, PostState.READY, actor="t", at=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("states", "flags", "progress"),
    [
        ([], {}, None),
        (["pending", "due"], {}, None),
        (["retry_wait"], {"publish_now": True}, "publish_now"),
        (["confirmed", "published"], {}, "published"),
        (["published", "cancelled"], {}, "published"),  # a channel dropped: still all out
        (["published", "needs_attention"], {}, "partly_published"),
        (["scheduled_remote"], {}, "scheduled"),
        (["scheduled_remote", "pending"], {}, None),
        (["publishing", "pending"], {}, "publishing"),
        (["needs_attention", "publishing"], {}, "needs_attention"),
        (["cancelled", "cancelled"], {"withdrawn_by_staff": True}, "withdrawn"),
        (["cancelled"], {}, None),  # cancelled by the folder: the folder says why
    ],
)
def test_post_progress_from_its_publications(
    states: list[str], flags: dict[str, bool], progress: str | None
) -> None:
    assert post_progress(states, **flags) == progress
