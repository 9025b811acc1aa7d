"""Money's receivers of the panel's feeds (desk.claims.feed).

- terms-14-pending-order: an order or a charge paid from Deposited Funds cancels a
  withdrawal the customer asked for before it and that is still pending;
- terms-17-chargeback: a chargeback entry opens (or joins) the customer's billing case.
"""
from desk.claims import feed
from desk.money import chargebacks, requests
from desk.policy.words import N_, Words


def _ledger_stored(_sender, rows, **_):
    # What was paid, named to the customer in their language (desk.money.requests).
    charges = [(row.customer_id, row.at, row.amount,
                Words(N_("charge %(charge)s for order %(order)s"), {"charge": row.panel_id, "order": row.order_ref})
                if row.order_ref else Words(N_("charge %(charge)s"), {"charge": row.panel_id}))
               for row in rows if row.kind == "charge" and row.funding == "deposited"]
    requests.cancel_withdrawals_for(charges)
    chargebacks.open_cases([row for row in rows if row.kind == "chargeback"])


def _orders_placed(_sender, orders, **_):
    requests.cancel_withdrawals_for([(customer_id, at, deposited, Words(N_("order %(order)s"), {"order": panel_id}))
                                     for customer_id, at, deposited, panel_id in orders])


def connect() -> None:
    """Called by the app factory; connecting twice keeps one connection per receiver."""
    feed.ledger_stored.connect(_ledger_stored)
    feed.orders_placed.connect(_orders_placed)
