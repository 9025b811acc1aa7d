"""The public form for requests to run more accounts (terms-4-multi-account)."""
from flask import Blueprint, current_app, render_template
from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional, ValidationError

from desk.accounts import services
from desk.claims.orders import find_by_email
from desk.audit.services import Actor
from desk.errors import DeskError
from desk.extensions import db, limiter
from desk.policy import accounts as policy
from flask_babel import gettext, lazy_gettext as _l

bp = Blueprint("accounts", __name__)

NOT_FOUND_MESSAGE = ("We could not find one account with that e-mail (and login). Check both; if several accounts "
                     "use this e-mail, give the login too.")


class AccountsAskForm(FlaskForm):
    """What a request for more accounts asks; the portal's form is this (the account is the signed-in one)."""
    category = SelectField(_l("You are"), choices=[SelectChoice(k, _l(v)) for k, v in policy.CATEGORIES.items()])
    accounts_wanted = IntegerField(_l("How many accounts in all, counting this one"),
                                   validators=[InputRequired(), NumberRange(min=1, max=services.MAX_ACCOUNTS)])
    business_need = TextAreaField(_l("What the accounts are for (client budgets, projects, reporting…)"),
                                  validators=[Length(max=services.MAX_NEED)])

    def validate_business_need(self, field):
        # Only a request that files a ticket needs it: up to 10 accounts are answered at once.
        wanted = self.accounts_wanted.data
        if not isinstance(wanted, int) or wanted <= policy.FREE_ACCOUNTS:
            return
        if len((field.data or "").strip()) < services.MIN_NEED:
            raise ValidationError(f"Describe the business need in at least {services.MIN_NEED} characters.")


class MoreAccountsForm(AccountsAskForm):
    email = EmailField(_l("Your account e-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    login = StringField(_l("Your account login (if several accounts use this e-mail)"),
                        validators=[Optional(), Length(max=120)])


def _public_limit():
    return current_app.config["RATELIMIT_PUBLIC_FORMS"]


@bp.route("/accounts/more", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
def more_accounts():
    """Up to 10 accounts need no notice; more need a ticket with the business need. The
    answer goes to the account's own e-mail, never to whoever typed it."""
    form = MoreAccountsForm()
    if not form.validate_on_submit():
        return render_template("accounts/form.html", form=form, error=None, free=None), (
            400 if form.is_submitted() else 200)
    wanted = form.accounts_wanted.data
    if wanted <= policy.FREE_ACCOUNTS:
        return render_template("accounts/form.html", form=form, error=None,
                               free=policy.multi_account(wanted, form.category.data))
    customer = find_by_email(form.email.data, form.login.data)
    if customer is None:
        # One answer for "no such account" and "the login does not match": accounts are not to be probed.
        return render_template("accounts/form.html", form=form, error=NOT_FOUND_MESSAGE, free=None), 404
    ask = services.Ask(customer.panel_id, form.category.data, wanted, form.business_need.data)
    try:
        request, created = services.file_request(customer, ask, Actor("requester", None, customer.email),
                                                 channel="web")
    except DeskError as exc:
        db.session.rollback()
        return render_template("accounts/form.html", form=form, error=exc.message, free=None), exc.status
    return render_template("accounts/done.html", request=request, created=created)

