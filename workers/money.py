"""Money jobs: the daily dormancy run (terms-30-dormancy)."""
from desk.claims.parse import parse_time
from desk.money import dormancy


def dormancy_run(at: str | None = None) -> dict:
    """`at`: an ISO 8601 time to run as of (tests move the clock); default now."""
    now = parse_time(at) if at else None
    if at and now is None:
        raise ValueError(f"not an ISO 8601 time with its zone: {at!r}")
    return dormancy.run(now)
