"""SLA clocks end to end: the clocks a ticket gets at intake, pausing while it waits on the
customer, stopping on the action each target measures, the sweep's reminders and
escalations (CLI and scheduled job, mails sent by a real worker), recomputing due times
after the calendar changed, and how clocks read on the staff pages.

Intake of privacy, abuse and rights-holder tickets has no public route yet: those tickets
are filed with desk.tickets.services.create_ticket as the system. Every test runs on
SQLite and on PostgreSQL."""
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select

from conftest import file_ticket, get_ok, post_form, text_of
from desk import jobs
from desk.audit.models import AuditEvent
from desk.audit.services import SYSTEM
from desk.auth.models import Staff
from desk.errors import ValidationError
from desk.extensions import db
from desk.mail.models import OutboundMail
from desk.policy.calendar import (
    DEFAULT_CALENDAR, Calendar, add_business_days, add_calendar_days, add_support_minutes, add_support_time,
    support_time_between,
)
from desk.policy.sla import DEFAULT_TARGETS, duration_words
from desk.sla import settings
from desk.sla.display import clock_text
from desk.sla.models import SlaEvent, TicketClock
from desk.tickets.models import NO_DUE, Ticket
from desk.types import utcnow

SGT = ZoneInfo("Asia/Singapore")
SUPPORT = "terms-33-support-hours"
GENERAL = DEFAULT_TARGETS["general"]  # 240 / 2340 support minutes
FIRST_RESPONSE_S = GENERAL.first_response * 60
RESOLUTION_S = GENERAL.resolution * 60
ROW_RE = re.compile(r'class="ref">(T-\d{2}-\d{6})</a>.*?<td class="(due[^"]*)"[^>]*>([^<]*)</td>', re.S)
# The rule id is linked to its help article (desk.help.articles.rule_link).
CLOCK_HEAD_RE = re.compile(r'<div class="clock-head"><strong>([^<]*)</strong> '
                           r'<a href="[^"]*#[^"]*" class="rule-link"><code>([^<]*)</code></a></div>')


# --- helpers -----------------------------------------------------------------

def sgt(year, month, day, hour=0, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SGT)


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def support_ago(minutes: int) -> datetime:
    """The instant exactly `minutes` of support time before now (default calendar)."""
    now = utcnow()
    left = timedelta(minutes=minutes)
    day = DEFAULT_CALENDAR.local_date(now)
    while True:
        window = DEFAULT_CALENDAR.window_on(day)
        if window is not None:
            opens, closes = window
            end = min(closes, now)
            if end > opens:
                if left <= end - opens:
                    start = end - left
                    assert support_time_between(start, now) == timedelta(minutes=minutes)
                    return start
                left -= end - opens
        day -= timedelta(days=1)


def load(app, ref):
    """(ticket, {clock name: clock}) as stored, detached."""
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == ref)).scalar_one()
        clocks = {c.name: c for c in ticket.clocks}
        db.session.expunge_all()
        return ticket, clocks


def staff(app, auth, role, email, active=True) -> Staff:
    staff_id = auth.staff(role, email=email)
    with app.app_context():
        row = db.session.get(Staff, staff_id)
        if not active:
            row.active = False
            db.session.commit()
        db.session.expunge(row)
        return row


def assign_to(app, ref, assignee_id):
    from desk.tickets import services

    with app.app_context():
        boss = db.session.execute(select(Staff).where(Staff.role == "supervisor")).scalars().first()
        services.assign(services.find_ticket(ref), boss, db.session.get(Staff, assignee_id))


def sla_mails(app) -> list[tuple[str, str]]:
    """(to, subject) of every SLA notice written, by recipient."""
    with app.app_context():
        mails = db.session.execute(
            select(OutboundMail).where(OutboundMail.dedupe_key.like("sla:%")).order_by(OutboundMail.to_addr)
        ).scalars().all()
        assert all(m.status == "logged" for m in mails)  # delivered (MAIL_SERVER unset: logged)
        return [(m.to_addr, m.subject) for m in mails]


def sla_events(app, kind=None) -> list[SlaEvent]:
    with app.app_context():
        query = select(SlaEvent).order_by(SlaEvent.id)
        if kind:
            query = query.where(SlaEvent.kind == kind)
        events = db.session.execute(query).scalars().all()
        for event in events:
            _ = event.clock.name
        db.session.expunge_all()
        return events


def sweep_cli(app) -> str:
    result = app.test_cli_runner().invoke(args=["desk", "sla-sweep"])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def recompute_cli(app) -> str:
    result = app.test_cli_runner().invoke(args=["desk", "sla-recompute"])
    assert result.exit_code == 0, result.output
    return result.output


