"""Evidence snapshots (aup-5.2-evidence).

On a case's opening and on every enforcement action an RQ job (workers.abuse.snapshot)
writes what the case involves — its reports, the accounts, their orders with status
history, ledger and balances, their tickets and messages, the case's actions and log —
for an abuse or rights-holder case, and the same for the account of a chargeback case
(terms-17-chargeback: evidence preserved on opening and on the actions confirmed) —
as canonical JSON: keys sorted, no spaces, UTF-8, and no floats anywhere (money and times
are strings), so the same data always gives the same bytes (RFC 8785 for this data).

Each snapshot carries the SHA-256 of the case's previous one inside its body, so the
hashes form a chain; the row is write-once (database triggers refuse UPDATE and DELETE),
and each hash is also written to the hash-chained audit log. `verify` recomputes it all.
File contents are never copied in, only their hashes — aup-csam-handling material never
reaches this store at all.

A case can hold an account's tens of thousands of orders and ledger entries: the document
is written part by part in the order of its sorted keys, those rows read as plain rows in
batches (desk.extensions.stream), each encoded alone straight into its storage object
(desk.storage, `evidence/<abuse|billing>/<case id>/<seq>-<sha256>.json`, written once and
never overwritten) while it is hashed — the bytes canonical() gives for the whole document,
with no more than a batch in memory. The row keeps the key, size and hashes. Reading one
back (verify, an erasure's redaction) goes the same way in reverse: `parts` hands out the
top-level keys and the items of the big arrays one at a time; a download is streamed.

The object is written before its row: a failure before the commit deletes it again, so no
row ever names a missing object; a commit that fails may have reached the database, so
then the object stays — at worst an orphan no row names (a key under evidence/ that no
`body_key` holds), never evidence lost. Only an erasure's redaction changes a row's key
and size (the triggers allow nothing else), pointing it at a new, pseudonymised object.
"""
import codecs
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from desk.abuse import log
from desk.abuse.models import AbuseCase, EnforcementAction, EvidenceSnapshot, ModerationEvent
from desk.money.models import BillingCase
from desk.accounts.models import CustomerIdentifier
from desk.audit.models import AuditEvent
from desk.audit.services import SYSTEM, record
from desk.claims.ledger import balances_of
from desk.claims.models import Customer, LedgerEntry, Order, OrderStatusChange
from desk.extensions import db, for_update, stream
from desk.storage import CHUNK, Exists, LateKey, Missing, StorageUnavailable, get_storage
from desk.tickets.models import Attachment, Message, Ticket
from desk.types import utcnow

GENESIS = "0" * 64
log_ = logging.getLogger(__name__)


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not canonical: {type(value).__name__}")


# One encoder (json.dumps with options builds one a call): the snapshot encodes row by row.
ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)


def canonical(payload: dict) -> bytes:
    return ENCODER.encode(payload).encode("utf-8")


def key_of(kind: str, case_id: int, seq: int, digest: str) -> str:
    """Where a snapshot's document is stored: named after the SHA-256 of its bytes, so a
    redacted document (another digest) is another object, and a retried job (another time
    inside, another digest) never meets the object an earlier, failed attempt left."""
    return f"{_folder(kind, case_id)}/{seq}-{digest}.json"


def _folder(kind: str, case_id: int) -> str:
    return f"evidence/{kind}/{int(case_id)}"


def kind_of(snapshot: EvidenceSnapshot) -> tuple[str, int]:
    """("abuse" or "billing", the case's id): the folder its documents are in."""
    if snapshot.billing_case_id is not None:
        return "billing", snapshot.billing_case_id
    return "abuse", snapshot.case_id


