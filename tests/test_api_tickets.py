"""The tickets JSON API: keys, validation, visibility of internal notes."""
import base64
import re
import threading

import pytest
from sqlalchemy import select, text

from desk.audit.models import AuditEvent
from desk.extensions import db
from desk.jobs import OutboxEntry
from desk.tickets.models import Ticket

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def new_ticket(client, key, **fields):
    body = {"subject": "Order 1001 is stuck", "body": "It has been pending for two days.",
            "requester": {"email": "alice@example.com", "name": "Alice"}, "customer": "alice-1", "order": "1001"}
    body.update(fields)
    return client.post("/api/v1/tickets", json=body, headers=bearer(key))


def test_create_ticket_returns_reference_and_enqueues_ack(app, client, api_key):
    response = new_ticket(client, api_key("panel"))
    assert response.status_code == 201
    data = response.get_json()
    assert data["reference"].startswith("T-") and len(data["reference"]) == len("T-26-000001")
    assert data["queue"] == "support" and data["status"] == "new"
    assert response.headers["Location"].endswith(data["reference"])
    with app.app_context():
        outbox = db.session.query(OutboxEntry).one()
        assert outbox.func == "workers.tickets.send_acknowledgement"
        assert outbox.status == "sent"  # Redis was up, so it went straight to the queue
        ticket = db.session.query(Ticket).one()
        assert outbox.args == [ticket.id]
        assert ticket.customer.panel_id == "alice-1"


def test_references_are_sequential_and_unique(client, api_key):
    key = api_key("panel")
    refs = [new_ticket(client, key).get_json()["reference"] for _ in range(3)]
    numbers = [int(r.rsplit("-", 1)[1]) for r in refs]
    assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2]


@pytest.mark.postgresql_only
def test_concurrent_intakes_get_distinct_references_and_one_whole_chain(app, api_key):
    """Several connections filing at once (issue 11): each ticket its own reference from the
    year's sequence, every ticket.created event linked into one chain that verifies."""
    from desk.audit.services import verify_chain

    key = api_key("panel")
    answers, start = [], threading.Barrier(6)

    def file(slot):
        client = app.test_client()
        start.wait()
        for n in range(4):
            response = new_ticket(client, key, subject=f"Parallel {slot}-{n}", order=None, customer=None)
            answers.append((response.status_code, (response.get_json() or {}).get("reference")))

    threads = [threading.Thread(target=file, args=(slot,)) for slot in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [status for status, _ in answers] == [201] * 24
    references = [ref for _, ref in answers]
    assert len(set(references)) == 24 and all(re.fullmatch(r"T-\d{2}-\d{6}", ref) for ref in references)
    with app.app_context():
        created = db.session.query(AuditEvent).filter(AuditEvent.action == "ticket.created").all()
        assert sorted(event.subject_id for event in created) == sorted(references)
        checked, broken = verify_chain()
        assert broken is None and checked >= 24


@pytest.mark.postgresql_only
def test_an_intake_in_progress_does_not_hold_up_the_next(app, api_key):
    """The serial point is gone: while one intake's transaction is open (reference taken,
    audit event recorded, not committed), another is filed and answered; the first then
    commits after it, and the chain links both in commit order."""
    from desk.audit.services import SYSTEM, verify_chain
    from desk.tickets.services import NewTicket, open_ticket

    key = api_key("panel")
    opened, release, first = threading.Event(), threading.Event(), {}

    def slow_intake():
        with app.app_context():
            ticket, _ = open_ticket(NewTicket(subject="Slow one", body="Still typing.",
                                              requester_email="slow@example.com"), SYSTEM)
            first["reference"] = ticket.reference
            opened.set()
            release.wait(timeout=60)
            db.session.commit()

    slow = threading.Thread(target=slow_intake)
    slow.start()
    try:
        assert opened.wait(timeout=60)
        answer = {}
        quick = threading.Thread(target=lambda: answer.update(response=new_ticket(app.test_client(), key)))
        quick.start()
        quick.join(timeout=30)  # before issue 11 it waited here for the slow intake's locks
        assert not quick.is_alive(), "the second intake waited for the first one's commit"
    finally:
        release.set()
        slow.join(timeout=60)
    assert answer["response"].status_code == 201
    later = answer["response"].get_json()["reference"]
    assert later != first["reference"] and later > first["reference"]  # the slow one took its number first
    with app.app_context():
        order = [r.subject_id for r in db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "ticket.created").order_by(AuditEvent.id)).scalars()]
        assert order == [later, first["reference"]]  # chained as they committed
        assert verify_chain()[1] is None


