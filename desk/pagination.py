"""Keyset pagination's opaque cursors, for every paged list (the staff queue, the portal's
lists, the API's listing operations).

A cursor is the sort key of the last row shown, as base64url JSON: the next page starts
after it, so page 1,000 costs what page 1 costs. `decode` checks each value against the
kind the list sorts by and gives None for anything else (a damaged or forged cursor);
the caller decides whether that starts from the top or is an error.
"""
import base64
import json
import math
from datetime import datetime

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
