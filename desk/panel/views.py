"""Staff pages of the panel integration: the Panel card on a ticket about an order (its
calls, a status refresh, retrying a failed action) and the admins' page of the status
refresh's runs."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from desk import panel
from desk.auth.access import require
from desk.claims.orders import find_order
from desk.errors import DeskError
from desk.extensions import db
from desk.panel import actions, refresh
from desk.panel.client import OFF
from desk.panel.models import PanelCall
from desk.tickets.views import refused, ticket_or_404
from desk.types import MAX_ID

bp = Blueprint("panel", __name__)


def card(ticket) -> dict | None:
    """What the Panel card of a ticket about an order shows (None: the ticket names no order)."""
    if not ticket.order_ref:
        return None
    calls = actions.calls_for(ticket)
    return {
        "enabled": panel.enabled(),
        "calls": calls,
        "order_known": find_order(ticket.order_ref) is not None,
        "failed": [c for c in calls if c.status == "failed" and c.action != "status"],
        "waiting": any(c.status in ("queued", "sending", "following") and c.action != "status" for c in calls),
        "retryable": {c.id for c in calls if actions.retryable(c)},
    }


@bp.route("/tickets/<reference>/panel/refresh", methods=["POST"])
@require("panel.refresh")
def refresh_order(reference):
    ticket = ticket_or_404(reference)
    try:
        actions.refresh_order(ticket, current_user)
    except DeskError as exc:
        return refused(exc, reference)
    flash(f"Asked the panel for order {ticket.order_ref}'s status; the answer shows on the Panel card.", "info")
    return redirect(url_for("tickets.ticket", reference=reference, _anchor="panel"))


@bp.route(f"/tickets/<reference>/panel/calls/<int(max={MAX_ID}):call_id>/retry", methods=["POST"])
@require("claim.decide")
def retry_call(reference, call_id):
    ticket = ticket_or_404(reference)
    call = db.session.get(PanelCall, call_id)
    if call is None or call.ticket_id != ticket.id:
        abort(404)
    if not panel.enabled():
        return refused(DeskError(OFF, code="panel_off", status=409), reference)
    try:
        actions.retry(call, current_user)
    except DeskError as exc:
        return refused(exc, reference)
    flash(f"The {call.action} of order {call.order_ref} is being tried again.", "info")
    return redirect(url_for("tickets.ticket", reference=reference, _anchor="panel"))


@bp.route("/admin/panel", methods=["GET", "POST"])
@require("admin.panel")
def admin():
    if request.method == "POST":
        try:
            row = refresh.request(current_user)
        except DeskError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            flash(f"Refresh {row.id} queued: the statuses of {row.total} order(s) open tickets are about.", "info")
        return redirect(url_for(".admin"))
    return render_template("admin/panel.html", enabled=panel.enabled(), url=current_app.config["PANEL_API_URL"],
                           runs=refresh.recent(), open_orders=refresh.count_open_ticket_orders(),
                           failed=actions.failed_actions(), following=actions.following_count())
