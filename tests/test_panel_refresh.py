"""The status refresh (desk.panel.refresh) against a real API-v2 server on loopback: the
orders open tickets are about, 100 per `status` call, written through the mirror's own
update path (status history, finished_at, audit), run by the schedule's job on a real
worker, by `flask desk panel-refresh` with its progress bar, by an admin's "Refresh now"
(the run's state on /admin/panel), and for one order from the ticket page."""
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from conftest import Auth, alert, csrf_from, get_ok, iso, post_form, text_of
from desk.audit.models import AuditEvent
from desk.audit.services import SYSTEM
from desk.claims.models import Order
from desk.claims.orders import apply_batch, find_order, parse_order
from desk.extensions import db
from desk.panel.models import PanelCall, PanelRefresh
from desk.tickets.models import Ticket
from desk.tickets.services import NewTicket, open_ticket
from desk.types import utcnow
from panel_server import KEY, FakePanel, order_answer


@pytest.fixture
def fake():
    server = FakePanel().start()
    yield server
    server.stop()


def panel_settings(fake, **more) -> dict:
    settings = {"PANEL_API_URL": fake.url, "PANEL_API_KEY": KEY, "PANEL_API_TIMEOUT": 2.0, "PANEL_API_RETRIES": 2,
                "PANEL_API_BACKOFF": 0.01, "PANEL_API_RATE": 0, "JOB_RETRY_INTERVALS": [0]}
    settings.update(more)
    return settings


@pytest.fixture
def app(make_app, fake):
    return make_app(**panel_settings(fake))


def order_body(status="pending", customer="alice", **fields) -> dict:
    now = utcnow()
    body = {"customer": customer, "link": "https://www.instagram.com/p/X/", "quantity": 1000, "charge": "2.50",
            "start_count": 100, "remains": 1000 if status == "pending" else 0, "status": status,
            "created_at": iso(now - timedelta(hours=5)), "tool": {"id": "1", "name": "Likes"}}
    body.update(fields)
    return body


def orders_with_tickets(app, ids, status="pending", ticket=True, **fields):
    """Orders in the mirror (as the panel's feed leaves them), each with an open ticket about it."""
    with app.app_context():
        rows = []
        for panel_id in ids:
            data, problems = parse_order(order_body(status, link=f"https://www.instagram.com/p/P{panel_id}/", **fields))
            assert not problems, problems
            rows.append((panel_id, data))
        apply_batch(rows, SYSTEM)
        references = []
        for panel_id in ids if ticket else ():
            found, _ = open_ticket(NewTicket(subject=f"Where is order {panel_id}?", body="It has not started.",
                                             requester_email="alice@example.com", customer="alice", order=panel_id,
                                             acknowledge=False), SYSTEM)
            references.append(found.reference)
        db.session.commit()
        return references


def order_state(app, panel_id):
    with app.app_context():
        order = find_order(panel_id)
        return order.status, order.remains, order.start_count, order.finished_at, [h.status for h in order.history]


def runs(app):
    with app.app_context():
        rows = db.session.execute(select(PanelRefresh).order_by(PanelRefresh.id)).scalars().all()
        db.session.expunge_all()
        return rows


