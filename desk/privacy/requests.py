"""Privacy requests from intake to answer (Privacy §10): filing, identity verification
(privacy-10-verify), the rights that set a flag, refusal, and the record kept for 24
months (11 CCR §7101). Callers own the transaction and call jobs.dispatch() after it."""
import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

from desk import jobs, links
from desk.audit.services import SYSTEM, Actor, record
from desk.claims.models import Customer
from desk.claims.orders import find_by_email
from desk.errors import DeskError, ValidationError, require_reason
from desk.extensions import db
from desk.i18n import DEFAULT, filing_locale, in_locale, speaking
from desk.mail.outbound import compose, render
from desk.policy import privacy as policy
from desk.privacy.models import OPEN_STATUSES, PrivacyExport, PrivacyRequest
from desk.sanitize import csv_cell
from desk.sla import clocks
from desk.sla.models import TicketClock
from desk.tickets import services as tickets
from desk.tickets.services import NewTicket
from desk.types import utcnow

LINK_SALT = "desk.privacy-request"
RECORD_MONTHS = 24
MAX_DETAILS = 5000  # what the form takes; a mail's longer text is kept whole in the mail log


@dataclass
class NewRequest:
    email: str
    rights: list
    jurisdiction: str
    details: str = ""
    name: str = ""
    channel: str = "web"
    login: str = ""  # when several accounts share the e-mail


def validate(data: NewRequest) -> NewRequest:
    fields = {}
    try:
        data.email = tickets.clean_email(data.email or "").lower()
    except ValidationError:
        fields["email"] = "a valid e-mail address is required"
    rights, unknown = policy.normalise_rights(data.rights if isinstance(data.rights, list) else [data.rights])
    if unknown:
        fields["rights"] = f"unknown right(s): {', '.join(unknown)}; choose from {', '.join(policy.RIGHTS)}"
    elif policy.rights_problem(rights, data.jurisdiction):
        problem = policy.rights_problem(rights, data.jurisdiction)
        fields["rights" if not rights else "jurisdiction"] = problem
    data.rights, data.details = rights, tickets.clean_text(data.details)[:MAX_DETAILS]
    if fields:
        raise ValidationError("The request is not complete: " + "; ".join(f"{k}: {v}" for k, v in fields.items()),
                              fields)
    return data


def file(data: NewRequest, actor: Actor) -> PrivacyRequest:
    """Keep the request and its ticket, start its statutory clock, and send the code that
    proves the requester controls the e-mail. The answer is the same whether or not an
    account has this e-mail: the form tells nobody who has an account."""
    validate(data)
    customer = find_by_email(data.email, data.login or None)
    # In the requester's language (the form's, else their account's): the ticket is theirs to
    # read; the rights themselves are kept as codes on the request for staff.
    with in_locale(filing_locale(customer) or DEFAULT):
        labels = ", ".join(gettext(policy.RIGHTS[r]).split(":")[0] for r in data.rights)
        body = (gettext("Rights asked for: %(rights)s.", rights=labels) + "\n" +
                gettext("Where the requester is: %(where)s.", where=gettext(policy.JURISDICTIONS[data.jurisdiction])))
        subject = gettext("Privacy request: %(rights)s", rights=labels)[:200]
    if data.details:
        body += f"\n\n{data.details}"
    ticket, _ = tickets.open_ticket(NewTicket(
        subject=subject, body=body, requester_email=data.email,
        requester_name=data.name[:tickets.NAME_MAX], kind="privacy", channel=data.channel,
        customer=customer.panel_id if customer else None, jurisdiction=data.jurisdiction, acknowledge=False), actor)
    request = PrivacyRequest(ticket=ticket, reference=ticket.reference, rights=data.rights,
                             jurisdiction=data.jurisdiction, channel=data.channel, email=data.email,
                             customer=customer, details=data.details, received_at=ticket.created_at)
    db.session.add(request)
    db.session.flush()
    record(actor, "privacy.filed", "privacy_request", request.id, ticket_id=ticket.id, rights=data.rights,
           jurisdiction=data.jurisdiction, channel=data.channel, account=customer is not None,
           rule=policy.RIGHTS_RULE)
    send_code(request, first=True)
    return request


def clock_of(request: PrivacyRequest):
    """The request's statutory answer clock (privacy-10-gdpr / privacy-10-ccpa), or None."""
    if request.ticket is None:
        return None
    return next((c for c in request.ticket.clocks if c.name == "statutory_answer"), None)


def deadline(request: PrivacyRequest) -> datetime | None:
    """When the answer is due in law, extensions included."""
    clock = clock_of(request)
    return clock.due_at if clock is not None else None


# -- verification (privacy-10-verify) ------------------------------------------------

