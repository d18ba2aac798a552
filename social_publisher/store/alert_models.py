"""The alert outbox: one row per alert, one delivery row per alert × target.

An alert row is written in the transaction of the event it tells about (a
lifecycle listener, or the job that noticed a condition), so an event that is
committed always has its alert and an event rolled back never has one. The
sender (``services.alert_sender``) claims a delivery with a lease before it
sends and records the outcome after: a crash in between repeats one message,
never loses one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .models import Base, utcnow


class Alert(Base):
    """One thing staff must hear about, in Vietnamese, once per occurrence (``key``)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: what makes this occurrence unique ("attention:12:2026-03-02T01:00:00+00:00")
    key: Mapped[str] = mapped_column(String(200), unique=True)
    #: needs_attention, overdue, channel_paused, channel_recovered, token, late, daemon_down,
    #: daemon_up, digest, monthly_report, test
    kind: Mapped[str] = mapped_column(String(40))
    #: urgent alerts ignore quiet hours
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    #: a console path ("/bai/12"); the sender prefixes WEB_BASE_URL when it is set
    link: Mapped[str | None] = mapped_column(String(500))
    #: files to attach (the monthly report)
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    post_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(20))
    #: the unit it is about (its own targets hear it); None: the install's (a daemon down)
    unit_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: every target has it (None: some delivery is still owed)
    done_at: Mapped[datetime | None] = mapped_column(index=True)

    deliveries: Mapped[list[AlertDelivery]] = relationship(
        back_populates="alert", cascade="all, delete-orphan", order_by="AlertDelivery.id"
    )


class AlertDelivery(Base):
    """One alert to one target: attempts, the lease of the attempt in flight, the outcome."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "target"),
        Index("ix_alert_deliveries_due", "sent_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    #: a digest of the target's URL (the URL itself may hold a password)
    target: Mapped[str] = mapped_column(String(64))
    #: what staff read: the service and host, never the credentials
    label: Mapped[str] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]

    alert: Mapped[Alert] = relationship(back_populates="deliveries")
