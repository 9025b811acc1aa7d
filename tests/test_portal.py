"""The customer portal through HTTP: sign-in by mailed link and by the panel's single
sign-on token (built exactly as the README documents it), sessions and signing out, and
what a customer sees — their own tickets only, never another's, never trust & safety's."""
import base64
import hashlib
import hmac
import io
import json
import re
import secrets
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from conftest import csrf_from, field_error, post_form, redirects_to, text_of
from desk import jobs
from desk.audit.services import Actor
from desk.claims.models import Customer
from desk.extensions import db
from desk.jobs import OutboxEntry
from desk.mail.models import OutboundMail
from desk.portal.models import SpentToken
from desk.tickets.models import Message, Ticket
from desk.types import utcnow

SECRET = "panel-and-desk-share-this-secret-0123456789"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
LINK_RE = re.compile(r"http://desk\.test(/portal/link/\S+)")
README = Path(__file__).resolve().parents[1] / "README.md"


def documented_recipe() -> dict:
    """The README's own Python for building a single sign-on token, run as written."""
    section = README.read_text().split("### Customer portal", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    code = "\n".join(line[2:] if line.startswith("  ") else line for line in code.splitlines())
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


sso_token = documented_recipe()["sso_token"]


def signed(claims, secret=SECRET) -> str:
    """Any claims, signed as the recipe signs them (for the malformed and edge cases)."""
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{payload}.{hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()}"


def claims(customer="alice", seconds=120, **fields):
    return {"customer": customer, "exp": int(time.time()) + seconds, "nonce": secrets.token_urlsafe(16), **fields}


@pytest.fixture
def app(make_app):
    # Every test here runs with single sign-on configured; `sso_off` builds one without.
    return make_app(PANEL_SSO_SECRET=SECRET)


# --- helpers -------------------------------------------------------------------------

def email_of(panel_id):
    return f"{panel_id}@{panel_id}-shop.example"


def sso(client, panel_id="alice", token=None):
    return client.get("/portal/sso", query_string={"token": token or sso_token(SECRET, panel_id)})


def signed_in(client, panel_id="alice"):
    response = sso(client, panel_id)
    assert redirects_to(response, "/portal"), text_of(response)[:400]
    return client


def mails_to(app, address) -> list[OutboundMail]:
    with app.app_context():
        rows = db.session.execute(select(OutboundMail).where(OutboundMail.to_addr == address)
                                  .order_by(OutboundMail.id)).scalars().all()
        for row in rows:
            db.session.expunge(row)
        return rows


def link_in(mail: OutboundMail) -> str:
    return LINK_RE.search(mail.body_text).group(1)


def ask_for_link(client, email):
    """Ask for a link, then let a worker run the job that looks the address up and mails."""
    from desk.jobs import make_worker

    response = post_form(client, "/portal/sign-in", {"email": email})
    make_worker(client.application, simple=True).work(burst=True, with_scheduler=False)
    return response


def follow_link(client, path):
    """Open the mailed link and press its button, as a person does."""
    page = client.get(path)
    if page.status_code != 200:
        return page
    return client.post(path, data={"csrf_token": csrf_from(text_of(page))})


def listed(page: str) -> list[str]:
    """The references "My tickets" shows, in order."""
    return re.findall(r'class="ref" href="/portal/tickets/(T-\d{2}-\d{6})"', page)


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar()


def set_customer(app, panel_id, **values):
    with app.app_context():
        customer = db.session.execute(select(Customer).where(Customer.panel_id == panel_id)).scalar_one()
        for key, value in values.items():
            setattr(customer, key, value)
        db.session.commit()


def ticket_of(app, reference) -> Ticket:
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        db.session.expunge(ticket)
        return ticket


def add_staff_message(app, auth, reference, body, internal, files=()):
    from desk.auth.models import Staff
    from desk.tickets.attachments import Upload
    from desk.tickets.services import find_ticket, staff_reply

    staff_id = auth.staff("agent")
    with app.app_context():
        staff = db.session.get(Staff, staff_id)
        message = staff_reply(find_ticket(reference), Actor.staff(staff), body, internal=internal, staff=staff,
                              uploads=[Upload(name, data) for name, data in files])
        return [a.id for a in message.attachments]


def attachment_ids(app, reference) -> list[int]:
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        return [a.id for m in ticket.messages for a in m.attachments]


# --- sign-in by mailed link ------------------------------------------------------------

def test_a_mailed_link_signs_in_once_and_lands_on_my_tickets(app, client, panel, run_worker):
    panel.customer("alice")
    response = ask_for_link(client, "ALICE@alice-shop.example")  # any case
    assert response.status_code == 200
    assert "Check your e-mail" in text_of(response)
    [mail] = mails_to(app, email_of("alice"))
    assert "alice" in mail.subject
    assert "as alice" in mail.body_text and "works once, for 15 minutes" in mail.body_text
    run_worker()
    assert mails_to(app, email_of("alice"))[0].status == "logged"  # delivered (MAIL_SERVER unset: to the log)

    path = link_in(mail)
    page = client.get(path)
    assert page.status_code == 200 and "Sign in as alice" in text_of(page)
    assert client.get("/portal").status_code == 302  # opening the link alone signs nobody in
    response = client.post(path, data={"csrf_token": csrf_from(text_of(page))})
    assert redirects_to(response, "/portal")
    home = client.get("/portal")
    assert home.status_code == 200
    assert "My tickets" in text_of(home) and "Signed in as alice" in text_of(home)


def test_a_link_works_once(app, client, panel):
    panel.customer("alice")
    ask_for_link(client, email_of("alice"))
    path = link_in(mails_to(app, email_of("alice"))[0])
    page = client.get(path)
    assert redirects_to(client.post(path, data={"csrf_token": csrf_from(text_of(page))}), "/portal")

    other = client.application.test_client()
    again = other.get(path)
    assert again.status_code == 403 and "already used" in text_of(again)
    # Nor by pressing a button kept from before it was used.
    replay = other.post(path, data={"csrf_token": csrf_from(text_of(other.get("/portal/sign-in")))})
    assert replay.status_code == 403 and "already used" in text_of(replay)
    assert other.get("/portal").status_code == 302


def test_an_expired_link_is_refused(app, client, panel, make_app):
    panel.customer("alice")
    with app.app_context():
        alice = db.session.execute(select(Customer).where(Customer.panel_id == "alice")).scalar_one()
        ids = (alice.id, alice.email)

    class SixteenMinutesAgo(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - 16 * 60

    from desk.portal.tokens import LINK_SALT

    old = URLSafeTimedSerializer("test-secret", salt=LINK_SALT, signer=SixteenMinutesAgo).dumps(
        {"i": ids[0], "e": f"{ids[1]}#0"})
    response = follow_link(client, f"/portal/link/{old}")
    assert response.status_code == 403 and "expired" in text_of(response)
    assert client.get("/portal").status_code == 302

    # The setting decides: where links work for 20 minutes, the same link still does.
    longer = make_app(PANEL_SSO_SECRET=SECRET, PORTAL_LINK_MINUTES=20)
    assert redirects_to(follow_link(longer.test_client(), f"/portal/link/{old}"), "/portal")


def test_a_changed_or_damaged_link_is_refused_with_a_page_not_a_500(app, client, panel):
    panel.customer("alice")
    ask_for_link(client, email_of("alice"))
    path = link_in(mails_to(app, email_of("alice"))[0])
    for broken in (path[:-3], path + "x", "/portal/link/" + "A" * 5000, "/portal/link/%00"):
        response = client.get(broken)
        assert response.status_code in (403, 404), broken
        assert "Traceback" not in text_of(response)
    # The account's address changed in the panel after the link was sent.
    panel.customer("alice", email="new-alice@alice-shop.example")
    response = follow_link(client, path)
    assert response.status_code == 403 and "no longer has" in text_of(response)


def test_the_answer_is_the_same_for_an_unknown_address_and_no_mail_goes(app, client, panel, run_worker):
    panel.customer("alice")
    # The request itself looks nobody up: a job does, so both answers take the same work.
    post_form(client, "/portal/sign-in", {"email": email_of("alice")})
    assert count(app, OutboundMail) == 0
    with app.app_context():
        [job] = db.session.execute(select(OutboxEntry)).scalars().all()
        assert job.func == "workers.portal.send_sign_in_links" and job.args[0] == email_of("alice")
    run_worker()
    assert len(mails_to(app, email_of("alice"))) == 1

    known = ask_for_link(client, email_of("alice"))
    unknown = ask_for_link(client, "nobody@nowhere.example")
    assert known.status_code == unknown.status_code == 200
    # The language switcher's CSRF token carries a timestamp: the pages differ by nothing else.
    def page(response, address):
        return re.sub(r'name="csrf_token" value="[^"]+"', "", text_of(response).replace(address, "ADDRESS"))
    assert page(known, email_of("alice")) == page(unknown, "nobody@nowhere.example")
    assert count(app, OutboundMail) == 2  # Alice's two requests; nothing to the unknown address
    assert mails_to(app, "nobody@nowhere.example") == []


def test_the_link_job_run_twice_mails_once(app, panel):
    from workers.portal import send_sign_in_links

    panel.customer("alice")
    with app.app_context():
        send_sign_in_links(email_of("alice"), "request-1")
        send_sign_in_links(email_of("alice"), "request-1")  # RQ ran it again (a retry, a relay twice)
    assert len(mails_to(app, email_of("alice"))) == 1


def test_a_bad_address_is_a_400_with_the_field_marked(client):
    response = ask_for_link(client, "not an address")
    assert response.status_code == 400
    assert field_error(text_of(response), "email")


def test_accounts_sharing_an_address_get_one_link_each_naming_its_login(app, client, panel):
    panel.customer("alice")
    panel.customer("alice-agency", email=email_of("alice"), login="alice-agency")
    ask_for_link(client, email_of("alice"))
    mails = mails_to(app, email_of("alice"))
    assert len(mails) == 2
    assert {m.subject.rsplit(" as ", 1)[1] for m in mails} == {"alice", "alice-agency"}
    for mail in mails:
        login = mail.subject.rsplit(" as ", 1)[1]
        assert "Several accounts use this address" in mail.body_text
        browser = app.test_client()
        assert redirects_to(follow_link(browser, link_in(mail)), "/portal")
        assert f"Signed in as {login}." in text_of(browser.get("/portal"))


def test_sign_in_links_are_rate_limited_per_client_and_per_address(make_app, panel):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PUBLIC_FORMS="2 per minute")
    client = app.test_client()
    assert ask_for_link(client, "a@example.com").status_code == 200
    assert ask_for_link(client, "b@example.com").status_code == 200
    response = ask_for_link(client, "c@example.com")
    assert response.status_code == 429 and "Too many requests" in text_of(response)
    assert response.headers.get("Retry-After")

    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SIGN_IN_LINKS="2 per hour")
    panel.customer("alice")
    for _ in range(2):
        assert ask_for_link(app.test_client(), email_of("alice")).status_code == 200
    # A third for the same address from anywhere, with or without an account, waits.
    assert ask_for_link(app.test_client(), email_of("alice")).status_code == 429
    for _ in range(2):
        assert ask_for_link(app.test_client(), "nobody@nowhere.example").status_code == 200
    assert ask_for_link(app.test_client(), "nobody@nowhere.example").status_code == 429
    assert ask_for_link(app.test_client(), "someone-else@example.com").status_code == 200
    assert len(mails_to(app, email_of("alice"))) <= 2