class Document:
    """The canonical JSON of one snapshot written piece by piece into a file (its storage
    object) while it is hashed: the bytes are those of canonical() of the whole document
    (an object is its sorted keys, an array its items joined by commas, nothing between),
    and no piece bigger than one row is held."""

    def __init__(self, out):
        self.out, self.digest, self.size = out, hashlib.sha256(), 0

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        self.digest.update(data)
        self.out.write(data)
        self.size += len(data)

    def value(self, value) -> None:
        self.write(ENCODER.encode(value))

    def array(self, items: Iterable) -> None:
        self.write("[")
        first, encode, write = True, ENCODER.encode, self.write
        for item in items:
            write(encode(item) if first else "," + encode(item))
            first = False
        self.write("]")

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


class Items:
    """The items of one of the document's top-level arrays, read one at a time."""

    def __init__(self, reader: "_Reader"):
        self._items = reader.items()

    def __iter__(self):
        return self._items


class _Hashed:
    """A readable file that hashes and counts what is read through it."""

    def __init__(self, fh):
        self.fh, self.digest, self.size = fh, hashlib.sha256(), 0

    def read(self, n: int = CHUNK) -> bytes:
        data = self.fh.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


# Beyond this much text pending for one value, a document is not one this module wrote.
MAX_ITEM = 64 * 1024 * 1024


class _Reader:
    """Canonical JSON read back from a file a value at a time: the C decoder's raw_decode
    on a window of the text, refilled chunk by chunk (a value cut by the window's end is
    decoded again once more text is in)."""

    _decoder = json.JSONDecoder()

    def __init__(self, fh):
        self.fh, self.text, self.at, self.done = fh, "", 0, False
        self.utf8 = codecs.getincrementaldecoder("utf-8")()

    def _more(self) -> bool:
        if self.done:
            return False
        data = self.fh.read(CHUNK)
        self.done = not data
        self.text = self.text[self.at:] + self.utf8.decode(data, final=self.done)
        self.at = 0
        return True

    def peek(self) -> str:
        while self.at >= len(self.text):
            if not self._more():
                raise ValueError("the document ends early")
        return self.text[self.at]

    def take(self, *allowed: str) -> str:
        char = self.peek()
        if char not in allowed:
            raise ValueError(f"expected {' or '.join(allowed)}, found {char!r}")
        self.at += 1
        return char

    def value(self):
        while True:
            try:
                value, end = self._decoder.raw_decode(self.text, self.at)
            except ValueError:
                if len(self.text) - self.at > MAX_ITEM or not self._more():
                    raise
                continue
            if end == len(self.text) and self._more():  # a number may go on in the next chunk
                continue
            self.at = end
            return value

    def items(self) -> Iterator:
        if self.peek() == "]":
            self.at += 1
            return
        while True:
            yield self.value()
            if self.take(",", "]") == "]":
                return

    def end(self) -> None:
        if self.at < len(self.text) or self._more() and self.text:
            raise ValueError("text after the document")


def parts(fh) -> Iterator[tuple[str, object]]:
    """(key, value) of the document's top-level object in its order; an array's value is
    Items, to be read before the next part (what is left of it is skipped). Raises
    ValueError on what is not such a document."""
    reader = _Reader(fh)
    reader.take("{")
    if reader.peek() == "}":
        reader.at += 1
        reader.end()
        return
    while True:
        key = reader.value()
        if not isinstance(key, str):
            raise ValueError("a key that is not a string")
        reader.take(":")
        if reader.peek() == "[":
            reader.at += 1
            items = Items(reader)
            yield key, items
            for _ in items:  # the part the caller did not read
                pass
        else:
            yield key, reader.value()
        if reader.take(",", "}") == "}":
            reader.end()
            return


def _grouped(rows: Iterable[Sequence]):
    """Children rows (first column: their parent's id), read in their parents' order, handed
    out parent by parent: `of(parent_id)` yields the next parent's children. Both queries
    order by the same columns, so the two streams advance together."""
    rows = iter(rows)
    pending = next(rows, None)

    def of(parent_id):
        nonlocal pending
        while pending is not None and pending[0] == parent_id:
            yield pending
            pending = next(rows, None)
    return of


