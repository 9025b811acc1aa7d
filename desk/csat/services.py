"""Satisfaction surveys (issue 10).

When staff resolve a ticket, its requester gets one mail (a job, Auto-Submitted) with a
link per answer: Good or Bad. Two answers, not 1–5: one click says it, and "% satisfied"
is then the share of Good with no threshold to argue about. A link opens a page with the
answer chosen and a button: only that POST (with its CSRF token) records it, so a mail
scanner that fetches every link records nothing. Answering again within CSAT_WINDOW_DAYS
of the mail replaces the earlier answer; after that the links no longer work.

Not surveyed: abuse and rights-holder reports, privacy requests and chargeback cases (the
kinds whose requester hears the outcome another way, desk.tickets.notices), serious-harm
reports (aup-5.6-serious-harm), tickets the desk resolved by itself or an API key did, and
a ticket already surveyed once."""
from datetime import timedelta

from flask import current_app
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError

from desk import jobs, links
from desk.audit.services import Actor, record
from desk.auth.models import Staff
from desk.csat.models import Survey
from desk.errors import DeskError, ValidationError
from desk.extensions import db
from desk.mail.outbound import compose, find as find_mail, render, send
from desk.policy.redaction import redact
from desk.tickets.models import Ticket
from desk.tickets.notices import NO_STATUS_NOTICE, NOTIFIED_STATUSES
from desk.types import utcnow
from desk.policy.words import N_

RATINGS = {"good": N_("Good, I'm satisfied"), "bad": N_("Bad, I'm not satisfied")}
MAX_COMMENT = 2000
WINDOWS = (7, 30)


def window() -> timedelta:
    return timedelta(days=current_app.config["CSAT_WINDOW_DAYS"])


def wants_survey(ticket: Ticket, actor: Actor, before: str, after: str) -> bool:
    """A staff member resolved an open ticket of a kind that is surveyed."""
    return (actor.kind == "staff" and after == "resolved" and before not in NOTIFIED_STATUSES
            and ticket.kind not in NO_STATUS_NOTICE and not ticket.serious_harm)


def after_status_change(ticket: Ticket, actor: Actor, before: str, after: str) -> None:
    """Called by desk.tickets.services.set_status in the caller's transaction."""
    if wants_survey(ticket, actor, before, after):
        # The low queue: the reply or status notice that told the requester goes first.
        jobs.enqueue("workers.csat.send_survey", ticket.id, int(actor.id), queue="low")


def for_ticket(ticket: Ticket) -> Survey | None:
    return db.session.execute(select(Survey).where(Survey.ticket_id == ticket.id)).scalar_one_or_none()


def send_survey(ticket_id: int, staff_id: int) -> str:
    """The job: the ticket's survey row and its mail, each made once, then sent."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return "gone"
    survey = for_ticket(ticket)
    if survey is None:
        if ticket.status != "resolved":
            return "stale"  # reopened before the survey went: there is nothing to rate yet
        survey = Survey(ticket=ticket, agent_id=ticket.assignee_id or staff_id, queue=ticket.queue, sent_at=utcnow())
        try:
            with db.session.begin_nested():
                db.session.add(survey)
        except IntegrityError:
            survey = for_ticket(ticket)  # another run made it first
    key = f"csat:{ticket.reference}"
    mail = find_mail(key)
    if mail is None:
        subject, body = render("csat.txt", ticket=ticket, days=current_app.config["CSAT_WINDOW_DAYS"],
                               links={rating: links.survey_url(survey, rating) for rating in RATINGS})
        mail = compose(key, ticket.requester_email, subject, body, ticket.id)
    db.session.commit()  # the rows first: a retried job sends this same mail
    return send(mail)


def survey_for_token(token: str) -> Survey | None:
    """The survey a link names, while its window is open and the address still matches."""
    found = links.read(links.SURVEY, token, int(window().total_seconds()))
    if found is None:
        return None
    survey = db.session.get(Survey, found[0])
    if survey is None or survey.ticket.requester_email.lower() != found[1] or utcnow() > closes_at(survey):
        return None
    return survey


def closes_at(survey: Survey):
    return survey.sent_at + window()


def answer(survey: Survey, rating: str, comment: str | None) -> None:
    """Record (or replace, inside the window) the requester's answer; commits."""
    if rating not in RATINGS:
        raise ValidationError("Choose Good or Bad.", {"rating": "good or bad"})
    comment = (comment or "").replace("\x00", "").strip()
    if len(comment) > MAX_COMMENT:
        raise ValidationError(f"The comment may be at most {MAX_COMMENT} characters.", {"comment": "too long"})
    if utcnow() > closes_at(survey):
        raise DeskError("This survey has closed.", code="survey_closed", status=410)
    before = survey.rating
    survey.rating = rating
    # Plain text, shown escaped; card numbers and passwords go as they do from messages (privacy-3-minimal).
    survey.comment = redact(comment).text if comment else None
    survey.answered_at = utcnow()
    ticket = survey.ticket
    record(Actor("requester", None, ticket.requester_email), "csat.answered", "ticket", ticket.reference,
           ticket_id=ticket.id, rating=rating, before=before, commented=bool(comment))
    db.session.commit()


def results(queues: list[str], now) -> dict:
    """Answers of the last 7 and 30 days per queue and per agent: how many, % satisfied."""
    cut = {days: now - timedelta(days=days) for days in WINDOWS}
    recent = case((Survey.answered_at >= cut[min(WINDOWS)], 1), else_=0)
    rows = db.session.execute(
        select(Survey.queue, Survey.agent_id, Survey.rating, recent, func.count())
        .where(Survey.answered_at >= cut[max(WINDOWS)], Survey.queue.in_(queues))
        .group_by(Survey.queue, Survey.agent_id, Survey.rating, recent)
    ).all()
    by_queue, by_agent = {}, {}
    for queue, agent_id, rating, is_recent, n in rows:
        for table, key in ((by_queue, queue), (by_agent, agent_id)):
            windows = table.setdefault(key, {str(days): [0, 0] for days in WINDOWS})
            for days in WINDOWS:
                if days == max(WINDOWS) or is_recent:
                    windows[str(days)][0] += n
                    windows[str(days)][1] += n if rating == "good" else 0
    labels = dict(db.session.execute(select(Staff.id, func.coalesce(func.nullif(Staff.name, ""), Staff.email))
                                     .where(Staff.id.in_([a for a in by_agent if a is not None]))).all())

    def shown(windows):
        return {days: {"count": n, "rate": round(100 * good / n, 1) if n else None}
                for days, (n, good) in windows.items()}

    return {
        "queues": [[queue, shown(by_queue[queue])] for queue in sorted(by_queue)],
        "agents": sorted([[labels.get(agent, "nobody"), shown(w)] for agent, w in by_agent.items()]),
    }
