"""The desk in a real headless Chromium (Debian's chromium, driven by Playwright): a
requester files a ticket on the public form, an agent signs in and answers it, the
requester reads the answer on their link; a stored XSS payload never runs on staff pages.

Screenshots of the pages go to test-output/screenshots/ (DESK_TEST_OUTPUT moves it)."""
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlencode

import pytest
from werkzeug.serving import make_server

from conftest import free_port

SHOTS = Path(os.environ.get("DESK_TEST_OUTPUT", "test-output")) / "screenshots"
# Every way a payload could try to run: it sets window.__xss, or opens a dialog.
PAYLOADS = [
    '<img src=x onerror="window.__xss=1;alert(1)">',
    "<script>window.__xss=2;alert(2)</script>",
    '<svg onload="window.__xss=3">',
    '"><a href="javascript:window.__xss=4">click</a>',
    "<details open ontoggle=\"window.__xss=5\">",
]


@pytest.fixture
def live(app):
    """The app served on a loopback port by a real HTTP server in a thread."""
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=5)


class Watched:
    """A page that records dialogs, CSP violations and page errors: any of them means
    something tried to run."""

    def __init__(self, browser, name: str, backend: str, **context_options):
        self.context = browser.new_context(**context_options)
        self.page = self.context.new_page()
        self.name, self.backend = name, backend
        self.dialogs, self.errors = [], []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if "Content Security Policy" in m.text else None)

    def shot(self, label: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{self.name}-{label}-{self.backend}.png"), full_page=True)

    def no_script_ran(self) -> None:
        assert self.dialogs == [], self.dialogs
        assert self.page.evaluate("window.__xss === undefined")
        assert self.page.evaluate("document.querySelectorAll('[onerror],[onload],[ontoggle],script:not([src])')"
                                  ".length") == 0
        assert self.page.evaluate("[...document.querySelectorAll('a[href]')]"
                                  ".filter(a => a.href.startsWith('javascript:')).length") == 0
        assert self.errors == [], self.errors

    def close(self):
        self.context.close()


def sso_url(live: str, secret: str, customer: str) -> str:
    """A single sign-on address for the customer, signed as the README's recipe signs it."""
    import base64
    import hashlib
    import hmac
    import json
    import secrets
    import time

    claims = {"customer": customer, "exp": int(time.time()) + 120, "nonce": secrets.token_urlsafe(16)}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{live}/portal/sso?token={payload}.{hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()}"


def read_answer_and_reply(page, live: str, reference: str, answer: str, reply: str) -> None:
    """The customer opens the ticket from My tickets, reads the agent's answer and replies."""
    page.goto(f"{live}/portal")
    page.get_by_role("link", name=reference).click()
    page.wait_for_selector(f"text={answer}")
    page.get_by_label("Your reply").fill(reply)
    page.get_by_role("button", name="Send reply").click()
    page.wait_for_selector(f"text={reply}")


def staff_sign_in(watched: Watched, live: str, email: str, password: str) -> None:
    page = watched.page
    page.goto(f"{live}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/queue.*"))


def test_a_requester_asks_an_agent_answers_and_the_requester_reads_it(app, live, chromium, auth, run_worker,
                                                                     backend):
    customer = Watched(chromium, "requester", backend)
    page = customer.page
    page.goto(f"{live}/contact")
    customer.shot("contact-form")
    page.get_by_label("Your name").fill("Alice Example")
    page.get_by_label("Your e-mail").fill("alice@example.com")
    page.get_by_label("Subject").fill("Order 1001 not delivered")
    page.get_by_label("Message").fill("It has been three days and nothing arrived.")
    page.get_by_role("button", name=re.compile("Send")).click()
    page.wait_for_selector("text=T-")
    customer.shot("contact-done")
    reference = re.search(r"T-\d{2}-\d{6}", page.content()).group(0)
    link = page.get_by_role("link", name=re.compile("ticket|follow", re.I)).first.get_attribute("href")

    auth.staff("agent", "agent@desk.test", "correct horse battery staple")
    agent = Watched(chromium, "agent", backend)
    staff_sign_in(agent, live, "agent@desk.test", "correct horse battery staple")
    agent.shot("queue")
    agent.page.get_by_role("link", name=reference).click()
    agent.page.wait_for_selector("text=It has been three days")
    agent.shot("ticket")
    agent.page.get_by_label("Message (Markdown)").fill("We have **refilled** the order.")
    agent.page.get_by_role("button", name="Send", exact=True).click()
    agent.page.wait_for_selector("text=We have refilled the order.")
    agent.no_script_ran()
    run_worker()

    page.goto(link if link.startswith("http") else f"{live}{link}")
    page.wait_for_selector("text=We have refilled the order.")
    assert page.locator("strong", has_text="refilled").count() == 1  # the agent's Markdown, rendered
    customer.shot("answer")
    page.get_by_label("Your reply").fill("Thank you, it arrived.")
    page.get_by_role("button", name=re.compile("Send|Reply")).click()
    page.wait_for_selector("text=Thank you, it arrived.")
    customer.no_script_ran()
    customer.close()
    agent.close()


