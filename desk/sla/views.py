"""SLA pages: the admin's calendar and targets, the supervisors' dashboard, and the
statutory extension on a ticket."""
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job
from wtforms import BooleanField, DateField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from desk import jobs
from desk.audit.services import Actor
from desk.auth.access import can_see_ticket, require, visible_queues
from desk.errors import DeskError
from desk.extensions import db
from desk.i18n import speaking
from desk.policy import sla as policy
from desk.policy.sla import Targets
from desk.sla import clocks, dashboard, settings
from desk.sla.display import local_time
from desk.sla.models import SlaSetting
from desk.tickets import services as tickets
from desk.tickets.models import KIND_LABELS, KIND_QUEUES, STATUS_LABELS, STATUSES
from desk.types import utcnow

bp = Blueprint("sla", __name__)

RECOMPUTE_KEY = "recompute_job"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def hours_form() -> FlaskForm:
    """Seven rows of closed / opens / closes, filled with the hours in force."""
    class HoursForm(FlaskForm):
        pass

    week = settings.current().calendar.week
    for weekday, hours in enumerate(week):
        setattr(HoursForm, f"closed_{weekday}", BooleanField("Closed", default=hours is None))
        setattr(HoursForm, f"opens_{weekday}", StringField("Opens", default=_hhmm(hours.opens) if hours else "10:00"))
        setattr(HoursForm, f"closes_{weekday}", StringField("Closes",
                                                            default=_hhmm(hours.closes) if hours else "23:00"))
    return HoursForm()


class HolidayForm(FlaskForm):
    day = DateField("Date", validators=[DataRequired(message="Give the date.")])
    name = StringField("Name", validators=[DataRequired(message="Name the holiday."), Length(max=120)])


class TargetForm(FlaskForm):
    first_response = IntegerField("First response (support minutes)", validators=[Optional()])
    resolution = IntegerField("Resolution (support minutes)", validators=[Optional()])


class SwitchForm(FlaskForm):
    gdpr_pauses_for_identity = BooleanField("Waiting for the requester's identity pauses the GDPR month")


class ExtendForm(FlaskForm):
    reason = TextAreaField("Reason (sent to the requester)", validators=[DataRequired(), Length(max=2000)])


def _recompute_state() -> dict | None:
    """The last recompute job as the admin page shows it: status and progress."""
    row = db.session.get(SlaSetting, RECOMPUTE_KEY)
    if row is None:
        return None
    state = {"status": "queued", "progress": None, "at": row.value.get("at")}
    try:
        job = Job.fetch(row.value["job_id"], connection=jobs.get_redis())
        status = job.get_status(refresh=True)
        state["status"] = getattr(status, "value", status) or "queued"  # JobStatus is an Enum
        state["progress"] = job.meta.get("progress")
    except NoSuchJobError:
        state["status"] = "waiting for the queue"  # still in the outbox, or long finished and expired
    except (RedisError, OSError):
        state["status"] = "unknown (Redis unavailable)"
    return state


def _after_calendar_change() -> None:
    """Running clocks are due at other times now: recompute them in the background."""
    entry = jobs.enqueue("workers.sla.recompute", queue="low")
    db.session.flush()
    row = db.session.get(SlaSetting, RECOMPUTE_KEY)
    value = {"job_id": entry.job_id, "at": utcnow().isoformat()}
    if row is None:
        db.session.add(SlaSetting(key=RECOMPUTE_KEY, value=value))
    else:
        row.value = value


def _commit_and_forget() -> None:
    db.session.commit()
    settings.forget()
    jobs.dispatch()


@bp.route("/admin/sla")
@require("admin.sla")
def admin(status=200, **forms):
    config = settings.current()
    kinds = [(kind, KIND_LABELS[kind], KIND_QUEUES[kind], config.targets_for(kind))
             for kind in KIND_QUEUES if kind not in policy.LEGAL_KINDS]
    statutory = [policy.SERIOUS_HARM_CLOCK, *policy.LEGAL_CLOCKS, policy.GDPR_CLOCK, *policy.CCPA_CLOCKS]
    return render_template(
        "sla/admin.html", hours=forms.get("hours") or hours_form(), weekdays=settings.WEEKDAYS,
        holiday_form=forms.get("holiday") or HolidayForm(), holidays=settings.holidays(), kinds=kinds,
        target_form=TargetForm(), statutory=statutory,
        switch_form=SwitchForm(gdpr_pauses_for_identity=config.switches["gdpr_pauses_for_identity"]),
        recompute=_recompute_state(), zone=config.calendar.zone, errors=forms.get("errors") or {},
    ), status


