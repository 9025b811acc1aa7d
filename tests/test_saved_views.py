"""Saved views of the queue (issue 10) through HTTP, on SQLite and PostgreSQL: saving,
opening, renaming and deleting (who may), the sidebar's counts (the viewer's queues only,
capped, shared through Redis), views with words (a search) and views sorted by age."""
import re
from html import unescape

import pytest
from sqlalchemy import select

from conftest import Auth, csrf_from, get_ok, post_form, text_of
from desk.audit.models import AuditEvent
from desk.errors import ValidationError
from desk.extensions import db
from desk.tickets.models import SavedView, Ticket

REF_RE = re.compile(r'class="ref">(T-\d{2}-\d{6})</a>')
VIEW_RE = re.compile(r'data-view="(\d+)">\s*<span>(.*?)(?: <span class="shared"[^>]*>shared</span>)?</span>\s*'
                     r'<span class="count">([^<]+)</span>', re.S)


def browser(app, role, email=None):
    client = app.test_client()
    Auth(app, client).login(role, email)
    return client


def save(client, name, shared=False, **filters):
    data = {"name": name, **filters}
    if shared:
        data["shared"] = "y"
    return post_form(client, "/queue", data, post_url="/views")


def saved(client, name, shared=False, **filters) -> int:
    response = save(client, name, shared, **filters)
    assert response.status_code == 302, unescape(text_of(response))[:2000]
    return int(re.search(r"view=(\d+)", response.headers["Location"]).group(1))


def sidebar(client) -> dict[str, str]:
    """The views in the sidebar: name -> the count shown."""
    return {unescape(name): count for _, name, count in VIEW_RE.findall(get_ok(client, "/queue"))}


def refs(client, url) -> list[str]:
    return REF_RE.findall(get_ok(client, url))


def act(client, view_id, action, **data):
    page = client.get("/queue")
    return client.post(f"/views/{view_id}/{action}", data={"csrf_token": csrf_from(text_of(page)), **data})


def test_an_agent_saves_a_view_and_opens_it(app, client, auth, make_ticket):
    first = make_ticket(kind="refund", subject="Refund one")
    second = make_ticket(kind="refund", subject="Refund two")
    make_ticket(kind="withdrawal")
    make_ticket(kind="general")
    auth.login("agent")
    response = save(client, "  Open   refunds ", queue="billing", status="open", kind="refund")
    assert response.status_code == 302
    view_id = int(re.search(r"/queue\?view=(\d+)$", response.headers["Location"]).group(1))
    page = get_ok(client, f"/queue?view={view_id}")
    assert "Saved the view “Open refunds”." in page
    assert sorted(REF_RE.findall(page)) == sorted([first, second])
    assert '<h1>Open refunds</h1>' in page
    assert sidebar(client) == {"Open refunds": "2"}
    with app.app_context():
        row = db.session.get(SavedView, view_id)
        assert row.filters == {"queue": "billing", "status": "open", "kind": "refund"} and not row.shared
        assert db.session.execute(select(AuditEvent).where(AuditEvent.action == "view.created")).scalar_one()


def test_a_personal_view_is_its_owners_alone(app, client, auth, make_ticket):
    make_ticket()
    auth.login("agent")
    mine = saved(client, "Mine", status="open")
    for other in (browser(app, "agent", "other@desk.test"), browser(app, "supervisor"), browser(app, "admin")):
        assert "Mine" not in sidebar(other)
        assert other.get(f"/queue?view={mine}").status_code == 404
        assert act(other, mine, "rename", name="Stolen").status_code == 404
        assert act(other, mine, "delete").status_code == 404
    assert sidebar(client) == {"Mine": "1"}
    assert client.get("/queue?view=abc").status_code == 404 and client.get("/queue?view=99999999999").status_code == 404


