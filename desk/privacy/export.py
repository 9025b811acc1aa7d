"""The access and portability export (privacy-10-export, Privacy Policy §10).

`build(export_id)` writes one ZIP of everything the desk holds on the requester: their
account and its privacy flags, the identifiers it was seen with (IP addresses, e-mail
domains, payment fingerprints), their orders and each order's status history, their
tickets with the messages they could read, the files they attached, their ledger, their
claims and money requests, their satisfaction answers, the reports they sent, and their privacy requests. Every dataset is there twice, as JSON (an array of objects) and
as CSV, with a README.txt that says what each file holds.

Who the person is: the request's account (`request.customer`, None when the requester
has no account) and the request's e-mail, with the account's own e-mail besides, both in
lower case. Rows are chosen by those alone, so nothing of anyone else's is read.

Memory stays flat whatever the volume: rows are read in batches (`yield_per`), written
row by row into the ZIP's entry streams (a JSON array is written as `[`, the rows joined
by `,\\n`, `]`), and the CSV twin is spooled to an unnamed temporary file (TMPDIR), then
copied in. Attachment files are streamed from storage in chunks (a quarantined one is
not in the ZIP). Money is a string with two decimals, times are ISO 8601 in UTC.

The ZIP is written through desk.storage under `exports/<export id>-<random token>.zip`
(local: EXPORT_DIR, mode 0600; S3: spooled to a temporary file, then uploaded, multipart
when large), and the key takes it only once complete, so a half-written file is never
under a key the desk names. The export row keeps the key.

The job is idempotent: an export that is ready, released or expired is returned as it
is (the row is read locked, `for_update`). On PostgreSQL a session advisory lock held for
the whole build tells a live builder from one that died: a second worker arriving while
one builds waits for it and then finds the export ready (or, after LOCK_WAIT_SECONDS,
raises ExportBusy for RQ to retry later), and one arriving after a crash builds it again.
On any backend, should two builds ever both finish, the second finds the export ready,
keeps the first's ZIP and deletes its own. A failed build is marked `failed` with the
exception's text, and the exception goes on to RQ, whose retry builds it again.
"""
import csv
import hashlib
import io
import json
import logging
import os
import secrets
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import false, func, or_, select
from sqlalchemy.exc import OperationalError

from desk.accounts.models import CustomerIdentifier
from desk.audit.services import SYSTEM, record
from desk.abuse.models import Report
from desk.claims.models import Claim, Customer, LedgerEntry, Order, OrderStatusChange
from desk.csat.models import Survey
from desk.money.models import MoneyRequest
from desk.extensions import db, for_update, stream
from desk.policy.privacy import EXPORT_RULE
from desk.privacy.models import PrivacyExport, PrivacyRequest
from desk.sanitize import csv_cell
from desk.storage import Missing, get_storage
from desk.tickets.attachments import key_for
from desk.tickets.models import Attachment, Message, Ticket
from desk.types import utcnow

log = logging.getLogger(__name__)

COPY_CHUNK = 1 << 16  # bytes per read when copying files into the ZIP
DONE = ("ready", "released", "expired")  # built: the job leaves these alone
# The first argument of pg_try_advisory_lock(int, int) for export builds; any constant no
# other lock in the desk uses (desk.accounts.services takes 40004).
LOCK_NAMESPACE = 40010
LOCK_WAIT_SECONDS = 30  # how long a second worker waits for a build in progress (a big one takes seconds)
ATTACHMENTS = "attachments/"


# -- who the person is ---------------------------------------------------------------

@dataclass(frozen=True)
class Person:
    """The requester, as plain values read once: the export names no ORM object."""

    customer_id: int | None
    emails: tuple[str, ...]  # lower case: the request's, and the account's own

    @classmethod
    def of(cls, request: PrivacyRequest) -> "Person":
        emails = {(request.email or "").strip().lower()}
        if request.customer is not None and request.customer.email:
            emails.add(request.customer.email.strip().lower())
        return cls(request.customer_id, tuple(sorted(e for e in emails if e)))

    def tickets(self):
        """Their tickets: filed on their account, or by their e-mail address."""
        conditions = [func.lower(Ticket.requester_email).in_(self.emails)] if self.emails else []
        if self.customer_id is not None:
            conditions.append(Ticket.customer_id == self.customer_id)
        return or_(*conditions) if conditions else false()

    def requests(self):
        conditions = [func.lower(PrivacyRequest.email).in_(self.emails)] if self.emails else []
        if self.customer_id is not None:
            conditions.append(PrivacyRequest.customer_id == self.customer_id)
        return or_(*conditions) if conditions else false()


