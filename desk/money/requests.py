"""Refund, withdrawal, closure and restoration requests (Terms §13–§15, §18, §30).

The flow: the customer asks → the figures are worked out from the ledger (desk.policy)
and shown → the customer confirms them or keeps the Balance → verification where the
amount or a fraud flag calls for it → staff approve or decline (discretionary; a reason
to decline) → the ledger entries are written. The figures are worked out again at each
step: when they changed since the customer saw them, the customer is asked again.

Each request rides on a ticket in the Billing queue; every automated step is a message
on it naming its clause. Callers own nothing: these functions commit.
"""
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from desk import jobs, pagination
from desk.abuse.log import open_cases_naming
from desk.audit.services import SYSTEM, Actor, record
from desk.auth.roles import allows
from desk.claims.ledger import money_lines
from desk.claims.models import Claim, Customer, LedgerEntry, Order
from desk.claims.orders import customer_or_404, find_order
from desk.claims.parse import Fields
from desk.claims.services import facts, stored_reasons
from desk.errors import DeskError, NotFound, ValidationError, require_reason
from desk.extensions import db, for_update, one_at_a_time
from desk.i18n import DEFAULT, figure, filing_locale, in_locale, say, speaking
from desk.money.models import KIND_LABELS, KINDS, OPEN_STATUSES, BillingCase, DormancyState, MoneyRequest
from desk.policy import dormancy as dormancy_policy
from desk.policy import money as policy
from desk.policy.claims import ELIGIBLE, NEEDS_REVIEW, REJECTED, Reason, said
from desk.policy.clauses import clause
from desk.policy.ledger import ZERO, balances
from desk.policy.words import N_, Words
from desk.policy.words import stored as stored_words
from desk.tickets import services as tickets
from desk.tickets.models import OPEN_STATUSES as OPEN_TICKET, Ticket
from desk.types import utcnow
from desk.webhooks import services as webhooks



@dataclass
class Ask:
    """What a customer asks for."""

    kind: str
    customer: str  # the panel's customer id
    method: str | None = None  # refunds: balance, original
    order: str | None = None
    amount: Decimal | None = None  # None: all that is available
    description: str = ""
    requester_email: str | None = None
    confirmed_amount: Decimal | None = None  # the figure the customer was shown and accepted


def parse_ask(kind: str, body: dict) -> Ask:
    """An Ask from a JSON body; one ValidationError lists every problem."""
    f = Fields(body)
    ask = Ask(
        kind=kind,
        customer=f.string("customer", required=True, max_len=64),
        method=f.choice("method", policy.METHODS, required=kind == "refund") if kind == "refund" else None,
        order=f.string("order", max_len=64) if kind == "refund" else None,
        amount=f.money("amount") if kind in ("refund", "withdrawal") else None,
        description=f.string("description", max_len=10_000) or "",
        requester_email=f.string("requester_email", max_len=254),
        confirmed_amount=f.money("confirmed_amount"),
    )
    check_ask(ask, f.problems)
    return ask


def check_ask(ask: Ask, problems: dict | None = None) -> Ask:
    problems = dict(problems or {})
    if ask.kind not in KINDS:
        problems["kind"] = f"one of {', '.join(KINDS)}"
    if ask.amount is not None and ask.amount <= 0:
        problems["amount"] = "more than 0.00 (leave it out to ask for all that is available)"
    if ask.kind == "refund" and ask.method == "balance" and not ask.order:
        problems["order"] = ("required for a refund to the Balance: Deposited Funds already in the Balance need no "
                             "refund to it")
    if problems:
        raise ValidationError("The request has problems: " + "; ".join(f"{name}: {text}" for name, text
                                                                       in sorted(problems.items())) + ".", problems)
    return ask


def _order_of(customer: Customer, order_ref: str) -> Order:
    order = find_order(order_ref)
    if order is None or order.customer_id != customer.id:
        # One answer for "no such order" and "not this customer's": order ids are not to be probed.
        raise NotFound(f"No order {order_ref} is known for customer {customer.panel_id}.",
                       {"order": "not found for this customer"})
    return order


def settings() -> dict:
    config = current_app.config
    return {"rate": config["WITHDRAWAL_FEE_RATE"], "verify_above": config["VERIFICATION_ABOVE"],
            "confirm_above": config["REFUND_CONFIRM_ABOVE"], "methods": config["PAYOUT_METHODS"]}


# --- the figures ---------------------------------------------------------------------------

