"""The JSON API called with a customer's portal session (the panel's own pages calling the
desk for the signed-in customer), and the API's listing operations — through HTTP only,
on SQLite and PostgreSQL.

Two customers sign in by the panel's single sign-on (the README's recipe, as
tests/test_portal.py builds it). The matrix holds every /api/v1 route: through none can
one customer see or change another's tickets, orders, balance, quotes or money requests,
and someone else's record is the same 404 as one that does not exist. Unsafe calls under a
session need the CSRF header; the panel's own feeds are closed to sessions; the lists page
completely, in order, by cursor."""
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conftest import iso, ledger_entry as entry, post_form
from desk.accounts.models import AccountRequest
from desk.api import CSRF_HEADER, PUBLIC_ENDPOINTS, SESSION_ENDPOINTS
from desk.auth import roles
from desk.claims.models import Claim, Customer, LedgerEntry, Order
from desk.extensions import db
from desk.money.models import MoneyRequest
from desk.policy.clauses import explain
from desk.tickets.models import Message, Ticket
from desk.types import utcnow
from test_portal import SECRET, sso_token

API = "/api/v1"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def app(make_app):
    return make_app(PANEL_SSO_SECRET=SECRET)


# --- helpers -------------------------------------------------------------------------

def email_of(panel_id):
    return f"{panel_id}@{panel_id}-shop.example"


class Browser:
    """A customer's browser signed in by the panel's single sign-on, calling the API as the
    panel's own pages do: the session cookie, and the CSRF token of GET /me on unsafe calls."""

    def __init__(self, app, panel_id):
        self.panel_id = panel_id
        self.client = app.test_client()
        response = self.client.get("/portal/sso", query_string={"token": sso_token(SECRET, panel_id)})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        me = self.client.get(f"{API}/me")
        assert me.status_code == 200, me.get_json()
        self.csrf = me.get_json()["csrf_token"]

    def get(self, path, **params):
        return self.client.get(API + path, query_string=params)

    def send(self, method, path, body=None, csrf=True, headers=None):
        """An unsafe call; csrf: True sends this session's token, a string sends that, None none."""
        headers = dict(headers or {})
        token = self.csrf if csrf is True else csrf
        if token is not None:
            headers[CSRF_HEADER] = token
        return self.client.open(API + path, method=method, json=body, headers=headers)

    def post(self, path, body=None, **kwargs):
        return self.send("POST", path, body, **kwargs)


def ok(response, *statuses):
    assert response.status_code in (statuses or (200,)), (response.status_code, response.get_json())
    return response.get_json()


def error_code(response):
    return response.get_json()["error"]["code"]


def same_404(response, missing, secret: str, stand_in: str):
    """Someone else's record answers exactly as a missing one: same status, same body once
    the id asked for is swapped."""
    assert response.status_code == 404, (response.status_code, response.get_json())
    assert missing.status_code == 404, (missing.status_code, missing.get_json())
    assert json.loads(response.get_data(as_text=True).replace(secret, stand_in)) == missing.get_json()


def counts(app) -> dict:
    with app.app_context():
        return {model.__name__: db.session.execute(select(func.count()).select_from(model)).scalar()
                for model in (Customer, Order, LedgerEntry, Ticket, Message, Claim, MoneyRequest, AccountRequest)}


def the_world(panel) -> dict:
    """Alice and Bob, each with a deposit and promotional credit, a completed and a pending
    order, a ticket and a withdrawal awaiting confirmation — all filed by the panel's key."""
    world = {}
    for who, first in (("alice", 1001), ("bob", 2001)):
        panel.customer(who)
        panel.ledger(entry(f"{who}-d1", "deposit", "100.00", who, processor_fee="3.20"),
                     entry(f"{who}-p1", "promo_credit", "20.00", who, source="WELCOME10"))
        panel.order(str(first), who)
        panel.order(str(first + 1), who, status="pending", created_at=iso(utcnow() - timedelta(minutes=30)))
        ticket = ok(panel.post("/tickets", {"subject": f"{who.title()}'s private question", "body": "Where is it?",
                                            "requester": {"email": email_of(who)}, "customer": who,
                                            "order": str(first)}), 201)
        request = ok(panel.post("/withdrawals", {"customer": who, "amount": "10.00"}), 201)
        world[who] = {"order": str(first), "pending": str(first + 1), "ticket": ticket["reference"],
                      "request": request["id"]}
    return world


