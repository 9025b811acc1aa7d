"""Ticket search over the API (issue 10): the staff queue's search for staff keys, within
the key's queues (queues_for_api_key) — a person's key, within theirs — paged by cursor."""
from flask import g, jsonify, request, url_for

from desk.api import bp, require_key_role
from desk.auth.access import key_staff
from desk.auth.roles import queues_for_api_key
from desk.errors import ValidationError
from desk.tickets import queue as ticket_queue
from desk.tickets import search
from desk.tickets.models import NO_DUE

MAX_LIMIT = 100


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return 50
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationError(f"limit must be a whole number from 1 to {MAX_LIMIT}.",
                              {"limit": f"1 to {MAX_LIMIT}"})
    return int(raw)


def hit_json(hit: search.Hit) -> dict:
    t = hit.ticket
    return {
        "reference": t.reference,
        "url": url_for("api.get_ticket", reference=t.reference),
        "subject": t.subject,
        "kind": t.kind,
        "queue": t.queue,
        "status": t.status,
        "priority": t.priority,
        "requester": {"email": t.requester_email, "name": t.requester_name},
        "order": t.order_ref,
        "assignee": t.assignee.email if t.assignee else None,
        "tags": t.tags,
        "due_at": t.due_at.isoformat() if t.due_at != NO_DUE else None,
        "created_at": t.created_at.isoformat(),
        "updated_at": t.updated_at.isoformat(),
        "match": hit.match,
        "rank": hit.rank,
        "highlight": {"subject": str(hit.subject), "requester": str(hit.requester),
                      "snippet": str(hit.snippet) if hit.snippet is not None else None,
                      "snippet_from": "internal_note" if hit.snippet_internal else "messages"},
    }


@bp.get("/search/tickets")
def search_tickets():
    require_key_role("staff")
    args = request.args
    values = {name: args.get(name) for name in ticket_queue.FILTER_FIELDS if name != "sort"}
    if not values.get("q"):
        raise ValidationError("q is required: the words, reference, e-mail address or order id to look for.",
                              {"q": "required"})
    if values.get("assignee") == "me":
        raise ValidationError("An API key is nobody's: give the assignee's staff id, or none.",
                              {"assignee": "me, or none or a staff id"})
    search.parse(values["q"])  # its own message and code (invalid_query) first
    checked = ticket_queue.checked_filters(values)
    checked.setdefault("status", "any")
    cursor = args.get("cursor") or None
    if cursor is not None and search.decode_cursor(cursor) is None:
        raise ValidationError("cursor is not one this search gave: start again without it.", {"cursor": "invalid"})
    person = key_staff(g.api_key)
    if person is None:
        f = ticket_queue.queue_filter(checked, queues_for_api_key("staff"))
    else:  # a person's key searches what they may see
        f = ticket_queue.scoped(ticket_queue.queue_filter(checked, queues_for_api_key("staff")), person)
    results = search.page(f, person, cursor, _limit(args.get("limit")), internal=True)
    return jsonify({
        "query": results.query.text,
        "results": [hit_json(hit) for hit in results.hits],
        "next_cursor": results.next_cursor,
        "ranked_within": results.window,
    })

