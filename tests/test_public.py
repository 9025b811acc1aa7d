"""The public side, through HTTP only: the contact form, the requester's signed link,
their replies and downloads, and what they must never see."""
import base64
import hashlib
import io
import re

from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from conftest import csrf_from, post_form
from desk.audit.services import Actor
from desk.extensions import db
from desk.jobs import OutboxEntry
from desk.mail.models import OutboundMail
from desk.tickets.models import Attachment, Message, Ticket

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 256
REFERENCE_RE = re.compile(r"T-\d{2}-\d{6}")
LINK_RE = re.compile(r'href="(/t/[^"]+)"')
CSRF_MESSAGE = "CSRF check failed"
# Digits of the test card in any layout. (A bare "4111" can turn up in a page by chance,
# e.g. in the microseconds of a <time datetime>.)
CARD_RE = re.compile(r"4111[\s-]*1111|1111[\s-]*1111|5555555555554444")

FORM = {"name": "Alice Liddell", "email": "alice@example.com", "kind": "general", "order": "",
        "subject": "Order 1001 not delivered", "body": "It has been pending for two days."}


# --- helpers -----------------------------------------------------------------

def contact(client, files=(), **fields):
    """Post the contact form as a browser would (GET for the token, then multipart POST)."""
    data = {**FORM, **fields}
    if files:
        data["attachments"] = [(io.BytesIO(content), name) for name, content in files]
    return post_form(client, "/contact", data, content_type="multipart/form-data")


def html(response) -> str:
    return response.get_data(as_text=True)


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar()


def ticket_by_ref(app, reference) -> Ticket:
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        db.session.expunge(ticket)
        return ticket


def link_for(app, reference) -> str:
    from desk.tickets.links import make_token

    with app.app_context():
        return f"/t/{make_token(ticket_by_ref(app, reference))}"


def staff_reply(app, reference, body, *, internal, status=None, uploads=()):
    """A reply or internal note written by a staff member, as the staff page does it."""
    from desk.auth.services import create_staff, find_staff
    from desk.tickets import services
    from desk.tickets.attachments import Upload

    with app.app_context():
        ticket = services.find_ticket(reference)
        staff = find_staff("helper@desk.test") or create_staff(
            "helper@desk.test", "agent", "correct horse battery staple", Actor("system"), name="Helga Helper")
        message = services.staff_reply(ticket, Actor.staff(staff), body, internal=internal, status=status,
                                       staff=staff, uploads=[Upload(n, d) for n, d in uploads])
        return message.id, [a.id for a in message.attachments]


def reply_via_link(client, link, body, files=()):
    data = {"body": body}
    if files:
        data["attachments"] = [(io.BytesIO(content), name) for name, content in files]
    return post_form(client, link, data, content_type="multipart/form-data")


def swap_payload(token_a: str, token_b: str) -> str:
    """Token B's payload with token A's timestamp and signature: a tampered token."""
    _, ts_a, sig_a = token_a.rsplit(".", 2)
    payload_b = token_b.rsplit(".", 2)[0]
    return f"{payload_b}.{ts_a}.{sig_a}"


# --- the contact form ----------------------------------------------------------

def test_contact_form_renders_with_a_csrf_token(client):
    response = client.get("/contact")
    assert response.status_code == 200
    page = html(response)
    assert "Contact support" in page and 'enctype="multipart/form-data"' in page
    assert len(csrf_from(page)) > 20


def test_contact_form_files_a_web_ticket_and_shows_reference_and_link(app, client):
    response = contact(client)
    assert response.status_code == 200
    page = html(response)
    assert "We received your request" in page
    reference = REFERENCE_RE.search(page).group(0)
    link = LINK_RE.search(page).group(1)
    assert link.startswith("/t/")
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        assert ticket.channel == "web" and ticket.status == "new" and ticket.queue == "support"
        assert ticket.requester_email == "alice@example.com" and ticket.requester_name == "Alice Liddell"
        assert ticket.messages[0].body_text == FORM["body"]
        outbox = db.session.execute(select(OutboxEntry)).scalar_one()
        assert outbox.func == "workers.tickets.send_acknowledgement" and outbox.args == [ticket.id]
    # The link on the page opens this very ticket.
    opened = client.get(link)
    assert opened.status_code == 200 and reference in html(opened) and FORM["subject"] in html(opened)


