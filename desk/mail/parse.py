"""One received message (RFC 5322 and MIME) read into what the desk needs.

No Flask, no database: bytes in, a `Parsed` out, or `Unreadable` with the reason, so the
message is quarantined with its raw bytes instead of half-read. Any charset the message
declares is decoded (an unknown one as UTF-8 with replacement characters, never an
error), encoded-word headers (RFC 2047) and RFC 2231 file names included. HTML bodies
are cleaned by the one allow-list (desk.sanitize) on their way to text.
"""
import email
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import errors as email_errors
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime

from desk.mail.quotes import split_quote
from desk.sanitize import html_to_text

MSG_ID = re.compile(r"<[^<>\s]{1,990}>")
# Defects that mean the structure itself is broken: what was read may not be the message.
FATAL_DEFECTS = (
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.MissingHeaderBodySeparatorDefect,
)


# The standard library's structured-header parser takes quadratic time: a To: of 10,000
# addresses (200 KB) took minutes of CPU per message. No header the desk reads needs more
# than this (about 400 addresses; the subject is cut to 300 characters anyway).
MAX_HEADER = 8192


class _Policy(email_policy.EmailPolicy):
    """The default policy, but a header is read from its first MAX_HEADER characters and
    never carries a NUL, raw or RFC 2047-encoded: no mail means one, and PostgreSQL text
    cannot hold it (the message would fail to be stored at all, and the sender's MTA would
    retry it until it gave up)."""

    def header_fetch_parse(self, name, value):
        header = super().header_fetch_parse(name, value[:MAX_HEADER].replace("\x00", ""))
        return header if "\x00" not in str(header) else self.header_factory(name, str(header).replace("\x00", ""))


POLICY = _Policy()
AUTO_LOCAL_PARTS = ("mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply", "do-not-reply", "bounce")


class Unreadable(Exception):
    """The message cannot be read as mail; str() says why."""


@dataclass
class Part:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Feedback:
    """An ARF abuse report (RFC 5965): the machine-readable part and the original's headers."""

    feedback_type: str
    fields: dict[str, list[str]]
    original: dict[str, str]

    def first(self, name: str) -> str:
        values = self.fields.get(name.lower()) or [""]
        return values[0]

    @property
    def uris(self) -> list[str]:
        return self.fields.get("reported-uri", [])


@dataclass
class DeliveryReport:
    """A DSN (RFC 3464): which of our messages it is about, and what the receiving side said."""

    message_ids: list[str]
    recipient: str
    action: str
    status: str
    diagnostic: str


@dataclass
class Parsed:
    message_id: str | None
    in_reply_to: list[str]
    references: list[str]
    sender: str  # the From address, lower case
    sender_name: str
    recipients: list[str]  # To, Cc, Delivered-To and X-Original-To addresses
    subject: str
    date: datetime | None
    text: str  # the whole body as plain text
    new_text: str  # the body without the quoted history
    quoted: str  # the quoted history ("" when none was found)
    parts: list[Part] = field(default_factory=list)
    auto: str | None = None  # why this is an automatic message (no acknowledgement), or None
    delivery: DeliveryReport | None = None
    feedback: Feedback | None = None

    @property
    def thread_ids(self) -> list[str]:
        """The messages this one answers, nearest first."""
        seen, ids = set(), []
        for mid in self.in_reply_to + list(reversed(self.references)):
            if mid not in seen:
                seen.add(mid)
                ids.append(mid)
        return ids


def digest_key(raw: bytes) -> str:
    """The key of a message without a Message-ID: the same bytes twice are one message."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def excerpt(text: str, limit: int = 2000) -> str:
    """The start of a message's words, to decide on it without opening it (a held reply)."""
    return text if len(text) <= limit else text[:limit] + " …"


def preview(raw: bytes) -> str:
    """excerpt() of a stored message's own words, read leniently; or why it cannot be read."""
    try:
        return excerpt(read(raw, lenient=True).new_text)
    except Unreadable as exc:
        return f"(cannot be read: {exc})"


