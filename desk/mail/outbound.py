"""Sending mail: through the SMTP relay when MAIL_SERVER is set, else to the log."""
import logging
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app
from sqlalchemy import select

from desk.extensions import db
from desk.mail.models import OutboundMail
from desk.types import utcnow

log = logging.getLogger(__name__)
FORGOTTEN = "forgotten@erased.invalid"  # .invalid (RFC 2606): never deliverable


def compose(dedupe_key: str, to_addr: str, subject: str, body_text: str, ticket_id: int | None = None) -> OutboundMail:
    """The mail row for `dedupe_key`, created once (in the caller's transaction)."""
    mail = db.session.execute(select(OutboundMail).where(OutboundMail.dedupe_key == dedupe_key)).scalar_one_or_none()
    if mail is None:
        domain = current_app.config["MAIL_FROM"].rsplit("@", 1)[-1].rstrip(">") or "desk.localhost"
        mail = OutboundMail(
            dedupe_key=dedupe_key, to_addr=to_addr, subject=subject, body_text=body_text,
            ticket_id=ticket_id, message_id=make_msgid(domain=domain),
        )
        db.session.add(mail)
        db.session.flush()
    return mail


def deliver(mail: OutboundMail) -> None:
    """Send a pending mail and mark it; a mail already sent is left alone."""
    if mail.status != "pending":
        return
    if mail.to_addr.endswith("@erased.invalid"):
        # The person was erased (privacy-8-erasure): a late notice has nowhere to go.
        mail.status, mail.sent_at = "dropped", utcnow()
        return
    config = current_app.config
    msg = EmailMessage()
    msg["From"] = config["MAIL_FROM"]
    msg["To"] = mail.to_addr
    msg["Subject"] = mail.subject
    msg["Message-ID"] = mail.message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(mail.body_text)
    if config.get("MAIL_SERVER"):
        with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30) as smtp:
            if config.get("MAIL_USE_TLS"):
                smtp.starttls()
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
            smtp.send_message(msg)
        mail.status = "sent"
    else:
        log.info("mail (not sent: MAIL_SERVER unset)\n%s", msg.as_string())
        mail.status = "logged"
    mail.sent_at = utcnow()
    if mail.forget_recipient:
        mail.to_addr = FORGOTTEN