def test_migration_0023_keeps_the_year_counting_down_and_up(app, client, api_key):
    """References go on from the last one across migration 0023 both ways: down, the
    year's sequence is written back into its ticket_sequences row; up, the sequence starts
    after the row."""
    from flask_migrate import downgrade, upgrade

    key = api_key("panel")
    last = int(new_ticket(client, key).get_json()["reference"].rsplit("-", 1)[1])
    with app.app_context():
        db.session.remove()
        downgrade(revision="0022")
        try:
            assert db.session.execute(text("SELECT max(last) FROM ticket_sequences")).scalar() == last
        finally:
            db.session.remove()
            upgrade()
            db.engine.dispose()
    after = int(new_ticket(client, key).get_json()["reference"].rsplit("-", 1)[1])
    assert after == last + 1


def test_api_requires_a_valid_key(client, api_key):
    assert new_ticket(client, "dk_not-a-key").status_code == 401
    response = client.post("/api/v1/tickets", json={})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_revoked_key_is_refused(app, client, api_key):
    from desk.audit.services import Actor
    from desk.auth.models import ApiKey
    from desk.auth.services import revoke_api_key

    key = api_key("panel")
    assert new_ticket(client, key).status_code == 201
    with app.app_context():
        revoke_api_key(db.session.query(ApiKey).one(), Actor("system"))
    assert new_ticket(client, key).status_code == 401


@pytest.mark.parametrize("raw", ["{not json", "[1, 2", "", "\x00\x01"])
def test_malformed_json_is_a_400_with_a_message(app, client, api_key, raw):
    response = client.post("/api/v1/tickets", data=raw, content_type="application/json",
                           headers=bearer(api_key("panel")))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "malformed_json" and "JSON" in error["message"]
    with app.app_context():
        assert db.session.query(Ticket).count() == 0


def test_json_that_is_not_an_object_is_refused(client, api_key):
    response = client.post("/api/v1/tickets", json=["a", "list"], headers=bearer(api_key("panel")))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"


def test_missing_fields_are_listed(client, api_key):
    response = client.post("/api/v1/tickets", json={"subject": " ", "requester": {"email": "nope"}},
                           headers=bearer(api_key("panel")))
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert set(fields) == {"subject", "body", "requester_email"}


def test_wrong_types_get_a_clear_error(client, api_key):
    response = new_ticket(client, api_key("panel"), subject={"nested": True})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"subject": "must be a string"}
    response = new_ticket(client, api_key("panel"), kind="lottery")
    assert response.status_code == 422 and "kind" in response.get_json()["error"]["fields"]


def test_ids_longer_than_the_panel_sends_are_refused_not_a_500(app, client, api_key):
    """Found by schemathesis: a 65-character order (or customer) id failed in PostgreSQL's
    String(64) column, a 500, and SQLite kept it whole."""
    response = new_ticket(client, api_key("panel"), order="0" * 65, customer="c" * 65)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"order": "at most 64 characters",
                                                      "customer": "at most 64 characters"}
    with app.app_context():
        assert db.session.query(Ticket).count() == 0
    assert new_ticket(client, api_key("panel"), order="0" * 64, customer="c" * 64).status_code == 201


def test_card_numbers_are_redacted_on_intake(app, client, api_key):
    response = new_ticket(client, api_key("panel"), body="I paid with 4111 1111 1111 1111 yesterday, order 1001.",
                          subject="Charged with 5555555555554444")
    data = response.get_json()
    message = data["messages"][0]
    assert "4111" not in message["body_text"] and "4111" not in message["body_html"]
    assert "[card number removed]" in message["body_text"]
    assert "order 1001" in message["body_text"]  # ordinary numbers stay
    assert "5555555555554444" not in data["subject"]
    assert "card number" in message["redaction_note"]
    with app.app_context():
        stored = db.session.query(Ticket).one()
        assert "4111" not in stored.messages[0].body_text and "4111" not in stored.messages[0].body_html


def test_html_in_a_ticket_is_never_rendered(client, api_key):
    response = new_ticket(client, api_key("panel"), body='<script>alert(1)</script><img src=x onerror=alert(2)>')
    html = response.get_json()["messages"][0]["body_html"]
    assert "<script" not in html and "<img" not in html