def _account_refusal(kind: str, customer: Customer) -> Reason | None:
    if customer.status == "frozen" and kind != "restoration":
        return said("terms-30-dormancy", REJECTED,
                    N_("The Balance is frozen after 12 months without activity: ask for its restoration first."))
    if customer.status == "closed":
        return said("terms-15-closure", REJECTED, N_("The account is closed."))
    return None


def work_out(kind: str, customer: Customer, *, method=None, order_ref=None, requested=None, now=None,
             request: MoneyRequest | None = None) -> policy.Quote:
    """The Terms' figures for a request, now. `request`: the request being worked out again
    (its fee rate and a lifted window are its own)."""
    now = now or utcnow()
    conf = settings()
    refused = _account_refusal(kind, customer)
    if refused is not None:
        return policy.Quote(kind=kind, decision=REJECTED, reasons=(refused,), order=order_ref)
    rate = request.fee_rate if request is not None and request.fee_rate is not None else conf["rate"]
    lines = money_lines(customer)
    if request is not None:
        # Worked out again as when it was asked: its own entries (the fee charged when the
        # customer confirmed) are not money it can take from.
        own = f"desk:mr{request.id}:"
        lines = [line for line in lines if not line.id.startswith(own)]
    if kind == "refund":
        order = _order_of(customer, order_ref) if order_ref else None
        return policy.refund_quote(lines, method=method, requested=requested, now=now,
                                   order=facts(order) if order else None,
                                   charge_deposited=order.charge_deposited if order else None,
                                   confirm_threshold=conf["confirm_above"],
                                   window_lifted=bool(request is not None and request.override_reason),
                                   payout_methods=conf["methods"])
    if kind == "withdrawal":
        return policy.withdrawal_quote(lines, rate=rate, requested=requested, verify_above=conf["verify_above"],
                                       fraud_flag=customer.fraud_flag, payout_methods=conf["methods"])
    if kind == "closure":
        return policy.closure_quote(lines, rate=rate, verify_above=conf["verify_above"],
                                    fraud_flag=customer.fraud_flag, blockers=closure_blockers(customer, request),
                                    payout_methods=conf["methods"])
    # A restoration is decided by the dates when it was asked for: a request in time stays in
    # time while staff look at it (the forfeiture waits meanwhile).
    asked = request.created_at if request is not None else now
    return restoration_quote(customer, lines, asked, conf["verify_above"])


def restoration_quote(customer: Customer, lines, now: datetime, verify_above: Decimal) -> policy.Quote:
    """terms-30-dormancy decides by the freeze and forfeiture dates; terms-18-verification
    holds a large restoration for verification."""
    state = customer.dormancy
    reason = dormancy_policy.restoration(dormancy_facts(customer), now)
    bal = balances(lines)
    amount = (state.forfeited_amount or ZERO) if state is not None and state.forfeited_at else policy.withdrawable(bal)
    reasons = [reason]
    check = policy.verification(amount, verify_above, customer.fraud_flag, "restoration") \
        if reason.outcome != REJECTED else None
    if check:
        reasons.append(check)
    decision = REJECTED if reason.outcome == REJECTED else (NEEDS_REVIEW if check or reason.outcome == NEEDS_REVIEW
                                                             else ELIGIBLE)
    return policy.Quote(kind="restoration", decision=decision, reasons=tuple(reasons), requested=amount,
                        available_deposited=policy.withdrawable(bal), amount=amount,
                        verification_required=check is not None)


def dormancy_facts(customer: Customer) -> dormancy_policy.Facts:
    state = customer.dormancy or DormancyState()
    restoring = db.session.execute(select(MoneyRequest.id).where(
        MoneyRequest.customer_id == customer.id, MoneyRequest.kind == "restoration",
        MoneyRequest.status.in_(OPEN_STATUSES))).first() is not None
    return dormancy_policy.Facts(
        status=customer.status, last_active_at=customer.last_active_at, email_verified=customer.email_verified,
        freeze_notice_at=state.freeze_notice_at, notice_basis=state.notice_basis, frozen_at=state.frozen_at,
        deposited_at_freeze=state.deposited_at_freeze, forfeit_notice_at=state.forfeit_notice_at,
        forfeited_at=state.forfeited_at, restoration_open=restoring, restored_at=state.restored_at)


