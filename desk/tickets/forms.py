from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, EmailField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional

from desk.tickets.models import KIND_LABELS, PRIORITIES, STATUS_LABELS
from flask_babel import gettext, lazy_gettext as _l

# Money requests and more accounts have forms of their own (they need the figures or the
# business need); chargeback cases are opened by the desk; reports and privacy requests
# go to their own intakes.
OWN_FORMS = ("abuse", "rights", "privacy", "refund", "withdrawal", "closure", "restoration", "multi_account",
             "chargeback")
PUBLIC_KINDS = [SelectChoice(k, _l(v)) for k, v in KIND_LABELS.items() if k not in OWN_FORMS]


class ContactForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[Optional(), Length(max=120)])
    email = EmailField(_l("Your e-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    kind = SelectField(_l("What is it about?"), choices=PUBLIC_KINDS, default="general")
    order = StringField(_l("Order ID (if about an order)"), validators=[Optional(), Length(max=64)])
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(_l("Message"), validators=[DataRequired(), Length(max=100_000)])
    attachments = MultipleFileField(_l("Attachments (images, PDF, text, video)"))


class RequesterReplyForm(FlaskForm):
    body = TextAreaField(_l("Your reply"), validators=[DataRequired(), Length(max=100_000)])
    attachments = MultipleFileField(_l("Attachments"))


class StaffReplyForm(FlaskForm):
    body = TextAreaField(_l("Message (Markdown)"), validators=[DataRequired(), Length(max=100_000)])
    internal = BooleanField(_l("Internal note (never shown to the requester)"))
    status = SelectField(_l("Then set status"), choices=[SelectChoice("", _l("— keep —"))] + [SelectChoice(k, _l(v)) for k, v in STATUS_LABELS.items()],
                         validators=[Optional()])
    attachments = MultipleFileField(_l("Attachments"))
    # The newest public message the page showed: sending warns when someone wrote since.
    seen = HiddenField()


class MergeForm(FlaskForm):
    target = StringField(_l("Merge this ticket into"), validators=[Optional(), Length(max=32)])
    confirm = BooleanField(_l("Merge even if the other ticket is another requester's (neither will see the other's "
                              "messages)"))


class SplitForm(FlaskForm):
    message = HiddenField()
    subject = StringField(_l("Subject of the new ticket"), validators=[Optional(), Length(max=200)])


class TicketUpdateForm(FlaskForm):
    status = SelectField(_l("Status"), choices=[SelectChoice(k, _l(v)) for k, v in STATUS_LABELS.items()])
    priority = SelectField(_l("Priority"), choices=[SelectChoice(p, p.title()) for p in PRIORITIES])
    tags = StringField(_l("Tags (comma-separated)"), validators=[Optional(), Length(max=500)],
                       render_kw={"list": "tag-suggestions"})


class AssignForm(FlaskForm):
    assignee = SelectField(_l("Assignee"), choices=[], validate_choice=False)
