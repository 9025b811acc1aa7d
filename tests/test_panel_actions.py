"""Accepted claims carried out on the panel (desk.panel.actions) against a real API-v2
server on loopback, end to end: the claim is filed through the API, decided by the Terms,
approved by an agent on the ticket page; a real RQ worker calls `refill` and follows
`refill_status` to its end (or `cancel`s), and the ticket is resolved with the record on
its page. Failures leave the ticket visibly "action failed" with a retry button; an
approval processed twice reaches the panel once; the key is in no log line or record."""
import json
import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from conftest import Auth, get_ok, post_form, text_of
from desk import jobs
from desk.audit.models import AuditEvent
from desk.claims.models import Claim, Customer
from desk.extensions import db
from desk.panel.models import PanelCall
from desk.tickets.models import Message, Ticket
from panel_server import KEY, FakePanel, order_answer
from test_claims_ui import DONE, Panel, claim_of, decide, flashes, iso, refill_claim

FINISHED = "terms-10-refill"


@pytest.fixture
def fake():
    server = FakePanel().start()
    server.orders["1001"] = order_answer("Completed", charge="2.50", start_count="3572", remains="0")
    yield server
    server.stop()


def settings(fake, **more) -> dict:
    values = {"PANEL_API_URL": fake.url, "PANEL_API_KEY": KEY, "PANEL_API_TIMEOUT": 2.0, "PANEL_API_RETRIES": 2,
              "PANEL_API_BACKOFF": 0.01, "PANEL_API_RATE": 0, "PANEL_REFILL_POLL_SECONDS": 0,
              "PANEL_REFILL_MAX_POLLS": 10, "JOB_RETRY_INTERVALS": [0]}
    values.update(more)
    return values


@pytest.fixture
def app(make_app, fake):
    return make_app(**settings(fake))


@pytest.fixture
def shop(app, api_key):
    shop = Panel(app, api_key("panel"))
    shop.customer("alice")
    return shop


def calls(app) -> list[PanelCall]:
    with app.app_context():
        found = db.session.execute(select(PanelCall).order_by(PanelCall.id)).scalars().all()
        db.session.expunge_all()
        return found


def ticket_of(app, ref):
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == ref)).scalar_one()
        messages = [(m.author_kind, m.internal, m.body_text) for m in db.session.execute(
            select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id)).scalars()]
        return ticket.status, messages


def audit(app, prefix="panel.") -> list[tuple[str, dict]]:
    with app.app_context():
        return [(e.action, e.data) for e in db.session.execute(
            select(AuditEvent).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.id)).scalars()]


def panel_card(page: str) -> str:
    match = re.search(r'<section class="card panel-calls".*?</section>', page, re.S)
    return match.group(0) if match else ""


def test_an_approved_refill_is_refilled_followed_to_completion_and_resolves_the_ticket(
        app, fake, shop, auth, run_worker, caplog):
    caplog.set_level(logging.DEBUG)
    ref = refill_claim(shop)  # 1001: 3572 + 1000 delivered, now 4400: refill 172
    assert claim_of(app, ref).decision == "eligible"
    agent = auth.client_for("agent")
    response = decide(agent, ref, "accepted")
    assert response.status_code == 302
    page = get_ok(agent, f"/tickets/{ref}")
    assert "The panel has been asked to refill order 1001; the ticket is resolved when it is done." in flashes(page)
    status, messages = ticket_of(app, ref)
    assert status == "on_hold"
    assert "We will refill 172 on this order." in messages[-1][2]
    assert "We have asked the panel to refill it and will write again when the refill is done." in messages[-1][2]
    assert "waiting on the panel" in panel_card(page)

    run_worker()  # refill, then refill_status until Completed (PANEL_REFILL_POLL_SECONDS=0 here)

    assert fake.actions() == ["refill", "refill_status", "refill_status", "refill_status"]
    assert fake.requests[0]["form"] == {"key": KEY, "action": "refill", "order": "1001"}
    assert {r["form"]["refill"] for r in fake.requests[1:]} == {"1"}
    [call] = calls(app)
    assert (call.action, call.status, call.rule, call.refill_id, call.refill_status, call.polls) == (
        "refill", "done", FINISHED, "1", "Completed", 3)
    assert call.params == {"order": "1001"} and call.answer == {"status": "Completed"} and call.attempts == 4
    status, messages = ticket_of(app, ref)
    assert status == "resolved"
    assert messages[-1] == ("system", False, "The refill on order 1001 is done: the panel reports refill 1 as "
                                             f"Completed ({FINISHED}).")
    card = panel_card(get_ok(agent, f"/tickets/{ref}"))
    assert "<code>refill</code>" in card and "order=1001" in card and "Refill 1 Completed (after 3 check(s))." in card
    assert '<span class="badge decision eligible">done</span>' in card and "Retry" not in card
    trail = audit(app)
    assert [action for action, _ in trail] == ["panel.requested", "panel.answered", "panel.refill_status",
                                              "panel.refill_status", "panel.done"]
    assert trail[0][1]["refill_quantity"] == 172 and trail[0][1]["rule"] == FINISHED
    assert trail[1][1]["answer"] == {"refill": "1"}
    assert [d["after"] for a, d in trail if a == "panel.refill_status"] == ["Pending", "In progress"]
    with app.app_context():  # the key is nowhere: no log line, no stored call, no audit event
        stored = json.dumps([e.data for e in db.session.execute(select(AuditEvent)).scalars()])
    assert KEY not in caplog.text and KEY not in stored and KEY not in json.dumps([call.params, call.answer])


