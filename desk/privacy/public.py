"""Public pages of the privacy desk (Privacy §10): the request form, and the requester's
page behind the mailed link where the one-time code is typed (privacy-10-verify). The
form answers the same whether or not an account has the e-mail."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, SelectMultipleField, StringField, TextAreaField, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional

from desk import jobs
from desk.audit.services import Actor
from desk.errors import DeskError
from desk.extensions import db, limiter
from desk.i18n import say
from desk.policy import privacy as policy
from desk.privacy import delivery, requests
from desk.privacy.models import STATUS_LABELS
from flask_babel import gettext, lazy_gettext as _l

bp = Blueprint("privacy_public", __name__)


class RightsForm(FlaskForm):
    """What a privacy request asks; the portal's form is this (the e-mail is the account's)."""
    rights = SelectMultipleField(_l("What do you ask for?"), choices=[SelectChoice(k, _l(v)) for k, v in policy.RIGHTS.items()],
                                 option_widget=widgets.CheckboxInput(), widget=widgets.ListWidget(prefix_label=False),
                                 validators=[DataRequired(_l("Choose at least one right."))])
    jurisdiction = SelectField(_l("Where are you?"), default="other",
                               choices=[SelectChoice(k, _l(v)) for k, v in policy.JURISDICTIONS.items()])
    details = TextAreaField(_l("Anything we should know (what to correct, which processing to stop)"),
                            validators=[Optional(), Length(max=requests.MAX_DETAILS)])


class RequestForm(RightsForm):
    email = EmailField(_l("The e-mail of your account"), validators=[DataRequired(), Email(), Length(max=254)])
    login = StringField(_l("Your login, if several accounts share the e-mail"), validators=[Optional(), Length(max=120)])
    name = StringField(_l("Your name"), validators=[Optional(), Length(max=120)])


class CodeForm(FlaskForm):
    code = StringField(_l("The code from the mail"), validators=[DataRequired(), Length(max=20)])


def _limit():
    return current_app.config["RATELIMIT_PUBLIC_FORMS"]


@bp.route("/privacy/request", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
def new_request():
    form = RequestForm()
    error = None
    if form.validate_on_submit():
        try:
            row = requests.file(requests.NewRequest(
                email=form.email.data, rights=form.rights.data, jurisdiction=form.jurisdiction.data,
                details=form.details.data or "", name=form.name.data or "", login=form.login.data or "",
                channel="web"), Actor("requester", None, "privacy requester"))
        except DeskError as exc:
            db.session.rollback()
            error = exc
        else:
            db.session.commit()
            jobs.dispatch()
            return redirect(url_for("privacy_public.status", token=requests.link_token(row)))
    status = (error.status if error else 400) if form.is_submitted() else 200
    return render_template("privacy/public/request.html", form=form, error=error), status


def _from_token(token: str):
    row = requests.from_token(token)
    if row is None:
        abort(404)
    return row


@bp.get("/privacy/requests/<token>")
def status(token):
    row = _from_token(token)
    return render_template("privacy/public/status.html", request=row, token=token, form=CodeForm(),
                           status=STATUS_LABELS[row.status], due=requests.deadline(row),
                           rights=[policy.RIGHTS[r] for r in row.rights])


@bp.post("/privacy/requests/<token>/code")
@limiter.limit(_limit)
def enter_code(token):
    row = _from_token(token)
    form = CodeForm()
    if not form.validate_on_submit():
        flash(gettext("Type the code from the mail."), "error")
        return redirect(url_for("privacy_public.status", token=token))
    result = requests.enter_code(row, form.code.data)
    db.session.commit()
    jobs.dispatch()
    flash(say(result), "info" if result.ok else "error")
    return redirect(url_for("privacy_public.status", token=token))


@bp.post("/privacy/requests/<token>/resend")
@limiter.limit(_limit)
def resend(token):
    row = _from_token(token)
    if row.verified_at is None and row.is_open:
        requests.send_code(row)
        db.session.commit()
        jobs.dispatch()
        flash(gettext("A new code is on its way; the old one no longer works."), "info")
    return redirect(url_for("privacy_public.status", token=token))


def _export_or_404(token: str):
    export = delivery.from_token(token)
    if export is None:
        abort(404)
    return export


@bp.get("/privacy/exports/<token>")
def export_page(token):
    export = _export_or_404(token)
    problem = delivery.problem(export)
    return render_template("privacy/public/export.html", export=export, token=token, form=CodeForm(),
                           problem=problem), 410 if problem and "expired" in problem else 200


@bp.post("/privacy/exports/<token>/code")
@limiter.limit(_limit)
def export_code(token):
    export = _export_or_404(token)
    if delivery.problem(export) is None:
        delivery.send_code(export)
        db.session.commit()
        jobs.dispatch()
        flash(gettext("We sent a code to your e-mail address. It works for 10 minutes."), "info")
    return redirect(url_for("privacy_public.export_page", token=token))


@bp.post("/privacy/exports/<token>")
@limiter.limit(_limit)
def export_download(token):
    """The file, once the fresh code matches (privacy-10-verify asked again)."""
    export = _export_or_404(token)
    problem = delivery.problem(export)
    form = CodeForm()
    if problem or not form.validate_on_submit():
        flash(gettext(problem or "Type the code from the mail."), "error")
        return redirect(url_for("privacy_public.export_page", token=token))
    result = delivery.unlock(export, form.code.data)
    db.session.commit()
    if not result.ok:
        flash(say(result), "error")
        return redirect(url_for("privacy_public.export_page", token=token))
    return delivery.send(export)
