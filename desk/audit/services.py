"""Writing and checking the audit chain. Callers own the transaction."""
import hashlib
import json
import re
from dataclasses import dataclass

from sqlalchemy import event as orm_event, insert, select, text, update
from sqlalchemy.orm import Session

from desk import inserts
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
    return hashlib.sha256(_canonical(prev_hash, event).encode()).hexdigest()


PREV_MARK = "@@prev-" + "5f0c9a1e" * 4 + "@@"  # stands for the previous hash in ONE_TRIP's text


def _canonical(prev_hash: str, event: AuditEvent) -> str:
    """The event as the chain hashes it: sorted keys, no spaces, anything else as str()."""
    body = {
        "prev": prev_hash,
        "at": event.at.isoformat(),
        "actor": [event.actor_kind, event.actor_id, event.actor_label],
        "action": event.action,
        "subject": [event.subject_type, event.subject_id],
        "ticket": event.ticket_id,
        "data": event.data,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)


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


# Events recorded in a session's transaction wait here, in order, until it commits: only
# then is the chain's head locked, the events linked after it and written, and the head
# moved. So the lock that serialises the chain is held for the commit's last statements,
# not from a request's first audited action to its end (issue 11: intakes ran one at a time).
PENDING = "desk.audit.pending"


def _locked_head(session) -> str:
    """The chain's last hash, its row locked until the transaction ends. Its column, not the
    row as an object: moving the head is then an UPDATE of its own, not a flush (issue 11)."""
    last = session.execute(select(AuditHead.last_hash).where(AuditHead.id == 1).with_for_update()) \
        .scalar_one_or_none()
    if last is None:
        session.add(AuditHead(id=1, last_hash=GENESIS))
        session.flush()
        return GENESIS
    return last


def _queue(events: list[AuditEvent]) -> None:
    """Keep the events for the commit, with the (savepoint or) transaction they belong to,
    so that rolling it back drops them as it would have dropped their rows."""
    session = db.session()
    if not session.in_transaction():
        session.begin()
    owner = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(PENDING, []).extend((event, owner) for event in events)


def write_pending(session=None, *, commit: bool = False) -> None:
    """Link the queued events after the chain's head and insert them, now: locks the head
    until the transaction ends. The commit does this by itself; call it only to read the
    events back (an id, a hash, a query) before committing. `commit` (the commit's own
    call): on PostgreSQL, when desk.inserts writes every new row, the events' statement
    goes after the rows' and before the COMMIT, the three in one round trip
    (desk.inserts.COMMIT_WITH)."""
    session = session if session is not None else db.session()
    pending = session.info.pop(PENDING, None)
    if not pending:
        return
    if session.get_bind().dialect.name == "postgresql" and _append_in_one_trip(session, pending, commit):
        return
    prev = _locked_head(session)  # the query flushes everything else first: the lock comes last
    rows = []
    for event, _owner in pending:
        event.prev_hash = prev
        event.hash = prev = _digest(prev, event)
        rows.append({c: getattr(event, c) for c in ("at", "actor_kind", "actor_id", "actor_label", "action",
                                                   "subject_type", "subject_id", "ticket_id", "data",
                                                   "prev_hash", "hash")})
    # One INSERT for all, in chain order (verify_chain walks by id); the ids come back to the
    # events record() returned.
    ids = session.execute(insert(AuditEvent.__table__).returning(AuditEvent.id, sort_by_parameter_order=True),
                          rows).scalars().all()
    for (event, _owner), event_id in zip(pending, ids):
        event.id = event_id
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=prev))


# PostgreSQL links the events after the head, inserts them and moves the head in one
# statement: the chain's lock is then held for that statement and the COMMIT, not for three
# round trips, each of which waits for its process to be scheduled again (issue 11: with
# many intakes at once they queued on the head). The database hashes what _digest() would:
# each event's canonical JSON is sent cut where its `prev` goes, and sha256(before || prev
# || after) is the same digest of the same bytes (tests/test_api_tickets.py checks it).
# The chain's part is kept with psycopg's parameters: inserts.write_new() runs it in the
# statement that writes an intake's rows (one round trip for both), ONE_TRIP by itself.
CHAIN_CTES = """given AS (
    SELECT * FROM ROWS FROM (json_to_recordset(CAST(%(events)s AS json))
                             AS (before text, after text, at timestamptz, actor_kind text, actor_id text,
                                 actor_label text, action text, subject_type text, subject_id text, ticket_id integer,
                                 data text))
        WITH ORDINALITY AS g(before, after, at, actor_kind, actor_id, actor_label, action, subject_type, subject_id,
                             ticket_id, data, n)
), head AS (
    SELECT last_hash FROM audit_head WHERE id = 1 FOR UPDATE
), chain (n, prev_hash, hash) AS (
    SELECT 0::bigint, NULL::text, last_hash::text FROM head
    UNION ALL
    SELECT g.n, c.hash, encode(sha256(convert_to(g.before || c.hash || g.after, 'UTF8')), 'hex')
    FROM chain c JOIN given g ON g.n = c.n + 1
), written AS (
    INSERT INTO audit_events (at, actor_kind, actor_id, actor_label, action, subject_type, subject_id, ticket_id,
                              data, prev_hash, hash)
    SELECT g.at, g.actor_kind, g.actor_id, g.actor_label, g.action, g.subject_type, g.subject_id, g.ticket_id,
           CAST(g.data AS json), c.prev_hash, c.hash
    FROM given g JOIN chain c ON c.n = g.n ORDER BY g.n
    RETURNING id, prev_hash, hash
), moved AS (
    UPDATE audit_head SET last_hash = (SELECT hash FROM chain ORDER BY n DESC LIMIT 1)
    WHERE id = 1 AND EXISTS (SELECT 1 FROM written)
)"""
CHAIN_SELECT = "SELECT id, prev_hash, hash FROM written"
ONE_TRIP = text(re.sub(r"%\((\w+)\)s", r":\1", f"WITH RECURSIVE {CHAIN_CTES} {CHAIN_SELECT} ORDER BY id"))


