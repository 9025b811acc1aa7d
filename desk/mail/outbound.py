"""Sending mail: every notice rendered from a text template (desk/templates/mail/), kept as
a row, threaded with the ticket's earlier mail, and sent by a job through the SMTP relay
when MAIL_SERVER is set, else written to the log.

A temporary refusal (a 4xx reply, a relay that cannot be reached or hangs up) records the
attempt and raises the error on, so RQ retries the job with backoff (JOB_RETRY_INTERVALS); a permanent one (a 5xx reply to the message) marks the mail failed
and is not retried. A mail that has gone (or failed for good) is never sent again."""
import logging
import smtplib
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from flask import current_app
from jinja2 import Environment, StrictUndefined
from sqlalchemy import func, select

from desk import i18n
from desk.extensions import db, for_update
from desk.mail.models import OutboundMail
from desk.tickets.models import Message, Ticket
from desk.types import utcnow

log = logging.getLogger(__name__)
FORGOTTEN = "forgotten@erased.invalid"  # .invalid (RFC 2606): never deliverable
# Earlier mail a new one is threaded with: not what never reached the person.
THREADED_STATUSES = ("pending", "sent", "logged")
MAX_REFERENCES = 10  # the thread's first message and the latest ones
# Notices that answer what the person sent (RFC 3834 §5: auto-replied); every other
# automatic notice is auto-generated.
AUTO_REPLIES = ("ack:", "report-ack:")
SUBJECT_MAX = 300
# Notices to the desk's own staff (SLA reminders, escalations, serious-harm pages under
# aup-5.6-serious-harm) are never capped: they answer no one, and a page must not wait.
STAFF_NOTICES = ("sla:",)
CAP_WINDOW = timedelta(hours=1)


# What sending can raise. deliver() records the attempt and raises the temporary ones on,
# so RQ tries the job again later; a permanent refusal fails the mail instead.
SEND_ERRORS = (smtplib.SMTPException, OSError)


# -- templates ------------------------------------------------------------------------

def _mail_env() -> Environment:
    """The app's Jinja environment for text mail: nothing is HTML-escaped, block tags leave
    no blank lines, and a variable the caller forgot is an error rather than a blank."""
    app = current_app._get_current_object()
    env = app.extensions.get("desk_mail_jinja")
    if env is None:
        env = app.jinja_env.overlay(autoescape=False, undefined=StrictUndefined, trim_blocks=True,
                                    lstrip_blocks=True)
        app.extensions["desk_mail_jinja"] = env
    return env


def render(name: str, locale: str | None = None, **context) -> tuple[str, str]:
    """(subject, body) of the mail template `mail/<name>`: its top-level
    `{% set subject %}…{% endset %}` is the subject (on one line), the rest the body.
    Rendered in `locale`, else the language recorded on the ticket (customer, report) it is
    about (desk.i18n.mail_locale), also in a worker with no request."""
    with i18n.in_locale(i18n.mail_locale(locale, context)):
        module = _mail_env().get_template(f"mail/{name}").make_module(context)
        subject = " ".join(str(getattr(module, "subject", "")).split())
        body = str(module).strip("\n") + "\n"
    if not subject:
        raise ValueError(f"mail/{name} sets no subject")
    return subject, body


# -- composing ------------------------------------------------------------------------

def compose(dedupe_key: str, to_addr: str, subject: str, body_text: str, ticket_id: int | None = None, *,
            auto: bool = True) -> OutboundMail:
    """The mail row for `dedupe_key`, created once (in the caller's transaction). A mail
    about a ticket carries its reference in the subject and answers the thread the
    recipient has with that ticket. `auto`: no person wrote it (Auto-Submitted)."""
    mail = find(dedupe_key)
    if mail is not None:
        return mail
    domain = current_app.config["MAIL_FROM"].rsplit("@", 1)[-1].rstrip(">").strip() or "desk.localhost"
    in_reply_to = references = None
    if ticket_id is not None:
        ticket = db.session.get(Ticket, ticket_id)
        if ticket is not None:
            subject = with_reference(subject, ticket.reference)
            in_reply_to, references = thread(ticket.id, to_addr)
    mail = OutboundMail(
        dedupe_key=dedupe_key, to_addr=to_addr, subject=subject[:SUBJECT_MAX], body_text=body_text,
        ticket_id=ticket_id, message_id=make_msgid(domain=domain), in_reply_to=in_reply_to,
        references=references, auto=auto,
    )
    if auto and not dedupe_key.startswith(STAFF_NOTICES):
        _cap(mail)
    db.session.add(mail)
    db.session.flush()
    return mail


