"""Evidence snapshots on a real RQ worker (aup-5.2-evidence): canonical JSON whose SHA-256
recomputes, chained per case, its document an object in storage written once and its row
write-once in the database, checked by `flask desk evidence verify` (a changed or missing
object is found); legal holds on the customer page."""
import hashlib
import json

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from abuse_helpers import only_case, reported
from conftest import csrf_from, get_ok, ledger_entry as entry, stored, stored_keys
from desk.abuse.models import EvidenceSnapshot, LegalHold
from desk.extensions import db
from desk.storage import get_storage


def case_with_account(app, client, panel):
    panel.customer("bob", identifiers={"ips": ["203.0.113.7"]})
    panel.order("7001", customer="bob", link="https://www.instagram.com/p/SCAM1/")
    panel.ledger(entry("bob-d1", "deposit", "50.00", "bob"), entry("bob-p1", "promo_credit", "5.00", "bob",
                                                                   source="WELCOME"))
    reported(client, app)
    return only_case(app)


def switch_off_write_once(backend, verb):
    """What only a database owner can do: take the write-once trigger off the snapshots."""
    if backend == "postgresql":
        db.session.execute(text("ALTER TABLE evidence_snapshots DISABLE TRIGGER evidence_snapshots_no_change"))
    else:
        db.session.execute(text(f"DROP TRIGGER evidence_snapshots_no_{verb}"))


def snapshots(app, case_id):
    """(seq, reason, document, sha256, previous) of each snapshot: the document as stored."""
    with app.app_context():
        rows = db.session.execute(select(EvidenceSnapshot).where(EvidenceSnapshot.case_id == case_id)
                                  .order_by(EvidenceSnapshot.seq)).scalars().all()
        return [(r.seq, r.reason, stored(app, r.body_key).decode(), r.sha256, r.prev_sha256) for r in rows]


def snapshot_row(app, case_id, seq=1) -> dict:
    with app.app_context():
        row = db.session.execute(select(EvidenceSnapshot).where(EvidenceSnapshot.case_id == case_id,
                                                                EvidenceSnapshot.seq == seq)).scalar_one()
        return {"id": row.id, "key": row.body_key, "size": row.size, "sha256": row.sha256}


def verify(app, case_ref):
    return app.test_cli_runner().invoke(args=["desk", "evidence", "verify", str(case_ref)])


def test_opening_a_case_snapshots_what_it_involves(app, client, panel, run_worker):
    case = case_with_account(app, client, panel)
    assert snapshots(app, case["id"]) == []  # the job has not run yet
    run_worker()
    [(seq, reason, body, sha, prev)] = snapshots(app, case["id"])
    assert (seq, reason, prev) == (1, "opened", "0" * 64)
    assert hashlib.sha256(body.encode()).hexdigest() == sha
    data = json.loads(body)
    # Canonical: the same data gives the same bytes.
    assert json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == body
    assert data["previous"] == "0" * 64 and data["case"]["ticket"] == case["ticket"]
    [account] = data["accounts"]
    assert account["panel_id"] == "bob" and account["balances"] == {"deposited": "50.00", "promotional": "5.00"}
    assert ["ip", "203.0.113.7"] in account["identifiers"]
    assert [o["panel_id"] for o in data["orders"]] == ["7001"]
    assert {e["panel_id"] for e in data["ledger"]} == {"bob-d1", "bob-p1"}
    assert case["ticket"] in [t["reference"] for t in data["tickets"]]
    # A second run of the same job writes nothing new.
    with app.app_context():
        from desk import jobs

        jobs.enqueue("workers.abuse.snapshot", case["id"], "opened")
        db.session.commit()
        jobs.dispatch()
    run_worker()
    assert len(snapshots(app, case["id"])) == 1