def link_token(request: PrivacyRequest) -> str:
    return links.make(LINK_SALT, request.id, request.email)


def from_token(token: str) -> PrivacyRequest | None:
    found = links.read(LINK_SALT, token, current_app.config["PRIVACY_LINK_MAX_AGE"])
    if found is None:
        return None
    request = db.session.get(PrivacyRequest, found[0])
    # An erased request's e-mail is a pseudonym now: its old links open nothing.
    return request if request is not None and request.email == found[1] else None


def request_url(request: PrivacyRequest) -> str:
    return links.public_url(f"/privacy/requests/{link_token(request)}")


def send_code(request: PrivacyRequest, first: bool = False, purpose: str = "verify") -> None:
    """A new one-time code to the e-mail (the old one stops working). The first mail is
    also the receipt confirmation CCPA asks for: it says how we verify and when to expect
    the answer (11 CCR §7021). `purpose` "download": the code that opens an export."""
    code, now = policy.new_code(), utcnow()
    request.code_hash = policy.code_digest(current_app.config["SECRET_KEY"], request.id, code)
    request.code_sent_at, request.code_attempts = now, 0
    # In the language the request was written in (its ticket's, desk.i18n.mail_locale).
    figures = {"request": request, "ticket": request.ticket, "code": code, "minutes": policy.CODE_MINUTES,
               "attempts": policy.MAX_ATTEMPTS}
    if purpose == "download":
        subject, body = render("privacy_download_code.txt", **figures)
    else:
        subject, body = render("privacy_code.txt", **figures, link=request_url(request), due=deadline(request))
    kind = "receipt" if first else f"{'download' if purpose == 'download' else 'code'}:{now.timestamp():.0f}"
    mail = compose(f"privacy-{kind}:{request.id}", request.email, subject, body, request.ticket_id)
    jobs.enqueue("workers.mail.deliver", mail.id)
    record(SYSTEM, "privacy.code_sent", "privacy_request", request.id, ticket_id=request.ticket_id,
           purpose=purpose, rule=policy.VERIFY_RULE)
    if first and request.ticket is not None:
        # Worded so the intake's redaction (privacy-3-minimal) finds no code in it to remove.
        with speaking(request.ticket):
            told = gettext("Receipt confirmed to the requester by e-mail (11 CCR §7021), with how we verify identity "
                           "and when to expect the answer; the mail carries their link and one-time code.")
        tickets.system_reply(request.ticket, told, notify=False)
        clocks.staff_acted(request.ticket, now, public_reply=True)


def check_code(request: PrivacyRequest, code: str) -> policy.CodeCheck:
    """One try of the code mailed last: three tries, ten minutes; a used code is spent."""
    given = policy.code_digest(current_app.config["SECRET_KEY"], request.id, (code or "")[:20])
    result = policy.check_code(stored=request.code_hash, given_digest=given, sent_at=request.code_sent_at,
                               attempts=request.code_attempts, now=utcnow())
    request.code_attempts += 1
    if result.ok:
        request.code_hash = None
    else:
        record(SYSTEM, "privacy.code_refused", "privacy_request", request.id, ticket_id=request.ticket_id,
               attempts=request.code_attempts, rule=policy.VERIFY_RULE)
    return result


def enter_code(request: PrivacyRequest, code: str) -> policy.CodeCheck:
    """The requester types the code; the request is verified on a match."""
    if request.verified_at is not None:
        return policy.CodeCheck(True, "Your e-mail address is already verified.")
    result = check_code(request, code)
    if result.ok:
        _verified(request, SYSTEM, "the requester typed the one-time code we e-mailed")
    return result


def verify_by_staff(request: PrivacyRequest, staff, reason: str) -> None:
    if request.verified_at is not None:
        raise DeskError("This request is already verified.", status=409, code="conflict")
    reason = require_reason(reason, "A manual verification")
    _verified(request, Actor.staff(staff), reason, staff_id=staff.id)


def _verified(request: PrivacyRequest, actor: Actor, note: str, staff_id: int | None = None) -> None:
    request.verified_at, request.verified_by_id = utcnow(), staff_id
    request.verification_note, request.code_hash = note, None
    if request.status == "unverified":
        request.status = "verified"
    record(actor, "privacy.verified", "privacy_request", request.id, ticket_id=request.ticket_id,
           by_staff=staff_id is not None, rule=policy.VERIFY_RULE)
    if request.ticket is not None:
        tickets.system_reply(request.ticket, f"Identity verified: {note} ({policy.VERIFY_RULE}).", internal=True)
        if request.ticket.status == "new":
            tickets.set_status(request.ticket, actor, "open")
    if policy.EXPORT_RIGHTS & set(request.rights):
        start_export(request, actor)


