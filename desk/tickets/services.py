"""Ticket intake and changes. Plain functions: they check input, write rows, record the
audit trail and enqueue jobs; the caller's request (or job) owns nothing else."""
from dataclasses import dataclass, field
from datetime import datetime
from weakref import WeakKeyDictionary

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from desk import i18n, jobs, pagination
from desk.audit.models import AuditEvent
from desk.audit.services import SYSTEM, Actor, record, write_pending
from desk.auth.roles import allows
from desk.claims.models import Customer
from desk.csat import services as csat
from desk.errors import DeskError, ValidationError
from desk.extensions import db, kept_loaded
from desk.policy.redaction import redact
from desk.policy.sla import JURISDICTIONS
from desk.sla import clocks
from desk.sanitize import html_to_text, render_markdown, text_to_html
from desk.tickets import assignment, attachments, notices
from desk.tickets.models import (
    KIND_QUEUES, PRIORITIES, STATUSES, Message, Ticket, TicketSequence, TicketTag,
)
from desk.types import utcnow
from desk.webhooks import services as webhooks

MAX_SUBJECT = 200
MAX_BODY = 100_000
NAME_MAX = 120  # requester_name is a String(120) column
MAX_PANEL_ID = 64  # the panel's customer and order ids are String(64) columns


@dataclass
class NewTicket:
    subject: str
    body: str
    requester_email: str
    requester_name: str = ""
    kind: str = "general"
    channel: str = "web"
    customer: str | None = None  # the panel's customer id
    order: str | None = None
    priority: str = "normal"
    jurisdiction: str | None = None  # privacy requests: eu, ca or other (privacy-10-gdpr/ccpa)
    serious_harm: bool = False  # abuse reports: aup-5.6-serious-harm
    # When the request reached us, if not now (mail queued by the MTA, imports): legal and
    # statutory clocks run from receipt.
    received_at: datetime | None = None
    uploads: list[attachments.Upload] = field(default_factory=list)
    # Cases the desk opens itself (a chargeback) are not acknowledged to anyone.
    acknowledge: bool = True
    # Mail: the Message-ID (replies thread on it) and the quoted history, shown folded.
    email_message_id: str | None = None
    quoted: str = ""
    locale: str | None = None  # the requester's language; None: the request's (desk.i18n)


def clean_text(value) -> str:
    """Typed text as stored: trimmed, without NUL characters (which no e-mail or form
    means and PostgreSQL text cannot hold; dropping them loses nothing a person wrote)."""
    return (value or "").replace("\x00", "").strip()


def clean_email(value: str) -> str:
    """An e-mail address as stored (normalised by email-validator); ValidationError if it is not one."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationError("Please give a valid e-mail address.", {"requester_email": str(exc)}) from None


def validate_new(data: NewTicket) -> NewTicket:
    """Check a new ticket's fields; one ValidationError lists every problem."""
    problems = {}
    data.subject = clean_text(data.subject)
    data.body = clean_text(data.body)
    if not data.subject:
        problems["subject"] = "required"
    elif len(data.subject) > MAX_SUBJECT:
        problems["subject"] = f"at most {MAX_SUBJECT} characters"
    if not data.body:
        problems["body"] = "required"
    elif len(data.body) > MAX_BODY:
        problems["body"] = f"at most {MAX_BODY} characters"
    if data.kind not in KIND_QUEUES:
        problems["kind"] = f"one of {', '.join(KIND_QUEUES)}"
    if data.jurisdiction is not None and data.jurisdiction not in JURISDICTIONS:
        problems["jurisdiction"] = f"one of {', '.join(JURISDICTIONS)}"
    if data.serious_harm and data.kind != "abuse":
        problems["serious_harm"] = "only abuse reports are serious-harm reports"
    if data.received_at is not None and data.received_at.tzinfo is None:
        problems["received_at"] = "a time with its zone"
    if data.priority not in PRIORITIES:
        problems["priority"] = f"one of {', '.join(PRIORITIES)}"
    for name in ("customer", "order"):
        # Longer than its column, an id would fail in PostgreSQL (a 500) or be cut in SQLite.
        if len(getattr(data, name) or "") > MAX_PANEL_ID:
            problems[name] = f"at most {MAX_PANEL_ID} characters"
    try:
        data.requester_email = clean_email(data.requester_email or "")
    except ValidationError as exc:
        problems.update(exc.fields)
    data.requester_name = clean_text(data.requester_name)[:NAME_MAX]  # a mail's display name may be longer
    if problems:
        raise ValidationError("Some fields need attention: " + ", ".join(sorted(problems)) + ".", problems)
    attachments.check(data.uploads)
    return data