def test_attachment_stored_with_sniffed_type_and_hash(app, client, api_key):
    import hashlib

    response = new_ticket(client, api_key("panel"), attachments=[
        {"filename": "../../etc/screenshot.txt", "content_base64": base64.b64encode(PNG).decode()}])
    assert response.status_code == 201
    attachment = response.get_json()["messages"][0]["attachments"][0]
    assert attachment["content_type"] == "image/png"  # from the bytes, not the name
    assert attachment["filename"] == "screenshot.txt"
    assert attachment["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert attachment["size"] == len(PNG)


def test_oversize_attachment_is_refused_with_a_clear_message(make_app, api_key):
    app = make_app(ATTACHMENT_MAX_BYTES=1024)
    client = app.test_client()
    big = base64.b64encode(b"a" * 2048).decode()
    response = new_ticket(client, api_key("panel"), attachments=[{"filename": "log.txt", "content_base64": big}])
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "attachment_rejected"
    assert "log.txt" in error["message"] and "1.0 KB" in error["message"]
    with app.app_context():
        assert db.session.query(Ticket).count() == 0


def test_disallowed_attachment_type_is_refused(client, api_key):
    exe = base64.b64encode(b"MZ\x90\x00" + b"\x00" * 200).decode()
    response = new_ticket(client, api_key("panel"), attachments=[{"filename": "photo.png", "content_base64": exe}])
    assert response.status_code == 415
    assert "photo.png" in response.get_json()["error"]["message"]


def test_bad_base64_is_a_422(client, api_key):
    response = new_ticket(client, api_key("panel"), attachments=[{"filename": "a.txt", "content_base64": "@@@"}])
    assert response.status_code == 422


def test_get_ticket_and_add_messages(client, api_key):
    panel, staff = api_key("panel"), api_key("staff")
    ref = new_ticket(client, panel).get_json()["reference"]
    assert client.post(f"/api/v1/tickets/{ref}/messages", json={"body": "Any news?"}, headers=bearer(panel)).status_code == 201
    note = client.post(f"/api/v1/tickets/{ref}/messages", json={"body": "Customer is a reseller", "internal": True},
                       headers=bearer(staff))
    assert note.status_code == 201 and note.get_json()["internal"] is True
    seen_by_panel = client.get(f"/api/v1/tickets/{ref}", headers=bearer(panel)).get_json()
    assert [m["body_text"] for m in seen_by_panel["messages"]] == ["It has been pending for two days.", "Any news?"]
    seen_by_staff = client.get(f"/api/v1/tickets/{ref}", headers=bearer(staff)).get_json()
    assert len(seen_by_staff["messages"]) == 3


def test_panel_key_cannot_add_internal_notes(client, api_key):
    panel = api_key("panel")
    ref = new_ticket(client, panel).get_json()["reference"]
    response = client.post(f"/api/v1/tickets/{ref}/messages", json={"body": "x", "internal": True}, headers=bearer(panel))
    assert response.status_code == 403


def test_unknown_ticket_is_404_json(client, api_key):
    response = client.get("/api/v1/tickets/T-26-999999", headers=bearer(api_key("panel")))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_api_is_not_subject_to_csrf(make_app, api_key):
    app = make_app(WTF_CSRF_ENABLED=True)
    assert new_ticket(app.test_client(), api_key("panel")).status_code == 201


def test_a_card_number_only_in_the_subject_still_gets_a_note(client, api_key):
    response = new_ticket(client, api_key("panel"), subject="Charged twice on 4111-1111-1111-1111")
    data = response.get_json()
    assert "4111" not in data["subject"]
    assert "1 card number" in data["messages"][0]["redaction_note"]


@pytest.mark.parametrize("kind", ["abuse", "rights", "privacy"])
def test_api_keys_cannot_read_restricted_queues(client, api_key, make_ticket, kind):
    """Abuse, rights-holder and privacy tickets name their reporters: no API key reads them."""
    ref = make_ticket(kind=kind, body="Reporter's own account of events")
    for role in ("panel", "staff"):
        key = api_key(role, name=f"{role}-{kind}")
        response = client.get(f"/api/v1/tickets/{ref}", headers=bearer(key))
        assert response.status_code == 404
        assert "Reporter" not in response.get_data(as_text=True)
        reply = client.post(f"/api/v1/tickets/{ref}/messages", json={"body": "hi"}, headers=bearer(key))
        assert reply.status_code == 404


def test_revocation_reaches_other_processes_within_the_key_cache(make_app, api_key):
    """Each process remembers a valid key for API_KEY_CACHE_SECONDS; a revocation clears
    the revoking process at once and the others when their entry expires."""
    from desk.audit.services import Actor
    from desk.auth.models import ApiKey
    from desk.auth.services import revoke_api_key

    web = make_app(API_KEY_CACHE_SECONDS=3600)  # a gunicorn worker that used the key a moment ago
    uncached = make_app(API_KEY_CACHE_SECONDS=0)
    admin = make_app()
    key = api_key("panel")
    assert new_ticket(web.test_client(), key).status_code == 201
    with admin.app_context():
        revoke_api_key(db.session.query(ApiKey).one(), Actor("system"))
    assert new_ticket(uncached.test_client(), key).status_code == 401
    assert new_ticket(web.test_client(), key).status_code == 201  # until its cache entry expires
    with web.app_context():
        from desk.auth.access import forget_api_keys

        forget_api_keys()
    assert new_ticket(web.test_client(), key).status_code == 401


def test_the_intake_answer_is_what_the_database_holds(client, api_key):
    """The answer is made from the rows as the intake wrote them, not read back after the
    commit (issue 11): it must be what a later GET reads from the database — ids, the
    reference, times to the microsecond, the clocks, the file, the redaction."""
    key = api_key("panel")
    response = new_ticket(client, key, body="Paid with 4111 1111 1111 1111, order 1001.\n\nThanks & regards, 'Al'",
                          attachments=[{"filename": "shot.png", "content_base64": base64.b64encode(PNG).decode()}])
    assert response.status_code == 201
    filed = response.get_json()
    read = client.get(f"/api/v1/tickets/{filed['reference']}", headers=bearer(key)).get_json()
    filed.pop("requester_url"), read.pop("requester_url")  # signed with the second it was made in
    assert filed == read
    assert filed["messages"][0]["attachments"][0]["id"] and filed["clocks"]


def count_statements(app, call) -> tuple[list[str], int]:
    """The SQL statements `call()` sends (an executemany once) and the commits it makes."""
    from sqlalchemy import event

    with app.app_context():
        engine = db.engine
    statements, commits = [], []

    def on_statement(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split())[:80])

    def on_commit(conn):
        commits.append(1)

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)
    return statements, len(commits)


