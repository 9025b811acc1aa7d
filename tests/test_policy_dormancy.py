"""desk.policy.dormancy: dormant accounts (Terms §30, with §18 for restorations; DESIGN §2
"Money", terms-30-dormancy).

Pure tests: no Flask app, no database. What is covered:

- add_months: the same instant months later, on the month's last day when it is shorter.
- schedule / next_step: the freeze 12 months after the last login, deposit or order; a notice
  14 days before for a verified e-mail only, and never a freeze sooner than 14 days after
  the notice; activity after a notice starts a new count; Deposited Funds under 1,000.00 at
  the freeze forfeited 6 months later, 1,000.00 or more after 18 months; nothing to forfeit
  when the Deposited Funds at the freeze were not positive; a restoration being decided
  pauses the forfeiture; suspended, terminated and closed accounts follow their own rules.
- restoration: what the Terms say of a request to restore a frozen Balance.

(The forfeiture of Promotional Credit at the freeze is the service's job: here only the
steps and their dates.)
"""
import calendar
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desk.policy.claims import ELIGIBLE, NEEDS_REVIEW, REJECTED
from desk.policy.dormancy import (
    INACTIVE_MONTHS, LARGER_BALANCE, LARGER_MONTHS, NOTICE, RULE, STANDARD_MONTHS, Facts, Schedule, Step,
    add_months, band, basis, next_step, restoration, schedule,
)

UTC = timezone.utc
PLUS8 = timezone(timedelta(hours=8))
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)

LAST = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)          # the last login, deposit or order
FREEZE_DUE = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)    # 12 months later
NOTICE_DUE = datetime(2026, 2, 24, 12, 0, tzinfo=UTC)    # 14 days before
FROZEN = FREEZE_DUE
STANDARD_DUE = datetime(2026, 9, 10, 12, 0, tzinfo=UTC)  # freeze + 6 months
LARGER_DUE = datetime(2027, 9, 10, 12, 0, tzinfo=UTC)    # freeze + 18 months

PROMO_NEVER = "Promotional Credit forfeited at the freeze is never restored."


def D(value) -> Decimal:
    return Decimal(str(value))


def active(verified=False, **overrides) -> Facts:
    """An active account last used 2025-03-10 12:00 UTC, never noticed, never frozen."""
    return Facts(**{"status": "active", "last_active_at": LAST, "email_verified": verified, **overrides})


def noticed(at, verified=True, **overrides) -> Facts:
    """The freeze notice went out `at`, for the inactivity that began at LAST."""
    return active(verified, **{"freeze_notice_at": at, "notice_basis": LAST, **overrides})


def frozen(deposited, verified=False, **overrides) -> Facts:
    """Frozen on 2026-03-10 12:00 UTC with `deposited` Deposited Funds at the freeze."""
    return Facts(**{"status": "frozen", "last_active_at": LAST, "email_verified": verified, "frozen_at": FROZEN,
                    "deposited_at_freeze": None if deposited is None else D(deposited), **overrides})


def action(facts: Facts, now: datetime) -> str | None:
    step = next_step(facts, now)
    return step.action if step else None


# --- add_months ---------------------------------------------------------------------------

@pytest.mark.parametrize("start, months, expected", [
    ((2026, 3, 10), 12, (2027, 3, 10)),
    ((2026, 1, 31), 1, (2026, 2, 28)),
    ((2024, 1, 31), 1, (2024, 2, 29)),    # leap year
    ((2024, 2, 29), 12, (2025, 2, 28)),
    ((2024, 2, 29), 48, (2028, 2, 29)),
    ((2026, 5, 31), 6, (2026, 11, 30)),
    ((2026, 8, 31), 18, (2028, 2, 29)),
    ((2026, 12, 15), 1, (2027, 1, 15)),   # across the year
    ((2026, 11, 30), 3, (2027, 2, 28)),
    ((2026, 3, 10), 0, (2026, 3, 10)),
    ((2026, 1, 15), -1, (2025, 12, 15)),  # negative months go back across the year
    ((2026, 3, 31), -1, (2026, 2, 28)),
    ((2024, 3, 31), -1, (2024, 2, 29)),
    ((2026, 1, 31), -13, (2024, 12, 31)),
    ((2026, 3, 10), -12, (2025, 3, 10)),
])
def test_add_months(start, months, expected):
    moment = datetime(*start, 12, 34, 56, 789, tzinfo=UTC)
    result = add_months(moment, months)
    assert result == datetime(*expected, 12, 34, 56, 789, tzinfo=UTC)  # the time of day is kept


