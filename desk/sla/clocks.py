"""A ticket's clocks through its life: started at intake, paused while the ticket waits on
the customer, resumed on their reply, stopped by the action each target measures, and
extended where the law allows. Callers own the transaction."""
from collections.abc import Callable
from datetime import datetime, timedelta

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from desk import jobs
from desk.audit.services import Actor, record
from desk.errors import ValidationError
from desk.extensions import db
from desk.policy import sla as policy
from desk.policy.calendar import Calendar, add_support_time, support_time_between
from desk.sla import settings
from desk.sla.models import SlaEvent, TicketClock
from desk.tickets.models import NO_DUE, OPEN_STATUSES, Ticket

DONE = ("resolved", "closed")


def start(ticket: Ticket, now: datetime) -> list[TicketClock]:
    """Give a new ticket the clocks its kind runs (desk.policy.sla.clocks_for)."""
    config = settings.current()
    specs = policy.clocks_for(
        ticket.kind, config.targets_for(ticket.kind), jurisdiction=ticket.jurisdiction,
        serious_harm=bool(ticket.serious_harm),
        gdpr_pauses_for_identity=config.switches["gdpr_pauses_for_identity"],
    )
    for spec in specs:
        clock = TicketClock(
            name=spec.name, label=spec.label, rule=spec.rule, measure=spec.measure, amount=spec.amount,
            stops_on=spec.stops_on, pauses=spec.pauses,
            extendable_by=spec.extension.amount if spec.extension else None,
            started_at=now, resumed_at=now,
            budget_seconds=spec.amount * 60 if spec.measure == "support" else None,
        )
        schedule(clock, config.calendar)
        ticket.clocks.append(clock)
    refresh_due(ticket)
    return ticket.clocks


def page_if_serious(ticket: Ticket, now: datetime) -> None:
    """aup-5.6-serious-harm: trust & safety are paged when the report arrives, not at breach.
    Call after the ticket is flushed; the page goes out through the outbox."""
    for clock in ticket.clocks:
        if clock.rule == policy.SERIOUS_HARM:
            event = SlaEvent(ticket_id=ticket.id, clock=clock, kind="page", at=now, data={"rule": clock.rule})
            db.session.add(event)
            db.session.flush()
            jobs.enqueue("workers.sla.notify", event.id, queue="high")


def spec_of(clock: TicketClock) -> policy.ClockSpec:
    extension = policy.Extension(clock.extendable_by) if clock.extendable_by else None
    return policy.ClockSpec(clock.name, clock.label, clock.rule, clock.measure, clock.amount, clock.stops_on,
                            clock.pauses, extension)


def _full_seconds(clock: TicketClock, cal: Calendar) -> float:
    """The whole target in the clock's own currency: support seconds, or wall seconds."""
    if clock.measure == "support":
        return clock.amount * 60
    return (policy.deadline(clock.measure, clock.started_at, clock.amount, cal) - clock.started_at).total_seconds()


def schedule(clock: TicketClock, cal: Calendar) -> None:
    """Work out a running clock's due time, its 75% reminder point and the sweep's next look."""
    if not clock.running:
        clock.next_check_at = None
        if clock.stopped_at is None:  # paused: no deadline until it runs again
            clock.due_at = clock.warn_at = None
        return
    full = _full_seconds(clock, cal)
    warn_left = full * (1 - policy.REMINDER_SHARE)  # what is left of the budget at the reminder
    if clock.measure == "support":
        budget = clock.budget_seconds
        if budget >= 0:
            clock.due_at = add_support_time(clock.resumed_at, timedelta(seconds=budget), cal)
        else:  # reopened after it was already late: it fell due that long ago
            clock.due_at = clock.resumed_at + timedelta(seconds=budget)
        clock.warn_at = add_support_time(clock.resumed_at, timedelta(seconds=max(budget - warn_left, 0)), cal)
    else:
        if clock.budget_seconds is None:  # never paused: the calendar decides
            clock.due_at = policy.deadline(clock.measure, clock.started_at, clock.amount, cal)
        else:
            clock.due_at = clock.resumed_at + timedelta(seconds=clock.budget_seconds)
        clock.warn_at = max(clock.resumed_at, clock.due_at - timedelta(seconds=warn_left))
    clock.warn_at = min(clock.warn_at, clock.due_at)
    clock.next_check_at = next_check(clock)


def next_check(clock: TicketClock) -> datetime | None:
    if not clock.running or clock.breached_at is not None:
        return None
    return clock.warn_at if clock.reminded_at is None else clock.due_at


def _left_at(clock: TicketClock, now: datetime, cal: Calendar) -> int:
    """Seconds of the budget left at `now` for a running clock (negative when late)."""
    if clock.measure == "support":
        used = support_time_between(clock.resumed_at, now, cal)
        return int(clock.budget_seconds - used.total_seconds())
    return int((clock.due_at - now).total_seconds())


