"""Requests for more accounts over the API (terms-4-multi-account). A customer session asks
for itself only: a `customer` naming anyone else is the 404 of an unknown customer."""
from flask import jsonify, url_for

from desk.accounts import services
from desk.api import (
    actor, bp, channel, json_body, named_customer, own_customer_field, require_key_role, require_queue, with_clauses,
)


@bp.post("/account-requests")
def file_account_request():
    """File a request for more than 10 accounts; a customer's open request is answered
    (200) instead of a second ticket."""
    require_key_role("panel", "staff")
    require_queue("support")
    ask = services.parse_request(own_customer_field(json_body()))
    customer = named_customer(ask.customer)
    request, created = services.file_request(customer, ask, actor(), channel=channel())
    response = jsonify(with_clauses(services.request_json(request, created)))
    response.status_code = 201 if created else 200
    response.headers["Location"] = url_for("api.get_ticket", reference=request.ticket.reference)
    return response
