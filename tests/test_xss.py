"""An XSS vector corpus (issue 11) through the text fields requesters fill (the contact
form, the API, e-mail: subject, body, display name, attachment name, HTML body) into the
pages that show them (the staff queue, search results, the ticket page, the requester's
own page, the mail log, the audit log). Each page is parsed and must hold no element with
an on* handler, no inline <script>, no javascript:/data: link or source and no CSS
expression(): the vector shows as text or not at all. The browser-level checks for a few
payloads are in tests/test_browser.py."""
import base64
import re
from email.message import EmailMessage

import pytest

from conftest import csrf_from, text_of
from xss_corpus import VECTORS, assert_clean


def mail(vector: str, number: int) -> bytes:
    msg = EmailMessage()
    msg["To"] = "support@mail.smmpanelus.com"
    msg["Subject"] = vector
    msg["Message-ID"] = f"<xss{number}@example.com>"
    msg.set_content(vector)
    msg.add_alternative(f"<p>{vector}</p>", subtype="html")
    msg.add_attachment(b"plain text", maintype="text", subtype="plain", filename=f"{vector}.txt")
    # The display name as an RFC 2047 word: the vector arrives whole, whatever it holds.
    name = "=?utf-8?b?" + base64.b64encode(vector.encode()).decode() + "?="
    return f"From: {name} <mallory{number}@example.com>\r\n".encode() + msg.as_bytes()


def test_the_corpus_shows_as_text_on_every_page(app, client, runner, auth, api_key):
    headers = {"Authorization": f"Bearer {api_key('staff')}"}
    requester_pages = []
    for number, vector in enumerate(VECTORS):
        # The contact form: name, subject, body, order.
        page = client.get("/contact")
        response = client.post("/contact", data={
            "csrf_token": csrf_from(text_of(page)), "name": vector[:120], "email": f"x{number}@example.com",
            "kind": "general", "order": vector[:64], "subject": vector[:200], "body": vector})
        assert response.status_code in (200, 400), response.status_code
        assert_clean(text_of(response), f"contact answer for {vector!r}")
        link = re.search(r'href="(/t/[^"]+)"', text_of(response))
        if link:
            requester_pages.append(link.group(1))
        # The API: subject, body, requester name.
        created = client.post("/api/v1/tickets", headers=headers, json={
            "subject": vector, "body": vector, "requester": {"email": f"y{number}@example.com", "name": vector}})
        assert created.status_code in (201, 422), created.get_json()
        # E-mail: subject, display name, plain and HTML body, attachment name.
        result = runner.invoke(args=["desk", "ingest-mail", "-r", "support@mail.smmpanelus.com"],
                               input=mail(vector, number))
        assert result.exit_code == 0, result.output
    for url in requester_pages:
        assert_clean(text_of(client.get(url)), url)

    auth.login("admin")
    queue = text_of(client.get("/queue?limit=100"))
    assert_clean(queue, "/queue")
    references = sorted(set(re.findall(r"T-\d{2}-\d{6}", queue)))
    assert len(references) >= len(VECTORS)
    shown = 0
    for reference in references:
        page = text_of(client.get(f"/tickets/{reference}"))
        assert_clean(page, reference)
        shown += "alert(1)" in page  # the vector is there, as text
    assert shown >= len(VECTORS)
    for query in ("alert", "script", "onerror", "javascript"):
        assert_clean(text_of(client.get(f"/queue?q={query}")), f"search {query}")
    for url in ("/mail", "/admin/audit", "/mail/1", "/mail/2"):
        response = client.get(url)
        assert response.status_code in (200, 404), (url, response.status_code)
        assert_clean(text_of(response), url)
    # The requester's reply on their own page carries the corpus too.
    if requester_pages:
        url = requester_pages[0]
        token = csrf_from(text_of(client.get(url)))
        for vector in VECTORS[:5]:
            client.post(url, data={"csrf_token": token, "body": vector})
        assert_clean(text_of(client.get(url)), f"{url} after replies")


def test_the_checker_catches_each_kind_of_injection():
    for html in ('<img src=x onerror="a()">', "<script>a()</script>", '<a href=" javascript:a()">',
                 '<iframe src="data:text/html,x">', '<div style="x: expression(a())">', "<svg onload=a()>"):
        with pytest.raises(AssertionError):
            assert_clean(html, "sample")
    assert_clean('<script src="/static/desk.js"></script><a href="/queue">q</a>', "our own page")
