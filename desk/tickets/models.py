"""Tickets, their messages and attachments (DESIGN §3)."""
from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, false, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.extensions import db
from desk.types import UTCDateTime, utcnow
from desk.policy.words import N_

STATUSES = ("new", "open", "waiting", "on_hold", "resolved", "closed")
STATUS_LABELS = {
    "new": "New", "open": "Open", "waiting": "Waiting on customer", "on_hold": "On hold",
    "resolved": "Resolved", "closed": "Closed",
}
OPEN_STATUSES = ("new", "open", "waiting", "on_hold")
# due_at of a ticket with no running clock: it sorts after every real deadline. (Far from
# datetime.max, so showing it in any time zone cannot overflow.)
NO_DUE = datetime(9000, 1, 1, tzinfo=timezone.utc)
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("web", "api", "email", "portal", "staff")

# Ticket kinds and the queue each lands in by default.
KIND_QUEUES = {
    "general": "support",
    "claim": "claims",
    "refill": "claims",
    "cancel": "claims",
    "multi_account": "support",
    "billing": "billing",  # a billing question by e-mail to billing@ (Terms §17: contact us before any chargeback)
    "refund": "billing",
    "withdrawal": "billing",
    "closure": "billing",
    "restoration": "billing",
    "chargeback": "billing",
    "abuse": "abuse",
    "rights": "legal",
    "privacy": "privacy",
}
KIND_LABELS = {
    "general": N_("General question"), "claim": N_("Claim on an order"), "refill": N_("Refill"),
    "cancel": N_("Cancel an order"), "multi_account": N_("More than 10 accounts"), "billing": N_("Billing question"), "refund": N_("Refund"),
    "withdrawal": N_("Withdrawal"), "closure": N_("Account closure"), "restoration": N_("Restore a dormant balance"), "chargeback": N_("Chargeback case"),
    "abuse": N_("Abuse report"), "rights": N_("Rights-holder notice"), "privacy": N_("Privacy request"),
}


