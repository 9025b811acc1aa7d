"""desk.policy.money: refunds, withdrawals, closure, verification, a negative Balance and
chargebacks (Terms §9, §12-§18; DESIGN §2 "Money").

Pure tests: no Flask app, no database. Rule ids covered:
terms-13-refund, terms-13-confirm, terms-13-window, terms-9-finality, terms-9-canceled,
terms-14-withdrawal, terms-14-pending-order, terms-18-verification, terms-15-closure,
terms-16-negative, terms-17-chargeback.

Every figure is exact: amounts are Decimals with two places, and a reason that speaks
carries the figures it used.
"""
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desk.policy.claims import ELIGIBLE, NEEDS_REVIEW, REJECTED, OrderFacts
from desk.policy.ledger import Balances, balances
from desk.policy.money import (
    FEE_SOURCE, MAX_WITHDRAWAL_FEE_RATE, PROMO_DEDUCTION, Blocker, Deduction, Line, Quote, cancels_withdrawal,
    chargeback_proposals, chargeback_summary, check_fee_rate, closure_quote, deposit_fees, fees_accounted,
    method_support,
    negative, order_refundable, pending_order_text, promotional_deducted, promotional_granted,
    promotional_reversed, promotional_to_deduct, refund_quote, verification, withdrawable, withdrawal_fee,
    withdrawal_quote,
)

UTC = timezone.utc
PLUS8 = timezone(timedelta(hours=8))
SECOND = timedelta(seconds=1)
H72 = timedelta(hours=72)

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # day 0 of every ledger below
CREATED = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)  # the order's placement (day 30, 23:00 after T0)
FINISHED = datetime(2026, 7, 3, 14, 0, tzinfo=UTC)  # the order reached Completed
NOW = FINISHED + timedelta(hours=5)
RATE = Decimal("0.10")
NO_VERIFY = Decimal("100000.00")  # a verification threshold no test amount reaches

MONEY = re.compile(r"^-?\d+\.\d{2}$")


def D(value) -> Decimal:
    return Decimal(str(value))


# --- small builders -------------------------------------------------------------------------

def line(kind, amount, funding="deposited", day=0, id=None, fee=None, order=None, source=None) -> Line:
    return Line(id=id or f"{kind}-{day}", kind=kind, amount=D(amount), funding=funding,
                at=T0 + timedelta(days=day), processor_fee=None if fee is None else D(fee), order=order,
                source=source)


def deposit(amount, day=0, fee=None, id=None) -> Line:
    return line("deposit", amount, day=day, id=id or f"dep-{day}", fee=fee)


def promo(amount, day=0) -> Line:
    return line("promo_credit", amount, "promotional", day=day)


def charge(amount, funding="deposited", day=1, order=None) -> Line:
    return line("charge", amount, funding, day=day, order=order)


def deduction(amount, source, day=2) -> Line:
    return line("deduction", amount, day=day, id=f"ded-{source}", source=source)


def fee_accounted(deposit_id) -> Line:
    """The deduction line an earlier refund or withdrawal left for a deposit's processor fee."""
    return deduction("1.00", FEE_SOURCE + deposit_id)


def order(**overrides) -> OrderFacts:
    """Order 1001, placed 2026-07-01 08:00 UTC, Completed 2026-07-03 14:00 UTC, 30.00 from Deposited Funds."""
    facts = dict(panel_id="1001", status="completed", link="https://instagram.com/acme", quantity=1000,
                 created_at=CREATED, finished_at=FINISHED, charge=D("30.00"), charge_promo=D("0.00"))
    if overrides.get("status") in ("pending", "in_progress"):
        facts["finished_at"] = None
    facts.update(overrides)
    return OrderFacts(**facts)


def order_ledger(*extra) -> list[Line]:
    """dep-old 100.00 (fee 1.00) 10 days before the order, dep-near 50.00 (fee 2.00) the day before,
    the order's 30.00 charge, and dep-after 40.00 (fee 4.00) paid in after the order."""
    return [
        Line("dep-old", "deposit", D("100.00"), "deposited", CREATED - timedelta(days=10), D("1.00")),
        Line("dep-near", "deposit", D("50.00"), "deposited", CREATED - timedelta(days=1), D("2.00")),
        Line("chg-1001", "charge", D("30.00"), "deposited", CREATED, order="1001"),
        Line("dep-after", "deposit", D("40.00"), "deposited", CREATED + timedelta(days=1), D("4.00")),
        *extra,
    ]


def to_card(lines, requested=None, **kw) -> Quote:
    kw.setdefault("now", NOW)
    return refund_quote(lines, method="original", requested=None if requested is None else D(requested), **kw)


def withdraw(lines, requested=None, rate=RATE, verify_above=NO_VERIFY, **kw) -> Quote:
    return withdrawal_quote(lines, rate=D(rate), requested=None if requested is None else D(requested),
                            verify_above=D(verify_above), **kw)


def close(lines, rate=RATE, verify_above=NO_VERIFY, **kw) -> Quote:
    return closure_quote(lines, rate=D(rate), verify_above=D(verify_above), **kw)


def by_rule(quote, rule: str):
    return [r for r in quote.reasons if r.rule == rule]


def outcomes(quote, rule: str) -> list[str]:
    return [r.outcome for r in by_rule(quote, rule)]


def text(quote, rule: str) -> str:
    return " ".join(r.text for r in by_rule(quote, rule))


def kinds(quote) -> list[tuple[str, Decimal]]:
    return [(d.kind, d.amount) for d in quote.deductions]


def applied(lines, quote: Quote) -> list[Line]:
    """The ledger after an approved refund or withdrawal: the payout and its deduction lines."""
    out = [line("refund_credit", quote.credit, day=90)] if quote.credit else []
    if quote.amount:
        out.append(line("refund" if quote.kind == "refund" else "withdrawal", quote.amount, day=90))
    out += [line("deduction", d.amount, day=90) for d in quote.deductions]
    return list(lines) + out


# --- what the ledger says -----------------------------------------------------------------

@pytest.mark.parametrize("deposited, promotional, expected", [
    ("100.00", "0.00", "100.00"),
    ("100.00", "20.00", "100.00"),   # Promotional Credit is never withdrawable
    ("100.00", "-20.00", "80.00"),   # a clawback holds back the same amount of Deposited Funds
    ("100.00", "-100.00", "0.00"),
    ("100.00", "-150.00", "0.00"),
    ("-10.00", "50.00", "0.00"),     # a negative Deposited Funds is owed, never paid out
    ("0.00", "0.00", "0.00"),
    ("0.01", "0.00", "0.01"),
])
def test_withdrawable_never_leaves_a_negative_balance(deposited, promotional, expected):
    assert withdrawable(Balances(D(deposited), D(promotional))) == D(expected)