# -- the datasets --------------------------------------------------------------------

@dataclass(frozen=True)
class Dataset:
    name: str  # files <name>.json and <name>.csv
    about: str  # one line for the README
    columns: tuple[tuple[str, str], ...]  # (key, what it holds)
    # The person's rows, each a sequence of values in the order of `columns`.
    rows: Callable[[Person], Iterator[Sequence]]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(key for key, _ in self.columns)


# Each query selects its columns in the order of its dataset's keys: its rows are written
# as they come, with no dictionary built per row.

def _account(person: Person) -> Iterator[Sequence]:
    if person.customer_id is None:
        return
    yield from stream(select(
        Customer.panel_id, Customer.login, Customer.email, Customer.email_verified, Customer.country,
        Customer.status, Customer.created_at, Customer.last_login_at, Customer.last_deposit_at,
        Customer.last_order_at, Customer.last_active_at, Customer.fraud_flag, Customer.processing_restricted,
        Customer.processing_objected, Customer.consent_withdrawn, Customer.sale_share_opt_out,
        Customer.minor_reported, Customer.erased_at,
    ).where(Customer.id == person.customer_id))


def _identifiers(person: Person) -> Iterator[Sequence]:
    if person.customer_id is None:
        return
    yield from stream(select(CustomerIdentifier.kind, CustomerIdentifier.value, CustomerIdentifier.first_seen_at)
                       .where(CustomerIdentifier.customer_id == person.customer_id)
                       .order_by(CustomerIdentifier.kind, CustomerIdentifier.value))


def _orders(person: Person) -> Iterator[Sequence]:
    if person.customer_id is None:
        return
    yield from stream(select(
        # The tool's name alone, read in the database: decoding each order's whole JSON in
        # Python was a third of the orders' time.
        Order.panel_id, Order.tool["name"].as_string(), Order.link, Order.quantity, Order.charge,
        Order.charge_deposited, Order.charge_promo, Order.start_count, Order.remains, Order.status,
        Order.target_state, Order.created_at, Order.status_changed_at, Order.finished_at,
    ).where(Order.customer_id == person.customer_id).order_by(Order.created_at, Order.id))


def _order_history(person: Person) -> Iterator[Sequence]:
    if person.customer_id is None:
        return
    yield from stream(select(Order.panel_id, OrderStatusChange.status, OrderStatusChange.at)
                       .join(Order, Order.id == OrderStatusChange.order_id)
                       .where(Order.customer_id == person.customer_id)
                       .order_by(Order.created_at, Order.id, OrderStatusChange.at, OrderStatusChange.id))


def _tickets(person: Person) -> Iterator[Sequence]:
    yield from stream(select(Ticket.reference, Ticket.kind, Ticket.channel, Ticket.subject, Ticket.requester_email,
                              Ticket.requester_name, Ticket.order_ref, Ticket.status, Ticket.created_at,
                              Ticket.updated_at)
                       .where(person.tickets()).order_by(Ticket.created_at, Ticket.id))


AUTHORS = {"requester": "you", "staff": "support staff", "system": "the desk (automatic)"}


def _messages(person: Person) -> Iterator[Sequence]:
    # Internal notes (staff's working notes, other reporters' statements) are not sent to
    # the requester and are not in the export.
    query = (select(Ticket.reference, Message.id, Message.author_kind, Message.created_at, Message.body_text,
                    Message.redaction_note)
             .join(Ticket, Ticket.id == Message.ticket_id)
             .where(person.tickets(), Message.internal == false())
             .order_by(Ticket.created_at, Ticket.id, Message.id))
    for reference, message_id, author, at, body, note in stream(query):
        yield reference, message_id, AUTHORS.get(author, author), at, body, note


