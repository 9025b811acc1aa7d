"""The e-mails a requester gets about their ticket."""
from flask import current_app

from desk.extensions import db
from desk.mail.outbound import compose, deliver
from desk.tickets.links import make_token
from desk.tickets.models import Message, Ticket
from desk.types import utcnow


def requester_url(ticket: Ticket) -> str:
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}/t/{make_token(ticket)}"


def acknowledge(ticket_id: int) -> str:
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return "gone"
    redaction_notes = [m.redaction_note for m in ticket.messages if m.redaction_note]
    body = (
        f"Hello{(' ' + ticket.requester_name) if ticket.requester_name else ''},\n\n"
        f"We have received your request \"{ticket.subject}\" and filed it as {ticket.reference}.\n"
        "Our support team answers 10:00-23:00 Singapore time, every day.\n\n"
        f"Follow your ticket and reply here:\n{requester_url(ticket)}\n"
    )
    if redaction_notes:
        body += "\n" + "\n".join(redaction_notes) + "\n"
    mail = compose(f"ack:{ticket.reference}", ticket.requester_email,
                   f"[{ticket.reference}] We received your request", body, ticket.id)
    db.session.commit()  # the row (and its Message-ID) first: a retried job sends this same mail
    deliver(mail)
    if ticket.acknowledged_at is None:
        ticket.acknowledged_at = utcnow()
    db.session.commit()
    return mail.status


def notify_reply(message_id: int) -> str:
    message = db.session.get(Message, message_id)
    if message is None or message.internal:
        return "skipped"  # internal notes never leave the desk
    ticket = message.ticket
    body = (
        f"{message.body_text}\n\n--\nReply or follow {ticket.reference} here:\n{requester_url(ticket)}\n"
    )
    mail = compose(f"reply:{message.id}", ticket.requester_email, f"[{ticket.reference}] {ticket.subject}",
                   body, ticket.id)
    db.session.commit()
    deliver(mail)
    db.session.commit()
    return mail.status