@pytest.mark.parametrize("lines, granted, reversed_, deducted, to_deduct", [
    ([promo("20.00")], "20.00", "0.00", "0.00", "20.00"),
    ([promo("20.00"), line("adjustment", "5.00", "promotional")], "25.00", "0.00", "0.00", "25.00"),
    # Spending Promotional Credit does not reverse it: what was granted is still deducted.
    ([promo("20.00"), charge("20.00", "promotional")], "20.00", "0.00", "0.00", "20.00"),
    # An order's return of Promotional Credit is not a new grant.
    ([promo("20.00"), charge("20.00", "promotional"), line("return", "20.00", "promotional")],
     "20.00", "0.00", "0.00", "20.00"),
    ([promo("20.00"), line("adjustment", "-5.00", "promotional")], "20.00", "5.00", "0.00", "15.00"),
    ([promo("20.00"), line("forfeiture", "20.00", "promotional")], "20.00", "20.00", "0.00", "0.00"),
    ([promo("20.00"), line("chargeback", "8.00", "promotional")], "20.00", "8.00", "0.00", "12.00"),
    ([promo("20.00"), deduction("20.00", PROMO_DEDUCTION)], "20.00", "0.00", "20.00", "0.00"),
    ([promo("30.00"), deduction("10.00", PROMO_DEDUCTION)], "30.00", "0.00", "10.00", "20.00"),
    # More reversed and deducted than granted: floored at 0.00, never negative.
    ([promo("20.00"), deduction("5.00", PROMO_DEDUCTION), line("forfeiture", "20.00", "promotional")],
     "20.00", "20.00", "5.00", "0.00"),
    # Deposited-side lines are not Promotional Credit, whatever their kind.
    ([deposit("50.00"), line("adjustment", "5.00"), line("forfeiture", "5.00"), line("chargeback", "5.00")],
     "0.00", "0.00", "0.00", "0.00"),
    # A processor-fee deduction is not a Promotional Credit deduction.
    ([promo("20.00"), fee_accounted("dep-0")], "20.00", "0.00", "0.00", "20.00"),
    # Only a deduction line deducts, whatever another line's source says.
    ([promo("20.00"), line("charge", "5.00", source=PROMO_DEDUCTION)], "20.00", "0.00", "0.00", "20.00"),
])
def test_promotional_credit_granted_reversed_deducted(lines, granted, reversed_, deducted, to_deduct):
    assert promotional_granted(lines) == D(granted)
    assert promotional_reversed(lines) == D(reversed_)
    assert promotional_deducted(lines) == D(deducted)
    assert promotional_to_deduct(lines) == D(to_deduct)


def test_fees_accounted_reads_the_deposit_ids_of_fee_deductions():
    lines = [fee_accounted("dep-1"), fee_accounted("dep-7"), deduction("3.00", PROMO_DEDUCTION),
             line("charge", "1.00", source=FEE_SOURCE + "dep-9")]  # not a deduction: does not count
    assert fees_accounted(lines) == {"dep-1", "dep-7"}


# --- deposit_fees: each deposit's fee once ever, only where the amount came from -------------

THREE_DEPOSITS = [deposit("30.00", day=1, fee="1.00"), deposit("30.00", day=2, fee="2.00"),
                  deposit("30.00", day=3, fee="3.00")]


@pytest.mark.parametrize("amount, expected", [
    ("0.00", []),
    ("0.01", [("dep-3", "3.00")]),
    ("30.00", [("dep-3", "3.00")]),                   # exactly the newest deposit: its fee only
    ("30.01", [("dep-3", "3.00"), ("dep-2", "2.00")]),  # a cent more reaches the next one
    ("60.00", [("dep-3", "3.00"), ("dep-2", "2.00")]),
    ("90.00", [("dep-3", "3.00"), ("dep-2", "2.00"), ("dep-1", "1.00")]),
    ("500.00", [("dep-3", "3.00"), ("dep-2", "2.00"), ("dep-1", "1.00")]),
])
def test_deposit_fees_newest_deposits_first(amount, expected):
    found = deposit_fees(THREE_DEPOSITS, D(amount))
    assert [(d.deposit, d.amount) for d in found] == [(i, D(f)) for i, f in expected]
    assert all(d.kind == "processor_fee" for d in found)


def test_deposit_fees_order_of_the_ledger_does_not_matter():
    assert deposit_fees(list(reversed(THREE_DEPOSITS)), D("45.00")) == deposit_fees(THREE_DEPOSITS, D("45.00"))


def test_deposit_fee_already_accounted_is_not_deducted_again_but_still_covers_the_amount():
    found = deposit_fees(THREE_DEPOSITS + [fee_accounted("dep-3")], D("30.00"))
    assert found == []  # the 30.00 came from dep-3, whose fee is accounted; dep-2 is not reached
    found = deposit_fees(THREE_DEPOSITS + [fee_accounted("dep-3")], D("45.00"))
    assert [(d.deposit, d.amount) for d in found] == [("dep-2", D("2.00"))]


@pytest.mark.parametrize("fee", [None, "0.00"])
def test_deposit_without_a_fee_deducts_nothing(fee):
    assert deposit_fees([deposit("30.00", fee=fee)], D("30.00")) == []


@pytest.mark.parametrize("before, expected", [
    # An order spends the oldest money left when it is placed; dep-3 was paid in after.
    (T0 + timedelta(days=2, hours=1), ["dep-1"]),
    (T0 + timedelta(days=2), ["dep-1"]),               # dep-2, at the same instant, counts as before
    (T0 + timedelta(days=2) - SECOND, ["dep-1"]),
    (T0, []),                                          # no deposit before then
])
def test_deposit_fees_before_a_moment(before, expected):
    found = deposit_fees(THREE_DEPOSITS, D("20.00"), before=before)
    assert [d.deposit for d in found] == expected


def test_deposit_fee_text_names_the_deposit_its_amount_and_date():
    (fee,) = deposit_fees([deposit("1234.50", day=3, fee="7.25", id="dep-xyz")], D("10.00"))
    assert fee == Deduction("processor_fee", D("7.25"), fee.text, "dep-xyz")
    assert "deposit dep-xyz of 1,234.50 (2026-06-04 09:00:00 UTC)" in fee.text
    assert "Non-refundable processor fee" in fee.text


# --- refunds of the Balance to the payment method (terms-13-refund) ------------------------

def test_refund_to_card_deducts_processor_fee_and_lifetime_promotional_credit():
    lines = [deposit("100.00", fee="3.50", id="dep-1"), promo("10.00")]
    q = to_card(lines)
    assert q.kind == "refund" and q.method == "original" and q.order is None
    assert q.requested == q.available_deposited == D("100.00")
    assert kinds(q) == [("processor_fee", D("3.50")), (PROMO_DEDUCTION, D("10.00"))]
    assert q.deductions[0].deposit == "dep-1"
    assert q.amount == D("86.50")
    assert q.credit == D("0.00")  # nothing is credited to the Balance first
    assert q.decision == NEEDS_REVIEW  # refunds are discretionary: staff decide
    assert q.rules == ["terms-13-refund", "terms-13-confirm"]
    words = text(q, "terms-13-refund")
    assert "100.00 of Deposited Funds, minus 13.50 of deductions: 86.50 to your payment method" in words
    assert "discretionary" in words
    assert "granted 10.00, reversed 0.00, deducted by earlier refunds 0.00" in q.deductions[1].text


