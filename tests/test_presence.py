"""Collision detection (issue 10): an agent sees who else has the ticket open, and whether
they are replying, from Redis (the machine's real one); never themselves; only on tickets
they may open; nothing at all, and no error, when Redis is down. Sending a reply after
someone else wrote asks first instead of sending blindly. The browser half is in
tests/test_browser.py."""
import json
import re
import time

import pytest
from sqlalchemy import select

from conftest import alert, csrf_from, get_ok, post_form, text_of
from desk.auth.models import Staff
from desk.extensions import db
from desk.tickets.models import Message, Ticket

PASSWORD = "correct horse battery staple"
SEEN_RE = re.compile(r'name="seen" type="hidden" value="(\d+)"')


def signed_in(app, auth, email, name, role="agent", **work):
    client = app.test_client()
    staff_id = auth.staff(role, email, PASSWORD)
    with app.app_context():
        member = db.session.get(Staff, staff_id)
        member.name = name
        for key, value in work.items():
            setattr(member, key, value)
        db.session.commit()
    assert post_form(client, "/login", {"email": email, "password": PASSWORD}).status_code == 302
    return client


def others(client, reference, **post):
    if post:
        page = get_ok(client, f"/tickets/{reference}")
        response = client.post(f"/tickets/{reference}/presence", data=post,
                               headers={"X-CSRFToken": csrf_from(page), "Accept": "application/json"})
    else:
        response = client.get(f"/tickets/{reference}/presence")
    assert response.status_code == 200, response.status_code
    return response.get_json()["others"]


def ticket_id(app, reference) -> int:
    with app.app_context():
        return db.session.execute(select(Ticket.id).where(Ticket.reference == reference)).scalar_one()


def test_two_agents_see_each_other_viewing_and_replying_but_never_themselves(app, auth, make_ticket, redis_server):
    ana = signed_in(app, auth, "ana@desk.test", "Ana")
    ben = signed_in(app, auth, "ben@desk.test", "Ben")
    reference = make_ticket()
    assert others(ana, reference) == []  # alone; and asking marked her
    assert others(ben, reference) == [{"name": "Ana", "state": "viewing", "text": "Ana is viewing"}]
    assert others(ana, reference) == [{"name": "Ben", "state": "viewing", "text": "Ben is viewing"}]
    # Ben types in the reply box: his page says so (a POST with the page's CSRF token).
    assert others(ben, reference, state="replying") == [{"name": "Ana", "state": "viewing", "text": "Ana is viewing"}]
    assert others(ana, reference) == [{"name": "Ben", "state": "replying", "text": "Ben is replying"}]
    # Polling on keeps him replying for a while (he may pause to think); it is not a new keystroke.
    assert others(ben, reference)[0]["state"] == "viewing"
    assert others(ana, reference)[0]["state"] == "replying"
    # Without a token the POST is refused like any other.
    assert ben.post(f"/tickets/{reference}/presence", data={"state": "replying"}).status_code == 400
    # Without script, the page itself says who was there when it was made.
    page = get_ok(ana, f"/tickets/{reference}")
    assert re.search(r'<div id="presence"[^>]*><p class="presence-line">Ben is replying</p></div>', page)
    # The marks live in one Redis hash per ticket that expires by itself.
    key = f"desk:presence:{ticket_id(app, reference)}"
    marks = redis_server.hgetall(key)
    assert {json.loads(v)["name"] for v in marks.values()} == {"Ana", "Ben"}
    assert 0 < redis_server.ttl(key) <= 60


def test_an_agent_who_left_drops_out(app, auth, make_ticket, redis_server):
    ana = signed_in(app, auth, "ana@desk.test", "Ana")
    ben = signed_in(app, auth, "ben@desk.test", "Ben")
    reference = make_ticket()
    others(ben, reference)
    key = f"desk:presence:{ticket_id(app, reference)}"
    field, value = next((f, v) for f, v in redis_server.hgetall(key).items())
    mark = json.loads(value)
    mark["at"] = time.time() - 61  # Ben's page stopped asking a minute ago
    redis_server.hset(key, field, json.dumps(mark))
    assert others(ana, reference) == []
    assert list(redis_server.hgetall(key)) == [str(ticket_staff(app, "ana@desk.test")).encode()]


def ticket_staff(app, email) -> int:
    with app.app_context():
        return db.session.execute(select(Staff.id).where(Staff.email == email)).scalar_one()


