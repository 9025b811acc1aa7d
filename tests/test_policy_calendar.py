"""terms-33-support-hours: targets count support minutes, 10:00-23:00 Singapore."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from desk.policy.calendar import Calendar, add_support_minutes

SGT = ZoneInfo("Asia/Singapore")


def sgt(*args):
    return datetime(*args, tzinfo=SGT)


@pytest.mark.parametrize("start, minutes, due", [
    (sgt(2026, 7, 1, 12, 0), 60, sgt(2026, 7, 1, 13, 0)),        # inside hours
    (sgt(2026, 7, 1, 22, 30), 60, sgt(2026, 7, 2, 10, 30)),      # carries over the night
    (sgt(2026, 7, 1, 3, 0), 30, sgt(2026, 7, 1, 10, 30)),        # filed at night: clock starts at 10:00
    (sgt(2026, 7, 1, 23, 0), 1, sgt(2026, 7, 2, 10, 1)),         # closing time exactly
    (sgt(2026, 7, 1, 10, 0), 13 * 60, sgt(2026, 7, 1, 23, 0)),   # a whole support day
    (sgt(2026, 7, 1, 10, 0), 13 * 60 + 1, sgt(2026, 7, 2, 10, 1)),
    (sgt(2026, 1, 31, 22, 0), 240, sgt(2026, 2, 1, 13, 0)),      # month end
    (sgt(2026, 12, 31, 22, 0), 120, sgt(2027, 1, 1, 11, 0)),     # year end
    (sgt(2026, 7, 1, 12, 0), 0, sgt(2026, 7, 1, 12, 0)),
])
def test_add_support_minutes(start, minutes, due):
    result = add_support_minutes(start, minutes)
    assert result == due
    assert result.tzinfo == timezone.utc


def test_input_in_any_zone():
    start = datetime(2026, 7, 1, 14, 30, tzinfo=timezone.utc)  # 22:30 in Singapore
    assert add_support_minutes(start, 60) == sgt(2026, 7, 2, 10, 30)


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        add_support_minutes(datetime(2026, 7, 1, 12, 0), 10)


def test_other_hours():
    hours = Calendar(zone="Europe/London")
    start = datetime(2026, 3, 28, 22, 50, tzinfo=ZoneInfo("Europe/London"))
    # Across the spring-forward night the clock still resumes at 10:00 local time.
    assert add_support_minutes(start, 20, hours) == datetime(2026, 3, 29, 10, 10, tzinfo=ZoneInfo("Europe/London"))
