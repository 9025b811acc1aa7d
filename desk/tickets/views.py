"""Staff pages: the queue and the ticket page."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from desk.audit.models import AuditEvent
from desk.audit.services import Actor
from desk.auth.access import can_see_ticket, require
from desk.auth.models import Staff
from desk.auth.roles import allows, queues_for
from desk.errors import DeskError
from desk.extensions import db
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
    visible = queues_for(current_user.role)
    args = request.args
    f = ticket_queue.QueueFilter(
        queues=visible,
        queue=args.get("queue") or None,
        status=args.get("status", "open") or None,
        kind=args.get("kind") or None,
        assignee=args.get("assignee") or None,
        tag=args.get("tag") or None,
        q=args.get("q") or None,
    )
    size = current_app.config["QUEUE_PAGE_SIZE"]
    rows, next_cursor = ticket_queue.page(f, current_user, args.get("after"), size)
    next_args = {k: v for k, v in args.items() if k != "after"}
    return render_template(
        "tickets/queue.html", tickets=rows, filters=f, next_url=url_for(".queue", after=next_cursor, **next_args)
        if next_cursor else None, first_url=url_for(".queue", **next_args) if args.get("after") else None,
        counts=ticket_queue.counts_by_queue(visible),
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


def ticket_or_404(reference: str) -> Ticket:
    ticket = services.find_ticket(reference)
    # A ticket in a queue this role may not open is indistinguishable from a missing one.
    if ticket is None or not can_see_ticket(current_user.role, ticket):
        abort(404)
    return ticket


def render_ticket(ticket, reply_form=None, status=200, macro_preview=None):
    """The ticket page; `macro_preview` (desk.macros.services.Preview) puts a macro's reply
    and actions in the reply box."""
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
    from desk.csat import services as csat
    from desk.macros import services as macros
    from desk.mail import inbound
    from desk.mail.outbound import find as find_mail

    return render_template(
        "tickets/ticket.html", ticket=ticket, held=inbound.held_for(ticket), abuse_panel=abuse_panel, privacy_panel=privacy_panel, reply_form=reply_form or StaffReplyForm(), update_form=update_form,
        assign_form=assign_form, audit=audit, statuses=STATUS_LABELS, kinds=KIND_LABELS,
        claim_panel=claim_panel, decide_form=decide_form, facts_form=facts_form,
        money_panel=money_panel, case_panel=case_panel, account_panel=account_panel,
        macros=macros.available(ticket) if allows(current_user.role, "ticket.reply") else [],
        macro_preview=macro_preview, survey=csat.for_ticket(ticket), ack_mail=find_mail(f"ack:{ticket.reference}"),
    ), status


@bp.route("/tickets/<reference>")
@require("queue.view")
def ticket(reference):
    return render_ticket(ticket_or_404(reference))


@bp.route("/tickets/<reference>/reply", methods=["POST"])
@require("ticket.reply")
def reply(reference):
    ticket = ticket_or_404(reference)
    form = StaffReplyForm()
    if not form.validate_on_submit():
        return render_ticket(ticket, form, 400)
    try:
        services.staff_reply(ticket, Actor.staff(current_user), form.body.data, staff=current_user, internal=form.internal.data,
                             uploads=from_files(form.attachments.data), status=form.status.data or None)
    except DeskError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return render_ticket(ticket, form, exc.status)
    flash("Internal note added." if form.internal.data else "Reply sent.", "info")
    return redirect(url_for(".ticket", reference=ticket.reference))


@bp.route("/tickets/<reference>/update", methods=["POST"])
@require("ticket.update")
def update(reference):
    ticket = ticket_or_404(reference)
    form = TicketUpdateForm()
    if not form.validate_on_submit():
        flash("Could not update the ticket: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items()), "error")
        return render_ticket(ticket, status=400)
    try:
        services.update_ticket(ticket, current_user, status=form.status.data, priority=form.priority.data,
                               tags=form.tags.data or "")
    except DeskError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return render_ticket(ticket, status=exc.status)
    flash("Ticket updated.", "info")
    return redirect(url_for(".ticket", reference=ticket.reference))


@bp.route("/tickets/<reference>/assign", methods=["POST"])
@require("ticket.assign")
def assign(reference):
    ticket = ticket_or_404(reference)
    form = AssignForm()
    if not form.validate_on_submit():
        return render_ticket(ticket, status=400)
    value = form.assignee.data or ""
    staff_id = parse_id(value)
    assignee = db.session.get(Staff, staff_id) if staff_id else None
    if value and (assignee is None or not assignee.active):
        flash("No such active staff member.", "error")
        return render_ticket(ticket, status=400)
    if not services.may_assign(current_user, ticket, assignee):
        abort(403)
    services.assign(ticket, current_user, assignee)
    flash(f"Assigned to {assignee.label}." if assignee else "Unassigned.", "info")
    return redirect(url_for(".ticket", reference=ticket.reference))


@bp.route(f"/tickets/<reference>/attachments/<int(max={MAX_ID}):attachment_id>")
@require("queue.view")
def attachment(reference, attachment_id):
    ticket = ticket_or_404(reference)
    return send_attachment(ticket, attachment_id, include_internal=True)


def send_attachment(ticket, attachment_id, include_internal: bool):
    att = db.session.get(Attachment, attachment_id)
    if att is None or att.ticket_id != ticket.id or (att.message.internal and not include_internal):
        abort(404)
    # Always a download with the sniffed type: an uploaded file is never rendered as a page.
    return send_file(path_for(att.sha256), mimetype=att.content_type, as_attachment=True, download_name=att.filename)
