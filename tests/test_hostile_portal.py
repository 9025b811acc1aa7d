"""Hostile input through the portal, the API's uploads and the public trust & safety forms
(issue 11; the contact form's are in test_hostile_forms.py): attachment names built to
escape the storage root, inject a header or script, or hide their type — sent through the
portal's reply and the JSON API — are stored by digest, named safely, downloaded as an
attachment and shown as text; and huge fields (a 1 MB body, 10,000-character names) are a
clear 4xx that says what is too long and keeps what was typed, never a 500 or a half-save."""
import base64
import io
import re

import pytest
from sqlalchemy import func, select

from conftest import stored_keys, text_of
from desk.extensions import db
from desk.privacy.models import PrivacyRequest
from desk.abuse.models import Report
from desk.tickets.models import Attachment, Ticket
from test_hostile_forms import EVIL_NAMES, PNG
from test_portal import SECRET, signed_in
from xss_corpus import assert_clean, fill, why

NAMES = EVIL_NAMES + ["<img src=x onerror=alert(1)>.png", "\"><script>alert(1)</script>.png",
                      "a\r\nContent-Type: text/html\r\n\r\n<b>x</b>.png", "\u202e\u2066gnp.js", "../" * 200 + "x.png"]


def as_a_browser_sends(name: str) -> str:
    """A file name as browsers put it in a multipart header (WHATWG: " CR LF percent-encoded);
    Werkzeug's test client writes it raw, which ends the header's quoted string early."""
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


MB = 1024 * 1024
TOO_LONG = re.compile(r"(?i)at most|too (long|large)|longer than|between")


@pytest.fixture
def app(make_app):
    return make_app(PANEL_SSO_SECRET=SECRET)


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def names_and_downloads(app, reference):
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        return [(a.id, a.filename) for m in ticket.messages for a in m.attachments]


def assert_safe_files(app, tmp_path, client, reference, download_base, expected):
    stored = names_and_downloads(app, reference)
    assert len(stored) == expected, stored
    for attachment_id, name in stored:
        for bad in ("/", "\\", "\x00", "\r", "\n", "\u202e", "\u2066", "<", '"'):
            assert bad not in name, (bad, name)
        assert name not in ("", ".", "..") and len(name) <= 255
        got = client.get(f"{download_base}{attachment_id}")
        assert got.status_code == 200 and got.data == PNG
        disposition = got.headers["Content-Disposition"]
        assert disposition.startswith("attachment;"), disposition
        assert not re.search(r"[\r\n\x00/\\]", disposition.split("filename", 1)[1]), disposition
    assert all(k.startswith("attachments/") and ".." not in k for k in stored_keys(app, "attachments/"))
    root = (tmp_path / "attachments").resolve()
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and not p.resolve().is_relative_to(root)
               and not p.name.startswith("desk.sqlite") and "instance" not in p.relative_to(tmp_path).parts]
    assert not outside, outside


def test_evil_attachment_names_through_the_portal_reply_are_stored_safely(app, panel, auth, make_ticket, tmp_path):
    panel.customer("alice")
    reference = make_ticket(subject="Files", customer="alice", requester_email="alice@alice-shop.example")
    browser = signed_in(panel.client)
    for start in range(0, len(NAMES), 5):
        names = NAMES[start:start + 5]
        sent = fill(browser, f"/portal/tickets/{reference}", "Files attached.",
                    attachments=[(io.BytesIO(PNG), as_a_browser_sends(name)) for name in names])
        assert sent.status_code == 302, (names, why(sent))
    page = text_of(browser.get(f"/portal/tickets/{reference}"))
    assert_clean(page, "portal ticket with evil file names")
    assert "onerror=alert(1)&gt;.png" in page or "img src=x onerror=alert(1).png" in page  # the name, as text
    assert_safe_files(app, tmp_path, browser, reference, f"/portal/tickets/{reference}/attachments/", len(NAMES))
    staff = auth.client_for("agent")
    assert_clean(text_of(staff.get(f"/tickets/{reference}")), "staff ticket with evil file names")
    assert_safe_files(app, tmp_path, staff, reference, f"/tickets/{reference}/attachments/", len(NAMES))


def test_evil_attachment_names_through_the_json_api_are_stored_safely(app, client, auth, api_key, tmp_path):
    headers = {"Authorization": f"Bearer {api_key('staff')}"}
    content = base64.b64encode(PNG).decode()
    created = client.post("/api/v1/tickets", headers=headers, json={
        "subject": "Files", "body": "See attached.", "requester": {"email": "a@example.com"},
        "attachments": [{"filename": n, "content_base64": content} for n in NAMES[:5]]})
    assert created.status_code == 201, created.get_json()
    reference = created.get_json()["reference"]
    for start in range(5, len(NAMES), 5):
        added = client.post(f"/api/v1/tickets/{reference}/messages", headers=headers, json={
            "body": "More files.", "attachments": [{"filename": n, "content_base64": content}
                                                   for n in NAMES[start:start + 5]]})
        assert added.status_code == 201, added.get_json()
    shown = client.get(f"/api/v1/tickets/{reference}", headers=headers).get_json()
    assert "../" not in str(shown) and "\\\\" not in str(shown)
    staff = auth.client_for("agent")
    assert_clean(text_of(staff.get(f"/tickets/{reference}")), "staff ticket with evil file names")
    assert_safe_files(app, tmp_path, staff, reference, f"/tickets/{reference}/attachments/", len(NAMES))


