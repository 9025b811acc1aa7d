"""desk.inserts: a transaction's new rows written in one statement on PostgreSQL (issue 11),
exactly as the unit of work would have written them, or not at all."""
from datetime import datetime, timezone

import psycopg
import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import JSON, ForeignKey, Integer, String, event, func, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from desk import inserts, jobs
from desk.audit.models import AuditEvent
from desk.audit.services import SYSTEM, digest_of, verify_chain
from desk.claims.models import Customer
from desk.extensions import db
from desk.sla.models import TicketClock
from desk.tickets.models import Attachment, Message, Ticket
from desk.tickets.services import NewTicket, create_ticket, open_ticket
from desk.types import UTCDateTime

pytestmark = pytest.mark.postgresql_only

SKIP = {"id", "reference", "ticket_id", "created_at", "updated_at", "started_at", "resumed_at", "due_at",
        "warn_at", "next_check_at", "sent_at", "args"}


def rows_of(ticket_id: int) -> dict:
    """The ticket's rows as the database holds them, without what differs between two intakes."""
    def plain(table, where):
        rows = db.session.execute(text(f"SELECT * FROM {table} WHERE {where} ORDER BY id"), {"t": ticket_id})
        return [{k: v for k, v in row._mapping.items() if k not in SKIP} for row in rows]

    return {"tickets": plain("tickets", "id = :t"), "messages": plain("messages", "ticket_id = :t"),
            "ticket_clocks": plain("ticket_clocks", "ticket_id = :t"),
            "job_outbox": plain("job_outbox", "args::jsonb = jsonb_build_array(:t)")}


def filing(**fields) -> NewTicket:
    return NewTicket(**{"subject": "Order 77 stuck", "body": "Pending «three» days.\nPlease look.",
                        "requester_email": "zoe@example.com", "requester_name": "Zoë", "kind": "billing",
                        "customer": "c-77", **fields})


def noted(name: str, note, call) -> list:
    """What `note` makes of each of the engine's `name` events during `call()`."""
    seen = []

    def listener(*args):
        seen.append(note(*args))

    event.listen(db.engine, name, listener)
    try:
        call()
    finally:
        event.remove(db.engine, name, listener)
    return seen


def sent_by(call) -> list[str]:
    return noted("before_cursor_execute", lambda conn, cursor, statement, *args: " ".join(statement.split())[:40],
                 call)


def test_an_intake_in_one_statement_writes_what_the_flush_writes(app):
    with app.app_context():
        made = []
        fast_sent = sent_by(lambda: made.append(create_ticket(filing(), SYSTEM)[0]))
        # The same intake with a change to an existing row in the transaction: the unit of
        # work writes it all, as it always did.
        customer = db.session.execute(select(Customer).where(Customer.panel_id == "c-77")).scalar_one()

        def with_a_change():
            made.append(open_ticket(filing(), SYSTEM)[0])
            customer.email = "zoe+2@example.com"
            jobs.commit_and_dispatch()  # as create_ticket() commits

        slow_sent = sent_by(with_a_change)
        # The ticket's rows, then its audit event, in the round trip of the COMMIT (the
        # statement of the Then follows the rows' one).
        at = next(n for n, s in enumerate(fast_sent) if s.startswith("WITH new_0 AS (INSERT INTO"))
        assert fast_sent[at + 1].startswith("WITH RECURSIVE given AS ("), fast_sent
        assert not any("new_0 AS" in s for s in slow_sent), slow_sent
        assert any(s.startswith("INSERT INTO tickets") for s in slow_sent), slow_sent
        fast, slow = made
        fast_rows, slow_rows = rows_of(fast.id), rows_of(slow.id)
        assert fast_rows == slow_rows
        assert [len(fast_rows[t]) for t in fast_rows] == [1, 1, 2, 1]  # ticket, message, 2 clocks, its job
        assert fast_rows["tickets"][0]["customer_id"] == customer.id
        assert fast_rows["messages"][0]["body_text"] == "Pending «three» days.\nPlease look."
        # The audit events written with the rows are chained as the checker hashes them.
        events = db.session.execute(select(AuditEvent).where(AuditEvent.action == "ticket.created")
                                    .order_by(AuditEvent.id)).scalars().all()
        assert [e.ticket_id for e in events] == [fast.id, slow.id]
        assert all(e.hash == digest_of(e) for e in events) and events[1].prev_hash == events[0].hash
        assert verify_chain()[1] is None


