"""The portal's pages: sign-in (mailed link, single sign-on), "My tickets", a ticket's
conversation with reply and downloads, and a new question. Thin: the work is in
desk.portal.services; the session in desk.portal.sessions."""
import secrets

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from desk import jobs
from desk.errors import DeskError
from desk.extensions import db, limiter
from desk.portal import services, sessions
from desk.portal.forms import ConfirmForm, QuestionForm, SignInForm
from desk.portal.sessions import customer_required
from desk.policy.words import N_
from desk.portal.tokens import Refused
from desk.tickets.forms import RequesterReplyForm
from desk.tickets.uploads import from_files
from desk.tickets.views import send_attachment
from desk.types import MAX_ID
from flask_babel import gettext, lazy_gettext as _l

bp = Blueprint("portal", __name__, url_prefix="/portal")


def _public_limit():
    return current_app.config["RATELIMIT_PUBLIC_FORMS"]


def _address_limit():
    return current_app.config["RATELIMIT_SIGN_IN_LINKS"]


def _address_key():
    # Per address, whoever asks: the same for an address with an account and one without.
    return "portal-sign-in:" + (request.form.get("email") or "").strip().lower()[:254]


def _refused(exc: Refused, status: int = 403, title: str = _l("You could not be signed in")):
    current_app.logger.info("portal: sign-in refused (%s)", exc.code)
    return render_template("portal/refused.html", title=title, message=gettext(exc.msgid, **exc.params),
                           sso=bool(current_app.config["PANEL_SSO_SECRET"])), status


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
@limiter.limit(_address_limit, methods=["POST"], key_func=_address_key)
def sign_in():
    if request.method == "GET" and sessions.current_customer() is not None:
        return redirect(url_for(".my_tickets"))
    form = SignInForm()
    if form.validate_on_submit():
        # Which accounts have the address is looked up by a job, never here: the answer
        # and its timing are the same for every address.
        jobs.enqueue("workers.portal.send_sign_in_links", form.email.data.strip().lower()[:254],
                     secrets.token_hex(8))
        db.session.commit()
        jobs.dispatch()
        # The same page whether or not an account has the address.
        return render_template("portal/sign_in_sent.html", email=form.email.data,
                               minutes=current_app.config["PORTAL_LINK_MINUTES"])
    status = 400 if form.is_submitted() else 200
    return render_template("portal/sign_in.html", form=form, minutes=current_app.config["PORTAL_LINK_MINUTES"],
                           sso=bool(current_app.config["PANEL_SSO_SECRET"])), status


@bp.route("/link/<token>", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
def link(token):
    """The mailed link opens a page with a button; only the button (a POST) spends it, so a
    mail scanner that fetches every link in a message cannot use it up first."""
    form = ConfirmForm()
    try:
        if form.validate_on_submit():
            services.sign_in_by_link(token)
            flash(gettext("You are signed in."), "info")
            return redirect(url_for(".my_tickets"))
        customer = services.customer_of_link(token)
    except Refused as exc:
        db.session.rollback()
        return _refused(exc)
    return render_template("portal/link.html", form=form, customer=customer)


@bp.route("/sso", methods=["GET", "POST"])
def sso():
    """The panel sends the signed-in customer here. A browser already signed in to the
    portal as another account is asked before it switches: a page elsewhere could send
    this browser a token of someone else's account, and nobody should find themselves
    writing into another account's tickets without having chosen to."""
    secret = current_app.config["PANEL_SSO_SECRET"]
    if not secret:
        return _refused(Refused("sso_off", N_("Single sign-on from the panel is not set up on this help desk. "
                                              "You can sign in with a link sent to your e-mail instead.")),
                        status=404, title=_l("Single sign-on is off"))
    token = request.values.get("token", "")
    form = ConfirmForm()
    try:
        if request.method == "GET":
            current = sessions.current_customer()
            _, customer = services.customer_of_sso(token, secret)
            if current is not None and current.id != customer.id:
                return render_template("portal/switch.html", form=form, token=token, current=current,
                                       customer=customer)
        elif not form.validate_on_submit():
            return _refused(Refused("csrf", N_("This sign-in could not be confirmed: the page was too old. Please go "
                                               "back to the panel and open the help desk from there again.")),
                            status=400)
        services.sign_in_by_sso(token, secret)
    except Refused as exc:
        db.session.rollback()
        return _refused(exc)
    return redirect(url_for(".my_tickets"))


@bp.post("/sign-out")
def sign_out():
    sessions.end()
    flash(gettext("You are signed out in this browser."), "info")
    return redirect(url_for(".sign_in"))


@bp.post("/sign-out-everywhere")
@customer_required
def sign_out_everywhere(customer):
    services.signed_out_everywhere(customer)
    flash("You are signed out on every device and browser. If you think someone else used your account, "
          "tell us in a ticket.", "info")
    return redirect(url_for(".sign_in"))


@bp.get("")
@customer_required
def my_tickets(customer):
    cursor = request.args.get("after") or None
    rows, next_cursor = services.my_tickets(customer, cursor, current_app.config["PORTAL_PAGE_SIZE"])
    return render_template("portal/tickets.html", customer=customer, next_cursor=next_cursor, first=cursor is None,
                           rows=[(t, services.STATUS_WORDS[t.status], services.promise(t)) for t in rows],
                           form=ConfirmForm())


def _mine_or_404(customer, reference):
    ticket = services.find_mine(customer, reference)
    if ticket is None:
        abort(404)
    return ticket


@bp.route("/tickets/new", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
@customer_required
def new_ticket(customer):
    form = QuestionForm()
    error = None
    if form.validate_on_submit():
        try:
            ticket = services.file_question(customer, services.NewQuestion(
                form.subject.data, form.body.data, from_files(form.attachments.data)))
        except DeskError as exc:
            db.session.rollback()
            error = exc
        else:
            flash(gettext("Your question is ticket %(reference)s. We answer here and by e-mail.",
                          reference=ticket.reference), "info")
            return redirect(url_for(".ticket", reference=ticket.reference))
    status = error.status if error else (400 if form.is_submitted() else 200)
    return render_template("portal/new.html", form=form, error=error, customer=customer), status


@bp.route("/tickets/<reference>", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
@customer_required
def ticket(customer, reference):
    ticket = _mine_or_404(customer, reference)
    moved = services.moved_to(customer, ticket)
    if moved is not None:
        return redirect(url_for(".ticket", reference=moved.reference))
    form = RequesterReplyForm()
    error = None
    if form.validate_on_submit():
        try:
            services.reply(customer, ticket, form.body.data, from_files(form.attachments.data))
        except DeskError as exc:
            db.session.rollback()
            error = exc
        else:
            flash(gettext("Your reply was added."), "info")
            return redirect(url_for(".ticket", reference=ticket.reference))
    status = error.status if error else (400 if form.is_submitted() else 200)
    return render_template("portal/ticket.html", ticket=ticket, messages=[m for m in ticket.messages if not m.internal],
                           status_words=services.STATUS_WORDS[ticket.status], promise=services.promise(ticket),
                           form=form, error=error), status


@bp.get(f"/tickets/<reference>/attachments/<int(max={MAX_ID}):attachment_id>")
@customer_required
def attachment(customer, reference, attachment_id):
    return send_attachment(_mine_or_404(customer, reference), attachment_id, staff=False)


def register_routes() -> None:
    """Import the portal's other page modules (they attach themselves to `bp`)."""
    from desk.portal import asks, billing, orders  # noqa: F401
