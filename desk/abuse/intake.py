"""Abuse and rights-holder reports, from the form or the API to a case.

A report is kept as received. The reporter confirms their e-mail by a link before it is
worked — except a serious-harm report (aup-5.6-serious-harm), worked at once. A report
without a link or order and a description waits as "needs info" (aup-6-report) until the
reporter adds them. A worked report joins the open case on the same target (normalised
link or order id) or opens one; every reporter is kept on the case.
"""
import hashlib
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from desk import jobs, links
from desk.abuse import log
from desk.abuse.models import AbuseCase, CaseSubject, MutedReporter, Report
from desk.audit.services import SYSTEM, Actor, record
from desk.claims.models import Order
from desk.claims.orders import find_order
from desk.errors import ValidationError
from desk.extensions import db
from desk.mail.outbound import compose, render
from desk.policy import abuse as policy
from desk.policy.links import normalize_link
from desk.tickets import attachments
from desk.tickets import services as tickets
from desk.types import utcnow

MAX_LINKS = 20
MAX_DESCRIPTION = 20_000
MAX_WORK = 300  # the work or mark a rights notice names
MATCHED_ORDERS = 50  # orders on one link read into a case; more are found from the customer page


@dataclass
class NewReport:
    kind: str  # abuse, rights
    reporter_email: str
    category: str = ""
    reporter_name: str = ""
    links: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    description: str = ""
    csam: bool = False  # aup-csam-handling: the files are hashed, never stored
    right: str = ""  # rights holders: trademark, copyright, other
    work: str = ""  # the work or mark
    registration: str = ""
    good_faith: bool = False
    channel: str = "web"
    uploads: list[attachments.Upload] = field(default_factory=list)
    # An ARF feedback report (RFC 5965) by mail: the mailbox provider's fields. Such a report
    # is sent by a machine, so it is worked without the confirmation link, and nothing is
    # mailed back to it (RFC 3834: no answer to automatic mail).
    feedback: dict | None = None


def split_lines(value) -> list[str]:
    """Links or order ids typed one per line (or separated by commas)."""
    if isinstance(value, list):
        items = value
    else:
        items = (value or "").replace(",", "\n").splitlines()
    return [str(item).strip() for item in items if str(item).strip()]


def validate(data: NewReport) -> NewReport:
    problems = {}
    if data.kind not in ("abuse", "rights"):
        problems["kind"] = "abuse or rights"
    if data.kind == "rights":
        # A rights holder's notice is an AUP 3.4 matter (infringement) on the legal clock.
        data.category = data.category or "3.4"
        if data.right not in policy.RIGHTS:
            problems["right"] = f"one of {', '.join(policy.RIGHTS)}"
        if not tickets.clean_text(data.work):
            problems["work"] = "name the work or mark"
        if not data.good_faith and data.channel != "email":
            # The form asks for the statement. Terms §23 asks only that a rights holder
            # write to legal@, so a notice by mail is taken without it.
            problems["good_faith"] = "the good-faith statement is required"
    if data.category not in policy.CATEGORIES:
        problems["category"] = f"one of {', '.join(policy.CATEGORIES)}"
    if data.csam and data.category != "3.1":
        problems["csam"] = "only a 3.1 report can be marked as child sexual abuse material"
    data.description = tickets.clean_text(data.description)
    if len(data.description) > MAX_DESCRIPTION:
        problems["description"] = f"at most {MAX_DESCRIPTION} characters"
    data.links = [tickets.clean_text(x) for x in data.links if tickets.clean_text(x)]
    data.orders = [tickets.clean_text(x) for x in data.orders if tickets.clean_text(x)]
    if len(data.links) > MAX_LINKS or len(data.orders) > MAX_LINKS:
        problems["links"] = f"at most {MAX_LINKS} links and {MAX_LINKS} orders in one report"
    if any(len(x) > 2048 for x in data.links):
        problems["links"] = "a link may be at most 2048 characters"
    if any(len(x) > 64 for x in data.orders):
        problems["orders"] = "an order id may be at most 64 characters"
    try:
        data.reporter_email = validate_email(data.reporter_email or "", check_deliverability=False).normalized
    except EmailNotValidError as exc:
        problems["reporter_email"] = str(exc)
    data.reporter_name = tickets.clean_text(data.reporter_name)[:tickets.NAME_MAX]
    data.work = tickets.clean_text(data.work)[:MAX_WORK]
    data.registration = tickets.clean_text(data.registration)[:tickets.NAME_MAX]
    if problems:
        raise ValidationError("Some fields need attention: " + ", ".join(sorted(problems)) + ".", problems)
    attachments.check(data.uploads)
    return data