def pause(clock: TicketClock, now: datetime, cal: Calendar) -> None:
    if not clock.running:
        return
    clock.budget_seconds = _left_at(clock, now, cal)
    clock.resumed_at = None
    clock.paused_at = now
    schedule(clock, cal)


def resume(clock: TicketClock, now: datetime, cal: Calendar) -> None:
    if clock.running or clock.stopped_at is not None:
        return
    clock.resumed_at = now
    clock.paused_at = None
    schedule(clock, cal)


def stop(clock: TicketClock, now: datetime, cal: Calendar) -> None:
    if clock.stopped_at is not None:
        return
    if clock.running:
        clock.budget_seconds = _left_at(clock, now, cal)
    elif clock.budget_seconds is None:  # a fixed clock that never ran: cannot happen, but be exact
        clock.budget_seconds = int(_full_seconds(clock, cal))
    clock.met = clock.budget_seconds >= 0
    clock.used_seconds = int(_full_seconds(clock, cal) - clock.budget_seconds)
    clock.stopped_at = now
    clock.resumed_at = clock.paused_at = None
    schedule(clock, cal)


def reopen(clock: TicketClock, now: datetime, cal: Calendar) -> None:
    """A resolved ticket opened again: its resolution clock runs on with what was left."""
    if clock.stopped_at is None:
        return
    clock.stopped_at = None
    clock.met = clock.used_seconds = None
    if not clock.pauses and clock.measure != "support":
        clock.budget_seconds = None  # a legal deadline stays where the calendar put it
    clock.resumed_at = now
    schedule(clock, cal)


def refresh_due(ticket: Ticket) -> None:
    """The ticket's due_at, which the queue sorts by: its soonest running deadline."""
    dues = [c.due_at for c in ticket.clocks if c.running and c.due_at is not None]
    ticket.due_at = min(dues) if dues else NO_DUE


def status_changed(ticket: Ticket, before: str, after: str, now: datetime) -> None:
    if before == after or not ticket.clocks:
        return
    cal = settings.current().calendar
    for clock in ticket.clocks:
        if after in DONE:
            stop(clock, now, cal)
            continue
        if before in DONE and clock.stops_on == "resolved":
            reopen(clock, now, cal)
        if after == "waiting" and clock.pauses:
            pause(clock, now, cal)
        elif after != "waiting":
            resume(clock, now, cal)
    refresh_due(ticket)


def staff_acted(ticket: Ticket, now: datetime, *, public_reply: bool) -> None:
    """A staff reply, note or change: stops the clocks that measure it."""
    stopping = ("any_action", "public_reply") if public_reply else ("any_action",)
    cal = None
    for clock in ticket.clocks:
        if clock.stops_on in stopping and clock.stopped_at is None:
            cal = cal or settings.current().calendar
            stop(clock, now, cal)
    if cal is not None:
        refresh_due(ticket)


def extend(ticket: Ticket, name: str, reason: str, actor: Actor, now: datetime) -> TicketClock:
    """Extend a statutory clock once (privacy-10-gdpr, privacy-10-ccpa). The caller tells the
    requester, with `extension_notice`, in the same transaction."""
    clock = next((c for c in ticket.clocks if c.name == name), None)
    if clock is None:
        raise ValidationError("This ticket has no such clock.", {"clock": name})
    cal = settings.current().calendar
    reason = (reason or "").strip()
    problem = policy.extension_problem(spec_of(clock), started_at=clock.started_at,
                                       extended=clock.extended_at is not None,
                                       stopped=clock.stopped_at is not None, now=now, reason=reason, cal=cal)
    if problem:
        raise ValidationError(problem, {"reason": problem})
    old_due = policy.deadline(clock.measure, clock.started_at, clock.amount, cal)
    clock.amount += clock.extendable_by
    new_due = policy.deadline(clock.measure, clock.started_at, clock.amount, cal)
    if clock.budget_seconds is not None and clock.measure != "support":
        clock.budget_seconds += int((new_due - old_due).total_seconds())
    clock.extended_at = now
    clock.extension_reason = reason[:2000]
    clock.reminded_at = None  # the new period gets its own reminder
    schedule(clock, cal)
    refresh_due(ticket)
    db.session.add(SlaEvent(ticket_id=ticket.id, clock=clock, kind="extended", at=now,
                            data={"reason": clock.extension_reason, "due": new_due.isoformat()}))
    record(actor, "sla.extended", "ticket", ticket.reference, ticket_id=ticket.id, clock=clock.name,
           rule=clock.rule, before=old_due.isoformat(), after=new_due.isoformat(), reason=clock.extension_reason)
    return clock


# -- merges (desk.tickets.merge) -------------------------------------------------------
# A clock's state as a merge may change it, kept in the merge's record so its undo puts it back.
STATE = ("started_at", "resumed_at", "budget_seconds", "due_at", "warn_at", "next_check_at", "paused_at",
         "stopped_at", "met", "used_seconds", "reminded_at", "breached_at")
