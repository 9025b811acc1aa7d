"""Enforcement on a case through the staff pages (aup-5.3-enforcement, aup-5.4-forfeiture),
the account holder's notice and appeal (aup-appeal), disclosures (aup-5.5-disclosure),
the CSAM referral hold and the rights holder's answer (terms-23-referential-use)."""
from decimal import Decimal

from sqlalchemy import select

from abuse_helpers import link_in, mails, only_case, reported
from conftest import alert, csrf_from, get_ok, ledger_entry as entry, post_form, text_of
from desk.abuse.models import EnforcementAction, LegalHold
from desk.claims.ledger import customer_balances
from desk.claims.orders import find_customer
from desk.extensions import db
from desk.tickets.models import Ticket

D = Decimal
REASON = "Your order promoted a page that runs an investment scam (AUP 3.2)."


def bob_case(app, client, panel, **report):
    panel.customer("bob")
    panel.order("7001", customer="bob", link="https://www.instagram.com/p/SCAM1/")
    panel.ledger(entry("bob-d1", "deposit", "50.00", "bob"), entry("bob-p1", "promo_credit", "5.00", "bob",
                                                                   source="WELCOME"))
    reported(client, app, **report)
    return only_case(app)


def act(client, case, **fields):
    page = get_ok(client, f"/tickets/{case['ticket']}")
    data = {"csrf_token": csrf_from(page), "account": "bob", "reason": REASON, **fields}
    response = client.post(f"/abuse/cases/{case['id']}/actions", data=data)
    assert response.status_code == 302, response.status_code
    return get_ok(client, f"/tickets/{case['ticket']}")


def actions(app):
    with app.app_context():
        rows = db.session.execute(select(EnforcementAction).order_by(EnforcementAction.id)).scalars().all()
        return [(r.id, r.action, r.status, r.amount) for r in rows]


def balances(app, panel_id="bob"):
    with app.app_context():
        b = customer_balances(find_customer(panel_id))
        return b.deposited, b.promotional


def status_of(app, panel_id="bob"):
    with app.app_context():
        return find_customer(panel_id).status


def test_suspension_happens_is_logged_and_notified_with_reasons_and_appeal_link(app, client, panel, auth):
    case = bob_case(app, client, panel)
    auth.login("trust_safety")
    page = act(client, case, action="suspend")
    assert status_of(app) == "suspended"
    assert "Action taken: Suspend the account on bob (aup-5.3-enforcement)" in page
    [notice] = mails(app, "enforcement:")
    assert notice.to_addr == "bob@bob-shop.example"
    assert REASON in notice.body_text and "AUP §5.3 Enforcement" in notice.body_text
    assert "within 183 days" in notice.body_text and "/appeals/" in notice.body_text
    customer_page = get_ok(client, "/customers/bob")
    assert "1 strike" in customer_page and "Suspend the account" in customer_page


