"""Assignment and where each person works (issue 10): round robin and least loaded among the
agents on shift, not away and under their limit; tickets that came while support was closed
handed out when it opens; limits on assignment by hand; and staff limited to their queues
or to their own tickets, enforced on every staff route that names a ticket, on the queue
and on its counts."""
import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from conftest import csrf_from, file_ticket, post_form, text_of
from desk.auth.models import Staff
from desk.extensions import db
from desk.policy.assignment import Candidate, choose, over_limit
from desk.sla.models import Holiday, SupportDay
from desk.tickets.models import QueueSetting, Ticket

PASSWORD = "correct horse battery staple"


# --- the pure rule ------------------------------------------------------------------------

@pytest.mark.parametrize("mode, people, last, chosen", [
    ("manual", [Candidate(1, 0)], None, None),
    ("round_robin", [Candidate(3, 0), Candidate(1, 0), Candidate(2, 0)], None, 1),
    ("round_robin", [Candidate(1, 0), Candidate(2, 0), Candidate(3, 0)], 1, 2),
    ("round_robin", [Candidate(1, 0), Candidate(2, 0), Candidate(3, 0)], 3, 1),  # wraps round
    ("round_robin", [Candidate(1, 0), Candidate(2, 0, away=True), Candidate(3, 0)], 1, 3),
    ("round_robin", [Candidate(1, 0), Candidate(2, 5, max_open=5), Candidate(3, 0)], 1, 3),
    ("round_robin", [Candidate(1, 0)], 9, 1),  # the last one left the queue
    ("least_loaded", [Candidate(1, 4), Candidate(2, 1), Candidate(3, 1)], None, 2),
    ("least_loaded", [Candidate(1, 4), Candidate(2, 1, away=True), Candidate(3, 2)], None, 3),
    ("least_loaded", [Candidate(1, 2, max_open=2), Candidate(2, 9)], None, 2),
    ("least_loaded", [Candidate(1, 2, max_open=2), Candidate(2, 0, away=True)], None, None),
    ("round_robin", [], None, None),
])
def test_who_gets_the_ticket(mode, people, last, chosen):
    assert choose(mode, people, last) == chosen


def test_an_unknown_mode_is_refused_and_the_limit_is_inclusive():
    with pytest.raises(ValueError):
        choose("lottery", [Candidate(1, 0)])
    assert over_limit(5, 5) and not over_limit(4, 5) and not over_limit(500, None)


# --- helpers ------------------------------------------------------------------------------

@pytest.fixture
def app(make_app):
    return make_app(SLA_SETTINGS_CACHE_SECONDS=0)


def always_open(app):
    with app.app_context():
        for weekday in range(7):
            db.session.merge(SupportDay(weekday=weekday, opens=0, closes=24 * 60, closed=False))
        db.session.commit()


def closed_today(app):
    from zoneinfo import ZoneInfo

    with app.app_context():
        today = datetime.now(timezone.utc).astimezone(ZoneInfo("Asia/Singapore")).date()
        db.session.add(Holiday(day=today, name="Closed for the test"))
        db.session.commit()


def open_again(app):
    with app.app_context():
        db.session.query(Holiday).delete()
        db.session.commit()


def mode(app, queue, assignment):
    with app.app_context():
        db.session.merge(QueueSetting(queue=queue, assignment=assignment))
        db.session.commit()


def staff(auth, app, email, role="agent", **work):
    staff_id = auth.staff(role, email, PASSWORD)
    if work:
        with app.app_context():
            member = db.session.get(Staff, staff_id)
            for key, value in work.items():
                setattr(member, key, value)
            db.session.commit()
    return staff_id


def holder(app, reference):
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        return ticket.assignee.email if ticket.assignee else None


def signed_in_as(app, auth, email, role="agent"):
    return auth.client_for(role, email), auth.staff(role, email)


# --- automatic assignment -------------------------------------------------------------------

def test_round_robin_hands_new_tickets_out_in_turn(app, auth, make_ticket):
    always_open(app)
    mode(app, "support", "round_robin")
    for name in ("a", "b", "c"):
        staff(auth, app, f"{name}@desk.test")
    staff(auth, app, "away@desk.test", away=True)
    staff(auth, app, "claims-only@desk.test", queues=["claims"])
    staff(auth, app, "admin@desk.test", role="admin")  # admins configure; they are not given the queue's work
    given = [holder(app, make_ticket()) for _ in range(4)]
    assert given == ["a@desk.test", "b@desk.test", "c@desk.test", "a@desk.test"]
    # A claim goes to the Claims queue, which assigns by hand.
    assert holder(app, make_ticket(kind="claim")) is None


