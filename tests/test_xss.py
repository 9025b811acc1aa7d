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
from html.parser import HTMLParser

import pytest

from conftest import csrf_from, text_of

VECTORS = [
    "<script>alert(1)</script>",
    "<ScRiPt>alert(1)</sCrIpT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<a href=\"  JaVaScRiPt:alert(1)\">x</a>",
    "<a href=\"&#106;avascript:alert(1)\">x</a>",
    "<iframe src=\"data:text/html,<script>alert(1)</script>\"></iframe>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "' onmouseover='alert(1)",
    "\" autofocus onfocus=\"alert(1)",
    "<div style=\"width: expression(alert(1))\">x</div>",
    "<p style=\"background:url(javascript:alert(1))\">x</p>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<body onload=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "[x](javascript:alert(1)) <javascript:alert(1)>",
]
BAD_SCHEMES = ("javascript:", "data:", "vbscript:")
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "background", "poster"}


class Checker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            value = (value or "")
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
            if name in URL_ATTRS and re.sub(r"[\s\x00-\x1f]", "", value).lower().startswith(BAD_SCHEMES):
                self.problems.append(f"<{tag} {name}={value[:40]!r}>")
            if name == "style" and "expression(" in value.lower().replace(" ", ""):
                self.problems.append(f"<{tag} style expression()>")
        if tag == "script" and not (dict(attrs).get("src") or "").startswith("/static/"):
            self.problems.append("<script> not from /static/")
        if tag in ("iframe", "object", "embed", "svg", "math", "base"):
            self.problems.append(f"<{tag}>")


def assert_clean(html: str, where: str):
    checker = Checker()
    checker.feed(html)
    assert not checker.problems, (where, checker.problems[:5])


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
