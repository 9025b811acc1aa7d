"""Attachment scanning against a real clamd (started by the session, with a signature
database of its own for the EICAR test file): every stored attachment is scanned by an RQ
job; an infected one is quarantined — never served, shown on the ticket, its bytes out of
reach, every copy of its digest with it; a pending one reaches staff (warned), not
requesters; a failed scan is marked and retried; with no clamd configured, scanning is off
and the admin page says so."""
import base64
import hashlib
import io
import time

import pytest
from sqlalchemy import select

from abuse_helpers import reported
from conftest import (CLAMD_STREAM_MAX, EICAR, EICAR_SIGNATURE, ClamdProcess, csrf_from, get_ok, stored, stored_keys,
                      text_of)
from desk import jobs
from desk.audit.models import AuditEvent
from desk.clamd import Clamd, ClamdError
from desk.extensions import db
from desk.jobs import OutboxEntry
from desk.privacy.erasure import remove_unreferenced
from desk.tickets import scans
from desk.tickets.attachments import Upload, key_for, quarantine_key
from desk.tickets.links import make_token
from desk.tickets.models import Attachment, Ticket
from test_portal import SECRET, email_of, signed_in

NOTES = b"order 5001: 812 likes before the drop, 640 after"
FALSE_POSITIVE = b"monthly report: 1,204 followers gained, 37 lost"
FALSE_POSITIVE_SIGNATURE = f"{hashlib.md5(FALSE_POSITIVE).hexdigest()}:{len(FALSE_POSITIVE)}:Desk.Test.FalsePositive\n"
INFECTED, CLEAN = hashlib.sha256(EICAR).hexdigest(), hashlib.sha256(NOTES).hexdigest()


@pytest.fixture
def storage_settings(request):
    """Local folders, unless a test asks for S3 (parametrised indirectly)."""
    return request.getfixturevalue("s3_settings") if getattr(request, "param", "local") == "s3" else {}


@pytest.fixture
def clamd(request, clamd_server, tmp_path):
    """The session's clamd; or, asked for "false-positive" (parametrised indirectly), one of
    the test's own whose signatures also take FALSE_POSITIVE for a virus until changed."""
    if getattr(request, "param", None) != "false-positive":
        yield clamd_server
        return
    (tmp_path / "own-clamd").mkdir()
    server = ClamdProcess(tmp_path / "own-clamd")
    server.signatures = tmp_path / "own-clamd" / "db" / "desk-test.hdb"
    server.signatures.write_text(server.signatures.read_text() + FALSE_POSITIVE_SIGNATURE)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app(make_app, clamd, storage_settings):
    return make_app(CLAMD_SOCKET=clamd.socket, PANEL_SSO_SECRET=SECRET, **storage_settings)


def rows(app, digest=None) -> list[dict]:
    with app.app_context():
        query = select(Attachment).order_by(Attachment.id)
        if digest:
            query = query.where(Attachment.sha256 == digest)
        return [{"id": a.id, "name": a.filename, "state": a.scan_state, "result": a.scan_result, "sha256": a.sha256}
                for a in db.session.execute(query).scalars()]


def scan_jobs(app) -> list[list]:
    with app.app_context():
        return [e.args for e in db.session.execute(select(OutboxEntry).where(
            OutboxEntry.func == "workers.tickets.scan_attachment").order_by(OutboxEntry.id)).scalars()]


def quarantine_events(app) -> list[dict]:
    with app.app_context():
        return [e.data for e in db.session.execute(select(AuditEvent).where(
            AuditEvent.action == "attachment.quarantined").order_by(AuditEvent.id)).scalars()]


def test_the_client_speaks_instream_over_a_unix_socket_and_tcp(clamd_server):
    for clamd in (Clamd(socket_path=clamd_server.socket), Clamd(host="127.0.0.1", port=clamd_server.port)):
        assert clamd.ping() and clamd.version().startswith("ClamAV ")
        assert clamd.instream(io.BytesIO(EICAR)).signature == EICAR_SIGNATURE
        assert clamd.instream(io.BytesIO(NOTES)).infected is False
        # Many chunks (64 KiB each) of a clean stream; then one past clamd's StreamMaxLength.
        assert clamd.instream(io.BytesIO(b"a" * (CLAMD_STREAM_MAX - 10))).infected is False
        with pytest.raises(ClamdError, match="size limit"):
            clamd.instream(io.BytesIO(b"a" * (CLAMD_STREAM_MAX + 70_000)))
    with pytest.raises(ClamdError, match="cannot be reached"):
        Clamd(socket_path=clamd_server.socket + ".nobody").ping()


