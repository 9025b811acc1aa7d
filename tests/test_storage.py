"""desk.storage on both backends — local folders, and an S3-compatible server on loopback
(moto's, spoken to over HTTP by boto3) — with attachments, privacy exports and erasure
going through it on each; and two app instances (two "machines": instance folders of
their own, no shared disk) sharing one bucket, one database and one Redis."""
import hashlib
import io
import zipfile
from pathlib import Path

import boto3
import pytest
from sqlalchemy import select

from abuse_helpers import mails
from conftest import Auth, csrf_from, free_port, get_ok, stored, stored_keys, text_of
from desk.extensions import db
from desk.jobs import make_worker
from desk.privacy.models import PrivacyExport, PrivacyRequest
from desk.storage import Missing, StorageUnavailable, get_storage
from desk.tickets.attachments import Upload, key_for
from desk.tickets.links import make_token
from desk.tickets.models import Attachment, Ticket
from test_portal import PNG, SECRET, email_of, signed_in
from test_privacy_delivery import download_code, released_link
from test_public import REFERENCE_RE, contact
from test_privacy_erasure import file_request, officer_posts, verify_by_code

PROOF = b"screenshot of the like counter: 812 before, 640 now"


@pytest.fixture(params=["local", "s3"])
def storage_backend(request):
    return request.param


@pytest.fixture
def app(make_app, storage_backend, request):
    settings = request.getfixturevalue("s3_settings") if storage_backend == "s3" else {}
    return make_app(PANEL_SSO_SECRET=SECRET, **settings)


def bucket_keys(app) -> list[str]:
    """Every object in the app's bucket, read with a client of the test's own."""
    c = app.config
    client = boto3.client("s3", endpoint_url=c["S3_ENDPOINT_URL"], region_name=c["S3_REGION"],
                          aws_access_key_id=c["S3_ACCESS_KEY_ID"], aws_secret_access_key=c["S3_SECRET_ACCESS_KEY"])
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=c["S3_BUCKET"]).get("Contents", []))


def work(app):
    """A worker on this app (this machine), run until the queues are empty."""
    make_worker(app, simple=True).work(burst=True, with_scheduler=False)


def local_files(app) -> list[Path]:
    return [p for folder in (app.config["ATTACHMENT_DIR"], app.config["EXPORT_DIR"], app.config["EVIDENCE_DIR"])
            for p in Path(folder).rglob("*") if p.is_file()]


def test_the_storage_interface(app, storage_backend):
    storage = get_storage(app)
    assert storage.name == storage_backend
    key = "attachments/ab/cd/abcd-test"
    assert not storage.exists(key) and storage.size(key) is None and storage.delete(key) is False
    with pytest.raises(Missing), storage.open(key):
        pass
    storage.put(key, b"bytes once")
    assert storage.exists(key) and storage.size(key) == 10 and stored(app, key) == b"bytes once"
    storage.put("exports/streamed.bin", io.BytesIO(b"x" * 300_000 + b"end"))  # a stream, not bytes
    with storage.open("exports/streamed.bin", seekable=True) as fh:
        fh.seek(-3, io.SEEK_END)
        assert fh.read() == b"end"
    # A write is all or nothing: a writer that fails leaves no key and no half file.
    with pytest.raises(RuntimeError), storage.writer("exports/half.zip", private=True) as fh:
        fh.write(b"half a zip")
        raise RuntimeError("the build failed")
    assert stored_keys(app, "exports/") == ["exports/streamed.bin"]
    # Quarantining is a move; the quarantine is an area of its own.
    assert storage.move(key, "quarantine/abcd-test") and not storage.exists(key)
    assert storage.move(key, "quarantine/abcd-test") is False
    assert stored_keys(app, "attachments/") == [] and stored_keys(app, "quarantine/") == ["quarantine/abcd-test"]
    assert storage.delete("quarantine/abcd-test") and stored_keys(app, "quarantine/") == []
    for bad in ("../etc/passwd", "attachments/../../x", "/attachments/x", "other/x", "attachments", "exports//x"):
        with pytest.raises(ValueError):
            storage.exists(bad)
    if storage_backend == "s3":
        assert bucket_keys(app) == ["desk/exports/streamed.bin"]  # under S3_PREFIX
        assert local_files(app) == []
    else:  # ATTACHMENT_DIR's layout as it always was
        storage.put(key, b"again")
        assert (Path(app.config["ATTACHMENT_DIR"]) / "ab" / "cd" / "abcd-test").read_bytes() == b"again"


