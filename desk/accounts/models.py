"""Requests for more accounts, and the identifiers accounts are seen with."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.extensions import db
from desk.types import UTCDateTime, utcnow


class CustomerIdentifier(db.Model):
    """An identifier an account was seen with: its e-mail domain, a payment fingerprint, an
    IP address. Accounts sharing one that redeemed the same promotion are flagged
    (terms-12-promo)."""

    __tablename__ = "customer_identifiers"
    __table_args__ = (
        UniqueConstraint("customer_id", "kind", "value", name="uq_customer_identifiers_customer_kind_value"),
        Index("ix_customer_identifiers_kind_value", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # email_domain, payment, ip
    value: Mapped[str] = mapped_column(String(255))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    customer = relationship("Customer")


class AccountRequest(db.Model):
    """A request to run more than 10 accounts (terms-4-multi-account), on its ticket."""

    __tablename__ = "account_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    category: Mapped[str] = mapped_column(String(16))  # reseller, agency, partner, other
    accounts_wanted: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[list] = mapped_column(JSON, default=list)

    ticket = relationship("Ticket", backref=db.backref("account_request", uselist=False))
    customer = relationship("Customer")