@pytest.mark.parametrize("requested, gross, capped", [
    ("99.99", "99.99", False),
    ("100.00", "100.00", False),
    ("100.01", "100.00", True),   # a cent over what is available
    ("5000.00", "100.00", True),
    (None, "100.00", False),      # no figure: all that is available
])
def test_refund_request_is_capped_at_the_available_deposited_funds(requested, gross, capped):
    q = to_card([deposit("100.00")], requested)
    assert q.requested == q.amount == D(gross)
    assert q.available_deposited == D("100.00")
    notes = [r for r in q.reasons if r.text.startswith("You asked for")]
    assert bool(notes) is capped
    if capped:
        assert notes[0].rule == "terms-13-refund" and notes[0].outcome == ELIGIBLE
        assert f"You asked for {D(requested):,.2f}; only 100.00 of Deposited Funds" in notes[0].text


@pytest.mark.parametrize("lines", [
    [],
    [promo("50.00")],                                   # Promotional Credit alone is never refundable
    [deposit("50.00"), charge("50.00")],                # exactly zero left
    [deposit("50.00"), line("adjustment", "-50.00", "promotional")],  # all held back by a clawback
    [deposit("50.00"), line("chargeback", "80.00")],    # negative
])
def test_refund_with_nothing_available_is_rejected(lines):
    q = to_card(lines, "10.00")
    assert q.decision == REJECTED
    assert outcomes(q, "terms-13-refund") == [REJECTED]
    assert "only Deposited Funds are refundable" in text(q, "terms-13-refund")
    assert q.amount == q.requested == D("0.00")
    assert q.deductions == ()


def test_deductions_larger_than_the_request_are_floored_at_zero_and_clipped():
    # 20.00 refundable; a 2.00 processor fee and 30.00 of lifetime Promotional Credit to deduct.
    lines = [deposit("20.00", fee="2.00", id="dep-1"), promo("30.00")]
    q = to_card(lines)
    assert q.requested == D("20.00")
    assert q.decision == REJECTED
    assert q.amount == D("0.00")
    assert kinds(q) == [("processor_fee", D("2.00")), (PROMO_DEDUCTION, D("18.00"))]
    assert q.deducted == q.requested  # clipped: together exactly the gross, never more
    assert "Only 18.00 of its 30.00 is deducted: the refund never goes below 0.00." in q.deductions[1].text
    assert outcomes(q, "terms-13-refund") == [REJECTED]
    assert "20.00 minus 20.00 of deductions is 0.00" in text(q, "terms-13-refund")
    assert q.confirmation_required is False  # nothing to confirm: the Balance stays as it is


def test_a_deduction_that_alone_exceeds_the_request_drops_the_ones_after_it():
    q = to_card([deposit("100.00", fee="8.00"), promo("30.00")], "5.00")
    assert kinds(q) == [("processor_fee", D("5.00"))]  # the promo deduction has nothing left to take
    assert q.amount == D("0.00") and q.decision == REJECTED


@pytest.mark.parametrize("promotional, amount, decision", [
    ("10.00", "0.00", REJECTED),       # deductions exactly equal the gross: 0.00 is not a refund
    ("9.99", "0.01", NEEDS_REVIEW),    # a cent less: a 0.01 refund can be reviewed
])
def test_refund_of_exactly_zero_is_rejected(promotional, amount, decision):
    q = to_card([deposit("12.00", fee="2.00"), promo(promotional)])
    assert q.amount == D(amount)
    assert q.amount + q.deducted == q.requested == D("12.00")
    assert q.decision == decision


def test_promotional_credit_deducted_by_an_earlier_refund_is_not_deducted_again():
    lines = [deposit("100.00"), promo("10.00"), deduction("10.00", PROMO_DEDUCTION)]
    q = to_card(lines)
    assert q.deductions == ()
    assert q.amount == D("90.00")  # 100.00 paid in, 10.00 already kept by the earlier refund
    assert q.confirmation_required is False


def test_promotional_credit_partly_deducted_before_deducts_the_rest():
    lines = [deposit("100.00"), promo("30.00"), deduction("10.00", PROMO_DEDUCTION)]
    q = to_card(lines, "50.00")
    assert kinds(q) == [(PROMO_DEDUCTION, D("20.00"))]
    assert q.amount == D("30.00")
    assert "granted 30.00, reversed 0.00, deducted by earlier refunds 10.00" in q.deductions[0].text


@pytest.mark.parametrize("reversal", [
    line("forfeiture", "10.00", "promotional", day=5),
    line("chargeback", "10.00", "promotional", day=5),
    line("adjustment", "-10.00", "promotional", day=5),
])
def test_reversed_promotional_credit_is_not_deducted(reversal):
    q = to_card([deposit("100.00"), promo("10.00"), reversal])
    assert not [d for d in q.deductions if d.kind == PROMO_DEDUCTION]
    assert q.amount == D("100.00")


def test_processor_fee_already_accounted_is_not_deducted_again():
    lines = [deposit("100.00", fee="3.50", id="dep-1"), fee_accounted("dep-1")]
    q = to_card(lines, "50.00")
    assert q.deductions == ()
    assert q.amount == D("50.00")


def test_refund_deducts_only_the_fees_of_the_deposits_it_came_from():
    lines = [deposit("100.00", day=1, fee="1.00", id="dep-old"), deposit("50.00", day=5, fee="2.00", id="dep-new")]
    q = to_card(lines, "30.00")
    assert [(d.deposit, d.amount) for d in q.deductions] == [("dep-new", D("2.00"))]
    assert q.amount == D("28.00")
    q = to_card(lines, "50.01")
    assert [d.deposit for d in q.deductions] == ["dep-new", "dep-old"]
    assert q.amount == D("47.01")


def test_negative_promotional_balance_holds_back_deposited_funds():
    # 100.00 paid in; 10.00 of Promotional Credit spent, then 30.00 clawed back: Promotional -30.00.
    lines = [deposit("100.00"), promo("10.00"), charge("10.00", "promotional"),
             line("adjustment", "-30.00", "promotional", day=3)]
    assert balances(lines) == Balances(D("100.00"), D("-30.00"))
    q = to_card(lines)
    assert q.available_deposited == q.requested == D("70.00")
    assert q.deductions == ()  # granted 10.00, reversed 30.00: nothing left to deduct
    assert balances(applied(lines, q)).total == D("0.00")
    q = to_card(lines, "100.00")
    assert q.requested == D("70.00")
    assert "You asked for 100.00; only 70.00" in text(q, "terms-13-refund")
    assert balances(applied(lines, q)).total >= 0


@pytest.mark.parametrize("threshold, deducted, required", [
    ("0.00", "0.01", True),    # the default: any deduction
    ("5.00", "5.00", False),   # only deductions *above* the threshold
    ("5.00", "5.01", True),
])
def test_confirmation_when_deductions_exceed_the_threshold(threshold, deducted, required):
    q = to_card([deposit("100.00", fee=deducted)], confirm_threshold=D(threshold))
    assert q.deducted == D(deducted)
    assert q.confirmation_required is required
    assert ("terms-13-confirm" in q.rules) is required
    if required:
        assert outcomes(q, "terms-13-confirm") == [NEEDS_REVIEW]
        assert (f"reduce the refund by {D(deducted)}: you see the final {D('100.00') - D(deducted)} first"
                in text(q, "terms-13-confirm"))
        assert "keep your Balance" in text(q, "terms-13-confirm")