def test_following_waits_between_checks_on_the_scheduler(make_app, fake, api_key, run_worker):
    app = make_app(**settings(fake, PANEL_REFILL_POLL_SECONDS=600))
    shop = Panel(app, api_key("panel"))
    shop.customer("alice")
    ref = refill_claim(shop)
    decide(Auth(app, app.test_client()).client_for("agent"), ref, "accepted")
    run_worker(app)
    [call] = calls(app)
    assert (call.status, call.polls, call.refill_id) == ("following", 0, "1")
    assert timedelta(seconds=590) < call.next_poll_at - call.updated_at < timedelta(seconds=610)
    with app.app_context():
        assert jobs.queue_for("default").scheduled_job_registry.count == 1  # the next check, for the scheduler
        from workers.panel import follow_refill, sweep

        assert follow_refill(call.id, 1).startswith("Refill 1: Pending after 1 check(s)")
        assert follow_refill(call.id, 1) == f"call {call.id}: check 1 not due, nothing done"  # delivered twice
        assert sweep() == "0 refill(s) resumed"  # nothing overdue yet
        db.session.execute(db.update(PanelCall).values(next_poll_at=call.created_at - timedelta(hours=1)))
        db.session.commit()
        assert sweep() == "1 refill(s) resumed"  # its job was lost with Redis: checked again
    run_worker(app)
    assert fake.actions() == ["refill", "refill_status", "refill_status"]
    assert calls(app)[0].refill_status == "In progress"


def test_an_approved_cancel_cancels_and_resolves(app, fake, shop, auth, run_worker):
    shop.order("1002", status="pending", remains=1000, status_changed_at=None)
    fake.orders["1002"] = order_answer("Pending", charge="2.50", start_count="0", remains="1000")
    ref = shop.claim("1002", "cancel", DONE)
    assert claim_of(app, ref).decision == "eligible"
    decide(auth.client_for("agent"), ref, "accepted")
    run_worker()
    assert fake.actions() == ["cancel"] and fake.requests[0]["form"]["orders"] == "1002"
    [call] = calls(app)
    assert (call.status, call.rule, call.answer) == ("done", "terms-9-finality", {"order": "1002", "cancel": 1})
    status, messages = ticket_of(app, ref)
    assert status == "resolved" and messages[-1][2].startswith(
        "Order 1002 is cancelled: the panel accepted the cancellation (terms-9-finality).")
    assert fake.orders["1002"]["status"] == "Canceled"


def test_a_refused_refill_is_visible_and_retried_from_the_ticket(app, fake, shop, auth, run_worker):
    ref = refill_claim(shop)
    agent = auth.client_for("agent")
    decide(agent, ref, "accepted")
    fake.fail(("error", "Refill is not available for this order yet"))
    run_worker()
    [call] = calls(app)
    assert (call.status, call.maybe_done, call.attempts) == ("failed", False, 1)
    assert call.outcome == "Panel refill: Refill is not available for this order yet"
    status, messages = ticket_of(app, ref)
    assert status == "open"  # back in the queue, never silently
    author, internal, note = messages[-1]
    assert (author, internal) == ("system", True)
    assert note.startswith("Panel action failed: the refill of order 1001 (terms-10-refill) did not go through.")
    page = get_ok(agent, f"/tickets/{ref}")
    card = panel_card(page)
    assert "action failed" in card and "Refill is not available for this order yet" in card
    assert ">Retry</button>" in card
    # Retried, it goes through this time, and the ticket is resolved.
    response = post_form(agent, f"/tickets/{ref}", {}, post_url=f"/tickets/{ref}/panel/calls/{call.id}/retry")
    assert response.status_code == 302
    assert ticket_of(app, ref)[0] == "on_hold"
    run_worker()
    [call] = calls(app)
    assert (call.status, call.refill_status) == ("done", "Completed")
    assert ticket_of(app, ref)[0] == "resolved"
    assert fake.actions() == ["refill", "refill", "refill_status", "refill_status", "refill_status"]
    assert "action failed" not in panel_card(get_ok(agent, f"/tickets/{ref}"))
    assert [a for a, _ in audit(app)][:3] == ["panel.requested", "panel.failed", "panel.retried"]
    # Trying a call that is not failed again is refused with a reason, not a 500.
    response = post_form(agent, f"/tickets/{ref}", {}, post_url=f"/tickets/{ref}/panel/calls/{call.id}/retry")
    assert "only a failed one can be tried again" in flashes(text_of(agent.get(response.headers["Location"])))


