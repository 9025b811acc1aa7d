"""Virus scanning of attachments with a ClamAV daemon (issue 11).

Where CLAMD_SOCKET or CLAMD_HOST names a clamd, every attachment stored gets a job
(`workers.tickets.scan_attachment`, queue `default`, the attachment's id) that streams its
bytes from storage to clamd (INSTREAM, desk.clamd). Its scan state:

    pending → clean
            → infected (the signature's name): quarantined
            → error (why): the job fails and RQ retries it (JOB_RETRY_INTERVALS); after
              the last retry it waits at /admin/jobs

The bytes are one file per digest, so the verdict is the digest's: every attachment with
that SHA-256 takes it. An infected file's bytes are moved to `quarantine/<sha256>` (kept
in case the signature was a false positive, never served; erasure deletes them like any
file), each ticket's audit log records it, the ticket shows "quarantined: <signature>",
and a later upload of the same bytes is marked infected at once and not stored again.

Who may download what is desk.tickets.attachments.view: an infected file nobody (410); a
clean one anyone who sees the ticket; one not scanned clean yet — pending, a failed scan
being retried, or stored before scanning was turned on — staff only, with a warning on
the ticket, and requesters (link, portal) a 409 "still being checked" until it is clean.
With scanning off every file is served, as before, and /admin/jobs says scanning is off.

The job is idempotent: a file already clean or infected is left as it is.
"""
from dataclasses import dataclass, field, replace

from flask import current_app
from sqlalchemy import func, or_, select, update

from desk import jobs
from desk.audit.services import SYSTEM, record
from desk.clamd import Clamd, ClamdError, Verdict
from desk.errors import NotFound, ValidationError
from desk.extensions import db
from desk.storage import Missing, StorageUnavailable, get_storage
from desk.tickets.attachments import key_for, quarantine_key
from desk.tickets.models import Attachment, Ticket
from desk.types import utcnow

DONE = ("clean", "infected")


def scan(attachment_id: int, again: bool = False) -> Attachment | None:
    """Scan one attachment's bytes and give the verdict to every row of its digest.
    Commits. Raises ClamdError or StorageUnavailable (after marking the rows `error`) for
    RQ to retry; None when there is no such attachment. `again`: a quarantined file is
    scanned once more (rescan()); found clean, it is back in reach, and each ticket says so."""
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or (attachment.scan_state in DONE and not (again and attachment.scan_state == "infected")):
        return attachment
    clamd = Clamd.from_config(current_app.config)
    if clamd is None:  # scanning was turned off since the job was queued
        return attachment
    digest, was = attachment.sha256, attachment.scan_result
    try:
        verdict, quarantined = _scan_bytes(clamd, digest)
    except (ClamdError, StorageUnavailable) as exc:
        db.session.rollback()
        _mark(digest, "error", str(exc))
        db.session.commit()
        raise
    storage = get_storage()
    if verdict is None:
        _mark(digest, "error", "the stored file is missing")
    elif verdict.infected:
        storage.move(key_for(digest), quarantine_key(digest))  # out of reach before the rows say so
        for row in _mark(digest, "infected", verdict.signature):
            record(SYSTEM, "attachment.quarantined", "ticket", row.ticket.reference, ticket_id=row.ticket_id,
                   attachment=row.id, sha256=digest, signature=verdict.signature)
    else:
        if quarantined:  # found again where an earlier run left it, and clean now: back in reach
            storage.move(quarantine_key(digest), key_for(digest))
        for row in _mark(digest, "clean", None):
            if again:
                record(SYSTEM, "attachment.released", "ticket", row.ticket.reference, ticket_id=row.ticket_id,
                       attachment=row.id, sha256=digest, was=was)
    db.session.commit()
    return attachment


def _scan_bytes(clamd: Clamd, digest: str) -> tuple[Verdict | None, bool]:
    """(the verdict, whether the bytes were in the quarantine); (None, False) when they are
    nowhere. A run that moved them and died before its commit left them in the quarantine."""
    storage = get_storage()
    for key, quarantined in ((key_for(digest), False), (quarantine_key(digest), True)):
        try:
            with storage.open(key) as stream:
                return clamd.instream(stream), quarantined
        except Missing:
            continue
    return None, False