def test_a_shared_view_is_seen_by_colleagues_and_kept_by_its_owner(app, client, auth, make_ticket):
    make_ticket()
    auth.login("agent")
    shared = saved(client, "Team queue", shared=True, status="open")
    colleague = browser(app, "agent", "other@desk.test")
    assert sidebar(colleague) == {"Team queue": "1"}
    assert "shared by agent@desk.test" in get_ok(colleague, f"/queue?view={shared}")
    assert act(colleague, shared, "rename", name="Ours now").status_code == 403
    assert act(colleague, shared, "delete").status_code == 403
    supervisor = browser(app, "supervisor")
    assert act(supervisor, shared, "rename", name="Renamed").status_code == 403  # renaming stays with the owner
    assert act(client, shared, "rename", name="Team, open").status_code == 302
    assert sidebar(colleague) == {"Team, open": "1"}
    assert act(supervisor, shared, "delete").status_code == 302
    assert sidebar(colleague) == {} and sidebar(client) == {}
    own = saved(client, "Short-lived", status="open")
    assert act(client, own, "delete").status_code == 302
    assert client.get(f"/queue?view={own}").status_code == 404


def test_views_show_and_count_only_the_viewers_queues(app, make_ticket):
    support = [make_ticket(subject="Question") for _ in range(2)]
    abuse = [make_ticket(kind="abuse", subject="Spam ring") for _ in range(3)]
    privacy = make_ticket(kind="privacy", subject="My data", jurisdiction="eu")
    trust = browser(app, "trust_safety")
    everything = saved(trust, "Everything open", shared=True, status="open")
    saved(trust, "Abuse only", shared=True, queue="abuse", status="open")
    searching = saved(trust, "Spam", shared=True, q="spam", status="any")
    assert sidebar(trust) == {"Everything open": "5", "Abuse only": "3", "Spam": "3"}
    agent = browser(app, "agent")
    # The abuse view is not the agent's; the others show the agent what the agent may see.
    assert sidebar(agent) == {"Everything open": "2", "Spam": "0"}
    assert sorted(refs(agent, f"/queue?view={everything}")) == sorted(support)
    assert refs(agent, f"/queue?view={searching}") == []
    abuse_view = next(v.id for v in _views(app) if v.name == "Abuse only")
    assert agent.get(f"/queue?view={abuse_view}").status_code == 404
    officer = browser(app, "privacy_officer")
    assert sidebar(officer) == {"Everything open": "3", "Spam": "0"}
    assert sorted(refs(officer, f"/queue?view={everything}")) == sorted(support + [privacy])
    assert abuse  # the trust & safety team's own view lists them
    assert sorted(refs(trust, f"/queue?view={abuse_view}")) == sorted(abuse)


def _views(app) -> list[SavedView]:
    with app.app_context():
        rows = db.session.execute(select(SavedView)).scalars().all()
        db.session.expunge_all()
        return rows


def test_counts_are_shared_for_a_while_and_capped(make_app, redis_server):
    app = make_app(VIEW_COUNT_CAP=3, VIEW_COUNTS_TTL=30)
    client = app.test_client()
    from conftest import file_ticket

    file_ticket(app)
    file_ticket(app)
    Auth(app, client).login("agent")
    saved(client, "Open", status="open")
    assert sidebar(client) == {"Open": "2"}
    file_ticket(app)
    file_ticket(app)
    # Counted a moment ago: the same figure until VIEW_COUNTS_TTL runs out…
    assert sidebar(client) == {"Open": "2"}
    assert any(key.startswith(b"desk:view-count:") for key in redis_server.keys())
    # …then counted again, no further than the cap: "2+" when 3 or more.
    for key in redis_server.keys("desk:view-count:*"):
        redis_server.delete(key)
    assert sidebar(client) == {"Open": "2+"}
    with app.app_context():
        from desk.auth.models import Staff
        from desk.tickets import saved_views

        agent = db.session.execute(select(Staff)).scalars().first()
        assert saved_views.count(db.session.execute(select(SavedView)).scalar_one(), agent) == 3
        assert saved_views.count_label(1000) == "2+" and saved_views.count_label(2) == "2"


