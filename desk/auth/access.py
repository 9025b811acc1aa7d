"""Who is asking: staff sessions (Flask-Login) and API keys, checked against the role matrix."""
from functools import wraps

from flask import abort, g, request
from flask_login import current_user
from sqlalchemy import select

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


def api_key_from_request() -> ApiKey | None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    api_key = db.session.execute(
        select(ApiKey).where(ApiKey.key_hash == hash_api_key(key.strip()), ApiKey.revoked_at.is_(None))
    ).scalar_one_or_none()
    if api_key is not None:
        now = utcnow()
        # Written at most once a minute per key, not on every call.
        if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
            api_key.last_used_at = now
            db.session.commit()
    return api_key


def current_api_key() -> ApiKey | None:
    return g.get("api_key")
