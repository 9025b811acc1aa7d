"""Erasure through HTTP and a real RQ worker (privacy-8-erasure): after it, no table holds
the person's e-mail, login or links (every text column is read); ledger rows stay under
a pseudonym; the audit and evidence chains still verify; a held account is refused with
the reason and erased once the hold is released."""
import hashlib
import re

from sqlalchemy import JSON, String, Text, select

from abuse_helpers import REPORTER, mails, only_case, reported
from conftest import csrf_from, get_ok, ledger_entry as entry, stored, stored_keys, text_of
from desk import jobs
from desk.abuse import enforcement, holds
from desk.abuse.models import AbuseCase, EvidenceSnapshot
from desk.audit.models import AuditEvent
from desk.audit.services import SYSTEM, verify_chain
from desk.auth.models import Staff
from desk.claims.models import Customer, LedgerEntry, Order
from desk.extensions import db
from desk.mail.models import InboundMail, OutboundMail
from desk.privacy.models import PrivacyExport, PrivacyRequest
from desk.tickets.attachments import Upload
from desk.tickets.models import Attachment, Ticket
from desk.types import utcnow

EMAIL = "Alice.Smith@Example.com"
LOGIN = "alice_ig"
LINKS = ["https://www.instagram.com/p/ALICEPOST1/", "https://www.tiktok.com/@alice_dances/video/42"]


def seed(app, panel, make_ticket, auth):
    panel.customer("alice", login=LOGIN, email=EMAIL, identifiers={"ips": ["198.51.100.23"]})
    panel.customer("bob", login="bobby", email="bob@example.net")
    for number, link in zip(("5001", "5002"), LINKS):
        panel.order(number, customer="alice", link=link)
    panel.order("6001", customer="bob", link="https://www.instagram.com/p/BOBPOST/")
    panel.ledger(entry("a-d1", "deposit", "40.00", "alice"), entry("a-c1", "charge", "10.00", "alice", order="5001", funding="deposited"),
                 entry("b-d1", "deposit", "15.00", "bob"))
    mine = make_ticket(subject=f"Refill for {LINKS[0]}", body=f"Hi, I am {LOGIN}. My post {LINKS[1]} dropped.",
                       requester_email=EMAIL, requester_name="Alice Smith", customer="alice",
                       uploads=[Upload("proof.txt", b"screenshot of alice_ig's counter")])
    # Someone else's ticket that mentions her address: the sweep must find it too.
    theirs = make_ticket(subject="Question", body=f"My friend {EMAIL.lower()} recommended you.",
                         requester_email="bob@example.net", requester_name="Bob", customer="bob")
    return mine, theirs


def file_request(client, rights=("deletion",), email=EMAIL, jurisdiction="eu"):
    response = client.post("/api/v1/privacy-requests", json={
        "requester": {"email": email, "name": "Alice"}, "rights": list(rights), "jurisdiction": jurisdiction})
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def code_and_page(app, reference):
    with app.app_context():
        request = db.session.execute(select(PrivacyRequest).where(PrivacyRequest.reference == reference)).scalar_one()
        [mail] = mails(app, f"privacy-receipt:{request.id}")
    code = re.search(r"enter this code: (\d{6})", mail.body_text).group(1)
    path = "/" + mail.body_text.split("http://", 1)[1].split("\n", 1)[0].split("/", 1)[1]
    return code, path


def verify_by_code(app, client, reference):
    code, path = code_and_page(app, reference)
    page = get_ok(client, path)
    response = client.post(f"{path}/code", data={"csrf_token": csrf_from(page), "code": code})
    assert response.status_code == 302
    assert "Your e-mail address is verified" in text_of(client.get(path))


def request_id(app, reference):
    with app.app_context():
        return db.session.execute(select(PrivacyRequest.id).where(PrivacyRequest.reference == reference)).scalar_one()


def officer_posts(client, auth, reference, action, **data):
    if client.get("/login").status_code == 200:  # not signed in yet
        auth.login("privacy_officer")
    page = get_ok(client, f"/tickets/{reference}")
    return client.post(f"/privacy/{request_id(auth.app, reference)}/{action}",
                       data={"csrf_token": csrf_from(page), **data})


def erase_verified(app, client, auth, run_worker) -> dict:
    """An erasure request filed, verified by its code and carried out by the officer and a
    worker: the request as filed."""
    filed = file_request(client)
    run_worker()
    verify_by_code(app, client, filed["reference"])
    officer_posts(client, auth, filed["reference"], "erase")
    run_worker()
    return filed