def _mark(digest: str, state: str, result: str | None) -> list[Attachment]:
    """Give the digest's rows this state; returns the rows it changed. A failed scan
    leaves a verdict already given alone."""
    query = select(Attachment).where(Attachment.sha256 == digest)
    if state == "error":
        query = query.where(or_(Attachment.scan_state.is_(None), Attachment.scan_state.not_in(DONE)))
    changed, now = [], utcnow()
    result = result[:500] if result else None
    for row in db.session.execute(query.order_by(Attachment.id)).scalars():
        if (row.scan_state, row.scan_result) != (state, result):
            row.scan_state, row.scan_result, row.scanned_at = state, result, now
            changed.append(row)
    return changed


def queue_unscanned(batch: int = 500) -> int:
    """Scan what was stored before scanning was turned on (no state) and what failed:
    pending, one job per digest. Commits per batch; returns the jobs queued."""
    queued = 0
    while True:
        digests = db.session.execute(
            select(Attachment.sha256, func.min(Attachment.id))
            .where(or_(Attachment.scan_state.is_(None), Attachment.scan_state == "error"))
            .group_by(Attachment.sha256).limit(batch)).all()
        if not digests:
            return queued
        db.session.execute(update(Attachment).where(Attachment.sha256.in_([d for d, _ in digests]),
                                                    or_(Attachment.scan_state.is_(None),
                                                        Attachment.scan_state == "error"))
                           .values(scan_state="pending"))
        for _, attachment_id in digests:
            jobs.enqueue("workers.tickets.scan_attachment", attachment_id)
        db.session.commit()
        jobs.dispatch()
        queued += len(digests)


# -- for admins ------------------------------------------------------------------------

@dataclass
class Quarantined:
    sha256: str
    signature: str | None
    files: int  # attachments with these bytes
    first_id: int
    tickets: list[str]  # the references of up to five of their tickets
    since: object  # when the verdict was given (aware UTC)


def quarantined(limit: int = 50) -> list[Quarantined]:
    """The quarantined files, one entry per digest, the latest verdicts first."""
    latest = (select(Attachment.sha256, func.max(Attachment.scanned_at).label("at"))
              .where(Attachment.scan_state == "infected").group_by(Attachment.sha256)
              .order_by(func.max(Attachment.scanned_at).desc()).limit(limit).subquery())
    rows = db.session.execute(
        select(Attachment.sha256, Attachment.id, Attachment.scan_result, Attachment.scanned_at, Ticket.reference)
        .join(latest, latest.c.sha256 == Attachment.sha256).join(Ticket, Ticket.id == Attachment.ticket_id)
        .where(Attachment.scan_state == "infected").order_by(latest.c.at.desc(), Attachment.id)).all()
    found: dict[str, Quarantined] = {}
    for digest, row_id, signature, at, reference in rows:
        entry = found.setdefault(digest, Quarantined(digest, signature, 0, row_id, [], at))
        entry.files += 1
        if reference not in entry.tickets and len(entry.tickets) < 5:
            entry.tickets.append(reference)
    return list(found.values())


def rescan(digest: str, actor) -> int:
    """Scan a quarantined file again — a false positive, once clamd's signatures changed.
    Its rows stay infected (never served) until the scan says otherwise; one job is queued
    (workers.tickets.scan_attachment with again). Commits; returns the attachments it covers."""
    if Clamd.from_config(current_app.config) is None:
        raise ValidationError("Attachment scanning is off: there is no scanner to ask again.")
    ids = list(db.session.execute(select(Attachment.id).where(
        Attachment.sha256 == digest, Attachment.scan_state == "infected").order_by(Attachment.id)).scalars())
    if not ids:
        raise NotFound("No quarantined file has that SHA-256.")
    record(actor, "attachment.rescan", "attachment", digest, attachments=len(ids))
    jobs.enqueue("workers.tickets.scan_attachment", ids[0], True)
    db.session.commit()
    jobs.dispatch()
    return len(ids)

@dataclass
class Status:
    on: bool
    where: str | None = None
    version: str | None = None  # clamd's answer to VERSION; None when it did not answer
    problem: str | None = None
    counts: dict = field(default_factory=dict)  # pending, error, infected: attachments


def status() -> Status:
    """Whether scanning is on, whether clamd answers now, and what waits."""
    clamd = Clamd.from_config(current_app.config)
    if clamd is None:
        return Status(False)
    counts = dict(db.session.execute(select(Attachment.scan_state, func.count())
                                     .where(Attachment.scan_state.in_(("pending", "error", "infected")))
                                     .group_by(Attachment.scan_state)).all())
    quick = replace(clamd, timeout=2)  # an admin page waits seconds, not a scan's minute
    try:
        return Status(True, clamd.describe(), quick.version(), None, counts)
    except ClamdError as exc:
        return Status(True, clamd.describe(), None, str(exc), counts)