def test_an_exclusive_write_never_replaces_a_key(app, storage_backend):
    """Evidence is written once: an exclusive write onto a stored key is refused, the bytes
    stored stay, and nothing half-written is left; a key named when the block ends
    (LateKey) lands where its name says."""
    from desk.storage import Exists, LateKey

    storage = get_storage(app)
    key = "evidence/abuse/1/1-first.json"
    with storage.writer(key, private=True, exclusive=True) as fh:
        fh.write(b"the first")
    with pytest.raises(Exists), storage.writer(key, private=True, exclusive=True) as fh:
        fh.write(b"a second")
    assert stored(app, key) == b"the first" and stored_keys(app, "evidence/") == [key]
    written = []
    late = LateKey("evidence/abuse/1", lambda: f"2-{hashlib.sha256(b''.join(written)).hexdigest()}.json")
    with storage.writer(late, private=True, exclusive=True) as fh:
        written.append(b"named by its hash")
        fh.write(written[0])
    named = f"evidence/abuse/1/2-{hashlib.sha256(b'named by its hash').hexdigest()}.json"
    assert late() == named and stored(app, named) == b"named by its hash"
    with pytest.raises(Exists), storage.writer(late, exclusive=True) as fh:
        fh.write(b"something else")
    assert stored(app, named) == b"named by its hash" and stored_keys(app, "evidence/") == sorted([key, named])
    if storage_backend == "s3":
        assert sorted(bucket_keys(app)) == sorted(f"desk/{k}" for k in (key, named)) and local_files(app) == []
        # Two writers at once both pass the HEAD: the store's condition on the PUT refuses the second.
        storage.exists = lambda _key: False
        with pytest.raises(Exists), storage.writer(key, exclusive=True) as fh:
            fh.write(b"a racing second")
        del storage.exists
        assert stored(app, key) == b"the first"
    else:
        assert (Path(app.config["EVIDENCE_DIR"]) / "abuse" / "1" / "1-first.json").read_bytes() == b"the first"


def test_evidence_snapshots_are_taken_verified_and_downloaded_from_storage(app, client, auth, panel, run_worker,
                                                                           storage_backend):
    from abuse_helpers import only_case, reported
    from desk.abuse.models import EvidenceSnapshot

    panel.customer("bob")
    panel.order("7001", customer="bob", link="https://www.instagram.com/p/SCAM1/")
    reported(client, app)
    case = only_case(app)
    run_worker()
    with app.app_context():
        row = db.session.execute(select(EvidenceSnapshot)).scalar_one()
        key, sha = row.body_key, row.sha256
    assert key == f"evidence/abuse/{case['id']}/1-{sha}.json" and stored_keys(app, "evidence/") == [key]
    if storage_backend == "s3":
        assert f"desk/{key}" in bucket_keys(app) and local_files(app) == []
        assert not Path(app.config["EVIDENCE_DIR"]).exists()
    document = stored(app, key)
    assert hashlib.sha256(document).hexdigest() == sha
    runner = app.test_cli_runner()
    result = runner.invoke(args=["desk", "evidence", "verify", str(case["id"])])
    assert result.exit_code == 0, result.output
    download = auth.client_for("trust_safety").get(f"/abuse/cases/{case['id']}/evidence/1.json")
    assert download.status_code == 200 and download.data == document
    # Changed in the store behind the desk's back: found out; removed: reported, not a crash.
    get_storage(app).put(key, document.replace(b"bob", b"eve"))
    result = runner.invoke(args=["desk", "evidence", "verify", str(case["id"])])
    assert result.exit_code == 1 and "does not match its SHA-256" in result.output
    get_storage(app).delete(key)
    result = runner.invoke(args=["desk", "evidence", "verify", str(case["id"])])
    assert result.exit_code == 1 and "missing from storage" in result.output


