"""The panel's mirror feeds and claim decisions through the JSON API (DESIGN §2, §6):
PUT /customers, PUT /orders, POST /ledger, POST /claims/evaluate and POST /claims.

Every test runs on SQLite and on PostgreSQL; the race test needs real row locks and
runs its race on PostgreSQL."""
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from desk.claims.models import Claim, Customer, LedgerEntry, Order
from desk.extensions import db
from desk.tickets.models import Ticket

UTC = timezone.utc
T0 = datetime(2026, 7, 1, 10, 0, 0, tzinfo=UTC)  # an order is placed
DONE = T0 + timedelta(hours=2)                   # ... and reaches Completed


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def tool(**flags):
    body = {"id": "17", "name": "Instagram Likes [Refill 30d]", "refill": True, "refill_days": 30,
            "refill_min_drop": 0, "guarantee": False, "beta": False}
    body.update(flags)
    return body


def order_body(panel_id, **overrides):
    """The DESIGN §6 body of a completed order; each order gets a link of its own so
    orders in one test only overlap when the test says so."""
    body = {
        "customer": "alice", "link": f"https://www.instagram.com/p/P{panel_id}/?igsh=x", "quantity": 1000,
        "charge": "2.50", "charge_deposited": "2.00", "charge_promo": "0.50", "start_count": 3572, "remains": 0,
        "status": "completed", "created_at": iso(T0), "status_changed_at": iso(DONE), "target_state": "ok",
        "tool": tool(),
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def put_order(client, key, panel_id, **overrides):
    return client.put(f"/api/v1/orders/{panel_id}", json=order_body(panel_id, **overrides), headers=bearer(key))


def put_customer(client, key, panel_id="alice", **overrides):
    body = {"login": panel_id, "email": f"{panel_id}@example.com", "email_verified": True, "country": "de",
            "status": "active", "last_login_at": "2026-06-30T08:00:00Z"}
    body.update(overrides)
    return client.put(f"/api/v1/customers/{panel_id}", json=body, headers=bearer(key))


def post_ledger(client, key, *entries):
    return client.post("/api/v1/ledger", json={"entries": list(entries)}, headers=bearer(key))


def entry(entry_id, kind, amount, customer="alice", **extra):
    return {"id": entry_id, "customer": customer, "kind": kind, "amount": amount, "at": iso(T0), **extra}


def evaluate(client, key, **body):
    return client.post("/api/v1/claims/evaluate", json=body, headers=bearer(key))


def file_claim(client, key, **body):
    return client.post("/api/v1/claims", json=body, headers=bearer(key))


def decided(client, key, order, kind, at, **extra):
    """Evaluate one claim that must succeed; the decision body."""
    response = evaluate(client, key, order=order, kind=kind, at=iso(at), **extra)
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["order"] == order and data["kind"] == kind
    assert data["rules"] == list(dict.fromkeys(r["rule"] for r in data["reasons"]))
    return data


def rows(app, model, *where):
    with app.app_context():
        return db.session.execute(select(model).where(*where)).scalars().all()


def count(app, model, *where):
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def error(response, status):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    return response.get_json()["error"]


# --- PUT /customers ---------------------------------------------------------------------

def test_put_customer_creates_then_updates(app, client, api_key):
    key = api_key("panel")
    created = put_customer(client, key, "alice")
    assert created.status_code == 201
    body = created.get_json()
    assert body == {
        "panel_id": "alice", "login": "alice", "email": "alice@example.com", "email_verified": True,
        "country": "DE", "status": "active",
        "balance": {"deposited": "0.00", "promotional": "0.00", "total": "0.00"},
    }
    updated = put_customer(client, key, "alice", email="alice@new.example", status="frozen", email_verified="false",
                           last_deposit_at="2026-06-01T12:00:00+02:00")
    assert updated.status_code == 200
    assert updated.get_json()["email"] == "alice@new.example" and updated.get_json()["status"] == "frozen"
    [customer] = rows(app, Customer)
    assert (customer.panel_id, customer.email, customer.email_verified, customer.status, customer.country) == (
        "alice", "alice@new.example", False, "frozen", "DE")
    assert customer.last_login_at == datetime(2026, 6, 30, 8, 0, tzinfo=UTC)
    assert customer.last_deposit_at == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # kept in UTC


def test_put_customer_only_changes_the_fields_sent(app, client, api_key):
    key = api_key("panel")
    put_customer(client, key, "alice")
    response = client.put("/api/v1/customers/alice", json={"status": "suspended"}, headers=bearer(key))
    assert response.status_code == 200
    [customer] = rows(app, Customer)
    assert customer.status == "suspended" and customer.email == "alice@example.com" and customer.email_verified


def test_put_customer_needs_a_panel_key(app, client, api_key):
    response = put_customer(client, api_key("staff"), "alice")
    assert error(response, 403)["code"] == "forbidden"
    assert count(app, Customer) == 0


def test_put_customer_lists_every_bad_field(app, client, api_key):
    response = put_customer(client, api_key("panel"), "alice", email_verified="maybe", status="bogus",
                            last_login_at="2026-06-30T08:00:00")
    err = error(response, 422)
    assert set(err["fields"]) == {"email_verified", "status", "last_login_at"}
    assert "zone" in err["fields"]["last_login_at"]
    assert "active" in err["fields"]["status"]
    for name in ("email_verified", "status", "last_login_at"):
        assert name in err["message"]
    assert count(app, Customer) == 0


def test_put_customer_with_nulls_clears_what_can_be_cleared_and_refuses_a_null_status(app, client, api_key):
    """Found by schemathesis: {"status": null} or {"login": null} wrote NULL into a NOT NULL
    column (a 500). A null login is no login; a status cannot be cleared."""
    key = api_key("panel")
    for body in ({"status": None}, {"status": ""}, {"login": "alice", "status": None}):
        err = error(client.put("/api/v1/customers/alice", json=body, headers=bearer(key)), 422)
        assert set(err["fields"]) == {"status"} and "active" in err["fields"]["status"]
    assert count(app, Customer) == 0
    put_customer(client, key, "alice")
    response = client.put("/api/v1/customers/alice", json={"login": None, "email": None, "country": None,
                                                          "email_verified": None, "last_login_at": None},
                          headers=bearer(key))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["login"], body["email"], body["country"], body["email_verified"], body["status"]) == (
        "", None, None, False, "active")


