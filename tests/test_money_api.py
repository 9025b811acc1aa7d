"""Money requests through the JSON API and the staff pages (Terms §13–§17): quotes, the
request flow (customer's confirmation, verification, staff approval), the ledger entries
written, pending withdrawals cancelled by the order feed, closure blockers and chargeback
cases. Every test runs on SQLite and on PostgreSQL, with the real Redis."""
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from conftest import PanelFeed, iso, ledger_entry as entry, post_form, text_of
from desk.claims.models import Customer, LedgerEntry
from desk.extensions import db
from desk.money.models import BillingCase, MoneyRequest
from desk.tickets.models import Ticket
from desk.types import utcnow

D = Decimal


def funded(panel: PanelFeed, customer="alice", deposit="100.00", fee="3.20", promo="20.00"):
    """A customer with one deposit (and its processor fee) and a promotional credit."""
    panel.customer(customer)
    entries = [entry(f"{customer}-d1", "deposit", deposit, customer, processor_fee=fee)]
    if promo:
        entries.append(entry(f"{customer}-p1", "promo_credit", promo, customer, source="WELCOME10"))
    panel.ledger(*entries)


def entries_of(app, customer="alice", source_prefix="desk:"):
    """The desk's own ledger entries for a customer: (kind, amount, funding, source)."""
    with app.app_context():
        rows = db.session.execute(
            select(LedgerEntry).join(Customer).where(Customer.panel_id == customer,
                                                     LedgerEntry.panel_id.like(f"{source_prefix}%"))
            .order_by(LedgerEntry.id)).scalars().all()
        return [(r.kind, r.amount, r.funding, r.source) for r in rows]


def balances(app, customer="alice"):
    from desk.claims.ledger import customer_balances

    with app.app_context():
        found = customer_balances(db.session.execute(select(Customer).where(Customer.panel_id == customer))
                                  .scalar_one())
        return found.deposited, found.promotional


def messages(app, reference):
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        return ticket.status, [(m.author_kind, m.internal, m.body_text) for m in ticket.messages]


def signed_in(client, auth, role):
    """Sign in as `role` unless already signed in so on this client."""
    if getattr(client, "desk_role", None) != role:
        if getattr(client, "desk_role", None):
            auth.logout()
        auth.login(role)
        client.desk_role = role


def staff_act(client, auth, reference, action, reason="", role="agent"):
    signed_in(client, auth, role)
    return post_form(client, f"/tickets/{reference}", {"reason": reason},
                     post_url=f"/tickets/{reference}/money/{action}")


# --- quotes --------------------------------------------------------------------------------

def test_refund_quote_itemises_the_deductions(panel):
    funded(panel)
    body = panel.post("/refunds/quote", {"customer": "alice", "method": "original"}).get_json()
    assert body["requested"] == "100.00" and body["available_deposited"] == "100.00"
    assert [(d["kind"], d["amount"]) for d in body["deductions"]] == [("processor_fee", "3.20"),
                                                                     ("promotional_credit", "20.00")]
    assert body["amount"] == "76.80"
    assert body["confirmation_required"] is True
    assert body["rules"] == ["terms-13-refund", "terms-13-confirm"]
    assert all(d["text"] for d in body["deductions"])


def test_refund_quote_floors_at_zero_and_stores_nothing(app, panel):
    funded(panel, deposit="15.00", fee="0.00", promo="40.00")
    body = panel.post("/refunds/quote", {"customer": "alice", "method": "original"}).get_json()
    assert body["amount"] == "0.00" and body["decision"] == "rejected"
    assert sum(D(d["amount"]) for d in body["deductions"]) == D("15.00")  # never below zero
    with app.app_context():
        assert db.session.query(MoneyRequest).count() == 0 and db.session.query(Ticket).count() == 0


def test_a_request_above_the_available_funds_is_capped(panel):
    funded(panel, promo=None)
    body = panel.post("/refunds/quote", {"customer": "alice", "method": "original", "amount": "100.01"}).get_json()
    assert body["requested"] == "100.00" and body["amount"] == "96.80"
    assert any("100.01" in r["text"] for r in body["reasons"])


