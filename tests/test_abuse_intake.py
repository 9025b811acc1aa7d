"""Abuse and rights-holder reports through the public surface: the JSON intakes and the
forms, e-mail confirmation, "needs info", merging by target, the serious-harm path and
who may see a case (AUP §3–§6, Terms §23)."""
import base64
import io

from sqlalchemy import select

from abuse_helpers import (REPORTER, confirm_latest, link_in, mails, only_case, report_row, reported,
                           send_report)
from conftest import csrf_from, get_ok, post_form, text_of
from desk.abuse.models import AbuseCase, Report
from desk.extensions import db
from desk.sla.models import SlaEvent, TicketClock
from desk.tickets.links import make_token
from desk.tickets.models import Attachment, Ticket


def test_a_report_waits_for_the_reporters_confirmation_then_opens_a_case(app, client):
    response = send_report(client)
    assert response.status_code == 202
    body = response.get_json()
    assert body["reference"].startswith("R-") and body["needs_info"] is None
    assert "e-mailed" in body["confirmation"]
    with app.app_context():
        assert db.session.execute(select(AbuseCase)).first() is None  # not worked before confirmation
    [mail] = mails(app, "report-confirm:")
    assert mail.to_addr == REPORTER and body["reference"] in mail.subject

    status_page = confirm_latest(app, client).headers["Location"]
    page = get_ok(client, status_page)
    assert body["reference"] in page and "Under review" in page

    case = only_case(app)
    assert case["queue"] == "abuse" and case["severity"] == "high" and case["priority"] == "high"
    assert case["reports"] == [body["reference"]]
    assert "link:https://instagram.com/p/SCAM1" in case["subjects"]
    # A second click on the link changes nothing.
    confirm_latest(app, client)
    assert only_case(app)["reports"] == [body["reference"]]


def test_a_forged_or_foreign_confirmation_link_is_a_404(app, client):
    send_report(client)
    path = link_in(mails(app, "report-confirm:")[-1])
    assert client.get(path[:-3] + "xyz").status_code == 404
    assert client.get("/reports/confirm/not-a-token").status_code == 404
    # The status link is signed with another salt: it does not confirm anything.
    assert client.get(path.replace("/reports/confirm/", "/reports/")).status_code == 404


def test_reports_on_one_target_merge_into_one_case_with_every_reporter(app, client, panel):
    panel.customer("bob")
    panel.order("5001", customer="bob", link="https://instagram.com/p/SCAM1?igshid=abc")
    first = reported(client, app)
    second = reported(client, app, links=["http://www.instagram.com/p/SCAM1/?utm_source=x"],
                      description="Same page: it asked me for my card details.",
                      reporter={"email": "second@victims.example"})
    third = reported(client, app, links=[], orders=["5001"], category="3.3",
                     description="The order boosts a harassment page.", reporter={"email": "third@victims.example"})
    case = only_case(app)
    assert case["reports"] == [first, second, third]
    assert {"link:https://instagram.com/p/SCAM1", "order:5001", "account:bob"} <= set(case["subjects"])
    with app.app_context():
        ticket = db.session.execute(select(Ticket)).scalar_one()
        token = make_token(ticket)
        others = [m for m in ticket.messages if m.author_email == "second@victims.example"]
        assert others and all(m.internal for m in others)
    # The first reporter's private link never shows another reporter's words.
    page = get_ok(client, f"/t/{token}")
    assert "card details" not in page and "second@victims.example" not in page
    # The joiners were told their report is in.
    assert len(mails(app, "report-ack:")) == 2


def test_a_report_without_a_link_or_description_is_kept_as_needs_info(app, client):
    response = send_report(client, links=[], description="")
    body = response.get_json()
    assert response.status_code == 202
    assert body["needs_info"]["rule"] == "aup-6-report"
    confirm_latest(app, client)
    assert report_row(app, body["reference"])["status"] == "needs_info"
    with app.app_context():
        assert db.session.execute(select(AbuseCase)).first() is None
    [asked] = mails(app, "report-needs-info:")
    status_path = link_in(asked)
    page = get_ok(client, status_path)
    assert "We need more information" in page and "link or order reference" in page

    # Nothing lost, and the reporter completes it through the same link.
    response = post_form(client, status_path, {"links": "https://t.me/scamchannel", "orders": "",
                                               "description": "A Telegram channel selling stolen cards."})
    assert response.status_code == 302
    assert report_row(app, body["reference"])["status"] == "filed"
    assert "link:https://t.me/scamchannel" in only_case(app)["subjects"]


