"""The daily dormancy job (terms-30-dormancy): notices, freezes and forfeitures as they fall
due, worked out by desk.policy.dormancy from what has already happened, so running it
twice (or on two workers) changes nothing the second time.

Only accounts near a date are read: those inactive for nearly 12 months (by the index on
last_active_at) and those frozen but not yet forfeited.
"""
from datetime import datetime, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import or_, select

from desk import jobs
from desk.audit.services import SYSTEM, record
from desk.claims.ledger import money_lines
from desk.claims.models import Customer, LedgerEntry
from desk.extensions import db, for_update
from desk.mail.outbound import compose, render
from desk.money.models import DormancyState
from desk.money.requests import dormancy_facts
from desk.policy import dormancy as policy
from desk.policy.ledger import ZERO, balances
from desk.types import utcnow

BATCH = 500


def candidates_query(now: datetime):
    """Accounts a step may be due on: inactive since before (now − 12 months + the notice
    period, with a day to spare), or frozen and not yet forfeited."""
    horizon = policy.add_months(now, -policy.INACTIVE_MONTHS) + policy.NOTICE + timedelta(days=1)
    frozen = select(DormancyState.customer_id).where(DormancyState.frozen_at.is_not(None),
                                                     DormancyState.forfeited_at.is_(None))
    return select(Customer.id).where(Customer.status.in_(policy.DORMANT_STATUSES),
                                     or_(Customer.last_active_at <= horizon, Customer.id.in_(frozen)))


def run(now: datetime | None = None, progress=None) -> dict[str, int]:
    """Apply every step due at `now` (default: the current time). `progress(done, total)`
    is told after each batch."""
    now = now or utcnow()
    counts = {"checked": 0, "freeze_notice": 0, "freeze": 0, "forfeit_notice": 0, "forfeit": 0}
    ids = list(db.session.execute(candidates_query(now).order_by(Customer.id)).scalars())
    for start in range(0, len(ids), BATCH):
        for customer_id in ids[start:start + BATCH]:
            for step in apply_due(customer_id, now):
                counts[step.action] += 1
            counts["checked"] += 1
        db.session.commit()
        jobs.dispatch()
        if progress is not None:
            progress(min(start + BATCH, len(ids)), len(ids))
    return counts


def _locked_state(customer: Customer) -> DormancyState:
    state = db.session.execute(for_update(select(DormancyState).where(DormancyState.customer_id == customer.id))) \
        .scalar_one_or_none()
    if state is None:
        state = DormancyState(customer=customer)  # the backref: customer.dormancy is this row at once
        db.session.add(state)
        db.session.flush()
    return state


def apply_due(customer_id: int, now: datetime) -> list[policy.Step]:
    """Apply the steps due on one account, in order (at most one of each)."""
    customer = db.session.get(Customer, customer_id)
    facts = dormancy_facts(customer)
    if policy.next_step(facts, now) is None:
        return []
    state = _locked_state(customer)
    done = []
    for _ in range(4):
        step = policy.next_step(dormancy_facts(customer), now)
        if step is None or step.action in {d.action for d in done}:
            break
        APPLY[step.action](customer, state, step, now)
        record(SYSTEM, f"dormancy.{step.action}", "customer", customer.panel_id, rule=step.rule, text=step.text,
               due=step.due.isoformat())
        db.session.flush()
        done.append(step)
    return done


def _freeze_notice(customer: Customer, state: DormancyState, step: policy.Step, now: datetime) -> None:
    state.notice_basis = policy.basis(dormancy_facts(customer))
    state.freeze_notice_at = now
    _notice(customer, f"freeze-notice:{state.notice_basis.isoformat()}", "freeze", step)


def _freeze(customer: Customer, state: DormancyState, step: policy.Step, now: datetime) -> None:
    bal = balances(money_lines(customer))
    state.frozen_at, state.deposited_at_freeze = now, bal.deposited
    promo = max(ZERO, bal.promotional)
    state.promo_forfeited = promo
    if promo > 0:
        _forfeit_entry(customer, f"freeze:{now.date().isoformat()}", promo, "promotional", now)
    customer.status = "frozen"


def _forfeit_notice(customer: Customer, state: DormancyState, step: policy.Step, now: datetime) -> None:
    state.forfeit_notice_at = now
    link = f"{current_app.config['PUBLIC_URL'].rstrip('/')}/billing?kind=restoration"
    _notice(customer, f"forfeit-notice:{state.frozen_at.isoformat()}", "forfeit", step, link=link)


def _forfeit(customer: Customer, state: DormancyState, step: policy.Step, now: datetime) -> None:
    deposited = balances(money_lines(customer)).deposited
    amount = max(ZERO, deposited)  # a negative Balance survives: nothing is forfeited from it
    if amount > 0:
        _forfeit_entry(customer, f"forfeit:{state.frozen_at.date().isoformat()}", amount, "deposited", now)
    state.forfeited_at, state.forfeited_amount = now, amount


APPLY = {"freeze_notice": _freeze_notice, "freeze": _freeze, "forfeit_notice": _forfeit_notice,
         "forfeit": _forfeit}


def _forfeit_entry(customer: Customer, key: str, amount: Decimal, funding: str, now: datetime) -> None:
    db.session.add(LedgerEntry(panel_id=f"desk:dormancy:{customer.id}:{key}:{funding}", customer_id=customer.id,
                               kind="forfeiture", amount=amount, funding=funding, source=policy.RULE,
                               method="desk", at=now))


def _notice(customer: Customer, key: str, notice: str, step: policy.Step, link: str = "") -> None:
    """Notices (mail/dormancy.txt: "freeze" or "forfeit") go to verified e-mail addresses
    only (the policy asks for none otherwise)."""
    if not (customer.email and customer.email_verified):
        return
    subject, body = render("dormancy.txt", notice=notice, customer=customer, step=step, link=link,
                           rule=policy.RULE)
    mail = compose(f"dormancy:{customer.id}:{key}", customer.email, subject, body)
    jobs.enqueue("workers.mail.deliver", mail.id, queue="low")


def describe(customer: Customer, now: datetime | None = None) -> dict:
    """The account's dormancy dates for the customer page."""
    facts = dormancy_facts(customer)
    plan = policy.schedule(facts)
    due = policy.next_step(facts, now or utcnow())
    return {"facts": facts, "plan": plan, "next": due, "state": customer.dormancy}