def test_default_threshold_asks_for_confirmation_on_any_deduction():
    assert to_card([deposit("100.00", fee="0.01")]).confirmation_required is True


def test_no_deduction_needs_no_confirmation():
    q = to_card([deposit("100.00")])
    assert q.deductions == () and q.amount == D("100.00")
    assert q.confirmation_required is False
    assert "terms-13-confirm" not in q.rules


def test_refund_method_must_be_known():
    with pytest.raises(ValueError, match="unknown refund method 'paypal'"):
        refund_quote([deposit("10.00")], method="paypal", now=NOW)


def test_refund_to_the_balance_needs_an_order():
    with pytest.raises(ValueError, match="concerns an order"):
        refund_quote([deposit("10.00")], method="balance", now=NOW)


# --- refunds about an order (terms-13-refund, terms-13-window, terms-9-*) ------------------

def test_order_refund_to_the_balance_credits_the_charge_and_deducts_nothing():
    q = refund_quote(order_ledger(), method="balance", order=order(), now=NOW)
    assert q.method == "balance" and q.order == "1001"
    assert q.requested == q.available_deposited == q.amount == q.credit == D("30.00")
    assert q.deductions == ()
    assert q.confirmation_required is False
    assert q.decision == NEEDS_REVIEW
    assert outcomes(q, "terms-13-window") == [ELIGIBLE]
    assert ("30.00 of order 1001 would be credited to your Balance as Deposited Funds"
            in text(q, "terms-13-refund"))
    assert "nothing is deducted" in text(q, "terms-13-refund")


def test_order_refund_to_card_credits_the_gross_then_deducts_the_fees_of_earlier_deposits():
    q = refund_quote(order_ledger(), method="original", order=order(), now=NOW)
    assert q.credit == q.requested == D("30.00")  # first credited back to the Balance in full
    # The order spent the oldest money left when it was placed (dep-old); dep-after came later.
    assert [(d.deposit, d.amount) for d in q.deductions] == [("dep-old", D("1.00"))]
    assert q.amount == D("29.00")
    assert q.confirmation_required is True
    assert q.decision == NEEDS_REVIEW
    assert "30.00 of Deposited Funds from order 1001, minus 1.00 of deductions: 29.00" in text(q, "terms-13-refund")


def test_order_refund_reaches_newer_deposits_only_when_the_oldest_does_not_cover_it():
    assert [d.deposit for d in to_card(order_ledger(), order=order(charge=D("100.00"))).deductions] == ["dep-old"]
    q = refund_quote(order_ledger(), method="original", order=order(charge=D("120.00")), now=NOW)
    assert [d.deposit for d in q.deductions] == ["dep-old", "dep-near"]
    assert q.amount == D("117.00")


def test_fees_follow_the_money_left_not_the_newest_deposit():
    """A withdrawal took the newest deposit out: what is left is the older deposit's money,
    so a later refund carries the older deposit's fee."""
    lines = [Line("dep-a", "deposit", D("100.00"), "deposited", T0, D("3.00")),
             Line("dep-b", "deposit", D("50.00"), "deposited", T0 + timedelta(days=1), D("2.00")),
             Line("w-1", "withdrawal", D("48.00"), "deposited", T0 + timedelta(days=2)),
             Line("w-1-fee", "deduction", D("2.00"), "deposited", T0 + timedelta(days=2),
                  source=FEE_SOURCE + "dep-b")]
    assert [(d.deposit, d.amount) for d in deposit_fees(lines, D("40.00"))] == [("dep-a", D("3.00"))]
    # Spending (a charge) takes the oldest money first: the newest deposit is what is left.
    spent = [lines[0], lines[1], Line("c-1", "charge", D("100.00"), "deposited", T0 + timedelta(days=2))]
    assert [d.deposit for d in deposit_fees(spent, D("40.00"))] == ["dep-b"]


def test_order_refund_to_card_deducts_lifetime_promotional_credit_too():
    q = refund_quote(order_ledger(promo("5.00")), method="original", order=order(), now=NOW)
    assert kinds(q) == [("processor_fee", D("1.00")), (PROMO_DEDUCTION, D("5.00"))]
    assert q.amount == D("24.00") and q.credit == D("30.00")


@pytest.mark.parametrize("after, decision", [
    (timedelta(0), NEEDS_REVIEW),
    (H72 - SECOND, NEEDS_REVIEW),
    (H72, NEEDS_REVIEW),             # the 72nd hour is inclusive
    (H72 + SECOND, REJECTED),
    (timedelta(days=30), REJECTED),
])
@pytest.mark.parametrize("method", ["balance", "original"])
def test_refund_window_is_72_hours_after_finished(after, decision, method):
    q = refund_quote(order_ledger(), method=method, order=order(), now=FINISHED + after)
    assert q.decision == decision
    assert outcomes(q, "terms-13-window") == [ELIGIBLE if decision != REJECTED else REJECTED]


def test_refund_after_the_window_is_not_considered_and_says_when():
    q = refund_quote(order_ledger(), method="original", order=order(), now=FINISHED + H72 + SECOND)
    assert q.rules == ["terms-13-window"]
    assert q.amount == q.credit == D("0.00") and q.deductions == ()
    words = text(q, "terms-13-window")
    assert "Order 1001 reached Completed 2026-07-03 14:00:00 UTC" in words
    assert "raised 2026-07-06 14:00:01 UTC" in words
    assert "3-day claim window" in words and "not considered" in words


def test_refund_within_the_window_reason_carries_both_times():
    q = refund_quote(order_ledger(), method="balance", order=order(status="partial"), now=NOW)
    assert ("Raised within the claim window of order 1001 (Partial 2026-07-03 14:00:00 UTC; "
            "asked 2026-07-03 19:00:00 UTC)") in text(q, "terms-13-window")


def test_refund_window_compares_instants_across_zones():
    asked = (FINISHED + H72).astimezone(PLUS8)
    local = refund_quote(order_ledger(), method="balance", now=asked,
                         order=order(finished_at=FINISHED.astimezone(PLUS8), created_at=CREATED.astimezone(PLUS8)))
    assert local.decision == NEEDS_REVIEW
    late = refund_quote(order_ledger(), method="balance", order=order(), now=asked + SECOND)
    assert late.decision == REJECTED


def test_a_supervisor_can_take_a_late_refund_into_review():
    q = refund_quote(order_ledger(), method="original", order=order(), now=FINISHED + timedelta(days=10),
                     window_lifted=True)
    assert outcomes(q, "terms-13-window") == [NEEDS_REVIEW]
    assert "after its 3-day claim window" in text(q, "terms-13-window")
    assert "A supervisor took it into review regardless." in text(q, "terms-13-window")
    assert q.decision == NEEDS_REVIEW
    assert q.amount == D("29.00")  # the figures are worked out as usual