# --- PUT /orders ------------------------------------------------------------------------

def test_put_order_creates_with_normalised_link(app, client, api_key):
    response = put_order(client, api_key("panel"), "1001", link="https://www.instagram.com/p/ABC/?igsh=x")
    assert response.status_code == 201
    body = response.get_json()
    assert body["link"] == "https://www.instagram.com/p/ABC/?igsh=x"
    assert body["link_normalized"] == "https://instagram.com/p/ABC"
    assert (body["charge"], body["charge_deposited"], body["charge_promo"]) == ("2.50", "2.00", "0.50")
    assert body["status"] == "completed" and body["finished_at"] == DONE.isoformat()
    [order] = rows(app, Order)
    [customer] = rows(app, Customer)
    assert order.panel_id == "1001" and order.customer_id == customer.id and customer.panel_id == "alice"
    assert order.link_normalized == "https://instagram.com/p/ABC"
    assert (order.quantity, order.start_count, order.remains) == (1000, 3572, 0)
    assert (order.charge, order.charge_deposited, order.charge_promo) == (
        Decimal("2.50"), Decimal("2.00"), Decimal("0.50"))
    assert order.created_at == T0 and order.finished_at == DONE
    assert order.tool == tool()


def test_put_order_without_split_is_all_deposited(app, client, api_key):
    response = put_order(client, api_key("panel"), "1001", charge_deposited=None, charge_promo=None)
    assert response.status_code == 201
    assert (response.get_json()["charge_deposited"], response.get_json()["charge_promo"]) == ("2.50", "0.00")


def test_order_for_unknown_customer_creates_a_bare_record_completed_later(app, client, api_key):
    key = api_key("panel")
    assert put_order(client, key, "1001", customer="bob").status_code == 201
    [bare] = rows(app, Customer)
    assert bare.panel_id == "bob" and bare.email is None and not bare.email_verified
    completed = put_customer(client, key, "bob")
    assert completed.status_code == 200  # the record exists: the PUT completes it
    assert completed.get_json()["email"] == "bob@example.com"
    [customer] = rows(app, Customer)
    assert customer.id == bare.id and customer.email == "bob@example.com" and customer.country == "DE"
    [order] = rows(app, Order)
    assert order.customer_id == customer.id


def test_successive_updates_build_the_status_history(app, client, api_key):
    key = api_key("panel")
    t1, t2 = T0 + timedelta(minutes=5), T0 + timedelta(hours=3)
    first = put_order(client, key, "1001", status="pending", status_changed_at=None)
    assert first.status_code == 201 and first.get_json()["finished_at"] is None
    second = put_order(client, key, "1001", status="in_progress", status_changed_at=iso(t1))
    assert second.status_code == 200 and second.get_json()["finished_at"] is None
    third = put_order(client, key, "1001", status="completed", status_changed_at=iso(t2))
    assert third.status_code == 200
    expected = [{"status": "pending", "at": T0.isoformat()}, {"status": "in_progress", "at": t1.isoformat()},
                {"status": "completed", "at": t2.isoformat()}]
    assert third.get_json()["history"] == expected
    assert third.get_json()["finished_at"] == t2.isoformat()
    # The same update delivered twice adds nothing.
    assert put_order(client, key, "1001", status="completed", status_changed_at=iso(t2)).get_json()["history"] == expected
    with app.app_context():
        order = db.session.execute(select(Order)).scalar_one()
        assert [(c.status, c.at) for c in order.history] == [("pending", T0), ("in_progress", t1), ("completed", t2)]
        assert order.status == "completed" and order.finished_at == t2
    assert count(app, Order) == 1


