"""Money requests over the API (Terms §13–§15, §30): quotes that store nothing, filing a
request on its ticket, the customer's confirmation (the panel's own pages ask the customer
and pass the answer on), and the request's state."""
from flask import g, jsonify, url_for

from desk.api import bp, json_body, require_key_role
from desk.audit.services import Actor
from desk.claims.parse import Fields
from desk.errors import NotFound, ValidationError
from desk.extensions import db
from desk.money import requests
from desk.money.models import STATUS_LABELS, MoneyRequest
from desk.types import MAX_ID

PLURALS = {"refunds": "refund", "withdrawals": "withdrawal", "closures": "closure", "restorations": "restoration"}


def request_json(request: MoneyRequest, created: bool | None = None) -> dict:
    body = {
        "id": request.id, "reference": request.ticket.reference, "kind": request.kind,
        "customer": request.customer.panel_id, "order": request.order_ref, "method": request.method,
        "status": request.status, "status_text": STATUS_LABELS[request.status], "decision": request.decision,
        "rules": request.quote.get("rules", []), "quote": request.quote,
        "amount": str(request.amount) if request.amount is not None else None,
        "fee_rate": str(request.fee_rate) if request.fee_rate is not None else None,
        "confirmed_at": request.confirmed_at.isoformat() if request.confirmed_at else None,
        "verification_required": request.verification_required,
        "created_at": request.created_at.isoformat(),
    }
    if created is not None:
        body["created"] = created
    return body


@bp.post("/<any(refunds, withdrawals, closures, restorations):kind>/quote")
def quote_money(kind):
    require_key_role("panel", "staff")
    ask = requests.parse_ask(PLURALS[kind], json_body())
    return jsonify({"customer": ask.customer, **requests.quote(ask).to_dict()})


@bp.post("/<any(refunds, withdrawals, closures, restorations):kind>")
def file_money(kind):
    require_key_role("panel", "staff")
    ask = requests.parse_ask(PLURALS[kind], json_body())
    request, created = requests.file(ask, Actor.api(g.api_key), channel="api")
    response = jsonify(request_json(request, created))
    response.status_code = 201 if created else 200
    response.headers["Location"] = url_for("api.get_money_request", request_id=request.id)
    return response


def _request_or_404(request_id: int) -> MoneyRequest:
    request = db.session.get(MoneyRequest, request_id)
    if request is None:
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
    if f.problems:
        raise ValidationError("The answer has problems: " + ", ".join(sorted(f.problems)) + ".", f.problems)
    request = requests.confirm(request_id, choice, Actor.api(g.api_key), shown)
    return jsonify(request_json(request))


@bp.post(f"/money-requests/<int(max={MAX_ID}):request_id>/cancel")
def cancel_money_request(request_id):
    """The customer takes back a request not decided yet."""
    require_key_role("panel")
    _request_or_404(request_id)
    return jsonify(request_json(requests.withdraw(request_id, Actor.api(g.api_key))))