def is_muted(email: str) -> bool:
    return db.session.execute(select(MutedReporter.id).where(MutedReporter.email == email.lower())).first() is not None


def _keep_files(data: NewReport) -> list[dict]:
    """Evidence files as attachments are kept; under aup-csam-handling only their hashes."""
    kept = []
    for upload in data.uploads:
        digest = hashlib.sha256(upload.data).hexdigest() if data.csam else attachments.store(upload.data)
        kept.append({"name": upload.safe_name, "size": len(upload.data), "sha256": digest,
                     "type": None if data.csam else attachments.sniff(upload.data), "stored": not data.csam})
    return kept


def file_report(data: NewReport, actor: Actor) -> Report:
    """Keep the report, then ask the reporter to confirm — or work it at once (serious
    harm). Commits."""
    validate(data)
    now = utcnow()
    details = {"right": data.right, "work": data.work, "registration": data.registration,
               "good_faith": data.good_faith} if data.kind == "rights" else {}
    if data.feedback:
        details["feedback"] = data.feedback
    report = Report(
        kind=data.kind, category=data.category, channel=data.channel, reporter_email=data.reporter_email,
        reporter_name=data.reporter_name, links=data.links, orders=data.orders, description=data.description,
        details=details, files=_keep_files(data), csam=data.csam,
        serious_harm=policy.is_serious_harm(data.category), muted=is_muted(data.reporter_email),
        status="unconfirmed", created_at=now,
    )
    db.session.add(report)
    db.session.flush()
    record(actor, "report.received", "report", report.reference, kind=report.kind, category=report.category,
           serious_harm=report.serious_harm, channel=report.channel)
    if report.serious_harm or not answers_mail(report):
        # Worked at once: a confirmation round trip must not delay a first action, and a
        # feedback loop's machine cannot follow a link.
        report.confirmed_at = now
        _work(report, actor)
    else:
        subject, body = render("report_confirm.txt", report=report, link=links.confirm_url(report))
        mail = compose(f"report-confirm:{report.id}", report.reporter_email, subject, body)
        jobs.enqueue("workers.mail.deliver", mail.id)
    db.session.commit()
    jobs.dispatch()
    return report


def confirm(report: Report, actor: Actor) -> Report:
    """The reporter followed the confirmation link; a second click changes nothing."""
    if report.confirmed_at is None:
        report.confirmed_at = utcnow()
        record(actor, "report.confirmed", "report", report.reference)
        _work(report, actor)
        db.session.commit()
        jobs.dispatch()
    return report


def add_info(report: Report, links_: list[str], orders: list[str], description: str, actor: Actor) -> Report:
    """aup-6-report: the reporter adds what was missing; the report is worked again."""
    if report.status != "needs_info":
        raise ValidationError("This report already has what it needs.", {"report": "not waiting for information"})
    merged = NewReport(kind=report.kind, category=report.category, reporter_email=report.reporter_email,
                       links=list(report.links) + split_lines(links_), orders=list(report.orders) + split_lines(orders),
                       description="\n\n".join(x for x in (report.description, tickets.clean_text(description)) if x),
                       right=report.details.get("right", ""), work=report.details.get("work", ""),
                       good_faith=bool(report.details.get("good_faith")), csam=report.csam)
    validate(merged)
    report.links, report.orders, report.description = merged.links, merged.orders, merged.description
    record(actor, "report.info_added", "report", report.reference)
    _work(report, actor)
    db.session.commit()
    jobs.dispatch()
    return report


def missing_info(report: Report) -> policy.Reason | None:
    return policy.completeness(bool(report.links or report.orders), bool(report.description))


def answers_mail(report: Report) -> bool:
    """Whether the reporter is written to: never an ARF feedback loop (RFC 3834)."""
    return not report.details.get("feedback")


