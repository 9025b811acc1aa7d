"""Erasure (privacy-8-erasure, privacy-11-minor): the person's identifiers leave every table.

The job runs once per request (an erased request is left alone). Under a legal hold or an
open case the whole erasure is deferred, and it runs again when the hold is released. What
runs:

1. the rows tied to the person (their account, orders, tickets, reports, requests…) are
   erased or pseudonymised: message bodies and attachments go, the account keeps a
   pseudonym, orders keep their amounts without links, ledger rows stay for accounting;
2. the append-only rows that name them (audit log, moderation log, evidence of closed
   cases) are redacted once: identifiers replaced, hashes kept, and the redaction's new
   digest recorded in the audit chain so the chains still verify;
3. every text column of every table is swept for the e-mail address, so nothing written
   elsewhere keeps it — and every evidence snapshot's document in storage, read in chunks
   (a redacted snapshot is a new object; the unredacted one is deleted after the commit).

The audit record of the erasure carries counts and ids, never the erased data.
"""
from collections import Counter

from sqlalchemy import JSON, String, Text, cast, delete, func, literal, or_, select, update

from desk import jobs
from desk.abuse import evidence as evidence_
from desk.abuse import holds
from desk.abuse.models import (AbuseCase, Appeal, BlockedIdentifier, CaseSubject, Disclosure, EnforcementAction,
                               EvidenceSnapshot, LegalHold, ModerationEvent, MutedReporter, Report)
from desk.accounts.models import AccountRequest, CustomerIdentifier
from desk.audit.models import AuditEvent
from desk.audit.services import SYSTEM, digest_of, record, write_pending
from desk.claims.models import Claim, Customer, LedgerEntry, Order
from desk.csat.models import Survey
from desk.extensions import db, for_update
from desk.i18n import say, speaking
from desk.mail.models import InboundMail, OutboundMail
from desk.mail.outbound import compose, render
from desk.money.models import BillingCase, MoneyRequest
from desk.policy import privacy as policy
from desk.policy.words import Words
from desk.privacy.models import PrivacyRequest
from desk.sla.models import SlaEvent, TicketClock
from desk.tickets import services as tickets
from desk.storage import Missing, delete_after_commit, get_storage
from desk.tickets.attachments import remove_bytes
from desk.tickets.models import Attachment, Message, Ticket
from desk.types import utcnow
from desk.webhooks.models import WebhookEvent

ERASED_TEXT = "[erased: privacy-8-erasure]"
# Tables the sweep leaves alone: staff accounts and keys are not data subjects' records.
NOT_SWEPT = frozenset({"staff", "api_keys", "audit_head", "alembic_version"})
REDACTED_TABLES = {"audit_events": AuditEvent, "moderation_events": ModerationEvent,
                   "evidence_snapshots": EvidenceSnapshot}


def blockers(request: PrivacyRequest) -> list[str]:
    """What holds the erasure, in English (staff, the request's record)."""
    return [str(words) for words in blocker_words(request)]


def blocker_words(request: PrivacyRequest) -> list[Words]:
    customer = request.customer
    if customer is None:
        return []
    return holds.erasure_blocker_words(customer, minor=customer.minor_reported)


def erase(request_id: int) -> PrivacyRequest | None:
    """Erase the requester's data, or defer it while something holds it. Idempotent."""
    request = db.session.execute(for_update(select(PrivacyRequest).where(
        PrivacyRequest.id == request_id))).scalar_one_or_none()
    if request is None:
        return None
    if request.erased_at is not None or request.status not in ("verified", "working", "deferred"):
        # Done already, or not verified (privacy-10-verify): nothing is touched.
        return request
    found = blocker_words(request)
    if found:
        _defer(request, found)
        return request
    _Erasure(request).run()
    return request


def resume_for(customer: Customer) -> int:
    """A hold was released or a case closed: deferred erasures of this account run again."""
    rows = db.session.execute(select(PrivacyRequest.id).where(
        PrivacyRequest.customer_id == customer.id, PrivacyRequest.status == "deferred")).scalars().all()
    for request_id in rows:
        jobs.enqueue("workers.privacy.erase", request_id)
    return len(rows)


