"""A privacy-rights request and the export built for it (Privacy §10).

The request row is also the record CCPA §7101 asks for (date, nature, channel, response
date, response, reason for any denial): erasure pseudonymises its e-mail and keeps it."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.extensions import db
from desk.policy.words import N_
from desk.types import UTCDateTime, utcnow

# unverified: waiting for the code or link (privacy-10-verify); verified: identity proven,
# to be worked; working: a job (export, erasure) is running; deferred: a legal hold or an
# open case keeps the data, the erasure waits; answered / refused: done, with the response.
STATUSES = ("unverified", "verified", "working", "deferred", "answered", "refused")
OPEN_STATUSES = ("unverified", "verified", "working", "deferred")
STATUS_LABELS = {"unverified": N_("Waiting for identity"), "verified": N_("Verified"), "working": N_("Being worked"),
                 "deferred": N_("Deferred (held)"), "answered": N_("Answered"), "refused": N_("Refused")}


class PrivacyRequest(db.Model):
    __tablename__ = "privacy_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"), unique=True)
    reference: Mapped[str] = mapped_column(String(16), index=True)  # the ticket's, kept with the record
    rights: Mapped[list] = mapped_column(JSON, default=list)  # privacy-10-rights
    jurisdiction: Mapped[str] = mapped_column(String(8))  # eu, ca, other
    channel: Mapped[str] = mapped_column(String(16))
    email: Mapped[str] = mapped_column(String(254), index=True)  # lower case; pseudonymised by erasure
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    details: Mapped[str] = mapped_column(Text, default="")  # what to correct, what to stop…
    status: Mapped[str] = mapped_column(String(16), default="unverified", index=True)
    # privacy-10-verify: a code (stored hashed) valid 10 minutes, 3 attempts; or staff with a reason.
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    code_attempts: Mapped[int] = mapped_column(Integer, default=0)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    verification_note: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response: Mapped[str | None] = mapped_column(Text)
    denial_reason: Mapped[str | None] = mapped_column(Text)
    # What each right's work did: {"erasure": {"kept": [...], "counts": {...}}, "restriction": {...}}
    outcome: Mapped[dict] = mapped_column(JSON, default=dict)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket = relationship("Ticket", backref=db.backref("privacy_request", uselist=False))
    customer = relationship("Customer")
    verified_by = relationship("Staff")
    exports: Mapped[list["PrivacyExport"]] = relationship(back_populates="request", order_by="PrivacyExport.id")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


# queued → building → ready (waiting for review) → released (link sent) → expired; failed.
EXPORT_STATUSES = ("queued", "building", "ready", "released", "expired", "failed")


class PrivacyExport(db.Model):
    """One ZIP of everything held on the person (privacy-10-export), reviewed by a privacy
    officer before its link is sent."""

    __tablename__ = "privacy_exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("privacy_requests.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    path: Mapped[str | None] = mapped_column(String(500))  # its storage key: exports/<id>-<token>.zip
    size: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    manifest: Mapped[dict] = mapped_column(JSON, default=dict)  # {file name: row count}
    redactions: Mapped[list] = mapped_column(JSON, default=list)  # what the reviewer withheld, and why
    error: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    request: Mapped[PrivacyRequest] = relationship(back_populates="exports")
    reviewed_by = relationship("Staff")
