"""The portal's requests through HTTP, signed in by the panel's single sign-on: My orders and
a claim checked against the Terms before it is filed, the Balance split into Deposited
Funds and Promotional Credit, money requests with the figures shown and confirmed, more
accounts, a privacy request — and one customer never reaching another's orders, Balance,
figures or requests through any portal page."""
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from conftest import csrf_from, iso, ledger_entry as entry, text_of
from desk.accounts.models import AccountRequest
from desk.claims.models import Claim
from desk.extensions import db
from desk.mail.models import OutboundMail
from desk.money.models import MoneyRequest
from desk.privacy.models import PrivacyRequest
from desk.tickets.models import Ticket
from desk.types import utcnow
from test_portal import CUSTOMER_ROUTES, SECRET, email_of, signed_in

D = Decimal


@pytest.fixture
def app(make_app):
    return make_app(PANEL_SSO_SECRET=SECRET, PORTAL_PAGE_SIZE=10)


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar()


def post_page(client, url, data, **kwargs):
    """Fetch the page, then post its form with the page's CSRF token (as a browser does)."""
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    return client.post(url, data={"csrf_token": csrf_from(text_of(page)), **data}, **kwargs)


def hidden(page: str, name: str) -> str:
    match = re.search(rf'id="{name}" name="{name}" type="hidden" value="([^"]*)"', page)
    assert match, f"no hidden {name}"
    return match.group(1)


def resend(client, url, page: str, data: dict, **kwargs):
    """Press the second button of a two-step form: the same fields, with the step (and the
    figures shown) the first answer put in the page."""
    fields = {"csrf_token": csrf_from(page), "step": hidden(page, "step"), **data}
    if 'name="shown"' in page:
        fields["shown"] = hidden(page, "shown")
    return client.post(url, data=fields, **kwargs)


def refill_order(panel, panel_id="1001", customer="alice", finished_hours=5, **fields):
    now = utcnow()
    body = {"start_count": 3572, "quantity": 1000, "remains": 0, "status": "completed",
            "created_at": iso(now - timedelta(hours=finished_hours + 10)),
            "status_changed_at": iso(now - timedelta(hours=finished_hours)),
            "tool": {"id": "7", "name": "Followers R30", "refill": True, "refill_days": 30}}
    body.update(fields)
    return panel.order(panel_id, customer, **body)


def funded(panel, customer="alice"):
    panel.customer(customer)
    panel.ledger(entry(f"{customer}-d1", "deposit", "100.00", customer, processor_fee="3.20"),
                 entry(f"{customer}-p1", "promo_credit", "20.00", customer, source="WELCOME10"))


# --- My orders --------------------------------------------------------------------------

def test_my_orders_lists_only_mine_newest_first_in_pages(app, panel):
    panel.customer("alice")
    panel.customer("bob")
    now = utcnow()
    for n in range(23):
        panel.order(f"A{n:03d}", "alice", created_at=iso(now - timedelta(hours=n + 2)))
    panel.order("B001", "bob")
    client = signed_in(app.test_client())
    seen, url = [], "/portal/orders"
    while url:
        page = text_of(client.get(url))
        seen.append(re.findall(r'class="ref" href="/portal/orders/([AB]\d{3})"', page))
        more = re.search(r'href="(/portal/orders\?after=[^"]+)">Older orders', page)
        url = more.group(1).replace("&amp;", "&") if more else None
    assert [len(p) for p in seen] == [10, 10, 3]
    flat = [o for p in seen for o in p]
    assert flat == [f"A{n:03d}" for n in range(23)]  # newest first, none twice, none missed
    assert "B001" not in flat


def test_a_damaged_orders_cursor_starts_again_with_a_message(app, panel):
    panel.customer("alice")
    client = signed_in(app.test_client())
    response = client.get("/portal/orders?after=bm90LWEtY3Vyc29y")
    assert response.status_code == 302
    page = text_of(client.get(response.headers["Location"]))
    assert "could not be found" in page


