"""Macros (issue 10) through HTTP, on SQLite and PostgreSQL: supervisors and admins keep
them at /admin/macros; whoever may reply applies one on a ticket of its queue — a preview
with the placeholders filled (unknown ones flagged), then the reply and the actions in one
transaction. The claim macros quote the Terms' clause word for word."""
import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conftest import Auth, csrf_from, field_error, get_ok, iso, text_of
from desk.claims.models import Claim
from desk.extensions import db
from desk.macros import placeholders
from desk.macros.models import Macro
from desk.policy.clauses import CLAUSES
from desk.types import utcnow
from test_claims_ui import claim_of, events, messages_of
from test_staff_ui import signed_in, ticket_row


# --- helpers ------------------------------------------------------------------

def staff_id(app, email):
    from desk.auth.services import find_staff

    with app.app_context():
        return find_staff(email).id


def save_macro(client, url="/admin/macros", **fields):
    data = {"name": "Thanks", "queue": "", "body": "Hello {requester_name}", "set_status": "", "add_tags": "",
            "assign": "", "claim_outcome": ""}
    data.update(fields)
    page = get_ok(client, "/admin/macros")
    return client.post(url, data={"csrf_token": csrf_from(page), **data})


def macro_id(app, name) -> int:
    with app.app_context():
        return db.session.execute(select(Macro.id).where(Macro.name == name)).scalar_one()


def preview(client, ref, macro):
    page = get_ok(client, f"/tickets/{ref}")
    return client.post(f"/tickets/{ref}/macro", data={"csrf_token": csrf_from(page), "macro": str(macro)})


def reply_box(page: str) -> str:
    """The text in the macro's reply box, unescaped (as the browser would send it)."""
    match = re.search(r'<textarea id="macro-body" name="body"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, "no macro preview on the page"
    return html.unescape(match.group(1))


def apply(client, ref, macro, body):
    page = get_ok(client, f"/tickets/{ref}")
    return client.post(f"/tickets/{ref}/macro/apply",
                       data={"csrf_token": csrf_from(page), "macro": str(macro), "body": body})


def flash_error(page: str) -> str:
    match = re.search(r'<div class="flash error" role="alert"[^>]*>(.*?)</div>', page, re.S)
    return html.unescape(match.group(1)) if match else ""


def seed(app):
    from desk.macros.services import seed_claim_macros

    with app.app_context():
        return seed_claim_macros()


# --- keeping macros -----------------------------------------------------------

def test_a_supervisor_creates_edits_and_deactivates_a_macro(app):
    sup = signed_in(app, "supervisor")
    response = save_macro(sup, name="Refill on its way", queue="claims", body="Hi {requester_name}, {favourite}",
                          set_status="waiting", add_tags="Refill, Sent ", assign="me")
    assert response.status_code == 302
    page = get_ok(sup, "/admin/macros")
    assert "Macro “Refill on its way” created. Not placeholders the desk knows, left as typed: {favourite}." in page
    mid = macro_id(app, "Refill on its way")
    with app.app_context():
        macro = db.session.get(Macro, mid)
        assert (macro.queue, macro.set_status, macro.add_tags, macro.assign, macro.active) == (
            "claims", "waiting", ["refill", "sent"], "me", True)
    # The edit form shows the macro; saving changes it, audited with what changed.
    assert "Refill on its way" in get_ok(sup, f"/admin/macros/{mid}")
    response = save_macro(sup, url=f"/admin/macros/{mid}", name="Refill on its way", queue="claims",
                          body="Hi {requester_name}", set_status="resolved", add_tags="refill", assign="nobody")
    assert response.status_code == 302
    [updated] = events(app, "macro.updated")
    assert updated.data["changed"] == ["add_tags", "assign", "body", "set_status"]
    page = get_ok(sup, "/admin/macros")
    response = sup.post(f"/admin/macros/{mid}/deactivate", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Macro, mid).active is False
    assert [e.action for e in events(app, "macro.created") + events(app, "macro.deactivated")] == [
        "macro.created", "macro.deactivated"]


def test_an_agent_cannot_manage_macros(app):
    agent = signed_in(app, "agent")
    assert agent.get("/admin/macros").status_code == 403
    page = get_ok(agent, "/queue")
    assert agent.post("/admin/macros", data={"csrf_token": csrf_from(page), "name": "x", "body": "y"}).status_code == 403
    assert "/admin/macros" not in page  # no link in the menu either
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Macro)).scalar_one() == 0