def commit_states(call) -> list:
    """The connection's transaction state each time SQLAlchemy commits during `call()`."""
    return noted("commit", lambda conn: conn.connection.dbapi_connection.pgconn.transaction_status, call)


def test_an_intakes_statement_carries_its_commit(app):
    """The COMMIT goes with the statement (COMMIT_WITH), so the chain's head is not held
    while this process reads the answer: when SQLAlchemy commits, the transaction is over,
    and its commit sends nothing. A transaction the flush writes commits as it always did."""
    with app.app_context():
        made = [create_ticket(filing(), SYSTEM)[0]]  # the first also makes the year's sequence, and commits that
        assert commit_states(lambda: made.append(create_ticket(filing(), SYSTEM)[0])) == [TransactionStatus.IDLE]
        customer = db.session.execute(select(Customer).where(Customer.panel_id == "c-77")).scalar_one()

        def with_a_change():
            made.append(open_ticket(filing(), SYSTEM)[0])
            customer.email = "zoe+2@example.com"
            jobs.commit_and_dispatch()

        assert commit_states(with_a_change) == [TransactionStatus.INTRANS]
        ids = [ticket.id for ticket in made]
        db.session.remove()
        # Each whole, seen from a new session: the ticket, its message, clocks, job and event.
        for ticket_id in ids:
            rows = rows_of(ticket_id)
            assert [len(rows[t]) for t in rows] == [1, 1, 2, 1]
        assert db.session.execute(select(func.count()).select_from(AuditEvent)
                                  .where(AuditEvent.action == "ticket.created")).scalar_one() == 3
        assert verify_chain()[1] is None


