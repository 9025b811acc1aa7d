"""The panel's mirror feeds: customers, orders and ledger entries (panel keys only)."""
from flask import g, jsonify

from desk.api import bp, json_body, require_key_role
from desk.audit.services import Actor
from desk.claims import ledger, orders
from desk.claims.models import Customer, Order


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
    customer, created = orders.upsert_customer(panel_id, json_body(), Actor.api(g.api_key))
    return jsonify(customer_json(customer)), 201 if created else 200


@bp.put("/orders/<panel_id>")
def put_order(panel_id):
    require_key_role("panel")
    order, created = orders.upsert_order(panel_id, json_body(), Actor.api(g.api_key))
    return jsonify(order_json(order)), 201 if created else 200


@bp.post("/ledger")
def post_ledger():
    require_key_role("panel")
    return jsonify(ledger.store_entries(json_body(), Actor.api(g.api_key))), 200
