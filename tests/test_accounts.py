"""Several accounts through HTTP and the panel's feeds (DESIGN §2 terms-4-multi-account,
Terms §4 and §12): the identifiers accounts are seen with, the shared-promotion flags on
the customer and ticket pages, the public request for more than 10 accounts and
POST /api/v1/account-requests.

Customers and ledger entries arrive through the real panel API; every test runs on SQLite
and on PostgreSQL."""
import re
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select, text, update

from conftest import (Auth, PanelFeed, alert, csrf_from, field_error, get_ok, iso, ledger_entry, post_form,
                      text_of)
from desk.accounts.models import AccountRequest, CustomerIdentifier
from desk.audit.models import AuditEvent
from desk.auth.roles import ROLES, allows
from desk.claims.models import Customer
from desk.extensions import db
from desk.tickets.models import Ticket

UTC = timezone.utc
T0 = datetime(2026, 7, 1, 10, 0, 0, tzinfo=UTC)
CSRF_MESSAGE = "CSRF check failed"
NOT_FOUND_MESSAGE = ("We could not find one account with that e-mail (and login). Check both; if several accounts "
                     "use this e-mail, give the login too.")
NEED = "We run one account per client brand to keep their budgets and reports apart."
REF_RE = re.compile(r'class="ref">(T-\d{2}-\d{6})<')


# --- helpers ------------------------------------------------------------------

class Panel(PanelFeed):
    """The storefront panel pushing customers and ledger entries with a panel key (its own
    test client, so no staff session is involved)."""

    def __init__(self, app, key):
        super().__init__(app.test_client(), key)

    def promo(self, entry_id, customer, code):
        return self.ledger(entry(entry_id, "promo_credit", "5.00", customer, source=code))

    def deposit(self, entry_id, customer, fingerprint=None):
        extra = {"payment_fingerprint": fingerprint} if fingerprint else {}
        return self.ledger(entry(entry_id, "deposit", "20.00", customer, method="card", **extra))

    def request(self, body, key=None):
        headers = {"Authorization": f"Bearer {key}"} if key else self.headers
        return self.client.post("/api/v1/account-requests", json=body, headers=headers)


def entry(entry_id, kind, amount, customer="alice", **extra):
    return ledger_entry(entry_id, kind, amount, customer, at=T0, **extra)


@pytest.fixture
def panel(app, api_key):
    return Panel(app, api_key("panel"))


def identifiers(app, panel_id=None) -> set:
    """{(customer, kind, value)} stored (of one customer when panel_id is given)."""
    with app.app_context():
        query = select(Customer.panel_id, CustomerIdentifier.kind, CustomerIdentifier.value).join(
            Customer, Customer.id == CustomerIdentifier.customer_id)
        if panel_id:
            query = query.where(Customer.panel_id == panel_id)
        return {tuple(row) for row in db.session.execute(query)}


def count(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def signed_in(app, role="agent"):
    browser = app.test_client()
    Auth(app, browser).login(role)
    return browser


def flags_card(page: str) -> str:
    """The customer page's "Shared promotions" card ('' when there is none)."""
    match = re.search(r'<section class="card">\s*<h2>Shared promotions.*?</section>', page, re.S)
    return match.group(0) if match else ""


def flagged(section: str) -> list[str]:
    """The other customers the flags link to, in order."""
    return re.findall(r'<a href="/customers/([^"]+)">Customer [^<]+ →</a>', section)


def more_form(client, **data):
    body = {"email": "alice@alice-shop.example", "login": "", "category": "agency", "accounts_wanted": "25",
            "business_need": NEED}
    body.update(data)
    return post_form(client, "/accounts/more", {k: v for k, v in body.items() if v is not None})


def nothing_filed(app):
    assert count(app, AccountRequest) == 0 and count(app, Ticket) == 0


def request_of(app, ref) -> AccountRequest:
    with app.app_context():
        found = db.session.execute(
            select(AccountRequest).join(Ticket, Ticket.id == AccountRequest.ticket_id).where(Ticket.reference == ref)
        ).scalar_one()
        db.session.expunge_all()
        return found


def ticket_of(app, ref) -> Ticket:
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == ref)).scalar_one()
        body = ticket.messages[0].body_text
        db.session.expunge_all()
        ticket.first_body = body
        return ticket


def events(app, action) -> list[AuditEvent]:
    with app.app_context():
        found = db.session.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars().all()
        db.session.expunge_all()
        return found


def api_body(**fields):
    body = {"customer": "alice", "category": "agency", "accounts_wanted": 25, "business_need": NEED}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


# --- 1. identifiers from the customer feed ------------------------------------------------

