"""desk: the support, claims, abuse and privacy desk of an SMM-panel storefront."""
import os

from flask import Flask, Request, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from desk.config import check_settings, settings_from_environment


class _FormParser(FormDataParser):
    """Werkzeug counts a multipart form's fields against MAX_FORM_PARTS but reads an
    urlencoded one whole: thousands of fields went through to the views. The same limit
    here, answered by the same 413."""

    def _parse_urlencoded(self, stream, mimetype, content_length, options):
        parsed = super()._parse_urlencoded(stream, mimetype, content_length, options)
        if self.max_form_parts is not None and len(parsed[1]) > self.max_form_parts:
            raise RequestEntityTooLarge()
        return parsed


class DeskRequest(Request):
    form_data_parser_class = _FormParser


def create_app(test_config=None):
    # The instance folder holds the SQLite file, the generated secret key and attachments;
    # DESK_INSTANCE_PATH (or INSTANCE_PATH in test_config) moves it, as tests do.
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get("DESK_INSTANCE_PATH")
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path)
    app.request_class = DeskRequest
    app.config.from_mapping(settings_from_environment(app.instance_path))
    if test_config:
        app.config.update(test_config)
    check_settings(app.config)
    # The "desk" logger is Flask's app.logger (with its stderr handler): at LOG_LEVEL, so the
    # desk's own INFO lines — the mail written to the log when MAIL_SERVER is unset — show.
    app.logger.setLevel(app.config["LOG_LEVEL"])
    register_extensions(app)
    from desk import i18n

    i18n.init_app(app)
    register_feed_receivers()
    register_blueprints(app)
    register_error_handlers(app)
    register_security_headers(app)
    register_template_helpers(app)
    register_commands(app)
    return app


def register_extensions(app):
    from sqlalchemy import event

    from desk import ratelimit
    from desk.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()), render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see that page."
    csrf.init_app(app)
    # Limits are counted in the desk's Redis when there is one, so every gunicorn worker and
    # host shares one count; the embedded run (no REDIS_URL) counts in memory.
    storage = app.config["RATELIMIT_STORAGE_URI"] or app.config.get("REDIS_URL") or "memory://"
    if storage.startswith("unix://"):  # the bundled Redis's socket: `limits` spells it redis+unix://
        storage = "redis+" + storage
    app.config["RATELIMIT_STORAGE_URI"] = storage
    # The fixed window, its count and its headers' figures in one Redis round trip (desk.ratelimit).
    app.config.setdefault("RATELIMIT_STRATEGY", ratelimit.register())
    limiter.init_app(app)

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)

    import desk.auth.access  # noqa: F401  registers the user loader
    _import_models()


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _import_models():
    """Every domain's tables, so metadata (and Alembic) sees them all."""
    import desk.abuse.models  # noqa: F401
    import desk.accounts.models  # noqa: F401
    import desk.audit.models  # noqa: F401
    import desk.auth.models  # noqa: F401
    import desk.claims.models  # noqa: F401
    import desk.csat.models  # noqa: F401
    import desk.jobs  # noqa: F401
    import desk.macros.models  # noqa: F401
    import desk.mail.models  # noqa: F401
    import desk.money.models  # noqa: F401
    import desk.panel.models  # noqa: F401
    import desk.portal.models  # noqa: F401
    import desk.privacy.models  # noqa: F401
    import desk.sla.models  # noqa: F401
    import desk.tickets.models  # noqa: F401
    import desk.webhooks.models  # noqa: F401


def register_feed_receivers():
    """The domains that act on the panel's feeds (desk.claims.feed) connect to them."""
    from desk.accounts import feed as accounts_feed
    from desk.money import feed as money_feed

    accounts_feed.connect()
    money_feed.connect()


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"


def register_blueprints(app):
    from desk.abuse.public import bp as reports_bp
    from desk.abuse.views import bp as abuse_bp
    from desk.accounts.views import bp as accounts_bp
    from desk.admin.views import bp as admin_bp
    from desk.api import bp as api_bp, register_routes
    from desk.auth.views import bp as auth_bp
    from desk.claims.views import bp as claims_bp
    from desk.csat.views import bp as csat_bp
    from desk.help.views import bp as help_bp
    from desk.macros.views import bp as macros_bp
    from desk.mail.views import bp as mail_bp
    from desk.money.views import bp as money_bp
    from desk.panel.views import bp as panel_bp
    from desk.portal.views import bp as portal_bp, register_routes as register_portal_routes
    from desk.privacy.public import bp as privacy_public_bp
    from desk.privacy.views import bp as privacy_bp
    from desk.sla.views import bp as sla_bp
    from desk.tickets.public import bp as public_bp
    from desk.tickets.views import bp as tickets_bp

    register_routes()
    register_portal_routes()
    for bp in (public_bp, reports_bp, privacy_public_bp, portal_bp, auth_bp, tickets_bp, claims_bp, money_bp,
               accounts_bp, abuse_bp, privacy_bp, sla_bp, mail_bp, panel_bp, admin_bp, api_bp, macros_bp, csat_bp,
               help_bp):
        app.register_blueprint(bp)