def test_least_loaded_skips_the_full_and_the_away(app, auth, make_ticket):
    always_open(app)
    mode(app, "support", "least_loaded")
    staff(auth, app, "busy@desk.test", max_open=1)
    staff(auth, app, "free@desk.test")
    first, second = holder(app, make_ticket()), holder(app, make_ticket())
    assert first == "busy@desk.test"  # both hold none: the lower id
    assert second == "free@desk.test"  # busy is at its limit of one
    assert holder(app, make_ticket()) == "free@desk.test"  # busy is still full
    with app.app_context():
        db.session.execute(select(Staff).where(Staff.email == "free@desk.test")).scalar_one().away = True
        db.session.commit()
    assert holder(app, make_ticket()) is None  # nobody available: it waits, unassigned


def test_tickets_that_came_while_support_was_closed_are_handed_out_when_it_opens(app, auth, make_ticket,
                                                                                  run_worker):
    mode(app, "support", "round_robin")
    staff(auth, app, "a@desk.test")
    closed_today(app)
    reference = make_ticket()
    assert holder(app, reference) is None  # nobody is on shift
    always_open(app)
    open_again(app)
    from desk import jobs

    with app.app_context():
        jobs.enqueue("workers.tickets.assign_waiting")
        db.session.commit()
        jobs.dispatch()
    run_worker()
    assert holder(app, reference) == "a@desk.test"
    with app.app_context():
        assert jobs.queue_for("default").failed_job_registry.count == 0


def test_automatic_assignment_is_audited_with_its_mode_and_rule(app, auth, make_ticket):
    from desk.audit.models import AuditEvent

    always_open(app)
    mode(app, "support", "round_robin")
    staff(auth, app, "a@desk.test")
    reference = make_ticket()
    with app.app_context():
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "ticket.assignee",
                                                            AuditEvent.subject_id == reference)).scalar_one()
        assert event.data["mode"] == "round_robin" and event.data["rule"] == "terms-33-support-hours"
        assert event.actor_kind == "system"


# --- by hand --------------------------------------------------------------------------------

def assign(client, reference, staff_id):
    page = client.get(f"/tickets/{reference}")
    return client.post(f"/tickets/{reference}/assign",
                       data={"csrf_token": csrf_from(text_of(page)), "assignee": str(staff_id)})


def test_assigning_by_hand_respects_limits_and_queues(app, auth, make_ticket):
    supervisor, _ = signed_in_as(app, auth, "sup@desk.test", "supervisor")
    full = staff(auth, app, "full@desk.test", max_open=1)
    claims_only = staff(auth, app, "claims@desk.test", queues=["claims"])
    first, second = make_ticket(), make_ticket()
    assert assign(supervisor, first, full).status_code == 302 and holder(app, first) == "full@desk.test"
    response = assign(supervisor, second, full)
    page = text_of(supervisor.get(response.headers["Location"]))
    assert "already holds 1 open tickets, their limit" in page and holder(app, second) is None
    assign(supervisor, second, claims_only)
    assert "does not work the support queue" in text_of(supervisor.get(f"/tickets/{second}"))
    assert holder(app, second) is None


def test_an_agent_assigns_to_themselves_and_marks_themselves_away(app, auth, make_ticket):
    agent, agent_id = signed_in_as(app, auth, "me@desk.test")
    reference = make_ticket()
    page = text_of(agent.get(f"/tickets/{reference}"))
    assert "Assign to me" in page
    assert assign(agent, reference, agent_id).status_code == 302 and holder(app, reference) == "me@desk.test"
    page = text_of(agent.get("/queue"))
    response = agent.post("/me/away", data={"csrf_token": csrf_from(page), "away": "on"})
    assert response.status_code == 302
    page = text_of(agent.get("/queue"))
    assert "You are marked away" in page and '<span class="badge warn">away</span>' in page
    with app.app_context():
        assert db.session.get(Staff, agent_id).away is True
    agent.post("/me/away", data={"csrf_token": csrf_from(page)})
    with app.app_context():
        assert db.session.get(Staff, agent_id).away is False
    assert agent.post("/me/away", data={"away": "on"}).status_code == 400  # no CSRF token


# --- where people work ----------------------------------------------------------------------

def listed(page: str) -> set[str]:
    return set(re.findall(r"T-\d{2}-\d{6}", page))


