"""The staff queue: filters, sorts and keyset pagination.

By default rows are ordered by (due_at, created_at, id) — soonest due first, then oldest;
a saved view may sort by age instead (newest or oldest first). The next page starts after
the last row seen, so page 1,000 costs what page 1 costs. A filter with words to look for
(`q`) is a search: desk.tickets.search ranks its results, with these same filters.
"""
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from functools import lru_cache

from flask import current_app
from sqlalchemy import bindparam, false, func, literal, select, text, tuple_, union_all
from sqlalchemy.orm import joinedload, selectinload

from desk import pagination
from desk.auth.models import Staff
from desk.extensions import db
from desk.cache import cached_json
from desk.config import QUEUES
from desk.errors import DeskError, ValidationError
from desk.tickets import fields as custom_fields
from desk.tickets.models import KIND_QUEUES, OPEN_STATUSES, STATUSES, Ticket, TicketFieldValue, TicketTag
from desk.types import parse_id

# A sort: its columns, ascending or not, and the kinds of its cursor's values.
SORTS = {
    "due": ((Ticket.due_at, Ticket.created_at, Ticket.id), True, (datetime, datetime, int)),
    "newest": ((Ticket.created_at, Ticket.id), False, (datetime, int)),
    "oldest": ((Ticket.created_at, Ticket.id), True, (datetime, int)),
}
SORT_LABELS = {"due": "Soonest due", "newest": "Newest first", "oldest": "Oldest first"}


@dataclass
class QueueFilter:
    queues: frozenset[str]  # the queues this viewer may see (from the role matrix)
    queue: str | None = None
    status: str | None = "open"  # a status, "open" for every open status, or None for all
    kind: str | None = None
    assignee: str | None = None  # a staff id, "me", or "none"
    tag: str | None = None
    q: str | None = None  # words to look for: a search (desk.tickets.search), ranked
    sort: str = "due"  # one of SORTS (a search is ranked instead)
    field: str | None = None  # a custom field's value, "key:value" (desk.tickets.fields)
    field_match: tuple[int, str] | None = None  # `field` read: (field id, value); see with_field()


# The fields a filter is saved or asked for by (all but `queues`, which the viewer's role decides).
FILTER_FIELDS = tuple(f.name for f in fields(QueueFilter) if f.name not in ("queues", "field_match"))
MAX_TAG = 40


def checked_filters(values: Mapping) -> dict[str, str]:
    """The filter fields of `values` as a saved view or the API takes them, checked: empty
    ones dropped, the rest strings the queue knows ("status": "open", "any" or a status).
    One ValidationError names every field at fault (a search's words are checked by
    desk.tickets.search.parse)."""
    from desk.tickets.search import SearchError, parse

    checked, problems = {}, {}
    for name in FILTER_FIELDS:
        value = values.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or "\x00" in value:
            problems[name] = "must be text"
            continue
        value = value.strip()
        if name == "queue" and value not in QUEUES:
            problems[name] = f"one of {', '.join(QUEUES)}"
        elif name == "status" and value not in ("open", "any", *STATUSES):
            problems[name] = f"open, any or one of {', '.join(STATUSES)}"
        elif name == "kind" and value not in KIND_QUEUES:
            problems[name] = f"one of {', '.join(KIND_QUEUES)}"
        elif name == "assignee" and value not in ("me", "none") and not (
                value.isascii() and value.isdigit() and parse_id(value)):
            problems[name] = "me, none or a staff id"
        elif name == "tag" and len(value) > MAX_TAG:
            problems[name] = f"at most {MAX_TAG} characters"
        elif name == "sort" and value not in SORTS:
            problems[name] = f"one of {', '.join(SORTS)}"
        elif name == "field":
            try:
                custom_fields.parse_filter(value)
            except DeskError as exc:
                problems[name] = exc.message
        elif name == "q":
            try:
                parse(value)
            except SearchError as exc:
                problems[name] = exc.message
        if name not in problems and value:
            checked[name] = value.lower().replace(" ", "-") if name == "tag" else value
    if problems:
        raise ValidationError("Some filters need attention: " + "; ".join(
            f"{name}: {problem}" for name, problem in problems.items()), problems)
    return checked


def queue_filter(values: Mapping[str, str], queues: frozenset[str], *, read_field: bool = True) -> QueueFilter:
    """A QueueFilter from checked filter fields, within the viewer's `queues`; its custom
    field read now, or later by field_or_nothing() (read_field=False)."""
    status = values.get("status", "open")
    f = QueueFilter(queues=queues, queue=values.get("queue"), status=None if status == "any" else status,
                    kind=values.get("kind"), assignee=values.get("assignee"), tag=values.get("tag"),
                    q=values.get("q"), sort=values.get("sort") or "due", field=values.get("field"))
    return field_or_nothing(f) if read_field else f


def field_or_nothing(f: QueueFilter) -> QueueFilter:
    """with_field(), a field no longer known matching nothing."""
    try:
        return with_field(f)
    except DeskError:
        f.field_match = (0, "")
        return f


