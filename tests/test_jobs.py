"""RQ through the outbox, on real Redis: a real worker runs the acknowledgement job, and a
ticket filed while Redis is down is kept and its job runs once Redis is back."""
import pytest
from sqlalchemy import select

from desk import jobs
from desk.extensions import db
from desk.jobs import OutboxEntry
from desk.mail.models import OutboundMail
from desk.tickets.models import Ticket


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def file_ticket(client, key, subject="Refill for order 1001"):
    response = client.post("/api/v1/tickets", headers=bearer(key), json={
        "subject": subject, "body": "The likes dropped.", "requester": {"email": "bob@example.com", "name": "Bob"}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["reference"]


def test_worker_runs_the_acknowledgement_job(app, client, api_key, run_worker):
    ref = file_ticket(client, api_key())
    with app.app_context():
        assert jobs.queue_for("default").count == 1
    run_worker()
    with app.app_context():
        assert jobs.queue_for("default").finished_job_registry.get_job_ids() == ["outbox-1"]
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == ref)).scalar_one()
        assert ticket.acknowledged_at is not None
        mail = db.session.execute(select(OutboundMail)).scalar_one()
        assert mail.dedupe_key == f"ack:{ref}"
        assert mail.to_addr == "bob@example.com"
        assert mail.status == "logged"  # MAIL_SERVER unset: written to the log
        assert ref in mail.subject and "http://desk.test/t/" in mail.body_text
        assert jobs.queue_for("default").count == 0


def test_acknowledgement_job_is_idempotent(app, client, api_key, run_worker):
    file_ticket(client, api_key())
    run_worker()
    with app.app_context():
        # The same job delivered twice (a retry after a crash) sends one mail.
        entry = db.session.execute(select(OutboxEntry)).scalar_one()
        jobs.queue_for("default").enqueue(entry.func, *entry.args, job_id="again")
    run_worker()
    with app.app_context():
        assert db.session.query(OutboundMail).count() == 1


def test_staff_reply_notifies_requester_but_internal_note_does_not(app, client, api_key, run_worker):
    staff_key = api_key("staff")
    ref = file_ticket(client, api_key())
    client.post(f"/api/v1/tickets/{ref}/messages", headers=bearer(staff_key), json={"body": "We are on it."})
    client.post(f"/api/v1/tickets/{ref}/messages", headers=bearer(staff_key),
                json={"body": "Customer is a reseller", "internal": True})
    run_worker()
    with app.app_context():
        mails = db.session.execute(select(OutboundMail).order_by(OutboundMail.id)).scalars().all()
        assert [m.dedupe_key.split(":")[0] for m in mails] == ["ack", "reply"]
        assert "We are on it." in mails[1].body_text
        assert all("reseller" not in m.body_text for m in mails)


def test_enqueue_refuses_objects(app):
    with app.app_context():
        with pytest.raises(TypeError):
            jobs.enqueue("workers.tickets.send_acknowledgement", object())


@pytest.mark.slow
def test_ticket_survives_redis_outage_and_job_runs_when_redis_returns(make_app, own_redis, api_key, run_worker):
    app = make_app(REDIS_URL=own_redis.url)
    client = app.test_client()
    key = api_key()
    own_redis.stop()

    ref = file_ticket(client, key)  # Redis is down: intake must still succeed

    with app.app_context():
        entry = db.session.execute(select(OutboxEntry)).scalar_one()
        assert entry.status == "pending" and entry.attempts == 1
        assert "ConnectionError" in entry.last_error
        assert db.session.execute(select(Ticket).where(Ticket.reference == ref)).scalar_one()

    # A CLI relay while Redis is still down reports what is left and fails.
    result = app.test_cli_runner().invoke(args=["desk", "relay-outbox"])
    assert result.exit_code == 1 and "1 still pending" in result.output

    own_redis.start()
    result = app.test_cli_runner().invoke(args=["desk", "relay-outbox"])
    assert result.exit_code == 0, result.output
    assert "Relayed 1 job(s); 0 still pending" in result.output
    run_worker(app)
    with app.app_context():
        assert jobs.queue_for("default").finished_job_registry.count == 1
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == ref)).scalar_one()
        assert ticket.acknowledged_at is not None
        assert db.session.query(OutboundMail).count() == 1
        assert db.session.execute(select(OutboxEntry)).scalar_one().status == "done"  # the worker ran it


