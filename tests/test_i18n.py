"""Languages (issue 13), through HTTP, the worker and the shipped catalogues: which locale a
page is shown in, the language switcher, mail in the requester's language, policy
sentences and plurals translated, and the catalogues' completeness.

The pseudo-locale test builds a catalogue whose every msgstr is its msgid in ⟦…⟧, renders
the customer pages and mail under it, and lists any visible text outside the markers: a
string nobody marked for translation."""
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from sqlalchemy import select

from conftest import csrf_from, post_form, text_of
from desk.claims.models import Customer
from desk.extensions import db
from desk.mail.models import OutboundMail
from desk.tickets.models import Ticket

TRANSLATIONS = Path(__file__).resolve().parents[1] / "desk" / "translations"
POT = TRANSLATIONS / "messages.pot"
SHIPPED = sorted(p.parent.parent.name for p in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))
LANG_RE = re.compile(r'<html lang="([^"]+)"')
FORM = {"name": "", "email": "rosa@example.com", "kind": "general", "order": "",
        "subject": "Mi pedido no llegó", "body": "Hace dos días que está pendiente."}
PLACEHOLDER_RE = re.compile(r"%\((\w+)\)[sd]")


def lang_of(client, **headers) -> str:
    response = client.get("/", headers=headers)
    assert response.status_code == 200
    return LANG_RE.search(text_of(response)).group(1)


def choose(client, locale, next_path="/contact", page="/"):
    token = csrf_from(text_of(client.get(page)))
    return client.post("/language", data={"csrf_token": token, "locale": locale, "next": next_path})


def catalogue(locale: str):
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=locale)


def translated(locale: str, msgid: str) -> str:
    """What the shipped catalogue says for msgid (English while it is not translated)."""
    message = catalogue(locale).get(msgid)
    return message.string if message is not None and message.string and not message.fuzzy else msgid


# --- which locale ----------------------------------------------------------------

def test_accept_language_picks_the_best_supported_match_else_english(client):
    assert lang_of(client) == "en"
    assert lang_of(client, **{"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}) == "ru"
    assert lang_of(client, **{"Accept-Language": "pt-BR,pt;q=0.9"}) == "pt-BR"
    assert lang_of(client, **{"Accept-Language": "de-DE,fr;q=0.8"}) == "en"  # none we offer


def test_the_cookie_beats_accept_language_and_an_unknown_cookie_is_ignored(client):
    client.set_cookie("lang", "es")
    assert lang_of(client, **{"Accept-Language": "ru"}) == "es"
    client.set_cookie("lang", "xx")
    assert lang_of(client, **{"Accept-Language": "ru"}) == "ru"


def test_a_signed_in_customers_saved_choice_beats_the_cookie(app, client, panel):
    panel.customer("alice")
    with app.app_context():
        db.session.execute(select(Customer).where(Customer.panel_id == "alice")).scalar_one().locale = "hi"
        db.session.commit()
    from test_portal import SECRET, sso_token  # the documented single sign-on recipe

    app.config["PANEL_SSO_SECRET"] = SECRET
    assert client.get("/portal/sso", query_string={"token": sso_token(SECRET, "alice")}).status_code == 302
    client.set_cookie("lang", "es")
    assert lang_of(client, **{"Accept-Language": "ru"}) == "hi"


def test_staff_pages_stay_english_whatever_the_browser_asks(auth):
    client = auth.client_for("agent")
    client.set_cookie("lang", "es")
    page = client.get("/queue", headers={"Accept-Language": "es"})
    assert page.status_code == 200
    assert LANG_RE.search(text_of(page)).group(1) == "en"


# --- the switcher ------------------------------------------------------------------

def test_the_switcher_sets_the_cookie_and_goes_back_to_the_page(client):
    response = choose(client, "es", "/contact?x=1")
    assert response.status_code == 302 and response.headers["Location"] == "/contact?x=1"
    assert "lang=es" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]
    assert lang_of(client) == "es"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)",
                                    "", "contact"])
def test_the_switcher_never_goes_to_another_site(client, target):
    response = choose(client, "ru", target)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_the_switcher_refuses_an_unknown_locale_and_a_missing_csrf_token(client):
    assert choose(client, "xx").status_code == 400
    assert choose(client, "../../etc").status_code == 400
    response = client.post("/language", data={"locale": "es", "next": "/"})
    assert response.status_code == 400 and "lang=" not in response.headers.get("Set-Cookie", "")
    assert lang_of(client) == "en"