def test_add_months_keeps_the_zone():
    moment = datetime(2026, 1, 31, 23, 0, tzinfo=PLUS8)
    assert add_months(moment, 1) == datetime(2026, 2, 28, 23, 0, tzinfo=PLUS8)
    assert add_months(moment, 1).tzinfo is PLUS8


@settings(max_examples=200, deadline=None, database=None)
@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2200, 12, 31), timezones=st.just(UTC)),
       st.integers(-240, 240))
def test_add_months_property(moment, months):
    result = add_months(moment, months)
    assert (result.year * 12 + result.month) - (moment.year * 12 + moment.month) == months
    assert result.day == min(moment.day, calendar.monthrange(result.year, result.month)[1])
    assert result.time() == moment.time() and result.tzinfo == moment.tzinfo


# --- basis and band -----------------------------------------------------------------------

@pytest.mark.parametrize("last, restored, expected", [
    (LAST, None, LAST),
    (LAST, LAST + DAY, LAST + DAY),          # a restoration unfreezes: the count starts again from it
    (LAST + DAY, LAST, LAST + DAY),
    (None, LAST, LAST),
    (None, None, None),
    (LAST.astimezone(PLUS8), None, LAST),    # read as UTC instants
])
def test_basis_is_the_latest_activity_or_restoration(last, restored, expected):
    result = basis(active(last_active_at=last, restored_at=restored))
    assert result == expected
    if result is not None:
        assert result.utcoffset() == timedelta(0)


def test_basis_needs_aware_times():
    with pytest.raises(ValueError, match="timezone-aware"):
        basis(active(last_active_at=LAST.replace(tzinfo=None)))


@pytest.mark.parametrize("deposited, expected", [
    (None, None), ("0.00", None), ("-25.00", None),  # nothing to forfeit; a negative Balance survives
    ("0.01", "standard"), ("999.99", "standard"),
    ("1000.00", "larger"), ("1000.01", "larger"), ("25000.00", "larger"),
])
def test_band_by_the_deposited_funds_at_the_freeze(deposited, expected):
    assert band(None if deposited is None else D(deposited)) == expected
    assert LARGER_BALANCE == D("1000.00")


def test_constants_are_the_terms():
    assert (INACTIVE_MONTHS, STANDARD_MONTHS, LARGER_MONTHS, NOTICE) == (12, 6, 18, timedelta(days=14))
    assert RULE == "terms-30-dormancy"


# --- the freeze: unverified e-mail (no notice) --------------------------------------------

def test_unverified_schedule_freezes_12_months_after_the_last_activity():
    assert schedule(active(verified=False)) == Schedule(basis=LAST, freeze_due=FREEZE_DUE, freeze_notice_due=None,
                                                        freeze_at=FREEZE_DUE)


@pytest.mark.parametrize("now, expected", [
    (NOTICE_DUE, None),           # no notice to an unverified e-mail, ever
    (FREEZE_DUE - SECOND, None),
    (FREEZE_DUE, "freeze"),
    (FREEZE_DUE + timedelta(days=40), "freeze"),  # a late job still freezes, from the due date
])
def test_unverified_next_step(now, expected):
    assert action(active(verified=False), now) == expected


def test_freeze_step_names_the_rule_the_date_and_the_activity():
    step = next_step(active(), FREEZE_DUE + DAY)
    assert step.rule == RULE and step.due == FREEZE_DUE
    assert "12 consecutive months without a login, deposit or order (since 2025-03-10 12:00:00 UTC)" in step.text
    assert "Promotional Credit forfeited" in step.text


# --- the freeze: verified e-mail (notice 14 days before) ----------------------------------

def test_verified_schedule_owes_a_notice_first():
    plan = schedule(active(verified=True))
    assert plan.freeze_due == FREEZE_DUE
    assert plan.freeze_notice_due == NOTICE_DUE
    assert plan.freeze_at is None  # not before the notice has gone out