def with_field(f: QueueFilter) -> QueueFilter:
    """The filter with its custom field read once (DeskError naming an unknown field)."""
    f.field_match = custom_fields.parse_filter(f.field)
    return f


def scoped(f: QueueFilter, staff) -> QueueFilter:
    """The filter within what the staff member may see (desk.auth.access): their queues only,
    and, for someone limited to their own tickets, only those — whatever the filter, a
    saved view or a search asked for."""
    from desk.auth.access import visible_queues as staff_queues

    f.queues = f.queues & staff_queues(staff)
    if staff.own_only:
        f.assignee = "me"
    return f


def encode_cursor(ticket: Ticket, sort: str = "due") -> str:
    columns = SORTS.get(sort, SORTS["due"])[0]
    return pagination.encode(*(getattr(ticket, c.key) for c in columns))


def decode_cursor(cursor: str | None, sort: str = "due"):
    # A mangled cursor starts from the top rather than failing.
    return pagination.decode(cursor, *SORTS.get(sort, SORTS["due"])[2])


def _status_list(status: str | None) -> list[str]:
    if status == "open":
        return list(OPEN_STATUSES)
    if status:
        return [status] if status in STATUSES else []
    return list(STATUSES)


def plan_for_the_values() -> None:
    """PostgreSQL: plan this transaction's statements for the values they are given.

    psycopg prepares a statement it has run five times on a connection, and PostgreSQL may
    then keep one generic plan for every value. The queue's, the search's and the counts'
    best plans depend on the values — how many tickets an assignee, a tag or a word has —
    and a generic plan fits none of them: at a million tickets a view's count went from
    17 ms to 140 ms once the generic plan took over (bench/search.py)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def visible_queues(f: QueueFilter) -> list[str]:
    """The queues the filter reads: the viewer's, or the one asked for if the viewer may see it."""
    return sorted(f.queues if not f.queue else f.queues & {f.queue})


# The narrowing filters as conditions on parameters: `p(name)` gives each its parameter,
# bound to a value (narrowing) or named and left for the values to come, so that a
# statement built once for a filter's shape serves every value (page_query_for below).
NARROWING = {
    "kind": lambda p: Ticket.kind == p("kind"),
    "assignee": lambda p: Ticket.assignee_id == p("assignee_id"),
    "unassigned": lambda p: Ticket.assignee_id.is_(None),
    "nobody": lambda p: false(),
    "tag": lambda p: Ticket.id.in_(select(TicketTag.ticket_id).where(TicketTag.tag == p("tag"))),
    "field": lambda p: Ticket.id.in_(select(TicketFieldValue.ticket_id).where(
        TicketFieldValue.field_id == p("field_id"), TicketFieldValue.value == p("field_value"))),
}


def narrowing_shape(f: QueueFilter, viewer: Staff | None) -> tuple[tuple[str, ...], dict]:
    """Which NARROWING conditions the filters other than queue, status and words need, and
    their parameters' values."""
    shape, values = [], {}
    if f.kind:
        shape.append("kind")
        values["kind"] = f.kind
    if f.assignee == "none":
        shape.append("unassigned")
    elif f.assignee == "me" or (f.assignee and f.assignee.isascii() and f.assignee.isdigit()):
        if f.assignee == "me":
            staff_id = viewer.id if viewer is not None else None
        else:
            staff_id = parse_id(f.assignee)  # None: beyond any id, so nobody
        if staff_id:
            shape.append("assignee")
            values["assignee_id"] = staff_id
        else:
            shape.append("nobody")
    if f.tag:
        shape.append("tag")
        values["tag"] = f.tag.strip().lower()
    if f.field_match:
        shape.append("field")
        values["field_id"], values["field_value"] = f.field_match
    return tuple(shape), values


def narrowing(f: QueueFilter, viewer: Staff | None) -> list:
    """The conditions of the filters other than queue, status and words, values bound."""
    shape, values = narrowing_shape(f, viewer)
    return [NARROWING[name](lambda key: bindparam(key, values[key], unique=True)) for name in shape]


def conditions(f: QueueFilter, viewer: Staff | None) -> list | None:
    """Every filter as WHERE conditions on tickets, the viewer's queues first; None when the
    filter can match nothing (no queue visible, an unknown status)."""
    queues, statuses = visible_queues(f), _status_list(f.status)
    if not queues or not statuses:
        return None
    status = [Ticket.status.in_(statuses)] if len(statuses) < len(STATUSES) else []
    return [Ticket.queue.in_(queues), *status, *narrowing(f, viewer)]


def _ranges(queues, statuses, narrow: list, columns, limit: int, sort: str = "due", after: bool = False) -> list:
    """One SELECT per (queue, status) pair, each reading its own ordered range of an index
    on (queue, status, sort columns) with the `narrow` conditions and stopping after `limit`
    rows; with `after`, each starts after the parameters after_0, after_1, … (a cursor's keys)."""
    order, ascending, _ = SORTS[sort]
    parts = []
    for queue_name in queues:
        for status in statuses:
            part = select(*columns).where(Ticket.queue == queue_name, Ticket.status == status, *narrow)
            if after:
                keys = tuple_(*order)
                marks = tuple_(*(bindparam(f"after_{n}", type_=c.type) for n, c in enumerate(order)))
                part = part.where(keys > marks if ascending else keys < marks)
            part = part.order_by(*(c if ascending else c.desc() for c in order)).limit(limit)
            parts.append(select(part.subquery()))
    return parts


