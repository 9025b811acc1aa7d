"""Staff accounts and API keys."""
import hashlib
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from desk.extensions import db
from desk.types import UTCDateTime, utcnow


class Staff(UserMixin, db.Model):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Changing it signs the account out everywhere (it is part of the session identity).
    session_token: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_hex(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where this person works, within what the role opens (desk.auth.access.visible_queues):
    # None for every queue of the role, else the queues named.
    queues: Mapped[list | None] = mapped_column(JSON)
    # Limited to the tickets assigned to them, on every page, list, count and search.
    own_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Marked away: automatic assignment passes them by.
    away: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The most open tickets they hold at once (None: no limit).
    max_open: Mapped[int | None] = mapped_column(Integer)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def label(self) -> str:
        return self.name or self.email


def hash_api_key(key: str) -> str:
    # API keys are 256-bit random tokens, so a fast hash is enough (no dictionary to guess from).
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKey(db.Model):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists so a key can be recognised
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A staff key may belong to one staff member: it then reads and writes within that
    # person's queues and scope (desk.auth.access.key_scope), and stops with their account.
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))

    staff = relationship(Staff)

    @staticmethod
    def generate() -> str:
        return "dk_" + secrets.token_urlsafe(32)