# Each query selects the columns a part of the document shows, as plain rows streamed in
# batches (desk.extensions.stream): no ORM object is built for a case's orders, ledger or
# messages, however many there are.

def _customer(c) -> dict:
    return {"panel_id": c.panel_id, "login": c.login, "email": c.email, "email_verified": c.email_verified,
            "country": c.country, "status": c.status, "fraud_flag": c.fraud_flag, "created_at": c.created_at,
            "last_login_at": c.last_login_at, "last_deposit_at": c.last_deposit_at,
            "last_order_at": c.last_order_at}


def _orders(ids: list[int], order_ids: list[str]) -> Iterator[dict]:
    which = (Order.customer_id.in_(ids)) | (Order.panel_id.in_(order_ids))
    history = _grouped(stream(
        select(Order.id, OrderStatusChange.status, OrderStatusChange.at).join(OrderStatusChange.order).where(which)
        .order_by(Order.panel_id, Order.id, OrderStatusChange.at, OrderStatusChange.id)))
    for o in stream(select(
            Order.id, Order.panel_id, Customer.panel_id.label("customer"), Order.link, Order.link_normalized,
            Order.quantity, Order.charge, Order.charge_deposited, Order.charge_promo, Order.start_count,
            Order.remains, Order.status, Order.target_state, Order.tool, Order.created_at, Order.finished_at)
            .join(Order.customer).where(which).order_by(Order.panel_id, Order.id)):
        yield {"panel_id": o.panel_id, "customer": o.customer, "link": o.link,
               "link_normalized": o.link_normalized, "quantity": o.quantity, "charge": o.charge,
               "charge_deposited": o.charge_deposited, "charge_promo": o.charge_promo,
               "start_count": o.start_count, "remains": o.remains, "status": o.status,
               "target_state": o.target_state, "tool": o.tool, "created_at": o.created_at,
               "finished_at": o.finished_at, "history": [{"status": h.status, "at": h.at} for h in history(o.id)]}


def _ledger_rows(ids: list[int]):
    return stream(select(LedgerEntry.customer_id, LedgerEntry.panel_id, LedgerEntry.kind, LedgerEntry.amount,
                         LedgerEntry.funding, LedgerEntry.order_ref, LedgerEntry.processor_fee, LedgerEntry.method,
                         LedgerEntry.source, LedgerEntry.at)
                  .where(LedgerEntry.customer_id.in_(ids)).order_by(LedgerEntry.at, LedgerEntry.id))


def _ledger(ids: list[int], by_id: dict[int, str]) -> Iterator[dict]:
    for e in _ledger_rows(ids):
        yield {"panel_id": e.panel_id, "customer": by_id[e.customer_id], "kind": e.kind, "amount": e.amount,
               "funding": e.funding, "order": e.order_ref, "processor_fee": e.processor_fee, "method": e.method,
               "source": e.source, "at": e.at}


def _tickets(ids: list[int], ticket_id: int) -> Iterator[dict]:
    which = (Ticket.customer_id.in_(ids)) | (Ticket.id == ticket_id)
    # Messages in the ticket's order (Ticket.messages: time, then id), their files by id.
    files = _grouped(stream(
        select(Attachment.message_id, Attachment.filename, Attachment.size, Attachment.sha256)
        .join(Attachment.message).join(Message.ticket).where(which)
        .order_by(Ticket.id, Message.created_at, Message.id, Attachment.id)))
    messages = _grouped(stream(
        select(Message.ticket_id, Message.id, Message.author_kind, Message.author_email, Message.internal,
               Message.created_at, Message.body_text)
        .join(Message.ticket).where(which).order_by(Ticket.id, Message.created_at, Message.id)))
    for t in stream(select(Ticket.id, Ticket.reference, Ticket.kind, Ticket.queue, Ticket.status, Ticket.subject,
                           Ticket.requester_email, Customer.panel_id.label("customer"), Ticket.order_ref,
                           Ticket.created_at)
                    .outerjoin(Ticket.customer).where(which).order_by(Ticket.id)):
        yield {"reference": t.reference, "kind": t.kind, "queue": t.queue, "status": t.status,
               "subject": t.subject, "requester": t.requester_email, "customer": t.customer, "order": t.order_ref,
               "created_at": t.created_at,
               "messages": [{"id": m.id, "author": m.author_kind, "author_email": m.author_email,
                             "internal": m.internal, "at": m.created_at, "text": m.body_text,
                             "attachments": [{"name": a.filename, "size": a.size, "sha256": a.sha256}
                                             for a in files(m.id)]}
                            for m in messages(t.id)]}


