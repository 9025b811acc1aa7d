"""Staff accounts and API keys."""
import secrets

from sqlalchemy import func, select

from desk.audit.services import Actor, record
from desk.auth.access import forget_api_keys
from desk.auth.models import ApiKey, Staff, hash_api_key
from desk.auth.roles import API_KEY_ROLES, ROLES, queues_for
from desk.errors import ValidationError
from desk.extensions import db
from desk.types import utcnow


def find_staff(email: str) -> Staff | None:
    return db.session.execute(select(Staff).where(func.lower(Staff.email) == email.strip().lower())).scalar_one_or_none()


def authenticate(email: str, password: str) -> Staff | None:
    staff = find_staff(email)
    if staff is None or not staff.active or not staff.check_password(password):
        return None
    staff.last_login_at = utcnow()
    db.session.commit()
    return staff


def create_staff(email: str, role: str, password: str, actor: Actor, name: str = "") -> Staff:
    if role not in ROLES:
        raise ValidationError(f"Role must be one of: {', '.join(ROLES)}.", {"role": "unknown"})
    if len(password) < 12:
        raise ValidationError("Passwords need at least 12 characters.", {"password": "too short"})
    if find_staff(email):
        raise ValidationError(f"{email} already has a staff account.", {"email": "taken"})
    staff = Staff(email=email.strip().lower(), role=role, name=name.strip())
    staff.set_password(password)
    db.session.add(staff)
    db.session.flush()
    record(actor, "staff.created", "staff", staff.id, email=staff.email, role=role)
    db.session.commit()
    return staff


def create_api_key(name: str, role: str, actor: Actor, staff: Staff | None = None) -> tuple[ApiKey, str]:
    """Returns the row and the key itself, which is never stored and cannot be shown again.
    `staff`: the person a staff key belongs to (it works within their queues and scope)."""
    if role not in API_KEY_ROLES:
        raise ValidationError(f"API key role must be one of: {', '.join(API_KEY_ROLES)}.", {"role": "unknown"})
    if not name.strip():
        raise ValidationError("Give the key a name.", {"name": "required"})
    if staff is not None and (role != "staff" or not staff.active):
        raise ValidationError("Only a staff key belongs to a person, and only to an active one.", {"staff": "invalid"})
    key = ApiKey.generate()
    api_key = ApiKey(name=name.strip(), role=role, prefix=key[:10], key_hash=hash_api_key(key),
                     staff_id=staff.id if staff else None)
    db.session.add(api_key)
    db.session.flush()
    record(actor, "api_key.created", "api_key", api_key.id, name=api_key.name, role=role,
           staff=staff.email if staff else None)
    db.session.commit()
    return api_key, key


def revoke_api_key(api_key: ApiKey, actor: Actor) -> None:
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        record(actor, "api_key.revoked", "api_key", api_key.id, name=api_key.name)
        db.session.commit()
        forget_api_keys()


def set_work(staff: Staff, actor: Actor, *, queues: list[str] | None, own_only: bool, away: bool,
             max_open: int | None, active: bool) -> Staff:
    """Where and how much a staff member works (issue 10): queues within those the role
    opens (none chosen: all of them), own tickets only, away, a limit of open tickets, and
    whether the account may sign in at all; commits, audited."""
    allowed = queues_for(staff.role)
    chosen = sorted(set(queues or ()))
    unknown = [q for q in chosen if q not in allowed]
    if unknown:
        raise ValidationError(f"A {staff.role.replace('_', ' ')} cannot work {', '.join(unknown)}.",
                              {"queues": "outside the role"})
    if max_open is not None and not 1 <= max_open <= 10_000:
        raise ValidationError("The limit of open tickets is a number from 1 to 10,000, or empty for none.",
                              {"max_open": "out of range"})
    before = {"queues": staff.queues, "own_only": staff.own_only, "away": staff.away, "max_open": staff.max_open,
              "active": staff.active}
    staff.queues = chosen if chosen and set(chosen) != allowed else None
    staff.own_only, staff.away, staff.max_open = own_only, away, max_open
    if staff.active and not active:
        staff.session_token = secrets.token_hex(16)  # signed out everywhere at once
    staff.active = active
    after = {"queues": staff.queues, "own_only": own_only, "away": away, "max_open": max_open, "active": active}
    if before != after:
        record(actor, "staff.work", "staff", staff.id, before=before, after=after)
    db.session.commit()
    return staff


def set_away(staff: Staff, away: bool) -> None:
    """A staff member marks themselves away (or back): automatic assignment passes them by."""
    if staff.away != away:
        staff.away = away
        record(Actor.staff(staff), "staff.away", "staff", staff.id, after=away)
    db.session.commit()
