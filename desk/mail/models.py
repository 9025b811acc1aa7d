"""Mail rows: every notice the desk sends (so each is sent once and can be shown later),
and every message it receives (so none is lost, and a second delivery is known)."""
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, false, func, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.extensions import db
from desk.types import UTCDateTime, utcnow


class OutboundMail(db.Model):
    __tablename__ = "outbound_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What this mail is for, e.g. "ack:T-26-000001": the same notice is never sent twice.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"), index=True)
    to_addr: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(300), index=True)
    # Threading (RFC 5322 §3.6.4): the message this one answers and the thread before it.
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[str | None] = mapped_column(Text)
    # A notice no person wrote is marked Auto-Submitted (RFC 3834); an agent's reply is not.
    auto: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # pending, sent, logged, failed (refused for good), bounced (a DSN came back),
    # dropped (to an erased address), suppressed (over AUTO_REPLY_MAX_PER_HOUR: never sent)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    # The last mail to a person whose data was erased (privacy-8-erasure): once it has gone,
    # its address is forgotten too.
    forget_recipient: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# The auto-reply cap counts one address's mail of the last hour, in any case.
Index("ix_outbound_mail_to_lower_created", func.lower(OutboundMail.to_addr), OutboundMail.created_at)


class InboundMail(db.Model):
    """One received message, whatever became of it.

    status: filed (a new ticket, report or privacy request), threaded (added to a ticket),
    held (a reply from someone who is not a party to the ticket, waiting for an agent),
    quarantined (could not be read: the raw bytes are kept for an admin), bounced (a
    delivery report about mail we sent), ignored (an auto-reply with nowhere to go),
    accepted / rejected (a held reply after review), released / discarded (a quarantined
    message after review)."""

    __tablename__ = "inbound_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The Message-ID header, or a digest of the raw bytes when there is none: a second
    # delivery of the same message finds this row and creates nothing.
    message_key: Mapped[str] = mapped_column(String(998), unique=True)
    route: Mapped[str | None] = mapped_column(String(16))  # support, billing, abuse, legal, privacy
    recipients: Mapped[list] = mapped_column(JSON, default=list)
    sender: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")  # what happened, in words
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"), index=True)
    # What it became, beyond a ticket: {"report": "R-…"} or {"privacy_request": 3}.
    outcome: Mapped[dict] = mapped_column(JSON, default=dict)
    # Kept only while someone has to look at it (held, quarantined); cleared once decided.
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    # A held reply's own words, their start (parse.excerpt): what the ticket page shows to
    # decide on it, without reading the raw bytes again. Cleared with raw once decided.
    preview: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)

    ticket = relationship("Ticket")
    reviewed_by = relationship("Staff")
