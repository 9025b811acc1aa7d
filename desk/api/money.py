"""Money requests over the API (Terms §13–§15, §30): quotes that store nothing, filing a
request on its ticket, the customer's confirmation (the panel's own pages ask the customer
and pass the answer on, or call with the customer's session), and the request's state.
A customer session acts for itself only: a `customer` naming anyone else, or a request of
someone else's, is the 404 of an unknown one."""
from flask import g, jsonify, request as http, url_for

from desk.api import (
    actor, bp, channel, check_fields, json_body, key_scope, key_sees, named_customer, own_customer_field, page_args,
    page_json, require_key_role, require_queue, session_customer, with_clauses,
)
from desk.claims.parse import Fields
from desk.errors import NotFound
from desk.extensions import db
from desk.money import requests
from desk.money.models import STATUS_LABELS, MoneyRequest
from desk.portal.services import find_my_request
from desk.types import MAX_ID

PLURALS = {"refunds": "refund", "withdrawals": "withdrawal", "closures": "closure", "restorations": "restoration"}


def request_json(request: MoneyRequest, created: bool | None = None) -> dict:
    body = with_clauses({
        "id": request.id, "reference": request.ticket.reference, "kind": request.kind,
        "customer": request.customer.panel_id, "order": request.order_ref, "method": request.method,
        "status": request.status, "status_text": STATUS_LABELS[request.status], "decision": request.decision,
        "rules": request.quote.get("rules", []), "quote": request.quote,
        "amount": str(request.amount) if request.amount is not None else None,
        "fee_rate": str(request.fee_rate) if request.fee_rate is not None else None,
        "confirmed_at": request.confirmed_at.isoformat() if request.confirmed_at else None,
        "verification_required": request.verification_required,
        "created_at": request.created_at.isoformat(),
    })
    if created is not None:
        body["created"] = created
    return body


def _ask(kind: str) -> requests.Ask:
    """The body as an Ask; under a customer session always its own (the customer named must
    be itself, and answers go to the account's own address)."""
    ask = requests.parse_ask(PLURALS[kind], own_customer_field(json_body()))
    if session_customer() is not None:
        named_customer(ask.customer)
        ask.requester_email = None
    return ask


@bp.post("/<any(refunds, withdrawals, closures, restorations):kind>/quote")
def quote_money(kind):
    require_key_role("panel", "staff")
    require_queue("billing")
    ask = _ask(kind)
    return jsonify(with_clauses({"customer": ask.customer, **requests.quote(ask).to_dict()}))


@bp.post("/<any(refunds, withdrawals, closures, restorations):kind>")
def file_money(kind):
    require_key_role("panel", "staff")
    require_queue("billing")
    ask = _ask(kind)
    request, created = requests.file(ask, actor(), channel=channel())
    response = jsonify(request_json(request, created))
    response.status_code = 201 if created else 200
    response.headers["Location"] = url_for("api.get_money_request", request_id=request.id)
    return response


@bp.get("/money-requests")
def list_money_requests():
    """A page of money requests, newest first: a key's of every customer or of the one it
    names; a customer session's own."""
    require_key_role("panel", "staff")
    require_queue("billing")
    cursor, size = page_args("money requests")
    f = Fields(http.args)
    named = f.string("customer", max_len=64)
    check_fields(f, "The filters")
    customer = named_customer(named) if named is not None else session_customer()
    scope = key_scope(g.api_key) if g.api_key is not None and g.api_key.staff_id else None
    rows, next_cursor = requests.requests_page(customer, cursor, size, scope)
    return jsonify(page_json([request_json(r) for r in rows], next_cursor))


def _request_or_404(request_id: int) -> MoneyRequest:
    me = session_customer()
    request = db.session.get(MoneyRequest, request_id) if me is None else find_my_request(me, request_id)
    if request is not None and g.api_key is not None and not key_sees(g.api_key, request.ticket):
        request = None
    if request is None:  # someone else's is as missing as one that never was
        raise NotFound(f"No money request {request_id}.")
    return request


@bp.get(f"/money-requests/<int(max={MAX_ID}):request_id>")
def get_money_request(request_id):
    require_key_role("panel", "staff")
    return jsonify(request_json(_request_or_404(request_id)))


@bp.post(f"/money-requests/<int(max={MAX_ID}):request_id>/confirm")
def confirm_money_request(request_id):
    """The customer's answer to the figures: {"choice": "confirm"|"keep_balance", "amount":
    the figure they were shown}. A figure that moved since is a 409 with the new one."""
    require_key_role("panel")
    _request_or_404(request_id)
    f = Fields(json_body())
    choice = f.choice("choice", ("confirm", "keep_balance"), required=True)
    shown = f.money("amount")
    check_fields(f, "The answer")
    request = requests.confirm(request_id, choice, actor(), shown)
    return jsonify(request_json(request))


@bp.post(f"/money-requests/<int(max={MAX_ID}):request_id>/cancel")
def cancel_money_request(request_id):
    """The customer takes back a request not decided yet."""
    require_key_role("panel")
    _request_or_404(request_id)
    return jsonify(request_json(requests.withdraw(request_id, actor())))
