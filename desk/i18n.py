"""Languages of the customer-facing desk (issue 13): Flask-Babel, the locale each request
is shown in, the language switcher, per-locale dates and money, and mail rendered in the
recipient's language (also in RQ workers, where there is no request).

Staff pages stay English: a signed-in staff member always gets `en`. For everyone else the
order is: the portal customer's saved choice > the `lang` cookie the switcher sets > the
browser's Accept-Language (best match) > `en`."""
import re
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from babel import Locale
from flask import Blueprint, abort, current_app, g, has_request_context, redirect, request
from flask_babel import (Babel, force_locale, format_currency, format_date, format_datetime, format_decimal,
                         get_locale, gettext)
from flask_login import current_user

from desk.extensions import db
from desk.policy.words import Words

DEFAULT = "en"
COOKIE = "lang"
COOKIE_AGE = 365 * 24 * 3600
TRANSLATIONS = Path(__file__).resolve().parent / "translations"

babel = Babel()
bp = Blueprint("i18n", __name__)


def languages() -> list[str]:
    return current_app.config["LANGUAGES"]


def supported(code) -> str | None:
    """`code` if it is one of the desk's languages, else None (user input goes through here)."""
    return code if isinstance(code, str) and code in languages() else None


def _is_staff() -> bool:
    return bool(getattr(current_user, "is_authenticated", False))


def _customer_facing() -> bool:
    """A request a customer or visitor sees: not staff, not the API, not a worker (no request)."""
    # The path first: on the API it decides, without loading a signed-in user for nothing.
    return has_request_context() and not request.path.startswith("/api/") and not _is_staff()


def select_locale() -> str:
    if not _customer_facing():
        return DEFAULT
    from desk.portal.sessions import current_customer

    customer = current_customer()
    return (supported(customer.locale if customer is not None else None)
            or supported(request.cookies.get(COOKIE))
            or request.accept_languages.best_match(languages())
            or DEFAULT)


def customer_locale() -> str | None:
    """The locale a customer-facing request is shown in, recorded on what they file (a
    ticket) so later mail speaks their language; None from staff, the API and workers."""
    if not _customer_facing():
        return None
    return str(get_locale())


def init_app(app) -> None:
    dirs = [str(TRANSLATIONS)] + [d for d in app.config.get("BABEL_TRANSLATION_DIRECTORIES", "").split(";") if d]
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(dict.fromkeys(dirs))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    babel.init_app(app, locale_selector=select_locale)
    app.register_blueprint(bp)
    zone = ZoneInfo(app.config["DISPLAY_TIMEZONE"])

    @app.template_filter("localtime")
    def localtime(value: datetime | None, fmt: str | None = None) -> str:
        """The one way the desk shows a time: in the desk's display zone (the support
        hours' zone, named in the footer), formatted for the viewer's locale. English keeps
        the desk's ISO-like `2026-12-03 17:04`; another locale gets its own short form; an
        explicit strftime `fmt` is kept as asked."""
        if value is None:
            return "—"
        local = value.astimezone(zone)
        if fmt is None and str(get_locale()) != DEFAULT:
            return format_datetime(local, "short", rebase=False)
        return local.strftime(fmt or "%Y-%m-%d %H:%M")

    app.add_template_filter(money, "money")
    # Globals, not a context processor: the mail templates (desk.mail.outbound) use them too.
    # Globals, not a context processor, so macros imported without context (`{% from … import %}`) see them.
    app.jinja_env.globals.update(format_date=format_date, language_choices=language_choices,
                                 current_locale=lambda: str(get_locale()), status_words=status_words,
                                 say=say, tr=gettext, this_page=this_page)


def money(amount, currency: str = "USD") -> str:
    """An amount (Decimal) in the viewer's locale: `$1,234.50`, `1.234,50 US$`, …"""
    if amount is None:
        return "—"
    return format_currency(Decimal(amount), currency)


def figure(amount) -> str:
    """An amount without its currency, as the desk's messages write it: `1,234.50` in
    English (what `f"{x:,.2f}"` gave before), `1.234,50` in Spanish, `1 234,50` in Russian."""
    return format_decimal(Decimal(amount), format="#,##0.00")


# What desk.policy writes for an amount (desk.policy.money._money: `f"{x:,.2f}"`).
_POLICY_AMOUNT = re.compile(r"-?\d{1,3}(?:,\d{3})*\.\d{2}")


