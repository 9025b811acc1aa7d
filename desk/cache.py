"""Figures shared between processes through Redis for a few seconds.

Counting a million rows on every page view would cost more than the page itself; the
count is made once per `ttl` and shared. Without Redis (or with ttl 0) it is computed.
A figure shared for seconds may be a moment old anyway: it is computed on the read
replica where there is one (desk.extensions.from_replica).
"""
import json
from collections.abc import Callable, Sequence

from redis.exceptions import RedisError

from desk.extensions import from_replica
from desk.jobs import get_redis


def cached_json(key: str, ttl: int, compute: Callable[[], object]):
    return cached_json_many(ttl, [(key, compute)])[0]


def cached_json_many(ttl: int, entries: Sequence[tuple[str, Callable[[], object]]]) -> list:
    """cached_json() for several keys in one round trip to Redis (one MGET, and one pipeline
    for the figures computed): a page's sidebar asks for all its counts at once, so it
    waits for Redis once rather than once per count."""
    hits = [None] * len(entries)
    if ttl and entries:
        try:
            hits = get_redis().mget([key for key, _ in entries])
        except (RedisError, OSError):
            ttl = 0
    values, missed = [], {}
    for (key, compute), hit in zip(entries, hits):
        value = json.loads(hit) if hit else from_replica(compute)
        if not hit:
            missed[key] = value
        values.append(value)
    if ttl and missed:
        try:
            with get_redis().pipeline(transaction=False) as pipe:
                for key, value in missed.items():
                    pipe.set(key, json.dumps(value), ex=ttl)
                pipe.execute()
        except (RedisError, OSError):
            pass
    return values
