"""Privacy requests through HTTP (Privacy §10): intake by API and form, the one-time code
(privacy-10-verify: 10 minutes, 3 attempts) or a staff verification with a reason, the
flags restriction/objection/consent/opt-out set, refusals, the queue by legal deadline,
the 24-month records, and who may see any of it."""
from datetime import timedelta

from sqlalchemy import select

from abuse_helpers import mails
from conftest import alert, csrf_from, get_ok, post_form, text_of
from desk.claims.models import Customer
from desk.extensions import db
from desk.policy import privacy as policy
from desk.privacy import requests as privacy_requests
from desk.privacy.models import PrivacyRequest
from desk.tickets.models import Ticket
from test_privacy_erasure import code_and_page, file_request, officer_posts, request_id, verify_by_code

EMAIL = "Alice.Smith@Example.com"


def request_row(app, reference) -> PrivacyRequest:
    with app.app_context():
        row = db.session.execute(select(PrivacyRequest).where(PrivacyRequest.reference == reference)).scalar_one()
        db.session.expunge(row)
        return row


def test_api_intake_answers_at_once_with_reference_and_deadline(app, client, panel, run_worker):
    panel.customer("alice", email=EMAIL)
    known = file_request(client, rights=["know", "delete"], jurisdiction="ca")
    assert known["reference"].startswith("T-") and known["status"] == "unverified"
    assert known["rights"] == ["access", "deletion"]  # California's words mapped to the rights
    assert known["deadline"] and "code" in known["verification"]
    # Someone without an account gets the same answer: the intake tells nobody who has one.
    unknown = file_request(client, rights=["access"], email="nobody@example.org", jurisdiction="ca")
    assert set(unknown) == set(known) and unknown["status"] == "unverified"
    run_worker()
    code, path = code_and_page(app, known["reference"])
    with app.app_context():
        row = db.session.execute(select(PrivacyRequest).where(PrivacyRequest.reference == known["reference"])).scalar_one()
        assert row.customer is not None and row.email == EMAIL.lower() and row.code_hash and code not in row.code_hash
        ticket = row.ticket
        assert ticket.queue == "privacy" and ticket.kind == "privacy"
        # CCPA: receipt confirmed at once, with how we verify and when to expect the answer.
        receipt = next(c for c in ticket.clocks if c.name == "receipt_confirmation")
        assert receipt.stopped_at is not None
        answer = next(c for c in ticket.clocks if c.name == "statutory_answer")
        assert answer.rule == "privacy-10-ccpa"
        assert abs((answer.due_at - row.received_at) - timedelta(days=45)) < timedelta(days=1)
    page = get_ok(client, path)
    assert known["reference"] in page and "Confirm your e-mail address" in page
    verify_by_code(app, client, known["reference"])
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == known["reference"])).scalar_one()
        notes = [m.body_text for m in ticket.messages if m.author_kind == "system"]
        # The desk's own notes are not mistaken for a code someone typed (privacy-3-minimal).
        assert len(notes) == 2 and not any("[code removed]" in n for n in notes), notes
        assert all(m.redaction_note is None for m in ticket.messages)


def test_api_intake_refuses_bad_input_with_the_field(client):
    for body, field in [
        ({"requester": {"email": EMAIL}, "rights": [], "jurisdiction": "eu"}, "rights"),
        ({"requester": {"email": EMAIL}, "rights": ["everything"], "jurisdiction": "eu"}, "rights"),
        ({"requester": {"email": EMAIL}, "rights": ["access"], "jurisdiction": "mars"}, "jurisdiction"),
        ({"requester": {"email": "not-an-address"}, "rights": ["access"], "jurisdiction": "eu"}, "email"),
        ({"requester": {"email": EMAIL}, "rights": "access", "jurisdiction": "eu", "details": ["x"]}, "details"),
        ({"requester": {"email": EMAIL}, "rights": [1, 2], "jurisdiction": "eu"}, "rights"),
    ]:
        response = client.post("/api/v1/privacy-requests", json=body)
        assert response.status_code == 422, (body, response.get_json())
        assert field in response.get_json()["error"]["fields"], (body, response.get_json())
    # Privacy tickets have their own intake: the ticket API sends callers there.
    response = client.post("/api/v1/privacy-requests", data="not json", content_type="application/json")
    assert response.status_code in (400, 422)