def test_acknowledgement_mail_is_sent_by_the_worker_with_the_link(app, client, run_worker):
    page = html(contact(client))
    reference = REFERENCE_RE.search(page).group(0)
    link = LINK_RE.search(page).group(1)
    assert count(app, OutboundMail) == 0  # nothing is mailed in the request itself
    run_worker()
    with app.app_context():
        mail = db.session.execute(select(OutboundMail)).scalar_one()
        assert mail.dedupe_key == f"ack:{reference}"
        assert mail.status == "logged" and mail.sent_at is not None  # MAIL_SERVER unset: to the log
        assert mail.to_addr == "alice@example.com" and reference in mail.subject
        assert "http://desk.test/t/" in mail.body_text
        mailed_link = re.search(r"http://desk\.test(/t/\S+)", mail.body_text).group(1)
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        assert ticket.acknowledged_at is not None
    # The mailed link works just like the one on the page.
    assert client.get(mailed_link).status_code == 200
    assert client.get(link).status_code == 200


def test_acknowledgement_is_sent_once_however_often_it_runs(app, client, run_worker):
    from desk.jobs import queue_for
    from desk.tickets.notices import acknowledge

    reference = REFERENCE_RE.search(html(contact(client))).group(0)
    run_worker()
    ticket_id = ticket_by_ref(app, reference).id
    first_ack = ticket_by_ref(app, reference).acknowledged_at
    # The same job again through Redis, and twice by hand.
    with app.app_context():
        queue_for("default").enqueue("workers.tickets.send_acknowledgement", ticket_id)
    run_worker()
    with app.app_context():
        assert acknowledge(ticket_id) == "logged"
        assert acknowledge(ticket_id) == "logged"
    assert count(app, OutboundMail) == 1
    assert count(app, OutboundMail, OutboundMail.dedupe_key == f"ack:{reference}") == 1
    assert ticket_by_ref(app, reference).acknowledged_at == first_ack


def test_missing_fields_are_a_400_with_field_errors_and_typed_values_kept(app, client):
    response = contact(client, subject="", body="", email="alice@example.com", name="Alice Typed",
                       order="778899")
    assert response.status_code == 400
    page = html(response)
    assert "Please check the fields marked below." in page
    assert page.count('class="error" id=') == 2  # subject and body
    assert 'id="subject-error"' in page and 'id="body-error"' in page
    assert 'value="Alice Typed"' in page and 'value="778899"' in page and 'value="alice@example.com"' in page
    assert count(app, Ticket) == 0


def test_invalid_email_is_refused_and_the_message_kept(app, client):
    response = contact(client, email="not-an-address", body="My words stay here.")
    assert response.status_code == 400
    page = html(response)
    assert 'id="email-error"' in page and "My words stay here." in page
    assert count(app, Ticket) == 0


def test_contact_post_without_csrf_token_is_refused(app, client):
    response = client.post("/contact", data=FORM)
    assert response.status_code == 400
    assert CSRF_MESSAGE in html(response)
    assert count(app, Ticket) == 0


def test_contact_post_with_a_wrong_csrf_token_is_refused(app, client):
    client.get("/contact")
    response = client.post("/contact", data={**FORM, "csrf_token": "forged"})
    assert response.status_code == 400 and CSRF_MESSAGE in html(response)
    assert count(app, Ticket) == 0


# --- attachments on the contact form --------------------------------------------

def test_oversize_attachment_is_a_413_naming_file_and_limit_with_the_form_kept(make_app):
    app = make_app(ATTACHMENT_MAX_BYTES=1024)
    client = app.test_client()
    response = contact(client, files=[("server-log.txt", b"a" * 2048)],
                       subject="My typed subject", body="My typed body that must not be lost.")
    assert response.status_code == 413
    page = html(response)
    assert "server-log.txt" in page and "1.0 KB" in page
    assert 'role="alert"' in page
    assert 'value="My typed subject"' in page and "My typed body that must not be lost." in page
    assert count(app, Ticket) == 0 and count(app, Attachment) == 0 and count(app, OutboxEntry) == 0


