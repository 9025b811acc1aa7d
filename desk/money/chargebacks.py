"""Chargeback cases (terms-17-chargeback, terms-16-negative).

A chargeback entry in the ledger feed opens a billing case in the Billing queue (or joins
the customer's open one). The case shows the actions the Terms allow, worked out from the
ledger when it is looked at (suspend, forfeit the positive Deposited Funds, cancel the
Promotional Credit, invoice the processor's fees); staff confirm the ones they take,
with a reason, and the ledger entries and the account's status follow.
"""
from datetime import datetime
from decimal import Decimal

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from desk import jobs
from desk.audit.services import SYSTEM, Actor, record
from desk.claims.ledger import money_lines
from desk.claims.models import Customer, LedgerEntry
from desk.errors import DeskError, ValidationError, require_reason
from desk.extensions import db, for_update
from desk.money.models import BillingCase
from desk.policy import money as policy
from desk.policy.ledger import balances
from desk.tickets import services as tickets
from desk.types import utcnow



def case_key(customer: Customer) -> str:
    return f"chargeback:{customer.panel_id}"


def find_open_case(customer: Customer) -> BillingCase | None:
    return db.session.execute(select(BillingCase).where(BillingCase.open_key == case_key(customer))) \
        .scalar_one_or_none()


def open_cases(rows: list[LedgerEntry]) -> list[BillingCase]:
    """Runs in the ledger feed's transaction: each customer's chargebacks join their open
    case, or open one (a ticket no one is sent an acknowledgement of)."""
    by_customer: dict[int, list[LedgerEntry]] = {}
    for row in rows:
        by_customer.setdefault(row.customer_id, []).append(row)
    cases = []
    for customer_id, entries in by_customer.items():
        customer = db.session.get(Customer, customer_id)
        case = find_open_case(customer)
        ids = [e.panel_id for e in entries]
        if case is None:
            case = _open(customer, entries)
        else:
            case.chargebacks = list(case.chargebacks) + ids
            record(SYSTEM, "chargeback.joined", "billing_case", case.id, ticket_id=case.ticket_id, entries=ids)
        tickets.system_reply(case.ticket, _summary(customer, entries), internal=True)
        cases.append(case)
    return cases


def _open(customer: Customer, entries: list[LedgerEntry]) -> BillingCase:
    case = BillingCase(customer=customer, chargebacks=[e.panel_id for e in entries], open_key=case_key(customer))
    total = sum((e.amount for e in entries), Decimal("0.00"))
    ticket, _ = tickets.open_ticket(tickets.NewTicket(
        subject=f"Chargeback: customer {customer.panel_id} ({total:,.2f})",
        body=f"The panel reported a chargeback on customer {customer.panel_id}'s account. "
             "Review the proposed actions under terms-17-chargeback and confirm the ones to take.",
        requester_email=customer.email or current_app.config["BILLING_CASE_EMAIL"],
        kind="chargeback", channel="api", customer=customer.panel_id, priority="high", acknowledge=False,
    ), SYSTEM)
    case.ticket = ticket
    db.session.add(case)
    db.session.flush()
    record(SYSTEM, "chargeback.opened", "billing_case", case.id, ticket_id=ticket.id,
           entries=case.chargebacks, rule="terms-17-chargeback")
    # terms-17-chargeback: the account, its orders, ledger and tickets as they stood.
    jobs.enqueue("workers.abuse.snapshot", case.id, "opened", "billing")
    return case


def _summary(customer: Customer, entries: list[LedgerEntry]) -> str:
    lines = money_lines(customer)
    ids = {e.panel_id for e in entries}
    reasons = [r for r in policy.chargeback_summary(lines) if r.rule != "terms-17-chargeback" or
               any(i in r.text for i in ids)]
    proposals = policy.chargeback_proposals(lines, customer.status)
    return ("Chargeback reported (terms-17-chargeback).\n"
            + "\n".join(f"- {r.text}" for r in reasons)
            + "\n\nProposed actions, for staff to confirm:\n"
            + ("\n".join(f"- {p.text}" for p in proposals) or "- none: nothing left to forfeit or cancel"))