@pytest.mark.parametrize("fields, problem", [
    ({"name": ""}, "name"),
    ({"body": ""}, "body"),
    ({"set_status": "exploded"}, "set_status"),
    ({"queue": "nowhere"}, "queue"),
    ({"assign": "999999"}, "assign"),
    ({"queue": "billing", "claim_outcome": "accepted"}, "claim_outcome"),
    ({"add_tags": "refill, " + "x" * 41}, "add_tags"),
])
def test_bad_macro_input_is_a_clear_4xx(app, fields, problem):
    admin = signed_in(app, "admin")
    response = save_macro(admin, **fields)
    assert response.status_code in (400, 422)
    assert field_error(text_of(response), problem)  # said under the field
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Macro)).scalar_one() == 0


def test_two_macros_of_one_queue_cannot_share_a_name(app):
    admin = signed_in(app, "admin")
    assert save_macro(admin, name="Thanks", queue="support").status_code == 302
    response = save_macro(admin, name="thanks", queue="support")
    assert response.status_code == 422
    assert flash_error(text_of(response)) == "Some fields need attention: name."
    assert field_error(text_of(response), "name") == "another macro of this queue has this name"
    assert save_macro(admin, name="Thanks", queue="billing").status_code == 302  # another queue may


# --- applying one -------------------------------------------------------------

def test_the_preview_fills_the_placeholders_and_flags_the_rest(app, make_ticket, panel):
    panel.customer("alice")
    ref = make_ticket(requester_name="Alice Smith", customer="alice", order="1001")
    bare = make_ticket(requester_name="", requester_email="bob@example.com")
    sup = signed_in(app, "supervisor")
    save_macro(sup, name="All of them", body="Hi {requester_name} ({customer_login}), about order {order_id} "
                                              "on {ticket_reference}: {favourite_colour}. {claim_clause}\n"
                                              "{agent_name}")
    mid = macro_id(app, "All of them")
    agent = signed_in(app, "agent", "ana@desk.test")
    page = text_of(preview(agent, ref, mid))
    assert reply_box(page) == (f"Hi Alice Smith (alice), about order 1001 on {ref}: {{favourite_colour}}. "
                               "{claim_clause}\nana@desk.test")
    warnings = page.split('id="placeholder-warnings"', 1)[1].split("</div>", 1)[0]
    assert "<code>{favourite_colour}</code>: not a placeholder the desk knows" in warnings
    assert "<code>{claim_clause}</code>: this ticket has no claim" in warnings
    # Nothing is sent by a preview.
    assert len(messages_of(app, ref)) == 1
    page = text_of(preview(agent, bare, mid))
    assert reply_box(page).startswith("Hi {requester_name} ({customer_login}), about order {order_id} on ")
    assert "<code>{requester_name}</code>: the requester gave no name" in page
    assert "<code>{order_id}</code>: this ticket names no order" in page


