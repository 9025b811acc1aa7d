"""The portal's orders: "My orders", and an order's page where the customer checks a
claim (not delivered, wrong quantity, not as described, refill, cancel) against the Terms
and sees the decision, with its clauses in plain words, before filing it."""
from flask_babel import gettext
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from desk.claims import services as claims
from desk.claims.models import Claim
from desk.errors import DeskError
from desk.extensions import db, limiter
from desk.policy.claims import STATUS_NAMES
from desk.portal import services
from desk.portal.forms import ClaimForm
from desk.portal.sessions import customer_required
from desk.portal.views import _public_limit, bp
from desk.tickets.uploads import from_files


@bp.get("/orders")
@customer_required
def my_orders(customer):
    cursor = request.args.get("after") or None
    try:
        rows, next_cursor = services.my_orders(customer, cursor, current_app.config["PORTAL_PAGE_SIZE"])
    except DeskError as exc:
        flash(exc.message, "error")
        return redirect(url_for(".my_orders"))
    return render_template("portal/orders.html", customer=customer, rows=rows, next_cursor=next_cursor,
                           first=cursor is None, status_names=STATUS_NAMES)


@bp.route("/orders/<panel_id>", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
@customer_required
def order(customer, panel_id):
    """Step one shows the Terms' decision and files nothing; step two files the claim the
    customer saw decided, whatever the decision (support reads every claim). A claim whose
    kind or count changed after the check is checked again, never filed unseen."""
    found = services.find_my_order(customer, panel_id)
    if found is None:
        abort(404)  # someone else's order is the same page as one that does not exist
    form = ClaimForm(kind=request.args.get("kind") if request.method == "GET" else None)
    decision, error = None, None
    if form.validate_on_submit():
        decision = claims.evaluate(found, form.kind.data, form.current_count.data)
        checked = f"file:{form.kind.data}:{form.current_count.data}"
        if form.step.data == checked:
            try:
                claim, created = services.file_claim(customer, found, form.kind.data, form.current_count.data,
                                                     form.description.data or "", from_files(form.attachments.data))
            except DeskError as exc:
                db.session.rollback()
                error = exc
            else:
                flash(gettext("Your claim is ticket %(reference)s.", reference=claim.ticket.reference) if created else
                      gettext("You already have this claim open on order %(order)s: ticket %(reference)s.",
                              order=found.panel_id, reference=claim.ticket.reference), "info")
                return redirect(url_for(".ticket", reference=claim.ticket.reference))
        form.step.data = checked
    status = error.status if error else (400 if form.is_submitted() and decision is None else 200)
    on_order = db.session.execute(select(Claim).where(Claim.order_id == found.id).order_by(Claim.id.desc())
                                  .limit(20)).scalars().all()
    return render_template("portal/order.html", order=found, form=form, decision=decision, error=error,
                           claims=on_order, status_names=STATUS_NAMES, kind_labels=claims.CUSTOMER_KIND_LABELS), status
