"""JSON API v1 (DESIGN §6). One error format: {"error": {"code", "message", "fields"}}
with a 4xx. Routes live in one module per domain (tickets, mirror, claims, …), all on
this blueprint.

Who asks: an API key (`Authorization: Bearer <key>`, roles panel and staff) or a signed-in
customer's portal session (desk.portal.sessions), so the panel's own pages can call the desk
for that customer from the browser. A key always wins over a cookie. A session reaches only
the operations in SESSION_ENDPOINTS, always as that customer, and every unsafe method under
it carries `X-CSRFToken` (the token GET /me gives): a cookie, unlike a key, is sent by the
browser on a request another site makes."""
from flask import Blueprint, current_app, g, jsonify, request
from flask_wtf.csrf import validate_csrf
from wtforms import ValidationError as CSRFInvalid

from desk.audit.services import Actor
from desk.auth.access import api_key_from_request, key_scope, key_sees, key_staff, visible_queues  # noqa: F401 - key_scope, key_sees for the route modules
from desk.claims.models import Customer
from desk.claims.orders import customer_or_404, no_customer
from desk.claims.parse import Fields
from desk.errors import DeskError, ValidationError
from desk.extensions import csrf, db, limiter
from desk.help.articles import article_url
from desk.policy.clauses import explain
from desk.portal import sessions

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Flask-WTF's own check reads forms; keys need none (no other site can make a browser send
# them), and a customer session's unsafe calls are checked in authenticate() below.
csrf.exempt(bp)


def _api_limit():
    return current_app.config["RATELIMIT_API"]


limiter.limit(_api_limit)(bp)


# Endpoints that only read: they run without a transaction, so a request costs its queries'
# round trips and no BEGIN/ROLLBACK (a third of a claim evaluation's time on PostgreSQL).
# The decision itself is read on a connection of its own (desk.extensions.read_only_connection);
# this covers a customer session's look-ups before it.
READ_ONLY_ENDPOINTS = {"api.evaluate_claim"}
# The public intakes (DESIGN §6): anyone may report, without a key; they are rate limited
# like the public forms and confirm the reporter's e-mail by a link. The OpenAPI document
# is public too: it describes the API, and no key is needed to read how to use one.
PUBLIC_ENDPOINTS = {"api.report_abuse", "api.report_rights", "api.file_privacy_request",
                    "api.openapi_document"}
# What a signed-in customer may call, each for itself only (the views scope every read and
# write to g.customer). Anything else is a 403 to a session: a new route is closed to
# customers until it is listed here and scoped.
SESSION_ENDPOINTS = {
    "api.me",
    "api.list_tickets", "api.create_ticket", "api.get_ticket", "api.add_message",
    "api.list_orders", "api.get_order", "api.get_customer",
    "api.evaluate_claim", "api.file_claim",
    "api.quote_money", "api.file_money", "api.list_money_requests", "api.get_money_request",
    "api.confirm_money_request", "api.cancel_money_request",
    "api.file_account_request",
}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_HEADER = "X-CSRFToken"
DEFAULT_LIMIT, MAX_LIMIT = 20, 100


@bp.before_request
def authenticate():
    g.api_key = None
    g.customer = None
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if "Authorization" in request.headers:  # a key always wins over a cookie
        g.api_key = api_key_from_request()
        if g.api_key is None:
            return error_response(DeskError("A valid API key is required: Authorization: Bearer <key>.",
                                            code="unauthorized", status=401))
        return None
    if request.endpoint in READ_ONLY_ENDPOINTS:
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    customer = sessions.current_customer()
    if customer is None:
        return error_response(DeskError("A valid API key (Authorization: Bearer <key>) or a signed-in customer's "
                                        "session is required.", code="unauthorized", status=401))
    if request.endpoint not in SESSION_ENDPOINTS:
        return error_response(DeskError("This operation is not open to a customer session.", code="forbidden",
                                        status=403))
    if request.method not in SAFE_METHODS:
        try:
            validate_csrf(request.headers.get(CSRF_HEADER))
        except CSRFInvalid:
            return error_response(DeskError(f"A customer session's {request.method} needs the {CSRF_HEADER} header "
                                            "with the csrf_token GET /api/v1/me gives.", code="csrf_failed",
                                            status=403))
    g.customer = customer
    return None


@bp.errorhandler(DeskError)
def error_response(exc: DeskError):
    return jsonify(exc.to_dict()), exc.status