@pytest.mark.parametrize("storage_settings", ["local", "s3"], indirect=True)
def test_an_infected_attachment_is_quarantined_and_never_served(app, panel, auth, make_ticket, run_worker, api_key):
    panel.customer("alice")
    reference = make_ticket(subject="My files", customer="alice", requester_email=email_of("alice"),
                            uploads=[Upload("invoice.txt", EICAR), Upload("notes.txt", NOTES)])
    bad, good = rows(app)
    assert (bad["state"], good["state"]) == ("pending", "pending")
    assert scan_jobs(app) == [[bad["id"]], [good["id"]]]
    with app.app_context():
        token = make_token(db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one())
    staff, portal, link = auth.client_for("agent"), signed_in(app.test_client()), app.test_client()
    urls = {staff: f"/tickets/{reference}/attachments/", portal: f"/portal/tickets/{reference}/attachments/",
            link: f"/t/{token}/attachments/"}

    # Pending: staff may download, warned on the ticket; requesters wait for the scan.
    assert "not scanned yet: open with care" in get_ok(staff, f"/tickets/{reference}")
    assert staff.get(urls[staff] + str(bad["id"])).data == EICAR
    for client in (portal, link):
        waiting = client.get(urls[client] + str(good["id"]))
        assert waiting.status_code == 409 and "still being checked for viruses" in text_of(waiting)
    assert "being checked for viruses" in get_ok(portal, f"/portal/tickets/{reference}")

    run_worker()
    bad, good = rows(app)
    assert (bad["state"], bad["result"], bad["sha256"]) == ("infected", EICAR_SIGNATURE, INFECTED)
    assert (good["state"], good["result"]) == ("clean", None)
    # The bytes are out of reach: moved to the quarantine, nowhere a download reads.
    assert stored(app, key_for(INFECTED)) is None and stored(app, quarantine_key(INFECTED)) == EICAR
    page = get_ok(staff, f"/tickets/{reference}")
    assert f"quarantined: {EICAR_SIGNATURE}" in page and f'{bad["id"]}">invoice.txt' not in page
    assert f"SHA-256 {INFECTED}" in page
    assert f"quarantined: {EICAR_SIGNATURE}" in get_ok(portal, f"/portal/tickets/{reference}")
    for client, base in urls.items():
        refused = client.get(base + str(bad["id"]))
        assert refused.status_code == 410 and EICAR_SIGNATURE in text_of(refused), base
        assert "not served" in text_of(refused)
        fine = client.get(base + str(good["id"]))
        assert fine.status_code == 200 and fine.data == NOTES and fine.headers["Content-Disposition"].startswith(
            "attachment")
    [event] = quarantine_events(app)
    assert event == {"attachment": bad["id"], "sha256": INFECTED, "signature": EICAR_SIGNATURE}
    api = app.test_client().get(f"/api/v1/tickets/{reference}", headers={"Authorization": f"Bearer {api_key('staff')}"})
    assert [(a["scan"], a["scan_result"]) for a in api.get_json()["messages"][0]["attachments"]] == [
        ("infected", EICAR_SIGNATURE), ("clean", None)]

    # The job again: one verdict, one audit event.
    with app.app_context():
        jobs.enqueue("workers.tickets.scan_attachment", bad["id"])
        db.session.commit()
        jobs.dispatch()
    run_worker()
    assert len(quarantine_events(app)) == 1 and rows(app, INFECTED)[0]["state"] == "infected"

    # The same bytes sent again: infected at once, never stored again, no job.
    before = len(scan_jobs(app))
    make_ticket(subject="Again", uploads=[Upload("again.txt", EICAR)])
    assert [r["state"] for r in rows(app, INFECTED)] == ["infected", "infected"]
    assert len(scan_jobs(app)) == before and stored(app, key_for(INFECTED)) is None

    # Erasure removes quarantined bytes like any other once no row names them.
    with app.app_context():
        for row in db.session.execute(select(Attachment).where(Attachment.sha256 == INFECTED)).scalars():
            db.session.delete(row)
        db.session.flush()
        assert remove_unreferenced([INFECTED]) == 1
        db.session.commit()
    assert stored_keys(app, "quarantine/") == []


