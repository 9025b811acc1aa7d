"""Macro pages: the admin list and form (macro.manage), and applying a macro on a ticket
(ticket.reply): a preview, then the reply and its actions in one POST. No script: each
step is a form the server answers."""
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from desk.auth.access import require
from desk.claims.replies import OUTCOMES
from desk.config import QUEUES
from desk.errors import DeskError
from desk.extensions import db
from desk.macros import services
from desk.macros.placeholders import PLACEHOLDERS
from desk.tickets.models import STATUS_LABELS
from desk.tickets.services import MAX_BODY
from desk.tickets.views import active_staff, render_ticket, ticket_or_404
from desk.types import MAX_ID, parse_id

bp = Blueprint("macros", __name__)


class MacroForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=services.MAX_NAME)])
    queue = SelectField("Queue", choices=[SelectChoice("", "Every queue")] + [SelectChoice(q, q.title()) for q in QUEUES])
    body = TextAreaField("Reply (Markdown, with placeholders)", validators=[DataRequired(), Length(max=MAX_BODY)])
    set_status = SelectField("Then set status", choices=[SelectChoice("", "— keep —")] + [
        SelectChoice(k, v) for k, v in STATUS_LABELS.items()])
    add_tags = StringField("Add tags (comma-separated)", validators=[Optional(), Length(max=500)])
    assign = SelectField("Assignee", choices=[], validate_choice=False)
    claim_outcome = SelectField("Claim", choices=[SelectChoice("", "— leave the claim alone —")] + [
        SelectChoice(o, f"Close the claim as {o}") for o in OUTCOMES])

    def data_for_service(self) -> services.MacroData:
        return services.MacroData(name=self.name.data or "", body=self.body.data or "", queue=self.queue.data or None,
                                  set_status=self.set_status.data or None, add_tags=self.add_tags.data or "",
                                  assign=self.assign.data or "", claim_outcome=self.claim_outcome.data or None)


class PickForm(FlaskForm):
    macro = SelectField("Macro", choices=[], validate_choice=False)


class ApplyForm(FlaskForm):
    macro = HiddenField()
    body = TextAreaField("Reply", validators=[Length(max=MAX_BODY)])


def _macro_form(macro=None) -> MacroForm:
    if macro is None:
        form = MacroForm()
    else:
        assign = str(macro.assignee_id) if macro.assign == "staff" else macro.assign
        form = MacroForm(name=macro.name, queue=macro.queue or "", body=macro.body, set_status=macro.set_status or "",
                         add_tags=", ".join(macro.add_tags), assign=assign, claim_outcome=macro.claim_outcome or "")
    form.assign.choices = [SelectChoice("", "— keep —"), SelectChoice("me", "Whoever applies it"),
                           SelectChoice("nobody", "Nobody (unassign)")] + [
        SelectChoice(str(s.id), s.label) for s in active_staff()]
    return form


def _admin_page(form, macro=None, status=200):
    return render_template("macros/admin.html", form=form, macro=macro, macros=services.all_macros(),
                           placeholders=PLACEHOLDERS, statuses=STATUS_LABELS), status


def _refused_form(form, exc: DeskError, macro=None):
    """The form again with the service's refusal: above it, and under each field it names."""
    db.session.rollback()
    flash(exc.message, "error")
    for name, problem in exc.fields.items():
        if name in form:
            form[name].errors = [problem]
    return _admin_page(form, macro, exc.status)


def _saved(macro, verb):
    unknown = services.unknown_placeholders(macro.body)
    flash(f"Macro “{macro.name}” {verb}." + (
        f" Not placeholders the desk knows, left as typed: {', '.join(unknown)}." if unknown else ""),
        "info")
    return redirect(url_for(".admin"))


@bp.route("/admin/macros", methods=["GET", "POST"])
@require("macro.manage")
def admin():
    form = _macro_form()
    if not form.is_submitted():
        return _admin_page(form)
    if not form.validate_on_submit():
        return _admin_page(form, status=400)
    try:
        macro = services.create(form.data_for_service(), current_user)
    except DeskError as exc:
        return _refused_form(form, exc)
    return _saved(macro, "created")


@bp.route(f"/admin/macros/<int(max={MAX_ID}):macro_id>", methods=["GET", "POST"])
@require("macro.manage")
def edit(macro_id):
    macro = services.find(macro_id) or abort(404)
    form = _macro_form(macro)  # a POST's own fields take the place of the stored ones
    if not form.is_submitted():
        return _admin_page(form, macro)
    if not form.validate_on_submit():
        return _admin_page(form, macro, 400)
    try:
        services.update(macro, form.data_for_service(), current_user)
    except DeskError as exc:
        return _refused_form(form, exc, macro)
    return _saved(macro, "saved")


@bp.route(f"/admin/macros/<int(max={MAX_ID}):macro_id>/<any(activate, deactivate):action>", methods=["POST"])
@require("macro.manage")
def set_active(macro_id, action):
    macro = services.find(macro_id) or abort(404)
    if not FlaskForm().validate_on_submit():
        abort(400)
    services.set_active(macro, action == "activate", current_user)
    flash(f"Macro “{macro.name}” {action}d.", "info")
    return redirect(url_for(".admin"))


def _refused(ticket, exc: DeskError, preview=None):
    db.session.rollback()
    flash(exc.message, "error")
    return render_ticket(ticket, status=exc.status, macro_preview=preview)


@bp.route("/tickets/<reference>/macro", methods=["POST"])
@require("ticket.reply")
def preview(reference):
    ticket = ticket_or_404(reference)
    form = PickForm()
    if not form.validate_on_submit() or not form.macro.data:
        return _refused(ticket, DeskError("Choose a macro to preview."))
    try:
        macro = services.for_ticket(ticket, parse_id(form.macro.data))
    except DeskError as exc:
        return _refused(ticket, exc)
    return render_ticket(ticket, macro_preview=services.preview(ticket, macro, current_user))


@bp.route("/tickets/<reference>/macro/apply", methods=["POST"])
@require("ticket.reply")
def apply(reference):
    ticket = ticket_or_404(reference)
    form = ApplyForm()
    try:
        macro = services.for_ticket(ticket, parse_id(form.macro.data))
    except DeskError as exc:
        return _refused(ticket, exc)
    if not form.validate_on_submit():
        return _refused(ticket, DeskError("The reply could not be sent: " + "; ".join(
            f"{k}: {', '.join(v)}" for k, v in form.errors.items())), _edited(ticket, macro, form.body.data))
    try:
        services.apply(ticket, macro, current_user, form.body.data or "")
    except DeskError as exc:
        db.session.rollback()
        return _refused(ticket, exc, _edited(ticket, macro, form.body.data))
    flash(f"Reply sent with the macro “{macro.name}”.", "info")
    return redirect(url_for("tickets.ticket", reference=ticket.reference))


def _edited(ticket, macro, body):
    """The preview again, with the agent's own text kept."""
    shown = services.preview(ticket, macro, current_user)
    shown.body, shown.unknown, shown.missing = body or "", [], {}
    return shown