def test_ticket_api_points_to_the_privacy_intake(client, api_key):
    response = client.post("/api/v1/tickets", headers={"Authorization": f"Bearer {api_key('panel')}"}, json={
        "kind": "privacy", "subject": "Delete me", "body": "Please", "requester": {"email": EMAIL}})
    assert response.status_code == 422
    assert "/api/v1/privacy-requests" in response.get_json()["error"]["message"]


def test_the_code_works_three_times_for_ten_minutes(app, client, run_worker):
    filed = file_request(client, rights=["access"])
    run_worker()
    code, path = code_and_page(app, filed["reference"])
    wrong = "000000" if code != "000000" else "111111"

    def enter(value):
        page = get_ok(client, path)
        client.post(f"{path}/code", data={"csrf_token": csrf_from(page), "code": value})
        return text_of(client.get(path))

    assert "2 attempts left" in enter(wrong)
    assert "1 attempt left" in enter(wrong)
    assert "no attempts are left" in enter(wrong)
    # The fourth try is refused even with the right code.
    assert "tried 3 times" in enter(code)
    assert request_row(app, filed["reference"]).verified_at is None
    # A new code replaces the old one, and it expires after 10 minutes.
    page = get_ok(client, path)
    client.post(f"{path}/resend", data={"csrf_token": csrf_from(page)})
    run_worker()
    with app.app_context():
        row = db.session.get(PrivacyRequest, request_id(app, filed["reference"]))
        latest = mails(app, "privacy-code:")[-1]
        new_code = latest.body_text.split("enter this code: ", 1)[1][:6]
        row.code_sent_at = row.code_sent_at - timedelta(minutes=policy.CODE_MINUTES + 1)
        db.session.commit()
    assert "expired" in enter(new_code)
    with app.app_context():
        row = db.session.get(PrivacyRequest, request_id(app, filed["reference"]))
        row.code_sent_at = row.code_sent_at + timedelta(minutes=policy.CODE_MINUTES + 1)
        db.session.commit()
    assert "Your e-mail address is verified" in enter(new_code)
    assert request_row(app, filed["reference"]).status == "verified"


def test_a_privacy_officer_verifies_with_a_reason(app, client, auth, run_worker):
    filed = file_request(client, rights=["correction"])
    run_worker()
    response = officer_posts(client, auth, filed["reference"], "verify", reason="short")
    page = text_of(client.get(response.headers["Location"]))
    assert "at least 10 characters" in alert(page)
    assert request_row(app, filed["reference"]).verified_at is None
    officer_posts(client, auth, filed["reference"], "verify", reason="Called the number on the account; she confirmed")
    row = request_row(app, filed["reference"])
    assert row.verified_at is not None and row.verified_by_id and "Called the number" in row.verification_note
    page = get_ok(client, f"/tickets/{filed['reference']}")
    assert "Called the number on the account" in page
    # The correction is recorded and answered.
    response = officer_posts(client, auth, filed["reference"], "correction", what="Your country is now Portugal (PT)")
    assert response.status_code == 302
    row = request_row(app, filed["reference"])
    assert row.status == "answered" and row.outcome["correction"].startswith("Your country")


def test_restriction_and_opt_out_flag_the_account_and_answer(app, client, auth, panel, run_worker):
    panel.customer("alice", email=EMAIL)
    filed = file_request(client, rights=["restriction", "opt_out"], jurisdiction="ca")
    run_worker()
    # Not before verification.
    officer_posts(client, auth, filed["reference"], "flags")
    with app.app_context():
        alice = db.session.execute(select(Customer).where(Customer.panel_id == "alice")).scalar_one()
        assert not alice.processing_restricted and not alice.sale_share_opt_out
    verify_by_code(app, client, filed["reference"])
    officer_posts(client, auth, filed["reference"], "flags")
    with app.app_context():
        alice = db.session.execute(select(Customer).where(Customer.panel_id == "alice")).scalar_one()
        assert alice.processing_restricted and alice.sale_share_opt_out and not alice.processing_objected
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == filed["reference"])).scalar_one()
        answer = [m.body_text for m in ticket.messages if m.author_kind == "staff" and not m.internal][-1]
        assert "do not sell or share" in answer
    row = request_row(app, filed["reference"])
    assert row.status == "answered"
    # The flags show wherever the customer appears.
    assert "Opted out of sale/sharing" in get_ok(client, "/customers/alice")
    assert "Processing restricted" in get_ok(client, f"/tickets/{filed['reference']}")


