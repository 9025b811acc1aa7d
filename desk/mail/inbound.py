"""Received mail into the desk: one message in, one outcome out, nothing lost.

Order of questions for each message:
1. Have we had it before (its Message-ID, or its bytes)? Then nothing new happens.
2. Can it be read? If not it is quarantined with its raw bytes for an admin.
3. Is it a delivery report about mail we sent? The mail is marked bounced, the ticket told.
4. Does it answer a ticket (In-Reply-To / References, or "[T-26-004213]" in the subject)?
   From a party to the ticket it joins it; from anyone else it is held for review.
5. Otherwise it is new, and the address it was sent to decides the desk: support@ and
   billing@ open tickets, abuse@ and legal@ go to the abuse intake as reports (ARF
   feedback reports with their fields), privacy@ to the privacy intake.

An automatic message (auto-reply, bounce, list mail) never gets an acknowledgement, so two
mail systems cannot answer each other for ever.
"""
import logging
import re
from collections.abc import Collection
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from desk import jobs
from desk.audit.services import SYSTEM, Actor, record
from desk.claims.orders import find_by_email
from desk.errors import DeskError, ValidationError
from desk.extensions import db
from desk.mail import guess, parse
from desk.mail.models import InboundMail, OutboundMail
from desk.tickets import attachments, merge
from desk.tickets import services as tickets
from desk.tickets.models import Message, Ticket
from desk.types import utcnow

log = logging.getLogger(__name__)
REFERENCE = re.compile(r"\[(T-\d{2}-\d{6})\]", re.IGNORECASE)
# The desks the published addresses lead to; when a message is sent to several, the most
# particular one takes it (a privacy request copied to support@ is a privacy request).
ROUTES = ("privacy", "legal", "abuse", "billing", "support")
ROUTE_LABELS = {"support": "Support", "billing": "Billing", "abuse": "Abuse reports",
                "legal": "Rights holders (legal@)", "privacy": "Privacy requests"}
# The kind of ticket a message to each desk opens (by the intakes, or as an automatic
# message kept without one).
ROUTE_KINDS = {"support": "general", "billing": "billing", "abuse": "abuse", "legal": "rights", "privacy": "privacy"}
# The queue whose readers may see a message sent to each desk (privacy@ mail is the
# privacy officer's, abuse@ and legal@ trust & safety's); mail with no desk, or a desk not
# listed, is Support's.
ROUTE_QUEUES = {"support": "support", "billing": "billing", "abuse": "abuse", "legal": "legal",
                "privacy": "privacy", "claims": "claims"}


class TooLarge(DeskError):
    status = 413
    code = "too_large"


@dataclass
class Outcome:
    status: str  # filed, threaded, held, quarantined, bounced, ignored, duplicate
    detail: str
    inbound_id: int | None = None
    ticket: str | None = None  # the ticket reference, when there is one
    extra: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}{' ' + self.ticket if self.ticket else ''}: {self.detail}"


# -- addresses ---------------------------------------------------------------------

def mailboxes() -> dict[str, str]:
    """Local part -> desk, from MAIL_ROUTES ("support=support,help=support,...")."""
    found = {}
    for item in (current_app.config["MAIL_ROUTES"] or "").split(","):
        local, _, route = item.partition("=")
        if local.strip() and route.strip() in ROUTES:
            found[local.strip().lower()] = route.strip()
    return found


def route_of(address: str) -> str | None:
    """The desk an address leads to (any domain; "support+tag@" is support@), or None."""
    local = (address or "").strip("<> ").rsplit("@", 1)[0].split("+", 1)[0].lower()
    return mailboxes().get(local)


def route_for(addresses) -> str | None:
    found = {route_of(a) for a in addresses} - {None}
    return next((r for r in ROUTES if r in found), None)


def max_bytes() -> int:
    return current_app.config["MAIL_MAX_BYTES"]


def too_large_text(size: int | None = None) -> str:
    limit = attachments.human_size(max_bytes())
    was = f" This one was {attachments.human_size(size)}." if size else ""
    return (f"The message is larger than the {limit} the desk accepts, so it was not delivered.{was} "
            "Send it again with smaller attachments, or put large files behind a link.")


# -- the one entry point -------------------------------------------------------------