def _work(report: Report, actor: Actor) -> None:
    missing = missing_info(report)
    if missing is not None and not report.serious_harm:
        # Kept and visible to trust & safety; the reporter is asked for the rest.
        report.status = "needs_info"
        if not answers_mail(report):
            return
        subject, body = render("report_needs_info.txt", report=report, missing=missing,
                               link=links.report_url(report))
        mail = compose(f"report-needs-info:{report.id}:{len(report.links)}:{len(report.orders)}",
                       report.reporter_email, subject, body)
        jobs.enqueue("workers.mail.deliver", mail.id)
        return
    subjects = resolve_subjects(report)
    case = None if report.serious_harm else matching_case(report.kind, [s for s, _ in subjects])
    if case is None:
        open_case(report, subjects, actor)
    else:
        join_case(case, report, subjects, actor)


def resolve_subjects(report: Report) -> list[tuple[str, str]]:
    """(subject, label) for what the report names and the orders and accounts behind it:
    orders are matched to the report by normalised link and by order id."""
    found: dict[str, str] = {}
    for raw in report.links:
        key = normalize_link(raw)
        if not key:
            continue
        found.setdefault(log.link(key), raw)
        for order in db.session.execute(select(Order).where(Order.link_normalized == key)
                                        .options(selectinload(Order.customer))
                                        .order_by(Order.created_at.desc()).limit(MATCHED_ORDERS)).scalars():
            found.setdefault(log.order(order.panel_id), order.panel_id)
            found.setdefault(log.account(order.customer.panel_id), order.customer.login or order.customer.panel_id)
    for ref in report.orders:
        found.setdefault(log.order(ref), ref)
        order = find_order(ref)
        if order is not None:
            found.setdefault(log.link(order.link_normalized), order.link)
            found.setdefault(log.account(order.customer.panel_id), order.customer.login or order.customer.panel_id)
    return list(found.items())


def matching_case(kind: str, subjects: list[str]) -> AbuseCase | None:
    """The oldest open case of this kind on any of the report's links or orders."""
    targets = [s for s in subjects if s.startswith(("link:", "order:"))]
    if not targets:
        return None
    return db.session.execute(
        select(AbuseCase).join(CaseSubject, CaseSubject.case_id == AbuseCase.id)
        .where(CaseSubject.subject.in_(targets), AbuseCase.kind == kind, AbuseCase.serious_harm.is_(False),
               AbuseCase.state.not_in(("closed", "merged")))
        .order_by(AbuseCase.id).limit(1)).scalar_one_or_none()


def _subject_line(report: Report, subjects) -> str:
    target = next((label for s, label in subjects if s.startswith(("link:", "order:"))), "no link given")
    name = "Rights-holder notice" if report.kind == "rights" else "Abuse report"
    return f"{name}: AUP {report.category} — {target}"[:200]


def _body(report: Report) -> str:
    parts = [report.description or "(The reporter gave no description.)"]
    if report.links:
        parts.append("Links:\n" + "\n".join(f"- {x}" for x in report.links))
    if report.orders:
        parts.append("Orders: " + ", ".join(report.orders))
    if report.kind == "rights":
        d = report.details
        parts.append(f"Right: {policy.RIGHTS.get(d.get('right'), d.get('right'))}\nWork or mark: {d.get('work')}\n"
                     f"Registration: {d.get('registration') or '—'}\n"
                     f"Good-faith statement: {'given' if d.get('good_faith') else 'not given (notice by e-mail)'}")
    if report.csam and report.files:
        parts.append("Files reported as child sexual abuse material were not stored (aup-csam-handling). "
                     "SHA-256:\n" + "\n".join(f"- {f['sha256']} ({f['size']} bytes)" for f in report.files))
    return "\n\n".join(parts)


def _attach_files(ticket, message, report: Report) -> None:
    for f in report.files:
        if f.get("stored"):
            attachments.add(ticket, message, filename=f["name"], content_type=f["type"], size=f["size"],
                            sha256=f["sha256"])