def every_text_value(app):
    """(table, column, value) for every text and JSON value in the database, and
    ("storage", key, document) for every evidence snapshot's stored document."""
    with app.app_context():
        for table in db.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]
            if not columns:
                continue
            for row in db.session.execute(select(*columns)).all():
                for column, value in zip(columns, row):
                    if value is not None:
                        yield table.name, column.name, str(value)
    for key in stored_keys(app, "evidence/"):
        yield "storage", key, stored(app, key).decode()


def traces(app, needles, words=()):
    found = []
    for table, column, value in every_text_value(app):
        lower = value.lower()
        found += [(table, column, n) for n in needles if n.lower() in lower]
        found += [(table, column, w) for w in words if re.search(rf"(?<![\w.-]){re.escape(w)}(?![\w-])", value, re.I)]
    return found


def test_erasure_leaves_no_trace_and_keeps_pseudonymised_ledger(app, client, panel, make_ticket, auth, run_worker):
    mine, _ = seed(app, panel, make_ticket, auth)
    # Her answer to a satisfaction survey (desk.csat): the rating stays, her words go.
    from desk.csat.models import Survey

    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == mine)).scalar_one()
        db.session.add(Survey(ticket=ticket, queue=ticket.queue, sent_at=utcnow(), rating="good",
                              comment=f"Thanks from {LOGIN}", answered_at=utcnow()))
        db.session.commit()
    # A message of hers the desk could not read: quarantined with its raw bytes.
    broken = (f"From: {EMAIL}\r\nSubject: my data\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
              f"I am {LOGIN}").encode()
    assert app.test_cli_runner().invoke(args=["desk", "ingest-mail", "-r", "support@x.example"],
                                        input=broken).output.startswith("quarantined")
    # An earlier access request left a copy of her data on disk.
    earlier = file_request(client, rights=["access"])
    run_worker()
    verify_by_code(app, client, earlier["reference"])
    run_worker()
    with app.app_context():
        [copy] = db.session.execute(select(PrivacyExport)).scalars().all()
        copy_key = copy.path
    assert stored(app, copy_key)
    filed = file_request(client)
    assert filed["status"] == "unverified" and filed["deadline"]
    run_worker()
    verify_by_code(app, client, filed["reference"])
    # Before the job: the data is there (the scan can see it).
    assert traces(app, [EMAIL, *LINKS], [LOGIN])
    response = officer_posts(client, auth, filed["reference"], "erase")
    assert response.status_code == 302
    run_worker()

    left = traces(app, [EMAIL, *LINKS, "instagram.com/p/alicepost1", "198.51.100.23"], [LOGIN])
    assert left == [], left
    with app.app_context():
        alice = db.session.execute(select(Customer).where(Customer.erased_at.is_not(None))).scalar_one()
        assert alice.email.endswith("@erased.invalid") and alice.login.startswith("erased-c")
        # Ledger rows kept for accounting, under the pseudonymised account.
        assert {e.panel_id for e in db.session.execute(select(LedgerEntry).where(
            LedgerEntry.customer_id == alice.id)).scalars()} == {"a-d1", "a-c1"}
        assert db.session.execute(select(Order.charge).where(Order.panel_id == "5001")).scalar_one() is not None
        # Bob is untouched.
        bob = db.session.execute(select(Customer).where(Customer.panel_id == "bob")).scalar_one()
        assert bob.email == "bob@example.net" and bob.login == "bobby"
        assert db.session.execute(select(Order.link).where(Order.panel_id == "6001")).scalar_one() == \
            "https://www.instagram.com/p/BOBPOST/"
        assert db.session.execute(select(Attachment)).scalars().all() == []
        assert [(a.rating, a.comment) for a in db.session.execute(select(Survey)).scalars()] == [("good", None)]
        assert stored(app, copy_key) is None
        # The quarantined message stays as a record that mail came, without its bytes.
        [received] = db.session.execute(select(InboundMail)).scalars().all()
        assert received.raw is None and received.sender.endswith("@erased.invalid")
        request = db.session.get(PrivacyRequest, request_id(app, filed["reference"]))
        assert request.status == "answered" and request.erased_at is not None
        kept = " ".join(k["what"] for k in request.outcome["erasure"]["kept"])
        assert "balance movements" in kept and "record of this request" in kept
        # The answer went to the person and the mail row forgot the address once sent.
        answer = db.session.execute(select(OutboundMail).where(
            OutboundMail.dedupe_key.startswith(f"privacy-erased:{request.id}:"))).scalar_one()
        assert answer.status in ("sent", "logged") and "erased" in answer.to_addr
        assert "ledger" in answer.body_text.lower() or "balance movements" in answer.body_text
        # The audit chain still verifies, with its redacted rows checked against the erasure.
        checked, broken = verify_chain()
        assert broken is None and checked > 10
        erased = db.session.execute(select(AuditEvent).where(AuditEvent.action == "privacy.erased")).scalar_one()
        assert erased.data["redacted"]["audit_events"] and "alice" not in str(erased.data).lower()

    # The job again: one erasure, nothing more.
    with app.app_context():
        jobs.enqueue("workers.privacy.erase", request.id)
        db.session.commit()
        jobs.dispatch()
    run_worker()
    with app.app_context():
        assert len(db.session.execute(select(AuditEvent).where(AuditEvent.action == "privacy.erased")).all()) == 1


