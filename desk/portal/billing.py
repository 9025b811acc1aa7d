"""The portal's money pages: the Balance split into Deposited Funds and Promotional
Credit, and refund, withdrawal, closure and restoration requests — the figures first,
with every deduction and clause, then the request for exactly those figures (the
customer's confirmation, terms-13-confirm); and the answer to figures awaiting it."""
from flask import abort, flash, redirect, render_template, request, url_for

from desk.claims.ledger import balances_of, customer_entries
from desk.claims.parse import Fields
from desk.errors import DeskError
from desk.extensions import db, limiter
from desk.money import requests as money
from desk.money.dormancy import describe as dormancy
from desk.money.models import KIND_LABELS, KINDS
from desk.policy.money import negative
from desk.portal import services
from desk.portal.forms import AnswerForm, MoneyForm
from desk.portal.sessions import customer_required
from desk.portal.views import _mine_or_404, _public_limit, bp
from flask_babel import gettext, lazy_gettext as _l

RECENT_ENTRIES = 25


@bp.get("/balance")
@customer_required
def balance(customer):
    entries = customer_entries(customer)
    balances = balances_of(entries)
    return render_template("portal/balance.html", customer=customer, balances=balances, owed=negative(balances),
                           entries=list(reversed(entries[-RECENT_ENTRIES:])), requests=services.my_requests(customer),
                           dormancy=dormancy(customer) if customer.status == "frozen" else None,
                           entry_words=services.ENTRY_WORDS, request_words=services.REQUEST_WORDS,
                           kind_labels=KIND_LABELS)


def _signature(form: MoneyForm, kind: str) -> str:
    """What the figures shown were worked out from: changed, they are worked out again."""
    parts = [kind, (form.amount.data or "").strip()]
    if kind == "refund":
        parts += [form.method.data, (form.order.data or "").strip()]
    return "file:" + ":".join(parts)


@bp.route(f"/money/<any({', '.join(KINDS)}):kind>", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
@customer_required
def money_request(customer, kind):
    """Step one works the figures out (nothing is stored); step two asks for exactly those
    figures. When the Balance moved in between, the Terms' new figures are shown instead."""
    # A link from an order's page asks about that order, to the Balance.
    about = request.args.get("order") if request.method == "GET" else None
    form = MoneyForm(order=about, method="balance") if about else MoneyForm()
    quote, error = None, None
    if form.validate_on_submit():
        f = Fields({"amount": form.amount.data, "shown": form.shown.data})
        amount, shown = f.money("amount"), f.money("shown")
        if "amount" in f.problems:
            form.amount.errors = ['An amount such as "25.00", or leave it empty.']
        else:
            try:
                ask = services.money_ask(customer, kind, method=form.method.data, order=form.order.data,
                                         amount=amount, description=form.description.data or "")
                if form.step.data == _signature(form, kind) and "shown" not in f.problems:
                    ask.confirmed_amount = shown
                    filed, created = services.file_money(customer, ask)
                    flash(gettext("Your request is ticket %(reference)s.", reference=filed.ticket.reference)
                          if created else
                          gettext("You already have an open request of this kind (%(kind)s): ticket %(reference)s.",
                                  kind=gettext(KIND_LABELS[kind]), reference=filed.ticket.reference), "info")
                    return redirect(url_for(".ticket", reference=filed.ticket.reference))
                quote = money.quote(ask)
            except money.FiguresChanged as exc:
                db.session.rollback()
                error = exc
                quote = money.quote(ask)
            except DeskError as exc:
                db.session.rollback()
                error = exc
        if quote is not None:
            form.step.data, form.shown.data = _signature(form, kind), str(quote.amount)
    status = error.status if error else (400 if form.is_submitted() and quote is None else 200)
    return render_template("portal/money.html", customer=customer, form=form, kind=kind, label=KIND_LABELS[kind],
                           quote=money.stored_quote(quote) if quote else None, error=error), status


@bp.post("/tickets/<reference>/money")
@limiter.limit(_public_limit)
@customer_required
def money_answer(customer, reference):
    """Confirm the figures, keep the Balance, or cancel the request: the customer's answer
    on their ticket (the same as on the mailed link)."""
    ticket = _mine_or_404(customer, reference)
    if ticket.money_request is None:
        abort(404)
    form = AnswerForm()
    choice = request.form.get("choice")
    f = Fields({"amount": form.amount.data})
    shown = f.money("amount")
    if not form.validate_on_submit() or choice not in ("confirm", "keep_balance", "cancel") or f.problems:
        flash(gettext("That answer could not be read: use the buttons on the page."), "error")
        return redirect(url_for(".ticket", reference=reference))
    try:
        services.answer_money(customer, ticket.money_request, choice, shown)
    except DeskError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash({"confirm": "Thank you: your request is with our billing team.",
               "keep_balance": "You kept your Balance; nothing was changed.",
               "cancel": "Your request was cancelled."}[choice], "info")
    return redirect(url_for(".ticket", reference=reference))

