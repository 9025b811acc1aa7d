"""The claims pages through HTTP (DESIGN §2 "Claims on orders"): the claim panel on a claim
ticket, deciding a claim (accept, reject, override), the customer page, the returns check
and the customer's public claim form.

Orders, customers, ledger entries and claims are set up through the real panel API; every
test runs on SQLite and on PostgreSQL."""
import re
import threading
from datetime import datetime, timedelta, timezone

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from conftest import Auth, alert, csrf_from, field_error, get_ok, post_form, redirects_to, text_of
from desk.audit.models import AuditEvent
from desk.auth.models import Staff
from desk.claims.models import Claim
from desk.extensions import db
from desk.tickets.models import Message, Ticket

UTC = timezone.utc
T0 = datetime(2026, 7, 1, 10, 0, 0, tzinfo=UTC)  # an order is placed (18:00 in Singapore)
DONE = T0 + timedelta(hours=2)                   # ... and reaches Completed (20:00 in Singapore)
CSRF_MESSAGE = "CSRF check failed"
NOT_FOUND_MESSAGE = "We could not find that order for that e-mail address. Check both and try again."
REF_RE = re.compile(r'class="ref">(T-\d{2}-\d{6})<')


# --- helpers ------------------------------------------------------------------

def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def signed_in(app, role):
    """A fresh browser (test client) signed in as a staff member of `role`."""
    browser = app.test_client()
    Auth(app, browser).login(role)
    return browser


def tool(**flags):
    body = {"id": "17", "name": "Instagram Likes [Refill 30d]", "refill": True, "refill_days": 30,
            "refill_min_drop": 0, "guarantee": False, "beta": False}
    body.update(flags)
    return body


class Panel:
    """The storefront panel pushing its mirror data through the API with a panel key
    (its own test client, so no staff session is involved)."""

    def __init__(self, app, key):
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {key}"}

    def _ok(self, response, *statuses):
        assert response.status_code in statuses, (response.status_code, text_of(response)[:500])
        return response.get_json()

    def customer(self, panel_id="alice", **fields):
        body = {"login": panel_id, "email": f"{panel_id}@example.com", "email_verified": True, "country": "de",
                "status": "active"}
        body.update(fields)
        return self._ok(self.client.put(f"/api/v1/customers/{panel_id}", json=body, headers=self.headers), 200, 201)

    def order(self, panel_id, **fields):
        """A completed order (DESIGN §6 body) on a link of its own unless `link` is given."""
        body = {
            "customer": "alice", "link": f"https://www.instagram.com/p/P{panel_id}/", "quantity": 1000,
            "charge": "2.50", "charge_deposited": "2.00", "charge_promo": "0.50", "start_count": 3572,
            "remains": 0, "status": "completed", "created_at": iso(T0), "status_changed_at": iso(DONE),
            "target_state": "ok", "tool": tool(),
        }
        body.update(fields)
        return self._ok(self.client.put(f"/api/v1/orders/{panel_id}", json=body, headers=self.headers), 200, 201)

    def ledger(self, *entries):
        return self._ok(self.client.post("/api/v1/ledger", json={"entries": list(entries)}, headers=self.headers),
                        200)

    def claim(self, order, kind, at, current_count=None):
        """File a claim; its ticket reference."""
        body = {"order": order, "kind": kind, "at": iso(at)}
        if current_count is not None:
            body["current_count"] = current_count
        return self._ok(self.client.post("/api/v1/claims", json=body, headers=self.headers), 201)["reference"]


def entry(entry_id, kind, amount, customer="alice", **extra):
    return {"id": entry_id, "customer": customer, "kind": kind, "amount": amount, "at": iso(T0), **extra}


@pytest.fixture
def panel(app, api_key):
    shop = Panel(app, api_key("panel"))
    shop.customer("alice")
    return shop


def refill_claim(panel) -> str:
    """Order 1001 dropped to 4400 after delivering 1000 from 3572: an eligible refill of 172."""
    panel.order("1001")
    return panel.claim("1001", "refill", DONE + timedelta(days=1), current_count=4400)


def late_claim(panel) -> str:
    """A non-delivery claim filed 80 h after completion: rejected by the claim window."""
    panel.order("1001")
    return panel.claim("1001", "non_delivery", DONE + timedelta(hours=80))


def claim_of(app, ref) -> Claim:
    with app.app_context():
        claim = db.session.execute(select(Claim).join(Ticket).where(Ticket.reference == ref)).scalar_one()
        db.session.expunge_all()
        return claim


def ticket_of(app, ref) -> Ticket:
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == ref)).scalar_one()
        db.session.expunge_all()
        return ticket


def messages_of(app, ref) -> list[Message]:
    with app.app_context():
        found = db.session.execute(
            select(Message).join(Ticket).where(Ticket.reference == ref).order_by(Message.id)).scalars().all()
        db.session.expunge_all()
        return found


def events(app, action) -> list[AuditEvent]:
    with app.app_context():
        found = db.session.execute(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)).scalars().all()
        db.session.expunge_all()
        return found


