"""`flask desk ...`: staff accounts, API keys, the audit chain, demo data and the outbox relay."""
import hashlib
from datetime import timedelta, timezone

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError

from conftest import post_form
from desk.audit.models import AuditEvent
from desk.demo import EXTRA_REQUESTER_MESSAGES, EXTRA_TICKETS
from desk.extensions import db
from desk.types import utcnow

PASSWORD = "a long enough password"


# --- helpers -----------------------------------------------------------------

def desk(runner, *args):
    return runner.invoke(args=["desk", *args])


def assert_clean_failure(result, *phrases):
    """Exit code != 0, a message for a person, no traceback."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), result.exception
    for phrase in phrases:
        assert phrase in result.output, result.output


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar()


def login(client, email, password):
    return post_form(client, "/login", {"email": email, "password": password})


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def new_ticket(client, key):
    return client.post("/api/v1/tickets", headers=bearer(key), json={
        "subject": "Order 1001 is stuck", "body": "Pending for two days.",
        "requester": {"email": "alice@example.com", "name": "Alice"}})


def create_key(runner, name="panel integration", role="panel"):
    result = desk(runner, "api-key", "create", name, "--role", role)
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def verify(runner):
    return desk(runner, "audit-verify")


# --- create-staff ------------------------------------------------------------------

def test_create_staff_with_a_password_can_sign_in(app, client, runner):
    from desk.auth.services import find_staff

    result = desk(runner, "create-staff", "Agent.Smith@Example.com", "--role", "agent", "--name", "Agent Smith",
                  "--password", PASSWORD)
    assert result.exit_code == 0, result.output
    assert "Created agent agent.smith@example.com" in result.output
    assert PASSWORD not in result.output  # a password the admin typed is not echoed back
    with app.app_context():
        staff = find_staff("agent.smith@example.com")
        assert staff.role == "agent" and staff.name == "Agent Smith" and staff.active
        assert PASSWORD not in staff.password_hash
    response = login(client, "agent.smith@example.com", PASSWORD)
    assert response.status_code == 302 and response.headers["Location"].endswith("/queue")
    assert client.get("/queue").status_code == 200


def test_create_staff_without_a_password_prints_one_that_works(client, runner):
    result = desk(runner, "create-staff", "sup@example.com", "--role", "supervisor")
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Password: ")
    password = last.removeprefix("Password: ")
    assert len(password) >= 12
    assert login(client, "sup@example.com", "wrong password here").status_code == 401
    assert login(client, "sup@example.com", password).status_code == 302


def test_generated_passwords_differ(runner):
    first = desk(runner, "create-staff", "one@example.com", "--role", "agent").output.strip().splitlines()[-1]
    second = desk(runner, "create-staff", "two@example.com", "--role", "agent").output.strip().splitlines()[-1]
    assert first != second


def test_create_staff_with_an_unknown_role_is_a_usage_error(app, runner):
    from desk.auth.models import Staff

    result = desk(runner, "create-staff", "x@example.com", "--role", "overlord", "--password", PASSWORD)
    assert result.exit_code == 2  # click's usage error
    assert "Invalid value for '--role'" in result.output and "agent" in result.output
    assert "Traceback" not in result.output
    assert count(app, Staff) == 0


def test_create_staff_requires_a_role(runner):
    result = desk(runner, "create-staff", "x@example.com", "--password", PASSWORD)
    assert result.exit_code == 2 and "Missing option '--role'" in result.output


def test_create_staff_twice_fails_with_a_clear_message(app, runner):
    from desk.auth.models import Staff

    assert desk(runner, "create-staff", "dup@example.com", "--role", "agent", "--password", PASSWORD).exit_code == 0
    result = desk(runner, "create-staff", "DUP@example.com", "--role", "admin", "--password", PASSWORD)
    assert_clean_failure(result, "already has a staff account")
    assert result.exit_code == 1
    with app.app_context():
        assert [s.role for s in db.session.execute(select(Staff)).scalars()] == ["agent"]


def test_create_staff_with_a_short_password_fails_cleanly(app, runner):
    from desk.auth.models import Staff

    result = desk(runner, "create-staff", "short@example.com", "--role", "agent", "--password", "short")
    assert_clean_failure(result, "at least 12 characters")
    assert count(app, Staff) == 0


def test_create_staff_is_audited(app, runner):
    desk(runner, "create-staff", "audited@example.com", "--role", "admin", "--password", PASSWORD)
    with app.app_context():
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "staff.created")).scalar_one()
        assert event.actor_kind == "system" and event.actor_label == "command line"
        assert event.data == {"email": "audited@example.com", "role": "admin"}


# --- api-key ---------------------------------------------------------------------

def test_api_key_create_prints_the_key_last_and_it_works(client, runner):
    result = desk(runner, "api-key", "create", "panel integration", "--role", "panel")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    key = lines[-1]
    assert key.startswith("dk_") and " " not in key and len(key) > 40
    assert "shown once" in result.output and "'panel integration'" in lines[0]
    response = new_ticket(client, key)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["reference"].startswith("T-")


def test_api_key_is_stored_only_as_a_hash(app, runner):
    key = create_key(runner)
    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM api_keys")).mappings().all()
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0].values())
    assert key not in stored and key[10:] not in stored  # nothing beyond the shown prefix
    assert rows[0]["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert rows[0]["prefix"] == key[:10]


def test_api_key_list_shows_prefix_role_and_state(runner):
    key = create_key(runner, "panel integration")
    result = desk(runner, "api-key", "list")
    assert result.exit_code == 0
    (line,) = result.output.strip().splitlines()
    assert line.startswith("1\t") and key[:10] in line and "panel" in line and "active" in line
    assert "last used never" in line and "panel integration" in line
    assert key not in result.output


def test_api_key_list_records_last_use(client, runner):
    key = create_key(runner)
    new_ticket(client, key)
    (line,) = desk(runner, "api-key", "list").output.strip().splitlines()
    assert "last used never" not in line


def test_revoked_key_is_refused(client, runner):
    key = create_key(runner)
    assert new_ticket(client, key).status_code == 201
    result = desk(runner, "api-key", "revoke", "1")
    assert result.exit_code == 0 and "Revoked panel integration." in result.output
    response = new_ticket(client, key)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert "revoked" in desk(runner, "api-key", "list").output


def test_revoking_an_unknown_key_fails_cleanly(runner):
    assert_clean_failure(desk(runner, "api-key", "revoke", "42"), "No API key with id 42.")


def test_api_key_with_an_unknown_role_is_a_usage_error(app, runner):
    from desk.auth.models import ApiKey

    result = desk(runner, "api-key", "create", "x", "--role", "admin")
    assert result.exit_code == 2 and "Invalid value for '--role'" in result.output
    assert count(app, ApiKey) == 0


def test_api_key_with_a_blank_name_fails_cleanly(app, runner):
    from desk.auth.models import ApiKey

    assert_clean_failure(desk(runner, "api-key", "create", "  ", "--role", "panel"), "Give the key a name.")
    assert count(app, ApiKey) == 0


def test_staff_key_made_on_the_cli_may_add_internal_notes(client, runner, make_ticket):
    key = create_key(runner, "helpdesk bot", "staff")
    reference = make_ticket()
    response = client.post(f"/api/v1/tickets/{reference}/messages", headers=bearer(key),
                           json={"body": "note", "internal": True})
    assert response.status_code == 201


# --- audit-verify ------------------------------------------------------------------

def some_activity(runner, make_ticket):
    make_ticket()
    make_ticket(subject="Another one", requester_email="bob@example.com")
    desk(runner, "create-staff", "agent@example.com", "--role", "agent", "--password", PASSWORD)
    key = create_key(runner)
    desk(runner, "api-key", "revoke", "1")
    return key


def test_audit_verify_reports_an_intact_chain(app, runner, make_ticket):
    some_activity(runner, make_ticket)
    events = count(app, AuditEvent)
    assert events >= 5
    result = verify(runner)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Audit chain intact: {events} events."


def test_audit_events_of_a_rolled_back_transaction_or_savepoint_never_reach_the_chain(app, runner, make_ticket):
    """Events wait for the commit (issue 11): a rollback drops them, a savepoint's rollback
    drops only its own, and what was kept is linked in the order it was recorded."""
    from desk.audit.services import SYSTEM, record

    make_ticket()
    with app.app_context():
        record(SYSTEM, "test.dropped", "test", 1)
        db.session.rollback()
        record(SYSTEM, "test.kept", "test", 2)
        try:
            with db.session.begin_nested():
                record(SYSTEM, "test.dropped", "test", 3)
                raise ValueError("the savepoint fails")
        except ValueError:
            pass
        with db.session.begin_nested():
            record(SYSTEM, "test.kept", "test", 4)
        kept = record(SYSTEM, "test.kept", "test", 5)
        assert kept.id is None  # not in the chain yet, not even for this transaction's own queries:
        assert db.session.execute(select(func.count()).where(AuditEvent.action.like("test.%"))).scalar() == 0
        db.session.commit()
        assert kept.id is not None and len(kept.hash) == 64
        rows = db.session.execute(select(AuditEvent.action, AuditEvent.subject_id).where(
            AuditEvent.action.like("test.%")).order_by(AuditEvent.id)).all()
    assert rows == [("test.kept", "2"), ("test.kept", "4"), ("test.kept", "5")]
    result = verify(runner)
    assert result.exit_code == 0 and "Audit chain intact: 4 events." in result.output


def test_audit_verify_on_an_empty_log(runner):
    result = verify(runner)
    assert result.exit_code == 0 and "Audit chain intact: 0 events." in result.output


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET action = 'ticket.deleted'",
    "UPDATE audit_events SET data = NULL WHERE id = 1",
    "DELETE FROM audit_events",
    "DELETE FROM audit_events WHERE id = 1",
])
def test_audit_events_refuse_update_and_delete_in_the_database(app, make_ticket, statement):
    make_ticket()
    with app.app_context():
        before = [tuple(r) for r in db.session.execute(text("SELECT id, action, hash FROM audit_events ORDER BY id"))]
        assert before
        with pytest.raises(DBAPIError) as caught:
            db.session.execute(text(statement))
            db.session.commit()
        assert "append-only" in str(caught.value)
        db.session.rollback()
        after = [tuple(r) for r in db.session.execute(text("SELECT id, action, hash FROM audit_events ORDER BY id"))]
    assert after == before


def forge_event(app, *, prev_hash=None, hash_="e" * 64, action="staff.created"):
    """INSERT an audit row behind the services' back; return its id."""
    with app.app_context():
        head = db.session.execute(text("SELECT last_hash FROM audit_head WHERE id = 1")).scalar()
        result = db.session.execute(insert(AuditEvent).values(
            at=utcnow().replace(microsecond=0), actor_kind="staff", actor_id="1", actor_label="mallory@example.com",
            action=action, subject_type="staff", subject_id="99", data={"role": "admin"},
            prev_hash=head if prev_hash is None else prev_hash, hash=hash_,
        ))
        forged_id = result.inserted_primary_key[0]
        db.session.commit()
        return forged_id


