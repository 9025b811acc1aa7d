"""Saved views (issue 10): a staff member's named filter and sort of the queue, for
themselves or shared with every colleague, listed in the queue's sidebar with a live count.

A view stores filter fields only (desk.tickets.queue.FILTER_FIELDS), never queues: whoever
opens or counts it sees it through their own role's queues, so a shared view shows each
colleague what they may see and no more. "assignee: me" means whoever looks.

Counts are cheap and shared: each reads at most VIEW_COUNT_CAP rows (shown as "999+"
beyond) and is kept in Redis for VIEW_COUNTS_TTL seconds, keyed by what decides it (the
filter, the viewer's queues, the viewer for "me"), so a page never recounts a table.
"""
import hashlib
import json
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from desk.audit.services import Actor, record
from desk.auth.models import Staff
from desk.auth.access import visible_queues
from desk.auth.roles import allows
from desk.cache import cached_json, cached_json_many
from desk.errors import DeskError, ValidationError
from desk.extensions import db
from desk.tickets import queue as ticket_queue
from desk.tickets.models import SavedView
from desk.types import parse_id

MAX_NAME = 80
MAX_VIEWS = 50  # of one owner's


def clean_name(name) -> str:
    name = " ".join(str(name or "").replace("\x00", " ").split())
    if not name:
        raise ValidationError("Give the view a name.", {"name": "required"})
    if len(name) > MAX_NAME:
        raise ValidationError(f"A view's name may be at most {MAX_NAME} characters.",
                              {"name": f"at most {MAX_NAME} characters"})
    return name


def check_filters(values: dict) -> dict:
    """The view's filter as stored: QueueFilter's fields only, each checked."""
    unknown = sorted(set(values) - set(ticket_queue.FILTER_FIELDS))
    if unknown:
        raise ValidationError(f"A view cannot filter by {', '.join(unknown)}.", {name: "unknown" for name in unknown})
    return ticket_queue.checked_filters(values)


def _name_taken(owner: Staff, name: str, but: int | None = None) -> bool:
    query = select(SavedView.id).where(SavedView.owner_id == owner.id, func.lower(SavedView.name) == name.lower())
    if but is not None:
        query = query.where(SavedView.id != but)
    return db.session.execute(query).first() is not None


def _taken_error(name: str) -> ValidationError:
    return ValidationError(f"You already have a view called “{name}”.", {"name": "taken"})


def create(owner: Staff, name, filters: dict, *, shared: bool = False) -> SavedView:
    name = clean_name(name)
    filters = check_filters(filters)
    queue = filters.get("queue")
    if queue and queue not in visible_queues(owner):
        raise ValidationError(f"You do not work the {queue} queue.", {"queue": "not visible to you"})
    mine = db.session.execute(select(func.count(), func.max(SavedView.position))
                              .where(SavedView.owner_id == owner.id)).one()
    if mine[0] >= MAX_VIEWS:
        raise ValidationError(f"You have {MAX_VIEWS} views already: delete one first.", {"name": "too many views"})
    if _name_taken(owner, name):
        raise _taken_error(name)
    view = SavedView(owner_id=owner.id, name=name, shared=bool(shared), filters=filters,
                     position=(mine[1] or 0) + 1)
    db.session.add(view)
    try:
        db.session.flush()
    except IntegrityError:  # the same name from another tab at the same moment
        db.session.rollback()
        raise _taken_error(name) from None
    record(Actor.staff(owner), "view.created", "saved_view", view.id, name=name, shared=view.shared, filters=filters)
    db.session.commit()
    return view


def may_rename(view: SavedView, staff: Staff) -> bool:
    return view.owner_id == staff.id


def may_delete(view: SavedView, staff: Staff) -> bool:
    return view.owner_id == staff.id or (view.shared and allows(staff.role, "view.manage_shared"))