def test_the_switcher_saves_the_choice_on_the_portal_account(app, client, panel):
    from test_portal import SECRET, sso_token

    panel.customer("bob")
    app.config["PANEL_SSO_SECRET"] = SECRET
    client.get("/portal/sso", query_string={"token": sso_token(SECRET, "bob")})
    assert choose(client, "pt_BR", "/portal", page="/portal").status_code == 302
    with app.app_context():
        assert db.session.execute(select(Customer.locale).where(Customer.panel_id == "bob")).scalar_one() == "pt_BR"


# --- mail in the requester's language ---------------------------------------------

@pytest.mark.parametrize("locale", SHIPPED)
def test_the_acknowledgement_goes_in_the_language_the_requester_wrote_in(app, client, run_worker, locale):
    client.set_cookie("lang", locale)
    response = post_form(client, "/contact", FORM, content_type="multipart/form-data")
    assert response.status_code == 200
    with app.app_context():
        ticket = db.session.execute(select(Ticket)).scalar_one()
        assert ticket.locale == locale
    run_worker()  # the mail is rendered in the worker, outside any request
    with app.app_context():
        mail = db.session.execute(select(OutboundMail).where(OutboundMail.to_addr == FORM["email"])).scalar_one()
    assert mail.subject == f"[{ticket.reference}] {translated(locale, 'We received your request')}"
    assert translated(locale, "or follow your ticket and reply here:") in mail.body_text


@pytest.mark.parametrize("locale", ["es", "ru"])
def test_the_privacy_code_mail_goes_in_the_language_the_request_was_written_in(app, client, locale):
    client.set_cookie("lang", locale)
    filed = post_form(client, "/privacy/request", {"email": FORM["email"], "jurisdiction": "eu", "rights": ["access"]})
    assert filed.status_code == 302
    with app.app_context():
        mail = db.session.execute(select(OutboundMail).where(OutboundMail.to_addr == FORM["email"])).scalar_one()
    assert translated(locale, "Confirm your privacy request") in mail.subject
    assert translated(locale, "Confirm your privacy request") != "Confirm your privacy request"


def test_a_requester_with_no_language_hint_is_recorded_as_english(app, client):
    response = post_form(client, "/contact", FORM, content_type="multipart/form-data")
    assert response.status_code == 200
    with app.app_context():
        assert db.session.execute(select(Ticket.locale)).scalar_one() == "en"


# --- policy sentences and plurals ------------------------------------------------

def pseudo_dir(tmp_path, locale="fr") -> Path:
    """A catalogue for `locale` where each msgstr is its msgid in ⟦…⟧ (plural forms too)."""
    with open(POT, "rb") as f:
        template = read_po(f)
    out = Catalog(locale=locale)
    for message in template:
        if not message.id:
            continue
        if message.pluralizable:
            forms = tuple(f"⟦{message.id[min(i, 1)]}⟧" for i in range(out.num_plurals))
            out.add(message.id, forms, flags=message.flags)
        else:
            out.add(message.id, f"⟦{message.id}⟧", flags=message.flags)
    folder = tmp_path / "pseudo" / locale / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with open(folder / "messages.mo", "wb") as f:
        write_mo(f, out)
    return tmp_path / "pseudo"


@pytest.fixture
def pseudo_app(make_app, tmp_path):
    return make_app(LANGUAGES=["en", "fr"], BABEL_TRANSLATION_DIRECTORIES=str(pseudo_dir(tmp_path)))


def test_a_decision_sentence_and_its_plain_words_are_translated(pseudo_app):
    from desk.i18n import in_locale, say
    from desk.policy.claims import said
    from desk.policy.clauses import PLAIN

    reason = said("terms-10-refill", "rejected", "No drop to refill: %(figures)s.", figures="Start Count 100")
    assert reason.text == "No drop to refill: Start Count 100."  # English for staff and the API
    with pseudo_app.app_context(), in_locale("fr"):
        from flask_babel import gettext

        assert say(reason) == "⟦No drop to refill: Start Count 100.⟧"
        assert gettext(PLAIN["terms-7-claim-window"]) == f"⟦{PLAIN['terms-7-claim-window']}⟧"


