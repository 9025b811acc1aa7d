"""The public report intakes (AUP §6, Terms §23): no key, rate limited, the reporter's
e-mail confirmed by a link before the report is worked (serious harm: at once)."""
from flask import current_app, jsonify

from desk.abuse import intake
from desk.api import bp, json_body, string_field
from desk.audit.services import Actor
from desk.errors import ValidationError
from desk.extensions import limiter
from desk.tickets.services import NAME_MAX
from desk.tickets.uploads import from_json


def _public_limit():
    return current_app.config["RATELIMIT_PUBLIC_FORMS"]


def _list(data: dict, name: str) -> list[str]:
    value = data.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        raise ValidationError(f"{name} must be a list of strings.", {name: "a list of strings"})
    if any("\x00" in str(v) for v in value):
        raise ValidationError(f"{name} must not contain NUL characters.", {name: "NUL character"})
    return [str(v) for v in value]


def _flag(data: dict, name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be true or false.", {name: "not a boolean"})
    return value


def _report(kind: str):
    data = json_body()
    reporter = data.get("reporter") or {}
    if not isinstance(reporter, dict):
        raise ValidationError("reporter must be an object with email and name.", {"reporter": "not an object"})
    new = intake.NewReport(
        kind=kind, category=string_field(data, "category") or "",
        reporter_email=string_field(reporter, "email") or "", reporter_name=string_field(reporter, "name", max_len=NAME_MAX) or "",
        links=_list(data, "links"), orders=_list(data, "orders"), description=string_field(data, "description") or "",
        csam=_flag(data, "csam"), right=string_field(data, "right") or "", work=string_field(data, "work", max_len=intake.MAX_WORK) or "",
        registration=string_field(data, "registration", max_len=NAME_MAX) or "", good_faith=_flag(data, "good_faith"),
        channel="api", uploads=from_json(data.get("evidence")),
    )
    report = intake.file_report(new, Actor("requester", None, new.reporter_email))
    missing = intake.missing_info(report)
    body = {
        "reference": report.reference, "kind": report.kind, "category": report.category,
        "status": intake.reporter_status(report),
        "confirmation": "not needed: serious harm is reviewed at once" if report.confirmed_at
        else "a link was e-mailed to the reporter; the report is reviewed once it is followed",
        "needs_info": {"rule": missing.rule, "text": missing.text} if missing else None,
    }
    return jsonify(body), 202


@bp.post("/reports/abuse")
@limiter.limit(_public_limit)
def report_abuse():
    return _report("abuse")


@bp.post("/reports/rights")
@limiter.limit(_public_limit)
def report_rights():
    return _report("rights")