def test_a_redaction_cannot_be_forged(app, client, panel, make_ticket, auth, run_worker, backend):
    """The trigger lets an erasure rewrite an audit row only with its hashes unchanged, and
    a row changed that way without a matching erasure record breaks the chain."""
    import pytest
    from sqlalchemy import update
    from sqlalchemy.exc import DBAPIError

    seed(app, panel, make_ticket, auth)
    with app.app_context():
        first = db.session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().first()
        with pytest.raises(DBAPIError):
            db.session.execute(update(AuditEvent).where(AuditEvent.id == first.id).values(hash="0" * 64,
                                                                                         redaction={"x": 1}))
            db.session.flush()
        db.session.rollback()
        db.session.execute(update(AuditEvent).where(AuditEvent.id == first.id).values(
            actor_label="someone else", redaction={"requests": [999], "digest": "forged"}))
        db.session.commit()
        assert verify_chain()[1] == first.id


def test_nothing_is_erased_before_verification(app, client, panel, make_ticket, auth, run_worker):
    seed(app, panel, make_ticket, auth)
    filed = file_request(client)
    run_worker()
    response = officer_posts(client, auth, filed["reference"], "erase")
    assert response.status_code == 302
    page = text_of(client.get(response.headers["Location"]))
    assert "not verified yet" in page
    # The job itself refuses an unverified request too.
    with app.app_context():
        jobs.enqueue("workers.privacy.erase", request_id(app, filed["reference"]))
        db.session.commit()
        jobs.dispatch()
    run_worker()
    assert traces(app, [EMAIL])


def test_a_held_account_is_refused_erasure_with_the_reason(app, client, panel, make_ticket, auth, run_worker):
    seed(app, panel, make_ticket, auth)
    staff_id = auth.staff("trust_safety", "ts@desk.test")
    with app.app_context():
        alice = db.session.execute(select(Customer).where(Customer.panel_id == "alice")).scalar_one()
        hold = holds.place(alice, None, "Police request PR-17 asks us to keep this account", SYSTEM, staff_id)
        db.session.commit()
        hold_id = hold.id
    filed = erase_verified(app, client, auth, run_worker)
    with app.app_context():
        request = db.session.get(PrivacyRequest, request_id(app, filed["reference"]))
        assert request.status == "deferred" and request.erased_at is None
        assert any(f"legal hold {hold_id}" in b for b in request.outcome["erasure"]["deferred"])
        told = [m.body_text for m in request.ticket.messages if not m.internal]
        assert any("cannot erase your data yet" in t and f"legal hold {hold_id}" in t for t in told)
    page = get_ok(client, f"/tickets/{filed['reference']}")
    assert "Erasure deferred" in page and f"legal hold {hold_id}" in page
    assert traces(app, [EMAIL, *LINKS])  # everything is still there

    # The hold is released: the deferred erasure runs by itself.
    with app.app_context():
        holds.release(hold_id, "The police closed PR-17 in writing", db.session.get(Staff, staff_id))
    run_worker()
    assert traces(app, [EMAIL, *LINKS], [LOGIN]) == []
    with app.app_context():
        assert db.session.get(PrivacyRequest, request_id(app, filed["reference"])).status == "answered"


def close_case_of_bob(app, auth, case_id):
    staff_id = auth.staff("trust_safety", "ts@desk.test")
    with app.app_context():
        bob = db.session.execute(select(Customer).where(Customer.panel_id == "bob")).scalar_one()
        for hold in holds.active_holds(bob):
            holds.release(hold.id, "Investigation finished", db.session.get(Staff, staff_id))
        enforcement.close_case(db.session.get(AbuseCase, case_id), db.session.get(Staff, staff_id),
                               "no_breach", "Looked into it: the page is the owner's own")
        db.session.commit()


