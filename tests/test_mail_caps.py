"""The auto-reply cap (issue 10): at most AUTO_REPLY_MAX_PER_HOUR automatic mails to one
address in any hour; beyond it the row is kept, marked suppressed, and never sent. Mail an
agent wrote is never held back. Through the real worker, on SQLite and PostgreSQL."""
import logging
from datetime import timedelta

import pytest

from sqlalchemy import select, update

from conftest import Auth, post_form
from desk.extensions import db
from desk.mail.models import OutboundMail
from desk.mail.outbound import compose
from desk.types import utcnow

ALICE = "alice@example.com"


def acks(app) -> list[OutboundMail]:
    with app.app_context():
        found = db.session.execute(select(OutboundMail).where(OutboundMail.dedupe_key.startswith("ack:"))
                                   .order_by(OutboundMail.id)).scalars().all()
        db.session.expunge_all()
        return found


def test_the_sixth_acknowledgement_in_an_hour_is_suppressed(app, make_ticket, run_worker, caplog):
    refs = [make_ticket(requester_email=ALICE, subject=f"Question {n}") for n in range(6)]
    with caplog.at_level(logging.WARNING, logger="desk.mail.outbound"):
        run_worker()
    rows = acks(app)
    assert [r.status for r in rows] == ["logged"] * 5 + ["suppressed"]
    held = rows[-1]
    assert held.dedupe_key == f"ack:{refs[-1]}" and held.sent_at is None and held.attempts == 0
    assert held.last_error == ("suppressed: 5 automatic mails to this address in the last hour already "
                               "(AUTO_REPLY_MAX_PER_HOUR=5)")
    assert [r.getMessage() for r in caplog.records if "suppressed" in r.getMessage()] == [
        f"mail ack:{refs[-1]} to {ALICE} suppressed: 5 automatic mails in the last hour "
        "(AUTO_REPLY_MAX_PER_HOUR=5)"]
    # The suppressed mail never goes, however often its job runs.
    run_worker()
    assert acks(app)[-1].status == "suppressed"


def test_the_cap_counts_one_address_in_any_case_and_no_other(app, make_ticket, run_worker):
    for n in range(3):
        make_ticket(requester_email=ALICE, subject=f"Lower {n}")
    for n in range(2):
        make_ticket(requester_email="Alice@Example.COM", subject=f"Upper {n}")
    make_ticket(requester_email="bob@example.com", subject="Bob's first")
    make_ticket(requester_email="ALICE@example.com", subject="The sixth")
    run_worker()
    by_address = [(r.to_addr.lower(), r.status) for r in acks(app)]
    assert by_address.count((ALICE, "logged")) == 5
    assert by_address.count((ALICE, "suppressed")) == 1
    assert ("bob@example.com", "logged") in by_address  # another address is not held back


def test_a_reply_an_agent_wrote_is_never_suppressed(app, client, make_ticket, run_worker):
    refs = [make_ticket(requester_email=ALICE, subject=f"Question {n}") for n in range(6)]
    run_worker()
    Auth(app, client).login("agent")
    response = post_form(client, f"/tickets/{refs[0]}", {"body": "Here is my answer.", "status": ""},
                         post_url=f"/tickets/{refs[0]}/reply")
    assert response.status_code == 302
    run_worker()
    with app.app_context():
        reply = db.session.execute(select(OutboundMail).where(OutboundMail.dedupe_key.startswith("reply:"))
                                   ).scalar_one()
        assert (reply.auto, reply.status, reply.last_error) == (False, "logged", None)


def test_after_the_hour_automatic_mail_flows_again(app, make_ticket, run_worker):
    for n in range(6):
        make_ticket(requester_email=ALICE, subject=f"Question {n}")
    run_worker()
    assert [r.status for r in acks(app)][-1] == "suppressed"
    with app.app_context():
        # An hour and a minute later: the five mails that went leave the rolling window.
        db.session.execute(update(OutboundMail).values(created_at=utcnow() - timedelta(minutes=61)))
        db.session.commit()
    make_ticket(requester_email=ALICE, subject="The next morning")
    run_worker()
    assert acks(app)[-1].status == "logged"


def test_the_cap_is_a_setting(make_app):
    with pytest.raises(ValueError, match="AUTO_REPLY_MAX_PER_HOUR must be at least 1"):
        make_app(AUTO_REPLY_MAX_PER_HOUR=0)
    app = make_app(AUTO_REPLY_MAX_PER_HOUR=2)
    with app.app_context():
        mails = [compose(f"test:{n}", ALICE, f"Notice {n}", "Body") for n in range(3)]
        assert [m.status for m in mails] == ["pending", "pending", "suppressed"]
        assert "AUTO_REPLY_MAX_PER_HOUR=2" in mails[-1].last_error
        # Notices to staff (SLA reminders, serious-harm pages) are never held back.
        pages = [compose(f"sla:{n}:1", "trust@desk.test", "Page", "Body") for n in range(4)]
        assert {m.status for m in pages} == {"pending"}
        db.session.rollback()