def test_copies_of_one_file_are_quarantined_together(app, make_ticket, run_worker):
    make_ticket(subject="One", uploads=[Upload("a.txt", EICAR)])
    make_ticket(subject="Two", requester_email="bob@example.net", uploads=[Upload("b.txt", EICAR)])
    assert [r["state"] for r in rows(app)] == ["pending", "pending"]
    run_worker()  # the first job gives both rows the verdict; the second finds its row done
    assert [(r["state"], r["result"]) for r in rows(app)] == [("infected", EICAR_SIGNATURE)] * 2
    assert [e["attachment"] for e in quarantine_events(app)] == [r["id"] for r in rows(app)]
    assert stored_keys(app, "quarantine/") == [quarantine_key(INFECTED)] and stored_keys(app, "attachments/") == []


def test_evidence_files_of_an_abuse_report_are_scanned(app, client, run_worker):
    reported(client, app, evidence=[{"filename": "proof.txt", "content_base64": base64.b64encode(EICAR).decode()}])
    run_worker()
    [row] = rows(app)
    assert (row["name"], row["state"], row["result"]) == ("proof.txt", "infected", EICAR_SIGNATURE)


def test_a_failed_scan_is_marked_and_retried(app, clamd_server, auth, make_ticket, run_worker):
    app.config["CLAMD_SOCKET"] = clamd_server.socket + ".down"  # nothing listens there
    reference = make_ticket(subject="Notes", uploads=[Upload("notes.txt", NOTES)])
    run_worker()
    [row] = rows(app)
    assert row["state"] == "error" and "cannot be reached" in row["result"]
    with app.app_context():
        assert jobs.queue_for("default").scheduled_job_registry.count == 1  # RQ retries it
    staff = auth.client_for("agent")
    assert "virus scan failed" in get_ok(staff, f"/tickets/{reference}")
    with app.app_context():
        token = make_token(db.session.execute(select(Ticket)).scalar_one())
    assert app.test_client().get(f"/t/{token}/attachments/{row['id']}").status_code == 409
    assert "clamd does not answer" in get_ok(auth.client_for("admin"), "/admin/jobs")
    # clamd is back: the retry (here called as the worker would) gives the verdict.
    app.config["CLAMD_SOCKET"] = clamd_server.socket
    with app.app_context():
        assert scans.scan(row["id"]).scan_state == "clean"
    assert app.test_client().get(f"/t/{token}/attachments/{row['id']}").data == NOTES


def test_with_no_clamd_scanning_is_off_and_says_so(app, clamd_server, auth, make_ticket, run_worker):
    app.config["CLAMD_SOCKET"] = None
    reference = make_ticket(subject="Notes", uploads=[Upload("notes.txt", NOTES), Upload("x.txt", EICAR)])
    assert [r["state"] for r in rows(app)] == [None, None] and scan_jobs(app) == []
    with app.app_context():
        token = make_token(db.session.execute(select(Ticket)).scalar_one())
    assert app.test_client().get(f"/t/{token}/attachments/{rows(app)[0]['id']}").data == NOTES
    admin = auth.client_for("admin")
    assert "Attachment scanning is off" in get_ok(admin, "/admin/jobs")
    assert "open with care" not in get_ok(admin, f"/tickets/{reference}")

    refused = app.test_cli_runner().invoke(args=["desk", "scan-attachments"])
    assert refused.exit_code != 0 and "Scanning is off" in refused.output

    # Turned on later: what was stored before waits for a scan (requesters too), and the
    # command queues one job per file.
    app.config["CLAMD_SOCKET"] = clamd_server.socket
    notes = rows(app)[0]["id"]
    assert app.test_client().get(f"/t/{token}/attachments/{notes}").status_code == 409
    result = app.test_cli_runner().invoke(args=["desk", "scan-attachments"])
    assert result.exit_code == 0 and "Queued 2 scan(s)" in result.output
    assert [r["state"] for r in rows(app)] == ["pending", "pending"]
    run_worker()
    assert [(r["name"], r["state"]) for r in rows(app)] == [("notes.txt", "clean"), ("x.txt", "infected")]
    assert app.test_client().get(f"/t/{token}/attachments/{notes}").data == NOTES
    page = get_ok(admin, "/admin/jobs")
    assert f"clamd at <code>unix:{clamd_server.socket}</code> (ClamAV " in page and "1 quarantined" in page


