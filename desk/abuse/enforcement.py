"""Enforcement actions, appeals and case outcomes (aup-5.3-enforcement, aup-5.4-forfeiture,
aup-appeal, terms-23-referential-use).

An action names its clause, its reason and its target (an order, an account or an
identifier on the case). Forfeiting Deposited Funds waits for a second staff member's
approval; every other action happens at once. Each taken action is logged, preserves
evidence (a snapshot job), and is notified to the account holder with a statement of
reasons and a link to contest it — except under aup-5.6-serious-harm. An appeal is
decided by someone who took no part in the action; a reversal undoes what the action did
and is an event of its own.
"""
from datetime import datetime
from decimal import Decimal

from flask import current_app
from sqlalchemy import select

from desk import jobs, links
from desk.abuse import intake, log
from desk.abuse.models import AbuseCase, Appeal, BlockedIdentifier, EnforcementAction
from desk.accounts.identifiers import clean_value
from desk.audit.services import Actor, record
from desk.claims.ledger import customer_balances
from desk.claims.models import Customer, LedgerEntry
from desk.claims.orders import find_customer, find_order
from desk.errors import DeskError, ValidationError, require_reason
from desk.extensions import db, for_update
from desk.mail.outbound import compose, render
from desk.policy import abuse as policy
from desk.policy.clauses import clause
from desk.policy.words import N_
from desk.sla import clocks
from desk.tickets import services as tickets
from desk.types import utcnow
from desk.webhooks import services as webhooks

ACCOUNT_STATUS = {"suspend": "suspended", "terminate": "terminated"}
# What block_identifier can block ("block access by identifier (such as payment method or
# other unique data)", AUP §5.3).
BLOCK_KINDS = {"payment": "payment fingerprint", "ip": "IP address", "email": "e-mail address"}


def _on_case(case: AbuseCase, subject: str) -> bool:
    return subject in {s.subject for s in case.subjects}


def _lock(model, row_id: int):
    return db.session.execute(for_update(select(model).where(model.id == row_id))).scalar_one_or_none()


def propose(case: AbuseCase, staff, action: str, *, reason: str, account: str | None = None,
            order: str | None = None, identifier_kind: str | None = None,
            identifier_value: str | None = None) -> EnforcementAction:
    """Take an action on the case, or put it to a second staff member (forfeiture)."""
    if action not in policy.ACTIONS:
        raise ValidationError(f"Unknown action. One of: {', '.join(policy.ACTIONS)}.", {"action": "unknown"})
    reason = require_reason(reason, "An enforcement action")
    label, rule, target = policy.ACTIONS[action]
    row = EnforcementAction(case_id=case.id, action=action, rule=rule, reason=reason, proposed_by_id=staff.id,
                            status="awaiting_approval")
    if target == "order":
        order = (order or "").strip()
        if not order or not _on_case(case, log.order(order)):
            raise ValidationError("Choose an order that is part of this case.", {"order": "not on the case"})
        row.order_ref = order
        found = find_order(order)
        row.customer = found.customer if found else None
    else:
        account = (account or "").strip()
        if not account or not _on_case(case, log.account(account)):
            raise ValidationError("Choose an account that is part of this case.", {"account": "not on the case"})
        row.customer = find_customer(account)
        if row.customer is None:
            raise ValidationError("That account is not known to the desk yet.", {"account": "unknown"})
    if target == "identifier":
        if identifier_kind not in BLOCK_KINDS:
            raise ValidationError(f"The identifier's kind is one of: {', '.join(BLOCK_KINDS)}.",
                                  {"identifier_kind": "unknown"})
        value, problem = clean_value(identifier_kind, identifier_value)
        if problem:
            raise ValidationError(f"The identifier to block: {problem}.", {"identifier_value": problem})
        row.identifier_kind, row.identifier_value = identifier_kind, value.lower() if identifier_kind == "email" \
            else value
    if action in ("forfeit_deposited", "cancel_promotional"):
        amount = _amount(row.customer, action)
        if amount <= 0:
            raise DeskError(f"There is nothing to {label.lower()[0] + label[1:]}: the balance is {amount}.",
                            code="nothing_to_do", status=409)
    db.session.add(row)
    db.session.flush()
    actor = Actor.staff(staff)
    clocks.staff_acted(case.ticket, utcnow(), public_reply=False)  # a first action (aup-5.6-serious-harm)
    if policy.needs_second_approval(action):
        log.append(case, _subject(row), "action_proposed", actor, staff_id=staff.id, id=row.id, action=action,
                   rule=rule)
        record(actor, "enforcement.proposed", "enforcement_action", row.id, ticket_id=case.ticket_id,
               measure=action, rule=rule, reason=reason)
        tickets.system_reply(case.ticket, f"{staff.email} proposes: {label} ({rule}). A second staff member must "
                                          f"approve it.\n\n{reason}", internal=True)
    else:
        _apply(row, case, staff)
    db.session.commit()
    jobs.dispatch()
    return row