def test_a_snapshot_holds_each_order_history_message_and_file_in_order(app, client, panel, api_key, run_worker):
    """The snapshot is streamed part by part (issue 11): each order keeps its own status
    history, each ticket its own messages (internal notes too) and each message its own
    files, in order, and the document is still canonical JSON that hashes to its SHA-256."""
    import base64

    panel.customer("bob", identifiers={"ips": ["203.0.113.7"]})
    panel.customer("carol")
    panel.order("7002", customer="bob", link="https://www.instagram.com/p/SCAM1/", status="completed", history=[
        {"status": "pending", "at": "2026-11-01T10:00:00Z"}, {"status": "in_progress", "at": "2026-11-01T11:00:00Z"},
        {"status": "completed", "at": "2026-11-02T09:00:00Z"}])
    panel.order("7001", customer="bob", status="in_progress", history=[
        {"status": "pending", "at": "2026-11-03T10:00:00Z"}, {"status": "in_progress", "at": "2026-11-03T12:00:00Z"}])
    panel.order("8001", customer="carol")  # someone else's: not in
    panel.ledger(entry("bob-d1", "deposit", "50.00", "bob"), entry("bob-c1", "charge", "10.00", "bob", order="7002", funding="deposited"),
                 entry("carol-d1", "deposit", "9.00", "carol"))
    keys = {"Authorization": f"Bearer {api_key('panel')}"}
    staff = {"Authorization": f"Bearer {api_key('staff')}"}
    first = client.post("/api/v1/tickets", headers=keys, json={
        "subject": "Order 7002", "body": "Where is it?", "requester": {"email": "bob@bob-shop.example"},
        "customer": "bob", "order": "7002",
        "attachments": [{"filename": "a.txt", "content_base64": base64.b64encode(b"first file").decode()},
                        {"filename": "b.txt", "content_base64": base64.b64encode(b"second file").decode()}]})
    assert first.status_code == 201, first.get_json()
    ref = first.get_json()["reference"]
    assert client.post(f"/api/v1/tickets/{ref}/messages", json={"body": "Reseller", "internal": True},
                       headers=staff).status_code == 201
    other = client.post("/api/v1/tickets", headers=keys, json={
        "subject": "Carol's", "body": "Not bob's", "requester": {"email": "carol@carol-shop.example"},
        "customer": "carol"})
    assert other.status_code == 201
    reported(client, app)
    case = only_case(app)
    run_worker()
    [(_, _, body, sha, _)] = snapshots(app, case["id"])
    assert hashlib.sha256(body.encode()).hexdigest() == sha
    data = json.loads(body)
    assert json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == body
    # Read back part by part (how verify and an erasure read it), the same document.
    from desk.abuse.evidence import Items, parts

    with app.app_context(), get_storage().open(snapshot_row(app, case["id"])["key"]) as fh:
        assert {k: list(v) if isinstance(v, Items) else v for k, v in parts(fh)} == data
    assert [(o["panel_id"], [h["status"] for h in o["history"]]) for o in data["orders"]] == [
        ("7001", ["pending", "in_progress"]), ("7002", ["pending", "in_progress", "completed"])]
    assert {o["customer"] for o in data["orders"]} == {"bob"}
    assert [(e["panel_id"], e["customer"], e["amount"]) for e in data["ledger"]] == [
        ("bob-d1", "bob", "50.00"), ("bob-c1", "bob", "10.00")]
    assert data["accounts"][0]["balances"]["deposited"] == "40.00"
    tickets = {t["reference"]: t for t in data["tickets"]}
    assert set(tickets) == {ref, case["ticket"]}
    assert tickets[ref]["customer"] == "bob" and tickets[case["ticket"]]["customer"] is None
    assert [(m["text"], m["internal"], [a["name"] for a in m["attachments"]]) for m in tickets[ref]["messages"]] == [
        ("Where is it?", False, ["a.txt", "b.txt"]), ("Reseller", True, [])]
    assert tickets[ref]["messages"][0]["attachments"][0]["sha256"] == hashlib.sha256(b"first file").hexdigest()
    assert tickets[case["ticket"]]["messages"] and not any(m["attachments"] for m in tickets[case["ticket"]]["messages"])