def verdict_of(server, data: bytes):
    return Clamd(socket_path=server.socket, timeout=10).instream(io.BytesIO(data))


@pytest.mark.parametrize("clamd", ["false-positive"], indirect=True)
def test_a_false_positive_is_scanned_again_and_released_once_the_signatures_change(app, clamd, auth, make_ticket,
                                                                                    run_worker):
    reference = make_ticket(subject="Report", uploads=[Upload("report.txt", FALSE_POSITIVE)])
    copy = make_ticket(subject="Report again", uploads=[Upload("same.txt", FALSE_POSITIVE)])
    run_worker()
    digest = hashlib.sha256(FALSE_POSITIVE).hexdigest()
    assert [r["state"] for r in rows(app, digest)] == ["infected", "infected"]
    admin, agent = auth.client_for("admin"), auth.client_for("agent")
    page = get_ok(admin, "/admin/jobs")
    assert digest in page and "Desk.Test.FalsePositive" in page and reference in page and copy in page

    # Only an admin may ask; an unknown digest is a clear refusal.
    own_token = csrf_from(get_ok(agent, f"/tickets/{reference}"))
    assert agent.post(f"/admin/quarantine/{digest}/rescan", data={"csrf_token": own_token}).status_code == 403
    unknown = admin.post(f"/admin/quarantine/{'0' * 64}/rescan", data={"csrf_token": csrf_from(page)})
    assert unknown.status_code == 303 and "No quarantined file" in get_ok(admin, "/admin/jobs")

    # Scanned again with the same signatures: still quarantined, nothing served.
    response = admin.post(f"/admin/quarantine/{digest}/rescan", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302 and "Scanning again: 2 attachments" in get_ok(admin, "/admin/jobs")
    run_worker()
    assert [r["state"] for r in rows(app, digest)] == ["infected", "infected"]
    assert stored(app, key_for(digest)) is None and stored(app, quarantine_key(digest)) == FALSE_POSITIVE

    # The signature is withdrawn (clamd reloads its database): scanned again, released.
    clamd.signatures.write_text(clamd.signatures.read_text().replace(FALSE_POSITIVE_SIGNATURE, ""))
    assert Clamd(socket_path=clamd.socket, timeout=10)._ask(b"RELOAD") == "RELOADING"
    for _ in range(100):
        if not verdict_of(clamd, FALSE_POSITIVE).infected:
            break
        time.sleep(0.1)
    assert verdict_of(clamd, EICAR).infected  # the rest of the database still holds
    page = get_ok(admin, "/admin/jobs")
    admin.post(f"/admin/quarantine/{digest}/rescan", data={"csrf_token": csrf_from(page)})
    run_worker()
    released = rows(app, digest)
    assert [(r["state"], r["result"]) for r in released] == [("clean", None), ("clean", None)]
    assert stored(app, quarantine_key(digest)) is None and stored(app, key_for(digest)) == FALSE_POSITIVE
    assert agent.get(f"/tickets/{reference}/attachments/{released[0]['id']}").data == FALSE_POSITIVE
    assert digest not in get_ok(admin, "/admin/jobs")
    with app.app_context():
        said = [(e.action, e.data) for e in db.session.execute(select(AuditEvent).where(
            AuditEvent.action.in_(("attachment.rescan", "attachment.released"))).order_by(AuditEvent.id)).scalars()]
    assert [a for a, _ in said] == ["attachment.rescan", "attachment.rescan", "attachment.released",
                                    "attachment.released"]
    assert said[-1][1]["was"].startswith("Desk.Test.FalsePositive")