def approve(action_id: int, staff) -> EnforcementAction:
    """aup-5.4-forfeiture: the second approval, by someone other than the proposer."""
    row = _lock(EnforcementAction, action_id)
    if row is None or row.status != "awaiting_approval":
        db.session.rollback()
        raise DeskError("This action is not waiting for approval.", code="wrong_status", status=409)
    if row.proposed_by_id == staff.id:
        db.session.rollback()
        raise DeskError("A second staff member must approve this: the one who proposed it cannot "
                        "(aup-5.4-forfeiture).", code="second_approval", status=403)
    if _amount(row.customer, row.action) <= 0:
        db.session.rollback()
        raise DeskError("There is nothing left to forfeit: the balance changed. Refuse the proposal instead.",
                        code="stale", status=409)
    row.approved_by_id = staff.id
    db.session.flush()
    _apply(row, row.case, staff)
    db.session.commit()
    jobs.dispatch()
    return row


def refuse(action_id: int, staff, reason: str) -> EnforcementAction:
    reason = require_reason(reason, "Refusing a proposal")
    row = _lock(EnforcementAction, action_id)
    if row is None or row.status != "awaiting_approval":
        db.session.rollback()
        raise DeskError("This action is not waiting for approval.", code="wrong_status", status=409)
    row.status = "refused"
    actor = Actor.staff(staff)
    log.append(row.case, _subject(row), "action_refused", actor, staff_id=staff.id, id=row.id, reason=reason)
    record(actor, "enforcement.refused", "enforcement_action", row.id, ticket_id=row.case.ticket_id, reason=reason)
    tickets.system_reply(row.case.ticket, f"{staff.email} refused the proposal to "
                                          f"{policy.ACTIONS[row.action][0].lower()}.\n\n{reason}", internal=True)
    db.session.commit()
    return row


def _subject(row: EnforcementAction) -> str:
    if row.order_ref and row.action in ("reject_order", "cancel_order"):
        return log.order(row.order_ref)
    return log.account(row.customer.panel_id) if row.customer else f"case:{row.case_id}"


def _amount(customer: Customer | None, action: str) -> Decimal:
    if customer is None:
        return Decimal("0.00")
    balances = customer_balances(customer)
    return balances.deposited if action == "forfeit_deposited" else balances.promotional


