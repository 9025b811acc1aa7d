"""Mail in (issue 8): real LMTP/SMTP sessions to the desk's listener on loopback, and real
messages piped through `flask desk ingest-mail`, into the desks they are addressed to."""
import os
import re
import smtplib
import socket
import subprocess
import sys
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import select

from conftest import csrf_from, free_port, text_of
from desk.extensions import db
from desk.mail.models import InboundMail, OutboundMail
from desk.mail.server import DeskController
from desk.tickets.models import Message, Ticket

DOMAIN = "mail.smmpanelus.com"


def mail(frm="Alice Example <alice@example.com>", to=f"support@{DOMAIN}", subject="Order 1001 not delivered",
         body="Hello, my order 1001 has not arrived.", *, html=None, attachments=(), **headers) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = frm, to, subject
    msg["Message-ID"] = headers.pop("message_id", None) or make_msgid(domain="example.com")
    msg["Date"] = "Wed, 02 Dec 2026 10:00:00 +0000"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    if body is not None:
        msg.set_content(body)
    if html is not None:
        if body is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    for filename, maintype, subtype, data in attachments:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def ref(output: str) -> str:
    """The ticket reference in the command's answer ("filed T-26-000001: ...")."""
    match = re.search(r"T-\d{2}-\d{6}", output)
    assert match, output
    return match.group(0)


