from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length

from desk.auth.roles import ROLES


class LoginForm(FlaskForm):
    # No format check at sign-in: the account lookup decides. (email_validator refuses
    # special-use domains such as .test and .localhost, which staff accounts may use.)
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired()])


class StaffForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Email(), Length(max=254)])
    name = StringField("Name", validators=[Length(max=120)])
    role = SelectField("Role", choices=[SelectChoice(r, r.replace("_", " ")) for r in ROLES])
    password = PasswordField("Initial password", validators=[DataRequired(), Length(min=12, max=200)])
