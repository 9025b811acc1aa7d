"""Support hours as a pure calendar (terms-33-support-hours).

Terms §33: support answers 10:00–23:00 Asia/Singapore, every day. Targets are counted in
support minutes: a ticket filed at 22:30 with a 60-minute target is due at 10:30 the next
day. (Holidays and per-weekday hours arrive with the SLA work; the shape stays the same.)
"""
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

RULE = "terms-33-support-hours"


@dataclass(frozen=True)
class SupportHours:
    opens: time = time(10, 0)
    closes: time = time(23, 0)
    zone: str = "Asia/Singapore"

    def window_on(self, day) -> tuple[datetime, datetime]:
        tz = ZoneInfo(self.zone)
        return (datetime.combine(day, self.opens, tz), datetime.combine(day, self.closes, tz))


DEFAULT_HOURS = SupportHours()


def add_support_minutes(start: datetime, minutes: int, hours: SupportHours = DEFAULT_HOURS) -> datetime:
    """The instant `minutes` support minutes after `start` (aware), returned in UTC."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    remaining = timedelta(minutes=minutes)
    local = start.astimezone(ZoneInfo(hours.zone))
    day = local.date()
    cursor = local
    while True:
        opens, closes = hours.window_on(day)
        if cursor < opens:
            cursor = opens
        if cursor < closes:
            available = closes - cursor
            if remaining <= available:
                return (cursor + remaining).astimezone(timezone.utc)
            remaining -= available
        day += timedelta(days=1)
        cursor = hours.window_on(day)[0]