# --- the matrix: one customer never reaches another's records ---------------------------
#
# endpoint -> check(me: Browser, mine: dict, theirs: dict, victim: str). Each asserts what
# the signed-in customer gets when it aims the route at the other customer's records.

def _list_has_none_of_theirs(me, path, theirs_values, victim, field):
    listing = ok(me.get(path, limit=100))
    assert listing["next_cursor"] is None
    assert not {item[field] for item in listing["items"]} & set(theirs_values), (path, listing)
    assert victim not in json.dumps(listing) and email_of(victim) not in json.dumps(listing)
    same_404(me.get(path, customer=victim), me.get(path, customer="nobody"), victim, "nobody")
    return listing


def check_me(me, mine, theirs, victim):
    body = ok(me.get("/me"))
    assert body["panel_id"] == me.panel_id and body["email"] == email_of(me.panel_id)
    assert victim not in json.dumps(body)


def check_list_tickets(me, mine, theirs, victim):
    listing = _list_has_none_of_theirs(me, "/tickets", [theirs["ticket"]], victim, "reference")
    assert mine["ticket"] in {t["reference"] for t in listing["items"]}


def check_create_ticket(me, mine, theirs, victim):
    body = {"subject": "Injected", "body": "Filed for someone else"}
    same_404(me.post("/tickets", {**body, "customer": victim}), me.post("/tickets", {**body, "customer": "nobody"}),
             victim, "nobody")
    same_404(me.post("/tickets", {**body, "order": theirs["order"]}), me.post("/tickets", {**body, "order": "9999"}),
             theirs["order"], "9999")


def check_get_ticket(me, mine, theirs, victim):
    missing = me.get("/tickets/T-99-999999")
    same_404(me.get(f"/tickets/{theirs['ticket']}"), missing, theirs["ticket"], "T-99-999999")
    same_404(me.get(f"/tickets/{theirs['ticket'].lower()}"), missing, theirs["ticket"].lower(), "T-99-999999")


def check_add_message(me, mine, theirs, victim):
    same_404(me.post(f"/tickets/{theirs['ticket']}/messages", {"body": "Injected reply"}),
             me.post("/tickets/T-99-999999/messages", {"body": "Injected reply"}), theirs["ticket"], "T-99-999999")


def check_get_customer(me, mine, theirs, victim):
    same_404(me.get(f"/customers/{victim}"), me.get("/customers/nobody"), victim, "nobody")
    assert ok(me.get(f"/customers/{me.panel_id}"))["panel_id"] == me.panel_id


def check_list_orders(me, mine, theirs, victim):
    listing = _list_has_none_of_theirs(me, "/orders", [theirs["order"], theirs["pending"]], victim, "panel_id")
    assert {o["panel_id"] for o in listing["items"]} == {mine["order"], mine["pending"]}


def check_get_order(me, mine, theirs, victim):
    for order in (theirs["order"], theirs["pending"]):
        same_404(me.get(f"/orders/{order}"), me.get("/orders/9999"), order, "9999")


def check_panel_only(path_of):
    def check(me, mine, theirs, victim):
        for target in (victim, me.panel_id):
            for csrf in (True, None):
                method, path, body = path_of(target, theirs)
                response = me.send(method, path, body, csrf=csrf)
                assert response.status_code == 403 and error_code(response) == "forbidden", (path, csrf)
    return check


def check_claims(path):
    def check(me, mine, theirs, victim):
        for kind in ("non_delivery", "cancel", "refill"):
            body = {"kind": kind, "current_count": 900}
            same_404(me.post(path, {**body, "order": theirs["order"]}), me.post(path, {**body, "order": "9999"}),
                     theirs["order"], "9999")
    return check


