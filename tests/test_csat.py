"""Satisfaction surveys (issue 10) through HTTP and a real RQ worker, on SQLite and
PostgreSQL: staff resolve a ticket, the worker mails the requester a link per answer; a
link only opens a page (a scanner fetching it records nothing); the page's button records
the answer, which a later one replaces within CSAT_WINDOW_DAYS; the dashboard shows the
results per queue and per agent."""
import re
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from sqlalchemy import select, update

from conftest import Auth, csrf_from, get_ok, post_form, text_of
from desk.audit.models import AuditEvent
from desk.audit.services import Actor
from desk.csat.models import Survey
from desk.extensions import db
from desk.jobs import OutboxEntry
from desk.mail.models import OutboundMail
from desk.tickets.models import Ticket
from desk.types import utcnow
from test_staff_ui import signed_in


def resolve_by_reply(client, ref, body="All done."):
    response = post_form(client, f"/tickets/{ref}", {"body": body, "status": "resolved"},
                         post_url=f"/tickets/{ref}/reply")
    assert response.status_code == 302, text_of(response)[:300]


def set_status(client, ref, status):
    response = post_form(client, f"/tickets/{ref}", {"status": status, "priority": "normal", "tags": ""},
                         post_url=f"/tickets/{ref}/update")
    assert response.status_code == 302


def survey_mail(app, ref) -> OutboundMail | None:
    with app.app_context():
        mail = db.session.execute(select(OutboundMail).where(OutboundMail.dedupe_key == f"csat:{ref}")
                                  ).scalar_one_or_none()
        db.session.expunge_all()
        return mail


def survey_of(app, ref) -> Survey | None:
    with app.app_context():
        found = db.session.execute(select(Survey).join(Ticket, Ticket.id == Survey.ticket_id)
                                   .where(Ticket.reference == ref)).scalar_one_or_none()
        db.session.expunge_all()
        return found


def links_in(mail) -> dict[str, str]:
    """{answer: path} of the survey links in the mail's text."""
    found = re.findall(r"^(http://desk\.test/survey/\S+/(good|bad))$", mail.body_text, re.M)
    return {answer: urlparse(url).path for url, answer in found}


def answer(client, path, rating, comment=""):
    page = get_ok(client, path)
    token_path = path.rsplit("/", 1)[0]
    return client.post(token_path, data={"csrf_token": csrf_from(page), "rating": rating, "comment": comment})


def surveyed(app, client, make_ticket, run_worker, **ticket_fields):
    """A ticket an agent resolved, its survey mailed by the worker: (reference, links)."""
    ref = make_ticket(**ticket_fields)
    resolve_by_reply(client, ref)
    run_worker()
    mail = survey_mail(app, ref)
    assert mail is not None and mail.status == "logged"
    return ref, links_in(mail)


# --- the survey mail ----------------------------------------------------------

def test_resolving_mails_the_requester_a_survey(app, auth, client, make_ticket, run_worker):
    auth.login("agent")
    ref = make_ticket(requester_name="Alice")
    resolve_by_reply(client, ref)
    run_worker()
    mail = survey_mail(app, ref)
    assert (mail.to_addr, mail.auto, mail.status) == ("alice@example.com", True, "logged")
    assert mail.subject == f"[{ref}] How did we do?"
    assert mail.body_text.startswith("Hello Alice,\n\nWe resolved your request")
    assert set(links_in(mail)) == {"good", "bad"}
    assert "You can change your answer for 7 days." in mail.body_text
    survey = survey_of(app, ref)
    assert survey.rating is None and survey.queue == "support"
    assert survey.agent_id == Auth(app, client).staff("agent")  # resolved by the agent, nobody assigned
    # The job again (a retry): the same survey, the same mail, sent once.
    run_worker()
    with app.app_context():
        entry = db.session.execute(select(OutboxEntry).where(OutboxEntry.func == "workers.csat.send_survey")
                                   ).scalar_one()
        assert entry.queue == "low"
        from desk.csat.services import send_survey

        assert send_survey(*entry.args) == "logged"
        assert len(db.session.execute(select(OutboundMail).where(OutboundMail.dedupe_key == f"csat:{ref}")
                                      ).scalars().all()) == 1


def test_the_assignee_is_rated_rather_than_whoever_resolved_it(app, make_ticket, run_worker):
    agent = signed_in(app, "agent", "ana@desk.test")
    ref = make_ticket()
    post_form(agent, f"/tickets/{ref}", {"assignee": str(Auth(app, agent).staff("agent", "ana@desk.test"))},
              post_url=f"/tickets/{ref}/assign")
    resolve_by_reply(signed_in(app, "supervisor"), ref)
    run_worker()
    assert survey_of(app, ref).agent_id == Auth(app, agent).staff("agent", "ana@desk.test")