def bobs_closed_case(app, client, panel, auth, run_worker, before_report=None) -> dict:
    """Bob's account reported, its evidence taken by the worker, and the case closed with
    no breach (so an erasure may redact it): the case as only_case() gives it.
    `before_report()` runs after his account and order exist."""
    panel.customer("bob", login="bobby", email="bob.case@example.net")
    panel.order("7001", customer="bob", link="https://www.instagram.com/p/SCAM1/")
    if before_report is not None:
        before_report()
    reported(client, app)
    case = only_case(app)
    run_worker()
    close_case_of_bob(app, auth, case["id"])
    return case


def snapshot_of(app, case_id) -> dict:
    with app.app_context():
        row = db.session.execute(select(EvidenceSnapshot).where(EvidenceSnapshot.case_id == case_id)
                                 .order_by(EvidenceSnapshot.seq)).scalars().first()
        return {"key": row.body_key, "sha256": row.sha256, "size": row.size, "redaction": row.redaction}


def test_a_closed_cases_evidence_is_redacted_and_still_verifies(app, client, panel, run_worker, runner, auth):
    case = bobs_closed_case(app, client, panel, auth, run_worker)
    before = snapshot_of(app, case["id"])
    assert b"bob.case@example.net" in stored(app, before["key"])
    filed = file_request(client, email="bob.case@example.net")
    run_worker()
    verify_by_code(app, client, filed["reference"])
    officer_posts(client, auth, filed["reference"], "erase")
    run_worker()
    left = traces(app, ["bob.case@example.net", "instagram.com/p/SCAM1"], ["bobby"])  # storage too
    assert left == [], left
    after = snapshot_of(app, case["id"])
    assert after["redaction"] is not None and after["sha256"] == before["sha256"]  # the chain's hash stays
    # A new object, named after its own digest; the unredacted one is gone.
    redacted = stored(app, after["key"])
    digest = after["redaction"]["digest"]
    assert after["key"] == f"evidence/abuse/{case['id']}/1-{digest}.json" != before["key"]
    assert hashlib.sha256(redacted).hexdigest() == digest and len(redacted) == after["size"]
    assert stored(app, before["key"]) is None and stored_keys(app, "evidence/") == [after["key"]]
    result = runner.invoke(args=["desk", "evidence", "verify", str(case["id"])])
    assert result.exit_code == 0, result.output
    download = auth.client_for("trust_safety").get(f"/abuse/cases/{case['id']}/evidence/1.json")
    assert download.data == redacted and download.headers["X-Content-SHA256"] == digest


def test_the_sweep_redacts_evidence_that_names_the_address_anywhere(app, client, panel, make_ticket, run_worker,
                                                                    runner, auth):
    """Her address is in a note on someone else's ticket, so in that account's case's
    evidence: no case of hers, but the sweep reads the stored documents too."""
    case = bobs_closed_case(app, client, panel, auth, run_worker, before_report=lambda: make_ticket(
        subject="Bob's question", customer="bob", requester_email="bob.case@example.net",
        body=f"My colleague {EMAIL} manages the page with me."))
    before = snapshot_of(app, case["id"])
    assert EMAIL.lower().encode() in stored(app, before["key"]).lower()
    filed = file_request(client)
    run_worker()
    verify_by_code(app, client, filed["reference"])
    officer_posts(client, auth, filed["reference"], "erase")
    run_worker()
    assert traces(app, [EMAIL]) == []
    after = snapshot_of(app, case["id"])
    assert after["redaction"] and stored(app, before["key"]) is None
    assert b"bob.case@example.net" in stored(app, after["key"])  # bob's own data stays: only her address went
    result = runner.invoke(args=["desk", "evidence", "verify", str(case["id"])])
    assert result.exit_code == 0, result.output


def test_a_reported_minor_is_erased_at_once_unless_serious_harm_holds_it(app, client, panel, make_ticket, auth,
                                                                         run_worker):
    seed(app, panel, make_ticket, auth)
    staff_id = auth.staff("trust_safety", "ts@desk.test")
    with app.app_context():
        alice = db.session.execute(select(Customer).where(Customer.panel_id == "alice")).scalar_one()
        # An ordinary hold does not keep a minor's data (privacy-11-minor); serious harm would.
        holds.place(alice, None, "Keeping the account while a chargeback is argued", SYSTEM, staff_id)
        db.session.commit()
    auth.login("agent")
    page = get_ok(client, "/customers/alice")
    assert "Report the account holder as under 18" not in page
    assert client.post("/privacy/customers/alice/minor", data={"csrf_token": csrf_from(page),
                                                                "reason": "She wrote that she is 15"}).status_code == 403
    auth.logout()
    auth.login("trust_safety", "ts@desk.test")
    page = get_ok(client, "/customers/alice")
    short = client.post("/privacy/customers/alice/minor", data={"csrf_token": csrf_from(page), "reason": "15"})
    assert "needs a written reason" in text_of(client.get(short.headers["Location"]))
    client.post("/privacy/customers/alice/minor", data={"csrf_token": csrf_from(page),
                                                         "reason": "Her school wrote to us: she is 15"})
    run_worker()
    assert traces(app, [EMAIL, *LINKS], [LOGIN]) == []
    with app.app_context():
        request = db.session.execute(select(PrivacyRequest).where(PrivacyRequest.channel == "staff")).scalar_one()
        assert request.status == "answered" and request.outcome["erasure"]["rule"] == "privacy-11-minor"
        alice = db.session.get(Customer, request.customer_id)
        assert alice.minor_reported and alice.erased_at is not None