def next_reference(now) -> str:
    """T-YY-NNNNNN from the year's counter. On PostgreSQL a SEQUENCE per year: nextval()
    is outside transactions, so concurrent intakes never wait on each other (a rolled-back
    intake leaves a gap, as any sequence does). SQLite has one writer anyway: there the
    `ticket_sequences` row is bumped, its UPDATE's lock keeping it unique."""
    return _new_keys(now, with_id=False)[1]


def _new_keys(now, *, with_id: bool) -> tuple[int | None, str]:
    """(id, reference) for a new ticket. On PostgreSQL, `with_id`, the id comes from the
    table's own sequence in the reference's round trip: the ticket's rows then need no
    flush of their own before its audit event and its jobs name it, and are written by the
    commit's one flush (issue 11: three flushes an intake were a third of its CPU). SQLite
    numbers the row at its INSERT: None here."""
    year = now.year % 100
    if db.session.get_bind().dialect.name == "postgresql":
        also_id = ", nextval(pg_get_serial_sequence('tickets', 'id'))" if with_id else ""
        # Reads no table: on the session's connection, what is pending waits for the one
        # flush (and the ORM's execute() cost more than the round trip).
        row = db.session.connection().exec_driver_sql(f"SELECT nextval('{_year_sequence(year)}'){also_id}").one()
        return (row[1] if with_id else None), f"T-{year:02d}-{row[0]:06d}"
    for _ in range(3):
        bumped = db.session.execute(
            update(TicketSequence).where(TicketSequence.year == year)
            .values(last=TicketSequence.last + 1).returning(TicketSequence.last)
        ).scalar_one_or_none()
        if bumped is not None:
            return None, f"T-{year:02d}-{bumped:06d}"
        try:
            with db.session.begin_nested():
                db.session.add(TicketSequence(year=year, last=0))
        except IntegrityError:
            pass  # another request created this year's row first
    raise RuntimeError("could not allocate a ticket reference")


# The years whose sequence this process knows is there, by engine (by identity: hashing its
# URL rendered the URL as a string at every intake).
_sequences_made: "WeakKeyDictionary[object, set[int]]" = WeakKeyDictionary()


def reference_sequence(year: int) -> str:
    """The name of year YY's reference sequence on PostgreSQL (migration 0023 makes those
    of the years `ticket_sequences` counted)."""
    return f"ticket_reference_{year:02d}"


def _year_sequence(year: int) -> str:
    """The year's sequence, created on its first use (in its own committed transaction, so
    no request holds a lock for it) going on from the year's `ticket_sequences` row, if any
    (a database loaded by other means, bench/generate.py)."""
    name = reference_sequence(year)
    engine = db.session.get_bind()
    if year in _sequences_made.get(engine, ()):
        return name
    with engine.connect() as conn:
        last = conn.execute(select(TicketSequence.last).where(TicketSequence.year == year)).scalar_one_or_none()
        try:
            conn.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {name} START WITH {(last or 0) + 1}"))
            conn.commit()
        except IntegrityError:
            conn.rollback()  # two processes created it at once (pg_type's unique index): it is there
    _sequences_made.setdefault(engine, set()).add(year)
    return name


def create_ticket(data: NewTicket, actor: Actor, attach=None) -> tuple[Ticket, Message]:
    """File a ticket with its first message; commits, then hands its acknowledgement to RQ.
    `attach(ticket)` adds rows that belong with it (a claim) in the same transaction.

    One transaction (jobs.commit_and_dispatch), and the ticket, its message, clocks, files,
    customer and assignee stay loaded as written: the caller's answer (the API's is all of
    them) needs no SELECT to read back what it has just stored."""
    ticket, message = open_ticket(data, actor, attach)
    with kept_loaded([ticket, message, *ticket.clocks, *message.attachments, ticket.customer, ticket.assignee]):
        jobs.commit_and_dispatch()
    return ticket, message