@pytest.mark.parametrize("now, expected", [
    (NOTICE_DUE - SECOND, None),
    (NOTICE_DUE, "freeze_notice"),
    (FREEZE_DUE, "freeze_notice"),                 # never a freeze without its notice
    (FREEZE_DUE + timedelta(days=90), "freeze_notice"),
])
def test_verified_next_step_before_the_notice(now, expected):
    assert action(active(verified=True), now) == expected


def test_freeze_notice_on_time_announces_the_due_date():
    step = next_step(active(verified=True), NOTICE_DUE)
    assert step == Step("freeze_notice", NOTICE_DUE, step.text)
    assert ("No login, deposit or order since 2025-03-10 12:00:00 UTC: the Balance will be frozen on "
            "2026-03-10 12:00:00 UTC unless the account is used before then.") == step.text


def test_late_freeze_notice_announces_a_date_14_days_on():
    step = next_step(active(verified=True), FREEZE_DUE + timedelta(days=3))
    assert "will be frozen on 2026-03-27 12:00:00 UTC" in step.text  # 3 days late + 14 days


@pytest.mark.parametrize("sent, freeze_at", [
    (NOTICE_DUE, FREEZE_DUE),                                           # on time: the due date
    (NOTICE_DUE + DAY, FREEZE_DUE + DAY),                               # a day late: 14 days after it
    (FREEZE_DUE + timedelta(days=3), FREEZE_DUE + timedelta(days=17)),  # after the due date
])
def test_freeze_is_never_sooner_than_14_days_after_the_notice(sent, freeze_at):
    facts = noticed(sent)
    assert schedule(facts).freeze_at == freeze_at
    assert action(facts, freeze_at - SECOND) is None
    step = next_step(facts, freeze_at)
    assert step.action == "freeze" and step.due == freeze_at
    assert step.due - sent >= NOTICE


def test_activity_after_the_notice_starts_a_new_count():
    later = LAST + timedelta(days=340)
    facts = noticed(NOTICE_DUE - timedelta(days=30), last_active_at=later)
    plan = schedule(facts)
    assert plan.basis == later
    assert plan.freeze_due == add_months(later, 12)
    assert plan.freeze_at is None  # the old notice was for the old inactivity: a new one is owed
    assert action(facts, FREEZE_DUE) is None
    assert action(facts, plan.freeze_notice_due) == "freeze_notice"


def test_restoration_starts_a_new_count_too():
    restored = LAST + timedelta(days=500)
    facts = noticed(NOTICE_DUE, restored_at=restored)
    assert schedule(facts).basis == restored
    assert schedule(facts).freeze_at is None
    assert action(facts, add_months(restored, 12) - NOTICE) == "freeze_notice"


def test_notice_for_an_e_mail_that_is_no_longer_verified_freezes_on_the_due_date():
    facts = noticed(NOTICE_DUE + timedelta(days=10), verified=False)
    assert schedule(facts).freeze_at == FREEZE_DUE


def test_schedule_in_another_zone_is_the_same_instants():
    local = noticed(NOTICE_DUE.astimezone(PLUS8), last_active_at=LAST.astimezone(PLUS8),
                    notice_basis=LAST.astimezone(PLUS8))
    assert schedule(local) == schedule(noticed(NOTICE_DUE))
    assert next_step(local, FREEZE_DUE.astimezone(PLUS8)) == next_step(noticed(NOTICE_DUE), FREEZE_DUE)


def test_no_activity_recorded_means_no_schedule():
    facts = active(last_active_at=None)
    assert schedule(facts) == Schedule()
    assert next_step(facts, FREEZE_DUE + timedelta(days=3650)) is None


@pytest.mark.parametrize("status", ["suspended", "closed", "terminated"])
@pytest.mark.parametrize("facts", [
    active(verified=True), active(), frozen("500.00"), frozen("5000.00", verified=True),
], ids=["verified", "unverified", "standard", "larger"])
def test_suspended_closed_terminated_accounts_have_no_steps(status, facts):
    facts = replace(facts, status=status)
    assert schedule(facts) == Schedule()
    for now in (NOTICE_DUE, FREEZE_DUE, STANDARD_DUE, LARGER_DUE + timedelta(days=365)):
        assert next_step(facts, now) is None


