"""Every quoted clause is the Terms' own words, and every rule id of the claims, money,
dormancy and accounts rules has one."""
import re
from pathlib import Path

import pytest

from desk.policy import abuse, accounts, claims, dormancy, money, privacy
from desk.policy.clauses import CLAUSES, PLAIN

TERMS = Path(__file__).resolve().parents[1] / "terms" / "smmpanelus-terms-aup-privacy.txt"


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("rule", sorted(CLAUSES))
def test_quotes_are_verbatim(rule):
    assert TERMS.exists(), f"the Terms are expected at {TERMS}"
    terms = squash(TERMS.read_text())
    for sentence in re.split(r"(?<=\.) ", CLAUSES[rule][1]):
        assert squash(sentence) in terms, f"{rule}: not in the Terms: {sentence!r}"


@pytest.mark.parametrize("module", [claims, money, dormancy, accounts, abuse, privacy], ids=lambda m: m.__name__)
def test_every_rule_has_a_clause(module):
    # Ids that carry a section number (terms-13-…, aup-5.3-…) quote that section; the
    # design's own rules (aup-appeal, aup-csam-handling…) have no clause to quote.
    rules = set(re.findall(r"(?:terms|aup|privacy)-[0-9][0-9.]*-[a-z-]+", module.__doc__))
    assert rules and rules <= set(CLAUSES), sorted(rules - set(CLAUSES))


@pytest.mark.parametrize("module", [claims, money, dormancy, accounts], ids=lambda m: m.__name__)
def test_every_rule_a_customer_meets_has_plain_words(module):
    # Claims, money, dormancy and accounts decisions are shown to customers (the portal,
    # the panel's pages through the API): each rule beside its clause in plain words.
    rules = set(re.findall(r"(?:terms|aup|privacy)-[0-9][0-9.]*-[a-z-]+", module.__doc__))
    assert rules and rules <= set(PLAIN), sorted(rules - set(PLAIN))


@pytest.mark.parametrize("rule", sorted(PLAIN))
def test_plain_words_explain_a_known_clause_in_short_sentences(rule):
    assert rule in CLAUSES or rule in ("terms-33-support-hours", "privacy-3-minimal"), rule
    words = PLAIN[rule]
    assert words.endswith(".") and len(words) < 400, rule
    assert rule not in words  # no rule ids in a customer's words: the clause names are shown beside them
