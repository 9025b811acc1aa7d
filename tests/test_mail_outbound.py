"""Outbound mail end to end (issue 8): notices rendered from desk/templates/mail/, sent by
the real RQ worker over SMTP to a real aiosmtpd server on loopback, threaded with
Message-ID / In-Reply-To / References, the ticket reference in the subject; temporary
refusals retried by RQ, permanent ones not; written to the log with no relay."""
import logging
import threading
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime
from urllib.parse import urlparse

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from conftest import free_port, get_ok, post_form
from desk import jobs
from desk.extensions import db
from desk.jobs import OutboxEntry
from desk.mail.models import OutboundMail
from desk.mail.outbound import compose
from desk.tickets.models import Ticket

REQUESTER = "bob@example.com"


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts. `rcpt_replies` / `data_replies`
    are answers it gives (in order) before it starts accepting: "451 …", "550 …"."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received = []  # (envelope sender, recipients, parsed message)
        self.rcpt_replies, self.data_replies = [], []
        self.rcpt_commands = self.data_commands = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            self.rcpt_commands += 1
            if self.rcpt_replies:
                return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.data_commands += 1
            if self.data_replies:
                return self.data_replies.pop(0)
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos),
                                  message_from_bytes(envelope.content.replace(b"\r\n", b"\n"),
                                                     policy=policy.default)))
        return "250 Message accepted for delivery"

    def messages(self):
        with self.lock:
            return [m for _, _, m in self.received]


