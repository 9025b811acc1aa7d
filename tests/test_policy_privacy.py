"""desk.policy.privacy: the rights, the one-time code, what an erasure keeps, and the
scrubber that replaces a person's identifiers. Pure: no app, no database."""
import re
from datetime import datetime, timedelta, timezone

import pytest

from desk.policy import privacy as p

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("asked, rights, unknown", [
    (["access"], ["access"], []),
    (["know", "delete"], ["access", "deletion"], []),  # California's words
    (["Deletion", "erasure", "delete"], ["deletion"], []),  # each once
    (["opt_out_sale", "consent_withdrawal"], ["consent", "opt_out"], []),
    (["portability", "access"], ["access", "portability"], []),  # in RIGHTS order
    (["everything", "access"], ["access"], ["everything"]),
    ([], [], []),
    (None, [], []),
])
def test_rights_are_normalised(asked, rights, unknown):
    assert p.normalise_rights(asked) == (rights, unknown)


@pytest.mark.parametrize("rights, jurisdiction, problem", [
    (["access"], "eu", None),
    (["opt_out"], "ca", None),
    ([], "eu", "Choose at least one right."),
    (["access"], "us", "Say where you are"),
])
def test_rights_problem(rights, jurisdiction, problem):
    found = p.rights_problem(rights, jurisdiction)
    assert (found is None) if problem is None else found.startswith(problem)


def check(code="123456", typed="123456", sent=NOW - timedelta(minutes=1), attempts=0, now=NOW):
    stored = p.code_digest("secret", 7, code) if code else None
    return p.check_code(stored=stored, given_digest=p.code_digest("secret", 7, typed), sent_at=sent if code else None,
                        attempts=attempts, now=now)


@pytest.mark.parametrize("kwargs, ok, words", [
    ({}, True, "verified"),
    ({"typed": " 123456 "}, True, "verified"),  # spaces around a pasted code
    ({"typed": "654321"}, False, "2 attempts left"),
    ({"typed": "654321", "attempts": 1}, False, "1 attempt left"),
    ({"typed": "654321", "attempts": 2}, False, "no attempts are left"),
    ({"attempts": 3}, False, "tried 3 times"),  # the right code, a fourth time
    ({"sent": NOW - timedelta(minutes=10)}, True, "verified"),  # exactly 10 minutes
    ({"sent": NOW - timedelta(minutes=10, seconds=1)}, False, "expired"),
    ({"code": None}, False, "No code has been sent"),
])
def test_the_code_is_valid_ten_minutes_and_three_attempts(kwargs, ok, words):
    result = check(**kwargs)
    assert result.ok is ok and words in result.message


def test_a_code_is_bound_to_its_request_and_secret():
    assert p.code_digest("secret", 7, "123456") != p.code_digest("secret", 8, "123456")
    assert p.code_digest("secret", 7, "123456") != p.code_digest("other", 7, "123456")
    codes = {p.new_code() for _ in range(200)}
    assert all(re.fullmatch(r"\d{6}", c) for c in codes) and len(codes) > 150


def test_the_scrubber_replaces_identifiers_and_only_them():
    s = p.Scrubber(phrases={"Alice@Example.com": "E", "instagram.com/p/x": "L1", "instagram.com/p/xy": "L2"},
                   words={"alice": "P", "account:1001": "account:P"})
    text = ("Mail ALICE@example.com about instagram.com/p/xy and instagram.com/p/x. "
            "Malice alice alice.x alice_x account:1001 account:10012")
    # A login stands as a word: "malice" and "alice_x" are other words; "alice." ends a sentence.
    assert s.text(text) == ("Mail E about L2 and L1. Malice P P.x alice_x account:P account:10012")
    assert s.value({"alice": ["alice", {"n": 3, "t": "alice@example.com"}]}) == {"P": ["P", {"n": 3, "t": "E"}]}
    assert s.finds("hello alice") and not s.finds("hello malice")
    assert p.Scrubber().text("anything") == "anything"


def test_the_trie_matches_the_longest_needle_and_stays_one_pass():
    assert p.trie_pattern(["abc", "abd", "ab"]) == "ab(?:c|d)?"
    needles = [f"https://example.com/p/{n}" for n in range(10_000)]
    s = p.Scrubber(phrases={n: f"L{i}" for i, n in enumerate(needles)})
    # The longest needle wins: /p/9999 is not read as /p/999 followed by "9".
    assert s.text("see https://example.com/p/9999 and https://example.com/p/123.") == "see L9999 and L123."


@pytest.mark.parametrize("keys, expected", [
    ({"record"}, ["A record of this request"]),
    ({"ledger", "record", "tickets"}, ["Your balance movements", "The references", "A record of this request"]),
])
def test_what_an_erasure_keeps_is_listed_with_its_reason(keys, expected):
    lines = p.kept_lines(keys)
    assert [line["what"].split(" (")[0][:len(e)] for line, e in zip(lines, expected)] == expected
    answer = p.erasure_answer(lines)
    assert answer.startswith("Your personal data has been erased") and all(line["why"] in answer for line in lines)


def test_a_deferral_names_what_holds_it():
    text = str(p.deferral_answer(["legal hold 3 since 2026-11-01"]))  # Words: English as str()
    assert "cannot erase your data yet" in text and "legal hold 3" in text


def test_pseudonyms_are_undeliverable():
    assert p.pseudonym_email("c", 12) == "erased-c12@erased.invalid"
    assert p.pseudonym("r", 4) == "erased-r4"