def panel(case: BillingCase) -> dict:
    """What the case shows: the chargebacks, the balance, and the actions allowed now."""
    customer = case.customer
    lines = money_lines(customer)
    from desk.abuse import evidence

    count, problems = evidence.verify(case)
    return {
        "case": case,
        "snapshots": evidence.snapshots(case), "chain": (count, problems),
        "reasons": policy.chargeback_summary([l for l in lines if l.kind != "chargeback" or l.id in case.chargebacks]),
        "proposals": policy.chargeback_proposals(lines, customer.status) if case.status == "open" else [],
        "balances": balances(lines),
    }


def resolve(case_id: int, staff, actions: list[str], reason: str, now: datetime | None = None) -> BillingCase:
    """Staff confirm the actions they take (none, when the chargeback was won or withdrawn)
    and close the case; each action is worked out again from the ledger as it is now."""
    reason = require_reason(reason, "Resolving a chargeback case")
    unknown = sorted(set(actions) - set(policy.CHARGEBACK_ACTIONS))
    if unknown:
        raise ValidationError(f"Unknown action(s): {', '.join(unknown)}.", {"actions": "unknown"})
    now = now or utcnow()
    case = db.session.execute(for_update(select(BillingCase).where(BillingCase.id == case_id))).scalar_one()
    if case.status != "open":
        db.session.rollback()
        raise DeskError("This case is already resolved.", code="wrong_status", status=409)
    customer = case.customer
    allowed = {p.action: p for p in policy.chargeback_proposals(money_lines(customer), customer.status)}
    missing = [a for a in actions if a not in allowed]
    if missing:
        db.session.rollback()
        raise DeskError(f"Not open any more: {', '.join(missing)} (the ledger or the account changed). "
                        "Look at the case again.", code="stale", status=409)
    actor = Actor.staff(staff)
    taken, entries = [], []
    for action in actions:
        proposal = allowed[action]
        if action == "suspend":
            customer.status = "suspended"
        elif action == "forfeit_deposited":
            entries.append(("forfeiture", proposal.amount, "deposited"))
        elif action == "cancel_promotional":
            entries.append(("forfeiture", proposal.amount, "promotional"))
        elif action == "invoice_fees":
            case.invoiced = proposal.amount
        taken.append({"action": action, "amount": str(proposal.amount) if proposal.amount is not None else None,
                      "at": now.isoformat(), "by": staff.email})
    rows = [LedgerEntry(panel_id=f"desk:bc{case.id}:{i}", customer_id=customer.id, kind=kind, amount=amount,
                        funding=funding, source="terms-17-chargeback", method="desk", at=now)
            for i, (kind, amount, funding) in enumerate(entries)]
    db.session.add_all(rows)
    case.actions, case.status, case.open_key = taken, "resolved", None
    case.resolution, case.resolved_at, case.resolved_by_id = reason, now, staff.id
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise DeskError("This case was resolved at the same moment by someone else.", code="wrong_status",
                        status=409) from None
    record(actor, "chargeback.resolved", "billing_case", case.id, ticket_id=case.ticket_id, actions=taken,
           reason=reason, rule="terms-17-chargeback")
    summary = "\n".join(f"- {t['action'].replace('_', ' ')}" + (f": {t['amount']}" if t["amount"] else "")
                        for t in taken) or "- no action"
    tickets.system_reply(case.ticket, f"Case resolved by {staff.email}.\n{summary}\n\n{reason}", internal=True,
                         status="resolved")
    if taken:
        jobs.enqueue("workers.abuse.snapshot", case.id, "resolved", "billing")
    db.session.commit()
    jobs.dispatch()
    return case