def update(client, ref, status):
    return post_form(client, f"/tickets/{ref}", {"status": status, "priority": "normal", "tags": ""},
                     post_url=f"/tickets/{ref}/update")


def reply(client, ref, body, internal=False):
    data = {"body": body, "status": ""}
    if internal:
        data["internal"] = "y"
    return post_form(client, f"/tickets/{ref}", data, post_url=f"/tickets/{ref}/reply")


def requester_link(app, ref) -> str:
    from desk.tickets.links import make_token

    ticket, _ = load(app, ref)
    with app.app_context():
        return f"/t/{make_token(ticket)}"


def requester_reply(app, ref, body="Here is what you asked for."):
    """The requester answers through their signed link, in a browser of their own."""
    browser = app.test_client()
    link = requester_link(app, ref)
    response = post_form(browser, link, {"body": body}, content_type="multipart/form-data")
    assert response.status_code == 302, text_of(response)[:500]
    return response


def subject_time(instant: datetime) -> str:
    return f"{instant.astimezone(SGT).strftime('%a %d %b %Y %H:%M')} (Asia/Singapore)"


def make_late(app, ref, name="first_response"):
    """Move a running clock's deadline a minute into the past, as time passing would."""
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == ref)).scalar_one()
        clock = next(c for c in ticket.clocks if c.name == name)
        clock.due_at = clock.next_check_at = utcnow() - timedelta(minutes=1)
        db.session.commit()


# --- intake --------------------------------------------------------------------

def test_general_ticket_via_api_gets_support_hours_clocks(client, api_key):
    key = api_key()
    response = client.post("/api/v1/tickets", headers=bearer(key), json={
        "subject": "Order 1001 is stuck", "body": "Pending for two days.",
        "requester": {"email": "bob@example.com", "name": "Bob"}})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    created = datetime.fromisoformat(body["created_at"])
    first_due = add_support_minutes(created, GENERAL.first_response)
    resolution_due = add_support_minutes(created, GENERAL.resolution)
    assert [(c["name"], c["rule"], c["state"], c["target"], c["stopped_at"]) for c in body["clocks"]] == [
        ("first_response", SUPPORT, "running", "4 h of support time", None),
        ("resolution", SUPPORT, "running", "39 h of support time", None),
    ]
    assert datetime.fromisoformat(body["clocks"][0]["due_at"]) == first_due
    assert datetime.fromisoformat(body["clocks"][1]["due_at"]) == resolution_due
    assert datetime.fromisoformat(body["due_at"]) == first_due
    # As stored, read back.
    again = client.get(f"/api/v1/tickets/{body['reference']}", headers=bearer(key)).get_json()
    assert datetime.fromisoformat(again["due_at"]) == first_due
    assert again["clocks"] == body["clocks"]


def test_rights_notice_runs_the_legal_clocks_instead_of_support_ones(app):
    received = sgt(2024, 3, 6, 10)  # a Wednesday
    ref = file_ticket(app, kind="rights", received_at=received)
    ticket, clocks = load(app, ref)
    assert list(clocks) == ["acknowledgement", "response"]
    assert {c.rule for c in clocks.values()} == {"terms-33-legal"}
    ack, answer = clocks["acknowledgement"], clocks["response"]
    # 5 business days after Wed 6 Mar: Wed 13 Mar, end of day in Singapore.
    assert ack.due_at == add_business_days(received, 5) == sgt(2024, 3, 14) - timedelta(microseconds=1)
    # 30 calendar days after 6 Mar: end of 5 Apr.
    assert answer.due_at == add_calendar_days(received, 30) == sgt(2024, 4, 6) - timedelta(microseconds=1)
    assert not ack.pauses and not answer.pauses
    assert ticket.due_at == ack.due_at


def test_serious_harm_report_at_3am_is_due_one_hour_after_receipt(app):
    received = sgt(2024, 3, 5, 3)  # support is closed at 03:00 Singapore time
    ref = file_ticket(app, kind="abuse", serious_harm=True, received_at=received,
                      subject="Threat of violence", body="A post threatens a named person.")
    ticket, clocks = load(app, ref)
    assert list(clocks) == ["first_action", "first_response", "resolution"]
    harm = clocks["first_action"]
    assert (harm.rule, harm.measure, harm.amount, harm.stops_on) == ("aup-5.6-serious-harm", "wall", 60, "any_action")
    assert harm.started_at == received
    assert harm.due_at == sgt(2024, 3, 5, 4)  # round the clock, not support hours
    # The support clocks count from the 10:00 opening (abuse: 120 / 2340 support minutes).
    assert clocks["first_response"].due_at == sgt(2024, 3, 5, 12)
    assert ticket.due_at == sgt(2024, 3, 5, 4)
    assert ticket.queue == "abuse"