def open_ticket(data: NewTicket, actor: Actor, attach=None) -> tuple[Ticket, Message]:
    """create_ticket() inside the caller's transaction: nothing is committed (a feed opens
    a case with the entries that caused it)."""
    validate_new(data)
    now = min(data.received_at or utcnow(), utcnow())
    queue = KIND_QUEUES[data.kind]
    subject = redact(data.subject)
    customer = None
    if data.customer:
        customer = db.session.execute(select(Customer).where(Customer.panel_id == data.customer)).scalar_one_or_none()
        if customer is None:
            # The panel is the source of truth: a customer we have not seen yet gets a bare record.
            customer = Customer(panel_id=data.customer, email=data.requester_email)
            db.session.add(customer)
    ticket_id, reference = _new_keys(now, with_id=True)
    ticket = Ticket(
        id=ticket_id, reference=reference, kind=data.kind, channel=data.channel, subject=subject.text,
        requester_email=data.requester_email, requester_name=data.requester_name, customer=customer,
        order_ref=data.order or None, queue=queue, status="new", priority=data.priority,
        jurisdiction=data.jurisdiction, serious_harm=data.serious_harm, created_at=now, updated_at=now,
        locale=i18n.filing_locale(customer, data.locale),
    )
    clocks.start(ticket, now)
    db.session.add(ticket)
    message = _add_message(ticket, data.body, author_kind="requester", author_email=data.requester_email,
                           uploads=data.uploads, markdown=False, at=now, quoted=data.quoted,
                           email_message_id=data.email_message_id)
    if subject.count:
        # One note to the sender that counts what was taken from the subject and the body.
        message.redaction_note = redact(f"{data.subject}\n{data.body}").note
    if ticket.id is None:
        db.session.flush()  # SQLite: the INSERT gives the id the audit event and the jobs name
    record(actor, "ticket.created", "ticket", ticket.reference, ticket_id=ticket.id,
           kind=ticket.kind, queue=queue, channel=data.channel, redacted=message.redaction_note is not None)
    webhooks.emit_ticket("ticket.created", ticket, channel=data.channel, status=ticket.status)
    clocks.page_if_serious(ticket, now)
    if attach is not None:
        attach(ticket)
    if data.order:
        from desk.claims.services import merge_duplicates

        merge_duplicates(data.order, data.kind)  # a second claim ticket on an order joins the first
    assignment.auto_assign(ticket)  # by the queue's mode, among those on shift now
    if data.acknowledge:
        jobs.enqueue("workers.tickets.send_acknowledgement", ticket.id)
    return ticket, message


def _add_message(ticket, body, *, author_kind, author_email=None, author_staff=None, internal=False,
                 uploads=(), markdown=False, at=None, quoted="", email_message_id=None) -> Message:
    redaction = redact(f"{body}\n\n{quoted}" if quoted else body)
    own = redact(body).text if quoted else redaction.text
    html = render_markdown(own) if markdown else text_to_html(own)
    if quoted:
        # The history a mail quoted: kept, folded away under the person's own words.
        html += f"<details><summary>Quoted text</summary>{text_to_html(redact(quoted).text)}</details>"
    message = Message(
        ticket=ticket, author_kind=author_kind, author_email=author_email, author_staff=author_staff,
        internal=internal, body_html=html, body_text=html_to_text(html) if markdown else redaction.text,
        redaction_note=redaction.note or None, created_at=at or utcnow(), email_message_id=email_message_id,
        attachments=[],  # known empty until add() below: reading them back after the commit needs no SELECT
    )
    db.session.add(message)
    if not internal:
        # The ticket's latest activity, as its requester sees it ("My tickets" sorts by it).
        ticket.updated_at = message.created_at
    for upload in uploads:
        attachments.add(ticket, message, filename=upload.safe_name, content_type=attachments.sniff(upload.data),
                        size=len(upload.data), sha256=attachments.store(upload.data))
    return message


def check_not_merged(ticket: Ticket) -> None:
    """A merged ticket takes nothing more: its pages lead to the ticket it was merged into."""
    if ticket.merged_into_id is not None:
        raise DeskError(f"{ticket.reference} was merged into another ticket and takes no more replies or changes.",
                        code="merged", status=409)


