"""Who is asking: staff sessions (Flask-Login) and API keys, checked against the role matrix."""
from functools import wraps

from flask import abort, current_app, request
from flask_login import current_user
from sqlalchemy import and_, or_, select, update

from desk import remembered
from desk.auth.models import ApiKey, Staff, hash_api_key
from desk.auth.roles import allows, queues_for, queues_for_api_key
from desk.extensions import db, login_manager
from desk.tickets.models import Ticket
from desk.types import utcnow


@login_manager.user_loader
def load_staff(user_id: str):
    staff_id, _, token = user_id.partition(":")
    if not staff_id.isdigit():
        return None
    staff = db.session.get(Staff, int(staff_id))
    if staff is None or not staff.active or staff.session_token != token:
        return None
    return staff


def require(permission: str):
    """Staff view decorator: sign-in required, then the permission from the role matrix."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not allows(current_user.role, permission):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def visible_queues(staff) -> frozenset[str]:
    """The queues a staff member works: what the role opens, narrowed to the queues named on
    the account (an admin's choice; none named: all the role opens)."""
    allowed = queues_for(staff.role)
    return allowed & frozenset(staff.queues) if staff.queues else allowed


def can_see_ticket(staff, ticket) -> bool:
    """Whether this staff member may open the ticket: its queue is one they work, and, for
    someone limited to their own tickets, it is assigned to them. Every staff route that
    names a ticket asks this; a ticket they may not open is a 404, like a missing one."""
    if ticket.queue not in visible_queues(staff):
        return False
    return not staff.own_only or ticket.assignee_id == staff.id


def ticket_scope(staff):
    """can_see_ticket() as a SQL condition on tickets, for every list, count and search."""
    condition = Ticket.queue.in_(sorted(visible_queues(staff)))
    return and_(condition, Ticket.assignee_id == staff.id) if staff.own_only else condition


API_KEYS = "api_keys"
remembered.watch(ApiKey, API_KEYS)  # a key revoked, or
remembered.watch(Staff, API_KEYS)  # its owner's account closed, in this process: forgotten at once


def forget_api_keys() -> None:
    """Drop this process's cached keys (a revocation takes effect here at once)."""
    remembered.forget(API_KEYS)


def api_key_from_request():
    """The key named by `Authorization: Bearer …` as a row (id, name, role), or None.

    A valid key is remembered for API_KEY_CACHE_SECONDS (default 5) so a busy panel does
    not pay a query per call; revoking a key clears the process that revoked it at once,
    and every other process within those seconds. Unknown keys are never cached."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    digest = hash_api_key(key.strip())
    return remembered.recall(API_KEYS, digest, lambda: _load_key(digest), current_app.config["API_KEY_CACHE_SECONDS"])


def _load_key(digest: str):
    row = db.session.execute(
        select(ApiKey.id, ApiKey.name, ApiKey.role, ApiKey.last_used_at, ApiKey.staff_id)
        .where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None),
               # A person's key stops with their account.
               or_(ApiKey.staff_id.is_(None), ApiKey.staff_id.in_(select(Staff.id).where(Staff.active.is_(True)))))
    ).first()
    if row is not None:
        now = utcnow()
        # Written when the key is read, at most once a minute, not on every call.
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
            db.session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
            db.session.commit()
    return row


def key_staff(key) -> Staff | None:
    """The person a staff key belongs to (None for a key of no one)."""
    return db.session.get(Staff, key.staff_id) if key.staff_id else None


def key_scope(key):
    """The tickets a key reaches, as a SQL condition: its person's (desk.auth.access.ticket_scope)
    for a key that belongs to one, else the key role's queues."""
    person = key_staff(key)
    return ticket_scope(person) if person is not None else Ticket.queue.in_(sorted(queues_for_api_key(key.role)))


def key_sees(key, ticket) -> bool:
    """key_scope() for one ticket."""
    person = key_staff(key)
    return can_see_ticket(person, ticket) if person is not None else ticket.queue in queues_for_api_key(key.role)
