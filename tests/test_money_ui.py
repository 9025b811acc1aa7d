"""Money requests on the pages people use: the public billing form, the customer's answer on
their private ticket link, and what staff see and may do on the ticket and customer pages."""
import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from conftest import csrf_from, get_ok, ledger_entry as entry, post_form, text_of
from desk.extensions import db
from desk.mail.models import OutboundMail
from desk.money.models import MoneyRequest
from desk.tickets.links import make_token
from desk.tickets.models import Ticket

D = Decimal


def funded(panel, customer="alice", **fields):
    panel.customer(customer, **fields)
    panel.ledger(entry(f"{customer}-d1", "deposit", "100.00", customer, processor_fee="3.20"),
                 entry(f"{customer}-p1", "promo_credit", "20.00", customer, source="WELCOME10"))


def billing(client, **data):
    fields = {"kind": "refund", "email": "alice@alice-shop.example", "login": "", "order": "", "method": "original",
              "amount": "", "description": ""}
    fields.update(data)
    return post_form(client, "/billing", fields)


def the_request(app):
    with app.app_context():
        request = db.session.execute(select(MoneyRequest)).scalar_one()
        return request.id, request.ticket.reference, make_token(request.ticket), request.status


def test_the_form_files_a_request_and_shows_no_figures(app, client, panel):
    funded(panel)
    response = billing(client, description="Moving to another panel.")
    page = text_of(response)
    assert response.status_code == 200, page
    assert "We have your request" in page and "account's e-mail" in page
    assert "76.80" not in page and "/t/" not in page  # the figures and the link go to the account's inbox
    _, reference, _, status = the_request(app)
    assert reference in page and status == "awaiting_confirmation"
    with app.app_context():
        ticket = db.session.execute(select(Ticket)).scalar_one()
        assert (ticket.kind, ticket.queue, ticket.channel, ticket.requester_email) == (
            "refund", "billing", "web", "alice@alice-shop.example")


@pytest.mark.parametrize("data, words, status", [
    ({"email": "nobody@elsewhere.example"}, "could not find one account", 404),
    ({"email": "ALICE@alice-shop.example", "login": "mallory"}, "could not find one account", 404),
    ({"email": "not-an-address"}, "Invalid email address", 400),
    ({"amount": "12,50"}, "An amount such as", 400),
    ({"kind": "refund", "method": "balance", "order": ""}, "required for a refund to the Balance", 422),
    ({"kind": "lottery"}, "Not a valid choice", 400),
])
def test_the_form_says_what_is_wrong_and_keeps_what_was_typed(app, client, panel, data, words, status):
    funded(panel)
    response = billing(client, description="Please keep this text.", **data)
    page = text_of(response)
    assert response.status_code == status, page
    assert words in page and "Please keep this text." in page
    with app.app_context():
        assert db.session.query(MoneyRequest).count() == 0


def test_the_form_needs_its_csrf_token(client, panel):
    funded(panel)
    response = client.post("/billing", data={"kind": "withdrawal", "email": "alice@alice-shop.example"})
    assert response.status_code == 400 and "CSRF" in text_of(response)


def test_two_accounts_on_one_email_need_the_login(app, client, panel):
    funded(panel, "alice")
    funded(panel, "alice2", email="alice@alice-shop.example")
    assert billing(client).status_code == 404
    assert billing(client, kind="withdrawal", login="alice2").status_code == 200
    with app.app_context():
        assert db.session.execute(select(MoneyRequest)).scalar_one().customer.panel_id == "alice2"


def test_the_kind_can_be_chosen_by_link(client):
    page = get_ok(client, "/billing?kind=restoration")
    assert '<option selected value="restoration">' in page


def test_the_customer_confirms_on_their_link_and_staff_approve(app, client, auth, panel, run_worker):
    funded(panel)
    billing(client)
    _, reference, token, _ = the_request(app)
    run_worker()
    with app.app_context():
        bodies = [m.body_text for m in db.session.execute(select(OutboundMail).order_by(OutboundMail.id)).scalars()]
        # The figures, with the link, by e-mail. (The token is timestamped: the one mailed is
        # the one to follow, not one made here a second apart.)
        mailed = [re.search(r"/t/([\w.-]+)", b) for b in bodies if "76.80" in b and "/t/" in b]
        assert mailed, bodies
        token = mailed[0].group(1)
    page = get_ok(client, f"/t/{token}")
    assert "Confirm 76.80" in page and "Keep my Balance" in page and "processor fee" in page
    assert "Available Deposited Funds" not in page and "<code>terms-13-refund</code>" not in page  # staff's view only
    response = client.post(f"/t/{token}/money", data={"csrf_token": csrf_from(page), "choice": "confirm",
                                                       "amount": "76.80"})
    assert response.status_code == 302
    page = get_ok(client, f"/t/{token}")
    assert "Waiting for staff review" in page and "Cancel this request" in page
    auth.login("agent")
    staff_page = get_ok(client, f"/tickets/{reference}")
    assert "Refund request" in staff_page and "76.80" in staff_page and "terms-13-confirm" in staff_page
    post_form(client, f"/tickets/{reference}", {"reason": ""}, post_url=f"/tickets/{reference}/money/approve")
    with app.app_context():
        assert db.session.execute(select(MoneyRequest)).scalar_one().status == "approved"


