"""Claim decisions over the API: evaluate (store nothing) and file (a claim ticket). A
customer session claims only on its own orders — someone else's is the 404 of a missing
one — and always as of now: `at` (when the claim was made, for the panel passing on a claim
it took earlier) is the panel's to send, or a customer could file inside a closed window."""
from flask import jsonify, url_for

from desk.api import actor, bp, channel, json_body, require_queue, session_customer, string_field, with_clauses
from desk.claims import services
from desk.extensions import read_only_connection
from desk.portal.services import find_my_order
from desk.tickets.uploads import from_json


def _parse(body: dict):
    order_id, kind, current, at = services.parse_claim(body)
    return order_id, kind, current, (None if session_customer() is not None else at)


def _order(order_id: str):
    me = session_customer()
    if me is None:
        return services.load_order(order_id)
    order = find_my_order(me, order_id)
    if order is None:
        raise services.no_order(order_id)
    return order


@bp.post("/claims/evaluate")
def evaluate_claim():
    require_queue("claims")
    order_id, kind, current, at = _parse(json_body())
    if session_customer() is not None:
        _order(order_id)  # its own, or the 404 (a key's hot path skips the extra query)
    with read_only_connection() as conn:
        decision = services.evaluate_by_id(order_id, kind, current, at, connection=conn)
    return jsonify(with_clauses({"order": order_id, "kind": kind, **decision.to_dict()}))


@bp.post("/claims")
def file_claim():
    require_queue("claims")
    body = json_body()
    order_id, kind, current, at = _parse(body)
    order = _order(order_id)
    claim, created = services.file_claim(
        order, kind, current, actor(), description=string_field(body, "description") or "",
        # The answer goes to the account's own address when the customer asks.
        requester_email=None if session_customer() is not None else string_field(body, "requester_email"),
        uploads=from_json(body.get("attachments")), at=at, channel=channel(),
    )
    response = jsonify(with_clauses({
        "reference": claim.ticket.reference, "claim": claim.id, "created": created, "order": order_id, "kind": kind,
        "decision": claim.decision, "rules": list(dict.fromkeys(r["rule"] for r in claim.reasons)),
        "reasons": claim.reasons, "refill_quantity": claim.refill_quantity, "status": claim.status,
    }))
    response.status_code = 201 if created else 200
    response.headers["Location"] = url_for("api.get_ticket", reference=claim.ticket.reference)
    return response
