"""Rows a busy request reads every time and that change rarely (an API key, a queue's
assignment mode, the webhook endpoints' events), remembered by each process for a few
seconds so that an intake does not pay a query for each (issue 11).

Each app keeps its own (tests build an app each). A change made through this process's
session clears what it remembers of that table at once — the flush is watched, so a
fixture writing rows directly is seen too; every other process sees it within the TTL.
"""
import time

from flask import current_app, has_app_context
from sqlalchemy import event as orm_event
from sqlalchemy.orm import Session

_WATCHED: dict[type, str] = {}  # model -> the name of what it is remembered under


def _store(name: str) -> dict:
    return current_app.extensions.setdefault("desk_remembered", {}).setdefault(name, {})


def recall(name: str, key, load, ttl: float):
    """`load()`'s value for `key`, read again once it is `ttl` seconds old (0: every time).
    A None is not remembered: what is unknown now may exist at the next call."""
    if not ttl:
        return load()
    store = _store(name)
    kept = store.get(key)
    now = time.monotonic()
    if kept is not None and kept[0] > now:
        return kept[1]
    value = load()
    if value is not None:
        store[key] = (now + ttl, value)
    return value


def forget(name: str) -> None:
    """This process forgets everything remembered under `name`."""
    if has_app_context():
        _store(name).clear()


def watch(model: type, name: str) -> None:
    """Forget `name` whenever this process's session writes a `model` row."""
    _WATCHED[model] = name


def watches(model: type) -> bool:
    return model in _WATCHED


@orm_event.listens_for(Session, "after_flush")
def _forget_written(session, _context) -> None:
    if not _WATCHED:
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        name = _WATCHED.get(type(obj))
        if name is not None:
            forget(name)
