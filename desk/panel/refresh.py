"""The order mirror kept up with the panel: the status of every order an open ticket is
about, asked 100 at a time (API v2's multi-order `status`), paced to PANEL_API_RATE.

The panel's answer goes through the mirror's own update path (desk.claims.orders.apply_batch),
so the status history, finished_at (from which the claim and refill windows count) and the
audit trail come out as for the panel's own feed. The panel's status answer carries no
time: a change is dated when the desk saw it, at most one refresh late.

The charge is not written: the mirror's charge and its split between Deposited Funds and
Promotional Credit come from the panel's feed (PUT /api/v1/orders), and terms-9-partial
counts a Partial order's return from the charge as placed. The panel's figure (up to five
decimals) is read as Decimal, rounded half up to the cent, and a difference is noted.
"""
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from desk import jobs, panel
from desk.audit.services import Actor, record
from desk.claims.models import Order
from desk.claims.orders import apply_batch, data_of
from desk.errors import DeskError
from desk.extensions import db
from desk.panel.client import MAX_ORDERS, OFF, OrderStatus, PanelError, cents
from desk.panel.models import PanelRefresh
from desk.tickets.models import OPEN_STATUSES, Ticket
from desk.types import utcnow

REFRESH = Actor("system", None, "panel status refresh")
# The panel's words for an order's status, lower-cased, and the mirror's.
STATUSES = {"pending": "pending", "in progress": "in_progress", "processing": "in_progress",
            "completed": "completed", "partial": "partial", "canceled": "canceled", "cancelled": "canceled"}
MAX_NOTES = 20  # problems kept in a run's message; the rest are counted


def mirror_status(word: str | None) -> str | None:
    """The mirror's status for the panel's word (None: a word the desk does not know)."""
    return STATUSES.get(" ".join((word or "").lower().split()))


@dataclass
class Applied:
    changed: list[str] = field(default_factory=list)  # "1001: pending → in progress"
    unchanged: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "1002: Incorrect order ID" (not written)
    notes: list[str] = field(default_factory=list)  # written, with something to know


def apply_answers(orders: list[Order], answers: dict[str, OrderStatus], actor: Actor) -> Applied:
    """Write what the panel answered for each order into the mirror (one apply_batch for
    all of them); an order whose answer is an error or cannot be used is left as it is."""
    applied, rows, now = Applied(), [], utcnow()
    for order in orders:
        answer = answers.get(order.panel_id) or OrderStatus(order.panel_id, error="not in the panel's answer")
        status = mirror_status(answer.status)
        problem = answer.error or (f"unknown status {answer.status!r}" if status is None else None)
        if problem is None and answer.remains is not None and not 0 <= answer.remains <= order.quantity:
            problem = f"remains {answer.remains} outside 0–{order.quantity}"
        if problem is None and answer.start_count is not None and answer.start_count < 0:
            problem = f"start count {answer.start_count} below 0"
        if problem:
            applied.problems.append(f"{order.panel_id}: {problem}")
            continue
        if answer.charge is not None and cents(answer.charge) != order.charge:
            applied.notes.append(f"{order.panel_id}: the panel's charge {answer.charge} ({cents(answer.charge)}) "
                                 f"differs from the mirror's {order.charge}, which is kept")
        data, changes = data_of(order), []
        if status != order.status:
            data.update(status=status, status_changed_at=now)
            changes.append(f"{order.status.replace('_', ' ')} → {status.replace('_', ' ')}")
        for name in ("remains", "start_count"):
            value = getattr(answer, name)
            if value is not None and value != getattr(order, name):
                data[name] = value
                changes.append(f"{name.replace('_', ' ')} {getattr(order, name)} → {value}")
        if changes:
            rows.append((order.panel_id, data))
            applied.changed.append(f"{order.panel_id}: {', '.join(changes)}")
        else:
            applied.unchanged.append(order.panel_id)
    if rows:
        apply_batch(rows, actor)
    return applied


# --- which orders ---------------------------------------------------------------------

def _open_ticket_orders():
    refs = select(Ticket.order_ref).where(Ticket.status.in_(OPEN_STATUSES), Ticket.order_ref.is_not(None))
    return Order.panel_id.in_(refs)


def count_open_ticket_orders() -> int:
    return db.session.execute(select(func.count()).select_from(Order).where(_open_ticket_orders())).scalar_one()