def lmtp_session(port: int, recipients: list[str], raw: bytes) -> list[str]:
    """An LMTP transaction as an MTA speaks it (RFC 2033): one reply per recipient after
    DATA, which smtplib's LMTP class does not read."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        reader = sock.makefile("rb")

        def reply() -> str:
            lines = []
            while True:
                line = reader.readline().decode()
                lines.append(line.strip())
                if line[3:4] != "-":
                    return "\n".join(lines)

        def command(text: str) -> str:
            sock.sendall(text.encode() + b"\r\n")
            return reply()

        assert reply().startswith("220")
        assert command("LHLO mta.test").startswith("250")
        assert command("MAIL FROM:<a@example.com>").startswith("250")
        for recipient in recipients:
            assert command(f"RCPT TO:<{recipient}>").startswith("250")
        assert command("DATA").startswith("354")
        lines = raw.replace(b"\r\n", b"\n").split(b"\n")
        body = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)
        sock.sendall(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        answers = [reply() for _ in recipients]
        command("QUIT")
        return answers


def ingest(runner, raw: bytes, *recipients, sender=None):
    args = ["desk", "ingest-mail"] + [x for r in recipients for x in ("-r", r)]
    if sender is not None:
        args += ["-f", sender]
    return runner.invoke(args=args, input=raw)


def rows(app, model, *where):
    with app.app_context():
        found = db.session.execute(select(model).where(*where).order_by(model.id)).scalars().all()
        db.session.expunge_all()
        return found


def ticket_of(app, reference) -> dict:
    with app.app_context():
        t = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        return {"queue": t.queue, "kind": t.kind, "subject": t.subject, "status": t.status, "channel": t.channel,
                "requester": t.requester_email,
                "messages": [(m.author_email, m.internal, m.body_text, m.body_html, m.email_message_id,
                              [(a.filename, a.content_type) for a in m.attachments]) for m in t.messages]}


@pytest.fixture
def listener(app):
    controllers = []

    def start(protocol="lmtp"):
        controller = DeskController(app, "127.0.0.1", free_port(), protocol)
        controller.start()
        controllers.append(controller)
        return controller

    yield start
    for controller in controllers:
        controller.stop()


# -- routing -------------------------------------------------------------------------

def test_lmtp_routes_each_published_address_to_its_desk(app, listener, run_worker):
    server = listener("lmtp")
    sent = {
        "support": mail(to=f"support@{DOMAIN}"),
        "billing": mail(to=f"billing@{DOMAIN}", subject="I was charged twice",
                        body="My deposit of $50 was taken twice on 1 December."),
        "abuse": mail(to=f"abuse@{DOMAIN}", frm="Bob <bob@example.org>", subject="Fake followers on my page",
                      body="Someone bought followers for https://instagram.com/victim without my permission."),
        "legal": mail(to=f"legal@{DOMAIN}", frm="Counsel <counsel@brand.example>", subject="ACME trademark",
                      body="Your listing https://panel.example/acme-likes uses our ACME trademark. "
                           "We have a good faith belief this use is not authorised."),
        "privacy": mail(to=f"privacy@{DOMAIN}", frm="Carol <carol@example.net>", subject="GDPR request",
                        body="Under the GDPR please delete all data you hold about me."),
    }
    with smtplib.LMTP("127.0.0.1", server.port) as lmtp:
        for route, raw in sent.items():
            refused = lmtp.sendmail("sender@example.com", [f"{route}@{DOMAIN}"], raw)
            assert refused == {}
    found = {row.route: row for row in rows(app, InboundMail)}
    assert set(found) == set(sent)
    assert all(row.status == "filed" for row in found.values()), {r: (x.status, x.detail) for r, x in found.items()}

    support = ticket_of(app, found["support"].detail.split()[2])
    assert (support["queue"], support["kind"], support["channel"]) == ("support", "general", "email")
    assert support["requester"] == "alice@example.com"
    billing = ticket_of(app, found["billing"].detail.split()[2])
    assert (billing["queue"], billing["kind"]) == ("billing", "billing")

    from desk.abuse.models import Report
    reports = {r.kind: r for r in rows(app, Report)}
    assert reports["abuse"].reporter_email == "bob@example.org"
    assert reports["abuse"].links == ["https://instagram.com/victim"]
    assert reports["abuse"].category == "4.1" and reports["abuse"].channel == "email"
    assert reports["abuse"].status == "unconfirmed"  # a person: confirms the address first
    assert reports["rights"].details["right"] == "trademark" and reports["rights"].details["good_faith"] is True
    assert found["abuse"].outcome == {"report": reports["abuse"].reference}

    from desk.privacy.models import PrivacyRequest
    (request,) = rows(app, PrivacyRequest)
    assert (request.email, request.rights, request.jurisdiction, request.channel) == (
        "carol@example.net", ["deletion"], "eu", "email")
    assert found["privacy"].outcome == {"privacy_request": request.id}

    run_worker()
    mails = {m.to_addr: m for m in rows(app, OutboundMail)}
    assert "We received your request" in mails["alice@example.com"].subject
    assert "Confirm your privacy request" in mails["carol@example.net"].subject
    assert "confirm" in mails["bob@example.org"].subject.lower()


def test_smtp_listener_refuses_unknown_mailboxes_at_rcpt(app, listener):
    server = listener("smtp")
    with smtplib.SMTP("127.0.0.1", server.port) as smtp:
        smtp.ehlo()
        assert smtp.mail("a@example.com")[0] == 250
        code, reply = smtp.rcpt("nobody@" + DOMAIN)
        smtp.rset()
        assert code == 550 and b"no such mailbox" in reply and b"support" in reply
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("a@example.com", ["sales@" + DOMAIN], mail(to="sales@" + DOMAIN))
    assert rows(app, InboundMail) == []


def test_lmtp_answers_once_per_recipient_and_files_once(app, listener):
    server = listener("lmtp")
    raw = mail(to=f"support@{DOMAIN}, billing@{DOMAIN}")
    answers = lmtp_session(server.port, [f"support@{DOMAIN}", f"billing+vip@{DOMAIN}"], raw)
    assert len(answers) == 2 and all(a.startswith("250 2.0.0 filed T-") for a in answers), answers
    (row,) = rows(app, InboundMail)
    assert row.route == "billing"  # the more particular desk takes a message sent to both
    assert len(rows(app, Ticket)) == 1


def test_size_limit_bounces_with_a_clear_reason(app, make_app, listener, runner):
    small = make_app(MAIL_MAX_BYTES=4096)
    server = DeskController(small, "127.0.0.1", free_port(), "smtp")
    server.start()
    try:
        big = mail(body="x" * 10_000)
        with smtplib.SMTP("127.0.0.1", server.port) as smtp:
            # Refused at MAIL FROM (the SIZE the client declares) or at the end of DATA.
            with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as refused:
                smtp.sendmail("a@example.com", [f"support@{DOMAIN}"], big)
        assert refused.value.smtp_code == 552
        assert b"larger than the 4.0 KB the desk accepts" in refused.value.smtp_error
    finally:
        server.stop()
    result = ingest(small.test_cli_runner(), big, f"support@{DOMAIN}")
    assert result.exit_code == 65
    assert "larger than the 4.0 KB" in result.output
    assert rows(small, InboundMail) == []


def test_cli_refuses_an_unknown_recipient_so_the_mta_bounces(runner, app):
    result = ingest(runner, mail(), f"sales@{DOMAIN}")
    assert result.exit_code == 67 and "no such mailbox" in result.output
    assert rows(app, InboundMail) == []


def test_a_real_pipe_from_an_mta_files_the_ticket(app, tmp_path):
    """`flask desk ingest-mail` as an MTA runs it: a new process, the message on stdin."""
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               SECRET_KEY="test-secret", INSTANCE_PATH=str(tmp_path / "pipe"), ATTACHMENT_DIR=app.config["ATTACHMENT_DIR"])
    raw = mail(subject="Piped in", message_id="<piped-1@example.com>")
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "desk", "desk", "ingest-mail", "-r",
                           f"support@{DOMAIN}"], input=raw, env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().startswith("filed T-")
    (row,) = rows(app, InboundMail)
    assert row.message_key == "<piped-1@example.com>"
    assert ticket_of(app, ref(done.stdout.decode()))["subject"] == "Piped in"


# -- parsing ---------------------------------------------------------------------------

def test_iso_8859_1_body_and_encoded_word_subject_are_decoded(app, runner):
    raw = (b"From: =?iso-8859-1?q?Jo=E3o_Gon=E7alves?= <joao@example.pt>\r\n"
           b"To: support@" + DOMAIN.encode() + b"\r\n"
           b"Subject: =?UTF-8?B?UGVkaWRvIG7Do28gZW50cmVndWUg4oCUIOKckw==?=\r\n"
           b"Message-ID: <latin1@example.pt>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=ISO-8859-1\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n"
           b"Ol\xe1, o meu pedido n\xe3o chegou. Obrigado, Jo\xe3o\r\n")
    result = ingest(runner, raw, f"support@{DOMAIN}")
    assert result.exit_code == 0, result.output
    ticket = ticket_of(app, ref(result.output))
    assert ticket["subject"] == "Pedido não entregue — ✓"
    assert ticket["messages"][0][2] == "Olá, o meu pedido não chegou. Obrigado, João"
    with app.app_context():
        assert db.session.execute(select(Ticket.requester_name)).scalar_one() == "João Gonçalves"


def test_html_only_mail_is_cleaned_and_quoted_history_folded(app, runner):
    html = ("<p>My order <b>1001</b> is stuck.</p><script>alert('x')</script><img src=x onerror=alert(1)>"
            "<p>On Tue, 1 Dec 2026 at 10:00, Support &lt;support@desk.localhost&gt; wrote:</p>"
            "<blockquote>We received your request</blockquote>")
    result = ingest(runner, mail(body=None, html=html), f"support@{DOMAIN}")
    assert result.exit_code == 0, result.output
    (_, _, body_text, body_html, _, _) = ticket_of(app, ref(result.output))["messages"][0]
    assert "alert" not in body_text and "<script" not in body_html and "onerror" not in body_html
    assert body_html.startswith("<p>My order 1001 is stuck.</p>")
    assert "<details><summary>Quoted text</summary>" in body_html and "We received your request" in body_html
    assert "We received your request" in body_text  # kept, only folded for display


def test_attachments_are_kept_like_uploads_and_refused_ones_named(app, runner):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    exe = b"MZ\x90\x00" + b"\x00" * 64
    raw = mail(attachments=[("proof.png", "image", "png", png), ("setup.exe", "application", "octet-stream", exe)])
    result = ingest(runner, raw, f"support@{DOMAIN}")
    assert result.exit_code == 0, result.output
    (_, _, body_text, _, _, files) = ticket_of(app, ref(result.output))["messages"][0]
    assert files == [("proof.png", "image/png")]
    assert "Attachments not kept" in body_text and "setup.exe" in body_text


def test_arf_feedback_report_becomes_an_abuse_report_with_its_fields(app, runner, run_worker):
    arf = (
        "From: <fbl@mailbox.example>\r\nTo: abuse@" + DOMAIN + "\r\nSubject: FW: Buy likes now\r\n"
        "Message-ID: <arf-1@mailbox.example>\r\nDate: Wed, 02 Dec 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="part"\r\n\r\n'
        "--part\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is an email abuse report for an email message received from IP 192.0.2.1.\r\n\r\n"
        "--part\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\nOriginal-Mail-From: <spam@panel-customer.example>\r\n"
        "Original-Rcpt-To: <user@mailbox.example>\r\nArrival-Date: Wed, 02 Dec 2026 08:00:00 +0000\r\n"
        "Source-IP: 192.0.2.1\r\nReported-Domain: panel-customer.example\r\n"
        "Reported-Uri: https://panel-customer.example/cheap-likes\r\n\r\n"
        "--part\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
        "From: <spam@panel-customer.example>\r\nTo: <user@mailbox.example>\r\nSubject: Buy likes now\r\n"
        "Message-ID: <spam-1@panel-customer.example>\r\n\r\nCheap likes at https://panel-customer.example/cheap-likes\r\n"
        "--part--\r\n").encode()
    result = ingest(runner, arf, f"abuse@{DOMAIN}")
    assert result.exit_code == 0, result.output
    from desk.abuse.models import Report
    (report,) = rows(app, Report)
    assert report.category == "4.3" and report.links == ["https://panel-customer.example/cheap-likes"]
    assert report.details["feedback"]["source_ip"] == "192.0.2.1"
    assert report.details["feedback"]["type"] == "abuse"
    assert report.status == "filed"  # a feedback loop confirms nothing: worked at once
    assert "Source-Ip: 192.0.2.1" in report.description and "Original Subject: Buy likes now" in report.description
    (row,) = rows(app, InboundMail)
    assert "ARF" in row.detail and row.ticket_id is not None
    run_worker()
    # RFC 3834: nothing is mailed back to a machine.
    assert [m for m in rows(app, OutboundMail) if m.to_addr == "fbl@mailbox.example"] == []


# -- threading -------------------------------------------------------------------------

def test_replies_thread_by_header_and_by_subject_and_reopen(app, runner, run_worker):
    first = ingest(runner, mail(message_id="<first@example.com>"), f"support@{DOMAIN}")
    reference = ref(first.output)
    run_worker()
    (ack,) = rows(app, OutboundMail)
    # The acknowledgement answers the message that opened the ticket, with its reference.
    assert ack.in_reply_to == "<first@example.com>" and ack.subject.startswith(f"[{reference}]")
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        ticket.status = "waiting"
        db.session.commit()
    by_header = mail(subject="Re: We received your request", body="Here is my order link.\n\n> quoted",
                     message_id="<second@example.com>", In_Reply_To=ack.message_id, References=ack.message_id)
    result = ingest(runner, by_header, f"support@{DOMAIN}")
    assert result.output.startswith(f"threaded {reference}"), result.output
    by_subject = mail(frm="alice@EXAMPLE.com", subject=f"Another thing [{reference}]", body="Also order 1002.")
    assert ingest(runner, by_subject, f"billing@{DOMAIN}").output.startswith(f"threaded {reference}")
    ticket = ticket_of(app, reference)
    assert [m[2].split("\n")[0] for m in ticket["messages"]] == [
        "Hello, my order 1001 has not arrived.", "Here is my order link.", "Also order 1002."]
    assert ticket["messages"][1][4] == "<second@example.com>"
    assert ticket["status"] == "open"  # the reply reopened it
    assert len(rows(app, Ticket)) == 1
    # A reply to the reply (References only) still finds the ticket.
    third = mail(subject="Re: Re:", body="Third.", References="<first@example.com> <second@example.com>")
    assert ingest(runner, third, f"support@{DOMAIN}").output.startswith(f"threaded {reference}")


def test_a_reply_from_a_stranger_is_held_and_an_agent_decides(app, runner, client, auth):
    reference = ref(ingest(runner, mail(message_id="<t1@example.com>"), f"support@{DOMAIN}").output)
    stranger = mail(frm="mallory@evil.example", subject=f"Re: [{reference}]", body="Send the refund to me instead.",
                    In_Reply_To="<t1@example.com>")
    result = ingest(runner, stranger, f"support@{DOMAIN}")
    assert result.output.startswith(f"held {reference}"), result.output
    assert len(ticket_of(app, reference)["messages"]) == 1  # not added
    auth.login("agent")
    page = text_of(client.get(f"/tickets/{reference}"))
    assert "Held for review" in page and "mallory@evil.example" in page and "Send the refund to me instead." in page
    (held,) = rows(app, InboundMail, InboundMail.status == "held")
    token = csrf_from(page)
    too_short = client.post(f"/mail/{held.id}/reject", data={"csrf_token": token, "reason": "no"})
    assert too_short.status_code == 302 and rows(app, InboundMail, InboundMail.status == "held")
    accepted = client.post(f"/mail/{held.id}/accept", data={"csrf_token": token})
    assert accepted.status_code == 302
    messages = ticket_of(app, reference)["messages"]
    assert messages[-1][0] == "mallory@evil.example" and messages[-1][1] is True  # an internal note
    (row,) = rows(app, InboundMail, InboundMail.id == held.id)
    assert row.status == "accepted" and row.raw is None and row.reviewed_by_id is not None
    # A second stranger's reply, rejected with a reason.
    ingest(runner, mail(frm="eve@evil.example", subject=f"[{reference}]", body="Me too."), f"support@{DOMAIN}")
    (second,) = rows(app, InboundMail, InboundMail.status == "held")
    client.post(f"/mail/{second.id}/reject", data={"csrf_token": token, "reason": "Not the customer; phishing."})
    assert rows(app, InboundMail, InboundMail.id == second.id)[0].status == "rejected"


def test_a_held_reply_keeps_its_preview_and_migration_0010_gives_one_to_those_held_before(app, runner, client, auth):
    from flask_migrate import downgrade, upgrade
    from desk.mail import parse

    reference = ref(ingest(runner, mail(message_id="<h1@example.com>"), f"support@{DOMAIN}").output)
    stranger = mail(frm="mallory@evil.example", subject=f"Re: [{reference}]", body="Send the refund to me instead.\n"
                    + "x" * 2100, In_Reply_To="<h1@example.com>")
    assert ingest(runner, stranger, f"support@{DOMAIN}").output.startswith(f"held {reference}")
    (held,) = rows(app, InboundMail, InboundMail.status == "held")
    assert held.preview == parse.preview(held.raw) and held.preview.endswith(" …") and len(held.preview) == 2002
    with app.app_context():
        db.session.remove()
        downgrade(revision="0009")
        try:
            upgrade()  # 0010 reads the held reply's bytes once
        finally:
            upgrade()
            db.engine.dispose()
    (again,) = rows(app, InboundMail, InboundMail.id == held.id)
    assert again.preview == held.preview
    auth.login("agent")
    page = text_of(client.get(f"/tickets/{reference}"))
    assert "Send the refund to me instead." in page and held.preview[-40:] in page


def test_held_replies_on_a_restricted_ticket_stay_with_its_desk(app, runner, client, auth):
    ingest(runner, mail(to=f"privacy@{DOMAIN}", frm="carol@example.net", subject="Access request",
                        body="Please send me a copy of my data.", message_id="<p1@example.net>"), f"privacy@{DOMAIN}")
    ingest(runner, mail(frm="mallory@evil.example", subject="Re: Access request", body="Me!",
                        In_Reply_To="<p1@example.net>"), f"privacy@{DOMAIN}")
    (held,) = rows(app, InboundMail, InboundMail.status == "held")
    auth.login("agent")
    token = csrf_from(text_of(client.get("/queue")))
    assert client.post(f"/mail/{held.id}/accept", data={"csrf_token": token}).status_code == 404
    assert rows(app, InboundMail, InboundMail.id == held.id)[0].status == "held"


# -- safety ----------------------------------------------------------------------------

def test_the_same_message_twice_is_one_ticket(app, runner, listener):
    raw = mail(message_id="<dup@example.com>")
    assert ingest(runner, raw, f"support@{DOMAIN}").output.startswith("filed")
    again = ingest(runner, raw, f"support@{DOMAIN}")
    assert again.exit_code == 0 and again.output.startswith("duplicate")
    server = listener("lmtp")
    with smtplib.LMTP("127.0.0.1", server.port) as lmtp:
        assert lmtp.sendmail("a@example.com", [f"support@{DOMAIN}"], raw) == {}
    assert len(rows(app, Ticket)) == 1 and len(rows(app, InboundMail)) == 1
    # No Message-ID at all: the same bytes are still the same message.
    bare = b"From: bob@example.com\r\nTo: support@x\r\nSubject: no id\r\n\r\nHello\r\n"
    ingest(runner, bare, f"support@{DOMAIN}")
    assert ingest(runner, bare, f"support@{DOMAIN}").output.startswith("duplicate")
    assert len(rows(app, Ticket)) == 2


def test_auto_replies_and_bounces_never_get_an_acknowledgement(app, runner, run_worker):
    vacation = mail(frm="dave@example.com", subject="Out of office", body="I am away until Monday.",
                    Auto_Submitted="auto-replied")
    result = ingest(runner, vacation, f"support@{DOMAIN}")
    assert result.output.startswith("filed"), result.output
    bulk = mail(frm="news@shop.example", subject="Our newsletter", body="Deals!", Precedence="bulk")
    ingest(runner, bulk, f"support@{DOMAIN}")
    null_sender = mail(frm="robot@example.com", subject="Notice", body="Automated.")
    ingest(runner, null_sender, f"support@{DOMAIN}", sender="")
    run_worker()
    assert rows(app, OutboundMail) == []  # three tickets, not one acknowledgement
    assert len(rows(app, Ticket)) == 3
    notes = [m for m in rows(app, Message) if m.author_kind == "system"]
    assert len(notes) == 3 and all("no mail loop" in m.body_text for m in notes)


def test_an_auto_reply_to_a_ticket_is_a_note_and_changes_nothing(app, runner, run_worker):
    reference = ref(ingest(runner, mail(message_id="<a1@example.com>"), f"support@{DOMAIN}").output)
    run_worker()
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        ticket.status = "waiting"
        db.session.commit()
    ooo = mail(subject=f"Automatic reply: [{reference}]", body="I am on holiday.", Auto_Submitted="auto-replied")
    assert ingest(runner, ooo, f"support@{DOMAIN}").output.startswith(f"threaded {reference}")
    ticket = ticket_of(app, reference)
    assert ticket["status"] == "waiting" and ticket["messages"][-1][1] is True
    assert "Automatic reply" in ticket["messages"][-1][2]
    run_worker()
    assert len(rows(app, OutboundMail)) == 1  # the first acknowledgement only


def test_a_delivery_report_marks_our_mail_bounced_and_tells_the_ticket(app, runner, run_worker):
    reference = ref(ingest(runner, mail(frm="typo@exmaple.com"), f"support@{DOMAIN}").output)
    run_worker()
    (ack,) = rows(app, OutboundMail)
    dsn = (
        "From: Mail Delivery System <MAILER-DAEMON@relay.example>\r\nTo: support@" + DOMAIN + "\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@relay.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; relay.example\r\n\r\n"
        "Final-Recipient: rfc822; typo@exmaple.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: support@desk.localhost\r\nTo: typo@exmaple.com\r\nMessage-ID: {ack.message_id}\r\n"
        "--b--\r\n").encode()
    result = ingest(runner, dsn, f"support@{DOMAIN}", sender="")
    assert result.output.startswith("bounced"), result.output
    (mail_row,) = rows(app, OutboundMail)
    assert mail_row.status == "bounced" and "5.1.1" in mail_row.last_error
    last = ticket_of(app, reference)["messages"][-1]
    assert last[1] is True and "could not be delivered" in last[2] and "User unknown" in last[2]
    assert len(rows(app, Ticket)) == 1
    run_worker()
    assert len(rows(app, OutboundMail)) == 1  # and the bounce was not answered


def test_a_broken_message_is_quarantined_with_its_bytes_and_shown_to_admins(app, runner, client, auth):
    broken = (b"From: Zed <zed@example.com>\r\nTo: support@" + DOMAIN.encode() + b"\r\nSubject: Broken\r\n"
              b"Message-ID: <broken@example.com>\r\nMIME-Version: 1.0\r\n"
              b'Content-Type: multipart/mixed; boundary="never-used"\r\n\r\n'
              b"This body has no boundary at all.\r\nMy order 1001 is late.\r\n")
    result = ingest(runner, broken, f"support@{DOMAIN}")
    assert result.exit_code == 0 and result.output.startswith("quarantined"), result.output
    assert "broken MIME structure" in result.output
    (row,) = rows(app, InboundMail)
    assert row.raw == broken and row.sender == "zed@example.com" and row.subject == "Broken"
    assert rows(app, Ticket) == []
    assert ingest(runner, broken, f"support@{DOMAIN}").output.startswith("duplicate")

    auth.login("agent")
    assert client.get("/mail").status_code == 403
    assert client.get(f"/mail/{row.id}/raw").status_code == 403
    auth.logout()
    auth.login("admin")
    listing = text_of(client.get("/mail?status=quarantined"))
    assert "zed@example.com" in listing and "quarantined" in listing
    page = text_of(client.get(f"/mail/{row.id}"))
    assert "Subject: Broken" in page and "This body has no boundary" not in page
    raw = client.get(f"/mail/{row.id}/raw")
    assert raw.data == broken and raw.headers["Content-Disposition"].startswith("attachment;")
    token = csrf_from(page)
    released = client.post(f"/mail/{row.id}/release", data={"csrf_token": token})
    assert released.status_code == 302
    (ticket,) = rows(app, Ticket)
    assert "My order 1001 is late." in ticket_of(app, ticket.reference)["messages"][0][2]
    first = rows(app, InboundMail, InboundMail.id == row.id)[0]
    assert first.status == "released" and first.raw is None


def test_discarding_needs_a_reason_and_restricted_mail_stays_with_its_desk(app, runner, client, auth):
    garbage = b"\x00\x01 not a message at all"
    ingest(runner, garbage, f"privacy@{DOMAIN}")
    (row,) = rows(app, InboundMail)
    assert row.status == "quarantined" and row.route == "privacy"
    auth.login("admin")
    assert client.get(f"/mail/{row.id}").status_code == 404  # privacy@ mail is the privacy officer's
    assert "not a message" not in text_of(client.get("/mail"))
    auth.logout()
    auth.login("privacy_officer", email="po@desk.test")
    page = text_of(client.get(f"/mail/{row.id}"))
    token = csrf_from(page)
    short = client.post(f"/mail/{row.id}/discard", data={"csrf_token": token, "reason": "junk"}, follow_redirects=True)
    assert "at least" in text_of(short)
    assert rows(app, InboundMail)[0].status == "quarantined"
    client.post(f"/mail/{row.id}/discard", data={"csrf_token": token, "reason": "Not mail: line noise from a scanner."})
    (after,) = rows(app, InboundMail)
    assert after.status == "discarded" and after.raw is None and "scanner" in after.review_note


def test_privacy_mail_keeps_no_identity_documents(app, runner):
    raw = mail(to=f"privacy@{DOMAIN}", frm="erin@example.com", subject="Copy of my data",
               body="I live in California. Send me what you hold (CCPA).",
               attachments=[("passport.png", "image", "png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)])
    result = ingest(runner, raw, f"privacy@{DOMAIN}")
    assert result.exit_code == 0, result.output
    from desk.privacy.models import PrivacyRequest
    (request,) = rows(app, PrivacyRequest)
    assert request.jurisdiction == "ca" and request.rights == ["access"]
    ticket = ticket_of(app, ref(result.output))
    assert all(files == [] for *_, files in ticket["messages"])
    assert "privacy-3-minimal" in request.details


def test_when_the_database_is_down_the_mta_is_asked_to_try_again(app, make_app):
    """Nothing is lost: no 250 and no exit 0 until the message is stored."""
    down = make_app(SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone",
                    SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 2}})
    result = ingest(down.test_cli_runner(), mail(), f"support@{DOMAIN}")
    assert result.exit_code == 75 and "try again later" in result.output
    server = DeskController(down, "127.0.0.1", free_port(), "lmtp")
    server.start()
    try:
        answers = lmtp_session(server.port, [f"support@{DOMAIN}", f"privacy@{DOMAIN}"], mail())
    finally:
        server.stop()
    assert answers == ["451 4.3.0 The desk cannot store mail just now; please try again later"] * 2


def test_the_mail_log_lists_what_each_role_may_open_and_counts_it(app, client, auth, make_ticket):
    """The log, its counts and each message's page ask one rule: a message on a ticket goes
    with the ticket's queue, one without a ticket with the desk it was sent to. The rule is
    in the query, so messages a role may not see do not crowd the ones it may out of a page."""
    support = make_ticket()
    private = make_ticket(kind="privacy", requester_email="carol@example.net")
    with app.app_context():
        def ticket_id(reference):
            return db.session.execute(select(Ticket.id).where(Ticket.reference == reference)).scalar_one()

        def add(key, status, route=None, ticket=None, sender="x@example.com"):
            row = InboundMail(message_key=key, route=route, ticket_id=ticket_id(ticket) if ticket else None,
                              recipients=[], sender=sender, status=status)
            db.session.add(row)
            db.session.flush()
            return row.id

        ids = {"unrouted": add("a", "quarantined", sender="unrouted@example.com"),
               "privacy@": add("b", "quarantined", "privacy", sender="privacy@example.com"),
               "abuse@": add("c", "quarantined", "abuse", sender="abuse@example.com"),
               "held": add("d", "held", "support", support, sender="held@example.com")}
        # Newer than all of them: 200 delivery reports (no desk) about mail on a privacy ticket.
        for n in range(200):
            add(f"bounce-{n}", "bounced", ticket=private, sender="mailer-daemon@example.com")
        ids["bounce"] = add("e", "bounced", ticket=private, sender="bounce@example.com")
        db.session.commit()

    sees = {"admin": {"unrouted", "held"}, "supervisor": {"unrouted", "held"},
            "trust_safety": {"unrouted", "abuse@", "held"},
            "privacy_officer": {"unrouted", "privacy@", "held", "bounce"}}
    for role, visible in sees.items():
        auth.login(role, email=f"{role}@desk.test")
        everything = text_of(client.get("/mail"))
        # The privacy officer sees the 201 newer reports too, so the older messages are on the status tabs.
        listing = everything if "bounce" not in visible else everything + "".join(
            text_of(client.get(f"/mail?status={status}")) for status in ("quarantined", "held"))
        for name, inbound_id in ids.items():
            sender = "bounce@example.com" if name == "bounce" else f"{name.rstrip('@')}@example.com"
            assert (sender in listing) == (name in visible), (role, name)
            assert client.get(f"/mail/{inbound_id}").status_code == (200 if name in visible else 404), (role, name)
        quarantined = len({"unrouted", "privacy@", "abuse@"} & visible)
        assert f'Quarantined <span class="badge warn">{quarantined}</span>' in everything, role
        assert 'Held <span class="badge warn">1</span>' in everything, role
        auth.logout()


@pytest.mark.parametrize("sender, ours", [
    ("support@desk.localhost", True),  # MAIL_FROM itself
    ("billing@desk.localhost", True),  # another published mailbox at our domain
    ("billing+x@desk.localhost", True),
    ("billing@example.com", False),  # the same mailbox name elsewhere is someone else
    ("alice@desk.localhost", False),  # our domain, but not one of our mailboxes
    ("alice@example.com", False),
])
def test_mail_from_the_desks_own_addresses_is_never_answered(app, sender, ours):
    from desk.mail.inbound import _from_ourselves

    with app.app_context():
        assert _from_ourselves(sender) is ours