def test_request_over_the_overall_size_cap_is_a_friendly_413(make_app):
    app = make_app(MAX_CONTENT_LENGTH=4096)
    client = app.test_client()
    response = contact(client, files=[("video.mp4", b"\x00" * 10_000)])
    assert response.status_code == 413
    page = html(response)
    assert "The upload is too large" in page and "nothing was sent" in page
    assert count(app, Ticket) == 0


def test_too_many_attachments_are_refused_with_the_form_kept(make_app):
    app = make_app(ATTACHMENT_MAX_FILES=2)
    client = app.test_client()
    response = contact(client, files=[(f"shot{i}.png", PNG) for i in range(3)], body="Three screenshots attached.")
    assert response.status_code == 422
    page = html(response)
    assert "At most 2 attachments per message." in page and "Three screenshots attached." in page
    assert count(app, Ticket) == 0 and count(app, Attachment) == 0


def test_executable_disguised_as_png_is_a_415(app, client):
    response = contact(client, files=[("holiday.png", ELF)])
    assert response.status_code == 415
    page = html(response)
    assert "holiday.png" in page and "not a type we accept" in page
    assert 'value="Order 1001 not delivered"' in page
    assert count(app, Ticket) == 0 and count(app, Attachment) == 0


def test_windows_executable_is_a_415(app, client):
    response = contact(client, files=[("invoice.pdf", b"MZ\x90\x00" + b"\x00" * 200)])
    assert response.status_code == 415 and "invoice.pdf" in html(response)
    assert count(app, Ticket) == 0


def test_png_upload_is_stored_with_sniffed_type_and_sha256(app, client):
    response = contact(client, files=[("../../screenshot.txt", PNG)])
    assert response.status_code == 200
    reference = REFERENCE_RE.search(html(response)).group(0)
    digest = hashlib.sha256(PNG).hexdigest()
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        attachment = db.session.execute(select(Attachment)).scalar_one()
        assert attachment.ticket_id == ticket.id and attachment.message_id == ticket.messages[0].id
        assert attachment.content_type == "image/png"  # from the bytes, not the name
        assert attachment.filename == "screenshot.txt"  # no path from the client
        assert attachment.sha256 == digest and attachment.size == len(PNG)
        stored = app.config["ATTACHMENT_DIR"] + f"/{digest[:2]}/{digest[2:4]}/{digest}"
    with open(stored, "rb") as fh:
        assert fh.read() == PNG


# --- redaction and markup ----------------------------------------------------------

def test_card_numbers_are_redacted_with_a_note(app, client):
    response = contact(client, subject="Charged twice on 5555555555554444",
                       body="I paid with 4111 1111 1111 1111 yesterday for order 1001.")
    assert response.status_code == 200
    page = html(response)
    assert "We removed 2 card numbers from your message" in page  # subject and body, one note
    assert not CARD_RE.search(page)
    reference = REFERENCE_RE.search(page).group(0)
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        message = ticket.messages[0]
        stored = " ".join([ticket.subject, message.body_text, message.body_html])
        assert "[card number removed]" in message.body_text and "order 1001" in message.body_text
        for fragment in ("4111", "1111 1111", "5555555555554444", "4444"):
            assert fragment not in stored
        assert message.redaction_note and "card number" in message.redaction_note


def test_redacted_card_never_reaches_the_requester_page(app, client):
    page = html(contact(client, body="Card 4111-1111-1111-1111 was charged."))
    link = LINK_RE.search(page).group(1)
    opened = html(client.get(link))
    assert not CARD_RE.search(opened) and "[card number removed]" in opened
    assert "card number" in opened and "Privacy Policy" in opened  # the note to the sender


XSS_SUBJECT = '<script>alert("subject")</script>Help me'
XSS_BODY = 'Hi <img src=x onerror=alert(1)> <script>alert("body")</script><a href="javascript:alert(3)">x</a>'


# The one script a page may carry: the staff ticket page's own file (who else is viewing).
OWN_SCRIPT = '<script src="/static/presence.js" defer></script>'