def test_each_action_adds_a_snapshot_chained_to_the_one_before(app, client, panel, auth, run_worker):
    case = case_with_account(app, client, panel)
    run_worker()
    auth.login("trust_safety")
    page = get_ok(client, f"/tickets/{case['ticket']}")
    response = client.post(f"/abuse/cases/{case['id']}/actions", data={
        "csrf_token": csrf_from(page), "action": "warning", "account": "bob",
        "reason": "Your order promoted a page running an investment scam."})
    assert response.status_code == 302
    run_worker()
    first, second = snapshots(app, case["id"])
    assert second[0] == 2 and second[1].startswith("action:")
    assert second[4] == first[3] and json.loads(second[2])["previous"] == first[3]
    assert json.loads(second[2])["actions"][0]["action"] == "warning"
    page = get_ok(client, f"/tickets/{case['ticket']}")
    assert "2 snapshots; every hash recomputed and the chain intact" in page
    download = client.get(f"/abuse/cases/{case['id']}/evidence/2.json")
    assert download.status_code == 200 and download.headers["X-Content-SHA256"] == second[3]
    assert hashlib.sha256(download.data).hexdigest() == second[3]


def test_the_document_is_in_storage_and_not_in_the_row(app, client, panel, run_worker):
    case = case_with_account(app, client, panel)
    run_worker()
    row = snapshot_row(app, case["id"])
    assert row["key"] == f"evidence/abuse/{case['id']}/1-{row['sha256']}.json"
    assert stored_keys(app, "evidence/") == [row["key"]]
    data = stored(app, row["key"])
    assert len(data) == row["size"] and hashlib.sha256(data).hexdigest() == row["sha256"]
    with app.app_context():
        columns = {c["name"] for c in db.inspect(db.engine).get_columns("evidence_snapshots")}
        assert "body" not in columns and {"body_key", "size", "sha256", "prev_sha256"} <= columns
        # Nothing of the document is in any column of the row.
        values = db.session.execute(text("SELECT * FROM evidence_snapshots")).one()
        assert not any(isinstance(v, str) and "203.0.113.7" in v for v in values)


def test_snapshots_are_write_once_and_tampering_is_detected(app, client, panel, run_worker, backend):
    case = case_with_account(app, client, panel)
    run_worker()
    result = verify(app, case["ticket"])
    assert result.exit_code == 0, result.output
    assert "1 snapshot(s), every SHA-256 recomputed, chain intact" in result.output
    row = snapshot_row(app, case["id"])
    original = stored(app, row["key"])

    with app.app_context():
        for change in ("body_key = 'evidence/abuse/1/other.json'", "size = 1", f"sha256 = '{'1' * 64}'",
                       "prev_sha256 = 'x'"):
            with pytest.raises(DBAPIError):  # the database refuses an edit outright
                db.session.execute(text(f"UPDATE evidence_snapshots SET {change}"))
                db.session.commit()
            db.session.rollback()
        # …and a key that looks like a redaction but keeps no hash: only body_key and size may change.
        with pytest.raises(DBAPIError):
            db.session.execute(text("UPDATE evidence_snapshots SET sha256 = :h, redaction = :r"),
                               {"h": "1" * 64, "r": '{"requests": [1]}'})
            db.session.commit()
        db.session.rollback()
    # Someone with write access to the storage changes the object — and is found out.
    tampered = original.replace(b"50.00", b"0.00")
    with app.app_context():
        get_storage().put(row["key"], tampered)
    result = verify(app, case["id"])
    assert result.exit_code == 1
    assert "does not match its SHA-256" in result.output

    # Forging the row's hash as well breaks the link to the audit log.
    with app.app_context():
        switch_off_write_once(backend, "update")
        db.session.execute(text("UPDATE evidence_snapshots SET sha256 = :h, size = :s"),
                           {"h": hashlib.sha256(tampered).hexdigest(), "s": len(tampered)})
        db.session.commit()
    result = verify(app, case["id"])
    assert result.exit_code == 1 and "differs from the one in the audit log" in result.output


