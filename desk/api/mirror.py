"""The panel's mirror feeds — customers, orders and ledger entries, written by panel keys
only — and reading them back: a key any customer's, a customer session its own (GET /me,
its orders)."""
from flask import jsonify, request
from flask_wtf.csrf import generate_csrf

from desk.api import (
    actor, bp, check_fields, json_body, named_customer, page_args, page_json, require_key_role, session_customer,
)
from desk.claims import ledger, orders
from desk.claims.models import Customer, Order
from desk.claims.parse import Fields
from desk.claims.services import load_order, no_order
from desk.errors import DeskError
from desk.portal import services as portal


def customer_json(customer: Customer) -> dict:
    balances = ledger.customer_balances(customer)
    return {
        "panel_id": customer.panel_id, "login": customer.login, "email": customer.email,
        "email_verified": customer.email_verified, "country": customer.country, "status": customer.status,
        "balance": {"deposited": str(balances.deposited), "promotional": str(balances.promotional),
                    "total": str(balances.total)},
    }


def order_json(order: Order) -> dict:
    return {
        "panel_id": order.panel_id, "customer": order.customer.panel_id, "link": order.link,
        "link_normalized": order.link_normalized, "quantity": order.quantity, "charge": str(order.charge),
        "charge_deposited": str(order.charge_deposited), "charge_promo": str(order.charge_promo),
        "start_count": order.start_count, "remains": order.remains, "status": order.status,
        "target_state": order.target_state, "created_at": order.created_at.isoformat(),
        "finished_at": order.finished_at.isoformat() if order.finished_at else None, "tool": order.tool,
        "history": [{"status": c.status, "at": c.at.isoformat()} for c in order.history],
    }


@bp.put("/customers/<panel_id>")
def put_customer(panel_id):
    require_key_role("panel")
    customer, created = orders.upsert_customer(panel_id, json_body(), actor())
    return jsonify(customer_json(customer)), 201 if created else 200


@bp.put("/orders/<panel_id>")
def put_order(panel_id):
    require_key_role("panel")
    order, created = orders.upsert_order(panel_id, json_body(), actor())
    return jsonify(order_json(order)), 201 if created else 200


@bp.post("/ledger")
def post_ledger():
    require_key_role("panel")
    return jsonify(ledger.store_entries(json_body(), actor())), 200


@bp.get("/me")
def me():
    """The signed-in customer: the account, its Balance, and the CSRF token its unsafe calls
    carry in X-CSRFToken. Only for a customer session (a key has no "me")."""
    customer = session_customer()
    if customer is None:
        raise DeskError("GET /me is the signed-in customer's own: a key has no customer of its own.",
                        code="forbidden", status=403)
    return jsonify({**customer_json(customer), "csrf_token": generate_csrf()})


@bp.get("/customers/<panel_id>")
def get_customer(panel_id):
    require_key_role("panel", "staff")
    return jsonify(customer_json(named_customer(panel_id)))


@bp.get("/orders")
def list_orders():
    """A page of one customer's orders, newest first (ix_orders_customer_created). A key
    names the customer; a customer session lists its own."""
    require_key_role("panel", "staff")
    cursor, size = page_args("orders")
    f = Fields(request.args)
    named = f.string("customer", required=session_customer() is None, max_len=64)
    check_fields(f, "The filters")
    customer = named_customer(named) if named is not None else session_customer()
    rows, next_cursor = portal.my_orders(customer, cursor, size)
    return jsonify(page_json([order_json(o) for o in rows], next_cursor))


@bp.get("/orders/<panel_id>")
def get_order(panel_id):
    require_key_role("panel", "staff")
    me = session_customer()
    if me is None:
        return jsonify(order_json(load_order(panel_id)))
    order = portal.find_my_order(me, panel_id)
    if order is None:
        raise no_order(panel_id)  # someone else's order: the same 404 as a missing one
    return jsonify(order_json(order))