def test_forged_row_with_a_wrong_prev_hash_breaks_the_chain(app, runner, make_ticket):
    some_activity(runner, make_ticket)
    good = count(app, AuditEvent)
    forged = forge_event(app, prev_hash="f" * 64)
    result = verify(runner)
    assert_clean_failure(result, f"Audit chain broken at event {forged}", f"after {good} good events")


def test_forged_row_with_the_right_prev_hash_but_a_made_up_hash_breaks_the_chain(app, runner, make_ticket):
    some_activity(runner, make_ticket)
    forged = forge_event(app)  # links to the head, but its hash does not match its content
    assert_clean_failure(verify(runner), f"Audit chain broken at event {forged}")


def test_a_forged_row_in_the_middle_is_found_even_when_later_events_follow(app, runner, make_ticket):
    make_ticket()
    forged = forge_event(app, prev_hash="0" * 64)
    make_ticket(subject="Later ticket")  # the services keep chaining from the real head
    assert_clean_failure(verify(runner), f"Audit chain broken at event {forged}")


# --- seed-demo -------------------------------------------------------------------

def test_seed_demo_creates_tickets_customers_and_orders(app, runner):
    from desk.claims.models import Claim, Customer, LedgerEntry, Order
    from desk.accounts.models import AccountRequest
    from desk.money.models import BillingCase, MoneyRequest
    from desk.tickets.models import Message, Ticket

    result = desk(runner, "seed-demo", "--tickets", "30")
    assert result.exit_code == 0, result.output
    assert "Seeding demo tickets" in result.output
    assert result.output.strip().splitlines()[-1].startswith(
        "Seeded 30 tickets, plus 40 claims filed through the claims engine and money requests")
    assert count(app, Ticket) == 30 + 40 + EXTRA_TICKETS
    assert count(app, Customer) == 60 and count(app, Order) == 200
    assert count(app, Claim) == 40 and count(app, LedgerEntry) > 200
    with app.app_context():
        queues = set(db.session.execute(select(Ticket.queue)).scalars())
        assert {"support", "claims", "billing"} <= queues
        assert len(set(db.session.execute(select(Ticket.kind)).scalars())) >= 4
        statuses = set(db.session.execute(select(Ticket.status)).scalars())
        assert len(statuses) >= 3 and statuses <= {"new", "open", "waiting", "on_hold", "resolved", "closed"}
        kinds = set(db.session.execute(select(MoneyRequest.kind)).scalars())
        assert kinds == {"refund", "withdrawal", "closure", "restoration"}
        assert db.session.query(BillingCase).count() == 1
        assert db.session.query(AccountRequest).count() == 1
        from desk.abuse.models import AbuseCase, Report

        assert db.session.query(AbuseCase).count() == 3 and db.session.query(Report).count() == 5
        assert {"abuse", "legal"} <= queues
    # Every ticket has its first message and went through the audit log.
    assert count(app, Message, Message.author_kind == "requester") == 70 + EXTRA_REQUESTER_MESSAGES
    assert count(app, AuditEvent, AuditEvent.action == "ticket.created") == 70 + EXTRA_TICKETS