def test_explicit_history_is_stored(app, client, api_key):
    t1, t2 = T0 + timedelta(minutes=1), T0 + timedelta(hours=5)
    history = [{"status": "pending", "at": iso(T0)}, {"status": "in_progress", "at": iso(t1)},
               {"status": "partial", "at": iso(t2)}]
    response = put_order(client, api_key("panel"), "1001", status="partial", remains=400, status_changed_at=None,
                         history=history)
    assert response.status_code == 201
    assert [h["status"] for h in response.get_json()["history"]] == ["pending", "in_progress", "partial"]
    with app.app_context():
        order = db.session.execute(select(Order)).scalar_one()
        assert [(c.status, c.at) for c in order.history] == [("pending", T0), ("in_progress", t1), ("partial", t2)]
        assert order.finished_at == t2 and order.remains == 400


def test_tool_flags_are_kept_as_at_order_time(app, client, api_key):
    key = api_key("panel")
    assert put_order(client, key, "1001").status_code == 201
    later = put_order(client, key, "1001", tool=tool(refill=False, refill_days=0, name="Likes (no refill)"))
    assert later.status_code == 200
    assert later.get_json()["tool"] == tool()
    [order] = rows(app, Order)
    assert order.tool["refill"] is True and order.tool["refill_days"] == 30
    # ... and the refill decision is taken on the flags the order was sold with.
    data = decided(client, key, "1001", "refill", DONE + timedelta(days=1), current_count=4400)
    assert data["decision"] == "eligible" and data["refill_quantity"] == 172


def test_money_as_a_float_is_refused(app, client, api_key):
    response = put_order(client, api_key("panel"), "1001", charge=2.5, charge_deposited=None, charge_promo=None)
    err = error(response, 422)
    assert "charge" in err["fields"] and "2.50" in err["fields"]["charge"]
    assert count(app, Order) == 0


def test_split_that_does_not_add_up_is_refused(app, client, api_key):
    response = put_order(client, api_key("panel"), "1001", charge="2.50", charge_deposited="2.00",
                         charge_promo="0.40")
    err = error(response, 422)
    assert err["fields"] == {"charge": "charge_deposited + charge_promo must equal charge"}
    assert count(app, Order) == 0


def test_remains_above_quantity_is_refused(app, client, api_key):
    response = put_order(client, api_key("panel"), "1001", status="partial", remains=1001)
    assert error(response, 422)["fields"] == {"remains": "at most the quantity"}
    assert count(app, Order) == 0


def test_missing_order_fields_are_all_listed(app, client, api_key):
    response = client.put("/api/v1/orders/1001", json={"start_count": 5}, headers=bearer(api_key("panel")))
    err = error(response, 422)
    required = {"customer", "link", "quantity", "charge", "status", "created_at"}
    assert set(err["fields"]) == required and set(err["fields"].values()) == {"required"}
    assert all(name in err["message"] for name in required)
    assert count(app, Order) == 0 and count(app, Customer) == 0


def test_order_numbers_beyond_the_column_are_refused(app, client, api_key):
    """A quantity or count too large for the database column is a 422, never a 500."""
    response = put_order(client, api_key("panel"), "1001", quantity=2**40, start_count=2**40)
    assert set(error(response, 422)["fields"]) == {"quantity", "start_count"}
    assert count(app, Order) == 0


def test_refill_window_beyond_a_century_is_refused(app, client, api_key):
    """refill_days is added to the completion time: a huge one would overflow the calendar
    on every later refill decision."""
    key = api_key("panel")
    response = put_order(client, key, "1001", tool=tool(refill_days=3_000_000))
    assert error(response, 422)["fields"] == {"tool.refill_days": "at most 36500"}
    assert count(app, Order) == 0
    assert put_order(client, key, "1001", tool=tool(refill_days=36500)).status_code == 201
    data = decided(client, key, "1001", "refill", DONE + timedelta(days=36500), current_count=4400)
    assert data["decision"] == "eligible" and data["refill_quantity"] == 172


@pytest.mark.parametrize("moment", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00",
                                    "9999-12-31T20:00:00Z", "1900-01-01T00:00:00Z"])
def test_times_at_the_calendar_edge_are_refused(app, client, api_key, moment):
    key = api_key("panel")
    response = put_order(client, key, "1001", created_at=moment, status_changed_at=None)
    assert set(error(response, 422)["fields"]) == {"created_at"}
    assert count(app, Order) == 0
    put_order(client, key, "1001")
    err = error(evaluate(client, key, order="1001", kind="refill", current_count=4400, at=moment), 422)
    assert set(err["fields"]) == {"at"}


def test_ids_too_long_for_their_column_are_refused(app, client, api_key):
    key = api_key("panel")
    assert error(put_order(client, key, "9" * 65), 422)["fields"] == {"panel_id": "at most 64 characters"}
    assert error(put_customer(client, key, "c" * 65), 422)["fields"] == {"panel_id": "at most 64 characters"}
    assert put_order(client, key, "9" * 64).status_code == 201
    assert count(app, Order) == 1 and count(app, Customer) == 1


