"""The public report forms and the staff forms of a case."""
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, EmailField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional

from desk.policy import abuse as policy

CATEGORY_CHOICES = [SelectChoice("", "— choose what the problem is —")] + [
    SelectChoice(code, f"{code} — {label}") for code, label in policy.CATEGORIES.items()]


class AbuseReportForm(FlaskForm):
    category = SelectField("What is the problem?", choices=CATEGORY_CHOICES, validators=[DataRequired()])
    links = TextAreaField("Link(s) to the page or account, one per line", validators=[Optional(), Length(max=50_000)])
    orders = StringField("Order ID(s), if you know them", validators=[Optional(), Length(max=1_000)])
    description = TextAreaField("Describe the issue", validators=[Optional(), Length(max=20_000)])
    csam = BooleanField("It involves child sexual abuse material (the file is not stored, only its fingerprint)")
    attachments = MultipleFileField("Evidence (screenshots, documents)")
    name = StringField("Your name", validators=[Optional(), Length(max=120)])
    email = EmailField("Your e-mail", validators=[DataRequired(), Email(), Length(max=254)])


class RightsReportForm(FlaskForm):
    right = SelectField("Your right", choices=[SelectChoice(k, v) for k, v in policy.RIGHTS.items()])
    work = StringField("The work or mark", validators=[DataRequired(), Length(max=300)])
    registration = StringField("Registration number (if registered)", validators=[Optional(), Length(max=120)])
    links = TextAreaField("Link(s) where it is misused, one per line", validators=[Optional(), Length(max=50_000)])
    orders = StringField("Order ID(s), if you know them", validators=[Optional(), Length(max=1_000)])
    description = TextAreaField("Describe the misuse", validators=[Optional(), Length(max=20_000)])
    attachments = MultipleFileField("Evidence (registration certificate, screenshots)")
    good_faith = BooleanField("I believe in good faith that this use is not authorised by the rights holder, its "
                              "agent or the law, and the information in this notice is accurate.")
    name = StringField("Your name (or the rights holder's)", validators=[Optional(), Length(max=120)])
    email = EmailField("Your e-mail", validators=[DataRequired(), Email(), Length(max=254)])


class AddInfoForm(FlaskForm):
    links = TextAreaField("Link(s), one per line", validators=[Optional(), Length(max=50_000)])
    orders = StringField("Order ID(s)", validators=[Optional(), Length(max=1_000)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=20_000)])


class AppealForm(FlaskForm):
    body = TextAreaField("Why is this decision wrong?", validators=[DataRequired(), Length(max=100_000)])