def _action(a: EnforcementAction) -> dict:
    return {"id": a.id, "action": a.action, "rule": a.rule, "status": a.status, "reason": a.reason,
            "customer": a.customer.panel_id if a.customer else None, "order": a.order_ref,
            "identifier": [a.identifier_kind, a.identifier_value] if a.identifier_kind else None,
            "amount": a.amount, "proposed_by": a.proposed_by.email,
            "approved_by": a.approved_by.email if a.approved_by else None, "done_at": a.done_at,
            "reversed_at": a.reversed_at}


KINDS = {"abuse": AbuseCase, "billing": BillingCase}


def _owner_column(case):
    return EvidenceSnapshot.billing_case_id if isinstance(case, BillingCase) else EvidenceSnapshot.case_id


def _case_part(case) -> dict:
    if isinstance(case, BillingCase):
        return {"id": case.id, "ticket": case.ticket.reference, "kind": "chargeback", "status": case.status,
                "customer": case.customer.panel_id, "chargebacks": case.chargebacks, "actions": case.actions,
                "resolution": case.resolution, "created_at": case.created_at}
    return {"id": case.id, "ticket": case.ticket.reference, "kind": case.kind, "category": case.category,
            "severity": case.severity, "serious_harm": case.serious_harm, "csam": case.csam,
            "details": case.details, "created_at": case.created_at, "subjects": [s.subject for s in case.subjects]}


def write(doc: Document, case, reason: str, seq: int, previous: str, taken_at: datetime) -> None:
    """Write the snapshot's document into `doc`: the same bytes as canonical() of it built
    whole, its parts in the order of their sorted keys. The case's own rows (reports,
    actions, log) are few; an account's orders, ledger and tickets are streamed."""
    if isinstance(case, BillingCase):
        subjects = [f"account:{case.customer.panel_id}"]
    else:
        subjects = [s.subject for s in case.subjects]
    account_ids = [s.split(":", 1)[1] for s in subjects if s.startswith("account:")]
    order_ids = [s.split(":", 1)[1] for s in subjects if s.startswith("order:")]
    customers = list(db.session.execute(select(Customer).where(Customer.panel_id.in_(account_ids))
                                        .order_by(Customer.panel_id)).scalars()) if account_ids else []
    ids = [c.id for c in customers]
    by_id = {c.id: c.panel_id for c in customers}
    abuse = not isinstance(case, BillingCase)
    found_identifiers: dict[str, list] = {}
    if ids:
        for i in db.session.execute(select(CustomerIdentifier).where(CustomerIdentifier.customer_id.in_(ids))
                                    .order_by(CustomerIdentifier.kind, CustomerIdentifier.value)).scalars():
            found_identifiers.setdefault(by_id[i.customer_id], []).append([i.kind, i.value])
    balances = {c.id: balances_of(e for e in _ledger_rows([c.id])) for c in customers}
    parts = {
        "accounts": lambda: doc.array({**_customer(c), "identifiers": found_identifiers.get(c.panel_id, []),
                                       "balances": {"deposited": balances[c.id].deposited,
                                                    "promotional": balances[c.id].promotional}}
                                      for c in customers),
        "actions": lambda: doc.array(_action(a) for a in (db.session.execute(
            select(EnforcementAction).where(EnforcementAction.case_id == case.id)
            .order_by(EnforcementAction.id)).scalars() if abuse else [])),
        "case": lambda: doc.value(_case_part(case)),
        "events": lambda: doc.array(
            {"id": e.id, "kind": e.kind, "subject": e.subject, "data": e.data, "actor": e.actor_label, "at": e.at}
            for e in (db.session.execute(select(ModerationEvent).where(ModerationEvent.case_id == case.id)
                                         .order_by(ModerationEvent.id)).scalars() if abuse else [])),
        "format": lambda: doc.value("desk-evidence/1"),
        "ledger": lambda: doc.array(_ledger(ids, by_id) if ids else []),
        "orders": lambda: doc.array(_orders(ids, order_ids)),
        "previous": lambda: doc.value(previous),
        "reason": lambda: doc.value(reason),
        "reports": lambda: doc.array(
            {"reference": r.reference, "category": r.category, "reporter": r.reporter_email, "links": r.links,
             "orders": r.orders, "description": r.description, "details": r.details,
             "files": [{k: f.get(k) for k in ("name", "size", "sha256", "stored")} for f in r.files],
             "received_at": r.created_at, "confirmed_at": r.confirmed_at}
            for r in (case.reports if abuse else [])),
        "seq": lambda: doc.value(seq),
        "taken_at": lambda: doc.value(taken_at),
        "tickets": lambda: doc.array(_tickets(ids, case.ticket_id)),
    }
    doc.write("{")
    for i, key in enumerate(sorted(parts)):
        doc.write(("," if i else "") + ENCODER.encode(key) + ":")
        parts[key]()
    doc.write("}")


