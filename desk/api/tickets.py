"""Tickets over the API: a key reads and writes the tickets of its queues; a customer
session only its own, by the portal's rule (desk.portal.services: never trust & safety's
cases, never internal notes)."""
from flask import g, jsonify, request, url_for

from desk.api import (
    actor, bp, check_fields, json_body, named_customer, page_args, page_json, session_customer, string_field,
)
from desk.auth.access import key_scope, key_sees
from desk.claims.parse import Fields
from desk.claims.services import no_order
from desk.errors import DeskError, NotFound, ValidationError
from desk.policy.sla import describe as clock_target
from desk.portal import services as portal
from desk.tickets import merge, services
from desk.tickets.links import make_token
from desk.tickets.models import KIND_QUEUES, NO_DUE, STATUSES
from desk.tickets.uploads import from_json


def is_staff_key() -> bool:
    return g.api_key is not None and g.api_key.role == "staff"


def message_json(message) -> dict:
    return {
        "id": message.id,
        "author": message.author_kind,
        "internal": message.internal,
        "body_html": message.body_html,
        "body_text": message.body_text,
        "redaction_note": message.redaction_note,
        "created_at": message.created_at.isoformat(),
        "attachments": [
            {"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size, "sha256": a.sha256,
             "scan": a.scan_state, "scan_result": a.scan_result}
            for a in message.attachments
        ],
    }


def clock_json(clock) -> dict:
    return {
        "name": clock.name, "rule": clock.rule, "state": clock.state, "target": clock_target(clock.measure, clock.amount),
        "due_at": clock.due_at.isoformat() if clock.due_at else None,
        "stopped_at": clock.stopped_at.isoformat() if clock.stopped_at else None,
    }


def ticket_json(ticket) -> dict:
    messages = [m for m in ticket.messages if is_staff_key() or not m.internal]
    body = {
        "reference": ticket.reference,
        "kind": ticket.kind,
        "channel": ticket.channel,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "queue": ticket.queue,
        "requester": {"email": ticket.requester_email, "name": ticket.requester_name},
        "customer": ticket.customer.panel_id if ticket.customer else None,
        "order": ticket.order_ref,
        "due_at": ticket.due_at.isoformat() if ticket.due_at != NO_DUE else None,
        "clocks": [clock_json(c) for c in ticket.clocks],
        "created_at": ticket.created_at.isoformat(),
        "requester_url": url_for("public.requester_ticket", token=make_token(ticket), _external=True),
        # Merged (issue 10): the ticket it lives on as, when this key may read that one.
        "merged_into": _merged_into(ticket),
        "messages": [message_json(m) for m in messages],
    }
    if is_staff_key():
        body["tags"] = ticket.tags
        body["assignee"] = ticket.assignee.email if ticket.assignee else None
    return body


def _merged_into(ticket) -> str | None:
    target = merge.final(ticket)
    if target is ticket:
        return None
    me = session_customer()
    visible = portal.find_mine(me, target.reference) is not None if me is not None else key_sees(g.api_key, target)
    return target.reference if visible else None


# Kinds with an intake of their own: filed here they would skip what that intake does
# (confirming a reporter, matching the target, opening the case).
OWN_INTAKES = {"abuse": "POST /api/v1/reports/abuse", "rights": "POST /api/v1/reports/rights",
               "privacy": "POST /api/v1/privacy-requests",
               "chargeback": "a chargeback entry in POST /api/v1/ledger"}
# What a customer session files through the operations that decide it, not as a bare ticket.
DECIDED_ELSEWHERE = {"claim": "POST /api/v1/claims", "refill": "POST /api/v1/claims",
                     "cancel": "POST /api/v1/claims", "multi_account": "POST /api/v1/account-requests",
                     **{kind: f"POST /api/v1/{kind}s" for kind in ("refund", "withdrawal", "closure", "restoration")}}