def test_serious_harm_report_pages_every_active_trust_safety_member_and_nobody_else(app, auth, run_worker):
    ts1 = staff(app, auth, "trust_safety", "ts1@desk.test")
    ts2 = staff(app, auth, "trust_safety", "ts2@desk.test")
    staff(app, auth, "trust_safety", "ts-gone@desk.test", active=False)
    for role in ("agent", "supervisor", "privacy_officer", "admin"):
        staff(app, auth, role, f"{role}@desk.test")
    ref = file_ticket(app, kind="abuse", serious_harm=True, received_at=sgt(2024, 3, 5, 3),
                      subject="Threat of violence", body="A post threatens a named person.")
    pages = sla_events(app)
    assert [(e.kind, e.clock.name, e.data["rule"], e.at) for e in pages] == [
        ("page", "first_action", "aup-5.6-serious-harm", sgt(2024, 3, 5, 3))]
    assert sla_mails(app) == []  # the page goes out through the worker

    run_worker()
    subject = f"[{ref}] PAGE: serious-harm report, first action due Tue 05 Mar 2024 04:00 (Asia/Singapore)"
    assert sla_mails(app) == [(ts1.email, subject), (ts2.email, subject)]

    run_worker()  # nothing left to run: one page per person
    assert len(sla_mails(app)) == 2


def test_gdpr_request_is_due_at_the_end_of_the_same_numbered_day_next_month(app):
    ref = file_ticket(app, kind="privacy", jurisdiction="eu", received_at=sgt(2024, 1, 31, 10),
                      subject="Delete my data", body="Under GDPR please erase my account.")
    ticket, clocks = load(app, ref)
    assert list(clocks) == ["first_response", "resolution", "statutory_answer"]
    gdpr = clocks["statutory_answer"]
    assert (gdpr.rule, gdpr.measure, gdpr.amount, gdpr.extendable_by) == ("privacy-10-gdpr", "months", 1, 2)
    assert not gdpr.pauses  # only when an admin switches it on
    # 31 Jan → 29 Feb (2024 is a leap year), the last instant of that day in Singapore.
    assert gdpr.due_at == sgt(2024, 3, 1) - timedelta(microseconds=1)
    assert gdpr.due_at == datetime(2024, 2, 29, 15, 59, 59, 999999, tzinfo=timezone.utc)
    assert ticket.jurisdiction == "eu" and ticket.queue == "privacy"


def test_california_request_gets_the_ccpa_clocks(app):
    received = sgt(2024, 3, 1, 12)  # a Friday
    ref = file_ticket(app, kind="privacy", jurisdiction="ca", received_at=received,
                      subject="What do you hold about me?", body="A CCPA request to know.")
    _, clocks = load(app, ref)
    assert list(clocks) == ["first_response", "resolution", "receipt_confirmation", "statutory_answer"]
    receipt, answer = clocks["receipt_confirmation"], clocks["statutory_answer"]
    assert (receipt.rule, receipt.measure, receipt.amount) == ("privacy-10-ccpa", "business_days", 10)
    assert (answer.rule, answer.measure, answer.amount, answer.extendable_by) == (
        "privacy-10-ccpa", "calendar_days", 45, 45)
    assert receipt.due_at == sgt(2024, 3, 16) - timedelta(microseconds=1)  # end of Fri 15 Mar
    assert answer.due_at == sgt(2024, 4, 16) - timedelta(microseconds=1)  # end of Mon 15 Apr
    assert clocks["first_response"].rule == SUPPORT


@pytest.mark.parametrize("fields, problem", [
    ({"kind": "general", "serious_harm": True}, "serious_harm"),
    ({"kind": "privacy", "jurisdiction": "us"}, "jurisdiction"),
])
def test_intake_refuses_serious_harm_outside_abuse_and_unknown_jurisdictions(app, fields, problem):
    with pytest.raises(ValidationError) as caught:
        file_ticket(app, **fields)
    assert list(caught.value.fields) == [problem]
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Ticket)).scalar_one() == 0
        assert db.session.execute(select(func.count()).select_from(TicketClock)).scalar_one() == 0


# --- pause and resume ----------------------------------------------------------

