"""Legal holds, disclosures and muted reporters.

A hold (aup-5.2-evidence) keeps an account's records: its evidence stays and its data
cannot be erased until the hold is released (`erasure_blockers`, which the privacy desk's
erasure asks). A disclosure or referral (aup-5.5-disclosure) records what went to whom on
what basis; a referral on a CSAM case holds the case's accounts for at least a year
(aup-csam-handling). A reporter of manifestly unfounded reports can be muted with a
reason (aup-unfounded-notices): their reports are kept and deprioritised.
"""
import csv
import io
from datetime import datetime

from sqlalchemy import select

from desk import jobs
from desk.abuse import log
from desk.abuse.models import AbuseCase, Disclosure, LegalHold, MutedReporter
from desk.audit.services import Actor, record
from desk.claims.models import Customer
from desk.claims.orders import find_customer
from desk.errors import DeskError, ValidationError, require_reason
from desk.extensions import db
from desk.policy import abuse as policy
from desk.policy.words import N_, Words
from desk.sanitize import csv_cell
from desk.types import utcnow


def active_holds(customer: Customer) -> list[LegalHold]:
    return list(db.session.execute(select(LegalHold).where(
        LegalHold.customer_id == customer.id, LegalHold.released_at.is_(None)).order_by(LegalHold.id)).scalars())


def erasure_blockers(customer: Customer, *, minor: bool = False) -> list[str]:
    """What keeps this account's data from being erased now (privacy-8-erasure), in English
    (staff's pages, the request's record): see erasure_blocker_words."""
    return [str(words) for words in erasure_blocker_words(customer, minor=minor)]


def erasure_blocker_words(customer: Customer, *, minor: bool = False) -> list[Words]:
    """What keeps this account's data from being erased now (privacy-8-erasure): its legal
    holds, and the abuse and chargeback cases still open on it (an investigation or dispute,
    AUP §5.2). For a reported minor (privacy-11-minor) only a serious-harm case holds it.
    As message ids: the requester is told them in their language."""
    from desk.money.models import BillingCase

    found = []
    for h in active_holds(customer):
        if minor and not (h.case is not None and (h.case.serious_harm or h.case.csam)):
            continue
        since = f"{h.placed_at:%Y-%m-%d}"
        found.append(Words(N_("legal hold %(hold)s since %(since)s (case %(case)s)"),
                           {"hold": h.id, "since": since, "case": h.case_id}) if h.case_id else
                     Words(N_("legal hold %(hold)s since %(since)s"), {"hold": h.id, "since": since}))
    for case in log.open_cases_naming(customer.panel_id):
        if not minor or case.serious_harm or case.csam:
            found.append(Words(N_("abuse case %(case)s is still open"), {"case": case.ticket.reference}))
    if not minor:
        for case in db.session.execute(select(BillingCase).where(BillingCase.customer_id == customer.id,
                                                                 BillingCase.status == "open")).scalars():
            found.append(Words(N_("chargeback case %(case)s is still open"), {"case": case.ticket.reference}))
    return found


def place(customer: Customer, case: AbuseCase | None, reason: str, actor: Actor, staff_id: int | None = None,
          keep_until: datetime | None = None) -> LegalHold:
    hold = LegalHold(customer=customer, case=case, reason=reason, placed_by_id=staff_id, keep_until=keep_until)
    db.session.add(hold)
    db.session.flush()
    log.append(case, log.account(customer.panel_id), "hold_placed", actor, staff_id=staff_id, id=hold.id,
               reason=reason, keep_until=keep_until.isoformat() if keep_until else None)
    record(actor, "hold.placed", "customer", customer.panel_id, ticket_id=case.ticket_id if case else None,
           hold=hold.id, case=case.id if case else None, rule="aup-5.2-evidence")
    return hold


def place_for_case(case: AbuseCase, panel_id: str, reason: str, actor: Actor, staff_id: int | None = None,
                   keep_until: datetime | None = None) -> LegalHold | None:
    """A hold on one of the case's accounts, unless one from this case already stands
    (then only its keep-until date is pushed out)."""
    customer = find_customer(panel_id)
    if customer is None:
        return None
    for hold in active_holds(customer):
        if hold.case_id == case.id:
            if keep_until and (hold.keep_until is None or hold.keep_until < keep_until):
                hold.keep_until = keep_until
            return hold
    return place(customer, case, reason, actor, staff_id, keep_until)


def place_by_staff(case: AbuseCase, panel_id: str, reason: str, staff) -> LegalHold:
    reason = require_reason(reason, "A legal hold")
    if log.account(panel_id) not in {s.subject for s in case.subjects}:
        raise ValidationError("That account is not part of this case.", {"account": "not on the case"})
    hold = place_for_case(case, panel_id, reason, Actor.staff(staff), staff.id)
    db.session.commit()
    return hold


