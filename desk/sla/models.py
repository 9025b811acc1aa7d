"""Clocks, their history, and the calendar and targets admins configure."""
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.extensions import db
from desk.types import UTCDateTime, utcnow


class TicketClock(db.Model):
    """One target on one ticket. A running clock has `resumed_at` and `due_at`; a paused or
    stopped one keeps what is left of its budget in `budget_seconds`.

    `next_check_at` is the next instant the sweep has work on this clock (its reminder, or
    its breach); it is NULL when there is none, so the sweep reads only due rows."""

    __tablename__ = "ticket_clocks"
    __table_args__ = (
        UniqueConstraint("ticket_id", "name"),
        Index("ix_ticket_clocks_next_check_at", "next_check_at"),
        Index("ix_ticket_clocks_stopped_at", "stopped_at"),  # the dashboard's last 7/30 days
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(80))
    rule: Mapped[str] = mapped_column(String(48))
    measure: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)  # the target as started, plus any extension
    stops_on: Mapped[str] = mapped_column(String(16))
    pauses: Mapped[bool] = mapped_column(Boolean, default=True)
    extendable_by: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Support clocks: support seconds left at `resumed_at`. Other clocks: NULL until first
    # paused, then the wall seconds that were left.
    budget_seconds: Mapped[int | None] = mapped_column(Integer)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    met: Mapped[bool | None] = mapped_column(Boolean)
    used_seconds: Mapped[int | None] = mapped_column(Integer)  # time counted against the target, at stop
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extension_reason: Mapped[str | None] = mapped_column(Text)

    ticket = relationship("Ticket", back_populates="clocks")

    @property
    def running(self) -> bool:
        return self.resumed_at is not None and self.stopped_at is None

    @property
    def state(self) -> str:
        if self.stopped_at is not None:
            return "met" if self.met else "missed"
        if self.resumed_at is None:
            return "paused"
        return "breached" if self.breached_at else "running"


class SlaEvent(db.Model):
    """What the sweep and staff did to a clock: reminder, breach, page, extended."""

    __tablename__ = "sla_events"
    __table_args__ = (Index("ix_sla_events_kind_at", "kind", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    clock_id: Mapped[int] = mapped_column(ForeignKey("ticket_clocks.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    data: Mapped[dict] = mapped_column(JSON, default=dict)

    clock = relationship(TicketClock)


class SupportDay(db.Model):
    """Support hours for one weekday (0 = Monday); no row means the default 10:00–23:00."""

    __tablename__ = "support_days"

    weekday: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    opens: Mapped[int] = mapped_column(Integer)  # minutes after midnight
    closes: Mapped[int] = mapped_column(Integer)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)


class Holiday(db.Model):
    __tablename__ = "holidays"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))


class SlaTarget(db.Model):
    """An admin's first-response and resolution targets for one ticket kind."""

    __tablename__ = "sla_targets"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_response: Mapped[int] = mapped_column(Integer)
    resolution: Mapped[int] = mapped_column(Integer)


class SlaSetting(db.Model):
    __tablename__ = "sla_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON)
