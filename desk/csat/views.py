"""The requester's survey page: a link per answer opens it with that answer chosen; the
button (a POST with its CSRF token) records it. No script, and nothing recorded on GET,
so a mail scanner fetching the links changes nothing."""
from flask import Blueprint, current_app, render_template
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from desk.csat import services
from desk.errors import DeskError
from desk.extensions import db, limiter
from flask_babel import gettext, lazy_gettext as _l

bp = Blueprint("csat", __name__)


class AnswerForm(FlaskForm):
    rating = RadioField(_l("How did we do?"), choices=[SelectChoice(k, _l(v)) for k, v in services.RATINGS.items()],
                        validators=[InputRequired(message=_l("Choose Good or Bad."))])
    comment = TextAreaField(_l("Anything you would like to add? (optional)"),
                            validators=[Optional(), Length(max=services.MAX_COMMENT)])


def _gone():
    days = current_app.config["CSAT_WINDOW_DAYS"]
    return render_template("error.html", status=404, message=(
        f"This survey link is not valid, or has expired: survey links work for {days} days. "
        "Thank you all the same.")), 404


def _page(survey, form, token, status=200, error=None):
    return render_template("csat/survey.html", survey=survey, form=form, token=token, error=error,
                           closes=services.closes_at(survey)), status


@bp.route("/survey/<token>/<any(good, bad):rating>")
def survey_page(token, rating):
    survey = services.survey_for_token(token)
    if survey is None:
        return _gone()
    return _page(survey, AnswerForm(rating=rating, comment=survey.comment or ""), token)


@bp.route("/survey/<token>", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_PUBLIC_FORMS"])
def answer(token):
    survey = services.survey_for_token(token)
    if survey is None:
        return _gone()
    form = AnswerForm()
    if not form.validate_on_submit():
        return _page(survey, form, token, 400)
    try:
        services.answer(survey, form.rating.data, form.comment.data)
    except DeskError as exc:
        db.session.rollback()
        return _page(survey, form, token, exc.status, exc)
    return render_template("csat/thanks.html", survey=survey, closes=services.closes_at(survey),
                           label=services.RATINGS[survey.rating])
