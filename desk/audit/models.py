"""The append-only audit log. Each row carries the hash of the one before it, so an edit
or a deletion anywhere breaks the chain (`flask desk audit-verify`); database triggers
(see the migration) refuse UPDATE and DELETE outright."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from desk.extensions import db
from desk.types import UTCDateTime, utcnow


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(16))  # staff, api, requester, system
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_label: Mapped[str] = mapped_column(String(254), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)  # verifications read privacy.erased, evidence.preserved
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Set once, by an erasure (privacy-8-erasure): the personal data in this row was replaced
    # and {"request", "digest"} says by which request and what the row hashes to now.
    redaction: Mapped[dict | None] = mapped_column(JSON)


class AuditHead(db.Model):
    """One row holding the newest hash; locking it serialises appends to the chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_hash: Mapped[str] = mapped_column(String(64))
