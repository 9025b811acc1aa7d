"""Money requests, chargeback cases and dormancy, each tied to a customer (and the first
two to a ticket, so the Billing queue shows all the work)."""
from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.extensions import db
from desk.types import Money, UTCDateTime, utcnow
from desk.policy.words import N_

KINDS = ("refund", "withdrawal", "closure", "restoration")
KIND_LABELS = {"refund": N_("Refund"), "withdrawal": N_("Withdrawal"), "closure": N_("Account closure"),
               "restoration": N_("Restoration of a frozen balance")}
STATUSES = ("awaiting_confirmation", "awaiting_verification", "pending_review", "approved", "declined",
            "rejected", "kept_balance", "cancelled")
OPEN_STATUSES = ("awaiting_confirmation", "awaiting_verification", "pending_review")
STATUS_LABELS = {
    "awaiting_confirmation": N_("Waiting for the customer to confirm"),
    "awaiting_verification": N_("Waiting for verification"),
    "pending_review": N_("Waiting for staff review"),
    "approved": N_("Approved"),
    "declined": N_("Declined"),
    "rejected": N_("Rejected by the Terms"),
    "kept_balance": N_("Customer kept the balance"),
    "cancelled": N_("Cancelled"),
}


class MoneyRequest(db.Model):
    """A refund, withdrawal, closure or restoration request and the figures it was shown."""

    __tablename__ = "money_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    method: Mapped[str | None] = mapped_column(String(16))  # refunds: balance, original
    order_ref: Mapped[str | None] = mapped_column(String(64))
    requested: Mapped[Decimal | None] = mapped_column(Money)  # None: all that is available
    fee_rate: Mapped[Decimal | None] = mapped_column(Numeric(6, 4))  # the withdrawal fee rate in force when asked
    fee_charged: Mapped[Decimal | None] = mapped_column(Money)  # the withdrawal fee already taken from the Balance
    status: Mapped[str] = mapped_column(String(24))
    decision: Mapped[str] = mapped_column(String(16))  # what the Terms said when last worked out
    quote: Mapped[dict] = mapped_column(JSON, default=dict)  # the figures (desk.policy.money.Quote.to_dict)
    amount: Mapped[Decimal | None] = mapped_column(Money)  # the figure shown (and confirmed)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verification_required: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    verification_note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    # A supervisor lifted the claim window (terms-13-window) for this request, and why.
    override_reason: Mapped[str | None] = mapped_column(Text)
    # Set while the request is open ("refund:order:1001", "withdrawal:alice"): its unique
    # index makes a second request for the same thing find the first, even at the same moment.
    open_key: Mapped[str | None] = mapped_column(String(140), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    ticket = relationship("Ticket", backref=db.backref("money_request", uselist=False))
    customer = relationship("Customer")
    verified_by = relationship("Staff", foreign_keys=[verified_by_id])
    decided_by = relationship("Staff", foreign_keys=[decided_by_id])

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


class BillingCase(db.Model):
    """A chargeback case (terms-17-chargeback): the chargebacks it holds, the actions the
    Terms allow, and the ones staff confirmed."""

    __tablename__ = "billing_cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, resolved
    chargebacks: Mapped[list] = mapped_column(JSON, default=list)  # the chargeback entries' panel ids
    actions: Mapped[list] = mapped_column(JSON, default=list)  # confirmed: {action, amount, at, by}
    invoiced: Mapped[Decimal | None] = mapped_column(Money)
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    open_key: Mapped[str | None] = mapped_column(String(80), unique=True)  # the customer, while open
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket = relationship("Ticket", backref=db.backref("billing_case", uselist=False))
    customer = relationship("Customer")
    resolved_by = relationship("Staff")


class DormancyState(db.Model):
    """What has happened to an account under terms-30-dormancy; the schedule is derived."""

    __tablename__ = "dormancy_states"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    notice_basis: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the activity the freeze notice was for
    freeze_notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deposited_at_freeze: Mapped[Decimal | None] = mapped_column(Money)
    promo_forfeited: Mapped[Decimal | None] = mapped_column(Money)
    forfeit_notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    forfeited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    forfeited_amount: Mapped[Decimal | None] = mapped_column(Money)
    restored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    customer = relationship("Customer", backref=db.backref("dormancy", uselist=False))
