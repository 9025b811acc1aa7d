"""The daily dormancy job (terms-30-dormancy) run by a real RQ worker, with the clock moved
through the notice, freeze and forfeiture dates, on SQLite and PostgreSQL; running it
twice changes nothing the second time. Restoration requests are decided by those dates."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import select

from conftest import iso, ledger_entry as entry, post_form, text_of
from desk import jobs
from desk.claims.models import Customer, LedgerEntry
from desk.extensions import db
from desk.mail.models import OutboundMail
from desk.money.models import DormancyState
from desk.policy.dormancy import add_months

D = Decimal
UTC = timezone.utc
T0 = datetime(2025, 1, 10, 9, 30, tzinfo=UTC)  # the last login, deposit or order


def account(panel, customer, deposit, verified=True, promo="30.00"):
    panel.customer(customer, email_verified=verified, last_login_at=iso(T0), last_deposit_at=iso(T0),
                   last_order_at=iso(T0 - timedelta(days=3)))
    entries = [entry(f"{customer}-d", "deposit", deposit, customer, at=T0)]
    if promo:
        entries.append(entry(f"{customer}-p", "promo_credit", promo, customer, at=T0, source="SPRING"))
    panel.ledger(*entries)
    # The ledger feed counts the deposit as activity; it is the same moment as the login.


def run_job(app, run_worker, at: datetime):
    """The daily job as the schedule enqueues it, run by a real worker (which then also
    delivers the notices it composed)."""
    with app.app_context():
        job = jobs.queue_for("low").enqueue("workers.money.dormancy_run", iso(at))
    run_worker()
    with app.app_context():
        job.refresh()
        assert job.get_status() == "finished", job.exc_info
        return job.return_value()


def snapshot(app, customer):
    with app.app_context():
        row = db.session.execute(select(Customer).where(Customer.panel_id == customer)).scalar_one()
        state = db.session.get(DormancyState, row.id)
        entries = db.session.execute(select(LedgerEntry.kind, LedgerEntry.funding, LedgerEntry.amount)
                                     .where(LedgerEntry.customer_id == row.id,
                                            LedgerEntry.panel_id.like("desk:%"))
                                     .order_by(LedgerEntry.id)).all()
        mails = db.session.execute(select(OutboundMail.subject, OutboundMail.status)
                                   .where(OutboundMail.to_addr == row.email).order_by(OutboundMail.id)).all()
        fields = None if state is None else {
            k: getattr(state, k) for k in ("freeze_notice_at", "frozen_at", "deposited_at_freeze", "promo_forfeited",
                                           "forfeit_notice_at", "forfeited_at", "forfeited_amount")}
        return {"status": row.status, "state": fields, "entries": [tuple(e) for e in entries],
                "mails": [tuple(m) for m in mails]}


def test_standard_balance_notice_freeze_notice_forfeit_and_nothing_twice(app, panel, run_worker):
    account(panel, "alice", "500.00")
    freeze_due = add_months(T0, 12)

    run_job(app, run_worker, freeze_due - timedelta(days=15))
    assert snapshot(app, "alice")["state"] is None  # nothing due yet

    notice_at = freeze_due - timedelta(days=14)
    counts = run_job(app, run_worker, notice_at)
    assert counts["freeze_notice"] == 1
    after_notice = snapshot(app, "alice")
    assert after_notice["status"] == "active"
    assert after_notice["mails"] == [("Your balance will be frozen for inactivity", "logged")]
    assert run_job(app, run_worker, notice_at + timedelta(hours=1))["freeze_notice"] == 0
    assert snapshot(app, "alice") == after_notice  # the second run changed nothing

    # 13 days after the notice: the freeze is due by the calendar only after 14 days' notice.
    run_job(app, run_worker, notice_at + timedelta(days=13))
    assert snapshot(app, "alice")["status"] == "active"

    counts = run_job(app, run_worker, freeze_due)
    assert counts["freeze"] == 1
    frozen = snapshot(app, "alice")
    assert frozen["status"] == "frozen"
    assert frozen["state"]["frozen_at"] == freeze_due
    assert frozen["state"]["deposited_at_freeze"] == D("500.00")
    assert frozen["state"]["promo_forfeited"] == D("30.00")
    assert frozen["entries"] == [("forfeiture", "promotional", D("30.00"))]  # promo goes at the freeze
    run_job(app, run_worker, freeze_due + timedelta(days=1))
    assert snapshot(app, "alice") == frozen

    forfeit_due = add_months(freeze_due, 6)
    run_job(app, run_worker, forfeit_due - timedelta(days=14))
    noticed = snapshot(app, "alice")
    assert noticed["mails"][-1] == ("Your frozen balance will be forfeited", "logged")
    assert noticed["entries"] == frozen["entries"]

    counts = run_job(app, run_worker, forfeit_due)
    assert counts["forfeit"] == 1
    done = snapshot(app, "alice")
    assert done["entries"] == [("forfeiture", "promotional", D("30.00")), ("forfeiture", "deposited", D("500.00"))]
    assert done["state"]["forfeited_amount"] == D("500.00")
    run_job(app, run_worker, forfeit_due + timedelta(days=30))
    assert snapshot(app, "alice") == done
    with app.app_context():
        body = db.session.execute(select(OutboundMail.body_text).where(OutboundMail.to_addr == "alice@alice-shop.example")
                                  .order_by(OutboundMail.id)).scalars().all()
        assert "/billing?kind=restoration" in body[-1] and "terms-30-dormancy" in body[-1]


def test_larger_balance_unverified_no_notices_and_a_restoration_in_the_window(app, client, auth, panel, run_worker):
    account(panel, "bob", "1000.00", verified=False)
    freeze_due = add_months(T0, 12)
    run_job(app, run_worker, freeze_due - timedelta(days=14))
    assert snapshot(app, "bob")["state"] is None  # no notice to an unverified address
    run_job(app, run_worker, freeze_due)
    frozen = snapshot(app, "bob")
    assert frozen["status"] == "frozen" and frozen["mails"] == []
    # Six months on, 1,000.00 or more is not forfeited: restoration may be asked for 18 months.
    run_job(app, run_worker, add_months(freeze_due, 6) + timedelta(days=1))
    assert snapshot(app, "bob")["entries"] == [("forfeiture", "promotional", D("30.00"))]
    # A frozen Balance cannot be refunded or withdrawn; it can be restored.
    refused = panel.post("/withdrawals/quote", {"customer": "bob"}).get_json()
    assert refused["decision"] == "rejected" and refused["rules"] == ["terms-30-dormancy"]
    filed = panel.post("/restorations", {"customer": "bob", "description": "I am back."})
    body = filed.get_json()
    assert filed.status_code == 201 and body["decision"] == "needs_review"  # 1,000.00 is above the check amount
    assert body["status"] == "awaiting_verification"
    assert "18 months" in body["quote"]["reasons"][0]["text"]
    assert "never restored" in body["quote"]["reasons"][0]["text"]
    # While it is decided, the forfeiture at 18 months waits.
    run_job(app, run_worker, add_months(freeze_due, 18) + timedelta(days=1))
    assert snapshot(app, "bob")["state"]["forfeited_at"] is None
    auth.login("supervisor")
    post_form(client, f"/tickets/{body['reference']}", {"reason": "ID and card verified by video call."},
              post_url=f"/tickets/{body['reference']}/money/verify")
    post_form(client, f"/tickets/{body['reference']}", {"reason": ""},
              post_url=f"/tickets/{body['reference']}/money/approve")
    restored = snapshot(app, "bob")
    assert restored["status"] == "active"
    assert restored["entries"] == [("forfeiture", "promotional", D("30.00"))]  # nothing else moved
    with app.app_context():
        state = db.session.execute(select(DormancyState)).scalar_one()
        assert state.restored_at is not None and state.frozen_at is None
    # Inactivity now counts from the restoration, not from the old login.
    run_job(app, run_worker, add_months(freeze_due, 18) + timedelta(days=2))
    assert snapshot(app, "bob")["status"] == "active"


def test_restoration_after_forfeiture_is_goodwill_from_a_supervisor(app, client, auth, panel, run_worker):
    account(panel, "erin", "80.00", verified=False, promo=None)
    freeze_due = add_months(T0, 12)
    run_job(app, run_worker, freeze_due)
    run_job(app, run_worker, add_months(freeze_due, 6))
    assert snapshot(app, "erin")["entries"] == [("forfeiture", "deposited", D("80.00"))]
    body = panel.post("/restorations", {"customer": "erin"}).get_json()
    assert body["decision"] == "needs_review" and body["status"] == "pending_review"
    assert "goodwill" in body["quote"]["reasons"][0]["text"]
    auth.login("agent")
    post_form(client, f"/tickets/{body['reference']}", {"reason": "Long-standing customer."},
              post_url=f"/tickets/{body['reference']}/money/approve")
    assert snapshot(app, "erin")["status"] == "frozen"  # an agent may not grant goodwill
    auth.logout()
    auth.login("supervisor")
    post_form(client, f"/tickets/{body['reference']}", {"reason": ""},
              post_url=f"/tickets/{body['reference']}/money/approve")
    assert snapshot(app, "erin")["status"] == "frozen"  # goodwill needs a reason
    post_form(client, f"/tickets/{body['reference']}", {"reason": "Goodwill: hospital stay, documented."},
              post_url=f"/tickets/{body['reference']}/money/approve")
    done = snapshot(app, "erin")
    assert done["status"] == "active"
    assert done["entries"][-1] == ("adjustment", "deposited", D("80.00"))


def test_activity_after_the_notice_resets_and_a_negative_balance_survives(app, panel, run_worker):
    account(panel, "dave", "10.00", promo=None)
    account(panel, "carol", "10.00", verified=False, promo=None)
    panel.ledger(entry("carol-cb", "chargeback", "25.00", "carol", at=T0, funding="deposited"))
    freeze_due = add_months(T0, 12)
    run_job(app, run_worker, freeze_due - timedelta(days=14))
    assert snapshot(app, "dave")["state"]["freeze_notice_at"] is not None
    # Dave signs in before the freeze: the notice was for an inactivity that has ended.
    login = freeze_due - timedelta(days=3)
    panel.customer("dave", last_login_at=iso(login), email_verified=True)
    run_job(app, run_worker, freeze_due + timedelta(days=1))
    assert snapshot(app, "dave")["status"] == "active"
    # Carol's Balance is negative: frozen, nothing forfeited, the debt stays.
    carol = snapshot(app, "carol")
    assert carol["status"] == "frozen" and carol["state"]["deposited_at_freeze"] == D("-15.00")
    run_job(app, run_worker, add_months(freeze_due, 19))
    assert snapshot(app, "carol")["entries"] == []
    # Dave's next notice counts 12 months from the new login.
    run_job(app, run_worker, add_months(login, 12) - timedelta(days=14))
    assert len(snapshot(app, "dave")["mails"]) == 2


def test_the_command_and_the_customer_page(app, client, auth, panel, runner):
    account(panel, "alice", "500.00")
    freeze_due = add_months(T0, 12)
    result = runner.invoke(args=["desk", "dormancy", "--at", iso(freeze_due - timedelta(days=14))])
    assert result.exit_code == 0, result.output
    assert "1 freeze notice(s)" in result.output and "0 freeze(s)" in result.output
    bad = runner.invoke(args=["desk", "dormancy", "--at", "next tuesday"])
    assert bad.exit_code != 0 and "ISO 8601" in bad.output
    auth.login("agent")
    page = text_of(client.get("/customers/alice"))
    assert "Activity and dormancy" in page and "Freeze notice" in page and "sent" in page
    runner.invoke(args=["desk", "dormancy", "--at", iso(freeze_due)])
    page = text_of(client.get("/customers/alice"))
    assert "Frozen" in page and "500.00 Deposited Funds" in page and "30.00 Promotional Credit forfeited" in page