MONEY_BODIES = {"refunds": {"method": "original", "amount": "5.00"}, "withdrawals": {"amount": "5.00"},
                "closures": {}, "restorations": {}}


def check_money(suffix):
    def check(me, mine, theirs, victim):
        for plural, body in MONEY_BODIES.items():
            path = f"/{plural}{suffix}"
            same_404(me.post(path, {**body, "customer": victim}), me.post(path, {**body, "customer": "nobody"}),
                     victim, "nobody")
        # A refund of someone else's order, for oneself: as unknown as an order that never was.
        refund = {"method": "balance"}
        same_404(me.post(f"/refunds{suffix}", {**refund, "order": theirs["order"]}),
                 me.post(f"/refunds{suffix}", {**refund, "order": "9999"}), theirs["order"], "9999")
    return check


def check_list_money_requests(me, mine, theirs, victim):
    listing = _list_has_none_of_theirs(me, "/money-requests", [theirs["request"]], victim, "id")
    assert [r["id"] for r in listing["items"]] == [mine["request"]]


def check_money_request(action, body=None):
    def check(me, mine, theirs, victim):
        missing_id = 999999
        for request_id in (theirs["request"],):
            path = f"/money-requests/{request_id}{action}"
            missing = f"/money-requests/{missing_id}{action}"
            if action:
                same_404(me.post(path, body), me.post(missing, body), str(request_id), str(missing_id))
            else:
                same_404(me.get(path), me.get(missing), str(request_id), str(missing_id))
    return check


def check_account_request(me, mine, theirs, victim):
    body = {"category": "agency", "accounts_wanted": 25, "business_need": "We run the pages of 25 clients."}
    same_404(me.post("/account-requests", {**body, "customer": victim}),
             me.post("/account-requests", {**body, "customer": "nobody"}), victim, "nobody")


def check_staff_search(me, mine, theirs, victim):
    # The staff search is for staff keys: a session learns nothing from it, not even whether it matched.
    for words in (victim, me.panel_id):
        response = me.get("/search/tickets", q=words)
        assert response.status_code == 403 and error_code(response) == "forbidden", words


MATRIX = {
    "api.me": check_me,
    "api.search_tickets": check_staff_search,
    "api.list_tickets": check_list_tickets,
    "api.create_ticket": check_create_ticket,
    "api.get_ticket": check_get_ticket,
    "api.add_message": check_add_message,
    "api.get_customer": check_get_customer,
    "api.put_customer": check_panel_only(lambda who, theirs: ("PUT", f"/customers/{who}", {"login": "taken"})),
    "api.list_orders": check_list_orders,
    "api.get_order": check_get_order,
    "api.put_order": check_panel_only(lambda who, theirs: ("PUT", f"/orders/{theirs['order']}",
                                                           {"customer": who, "status": "canceled"})),
    "api.post_ledger": check_panel_only(lambda who, theirs: ("POST", "/ledger", {"entries": [
        entry("injected-1", "deposit", "1000.00", who)]})),
    "api.evaluate_claim": check_claims("/claims/evaluate"),
    "api.file_claim": check_claims("/claims"),
    "api.quote_money": check_money("/quote"),
    "api.file_money": check_money(""),
    "api.list_money_requests": check_list_money_requests,
    "api.get_money_request": check_money_request(""),
    "api.confirm_money_request": check_money_request("/confirm", {"choice": "confirm"}),
    "api.cancel_money_request": check_money_request("/cancel"),
    "api.file_account_request": check_account_request,
}


def api_endpoints(app) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")}


def test_every_api_route_is_in_the_matrix(app):
    """A new API route fails here until the matrix says what a customer session gets from it."""
    assert api_endpoints(app) == PUBLIC_ENDPOINTS | set(MATRIX)
    assert SESSION_ENDPOINTS <= set(MATRIX)