def test_forfeiture_waits_for_a_second_staff_member(app, client, panel, auth):
    case = bob_case(app, client, panel)
    auth.login("trust_safety", email="first@desk.test")
    page = act(client, case, action="forfeit_deposited")
    assert "Waiting for a second staff member" in page
    [(action_id, _, status, _)] = actions(app)
    assert status == "awaiting_approval" and balances(app) == (D("50.00"), D("5.00"))
    assert mails(app, "enforcement:") == []
    # The proposer cannot approve their own proposal, even by posting the form.
    response = client.post(f"/abuse/actions/{action_id}/approve", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 403
    assert actions(app)[0][2] == "awaiting_approval" and balances(app)[0] == D("50.00")
    # The case cannot be closed with a proposal pending.
    client.post(f"/abuse/cases/{case['id']}/close", data={"csrf_token": csrf_from(page), "outcome": "actioned",
                                                          "reason": "Scam confirmed by two reports."})
    assert "waiting for approval" in alert(get_ok(client, f"/tickets/{case['ticket']}"))
    auth.logout()

    auth.login("trust_safety", email="second@desk.test")
    page = get_ok(client, f"/tickets/{case['ticket']}")
    response = client.post(f"/abuse/actions/{action_id}/approve", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert actions(app)[0][2:] == ("done", D("50.00"))
    assert balances(app) == (D("0.00"), D("5.00"))  # Promotional Credit is its own action
    page = get_ok(client, f"/tickets/{case['ticket']}")
    assert "approved by second@desk.test" in page
    [notice] = mails(app, "enforcement:")
    assert "50.00 USD" in notice.body_text and "AUP §5.4" in notice.body_text
    # Approving twice is refused, not done twice.
    again = client.post(f"/abuse/actions/{action_id}/approve", data={"csrf_token": csrf_from(page)})
    assert again.status_code == 302 and balances(app)[0] == D("0.00")


def test_nothing_to_forfeit_and_bad_targets_are_refused_clearly(app, client, panel, auth):
    case = bob_case(app, client, panel)
    auth.login("trust_safety")
    page = act(client, case, action="cancel_promotional")
    assert balances(app) == (D("50.00"), D("0.00"))
    page = act(client, case, action="cancel_promotional")
    assert "nothing to cancel the promotional credit" in alert(page).lower()
    page = act(client, case, action="suspend", account="someone-else")
    assert "part of this case" in alert(page)
    page = act(client, case, action="block_identifier", identifier_kind="ip", identifier_value="not-an-ip")
    assert "not an IP address" in alert(page)
    page = act(client, case, action="explode")
    assert "Unknown action" in alert(page)
    page = act(client, case, action="warning", reason="short")
    assert "needs a written reason" in alert(page)
    page = act(client, case, action="block_identifier", identifier_kind="ip", identifier_value="203.0.113.9")
    assert [a[1] for a in actions(app)] == ["cancel_promotional", "block_identifier"]


def test_the_account_holder_appeals_and_someone_else_reverses(app, client, panel, auth):
    case = bob_case(app, client, panel)
    auth.login("trust_safety", email="actor@desk.test")
    act(client, case, action="suspend")
    appeal_path = link_in(mails(app, "enforcement:")[0])
    auth.logout()

    page = get_ok(client, appeal_path)
    assert "Suspend the account" in page and REASON in page
    response = post_form(client, appeal_path, {"body": "short"})
    assert response.status_code in (400, 422)
    response = post_form(client, appeal_path, {"body": "I did not know the page was a scam; I removed the order."})
    assert response.status_code == 302
    assert "being reviewed by someone who did not take the decision" in get_ok(client, appeal_path)
    assert only_case(app)["state"] == "appealed"
    # A second appeal on the same action is not taken, even when posted by hand.
    token = csrf_from(get_ok(client, "/report/abuse"))
    again = client.post(appeal_path, data={"csrf_token": token, "body": "Again, please look at it."})
    assert again.status_code == 409 and "already been contested" in text_of(again)

    auth.login("trust_safety", email="actor@desk.test")
    page = get_ok(client, f"/tickets/{case['ticket']}")
    assert "Decided by someone who took no part" in page
    with app.app_context():
        from desk.abuse.models import Appeal

        appeal_id = db.session.execute(select(Appeal.id)).scalar_one()
    response = client.post(f"/abuse/appeals/{appeal_id}/decide", data={
        "csrf_token": csrf_from(page), "outcome": "reversed", "reason": "I would like to reverse my own call."})
    assert response.status_code == 403 and status_of(app) == "suspended"
    auth.logout()

    auth.login("trust_safety", email="reviewer@desk.test")
    page = get_ok(client, f"/tickets/{case['ticket']}")
    response = client.post(f"/abuse/appeals/{appeal_id}/decide", data={
        "csrf_token": csrf_from(page), "outcome": "reversed", "reason": "The customer could not have known; lifted."})
    assert response.status_code == 302
    assert status_of(app) == "active"
    assert actions(app)[0][2] == "reversed"
    assert only_case(app)["state"] == "open"
    [decided] = mails(app, "appeal-decided:")
    assert "reversed" in decided.body_text and "could not have known" in decided.body_text
    assert "0 strikes" in get_ok(client, "/customers/bob")


def test_a_reversed_forfeiture_gives_the_funds_back(app, client, panel, auth):
    case = bob_case(app, client, panel)
    auth.login("trust_safety", email="one@desk.test")
    act(client, case, action="forfeit_deposited")
    auth.logout()
    auth.login("trust_safety", email="two@desk.test")
    page = get_ok(client, f"/tickets/{case['ticket']}")
    client.post(f"/abuse/actions/{actions(app)[0][0]}/approve", data={"csrf_token": csrf_from(page)})
    assert balances(app)[0] == D("0.00")
    auth.logout()
    post_form(client, link_in(mails(app, "enforcement:")[0]), {"body": "The deposit was mine and lawful."})
    auth.login("trust_safety", email="three@desk.test")
    page = get_ok(client, f"/tickets/{case['ticket']}")
    with app.app_context():
        from desk.abuse.models import Appeal

        appeal_id = db.session.execute(select(Appeal.id)).scalar_one()
    client.post(f"/abuse/appeals/{appeal_id}/decide", data={
        "csrf_token": csrf_from(page), "outcome": "reversed", "reason": "Forfeiture was out of proportion here."})
    assert balances(app) == (D("50.00"), D("5.00"))


def test_serious_harm_actions_send_no_notice_to_the_account_holder(app, client, panel, auth):
    case = bob_case(app, client, panel, category="3.1", description="Threat to life in the promoted post.")
    auth.login("trust_safety")
    page = act(client, case, action="terminate")
    assert status_of(app) == "terminated"
    assert mails(app, "enforcement:") == []
    assert "not notified (aup-5.6-serious-harm)" in page
    with app.app_context():
        from desk.sla.models import TicketClock

        clock = db.session.execute(select(TicketClock).where(TicketClock.rule == "aup-5.6-serious-harm")).scalar_one()
        assert clock.stopped_at is not None  # the first action stops the 1-hour clock


def test_an_agent_cannot_act_on_a_case(app, client, panel, auth):
    case = bob_case(app, client, panel)
    auth.login("agent")
    page = get_ok(client, "/queue")
    response = client.post(f"/abuse/cases/{case['id']}/actions", data={
        "csrf_token": csrf_from(page), "action": "suspend", "account": "bob", "reason": REASON})
    assert response.status_code == 403 and status_of(app) == "active"
    assert client.get(f"/abuse/cases/{case['id']}/disclosures.csv").status_code == 403


def test_disclosures_are_recorded_listed_and_exported(app, client, panel, auth):
    case = bob_case(app, client, panel)
    auth.login("trust_safety")
    page = get_ok(client, f"/tickets/{case['ticket']}")
    bad = client.post(f"/abuse/cases/{case['id']}/disclosures", data={
        "csrf_token": csrf_from(page), "what": "", "recipient": "", "basis": "x"})
    assert bad.status_code == 302 and "what" in alert(get_ok(client, f"/tickets/{case['ticket']}"))
    client.post(f"/abuse/cases/{case['id']}/disclosures", data={
        "csrf_token": csrf_from(page), "what": "Account e-mail and order 7001", "recipient": "=HYPERLINK(\"x\")",
        "basis": "Payment provider's fraud inquiry under its merchant agreement.",
        "disclosed_at": "2026-11-30T10:00+08:00"})
    page = get_ok(client, f"/tickets/{case['ticket']}")
    assert "Account e-mail and order 7001" in page
    export = client.get(f"/abuse/cases/{case['id']}/disclosures.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    lines = export.get_data(as_text=True).splitlines()
    assert lines[0].startswith("case,ticket,disclosed_at") and "2026-11-30T02:00:00+00:00" in lines[1]
    assert "'=HYPERLINK" in lines[1]  # a formula in a cell stays text


def test_a_csam_referral_holds_the_records_for_a_year(app, client, panel, auth):
    panel.customer("eve")
    panel.order("8001", customer="eve", link="https://bad.example/x")
    client.post("/api/v1/reports/abuse", json={
        "category": "3.1", "csam": True, "links": ["https://bad.example/x"], "description": "Reported material.",
        "reporter": {"email": "hotline@ngo.example"}})
    case = only_case(app)
    auth.login("trust_safety")
    page = get_ok(client, f"/tickets/{case['ticket']}")
    client.post(f"/abuse/cases/{case['id']}/disclosures", data={
        "csrf_token": csrf_from(page), "what": "URL, SHA-256 of the files, account e-mail and IP",
        "recipient": "National hotline / law enforcement", "referral": "y",
        "basis": "Mandatory report of child sexual abuse material."})
    with app.app_context():
        [hold] = db.session.execute(select(LegalHold)).scalars().all()
        assert hold.keep_until is not None and (hold.keep_until - hold.placed_at).days >= 364
        hold_id = hold.id
    page = get_ok(client, f"/tickets/{case['ticket']}")
    client.post(f"/abuse/holds/{hold_id}/release", data={"csrf_token": csrf_from(page),
                                                          "reason": "Case finished, releasing the hold."})
    assert "cannot be released before" in alert(get_ok(client, f"/tickets/{case['ticket']}"))


def test_closing_a_rights_case_answers_the_rights_holder_and_tells_reporters(app, client, auth):
    reported(client, app, "rights", category=None, right="trademark", work="ACME", good_faith=True,
             description="Your site names ACME on a tool page.")
    case = only_case(app)
    auth.login("trust_safety")
    page = get_ok(client, f"/tickets/{case['ticket']}")
    client.post(f"/abuse/cases/{case['id']}/close", data={"csrf_token": csrf_from(page), "outcome": "no_action",
                                                          "reason": "Plain-word name only, referential use."})
    assert "reply to the rights holder" in alert(get_ok(client, f"/tickets/{case['ticket']}"))
    client.post(f"/abuse/cases/{case['id']}/close", data={
        "csrf_token": csrf_from(page), "outcome": "reference_changed", "reason": "Reworded the tool page title.",
        "reply": "Thank you for your notice. We reviewed the reference in good faith and changed the wording."})
    with app.app_context():
        ticket = db.session.execute(select(Ticket)).scalar_one()
        assert ticket.status == "resolved"
        assert any(m.author_kind == "staff" and not m.internal and "good faith" in m.body_text
                   for m in ticket.messages)
        ack = next(c for c in ticket.clocks if c.name == "acknowledgement")
        assert ack.stopped_at is not None  # the reply answers the legal notice
    assert only_case(app)["state"] == "closed"
    [closed] = mails(app, "report-closed:")
    assert "closed" in closed.subject and "do not share" in closed.body_text
    assert "Closed" in get_ok(client, link_in(closed))
