"""The staff queue: filters, SLA-first ordering and keyset pagination.

Rows are ordered by (due_at, created_at, id) — soonest due first, then oldest — and the
next page starts after the last row seen, so page 1,000 costs what page 1 costs.
"""
import base64
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, tuple_

from desk.auth.models import Staff
from desk.extensions import db
from desk.tickets.models import OPEN_STATUSES, Ticket, TicketTag


@dataclass
class QueueFilter:
    queues: frozenset[str]  # the queues this viewer may see (from the role matrix)
    queue: str | None = None
    status: str | None = "open"  # a status, "open" for every open status, or None for all
    kind: str | None = None
    assignee: str | None = None  # a staff id, "me", or "none"
    tag: str | None = None
    q: str | None = None


def encode_cursor(ticket: Ticket) -> str:
    raw = json.dumps([ticket.due_at.isoformat(), ticket.created_at.isoformat(), ticket.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None):
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        due, created, ticket_id = json.loads(raw)
        return datetime.fromisoformat(due), datetime.fromisoformat(created), int(ticket_id)
    except (ValueError, TypeError):
        return None  # a mangled cursor starts from the top rather than failing


def _filtered(f: QueueFilter, viewer: Staff):
    query = select(Ticket)
    allowed = sorted(f.queues if not f.queue else f.queues & {f.queue})
    query = query.where(Ticket.queue.in_(allowed))
    if f.status == "open":
        query = query.where(Ticket.status.in_(OPEN_STATUSES))
    elif f.status:
        query = query.where(Ticket.status == f.status)
    if f.kind:
        query = query.where(Ticket.kind == f.kind)
    if f.assignee == "me":
        query = query.where(Ticket.assignee_id == viewer.id)
    elif f.assignee == "none":
        query = query.where(Ticket.assignee_id.is_(None))
    elif f.assignee and f.assignee.isdigit():
        query = query.where(Ticket.assignee_id == int(f.assignee))
    if f.tag:
        query = query.where(Ticket.id.in_(select(TicketTag.ticket_id).where(TicketTag.tag == f.tag.strip().lower())))
    if f.q:
        text = f.q.strip()
        if text.upper().startswith("T-"):
            query = query.where(Ticket.reference == text.upper())
        else:
            # Prefix matches use the indexes; full-text search replaces this with its own index.
            like = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(or_(
                Ticket.requester_email.like(like.lower(), escape="\\"),
                Ticket.order_ref == text,
                Ticket.subject.like(like, escape="\\"),
            ))
    return query


def page(f: QueueFilter, viewer: Staff, cursor: str | None, size: int) -> tuple[list[Ticket], str | None]:
    query = _filtered(f, viewer)
    after = decode_cursor(cursor)
    if after:
        query = query.where(tuple_(Ticket.due_at, Ticket.created_at, Ticket.id) > tuple_(*after))
    query = query.order_by(Ticket.due_at, Ticket.created_at, Ticket.id).limit(size + 1)
    rows = list(db.session.execute(query).scalars())
    next_cursor = encode_cursor(rows[size - 1]) if len(rows) > size else None
    return rows[:size], next_cursor


def counts_by_queue(queues: frozenset[str]) -> dict[str, int]:
    """Open tickets per visible queue (one grouped query over the (queue, status) index)."""
    rows = db.session.execute(
        select(Ticket.queue, func.count()).where(Ticket.queue.in_(sorted(queues)), Ticket.status.in_(OPEN_STATUSES))
        .group_by(Ticket.queue)
    ).all()
    counts = {q: 0 for q in sorted(queues)}
    counts.update({q: n for q, n in rows})
    return counts
