"""Accounts' receivers of the panel's feeds (desk.claims.feed): identifiers seen.

- the customer feed: the e-mail's domain and the body's optional "identifiers";
- the ledger feed: the payment fingerprint a deposit carried.
A bad identifier raises a ValidationError, which refuses the whole delivery (a 422).
"""
from desk.accounts import identifiers
from desk.claims import feed


def _customer_updated(_sender, customer, body, **_):
    identifiers.from_customer(customer, body)


def _ledger_stored(_sender, rows, extras, **_):
    identifiers.from_ledger(rows, extras)


def connect() -> None:
    """Called by the app factory; connecting twice keeps one connection per receiver."""
    feed.customer_updated.connect(_customer_updated)
    feed.ledger_stored.connect(_ledger_stored)