@pytest.mark.parametrize("body, field", [
    ({"method": "original"}, "customer"),
    ({"customer": "alice"}, "method"),
    ({"customer": "alice", "method": "card"}, "method"),
    ({"customer": "alice", "method": "original", "amount": "0.00"}, "amount"),
    ({"customer": "alice", "method": "original", "amount": "-5.00"}, "amount"),
    ({"customer": "alice", "method": "original", "amount": 5.5}, "amount"),
    ({"customer": "alice", "method": "original", "amount": "1.005"}, "amount"),
    # Too big to quantize to cents in Decimal's 28 digits: a 422, not an InvalidOperation (found by the fuzz run).
    ({"customer": "alice", "method": "original", "amount": "1e26"}, "amount"),
    ({"customer": "alice", "method": "original", "amount": 10 ** 30}, "amount"),
    ({"customer": "alice", "method": "balance"}, "order"),
])
def test_bad_quote_input_is_a_422_naming_the_field(panel, body, field):
    funded(panel)
    response = panel.post("/refunds/quote", body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]


def test_unknown_customer_and_someone_elses_order_are_404(panel):
    funded(panel)
    funded(panel, customer="bob")
    panel.order("5001", customer="bob")
    assert panel.post("/refunds/quote", {"customer": "nobody", "method": "original"}).status_code == 404
    response = panel.post("/refunds/quote", {"customer": "alice", "method": "original", "order": "5001"})
    assert response.status_code == 404 and response.get_json()["error"]["fields"] == {"order": "not found for this customer"}


def test_quotes_need_a_key_and_confirmation_needs_a_panel_key(client, panel, api_key):
    funded(panel)
    assert client.post("/api/v1/refunds/quote", json={"customer": "alice", "method": "original"}).status_code == 401
    staff = PanelFeed(client, api_key("staff"))
    assert staff.post("/withdrawals/quote", {"customer": "alice"}).status_code == 200
    request_id = panel.post("/withdrawals", {"customer": "alice"}).get_json()["id"]
    assert staff.post(f"/money-requests/{request_id}/confirm", {"choice": "confirm"}).status_code == 403


def test_order_refund_after_the_claim_window_is_rejected_and_said_so(app, panel):
    funded(panel)
    done = utcnow() - timedelta(hours=72, seconds=30)
    panel.order("7001", created_at=iso(done - timedelta(hours=3)), status_changed_at=iso(done))
    quote = panel.post("/refunds/quote", {"customer": "alice", "method": "balance", "order": "7001"}).get_json()
    assert quote["decision"] == "rejected" and quote["rules"] == ["terms-13-window"]
    filed = panel.post("/refunds", {"customer": "alice", "method": "balance", "order": "7001"})
    assert filed.status_code == 201
    body = filed.get_json()
    assert body["status"] == "rejected"
    status, msgs = messages(app, body["reference"])
    assert status == "resolved"
    assert "Terms §13 Refunds" in msgs[-1][2] and "will not be considered" in msgs[-1][2]
    assert entries_of(app) == []


# --- the refund flow -------------------------------------------------------------------------

def test_refund_to_the_payment_method_confirmed_then_approved(app, client, auth, panel, run_worker):
    funded(panel)
    filed = panel.post("/refunds", {"customer": "alice", "method": "original", "description": "Closing shop"})
    assert filed.status_code == 201, filed.get_json()
    body = filed.get_json()
    assert body["status"] == "awaiting_confirmation" and body["amount"] == "76.80"
    assert filed.headers["Location"].endswith(f"/api/v1/money-requests/{body['id']}")
    status, msgs = messages(app, body["reference"])
    assert status == "waiting"  # the clocks wait on the customer
    assert "76.80" in msgs[-1][2] and "keep your Balance" in msgs[-1][2]
    # Staff cannot approve before the customer confirms.
    response = staff_act(client, auth, body["reference"], "approve")
    assert response.status_code == 302
    assert entries_of(app) == []

    confirmed = panel.post(f"/money-requests/{body['id']}/confirm", {"choice": "confirm", "amount": "76.80"})
    assert confirmed.status_code == 200 and confirmed.get_json()["status"] == "pending_review"
    assert staff_act(client, auth, body["reference"], "approve").status_code == 302
    assert entries_of(app) == [
        ("refund", D("76.80"), "deposited", "terms-13-refund"),
        ("deduction", D("3.20"), "deposited", "processor_fee:alice-d1"),
        ("deduction", D("20.00"), "deposited", "promotional_credit"),
    ]
    assert balances(app) == (D("0.00"), D("20.00"))  # the requested 100.00 left the Balance
    state = panel.get(f"/money-requests/{body['id']}").get_json()
    assert state["status"] == "approved"
    status, msgs = messages(app, body["reference"])
    assert status == "resolved" and "approved" in msgs[-1][2] and "76.80" in msgs[-1][2]
    run_worker()
    with app.app_context():
        from desk.mail.models import OutboundMail

        sent = [m.subject for m in db.session.execute(select(OutboundMail)).scalars()]
        assert len(sent) >= 3  # the acknowledgement, the figures, the approval