HUGE = "A" * MB
LONG = "N" * 10_000


@pytest.mark.parametrize("url, values, model", [
    ("/portal/tickets/new", {"subject": "Help", "body": HUGE}, Ticket),
    ("/portal/tickets/new", {"subject": LONG, "body": "Help"}, Ticket),
    ("/portal/money/refund", {"description": HUGE, "order": "", "amount": "5.00"}, Ticket),
    ("/portal/money/refund", {"order": LONG, "amount": "5.00"}, Ticket),
    ("/portal/accounts", {"business_need": HUGE, "accounts_wanted": "50"}, Ticket),
    ("/portal/privacy", {"details": HUGE, "rights": "access"}, PrivacyRequest),
    ("/portal/orders/1001", {"description": HUGE, "kind": "not_as_described", "current_count": ""}, Ticket),
    ("/report/abuse", {"description": HUGE, "email": "r@example.org", "links": "https://x.example/a"}, Report),
    ("/report/abuse", {"name": LONG, "email": "r@example.org", "links": "https://x.example/a"}, Report),
    ("/report/abuse", {"links": "https://x.example/" + "a" * MB, "email": "r@example.org"}, Report),
    ("/report/rights", {"work": LONG, "email": "r@example.org", "good_faith": "y", "links": "https://x.example/a"},
     Report),
    ("/privacy/request", {"name": LONG, "email": "p@example.org", "rights": "access"}, PrivacyRequest),
    ("/privacy/request", {"details": HUGE, "email": "p@example.org", "rights": "access"}, PrivacyRequest),
])
def test_a_huge_field_is_a_clear_4xx_that_keeps_what_was_typed(app, panel, url, values, model):
    panel.customer("alice")
    panel.order("1001")
    browser = signed_in(panel.client) if url.startswith("/portal") else panel.client
    before = count(app, model)
    response = fill(browser, url, "Short and fine.", **values)
    assert 400 <= response.status_code < 500, why(response)
    page = text_of(response)
    assert TOO_LONG.search(page), why(response)
    field, value = next((k, v) for k, v in values.items() if len(v) >= 10_000)
    if len(value) <= 20_000:
        assert value in page, f"{field} was not kept"  # what was typed is still in the form
    assert count(app, model) == before
    assert browser.get(url).status_code == 200


def test_a_field_longer_than_it_may_be_through_the_api_is_a_422_not_a_silent_cut(app, client, api_key):
    """The API cut a 10,000-character requester name to 120 and a 1 MB privacy request to
    its first 5,000 characters, answering 201/202 as though all was kept (issue 11)."""
    staff = {"Authorization": f"Bearer {api_key('staff')}"}
    report = {"category": "3.2", "links": ["https://x.example/a"], "description": "A scam page, see the link."}
    cases = [
        ("/api/v1/tickets", staff, {"subject": "s", "body": "b", "requester": {"email": "a@example.com", "name": LONG}},
         "name", Ticket),
        ("/api/v1/reports/abuse", {}, {**report, "reporter": {"email": "r@example.org", "name": LONG}}, "name", Report),
        ("/api/v1/reports/rights", {}, {**report, "right": "trademark", "work": LONG, "good_faith": True,
                                        "reporter": {"email": "r@example.org"}}, "work", Report),
        ("/api/v1/privacy-requests", {}, {"requester": {"email": "p@example.org", "name": LONG}, "rights": ["access"],
                                          "jurisdiction": "eu"}, "name", PrivacyRequest),
        ("/api/v1/privacy-requests", {}, {"requester": {"email": "p@example.org"}, "rights": ["access"],
                                          "jurisdiction": "eu", "details": HUGE}, "details", PrivacyRequest),
    ]
    for url, headers, body, field, model in cases:
        before = count(app, model)
        response = client.post(url, headers=headers, json=body)
        assert response.status_code == 422, (url, field, response.status_code)
        error = response.get_json()["error"]
        assert "at most" in error["message"] and field in error["message"], error
        assert count(app, model) == before
    # At the limit, all of it is kept.
    exact = "N" * 120
    created = client.post("/api/v1/tickets", headers=staff, json={
        "subject": "s", "body": "b", "requester": {"email": "a@example.com", "name": exact}})
    assert created.status_code == 201 and created.get_json()["requester"]["name"] == exact