def ticket_routes(app) -> list[tuple[str, str]]:
    """Every staff route that names a ticket by its reference, with its method."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/tickets/<reference>"):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                routes.append((method, rule.rule))
    return routes


def fill(rule: str, reference: str) -> str:
    path = rule.replace("<reference>", reference)
    return re.sub(r"<[^>]+>", "1", path)


def test_staff_limited_to_a_queue_reach_none_of_the_others_tickets(app, auth, make_ticket):
    claims_agent, _ = signed_in_as(app, auth, "claims@desk.test")
    with app.app_context():
        db.session.execute(select(Staff).where(Staff.email == "claims@desk.test")).scalar_one().queues = ["claims"]
        db.session.commit()
    support = make_ticket(subject="A support question")
    claim = make_ticket(subject="A claim", kind="claim")
    page = text_of(claims_agent.get("/queue"))
    assert claim in listed(page) and support not in listed(page)
    assert "A support question" not in page
    counts = dict(re.findall(r'queue=(\w+)"[^>]*>\w+ <span class="count">(\d+)</span>', page))
    assert counts == {"claims": "1"}  # no count of the support queue, nor of its tickets
    assert support not in listed(text_of(claims_agent.get("/queue?queue=support")))
    token = csrf_from(page)
    routes = ticket_routes(app)
    assert len(routes) >= 10
    for method, rule in routes:
        url = fill(rule, support)
        response = claims_agent.get(url) if method == "GET" else claims_agent.post(url, data={"csrf_token": token})
        assert response.status_code in (403, 404), (method, rule, response.status_code)
    assert claims_agent.get(f"/tickets/{claim}").status_code == 200


def test_staff_limited_to_their_own_tickets_see_only_those(app, auth, make_ticket):
    mine_only, me = signed_in_as(app, auth, "own@desk.test")
    with app.app_context():
        db.session.get(Staff, me).own_only = True
        db.session.commit()
    supervisor, _ = signed_in_as(app, auth, "sup@desk.test", "supervisor")
    mine, theirs, nobodys = make_ticket(subject="Mine"), make_ticket(subject="Theirs"), make_ticket(subject="Nobody's")
    other = staff(auth, app, "other@desk.test")
    assign(supervisor, mine, me)
    assign(supervisor, theirs, other)
    page = text_of(mine_only.get("/queue"))
    assert listed(page) == {mine}
    # The filter cannot widen it: "assignee" is always them.
    assert listed(text_of(mine_only.get("/queue?assignee=none"))) == {mine}
    assert listed(text_of(mine_only.get(f"/queue?assignee={other}"))) == {mine}
    token = csrf_from(page)
    for reference in (theirs, nobodys):
        for method, rule in ticket_routes(app):
            url = fill(rule, reference)
            response = mine_only.get(url) if method == "GET" else mine_only.post(url, data={"csrf_token": token})
            assert response.status_code in (403, 404), (method, rule, response.status_code)
    assert mine_only.get(f"/tickets/{mine}").status_code == 200


# --- the admin pages ------------------------------------------------------------------------

def test_admins_set_where_people_work_and_how_queues_assign(app, auth):
    admin, _ = signed_in_as(app, auth, "admin@desk.test", "admin")
    agent = staff(auth, app, "agent@desk.test")
    url = f"/admin/staff/{agent}"
    response = post_form(admin, url, {"queues": ["claims", "billing"], "own_only": "y", "max_open": "12",
                                      "active": "y"})
    assert response.status_code == 302
    with app.app_context():
        member = db.session.get(Staff, agent)
        assert (sorted(member.queues), member.own_only, member.max_open, member.away, member.active) == (
            ["billing", "claims"], True, 12, False, True)
    # A queue outside the role is refused with the reason; nothing changes.
    response = post_form(admin, url, {"queues": ["abuse"], "active": "y"})
    assert response.status_code == 400
    response = post_form(admin, url, {"max_open": "0", "active": "y"})
    assert response.status_code == 400 and 'id="max_open-error"' in text_of(response)
    with app.app_context():
        assert db.session.get(Staff, agent).max_open == 12
    page = text_of(admin.get("/admin/staff"))
    assert "billing, claims, own tickets only, at most 12 open" in page

    response = post_form(admin, "/admin/assignment", {"support": "least_loaded", "claims": "round_robin"})
    assert response.status_code == 302
    with app.app_context():
        modes = dict(db.session.execute(select(QueueSetting.queue, QueueSetting.assignment)).all())
        assert modes["support"] == "least_loaded" and modes["claims"] == "round_robin"
    post_form(admin, "/admin/assignment", {"support": "lottery"})
    assert "must be one of" in text_of(admin.get("/admin/assignment"))
    # Agents may not.
    agent_client, _ = signed_in_as(app, auth, "agent@desk.test")
    assert agent_client.get("/admin/assignment").status_code == 403
    assert agent_client.get(url).status_code == 403


# --- the API, with a key that belongs to a person -------------------------------------------

def test_a_persons_api_key_works_only_within_their_queues_and_scope(app, auth, make_ticket, panel):
    admin = auth.client_for("admin", "admin@desk.test")
    claims_agent = staff(auth, app, "claims@desk.test", queues=["claims"])
    page = text_of(admin.get("/admin/api-keys"))
    response = admin.post("/admin/api-keys", data={"csrf_token": csrf_from(page), "name": "Ana's scripts",
                                                   "role": "staff", "staff": str(claims_agent)})
    key = re.search(r'<pre class="secret">([^<]+)</pre>', text_of(response)).group(1)
    assert "claims@desk.test" in text_of(admin.get("/admin/api-keys"))
    headers = {"Authorization": f"Bearer {key}"}
    api = app.test_client()
    support = make_ticket(subject="A support question")
    claim = make_ticket(subject="A claim", kind="claim")
    assert api.get(f"/api/v1/tickets/{support}", headers=headers).status_code == 404
    assert api.get(f"/api/v1/tickets/{claim}", headers=headers).status_code == 200
    listed_refs = {t["reference"] for t in api.get("/api/v1/tickets", headers=headers).get_json()["items"]}
    assert listed_refs == {claim}
    assert api.post(f"/api/v1/tickets/{support}/messages", json={"body": "x"}, headers=headers).status_code == 404
    # Billing and Support operations are another queue's work.
    panel.customer("alice")
    response = api.post("/api/v1/withdrawals/quote", json={"customer": "alice"}, headers=headers)
    assert response.status_code == 403 and "does not work the billing queue" in response.get_json()["error"]["message"]
    assert api.get("/api/v1/money-requests", headers=headers).status_code == 403
    # Own tickets only: the key follows the person.
    with app.app_context():
        db.session.get(Staff, claims_agent).own_only = True
        db.session.commit()
    from desk.auth.access import forget_api_keys

    with app.app_context():
        forget_api_keys()
    assert api.get(f"/api/v1/tickets/{claim}", headers=headers).status_code == 404
    assert api.get("/api/v1/tickets", headers=headers).get_json()["items"] == []
    # And it stops with their account.
    with app.app_context():
        db.session.get(Staff, claims_agent).active = False
        db.session.commit()
        forget_api_keys()
    assert api.get(f"/api/v1/tickets/{claim}", headers=headers).status_code == 401


def test_only_a_staff_key_belongs_to_a_person(app, auth, runner):
    staff(auth, app, "ana@desk.test")
    result = runner.invoke(args=["desk", "api-key", "create", "panel", "--role", "panel", "--staff", "ana@desk.test"])
    assert result.exit_code != 0 and "Only a staff key belongs to a person" in result.output
    result = runner.invoke(args=["desk", "api-key", "create", "scripts", "--role", "staff", "--staff", "nobody@x.y"])
    assert result.exit_code != 0 and "No staff member nobody@x.y" in result.output
    result = runner.invoke(args=["desk", "api-key", "create", "scripts", "--role", "staff", "--staff", "ana@desk.test"])
    assert result.exit_code == 0, result.output


def test_a_queue_mode_set_in_another_process_counts_there_within_the_settings_cache(app, auth, make_app):
    """Every intake asks its queue's mode, so each process remembers it for
    SETTINGS_CACHE_SECONDS: a change made in this process counts at once, one made in
    another when what this one remembers expires."""
    from desk.remembered import forget
    from desk.tickets.assignment import MODES

    always_open(app)
    staff(auth, app, "a@desk.test")
    web = make_app(SETTINGS_CACHE_SECONDS=3600)  # a gunicorn worker that filed a ticket a moment ago
    uncached = make_app(SETTINGS_CACHE_SECONDS=0)
    assert holder(app, file_ticket(web)) is None  # the support queue assigns by hand: web remembers that
    mode(app, "support", "round_robin")  # an admin, in another process
    assert holder(app, file_ticket(uncached)) == "a@desk.test"
    assert holder(app, file_ticket(web)) is None  # until web's remembered mode expires
    with web.app_context():
        forget(MODES)
    assert holder(app, file_ticket(web)) == "a@desk.test"
    mode(web, "support", "manual")  # written by web itself: counts there at once
    assert holder(app, file_ticket(web)) is None