def requester_reply(ticket: Ticket, body: str, uploads: list[attachments.Upload], actor: Actor) -> Message:
    check_not_merged(ticket)
    body = clean_text(body)
    if not body:
        raise ValidationError("Please write a message.", {"body": "required"})
    if len(body) > MAX_BODY:
        raise ValidationError(f"Messages may be at most {MAX_BODY} characters.", {"body": "too long"})
    attachments.check(uploads)
    message = _add_message(ticket, body, author_kind="requester", author_email=ticket.requester_email,
                           uploads=uploads)
    db.session.flush()
    record(actor, "message.added", "ticket", ticket.reference, ticket_id=ticket.id, message=message.id,
           internal=False)
    _reopen_on_reply(ticket, actor)
    db.session.commit()
    jobs.dispatch()  # the attachments' scans
    return message


def _reopen_on_reply(ticket: Ticket, actor: Actor) -> None:
    """A requester's reply (on the page or by mail) reopens a ticket that waited for them
    or was resolved or closed, and its clocks run again."""
    if ticket.status in ("waiting", "resolved", "closed"):
        set_status(ticket, actor, "open")


def mail_reply(ticket: Ticket, body: str, email: str, *, message_id: str | None, quoted: str = "",
               uploads=(), automatic: str | None = None, internal: bool = False) -> Message:
    """A reply that came by e-mail, in the caller's transaction. From a party it reopens the
    ticket as a reply on the page does; an automatic one (an out-of-office answer) or an
    `internal` one (a stranger's, added after review) is a note that changes nothing."""
    body = clean_text(body)[:MAX_BODY] or "(The message had no text.)"
    if automatic:
        body = f"Automatic reply from {email} ({automatic}): kept, not sent on, status unchanged.\n\n{body}"
    internal = internal or bool(automatic)
    message = _add_message(ticket, body, author_kind="requester", author_email=email, internal=internal,
                           uploads=uploads, quoted=quoted, email_message_id=message_id)
    db.session.flush()
    actor = Actor("requester", None, email)
    record(actor, "message.added", "ticket", ticket.reference, ticket_id=ticket.id, message=message.id,
           internal=internal, channel="email")
    if not internal:
        _reopen_on_reply(ticket, actor)
    return message


def add_requester_message(ticket: Ticket, body: str, email: str, *, internal: bool = False) -> Message:
    """A message from someone on the requester's side, in the caller's transaction: a
    second reporter on an abuse case (internal, so the first never reads the second's)."""
    message = _add_message(ticket, body, author_kind="requester", author_email=email, internal=internal)
    db.session.flush()
    record(Actor("requester", None, email), "message.added", "ticket", ticket.reference, ticket_id=ticket.id,
           message=message.id, internal=internal)
    return message


class StaleReply(DeskError):
    """Someone wrote on the ticket after the page the reply was typed on was shown."""

    status = 409
    code = "stale_reply"


def latest_public_id(ticket: Ticket) -> int:
    """The id of the ticket's newest public message (0 for none): a reply form carries it,
    so sending can tell whether someone wrote since the page was shown."""
    return db.session.execute(select(Message.id).where(Message.ticket_id == ticket.id, Message.internal.is_(False))
                              .order_by(Message.id.desc()).limit(1)).scalar_one_or_none() or 0


def check_not_stale(ticket: Ticket, seen: int, staff) -> None:
    """A StaleReply when a public message by anyone else came after message `seen`."""
    query = select(Message).where(Message.ticket_id == ticket.id, Message.internal.is_(False), Message.id > seen)
    if staff is not None:
        query = query.where(or_(Message.author_staff_id.is_(None), Message.author_staff_id != staff.id))
    newer = db.session.execute(query.order_by(Message.id.desc()).limit(1)).scalar_one_or_none()
    if newer is None:
        return
    who = {"staff": newer.author_staff.label if newer.author_staff else "Another agent",
           "requester": newer.author_email or "The requester", "system": "The desk"}[newer.author_kind]
    raise StaleReply(f"{who} wrote on this ticket after you opened it. Nothing was sent: read the new message "
                     "below, then send your reply again if it still stands.", {"body": "someone wrote since"})


def staff_reply(ticket: Ticket, actor: Actor, body: str, *, internal: bool, uploads=(), status: str | None = None,
                staff=None, seen: int | None = None) -> Message:
    """A reply (Markdown) or internal note from staff: a signed-in `staff` member or a staff API key.
    `seen`: the newest public message the reply's page showed; a public reply is refused
    (StaleReply) when someone else wrote since, so no one answers blindly."""
    message = add_staff_reply(ticket, actor, body, internal=internal, uploads=uploads, status=status, staff=staff,
                              seen=seen)
    db.session.commit()
    jobs.dispatch()
    return message


