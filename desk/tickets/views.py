"""Staff pages: the queue and the ticket page."""
from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload
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
from desk.tickets import attachments, merge, presence, saved_views, search, services
from desk.tickets.forms import AssignForm, MergeForm, SplitForm, StaffReplyForm, TicketUpdateForm
from desk.tickets.models import Attachment, KIND_LABELS, STATUS_LABELS, Message, Ticket
from desk.tickets.uploads import from_files
from desk.types import MAX_ID, parse_id

bp = Blueprint("tickets", __name__)


def _filter_from_args(args) -> ticket_queue.QueueFilter:
    """The queue's filter from the query string (lenient: an unknown value matches nothing).
    A search looks at every status unless one is asked for; the plain queue at open tickets."""
    q = args.get("q") or None
    f = ticket_queue.QueueFilter(
        queues=visible_queues(current_user),
        queue=args.get("queue") or None,
        status=(args.get("status") or None) if "status" in args else (None if q else "open"),
        kind=args.get("kind") or None,
        assignee=args.get("assignee") or None,
        tag=args.get("tag") or None,
        q=q,
        sort=args.get("sort") if args.get("sort") in ticket_queue.SORTS else "due",
        field=args.get("field") or None,
    )
    try:
        ticket_queue.with_field(f)
    except DeskError as exc:
        flash(exc.message, "error")
        f.field = None
    return ticket_queue.scoped(f, current_user)


@bp.route("/queue")
@require("queue.view")
def queue():
    view = None
    if request.args.get("view"):
        view = saved_views.find(request.args["view"], current_user)
        if view is None:
            abort(404)
        f = saved_views.to_filter(view, current_user)
    else:
        f = _filter_from_args(request.args)
    return _queue_page(f, view)


def _queue_page(f: ticket_queue.QueueFilter, view=None, status: int = 200, error: str | None = None):
    """The queue (or a search, or a saved view) with the sidebar; `error` said above it."""
    args = request.args
    size = current_app.config["QUEUE_PAGE_SIZE"]
    rows, results, next_cursor = [], None, None
    if f.q:
        try:
            results = search.page(f, current_user, args.get("after"), size)
            next_cursor = results.next_cursor
        except search.SearchError as exc:
            status, error = 400, exc.message
    else:
        rows, next_cursor = ticket_queue.page(f, current_user, args.get("after"), size)
    here = {"view": view.id} if view is not None else {k: v for k, v in args.items() if k not in ("after", "view")}
    return render_template(
        "tickets/queue.html", tickets=rows, results=results, filters=f, view=view, error=error,
        next_url=url_for(".queue", after=next_cursor, **here) if next_cursor else None,
        first_url=url_for(".queue", **here) if args.get("after") else None,
        counts=ticket_queue.counts_by_queue(f.queues, current_user.id if current_user.own_only else None),
        views=saved_views.sidebar(current_user),
        may_rename=view is not None and saved_views.may_rename(view, current_user),
        may_delete=view is not None and saved_views.may_delete(view, current_user),
        statuses=STATUS_LABELS, kinds=KIND_LABELS, sorts=ticket_queue.SORT_LABELS, staff=active_staff(), args=args,
    ), status


@bp.route("/views", methods=["POST"])
@require("queue.view")
def create_view():
    form = request.form
    filters = {name: form.get(name, "") for name in ticket_queue.FILTER_FIELDS}
    try:
        view = saved_views.create(current_user, form.get("name"), filters, shared=form.get("shared") == "y")
    except DeskError as exc:
        db.session.rollback()
        try:
            f = ticket_queue.queue_filter(ticket_queue.checked_filters(filters), visible_queues(current_user))
        except DeskError:
            f = ticket_queue.QueueFilter(queues=visible_queues(current_user))
        f = ticket_queue.scoped(f, current_user)
        return _queue_page(f, status=exc.status, error=exc.message)
    flash(f"Saved the view “{view.name}”" + (", shared with your colleagues." if view.shared else "."), "info")
    return redirect(url_for(".queue", view=view.id))


def _view_or_404(view_id):
    view = saved_views.find(view_id, current_user)
    if view is None:
        abort(404)
    return view


@bp.route(f"/views/<int(max={MAX_ID}):view_id>/rename", methods=["POST"])
@require("queue.view")
def rename_view(view_id):
    view = _view_or_404(view_id)
    try:
        saved_views.rename(view, current_user, request.form.get("name"))
    except DeskError as exc:
        db.session.rollback()
        if exc.status == 403:
            abort(403)
        view = _view_or_404(view_id)
        return _queue_page(saved_views.to_filter(view, current_user), view, status=exc.status, error=exc.message)
    flash("View renamed.", "info")
    return redirect(url_for(".queue", view=view.id))