def test_the_customer_feed_stores_the_mail_domain_and_the_identifiers_sent(app, panel):
    panel.customer("alice", email="Alice@Alice-Shop.EXAMPLE", identifiers={
        "ips": ["192.0.2.1", " 2001:DB8:0::1 ", "::ffff:198.51.100.7"], "payment_fingerprints": ["fp-1", "fp-2"]})
    assert identifiers(app) == {
        ("alice", "email_domain", "alice-shop.example"), ("alice", "ip", "192.0.2.1"), ("alice", "ip", "2001:db8::1"),
        ("alice", "ip", "198.51.100.7"), ("alice", "payment", "fp-1"), ("alice", "payment", "fp-2")}


def test_a_public_mail_domain_is_not_an_identifier(app, panel):
    panel.customer("alice", email="alice@GMail.com")
    panel.customer("bob", email="bob@proton.me", identifiers={"ips": ["192.0.2.1"]})
    assert identifiers(app) == {("bob", "ip", "192.0.2.1")}


def test_repeated_deliveries_store_each_identifier_once(app, panel):
    body = {"identifiers": {"ips": ["192.0.2.1", "192.0.2.1", "::ffff:192.0.2.1"], "payment_fingerprints": ["fp-1"]}}
    for _ in range(3):
        panel.customer("alice", **body)
    panel.customer("alice")  # no identifiers this time: nothing is taken away
    assert identifiers(app) == {("alice", "email_domain", "alice-shop.example"), ("alice", "ip", "192.0.2.1"),
                                ("alice", "payment", "fp-1")}
    assert count(app, CustomerIdentifier) == 3


def test_a_new_email_adds_its_domain_and_the_old_one_stays(app, panel):
    panel.customer("alice", email="alice@old-agency.example")
    panel.customer("alice", email="alice@new-agency.example")
    panel.customer("alice", email="alice@gmail.com")
    assert {v for _, k, v in identifiers(app, "alice") if k == "email_domain"} == {
        "old-agency.example", "new-agency.example"}


def test_an_update_without_the_email_still_knows_the_stored_domain(app, panel):
    panel.customer("alice", email="alice@agency.example")
    with app.app_context():  # as a database restored from before the feed kept identifiers
        db.session.execute(CustomerIdentifier.__table__.delete())
        db.session.commit()
    assert panel.client.put("/api/v1/customers/alice", json={"status": "active"},
                            headers=panel.headers).status_code == 200
    assert identifiers(app) == {("alice", "email_domain", "agency.example")}


@pytest.mark.parametrize("sent, field, problem", [
    ("not an object", "identifiers", "an object with ips and payment_fingerprints"),
    (["192.0.2.1"], "identifiers", "an object with ips and payment_fingerprints"),
    ({"ips": "192.0.2.1"}, "identifiers.ips", "a list of strings"),
    ({"ips": ["192.0.2.1", "192.0.2.2", "192.0.2.300"]}, "identifiers.ips[2]", "not an IP address"),
    ({"ips": ["192.0.2.0/24"]}, "identifiers.ips[0]", "not an IP address"),
    ({"ips": ["alice-shop.example"]}, "identifiers.ips[0]", "not an IP address"),
    ({"ips": [3221225985]}, "identifiers.ips[0]", "must be a string"),
    ({"ips": [None]}, "identifiers.ips[0]", "must be a string"),
    ({"ips": ["  "]}, "identifiers.ips[0]", "must not be empty"),
    ({"ips": ["192.0.2.1\x00"]}, "identifiers.ips[0]", "must not contain NUL characters"),
    ({"ips": [f"192.0.2.{n % 250}" for n in range(101)]}, "identifiers.ips", "at most 100 values"),
    ({"payment_fingerprints": ["fp", {"card": "4111"}]}, "identifiers.payment_fingerprints[1]", "must be a string"),
    ({"payment_fingerprints": ["x" * 256]}, "identifiers.payment_fingerprints[0]", "at most 255 characters"),
    ({"payment_fingerprints": ["fp\x00"]}, "identifiers.payment_fingerprints[0]", "must not contain NUL characters"),
    ({"payment_fingerprints": [f"fp-{n}" for n in range(101)]}, "identifiers.payment_fingerprints",
     "at most 100 values"),
    ({"ip": ["192.0.2.1"]}, "identifiers.ip", "unknown: send ips or payment_fingerprints"),
])
def test_a_bad_identifier_refuses_the_whole_delivery_with_a_422(app, panel, sent, field, problem):
    panel.customer("alice", email="alice@old-agency.example")
    response = panel.put_customer("alice", email="alice@new-agency.example", identifiers=sent)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and error["fields"][field] == problem
    assert field in error["message"]
    # Nothing of that delivery was kept: not the new e-mail, not its domain.
    with app.app_context():
        assert db.session.execute(select(Customer.email)).scalar_one() == "alice@old-agency.example"
    assert identifiers(app) == {("alice", "email_domain", "old-agency.example")}
    # ... and a new customer sent with a bad identifier is not created.
    assert panel.put_customer("bob", identifiers=sent).status_code == 422
    with app.app_context():
        assert db.session.execute(select(Customer.panel_id)).scalars().all() == ["alice"]