def test_a_document_that_is_not_json_or_is_gone_is_reported_not_a_crash(app, client, panel, auth, run_worker):
    case = case_with_account(app, client, panel)
    run_worker()
    row = snapshot_row(app, case["id"])
    with app.app_context():
        get_storage().put(row["key"], b'{"accounts":[{"x":')  # cut short
    result = verify(app, case["id"])
    assert result.exit_code == 1 and "it is not a snapshot document" in result.output
    assert "does not match its SHA-256" in result.output
    with app.app_context():
        assert get_storage().delete(row["key"])
    result = verify(app, case["id"])
    assert result.exit_code == 1 and f"its document is missing from storage ({row['key']})" in result.output
    auth.login("trust_safety")
    page = get_ok(client, f"/tickets/{case['ticket']}")  # the page shows it, no 500
    assert "The evidence chain is broken" in page and "missing from storage" in page
    gone = client.get(f"/abuse/cases/{case['id']}/evidence/1.json")
    assert gone.status_code == 404 and "no longer stored" in gone.get_data(as_text=True)


def test_a_failure_before_the_commit_leaves_neither_row_nor_object(app, client, panel, monkeypatch):
    """The object is written first; a failure before the row commits takes it away again
    (no row ever names nothing), and the job run again writes the snapshot."""
    from desk.abuse import evidence

    case = case_with_account(app, client, panel)

    def broken(*args, **kwargs):
        raise RuntimeError("the audit log could not be written")

    monkeypatch.setattr(evidence, "record", broken)
    with app.app_context(), pytest.raises(RuntimeError):
        evidence.take(case["id"], "opened")
    assert snapshots(app, case["id"]) == [] and stored_keys(app, "evidence/") == []
    monkeypatch.undo()
    with app.app_context():
        assert evidence.take(case["id"], "opened").seq == 1
    assert len(stored_keys(app, "evidence/")) == 1 and verify(app, case["id"]).exit_code == 0


def test_verify_lists_objects_no_snapshot_names(app, client, panel, run_worker):
    """An object left by a job whose commit failed is not part of the chain: the chain still
    verifies, and the command names the object for an operator."""
    case = case_with_account(app, client, panel)
    run_worker()
    stray = f"evidence/abuse/{case['id']}/2-{'0' * 64}.json"
    with app.app_context():
        get_storage().put(stray, b"{}")
    result = verify(app, case["id"])
    assert result.exit_code == 0, result.output
    assert f"NOTE {stray} is stored but no snapshot names it" in result.output
    assert snapshot_row(app, case["id"])["key"] not in result.output


def test_a_download_streams_the_stored_bytes_to_trust_and_safety_only(app, client, panel, auth, run_worker):
    case = case_with_account(app, client, panel)
    run_worker()
    row = snapshot_row(app, case["id"])
    url = f"/abuse/cases/{case['id']}/evidence/1.json"
    assert client.get(url).status_code in (302, 401)  # signed out: to the sign-in page
    auth.login("agent")
    assert client.get(url).status_code == 403
    auth.logout()
    auth.login("trust_safety")
    response = client.get(url)
    assert response.status_code == 200
    assert response.data == stored(app, row["key"]) and response.headers["X-Content-SHA256"] == row["sha256"]
    assert response.headers["Content-Disposition"] == f"attachment; filename={case['ticket']}-snapshot-1.json"
    assert response.mimetype == "application/json"
    with app.app_context():
        from desk.audit.models import AuditEvent

        assert db.session.execute(select(AuditEvent).where(AuditEvent.action == "evidence.downloaded",
                                                           AuditEvent.subject_id == str(row["id"]))).scalar_one()
    assert client.get(f"/abuse/cases/{case['id']}/evidence/2.json").status_code == 404


