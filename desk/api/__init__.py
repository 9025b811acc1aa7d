"""JSON API v1 (DESIGN §6). Bearer API keys; one error format:
{"error": {"code", "message", "fields"}} with a 4xx. Routes live in one module per
domain (tickets, mirror, claims), all on this blueprint."""
from flask import Blueprint, current_app, g, jsonify, request

from desk.auth.access import api_key_from_request
from desk.errors import DeskError, ValidationError
from desk.extensions import csrf, db, limiter

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # bearer keys, not cookies: no cross-site request can carry them


def _api_limit():
    return current_app.config["RATELIMIT_API"]


limiter.limit(_api_limit)(bp)


# Endpoints that only read: they run without a transaction, so a request costs its queries'
# round trips and no BEGIN/ROLLBACK (a third of a claim evaluation's time on PostgreSQL).
READ_ONLY_ENDPOINTS = {"api.evaluate_claim"}
# The public intakes (DESIGN §6): anyone may report, without a key; they are rate limited
# like the public forms and confirm the reporter's e-mail by a link. The OpenAPI document
# is public too: it describes the API, and no key is needed to read how to use one.
PUBLIC_ENDPOINTS = {"api.report_abuse", "api.report_rights", "api.file_privacy_request",
                    "api.openapi_document"}


@bp.before_request
def authenticate():
    if request.endpoint in READ_ONLY_ENDPOINTS:
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    if request.endpoint in PUBLIC_ENDPOINTS:
        g.api_key = None
        return None
    g.api_key = api_key_from_request()
    if g.api_key is None:
        return error_response(DeskError("A valid API key is required: Authorization: Bearer <key>.",
                                        code="unauthorized", status=401))


@bp.errorhandler(DeskError)
def error_response(exc: DeskError):
    return jsonify(exc.to_dict()), exc.status


def json_body() -> dict:
    data = request.get_json(silent=True)
    if data is None:
        raise DeskError("The body must be valid JSON with Content-Type: application/json.", code="malformed_json")
    if not isinstance(data, dict):
        raise DeskError("The body must be a JSON object.", code="malformed_json")
    return data


def string_field(data: dict, name: str, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise ValidationError(f"{name} is required.", {name: "required"})
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise ValidationError(f"{name} must be a string.", {name: "must be a string"})
    if isinstance(value, str) and "\x00" in value:  # PostgreSQL text cannot hold NUL: a 422 here, not a 500 there
        raise ValidationError(f"{name} must not contain NUL characters.", {name: "must not contain NUL characters"})
    return str(value)


def require_key_role(*roles: str) -> None:
    if g.api_key.role not in roles:
        raise DeskError(f"This endpoint needs a {' or '.join(roles)} key.", code="forbidden", status=403)


def register_routes() -> None:
    """Import the route modules (they attach themselves to `bp`)."""
    from desk.api import accounts, claims, mirror, money, openapi, privacy, reports, search, tickets  # noqa: F401