def release(hold_id: int, reason: str, staff, now: datetime | None = None) -> LegalHold:
    reason = require_reason(reason, "Releasing a hold")
    now = now or utcnow()
    hold = db.session.get(LegalHold, hold_id)
    if hold is None or hold.released_at is not None:
        raise DeskError("This hold is not in force.", code="wrong_status", status=409)
    if hold.keep_until and now < hold.keep_until:
        raise DeskError(f"This hold keeps the records until {hold.keep_until:%Y-%m-%d} (aup-csam-handling: a year "
                        "after a referral); it cannot be released before.", code="held", status=409)
    hold.released_at, hold.released_by_id, hold.release_reason = now, staff.id, reason
    actor = Actor.staff(staff)
    log.append(hold.case, log.account(hold.customer.panel_id), "hold_released", actor, staff_id=staff.id,
               id=hold.id, reason=reason)
    record(actor, "hold.released", "customer", hold.customer.panel_id,
           ticket_id=hold.case.ticket_id if hold.case else None, hold=hold.id, reason=reason)
    # An erasure deferred for this hold (privacy-8-erasure) looks again.
    jobs.enqueue("workers.privacy.resume_erasures", hold.customer_id)
    db.session.commit()
    jobs.dispatch()
    return hold


def disclose(case: AbuseCase, staff, *, what: str, recipient: str, basis: str, referral: bool,
             disclosed_at: datetime | None = None) -> Disclosure:
    """aup-5.5-disclosure: record a disclosure or referral on the case."""
    problems = {}
    what, recipient, basis = (what or "").strip(), (recipient or "").strip(), (basis or "").strip()
    if not what:
        problems["what"] = "say what was disclosed"
    if not recipient:
        problems["recipient"] = "say to whom"
    elif len(recipient) > 300:
        problems["recipient"] = "at most 300 characters"
    if len(basis) < policy.MIN_REASON:
        problems["basis"] = f"the lawful basis, in at least {policy.MIN_REASON} characters"
    if disclosed_at is not None and disclosed_at.tzinfo is None:
        problems["disclosed_at"] = "a time with its zone"
    now = utcnow()
    if disclosed_at is not None and disclosed_at > now:
        problems["disclosed_at"] = "not in the future"
    if problems:
        raise ValidationError("Some fields need attention: " + ", ".join(sorted(problems)) + ".", problems)
    actor = Actor.staff(staff)
    row = Disclosure(case_id=case.id, what=what, recipient=recipient, basis=basis, referral=referral,
                     disclosed_at=disclosed_at or now, recorded_by_id=staff.id)
    db.session.add(row)
    db.session.flush()
    log.append(case, f"case:{case.id}", "disclosure", actor, staff_id=staff.id, id=row.id, recipient=recipient,
               referral=referral)
    if referral and case.csam:
        until = policy.csam_hold_until(row.disclosed_at)
        for subject in case.subjects:
            if subject.kind == "account":
                place_for_case(case, subject.key, "Referral of child sexual abuse material: records kept at least a "
                               "year (aup-csam-handling).", actor, staff.id, keep_until=until)
    record(actor, "case.disclosure", "abuse_case", case.id, ticket_id=case.ticket_id, disclosure=row.id,
           recipient=recipient, referral=referral, rule="aup-5.5-disclosure")
    db.session.commit()
    return row


def disclosures(case: AbuseCase) -> list[Disclosure]:
    return list(db.session.execute(select(Disclosure).where(Disclosure.case_id == case.id)
                                   .order_by(Disclosure.disclosed_at, Disclosure.id)).scalars())


def disclosures_csv(case: AbuseCase) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["case", "ticket", "disclosed_at", "recipient", "referral", "what", "basis", "recorded_by"])
    for row in disclosures(case):
        writer.writerow([case.id, case.ticket.reference, row.disclosed_at.isoformat(), csv_cell(row.recipient),
                         "yes" if row.referral else "no", csv_cell(row.what), csv_cell(row.basis), row.recorded_by.email])
    return out.getvalue()


def mute(email: str, reason: str, staff, case: AbuseCase | None = None) -> MutedReporter:
    reason = require_reason(reason, "Muting a reporter")
    email = (email or "").strip().lower()
    row = db.session.execute(select(MutedReporter).where(MutedReporter.email == email)).scalar_one_or_none()
    if row is not None:
        raise DeskError(f"{email} is already muted.", code="wrong_status", status=409)
    row = MutedReporter(email=email, reason=reason, muted_by_id=staff.id)
    db.session.add(row)
    actor = Actor.staff(staff)
    log.append(case, f"reporter:{email}", "reporter_muted", actor, staff_id=staff.id, reason=reason)
    record(actor, "reporter.muted", "reporter", email, ticket_id=case.ticket_id if case else None, reason=reason,
           rule="aup-unfounded-notices")
    db.session.commit()
    return row


def unmute(email: str, staff) -> None:
    email = (email or "").strip().lower()
    row = db.session.execute(select(MutedReporter).where(MutedReporter.email == email)).scalar_one_or_none()
    if row is None:
        raise DeskError(f"{email} is not muted.", code="wrong_status", status=409)
    db.session.delete(row)
    actor = Actor.staff(staff)
    log.append(None, f"reporter:{email}", "reporter_unmuted", actor, staff_id=staff.id)
    record(actor, "reporter.unmuted", "reporter", email)
    db.session.commit()