def open_case(report: Report, subjects, actor: Actor) -> AbuseCase:
    level = policy.severity(report.category)
    ticket, message = tickets.open_ticket(tickets.NewTicket(
        subject=_subject_line(report, subjects), body=_body(report), requester_email=report.reporter_email,
        requester_name=report.reporter_name, kind=report.kind, channel=report.channel,
        priority="low" if report.muted and level != "critical" else policy.PRIORITY[level],
        serious_harm=report.serious_harm, received_at=report.created_at, acknowledge=answers_mail(report),
    ), actor)
    _attach_files(ticket, message, report)
    case = AbuseCase(ticket=ticket, kind=report.kind, category=report.category, severity=level,
                     serious_harm=report.serious_harm, csam=report.csam, details=dict(report.details))
    db.session.add(case)
    db.session.flush()
    report.case_id, report.message_id, report.status = case.id, message.id, "filed"
    _add_subjects(case, subjects)
    _log_report(case, report, subjects, actor)
    notes = [f"- {r.text} ({r.rule})" for r in policy.triage(report.category)]
    missing = missing_info(report)
    if missing is not None:
        notes.append(f"- {missing.text} ({missing.rule})")
    if report.muted:
        notes.append("- The reporter is muted for unfounded reports (aup-unfounded-notices): deprioritised.")
    tickets.system_reply(ticket, "Triage:\n" + "\n".join(notes), internal=True)
    record(actor, "case.opened", "abuse_case", case.id, ticket_id=ticket.id, category=case.category,
           severity=level, rule="aup-3-taxonomy")
    if report.serious_harm:
        from desk.abuse import holds

        for subject, _ in subjects:
            if subject.startswith("account:"):
                holds.place_for_case(case, subject.split(":", 1)[1], "Serious-harm case: records preserved "
                                     "(aup-5.6-serious-harm).", SYSTEM)
    jobs.enqueue("workers.abuse.snapshot", case.id, "opened", queue="high" if report.serious_harm else "default")
    return case


def join_case(case: AbuseCase, report: Report, subjects, actor: Actor) -> None:
    ticket = case.ticket
    message = tickets.add_requester_message(ticket, _body(report), report.reporter_email, internal=True)
    _attach_files(ticket, message, report)
    report.case_id, report.message_id, report.status = case.id, message.id, "filed"
    _add_subjects(case, subjects)
    _log_report(case, report, subjects, actor)
    level = policy.severity(report.category)
    if policy.SEVERITIES.index(level) < policy.SEVERITIES.index(case.severity) and not report.muted:
        log.append(case, f"case:{case.id}", "escalate", actor, category=report.category, severity=level,
                   before=case.severity)
        case.category, case.severity = report.category, level
        tickets.set_priority(ticket, actor, policy.PRIORITY[level])
    if ticket.status in ("resolved", "closed", "waiting"):
        tickets.set_status(ticket, actor, "open")
    record(actor, "case.joined", "abuse_case", case.id, ticket_id=ticket.id, report=report.reference)
    if not answers_mail(report):
        return
    subject, body = render("report_ack.txt", report=report, link=links.report_url(report))
    mail = compose(f"report-ack:{report.id}", report.reporter_email, subject, body)
    jobs.enqueue("workers.mail.deliver", mail.id)


def _add_subjects(case: AbuseCase, subjects) -> None:
    have = {s.subject for s in case.subjects}
    for subject, label in subjects:
        if subject not in have:
            db.session.add(CaseSubject(case=case, subject=subject[:2100], label=(label or "")[:2100]))
            have.add(subject)
    db.session.flush()


def _log_report(case: AbuseCase, report: Report, subjects, actor: Actor) -> None:
    for subject, _ in subjects or [(f"report:{report.reference}", "")]:
        log.append(case, subject, "report", actor, report=report.reference, category=report.category)
    log.append(case, f"report:{report.reference}", "acknowledge", SYSTEM, report=report.reference)


def find_report(report_id: int) -> Report | None:
    return db.session.get(Report, report_id)


def waiting_reports(limit: int = 200) -> list[Report]:
    """Reports kept without a case: unconfirmed, or waiting for information."""
    return list(db.session.execute(select(Report).where(Report.case_id.is_(None)).order_by(Report.id.desc())
                                   .limit(limit)).scalars())


def reporter_status(report: Report) -> str:
    """What a reporter is told (never the actions, the account or the evidence)."""
    if report.case is None:
        return policy.PUBLIC_STATES["unconfirmed" if report.confirmed_at is None else "needs_info"]
    return policy.PUBLIC_STATES[report.case.state]


def confirm_max_age() -> int:
    return current_app.config["REPORT_CONFIRM_MAX_AGE"]
