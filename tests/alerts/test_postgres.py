"""Several workers on PostgreSQL share the outbox: each alert reaches each target once."""

from __future__ import annotations

import threading

import pytest

from social_publisher.config import Settings
from social_publisher.services.alert_sender import Sender, apprise_notify
from social_publisher.states import PubState
from social_publisher.store import Database, Publication
from social_publisher.store.lifecycle import transition

from .conftest import Clock, Mailbox, Webhook, make_post

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("listening")]


def test_four_senders_deliver_each_alert_once(
    pg_db: Database, alert_settings: Settings, mailbox: Mailbox, webhook: Webhook
) -> None:
    clock = Clock()
    for n in range(5):
        _, pub_id = make_post(pg_db, title=f"Bài số {n}")
        with pg_db.session() as s:
            pub = s.get(Publication, pub_id)
            assert pub is not None
            transition(s, pub, PubState.PUBLISHING, actor="w", at=clock())
            transition(s, pub, PubState.NEEDS_ATTENTION, actor="w", at=clock(), reason="x")
            s.commit()
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            sender = Sender(
                pg_db, alert_settings, worker=f"worker-{n}", clock=clock, notify=apprise_notify
            )
            start.wait()
            sender.run()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(m["title"] for m in webhook.received) == [
        f"[social-publisher] Cần xử lý: bài “Bài số {n}” trên Facebook" for n in range(5)
    ]
    assert len(mailbox.messages) == 5
