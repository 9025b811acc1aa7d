"""Attachments: checked before anything is written, stored once by content (SHA-256)
through desk.storage, and scanned for viruses where a clamd is configured (desk.tickets.scans).

The type is sniffed from the bytes; the client's filename and Content-Type are not trusted.
"""
import hashlib
import os
from dataclasses import dataclass

import filetype
from flask import current_app
from sqlalchemy import select

from desk import jobs
from desk.clamd import Clamd
from desk.errors import AttachmentError, DeskError
from desk.extensions import db
from desk.storage import get_storage
from desk.tickets.models import Attachment
from desk.types import utcnow

ALLOWED_TYPES = {
    "image/png", "image/jpeg", "image/gif", "image/webp",
    "application/pdf", "text/plain", "video/mp4", "video/webm",
}


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes

    @property
    def safe_name(self) -> str:
        name = os.path.basename(self.filename.replace("\\", "/")).strip()
        name = "".join(c for c in name if c.isprintable() and c not in '<>:"|?*')[:255]
        # "." and ".." name a folder, not a file: a download saved under them goes wrong.
        return name if name.strip(".") else "attachment"


def sniff(data: bytes) -> str | None:
    kind = filetype.guess(data[:8192])
    if kind is not None:
        return kind.mime
    sample = data[:8192]
    if b"\x00" in sample:
        return None
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the sample's edge is still text.
        if exc.start < len(sample) - 4:
            return None
    return "text/plain"


def human_size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} bytes"


def check(uploads: list[Upload]) -> list[str]:
    """Sniff and check every upload; raise AttachmentError naming the first bad file."""
    max_bytes = current_app.config["ATTACHMENT_MAX_BYTES"]
    max_files = current_app.config["ATTACHMENT_MAX_FILES"]
    if len(uploads) > max_files:
        raise AttachmentError(f"At most {max_files} attachments per message.", {"attachments": "too many files"})
    types = []
    for upload in uploads:
        if len(upload.data) > max_bytes:
            raise AttachmentError(
                f"The file {upload.safe_name!r} is {human_size(len(upload.data))}; "
                f"attachments may be at most {human_size(max_bytes)}. Nothing was sent.",
                {"attachments": "too large"}, status=413,
            )
        if not upload.data:
            raise AttachmentError(f"The file {upload.safe_name!r} is empty.", {"attachments": "empty file"})
        kind = sniff(upload.data)
        if kind not in ALLOWED_TYPES:
            raise AttachmentError(
                f"The file {upload.safe_name!r} is not a type we accept ({kind or 'unknown binary'}). "
                "Send images, PDF, plain text or MP4/WebM video.",
                {"attachments": "type not allowed"}, status=415,
            )
        types.append(kind)
    return types


def sort_out(uploads: list[Upload]) -> tuple[list[Upload], list[str]]:
    """(kept, refused): for mail, where one bad file must not turn away the message. Each
    refused file is named with the reason, the way check() would have said it."""
    kept, refused = [], []
    for upload in uploads:
        if len(kept) >= current_app.config["ATTACHMENT_MAX_FILES"]:
            refused.append(f"{upload.safe_name}: over the limit of files per message")
            continue
        try:
            check([upload])
        except AttachmentError as exc:
            refused.append(exc.message)
            continue
        kept.append(upload)
    return kept, refused


def key_for(digest: str) -> str:
    """Where an attachment's bytes are kept (desk.storage): the layout ATTACHMENT_DIR always had."""
    return f"attachments/{digest[:2]}/{digest[2:4]}/{digest}"


def quarantine_key(digest: str) -> str:
    """Where bytes a scan found infected are moved: kept for a false positive, never served."""
    return f"quarantine/{digest}"


def infected_signature(digest: str) -> str | None:
    """What a scan found in these bytes before (every row of a digest agrees), or None."""
    return db.session.execute(select(Attachment.scan_result).where(
        Attachment.sha256 == digest, Attachment.scan_state == "infected").limit(1)).scalar()


def store(data: bytes) -> str:
    """Write the bytes under their SHA-256 (once) and return the digest. Bytes a scan found
    infected before are not written again: they stay in the quarantine."""
    digest = hashlib.sha256(data).hexdigest()
    storage = get_storage()
    if infected_signature(digest) is None and not storage.exists(key_for(digest)):
        storage.put(key_for(digest), data)
    return digest


def add(ticket, message, *, filename: str, content_type: str, size: int, sha256: str) -> Attachment:
    """The one way an attachment row is made, in the caller's transaction. With a clamd
    configured it is scanned by a job (pending until then); bytes already known to be
    infected are marked so at once; with scanning off it carries no scan state."""
    signature = infected_signature(sha256)
    state = "infected" if signature else "pending" if Clamd.from_config(current_app.config) else None
    attachment = Attachment(ticket=ticket, message=message, filename=filename, content_type=content_type,
                            size=size, sha256=sha256, scan_state=state, scan_result=signature,
                            scanned_at=utcnow() if signature else None)
    db.session.add(attachment)
    if state == "pending":
        db.session.flush()  # the job takes the row's id
        jobs.enqueue("workers.tickets.scan_attachment", attachment.id)
    return attachment


def remove_bytes(digest: str) -> bool:
    """Delete a digest's stored bytes, quarantined or not; True when there were any."""
    storage = get_storage()
    removed = storage.delete(key_for(digest))
    return storage.delete(quarantine_key(digest)) or removed


# -- serving ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FileView:
    """How one attachment shows to one side (staff, or the requester by link or portal)."""

    served: bool
    note: str | None = None  # beside its name on the ticket
    tone: str = ""  # the note's badge: "bad" (quarantined), "warn" (not scanned yet), "" (plain)
    status: int = 200  # a refused download's answer, with `message`
    message: str | None = None


NOT_YET = ("This file is still being checked for viruses. It can be downloaded once the check is done; "
           "please try again in a minute.")


def view(attachment: Attachment, *, staff: bool) -> FileView:
    """Who may download it (desk.tickets.scans): an infected file nobody; with scanning on,
    one not scanned clean yet (pending, a failed scan being retried, or stored before
    scanning was turned on) staff only, warned; with scanning off, every file."""
    state = attachment.scan_state
    if state == "infected":
        return FileView(False, f"quarantined: {attachment.scan_result}", "bad", 410,
                        f"This file was quarantined: a virus scan found {attachment.scan_result}. "
                        "It is not served to anyone; its SHA-256 is kept on the ticket.")
    if state == "clean" or Clamd.from_config(current_app.config) is None:
        return FileView(True)
    if staff:
        why = f"virus scan failed ({attachment.scan_result}), retrying" if state == "error" else "not scanned yet"
        return FileView(True, f"{why}: open with care", "warn")
    return FileView(False, "being checked for viruses", "", 409, NOT_YET)


def send(attachment: Attachment, *, staff: bool):
    """The file as a download with its sniffed type (never rendered as a page), or the
    reason it is refused."""
    seen = view(attachment, staff=staff)
    if not seen.served:
        raise DeskError(seen.message, status=seen.status,
                        code="quarantined" if seen.status == 410 else "not_scanned_yet")
    # A file no longer stored (erased) raises desk.storage.Missing: a 404 page says so.
    return get_storage().send(key_for(attachment.sha256), mimetype=attachment.content_type,
                              download_name=attachment.filename)
