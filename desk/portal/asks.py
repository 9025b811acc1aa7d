"""The portal's "New request": every kind of ticket a customer files, each through the
desk's own intake for it, for the signed-in account — a general question, a claim, refill
or cancel (on the order's page), a refund, withdrawal, closure or restoration (with the
figures first), more than 10 accounts, and a privacy-rights request."""
from flask_babel import gettext
from flask import flash, redirect, render_template, url_for

from desk.errors import DeskError
from desk.extensions import db, limiter
from desk.policy import accounts as accounts_policy
from desk.portal import services
from desk.portal.forms import MoreAccountsForm, PrivacyForm
from desk.portal.sessions import customer_required
from desk.portal.views import _public_limit, bp
from desk.privacy import requests as privacy


@bp.get("/new")
@customer_required
def new_request(customer):
    return render_template("portal/new_request.html", customer=customer, frozen=customer.status == "frozen")


@bp.route("/accounts", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
@customer_required
def more_accounts(customer):
    """Up to 10 accounts are answered at once (terms-4-multi-account); more file a ticket."""
    form = MoreAccountsForm()
    error, free = None, None
    if form.validate_on_submit():
        wanted = form.accounts_wanted.data
        if wanted <= accounts_policy.FREE_ACCOUNTS:
            free = accounts_policy.multi_account(wanted, form.category.data)
        else:
            try:
                request, created = services.ask_for_accounts(customer, form.category.data, wanted,
                                                             form.business_need.data)
            except DeskError as exc:
                db.session.rollback()
                error = exc
            else:
                flash(gettext("Your request is ticket %(reference)s.", reference=request.ticket.reference)
                      if created else
                      gettext("You already have a request for more accounts open: ticket %(reference)s.",
                              reference=request.ticket.reference), "info")
                return redirect(url_for(".ticket", reference=request.ticket.reference))
    status = error.status if error else (400 if form.is_submitted() and not free else 200)
    return render_template("accounts/form.html", form=form, error=error.message if error else None, free=free), status


@bp.route("/privacy", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
@customer_required
def privacy_request(customer):
    form = PrivacyForm()
    error = None
    if form.validate_on_submit():
        try:
            row = services.ask_privacy(customer, form.rights.data, form.jurisdiction.data, form.details.data or "")
        except DeskError as exc:
            db.session.rollback()
            error = exc
        else:
            flash(gettext("Your privacy request is %(reference)s. We sent a code to %(email)s: type it on the "
                          "next page to confirm the request is yours.", reference=row.reference, email=customer.email),
                  "info")
            return redirect(url_for("privacy_public.status", token=privacy.link_token(row)))
    status = (error.status if error else 400) if form.is_submitted() else 200
    return render_template("privacy/public/request.html", form=form, error=error, account=customer), status