def add_staff_reply(ticket: Ticket, actor: Actor, body: str, *, internal: bool, uploads=(),
                    status: str | None = None, staff=None, seen: int | None = None) -> Message:
    """staff_reply() inside the caller's transaction: nothing is committed (a macro sends
    its reply together with its other actions)."""
    check_not_merged(ticket)
    if seen is not None and not internal:
        check_not_stale(ticket, seen, staff)
    body = clean_text(body)
    if not body:
        raise ValidationError("Please write a message.", {"body": "required"})
    if len(body) > MAX_BODY:
        raise ValidationError(f"Messages may be at most {MAX_BODY} characters.", {"body": "too long"})
    if status is not None and status not in STATUSES:
        raise ValidationError("Unknown status.", {"status": f"one of {', '.join(STATUSES)}"})
    attachments.check(list(uploads))
    message = _add_message(ticket, body, author_kind="staff", author_staff=staff, internal=internal,
                           uploads=uploads, markdown=True)
    db.session.flush()
    record(actor, "message.added", "ticket", ticket.reference, ticket_id=ticket.id, message=message.id,
           internal=internal)
    if not internal:
        if ticket.first_response_at is None:
            ticket.first_response_at = message.created_at
        if ticket.status == "new" and status is None:
            status = "open"
        jobs.enqueue("workers.tickets.notify_requester", message.id)
    clocks.staff_acted(ticket, message.created_at, public_reply=not internal)
    if status and status != ticket.status:
        set_status(ticket, actor, status)
    return message


def system_reply(ticket: Ticket, body: str, *, status: str | None = None, internal: bool = False,
                 notify: bool = True) -> Message:
    """A message the desk itself writes (an automated decision, a confirmation), sent to the
    requester unless internal (or `notify` is off: the caller mails it itself). Plain text;
    the caller owns the transaction and calls jobs.dispatch() after committing."""
    message = _add_message(ticket, body, author_kind="system", internal=internal)
    db.session.flush()
    record(SYSTEM, "message.added", "ticket", ticket.reference, ticket_id=ticket.id,
           message=message.id, internal=internal)
    if not internal and notify:
        jobs.enqueue("workers.tickets.notify_requester", message.id)
    if status and status != ticket.status:
        set_status(ticket, SYSTEM, status)
    return message


def _set(ticket: Ticket, actor: Actor, attr: str, value) -> AuditEvent | None:
    """Change one field and audit it; the audit event, or None when nothing changed."""
    before = getattr(ticket, attr)
    if before == value:
        return None
    setattr(ticket, attr, value)
    return record(actor, f"ticket.{attr}", "ticket", ticket.reference, ticket_id=ticket.id, before=before,
                  after=value)


def set_priority(ticket: Ticket, actor: Actor, priority: str) -> None:
    if priority not in PRIORITIES:
        raise ValidationError("Unknown priority.", {"priority": f"one of {', '.join(PRIORITIES)}"})
    _set(ticket, actor, "priority", priority)


def set_status(ticket: Ticket, actor: Actor, status: str) -> AuditEvent | None:
    """Every status change goes through here, so the clocks pause, resume and stop with it
    (and a ticket staff resolve gets its satisfaction survey). Returns the change's audit event (None when the status was already `status`)."""
    before = ticket.status
    if before == status:
        return None
    event = _set(ticket, actor, "status", status)
    webhooks.emit_ticket("ticket.status_changed", ticket, before=before, after=status)
    now = utcnow()
    if actor.kind == "staff":
        clocks.staff_acted(ticket, now, public_reply=False)
    clocks.status_changed(ticket, before, status, now)
    csat.after_status_change(ticket, actor, before, status)
    return event


def update_ticket(ticket: Ticket, staff, *, status=None, priority=None, tags=None) -> None:
    """Staff change the status, priority or tags. Resolving or closing a ticket this way
    (no reply goes with it) tells the requester by e-mail; a reply that resolves it
    (staff_reply with a status) is the only mail that change sends."""
    check_not_merged(ticket)
    actor = Actor.staff(staff)
    if status is not None:
        if status not in STATUSES:
            raise ValidationError("Unknown status.", {"status": f"one of {', '.join(STATUSES)}"})
        before = ticket.status
        change = set_status(ticket, actor, status)
        if change is not None and notices.wants_status_notice(ticket, before, status):
            write_pending()  # the audit event's id keys the notice: each change is told once
            jobs.enqueue("workers.tickets.notify_status", ticket.id, status, change.id)
    if priority is not None:
        set_priority(ticket, actor, priority)
    if tags is not None:
        set_tags(ticket, actor, normalise_tags(tags))
    db.session.commit()
    jobs.dispatch()