def take(case_id: int, reason: str, kind: str = "abuse") -> EvidenceSnapshot | None:
    """Write the case's next snapshot for `reason` (once: a retried job finds the first).
    `kind`: "abuse" (an abuse or rights-holder case) or "billing" (a chargeback case).
    Commits."""
    model = KINDS[kind]
    # One snapshot of a case at a time: the chain has no forks.
    case = db.session.execute(for_update(select(model).where(model.id == case_id))).scalar_one_or_none()
    if case is None:
        return None
    column = _owner_column(case)
    existing = _snapshot(column, case_id, reason)
    if existing is not None:
        db.session.rollback()
        return existing
    last = db.session.execute(select(EvidenceSnapshot).where(column == case_id)
                              .order_by(EvidenceSnapshot.seq.desc()).limit(1)).scalar_one_or_none()
    seq, previous = (last.seq + 1, last.sha256) if last else (1, GENESIS)
    now = utcnow()
    storage, doc = get_storage(), None
    # The document goes straight into its object, named after its hash once written
    # (exclusive: an object already there is never replaced).
    late = LateKey(_folder(kind, case_id), lambda: f"{seq}-{doc.hexdigest()}.json")
    with storage.writer(late, private=True, exclusive=True) as out:
        doc = Document(out)
        write(doc, case, reason, seq, previous, now)
    digest, key = doc.hexdigest(), late()
    snapshot = EvidenceSnapshot(seq=seq, reason=reason, body_key=key, sha256=digest, prev_sha256=previous,
                                size=doc.size, taken_at=now)
    if kind == "billing":
        snapshot.billing_case_id = case_id
    else:
        snapshot.case_id = case_id
    try:
        db.session.add(snapshot)
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()  # another worker took it first
            _discard(key)
            return _snapshot(column, case_id, reason)
        if kind == "abuse":
            log.append(case, f"case:{case.id}", "evidence", SYSTEM, id=snapshot.id, seq=seq, reason=reason,
                       sha256=digest)
        record(SYSTEM, "evidence.preserved", "evidence_snapshot", snapshot.id, ticket_id=case.ticket_id,
               case=case.id, kind=kind, seq=seq, reason=reason, sha256=digest, previous=previous,
               rule="aup-5.2-evidence")
    except BaseException:
        db.session.rollback()
        _discard(key)  # no row names it: it goes
        raise
    # A commit that fails may still have reached the database: the object stays then (an
    # orphan at worst, never a row naming nothing).
    db.session.commit()
    return snapshot