@pytest.mark.parametrize("status, rule, words", [
    ("pending", "terms-9-finality", "Order 1001 is still Pending: ask to cancel it instead"),
    ("in_progress", "terms-9-finality", "Order 1001 is In Progress: an active order cannot be cancelled"),
    ("canceled", "terms-9-canceled", "Order 1001 was Canceled: its full charge returns to the Balance automatically"),
])
@pytest.mark.parametrize("method", ["balance", "original"])
@pytest.mark.parametrize("lifted", [False, True])  # lifting the window does not lift these
def test_unfinished_or_canceled_orders_are_refused(status, rule, words, method, lifted):
    q = refund_quote(order_ledger(), method=method, order=order(status=status), now=NOW, window_lifted=lifted)
    assert q.decision == REJECTED
    assert q.rules == [rule]
    assert outcomes(q, rule) == [REJECTED]
    assert words in text(q, rule)
    assert q.amount == q.credit == D("0.00")


def test_order_paid_partly_with_promotional_credit_refunds_only_the_deposited_part():
    q = refund_quote(order_ledger(), method="balance", now=NOW,
                     order=order(charge=D("30.00"), charge_promo=D("10.00")), charge_deposited=D("20.00"))
    assert q.credit == q.amount == D("20.00")
    assert ("The 10.00 of the order paid with Promotional Credit is not refundable: Promotional Credit has no "
            "cash value.") in text(q, "terms-13-refund")


def test_order_refundable_defaults_to_the_deposited_part_of_the_charge():
    """Without charge_deposited, the Deposited part is the charge minus its Promotional part:
    a refund never turns Promotional Credit into Deposited Funds (Terms §9)."""
    facts = order(charge=D("30.00"), charge_promo=D("10.00"))
    q = refund_quote(order_ledger(), method="balance", order=facts, now=NOW)
    assert q.credit == q.amount == D("20.00")


@pytest.mark.parametrize("extra, refundable", [
    ([], "30.00"),
    ([line("return", "12.00", order="1001")], "18.00"),                 # a Partial's automatic return
    ([line("return", "12.00", "promotional", order="1001")], "30.00"),  # the Promotional share is not ours
    ([line("return", "12.00", order="2002")], "30.00"),                 # another order's return
    ([line("refund_credit", "10.00", order="1001")], "20.00"),          # an earlier refund credit
    ([line("return", "12.00", order="1001"), line("refund_credit", "18.00", order="1001")], "0.00"),
    ([line("refund_credit", "50.00", order="1001")], "0.00"),           # floored
])
def test_order_refundable_subtracts_what_came_back(extra, refundable):
    assert order_refundable(order(), D("30.00"), order_ledger(*extra)) == D(refundable)


def test_order_refund_when_everything_came_back_is_rejected():
    extra = line("return", "30.00", order="1001")
    q = refund_quote(order_ledger(extra), method="balance", order=order(status="partial"), now=NOW)
    assert q.decision == REJECTED
    assert outcomes(q, "terms-13-refund") == [REJECTED]
    assert "Nothing of order 1001 paid from Deposited Funds is left to refund." in text(q, "terms-13-refund")
    assert q.credit == q.amount == D("0.00")


def test_order_refund_request_above_the_order_is_capped():
    q = refund_quote(order_ledger(), method="balance", order=order(), now=NOW, requested=D("30.01"))
    assert q.credit == D("30.00")
    assert "You asked for 30.01; only 30.00" in text(q, "terms-13-refund")


def test_order_refund_needs_aware_times():
    with pytest.raises(ValueError, match="timezone-aware"):
        refund_quote(order_ledger(), method="balance", order=order(), now=NOW.replace(tzinfo=None))


# --- Quote.to_dict ------------------------------------------------------------------------

COMMON_KEYS = {"kind", "decision", "method", "order", "requested", "available_deposited", "deductions", "amount",
               "confirmation_required", "verification_required", "rules", "reasons"}


def money_values(body: dict) -> list[str]:
    values = [body[k] for k in ("requested", "available_deposited", "amount", "credit", "forfeited_promotional")
              if k in body]
    return values + [d["amount"] for d in body["deductions"]]


def test_refund_to_dict():
    q = to_card([deposit("100.00", fee="3.50", id="dep-1"), promo("10.00")])
    body = q.to_dict()
    assert set(body) == COMMON_KEYS  # no credit for a Balance refund, no fee rate
    assert body["kind"] == "refund" and body["decision"] == NEEDS_REVIEW and body["order"] is None
    assert (body["requested"], body["available_deposited"], body["amount"]) == ("100.00", "100.00", "86.50")
    assert body["deductions"][0] == {"kind": "processor_fee", "amount": "3.50", "text": q.deductions[0].text,
                                     "deposit": "dep-1"}
    assert set(body["deductions"][1]) == {"kind", "amount", "text"}  # no deposit on the promo deduction
    assert body["rules"] == ["terms-13-refund", "terms-13-confirm"]
    assert body["reasons"][0] == {"rule": q.reasons[0].rule, "outcome": q.reasons[0].outcome,
                                  "text": q.reasons[0].text}
    assert body["confirmation_required"] is True and body["verification_required"] is False


def test_order_refund_to_dict_carries_the_credit():
    body = refund_quote(order_ledger(), method="original", order=order(), now=NOW).to_dict()
    assert set(body) == COMMON_KEYS | {"credit"}
    assert body["order"] == "1001" and body["credit"] == "30.00" and body["amount"] == "29.00"


def test_withdrawal_and_closure_to_dict():
    w = withdraw([deposit("100.00")]).to_dict()
    assert set(w) == COMMON_KEYS | {"fee_rate", "fee_percent"}
    assert (w["fee_rate"], w["fee_percent"], w["amount"]) == ("0.10", "10.00", "90.00")
    c = close([deposit("100.00"), promo("5.00")]).to_dict()
    assert set(c) == COMMON_KEYS | {"fee_rate", "fee_percent", "forfeited_promotional"}
    assert c["forfeited_promotional"] == "5.00"
    rejected = withdraw([promo("5.00")]).to_dict()
    assert (rejected["requested"], rejected["amount"]) == ("0.00", "0.00")


@pytest.mark.parametrize("quote", [
    lambda: to_card([deposit("100.00", fee="3.50"), promo("10.00")]),
    lambda: to_card([deposit("20.00", fee="2.00"), promo("30.00")]),
    lambda: to_card([]),
    lambda: refund_quote(order_ledger(), method="original", order=order(), now=NOW),
    lambda: withdraw([deposit("123.45", fee="0.99")], rate="0.025"),
    lambda: close([deposit("80.00"), promo("7.50")], blockers=[Blocker("abuse", "an abuse case is open")]),
], ids=["refund", "clipped", "nothing", "order", "withdrawal", "closure"])
def test_to_dict_money_is_strings_with_two_decimals(quote):
    body = quote().to_dict()
    values = money_values(body)
    assert values and all(isinstance(v, str) and MONEY.match(v) for v in values), values


# --- the withdrawal fee rate (terms-14-withdrawal) ----------------------------------------