def test_a_view_with_words_is_a_saved_search(client, auth, make_ticket):
    refund = make_ticket(subject="Refund please", body="my refund <b>now</b>")
    make_ticket(subject="Question", body="nothing here")
    closed = make_ticket(subject="Old refund")
    auth.login("agent")
    post_form(client, f"/tickets/{closed}", {"status": "closed", "priority": "normal", "tags": ""},
              post_url=f"/tickets/{closed}/update")
    view = saved(client, "Refunds, any status", q="refund", status="any")
    page = get_ok(client, f"/queue?view={view}")
    assert sorted(REF_RE.findall(page)) == sorted([refund, closed])
    assert "my <mark>refund</mark> &lt;b&gt;now&lt;/b&gt;" in page
    assert sidebar(client)["Refunds, any status"] == "2"
    open_only = saved(client, "Refunds, open", q="refund", status="open")
    assert refs(client, f"/queue?view={open_only}") == [refund]


def test_assignee_me_in_a_shared_view_means_whoever_looks(app, client, auth, make_ticket):
    mine, theirs = make_ticket(), make_ticket()
    auth.login("agent")
    me = auth.staff("agent")
    other = auth.staff("agent", "other@desk.test")
    post_form(client, f"/tickets/{mine}", {"assignee": str(me)}, post_url=f"/tickets/{mine}/assign")
    supervisor = browser(app, "supervisor")
    post_form(supervisor, f"/tickets/{theirs}", {"assignee": str(other)}, post_url=f"/tickets/{theirs}/assign")
    view = saved(client, "My open tickets", shared=True, assignee="me", status="open")
    assert refs(client, f"/queue?view={view}") == [mine]
    colleague = browser(app, "agent", "other@desk.test")
    assert refs(colleague, f"/queue?view={view}") == [theirs]
    assert sidebar(client)["My open tickets"] == "1" and sidebar(colleague)["My open tickets"] == "1"
    assert refs(supervisor, f"/queue?view={view}") == []


def test_a_view_sorted_by_age_pages_by_keyset(make_app):
    app = make_app(QUEUE_PAGE_SIZE=2)
    client = app.test_client()
    from conftest import file_ticket

    made = [file_ticket(app, subject=f"Ticket {n}") for n in range(5)]
    Auth(app, client).login("agent")
    for sort, expected in (("newest", made[::-1]), ("oldest", made)):
        view = saved(client, f"By age, {sort}", status="open", sort=sort)
        seen, url = [], f"/queue?view={view}"
        while url:
            page = get_ok(client, url)
            seen += REF_RE.findall(page)
            found = re.search(r'href="(/queue\?[^"]*after=[^"]+)">Next page', page)
            url = unescape(found.group(1)) if found else None
            assert not url or f"view={view}" in url
        assert seen == expected, sort
    # The queue page itself takes the sort too.
    assert REF_RE.findall(get_ok(client, "/queue?sort=newest"))[:2] == made[::-1][:2]


@pytest.mark.parametrize("name, filters, message", [
    ("", {"status": "open"}, "Give the view a name."),
    ("x" * 81, {"status": "open"}, "at most 80 characters"),
    ("Bad status", {"status": "bogus"}, "status: open, any or one of"),
    ("Bad kind", {"kind": "nope"}, "kind: one of"),
    ("Bad assignee", {"assignee": "99999999999"}, "assignee: me, none or a staff id"),
    ("Bad sort", {"sort": "random"}, "sort: one of"),
    ("Bad queue", {"queue": "nowhere"}, "queue: one of"),
    ("Not mine", {"queue": "abuse"}, "You do not work the abuse queue."),
    ("Nothing to find", {"q": "!!!"}, "no letters or digits"),
    ("Too long a search", {"q": "w " * 200}, "at most 256 characters"),
])
def test_bad_view_input_gets_a_message(client, auth, name, filters, message):
    auth.login("agent")
    response = save(client, name, **filters)
    assert response.status_code in (400, 422), response.status_code
    assert message in unescape(text_of(response))
    assert 'class="sidebar"' in text_of(response)
    assert sidebar(client) == {}