def test_stored_xss_never_runs_on_staff_pages(app, live, chromium, auth, make_ticket, backend):
    payload = " ".join(PAYLOADS)
    reference = make_ticket(subject=f"Help {PAYLOADS[0]}"[:200], body=f"Look: {payload}",
                            requester_name=PAYLOADS[1][:120], requester_email="mallory@example.com")
    auth.staff("agent", "agent@desk.test", "correct horse battery staple")
    agent = Watched(chromium, "xss", backend)
    staff_sign_in(agent, live, "agent@desk.test", "correct horse battery staple")
    agent.page.wait_for_selector(f"text={reference}")
    agent.no_script_ran()
    agent.page.get_by_role("link", name=reference).click()
    agent.page.wait_for_selector("text=Look:")
    # The payload is shown as text, for the agent to read, and nothing of it ran.
    assert "onerror" in agent.page.inner_text("body")
    agent.shot("ticket")
    agent.no_script_ran()
    agent.close()


def test_a_customer_signs_in_from_the_panel_asks_and_reads_the_answer(app, live, chromium, auth, panel, run_worker,
                                                                      backend):
    secret = "s" * 40
    app.config["PANEL_SSO_SECRET"] = secret
    panel.customer("1001", login="alice_ig", email="alice@example.com", email_verified=True)
    sign_on = sso_url(live, secret, "1001")

    customer = Watched(chromium, "portal", backend)
    page = customer.page
    page.goto(sign_on)
    page.wait_for_url(re.compile(r".*/portal/?$"))
    customer.shot("my-tickets-empty")
    page.goto(f"{live}/portal/tickets/new")
    page.get_by_label("Subject").fill("Refill my views please")
    page.get_by_label("Your question", exact=True).fill("Order 1001 dropped by half.")
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_selector("text=Order 1001 dropped by half.")
    reference = re.search(r"T-\d{2}-\d{6}", page.content()).group(0)
    customer.shot("ticket")

    auth.staff("agent", "agent@desk.test", "correct horse battery staple")
    agent = Watched(chromium, "portal-agent", backend)
    staff_sign_in(agent, live, "agent@desk.test", "correct horse battery staple")
    agent.page.get_by_role("link", name=reference).click()
    agent.page.get_by_label("Message (Markdown)").fill("Refill started for order 1001.")
    agent.page.get_by_role("button", name="Send", exact=True).click()
    agent.page.wait_for_selector("text=Refill started for order 1001.")
    run_worker()

    read_answer_and_reply(page, live, reference, "Refill started for order 1001.", "Thanks, I see it climbing.")
    customer.shot("conversation")
    # The same token a second time is refused (replay), in the browser as anywhere.
    other = Watched(chromium, "portal-replay", backend)
    response = other.page.goto(sign_on)
    assert response.status == 403
    for watched in (customer, agent, other):
        watched.no_script_ran()
        watched.close()