def _cap(mail: OutboundMail) -> None:
    """At most AUTO_REPLY_MAX_PER_HOUR automatic mails to one address in any hour (RFC 3834
    §2: an automatic responder must not answer a loop with a flood). Beyond it the row is
    kept, marked suppressed with the reason, and never sent; mail a person wrote is not
    counted and never held back. Counted from this table (the rows that will go out), so
    SQLite and PostgreSQL behave alike and a rolled-back notice counts for nothing."""
    limit = current_app.config["AUTO_REPLY_MAX_PER_HOUR"]
    since = utcnow() - CAP_WINDOW
    sent = db.session.execute(select(func.count()).select_from(OutboundMail).where(
        func.lower(OutboundMail.to_addr) == mail.to_addr.strip().lower(), OutboundMail.created_at >= since,
        OutboundMail.auto.is_(True), OutboundMail.status != "suppressed")).scalar_one()
    if sent >= limit:
        mail.status = "suppressed"
        mail.last_error = (f"suppressed: {sent} automatic mails to this address in the last hour already "
                           f"(AUTO_REPLY_MAX_PER_HOUR={limit})")
        log.warning("mail %s to %s suppressed: %s automatic mails in the last hour (AUTO_REPLY_MAX_PER_HOUR=%s)",
                    mail.dedupe_key, mail.to_addr, sent, limit)


def find(dedupe_key: str) -> OutboundMail | None:
    return db.session.execute(select(OutboundMail).where(OutboundMail.dedupe_key == dedupe_key)).scalar_one_or_none()


def with_reference(subject: str, reference: str) -> str:
    """The subject with `[reference]` in front, unless it already carries it."""
    tag = f"[{reference}]"
    return subject if tag.lower() in subject.lower() else f"{tag} {subject}"


def _angled(message_id: str) -> str:
    message_id = message_id.strip()
    return message_id if message_id.startswith("<") else f"<{message_id}>"


def thread(ticket_id: int, to_addr: str) -> tuple[str | None, str | None]:
    """(In-Reply-To, References) for a new mail on the ticket to `to_addr`.

    The thread is what this correspondent has of the ticket: the messages they sent us by
    e-mail and the mail we sent them, in time order. The mail answers their latest
    message, or else follows our latest mail; References is the thread up to that one
    (its first message and the latest, MAX_REFERENCES in all), RFC 5322 §3.6.4."""
    who = to_addr.strip().lower()
    theirs = db.session.execute(select(Message.created_at, Message.id, Message.email_message_id).where(
        Message.ticket_id == ticket_id, Message.email_message_id.is_not(None), Message.internal.is_(False),
        func.lower(Message.author_email) == who)).all()
    ours = db.session.execute(select(OutboundMail.created_at, OutboundMail.id, OutboundMail.message_id).where(
        OutboundMail.ticket_id == ticket_id, func.lower(OutboundMail.to_addr) == who,
        OutboundMail.status.in_(THREADED_STATUSES))).all()
    # At the same instant, their message comes before our answer to it.
    items = sorted([(at, 0, row_id, _angled(mid)) for at, row_id, mid in theirs]
                   + [(at, 1, row_id, _angled(mid)) for at, row_id, mid in ours])
    if not items:
        return None, None
    parent = max(theirs)[2] if theirs else max(ours)[2]
    parent = _angled(parent)
    ids = list(dict.fromkeys(mid for *_, mid in items))
    ids = ids[:ids.index(parent) + 1]
    if len(ids) > MAX_REFERENCES:
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1):]
    return parent, " ".join(ids)


# -- sending --------------------------------------------------------------------------

