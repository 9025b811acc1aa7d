"""Who holds a ticket: assignment by hand within each person's limits, and automatic
assignment of a queue's new tickets — round robin or least loaded — among the agents on
shift (terms-33-support-hours), not away and under their limit (desk.policy.assignment)."""
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select

from desk import remembered
from desk.audit.services import SYSTEM, Actor, record
from desk.auth.access import visible_queues
from desk.auth.models import Staff
from desk.errors import DeskError, ValidationError
from desk.extensions import db, for_update
from desk.policy import assignment as policy
from desk.sla.settings import current as sla_settings
from desk.tickets.models import ASSIGNMENT_MODES, OPEN_STATUSES, QueueSetting, Ticket
from desk.types import utcnow

# Roles given tickets automatically: those who work queues (admins configure, they are
# not handed the queue's work).
WORKING_ROLES = ("agent", "supervisor", "trust_safety", "privacy_officer")


def open_counts(staff_ids: list[int]) -> dict[int, int]:
    """Open tickets each holds (served by ix_tickets_assignee_status)."""
    if not staff_ids:
        return {}
    rows = db.session.execute(select(Ticket.assignee_id, func.count()).where(
        Ticket.assignee_id.in_(staff_ids), Ticket.status.in_(OPEN_STATUSES)).group_by(Ticket.assignee_id)).all()
    return {staff_id: 0 for staff_id in staff_ids} | dict(rows)


def check_assignee(ticket: Ticket, assignee: Staff) -> None:
    """An assignee must be able to open the ticket and be under their limit of open tickets."""
    if not assignee.active:
        raise ValidationError(f"{assignee.label} is not an active staff member.", {"assignee": "inactive"})
    if ticket.queue not in visible_queues(assignee):
        raise DeskError(f"{assignee.label} does not work the {ticket.queue} queue, so cannot hold this ticket.",
                        {"assignee": "other queues"}, code="wrong_queue", status=409)
    if ticket.assignee_id != assignee.id and ticket.is_open:
        held = open_counts([assignee.id])[assignee.id]
        if policy.over_limit(held, assignee.max_open):
            raise DeskError(f"{assignee.label} already holds {held} open tickets, their limit.",
                            {"assignee": "at their limit"}, code="over_limit", status=409)


def give(ticket: Ticket, assignee: Staff | None, actor: Actor, **why) -> bool:
    """Set the assignee in the caller's transaction, audited; False when nothing changed."""
    before = ticket.assignee.email if ticket.assignee else None
    after = assignee.email if assignee else None
    if before == after:
        return False
    ticket.assignee = assignee
    record(actor, "ticket.assignee", "ticket", ticket.reference, ticket_id=ticket.id, before=before, after=after,
           **why)
    return True


# --- automatic assignment ------------------------------------------------------------------

MODES = "queue_modes"
remembered.watch(QueueSetting, MODES)


def mode_of(queue: str) -> str:
    """The queue's assignment mode, as this process last read it within SETTINGS_CACHE_SECONDS
    (every intake asks; an admin's change is seen here at once, elsewhere within the TTL)."""
    def load():
        # Not flushing first: the setting is all it reads, and an intake's rows wait for its commit.
        with db.session.no_autoflush:
            return db.session.execute(select(QueueSetting.assignment).where(QueueSetting.queue == queue)) \
                .scalar_one_or_none() or "manual"
    return remembered.recall(MODES, queue, load, current_app.config["SETTINGS_CACHE_SECONDS"])


def candidates(queue: str) -> list[Staff]:
    """Active staff who work the queue and can be handed tickets."""
    rows = db.session.execute(select(Staff).where(Staff.active.is_(True), Staff.role.in_(WORKING_ROLES))
                              .order_by(Staff.id)).scalars().all()
    return [s for s in rows if queue in visible_queues(s)]


def auto_assign(ticket: Ticket, now: datetime | None = None) -> Staff | None:
    """Hand a new, unassigned ticket to an agent by its queue's mode, in the caller's
    transaction; None when the queue assigns by hand, support is closed (nobody is on
    shift: the waiting tickets are handed out when it opens), or nobody is available."""
    now = now or utcnow()
    if ticket.assignee_id is not None or not ticket.is_open or mode_of(ticket.queue) == "manual":
        return None
    if not sla_settings().calendar.is_open(now):
        return None
    # The queue's row is locked until the commit, so two tickets at once take turns.
    setting = db.session.execute(for_update(select(QueueSetting).where(QueueSetting.queue == ticket.queue))) \
        .scalar_one()
    people = candidates(ticket.queue)
    held = open_counts([s.id for s in people])
    chosen_id = policy.choose(setting.assignment, [
        policy.Candidate(s.id, held[s.id], s.max_open, s.away) for s in people], setting.last_assigned_id)
    if chosen_id is None:
        return None
    chosen = next(s for s in people if s.id == chosen_id)
    setting.last_assigned_id = chosen.id
    give(ticket, chosen, SYSTEM, mode=setting.assignment, rule=policy.RULE)
    return chosen


def assign_waiting(now: datetime | None = None, limit: int = 200) -> int:
    """Hand out the open, unassigned tickets of the queues that assign by themselves,
    soonest due first — those that arrived while support was closed; commits per ticket.
    Run by the schedule; idempotent (an assigned ticket is left alone)."""
    now = now or utcnow()
    if not sla_settings().calendar.is_open(now):
        return 0
    queues = db.session.execute(select(QueueSetting.queue).where(QueueSetting.assignment != "manual")) \
        .scalars().all()
    if not queues:
        return 0
    waiting = db.session.execute(select(Ticket.id).where(
        Ticket.queue.in_(queues), Ticket.assignee_id.is_(None), Ticket.status.in_(OPEN_STATUSES))
        .order_by(Ticket.due_at, Ticket.id).limit(limit)).scalars().all()
    given = 0
    for ticket_id in waiting:
        ticket = db.session.get(Ticket, ticket_id)
        if ticket is not None and auto_assign(ticket, now) is not None:
            given += 1
        db.session.commit()
    return given


def set_mode(queue: str, mode: str, staff) -> None:
    """An admin chooses how the queue's new tickets are assigned; commits."""
    if mode not in ASSIGNMENT_MODES:
        raise ValidationError(f"Assignment must be one of: {', '.join(ASSIGNMENT_MODES)}.", {"assignment": "unknown"})
    setting = db.session.get(QueueSetting, queue) or QueueSetting(queue=queue, assignment="manual")
    before = setting.assignment
    setting.assignment = mode
    db.session.add(setting)
    record(Actor.staff(staff), "queue.assignment", "queue", queue, before=before, after=mode)
    db.session.commit()

