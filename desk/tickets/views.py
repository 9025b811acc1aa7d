"""Staff pages: the queue and the ticket page."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from desk.audit.models import AuditEvent
from desk.audit.services import Actor
from desk.auth.access import can_see_ticket, require, visible_queues
from desk.auth.models import Staff
from desk.auth.roles import allows
from desk.errors import DeskError
from desk.extensions import db
from desk.tickets import fields
from desk.tickets import queue as ticket_queue
from desk.tickets import services
from desk.tickets.attachments import path_for
from desk.tickets.forms import AssignForm, StaffReplyForm, TicketUpdateForm
from desk.tickets.models import Attachment, KIND_LABELS, STATUS_LABELS, Ticket
from desk.tickets.uploads import from_files
from desk.types import MAX_ID, parse_id

bp = Blueprint("tickets", __name__)


@bp.route("/queue")
@require("queue.view")
def queue():
    visible = visible_queues(current_user)
    args = request.args
    f = ticket_queue.QueueFilter(
        queues=visible,
        queue=args.get("queue") or None,
        status=args.get("status", "open") or None,
        kind=args.get("kind") or None,
        # Someone limited to their own tickets sees nothing else, whatever the filter says.
        assignee="me" if current_user.own_only else args.get("assignee") or None,
        tag=args.get("tag") or None,
        q=args.get("q") or None,
    )
    try:
        f.field = fields.parse_filter(args.get("field"))
    except DeskError as exc:
        flash(exc.message, "error")
    size = current_app.config["QUEUE_PAGE_SIZE"]
    rows, next_cursor = ticket_queue.page(f, current_user, args.get("after"), size)
    next_args = {k: v for k, v in args.items() if k != "after"}
    return render_template(
        "tickets/queue.html", tickets=rows, filters=f, next_url=url_for(".queue", after=next_cursor, **next_args)
        if next_cursor else None, first_url=url_for(".queue", **next_args) if args.get("after") else None,
        counts=ticket_queue.counts_by_queue(visible, current_user.id if current_user.own_only else None),
        statuses=STATUS_LABELS, kinds=KIND_LABELS, staff=active_staff(), args=args,
    )


def refused(exc: DeskError, reference: str):
    """A staff action the services refused, back on the ticket page: the session is rolled
    back (nothing half-done), a 403 stays a 403, anything else is said above the ticket."""
    db.session.rollback()
    if exc.status == 403:
        abort(403)
    flash(exc.message, "error")
    return redirect(url_for("tickets.ticket", reference=reference))


def active_staff() -> list[Staff]:
    return list(db.session.execute(select(Staff).where(Staff.active.is_(True)).order_by(Staff.email)).scalars())


def _ticket_or_404(reference: str) -> Ticket:
    ticket = services.find_ticket(reference)
    # A ticket in a queue this role may not open is indistinguishable from a missing one.
    if ticket is None or not can_see_ticket(current_user, ticket):
        abort(404)
    return ticket


def _render_ticket(ticket, reply_form=None, status=200):
    update_form = TicketUpdateForm(status=ticket.status, priority=ticket.priority, tags=", ".join(ticket.tags))
    assign_form = AssignForm(assignee=str(ticket.assignee_id or ""))
    assign_form.assignee.choices = [SelectChoice("", "— unassigned —")] + [
        SelectChoice(str(s.id), s.label) for s in active_staff()]
    audit = db.session.execute(
        select(AuditEvent).where(AuditEvent.ticket_id == ticket.id).order_by(AuditEvent.id)
    ).scalars().all()
    claim_panel = decide_form = facts_form = None
    if getattr(ticket, "claim", None) is not None:
        from desk.claims import services as claims
        from desk.claims.views import DecideForm, FactsForm

        claim_panel, decide_form = claims.panel(ticket.claim), DecideForm()
        facts_form = FactsForm(target_state=ticket.claim.order.target_state,
                               overlap_elsewhere=ticket.claim.order.overlap_elsewhere)
    account_panel = None
    if getattr(ticket, "account_request", None) is not None:
        from desk.accounts import services as accounts

        account_panel = accounts.panel(ticket.account_request, allows(current_user.role, "customer.view"))
    money_panel = case_panel = None
    if getattr(ticket, "money_request", None) is not None or getattr(ticket, "billing_case", None) is not None:
        from desk.money import chargebacks
        from desk.money import views as money

        money_panel = money.panel(ticket.money_request) if ticket.money_request is not None else None
        case_panel = chargebacks.panel(ticket.billing_case) if ticket.billing_case is not None else None
    abuse_panel = None
    if getattr(ticket, "abuse_case", None) is not None:
        from desk.abuse import views as abuse

        abuse.log_access(ticket.abuse_case, current_user)
        abuse_panel = abuse.panel(ticket.abuse_case)
    privacy_panel = None
    if getattr(ticket, "privacy_request", None) is not None:
        from desk.privacy import views as privacy

        privacy_panel = privacy.panel(ticket.privacy_request)
    panel_card = None
    if ticket.order_ref:
        from desk.panel.views import card

        panel_card = card(ticket)
    from desk.mail import inbound

    kind_fields = fields.fields_for(ticket.kind)
    return render_template(
        "tickets/ticket.html", ticket=ticket, held=inbound.held_for(ticket), abuse_panel=abuse_panel,
        privacy_panel=privacy_panel, reply_form=reply_form or StaffReplyForm(), update_form=update_form,
        assign_form=assign_form, audit=audit, statuses=STATUS_LABELS, kinds=KIND_LABELS,
        claim_panel=claim_panel, decide_form=decide_form, facts_form=facts_form, panel_card=panel_card,
        money_panel=money_panel, case_panel=case_panel, account_panel=account_panel,
        kind_fields=kind_fields, field_values=fields.values_of(ticket) if kind_fields else {},
        tag_suggestions=fields.tag_suggestions(ticket.kind),
    ), status


@bp.route("/tickets/<reference>")
@require("queue.view")
def ticket(reference):
    return _render_ticket(_ticket_or_404(reference))


@bp.route("/tickets/<reference>/reply", methods=["POST"])
@require("ticket.reply")
def reply(reference):
    ticket = _ticket_or_404(reference)
    form = StaffReplyForm()
    if not form.validate_on_submit():
        return _render_ticket(ticket, form, 400)
    try:
        services.staff_reply(ticket, Actor.staff(current_user), form.body.data, staff=current_user, internal=form.internal.data,
                             uploads=from_files(form.attachments.data), status=form.status.data or None)
    except DeskError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _render_ticket(ticket, form, exc.status)
    flash("Internal note added." if form.internal.data else "Reply sent.", "info")
    return redirect(url_for(".ticket", reference=ticket.reference))


@bp.route("/tickets/<reference>/update", methods=["POST"])
@require("ticket.update")
def update(reference):
    ticket = _ticket_or_404(reference)
    form = TicketUpdateForm()
    if not form.validate_on_submit():
        flash("Could not update the ticket: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items()), "error")
        return _render_ticket(ticket, status=400)
    try:
        services.update_ticket(ticket, current_user, status=form.status.data, priority=form.priority.data,
                               tags=form.tags.data or "")
    except DeskError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _render_ticket(ticket, status=exc.status)
    flash("Ticket updated.", "info")
    return redirect(url_for(".ticket", reference=ticket.reference))


@bp.route("/tickets/<reference>/fields", methods=["POST"])
@require("ticket.update")
def set_fields(reference):
    ticket = _ticket_or_404(reference)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        fields.set_values(ticket, current_user, {key[len("field-"):]: value for key, value in request.form.items()
                                                 if key.startswith("field-")})
    except DeskError as exc:
        return refused(exc, reference)
    flash("Fields saved.", "info")
    return redirect(url_for(".ticket", reference=ticket.reference))


@bp.route("/tickets/<reference>/assign", methods=["POST"])
@require("ticket.assign")
def assign(reference):
    ticket = _ticket_or_404(reference)
    form = AssignForm()
    if not form.validate_on_submit():
        return _render_ticket(ticket, status=400)
    value = form.assignee.data or ""
    staff_id = parse_id(value)
    assignee = db.session.get(Staff, staff_id) if staff_id else None
    if value and (assignee is None or not assignee.active):
        flash("No such active staff member.", "error")
        return _render_ticket(ticket, status=400)
    taking_from_other = ticket.assignee_id not in (None, current_user.id)
    giving_to_other = assignee is not None and assignee.id != current_user.id
    if (taking_from_other or giving_to_other) and not allows(current_user.role, "ticket.reassign_others"):
        abort(403)
    try:
        services.assign(ticket, current_user, assignee)
    except DeskError as exc:
        return refused(exc, reference)
    flash(f"Assigned to {assignee.label}." if assignee else "Unassigned.", "info")
    return redirect(url_for(".ticket", reference=ticket.reference))


@bp.route(f"/tickets/<reference>/attachments/<int(max={MAX_ID}):attachment_id>")
@require("queue.view")
def attachment(reference, attachment_id):
    ticket = _ticket_or_404(reference)
    return send_attachment(ticket, attachment_id, include_internal=True)


def send_attachment(ticket, attachment_id, include_internal: bool):
    att = db.session.get(Attachment, attachment_id)
    if att is None or att.ticket_id != ticket.id or (att.message.internal and not include_internal):
        abort(404)
    # Always a download with the sniffed type: an uploaded file is never rendered as a page.
    return send_file(path_for(att.sha256), mimetype=att.content_type, as_attachment=True, download_name=att.filename)
