"""Reading the panel's JSON and export rows into checked Python values.

Each reader collects every problem under the field's name, so one 4xx lists them all."""
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

# Counts are stored in Integer columns: 32-bit signed on PostgreSQL. A larger number
# would overflow there (a 500), so it is refused here with the field's name.
MAX_INT = 2**31 - 1
MIN_YEAR, MAX_YEAR = 1970, 2999


class Fields:
    """Pull typed values out of a mapping, noting problems instead of raising."""

    def __init__(self, data: dict, prefix: str = ""):
        self.data = data
        self.prefix = prefix
        self.problems: dict[str, str] = {}

    def _note(self, name, message):
        self.problems[f"{self.prefix}{name}"] = message

    def string(self, name, required=False, max_len=2048, default=None):
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                self._note(name, "required")
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self._note(name, "must be a string")
            return default
        value = str(value).strip()
        if "\x00" in value:  # PostgreSQL text cannot hold NUL: refused here, not a 500 there
            self._note(name, "must not contain NUL characters")
            return default
        if len(value) > max_len:
            self._note(name, f"at most {max_len} characters")
            return default
        return value

    def choice(self, name, choices, required=False, default=None):
        value = self.string(name, required=required, default=default)
        if value is not None and value not in choices:
            self._note(name, f"one of {', '.join(choices)}")
            return default
        return value

    def integer(self, name, required=False, minimum=0, default=None, maximum=MAX_INT):
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                self._note(name, "required")
            return default
        if isinstance(value, bool):
            self._note(name, "must be a whole number")
            return default
        if isinstance(value, str):
            value = value.strip()
            if not value.lstrip("-").isdigit() or not value.isascii():
                self._note(name, "must be a whole number")
                return default
            value = int(value)
        if not isinstance(value, int):
            self._note(name, "must be a whole number")
            return default
        if value < minimum:
            self._note(name, f"at least {minimum}")
            return default
        if value > maximum:
            self._note(name, f"at most {maximum}")
            return default
        return value

    def money(self, name, required=False, default=None, signed=False):
        """Money arrives as a string with at most two decimals (never a float)."""
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                self._note(name, "required")
            return default
        if isinstance(value, (bool, float)) or not isinstance(value, (str, int)):
            self._note(name, 'a string such as "2.50"')
            return default
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            self._note(name, 'a string such as "2.50"')
            return default
        # The size first: quantizing 1e26 to cents needs more digits than Decimal's context has.
        if not amount.is_finite() or abs(amount) >= Decimal("1e10") or amount != amount.quantize(Decimal("0.01")):
            self._note(name, "at most two decimals and ten digits")
            return default
        if amount < 0 and not signed:
            self._note(name, "not negative")
            return default
        return amount.quantize(Decimal("0.01"))

    def boolean(self, name, default=False):
        value = self.data.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        self._note(name, "true or false")
        return default

    def time(self, name, required=False, default=None):
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                self._note(name, "required")
            return default
        moment = parse_time(value)
        if moment is None:
            self._note(name, f"an ISO 8601 time with its zone, e.g. 2026-07-03T14:00:00Z "
                             f"(years {MIN_YEAR}-{MAX_YEAR})")
            return default
        return moment


def parse_time(value) -> datetime | None:
    """ISO 8601 with a zone (a 'Z' is UTC), in UTC; None when unreadable. A time without
    a zone is refused: the panel must say which zone it means."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    try:
        moment = moment.astimezone(timezone.utc)
    except OverflowError:  # "0001-01-01T00:00+01:00" lies before the calendar's first day
        return None
    # Windows (72 h, refill days, dormancy months) are added to these times: a year at the
    # calendar's edge would overflow there (a 500), and no panel event is dated so.
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        return None
    return moment