def test_waiting_on_the_customer_pauses_support_clocks_and_keeps_their_budget(app, client, auth, api_key,
                                                                             make_ticket):
    auth.login("agent")
    ref = make_ticket()
    assert update(client, ref, "waiting").status_code == 302
    ticket, clocks = load(app, ref)
    assert ticket.status == "waiting"
    assert ticket.due_at == NO_DUE
    for name, full in (("first_response", FIRST_RESPONSE_S), ("resolution", RESOLUTION_S)):
        clock = clocks[name]
        assert clock.state == "paused"
        assert clock.due_at is None and clock.warn_at is None and clock.next_check_at is None
        assert clock.paused_at is not None and clock.resumed_at is None
        elapsed = support_time_between(clock.started_at, clock.paused_at)
        assert clock.budget_seconds == int(full - elapsed.total_seconds())
        assert full - 60 < clock.budget_seconds <= full
    body = client.get(f"/api/v1/tickets/{ref}", headers=bearer(api_key())).get_json()
    assert body["due_at"] is None
    assert [(c["state"], c["due_at"]) for c in body["clocks"]] == [("paused", None), ("paused", None)]


def test_requester_reply_resumes_paused_clocks_with_what_was_left(app, client, auth, make_ticket):
    auth.login("agent")
    ref = make_ticket(received_at=support_ago(100))
    assert update(client, ref, "waiting").status_code == 302
    _, paused = load(app, ref)
    budget = paused["first_response"].budget_seconds
    assert (240 - 100 - 1) * 60 < budget <= (240 - 100) * 60

    requester_reply(app, ref)
    ticket, clocks = load(app, ref)
    assert ticket.status == "open"
    first = clocks["first_response"]
    assert first.state == "running" and first.paused_at is None
    assert first.budget_seconds == budget  # the pause cost nothing
    assert first.due_at == add_support_time(first.resumed_at, timedelta(seconds=budget))
    # The reminder point is 60 support minutes (25% of 4 h) before the deadline.
    assert first.warn_at == first.next_check_at == add_support_time(first.resumed_at,
                                                                    timedelta(seconds=budget - 3600))
    resolution = clocks["resolution"]
    assert resolution.state == "running"
    assert resolution.due_at == add_support_time(resolution.resumed_at,
                                                 timedelta(seconds=paused["resolution"].budget_seconds))
    assert ticket.due_at == first.due_at


@pytest.mark.parametrize("kind, jurisdiction, role, statutory", [
    ("privacy", "ca", "privacy_officer", ("receipt_confirmation", "statutory_answer")),
    ("privacy", "eu", "privacy_officer", ("statutory_answer",)),
    ("rights", None, "trust_safety", ("acknowledgement", "response")),
])
def test_legal_and_statutory_clocks_keep_running_while_waiting(app, client, auth, kind, jurisdiction, role,
                                                              statutory):
    auth.login(role)
    ref = file_ticket(app, kind=kind, jurisdiction=jurisdiction, subject="A request", body="Please act on it.")
    _, before = load(app, ref)
    assert update(client, ref, "waiting").status_code == 302
    ticket, after = load(app, ref)
    assert ticket.status == "waiting"
    for name in statutory:
        assert after[name].state == "running"
        assert after[name].due_at == before[name].due_at
        assert after[name].paused_at is None
    for name in ("first_response", "resolution"):
        if name in after:
            assert after[name].state == "paused" and after[name].due_at is None
    assert ticket.due_at == min(after[name].due_at for name in statutory)


# --- stopping --------------------------------------------------------------------

def test_first_public_reply_stops_first_response_on_time(app, client, auth, make_ticket):
    auth.login("agent")
    ref = make_ticket(received_at=support_ago(90))
    assert reply(client, ref, "We are looking into it.").status_code == 302
    ticket, clocks = load(app, ref)
    first = clocks["first_response"]
    assert first.state == "met" and first.met is True
    assert first.stopped_at == ticket.first_response_at
    used = support_time_between(first.started_at, first.stopped_at).total_seconds()
    assert first.used_seconds == FIRST_RESPONSE_S - int(FIRST_RESPONSE_S - used)
    assert 90 * 60 <= first.used_seconds < 92 * 60
    assert f"met after {duration_words(timedelta(seconds=first.used_seconds), days=False)} of support time" in (
        get_ok(client, f"/tickets/{ref}"))
    assert first.due_at is not None and first.next_check_at is None
    assert clocks["resolution"].state == "running"
    assert ticket.due_at == clocks["resolution"].due_at
    assert ticket.status == "open"

    # A second reply changes nothing about the first response.
    assert reply(client, ref, "Still on it.").status_code == 302
    _, again = load(app, ref)
    assert again["first_response"].stopped_at == first.stopped_at
    assert again["first_response"].used_seconds == first.used_seconds


def test_late_first_reply_is_recorded_as_missed(app, client, auth, make_ticket):
    auth.login("agent")
    ref = make_ticket(received_at=support_ago(300))
    assert reply(client, ref, "Sorry for the wait.").status_code == 302
    _, clocks = load(app, ref)
    first = clocks["first_response"]
    assert first.state == "missed" and first.met is False
    assert -3720 < first.budget_seconds <= -3600  # an hour late
    assert first.used_seconds == FIRST_RESPONSE_S - first.budget_seconds
    assert "missed by 1 h" in get_ok(client, f"/tickets/{ref}")


