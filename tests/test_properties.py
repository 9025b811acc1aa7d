"""Properties of the Terms as code (issue 11): hypothesis draws orders, claims, ledgers,
calendars and dates, and each property names the clause it checks. The table-driven tests
(tests/test_policy_*.py) pin single cases; these say what must hold for every case.

Reproducible in CI: every test is derandomised (the same examples on every run) and
bounded by max_examples, so the whole file runs in a few seconds."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desk.policy import dormancy, sla
from desk.policy.calendar import DEFAULT_CALENDAR, add_support_minutes
from desk.policy.claims import ELIGIBLE, NEEDS_REVIEW, REJECTED, Claim, OrderFacts, Tool, evaluate
from desk.policy.ledger import CENT, ZERO, Entry, balances, expected_return
from desk.policy.money import (MAX_WITHDRAWAL_FEE_RATE, Line, closure_quote, refund_quote, withdrawable,
                               withdrawal_quote)

UTC = timezone.utc
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
SINGAPORE_HOURS = (10 * 60, 23 * 60)

moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))
cents = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("100000.00"), places=2)
positive_cents = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000.00"), places=2)
rates = st.decimals(min_value=Decimal("0"), max_value=MAX_WITHDRAWAL_FEE_RATE, places=4)


# --- claims (Terms §5, §7, §9, §10, §11) ----------------------------------------------------

@st.composite
def orders(draw) -> OrderFacts:
    quantity = draw(st.integers(0, 100_000))
    created = draw(moments)
    status = draw(st.sampled_from(["pending", "in_progress", "completed", "partial", "canceled"]))
    finished = created + draw(st.timedeltas(timedelta(0), timedelta(days=30))) if status in (
        "completed", "partial", "canceled") else None
    charge = draw(cents)
    promo = draw(st.decimals(min_value=Decimal("0.00"), max_value=charge, places=2))
    tool = Tool(refill=draw(st.booleans()), refill_days=draw(st.integers(0, 365)),
                refill_min_drop=draw(st.integers(0, 1000)), guarantee=draw(st.booleans()), beta=draw(st.booleans()))
    return OrderFacts(panel_id="1001", status=status, link="https://example.com/p/1", quantity=quantity,
                      created_at=created, finished_at=finished, start_count=draw(st.none() | st.integers(0, 10**9)),
                      remains=draw(st.integers(-1000, 200_000)), charge=charge, charge_promo=promo,
                      target_state=draw(st.sampled_from(["ok", "private", "removed", "changed", "invalid_link"])),
                      tool=tool, overlap_elsewhere=draw(st.booleans()))


@st.composite
def claims_on(draw, order: OrderFacts) -> Claim:
    filed = (order.finished_at or order.created_at) + draw(st.timedeltas(timedelta(0), timedelta(days=400)))
    return Claim(kind=draw(st.sampled_from(["non_delivery", "wrong_quantity", "not_as_described", "refill", "cancel"])),
                 filed_at=filed, current_count=draw(st.none() | st.integers(0, 10**9 + 200_000)))


@st.composite
def order_and_claim(draw):
    order = draw(orders())
    return order, draw(claims_on(order))


@PROPERTY
@given(order_and_claim())
def test_evaluate_refills_at_most_what_was_ordered(case):
    """terms-10-refill: a refill restores a drop of the delivered quantity, so it lies in
    [0, quantity], and only an eligible decision carries one."""
    order, claim = case
    decision = evaluate(order, claim)
    if decision.refill_quantity is not None:
        assert decision.decision == ELIGIBLE
        assert 0 <= decision.refill_quantity <= order.quantity


@PROPERTY
@given(order_and_claim())
def test_evaluate_always_decides_one_of_three_and_cites_a_rule(case):
    """DESIGN §2: every decision is eligible, rejected or needs_review, with at least one
    rule id that spoke, and the decision is the strictest of its reasons."""
    order, claim = case
    decision = evaluate(order, claim)
    assert decision.decision in (ELIGIBLE, REJECTED, NEEDS_REVIEW)
    assert decision.reasons and all(r.rule.startswith("terms-") and r.text for r in decision.reasons)
    outcomes = {r.outcome for r in decision.reasons}
    assert decision.decision == (REJECTED if REJECTED in outcomes else NEEDS_REVIEW if NEEDS_REVIEW in outcomes
                                 else ELIGIBLE)


@PROPERTY
@given(orders())
def test_expected_returns_split_what_is_owed_and_never_exceed_the_charge(order):
    """terms-9-partial / terms-9-canceled: deposited + promotional = what is owed, neither
    side negative, the promotional side never more than the promotional charge, and the
    total never more than the charge."""
    owed = expected_return(order.status, order.quantity, order.remains, order.charge, order.charge_promo)
    if order.status not in ("partial", "canceled"):
        assert owed is None
        return
    assert owed.deposited >= ZERO and owed.promotional >= ZERO
    assert owed.deposited + owed.promotional == owed.total <= order.charge
    assert owed.promotional <= order.charge_promo
    assert owed.deposited <= order.charge - order.charge_promo + CENT  # one rounding cent at most, never promo
    if order.status == "canceled":
        assert owed.total == order.charge


# --- the Balance and money requests (Terms §6, §13, §14, §15) ------------------------------

@st.composite
def ledgers(draw) -> list[Line]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    lines = []
    for i in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["deposit", "promo_credit", "charge", "return", "refund", "withdrawal",
                                     "chargeback", "adjustment"]))
        funding = {"deposit": "deposited", "promo_credit": "promotional", "refund": "deposited",
                   "withdrawal": "deposited"}.get(kind) or draw(st.sampled_from(["deposited", "promotional"]))
        amount = draw(positive_cents)
        if kind == "adjustment" and draw(st.booleans()):
            amount = -amount
        fee = draw(st.none() | st.decimals(min_value=Decimal("0.00"), max_value=amount.copy_abs(), places=2))
        lines.append(Line(f"e{i}", kind, amount, funding, start + timedelta(days=i),
                          processor_fee=fee if kind == "deposit" else None))
    return lines


@PROPERTY
@given(ledgers(), st.none() | positive_cents)
def test_a_refund_is_never_negative_and_its_deductions_stop_at_zero(lines, requested):
    """terms-13-refund: the refund after deductions is ≥ 0.00 (the zero floor), the
    deductions never exceed what was asked, and nothing but Deposited Funds is refunded."""
    quote = refund_quote(lines, method="original", requested=requested, now=datetime(2027, 1, 1, tzinfo=UTC))
    assert quote.amount >= ZERO
    assert all(d.amount > ZERO for d in quote.deductions)
    assert quote.deducted <= quote.requested
    assert quote.requested <= withdrawable(balances(lines))
    assert quote.amount <= max(ZERO, balances(lines).deposited)


@PROPERTY
@given(ledgers(), st.none() | positive_cents, rates)
def test_a_withdrawal_fee_is_at_most_ten_percent_and_the_payout_at_most_the_balance(lines, requested, rate):
    """terms-14-withdrawal: the fee is at most 10% of the amount withdrawn, and the payout
    is never more than the Deposited Funds the Balance can give up."""
    quote = withdrawal_quote(lines, rate=rate, requested=requested, verify_above=Decimal("1000000"))
    fee = sum((d.amount for d in quote.deductions if d.kind == "withdrawal_fee"), ZERO)
    assert fee <= quote.requested * MAX_WITHDRAWAL_FEE_RATE
    assert ZERO <= quote.amount <= quote.requested <= withdrawable(balances(lines))
    assert quote.amount + quote.deducted == quote.requested or quote.decision == REJECTED


@PROPERTY
@given(ledgers(), rates)
def test_closure_pays_out_deposited_funds_only_and_forfeits_promotional_credit(lines, rate):
    """terms-15-closure with §6: the payout comes from Deposited Funds and the Promotional
    Credit is forfeited, never paid out: the two are not mixed."""
    quote = closure_quote(lines, rate=rate, verify_above=Decimal("1000000"))
    bal = balances(lines)
    assert quote.amount <= withdrawable(bal)
    assert quote.forfeited_promotional == max(ZERO, bal.promotional)
    assert quote.amount + quote.forfeited_promotional <= max(ZERO, bal.deposited) + max(ZERO, bal.promotional)


@PROPERTY
@given(ledgers())
def test_balances_keep_deposited_and_promotional_apart(lines):
    """Terms §6: a Balance is one pool of two funding sources; an entry moves only its own."""
    bal = balances(Entry(l.kind, l.amount, l.funding) for l in lines)
    from desk.policy.ledger import signed
    assert bal.deposited == sum((signed(l) for l in lines if l.funding == "deposited"), ZERO)
    assert bal.promotional == sum((signed(l) for l in lines if l.funding == "promotional"), ZERO)


# --- clocks (terms-33-support-hours, terms-33-legal, privacy-10-gdpr, privacy-10-ccpa) -----

MEASURES = st.sampled_from(["support", "wall", "business_days", "calendar_days", "months"])


def _amount(measure: str):
    return st.integers(0, {"support": 20_000, "wall": 100_000, "business_days": 60, "calendar_days": 400,
                           "months": 36}[measure])


@PROPERTY
@given(st.data(), MEASURES, moments, st.timedeltas(timedelta(0), timedelta(days=40)))
def test_a_deadline_never_moves_earlier_when_the_start_moves_later(data, measure, start, later):
    """terms-33-support-hours, terms-33-legal, privacy-10-gdpr: deadlines are monotonic in
    the start time."""
    amount = data.draw(_amount(measure))
    assert sla.deadline(measure, start, amount, DEFAULT_CALENDAR) <= sla.deadline(
        measure, start + later, amount, DEFAULT_CALENDAR)


@PROPERTY
@given(st.data(), MEASURES, moments)
def test_a_deadline_never_moves_earlier_when_the_target_grows(data, measure, start):
    """The same clauses: a longer target is never due sooner."""
    amount = data.draw(_amount(measure))
    more = amount + data.draw(st.integers(0, 50))
    assert sla.deadline(measure, start, amount, DEFAULT_CALENDAR) <= sla.deadline(
        measure, start, more, DEFAULT_CALENDAR)


@PROPERTY
@given(moments, st.integers(1, 20_000))
def test_a_support_deadline_falls_inside_support_hours_in_singapore(start, minutes):
    """terms-33-support-hours: 10:00–23:00 Asia/Singapore; a due time is inside those hours
    (23:00 itself closes the last minute of the day)."""
    local = add_support_minutes(start, minutes).astimezone(DEFAULT_CALENDAR.tz)
    minute_of_day = local.hour * 60 + local.minute + (local.second or local.microsecond) / 60
    assert SINGAPORE_HOURS[0] < minute_of_day <= SINGAPORE_HOURS[1]


@PROPERTY
@given(moments, st.sampled_from(["eu", "ca", "other"]), st.timedeltas(timedelta(0), timedelta(days=60)))
def test_privacy_deadlines_are_monotonic_and_after_receipt(start, jurisdiction, later):
    """privacy-10-gdpr / privacy-10-ccpa: each statutory clock a privacy request runs is due
    after it was received, and a later receipt is never due sooner."""
    clocks = [c for c in sla.clocks_for("privacy", sla.DEFAULT_TARGETS["general"], jurisdiction=jurisdiction)
              if c.rule in (sla.GDPR, sla.CCPA)]
    assert clocks
    for clock in clocks:
        due = sla.deadline(clock.measure, start, clock.amount, DEFAULT_CALENDAR)
        assert due > start
        assert due <= sla.deadline(clock.measure, start + later, clock.amount, DEFAULT_CALENDAR)


# --- dormancy (terms-30-dormancy) ----------------------------------------------------------

@PROPERTY
@given(moments, st.timedeltas(timedelta(0), timedelta(days=800)), st.booleans())
def test_a_later_activity_never_brings_the_freeze_sooner(active, later, verified):
    """terms-30-dormancy: 12 months without activity; more recent activity never freezes an
    account sooner, and the freeze is never before 12 months have passed."""
    early = dormancy.schedule(dormancy.Facts("active", active, verified))
    late = dormancy.schedule(dormancy.Facts("active", active + later, verified))
    assert early.freeze_due <= late.freeze_due
    assert early.freeze_due >= active + timedelta(days=365)


@PROPERTY
@given(moments, cents, st.booleans(), moments)
def test_forfeiture_follows_the_band_and_never_precedes_its_notice(frozen, deposited, verified, notice):
    """terms-30-dormancy: under 1,000.00 forfeited 6 months after the freeze (never sooner
    than 14 days after a notice); 1,000.00 or more after the 18-month restoration window."""
    facts = dormancy.Facts("frozen", frozen - timedelta(days=400), verified, frozen_at=frozen,
                           deposited_at_freeze=deposited, forfeit_notice_at=notice if verified else None)
    plan = dormancy.schedule(facts)
    if deposited == ZERO:
        assert plan.forfeit_due is None
        return
    months = 6 if deposited < dormancy.LARGER_BALANCE else 18
    assert plan.forfeit_due == dormancy.add_months(frozen, months)
    if plan.band == "standard" and verified:
        assert plan.forfeit_at >= notice + dormancy.NOTICE
    assert plan.forfeit_at >= plan.forfeit_due
