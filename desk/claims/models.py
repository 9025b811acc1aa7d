"""Mirrors of the panel's customers and orders (DESIGN §3). The panel is the source of
truth; these rows are what the desk decides claims and tickets against."""
from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.extensions import db
from desk.types import Money, UTCDateTime, utcnow

CUSTOMER_STATUSES = ("active", "frozen", "suspended", "terminated", "closed")
ORDER_STATUSES = ("pending", "in_progress", "completed", "partial", "canceled")
TARGET_STATES = ("ok", "private", "removed", "changed")


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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_link_norm_created", "link_normalized", "created_at"),)

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

    customer: Mapped[Customer] = relationship()
