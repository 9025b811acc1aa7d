"""Abuse and rights-holder cases (DESIGN §2, §3).

A case is one ticket in the Abuse or Legal queue and the subjects it is about (links,
orders, accounts). Everything that happens to it is an append-only ModerationEvent; the
case's `state` column is only a projection of that log, recomputed on every event.
Evidence snapshots and moderation events are write-once: the migration adds database
triggers that refuse UPDATE and DELETE on them. A snapshot's document is an object in
desk.storage (its key, size and SHA-256 on the row), never overwritten either.
"""
from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.extensions import db
from desk.types import Money, UTCDateTime, utcnow


class AbuseCase(db.Model):
    __tablename__ = "abuse_cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # abuse, rights
    category: Mapped[str] = mapped_column(String(4))  # AUP 3.1 … 4.8 (aup-3-taxonomy)
    severity: Mapped[str] = mapped_column(String(8))
    serious_harm: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    csam: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    details: Mapped[dict] = mapped_column(JSON, default=dict)  # rights holders: right, work, registration
    # The projection of the moderation log (desk.policy.abuse.case_state); open cases are
    # the ones new reports on the same target join.
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("abuse_cases.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket = relationship("Ticket", backref=db.backref("abuse_case", uselist=False))
    subjects: Mapped[list["CaseSubject"]] = relationship(back_populates="case", order_by="CaseSubject.id")
    reports: Mapped[list["Report"]] = relationship(back_populates="case", order_by="Report.id",
                                                   foreign_keys="Report.case_id")


class CaseSubject(db.Model):
    """What a case is about: a normalised link, an order, an account."""

    __tablename__ = "case_subjects"
    __table_args__ = (
        UniqueConstraint("case_id", "subject", name="uq_case_subjects_case_subject"),
        Index("ix_case_subjects_subject", "subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("abuse_cases.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(2100))  # "link:instagram.com/p/x", "order:1001", "account:alice"
    label: Mapped[str] = mapped_column(String(2100), default="")  # as the reporter wrote it

    case: Mapped[AbuseCase] = relationship(back_populates="subjects")

    @property
    def kind(self) -> str:
        return self.subject.split(":", 1)[0]

    @property
    def key(self) -> str:
        return self.subject.split(":", 1)[1]


class Report(db.Model):
    """One reporter's report, kept as received, whatever becomes of it."""

    __tablename__ = "abuse_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("abuse_cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # abuse, rights
    category: Mapped[str] = mapped_column(String(4))
    channel: Mapped[str] = mapped_column(String(16))
    reporter_email: Mapped[str] = mapped_column(String(254), index=True)
    reporter_name: Mapped[str] = mapped_column(String(120), default="")
    links: Mapped[list] = mapped_column(JSON, default=list)
    orders: Mapped[list] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    # Evidence files: stored like attachments (name, type, size, sha256) — except under
    # aup-csam-handling, where only the hashes are kept and the bytes are never written.
    files: Mapped[list] = mapped_column(JSON, default=list)
    csam: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    serious_harm: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    muted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # aup-unfounded-notices
    status: Mapped[str] = mapped_column(String(16))  # unconfirmed, needs_info, filed
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[AbuseCase | None] = relationship(back_populates="reports", foreign_keys=[case_id])

    @property
    def reference(self) -> str:
        return f"R-{self.created_at.year % 100:02d}-{self.id:06d}"


class ModerationEvent(db.Model):
    """One entry of the append-only moderation log, on one subject."""

    __tablename__ = "moderation_events"
    __table_args__ = (
        Index("ix_moderation_events_subject_id", "subject", "id"),
        Index("ix_moderation_events_case_id", "case_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("abuse_cases.id"))
    subject: Mapped[str] = mapped_column(String(2100))
    kind: Mapped[str] = mapped_column(String(24))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_label: Mapped[str] = mapped_column(String(254), default="")
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    redaction: Mapped[dict | None] = mapped_column(JSON)  # set once, by an erasure (privacy-8-erasure)


class EvidenceSnapshot(db.Model):
    """aup-5.2-evidence: canonical JSON of what a case involves, chained by hash. The case
    is an abuse case or a chargeback case (terms-17-chargeback: "evidence preserved")."""

    __tablename__ = "evidence_snapshots"
    __table_args__ = (
        UniqueConstraint("case_id", "seq", name="uq_evidence_snapshots_case_seq"),
        # The same trigger (the opening, one action) is snapshotted once, however often its job runs.
        UniqueConstraint("case_id", "reason", name="uq_evidence_snapshots_case_reason"),
        UniqueConstraint("billing_case_id", "seq", name="uq_evidence_snapshots_billing_seq"),
        UniqueConstraint("billing_case_id", "reason", name="uq_evidence_snapshots_billing_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("abuse_cases.id"))
    billing_case_id: Mapped[int | None] = mapped_column(ForeignKey("billing_cases.id"))
    seq: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40))  # "opened", "action:12"
    # The document's storage key (desk.abuse.evidence.key_of): an object written once, never
    # overwritten; its size in bytes. Since migration 0024 the row holds no body.
    body_key: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    prev_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set once, by an erasure of a closed case's person (privacy-8-erasure): the document was
    # pseudonymised into a new object (body_key and size are the new one's);
    # {"requests", "digest"}: digest is what it hashes to now. sha256 stays the chain's.
    redaction: Mapped[dict | None] = mapped_column(JSON)


class EnforcementAction(db.Model):
    """aup-5.3-enforcement: one action, who proposed and approved it, and its notice."""

    __tablename__ = "enforcement_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("abuse_cases.id"), index=True)
    action: Mapped[str] = mapped_column(String(24))
    rule: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    order_ref: Mapped[str | None] = mapped_column(String(64))
    identifier_kind: Mapped[str | None] = mapped_column(String(16))
    identifier_value: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    amount: Mapped[Decimal | None] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(20))  # awaiting_approval, done, refused, reversed
    before: Mapped[dict] = mapped_column(JSON, default=dict)  # what a reversal restores
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[AbuseCase] = relationship()
    customer = relationship("Customer")
    proposed_by = relationship("Staff", foreign_keys=[proposed_by_id])
    approved_by = relationship("Staff", foreign_keys=[approved_by_id])
    appeal: Mapped["Appeal | None"] = relationship(back_populates="action", uselist=False)


class Appeal(db.Model):
    """aup-appeal: the account holder contests one action; someone else decides."""

    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("enforcement_actions.id"), unique=True)
    body: Mapped[str] = mapped_column(Text)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(12), default="open")  # open, upheld, reversed
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)

    action: Mapped[EnforcementAction] = relationship(back_populates="appeal")
    decided_by = relationship("Staff")