def _apply(row: EnforcementAction, case: AbuseCase, staff) -> None:
    """What the action does, then its log entry, snapshot, note and notice."""
    now = utcnow()
    customer = row.customer
    if row.action in ACCOUNT_STATUS:
        row.before = {"status": customer.status}
        customer.status = ACCOUNT_STATUS[row.action]
    elif row.action in ("forfeit_deposited", "cancel_promotional"):
        row.amount = _amount(customer, row.action)
        funding = "deposited" if row.action == "forfeit_deposited" else "promotional"
        db.session.add(LedgerEntry(panel_id=f"desk:ea{row.id}", customer_id=customer.id, kind="forfeiture",
                                   amount=row.amount, funding=funding, source=row.rule, method="desk", at=now))
    elif row.action == "block_identifier":
        db.session.add(BlockedIdentifier(kind=row.identifier_kind, value=row.identifier_value, action_id=row.id))
    # reject_order, cancel_order and warning are recorded and notified; the panel carries
    # out an order's rejection or cancellation (its API is not called from here yet).
    row.status, row.done_at = "done", now
    actor = Actor.staff(staff)
    label = policy.ACTIONS[row.action][0]
    log.append(case, _subject(row), "action", actor, staff_id=staff.id, id=row.id, action=row.action, rule=row.rule,
               amount=str(row.amount) if row.amount is not None else None)
    notice = policy.notify_account_holder(row.action, case.serious_harm)
    if case.serious_harm or customer is None or not customer.email:
        told = f"not notified ({notice.rule})" if case.serious_harm else "not notified: no e-mail on record"
    else:
        _notify(row, customer)
        told = "notified with a statement of reasons and how to appeal (aup-appeal)"
    record(actor, "enforcement.taken", "enforcement_action", row.id, ticket_id=case.ticket_id, measure=row.action,
           rule=row.rule, reason=row.reason, amount=str(row.amount) if row.amount is not None else None,
           approved_by=row.approved_by.email if row.approved_by else None, notified=row.notified_at is not None)
    # The panel carries out what the desk decided: the action, its rule and whom it is on, never the
    # reason (it may quote the report) nor anything of the reporters.
    webhooks.emit("enforcement.taken", {"action": row.id, "measure": row.action, "rule": row.rule,
                                        "customer": customer.panel_id if customer else None, "order": row.order_ref,
                                        "amount": str(row.amount) if row.amount is not None else None})
    who = customer.panel_id if customer else row.order_ref
    amount = f" ({row.amount})" if row.amount is not None else ""
    tickets.system_reply(case.ticket, f"Action taken: {label}{amount} on {who} ({row.rule}); {told}.\n\n{row.reason}",
                         internal=True)
    jobs.enqueue("workers.abuse.snapshot", case.id, f"action:{row.id}",
                 queue="high" if case.serious_harm else "default")


def statement(row: EnforcementAction) -> tuple[str, str]:
    """(subject, body) of the statement of reasons that goes with a notified action
    (aup-appeal): mail/enforcement.txt."""
    title, text = clause(row.rule) or (row.rule, "")
    return render("enforcement.txt", row=row, customer=row.customer, label=policy.ACTIONS[row.action][0],
                  clause_title=title,
                  clause_text=text, days=current_app.config["APPEAL_WINDOW_DAYS"], link=links.appeal_url(row))


def _notify(row: EnforcementAction, customer: Customer) -> None:
    row.notified_at = utcnow()
    subject, body = statement(row)
    mail = compose(f"enforcement:{row.id}", customer.email, subject, body)
    jobs.enqueue("workers.mail.deliver", mail.id)


def appeal_problem(row: EnforcementAction, now: datetime | None = None) -> policy.Reason | None:
    """Why `row` cannot be contested now (aup-appeal), or None; the appeal page says it in
    the reader's language (desk.i18n.say)."""
    if row.appeal is not None:
        return policy.said("aup-appeal", N_("This action has already been contested; the review is under way or "
                                            "decided."))
    return policy.appeal_allowed(notified_at=row.notified_at, now=now or utcnow(),
                                 window_days=current_app.config["APPEAL_WINDOW_DAYS"],
                                 reversed_=row.status == "reversed")


