"""The staff web UI through HTTP: sign-in, roles, CSRF, the queue, the ticket page, admin
pages and the security headers. Every test runs on SQLite and on PostgreSQL."""
import base64
import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import func, select

from conftest import Auth, csrf_from, get_ok, post_form, redirects_to, text_of
from desk.audit.models import AuditEvent
from desk.auth.models import ApiKey, Staff
from desk.extensions import db
from desk.tickets.models import Message, Ticket

PASSWORD = "correct horse battery staple"
CSRF_MESSAGE = "CSRF check failed"
REF_RE = re.compile(r'class="ref">(T-\d{2}-\d{6})</a>')
API_KEY_RE = re.compile(r'<pre class="secret">(dk_[A-Za-z0-9_-]+)</pre>')

# The only script on a ticket page: its own file, from the desk (who else is viewing).
OWN_SCRIPT = '<script src="/static/presence.js" defer>'


# --- helpers ------------------------------------------------------------------

def queue_refs(client, url="/queue") -> list[str]:
    """The references listed in the queue table, top to bottom."""
    return REF_RE.findall(get_ok(client, url))


def signed_in(app, role, email=None):
    """A fresh browser (test client) signed in as a staff member of `role`."""
    browser = app.test_client()
    Auth(app, browser).login(role, email)
    return browser


def reply(client, ref, body, internal=False, status=""):
    data = {"body": body, "status": status}
    if internal:
        data["internal"] = "y"
    return post_form(client, f"/tickets/{ref}", data, post_url=f"/tickets/{ref}/reply")


def update(client, ref, status="open", priority="normal", tags=""):
    return post_form(client, f"/tickets/{ref}", {"status": status, "priority": priority, "tags": tags},
                     post_url=f"/tickets/{ref}/update")


def assign(client, ref, assignee):
    return post_form(client, f"/tickets/{ref}", {"assignee": str(assignee)}, post_url=f"/tickets/{ref}/assign")


def history_rows(html: str) -> list[tuple[str, str, str]]:
    """(who, action, details) for each row of the ticket page's History table."""
    section = html.split("<h2>History</h2>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td>\s*<td>(.*?)</td></tr>", section, re.S)
    return [(who, action, re.sub(r"<[^>]+>", " ", details)) for who, action, details in rows]


def ticket_row(app, ref) -> Ticket:
    """The ticket as stored (read in its own app context; attributes loaded eagerly)."""
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == ref)).scalar_one()
        _ = ticket.tags, ticket.assignee_id, [m.internal for m in ticket.messages]
        db.session.expunge_all()
        return ticket