def closure_blockers(customer: Customer, request: MoneyRequest | None = None) -> list[policy.Blocker]:
    """terms-15-closure: what holds back the release of the Balance, each named."""
    found = []
    for case in db.session.execute(select(BillingCase).where(BillingCase.customer_id == customer.id,
                                                             BillingCase.status == "open")).scalars():
        found.append(policy.blocker("chargeback", "chargeback", case=case.ticket.reference))
    others = db.session.execute(select(MoneyRequest).where(
        MoneyRequest.customer_id == customer.id, MoneyRequest.kind == "refund",
        MoneyRequest.status.in_(OPEN_STATUSES))).scalars()
    for other in others:
        found.append(policy.blocker("dispute", "refund", request=other.ticket.reference))
    claims = db.session.execute(select(Claim).join(Order, Order.id == Claim.order_id).where(
        Order.customer_id == customer.id, Claim.status == "open")).scalars()
    for open_claim in claims:
        found.append(policy.blocker("dispute", "claim", claim=open_claim.ticket.reference,
                                    order=open_claim.order.panel_id))
    abuse = db.session.execute(select(Ticket.id).where(
        Ticket.customer_id == customer.id, Ticket.kind.in_(("abuse", "rights")),
        Ticket.status.in_(OPEN_TICKET))).first()
    if abuse is not None or open_cases_naming(customer.panel_id):
        found.append(policy.blocker("abuse", "abuse"))
    if request is not None and request.verification_required and request.verified_at is None:
        found.append(policy.blocker("verification", "verification"))
    return found


def stored_quote(q: policy.Quote) -> dict:
    """A quote as a request keeps it: with each reason's message id and figures, as a claim
    keeps its reasons, so the customer later reads it in their language (desk.i18n.say)."""
    body = {**q.to_dict(), "reasons": stored_reasons(q)}
    for row, d in zip(body["deductions"], q.deductions):
        if d.words:
            row["words"] = [stored_words(w) for w in d.words]
    return body


def quote(ask: Ask, now: datetime | None = None) -> policy.Quote:
    """The figures the customer would be shown; nothing is stored."""
    check_ask(ask)
    customer = customer_or_404(ask.customer)
    return work_out(ask.kind, customer, method=ask.method, order_ref=ask.order, requested=ask.amount, now=now)


# --- what the customer is told -----------------------------------------------------------

def figures_text(q: policy.Quote) -> str:
    """The figures as lines of plain text, for messages and e-mails, in the language in
    force (desk.i18n.speaking) with its way of writing amounts."""
    lines = []
    if q.kind in ("refund", "withdrawal", "closure") and q.requested:
        lines.append(gettext("Requested: %(amount)s of Deposited Funds", amount=figure(q.requested)))
        for d in q.deductions:
            lines.append("  " + gettext("minus %(amount)s: %(what)s", amount=figure(d.amount),
                                        what=say(d, figures=True)))
        lines.append(gettext("You receive: %(amount)s to your Balance as Deposited Funds", amount=figure(q.amount))
                     if q.method == "balance" and q.kind == "refund" else
                     gettext("You receive: %(amount)s to your original payment method", amount=figure(q.amount)))
    if q.kind == "closure" and q.forfeited_promotional:
        lines.append(gettext("Promotional Credit forfeited: %(amount)s", amount=figure(q.forfeited_promotional)))
    if q.kind == "restoration" and q.amount:
        lines.append(gettext("Deposited Funds concerned: %(amount)s", amount=figure(q.amount)))
    return "\n".join(lines)


def explain(q: policy.Quote) -> str:
    """Figures, the reason of each rule with its rule id, and the clauses quoted (the Terms'
    own English words, as the help center quotes them)."""
    figures = figures_text(q)
    parts = [figures] if figures else []
    parts.append("\n".join(f"- {say(r, figures=True)} ({r.rule})" for r in q.reasons))
    quoted = [clause(rule) for rule in q.rules if clause(rule)]
    if quoted:
        parts.append("\n".join(f"{title}: \u201c{words}\u201d" for title, words in quoted))
    return "\n\n".join(parts)


def _subject(kind: str, q: policy.Quote, order_ref: str | None) -> str:
    """The request's ticket subject, in the language being spoken (the customer's, at filing)."""
    if kind != "refund":
        return gettext(KIND_LABELS[kind])
    if q.method == "balance":
        return (gettext("Refund to the Balance: order %(order)s", order=order_ref) if order_ref
                else gettext("Refund to the Balance"))
    return (gettext("Refund to the payment method: order %(order)s", order=order_ref) if order_ref
            else gettext("Refund to the payment method"))


# What a customer reads when staff decline their request, one sentence a kind (the kind's
# name alone would not decline well in every language); the staff member's reason follows.
DECLINED = {
    "refund": N_("We are sorry: your refund request was declined."),
    "withdrawal": N_("We are sorry: your withdrawal request was declined."),
    "closure": N_("We are sorry: your account closure request was declined."),
    "restoration": N_("We are sorry: your request to restore your frozen balance was declined."),
}


