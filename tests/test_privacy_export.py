"""The access/portability export (privacy-10-export) on a real RQ worker: one ZIP with every
dataset as JSON and CSV, the files the requester sent, nothing of anyone else's and no
internal note; the job run twice keeps one ZIP; a failed build is marked failed and the
retry builds it."""
import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select, update

from conftest import ledger_entry as entry, stored, stored_keys
from desk import jobs
from desk.audit.models import AuditEvent
from desk.audit.services import Actor
from desk.auth.models import Staff
from desk.claims.models import Customer
from desk.extensions import db
from desk.privacy import export as exports
from desk.privacy.models import PrivacyExport, PrivacyRequest
from desk.storage import get_storage
from desk.tickets.attachments import Upload
from desk.tickets.models import Ticket
from desk.tickets.services import staff_reply
from desk.types import utcnow

EMAIL = "Alice.Smith@Example.com"
ALICE_FILE = b"screenshot of alice_ig's like counter: 812"
STAFF_FILE = b"the delivery report staff sent back"
INTERNAL = "INTERNAL-NOTE: looks like a reseller, keep an eye on the refills"
# Bob's values, each of which must appear nowhere in Alice's ZIP.
BOB = {
    "email": "bob.other@bobshop.example",
    "login": "bobby_other",
    "links": ["https://www.instagram.com/p/BOBSECRETPOST/", "https://www.tiktok.com/@bob_only/video/77"],
    "orders": ["bob-order-71", "bob-order-72"],
    "ip": "203.0.113.99",
    "file": b"bob's private invoice scan",
    "subject": "Bob's own refill question",
    "request": "T-26-990002",
}
DATASETS = ("account", "identifiers", "orders", "order_status_history", "tickets", "messages", "attachments",
            "ledger", "privacy_requests", "claims", "money_requests", "satisfaction", "reports")


def seed(app, panel, make_ticket, auth) -> dict:
    panel.customer("alice", login="alice_ig", email=EMAIL, identifiers={"ips": ["198.51.100.23"]})
    panel.customer("bob", login=BOB["login"], email=BOB["email"], identifiers={"ips": [BOB["ip"]]})
    # Order 5001 went pending → completed: two history rows; 5002 partial.
    panel.order("5001", customer="alice", link="https://www.instagram.com/p/ALICEPOST1/", status="pending",
                tool={"id": "7", "name": "Instagram Likes"})
    panel.order("5001", customer="alice", link="https://www.instagram.com/p/ALICEPOST1/", status="completed",
                tool={"id": "7", "name": "Instagram Likes"})
    panel.order("5002", customer="alice", link="https://www.tiktok.com/@alice_dances/video/42", status="partial",
                remains=250, charge="7.50", charge_deposited="5.00", charge_promo="2.50")
    for number, link in zip(BOB["orders"], BOB["links"]):
        panel.order(number, customer="bob", link=link)
    panel.ledger(entry("a-d1", "deposit", "40.00", "alice", method="paypal"),
                 entry("a-p1", "promo_credit", "5.00", "alice", source="WELCOME"),
                 entry("a-c1", "charge", "10.00", "alice", order="5001", funding="deposited"),
                 entry("b-d1", "deposit", "15.00", "bob", method="card"),
                 entry("b-c1", "charge", "10.00", "bob", order=BOB["orders"][0], funding="deposited"))
    mine = make_ticket(subject="Refill for my post", body="Hi, I am alice_ig. My likes dropped, proof attached.",
                       requester_email=EMAIL, requester_name="Alice Smith", customer="alice", kind="refill",
                       uploads=[Upload("proof.txt", ALICE_FILE)])
    # Filed by e-mail, in another case, without the account: hers all the same.
    by_mail = make_ticket(subject="=HYPERLINK(\"x\") a question by mail", body="Do you ship to Canada?",
                          requester_email="alice.smith@example.com", requester_name="Alice")
    theirs = make_ticket(subject=BOB["subject"], body=f"My link {BOB['links'][0]} lost followers.",
                         requester_email=BOB["email"], requester_name="Bob", customer="bob",
                         uploads=[Upload("invoice.txt", BOB["file"])])
    staff_id = auth.staff("agent")
    with app.app_context():
        staff = db.session.get(Staff, staff_id)
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == mine)).scalar_one()
        staff_reply(ticket, Actor.staff(staff), INTERNAL, internal=True, staff=staff)
        staff_reply(ticket, Actor.staff(staff), "We have queued a refill; the report is attached.", internal=False,
                    staff=staff, uploads=[Upload("report.txt", STAFF_FILE)])
        alice = db.session.execute(select(Customer).where(Customer.panel_id == "alice")).scalar_one()
        bob = db.session.execute(select(Customer).where(Customer.panel_id == "bob")).scalar_one()
        earlier = PrivacyRequest(reference="T-26-990001", rights=["opt_out"], jurisdiction="ca", channel="web",
                                 email="alice.smith@example.com", customer_id=alice.id, status="answered",
                                 responded_at=utcnow(), response="No sale or sharing takes place.")
        bobs = PrivacyRequest(reference=BOB["request"], rights=["access"], jurisdiction="eu", channel="web",
                              email=BOB["email"], customer_id=bob.id, status="verified")
        db.session.add_all([earlier, bobs])
        db.session.commit()
        alice_id = alice.id
    return {"mine": mine, "by_mail": by_mail, "theirs": theirs, "alice_id": alice_id}