@pytest.mark.parametrize("rate", ["0", "0.00", "0.025", "0.05", "0.0999", "0.10", "0.1000"])
def test_fee_rate_up_to_ten_percent_is_accepted(rate):
    assert check_fee_rate(D(rate)) == D(rate)
    assert MAX_WITHDRAWAL_FEE_RATE == D("0.10")


@pytest.mark.parametrize("rate", [D("0.1001"), D("0.11"), D("1"), D("-0.01"), D("NaN"), D("Infinity"), 0.1, "0.05"])
def test_fee_rate_above_ten_percent_or_not_a_decimal_is_refused(rate):
    with pytest.raises(ValueError, match="withdrawal fee rate"):
        check_fee_rate(rate)


def test_fee_rate_refusal_quotes_the_terms():
    with pytest.raises(ValueError, match=r"not 0\.1001: Terms §14 caps the fee at 10%"):
        check_fee_rate(D("0.1001"))


def test_withdrawal_fee_refuses_a_rate_above_ten_percent():
    assert withdrawal_fee(D("100.00"), D("0.10")) == D("10.00")
    with pytest.raises(ValueError):
        withdrawal_fee(D("100.00"), D("0.1001"))
    with pytest.raises(ValueError):
        withdraw([deposit("100.00")], rate="0.1001")


@pytest.mark.parametrize("amount, rate, fee", [
    ("100.00", "0.10", "10.00"),
    ("0.05", "0.10", "0.00"),      # 0.005 is cut down, not rounded up to 0.01
    ("0.19", "0.10", "0.01"),      # 0.019
    ("99.99", "0.10", "9.99"),     # 9.999
    ("123.45", "0.025", "3.08"),   # 3.08625: half-up would give 3.09, above the rate
    ("10.00", "0", "0.00"),
    ("0.00", "0.10", "0.00"),
])
def test_withdrawal_fee_is_cut_to_the_cent(amount, rate, fee):
    result = withdrawal_fee(D(amount), D(rate))
    assert result == D(fee)
    assert result.as_tuple().exponent == -2
    assert result <= D(amount) * D(rate)


# --- verification (terms-18-verification) -------------------------------------------------

@pytest.mark.parametrize("amount, flag, needed", [
    ("499.99", False, False),
    ("500.00", False, False),   # the threshold itself does not need it: strictly above
    ("500.01", False, True),
    ("0.01", True, True),       # a fraud flag needs it whatever the amount
    ("900.00", True, True),
])
def test_verification_strictly_above_the_threshold_or_flagged(amount, flag, needed):
    reason = verification(D(amount), D("500.00"), flag, "withdrawal")
    assert (reason is not None) is needed
    if needed:
        assert reason.rule == "terms-18-verification" and reason.outcome == NEEDS_REVIEW
        assert "waits for verification of identity and payment method" in reason.text
        if flag:
            assert "flagged for a fraud check" in reason.text
        else:
            assert f"The withdrawal of {D(amount):,.2f} is above 500.00" in reason.text


def test_verification_names_what_waits():
    assert "restoration of 1,500.00" in verification(D("1500.00"), D("1000.00"), False, "restoration").text
    assert "the restoration waits" in verification(D("1.00"), D("1000.00"), True, "restoration").text


# --- withdrawals (terms-14-withdrawal) ----------------------------------------------------

def test_withdrawal_deducts_the_rate_in_force_and_the_deposit_fee():
    lines = [deposit("200.00", fee="4.00", id="dep-1"), promo("15.00")]
    q = withdraw(lines, "100.00", rate="0.05")
    assert q.kind == "withdrawal" and q.fee_rate == D("0.05")
    assert q.requested == D("100.00") and q.available_deposited == D("200.00")
    assert kinds(q) == [("withdrawal_fee", D("5.00")), ("processor_fee", D("4.00"))]
    assert q.amount == D("91.00")
    assert q.confirmation_required is True and q.verification_required is False
    assert q.decision == ELIGIBLE
    assert "5.00% (the rate in force when you asked) of 100.00" in q.deductions[0].text
    words = text(q, "terms-14-withdrawal")
    assert "The 15.00 of Promotional Credit has no cash value and cannot be withdrawn." in words
    assert "100.00 of Deposited Funds, minus 9.00 of fees: 91.00 to the original payment method" in words


def test_withdrawal_at_exactly_ten_percent():
    q = withdraw([deposit("100.00")], rate="0.10")
    assert kinds(q) == [("withdrawal_fee", D("10.00"))]
    assert q.amount == D("90.00")


def test_withdrawal_at_zero_rate_has_no_fee_line():
    q = withdraw([deposit("100.00")], rate="0")
    assert q.deductions == () and q.amount == D("100.00")


@pytest.mark.parametrize("requested, gross, capped", [
    ("199.99", "199.99", False), ("200.00", "200.00", False), ("200.01", "200.00", True), (None, "200.00", False),
])
def test_withdrawal_is_capped_at_the_deposited_funds(requested, gross, capped):
    q = withdraw([deposit("200.00")], requested)
    assert q.requested == D(gross)
    notes = [r for r in q.reasons if r.text.startswith("You asked for")]
    assert bool(notes) is capped
    if capped:
        assert notes[0].rule == "terms-14-withdrawal"
        assert "You asked for 200.01; only 200.00" in notes[0].text


@pytest.mark.parametrize("lines", [
    [], [promo("50.00")], [deposit("50.00"), charge("50.00")],
    [deposit("50.00"), line("adjustment", "-60.00", "promotional")],
])
def test_withdrawal_of_nothing_is_rejected(lines):
    q = withdraw(lines)
    assert q.decision == REJECTED
    assert REJECTED in outcomes(q, "terms-14-withdrawal")
    assert "only Deposited Funds can be withdrawn" in text(q, "terms-14-withdrawal")
    assert q.amount == D("0.00") and q.deductions == ()


def test_withdrawal_with_a_negative_promotional_balance_holds_back_deposited_funds():
    lines = [deposit("100.00"), line("adjustment", "-40.00", "promotional")]
    q = withdraw(lines, rate="0")
    assert q.requested == q.amount == D("60.00")
    assert balances(applied(lines, q)).total == D("0.00")


def test_withdrawal_whose_fees_leave_nothing_is_rejected_and_clipped():
    q = withdraw([deposit("5.00", fee="5.00")])
    assert kinds(q) == [("withdrawal_fee", D("0.50")), ("processor_fee", D("4.50"))]
    assert q.deducted == q.requested == D("5.00")
    assert q.amount == D("0.00")
    assert q.decision == REJECTED
    assert "The fees on 5.00 leave nothing to pay out." in text(q, "terms-14-withdrawal")


def test_withdrawal_deposit_fee_once_ever():
    q = withdraw([deposit("100.00", fee="4.00", id="dep-1"), fee_accounted("dep-1")], rate="0.05")
    assert kinds(q) == [("withdrawal_fee", D("4.95"))]  # balance 99.00 after the accounted 1.00
    assert q.amount == D("94.05")