# What an API intake sends (issue 11), a panel key filing for a known customer and order:
# the customer and the reference; the INSERTs of the ticket, its message, its clocks and its
# acknowledgement job; the audit chain's head, its event and the head again — on PostgreSQL
# two statements sent with the COMMIT in one round trip (desk.inserts, the chain's part a
# Then). SQLite takes its reference from the year's row (an UPDATE … RETURNING) instead of a
# sequence, and sends each INSERT apart. The webhook subscriptions and the queue's
# assignment mode are remembered by the process (desk.remembered).
INTAKE_STATEMENTS = {"postgresql": 4, "sqlite": 10}


def test_an_api_intake_costs_one_commit_and_a_pinned_number_of_statements(app, client, api_key, backend):
    """So the cost of intake cannot silently grow back: the statements are counted, and
    the acknowledgement goes to Redis after the one commit, without a second transaction."""
    key = api_key("panel")
    assert new_ticket(client, key).status_code == 201  # the year's sequence made, the key's last use written
    answers = []
    statements, commits = count_statements(app, lambda: answers.append(new_ticket(client, key, subject="Second")))
    assert answers[0].status_code == 201
    assert commits == 1, statements
    assert len(statements) == INTAKE_STATEMENTS[backend], "\n".join(statements)
    with app.app_context():
        entry = db.session.execute(select(OutboxEntry).order_by(OutboxEntry.id.desc()).limit(1)).scalar_one()
        assert (entry.status, entry.attempts, entry.sent_at is not None) == ("sent", 1, True)
        from desk import jobs

        assert jobs.queue_for("default").get_job_ids()[-1] == entry.job_id


def test_events_of_one_commit_chain_as_the_checker_hashes_them(app):
    """On PostgreSQL the database links and hashes a commit's events in one statement
    (issue 11); what it wrote must be what _digest() computes, whatever the events hold:
    several at once, text outside ASCII, quotes and newlines, nested data, no ticket, and
    an event whose own data carries the mark the statement cuts at; and the first event of
    a new chain (no head row yet) starts it."""
    from desk.audit.models import AuditHead
    from desk.audit.services import PREV_MARK, Actor, digest_of, record, verify_chain

    with app.app_context():
        db.session.execute(text("DELETE FROM audit_head"))  # a new chain: its first commit starts it
        db.session.commit()
        first = record(Actor("system"), "chain.started", "queue", "support")
        db.session.commit()
        assert first.prev_hash == "0" * 64 and first.hash == digest_of(first)
        who = Actor("staff", "7", 'Zoë "Z" Ø\'Brien — 山田')
        made = [
            record(who, "note.odd", "ticket", "T-26-000001", text="line one\nline two\t«quoted»", n=[1, 2.5, None]),
            record(who, "note.nested", "macro", "12", data={"b": {"z": True, "a": ["ü", {"k": "v"}]}}),
            record(Actor("system"), "note.empty", "queue", "support"),
        ]
        db.session.commit()
        assert verify_chain()[1] is None
        assert [e.hash for e in made] == [digest_of(e) for e in made]
        assert made[0].prev_hash == first.hash
        assert made[1].prev_hash == made[0].hash and made[2].prev_hash == made[1].hash
        assert db.session.get(AuditHead, 1).last_hash == made[2].hash
        marked = record(who, "note.marked", "ticket", "T-26-000002", text=f"prev {PREV_MARK} here")
        db.session.commit()
        assert marked.prev_hash == made[2].hash and marked.hash == digest_of(marked)
        assert verify_chain() == (5, None)
