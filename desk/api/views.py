"""JSON API v1. Bearer API keys; one error format: {"error": {"code", "message", "fields"}}."""
from flask import Blueprint, current_app, g, jsonify, request, url_for

from desk.audit.services import Actor
from desk.auth.access import api_key_from_request
from desk.auth.roles import queues_for_api_key
from desk.errors import DeskError, NotFound, ValidationError
from desk.extensions import csrf, db, limiter
from desk.tickets import services
from desk.tickets.links import make_token
from desk.tickets.uploads import from_json

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # bearer keys, not cookies: no cross-site request can carry them


def _api_limit():
    return current_app.config["RATELIMIT_API"]


limiter.limit(_api_limit)(bp)


@bp.before_request
def authenticate():
    g.api_key = api_key_from_request()
    if g.api_key is None:
        return error_response(DeskError("A valid API key is required: Authorization: Bearer <key>.",
                                        code="unauthorized", status=401))


@bp.errorhandler(DeskError)
def error_response(exc: DeskError):
    return jsonify(exc.to_dict()), exc.status


def json_body() -> dict:
    data = request.get_json(silent=True)
    if data is None:
        raise DeskError("The body must be valid JSON with Content-Type: application/json.", code="malformed_json")
    if not isinstance(data, dict):
        raise DeskError("The body must be a JSON object.", code="malformed_json")
    return data


def _string(data: dict, name: str, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise ValidationError(f"{name} is required.", {name: "required"})
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise ValidationError(f"{name} must be a string.", {name: "must be a string"})
    return str(value)


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
        "due_at": ticket.due_at.isoformat(),
        "created_at": ticket.created_at.isoformat(),
        "requester_url": url_for("public.requester_ticket", token=make_token(ticket), _external=True),
        "messages": [message_json(m) for m in messages],
    }
    if is_staff_key():
        body["tags"] = ticket.tags
        body["assignee"] = ticket.assignee.email if ticket.assignee else None
    return body


@bp.post("/tickets")
def create_ticket():
    data = json_body()
    requester = data.get("requester") or {}
    if not isinstance(requester, dict):
        raise ValidationError("requester must be an object with email and name.", {"requester": "not an object"})
    new = services.NewTicket(
        subject=_string(data, "subject") or "",
        body=_string(data, "body") or "",
        requester_email=_string(requester, "email") or _string(data, "requester_email") or "",
        requester_name=_string(requester, "name") or "",
        kind=_string(data, "kind") or "general",
        channel="api",
        customer=_string(data, "customer"),
        order=_string(data, "order"),
        priority=_string(data, "priority") or "normal",
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
    body = _string(data, "body", required=True)
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