def test_an_erasure_redacts_evidence_into_a_new_object_and_deletes_the_old(app, client, auth, panel, run_worker,
                                                                            storage_backend):
    from desk.abuse.models import EvidenceSnapshot
    from test_privacy_erasure import bobs_closed_case

    case = bobs_closed_case(app, client, panel, auth, run_worker)
    [before] = stored_keys(app, "evidence/")
    filed = file_request(client, email="bob.case@example.net")
    run_worker()
    verify_by_code(app, client, filed["reference"])
    assert officer_posts(client, auth, filed["reference"], "erase").status_code == 302
    run_worker()
    with app.app_context():
        row = db.session.execute(select(EvidenceSnapshot)).scalar_one()
        key, digest = row.body_key, row.redaction["digest"]
    assert stored_keys(app, "evidence/") == [key] != [before]
    redacted = stored(app, key)
    assert hashlib.sha256(redacted).hexdigest() == digest and b"bob.case@example.net" not in redacted
    if storage_backend == "s3":
        assert bucket_keys(app) == [f"desk/{key}"]
    result = app.test_cli_runner().invoke(args=["desk", "evidence", "verify", str(case["id"])])
    assert result.exit_code == 0, result.output


def test_attachments_are_stored_once_and_served_as_downloads_on_every_side(app, auth, panel, make_ticket,
                                                                            storage_backend):
    panel.customer("alice")
    reference = make_ticket(subject="Likes dropped", customer="alice", requester_email=email_of("alice"),
                            uploads=[Upload("proof.txt", PROOF), Upload("shot.png", PNG)])
    make_ticket(subject="The same proof again", uploads=[Upload("again.txt", PROOF)])
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        proof, png = sorted(ticket.messages[0].attachments, key=lambda a: a.id)
        token = make_token(ticket)
        assert proof.scan_state is None  # scanning is off here
    digest = hashlib.sha256(PROOF).hexdigest()
    png_key = key_for(hashlib.sha256(PNG).hexdigest())
    assert stored_keys(app, "attachments/") == sorted([key_for(digest), png_key])  # the proof once
    if storage_backend == "s3":
        assert f"desk/{key_for(digest)}" in bucket_keys(app) and local_files(app) == []

    staff = auth.client_for("agent")
    portal = signed_in(app.test_client())
    for client, url in ((staff, f"/tickets/{reference}/attachments/{proof.id}"),
                        (portal, f"/portal/tickets/{reference}/attachments/{proof.id}"),
                        (app.test_client(), f"/t/{token}/attachments/{proof.id}")):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.data == PROOF and response.mimetype == "text/plain"
        assert response.headers["Content-Disposition"] == "attachment; filename=proof.txt"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    image = staff.get(f"/tickets/{reference}/attachments/{png.id}")
    assert image.data == PNG and image.mimetype == "image/png" and image.headers["Content-Disposition"].startswith(
        "attachment")
    # Bytes that are gone (erased behind the desk's back) are a 404 page, never a 500.
    get_storage(app).delete(png_key)
    gone = staff.get(f"/tickets/{reference}/attachments/{png.id}")
    assert gone.status_code == 404 and "no longer stored" in text_of(gone)


