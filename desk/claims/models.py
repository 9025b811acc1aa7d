"""Mirrors of the panel's customers and orders (DESIGN §3). The panel is the source of
truth; these rows are what the desk decides claims and tickets against."""
from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, false, func
from sqlalchemy import text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.extensions import db
from desk.types import Money, UTCDateTime, utcnow

CUSTOMER_STATUSES = ("active", "frozen", "suspended", "terminated", "closed")
ORDER_STATUSES = ("pending", "in_progress", "completed", "partial", "canceled")
TARGET_STATES = ("ok", "private", "removed", "changed", "invalid_link")


class Customer(db.Model):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    panel_id: Mapped[str] = mapped_column(String(64), unique=True)
    login: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    country: Mapped[str | None] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16), default="active")
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_deposit_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The latest of the three: dormancy (terms-30-dormancy) counts from it, and its index
    # lets the daily job read only the accounts near a date.
    last_active_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # A good-faith fraud concern (from the panel or staff): payouts wait for verification.
    fraud_flag: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # What the person asked of their data (privacy-10-rights), shown wherever the account is.
    processing_restricted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    processing_objected: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    consent_withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    sale_share_opt_out: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    minor_reported: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # privacy-11-minor
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # privacy-8-erasure ran
    # The customer portal's sessions carry this number; "sign out everywhere" raises it, so
    # every session signed in before is refused (desk.portal.sessions).
    portal_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The language chosen in the portal (desk.i18n); None: the browser's.
    locale: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# The public forms find an account by its e-mail in any case: an index on lower(email)
# serves that lookup without reading the whole table.
Index("ix_customers_email_lower", func.lower(Customer.email))


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_link_norm_created", "link_normalized", "created_at"),
        # A customer's orders newest first, by keyset (the portal's My orders, the API's list).
        Index("ix_orders_customer_created", "customer_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    panel_id: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    link: Mapped[str] = mapped_column(String(2048))
    link_normalized: Mapped[str] = mapped_column(String(2048))
    quantity: Mapped[int] = mapped_column(Integer)
    charge: Mapped[Decimal] = mapped_column(Money)
    charge_deposited: Mapped[Decimal] = mapped_column(Money)
    charge_promo: Mapped[Decimal] = mapped_column(Money)
    start_count: Mapped[int | None] = mapped_column(Integer)
    remains: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))
    target_state: Mapped[str] = mapped_column(String(16), default="ok")
    # The tool's flags as they were when the order was placed (refill, guarantee, beta…).
    tool: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When it first reached Completed, Partial or Canceled (from the status history); the
    # claim window, refill window and overlap all count from it.
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Staff recorded an overlapping order on this link placed elsewhere (terms-11-overlap).
    overlap_elsewhere: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer] = relationship()
    history: Mapped[list["OrderStatusChange"]] = relationship(
        order_by="OrderStatusChange.at", cascade="all, delete-orphan", back_populates="order")


class OrderStatusChange(db.Model):
    __tablename__ = "order_status_changes"
    __table_args__ = (Index("ix_order_status_changes_order_at", "order_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship(back_populates="history")


class LedgerEntry(db.Model):
    """One movement of a customer's Balance, as the panel recorded it (Terms §6, §9)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_customer_at", "customer_id", "at"),
        # Who else redeemed a promotion (terms-12-promo) reads entries by kind and source.
        Index("ix_ledger_entries_kind_source", "kind", "source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    panel_id: Mapped[str] = mapped_column(String(64), unique=True)  # the panel's id: the same entry twice is one
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Money)  # positive; only an adjustment carries a sign
    funding: Mapped[str] = mapped_column(String(12))  # deposited, promotional
    order_ref: Mapped[str | None] = mapped_column(String(64), index=True)  # the order's panel id
    processor_fee: Mapped[Decimal | None] = mapped_column(Money)
    method: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    customer: Mapped[Customer] = relationship()


class Claim(db.Model):
    """A claim on an order, with the decision the Terms gave when it was filed."""

    __tablename__ = "claims"
    __table_args__ = (
        # One open claim per order and kind: a second (even concurrent) filing finds the first.
        Index("uq_claims_open_order_kind", "order_id", "kind", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    current_count: Mapped[int | None] = mapped_column(Integer)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decision: Mapped[str] = mapped_column(String(16))  # what the Terms said when it was filed
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    refill_quantity: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, accepted, rejected
    outcome_reason: Mapped[str | None] = mapped_column(Text)  # staff's words when closing it
    overridden: Mapped[bool] = mapped_column(Boolean, default=False)  # closed against the decision
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship()
    ticket = relationship("Ticket", backref=db.backref("claim", uselist=False))
    decided_by = relationship("Staff")
