"""The customer's portal session, kept apart from staff Flask-Login.

The signed session cookie holds `session["portal"] = {"customer": id, "epoch": n}`; it is
honoured while the account's `portal_epoch` is still n and its data has not been erased
(privacy-8-erasure). "Sign out everywhere" raises the epoch, so every other browser's
session stops working at its next request. Staff sessions (Flask-Login's `_user_id`)
never open the portal, and a portal session never opens a staff page."""
from functools import wraps

from flask import g, redirect, session, url_for
from sqlalchemy import update

from desk.audit.services import Actor, record
from desk.claims.models import Customer
from desk.extensions import db

KEY = "portal"


def actor_of(customer: Customer) -> Actor:
    # Labelled with the address (or the panel id), which erasure finds and redacts.
    return Actor("requester", None, customer.email or f"customer {customer.panel_id}")


def start(customer: Customer, via: str) -> None:
    """Sign the browser in as `customer`, on a fresh session: whatever the cookie held
    before (a staff sign-in, a CSRF token, anything planted by someone else) is dropped,
    so no value fixed before sign-in survives it. The caller commits."""
    session.clear()
    session[KEY] = {"customer": customer.id, "epoch": customer.portal_epoch}
    g.portal_customer = customer
    record(actor_of(customer), "portal.signed_in", "customer", customer.panel_id, via=via)


def current_customer() -> Customer | None:
    """The signed-in customer of this request, or None (and a stale session is dropped)."""
    if "portal_customer" in g:
        return g.portal_customer
    found = None
    data = session.get(KEY)
    if data is not None:
        ok = isinstance(data, dict) and type(data.get("customer")) is int and type(data.get("epoch")) is int
        customer = db.session.get(Customer, data["customer"]) if ok else None
        if customer is not None and customer.erased_at is None and customer.portal_epoch == data["epoch"]:
            found = customer
        else:
            session.pop(KEY, None)
    g.portal_customer = found
    return found


def customer_required(view):
    """Portal view decorator: a signed-in customer, else the sign-in page. (Never with a
    `next` to come back to: the page to go to after sign-in is always "My tickets".)"""

    @wraps(view)
    def wrapped(*args, **kwargs):
        customer = current_customer()
        if customer is None:
            return redirect(url_for("portal.sign_in"))
        return view(customer, *args, **kwargs)

    return wrapped


def end() -> None:
    """Sign this browser out of the portal (a staff sign-in in the same browser stays)."""
    session.pop(KEY, None)
    g.portal_customer = None


def end_everywhere(customer: Customer) -> None:
    """Every portal session of the account stops working, this one included (Terms §3:
    the customer who suspects someone else used their account). The caller commits."""
    db.session.execute(update(Customer).where(Customer.id == customer.id)
                       .values(portal_epoch=Customer.portal_epoch + 1))
    record(actor_of(customer), "portal.signed_out_everywhere", "customer", customer.panel_id, rule="terms-3-account")
    end()