def test_the_schedule_refreshes_the_orders_of_open_tickets_through_the_mirror(app, fake, run_worker):
    orders_with_tickets(app, ["1001", "1002", "1003"])
    orders_with_tickets(app, ["1004"], ticket=False)  # no ticket: not asked about
    [resolved] = orders_with_tickets(app, ["1005"])
    with app.app_context():  # nor an order whose only ticket is resolved
        db.session.execute(select(Ticket).where(Ticket.reference == resolved)).scalar_one().status = "resolved"
        db.session.commit()
    fake.orders.update({
        "1001": order_answer("In progress", charge="2.50", start_count="120", remains="640"),
        "1002": order_answer("Completed", charge="2.49999", start_count="100", remains="0"),
        "1003": order_answer("Pending", charge="2.4", start_count="100", remains="1000"),
        "1004": order_answer("Completed"),
    })
    with app.app_context():
        from desk import jobs

        jobs.queue_for("low").enqueue("workers.panel.refresh_open")
    run_worker()

    assert order_state(app, "1001")[:3] == ("in_progress", 640, 120)
    status, remains, _, finished, history = order_state(app, "1002")
    assert (status, remains) == ("completed", 0) and history == ["pending", "completed"]
    assert finished is not None and utcnow() - finished < timedelta(minutes=1)  # the claim window counts from now
    assert order_state(app, "1003")[0] == "pending" and order_state(app, "1004")[0] == "pending"
    [call] = [r["form"] for r in fake.requests]
    assert call["action"] == "status" and call["orders"] == "1001,1002,1003" and "order" not in call
    [run] = runs(app)
    assert (run.trigger, run.status, run.total, run.done, run.calls) == ("schedule", "finished", 3, 3, 1)
    assert (run.changed, run.unchanged, run.errors) == (2, 1, 0)
    # 2.49999 is 2.50 to the cent (half up): no note; 2.4 differs from the mirror's 2.50, which is kept.
    assert run.message == "1003: the panel's charge 2.4 (2.40) differs from the mirror's 2.50, which is kept"
    with app.app_context():
        assert find_order("1003").charge == find_order("1002").charge
        events = db.session.execute(select(AuditEvent).where(AuditEvent.action == "order.status")
                                    .order_by(AuditEvent.id)).scalars().all()
        assert [(e.subject_id, e.data, e.actor_label) for e in events] == [
            ("1001", {"before": "pending", "after": "in_progress"}, "panel status refresh"),
            ("1002", {"before": "pending", "after": "completed"}, "panel status refresh")]


def test_orders_go_100_to_a_call_paced_to_the_rate(make_app, fake, run_worker):
    app = make_app(**panel_settings(fake, PANEL_API_RATE=120))  # one call every 0.5 s
    ids = [str(3000 + i) for i in range(101)]
    orders_with_tickets(app, ids)
    fake.orders.update({i: order_answer("In progress", charge="2.50", start_count="100", remains="500") for i in ids})
    started = time.monotonic()
    result = app.test_cli_runner().invoke(args=["desk", "panel-refresh"])
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert [len(r["form"]["orders"].split(",")) for r in fake.requests] == [100, 1]
    assert elapsed >= 0.45
    assert "Refreshing order statuses" in result.output
    assert "Refresh 1 finished: 101 of 101 order(s) in 2 call(s); 101 changed, 0 unchanged, 0 not refreshed." \
        in result.output
    assert {order_state(app, i)[0] for i in ids} == {"in_progress"}


def test_what_cannot_be_used_is_named_and_left_as_it_was(app, fake):
    orders_with_tickets(app, ["1001", "1002", "1003", "1004"])
    fake.orders.update({"1001": order_answer("Completed", remains="0"),
                        "1002": order_answer("Refunded"),  # a word the desk does not know
                        "1004": order_answer("Partial", remains="5000")})  # more than was ordered
    result = app.test_cli_runner().invoke(args=["desk", "panel-refresh"])
    assert result.exit_code == 1
    assert "1002: unknown status 'Refunded'" in result.output
    assert "1003: Incorrect order ID" in result.output
    assert "1004: remains 5000 outside 0–1000" in result.output
    assert "1 changed, 0 unchanged, 3 not refreshed." in result.output
    assert [order_state(app, i)[0] for i in ("1001", "1002", "1003", "1004")] == [
        "completed", "pending", "pending", "pending"]