def read(raw: bytes, envelope_sender: str | None = None, *, lenient: bool = False) -> Parsed:
    """Parse `raw`; `lenient` reads past broken structure (an admin releasing a quarantined
    message accepts what can be read)."""
    try:
        msg = email.message_from_bytes(raw, policy=POLICY)
        return _read(msg, envelope_sender, lenient)
    except Unreadable:
        raise
    except Exception as exc:  # noqa: BLE001 - the parser's errors are many and undocumented
        raise Unreadable(f"the parser failed: {type(exc).__name__}: {exc}"[:500]) from exc


def _read(msg: EmailMessage, envelope_sender: str | None, lenient: bool) -> Parsed:
    if not lenient:
        for part in msg.walk():
            fatal = [d for d in part.defects if isinstance(d, FATAL_DEFECTS)]
            if fatal:
                raise Unreadable("broken MIME structure: " + "; ".join(type(d).__name__ for d in fatal))
    if not msg.keys():
        raise Unreadable("no headers: this is not an e-mail message")
    sender, sender_name = _sender(msg)
    if not sender:
        raise Unreadable("no sender address in From:")
    body = msg.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        text = _text(body)
        if body.get_content_subtype() == "html":
            text = html_to_text(text)
    elif isinstance(msg.get_payload(), str):
        # A multipart whose boundary never comes (read leniently): its text is all there is.
        text = msg.get_payload()
    text = text.replace("\r\n", "\n").replace("\x00", "").strip()
    new_text, quoted = split_quote(text)
    delivery = _delivery_report(msg)
    feedback = _feedback(msg)
    return Parsed(
        message_id=_first_id(msg.get("Message-ID")), in_reply_to=_ids(msg.get("In-Reply-To")),
        references=_ids(msg.get("References")), sender=sender, sender_name=sender_name,
        recipients=_addresses(msg, "To", "Cc", "Delivered-To", "X-Original-To"),
        subject=" ".join(str(msg.get("Subject", "")).split())[:300], date=_date(msg.get("Date")),
        text=text, new_text=new_text, quoted=quoted, parts=list(_attachments(msg, body)),
        auto=_automatic(msg, sender, envelope_sender), delivery=delivery, feedback=feedback,
    )


def _sender(msg) -> tuple[str, str]:
    header = msg.get("From")
    addresses = getattr(header, "addresses", ()) if header is not None else ()
    for address in addresses:
        if "@" in (address.addr_spec or ""):
            return address.addr_spec.lower(), (address.display_name or "")[:120]
    return "", ""


def _addresses(msg, *names) -> list[str]:
    found = []
    for name in names:
        for header in msg.get_all(name) or []:
            for address in getattr(header, "addresses", ()):
                spec = (address.addr_spec or "").lower()
                if "@" in spec and spec not in found:
                    found.append(spec)
    return found


def _ids(value) -> list[str]:
    return MSG_ID.findall(str(value or ""))


def _first_id(value) -> str | None:
    ids = _ids(value)
    return ids[0] if ids else None


def _date(value) -> datetime | None:
    try:
        moment = parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def _text(part) -> str:
    """A text part in whatever charset it declares; an unknown or wrong one never fails."""
    try:
        return part.get_content()
    except (LookupError, UnicodeError, AssertionError):
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


def _walk(part):
    """The leaves of the MIME tree; an attached message is one leaf, not opened."""
    if part.get_content_maintype() == "multipart":
        for sub in part.iter_parts():
            yield from _walk(sub)
    else:
        yield part


def _attachments(msg, body):
    number = 0
    for part in _walk(msg):
        if part is body:
            continue
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        if part.get_content_maintype() == "text" and not filename and disposition != "attachment":
            continue  # the other alternative of the body (HTML beside plain text)
        if part.get_content_type() in ("message/delivery-status", "message/feedback-report",
                                       "message/disposition-notification"):
            continue  # read into the report itself
        number += 1
        data = _bytes(part)
        if not data:
            continue
        name = filename or f"attachment-{number}{_extension(part.get_content_type())}"
        yield Part(str(name).replace("\x00", ""), part.get_content_type(), data)