def test_every_bad_identifier_is_named_at_once(app, panel):
    response = panel.put_customer("alice", identifiers={"ips": ["nope", "192.0.2.1", 7],
                                                        "payment_fingerprints": ["ok", ""]})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {
        "identifiers.ips[0]": "not an IP address", "identifiers.ips[2]": "must be a string",
        "identifiers.payment_fingerprints[1]": "must not be empty"}


def test_hundred_of_each_are_accepted(app, panel):
    panel.customer("alice", identifiers={"ips": [f"10.0.0.{n}" for n in range(100)],
                                         "payment_fingerprints": [f"fp-{n}" for n in range(100)]})
    assert count(app, CustomerIdentifier) == 201  # and the mail domain


# --- 1. identifiers from the ledger feed --------------------------------------------------

def test_deposit_fingerprints_from_the_ledger_are_identifiers(app, panel):
    panel.customer("alice")
    panel.ledger(entry("d1", "deposit", "20.00", "alice", method="card", payment_fingerprint="fp-card-1"),
                 entry("d2", "deposit", "20.00", "alice", method="card", payment_fingerprint="fp-card-1"),
                 entry("d3", "deposit", "10.00", "carol", method="crypto", payment_fingerprint="fp-wallet"),
                 entry("d4", "deposit", "10.00", "alice", method="card"))
    assert {i for i in identifiers(app) if i[1] == "payment"} == {
        ("alice", "payment", "fp-card-1"), ("carol", "payment", "fp-wallet")}


def test_a_repeated_ledger_delivery_stores_the_fingerprint_once(app, panel):
    batch = [entry("d1", "deposit", "20.00", "alice", payment_fingerprint="fp-1")]
    assert panel.ledger(*batch)["stored"] == 1
    assert panel.ledger(*batch) == {"stored": 0, "duplicates": 1}
    panel.ledger(entry("d2", "deposit", "5.00", "alice", payment_fingerprint="fp-1"))
    assert count(app, CustomerIdentifier) == 1
    # The customer PUT naming the same fingerprint adds nothing either.
    panel.customer("alice", identifiers={"payment_fingerprints": ["fp-1"]})
    assert {i for i in identifiers(app) if i[1] == "payment"} == {("alice", "payment", "fp-1")}


def test_a_fingerprint_on_a_non_deposit_is_refused_and_nothing_is_stored(app, panel):
    response = panel.post_ledger(entry("d1", "deposit", "20.00", "alice", payment_fingerprint="fp-1"),
                                 entry("p1", "promo_credit", "5.00", "alice", source="WELCOME",
                                       payment_fingerprint="fp-2"))
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"entries[1].payment_fingerprint": "only on deposits"}
    assert count(app, CustomerIdentifier) == 0