def test_next_step_needs_aware_times():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_step(active(), FREEZE_DUE.replace(tzinfo=None))


# --- after the freeze: standard balances (under 1,000.00) ---------------------------------

@pytest.mark.parametrize("deposited", ["0.01", "999.99"])
def test_standard_schedule_forfeits_6_months_after_the_freeze(deposited):
    plan = schedule(frozen(deposited))
    assert plan == Schedule(freeze_at=FROZEN, band="standard", forfeit_due=STANDARD_DUE, forfeit_notice_due=None,
                            forfeit_at=STANDARD_DUE, restoration_until=STANDARD_DUE)


@pytest.mark.parametrize("now, expected", [
    (FROZEN + DAY, None),
    (STANDARD_DUE - NOTICE, None),     # no notice to an unverified e-mail
    (STANDARD_DUE - SECOND, None),
    (STANDARD_DUE, "forfeit"),
])
def test_standard_unverified_next_step(now, expected):
    assert action(frozen("999.99"), now) == expected


def test_standard_forfeit_step_text():
    step = next_step(frozen("999.99"), STANDARD_DUE)
    assert step.due == STANDARD_DUE and step.rule == RULE
    assert step.text == ("6 months after the freeze of 2026-03-10 12:00:00 UTC, the remaining Deposited Funds "
                         "(under 1,000.00 at the freeze) are forfeited in full.")


@pytest.mark.parametrize("now, expected", [
    (STANDARD_DUE - NOTICE - SECOND, None),
    (STANDARD_DUE - NOTICE, "forfeit_notice"),
    (STANDARD_DUE, "forfeit_notice"),  # never a forfeiture without its notice
])
def test_standard_verified_notice_first(now, expected):
    facts = frozen("999.99", verified=True)
    assert schedule(facts).forfeit_notice_due == STANDARD_DUE - NOTICE
    assert schedule(facts).forfeit_at is None
    assert action(facts, now) == expected


def test_standard_forfeit_notice_text_has_the_date_and_no_restoration_offer():
    step = next_step(frozen("999.99", verified=True), STANDARD_DUE - NOTICE)
    assert step.text == ("The Deposited Funds frozen on 2026-03-10 12:00:00 UTC will be forfeited on "
                         "2026-09-10 12:00:00 UTC.")


@pytest.mark.parametrize("sent, forfeit_at", [
    (STANDARD_DUE - NOTICE, STANDARD_DUE),
    (STANDARD_DUE - timedelta(days=2), STANDARD_DUE + timedelta(days=12)),
    (STANDARD_DUE + timedelta(days=30), STANDARD_DUE + timedelta(days=44)),
])
def test_forfeiture_is_never_sooner_than_14_days_after_its_notice(sent, forfeit_at):
    facts = frozen("999.99", verified=True, forfeit_notice_at=sent)
    assert schedule(facts).forfeit_at == forfeit_at
    assert action(facts, forfeit_at - SECOND) is None
    assert action(facts, forfeit_at) == "forfeit"


# --- after the freeze: larger balances (1,000.00 or more) ---------------------------------

@pytest.mark.parametrize("deposited", ["1000.00", "1000.01", "25000.00"])
def test_larger_schedule_forfeits_after_18_months(deposited):
    plan = schedule(frozen(deposited))
    assert plan == Schedule(freeze_at=FROZEN, band="larger", forfeit_due=LARGER_DUE, forfeit_notice_due=None,
                            forfeit_at=LARGER_DUE, restoration_until=LARGER_DUE)


@pytest.mark.parametrize("now, expected", [
    (STANDARD_DUE, None),             # 6 months are nothing to a larger balance
    (LARGER_DUE - SECOND, None),
    (LARGER_DUE, "forfeit"),
])
def test_larger_unverified_next_step(now, expected):
    assert action(frozen("1000.00"), now) == expected


