"""Column types shared by every domain: aware UTC times and Decimal money."""
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import DateTime, Numeric
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# Primary keys are Integer columns: 32-bit signed on PostgreSQL. A larger number typed
# into a URL or form can name no row, and binding it would overflow in the database.
MAX_ID = 2**31 - 1


def parse_id(value) -> int | None:
    """A row id from user input (query string, form field): None unless ASCII digits in range."""
    value = str(value or "").strip()
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC; gives them back aware on SQLite too (which drops zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: times are stored as aware UTC")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Money(TypeDecorator):
    """Numeric(12, 2) that always comes back as Decimal (SQLite would give floats)."""

    impl = Numeric(12, 2, asdecimal=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return str(Decimal(value).quantize(Decimal("0.01"))) if dialect.name == "sqlite" else Decimal(value)

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value).quantize(Decimal("0.01"))
