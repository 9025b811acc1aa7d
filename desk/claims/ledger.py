"""The ledger mirror: the panel's balance events, stored once each (idempotent by the
panel's entry id), from which Deposited Funds and Promotional Credit are derived."""
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from desk import jobs
from desk.audit.services import Actor, record
from desk.claims import feed
from desk.claims.models import Customer, LedgerEntry
from desk.claims.orders import ensure_customer, note_activity
from desk.claims.parse import Fields
from desk.errors import ValidationError
from desk.extensions import db
from desk.policy import ledger as policy
from desk.policy import money
from desk.types import utcnow

MAX_BATCH = 1000


def parse_entries(body) -> list[dict]:
    """Check a batch; one ValidationError lists every problem as entries[i].field."""
    entries = body.get("entries") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValidationError('Send {"entries": [...]} with at least one entry.', {"entries": "required"})
    if len(entries) > MAX_BATCH:
        raise ValidationError(f"At most {MAX_BATCH} entries per request.", {"entries": "too many"})
    parsed, problems = [], {}
    for i, raw in enumerate(entries):
        f = Fields(raw if isinstance(raw, dict) else {}, f"entries[{i}].")
        kind = f.choice("kind", policy.KINDS, required=True)
        entry = {
            "panel_id": f.string("id", required=True, max_len=64),
            "customer": f.string("customer", required=True, max_len=64),
            "kind": kind,
            "amount": f.money("amount", required=True, signed=True),
            "funding": f.choice("funding", policy.FUNDING, default=policy.FIXED_FUNDING.get(kind)),
            "order_ref": f.string("order", max_len=64),
            "processor_fee": f.money("processor_fee"),
            "method": f.string("method", max_len=64),
            "source": f.string("source", max_len=120),
            "at": f.time("at") or utcnow(),
            # Not a ledger column: the accounts domain keeps it as an identifier (terms-12-promo).
            "payment_fingerprint": f.string("payment_fingerprint", max_len=255),
        }
        problems.update(f.problems)
        if kind and entry["amount"] is not None and entry["funding"]:
            for name, message in policy.entry_problems(kind, entry["amount"], entry["funding"]).items():
                problems[f"entries[{i}].{name}"] = message
        elif kind and not entry["funding"] and f"entries[{i}].funding" not in problems:
            problems[f"entries[{i}].funding"] = "required: deposited or promotional"
        if entry["processor_fee"] is not None and kind not in ("deposit", "chargeback"):
            problems[f"entries[{i}].processor_fee"] = "only on deposits and chargebacks (the processor's fee)"
        if entry["payment_fingerprint"] is not None and kind != "deposit":
            problems[f"entries[{i}].payment_fingerprint"] = "only on deposits"
        parsed.append(entry)
    ids = [e["panel_id"] for e in parsed if e["panel_id"]]
    if len(ids) != len(set(ids)):
        problems["entries"] = "the same id appears twice in one batch"
    if problems:
        raise ValidationError("Some ledger entries have problems; none were stored.", problems)
    return parsed


def store_entries(body, actor: Actor) -> dict:
    """Store a batch atomically; entries already stored (same panel id) are skipped."""
    entries = parse_entries(body)
    try:
        return _store(entries, actor)
    except IntegrityError:
        # A concurrent delivery of the same entries won the race: store what is left.
        db.session.rollback()
        return _store(entries, actor)


def _store(entries: list[dict], actor: Actor) -> dict:
    entries = [dict(e) for e in entries]
    ids = [e["panel_id"] for e in entries]
    known = set(db.session.execute(select(LedgerEntry.panel_id).where(LedgerEntry.panel_id.in_(ids))).scalars())
    customers: dict[str, Customer] = {}
    rows, extras = [], {}
    for entry in entries:
        if entry["panel_id"] in known:
            continue
        panel_customer = entry.pop("customer")
        fingerprint = entry.pop("payment_fingerprint")
        if fingerprint:
            extras[entry["panel_id"]] = {"payment_fingerprint": fingerprint}
        if panel_customer not in customers:
            customers[panel_customer] = ensure_customer(panel_customer)
        rows.append(LedgerEntry(customer=customers[panel_customer], **entry))
    if rows:
        db.session.add_all(rows)
        note_activity([(row.customer, row.kind, row.at) for row in rows])
        db.session.flush()
        feed.ledger_stored.send(None, rows=rows, extras=extras)
        # The audit head is locked last, as every writer does (a customer PUT updates the
        # customer row, then audits): rows locked after it, in this order or the other,
        # would let two deliveries deadlock on PostgreSQL.
        record(actor, "ledger.stored", "ledger", ids[0], count=len(rows), duplicates=len(entries) - len(rows))
    db.session.commit()
    jobs.dispatch()
    return {"stored": len(rows), "duplicates": len(entries) - len(rows)}


def customer_entries(customer: Customer) -> list[LedgerEntry]:
    return list(db.session.execute(
        select(LedgerEntry).where(LedgerEntry.customer_id == customer.id).order_by(LedgerEntry.at, LedgerEntry.id)
    ).scalars())


def as_policy(entry: LedgerEntry) -> policy.Entry:
    return policy.Entry(entry.kind, entry.amount, entry.funding)


def customer_balances(customer: Customer) -> policy.Balances:
    return balances_of(customer_entries(customer))


def balances_of(entries) -> policy.Balances:
    """The balances of entries already loaded (a page that shows them reads them once)."""
    return policy.balances(as_policy(e) for e in entries)


def money_lines(customer: Customer) -> list[money.Line]:
    """The customer's entries as the money rules read them (desk.policy.money)."""
    return [money.Line(e.panel_id, e.kind, e.amount, e.funding, e.at, e.processor_fee, e.order_ref, e.source,
                       e.method) for e in customer_entries(customer)]