def test_nul_characters_are_refused_not_a_500(app, client, api_key):
    """PostgreSQL text cannot hold NUL: every field that reaches a column says so first."""
    key = api_key("panel")
    assert error(put_customer(client, key, "alice", login="a\x00b"), 422)["fields"] == {
        "login": "must not contain NUL characters"}
    assert set(error(put_order(client, key, "1001", link="https://x.com/a\x00b"), 422)["fields"]) == {"link"}
    assert set(error(post_ledger(client, key, entry("e\x00", "deposit", "1.00")), 422)["fields"]) == {"entries[0].id"}
    put_customer(client, key, "alice")
    put_order(client, key, "1001")
    response = file_claim(client, key, order="1001", kind="cancel", description="Please cancel\x00")
    assert error(response, 422)["fields"] == {"description": "must not contain NUL characters"}
    assert count(app, Claim) == 0 and count(app, Ticket) == 0 and count(app, LedgerEntry) == 0


def test_malformed_order_json_is_a_400(app, client, api_key):
    response = client.put("/api/v1/orders/1001", data='{"customer": "alice",', content_type="application/json",
                          headers=bearer(api_key("panel")))
    assert error(response, 400)["code"] == "malformed_json"
    assert count(app, Order) == 0


def test_put_order_needs_a_panel_key(app, client, api_key):
    assert error(put_order(client, api_key("staff"), "1001"), 403)["code"] == "forbidden"
    assert error(put_order(client, "dk_not-a-key", "1001"), 401)["code"] == "unauthorized"
    response = client.put("/api/v1/orders/1001", json=order_body("1001"))
    assert error(response, 401)["code"] == "unauthorized"
    assert count(app, Order) == 0 and count(app, Customer) == 0


# --- POST /ledger -----------------------------------------------------------------------

def test_ledger_stores_entries_once_each(app, client, api_key):
    key = api_key("panel")
    put_customer(client, key, "alice")
    first = post_ledger(client, key, entry("e1", "deposit", "10.00", method="card", processor_fee="0.59"),
                        entry("e2", "promo_credit", "1.00", source="welcome"))
    assert first.status_code == 200 and first.get_json() == {"stored": 2, "duplicates": 0}
    again = post_ledger(client, key, entry("e1", "deposit", "10.00", method="card", processor_fee="0.59"))
    assert again.status_code == 200 and again.get_json() == {"stored": 0, "duplicates": 1}
    stored = {e.panel_id: e for e in rows(app, LedgerEntry)}
    assert set(stored) == {"e1", "e2"}
    assert (stored["e1"].kind, stored["e1"].amount, stored["e1"].funding, stored["e1"].processor_fee,
            stored["e1"].method) == ("deposit", Decimal("10.00"), "deposited", Decimal("0.59"), "card")
    assert stored["e1"].at == T0 and stored["e2"].source == "welcome"


def test_ledger_batch_with_one_bad_entry_stores_nothing(app, client, api_key):
    response = post_ledger(client, api_key("panel"), entry("e1", "deposit", "10.00"),
                           entry("e2", "charge", "abc", funding="deposited"), entry("e3", "teleport", "1.00"))
    err = error(response, 422)
    assert set(err["fields"]) == {"entries[1].amount", "entries[2].kind"}
    assert count(app, LedgerEntry) == 0 and count(app, Customer) == 0


def test_deposit_cannot_be_promotional(app, client, api_key):
    response = post_ledger(client, api_key("panel"), entry("e1", "deposit", "10.00", funding="promotional"))
    assert error(response, 422)["fields"] == {"entries[0].funding": "a deposit is always deposited"}
    assert count(app, LedgerEntry) == 0


def test_promo_credit_defaults_to_promotional(app, client, api_key):
    response = post_ledger(client, api_key("panel"), entry("e1", "promo_credit", "1.00"))
    assert response.get_json() == {"stored": 1, "duplicates": 0}
    [stored] = rows(app, LedgerEntry)
    assert stored.funding == "promotional"


@pytest.mark.parametrize("kind, amount", [("deposit", "1.234"), ("deposit", "-5.00"), ("charge", "-5.00"),
                                          ("deposit", 5.0), ("adjustment", "0.00")])
def test_bad_amounts_are_refused(app, client, api_key, kind, amount):
    response = post_ledger(client, api_key("panel"), entry("e1", kind, amount, funding="deposited"))
    assert set(error(response, 422)["fields"]) == {"entries[0].amount"}
    assert count(app, LedgerEntry) == 0


def test_negative_adjustment_is_accepted(app, client, api_key):
    key = api_key("panel")
    response = post_ledger(client, key, entry("e1", "deposit", "10.00"),
                           entry("e2", "adjustment", "-5.00", funding="deposited"))
    assert response.get_json() == {"stored": 2, "duplicates": 0}
    assert {e.panel_id: e.amount for e in rows(app, LedgerEntry)} == {"e1": Decimal("10.00"), "e2": Decimal("-5.00")}
    assert put_customer(client, key, "alice").get_json()["balance"]["deposited"] == "5.00"