def test_no_answer_to_a_refill_is_not_sent_twice_and_says_the_panel_may_have_acted(app, fake, shop, auth,
                                                                                   run_worker):
    ref = refill_claim(shop)
    agent = auth.client_for("agent")
    decide(agent, ref, "accepted")
    fake.fail(("http", 500))
    run_worker()
    [call] = calls(app)
    assert (call.status, call.maybe_done, call.attempts) == ("failed", True, 1)
    assert fake.actions() == ["refill"]
    card = panel_card(get_ok(agent, f"/tickets/{ref}"))
    assert "The panel may have acted on it: check the order on the panel before you retry." in card
    assert "check the order on the panel before you retry" in ticket_of(app, ref)[1][-1][2]


def test_a_rejected_refill_and_one_that_never_ends_fail_visibly(make_app, fake, api_key, run_worker):
    app = make_app(**settings(fake, PANEL_REFILL_MAX_POLLS=2))
    shop = Panel(app, api_key("panel"))
    shop.customer("alice")
    agent = Auth(app, app.test_client()).client_for("agent")
    fake.refill_plan = ["In progress", "Rejected"]
    ref = refill_claim(shop)
    decide(agent, ref, "accepted")
    run_worker(app)
    [call] = calls(app)
    assert (call.status, call.refill_status, call.outcome) == ("failed", "Rejected",
                                                              "The panel reports refill 1 as Rejected.")
    assert ticket_of(app, ref)[0] == "open"

    fake.refill_plan = ["Pending"]  # the panel never gets to it
    shop.order("1003", link="https://www.instagram.com/p/P1003/")
    fake.orders["1003"] = order_answer("Completed")
    other = shop.claim("1003", "refill", DONE + timedelta(days=1), current_count=4400)
    decide(agent, other, "accepted")
    run_worker(app)
    stuck = calls(app)[1]
    assert (stuck.status, stuck.polls) == ("failed", 2)
    assert stuck.outcome == ("Refill 2 is still Pending after 2 check(s): the desk stopped following it. Retry to "
                             "follow it again.")
    # Retrying follows the refill the panel already took: no second refill is asked for.
    fake.refills["2"] = ["Completed"]
    post_form(agent, f"/tickets/{other}", {}, post_url=f"/tickets/{other}/panel/calls/{stuck.id}/retry")
    run_worker(app)
    assert calls(app)[1].status == "done" and ticket_of(app, other)[0] == "resolved"
    assert fake.actions().count("refill") == 2  # one per claim


def test_an_approval_processed_twice_calls_the_panel_once(app, fake, shop, auth, run_worker):
    ref = refill_claim(shop)
    agent = auth.client_for("agent")
    decide(agent, ref, "accepted")
    second = decide(agent, ref, "accepted")  # the same form sent again
    assert "This claim is already accepted." in flashes(text_of(agent.get(second.headers["Location"])))
    with app.app_context():  # the approval's effects asked for again: one call, one job's worth
        from desk.auth.models import Staff
        from desk.panel import actions

        claim = db.session.execute(select(Claim)).scalar_one()
        staff = db.session.execute(select(Staff)).scalars().first()
        assert actions.for_claim(claim, staff).id == calls(app)[0].id
        entry = db.session.execute(select(jobs.OutboxEntry).where(
            jobs.OutboxEntry.func == "workers.panel.run_call")).scalar_one()
        jobs.queue_for("default").enqueue(entry.func, *entry.args, job_id="delivered-again")
    run_worker()
    assert fake.actions().count("refill") == 1
    assert len(calls(app)) == 1