def say(reason, figures: bool = False) -> str:
    """A policy sentence (a Reason with `words`, desk.policy.words) in the viewer's
    language; the English `text` where it carries no message id. `words` may be several
    sentences (a deduction's), and a parameter may be a sentence of its own. `figures`:
    the policy's amounts are written per locale too (the conversation's messages, whose
    own figures are; the pages keep the policy's `1,234.50` for now)."""
    if isinstance(reason, Words):  # a sentence itself
        return _said(reason, figures)
    if isinstance(reason, dict):  # as a claim stores it (desk.claims.services.stored_reasons)
        words = reason.get("words")
    else:
        words = getattr(reason, "words", None)
    if not words:
        return reason["text"] if isinstance(reason, dict) else reason.text
    if isinstance(words, (list, tuple)):
        return " ".join(_said(w, figures) for w in words)
    return _said(words, figures)


def _said(words, figures: bool = False) -> str:
    """One sentence, Words or as stored ({msgid, params}), translated with its parameters."""
    msgid, params = (words["msgid"], words["params"]) if isinstance(words, dict) else (words.msgid, words.params)
    if not msgid:  # an empty listing (gettext("") is the catalogue's header)
        return ""
    return gettext(msgid, **{k: _said(v, figures) if isinstance(v, dict) or hasattr(v, "msgid") else
                             _amount(v) if figures else v for k, v in params.items()})


def _amount(value):
    if isinstance(value, str) and _POLICY_AMOUNT.fullmatch(value):
        return figure(Decimal(value.replace(",", "")))
    return value


def ticket_language(ticket) -> str:
    """The language the desk writes to a ticket's requester in: the one recorded on the
    ticket (desk.tickets: what they wrote in), else English."""
    return supported(getattr(ticket, "locale", None)) or DEFAULT


def filing_locale(customer=None, given: str | None = None) -> str | None:
    """The language a ticket filed now records (desk.tickets.open_ticket), so also what is
    written for it before it exists: the one given, else the customer-facing page's, else
    the customer's saved choice (filed on their behalf: the panel's API); None: none known."""
    return given or customer_locale() or supported(getattr(customer, "locale", None))


@contextmanager
def speaking(ticket):
    """Compose what the desk posts into `ticket`'s conversation in its requester's
    language, whoever triggers it (a staff member's English request, a worker, the API)."""
    with in_locale(ticket_language(ticket)):
        yield


def status_words(status: str) -> str:
    """A ticket's status in the customer's words, in their language."""
    from desk.portal.services import STATUS_WORDS

    return gettext(STATUS_WORDS.get(status, status))


def this_page() -> str:
    """The path (and query) the switcher returns to: read from Flask's request itself,
    because a page may name something else `request` (a money request, say)."""
    return request.full_path.rstrip("?")


def language_choices() -> list[tuple[str, str]]:
    """(code, the language's own name) for the switcher: a name is shown in its own
    language so a reader finds theirs whatever the page is in."""
    return [(code, Locale.parse(code).get_display_name(code).capitalize()) for code in languages()]


def mail_locale(locale=None, context=None) -> str:
    """The language of a mail: the one given, else the recipient's recorded on the ticket,
    report or customer the template is about, else `en`."""
    if supported(locale):
        return locale
    for key in ("ticket", "customer", "report", "request"):
        found = supported(getattr((context or {}).get(key), "locale", None))
        if found:
            return found
    return DEFAULT


def in_locale(locale: str):
    """Render in `locale`, also outside a request (an RQ worker). Flask-Babel's
    force_locale does nothing while `g` is empty (it tests `if not g`), as it is in a
    fresh app context: give it its namespace first."""
    if not hasattr(g, "_flask_babel"):
        g._flask_babel = SimpleNamespace()
    return force_locale(locale)


def safe_target(target) -> str:
    """Only a same-site relative path: never another host, scheme or `//host`."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return "/"
    return target


@bp.post("/language")
def choose():
    """The language switcher: remember the choice (cookie; the portal account too) and go
    back to the page it came from."""
    locale = supported(request.form.get("locale"))
    if locale is None:
        abort(400)
    response = redirect(safe_target(request.form.get("next")))
    response.set_cookie(COOKIE, locale, max_age=COOKIE_AGE, samesite="Lax", httponly=True,
                        secure=request.is_secure)
    if not _is_staff():
        from desk.portal.sessions import current_customer

        customer = current_customer()
        if customer is not None and customer.locale != locale:
            customer.locale = locale
            db.session.commit()
    g.pop("_flask_babel", None)
    return response