def test_a_connection_lost_with_the_commit_is_a_503_and_leaves_nothing(app, client, api_key):
    """The statement that commits fails as any statement does: SQLAlchemy's error (the
    connection dropped from the pool), the API's 503, no part of the ticket written; the
    next intake goes through on a fresh connection."""
    key = api_key("panel")
    with app.app_context():
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    cut = []

    def cut_the_connection(session):
        if cut or not any(isinstance(obj, Ticket) for obj in session.new):
            return
        pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with psycopg.connect(url, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        cut.append(pid)

    body = {"body": "It has been pending for two days.", "requester": {"email": "alice@example.com"}}
    headers = {"Authorization": f"Bearer {key}"}
    event.listen(Session, "before_commit", cut_the_connection, insert=True)  # before the audit's
    try:
        lost = client.post("/api/v1/tickets", json={"subject": "Cut off", **body}, headers=headers)
    finally:
        event.remove(Session, "before_commit", cut_the_connection)
    assert cut and lost.status_code == 503, lost.get_data(as_text=True)
    assert lost.get_json()["error"]["code"] == "database_unavailable"
    after = client.post("/api/v1/tickets", json={"subject": "After the cut", **body}, headers=headers)
    assert after.status_code == 201
    with app.app_context():
        subjects = db.session.execute(select(Ticket.subject)).scalars().all()
        assert subjects == ["After the cut"]
        assert db.session.execute(select(func.count()).select_from(Message)).scalar_one() == 1
        assert verify_chain()[1] is None


def test_the_chains_statement_failing_commits_none_of_the_rows(app):
    """The rows' statement, the chain's and the COMMIT go in one pipeline: when the chain's
    fails, PostgreSQL skips the COMMIT and the rows' statement is rolled back with it; the
    error is SQLAlchemy's, and the session goes on after its rollback."""
    with app.app_context():
        create_ticket(filing(), SYSTEM)  # the year's sequence made, committed apart
        db.session.execute(text("""
            CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql
                AS $$ BEGIN RAISE EXCEPTION 'no events today'; END $$;
            CREATE TRIGGER refuse_event BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_event();
        """))
        db.session.commit()
        try:
            with pytest.raises(DBAPIError, match="no events today"):
                create_ticket(filing(subject="Refused"), SYSTEM)
            db.session.rollback()
        finally:
            db.session.execute(text("DROP TRIGGER refuse_event ON audit_events; DROP FUNCTION refuse_event()"))
            db.session.commit()
        after = create_ticket(filing(subject="After"), SYSTEM)[0]
        db.session.remove()
        assert db.session.execute(select(Ticket.subject).order_by(Ticket.id)).scalars().all() == [
            "Order 77 stuck", "After"]
        assert db.session.execute(select(func.count()).select_from(Message)).scalar_one() == 2
        assert [len(rows) for rows in rows_of(after.id).values()] == [1, 1, 2, 1]
        assert verify_chain()[1] is None


def test_the_connection_lost_inside_the_pipeline_is_a_503_and_leaves_nothing(app, client, api_key):
    """The server gone while the rows' and the chain's statements are in the pipeline (here
    the backend ends itself from the message's insert, the chain's statement and the COMMIT
    still owed): the API's 503, nothing of the ticket written, the next intake on a fresh
    connection. (A connection psycopg could not take out of pipeline mode is closed by the
    hook, so the teardown's ROLLBACK does not fail with a 500: the race that left one so,
    a PostgreSQL restart under load, is tests/test_faults.py's.)"""
    key = api_key("panel")
    headers = {"Authorization": f"Bearer {key}"}
    body = {"body": "It has been pending for two days.", "requester": {"email": "alice@example.com"}}
    assert client.post("/api/v1/tickets", json={"subject": "Before", **body}, headers=headers).status_code == 201
    with app.app_context():
        db.session.execute(text("""
            CREATE FUNCTION end_backend() RETURNS trigger LANGUAGE plpgsql
                AS $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$;
            CREATE TRIGGER end_backend BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION end_backend();
        """))
        db.session.commit()
    try:
        lost = client.post("/api/v1/tickets", json={"subject": "Cut off", **body}, headers=headers)
    finally:
        with app.app_context():
            db.session.execute(text("DROP TRIGGER end_backend ON messages; DROP FUNCTION end_backend()"))
            db.session.commit()
    assert lost.status_code == 503, lost.get_data(as_text=True)
    assert lost.get_json()["error"]["code"] == "database_unavailable"
    assert client.post("/api/v1/tickets", json={"subject": "After", **body}, headers=headers).status_code == 201
    with app.app_context():
        assert db.session.execute(select(Ticket.subject).order_by(Ticket.id)).scalars().all() == ["Before", "After"]
        assert verify_chain()[1] is None


def test_the_objects_come_back_persistent_with_their_ids_and_defaults(app):
    with app.app_context():
        ticket, message = open_ticket(filing(), SYSTEM)
        entry = db.session.info["outbox"][0]
        assert inserts.write_new(db.session()) == []
        for obj in (ticket, message, entry, *ticket.clocks):
            assert inspect(obj).persistent and not inspect(obj).modified
        assert message.id and message.ticket_id == ticket.id
        assert all(clock.id and clock.ticket_id == ticket.id for clock in ticket.clocks)
        assert (entry.id, entry.status, entry.attempts, entry.args) == (entry.id, "pending", 0, [ticket.id])
        assert not db.session.new and not db.session.dirty
        db.session.commit()
        assert db.session.get(Message, message.id).ticket_id == ticket.id
        assert db.session.execute(select(func.count()).select_from(TicketClock)
                                  .where(TicketClock.ticket_id == ticket.id)).scalar_one() == 2


def test_a_rollback_undoes_them_as_after_a_flush(app):
    with app.app_context():
        ticket, message = open_ticket(filing(), SYSTEM)
        assert inserts.write_new(db.session()) == []
        db.session.rollback()
        assert inspect(ticket).transient and inspect(message).transient
        assert db.session.execute(select(func.count()).select_from(Ticket)).scalar_one() == 0


def test_what_it_cannot_write_it_leaves_to_the_flush_untouched(app):
    with app.app_context():
        ticket, message = open_ticket(filing(), SYSTEM)
        # A file of the new message: the message has no id yet for it to point at.
        db.session.add(Attachment(ticket=ticket, message=message, filename="a.txt", content_type="text/plain",
                                  size=1, sha256="0" * 64))
        assert inserts.write_new(db.session()) is None
        assert all(inspect(obj).pending for obj in (ticket, message))
        assert db.session.execute(select(func.count()).select_from(Ticket)
                                  .execution_options(autoflush=False)).scalar_one() == 0
        db.session.commit()
        assert len(db.session.get(Message, message.id).attachments) == 1
        # A watched table (desk.remembered: the API keys' owners): its flush is what makes
        # this process forget, so its rows are the flush's too.
        from desk.auth.models import Staff

        db.session.add(Staff(email="new@example.com", name="New", role="agent", password_hash="x"))
        assert inserts.write_new(db.session()) is None
        db.session.rollback()


class Scratch(DeclarativeBase):
    pass


class Parent(Scratch):
    __tablename__ = "scratch_parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(20), server_default="from the database")
    made: Mapped[datetime] = mapped_column(UTCDateTime, default=lambda: datetime(2026, 1, 2, tzinfo=timezone.utc))
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    kids: Mapped[list["Kid"]] = relationship()


class Kid(Scratch):
    __tablename__ = "scratch_kids"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("scratch_parents.id"))
    n: Mapped[int] = mapped_column(Integer)