def test_a_customer_files_a_claim_from_the_portal_and_an_agent_answers_it(app, live, chromium, auth, panel,
                                                                          run_worker, backend):
    """Sign in from the panel, open an order from My orders, check a refill against the
    Terms (the decision and its clause in plain words show before anything is sent), file
    it; an agent accepts it; the customer reads the answer and replies. Also the Balance
    and a withdrawal's figures, for their screenshots."""
    from datetime import timedelta

    from conftest import iso, ledger_entry
    from desk.types import utcnow

    secret = "s" * 40
    app.config["PANEL_SSO_SECRET"] = secret
    panel.customer("2002", login="bob_shop", email="bob@example.com", email_verified=True)
    panel.ledger(ledger_entry("bob-d1", "deposit", "80.00", "2002", processor_fee="2.00"),
                 ledger_entry("bob-p1", "promo_credit", "5.00", "2002", source="WELCOME5"))
    now = utcnow()
    panel.order("7001", "2002", link="https://www.instagram.com/bob_shop/", start_count=3572, quantity=1000,
                created_at=iso(now - timedelta(hours=30)), status_changed_at=iso(now - timedelta(hours=6)),
                tool={"id": "9", "name": "Followers R30", "refill": True, "refill_days": 30})
    customer = Watched(chromium, "portal-claim", backend)
    page = customer.page
    page.goto(sso_url(live, secret, "2002"))
    page.wait_for_url(re.compile(r".*/portal/?$"))
    page.get_by_role("link", name="My orders").click()
    page.wait_for_selector("text=Followers R30")
    customer.shot("my-orders")
    page.get_by_role("link", name="7001").click()
    page.get_by_label("What is wrong?").select_option("refill")
    page.get_by_label("Current count on the page (for a refill)").fill("4400")
    page.get_by_role("button", name="Check my claim").click()
    page.wait_for_selector("text=Your claim meets the Terms")
    assert "Refill: 172." in page.inner_text(".decision-box")
    assert "A refill tops an order back up" in page.inner_text(".decision-box")  # the clause in plain words
    customer.shot("claim-checked")
    page.get_by_role("button", name="File this claim").click()
    page.wait_for_selector("text=Your claim is ticket")
    reference = re.search(r"T-\d{2}-\d{6}", page.content()).group(0)
    customer.shot("claim-filed")

    auth.staff("agent", "agent@desk.test", "correct horse battery staple")
    agent = Watched(chromium, "portal-claim-agent", backend)
    staff_sign_in(agent, live, "agent@desk.test", "correct horse battery staple")
    agent.page.get_by_role("link", name=reference).click()
    agent.page.wait_for_selector("text=Refill claim on order 7001")
    agent.shot("claim-ticket")
    agent.page.get_by_label("Message to the customer (optional, added to the reply)").fill(
        "Refill of 172 started.")
    agent.page.get_by_role("button", name="Accept and reply").click()
    agent.page.wait_for_selector("text=Claim accepted")
    run_worker()

    read_answer_and_reply(page, live, reference, "Refill of 172 started.", "Thanks, the count is climbing.")
    customer.shot("claim-answered")

    page.get_by_role("link", name="Balance").click()
    page.wait_for_selector("text=Deposited Funds")
    assert "80.00" in page.inner_text(".balances") and "5.00" in page.inner_text(".balances")
    customer.shot("balance")
    page.get_by_role("link", name="Withdraw Deposited Funds").click()
    page.get_by_label("Amount in USD (leave empty for all that is available)").fill("40.00")
    page.get_by_role("button", name="Show me the figures").click()
    page.wait_for_selector("text=Withdrawal fee rate in force")
    customer.shot("withdrawal-figures")
    for watched in (customer, agent):
        watched.no_script_ran()
        watched.close()


def test_an_agent_sees_another_open_the_same_ticket_without_reloading(app, live, chromium, auth, make_ticket,
                                                                     backend):
    """Collision detection (issue 10): Ben has the ticket open; Ana opens it, and Ben's page
    says so by itself (presence.js asks the desk), then that she is replying as she types."""
    from desk.auth.models import Staff
    from desk.extensions import db

    app.config["PRESENCE_POLL_SECONDS"] = 1  # the page asks every second instead of every 12
    reference = make_ticket(subject="Order 1001 not delivered", body="Nothing arrived yet.")
    for email, name in (("ana@desk.test", "Ana"), ("ben@desk.test", "Ben")):
        staff_id = auth.staff("agent", email, "correct horse battery staple")
        with app.app_context():
            db.session.get(Staff, staff_id).name = name
            db.session.commit()
    ben = Watched(chromium, "presence-ben", backend)
    staff_sign_in(ben, live, "ben@desk.test", "correct horse battery staple")
    ben.page.goto(f"{live}/tickets/{reference}")
    ben.page.wait_for_selector("text=Nothing arrived yet.")
    assert ben.page.inner_text("#presence").strip() == ""

    ana = Watched(chromium, "presence-ana", backend)
    staff_sign_in(ana, live, "ana@desk.test", "correct horse battery staple")
    ana.page.goto(f"{live}/tickets/{reference}")
    assert "Ben is viewing" in ana.page.inner_text("#presence")  # in the page as it was made
    # Ben's page was not reloaded: its script saw Ana arrive.
    ben.page.wait_for_selector("#presence >> text=Ana is viewing", timeout=10_000)
    ben.shot("ana-is-viewing")
    ana.page.get_by_label("Message (Markdown)").fill("We are checking the order now.")
    ben.page.wait_for_selector("#presence >> text=Ana is replying", timeout=10_000)
    ben.shot("ana-is-replying")
    for watched in (ana, ben):
        watched.no_script_ran()
        watched.close()


def test_the_contact_form_suggests_help_articles_while_typing(app, live, chromium, backend):
    visitor = Watched(chromium, "help-suggest", backend)
    visitor.page.goto(f"{live}/contact")
    assert visitor.page.is_hidden("#help-suggest-title")  # nothing typed, nothing offered
    visitor.page.fill("#subject", "Followers dropped")
    visitor.page.type("#body", "My refill order dropped after a week")
    link = visitor.page.locator(".help-suggest ul[aria-live=polite] a").first
    link.wait_for()
    assert link.get_attribute("href") == "/help/refills-and-guarantee"
    assert visitor.page.is_visible("#help-suggest-title")
    visitor.shot("contact")
    # A hostile search is shown as text, and nothing of it runs.
    visitor.page.goto(f"{live}/help/search?" + urlencode({"q": " ".join(PAYLOADS[:2])}))
    visitor.page.wait_for_selector("h1:has-text('Search help')")
    assert "onerror" in visitor.page.inner_text("main")
    visitor.no_script_ran()
    visitor.close()