def test_presence_is_scoped_like_the_ticket(app, auth, make_ticket):
    claims_only = signed_in(app, auth, "cara@desk.test", "Cara", queues=["claims"])
    support = make_ticket()
    ana = signed_in(app, auth, "ana@desk.test", "Ana")
    others(ana, support)
    assert claims_only.get(f"/tickets/{support}/presence").status_code == 404
    page = get_ok(claims_only, "/queue")
    response = claims_only.post(f"/tickets/{support}/presence", data={"state": "replying"},
                                headers={"X-CSRFToken": csrf_from(page)})
    assert response.status_code == 404
    assert others(ana, support) == []  # and nothing of Cara was recorded
    assert app.test_client().get(f"/tickets/{support}/presence").status_code in (302, 401)


def test_with_redis_down_the_page_works_and_shows_nobody(make_app, auth, make_ticket):
    down = make_app(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    client = down.test_client()
    auth_down = type(auth)(down, client)
    auth_down.login("agent")
    from desk.audit.services import SYSTEM
    from desk.tickets.services import NewTicket, open_ticket

    with down.app_context():
        ticket, _ = open_ticket(NewTicket(subject="Help", body="Please.", requester_email="a@example.com",
                                          acknowledge=False), SYSTEM)
        db.session.commit()
        reference = ticket.reference
    page = get_ok(client, f"/tickets/{reference}")
    assert '<div id="presence"' in page and "is viewing" not in page
    assert client.get(f"/tickets/{reference}/presence").get_json() == {"others": []}


# --- replying after someone else --------------------------------------------------------------

def reply(client, reference, body, page, **fields):
    return client.post(f"/tickets/{reference}/reply", data={
        "csrf_token": csrf_from(page), "body": body, "seen": SEEN_RE.search(page).group(1), **fields})


def test_sending_after_someone_else_wrote_asks_first(app, auth, make_ticket):
    ana = signed_in(app, auth, "ana@desk.test", "Ana")
    ben = signed_in(app, auth, "ben@desk.test", "Ben")
    reference = make_ticket()
    anas_page = get_ok(ana, f"/tickets/{reference}")
    assert reply(ben, reference, "Ben answers first.", get_ok(ben, f"/tickets/{reference}")).status_code == 302
    response = reply(ana, reference, "Ana's answer, typed meanwhile.", anas_page)
    assert response.status_code == 409
    page = text_of(response)
    assert "Ben wrote on this ticket after you opened it. Nothing was sent" in alert(page).replace("&#39;", "'")
    assert "Ben answers first." in page and "Ana&#39;s answer, typed meanwhile." in page  # her words kept
    with app.app_context():
        assert db.session.execute(select(Message.body_text).where(Message.author_kind == "staff")).scalars().all() \
            == ["Ben answers first."]
    # She has read it; sending again from the page she now sees goes through.
    assert reply(ana, reference, "Ana's answer, typed meanwhile.", page).status_code == 302
    # Her own earlier reply is not "someone else", and an internal note never waits.
    assert reply(ana, reference, "Another word from Ana.", page).status_code == 302
    stale = get_ok(ana, f"/tickets/{reference}")
    assert reply(ben, reference, "Ben again.", get_ok(ben, f"/tickets/{reference}")).status_code == 302
    assert reply(ana, reference, "A note for the team.", stale, internal="y").status_code == 302


def test_a_new_message_from_the_requester_also_asks_first(app, auth, make_ticket):
    from desk.audit.services import Actor
    from desk.tickets import services

    ana = signed_in(app, auth, "ana@desk.test", "Ana")
    reference = make_ticket()
    page = get_ok(ana, f"/tickets/{reference}")
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        services.requester_reply(ticket, "Actually it arrived.", [], Actor("requester", None, ticket.requester_email))
    response = reply(ana, reference, "We will refill it.", page)
    assert response.status_code == 409 and "alice@example.com wrote on this ticket" in alert(text_of(response))


@pytest.mark.parametrize("seen", ["", "abc", "99999999999999999999"])
def test_a_missing_or_damaged_seen_field_sends_as_before(app, auth, make_ticket, seen):
    ana = signed_in(app, auth, "ana@desk.test", "Ana")
    reference = make_ticket()
    page = get_ok(ana, f"/tickets/{reference}")
    response = ana.post(f"/tickets/{reference}/reply", data={"csrf_token": csrf_from(page), "body": "Hi", "seen": seen})
    assert response.status_code == 302
