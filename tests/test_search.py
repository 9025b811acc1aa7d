"""Full-text search (issue 10) through HTTP, on SQLite (FTS5) and PostgreSQL (tsvector):
ranking, highlighting that escapes what people wrote, message text and internal notes,
the queue's filters, cursor pages, exact lookups, the search index kept current on every
write (erasure included), and queues a viewer may not open, which no search reaches."""
import re
from html import unescape

import pytest
from sqlalchemy import select, text

from conftest import Auth, get_ok, post_form, text_of
from desk.extensions import db

REF_RE = re.compile(r'class="ref">(T-\d{2}-\d{6})</a>')
ROW_RE = re.compile(r'<tr class="prio-\w+ hit">(.*?)</tr>', re.S)


def refs(client, url) -> list[str]:
    return REF_RE.findall(get_ok(client, url))


def browser(app, role, email=None):
    client = app.test_client()
    Auth(app, client).login(role, email)
    return client


def note(client, ref, body, internal=True):
    data = {"body": body, "status": ""}
    if internal:
        data["internal"] = "y"
    response = post_form(client, f"/tickets/{ref}", data, post_url=f"/tickets/{ref}/reply")
    assert response.status_code == 302, text_of(response)[:300]


def api_search(client, key, **params):
    return client.get("/api/v1/search/tickets", query_string=params, headers={"Authorization": f"Bearer {key}"})


def api_refs(client, key, **params) -> list[str]:
    response = api_search(client, key, **params)
    assert response.status_code == 200, response.get_json()
    return [r["reference"] for r in response.get_json()["results"]]


# --- ranking, text, notes -------------------------------------------------------------

def test_a_subject_match_ranks_above_a_message_match(client, auth, make_ticket):
    in_subject = make_ticket(subject="Followers dropped overnight", body="Please look into it.")
    in_body = make_ticket(subject="A question", body="Yesterday my followers went away.")
    make_ticket(subject="Unrelated", body="Likes arrived fine.")
    auth.login("agent")
    # The newer ticket would come first on a tie: the rank puts the subject match on top.
    assert refs(client, "/queue?q=followers") == [in_subject, in_body]
    assert refs(client, "/queue?q=FOLLOWERS") == [in_subject, in_body]


def test_message_text_and_an_internal_note_are_found_by_staff(app, client, auth, make_ticket, api_key):
    first = make_ticket(subject="Order stuck", body="The quokka ate my order, I think.")
    other = make_ticket(subject="Order stuck too", body="Nothing more to say.")
    auth.login("agent")
    assert refs(client, "/queue?q=quokka") == [first]
    note(client, other, "Suspected reseller: the wombat network again.")
    note(client, first, "A public answer about quokkas", internal=False)
    page = get_ok(client, "/queue?q=wombat")
    assert REF_RE.findall(page) == [other]
    assert "internal note</span> Suspected reseller: the <mark>wombat</mark> network again." in page
    # A later message is found as soon as it is written.
    assert refs(client, "/queue?q=quokkas") == [first]
    # A staff key searches the same notes.
    assert api_refs(client, api_key("staff"), q="wombat") == [other]


def test_internal_notes_are_left_out_when_asked(app, client, auth, make_ticket):
    """Staff always search notes; a caller for someone else (internal=False) never does."""
    from desk.auth.roles import queues_for
    from desk.tickets import queue, search

    ref = make_ticket(subject="Plain", body="Public words only.")
    auth.login("agent")
    note(client, ref, "Secret capybara remark.")
    with app.app_context():
        f = queue.QueueFilter(queues=queues_for("agent"), status=None, q="capybara")
        assert [h.ticket.reference for h in search.page(f, None, None, 10).hits] == [ref]
        assert search.page(f, None, None, 10, internal=False).hits == []
        assert search.count(f, None, 10, internal=False) == 0
        f.q = "public"
        [hit] = search.page(f, None, None, 10, internal=False).hits
        assert "capybara" not in hit.snippet


def test_the_highlight_escapes_what_people_wrote(client, auth, make_ticket):
    ref = make_ticket(subject='<img src=x onerror=alert(1)> refund please',
                      body='<script>alert("xss")</script> I want a refund <b>now</b> & "fast"')
    auth.login("agent")
    page = get_ok(client, "/queue?q=refund")
    [row] = ROW_RE.findall(page)
    assert "<script" not in row and "<img" not in row and "<b>" not in row
    assert "&lt;img src=x onerror=alert(1)&gt; <mark>refund</mark> please" in row
    assert "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt; I want a <mark>refund</mark> &lt;b&gt;now&lt;/b&gt;" in row
    # The only tags in the highlighted cells are ours.
    tags = set(re.findall(r"</?([a-z]+)", row))
    assert tags <= {"td", "a", "mark", "div", "span"}, tags
    assert ref in row