# --- filing ----------------------------------------------------------------------------------

def open_key(kind: str, customer: Customer, order_ref: str | None) -> str:
    """One open request per customer and kind (refunds: per order, or of the Balance)."""
    return f"{kind}:{customer.panel_id}" + (f":{order_ref or '*'}" if kind == "refund" else "")


def requests_page(customer: Customer | None, cursor: str | None, size: int,
                  scope=None) -> tuple[list[MoneyRequest], str | None]:
    """One page of money requests — one customer's, or all — newest first, and the next
    page's cursor. Keyset on the id (the primary key; with ix_money_requests_customer_id).
    `scope`: a SQL condition on their tickets (a staff member's, desk.auth.access)."""
    query = select(MoneyRequest).options(selectinload(MoneyRequest.ticket), selectinload(MoneyRequest.customer))
    if customer is not None:
        query = query.where(MoneyRequest.customer_id == customer.id)
    if scope is not None:
        query = query.where(MoneyRequest.ticket_id.in_(select(Ticket.id).where(scope)))
    return pagination.page(query, (MoneyRequest.id,), (int,), cursor, size, "money requests")


def find_open(key: str) -> MoneyRequest | None:
    return db.session.execute(select(MoneyRequest).where(MoneyRequest.open_key == key)).scalar_one_or_none()


class FiguresChanged(DeskError):
    """The customer accepted figures that are no longer the Terms' (the Balance moved)."""

    status = 409
    code = "figures_changed"


def file(ask: Ask, actor: Actor, channel: str = "api", now: datetime | None = None) -> tuple[MoneyRequest, bool]:
    """File a request on its ticket; (request, created). An open request for the same thing
    is returned instead of a second one, even when two arrive at once."""
    check_ask(ask)
    now = now or utcnow()
    customer = customer_or_404(ask.customer)
    _customer_money_held(customer.id)
    key = open_key(ask.kind, customer, ask.order)
    existing = find_open(key)
    if existing is not None:
        return existing, False
    q = work_out(ask.kind, customer, method=ask.method, order_ref=ask.order, requested=ask.amount, now=now)
    confirmed = ask.confirmed_amount is not None
    if confirmed and q.decision != REJECTED and ask.confirmed_amount != q.amount:
        raise FiguresChanged(f"The figures are not the ones shown: the Terms now give {q.amount:,.2f}, not "
                             f"{ask.confirmed_amount:,.2f}. Quote again and show the customer the new figures.",
                             {"amount": str(q.amount)})
    email = ask.requester_email or customer.email
    if not email:
        raise ValidationError("The customer has no e-mail on record; send requester_email.",
                              {"requester_email": "required"})
    # Written in the customer's language, as the ticket will be (desk.tickets records it):
    # the portal shows them this subject and, without their own words, this first message.
    with in_locale(filing_locale(customer) or DEFAULT):
        subject = _subject(ask.kind, q, ask.order)
        body = ask.description.strip() or gettext("%(subject)s asked for by customer %(customer)s.",
                                                  subject=subject, customer=customer.panel_id)
    data = tickets.NewTicket(subject=subject, body=body, requester_email=email,
                             kind=ask.kind, channel=channel, customer=customer.panel_id, order=ask.order)
    request = MoneyRequest(customer=customer, kind=ask.kind, method=ask.method, order_ref=ask.order,
                           requested=ask.amount, open_key=key, status="awaiting_confirmation",
                           decision=q.decision, quote=stored_quote(q), amount=q.amount,
                           fee_rate=q.fee_rate, verification_required=q.verification_required, created_at=now)

    def attach(ticket):
        request.ticket = ticket
        db.session.add(request)
        db.session.flush()
        record(actor, "money.requested", "money_request", request.id, ticket_id=ticket.id, kind=ask.kind,
               decision=q.decision, rules=q.rules, amount=str(q.amount))
        _advance(request, q, now, confirmed=confirmed or not q.confirmation_required, actor=actor, filed=True)

    try:
        tickets.create_ticket(data, actor, attach=attach)
    except IntegrityError:
        db.session.rollback()
        existing = find_open(key)  # the twin filed at the same moment won
        if existing is None:
            raise
        return existing, False
    return request, True


