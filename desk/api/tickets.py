"""Tickets over the API."""
from flask import g, jsonify, url_for

from desk.api import bp, json_body, string_field
from desk.audit.services import Actor
from desk.auth.roles import queues_for_api_key
from desk.errors import DeskError, NotFound, ValidationError
from desk.policy.sla import describe as clock_target
from desk.tickets import merge, services
from desk.tickets.links import make_token
from desk.tickets.models import NO_DUE
from desk.tickets.uploads import from_json


def is_staff_key() -> bool:
    return g.api_key.role == "staff"


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
            {"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size, "sha256": a.sha256}
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
    return target.reference if target is not ticket and target.queue in queues_for_api_key(g.api_key.role) else None


# Kinds with an intake of their own: filed here they would skip what that intake does
# (confirming a reporter, matching the target, opening the case).
OWN_INTAKES = {"abuse": "POST /api/v1/reports/abuse", "rights": "POST /api/v1/reports/rights",
               "privacy": "POST /api/v1/privacy-requests",
               "chargeback": "a chargeback entry in POST /api/v1/ledger"}


@bp.post("/tickets")
def create_ticket():
    data = json_body()
    kind = string_field(data, "kind")
    if kind in OWN_INTAKES:
        raise ValidationError(f"A {kind} ticket is not filed here: use {OWN_INTAKES[kind]}.",
                              {"kind": f"use {OWN_INTAKES[kind]}"})
    requester = data.get("requester") or {}
    if not isinstance(requester, dict):
        raise ValidationError("requester must be an object with email and name.", {"requester": "not an object"})
    new = services.NewTicket(
        subject=string_field(data, "subject") or "",
        body=string_field(data, "body") or "",
        requester_email=string_field(requester, "email") or string_field(data, "requester_email") or "",
        requester_name=string_field(requester, "name") or "",
        kind=string_field(data, "kind") or "general",
        channel="api",
        customer=string_field(data, "customer"),
        order=string_field(data, "order"),
        priority=string_field(data, "priority") or "normal",
        uploads=from_json(data.get("attachments")),
    )
    ticket, _ = services.create_ticket(new, Actor.api(g.api_key))
    response = jsonify(ticket_json(ticket))
    response.status_code = 201
    response.headers["Location"] = url_for(".get_ticket", reference=ticket.reference)
    return response


def _ticket(reference):
    ticket = services.find_ticket(reference)
    # Outside the key's queues a ticket is indistinguishable from a missing one.
    if ticket is None or ticket.queue not in queues_for_api_key(g.api_key.role):
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
        message = services.staff_reply(ticket, Actor.api(g.api_key), body, internal=internal, uploads=uploads)
    else:
        message = services.requester_reply(ticket, body, uploads, Actor.api(g.api_key))
    return jsonify(message_json(message)), 201