def count(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def sidebar_counts(html: str) -> dict[str, int]:
    aside = html.split('<ul class="queues">', 1)[1].split("</ul>", 1)[0]
    return {name: int(n) for name, n in re.findall(r'>([A-Za-z ]+?) <span class="count">(\d+)</span>', aside)}


# --- 1. anonymous users -------------------------------------------------------

@pytest.mark.parametrize("path", ["/queue", "/tickets/{ref}", "/admin/staff", "/admin/api-keys", "/admin/audit"])
def test_anonymous_is_sent_to_login_and_sees_no_tickets(client, make_ticket, path):
    ref = make_ticket(subject="Secret subject 5521")
    response = client.get(path.format(ref=ref))
    assert redirects_to(response, "/login")
    assert "Secret subject 5521" not in text_of(response)
    landed = client.get(path.format(ref=ref), follow_redirects=True)
    assert landed.status_code == 200 and "Staff sign-in" in text_of(landed)
    assert "Secret subject 5521" not in text_of(landed)


# --- 2. sign-in and sign-out --------------------------------------------------

def test_wrong_password_gives_no_session_and_says_so(client, auth):
    auth.staff("agent")
    response = post_form(client, "/login", {"email": "agent@desk.test", "password": "not the password"})
    assert response.status_code == 401
    assert "do not match an active staff account" in text_of(response)
    assert redirects_to(client.get("/queue"), "/login")


def test_unknown_email_is_refused_like_a_wrong_password(client, auth):
    response = post_form(client, "/login", {"email": "nobody@desk.test", "password": PASSWORD})
    assert response.status_code == 401
    assert "do not match an active staff account" in text_of(response)
    assert redirects_to(client.get("/queue"), "/login")


def test_right_password_goes_to_the_queue(client, auth):
    auth.staff("agent")
    response = post_form(client, "/login", {"email": "agent@desk.test", "password": PASSWORD})
    assert redirects_to(response, "/queue")
    html = get_ok(client, "/queue")
    assert "agent@desk.test" in html and "Sign out" in html


def test_login_ignores_an_attacker_supplied_next_url(client, auth):
    auth.staff("agent")
    response = post_form(client, "/login?next=https://evil.example/steal",
                         {"email": "agent@desk.test", "password": PASSWORD},
                         post_url="/login?next=https://evil.example/steal")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert urlparse(location).path == "/queue"
    assert "evil" not in location and urlparse(location).netloc in ("", "localhost")


def test_logout_by_post_with_csrf_signs_out(client, auth):
    auth.login("agent")
    response = auth.logout()
    assert redirects_to(response, "/login")
    assert redirects_to(client.get("/queue"), "/login")


def test_logout_by_get_is_not_allowed_and_keeps_the_session(client, auth):
    auth.login("agent")
    response = client.get("/logout")
    assert response.status_code == 405
    assert "method is not allowed" in text_of(response)
    assert client.get("/queue").status_code == 200


def test_logout_without_csrf_is_refused_and_keeps_the_session(client, auth):
    auth.login("agent")
    response = client.post("/logout")
    assert response.status_code == 400 and CSRF_MESSAGE in text_of(response)
    assert client.get("/queue").status_code == 200


# --- 3. roles -----------------------------------------------------------------

@pytest.mark.parametrize("path", ["/admin/staff", "/admin/api-keys", "/admin/audit"])
def test_agent_is_forbidden_admin_pages(client, auth, path):
    auth.login("agent")
    response = client.get(path)
    assert response.status_code == 403
    assert "Your role does not allow this page." in text_of(response)


def test_supervisor_sees_the_audit_log_but_not_staff_or_keys(client, auth, make_ticket):
    ref = make_ticket()
    auth.login("supervisor")
    html = get_ok(client, "/admin/audit")
    assert "Audit log" in html and "ticket.created" in html and ref in html
    assert client.get("/admin/staff").status_code == 403
    assert client.get("/admin/api-keys").status_code == 403


def test_admin_opens_every_admin_page(client, auth):
    auth.login("admin")
    assert "admin@desk.test" in get_ok(client, "/admin/staff")
    assert "Create a key" in get_ok(client, "/admin/api-keys")
    assert "staff.created" in get_ok(client, "/admin/audit")


@pytest.mark.parametrize("kind", ["abuse", "rights", "privacy"])
def test_agent_cannot_open_restricted_queues(client, auth, make_ticket, kind):
    restricted = make_ticket(kind=kind, subject=f"Restricted {kind} case")
    ordinary = make_ticket(subject="Ordinary question")
    auth.login("agent")
    response = client.get(f"/tickets/{restricted}")
    assert response.status_code == 404
    assert f"Restricted {kind} case" not in text_of(response)
    html = get_ok(client, "/queue?status=")
    assert ordinary in html and restricted not in html and f"Restricted {kind} case" not in html
    # Asking for the restricted queue by name does not open it either.
    for queue in ("abuse", "legal", "privacy"):
        assert restricted not in get_ok(client, f"/queue?queue={queue}&status=")


def test_trust_safety_opens_abuse_and_rights_cases(client, auth, make_ticket):
    abuse = make_ticket(kind="abuse", subject="Spam link report")
    rights = make_ticket(kind="rights", subject="Trademark notice")
    privacy = make_ticket(kind="privacy", subject="Delete my data")
    auth.login("trust_safety")
    assert "Spam link report" in get_ok(client, f"/tickets/{abuse}")
    assert "Trademark notice" in get_ok(client, f"/tickets/{rights}")
    assert client.get(f"/tickets/{privacy}").status_code == 404
    refs = queue_refs(client)
    assert abuse in refs and rights in refs and privacy not in refs


def test_privacy_officer_opens_privacy_but_not_abuse(client, auth, make_ticket):
    privacy = make_ticket(kind="privacy", subject="Delete my data")
    abuse = make_ticket(kind="abuse", subject="Spam link report")
    auth.login("privacy_officer")
    assert "Delete my data" in get_ok(client, f"/tickets/{privacy}")
    response = client.get(f"/tickets/{abuse}")
    assert response.status_code == 404 and "Spam link report" not in text_of(response)
    refs = queue_refs(client)
    assert privacy in refs and abuse not in refs


def test_admin_does_not_read_restricted_queues(client, auth, make_ticket):
    abuse = make_ticket(kind="abuse")
    auth.login("admin")
    assert client.get(f"/tickets/{abuse}").status_code == 404


# --- 4. CSRF ------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, "not-a-real-token"])
def test_login_form_without_valid_csrf_is_refused(client, auth, token):
    auth.staff("agent")
    data = {"email": "agent@desk.test", "password": PASSWORD}
    if token:
        data["csrf_token"] = token
    response = client.post("/login", data=data)
    assert response.status_code == 400 and CSRF_MESSAGE in text_of(response)
    assert redirects_to(client.get("/queue"), "/login")
    with auth.app.app_context():
        assert db.session.execute(select(Staff.last_login_at)).scalar_one() is None


@pytest.mark.parametrize("token", [None, "not-a-real-token"])
def test_staff_reply_without_valid_csrf_is_refused(app, client, auth, make_ticket, token):
    ref = make_ticket()
    auth.login("agent")
    data = {"body": "Forged reply"} | ({"csrf_token": token} if token else {})
    response = client.post(f"/tickets/{ref}/reply", data=data)
    assert response.status_code == 400 and CSRF_MESSAGE in text_of(response)
    assert count(app, Message) == 1
    assert "Forged reply" not in get_ok(client, f"/tickets/{ref}")


@pytest.mark.parametrize("token", [None, "not-a-real-token"])
def test_ticket_update_without_valid_csrf_is_refused(app, client, auth, make_ticket, token):
    ref = make_ticket()
    auth.login("agent")
    events_before = count(app, AuditEvent)
    data = {"status": "closed", "priority": "urgent", "tags": "forged"} | ({"csrf_token": token} if token else {})
    response = client.post(f"/tickets/{ref}/update", data=data)
    assert response.status_code == 400 and CSRF_MESSAGE in text_of(response)
    stored = ticket_row(app, ref)
    assert (stored.status, stored.priority, stored.tags) == ("new", "normal", [])
    assert count(app, AuditEvent) == events_before


@pytest.mark.parametrize("token", [None, "not-a-real-token"])
def test_admin_staff_form_without_valid_csrf_is_refused(app, client, auth, token):
    auth.login("admin")
    staff_before = count(app, Staff)
    data = {"email": "mallory@example.com", "role": "admin", "password": "a long enough password"}
    if token:
        data["csrf_token"] = token
    response = client.post("/admin/staff", data=data)
    assert response.status_code == 400 and CSRF_MESSAGE in text_of(response)
    assert count(app, Staff) == staff_before
    assert "mallory@example.com" not in get_ok(client, "/admin/staff")


def test_csrf_token_from_another_session_is_refused(app, client, auth):
    other = app.test_client()
    foreign_token = csrf_from(get_ok(other, "/login"))
    auth.staff("agent")
    response = client.post("/login", data={"csrf_token": foreign_token, "email": "agent@desk.test",
                                           "password": PASSWORD})
    assert response.status_code == 400 and CSRF_MESSAGE in text_of(response)


# --- 5. the queue ---------------------------------------------------------------

def test_queue_is_sorted_by_due_time_then_age(make_app):
    # Refunds answer in 60 support minutes, the others in 600: a later refund is due first.
    app = make_app()
    from desk.audit.services import SYSTEM
    from desk.policy.sla import Targets
    from desk.sla.settings import forget, save_targets
    from desk.tickets.services import NewTicket, create_ticket

    with app.app_context():
        for kind, minutes in (("general", 600), ("claim", 600), ("refund", 60)):
            save_targets(kind, Targets(minutes, 3 * minutes), SYSTEM)
        db.session.commit()
        forget()

    def new(kind, subject):
        with app.app_context():
            return create_ticket(NewTicket(subject=subject, body="b", requester_email="a@example.com", kind=kind),
                                 SYSTEM)[0].reference

    older_support = new("general", "Older support")
    billing = new("refund", "Refund please")
    newer_support = new("claim", "Newer support")
    tied_a, tied_b = new("general", "Tie A"), new("general", "Tie B")
    with app.app_context():
        by_ref = {t.reference: t for t in db.session.execute(select(Ticket)).scalars()}
        assert by_ref[billing].queue == "billing" and by_ref[older_support].queue == "support"
        # Same due time: the one created earlier comes first, whatever its id.
        by_ref[tied_b].due_at = by_ref[tied_a].due_at = by_ref[newer_support].due_at + timedelta(hours=1)
        by_ref[tied_b].created_at = by_ref[tied_a].created_at - timedelta(minutes=5)
        db.session.commit()
    browser = signed_in(app, "agent")
    assert queue_refs(browser) == [billing, older_support, newer_support, tied_b, tied_a]


def test_queue_filters_by_queue_and_kind(client, auth, make_ticket):
    support = make_ticket(kind="general")
    refund = make_ticket(kind="refund")
    withdrawal = make_ticket(kind="withdrawal")
    auth.login("agent")
    assert sorted(queue_refs(client, "/queue?queue=billing")) == sorted([refund, withdrawal])
    assert queue_refs(client, "/queue?queue=support") == [support]
    assert queue_refs(client, "/queue?kind=refund") == [refund]
    assert "No tickets match these filters." in get_ok(client, "/queue?kind=cancel")


def test_queue_filters_by_status(client, auth, make_ticket):
    fresh = make_ticket()
    done = make_ticket()
    auth.login("agent")
    assert update(client, done, status="resolved").status_code == 302
    assert queue_refs(client) == [fresh]  # the default is "all open"
    assert queue_refs(client, "/queue?status=resolved") == [done]
    assert queue_refs(client, "/queue?status=new") == [fresh]
    assert sorted(queue_refs(client, "/queue?status=")) == sorted([fresh, done])


def test_queue_filters_by_assignee(app, client, auth, make_ticket):
    mine = make_ticket()
    theirs = make_ticket()
    nobody = make_ticket()
    other_id = auth.staff("agent", "other@desk.test")
    auth.login("agent")
    assert assign(client, mine, auth.staff("agent")).status_code == 302
    assert assign(signed_in(app, "supervisor"), theirs, other_id).status_code == 302
    assert queue_refs(client, "/queue?assignee=me") == [mine]
    assert queue_refs(client, "/queue?assignee=none") == [nobody]
    assert queue_refs(client, f"/queue?assignee={other_id}") == [theirs]


def test_queue_filters_by_tag(client, auth, make_ticket):
    tagged = make_ticket()
    make_ticket()
    auth.login("agent")
    assert update(client, tagged, status="open", tags="VIP, chargeback risk").status_code == 302
    assert queue_refs(client, "/queue?tag=vip") == [tagged]
    assert queue_refs(client, "/queue?tag=chargeback-risk") == [tagged]
    assert queue_refs(client, "/queue?tag=nothing") == []


def test_queue_search_by_reference_email_words_and_order(client, auth, make_ticket):
    bob = make_ticket(requester_email="bob.smith@example.com", subject="Where is it", order="778899")
    carol = make_ticket(requester_email="carol@example.org", subject="Refill request", order="112233")
    auth.login("agent")
    assert queue_refs(client, f"/queue?q={carol}") == [carol]
    assert queue_refs(client, f"/queue?q={carol.lower()}") == [carol]
    assert queue_refs(client, "/queue?q=bob.smith@example.com") == [bob]
    assert queue_refs(client, "/queue?q=BOB") == [bob]  # a word of the address
    assert queue_refs(client, "/queue?q=112233") == [carol]
    assert queue_refs(client, "/queue?q=77889") == []  # order ids match exactly, not by prefix
    # Full-text search (tests/test_search.py) replaced the prefix match: words count whole.
    assert queue_refs(client, "/queue?q=bob.sm") == []
    # Typed LIKE wildcards are no words to search for: a message says so.
    assert client.get("/queue?q=%25").status_code == 400 and client.get("/queue?q=_").status_code == 400


def test_queue_sidebar_counts_open_tickets_per_visible_queue(client, auth, make_ticket):
    make_ticket(kind="general")
    make_ticket(kind="claim")
    make_ticket(kind="refund")
    done = make_ticket(kind="general")
    make_ticket(kind="abuse")
    auth.login("agent")
    assert update(client, done, status="closed").status_code == 302
    counts = sidebar_counts(get_ok(client, "/queue"))
    assert counts == {"All my queues": 3, "Support": 1, "Claims": 1, "Billing": 1}


def test_queue_keyset_pagination(make_app):
    app = make_app(QUEUE_PAGE_SIZE=2)
    from desk.audit.services import SYSTEM
    from desk.tickets.services import NewTicket, create_ticket

    made = []
    for i in range(5):
        with app.app_context():
            made.append(create_ticket(NewTicket(subject=f"Ticket {i}", body="b", requester_email="a@example.com"),
                                      SYSTEM)[0].reference)
    browser = signed_in(app, "agent")
    seen = []
    url = "/queue"
    for expected in (2, 2, 1):
        html = get_ok(browser, url)
        refs = REF_RE.findall(html)
        assert len(refs) == expected
        seen += refs
        link = re.search(r'href="([^"]+)">Next page', html)
        if expected == 2:
            assert link and "after=" in link.group(1)
            url = link.group(1).replace("&amp;", "&")
        else:
            assert link is None
    assert sorted(seen) == sorted(made) and len(set(seen)) == 5


def test_queue_next_page_keeps_the_filters(make_app):
    app = make_app(QUEUE_PAGE_SIZE=2)
    from desk.audit.services import SYSTEM
    from desk.tickets.services import NewTicket, create_ticket

    with app.app_context():
        for kind in ("refund", "refund", "refund", "general", "general"):
            create_ticket(NewTicket(subject="s", body="b", requester_email="a@example.com", kind=kind), SYSTEM)
    browser = signed_in(app, "agent")
    html = get_ok(browser, "/queue?queue=billing")
    next_url = re.search(r'href="([^"]+)">Next page', html).group(1).replace("&amp;", "&")
    assert parse_qs(urlparse(next_url).query)["queue"] == ["billing"]
    second = get_ok(browser, next_url)
    assert len(REF_RE.findall(second)) == 1 and "First page" in second


def _cursor(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("after", [
    "garbage", "!!!", "%00", "e30", _cursor([1, 2, 3]), _cursor(["x", "y", "z"]), _cursor({"a": 1}),
    _cursor(["2026-01-01T00:00:00", "2026-01-01T00:00:00", 1]),  # naive times
    _cursor(["2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00", 10 ** 30]),  # id beyond any integer column
    _cursor(["2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00", -10 ** 30]),
    base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00", Infinity]').decode(),
])
def test_queue_garbage_cursor_does_not_fail(client, auth, make_ticket, after):
    ref = make_ticket()
    auth.login("agent")
    response = client.get(f"/queue?after={after}")
    assert response.status_code == 200
    assert ref in text_of(response)  # a bad cursor starts from the top


@pytest.mark.parametrize("query,listed", [
    ("assignee=" + "9" * 30, False),  # no staff id is that large: nobody's tickets
    ("status=bogus", False), ("kind=bogus", False), ("queue=abuse", False),
    ("assignee=%C2%B2", True), ("assignee=abc", True),  # not an id at all: the filter is ignored
])
def test_queue_odd_filters_do_not_fail(client, auth, make_ticket, query, listed):
    ref = make_ticket()
    auth.login("agent")
    response = client.get(f"/queue?{query}")
    assert response.status_code == 200
    assert REF_RE.findall(text_of(response)) == ([ref] if listed else [])


# --- 6. the ticket page -------------------------------------------------------

def test_ticket_page_shows_the_conversation(client, auth, make_ticket):
    ref = make_ticket(subject="Order 4242 is stuck", body="It has been pending since Monday.",
                      requester_email="dora@example.com", order="4242")
    auth.login("agent")
    assert reply(client, ref, "We are looking into it.").status_code == 302
    html = get_ok(client, f"/tickets/{ref}")
    assert "Order 4242 is stuck" in html and "dora@example.com" in html
    first, second = html.index("It has been pending since Monday."), html.index("We are looking into it.")
    assert first < second


def test_staff_reply_markdown_is_rendered(client, auth, make_ticket):
    ref = make_ticket()
    auth.login("agent")
    response = reply(client, ref, "This is **bold** and _quiet_.\n\n- one\n- two")
    assert redirects_to(response, f"/tickets/{ref}")
    html = get_ok(client, f"/tickets/{ref}")
    assert "<strong>bold</strong>" in html and "<em>quiet</em>" in html and "<li>one</li>" in html
    assert "Reply sent." in html


def test_xss_in_a_staff_reply_is_neutralised(client, auth, make_ticket):
    ref = make_ticket()
    auth.login("agent")
    payload = ('Hi <script>alert("s1")</script> there <img src=x onerror=alert(2)> '
               '[x](javascript:alert(1)) <a href="javascript:alert(4)">y</a> <svg onload=alert(5)>')
    assert reply(client, ref, payload).status_code == 302
    html = get_ok(client, f"/tickets/{ref}")
    # No script but the page's own file (who else is viewing), from the desk's origin.
    assert re.findall(r"<script[^>]*>", html, re.I) == [OWN_SCRIPT]
    assert "<img" not in html.lower() and "<svg" not in html.lower()
    assert not re.search(r"""href\s*=\s*["']?\s*javascript:""", html, re.I)
    assert not re.search(r"<[^>]+\son\w+\s*=", html, re.I)  # no event handler inside any tag
    assert "Hi" in html and "there" in html


def test_xss_in_the_requester_message_is_neutralised(client, auth, make_ticket):
    ref = make_ticket(subject="<script>alert(9)</script>", body='<img src=x onerror=alert(2)><b>hello</b>')
    auth.login("agent")
    html = get_ok(client, f"/tickets/{ref}")
    assert re.findall(r"<script[^>]*>", html, re.I) == [OWN_SCRIPT] and "<img" not in html.lower()
    assert ref in html and "hello" in html


def test_card_number_in_a_staff_reply_is_redacted(app, client, auth, make_ticket):
    ref = make_ticket()
    auth.login("agent")
    assert reply(client, ref, "Your card 4111 1111 1111 1111 was charged for order 1001.").status_code == 302
    html = get_ok(client, f"/tickets/{ref}")
    assert "4111 1111 1111 1111" not in html and "4111111111111111" not in html
    assert "[card number removed]" in html and "order 1001" in html
    with app.app_context():
        stored = db.session.execute(select(Message).order_by(Message.id.desc())).scalars().first()
        assert "4111" not in stored.body_html and "4111" not in stored.body_text


def test_internal_note_is_badged_for_staff(app, client, auth, make_ticket):
    ref = make_ticket()
    auth.login("agent")
    response = reply(client, ref, "Reseller, be careful.", internal=True)
    assert redirects_to(response, f"/tickets/{ref}")
    html = get_ok(client, f"/tickets/{ref}")
    assert "Internal note added." in html
    note = re.search(r'<li class="msg staff internal"[^>]*>(.*?)</li>', html, re.S)
    assert note and "internal note" in note.group(1) and "Reseller, be careful." in note.group(1)
    # Only the note is badged, not the requester's message.
    assert html.count('<span class="badge warn">internal note</span>') == 1
    stored = ticket_row(app, ref)
    assert [m.internal for m in stored.messages] == [False, True]
    assert stored.first_response_at is None  # a note is not a response to the requester


def test_empty_reply_is_a_400_with_the_form(app, client, auth, make_ticket):
    ref = make_ticket()
    auth.login("agent")
    response = reply(client, ref, "   ")
    assert response.status_code == 400
    assert "This field is required." in text_of(response)
    assert count(app, Message) == 1


def test_status_priority_and_tags_update_and_show_in_history(app, client, auth, make_ticket):
    ref = make_ticket()
    auth.login("agent")
    response = update(client, ref, status="on_hold", priority="high", tags="VIP, refund risk")
    assert redirects_to(response, f"/tickets/{ref}")
    stored = ticket_row(app, ref)
    assert (stored.status, stored.priority, stored.tags) == ("on_hold", "high", ["refund-risk", "vip"])
    html = get_ok(client, f"/tickets/{ref}")
    assert "Ticket updated." in html
    rows = {action: (who, details) for who, action, details in history_rows(html)}
    assert rows["ticket.status"][0] == "agent@desk.test"
    assert "before: new" in rows["ticket.status"][1] and "after: on_hold" in rows["ticket.status"][1]
    assert rows["ticket.priority"][0] == "agent@desk.test"
    assert "before: normal" in rows["ticket.priority"][1] and "after: high" in rows["ticket.priority"][1]
    assert rows["ticket.tags"][0] == "agent@desk.test"
    assert "after: refund-risk → vip" in rows["ticket.tags"][1]
    assert "ticket.created" in rows


def test_a_tag_longer_than_a_tag_may_be_is_refused_not_cut(app, client, auth, make_ticket):
    ref = make_ticket()
    auth.login("agent")
    update(client, ref, tags="vip")
    long_tag = "refund-" + "x" * 40
    response = update(client, ref, status="on_hold", tags=f"vip, {long_tag}")
    assert response.status_code == 422
    assert "A tag is at most 40 characters" in text_of(response)
    stored = ticket_row(app, ref)
    assert (stored.status, stored.tags) == ("open", ["vip"])  # nothing of the refused change stayed
    response = update(client, ref, tags="vip, " + "y" * 40)  # exactly 40 is a tag
    assert redirects_to(response, f"/tickets/{ref}")
    assert ticket_row(app, ref).tags == ["vip", "y" * 40]


def test_update_with_an_unknown_status_is_a_400(app, client, auth, make_ticket):
    ref = make_ticket()
    auth.login("agent")
    response = update(client, ref, status="deleted")
    assert response.status_code == 400 and "Could not update the ticket" in text_of(response)
    assert ticket_row(app, ref).status == "new"


def test_agent_can_self_assign(app, client, auth, make_ticket):
    ref = make_ticket()
    agent_id = auth.staff("agent")
    auth.login("agent")
    response = assign(client, ref, agent_id)
    assert redirects_to(response, f"/tickets/{ref}")
    assert ticket_row(app, ref).assignee_id == agent_id
    html = get_ok(client, f"/tickets/{ref}")
    assert ("agent@desk.test", "ticket.assignee") in [(who, action) for who, action, _ in history_rows(html)]


def test_agent_cannot_assign_to_someone_else(app, client, auth, make_ticket):
    ref = make_ticket()
    other_id = auth.staff("agent", "other@desk.test")
    auth.login("agent")
    response = assign(client, ref, other_id)
    assert response.status_code == 403
    assert ticket_row(app, ref).assignee_id is None


def test_agent_cannot_take_a_ticket_from_someone_else(app, client, auth, make_ticket):
    ref = make_ticket()
    other_id = auth.staff("agent", "other@desk.test")
    assert assign(signed_in(app, "supervisor"), ref, other_id).status_code == 302
    auth.login("agent")
    assert assign(client, ref, auth.staff("agent")).status_code == 403
    assert assign(client, ref, "").status_code == 403  # nor unassign it
    assert ticket_row(app, ref).assignee_id == other_id


def test_supervisor_can_assign_to_someone_else(app, client, auth, make_ticket):
    ref = make_ticket()
    agent_id = auth.staff("agent")
    auth.login("supervisor")
    assert redirects_to(assign(client, ref, agent_id), f"/tickets/{ref}")
    assert ticket_row(app, ref).assignee_id == agent_id
    assert "Assigned to agent@desk.test." in get_ok(client, f"/tickets/{ref}")
    assert redirects_to(assign(client, ref, ""), f"/tickets/{ref}")
    assert ticket_row(app, ref).assignee_id is None


@pytest.mark.parametrize("assignee", ["987654", "abc", "-1", "0", "9" * 30, "\u00b2"])
def test_unknown_assignee_is_a_400(app, client, auth, make_ticket, assignee):
    ref = make_ticket()
    auth.login("supervisor")
    response = assign(client, ref, assignee)
    assert response.status_code == 400
    assert "No such active staff member." in text_of(response)
    assert ticket_row(app, ref).assignee_id is None


def test_unknown_ticket_is_a_404(client, auth):
    auth.login("agent")
    response = client.get("/tickets/T-26-999999")
    assert response.status_code == 404 and "There is nothing here." in text_of(response)
    assert post_form(client, "/queue", {"body": "x"}, post_url="/tickets/T-26-999999/reply").status_code == 404


@pytest.mark.parametrize("attachment_id", ["987654", "9" * 30])
def test_unknown_attachment_is_a_404(client, auth, make_ticket, attachment_id):
    ref = make_ticket()
    auth.login("agent")
    response = client.get(f"/tickets/{ref}/attachments/{attachment_id}")
    assert response.status_code == 404 and "There is nothing here." in text_of(response)


# --- 7. admin -----------------------------------------------------------------

def test_admin_creates_a_staff_member_who_can_sign_in(app, client, auth):
    auth.login("admin")
    response = post_form(client, "/admin/staff", {"email": "New.Agent@example.com", "name": "New Agent",
                                                   "role": "agent", "password": "a long enough password"})
    assert redirects_to(response, "/admin/staff")
    html = get_ok(client, "/admin/staff")
    assert "Staff account new.agent@example.com created." in html
    with app.app_context():
        created = db.session.execute(select(Staff).where(Staff.email == "new.agent@example.com")).scalar_one()
        assert created.role == "agent" and created.password_hash != "a long enough password"
    newcomer = app.test_client()
    signed = post_form(newcomer, "/login", {"email": "new.agent@example.com", "password": "a long enough password"})
    assert redirects_to(signed, "/queue")
    assert "New Agent" in get_ok(newcomer, "/queue")
    assert newcomer.get("/admin/staff").status_code == 403


def test_duplicate_staff_email_is_an_error_not_a_500(app, client, auth):
    auth.staff("agent", "taken@example.com")
    auth.login("admin")
    before = count(app, Staff)
    response = post_form(client, "/admin/staff", {"email": "TAKEN@example.com", "role": "admin",
                                                   "password": "a long enough password"})
    assert response.status_code == 422
    assert "already has a staff account" in text_of(response)
    assert count(app, Staff) == before


def test_short_staff_password_is_refused(app, client, auth):
    auth.login("admin")
    before = count(app, Staff)
    response = post_form(client, "/admin/staff", {"email": "short@example.com", "role": "agent", "password": "short"})
    assert response.status_code == 400
    assert "between 12 and 200 characters" in text_of(response)
    assert count(app, Staff) == before


def test_api_key_is_shown_once_and_works_until_revoked(app, client, auth, make_ticket):
    ref = make_ticket()
    auth.login("admin")
    response = post_form(client, "/admin/api-keys", {"name": "Panel sync", "role": "panel"})
    assert response.status_code == 200
    match = API_KEY_RE.search(text_of(response))
    assert match, "the new key is not on the page"
    key = match.group(1)
    with app.app_context():
        stored = db.session.execute(select(ApiKey)).scalar_one()
        assert stored.name == "Panel sync" and key not in (stored.key_hash, stored.prefix)
    again = get_ok(client, "/admin/api-keys")
    assert key not in again and "Panel sync" in again and key[:10] in again  # only the prefix

    bearer = {"Authorization": f"Bearer {key}"}
    api = app.test_client()  # no session cookie: the key alone
    ok = api.get(f"/api/v1/tickets/{ref}", headers=bearer)
    assert ok.status_code == 200 and ok.get_json()["reference"] == ref

    key_id = re.search(r'action="/admin/api-keys/(\d+)/revoke"', again).group(1)
    revoked = post_form(client, "/admin/api-keys", {}, post_url=f"/admin/api-keys/{key_id}/revoke")
    assert redirects_to(revoked, "/admin/api-keys")
    assert "Key Panel sync revoked." in get_ok(client, "/admin/api-keys")
    refused = api.get(f"/api/v1/tickets/{ref}", headers=bearer)
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthorized"


def test_api_key_revoke_without_csrf_is_refused(app, client, auth, api_key, make_ticket):
    ref = make_ticket()
    key = api_key("panel")
    auth.login("admin")
    with app.app_context():
        key_id = db.session.execute(select(ApiKey.id)).scalar_one()
    response = client.post(f"/admin/api-keys/{key_id}/revoke")
    assert response.status_code == 400 and CSRF_MESSAGE in text_of(response)
    assert app.test_client().get(f"/api/v1/tickets/{ref}", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_revoking_an_unknown_api_key_is_a_404(client, auth):
    auth.login("admin")
    for key_id in ("987654", "9" * 30):
        response = post_form(client, "/admin/api-keys", {}, post_url=f"/admin/api-keys/{key_id}/revoke")
        assert response.status_code == 404


@pytest.mark.parametrize("before,newest_shown", [("9" * 30, True), ("-5", True), ("abc", True), ("2", False)])
def test_audit_log_paging_parameter_never_fails(client, auth, make_ticket, before, newest_shown):
    auth.login("supervisor")  # audit event 1: staff.created
    make_ticket()  # audit event 2: ticket.created
    response = client.get(f"/admin/audit?before={before}")
    assert response.status_code == 200
    html = text_of(response)
    assert "staff.created" in html
    assert ("ticket.created" in html) is newest_shown


def test_agent_cannot_create_or_revoke_api_keys(app, client, auth, api_key):
    api_key("panel")
    auth.login("agent")
    token = csrf_from(get_ok(client, "/queue"))
    created = client.post("/admin/api-keys", data={"csrf_token": token, "name": "sneaky", "role": "staff"})
    assert created.status_code == 403
    with app.app_context():
        key_id = db.session.execute(select(ApiKey.id)).scalar_one()
    assert client.post(f"/admin/api-keys/{key_id}/revoke", data={"csrf_token": token}).status_code == 403
    with app.app_context():
        assert db.session.execute(select(ApiKey.revoked_at)).scalar_one() is None
        assert count(app, ApiKey) == 1


# --- 8. security headers --------------------------------------------------------

def _csp(response) -> dict[str, list[str]]:
    directives = {}
    for part in response.headers["Content-Security-Policy"].split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


@pytest.mark.parametrize("path,signed", [("/login", False), ("/queue", True), ("/admin/audit", True),
                                         ("/tickets/T-26-999999", True), ("/queue", False)])
def test_security_headers_on_pages(client, auth, path, signed):
    if signed:
        auth.login("admin")
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    csp = _csp(response)
    script_src = csp.get("script-src", csp.get("default-src"))
    assert script_src and "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "'unsafe-inline'" not in csp.get("default-src", [])
    assert csp.get("frame-ancestors") == ["'none'"] and csp.get("object-src") == ["'none'"]


def test_pages_need_no_inline_script(app, client, auth, make_ticket):
    """The CSP forbids inline script, so no page may rely on it."""
    ref = make_ticket()
    auth.login("admin")
    pages = [get_ok(app.test_client(), "/login")]
    pages += [get_ok(client, path) for path in ("/queue", f"/tickets/{ref}", "/admin/staff", "/admin/api-keys",
                                                 "/admin/audit")]
    for html in pages:
        # A script is a file of the desk's own (the ticket page's presence.js), never inline.
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.I | re.S)
        assert all(re.fullmatch(r' src="/static/[\w.-]+\.js" defer', attrs) and not body for attrs, body in scripts)
        assert html.lower().count("<script") == len(scripts) and not re.search(r"\son\w+=", html)


def test_login_with_missing_fields_is_a_400_with_messages(client):
    response = post_form(client, "/login", {"email": "", "password": ""})
    assert response.status_code == 400
    assert "This field is required." in response.get_data(as_text=True)
