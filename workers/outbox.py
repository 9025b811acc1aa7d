"""The periodic relay: outbox rows left pending while Redis was down reach the queue."""
from desk import jobs


def relay_outbox() -> int:
    return jobs.relay()