def test_a_refusal_gives_reasons_and_the_right_to_complain(app, client, auth, run_worker):
    filed = file_request(client, rights=["access"], jurisdiction="eu")
    run_worker()
    officer_posts(client, auth, filed["reference"], "refuse", reason="Manifestly unfounded: the fifth copy this week")
    row = request_row(app, filed["reference"])
    assert row.status == "refused" and row.denial_reason.startswith("Manifestly")
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == filed["reference"])).scalar_one()
        told = [m.body_text for m in ticket.messages if not m.internal][-1]
        assert "lodge a complaint" in told and ticket.status == "resolved"
    # The record keeps the nature, channel, dates, response and the reason; not the e-mail.
    csv_text = text_of(client.get("/privacy/records.csv"))
    assert filed["reference"] in csv_text and "Manifestly unfounded" in csv_text
    assert EMAIL.lower() not in csv_text.lower()


def test_the_queue_is_for_privacy_officers_and_sorted_by_deadline(app, client, auth, run_worker):
    eu = file_request(client, rights=["access"], jurisdiction="eu", email="eu@example.org")
    ca = file_request(client, rights=["access"], jurisdiction="ca", email="ca@example.org")
    auth.login("privacy_officer")
    page = get_ok(client, "/privacy")
    assert page.index(eu["reference"]) < page.index(ca["reference"])  # one month comes before 45 days
    assert "waiting for identity" in page
    auth.logout()
    for role in ("agent", "supervisor", "trust_safety", "admin"):
        auth.login(role)
        assert client.get("/privacy").status_code == 403
        assert client.get("/privacy/records.csv").status_code == 403
        assert client.get(f"/tickets/{eu['reference']}").status_code == 404
        page = get_ok(client, "/queue")
        response = client.post(f"/privacy/{request_id(app, eu['reference'])}/verify",
                               data={"csrf_token": csrf_from(page), "reason": "I say so, trust me"})
        assert response.status_code == 403
        auth.logout()
    assert request_row(app, eu["reference"]).verified_at is None


def test_the_public_form_files_a_request_and_keeps_what_was_typed(app, client, run_worker):
    page = get_ok(client, "/privacy/request")
    assert "Ask about your personal data" in page
    response = post_form(client, "/privacy/request", {"email": "carol@example.org", "jurisdiction": "eu"})
    assert response.status_code == 400
    assert "carol@example.org" in text_of(response) and "Choose at least one right" in text_of(response)
    response = post_form(client, "/privacy/request", {"email": "carol@example.org", "jurisdiction": "eu",
                                                      "rights": ["access", "portability"]})
    assert response.status_code == 302
    status = get_ok(client, response.headers["Location"])
    assert "Waiting for identity" in status and "Answer due by" in status
    assert client.get("/privacy/requests/not-a-token").status_code == 404


def test_the_officer_extends_the_deadline_and_the_queue_follows(app, client, auth, run_worker):
    filed = file_request(client, rights=["access"], jurisdiction="eu")
    run_worker()
    before = request_row(app, filed["reference"])
    auth.login("privacy_officer")
    page = get_ok(client, f"/tickets/{filed['reference']}")
    response = client.post(f"/tickets/{filed['reference']}/clocks/statutory_answer/extend",
                           data={"csrf_token": csrf_from(page), "reason": "Thousands of orders to gather"})
    assert response.status_code == 302
    with app.app_context():
        row = db.session.get(PrivacyRequest, before.id)
        due = privacy_requests.deadline(row)
        assert due - before.received_at > timedelta(days=80)  # one month plus two
        told = [m.body_text for m in row.ticket.messages if not m.internal and m.author_kind != "requester"]
        assert any("Thousands of orders to gather" in t for t in told)
