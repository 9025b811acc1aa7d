"""Who gets a new ticket in a queue that assigns by itself (issue 10).

Not a clause of the Terms: the desk's own way of sharing the work, within the Terms'
support hours (terms-33-support-hours: only agents on shift are given tickets). Pure:
the caller lists the candidates with their figures."""
from dataclasses import dataclass

RULE = "terms-33-support-hours"
MODES = ("manual", "round_robin", "least_loaded")


@dataclass(frozen=True)
class Candidate:
    id: int
    open_tickets: int  # open tickets they hold now
    max_open: int | None = None  # None: no limit
    away: bool = False

    @property
    def available(self) -> bool:
        return not self.away and (self.max_open is None or self.open_tickets < self.max_open)


def choose(mode: str, candidates: list[Candidate], last_id: int | None = None) -> int | None:
    """The id of the agent to get the ticket, or None (manual, nobody available).

    round_robin: the next available agent by id after the one who got the last ticket
    (wrapping round); least_loaded: the available agent holding the fewest open tickets,
    the lower id on a tie."""
    if mode not in MODES:
        raise ValueError(f"unknown assignment mode {mode!r}")
    ready = sorted((c for c in candidates if c.available), key=lambda c: c.id)
    if mode == "manual" or not ready:
        return None
    if mode == "round_robin":
        after = [c for c in ready if last_id is not None and c.id > last_id]
        return (after or ready)[0].id
    return min(ready, key=lambda c: (c.open_tickets, c.id)).id


def over_limit(open_tickets: int, max_open: int | None) -> bool:
    """Taking one more would pass the agent's limit."""
    return max_open is not None and open_tickets >= max_open