def assert_no_live_markup(page):
    page = page.replace(OWN_SCRIPT, "")
    assert "<script>alert" not in page and "<script" not in page
    assert "<img" not in page
    assert 'href="javascript:' not in page


def test_markup_in_subject_and_body_is_inert_on_the_requester_page(client):
    page = html(contact(client, subject=XSS_SUBJECT, body=XSS_BODY))
    assert_no_live_markup(page)
    opened = client.get(LINK_RE.search(page).group(1))
    assert opened.status_code == 200
    text = html(opened)
    assert_no_live_markup(text)
    assert "&lt;script&gt;" in text  # the subject is shown, escaped
    assert "Help me" in text


def test_markup_in_subject_and_body_is_inert_on_the_staff_ticket_page(app, client, auth):
    reference = REFERENCE_RE.search(html(contact(client, subject=XSS_SUBJECT, body=XSS_BODY))).group(0)
    auth.login("agent")
    response = client.get(f"/tickets/{reference}")
    assert response.status_code == 200
    page = html(response)
    assert_no_live_markup(page)
    assert "Help me" in page and "&lt;script&gt;" in page


# --- the requester link --------------------------------------------------------------

def test_requester_link_shows_the_ticket_and_its_messages(app, client, make_ticket):
    reference = make_ticket(subject="Refill please", body="My likes dropped by 300.")
    response = client.get(link_for(app, reference))
    assert response.status_code == 200
    page = html(response)
    assert reference in page and "Refill please" in page and "My likes dropped by 300." in page
    assert "Send reply" in page and csrf_from(page)


def test_internal_notes_never_appear_on_the_requester_page(app, client, make_ticket):
    reference = make_ticket()
    staff_reply(app, reference, "INTERNAL: customer looks like a reseller, check **order 1001**.", internal=True)
    staff_reply(app, reference, "We are **checking** your order now.", internal=False)
    page = html(client.get(link_for(app, reference)))
    assert "We are <strong>checking</strong> your order now." in page  # the public reply is there
    assert "INTERNAL" not in page and "reseller" not in page and "internal note" not in page
    assert "Support" in page  # staff shown as Support, never by name or e-mail
    assert "Helga" not in page and "helper@desk.test" not in page


def test_internal_note_added_through_the_staff_api_stays_hidden(app, client, make_ticket, api_key):
    reference = make_ticket()
    key = api_key("staff")
    response = client.post(f"/api/v1/tickets/{reference}/messages", headers={"Authorization": f"Bearer {key}"},
                           json={"body": "API NOTE: refund fraud suspected", "internal": True,
                                 "attachments": [{"filename": "evidence.png",
                                                  "content_base64": base64.b64encode(PNG).decode()}]})
    assert response.status_code == 201, response.get_data(as_text=True)
    page = html(client.get(link_for(app, reference)))
    assert "API NOTE" not in page and "fraud" not in page and "evidence.png" not in page


def test_internal_note_attachment_is_a_404_through_the_link(app, client, auth, make_ticket):
    reference = make_ticket()
    _, (internal_att,) = staff_reply(app, reference, "Evidence attached.", internal=True,
                                     uploads=[("evidence.png", PNG)])
    link = link_for(app, reference)
    assert "evidence.png" not in html(client.get(link))
    assert client.get(f"{link}/attachments/{internal_att}").status_code == 404
    # The attachment is real: staff can fetch it.
    auth.login("agent")
    assert client.get(f"/tickets/{reference}/attachments/{internal_att}").status_code == 200


def test_public_staff_reply_and_its_attachment_are_visible(app, client, make_ticket):
    reference = make_ticket()
    _, (public_att,) = staff_reply(app, reference, "Here is the receipt.", internal=False,
                                   uploads=[("receipt.png", PNG)])
    link = link_for(app, reference)
    page = html(client.get(link))
    assert "Here is the receipt." in page and "receipt.png" in page
    assert f"{link}/attachments/{public_att}" in page