@pytest.mark.parametrize("me, victim", [("alice", "bob"), ("bob", "alice")])
def test_one_customer_never_sees_or_changes_anothers_records_through_any_route(app, panel, me, victim):
    world = the_world(panel)

    def victims_view():
        ticket = ok(panel.get(f"/tickets/{world[victim]['ticket']}"))
        ticket.pop("requester_url")  # a signed link, made afresh (with its time) on each answer
        return [ticket, ok(panel.get(f"/money-requests/{world[victim]['request']}")),
                ok(panel.get(f"/customers/{victim}")), ok(keyed(panel)("/orders", customer=victim))]

    before, seen_before = counts(app), victims_view()
    browser = Browser(app, me)
    for endpoint, check in MATRIX.items():
        check(browser, world[me], world[victim], victim)
    assert counts(app) == before, "a refused call changed something"
    assert victims_view() == seen_before


# --- who is asking --------------------------------------------------------------------

def test_me_is_the_account_its_balance_split_and_a_csrf_token(app, panel):
    the_world(panel)
    panel.ledger(entry("alice-c1", "charge", "10.00", "alice", order="1001", funding="deposited"))
    body = ok(Browser(app, "alice").get("/me"))
    assert body["panel_id"] == "alice" and body["login"] == "alice" and body["email"] == email_of("alice")
    assert body["status"] == "active" and body["email_verified"] is True
    assert body["balance"] == {"deposited": "90.00", "promotional": "20.00", "total": "110.00"}
    assert isinstance(body["csrf_token"], str) and body["csrf_token"]


def test_without_a_session_or_key_every_customer_route_is_a_401(app, panel):
    world = the_world(panel)
    anonymous = app.test_client()
    assert anonymous.get(f"{API}/me").status_code == 401
    assert anonymous.get(f"{API}/tickets/{world['alice']['ticket']}").status_code == 401
    response = anonymous.post(f"{API}/tickets", json={"subject": "x", "body": "y"})
    assert response.status_code == 401 and error_code(response) == "unauthorized"


def test_a_bearer_header_always_wins_over_the_cookie(app, panel, api_key):
    world = the_world(panel)
    alice = Browser(app, "alice")
    bobs = f"{API}/tickets/{world['bob']['ticket']}"
    # A bad key is a 401 though the cookie is good: no falling back to the session.
    response = alice.client.get(f"{API}/tickets/{world['alice']['ticket']}",
                                headers={"Authorization": "Bearer dk_not-a-key"})
    assert response.status_code == 401 and error_code(response) == "unauthorized"
    # A good key acts as the key, not as alice.
    assert alice.client.get(bobs, headers={"Authorization": f"Bearer {api_key('staff')}"}).status_code == 200
    response = alice.client.get(f"{API}/me", headers={"Authorization": f"Bearer {api_key('panel')}"})
    assert response.status_code == 403 and error_code(response) == "forbidden"


def test_signed_out_everywhere_the_session_no_longer_calls_the_api(app, panel):
    world = the_world(panel)
    alice = Browser(app, "alice")
    assert alice.get(f"/tickets/{world['alice']['ticket']}").status_code == 200
    post_form(alice.client, "/portal", {}, post_url="/portal/sign-out-everywhere")
    assert alice.get(f"/tickets/{world['alice']['ticket']}").status_code == 401
    assert alice.post("/tickets", {"subject": "x", "body": "y"}).status_code == 401


# --- CSRF: a cookie is sent by the browser whoever made the request ----------------------

def _unsafe_calls(world) -> dict:
    """A valid call of each unsafe session operation on the customer's own records."""
    mine = world["alice"]
    return {
        "api.create_ticket": ("POST", "/tickets", {"subject": "My question", "body": "Hello"}),
        "api.add_message": ("POST", f"/tickets/{mine['ticket']}/messages", {"body": "Any news?"}),
        "api.evaluate_claim": ("POST", "/claims/evaluate", {"order": mine["order"], "kind": "non_delivery"}),
        "api.file_claim": ("POST", "/claims", {"order": mine["order"], "kind": "non_delivery"}),
        "api.quote_money": ("POST", "/withdrawals/quote", {"amount": "5.00"}),
        "api.file_money": ("POST", "/refunds", {"method": "original", "amount": "5.00"}),
        "api.file_account_request": ("POST", "/account-requests", {
            "category": "agency", "accounts_wanted": 25, "business_need": "We run the pages of 25 clients."}),
        "api.confirm_money_request": ("POST", f"/money-requests/{mine['request']}/confirm", {"choice": "confirm"}),
        "api.cancel_money_request": ("POST", f"/money-requests/{mine['request']}/cancel", None),
    }