def set_tags(ticket: Ticket, actor: Actor, wanted: set[str]) -> None:
    """The ticket's tags become `wanted` (normalised), audited; in the caller's transaction."""
    current = set(ticket.tags)
    if wanted != current:
        ticket.tag_rows = [row for row in ticket.tag_rows if row.tag in wanted] + [
            TicketTag(tag=tag) for tag in sorted(wanted - current)
        ]
        record(actor, "ticket.tags", "ticket", ticket.reference, ticket_id=ticket.id,
               before=sorted(current), after=sorted(wanted))


MAX_TAG = 40  # ticket_tags.tag


def normalise_tags(raw, field: str = "tags") -> set[str]:
    """Tags as stored: trimmed, lower case, spaces as hyphens. One longer than a tag may be
    is refused (422 naming `field`), not cut: a cut tag would file the ticket under a word
    nobody typed."""
    items = raw.split(",") if isinstance(raw, str) else raw
    tags = {str(t).strip().lower().replace(" ", "-") for t in items}
    too_long = sorted(t for t in tags if len(t) > MAX_TAG)
    if too_long:
        raise ValidationError(f"A tag is at most {MAX_TAG} characters; “{too_long[0][:MAX_TAG]}…” is longer.",
                              {field: f"each tag at most {MAX_TAG} characters"})
    return {t for t in tags if t}


def assign(ticket: Ticket, staff, assignee) -> None:
    """Give the ticket to `assignee` (a Staff row, or None to unassign) within their queues
    and limit of open tickets (desk.tickets.assignment); commits."""
    set_assignee(ticket, staff, assignee)
    db.session.commit()


def may_assign(staff, ticket: Ticket, assignee) -> bool:
    """Taking a ticket from someone else, or giving it to someone else, is for roles with
    ticket.reassign_others; anyone who may assign takes a free ticket or lets theirs go."""
    taking_from_other = ticket.assignee_id not in (None, staff.id)
    giving_to_other = assignee is not None and assignee.id != staff.id
    return not (taking_from_other or giving_to_other) or allows(staff.role, "ticket.reassign_others")


def set_assignee(ticket: Ticket, staff, assignee) -> None:
    """assign() inside the caller's transaction: nothing is committed."""
    check_not_merged(ticket)
    if assignee is not None:
        assignment.check_assignee(ticket, assignee)
    assignment.give(ticket, assignee, Actor.staff(staff))


def tickets_page(scope, cursor: str | None, size: int, *, customer_id: int | None = None,
                 status: str | None = None, kind: str | None = None) -> tuple[list[Ticket], str | None]:
    """One page of the tickets `scope` (a SQL condition: a key's queues, a customer's own)
    lets the caller see, newest filed first, optionally of one customer, status or kind; and
    the next page's cursor. Keyset on the id (the primary key). Each ticket comes with what
    its answer shows (messages and their files, clocks, tags, customer, assignee)."""
    query = select(Ticket).where(scope).options(
        selectinload(Ticket.messages).selectinload(Message.attachments), selectinload(Ticket.clocks),
        selectinload(Ticket.tag_rows), selectinload(Ticket.customer), selectinload(Ticket.assignee))
    if customer_id is not None:
        query = query.where(Ticket.customer_id == customer_id)
    if status is not None:
        query = query.where(Ticket.status == status)
    if kind is not None:
        query = query.where(Ticket.kind == kind)
    return pagination.page(query, (Ticket.id,), (int,), cursor, size, "tickets")


def find_ticket(reference: str, *options) -> Ticket | None:
    """The ticket of a reference, or None; `options` are loader options (the ticket page's
    eager loads)."""
    if "\x00" in reference:
        return None  # no reference holds one, and PostgreSQL text cannot be asked about it
    return db.session.execute(select(Ticket).where(Ticket.reference == reference.strip().upper())
                              .options(*options)).unique().scalar_one_or_none()