def ingest(raw: bytes, recipients: list[str] | None = None, envelope_sender: str | None = None) -> Outcome:
    """Take one message (commits). Raises TooLarge before keeping anything over the limit,
    and lets a database failure through so the sender's MTA tries again later."""
    if len(raw) > max_bytes():
        raise TooLarge(too_large_text(len(raw)))
    recipients = [r.strip("<> ").lower() for r in recipients or [] if r and r.strip("<> ")]
    try:
        parsed = parse.read(raw, envelope_sender)
    except parse.Unreadable as exc:
        return _quarantine(raw, recipients, str(exc))
    key = parsed.message_id or parse.digest_key(raw)
    seen = _seen(key)
    if seen is not None:
        return Outcome("duplicate", f"already received as #{seen.id} ({seen.status})", seen.id,
                       seen.ticket.reference if seen.ticket else None)
    row = InboundMail(message_key=key, recipients=recipients or parsed.recipients, sender=parsed.sender,
                      subject=parsed.subject, size=len(raw), status="received", received_at=utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        # The same message delivered twice at once: the other delivery has it.
        db.session.rollback()
        seen = _seen(key)
        return Outcome("duplicate", "delivered twice at once; the other delivery took it", seen.id if seen else None)
    try:
        outcome = _handle(row, parsed, raw)
        db.session.commit()
    except DeskError as exc:
        db.session.rollback()
        return _quarantine(raw, recipients, f"the desk refused it: {exc.message}", key=key)
    except Exception as exc:
        db.session.rollback()
        if _cannot_store_now(exc):
            raise
        log.exception("inbound mail: unexpected error; quarantined")
        return _quarantine(raw, recipients, f"an error in the desk: {type(exc).__name__}: {exc}"[:500], key=key)
    jobs.dispatch()
    outcome.inbound_id = row.id
    return outcome


def _cannot_store_now(exc: Exception) -> bool:
    """The database, or the file storage attachments go to, cannot be reached: the sender's
    MTA keeps the message and tries again later."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from desk.storage import StorageUnavailable

    return isinstance(exc, (OperationalError, StorageUnavailable)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)


def _seen(key: str) -> InboundMail | None:
    return db.session.execute(select(InboundMail).where(InboundMail.message_key == key)).scalar_one_or_none()


def _quarantine(raw: bytes, recipients: list[str], reason: str, key: str | None = None) -> Outcome:
    """Keep the raw bytes for an admin; a second delivery of them is the same row."""
    key = key or parse.digest_key(raw)
    seen = _seen(key)
    if seen is not None:
        return Outcome("duplicate", f"already received as #{seen.id} ({seen.status})", seen.id)
    sender = re.search(rb"^From:[^\r\n]*?([\w.+-]+@[\w.-]+)", raw[:65536], re.MULTILINE | re.IGNORECASE)
    subject = re.search(rb"^Subject:([^\r\n]*)", raw[:65536], re.MULTILINE | re.IGNORECASE)
    row = InboundMail(message_key=key, recipients=recipients, route=route_for(recipients),
                      sender=sender.group(1).decode("ascii", "replace").lower()[:254] if sender else "",
                      subject=subject.group(1).decode("utf-8", "replace").replace("\x00", "").strip()[:300] if subject else "",
                      size=len(raw), status="quarantined", detail=reason.replace("\x00", ""), raw=raw, received_at=utcnow())
    db.session.add(row)
    db.session.flush()
    record(SYSTEM, "mail.quarantined", "inbound_mail", row.id, reason=reason[:300])
    db.session.commit()
    return Outcome("quarantined", reason, row.id)


def _handle(row: InboundMail, parsed: parse.Parsed, raw: bytes) -> Outcome:
    if parsed.delivery is not None:
        return _bounce(row, parsed)
    ticket = thread_of(parsed)
    if ticket is not None:
        return _reply(row, parsed, ticket, raw)
    if _from_ourselves(parsed.sender):
        row.status, row.detail = "ignored", "sent from the desk's own address: never answered (no mail loop)"
        return Outcome(row.status, row.detail)
    row.route = route_for(row.recipients) or "support"
    if parsed.auto and not (row.route == "abuse" and parsed.feedback is not None):
        return _file_automatic(row, parsed)
    return {"support": _file_ticket, "billing": _file_ticket, "abuse": _file_report, "legal": _file_report,
            "privacy": _file_privacy}[row.route](row, parsed)


def _from_ourselves(sender: str) -> bool:
    """Mail the desk itself sent: from its MAIL_FROM address, or from one of its published
    mailboxes (support@, billing@, ...) at MAIL_FROM's domain."""
    ours = current_app.config["MAIL_FROM"].rsplit("<", 1)[-1].strip("> ").lower()
    from_our_address = sender == ours
    from_our_mailbox = route_of(sender) is not None and sender.rsplit("@", 1)[-1] == ours.rsplit("@", 1)[-1]
    return from_our_address or from_our_mailbox


# -- threading -----------------------------------------------------------------------

def thread_of(parsed: parse.Parsed) -> Ticket | None:
    """The ticket a reply belongs to: by the messages it answers, then by the reference; a
    ticket merged into another leads to that one (desk.tickets.merge)."""
    ticket = None
    ids = parsed.thread_ids
    if ids:
        ticket_id = db.session.execute(
            select(Message.ticket_id).where(Message.email_message_id.in_(ids)).limit(1)).scalar_one_or_none()
        if ticket_id is None:
            ticket_id = db.session.execute(
                select(OutboundMail.ticket_id).where(OutboundMail.message_id.in_(ids),
                                                     OutboundMail.ticket_id.is_not(None)).limit(1)).scalar_one_or_none()
        if ticket_id is not None:
            ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        match = REFERENCE.search(parsed.subject)
        ticket = tickets.find_ticket(match.group(1)) if match else None
    return merge.final(ticket) if ticket is not None else None


def parties(ticket: Ticket) -> set[str]:
    """Who may add to a ticket by mail: the requester, the account's own address and
    everyone who already wrote on the requester's side (a second reporter on a case)."""
    found = {ticket.requester_email.lower()}
    if ticket.customer is not None and ticket.customer.email:
        found.add(ticket.customer.email.lower())
    found.update(e.lower() for e in db.session.execute(
        select(Message.author_email).where(Message.ticket_id == ticket.id, Message.author_kind == "requester",
                                           Message.author_email.is_not(None)).distinct()).scalars())
    return found


def _reply(row: InboundMail, parsed: parse.Parsed, ticket: Ticket, raw: bytes) -> Outcome:
    row.ticket, row.route = ticket, ticket.queue
    if parsed.sender not in parties(ticket) and parsed.auto:
        row.status = "ignored"
        row.detail = f"an automatic message ({parsed.auto}) about {ticket.reference} from {parsed.sender}, not a party"
        return Outcome(row.status, row.detail, ticket=ticket.reference)
    if parsed.sender not in parties(ticket):
        row.status, row.raw, row.preview = "held", raw, parse.excerpt(parsed.new_text)
        row.detail = (f"A reply to {ticket.reference} from {parsed.sender}, who is not a party to the ticket: "
                      "held until an agent adds or rejects it.")
        db.session.flush()
        record(SYSTEM, "mail.held", "inbound_mail", row.id, ticket_id=ticket.id, sender=parsed.sender)
        return Outcome("held", row.detail, ticket=ticket.reference)
    kept, refused = attachments.sort_out(_uploads(parsed))
    message = tickets.mail_reply(ticket, _with_refusals(parsed.new_text, refused), parsed.sender,
                                 message_id=parsed.message_id, quoted=parsed.quoted, uploads=kept,
                                 automatic=parsed.auto)
    row.status, row.detail = "threaded", f"added to {ticket.reference} as message {message.id}"
    return Outcome("threaded", row.detail, ticket=ticket.reference)


def _bounce(row: InboundMail, parsed: parse.Parsed) -> Outcome:
    report = parsed.delivery
    mail = None
    if report.message_ids:
        mail = db.session.execute(select(OutboundMail).where(OutboundMail.message_id.in_(report.message_ids))
                                  .limit(1)).scalar_one_or_none()
    if mail is None:
        row.status, row.detail = "ignored", "a delivery report about no mail the desk knows"
        return Outcome(row.status, row.detail)
    failed = report.action in ("failed", "") or report.status.startswith("5")
    if failed:
        mail.status, mail.last_error = "bounced", f"{report.status} {report.diagnostic}".strip()[:1000]
    row.status, row.ticket_id = "bounced", mail.ticket_id
    row.detail = (f"Delivery report for our mail #{mail.id} to {report.recipient or mail.to_addr}: "
                  f"{report.action or 'failed'} {report.status} {report.diagnostic}").strip()
    if mail.ticket_id is not None and failed:
        ticket = db.session.get(Ticket, mail.ticket_id)
        tickets.system_reply(ticket, f"Our mail \"{mail.subject}\" to {mail.to_addr} could not be delivered: "
                             f"{report.status} {report.diagnostic}".strip() + ". The requester may not have seen "
                             "it; check the address or reach them another way.", internal=True)
    return Outcome(row.status, row.detail, ticket=None)


# -- new messages ----------------------------------------------------------------------

def _uploads(parsed: parse.Parsed) -> list[attachments.Upload]:
    return [attachments.Upload(part.filename, part.data) for part in parsed.parts]


def _with_refusals(text: str, refused: list[str]) -> str:
    if not refused:
        return text
    return (text + "\n\n" if text else "") + "Attachments not kept:\n" + "\n".join(f"- {r}" for r in refused)


def _subject(parsed: parse.Parsed) -> str:
    return parsed.subject or "(no subject)"


def _new_ticket(row: InboundMail, parsed: parse.Parsed, kind: str, *, acknowledge: bool) -> tickets.NewTicket:
    kept, refused = attachments.sort_out(_uploads(parsed))
    customer = find_by_email(parsed.sender)
    return tickets.NewTicket(
        subject=_subject(parsed)[:tickets.MAX_SUBJECT], body=_with_refusals(parsed.new_text, refused)
        or "(The message had no text.)", requester_email=parsed.sender, requester_name=parsed.sender_name,
        kind=kind, channel="email", customer=customer.panel_id if customer else None, uploads=kept,
        acknowledge=acknowledge, email_message_id=parsed.message_id, quoted=parsed.quoted)


def _filed(row: InboundMail, ticket: Ticket, detail: str) -> Outcome:
    row.status, row.ticket, row.detail = "filed", ticket, detail
    return Outcome("filed", detail, ticket=ticket.reference)


def _file_ticket(row: InboundMail, parsed: parse.Parsed) -> Outcome:
    ticket, _ = tickets.open_ticket(_new_ticket(row, parsed, ROUTE_KINDS[row.route], acknowledge=True),
                                    _actor(parsed))
    return _filed(row, ticket, f"new ticket {ticket.reference} in {ticket.queue}")


def _file_automatic(row: InboundMail, parsed: parse.Parsed) -> Outcome:
    """Kept as a ticket in the desk it was sent to, but never acknowledged or worked by an
    intake that would write back (a privacy code, a report confirmation)."""
    ticket, _ = tickets.open_ticket(_new_ticket(row, parsed, ROUTE_KINDS[row.route], acknowledge=False),
                                    _actor(parsed))
    tickets.system_reply(ticket, f"An automatic message ({parsed.auto}): filed without an acknowledgement, so "
                         "no mail loop can start. Nothing was sent to the sender.", internal=True)
    return _filed(row, ticket, f"automatic message ({parsed.auto}) kept as {ticket.reference}, not acknowledged")


def _actor(parsed: parse.Parsed) -> Actor:
    return Actor("requester", None, parsed.sender)


def _file_report(row: InboundMail, parsed: parse.Parsed) -> Outcome:
    from desk.abuse import intake

    text = f"{parsed.subject}\n{parsed.text}"
    kept, refused = attachments.sort_out(_uploads(parsed))
    description = _with_refusals(parsed.new_text, refused)
    if row.route == "legal":
        data = intake.NewReport(kind="rights", reporter_email=parsed.sender, reporter_name=parsed.sender_name,
                                links=guess.links(text), orders=guess.orders(text), description=description,
                                right=guess.legal_right(text), work=_subject(parsed), good_faith=guess.good_faith(text),
                                channel="email", uploads=kept)
    elif parsed.feedback is not None:
        data = _feedback_report(parsed, kept)
    else:
        data = intake.NewReport(kind="abuse", reporter_email=parsed.sender, reporter_name=parsed.sender_name,
                                category=guess.category(text), links=guess.links(text), orders=guess.orders(text),
                                description=description, channel="email", uploads=kept)
    row.status = "filed"
    report = intake.file_report(data, _actor(parsed))  # commits, with this row
    row.outcome = {"report": report.reference}
    case_ticket = report.case.ticket if report.case is not None else None
    if case_ticket is not None and report.message_id is not None:
        message = db.session.get(Message, report.message_id)
        if message.email_message_id is None and parsed.message_id and not _message_id_taken(parsed.message_id):
            message.email_message_id = parsed.message_id
    row.ticket = case_ticket
    row.detail = (f"{'rights-holder notice' if data.kind == 'rights' else 'abuse report'} {report.reference} "
                  f"(AUP {report.category}{', read from an ARF feedback report' if parsed.feedback else ''}), "
                  f"{report.status}")
    return Outcome("filed", row.detail, ticket=case_ticket.reference if case_ticket else None,
                   extra={"report": report.reference})


def _message_id_taken(message_id: str) -> bool:
    return db.session.execute(select(Message.id).where(Message.email_message_id == message_id)).first() is not None


def _feedback_report(parsed: parse.Parsed, kept):
    """RFC 5965: the mailbox provider's report on a message its user called abuse."""
    from desk.abuse import intake

    feedback = parsed.feedback
    original = feedback.original
    lines = [parsed.new_text or "(The feedback report had no human-readable part.)", "",
             f"Feedback-Type: {feedback.feedback_type}"]
    for name in ("user-agent", "source-ip", "arrival-date", "original-mail-from", "original-rcpt-to",
                 "reported-domain", "authentication-results"):
        for value in feedback.fields.get(name, []):
            lines.append(f"{name.title()}: {value}")
    for name in ("from", "subject", "date", "message-id"):
        if original.get(name):
            lines.append(f"Original {name.title()}: {original[name]}")
    links = feedback.uris or guess.links(" ".join(original.values()))
    return intake.NewReport(
        kind="abuse", reporter_email=parsed.sender, reporter_name=parsed.sender_name or feedback.first("user-agent"),
        category=guess.FEEDBACK_CATEGORIES.get(feedback.feedback_type, "4.3"), links=links,
        description="\n".join(lines), channel="email", uploads=kept,
        feedback={"type": feedback.feedback_type, "source_ip": feedback.first("source-ip"),
                  "reported_domain": feedback.first("reported-domain"), "user_agent": feedback.first("user-agent"),
                  "original_message_id": original.get("message-id", "")})


def _file_privacy(row: InboundMail, parsed: parse.Parsed) -> Outcome:
    from desk.privacy import requests

    text = f"{parsed.subject}\n{parsed.text}"
    details = parsed.new_text
    if parsed.parts:
        # privacy-3-minimal: identity documents are not needed (the code proves the address)
        # and are not kept.
        details += (f"\n\n({len(parsed.parts)} attachment(s) not kept: we verify by a code sent to this address, "
                    "so identity documents are not needed (privacy-3-minimal).)")
    request = requests.file(requests.NewRequest(
        email=parsed.sender, rights=guess.rights(text), jurisdiction=guess.jurisdiction(text),
        details=details, name=parsed.sender_name, channel="email"), _actor(parsed))
    tickets.system_reply(request.ticket, "Filed from an e-mail to privacy@: the rights and the jurisdiction were "
                         "read from its words. Check them against the message before acting.", internal=True)
    first = request.ticket.messages[0]
    if parsed.message_id and not _message_id_taken(parsed.message_id):
        first.email_message_id = parsed.message_id
    row.outcome = {"privacy_request": request.id}
    return _filed(row, request.ticket, f"privacy request {request.reference} ({', '.join(request.rights)}); "
                  "a verification code was sent to the sender")


# -- review (held replies, quarantine) ---------------------------------------------------

def find(inbound_id: int) -> InboundMail | None:
    return db.session.get(InboundMail, inbound_id)


def held_for(ticket: Ticket) -> list[InboundMail]:
    """The replies held on a ticket, each with its preview (the start of its text) to decide on."""
    return list(db.session.execute(select(InboundMail).where(
        InboundMail.ticket_id == ticket.id, InboundMail.status == "held").order_by(InboundMail.id)).scalars())


def accept_held(row: InboundMail, staff) -> Message:
    """An agent adds a held reply to its ticket, as an internal note: the sender is not a
    party, so the requester is not shown what a stranger wrote."""
    if row.status != "held" or row.ticket is None:
        raise ValidationError("This message is not waiting for review.", {"status": row.status})
    parsed = parse.read(row.raw, lenient=True)
    kept, refused = attachments.sort_out(_uploads(parsed))
    body = (f"Reply by e-mail from {parsed.sender}, who is not a party to this ticket; added by "
            f"{staff.email} after review.\n\n{_with_refusals(parsed.new_text, refused)}")
    message = tickets.mail_reply(row.ticket, body, parsed.sender, internal=True, uploads=kept, quoted=parsed.quoted,
                                 message_id=None if _message_id_taken(parsed.message_id or "") else parsed.message_id)
    _reviewed(row, staff, "accepted", f"added to {row.ticket.reference} as an internal note")
    db.session.commit()
    return message


def reject_held(row: InboundMail, staff, reason: str) -> None:
    _dismiss(row, staff, "held", "rejected", reason)


def release(row: InboundMail, staff) -> Outcome:
    """An admin sends a quarantined message on, read past its defects."""
    if row.status != "quarantined":
        raise ValidationError("Only a quarantined message can be released.", {"status": row.status})
    try:
        parsed = parse.read(row.raw, lenient=True)
    except parse.Unreadable as exc:
        raise ValidationError(f"The message still cannot be read ({exc}). Download it, and discard it once "
                              "dealt with.", {"raw": "unreadable"}) from None
    fresh = InboundMail(message_key=f"released:{row.id}:{parsed.message_id or ''}"[:998], recipients=row.recipients,
                        sender=parsed.sender, subject=parsed.subject, size=row.size, status="received",
                        received_at=row.received_at)
    db.session.add(fresh)
    db.session.flush()
    outcome = _handle(fresh, parsed, row.raw)
    _reviewed(row, staff, "released", f"released as #{fresh.id}: {outcome}")
    db.session.commit()
    jobs.dispatch()
    outcome.inbound_id = fresh.id
    return outcome


def discard(row: InboundMail, staff, reason: str) -> None:
    _dismiss(row, staff, "quarantined", "discarded", reason)


def _dismiss(row: InboundMail, staff, expected: str, status: str, reason: str) -> None:
    """Rejected or discarded: the bytes go, the row stays as the record with the reason."""
    if row.status != expected:
        raise ValidationError(f"Only a {expected} message can be {status}.", {"status": row.status})
    _reviewed(row, staff, status, reason)
    db.session.commit()


def _reviewed(row: InboundMail, staff, status: str, note: str) -> None:
    before = row.status
    row.status, row.raw, row.preview = status, None, None
    row.reviewed_by_id, row.reviewed_at, row.review_note = staff.id, utcnow(), note
    record(Actor.staff(staff), f"mail.{status}", "inbound_mail", row.id, ticket_id=row.ticket_id, before=before,
           note=note[:300])


def visible_to(queues: Collection[str]) -> ColumnElement[bool]:
    """Which received messages a reader of these queues may see, as one query condition
    (the log, its counts and each message's page all ask it): a message on a ticket goes
    with the ticket's queue, one without a ticket with the desk it was sent to."""
    by_route = InboundMail.route.in_([route for route, queue in ROUTE_QUEUES.items() if queue in queues])
    if "support" in queues:
        by_route = or_(by_route, InboundMail.route.is_(None), InboundMail.route.not_in(list(ROUTE_QUEUES)))
    on_ticket = InboundMail.ticket.has(Ticket.queue.in_(sorted(queues)))
    return or_(on_ticket, and_(InboundMail.ticket_id.is_(None), by_route))


def counts(queues: Collection[str]) -> dict[str, int]:
    """How many messages wait for a person (held, quarantined), of those these queues' readers see."""
    return dict(db.session.execute(select(InboundMail.status, func.count()).where(
        InboundMail.status.in_(("held", "quarantined")), visible_to(queues)).group_by(InboundMail.status)).all())