def test_sending_applies_the_reply_and_every_action_together(app, make_ticket, run_worker):
    ref = make_ticket(requester_name="Alice")
    sup = signed_in(app, "supervisor")
    save_macro(sup, name="Done", queue="support", body="Sorted, {requester_name}.", set_status="resolved",
               add_tags="macro-test, solved", assign="me")
    mid = macro_id(app, "Done")
    agent = signed_in(app, "agent")
    page = text_of(preview(agent, ref, mid))
    actions = page.split('class="macro-actions">', 1)[1].split("</ul>", 1)[0]
    assert re.findall(r"<li>(.*?)</li>", actions) == [
        "Set the status to Resolved", "Add the tags macro-test, solved", "Assign the ticket to you"]
    response = apply(agent, ref, mid, reply_box(page) + "\n\nAnything else, just reply.")
    assert response.status_code == 302
    assert "Reply sent with the macro “Done”." in get_ok(agent, f"/tickets/{ref}")
    ticket = ticket_row(app, ref)
    assert ticket.status == "resolved" and ticket.tags == ["macro-test", "solved"]
    assert ticket.assignee_id == staff_id(app, "agent@desk.test")
    reply = messages_of(app, ref)[-1]
    assert (reply.author_kind, reply.internal) == ("staff", False)
    assert reply.body_text == "Sorted, Alice.\n\nAnything else, just reply."
    [applied] = events(app, "macro.applied")
    assert applied.data == {"macro": mid, "name": "Done", "message": reply.id}
    assert applied.actor_id == str(staff_id(app, "agent@desk.test"))
    # Every action is audited in its own right, by the same person.
    for action in ("message.added", "ticket.status", "ticket.tags", "ticket.assignee"):
        assert events(app, action)[-1].actor_id == applied.actor_id
    # The reply reaches the requester by the worker, as every reply does.
    run_worker()
    from desk.mail.models import OutboundMail

    with app.app_context():
        mail = db.session.execute(select(OutboundMail).where(OutboundMail.dedupe_key == f"reply:{reply.id}")
                                  ).scalar_one()
        assert mail.status == "logged" and "Sorted, Alice." in mail.body_text


def test_a_macro_that_gives_the_ticket_to_someone_else_needs_a_supervisor(app, make_ticket):
    ref = make_ticket()
    admin = signed_in(app, "admin")
    bob = Auth(app, app.test_client()).staff("agent", "bob@desk.test")
    save_macro(admin, name="To Bob", body="Bob will take this.", assign=str(bob), set_status="on_hold")
    mid = macro_id(app, "To Bob")
    agent = signed_in(app, "agent")
    page = text_of(preview(agent, ref, mid))
    assert "needs a supervisor" in page  # said before sending
    response = apply(agent, ref, mid, "Bob will take this.")
    assert response.status_code == 403
    assert "This macro gives the ticket to someone else" in flash_error(text_of(response))
    ticket = ticket_row(app, ref)
    assert (ticket.assignee_id, ticket.status, len(ticket.messages)) == (None, "new", 1)  # nothing half-done
    sup = signed_in(app, "supervisor")
    assert apply(sup, ref, mid, "Bob will take this.").status_code == 302
    ticket = ticket_row(app, ref)
    assert (ticket.assignee_id, ticket.status) == (bob, "on_hold")


def test_a_macro_of_another_queue_cannot_be_applied(app, make_ticket):
    ref = make_ticket(kind="general")  # Support
    sup = signed_in(app, "supervisor")
    save_macro(sup, name="Billing only", queue="billing", body="About your invoice.", set_status="resolved")
    save_macro(sup, name="Everywhere", queue="", body="Hello.")
    billing, everywhere = macro_id(app, "Billing only"), macro_id(app, "Everywhere")
    agent = signed_in(app, "agent")
    page = get_ok(agent, f"/tickets/{ref}")
    options = page.split('id="macro-pick"', 1)[1].split("</select>", 1)[0]
    assert "Everywhere (every queue)" in options and "Billing only" not in options
    for response in (preview(agent, ref, billing), apply(agent, ref, billing, "About your invoice.")):
        assert response.status_code == 403
        assert flash_error(text_of(response)) == "The macro “Billing only” is for the Billing queue, not Support."
    assert len(messages_of(app, ref)) == 1 and ticket_row(app, ref).status == "new"
    assert events(app, "macro.applied") == []
    # A deactivated macro is gone from the ticket, and refused if posted anyway.
    page = get_ok(sup, "/admin/macros")
    sup.post(f"/admin/macros/{everywhere}/deactivate", data={"csrf_token": csrf_from(page)})
    assert 'id="macro-pick"' not in get_ok(agent, f"/tickets/{ref}")
    response = apply(agent, ref, everywhere, "Hello.")
    assert response.status_code == 404 and "no such macro" in flash_error(text_of(response))
    # Nonsense ids are a 404 too, never a 500.
    assert apply(agent, ref, "99999999999999999999", "x").status_code == 404
    assert preview(agent, ref, "abc").status_code == 404


