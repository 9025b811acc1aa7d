"""Staff pages for claims, customers and returns; the customer's claim form."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, EmailField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from sqlalchemy import select
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

from desk.audit.services import Actor
from desk.auth.access import require
from desk.claims import ledger, orders, replies, services
from desk.claims.models import TARGET_STATES, Order
from desk.errors import DeskError
from desk.extensions import db, limiter
from desk import panel
from desk.abuse.views import customer_section
from desk.accounts.services import flags as account_flags
from desk.money.views import customer_money
from desk.tickets import services as tickets
from desk.tickets.links import make_token
from desk.tickets.uploads import from_files
from desk.tickets.views import form_problems, refused, ticket_or_404
from desk.i18n import speaking
from desk.types import parse_id
from flask_babel import gettext, lazy_gettext as _l

bp = Blueprint("claims", __name__)


class DecideForm(FlaskForm):
    outcome = HiddenField()
    reason = TextAreaField(_l("Reason (required to go against the decision; internal)"),
                           validators=[Optional(), Length(max=2000)])
    note = TextAreaField(_l("Message to the customer (optional, added to the reply)"),
                         validators=[Optional(), Length(max=5000)])


class FactsForm(FlaskForm):
    target_state = SelectField(_l("Target"), choices=[SelectChoice(s, s.replace("_", " ")) for s in TARGET_STATES])
    overlap_elsewhere = BooleanField(_l("The customer ran an overlapping order elsewhere on this link"))
    facts_reason = TextAreaField(_l("How you know (internal)"), validators=[Length(max=2000)])


@bp.route("/tickets/<reference>/claim/facts", methods=["POST"])
@require("claim.decide")
def record_facts(reference):
    ticket = _claim_ticket_or_404(reference)
    form = FactsForm()
    if not form.validate_on_submit():
        flash("Could not record the facts: " + form_problems(form), "error")
        return redirect(url_for("tickets.ticket", reference=reference))
    try:
        services.record_facts(ticket.claim, current_user, target_state=form.target_state.data,
                              overlap_elsewhere=form.overlap_elsewhere.data, reason=form.facts_reason.data or "")
    except DeskError as exc:
        return refused(exc, reference)
    flash(f"Facts recorded; the Terms now say: {ticket.claim.decision.replace('_', ' ')}.", "info")
    return redirect(url_for("tickets.ticket", reference=reference))


def _claim_ticket_or_404(reference):
    ticket = ticket_or_404(reference)
    if ticket.claim is None:
        abort(404)
    return ticket


@bp.route("/tickets/<reference>/claim", methods=["POST"])
@require("claim.decide")
def decide(reference):
    ticket = _claim_ticket_or_404(reference)
    form = DecideForm()
    if not form.validate_on_submit() or form.outcome.data not in ("accepted", "rejected"):
        flash(gettext("Choose accept or reject."), "error")
        return redirect(url_for("tickets.ticket", reference=reference))
    claim = ticket.claim
    try:
        # The decision, the panel call it calls for and the reply commit together (staff_reply
        # commits): never one without the others.
        call = services.decide(claim, current_user, form.outcome.data, form.reason.data or "", commit=False)
        with speaking(ticket):  # in the customer's language; the agent's note stays as written
            body = replies.compose(claim, form.outcome.data, form.note.data or "",
                                   panel_action=call.action if call else None)
        # Handed to the panel, the ticket waits for it (on hold) and is resolved when the panel is done.
        tickets.staff_reply(ticket, Actor.staff(current_user), body, internal=False,
                            status="on_hold" if call else "resolved", staff=current_user)
    except DeskError as exc:
        return refused(exc, reference)
    flash(f"Claim {form.outcome.data}; the customer has been answered." + _panel_note(claim, call), "info")
    return redirect(url_for("tickets.ticket", reference=reference))


def _panel_note(claim, call) -> str:
    if call is not None:
        return (f" The panel has been asked to {call.action} order {call.order_ref}; the ticket is resolved when "
                "it is done.")
    if claim.status == "accepted" and claim.kind in ("refill", "cancel") and not panel.enabled():
        return f" Panel integration is off: {claim.kind} order {claim.order.panel_id} on the panel by hand."
    return ""


@bp.route("/customers/<panel_id>")
@require("customer.view")
def customer(panel_id):
    found = orders.find_customer(panel_id)
    if found is None:
        abort(404)
    entries = ledger.customer_entries(found)
    customer_orders = db.session.execute(
        select(Order).where(Order.customer_id == found.id).order_by(Order.created_at.desc()).limit(200)
    ).scalars().all()
    balances = ledger.balances_of(entries)
    return render_template("claims/customer.html", customer=found, orders=customer_orders, entries=entries,
                           balances=balances, money=customer_money(found, balances), flags=account_flags(found),
                           moderation=customer_section(found, current_user.role))


@bp.route("/claims/returns")
@require("customer.view")
def returns():
    after = parse_id(request.args.get("after")) or 0
    rows = services.returns_check(limit=100, after_id=after)
    next_after = rows[-1][0].id if len(rows) == 100 else None
    return render_template("claims/returns.html", rows=rows, next_after=next_after)


class ClaimForm(FlaskForm):
    order = StringField(_l("Order ID"), validators=[DataRequired(), Length(max=64)])
    email = EmailField(_l("Your account e-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    kind = SelectField(_l("What is wrong?"), choices=[SelectChoice(k, _l(v)) for k, v in services.CUSTOMER_KIND_LABELS.items()])
    current_count = IntegerField(_l("Current count on the page (for refills)"), validators=[Optional(), NumberRange(min=0)])
    description = TextAreaField(_l("Describe the problem"), validators=[Optional(), Length(max=10_000)])
    attachments = MultipleFileField(_l("Screenshots"))
    step = HiddenField(default="check")


def _public_limit():
    from flask import current_app

    return current_app.config["RATELIMIT_PUBLIC_FORMS"]


@bp.route("/claim", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
def claim_form():
    """A claim bound to one order. The first step shows the Terms' decision; the second
    files it. The order must belong to the account e-mail given."""
    form = ClaimForm()
    if not form.validate_on_submit():
        return render_template("claims/claim_form.html", form=form, decision=None, error=None), (
            400 if form.is_submitted() else 200)
    order = orders.find_order(form.order.data.strip())
    owner = order.customer.email if order and order.customer else None
    if order is None or not owner or owner.lower() != form.email.data.strip().lower():
        # One answer for "no such order" and "not yours": order ids are not to be probed.
        error = "We could not find that order for that e-mail address. Check both and try again."
        return render_template("claims/claim_form.html", form=form, decision=None, error=error), 404
    decision = services.evaluate(order, form.kind.data, form.current_count.data)
    if form.step.data != "file":
        form.step.data = "file"
        return render_template("claims/claim_form.html", form=form, decision=decision, error=None)
    try:
        claim, created = services.file_claim(
            order, form.kind.data, form.current_count.data, Actor("requester", None, form.email.data),
            description=form.description.data or "", requester_email=form.email.data, channel="web",
            uploads=from_files(form.attachments.data))
    except DeskError as exc:
        db.session.rollback()
        return render_template("claims/claim_form.html", form=form, decision=decision, error=exc.message), exc.status
    return render_template("claims/claim_done.html", claim=claim, created=created,
                           link=url_for("public.requester_ticket", token=make_token(claim.ticket)))
