"""SLA jobs: the minute sweep, the notices it sends, and due times again after the
calendar changed."""
from rq import get_current_job

from desk.sla import clocks, notices
from desk.sla.sweep import sweep as run_sweep


def sweep() -> dict:
    return run_sweep()


def notify(event_id: int) -> int:
    return notices.notify(event_id)


def recompute() -> int:
    job = get_current_job()

    def progress(done: int, total: int) -> None:
        if job is not None:  # the admin page shows how far it got
            job.meta["progress"] = [done, total]
            job.save_meta()

    return clocks.recompute(progress)
