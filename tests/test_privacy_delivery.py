"""An access request from intake to download (privacy-10-export): verified by code, the
export built by a real worker, reviewed (a file withheld, the approver recorded), the link
mailed, a fresh code asked again before the ZIP is sent, the link expiring."""
import hashlib
import io
import re
import zipfile
from datetime import timedelta

from sqlalchemy import select

from abuse_helpers import mails
from conftest import csrf_from, get_ok, ledger_entry as entry, stored, text_of
from desk.extensions import db
from desk.privacy.models import PrivacyExport, PrivacyRequest
from test_privacy_erasure import file_request, request_id, verify_by_code
from workers.privacy import expire_exports

EMAIL = "dana@example.org"


def released_link(app, client, auth, panel, run_worker, withhold=()):
    panel.customer("dana", email=EMAIL, login="dana_shop")
    panel.order("8101", customer="dana", link="https://www.instagram.com/p/DANA1/")
    panel.ledger(entry("d-d1", "deposit", "25.00", "dana"))
    filed = file_request(client, rights=["access", "portability"], email=EMAIL)
    run_worker()
    verify_by_code(app, client, filed["reference"])
    run_worker()  # the export job, queued by the verification
    with app.app_context():
        export = db.session.execute(select(PrivacyExport)).scalar_one()
        assert export.status == "ready", export.error
        export_id, names = export.id, set(export.manifest)
    auth.login("privacy_officer")
    page = get_ok(client, f"/tickets/{filed['reference']}")
    assert "Review before release" in page
    if withhold:
        # Withholding says why, or nothing is released.
        response = client.post(f"/privacy/exports/{export_id}/release", data={
            "csrf_token": csrf_from(page), "withhold": list(withhold), "reason": ""})
        assert "needs a written reason" in text_of(client.get(response.headers["Location"]))
        with app.app_context():
            assert db.session.get(PrivacyExport, export_id).status == "ready"
    response = client.post(f"/privacy/exports/{export_id}/release", data={
        "csrf_token": csrf_from(page), "withhold": list(withhold),
        "reason": "A third party's message, withheld under Art. 15(4)" if withhold else ""})
    assert response.status_code == 302
    run_worker()
    [mail] = mails(app, f"privacy-export:{export_id}")
    link = re.search(r"http://\S+/privacy/exports/\S+", mail.body_text).group(0)
    return filed, export_id, "/" + link.split("/", 3)[3], names


def download_code(app, client, path, run_worker):
    page = get_ok(client, path)
    client.post(f"{path}/code", data={"csrf_token": csrf_from(page)})
    run_worker()
    latest = mails(app, "privacy-download:")[-1]
    return re.search(r"\): (\d{6})", latest.body_text).group(1)


def test_access_request_is_reviewed_released_and_downloaded_after_a_fresh_code(app, client, auth, panel, run_worker):
    filed, export_id, path, names = released_link(app, client, auth, panel, run_worker, withhold=["messages.csv"])
    auth.logout()
    page = get_ok(client, path)
    assert "Send me a code" in page
    # Without a fresh code, nothing.
    response = client.post(path, data={"csrf_token": csrf_from(page), "code": "123456"})
    assert response.status_code == 302 and response.headers.get("Content-Type", "").startswith("text/html")
    code = download_code(app, client, path, run_worker)
    page = get_ok(client, path)
    response = client.post(path, data={"csrf_token": csrf_from(page), "code": code})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    listed = set(archive.namelist())
    assert "messages.csv" not in listed and "orders.json" in listed and "ledger.csv" in listed
    assert "DANA1" in archive.read("orders.json").decode()
    with app.app_context():
        export = db.session.get(PrivacyExport, export_id)
        assert export.status == "released" and export.reviewed_by_id and export.downloads == 1
        # The rewritten ZIP's recorded size and hash are the file's, and what was downloaded.
        assert export.sha256 == hashlib.sha256(response.data).hexdigest() == hashlib.sha256(
            stored(app, export.path)).hexdigest() and export.size == len(response.data)
        assert export.redactions == [{"file": "messages.csv",
                                      "reason": "A third party's message, withheld under Art. 15(4)"}]
        request = db.session.get(PrivacyRequest, request_id(app, filed["reference"]))
        assert request.status == "answered"
    # The code is spent: the same one opens nothing twice.
    page = get_ok(client, path)
    again = client.post(path, data={"csrf_token": csrf_from(page), "code": code})
    assert again.status_code == 302


def test_an_expired_link_gives_nothing_and_its_file_goes(app, client, auth, panel, run_worker):
    filed, export_id, path, names = released_link(app, client, auth, panel, run_worker)
    with app.app_context():
        export = db.session.get(PrivacyExport, export_id)
        export.expires_at = export.expires_at - timedelta(days=30)
        db.session.commit()
    response = client.get(path)
    assert response.status_code == 410 and "expired" in text_of(response)
    assert client.get("/privacy/exports/forged-token").status_code == 404
    # The periodic job deletes the file of an expired export.
    with app.app_context():
        key = db.session.get(PrivacyExport, export_id).path
        assert stored(app, key)
        assert expire_exports() == "1 export(s) expired"
        assert db.session.get(PrivacyExport, export_id).status == "expired"
    assert stored(app, key) is None