def test_an_unsafe_call_under_a_session_without_a_valid_csrf_header_is_refused_and_changes_nothing(app, panel):
    world = the_world(panel)
    calls = _unsafe_calls(world)
    unsafe = {rule.endpoint for rule in app.url_map.iter_rules()
              if rule.endpoint in SESSION_ENDPOINTS and rule.methods & UNSAFE}
    assert set(calls) == unsafe, "every unsafe session operation is tried"
    alice, bob = Browser(app, "alice"), Browser(app, "bob")
    before = counts(app)
    request_before = ok(panel.get(f"/money-requests/{world['alice']['request']}"))
    for endpoint, (method, path, body) in calls.items():
        for csrf in (None, "", "not-a-token", bob.csrf, alice.csrf + "x"):
            response = alice.send(method, path, body, csrf=csrf)
            assert response.status_code == 403, (endpoint, csrf, response.get_json())
            assert error_code(response) == "csrf_failed"
    assert counts(app) == before
    assert ok(panel.get(f"/money-requests/{world['alice']['request']}")) == request_before
    # With the token, the same calls go through (cancel last: confirming moved the request on).
    for endpoint, (method, path, body) in calls.items():
        response = alice.send(method, path, body)
        assert response.status_code in (200, 201), (endpoint, response.get_json())
    assert counts(app) != before


def test_reads_need_no_csrf_header(app, panel):
    world = the_world(panel)
    alice = Browser(app, "alice")
    for path in ("/me", "/tickets", f"/tickets/{world['alice']['ticket']}", "/orders", "/orders/1001",
                 "/customers/alice", "/money-requests", f"/money-requests/{world['alice']['request']}"):
        assert alice.get(path).status_code == 200, path


# --- what a session does for itself -----------------------------------------------------

def test_a_session_files_its_own_ticket_from_its_own_address(app, panel):
    world = the_world(panel)
    alice = Browser(app, "alice")
    body = ok(alice.post("/tickets", {"subject": "A billing question", "body": "Why two charges?", "kind": "billing",
                                      "order": "1001", "priority": "urgent", "customer": "alice",
                                      "requester": {"email": email_of("bob"), "name": "Bob"}}), 201)
    assert body["customer"] == "alice" and body["order"] == "1001" and body["queue"] == "billing"
    assert body["requester"]["email"] == email_of("alice") and body["priority"] == "normal"
    assert body["channel"] == "portal"
    for kind, where in (("claim", "/api/v1/claims"), ("refund", "/api/v1/refunds"),
                        ("multi_account", "/api/v1/account-requests"), ("abuse", "/api/v1/reports/abuse")):
        response = alice.post("/tickets", {"subject": "x", "body": "y", "kind": kind})
        assert response.status_code == 422 and where in response.get_json()["error"]["fields"]["kind"], kind
    assert ok(alice.get(f"/tickets/{body['reference']}"))["reference"] == body["reference"]
    assert world["alice"]["ticket"] in {t["reference"] for t in ok(alice.get("/tickets"))["items"]}