def test_internal_note_stops_the_serious_harm_clock_but_not_first_response(app, client, auth):
    auth.login("trust_safety")
    ref = file_ticket(app, kind="abuse", serious_harm=True, subject="Threat of violence",
                      body="A post threatens a named person.")
    assert reply(client, ref, "Checked the post; escalating to the platform.", internal=True).status_code == 302
    ticket, clocks = load(app, ref)
    harm = clocks["first_action"]
    assert harm.state == "met" and harm.met is True
    assert 0 <= harm.used_seconds < 60
    assert clocks["first_response"].state == "running" and clocks["first_response"].stopped_at is None
    assert clocks["resolution"].state == "running"
    assert ticket.first_response_at is None
    assert ticket.due_at == clocks["first_response"].due_at


def test_resolving_stops_every_clock(app, client, auth, api_key, make_ticket):
    auth.login("agent")
    ref = make_ticket()
    assert update(client, ref, "resolved").status_code == 302
    ticket, clocks = load(app, ref)
    assert ticket.due_at == NO_DUE
    for clock in clocks.values():
        assert clock.stopped_at is not None and clock.met is True
        assert clock.next_check_at is None and clock.resumed_at is None
    body = client.get(f"/api/v1/tickets/{ref}", headers=bearer(api_key())).get_json()
    assert body["due_at"] is None
    assert [c["state"] for c in body["clocks"]] == ["met", "met"]
    assert all(c["stopped_at"] is not None for c in body["clocks"])


def test_requester_reply_after_resolution_reopens_resolution_but_not_first_response(app, client, auth,
                                                                                    make_ticket):
    auth.login("agent")
    ref = make_ticket()
    assert reply(client, ref, "Here is your refill.").status_code == 302
    assert update(client, ref, "resolved").status_code == 302
    _, resolved = load(app, ref)
    left = resolved["resolution"].budget_seconds

    requester_reply(app, ref, "It dropped again.")
    ticket, clocks = load(app, ref)
    assert ticket.status == "open"
    resolution = clocks["resolution"]
    assert resolution.state == "running" and resolution.met is None and resolution.stopped_at is None
    assert resolution.due_at == add_support_time(resolution.resumed_at, timedelta(seconds=left))
    first = clocks["first_response"]
    assert first.state == "met" and first.stopped_at == resolved["first_response"].stopped_at
    assert ticket.due_at == resolution.due_at


def test_reopened_legal_notice_keeps_its_calendar_deadline(app, client, auth):
    """terms-33-legal clocks do not pause: time spent resolved does not push the 30 days back."""
    auth.login("trust_safety")
    ref = file_ticket(app, kind="rights", subject="Trademark notice", body="Our mark is misused.")
    _, before = load(app, ref)
    assert update(client, ref, "resolved").status_code == 302
    _, resolved = load(app, ref)
    assert resolved["response"].state == "met"

    requester_reply(app, ref, "The listing is still up.")
    ticket, clocks = load(app, ref)
    assert ticket.status == "open"
    assert clocks["response"].state == "running"
    assert clocks["response"].due_at == before["response"].due_at
    assert clocks["acknowledgement"].stopped_at is not None  # acknowledged clocks stay stopped


# --- the sweep -----------------------------------------------------------------------

def test_sweep_reminds_once_past_75_percent(app, make_ticket):
    ref = make_ticket(received_at=support_ago(200))  # 200 of 240 support minutes gone
    assert sweep_cli(app) == "1 reminder(s), 0 escalation(s)."
    assert sweep_cli(app) == "0 reminder(s), 0 escalation(s)."
    events = sla_events(app)
    assert [(e.kind, e.clock.name, e.data["rule"]) for e in events] == [("reminder", "first_response", SUPPORT)]
    _, clocks = load(app, ref)
    first = clocks["first_response"]
    assert events[0].data["due"] == first.due_at.isoformat()
    assert first.reminded_at is not None and first.breached_at is None
    assert first.next_check_at == first.due_at  # next: the breach, if it comes
    assert clocks["resolution"].reminded_at is None


def test_reminder_goes_to_the_assignee_only_when_assigned(app, auth, make_ticket, run_worker):
    holder = staff(app, auth, "agent", "holder@desk.test")
    staff(app, auth, "agent", "other@desk.test")
    staff(app, auth, "supervisor", "boss@desk.test")
    staff(app, auth, "admin", "admin@desk.test")
    ref = make_ticket(received_at=support_ago(200))
    assign_to(app, ref, holder.id)
    assert sweep_cli(app) == "1 reminder(s), 0 escalation(s)."
    run_worker()
    _, clocks = load(app, ref)
    assert sla_mails(app) == [
        ("holder@desk.test", f"[{ref}] Reminder: First response due {subject_time(clocks['first_response'].due_at)}")]


