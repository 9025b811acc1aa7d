"""The periodic relay: outbox rows left pending while Redis was down reach the queue, and
jobs a restarted Redis lost are sent again."""
from desk import jobs


def relay_outbox() -> int:
    jobs.requeue_lost()
    return jobs.relay()
