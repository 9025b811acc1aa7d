"""The SLA sweep: once a minute, remind at 75% of a target and escalate at breach.

Only clocks whose `next_check_at` has come are read (one index range), so a sweep over a
million open tickets costs what its due handful costs. Each reminder and breach is marked
on the clock in the same transaction as its event and the outbox row of its notice, so a
second sweep, a concurrent one (rows locked with SKIP LOCKED on PostgreSQL) or a restarted
worker finds nothing left to do: one notice per ticket and target.
"""
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from desk import jobs
from desk.audit.services import SYSTEM, record_many
from desk.extensions import db
from desk.sla.clocks import next_check
from desk.sla.models import SlaEvent, TicketClock
from desk.tickets.models import Ticket
from desk.types import utcnow


def sweep(now: datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    batch = current_app.config["SLA_SWEEP_BATCH"]
    totals = {"reminders": 0, "breaches": 0}
    while True:
        query = (
            select(TicketClock, Ticket.reference).join(Ticket, Ticket.id == TicketClock.ticket_id)
            .where(TicketClock.next_check_at <= now)
            .order_by(TicketClock.next_check_at, TicketClock.id).limit(batch)
        )
        if db.engine.dialect.name == "postgresql":
            query = query.with_for_update(of=TicketClock, skip_locked=True)
        rows = db.session.execute(query).all()
        events, audit = [], []
        for clock, reference in rows:
            event = _act(clock, now)
            if event is None:
                continue
            events.append(event)
            totals["reminders" if event.kind == "reminder" else "breaches"] += 1
            if event.kind == "breach":
                # An automated decision names its clause (the clock's rule).
                audit.append(("sla.breached", "ticket", reference, clock.ticket_id,
                              {"clock": clock.name, "rule": clock.rule, "due": clock.due_at.isoformat()}))
        db.session.add_all(events)
        db.session.flush()  # one flush for the batch: the events' ids for their jobs
        for event in events:
            jobs.enqueue("workers.sla.notify", event.id, queue="high")
        record_many(SYSTEM, audit)
        db.session.commit()
        jobs.dispatch()
        if len(rows) < batch:
            return totals


def _act(clock: TicketClock, now: datetime) -> SlaEvent | None:
    event = None
    if clock.due_at is not None and clock.due_at <= now and clock.breached_at is None:
        clock.breached_at = now
        clock.reminded_at = clock.reminded_at or now  # late already: the escalation says it all
        event = SlaEvent(ticket_id=clock.ticket_id, clock_id=clock.id, kind="breach", at=now,
                         data={"rule": clock.rule, "due": clock.due_at.isoformat()})
    elif clock.warn_at is not None and clock.warn_at <= now and clock.reminded_at is None:
        clock.reminded_at = now
        event = SlaEvent(ticket_id=clock.ticket_id, clock_id=clock.id, kind="reminder", at=now,
                         data={"rule": clock.rule, "due": clock.due_at.isoformat()})
    following = next_check(clock)
    # Never leave a row the sweep would pick up again with nothing to do.
    clock.next_check_at = following if following is not None and following > now else None
    return event
