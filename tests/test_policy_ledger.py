"""desk.policy.ledger: the Balance (Terms §6, §9, §12, §16; DESIGN §2 "Money") and the automatic
returns of Partial and Canceled orders (terms-9-partial, terms-9-canceled).

Pure tests: no Flask app, no database.
"""
import random
from decimal import Decimal

import pytest

from desk.policy.ledger import (
    FIXED_FUNDING, FUNDING, KINDS, SIGNS, Balances, Entry, Return, balances, check_return, entry_problems,
    expected_return,
)

from hypothesis import given
from hypothesis import strategies as st


def D(value) -> Decimal:
    return Decimal(str(value))


def entry(kind, amount, funding="deposited") -> Entry:
    return Entry(kind, D(amount), funding)


def returned(status, charge, promo, quantity=1000, remains=0) -> Return | None:
    return expected_return(status, quantity, remains, D(charge), D(promo))


# --- SIGNS and balances() -----------------------------------------------------------------

@pytest.mark.parametrize("kind, sign", [
    ("deposit", 1), ("promo_credit", 1), ("return", 1), ("refund_credit", 1),
    ("charge", -1), ("refund", -1), ("withdrawal", -1), ("withdrawal_fee", -1), ("deduction", -1),
    ("forfeiture", -1), ("chargeback", -1),
    ("adjustment", 1),  # an adjustment carries its own sign in the amount
])
def test_signs(kind, sign):
    assert SIGNS[kind] == sign


def test_kinds_are_the_signs_table():
    assert KINDS == tuple(SIGNS)
    assert len(KINDS) == 12
    assert FUNDING == ("deposited", "promotional")


@pytest.mark.parametrize("kind, funding, delta", [
    ("deposit", "deposited", D("10.00")),
    ("promo_credit", "promotional", D("10.00")),
    ("return", "deposited", D("10.00")),
    ("return", "promotional", D("10.00")),
    ("charge", "deposited", D("-10.00")),
    ("charge", "promotional", D("-10.00")),
    ("refund", "deposited", D("-10.00")),
    ("withdrawal", "deposited", D("-10.00")),
    ("withdrawal_fee", "deposited", D("-10.00")),
    ("forfeiture", "deposited", D("-10.00")),
    ("forfeiture", "promotional", D("-10.00")),
    ("chargeback", "deposited", D("-10.00")),
    ("adjustment", "deposited", D("10.00")),
    ("adjustment", "promotional", D("10.00")),
])
def test_each_kind_moves_its_own_funding_source(kind, funding, delta):
    result = balances([entry(kind, "10.00", funding)])
    other = "promotional" if funding == "deposited" else "deposited"
    assert getattr(result, funding) == delta
    assert getattr(result, other) == D("0.00")


@pytest.mark.parametrize("amount, funding, expected", [
    ("-2.50", "deposited", Balances(D("-2.50"), D("0.00"))),
    ("2.50", "deposited", Balances(D("2.50"), D("0.00"))),
    ("-0.01", "promotional", Balances(D("0.00"), D("-0.01"))),
])
def test_adjustment_is_signed(amount, funding, expected):
    assert balances([entry("adjustment", amount, funding)]) == expected


def test_empty_ledger():
    result = balances([])
    assert result == Balances(D("0.00"), D("0.00"))
    assert result.total == D("0.00")


def test_deposited_and_promotional_are_kept_apart():
    result = balances([
        entry("deposit", "50.00"),
        entry("promo_credit", "5.00", "promotional"),
        entry("charge", "12.00", "deposited"),
        entry("charge", "3.00", "promotional"),
        entry("return", "1.20", "deposited"),
        entry("return", "0.30", "promotional"),
        entry("withdrawal", "10.00"),
        entry("withdrawal_fee", "1.00"),
    ])
    assert result.deposited == D("28.20")
    assert result.promotional == D("2.30")
    assert result.total == D("30.50")


