"""The planner: publications follow their post (drafts, errors, withdrawals, channels, edits)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from social_publisher.services.planner import plan
from social_publisher.store import AuditEvent

from .conftest import T0, add_post, pubs


def test_one_publication_per_named_channel(db):
    both = add_post(db, "hai-kenh", publish_at=T0 + timedelta(hours=1))
    fb_only = add_post(db, "mot-kenh", publish_at=T0 - timedelta(minutes=1), channels=("facebook",))
    result = plan(db, now=T0)
    assert result.created == 3 and result.became_due == 1
    assert {c: p.state for c, p in pubs(db, both).items()} == {
        "facebook": "pending",
        "zalo": "pending",
    }
    assert {c: p.state for c, p in pubs(db, fb_only).items()} == {"facebook": "due"}
    p = pubs(db, both)["zalo"]
    assert p.due_at == T0 + timedelta(hours=1) and p.approved_by == "Võ Thanh Hùng"
    assert plan(db, now=T0).changed == 0  # idempotent


def test_draft_gets_nothing_and_error_holds(db):
    draft = add_post(db, "nhap", publish_at=T0, approved_by=None, state="draft")
    ok = add_post(db, "loi-sau", publish_at=T0)
    plan(db, now=T0)
    assert pubs(db, draft) == {}
    assert {p.state for p in pubs(db, ok).values()} == {"due"}
    add_post(db, "loi-sau", publish_at=T0, body="sửa lỗi", state="error")
    plan(db, now=T0)
    assert {p.state for p in pubs(db, ok).values()} == {"pending"}
    add_post(db, "loi-sau", publish_at=T0, body="đã sửa xong")
    plan(db, now=T0)
    assert {p.state for p in pubs(db, ok).values()} == {"due"}


def test_withdraw_cancels_and_coming_back_revives(db):
    post = add_post(db, "rut", publish_at=T0 + timedelta(hours=1))
    plan(db, now=T0)
    add_post(db, "rut", publish_at=T0 + timedelta(hours=1), withdrawn=True, state="withdrawn")
    plan(db, now=T0)
    assert {p.state for p in pubs(db, post).values()} == {"cancelled"}
    add_post(db, "rut", publish_at=T0 + timedelta(hours=1))
    result = plan(db, now=T0)
    assert result.revived == 2 and {p.state for p in pubs(db, post).values()} == {"pending"}


def test_channel_dropped_cancels_only_that_channel(db):
    post = add_post(db, "kenh", publish_at=T0 + timedelta(hours=1))
    plan(db, now=T0)
    add_post(db, "kenh", publish_at=T0 + timedelta(hours=1), channels=("zalo",))
    plan(db, now=T0)
    assert {c: p.state for c, p in pubs(db, post).items()} == {
        "facebook": "cancelled",
        "zalo": "pending",
    }


def test_edit_before_publish_moves_to_new_version_with_audit(db):
    post = add_post(db, "sua", publish_at=T0 + timedelta(hours=1), body="cũ")
    plan(db, now=T0)
    old = pubs(db, post)["zalo"].content_hash
    add_post(db, "sua", publish_at=T0 + timedelta(hours=2), body="mới")
    assert plan(db, now=T0).edited == 2
    pub = pubs(db, post)["zalo"]
    assert pub.content_hash != old and pub.due_at == T0 + timedelta(hours=2)
    with db.session() as s:
        events = list(
            s.scalars(select(AuditEvent).where(AuditEvent.event == "edited_before_publish"))
        )
    assert {(e.details["old_hash"], e.details["new_hash"]) for e in events} == {
        (old, pub.content_hash)
    }