def test_public_attachment_download_is_a_download_with_the_sniffed_type(app, client):
    page = html(contact(client, files=[("proof.txt", PNG)]))
    link = LINK_RE.search(page).group(1)
    with app.app_context():
        att_id = db.session.execute(select(Attachment.id)).scalar_one()
    response = client.get(f"{link}/attachments/{att_id}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"  # sniffed, though named .txt
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and "proof.txt" in disposition
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.data == PNG


def test_html_attachment_is_served_as_plain_text_download(app, client):
    page = html(contact(client, files=[("page.html", b"<html><script>alert(1)</script></html>")]))
    link = LINK_RE.search(page).group(1)
    with app.app_context():
        att_id = db.session.execute(select(Attachment.id)).scalar_one()
    response = client.get(f"{link}/attachments/{att_id}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["Content-Disposition"].startswith("attachment")


def test_a_token_opens_only_its_own_ticket_and_attachments(app, client, make_ticket):
    ref_a = make_ticket(requester_email="alice@example.com", subject="Alice ticket about refills")
    ref_b = make_ticket(requester_email="bob@example.com", subject="Bob secret ticket", body="Bob body")
    _, (att_b,) = staff_reply(app, ref_b, "File for Bob.", internal=False, uploads=[("bob.png", PNG)])
    link_a = link_for(app, ref_a)
    page = html(client.get(link_a))
    assert "Alice ticket about refills" in page and "Bob secret ticket" not in page and "bob@example.com" not in page
    assert client.get(f"{link_a}/attachments/{att_b}").status_code == 404
    assert client.get(f"{link_a}/attachments/999999").status_code == 404
    assert client.get(f"/t/{ref_b}").status_code == 404  # a bare reference is no token


def test_mangled_tokens_are_404(app, client, make_ticket):
    link = link_for(app, make_ticket())
    token = link[3:]
    for bad in (token[:-1], token + "x", token.upper(), token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
                ".".join(token.split(".")[:2]), "x", "...", token.replace(".", "", 1)):
        response = client.get(f"/t/{bad}")
        assert response.status_code == 404, bad
        assert "There is nothing here." in html(response)


def test_token_forged_with_another_secret_is_404(app, client, make_ticket):
    from desk.tickets.links import SALT

    reference = make_ticket()
    forged = URLSafeTimedSerializer("not-the-secret", salt=SALT).dumps({"t": reference, "e": "alice@example.com"})
    assert client.get(f"/t/{forged}").status_code == 404
    # The same payload signed with the real secret works, so only the signature decided.
    genuine = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=SALT).dumps(
        {"t": reference, "e": "alice@example.com"})
    assert client.get(f"/t/{genuine}").status_code == 200


def test_token_with_another_tickets_payload_is_404(app, client, make_ticket):
    ref_a = make_ticket(requester_email="alice@example.com")
    ref_b = make_ticket(requester_email="bob@example.com", subject="Bob secret ticket")
    token_a, token_b = link_for(app, ref_a)[3:], link_for(app, ref_b)[3:]
    tampered = swap_payload(token_a, token_b)
    response = client.get(f"/t/{tampered}")
    assert response.status_code == 404 and "Bob secret ticket" not in html(response)


def test_token_for_the_right_ticket_but_another_address_is_404(app, client, make_ticket):
    from desk.tickets.links import SALT

    reference = make_ticket(requester_email="alice@example.com")
    other = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=SALT).dumps(
        {"t": reference, "e": "mallory@example.com"})
    assert client.get(f"/t/{other}").status_code == 404


def test_token_with_a_malformed_payload_is_404_not_500(app, client):
    from desk.tickets.links import SALT

    signer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=SALT)
    for payload in (["T-26-000001"], {"t": 1, "e": "a@b.c"}, {"t": "T-26-000001"}, "T-26-000001", None):
        assert client.get(f"/t/{signer.dumps(payload)}").status_code == 404, payload


def test_token_signed_with_another_salt_is_404(app, client, make_ticket):
    reference = make_ticket()
    other = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="some.other-purpose").dumps(
        {"t": reference, "e": "alice@example.com"})
    assert client.get(f"/t/{other}").status_code == 404