def test_words_inside_addresses_and_links_are_found(client, auth, make_ticket):
    link = make_ticket(subject="Drop", body="Likes on https://www.instagram.com/coolshop_official/p/Cx9 dropped")
    mail = make_ticket(subject="Hello", requester_email="bob.smith@example.org", body="Hi")
    auth.login("agent")
    assert refs(client, "/queue?q=coolshop") == [link]
    assert refs(client, "/queue?q=instagram.com/coolshop_official") == [link]
    assert refs(client, "/queue?q=smith") == [mail]
    assert refs(client, '/queue?q="bob smith"') == [mail]


# --- the query language -----------------------------------------------------------------

def test_phrases_or_and_leaving_out(client, auth, make_ticket):
    a = make_ticket(subject="Refill", body="the drop was big")
    b = make_ticket(subject="Refill", body="a big drop")
    c = make_ticket(subject="Cancel", body="a big mistake")
    auth.login("agent")
    assert refs(client, '/queue?q="big drop"') == [b]
    assert sorted(refs(client, "/queue?q=big drop")) == sorted([a, b])
    assert refs(client, "/queue?q=big -drop") == [c]
    assert sorted(refs(client, "/queue?q=mistake or was")) == sorted([a, c])


@pytest.mark.parametrize("query", ['"\'():*&|!', "&&", "'", '""', "-", "---"])
def test_odd_characters_get_a_message_not_an_error(client, auth, make_ticket, query, api_key):
    make_ticket()
    auth.login("agent")
    response = client.get("/queue", query_string={"q": query})
    assert response.status_code == 400
    assert "no letters or digits" in unescape(text_of(response))
    answer = api_search(client, api_key("staff"), q=query)
    assert answer.status_code == 422 and answer.get_json()["error"]["code"] == "invalid_query"


@pytest.mark.parametrize("query", ["NEAR(a b)", "a AND b", "subject:refund", "^start", "a*", "x OR", "or",
                                   "(refund", 'refund"', "col : x", "-\"x\" y", "🙂 refund", "Straße",
                                   "ticket_search", "'; DROP TABLE tickets; --", "\\", "%", "_"])
def test_operator_characters_are_words_or_nothing(client, auth, make_ticket, query, api_key):
    make_ticket(subject="Refund please", body="start over")
    auth.login("agent")
    response = client.get("/queue", query_string={"q": query})
    assert response.status_code in (200, 400), response.status_code
    assert api_search(client, api_key("staff"), q=query).status_code in (200, 422)


def test_bad_queries_are_refused_with_a_message(client, auth, make_ticket, api_key):
    make_ticket()
    auth.login("agent")
    long = client.get("/queue", query_string={"q": "refund " * 300})
    assert long.status_code == 400 and "at most 256 characters" in unescape(text_of(long))
    # The queue page is still there around the message, with its filters.
    assert 'name="status"' in text_of(long) and 'class="sidebar"' in text_of(long)
    only_out = client.get("/queue", query_string={"q": "-refund"})
    assert only_out.status_code == 400 and "add a word to look for" in unescape(text_of(only_out))
    many = client.get("/queue", query_string={"q": " ".join(f"w{i}" for i in range(40))})
    assert many.status_code == 400 and "at most 32 words" in text_of(many)
    blank = client.get("/queue", query_string={"q": "   "})
    assert blank.status_code == 400 and "Type something to search for" in text_of(blank)
    assert client.get("/queue", query_string={"q": "x\x00y"}).status_code == 200
    key = api_key("staff")
    for params in ({"q": "a" * 2000}, {"q": ""}, {}, {"q": "x", "status": "nope"}, {"q": "x", "queue": "nope"},
                   {"q": "x", "limit": "0"}, {"q": "x", "limit": "many"}, {"q": "x", "cursor": "!!"},
                   {"q": "x", "assignee": "me"}, {"q": "x", "kind": "nope"}):
        response = api_search(client, key, **params)
        assert response.status_code == 422, (params, response.status_code)
        assert response.get_json()["error"]["message"]


