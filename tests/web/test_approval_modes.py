"""Approval on record through ingest, ``check`` and the planner: APPROVAL_MODE, console
approvals of an exact content hash, and what voids them (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from social_publisher.config import load_settings
from social_publisher.services import accounts, approvals
from social_publisher.services.ingest import check_queue, ingest
from social_publisher.services.planner import Disposition, disposition, plan
from social_publisher.services.scope import Role, Scope
from social_publisher.store import Approval, AuditEvent, Database, Post, PostVersion, Publication

from .conftest import T0, write_post

HUNG = Scope("hung", "Võ Thanh Hùng", Role.APPROVER)


def _settings(web_env: dict[str, str], **extra: str) -> Any:
    return load_settings({**web_env, **extra}, dotenv_path=None)


def _post(db: Database, folder: str) -> Post:
    with db.session() as s:
        post = s.scalars(select(Post).where(Post.folder == folder)).one()
        s.expunge(post)
        return post


def _digest(db: Database, folder: str) -> str:
    with db.session() as s:
        post = s.scalars(select(Post).where(Post.folder == folder)).one()
        return post.current_version.content_hash


def test_listed_mode_counts_only_names_on_the_list(web_env: Any, db: Database) -> None:
    settings = _settings(web_env, APPROVAL_MODE="listed", APPROVERS="Võ Thanh Hùng")
    write_post(settings.queue_dir, "dung-ten", approved_by="vo thanh hung")
    write_post(settings.queue_dir, "la-ten", approved_by="Võ Thanh Hải")
    ingest(db, settings, now=T0)
    assert (_post(db, "dung-ten").state, _post(db, "dung-ten").approved_by) == (
        "ready",
        "Võ Thanh Hùng",
    )
    assert (_post(db, "la-ten").state, _post(db, "la-ten").approved_by) == ("draft", None)
    checked = {p.folder: p for p in check_queue(db, settings, now=T0).posts}
    assert checked["la-ten"].state == "draft"
    [warning, draft] = [w.message for w in checked["la-ten"].warnings]
    assert "CHƯA được tính là đã duyệt" in warning and "Có phải ý bạn là 'Võ Thanh Hùng'" in warning
    assert "không được tính" in draft
    default = _settings(web_env, APPROVERS="Võ Thanh Hùng")  # today's behaviour: a warning
    assert {p.folder: p.state for p in check_queue(db, default, now=T0).posts}["la-ten"] == "ready"


def test_console_mode_ignores_headers_and_honours_console_approvals(
    web_env: Any, db: Database
) -> None:
    settings = _settings(web_env, APPROVAL_MODE="console")
    write_post(settings.queue_dir, "co-dong-duyet", approved_by="Võ Thanh Hùng")
    ingest(db, settings, now=T0)
    plan(db, now=T0)
    post = _post(db, "co-dong-duyet")
    assert (post.state, post.approved_by) == ("draft", None)
    with db.session() as s:
        assert s.scalars(select(Publication)).all() == []
        version = s.get(PostVersion, post.current_version_id)
        assert version.approved_by == "Võ Thanh Hùng"  # the header as written, on record
        # the planner's (and so the publisher's) one rule says hold
        assert disposition(s.get(Post, post.id), version, "facebook") == Disposition.HOLD
    approvals.approve(db, settings, HUNG, post.id, _digest(db, "co-dong-duyet"), now=T0)
    assert _post(db, "co-dong-duyet").state == "ready"
    assert {p.folder: p.state for p in check_queue(db, settings, now=T0).posts} == {
        "co-dong-duyet": "ready"
    }
    plan(db, now=T0)
    with db.session() as s:
        assert {p.approved_by for p in s.scalars(select(Publication))} == {"Võ Thanh Hùng"}


def test_switching_mode_reevaluates_without_new_versions(web_env: Any, db: Database) -> None:
    header = _settings(web_env)
    write_post(header.queue_dir, "truoc-sau", approved_by="Võ Thanh Hùng", when="02/03/2026 10:00")
    ingest(db, header, now=T0)
    plan(db, now=T0)
    plan(db, now=T0 + timedelta(hours=3))  # due now
    console = _settings(web_env, APPROVAL_MODE="console")
    ingest(db, console, now=T0 + timedelta(hours=3))
    plan(db, now=T0 + timedelta(hours=3))
    with db.session() as s:
        assert s.scalars(select(PostVersion)).all().__len__() == 1  # the hash did not change
        events = [e.event for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert "approval_changed" in events and "post_edited" not in events
        assert {p.state for p in s.scalars(select(Publication))} == {"pending"}  # held back


def test_overdue_post_approved_late_is_held(web_env: Any, db: Database) -> None:
    settings = _settings(web_env)
    write_post(settings.queue_dir, "tre", when="25/02/2026 08:00")  # a week before T0
    ingest(db, settings, now=T0)
    post = _post(db, "tre")
    approvals.approve(db, settings, HUNG, post.id, _digest(db, "tre"), now=T0)
    assert _post(db, "tre").state == "held"  # overdue beyond grace: a staff decision


def test_approval_of_a_post_with_errors_or_withdrawn_is_refused(web_env: Any, db: Database) -> None:
    settings = _settings(web_env)
    write_post(settings.queue_dir, "loi", when="31/11/2026 08:00")
    write_post(settings.queue_dir, "huy", extra="Trạng thái: hủy\n")
    ingest(db, settings, now=T0)
    for folder, why in (("loi", "đang có lỗi"), ("huy", "hủy")):
        with pytest.raises(approvals.ApprovalRefused, match=why):
            approvals.approve(db, settings, HUNG, _post(db, folder).id, _digest(db, folder), now=T0)
    staff = Scope("an", "Nguyễn Văn An", Role.STAFF)
    with pytest.raises(PermissionError, match="không có quyền duyệt bài"):
        approvals.approve(db, settings, staff, _post(db, "loi").id, "x", now=T0)


@pytest.mark.postgres
def test_console_approval_on_postgresql(web_env: Any, pg_db: Database) -> None:
    settings = _settings(web_env, DATABASE_URL=pg_db.url)
    accounts.add(
        pg_db,
        "hung",
        full_name="Võ Thanh Hùng",
        role="approver",
        password="mat-khau-du-dai-1",
        now=T0,
        actor="t",
    )
    write_post(settings.queue_dir, "pg", when="05/03/2026 08:00")
    ingest(pg_db, settings, now=T0)
    post = _post(pg_db, "pg")
    approvals.approve(pg_db, settings, HUNG, post.id, _digest(pg_db, "pg"), now=T0)
    plan(pg_db, now=T0)
    with pg_db.session() as s:
        assert s.get(Post, post.id).state == "ready"
        assert {p.state for p in s.scalars(select(Publication))} == {"pending"}
    folder = settings.queue_dir / "pg" / "bai-viet.txt"
    folder.write_text(folder.read_text(encoding="utf-8") + "Thêm một dòng.\n", encoding="utf-8")
    ingest(pg_db, settings, now=T0)
    with pg_db.session() as s:
        assert s.get(Post, post.id).state == "draft"
        assert s.scalars(select(Approval.void_reason)).one() == "edited"
