"""The desk's own LMTP/SMTP listener (aiosmtpd), for an MTA to hand mail over on loopback.

Recipients that lead to no desk are refused at RCPT (550), so the MTA bounces them at once;
a message over MAIL_MAX_BYTES is refused with 552 and words that say what to do. A message
is answered 250 only once it is stored; when the database is down the answer is 451 and
the MTA keeps the message and tries again. LMTP answers once per recipient (RFC 2033).
"""
import asyncio
import logging

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

from desk.mail import inbound

log = logging.getLogger(__name__)


class _Sizes:
    """aiosmtpd's own 552 says only "Too much mail data"; ours says the limit."""

    too_large = "552 5.3.4 Message too big"

    async def push(self, status: str) -> None:
        if status.startswith("552 Error: "):
            status = self.too_large
        await super().push(status)


class DeskSMTP(_Sizes, SMTP):
    pass


class DeskLMTP(_Sizes, LMTP):
    pass


class Handler:
    def __init__(self, app, lmtp: bool):
        self.app = app
        self.lmtp = lmtp

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.app.app_context():
            route = inbound.route_of(address)
            known = ", ".join(sorted(inbound.mailboxes()))
        if route is None:
            return f"550 5.1.1 <{address}>: no such mailbox here; the desk takes mail for {known}"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(None, self._ingest, bytes(envelope.original_content),
                                                 list(envelope.rcpt_tos), envelope.mail_from)
        except inbound.TooLarge as exc:
            status = f"552 5.3.4 {exc.message}"
        except Exception:  # noqa: BLE001 - whatever failed, the MTA must keep the message
            log.exception("mail listener: could not store a message; asked the sender to retry")
            status = "451 4.3.0 The desk cannot store mail just now; please try again later"
        else:
            status = f"250 2.0.0 {outcome.status}{' ' + outcome.ticket if outcome.ticket else ''}"
        if self.lmtp:
            return "\r\n".join([status] * max(1, len(envelope.rcpt_tos)))
        return status

    def _ingest(self, raw: bytes, recipients, mail_from):
        with self.app.app_context():
            return inbound.ingest(raw, recipients, mail_from)


class DeskController(Controller):
    def __init__(self, app, host: str, port: int, protocol: str = "lmtp"):
        if protocol not in ("lmtp", "smtp"):
            raise ValueError("protocol is lmtp or smtp")
        self.protocol = protocol
        with app.app_context():
            self.limit = inbound.max_bytes()
            self.too_large = f"552 5.3.4 {inbound.too_large_text()}"
        super().__init__(Handler(app, protocol == "lmtp"), hostname=host, port=port,
                         data_size_limit=self.limit, enable_SMTPUTF8=True)

    def factory(self):
        server_class = DeskLMTP if self.protocol == "lmtp" else DeskSMTP
        server = server_class(self.handler, **self.SMTP_kwargs)
        server.too_large = self.too_large
        return server