# --- filters, pages, exact lookups --------------------------------------------------------

def test_search_takes_the_queue_filters(app, client, auth, make_ticket):
    general = make_ticket(subject="Refund asked", kind="general")
    billing = make_ticket(subject="Refund asked", kind="refund")
    closed = make_ticket(subject="Refund asked", kind="general")
    auth.login("agent")
    me = auth.staff("agent")
    post_form(client, f"/tickets/{closed}", {"status": "closed", "priority": "normal", "tags": "vip"},
              post_url=f"/tickets/{closed}/update")
    post_form(client, f"/tickets/{general}", {"assignee": str(me)}, post_url=f"/tickets/{general}/assign")
    assert sorted(refs(client, "/queue?q=refund")) == sorted([general, billing, closed])  # any status by default
    assert sorted(refs(client, "/queue?q=refund&status=open")) == sorted([general, billing])
    assert refs(client, "/queue?q=refund&queue=billing") == [billing]
    assert refs(client, "/queue?q=refund&kind=refund") == [billing]
    assert refs(client, "/queue?q=refund&assignee=me") == [general]
    assert refs(client, "/queue?q=refund&tag=vip") == [closed]
    assert refs(client, "/queue?q=refund&status=closed") == [closed]


def test_cursor_pages_have_no_duplicates_and_no_total(make_app, backend):
    app = make_app(QUEUE_PAGE_SIZE=3)
    client = app.test_client()
    from conftest import file_ticket

    exact = [file_ticket(app, subject="Where is it", body="Nothing", order="555000") for _ in range(2)]
    # Equal texts rank equally: the newest id breaks the tie.
    text_hits = [file_ticket(app, subject="Question", body="About order 555000, again") for _ in range(5)]
    better = file_ticket(app, subject="Order 555000 555000", body="order 555000")
    Auth(app, client).login("agent")
    seen, url, pages = [], "/queue?q=555000", 0
    while url:
        page = get_ok(client, url)
        seen += REF_RE.findall(page)
        pages += 1
        found = re.search(r'href="(/queue\?[^"]*after=[^"]+)">More results', page)
        url = unescape(found.group(1)) if found else None
    assert pages == 3
    assert len(seen) == len(set(seen)) == 8
    assert seen[:2] == exact[::-1]  # the order id itself first, newest first
    assert seen[2] == better
    assert seen[3:] == text_hits[::-1]
    # The API pages the same way.
    from desk.auth.services import create_api_key
    from desk.audit.services import Actor

    with app.app_context():
        _, key = create_api_key("staff", "staff", Actor("system"))
    api_seen, cursor = [], None
    while True:
        params = {"q": "555000", "limit": "3", **({"cursor": cursor} if cursor else {})}
        body = api_search(client, key, **params).get_json()
        api_seen += [r["reference"] for r in body["results"]]
        assert "total" not in body
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert api_seen == seen
    assert body["results"][-1]["match"] == "text" and body["results"][-1]["rank"] > 0


def test_references_addresses_and_order_ids_are_found_exactly(client, auth, make_ticket, api_key):
    ref = make_ticket(subject="First", order="778899", requester_email="carol@example.org")
    mentions = make_ticket(subject="Second", body=f"See {ref} and 778899, from carol@example.org")
    auth.login("agent")
    page = get_ok(client, f"/queue?q={ref.lower()}")
    assert REF_RE.findall(page) == [ref, mentions]
    assert '<span class="badge match">reference</span>' in page
    assert refs(client, "/queue?q=778899") == [ref, mentions]
    assert refs(client, "/queue?q=Carol@Example.org") == [ref, mentions]
    assert refs(client, "/queue?q=77889") == []  # whole words, not prefixes
    body = api_search(client, api_key("staff"), q="778899").get_json()
    assert [(r["reference"], r["match"]) for r in body["results"]] == [(ref, "order"), (mentions, "text")]
    assert body["results"][0]["rank"] is None and "<mark>" in body["results"][1]["highlight"]["snippet"]


# --- who finds what ---------------------------------------------------------------------