def test_expired_token_is_404(make_app, make_ticket):
    reference = make_ticket()  # on the default app, same database
    expiring = make_app(REQUESTER_LINK_MAX_AGE=-1)
    link = link_for(expiring, reference)
    response = expiring.test_client().get(link)
    assert response.status_code == 404
    assert expiring.test_client().get(f"{link}/attachments/1").status_code == 404


def test_requester_reply_adds_a_message_and_reopens_a_waiting_ticket(app, client, make_ticket):
    reference = make_ticket()
    staff_reply(app, reference, "Which link did you use?", internal=False, status="waiting")
    assert ticket_by_ref(app, reference).status == "waiting"
    link = link_for(app, reference)
    response = reply_via_link(client, link, "It was https://instagram.com/p/abc", files=[("shot.png", PNG)])
    assert response.status_code == 302 and response.headers["Location"].endswith(link)
    page = html(client.get(link))
    assert "Your reply was added." in page and "https://instagram.com/p/abc" in page and "shot.png" in page
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        assert ticket.status == "open"
        last = ticket.messages[-1]
        assert last.author_kind == "requester" and not last.internal
        assert last.author_email == "alice@example.com"
        assert [a.content_type for a in last.attachments] == ["image/png"]


def test_requester_reply_is_redacted(app, client, make_ticket):
    reference = make_ticket()
    link = link_for(app, reference)
    assert reply_via_link(client, link, "My password is hunter2! card 4111 1111 1111 1111").status_code == 302
    page = html(client.get(link))
    assert "hunter2" not in page and not CARD_RE.search(page)
    with app.app_context():
        last = db.session.execute(select(Message).order_by(Message.id.desc()).limit(1)).scalar_one()
        assert "hunter2" not in last.body_text and "4111" not in last.body_text


def test_requester_reply_without_csrf_is_refused(app, client, make_ticket):
    reference = make_ticket()
    link = link_for(app, reference)
    response = client.post(link, data={"body": "No token here"})
    assert response.status_code == 400 and CSRF_MESSAGE in html(response)
    assert count(app, Message) == 1


def test_empty_requester_reply_is_a_400(app, client, make_ticket):
    reference = make_ticket()
    response = reply_via_link(client, link_for(app, reference), "   ")
    assert response.status_code == 400
    assert count(app, Message) == 1


def test_requester_reply_with_a_bad_attachment_keeps_the_text(app, client, make_ticket):
    reference = make_ticket()
    response = reply_via_link(client, link_for(app, reference), "Here is the program.", files=[("x.png", ELF)])
    assert response.status_code == 415
    page = html(response)
    assert "x.png" in page and "Here is the program." in page
    assert count(app, Message) == 1 and count(app, Attachment) == 0


def test_reply_through_a_tampered_token_is_404(app, client, make_ticket):
    ref_a = make_ticket(requester_email="alice@example.com")
    ref_b = make_ticket(requester_email="bob@example.com")
    link_a = link_for(app, ref_a)
    tampered = swap_payload(link_a[3:], link_for(app, ref_b)[3:])
    token = csrf_from(html(client.get(link_a)))
    response = client.post(f"/t/{tampered}", data={"csrf_token": token, "body": "Injected into Bob's ticket"})
    assert response.status_code == 404
    assert count(app, Message) == 2


# --- rate limit ----------------------------------------------------------------------

def test_contact_form_is_rate_limited_with_a_friendly_429(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PUBLIC_FORMS="2 per minute")
    client = app.test_client()
    assert contact(client).status_code == 200
    assert contact(client).status_code == 200
    response = contact(client)
    assert response.status_code == 429
    page = html(response)
    assert "Too many requests" in page and "try again" in page
    assert "Traceback" not in page
    assert count(app, Ticket) == 2
    # Reading the form is not limited.
    assert client.get("/contact").status_code == 200


def test_nul_characters_typed_into_the_form_are_dropped_not_a_500(app, client):
    response = contact(client, subject="Order\x00 1001", body="Nothing arrived\x00 yet.")
    assert response.status_code == 200
    with app.app_context():
        ticket = db.session.execute(select(Ticket)).scalar_one()
        assert ticket.subject == "Order 1001" and ticket.messages[0].body_text == "Nothing arrived yet."