def test_a_claim_is_checked_against_the_terms_and_shown_before_it_is_filed(app, panel):
    panel.customer("alice")
    refill_order(panel)
    client = signed_in(app.test_client())
    url = "/portal/orders/1001"
    page = text_of(client.get(url))
    assert "Followers R30" in page and "for 30 days (best effort)" in page
    response = post_page(client, url, {"kind": "refill", "current_count": "4400", "description": "Dropped."})
    page = text_of(response)
    assert response.status_code == 200
    assert '<div class="decision-box eligible" role="status">' in page
    assert "Refill: <strong>172</strong>." in page
    # The clause in a customer's words, and the Terms' own words beneath.
    assert "<strong>Terms §10 Refill &amp; Guarantee</strong>: A refill tops an order back up" in page
    assert "<summary>The words of the Terms</summary>" in page
    assert count(app, Claim) == 0  # checking files nothing

    response = resend(client, url, page, {"kind": "refill", "current_count": "4400", "description": "Dropped."})
    assert response.status_code == 302
    reference = response.headers["Location"].rsplit("/", 1)[1]
    with app.app_context():
        claim = db.session.execute(select(Claim)).scalar_one()
        ticket = claim.ticket
        assert (ticket.reference, ticket.kind, ticket.channel, ticket.customer.panel_id, ticket.requester_email) == (
            reference, "refill", "portal", "alice", email_of("alice"))
        assert (claim.decision, claim.refill_quantity) == ("eligible", 172)
    page = text_of(client.get(f"/portal/tickets/{reference}"))
    assert "Your claim meets the Terms" in page and "Refill: <strong>172</strong>." in page
    assert "Terms §10 Refill &amp; Guarantee" in page
    # Filing the same claim again answers with the open one.
    again = resend(client, url, text_of(post_page(client, url, {"kind": "refill", "current_count": "4400"})),
                   {"kind": "refill", "current_count": "4400"})
    assert again.headers["Location"].endswith(reference)
    assert count(app, Claim) == 1


def test_a_claim_changed_after_the_check_is_checked_again_not_filed(app, panel):
    panel.customer("alice")
    refill_order(panel)
    client = signed_in(app.test_client())
    url = "/portal/orders/1001"
    page = text_of(post_page(client, url, {"kind": "refill", "current_count": "4400"}))
    response = resend(client, url, page, {"kind": "refill", "current_count": "3000"})
    assert response.status_code == 200
    page = text_of(response)
    assert "Under the Terms this claim would not be accepted" in page  # below the Start Count
    assert count(app, Claim) == 0