def test_a_chargeback_can_make_the_balance_negative():
    """terms-16-negative: a chargeback or clawback is not clipped at zero."""
    result = balances([
        entry("deposit", "10.00"),
        entry("promo_credit", "2.00", "promotional"),
        entry("charge", "8.00"),
        entry("chargeback", "10.00"),
    ])
    assert result.deposited == D("-8.00")
    assert result.promotional == D("2.00")
    assert result.total == D("-6.00")


def test_balances_accepts_any_iterable():
    assert balances(e for e in [entry("deposit", "1.00")]).deposited == D("1.00")


# --- entry_problems() ---------------------------------------------------------------------

@pytest.mark.parametrize("kind, amount, funding", [
    ("deposit", "10.00", "deposited"),
    ("promo_credit", "5.00", "promotional"),
    ("return", "0.01", "deposited"),
    ("return", "0.01", "promotional"),
    ("charge", "3.5", "promotional"),
    ("refund", "1.00", "deposited"),
    ("withdrawal", "100", "deposited"),
    ("withdrawal_fee", "0.10", "deposited"),
    ("forfeiture", "4.00", "promotional"),
    ("chargeback", "20.00", "deposited"),
    ("adjustment", "-3.00", "deposited"),
    ("adjustment", "3.00", "promotional"),
])
def test_valid_entries_have_no_problems(kind, amount, funding):
    assert entry_problems(kind, D(amount), funding) == {}


@pytest.mark.parametrize("kind, amount, funding, field, words", [
    # amounts: positive, two decimals at most; only an adjustment is signed (but never zero)
    ("deposit", "0.00", "deposited", "amount", "positive"),
    ("charge", "-1.00", "deposited", "amount", "positive"),
    ("chargeback", "-5.00", "deposited", "amount", "positive"),
    ("adjustment", "0.00", "deposited", "amount", "not zero"),
    ("adjustment", "0", "promotional", "amount", "not zero"),
    ("deposit", "1.005", "deposited", "amount", "two decimals"),
    ("adjustment", "-0.001", "deposited", "amount", "two decimals"),
    # fixed funding: Deposited Funds are real money; Promotional Credit is never refundable/withdrawable
    ("deposit", "10.00", "promotional", "funding", "always deposited"),
    ("promo_credit", "10.00", "deposited", "funding", "always promotional"),
    ("withdrawal", "10.00", "promotional", "funding", "always deposited"),
    ("withdrawal_fee", "1.00", "promotional", "funding", "always deposited"),
    ("refund", "10.00", "promotional", "funding", "always deposited"),
    # unknown values
    ("gift", "10.00", "deposited", "kind", "one of deposit"),
    ("Deposit", "10.00", "deposited", "kind", "one of"),
    ("deposit", "10.00", "cash", "funding", "deposited or promotional"),
    ("charge", "10.00", "", "funding", "deposited or promotional"),
])
def test_entry_problems(kind, amount, funding, field, words):
    problems = entry_problems(kind, D(amount), funding)
    assert field in problems
    assert words in problems[field]


def test_entry_problems_reports_every_field():
    assert set(entry_problems("gift", D("1.001"), "cash")) == {"kind", "funding", "amount"}


def test_fixed_funding_table():
    assert FIXED_FUNDING == {
        "deposit": "deposited", "promo_credit": "promotional", "refund": "deposited",
        "withdrawal": "deposited", "withdrawal_fee": "deposited", "refund_credit": "deposited",
        "deduction": "deposited",
    }


# --- expected_return(): terms-9-partial ---------------------------------------------------

