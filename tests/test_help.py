"""The help center through HTTP: the index by topic, articles with an anchor and the Terms'
words for each rule they explain, search (ranked, highlighted, escaped, capped), the
suggestions the ticket forms ask for, English standing in for a missing translation, the
rule map covering every rule id the desk can emit, and rule ids elsewhere linking to it."""
import re
import shutil
from pathlib import Path

import pytest
from markupsafe import escape

from conftest import text_of
from desk.help import articles
from desk.help.search import MAX_QUERY
from desk.policy.clauses import CLAUSES, PLAIN
from test_portal import SECRET, signed_in
from test_portal_requests import post_page, refill_order

DESK = Path(__file__).resolve().parents[1] / "desk"
# A rule id in the code: terms-<section>-…, privacy-<section>-…, or aup-… (never a file name).
RULE_IN_CODE = re.compile(r"""["']((?:terms|privacy)-\d[\w.-]*|aup-[\w.-]+)["']""")


@pytest.fixture
def app(make_app):
    return make_app(PANEL_SSO_SECRET=SECRET)  # the portal's single sign-on, for the portal's pages


def english():
    return articles._library(str(articles.ROOT), "en")


def emitted_rules() -> set[str]:
    """Every rule id the desk can put in front of someone: the clause and plain-words
    catalogues and every rule id written in the code."""
    found = set(CLAUSES) | set(PLAIN)
    for path in DESK.rglob("*.py"):
        found |= set(RULE_IN_CODE.findall(path.read_text(encoding="utf-8")))
    return found


def words(article) -> int:
    return len(article.text.split())


# --- the catalogue ------------------------------------------------------------------------

def test_every_rule_the_desk_can_emit_has_exactly_one_article_and_every_named_rule_exists():
    lib = english()
    named: dict[str, list[str]] = {}
    for a in lib.articles.values():
        for rule in a.rules:
            named.setdefault(rule, []).append(a.slug)
    emitted = emitted_rules()
    assert {"terms-7-claim-window", "aup-appeal", "terms-33-legal", "privacy-3-minimal"} <= emitted
    assert sorted(emitted - set(named)) == [], "rule ids without an article"
    assert sorted(set(named) - emitted) == [], "articles name rule ids the desk does not know"
    assert {r: s for r, s in named.items() if len(s) > 1} == {}, "a rule explained by two articles"


def test_every_english_article_is_complete_and_of_a_readable_length():
    lib = english()
    assert len(lib.articles) >= 20
    for a in lib.articles.values():
        assert a.title and a.summary and a.rules and a.topic in lib.topics, a.slug
        assert 120 <= words(a) <= 350, (a.slug, words(a))


def test_translations_keep_the_slugs_topics_and_rules_of_english():
    lib = english()
    for folder in articles.ROOT.iterdir():
        if not folder.is_dir() or folder.name == "en":
            continue
        assert articles.LOCALE.match(folder.name), folder.name
        for path in folder.glob("*.md"):
            own = articles.parse(path.read_text(encoding="utf-8"), path.stem, folder.name)
            assert path.stem in lib.articles, f"{folder.name}/{path.name} has no English original"
            original = lib.articles[path.stem]
            assert (own.rules, own.topic) == (original.rules, original.topic), f"{folder.name}/{path.name}"


def test_a_broken_front_matter_says_which_file_and_what_is_wrong():
    with pytest.raises(articles.ArticleError, match="en/x.md: the front matter"):
        articles.parse("no front matter", "x", "en")
    with pytest.raises(articles.ArticleError, match="lacks rules"):
        articles.parse("---\ntitle: T\nsummary: S\ntopic: orders\n---\nBody", "x", "en")


# --- pages --------------------------------------------------------------------------------

def test_the_index_lists_every_article_under_its_topic(client):
    page = text_of(client.get("/help"))
    lib = english()
    for topic, title in lib.topics.items():
        section = page.split(f'id="topic-{topic}"', 1)[1].split("</section>", 1)[0]
        assert escape(title) in page
        for a in lib.in_topic(topic):
            assert f'href="/help/{a.slug}"' in section, a.slug
    assert 'role="search"' in page


