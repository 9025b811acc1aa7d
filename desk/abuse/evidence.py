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
"""
import hashlib
import json
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from desk.abuse import log
from desk.abuse.models import AbuseCase, EnforcementAction, EvidenceSnapshot, ModerationEvent
from desk.money.models import BillingCase
from desk.accounts.models import CustomerIdentifier
from desk.audit.models import AuditEvent
from desk.audit.services import SYSTEM, record
from desk.claims.ledger import balances_of
from desk.claims.models import Customer, LedgerEntry, Order
from desk.extensions import db, for_update
from desk.tickets.models import Message, Ticket
from desk.types import utcnow

GENESIS = "0" * 64


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not canonical: {type(value).__name__}")


def canonical(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_plain).encode("utf-8")


def parse(body: str):
    return json.loads(body)


def body_digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _customer(c: Customer) -> dict:
    return {"panel_id": c.panel_id, "login": c.login, "email": c.email, "email_verified": c.email_verified,
            "country": c.country, "status": c.status, "fraud_flag": c.fraud_flag, "created_at": c.created_at,
            "last_login_at": c.last_login_at, "last_deposit_at": c.last_deposit_at,
            "last_order_at": c.last_order_at}


def _order(o: Order) -> dict:
    return {"panel_id": o.panel_id, "customer": o.customer.panel_id, "link": o.link,
            "link_normalized": o.link_normalized, "quantity": o.quantity, "charge": o.charge,
            "charge_deposited": o.charge_deposited, "charge_promo": o.charge_promo, "start_count": o.start_count,
            "remains": o.remains, "status": o.status, "target_state": o.target_state, "tool": o.tool,
            "created_at": o.created_at, "finished_at": o.finished_at,
            "history": [{"status": h.status, "at": h.at} for h in o.history]}


def _entry(e: LedgerEntry, panel_id: str) -> dict:
    return {"panel_id": e.panel_id, "customer": panel_id, "kind": e.kind, "amount": e.amount,
            "funding": e.funding, "order": e.order_ref, "processor_fee": e.processor_fee, "method": e.method,
            "source": e.source, "at": e.at}


def _ticket(t: Ticket) -> dict:
    return {"reference": t.reference, "kind": t.kind, "queue": t.queue, "status": t.status, "subject": t.subject,
            "requester": t.requester_email, "customer": t.customer.panel_id if t.customer else None,
            "order": t.order_ref, "created_at": t.created_at,
            "messages": [{"id": m.id, "author": m.author_kind, "author_email": m.author_email,
                          "internal": m.internal, "at": m.created_at, "text": m.body_text,
                          "attachments": [{"name": a.filename, "size": a.size, "sha256": a.sha256}
                                          for a in m.attachments]}
                         for m in t.messages]}


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


def build(case, reason: str, seq: int, previous: str, taken_at: datetime) -> dict:
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
    orders = list(db.session.execute(
        select(Order).where((Order.customer_id.in_(ids)) | (Order.panel_id.in_(order_ids)))
        .options(selectinload(Order.history), selectinload(Order.customer)).order_by(Order.panel_id)).scalars())
    entries = list(db.session.execute(select(LedgerEntry).where(LedgerEntry.customer_id.in_(ids))
                                      .order_by(LedgerEntry.at, LedgerEntry.id)).scalars()) if ids else []
    identifiers = db.session.execute(select(CustomerIdentifier).where(CustomerIdentifier.customer_id.in_(ids))
                                     .order_by(CustomerIdentifier.kind, CustomerIdentifier.value)).scalars() \
        if ids else []
    ticket_rows = list(db.session.execute(
        select(Ticket).where((Ticket.customer_id.in_(ids)) | (Ticket.id == case.ticket_id))
        .options(selectinload(Ticket.messages).selectinload(Message.attachments), selectinload(Ticket.customer))
        .order_by(Ticket.id)).scalars())
    abuse = not isinstance(case, BillingCase)
    actions = db.session.execute(select(EnforcementAction).where(EnforcementAction.case_id == case.id)
                                 .order_by(EnforcementAction.id)).scalars() if abuse else []
    events = db.session.execute(select(ModerationEvent).where(ModerationEvent.case_id == case.id)
                                .order_by(ModerationEvent.id)).scalars() if abuse else []
    per_customer: dict[str, list] = {}
    for e in entries:
        per_customer.setdefault(by_id[e.customer_id], []).append(e)
    found_identifiers: dict[str, list] = {}
    for i in identifiers:
        found_identifiers.setdefault(by_id[i.customer_id], []).append([i.kind, i.value])
    return {
        "format": "desk-evidence/1",
        "seq": seq, "reason": reason, "previous": previous, "taken_at": taken_at,
        "case": _case_part(case),
        "reports": [{"reference": r.reference, "category": r.category, "reporter": r.reporter_email,
                     "links": r.links, "orders": r.orders, "description": r.description, "details": r.details,
                     "files": [{k: f.get(k) for k in ("name", "size", "sha256", "stored")} for f in r.files],
                     "received_at": r.created_at, "confirmed_at": r.confirmed_at}
                    for r in (case.reports if abuse else [])],
        "accounts": [{**_customer(c), "identifiers": found_identifiers.get(c.panel_id, []),
                      "balances": {"deposited": b.deposited, "promotional": b.promotional}}
                     for c in customers for b in [balances_of(per_customer.get(c.panel_id, []))]],
        "orders": [_order(o) for o in orders],
        "ledger": [_entry(e, by_id[e.customer_id]) for e in entries],
        "tickets": [_ticket(t) for t in ticket_rows],
        "actions": [_action(a) for a in actions],
        "events": [{"id": e.id, "kind": e.kind, "subject": e.subject, "data": e.data, "actor": e.actor_label,
                    "at": e.at} for e in events],
    }


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
    body = canonical(build(case, reason, seq, previous, now))
    digest = hashlib.sha256(body).hexdigest()
    snapshot = EvidenceSnapshot(seq=seq, reason=reason, body=body.decode("utf-8"), sha256=digest,
                                prev_sha256=previous, size=len(body), taken_at=now)
    if kind == "billing":
        snapshot.billing_case_id = case_id
    else:
        snapshot.case_id = case_id
    db.session.add(snapshot)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()  # another worker took it first
        return _snapshot(column, case_id, reason)
    if kind == "abuse":
        log.append(case, f"case:{case.id}", "evidence", SYSTEM, id=snapshot.id, seq=seq, reason=reason,
                   sha256=digest)
    record(SYSTEM, "evidence.preserved", "evidence_snapshot", snapshot.id, ticket_id=case.ticket_id, case=case.id,
           kind=kind, seq=seq, reason=reason, sha256=digest, previous=previous, rule="aup-5.2-evidence")
    db.session.commit()
    return snapshot


def _snapshot(column, case_id: int, reason: str) -> EvidenceSnapshot | None:
    return db.session.execute(select(EvidenceSnapshot).where(column == case_id,
                                                             EvidenceSnapshot.reason == reason)).scalar_one_or_none()


def snapshots(case) -> list[EvidenceSnapshot]:
    return list(db.session.execute(select(EvidenceSnapshot).where(_owner_column(case) == case.id)
                                   .order_by(EvidenceSnapshot.seq)).scalars())


def verify(case) -> tuple[int, list[str]]:
    """(snapshots checked, problems): each body's SHA-256 recomputed, each link of the
    chain followed, each hash compared with the one the audit log recorded. A snapshot an
    erasure redacted keeps its place in the chain (its original hash) and is checked
    against the digest that erasure wrote into the audit log."""
    problems = []
    rows = db.session.execute(
        select(EvidenceSnapshot.id, EvidenceSnapshot.seq, EvidenceSnapshot.body, EvidenceSnapshot.sha256,
               EvidenceSnapshot.prev_sha256, EvidenceSnapshot.redaction).where(_owner_column(case) == case.id)
        .order_by(EvidenceSnapshot.seq)).all()
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
        digest = body_digest(row.body)
        if row.redaction is None and digest != row.sha256:
            problems.append(f"{name}: its content does not match its SHA-256 (changed after it was written)")
        elif row.redaction is not None and not (digest == row.redaction.get("digest") == redacted.get(str(row.id))):
            # An erasure pseudonymised it (privacy-8-erasure) and recorded what it left.
            problems.append(f"{name}: its content does not match what the erasure that redacted it recorded")
        if row.prev_sha256 != previous:
            problems.append(f"{name}: does not follow the snapshot before it (chain broken)")
        try:
            inner = json.loads(row.body).get("previous")
        except (ValueError, AttributeError):
            inner = None
        if inner != previous:
            problems.append(f"{name}: the previous hash inside its body does not match (chain broken)")
        if audited.get(str(row.id)) != row.sha256:
            problems.append(f"{name}: its SHA-256 differs from the one in the audit log")
        previous = row.sha256
    return len(rows), problems


def find_case(ref: str):
    """An abuse case by its number, or any case (abuse or chargeback) by its ticket's reference."""
    ref = (ref or "").strip()
    if ref.isdigit():
        return db.session.get(AbuseCase, int(ref))
    ticket = db.session.execute(select(Ticket).where(Ticket.reference == ref.upper())).scalar_one_or_none()
    if ticket is None:
        return None
    return getattr(ticket, "abuse_case", None) or getattr(ticket, "billing_case", None)