def test_a_stored_sentence_holding_another_is_translated_whole_when_read_back(pseudo_app):
    """The supervisor's review of a late refund quotes the refusal it lifted; stored as a
    money request keeps it (JSON), both sentences come back in the reader's language."""
    import json
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from desk.i18n import in_locale, say
    from desk.money.requests import stored_quote
    from desk.policy.claims import OrderFacts
    from desk.policy.money import Line, chargeback_summary, refund_quote

    now = datetime(2026, 7, 10, tzinfo=UTC)
    order = OrderFacts("5001", "completed", "https://x.example/p", 100, now - timedelta(days=9),
                       finished_at=now - timedelta(days=8), charge=Decimal("10.00"))
    lines = [Line("d1", "deposit", Decimal("50.00"), "deposited", now - timedelta(days=10), processor_fee=Decimal("1.00")),
             Line("c1", "charge", Decimal("10.00"), "deposited", now - timedelta(days=9), order="5001")]
    quote = refund_quote(lines, method="original", order=order, now=now, window_lifted=True)
    lifted = next(r for r in quote.reasons if r.rule == "terms-13-window")
    assert lifted.text.startswith("Order 5001 reached Completed") and lifted.text.endswith("review regardless.")
    stored = json.loads(json.dumps(stored_quote(quote)))
    row = next(r for r in stored["reasons"] if r["rule"] == "terms-13-window")
    chargeback = chargeback_summary(lines + [Line("cb1", "chargeback", Decimal("5.00"), "deposited", now,
                                                  processor_fee=Decimal("15.00"))])[0]
    with pseudo_app.app_context(), in_locale("fr"):
        assert say(row).startswith("⟦⟦Order 5001 reached Completed") and say(row).endswith("review regardless.⟧")
        assert say(stored["deductions"][0]).startswith("⟦Non-refundable processor fee on deposit d1")
        assert say(chargeback).startswith("⟦Chargeback cb1 of 5.00")
    with pseudo_app.app_context(), in_locale("en"):  # English is the text staff read
        assert say(row) == lifted.text and say(stored["deductions"][0]) == stored["deductions"][0]["text"]


def test_plural_forms_follow_the_count(pseudo_app):
    from flask_babel import ngettext

    from desk.i18n import in_locale

    with pseudo_app.app_context():  # as in a worker: no request
        with in_locale("en"):
            assert ngettext("for %(num)d day", "for %(num)d days", 1) == "for 1 day"
            assert ngettext("for %(num)d day", "for %(num)d days", 30) == "for 30 days"
        with in_locale("fr"):
            assert ngettext("for %(num)d day", "for %(num)d days", 30) == "⟦for 30 days⟧"


# --- completeness: every visible string is marked ---------------------------------

class VisibleText(HTMLParser):
    SKIP = {"script", "style", "option", "textarea", "title"}

    def __init__(self):
        super().__init__()
        self.stack, self.texts = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in ("br", "input", "meta", "link", "img", "hr"):
            self.stack.append(tag)
        for name, value in attrs:
            if name in ("placeholder", "aria-label", "title", "alt") and value:
                self.texts.append(value)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        if not (set(self.stack) & self.SKIP):
            self.texts.append(data)


# Data, not words: references, ids, amounts, dates and times, addresses, the brand.
ALLOWED = re.compile(r"""^(?:
    [\s\W\d]* | desk | T-\d{2}-\d{6} | [\w.+-]+@[\w.-]+ | https?://\S+ | /\S*
  | (?:\d{1,2}/){2}\d{2,4},?\s*\d{1,2}:\d{2}(?:\s?[AP]M)? | \d{4}-\d{2}-\d{2}\s\d{2}:\d{2}
)$""", re.X)


MONEY_RE = re.compile(r"-?[\d.,\s\xa0]*(?:US\$|\$US|R\$|\$)[\d.,\s\xa0]*")


def unmarked(text: str, data=()) -> list[str]:
    parser = VisibleText()
    parser.feed(text)
    # One marked message may span elements (a link inside a sentence): markers are matched
    # across the page's text nodes, which are then checked one by one.
    stream = "\x00".join(parser.texts)
    for item in sorted(data, key=len, reverse=True):
        stream = stream.replace(item, " ")
    stream = MONEY_RE.sub(" ", stream)
    while re.search(r"⟦[^⟦⟧]*⟧", stream):  # innermost first: a message may hold another
        stream = re.sub(r"⟦[^⟦⟧]*⟧", " ", stream)
    found = []
    for chunk in stream.split("\x00"):
        for piece in re.split(r"[·|—:()\[\]\"“”,.]", chunk):
            piece = piece.strip()
            if piece and not ALLOWED.match(piece):
                found.append(piece)
    return found