def test_ledger_for_unknown_customer_creates_a_bare_record(app, client, api_key):
    response = post_ledger(client, api_key("panel"), entry("e1", "deposit", "10.00", customer="carol"))
    assert response.status_code == 200
    [customer] = rows(app, Customer)
    assert customer.panel_id == "carol" and customer.email is None
    [stored] = rows(app, LedgerEntry)
    assert stored.customer_id == customer.id


def test_customer_balance_is_derived_from_the_entries(app, client, api_key):
    key = api_key("panel")
    response = post_ledger(
        client, key, entry("e1", "deposit", "10.00"), entry("e2", "promo_credit", "1.00"),
        entry("e3", "charge", "2.00", funding="deposited", order="1001"),
        entry("e4", "charge", "0.50", funding="promotional", order="1001"),
        entry("e5", "return", "0.25", funding="promotional", order="1001"))
    assert response.get_json() == {"stored": 5, "duplicates": 0}
    customer = put_customer(client, key, "alice")
    assert customer.status_code == 200  # the ledger created the bare record
    assert customer.get_json()["balance"] == {"deposited": "8.00", "promotional": "0.75", "total": "8.75"}


def test_ledger_needs_a_panel_key(app, client, api_key):
    response = post_ledger(client, api_key("staff"), entry("e1", "deposit", "10.00"))
    assert error(response, 403)["code"] == "forbidden"
    assert error(client.post("/api/v1/ledger", json={"entries": []}), 401)["code"] == "unauthorized"
    assert count(app, LedgerEntry) == 0


# --- POST /claims/evaluate --------------------------------------------------------------

def test_evaluate_unknown_order_is_404_naming_it(app, client, api_key):
    response = evaluate(client, api_key("panel"), order="9999", kind="non_delivery")
    err = error(response, 404)
    assert err["code"] == "not_found" and "9999" in err["message"]


def test_evaluate_unknown_kind_lists_the_valid_kinds(app, client, api_key):
    key = api_key("panel")
    put_order(client, key, "1001")
    err = error(evaluate(client, key, order="1001", kind="lottery"), 400)
    for kind in ("non_delivery", "wrong_quantity", "not_as_described", "refill", "cancel"):
        assert kind in err["message"]
    assert "kind" in err["fields"]


def test_evaluate_without_order_is_422(app, client, api_key):
    err = error(evaluate(client, api_key("panel"), kind="non_delivery"), 422)
    assert err["fields"] == {"order": "required"}


def test_evaluate_stores_nothing(app, client, api_key):
    key = api_key("panel")
    put_customer(client, key, "alice")
    put_order(client, key, "1001")
    data = decided(client, key, "1001", "non_delivery", DONE + timedelta(hours=1))
    assert data["decision"] == "eligible"
    assert count(app, Claim) == 0 and count(app, Ticket) == 0


def test_claim_window_boundaries(app, client, api_key):
    key = api_key("panel")
    put_order(client, key, "1001")
    inside = decided(client, key, "1001", "non_delivery", DONE + timedelta(hours=71, minutes=59, seconds=59))
    assert inside["decision"] == "eligible" and inside["rules"] == ["terms-7-claim-window"]
    assert "71 h 59 m 59 s" in inside["reasons"][0]["text"] and "window 72 h" in inside["reasons"][0]["text"]
    late = decided(client, key, "1001", "wrong_quantity", DONE + timedelta(hours=72, seconds=1))
    assert late["decision"] == "rejected" and late["rules"] == ["terms-7-claim-window"]
    assert "72 h 00 m 01 s" in late["reasons"][0]["text"]


def test_claim_window_counts_from_completion_in_utc(app, client, api_key):
    """A completion time sent with an offset is the same instant: the window is 72 h from it."""
    key = api_key("panel")
    put_order(client, key, "1001", status_changed_at="2026-07-01T14:00:00+02:00")  # 12:00 UTC
    inside = decided(client, key, "1001", "non_delivery", datetime(2026, 7, 4, 12, 0, 0, tzinfo=UTC))
    assert inside["decision"] == "eligible"
    late = evaluate(client, key, order="1001", kind="non_delivery", at="2026-07-04T14:00:01+02:00").get_json()
    assert late["decision"] == "rejected"


def test_refill_example_from_the_terms(app, client, api_key):
    key = api_key("panel")
    put_order(client, key, "1001", start_count=3572, quantity=1000)
    data = decided(client, key, "1001", "refill", DONE + timedelta(days=3), current_count=4400)
    assert data["decision"] == "eligible" and data["refill_quantity"] == 172
    assert data["rules"] == ["terms-10-refill", "terms-10-guarantee"]
    assert any("end count 4572" in r["text"] for r in data["reasons"])


