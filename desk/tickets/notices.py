"""The e-mails a requester gets about their ticket: the acknowledgement, each public
reply, and the notice that staff resolved or closed it. Each runs as a job and sends its
mail once, however often the job runs."""
from flask import current_app

from desk.extensions import db
from desk.mail.outbound import compose, find, render, send
from desk.tickets.links import make_token
from desk.tickets.models import Message, Ticket
from desk.types import utcnow

# Kinds whose requester hears about the outcome another way: reporters get the case's own
# closing notice (AUP §5.2), privacy requesters the request's answer, and a chargeback case
# is one the desk opened itself.
NO_STATUS_NOTICE = ("abuse", "rights", "privacy", "chargeback")
NOTIFIED_STATUSES = ("resolved", "closed")


def requester_url(ticket: Ticket) -> str:
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}/t/{make_token(ticket)}"


def acknowledge(ticket_id: int) -> str:
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return "gone"
    subject, body = render("ack.txt", ticket=ticket, link=requester_url(ticket),
                           redaction_notes=[m.redaction_note for m in ticket.messages if m.redaction_note])
    mail = compose(f"ack:{ticket.reference}", ticket.requester_email, subject, body, ticket.id)
    db.session.commit()  # the row (and its Message-ID) first: a retried job sends this same mail
    status = send(mail)
    if ticket.acknowledged_at is None:
        ticket.acknowledged_at = utcnow()
    db.session.commit()
    return status


def notify_reply(message_id: int) -> str:
    message = db.session.get(Message, message_id)
    if message is None or message.internal:
        return "skipped"  # internal notes never leave the desk
    ticket = message.ticket
    subject, body = render("reply.txt", ticket=ticket, message=message, link=requester_url(ticket))
    # An agent's reply is written by a person: not Auto-Submitted, so the requester's own
    # autoresponder may answer it as it would any mail.
    mail = compose(f"reply:{message.id}", ticket.requester_email, subject, body, ticket.id,
                   auto=message.author_kind != "staff")
    db.session.commit()
    return send(mail)


def wants_status_notice(ticket: Ticket, before: str, after: str) -> bool:
    """Staff resolved or closed an open ticket (not resolved → closed: the requester has
    heard already)."""
    return (after in NOTIFIED_STATUSES and before not in NOTIFIED_STATUSES
            and ticket.kind not in NO_STATUS_NOTICE)


def notify_status(ticket_id: int, status: str, change_id: int) -> str:
    """The requester's notice that staff resolved or closed the ticket. `change_id` (the
    audit event of the change) keys the mail: each change is told once."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return "gone"
    key = f"status:{ticket.reference}:{change_id}"
    mail = find(key)
    if mail is None:
        if ticket.status != status:
            return "stale"  # reopened before the notice went: there is nothing to tell
        subject, body = render("status.txt", ticket=ticket, status=status, link=requester_url(ticket))
        mail = compose(key, ticket.requester_email, subject, body, ticket.id)
        db.session.commit()
    return send(mail)
