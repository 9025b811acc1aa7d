"""Pages for money requests: the public billing form, the customer's answer on their
ticket link, staff's decisions on the ticket page, chargeback cases and the fraud flag."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional

from desk.audit.services import Actor, record
from desk.auth.access import require
from desk.auth.roles import allows
from desk.claims.models import Customer
from desk.claims.orders import find_by_email, find_customer
from desk.claims.parse import Fields
from desk.errors import MIN_REASON, DeskError
from desk.extensions import db, limiter
from desk.money import chargebacks, dormancy, requests
from desk.money.models import KIND_LABELS, STATUS_LABELS, BillingCase, MoneyRequest
from desk.policy.money import negative
from desk.policy.clauses import clause
from desk.tickets.public import ticket_for_token
from desk.tickets.views import refused, ticket_or_404
from desk.types import MAX_ID
from flask_babel import gettext, lazy_gettext as _l

bp = Blueprint("money", __name__)


def _public_limit():
    return current_app.config["RATELIMIT_PUBLIC_FORMS"]


# --- the public billing form ---------------------------------------------------------------

class BillingForm(FlaskForm):
    kind = SelectField(_l("What would you like?"), choices=[
        SelectChoice("refund", _l("A refund")), SelectChoice("withdrawal", _l("A withdrawal of my Deposited Funds")),
        SelectChoice("closure", _l("To close my account")),
        SelectChoice("restoration", _l("To restore my frozen balance"))])
    email = EmailField(_l("Your account e-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    login = StringField(_l("Your account login (if several accounts use this e-mail)"),
                        validators=[Optional(), Length(max=120)])
    order = StringField(_l("Order ID (a refund about one order)"), validators=[Optional(), Length(max=64)])
    method = SelectField(_l("Refund to"), choices=[
        SelectChoice("original", _l("My original payment method")),
        SelectChoice("balance", _l("My Balance, as Deposited Funds (needs an order ID)"))])
    amount = StringField(_l("Amount in USD (leave empty for all that is available)"),
                         validators=[Optional(), Length(max=20)])
    description = TextAreaField(_l("Anything we should know"), validators=[Optional(), Length(max=10_000)])


@bp.route("/billing", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
def billing_form():
    """Refund, withdrawal, closure and restoration requests. The figures are not shown here:
    they go to the account's own e-mail, with the link to confirm them."""
    form = BillingForm(kind=request.args.get("kind") if request.method == "GET" else None)
    if not form.validate_on_submit():
        return render_template("money/form.html", form=form, error=None), 400 if form.is_submitted() else 200
    f = Fields({"amount": form.amount.data})
    amount = f.money("amount")
    if f.problems:
        form.amount.errors = ['An amount such as "25.00", or leave it empty.']
        return render_template("money/form.html", form=form, error=None), 400
    customer = find_by_email(form.email.data, form.login.data)
    if customer is None:
        error = ("We could not find one account with that e-mail (and login). Check both; if several accounts "
                 "use this e-mail, give the login too.")
        return render_template("money/form.html", form=form, error=error), 404
    kind = form.kind.data
    ask = requests.Ask(kind=kind, customer=customer.panel_id, description=form.description.data or "",
                       method=form.method.data if kind == "refund" else None,
                       order=(form.order.data or "").strip() or None if kind == "refund" else None,
                       amount=amount if kind in ("refund", "withdrawal") else None)
    try:
        money_request, created = requests.file(ask, Actor("requester", None, customer.email), channel="web")
    except DeskError as exc:
        db.session.rollback()
        return render_template("money/form.html", form=form, error=exc.message), exc.status
    return render_template("money/form_done.html", request=money_request, created=created,
                           kind_label=KIND_LABELS[kind])


# --- the customer's answer, on their ticket link ---------------------------------------------

@bp.route("/t/<token>/money", methods=["POST"])
@limiter.limit(_public_limit)
def requester_answer(token):
    ticket = ticket_for_token(token)
    money_request = ticket.money_request
    if money_request is None:
        abort(404)
    choice = request.form.get("choice")
    actor = Actor("requester", None, ticket.requester_email)
    f = Fields({"amount": request.form.get("amount")})
    shown = f.money("amount")
    try:
        if choice == "cancel":
            requests.withdraw(money_request.id, actor)
            flash(gettext("Your request was cancelled."), "info")
        else:
            requests.confirm(money_request.id, choice, actor, shown)
            flash("Thank you: your request is with our billing team." if choice == "confirm" else
                  "You kept your Balance; nothing was changed.", "info")
    except DeskError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("public.requester_ticket", token=token))


# --- staff -----------------------------------------------------------------------------------