def new_export(app, email="alice.smith@example.com", customer_id=None, reference="T-26-990003") -> int:
    with app.app_context():
        request = PrivacyRequest(reference=reference, rights=["access", "portability"], jurisdiction="eu",
                                 channel="web", email=email, customer_id=customer_id, status="verified",
                                 verified_at=utcnow())
        export = PrivacyExport(request=request)
        db.session.add(export)
        db.session.commit()
        return export.id


def run_export(app, run_worker, export_id):
    with app.app_context():
        jobs.enqueue("workers.privacy.export", export_id)
        db.session.commit()
        jobs.dispatch()
    run_worker()


def export_row(app, export_id) -> dict:
    with app.app_context():
        row = db.session.get(PrivacyExport, export_id)
        return {"status": row.status, "path": row.path, "size": row.size, "sha256": row.sha256,
                "manifest": row.manifest, "error": row.error, "built_at": row.built_at}


def read_zip(app, key) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(stored(app, key))) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def dataset(files, name) -> tuple[list[dict], list[dict]]:
    """The rows of <name>.json and of <name>.csv."""
    rows = json.loads(files[f"{name}.json"].decode("utf-8"))
    table = list(csv.DictReader(io.StringIO(files[f"{name}.csv"].decode("utf-8"), newline="")))
    return rows, table