def test_each_article_has_an_anchor_with_the_terms_words_and_plain_words_for_each_rule(client):
    for a in english().articles.values():
        response = client.get(f"/help/{a.slug}")
        assert response.status_code == 200, a.slug
        page = text_of(response)
        assert f"<h1>{escape(a.title)}</h1>" in page
        assert "not available in your language" not in page
        for rule in a.rules:
            box = page.split(f'id="{rule}"', 1)[1].split("</section>", 1)[0]
            if rule in CLAUSES:
                assert str(escape(CLAUSES[rule][1])) in box, rule
            if rule in PLAIN:
                assert str(escape(PLAIN[rule])) in box, rule


def test_an_unknown_or_odd_slug_is_a_404(client):
    for slug in ("no-such-article", "CLAIM-WINDOW", "..%2Fpolicy", "_topics"):
        assert client.get(f"/help/{slug}").status_code == 404, slug


def test_the_navigation_and_footer_lead_to_help(client):
    page = text_of(client.get("/"))
    assert page.count('href="/help"') >= 2


# --- search -------------------------------------------------------------------------------

def test_search_ranks_the_article_about_the_words_first_and_marks_them(client):
    page = text_of(client.get("/help/search", query_string={"q": "refill dropped"}))
    results = re.findall(r'<li><a href="/help/([\w-]+)">', page)
    assert results[0] == "refills-and-guarantee", results
    assert "<mark>refill</mark>" in page.lower() or "<mark>Refill</mark>" in page
    page = text_of(client.get("/help/search", query_string={"q": "withdrawal fee"}))
    assert re.findall(r'<li><a href="/help/([\w-]+)">', page)[0] == "withdrawals"
    # A rule id pasted from a decision finds the article that explains it.
    page = text_of(client.get("/help/search", query_string={"q": "terms-30-dormancy"}))
    assert re.findall(r'<li><a href="/help/([\w-]+)">', page)[0] == "dormant-accounts"


def test_search_escapes_what_was_typed(client):
    hostile = '<script>alert(1)</script> "><img src=x onerror=alert(1)> refund'
    page = text_of(client.get("/help/search", query_string={"q": hostile}))
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<li><a href="/help/refunds">' in page


def test_search_with_nothing_typed_or_nothing_found_says_so(client):
    page = text_of(client.get("/help/search"))
    assert "Type a few words" in page and "<ol" not in page
    page = text_of(client.get("/help/search", query_string={"q": "zzxqv qqzzk"}))
    assert "No article matches" in page and "<ol" not in page


def test_a_query_too_long_is_a_400_saying_the_limit(client):
    response = client.get("/help/search", query_string={"q": "refund " * 40})
    assert response.status_code == 400
    assert f"at most {MAX_QUERY}" in text_of(response)
    response = client.get("/help/suggest", query_string={"q": "x" * (MAX_QUERY + 1)})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "query_too_long"
    assert client.get("/help/search", query_string={"q": "r" * MAX_QUERY}).status_code == 200


def test_suggest_answers_the_top_five_as_json(client):
    answer = client.get("/help/suggest", query_string={"q": "I want my money back to my card, refund please"}).get_json()
    assert answer["results"][0]["slug"] == "refunds"
    assert answer["results"][0]["url"] == "/help/refunds" and answer["results"][0]["title"]
    assert 1 <= len(answer["results"]) <= 5
    assert len(client.get("/help/suggest", query_string={"q": "order account balance"}).get_json()["results"]) == 5
    assert client.get("/help/suggest", query_string={"q": ""}).get_json()["results"] == []
    # Half a word, as typed: "withdr" finds withdrawals.
    assert client.get("/help/suggest", query_string={"q": "withdr"}).get_json()["results"][0]["slug"] == "withdrawals"


# --- languages and sanitising ---------------------------------------------------------------

@pytest.fixture
def own_articles(tmp_path):
    root = tmp_path / "articles"
    shutil.copytree(articles.ROOT / "en", root / "en")
    return root