def test_promotional_credit_deducted_once_is_not_deducted_again(app, client, auth, panel):
    funded(panel)
    body = panel.post("/refunds", {"customer": "alice", "method": "original", "amount": "50.00",
                                   "confirmed_amount": "26.80"}).get_json()
    assert body["status"] == "pending_review"  # the panel showed the figures and the customer accepted them
    staff_act(client, auth, body["reference"], "approve")
    again = panel.post("/refunds/quote", {"customer": "alice", "method": "original"}).get_json()
    assert again["requested"] == "50.00"
    assert again["deductions"] == []  # the fee of deposit d1 and the 20.00 of promo were deducted already
    assert again["amount"] == "50.00" and again["confirmation_required"] is False


def test_refund_of_an_order_to_the_balance_credits_deposited_funds(app, client, auth, panel):
    funded(panel, promo=None)
    panel.order("7002", charge="12.00", charge_deposited="9.00", charge_promo="3.00")
    body = panel.post("/refunds", {"customer": "alice", "method": "balance", "order": "7002"}).get_json()
    assert body["status"] == "pending_review" and body["amount"] == "9.00"
    assert body["quote"]["confirmation_required"] is False and body["quote"]["deductions"] == []
    assert any("3.00" in r["text"] and "Promotional Credit" in r["text"] for r in body["quote"]["reasons"])
    before = balances(app)
    staff_act(client, auth, body["reference"], "approve")
    assert entries_of(app) == [("refund_credit", D("9.00"), "deposited", "terms-13-refund")]
    assert balances(app) == (before[0] + D("9.00"), before[1])
    # Nothing of the order is left to refund now.
    again = panel.post("/refunds/quote", {"customer": "alice", "method": "balance", "order": "7002"}).get_json()
    assert again["decision"] == "rejected" and again["amount"] == "0.00"


def test_customer_keeps_the_balance(app, panel):
    funded(panel)
    body = panel.post("/refunds", {"customer": "alice", "method": "original"}).get_json()
    kept = panel.post(f"/money-requests/{body['id']}/confirm", {"choice": "keep_balance"})
    assert kept.status_code == 200 and kept.get_json()["status"] == "kept_balance"
    assert entries_of(app) == []
    assert messages(app, body["reference"])[0] == "resolved"
    again = panel.post(f"/money-requests/{body['id']}/confirm", {"choice": "confirm"})
    assert again.status_code == 409  # nothing left to confirm
    # A new request can be filed now that the first is closed.
    assert panel.post("/refunds", {"customer": "alice", "method": "original"}).status_code == 201


def test_figures_that_moved_are_shown_again_not_confirmed(app, panel):
    funded(panel)
    body = panel.post("/refunds", {"customer": "alice", "method": "original"}).get_json()
    panel.ledger(entry("alice-c1", "charge", "30.00", funding="deposited", order="9000"))
    moved = panel.post(f"/money-requests/{body['id']}/confirm", {"choice": "confirm", "amount": "76.80"})
    assert moved.status_code == 409
    assert moved.get_json()["error"]["code"] == "figures_changed"
    assert moved.get_json()["error"]["fields"] == {"amount": "46.80"}
    state = panel.get(f"/money-requests/{body['id']}").get_json()
    assert state["status"] == "awaiting_confirmation" and state["amount"] == "46.80"
    assert panel.post(f"/money-requests/{body['id']}/confirm",
                      {"choice": "confirm", "amount": "46.80"}).get_json()["status"] == "pending_review"


