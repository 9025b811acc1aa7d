from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm

from desk.auth.forms import LoginForm
from desk.auth.access import require
from desk.auth.services import authenticate, set_away
from desk.extensions import limiter

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("tickets.queue"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        staff = authenticate(form.email.data, form.password.data)
        if staff is not None:
            login_user(staff)
            # Always to the queue: never to a URL the request supplied (open redirect).
            return redirect(url_for("tickets.queue"))
        flash("That e-mail and password do not match an active staff account.", "error")
        status = 401
    elif form.is_submitted():
        status = 400  # fields missing; the messages are beside them
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/me/away", methods=["POST"])
@require("queue.view")
def away():
    """A staff member marks themselves away, or back: automatic assignment passes the away by."""
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    wanted = request.form.get("away") == "on"
    set_away(current_user, wanted)
    flash("You are marked away: no tickets are assigned to you automatically." if wanted else
          "Welcome back: tickets are assigned to you again.", "info")
    return redirect(url_for("tickets.queue"))