def _discard(key: str) -> None:
    try:
        get_storage().delete(key)
    except StorageUnavailable as exc:  # the object stays behind, unnamed by any row
        log_.warning("evidence object %s left behind: %s", key, exc)


def _snapshot(column, case_id: int, reason: str) -> EvidenceSnapshot | None:
    return db.session.execute(select(EvidenceSnapshot).where(column == case_id,
                                                             EvidenceSnapshot.reason == reason)).scalar_one_or_none()


def snapshots(case) -> list[EvidenceSnapshot]:
    return list(db.session.execute(select(EvidenceSnapshot).where(_owner_column(case) == case.id)
                                   .order_by(EvidenceSnapshot.seq)).scalars())


def read_back(key: str) -> tuple[str, int, str | None, str | None]:
    """(SHA-256, size, the `previous` inside, a problem) of a stored document, read once in
    chunks: hashed as read, parsed a part at a time. Raises Missing and StorageUnavailable."""
    with get_storage().open(key) as fh:
        hashed, inner, problem = _Hashed(fh), None, None
        try:
            for name, value in parts(hashed):
                if name == "previous":
                    inner = value
        except (ValueError, UnicodeDecodeError) as exc:
            problem = f"it is not a snapshot document ({exc})"
        hashed.drain()  # bytes after a broken part count in its hash too
    return hashed.digest.hexdigest(), hashed.size, inner, problem


def verify(case) -> tuple[int, list[str]]:
    """(snapshots checked, problems): each document's SHA-256 recomputed from storage, each
    link of the chain followed (the row's `previous`, and the one inside the document), each
    hash compared with the one the audit log recorded; a document missing or unreadable is
    a problem, never an error. A snapshot an erasure redacted keeps its place in the chain
    (its original hash) and is checked against the digest that erasure wrote into the audit log."""
    problems = []
    rows = db.session.execute(
        select(EvidenceSnapshot.id, EvidenceSnapshot.seq, EvidenceSnapshot.body_key, EvidenceSnapshot.sha256,
               EvidenceSnapshot.prev_sha256, EvidenceSnapshot.size, EvidenceSnapshot.redaction)
        .where(_owner_column(case) == case.id).order_by(EvidenceSnapshot.seq)).all()
    audited, redacted = {}, {}
    for event in db.session.execute(select(AuditEvent).where(AuditEvent.action == "evidence.preserved",
                                                             AuditEvent.ticket_id == case.ticket_id)).scalars():
        audited[str(event.subject_id)] = event.data.get("sha256")
    for data in db.session.execute(select(AuditEvent.data).where(AuditEvent.action == "privacy.erased")
                                   .order_by(AuditEvent.id)).scalars():
        redacted.update(((data or {}).get("redacted") or {}).get("evidence_snapshots") or {})
    previous = GENESIS
    for expected_seq, row in enumerate(rows, start=1):
        name = f"snapshot {row.seq}"
        if row.seq != expected_seq:
            problems.append(f"{name}: expected number {expected_seq} — a snapshot is missing")
        if row.prev_sha256 != previous:
            problems.append(f"{name}: does not follow the snapshot before it (chain broken)")
        if audited.get(str(row.id)) != row.sha256:
            problems.append(f"{name}: its SHA-256 differs from the one in the audit log")
        previous = row.sha256
        try:
            digest, size, inner, problem = read_back(row.body_key)
        except Missing:
            problems.append(f"{name}: its document is missing from storage ({row.body_key})")
            continue
        except StorageUnavailable as exc:
            problems.append(f"{name}: its document could not be read from storage ({exc})")
            continue
        if problem:
            problems.append(f"{name}: {problem}")
        if row.redaction is None and (digest != row.sha256 or size != row.size):
            problems.append(f"{name}: its content does not match its SHA-256 (changed after it was written)")
        elif row.redaction is not None and not (digest == row.redaction.get("digest") == redacted.get(str(row.id))):
            # An erasure pseudonymised it (privacy-8-erasure) and recorded what it left.
            problems.append(f"{name}: its content does not match what the erasure that redacted it recorded")
        if not problem and inner != row.prev_sha256:
            problems.append(f"{name}: the previous hash inside its body does not match (chain broken)")
    return len(rows), problems