def _attachment_query(person: Person):
    """The files the requester sent: on their own (not internal) messages of their tickets."""
    return (select(Ticket.reference, Attachment.message_id, Attachment.id, Attachment.filename,
                   Attachment.content_type, Attachment.size, Attachment.sha256, Attachment.created_at)
            .join(Message, Message.id == Attachment.message_id)
            .join(Ticket, Ticket.id == Attachment.ticket_id)
            .where(person.tickets(), Message.internal == false(), Message.author_kind == "requester")
            .order_by(Ticket.created_at, Ticket.id, Attachment.id))


def attachment_name(reference: str, attachment_id: int, filename: str) -> str:
    """Where an attachment's bytes sit in the ZIP."""
    safe = "".join("_" if ch in '/\\:*?"<>|' or not ch.isprintable() else ch for ch in filename) or "attachment"
    return f"{ATTACHMENTS}{reference}/{attachment_id}-{safe}"


def _attachments(person: Person) -> Iterator[Sequence]:
    storage = get_storage()
    for a in stream(_attachment_query(person)):
        stored = storage.exists(key_for(a.sha256))
        yield (*a, attachment_name(a.reference, a.id, a.filename) if stored else None)


def _ledger(person: Person) -> Iterator[Sequence]:
    if person.customer_id is None:
        return
    yield from stream(select(LedgerEntry.panel_id, LedgerEntry.kind, LedgerEntry.amount, LedgerEntry.funding,
                              LedgerEntry.order_ref, LedgerEntry.method, LedgerEntry.processor_fee,
                              LedgerEntry.source, LedgerEntry.at)
                       .where(LedgerEntry.customer_id == person.customer_id)
                       .order_by(LedgerEntry.at, LedgerEntry.id))


def _requests(person: Person) -> Iterator[Sequence]:
    query = (select(PrivacyRequest.reference, PrivacyRequest.rights, PrivacyRequest.jurisdiction,
                    PrivacyRequest.channel, PrivacyRequest.details, PrivacyRequest.status,
                    PrivacyRequest.received_at, PrivacyRequest.verified_at, PrivacyRequest.responded_at,
                    PrivacyRequest.response, PrivacyRequest.denial_reason)
             .where(person.requests()).order_by(PrivacyRequest.received_at, PrivacyRequest.id))
    for reference, rights, *rest in stream(query):
        yield reference, list(rights or []), *rest


def _claims(person: Person) -> Iterator[Sequence]:
    if person.customer_id is None:
        return
    yield from stream(select(Ticket.reference, Order.panel_id, Claim.kind, Claim.filed_at, Claim.decision,
                              Claim.status, Claim.outcome_reason)
                       .join(Order, Order.id == Claim.order_id).join(Ticket, Ticket.id == Claim.ticket_id)
                       .where(Order.customer_id == person.customer_id).order_by(Claim.filed_at, Claim.id))


def _money_requests(person: Person) -> Iterator[Sequence]:
    if person.customer_id is None:
        return
    yield from stream(select(Ticket.reference, MoneyRequest.kind, MoneyRequest.method, MoneyRequest.order_ref,
                              MoneyRequest.requested, MoneyRequest.amount, MoneyRequest.status,
                              MoneyRequest.created_at, MoneyRequest.decided_at, MoneyRequest.decision_reason)
                       .join(Ticket, Ticket.id == MoneyRequest.ticket_id)
                       .where(MoneyRequest.customer_id == person.customer_id)
                       .order_by(MoneyRequest.created_at, MoneyRequest.id))


def _satisfaction(person: Person) -> Iterator[Sequence]:
    yield from stream(select(Ticket.reference, Survey.rating, Survey.comment, Survey.sent_at, Survey.answered_at)
                       .join(Ticket, Ticket.id == Survey.ticket_id)
                       .where(person.tickets(), Survey.answered_at.is_not(None))
                       .order_by(Survey.answered_at, Survey.id))