def count(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def staff_id(app, role) -> int:
    with app.app_context():
        return db.session.execute(select(Staff.id).where(Staff.email == f"{role}@desk.test")).scalar_one()


def decide(client, ref, outcome, reason="", note=""):
    return post_form(client, f"/tickets/{ref}", {"outcome": outcome, "reason": reason, "note": note},
                     post_url=f"/tickets/{ref}/claim")


def claim_section(page: str) -> str:
    """The claim panel of a ticket page ('' when there is none)."""
    match = re.search(r'<section class="card claim .*?</section>', page, re.S)
    return match.group(0) if match else ""


def on_link_rows(section: str) -> list[tuple[str, str]]:
    """(order, overlaps) for each row of the panel's "Other orders on this link" table."""
    table = section.split("Other orders on this link", 1)[1]
    return re.findall(r"<tr class=\"[^\"]*\"><td>([^<]+)</td>.*?<td>(yes|no)</td></tr>", table, re.S)


def flashes(page: str) -> str:
    return " ".join(re.findall(r'class="flash[^"]*"[^>]*>(.*?)</', page, re.S))


def unchanged(app, ref, messages_before):
    """The claim is still open and undecided, the ticket unanswered and unresolved."""
    claim = claim_of(app, ref)
    assert (claim.status, claim.overridden, claim.outcome_reason, claim.decided_by_id, claim.decided_at) == (
        "open", False, None, None, None)
    assert len(messages_of(app, ref)) == messages_before
    assert ticket_of(app, ref).status == "new"
    assert [e.action for e in events(app, "claim.accepted") + events(app, "claim.rejected")
            + events(app, "claim.overridden")] == []


def returns_rows(page: str) -> dict[str, list[str]]:
    """Order id -> the cells of its row in the returns table (tags stripped)."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        if len(cells) == 9:
            found[cells[0]] = cells
    return found


def claim_form(client, **data):
    body = {"order": "2001", "email": "alice@example.com", "kind": "refill", "current_count": "4400",
            "description": "", "step": "check"}
    body.update(data)
    return post_form(client, "/claim", {k: v for k, v in body.items() if v is not None})


# --- 1. the claim panel on a ticket -----------------------------------------------

def test_claim_panel_shows_decision_reasons_and_order_facts(app, client, auth, panel):
    history = [{"status": "pending", "at": iso(T0)}, {"status": "in_progress", "at": iso(T0 + timedelta(minutes=10))},
               {"status": "completed", "at": iso(DONE)}]
    panel.order("1001", history=history, tool=tool(guarantee=True))
    ref = panel.claim("1001", "refill", DONE + timedelta(days=1), current_count=4400)
    auth.login("agent")
    page = get_ok(client, f"/tickets/{ref}")
    section = claim_section(page)
    assert section, "the claim ticket has no claim panel"
    assert "Refill claim on order 1001" in section
    assert '<span class="badge decision eligible">eligible</span>' in section
    claim = claim_of(app, ref)
    assert claim.decision == "eligible" and claim.refill_quantity == 172
    for reason in claim.reasons:  # each rule id with its sentence and figures
        assert f"<code>{reason['rule']}</code></a> {escape(reason['text'])}" in section  # linked to its help article
    assert "Refill 172 (Start Count 3572, end count 4572" in section
    assert "The tool is labelled Guarantee: the refill is a commitment." in section
    assert "Start 3572 · end 4572 · current 4400" in section
    assert "1000 ordered, 0 remaining" in section
    assert "2.50 (2.00 deposited, 0.50 promotional)" in section
    for flag in ("refill: yes", "guarantee: yes", "beta: no"):
        assert flag in section
    assert "30 days, min drop 0" in section
    # The status history, in the display time zone (Asia/Singapore, UTC+8).
    items = re.findall(r"<li>([a-z ]+) <time>([^<]+)</time></li>", section.split('class="history"', 1)[1])
    assert items == [("pending", "2026-07-01 18:00"), ("in progress", "2026-07-01 18:10"),
                     ("completed", "2026-07-01 20:00")]
    assert "Other orders on this link" in section and "None." in section
    assert 'href="/customers/alice"' in section
    # An agent may decide: the form is there, with both buttons.
    assert f'action="/tickets/{ref}/claim"' in section
    assert 'value="accepted">Accept and reply' in section and 'value="rejected">Reject and reply' in section


def test_claim_panel_lists_other_orders_on_the_link_and_marks_overlaps(app, client, auth, panel):
    link = "https://instagram.com/p/SHARED"
    # 1001 runs T0 .. DONE; 1002 is placed before 1001 finished (overlap); 1000 finished days earlier.
    panel.order("1001", link=link + "/?utm_source=x")
    panel.order("1002", link="https://www.instagram.com/p/SHARED/", created_at=iso(T0 + timedelta(hours=1)),
                status_changed_at=iso(T0 + timedelta(hours=5)))
    panel.order("1000", link=link, created_at=iso(T0 - timedelta(days=5)),
                status_changed_at=iso(T0 - timedelta(days=4)))
    panel.order("1003", customer="bob", link="https://instagram.com/p/OTHER", created_at=iso(T0))
    ref = panel.claim("1001", "refill", DONE + timedelta(days=1), current_count=4400)
    auth.login("agent")
    section = claim_section(get_ok(client, f"/tickets/{ref}"))
    assert '<span class="badge decision rejected">rejected</span>' in section
    assert "<code>terms-11-overlap</code></a> Order 1001 overlapped order(s) 1002 on the same link" in section
    assert on_link_rows(section) == [("1000", "no"), ("1002", "yes")]  # oldest first; 1003 is elsewhere
    assert '<tr class="late"><td>1002</td>' in section
    assert claim_of(app, ref).decision == "rejected"


def test_beta_tool_is_flagged_in_the_panel(app, client, auth, panel):
    panel.order("1001", tool=tool(beta=True, refill=False, name="New Reels Views (beta)"))
    ref = panel.claim("1001", "non_delivery", DONE + timedelta(hours=1))
    auth.login("agent")
    section = claim_section(get_ok(client, f"/tickets/{ref}"))
    assert '<span class="badge decision rejected">rejected</span>' in section
    assert '<span class="badge warn">beta: yes</span>' in section
    assert "refill: no" in section and "guarantee: no" in section
    assert "<code>terms-5-beta</code>" in section and "<code>terms-7-claim-window</code>" in section
    assert "Filed within the claim window" in section


def test_ticket_without_a_claim_has_no_panel(client, auth, make_ticket):
    ref = make_ticket(subject="Where is my order?")
    auth.login("agent")
    page = get_ok(client, f"/tickets/{ref}")
    assert "Where is my order?" in page
    assert claim_section(page) == ""
    assert "Other orders on this link" not in page and "Accept and reply" not in page


def test_staff_without_claim_decide_see_the_panel_but_no_decision_form(app, panel):
    ref = refill_claim(panel)
    browser = signed_in(app, "trust_safety")
    section = claim_section(get_ok(browser, f"/tickets/{ref}"))
    assert "Refill claim on order 1001" in section
    assert "Accept and reply" not in section and "/claim\"" not in section


# --- 2. deciding a claim ---------------------------------------------------------

def test_agent_accepts_an_eligible_refill_claim(app, client, auth, panel):
    ref = refill_claim(panel)
    auth.login("agent")
    response = decide(client, ref, "accepted", note="Thanks for your patience.")
    assert redirects_to(response, f"/tickets/{ref}")
    claim = claim_of(app, ref)
    assert (claim.status, claim.overridden, claim.outcome_reason, claim.decision) == (
        "accepted", False, None, "eligible")
    assert claim.decided_by_id == staff_id(app, "agent") and claim.decided_at is not None
    # One public reply to the requester with the quantity and the quoted clause.
    reply = messages_of(app, ref)[-1]
    assert (reply.author_kind, reply.internal, reply.author_staff_id) == ("staff", False, staff_id(app, "agent"))
    assert "Your claim on order 1001 has been accepted." in reply.body_text
    assert "We will refill 172 on this order." in reply.body_text
    assert "<strong>172</strong>" in reply.body_html
    assert "Thanks for your patience." in reply.body_text
    assert "Terms §10 Refill & Guarantee: Where available, refill is assessed per Order" in reply.body_text
    assert "<strong>Terms §10 Refill &amp; Guarantee</strong>" in reply.body_html
    assert "Refill 172 (Start Count 3572, end count 4572" in reply.body_text
    ticket = ticket_of(app, ref)
    assert ticket.status == "resolved" and ticket.first_response_at is not None
    [event] = events(app, "claim.accepted")
    assert (event.subject_type, event.subject_id, event.ticket_id) == ("claim", str(claim.id), ticket.id)
    assert event.actor_kind == "staff" and event.actor_id == str(staff_id(app, "agent"))
    assert event.data["decision"] == "eligible" and event.data["outcome"] == "accepted"
    assert events(app, "claim.overridden") == []
    # The page after the redirect says so and shows the closed claim.
    page = get_ok(client, f"/tickets/{ref}")
    assert "Claim accepted; the customer has been answered." in flashes(page)
    section = claim_section(page)
    assert '<span class="badge">accepted</span>' in section and "(override)" not in section
    assert "Accept and reply" not in section and "Closed 20" in section and "agent@desk.test" in section


def test_the_requester_sees_the_answer_on_their_link(app, client, auth, panel):
    from desk.tickets.links import make_token

    ref = refill_claim(panel)
    auth.login("agent")
    decide(client, ref, "accepted")
    with app.test_request_context():
        token = make_token(ticket_of(app, ref))
    page = get_ok(app.test_client(), f"/t/{token}")
    assert "Your claim on order 1001 has been accepted." in page and "<strong>172</strong>" in page
    assert "Terms §10 Refill &amp; Guarantee" in page


def test_agent_rejects_a_claim_the_terms_reject(app, client, auth, panel):
    ref = late_claim(panel)
    reason_text = claim_of(app, ref).reasons[0]["text"]
    assert reason_text.startswith("Filed after the claim window (Completed 2026-07-01 12:00:00 UTC; "
                                  "filed 2026-07-04 20:00:00 UTC; 80 h 00 m 00 s later; window 72 h).")
    auth.login("agent")
    assert redirects_to(decide(client, ref, "rejected"), f"/tickets/{ref}")
    claim = claim_of(app, ref)
    assert (claim.status, claim.overridden, claim.decision) == ("rejected", False, "rejected")
    reply = messages_of(app, ref)[-1]
    assert reply.author_kind == "staff" and not reply.internal
    assert "We are sorry, but your claim on order 1001 cannot be accepted." in reply.body_text
    assert f"- {reason_text}" in reply.body_text
    assert "Terms §7 Claim Window: You must report any issue" in reply.body_text
    assert "<strong>Terms §7 Claim Window</strong>" in reply.body_html
    assert "within 3 days of the Order reaching" in reply.body_text
    assert ticket_of(app, ref).status == "resolved"
    [event] = events(app, "claim.rejected")
    assert event.data["decision"] == "rejected" and event.data["outcome"] == "rejected"
    assert "Claim rejected; the customer has been answered." in flashes(get_ok(client, f"/tickets/{ref}"))


def test_agent_cannot_override_the_terms(app, client, auth, panel):
    ref = late_claim(panel)
    auth.login("agent")
    before = len(messages_of(app, ref))
    response = decide(client, ref, "accepted", reason="Customer is a long-standing client.")
    assert response.status_code == 403
    unchanged(app, ref, before)


def test_agent_cannot_reject_an_eligible_claim(app, client, auth, panel):
    ref = refill_claim(panel)
    auth.login("agent")
    before = len(messages_of(app, ref))
    assert decide(client, ref, "rejected", reason="I do not believe the count.").status_code == 403
    unchanged(app, ref, before)


@pytest.mark.parametrize("reason", ["", "   ", "short"])
def test_supervisor_override_needs_a_written_reason(app, client, auth, panel, reason):
    ref = late_claim(panel)
    auth.login("supervisor")
    before = len(messages_of(app, ref))
    response = decide(client, ref, "accepted", reason=reason)
    assert redirects_to(response, f"/tickets/{ref}")
    page = get_ok(client, f"/tickets/{ref}")
    assert "An override needs a written reason (at least 10 characters)." in flashes(page)
    unchanged(app, ref, before)
    assert "Accept and reply" in claim_section(page)  # still open for a decision


def test_supervisor_overrides_with_a_reason(app, client, auth, panel):
    ref = late_claim(panel)
    auth.login("supervisor")
    why = "Consumer law in the customer's country allows 14 days."
    response = decide(client, ref, "accepted", reason=why, note="We have made an exception.")
    assert redirects_to(response, f"/tickets/{ref}")
    claim = claim_of(app, ref)
    assert (claim.status, claim.overridden, claim.outcome_reason) == ("accepted", True, why)
    assert claim.decision == "rejected"  # the Terms' decision stays on the claim
    assert [r["rule"] for r in claim.reasons] == ["terms-7-claim-window"]
    assert claim.decided_by_id == staff_id(app, "supervisor")
    [event] = events(app, "claim.overridden")
    assert event.data["decision"] == "rejected" and event.data["outcome"] == "accepted"
    assert event.data["reason"] == why and event.actor_id == str(staff_id(app, "supervisor"))
    assert events(app, "claim.accepted") == []
    assert [e.data["decision"] for e in events(app, "claim.decided")] == ["rejected"]  # the original, kept
    reply = messages_of(app, ref)[-1]
    assert "Your claim on order 1001 has been accepted." in reply.body_text
    assert "We have made an exception." in reply.body_text
    assert why not in reply.body_text and "14 days" not in reply.body_html  # the reason is internal
    assert ticket_of(app, ref).status == "resolved"
    section = claim_section(get_ok(client, f"/tickets/{ref}"))
    assert "accepted (override)" in section
    assert escape(why) in section and "supervisor@desk.test" in section


def test_deciding_a_closed_claim_is_refused_without_a_second_reply(app, client, auth, panel):
    ref = refill_claim(panel)
    auth.login("agent")
    decide(client, ref, "accepted")
    replies = len(messages_of(app, ref))
    decided_at = claim_of(app, ref).decided_at
    for outcome in ("accepted", "rejected"):
        response = decide(client, ref, outcome)
        assert redirects_to(response, f"/tickets/{ref}")
        assert "This claim is already accepted." in flashes(get_ok(client, f"/tickets/{ref}"))
    assert len(messages_of(app, ref)) == replies
    claim = claim_of(app, ref)
    assert (claim.status, claim.decided_at) == ("accepted", decided_at)
    assert len(events(app, "claim.accepted")) == 1 and events(app, "claim.rejected") == []


def test_deciding_without_an_outcome_changes_nothing(app, client, auth, panel):
    ref = refill_claim(panel)
    auth.login("agent")
    before = len(messages_of(app, ref))
    for outcome in ("", "maybe"):
        assert redirects_to(decide(client, ref, outcome), f"/tickets/{ref}")
        assert "Choose accept or reject." in flashes(get_ok(client, f"/tickets/{ref}"))
    unchanged(app, ref, before)


@pytest.mark.parametrize("token", [None, "not-a-real-token"])
def test_deciding_without_csrf_is_refused(app, client, auth, panel, token):
    ref = refill_claim(panel)
    auth.login("agent")
    before = len(messages_of(app, ref))
    data = {"outcome": "accepted"} | ({"csrf_token": token} if token else {})
    response = client.post(f"/tickets/{ref}/claim", data=data)
    assert response.status_code == 400 and CSRF_MESSAGE in text_of(response)
    unchanged(app, ref, before)


@pytest.mark.parametrize("role", ["trust_safety", "privacy_officer"])
def test_roles_without_claim_decide_are_forbidden(app, panel, role):
    ref = refill_claim(panel)
    browser = signed_in(app, role)
    before = len(messages_of(app, ref))
    response = decide(browser, ref, "accepted")
    assert response.status_code == 403
    unchanged(app, ref, before)


def test_deciding_a_ticket_without_a_claim_is_404(app, client, auth, make_ticket):
    ref = make_ticket()
    auth.login("supervisor")
    assert decide(client, ref, "accepted").status_code == 404
    assert count(app, Message) == 1
    for missing in ("T-26-999999", "T-26%00-1"):  # a NUL is no 500 on PostgreSQL either
        response = post_form(client, "/queue", {"outcome": "accepted"}, post_url=f"/tickets/{missing}/claim")
        assert response.status_code == 404


def test_anonymous_deciding_is_sent_to_login(app, client, panel):
    ref = refill_claim(panel)
    before = len(messages_of(app, ref))
    token = csrf_from(get_ok(client, "/login"))  # a valid token for this (anonymous) session
    response = client.post(f"/tickets/{ref}/claim", data={"outcome": "accepted", "csrf_token": token})
    assert redirects_to(response, "/login")
    assert redirects_to(client.get(f"/tickets/{ref}"), "/login")
    unchanged(app, ref, before)


def test_admin_may_decide_a_claim(app, panel):
    ref = refill_claim(panel)
    browser = signed_in(app, "admin")
    assert redirects_to(decide(browser, ref, "accepted"), f"/tickets/{ref}")
    assert claim_of(app, ref).status == "accepted"


# --- 3. the customer page ----------------------------------------------------------

def test_customer_page_shows_orders_ledger_and_split_balance(app, client, auth, panel):
    panel.order("1001")
    panel.order("1002", status="partial", remains=400, created_at=iso(T0 + timedelta(hours=1)))
    panel.customer("bob")
    panel.order("9001", customer="bob")
    panel.ledger(entry("e1", "deposit", "10.00", method="card", processor_fee="0.59"),
                 entry("e2", "promo_credit", "1.00", source="welcome"),
                 entry("e3", "charge", "2.00", funding="deposited", order="1001"),
                 entry("e4", "charge", "0.50", funding="promotional", order="1001"),
                 entry("e5", "return", "0.25", funding="promotional", order="1002"),
                 entry("b1", "deposit", "99.00", customer="bob"))
    auth.login("agent")
    page = get_ok(client, "/customers/alice")
    stats = dict(re.findall(r'<span class="label">([^<]+)</span><span class="value">([^<]+)</span>', page))
    assert stats == {"Deposited Funds": "8.00", "Promotional Credit": "0.75", "Balance": "8.75"}
    assert "alice@example.com" in page and '<span class="badge">verified</span>' in page
    orders = page.split("<h2>Orders</h2>", 1)[1].split("</table>", 1)[0]
    assert re.findall(r"<tr><td>(\d+)</td>", orders) == ["1002", "1001"]  # newest first
    assert "<td>partial</td>" in orders and "<td>400</td>" in orders
    assert "<td>2.00 / 0.50</td>" in orders and "9001" not in orders
    ledger = page.split("<h2>Ledger</h2>", 1)[1].split("</table>", 1)[0]
    entries = re.findall(r"<td>(\w\d)</td><td>([a-z ]+)</td><td>(\w+)</td>\s*<td class=\"num\">([\d.]+)</td>",
                         ledger)
    assert entries == [("e1", "deposit", "deposited", "10.00"), ("e2", "promo credit", "promotional", "1.00"),
                       ("e3", "charge", "deposited", "2.00"), ("e4", "charge", "promotional", "0.50"),
                       ("e5", "return", "promotional", "0.25")]
    assert "card (fee 0.59)" in ledger and "welcome" in ledger and "b1" not in ledger
    bob = get_ok(client, "/customers/bob")
    assert dict(re.findall(r'<span class="label">([^<]+)</span><span class="value">([^<]+)</span>', bob)) == {
        "Deposited Funds": "99.00", "Promotional Credit": "0.00", "Balance": "99.00"}


@pytest.mark.parametrize("panel_id", ["nobody", "ali%00ce", "x" * 300])
def test_customer_page_of_an_unknown_customer_is_404(client, auth, panel, panel_id):
    auth.login("agent")
    assert client.get(f"/customers/{panel_id}").status_code == 404  # a NUL is no 500 on PostgreSQL either


def test_customer_page_needs_a_sign_in(client, panel):
    response = client.get("/customers/alice")
    assert redirects_to(response, "/login")
    assert "alice@example.com" not in text_of(response)


# --- 4. the returns check ---------------------------------------------------------

def test_returns_check_lists_missing_and_wrong_returns(client, auth, panel):
    # quantity 1000, 400 undelivered of a 2.50 charge (2.00 deposited, 0.50 promo): 1.00 returns,
    # 0.80 Deposited Funds and 0.20 Promotional Credit.
    partial = {"status": "partial", "remains": 400}
    panel.order("3001", **partial)  # no return at all
    panel.order("3002", **partial)  # the right return, split by funding
    panel.order("3003", **partial)  # the whole return as Deposited Funds: wrong
    panel.order("3004")             # Completed: nothing owed
    panel.order("3005", status="canceled", remains=1000)  # Canceled, no return
    panel.order("3006", status="completed")  # Completed, with a stray return: still not listed
    panel.order("3007", **partial)  # a return of the wrong amount
    panel.ledger(entry("r2a", "return", "0.80", funding="deposited", order="3002"),
                 entry("r2b", "return", "0.20", funding="promotional", order="3002"),
                 entry("r3", "return", "1.00", funding="deposited", order="3003"),
                 entry("r6", "return", "1.00", funding="deposited", order="3006"),
                 entry("r7a", "return", "0.50", funding="deposited", order="3007"),
                 entry("r7b", "return", "0.20", funding="promotional", order="3007"))
    auth.login("agent")
    page = get_ok(client, "/claims/returns")
    rows = returns_rows(page)
    assert set(rows) == {"3001", "3003", "3005", "3007"}
    assert rows["3001"] == ["3001", "alice", "partial", "missing", "0.80", "0.20", "0.00", "0.00",
                            "terms-9-partial"]
    assert rows["3003"] == ["3003", "alice", "partial", "wrong", "0.80", "0.20", "1.00", "0.00",
                            "terms-9-partial"]
    assert rows["3007"] == ["3007", "alice", "partial", "wrong", "0.80", "0.20", "0.50", "0.20",
                            "terms-9-partial"]
    assert rows["3005"] == ["3005", "alice", "canceled", "missing", "2.00", "0.50", "0.00", "0.00",
                            "terms-9-canceled"]
    assert '<span class="badge warn">wrong</span>' in page
    assert 'href="/customers/alice"' in page


def test_returns_check_with_every_return_in_place(client, auth, panel):
    panel.order("3002", status="partial", remains=400)
    panel.order("3004")
    panel.ledger(entry("r2a", "return", "0.80", funding="deposited", order="3002"),
                 entry("r2b", "return", "0.20", funding="promotional", order="3002"))
    auth.login("agent")
    page = get_ok(client, "/claims/returns")
    assert returns_rows(page) == {}
    assert "Every Partial and Canceled order has its return in the ledger." in page


def test_returns_check_needs_a_sign_in(client, panel):
    assert redirects_to(client.get("/claims/returns"), "/login")


# --- 5. the customer's claim form ----------------------------------------------------

@pytest.fixture
def recent(panel):
    """Order 2001 completed an hour ago (the form decides at the current time): 3572 + 1000,
    refill tool; order 2002 completed five days ago."""
    now = datetime.now(UTC).replace(microsecond=0)
    panel.order("2001", created_at=iso(now - timedelta(hours=3)), status_changed_at=iso(now - timedelta(hours=1)))
    panel.order("2002", created_at=iso(now - timedelta(days=6)), status_changed_at=iso(now - timedelta(days=5)))
    panel.customer("bob")
    return panel


def nothing_filed(app):
    assert count(app, Claim) == 0 and count(app, Ticket) == 0


def test_claim_form_renders(client):
    page = get_ok(client, "/claim")
    assert "Claim on an order" in page and 'name="csrf_token"' in page
    assert "Check my claim" in page and "File this claim" not in page
    assert 'name="step" type="hidden" value="check"' in page


def test_checking_an_eligible_claim_shows_the_decision_and_files_nothing(app, client, recent):
    response = claim_form(client)
    assert response.status_code == 200
    page = text_of(response)
    assert '<div class="decision-box eligible" role="status">' in page
    assert "<h2>Your claim meets the Terms</h2>" in page
    assert "Refill: <strong>172</strong>." in page
    assert "Refill 172 (Start Count 3572, end count 4572 (Start Count + 1000 delivered), current 4400)." in page
    assert "The tool is not labelled Guarantee: a refill is best-effort" in page
    # Each clause in plain words, the Terms' own words folded beneath.
    assert "<p><strong>Terms §10 Refill &amp; Guarantee</strong>: A refill tops an order back up" in page
    assert "<blockquote lang=\"en\">Where available, refill is assessed per Order using the Order&#39;s own figures" in page
    assert 'name="step" type="hidden" value="file"' in page and "File this claim" in page
    nothing_filed(app)


def test_checking_a_late_claim_shows_the_rejection(app, client, recent):
    response = claim_form(client, order="2002", kind="non_delivery", current_count="")
    assert response.status_code == 200
    page = text_of(response)
    assert "<h2>Under the Terms this claim would not be accepted</h2>" in page
    assert "Filed after the claim window (Completed " in page and "window 72 h)" in page
    assert "<p><strong>Terms §7 Claim Window</strong>: Problems with an order can be reported for 3 days" in page
    assert "<blockquote lang=\"en\">You must report any issue with an Order" in page
    assert "Refill:" not in page
    nothing_filed(app)


def test_checking_a_refill_without_a_count_needs_review(app, client, recent):
    page = text_of(claim_form(client, current_count=""))
    assert "<h2>Support will need to review this claim</h2>" in page
    assert "Refill needs the current count to be measured; staff will check it." in page
    nothing_filed(app)


@pytest.mark.parametrize("step", ["check", "file"])
def test_another_customers_email_and_an_unknown_order_look_the_same(app, client, recent, step):
    not_yours = claim_form(client, email="bob@example.com", step=step)
    unknown = claim_form(client, order="999999", step=step)
    unknown_email = claim_form(client, email="nobody@example.com", step=step)
    with_nul = claim_form(client, order="20\x0001", step=step)  # no 500 on PostgreSQL either
    for response in (not_yours, unknown, unknown_email, with_nul):
        assert response.status_code == 404
        page = text_of(response)
        assert alert(page) == NOT_FOUND_MESSAGE
        assert "decision-box" not in page and "Start Count" not in page and "File this claim" not in page
    # Apart from the values typed back into the form, the two answers are the same page.
    def scrub(page):
        # Every CSRF input (the form's, the language switcher's): a token carries the second it was signed in.
        page = re.sub(r'<input[^>]*name="csrf_token"[^>]*>', "", page)
        return page.replace("bob@example.com", "E").replace("alice@example.com", "E").replace(
            "999999", "O").replace("2001", "O")
    assert scrub(text_of(not_yours)) == scrub(text_of(unknown))
    nothing_filed(app)


def test_the_email_match_ignores_case(app, client, recent):
    response = claim_form(client, email="Alice@Example.COM")
    assert response.status_code == 200 and "Your claim meets the Terms" in text_of(response)


def test_filing_a_claim_creates_the_claim_ticket(app, client, recent):
    response = claim_form(client, step="file", description="Likes dropped since Friday.")
    assert response.status_code == 200
    page = text_of(response)
    assert "<h1>Your claim is filed</h1>" in page
    [ref] = re.findall(r'<strong class="ref">(T-\d{2}-\d{6})</strong>', page)
    assert "for order 2001" in page
    [link] = re.findall(r'href="(/t/[^"]+)"', page)
    claim = claim_of(app, ref)
    assert (claim.kind, claim.decision, claim.refill_quantity, claim.current_count, claim.status) == (
        "refill", "eligible", 172, 4400, "open")
    ticket = ticket_of(app, ref)
    assert (ticket.queue, ticket.channel, ticket.kind, ticket.order_ref) == ("claims", "web", "refill", "2001")
    assert ticket.requester_email == "alice@example.com"
    [first] = messages_of(app, ref)
    assert "Likes dropped since Friday." in first.body_text and "4400" in first.body_text
    assert [e.data["decision"] for e in events(app, "claim.decided")] == ["eligible"]
    own = get_ok(app.test_client(), link)
    assert ref in own and "Likes dropped since Friday." in own


def test_filing_the_same_claim_again_shows_the_open_one(app, client, recent):
    first = text_of(claim_form(client, step="file"))
    [ref] = re.findall(r'class="ref">(T-\d{2}-\d{6})<', first)
    again = claim_form(client, step="file", current_count="4300")
    assert again.status_code == 200
    page = text_of(again)
    assert "<h1>You already have this claim open</h1>" in page
    assert re.findall(r'class="ref">(T-\d{2}-\d{6})<', page) == [ref]
    assert count(app, Claim) == 1 and count(app, Ticket) == 1
    assert claim_of(app, ref).current_count == 4400
    # Another kind on the same order is another claim.
    other = text_of(claim_form(client, step="file", kind="non_delivery", current_count=""))
    assert "<h1>Your claim is filed</h1>" in other
    assert count(app, Claim) == 2


@pytest.mark.parametrize("fields, name, message", [
    ({"order": ""}, "order", "This field is required."),
    ({"email": "not-an-email"}, "email", "Invalid email address."),
    ({"email": ""}, "email", "This field is required."),
    ({"current_count": "-5"}, "current_count", "Number must be at least 0."),
    ({"current_count": "lots"}, "current_count", "Not a valid integer value."),
    ({"kind": "refund_everything"}, "kind", "Not a valid choice."),
])
@pytest.mark.parametrize("step", ["check", "file"])
def test_invalid_claim_fields_are_a_400_with_field_errors(app, client, recent, fields, name, message, step):
    response = claim_form(client, step=step, **fields)
    assert response.status_code == 400
    page = text_of(response)
    assert "Please check the fields marked below." in page
    assert message in field_error(page, name)
    assert "decision-box" not in page
    nothing_filed(app)


def test_claim_form_without_csrf_is_refused(app, client, recent):
    response = client.post("/claim", data={"order": "2001", "email": "alice@example.com", "kind": "refill",
                                           "current_count": "4400", "step": "file"})
    assert response.status_code == 400 and CSRF_MESSAGE in text_of(response)
    nothing_filed(app)


# --- concurrency ------------------------------------------------------------------------

def test_two_staff_deciding_at_once_close_the_claim_once(app, panel):
    """An agent and a supervisor press Accept at the same instant: the claim is closed
    once, the customer gets one reply, and the audit log has one decision."""
    rounds = 5
    refs = []
    for n in range(rounds):
        panel.order(f"40{n:02d}")
        refs.append(panel.claim(f"40{n:02d}", "refill", DONE + timedelta(days=1), current_count=4400))
    browsers = [signed_in(app, "agent"), signed_in(app, "supervisor")]
    for ref in refs:
        tokens = [csrf_from(get_ok(b, f"/tickets/{ref}")) for b in browsers]
        barrier = threading.Barrier(2)
        results = [None, None]

        def race(slot):
            barrier.wait()
            try:
                response = browsers[slot].post(f"/tickets/{ref}/claim",
                                               data={"csrf_token": tokens[slot], "outcome": "accepted"})
                results[slot] = response.status_code
            except Exception as exc:  # noqa: BLE001 - reported below
                results[slot] = repr(exc)

        threads = [threading.Thread(target=race, args=(slot,)) for slot in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads), f"{ref}: a request hung"
        assert results == [302, 302], f"{ref}: {results}"
        staff_messages = [m for m in messages_of(app, ref) if m.author_kind == "staff"]
        assert len(staff_messages) == 1, f"{ref}: {len(staff_messages)} replies"
        claim = claim_of(app, ref)
        assert claim.status == "accepted" and claim.decided_by_id == staff_messages[0].author_staff_id
    assert len(events(app, "claim.accepted")) == rounds



# --- needs review, override replies, odd references ---------------------------------------

def needs_review_claim(panel) -> str:
    """A refill with no current count: the engine asks staff to measure it (needs_review)."""
    panel.order("1001")
    return panel.claim("1001", "refill", DONE + timedelta(days=1))


@pytest.mark.parametrize("outcome", ["accepted", "rejected"])
def test_agent_decides_a_needs_review_claim_either_way(app, client, auth, panel, outcome):
    ref = needs_review_claim(panel)
    assert claim_of(app, ref).decision == "needs_review"
    auth.login("agent")
    response = decide(client, ref, outcome)
    assert response.status_code == 302
    claim = claim_of(app, ref)
    assert (claim.status, claim.overridden) == (outcome, False)
    assert [e.data["outcome"] for e in events(app, f"claim.{outcome}")] == [outcome]


def test_override_acceptance_does_not_quote_the_rule_it_overrides(app, client, auth, panel):
    ref = late_claim(panel)
    auth.login("supervisor")
    response = decide(client, ref, "accepted", reason="Customer was in hospital; goodwill exception.",
                      note="We have made an exception for you.")
    assert response.status_code == 302
    reply = messages_of(app, ref)[-1]
    assert not reply.internal
    assert "has been accepted" in reply.body_text and "We have made an exception for you." in reply.body_text
    assert "Claim Window" not in reply.body_text and "not accepted" not in reply.body_text
    assert "hospital" not in reply.body_text  # the override's reason stays internal


def test_a_ticket_reference_with_a_nul_is_a_404(client, auth):
    auth.login("agent")
    assert client.get("/tickets/T-26-%00").status_code == 404


# --- recording facts --------------------------------------------------------------------

def record_facts(client, ref, **fields):
    data = {"target_state": "ok", "facts_reason": "", **fields}
    return post_form(client, f"/tickets/{ref}", data, post_url=f"/tickets/{ref}/claim/facts")


def test_recording_an_overlap_elsewhere_decides_the_claim_again(app, client, auth, panel):
    ref = refill_claim(panel)
    assert claim_of(app, ref).decision == "eligible"
    auth.login("agent")
    response = record_facts(client, ref, overlap_elsewhere="y",
                            facts_reason="Customer said in chat they ran the same order on another panel.")
    assert response.status_code == 302
    claim = claim_of(app, ref)
    assert claim.decision == "rejected" and claim.refill_quantity is None
    assert "terms-11-overlap" in [r["rule"] for r in claim.reasons]
    [event] = events(app, "claim.facts_recorded")
    assert event.data["before"]["decision"] == "eligible" and event.data["after"]["decision"] == "rejected"
    assert "another panel" in event.data["reason"]
    page = get_ok(client, f"/tickets/{ref}")
    assert "terms-11-overlap" in claim_section(page)


def test_recording_a_changed_target_needs_a_reason(app, client, auth, panel):
    ref = refill_claim(panel)
    auth.login("agent")
    response = record_facts(client, ref, target_state="changed", facts_reason="")
    assert response.status_code == 302
    assert "at least 10 characters" in flashes(get_ok(client, f"/tickets/{ref}"))
    assert claim_of(app, ref).decision == "eligible" and events(app, "claim.facts_recorded") == []
    record_facts(client, ref, target_state="changed", facts_reason="The username on the link is different now.")
    claim = claim_of(app, ref)
    assert claim.decision == "rejected" and "terms-11-target" in [r["rule"] for r in claim.reasons]


def test_facts_cannot_be_recorded_by_roles_without_claim_decide(client, auth, panel):
    ref = refill_claim(panel)
    auth.login("trust_safety")
    assert record_facts(client, ref, overlap_elsewhere="y", facts_reason="x" * 20).status_code == 403