def test_bad_reports_get_clear_errors(app, client):
    cases = [
        ({"category": "9.9"}, "category"),
        ({"reporter": {"email": "not-an-address"}}, "reporter_email"),
        ({"links": "https://a.example/x", "csam": True}, "csam"),
        ({"links": [{"url": "x"}]}, "links"),
        ({"csam": "yes"}, "csam"),
        ({"description": "x" * 20_001}, "description"),
    ]
    for fields, name in cases:
        response = send_report(client, **fields)
        assert response.status_code == 422, (fields, response.status_code)
        assert name in response.get_json()["error"]["fields"], fields
    assert client.post("/api/v1/reports/abuse", data="{", content_type="application/json").status_code == 400
    with app.app_context():
        assert db.session.execute(select(Report)).first() is None


def test_oversize_evidence_is_refused_and_nothing_is_half_stored(make_app):
    app = make_app(ATTACHMENT_MAX_BYTES=1000)
    client = app.test_client()
    big = base64.b64encode(b"x" * 1001).decode()
    response = send_report(client, evidence=[{"filename": "proof.png", "content_base64": big}])
    assert response.status_code == 413
    assert "1000" in response.get_json()["error"]["message"] or "KB" in response.get_json()["error"]["message"]
    with app.app_context():
        assert db.session.execute(select(Report)).first() is None
    # On the form, everything typed stays.
    page = get_ok(client, "/report/abuse")
    response = client.post("/report/abuse", data={
        "csrf_token": csrf_from(page), "category": "3.2", "links": "https://scam.example/page",
        "description": "Kept words", "email": REPORTER,
        "attachments": [(io.BytesIO(b"y" * 1001), "big.png")]}, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "Kept words" in text_of(response) and "https://scam.example/page" in text_of(response)


def test_script_in_a_description_never_reaches_a_page(app, client, auth):
    reported(client, app, description='<script>alert("x")</script><img src=x onerror=alert(1)> scam page')
    auth.login("trust_safety")
    page = get_ok(client, f"/tickets/{only_case(app)['ticket']}")
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page


def test_the_form_files_a_report_with_its_evidence(app, client, auth):
    page = get_ok(client, "/report/abuse")
    assert "3.1 — Serious crime" in page and "4.8 — Sanctions" in page
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    response = client.post("/report/abuse", data={
        "csrf_token": csrf_from(page), "category": "4.1", "links": "https://www.tiktok.com/@victim/video/1",
        "description": "Someone is buying dislikes on my video.", "email": REPORTER, "name": "Vic",
        "attachments": [(io.BytesIO(png), "screenshot.png")]}, content_type="multipart/form-data")
    assert response.status_code == 200, text_of(response)[:300]
    assert "We received your report" in text_of(response)
    confirm_latest(app, client)
    case = only_case(app)
    assert case["severity"] == "high"
    with app.app_context():
        [att] = db.session.execute(select(Attachment)).scalars().all()
        assert att.filename == "screenshot.png" and att.content_type == "image/png"
    auth.login("trust_safety")
    ticket_page = get_ok(client, f"/tickets/{case['ticket']}")
    assert "aup-4.1-permission" in ticket_page and "screenshot.png" in ticket_page


def test_the_forms_need_their_csrf_token(client):
    assert client.post("/report/abuse", data={"category": "3.2", "email": REPORTER}).status_code == 400
    assert client.post("/report/rights", data={"work": "Brand", "email": REPORTER}).status_code == 400


def test_a_rights_holder_notice_runs_the_legal_clock_and_needs_good_faith(app, client):
    response = send_report(client, "rights", category=None, right="trademark", work="ACME", good_faith=False)
    assert response.status_code == 422 and "good_faith" in response.get_json()["error"]["fields"]
    response = send_report(client, "rights", right="patent", work="ACME", good_faith=True)
    assert "right" in response.get_json()["error"]["fields"]
    reference = reported(client, app, "rights", category=None, right="trademark", work="ACME",
                         registration="EU 0123456", good_faith=True,
                         description="The page sells counterfeit ACME goods.")
    case = only_case(app)
    assert case["queue"] == "legal" and case["reports"] == [reference]
    with app.app_context():
        clocks = {c.name: c.rule for c in db.session.execute(select(TicketClock)).scalars()}
        assert clocks == {"acknowledgement": "terms-33-legal", "response": "terms-33-legal"}
        assert db.session.get(AbuseCase, case["id"]).details["registration"] == "EU 0123456"


def test_rights_form_keeps_what_was_typed_without_the_statement(client):
    page = get_ok(client, "/report/rights")
    response = client.post("/report/rights", data={
        "csrf_token": csrf_from(page), "right": "copyright", "work": "My song", "links": "https://x.example/a",
        "description": "Uses my song.", "email": REPORTER})
    assert response.status_code == 422
    assert "good-faith statement is required" in text_of(response) and "My song" in text_of(response)


def test_a_serious_harm_report_is_worked_at_once_paged_and_restricted(app, client, auth, panel, api_key):
    panel.customer("mallory")
    panel.order("6001", customer="mallory", link="https://www.instagram.com/p/HARM/")
    response = send_report(client, category="3.1", links=["https://instagram.com/p/HARM"],
                           description="Content exploiting a minor.")
    assert response.status_code == 202
    assert "at once" in response.get_json()["confirmation"]
    assert mails(app, "report-confirm:") == []
    case = only_case(app)
    assert case["serious_harm"] and case["severity"] == "critical" and case["priority"] == "urgent"
    with app.app_context():
        clock = db.session.execute(select(TicketClock).where(TicketClock.rule == "aup-5.6-serious-harm")).scalar_one()
        assert (clock.measure, clock.amount) == ("wall", 60)
        assert db.session.execute(select(SlaEvent).where(SlaEvent.kind == "page")).scalar_one()
    # Not to an agent (by URL or API key), nor to a supervisor or admin: trust & safety only.
    for role in ("agent", "supervisor", "admin"):
        auth.login(role)
        assert client.get(f"/tickets/{case['ticket']}").status_code == 404, role
        assert client.post(f"/abuse/cases/{case['id']}/actions", data={}).status_code in (400, 403), role
        auth.logout()
    headers = {"Authorization": f"Bearer {api_key('staff')}"}
    assert client.get(f"/api/v1/tickets/{case['ticket']}", headers=headers).status_code == 404
    auth.login("trust_safety")
    page = get_ok(client, f"/tickets/{case['ticket']}")
    assert "serious harm" in page and "mallory" in page
    # The matched account is held at once.
    customer_page = get_ok(client, "/customers/mallory")
    assert "cannot be erased" in customer_page


def test_a_csam_report_keeps_only_the_hash_and_logs_every_look(app, client, auth):
    data = b"\xff\xd8\xff" + b"1" * 100
    response = send_report(client, category="3.1", csam=True, links=["https://bad.example/x"],
                           description="Reported material.",
                           evidence=[{"filename": "m.jpg", "content_base64": base64.b64encode(data).decode()}])
    assert response.status_code == 202
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    [row] = report_row(app, response.get_json()["reference"])["files"]
    assert row["sha256"] == digest and row["stored"] is False
    with app.app_context():
        assert db.session.execute(select(Attachment)).first() is None
        from desk.storage import get_storage
        from desk.tickets.attachments import key_for

        assert not get_storage().exists(key_for(digest))
    auth.login("trust_safety")
    page = get_ok(client, f"/tickets/{only_case(app)['ticket']}")
    assert digest in page and "CSAM" in page
    get_ok(client, f"/tickets/{only_case(app)['ticket']}")
    with app.app_context():
        from desk.audit.models import AuditEvent

        views = db.session.execute(select(AuditEvent).where(AuditEvent.action == "case.viewed")).scalars().all()
        assert len(views) == 2 and {v.actor_label for v in views} == {"trust_safety@desk.test"}


def test_a_muted_reporters_reports_are_kept_and_deprioritised(app, client, auth):
    reported(client, app)
    case = only_case(app)
    auth.login("trust_safety")
    page = get_ok(client, f"/tickets/{case['ticket']}")
    response = client.post(f"/abuse/cases/{case['id']}/mute", data={
        "csrf_token": csrf_from(page), "email": REPORTER, "reason": "Forty reports this week, none founded."})
    assert response.status_code == 302
    reference = reported(client, app, links=["https://other.example/page"], category="3.3")
    assert report_row(app, reference)["muted"] is True
    with app.app_context():
        ticket = db.session.execute(select(Ticket).order_by(Ticket.id.desc())).scalars().first()
        assert ticket.priority == "low"
        assert any("aup-unfounded-notices" in m.body_text for m in ticket.messages)


def test_waiting_reports_are_listed_for_trust_and_safety_only(app, client, auth):
    send_report(client, description="")
    auth.login("agent")
    assert client.get("/abuse/reports").status_code == 403
    auth.logout()
    auth.login("trust_safety")
    page = get_ok(client, "/abuse/reports")
    assert REPORTER in page and "unconfirmed" in page


def test_the_public_intakes_are_rate_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PUBLIC_FORMS="2 per minute")
    client = app.test_client()
    assert [send_report(client).status_code for _ in range(2)] == [202, 202]
    response = send_report(client)
    assert response.status_code == 429 and response.headers.get("Retry-After")
    assert response.get_json()["error"]["code"] == "too_many_requests"
    page = get_ok(client, "/report/abuse")
    for _ in range(2):
        client.post("/report/abuse", data={"csrf_token": csrf_from(page), "category": "3.2", "email": REPORTER,
                                           "links": "https://x.example/a", "description": "Scam."})
    limited = client.post("/report/abuse", data={"csrf_token": csrf_from(page), "category": "3.2",
                                                 "email": REPORTER})
    assert limited.status_code == 429