def _reports(person: Person) -> Iterator[Sequence]:
    """The abuse and rights reports they made (never reports about them: AUP §5.6 allows
    no notice, and a reporter's identity is not the reported person's to read)."""
    if not person.emails:
        return
    query = (select(Report.id, Report.created_at, Report.kind, Report.category, Report.links, Report.description,
                    Report.status)
             .where(func.lower(Report.reporter_email).in_(person.emails)).order_by(Report.created_at, Report.id))
    for report_id, created_at, kind, category, report_links, description, status in stream(query):
        yield (f"R-{created_at.year % 100:02d}-{report_id:06d}", created_at, kind, category,
               list(report_links or []), description, status)


DATASETS = (
    Dataset("account", "your account on the panel, as the desk mirrors it, with the privacy choices recorded on it", (
        ("account", "your account's id on the panel"), ("login", "your login"), ("email", "its e-mail address"),
        ("email_verified", "whether the address was verified"), ("country", "country (ISO 3166 code)"),
        ("status", "account status (active, frozen, suspended, terminated, closed)"),
        ("created_at", "when the desk first saw the account"), ("last_login_at", "last login"),
        ("last_deposit_at", "last deposit"), ("last_order_at", "last order"),
        ("last_active_at", "the latest of the three (dormancy counts from it)"),
        ("fraud_flag", "whether a fraud concern holds payouts for verification"),
        ("processing_restricted", "you asked us to restrict processing"),
        ("processing_objected", "you objected to processing"), ("consent_withdrawn", "you withdrew consent"),
        ("sale_share_opt_out", "you opted out of sale/sharing (none takes place)"),
        ("minor_reported", "a report that the account holder is under 18"),
        ("erased_at", "when an erasure ran on the account")), _account),
    Dataset("identifiers", "the identifiers your account was seen with", (
        ("kind", "ip (an IP address), email_domain, or payment (a payment fingerprint)"), ("value", "the value"),
        ("first_seen_at", "when the desk first saw it")), _identifiers),
    Dataset("orders", "your orders and their targets", (
        ("order", "the order id"), ("tool", "the service ordered"), ("link", "the target link"),
        ("quantity", "quantity ordered"), ("charge", "amount charged"),
        ("charge_deposited", "part paid from Deposited Funds"), ("charge_promo", "part paid from Promotional Credit"),
        ("start_count", "count when the order started"), ("remains", "quantity not delivered"),
        ("status", "order status"), ("target_state", "state of the target (ok, private, removed, changed…)"),
        ("created_at", "placed"), ("status_changed_at", "last status change"),
        ("finished_at", "when it first reached Completed, Partial or Canceled")), _orders),
    Dataset("order_status_history", "every status each order went through", (
        ("order", "the order id"), ("status", "the status"), ("at", "when")), _order_history),
    Dataset("tickets", "your support, claim, billing and privacy tickets", (
        ("ticket", "the ticket reference"), ("kind", "what it is about"), ("channel", "how it reached us"),
        ("subject", "the subject"), ("requester_email", "the address it was filed from"),
        ("requester_name", "the name given"), ("order", "the order it concerns"), ("status", "ticket status"),
        ("created_at", "opened"), ("updated_at", "last changed")), _tickets),
    Dataset("messages", "the messages on those tickets: yours and the replies sent to you", (
        ("ticket", "the ticket reference"), ("message", "the message number"),
        ("from", "you, support staff, or the desk (automatic)"), ("at", "when"), ("text", "the text"),
        ("redaction_note", "what was removed on intake (card numbers, one-time codes: privacy-3-minimal)")),
        _messages),
    Dataset("attachments", "the files you sent with your messages; the files are under attachments/", (
        ("ticket", "the ticket reference"), ("message", "the message number"), ("attachment", "the file number"),
        ("filename", "the file name you gave"), ("content_type", "the type detected from its bytes"),
        ("size", "size in bytes"), ("sha256", "SHA-256 of the bytes"), ("sent_at", "when"),
        ("file", "where the file is in this ZIP (empty: no longer stored, or quarantined by the virus scan)")),
        _attachments),
    Dataset("ledger", "the movements of your Balance", (
        ("entry", "the panel's id of the entry"),
        ("kind", ("deposit, promo_credit, charge, return, refund_credit, refund, withdrawal, withdrawal_fee, "
                  "deduction, forfeiture, chargeback or adjustment")),
        ("amount", "the amount (positive; an adjustment carries its sign)"),
        ("funding", "deposited (Deposited Funds) or promotional (Promotional Credit)"),
        ("order", "the order it concerns"), ("method", "payment method"),
        ("processor_fee", "the payment processor's fee"), ("source", "where a promotional credit came from"),
        ("at", "when")), _ledger),
    Dataset("privacy_requests", "your privacy requests, this one included", (
        ("reference", "the ticket reference"), ("rights", "the rights asked for"),
        ("jurisdiction", "eu, ca or other"), ("channel", "how it reached us"), ("details", "what you wrote"),
        ("status", "request status"), ("received_at", "received"), ("verified_at", "identity verified"),
        ("responded_at", "answered"), ("response", "the answer"), ("denial_reason", "why it was refused, if it was")),
        _requests),
    Dataset("claims", "your claims on orders and what the Terms decided", (
        ("ticket", "the ticket reference"), ("order", "the order id"), ("kind", "what was claimed"),
        ("filed_at", "when"), ("decision", "what the Terms said when it was filed"), ("status", "where it stands"),
        ("outcome", "the reason given when it was closed")), _claims),
    Dataset("money_requests", "your refund, withdrawal, closure and restoration requests", (
        ("ticket", "the ticket reference"), ("kind", "refund, withdrawal, closure or restoration"),
        ("method", "where a refund goes"), ("order", "the order it concerns"), ("requested", "the amount asked"),
        ("amount", "the amount shown to you"), ("status", "where it stands"), ("created_at", "asked"),
        ("decided_at", "decided"), ("decision_reason", "the reason given")), _money_requests),
    Dataset("satisfaction", "your answers to our satisfaction surveys", (
        ("ticket", "the ticket reference"), ("rating", "good or bad"), ("comment", "what you wrote"),
        ("asked_at", "when the survey was mailed"), ("answered_at", "when you answered (the latest answer)")),
        _satisfaction),
    Dataset("reports", "the abuse and rights-holder reports you sent us", (
        ("reference", "the report reference"), ("sent_at", "when"), ("kind", "abuse or rights"),
        ("category", "the AUP category"), ("links", "the links reported"), ("description", "what you wrote"),
        ("status", "where it stands")), _reports),
)


