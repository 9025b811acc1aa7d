"""The mail reader's pure parts: quoted history, what a free-form mail asks for, and
reading messages (no app, no database)."""
import pytest

from desk.mail import guess, parse
from desk.mail.quotes import split_quote


@pytest.mark.parametrize("text, new", [
    ("Thanks!\n\nOn Tue, 1 Dec 2026 at 10:00, Support <s@x> wrote:\n> Hello", "Thanks!"),
    ("Merci\n\nLe mar. 1 déc. 2026 à 10:00, Support <s@x> a écrit :\n> Bonjour", "Merci"),
    ("Gracias\nEl mar, 1 dic 2026, Support escribió:\n> Hola", "Gracias"),
    ("Obrigado\nEm ter., 1 de dez. de 2026, Support escreveu:\n> Olá", "Obrigado"),
    ("Спасибо\n\nВ вторник, Support написал:\n> Привет", "Спасибо"),
    ("Yes\n\nOn Tue, 1 Dec 2026 at 10:00, A Very Long Name\n<someone@example.com> wrote:\n> x", "Yes"),
    ("See below\n-----Original Message-----\nFrom: Support\nSent: Monday\n\nHello", "See below"),
    ("Fine\n________________________________\nFrom: Support <s@x>\nSent: Monday", "Fine"),
    ("Answer here\nFrom: Support <s@x>\nSent: Monday, 1 December\nTo: me\nSubject: Re", "Answer here"),
    ("Top\n\n> quoted one\n>\n> quoted two\n", "Top"),
])
def test_quoted_history_is_split_off(text, new):
    got_new, quoted = split_quote(text)
    assert got_new == new
    assert quoted and quoted in text


@pytest.mark.parametrize("text", [
    "Just a message with no history.",
    "> only a quote\n> nothing else",  # nothing of their own: keep it all
    "I wrote:\n> inline quote\nand my answer below it",  # interleaved: not a trailing block
    "From: my account page I cannot see the order.",  # a From: line that is not a header block
])
def test_nothing_is_cut_without_a_clear_history(text):
    assert split_quote(text) == (text, "")


def test_guesses_read_the_words_and_fall_back_sensibly():
    assert guess.category("They are harassing me and posted my address (doxxing)") == "3.3"
    assert guess.category("phishing site") == "3.2"
    assert guess.category("child panel customers are spamming") == "4.3"  # "child panel" is not 3.1
    assert guess.category("hello") == guess.DEFAULT_CATEGORY
    assert guess.rights("Please erase my account and send me a copy of my data") == ["deletion", "access"]
    assert guess.rights("Hi there") == ["access"]
    assert guess.jurisdiction("I am in California (CCPA)") == "ca"
    assert guess.jurisdiction("Article 17 GDPR") == "eu"
    assert guess.jurisdiction("Hello") == "other"
    assert guess.legal_right("our registered trademark") == "trademark"
    assert guess.links("see https://x.example/a, and https://x.example/a. Also http://y.example/b)") == [
        "https://x.example/a", "http://y.example/b"]
    assert guess.orders("Order #12345 and order id: 67890") == ["12345", "67890"]


def raw(headers: str, body: str = "Hello") -> bytes:
    return (headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body).encode()


def test_reads_ids_addresses_and_dates():
    parsed = parse.read(raw("""
From: "Alice, A." <Alice@Example.COM>
To: support@x.example, Billing <billing@x.example>
Cc: legal@x.example
Subject: =?utf-8?q?Caf=C3=A9?=   order
Message-ID: <abc@example.com>
In-Reply-To: <one@desk> (comment)
References: <root@desk> <one@desk>
Date: Wed, 02 Dec 2026 10:00:00 +0100
"""))
    assert (parsed.sender, parsed.sender_name) == ("alice@example.com", "Alice, A.")
    assert parsed.recipients == ["support@x.example", "billing@x.example", "legal@x.example"]
    assert parsed.subject == "Café order"
    assert parsed.message_id == "<abc@example.com>"
    assert parsed.thread_ids == ["<one@desk>", "<root@desk>"]
    assert parsed.date.utcoffset().total_seconds() == 3600
    assert parsed.auto is None


@pytest.mark.parametrize("header, reason", [
    ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
    ("Precedence: junk", "Precedence: junk"),
    ("X-Autoreply: yes", "X-Autoreply header"),
    ("List-Id: <news.example>", "mailing-list message"),
    ("Return-Path: <>", "null sender (a bounce)"),
])
def test_automatic_messages_are_known(header, reason):
    assert parse.read(raw(f"From: a@example.com\nSubject: x\n{header}")).auto == reason


def test_auto_submitted_no_is_a_person():
    assert parse.read(raw("From: a@example.com\nSubject: x\nAuto-Submitted: no")).auto is None
    assert parse.read(raw("From: mailer-daemon@example.com\nSubject: x")).auto == "sent from mailer-daemon@example.com"


@pytest.mark.parametrize("data, why", [
    (b"", "no headers"),
    (b"just some bytes without a header", "MissingHeaderBodySeparator"),
    (b"Subject: no sender\r\n\r\nHi", "no sender"),
    (b'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="zz"\r\n\r\nno parts', "broken MIME"),
    (b"From: a@example.com\r\nContent-Type: multipart/mixed\r\n\r\nno boundary", "broken MIME"),
    (b"From: a@example.com\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\r\n"
     b"--b\r\nContent-Type: text/plain\r\n\r\nreport\r\n--b--\r\n", "feedback report"),
])
def test_what_cannot_be_read_says_why(data, why):
    with pytest.raises(parse.Unreadable, match=why):
        parse.read(data)


def test_unknown_charset_never_fails():
    parsed = parse.read(b"From: a@example.com\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nQapla\xff")
    assert parsed.text.startswith("Qapla")