def test_a_late_claim_shows_its_rejection_in_plain_words_and_may_still_be_filed(app, panel):
    panel.customer("alice")
    refill_order(panel, finished_hours=24 * 5)
    client = signed_in(app.test_client())
    url = "/portal/orders/1001"
    page = text_of(post_page(client, url, {"kind": "non_delivery"}))
    assert "Under the Terms this claim would not be accepted" in page
    assert "Problems with an order can be reported for 3 days (72 hours)" in page
    response = resend(client, url, page, {"kind": "non_delivery"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.execute(select(Claim.decision)).scalar_one() == "rejected"


def test_a_cancel_is_only_for_a_pending_order(app, panel):
    panel.customer("alice")
    refill_order(panel, "1001", status="pending", start_count=None)
    refill_order(panel, "1002", status="in_progress")
    client = signed_in(app.test_client())
    page = text_of(post_page(client, "/portal/orders/1001?kind=cancel", {"kind": "cancel"}))
    assert "Your claim meets the Terms" in page and "still Pending" in page
    page = text_of(post_page(client, "/portal/orders/1002", {"kind": "cancel"}))
    assert "would not be accepted" in page and "Order 1002 is In Progress" in page
    assert "Terms §9 Order finality" in page and "An order can be cancelled only while it is Pending" in page


def test_bad_claim_input_is_a_400_with_the_field_marked(app, panel):
    panel.customer("alice")
    refill_order(panel)
    client = signed_in(app.test_client())
    response = post_page(client, "/portal/orders/1001", {"kind": "refill", "current_count": "-5",
                                                         "description": "Keep this text."})
    page = text_of(response)
    assert response.status_code == 400 and 'id="current_count-error"' in page and "Keep this text." in page
    response = post_page(client, "/portal/orders/1001", {"kind": "lottery"})
    assert response.status_code == 400 and "Not a valid choice" in text_of(response)


# --- the Balance and money requests ------------------------------------------------------

def test_the_balance_is_split_into_deposited_funds_and_promotional_credit(app, panel):
    funded(panel)
    refill_order(panel, charge="10.00", charge_deposited="8.00", charge_promo="2.00")
    panel.ledger(entry("alice-c1", "charge", "8.00", "alice", order="1001", funding="deposited"),
                 entry("alice-c2", "charge", "2.00", "alice", order="1001", funding="promotional"))
    client = signed_in(app.test_client())
    page = text_of(client.get("/portal/balance"))
    stats = dict(re.findall(r'<span class="label">([^<]+)</span><span class="value">([^<]+)</span>', page))
    assert stats == {"Deposited Funds": "$92.00", "Promotional Credit": "$18.00", "Total": "$110.00"}
    assert "Promotional Credit received" in page and "WELCOME10" not in page  # no internal sources shown
    assert "below zero" not in page


def test_a_negative_balance_says_it_is_owed(app, panel):
    panel.customer("alice")
    panel.ledger(entry("alice-d1", "deposit", "50.00", "alice"), entry("alice-cb", "chargeback", "80.00", "alice", funding="deposited"))
    page = text_of(signed_in(app.test_client()).get("/portal/balance"))
    assert "Your Balance is below zero by $30.00" in page


def test_a_withdrawal_shows_the_figures_then_is_asked_for_exactly_those(app, panel):
    funded(panel)
    client = signed_in(app.test_client())
    url = "/portal/money/withdrawal"
    response = post_page(client, url, {"amount": "50.00"})
    page = text_of(response)
    assert response.status_code == 200
    shown = hidden(page, "shown")
    assert D(shown) < D("50.00")  # the processing fee (and the deposit's fee) are deducted
    assert "Withdrawal fee rate in force" in page and "5.00%" in page
    assert "<strong>Terms §14 Withdrawals</strong>: You can withdraw Deposited Funds" in page
    assert count(app, MoneyRequest) == 0  # figures only

    response = resend(client, url, page, {"amount": "50.00"})
    assert response.status_code == 302
    with app.app_context():
        request = db.session.execute(select(MoneyRequest)).scalar_one()
        assert (request.kind, request.status, request.amount, request.ticket.channel) == (
            "withdrawal", "pending_review", D(shown), "portal")
        assert request.confirmed_at is not None and request.fee_charged == D("2.50")


def test_figures_that_moved_since_they_were_shown_are_shown_again_and_nothing_is_filed(app, panel):
    funded(panel)
    client = signed_in(app.test_client())
    url = "/portal/money/refund"
    page = text_of(post_page(client, url, {"method": "original"}))
    before = hidden(page, "shown")
    # Another deposit with its own fee lands before the customer presses the button.
    panel.ledger(entry("alice-d2", "deposit", "40.00", "alice", processor_fee="1.00"))
    response = resend(client, url, page, {"method": "original"})
    page = text_of(response)
    assert response.status_code == 409
    assert "not the ones shown" in page and hidden(page, "shown") != before
    assert count(app, MoneyRequest) == 0
    response = resend(client, url, page, {"method": "original"})
    assert response.status_code == 302 and count(app, MoneyRequest) == 1


def test_a_refund_to_the_balance_needs_the_order_and_bad_amounts_are_marked(app, panel):
    funded(panel)
    client = signed_in(app.test_client())
    response = post_page(client, "/portal/money/refund", {"method": "balance", "order": "",
                                                          "description": "Keep this text."})
    assert response.status_code == 422 and "required for a refund to the Balance" in text_of(response)
    assert "Keep this text." in text_of(response)
    response = post_page(client, "/portal/money/withdrawal", {"amount": "12,50"})
    assert response.status_code == 400 and "An amount such as" in text_of(response)
    assert client.get("/portal/money/lottery").status_code == 404
    assert count(app, MoneyRequest) == 0


def test_figures_awaiting_confirmation_are_answered_on_the_portal_ticket(app, panel):
    funded(panel)
    filed = panel.post("/refunds", {"customer": "alice", "method": "original"}).get_json()
    reference = filed["reference"]
    client = signed_in(app.test_client())
    url = f"/portal/tickets/{reference}"
    page = text_of(client.get(url))
    assert "Confirm 76.80" in page and "Keep my Balance" in page
    assert "Terms §13 Refunds" in page  # the deductions' clause, explained
    response = client.post(f"{url}/money", data={"csrf_token": csrf_from(page), "amount": "76.80",
                                                 "choice": "confirm"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.execute(select(MoneyRequest.status)).scalar_one() == "pending_review"
    page = text_of(client.get(url))
    assert "Thank you: your request is with our billing team." in page
    response = client.post(f"{url}/money", data={"csrf_token": csrf_from(page), "choice": "cancel"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.execute(select(MoneyRequest.status)).scalar_one() == "cancelled"
    # A second answer is refused with the reason, not a 500.
    page = text_of(client.get(url))
    client.post(f"{url}/money", data={"csrf_token": csrf_from(page), "choice": "confirm", "amount": "76.80"})
    assert "that step is not open" in text_of(client.get(url))


# --- more accounts, privacy, the chooser ---------------------------------------------------

def test_new_request_offers_every_kind(app, panel):
    panel.customer("alice")
    page = text_of(signed_in(app.test_client()).get("/portal/new"))
    for path in ("/portal/tickets/new", "/portal/orders", "/portal/money/refund", "/portal/money/withdrawal",
                 "/portal/money/closure", "/portal/money/restoration", "/portal/accounts", "/portal/privacy"):
        assert f'href="{path}"' in page, path


def test_more_than_ten_accounts_files_a_ticket_and_ten_are_answered_at_once(app, panel):
    panel.customer("alice")
    client = signed_in(app.test_client())
    page = text_of(post_page(client, "/portal/accounts", {"category": "agency", "accounts_wanted": "8"}))
    assert "No ticket is needed" in page and count(app, AccountRequest) == 0
    response = post_page(client, "/portal/accounts", {"category": "agency", "accounts_wanted": "25",
                                                      "business_need": "One account per client brand we manage."})
    assert response.status_code == 302
    with app.app_context():
        request = db.session.execute(select(AccountRequest)).scalar_one()
        assert (request.customer.panel_id, request.accounts_wanted, request.ticket.channel) == ("alice", 25, "portal")
    response = post_page(client, "/portal/accounts", {"category": "agency", "accounts_wanted": "25",
                                                      "business_need": "short"})
    assert response.status_code == 400 and "at least 20 characters" in text_of(response)


def test_a_privacy_request_is_for_the_account_and_still_asks_for_the_code(app, panel):
    panel.customer("alice")
    client = signed_in(app.test_client())
    response = post_page(client, "/portal/privacy", {"rights": ["access"], "jurisdiction": "eu"})
    assert response.status_code == 302 and "/privacy/requests/" in response.headers["Location"]
    with app.app_context():
        request = db.session.execute(select(PrivacyRequest)).scalar_one()
        assert (request.email, request.customer.panel_id, request.channel) == (email_of("alice"), "alice", "portal")
        assert request.verified_at is None  # signing in is not the identity check: the code is
        codes = db.session.execute(select(OutboundMail).where(OutboundMail.to_addr == email_of("alice"))).scalars()
        assert any("code" in mail.body_text.lower() for mail in codes)
    response = post_page(client, "/portal/privacy", {"jurisdiction": "eu"})
    assert response.status_code == 400 and "Choose at least one right." in text_of(response)


# --- the matrix: one customer never reaches another's orders, Balance or requests ------------

ORDER_ROUTES = [("GET", "/portal/orders/{order}"), ("POST", "/portal/orders/{order}")]


def test_customer_a_never_reaches_customer_bs_orders_figures_or_requests(app, panel):
    funded(panel, "alice")
    funded(panel, "bob")
    refill_order(panel, "B-1", "bob")
    bobs = panel.post("/refunds", {"customer": "bob", "method": "original"}).get_json()["reference"]
    alice = signed_in(app.test_client(), "alice")
    page = text_of(alice.get("/portal"))
    token = csrf_from(page)
    missing = alice.get("/portal/orders/NO-SUCH")
    assert missing.status_code == 404
    for method, path in ORDER_ROUTES:
        for order in ("B-1", "b-1"):
            url = path.format(order=order)
            response = alice.get(url) if method == "GET" else alice.post(url, data={
                "csrf_token": token, "kind": "refill", "current_count": "4400", "step": "file:refill:4400"})
            assert response.status_code == 404, (method, url)
    # Bob's request: no page, no answer, no figures.
    assert alice.get(f"/portal/tickets/{bobs}").status_code == 404
    response = alice.post(f"/portal/tickets/{bobs}/money", data={"csrf_token": token, "choice": "keep_balance"})
    assert response.status_code == 404
    # A refund about Bob's order is "not found for this customer", never Bob's figures.
    response = post_page(alice, "/portal/money/refund", {"method": "balance", "order": "B-1"})
    assert response.status_code == 404 and "No order B-1 is known for customer alice." in text_of(response)
    with app.app_context():
        assert db.session.execute(select(MoneyRequest.status)).scalar_one() == "awaiting_confirmation"
        assert db.session.execute(select(func.count()).select_from(Claim)).scalar() == 0
    # None of her own pages names any of Bob's things.
    pages = [path for method, path in CUSTOMER_ROUTES.values() if method == "GET" and "{" not in path]
    assert "/portal/balance" in pages and "/portal/orders" in pages
    for url in pages:
        response = alice.get(url)
        page = text_of(response)
        assert response.status_code in (200, 404), url  # 404: the matrix's own order 1001 is nobody's here
        assert "B-1" not in page and bobs not in page and "bob" not in page.lower(), url
    assert count(app, Ticket, Ticket.customer_id.is_not(None)) == 1  # only Bob's own request