# -- writing -------------------------------------------------------------------------

def _iso(moment: datetime) -> str:
    if moment.tzinfo is not timezone.utc:  # UTCDateTime gives UTC already
        moment = moment.astimezone(timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


# A text cell a spreadsheet would run as a formula gets a leading apostrophe in the CSV
# (desk.sanitize.csv_cell); the JSON keeps the exact text.
ENCODER = json.JSONEncoder(ensure_ascii=False)  # one encoder: json.dumps(ensure_ascii=False) makes one a call


def _convert(row: Sequence, keys: tuple[str, ...]) -> tuple[dict, list]:
    """A row as JSON values (times ISO 8601 UTC, money two decimals) and as CSV cells, in
    one pass: this runs for every row of the export."""
    values, cells = {}, []
    for key, value in zip(keys, row, strict=True):
        kind = type(value)
        if kind is str:
            cells.append(csv_cell(value))
        elif value is None:
            cells.append("")
        elif kind is datetime:
            value = _iso(value)
            cells.append(value)
        elif kind is Decimal:
            value = f"{value:.2f}"
            cells.append(value)
        elif kind is bool:
            cells.append("true" if value else "false")
        elif kind is int:
            cells.append(value)
        elif kind is list:
            cells.append("; ".join(str(v) for v in value))
        else:
            cells.append(ENCODER.encode(value))
        values[key] = value
    return values, cells


def _entry(name: str, when: datetime) -> zipfile.ZipInfo:
    """A deflated ZIP entry dated `when` (UTC; the format has no zone, nor years before 1980)."""
    when = when.astimezone(timezone.utc)
    info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6] if when.year >= 1980 else (1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    return info


def _write_dataset(archive: zipfile.ZipFile, dataset: Dataset, person: Person, when: datetime) -> int:
    """Write <name>.json straight into the ZIP and <name>.csv through a spool file (a ZIP
    takes one open entry at a time); one pass over the rows. Returns the row count."""
    count = 0
    with tempfile.TemporaryFile() as spool:
        csv_text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
        writer = csv.writer(csv_text)
        keys = dataset.keys
        writer.writerow(keys)
        encode = ENCODER.encode
        entry = archive.open(_entry(f"{dataset.name}.json", when), "w", force_zip64=True)
        with io.TextIOWrapper(entry, encoding="utf-8") as out:
            out.write("[")
            for row in dataset.rows(person):
                values, cells = _convert(row, keys)
                out.write(",\n" if count else "\n")
                out.write(encode(values))
                writer.writerow(cells)
                count += 1
            out.write("\n]\n" if count else "]\n")
        csv_text.flush()
        csv_text.detach()
        spool.seek(0)
        with archive.open(_entry(f"{dataset.name}.csv", when), "w", force_zip64=True) as out:
            shutil.copyfileobj(spool, out, COPY_CHUNK)
    return count


def _write_files(archive: zipfile.ZipFile, person: Person) -> int:
    """The bytes of the files the requester sent, under attachments/<ticket>/<id>-<name>."""
    count, storage = 0, get_storage()
    for a in stream(_attachment_query(person)):
        info = _entry(attachment_name(a.reference, a.id, a.filename), a.created_at)
        try:
            with storage.open(key_for(a.sha256)) as src, archive.open(info, "w") as out:
                shutil.copyfileobj(src, out, COPY_CHUNK)
        except Missing:  # erased, lost or quarantined: the metadata says so
            continue
        count += 1
    return count


def _readme(manifest: dict, built_at: datetime) -> str:
    lines = [
        "Your data: a copy of everything the support desk holds on you",
        "",
        "This archive answers your request to access your personal data, and to receive it in a",
        "portable form (Privacy Policy §10, \"Your Rights\": Access and Portability; desk rule",
        f"{EXPORT_RULE}). It was built {_iso(built_at)}.",
        "",
        "Each dataset is here twice, with the same rows: as JSON (an array of objects, one per row)",
        "and as CSV (UTF-8, a header line, comma-separated) for spreadsheets. Times are ISO 8601 in",
        "UTC; amounts are in the Balance's currency with two decimals. In the CSV files, a text cell",
        "that starts with =, +, -, @ has a leading ' so that spreadsheets do not run it as a formula;",
        "the JSON files have the exact text. Messages marked internal (staff working notes) are not",
        "part of this copy.",
        "",
    ]
    for dataset in DATASETS:
        rows = manifest[f"{dataset.name}.json"]
        plural = "" if rows == 1 else "s"
        lines.append(f"{dataset.name}.json, {dataset.name}.csv — {dataset.about} ({rows} row{plural})")
        lines += [f"    {key}: {about}" for key, about in dataset.columns]
        lines.append("")
    files = manifest[ATTACHMENTS]
    plural = "" if files == 1 else "s"
    lines += [f"{ATTACHMENTS}<ticket>/<file number>-<file name> — the files you sent ({files} file{plural});",
              "    attachments.json lists them.", "",
              "Questions about this copy: reply on your privacy request's ticket.", ""]
    return "\n".join(lines)


def _write_zip(export_id: int, person: Person) -> dict:
    """Write the ZIP through storage (complete, or not at all); returns the values the
    export row records."""
    key = f"exports/{export_id}-{secrets.token_urlsafe(24)}.zip"
    built_at = utcnow()
    manifest: dict[str, int] = {}
    with get_storage().writer(key, private=True) as fh:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for dataset in DATASETS:
                rows = _write_dataset(archive, dataset, person, built_at)
                manifest[f"{dataset.name}.json"] = manifest[f"{dataset.name}.csv"] = rows
            manifest[ATTACHMENTS] = _write_files(archive, person)
            archive.writestr(_entry("README.txt", built_at), _readme(manifest, built_at))
        # The reads' transaction (and any server-side cursor) ends here, before the upload.
        db.session.rollback()
        size = fh.seek(0, os.SEEK_END)
        fh.seek(0)
        digest = hashlib.sha256()
        while chunk := fh.read(COPY_CHUNK * 16):
            digest.update(chunk)
    return {"path": key, "size": size, "sha256": digest.hexdigest(), "manifest": manifest,
            "built_at": built_at}


# -- the job -------------------------------------------------------------------------

class ExportBusy(RuntimeError):
    """Another worker has held this export's build lock for LOCK_WAIT_SECONDS: the job
    fails without touching the export, and RQ's retry comes back to it."""


@contextmanager
def _builder_lock(export_id: int) -> Iterator[None]:
    """Only one build of an export at a time, across commits. On PostgreSQL a session
    advisory lock on a connection of its own, held for the whole build and released at its
    end, or by the server when a dead worker's connection goes; a second worker waits for
    it (up to LOCK_WAIT_SECONDS) and then finds the export built, or built by nobody.
    Elsewhere the row lock and the final check in _finish are the guard."""
    if db.engine.dialect.name != "postgresql":
        yield
        return
    with db.engine.connect() as conn:
        try:
            # lock_timeout for this transaction only: the pooled connection keeps no setting.
            conn.execute(select(func.set_config("lock_timeout", str(int(LOCK_WAIT_SECONDS * 1000)), True)))
            conn.execute(select(func.pg_advisory_lock(LOCK_NAMESPACE, export_id)))
            conn.commit()
        except OperationalError as exc:
            conn.rollback()
            if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
                raise ExportBusy(f"export {export_id} is being built by another worker") from None
            raise
        try:
            yield
        finally:
            try:
                conn.execute(select(func.pg_advisory_unlock(LOCK_NAMESPACE, export_id)))
                conn.commit()
            except Exception:  # noqa: BLE001 - closing the connection releases the lock
                conn.invalidate()


def _locked(export_id: int) -> PrivacyExport | None:
    return db.session.execute(for_update(select(PrivacyExport).where(PrivacyExport.id == export_id))
                              ).scalar_one_or_none()


def build(export_id: int) -> PrivacyExport | None:
    """Build the export's ZIP and mark it ready (see the module's docstring); None when
    there is no such export. Commits. Raises what made the build fail, after marking the
    export failed; ExportBusy (the export untouched) while another worker still builds it."""
    with _builder_lock(export_id):
        export = _locked(export_id)
        if export is None:
            db.session.rollback()
            return None
        if export.status in DONE:
            db.session.commit()  # releases the row lock; nothing changes
            return export
        # queued, failed (a retry), or building by a worker that died: build it.
        person = Person.of(export.request)
        export.status, export.error = "building", None
        db.session.commit()
        built = None
        try:
            built = _write_zip(export_id, person)
            return _finish(export_id, built)
        except Exception as exc:
            db.session.rollback()
            if built is not None:
                get_storage().delete(built["path"])
            _fail(export_id, exc)
            raise


def _finish(export_id: int, built: dict) -> PrivacyExport | None:
    export = _locked(export_id)
    if export is None or export.status in DONE:
        # Deleted meanwhile, or another build finished first: theirs stands, ours goes.
        get_storage().delete(built["path"])
        db.session.commit()
        return export
    export.status = "ready"
    export.path, export.size, export.sha256 = built["path"], built["size"], built["sha256"]
    export.manifest, export.built_at, export.error = built["manifest"], built["built_at"], None
    request = export.request
    record(SYSTEM, "privacy.export_built", "privacy_request", request.id, ticket_id=request.ticket_id,
           export=export.id, size=built["size"], sha256=built["sha256"],
           rows=sum(n for name, n in built["manifest"].items() if name.endswith(".json")),
           files=built["manifest"][ATTACHMENTS], rule=EXPORT_RULE)
    db.session.commit()
    return export


def _fail(export_id: int, exc: Exception) -> None:
    """Mark the export failed with the exception's text (which names no row's data: the
    export's own reads and writes are all that can fail here)."""
    try:
        export = _locked(export_id)
        if export is not None and export.status == "building":
            export.status = "failed"
            export.error = f"{type(exc).__name__}: {exc}"[:2000]
            record(SYSTEM, "privacy.export_failed", "privacy_request", export.request_id,
                   ticket_id=export.request.ticket_id, export=export.id, error=type(exc).__name__, rule=EXPORT_RULE)
        db.session.commit()
    except Exception:  # the original failure is the one RQ must record (logged below)
        db.session.rollback()
        log.exception("could not mark privacy export %s failed", export_id)