def _append_in_one_trip(session, pending, commit: bool = False) -> bool:
    """ONE_TRIP for the queued events; False (nothing written) when the chain has no head
    yet, for the general path to start it. (Migration 0001 writes the head, so on a desk's
    database that never happens; were the row deleted, a `commit` statement would have
    committed the new rows, and the general path would write the events in a transaction of
    their own.)"""
    events = [event for event, _owner in pending]
    cut = [_canonical(PREV_MARK, event).split(PREV_MARK) for event in events]
    if any(len(parts) != 2 for parts in cut):  # the mark in an event's own text: the general path
        return False
    # One JSON array of the events: eleven arrays of values cost psycopg more to send than
    # the statement's own round trip.
    params = {"events": json.dumps([
        {"before": before, "after": after, "at": event.at.isoformat(), "data": json.dumps(event.data),
         **{column: getattr(event, column) for column in ("actor_kind", "actor_id", "actor_label", "action",
                                                          "subject_type", "subject_id", "ticket_id")}}
        for event, (before, after) in zip(events, cut)], ensure_ascii=False)}
    # An intake's rows and its events in one round trip (desk.inserts: one statement, or
    # from the commit two and the COMMIT); else the rows the events name (a ticket) flushed
    # first, as _locked_head()'s query would, then the events.
    rows = inserts.write_new(session, inserts.Also(CHAIN_CTES, CHAIN_SELECT, params), commit=commit)
    if rows is None:
        session.flush()
        # On the session's connection: everything is written, and the ORM's execute() (its
        # autoflush check, its result) cost more than the statement's own round trip.
        rows = session.connection().execute(ONE_TRIP, params).all()
    if not rows:
        return False  # no head row yet: write_pending()'s general path makes it
    for event, (event_id, prev_hash, digest) in zip(events, rows):
        event.id, event.prev_hash, event.hash = event_id, prev_hash, digest
    return True


@orm_event.listens_for(Session, "before_commit")
def _write_on_commit(session) -> None:
    # The commit's last write: a listener after this one would write in a transaction the
    # statement may have committed already (desk.inserts.COMMIT_WITH).
    if not session.in_nested_transaction():  # a savepoint's release: its events wait for the commit
        write_pending(session, commit=True)


@orm_event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session, previous_transaction) -> None:
    pending = session.info.get(PENDING)
    if pending:
        session.info[PENDING] = [(e, owner) for e, owner in pending if not _within(owner, previous_transaction)]


@orm_event.listens_for(Session, "after_transaction_end")
def _drop_on_end(session, transaction) -> None:
    if transaction.parent is None:  # the transaction ended without a commit (closed): nothing stays queued
        session.info.pop(PENDING, None)


def _within(owner, transaction) -> bool:
    while owner is not None:
        if owner is transaction:
            return True
        owner = owner.parent
    return False


def _event(actor: Actor, at, action, subject_type, subject_id, ticket_id, data) -> AuditEvent:
    return AuditEvent(at=at, actor_kind=actor.kind, actor_id=actor.id, actor_label=actor.label, action=action,
                      subject_type=subject_type, subject_id=str(subject_id), ticket_id=ticket_id, data=data)


def record_many(actor: Actor, events: list[tuple]) -> None:
    """Append (action, subject_type, subject_id, ticket_id, data) events to the chain, at
    the commit, with the one INSERT that writes the transaction's events: how bulk work (an
    import batch) is audited."""
    at = utcnow().replace(microsecond=0)
    if events:
        _queue([_event(actor, at, *row) for row in events])


def record(actor: Actor, action: str, subject_type: str, subject_id, *, ticket_id=None, **data) -> AuditEvent:
    """Append an event to the chain when the caller's transaction commits (dropped if it
    rolls back). The event returned has its id and hash from then on (or from
    write_pending(), for a caller that needs them sooner)."""
    event = _event(actor, utcnow().replace(microsecond=0), action, subject_type, subject_id, ticket_id, data)
    _queue([event])
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