def open_ticket_orders(after_id: int = 0, limit: int = MAX_ORDERS) -> list[Order]:
    """The next `limit` orders (by row id, after `after_id`) that an open ticket is about."""
    return list(db.session.execute(
        select(Order).options(joinedload(Order.customer)).where(_open_ticket_orders(), Order.id > after_id)
        .order_by(Order.id).limit(limit)).scalars())


# --- runs -------------------------------------------------------------------------------

def start(trigger: str, staff=None) -> PanelRefresh:
    """A new run, queued (in the caller's transaction)."""
    row = PanelRefresh(trigger=trigger, requested_by_id=staff.id if staff is not None else None)
    db.session.add(row)
    db.session.flush()
    return row


def request(staff) -> PanelRefresh:
    """An admin's "Refresh now": a queued run for the worker (the page shows its state)."""
    if not panel.enabled():
        raise DeskError(OFF, code="panel_off", status=409)
    row = start("admin", staff)
    row.total = count_open_ticket_orders()  # what it covers as of now; the run counts again
    record(Actor.staff(staff), "panel.refresh_requested", "panel_refresh", row.id, orders=row.total)
    jobs.enqueue("workers.panel.refresh", row.id, queue="low")
    db.session.commit()
    jobs.dispatch()
    return row


def busy() -> PanelRefresh | None:
    """A run queued or under way in the last hour (the schedule does not start a second)."""
    since = utcnow() - timedelta(hours=1)
    return db.session.execute(select(PanelRefresh).where(
        PanelRefresh.status.in_(("queued", "started")), PanelRefresh.created_at >= since)
        .order_by(PanelRefresh.id.desc()).limit(1)).scalar_one_or_none()


def recent(limit: int = 20) -> list[PanelRefresh]:
    return list(db.session.execute(select(PanelRefresh).order_by(PanelRefresh.id.desc()).limit(limit)).scalars())


def run(run_id: int, progress: Callable[[int, int], None] | None = None) -> PanelRefresh | None:
    """Refresh every order an open ticket is about, a call per 100, committing (and telling
    `progress(done, total)`) after each. A run happens once: run again, it does nothing.
    A call that fails ends the run as failed, with what was done kept and the reason said;
    the next run starts over."""
    claimed = jobs.claim(PanelRefresh, run_id, PanelRefresh.status == "queued", status="started",
                         started_at=utcnow())
    row = db.session.get(PanelRefresh, run_id)
    if not claimed:
        return row
    notes: list[str] = []
    try:
        row.total = count_open_ticket_orders()
        db.session.commit()
        if progress:
            progress(0, row.total)
        with panel.client() as client:
            after = 0
            while chunk := open_ticket_orders(after):
                after = chunk[-1].id
                row.calls += 1
                try:
                    answers = client.statuses([order.panel_id for order in chunk])
                except PanelError as exc:
                    _finish(row, "failed", notes + [f"stopped after {row.done} of {row.total}: {exc.message}"])
                    return row
                applied = apply_answers(chunk, answers, REFRESH)
                row.done += len(chunk)
                row.changed += len(applied.changed)
                row.unchanged += len(applied.unchanged)
                row.errors += len(applied.problems)
                notes += applied.problems + applied.notes
                row.message = _message(notes)
                db.session.commit()
                db.session.expire_all()  # apply_batch wrote in bulk: read the next chunk afresh
                if progress:
                    progress(row.done, row.total)
    except PanelError as exc:  # off
        db.session.rollback()
        _finish(row, "failed", [exc.message])
        return row
    except Exception as exc:
        db.session.rollback()
        _finish(row, "failed", notes + [f"{type(exc).__name__}: {str(exc)[:300]}"])
        raise
    _finish(row, "finished", notes)
    return row


def _finish(row: PanelRefresh, status: str, notes: list[str]) -> None:
    row = db.session.get(PanelRefresh, row.id)
    row.status, row.finished_at = status, utcnow()
    row.message = _message(notes)
    db.session.commit()


def _message(notes: list[str]) -> str | None:
    if not notes:
        return None
    more = f"\n… and {len(notes) - MAX_NOTES} more" if len(notes) > MAX_NOTES else ""
    return "\n".join(notes[:MAX_NOTES]) + more
