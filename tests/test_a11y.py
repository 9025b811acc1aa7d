"""Accessibility (issue 13) in the real headless Chromium of the browser suite: axe-core
(pinned from the npm registry in tests/a11y/package-lock.json; scripts/test runs `npm ci`
there) checks the main pages against WCAG 2.1 A and AA, and a page fails on any violation
axe rates serious or critical. The keyboard works the staff queue: Tab reaches the rows,
j/k move between them, Enter opens one, / goes to the search box.

The pages' markup does not depend on the database, so these run on SQLite alone. Alone:
    .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_a11y.py
Screenshots of every page checked go to test-output/screenshots/a11y-*."""
import re
from html.parser import HTMLParser
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import iso, ledger_entry
from test_browser import Watched, live, sso_url, staff_sign_in  # noqa: F401 (fixtures)

pytestmark = pytest.mark.sqlite_only

AXE_JS = Path(__file__).parent / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_JS.exists():
        pytest.fail("axe-core is not installed: run `npm ci --prefix tests/a11y` (scripts/test does it).",
                    pytrace=False)
    return AXE_JS.read_text()


class Audited(Watched):
    """A browser page run through axe at each step worth checking. The desk's CSP forbids
    the inline script axe arrives as, so this context bypasses the CSP (tested elsewhere).
    Problems are gathered over all the pages so one run reports them all."""

    def __init__(self, browser, name: str, backend: str, axe: str):
        super().__init__(browser, f"a11y-{name}", backend, bypass_csp=True)
        self.axe = axe
        self.problems: dict[str, list[str]] = {}
        self.checked: list[str] = []

    def check(self, label: str) -> None:
        self.page.add_script_tag(content=self.axe)
        result = self.page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
            WCAG_21_AA)
        self.shot(label)
        self.checked.append(label)
        found = [f"  {v['id']} ({v['impact']}): {v['help']}\n"
                 + "".join(f"      {' '.join(map(str, n['target']))}\n" for n in v["nodes"][:8])
                 for v in result["violations"] if v["impact"] in BLOCKING]
        if found:
            self.problems[f"{label} ({self.page.url})"] = found

    def visit(self, url: str, label: str, status: int = 200) -> None:
        response = self.page.goto(url)
        assert response.status == status, (url, response.status)
        self.check(label)

    def send(self, fields: dict[str, str], button, shows: str, label: str) -> None:
        """Fill the form's fields by their labels, press the button, check the page that answers."""
        for name, value in fields.items():
            self.page.get_by_label(name, exact=True).fill(value)
        self.page.get_by_role("button", name=button).click()
        self.page.wait_for_selector(f"text={shows}")
        self.check(label)

    def assert_clean(self) -> None:
        report = "".join(f"{page}:\n" + "".join(found) for page, found in self.problems.items())
        assert not self.problems, f"serious or critical WCAG 2.1 AA violations:\n{report}"


def submit_without_browser_checks(page, button) -> None:
    """Send a form as it is, so the desk's own validation answers (the page with errors)."""
    page.evaluate("[...document.forms].forEach(f => f.noValidate = true)")
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()


def refillable_order(panel) -> None:
    """Customer 2002 (bob_shop) and order 7001, delivered six hours ago with a 30-day refill."""
    from desk.types import utcnow

    now = utcnow()
    panel.customer("2002", login="bob_shop", email="bob@example.com", email_verified=True)
    panel.order("7001", "2002", link="https://www.instagram.com/bob_shop/", start_count=3572, quantity=1000,
                created_at=iso(now - timedelta(hours=30)), status_changed_at=iso(now - timedelta(hours=6)),
                tool={"id": "9", "name": "Followers R30", "refill": True, "refill_days": 30})


def test_axe_runs_and_reports_what_it_finds(chromium, axe_source):
    """The checker itself: an image without a text alternative and an unlabelled field are
    found, so a clean page below means axe looked."""
    audited = Audited(chromium, "selftest", "none", axe_source)
    audited.page.set_content('<html lang="en"><title>t</title><main><img src="x.png">'
                             '<input name="q"></main></html>')
    audited.check("broken")
    assert audited.checked == ["broken"]
    found = "".join(next(iter(audited.problems.values()), []))
    assert "image-alt (critical)" in found and "label (critical)" in found, found
    with pytest.raises(AssertionError, match="image-alt"):
        audited.assert_clean()
    audited.close()


