"""Reliability under faults, end to end: real Redis (a redis-server of the test's own that
is stopped and started), real RQ workers (in-process and a forking `flask desk worker`
subprocess), a real SMTP server (aiosmtpd) and the real database on both backends.

* A Redis outage loses no ticket and sends no acknowledgement twice.
* A work horse killed in the middle of an SMTP delivery is retried by RQ and the requester
  gets exactly one acknowledgement.
* The SLA sweep, run twice and again by a restarted worker, reminds once per clock.
"""
import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

import psutil
import pytest
from aiosmtpd.controller import Controller
from rq.job import Job, JobStatus
from sqlalchemy import select

from conftest import free_port
from desk import jobs
from desk.audit.services import Actor
from desk.extensions import db
from desk.jobs import OutboxEntry
from desk.mail.models import OutboundMail
from desk.sla.models import SlaEvent, TicketClock
from desk.tickets.models import Ticket
from desk.types import utcnow

ROOT = Path(__file__).resolve().parent.parent


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def file_ticket(client, key, n=1):
    response = client.post("/api/v1/tickets", headers=bearer(key), json={
        "subject": f"Refill for order {1000 + n}", "body": "The likes dropped.",
        "requester": {"email": f"buyer{n}@example.com", "name": f"Buyer {n}"}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["reference"]


def wait_for(predicate, timeout, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class RecordingHandler:
    """An aiosmtpd handler that keeps every message it accepts. With block_first, the
    first DATA is never answered: it hangs until the client goes away (aiosmtpd then
    cancels the handler), so that message is never accepted."""

    def __init__(self, block_first=False):
        self.block_first = block_first
        self.lock = threading.Lock()
        self.accepted = []
        self.data_commands = 0
        self.first_blocked = threading.Event()
        self.first_cancelled = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.data_commands += 1
            number = self.data_commands
        if self.block_first and number == 1:
            self.first_blocked.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                self.first_cancelled.set()
                raise
        with self.lock:
            self.accepted.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def count(self):
        with self.lock:
            return len(self.accepted)

    def subjects(self):
        with self.lock:
            return [m["Subject"] for m in self.accepted]

    def message_ids(self):
        with self.lock:
            return [m["Message-ID"] for m in self.accepted]


class SmtpServer:
    def __init__(self, block_first=False):
        self.handler = RecordingHandler(block_first)
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    @property
    def settings(self):
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port}


def ack_mails(app):
    with app.app_context():
        return [(m.dedupe_key, m.status) for m in db.session.execute(
            select(OutboundMail).where(OutboundMail.dedupe_key.like("ack:%")).order_by(OutboundMail.id)).scalars()]


# --- 1. Redis outage -------------------------------------------------------------------


@pytest.mark.slow
def test_redis_outage_loses_no_ticket_and_sends_each_acknowledgement_once(make_app, own_redis, api_key,
                                                                           run_worker):
    with SmtpServer() as smtp:
        app = make_app(REDIS_URL=own_redis.url, **smtp.settings)
        client = app.test_client()
        key = api_key()
        own_redis.stop()

        refs = [file_ticket(client, key, n) for n in range(1, 6)]  # every one 201 with Redis down

        with app.app_context():
            tickets = db.session.execute(select(Ticket).where(Ticket.reference.in_(refs))).scalars().all()
            assert sorted(t.reference for t in tickets) == sorted(refs)
            assert all(t.acknowledged_at is None for t in tickets)
            entries = db.session.execute(select(OutboxEntry).order_by(OutboxEntry.id)).scalars().all()
            assert len(entries) == 5
            assert {e.func for e in entries} == {"workers.tickets.send_acknowledgement"}
            assert sorted(e.args[0] for e in entries) == sorted(t.id for t in tickets)
            for entry in entries:
                assert entry.status == "pending" and entry.sent_at is None
                assert entry.attempts == 1 and "ConnectionError" in entry.last_error
        assert ack_mails(app) == [] and smtp.handler.count() == 0

        own_redis.start()
        cli = app.test_cli_runner()
        first = cli.invoke(args=["desk", "relay-outbox"])
        assert first.exit_code == 0, first.output
        assert "Relayed 5 job(s); 0 still pending" in first.output
        second = cli.invoke(args=["desk", "relay-outbox"])  # nothing left: enqueues nothing
        assert second.exit_code == 0, second.output
        assert "Relayed 0 job(s); 0 still pending" in second.output
        with app.app_context():
            assert jobs.queue_for("default").count == 5
            assert {e.status for e in db.session.execute(select(OutboxEntry)).scalars()} == {"sent"}

        run_worker(app)

        def check_one_ack_each():
            with app.app_context():
                assert jobs.queue_for("default").count == 0
                assert jobs.queue_for("default").failed_job_registry.count == 0
                assert jobs.queue_for("default").finished_job_registry.count == 5
                for ref in refs:
                    ticket = db.session.execute(select(Ticket).where(Ticket.reference == ref)).scalar_one()
                    assert ticket.acknowledged_at is not None, ref
                    mails = db.session.execute(
                        select(OutboundMail).where(OutboundMail.ticket_id == ticket.id)).scalars().all()
                    assert [(m.dedupe_key, m.status) for m in mails] == [(f"ack:{ref}", "sent")]
                message_ids = db.session.execute(select(OutboundMail.message_id)).scalars().all()
            # The SMTP server got exactly one message per ticket, and they are these rows' mails.
            assert smtp.handler.count() == 5
            per_ref = Counter(s.split("]")[0].lstrip("[") for s in smtp.handler.subjects())
            assert per_ref == Counter({ref: 1 for ref in refs})
            assert sorted(smtp.handler.message_ids()) == sorted(message_ids)

        check_one_ack_each()

        # Again: a relay (nothing pending), and one as if a relay died after reaching Redis
        # but before marking its rows sent; then a worker. Nothing new is sent.
        again = cli.invoke(args=["desk", "relay-outbox"])
        assert again.exit_code == 0 and "Relayed 0 job(s); 0 still pending" in again.output
        with app.app_context():
            for entry in db.session.execute(select(OutboxEntry)).scalars():
                entry.status = "pending"
            db.session.commit()
            jobs.relay()
            assert {e.status for e in db.session.execute(select(OutboxEntry)).scalars()} == {"sent"}
        run_worker(app)
        check_one_ack_each()


# --- 2. Work horse killed mid-delivery -------------------------------------------------


def worker_environment(app, redis_url, smtp_port):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env.update({
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "DESK_INSTANCE_PATH": app.instance_path,
        "SECRET_KEY": app.config["SECRET_KEY"],
        "REDIS_URL": redis_url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "JOB_RETRY_INTERVALS": ",".join(str(i) for i in app.config["JOB_RETRY_INTERVALS"]),
        "PUBLIC_URL": app.config["PUBLIC_URL"],
        "PYTHONUNBUFFERED": "1",
    })
    return env


def horse_talking_to(worker: psutil.Process, port: int) -> psutil.Process | None:
    """The worker's child process holding a TCP connection to 127.0.0.1:port."""
    for child in worker.children(recursive=True):
        try:
            connections = child.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if any(c.raddr and c.raddr.port == port for c in connections):
            return child
    return None


def stop_process_tree(proc: subprocess.Popen, timeout=20):
    """SIGTERM the worker (a warm shutdown), SIGKILL it after `timeout`; then make sure
    none of its children (the scheduler, a horse) outlive it."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    _, alive = psutil.wait_procs(children, timeout=5)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


@pytest.mark.slow
def test_work_horse_killed_mid_delivery_is_retried_and_sends_one_acknowledgement(
        make_app, own_redis, api_key, tmp_path):
    with SmtpServer(block_first=True) as smtp:
        app = make_app(REDIS_URL=own_redis.url, JOB_RETRY_INTERVALS=(1,), **smtp.settings)
        ref = file_ticket(app.test_client(), api_key())
        with app.app_context():
            entry = db.session.execute(select(OutboxEntry)).scalar_one()
            assert entry.status == "sent"  # Redis was up: the job is queued
            job_id = entry.job_id
            ticket_id = entry.args[0]

        log_path = tmp_path / "worker.log"
        with open(log_path, "wb") as log_file:
            worker = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "desk", "desk", "worker"],
                cwd=ROOT, env=worker_environment(app, own_redis.url, smtp.port),
                stdout=log_file, stderr=subprocess.STDOUT)

        def worker_log():
            return log_path.read_text(errors="replace")

        try:
            # The first delivery hangs in DATA: the mail row is committed as pending.
            wait_for(lambda: smtp.handler.first_blocked.is_set() or worker.poll() is not None, 60,
                     what="the first SMTP DATA")
            assert worker.poll() is None, f"worker exited early ({worker.returncode})"
            assert ack_mails(app) == [(f"ack:{ref}", "pending")]

            found = []
            wait_for(lambda: found.append(horse_talking_to(psutil.Process(worker.pid), smtp.port)) or found[-1],
                     10, what="the work horse's SMTP connection")
            horse = found[-1]
            assert horse.pid != worker.pid and horse.ppid() == worker.pid
            os.kill(horse.pid, signal.SIGKILL)

            # The dropped connection cancels the blocked DATA; nothing was accepted.
            wait_for(smtp.handler.first_cancelled.is_set, 10, what="the SMTP server to see the connection drop")
            assert smtp.handler.count() == 0

            # RQ sees the dead horse, schedules the retry (1 s), its scheduler re-enqueues it,
            # and a new horse delivers the same mail row.
            wait_for(lambda: smtp.handler.count() >= 1 or worker.poll() is not None, 30,
                     what="the retried delivery")
            assert worker.poll() is None, f"worker exited ({worker.returncode})"

            conn = jobs.get_redis(app)
            wait_for(lambda: Job.fetch(job_id, connection=conn).get_status() == JobStatus.FINISHED, 30,
                     what=f"job {job_id} to finish")
            time.sleep(1.5)  # room for a duplicate delivery to show itself, were there one

            assert smtp.handler.count() == 1
            assert smtp.handler.data_commands == 2  # the killed attempt and the retry
            job = Job.fetch(job_id, connection=conn)
            assert job.get_status() == JobStatus.FINISHED
            assert job.retries_left == 0  # it finished on its retry
            with app.app_context():
                queue = jobs.queue_for("default")
                assert job_id not in queue.failed_job_registry.get_job_ids()
                assert queue.failed_job_registry.count == 0
                assert job_id in queue.finished_job_registry.get_job_ids()
                mail = db.session.execute(
                    select(OutboundMail).where(OutboundMail.ticket_id == ticket_id)).scalar_one()
                assert (mail.dedupe_key, mail.status) == (f"ack:{ref}", "sent")
                assert mail.sent_at is not None
                assert smtp.handler.message_ids() == [mail.message_id]
                assert smtp.handler.subjects() == [mail.subject]
                assert db.session.get(Ticket, ticket_id).acknowledged_at is not None
        except BaseException:
            print("---- worker output ----\n" + worker_log())
            raise
        finally:
            stop_process_tree(worker)
        # SIGTERM is a warm shutdown: the worker and its scheduler stop cleanly.
        assert worker.returncode == 0, f"worker exit {worker.returncode}\n{worker_log()}"


# --- 3. SLA sweep idempotent across a worker restart -----------------------------------


def assert_no_failed_jobs(app, caplog):
    """No job failed, whether it waits for a retry (scheduled) or gave up (failed); the
    message names each one, with the errors the worker logged."""
    with app.app_context():
        problems = []
        for name in jobs.QUEUES:
            queue = jobs.queue_for(name)
            for registry in (queue.failed_job_registry, queue.scheduled_job_registry):
                for job_id in registry.get_job_ids():
                    job = Job.fetch(job_id, connection=queue.connection)
                    problems.append(f"{job_id} {job.func_name}: {job.get_status()}")
    if problems:
        for record in caplog.records:
            if record.name.startswith("rq") and record.levelno >= logging.ERROR:
                lines = record.getMessage().strip().splitlines()
                problems.append(f"  worker log: {lines[0]} -> {lines[-1]}")
    assert not problems, "jobs failed:\n" + "\n".join(problems)


@pytest.mark.slow
def test_sla_sweep_reminds_once_across_repeated_sweeps_and_a_worker_restart(make_app, own_redis, run_worker,
                                                                            caplog):
    from desk.auth.services import create_staff
    from desk.tickets.services import NewTicket, create_ticket

    with SmtpServer() as smtp:
        # No SERVER_NAME: the worker's config is what `flask desk worker` builds from the environment.
        app = make_app(REDIS_URL=own_redis.url, **smtp.settings)
        with app.app_context():
            staff = [create_staff(f"{role}@desk.test", role, "correct horse battery staple", Actor("system")).id
                     for role in ("agent", "supervisor")]
            ticket, _ = create_ticket(NewTicket(subject="Order 1001 not delivered", body="Nothing yet.",
                                                requester_email="alice@example.com"), Actor("system"))
            ticket_id, ref = ticket.id, ticket.reference
            clock = db.session.execute(select(TicketClock).where(
                TicketClock.ticket_id == ticket_id, TicketClock.name == "first_response")).scalar_one()
            clock_id = clock.id
            now = utcnow()
            # 75% of the target has gone: the reminder is due, the breach is not.
            clock.warn_at = clock.next_check_at = now - timedelta(minutes=30)
            clock.due_at = now + timedelta(hours=2)
            db.session.commit()
            others = db.session.execute(select(TicketClock).where(
                TicketClock.ticket_id == ticket_id, TicketClock.id != clock_id)).scalars().all()
            assert all(c.next_check_at is None or c.next_check_at > now + timedelta(minutes=5) for c in others)

            sweeps = [jobs.enqueue("workers.sla.sweep", queue="high") for _ in range(2)]
            db.session.commit()
            assert jobs.dispatch() == 2
            sweep_ids = [e.job_id for e in sweeps]

        run_worker(app)
        assert_no_failed_jobs(app, caplog)

        def sla_state():
            with app.app_context():
                events = db.session.execute(select(SlaEvent).where(SlaEvent.clock_id == clock_id)).scalars().all()
                mails = db.session.execute(select(OutboundMail).where(OutboundMail.dedupe_key.like("sla:%"))
                                           .order_by(OutboundMail.id)).scalars().all()
                clock = db.session.get(TicketClock, clock_id)
                # The notice links to the ticket page, built from PUBLIC_URL (no request in a job).
                assert all(f"http://desk.test/tickets/{ref}" in m.body_text for m in mails)
                return ([(e.kind, e.id) for e in events], [(m.dedupe_key, m.status) for m in mails],
                        clock.reminded_at, clock.breached_at)

        events, mails, reminded_at, breached_at = sla_state()
        assert [kind for kind, _ in events] == ["reminder"]
        event_id = events[0][1]
        assert reminded_at is not None and breached_at is None
        assert sorted(mails) == sorted((f"sla:{event_id}:{sid}", "sent") for sid in staff)
        conn = jobs.get_redis(app)
        results = [Job.fetch(job_id, connection=conn).return_value() for job_id in sweep_ids]
        assert sorted(r["reminders"] for r in results) == [0, 1]
        sla_subjects = [s for s in smtp.handler.subjects() if "Reminder" in s]
        assert len(sla_subjects) == 2

        # A restarted worker (a new, forking one) meets another sweep and the notice job
        # delivered again (as RQ would after a crash): nothing is reminded or mailed twice.
        with app.app_context():
            jobs.enqueue("workers.sla.sweep", queue="high")
            db.session.commit()
            assert jobs.dispatch() == 1
            jobs.queue_for("high").enqueue("workers.sla.notify", event_id, job_id="notify-again")
        restarted = jobs.make_worker(app, simple=False)
        assert isinstance(restarted, jobs.DeskWorker)
        restarted.work(burst=True, with_scheduler=False)

        assert_no_failed_jobs(app, caplog)
        assert sla_state() == (events, mails, reminded_at, breached_at)
        assert len([s for s in smtp.handler.subjects() if "Reminder" in s]) == 2
        with app.app_context():
            assert jobs.queue_for("high").failed_job_registry.count == 0
            assert jobs.queue_for("high").count == 0