@pytest.mark.parametrize("requested, flag, needed", [
    ("100.00", False, False), ("100.01", False, True), ("10.00", True, True),
])
def test_withdrawal_verification(requested, flag, needed):
    q = withdraw([deposit("500.00")], requested, verify_above="100.00", fraud_flag=flag)
    assert q.verification_required is needed
    assert ("terms-18-verification" in q.rules) is needed
    assert q.decision == (NEEDS_REVIEW if needed else ELIGIBLE)


# --- closure (terms-15-closure) -----------------------------------------------------------

def test_closure_withdraws_deposited_funds_and_forfeits_promotional_credit():
    q = close([deposit("100.00"), promo("25.00")])
    assert q.kind == "closure" and q.decision == ELIGIBLE
    assert q.forfeited_promotional == D("25.00")
    assert q.requested == D("100.00") and q.amount == D("90.00")
    assert kinds(q) == [("withdrawal_fee", D("10.00"))]
    assert q.confirmation_required is True
    words = text(q, "terms-15-closure")
    assert "the 100.00 of Deposited Funds is withdrawn under the withdrawal rules: 90.00 after 10.00 of fees" in words
    assert "The 25.00 of Promotional Credit is forfeited on closure." in words


def test_closure_blockers_hold_back_the_release_and_are_each_named():
    blockers = [Blocker("chargeback", "a chargeback case is open"),
                Blocker("verification", "verification is incomplete")]
    q = close([deposit("100.00")], blockers=blockers)
    assert q.decision == NEEDS_REVIEW
    held = [r for r in by_rule(q, "terms-15-closure") if r.outcome == NEEDS_REVIEW]
    assert [r.text for r in held] == ["The Balance is not released while a chargeback case is open.",
                                      "The Balance is not released while verification is incomplete."]
    assert q.amount == D("90.00")  # the figures are still shown


def test_closure_with_only_promotional_credit():
    q = close([promo("12.00")])
    assert q.decision == ELIGIBLE
    assert q.forfeited_promotional == D("12.00")
    assert q.amount == q.requested == D("0.00") and q.deductions == ()
    assert "There are no Deposited Funds to withdraw on closure." in text(q, "terms-15-closure")


def test_closure_with_a_negative_balance_stays_owed():
    q = close([deposit("50.00"), line("chargeback", "80.00", day=3)])
    assert q.decision == NEEDS_REVIEW
    assert outcomes(q, "terms-16-negative") == [NEEDS_REVIEW]
    assert "negative by 30.00" in text(q, "terms-16-negative")
    assert q.amount == D("0.00") and q.forfeited_promotional == D("0.00")


def test_closure_with_a_negative_promotional_balance_forfeits_nothing_and_holds_back_deposited():
    q = close([deposit("100.00"), line("adjustment", "-10.00", "promotional")], rate="0")
    assert q.forfeited_promotional == D("0.00")
    assert q.requested == q.amount == D("90.00")
    assert "terms-16-negative" not in q.rules  # the Balance as a whole is not negative


def test_closure_carries_the_verification_of_its_payout():
    q = close([deposit("2000.00")], verify_above="1000.00")
    assert q.verification_required is True
    assert outcomes(q, "terms-18-verification") == [NEEDS_REVIEW]
    assert "The withdrawal of 2,000.00 is above 1,000.00" in text(q, "terms-18-verification")
    assert q.decision == NEEDS_REVIEW
    flagged = close([deposit("10.00")], fraud_flag=True)
    assert flagged.verification_required is True and flagged.decision == NEEDS_REVIEW


def test_closure_whose_fees_eat_the_payout_releases_nothing():
    q = close([deposit("5.00", fee="5.00"), promo("1.00")])
    assert q.amount == q.requested == D("0.00") and q.deductions == ()
    assert q.forfeited_promotional == D("1.00")
    assert q.verification_required is False


# --- a negative Balance (terms-16-negative) -----------------------------------------------

@pytest.mark.parametrize("deposited, promotional, owed", [
    ("10.00", "0.00", None),
    ("0.00", "0.00", None),
    ("10.00", "-3.00", None),      # the Balance as a whole is still positive
    ("-5.00", "0.00", "5.00"),
    ("10.00", "-15.00", "5.00"),
    ("-10.00", "15.00", None),     # §16 speaks of the Balance, which is +5.00 as a whole
    ("-10.00", "-5.00", "15.00"),
])
def test_negative_balance(deposited, promotional, owed):
    reason = negative(Balances(D(deposited), D(promotional)))
    if owed is None:
        assert reason is None
    else:
        assert reason.rule == "terms-16-negative" and reason.outcome == NEEDS_REVIEW
        assert f"negative by {owed}" in reason.text
        assert f"(Deposited Funds {D(deposited)}, Promotional Credit {D(promotional)})" in reason.text
        assert "recovered from later deposits" in reason.text


# --- chargebacks (terms-17-chargeback) ----------------------------------------------------

def actions(proposals) -> list[tuple[str, Decimal | None]]:
    return [(p.action, p.amount) for p in proposals]


@pytest.mark.parametrize("status, suspend", [
    ("active", True), ("frozen", True), ("suspended", False), ("terminated", False), ("closed", False),
])
def test_chargeback_proposes_suspension_unless_already_out(status, suspend):
    found = chargeback_proposals([deposit("100.00"), line("chargeback", "40.00", day=3)], status)
    assert ("suspend" in [p.action for p in found]) is suspend


@pytest.mark.parametrize("lines, expected", [
    # 100.00 in, 40.00 charged back (fee 15.00), 10.00 of promo: forfeit 60.00, cancel 10.00, invoice 15.00.
    ([deposit("100.00"), promo("10.00"), line("chargeback", "40.00", day=3, fee="15.00")],
     [("suspend", None), ("forfeit_deposited", D("60.00")), ("cancel_promotional", D("10.00")),
      ("invoice_fees", D("15.00"))]),
    # Deposited Funds negative: nothing to forfeit; the rest is terms-16-negative.
    ([deposit("50.00"), line("chargeback", "80.00", day=3, fee="20.00")],
     [("suspend", None), ("invoice_fees", D("20.00"))]),
    # Exactly zero left: nothing to forfeit. Negative promo: nothing to cancel.
    ([deposit("50.00"), line("chargeback", "50.00", day=3), line("adjustment", "-5.00", "promotional")],
     [("suspend", None)]),
    # Two chargebacks: their fees add up; one without a fee adds nothing.
    ([deposit("300.00"), line("chargeback", "40.00", day=3, fee="15.00", id="cb-1"),
      line("chargeback", "60.00", day=4, fee="10.50", id="cb-2"), line("chargeback", "5.00", day=5, id="cb-3")],
     [("suspend", None), ("forfeit_deposited", D("195.00")), ("invoice_fees", D("25.50"))]),
])
def test_chargeback_proposals(lines, expected):
    found = chargeback_proposals(lines, "active")
    assert actions(found) == expected
    assert {p.rule for p in found} == {"terms-17-chargeback"}


def test_chargeback_proposal_texts_carry_the_figures():
    found = chargeback_proposals([deposit("1500.00"), promo("10.00"), line("chargeback", "40.00", day=3, fee="15.00")],
                                 "active")
    texts = {p.action: p.text for p in found}
    assert "Forfeit the positive Deposited Funds of 1,460.00." == texts["forfeit_deposited"]
    assert "Cancel the Promotional Credit of 10.00." == texts["cancel_promotional"]
    assert "processor's chargeback fees of 15.00" in texts["invoice_fees"]
    assert "violation of the Terms" in texts["suspend"]