def test_a_queue_the_viewer_may_not_open_is_never_searched(app, client, make_ticket, api_key):
    support = make_ticket(subject="Narwhal question", body="narwhal")
    abuse = make_ticket(subject="Narwhal spam ring", body="narwhal bots", kind="abuse", order="424242")
    privacy = make_ticket(subject="Narwhal data request", body="narwhal: delete my data", kind="privacy",
                          jurisdiction="eu")
    agent = browser(app, "agent")
    assert refs(agent, "/queue?q=narwhal") == [support]
    assert refs(agent, f"/queue?q={abuse}") == [] and refs(agent, "/queue?q=424242") == []
    assert refs(agent, "/queue?q=narwhal&queue=abuse") == []
    assert sorted(refs(browser(app, "trust_safety"), "/queue?q=narwhal")) == sorted([support, abuse])
    assert sorted(refs(browser(app, "privacy_officer"), "/queue?q=narwhal")) == sorted([support, privacy])
    assert refs(browser(app, "supervisor"), "/queue?q=narwhal") == [support]
    assert refs(browser(app, "admin"), "/queue?q=narwhal") == [support]
    key = api_key("staff")
    assert api_refs(client, key, q="narwhal") == [support]
    assert api_refs(client, key, q=abuse) == [] and api_refs(client, key, q="narwhal", queue="privacy") == []
    # Panel keys do not search at all.
    assert api_search(client, api_key("panel"), q="narwhal").status_code == 403
    assert client.get("/api/v1/search/tickets?q=narwhal").status_code == 401


# --- the index kept current ------------------------------------------------------------