@lru_cache(maxsize=512)
def _page_statement(queues: tuple[str, ...], statuses: tuple[str, ...], shape: tuple[str, ...], sort: str,
                    after: bool, size: int):
    """The page query of one shape of filter, on parameters: built once per process. A
    union of a dozen ranges costs more Python to build (and to key for SQLAlchemy's
    compiled cache) than PostgreSQL takes to run it."""
    order, ascending, _ = SORTS[sort]
    parts = _ranges(queues, statuses, [NARROWING[name](bindparam) for name in shape], order, size + 1, sort, after)
    merged = union_all(*parts).subquery()
    keys = [merged.c[c.key] for c in order]
    return select(merged.c.id).order_by(*(k if ascending else k.desc() for k in keys)).limit(size + 1)


def page_query_for(f: QueueFilter, viewer: Staff, after, size: int):
    """The ids of one page, in the filter's order, as (statement, parameter values); None
    when the filter can match nothing.

    Each (queue, status) pair is its own ordered range of the (queue, status, due_at,
    created_at, id) index (or (queue, status, created_at, id) by age); taking the first
    `size + 1` rows of each and merging them reads a few hundred index entries however
    large the table grows, where one query with `IN` lists would sort every open ticket."""
    queues, statuses = visible_queues(f), _status_list(f.status)
    if not queues or not statuses:
        return None
    sort = f.sort if f.sort in SORTS else "due"
    shape, values = narrowing_shape(f, viewer)
    if after:
        values |= {f"after_{n}": value for n, value in enumerate(after)}
    return _page_statement(tuple(queues), tuple(statuses), shape, sort, bool(after), size), values


def page_query(f: QueueFilter, viewer: Staff, after, size: int):
    """page_query_for() as one statement, its values bound (to run or EXPLAIN as it is)."""
    found = page_query_for(f, viewer, after, size)
    return None if found is None else found[0].params(found[1])


def load(ids: list[int]) -> list[Ticket]:
    """The tickets of a page, in the order of `ids`, with what the queue's rows show: the
    assignee joined in (one row each, no round trip of its own), tags and clocks in one
    statement each for the whole page."""
    by_id = {t.id: t for t in db.session.execute(
        select(Ticket).where(Ticket.id.in_(ids)).options(
            joinedload(Ticket.assignee), selectinload(Ticket.tag_rows), selectinload(Ticket.clocks))
    ).scalars()}
    return [by_id[i] for i in ids if i in by_id]


def page(f: QueueFilter, viewer: Staff, cursor: str | None, size: int) -> tuple[list[Ticket], str | None]:
    sort = f.sort if f.sort in SORTS else "due"
    found = page_query_for(f, viewer, decode_cursor(cursor, sort), size)
    if found is None:
        return [], None
    plan_for_the_values()
    rows = load(db.session.execute(*found).scalars().all())
    next_cursor = encode_cursor(rows[size - 1], sort) if len(rows) > size else None
    return rows[:size], next_cursor


def count_capped(f: QueueFilter, viewer: Staff | None, cap: int) -> int:
    """How many tickets the filter shows, counting no further than `cap`: the ranges are
    read one after the other and the reading stops at `cap` rows, so a view of a million
    tickets costs what a view of `cap` costs. (A filter with words counts its search.)"""
    if f.q:
        from desk.tickets import search

        return search.count(f, viewer, cap)
    queues, statuses = visible_queues(f), _status_list(f.status)
    if not queues or not statuses:
        return 0
    parts = _ranges(queues, statuses, narrowing(f, viewer), [literal(1).label("one")], cap)
    plan_for_the_values()
    capped = select(union_all(*parts).subquery().c.one).limit(cap).subquery()
    return db.session.execute(select(func.count()).select_from(capped)).scalar_one()


def counts_by_queue(queues: frozenset[str], assignee_id: int | None = None) -> dict[str, int]:
    """Open tickets per visible queue (only those assigned to `assignee_id`, for someone
    limited to their own), shared for QUEUE_COUNTS_TTL seconds (desk.cache)."""
    names = sorted(queues)

    def count() -> dict[str, int]:
        query = (select(Ticket.queue, func.count()).where(Ticket.queue.in_(names), Ticket.status.in_(OPEN_STATUSES))
                 .group_by(Ticket.queue))
        if assignee_id is not None:
            query = query.where(Ticket.assignee_id == assignee_id)
        return {q: 0 for q in names} | {q: n for q, n in db.session.execute(query).all()}

    key = "desk:queue-counts:" + ",".join(names) + (f":assignee={assignee_id}" if assignee_id is not None else "")
    return cached_json(key, current_app.config["QUEUE_COUNTS_TTL"], count)
