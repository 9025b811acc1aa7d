"""desk.policy.accounts, pure (Terms §4 Multi-Account Policy, §12 Promotions & Credit):
terms-4-multi-account and terms-12-promo, table-driven."""
import pytest

from desk.policy.accounts import (
    CATEGORIES, FREE_ACCOUNTS, PUBLIC_MAIL_DOMAINS, Account, mail_domain, multi_account, shared_promotions,
)
from desk.policy.claims import ELIGIBLE, NEEDS_REVIEW
from desk.policy.clauses import clause


# --- terms-4-multi-account -----------------------------------------------------------

@pytest.mark.parametrize("wanted, category, outcomes, says", [
    (1, "reseller", [ELIGIBLE], "Up to 10 accounts need no notice: 1 can be created without asking"),
    (10, "agency", [ELIGIBLE], "Up to 10 accounts need no notice: 10 can be created"),
    (10, "other", [ELIGIBLE], "Up to 10 accounts need no notice"),
    (11, "reseller", [NEEDS_REVIEW], "11 accounts is more than 10: support reviews the business need"),
    (11, "partner", [NEEDS_REVIEW], "may ask for more information or decline"),
    (10000, "agency", [NEEDS_REVIEW], "10000 accounts is more than 10"),
    (11, "other", [NEEDS_REVIEW, NEEDS_REVIEW], "say which applies"),
])
def test_multi_account(wanted, category, outcomes, says):
    reasons = multi_account(wanted, category)
    assert [r.outcome for r in reasons] == outcomes
    assert {r.rule for r in reasons} == {"terms-4-multi-account"}
    assert says in " ".join(r.text for r in reasons)


def test_the_free_allowance_is_the_terms_ten():
    assert FREE_ACCOUNTS == 10
    title, words = clause("terms-4-multi-account")
    assert "up to 10 accounts without prior notice" in words and title == "Terms §4 Multi-Account Policy"


def test_the_eligible_categories_are_those_the_terms_name():
    assert set(CATEGORIES) == {"reseller", "agency", "partner", "other"}
    for category in ("reseller", "agency", "partner"):
        assert len(multi_account(11, category)) == 1  # no "say which applies" for a named category


# --- mail_domain ---------------------------------------------------------------------

@pytest.mark.parametrize("email, domain", [
    ("alice@alice-shop.example", "alice-shop.example"),
    ("Alice@Alice-Shop.EXAMPLE", "alice-shop.example"),
    ("alice@alice-shop.example.", "alice-shop.example"),
    ("a@b@agency.example", "agency.example"),
    (" bob@agency.example ", "agency.example"),
    ("alice@gmail.com", None),
    ("alice@GMAIL.COM", None),
    ("alice@proton.me", None),
    ("alice@", None),
    ("no-at-sign", None),
    ("", None),
    (None, None),
])
def test_mail_domain(email, domain):
    assert mail_domain(email) == domain


def test_every_public_mail_domain_is_skipped():
    for public in PUBLIC_MAIL_DOMAINS:
        assert public == public.lower() and mail_domain(f"x@{public}") is None


# --- terms-12-promo ------------------------------------------------------------------

DOMAIN = ("email_domain", "agency.example")
IP = ("ip", "192.0.2.1")
CARD = ("payment", "fp-1")


def account(panel_id, identifiers=(), promotions=()):
    return Account(panel_id, frozenset(identifiers), frozenset(promotions))


@pytest.mark.parametrize("mine, theirs, shared, promotions", [
    (([DOMAIN], ["WELCOME"]), ([DOMAIN], ["WELCOME"]), (DOMAIN,), ("WELCOME",)),
    (([IP], ["WELCOME"]), ([IP], ["WELCOME"]), (IP,), ("WELCOME",)),
    (([CARD, IP], ["A", "B"]), ([CARD, IP], ["B", "C"]), (IP, CARD), ("B",)),
    (([DOMAIN], ["WELCOME"]), ([DOMAIN], ["OTHER"]), None, None),  # identifier but no promotion
    (([DOMAIN], ["WELCOME"]), ([IP], ["WELCOME"]), None, None),  # promotion but no identifier
    (([DOMAIN], []), ([DOMAIN], []), None, None),
    (([("email_domain", "gmail.com")], ["WELCOME"]), ([("email_domain", "gmail.com")], ["WELCOME"]), None, None),
])
def test_shared_promotions(mine, theirs, shared, promotions):
    me, other = account("alice", *mine), account("bob", *theirs)
    flags = shared_promotions(me, [other])
    if shared is None:
        assert flags == []
        return
    [flag] = flags
    assert (flag.other, flag.rule) == ("bob", "terms-12-promo")
    assert set(flag.shared) == set(shared) and flag.shared == tuple(sorted(shared))
    assert flag.promotions == promotions
    assert flag.text.startswith("Account bob shares ")
    assert f"also redeemed {', '.join(promotions)}" in flag.text


def test_the_flag_names_each_identifier_in_words():
    me = account("alice", [DOMAIN, IP, CARD], ["WELCOME"])
    [flag] = shared_promotions(me, [account("bob", [DOMAIN, IP, CARD], ["WELCOME"])])
    assert flag.text == ("Account bob shares e-mail domain agency.example; IP address 192.0.2.1; payment "
                         "fingerprint fp-1 and also redeemed WELCOME: one promotion claimed across several "
                         "accounts breaks the Terms.")


def test_a_public_domain_does_not_count_but_another_identifier_does():
    public = ("email_domain", "gmail.com")
    [flag] = shared_promotions(account("alice", [public, IP], ["WELCOME"]),
                               [account("bob", [public, IP], ["WELCOME"])])
    assert flag.shared == (IP,)


def test_the_account_itself_and_unrelated_accounts_are_not_flagged():
    me = account("alice", [DOMAIN], ["WELCOME"])
    others = [account("alice", [DOMAIN], ["WELCOME"]), account("carol", [IP], ["OTHER"]),
              account("bob", [DOMAIN], ["WELCOME"])]
    assert [f.other for f in shared_promotions(me, others)] == ["bob"]
    assert shared_promotions(me, []) == []


def test_one_flag_per_other_account_in_the_order_given():
    me = account("alice", [DOMAIN, IP], ["WELCOME"])
    others = [account(name, [DOMAIN], ["WELCOME"]) for name in ("dave", "bob", "carol")]
    assert [f.other for f in shared_promotions(me, others)] == ["dave", "bob", "carol"]


def test_the_promo_clause_is_quoted_verbatim():
    title, words = clause("terms-12-promo")
    assert title == "Terms §12 Promotions & Credit"
    assert words.startswith("Using promo codes across multiple accounts to claim a benefit intended for a single user")
