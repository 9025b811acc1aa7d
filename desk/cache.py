"""Figures shared between processes through Redis for a few seconds.

Counting a million rows on every page view would cost more than the page itself; the
count is made once per `ttl` and shared. Without Redis (or with ttl 0) it is computed.
"""
import json
from collections.abc import Callable

from redis.exceptions import RedisError

from desk.jobs import get_redis


def cached_json(key: str, ttl: int, compute: Callable[[], object]):
    if ttl:
        try:
            hit = get_redis().get(key)
            if hit:
                return json.loads(hit)
        except (RedisError, OSError):
            ttl = 0
    value = compute()
    if ttl:
        try:
            get_redis().set(key, json.dumps(value), ex=ttl)
        except (RedisError, OSError):
            pass
    return value
