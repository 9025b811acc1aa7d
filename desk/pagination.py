"""Keyset pagination's opaque cursors, for every paged list (the staff queue, the portal's
lists, the API's listing operations).

A cursor is the sort key of the last row shown, as base64url JSON: the next page starts
after it, so page 1,000 costs what page 1 costs. `decode` checks each value against the
kind the list sorts by and gives None for anything else (a damaged or forged cursor);
the caller decides whether that starts from the top or is an error. `page` runs one
page of a query, newest first, and raises the 400 `bad_cursor` for such a cursor.
"""
import base64
import json
import math
from datetime import datetime

from sqlalchemy import tuple_

from desk.errors import DeskError
from desk.extensions import db
from desk.types import MAX_ID


def encode(*values) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _value(kind, raw):
    if kind is datetime:
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is None:
            raise ValueError("a cursor's time has a zone")
        return moment
    if kind is int:
        # A row id: beyond any id, binding it would overflow the database's integer.
        if type(raw) is not int or not 0 < raw <= MAX_ID:
            raise ValueError("not a row id")
        return raw
    if kind is float:
        # A search's rank: a finite number as JSON wrote it (json reads 1e400 as inf).
        if type(raw) not in (int, float) or not math.isfinite(raw):
            raise ValueError("not a rank")
        return float(raw)
    if kind is str:
        if not isinstance(raw, str) or len(raw) > 256 or "\x00" in raw:
            raise ValueError("not a key")
        return raw
    raise TypeError(kind)


def decode(cursor: str | None, *kinds) -> tuple | None:
    """The values of a cursor made by `encode`, one per kind (datetime, int, float, str), or None."""
    if not cursor or not isinstance(cursor, str) or len(cursor) > 1024:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(kinds):
            return None
        return tuple(_value(kind, raw) for kind, raw in zip(kinds, values))
    except (ValueError, TypeError, OverflowError):  # binascii.Error and JSONDecodeError are ValueErrors
        return None


def bad_cursor(what: str = "list") -> DeskError:
    return DeskError(f"That page of the {what} could not be found: the cursor is damaged. Start again "
                     "without one.", {"cursor": "damaged"}, code="bad_cursor", status=400)


def page(query, columns, kinds, cursor: str | None, size: int, what: str = "list") -> tuple[list, str | None]:
    """One page of `query` (a select of one model), descending by `columns` — whose last one
    is unique, so no two rows share a key — and the next page's cursor (None on the last).
    The next page starts after the last row shown: no OFFSET, no count. A damaged cursor is
    the 400 bad_cursor."""
    query = query.order_by(*(column.desc() for column in columns)).limit(size + 1)
    if cursor is not None:
        after = decode(cursor, *kinds)
        if after is None:
            raise bad_cursor(what)
        query = query.where(tuple_(*columns) < after if len(columns) > 1 else columns[0] < after[0])
    rows = db.session.execute(query).scalars().all()
    more = len(rows) > size
    rows = rows[:size]
    return rows, (encode(*(getattr(rows[-1], column.key) for column in columns)) if more else None)