def test_an_empty_reply_is_refused_and_the_preview_kept(app, make_ticket):
    ref = make_ticket()
    save_macro(signed_in(app, "admin"), name="Close", body="Closing.", set_status="closed")
    mid = macro_id(app, "Close")
    agent = signed_in(app, "agent")
    response = apply(agent, ref, mid, "   ")
    assert response.status_code == 422
    page = text_of(response)
    assert flash_error(page) == "Please write a message." and 'id="macro-body"' in page
    assert ticket_row(app, ref).status == "new" and len(messages_of(app, ref)) == 1


def test_placeholder_payloads_stay_inert_text(app, make_ticket):
    ref = make_ticket(requester_name='<img src=x onerror="alert(1)">{agent_name}')
    save_macro(signed_in(app, "admin"), name="Payloads",
               body="{__class__} {{7*7}} {{ config }} <script>alert(1)</script> [x](javascript:alert(1)) "
                    "Dear {requester_name}")
    mid = macro_id(app, "Payloads")
    agent = signed_in(app, "agent")
    page = text_of(preview(agent, ref, mid))
    box = reply_box(page)
    assert box == ('{__class__} {{7*7}} {{ config }} <script>alert(1)</script> [x](javascript:alert(1)) '
                   'Dear <img src=x onerror="alert(1)">{agent_name}')  # nothing evaluated, nothing expanded twice
    assert "<script>alert(1)</script>" not in page and '<img src=x' not in page  # escaped in the box
    assert "<code>{__class__}</code>: not a placeholder the desk knows" in page
    assert apply(agent, ref, mid, box).status_code == 302
    reply = messages_of(app, ref)[-1]
    # Nothing evaluated: the braces are text (Markdown reads __class__ as bold, nothing more).
    assert "49" not in reply.body_text and "{{7*7}}" in reply.body_text and "{{ config }}" in reply.body_text
    assert "{<strong>class</strong>}" in reply.body_html
    tags = set(re.findall(r"<([a-z]+)", reply.body_html))
    assert tags <= {"p", "strong"}, tags  # no <script>, no <img onerror>, no javascript: link
    assert "href" not in reply.body_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in reply.body_html  # shown as the text it is
    assert "agent@desk.test" not in reply.body_text  # the requester's "{agent_name}" stayed text


# --- the claim macros ---------------------------------------------------------

def refill_claim(panel) -> str:
    """Order 1001 delivered 1000 from 3572 and dropped to 4400: an eligible refill of 172."""
    panel.customer("alice")
    panel.order("1001", start_count=3572, tool={"id": "17", "name": "Likes [Refill 30d]", "refill": True,
                                                "refill_days": 30, "refill_min_drop": 0})
    response = panel.post("/claims", {"order": "1001", "kind": "refill", "current_count": 4400})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["reference"]


