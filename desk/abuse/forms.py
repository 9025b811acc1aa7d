"""The public report forms and the staff forms of a case."""
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, EmailField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional

from desk.policy import abuse as policy
from flask_babel import gettext, lazy_gettext as _l

CATEGORY_CHOICES = [SelectChoice("", _l("— choose what the problem is —"))] + [
    SelectChoice(code, f"{code} — {label}") for code, label in policy.CATEGORIES.items()]


class AbuseReportForm(FlaskForm):
    category = SelectField(_l("What is the problem?"), choices=CATEGORY_CHOICES, validators=[DataRequired()])
    links = TextAreaField(_l("Link(s) to the page or account, one per line"), validators=[Optional(), Length(max=50_000)])
    orders = StringField(_l("Order ID(s), if you know them"), validators=[Optional(), Length(max=1_000)])
    description = TextAreaField(_l("Describe the issue"), validators=[Optional(), Length(max=20_000)])
    csam = BooleanField(_l("It involves child sexual abuse material (the file is not stored, only its fingerprint)"))
    attachments = MultipleFileField(_l("Evidence (screenshots, documents)"))
    name = StringField(_l("Your name"), validators=[Optional(), Length(max=120)])
    email = EmailField(_l("Your e-mail"), validators=[DataRequired(), Email(), Length(max=254)])


class RightsReportForm(FlaskForm):
    right = SelectField(_l("Your right"), choices=[SelectChoice(k, _l(v)) for k, v in policy.RIGHTS.items()])
    work = StringField(_l("The work or mark"), validators=[DataRequired(), Length(max=300)])
    registration = StringField(_l("Registration number (if registered)"), validators=[Optional(), Length(max=120)])
    links = TextAreaField(_l("Link(s) where it is misused, one per line"), validators=[Optional(), Length(max=50_000)])
    orders = StringField(_l("Order ID(s), if you know them"), validators=[Optional(), Length(max=1_000)])
    description = TextAreaField(_l("Describe the misuse"), validators=[Optional(), Length(max=20_000)])
    attachments = MultipleFileField(_l("Evidence (registration certificate, screenshots)"))
    good_faith = BooleanField(_l("I believe in good faith that this use is not authorised by the rights holder, its "
                                 "agent or the law, and the information in this notice is accurate."))
    name = StringField(_l("Your name (or the rights holder's)"), validators=[Optional(), Length(max=120)])
    email = EmailField(_l("Your e-mail"), validators=[DataRequired(), Email(), Length(max=254)])


class AddInfoForm(FlaskForm):
    links = TextAreaField(_l("Link(s), one per line"), validators=[Optional(), Length(max=50_000)])
    orders = StringField(_l("Order ID(s)"), validators=[Optional(), Length(max=1_000)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=20_000)])


class AppealForm(FlaskForm):
    body = TextAreaField(_l("Why is this decision wrong?"), validators=[DataRequired(), Length(max=100_000)])