def test_larger_window_ends_on_its_date_whatever_the_notice():
    """The 18 months are the customer's right, not a notice period: a verified e-mail gets a
    courtesy notice 14 days before, and a notice the job never got to send does not move
    the forfeiture."""
    verified = frozen("1000.00", verified=True)
    assert schedule(verified).forfeit_at == LARGER_DUE
    assert action(verified, LARGER_DUE - NOTICE - SECOND) is None
    assert action(verified, LARGER_DUE - NOTICE) == "forfeit_notice"
    assert action(verified, LARGER_DUE - SECOND) == "forfeit_notice"
    assert action(verified, LARGER_DUE) == "forfeit"  # late, no notice sent: the window still ends
    noticed = frozen("1000.00", verified=True, forfeit_notice_at=LARGER_DUE - timedelta(days=2))
    assert action(noticed, LARGER_DUE - SECOND) is None
    assert action(noticed, LARGER_DUE) == "forfeit"


def test_larger_texts():
    notice = next_step(frozen("1000.00", verified=True), LARGER_DUE - NOTICE)
    assert notice.action == "forfeit_notice"
    assert notice.text.endswith("will be forfeited on 2027-09-10 12:00:00 UTC unless restoration is requested "
                                "before then.")
    forfeit = next_step(frozen("1000.00"), LARGER_DUE)
    assert forfeit.text == ("No restoration was requested within 18 months of the freeze of 2026-03-10 12:00:00 UTC: "
                            "the Deposited Funds are forfeited in full.")


# --- after the freeze: nothing to forfeit, paused, done -----------------------------------

@pytest.mark.parametrize("deposited", [None, "0.00", "-40.00"])
@pytest.mark.parametrize("verified", [False, True])
def test_no_positive_deposited_funds_at_the_freeze_no_forfeiture_steps(deposited, verified):
    facts = frozen(deposited, verified=verified)
    assert schedule(facts) == Schedule(freeze_at=FROZEN)
    for now in (STANDARD_DUE - NOTICE, STANDARD_DUE, LARGER_DUE, LARGER_DUE + timedelta(days=3650)):
        assert next_step(facts, now) is None


@pytest.mark.parametrize("facts, now", [
    (frozen("999.99"), STANDARD_DUE + DAY),
    (frozen("999.99", verified=True), STANDARD_DUE - NOTICE),   # not even the notice
    (frozen("5000.00"), LARGER_DUE + DAY),
])
def test_a_restoration_being_decided_pauses_the_forfeiture(facts, now):
    assert next_step(facts, now) is not None
    assert next_step(replace(facts, restoration_open=True), now) is None


@pytest.mark.parametrize("facts", [frozen("999.99"), frozen("5000.00", verified=True)])
def test_nothing_is_due_after_the_forfeiture(facts):
    done = replace(facts, forfeit_notice_at=FROZEN + DAY, forfeited_at=LARGER_DUE)
    assert next_step(done, LARGER_DUE + timedelta(days=3650)) is None


# --- the daily job, from the last activity to the end -------------------------------------

def apply(facts: Facts, step: Step, now: datetime, deposited: Decimal) -> Facts:
    """What the service records when it applies a step."""
    if step.action == "freeze_notice":
        return replace(facts, freeze_notice_at=now, notice_basis=schedule(facts).basis)
    if step.action == "freeze":
        return replace(facts, status="frozen", frozen_at=now, deposited_at_freeze=deposited)
    if step.action == "forfeit_notice":
        return replace(facts, forfeit_notice_at=now)
    return replace(facts, forfeited_at=now)


def run_daily(facts: Facts, deposited: str, days=1200) -> list[tuple[str, datetime]]:
    """Ask every day at 03:00 UTC from the last activity on, applying each step due."""
    done = []
    now = datetime(2025, 3, 11, 3, 0, tzinfo=UTC)
    for _ in range(days):
        for _ in range(4):
            step = next_step(facts, now)
            if step is None:
                break
            facts = apply(facts, step, now, D(deposited))
            done.append((step.action, now))
        now += DAY
    return done