class Toy(Scratch):
    __tablename__ = "scratch_toys"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("scratch_parents.id"))
    parent: Mapped[Parent] = relationship()


def test_defaults_and_a_parents_new_children(app):
    """A Python default is computed and kept on the object; a database-only default is read
    back when asked for; children of a parent whose id is drawn by the same statement wait
    for the flush, a parent with its id takes them along."""
    with app.app_context():
        Scratch.metadata.create_all(db.engine)
        try:
            parent = Parent(extra={"a": ["ü", 1]})
            db.session.add(parent)
            assert inserts.write_new(db.session()) == []
            assert parent.made == datetime(2026, 1, 2, tzinfo=timezone.utc)
            assert parent.label == "from the database"  # expired, then read back
            nulled = Parent(extra=None)  # JSON's null, not SQL's NULL: the flush's to write
            db.session.add(nulled)
            assert inserts.write_new(db.session()) is None
            db.session.flush()
            assert db.session.execute(text("SELECT extra::text FROM scratch_parents WHERE id = :i"),
                                      {"i": nulled.id}).scalar_one() == "null"
            kids = [Kid(n=n) for n in range(3)]
            parent.kids.extend(kids)
            assert inserts.write_new(db.session()) is None  # the parent's collection changed: an existing row
            db.session.flush()
            orphan_parent = Parent(id=9000, kids=[Kid(n=7), Kid(n=8)])
            db.session.add(orphan_parent)
            assert inserts.write_new(db.session()) == []
            db.session.commit()
            rows = db.session.execute(text("SELECT parent_id, n FROM scratch_kids ORDER BY id")).all()
            assert rows == [(parent.id, 0), (parent.id, 1), (parent.id, 2), (9000, 7), (9000, 8)]
            assert [kid.id for kid in orphan_parent.kids] == sorted(kid.id for kid in orphan_parent.kids)
            assert db.session.execute(text("SELECT extra FROM scratch_parents WHERE id = :i"),
                                      {"i": parent.id}).scalar_one() == {"a": ["ü", 1]}
            db.session.commit()  # expires the parent: its id is still known, by its identity
            toy = Toy(parent=parent)
            db.session.add(toy)
            assert "id" not in inspect(parent).dict
            assert inserts.write_new(db.session()) == []
            assert toy.parent_id == parent.id
        finally:
            db.session.rollback()
            Scratch.metadata.drop_all(db.engine)