def test_the_export_holds_the_persons_data_in_json_and_csv_and_nothing_else(app, panel, make_ticket, auth,
                                                                              run_worker):
    seeded = seed(app, panel, make_ticket, auth)
    export_id = new_export(app, customer_id=seeded["alice_id"])
    assert export_row(app, export_id)["status"] == "queued"
    run_export(app, run_worker, export_id)

    row = export_row(app, export_id)
    assert row["status"] == "ready" and row["error"] is None and row["built_at"] is not None
    key = row["path"]  # a storage key, in EXPORT_DIR on the local backend
    assert key.startswith(f"exports/{export_id}-") and key.endswith(".zip")
    assert (Path(app.config["EXPORT_DIR"]) / key.removeprefix("exports/")).is_file()
    data = stored(app, key)
    assert row["size"] == len(data) and row["sha256"] == hashlib.sha256(data).hexdigest()
    files = read_zip(app, key)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_DEFLATED}

    # Every dataset twice, with the same rows, and the counts the manifest gives.
    for name in DATASETS:
        rows, table = dataset(files, name)
        assert len(rows) == len(table) == row["manifest"][f"{name}.json"] == row["manifest"][f"{name}.csv"], name
    expected = {"account": 1, "identifiers": 2, "orders": 2, "order_status_history": 3, "tickets": 2,
                "messages": 3, "attachments": 1, "ledger": 3, "privacy_requests": 2, "claims": 0,
                "money_requests": 0, "satisfaction": 0, "reports": 0}
    assert {name: row["manifest"][f"{name}.json"] for name in DATASETS} == expected
    assert row["manifest"]["attachments/"] == 1

    [account], [account_csv] = dataset(files, "account")
    assert account["account"] == "alice" and account["login"] == "alice_ig" and account["email"] == EMAIL
    assert account["processing_restricted"] is False and account_csv["processing_restricted"] == "false"
    assert "id" not in account and "customer_id" not in account  # the desk's own row ids mean nothing to her

    identifiers, _ = dataset(files, "identifiers")
    assert {(i["kind"], i["value"]) for i in identifiers} == {("ip", "198.51.100.23"), ("email_domain", "example.com")}

    orders, orders_csv = dataset(files, "orders")
    assert [o["order"] for o in orders] == [o["order"] for o in orders_csv] == ["5001", "5002"]
    first, second = orders
    assert first["tool"] == "Instagram Likes" and first["link"] == "https://www.instagram.com/p/ALICEPOST1/"
    assert (second["charge"], second["charge_deposited"], second["charge_promo"]) == ("7.50", "5.00", "2.50")
    assert orders_csv[1]["charge"] == "7.50" and orders_csv[1]["status"] == "partial"
    assert first["created_at"].endswith("Z") and orders_csv[0]["created_at"] == first["created_at"]
    history, _ = dataset(files, "order_status_history")
    assert [(h["order"], h["status"]) for h in history] == [("5001", "pending"), ("5001", "completed"),
                                                            ("5002", "partial")]

    tickets, tickets_csv = dataset(files, "tickets")
    assert {t["ticket"] for t in tickets} == {seeded["mine"], seeded["by_mail"]}
    by_mail = next(t for t in tickets_csv if t["ticket"] == seeded["by_mail"])
    assert by_mail["subject"].startswith("'=HYPERLINK")  # a spreadsheet shows it, does not run it
    assert next(t for t in tickets if t["ticket"] == seeded["by_mail"])["subject"].startswith("=HYPERLINK")

    messages, messages_csv = dataset(files, "messages")
    texts = [m["text"] for m in messages]
    assert "Hi, I am alice_ig. My likes dropped, proof attached." in texts
    assert "Do you ship to Canada?" in texts
    assert any("We have queued a refill" in t for t in texts)
    assert {m["from"] for m in messages} == {"you", "support staff"}
    assert [m["text"] for m in messages_csv] == texts

    # Only the file she sent, with its bytes; the staff's file is listed nowhere.
    [attachment], [attachment_csv] = dataset(files, "attachments")
    name = attachment["file"]
    assert name == f"attachments/{seeded['mine']}/{attachment['attachment']}-proof.txt" == attachment_csv["file"]
    assert files[name] == ALICE_FILE and attachment["sha256"] == hashlib.sha256(ALICE_FILE).hexdigest()
    assert [n for n in files if n.startswith("attachments/")] == [name]
    assert not any(STAFF_FILE in blob for blob in files.values())

    ledger, ledger_csv = dataset(files, "ledger")
    assert [(e["entry"], e["kind"], e["amount"], e["funding"]) for e in ledger] == [
        ("a-d1", "deposit", "40.00", "deposited"), ("a-p1", "promo_credit", "5.00", "promotional"),
        ("a-c1", "charge", "10.00", "deposited")]
    assert next(e for e in ledger if e["entry"] == "a-c1")["order"] == "5001"
    assert next(e for e in ledger_csv if e["entry"] == "a-d1")["method"] == "paypal"

    requests, requests_csv = dataset(files, "privacy_requests")
    assert {r["reference"] for r in requests} == {"T-26-990001", "T-26-990003"}
    earlier = next(r for r in requests if r["reference"] == "T-26-990001")
    assert earlier["rights"] == ["opt_out"] and earlier["response"] == "No sale or sharing takes place."
    assert next(r for r in requests_csv if r["reference"] == "T-26-990003")["rights"] == "access; portability"

    readme = files["README.txt"].decode("utf-8")
    assert "privacy-10-export" in readme and "Privacy Policy §10" in readme
    for name in DATASETS:
        assert f"{name}.json, {name}.csv" in readme

    # Nothing of Bob's anywhere, and no internal note.
    blob = b"\n".join(files.values())
    for value in [BOB["email"], BOB["login"], BOB["ip"], BOB["subject"], BOB["request"], seeded["theirs"],
                  *BOB["links"], *BOB["orders"]]:
        assert value.encode() not in blob, value
    assert BOB["file"] not in blob
    assert b"INTERNAL-NOTE" not in blob

    with app.app_context():
        [event] = db.session.execute(select(AuditEvent).where(AuditEvent.action == "privacy.export_built")
                                     ).scalars().all()
        assert event.data["export"] == export_id and event.data["sha256"] == row["sha256"]
        assert EMAIL.lower() not in json.dumps(event.data).lower()


def test_running_the_job_twice_keeps_one_zip(app, panel, make_ticket, auth, run_worker):
    seeded = seed(app, panel, make_ticket, auth)
    export_id = new_export(app, customer_id=seeded["alice_id"])
    run_export(app, run_worker, export_id)
    first = export_row(app, export_id)
    run_export(app, run_worker, export_id)
    second = export_row(app, export_id)
    assert second == first and second["status"] == "ready"
    assert stored_keys(app, "exports/") == [first["path"]]  # no second ZIP, no leftovers
    # Released or expired exports are left alone too.
    with app.app_context():
        db.session.get(PrivacyExport, export_id).status = "released"
        db.session.commit()
        assert exports.build(export_id).status == "released"
    assert stored(app, first["path"]) and len(stored_keys(app, "exports/")) == 1