def test_a_missing_translation_falls_back_to_english_and_says_so(make_app, own_articles, monkeypatch):
    (own_articles / "es").mkdir()
    (own_articles / "es" / "_topics.txt").write_text("orders: Pedidos y reclamaciones\n", encoding="utf-8")
    (own_articles / "es" / "claim-window.md").write_text(
        "---\ntitle: El plazo de 3 días para reclamar\nsummary: Resumen.\ntopic: orders\n"
        "rules: terms-7-claim-window, terms-13-window\n---\nTiene **3 días** para reclamar.\n", encoding="utf-8")
    app = make_app(HELP_ARTICLES_DIR=str(own_articles))
    # The one place the language is chosen (Flask-Babel's choice, once it is wired).
    monkeypatch.setattr(articles, "current_locale", lambda: "es")
    client = app.test_client()
    page = text_of(client.get("/help/claim-window"))
    assert "El plazo de 3 días para reclamar" in page and "<strong>3 días</strong>" in page
    assert "not available in your language" not in page
    assert 'id="terms-7-claim-window"' in page
    page = text_of(client.get("/help/refunds"))
    assert "not available in your language yet, so it is shown in English" in page
    assert '<article class="card help-article" lang="en">' in page
    index = text_of(client.get("/help"))
    assert "Pedidos y reclamaciones" in index and "Your personal data" in index
    assert 'lang="en">English</span>' in index
    assert text_of(client.get("/help/search", query_string={"q": "reclamar"})).count('<li><a href="/help/') == 1
    # A regional variant without a folder of its own reads its language's.
    monkeypatch.setattr(articles, "current_locale", lambda: "es_MX")
    assert "El plazo de 3 días para reclamar" in text_of(client.get("/help/claim-window"))
    monkeypatch.setattr(articles, "current_locale", lambda: "../en")  # never a path
    assert "The 3-day claim window" in text_of(client.get("/help/claim-window"))


def test_article_markdown_is_sanitized(make_app, tmp_path):
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "_topics.txt").write_text("orders: Orders\n", encoding="utf-8")
    (tmp_path / "en" / "hostile.md").write_text(
        "---\ntitle: <b>Bold</b> title\nsummary: S\ntopic: orders\nrules: terms-5-beta\n---\n"
        "<script>alert(1)</script>\n\n[click](javascript:alert(1)) <img src=x onerror=alert(1)>\n\n"
        "[ok](https://example.com)\n", encoding="utf-8")
    client = make_app(HELP_ARTICLES_DIR=str(tmp_path)).test_client()
    page = text_of(client.get("/help/hostile"))
    assert "<script>alert" not in page and "<img" not in page and 'href="javascript' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<h1>&lt;b&gt;Bold&lt;/b&gt; title</h1>" in page
    assert '<a href="https://example.com" rel="nofollow noopener noreferrer">ok</a>' in page


# --- links to articles from elsewhere ---------------------------------------------------------

def test_a_claim_decision_in_the_portal_links_to_the_article_of_its_rule(app, panel):
    panel.customer("alice")
    refill_order(panel, finished_hours=24 * 5)
    client = signed_in(app.test_client())
    page = text_of(post_page(client, "/portal/orders/1001", {"kind": "non_delivery"}))
    assert "Under the Terms this claim would not be accepted" in page
    assert 'href="/help/claim-window#terms-7-claim-window"' in page
    assert 'id="terms-7-claim-window"' in text_of(client.get("/help/claim-window"))


def test_the_ticket_forms_offer_suggestions_without_inline_script(app, client, panel):
    panel.customer("alice")
    page = text_of(client.get("/contact"))
    assert 'src="/static/suggest.js"' in page and 'data-suggest-url="/help/suggest"' in page
    assert 'aria-live="polite"' in page
    assert not re.search(r"<script(?![^>]*\ssrc=)", page)
    portal = text_of(signed_in(app.test_client()).get("/portal/tickets/new"))
    assert 'src="/static/suggest.js"' in portal and 'aria-live="polite"' in portal
    assert client.get("/static/suggest.js").status_code == 200


def test_article_links_outside_a_request_use_the_public_url_and_unknown_rules_stay_plain(app):
    with app.app_context():  # as a job composing mail has it
        assert articles.article_url("terms-30-dormancy") == "http://desk.test/help/dormant-accounts#terms-30-dormancy"
        assert articles.article_url("terms-99-unknown") is None
        assert articles.rule_link("terms-99-unknown") == "<code>terms-99-unknown</code>"
        assert articles.rule_link('"><script>') == "<code>&#34;&gt;&lt;script&gt;</code>"
