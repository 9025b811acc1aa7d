"""Public pages: the contact form and the requester's signed link to their ticket."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for

from desk.audit.services import Actor
from desk.errors import DeskError
from desk.extensions import db, limiter
from desk.tickets import merge, services
from desk.tickets.forms import ContactForm, RequesterReplyForm
from desk.tickets.links import make_token, read_token
from desk.tickets.uploads import from_files
from desk.tickets.views import send_attachment
from desk.types import MAX_ID
from flask_babel import gettext, lazy_gettext as _l

bp = Blueprint("public", __name__)


def _public_limit():
    return current_app.config["RATELIMIT_PUBLIC_FORMS"]


@bp.route("/")
def home():
    return render_template("public/home.html")


@bp.route("/contact", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
def contact():
    form = ContactForm()
    if form.validate_on_submit():
        data = services.NewTicket(
            subject=form.subject.data, body=form.body.data, requester_email=form.email.data,
            requester_name=form.name.data or "", kind=form.kind.data, channel="web", order=form.order.data or None,
        )
        try:
            data.uploads = from_files(form.attachments.data)
            ticket, message = services.create_ticket(data, Actor("requester", None, form.email.data))
        except DeskError as exc:
            db.session.rollback()
            # Everything typed stays in the form; only the files must be chosen again.
            return render_template("public/contact.html", form=form, error=exc), exc.status
        return render_template("public/contact_done.html", ticket=ticket, message=message,
                               link=url_for(".requester_ticket", token=make_token(ticket)))
    status = 400 if form.is_submitted() else 200
    return render_template("public/contact.html", form=form, error=None), status


def ticket_for_token(token):
    found = read_token(token)
    if found is None:
        abort(404)
    reference, email = found
    ticket = services.find_ticket(reference)
    if ticket is None or ticket.requester_email.lower() != email:
        abort(404)
    return ticket


@bp.route("/t/<token>", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
def requester_ticket(token):
    ticket = ticket_for_token(token)
    home = merge.final(ticket, requester=True)
    if home is not ticket:  # merged into a ticket of theirs: it goes on there
        return redirect(url_for(".requester_ticket", token=make_token(home)))
    form = RequesterReplyForm()
    error = None
    if form.validate_on_submit():
        try:
            services.requester_reply(ticket, form.body.data, from_files(form.attachments.data),
                                     Actor("requester", None, ticket.requester_email))
        except DeskError as exc:
            db.session.rollback()
            error = exc
        else:
            flash(gettext("Your reply was added."), "info")
            return redirect(url_for(".requester_ticket", token=token))
    messages = [m for m in ticket.messages if not m.internal]
    status = error.status if error else (400 if form.is_submitted() else 200)
    return render_template("public/requester_ticket.html", ticket=ticket, messages=messages, form=form,
                           token=token, error=error), status


@bp.route(f"/t/<token>/attachments/<int(max={MAX_ID}):attachment_id>")
def requester_attachment(token, attachment_id):
    return send_attachment(ticket_for_token(token), attachment_id, staff=False)
