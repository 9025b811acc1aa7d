"""desk.policy.redaction: rule privacy-3-minimal (no card numbers, no passwords)."""

import dataclasses
import random
import time

import pytest

from desk.policy.redaction import Redaction, redact

CARD = "[card number removed]"
PWD = "[password removed]"
CODE = "[code removed]"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Visa 4111 1111 1111 1111 please refund", f"Visa {CARD} please refund"),
        ("Visa 4111-1111-1111-1111.", f"Visa {CARD}."),
        ("Visa 4111111111111111", f"Visa {CARD}"),
        ("MC 5555 5555 5555 4444", f"MC {CARD}"),
        ("MC 5105-1051-0510-5100", f"MC {CARD}"),
        ("MC 2223003122003222", f"MC {CARD}"),
        ("Amex 3782 822463 10005 ok", f"Amex {CARD} ok"),
        ("Amex 378282246310005", f"Amex {CARD}"),
        ("Amex 3714-496353-98431", f"Amex {CARD}"),
        ("Diners 3056 930902 5904", f"Diners {CARD}"),
        ("Visa 13 digits 4222222222222", f"Visa 13 digits {CARD}"),
        ("19 digits 6011 1111 1111 1111 110", f"19 digits {CARD}"),
        ("(4111111111111111)", f"({CARD})"),
        # card followed by the CVV, or preceded by an order id: still removed
        ("4111 1111 1111 1111 123", f"{CARD} 123"),
        ("order 1001 4111 1111 1111 1111", f"order 1001 {CARD}"),
    ],
)
def test_card_numbers_are_redacted(text, expected):
    result = redact(text)
    assert result.text == expected
    assert result.kinds == ("card_number",)
    assert result.count == 1


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",          # fails Luhn
        "4111111111111112",
        "order 1001",                          # order id
        "orders 1001, 1002 and 1003",
        "call +65 6123 4567",                  # phone
        "call +1 (415) 555-0132",
        "+44 20 7946 0958",
        "paid on 2024-01-15",                  # dates
        "between 2024-01-15 2024-02-20 2024-03",
        "on 15/01/2024 at 10:30",
        "1234567890123456789012345",           # 25 digits: never partly redacted
        "4111111111111111111111",              # 22 digits starting like a card
        "tracking 123456789012",               # 12 digits
        "",
    ],
)
def test_other_numbers_are_kept(text):
    result = redact(text)
    assert result == Redaction(text=text, kinds=(), count=0)
    assert result.note == ""


@pytest.mark.parametrize(
    "text, expected, kind",
    [
        ("my password is hunter2!", f"my password is {PWD}", "password"),
        ("OTP: 482913", f"OTP: {CODE}", "one_time_code"),
        ("Password=S3cr3t", f"Password={PWD}", "password"),
        ("PASSWORD: letmein", f"PASSWORD: {PWD}", "password"),
        ("passwd: abc def", f"passwd: {PWD} def", "password"),
        ("pwd=xyz", f"pwd={PWD}", "password"),
        ("the password was Tr0ub4dor&3 ok", f"the password was {PWD} ok", "password"),
        ('password is "correct horse battery"', f"password is {PWD}", "password"),
        ("my password hunter2", f"my password {PWD}", "password"),
        ("Password:\nhunter2", f"Password:\n{PWD}", "password"),
        ("otp 123456", f"otp {CODE}", "one_time_code"),
        ("the OTP code is 123456.", f"the OTP code is {CODE}", "one_time_code"),
        ("one-time code: 998877", f"one-time code: {CODE}", "one_time_code"),
        ("one time password is 998877", f"one time password is {CODE}", "one_time_code"),
        ("verification code 123456", f"verification code {CODE}", "one_time_code"),
        ("2FA code: 654321", f"2FA code: {CODE}", "one_time_code"),
        ("my PIN is 1234", f"my PIN is {CODE}", "one_time_code"),
        ("PIN 4821", f"PIN {CODE}", "one_time_code"),
        ("passcode=1234", f"passcode={CODE}", "one_time_code"),
        ("pass code: 1234", f"pass code: {CODE}", "one_time_code"),
    ],
)
def test_passwords_and_codes_are_redacted(text, expected, kind):
    result = redact(text)
    assert result.text == expected
    assert result.kinds == (kind,)
    assert result.count == 1


@pytest.mark.parametrize(
    "text",
    [
        "I forgot my password yesterday",
        "my password isn't working",
        "please reset my password",
        "password reset link expired",
        "Passwords are hard",
        "where do I find the OTP?",
        "pin the ticket please",
        "the passcode screen",
        "Password: [password removed]",   # already redacted: idempotent
    ],
)
def test_ordinary_sentences_are_kept(text):
    assert redact(text).text == text
    assert redact(text).count == 0


def test_two_cards_and_a_password():
    text = "cards 4111111111111111 and 5500 0000 0000 0004, pwd: x1"
    result = redact(text)
    assert result.text == f"cards {CARD} and {CARD}, pwd: {PWD}"
    assert result.count == 3
    assert result.kinds == ("card_number", "password")
    assert result.rule == "privacy-3-minimal"


def test_kinds_in_order_found():
    result = redact("OTP: 111111 then 4111 1111 1111 1111 then password is a")
    assert result.kinds == ("one_time_code", "card_number", "password")
    assert result.count == 3


def test_card_after_password_keyword_counts_as_card():
    result = redact("password is 4111 1111 1111 1111")
    assert result.text == f"password is {CARD}"
    assert result.kinds == ("card_number",)


def test_redacting_twice_changes_nothing():
    once = redact("card 4111 1111 1111 1111, password: hunter2, OTP 123456").text
    assert redact(once).text == once
    assert redact(once).count == 0


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("4111111111111111", ["removed 1 card number ", "Privacy Policy"]),
        ("4111111111111111 5555555555554444", ["removed 2 card numbers ", "Privacy Policy"]),
        ("password: x", ["removed 1 password ", "Privacy Policy"]),
        ("OTP 123456", ["removed 1 one-time code ", "Privacy Policy"]),
        ("4111111111111111 password: x OTP 1", ["removed 3 items", "card number", "password", "one-time code"]),
    ],
)
def test_note(text, fragments):
    note = redact(text).note
    for fragment in fragments:
        assert fragment in note
    assert note.endswith("(Privacy Policy §3).")


def test_note_example_sentence():
    assert redact("my card 4111 1111 1111 1111").note == (
        "We removed 1 card number from your message: the desk never stores "
        "card numbers or passwords (Privacy Policy §3)."
    )


def test_redaction_is_frozen():
    result = redact("x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.count = 5


@pytest.mark.parametrize(
    "text",
    [
        "1" * 100_000,
        "1-" * 50_000,
        "1234 " * 20_000,
        "password " * 12_000,
        "password:" * 12_000,
        "password is " * 9_000,
        "password " + " " * 100_000,
        "4111111111111111 pwd: x " * 4_000,
        "".join(random.Random(3).choice("0123456789 -abc:=\n") for _ in range(100_000)),
    ],
    ids=["digits", "digit-hyphen", "groups", "keywords", "colons", "is", "spaces", "mixed", "random"],
)
def test_large_inputs_are_fast(text):
    start = time.perf_counter()
    result = redact(text)
    assert time.perf_counter() - start < 5  # generous: linear time is ~0.1 s
    assert isinstance(result.text, str)
