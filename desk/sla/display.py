"""Clocks in words: "due in 1 h 20 m (support hours)", "breached 3 h ago", "paused"."""
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app

from desk.policy.calendar import Calendar, support_time_between
from desk.policy.sla import describe as spec_describe, duration_words
from desk.sla import settings
from desk.sla.models import TicketClock
from desk.tickets.models import Ticket
from desk.types import utcnow


def local_time(instant: datetime) -> str:
    zone = current_app.config["DISPLAY_TIMEZONE"]
    return f"{instant.astimezone(ZoneInfo(zone)).strftime('%a %d %b %Y %H:%M')} ({zone})"


def _left(clock: TicketClock, now: datetime, cal: Calendar) -> str:
    if clock.measure == "support":
        return f"{duration_words(support_time_between(now, clock.due_at, cal), days=False)} (support hours)"
    return duration_words(clock.due_at - now)


def clock_text(clock: TicketClock, now: datetime, cal: Calendar) -> str:
    state = clock.state
    support = clock.measure == "support"
    if state in ("met", "missed"):
        if clock.met:
            return f"met after {duration_words(timedelta(seconds=clock.used_seconds or 0), days=not support)}" + (
                " of support time" if support else "")
        return f"missed by {duration_words(timedelta(seconds=-(clock.budget_seconds or 0)), days=not support)}"
    if state == "paused":
        left = timedelta(seconds=max(clock.budget_seconds or 0, 0))
        hours = " (support hours)" if support else ""
        return f"paused while waiting on the customer, {duration_words(left, days=not support)}{hours} left"
    if clock.due_at <= now:
        return f"breached {duration_words(now - clock.due_at)} ago"
    return f"due in {_left(clock, now, cal)}"


def lead_clock(ticket: Ticket) -> TicketClock | None:
    """The clock the queue shows: the soonest running one, else a paused one."""
    running = [c for c in ticket.clocks if c.running and c.due_at is not None]
    if running:
        return min(running, key=lambda c: c.due_at)
    return next((c for c in ticket.clocks if c.state == "paused"), None)


@dataclass(frozen=True)
class ClockView:
    label: str
    rule: str
    target: str
    text: str
    state: str
    late: bool
    due_at: datetime | None


def clock_view(clock: TicketClock | None, now: datetime | None = None) -> ClockView | None:
    """What the queue and the ticket page show for a clock."""
    if clock is None:
        return None
    now = now or utcnow()
    text = clock_text(clock, now, settings.current().calendar)
    late = clock.state == "missed" or (clock.running and clock.due_at is not None and clock.due_at <= now)
    return ClockView(clock.label, clock.rule, spec_describe(clock.measure, clock.amount), text, clock.state,
                     late, clock.due_at)
