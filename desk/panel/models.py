"""What the desk asked the panel and what it answered (panel_calls), and the runs of the
status refresh (panel_refreshes)."""
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.extensions import db
from desk.types import UTCDateTime, utcnow

CALL_ACTIONS = ("status", "refill", "cancel")
# queued → sending → done | failed, and a refill the panel took: sending → following → done | failed.
CALL_STATUSES = ("queued", "sending", "following", "done", "failed")
REFRESH_STATUSES = ("queued", "started", "finished", "failed")


class PanelCall(db.Model):
    """One call to the panel about a ticket's order, shown on the ticket with its answer;
    a failed one keeps the ticket visibly "action failed" until someone retries it."""

    __tablename__ = "panel_calls"
    __table_args__ = (
        # The sweep finds refills whose next check is overdue (a scheduled job lost).
        Index("ix_panel_calls_status_next_poll", "status", "next_poll_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"))
    order_ref: Mapped[str] = mapped_column(String(64))  # the order's panel id
    action: Mapped[str] = mapped_column(String(16))  # status, refill, cancel
    # One per claim and action ("claim:12:refill"): an approval processed twice calls once.
    key: Mapped[str | None] = mapped_column(String(80), unique=True)
    rule: Mapped[str | None] = mapped_column(String(40))  # the rule that called for it
    params: Mapped[dict] = mapped_column(JSON, default=dict)  # what was sent, never the key
    answer: Mapped[dict | list | None] = mapped_column(JSON)  # what the panel answered last
    status: Mapped[str] = mapped_column(String(16), default="queued")
    outcome: Mapped[str | None] = mapped_column(Text)  # in words, for the page
    maybe_done: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # HTTP requests made for it
    refill_id: Mapped[str | None] = mapped_column(String(64))
    refill_status: Mapped[str | None] = mapped_column(String(40))
    polls: Mapped[int] = mapped_column(Integer, default=0)  # refill_status checks made
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    ticket = relationship("Ticket")
    requested_by = relationship("Staff")


class PanelRefresh(db.Model):
    """One run of the status refresh (the schedule's, the command line's or an admin's)."""

    __tablename__ = "panel_refreshes"

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16))  # schedule, cli, admin
    status: Mapped[str] = mapped_column(String(16), default="queued")
    total: Mapped[int] = mapped_column(Integer, default=0)  # orders to refresh
    done: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    calls: Mapped[int] = mapped_column(Integer, default=0)  # status calls made (100 orders each)
    message: Mapped[str | None] = mapped_column(Text)  # the first problems, or why it failed
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    requested_by = relationship("Staff")