def mentions(key: str, needles: Sequence[str]) -> bool:
    """Whether a stored document holds any of these (lower-case) strings, ASCII letters in
    any case — read in chunks, each with the end of the one before (a needle cut in two
    is still found). Raises Missing and StorageUnavailable."""
    wanted = [n.lower().encode("utf-8") for n in needles if n]
    if not wanted:
        return False
    overlap, tail = max(map(len, wanted)) - 1, b""
    with get_storage().open(key) as fh:
        while data := fh.read(CHUNK):
            window = tail + data.lower()
            if any(n in window for n in wanted):
                return True
            tail = window[-overlap:] if overlap else b""
    return False


def redact(snapshot: EvidenceSnapshot, scrub) -> tuple[str, int, str] | None:
    """Write the snapshot's document with `scrub` applied to every value (keys within
    them too) into a new object, part by part as `take` writes one: (its key, its size,
    its SHA-256), or None when nothing in it changes. The row and the old object are the caller's
    (desk.privacy.erasure). The document's own top-level names stay as they are: they are
    the format, not anyone's data (a login "orders" must not rename the orders)."""
    storage, kind_case, doc, current = get_storage(), kind_of(snapshot), None, snapshot.body_key
    late = LateKey(_folder(*kind_case), lambda: f"{snapshot.seq}-{doc.hexdigest()}.json")
    was = (snapshot.redaction or {}).get("digest") or snapshot.sha256

    class Unchanged(Exception):
        pass

    try:
        with storage.open(current) as src, storage.writer(late, private=True, exclusive=True) as out:
            doc = Document(out)
            doc.write("{")
            for i, (name, value) in enumerate(parts(src)):
                doc.write(("," if i else "") + ENCODER.encode(name) + ":")
                if isinstance(value, Items):
                    doc.array(scrub.value(item) for item in value)
                else:
                    doc.value(scrub.value(value))
            doc.write("}")
            if doc.hexdigest() == was:
                raise Unchanged  # the block's bytes are dropped, no object is written
    except Unchanged:
        return None
    except Exists:
        # The same redacted bytes are stored already (an earlier run of this erasure that
        # did not commit): the key names them, they serve.
        pass
    return late(), doc.size, doc.hexdigest()


def orphans(case) -> list[str]:
    """Objects in the case's folder that no snapshot row names: left by a job whose commit
    failed after its document was written (see the module's docstring), or an unredacted
    document whose deletion after an erasure's commit failed (logged then). Not evidence
    of the chain; listed so an operator can look at them and remove them."""
    kind = "billing" if isinstance(case, BillingCase) else "abuse"
    named = set(db.session.execute(select(EvidenceSnapshot.body_key).where(
        _owner_column(case) == case.id)).scalars())
    return [key for key in get_storage().keys(_folder(kind, case.id) + "/")
            if key not in named and not key.rsplit("/", 1)[1].startswith(".")]  # not a file being written


def find_case(ref: str):
    """An abuse case by its number, or any case (abuse or chargeback) by its ticket's reference."""
    ref = (ref or "").strip()
    if ref.isdigit():
        return db.session.get(AbuseCase, int(ref))
    ticket = db.session.execute(select(Ticket).where(Ticket.reference == ref.upper())).scalar_one_or_none()
    if ticket is None:
        return None
    return getattr(ticket, "abuse_case", None) or getattr(ticket, "billing_case", None)