def test_chargeback_summary_lists_each_chargeback_and_the_negative_balance():
    lines = [deposit("50.00"), line("chargeback", "40.00", day=3, fee="15.00", id="cb-1"),
             line("chargeback", "30.00", "deposited", day=4, id="cb-2")]
    reasons = chargeback_summary(lines)
    assert [r.rule for r in reasons] == ["terms-17-chargeback", "terms-17-chargeback", "terms-16-negative"]
    assert reasons[0].text == "Chargeback cb-1 of 40.00 (deposited) on 2026-06-04 09:00:00 UTC, processor fee 15.00."
    assert reasons[1].text == "Chargeback cb-2 of 30.00 (deposited) on 2026-06-05 09:00:00 UTC."
    assert "negative by 20.00" in reasons[2].text
    assert {r.outcome for r in reasons} == {NEEDS_REVIEW}


def test_chargeback_summary_without_chargebacks_or_debt_is_empty():
    assert chargeback_summary([deposit("50.00"), charge("10.00")]) == []


# --- a pending withdrawal and a new order (terms-14-pending-order) ------------------------

REQUESTED_AT = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("charge_at, charge_deposited, cancels", [
    (REQUESTED_AT + SECOND, D("0.01"), True),
    (REQUESTED_AT + timedelta(days=2), D("30.00"), True),
    (REQUESTED_AT, D("30.00"), False),                 # at the same instant: not after the request
    (REQUESTED_AT - SECOND, D("30.00"), False),        # placed before the request
    (REQUESTED_AT + timedelta(days=2), D("0.00"), False),  # paid with Promotional Credit only
    ((REQUESTED_AT + SECOND).astimezone(PLUS8), D("1.00"), True),  # instants, not wall clocks
])
def test_an_order_from_deposited_funds_cancels_a_pending_withdrawal(charge_at, charge_deposited, cancels):
    assert cancels_withdrawal(REQUESTED_AT, charge_at, charge_deposited) is cancels


def test_cancels_withdrawal_needs_aware_times():
    with pytest.raises(ValueError):
        cancels_withdrawal(REQUESTED_AT.replace(tzinfo=None), REQUESTED_AT, D("1.00"))


@pytest.mark.parametrize("fee, words", [
    (D("12.50"), "The processing fee of 12.50 already applied is not returned."),
    (D("0.00"), "No processing fee had been applied."),
])
def test_pending_order_text(fee, words):
    sentence = pending_order_text("order 1001", fee)  # Words to translate; str() is the English
    result = str(sentence)
    assert sentence.params["what"] == "order 1001" and ("fee" in sentence.params) == (fee > 0)
    assert result.startswith("The withdrawal was cancelled because order 1001 was paid from Deposited Funds "
                             "while it was pending. ")
    assert result.endswith(words)


# --- properties ---------------------------------------------------------------------------

PROPERTY = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
cents = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000.00"), places=2)
fees = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("60.00"), places=2)
rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("0.10"), places=4)


@st.composite
def ledgers(draw) -> list[Line]:
    n = draw(st.integers(0, 4))
    lines = [deposit(draw(cents), day=i, fee=draw(st.none() | fees), id=f"dep-{i}") for i in range(n)]
    if draw(st.booleans()):
        lines.append(promo(draw(cents), day=n))
    if draw(st.booleans()):
        lines.append(charge(draw(cents), draw(st.sampled_from(["deposited", "promotional"])), day=n + 1))
    if draw(st.booleans()):
        lines.append(deduction(draw(cents), PROMO_DEDUCTION, day=n + 2))
    if n and draw(st.booleans()):
        lines.append(fee_accounted(f"dep-{draw(st.integers(0, n - 1))}"))
    return lines


@PROPERTY
@given(ledgers(), st.none() | cents, st.sampled_from(["0.00", "5.00"]))
def test_refund_figures_always_add_up(lines, requested, threshold):
    q = refund_quote(lines, method="original", requested=requested, now=NOW, confirm_threshold=D(threshold))
    assert q.amount >= 0
    assert q.requested <= withdrawable(balances(lines))
    assert all(d.amount > 0 for d in q.deductions)
    if q.requested > 0:
        assert q.amount + q.deducted == q.requested
        assert (q.decision == REJECTED) is (q.amount == 0)
        assert balances(applied(lines, q)).total >= 0  # never leaves a negative Balance
    if q.decision != REJECTED:
        assert q.confirmation_required is (q.deducted > D(threshold))


@PROPERTY
@given(ledgers(), st.none() | cents, rates)
def test_withdrawal_figures_always_add_up(lines, requested, rate):
    q = withdrawal_quote(lines, rate=rate, requested=requested, verify_above=NO_VERIFY)
    assert q.amount >= 0
    if q.requested > 0:
        assert q.amount + q.deducted == q.requested
        fee = sum((d.amount for d in q.deductions if d.kind == "withdrawal_fee"), D("0"))
        assert fee <= rate * q.requested
        assert balances(applied(lines, q)).total >= 0


@PROPERTY
@given(st.decimals(min_value=Decimal("0.00"), max_value=Decimal("1000000.00"), places=2), rates)
def test_withdrawal_fee_never_exceeds_the_rate(amount, rate):
    fee = withdrawal_fee(amount, rate)
    assert D("0.00") <= fee <= amount * rate
    assert amount * rate - fee < D("0.01")  # cut to the cent, not lower
    assert fee == fee.quantize(D("0.01"))


# --- the original payment method must support it (Terms §13, §14) --------------------------

def test_a_deposit_method_that_takes_no_payout_is_for_staff_to_settle():
    lines = [Line("dep-card", "deposit", D("40.00"), "deposited", T0, method="card"),
             Line("dep-coin", "deposit", D("60.00"), "deposited", T0 + timedelta(days=1), method="Crypto")]
    methods = frozenset({"card", "paypal"})
    assert method_support(lines, D("30.00"), None, "terms-14-withdrawal", "withdrawal") is None  # not configured
    reason = method_support(lines, D("30.00"), methods, "terms-14-withdrawal", "withdrawal")
    assert reason.outcome == NEEDS_REVIEW and "paid in by Crypto" in reason.text
    # The newest 30.00 is the crypto deposit's; 100.00 reaches the card deposit too, still crypto in it.
    only_card = [lines[0], Line("c", "charge", D("60.00"), "deposited", T0 + timedelta(days=2))]
    assert method_support(only_card, D("40.00"), methods, "terms-13-refund", "refund") is None
    q = withdrawal_quote(lines, rate=D("0.05"), verify_above=D("1000.00"), payout_methods=methods)
    assert q.decision == NEEDS_REVIEW and any("cannot take a withdrawal back" in r.text for r in q.reasons)
    r = refund_quote(lines, method="original", now=T0 + timedelta(days=3), payout_methods=methods)
    assert any("cannot take a refund back" in x.text for x in r.reasons)
