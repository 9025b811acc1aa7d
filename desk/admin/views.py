"""Admin pages: staff accounts, API keys, the audit log, the workers' jobs."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from redis.exceptions import RedisError
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from desk.admin import jobs as admin_jobs
from desk.audit.models import AuditEvent
from desk.audit.services import Actor
from desk.auth import services as auth_services
from desk.auth.access import require
from desk.auth.forms import StaffForm
from desk.auth.models import ApiKey, Staff
from desk.auth.roles import API_KEY_ROLES, queues_for
from desk.storage import get_storage
from desk.tickets import assignment, fields, scans
from desk.tickets.models import ASSIGNMENT_MODES, FIELD_TYPES, KIND_LABELS, KIND_QUEUES, CustomField, QueueSetting
from desk.errors import DeskError
from desk.extensions import db
from desk.types import MAX_ID, parse_id
from desk.webhooks import services as webhooks
from desk.webhooks.models import WebhookDelivery, WebhookEndpoint

bp = Blueprint("admin", __name__, url_prefix="/admin")


def submitted(form, do):
    """Run the service call `do()` for a submitted, valid form: (its result, 200); or
    (None, status) with the refusal flashed above the form and nothing kept; or (None, 200)
    when the page was only opened."""
    if not form.validate_on_submit():
        return None, 400 if form.is_submitted() else 200
    try:
        return do(), 200
    except DeskError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return None, exc.status


class ApiKeyForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    role = SelectField("Role", choices=[SelectChoice(r) for r in API_KEY_ROLES])
    staff = SelectField("Belongs to (a staff key only: it then works within that person's queues)", choices=[],
                        validate_choice=False)


@bp.route("/staff", methods=["GET", "POST"])
@require("admin.staff")
def staff():
    form = StaffForm()
    created, status = submitted(form, lambda: auth_services.create_staff(
        form.email.data, form.role.data, form.password.data, Actor.staff(current_user), name=form.name.data or ""))
    if created is not None:
        flash(f"Staff account {created.email} created.", "info")
        return redirect(url_for(".staff"))
    members = db.session.execute(select(Staff).order_by(Staff.email)).scalars().all()
    return render_template("admin/staff.html", form=form, members=members), status


class WorkForm(FlaskForm):
    queues = SelectMultipleField("Queues (none ticked: every queue the role opens)", choices=[],
                                 option_widget=widgets.CheckboxInput(), widget=widgets.ListWidget(prefix_label=False))
    own_only = BooleanField("Only the tickets assigned to them (on every page, list, count and search)")
    away = BooleanField("Away: not given tickets automatically")
    max_open = IntegerField("Most open tickets held at once (empty: no limit)",
                            validators=[Optional(), NumberRange(min=1, max=10_000)])
    active = BooleanField("Active (may sign in)")


@bp.route(f"/staff/<int(max={MAX_ID}):staff_id>", methods=["GET", "POST"])
@require("admin.staff")
def staff_member(staff_id):
    member = db.get_or_404(Staff, staff_id)
    form = WorkForm(obj=member if request.method == "GET" else None)
    form.queues.choices = [SelectChoice(q, q) for q in sorted(queues_for(member.role))]
    if request.method == "GET":
        form.queues.data = member.queues or []
    done, status = submitted(form, lambda: auth_services.set_work(
        member, Actor.staff(current_user), queues=form.queues.data, own_only=form.own_only.data, away=form.away.data,
        max_open=form.max_open.data, active=form.active.data))
    if done is not None:
        flash(f"{member.label}: saved.", "info")
        return redirect(url_for(".staff"))
    return render_template("admin/staff_member.html", member=member, form=form,
                           held=assignment.open_counts([member.id])[member.id]), status


@bp.route("/assignment", methods=["GET", "POST"])
@require("admin.staff")
def assignment_modes():
    """How each queue's new tickets find an agent."""
    queues = sorted(set(KIND_QUEUES.values()))
    if request.method == "POST":
        form = FlaskForm()
        if not form.validate_on_submit():
            abort(400)
        try:
            for queue in queues:
                wanted = request.form.get(queue)
                if wanted is not None and wanted != assignment.mode_of(queue):
                    assignment.set_mode(queue, wanted, current_user)
        except DeskError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return redirect(url_for(".assignment_modes"))
        flash("Assignment saved.", "info")
        return redirect(url_for(".assignment_modes"))
    settings = {row.queue: row for row in db.session.execute(select(QueueSetting)).scalars()}
    return render_template("admin/assignment.html", queues=queues, settings=settings, modes=ASSIGNMENT_MODES,
                           form=FlaskForm())


