"""Who is asking: staff sessions (Flask-Login) and API keys, checked against the role matrix."""
from functools import wraps

from flask import abort, g, request
from flask_login import current_user
from sqlalchemy import select, update

from desk.auth.models import ApiKey, Staff, hash_api_key
from desk.auth.roles import allows, queues_for
from desk.extensions import db, login_manager
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


def can_see_ticket(role: str | None, ticket) -> bool:
    return ticket.queue in queues_for(role)


def api_key_from_request():
    """The key named by `Authorization: Bearer …` as a row (id, name, role), or None.
    One indexed lookup per call: the API's hot path does not load ORM objects."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    row = db.session.execute(
        select(ApiKey.id, ApiKey.name, ApiKey.role, ApiKey.last_used_at)
        .where(ApiKey.key_hash == hash_api_key(key.strip()), ApiKey.revoked_at.is_(None))
    ).first()
    if row is not None:
        now = utcnow()
        # Written at most once a minute per key, not on every call.
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
            db.session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
            db.session.commit()
    return row


def current_api_key() -> ApiKey | None:
    return g.get("api_key")