def test_a_session_replies_on_its_ticket_and_never_sees_internal_notes_or_trust_and_safety_cases(
        app, panel, api_key):
    world = the_world(panel)
    staff = {"Authorization": f"Bearer {api_key('staff')}"}
    ticket = world["alice"]["ticket"]
    ok(panel.client.post(f"{API}/tickets/{ticket}/messages", json={"body": "Check the logs", "internal": True},
                         headers=staff), 201)
    ok(panel.client.post(f"{API}/tickets/{ticket}/messages", json={"body": "We are on it."}, headers=staff), 201)
    report = panel.client.post(f"{API}/reports/abuse", json={
        "category": "3.2", "reporter": {"email": "rita@example.org"}, "orders": ["1001"],
        "links": ["https://www.instagram.com/p/P1001/"], "description": "A fake fundraiser."})
    assert report.status_code == 202
    alice = Browser(app, "alice")
    reply = ok(alice.post(f"/tickets/{ticket}/messages", {"body": "Thanks!"}), 201)
    assert reply["author"] == "requester" and reply["internal"] is False
    response = alice.post(f"/tickets/{ticket}/messages", {"body": "A note", "internal": True})
    assert response.status_code == 403 and error_code(response) == "forbidden"
    shown = ok(alice.get(f"/tickets/{ticket}"))
    assert [m["body_text"] for m in shown["messages"]] == ["Where is it?", "We are on it.", "Thanks!"]
    assert "tags" not in shown and "assignee" not in shown
    listing = ok(alice.get("/tickets"))
    assert {t["kind"] for t in listing["items"]} <= {"general", "withdrawal"}
    assert ok(alice.get("/tickets", kind="abuse"))["items"] == []
    for item in listing["items"]:
        assert all(not m["internal"] for m in item["messages"])


def without_help(clause: dict) -> dict:
    return {k: v for k, v in clause.items() if k != "help_url"}


def test_a_session_claims_quotes_and_files_for_itself_with_the_clauses(app, panel):
    world = the_world(panel)
    alice = Browser(app, "alice")
    decision = ok(alice.post("/claims/evaluate", {"order": "1001", "kind": "non_delivery"}))
    answers = [decision]
    # `at` is the panel's to send: a customer's claim is decided as of now, never backdated.
    old = ok(alice.post("/claims/evaluate", {"order": "1001", "kind": "non_delivery",
                                             "at": iso(utcnow() - timedelta(days=30))}))
    assert (old["decision"], old["rules"]) == (decision["decision"], decision["rules"])
    claim = ok(alice.post("/claims", {"order": "1001", "kind": "refill", "current_count": 900}), 201)
    answers.append(claim)
    with app.app_context():
        filed = db.session.get(Ticket, db.session.execute(select(Ticket.id).where(
            Ticket.reference == claim["reference"])).scalar())
        assert filed.customer.panel_id == "alice" and filed.requester_email == email_of("alice")
        assert filed.channel == "portal"
    quote = ok(alice.post("/withdrawals/quote", {"amount": "20.00"}))
    assert quote["customer"] == "alice"
    answers.append(quote)
    request = ok(alice.post("/refunds", {"method": "original", "amount": "5.00", "requester_email": "x@evil.example"}),
                 201)
    assert request["customer"] == "alice"
    assert ok(alice.get(f"/tickets/{request['reference']}"))["requester"]["email"] == email_of("alice")
    answers += [request, ok(alice.get(f"/money-requests/{request['id']}")),
                *ok(alice.get("/money-requests"))["items"]]
    accounts = ok(alice.post("/account-requests", {"category": "agency", "accounts_wanted": 25,
                                                   "business_need": "We run the pages of 25 clients."}), 201)
    assert accounts["customer"] == "alice"
    answers.append(accounts)
    for answer in answers:
        assert answer["rules"] and [without_help(c) for c in answer["clauses"]] == explain(answer["rules"]), answer
        assert all(set(c) == {"rule", "title", "words", "plain", "help_url"} for c in answer["clauses"])
        assert all(c["help_url"].startswith("http://desk.test/help/") and c["help_url"].endswith("#" + c["rule"])
                   for c in answer["clauses"])
    assert any(c["title"] and c["words"] and c["plain"] for a in answers for c in a["clauses"])
    # The customer's own request: confirmed, then taken back.
    mine = world["alice"]["request"]
    confirmed = ok(alice.post(f"/money-requests/{mine}/confirm", {"choice": "confirm"}))
    assert confirmed["status"] != "awaiting_confirmation"
    assert ok(alice.post(f"/money-requests/{mine}/cancel"))["status"] == "cancelled"


