"""Staff pages for received mail: the log, quarantined messages (read, download, release,
discard) and replies held for review (add to the ticket, or reject)."""
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from desk.auth.access import can_see_ticket, require, visible_queues
from desk.errors import DeskError, require_reason
from desk.extensions import db
from desk.mail import inbound
from desk.mail.models import InboundMail
from desk.types import MAX_ID

bp = Blueprint("mail", __name__, url_prefix="/mail")
STATUSES = ("quarantined", "held", "filed", "threaded", "bounced", "ignored", "accepted", "rejected", "released",
            "discarded")


def _visible():
    return inbound.visible_to(visible_queues(current_user))


def _row_or_404(inbound_id: int) -> InboundMail:
    # A message for a desk this role may not open is indistinguishable from a missing one.
    row = db.session.execute(select(InboundMail).where(InboundMail.id == inbound_id, _visible())).scalar_one_or_none()
    if row is None:
        abort(404)
    return row


@bp.route("")
@require("mail.review")
def log():
    status = request.args.get("status") or None
    if status not in STATUSES + (None,):
        status = None
    query = select(InboundMail).where(_visible()).order_by(InboundMail.id.desc()).limit(200)
    if status:
        query = query.where(InboundMail.status == status)
    rows = db.session.execute(query).scalars().all()
    return render_template("mail/log.html", rows=rows, status=status, statuses=STATUSES,
                           labels=inbound.ROUTE_LABELS, waiting=inbound.counts(visible_queues(current_user)))


@bp.route(f"/<int(max={MAX_ID}):inbound_id>")
@require("mail.review")
def show(inbound_id):
    row = _row_or_404(inbound_id)
    return render_template("mail/show.html", row=row, headers=_headers(row.raw), labels=inbound.ROUTE_LABELS)


def _headers(raw: bytes | None) -> str:
    """The header block as text, to read before deciding (never the body rendered)."""
    if not raw:
        return ""
    head = raw[:16384].replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return head.decode("utf-8", errors="replace")


@bp.route(f"/<int(max={MAX_ID}):inbound_id>/raw")
@require("mail.review")
def raw(inbound_id):
    row = _row_or_404(inbound_id)
    if row.raw is None:
        abort(404)
    # Downloaded, never shown in the browser: the bytes are a stranger's.
    return Response(row.raw, mimetype="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="message-{row.id}.eml"',
        "X-Content-Type-Options": "nosniff"})


def _decide(row: InboundMail, action: str):
    try:
        if action == "release":
            outcome = inbound.release(row, current_user)
            flash(f"Released: {outcome}", "info")
        elif action == "discard":
            inbound.discard(row, current_user, require_reason(request.form.get("reason"), "why it is discarded"))
            flash("Discarded; the raw message is deleted.", "info")
        elif action == "accept":
            inbound.accept_held(row, current_user)
            flash(f"Added to {row.ticket.reference} as an internal note.", "info")
        else:
            inbound.reject_held(row, current_user, require_reason(request.form.get("reason"), "why it is rejected"))
            flash("Rejected; the message is deleted.", "info")
    except DeskError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    if action in ("accept", "reject"):
        return redirect(url_for("tickets.ticket", reference=row.ticket.reference))
    return redirect(url_for(".show", inbound_id=row.id))


@bp.route(f"/<int(max={MAX_ID}):inbound_id>/<any(release, discard):action>", methods=["POST"])
@require("mail.review")
def quarantine_action(inbound_id, action):
    return _decide(_row_or_404(inbound_id), action)


@bp.route(f"/<int(max={MAX_ID}):inbound_id>/<any(accept, reject):action>", methods=["POST"])
@require("ticket.reply")
def held_action(inbound_id, action):
    # Anyone who may answer the ticket may decide on a reply held on it.
    row = inbound.find(inbound_id)
    if row is None or row.ticket is None or not can_see_ticket(current_user, row.ticket):
        abort(404)
    return _decide(row, action)
