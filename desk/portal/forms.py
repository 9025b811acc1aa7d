"""The portal's forms. Where a public form asks the same (more accounts, privacy rights),
the portal uses its part without the e-mail and login: the account is the one signed in."""
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import EmailField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

from desk.accounts.views import AccountsAskForm as MoreAccountsForm  # noqa: F401 - the portal's form as it is
from desk.claims.services import CUSTOMER_KIND_LABELS
from desk.policy.claims import KINDS as CLAIM_KINDS
from desk.privacy.public import RightsForm as PrivacyForm  # noqa: F401 - the portal's form as it is
from flask_babel import gettext, lazy_gettext as _l


class SignInForm(FlaskForm):
    email = EmailField(_l("The e-mail of your account"), validators=[DataRequired(), Email(), Length(max=254)])


class ConfirmForm(FlaskForm):
    """A button and its CSRF token: following a mailed link, signing out."""


class QuestionForm(FlaskForm):
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(_l("Your question"), validators=[DataRequired(), Length(max=100_000)])
    attachments = MultipleFileField(_l("Attachments (images, PDF, text, video)"))


class ClaimForm(FlaskForm):
    """A claim on one of the customer's orders: checked first, then filed (step)."""
    kind = SelectField(_l("What is wrong?"), choices=[SelectChoice(k, _l(CUSTOMER_KIND_LABELS[k])) for k in CLAIM_KINDS])
    current_count = IntegerField(_l("Current count on the page (for a refill)"),
                                 validators=[Optional(), NumberRange(min=0, max=2**31 - 1)])
    description = TextAreaField(_l("Describe the problem (optional)"), validators=[Optional(), Length(max=10_000)])
    attachments = MultipleFileField(_l("Screenshots"))
    step = HiddenField(default="check")


class MoneyForm(FlaskForm):
    """A refund, withdrawal, closure or restoration: the figures first, then the request
    for exactly those figures (the customer's confirmation, terms-13-confirm)."""
    method = SelectField(_l("Refund to"), default="original", choices=[
        SelectChoice("original", _l("My original payment method")),
        SelectChoice("balance", _l("My Balance, as Deposited Funds (a refund about one order)"))])
    order = StringField(_l("Order ID (a refund about one order)"), validators=[Optional(), Length(max=64)])
    amount = StringField(_l("Amount in USD (leave empty for all that is available)"),
                         validators=[Optional(), Length(max=20)])
    description = TextAreaField(_l("Anything we should know (optional)"), validators=[Optional(), Length(max=10_000)])
    shown = HiddenField()  # the amount the customer was shown: the one they confirm
    step = HiddenField(default="quote")


class AnswerForm(FlaskForm):
    """The customer's answer to figures awaiting confirmation; the choice is the button."""
    amount = HiddenField()