def _defer(request: PrivacyRequest, found: list[Words]) -> None:
    first_time = request.status != "deferred"
    request.status = "deferred"
    request.outcome = {**(request.outcome or {}), "erasure": {"deferred": [str(w) for w in found],
                                                              "rule": policy.ERASURE_RULE}}
    record(SYSTEM, "privacy.erasure_deferred", "privacy_request", request.id, ticket_id=request.ticket_id,
           holds=len(found), rule=policy.ERASURE_RULE)
    if first_time and request.ticket is not None:
        with speaking(request.ticket):
            told = say(policy.deferral_answer(found))
        tickets.system_reply(request.ticket, told, status="on_hold")


class _Erasure:
    def __init__(self, request: PrivacyRequest):
        self.request = request
        self.customer: Customer | None = request.customer
        # The request's address and the account's own, read before the run pseudonymises
        # both: every later step must still find the originals.
        addresses = (request.email, self.customer.email if self.customer else None)
        self.emails = sorted({address.lower() for address in addresses if address})
        self.counts: Counter = Counter()
        self.kept: set[str] = {"record"}
        self.redacted: dict[str, dict[str, str]] = {name: {} for name in REDACTED_TABLES}
        self.redacted_now: set[int] = set()  # evidence snapshots rewritten by this run
        self.old_panel = self.customer.panel_id if self.customer else ""
        self.tag = f"c{self.customer.id}" if self.customer else f"r{request.id}"
        self.pseudo_email = policy.pseudonym_email(self.tag[0], int(self.tag[1:]))
        self.pseudo = policy.pseudonym(self.tag[0], int(self.tag[1:]))

    # -- what is the person's -------------------------------------------------------
    def _tickets(self) -> list[int]:
        """Their own tickets, whose contents go. An abuse or rights case's ticket is not one
        of them even when they reported it: it is the case's record, and keeps its words
        with the person's identifiers replaced (below)."""
        conditions = [func.lower(Ticket.requester_email).in_(self.emails)]
        if self.customer is not None:
            conditions.append(Ticket.customer_id == self.customer.id)
        return list(db.session.execute(select(Ticket.id).where(
            or_(*conditions), Ticket.kind.not_in(("abuse", "rights")))).scalars())

    def _scrubber(self) -> policy.Scrubber:
        phrases = {email: self.pseudo_email for email in self.emails}
        words = {}
        if self.customer is not None:
            c = self.customer
            if c.login:
                words[c.login] = self.pseudo
            # A panel id with a letter in it is a name ("alice"); a number is replaced only
            # where it stands as the account (below), never inside other numbers.
            if any(ch.isalpha() for ch in c.panel_id):
                words[c.panel_id] = self.pseudo
            words[f"account:{c.panel_id}"] = f"account:{self.pseudo}"
            links = db.session.execute(select(Order.id, Order.link, Order.link_normalized)
                                       .where(Order.customer_id == c.id).order_by(Order.id))
            for order_id, link, normalized in links:
                stand_in = phrases.get((normalized or "").lower()) or f"erased-link{order_id}"
                for value in (link, normalized):
                    if value and len(value) >= 4:
                        phrases.setdefault(value, stand_in)
        return policy.Scrubber(phrases=phrases, words=words)

    # -- the run --------------------------------------------------------------------
    def run(self) -> None:
        request, now = self.request, utcnow()
        self.scrub = self._scrubber()
        self.ticket_ids = self._tickets()
        self.case_ids = self._cases()
        answer_to = list(self.emails)
        self._account()
        self._tickets_and_messages()
        self._money_and_claims()
        self._abuse()
        self._requests()
        self._webhook_events()
        self._append_only()
        self._sweep()
        kept = policy.kept_lines(self.kept)
        request.status, request.erased_at, request.responded_at = "answered", now, now
        request.response = policy.erasure_answer(kept)
        request.outcome = {**(request.outcome or {}), "erasure": {
            "kept": kept, "counts": dict(self.counts), "at": now.isoformat(),
            "rule": policy.MINOR_RULE if self.customer is not None and self.customer.minor_reported
            else policy.ERASURE_RULE}}
        if request.ticket is not None:
            # request.response stays the English record; the requester reads their language.
            with speaking(request.ticket):
                told = "\n".join(say(line) for line in policy.erasure_words(kept))
            tickets.system_reply(request.ticket, told, status="resolved", notify=False)
        subject, body = render("privacy_erased.txt", request=request, kept=kept, ticket=request.ticket)
        for number, address in enumerate(answer_to, start=1):
            # The answer goes to the address the person wrote from; once sent, the mail row
            # forgets it too.
            mail = compose(f"privacy-erased:{request.id}:{number}", address, subject, body,
                           ticket_id=request.ticket_id)
            mail.forget_recipient = True
            jobs.enqueue("workers.mail.deliver", mail.id)
        db.session.flush()
        record(SYSTEM, "privacy.erased", "privacy_request", request.id, ticket_id=request.ticket_id,
               counts=dict(self.counts), kept=sorted(self.kept), redacted=self.redacted,
               rule=request.outcome["erasure"]["rule"])

    def _cases(self) -> list[int]:
        if self.customer is None:
            reported = select(Report.case_id).where(func.lower(Report.reporter_email).in_(self.emails))
            return [i for i in db.session.execute(reported).scalars() if i is not None]
        subjects = {f"account:{self.customer.panel_id}"}
        subjects |= {f"link:{n}" for n in db.session.execute(select(Order.link_normalized).where(
            Order.customer_id == self.customer.id)).scalars()}
        subjects |= {f"order:{p}" for p in db.session.execute(select(Order.panel_id).where(
            Order.customer_id == self.customer.id)).scalars()}
        ids = set()
        for chunk in _chunks(sorted(subjects), 500):
            ids |= set(db.session.execute(select(CaseSubject.case_id).where(CaseSubject.subject.in_(chunk))).scalars())
        ids |= set(db.session.execute(select(Report.case_id).where(
            func.lower(Report.reporter_email).in_(self.emails), Report.case_id.is_not(None))).scalars())
        return sorted(ids)

    def _account(self) -> None:
        c = self.customer
        if c is None:
            return
        self.counts["identifiers"] += db.session.execute(
            delete(CustomerIdentifier).where(CustomerIdentifier.customer_id == c.id)).rowcount
        orders = db.session.execute(update(Order).where(Order.customer_id == c.id).values(
            link=ERASED_TEXT, link_normalized=literal("erased:") + cast(Order.id, String))).rowcount
        self.counts["orders"] += orders
        if orders:
            self.kept.add("orders")
        if db.session.execute(select(LedgerEntry.id).where(LedgerEntry.customer_id == c.id).limit(1)).first():
            self.kept.add("ledger")
        c.login, c.email, c.email_verified, c.country = self.pseudo, self.pseudo_email, False, None
        c.panel_id, c.erased_at = self.pseudo, utcnow()
        self.counts["accounts"] += 1

    def _received_mail(self) -> None:
        """Mail they sent: the row stays as the record that it came (the sweep replaces the
        address); what it said goes, raw bytes of a held or quarantined copy included."""
        self.counts["mails_received"] += db.session.execute(update(InboundMail).where(
            func.lower(InboundMail.sender).in_(self.emails)).values(
            raw=None, preview=None, subject=ERASED_TEXT,
            message_key=literal("erased:") + cast(InboundMail.id, String))).rowcount

    def _tickets_and_messages(self) -> None:
        self._received_mail()
        if not self.ticket_ids:
            return
        for chunk in _chunks(self.ticket_ids, 500):
            emails = self.emails
            self.counts["tickets"] += db.session.execute(update(Ticket).where(Ticket.id.in_(chunk)).values(
                subject=ERASED_TEXT, requester_email=self.pseudo_email, requester_name="")).rowcount
            self.counts["messages"] += db.session.execute(update(Message).where(Message.ticket_id.in_(chunk)).values(
                body_html=f"<p>{ERASED_TEXT}</p>", body_text=ERASED_TEXT, redaction_note=None,
                email_message_id=None)).rowcount
            db.session.execute(update(Message).where(Message.ticket_id.in_(chunk),
                                                     func.lower(Message.author_email).in_(emails))
                               .values(author_email=self.pseudo_email))
            hashes = set(db.session.execute(select(Attachment.sha256).where(Attachment.ticket_id.in_(chunk))).scalars())
            self.counts["attachments"] += db.session.execute(
                delete(Attachment).where(Attachment.ticket_id.in_(chunk))).rowcount
            db.session.flush()
            self.counts["files"] += remove_unreferenced(hashes)
            # Notices already written to the person: their copies go (the answer comes after).
            self.counts["mails"] += db.session.execute(delete(OutboundMail).where(
                OutboundMail.ticket_id.in_(chunk))).rowcount
            self._scrub_rows(TicketClock, TicketClock.ticket_id.in_(chunk), ("extension_reason",))
            # A satisfaction answer keeps its rating (it rates the desk's work), not their words.
            db.session.execute(update(Survey).where(Survey.ticket_id.in_(chunk)).values(comment=None))
            self._scrub_rows(SlaEvent, SlaEvent.ticket_id.in_(chunk), ("data",))
        self.kept.add("tickets")
        self.counts["mails"] += db.session.execute(delete(OutboundMail).where(
            func.lower(OutboundMail.to_addr).in_(self.emails))).rowcount

    def _money_and_claims(self) -> None:
        c = self.customer
        if c is None:
            return
        self._scrub_rows(MoneyRequest, MoneyRequest.customer_id == c.id,
                         ("verification_note", "decision_reason", "override_reason", "quote"))
        self._scrub_rows(BillingCase, BillingCase.customer_id == c.id, ("resolution", "actions"))
        self._scrub_rows(AccountRequest, AccountRequest.customer_id == c.id, ("reasons",))
        self._scrub_rows(Claim, Claim.order_id.in_(select(Order.id).where(Order.customer_id == c.id)),
                         ("reasons", "outcome_reason"))

    def _abuse(self) -> None:
        emails = self.emails
        for report in db.session.execute(select(Report).where(
                func.lower(Report.reporter_email).in_(emails))).scalars():
            # The report stays with its case (AUP §5.2); who made it does not.
            report.reporter_email, report.reporter_name = self.pseudo_email, ""
            report.description = self.scrub.text(report.description)
            self.kept.add("reports")
            self.counts["reports"] += 1
        self.counts["muted"] += db.session.execute(delete(MutedReporter).where(
            func.lower(MutedReporter.email).in_(emails))).rowcount
        if self.case_ids:
            cases = AbuseCase.id.in_(self.case_ids)
            # The case's own ticket is the reporter's: its words stay, the person's identifiers go.
            case_tickets = select(AbuseCase.ticket_id).where(cases)
            db.session.execute(update(Ticket).where(Ticket.id.in_(case_tickets),
                                                    func.lower(Ticket.requester_email).in_(emails))
                               .values(requester_email=self.pseudo_email, requester_name=""))
            self._scrub_rows(Ticket, Ticket.id.in_(case_tickets), ("subject",))
            self._scrub_rows(Message, Message.ticket_id.in_(case_tickets), ("body_text", "body_html"))
            self._scrub_rows(OutboundMail, OutboundMail.ticket_id.in_(case_tickets),
                             ("subject", "body_text", "last_error"))
            self._scrub_rows(AbuseCase, cases, ("details",))
            self._scrub_rows(CaseSubject, CaseSubject.case_id.in_(self.case_ids), ("subject", "label"))
            self._scrub_rows(Report, Report.case_id.in_(self.case_ids), ("links", "orders", "description", "details"))
            self._scrub_rows(Disclosure, Disclosure.case_id.in_(self.case_ids), ("what", "basis"))
        c = self.customer
        if c is None:
            return
        actions = select(EnforcementAction.id).where(EnforcementAction.customer_id == c.id)
        blocked = set(db.session.execute(select(BlockedIdentifier.action_id).where(
            BlockedIdentifier.action_id.in_(actions), BlockedIdentifier.released_at.is_(None))).scalars())
        if blocked:
            self.kept.add("blocked")  # fraud prevention: an active block keeps its identifier
        for row in db.session.execute(select(EnforcementAction).where(EnforcementAction.customer_id == c.id)).scalars():
            row.reason, row.before = self.scrub.text(row.reason), self.scrub.value(row.before or {})
            if row.id not in blocked and row.identifier_value:
                row.identifier_value = self.scrub.text(row.identifier_value)
        db.session.execute(update(Appeal).where(Appeal.action_id.in_(actions)).values(body=ERASED_TEXT))
        self._scrub_rows(Appeal, Appeal.action_id.in_(actions), ("decision_reason",))
        self._scrub_rows(LegalHold, LegalHold.customer_id == c.id, ("reason", "release_reason"))

    def _requests(self) -> None:
        conditions = [func.lower(PrivacyRequest.email).in_(self.emails)]
        if self.customer is not None:
            conditions.append(PrivacyRequest.customer_id == self.customer.id)
        for row in db.session.execute(select(PrivacyRequest).where(or_(*conditions))).scalars():
            # The record stays (11 CCR §7101): date, nature, channel, response; not the person.
            row.email, row.details = self.pseudo_email, ""
            for export in row.exports:
                # An earlier copy of their data is their data too.
                if export.path and get_storage().delete(export.path):
                    self.counts["exports"] += 1
                export.path, export.manifest, export.status = None, {}, "expired"
            row.verification_note = self.scrub.text(row.verification_note) if row.verification_note else None
            row.response = self.scrub.text(row.response) if row.response else None

    def _webhook_events(self) -> None:
        """The events the desk sent the panel name the account by its panel id (never its
        words: desk.webhooks.services.ticket_fields); from now on they name its pseudonym,
        as its orders and ledger do, and a delivery still pending sends that. Their other
        fields (references, amounts, rule ids) stay: the panel's record of what it was told."""
        if self.customer is None:
            return
        named = WebhookEvent.payload["customer"].as_string() == self.old_panel
        for event in db.session.execute(select(WebhookEvent).where(named)).scalars():
            event.payload = {**event.payload, "customer": self.pseudo}
            self.counts["webhook_events"] += 1

    # -- the append-only logs -------------------------------------------------------
    def _append_only(self) -> None:
        write_pending()  # this transaction's own events so far are in the chain too, to be redacted
        audit = [func.lower(AuditEvent.actor_label).in_(self.emails)]
        if self.ticket_ids:
            audit += [AuditEvent.ticket_id.in_(chunk) for chunk in _chunks(self.ticket_ids, 500)]
        if self.customer is not None:
            audit.append((AuditEvent.subject_type == "customer") & (AuditEvent.subject_id == self.old_panel))
        for row in db.session.execute(select(AuditEvent).where(or_(*audit)).order_by(AuditEvent.id)).scalars():
            self._redact_audit(row)
        if self.case_ids:
            for row in db.session.execute(select(ModerationEvent).where(
                    ModerationEvent.case_id.in_(self.case_ids)).order_by(ModerationEvent.id)).scalars():
                self._redact_moderation(row)
            for row in db.session.execute(select(EvidenceSnapshot).where(
                    EvidenceSnapshot.case_id.in_(self.case_ids))).scalars():
                self._redact_snapshot(row)
        if self.customer is not None:
            subject = f"account:{self.old_panel}"
            for row in db.session.execute(select(ModerationEvent).where(ModerationEvent.subject == subject)).scalars():
                self._redact_moderation(row)
            billing = select(BillingCase.id).where(BillingCase.customer_id == self.customer.id)
            for row in db.session.execute(select(EvidenceSnapshot).where(
                    EvidenceSnapshot.billing_case_id.in_(billing))).scalars():
                self._redact_snapshot(row)

    def _redact_audit(self, row: AuditEvent, scrub: policy.Scrubber | None = None) -> None:
        scrub = scrub or self.scrub
        label, subject_id, data = scrub.text(row.actor_label), row.subject_id, scrub.value(row.data or {})
        if row.subject_type == "customer" and self.customer is not None and subject_id == self.old_panel:
            subject_id = self.pseudo
        else:
            subject_id = scrub.text(subject_id)
        if (label, subject_id, data) == (row.actor_label, row.subject_id, row.data):
            return
        row.actor_label, row.subject_id, row.data = label, subject_id, data
        digest = digest_of(row)
        row.redaction = self._redaction(row.redaction, digest)
        self.redacted["audit_events"][str(row.id)] = digest
        self.counts["audit_redacted"] += 1

    def _redact_moderation(self, row: ModerationEvent, scrub: policy.Scrubber | None = None) -> None:
        scrub = scrub or self.scrub
        subject, label, data = scrub.text(row.subject), scrub.text(row.actor_label), scrub.value(row.data or {})
        if (subject, label, data) == (row.subject, row.actor_label, row.data):
            return
        row.subject, row.actor_label, row.data = subject, label, data
        row.redaction = self._redaction(row.redaction, None)
        self.redacted["moderation_events"][str(row.id)] = "redacted"
        self.counts["moderation_redacted"] += 1

    def _redact_snapshot(self, row: EvidenceSnapshot, scrub: policy.Scrubber | None = None) -> None:
        """The document is rewritten into a new object (desk.abuse.evidence.redact, part by
        part); the row names it with its digest, keeping the chain's hashes; the unredacted
        object is deleted once this transaction has committed (before, the row still names
        it; a failed erasure leaves a redacted copy nobody names, which holds no one's data)."""
        if row.id in self.redacted_now:
            return  # the sweep finds what the case's pass rewrote: done once per run
        try:
            written = evidence_.redact(row, scrub or self.scrub)
        except Missing:  # nothing left to redact; `evidence verify` reports the loss
            self.counts["evidence_missing"] += 1
            return
        if written is None:
            return
        old_key = row.body_key
        row.body_key, row.size, hashed = written
        row.redaction = self._redaction(row.redaction, hashed)
        self.redacted_now.add(row.id)
        delete_after_commit(db.session, old_key)
        self.redacted["evidence_snapshots"][str(row.id)] = hashed
        self.kept.add("evidence")
        self.counts["evidence_redacted"] += 1

    def _redaction(self, before: dict | None, digest: str | None) -> dict:
        """A row may be redacted again by a later erasure (it named two people): the list
        of requests grows and the digest is the newest."""
        requests = [*((before or {}).get("requests") or []), self.request.id]
        return {"requests": requests, "digest": digest, "at": utcnow().isoformat()}

    # -- the sweep --------------------------------------------------------------------
    def _sweep(self) -> None:
        """Every text column of every table, for the e-mail addresses: whatever was written
        about the person elsewhere (a colleague's note, a reporter's description) loses them."""
        db.session.flush()
        scrub = policy.Scrubber(phrases={e: self.pseudo_email for e in self.emails})
        for table in db.metadata.sorted_tables:
            if table.name in NOT_SWEPT:
                continue
            if table.name == "evidence_snapshots":  # its columns are keys and hashes; the documents:
                self._sweep_evidence(scrub)
                continue
            columns = [c for c in table.columns if isinstance(c.type, (String, Text, JSON)) and not c.primary_key]
            if not columns:
                continue
            found = or_(*[func.lower(cast(c, Text)).contains(e, autoescape=True)
                          for c in columns for e in self.emails])
            model = REDACTED_TABLES.get(table.name)
            if model is not None:
                for row in db.session.execute(select(model).where(found)).scalars():
                    {"audit_events": self._redact_audit, "moderation_events": self._redact_moderation}[
                        table.name](row, scrub)
                continue
            keys = list(table.primary_key.columns)
            for row in db.session.execute(select(*keys, *columns).where(found)).mappings():
                changes = {}
                for c in columns:
                    value = row[c.name]
                    new = scrub.value(value) if isinstance(c.type, JSON) else scrub.text(value) if value else value
                    if new != value:
                        changes[c.name] = new
                if changes:
                    db.session.execute(update(table).where(*[k == row[k.name] for k in keys]).values(**changes))
                    self.counts["swept"] += 1

    def _sweep_evidence(self, scrub: policy.Scrubber) -> None:
        """The snapshots' documents are in storage, not in a text column: each is read in
        chunks for the addresses (every snapshot, as the sweep reads every row — an erasure
        is rare and runs as a job), and one that names them is redacted."""
        rows = db.session.execute(select(EvidenceSnapshot.id, EvidenceSnapshot.body_key)
                                  .order_by(EvidenceSnapshot.id)).all()
        for snapshot_id, key in rows:
            if snapshot_id in self.redacted_now:
                continue
            try:
                found = evidence_.mentions(key, self.emails)
            except Missing:  # verify reports it; nothing here to erase
                continue
            if found:
                self._redact_snapshot(db.session.get(EvidenceSnapshot, snapshot_id), scrub)

    def _scrub_rows(self, model, where, fields) -> None:
        for row in db.session.execute(select(model).where(where)).scalars():
            for name in fields:
                value = getattr(row, name)
                if value:
                    new = self.scrub.value(value)
                    if new != value:
                        setattr(row, name, new)


def remove_unreferenced(digests) -> int:
    """Delete the stored files of these digests that no attachment row and no abuse report
    still names (files are stored once by content: one may serve several messages)."""
    removed = 0
    for digest in sorted(set(digests)):
        if db.session.execute(select(func.count()).where(Attachment.sha256 == digest)).scalar():
            continue
        # Reports keep their files' digests in a JSON list; a text match finds them.
        named = cast(Report.files, Text).contains(digest, autoescape=True)
        if db.session.execute(select(func.count()).select_from(Report).where(named)).scalar():
            continue
        if remove_bytes(digest):  # in storage or in the quarantine
            removed += 1
    return removed


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]

