"""Claim decisions over the API: evaluate (store nothing) and file (a claim ticket)."""
from flask import g, jsonify, url_for

from desk.api import bp, json_body, string_field
from desk.audit.services import Actor
from desk.claims import services
from desk.tickets.uploads import from_json


@bp.post("/claims/evaluate")
def evaluate_claim():
    order_id, kind, current, at = services.parse_claim(json_body())
    decision = services.evaluate_by_id(order_id, kind, current, at)
    return jsonify({"order": order_id, "kind": kind, **decision.to_dict()})


@bp.post("/claims")
def file_claim():
    body = json_body()
    order_id, kind, current, at = services.parse_claim(body)
    order = services.load_order(order_id)
    claim, created = services.file_claim(
        order, kind, current, Actor.api(g.api_key), description=string_field(body, "description") or "",
        requester_email=string_field(body, "requester_email"), uploads=from_json(body.get("attachments")),
        at=at,
    )
    response = jsonify({
        "reference": claim.ticket.reference, "claim": claim.id, "created": created, "order": order_id, "kind": kind,
        "decision": claim.decision, "rules": list(dict.fromkeys(r["rule"] for r in claim.reasons)),
        "reasons": claim.reasons, "refill_quantity": claim.refill_quantity, "status": claim.status,
    })
    response.status_code = 201 if created else 200
    response.headers["Location"] = url_for("api.get_ticket", reference=claim.ticket.reference)
    return response