def auto_submitted(mail: OutboundMail) -> str | None:
    """The Auto-Submitted value (RFC 3834), or None for a mail a person wrote."""
    if not mail.auto:
        return None
    return "auto-replied" if mail.dedupe_key.startswith(AUTO_REPLIES) else "auto-generated"


def message_for(mail: OutboundMail) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_FROM"]
    msg["To"] = mail.to_addr
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = mail.message_id
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
    if mail.references:
        msg["References"] = mail.references
    marker = auto_submitted(mail)
    if marker:
        msg["Auto-Submitted"] = marker
        msg["X-Auto-Response-Suppress"] = "All"  # no out-of-office answers to a notice
    msg.set_content(mail.body_text)
    return msg


def deliver(mail: OutboundMail) -> None:
    """Send a pending mail and mark it (sent, logged, failed, dropped); a mail that is not
    pending is left alone. A temporary failure (one of SEND_ERRORS) is raised on, with the
    attempt recorded: the caller commits it (see send())."""
    if mail.status != "pending":
        return
    if mail.to_addr.endswith("@erased.invalid"):
        # The person was erased (privacy-8-erasure): a late notice has nowhere to go.
        mail.status, mail.sent_at = "dropped", utcnow()
        return
    config = current_app.config
    msg = message_for(mail)
    mail.attempts = (mail.attempts or 0) + 1
    if not config.get("MAIL_SERVER"):
        # Headers and the text as written (not quoted-printable): a link or a code can be
        # copied from the log.
        headers = "".join(f"{name}: {value}\n" for name, value in msg.items()
                          if not name.lower().startswith(("content-", "mime-")))
        log.info("mail (not sent: MAIL_SERVER unset)\n%s\n%s", headers, mail.body_text)
        mail.status, mail.sent_at = "logged", utcnow()
    else:
        try:
            _smtp_send(msg, config)
        except SEND_ERRORS as exc:
            permanent, text = _failure(exc)
            mail.last_error = text[:2000]
            if not permanent:
                log.warning("mail %s deferred (attempt %s): %s", mail.id, mail.attempts, text)
                raise
            log.warning("mail %s refused for good: %s", mail.id, text)
            mail.status = "failed"
        else:
            mail.status, mail.sent_at = "sent", utcnow()
    if mail.forget_recipient:
        mail.to_addr = FORGOTTEN


def send(mail: OutboundMail) -> str:
    """deliver() in a job, committed whatever happened: the row is read again and locked
    (PostgreSQL) so two runs of one job send it once; a deferred attempt is committed
    before the exception goes on to RQ. Returns the mail's status."""
    mail = db.session.execute(for_update(select(OutboundMail).where(OutboundMail.id == mail.id))).scalar_one()
    try:
        deliver(mail)
    except SEND_ERRORS:
        db.session.commit()
        raise
    db.session.commit()
    return mail.status


def _smtp_send(msg: EmailMessage, config) -> None:
    smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30)
    try:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
        smtp.send_message(msg)
    except BaseException:
        smtp.close()
        raise
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()  # the relay took the message: a lost goodbye does not undo that


def _reply_text(code: int, message) -> str:
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return f"{code} {message}".strip()


def _failure(exc: Exception) -> tuple[bool, str]:
    """(permanent?, what happened). Permanent: the relay answered this message (its sender,
    recipient or content) with a 5xx reply. Everything else — 4xx replies, a relay that
    cannot be reached, times out or hangs up, or refuses our login or TLS (its settings,
    not the mail) — is worth trying again."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = exc.recipients or {}
        text = "; ".join(f"{addr}: {_reply_text(code, msg)}" for addr, (code, msg) in refused.items())
        return bool(refused) and all(500 <= code < 600 for code, _ in refused.values()), text or str(exc)
    if isinstance(exc, (smtplib.SMTPSenderRefused, smtplib.SMTPDataError)):
        return 500 <= exc.smtp_code < 600, _reply_text(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPResponseException):
        return False, _reply_text(exc.smtp_code, exc.smtp_error)
    return False, f"{type(exc).__name__}: {exc}"