def test_figures_that_moved_before_the_customer_confirms_are_shown_again(app, client, panel):
    funded(panel)
    billing(client)
    _, _, token, _ = the_request(app)
    page = get_ok(client, f"/t/{token}")
    panel.ledger(entry("alice-c1", "charge", "30.00", funding="deposited"))
    client.post(f"/t/{token}/money", data={"csrf_token": csrf_from(page), "choice": "confirm", "amount": "76.80"})
    page = get_ok(client, f"/t/{token}")
    assert "figures changed since they were shown" in page and "Confirm 46.80" in page


def test_keeping_the_balance_and_cancelling(app, client, panel):
    funded(panel)
    billing(client)
    _, _, token, _ = the_request(app)
    page = get_ok(client, f"/t/{token}")
    client.post(f"/t/{token}/money", data={"csrf_token": csrf_from(page), "choice": "keep_balance"})
    assert the_request(app)[3] == "kept_balance"
    page = get_ok(client, f"/t/{token}")
    assert "Confirm" not in page and "keep your Balance: nothing was changed" in page


def test_a_link_to_another_ticket_cannot_answer_this_request(app, client, panel, make_ticket):
    funded(panel)
    billing(client)
    other = make_ticket(requester_email="alice@alice-shop.example")
    with app.app_context():
        token = make_token(db.session.execute(select(Ticket).where(Ticket.reference == other)).scalar_one())
    page = get_ok(client, f"/t/{token}")
    response = client.post(f"/t/{token}/money", data={"csrf_token": csrf_from(page), "choice": "keep_balance"})
    assert response.status_code == 404
    assert client.post("/t/not-a-token/money", data={"csrf_token": csrf_from(page)}).status_code == 404
    assert the_request(app)[3] == "awaiting_confirmation"


def test_what_each_role_may_do_on_a_money_ticket(app, client, auth, panel):
    funded(panel)
    panel.post("/withdrawals", {"customer": "alice", "amount": "90.00", "confirmed_amount": "82.30"})
    _, reference, _, _ = the_request(app)
    auth.login("trust_safety")  # works Billing too, but does not decide money
    page = get_ok(client, f"/tickets/{reference}")
    assert "Withdrawal request" in page and ">Approve<" not in page
    response = post_form(client, f"/tickets/{reference}", {"reason": ""}, post_url=f"/tickets/{reference}/money/approve")
    assert response.status_code == 403
    auth.logout()
    auth.login("agent")
    assert ">Approve<" in get_ok(client, f"/tickets/{reference}")
    # A staff member who may not see the Billing queue does not find the ticket at all.
    from desk.auth import roles

    assert "billing" in roles.queues_for("agent")


def test_the_fraud_flag_is_for_supervisors_and_makes_payouts_wait(app, client, auth, panel):
    funded(panel)
    auth.login("agent")
    page = get_ok(client, "/customers/alice")
    assert "Flag for a fraud check" not in page
    assert client.post("/customers/alice/fraud-flag", data={"csrf_token": csrf_from(page), "flag": "on",
                                                            "reason": "Card reported stolen."}).status_code == 403
    auth.logout()
    auth.login("supervisor")
    post_form(client, "/customers/alice", {"flag": "on", "reason": "short"}, post_url="/customers/alice/fraud-flag")
    assert "fraud flag</span>" not in get_ok(client, "/customers/alice")  # a reason of 10 characters at least
    post_form(client, "/customers/alice", {"flag": "on", "reason": "Card reported stolen."},
              post_url="/customers/alice/fraud-flag")
    assert "fraud flag</span>" in get_ok(client, "/customers/alice")
    body = panel.post("/withdrawals/quote", {"customer": "alice", "amount": "10.00"}).get_json()
    assert body["verification_required"] is True and "terms-18-verification" in body["rules"]
    assert any("flagged for a fraud check" in r["text"] for r in body["reasons"])


def test_the_customer_page_lists_the_requests(client, auth, panel):
    funded(panel)
    body = panel.post("/refunds", {"customer": "alice", "method": "original"}).get_json()
    auth.login("agent")
    page = get_ok(client, "/customers/alice")
    assert body["reference"] in page and "Waiting for the customer to confirm" in page and "76.80" in page


def test_home_and_contact_point_to_the_forms(client):
    page = get_ok(client, "/")
    assert 'href="/billing"' in page and 'href="/claim"' in page
    contact = get_ok(client, "/contact")
    assert 'value="refund"' not in contact and 'value="chargeback"' not in contact