def test_a_privacy_export_is_built_reviewed_downloaded_and_expired_in_storage(app, client, auth, panel, run_worker,
                                                                               storage_backend):
    from workers.privacy import expire_exports

    filed, export_id, path, names = released_link(app, client, auth, panel, run_worker, withhold=["ledger.csv"])
    with app.app_context():
        export = db.session.get(PrivacyExport, export_id)
        key, size, sha = export.path, export.size, export.sha256
    assert key.startswith(f"exports/{export_id}-") and stored_keys(app, "exports/") == [key]  # the rewrite replaced it
    if storage_backend == "s3":
        assert bucket_keys(app) == [f"desk/{key}"] and local_files(app) == []
    auth.logout()
    code = download_code(app, client, path, run_worker)
    page = get_ok(client, path)
    response = client.post(path, data={"csrf_token": csrf_from(page), "code": code})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == f"attachment; filename={filed['reference']}-your-data.zip"
    assert len(response.data) == size and hashlib.sha256(response.data).hexdigest() == sha
    listed = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert "ledger.csv" not in listed and "ledger.json" in listed
    with app.app_context():
        export = db.session.get(PrivacyExport, export_id)
        export.expires_at = export.expires_at.replace(year=2000)
        db.session.commit()
        assert expire_exports() == "1 export(s) expired"
    assert stored_keys(app, "exports/") == [] and stored(app, key) is None


def test_erasure_deletes_the_persons_files_and_exports_from_storage(app, client, auth, panel, make_ticket,
                                                                     run_worker, storage_backend):
    email = "Alice.Smith@Example.com"
    panel.customer("alice", login="alice_ig", email=email)
    make_ticket(subject="Proof", requester_email=email, customer="alice", uploads=[Upload("proof.txt", PROOF)])
    # Another ticket holds the same bytes: they stay for it.
    make_ticket(subject="Bob's", requester_email="bob@example.net", uploads=[Upload("p.png", PNG)])
    make_ticket(subject="Hers too", requester_email=email, uploads=[Upload("p.png", PNG)])
    earlier = file_request(client, rights=["access"], email=email)
    run_worker()
    verify_by_code(app, client, earlier["reference"])
    run_worker()
    [export_key] = stored_keys(app, "exports/")
    filed = file_request(client, email=email)
    run_worker()
    verify_by_code(app, client, filed["reference"])
    assert officer_posts(client, auth, filed["reference"], "erase").status_code == 302
    run_worker()
    with app.app_context():
        assert [a.filename for a in db.session.execute(select(Attachment)).scalars()] == ["p.png"]
    assert stored_keys(app, "attachments/") == [key_for(hashlib.sha256(PNG).hexdigest())]
    assert stored(app, export_key) is None and stored_keys(app, "exports/") == []