def require_verified(request: PrivacyRequest) -> None:
    if request.verified_at is None:
        raise DeskError("Identity is not verified yet: nothing is done or disclosed before it is "
                        f"({policy.VERIFY_RULE}).", status=409, code="not_verified")


# -- the work ------------------------------------------------------------------------

def report_minor(customer: Customer, staff, reason: str) -> PrivacyRequest:
    """privacy-11-minor: staff learned the account holder is under 18. The account is
    flagged and its erasure runs at once (no identity check: the person did not ask);
    only a serious-harm case can hold the data back."""
    reason = require_reason(reason, "A report that the account holder is under 18")
    if customer.erased_at is not None:
        raise DeskError("This account's data is already erased.", status=409, code="conflict")
    actor = Actor.staff(staff)
    customer.minor_reported = True
    email = (customer.email or "").lower() or "no-address@desk.invalid"
    ticket, _ = tickets.open_ticket(NewTicket(
        subject="Account holder reported under 18: erasure", body=f"Reported by {staff.email}: {reason}",
        requester_email=email, kind="privacy", channel="staff", customer=customer.panel_id, jurisdiction="other",
        acknowledge=False), actor)
    now = utcnow()
    request = PrivacyRequest(ticket=ticket, reference=ticket.reference, rights=["deletion"], jurisdiction="other",
                             channel="staff", email=email, customer=customer, details=reason, status="working",
                             received_at=ticket.created_at, verified_at=now, verified_by_id=staff.id,
                             verification_note=f"not needed: reported under 18 by staff ({policy.MINOR_RULE})")
    db.session.add(request)
    db.session.flush()
    record(actor, "privacy.minor_reported", "privacy_request", request.id, ticket_id=ticket.id,
           rule=policy.MINOR_RULE)
    jobs.enqueue("workers.privacy.erase", request.id)
    return request


def start_export(request: PrivacyRequest, actor: Actor) -> PrivacyExport:
    require_verified(request)
    export = next((e for e in request.exports if e.status in ("queued", "building", "ready")), None)
    if export is None:
        export = PrivacyExport(request=request)
        db.session.add(export)
        db.session.flush()
        jobs.enqueue("workers.privacy.export", export.id, queue="low")
        record(actor, "privacy.export_queued", "privacy_request", request.id, ticket_id=request.ticket_id,
               export=export.id, rule=policy.EXPORT_RULE)
    return export


def start_erasure(request: PrivacyRequest, staff) -> None:
    """The privacy officer starts the erasure job (it cannot be undone, so a person decides)."""
    require_verified(request)
    if "deletion" not in request.rights:
        raise DeskError("This request does not ask for deletion.", status=409, code="conflict")
    if request.erased_at is not None:
        raise DeskError("This request's data is already erased.", status=409, code="conflict")
    request.status = "working"
    jobs.enqueue("workers.privacy.erase", request.id)
    record(Actor.staff(staff), "privacy.erasure_started", "privacy_request", request.id,
           ticket_id=request.ticket_id, rule=policy.ERASURE_RULE)


def apply_flags(request: PrivacyRequest, staff) -> list[str]:
    """Restriction, objection, consent withdrawal and opt-out set their flag on the account
    and are answered; an opt-out is answered that no sale or sharing takes place."""
    require_verified(request)
    customer = request.customer
    asked = [r for r in request.rights if r in policy.FLAG_RIGHTS]
    if not asked:
        raise DeskError("This request asks for none of restriction, objection, consent withdrawal or opt-out.",
                        status=409, code="conflict")
    done = []
    for right in asked:
        flag = policy.FLAG_RIGHTS[right]
        if customer is not None and not getattr(customer, flag):
            setattr(customer, flag, True)
        done.append(policy.FLAG_LABELS[flag])
    with speaking(request.ticket):  # the answer is in the requester's language
        lines = [gettext("We have recorded your request (%(flags)s).",
                         flags=", ".join(gettext(label).lower() for label in done))]
        if customer is None:
            lines = [gettext("We hold no account under this e-mail address, so there is no processing to limit; "
                             "your request is recorded.")]
        if "restriction" in asked or "objection" in asked:
            lines.append(gettext("Your data is now kept but not used beyond what the law and your open orders "
                                 "require."))
        if "consent" in asked:
            lines.append(gettext("We no longer rely on your consent for any processing."))
        if "opt_out" in asked:
            lines.append(gettext(policy.OPT_OUT_ANSWER))
    answer = "\n\n".join(lines)
    request.outcome = {**(request.outcome or {}), "flags": done}
    record(Actor.staff(staff), "privacy.flags_set", "privacy_request", request.id, ticket_id=request.ticket_id,
           flags=[policy.FLAG_RIGHTS[r] for r in asked], rule=policy.RIGHTS_RULE)
    answer_part(request, staff, answer)
    return done