def test_names_are_unique_per_owner(app, client, auth):
    auth.login("agent")
    first = saved(client, "Mine")
    again = save(client, "mine")
    assert again.status_code == 422 and "You already have a view called “mine”." in unescape(text_of(again))
    second = saved(client, "Other")
    renamed = act(client, second, "rename", name="MINE")
    assert renamed.status_code == 422 and "already have a view" in unescape(text_of(renamed))
    assert act(client, second, "rename", name="   ").status_code == 422
    assert act(client, first, "rename", name="Mine").status_code == 302  # unchanged is fine
    # Another colleague may use the same name.
    assert saved(browser(app, "agent", "other@desk.test"), "Mine")


def test_a_view_stores_only_queue_filter_fields(app):
    from desk.tickets import saved_views

    with app.app_context():
        with pytest.raises(ValidationError, match="cannot filter by queues, secret"):
            saved_views.check_filters({"queues": "abuse", "secret": "x", "status": "open"})
        assert saved_views.check_filters({"status": "open", "tag": " VIP Customer ", "q": ""}) == {
            "status": "open", "tag": "vip-customer"}


def test_views_need_the_forms_token(client, auth):
    auth.login("agent")
    assert client.post("/views", data={"name": "x"}).status_code == 400


def test_a_views_name_is_shown_as_text(client, auth, make_ticket):
    make_ticket()
    auth.login("agent")
    view = saved(client, '<img src=x onerror=alert(1)> "mine"', status="open")
    page = get_ok(client, f"/queue?view={view}")
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt; &#34;mine&#34;" in page


def test_a_person_limited_to_a_queue_or_their_own_tickets_finds_nothing_else(app, auth, make_ticket):
    """issue 10: an agent limited to a queue cannot find its tickets through search, views
    or counts; one limited to their own tickets finds only those."""
    from desk.auth.models import Staff

    support = make_ticket(subject="Refund for the pineapple order")
    claim = make_ticket(kind="claim", subject="Pineapple followers dropped")
    mine = make_ticket(kind="claim", subject="Pineapple likes missing")
    supervisor = browser(app, "supervisor")
    everything = saved(supervisor, "All pineapples", shared=True, q="pineapple", status="any")
    open_view = saved(supervisor, "Everything open", shared=True, status="open")
    claims_agent = browser(app, "agent", "claims@desk.test")
    with app.app_context():
        person = db.session.execute(select(Staff).where(Staff.email == "claims@desk.test")).scalar_one()
        person.queues = ["claims"]
        db.session.commit()
        claims_id = person.id
    assert sorted(refs(claims_agent, "/queue?q=pineapple")) == sorted([claim, mine])
    assert support not in refs(claims_agent, "/queue?q=refund+pineapple")
    assert sorted(refs(claims_agent, f"/queue?view={everything}")) == sorted([claim, mine])
    assert sidebar(claims_agent) == {"All pineapples": "2", "Everything open": "2"}

    # Own tickets only: the same searches, views and counts shrink to what is assigned to them.
    with app.app_context():
        db.session.get(Staff, claims_id).own_only = True
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == mine)).scalar_one()
        ticket.assignee_id = claims_id
        db.session.commit()
    assert refs(claims_agent, "/queue?q=pineapple") == [mine]
    assert refs(claims_agent, "/queue?q=pineapple&assignee=none") == [mine]  # the filter cannot widen it
    assert refs(claims_agent, f"/queue?view={open_view}") == [mine]
    assert sidebar(claims_agent) == {"All pineapples": "1", "Everything open": "1"}