@pytest.mark.parametrize("charge, promo, quantity, remains, total, deposited, promotional", [
    # the undelivered share, rounded to the cent; promo share rounded to the cent; deposited = the rest
    ("1.00", "0.33", 3, 1, "0.33", "0.23", "0.10"),      # 1/3 → 0.33; promo 0.1089 cut to 0.10
    ("10.00", "0.00", 1000, 250, "2.50", "2.50", "0.00"),
    ("10.00", "4.00", 1000, 250, "2.50", "1.50", "1.00"),
    ("10.00", "4.00", 1000, 1000, "10.00", "6.00", "4.00"),  # nothing delivered: the whole charge
    ("10.00", "4.00", 1000, 0, "0.00", "0.00", "0.00"),
    ("1.00", "0.00", 3, 2, "0.67", "0.67", "0.00"),       # 0.6667 → 0.67
    ("0.05", "0.00", 2, 1, "0.03", "0.03", "0.00"),       # 0.025 → 0.03 (half up)
    ("0.07", "0.03", 3, 2, "0.05", "0.03", "0.02"),       # 0.0467 → 0.05; promo 0.0214 → 0.02
    # Rounding matters: rounding each side on its own would give 0.02 + 0.02 = 0.04 from 0.03.
    # The promo share 0.015 rounds half up to 0.02 and Deposited Funds take the remainder 0.01.
    ("0.10", "0.05", 3, 1, "0.03", "0.02", "0.01"),      # promo 0.015 cut to 0.01: never rounded up
    ("3.33", "1.11", 7, 3, "1.43", "0.96", "0.47"),       # 1.4271 → 1.43; promo 0.4767 cut to 0.47
    ("10.00", "10.00", 3, 1, "3.33", "0.00", "3.33"),      # paid fully by promo: returns fully as promo
    ("0.01", "0.01", 2, 1, "0.01", "0.00", "0.01"),
])
def test_partial_return(charge, promo, quantity, remains, total, deposited, promotional):
    owed = returned("partial", charge, promo, quantity, remains)
    assert owed.rule == "terms-9-partial"
    assert owed.total == D(total)
    assert (owed.deposited, owed.promotional) == (D(deposited), D(promotional))
    assert owed.deposited + owed.promotional == owed.total
    assert f"{remains} of {quantity} undelivered" in owed.text
    assert f"{deposited} Deposited Funds, {promotional} Promotional Credit" in owed.text


@pytest.mark.parametrize("remains, total", [(1500, "10.00"), (-5, "0.00")])
def test_partial_remains_is_clamped_to_the_order(remains, total):
    owed = returned("partial", "10.00", "0.00", 1000, remains)
    assert owed.total == D(total)


def test_partial_with_zero_quantity_returns_nothing():
    owed = returned("partial", "10.00", "0.00", 0, 0)
    assert owed.total == D("0.00")


@pytest.mark.parametrize("charge, quantity, remains", [
    ("10.00", 3, 1), ("0.99", 7, 5), ("123.45", 1000, 999), ("0.01", 10, 9),
])
def test_charge_paid_fully_by_promo_is_never_converted(charge, quantity, remains):
    for status in ("partial", "canceled"):
        owed = returned(status, charge, charge, quantity, remains)
        assert owed.deposited == D("0.00")
        assert owed.promotional == owed.total


# --- expected_return(): terms-9-canceled --------------------------------------------------

@pytest.mark.parametrize("charge, promo", [
    ("10.00", "4.00"), ("10.00", "0.00"), ("10.00", "10.00"), ("0.07", "0.03"), ("3.33", "1.11"),
    ("0.01", "0.00"), ("0.01", "0.01"), ("1234.56", "0.01"), ("0.00", "0.00"),
])
def test_canceled_returns_exactly_what_each_source_paid(charge, promo):
    owed = returned("canceled", charge, promo, 1000, 1000)
    assert owed.rule == "terms-9-canceled"
    assert owed.promotional == D(promo)
    assert owed.deposited == D(charge) - D(promo)
    assert owed.total == D(charge)
    assert "never turns Promotional Credit into Deposited Funds" in owed.text


def test_canceled_ignores_remains():
    """A Canceled order returns the full charge whatever was delivered."""
    assert returned("canceled", "10.00", "4.00", 1000, 0) == returned("canceled", "10.00", "4.00", 1000, 1000)