def test_only_accepted_refills_and_cancels_that_agree_with_the_terms_or_a_supervisor_act(
        app, fake, shop, auth, run_worker):
    # A rejected claim, and an accepted claim of another kind: nothing is asked of the panel.
    ref = refill_claim(shop)
    decide(auth.client_for("agent"), ref, "rejected", reason="The customer withdrew the claim by phone.")
    shop.order("1004", link="https://www.instagram.com/p/P1004/")
    other = shop.claim("1004", "non_delivery", DONE + timedelta(hours=1))
    decide(auth.client_for("agent"), other, "accepted")
    # A refill the Terms reject (filed after the window): an agent cannot accept it; a supervisor's override can.
    shop.order("1005", link="https://www.instagram.com/p/P1005/")
    late = shop.claim("1005", "refill", DONE + timedelta(days=40), current_count=4400)
    assert claim_of(app, late).decision == "rejected"
    assert decide(auth.client_for("agent"), late, "accepted").status_code == 403
    decide(auth.client_for("supervisor"), late, "accepted", reason="Goodwill: the panel's outage delayed them.")
    run_worker()
    [call] = calls(app)
    assert (call.order_ref, call.action, call.status) == ("1005", "refill", "failed")  # 1005 is unknown to the panel
    assert call.outcome == "Panel refill: Incorrect order ID"
    [requested] = [d for a, d in audit(app) if a == "panel.requested"]
    assert requested["overridden"] is True and requested["refill_quantity"] is None
    assert fake.actions() == ["refill"]


def test_off_the_claim_is_closed_as_before_and_the_page_says_so(make_app, api_key):
    app = make_app()
    shop = Panel(app, api_key("panel"))
    shop.customer("alice")
    ref = refill_claim(shop)
    agent = Auth(app, app.test_client()).client_for("agent")
    decide(agent, ref, "accepted")
    page = get_ok(agent, f"/tickets/{ref}")
    assert "Panel integration is off: refill order 1001 on the panel by hand." in flashes(page)
    assert "Panel integration is off (set <code>PANEL_API_URL</code>" in panel_card(page)
    assert "Refresh order" not in panel_card(page)
    assert ticket_of(app, ref)[0] == "resolved" and calls(app) == []
    response = post_form(agent, f"/tickets/{ref}", {}, post_url=f"/tickets/{ref}/panel/refresh")
    assert "Panel integration is off" in flashes(text_of(agent.get(response.headers["Location"])))


def test_an_agent_of_another_queue_reaches_no_panel_route(app, fake, shop, auth):
    ref = refill_claim(shop)
    auth.staff("agent", "support-only@desk.test")
    with app.app_context():
        from desk.auth.models import Staff

        db.session.execute(select(Staff).where(Staff.email == "support-only@desk.test")).scalar_one().queues = [
            "support"]
        db.session.commit()
    other = auth.client_for("agent", "support-only@desk.test")
    token = re.search(r'name="csrf_token" value="([^"]+)"', text_of(other.get("/queue"))).group(1)
    assert other.post(f"/tickets/{ref}/panel/refresh", data={"csrf_token": token}).status_code == 404
    assert other.post(f"/tickets/{ref}/panel/calls/1/retry", data={"csrf_token": token}).status_code == 404
    assert calls(app) == []


def test_a_macro_that_accepts_a_refill_hands_it_to_the_panel_too(app, fake, shop, auth, run_worker):
    """The claim macros close a claim as the Accept button does, so the panel is asked the
    same way: the reply says so, the ticket waits on hold, and the worker carries it out."""
    from test_macros import apply, macro_id, preview, reply_box, seed

    ref = refill_claim(shop)
    seed(app)
    agent = auth.client_for("agent")
    mid = macro_id(app, "Accept claim")
    assert apply(agent, ref, mid, reply_box(text_of(preview(agent, ref, mid)))).status_code == 302
    status, messages = ticket_of(app, ref)
    assert status == "on_hold"
    assert "We have asked the panel to refill it and will write again when the refill is done." in messages[-1][2]
    [call] = calls(app)
    assert call.action == "refill"
    run_worker()
    assert fake.actions()[0] == "refill"
    assert ticket_of(app, ref)[0] == "resolved"


def test_the_customer_reads_the_decision_and_the_panels_outcome_in_their_language(app, fake, shop, auth, run_worker):
    """The claim's ticket records alice's language (her account's); the agent decides on an
    English page, the worker writes the outcome: both reach her in Spanish (issue 13)."""
    with app.app_context():
        db.session.execute(select(Customer).where(Customer.panel_id == "alice")).scalar_one().locale = "es"
        db.session.commit()
    ref = refill_claim(shop)
    assert decide(auth.client_for("agent"), ref, "accepted").status_code == 302
    status, messages = ticket_of(app, ref)
    assert status == "on_hold"
    for sentence in ("Su reclamo sobre el Pedido 1001 ha sido aceptado.", "Repondremos 172 en este Pedido.",
                     "Hemos pedido al panel que lo reponga", "Cómo se aplican los Términos:"):
        assert sentence in messages[-1][2], (sentence, messages[-1][2])
    run_worker()
    status, messages = ticket_of(app, ref)
    assert status == "resolved"
    assert messages[-1] == ("system", False, "La reposición del Pedido 1001 está hecha: el panel informa la "
                                             f"reposición 1 como Completed ({FINISHED}).")