def json_body() -> dict:
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nesting deeper than Python's parser goes: not a body any route takes
        data = None
    if data is None:
        raise DeskError("The body must be valid JSON with Content-Type: application/json.", code="malformed_json")
    if not isinstance(data, dict):
        raise DeskError("The body must be a JSON object.", code="malformed_json")
    return data


def string_field(data: dict, name: str, required: bool = False, max_len: int | None = None) -> str | None:
    """`data[name]` as a string (None when absent). Longer than `max_len` (what the column
    or the form holds) is a 422 naming the field, never a silent cut of what was sent."""
    value = data.get(name)
    if value is None:
        if required:
            raise ValidationError(f"{name} is required.", {name: "required"})
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise ValidationError(f"{name} must be a string.", {name: "must be a string"})
    if isinstance(value, str) and "\x00" in value:  # PostgreSQL text cannot hold NUL: a 422 here, not a 500 there
        raise ValidationError(f"{name} must not contain NUL characters.", {name: "must not contain NUL characters"})
    if max_len is not None and len(str(value)) > max_len:
        raise ValidationError(f"{name} may be at most {max_len} characters; nothing was filed.",
                              {name: f"at most {max_len} characters"})
    return str(value)


def require_queue(queue: str) -> None:
    """A key that belongs to a person works only in that person's queues (the queue this
    operation files into or reads from); other keys and customer sessions pass."""
    person = key_staff(g.api_key) if g.api_key is not None else None
    if person is not None and queue not in visible_queues(person):
        raise DeskError(f"This key's staff member does not work the {queue} queue.", code="forbidden", status=403)


def require_key_role(*roles: str) -> None:
    """A key of one of `roles`; a customer session passes where authenticate() let it in."""
    if g.api_key is None and g.customer is not None and request.endpoint in SESSION_ENDPOINTS:
        return
    if g.api_key is None or g.api_key.role not in roles:
        raise DeskError(f"This endpoint needs a {' or '.join(roles)} key.", code="forbidden", status=403)


def session_customer() -> Customer | None:
    """The signed-in customer the call is for, or None when a key calls."""
    return g.get("customer")


def actor():
    """Who the audit log names: the key, or the signed-in customer (by address)."""
    customer = session_customer()
    return sessions.actor_of(customer) if customer is not None else Actor.api(g.api_key)


def channel() -> str:
    """The channel a filing records: the customer's own session is the portal's."""
    return "portal" if session_customer() is not None else "api"


def named_customer(panel_id: str) -> Customer:
    """The customer a body or query names. A key: that customer, or the 404 of an unknown
    one. A customer session acts only for itself: naming anyone else is the same 404."""
    me = session_customer()
    if me is None:
        return customer_or_404(panel_id)
    if panel_id != me.panel_id:
        raise no_customer(panel_id)
    return me


def own_customer_field(data: dict) -> dict:
    """A body's `customer` under a customer session: itself when left out (checked by
    named_customer() when given). Keys send it as before."""
    me = session_customer()
    if me is not None and data.get("customer") in (None, ""):
        return {**data, "customer": me.panel_id}
    return data


def with_clauses(body: dict) -> dict:
    """A decision's answer with each of its rules explained (desk.policy.clauses.explain):
    the clause's title, the Terms' words, the plain words and the help article, beside `rules`."""
    clauses = [{**c, "help_url": article_url(c["rule"], external=True)} for c in explain(body.get("rules") or [])]
    return {**body, "clauses": clauses}


def page_args(what: str) -> tuple[str | None, int]:
    """`?cursor=` (as the last page gave it; a damaged one is the 400 bad_cursor where the
    list reads it) and `?limit=` (1-100, 20 when left out; outside that a 422, never clamped)."""
    f = Fields(request.args)
    size = f.integer("limit", minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT)
    check_fields(f, f"The page of {what} asked for")
    return request.args.get("cursor") or None, size


def check_fields(f: Fields, what: str) -> None:
    """One 422 naming every field (or query parameter) at fault, if any is."""
    if f.problems:
        raise ValidationError(f"{what} has problems: " + ", ".join(sorted(f.problems)) + ".", f.problems)


def page_json(items: list, next_cursor: str | None) -> dict:
    return {"items": items, "next_cursor": next_cursor}


def register_routes() -> None:
    """Import the route modules (they attach themselves to `bp`)."""
    from desk.api import accounts, claims, mirror, money, openapi, privacy, reports, search, tickets  # noqa: F401
