"""Who else has a ticket open (issue 10, collision detection): "Ana is viewing", "Ana is
replying".

Each ticket page marks its agent in a Redis hash, `desk:presence:<ticket id>`, staff id →
{"name", "state", "at", "typed"}. The page's script (desk/static/presence.js) asks again
every PRESENCE_POLL_SECONDS, which renews the mark, and says "replying" while the agent
types; a mark not renewed for PRESENCE_SECONDS is gone (the hash itself expires then too),
and "replying" falls back to "viewing" half that time after the last keystroke.

Presence is a courtesy, never a gate: with Redis down nobody is shown and nothing fails.
"""
import json
import logging
import time

from flask import current_app
from redis.exceptions import RedisError

from desk.jobs import get_redis

log = logging.getLogger(__name__)
STATES = ("viewing", "replying")


def key(ticket_id: int) -> str:
    return f"desk:presence:{ticket_id}"


def _ttl() -> int:
    return current_app.config["PRESENCE_SECONDS"]


def _read(value) -> dict | None:
    try:
        entry = json.loads(value)
    except (TypeError, ValueError):
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("at"), (int, float)) else None


def visit(ticket_id: int, staff, state: str | None = None) -> list[dict]:
    """Mark `staff` on the ticket (`state` "replying" when they type; else they are viewing,
    or still replying if they typed lately) and return the others there, each as
    {"name", "state"}, by name; never the viewer themselves. [] when Redis cannot answer."""
    ttl = _ttl()
    now = time.time()
    try:
        conn = get_redis()
        found = conn.hgetall(key(ticket_id))
        mine = _read(found.get(str(staff.id).encode())) or {}
        typed = now if state == "replying" else mine.get("typed")
        replying = typed is not None and now - typed < ttl / 2
        entry = {"name": staff.label, "state": "replying" if replying else "viewing", "at": now,
                 "typed": typed if replying else None}
        others, stale = [], []
        for field, value in found.items():
            if field == str(staff.id).encode():
                continue
            other = _read(value)
            if other is None or now - other["at"] > ttl:
                stale.append(field)
            elif other.get("state") in STATES:
                others.append({"name": str(other.get("name") or "Someone"), "state": other["state"]})
        pipe = conn.pipeline()
        pipe.hset(key(ticket_id), str(staff.id), json.dumps(entry))
        if stale:
            pipe.hdel(key(ticket_id), *stale)
        pipe.expire(key(ticket_id), ttl)
        pipe.execute()
    except (RedisError, OSError) as exc:
        log.debug("presence unavailable: %s", exc)
        return []
    return sorted(others, key=lambda o: (o["name"].lower(), o["state"]))


def words(others: list[dict]) -> list[str]:
    """"Ana is viewing", one line each (the page and the script say the same)."""
    return [f"{o['name']} is {o['state']}" for o in others]
