"""The desk's one signed-link helper, for people without an account: a reporter confirms
their e-mail and follows their report, an account holder contests an action, a privacy
requester follows their request and fetches their export, a customer signs in to the
portal by a mailed link, a requester answers a satisfaction survey. Each token names one row and one address, with its own salt, so
no link opens anything but what it was sent for. (A ticket's requester link, keyed by its
reference, is still desk.tickets.links.)"""
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

CONFIRM, REPORT, APPEAL = "desk.report-confirm", "desk.report-link", "desk.appeal"
SURVEY = "desk.csat-survey"


def make(salt: str, row_id: int, email: str) -> str:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt).dumps(
        {"i": row_id, "e": (email or "").lower()})


def read(salt: str, token: str, max_age: int) -> tuple[int, str] | None:
    """(id, e-mail) for a valid, unexpired token; None otherwise."""
    try:
        data = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt).loads(token, max_age=max_age)
    except BadSignature:  # SignatureExpired is a BadSignature too
        return None
    if not isinstance(data, dict) or not isinstance(data.get("i"), int) or not isinstance(data.get("e"), str):
        return None
    return data["i"], data["e"]


def public_url(path: str) -> str:
    # Built from PUBLIC_URL, not the request: notices are also composed by jobs.
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}{path}"


def report_url(report) -> str:
    return public_url(f"/reports/{make(REPORT, report.id, report.reporter_email)}")


def confirm_url(report) -> str:
    return public_url(f"/reports/confirm/{make(CONFIRM, report.id, report.reporter_email)}")


def appeal_url(action) -> str:
    return public_url(f"/appeals/{make(APPEAL, action.id, action.customer.email or '')}")


def survey_url(survey, rating: str) -> str:
    return public_url(f"/survey/{make(SURVEY, survey.id, survey.ticket.requester_email)}/{rating}")