class Ticket(db.Model):
    __tablename__ = "tickets"
    __table_args__ = (
        # The queue's own query: filter by queue and status, order by due time then age.
        Index("ix_tickets_queue_status_due", "queue", "status", "due_at", "created_at", "id"),
        Index("ix_tickets_status_due", "status", "due_at", "created_at", "id"),
        # The same ranges newest (or oldest) first: a saved view sorted by age.
        Index("ix_tickets_queue_status_created", "queue", "status", "created_at", "id"),
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(32), default="general")
    channel: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200))
    requester_email: Mapped[str] = mapped_column(String(254), index=True)
    requester_name: Mapped[str] = mapped_column(String(120), default="")
    # The language the requester wrote in (desk.i18n, at intake): their mail is rendered in it.
    locale: Mapped[str | None] = mapped_column(String(8))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    order_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    queue: Mapped[str] = mapped_column(String(32))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    status: Mapped[str] = mapped_column(String(16), default="new")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    # The soonest due time of the running clocks (desk.sla.clocks keeps it), or NO_DUE.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    jurisdiction: Mapped[str | None] = mapped_column(String(8))  # privacy requests: eu, ca, other
    serious_harm: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # aup-5.6-serious-harm
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the ticket was merged into another (desk.tickets.merge): it is closed, and its
    # pages, links and mail lead to that one.
    # (No ON DELETE: tickets are never deleted, and SQLite adds the column only without one.)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    assignee = relationship("Staff")
    customer = relationship("Customer")
    merged_into: Mapped["Ticket | None"] = relationship(remote_side=[id])
    # In time order: a merge brings in messages written before the ticket's own.
    messages: Mapped[list["Message"]] = relationship(
        back_populates="ticket", order_by="[Message.created_at, Message.id]", cascade="all, delete-orphan"
    )
    tag_rows: Mapped[list["TicketTag"]] = relationship(cascade="all, delete-orphan", order_by="TicketTag.tag")
    clocks: Mapped[list["TicketClock"]] = relationship(  # noqa: F821  (desk.sla.models)
        back_populates="ticket", order_by="TicketClock.id", cascade="all, delete-orphan"
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


# A person's tickets by their address in any case (privacy export and erasure, public forms).
Index("ix_tickets_requester_email_lower", func.lower(Ticket.requester_email))


ASSIGNMENT_MODES = {"manual": "By hand", "round_robin": "Round robin", "least_loaded": "Least loaded"}


class QueueSetting(db.Model):
    """How a queue's new tickets find an agent (desk.tickets.assignment)."""

    __tablename__ = "queue_settings"

    queue: Mapped[str] = mapped_column(String(32), primary_key=True)
    assignment: Mapped[str] = mapped_column(String(16), default="manual")
    # Round robin: the agent who got the last ticket; the next goes to the one after.
    last_assigned_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


FIELD_TYPES = {"text": "Text", "number": "Whole number", "choice": "One of a list"}


class CustomField(db.Model):
    """A field staff fill in on tickets of one kind (or of every kind), usable as a filter
    of the queue and of saved views (desk.tickets.fields)."""

    __tablename__ = "custom_fields"
    __table_args__ = (Index("uq_custom_fields_key", "key", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40))  # in filters: ?field=key:value
    label: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str | None] = mapped_column(String(32))  # a ticket kind; None: every kind
    type: Mapped[str] = mapped_column(String(16), default="text")
    choices: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketFieldValue(db.Model):
    __tablename__ = "ticket_field_values"
    # The filter's own lookup: tickets with this value in this field.
    __table_args__ = (Index("ix_ticket_field_values_field_value", "field_id", "value"),)

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    field_id: Mapped[int] = mapped_column(ForeignKey("custom_fields.id", ondelete="CASCADE"), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


MOVE_KINDS = ("merge", "split")


class TicketMove(db.Model):
    """A merge (source into target) or a split (a message of the source out into the new
    target), with exactly what it moved in `moved`, so that an undo within
    MERGE_UNDO_MINUTES puts back that and nothing else (desk.tickets.merge)."""

    __tablename__ = "ticket_moves"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    source_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))  # None: the desk did it (a duplicate claim)
    # A merge of two requesters' tickets, confirmed by the agent: nothing moved (see merge.py).
    cross_party: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    moved: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))

    source: Mapped[Ticket] = relationship(foreign_keys=[source_id])
    target: Mapped[Ticket] = relationship(foreign_keys=[target_id])
    staff = relationship("Staff", foreign_keys=[staff_id])


class TicketTag(db.Model):
    __tablename__ = "ticket_tags"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)


class TicketSequence(db.Model):
    """Per-year counter behind references like T-26-004213."""

    __tablename__ = "ticket_sequences"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Message(db.Model):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    author_kind: Mapped[str] = mapped_column(String(16))  # requester, staff, system
    author_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    author_email: Mapped[str | None] = mapped_column(String(254))
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    body_html: Mapped[str] = mapped_column(Text)  # sanitised by desk.sanitize before it is stored
    body_text: Mapped[str] = mapped_column(Text)
    redaction_note: Mapped[str | None] = mapped_column(Text)
    email_message_id: Mapped[str | None] = mapped_column(String(998), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    author_staff = relationship("Staff")
    # Every page that shows messages lists their files: loaded with them, one SELECT … IN for a
    # thread instead of one per message (a 200-message ticket page sent 200 queries).
    attachments: Mapped[list["Attachment"]] = relationship(back_populates="message", order_by="Attachment.id",
                                                           lazy="selectin")


class Attachment(db.Model):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))  # sniffed from the bytes, not the client's claim
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The virus scan (desk.tickets.scans): None (stored while scanning was off), pending,
    # clean, infected (scan_result: the signature; the bytes are quarantined, never served)
    # or error (scan_result: why; the job is retried). Every row of one digest agrees.
    scan_state: Mapped[str | None] = mapped_column(String(16), index=True)
    scan_result: Mapped[str | None] = mapped_column(String(500))
    scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    message: Mapped[Message] = relationship(back_populates="attachments")
    ticket: Mapped[Ticket] = relationship()


class SavedView(db.Model):
    """A staff member's named filter and sort of the queue (desk.tickets.saved_views), for
    themselves or shared with every colleague. `filters` holds QueueFilter's fields (never
    `queues`: each viewer's own queues always bound what a view shows)."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    shared: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    owner = relationship("Staff")