@pytest.mark.parametrize("verified, deposited, expected", [
    (True, "999.99", ["freeze_notice", "freeze", "forfeit_notice", "forfeit"]),
    (False, "999.99", ["freeze", "forfeit"]),
    (True, "1000.00", ["freeze_notice", "freeze", "forfeit_notice", "forfeit"]),
    (False, "1000.00", ["freeze", "forfeit"]),
    (True, "0.00", ["freeze_notice", "freeze"]),
    (False, "-5.00", ["freeze"]),
])
def test_the_daily_job_applies_each_step_once_in_order(verified, deposited, expected):
    done = run_daily(active(verified), deposited)
    assert [a for a, _ in done] == expected
    at = dict(done)
    assert at["freeze"] >= FREEZE_DUE
    if verified:
        assert at["freeze"] - at["freeze_notice"] >= NOTICE
    if "forfeit" in at:
        due = STANDARD_DUE if D(deposited) < LARGER_BALANCE else LARGER_DUE
        assert at["forfeit"] >= due
        if verified:
            assert at["forfeit"] - at["forfeit_notice"] >= NOTICE


# --- restoration --------------------------------------------------------------------------

def test_restoration_of_an_account_that_is_not_frozen_is_rejected():
    reason = restoration(active(), FREEZE_DUE)
    assert (reason.rule, reason.outcome) == (RULE, REJECTED)
    assert "not frozen" in reason.text


@pytest.mark.parametrize("now", [FROZEN + DAY, STANDARD_DUE - SECOND, STANDARD_DUE])
def test_standard_restoration_within_the_6_months_is_eligible(now):
    reason = restoration(frozen("999.99"), now)
    assert (reason.rule, reason.outcome) == (RULE, ELIGIBLE)
    assert ("Frozen on 2026-03-10 12:00:00 UTC with 999.99 of Deposited Funds (under 1,000.00): they can be "
            "restored until they are forfeited 6 months after the freeze (2026-09-10 12:00:00 UTC).") in reason.text
    assert PROMO_NEVER in reason.text


def test_standard_restoration_once_the_forfeiture_fell_due_is_goodwill():
    """Terms §30: 6 months after the freeze the Deposited Funds are forfeited "with no further
    right to restoration", even if the daily job has not recorded the forfeiture yet."""
    reason = restoration(frozen("999.99"), STANDARD_DUE + SECOND)
    assert reason.outcome == NEEDS_REVIEW
    assert "fell to be forfeited on 2026-09-10 12:00:00 UTC" in reason.text
    assert "goodwill" in reason.text and PROMO_NEVER in reason.text


def test_standard_restoration_while_its_late_notice_runs_is_still_eligible():
    facts = frozen("999.99", verified=True, forfeit_notice_at=STANDARD_DUE + DAY)  # forfeit 14 days after
    assert restoration(facts, STANDARD_DUE + timedelta(days=10)).outcome == ELIGIBLE
    assert restoration(facts, STANDARD_DUE + timedelta(days=15) + SECOND).outcome == NEEDS_REVIEW
    owed = frozen("999.99", verified=True)  # the notice has not gone out: nothing is forfeited yet
    assert restoration(owed, STANDARD_DUE + timedelta(days=30)).outcome == ELIGIBLE


@pytest.mark.parametrize("now", [FROZEN + DAY, STANDARD_DUE + DAY, LARGER_DUE - SECOND, LARGER_DUE])
def test_larger_restoration_within_18_months_is_eligible(now):
    reason = restoration(frozen("1000.00"), now)
    assert (reason.rule, reason.outcome) == (RULE, ELIGIBLE)
    assert "with 1,000.00 of Deposited Funds (1,000.00 or more)" in reason.text
    assert "restoration may be requested for 18 months from the freeze, until 2027-09-10 12:00:00 UTC" in reason.text
    assert PROMO_NEVER in reason.text


def test_larger_restoration_after_18_months_is_goodwill():
    reason = restoration(frozen("1000.00"), LARGER_DUE + SECOND)
    assert (reason.rule, reason.outcome) == (RULE, NEEDS_REVIEW)
    assert ("The 18-month restoration window after the freeze of 2026-03-10 12:00:00 UTC ended on "
            "2027-09-10 12:00:00 UTC: restoration is goodwill only.") in reason.text
    assert PROMO_NEVER in reason.text