def test_public_and_requester_pages_pass_axe(app, live, chromium, axe_source, auth, client, run_worker, backend):
    from desk.extensions import db
    from desk.mail.models import OutboundMail

    visitor = Audited(chromium, "public", backend, axe_source)
    page = visitor.page
    visitor.visit(f"{live}/", "home")
    visitor.visit(f"{live}/contact", "contact")
    page.get_by_label("Your e-mail").fill("not an address")
    submit_without_browser_checks(page, re.compile("Send"))
    visitor.check("contact-errors")
    assert page.evaluate("document.activeElement.id") == "error-summary"  # form-errors.js took the focus there
    page.locator("#error-summary").get_by_role("link", name=re.compile("^Your e-mail")).click()
    assert page.evaluate("document.activeElement.id") == "email"  # each entry leads to its field
    visitor.send({"Your name": "Alice Example", "Your e-mail": "alice@example.com",
                  "Subject": "Order 1001 not delivered", "Message": "It has been three days and nothing arrived."},
                 re.compile("Send"), "T-", "contact-done")
    reference = re.search(r"T-\d{2}-\d{6}", page.content()).group(0)
    page.get_by_role("link", name=re.compile("ticket|follow", re.I)).first.click()
    page.wait_for_selector("text=It has been three days")
    visitor.check("requester-ticket")

    # The satisfaction survey the requester is mailed once an agent resolves the ticket.
    auth.login("agent")
    from conftest import post_form
    assert post_form(client, f"/tickets/{reference}", {"body": "All done.", "status": "resolved"},
                     post_url=f"/tickets/{reference}/reply").status_code == 302
    run_worker()
    with app.app_context():
        mail = db.session.execute(select(OutboundMail).where(OutboundMail.dedupe_key == f"csat:{reference}")
                                  ).scalar_one()
        survey = re.search(r"/survey/\S+/good", mail.body_text).group(0)
    visitor.visit(f"{live}{survey}", "csat-survey")

    visitor.visit(f"{live}/report/abuse", "report-abuse")
    submit_without_browser_checks(page, re.compile("Send|Report|Submit"))
    visitor.check("report-abuse-errors")
    visitor.visit(f"{live}/report/rights", "report-rights")
    visitor.visit(f"{live}/privacy/request", "privacy-request")
    submit_without_browser_checks(page, re.compile("Send|Submit|request", re.I))
    visitor.check("privacy-request-errors")
    visitor.visit(f"{live}/portal/sign-in", "portal-sign-in")
    visitor.visit(f"{live}/login", "staff-login")
    visitor.visit(f"{live}/no-such-page", "not-found", status=404)
    visitor.assert_clean()
    visitor.close()


def test_portal_pages_pass_axe(app, live, chromium, axe_source, panel, backend):
    secret = "s" * 40
    app.config["PANEL_SSO_SECRET"] = secret
    refillable_order(panel)
    panel.ledger(ledger_entry("bob-d1", "deposit", "80.00", "2002", processor_fee="2.00"))
    customer = Audited(chromium, "portal", backend, axe_source)
    page = customer.page
    page.goto(sso_url(live, secret, "2002"))
    page.wait_for_url(re.compile(r".*/portal/?$"))
    customer.check("my-tickets-empty")
    customer.visit(f"{live}/portal/new", "new-request")
    customer.visit(f"{live}/portal/tickets/new", "new-ticket")
    submit_without_browser_checks(page, re.compile("^Send$"))
    customer.check("new-ticket-errors")
    customer.send({"Subject": "Refill my views please", "Your question": "Order 7001 dropped by half."},
                  re.compile("^Send$"), "Order 7001 dropped by half.", "ticket")
    customer.visit(f"{live}/portal", "my-tickets")
    customer.visit(f"{live}/portal/orders", "my-orders")
    customer.visit(f"{live}/portal/orders/7001", "order")
    page.get_by_label("What is wrong?").select_option("refill")
    customer.send({"Current count on the page (for a refill)": "4400"}, "Check my claim",
                  "Your claim meets the Terms", "order-claim-checked")
    customer.visit(f"{live}/portal/balance", "balance")
    customer.visit(f"{live}/portal/money/withdrawal", "withdrawal")
    customer.send({"Amount in USD (leave empty for all that is available)": "40.00"}, "Show me the figures",
                  "Withdrawal fee rate in force", "withdrawal-figures")
    customer.assert_clean()
    customer.close()


def test_staff_pages_pass_axe(app, live, chromium, axe_source, auth, panel, make_ticket, backend):
    from desk.types import utcnow

    refillable_order(panel)
    response = panel.post("/claims", {"order": "7001", "kind": "refill", "at": iso(utcnow()), "current_count": 4400})
    assert response.status_code == 201, response.get_json()
    claim = response.get_json()["reference"]
    for n in range(3):
        make_ticket(subject=f"Order 10{n} dropped", body="The count went down overnight.")

    auth.staff("admin", "admin@desk.test", PASSWORD)
    admin = Audited(chromium, "staff", backend, axe_source)
    page = admin.page
    staff_sign_in(admin, live, "admin@desk.test", PASSWORD)
    admin.check("queue")
    admin.visit(f"{live}/tickets/{claim}", "claim-ticket")
    admin.send({"Message to the customer (optional, added to the reply)": "Refill of 172 started."},
               "Accept and reply", "Claim accepted", "claim-ticket-decided")
    admin.visit(f"{live}/queue?q=dropped", "search")
    admin.visit(f"{live}/dashboard", "sla-dashboard")
    admin.visit(f"{live}/admin/staff", "admin-staff")
    admin.visit(f"{live}/admin/api-keys", "admin-api-keys")
    admin.visit(f"{live}/admin/audit", "admin-audit")
    admin.assert_clean()
    admin.close()


