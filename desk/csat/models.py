"""One satisfaction survey per ticket: who it rates, and the requester's answer."""
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.extensions import db
from desk.types import UTCDateTime, utcnow


class Survey(db.Model):
    __tablename__ = "csat_surveys"
    # The dashboard reads the answers of the last 30 days, per queue and agent.
    __table_args__ = (Index("ix_csat_surveys_answered_queue", "answered_at", "queue"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # One survey per ticket: a ticket reopened and resolved again is not asked twice.
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    # Whom the answer rates: the assignee when the ticket was resolved, else who resolved it.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    queue: Mapped[str] = mapped_column(String(32))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rating: Mapped[str | None] = mapped_column(String(8))  # good, bad; None until answered
    comment: Mapped[str | None] = mapped_column(Text)  # plain text (shown escaped), card numbers redacted
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    ticket = relationship("Ticket")
    agent = relationship("Staff")