def mail_contexts(ticket) -> dict:
    """What each customer mail template is rendered with (the objects are stand-ins)."""
    from types import SimpleNamespace as NS

    from datetime import timedelta
    from decimal import Decimal

    from desk.policy import dormancy
    from desk.policy.privacy import KEPT, kept_lines
    from desk.policy.abuse import completeness

    link = "https://desk.test/x"
    now = ticket.created_at
    customer = NS(login="alice", panel_id="alice", locale=None)
    # Real steps and sentences, so their words are what is checked.
    freeze_notice = dormancy.next_step(dormancy.Facts(status="active", last_active_at=now - timedelta(days=400),
                                                      email_verified=True), now)
    forfeit_notice = dormancy.next_step(dormancy.Facts(
        status="frozen", last_active_at=now - timedelta(days=600), email_verified=True,
        frozen_at=now - timedelta(days=200), deposited_at_freeze=Decimal("10.00")), now)
    assert (freeze_notice.action, forfeit_notice.action) == ("freeze_notice", "forfeit_notice")
    report = NS(reference="R-26-000001", locale=None)
    privacy = NS(reference="P-26-000001", received_at=ticket.created_at)
    return {
        "ack.txt": {"ticket": ticket, "link": link, "redaction_notes": []},
        "reply.txt": {"ticket": ticket, "link": link, "message": NS(body_text="")},
        "status.txt": {"ticket": ticket, "link": link, "status": "resolved"},
        "csat.txt": {"ticket": ticket, "links": NS(good=link, bad=link), "days": 7},
        "portal_sign_in.txt": {"customer": customer, "link": link, "minutes": 15, "several": True},
        "report_ack.txt": {"report": report, "link": link},
        "report_closed.txt": {"report": report, "link": link},
        "report_confirm.txt": {"report": report, "link": link},
        "report_needs_info.txt": {"report": report, "link": link, "missing": completeness(False, False)},
        "privacy_code.txt": {"request": privacy, "code": "123456", "minutes": 30, "attempts": 5, "link": link,
                             "due": ticket.created_at},
        "privacy_download_code.txt": {"request": privacy, "code": "123456", "minutes": 30, "attempts": 1},
        "dormancy.txt": {"customer": customer, "notice": "freeze", "step": freeze_notice, "link": link,
                         "rule": "terms-30-dormancy"},
        "dormancy.txt forfeit": {"customer": customer, "notice": "forfeit", "step": forfeit_notice,
                                 "link": link, "rule": "terms-30-dormancy"},
        "enforcement.txt": {"row": NS(order_ref="5001", amount=None, reason="", customer=customer),
                            "label": "Cancel the order", "clause_title": "", "clause_text": "", "days": 183,
                            "link": link},
        "enforcement.txt account": {"row": NS(order_ref=None, amount="50.00", reason="", customer=customer),
                                    "label": "Suspend the account", "clause_title": "", "clause_text": "",
                                    "days": 183, "link": link},
        "appeal_decided.txt": {"label": "Suspend the account", "outcome": "upheld", "reason": ""},
        "appeal_decided.txt reversed": {"label": "Suspend the account", "outcome": "reversed", "reason": ""},
        "privacy_erased.txt": {"request": NS(reference="P-26-000001", response=""),
                               "kept": kept_lines(KEPT)},
        "privacy_export.txt": {"request": privacy, "export": NS(expires_at=ticket.created_at), "link": link,
                               "withheld": ["x"], "reason": ""},
    }


def test_every_customer_page_and_mail_is_marked_for_translation(pseudo_app):
    from desk.mail.outbound import render

    client = pseudo_app.test_client()
    client.set_cookie("lang", "fr")
    # Data, and WTForms' own validation messages (it ships their translations).
    data = [FORM["subject"], FORM["body"], FORM["email"], "Français", "English", "Español", "Português",
            "Русский", "हिन्दी", "Asia/Singapore", "Adresse électronique non valide.", "R-26-000001", "P-26-000001", "123456", "alice", "terms-30-dormancy", "5001", "50.00"]
    pages = {}
    for path in ("/", "/contact", "/claim", "/billing", "/accounts/more", "/report/abuse", "/report/rights", "/privacy/request",
                 "/portal/sign-in", "/nothing-here"):
        response = client.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
        pages[path] = text_of(response)
    pages["portal sign-in sent"] = text_of(post_form(client, "/portal/sign-in", {"email": FORM["email"]}))
    for path in ("/portal/link/not-a-token", "/portal/sso?token=x"):  # refused: a bad link, single sign-on off
        response = client.get(path)
        assert response.status_code in (400, 403, 404), (path, response.status_code)
        pages[path] = text_of(response)
    pages["abuse received"] = text_of(post_form(client, "/report/abuse", {
        "category": "4.1", "links": "https://www.tiktok.com/@victim/video/1", "description": FORM["body"],
        "email": FORM["email"], "name": ""}, content_type="multipart/form-data"))
    filed = post_form(client, "/privacy/request", {"email": FORM["email"], "jurisdiction": "eu", "rights": ["access"]})
    assert filed.status_code == 302
    pages["privacy status"] = text_of(client.get(filed.headers["Location"]))
    pages["contact error"] = text_of(post_form(client, "/contact", {**FORM, "email": "nope"},
                                               content_type="multipart/form-data"))
    done = post_form(client, "/contact", FORM, content_type="multipart/form-data")
    pages["contact done"] = text_of(done)
    link = re.search(r'href="(/t/[^"]+)"', pages["contact done"]).group(1)
    pages["requester ticket"] = text_of(client.get(link))
    with pseudo_app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.subject == FORM["subject"])).scalar_one()
        data += [ticket.reference, ticket.subject, "https://desk.test/x"]
        for name, context in mail_contexts(ticket).items():
            subject, body = render(name.split()[0], locale="fr", **context)
            pages[f"mail {name}"] = f"<p>{subject}</p><pre>{body}</pre>"
    problems = {name: unmarked(page, data) for name, page in pages.items()}
    problems = {name: found for name, found in problems.items() if found}
    assert not problems, "text not marked for translation:\n" + "\n".join(f"{k}: {v}" for k, v in problems.items())


