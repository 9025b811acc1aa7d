"""What the workers are doing, for admins: queue lengths, the outbox, and failed jobs
(after their retries ran out) with retry and delete."""
from dataclasses import dataclass
from datetime import datetime

from redis.exceptions import RedisError
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import func, select

from desk import jobs
from desk.audit.services import Actor, record
from desk.errors import NotFound
from desk.extensions import db
from desk.jobs import OutboxEntry


@dataclass
class FailedJob:
    id: str
    queue: str
    func: str
    args: list
    ended_at: datetime | None
    error: str


@dataclass
class Overview:
    redis_ok: bool
    queues: list[dict]
    failed: list[FailedJob]
    outbox_pending: int
    outbox_oldest: datetime | None


def overview(limit: int = 100) -> Overview:
    pending, oldest = db.session.execute(
        select(func.count(), func.min(OutboxEntry.created_at)).where(OutboxEntry.status == "pending")
    ).one()
    try:
        queues, failed = [], []
        for name in jobs.QUEUES:
            queue = jobs.queue_for(name)
            registry = FailedJobRegistry(queue=queue)
            queues.append({
                "name": name, "waiting": queue.count,
                "running": StartedJobRegistry(queue=queue).count,
                "scheduled": ScheduledJobRegistry(queue=queue).count, "failed": registry.count,
            })
            for job in Job.fetch_many(registry.get_job_ids(0, limit - 1), connection=queue.connection):
                if job is not None:
                    failed.append(FailedJob(job.id, name, job.func_name, list(job.args), job.ended_at,
                                            _last_line(job.latest_result())))
    except (RedisError, OSError):
        return Overview(False, [], [], pending, oldest)
    failed.sort(key=lambda j: j.ended_at or datetime.min, reverse=True)
    return Overview(True, queues, failed, pending, oldest)


def _last_line(result) -> str:
    text = (getattr(result, "exc_string", None) or "").strip()
    return text.splitlines()[-1] if text else ""


def _registry_holding(job_id: str) -> FailedJobRegistry:
    for name in jobs.QUEUES:
        registry = FailedJobRegistry(queue=jobs.queue_for(name))
        if job_id in registry:
            return registry
    raise NotFound("No failed job with that id.")


def retry(job_id: str, actor: Actor) -> None:
    _registry_holding(job_id).requeue(job_id)
    record(actor, "job.retried", "job", job_id)
    db.session.commit()


def delete(job_id: str, actor: Actor) -> None:
    registry = _registry_holding(job_id)
    Job.fetch(job_id, connection=registry.connection).delete()
    record(actor, "job.deleted", "job", job_id)
    db.session.commit()