@pytest.mark.parametrize("status", ["completed", "pending", "in_progress"])
def test_no_return_for_other_statuses(status):
    assert returned(status, "10.00", "4.00", 1000, 300) is None


# --- the split as a property -------------------------------------------------------------

def check_split(charge: Decimal, promo: Decimal, quantity: int, remains: int):
    for status in ("partial", "canceled"):
        owed = expected_return(status, quantity, remains, charge, promo)
        assert owed.deposited + owed.promotional == owed.total
        assert owed.deposited >= 0 and owed.promotional >= 0
        assert owed.promotional <= promo
        assert owed.deposited <= charge - promo
        assert owed.total <= charge
        assert owed.deposited == owed.deposited.quantize(D("0.01"))
        assert owed.promotional == owed.promotional.quantize(D("0.01"))


def test_split_sweep():
    """A seeded sweep over the awkward small figures, beside the property test below."""
    rng = random.Random(20260703)
    for _ in range(500):
        cents = rng.choice([1, 2, 3, 7, 10, 33, 99, 100, 101, 333, 1000, rng.randint(1, 10**6)])
        promo_cents = rng.choice([0, cents, rng.randint(0, cents)])
        quantity = rng.choice([1, 2, 3, 7, 1000, rng.randint(1, 10**5)])
        remains = rng.randint(0, quantity)
        check_split(Decimal(cents) / 100, Decimal(promo_cents) / 100, quantity, remains)


@st.composite
def orders(draw):
    cents = draw(st.integers(min_value=0, max_value=10**7))
    promo_cents = draw(st.integers(min_value=0, max_value=cents))
    quantity = draw(st.integers(min_value=1, max_value=10**6))
    remains = draw(st.integers(min_value=0, max_value=quantity))
    return Decimal(cents) / 100, Decimal(promo_cents) / 100, quantity, remains


@given(orders())
def test_split_property(case):
    check_split(*case)


# --- check_return() -----------------------------------------------------------------------

OWED = Return("terms-9-canceled", D("6.00"), D("4.00"), "Canceled: the full 10.00 charge returns.")


@pytest.mark.parametrize("entries, state", [
    ([entry("return", "6.00", "deposited"), entry("return", "4.00", "promotional")], "ok"),
    ([entry("return", "2.00"), entry("return", "4.00"), entry("return", "4.00", "promotional")], "ok"),
    ([], "missing"),
    ([entry("charge", "10.00"), entry("deposit", "6.00")], "missing"),  # only returns count
    ([entry("return", "10.00", "deposited")], "wrong"),  # Promotional Credit turned into Deposited Funds
    ([entry("return", "6.00", "deposited")], "wrong"),   # the promo half is missing
    ([entry("return", "6.00"), entry("return", "4.00", "promotional"), entry("return", "4.00", "promotional")],
     "wrong"),                                           # returned twice
])
def test_check_return_state(entries, state):
    assert check_return(OWED, entries).state == state


def test_check_return_texts():
    ok = check_return(OWED, [entry("return", "6.00"), entry("return", "4.00", "promotional")])
    assert ok.text == "Canceled: the full 10.00 charge returns. The ledger has it."
    missing = check_return(OWED, [])
    assert missing.text == "Canceled: the full 10.00 charge returns. The ledger has no return for this order."
    wrong = check_return(OWED, [entry("return", "10.00")])
    assert wrong.text == ("Canceled: the full 10.00 charge returns. The ledger does not match: "
                          "found 10.00 Deposited Funds and 0.00 Promotional Credit.")
    assert (wrong.found_deposited, wrong.found_promotional) == (D("10.00"), D("0.00"))


def test_check_return_with_a_real_partial_return():
    owed = returned("partial", "1.00", "0.33", 3, 1)
    good = [entry("return", "0.23", "deposited"), entry("return", "0.10", "promotional")]
    assert check_return(owed, good).state == "ok"
    assert check_return(owed, [entry("return", "0.33", "deposited")]).state == "wrong"