def test_seed_demo_redacts_card_numbers(app, runner):
    from desk.tickets.models import Message

    assert desk(runner, "seed-demo", "--tickets", "30").exit_code == 0
    with app.app_context():
        bodies = [(m.body_text, m.body_html, m.redaction_note)
                  for m in db.session.execute(select(Message)).scalars()]
    redacted = [b for b in bodies if "[card number removed]" in b[0]]
    assert redacted, "the seed with 30 tickets includes the card-number topic"
    for text_, html_, note in bodies:
        assert "4111" not in text_ and "4111" not in html_
    for _, _, note in redacted:
        assert note and "card number" in note


def test_seed_demo_spreads_ticket_ages(app, runner):
    from desk.tickets.models import Ticket

    desk(runner, "seed-demo", "--tickets", "30")
    with app.app_context():
        created = [t.astimezone(timezone.utc) for t in db.session.execute(select(Ticket.created_at)).scalars()]
    assert max(created) - min(created) > timedelta(days=1)
    assert all(c <= utcnow() for c in created)


def test_seed_demo_twice_adds_tickets_without_failing(app, runner):
    from desk.claims.models import Customer, Order
    from desk.tickets.models import Ticket

    assert desk(runner, "seed-demo", "--tickets", "5").exit_code == 0
    result = desk(runner, "seed-demo", "--tickets", "5")
    assert result.exit_code == 0, result.output
    # The plain tickets are added again; the 40 claims and the money requests are found open
    # and not filed twice.
    assert count(app, Ticket) == 5 + 40 + EXTRA_TICKETS + 5
    assert count(app, Customer) == 60 and count(app, Order) == 200


