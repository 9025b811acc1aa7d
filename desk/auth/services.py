"""Staff accounts and API keys."""
from sqlalchemy import func, select

from desk.audit.services import Actor, record
from desk.auth.access import forget_api_keys
from desk.auth.models import ApiKey, Staff, hash_api_key
from desk.auth.roles import API_KEY_ROLES, ROLES
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


def create_api_key(name: str, role: str, actor: Actor) -> tuple[ApiKey, str]:
    """Returns the row and the key itself, which is never stored and cannot be shown again."""
    if role not in API_KEY_ROLES:
        raise ValidationError(f"API key role must be one of: {', '.join(API_KEY_ROLES)}.", {"role": "unknown"})
    if not name.strip():
        raise ValidationError("Give the key a name.", {"name": "required"})
    key = ApiKey.generate()
    api_key = ApiKey(name=name.strip(), role=role, prefix=key[:10], key_hash=hash_api_key(key))
    db.session.add(api_key)
    db.session.flush()
    record(actor, "api_key.created", "api_key", api_key.id, name=api_key.name, role=role)
    db.session.commit()
    return api_key, key


def revoke_api_key(api_key: ApiKey, actor: Actor) -> None:
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        record(actor, "api_key.revoked", "api_key", api_key.id, name=api_key.name)
        db.session.commit()
        forget_api_keys()