def test_an_unreachable_store_is_a_503_page_and_mail_is_asked_again(make_app, s3_settings):
    # Nothing listens on this port: every call fails after boto3's retries.
    app = make_app(**{**s3_settings, "S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(StorageUnavailable):
        get_storage(app).exists("attachments/aa/bb/cc")
    response = contact(app.test_client(), files=[("p.txt", PROOF)])
    assert response.status_code == 503 and "file storage cannot be reached" in text_of(response)
    with app.app_context():
        assert db.session.execute(select(Ticket)).first() is None  # nothing half-stored
    raw = (b"From: carol@example.com\r\nTo: support@desk.test\r\nSubject: file\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
           b"--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\n"
           + PROOF + b"\r\n--b--\r\n")
    result = app.test_cli_runner().invoke(args=["desk", "ingest-mail", "-r", "support@desk.test"], input=raw)
    assert result.exit_code == 75 and "try again later" in result.output


def test_two_machines_share_one_bucket(make_app, s3_settings, tmp_path):
    """Two app instances, each with instance, attachment and export folders of its own (as
    two hosts would have), on one bucket: a file uploaded through one is served by the
    other, and a worker built on the second builds the export the first queued."""
    def machine(name):
        return make_app(**s3_settings, INSTANCE_PATH=str(tmp_path / name / "instance"),
                        ATTACHMENT_DIR=str(tmp_path / name / "attachments"), EXPORT_DIR=str(tmp_path / name / "exports"))

    web, worker = machine("web-1"), machine("worker-1")
    browser = web.test_client()
    response = contact(browser, files=[("proof.txt", PROOF)], email="alice.smith@example.com")
    assert response.status_code == 200
    reference = REFERENCE_RE.search(text_of(response)).group(0)
    with worker.app_context():
        attachment = db.session.execute(select(Attachment)).scalar_one()
    other = Auth(worker, worker.test_client()).client_for("agent")
    download = other.get(f"/tickets/{reference}/attachments/{attachment.id}")
    assert download.status_code == 200 and download.data == PROOF

    # The export: asked for and verified through the web machine, built by the worker's.
    filed = file_request(browser, rights=["access"], email="alice.smith@example.com")
    work(web)  # the mail with the code
    verify_by_code(web, browser, filed["reference"])
    work(worker)  # the export
    with web.app_context():
        export = db.session.execute(select(PrivacyExport)).scalar_one()
        assert export.status == "ready" and export.manifest["attachments/"] == 1
        key = export.path
    assert stored(web, key) == stored(worker, key) and zipfile.ZipFile(io.BytesIO(stored(web, key))).read(
        f"attachments/{reference}/{attachment.id}-proof.txt") == PROOF
    for app in (web, worker):
        assert local_files(app) == [] and not any(Path(app.config["EXPORT_DIR"]).parent.rglob("*.zip"))
    assert mails(web, "privacy-receipt:")


def test_migration_0040_turns_export_paths_into_keys_and_back(make_app):
    """Exports built before 0040 named a file in EXPORT_DIR; from 0040 they name its key
    (the local storage finds the file where it was)."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    app = make_app()
    filed = file_request(app.test_client(), rights=["access"])
    folder = app.config["EXPORT_DIR"]
    with app.app_context():
        request_id = db.session.execute(select(PrivacyRequest.id).where(
            PrivacyRequest.reference == filed["reference"])).scalar_one()
        db.session.add(PrivacyExport(request_id=request_id, status="ready", path="exports/7-token.zip"))
        db.session.commit()
        db.session.remove()
        downgrade(revision="0018")
        try:
            path = db.session.execute(text("SELECT path FROM privacy_exports")).scalar_one()
            assert path == f"{folder}/7-token.zip"
            columns = [c["name"] for c in db.inspect(db.engine).get_columns("attachments")]
            assert "scan_state" not in columns
            db.session.remove()
            upgrade()
            assert db.session.execute(text("SELECT path FROM privacy_exports")).scalar_one() == "exports/7-token.zip"
        finally:
            db.session.remove()
            upgrade()
            db.engine.dispose()


@pytest.mark.parametrize("settings, words", [
    ({"STORAGE_BACKEND": "ftp"}, "STORAGE_BACKEND must be one of local, s3"),
    ({"STORAGE_BACKEND": "s3"}, "STORAGE_BACKEND=s3 needs S3_BUCKET"),
    ({"CLAMD_SOCKET": "/run/clamd.sock", "CLAMD_HOST": "clamd.internal"}, "not both"),
])
def test_storage_and_scanning_settings_are_checked_at_start(tmp_path, settings, words):
    from desk import create_app

    with pytest.raises(ValueError, match=words):
        create_app({"SECRET_KEY": "t", "INSTANCE_PATH": str(tmp_path), **settings})


def test_the_s3_prefix_is_one_folder_however_it_is_written(tmp_path):
    from desk import create_app

    for written in ("desk", "desk/", "/desk/"):
        app = create_app({"SECRET_KEY": "t", "INSTANCE_PATH": str(tmp_path), "STORAGE_BACKEND": "S3",
                          "S3_BUCKET": "b", "S3_PREFIX": written})
        assert app.config["STORAGE_BACKEND"] == "s3" and get_storage(app)._key("exports/x.zip") == "desk/exports/x.zip"