@pytest.fixture
def smtp():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def mail_app(make_app, smtp):
    # Retries at once, so one burst of the worker runs a job and its retry.
    return make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, MAIL_FROM="Support <support@desk.test>",
                    JOB_RETRY_INTERVALS=[0])


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def file_ticket(client, key, subject="Refill for order 1001"):
    response = client.post("/api/v1/tickets", headers=bearer(key), json={
        "subject": subject, "body": "The likes dropped.", "requester": {"email": REQUESTER, "name": "Bob"}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["reference"]


def rows(app, prefix=""):
    with app.app_context():
        found = db.session.execute(select(OutboundMail).where(OutboundMail.dedupe_key.startswith(prefix))
                                   .order_by(OutboundMail.id)).scalars().all()
        db.session.expunge_all()
        return found


def staff_login(app):
    from conftest import Auth

    client = app.test_client()
    Auth(app, client).login("agent")
    return client


def staff_reply(client, ref, body, status=""):
    response = post_form(client, f"/tickets/{ref}", {"body": body, "status": status},
                         post_url=f"/tickets/{ref}/reply")
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def update(client, ref, status):
    response = post_form(client, f"/tickets/{ref}", {"status": status, "priority": "normal", "tags": ""},
                         post_url=f"/tickets/{ref}/update")
    assert response.status_code == 302


def failed_jobs(app):
    with app.app_context():
        return jobs.queue_for("default").failed_job_registry.get_job_ids()


def test_acknowledgement_is_received_with_reference_message_id_and_link(mail_app, smtp, api_key, run_worker):
    client = mail_app.test_client()
    ref = file_ticket(client, api_key())
    run_worker(mail_app)

    [(sender, recipients, msg)] = smtp.received
    [row] = rows(mail_app)
    assert (sender, recipients) == ("support@desk.test", [REQUESTER])
    assert msg["From"] == "Support <support@desk.test>" and msg["To"] == REQUESTER
    assert msg["Subject"] == f"[{ref}] We received your request"
    assert msg["Message-ID"] == row.message_id and msg["Message-ID"].endswith("@desk.test>")
    assert msg["Auto-Submitted"] == "auto-replied"  # RFC 3834: it answers what Bob sent
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["In-Reply-To"] is None and msg["References"] is None  # a web ticket: nothing to answer
    assert parsedate_to_datetime(msg["Date"]).tzinfo is not None
    body = msg.get_content()
    assert body.startswith("Hello Bob,\n")
    assert f'We have received your request "Refill for order 1001" and filed it as {ref}.' in body
    link = next(line for line in body.splitlines() if line.startswith("http://desk.test/t/"))
    # The link opens Bob's ticket.
    assert "Refill for order 1001" in get_ok(client, urlparse(link).path)
    assert (row.status, row.attempts, row.last_error, row.auto) == ("sent", 1, None, True)
    with mail_app.app_context():
        assert db.session.execute(select(Ticket.acknowledged_at).where(Ticket.reference == ref)).scalar() is not None


def test_agent_reply_threads_on_the_acknowledgement_and_is_not_auto_submitted(mail_app, smtp, api_key,
                                                                             run_worker):
    ref = file_ticket(mail_app.test_client(), api_key())
    run_worker(mail_app)
    agent = staff_login(mail_app)
    staff_reply(agent, ref, "We have **refilled** the order.", status="resolved")
    run_worker(mail_app)

    ack, reply, survey = smtp.messages()
    assert reply["Subject"] == f"[{ref}] Refill for order 1001"  # the reference once, not twice
    assert reply["In-Reply-To"] == ack["Message-ID"]
    assert reply["References"] == ack["Message-ID"]
    assert reply["Message-ID"] not in (ack["Message-ID"], None)
    assert reply["Auto-Submitted"] is None and reply["X-Auto-Response-Suppress"] is None  # a person wrote it
    body = reply.get_content()
    assert "We have refilled the order." in body  # the Markdown as text
    assert f"Reply or follow {ref} here:\nhttp://desk.test/t/" in body
    # Resolved by the reply itself: the reply is the only notice of that change; the
    # satisfaction survey (desk.csat) follows it, automatic.
    assert [r.dedupe_key.split(":")[0] for r in rows(mail_app)] == ["ack", "reply", "csat"]
    assert rows(mail_app, "reply:")[0].auto is False
    assert survey["Subject"] == f"[{ref}] How did we do?" and survey["Auto-Submitted"] == "auto-generated"


def test_reply_answers_the_requesters_latest_email_and_references_the_thread(mail_app, smtp, api_key,
                                                                            run_worker):
    ref = file_ticket(mail_app.test_client(), api_key())
    run_worker(mail_app)
    agent = staff_login(mail_app)
    staff_reply(agent, ref, "Which post is it?")
    run_worker(mail_app)
    # Bob answers by e-mail, piped in as the MTA would: it joins the ticket by its subject.
    answer = (f"From: {REQUESTER}\r\nTo: support@mail.smmpanelus.com\r\nSubject: Re: [{ref}] Which post?\r\n"
              "Message-ID: <CAF-friday@mail.example.com>\r\n\r\nThe one from Friday.\r\n").encode()
    piped = mail_app.test_cli_runner().invoke(args=["desk", "ingest-mail", "-r", "support@mail.smmpanelus.com"],
                                              input=answer)
    assert piped.output.startswith(f"threaded {ref}"), piped.output
    staff_reply(agent, ref, "Refilled, thank you.")
    run_worker(mail_app)

    ack, first, second = smtp.messages()
    assert first["In-Reply-To"] == ack["Message-ID"]
    assert second["In-Reply-To"] == "<CAF-friday@mail.example.com>"
    assert second["References"].split() == [ack["Message-ID"], first["Message-ID"], "<CAF-friday@mail.example.com>"]


def test_references_keep_the_first_message_and_the_latest(make_app, make_ticket):
    app = make_app(AUTO_REPLY_MAX_PER_HOUR=100)  # twelve notices in a row: the cap is not this test's
    ref = make_ticket(requester_email=REQUESTER)
    with app.app_context():
        ticket_id = db.session.execute(select(Ticket.id).where(Ticket.reference == ref)).scalar_one()
        earlier = [compose(f"test:{n}", REQUESTER, f"Notice {n}", "Body", ticket_id).message_id for n in range(12)]
        other = compose("test:other", "someone-else@example.com", "Not Bob's", "Body", ticket_id)
        mail = compose("test:last", REQUESTER.upper(), f"[{ref}] Last", "Body", ticket_id)
        assert mail.subject == f"[{ref}] Last"
        assert compose("test:0", REQUESTER, "again", "Body", ticket_id).subject == f"[{ref}] Notice 0"
        assert mail.in_reply_to == earlier[-1]
        assert mail.references.split() == [earlier[0]] + earlier[-9:]  # ten ids
        assert other.in_reply_to is None  # a thread is per correspondent
        db.session.rollback()


def test_status_change_notice_once_per_change(mail_app, smtp, api_key, run_worker):
    ref = file_ticket(mail_app.test_client(), api_key())
    run_worker(mail_app)
    agent = staff_login(mail_app)
    update(agent, ref, "on_hold")  # internal transitions: no mail
    update(agent, ref, "open")
    update(agent, ref, "resolved")
    run_worker(mail_app)

    ack, resolved, survey = smtp.messages()  # the survey (desk.csat) comes after the notice
    assert resolved["Subject"] == f"[{ref}] Resolved: Refill for order 1001"
    assert resolved["Auto-Submitted"] == "auto-generated" and resolved["X-Auto-Response-Suppress"] == "All"
    assert resolved["In-Reply-To"] == ack["Message-ID"]
    body = resolved.get_content()
    assert f'We have marked your request "Refill for order 1001" ({ref}) as resolved.' in body
    assert "http://desk.test/t/" in body

    # The same job again (a retry after a crash): nothing new.
    with mail_app.app_context():
        entry = db.session.execute(select(OutboxEntry).where(
            OutboxEntry.func == "workers.tickets.notify_status")).scalar_one()
        jobs.queue_for("default").enqueue(entry.func, *entry.args, job_id="again")
    run_worker(mail_app)
    assert len(smtp.messages()) == 3

    update(agent, ref, "closed")  # resolved → closed: Bob has heard already
    update(agent, ref, "open")
    update(agent, ref, "closed")  # closed again after reopening: a new change, a new notice
    run_worker(mail_app)
    *_, closed = smtp.messages()
    assert len(smtp.messages()) == 4
    assert closed["Subject"] == f"[{ref}] Closed: Refill for order 1001"
    assert f'Your request "Refill for order 1001" ({ref}) is now closed.' in closed.get_content()
    assert closed["References"].split() == [ack["Message-ID"], resolved["Message-ID"], survey["Message-ID"]]
    assert [r.dedupe_key.split(":")[0] for r in rows(mail_app)] == ["ack", "status", "csat", "status"]


def test_status_notice_not_sent_when_reopened_before_it_went(mail_app, smtp, api_key, run_worker):
    ref = file_ticket(mail_app.test_client(), api_key())
    agent = staff_login(mail_app)
    update(agent, ref, "resolved")
    update(agent, ref, "open")
    run_worker(mail_app)
    assert [m["Subject"] for m in smtp.messages()] == [f"[{ref}] We received your request"]


def test_temporary_refusal_is_retried_and_sent_once(mail_app, smtp, api_key, run_worker):
    smtp.data_replies.append("451 4.3.0 Mailbox busy, try again later")
    ref = file_ticket(mail_app.test_client(), api_key())
    run_worker(mail_app)  # the job fails, RQ enqueues its retry (interval 0), the worker runs it

    assert smtp.data_commands == 2
    [msg] = smtp.messages()
    [row] = rows(mail_app)
    assert msg["Subject"] == f"[{ref}] We received your request" and msg["Message-ID"] == row.message_id
    assert (row.status, row.attempts) == ("sent", 2)
    assert row.last_error.startswith("451 4.3.0 Mailbox busy")
    assert failed_jobs(mail_app) == []


def test_relay_down_keeps_the_mail_pending_until_it_is_back(make_app, api_key, run_worker):
    port = free_port()  # nothing listens here yet
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, JOB_RETRY_INTERVALS=[0])
    ref = file_ticket(app.test_client(), api_key())
    run_worker(app)  # connection refused, and again on the retry: the job is listed as failed
    [row] = rows(app)
    assert (row.status, row.attempts) == ("pending", 2) and "ConnectionRefusedError" in row.last_error
    [job_id] = failed_jobs(app)

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with app.app_context():
            jobs.queue_for("default").failed_job_registry.requeue(job_id)  # what /admin/jobs "retry" does
        run_worker(app)
        [msg] = box.messages()
        assert msg["Subject"] == f"[{ref}] We received your request"
        [row] = rows(app)
        assert (row.status, row.attempts) == ("sent", 3) and msg["Message-ID"] == row.message_id
    finally:
        controller.stop()


@pytest.mark.parametrize("stage, reply", [("rcpt", "550 5.1.1 <bob@example.com>: no such user"),
                                          ("data", "554 5.7.1 Message rejected as spam")])
def test_permanent_refusal_fails_the_mail_without_retry(mail_app, smtp, api_key, run_worker, stage, reply):
    (smtp.rcpt_replies if stage == "rcpt" else smtp.data_replies).append(reply)
    file_ticket(mail_app.test_client(), api_key())
    run_worker(mail_app)

    assert smtp.messages() == []
    assert (smtp.rcpt_commands, smtp.data_commands) == ((1, 0) if stage == "rcpt" else (1, 1))  # tried once
    [row] = rows(mail_app)
    assert (row.status, row.attempts, row.sent_at) == ("failed", 1, None)
    assert reply in row.last_error
    assert failed_jobs(mail_app) == []  # the job did its work: no retry, nothing for an admin to requeue
    run_worker(mail_app)
    assert smtp.rcpt_commands == 1


def test_mail_already_sent_is_not_sent_again(mail_app, smtp, api_key, run_worker):
    file_ticket(mail_app.test_client(), api_key())
    run_worker(mail_app)
    [row] = rows(mail_app)
    with mail_app.app_context():
        queue = jobs.queue_for("default")
        queue.enqueue("workers.mail.deliver", row.id, job_id="deliver-again")
        queue.enqueue("workers.tickets.send_acknowledgement", row.ticket_id, job_id="ack-again")
    run_worker(mail_app)
    assert len(smtp.messages()) == 1 and smtp.data_commands == 1
    with mail_app.app_context():
        assert jobs.queue_for("default").fetch_job("deliver-again").return_value() == "sent"
    assert [(r.status, r.attempts) for r in rows(mail_app)] == [("sent", 1)]


def test_without_a_relay_the_mail_is_written_to_the_log(app, api_key, run_worker, caplog):
    caplog.set_level(logging.INFO, logger="desk.mail.outbound")
    ref = file_ticket(app.test_client(), api_key())
    run_worker()
    [record] = [r for r in caplog.records if r.name == "desk.mail.outbound"]
    assert record.levelno == logging.INFO
    text = record.getMessage()
    [row] = rows(app)
    assert text.startswith("mail (not sent: MAIL_SERVER unset)\n")
    assert f"Subject: [{ref}] We received your request" in text
    assert f"Message-ID: {row.message_id}" in text and "Auto-Submitted: auto-replied" in text
    assert f"To: {REQUESTER}" in text and "http://desk.test/t/" in text
    assert (row.status, row.attempts) == ("logged", 1)
