from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import EmailField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length


class SignInForm(FlaskForm):
    email = EmailField("The e-mail of your account", validators=[DataRequired(), Email(), Length(max=254)])


class ConfirmForm(FlaskForm):
    """A button and its CSRF token: following a mailed link, signing out."""


class QuestionForm(FlaskForm):
    subject = StringField("Subject", validators=[DataRequired(), Length(max=200)])
    body = TextAreaField("Your question", validators=[DataRequired(), Length(max=100_000)])
    attachments = MultipleFileField("Attachments (images, PDF, text, video)")