@bp.get("/tickets")
def list_tickets():
    """A page of tickets, newest filed first: a key's within its queues (by customer, status,
    kind); a customer session's own."""
    cursor, size = page_args("tickets")
    f = Fields(request.args)
    customer_id = f.string("customer", max_len=64)
    status = f.choice("status", STATUSES)
    kind = f.choice("kind", tuple(KIND_QUEUES))
    check_fields(f, "The filters")
    me = session_customer()
    if me is not None:
        if customer_id is not None:
            named_customer(customer_id)  # itself, or the 404 of an unknown customer
        scope, customer_id = portal._mine(me), None  # the portal's one rule for "the customer's tickets"
    else:
        scope = key_scope(g.api_key)
        customer_id = named_customer(customer_id).id if customer_id is not None else None
    rows, next_cursor = services.tickets_page(scope, cursor, size, customer_id=customer_id, status=status, kind=kind)
    return jsonify(page_json([ticket_json(t) for t in rows], next_cursor))


@bp.post("/tickets")
def create_ticket():
    data = json_body()
    kind = string_field(data, "kind")
    if kind in OWN_INTAKES:
        raise ValidationError(f"A {kind} ticket is not filed here: use {OWN_INTAKES[kind]}.",
                              {"kind": f"use {OWN_INTAKES[kind]}"})
    if session_customer() is not None:
        return _created(_customer_files(session_customer(), data, kind))
    requester = data.get("requester") or {}
    if not isinstance(requester, dict):
        raise ValidationError("requester must be an object with email and name.", {"requester": "not an object"})
    new = services.NewTicket(
        subject=string_field(data, "subject") or "",
        body=string_field(data, "body") or "",
        requester_email=string_field(requester, "email") or string_field(data, "requester_email") or "",
        requester_name=string_field(requester, "name", max_len=services.NAME_MAX) or "",
        kind=string_field(data, "kind") or "general",
        channel="api",
        customer=string_field(data, "customer"),
        order=string_field(data, "order"),
        priority=string_field(data, "priority") or "normal",
        uploads=from_json(data.get("attachments")),
    )
    ticket, _ = services.create_ticket(new, actor())
    return _created(ticket)


def _customer_files(customer, data: dict, kind: str | None):
    """A customer session files for itself, from its own address, as the portal does: a
    question (or a billing question), about one of its own orders if any. The requester and
    priority a key may send are not the customer's to choose."""
    kind = kind or "general"
    if kind in DECIDED_ELSEWHERE:
        raise ValidationError(f"A {kind} is asked for with {DECIDED_ELSEWHERE[kind]}, which decides it.",
                              {"kind": f"use {DECIDED_ELSEWHERE[kind]}"})
    if kind not in portal.CUSTOMER_KINDS:
        raise ValidationError(f"kind must be one of: {', '.join(portal.CUSTOMER_KINDS)}.",
                              {"kind": f"one of {', '.join(portal.CUSTOMER_KINDS)}"})
    named = string_field(data, "customer")
    if named:
        named_customer(named)
    order = string_field(data, "order") or None
    if order is not None and portal.find_my_order(customer, order) is None:
        raise no_order(order)
    return portal.file_question(customer, portal.NewQuestion(
        subject=string_field(data, "subject") or "", body=string_field(data, "body") or "",
        uploads=from_json(data.get("attachments")), kind=kind, order=order))


def _created(ticket):
    response = jsonify(ticket_json(ticket))
    response.status_code = 201
    response.headers["Location"] = url_for(".get_ticket", reference=ticket.reference)
    return response


def _ticket(reference):
    me = session_customer()
    if me is not None:
        ticket = portal.find_mine(me, reference)
    else:
        ticket = services.find_ticket(reference)
        if ticket is not None and not key_sees(g.api_key, ticket):
            ticket = None
    # Outside the key's queues, or not the customer's, a ticket is indistinguishable from a missing one.
    if ticket is None:
        raise NotFound(f"No ticket {reference}.")
    return ticket


@bp.get("/tickets/<reference>")
def get_ticket(reference):
    return jsonify(ticket_json(_ticket(reference)))


@bp.post("/tickets/<reference>/messages")
def add_message(reference):
    ticket = _ticket(reference)
    data = json_body()
    body = string_field(data, "body", required=True)
    uploads = from_json(data.get("attachments"))
    internal = data.get("internal", False)
    if not isinstance(internal, bool):
        raise ValidationError("internal must be true or false.", {"internal": "not a boolean"})
    if internal and not is_staff_key():
        raise DeskError("Only staff keys may add internal notes.", code="forbidden", status=403)
    if is_staff_key():
        message = services.staff_reply(ticket, actor(), body, internal=internal, uploads=uploads)
    else:
        message = services.requester_reply(ticket, body, uploads, actor())
    return jsonify(message_json(message)), 201
