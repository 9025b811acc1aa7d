"""Rate limits counted in one Redis round trip a request.

Flask-Limiter's fixed window (limits' "fixed-window") costs three round trips on Redis: the
hit (INCRBY, EXPIRE on a new window), then a GET and a TTL only to write the
X-RateLimit-Remaining and -Reset headers. At hundreds of API calls a second the limiter was
a quarter of a claim decision's CPU, its three Redis calls a sixth. ONE_TRIP is the same
fixed window — the same keys, counts and expiry, so every process and host still shares
one count in Redis — whose hit returns the count and the window's TTL together (one Lua
script), and the headers are written from that.

Redis away: nothing changes. The script's error reaches Flask-Limiter as the hit's did, and
it counts in memory meanwhile (in_memory_fallback_enabled, desk.extensions); this strategy
over a storage other than Redis (the memory fallback, `memory://`) is the stock fixed window."""
import time

from flask import request
from limits.storage import RedisStorage
from limits.strategies import STRATEGIES, FixedWindowRateLimiter
from limits.util import WindowStats

ONE_TRIP = "desk-fixed-window-one-trip"
WINDOWS = "desk.rate_windows"  # the request's environ key for the windows its hits saw

# limits' own incr_expire.lua, returning the window's TTL (seconds) beside the count.
HIT_AND_TTL = """
local amount = tonumber(ARGV[2])
local current = redis.call("INCRBY", KEYS[1], amount)
if current == amount then
    redis.call("EXPIRE", KEYS[1], ARGV[1])
end
return {current, redis.call("TTL", KEYS[1])}
"""


class OneTripFixedWindow(FixedWindowRateLimiter):
    def __init__(self, storage):
        super().__init__(storage)
        # redis-py sends EVALSHA and loads the script itself when Redis lacks it (after a restart).
        self._hit_and_ttl = (storage.get_connection().register_script(HIT_AND_TTL)
                             if isinstance(storage, RedisStorage) else None)

    def hit(self, item, *identifiers, cost: int = 1) -> bool:
        if self._hit_and_ttl is None:
            return super().hit(item, *identifiers, cost=cost)
        key = item.key_for(*identifiers)
        count, ttl = self._hit_and_ttl([self.storage.prefixed_key(key)], [item.get_expiry(), cost])
        # What FixedWindowRateLimiter.get_window_stats would read next (GET, TTL), kept in
        # the request's WSGI environ for its headers: the next request counts afresh.
        request.environ.setdefault(WINDOWS, {})[key] = WindowStats(time.time() + max(ttl, 0),
                                                                  max(0, item.amount - count))
        return count <= item.amount

    def get_window_stats(self, item, *identifiers) -> WindowStats:
        seen = request.environ.get(WINDOWS)
        window = seen.get(item.key_for(*identifiers)) if seen else None
        return window if window is not None else super().get_window_stats(item, *identifiers)


def register() -> str:
    """Make ONE_TRIP a strategy Flask-Limiter can be configured with (RATELIMIT_STRATEGY);
    its name."""
    STRATEGIES.setdefault(ONE_TRIP, OneTripFixedWindow)
    return ONE_TRIP