class LegalHold(db.Model):
    """A hold on an account's records: its evidence is kept and its data cannot be erased."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("abuse_cases.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    placed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))  # None: placed by the desk
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The earliest it may be released (aup-csam-handling: a year after a referral).
    keep_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    release_reason: Mapped[str | None] = mapped_column(Text)

    customer = relationship("Customer")
    case: Mapped[AbuseCase | None] = relationship()
    placed_by = relationship("Staff", foreign_keys=[placed_by_id])


class Disclosure(db.Model):
    """aup-5.5-disclosure: what was disclosed, to whom, on what basis, when."""

    __tablename__ = "disclosures"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("abuse_cases.id"), index=True)
    what: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(String(300))
    basis: Mapped[str] = mapped_column(Text)
    referral: Mapped[bool] = mapped_column(Boolean, default=False)  # to law enforcement or an authority
    disclosed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    recorded_by = relationship("Staff")


class BlockedIdentifier(db.Model):
    """An identifier blocked by an enforcement action (payment fingerprint, e-mail, IP)."""

    __tablename__ = "blocked_identifiers"
    __table_args__ = (Index("ix_blocked_identifiers_kind_value", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(255))
    action_id: Mapped[int] = mapped_column(ForeignKey("enforcement_actions.id"), unique=True)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MutedReporter(db.Model):
    """aup-unfounded-notices: their reports are kept and deprioritised."""

    __tablename__ = "muted_reporters"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # lower case
    reason: Mapped[str] = mapped_column(Text)
    muted_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    muted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