def test_a_panel_that_is_down_fails_the_run_visibly(app, fake, auth, run_worker):
    orders_with_tickets(app, ["1001"])
    fake.orders["1001"] = order_answer("Completed", remains="0")
    fake.fail(("http", 500), ("http", 502), ("http", 503))
    admin = auth.client_for("admin")
    page = get_ok(admin, "/admin/panel")
    assert "Orders open tickets are about" in page and fake.url in page and KEY not in page
    response = admin.post("/admin/panel", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    page = get_ok(admin, "/admin/panel")
    assert "Refresh 1 queued" in page and '<span class="badge warn">queued</span>' in page
    run_worker()
    page = get_ok(admin, "/admin/panel")
    assert '<span class="badge decision rejected">failed</span>' in page
    assert "stopped after 0 of 1: Panel status: HTTP 503 after 3 attempt(s)." in page
    assert order_state(app, "1001")[0] == "pending"
    # The next run, with the panel back, does the work; a run is made once, however often its job runs.
    post_form(admin, "/admin/panel", {})
    run_worker()
    assert order_state(app, "1001")[0] == "completed"
    [first, second] = runs(app)
    assert (first.status, second.status, second.changed) == ("failed", "finished", 1)
    with app.app_context():
        from workers.panel import refresh

        assert refresh(second.id) == f"refresh {second.id}: finished"
    assert len(fake.requests) == 4


def test_off_the_pages_and_the_command_say_so(make_app):
    app = make_app()  # no PANEL_API_URL / PANEL_API_KEY
    orders_with_tickets(app, ["1001"])
    result = app.test_cli_runner().invoke(args=["desk", "panel-refresh"])
    assert result.exit_code == 1 and "Panel integration is off: set PANEL_API_URL and PANEL_API_KEY." in result.output
    admin = Auth(app, app.test_client()).client_for("admin")
    page = get_ok(admin, "/admin/panel")
    assert "Panel integration is off" in page and "Refresh now" not in page
    response = post_form(admin, "/admin/panel", {})
    assert "Panel integration is off" in alert(text_of(admin.get(response.headers["Location"])))
    with app.app_context():
        from workers.panel import refresh_open

        assert refresh_open() == "panel integration is off"
    assert runs(app) == []


def test_an_agent_refreshes_one_order_from_the_ticket(app, fake, auth, run_worker):
    [reference] = orders_with_tickets(app, ["1001"])
    fake.orders["1001"] = order_answer("Partial", charge="2.50", start_count="100", remains="157")
    agent = auth.client_for("agent")
    page = get_ok(agent, f"/tickets/{reference}")
    assert "Refresh order 1001 from the panel" in page and "No calls to the panel about this order yet." in page
    response = post_form(agent, f"/tickets/{reference}", {}, post_url=f"/tickets/{reference}/panel/refresh")
    assert response.status_code == 302
    page = get_ok(agent, f"/tickets/{reference}")
    assert "queued" in page
    run_worker()
    page = get_ok(agent, f"/tickets/{reference}")
    assert "1001: pending → partial, remains 1000 → 157" in page
    assert "&#34;status&#34;: &#34;Partial&#34;" in page or '"status": "Partial"' in page
    assert order_state(app, "1001")[:2] == ("partial", 157)
    with app.app_context():
        call = db.session.execute(select(PanelCall)).scalar_one()
        assert (call.status, call.action, call.params, call.attempts) == ("done", "status", {"order": "1001"}, 1)
        assert find_order("1001").history[-1].status == "partial"
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "order.status")).scalar_one()
        assert event.actor_label == "agent@desk.test"
    # A ticket about no known order has nothing to refresh: a clear message, not a 500.
    [other] = orders_with_tickets(app, ["1009"])
    with app.app_context():
        db.session.delete(find_order("1009"))
        db.session.commit()
    response = post_form(agent, f"/tickets/{other}", {}, post_url=f"/tickets/{other}/panel/refresh")
    assert "names no order the desk knows" in alert(text_of(agent.get(response.headers["Location"])))


def test_the_order_mirror_history_keeps_its_order_when_the_panel_moves_on(app, fake):
    orders_with_tickets(app, ["1001"])
    for word, expected in (("Processing", "in_progress"), ("Partial", "partial"), ("Partial", "partial")):
        fake.orders["1001"] = order_answer(word, charge="2.50", start_count="100", remains="10")
        assert app.test_cli_runner().invoke(args=["desk", "panel-refresh"]).exit_code == 0
        assert order_state(app, "1001")[0] == expected
    assert order_state(app, "1001")[4] == ["pending", "in_progress", "partial"]
    with app.app_context():
        assert db.session.query(Order).count() == 1