def test_an_export_left_building_by_a_dead_worker_is_built_by_the_retry(app, panel, make_ticket, auth,
                                                                        run_worker):
    seeded = seed(app, panel, make_ticket, auth)
    export_id = new_export(app, customer_id=seeded["alice_id"])
    with app.app_context():
        db.session.get(PrivacyExport, export_id).status = "building"
        db.session.commit()
    run_export(app, run_worker, export_id)
    row = export_row(app, export_id)
    assert row["status"] == "ready" and stored(app, row["path"])
    assert row["manifest"]["orders.json"] == 2


def test_a_build_that_finishes_second_keeps_the_first_zip(app, panel, make_ticket, auth, monkeypatch):
    """Two builds of one export (SQLite has no lock that spans the build): the one that
    finishes second finds the export ready, deletes its own ZIP and returns the first's."""
    seeded = seed(app, panel, make_ticket, auth)
    export_id = new_export(app, customer_id=seeded["alice_id"])
    theirs = f"exports/{export_id}-theirs.zip"
    real = exports._write_zip

    def racing(export_id, person):
        built = real(export_id, person)
        get_storage(app).put(theirs, b"the other worker's ZIP")
        with db.engine.begin() as conn:  # the other worker's commit, while this one was writing
            conn.execute(update(PrivacyExport.__table__).where(PrivacyExport.id == export_id).values(
                status="ready", path=theirs, size=22, sha256="f" * 64))
        return built

    monkeypatch.setattr(exports, "_write_zip", racing)
    with app.app_context():
        row = exports.build(export_id)
        assert (row.status, row.path, row.sha256) == ("ready", theirs, "f" * 64)
    assert stored_keys(app, "exports/") == [theirs]


@pytest.mark.postgresql_only  # SQLite has no advisory locks; the finish-second test covers it there
def test_a_second_worker_waits_for_the_build_in_progress(app, panel, make_ticket, auth, monkeypatch):
    seeded = seed(app, panel, make_ticket, auth)
    export_id = new_export(app, customer_id=seeded["alice_id"])
    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")
    monkeypatch.setattr(exports, "LOCK_WAIT_SECONDS", 0.3)
    with psycopg.connect(url, autocommit=True) as other:  # the first worker, mid-build
        other.execute("SELECT pg_advisory_lock(%s, %s)", (exports.LOCK_NAMESPACE, export_id))
        with app.app_context():
            db.session.get(PrivacyExport, export_id).status = "building"
            db.session.commit()
            with pytest.raises(exports.ExportBusy):  # RQ retries the job later
                exports.build(export_id)
            row = db.session.get(PrivacyExport, export_id, populate_existing=True)
            assert (row.status, row.path, row.error) == ("building", None, None)  # untouched, not failed
        assert stored_keys(app, "exports/") == []
    # That worker died: the server drops its lock with its connection (a moment later; the
    # retry waits for it) and the export is built.
    monkeypatch.setattr(exports, "LOCK_WAIT_SECONDS", 30)
    with app.app_context():
        row = exports.build(export_id)
        assert row.status == "ready" and stored(app, row.path)
    assert len(stored_keys(app, "exports/")) == 1


def test_a_requester_without_an_account_gets_the_tickets_of_their_address_only(app, panel, make_ticket, auth,
                                                                               run_worker):
    seeded = seed(app, panel, make_ticket, auth)
    export_id = new_export(app, email="alice.smith@example.com", customer_id=None)
    run_export(app, run_worker, export_id)
    row = export_row(app, export_id)
    assert row["status"] == "ready"
    files = read_zip(app, row["path"])
    counts = {name: row["manifest"][f"{name}.json"] for name in DATASETS}
    # Both her tickets are found by her address (in any case); the account's data is not read.
    assert counts == {"account": 0, "identifiers": 0, "orders": 0, "order_status_history": 0, "tickets": 2,
                      "messages": 3, "attachments": 1, "ledger": 0, "privacy_requests": 2, "claims": 0,
                      "money_requests": 0, "satisfaction": 0, "reports": 0}
    assert dataset(files, "account") == ([], [])
    assert json.loads(files["orders.json"]) == [] and files["orders.csv"].decode().strip() == (
        "order,tool,link,quantity,charge,charge_deposited,charge_promo,start_count,remains,status,"
        "target_state,created_at,status_changed_at,finished_at")
    blob = b"\n".join(files.values())
    assert seeded["theirs"].encode() not in blob and BOB["email"].encode() not in blob