def late_claim(panel) -> str:
    """A non-delivery claim 100 h after the order completed: rejected by the claim window."""
    panel.customer("alice")
    now = utcnow()
    panel.order("1002", created_at=iso(now - timedelta(hours=110)), status_changed_at=iso(now - timedelta(hours=100)))
    response = panel.post("/claims", {"order": "1002", "kind": "non_delivery"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["reference"]


def test_accept_claim_quotes_the_clause_verbatim_and_closes_the_claim(app, panel):
    ref = refill_claim(panel)
    assert seed(app) == 2 and seed(app) == 0  # the seed runs once
    mid = macro_id(app, "Accept claim")
    agent = signed_in(app, "agent")
    page = text_of(preview(agent, ref, mid))
    assert 'id="placeholder-warnings"' not in page and 'id="macro-problem"' not in page
    assert "<li>Close the claim as accepted</li>" in page
    assert apply(agent, ref, mid, reply_box(page)).status_code == 302
    claim = claim_of(app, ref)
    assert (claim.status, claim.overridden, claim.decided_by_id) == ("accepted", False,
                                                                      staff_id(app, "agent@desk.test"))
    ticket = ticket_row(app, ref)
    assert ticket.status == "resolved" and "claim-accepted" in ticket.tags
    reply = messages_of(app, ref)[-1]
    assert reply.body_text.startswith("Hello,\n\nYour claim on order 1001 has been accepted.")
    assert "We will refill 172 on this order." in reply.body_text
    for rule in ("terms-10-refill",):
        title, words = CLAUSES[rule]
        assert f"{title}: {words}" in reply.body_text  # the Terms' words, exactly
        assert f"<strong>{html.escape(title, quote=False)}</strong>: {html.escape(words, quote=False)}" in reply.body_html
    assert reply.body_text.endswith("Best regards,\n\nagent@desk.test")
    # The same words as the claim panel's Accept button would have sent.
    from desk.claims import replies

    with app.app_context():
        expected = replies.compose(db.session.get(Claim, claim.id), "accepted")
    assert f"Hello,\n\n{expected}\n\nBest regards,\n\nagent@desk.test" == reply_box(page)
    [event] = events(app, "claim.accepted")
    assert event.data["decision"] == "eligible"


def test_reject_claim_quotes_the_claim_window(app, panel):
    ref = late_claim(panel)
    seed(app)
    agent = signed_in(app, "agent")
    mid = macro_id(app, "Reject claim")
    page = text_of(preview(agent, ref, mid))
    assert apply(agent, ref, mid, reply_box(page)).status_code == 302
    assert claim_of(app, ref).status == "rejected"
    title, words = CLAUSES["terms-7-claim-window"]
    assert f"{title}: {words}" in messages_of(app, ref)[-1].body_text


def test_a_claim_macro_against_the_terms_decision_is_refused(app, panel, make_ticket):
    ref = late_claim(panel)
    seed(app)
    agent = signed_in(app, "agent")
    mid = macro_id(app, "Accept claim")
    page = text_of(preview(agent, ref, mid))
    problem = ("The Terms' decision on this claim is rejected: closing it as accepted is an override, made in the "
               "claim panel with a reason.")
    assert html.unescape(page.split('id="macro-problem">', 1)[1].split("</div>", 1)[0]) == problem
    response = apply(agent, ref, mid, reply_box(page))
    assert response.status_code == 409 and flash_error(text_of(response)) == problem
    assert claim_of(app, ref).status == "open" and ticket_row(app, ref).status == "new"
    # A claim macro on a ticket with no claim is refused as clearly.
    other = make_ticket()
    response = apply(agent, other, mid, "Hello")
    assert response.status_code == 403  # the Claims queue's macro, on a Support ticket
    claims_ticket = make_ticket(kind="claim")  # a claim ticket filed without an order claim
    response = apply(agent, claims_ticket, mid, "Hello")
    assert response.status_code == 422
    assert flash_error(text_of(response)) == "This macro closes a claim, and this ticket has none."
    # Roles that reply on the Claims queue but do not decide claims get a 403.
    ts = signed_in(app, "trust_safety")
    response = apply(ts, late_claim_again(panel), macro_id(app, "Reject claim"), "Sorry.")
    assert response.status_code == 403 and flash_error(text_of(response)) == "Your role does not decide claims."


def late_claim_again(panel) -> str:
    now = utcnow()
    panel.order("1003", created_at=iso(now - timedelta(hours=110)), status_changed_at=iso(now - timedelta(hours=100)))
    return panel.post("/claims", {"order": "1003", "kind": "non_delivery"}).get_json()["reference"]


def test_fill_is_one_pass_over_a_fixed_dictionary():
    filled = placeholders.fill("{a} {requester_name} {agent_name} {{7*7}} {ticket_reference}",
                               {"requester_name": "{agent_name}", "agent_name": "Ana"},
                               {"ticket_reference": "why"})
    assert filled.text == "{a} {agent_name} Ana {{7*7}} {ticket_reference}"
    assert filled.unknown == ["{a}"] and filled.missing == {"ticket_reference": "why"}
