"""Panel jobs (issue 12): the calls about a ticket's order, following a refill, and the
status refresh of the orders open tickets are about. Each takes ids and runs once."""
from desk import panel
from desk.extensions import db
from desk.panel import actions, refresh as refreshes


def run_call(call_id: int) -> str:
    """Make one queued panel call; run twice, the panel is called once."""
    return actions.run(call_id)


def follow_refill(call_id: int, poll: int) -> str:
    """Check number `poll` of a refill's status; schedules the next one until it ends."""
    return actions.follow(call_id, poll)


def refresh(run_id: int) -> str:
    """One queued run of the status refresh (an admin's "Refresh now")."""
    row = refreshes.run(run_id)
    return f"refresh {run_id}: {row.status if row else 'gone'}"


def refresh_open() -> str:
    """The schedule's refresh: a new run, unless the integration is off or one is under way."""
    if not panel.enabled():
        return "panel integration is off"
    if refreshes.busy() is not None:
        return "a refresh is already queued or under way"
    row = refreshes.start("schedule")
    db.session.commit()
    return refresh(row.id)


def sweep() -> str:
    """Refills whose next check was lost with Redis are checked again."""
    resumed = actions.resume_overdue()
    return f"{resumed} refill(s) resumed"