def test_reminder_for_an_unassigned_ticket_goes_to_the_queues_working_roles(app, auth, make_ticket, run_worker):
    for role, email in (("agent", "a1@desk.test"), ("agent", "a2@desk.test"), ("supervisor", "boss@desk.test"),
                        ("trust_safety", "ts@desk.test"), ("privacy_officer", "po@desk.test"),
                        ("admin", "admin@desk.test")):
        staff(app, auth, role, email)
    staff(app, auth, "agent", "left@desk.test", active=False)
    ref = make_ticket(received_at=support_ago(200))
    assert sweep_cli(app) == "1 reminder(s), 0 escalation(s)."
    run_worker()
    mails = sla_mails(app)
    assert [to for to, _ in mails] == ["a1@desk.test", "a2@desk.test", "boss@desk.test", "po@desk.test",
                                       "ts@desk.test"]
    assert {subject for _, subject in mails} == {
        f"[{ref}] Reminder: First response due {subject_time(load(app, ref)[1]['first_response'].due_at)}"}


def test_breach_escalates_to_supervisors_and_the_assignee(app, auth, make_ticket, run_worker):
    holder = staff(app, auth, "agent", "holder@desk.test")
    staff(app, auth, "agent", "other@desk.test")
    staff(app, auth, "supervisor", "boss1@desk.test")
    staff(app, auth, "supervisor", "boss2@desk.test")
    staff(app, auth, "trust_safety", "ts@desk.test")
    staff(app, auth, "admin", "admin@desk.test")
    ref = make_ticket(received_at=support_ago(300))  # an hour past the 4 h first response
    assign_to(app, ref, holder.id)
    assert sweep_cli(app) == "0 reminder(s), 1 escalation(s)."
    assert sweep_cli(app) == "0 reminder(s), 0 escalation(s)."

    ticket, clocks = load(app, ref)
    first = clocks["first_response"]
    events = sla_events(app)
    assert [(e.kind, e.clock.name, e.data) for e in events] == [
        ("breach", "first_response", {"rule": SUPPORT, "due": first.due_at.isoformat()})]
    assert first.state == "breached" and first.breached_at is not None and first.next_check_at is None
    with app.app_context():
        audit = db.session.execute(select(AuditEvent).where(AuditEvent.action == "sla.breached")).scalars().all()
        assert [(a.actor_kind, a.subject_id, a.ticket_id, a.data) for a in audit] == [
            ("system", ref, ticket.id, {"clock": "first_response", "rule": SUPPORT, "due": first.due_at.isoformat()})]

    run_worker()
    subject = f"[{ref}] ESCALATED: First response breached"
    assert sla_mails(app) == [("boss1@desk.test", subject), ("boss2@desk.test", subject),
                              ("holder@desk.test", subject)]
    with app.app_context():
        body = db.session.execute(select(OutboundMail.body_text).where(OutboundMail.to_addr == "boss1@desk.test")
                                  ).scalar_one()
    assert "Queue: support · Assignee: holder@desk.test" in body
    assert f"First response ({SUPPORT}): breached " in body
    assert f"http://desk.test/tickets/{ref}\n" in body


def test_breach_in_a_restricted_queue_escalates_to_the_roles_that_work_it(app, auth, run_worker):
    staff(app, auth, "trust_safety", "ts1@desk.test")
    staff(app, auth, "trust_safety", "ts2@desk.test")
    staff(app, auth, "supervisor", "boss@desk.test")  # may not read the abuse queue
    staff(app, auth, "admin", "admin@desk.test")
    ref = file_ticket(app, kind="abuse", received_at=sgt(2024, 3, 5, 10), subject="Spam ring",
                      body="These accounts post spam links.")
    assert sweep_cli(app) == "0 reminder(s), 2 escalation(s)."
    assert sorted((e.kind, e.clock.name) for e in sla_events(app)) == [("breach", "first_response"),
                                                                       ("breach", "resolution")]
    with app.app_context():
        audit = db.session.execute(select(AuditEvent).where(AuditEvent.action == "sla.breached")
                                   .order_by(AuditEvent.id)).scalars().all()
        assert sorted((a.subject_id, a.data["clock"], a.data["rule"]) for a in audit) == [
            (ref, "first_response", SUPPORT), (ref, "resolution", SUPPORT)]
    run_worker()
    assert sorted(sla_mails(app)) == sorted(
        (to, f"[{ref}] ESCALATED: {label} breached")
        for to in ("ts1@desk.test", "ts2@desk.test") for label in ("First response", "Resolution"))


