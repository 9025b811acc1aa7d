"""Requests for more accounts over the API (terms-4-multi-account)."""
from flask import g, jsonify, url_for

from desk.accounts import services
from desk.api import bp, json_body, require_key_role
from desk.audit.services import Actor
from desk.claims.orders import customer_or_404


@bp.post("/account-requests")
def file_account_request():
    """File a request for more than 10 accounts; a customer's open request is answered
    (200) instead of a second ticket."""
    require_key_role("panel", "staff")
    ask = services.parse_request(json_body())
    customer = customer_or_404(ask.customer)
    request, created = services.file_request(customer, ask, Actor.api(g.api_key))
    response = jsonify(services.request_json(request, created))
    response.status_code = 201 if created else 200
    response.headers["Location"] = url_for("api.get_ticket", reference=request.ticket.reference)
    return response
