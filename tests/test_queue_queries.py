"""The queue page's SQL does not grow with its rows (issues 10 and 11: a page of 50 tickets
in ≤ 50 ms): each row's tags, assignee and SLA clocks, and each saved view in the sidebar,
come with the page's few statements, never one statement per row or per view."""
import re

from sqlalchemy import event, select

from conftest import Auth, get_ok
from desk.audit.services import Actor
from desk.auth.models import Staff
from desk.extensions import db
from desk.tickets import fields, saved_views
from desk.tickets.models import Ticket
from desk.tickets.services import NewTicket, create_ticket, set_tags

REF_RE = re.compile(r'class="ref">(T-\d{2}-\d{6})</a>')
PAGES = ("/queue", "/queue?view={view}", "/queue?tag=vip&sort=newest", "/queue?status=&sort=oldest")


def statements_of(app, client, url) -> tuple[list[str], str]:
    """The SQL statements one GET of `url` sends, and the page."""
    sent = []

    def count(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        page = get_ok(client, url)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return sent, page


def add_tickets(app, how_many: int, assignees: list[int]):
    """Tickets in an agent's queues, each tagged, three in four assigned (to several
    colleagues, so the rows' assignees are different rows of staff)."""
    with app.app_context():
        people = [db.session.get(Staff, i) for i in assignees]
        for n in range(how_many):
            ticket, _ = create_ticket(NewTicket(subject=f"Order {n} not delivered", body="Nothing arrived yet.",
                                                requester_email=f"r{n}@example.com",
                                                kind=("general", "claim", "refund")[n % 3]), Actor("system"))
            set_tags(ticket, Actor("system"), {"vip", f"batch-{n % 7}"})
            if n % 4:
                ticket.assignee = people[n % len(people)]
            db.session.commit()


def test_queue_and_view_pages_send_as_many_statements_for_50_rows_as_for_5(make_app):
    # Counts and SLA settings kept for the test's length: a recount when they expire is
    # not a statement per row, and would make the two figures differ for nothing.
    app = make_app(QUEUE_COUNTS_TTL=3600, VIEW_COUNTS_TTL=3600, SLA_SETTINGS_CACHE_SECONDS=3600)
    client = app.test_client()
    auth = Auth(app, client)
    agents = [auth.staff("agent", f"agent{n}@desk.test") for n in range(6)]
    me = auth.staff("agent")
    admin = auth.staff("admin")
    with app.app_context():
        fields.define("platform", "Platform", None, "text", [], db.session.get(Staff, admin))
        viewer = db.session.get(Staff, me)
        # Views in the sidebar: the agent's own, colleagues' shared ones (their owners'
        # names shown), and views filtering by a custom field.
        for n, filters in enumerate(({"status": "open", "tag": "vip"}, {"status": "open"},
                                     {"status": "open", "field": "platform:instagram"})):
            saved_views.create(db.session.get(Staff, agents[n]), f"Shared {n}", filters, shared=True)
        view = saved_views.create(viewer, "Open vip", {"status": "open", "tag": "vip"}).id
        saved_views.create(viewer, "Mine", {"status": "open", "assignee": "me"})
        saved_views.create(viewer, "Newest", {"status": "open", "sort": "newest"})
        saved_views.create(viewer, "On Instagram", {"field": "platform:instagram"})
    pages = [url.format(view=view) for url in PAGES]

    def measure():
        for url in pages:
            get_ok(client, url)  # the counts and settings are read once, then kept
        return {url: statements_of(app, client, url) for url in pages}

    add_tickets(app, 5, agents + [me])
    auth.login("agent")
    few = measure()
    add_tickets(app, 45, agents + [me])
    many = measure()
    for url in pages:
        (before, small), (after, large) = few[url], many[url]
        assert len(REF_RE.findall(large)) == 50 > len(REF_RE.findall(small)) > 0
        assert len(after) == len(before), f"{url}: {len(before)} statements for 5 rows, {len(after)} for 50:\n" + \
            "\n".join(s[:120] for s in after)
        assert len(after) <= 10, f"{url}: {len(after)} statements:\n" + "\n".join(s[:120] for s in after)
    # The rows show what was loaded with the page: tags, assignees, due times.
    _, page = many["/queue"]
    assert "batch-6" in page and "agent5@desk.test" in page and "due in" in page
    with app.app_context():
        shown = set(REF_RE.findall(page))
        tickets = db.session.execute(select(Ticket).where(Ticket.reference.in_(shown))).scalars().all()
        assert {t.assignee.email for t in tickets if t.assignee} <= {f"agent{n}@desk.test" for n in range(6)} | {
            "agent@desk.test"}