def test_a_reporter_is_erased_and_the_case_keeps_the_report(app, client, panel, auth, run_worker):
    panel.customer("bob", login="bobby", email="bob.case@example.net")
    panel.order("7001", customer="bob", link="https://www.instagram.com/p/SCAM1/")
    reported(client, app)
    case = only_case(app)
    run_worker()
    filed = file_request(client, email=REPORTER)
    run_worker()
    verify_by_code(app, client, filed["reference"])
    officer_posts(client, auth, filed["reference"], "erase")
    run_worker()
    assert traces(app, [REPORTER, "Wendy Watch"]) == []
    with app.app_context():
        ticket = db.session.get(AbuseCase, case["id"]).ticket
        # The case's record keeps what was reported, and about whom.
        assert "fake investment scheme" in ticket.messages[0].body_text
        assert db.session.execute(select(Customer.email).where(Customer.panel_id == "bob")).scalar_one() == \
            "bob.case@example.net"
        request = db.session.get(PrivacyRequest, request_id(app, filed["reference"]))
        assert "reports you made" in " ".join(k["what"] for k in request.outcome["erasure"]["kept"])


def test_an_address_changed_after_the_request_is_erased_too(app, client, panel, make_ticket, auth, run_worker):
    """The panel moved the account to a new address after the request came from the old
    one: both are the person's, and neither survives."""
    seed(app, panel, make_ticket, auth)
    filed = file_request(client)
    run_worker()
    panel.customer("alice", login=LOGIN, email="alice.new@example.org")
    make_ticket(subject="From my new address", body="Hello again", requester_email="alice.new@example.org",
                customer="alice")
    verify_by_code(app, client, filed["reference"])
    officer_posts(client, auth, filed["reference"], "erase")
    run_worker()
    left = traces(app, [EMAIL, "alice.new@example.org", *LINKS], [LOGIN])
    assert left == [], left
    with app.app_context():
        sent = db.session.execute(select(OutboundMail).where(
            OutboundMail.dedupe_key.startswith("privacy-erased:"))).scalars().all()
        assert len(sent) == 2 and all(m.status in ("sent", "logged") for m in sent)


def test_the_webhook_events_about_the_account_name_its_pseudonym_after_erasure(app, client, panel, make_ticket,
                                                                                 auth, run_worker):
    """The panel was told of her tickets by panel id ("alice", a name); after the erasure no
    event names her, and the other customer's events are untouched."""
    from desk.webhooks.models import WebhookEndpoint, WebhookEvent

    with app.app_context():
        db.session.add(WebhookEndpoint(url="https://panel.example/hooks", secret="s" * 32,
                                       events=["ticket.created"], active=True))
        db.session.commit()
    seed(app, panel, make_ticket, auth)
    with app.app_context():
        named = sorted(e.payload["customer"] for e in db.session.execute(select(WebhookEvent)).scalars())
    assert named == ["alice", "bob"]
    filed = erase_verified(app, client, auth, run_worker)
    with app.app_context():
        alice = db.session.execute(select(Customer).where(Customer.erased_at.is_not(None))).scalar_one()
        events = {e.payload["customer"]: e.payload for e in db.session.execute(select(WebhookEvent)).scalars()}
        request = db.session.get(PrivacyRequest, request_id(app, filed["reference"]))
        assert request.outcome["erasure"]["counts"]["webhook_events"] == 1
    assert sorted(events) == sorted([alice.panel_id, "bob"]) and alice.panel_id.startswith("erased-c")
    assert events[alice.panel_id]["ticket"].startswith("T-")  # the reference the panel knows stays
    assert [hit for hit in traces(app, [], ["alice"]) if hit[0].startswith("webhook")] == []
