"""Money's receivers of the panel's feeds (desk.claims.feed).

- terms-14-pending-order: an order or a charge paid from Deposited Funds cancels a
  withdrawal the customer asked for before it and that is still pending;
- terms-17-chargeback: a chargeback entry opens (or joins) the customer's billing case.
"""
from desk.claims import feed
from desk.money import chargebacks, requests


def _ledger_stored(_sender, rows, **_):
    charges = [(row.customer_id, row.at, row.amount, f"charge {row.panel_id}"
                + (f" for order {row.order_ref}" if row.order_ref else ""))
               for row in rows if row.kind == "charge" and row.funding == "deposited"]
    requests.cancel_withdrawals_for(charges)
    chargebacks.open_cases([row for row in rows if row.kind == "chargeback"])


def _orders_placed(_sender, orders, **_):
    requests.cancel_withdrawals_for([(customer_id, at, deposited, f"order {panel_id}")
                                     for customer_id, at, deposited, panel_id in orders])


def connect() -> None:
    """Called by the app factory; connecting twice keeps one connection per receiver."""
    feed.ledger_stored.connect(_ledger_stored)
    feed.orders_placed.connect(_orders_placed)
