"""The XSS corpus (issue 11) through the customer portal: the signed-in customer's new
question, replies, claims on an order (and the order's link, which the customer typed on
the storefront), money requests, more accounts and privacy requests — into the pages the
customer sees and the pages staff see afterwards (queue, ticket, customer page, mail log)."""
import re

import pytest
from conftest import ledger_entry, text_of
from test_portal import SECRET, signed_in
from xss_corpus import VECTORS, assert_clean, assert_mail_is_plain_text, fill, submit, why

ALL = "\n".join(VECTORS)  # one field holding the whole corpus, for forms that file once


@pytest.fixture
def app(make_app):
    return make_app(PANEL_SSO_SECRET=SECRET)


def portal_reference(response) -> str:
    assert response.status_code == 302, (response.status_code, text_of(response)[:600])
    return re.search(r"/portal/tickets/(T-\d{2}-\d{6})", response.headers["Location"]).group(1)


def test_the_corpus_through_every_portal_form_shows_as_text_to_the_customer_and_to_staff(app, panel, auth):
    panel.customer("alice")
    panel.order("1001", link=VECTORS[5])  # <a href="javascript:…"> as the order's link
    panel.order("1002", link="javascript:alert(1)")
    panel.ledger(ledger_entry("d1", "deposit", "50.00"))
    browser = signed_in(panel.client)

    references = []
    for vector in VECTORS:
        created = fill(browser, "/portal/tickets/new", vector, max_len={"subject": 200})
        reference = portal_reference(created)
        references.append(reference)
        replied = fill(browser, f"/portal/tickets/{reference}", vector)
        assert replied.status_code == 302, why(replied)
        assert_clean(text_of(browser.get(f"/portal/tickets/{reference}")), f"portal ticket for {vector!r}")

    # A claim: checked, then filed, with the corpus as its description.
    checked = fill(browser, "/portal/orders/1002", ALL, kind="not_as_described", current_count="")
    assert checked.status_code == 200
    assert_clean(text_of(checked), "claim check")
    references.append(portal_reference(submit(browser, text_of(checked), "/portal/orders/1002", ALL,
                                              kind="not_as_described", current_count="")))
    # Money: a refund about one order, the figures first, then the request.
    quoted = fill(browser, "/portal/money/refund", ALL, order="", amount="10.00", method="original")
    assert quoted.status_code == 200, why(quoted)
    assert_clean(text_of(quoted), "refund figures")
    filed = submit(browser, text_of(quoted), "/portal/money/refund", ALL, order="", amount="10.00",
                   method="original")
    references.append(portal_reference(filed))
    references.append(portal_reference(fill(browser, "/portal/accounts", ALL, category="agency",
                                            accounts_wanted="50")))
    privacy = fill(browser, "/portal/privacy", ALL, rights="correction", jurisdiction="other")
    assert privacy.status_code == 302, why(privacy)

    for url in ("/portal", "/portal/orders", "/portal/orders/1001", "/portal/orders/1002", "/portal/balance",
                "/portal/new", privacy.headers["Location"], *(f"/portal/tickets/{r}" for r in references)):
        response = browser.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert_clean(text_of(response), url)

    staff = auth.client_for("admin")
    queue = text_of(staff.get("/queue?limit=100"))
    assert_clean(queue, "/queue")
    shown_as_text = 0
    for reference in sorted(set(re.findall(r"T-\d{2}-\d{6}", queue)) | set(references)):
        page = text_of(staff.get(f"/tickets/{reference}"))
        assert_clean(page, reference)
        shown_as_text += "alert(1)" in page
    assert shown_as_text >= len(VECTORS) + 2
    for url in ("/customers/alice", "/claims/returns", "/mail", "/admin/audit"):
        response = staff.get(url)
        assert response.status_code in (200, 404), (url, response.status_code)
        assert_clean(text_of(response), url)
    assert_mail_is_plain_text(app, min_with_vector=0)


@pytest.mark.parametrize("url, linked", [
    ("https://www.instagram.com/p/P1/", True), ("http://example.com", True), (" HTTPS://x.example/a", True),
    ("javascript:alert(1)", False), (" JaVaScRiPt:alert(1)", False), ("java\tscript:alert(1)", False),
    ("\x01javascript:alert(1)", False), ("data:text/html,<script>alert(1)</script>", False),
    ("vbscript:msgbox(1)", False), ("&#106;avascript:alert(1)", False), ("//evil.example/x", False),
    ("www.instagram.com/p/P1/", False), ("", False), (None, False),
])
def test_only_http_and_https_links_are_linked(url, linked):
    from desk.sanitize import web_link

    assert web_link(url) == (url if linked else None)