def test_filing_with_figures_the_terms_do_not_give_creates_nothing(app, panel):
    funded(panel)
    response = panel.post("/refunds", {"customer": "alice", "method": "original", "confirmed_amount": "100.00"})
    assert response.status_code == 409 and response.get_json()["error"]["fields"] == {"amount": "76.80"}
    with app.app_context():
        assert db.session.query(Ticket).count() == 0


def test_the_same_request_twice_is_one(app, panel):
    funded(panel)
    first = panel.post("/withdrawals", {"customer": "alice"})
    second = panel.post("/withdrawals", {"customer": "alice", "amount": "10.00"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.get_json()["id"] == first.get_json()["id"] and second.get_json()["created"] is False


def test_concurrent_requests_for_the_same_thing_are_one(make_app, backend, api_key):
    """Two filings at the same moment meet the unique open key: one request, one ticket."""
    app = make_app()
    key = api_key("panel")
    panel = PanelFeed(app.test_client(), key)
    funded(panel)
    codes, barrier = [], threading.Barrier(2)

    def file_one():
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/v1/withdrawals", json={"customer": "alice"},
                               headers={"Authorization": f"Bearer {key}"})
        codes.append((response.status_code, response.get_json().get("id")))

    threads = [threading.Thread(target=file_one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(c for c, _ in codes) == [200, 201], codes
    assert len({i for _, i in codes}) == 1
    with app.app_context():
        assert db.session.query(MoneyRequest).count() == 1
        assert db.session.query(Ticket).filter(Ticket.kind == "withdrawal").count() == 1


def test_decline_needs_a_reason_and_tells_the_customer(app, client, auth, panel):
    funded(panel)
    body = panel.post("/refunds", {"customer": "alice", "method": "original", "confirmed_amount": "76.80"}).get_json()
    staff_act(client, auth, body["reference"], "decline", reason="too short")
    assert panel.get(f"/money-requests/{body['id']}").get_json()["status"] == "pending_review"
    staff_act(client, auth, body["reference"], "decline", reason="The deposit is under a payment dispute.")
    assert panel.get(f"/money-requests/{body['id']}").get_json()["status"] == "declined"
    status, msgs = messages(app, body["reference"])
    assert status == "resolved" and "under a payment dispute" in msgs[-1][2]
    assert entries_of(app) == []


def test_a_supervisor_can_lift_the_claim_window_an_agent_cannot(app, client, auth, panel):
    funded(panel, promo=None)
    done = utcnow() - timedelta(days=5)
    panel.order("7003", created_at=iso(done - timedelta(hours=3)), status_changed_at=iso(done))
    body = panel.post("/refunds", {"customer": "alice", "method": "balance", "order": "7003"}).get_json()
    assert body["status"] == "rejected"
    assert staff_act(client, auth, body["reference"], "override", "Consumer law requires a review here.").status_code == 403
    staff_act(client, auth, body["reference"], "override", "Consumer law requires a review here.", role="supervisor")
    state = panel.get(f"/money-requests/{body['id']}").get_json()
    assert state["status"] == "pending_review" and state["amount"] == "10.00"
    assert any(r["rule"] == "terms-13-window" and r["outcome"] == "needs_review" for r in state["quote"]["reasons"])
    staff_act(client, auth, body["reference"], "approve", role="supervisor")
    assert entries_of(app) == [("refund_credit", D("10.00"), "deposited", "terms-13-refund")]


# --- withdrawals -----------------------------------------------------------------------------

def test_withdrawal_fee_at_the_rate_in_force_is_stored_and_charged_on_confirmation(app, client, auth, panel):
    funded(panel)
    body = panel.post("/withdrawals", {"customer": "alice", "amount": "80.00"}).get_json()
    assert body["fee_rate"] == "0.0500"
    assert [(d["kind"], d["amount"]) for d in body["quote"]["deductions"]] == [("withdrawal_fee", "4.00"),
                                                                               ("processor_fee", "3.20")]
    assert body["amount"] == "72.80" and entries_of(app) == []
    panel.post(f"/money-requests/{body['id']}/confirm", {"choice": "confirm", "amount": "72.80"})
    assert entries_of(app) == [("withdrawal_fee", D("4.00"), "deposited", "terms-14-withdrawal:rate 0.0500")]
    staff_act(client, auth, body["reference"], "approve")
    assert entries_of(app)[1:] == [("withdrawal", D("72.80"), "deposited", "terms-14-withdrawal"),
                                   ("deduction", D("3.20"), "deposited", "processor_fee:alice-d1")]
    assert balances(app) == (D("20.00"), D("20.00"))  # 80.00 left; Promotional Credit untouched


def test_the_rate_of_a_request_is_its_own(make_app, api_key):
    """A rate changed after the request was made does not change that request."""
    first = make_app(WITHDRAWAL_FEE_RATE=D("0.02"))
    key = api_key("panel")
    panel = PanelFeed(first.test_client(), key)
    funded(panel, fee="0.00", promo=None)
    body = panel.post("/withdrawals", {"customer": "alice"}).get_json()
    assert body["fee_rate"] == "0.0200" and body["amount"] == "98.00"
    later = PanelFeed(make_app(WITHDRAWAL_FEE_RATE=D("0.10")).test_client(), key)
    assert later.post("/withdrawals/quote", {"customer": "alice"}).get_json()["amount"] == "90.00"
    confirmed = later.post(f"/money-requests/{body['id']}/confirm", {"choice": "confirm", "amount": "98.00"})
    assert confirmed.status_code == 200 and confirmed.get_json()["fee_rate"] == "0.0200"


def test_an_order_from_deposited_funds_cancels_a_pending_withdrawal(app, panel):
    funded(panel)
    body = panel.post("/withdrawals", {"customer": "alice", "amount": "50.00", "confirmed_amount": "44.30"}).get_json()
    assert body["status"] == "pending_review"
    # An order paid only with Promotional Credit does not cancel it...
    panel.order("8001", charge="5.00", charge_deposited="0.00", charge_promo="5.00", status="pending",
                created_at=iso(utcnow()))
    assert panel.get(f"/money-requests/{body['id']}").get_json()["status"] == "pending_review"
    # ...one paid from Deposited Funds does, and the fee already applied stays charged.
    panel.order("8002", charge="5.00", charge_deposited="5.00", status="pending", created_at=iso(utcnow()))
    state = panel.get(f"/money-requests/{body['id']}").get_json()
    assert state["status"] == "cancelled"
    assert entries_of(app) == [("withdrawal_fee", D("2.50"), "deposited", "terms-14-withdrawal:rate 0.0500")]
    status, msgs = messages(app, body["reference"])
    assert status == "resolved"
    assert "order 8002" in msgs[-1][2] and "2.50" in msgs[-1][2] and "terms-14-pending-order" in msgs[-1][2]


def test_a_deposited_charge_in_the_ledger_feed_cancels_it_too(app, panel):
    funded(panel)
    body = panel.post("/withdrawals", {"customer": "alice", "amount": "50.00"}).get_json()
    earlier = utcnow() - timedelta(hours=1)
    panel.ledger(entry("alice-c0", "charge", "1.00", at=earlier, funding="deposited"))  # before the request: no effect
    assert panel.get(f"/money-requests/{body['id']}").get_json()["status"] == "awaiting_confirmation"
    panel.ledger(entry("alice-c1", "charge", "1.00", order="8003", funding="deposited"))
    assert panel.get(f"/money-requests/{body['id']}").get_json()["status"] == "cancelled"
    assert entries_of(app) == []  # not confirmed yet: no fee was applied


def test_a_large_withdrawal_waits_for_verification_by_a_supervisor(app, client, auth, panel):
    funded(panel, deposit="900.00", fee="0.00", promo=None)
    body = panel.post("/withdrawals", {"customer": "alice", "confirmed_amount": "855.00"}).get_json()
    assert body["status"] == "awaiting_verification"
    assert "terms-18-verification" in body["rules"]
    assert staff_act(client, auth, body["reference"], "verify", "Passport and card checked.").status_code == 403
    staff_act(client, auth, body["reference"], "verify", "Passport and card checked.", role="supervisor")
    state = panel.get(f"/money-requests/{body['id']}").get_json()
    assert state["status"] == "pending_review"
    staff_act(client, auth, body["reference"], "approve", role="supervisor")
    assert ("withdrawal", D("855.00"), "deposited", "terms-14-withdrawal") in entries_of(app)


def test_a_declined_withdrawal_gets_its_fee_back(app, client, auth, panel):
    funded(panel, fee="0.00", promo=None)
    body = panel.post("/withdrawals", {"customer": "alice", "confirmed_amount": "95.00"}).get_json()
    staff_act(client, auth, body["reference"], "decline", "Payment method no longer supports payouts.")
    assert entries_of(app) == [("withdrawal_fee", D("5.00"), "deposited", "terms-14-withdrawal:rate 0.0500"),
                               ("adjustment", D("5.00"), "deposited", "withdrawal fee returned: request declined")]
    assert balances(app) == (D("100.00"), D("0.00"))


def test_withdrawal_of_promotional_credit_only_is_rejected(panel):
    panel.customer("alice")
    panel.ledger(entry("p1", "promo_credit", "30.00", source="WELCOME"))
    body = panel.post("/withdrawals/quote", {"customer": "alice"}).get_json()
    assert body["decision"] == "rejected" and body["amount"] == "0.00"
    assert any("cannot be withdrawn" in r["text"] for r in body["reasons"])


# --- closure -----------------------------------------------------------------------------------

def test_closure_waits_for_an_open_claim_then_forfeits_promo_and_closes(app, client, auth, panel):
    funded(panel, fee="0.00")
    panel.order("9100")
    claim = panel.post("/claims", {"order": "9100", "kind": "non_delivery"})
    assert claim.status_code == 201
    body = panel.post("/closures", {"customer": "alice", "confirmed_amount": "95.00"}).get_json()
    assert body["status"] == "pending_review"
    assert body["quote"]["forfeited_promotional"] == "20.00"
    assert any("is not decided yet" in r["text"] for r in body["quote"]["reasons"])
    staff_act(client, auth, body["reference"], "approve")
    page = text_of(client.get(f"/tickets/{body['reference']}"))
    assert "cannot be released while claim" in page
    assert panel.get(f"/money-requests/{body['id']}").get_json()["status"] == "pending_review"
    # The claim is decided; the closure can go ahead.
    from conftest import csrf_from

    ref = claim.get_json()["reference"]
    token = csrf_from(text_of(client.get(f"/tickets/{ref}")))
    client.post(f"/tickets/{ref}/claim", data={"csrf_token": token, "outcome": "accepted", "reason": "",
                                               "note": ""})
    staff_act(client, auth, body["reference"], "approve")
    assert panel.get(f"/money-requests/{body['id']}").get_json()["status"] == "approved"
    assert entries_of(app) == [("withdrawal_fee", D("5.00"), "deposited", "terms-14-withdrawal:rate 0.0500"),
                               ("withdrawal", D("95.00"), "deposited", "terms-15-closure"),
                               ("forfeiture", D("20.00"), "promotional", "terms-15-closure")]
    assert balances(app) == (D("0.00"), D("0.00"))
    with app.app_context():
        assert db.session.execute(select(Customer.status).where(Customer.panel_id == "alice")).scalar() == "closed"
    refused = panel.post("/withdrawals/quote", {"customer": "alice"}).get_json()
    assert refused["decision"] == "rejected" and refused["rules"] == ["terms-15-closure"]


# --- chargebacks and a negative balance --------------------------------------------------------

def test_a_chargeback_opens_one_billing_case_with_its_proposals(app, client, auth, panel):
    funded(panel, deposit="100.00", fee="0.00", promo="20.00")
    panel.ledger(entry("alice-cb1", "chargeback", "60.00", processor_fee="15.00", funding="deposited"))
    panel.ledger(entry("alice-cb1", "chargeback", "60.00", processor_fee="15.00", funding="deposited"))  # the same delivery again
    panel.ledger(entry("alice-cb2", "chargeback", "10.00", funding="deposited"))
    with app.app_context():
        cases = db.session.execute(select(BillingCase)).scalars().all()
        assert len(cases) == 1 and cases[0].chargebacks == ["alice-cb1", "alice-cb2"]
        ticket = cases[0].ticket
        assert (ticket.queue, ticket.kind, ticket.priority) == ("billing", "chargeback", "high")
        reference = ticket.reference
        assert all(m.internal for m in ticket.messages[1:])  # case notes never reach the customer
        from desk.jobs import OutboxEntry

        funcs = [e.func for e in db.session.execute(select(OutboxEntry)).scalars()]
        assert "workers.tickets.send_acknowledgement" not in funcs
    signed_in(client, auth, "agent")
    page = text_of(client.get(f"/tickets/{reference}"))
    assert "Forfeit the positive Deposited Funds of 30.00" in page
    assert "Cancel the Promotional Credit of 20.00" in page and "chargeback fees of 15.00" in page
    assert "A supervisor confirms" in page
    refused = post_form(client, f"/tickets/{reference}", {"actions": ["suspend"], "reason": "Chargeback abuse."},
                        post_url=f"/tickets/{reference}/case")
    assert refused.status_code == 403
    signed_in(client, auth, "supervisor")
    post_form(client, f"/tickets/{reference}",
              {"actions": ["suspend", "forfeit_deposited", "cancel_promotional", "invoice_fees"],
               "reason": "Chargeback without contacting us first."}, post_url=f"/tickets/{reference}/case")
    assert entries_of(app) == [("forfeiture", D("30.00"), "deposited", "terms-17-chargeback"),
                               ("forfeiture", D("20.00"), "promotional", "terms-17-chargeback")]
    with app.app_context():
        case = db.session.execute(select(BillingCase)).scalar_one()
        assert case.status == "resolved" and case.invoiced == D("15.00") and case.open_key is None
        assert [a["action"] for a in case.actions] == ["suspend", "forfeit_deposited", "cancel_promotional",
                                                        "invoice_fees"]
        assert case.customer.status == "suspended"
    # A later chargeback opens a new case.
    panel.ledger(entry("alice-cb3", "chargeback", "5.00", funding="deposited"))
    with app.app_context():
        assert db.session.query(BillingCase).count() == 2


def test_the_negative_balance_is_shown_on_the_customer_page(client, auth, panel):
    funded(panel, deposit="50.00", fee="0.00", promo=None)
    panel.ledger(entry("alice-c1", "charge", "40.00", funding="deposited"),
                 entry("alice-cb1", "chargeback", "50.00", funding="deposited"))
    signed_in(client, auth, "agent")
    page = text_of(client.get("/customers/alice"))
    assert "Negative balance" in page and "negative by 40.00" in page and "terms-16-negative" in page
    # ...and a closure would leave it owed.
    body = PanelFeed(client, panel.key).post("/closures/quote", {"customer": "alice"}).get_json()
    assert any(r["rule"] == "terms-16-negative" for r in body["reasons"])


# --- settings -------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate, ok", [(D("0.10"), True), ("10%", True), (D("0"), True), (D("0.1001"), False),
                                      ("10.01%", False), ("-0.01", False), ("ten", False)])
def test_the_fee_rate_above_ten_percent_is_refused_at_start_up(make_app, rate, ok):
    if ok:
        assert make_app(WITHDRAWAL_FEE_RATE=rate).config["WITHDRAWAL_FEE_RATE"] <= D("0.10")
    else:
        with pytest.raises(ValueError):
            make_app(WITHDRAWAL_FEE_RATE=rate)


def test_the_fee_rate_from_the_environment(monkeypatch):
    from desk.config import settings_from_environment

    monkeypatch.setenv("WITHDRAWAL_FEE_RATE", "7.5%")
    assert settings_from_environment("/tmp/desk-test-instance")["WITHDRAWAL_FEE_RATE"] == D("0.075")
    monkeypatch.setenv("WITHDRAWAL_FEE_RATE", "lots")
    with pytest.raises(ValueError, match="WITHDRAWAL_FEE_RATE"):
        settings_from_environment("/tmp/desk-test-instance")


def test_a_payment_method_that_cannot_take_money_back_is_said(make_app, api_key):
    app = make_app(PAYOUT_METHODS="card, PayPal")
    assert app.config["PAYOUT_METHODS"] == frozenset({"card", "paypal"})
    panel = PanelFeed(app.test_client(), api_key("panel"))
    panel.customer("alice")
    panel.ledger(entry("alice-d1", "deposit", "100.00", method="crypto"))
    body = panel.post("/withdrawals/quote", {"customer": "alice"}).get_json()
    assert body["decision"] == "needs_review"
    assert any("paid in by crypto" in r["text"] for r in body["reasons"])
    panel.ledger(entry("alice-d2", "deposit", "10.00", method="card"))
    assert panel.post("/withdrawals/quote", {"customer": "alice", "amount": "10.00"}).get_json()["decision"] == "eligible"