def test_notice_job_run_again_sends_no_second_mail(app, auth, make_ticket, run_worker):
    staff(app, auth, "agent", "a1@desk.test")
    make_ticket(received_at=support_ago(200))
    assert sweep_cli(app) == "1 reminder(s), 0 escalation(s)."
    run_worker()
    assert len(sla_mails(app)) == 1
    event_id = sla_events(app, "reminder")[0].id
    with app.app_context():  # the same job delivered again (a retry after a crash)
        jobs.queue_for("high").enqueue("workers.sla.notify", event_id, job_id="again")
    run_worker()
    with app.app_context():
        assert jobs.queue_for("high").finished_job_registry.count == 2
    assert len(sla_mails(app)) == 1


def test_breach_found_before_the_reminder_sends_no_separate_reminder(app, auth, make_ticket, run_worker):
    staff(app, auth, "supervisor", "boss@desk.test")
    staff(app, auth, "agent", "a1@desk.test")
    ref = make_ticket(received_at=support_ago(300))
    assert sweep_cli(app) == "0 reminder(s), 1 escalation(s)."
    assert [e.kind for e in sla_events(app)] == ["breach"]
    assert load(app, ref)[1]["first_response"].reminded_at is not None  # no reminder will follow
    run_worker()
    assert sla_mails(app) == [("boss@desk.test", f"[{ref}] ESCALATED: First response breached")]


def test_reminded_clock_escalates_once_when_it_falls_due(app, auth, make_ticket, run_worker):
    staff(app, auth, "supervisor", "boss@desk.test")
    ref = make_ticket(received_at=support_ago(200))
    assert sweep_cli(app) == "1 reminder(s), 0 escalation(s)."
    make_late(app, ref)
    assert sweep_cli(app) == "0 reminder(s), 1 escalation(s)."
    assert sweep_cli(app) == "0 reminder(s), 0 escalation(s)."
    assert [(e.kind, e.clock.name) for e in sla_events(app)] == [("reminder", "first_response"),
                                                                 ("breach", "first_response")]
    run_worker()
    # Unassigned, so the reminder went to the supervisor too (supervisors work the support queue).
    assert sorted(sla_mails(app)) == [("boss@desk.test", f"[{ref}] ESCALATED: First response breached"),
                                      ("boss@desk.test", f"[{ref}] Reminder: First response due "
                                                         f"{subject_time(load(app, ref)[1]['first_response'].due_at)}")]


def test_ticket_is_not_reminded_again_after_a_pause_and_resume(app, client, auth, make_ticket):
    auth.login("agent")
    ref = make_ticket(received_at=support_ago(200))
    assert sweep_cli(app) == "1 reminder(s), 0 escalation(s)."
    assert update(client, ref, "waiting").status_code == 302
    assert sweep_cli(app) == "0 reminder(s), 0 escalation(s)."
    requester_reply(app, ref)
    _, clocks = load(app, ref)
    first = clocks["first_response"]
    assert first.state == "running" and first.reminded_at is not None
    assert first.next_check_at == first.due_at  # the breach is all that is left
    assert sweep_cli(app) == "0 reminder(s), 0 escalation(s)."
    assert [e.kind for e in sla_events(app)] == ["reminder"]


def test_scheduled_sweep_job_sends_the_same_single_reminder(app, auth, make_ticket, run_worker):
    staff(app, auth, "agent", "a1@desk.test")
    ref = make_ticket(received_at=support_ago(200))
    for _ in range(2):  # the schedule runs it every minute
        with app.app_context():
            jobs.enqueue("workers.sla.sweep", queue="default")
            db.session.commit()
            jobs.dispatch()
        run_worker()  # the sweep, then (same burst) the notice it enqueued
    assert [(e.kind, e.clock.name) for e in sla_events(app)] == [("reminder", "first_response")]
    _, clocks = load(app, ref)
    assert sla_mails(app) == [
        ("a1@desk.test", f"[{ref}] Reminder: First response due {subject_time(clocks['first_response'].due_at)}")]
    with app.app_context():
        assert jobs.queue_for("high").finished_job_registry.count == 1  # one notify job


# --- recompute -------------------------------------------------------------------------

