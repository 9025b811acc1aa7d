"""Staff pages of the privacy desk: the queue by legal deadline, the request panel on the
ticket page and its actions, and the 11 CCR §7101 records. Every route needs
`privacy.work` (the privacy officer)."""
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from desk import jobs
from desk.auth.access import can_see_ticket, require
from desk.claims.orders import find_customer
from desk.errors import DeskError
from desk.extensions import db
from desk.policy import privacy as policy
from desk.privacy import delivery, erasure, requests
from desk.privacy.models import STATUS_LABELS, PrivacyExport, PrivacyRequest
from desk.tickets.views import refused
from desk.types import utcnow

bp = Blueprint("privacy", __name__, url_prefix="/privacy")


def _request_or_404(request_id: int) -> PrivacyRequest:
    row = db.session.get(PrivacyRequest, request_id)
    if row is None or row.ticket is None or not can_see_ticket(current_user, row.ticket):
        abort(404)
    return row


def panel(row: PrivacyRequest) -> dict:
    due = requests.deadline(row)
    return {
        "request": row, "status": STATUS_LABELS[row.status], "due": due, "clock": requests.clock_of(row),
        "overdue": due is not None and due < utcnow() and row.is_open,
        "rights": [(r, policy.RIGHTS[r]) for r in row.rights], "jurisdiction": policy.JURISDICTIONS[row.jurisdiction],
        "flags": requests.flags_of(row.customer), "blockers": erasure.blockers(row) if row.customer else [],
        "flag_rights": [r for r in row.rights if r in policy.FLAG_RIGHTS], "exports": row.exports,
        "code_rule": policy.VERIFY_RULE,
    }


def _act(row: PrivacyRequest, work, done: str):
    try:
        work()
    except DeskError as exc:
        return refused(exc, row.reference)
    db.session.commit()
    jobs.dispatch()
    flash(done, "info")
    return redirect(url_for("tickets.ticket", reference=row.reference))


@bp.get("")
@require("privacy.work")
def queue():
    show_all = request.args.get("all") == "1"
    return render_template("privacy/queue.html", rows=requests.queue(include_closed=show_all),
                           labels=STATUS_LABELS, rights=policy.RIGHTS, show_all=show_all, now=utcnow())


@bp.get("/records.csv")
@require("privacy.work")
def records():
    return Response(requests.records_csv(), mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="privacy-request-records.csv"'})


@bp.post("/<int:request_id>/verify")
@require("privacy.work")
def verify(request_id):
    row = _request_or_404(request_id)
    return _act(row, lambda: requests.verify_by_staff(row, current_user, request.form.get("reason", "")),
                "Identity verified; the reason is on record.")


@bp.post("/<int:request_id>/code")
@require("privacy.work")
def resend_code(request_id):
    row = _request_or_404(request_id)

    def work():
        if row.verified_at is not None:
            raise DeskError("This request is already verified.", status=409)
        requests.send_code(row)
    return _act(row, work, "A new code was sent to the requester.")


@bp.post("/<int:request_id>/erase")
@require("privacy.work")
def erase(request_id):
    row = _request_or_404(request_id)
    return _act(row, lambda: requests.start_erasure(row, current_user),
                "The erasure job is queued; this page shows its outcome when it has run.")


@bp.post("/<int:request_id>/flags")
@require("privacy.work")
def flags(request_id):
    row = _request_or_404(request_id)
    return _act(row, lambda: requests.apply_flags(row, current_user), "The account is flagged and the requester answered.")


@bp.post("/<int:request_id>/correction")
@require("privacy.work")
def correction(request_id):
    row = _request_or_404(request_id)
    return _act(row, lambda: requests.record_correction(row, current_user, request.form.get("what", "")),
                "The correction is recorded and the requester answered.")


@bp.post("/<int:request_id>/refuse")
@require("privacy.work")
def refuse(request_id):
    row = _request_or_404(request_id)
    return _act(row, lambda: requests.refuse(row, current_user, request.form.get("reason", "")),
                "The refusal was sent with its reasons.")


@bp.post("/exports/<int:export_id>/release")
@require("privacy.work")
def release_export(export_id):
    export = db.session.get(PrivacyExport, export_id)
    if export is None:
        abort(404)
    row = _request_or_404(export.request_id)
    return _act(row, lambda: delivery.review(export, current_user, request.form.getlist("withhold"),
                                             request.form.get("reason", "")),
                "The export is approved and its link was sent to the requester.")


@bp.post("/customers/<panel_id>/minor")
@require("privacy.minor")
def report_minor(panel_id):
    customer = find_customer(panel_id)
    if customer is None:
        abort(404)
    try:
        row = requests.report_minor(customer, current_user, request.form.get("reason", ""))
    except DeskError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("claims.customer", panel_id=panel_id))
    db.session.commit()
    jobs.dispatch()
    flash(f"Reported under 18: erasure {row.reference} is queued (privacy-11-minor).", "info")
    return redirect(url_for("claims.customer", panel_id=customer.panel_id))