def test_refill_without_a_drop_is_rejected(app, client, api_key):
    key = api_key("panel")
    put_order(client, key, "1001", start_count=3572, quantity=1000)
    data = decided(client, key, "1001", "refill", DONE + timedelta(days=3), current_count=4572)
    assert data["decision"] == "rejected" and data["refill_quantity"] is None
    assert data["rules"] == ["terms-10-refill"]
    below = decided(client, key, "1001", "refill", DONE + timedelta(days=3), current_count=3571)
    assert below["decision"] == "rejected" and "Start Count" in below["reasons"][-1]["text"]
    closed = decided(client, key, "1001", "refill", DONE + timedelta(days=30, seconds=1), current_count=4400)
    assert closed["decision"] == "rejected" and closed["refill_quantity"] is None


def test_cancel_only_while_pending(app, client, api_key):
    key = api_key("panel")
    put_order(client, key, "1001", status="pending", status_changed_at=None)
    put_order(client, key, "1002", status="in_progress", status_changed_at=iso(T0 + timedelta(minutes=5)))
    pending = decided(client, key, "1001", "cancel", T0 + timedelta(minutes=1))
    assert pending["decision"] == "eligible" and pending["rules"] == ["terms-9-finality"]
    active = decided(client, key, "1002", "cancel", T0 + timedelta(minutes=10))
    assert active["decision"] == "rejected" and active["rules"] == ["terms-9-finality"]
    assert "In Progress" in active["reasons"][0]["text"]


@pytest.mark.parametrize("claim_on", ["2001", "2002"])
def test_overlapping_orders_on_one_link_are_rejected(app, client, api_key, claim_on):
    key = api_key("panel")
    put_order(client, key, "2001", link="https://www.instagram.com/p/OVL/", created_at=iso(T0),
              status_changed_at=iso(DONE))
    put_order(client, key, "2002", link="https://instagram.com/p/OVL?utm_source=ig_web&utm_medium=share",
              created_at=iso(DONE - timedelta(seconds=1)), status_changed_at=iso(DONE + timedelta(hours=1)))
    data = decided(client, key, claim_on, "non_delivery", DONE + timedelta(hours=2))
    assert data["decision"] == "rejected" and "terms-11-overlap" in data["rules"]
    other = "2002" if claim_on == "2001" else "2001"
    [reason] = [r for r in data["reasons"] if r["rule"] == "terms-11-overlap"]
    assert other in reason["text"]
    refill = decided(client, key, claim_on, "refill", DONE + timedelta(hours=2), current_count=3600)
    assert refill["decision"] == "rejected" and "terms-11-overlap" in refill["rules"]


def test_order_placed_after_the_first_finished_does_not_overlap(app, client, api_key):
    key = api_key("panel")
    put_order(client, key, "2001", link="https://www.instagram.com/p/OVL/", created_at=iso(T0),
              status_changed_at=iso(DONE))
    put_order(client, key, "2002", link="https://instagram.com/p/OVL?utm_source=ig_web",
              created_at=iso(DONE + timedelta(seconds=1)), status_changed_at=iso(DONE + timedelta(hours=1)))
    for panel_id in ("2001", "2002"):
        data = decided(client, key, panel_id, "non_delivery", DONE + timedelta(hours=2))
        assert data["decision"] == "eligible" and data["rules"] == ["terms-7-claim-window"]


def test_canceled_order_that_delivered_nothing_does_not_overlap(app, client, api_key):
    key = api_key("panel")
    put_order(client, key, "2001", link="https://instagram.com/p/OVL", status="canceled", remains=1000,
              status_changed_at=iso(DONE + timedelta(hours=5)))
    put_order(client, key, "2002", link="https://www.instagram.com/p/OVL/", created_at=iso(T0 + timedelta(hours=1)))
    data = decided(client, key, "2002", "non_delivery", DONE + timedelta(hours=1))
    assert data["decision"] == "eligible" and "terms-11-overlap" not in data["rules"]


def test_private_target_voids_the_claim(app, client, api_key):
    key = api_key("panel")
    put_order(client, key, "1001", target_state="private")
    data = decided(client, key, "1001", "non_delivery", DONE + timedelta(hours=1))
    assert data["decision"] == "rejected" and "terms-11-target" in data["rules"]
    refill = decided(client, key, "1001", "refill", DONE + timedelta(hours=1), current_count=4400)
    assert refill["decision"] == "rejected" and "terms-11-target" in refill["rules"]
    assert refill["refill_quantity"] is None


def test_beta_tool_has_no_claim_eligibility(app, client, api_key):
    key = api_key("panel")
    put_order(client, key, "1001", tool=tool(beta=True, name="New likes (beta)"))
    data = decided(client, key, "1001", "non_delivery", DONE + timedelta(hours=1))
    assert data["decision"] == "rejected" and "terms-5-beta" in data["rules"]
    refill = decided(client, key, "1001", "refill", DONE + timedelta(hours=1), current_count=4400)
    assert refill["decision"] == "rejected" and "terms-5-beta" in refill["rules"]