def _advance(request: MoneyRequest, q: policy.Quote, now: datetime, *, confirmed: bool, actor: Actor,
             filed: bool = False) -> None:
    """Move a new or re-worked request on as far as the figures let it, and tell the customer."""
    request.quote, request.decision, request.amount = stored_quote(q), q.decision, q.amount
    request.verification_required = q.verification_required
    ticket = request.ticket
    if q.decision == REJECTED:
        _close(request, "rejected")
        with speaking(ticket):
            told = gettext("Under the Terms this request cannot go ahead.") + "\n\n" + explain(q)
        tickets.system_reply(ticket, told, status="resolved")
        record(SYSTEM, "money.rejected", "money_request", request.id, ticket_id=ticket.id, rules=q.rules)
        return
    if not confirmed:
        request.status = "awaiting_confirmation"
        with speaking(ticket):
            told = gettext("Here are the figures of your request. Nothing happens until you confirm them; you may "
                           "also keep your Balance as it is. Open the link below to confirm or keep your "
                           "Balance.") + "\n\n" + explain(q)
        tickets.system_reply(ticket, told, status="waiting")
        return
    request.confirmed_at = request.confirmed_at or now
    _charge_fee(request, q, now, actor)
    if q.verification_required and request.verified_at is None:
        request.status = "awaiting_verification"
        with speaking(ticket):
            told = gettext("Thank you. Before we can go ahead we need to verify your identity and payment method; "
                           "support will contact you.") + "\n\n" + explain(q)
        tickets.system_reply(ticket, told, status="open")
    else:
        request.status = "pending_review"
        with speaking(ticket):
            text = (gettext("Your request is with our billing team for review.")
                    if filed and not q.confirmation_required else
                    gettext("Your request is with our billing team for review. Thank you for confirming."))
            told = f"{text}\n\n{explain(q)}"
        tickets.system_reply(ticket, told, status="open")


def _close(request: MoneyRequest, status: str) -> None:
    request.status = status
    request.open_key = None


def _charge_fee(request: MoneyRequest, q: policy.Quote, now: datetime, actor: Actor) -> None:
    """terms-14-withdrawal: the processing fee applies once the customer confirmed the
    request at the rate shown; an order from Deposited Funds while it is pending does not
    give it back (terms-14-pending-order)."""
    if request.kind not in ("withdrawal", "closure") or request.fee_charged:
        return
    fee = next((d.amount for d in q.deductions if d.kind == "withdrawal_fee"), ZERO)
    if fee > 0:
        _post(request, "fee", [("withdrawal_fee", fee, "deposited", f"terms-14-withdrawal:rate {q.fee_rate}")],
              now, actor)
        request.fee_charged = fee


def _post(request: MoneyRequest, step: str, entries, now: datetime, actor: Actor) -> list[LedgerEntry]:
    """Write the desk's own ledger entries for a request's step. Their ids are fixed by
    request and step, so the same step twice is refused by the unique index."""
    rows = []
    for i, (kind, amount, funding, source) in enumerate(entries):
        rows.append(LedgerEntry(panel_id=f"desk:mr{request.id}:{step}:{i}", customer_id=request.customer_id,
                                kind=kind, amount=amount, funding=funding, order_ref=request.order_ref,
                                source=source, method="desk", at=now))
    db.session.add_all(rows)
    db.session.flush()
    record(actor, "ledger.stored", "ledger", rows[0].panel_id if rows else step, ticket_id=request.ticket_id,
           count=len(rows), step=step, entries=[[r.kind, str(r.amount), r.funding] for r in rows])
    return rows


# The first argument of pg_advisory_xact_lock(int, int) for a customer's money; any
# constant no other lock in the desk uses.
MONEY_LOCK = 40013


def _customer_money_held(customer_id: int) -> None:
    """Every step that reads a customer's Balance to decide, or writes to it, holds the
    customer's money until its commit. Without it two approvals at the same instant (a
    withdrawal and a refund, each confirmed for the whole of Deposited Funds) each worked
    out their figures from the Balance before the other's entries and both paid out: the
    request's own row lock keeps out only a second decision on the same request."""
    one_at_a_time(MONEY_LOCK, Customer, customer_id)


def locked(request_id: int) -> MoneyRequest:
    """The request, its row locked until the commit (PostgreSQL), so two decisions on it
    at once are one after the other; the loser sees the winner's status. Its customer's
    money is held first (always in that order: customer, then request)."""
    customer_id = db.session.execute(select(MoneyRequest.customer_id).where(MoneyRequest.id == request_id)) \
        .scalar_one_or_none()
    if customer_id is None:
        raise NotFound("No such request.")
    _customer_money_held(customer_id)
    request = db.session.execute(for_update(select(MoneyRequest).where(MoneyRequest.id == request_id))) \
        .scalar_one_or_none()
    if request is None:
        raise NotFound("No such request.")
    return request


def _expect(request: MoneyRequest, *statuses: str) -> None:
    if request.status not in statuses:
        db.session.rollback()
        raise DeskError(f"This request is {request.status.replace('_', ' ')}: that step is not open.",
                        code="wrong_status", status=409)