def panel(money_request: MoneyRequest) -> dict:
    """What the staff money panel shows: the figures confirmed, and the figures now."""
    live = None
    if money_request.is_open:
        try:
            live = requests.work_out(money_request.kind, money_request.customer, method=money_request.method,
                                     order_ref=money_request.order_ref, requested=money_request.requested,
                                     request=money_request)
        except DeskError:
            live = None
    rules = money_request.quote.get("rules", [])
    return {
        "request": money_request, "quote": money_request.quote, "live": live.to_dict() if live else None,
        "changed": live is not None and live.amount != money_request.amount and money_request.kind != "restoration",
        "kind_label": KIND_LABELS[money_request.kind], "status_label": STATUS_LABELS[money_request.status],
        "clauses": [clause(r) for r in rules if clause(r)],
        "forfeited": bool(money_request.customer.dormancy and money_request.customer.dormancy.forfeited_at),
    }


STAFF_ACTIONS = {"approve": "money.decide", "decline": "money.decide", "verify": "money.verify",
                 "override": "money.override"}
DONE = {"approve": "Approved; the customer has been answered.", "decline": "Declined; the customer has been told.",
        "verify": "Verification recorded.", "override": "Taken into review; the claim window is lifted for it."}


@bp.route("/tickets/<reference>/money/<any(approve, decline, verify, override):action>", methods=["POST"])
@require("queue.view")
def staff_action(reference, action):
    if not allows(current_user.role, STAFF_ACTIONS[action]):
        abort(403)
    ticket = ticket_or_404(reference)
    if ticket.money_request is None:
        abort(404)
    text = request.form.get("reason", "")
    request_id = ticket.money_request.id
    try:
        if action == "approve":
            requests.approve(request_id, current_user, text)
        elif action == "decline":
            requests.decline(request_id, current_user, text)
        elif action == "verify":
            requests.verify(request_id, current_user, text)
        else:
            requests.override(request_id, current_user, text)
    except DeskError as exc:
        return refused(exc, reference)
    flash(DONE[action], "info")
    return redirect(url_for("tickets.ticket", reference=reference))


@bp.route("/tickets/<reference>/case", methods=["POST"])
@require("billing.chargeback")
def resolve_case(reference):
    ticket = ticket_or_404(reference)
    if ticket.billing_case is None:
        abort(404)
    try:
        chargebacks.resolve(ticket.billing_case.id, current_user, request.form.getlist("actions"),
                            request.form.get("reason", ""))
    except DeskError as exc:
        return refused(exc, reference)
    flash(gettext("Case resolved."), "info")
    return redirect(url_for("tickets.ticket", reference=reference))


@bp.get(f"/tickets/<reference>/case/evidence/<int(max={MAX_ID}):seq>.json")
@require("customer.view")
def case_snapshot(reference, seq):
    from desk.abuse.views import snapshot_download

    ticket = ticket_or_404(reference)
    if ticket.billing_case is None:
        abort(404)
    return snapshot_download(ticket.billing_case, seq)


@bp.route("/customers/<panel_id>/fraud-flag", methods=["POST"])
@require("customer.flag")
def fraud_flag(panel_id):
    customer = find_customer(panel_id)
    if customer is None:
        abort(404)
    wanted = request.form.get("flag") == "on"
    reason = (request.form.get("reason") or "").strip()
    if len(reason) < MIN_REASON:
        flash(f"Say why (at least {MIN_REASON} characters).", "error")
        return redirect(url_for("claims.customer", panel_id=panel_id))
    if customer.fraud_flag != wanted:
        customer.fraud_flag = wanted
        record(Actor.staff(current_user), "customer.fraud_flag", "customer", panel_id, after=wanted, reason=reason,
               rule="terms-18-verification")
        db.session.commit()
    flash("Fraud flag set: payouts and restorations wait for verification." if wanted else "Fraud flag removed.",
          "info")
    return redirect(url_for("claims.customer", panel_id=panel_id))


def customer_money(customer: Customer, balances) -> dict:
    """The money part of the customer page; `balances`: the customer's, as the page has them."""
    money_requests = db.session.execute(select(MoneyRequest).where(MoneyRequest.customer_id == customer.id)
                                        .order_by(MoneyRequest.id.desc()).limit(50)).scalars().all()
    cases = db.session.execute(select(BillingCase).where(BillingCase.customer_id == customer.id)
                               .order_by(BillingCase.id.desc()).limit(20)).scalars().all()
    return {"requests": money_requests, "cases": cases, "owed": negative(balances),
            "dormancy": dormancy.describe(customer), "status_labels": STATUS_LABELS, "kind_labels": KIND_LABELS,
            "verify_above": current_app.config["VERIFICATION_ABOVE"]}