def test_one_survey_per_ticket_and_none_once_reopened(app, make_ticket, run_worker):
    agent = signed_in(app, "agent")
    ref = make_ticket()
    set_status(agent, ref, "resolved")
    set_status(agent, ref, "open")  # reopened before the worker ran: nothing to rate yet
    run_worker()
    assert survey_mail(app, ref) is None and survey_of(app, ref) is None
    set_status(agent, ref, "resolved")
    run_worker()
    first = survey_mail(app, ref)
    assert first.status == "logged"
    set_status(agent, ref, "open")
    set_status(agent, ref, "resolved")  # resolved again: the ticket was surveyed already
    run_worker()
    with app.app_context():
        assert len(db.session.execute(select(Survey)).scalars().all()) == 1
        assert len(db.session.execute(select(OutboundMail).where(OutboundMail.dedupe_key.startswith("csat:"))
                                      ).scalars().all()) == 1


@pytest.mark.parametrize("fields", [
    {"kind": "abuse"}, {"kind": "abuse", "serious_harm": True}, {"kind": "rights"}, {"kind": "privacy"},
    {"kind": "chargeback"},
])
def test_kinds_that_hear_the_outcome_another_way_are_not_surveyed(app, make_ticket, fields):
    from desk.auth.services import find_staff
    from desk.tickets.services import find_ticket, set_status as change

    ref = make_ticket(**fields)
    Auth(app, app.test_client()).staff("trust_safety")
    with app.app_context():
        change(find_ticket(ref), Actor.staff(find_staff("trust_safety@desk.test")), "resolved")
        db.session.commit()
        assert db.session.execute(select(OutboxEntry).where(OutboxEntry.func == "workers.csat.send_survey")
                                  ).first() is None


def test_the_desk_resolving_a_ticket_itself_sends_no_survey(app, make_ticket):
    from desk.tickets.services import find_ticket, system_reply

    ref = make_ticket()
    with app.app_context():
        system_reply(find_ticket(ref), "Your refund was paid.", status="resolved")
        db.session.commit()
        assert db.session.execute(select(OutboxEntry).where(OutboxEntry.func == "workers.csat.send_survey")
                                  ).first() is None


# --- answering ----------------------------------------------------------------

def test_a_link_only_opens_the_page_and_the_button_records(app, client, make_ticket, run_worker):
    agent = signed_in(app, "agent")
    ref, links = surveyed(app, agent, make_ticket, run_worker)
    # A mail scanner fetching every link (and fetching them twice) records nothing.
    scanner = app.test_client()
    for path in (links["good"], links["bad"], links["good"]):
        assert scanner.get(path).status_code == 200
    assert survey_of(app, ref).rating is None
    page = get_ok(client, links["bad"])
    assert '<input checked id="rating-1" name="rating" required type="radio" value="bad">' in page
    assert "<script" not in page
    response = answer(client, links["bad"], "bad", "Took three days.")
    assert response.status_code == 200
    assert "Your answer — “Bad, I&#39;m not satisfied” — about" in text_of(response)
    survey = survey_of(app, ref)
    assert (survey.rating, survey.comment) == ("bad", "Took three days.") and survey.answered_at is not None
    with app.app_context():
        [event] = db.session.execute(select(AuditEvent).where(AuditEvent.action == "csat.answered")).scalars().all()
        assert event.data == {"rating": "bad", "before": None, "commented": True}
        assert event.actor_kind == "requester"
    # The answer shows on the ticket for staff.
    sidebar = get_ok(agent, f"/tickets/{ref}").split('id="satisfaction">', 1)[1].split("</dd>", 1)[0]
    assert "bad" in sidebar and "Took three days." in sidebar


def test_a_later_answer_replaces_the_earlier_within_the_window(app, client, make_ticket, run_worker):
    agent = signed_in(app, "agent")
    ref, links = surveyed(app, agent, make_ticket, run_worker)
    answer(client, links["bad"], "bad", "Slow.")
    page = get_ok(client, links["good"])
    assert "You answered “Bad”" in page and "Sending again replaces that answer." in page
    assert answer(client, links["good"], "good").status_code == 200
    survey = survey_of(app, ref)
    assert (survey.rating, survey.comment) == ("good", None)
    with app.app_context():
        events = db.session.execute(select(AuditEvent).where(AuditEvent.action == "csat.answered")
                                    .order_by(AuditEvent.id)).scalars().all()
        assert [(e.data["before"], e.data["rating"]) for e in events] == [(None, "bad"), ("bad", "good")]
    # Past the window (7 days from the mail) the link no longer works, and nothing changes.
    with app.app_context():
        db.session.execute(update(Survey).values(sent_at=utcnow() - timedelta(days=7, minutes=1)))
        db.session.commit()
    response = client.get(links["bad"])
    assert response.status_code == 404 and "survey links work for 7 days" in text_of(response)
    page_token = links["bad"].rsplit("/", 1)[0]
    response = client.post(page_token, data={"csrf_token": csrf_from(get_ok(client, "/contact")), "rating": "bad"})
    assert response.status_code == 404 and survey_of(app, ref).rating == "good"