def _again(request: MoneyRequest, now: datetime) -> policy.Quote:
    return work_out(request.kind, request.customer, method=request.method, order_ref=request.order_ref,
                    requested=request.requested, now=now, request=request)


# --- the customer's answer ----------------------------------------------------------------

def confirm(request_id: int, choice: str, actor: Actor, shown: Decimal | None = None,
            now: datetime | None = None) -> MoneyRequest:
    """The customer confirms the figures or keeps the Balance (terms-13-confirm). The
    figures are worked out again: if they moved since the customer saw them, the new ones
    are shown and the customer is asked again."""
    if choice not in ("confirm", "keep_balance"):
        raise ValidationError("Choose confirm or keep_balance.", {"choice": "confirm or keep_balance"})
    now = now or utcnow()
    request = locked(request_id)
    _expect(request, "awaiting_confirmation")
    if choice == "keep_balance":
        _close(request, "kept_balance")
        with speaking(request.ticket):
            told = gettext("You chose to keep your Balance: nothing was changed, and this request is closed.")
        tickets.system_reply(request.ticket, told, status="resolved")
        record(actor, "money.kept_balance", "money_request", request.id, ticket_id=request.ticket_id)
        db.session.commit()
        jobs.dispatch()
        return request
    q = _again(request, now)
    seen = request.amount if shown is None else shown
    if q.decision != REJECTED and q.amount != seen:
        _advance(request, q, now, confirmed=False, actor=actor)
        db.session.commit()
        jobs.dispatch()
        raise FiguresChanged(f"The figures changed since they were shown ({seen:,.2f} → {q.amount:,.2f}): "
                             "check the new figures and confirm again.", {"amount": str(q.amount)})
    record(actor, "money.confirmed", "money_request", request.id, ticket_id=request.ticket_id, amount=str(q.amount))
    _advance(request, q, now, confirmed=True, actor=actor)
    db.session.commit()
    jobs.dispatch()
    return request


def withdraw(request_id: int, actor: Actor, now: datetime | None = None) -> MoneyRequest:
    """The customer takes back a request that is not decided yet. A withdrawal fee already
    applied stays charged (terms-14-pending-order: it is non-refundable)."""
    request = locked(request_id)
    _expect(request, *OPEN_STATUSES)
    _close(request, "cancelled")
    fee = request.fee_charged or ZERO
    with speaking(request.ticket):
        told = gettext("You cancelled this request; nothing more will happen.")
        if fee:
            told += " " + gettext("The processing fee of %(fee)s already applied is not returned (%(rule)s).",
                                  fee=figure(fee), rule="terms-14-pending-order")
    tickets.system_reply(request.ticket, told, status="resolved")
    record(actor, "money.cancelled", "money_request", request.id, ticket_id=request.ticket_id, by="customer")
    db.session.commit()
    jobs.dispatch()
    return request


# --- staff ---------------------------------------------------------------------------------

def verify(request_id: int, staff, note: str, now: datetime | None = None) -> MoneyRequest:
    """terms-18-verification: staff record how identity and payment method were verified."""
    note = require_reason(note, "Verification")
    now = now or utcnow()
    request = locked(request_id)
    _expect(request, "awaiting_verification")
    request.verified_at, request.verified_by_id, request.verification_note = now, staff.id, note
    request.status = "pending_review"
    record(Actor.staff(staff), "money.verified", "money_request", request.id, ticket_id=request.ticket_id,
           note=note, rule="terms-18-verification")
    with speaking(request.ticket):
        told = gettext("Verification is complete; your request is with our billing team for review.")
    tickets.system_reply(request.ticket, told, status="open")
    db.session.commit()
    jobs.dispatch()
    return request


def decline(request_id: int, staff, reason: str, now: datetime | None = None) -> MoneyRequest:
    """Staff decline (refunds are discretionary; a failed verification). A withdrawal fee
    charged for a request we decline is given back: no payout was handled."""
    reason = require_reason(reason, "Declining")
    now = now or utcnow()
    request = locked(request_id)
    _expect(request, "awaiting_verification", "pending_review")
    actor = Actor.staff(staff)
    fee = request.fee_charged or ZERO
    if fee > 0:
        _post(request, "fee-back", [("adjustment", fee, "deposited", "withdrawal fee returned: request declined")],
              now, actor)
    _close(request, "declined")
    request.decided_at, request.decided_by_id, request.decision_reason = now, staff.id, reason
    record(actor, "money.declined", "money_request", request.id, ticket_id=request.ticket_id, reason=reason)
    with speaking(request.ticket):  # the staff member's reason stays in their own words
        told = gettext(DECLINED[request.kind]) + f"\n\n{reason}"
        if fee:
            told += "\n\n" + gettext("The processing fee of %(fee)s was returned to your Balance.", fee=figure(fee))
    tickets.staff_reply(request.ticket, actor, told, internal=False, status="resolved", staff=staff)
    return request