def test_an_erased_account_gets_no_link_and_cannot_sign_in(app, client, panel):
    panel.customer("alice")
    ask_for_link(client, email_of("alice"))
    path = link_in(mails_to(app, email_of("alice"))[0])
    browser = signed_in(app.test_client())
    set_customer(app, "alice", erased_at=utcnow())

    assert redirects_to(browser.get("/portal"), "/portal/sign-in")  # the session it had is refused
    response = follow_link(client, path)
    assert response.status_code == 403 and "erased" in text_of(response)
    response = sso(client)
    assert response.status_code == 403 and "erased" in text_of(response)
    ask_for_link(client, email_of("alice"))
    assert len(mails_to(app, email_of("alice"))) == 1  # no new link


# --- single sign-on --------------------------------------------------------------------

def test_a_panel_token_built_as_documented_signs_in(app, client, panel):
    panel.customer("alice")
    response = sso(client)
    assert redirects_to(response, "/portal")
    assert "Signed in as alice" in text_of(client.get("/portal"))
    # A panel that numbers its customers may send the id as a JSON number.
    panel.customer("1001", login="bob")
    browser = app.test_client()
    assert redirects_to(sso(browser, token=signed(claims(customer=1001))), "/portal")
    assert "Signed in as bob" in text_of(browser.get("/portal"))


