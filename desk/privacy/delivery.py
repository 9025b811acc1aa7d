"""Handing an export over (privacy-10-export): a privacy officer reviews the ZIP and may
withhold files with a reason; the approver is recorded; the link is mailed and expires;
the requester proves the e-mail again with a fresh code before the file is sent."""
import hashlib
import shutil
import zipfile
from datetime import timedelta

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

from desk import jobs, links
from desk.audit.services import SYSTEM, Actor, record
from desk.errors import DeskError, require_reason
from desk.extensions import db
from desk.i18n import speaking
from desk.mail.outbound import compose, render
from desk.policy import privacy as policy
from desk.privacy import requests
from desk.privacy.models import PrivacyExport
from desk.storage import get_storage
from desk.policy.words import N_
from desk.types import utcnow

SALT = "desk.privacy-export"


def review(export: PrivacyExport, staff, withhold: list[str], reason: str = "") -> PrivacyExport:
    """Approve a built export and send its link. Files named in `withhold` are taken out of
    the ZIP first, each with the reviewer's reason (a third party's data, a legal privilege)."""
    if export.status != "ready":
        raise DeskError("Only a built export waiting for review can be released.", status=409, code="conflict")
    withhold = sorted({name for name in withhold if name})
    names = _names(export)
    unknown = [w for w in withhold if not any(_covers(w, name) for name in names)]
    if unknown:
        raise DeskError(f"The export has no file {', '.join(unknown)}.", status=422, code="invalid")
    if withhold:
        reason = require_reason(reason, "Withholding part of an export")
        _rewrite_without(export, withhold)
        export.redactions = [{"file": name, "reason": reason} for name in withhold]
    now = utcnow()
    export.status, export.reviewed_by_id, export.reviewed_at = "released", staff.id, now
    export.released_at, export.expires_at = now, now + timedelta(hours=current_app.config["EXPORT_LINK_HOURS"])
    request = export.request
    record(Actor.staff(staff), "privacy.export_released", "privacy_request", request.id, ticket_id=request.ticket_id,
           export=export.id, withheld=withhold, sha256=export.sha256, rule=policy.EXPORT_RULE)
    subject, body = render("privacy_export.txt", request=request, ticket=request.ticket, export=export,
                           link=download_url(export),
                           withheld=withhold, reason=reason if withhold else "")
    mail = compose(f"privacy-export:{export.id}", request.email, subject, body, request.ticket_id)
    jobs.enqueue("workers.mail.deliver", mail.id)
    request.outcome = {**(request.outcome or {}), "export": {"id": export.id, "released": now.isoformat(),
                                                            "withheld": withhold}}
    with speaking(request.ticket):
        answer = gettext("We sent you a link to a copy of your data (JSON and CSV in one ZIP).")
    requests.answer_part(request, staff, answer)
    return export


def _covers(withheld: str, name: str) -> bool:
    """"orders.csv" withholds that file; "attachments/" every file under it."""
    return name == withheld or (withheld.endswith("/") and name.startswith(withheld))


def _names(export: PrivacyExport) -> list[str]:
    with get_storage().open(export.path, seekable=True) as fh, zipfile.ZipFile(fh) as archive:
        return archive.namelist()


class _HashingWriter:
    """A write-only file that hashes what passes through it. It cannot seek or tell, so
    zipfile writes each entry once, in order (sizes in data descriptors instead of headers
    patched afterwards), and the hash is of the bytes the file ends with."""

    def __init__(self, fh):
        self._fh, self.digest = fh, hashlib.sha256()

    def write(self, data) -> int:
        self.digest.update(data)
        return self._fh.write(data)

    def flush(self) -> None:
        self._fh.flush()


def _rewrite_without(export: PrivacyExport, withhold: list[str]) -> None:
    """Copy the ZIP entry by entry, without the withheld files, hashing the copy as it is
    written (streamed: flat memory, one pass); the copy takes the export's key when done."""
    storage = get_storage()
    with storage.open(export.path, seekable=True) as source, storage.writer(export.path, private=True) as fh:
        out = _HashingWriter(fh)
        with zipfile.ZipFile(source) as old, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as new:
            for info in old.infolist():
                if any(_covers(w, info.filename) for w in withhold):
                    continue
                with old.open(info) as reader, new.open(info, "w") as writer:
                    shutil.copyfileobj(reader, writer, 1 << 16)
        size = fh.tell()
    export.size, export.sha256 = size, out.digest.hexdigest()
    export.manifest = {k: v for k, v in (export.manifest or {}).items() if k not in withhold}


# -- the requester's side ------------------------------------------------------------

def token_for(export: PrivacyExport) -> str:
    return links.make(SALT, export.id, export.request.email)


def download_url(export: PrivacyExport) -> str:
    return links.public_url(f"/privacy/exports/{token_for(export)}")


def from_token(token: str) -> PrivacyExport | None:
    # No age limit in the token: the export's own expires_at decides (problem()).
    found = links.read(SALT, token, None)
    if found is None:
        return None
    export = db.session.get(PrivacyExport, found[0])
    if export is None or export.request.email != found[1]:
        return None
    return export


def problem(export: PrivacyExport) -> str | None:
    """Why this link gives nothing now (a message id: the page translates it), or None."""
    if export.status == "expired" or (export.expires_at is not None and utcnow() > export.expires_at):
        return N_("This download link has expired. Ask us for a new copy by replying to your request.")
    if export.status != "released":
        return N_("This copy is not ready to download.")
    if not export.path or not get_storage().exists(export.path):
        return N_("This copy is no longer available.")
    return None


def send_code(export: PrivacyExport) -> None:
    requests.send_code(export.request, purpose="download")


def unlock(export: PrivacyExport, code: str) -> policy.CodeCheck:
    """The fresh code, checked like the first one (privacy-10-verify); counts the download."""
    result = requests.check_code(export.request, code)
    if result.ok:
        export.downloads += 1
        record(SYSTEM, "privacy.export_downloaded", "privacy_request", export.request_id,
               ticket_id=export.request.ticket_id, export=export.id, rule=policy.EXPORT_RULE)
    return result


def expire_due() -> int:
    """Released exports past their time: the file goes, the row says so (the periodic job)."""
    done = 0
    rows = db.session.execute(select(PrivacyExport).where(PrivacyExport.status == "released",
                                                          PrivacyExport.expires_at < utcnow())).scalars()
    for export in rows:
        if export.path:
            get_storage().delete(export.path)
        export.status = "expired"
        done += 1
    return done


def send(export: PrivacyExport):
    """The ZIP as a download, never cached."""
    return get_storage().send(export.path, mimetype="application/zip",
                              download_name=f"{export.request.reference}-your-data.zip", max_age=0)
