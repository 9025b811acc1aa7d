"""Shared steps of the abuse-desk tests: reports sent as a reporter sends them, the mails
the desk wrote, and the links in them."""
import re
from urllib.parse import urlparse

from sqlalchemy import select

from desk.abuse.models import AbuseCase, Report
from desk.extensions import db
from desk.mail.models import OutboundMail

REPORTER = "reporter@watchdog.example"


def report_body(**fields) -> dict:
    body = {"category": "3.2", "links": ["https://www.instagram.com/p/SCAM1/"],
            "description": "This page runs a fake investment scheme promising 40% a week.",
            "reporter": {"email": REPORTER, "name": "Wendy Watch"}}
    body.update(fields)
    return body


def send_report(client, kind="abuse", **fields):
    return client.post(f"/api/v1/reports/{kind}", json=report_body(**fields))


def mails(app, prefix: str) -> list[OutboundMail]:
    with app.app_context():
        rows = db.session.execute(select(OutboundMail).where(OutboundMail.dedupe_key.startswith(prefix))
                                  .order_by(OutboundMail.id)).scalars().all()
        db.session.expunge_all()
        return rows


def link_in(mail: OutboundMail) -> str:
    """The path of the desk link in a mail."""
    match = re.search(r"https?://\S+", mail.body_text)
    assert match, mail.body_text
    return urlparse(match.group(0)).path


def confirm_latest(app, client):
    """Follow the confirmation link of the newest report, as the reporter does."""
    mail = mails(app, "report-confirm:")[-1]
    response = client.get(link_in(mail))
    assert response.status_code == 302, response.status_code
    return response


def reported(client, app, kind="abuse", **fields):
    """Send a report and confirm it; returns the report's reference."""
    response = send_report(client, kind, **fields)
    assert response.status_code == 202, response.get_json()
    if "serious harm" not in response.get_json()["confirmation"]:
        confirm_latest(app, client)
    return response.get_json()["reference"]


def only_case(app) -> dict:
    with app.app_context():
        case = db.session.execute(select(AbuseCase)).scalar_one()
        return {"id": case.id, "ticket": case.ticket.reference, "state": case.state, "severity": case.severity,
                "subjects": sorted(s.subject for s in case.subjects), "reports": [r.reference for r in case.reports],
                "serious_harm": case.serious_harm, "queue": case.ticket.queue, "priority": case.ticket.priority}


def report_row(app, reference: str) -> dict:
    with app.app_context():
        for report in db.session.execute(select(Report)).scalars():
            if report.reference == reference:
                return {"status": report.status, "case_id": report.case_id, "files": report.files,
                        "confirmed": report.confirmed_at is not None, "muted": report.muted}
    raise AssertionError(f"no report {reference}")
