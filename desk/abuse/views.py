"""Staff pages of the abuse desk: the case panel on the ticket page and its actions.
Every route needs `abuse.work` (trust & safety) and a case in a queue the role may open;
anyone else gets the 404 a missing case gives."""
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from desk.abuse import enforcement, evidence, holds, intake, log
from desk.abuse.models import AbuseCase, Appeal, CaseSubject, EnforcementAction, LegalHold
from desk.audit.services import Actor, record
from desk.auth.access import can_see_ticket, require
from desk.auth.roles import allows
from desk.claims.parse import parse_time
from desk.errors import DeskError, ValidationError
from desk.extensions import db
from desk.policy import abuse as policy
from desk.storage import get_storage
from desk.tickets.views import refused
from desk.types import MAX_ID

bp = Blueprint("abuse", __name__, url_prefix="/abuse")


def _case_or_404(case_id: int) -> AbuseCase:
    case = db.session.get(AbuseCase, case_id)
    if case is None or not can_see_ticket(current_user, case.ticket):
        abort(404)
    return case


def _back(case: AbuseCase, message: str):
    flash(message, "info")
    return redirect(url_for("tickets.ticket", reference=case.ticket.reference))


def log_access(case: AbuseCase, staff) -> None:
    """aup-csam-handling: every look at a CSAM case is in the audit log."""
    if case.csam:
        record(Actor.staff(staff), "case.viewed", "abuse_case", case.id, ticket_id=case.ticket_id,
               rule="aup-csam-handling")
        db.session.commit()


def panel(case: AbuseCase) -> dict:
    """What the case shows: triage, subjects, the log's state, actions, appeals, holds,
    disclosures and the evidence chain (verified as it is shown)."""
    state = log.replay(case)
    count, problems = evidence.verify(case)
    accounts = [s for s in case.subjects if s.kind == "account"]
    return {
        "case": case, "state": state, "state_label": policy.CASE_STATES[state.state],
        "triage": policy.triage(case.category), "category": policy.CATEGORIES[case.category],
        "links": [s for s in case.subjects if s.kind == "link"],
        "orders": [s for s in case.subjects if s.kind == "order"],
        "accounts": [(s, log.strikes(s.key)) for s in accounts],
        "reports": case.reports, "actions": enforcement.case_actions(case),
        "holds": _case_holds(case), "disclosures": holds.disclosures(case),
        "snapshots": evidence.snapshots(case), "chain": (count, problems), "events": log.events_of(case),
        "action_choices": policy.ACTIONS, "block_kinds": enforcement.BLOCK_KINDS,
        "outcomes": policy.RIGHTS_OUTCOMES if case.kind == "rights" else policy.ABUSE_OUTCOMES,
        "muted": {r.reporter_email for r in case.reports if intake.is_muted(r.reporter_email)},
    }


def _case_holds(case: AbuseCase) -> list[LegalHold]:
    return list(db.session.execute(select(LegalHold).where(LegalHold.case_id == case.id)
                                   .order_by(LegalHold.id)).scalars())


def _act(case: AbuseCase, work, done: str):
    try:
        work()
    except DeskError as exc:
        return refused(exc, case.ticket.reference)
    return _back(case, done)


@bp.post(f"/cases/<int(max={MAX_ID}):case_id>/actions")
@require("abuse.work")
def take_action(case_id):
    case = _case_or_404(case_id)
    form = request.form
    action = form.get("action", "")
    label = policy.ACTIONS.get(action, ("Action",))[0]
    done = (f"Proposed: {label}. A second staff member must approve it." if policy.needs_second_approval(action)
            else f"Done: {label}.")
    return _act(case, lambda: enforcement.propose(
        case, current_user, action, reason=form.get("reason", ""), account=form.get("account"),
        order=form.get("order"), identifier_kind=form.get("identifier_kind"),
        identifier_value=form.get("identifier_value")), done)


def _action_or_404(action_id: int) -> EnforcementAction:
    row = db.session.get(EnforcementAction, action_id)
    if row is None:
        abort(404)
    _case_or_404(row.case_id)
    return row


@bp.post(f"/actions/<int(max={MAX_ID}):action_id>/approve")
@require("abuse.work")
def approve(action_id):
    row = _action_or_404(action_id)
    return _act(row.case, lambda: enforcement.approve(row.id, current_user), "Approved and done.")


@bp.post(f"/actions/<int(max={MAX_ID}):action_id>/refuse")
@require("abuse.work")
def refuse(action_id):
    row = _action_or_404(action_id)
    return _act(row.case, lambda: enforcement.refuse(row.id, current_user, request.form.get("reason", "")),
                "Proposal refused.")


@bp.post(f"/appeals/<int(max={MAX_ID}):appeal_id>/decide")
@require("abuse.work")
def decide_appeal(appeal_id):
    appeal = db.session.get(Appeal, appeal_id)
    if appeal is None:
        abort(404)
    case = _case_or_404(appeal.action.case_id)
    outcome = request.form.get("outcome", "")
    return _act(case, lambda: enforcement.decide_appeal(appeal.id, current_user, outcome,
                                                        request.form.get("reason", "")),
                f"Appeal {outcome}; the account holder has been told.")


@bp.post(f"/cases/<int(max={MAX_ID}):case_id>/close")
@require("abuse.work")
def close(case_id):
    case = _case_or_404(case_id)
    form = request.form
    return _act(case, lambda: enforcement.close_case(case, current_user, form.get("outcome", ""),
                                                     form.get("reason", ""), form.get("reply", "")),
                "Case closed; the reporters have been told.")


