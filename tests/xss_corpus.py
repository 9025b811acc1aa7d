"""The XSS vector corpus (issue 11) and the page checker every XSS test shares: a page is
parsed and must hold no element with an on* handler, no inline <script>, no
javascript:/data: link or source, no CSS expression() and no <svg>/<math>/<iframe>: the
vector shows as text or not at all. `forms_on`/`fill` drive any of the desk's own forms with
a vector in every text field, so a new field on a form is covered without a new test."""
import re
from html.parser import HTMLParser

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
    def __init__(self, allow=()):
        super().__init__(convert_charrefs=True)
        self.problems, self.allow = [], set(allow)

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
        if tag in {"iframe", "object", "embed", "svg", "math", "base"} - self.allow:
            self.problems.append(f"<{tag}>")


def assert_clean(html: str, where: str, allow=()):
    """`allow`: elements the page itself draws (the dashboard's <svg> charts); their
    attributes are still checked."""
    checker = Checker(allow)
    checker.feed(html)
    assert not checker.problems, (where, checker.problems[:5])


# -- driving the desk's own forms ----------------------------------------------------------

TEXT_TYPES = {"text", "search", "url", "tel", "", None, "number", "email", "date"}


class _Forms(HTMLParser):
    """Each <form> on a page: its action, method and the fields a browser would send."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self._form, self._select, self._textarea = [], None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action") or "", "method": (a.get("method") or "get").lower(),
                          "enctype": a.get("enctype") or "", "fields": {}, "text": [], "files": []}
            self.forms.append(self._form)
        if tag == "option" and self._form is not None and self._select and a.get("value") \
                and (self._select not in self._form["fields"] or "selected" in a):
            self._form["fields"][self._select] = a["value"]
        if self._form is None or not a.get("name") or "disabled" in a:
            return
        name, fields = a["name"], self._form["fields"]
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind == "file":
                self._form["files"].append(name)
            elif kind in ("checkbox", "radio"):
                if "checked" in a or (kind == "radio" and name not in fields):
                    fields[name] = a.get("value", "on")
            elif kind not in ("submit", "button", "image", "reset"):
                fields[name] = a.get("value") or ""
                if kind in TEXT_TYPES - {"number", "email", "date"}:
                    self._form["text"].append(name)
        elif tag == "textarea":
            fields[name], self._textarea = "", name
            self._form["text"].append(name)
        elif tag == "select":
            self._select = name
        elif tag == "button" and a.get("value") is not None and name not in fields:
            fields[name] = a["value"]

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea and self._form is not None:
            self._form["fields"][self._textarea] += data


def forms_on(html: str) -> list[dict]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def fill(client, page_url: str, vector: str, **kwargs):
    """Open `page_url` and `submit` its form with `vector` in every text field."""
    page = client.get(page_url)
    assert page.status_code == 200, (page_url, page.status_code)
    return submit(client, page.get_data(as_text=True), page_url, vector, **kwargs)


def submit(client, html: str, page_url: str, vector: str, *, action: str | None = None, keep=(), max_len=None,
           **values):
    """Send the form of `html` (the page at `page_url`) posting to `action`, else its first
    POST form with a text field, as a browser would, with `vector` in every text field (cut
    to `max_len[field]`) but those in `keep` and `values`, which are set as given (None:
    left out)."""
    candidates = [f for f in forms_on(html) if f["method"] == "post" and (
        f["text"] if action is None else (f["action"] or page_url).split("?")[0] == action)]
    assert candidates, f"no form for {action or 'text'} on {page_url}"
    form = candidates[0]
    data = dict(form["fields"])
    for name in form["text"]:
        if name not in keep and name != "csrf_token":
            data[name] = vector[:(max_len or {}).get(name, len(vector))]
    for name, value in values.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    url = form["action"] or page_url
    if form["enctype"] == "multipart/form-data" or any(isinstance(v, (list, tuple)) for v in data.values()):
        return client.post(url, data=data, content_type="multipart/form-data")
    return client.post(url, data=data)


def why(response) -> tuple:
    """A refused form's status and the messages it shows, for an assertion's message."""
    html = response.get_data(as_text=True)
    return response.status_code, re.findall(r'role="alert">(.*?)</div>|class="error"[^>]*>(.*?)</', html, re.S)[:6]


def assert_mail_is_plain_text(app, min_with_vector: int = 1):
    """Every mail the desk wrote goes out as one text/plain part (no HTML a mail program
    would render), with no header a vector's CR/LF could have added; at least
    `min_with_vector` of them carry a vector, as text."""
    from sqlalchemy import select

    from desk.extensions import db
    from desk.mail.models import OutboundMail
    from desk.mail.outbound import message_for

    carried = 0
    with app.app_context():
        for row in db.session.execute(select(OutboundMail)).scalars():
            msg = message_for(row)
            assert [part.get_content_type() for part in msg.walk()] == ["text/plain"], row.dedupe_key
            assert all("\n" not in value and "\r" not in value for value in msg.values()), row.dedupe_key
            carried += "alert(1)" in msg.get_content()
    assert carried >= min_with_vector, carried


FINAL_ACTIONS = ("/claim", "/approve", "/decline", "/override", "/merge", "/split")


def every_form(client, page_url: str, vector: str, skip=(), **values):
    """Send each POST form of `page_url` that has a text field once, with `vector` in every
    text field; the page is opened again before each, as a person would, and a form an
    earlier answer took away (a claim decided) is passed over: [(action, status)]."""
    def post_actions(html):
        found = []
        for form in forms_on(html):
            action = (form["action"] or page_url).split("?")[0]
            if form["method"] == "post" and form["text"] and action not in found and not action.endswith(skip):
                found.append(action)
        return found

    answers = []
    # Notes and facts before the decisions that close a claim or a request and take them away.
    for action in sorted(post_actions(client.get(page_url).get_data(as_text=True)),
                         key=lambda a: a.endswith(FINAL_ACTIONS)):
        page = client.get(page_url)
        assert page.status_code == 200, (page_url, page.status_code)
        html = page.get_data(as_text=True)
        if action not in post_actions(html):
            continue
        response = submit(client, html, page_url, vector, action=action, **values)
        assert response.status_code < 500, (action, response.status_code)
        assert_clean(response.get_data(as_text=True), f"the answer to {action}")
        answers.append((action, response.status_code))
    return answers