class FieldForm(FlaskForm):
    label = StringField("Label", validators=[DataRequired(), Length(max=80)])
    key = StringField("Key (in filters: ?field=key:value)", validators=[DataRequired(), Length(max=40)])
    kind = SelectField("On tickets of kind", choices=[])
    type = SelectField("Type", choices=[SelectChoice(k, v) for k, v in FIELD_TYPES.items()])
    choices = TextAreaField("Choices, one per line (for “one of a list”)", validators=[Length(max=10_000)])


@bp.route("/fields", methods=["GET", "POST"])
@require("admin.fields")
def custom_fields():
    form = FieldForm()
    form.kind.choices = [SelectChoice("", "every kind")] + [SelectChoice(k, v) for k, v in KIND_LABELS.items()]
    created, status = submitted(form, lambda: fields.define(
        form.key.data, form.label.data, form.kind.data or None, form.type.data,
        (form.choices.data or "").splitlines(), current_user))
    if created is not None:
        flash(f"Field {created.label} added.", "info")
        return redirect(url_for(".custom_fields"))
    rows = db.session.execute(select(CustomField).order_by(CustomField.kind, CustomField.id)).scalars().all()
    return render_template("admin/fields.html", form=form, rows=rows, kinds=KIND_LABELS, types=FIELD_TYPES), status


@bp.route(f"/fields/<int(max={MAX_ID}):field_id>/active", methods=["POST"])
@require("admin.fields")
def custom_field_active(field_id):
    if not FlaskForm().validate_on_submit():
        abort(400)
    field = db.get_or_404(CustomField, field_id)
    fields.set_active(field, request.form.get("active") == "on", current_user)
    flash(f"Field {field.label} {'back in use' if field.active else 'retired'}.", "info")
    return redirect(url_for(".custom_fields"))


@bp.route("/api-keys", methods=["GET", "POST"])
@require("admin.api_keys")
def api_keys():
    form = ApiKeyForm()
    people = db.session.execute(select(Staff).where(Staff.active.is_(True)).order_by(Staff.email)).scalars().all()
    form.staff.choices = [SelectChoice("", "nobody")] + [SelectChoice(str(p.id), p.email) for p in people]
    person = next((p for p in people if str(p.id) == form.staff.data), None)
    created, status = submitted(form, lambda: auth_services.create_api_key(
        form.name.data, form.role.data, Actor.staff(current_user), staff=person))
    new_key = created[1] if created else None
    keys = db.session.execute(select(ApiKey).order_by(ApiKey.id.desc())).scalars().all()
    return render_template("admin/api_keys.html", form=form, keys=keys, new_key=new_key), status


@bp.route(f"/api-keys/<int(max={MAX_ID}):key_id>/revoke", methods=["POST"])
@require("admin.api_keys")
def revoke_api_key(key_id):
    api_key = db.get_or_404(ApiKey, key_id)
    auth_services.revoke_api_key(api_key, Actor.staff(current_user))
    flash(f"Key {api_key.name} revoked.", "info")
    return redirect(url_for(".api_keys"))


class WebhookForm(FlaskForm):
    url = StringField("URL (https://…, outside the desk's network)", validators=[DataRequired(), Length(max=2048)])
    description = StringField("What it is for", validators=[Optional(), Length(max=200)])
    events = SelectMultipleField("Events", choices=[SelectChoice(k, f"{k}: {v}") for k, v in webhooks.EVENTS.items()],
                                 option_widget=widgets.CheckboxInput(), widget=widgets.ListWidget(prefix_label=False))


