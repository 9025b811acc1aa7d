"""The business calendar: support hours, business days and calendar periods. Pure.

`terms-33-support-hours`: support answers 10:00–23:00 Asia/Singapore, every day, minus
configured holidays; targets are counted in support time, so a ticket filed at 22:30 with a
60-minute target is due at 10:30 the next open day. Hours may differ per weekday.

`terms-33-legal`: legal notices are acknowledged within 5 business days (Mon–Fri in
Singapore, holidays excluded) and answered within 30 calendar days.

`privacy-10-gdpr`: a month runs from the day after receipt to the same-numbered day of the
next month, or that month's last day when it is shorter (31 Jan → 28/29 Feb).

Periods counted in days end at the end of their last day in the calendar's zone; the
instants returned are aware UTC.
"""
import calendar as _calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

RULE = "terms-33-support-hours"

MINUTES_PER_DAY = 24 * 60
# A calendar closed for this many days in a row has no support hours at all: refuse
# rather than loop for ever.
MAX_SEARCH_DAYS = 3 * 366


@dataclass(frozen=True)
class Hours:
    """One weekday's support window, in minutes after local midnight (closes 1440 = 24:00)."""

    opens: int = 10 * 60
    closes: int = 23 * 60

    def __post_init__(self):
        if not 0 <= self.opens < self.closes <= MINUTES_PER_DAY:
            raise ValueError("support hours must open before they close, within one day")

    def __str__(self) -> str:
        return f"{_hhmm(self.opens)}–{_hhmm(self.closes)}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


DEFAULT_WEEK: tuple[Hours | None, ...] = (Hours(),) * 7  # Monday first, as date.weekday()


@dataclass(frozen=True)
class Calendar:
    zone: str = "Asia/Singapore"
    week: tuple[Hours | None, ...] = DEFAULT_WEEK  # None: closed that weekday
    holidays: frozenset[date] = field(default_factory=frozenset)
    # Each day's window, worked out once: every new ticket's clocks ask for the same few
    # days (issue 11). Not part of the calendar's value (equality, hash, repr).
    _windows: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        if len(self.week) != 7:
            raise ValueError("a week has seven days")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def local_date(self, instant: datetime) -> date:
        return require_aware(instant).astimezone(self.tz).date()

    def window_on(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's support window as aware instants, or None when support is closed."""
        try:
            return self._windows[day]
        except KeyError:
            pass
        hours = self.week[day.weekday()]
        if hours is None or day in self.holidays:
            window = None
        else:
            tz = self.tz
            midnight = datetime.combine(day, time(0), tz)
            window = _at(midnight, hours.opens, tz), _at(midnight, hours.closes, tz)
        self._windows[day] = window
        return window

    def is_open(self, instant: datetime) -> bool:
        """Inside the support window of its local day (terms-33-support-hours)."""
        window = self.window_on(self.local_date(instant))
        return window is not None and window[0] <= instant.astimezone(timezone.utc) < window[1]

    def is_business_day(self, day: date) -> bool:
        """Mon–Fri and not a holiday (terms-33-legal)."""
        return day.weekday() < 5 and day not in self.holidays

    def end_of_day(self, day: date) -> datetime:
        """The last instant of `day` in the calendar's zone, in UTC."""
        start_of_next = datetime.combine(day + timedelta(days=1), time(0), self.tz)
        return (start_of_next - timedelta(microseconds=1)).astimezone(timezone.utc)


def _at(midnight: datetime, minutes: int, tz: ZoneInfo) -> datetime:
    # Wall-clock arithmetic, then back through UTC so a DST change inside the day is honoured.
    wall = midnight.replace(tzinfo=None) + timedelta(minutes=minutes)
    return wall.replace(tzinfo=tz).astimezone(timezone.utc)


DEFAULT_CALENDAR = Calendar()


def require_aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return instant


def add_support_time(start: datetime, amount: timedelta, cal: Calendar = DEFAULT_CALENDAR) -> datetime:
    """The instant `amount` of support time after `start`, in UTC (terms-33-support-hours)."""
    require_aware(start)
    if amount < timedelta(0):
        raise ValueError("support time to add must not be negative")
    remaining = amount
    cursor = start.astimezone(timezone.utc)
    day = cal.local_date(start)
    closed_run = 0
    while closed_run < MAX_SEARCH_DAYS:  # long targets are fine; a calendar with no hours is not
        window = cal.window_on(day)
        closed_run = closed_run + 1 if window is None else 0
        if window is not None:
            opens, closes = window
            cursor = max(cursor, opens)
            if cursor < closes:
                available = closes - cursor
                if remaining <= available:
                    return cursor + remaining
                remaining -= available
        day += timedelta(days=1)
    raise ValueError("the calendar has no support hours")


def add_support_minutes(start: datetime, minutes: int, cal: Calendar = DEFAULT_CALENDAR) -> datetime:
    return add_support_time(start, timedelta(minutes=minutes), cal)


def support_time_between(start: datetime, end: datetime, cal: Calendar = DEFAULT_CALENDAR) -> timedelta:
    """Support time elapsed from `start` to `end` (negative when `end` comes first)."""
    # In UTC: subtracting two times of one zone with DST would count wall-clock time.
    start, end = require_aware(start).astimezone(timezone.utc), require_aware(end).astimezone(timezone.utc)
    if end < start:
        return -support_time_between(end, start, cal)
    total = timedelta(0)
    day, last = cal.local_date(start), cal.local_date(end)
    while day <= last:
        window = cal.window_on(day)
        if window is not None:
            lo, hi = max(start, window[0]), min(end, window[1])
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def add_business_days(start: datetime, days: int, cal: Calendar = DEFAULT_CALENDAR) -> datetime:
    """The end of the `days`-th business day after the day of `start` (that day not counted)."""
    if days < 0:
        raise ValueError("days must not be negative")
    day = cal.local_date(start)
    counted = 0
    for _ in range(MAX_SEARCH_DAYS + days):
        if counted == days:
            return cal.end_of_day(day)
        day += timedelta(days=1)
        if cal.is_business_day(day):
            counted += 1
    raise ValueError("the calendar has no business days")


def business_days_between(start: datetime, end: datetime, cal: Calendar = DEFAULT_CALENDAR) -> int:
    """Whole business days after the day of `start` up to and including the day of `end`."""
    day, last = cal.local_date(start), cal.local_date(end)
    count = 0
    while day < last:
        day += timedelta(days=1)
        count += cal.is_business_day(day)
    return count


def add_calendar_days(start: datetime, days: int, cal: Calendar = DEFAULT_CALENDAR) -> datetime:
    """The end of the `days`-th calendar day after the day of `start` (that day not counted)."""
    if days < 0:
        raise ValueError("days must not be negative")
    return cal.end_of_day(cal.local_date(start) + timedelta(days=days))


def add_months(start: datetime, months: int, cal: Calendar = DEFAULT_CALENDAR) -> datetime:
    """The end of the same-numbered day `months` later, or that month's last day when it is
    shorter: 3 Jan + 1 → 3 Feb; 31 Jan + 1 → 28 Feb (29 in a leap year) (privacy-10-gdpr)."""
    if months < 0:
        raise ValueError("months must not be negative")
    received = cal.local_date(start)
    index = received.month - 1 + months
    year, month = received.year + index // 12, index % 12 + 1
    day = min(received.day, _calendar.monthrange(year, month)[1])
    return cal.end_of_day(date(year, month, day))