def test_delivery_claim_on_a_pending_order_is_a_status_enquiry(app, client, api_key):
    key = api_key("panel")
    put_order(client, key, "1001", status="pending", status_changed_at=None)
    data = decided(client, key, "1001", "non_delivery", T0 + timedelta(days=2))
    assert data["decision"] == "rejected"
    assert data["rules"][0] == "terms-11-delivery-time" and "terms-7-claim-window" not in data["rules"]


def test_partial_order_names_the_return_split_by_funding(app, client, api_key):
    key = api_key("panel")
    put_order(client, key, "1001", status="partial", remains=400, charge="2.50", charge_deposited="2.00",
              charge_promo="0.50", quantity=1000)
    data = decided(client, key, "1001", "wrong_quantity", DONE + timedelta(hours=1))
    assert data["decision"] == "eligible" and data["rules"] == ["terms-7-claim-window", "terms-9-partial"]
    assert data["expected_return"] == {"rule": "terms-9-partial", "deposited": "0.80", "promotional": "0.20"}
    [reason] = [r for r in data["reasons"] if r["rule"] == "terms-9-partial"]
    assert "1.00 of the 2.50 charge" in reason["text"] and "400 of 1000" in reason["text"]


def test_canceled_order_returns_the_full_charge_in_proportion(app, client, api_key):
    key = api_key("panel")
    put_order(client, key, "1001", status="canceled", remains=1000)
    data = decided(client, key, "1001", "non_delivery", DONE + timedelta(hours=1))
    assert data["decision"] == "rejected" and data["rules"] == ["terms-9-canceled"]
    assert data["expected_return"] == {"rule": "terms-9-canceled", "deposited": "2.00", "promotional": "0.50"}


def test_evaluate_refuses_bad_fields(app, client, api_key):
    key = api_key("panel")
    put_order(client, key, "1001")
    err = error(evaluate(client, key, order="1001", kind="refill", current_count=-1, at="2026-07-02 10:00"), 422)
    assert set(err["fields"]) == {"current_count", "at"}


# --- POST /claims -----------------------------------------------------------------------

def test_file_claim_creates_a_claims_ticket_with_the_decision(app, client, api_key):
    key = api_key("panel")
    put_customer(client, key, "alice")
    put_order(client, key, "1001")
    response = file_claim(client, key, order="1001", kind="refill", current_count=4400,
                          at=iso(DONE + timedelta(days=1)), description="Likes dropped since Friday.")
    assert response.status_code == 201
    data = response.get_json()
    assert data["created"] is True and data["order"] == "1001" and data["kind"] == "refill"
    assert data["decision"] == "eligible" and data["refill_quantity"] == 172 and data["status"] == "open"
    assert data["rules"] == ["terms-10-refill", "terms-10-guarantee"]
    assert response.headers["Location"].endswith(f"/api/v1/tickets/{data['reference']}")
    for url in (f"/api/v1/tickets/{data['reference']}", response.headers["Location"]):
        ticket = client.get(url, headers=bearer(key))
        assert ticket.status_code == 200
        body = ticket.get_json()
        assert body["reference"] == data["reference"] and body["queue"] == "claims" and body["kind"] == "refill"
        assert body["order"] == "1001" and body["customer"] == "alice"
        assert body["requester"]["email"] == "alice@example.com"
        assert "Likes dropped since Friday." in body["messages"][0]["body_text"]
        assert "4400" in body["messages"][0]["body_text"]
    [claim] = rows(app, Claim)
    assert claim.id == data["claim"] and (claim.kind, claim.decision, claim.refill_quantity, claim.current_count) == (
        "refill", "eligible", 172, 4400)
    assert claim.filed_at == DONE + timedelta(days=1)
    assert [r["rule"] for r in claim.reasons] == ["terms-10-refill", "terms-10-refill", "terms-10-guarantee"]
    assert claim.reasons == data["reasons"]
    with app.app_context():
        assert db.session.get(Claim, claim.id).ticket.reference == data["reference"]


def test_rejected_claim_is_filed_with_its_decision(app, client, api_key):
    key = api_key("panel")
    put_customer(client, key, "alice")
    put_order(client, key, "1001")
    response = file_claim(client, key, order="1001", kind="non_delivery", at=iso(DONE + timedelta(hours=80)))
    assert response.status_code == 201
    data = response.get_json()
    assert data["decision"] == "rejected" and data["rules"] == ["terms-7-claim-window"]
    [claim] = rows(app, Claim)
    assert claim.decision == "rejected" and claim.reasons[0]["rule"] == "terms-7-claim-window"
    assert claim.refill_quantity is None
    ticket = client.get(response.headers["Location"], headers=bearer(key)).get_json()
    assert ticket["queue"] == "claims" and ticket["kind"] == "claim"