@pytest.mark.parametrize("case, make, words", [
    ("bad signature", lambda: sso_token("another-secret-of-the-same-length-0123456", "alice"),
     "not signed by the panel"),
    ("tampered payload", lambda: _swap_customer(sso_token(SECRET, "alice"), "bob"), "not signed by the panel"),
    ("expired", lambda: sso_token(SECRET, "alice", seconds=-1), "expired"),
    ("valid too long", lambda: sso_token(SECRET, "alice", seconds=11 * 60), "more than 10 minutes"),
    ("unknown customer", lambda: sso_token(SECRET, "nobody"), "no account"),
])
def test_a_panel_token_is_refused_with_a_clear_403(client, panel, case, make, words):
    panel.customer("alice")
    panel.customer("bob")
    response = sso(client, token=make())
    assert response.status_code == 403, case
    assert words in text_of(response), (case, text_of(response))
    assert client.get("/portal").status_code == 302


def _swap_customer(token, customer):
    payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["customer"] = customer
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode() + "." + signature


MALFORMED = {
    "empty": "",
    "no signature": base64.urlsafe_b64encode(b'{"customer": "alice"}').decode(),
    "short signature": signed(claims())[:-2],
    "signature not hex": signed(claims())[:-1] + "z",
    "two dots": "a.b." + "0" * 64,
    "not base64": "***." + "0" * 64,
    "unicode": "é." + "0" * 64,
    "nul": "\x00." + "0" * 64,
    "huge": "A" * 10_000 + "." + "0" * 64,
    "not JSON": (lambda p: p + "." + hmac.new(SECRET.encode(), p.encode(), hashlib.sha256).hexdigest())(
        base64.urlsafe_b64encode(b"\xff\xfe not json").decode().rstrip("=")),
    "a list": signed(["alice"]),
    "no nonce": signed({"customer": "alice", "exp": int(time.time()) + 60}),
    "short nonce": signed(claims(nonce="abc")),
    "exp a string": signed(claims(exp=str(int(time.time()) + 60))),
    "exp true": signed(claims(exp=True)),
    "exp a float": signed(claims(exp=time.time() + 60)),
    "customer empty": signed(claims(customer="")),
    "customer a list": signed(claims(customer=["alice"])),
    "customer NUL": signed(claims(customer="ali\x00ce")),
    "customer too long": signed(claims(customer="a" * 65)),
    "exp beyond any date": signed(claims(exp=10**30)),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_token_is_a_403_page_never_a_500(client, panel, case):
    panel.customer("alice")
    response = sso(client, token=MALFORMED[case] or None) if MALFORMED[case] else client.get("/portal/sso")
    assert response.status_code == 403, (case, response.status_code)
    page = text_of(response)
    assert "Traceback" not in page and ("damaged" in page or "not signed" in page or "more than" in page), page


def test_a_used_token_is_refused(app, client, panel):
    panel.customer("alice")
    token = sso_token(SECRET, "alice")
    assert redirects_to(sso(client, token=token), "/portal")
    other = app.test_client()
    response = sso(other, token=token)
    assert response.status_code == 403 and "already used" in text_of(response)
    assert other.get("/portal").status_code == 302
    assert count(app, SpentToken, SpentToken.kind == "sso") == 1


def test_one_token_sent_twice_at_once_signs_in_once(app, panel):
    panel.customer("alice")
    token = sso_token(SECRET, "alice")
    barrier, statuses = threading.Barrier(4), []

    def attempt():
        browser = app.test_client()
        barrier.wait()
        statuses.append(sso(browser, token=token).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [302, 403, 403, 403]


def test_single_sign_on_is_off_without_a_secret(make_app, panel):
    off = make_app()
    panel.customer("alice")
    response = off.test_client().get("/portal/sso", query_string={"token": sso_token(SECRET, "alice")})
    assert response.status_code == 404
    assert "Single sign-on is off" in text_of(response)


def test_a_short_secret_stops_the_desk_from_starting(make_app):
    with pytest.raises(ValueError, match="PANEL_SSO_SECRET must be at least 32"):
        make_app(PANEL_SSO_SECRET="short")


# --- sessions --------------------------------------------------------------------------

def test_sign_out_ends_this_browser_and_sign_out_everywhere_ends_them_all(app, panel):
    panel.customer("alice")
    phone, laptop, tablet = (signed_in(app.test_client()) for _ in range(3))

    page = text_of(phone.get("/portal"))
    response = phone.post("/portal/sign-out", data={"csrf_token": csrf_from(page)})
    assert redirects_to(response, "/portal/sign-in")
    assert redirects_to(phone.get("/portal"), "/portal/sign-in")
    assert laptop.get("/portal").status_code == 200  # the others stay signed in

    page = text_of(laptop.get("/portal"))
    response = laptop.post("/portal/sign-out-everywhere", data={"csrf_token": csrf_from(page)})
    assert redirects_to(response, "/portal/sign-in")
    assert redirects_to(laptop.get("/portal"), "/portal/sign-in")
    assert redirects_to(tablet.get("/portal"), "/portal/sign-in")
    # Signing in again works, on the new epoch.
    assert signed_in(tablet).get("/portal").status_code == 200
    with app.app_context():
        assert db.session.execute(select(Customer.portal_epoch).where(Customer.panel_id == "alice")).scalar() == 1


def test_sign_out_everywhere_also_ends_links_not_used_yet(app, client, panel):
    panel.customer("alice")
    ask_for_link(client, email_of("alice"))
    path = link_in(mails_to(app, email_of("alice"))[0])
    browser = signed_in(app.test_client())
    page = browser.get("/portal")
    browser.post("/portal/sign-out-everywhere", data={"csrf_token": csrf_from(text_of(page))})
    response = follow_link(client, path)
    assert response.status_code == 403 and "signed out everywhere" in text_of(response)
    assert client.get("/portal").status_code == 302
    # A link asked for afterwards works.
    ask_for_link(client, email_of("alice"))
    assert redirects_to(follow_link(client, link_in(mails_to(app, email_of("alice"))[-1])), "/portal")


def test_signing_in_starts_a_fresh_session(app, client, panel):
    panel.customer("alice")
    with client.session_transaction() as planted:
        planted["portal_planted"] = "chosen by someone else"
        planted["_user_id"] = "1:x"
    signed_in(client)
    with client.session_transaction() as current:
        assert "portal_planted" not in current and "_user_id" not in current
        assert set(current["portal"]) == {"customer", "epoch"}


def test_a_token_for_another_account_asks_before_switching(app, client, panel):
    panel.customer("alice")
    panel.customer("mallory")
    signed_in(client, "alice")
    # Mallory's own token, sent to Alice's browser from a page elsewhere.
    token = sso_token(SECRET, "mallory")
    page = client.get("/portal/sso", query_string={"token": token})
    assert page.status_code == 200
    assert "Switch to mallory?" in text_of(page) and "signed in to the help desk as <strong>alice</strong>" in \
        text_of(page)
    assert "Signed in as alice." in text_of(client.get("/portal"))  # nothing switched by following the link
    assert count(app, SpentToken) == 1  # Alice's own sign-in only: Mallory's token is not spent yet
    # Without the page's CSRF token the switch is refused; with it, it happens once.
    refused = client.post("/portal/sso", data={"token": token})
    assert refused.status_code == 400 and "Signed in as alice." in text_of(client.get("/portal"))
    switched = client.post("/portal/sso", data={"token": token, "csrf_token": csrf_from(text_of(page))})
    assert redirects_to(switched, "/portal")
    assert "Signed in as mallory." in text_of(client.get("/portal"))
    # The same customer's token again needs no question: it signs in (and is spent) at once.
    assert redirects_to(sso(client, "mallory"), "/portal")


def test_the_session_cookie_is_httponly_and_samesite_lax(make_app, panel):
    panel.customer("alice")
    for secure in (False, True):
        app = make_app(PANEL_SSO_SECRET=SECRET, SESSION_COOKIE_SECURE=secure)
        response = sso(app.test_client())
        cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
        flags = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
        assert "httponly" in flags and flags["samesite"] == "SameSite=Lax"
        assert ("secure" in flags) is secure


def test_a_staff_session_opens_no_portal_page_and_a_portal_session_no_staff_page(app, client, auth, panel,
                                                                                  make_ticket):
    panel.customer("alice")
    reference = make_ticket(customer="alice", requester_email=email_of("alice"))
    auth.login("admin")
    assert client.get("/queue").status_code == 200
    for path in ("/portal", f"/portal/tickets/{reference}", "/portal/tickets/new"):
        assert redirects_to(client.get(path), "/portal/sign-in"), path

    customer = signed_in(app.test_client())
    for path in ("/queue", f"/tickets/{reference}", "/admin/staff"):
        response = customer.get(path)
        assert urlparse(response.headers.get("Location", "")).path == "/login", (path, response.status_code)
    # The JSON API takes the portal session as that customer (issue 9), never as staff or a key.
    answer = customer.get(f"/api/v1/tickets/{reference}")
    assert answer.status_code == 200 and "tags" not in answer.get_json() and "assignee" not in answer.get_json()
    assert customer.put("/api/v1/customers/alice", json={"login": "x"}).status_code == 403


def test_after_sign_in_the_portal_never_follows_a_next_address(app, client, panel):
    panel.customer("alice")
    token = sso_token(SECRET, "alice")
    response = client.get("/portal/sso", query_string={"token": token, "next": "https://evil.example/"})
    assert redirects_to(response, "/portal")
    assert "evil" not in response.headers["Location"]


# --- my tickets ------------------------------------------------------------------------

def test_my_tickets_lists_mine_newest_activity_first_and_never_trust_and_safety_cases(app, panel, make_ticket):
    panel.customer("alice")
    panel.customer("bob")
    panel.customer("carol", email=email_of("alice"))  # shares alice's address
    mine = make_ticket(subject="Where is my order", customer="alice", requester_email=email_of("alice"))
    by_mail = make_ticket(subject="Sent from my address", requester_email=email_of("alice").upper())
    privacy = make_ticket(subject="Privacy request: access", kind="privacy", customer="alice",
                          requester_email=email_of("alice"))
    hidden = [make_ticket(subject=f"Hidden {kind} case", kind=kind, customer="alice",
                          requester_email=email_of("alice")) for kind in ("abuse", "rights", "chargeback")]
    reported = make_ticket(subject="Report about alice", kind="abuse", requester_email=email_of("alice"))
    bobs = make_ticket(subject="Bob's question", customer="bob", requester_email=email_of("bob"))
    carols = make_ticket(subject="Carol's question", customer="carol", requester_email=email_of("alice"))

    page = text_of(signed_in(panel.client).get("/portal"))
    shown = listed(page)
    assert set(shown) == {mine, by_mail, privacy}
    assert shown == [privacy, by_mail, mine]  # latest activity first
    for reference in hidden + [reported, bobs, carols]:
        assert reference not in page
    assert "We aim to answer by" in page and "Received" in page
    for internal in ("support hours", "breach", "terms-33", "First response"):
        assert internal not in page


def test_mail_from_the_address_shows_only_once_the_panel_verified_it(app, panel, make_ticket):
    # Anyone can open a panel account with someone else's address: until the panel has
    # verified it, what that person sent us from it is not the account's to read.
    victims = make_ticket(subject="My own question", requester_email="victim@example.com")
    panel.customer("mallory", email="victim@example.com", email_verified=False)
    browser = signed_in(panel.client, "mallory")
    assert victims not in text_of(browser.get("/portal"))
    assert browser.get(f"/portal/tickets/{victims}").status_code == 404
    panel.customer("mallory", email="victim@example.com", email_verified=True)
    assert listed(text_of(browser.get("/portal"))) == [victims]
    assert browser.get(f"/portal/tickets/{victims}").status_code == 200


def test_a_reply_brings_a_ticket_to_the_top(app, panel, make_ticket):
    panel.customer("alice")
    first = make_ticket(subject="First", customer="alice", requester_email=email_of("alice"))
    second = make_ticket(subject="Second", customer="alice", requester_email=email_of("alice"))
    browser = signed_in(panel.client)
    assert listed(text_of(browser.get("/portal"))) == [second, first]
    post_form(browser, f"/portal/tickets/{first}", {"body": "Any news?"})
    assert listed(text_of(browser.get("/portal"))) == [first, second]


def test_my_tickets_pages_by_cursor(make_app, panel, make_ticket):
    app = make_app(PANEL_SSO_SECRET=SECRET, PORTAL_PAGE_SIZE=2)
    panel.customer("alice")
    made = [make_ticket(subject=f"Question {n}", customer="alice", requester_email=email_of("alice"))
            for n in range(5)]
    browser = signed_in(app.test_client())
    seen, path = [], "/portal"
    while path:
        page = text_of(browser.get(path))
        rows = listed(page)
        assert len(rows) <= 2
        seen += rows
        older = re.search(r'href="(/portal\?after=[^"]+)">Older tickets', page)
        path = older.group(1).replace("&amp;", "&") if older else None
    assert seen == list(reversed(made))
    response = browser.get("/portal?after=not-a-cursor")
    assert response.status_code == 400 and "damaged" in text_of(response)


# --- a ticket's page -------------------------------------------------------------------

def test_the_conversation_without_internal_notes_a_reply_with_files_and_downloads(app, panel, auth, make_ticket):
    panel.customer("alice")
    reference = make_ticket(subject="Where is my order", customer="alice", requester_email=email_of("alice"))
    [internal_file] = add_staff_message(app, auth, reference, "Customer seems confused, check logs", internal=True,
                                        files=[("internal.png", PNG)])
    add_staff_message(app, auth, reference, "We are looking into it.", internal=False)
    browser = signed_in(panel.client)

    page = text_of(browser.get(f"/portal/tickets/{reference}"))
    assert "We are looking into it." in page and "Support" in page
    assert "check logs" not in page and "internal.png" not in page
    assert "We aim to resolve this by" in page
    assert browser.get(f"/portal/tickets/{reference}/attachments/{internal_file}").status_code == 404

    form = text_of(browser.get(f"/portal/tickets/{reference}"))
    response = browser.post(f"/portal/tickets/{reference}", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(form), "body": "Here is a screenshot.", "attachments": [(io.BytesIO(PNG), "shot.png")]})
    assert redirects_to(response, f"/portal/tickets/{reference}")
    page = text_of(browser.get(f"/portal/tickets/{reference}"))
    assert "Here is a screenshot." in page and "shot.png" in page
    mine = [i for i in attachment_ids(app, reference) if i != internal_file]
    download = browser.get(f"/portal/tickets/{reference}/attachments/{mine[0]}")
    assert download.status_code == 200 and download.data == PNG
    assert "attachment" in download.headers["Content-Disposition"]
    with app.app_context():
        reply = db.session.execute(select(Message).where(Message.body_text == "Here is a screenshot.")).scalar_one()
        assert reply.author_kind == "requester" and reply.author_email == email_of("alice")

    empty = browser.post(f"/portal/tickets/{reference}", data={"csrf_token": csrf_from(page), "body": "  "})
    assert empty.status_code in (400, 422) and "Traceback" not in text_of(empty)


def test_a_question_from_the_portal_is_filed_for_the_account(app, panel, run_worker):
    panel.customer("alice")
    browser = signed_in(panel.client)
    response = post_form(browser, "/portal/tickets/new", {
        "subject": "How do refills work?", "body": "My followers dropped.",
        "attachments": [(io.BytesIO(PNG), "drop.png")]}, content_type="multipart/form-data")
    assert response.status_code == 302
    reference = urlparse(response.headers["Location"]).path.rsplit("/", 1)[1]
    ticket = ticket_of(app, reference)
    assert (ticket.channel, ticket.kind, ticket.requester_email) == ("portal", "general", email_of("alice"))
    with app.app_context():
        assert db.session.get(Ticket, ticket.id).customer.panel_id == "alice"
    page = text_of(browser.get(f"/portal/tickets/{reference}"))
    assert "My followers dropped." in page and "drop.png" in page
    assert reference in text_of(browser.get("/portal"))
    run_worker()
    assert any(m.ticket_id == ticket.id for m in mails_to(app, email_of("alice")))  # the acknowledgement

    missing = post_form(browser, "/portal/tickets/new", {"subject": "", "body": "No subject"})
    assert missing.status_code == 400 and field_error(text_of(missing), "subject")


def test_an_account_without_an_address_is_told_why_it_cannot_ask(app, panel):
    panel.customer("bare", email=None)
    browser = signed_in(panel.client, "bare")
    response = post_form(browser, "/portal/tickets/new", {"subject": "Hello", "body": "A question"})
    assert response.status_code == 409 and "no e-mail address" in text_of(response)
    assert count(app, Ticket) == 0


# --- the matrix: one customer never reaches another's ticket --------------------------

PUBLIC_ENDPOINTS = {"portal.sign_in", "portal.link", "portal.sso", "portal.sign_out"}
CUSTOMER_ROUTES = {  # endpoint: (method, path with {ref} and {att})
    "portal.my_tickets": ("GET", "/portal"),
    "portal.new_ticket": ("GET", "/portal/tickets/new"),
    "portal.ticket": ("GET", "/portal/tickets/{ref}"),
    "portal.attachment": ("GET", "/portal/tickets/{ref}/attachments/{att}"),
    "portal.sign_out_everywhere": ("POST", "/portal/sign-out-everywhere"),
    "portal.my_orders": ("GET", "/portal/orders"),
    "portal.order": ("GET", "/portal/orders/1001"),
    "portal.balance": ("GET", "/portal/balance"),
    "portal.money_request": ("GET", "/portal/money/refund"),
    "portal.money_answer": ("POST", "/portal/tickets/{ref}/money"),
    "portal.new_request": ("GET", "/portal/new"),
    "portal.more_accounts": ("GET", "/portal/accounts"),
    "portal.privacy_request": ("GET", "/portal/privacy"),
}
TICKET_ROUTES = [("GET", "/portal/tickets/{ref}"), ("POST", "/portal/tickets/{ref}"),
                 ("GET", "/portal/tickets/{ref}/attachments/{att}")]


def test_every_portal_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("portal.")}
    assert endpoints == PUBLIC_ENDPOINTS | set(CUSTOMER_ROUTES)