@pytest.mark.parametrize("deposited", ["999.99", "1000.00"])
def test_restoration_after_forfeiture_is_goodwill_only(deposited):
    facts = frozen(deposited, forfeited_at=STANDARD_DUE + DAY)
    reason = restoration(facts, STANDARD_DUE + timedelta(days=2))
    assert (reason.rule, reason.outcome) == (RULE, NEEDS_REVIEW)
    assert "The Deposited Funds were forfeited on 2026-09-11 12:00:00 UTC." in reason.text
    assert "goodwill exception" in reason.text
    assert PROMO_NEVER in reason.text


@pytest.mark.parametrize("deposited", [None, "0.00", "-40.00"])
def test_restoration_with_no_positive_deposited_funds_unfreezes_only(deposited):
    reason = restoration(frozen(deposited), LARGER_DUE + timedelta(days=365))
    assert reason.outcome == ELIGIBLE
    assert "no positive Deposited Funds: the account can be unfrozen; nothing else is restored." in reason.text
    assert PROMO_NEVER in reason.text


@pytest.mark.parametrize("status", ["suspended", "terminated"])
def test_restoration_of_a_frozen_account_now_suspended_is_reviewed(status):
    """A frozen account suspended since (a chargeback, an abuse case) has no dormancy schedule:
    the answer says so instead of failing."""
    reason = restoration(frozen("500.00", status=status), STANDARD_DUE - DAY)
    assert (reason.rule, reason.outcome) == (RULE, NEEDS_REVIEW)
    assert f"The account is {status}" in reason.text
    assert PROMO_NEVER in reason.text


@pytest.mark.parametrize("facts, now", [
    (frozen("999.99"), FROZEN + DAY),
    (frozen("999.99"), STANDARD_DUE + DAY),
    (frozen("5000.00"), FROZEN + DAY),
    (frozen("5000.00"), LARGER_DUE + DAY),
    (frozen("5000.00", forfeited_at=LARGER_DUE), LARGER_DUE + DAY),
    (frozen(None), FROZEN + DAY),
    (frozen("500.00", status="suspended"), FROZEN + DAY),
], ids=["standard", "standard-late", "larger", "larger-late", "forfeited", "nothing", "suspended"])
def test_every_restoration_answer_of_a_frozen_account_says_promotional_credit_is_never_restored(facts, now):
    assert restoration(facts, now).text.endswith(PROMO_NEVER)


def test_restoration_in_another_zone_is_the_same_answer():
    local = frozen("1000.00", frozen_at=FROZEN.astimezone(PLUS8))
    assert restoration(local, LARGER_DUE.astimezone(PLUS8)) == restoration(frozen("1000.00"), LARGER_DUE)
    assert restoration(local, (LARGER_DUE + SECOND).astimezone(PLUS8)).outcome == NEEDS_REVIEW


# --- properties ---------------------------------------------------------------------------

PROPERTY = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
offsets = st.integers(min_value=0, max_value=400 * 24 * 3600)  # seconds


@PROPERTY
@given(offsets, offsets)
def test_a_verified_freeze_is_never_sooner_than_14_days_after_its_notice(sent_after, asked_after):
    sent = NOTICE_DUE + timedelta(seconds=sent_after)
    facts = noticed(sent)
    step = next_step(facts, sent + timedelta(seconds=asked_after))
    if step is not None:
        assert step.action == "freeze"
        assert step.due >= max(FREEZE_DUE, sent + NOTICE)
    else:
        assert sent + timedelta(seconds=asked_after) < max(FREEZE_DUE, sent + NOTICE)


@PROPERTY
@given(st.decimals(min_value=Decimal("-5000.00"), max_value=Decimal("50000.00"), places=2), st.booleans(),
       st.integers(min_value=0, max_value=30 * 30))
def test_forfeiture_never_before_its_band_allows(deposited, verified, days_after):
    facts = frozen(deposited, verified=verified)
    step = next_step(facts, FROZEN + timedelta(days=days_after))
    if deposited <= 0:
        assert step is None
    elif step is not None and step.action == "forfeit":
        assert step.due >= (STANDARD_DUE if deposited < LARGER_BALANCE else LARGER_DUE)
        # A verified e-mail gets its notice before a standard forfeiture; the 18-month window
        # of a larger balance ends on its date, notice or not.
        assert not verified or deposited >= LARGER_BALANCE
