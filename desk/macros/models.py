"""A macro: a named canned reply for one queue (or all), with the actions it takes."""
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.extensions import db
from desk.types import UTCDateTime, utcnow

# What a macro does with the assignee: nothing, the agent applying it, nobody, a named agent.
ASSIGN_MODES = ("", "me", "nobody", "staff")


class Macro(db.Model):
    __tablename__ = "macros"
    # The ticket page lists the active macros of the ticket's queue and of every queue.
    __table_args__ = (Index("ix_macros_active_queue", "active", "queue"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    queue: Mapped[str | None] = mapped_column(String(32))  # None: every queue
    # Markdown with {placeholders} (desk.macros.placeholders), filled when it is applied.
    body: Mapped[str] = mapped_column(Text)
    set_status: Mapped[str | None] = mapped_column(String(16))
    add_tags: Mapped[list] = mapped_column(JSON, default=list)
    assign: Mapped[str] = mapped_column(String(8), default="", server_default="")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    # accepted / rejected: the macro also closes the ticket's claim that way (claims.decide).
    claim_outcome: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    assignee = relationship("Staff", foreign_keys=[assignee_id])