def _bytes(part) -> bytes:
    if part.get_content_maintype() == "message":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        if isinstance(inner, EmailMessage):
            try:
                return inner.as_bytes(policy=email_policy.SMTP)
            except Exception:  # noqa: BLE001 - an attached message too broken to write back out
                return str(inner).encode("utf-8", errors="replace")
        return str(inner or "").encode("utf-8", errors="replace")
    return part.get_payload(decode=True) or b""


def _extension(content_type: str) -> str:
    return {"message/rfc822": ".eml", "text/rfc822-headers": ".txt", "text/plain": ".txt", "text/html": ".html",
            "image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "application/pdf": ".pdf"
            }.get(content_type, ".bin")


def _automatic(msg, sender: str, envelope_sender: str | None) -> str | None:
    """Why no person is waiting for an answer (RFC 3834 and what mailers really send)."""
    if envelope_sender is not None and envelope_sender.strip("<> ") == "":
        return "null sender (a bounce)"
    if str(msg.get("Return-Path", "")).strip() == "<>":
        return "null sender (a bounce)"
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if msg.get(header) is not None:
            return f"{header} header"
    if msg.get("List-Id") is not None or msg.get("List-Unsubscribe") is not None:
        return "mailing-list message"
    if msg.get_content_type() == "multipart/report":
        return f"{msg.get_param('report-type', 'delivery') or 'delivery'} report"
    if sender.split("@", 1)[0] in AUTO_LOCAL_PARTS:
        return f"sent from {sender}"
    return None


def _report(msg, report_type: str, part_type: str) -> tuple[dict[str, list[str]], dict[str, str]] | None:
    """(fields of the machine-readable part, the original message's headers) of a
    multipart/report of `report_type` (RFC 6522), or None when the message is not one."""
    if msg.get_content_type() != "multipart/report" or str(msg.get_param("report-type", "")).lower() != report_type:
        return None
    fields: dict[str, list[str]] = {}
    original: dict[str, str] = {}
    for part in msg.iter_parts():
        content_type = part.get_content_type()
        if content_type == part_type:
            fields = _fields(part)
        elif content_type in ("message/rfc822", "text/rfc822-headers") and not original:
            original = _original_headers(part)
    return fields, original


def _fields(part) -> dict[str, list[str]]:
    """Header-style fields of a report part, lower-case names, every value kept."""
    payload = part.get_payload()
    blocks = payload if isinstance(payload, list) else [payload]
    found: dict[str, list[str]] = {}
    for block in blocks:
        headers = block if hasattr(block, "items") else BytesHeaderParser(policy=email_policy.default).parsebytes(
            str(block or "").encode("utf-8", errors="replace"))
        for name, value in headers.items():
            found.setdefault(name.lower(), []).append(" ".join(str(value).split()))
    return found


def _original_headers(part) -> dict[str, str]:
    """The reported message's headers: an attached message, or its header block as text."""
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        headers = inner[0] if isinstance(inner, list) and inner else inner
    else:
        headers = BytesHeaderParser(policy=email_policy.default).parsebytes(_text(part).encode("utf-8", "replace"))
    if not hasattr(headers, "items"):
        return {}
    return {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}


def _delivery_report(msg) -> DeliveryReport | None:
    found = _report(msg, "delivery-status", "message/delivery-status")
    if found is None:
        return None
    fields, original = found

    def first(name):
        return (fields.get(name) or [""])[0]

    return DeliveryReport(
        message_ids=_ids(original.get("message-id")), recipient=first("final-recipient").split(";")[-1].strip(),
        action=first("action").lower(), status=first("status"), diagnostic=first("diagnostic-code")[:500])


def _feedback(msg) -> Feedback | None:
    found = _report(msg, "feedback-report", "message/feedback-report")
    if found is None:
        return None
    fields, original = found
    if not fields:
        raise Unreadable("a feedback report (RFC 5965) without its message/feedback-report part")
    return Feedback(feedback_type=(fields.get("feedback-type") or ["other"])[0].lower(), fields=fields,
                    original=original)