@bp.route("/webhooks", methods=["GET", "POST"])
@require("admin.webhooks")
def webhooks_page():
    form = WebhookForm()
    status, created, secret = 200, None, None
    if form.validate_on_submit():
        try:
            created, secret = webhooks.create_endpoint(form.url.data, form.events.data, form.description.data or "",
                                                       current_user)
        except DeskError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            status = exc.status
        else:
            form = WebhookForm(formdata=None)
    elif form.is_submitted():
        status = 400
    endpoint_id = parse_id(request.args.get("hook"))
    before = parse_id(request.args.get("before"))
    log = webhooks.deliveries(endpoint_id, before, limit=50)
    older = url_for(".webhooks_page", hook=endpoint_id, before=log[-1].id) if len(log) == 50 else None
    return render_template("admin/webhooks.html", form=form, endpoints=webhooks.endpoints(), created=created,
                           secret=secret, deliveries=log, older=older, endpoint_id=endpoint_id,
                           events=webhooks.EVENTS), status


@bp.route(f"/webhooks/<int(max={MAX_ID}):endpoint_id>/active", methods=["POST"])
@require("admin.webhooks")
def webhook_active(endpoint_id):
    endpoint = db.get_or_404(WebhookEndpoint, endpoint_id)
    webhooks.set_active(endpoint, request.form.get("active") == "on", current_user)
    flash(f"Webhook {endpoint.url} {'on' if endpoint.active else 'off'}.", "info")
    return redirect(url_for(".webhooks_page"))


@bp.route(f"/webhooks/deliveries/<int(max={MAX_ID}):delivery_id>/resend", methods=["POST"])
@require("admin.webhooks")
def webhook_resend(delivery_id):
    delivery = db.get_or_404(WebhookDelivery, delivery_id)
    try:
        again = webhooks.resend(delivery, current_user)
    except DeskError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(f"Event {delivery.event.uid} is being sent again (delivery {again.id}).", "info")
    return redirect(url_for(".webhooks_page", hook=delivery.endpoint_id))


@bp.route("/audit")
@require("audit.view")
def audit():
    before = parse_id(request.args.get("before"))
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(100)
    if before:
        query = query.where(AuditEvent.id < before)
    events = db.session.execute(query).scalars().all()
    return render_template("admin/audit.html", events=events,
                           older=url_for(".audit", before=events[-1].id) if len(events) == 100 else None)


@bp.route("/jobs")
@require("admin.jobs")
def job_list():
    status = scans.status()
    return render_template("admin/jobs.html", o=admin_jobs.overview(), scan=status,
                           quarantined=scans.quarantined() if status.on else [], storage=get_storage().describe())


@bp.route("/quarantine/<sha256>/rescan", methods=["POST"])
@require("admin.jobs")
def quarantine_rescan(sha256):
    """Scan a quarantined file again (a false positive, once clamd's signatures changed)."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        files = scans.rescan(sha256, Actor.staff(current_user))
    except DeskError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for(".job_list", _anchor="files")), 303
    flash(f"Scanning again: {files} attachment{'s' if files != 1 else ''} with these bytes stay quarantined "
          "until the scan finds them clean.", "info")
    return redirect(url_for(".job_list", _anchor="files"))


@bp.route("/jobs/<job_id>/<action>", methods=["POST"])
@require("admin.jobs")
def job_action(job_id, action):
    if action not in ("retry", "delete"):
        abort(404)
    try:
        (admin_jobs.retry if action == "retry" else admin_jobs.delete)(job_id, Actor.staff(current_user))
    except DeskError as exc:
        flash(exc.message, "error")
        return redirect(url_for(".job_list")), 303
    except (RedisError, OSError):
        flash("Redis is unavailable; try again when it is back.", "error")
        return redirect(url_for(".job_list")), 303
    flash(f"Job {job_id} {'queued again' if action == 'retry' else 'deleted'}.", "info")
    return redirect(url_for(".job_list"))