def override(request_id: int, staff, reason: str, now: datetime | None = None) -> MoneyRequest:
    """A supervisor lifts the claim window (terms-13-window) for a refund it refused, where
    applicable law requires it: the request is worked out again without the window and
    goes on from there (the customer confirms the figures first if they must). Other
    refusals leave nothing to approve. The refusal and the override stay in the audit log."""
    reason = require_reason(reason, "An override")
    now = now or utcnow()
    request = locked(request_id)
    _expect(request, "rejected")
    if request.quote.get("rules") != ["terms-13-window"]:
        db.session.rollback()
        raise DeskError("Only a refund refused by the claim window (terms-13-window) can be taken into review; "
                        "this refusal leaves nothing to approve.", code="not_overridable", status=409)
    key = open_key(request.kind, request.customer, request.order_ref)
    if find_open(key) is not None:
        db.session.rollback()
        raise DeskError("Another request for the same thing is open: decide that one.", code="duplicate", status=409)
    actor = Actor.staff(staff)
    request.open_key, request.override_reason = key, reason
    record(actor, "money.overridden", "money_request", request.id, ticket_id=request.ticket_id,
           reason=reason, rules=request.quote.get("rules"))
    q = _again(request, now)
    _advance(request, q, now, confirmed=not q.confirmation_required, actor=actor)
    db.session.commit()
    jobs.dispatch()
    return request


def approve(request_id: int, staff, reason: str = "", now: datetime | None = None) -> MoneyRequest:
    """Staff approve: the figures are worked out once more and, if they are the ones the
    customer confirmed, the ledger entries are written and the customer answered."""
    now = now or utcnow()
    request = locked(request_id)
    _expect(request, "pending_review")
    actor = Actor.staff(staff)
    q = _again(request, now)
    if q.decision == REJECTED:
        db.session.rollback()
        raise DeskError("The Terms no longer allow this request: " + " ".join(r.text for r in q.reasons
                                                                              if r.outcome == REJECTED),
                        code="rejected", status=409)
    if request.kind == "closure":
        blockers = closure_blockers(request.customer, request)
        if blockers:
            db.session.rollback()
            raise DeskError("The Balance cannot be released while " + "; ".join(b.text for b in blockers)
                            + " (terms-15-closure).", code="blocked", status=409)
    if request.kind == "restoration" and request.customer.dormancy and request.customer.dormancy.forfeited_at:
        if not allows(staff.role, "money.override"):
            db.session.rollback()
            raise DeskError("Restoring forfeited funds is a goodwill exception, which needs a supervisor.",
                            code="forbidden", status=403)
        reason = require_reason(reason, "A goodwill restoration")
    if request.kind != "restoration" and q.amount != request.amount:
        if q.confirmation_required:
            before = request.amount
            request.confirmed_at = None
            _advance(request, q, now, confirmed=False, actor=SYSTEM)
            db.session.commit()
            jobs.dispatch()
            raise FiguresChanged(f"The figures changed since the customer confirmed ({before:,.2f} → "
                                 f"{q.amount:,.2f}); they have been asked to confirm again.",
                                 {"amount": str(q.amount)})
        request.quote, request.amount = stored_quote(q), q.amount
    entries = _entries(request, q)
    if entries:
        _post(request, "approve", entries, now, actor)
    _after_approval(request, q, now)
    _close(request, "approved")
    request.decided_at, request.decided_by_id, request.decision_reason = now, staff.id, (reason or "").strip() or None
    record(actor, "money.approved", "money_request", request.id, ticket_id=request.ticket_id, kind=request.kind,
           amount=str(q.amount), rules=q.rules, reason=request.decision_reason,
           override=request.override_reason)
    webhooks.emit_ticket("money_request.approved", request.ticket, request=request.id, request_kind=request.kind,
                         amount=str(q.amount), rules=list(q.rules))
    with speaking(request.ticket):
        told = _approved_text(request, q)
    tickets.staff_reply(request.ticket, actor, told, internal=False, status="resolved", staff=staff)
    return request