def test_keys_get_the_clauses_too(panel):
    the_world(panel)
    for answer in (ok(panel.post("/claims/evaluate", {"order": "1001", "kind": "non_delivery"})),
                   ok(panel.post("/refunds/quote", {"customer": "alice", "method": "original"})),
                   ok(panel.get("/money-requests/1"))):
        assert [without_help(c) for c in answer["clauses"]] == explain(answer["rules"]) and answer["clauses"]


# --- lists ------------------------------------------------------------------------------

def pages(get, path, limit=20, **filters) -> list[list]:
    """Every page of a list, following next_cursor to the end."""
    found, cursor = [], None
    while True:
        params = {**filters, "limit": limit, **({"cursor": cursor} if cursor else {})}
        body = ok(get(path, **params))
        assert set(body) == {"items", "next_cursor"}
        found.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return found
        assert len(found) < 50, "the cursor never ends"


def keyed(panel):
    return lambda path, **params: panel.client.get(API + path, query_string=params, headers=panel.headers)


def test_tickets_page_completely_and_in_order_for_a_key_and_a_session(app, panel):
    panel.customer("alice")
    panel.customer("bob")
    made = []
    for n in range(45):
        made.append(ok(panel.post("/tickets", {"subject": f"Question {n}", "body": "Hello",
                                               "requester": {"email": email_of("alice")}, "customer": "alice"}),
                       201)["reference"])
        if n % 10 == 0:  # someone else's, in between
            panel.post("/tickets", {"subject": "Bob's", "body": "Hi", "requester": {"email": email_of("bob")},
                                    "customer": "bob"})
    newest_first = list(reversed(made))
    for get, filters in ((keyed(panel), {"customer": "alice"}), (Browser(app, "alice").get, {})):
        found = pages(get, "/tickets", **filters)
        assert [len(p) for p in found] == [20, 20, 5]
        assert [t["reference"] for p in found for t in p] == newest_first
        # The default page is 20; the largest 100.
        assert len(ok(get("/tickets", **filters))["items"]) == 20
        assert [t["reference"] for t in ok(get("/tickets", limit=100, **filters))["items"]] == newest_first
    everyone = [t["reference"] for p in pages(keyed(panel), "/tickets", limit=7) for t in p]
    assert len(everyone) == len(set(everyone)) == 50
    filtered = [t for p in pages(keyed(panel), "/tickets", status="new", kind="general") for t in p]
    assert len(filtered) == 50 and {(t["status"], t["kind"]) for t in filtered} == {("new", "general")}
    assert ok(keyed(panel)("/tickets", status="closed"))["items"] == []