def test_bad_links_and_answers_are_clear_4xx(app, client, make_ticket, run_worker):
    agent = signed_in(app, "agent")
    ref, links = surveyed(app, agent, make_ticket, run_worker)
    token_path = links["good"].rsplit("/", 1)[0]
    assert client.get(token_path + "x/good").status_code == 404  # a forged token
    assert client.get(token_path + "/great").status_code == 404  # no such answer
    page = get_ok(client, links["good"])
    response = client.post(token_path, data={"csrf_token": csrf_from(page), "rating": "meh"})
    assert response.status_code == 400 and "Not a valid choice" in text_of(response)
    response = client.post(token_path, data={"csrf_token": csrf_from(page)})
    assert response.status_code == 400 and "Choose Good or Bad." in text_of(response)
    response = client.post(token_path, data={"csrf_token": csrf_from(page), "rating": "good", "comment": "x" * 2001})
    assert response.status_code == 400
    response = client.post(token_path, data={"rating": "good"})  # no CSRF token: a page elsewhere cannot answer
    assert response.status_code == 400
    assert survey_of(app, ref).rating is None


def test_the_comment_is_inert_text_and_loses_card_numbers(app, client, make_ticket, run_worker):
    agent = signed_in(app, "agent")
    ref, links = surveyed(app, agent, make_ticket, run_worker)
    answer(client, links["good"], "good", "<script>alert(1)</script> paid with 4111 1111 1111 1111")
    survey = survey_of(app, ref)
    assert "4111 1111 1111 1111" not in survey.comment and survey.comment.startswith("<script>alert(1)</script>")
    page = get_ok(agent, f"/tickets/{ref}")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- results on the dashboard -------------------------------------------------

def csat_tables(page: str) -> dict[str, dict[str, list[str]]]:
    """{'Per queue'|'Per agent': {row name: [7-day cell, 30-day cell]}} from the dashboard."""
    section = page.split('<section class="card" id="csat">', 1)[1].split("</section>", 1)[0]
    tables = {}
    for title, body in re.findall(r"<th>(Per queue|Per agent)</th>.*?<tbody>(.*?)</tbody>", section, re.S):
        rows = re.findall(r'<th scope="row">(.*?)</th>(.*?)</tr>', body, re.S)
        tables[title] = {name: [" ".join(re.sub(r"<[^>]+>", " ", c).split())
                                for c in re.findall(r'<td class="num">(.*?)</td>', cells, re.S)]
                         for name, cells in rows}
    return tables


def test_the_dashboard_shows_results_per_queue_and_agent(make_app, make_ticket, run_worker):
    app = make_app(DASHBOARD_TTL=60)
    ana, bo = signed_in(app, "agent", "ana@desk.test"), signed_in(app, "agent", "bo@desk.test")
    requester = app.test_client()
    answers = [(ana, "good"), (ana, "good"), (ana, "bad"), (bo, "good")]
    refs = []
    for n, (agent, rating) in enumerate(answers):
        ref, links = surveyed(app, agent, make_ticket, run_worker, requester_email=f"r{n}@example.com")
        answer(requester, links[rating], rating)
        refs.append(ref)
    with app.app_context():
        # Bo's answer came 10 days ago: in the 30 days, not in the 7.
        ticket_id = db.session.execute(select(Ticket.id).where(Ticket.reference == refs[-1])).scalar_one()
        db.session.execute(update(Survey).where(Survey.ticket_id == ticket_id)
                           .values(answered_at=utcnow() - timedelta(days=10)))
        db.session.commit()
    sup = signed_in(app, "supervisor")
    tables = csat_tables(get_ok(sup, "/dashboard"))
    assert tables["Per queue"] == {"Support": ["66.7% of 3", "75.0% of 4"]}
    assert tables["Per agent"] == {"ana@desk.test": ["66.7% of 3", "66.7% of 3"],
                                   "bo@desk.test": ["no answers", "100.0% of 1"]}
    # Cached like the dashboard's other figures: a new answer shows once the minute is up.
    ref, links = surveyed(app, bo, make_ticket, run_worker, requester_email="late@example.com")
    answer(requester, links["bad"], "bad")
    assert csat_tables(get_ok(sup, "/dashboard"))["Per agent"]["bo@desk.test"] == ["no answers", "100.0% of 1"]
    from desk.jobs import get_redis

    with app.app_context():
        for key in get_redis().scan_iter("desk:dashboard:*"):
            get_redis().delete(key)
    assert csat_tables(get_ok(sup, "/dashboard"))["Per agent"]["bo@desk.test"] == ["0.0% of 1", "50.0% of 2"]
    # Agents do not see the dashboard.
    assert ana.get("/dashboard").status_code == 403


def test_survey_window_is_a_setting(make_app):
    with pytest.raises(ValueError, match="CSAT_WINDOW_DAYS must be at least 1"):
        make_app(CSAT_WINDOW_DAYS=0)
