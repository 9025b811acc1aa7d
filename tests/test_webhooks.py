"""Webhooks out (desk.webhooks) to a real receiver on loopback: admins register a URL (its
secret shown once), the services emit signed events in their own transaction, a real RQ
worker delivers them; the README's Python recipe verifies the signature as written; a
receiver that is down or failing gets retries with each attempt in the delivery log, and
"send again" sends an event anew. URLs that could reach the desk's own network are refused."""
import json
import re
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import Auth, alert, csrf_from, free_port, get_ok, ledger_entry as entry, post_form, text_of
from desk import jobs
from desk.extensions import db
from desk.types import utcnow
from desk.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

README = Path(__file__).resolve().parents[1] / "README.md"
ALL_EVENTS = ["ticket.created", "ticket.status_changed", "claim.decided", "money_request.approved",
              "enforcement.taken"]


def documented_recipe() -> dict:
    """The README's own Python for checking a delivery's signature, run as written."""
    section = README.read_text().split("### Webhooks out", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


verify = documented_recipe()["verify"]


class Receiver:
    """A webhook receiver on loopback: keeps what it is sent and answers as told (a status
    per request, or ("hang", seconds); 200 once the list is used up)."""

    def __init__(self, port: int | None = None):
        self.received: list[dict] = []
        self.answers: list = []
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                answer = receiver.answers.pop(0) if receiver.answers else 200
                if isinstance(answer, tuple):
                    receiver._release.wait(answer[1])
                    answer = 200
                payload = b'{"ok": true}' if answer < 300 else b"receiver broke: stack trace here"
                try:
                    self.send_response(answer)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/desk"

    def stop(self):
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def events(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.received]


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


HOOK_SETTINGS = {"WEBHOOK_ALLOW_PRIVATE": True, "WEBHOOK_RETRY_INTERVALS": (0, 0), "WEBHOOK_TIMEOUT": 0.5,
                 "JOB_RETRY_INTERVALS": [0]}


@pytest.fixture
def app(make_app):
    return make_app(**HOOK_SETTINGS)


def register(admin, url, events=ALL_EVENTS, description="The panel") -> tuple[str, str]:
    """Add a webhook on the admin page; (the page, the secret it showed)."""
    page = get_ok(admin, "/admin/webhooks")
    response = admin.post("/admin/webhooks", data={"csrf_token": csrf_from(page), "url": url, "events": events,
                                                   "description": description})
    page = text_of(response)
    secret = re.search(r'<pre class="secret">(whsec_[\w-]+)</pre>', page)
    return page, secret.group(1) if secret else ""


def deliveries(app) -> list[WebhookDelivery]:
    with app.app_context():
        rows = db.session.execute(select(WebhookDelivery).order_by(WebhookDelivery.id)).scalars().all()
        for row in rows:
            _ = (row.event.type, row.endpoint.url)
        db.session.expunge_all()
        return rows


def file_ticket(client, key, **fields):
    body = {"subject": "Order 1001 not delivered", "body": "Nothing arrived; my e-mail is alice@example.com.",
            "requester": {"email": "alice@example.com", "name": "Alice Example"}, "customer": "alice",
            "order": "1001"}
    body.update(fields)
    response = client.post("/api/v1/tickets", json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["reference"]


def test_a_registered_url_gets_signed_events_the_readme_recipe_verifies(app, auth, api_key, receiver, run_worker):
    admin = auth.client_for("admin")
    page, secret = register(admin, receiver.url)
    assert secret and "it is shown this once" in page
    assert secret not in get_ok(admin, "/admin/webhooks")  # never again
    with app.app_context():
        assert db.session.execute(select(WebhookEndpoint.events)).scalar_one() == sorted(ALL_EVENTS)
    ref = file_ticket(app.test_client(), api_key("panel"))
    run_worker()

    [request] = receiver.received
    assert request["path"] == "/hooks/desk" and request["headers"]["Content-Type"] == "application/json"
    header = request["headers"]["X-Desk-Signature"]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert verify(secret, header, request["body"])
    assert not verify(secret, header, request["body"].replace(b"T-", b"X-"))  # a changed body
    assert not verify("whsec_another", header, request["body"])
    stale = re.sub(r"t=(\d+)", lambda m: f"t={int(m.group(1)) - 600}", header)
    assert not verify(secret, stale, request["body"])  # too old (or replayed)
    [event] = receiver.events()
    assert event["type"] == "ticket.created" and event["id"].startswith("evt_")
    assert request["headers"]["X-Desk-Event-Id"] == event["id"]
    assert event["data"] == {"ticket": ref, "kind": "general", "queue": "support", "customer": "alice",
                             "order": "1001", "channel": "api", "status": "new"}
    # Ids and references only: nothing the person wrote, nor who they are.
    assert b"alice@example.com" not in request["body"] and b"Alice Example" not in request["body"]
    assert b"not delivered" not in request["body"] and b"Nothing arrived" not in request["body"]
    [delivery] = deliveries(app)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    page = get_ok(admin, "/admin/webhooks")
    assert '<span class="badge decision eligible">delivered</span>' in page and "HTTP 200" in page


def test_a_receiver_that_is_down_gets_retries_and_each_attempt_is_logged(app, auth, api_key, run_worker):
    port = free_port()  # nothing listens here yet
    admin = auth.client_for("admin")
    register(admin, f"http://127.0.0.1:{port}/hooks/desk", events=["ticket.created"])
    file_ticket(app.test_client(), api_key("panel"))
    run_worker()  # three attempts (WEBHOOK_RETRY_INTERVALS has two waits, of 0 s here)
    [delivery] = deliveries(app)
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert [a["n"] for a in delivery.log] == [1, 2, 3]
    assert all(a["error"].startswith("ConnectError") and a["status_code"] is None for a in delivery.log)
    page = get_ok(admin, "/admin/webhooks")
    assert '<span class="badge decision rejected">failed</span>' in page
    assert page.count("ConnectError") == 3 and "Send again" in page
    # The receiver is back: "send again" delivers the same event (same id) as a new delivery.
    receiver = Receiver(port)
    try:
        response = post_form(admin, "/admin/webhooks", {}, post_url=f"/admin/webhooks/deliveries/{delivery.id}/resend")
        assert response.status_code == 302
        run_worker()
        first, again = deliveries(app)
        assert (again.status, again.attempts, again.resend_of_id) == ("delivered", 1, first.id)
        assert first.status == "failed" and len(first.log) == 3
        [event] = receiver.events()
        assert event["id"] == first.event.uid
    finally:
        receiver.stop()


def test_errors_and_timeouts_are_retried_until_a_2xx(app, auth, api_key, receiver, run_worker):
    receiver.answers = [500, ("hang", 3)]
    admin = auth.client_for("admin")
    _, secret = register(admin, receiver.url, events=["ticket.created"])
    file_ticket(app.test_client(), api_key("panel"))
    run_worker()
    [delivery] = deliveries(app)
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert [(a["status_code"], a["error"]) for a in delivery.log] == [
        (500, "HTTP 500"), (None, "no answer within 0.5 s"), (200, None)]
    assert delivery.log[0]["response"] == "receiver broke: stack trace here"
    headers = [r["headers"]["X-Desk-Signature"] for r in receiver.received]
    assert all(verify(secret, h, r["body"]) for h, r in zip(headers, receiver.received))
    assert len({json.loads(r["body"])["id"] for r in receiver.received}) == 1  # one event, three tries


def test_retries_wait_on_the_scheduler_and_a_lost_one_is_found_again(make_app, api_key, receiver, run_worker):
    app = make_app(**{**HOOK_SETTINGS, "WEBHOOK_RETRY_INTERVALS": (60,)})
    receiver.answers = [503]
    admin = Auth(app, app.test_client()).client_for("admin")
    register(admin, receiver.url, events=["ticket.created"])
    file_ticket(app.test_client(), api_key("panel"))
    run_worker(app)
    [delivery] = deliveries(app)
    assert (delivery.status, delivery.attempts) == ("retrying", 1)
    wait = delivery.next_retry_at - utcnow()
    assert timedelta(seconds=40) < wait <= timedelta(seconds=72)  # 60 s, jittered ±20%
    with app.app_context():
        assert jobs.queue_for("default").scheduled_job_registry.count == 1
        from workers.webhooks import deliver, sweep

        assert deliver(delivery.id, 1) == f"delivery {delivery.id}: attempt 1 not due, nothing sent"
        assert sweep() == "0 delivery(ies) resumed"
        db.session.execute(db.update(WebhookDelivery).values(next_retry_at=utcnow() - timedelta(minutes=10)))
        db.session.commit()
        assert sweep() == "1 delivery(ies) resumed"
    run_worker(app)
    [delivery] = deliveries(app)
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert len(receiver.received) == 2


def test_each_kind_of_event_is_emitted_where_it_happens(app, auth, panel, receiver, run_worker):
    from test_abuse_enforcement import act, bob_case
    from test_claims_ui import decide

    admin = auth.client_for("admin")
    register(admin, receiver.url)
    # ticket.status_changed: an agent resolves a ticket.
    ref = file_ticket(app.test_client(), panel.key)
    agent = auth.client_for("agent")
    post_form(agent, f"/tickets/{ref}", {"status": "resolved", "priority": "normal", "tags": ""},
              post_url=f"/tickets/{ref}/update")
    # claim.decided: an agent accepts an eligible refill.
    panel.customer("alice")
    panel.order("1001", tool={"id": "17", "name": "Likes", "refill": True, "refill_days": 30})
    claim = panel.post("/claims", {"order": "1001", "kind": "refill", "current_count": 1050}).get_json()
    decide(agent, claim["reference"], "accepted")
    # money_request.approved: the customer confirmed the figures through the API; an agent approves.
    panel.ledger(entry("alice-d1", "deposit", "100.00", processor_fee="3.20"))
    money = panel.post("/refunds", {"customer": "alice", "method": "original", "confirmed_amount": "96.80"}).get_json()
    post_form(agent, f"/tickets/{money['reference']}", {"reason": ""},
              post_url=f"/tickets/{money['reference']}/money/approve")
    # enforcement.taken: trust & safety suspend an account.
    case = bob_case(app, app.test_client(), panel)
    act(auth.client_for("trust_safety"), case, action="suspend")
    run_worker()

    events = receiver.events()
    by_type = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event["data"])
    assert set(by_type) == set(ALL_EVENTS)
    assert {"ticket": ref, "kind": "general", "queue": "support", "customer": "alice", "order": "1001",
            "before": "new", "after": "resolved"} in by_type["ticket.status_changed"]
    [decided] = by_type["claim.decided"]
    assert decided["ticket"] == claim["reference"] and decided["claim_kind"] == "refill"
    assert (decided["decision"], decided["outcome"], decided["overridden"]) == ("eligible", "accepted", False)
    assert "terms-10-refill" in decided["rules"] and decided["refill_quantity"] == 50
    [approved] = by_type["money_request.approved"]
    assert (approved["ticket"], approved["request_kind"], approved["amount"]) == (money["reference"], "refund",
                                                                                  "96.80")
    [taken] = by_type["enforcement.taken"]
    assert (taken["measure"], taken["rule"], taken["customer"]) == ("suspend", "aup-5.3-enforcement", "bob")
    # The abuse report's own ticket is in a restricted queue: no ticket events, nor the reporter's words.
    assert all(e["data"].get("queue") in (None, "support", "claims", "billing") for e in events)
    everything = json.dumps(events)
    assert "reporter@watchdog.example" not in everything and "investment" not in everything
    assert "alice@" not in everything and "bob@" not in everything


def test_an_endpoint_gets_only_its_events_and_none_once_turned_off(app, auth, api_key, receiver, run_worker):
    admin = auth.client_for("admin")
    register(admin, receiver.url, events=["claim.decided"])
    file_ticket(app.test_client(), api_key("panel"))
    run_worker()
    assert receiver.received == []
    with app.app_context():
        assert db.session.query(WebhookEvent).count() == 0  # nobody wanted it: nothing stored
        endpoint_id = db.session.execute(select(WebhookEndpoint.id)).scalar_one()
    register(admin, receiver.url, events=["ticket.created"])
    post_form(admin, "/admin/webhooks", {}, post_url=f"/admin/webhooks/{endpoint_id + 1}/active")  # turn off
    file_ticket(app.test_client(), api_key("panel"))
    run_worker()
    assert receiver.received == []
    page = get_ok(admin, "/admin/webhooks")
    assert "Turn on" in page and "Turn off" in page


@pytest.mark.parametrize("url, problem", [
    ("ftp://panel.example/hooks", "http:// or https://"),
    ("javascript:alert(1)", "http:// or https://"),
    ("https://user:pw@hooks.example/x", "Leave the user name and password out"),
    ("http://127.0.0.1:8080/hooks", "127.0.0.1, an address on a private network"),
    ("http://localhost:8080/hooks", "an address on a private network, loopback or reserved"),
    ("http://10.1.2.3/hooks", "10.1.2.3, an address on a private network"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
    ("http://[::1]/hooks", "::1"),
    ("http://[::ffff:192.168.1.1]/x", "192.168.1.1"),
    ("http://0.0.0.0/", "0.0.0.0"),
    ("https://panel.example:99999/x", "its port (1 to 65535)"),
    ("http://[::1/hooks", "cannot be read"),
])
def test_urls_that_could_reach_the_desks_own_network_are_refused(make_app, url, problem):
    app = make_app(WEBHOOK_ALLOW_PRIVATE=False)
    admin = Auth(app, app.test_client()).client_for("admin")
    page = get_ok(admin, "/admin/webhooks")
    response = admin.post("/admin/webhooks", data={"csrf_token": csrf_from(page), "url": url,
                                                   "events": ["ticket.created"]})
    assert response.status_code == 422
    assert problem in alert(text_of(response))
    with app.app_context():
        assert db.session.query(WebhookEndpoint).count() == 0


def test_a_webhook_needs_an_event_and_only_admins_manage_them(app, auth, receiver):
    admin = auth.client_for("admin")
    page = get_ok(admin, "/admin/webhooks")
    response = admin.post("/admin/webhooks", data={"csrf_token": csrf_from(page), "url": receiver.url})
    assert response.status_code in (400, 422)
    for role in ("agent", "supervisor", "trust_safety"):
        assert auth.client_for(role).get("/admin/webhooks").status_code == 403


def test_private_addresses_are_checked_again_before_sending(make_app, api_key, receiver, run_worker):
    app = make_app(**{**HOOK_SETTINGS, "WEBHOOK_RETRY_INTERVALS": ()})
    admin = Auth(app, app.test_client()).client_for("admin")
    register(admin, receiver.url, events=["ticket.created"])  # allowed while the setting was on
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    file_ticket(app.test_client(), api_key("panel"))
    run_worker(app)
    [delivery] = deliveries(app)
    assert delivery.status == "failed" and delivery.log[0]["error"].startswith("not sent: 127.0.0.1 is 127.0.0.1")
    assert receiver.received == []


def test_a_delivery_job_run_twice_posts_once(app, auth, api_key, receiver, run_worker):
    register(auth.client_for("admin"), receiver.url, events=["ticket.created"])
    file_ticket(app.test_client(), api_key("panel"))
    run_worker()
    [delivery] = deliveries(app)
    with app.app_context():
        jobs.queue_for("default").enqueue("workers.webhooks.deliver", delivery.id, 1, job_id="again")
        jobs.queue_for("default").enqueue("workers.webhooks.fan_out", delivery.event.uid, job_id="fan-again")
    run_worker()
    assert len(receiver.received) == 1 and len(deliveries(app)) == 1


def test_an_endpoint_added_in_another_process_gets_events_within_the_settings_cache(app, make_app):
    """Every ticket filed asks which events some endpoint takes, so each process remembers
    that for SETTINGS_CACHE_SECONDS: an endpoint written by this process counts at once,
    one written by another when what this one remembers expires."""
    from conftest import file_ticket as file_one  # the service every intake goes through
    from desk.remembered import forget
    from desk.webhooks.services import SUBSCRIBED

    web = make_app(SETTINGS_CACHE_SECONDS=3600)  # a gunicorn worker that filed a ticket a moment ago
    uncached = make_app(SETTINGS_CACHE_SECONDS=0)

    def file_and_count(where) -> int:
        file_one(where)
        with app.app_context():
            return len(db.session.execute(select(WebhookEvent.id)).all())

    assert file_and_count(web) == 0  # no endpoint: web remembers that
    with app.app_context():  # an admin, in another process
        db.session.add(WebhookEndpoint(url="https://hooks.example.com/desk", events=["ticket.created"],
                                       secret="whsec_test"))
        db.session.commit()
    assert file_and_count(uncached) == 1
    assert file_and_count(web) == 1  # until web's remembered events expire
    with web.app_context():
        forget(SUBSCRIBED)
    assert file_and_count(web) == 2
    with web.app_context():  # switched off by web itself: counts there at once
        db.session.execute(select(WebhookEndpoint)).scalar_one().active = False
        db.session.commit()
    assert file_and_count(web) == 2