def search_index_text(app) -> str:
    """Everything the search index holds, as text (PostgreSQL's lexemes, SQLite's columns)."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            rows = db.session.execute(text("SELECT document::text FROM ticket_search")).scalars()
        else:
            rows = (" ".join(r) for r in db.session.execute(text(
                "SELECT subject, refs, requester, public_text, internal_text FROM ticket_search")).all())
        return " ".join(rows).lower()


def test_the_index_follows_an_orders_link(app, client, auth, make_ticket, panel):
    panel.customer("alice")
    panel.order("1001", link="https://www.instagram.com/p/FIRSTPOST/")
    ref = make_ticket(subject="Refill", customer="alice", order="1001")
    later = make_ticket(subject="Refill again", order="1002")  # the order arrives after the ticket
    auth.login("agent")
    assert refs(client, "/queue?q=firstpost") == [ref]
    panel.order("1001", link="https://www.instagram.com/p/SECONDPOST/")
    assert refs(client, "/queue?q=firstpost") == [] and refs(client, "/queue?q=secondpost") == [ref]
    panel.order("1002", link="https://www.tiktok.com/@dancer/video/77")
    assert refs(client, "/queue?q=dancer") == [later]


@pytest.mark.postgresql_only
def test_the_refresh_keeps_its_plan_for_one_ticket_and_many(app, client, auth, make_ticket, panel):
    """Migration 0026: the refresh is PL/pgSQL (a SQL function was parsed and planned at
    every call); one ticket (an intake) and several (an order's link, shared by two
    tickets) are both refreshed, and an empty list writes nothing."""
    panel.order("2001", link="https://www.instagram.com/p/OLDPOST/")
    first, second = make_ticket(subject="Refill", order="2001"), make_ticket(subject="Refill too", order="2001")
    auth.login("agent")
    assert refs(client, "/queue?q=oldpost") == [second, first]
    panel.order("2001", link="https://www.instagram.com/p/NEWPOST/")  # one statement, two tickets
    assert refs(client, "/queue?q=oldpost") == [] and refs(client, "/queue?q=newpost") == [second, first]
    with app.app_context():
        language = db.session.execute(text(
            "SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
            "WHERE p.proname = 'desk_ticket_search_refresh'")).scalar_one()
        assert language == "plpgsql"
        before = db.session.execute(text("SELECT count(*) FROM ticket_search")).scalar_one()
        db.session.execute(text("SELECT desk_ticket_search_refresh(ARRAY[]::integer[])"))
        assert db.session.execute(text("SELECT count(*) FROM ticket_search")).scalar_one() == before
        db.session.rollback()


def test_the_index_is_kept_by_database_triggers(app, backend):
    names = {"ticket_search_ticket_insert", "ticket_search_ticket_update", "ticket_search_message_insert",
             "ticket_search_message_update", "ticket_search_message_delete", "ticket_search_order_insert",
             "ticket_search_order_update"}
    with app.app_context():
        if backend == "postgresql":
            found = set(db.session.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
        else:
            found = set(db.session.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
            names.add("ticket_search_ticket_delete")
    # A later migration that rebuilds tickets, messages or orders on SQLite must create them again.
    assert names <= found, names - found


def test_an_erased_persons_words_are_not_found(app, client, panel, make_ticket, auth, run_worker):
    from test_privacy_erasure import EMAIL, LOGIN, file_request, officer_posts, seed, verify_by_code

    mine, theirs = seed(app, panel, make_ticket, auth)
    agent = browser(app, "agent", "searcher@desk.test")
    note(agent, mine, "She said her cat is called Pumpernickel.")
    assert refs(agent, f"/queue?q={LOGIN}") == [mine]
    assert refs(agent, "/queue?q=pumpernickel") == [mine]
    assert refs(agent, "/queue?q=alicepost1") == [mine]
    assert refs(agent, f"/queue?q={EMAIL}") == [mine, theirs]
    filed = file_request(client)
    run_worker()
    verify_by_code(app, client, filed["reference"])
    assert officer_posts(client, auth, filed["reference"], "erase").status_code == 302
    run_worker()
    for words in (LOGIN, "pumpernickel", "alicepost1", "alice_dances", EMAIL, "Alice Smith", "smith"):
        assert refs(agent, "/queue?" + f"q={words}".replace(" ", "+")) == [], words
    index = search_index_text(app)
    for gone in ("pumpernickel", "alicepost1", "dances", "smith"):
        assert gone not in index, gone
    assert "recommended" in index  # the friend's own words stay, without her address


def _copy_row(table: str, row_id: int, **changed) -> int:
    """A copy of a row (every column but its id), with `changed` columns: raw SQL, so no
    ORM flush orders what the database sees."""
    columns = [c for c in db.session.execute(text(
        "SELECT column_name FROM information_schema.columns WHERE table_name = :t ORDER BY ordinal_position"),
        {"t": table}).scalars() if c != "id"]
    chosen = ", ".join(f":{c}" if c in changed else c for c in columns)
    return db.session.execute(text(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {chosen} FROM {table} "
                                   f"WHERE id = :row_id RETURNING id"), {"row_id": row_id, **changed}).scalar_one()


def _found(ticket_id: int, word: str) -> bool | None:
    return db.session.execute(text("SELECT document @@ to_tsquery('simple', :w) FROM ticket_search "
                                   "WHERE ticket_id = :id"), {"w": word, "id": ticket_id}).scalar_one_or_none()


@pytest.mark.postgresql_only
def test_a_new_tickets_document_is_written_once_whether_or_not_a_message_follows(app):
    """Migration 0025: the ticket and its first message (one intake) write its search
    document once, by the message's trigger; a ticket filed without a message, or whose
    message was rolled back with a savepoint, is indexed at COMMIT by the deferred trigger."""
    from desk.audit.services import SYSTEM
    from desk.tickets.models import Message, Ticket
    from desk.tickets.services import NewTicket, open_ticket

    with app.app_context():
        ticket, _ = open_ticket(NewTicket(subject="Zebracorn refill", body="The quokkaberry link is private.",
                                          requester_email="ann@example.com"), SYSTEM)
        db.session.flush()
        written = db.session.execute(text("SELECT n_tup_ins, n_tup_upd FROM pg_stat_xact_user_tables "
                                          "WHERE relname = 'ticket_search'")).one()
        assert tuple(written) == (1, 0)  # before 0025: (1, 1), the ticket's document built twice
        db.session.commit()
        assert _found(ticket.id, "zebracorn") and _found(ticket.id, "quokkaberry")
        message_id = db.session.execute(select(Message.id).where(Message.ticket_id == ticket.id)).scalar_one()

        bare = _copy_row("tickets", ticket.id, reference="T-99-000001", subject="Lonely wombat")
        assert _found(bare, "wombat") is None  # not yet: at COMMIT
        db.session.commit()
        assert _found(bare, "wombat") and not _found(bare, "quokkaberry")

        undone = _copy_row("tickets", ticket.id, reference="T-99-000002", subject="Sleepy axolotl")
        savepoint = db.session.begin_nested()
        _copy_row("messages", message_id, ticket_id=undone)
        savepoint.rollback()
        db.session.commit()
        assert _found(undone, "axolotl") and not _found(undone, "quokkaberry")
        assert db.session.get(Ticket, undone).subject == "Sleepy axolotl"
        assert not db.session.execute(select(Message.id).where(Message.ticket_id == undone)).first()