RUN = ("started_at", "resumed_at", "budget_seconds", "paused_at", "stopped_at")  # what people's actions change
TIMES = frozenset(("started_at", "resumed_at", "due_at", "warn_at", "next_check_at", "paused_at", "stopped_at",
                   "reminded_at", "breached_at"))


def snapshot(clock: TicketClock) -> dict:
    """The clock's state as plain JSON values."""
    return {name: (value.isoformat() if name in TIMES and value is not None else value)
            for name, value in ((name, getattr(clock, name)) for name in STATE)}


def restore(clock: TicketClock, state: dict) -> None:
    """Put back a state snapshot() took (the caller refreshes the ticket's due time)."""
    for name in STATE:
        value = state.get(name)
        setattr(clock, name, datetime.fromisoformat(value) if name in TIMES and value is not None else value)


def adopt_sooner(clock: TicketClock, other: TicketClock, now: datetime) -> dict | None:
    """A merge: the target's `clock` runs on to the sooner of its own due time and that of
    the source's clock of the same target (`other`), when both run and measure alike (a
    paused or stopped clock has no due time to compare). The lateness already told (a
    reminder, a breach) is carried over, so the sweep does not tell it twice. Returns
    {"before", "after"} snapshots for the undo, or None when nothing changed."""
    if not (clock.running and other.running and clock.measure == other.measure):
        return None
    if clock.due_at is None or other.due_at is None or other.due_at >= clock.due_at:
        return None
    before = snapshot(clock)
    cal = settings.current().calendar
    clock.budget_seconds = _left_at(other, now, cal)
    clock.resumed_at, clock.paused_at = now, None
    clock.reminded_at = clock.reminded_at or other.reminded_at
    clock.breached_at = clock.breached_at or other.breached_at
    schedule(clock, cal)
    return {"before": before, "after": snapshot(clock)}


def give_back(clock: TicketClock, change: dict) -> bool:
    """Undo adopt_sooner(): the clock's own due time again, with its own reminder and breach
    marks, if no one paused, resumed or stopped it since the merge (then that newer state
    stands; the sweep's marks do not count). True if put back."""
    now = snapshot(clock)
    if any(now[name] != change["after"][name] for name in RUN):
        return False
    restore(clock, change["before"])
    schedule(clock, settings.current().calendar)
    return True


def nominal_due(clock: TicketClock) -> datetime:
    """The due time to tell people: the running deadline, or the calendar's one when paused."""
    if clock.due_at is not None:
        return clock.due_at
    return policy.deadline(clock.measure, clock.started_at, clock.amount, settings.current().calendar)


def extension_notice(clock: TicketClock, due_text: str) -> str:
    """What the requester is told of an extension, in the language in force (the caller
    speaks the ticket's, desk.i18n.speaking); the staff member's reason as written."""
    law = {"privacy-10-gdpr": "Article 12(3) GDPR", "privacy-10-ccpa": "11 CCR §7021(b)"}.get(clock.rule, clock.rule)
    return "\n\n".join([
        gettext("We need more time to answer your request, as the law allows (%(law)s; our rule %(rule)s).",
                law=law, rule=clock.rule),
        gettext("Why: %(reason)s", reason=clock.extension_reason),
        gettext("We will answer by %(due)s.", due=due_text),
    ])


def recompute(progress: Callable[[int, int], None] | None = None, batch: int = 500) -> int:
    """After the calendar changed: due times of every running clock again; open tickets
    filed before clocks existed get theirs. Commits per batch."""
    settings.forget()
    cal = settings.current().calendar
    running = select(TicketClock.ticket_id).where(TicketClock.resumed_at.is_not(None),
                                                  TicketClock.stopped_at.is_(None))
    without = select(Ticket.id).where(Ticket.status.in_(OPEN_STATUSES), ~Ticket.clocks.any())
    ids = sorted(set(db.session.execute(running).scalars()) | set(db.session.execute(without).scalars()))
    done = 0
    for offset in range(0, len(ids), batch):
        chunk = ids[offset:offset + batch]
        tickets = db.session.execute(
            select(Ticket).where(Ticket.id.in_(chunk), Ticket.status.in_(OPEN_STATUSES))
            .options(selectinload(Ticket.clocks))
        ).scalars().all()
        for ticket in tickets:
            if not ticket.clocks:
                _backfill(ticket)
            for clock in ticket.clocks:
                schedule(clock, cal)
            refresh_due(ticket)
        db.session.commit()
        done += len(chunk)
        if progress:
            progress(done, len(ids))
    return done


def _backfill(ticket: Ticket) -> None:
    """Clocks for a ticket filed before they existed, replayed from what it records."""
    start(ticket, ticket.created_at)
    if ticket.first_response_at is not None:
        staff_acted(ticket, ticket.first_response_at, public_reply=True)
    if ticket.status != "new":
        status_changed(ticket, "new", ticket.status, ticket.updated_at)
