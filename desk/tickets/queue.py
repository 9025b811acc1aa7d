"""The staff queue: filters, SLA-first ordering and keyset pagination.

Rows are ordered by (due_at, created_at, id) — soonest due first, then oldest — and the
next page starts after the last row seen, so page 1,000 costs what page 1 costs.
"""
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import false, func, or_, select, tuple_, union_all
from sqlalchemy.orm import selectinload

from desk import pagination
from desk.auth.models import Staff
from desk.extensions import db
from desk.cache import cached_json
from desk.tickets.models import OPEN_STATUSES, STATUSES, Ticket, TicketFieldValue, TicketTag
from desk.types import parse_id


@dataclass
class QueueFilter:
    queues: frozenset[str]  # the queues this viewer may see (from the role matrix)
    queue: str | None = None
    status: str | None = "open"  # a status, "open" for every open status, or None for all
    kind: str | None = None
    assignee: str | None = None  # a staff id, "me", or "none"
    tag: str | None = None
    q: str | None = None
    field: tuple[int, str] | None = None  # (custom field id, value): desk.tickets.fields.parse_filter


def encode_cursor(ticket: Ticket) -> str:
    return pagination.encode(ticket.due_at, ticket.created_at, ticket.id)


def decode_cursor(cursor: str | None):
    # A mangled cursor starts from the top rather than failing.
    return pagination.decode(cursor, datetime, datetime, int)


def _status_list(status: str | None) -> list[str]:
    if status == "open":
        return list(OPEN_STATUSES)
    if status:
        return [status] if status in STATUSES else []
    return list(STATUSES)


def _narrowed(query, f: QueueFilter, viewer: Staff):
    """The filters other than queue and status."""
    if f.kind:
        query = query.where(Ticket.kind == f.kind)
    if f.assignee == "me":
        query = query.where(Ticket.assignee_id == viewer.id)
    elif f.assignee == "none":
        query = query.where(Ticket.assignee_id.is_(None))
    elif f.assignee and f.assignee.isascii() and f.assignee.isdigit():
        staff_id = parse_id(f.assignee)  # None: beyond any id, so nobody
        query = query.where(Ticket.assignee_id == staff_id if staff_id else false())
    if f.tag:
        query = query.where(Ticket.id.in_(select(TicketTag.ticket_id).where(TicketTag.tag == f.tag.strip().lower())))
    if f.field:
        field_id, value = f.field
        query = query.where(Ticket.id.in_(select(TicketFieldValue.ticket_id).where(
            TicketFieldValue.field_id == field_id, TicketFieldValue.value == value)))
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


def page_query(f: QueueFilter, viewer: Staff, after, size: int):
    """The ids (with their sort keys) of one page, soonest due first.

    Each (queue, status) pair is its own ordered range of the (queue, status, due_at,
    created_at, id) index; taking the first `size + 1` rows of each and merging them
    reads a few hundred index entries however large the table grows, where one query
    with `IN` lists would sort every open ticket."""
    queues = sorted(f.queues if not f.queue else f.queues & {f.queue})
    statuses = _status_list(f.status)
    if not queues or not statuses:
        return None
    order = (Ticket.due_at, Ticket.created_at, Ticket.id)
    parts = []
    for queue_name in queues:
        for status in statuses:
            part = select(*order).where(Ticket.queue == queue_name, Ticket.status == status)
            part = _narrowed(part, f, viewer)
            if after:
                part = part.where(tuple_(*order) > tuple_(*after))
            parts.append(select(part.order_by(*order).limit(size + 1).subquery()))
    merged = union_all(*parts).subquery()
    return select(merged.c.id).order_by(merged.c.due_at, merged.c.created_at, merged.c.id).limit(size + 1)


def page(f: QueueFilter, viewer: Staff, cursor: str | None, size: int) -> tuple[list[Ticket], str | None]:
    query = page_query(f, viewer, decode_cursor(cursor), size)
    if query is None:
        return [], None
    ids = db.session.execute(query).scalars().all()
    by_id = {t.id: t for t in db.session.execute(
        select(Ticket).where(Ticket.id.in_(ids)).options(
            selectinload(Ticket.tag_rows), selectinload(Ticket.assignee), selectinload(Ticket.clocks))
    ).scalars()}
    rows = [by_id[i] for i in ids]
    next_cursor = encode_cursor(rows[size - 1]) if len(rows) > size else None
    return rows[:size], next_cursor


def counts_by_queue(queues: frozenset[str], assignee_id: int | None = None) -> dict[str, int]:
    """Open tickets per visible queue (only those assigned to `assignee_id`, for someone
    limited to their own), shared for QUEUE_COUNTS_TTL seconds (desk.cache)."""
    names = sorted(queues)

    def count() -> dict[str, int]:
        query = (select(Ticket.queue, func.count()).where(Ticket.queue.in_(names), Ticket.status.in_(OPEN_STATUSES))
                 .group_by(Ticket.queue))
        if assignee_id is not None:
            query = query.where(Ticket.assignee_id == assignee_id)
        return {q: 0 for q in names} | {q: n for q, n in db.session.execute(query).all()}

    key = "desk:queue-counts:" + ",".join(names) + (f":assignee={assignee_id}" if assignee_id is not None else "")
    return cached_json(key, current_app.config["QUEUE_COUNTS_TTL"], count)