# --- the shipped catalogues --------------------------------------------------------

def test_every_language_offered_has_a_catalogue_with_every_message():
    with open(POT, "rb") as f:
        template = read_po(f)
    assert len([m for m in template if m.id]) > 200
    assert SHIPPED == sorted(["es", "pt_BR", "ru", "hi"])
    for locale in SHIPPED:
        ids = {m.id for m in catalogue(locale) if m.id}
        assert ids >= {m.id for m in template if m.id}, f"{locale}: run flask desk i18n update"
        assert (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo").exists()


@pytest.mark.parametrize("locale", SHIPPED)
def test_the_catalogue_is_fully_translated(locale):
    """Fails until translators fill `locale`'s messages.po: every msgid has a non-empty,
    non-fuzzy msgstr with the same %(placeholders)s. The merger merges once it passes."""
    with open(POT, "rb") as f:
        template = read_po(f)
    cat = catalogue(locale)
    missing, wrong = [], []
    for message in template:
        if not message.id:
            continue
        found = cat.get(message.id)
        strings = found.string if found is not None else ""
        strings = strings if isinstance(strings, tuple) else (strings,)
        if found is None or found.fuzzy or not all(strings):
            missing.append(message.id)
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set(PLACEHOLDER_RE.findall(ids[-1]))
        if any(set(PLACEHOLDER_RE.findall(s)) != wanted for s in strings):
            wrong.append(message.id)
    assert not missing and not wrong, (f"{locale}: {len(missing)} untranslated or fuzzy, "
                                       f"{len(wrong)} with other placeholders, e.g. {(missing + wrong)[:5]}")


def test_every_portal_page_is_marked_for_translation(make_app, tmp_path):
    from conftest import PanelFeed
    from desk.audit.services import Actor
    from desk.policy.clauses import CLAUSES
    from desk.auth.services import create_api_key
    from test_portal import SECRET, sso_token

    app = make_app(LANGUAGES=["en", "fr"], BABEL_TRANSLATION_DIRECTORIES=str(pseudo_dir(tmp_path)),
                   PANEL_SSO_SECRET=SECRET)
    client = app.test_client()
    with app.app_context():
        _, key = create_api_key("panel key", "panel", Actor("system"))
    panel = PanelFeed(client, key)
    panel.customer("alice")
    panel.order("5001", customer="alice")
    assert client.get("/portal/sso", query_string={"token": sso_token(SECRET, "alice")}).status_code == 302
    client.set_cookie("lang", "fr")
    new = post_form(client, "/portal/tickets/new", {"subject": "Mi pregunta", "body": "¿Dónde está mi pedido?"},
                    content_type="multipart/form-data")
    assert new.status_code in (200, 302), new.status_code
    with app.app_context():
        reference = db.session.execute(select(Ticket.reference)).scalar_one()
    data = ["Mi pregunta", "¿Dónde está mi pedido?", "alice", "alice@alice-shop.example", reference, "5001", "Likes",
            "https://www.instagram.com/p/P5001/", "Français", "English", "Asia/Singapore"]
    problems = {}
    for path in ("/portal", "/portal/tickets/new", "/portal/new", "/portal/orders", "/portal/orders/5001",
                 "/portal/balance", "/portal/money/refund", f"/portal/tickets/{reference}"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        found = unmarked(text_of(response), data)
        if found:
            problems[path] = found
    for kind in ("non_delivery", "refill", "cancel"):  # the claim form showing the Terms' decision
        response = post_form(client, "/portal/orders/5001", {"kind": kind, "current_count": "900", "step": "check",
                                                             "description": "¿Dónde está mi pedido?"},
                             content_type="multipart/form-data")
        assert response.status_code == 200 and 'class="decision-box' in text_of(response), kind
        # The Terms are quoted in English on purpose (their headings, and their words in lang="en").
        page = re.sub(r'<blockquote lang="en">.*?</blockquote>', "", text_of(response), flags=re.S)
        found = unmarked(page, data + [title for title, _ in CLAUSES.values()])
        if found:
            problems[f"claim {kind}"] = found
    assert not problems, "text not marked for translation:\n" + "\n".join(f"{k}: {v}" for k, v in problems.items())


def test_the_help_center_chrome_is_marked_for_translation(pseudo_app):
    """The index, an article and search results: the articles' own words are content (each
    locale has its own files), so only what the desk puts around them is checked."""
    from desk.help.articles import library
    from desk.policy.clauses import clause

    client = pseudo_app.test_client()
    client.set_cookie("lang", "fr")
    with pseudo_app.app_context():
        lib = library("fr")
        slug = sorted(lib.articles)[0]
        data = ["Français", "English", "Español", "Português", "Русский", "हिन्दी", "Asia/Singapore", "refill"]
        bodies = [article.html for article in lib.articles.values()]
        for article in lib.articles.values():
            data += [article.title, article.summary]
            data += [clause(rule)[0] for rule in article.rules if clause(rule)]  # the Terms' own headings
        for topic in lib.topics.values():
            data.append(topic)
    problems = {}
    for path in ("/help", f"/help/{slug}", "/help/search?q=refill", "/help/search?q=zzzznothing"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        page = text_of(response)
        for body in bodies:
            page = page.replace(body, "")
        # Quoted Terms (kept in English on purpose), rule ids and the search snippets are content.
        page = re.sub(r'<(blockquote) lang="en">.*?</blockquote>|<code>.*?</code>|<p class="small">.*?</p>', "",
                      page, flags=re.S)
        found = [f for f in unmarked(page, data) if len(f) > 1]
        if found:
            problems[path] = found
    assert not problems, "text not marked for translation:\n" + "\n".join(f"{k}: {v}" for k, v in problems.items())


def test_the_satisfaction_survey_and_its_thanks_are_marked_for_translation(pseudo_app):
    from urllib.parse import urlsplit

    from desk import links
    from desk.csat.models import Survey
    from desk.types import utcnow

    client = pseudo_app.test_client()
    client.set_cookie("lang", "fr")
    assert post_form(client, "/contact", FORM, content_type="multipart/form-data").status_code == 200
    with pseudo_app.app_context():
        ticket = db.session.execute(select(Ticket)).scalar_one()
        ticket.status = "resolved"
        survey = Survey(ticket=ticket, queue=ticket.queue, sent_at=utcnow())
        db.session.add(survey)
        db.session.commit()
        path = urlsplit(links.survey_url(survey, "bad")).path
        data = ["Français", "English", "Español", "Português", "Русский", "हिन्दी", "Asia/Singapore",
                ticket.reference, ticket.subject]
    survey_page = client.get(path)
    assert survey_page.status_code == 200
    thanks = client.post(path.rsplit("/", 1)[0], data={"csrf_token": csrf_from(text_of(survey_page)), "rating": "bad",
                                                       "comment": "Lento."})
    assert thanks.status_code == 200
    problems = {name: unmarked(text_of(page), data + ["Lento."]) for name, page in
                (("survey", survey_page), ("thanks", thanks))}
    problems = {name: found for name, found in problems.items() if found}
    assert not problems, "text not marked for translation:\n" + "\n".join(f"{k}: {v}" for k, v in problems.items())


# --- the decisions that reach customers, each rendered under the pseudo-locale ------------

PSEUDO_DATA = ["Français", "English", "Español", "Português", "Русский", "हिन्दी", "Asia/Singapore"]


def problems_in(pages: dict, data) -> dict:
    """{page name: its unmarked text} for the pages with any; the Terms quoted in English
    (in lang="en") and their headings are content."""
    from desk.policy.clauses import CLAUSES

    data = list(data) + PSEUDO_DATA + [title for title, _ in CLAUSES.values()]
    found = {}
    for name, page in pages.items():
        page = re.sub(r'<blockquote lang="en">.*?</blockquote>', "", page, flags=re.S)
        left = unmarked(page, data)
        if left:
            found[name] = left
    return found


class TestDecisionsInThePseudoLocale:
    """Every page and mail that carries a decision sentence, in a language whose every
    message is ⟦wrapped⟧: English left over is a sentence nobody made a message id."""

    @pytest.fixture
    def app(self, make_app, tmp_path):
        from test_portal import SECRET

        return make_app(LANGUAGES=["en", "fr"], BABEL_TRANSLATION_DIRECTORIES=str(pseudo_dir(tmp_path)),
                        PANEL_SSO_SECRET=SECRET)

    @staticmethod
    def browser(app, panel_id=None):
        from test_portal import SECRET, sso_token

        client = app.test_client()
        client.set_cookie("lang", "fr")
        if panel_id:
            assert client.get("/portal/sso", query_string={"token": sso_token(SECRET, panel_id)}).status_code == 302
        return client

    @staticmethod
    def check(client, url, data):
        """The money form's first step: the figures and the decision, nothing filed."""
        page = client.get(url)
        assert page.status_code == 200, url
        response = client.post(url, data={"csrf_token": csrf_from(text_of(page)), **data})
        assert response.status_code in (200, 409, 422), (url, response.status_code)
        assert 'class="decision-box' in text_of(response), url
        return text_of(response)

    def test_money_figures_deductions_closure_and_restoration(self, app, panel):
        from conftest import ledger_entry as entry

        panel.customer("alice")
        panel.ledger(entry("alice-d1", "deposit", "100.00", "alice", processor_fee="3.20"),
                     entry("alice-p1", "promo_credit", "20.00", "alice", source="WELCOME10"))
        panel.customer("carol")  # more Promotional Credit than the refund: the deduction is cut
        panel.ledger(entry("carol-d1", "deposit", "10.00", "carol", processor_fee="1.00"),
                     entry("carol-p1", "promo_credit", "50.00", "carol", source="WELCOME10"))
        panel.customer("dave")  # a chargeback left the Balance negative
        panel.ledger(entry("dave-d1", "deposit", "50.00", "dave"),
                     entry("dave-cb", "chargeback", "80.00", "dave", funding="deposited"))
        filed = panel.post("/refunds", {"customer": "alice", "method": "original"})
        assert filed.status_code in (200, 201, 202), filed.get_json()
        reference = filed.get_json()["reference"]

        alice = self.browser(app, "alice")
        pages = {"refund": self.check(alice, "/portal/money/refund", {"method": "original"}),
                 "withdrawal": self.check(alice, "/portal/money/withdrawal", {"amount": "50.00"}),
                 # the open refund request holds the Balance back (terms-15-closure)
                 "closure": self.check(alice, "/portal/money/closure", {}),
                 "restoration": self.check(alice, "/portal/money/restoration", {}),
                 # the request's own section; the conversation above it is stored messages (content)
                 "the request's page": text_of(alice.get(f"/portal/tickets/{reference}"))
                 .split('<section class="card">')[2]}
        pages["carol refund"] = self.check(self.browser(app, "carol"), "/portal/money/refund", {"method": "original"})
        pages["dave closure"] = self.check(self.browser(app, "dave"), "/portal/money/closure", {})
        # The sentences are really there, translated: not an empty page passing.
        assert "⟦Promotional Credit granted over the account" in pages["refund"]
        assert "⟦Non-refundable processor fee on deposit alice-d1" in pages["refund"]
        assert "⟦The Balance is not released while refund request " + reference in pages["closure"]
        assert "⟦On closure the " in pages["closure"] and "⟦Withdrawal processing fee: " in pages["closure"]
        assert "⟦Only " in pages["carol refund"]
        assert "⟦The Balance is negative by 30.00" in pages["dave closure"]
        assert "⟦The account is not frozen" in pages["restoration"]
        assert "⟦Non-refundable processor fee" in pages["the request's page"]
        found = problems_in(pages, ["alice", "carol", "dave", "alice-d1", "carol-d1", reference, "WELCOME10"])
        assert not found, "text not marked for translation:\n" + "\n".join(f"{k}: {v}" for k, v in found.items())

    def test_the_account_switch_page(self, app, panel):
        panel.customer("alice")
        panel.customer("bob")
        from test_portal import SECRET, sso_token

        client = self.browser(app, "alice")
        page = client.get("/portal/sso", query_string={"token": sso_token(SECRET, "bob")})
        assert page.status_code == 200 and "⟦Switch to %(account)s?⟧".replace("%(account)s", "bob") in text_of(page)
        found = problems_in({"switch": text_of(page)}, ["alice", "bob"])
        assert not found, found

    def test_the_claim_form_showing_a_decision(self, app, panel):
        from datetime import UTC, datetime, timedelta

        now = datetime.now(UTC).replace(microsecond=0)
        panel.customer("bob")
        panel.order("2001", customer="bob", created_at=(now - timedelta(hours=3)).isoformat(),
                    status_changed_at=(now - timedelta(hours=1)).isoformat())
        panel.order("2002", customer="bob", created_at=(now - timedelta(days=6)).isoformat(),
                    status_changed_at=(now - timedelta(days=5)).isoformat())
        client = self.browser(app)
        pages = {}
        for order, kind, count in (("2001", "refill", "4400"), ("2002", "non_delivery", ""), ("2001", "refill", "")):
            page = text_of(client.get("/claim"))
            response = client.post("/claim", data={"csrf_token": csrf_from(page), "order": order, "kind": kind,
                                                   "email": "bob@bob-shop.example", "current_count": count,
                                                   "description": "", "step": "check"})
            assert response.status_code == 200 and 'class="decision-box' in text_of(response), (order, kind)
            pages[f"claim {order} {kind} {count}"] = text_of(response)
        assert "⟦Filed after the claim window" in pages["claim 2002 non_delivery "]
        found = problems_in(pages, ["bob", "bob@bob-shop.example", "2001", "2002", "4400"])
        assert not found, "text not marked for translation:\n" + "\n".join(f"{k}: {v}" for k, v in found.items())

    def test_the_reporters_status_page_and_what_it_still_needs(self, app, client):
        from abuse_helpers import confirm_latest, link_in, mails, send_report
        from desk.abuse.models import Report
        from desk.mail.outbound import render

        client.set_cookie("lang", "fr")
        response = send_report(client, links=[], description="")
        assert response.status_code == 202
        reference = response.get_json()["reference"]
        confirm_latest(app, client)
        [asked] = mails(app, "report-needs-info:")
        page = text_of(client.get(link_in(asked)))
        assert "⟦To act on a report we need the link or order reference and a description" in page
        pages = {"status": page}
        with app.app_context():
            from desk.abuse.intake import missing_info

            report = db.session.execute(select(Report)).scalar_one()
            subject, body = render("report_needs_info.txt", locale="fr", report=report, missing=missing_info(report),
                                   link="https://desk.test/x")
        pages["mail report_needs_info"] = f"<p>{subject}</p><pre>{body}</pre>"
        found = problems_in(pages, [reference, "https://desk.test/x"])
        assert not found, "text not marked for translation:\n" + "\n".join(f"{k}: {v}" for k, v in found.items())

    def test_the_appeal_page_and_the_statement_mail_in_the_customers_language(self, app, client, panel, auth):
        from abuse_helpers import link_in, mails, only_case, reported
        from conftest import ledger_entry as entry
        from desk.abuse.models import EnforcementAction

        panel.customer("bob")
        panel.order("7001", customer="bob", link="https://www.instagram.com/p/SCAM1/")
        panel.ledger(entry("bob-d1", "deposit", "50.00", "bob"))
        with app.app_context():
            db.session.execute(select(Customer).where(Customer.panel_id == "bob")).scalar_one().locale = "fr"
            db.session.commit()
        reported(client, app)
        case = only_case(app)
        auth.login("trust_safety")
        page = text_of(client.get(f"/tickets/{case['ticket']}"))
        reason = "The page sold a fake investment scheme to our users."
        response = client.post(f"/abuse/cases/{case['id']}/actions", data={
            "csrf_token": csrf_from(page), "account": "bob", "reason": reason, "action": "suspend"})
        assert response.status_code == 302
        [notice] = mails(app, "enforcement:")
        # The statement goes in the language bob's account recorded, not the staff member's English.
        assert "⟦You may contest this decision within" in notice.body_text
        appeal_path = link_in(notice)
        browser = self.browser(app)
        pages = {"mail enforcement": f"<p>{notice.subject}</p><pre>{notice.body_text}</pre>",
                 "appeal": text_of(browser.get(appeal_path))}
        with app.app_context():  # the window has passed: the page says why it cannot be contested
            row = db.session.execute(select(EnforcementAction)).scalar_one()
            row.notified_at = row.notified_at.replace(year=row.notified_at.year - 2)
            db.session.commit()
        pages["appeal closed"] = text_of(browser.get(appeal_path))
        assert "⟦The window to contest this action (183 days from the notice) has closed.⟧" in pages["appeal closed"]
        found = problems_in(pages, ["bob", "7001", reason, "50.00", "https://desk.test/x", "http://desk.test" + appeal_path,
                                    case["ticket"]])
        assert not found, "text not marked for translation:\n" + "\n".join(f"{k}: {v}" for k, v in found.items())

    def test_the_privacy_code_answers(self, app, client):
        client.set_cookie("lang", "fr")
        filed = post_form(client, "/privacy/request", {"email": FORM["email"], "jurisdiction": "eu",
                                                       "rights": ["access"]})
        assert filed.status_code == 302
        status = filed.headers["Location"]
        page = text_of(client.get(status))
        token = status.rstrip("/").rsplit("/", 1)[-1]
        wrong = client.post(f"/privacy/requests/{token}/code", data={"csrf_token": csrf_from(page), "code": "000000"},
                            follow_redirects=True)
        page = text_of(wrong)
        assert "⟦That code is not right. 2 attempts left.⟧" in page
        found = problems_in({"privacy wrong code": page}, [FORM["email"], "123456", "000000"])
        found = {k: [f for f in v if not re.match(r"P-\d{2}-\d{6}$", f)] for k, v in found.items()}
        assert not any(found.values()), found