@bp.route(f"/views/<int(max={MAX_ID}):view_id>/delete", methods=["POST"])
@require("queue.view")
def delete_view(view_id):
    view = _view_or_404(view_id)
    name = view.name
    try:
        saved_views.delete(view, current_user)
    except DeskError as exc:
        db.session.rollback()
        abort(exc.status if exc.status == 403 else 400)
    flash(f"Deleted the view “{name}”.", "info")
    return redirect(url_for(".queue"))


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


# What the ticket page shows of a ticket, loaded with it: the one-to-one panels (a claim, a
# money request, …) joined into the ticket's own SELECT instead of one query each, and each
# message's author with the thread instead of one lazy load per message.
# (A function: the panels are backrefs, on Ticket once the mappers are configured.)
def page_loads() -> tuple:
    return (joinedload(Ticket.claim), joinedload(Ticket.account_request), joinedload(Ticket.money_request),
            joinedload(Ticket.billing_case), joinedload(Ticket.abuse_case), joinedload(Ticket.privacy_request),
            selectinload(Ticket.messages).joinedload(Message.author_staff))


def ticket_or_404(reference: str, *options) -> Ticket:
    ticket = services.find_ticket(reference, *options)
    # A ticket in a queue this role may not open is indistinguishable from a missing one.
    if ticket is None or not can_see_ticket(current_user, ticket):
        abort(404)
    return ticket


def render_ticket(ticket, reply_form=None, status=200, macro_preview=None, merge_form=None):
    """The ticket page; `macro_preview` (desk.macros.services.Preview) puts a macro's reply
    and actions in the reply box."""
    reply_form = reply_form or StaffReplyForm()
    # What the reply is typed against: sending warns if someone writes meanwhile.
    reply_form.seen.data = str(services.latest_public_id(ticket))
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
    from desk.csat import services as csat
    from desk.macros import services as macros
    from desk.mail import inbound
    from desk.mail.outbound import find as find_mail

    kind_fields = fields.fields_for(ticket.kind)
    moves = merge.moves_of(ticket)
    return render_template(
        "tickets/ticket.html", ticket=ticket, held=inbound.held_for(ticket), abuse_panel=abuse_panel,
        privacy_panel=privacy_panel, reply_form=reply_form, update_form=update_form,
        assign_form=assign_form, audit=audit, statuses=STATUS_LABELS, kinds=KIND_LABELS,
        claim_panel=claim_panel, decide_form=decide_form, facts_form=facts_form, panel_card=panel_card,
        money_panel=money_panel, case_panel=case_panel, account_panel=account_panel,
        kind_fields=kind_fields, field_values=fields.values_of(ticket) if kind_fields else {},
        tag_suggestions=fields.tag_suggestions(ticket.kind),
        macros=macros.available(ticket) if allows(current_user.role, "ticket.reply") else [],
        macro_preview=macro_preview, survey=csat.for_ticket(ticket), ack_mail=find_mail(f"ack:{ticket.reference}"),
        present=presence.words(presence.visit(ticket.id, current_user)), moves=moves,
        undoable={m.id for m in moves if merge.can_undo(m) and can_see_ticket(current_user, m.source)
                  and can_see_ticket(current_user, m.target)}, undo_until=merge.undo_until,
        origins=merge.origins(ticket, moves), sla_history=merge.sla_history(ticket, moves), merge_form=merge_form or MergeForm(),
        split_form=SplitForm(), undo_form=FlaskForm(),
    ), status


def form_problems(form) -> str:
    """A form's errors in one line, field by field, for the message above the page."""
    return "; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items())


def _refused_here(ticket, exc: DeskError, **forms):
    """A change the services refused: rolled back, and the ticket page again with the
    reason above it and the refusal's status (a 403 stays a 403)."""
    db.session.rollback()
    if exc.status == 403:
        abort(403)
    flash(exc.message, "error")
    return render_ticket(ticket, status=exc.status, **forms)


@bp.route("/tickets/<reference>")
@require("queue.view")
def ticket(reference):
    ticket = ticket_or_404(reference, *page_loads())
    if ticket.merged_into_id is not None:
        target = merge.final(ticket)
        if can_see_ticket(current_user, target):
            flash(f"{ticket.reference} was merged into {target.reference}.", "info")
            return redirect(url_for(".ticket", reference=target.reference))
    return render_ticket(ticket)


@bp.route("/tickets/<reference>/reply", methods=["POST"])
@require("ticket.reply")
def reply(reference):
    ticket = ticket_or_404(reference)
    form = StaffReplyForm()
    if not form.validate_on_submit():
        return render_ticket(ticket, form, 400)
    seen = form.seen.data or ""
    try:
        services.staff_reply(ticket, Actor.staff(current_user), form.body.data, staff=current_user, internal=form.internal.data,
                             uploads=from_files(form.attachments.data), status=form.status.data or None,
                             seen=0 if seen == "0" else parse_id(seen))
    except DeskError as exc:
        return _refused_here(ticket, exc, reply_form=form)
    flash("Internal note added." if form.internal.data else "Reply sent.", "info")
    return redirect(url_for(".ticket", reference=ticket.reference))