@pytest.mark.slow
def test_relay_is_safe_to_repeat(make_app, own_redis, api_key, run_worker):
    """A relay that reached Redis but died before marking the row sent must not run the job twice."""
    app = make_app(REDIS_URL=own_redis.url)
    file_ticket(app.test_client(), api_key())
    with app.app_context():
        entry = db.session.execute(select(OutboxEntry)).scalar_one()
        entry.status = "pending"  # as if the process died right after enqueueing
        db.session.commit()
        assert jobs.relay() == 1
        assert jobs.queue_for("default").count == 1
    run_worker(app)
    with app.app_context():
        assert db.session.query(OutboundMail).count() == 1


def test_an_intake_dying_between_its_commit_and_the_hand_off_loses_no_job(make_app, api_key, run_worker):
    """An intake writes its acknowledgement's row `sent` in its one commit and then hands
    the job to Redis (jobs.commit_and_dispatch). Should the process die in between, the row
    is `sent` with no job in Redis: the lost-job sweep leaves it alone for JOB_LOST_AFTER
    (the hand-off is still under way, as far as it knows), then sends it again, once."""
    app = make_app()
    ref = file_ticket(app.test_client(), api_key())
    with app.app_context():
        entry = db.session.execute(select(OutboxEntry)).scalar_one()
        assert (entry.status, entry.attempts) == ("sent", 1)
        queue = jobs.queue_for("default")
        assert queue.get_job_ids() == [entry.job_id]
        queue.fetch_job(entry.job_id).delete()  # as if the process had died before its pipeline reached Redis
        assert queue.get_job_ids() == []
        assert jobs.requeue_lost() == 0  # within JOB_LOST_AFTER (60 s): not yet taken for lost
    late = make_app(JOB_LOST_AFTER=0)
    result = late.test_cli_runner().invoke(args=["desk", "relay-outbox"])
    assert result.exit_code == 0 and "Relayed 1 job(s); 0 still pending" in result.output, result.output
    run_worker(late)
    with late.app_context():
        assert db.session.execute(select(OutboxEntry)).scalar_one().status == "done"
        assert db.session.execute(select(Ticket).where(Ticket.reference == ref)).scalar_one().acknowledged_at
        assert db.session.query(OutboundMail).count() == 1


def test_an_intakes_jobs_all_wait_while_redis_is_down_and_all_go_when_it_is_back(make_app, own_redis, api_key):
    """An intake with a webhook to tell enqueues two jobs (the acknowledgement, the event's
    fan-out), both written `sent` by its one commit. Redis up: both are in Redis. Redis
    down: the answer is still a 201 and both rows are back to `pending` with the error,
    for the relay, which sends both once Redis is back."""
    from desk.audit.services import Actor
    from desk.auth.services import create_staff
    from desk.webhooks.services import create_endpoint

    app = make_app(REDIS_URL=own_redis.url, WEBHOOK_ALLOW_PRIVATE=True)
    key = api_key()
    with app.app_context():
        admin = create_staff("hooks-admin@example.com", "admin", "a-long-enough-password", Actor("system"))
        create_endpoint("http://127.0.0.1:9/hooks", ["ticket.created"], "the panel", admin)
    file_ticket(app.test_client(), key, subject="While Redis is up")
    with app.app_context():
        rows = db.session.execute(select(OutboxEntry).order_by(OutboxEntry.id)).scalars().all()
        assert sorted(r.func for r in rows) == ["workers.tickets.send_acknowledgement", "workers.webhooks.fan_out"]
        assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}
        assert sorted(jobs.queue_for("default").get_job_ids()) == sorted(r.job_id for r in rows)
    own_redis.stop()
    file_ticket(app.test_client(), key, subject="While Redis is down")
    with app.app_context():
        rows = db.session.execute(select(OutboxEntry).where(OutboxEntry.status == "pending")).scalars().all()
        assert len(rows) == 2 and all(r.attempts == 1 and "ConnectionError" in r.last_error for r in rows)
    own_redis.start()
    result = app.test_cli_runner().invoke(args=["desk", "relay-outbox"])
    assert result.exit_code == 0 and "Relayed 2 job(s); 0 still pending" in result.output, result.output
    with app.app_context():
        assert set(db.session.execute(select(OutboxEntry.status)).scalars()) == {"sent"}


def test_periodic_relay_job(make_app, own_redis, api_key, run_worker):
    """workers.outbox.relay_outbox, run by a worker, moves rows left pending."""
    app = make_app(REDIS_URL=own_redis.url)
    own_redis.stop()
    file_ticket(app.test_client(), api_key())
    own_redis.start()
    with app.app_context():
        jobs.queue_for("low").enqueue("workers.outbox.relay_outbox")
    run_worker(app)  # runs the relay, then (same burst) the acknowledgement it enqueued
    with app.app_context():
        assert db.session.execute(select(OutboxEntry)).scalar_one().status == "done"
        assert db.session.query(OutboundMail).count() == 1