# --- relay-outbox ------------------------------------------------------------------

def test_relay_outbox_with_nothing_pending(runner):
    result = desk(runner, "relay-outbox")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Relayed 0 job(s); 0 still pending."


def test_relay_outbox_hands_pending_jobs_to_redis(app, runner, run_worker, make_ticket):
    from desk import jobs
    from desk.jobs import OutboxEntry
    from desk.mail.models import OutboundMail
    from desk.tickets.services import find_ticket

    reference = make_ticket()
    run_worker()  # the acknowledgement goes out
    with app.app_context():
        ticket_id = find_ticket(reference).id
        # A job written while Redis was away: committed, never dispatched.
        jobs.enqueue("workers.tickets.send_acknowledgement", ticket_id)
        db.session.commit()
        db.session.info.pop("outbox", None)
    assert count(app, OutboxEntry, OutboxEntry.status == "pending") == 1
    result = desk(runner, "relay-outbox")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Relayed 1 job(s); 0 still pending."
    assert count(app, OutboxEntry, OutboxEntry.status == "pending") == 0
    run_worker()
    assert count(app, OutboundMail) == 1  # the repeated acknowledgement is not mailed twice


def test_audit_log_cannot_be_truncated_on_postgresql(app, backend, make_ticket):
    make_ticket()
    if backend != "postgresql":
        return  # SQLite has no TRUNCATE; its DELETE is refused by the test above
    with app.app_context():
        with pytest.raises(DBAPIError) as caught:
            db.session.execute(text("TRUNCATE audit_events"))
        assert "append-only" in str(caught.value)
        db.session.rollback()
        assert count(app, AuditEvent) == 1


def test_audit_log_cut_short_from_the_end_is_detected(app, backend, runner, make_ticket):
    """Someone with the power to bypass the triggers drops the newest events: the head hash
    still names the last one, so the gap is found even though every remaining link holds."""
    make_ticket()
    make_ticket(subject="Second")
    with app.app_context():
        if backend == "postgresql":
            db.session.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            db.session.execute(text("DROP TRIGGER audit_events_no_delete"))
        db.session.execute(text("DELETE FROM audit_events WHERE id = (SELECT max(id) FROM audit_events)"))
        db.session.commit()
    assert_clean_failure(verify(runner), "Audit chain cut short: 1 events end before the recorded head hash")