@bp.post(f"/cases/<int(max={MAX_ID}):case_id>/reopen")
@require("abuse.work")
def reopen(case_id):
    case = _case_or_404(case_id)
    return _act(case, lambda: enforcement.reopen(case, current_user, request.form.get("reason", "")),
                "Case reopened.")


@bp.post(f"/cases/<int(max={MAX_ID}):case_id>/holds")
@require("abuse.work")
def place_hold(case_id):
    case = _case_or_404(case_id)
    return _act(case, lambda: holds.place_by_staff(case, request.form.get("account", ""),
                                                   request.form.get("reason", ""), current_user),
                "Legal hold placed: the account's data cannot be erased while it stands.")


@bp.post(f"/holds/<int(max={MAX_ID}):hold_id>/release")
@require("abuse.work")
def release_hold(hold_id):
    hold = db.session.get(LegalHold, hold_id)
    if hold is None or hold.case_id is None:
        abort(404)
    case = _case_or_404(hold.case_id)
    return _act(case, lambda: holds.release(hold.id, request.form.get("reason", ""), current_user), "Hold released.")


@bp.post(f"/cases/<int(max={MAX_ID}):case_id>/disclosures")
@require("abuse.work")
def disclose(case_id):
    case = _case_or_404(case_id)
    form = request.form

    def work():
        raw = form.get("disclosed_at", "").strip()
        at = parse_time(raw) if raw else None
        if raw and at is None:
            raise ValidationError("When: a date and time with its zone, e.g. 2026-12-01T10:00+08:00.",
                                  {"disclosed_at": "not a time"})
        holds.disclose(case, current_user, what=form.get("what", ""), recipient=form.get("recipient", ""),
                       basis=form.get("basis", ""), referral=form.get("referral") == "y", disclosed_at=at)

    return _act(case, work, "Disclosure recorded.")


@bp.get(f"/cases/<int(max={MAX_ID}):case_id>/disclosures.csv")
@require("abuse.work")
def disclosures_csv(case_id):
    case = _case_or_404(case_id)
    return Response(holds.disclosures_csv(case), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="disclosures-case-{case.id}.csv"'})


@bp.post(f"/cases/<int(max={MAX_ID}):case_id>/mute")
@require("abuse.work")
def mute(case_id):
    case = _case_or_404(case_id)
    email = request.form.get("email", "")
    if email.lower() not in {r.reporter_email.lower() for r in case.reports}:
        abort(404)
    return _act(case, lambda: holds.mute(email, request.form.get("reason", ""), current_user, case),
                f"{email} is muted: their reports are kept and deprioritised.")


@bp.post(f"/cases/<int(max={MAX_ID}):case_id>/unmute")
@require("abuse.work")
def unmute(case_id):
    case = _case_or_404(case_id)
    email = request.form.get("email", "")
    if email.lower() not in {r.reporter_email.lower() for r in case.reports}:
        abort(404)
    return _act(case, lambda: holds.unmute(email, current_user), f"{email} is no longer muted.")


@bp.get(f"/cases/<int(max={MAX_ID}):case_id>/evidence/<int(max={MAX_ID}):seq>.json")
@require("abuse.work")
def snapshot(case_id, seq):
    return snapshot_download(_case_or_404(case_id), seq)


def snapshot_download(case, seq: int) -> Response:
    """One snapshot's stored document, streamed from storage as written (redacted, if an
    erasure redacted it), with the SHA-256 of those bytes in a header; every download is
    in the audit log. For abuse and chargeback cases alike."""
    found = next((s for s in evidence.snapshots(case) if s.seq == seq), None)
    if found is None:
        abort(404)
    # Opened before the download is recorded: a document missing from storage is a 404
    # page (desk.storage.Missing), and no download is logged that did not happen.
    response = get_storage().send(found.body_key, mimetype="application/json",
                                  download_name=f"{case.ticket.reference}-snapshot-{seq}.json")
    record(Actor.staff(current_user), "evidence.downloaded", "evidence_snapshot", found.id, ticket_id=case.ticket_id)
    db.session.commit()
    response.headers["X-Content-SHA256"] = (found.redaction or {}).get("digest") or found.sha256
    return response


@bp.get("/reports")
@require("abuse.work")
def waiting():
    """Reports kept without a case yet: waiting for the reporter's confirmation or details."""
    return render_template("abuse/reports.html", reports=intake.waiting_reports(), categories=policy.CATEGORIES)


def customer_section(customer, role: str | None) -> dict:
    """The moderation part of the customer page: legal holds for everyone who sees the
    page (they block erasure); strikes, actions and cases for trust & safety alone."""
    section = {"holds": holds.active_holds(customer), "trust_safety": allows(role, "abuse.work")}
    if section["trust_safety"]:
        section["strikes"] = log.strikes(customer.panel_id)
        section["actions"] = enforcement.customer_actions(customer)
        section["cases"] = list(db.session.execute(
            select(AbuseCase).join(CaseSubject, CaseSubject.case_id == AbuseCase.id)
            .where(CaseSubject.subject == log.account(customer.panel_id)).order_by(AbuseCase.id.desc()).limit(50))
            .scalars())
        section["labels"] = policy.CASE_STATES
        section["action_labels"] = policy.ACTIONS
    return section