def race(*calls):
    """Run the calls at the same instant, each in its thread; their results (or errors)."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(slot):
        barrier.wait()
        try:
            results[slot] = calls[slot]()
        except Exception as exc:  # noqa: BLE001 - reported by the caller's assert
            results[slot] = repr(exc)

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a request hung"
    return results


@pytest.mark.parametrize("feed", ["customer", "ledger"])
def test_concurrent_deliveries_of_the_same_identifiers_store_them_once(app, api_key, feed):
    """Two deliveries naming the same fingerprints at the same instant: both are answered,
    each identifier is stored once."""
    key = api_key("panel")
    Panel(app, key).customer("alice")
    for round_ in range(5):
        prints = [f"fp-{round_}-{n}" for n in range(10)]

        def deliver(slot):
            client = Panel(app, key)
            if feed == "customer":  # each a change of its own, as the panel's updates are
                return lambda: client.put_customer("alice", last_login_at=iso(T0.replace(day=round_ * 2 + slot + 1)),
                                                   identifiers={"payment_fingerprints": prints}).status_code
            return lambda: client.post_ledger(*[entry(f"d-{slot}-{p}", "deposit", "1.00", "alice",
                                                      payment_fingerprint=p) for p in prints]).status_code

        assert race(deliver(0), deliver(1)) == [200, 200]
    assert count(app, CustomerIdentifier) == 51  # 50 fingerprints and the mail domain


def test_an_identifier_another_delivery_just_stored_is_skipped_not_an_error(app, panel):
    """What remember() does when a concurrent delivery committed the same row between its
    read and its insert: the insert skips it."""
    from desk.accounts import identifiers as service

    panel.customer("alice")
    with app.app_context():
        alice = db.session.execute(select(Customer.id)).scalar_one()
        rows = [{"customer_id": alice, "kind": "email_domain", "value": "alice-shop.example"},
                {"customer_id": alice, "kind": "ip", "value": "192.0.2.1"}]
        db.session.execute(service._insert_skipping_duplicates(), rows)
        db.session.commit()
    assert identifiers(app) == {("alice", "email_domain", "alice-shop.example"), ("alice", "ip", "192.0.2.1")}


# --- 2. flags (terms-12-promo) --------------------------------------------------------------

def agency_pair(panel, code_a="WELCOME10", code_b="WELCOME10", domain="agency.example"):
    """alice and bob: the same company mail domain, each with a promotion."""
    panel.customer("alice", email=f"alice@{domain}")
    panel.customer("bob", email=f"bob@{domain}")
    panel.promo("p-a", "alice", code_a)
    panel.promo("p-b", "bob", code_b)


def test_accounts_sharing_a_domain_and_a_promotion_are_flagged_both_ways(app, panel):
    agency_pair(panel)
    panel.customer("carol", email="carol@elsewhere.example")
    panel.promo("p-c", "carol", "WELCOME10")  # same promotion, nothing shared
    staff = signed_in(app)
    card = flags_card(get_ok(staff, "/customers/alice"))
    assert "<h2>Shared promotions <small class=\"muted\">(terms-12-promo)</small></h2>" in card
    assert flagged(card) == ["bob"]
    assert ("Account bob shares e-mail domain agency.example and also redeemed WELCOME10: one promotion claimed "
            "across several accounts breaks the Terms.") in card
    assert flagged(flags_card(get_ok(staff, "/customers/bob"))) == ["alice"]
    assert "No shared promotions found." in flags_card(get_ok(staff, "/customers/carol"))


def test_an_identifier_without_a_shared_promotion_is_no_flag(app, panel):
    agency_pair(panel, code_a="WELCOME10", code_b="SPRING5")
    card = flags_card(get_ok(signed_in(app), "/customers/alice"))
    assert flagged(card) == [] and "No shared promotions found." in card


def test_a_shared_public_mail_domain_is_no_flag(app, panel):
    agency_pair(panel, domain="gmail.com")
    card = flags_card(get_ok(signed_in(app), "/customers/alice"))
    assert flagged(card) == [] and "No shared promotions found." in card


def test_a_shared_ip_address_and_promotion_are_flagged(app, panel):
    panel.customer("alice", email="alice@gmail.com", identifiers={"ips": ["2001:db8::7"]})
    panel.customer("bob", email="bob@yahoo.com", identifiers={"ips": ["2001:DB8:0:0::7"]})
    panel.promo("p-a", "alice", "WELCOME10")
    panel.promo("p-b", "bob", "WELCOME10")
    card = flags_card(get_ok(signed_in(app), "/customers/alice"))
    assert flagged(card) == ["bob"] and "IP address 2001:db8::7 and also redeemed WELCOME10" in card


def test_a_card_used_on_both_accounts_and_a_shared_promotion_are_flagged(app, panel):
    panel.customer("alice", email="alice@gmail.com")
    panel.customer("bob", email="bob@yahoo.com")
    panel.deposit("d-a", "alice", "fp-card-9")
    panel.deposit("d-b", "bob", "fp-card-9")
    assert flagged(flags_card(get_ok(signed_in(app), "/customers/alice"))) == []  # no promotion yet
    panel.promo("p-a", "alice", "WELCOME10")
    panel.promo("p-b", "bob", "WELCOME10")
    card = flags_card(get_ok(signed_in(app), "/customers/alice"))
    assert flagged(card) == ["bob"] and "payment fingerprint fp-card-9 and also redeemed WELCOME10" in card


def test_a_flag_lists_every_shared_identifier_and_promotion(app, panel):
    panel.customer("alice", email="alice@agency.example", identifiers={"ips": ["192.0.2.1"]})
    panel.customer("bob", email="bob@agency.example", identifiers={"ips": ["192.0.2.1"]})
    for n, code in enumerate(("A1", "B2", "C3")):
        panel.promo(f"p-a{n}", "alice", code)
    for n, code in enumerate(("B2", "C3", "D4")):
        panel.promo(f"p-b{n}", "bob", code)
    card = flags_card(get_ok(signed_in(app), "/customers/alice"))
    assert ("Account bob shares e-mail domain agency.example; IP address 192.0.2.1 and also redeemed B2, C3:"
            in card)


def test_promotions_are_read_from_promo_credit_entries_only(app, panel):
    panel.customer("alice", email="alice@agency.example")
    panel.customer("bob", email="bob@agency.example")
    # A deposit's method and an adjustment's source are not promotions.
    panel.ledger(entry("d-a", "deposit", "10.00", "alice", method="WELCOME10"),
                 entry("d-b", "deposit", "10.00", "bob", method="WELCOME10"),
                 entry("x-a", "adjustment", "1.00", "alice", funding="deposited", source="WELCOME10"),
                 entry("x-b", "adjustment", "1.00", "bob", funding="deposited", source="WELCOME10"))
    assert flagged(flags_card(get_ok(signed_in(app), "/customers/alice"))) == []


def test_flags_name_at_most_fifty_other_accounts_the_closest_first(app, panel):
    panel.customer("alice", email="alice@agency.example", identifiers={"ips": ["192.0.2.1"]})
    promos = [entry("p-alice", "promo_credit", "5.00", "alice", source="WELCOME10")]
    for n in range(55):
        panel.customer(f"c{n:02d}", email=f"c{n}@agency.example")
        promos.append(entry(f"p-{n}", "promo_credit", "5.00", f"c{n:02d}", source="WELCOME10"))
    # The last account seen shares the domain and the IP address: it is not the one left out.
    panel.customer("zed", email="zed@agency.example", identifiers={"ips": ["192.0.2.1"]})
    promos.append(entry("p-zed", "promo_credit", "5.00", "zed", source="WELCOME10"))
    panel.ledger(*promos)
    others = flagged(flags_card(get_ok(signed_in(app), "/customers/alice")))
    assert len(others) == 50 and len(set(others)) == 50 and "alice" not in others
    assert others[0] == "zed" and others[1:] == [f"c{n:02d}" for n in range(49)]


def test_the_flag_queries_are_served_by_indexes(app, panel, backend):
    """EXPLAIN the query that finds the other accounts with sequential scans priced out: on
    PostgreSQL an index must serve each table; on SQLite the plan must SEARCH, never SCAN."""
    from desk.accounts import services

    agency_pair(panel)
    with app.app_context():
        alice = db.session.execute(select(Customer).where(Customer.panel_id == "alice")).scalar_one()
        own = services._identifiers(alice.id)
        query = services._sharing_query(alice.id, own, {"WELCOME10"})
        sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
        if backend == "postgresql":
            db.session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(db.session.execute(text("EXPLAIN " + sql)).scalars())
            assert "Seq Scan" not in plan, plan
            # Which side the planner starts from depends on its statistics; both are indexed.
            for table in ("customer_identifiers", "ledger_entries", "customers"):
                assert re.search(rf"(Index (Only )?Scan using \w+|Bitmap Heap Scan) on {table}\b", plan), plan
        else:
            plan = "\n".join(row[-1] for row in db.session.execute(text("EXPLAIN QUERY PLAN " + sql)))
            assert "SCAN customer_identifiers" not in plan and "SCAN ledger_entries" not in plan, plan
            assert "ix_customer_identifiers_kind_value" in plan, plan
        db.session.rollback()


@pytest.mark.parametrize("role", ROLES)
def test_the_flags_show_to_the_roles_that_may_view_customers(app, panel, role):
    agency_pair(panel)
    response = signed_in(app, role).get("/customers/alice")
    if allows(role, "customer.view"):
        assert response.status_code == 200
        assert flagged(flags_card(text_of(response))) == ["bob"]
    else:
        assert response.status_code == 403 and "agency.example" not in text_of(response)


def test_the_flags_need_a_staff_sign_in(app, client, panel):
    agency_pair(panel)
    response = client.get("/customers/alice")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    # A panel key opens the API, not the staff pages.
    response = client.get("/customers/alice", headers=panel.headers)
    assert response.status_code == 302 and "agency.example" not in text_of(response)


# --- 3. the public form ------------------------------------------------------------------

@pytest.fixture
def accounts(panel):
    """alice, who runs an agency; bob and bobby share one e-mail address."""
    panel.customer("alice")
    panel.customer("bob", email="team@bob-agency.example")
    panel.customer("bobby", email="Team@Bob-Agency.example")
    return panel


def test_the_form_renders_with_a_csrf_token(client):
    page = get_ok(client, "/accounts/more")
    assert "<h1>More than 10 accounts</h1>" in page and 'name="csrf_token"' in page
    for name in ("email", "login", "category", "accounts_wanted", "business_need"):
        assert f'name="{name}"' in page
    assert "Advertising or SMM agency" in page


@pytest.mark.parametrize("wanted", ["1", "10"])
def test_ten_or_fewer_accounts_are_answered_at_once_without_a_ticket(app, client, accounts, wanted):
    response = more_form(client, accounts_wanted=wanted, business_need="")
    assert response.status_code == 200
    page = text_of(response)
    assert "<h2>No ticket is needed</h2>" in page
    assert f"Up to 10 accounts need no notice: {wanted} can be created without asking" in page
    nothing_filed(app)


def test_ten_or_fewer_need_no_known_account_either(app, client):
    response = more_form(client, email="nobody@example.com", accounts_wanted="3")
    assert response.status_code == 200 and "No ticket is needed" in text_of(response)
    nothing_filed(app)


def test_more_than_ten_files_a_multi_account_ticket_with_its_request(app, client, accounts):
    response = more_form(client, email="ALICE@alice-shop.example", category="reseller", accounts_wanted="40")
    assert response.status_code == 200
    page = text_of(response)
    assert "<h1>We have your request</h1>" in page
    [ref] = REF_RE.findall(page)
    assert "answers by e-mail to your account's address" in page
    assert "/t/" not in page  # the requester's link goes to the account's e-mail only
    ticket = ticket_of(app, ref)
    assert (ticket.kind, ticket.queue, ticket.channel, ticket.status) == ("multi_account", "support", "web", "new")
    assert ticket.requester_email == "alice@alice-shop.example"
    assert ticket.subject == "More than 10 accounts: 40 for alice"
    assert NEED in ticket.first_body and "40 accounts in all, as: Reseller." in ticket.first_body
    request = request_of(app, ref)
    assert (request.category, request.accounts_wanted) == ("reseller", 40)
    assert request.reasons == [{"rule": "terms-4-multi-account", "outcome": "needs_review",
                                "text": "40 accounts is more than 10: support reviews the business need before "
                                        "more are created, and may ask for more information or decline."}]
    with app.app_context():
        assert db.session.get(Customer, request.customer_id).panel_id == "alice"
        assert db.session.get(Ticket, request.ticket_id).customer.panel_id == "alice"
    [event] = events(app, "account_request.filed")
    assert event.data["decision"] == "needs_review" and event.data["accounts_wanted"] == 40


def test_something_else_asks_which_category_applies(app, client, accounts):
    ref = REF_RE.findall(text_of(more_form(client, category="other")))[0]
    assert [r["outcome"] for r in request_of(app, ref).reasons] == ["needs_review", "needs_review"]


def test_a_shared_email_needs_the_login(app, client, accounts):
    response = more_form(client, email="team@bob-agency.example")
    assert response.status_code == 404 and alert(text_of(response)) == NOT_FOUND_MESSAGE
    nothing_filed(app)
    response = more_form(client, email="team@bob-agency.example", login="bobby")
    assert response.status_code == 200
    [ref] = REF_RE.findall(text_of(response))
    assert ticket_of(app, ref).requester_email == "Team@bob-agency.example"  # as validate_email writes it
    with app.app_context():
        assert db.session.get(Customer, request_of(app, ref).customer_id).panel_id == "bobby"


@pytest.mark.parametrize("email, login", [
    ("nobody@example.com", ""),
    ("alice@alice-shop.example", "bob"),  # a login that is not this e-mail's
    ("alice@alice-shop.example", "ALICE"),
    ("team@bob-agency.example", "carol"),
])
def test_an_unknown_account_and_a_wrong_login_look_the_same(app, client, accounts, email, login):
    response = more_form(client, email=email, login=login)
    assert response.status_code == 404
    page = text_of(response)
    assert alert(page) == NOT_FOUND_MESSAGE
    assert f'value="{email}"' in page and NEED in page  # the fields are kept
    assert "We have your request" not in page
    nothing_filed(app)


@pytest.mark.parametrize("fields, name, message", [
    ({"business_need": ""}, "business_need", "Describe the business need in at least 20 characters."),
    ({"business_need": "   more please    "}, "business_need", "at least 20 characters"),
    ({"business_need": "x" * 5001}, "business_need", "Field cannot be longer than 5000 characters."),
    ({"accounts_wanted": "10001"}, "accounts_wanted", "Number must be between 1 and 10000."),
    ({"accounts_wanted": "0"}, "accounts_wanted", "Number must be between 1 and 10000."),
    ({"accounts_wanted": "-20"}, "accounts_wanted", "Number must be between 1 and 10000."),
    ({"accounts_wanted": "lots"}, "accounts_wanted", "Not a valid integer value."),
    ({"accounts_wanted": ""}, "accounts_wanted", "This field is required."),
    ({"category": "everyone"}, "category", "Not a valid choice."),
    ({"email": "not-an-email"}, "email", "Invalid email address."),
    ({"email": ""}, "email", "This field is required."),
    ({"login": "x" * 121}, "login", "Field cannot be longer than 120 characters."),
])
def test_invalid_fields_are_a_400_with_field_errors(app, client, accounts, fields, name, message):
    response = more_form(client, **fields)
    assert response.status_code == 400
    page = text_of(response)
    assert "Please check the fields marked below." in page
    assert message in field_error(page, name)
    nothing_filed(app)


def test_the_form_without_csrf_is_refused(app, client, accounts):
    response = client.post("/accounts/more", data={"email": "alice@alice-shop.example", "category": "agency",
                                                   "accounts_wanted": "25", "business_need": NEED})
    assert response.status_code == 400 and CSRF_MESSAGE in text_of(response)
    page = get_ok(client, "/accounts/more")
    response = client.post("/accounts/more", data={"csrf_token": csrf_from(page) + "x",
                                                   "email": "alice@alice-shop.example", "category": "agency",
                                                   "accounts_wanted": "25", "business_need": NEED})
    assert response.status_code == 400 and CSRF_MESSAGE in text_of(response)
    nothing_filed(app)


def test_a_second_request_shows_the_open_one(app, client, accounts):
    [ref] = REF_RE.findall(text_of(more_form(client)))
    again = more_form(client, accounts_wanted="90")
    assert again.status_code == 200
    page = text_of(again)
    assert "<h1>You already have this request open</h1>" in page and REF_RE.findall(page) == [ref]
    assert count(app, AccountRequest) == 1 and count(app, Ticket) == 1
    assert request_of(app, ref).accounts_wanted == 25
    # Another customer's request is another ticket.
    assert "We have your request" in text_of(more_form(client, email="team@bob-agency.example", login="bob"))
    # Once the first is resolved, the customer may ask again.
    with app.app_context():
        db.session.execute(update(Ticket).where(Ticket.reference == ref).values(status="resolved"))
        db.session.commit()
    page = text_of(more_form(client, accounts_wanted="90"))
    assert "We have your request" in page and REF_RE.findall(page) != [ref]
    assert count(app, AccountRequest) == 3


def test_the_form_is_rate_limited(make_app, api_key):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PUBLIC_FORMS="2 per minute")
    from desk.auth.services import create_api_key
    from desk.audit.services import Actor

    with app.app_context():
        _, key = create_api_key("panel", "panel", Actor("system"))
    Panel(app, key).customer("alice")
    client = app.test_client()
    assert more_form(client, accounts_wanted="3").status_code == 200
    assert more_form(client, email="nobody@example.com").status_code == 404
    response = more_form(client)
    assert response.status_code == 429 and "Too many requests" in text_of(response)
    assert count(app, Ticket) == 0
    assert client.get("/accounts/more").status_code == 200  # reading the form is not limited


# --- 3. the API ---------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["panel", "staff"])
def test_the_api_files_a_request(app, accounts, api_key, role):
    response = accounts.request(api_body(category="partner", accounts_wanted=11), key=api_key(role))
    assert response.status_code == 201
    body = response.get_json()
    assert body["decision"] == "needs_review" and body["rules"] == ["terms-4-multi-account"]
    assert body["reasons"] == [{"rule": "terms-4-multi-account", "outcome": "needs_review",
                                "text": "11 accounts is more than 10: support reviews the business need before "
                                        "more are created, and may ask for more information or decline."}]
    assert (body["customer"], body["category"], body["accounts_wanted"], body["created"]) == (
        "alice", "partner", 11, True)
    assert response.headers["Location"].endswith(f"/api/v1/tickets/{body['reference']}")
    request = request_of(app, body["reference"])
    assert request.id == body["id"]
    ticket = ticket_of(app, body["reference"])
    assert (ticket.kind, ticket.queue, ticket.channel, ticket.requester_email) == (
        "multi_account", "support", "api", "alice@alice-shop.example")


def test_a_second_open_request_over_the_api_returns_the_first(app, accounts):
    first = accounts.request(api_body())
    assert first.status_code == 201
    again = accounts.request(api_body(accounts_wanted=500, category="reseller"))
    assert again.status_code == 200
    assert again.get_json()["reference"] == first.get_json()["reference"]
    assert again.get_json()["id"] == first.get_json()["id"] and again.get_json()["created"] is False
    assert again.get_json()["accounts_wanted"] == 25
    assert count(app, Ticket) == 1
    assert accounts.request(api_body(customer="bob")).status_code == 201


@pytest.mark.parametrize("fields, field, problem", [
    ({"customer": None}, "customer", "required"),
    ({"customer": ["alice"]}, "customer", "must be a string"),
    ({"category": None}, "category", "required"),
    ({"category": "everyone"}, "category", "one of reseller, agency, partner, other"),
    ({"accounts_wanted": None}, "accounts_wanted", "required"),
    ({"accounts_wanted": 10}, "accounts_wanted",
     "at least 11: up to 10 accounts need no ticket (terms-4-multi-account)"),
    ({"accounts_wanted": 10001}, "accounts_wanted", "at most 10000"),
    ({"accounts_wanted": "many"}, "accounts_wanted", "must be a whole number"),
    ({"accounts_wanted": 25.5}, "accounts_wanted", "must be a whole number"),
    ({"accounts_wanted": True}, "accounts_wanted", "must be a whole number"),
    ({"business_need": None}, "business_need", "required"),
    ({"business_need": "more please"}, "business_need", "at least 20 characters: say what the accounts are for"),
    ({"business_need": "x" * 5001}, "business_need", "at most 5000 characters"),
    ({"business_need": NEED + "\x00"}, "business_need", "must not contain NUL characters"),
])
def test_bad_api_input_is_a_422_naming_the_field(app, accounts, fields, field, problem):
    response = accounts.request(api_body(**fields))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and error["fields"][field] == problem
    nothing_filed(app)


def test_a_body_that_is_not_a_json_object_is_refused(app, accounts):
    response = accounts.client.post("/api/v1/account-requests", data="customer=alice", headers=accounts.headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed_json"
    response = accounts.client.post("/api/v1/account-requests", json=["alice"], headers=accounts.headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed_json"
    nothing_filed(app)


@pytest.mark.parametrize("customer", ["nobody", "al\x00ice"])
def test_an_unknown_customer_is_a_404(app, accounts, customer):
    response = accounts.request(api_body(customer=customer))
    if "\x00" in customer:
        assert response.status_code == 422  # refused as input before any lookup
    else:
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    nothing_filed(app)


def test_a_customer_without_an_email_cannot_be_answered(app, accounts):
    accounts.ledger(entry("d1", "deposit", "10.00", "dave"))  # a bare record, no e-mail yet
    response = accounts.request(api_body(customer="dave"))
    assert response.status_code == 422 and response.get_json()["error"]["fields"] == {
        "customer": "no e-mail on record"}
    nothing_filed(app)


def test_the_api_needs_a_key(app, client, accounts):
    assert client.post("/api/v1/account-requests", json=api_body()).status_code == 401
    response = client.post("/api/v1/account-requests", json=api_body(), headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    nothing_filed(app)


def test_two_requests_at_once_make_one_ticket(app, accounts):
    """The panel retries a request while the first is in flight: one ticket, one answer
    for both (a lock per customer on PostgreSQL, the write lock on SQLite)."""
    for n in range(5):
        customer = f"racer{n}"
        accounts.customer(customer)
        clients = [Panel(app, accounts.key) for _ in range(2)]

        def ask(client):
            response = client.request(api_body(customer=customer))
            return response.status_code, response.get_json()

        results = race(lambda: ask(clients[0]), lambda: ask(clients[1]))
        assert sorted(r[0] for r in results if isinstance(r, tuple)) == [200, 201], results
        assert results[0][1]["reference"] == results[1][1]["reference"]
    assert count(app, Ticket) == 5 and count(app, AccountRequest) == 5


# --- 4. the panel on the ticket page ---------------------------------------------------------

def test_the_ticket_page_shows_the_request_the_clause_and_the_flags(app, accounts):
    agency_pair(accounts)  # alice and bob now share agency.example and WELCOME10
    ref = accounts.request(api_body(category="other", accounts_wanted=30)).get_json()["reference"]
    page = get_ok(signed_in(app), f"/tickets/{ref}")
    section = re.search(r'<section class="card account-request.*?</section>', page, re.S).group(0)
    assert '<span class="badge decision needs_review">needs review</span>' in section
    assert "<dt>Category</dt><dd>Something else</dd>" in section
    assert "<dt>Accounts wanted</dt><dd>30 in all</dd>" in section
    assert section.count('<a href="/help/more-than-10-accounts#terms-4-multi-account" class="rule-link">'
                         "<code>terms-4-multi-account</code></a> ") == 2
    assert "30 accounts is more than 10" in section and "say which applies" in section
    assert ("<blockquote><strong>Terms §4 Multi-Account Policy</strong> <a href=\"/help/more-than-10-accounts#terms-4-multi-account\" "
            "class=\"rule-link\"><code>terms-4-multi-account</code></a>: "
            "Eligible users may create up to 10 accounts without prior notice.") in section
    assert flagged(section) == ["bob"] and "also redeemed WELCOME10" in section
    assert '<a href="/customers/alice">alice</a>' in section


def test_the_ticket_page_without_flags_says_so(app, accounts):
    ref = accounts.request(api_body()).get_json()["reference"]
    page = get_ok(signed_in(app), f"/tickets/{ref}")
    section = re.search(r'<section class="card account-request.*?</section>', page, re.S).group(0)
    assert "No shared promotions found." in section and flagged(section) == []


def test_other_tickets_have_no_account_request_panel(app, make_ticket):
    ref = make_ticket(kind="general")
    assert "account-request" not in get_ok(signed_in(app), f"/tickets/{ref}")
