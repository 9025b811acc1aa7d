"""Who hears about a clock, and what they are told.

Reminders go to the assignee, or to everyone working the queue when nobody holds the
ticket; breaches escalate to supervisors (for the restricted queues, whose tickets
supervisors may not read, to the roles that work them); serious-harm reports page trust &
safety at once (aup-5.6-serious-harm). One mail per event and person, sent once.
"""
from flask import current_app
from sqlalchemy import select

from desk.auth.access import visible_queues
from desk.auth.models import Staff
from desk.auth.roles import QUEUE_ACCESS
from desk.extensions import db
from desk.mail.outbound import compose, render, send
from desk.sla.display import clock_text, local_time
from desk.sla.models import SlaEvent
from desk.sla.settings import current
from desk.tickets.models import Ticket


def _working(queue: str, roles: set[str] | None = None) -> list[Staff]:
    """Who works the queue: its roles, narrowed to the people whose queues include it and who
    see more than their own tickets (one limited to their own cannot open an unassigned one)."""
    allowed = {role for role, queues in QUEUE_ACCESS.items() if queue in queues and role != "admin"}
    if roles is not None:
        allowed &= roles
    if not allowed:
        return []
    people = db.session.execute(
        select(Staff).where(Staff.active.is_(True), Staff.role.in_(sorted(allowed))).order_by(Staff.id)
    ).scalars().all()
    return [s for s in people if queue in visible_queues(s) and not s.own_only]


def recipients(event: SlaEvent, ticket: Ticket) -> list[Staff]:
    assignee = ticket.assignee if ticket.assignee is not None and ticket.assignee.active else None
    if event.kind == "page":
        return _working(ticket.queue, {"trust_safety"})
    if event.kind == "reminder":
        return [assignee] if assignee else _working(ticket.queue)
    people = _working(ticket.queue, {"supervisor"}) or _working(ticket.queue, {"trust_safety", "privacy_officer"})
    if assignee and assignee not in people:
        people.append(assignee)
    return people


KINDS = ("reminder", "breach", "page")  # the subjects are in mail/sla.txt


def notify(event_id: int) -> int:
    event = db.session.get(SlaEvent, event_id)
    if event is None or event.kind not in KINDS:
        return 0
    ticket = db.session.get(Ticket, event.ticket_id)
    clock = event.clock
    config = current()
    when = local_time(clock.due_at) if clock.due_at else "when it runs again"
    # Jobs run without a request, so the link is built from PUBLIC_URL (as requester links are).
    link = f"{current_app.config['PUBLIC_URL'].rstrip('/')}/tickets/{ticket.reference}"
    subject, body = render("sla.txt", locale="en", kind=event.kind, ticket=ticket, clock=clock, when=when, link=link,
                           state=clock_text(clock, event.at, config.calendar))
    mails = [compose(f"sla:{event.id}:{person.id}", person.email, subject, body, ticket.id)
             for person in recipients(event, ticket)]
    db.session.commit()  # the rows first: a retried job sends these same mails, not new ones
    for mail in mails:
        send(mail)
    return len(mails)