# --- forms: labels, and errors tied to their fields (HTTP, no browser) ---------------

class Fields(HTMLParser):
    """The form controls of a page by id, the labels' `for`, and elements by id."""

    def __init__(self, html: str):
        super().__init__()
        self.controls, self.ids, self.label_for = {}, {}, set()
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids[attrs["id"]] = (tag, attrs)
        if tag == "label" and attrs.get("for"):
            self.label_for.add(attrs["for"])
        if tag in ("input", "select", "textarea") and attrs.get("type") not in ("hidden", "submit"):
            self.controls[attrs.get("id")] = attrs


def test_a_form_with_errors_ties_each_error_to_its_field_and_starts_with_a_summary(client):
    from conftest import post_form, text_of

    response = post_form(client, "/contact", {"name": "Alice", "email": "not an address", "subject": "",
                                              "body": "Nothing arrived.", "kind": "general"})
    assert response.status_code == 400
    page = Fields(text_of(response))
    assert None not in page.controls, "a control without an id cannot have a label"
    assert set(page.controls) <= page.label_for, set(page.controls) - page.label_for  # every field labelled
    for wrong in ("email", "subject"):
        control = page.controls[wrong]
        assert control["aria-invalid"] == "true"
        error = f"{wrong}-error"
        assert error in control["aria-describedby"].split()
        assert page.ids[error][0] == "small"
    assert "aria-invalid" not in page.controls["name"] and "aria-describedby" not in page.controls["name"]
    # A hint is read with its field, and with the error when there is one.
    assert page.controls["body"]["aria-describedby"] == "body-hint"
    tag, summary = page.ids["error-summary"]
    assert summary["role"] == "alert" and summary["tabindex"] == "-1"
    summary_html = text_of(response).split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    assert re.findall(r'href="#([\w-]+)"', summary_html) == ["email", "subject"]
    assert "form-errors.js" in text_of(response)


def test_a_form_without_errors_has_no_summary_and_no_invalid_fields(client):
    from conftest import text_of

    html = text_of(client.get("/contact"))
    assert 'id="error-summary"' not in html and "aria-invalid" not in html and "form-errors.js" not in html
    page = Fields(html)
    assert set(page.controls) <= page.label_for


def test_every_page_has_a_skip_link_to_main_and_a_named_navigation(client):
    from conftest import text_of

    html = text_of(client.get("/"))
    assert re.search(r'<a class="skip-link" href="#main">', html)
    assert '<main id="main"' in html and '<nav aria-label="Main">' in html


# --- the queue by keyboard --------------------------------------------------------

def focused(page) -> str:
    """What has the focus: a ticket reference's text, or the tag and name of a control."""
    return page.evaluate("(() => { const e = document.activeElement; return e.classList.contains('ref')"
                         " ? e.textContent : e.tagName + ':' + (e.name || e.id); })()")


def test_the_queue_works_by_keyboard(app, live, chromium, auth, make_ticket, backend):
    """Under the desk's own CSP (queue-keys.js is a file, not an inline script): Tab reaches
    the rows and shows where the focus is; j/k move between them; / goes to the search box
    but typing there types; Enter opens the focused ticket; the shortcuts can be turned off."""
    for n in range(3):
        make_ticket(subject=f"Order 10{n} dropped", body=f"Count {n} went down.")
    auth.staff("agent", "agent@desk.test", PASSWORD)
    agent = Watched(chromium, "a11y-queue-keys", backend)
    page = agent.page
    staff_sign_in(agent, live, "agent@desk.test", PASSWORD)
    rows = page.eval_on_selector_all("table.queue tbody a.ref", "links => links.map(a => a.textContent)")
    assert len(rows) == 3

    for _ in range(60):  # Tab from the top of the page until a ticket has the focus
        page.keyboard.press("Tab")
        if focused(page) in rows:
            break
    assert focused(page) == rows[0]
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    assert page.evaluate("document.activeElement.matches(':focus-visible')")
    agent.shot("row-focused")
    page.keyboard.press("j")
    assert focused(page) == rows[1]
    page.keyboard.press("j")
    page.keyboard.press("j")  # the last row stays the last
    assert focused(page) == rows[2]
    page.keyboard.press("k")
    assert focused(page) == rows[1]

    page.keyboard.press("/")
    assert focused(page) == "INPUT:q"
    page.keyboard.type("jk/")  # in the search box the keys are text, not shortcuts
    assert page.input_value("input[name=q]") == "jk/" and focused(page) == "INPUT:q"
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("k")  # from nowhere, k starts at the bottom
    assert focused(page) == rows[2]

    shortcuts = page.get_by_role("checkbox", name=re.compile("^Keyboard:"))
    shortcuts.uncheck()
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("j")
    assert focused(page) == "BODY:"  # turned off, j does nothing
    page.reload()
    assert not shortcuts.is_checked()  # remembered
    shortcuts.check()

    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live}/tickets/{rows[1]}")
    agent.no_script_ran()
    agent.close()