def record_correction(request: PrivacyRequest, staff, what: str) -> None:
    require_verified(request)
    what = require_reason(what, "A correction")
    request.outcome = {**(request.outcome or {}), "correction": what}
    record(Actor.staff(staff), "privacy.corrected", "privacy_request", request.id, ticket_id=request.ticket_id,
           rule=policy.RIGHTS_RULE)
    with speaking(request.ticket):
        answer = gettext("We have corrected your data: %(what)s", what=what)
    answer_part(request, staff, answer)


def answer_part(request: PrivacyRequest, staff, text: str) -> None:
    tickets.staff_reply(request.ticket, Actor.staff(staff), text, internal=False)
    _maybe_done(request)


def _maybe_done(request: PrivacyRequest) -> None:
    """Answered once every right asked for has had its answer."""
    outcome = request.outcome or {}
    pending = []
    for right in request.rights:
        if right in policy.FLAG_RIGHTS and "flags" not in outcome:
            pending.append(right)
        elif right == "correction" and "correction" not in outcome:
            pending.append(right)
        elif right in policy.EXPORT_RIGHTS and "export" not in outcome:
            pending.append(right)
        elif right == "deletion" and "erasure" not in outcome:
            pending.append(right)
    if not pending and request.status in ("verified", "working"):
        request.status, request.responded_at = "answered", utcnow()
        request.response = request.response or "Answered: " + ", ".join(request.rights)


def refuse(request: PrivacyRequest, staff, reason: str) -> None:
    """A refusal is an answer too: due within the same deadline, with reasons and, under
    GDPR, the right to complain (Art. 12(4))."""
    if not request.is_open:
        raise DeskError("This request is already answered.", status=409, code="conflict")
    reason = require_reason(reason, "A refusal")
    request.status, request.denial_reason, request.responded_at = "refused", reason, utcnow()
    request.response = reason
    with speaking(request.ticket):
        text = gettext("We cannot act on your request: %(reason)s", reason=reason)
        if request.jurisdiction == "eu":
            text += "\n\n" + gettext("You have the right to lodge a complaint with your local data protection "
                                     "authority (Privacy Policy §10; GDPR Art. 12(4)).")
    record(Actor.staff(staff), "privacy.refused", "privacy_request", request.id, ticket_id=request.ticket_id,
           rule=policy.RIGHTS_RULE)
    tickets.staff_reply(request.ticket, Actor.staff(staff), text, internal=False, status="resolved")


# -- the queue and the records -------------------------------------------------------

def queue(include_closed: bool = False, limit: int = 500) -> list[tuple[PrivacyRequest, datetime | None]]:
    """(request, legal deadline), soonest deadline first (privacy_officer only)."""
    clock = (TicketClock.ticket_id == PrivacyRequest.ticket_id) & (TicketClock.name == "statutory_answer")
    query = select(PrivacyRequest, TicketClock.due_at).outerjoin(TicketClock, clock)
    if not include_closed:
        query = query.where(PrivacyRequest.status.in_(OPEN_STATUSES))
    query = query.order_by(TicketClock.due_at.asc().nulls_last(), PrivacyRequest.id).limit(limit)
    return [(row, due) for row, due in db.session.execute(query).all()]


def records_csv(now: datetime | None = None) -> str:
    """The 11 CCR §7101 record of every request of the last 24 months: date, nature,
    channel, response date, response, reason for any denial. No e-mail: the record
    outlives the person's erased data."""
    now = now or utcnow()
    since = now - timedelta(days=RECORD_MONTHS * 31)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["reference", "received", "rights", "jurisdiction", "channel", "verified", "status",
                     "responded", "response", "denial reason", "erased"])
    rows = db.session.execute(select(PrivacyRequest).where(PrivacyRequest.received_at >= since)
                              .order_by(PrivacyRequest.received_at)).scalars()
    for r in rows:
        writer.writerow([r.reference, r.received_at.isoformat(), " ".join(r.rights), r.jurisdiction, r.channel,
                         r.verified_at.isoformat() if r.verified_at else "", r.status,
                         r.responded_at.isoformat() if r.responded_at else "", csv_cell(r.response or ""),
                         csv_cell(r.denial_reason or ""), r.erased_at.isoformat() if r.erased_at else ""])
    return out.getvalue()


def flags_of(customer: Customer | None) -> list[str]:
    """The privacy flags to show wherever the customer appears."""
    if customer is None:
        return []
    return [label for flag, label in policy.FLAG_LABELS.items() if getattr(customer, flag, False)]