@bp.route("/tickets/<reference>/update", methods=["POST"])
@require("ticket.update")
def update(reference):
    ticket = ticket_or_404(reference)
    form = TicketUpdateForm()
    if not form.validate_on_submit():
        flash("Could not update the ticket: " + form_problems(form), "error")
        return render_ticket(ticket, status=400)
    try:
        services.update_ticket(ticket, current_user, status=form.status.data, priority=form.priority.data,
                               tags=form.tags.data or "")
    except DeskError as exc:
        return _refused_here(ticket, exc)
    flash("Ticket updated.", "info")
    return redirect(url_for(".ticket", reference=ticket.reference))


@bp.route("/tickets/<reference>/fields", methods=["POST"])
@require("ticket.update")
def set_fields(reference):
    ticket = ticket_or_404(reference)
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
    try:
        services.assign(ticket, current_user, assignee)
    except DeskError as exc:
        return refused(exc, reference)
    flash(f"Assigned to {assignee.label}." if assignee else "Unassigned.", "info")
    return redirect(url_for(".ticket", reference=ticket.reference))


@bp.route("/tickets/<reference>/merge", methods=["POST"])
@require("ticket.update")
def merge_ticket(reference):
    ticket = ticket_or_404(reference)
    form = MergeForm()
    if not form.validate_on_submit():
        flash("Could not merge: " + form_problems(form), "error")
        return render_ticket(ticket, status=400, merge_form=form)
    try:
        move = merge.merge_into(ticket, form.target.data, current_user, confirm_parties=form.confirm.data)
    except DeskError as exc:
        return _refused_here(ticket, exc, merge_form=form)
    minutes = current_app.config["MERGE_UNDO_MINUTES"]
    flash(f"{ticket.reference} was merged into {move.target.reference}."
          + (f" You can undo it here for {minutes} minutes." if minutes else ""), "info")
    return redirect(url_for(".ticket", reference=move.target.reference))


@bp.route("/tickets/<reference>/split", methods=["POST"])
@require("ticket.update")
def split(reference):
    ticket = ticket_or_404(reference)
    form = SplitForm()
    if not form.validate_on_submit():
        flash("Could not split: " + form_problems(form), "error")
        return render_ticket(ticket, status=400)
    try:
        new = merge.split(ticket, parse_id(form.message.data), current_user, form.subject.data or "")
    except DeskError as exc:
        return _refused_here(ticket, exc)
    flash(f"The message is now ticket {new.reference}, split from {ticket.reference}.", "info")
    return redirect(url_for(".ticket", reference=new.reference))


@bp.route(f"/tickets/<reference>/moves/<int(max={MAX_ID}):move_id>/undo", methods=["POST"])
@require("ticket.update")
def undo_move(reference, move_id):
    ticket = ticket_or_404(reference)  # (CSRFProtect has checked the form's token)
    try:
        move = merge.find_move(ticket, move_id)
        merge.undo(move, current_user)
    except DeskError as exc:
        return _refused_here(ticket, exc)
    what = "merge" if move.kind == "merge" else "split"
    flash(f"The {what} of {move.source.reference} and {move.target.reference} was undone.", "info")
    return redirect(url_for(".ticket", reference=move.source.reference))


@bp.route("/tickets/<reference>/presence", methods=["GET", "POST"])
@require("queue.view")
def ticket_presence(reference):
    """Who else has this ticket open, as JSON for the page's script; asking marks the asker
    too (POST state=replying while they type). CSRF-checked like every POST."""
    ticket = ticket_or_404(reference)
    state = "replying" if request.method == "POST" and request.form.get("state") == "replying" else None
    others = presence.visit(ticket.id, current_user, state)
    lines = presence.words(others)
    return jsonify({"others": [{**other, "text": line} for other, line in zip(others, lines)]})


@bp.route(f"/tickets/<reference>/attachments/<int(max={MAX_ID}):attachment_id>")
@require("queue.view")
def attachment(reference, attachment_id):
    ticket = ticket_or_404(reference)
    return send_attachment(ticket, attachment_id, staff=True)


def send_attachment(ticket, attachment_id, staff: bool):
    """One of the ticket's files; `staff` also reaches internal notes' files and, with a
    warning on the ticket, files not scanned yet (desk.tickets.attachments.view)."""
    att = db.session.get(Attachment, attachment_id)
    if att is None or att.ticket_id != ticket.id or (att.message.internal and not staff):
        abort(404)
    return attachments.send(att, staff=staff)