def test_the_reporter_never_sees_the_account_the_actions_or_the_evidence(app, client, panel, auth):
    panel.customer("bob")
    panel.order("5001", customer="bob", link="https://www.instagram.com/p/SCAM1/")
    reported(client, app)
    case = only_case(app)
    auth.login("trust_safety")
    page = get_ok(client, f"/tickets/{case['ticket']}")
    client.post(f"/abuse/cases/{case['id']}/actions", data={
        "csrf_token": csrf_from(page), "action": "suspend", "account": "bob",
        "reason": "Promoting a fraudulent investment page."})
    client.post(f"/tickets/{case['ticket']}/reply", data={
        "csrf_token": csrf_from(page), "body": "Internal: bob is a repeat offender.", "internal": "y"})
    auth.logout()
    # The status link the reporter was given opens their report, and only its status.
    with app.app_context():
        from desk import links

        report = db.session.execute(select(Report)).scalar_one()
        status_path = links.report_url(report).replace("http://desk.test", "")
    page = get_ok(client, status_path)
    assert "Under review" in page
    for secret in ("bob", "Suspend", "repeat offender", "snapshot", "SHA-256", "5001"):
        assert secret not in page, secret
    with app.app_context():
        token = make_token(db.session.execute(select(Ticket)).scalar_one())
    ticket_page = get_ok(client, f"/t/{token}")
    for secret in ("bob", "Suspend", "repeat offender", "snapshot"):
        assert secret not in ticket_page, secret


def test_the_ticket_api_sends_reports_to_their_own_intake(app, client, api_key):
    headers = {"Authorization": f"Bearer {api_key('panel')}"}
    for kind, where in (("abuse", "/api/v1/reports/abuse"), ("rights", "/api/v1/reports/rights"),
                        ("chargeback", "/api/v1/ledger")):
        response = client.post("/api/v1/tickets", headers=headers, json={
            "kind": kind, "subject": "Bad page", "body": "See the link.", "requester": {"email": REPORTER}})
        assert response.status_code == 422 and where in response.get_json()["error"]["message"], kind
    with app.app_context():
        assert db.session.execute(select(Ticket)).first() is None


def test_rate_limits_are_counted_in_redis_so_every_process_shares_them(make_app, redis_server):
    """Two app instances (two gunicorn workers) on one Redis: the second sees the first's count."""
    first = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PUBLIC_FORMS="2 per minute")
    second = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PUBLIC_FORMS="2 per minute")
    assert first.config["RATELIMIT_STORAGE_URI"] == redis_server.url
    assert [send_report(first.test_client()).status_code for _ in range(2)] == [202, 202]
    limited = send_report(second.test_client())
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert any(b"LIMIT" in key.upper() for key in redis_server.keys("*"))
