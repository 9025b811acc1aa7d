"""The supervisors' dashboard: open work per queue and status, SLA compliance over the
last 7 and 30 days, breaches by ticket kind, the median first response in support
hours, and customer satisfaction per queue and agent (desk.csat). Figures are shared for DASHBOARD_TTL seconds (desk.cache), so the page costs one
count per minute however many supervisors keep it open."""
import statistics
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from desk.cache import cached_json
from desk.csat import services as csat
from desk.extensions import db
from desk.sla.models import SlaEvent, TicketClock
from desk.tickets.models import KIND_LABELS, OPEN_STATUSES, STATUSES, Ticket
from desk.types import utcnow

WINDOWS = (7, 30)


def figures(queues: frozenset[str]) -> dict:
    names = sorted(queues)
    return cached_json("desk:dashboard:" + ",".join(names), current_app.config["DASHBOARD_TTL"],
                       lambda: compute(names, utcnow()))


def _rate(met: int, missed: int) -> float | None:
    return round(100 * met / (met + missed), 1) if met + missed else None


def compute(queues: list[str], now: datetime) -> dict:
    zone = ZoneInfo(current_app.config["DISPLAY_TIMEZONE"])
    counts = {q: {s: 0 for s in STATUSES} for q in queues}
    for queue, status, n in db.session.execute(
        select(Ticket.queue, Ticket.status, func.count()).where(Ticket.queue.in_(queues))
        .group_by(Ticket.queue, Ticket.status)
    ):
        counts[queue][status] = n

    since = now - timedelta(days=max(WINDOWS))
    stopped = db.session.execute(
        select(TicketClock.stopped_at, TicketClock.met, TicketClock.name, TicketClock.measure,
               TicketClock.used_seconds)
        .join(Ticket, Ticket.id == TicketClock.ticket_id)
        # A merged ticket's clocks stopped at the merge, and the ticket it was merged into
        # carries the promise on (desk.tickets.merge): counted there, not twice.
        .where(TicketClock.stopped_at >= since, Ticket.queue.in_(queues), Ticket.merged_into_id.is_(None))
    ).all()
    compliance = {}
    for days in WINDOWS:
        cut = now - timedelta(days=days)
        met = sum(1 for row in stopped if row.stopped_at >= cut and row.met)
        missed = sum(1 for row in stopped if row.stopped_at >= cut and not row.met)
        compliance[str(days)] = {"met": met, "missed": missed, "rate": _rate(met, missed)}
    today = now.astimezone(zone).date()
    daily = {(today - timedelta(days=i)).isoformat(): [0, 0] for i in range(max(WINDOWS) - 1, -1, -1)}
    for row in stopped:
        day = row.stopped_at.astimezone(zone).date().isoformat()
        if day in daily:
            daily[day][0 if row.met else 1] += 1
    first = [row.used_seconds for row in stopped
             if row.name == "first_response" and row.measure == "support" and row.used_seconds is not None]

    breaches = db.session.execute(
        select(Ticket.kind, func.count()).select_from(SlaEvent).join(Ticket, Ticket.id == SlaEvent.ticket_id)
        .where(SlaEvent.kind == "breach", SlaEvent.at >= since, Ticket.queue.in_(queues))
        .group_by(Ticket.kind).order_by(func.count().desc())
    ).all()
    # Late now: open tickets whose soonest running deadline has passed (the queue's own index).
    late_now = db.session.execute(
        select(func.count()).select_from(Ticket)
        .where(Ticket.queue.in_(queues), Ticket.status.in_(OPEN_STATUSES), Ticket.due_at <= now)
    ).scalar_one()
    return {
        "at": now.isoformat(),
        "counts": counts,
        "compliance": compliance,
        "daily": [[day, met, missed] for day, (met, missed) in daily.items()],
        "breaches_by_kind": [[KIND_LABELS.get(kind, kind), n] for kind, n in breaches],
        "late_now": late_now,
        "first_response": {"median_seconds": statistics.median(first) if first else None, "count": len(first)},
        "csat": csat.results(queues, now),
    }