def _fail(exc: DeskError, **forms):
    db.session.rollback()
    flash(exc.message, "error")
    return admin(status=exc.status, errors=exc.fields, **forms)


@bp.route("/admin/sla/hours", methods=["POST"])
@require("admin.sla")
def save_hours():
    form = hours_form()
    if not form.validate_on_submit():
        abort(400)
    rows = [(form[f"closed_{d}"].data, form[f"opens_{d}"].data or "", form[f"closes_{d}"].data or "")
            for d in range(7)]
    try:
        settings.save_week(rows, Actor.staff(current_user))
        _after_calendar_change()
    except DeskError as exc:
        return _fail(exc, hours=form)
    _commit_and_forget()
    flash("Support hours saved. Running clocks are being recomputed.", "info")
    return redirect(url_for(".admin"))


@bp.route("/admin/sla/holidays", methods=["POST"])
@require("admin.sla")
def add_holiday():
    form = HolidayForm()
    if not form.validate_on_submit():
        flash("A holiday needs a date (YYYY-MM-DD) and a name.", "error")
        return admin(status=422, holiday=form)
    try:
        settings.add_holiday(form.day.data, form.name.data, Actor.staff(current_user))
        _after_calendar_change()
    except DeskError as exc:
        return _fail(exc, holiday=form)
    _commit_and_forget()
    flash(f"{form.day.data.isoformat()} ({form.name.data.strip()}) is a holiday; running clocks are being recomputed.",
          "info")
    return redirect(url_for(".admin"))


@bp.route("/admin/sla/holidays/<day>/delete", methods=["POST"])
@require("admin.sla")
def remove_holiday(day):
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        abort(404)
    if not settings.remove_holiday(parsed, Actor.staff(current_user)):
        abort(404)
    _after_calendar_change()
    _commit_and_forget()
    flash(f"{parsed.isoformat()} is no longer a holiday.", "info")
    return redirect(url_for(".admin"))


@bp.route("/admin/sla/targets/<kind>", methods=["POST"])
@require("admin.sla")
def save_targets(kind):
    if kind not in KIND_QUEUES or kind in policy.LEGAL_KINDS:
        abort(404)  # legal notices run terms-33-legal, which is not configurable
    form = TargetForm()
    if not form.validate_on_submit():
        flash("Targets are whole numbers of support minutes.", "error")
        return admin(status=422)
    try:
        settings.save_targets(kind, Targets(form.first_response.data, form.resolution.data),
                              Actor.staff(current_user))
    except DeskError as exc:
        return _fail(exc)
    _commit_and_forget()
    flash(f"Targets for {KIND_LABELS[kind]} saved; they apply to tickets filed from now on.", "info")
    return redirect(url_for(".admin"))


@bp.route("/admin/sla/settings", methods=["POST"])
@require("admin.sla")
def save_switches():
    form = SwitchForm()
    if not form.validate_on_submit():
        abort(400)
    settings.save_switch("gdpr_pauses_for_identity", bool(form.gdpr_pauses_for_identity.data),
                         Actor.staff(current_user))
    _commit_and_forget()
    flash("Setting saved; it applies to privacy requests filed from now on.", "info")
    return redirect(url_for(".admin"))


@bp.route("/dashboard")
@require("sla.dashboard")
def dashboard_page():
    figures = dashboard.figures(visible_queues(current_user))
    return render_template("sla/dashboard.html", f=figures, statuses=STATUSES, labels=STATUS_LABELS)


@bp.route("/tickets/<reference>/clocks/<name>/extend", methods=["POST"])
@require("sla.extend")
def extend(reference, name):
    ticket = tickets.find_ticket(reference)
    if ticket is None or not can_see_ticket(current_user, ticket):
        abort(404)
    form = ExtendForm()
    if not form.validate_on_submit():
        flash("Give the reason the requester will be told.", "error")
        return redirect(url_for("tickets.ticket", reference=ticket.reference)), 303
    actor = Actor.staff(current_user)
    try:
        clock = clocks.extend(ticket, name, form.reason.data, actor, utcnow())
        # The requester is told, with the reason, in the same transaction (Art. 12(3), §7021(b)).
        with speaking(ticket):  # the requester's language; the time as the desk writes times
            notice = clocks.extension_notice(clock, local_time(clocks.nominal_due(clock)))
        tickets.staff_reply(ticket, actor, notice, internal=False, staff=current_user)
    except DeskError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("tickets.ticket", reference=ticket.reference)), 303
    flash(f"{clock.label} extended to {local_time(clocks.nominal_due(clock))}; the requester has been told why.",
          "info")
    return redirect(url_for("tickets.ticket", reference=ticket.reference))
