"""The public privacy-request intake (Privacy §10): no key, rate limited. The answer is
the same whether or not an account has the e-mail, and nothing is disclosed before the
requester proves the address with the code mailed to it (privacy-10-verify)."""
from flask import current_app, jsonify

from desk import jobs
from desk.api import bp, json_body, string_field
from desk.audit.services import Actor
from desk.errors import ValidationError
from desk.extensions import db, limiter
from desk.policy import privacy as policy
from desk.privacy import requests
from desk.tickets.services import NAME_MAX


def _public_limit():
    return current_app.config["RATELIMIT_PUBLIC_FORMS"]


@bp.post("/privacy-requests")
@limiter.limit(_public_limit)
def file_privacy_request():
    data = json_body()
    rights = data.get("rights")
    if isinstance(rights, str):
        rights = [rights]
    if not isinstance(rights, list) or not all(isinstance(r, str) for r in rights):
        raise ValidationError("rights must be a list of strings: " + ", ".join(policy.RIGHTS) + ".",
                              {"rights": "a list of strings"})
    requester = data.get("requester") or {}
    if not isinstance(requester, dict):
        raise ValidationError("requester must be an object with email and name.", {"requester": "not an object"})
    new = requests.NewRequest(
        email=string_field(requester, "email") or string_field(data, "email") or "",
        name=string_field(requester, "name", max_len=NAME_MAX) or "", rights=rights,
        jurisdiction=(string_field(data, "jurisdiction") or "").lower(),
        details=string_field(data, "details", max_len=requests.MAX_DETAILS) or "",
        login=string_field(data, "login", max_len=NAME_MAX) or "", channel="api")
    request = requests.file(new, Actor("requester", None, "privacy requester"))
    db.session.commit()
    jobs.dispatch()
    due = requests.deadline(request)
    return jsonify({
        "reference": request.reference, "status": request.status, "rights": request.rights,
        "jurisdiction": request.jurisdiction, "received_at": request.received_at.isoformat(),
        "deadline": due.isoformat() if due else None,
        "verification": f"a one-time code was e-mailed to the address; it works for {policy.CODE_MINUTES} minutes "
                        f"and {policy.MAX_ATTEMPTS} attempts. Nothing is done or disclosed until it is entered "
                        f"({policy.VERIFY_RULE}).",
    }), 202