def test_filing_the_same_claim_again_returns_the_first(app, client, api_key):
    key = api_key("panel")
    put_customer(client, key, "alice")
    put_order(client, key, "1001")
    first = file_claim(client, key, order="1001", kind="non_delivery", at=iso(DONE + timedelta(hours=1)))
    again = file_claim(client, key, order="1001", kind="non_delivery", at=iso(DONE + timedelta(hours=2)))
    assert first.status_code == 201 and again.status_code == 200
    assert again.get_json()["created"] is False
    assert again.get_json()["reference"] == first.get_json()["reference"]
    assert again.get_json()["claim"] == first.get_json()["claim"]
    assert again.headers["Location"] == first.headers["Location"]
    assert count(app, Claim) == 1 and count(app, Ticket) == 1
    other = file_claim(client, key, order="1001", kind="wrong_quantity", at=iso(DONE + timedelta(hours=2)))
    assert other.status_code == 201 and other.get_json()["created"] is True
    assert other.get_json()["reference"] != first.get_json()["reference"]
    assert sorted(c.kind for c in rows(app, Claim)) == ["non_delivery", "wrong_quantity"]
    assert count(app, Ticket) == 2


def test_claim_for_a_customer_without_email_needs_requester_email(app, client, api_key):
    key = api_key("panel")
    put_order(client, key, "1001", customer="bob")  # bare record: no e-mail yet
    response = file_claim(client, key, order="1001", kind="non_delivery", at=iso(DONE + timedelta(hours=1)))
    assert error(response, 422)["fields"] == {"requester_email": "required"}
    assert count(app, Claim) == 0 and count(app, Ticket) == 0
    given = file_claim(client, key, order="1001", kind="non_delivery", at=iso(DONE + timedelta(hours=1)),
                       requester_email="bob@example.com")
    assert given.status_code == 201
    ticket = client.get(given.headers["Location"], headers=bearer(key)).get_json()
    assert ticket["requester"]["email"] == "bob@example.com" and ticket["customer"] == "bob"


def test_file_claim_on_an_unknown_order_is_404(app, client, api_key):
    response = file_claim(client, api_key("panel"), order="9999", kind="cancel", requester_email="x@example.com")
    assert "9999" in error(response, 404)["message"]
    assert count(app, Claim) == 0 and count(app, Ticket) == 0


def test_claim_with_a_count_beyond_the_column_is_refused(app, client, api_key):
    key = api_key("panel")
    put_customer(client, key, "alice")
    put_order(client, key, "1001")
    response = file_claim(client, key, order="1001", kind="refill", current_count=2**40,
                          at=iso(DONE + timedelta(days=1)))
    assert set(error(response, 422)["fields"]) == {"current_count"}
    assert count(app, Claim) == 0 and count(app, Ticket) == 0


def test_claims_endpoints_need_a_key(app, client, api_key):
    put_order(client, api_key("panel"), "1001")
    for path in ("/api/v1/claims/evaluate", "/api/v1/claims"):
        response = client.post(path, json={"order": "1001", "kind": "non_delivery"})
        assert error(response, 401)["code"] == "unauthorized"
        response = client.post(path, json={"order": "1001", "kind": "non_delivery"}, headers=bearer("dk_nope"))
        assert error(response, 401)["code"] == "unauthorized"
    assert count(app, Claim) == 0 and count(app, Ticket) == 0


# --- concurrency ------------------------------------------------------------------------

def test_concurrent_filings_make_one_claim(app, api_key, backend):
    """Two filings of one claim at the same instant (DESIGN §7 "two concurrent claims on one
    order → one"): one claim, one ticket, one reference, no 500. On PostgreSQL the twin
    meets the partial unique index under real concurrency; SQLite (the embedded default)
    serialises the writers, and must give the same answer."""
    assert backend in ("sqlite", "postgresql")
    key = api_key("panel")
    setup = app.test_client()
    assert put_customer(setup, key, "alice").status_code == 201
    rounds = 10
    for n in range(rounds):
        assert put_order(setup, key, f"30{n:02d}").status_code == 201
    for n in range(rounds):
        order = f"30{n:02d}"
        barrier = threading.Barrier(2)
        results = [None, None]

        def race(slot):
            client = app.test_client()
            barrier.wait()
            try:
                response = file_claim(client, key, order=order, kind="non_delivery", at=iso(DONE + timedelta(hours=1)))
                results[slot] = (response.status_code, response.get_json())
            except Exception as exc:  # noqa: BLE001 - reported below
                results[slot] = (None, repr(exc))

        threads = [threading.Thread(target=race, args=(slot,)) for slot in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads), f"round {n}: a request hung"
        statuses = sorted(r[0] for r in results)
        assert statuses == [200, 201], f"round {n}: {results}"
        bodies = [r[1] for r in results]
        assert bodies[0]["reference"] == bodies[1]["reference"]
        assert bodies[0]["claim"] == bodies[1]["claim"]
        assert sorted(b["created"] for b in bodies) == [False, True]
        with app.app_context():
            order_id = db.session.execute(select(Order.id).where(Order.panel_id == order)).scalar_one()
        assert count(app, Claim, Claim.order_id == order_id, Claim.kind == "non_delivery") == 1
        assert count(app, Ticket, Ticket.order_ref == order) == 1
    assert count(app, Claim) == rounds and count(app, Ticket) == rounds
