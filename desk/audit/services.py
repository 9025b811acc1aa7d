"""Writing and checking the audit chain. Callers own the transaction."""
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import insert, select

from desk.audit.models import AuditEvent, AuditHead
from desk.extensions import db
from desk.types import utcnow

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    kind: str  # staff, api, requester, system
    id: str | None = None
    label: str = ""

    @classmethod
    def staff(cls, staff) -> "Actor":
        return cls("staff", str(staff.id), staff.email)

    @classmethod
    def api(cls, key) -> "Actor":
        return cls("api", str(key.id), f"API key {key.name}")


SYSTEM = Actor("system", None, "desk")


def _digest(prev_hash: str, event: AuditEvent) -> str:
    body = {
        "prev": prev_hash,
        "at": event.at.isoformat(),
        "actor": [event.actor_kind, event.actor_id, event.actor_label],
        "action": event.action,
        "subject": [event.subject_type, event.subject_id],
        "ticket": event.ticket_id,
        "data": event.data,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def digest_of(event: AuditEvent) -> str:
    """What the event hashes to as it stands now (after a redaction, its new digest)."""
    return _digest(event.prev_hash, event)


def _redactions() -> dict[str, str]:
    """{event id: digest} as the erasures recorded them in the chain (privacy.erased), the
    newest winning: a redacted row is checked against these, not against itself."""
    found = {}
    rows = db.session.execute(select(AuditEvent.data).where(AuditEvent.action == "privacy.erased")
                              .order_by(AuditEvent.id)).scalars()
    for data in rows:
        found.update(((data or {}).get("redacted") or {}).get("audit_events") or {})
    return found


def _locked_head() -> AuditHead:
    head = db.session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, last_hash=GENESIS)
        db.session.add(head)
    return head


def record_many(actor: Actor, events: list[tuple]) -> None:
    """Append (action, subject_type, subject_id, ticket_id, data) events to the chain with
    one lock of its head and one INSERT: how bulk work (an import batch) is audited."""
    if not events:
        return
    head = _locked_head()
    prev = head.last_hash
    at = utcnow().replace(microsecond=0)
    rows = []
    for action, subject_type, subject_id, ticket_id, data in events:
        event = AuditEvent(at=at, actor_kind=actor.kind, actor_id=actor.id, actor_label=actor.label,
                           action=action, subject_type=subject_type, subject_id=str(subject_id),
                           ticket_id=ticket_id, data=data, prev_hash=prev)
        event.hash = prev = _digest(prev, event)
        rows.append({c: getattr(event, c) for c in ("at", "actor_kind", "actor_id", "actor_label", "action",
                                                       "subject_type", "subject_id", "ticket_id", "data",
                                                       "prev_hash", "hash")})
    db.session.execute(insert(AuditEvent.__table__), rows)
    head.last_hash = prev
    db.session.flush()


def record(actor: Actor, action: str, subject_type: str, subject_id, *, ticket_id=None, **data) -> AuditEvent:
    head = _locked_head()
    event = AuditEvent(
        at=utcnow().replace(microsecond=0),
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        ticket_id=ticket_id,
        data=data,
        prev_hash=head.last_hash,
    )
    event.hash = _digest(head.last_hash, event)
    head.last_hash = event.hash
    db.session.add(event)
    return event


def verify_chain() -> tuple[int, int | None]:
    """Walk the chain; return (events checked, id of the first broken event or None).

    A row an erasure redacted is checked against the digest the erasure wrote into a later
    event of the chain, so a redaction cannot be forged without breaking the chain.

    The head row remembers the newest hash, so a log emptied or cut short from the end
    is caught too (reported as broken at event 0)."""
    prev = GENESIS
    checked = 0
    redactions = _redactions()
    for event in db.session.execute(select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=1000)).scalars():
        if event.prev_hash != prev:
            return checked, event.id
        if event.redaction is None:
            if _digest(prev, event) != event.hash:
                return checked, event.id
        else:
            # Redacted by an erasure (privacy-8-erasure): its hash still links the chain, and
            # its content must be what the erasure recorded, in the chain, that it left.
            digest = _digest(prev, event)
            if digest != event.redaction.get("digest") or redactions.get(str(event.id)) != digest:
                return checked, event.id
        prev = event.hash
        checked += 1
    head = db.session.get(AuditHead, 1)
    if head is not None and head.last_hash != prev:
        return checked, 0
    return checked, None