def test_orders_page_by_their_time_with_ties_broken_by_id(app, panel):
    panel.customer("alice")
    panel.customer("bob")
    base = utcnow() - timedelta(days=10)
    made = {}
    for n in range(45):
        created = base + timedelta(minutes=(n * 37) % 45 // 3)  # out of order, with ties
        made[f"A{n:03d}"] = created
        panel.order(f"A{n:03d}", "alice", created_at=iso(created), status="pending", remains=1000)
        if n % 9 == 0:
            panel.order(f"B{n:03d}", "bob", created_at=iso(created), status="pending", remains=1000)
    for get, filters in ((keyed(panel), {"customer": "alice"}), (Browser(app, "alice").get, {})):
        found = pages(get, "/orders", **filters)
        assert [len(p) for p in found] == [20, 20, 5]
        listed = [o["panel_id"] for p in found for o in p]
        # Newest first; orders of the same time, the one the desk stored last first.
        assert listed == sorted(made, key=lambda panel_id: (made[panel_id], panel_id), reverse=True)
    response = keyed(panel)("/orders")  # a key names the customer
    assert response.status_code == 422 and response.get_json()["error"]["fields"] == {"customer": "required"}
    assert keyed(panel)("/orders", customer="nobody").status_code == 404


def test_money_requests_page_completely_for_a_key_and_a_session(app, panel):
    panel.customer("alice")
    panel.customer("bob")
    panel.ledger(entry("alice-d1", "deposit", "100.00", "alice"), entry("bob-d1", "deposit", "100.00", "bob"))
    made = []
    for n in range(45):
        request = ok(panel.post("/withdrawals", {"customer": "alice", "amount": "1.00"}), 201)
        made.append(request["id"])
        ok(panel.post(f"/money-requests/{request['id']}/cancel", {}))
        if n % 15 == 0:
            bobs = ok(panel.post("/withdrawals", {"customer": "bob", "amount": "1.00"}), 201)
            ok(panel.post(f"/money-requests/{bobs['id']}/cancel", {}))
    for get, filters in ((keyed(panel), {"customer": "alice"}), (Browser(app, "alice").get, {})):
        found = pages(get, "/money-requests", **filters)
        assert [len(p) for p in found] == [20, 20, 5]
        assert [r["id"] for p in found for r in p] == list(reversed(made))
    assert sum(len(p) for p in pages(keyed(panel), "/money-requests")) == 48


@pytest.mark.parametrize("path", ["/tickets", "/orders", "/money-requests"])
def test_a_damaged_cursor_is_a_400_and_a_limit_out_of_range_a_422(app, panel, path):
    the_world(panel)
    other = {"/tickets": "/orders", "/orders": "/tickets", "/money-requests": "/orders"}[path]
    for get, filters in ((keyed(panel), {"customer": "alice"}), (Browser(app, "alice").get, {})):
        # A cursor of the other list (another sort key) is as damaged as noise.
        foreign = ok(get(other, limit=1, **({"customer": "alice"} if filters else {})))["next_cursor"]
        assert foreign is not None
        for cursor in ("not-a-cursor", "W10", "eyJ4IjogMX0", foreign, "\x00", "x" * 2000):
            response = get(path, cursor=cursor, **filters)
            assert response.status_code == 400 and error_code(response) == "bad_cursor", (path, cursor)
        for limit in ("0", "101", "-1", "ten", "1.5"):
            response = get(path, limit=limit, **filters)
            assert response.status_code == 422 and "limit" in response.get_json()["error"]["fields"], (path, limit)
        for limit in ("1", "100"):
            ok(get(path, limit=limit, **filters))


def test_a_key_never_lists_tickets_outside_its_queues(app, panel, monkeypatch, make_ticket):
    world = the_world(panel)
    claim = ok(panel.post("/claims", {"order": "1001", "kind": "non_delivery"}), 201)["reference"]
    # Trust & safety's cases (a report becomes one once its reporter confirms by mail; filed
    # here as the intake files them) and a privacy request, all about alice.
    for kind in ("abuse", "rights"):
        make_ticket(subject=f"A {kind} case", kind=kind, customer="alice", requester_email="rita@example.org")
    assert panel.client.post(f"{API}/privacy-requests", json={
        "requester": {"email": email_of("alice")}, "rights": ["access"], "jurisdiction": "eu"}).status_code == 202
    with app.app_context():
        queues = dict(db.session.execute(select(Ticket.reference, Ticket.queue)).all())
    assert {"abuse", "legal", "privacy"} <= set(queues.values())

    def listed(**filters):
        return {t["reference"] for p in pages(keyed(panel), "/tickets", **filters) for t in p}

    assert listed() == {ref for ref, queue in queues.items() if queue in ("support", "claims", "billing")}
    for kind in ("abuse", "rights", "privacy"):
        assert listed(kind=kind) == set()
    assert listed(customer="alice") <= listed()
    # A key narrowed to one queue lists (and opens) that queue alone.
    monkeypatch.setitem(roles.API_KEY_QUEUE_ACCESS, "panel", frozenset({"support"}))
    assert listed() == {ref for ref, queue in queues.items() if queue == "support"}
    assert world["alice"]["ticket"] in listed() and claim not in listed()
    assert panel.get(f"/tickets/{claim}").status_code == 404