def file_appeal(row: EnforcementAction, body: str, email: str) -> Appeal:
    body = tickets.clean_text(body)
    if len(body) < policy.MIN_REASON:
        raise ValidationError(f"Tell us why the decision is wrong (at least {policy.MIN_REASON} characters).",
                              {"body": "required"})
    if len(body) > tickets.MAX_BODY:
        raise ValidationError(f"At most {tickets.MAX_BODY} characters.", {"body": "too long"})
    problem = appeal_problem(row)
    if problem:
        raise DeskError(problem.text, code="appeal_closed", status=409)
    appeal = Appeal(action=row, body=body)
    db.session.add(appeal)
    db.session.flush()
    actor = Actor("requester", None, email)
    case = row.case
    log.append(case, _subject(row), "appeal", actor, id=row.id, appeal=appeal.id)
    record(actor, "appeal.filed", "enforcement_action", row.id, ticket_id=case.ticket_id, appeal=appeal.id,
           rule="aup-appeal")
    tickets.system_reply(case.ticket, f"Appeal against \"{policy.ACTIONS[row.action][0]}\" (action {row.id}) from "
                                      f"the account holder (aup-appeal). Someone who took no part in the action "
                                      f"decides it.\n\n{body}", internal=True)
    if case.ticket.status in ("resolved", "closed", "waiting"):
        tickets.set_status(case.ticket, actor, "open")
    db.session.commit()
    jobs.dispatch()
    return appeal


def decide_appeal(appeal_id: int, staff, outcome: str, reason: str) -> Appeal:
    """Uphold the action or reverse it; the account holder is told either way."""
    reason = require_reason(reason, "Deciding an appeal")
    if outcome not in ("upheld", "reversed"):
        raise ValidationError("Uphold or reverse.", {"outcome": "upheld or reversed"})
    appeal = _lock(Appeal, appeal_id)
    if appeal is None or appeal.status != "open":
        db.session.rollback()
        raise DeskError("This appeal is already decided.", code="wrong_status", status=409)
    row = appeal.action
    if not policy.may_decide_appeal(staff.id, {row.proposed_by_id, row.approved_by_id}):
        db.session.rollback()
        raise DeskError("An appeal is decided by someone who took no part in the action (aup-appeal).",
                        code="not_independent", status=403)
    now = utcnow()
    appeal.status, appeal.decided_by_id, appeal.decided_at, appeal.decision_reason = outcome, staff.id, now, reason
    actor = Actor.staff(staff)
    case = row.case
    if outcome == "reversed":
        _reverse(row, case, staff, reason, now)
    log.append(case, _subject(row), "appeal_decided", actor, staff_id=staff.id, id=row.id, appeal=appeal.id,
               outcome=outcome)
    record(actor, "appeal.decided", "enforcement_action", row.id, ticket_id=case.ticket_id, appeal=appeal.id,
           outcome=outcome, reason=reason, rule="aup-appeal")
    tickets.system_reply(case.ticket, f"Appeal {outcome} by {staff.email}.\n\n{reason}", internal=True)
    if row.customer is not None and row.customer.email:
        subject, body = render("appeal_decided.txt", customer=row.customer, label=policy.ACTIONS[row.action][0],
                               outcome=outcome, reason=reason)
        mail = compose(f"appeal-decided:{appeal.id}", row.customer.email, subject, body)
        jobs.enqueue("workers.mail.deliver", mail.id)
    db.session.commit()
    jobs.dispatch()
    return appeal


def _reverse(row: EnforcementAction, case: AbuseCase, staff, reason: str, now: datetime) -> None:
    customer = row.customer
    if row.action in ACCOUNT_STATUS and customer.status == ACCOUNT_STATUS[row.action]:
        customer.status = row.before.get("status", "active")
    elif row.action in ("forfeit_deposited", "cancel_promotional") and row.amount:
        funding = "deposited" if row.action == "forfeit_deposited" else "promotional"
        db.session.add(LedgerEntry(panel_id=f"desk:ea{row.id}:reversal", customer_id=customer.id, kind="adjustment",
                                   amount=row.amount, funding=funding, source="aup-appeal", method="desk", at=now))
    elif row.action == "block_identifier":
        block = db.session.execute(select(BlockedIdentifier).where(BlockedIdentifier.action_id == row.id)) \
            .scalar_one_or_none()
        if block is not None:
            block.released_at = now
    row.status, row.reversed_at = "reversed", now
    log.append(case, _subject(row), "reversal", Actor.staff(staff), staff_id=staff.id, id=row.id,
               action=row.action, reason=reason)
    jobs.enqueue("workers.abuse.snapshot", case.id, f"reversal:{row.id}")