def test_recompute_moves_due_times_past_a_new_holiday(app, make_ticket):
    ref = make_ticket()
    ticket, clocks = load(app, ref)
    holiday = DEFAULT_CALENDAR.local_date(clocks["first_response"].due_at)
    with app.app_context():
        settings.add_holiday(holiday, "Deepavali", SYSTEM)
        db.session.commit()
        settings.forget()
    assert recompute_cli(app).strip().endswith("1 ticket(s) recomputed.")
    cal = Calendar(holidays=frozenset({holiday}))
    ticket, moved = load(app, ref)
    first = moved["first_response"]
    assert first.due_at == add_support_minutes(ticket.created_at, GENERAL.first_response, cal)
    assert DEFAULT_CALENDAR.local_date(first.due_at) > holiday
    assert first.due_at > clocks["first_response"].due_at
    assert moved["resolution"].due_at == add_support_minutes(ticket.created_at, GENERAL.resolution, cal)
    assert ticket.due_at == first.due_at


def test_recompute_gives_an_open_ticket_without_clocks_its_clocks(app, make_ticket):
    ref = make_ticket()
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == ref)).scalar_one()
        db.session.execute(delete(TicketClock).where(TicketClock.ticket_id == ticket.id))
        ticket.due_at = NO_DUE
        db.session.commit()
    assert load(app, ref)[1] == {}
    assert recompute_cli(app).strip().endswith("1 ticket(s) recomputed.")
    ticket, clocks = load(app, ref)
    assert [(c.name, c.rule, c.state, c.started_at) for c in clocks.values()] == [
        ("first_response", SUPPORT, "running", ticket.created_at), ("resolution", SUPPORT, "running", ticket.created_at)]
    assert clocks["first_response"].due_at == add_support_minutes(ticket.created_at, GENERAL.first_response)
    assert ticket.due_at == clocks["first_response"].due_at


# --- display -------------------------------------------------------------------------

def test_clock_text_counts_support_time_for_support_clocks_and_wall_time_for_others(app):
    general = file_ticket(app, received_at=sgt(2024, 3, 5, 10))
    privacy = file_ticket(app, kind="privacy", jurisdiction="eu", received_at=sgt(2024, 1, 31, 10),
                          subject="Delete my data", body="Please erase my account.")
    _, clocks = load(app, general)
    _, gdpr = load(app, privacy)
    cal = DEFAULT_CALENDAR
    first, resolution = clocks["first_response"], clocks["resolution"]
    assert first.due_at == sgt(2024, 3, 5, 14)
    assert clock_text(first, sgt(2024, 3, 5, 12, 30), cal) == "due in 1 h 30 m (support hours)"
    assert clock_text(first, sgt(2024, 3, 5, 15, 10), cal) == "breached 1 h 10 m ago"
    # Resolution (3 support days) is due Thu 7 Mar 23:00; at 22:00 on the 6th, 14 support
    # hours are left though 25 hours of wall time are.
    assert resolution.due_at == sgt(2024, 3, 7, 23)
    assert clock_text(resolution, sgt(2024, 3, 6, 22), cal) == "due in 14 h (support hours)"
    assert clock_text(gdpr["statutory_answer"], sgt(2024, 2, 27, 21), cal) == "due in 2 d 2 h"


def test_queue_shows_support_time_left_and_how_long_ago_a_clock_breached(app, client, auth, make_ticket):
    auth.login("agent")
    fresh = make_ticket(subject="Fresh one")
    late = make_ticket(subject="Late one", received_at=support_ago(300))
    fresh_due = load(app, fresh)[1]["first_response"].due_at
    late_due = load(app, late)[1]["first_response"].due_at
    before = utcnow()
    html = get_ok(client, "/queue")
    after = utcnow()
    rows = {ref: (css, text) for ref, css, text in ROW_RE.findall(html)}
    assert set(rows) == {fresh, late}
    assert rows[fresh][0] == "due"
    assert rows[fresh][1] in {f"due in {duration_words(support_time_between(t, fresh_due), days=False)} (support hours)"
                              for t in (before, after)}
    assert rows[late][0] == "due late"
    assert rows[late][1] in {f"breached {duration_words(t - late_due)} ago" for t in (before, after)}
    assert late_due < before  # and it is listed first, soonest due
    assert html.index(late) < html.index(fresh)


def test_ticket_page_shows_each_clock_with_its_rule(app, client, auth):
    auth.login("privacy_officer")
    ref = file_ticket(app, kind="privacy", jurisdiction="ca", subject="What do you hold about me?",
                      body="A CCPA request to know.")
    html = get_ok(client, f"/tickets/{ref}")
    assert CLOCK_HEAD_RE.findall(html) == [
        ("First response", SUPPORT), ("Resolution", SUPPORT),
        ("Confirm receipt (CCPA)", "privacy-10-ccpa"), ("Answer (CCPA)", "privacy-10-ccpa"),
    ]
    assert "4 h of support time" in html and "10 business days" in html and "45 calendar days" in html
    assert html.count("(support hours)</div>") == 2