def rename(view: SavedView, staff: Staff, name) -> SavedView:
    if not may_rename(view, staff):
        raise DeskError("Only the view's owner may rename it.", code="forbidden", status=403)
    name = clean_name(name)
    if name == view.name:
        return view
    if _name_taken(staff, name, but=view.id):
        raise _taken_error(name)
    before, view.name = view.name, name
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise _taken_error(name) from None
    record(Actor.staff(staff), "view.renamed", "saved_view", view.id, before=before, after=name)
    db.session.commit()
    return view


def delete(view: SavedView, staff: Staff) -> None:
    if not may_delete(view, staff):
        raise DeskError("Only the view's owner (or, for a shared view, a supervisor or admin) may delete it.",
                        code="forbidden", status=403)
    record(Actor.staff(staff), "view.deleted", "saved_view", view.id, name=view.name, owner=view.owner_id,
           shared=view.shared)
    db.session.delete(view)
    db.session.commit()


def _shows(view: SavedView, viewer: Staff) -> bool:
    """Whether the viewer has this view: their own, or a colleague's shared one about
    queues they may see (a shared Abuse view is not an agent's)."""
    if view.owner_id != viewer.id and not view.shared:
        return False
    queue = (view.filters or {}).get("queue")
    return not queue or queue in visible_queues(viewer)


def find(view_id, viewer: Staff) -> SavedView | None:
    """The view if the viewer has it; a view they do not have is as missing as one that never was."""
    number = parse_id(view_id)
    view = db.session.get(SavedView, number) if number else None
    return view if view is not None and _shows(view, viewer) else None


def visible(viewer: Staff) -> list[SavedView]:
    """The viewer's own views in their order, then the colleagues' shared views by name."""
    rows = db.session.execute(select(SavedView).where(or_(SavedView.owner_id == viewer.id, SavedView.shared))
                              .order_by(SavedView.position, SavedView.id)).scalars().all()
    own = [v for v in rows if v.owner_id == viewer.id]
    others = sorted((v for v in rows if v.owner_id != viewer.id and _shows(v, viewer)),
                    key=lambda v: (v.name.lower(), v.id))
    return own + others


def to_filter(view: SavedView, viewer: Staff, *, read_field: bool = True) -> ticket_queue.QueueFilter:
    """The view's filter as this viewer may see it (their queues, their own tickets only if so limited)."""
    return ticket_queue.scoped(ticket_queue.queue_filter(view.filters or {}, visible_queues(viewer),
                                                         read_field=read_field), viewer)


def _count_entry(view: SavedView, viewer: Staff):
    """The view's count as desk.cache takes it: its Redis key (what decides the count: the
    filter, the viewer's queues, the viewer for "me") and how to compute it. A custom field
    is looked up only to compute: a cached count costs no query."""
    cap = current_app.config["VIEW_COUNT_CAP"]
    f = to_filter(view, viewer, read_field=False)
    decided_by = {"filters": view.filters, "queues": sorted(f.queues), "cap": cap,
                  "me": viewer.id if f.assignee == "me" else None}
    key = "desk:view-count:" + hashlib.sha256(json.dumps(decided_by, sort_keys=True).encode()).hexdigest()[:32]
    return key, lambda: ticket_queue.count_capped(ticket_queue.field_or_nothing(f), viewer, cap)


def count(view: SavedView, viewer: Staff) -> int:
    """The tickets the view shows this viewer, up to VIEW_COUNT_CAP, shared for VIEW_COUNTS_TTL seconds."""
    key, compute = _count_entry(view, viewer)
    return cached_json(key, current_app.config["VIEW_COUNTS_TTL"], compute)


def count_label(n: int) -> str:
    cap = current_app.config["VIEW_COUNT_CAP"]
    return f"{cap - 1:,}+" if n >= cap else f"{n:,}"


@dataclass
class SidebarView:
    view: SavedView
    count: str
    mine: bool


def sidebar(viewer: Staff) -> list[SidebarView]:
    """The viewer's views with their counts, read from Redis in one round trip."""
    views = visible(viewer)
    counts = cached_json_many(current_app.config["VIEW_COUNTS_TTL"], [_count_entry(v, viewer) for v in views])
    return [SidebarView(v, count_label(n), v.owner_id == viewer.id) for v, n in zip(views, counts)]