def close_case(case: AbuseCase, staff, outcome: str, reason: str, reply: str = "") -> AbuseCase:
    """End the review: for abuse, breach or not; for a rights holder
    (terms-23-referential-use), no action, action on content, or the reference changed —
    with the reply to the rights holder. Reporters are told the case is closed."""
    choices = policy.RIGHTS_OUTCOMES if case.kind == "rights" else policy.ABUSE_OUTCOMES
    if outcome not in choices:
        raise ValidationError(f"One of: {', '.join(choices)}.", {"outcome": "unknown"})
    reason = require_reason(reason, "Closing a case")
    if case.kind == "rights" and len(tickets.clean_text(reply)) < policy.MIN_REASON:
        raise ValidationError("Write the reply to the rights holder (terms-23-referential-use).", {"reply": "required"})
    waiting = db.session.execute(select(EnforcementAction.id).where(
        EnforcementAction.case_id == case.id, EnforcementAction.status == "awaiting_approval")).first()
    if waiting is not None:
        raise DeskError("An action is still waiting for approval: approve or refuse it first.",
                        code="pending_approval", status=409)
    actor = Actor.staff(staff)
    rule = "terms-23-referential-use" if case.kind == "rights" else "aup-5.3-enforcement"
    log.append(case, f"case:{case.id}", "closed", actor, staff_id=staff.id, outcome=outcome, reason=reason, rule=rule)
    record(actor, "case.closed", "abuse_case", case.id, ticket_id=case.ticket_id, outcome=outcome, reason=reason,
           rule=rule)
    tickets.system_reply(case.ticket, f"Case closed by {staff.email}: {choices[outcome]} ({rule}).\n\n{reason}",
                         internal=True)
    if case.kind == "rights":
        tickets.staff_reply(case.ticket, actor, reply, internal=False, status="resolved", staff=staff)
    else:
        tickets.set_status(case.ticket, actor, "resolved")
    for report in case.reports:
        if not intake.answers_mail(report):
            continue  # a feedback loop (ARF) is told nothing
        subject, body = render("report_closed.txt", report=report, link=links.report_url(report))
        mail = compose(f"report-closed:{report.id}:{case.id}", report.reporter_email, subject, body)
        jobs.enqueue("workers.mail.deliver", mail.id)
    db.session.commit()
    jobs.dispatch()
    return case


def reopen(case: AbuseCase, staff, reason: str) -> AbuseCase:
    reason = require_reason(reason, "Reopening a case")
    if case.state != "closed":
        raise DeskError("This case is not closed.", code="wrong_status", status=409)
    actor = Actor.staff(staff)
    log.append(case, f"case:{case.id}", "reopened", actor, staff_id=staff.id, reason=reason)
    record(actor, "case.reopened", "abuse_case", case.id, ticket_id=case.ticket_id, reason=reason)
    tickets.set_status(case.ticket, actor, "open")
    db.session.commit()
    return case


def case_actions(case: AbuseCase) -> list[EnforcementAction]:
    return list(db.session.execute(select(EnforcementAction).where(EnforcementAction.case_id == case.id)
                                   .order_by(EnforcementAction.id)).scalars())


def customer_actions(customer: Customer) -> list[EnforcementAction]:
    return list(db.session.execute(select(EnforcementAction).where(EnforcementAction.customer_id == customer.id)
                                   .order_by(EnforcementAction.id.desc()).limit(100)).scalars())