def _wants_json() -> bool:
    return request.path.startswith("/api/")


DATABASE_RETRY_AFTER = 5  # seconds a client is asked to wait when the database is away


def register_error_handlers(app):
    from flask_babel import gettext
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, TimeoutError as PoolTimeout

    from desk.errors import DeskError
    from desk.policy.words import N_
    from desk.storage import Missing, StorageUnavailable

    messages = {
        400: N_("The request could not be understood."),
        401: N_("Please sign in."),
        403: N_("Your role does not allow this page."),
        404: N_("There is nothing here."),
        405: N_("That method is not allowed here."),
        413: N_("The upload is too large. Attachments may be at most {limit}, and a form at most "
                "{fields} fields; nothing was sent."),
        429: N_("Too many requests. Please wait a little and try again."),
        500: N_("Something went wrong on our side. Nothing you sent was lost; please try again."),
    }

    def render(status: int, message: str, code: str, **figures):
        # In the viewer's language where the message is in the catalogue (the API's is
        # always English); the figures go in after the lookup, so the catalogue finds it.
        message = gettext(message)
        if figures:
            message = message.format(**figures)
        if _wants_json():
            return jsonify({"error": {"code": code, "message": message}}), status
        return render_template("error.html", status=status, message=message), status

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return render(400, N_("The form expired or was not sent from this site (CSRF check failed). "
                              "Please reload the page and send it again."), "csrf_failed")

    @app.errorhandler(DeskError)
    def desk_error(exc):
        return render(exc.status, exc.message, exc.code)

    @app.errorhandler(Missing)
    def file_missing(exc):
        return render(404, N_("This file is no longer stored."), "not_found")

    @app.errorhandler(StorageUnavailable)
    def storage_unavailable(exc):
        app.logger.error("file storage unavailable: %s", exc)
        return render(503, N_("The desk's file storage cannot be reached just now. Nothing was lost; "
                              "please try again in a minute."), "storage_unavailable")

    @app.errorhandler(HTTPException)
    def http_error(exc):
        from desk.tickets.attachments import human_size

        figures = {}
        if exc.code == 400 and exc.description and "JSON" in exc.description:
            message = exc.description
        elif exc.code in messages:
            message = messages[exc.code]
            if exc.code == 413:
                figures = {"limit": human_size(app.config["ATTACHMENT_MAX_BYTES"]),
                           "fields": app.config["MAX_FORM_PARTS"]}
        else:
            message = exc.description or ""
        code = (exc.name or "error").lower().replace(" ", "_")
        response = render(exc.code or 500, message, code, **figures)
        if exc.code == 429 and getattr(exc, "retry_after", None):
            response[0].headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(exc):
        # The database restarting, failing over or refusing connections (OperationalError,
        # InterfaceError), or every pooled connection busy (the pool's TimeoutError): the
        # request's transaction was rolled back whole, so the client may simply send it
        # again. SQLAlchemy has already dropped the pool's dead connections; the next
        # request opens fresh ones. A deadlock or a lock timeout is the same for the client.
        # One line, not a traceback per request: an outage answers many requests at once.
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        app.logger.error("database unavailable (%s): %s", type(exc).__name__, cause[0] if cause else "")
        message = N_("The desk's database cannot be reached just now, so this request was not completed "
                     "(nothing is ever saved half-way). Please try again in a few seconds.")
        try:
            response = make_response(render(503, message, "database_unavailable"))
        except DBAPIError:  # the page itself needed the database (the signed-in user): plain text
            response = make_response(message, 503, {"Content-Type": "text/plain; charset=utf-8"})
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
        return response

    @app.errorhandler(500)
    def server_error(exc):
        return render(500, messages[500], "server_error")


def register_security_headers(app):
    csp = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
           "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

    @app.after_request
    def headers(response):
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


def register_template_helpers(app):
    from markupsafe import Markup

    from desk.auth.roles import allows

    @app.template_filter("trusted_html")
    def trusted_html(value: str) -> Markup:
        # Only for HTML that desk.sanitize produced when the message was stored.
        return Markup(value)

    from desk.help.articles import article_url, rule_link
    from desk.policy.clauses import explain
    from desk.policy.money import DEDUCTION_KINDS
    from desk.privacy.requests import flags_of
    from desk.sla.display import clock_view, lead_clock
    from desk.tickets.attachments import human_size, view as file_view

    from desk.sanitize import web_link

    app.add_template_filter(human_size, "filesize")
    app.add_template_filter(web_link)
    app.add_template_global(file_view, "file_view")
    app.add_template_global(clock_view)
    app.add_template_global(lead_clock)
    app.add_template_global(flags_of, "privacy_flags")
    app.add_template_global(explain, "explain_clauses")
    app.add_template_global(article_url)
    app.add_template_global(DEDUCTION_KINDS, "deduction_kinds")
    app.add_template_filter(rule_link)

    @app.context_processor
    def inject():
        return {"allows": allows, "display_zone": app.config["DISPLAY_TIMEZONE"]}


def register_commands(app):
    from desk.cli import desk_cli

    app.cli.add_command(desk_cli)