def test_a_missing_snapshot_breaks_the_chain(app, client, panel, auth, run_worker, backend):
    case = case_with_account(app, client, panel)
    run_worker()
    auth.login("trust_safety")
    page = get_ok(client, f"/tickets/{case['ticket']}")
    client.post(f"/abuse/cases/{case['id']}/actions", data={
        "csrf_token": csrf_from(page), "action": "warning", "account": "bob", "reason": "A first warning for this."})
    run_worker()
    with app.app_context():
        switch_off_write_once(backend, "delete")
        db.session.execute(text("DELETE FROM evidence_snapshots WHERE seq = 1"))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["desk", "evidence", "verify", case["ticket"]])
    assert result.exit_code == 1 and "a snapshot is missing" in result.output and "chain broken" in result.output
    page = get_ok(client, f"/tickets/{case['ticket']}")
    assert "The evidence chain is broken" in page


def test_verify_names_an_unknown_case(app):
    result = app.test_cli_runner().invoke(args=["desk", "evidence", "verify", "T-26-999999"])
    assert result.exit_code == 1 and "No abuse case T-26-999999" in result.output


def test_the_moderation_log_is_write_once(app, client):
    reported(client, app)
    with app.app_context():
        with pytest.raises(DBAPIError):
            db.session.execute(text("DELETE FROM moderation_events"))
            db.session.commit()
        db.session.rollback()


def test_a_hold_is_listed_on_the_customer_page_and_blocks_erasure(app, client, panel, auth):
    case = case_with_account(app, client, panel)
    auth.login("trust_safety")
    page = get_ok(client, f"/tickets/{case['ticket']}")
    response = client.post(f"/abuse/cases/{case['id']}/holds", data={
        "csrf_token": csrf_from(page), "account": "bob", "reason": "Preserve for the payment provider's inquiry."})
    assert response.status_code == 302
    customer_page = get_ok(client, "/customers/bob")
    assert "Preserve for the payment provider" in customer_page and "cannot be erased" in customer_page
    with app.app_context():
        from desk.abuse.holds import erasure_blockers
        from desk.claims.orders import find_customer

        assert erasure_blockers(find_customer("bob"))
    # An agent sees that the hold exists, not why or which case.
    auth.logout()
    auth.login("agent")
    agent_page = get_ok(client, "/customers/bob")
    assert "cannot be erased" in agent_page and "payment provider" not in agent_page
    assert case["ticket"] not in agent_page
    auth.logout()

    auth.login("trust_safety")
    with app.app_context():
        hold_id = db.session.execute(select(LegalHold.id)).scalar_one()
    page = get_ok(client, f"/tickets/{case['ticket']}")
    short = client.post(f"/abuse/holds/{hold_id}/release", data={"csrf_token": csrf_from(page), "reason": "done"})
    assert short.status_code == 302
    assert "needs a written reason" in get_ok(client, f"/tickets/{case['ticket']}")
    client.post(f"/abuse/holds/{hold_id}/release", data={"csrf_token": csrf_from(page),
                                                          "reason": "The inquiry closed without a claim."})
    with app.app_context():
        from desk.abuse.holds import erasure_blockers
        from desk.claims.orders import find_customer

        # The hold is gone; the case itself still holds the data while it is open.
        assert erasure_blockers(find_customer("bob")) == [f"abuse case {case['ticket']} is still open"]