def test_forking_worker_runs_jobs_in_a_work_horse(app, client, api_key):
    """The production worker forks a work horse per job; the horse must get its own
    database connections and the app context built when the worker started."""
    ref = file_ticket(client, api_key())
    worker = jobs.make_worker(app, simple=False)
    assert isinstance(worker, jobs.DeskWorker)
    worker.work(burst=True, with_scheduler=False)
    with app.app_context():
        assert jobs.queue_for("default").finished_job_registry.count == 1
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == ref)).scalar_one()
        assert ticket.acknowledged_at is not None


def test_relay_pipelines_many_rows_across_queues_once(app, run_worker):
    """More rows than one pipeline holds, on two queues, some already in Redis: every row is
    marked sent, each job is queued once, and a worker runs each once."""
    count = jobs.RELAY_CHUNK + 120
    with app.app_context():
        entries = [jobs.enqueue("workers.outbox.relay_outbox", queue="low" if i % 3 else "high")
                   for i in range(count)]
        db.session.commit()
        held = entries[jobs.RELAY_CHUNK - 5]
        jobs.queue_for(held.queue).enqueue("workers.outbox.relay_outbox", job_id=held.job_id)
        assert jobs.relay(limit=count) == count
        pending = db.session.execute(select(OutboxEntry).where(OutboxEntry.status == "pending")).scalars().all()
        assert pending == []
        low, high = jobs.queue_for("low"), jobs.queue_for("high")
        assert low.count + high.count == count  # the held job is not pushed a second time
        assert high.count == len([e for e in entries if e.queue == "high"])
        assert sorted(low.get_job_ids() + high.get_job_ids()) == sorted(e.job_id for e in entries)
        assert jobs.relay() == 0  # nothing left to send
        job = high.fetch_job(entries[0].job_id)
        assert job.retries_left == len(app.config["JOB_RETRY_INTERVALS"])  # the retry policy travels


def test_the_periodic_schedule(app, run_worker):
    """workers/cron.py, as `rq cron` loads it: the SLA sweep every minute, the outbox relay
    every 30 s, the dormancy run daily at 19:00 UTC (03:00 in Singapore, outside support
    hours), expired privacy exports and spent portal tokens hourly, waiting tickets handed out
    every 5 minutes, the panel's status refresh every 10 minutes and the panel's and webhooks'
    sweeps of lost retries every 5; the jobs it enqueues run on a real worker."""
    from datetime import timezone
    from zoneinfo import ZoneInfo

    from rq.cron import CronScheduler

    with app.app_context():
        scheduler = CronScheduler(connection=jobs.get_redis())
        scheduler.load_config_from_file("workers.cron")
        plan = {job.to_dict()["func_name"]: job for job in scheduler.get_jobs()}
        assert {name: (job.to_dict()["queue_name"], job.to_dict()["interval"], job.to_dict()["cron"])
                for name, job in plan.items()} == {
            "workers.sla.sweep": ("high", 60, None),
            "workers.outbox.relay_outbox": ("default", 30, None),
            "workers.money.dormancy_run": ("low", None, "0 19 * * *"),
            "workers.privacy.expire_exports": ("low", 3600, None),
            "workers.portal.forget_spent_tokens": ("low", 3600, None),
            "workers.tickets.assign_waiting": ("default", 300, None),
            "workers.panel.refresh_open": ("low", 600, None),
            "workers.panel.sweep": ("low", 300, None),
            "workers.webhooks.sweep": ("low", 300, None),
        }
        daily = plan["workers.money.dormancy_run"].get_next_enqueue_time().astimezone(timezone.utc)
        assert (daily.hour, daily.minute) == (19, 0)
        assert daily.astimezone(ZoneInfo("Asia/Singapore")).hour == 3
        enqueued = {job.to_dict()["func_name"] for job in scheduler.enqueue_jobs()}
        assert {"workers.sla.sweep", "workers.outbox.relay_outbox", "workers.privacy.expire_exports"} <= enqueued
    run_worker()
    with app.app_context():
        assert jobs.queue_for("high").finished_job_registry.count >= 1
        assert jobs.queue_for("default").finished_job_registry.count >= 1
        assert jobs.queue_for("high").failed_job_registry.count == 0
        assert jobs.queue_for("low").failed_job_registry.count == 0