def _entries(request: MoneyRequest, q: policy.Quote) -> list[tuple]:
    """The ledger entries an approval writes: (kind, amount, funding, source)."""
    rule = {"refund": "terms-13-refund", "withdrawal": "terms-14-withdrawal", "closure": "terms-15-closure",
            "restoration": "terms-30-dormancy"}[request.kind]
    deductions = [d for d in q.deductions if d.kind != "withdrawal_fee"]  # the fee was charged at confirmation
    out = []
    if request.kind == "refund":
        if q.credit:
            out.append(("refund_credit", q.credit, "deposited", rule))
        if q.method == "original":
            out.append(("refund", q.amount, "deposited", rule))
    elif request.kind in ("withdrawal", "closure") and q.amount > 0:
        out.append(("withdrawal", q.amount, "deposited", rule))
    out += [("deduction", d.amount, "deposited",
             policy.FEE_SOURCE + d.deposit if d.kind == "processor_fee" else policy.PROMO_DEDUCTION)
            for d in deductions]
    out = [entry for entry in out if entry[1] > 0]
    if request.kind == "closure" and q.forfeited_promotional > 0:
        out.append(("forfeiture", q.forfeited_promotional, "promotional", rule))
    state = request.customer.dormancy
    if request.kind == "restoration" and state is not None and state.forfeited_at and state.forfeited_amount:
        out.append(("adjustment", state.forfeited_amount, "deposited", "goodwill restoration (terms-30-dormancy)"))
    return out


def _after_approval(request: MoneyRequest, q: policy.Quote, now: datetime) -> None:
    customer = request.customer
    if request.kind == "closure":
        customer.status = "closed"
    elif request.kind == "restoration":
        customer.status = "active"
        state = customer.dormancy
        state.restored_at = now
        state.frozen_at = state.deposited_at_freeze = state.freeze_notice_at = state.notice_basis = None
        state.forfeit_notice_at = state.forfeited_at = state.forfeited_amount = state.promo_forfeited = None


def _approved_text(request: MoneyRequest, q: policy.Quote) -> str:
    """The answer to an approval, in the language in force (desk.i18n.speaking)."""
    amount = figure(q.amount)
    if request.kind == "refund":
        head = (gettext("Your refund was approved: %(amount)s credited to your Balance as Deposited Funds.",
                        amount=amount) if q.method == "balance" else
                gettext("Your refund was approved: %(amount)s goes to your original payment method. How long it "
                        "takes to arrive depends on your bank or payment provider.", amount=amount))
    elif request.kind == "withdrawal":
        head = gettext("Your withdrawal was approved: %(amount)s goes to your original payment method. How long it "
                       "takes to arrive depends on your bank or payment provider.", amount=amount)
    elif request.kind == "closure":
        head = (gettext("Your account is closed. %(amount)s of Deposited Funds goes to your original payment "
                        "method.", amount=amount) if q.amount else gettext("Your account is closed."))
    else:
        head = gettext("Your frozen Balance was restored: the account can be used again.")
    return f"{head}\n\n{explain(q)}"


# --- the ledger and order feeds (terms-14-pending-order) ----------------------------------

def cancel_withdrawals_for(charges: list[tuple[int, datetime, Decimal, Words | str]]) -> int:
    """terms-14-pending-order: (customer id, charged at, amount from Deposited Funds, what)
    for each new order or charge; a withdrawal asked for before it and still pending is
    cancelled, its fee kept. Runs in the feed's transaction (the caller commits)."""
    by_customer: dict[int, list[tuple[datetime, Decimal, str]]] = {}
    for customer_id, at, deposited, what in charges:
        if deposited > 0:
            by_customer.setdefault(customer_id, []).append((at, deposited, what))
    if not by_customer:
        return 0
    pending = db.session.execute(select(MoneyRequest).where(
        MoneyRequest.customer_id.in_(sorted(by_customer)), MoneyRequest.kind == "withdrawal",
        MoneyRequest.status.in_(OPEN_STATUSES))).scalars().all()
    cancelled = 0
    for request in pending:
        hits = sorted((at, what) for at, deposited, what in by_customer[request.customer_id]
                      if policy.cancels_withdrawal(request.created_at, at, deposited))
        if not hits:
            continue
        at, what = hits[0]
        _close(request, "cancelled")
        fee = request.fee_charged or ZERO
        with speaking(request.ticket):
            told = f"{say(policy.pending_order_text(what, fee), figures=True)} (terms-14-pending-order)"
        tickets.system_reply(request.ticket, told, status="resolved")
        record(SYSTEM, "money.cancelled", "money_request", request.id, ticket_id=request.ticket_id,
               rule="terms-14-pending-order", by=str(what), fee_kept=str(fee))
        cancelled += 1
    return cancelled