def test_a_failed_build_is_marked_failed_and_the_retry_builds_it(app, panel, make_ticket, auth, run_worker,
                                                                 tmp_path):
    seeded = seed(app, panel, make_ticket, auth)
    export_id = new_export(app, customer_id=seeded["alice_id"])
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the export folder should be")
    app.config["EXPORT_DIR"] = str(blocker / "exports")
    run_export(app, run_worker, export_id)
    row = export_row(app, export_id)
    assert row["status"] == "failed" and row["path"] is None and row["sha256"] is None
    assert row["error"].startswith(("NotADirectoryError", "FileExistsError"))
    assert "alice" not in row["error"].lower()
    with app.app_context():
        # RQ has the failure: the job waits for its retry (or gave up).
        queue = jobs.queue_for("default")
        assert queue.scheduled_job_registry.count + queue.failed_job_registry.count == 1
        with pytest.raises(OSError):
            exports.build(export_id)  # called directly, the exception reaches the caller
        assert db.session.get(PrivacyExport, export_id).status == "failed"
        assert db.session.execute(select(AuditEvent).where(AuditEvent.action == "privacy.export_failed")
                                  ).scalars().first() is not None
    # The folder is fixed; the retry builds it, leaving no partial file behind.
    app.config["EXPORT_DIR"] = str(tmp_path / "exports")
    with app.app_context():
        built = exports.build(export_id)
        assert built.status == "ready" and built.error is None
        path = built.path
    assert [p.name for p in (tmp_path / "exports").iterdir()] == [Path(path).name]


def test_a_missing_export_is_none_and_the_job_says_so(app):
    from workers import privacy

    with app.app_context():
        assert exports.build(987654) is None
        assert privacy.export(987654) == "no such export"


def test_the_export_holds_their_claims_money_requests_and_reports(app, client, panel, make_ticket, auth, run_worker):
    seeded = seed(app, panel, make_ticket, auth)
    assert panel.post("/claims", {"order": "5002", "kind": "refill", "current_count": 100}).status_code == 201
    assert panel.post("/withdrawals", {"customer": "alice"}).status_code in (201, 202)
    client.post("/api/v1/reports/abuse", json={
        "category": "3.2", "links": ["https://www.instagram.com/p/SCAMMER/"],
        "description": "This page sells fake followers as real people.",
        "reporter": {"email": "alice.smith@example.com", "name": "Alice"}})
    # A report about her, by someone else, is not hers to read (AUP §5.6, the reporter's identity).
    client.post("/api/v1/reports/abuse", json={
        "category": "4.1", "links": ["https://www.instagram.com/p/ALICEPOST1/"],
        "description": "Her account attacks my page.", "reporter": {"email": "critic@example.org"}})
    # Her answer to a satisfaction survey (desk.csat) is hers; Bob's is not.
    from desk.csat.models import Survey

    with app.app_context():
        for ref, comment in ((seeded["mine"], "Quick, thanks"), (seeded["theirs"], "Bob was unhappy")):
            ticket = db.session.execute(select(Ticket).where(Ticket.reference == ref)).scalar_one()
            db.session.add(Survey(ticket=ticket, queue=ticket.queue, sent_at=utcnow(), rating="good",
                                  comment=comment, answered_at=utcnow()))
        db.session.commit()
    export_id = new_export(app, customer_id=seeded["alice_id"])
    run_export(app, run_worker, export_id)
    files = read_zip(app, export_row(app, export_id)["path"])
    claims, _ = dataset(files, "claims")
    assert [(c["order"], c["kind"]) for c in claims] == [("5002", "refill")]
    money, money_csv = dataset(files, "money_requests")
    assert [m["kind"] for m in money] == ["withdrawal"] and len(money_csv) == 1
    reports, _ = dataset(files, "reports")
    assert [r["links"] for r in reports] == [["https://www.instagram.com/p/SCAMMER/"]]
    satisfaction, _ = dataset(files, "satisfaction")
    assert [(a["ticket"], a["rating"], a["comment"]) for a in satisfaction] == [(seeded["mine"], "good",
                                                                                 "Quick, thanks")]
    everything = b"".join(files.values())
    assert b"critic@example.org" not in everything and b"attacks my page" not in everything
    assert b"Bob was unhappy" not in everything