def test_customer_a_never_sees_replies_to_or_downloads_from_customer_bs_ticket(app, panel, make_ticket):
    panel.customer("alice")
    panel.customer("bob")
    theirs = make_ticket(subject="Bob's private question", customer="bob", requester_email=email_of("bob"))
    bob = signed_in(app.test_client(), "bob")
    post_form(bob, f"/portal/tickets/{theirs}", {"body": "Bob's file", "attachments": [(io.BytesIO(PNG), "b.png")]},
              content_type="multipart/form-data")
    [bobs_file] = attachment_ids(app, theirs)
    mine = make_ticket(subject="Alice's question", customer="alice", requester_email=email_of("alice"))
    alice = signed_in(app.test_client(), "alice")
    post_form(alice, f"/portal/tickets/{mine}", {"body": "Alice's file", "attachments": [(io.BytesIO(PNG), "a.png")]},
              content_type="multipart/form-data")
    [alices_file] = attachment_ids(app, mine)
    alice.get("/portal")  # shows (and so clears) the "reply added" notice
    messages_before = count(app, Message)

    def call(client, method, path, ref, att):
        url = path.format(ref=ref, att=att)
        if method == "GET":
            return client.get(url)
        page = client.get("/portal")
        if page.status_code != 200:
            page = client.get("/portal/sign-in")
        return client.post(url, data={"csrf_token": csrf_from(text_of(page)), "body": "Injected reply"})

    def without_tokens(response):
        return re.sub(r'name="csrf_token" value="[^"]+"', "", text_of(response))

    missing = alice.get("/portal/tickets/T-99-999999")
    assert missing.status_code == 404
    for method, path in TICKET_ROUTES:
        # Bob's ticket in any case; on the download, also Bob's file under her ticket and hers under his.
        pairs = [(theirs, bobs_file), (theirs.lower(), bobs_file)]
        if "{att}" in path:
            pairs += [(mine, bobs_file), (theirs, alices_file)]
        for ref, att in pairs:
            response = call(alice, method, path, ref, att)
            assert response.status_code == 404, (method, path, ref, att)
            assert without_tokens(response) == without_tokens(missing)  # the same page as no ticket at all
    assert count(app, Message) == messages_before
    listing = text_of(alice.get("/portal"))
    assert theirs not in listing and "Bob's private question" not in listing
    # And she still reaches her own.
    assert alice.get(f"/portal/tickets/{mine}/attachments/{alices_file}").status_code == 200

    anonymous = app.test_client()
    for endpoint, (method, path) in CUSTOMER_ROUTES.items():
        response = call(anonymous, method, path, mine, alices_file)
        assert redirects_to(response, "/portal/sign-in"), (endpoint, response.status_code)
    assert redirects_to(call(anonymous, "POST", "/portal/tickets/{ref}", mine, 0), "/portal/sign-in")
    assert count(app, Message) == messages_before


# --- housekeeping ----------------------------------------------------------------------

def test_spent_tokens_past_their_expiry_are_forgotten_by_the_schedule(app, client, panel, run_worker):
    panel.customer("alice")
    signed_in(client)
    with app.app_context():
        db.session.add(SpentToken(kind="sso", jti="x" * 22, expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
        jobs.enqueue("workers.portal.forget_spent_tokens", queue="low")
        db.session.commit()
        jobs.dispatch()
    run_worker()
    with app.app_context():
        left = db.session.execute(select(SpentToken.jti)).scalars().all()
    assert len(left) == 1 and left != ["x" * 22]  # the expired row went, the live one stays
