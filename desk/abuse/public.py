"""Public pages of the abuse desk: the report forms (AUP §6, Terms §23), the reporter's
confirmation and status link, and the account holder's appeal (aup-appeal)."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request

from desk import links
from desk.abuse import enforcement, intake
from desk.abuse.forms import AbuseReportForm, AddInfoForm, AppealForm, RightsReportForm
from desk.abuse.models import EnforcementAction
from desk.audit.services import Actor
from desk.errors import DeskError
from desk.extensions import db, limiter
from desk.policy import abuse as policy
from desk.policy.clauses import clause
from desk.tickets.uploads import from_files
from flask_babel import gettext, lazy_gettext as _l

bp = Blueprint("reports", __name__)


def _public_limit():
    return current_app.config["RATELIMIT_PUBLIC_FORMS"]


def _report_from(form, kind: str) -> intake.NewReport:
    data = intake.NewReport(
        kind=kind, reporter_email=form.email.data or "", reporter_name=form.name.data or "",
        links=intake.split_lines(form.links.data), orders=intake.split_lines(form.orders.data),
        description=form.description.data or "", channel="web",
    )
    if kind == "abuse":
        data.category, data.csam = form.category.data or "", bool(form.csam.data)
    else:
        data.right, data.work, data.registration = form.right.data, form.work.data or "", form.registration.data or ""
        data.good_faith = bool(form.good_faith.data)
    return data


def _intake(form, kind: str, template: str):
    if form.validate_on_submit():
        try:
            data = _report_from(form, kind)
            data.uploads = from_files(form.attachments.data)
            report = intake.file_report(data, Actor("requester", None, data.reporter_email))
        except DeskError as exc:
            db.session.rollback()
            # What was typed stays in the form; only the files must be chosen again.
            for name, problem in (getattr(exc, "fields", None) or {}).items():
                target = getattr(form, {"reporter_email": "email"}.get(name, name), None)
                if target is not None:
                    target.errors = list(target.errors) + [problem]
            return render_template(template, form=form, error=exc), exc.status
        return render_template("abuse/public/received.html", report=report,
                               missing=intake.missing_info(report), link=links.report_url(report))
    return render_template(template, form=form, error=None), 400 if form.is_submitted() else 200


@bp.route("/report/abuse", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
def report_abuse():
    return _intake(AbuseReportForm(), "abuse", "abuse/public/report_abuse.html")


@bp.route("/report/rights", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
def report_rights():
    return _intake(RightsReportForm(), "rights", "abuse/public/report_rights.html")


def _report_for(salt: str, token: str, max_age: int):
    found = links.read(salt, token, max_age)
    if found is None:
        abort(404)
    report = intake.find_report(found[0])
    if report is None or report.reporter_email.lower() != found[1]:
        abort(404)
    return report


@bp.route("/reports/confirm/<token>")
def confirm(token):
    report = _report_for(links.CONFIRM, token, intake.confirm_max_age())
    intake.confirm(report, Actor("requester", None, report.reporter_email))
    flash(gettext("Thank you: your e-mail address is confirmed."), "info")
    return redirect(links.report_url(report))


@bp.route("/reports/<token>", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
def status(token):
    report = _report_for(links.REPORT, token, current_app.config["REQUESTER_LINK_MAX_AGE"])
    form = AddInfoForm()
    error = None
    if report.status == "needs_info" and form.validate_on_submit():
        try:
            intake.add_info(report, form.links.data, form.orders.data, form.description.data or "",
                            Actor("requester", None, report.reporter_email))
        except DeskError as exc:
            db.session.rollback()
            error = exc
        else:
            flash(gettext("Thank you: your report will now be reviewed."), "info")
            return redirect(request.path)
    code = error.status if error else (400 if form.is_submitted() else 200)
    return render_template("abuse/public/status.html", report=report, state=intake.reporter_status(report),
                           missing=intake.missing_info(report) if report.status == "needs_info" else None,
                           form=form, error=error), code


@bp.route("/appeals/<token>", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
def appeal(token):
    found = links.read(links.APPEAL, token, current_app.config["APPEAL_WINDOW_DAYS"] * 86400 + 86400)
    if found is None:
        abort(404)
    action = db.session.get(EnforcementAction, found[0])
    if action is None or action.customer is None or (action.customer.email or "").lower() != found[1]:
        abort(404)
    form = AppealForm()
    error = None
    if form.validate_on_submit():
        try:
            enforcement.file_appeal(action, form.body.data, found[1])
        except DeskError as exc:
            db.session.rollback()
            error = exc
        else:
            flash(gettext("Your appeal was received. Someone who did not take the decision will review it and e-mail you."),
                  "info")
            return redirect(request.path)
    code = error.status if error else (400 if form.is_submitted() else 200)
    return render_template("abuse/public/appeal.html", action=action, label=policy.ACTIONS[action.action][0],
                           clause=clause(action.rule), problem=enforcement.appeal_problem(action), form=form,
                           error=error), code