def test_a_chargeback_case_preserves_evidence_on_opening_and_on_its_actions(app, client, panel, auth, run_worker):
    """terms-17-chargeback: "evidence preserved" — the same chain as an abuse case."""
    panel.customer("carol")
    panel.ledger(entry("carol-d1", "deposit", "80.00", "carol"))
    panel.ledger(entry("carol-cb1", "chargeback", "30.00", "carol", funding="deposited"))
    run_worker()
    with app.app_context():
        from desk.money.models import BillingCase

        case = db.session.execute(select(BillingCase)).scalar_one()
        reference, case_id = case.ticket.reference, case.id
    [(seq, reason, body, sha, prev)] = [
        row for row in _billing_snapshots(app, case_id)]
    data = json.loads(body)
    assert (seq, reason, prev) == (1, "opened", "0" * 64) and data["case"]["kind"] == "chargeback"
    assert data["accounts"][0]["balances"]["deposited"] == "50.00"
    assert {e["panel_id"] for e in data["ledger"]} == {"carol-d1", "carol-cb1"}

    auth.login("supervisor")
    page = get_ok(client, f"/tickets/{reference}")
    assert "1 snapshot; every hash recomputed and the chain intact" in page
    client.post(f"/tickets/{reference}/case", data={"csrf_token": csrf_from(page), "actions": ["suspend"],
                                                    "reason": "Chargeback without contacting us first."})
    run_worker()
    first, second = _billing_snapshots(app, case_id)
    assert second[1] == "resolved" and second[4] == first[3]
    assert json.loads(second[2])["accounts"][0]["status"] == "suspended"
    download = client.get(f"/tickets/{reference}/case/evidence/2.json")
    assert download.status_code == 200 and hashlib.sha256(download.data).hexdigest() == second[3]
    assert stored_keys(app, f"evidence/billing/{case_id}/") == sorted(
        f"evidence/billing/{case_id}/{seq}-{sha}.json" for seq, sha in ((1, first[3]), (2, second[3])))
    result = app.test_cli_runner().invoke(args=["desk", "evidence", "verify", reference])
    assert result.exit_code == 0 and "2 snapshot(s)" in result.output


def _billing_snapshots(app, billing_case_id):
    with app.app_context():
        rows = db.session.execute(select(EvidenceSnapshot).where(EvidenceSnapshot.billing_case_id == billing_case_id)
                                  .order_by(EvidenceSnapshot.seq)).scalars().all()
        return [(r.seq, r.reason, stored(app, r.body_key).decode(), r.sha256, r.prev_sha256) for r in rows]


def test_migration_0024_moves_documents_into_storage_and_back(app, client, panel, run_worker):
    """Down to 0023, each document goes back into the row's `body` (the trigger still
    refuses edits); up again, each body is written out to storage under the key named by
    its hash (here after the object was removed) and the column goes."""
    from flask_migrate import downgrade, upgrade

    case = case_with_account(app, client, panel)
    run_worker()
    row = snapshot_row(app, case["id"])
    document = stored(app, row["key"])
    with app.app_context():
        db.session.remove()
        downgrade(revision="0023")
        try:
            assert db.session.execute(text("SELECT body FROM evidence_snapshots")).scalar_one().encode() == document
            columns = {c["name"] for c in db.inspect(db.engine).get_columns("evidence_snapshots")}
            assert "body_key" not in columns
            with pytest.raises(DBAPIError):
                db.session.execute(text("UPDATE evidence_snapshots SET body = 'x'"))
                db.session.commit()
            db.session.rollback()
            assert get_storage().delete(row["key"])
            db.session.remove()
            upgrade()
            assert db.session.execute(text("SELECT body_key FROM evidence_snapshots")).scalar_one() == row["key"]
            assert stored(app, row["key"]) == document
            with pytest.raises(DBAPIError):  # the rebuilt trigger refuses edits again
                db.session.execute(text("UPDATE evidence_snapshots SET body_key = 'evidence/abuse/1/x.json'"))
                db.session.commit()
            db.session.rollback()
        finally:
            db.session.remove()
            upgrade()
            db.engine.dispose()
    result = verify(app, case["id"])
    assert result.exit_code == 0, result.output
