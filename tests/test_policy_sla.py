"""Which clocks a ticket runs and when they are due (desk/policy/sla.py). Pure: no Flask, no database.

Clauses under test, each asserted by its rule id:

- terms-33-support-hours: every ticket kind has a first-response and a resolution target in
  support minutes; these clocks pause while the ticket waits on the customer.
- terms-33-legal: rights-holder notices are acknowledged within 5 business days and answered
  within 30 calendar days; these replace the support clocks and never pause.
- privacy-10-gdpr: EU/UK (and unspecified) privacy requests are answered within one month,
  extendable once by two months; the clock pauses only when an admin says so.
- privacy-10-ccpa: California requests are confirmed within 10 business days and answered
  within 45 calendar days, extendable once by 45 days; never paused.
- aup-5.6-serious-harm: a serious-harm abuse report gets a first action within 60 minutes,
  round the clock.
"""
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from desk.policy import sla
from desk.policy.calendar import (
    DEFAULT_CALENDAR,
    Calendar,
    Hours,
    add_business_days,
    add_calendar_days,
    add_months,
    add_support_minutes,
)
from desk.policy.sla import (
    DEFAULT_TARGETS,
    MEASURES,
    STOPS_ON,
    ClockSpec,
    Extension,
    Targets,
    clocks_for,
    deadline,
    describe,
    duration_words,
    extension_problem,
)

SGT = ZoneInfo("Asia/Singapore")
LONDON = ZoneInfo("Europe/London")
UTC = timezone.utc
NEVER_OPEN = Calendar(week=(None,) * 7)
CLOSED_WEEKENDS = Calendar(week=(Hours(),) * 5 + (None, None))

SUPPORT_KINDS = sorted(kind for kind in DEFAULT_TARGETS if kind != "rights")  # rights: terms-33-legal


def sgt(*args):
    return datetime(*args, tzinfo=SGT)


def end_of_sgt_day(year, month, day):
    return datetime.combine(date(year, month, day), time(23, 59, 59, 999_999), SGT)


def by_name(clocks):
    names = [c.name for c in clocks]
    assert len(names) == len(set(names)), f"clock names repeat: {names}"
    return {c.name: c for c in clocks}


def test_rule_ids():
    assert sla.SUPPORT_HOURS == "terms-33-support-hours"
    assert sla.LEGAL == "terms-33-legal"
    assert sla.GDPR == "privacy-10-gdpr"
    assert sla.CCPA == "privacy-10-ccpa"
    assert sla.SERIOUS_HARM == "aup-5.6-serious-harm"
    for rule in ("terms-33-support-hours", "terms-33-legal", "privacy-10-gdpr", "privacy-10-ccpa",
                 "aup-5.6-serious-harm"):
        assert rule in sla.__doc__


# --- DEFAULT_TARGETS and Targets.problems --------------------------------------------------

def test_default_targets_cover_every_kind_and_are_valid():
    assert set(DEFAULT_TARGETS) == {
        "general", "claim", "refill", "cancel", "multi_account", "refund", "withdrawal", "closure",
        "restoration", "chargeback", "abuse", "rights", "privacy"}
    for kind, targets in DEFAULT_TARGETS.items():
        assert targets.problems() == {}, kind
        assert 0 < targets.first_response <= targets.resolution, kind


def test_default_targets_in_support_days():
    # One support day is 10:00-23:00, 780 minutes.
    assert sla.SUPPORT_DAY == 780
    assert DEFAULT_TARGETS["general"] == Targets(240, 3 * 780)
    assert DEFAULT_TARGETS["cancel"] == Targets(120, 780)
    assert DEFAULT_TARGETS["abuse"] == Targets(120, 3 * 780)
    assert DEFAULT_TARGETS["refund"] == Targets(240, 5 * 780)


@pytest.mark.parametrize("first_response, resolution", [
    pytest.param(1, 1, id="one-minute-each"),
    pytest.param(60, 60, id="equal"),
    pytest.param(60, 525_600, id="resolution-at-maximum"),
    pytest.param(525_600, 525_600, id="both-at-maximum"),
])
def test_valid_targets_have_no_problems(first_response, resolution):
    assert Targets(first_response, resolution).problems() == {}


RANGE = "a whole number of minutes from 1 to 525600"
SHORTER = "must not be shorter than the first-response target"


@pytest.mark.parametrize("first_response, resolution, problems", [
    pytest.param(0, 60, {"first_response": RANGE}, id="first-response-zero"),
    pytest.param(60, 0, {"resolution": RANGE}, id="resolution-zero"),
    pytest.param(-5, 60, {"first_response": RANGE}, id="first-response-negative"),
    pytest.param(60, -1, {"resolution": RANGE}, id="resolution-negative"),
    pytest.param(0, 0, {"first_response": RANGE, "resolution": RANGE}, id="both-zero"),
    pytest.param(525_601, 525_601, {"first_response": RANGE, "resolution": RANGE}, id="over-a-year"),
    pytest.param(60.0, 120, {"first_response": RANGE}, id="float-minutes"),
    pytest.param("60", 120, {"first_response": RANGE}, id="text-minutes"),
    pytest.param(120, 60, {"resolution": SHORTER}, id="resolution-shorter-than-first-response"),
    pytest.param(240, 239, {"resolution": SHORTER}, id="resolution-one-minute-short"),
])
def test_targets_problems(first_response, resolution, problems):
    assert Targets(first_response, resolution).problems() == problems


def test_the_order_check_waits_for_valid_numbers():
    # A range problem is reported alone: the comparison is only made between valid numbers.
    assert Targets(600, -1).problems() == {"resolution": RANGE}


# --- clocks_for ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", SUPPORT_KINDS)
def test_every_kind_gets_pausing_support_clocks(kind):
    targets = DEFAULT_TARGETS[kind]
    clocks = by_name(clocks_for(kind, targets))
    first, resolution = clocks["first_response"], clocks["resolution"]
    assert (first.rule, first.measure, first.amount, first.stops_on, first.pauses, first.extension) == (
        "terms-33-support-hours", "support", targets.first_response, "public_reply", True, None)
    assert (resolution.rule, resolution.measure, resolution.amount, resolution.stops_on, resolution.pauses,
            resolution.extension) == ("terms-33-support-hours", "support", targets.resolution, "resolved", True, None)
    assert first.label == "First response" and resolution.label == "Resolution"


@pytest.mark.parametrize("kind", [k for k in SUPPORT_KINDS if k != "privacy"])
def test_plain_kinds_run_only_the_support_clocks(kind):
    assert [c.name for c in clocks_for(kind, DEFAULT_TARGETS[kind])] == ["first_response", "resolution"]


def test_support_clocks_follow_the_configured_targets():
    clocks = by_name(clocks_for("general", Targets(30, 90)))
    assert clocks["first_response"].amount == 30
    assert clocks["resolution"].amount == 90


def test_rights_notices_run_exactly_the_two_legal_clocks():
    clocks = clocks_for("rights", DEFAULT_TARGETS["rights"])
    assert [c.name for c in clocks] == ["acknowledgement", "response"]
    ack, response = clocks
    assert (ack.rule, ack.measure, ack.amount, ack.stops_on, ack.pauses, ack.extension) == (
        "terms-33-legal", "business_days", 5, "public_reply", False, None)
    assert (response.rule, response.measure, response.amount, response.stops_on, response.pauses,
            response.extension) == ("terms-33-legal", "calendar_days", 30, "resolved", False, None)


def test_only_rights_notices_are_legal_kinds():
    assert sla.LEGAL_KINDS == {"rights"}


def test_rights_clocks_ignore_targets_and_other_options():
    plain = clocks_for("rights", DEFAULT_TARGETS["rights"])
    assert clocks_for("rights", Targets(1, 2), jurisdiction="ca", serious_harm=True,
                      gdpr_pauses_for_identity=True) == plain
    assert all(c.rule == "terms-33-legal" for c in plain)


def test_serious_harm_abuse_adds_the_one_hour_wall_clock_first():
    clocks = clocks_for("abuse", DEFAULT_TARGETS["abuse"], serious_harm=True)
    assert [c.name for c in clocks] == ["first_action", "first_response", "resolution"]
    harm = clocks[0]
    assert (harm.rule, harm.measure, harm.amount, harm.stops_on, harm.pauses, harm.extension) == (
        "aup-5.6-serious-harm", "wall", 60, "any_action", False, None)
    assert [c.rule for c in clocks[1:]] == ["terms-33-support-hours"] * 2


def test_abuse_without_serious_harm_has_no_wall_clock():
    assert all(c.rule != "aup-5.6-serious-harm" for c in clocks_for("abuse", DEFAULT_TARGETS["abuse"]))


@pytest.mark.parametrize("kind", [k for k in SUPPORT_KINDS if k != "abuse"])
def test_serious_harm_only_applies_to_abuse(kind):
    clocks = clocks_for(kind, DEFAULT_TARGETS[kind], serious_harm=True)
    assert all(c.rule != "aup-5.6-serious-harm" for c in clocks)
    assert clocks == clocks_for(kind, DEFAULT_TARGETS[kind])


@pytest.mark.parametrize("jurisdiction", ["eu", "other", None])
@pytest.mark.parametrize("pauses", [False, True], ids=["identity-does-not-pause", "identity-pauses"])
def test_privacy_outside_california_gets_the_gdpr_month(jurisdiction, pauses):
    clocks = clocks_for("privacy", DEFAULT_TARGETS["privacy"], jurisdiction=jurisdiction,
                        gdpr_pauses_for_identity=pauses)
    assert [c.name for c in clocks] == ["first_response", "resolution", "statutory_answer"]
    gdpr = clocks[-1]
    assert (gdpr.rule, gdpr.measure, gdpr.amount, gdpr.stops_on, gdpr.label) == (
        "privacy-10-gdpr", "months", 1, "resolved", "Answer (GDPR)")
    assert gdpr.pauses is pauses
    assert gdpr.extension == Extension(2, reason_required=True)
    assert all(c.pauses for c in clocks[:2])  # the support clocks pause either way


def test_the_gdpr_switch_does_not_change_the_shared_clock():
    clocks_for("privacy", DEFAULT_TARGETS["privacy"], jurisdiction="eu", gdpr_pauses_for_identity=True)
    assert sla.GDPR_CLOCK.pauses is False
    gdpr = clocks_for("privacy", DEFAULT_TARGETS["privacy"], jurisdiction="eu")[-1]
    assert gdpr.rule == "privacy-10-gdpr" and gdpr.pauses is False


@pytest.mark.parametrize("pauses", [False, True], ids=["gdpr-switch-off", "gdpr-switch-on"])
def test_california_privacy_gets_the_ccpa_clocks_which_never_pause(pauses):
    clocks = clocks_for("privacy", DEFAULT_TARGETS["privacy"], jurisdiction="ca", gdpr_pauses_for_identity=pauses)
    assert [c.name for c in clocks] == ["first_response", "resolution", "receipt_confirmation", "statutory_answer"]
    confirm, answer = clocks[2:]
    assert (confirm.rule, confirm.measure, confirm.amount, confirm.stops_on, confirm.pauses, confirm.extension) == (
        "privacy-10-ccpa", "business_days", 10, "public_reply", False, None)
    assert (answer.rule, answer.measure, answer.amount, answer.stops_on, answer.pauses, answer.extension) == (
        "privacy-10-ccpa", "calendar_days", 45, "resolved", False, Extension(45, reason_required=True))
    assert all(c.rule != "privacy-10-gdpr" for c in clocks)


@pytest.mark.parametrize("jurisdiction", ["eu", "ca", "other"])
def test_jurisdiction_only_matters_for_privacy(jurisdiction):
    assert clocks_for("general", DEFAULT_TARGETS["general"], jurisdiction=jurisdiction) == \
        clocks_for("general", DEFAULT_TARGETS["general"])


def test_returned_lists_are_the_callers_own():
    first = clocks_for("rights", DEFAULT_TARGETS["rights"])
    first.clear()
    ca = clocks_for("privacy", DEFAULT_TARGETS["privacy"], jurisdiction="ca")
    ca.append("junk")
    assert [c.name for c in clocks_for("rights", DEFAULT_TARGETS["rights"])] == ["acknowledgement", "response"]
    assert len(clocks_for("privacy", DEFAULT_TARGETS["privacy"], jurisdiction="ca")) == 4
    assert len(sla.LEGAL_CLOCKS) == 2 and len(sla.CCPA_CLOCKS) == 2


def every_clock():
    seen = {}
    for kind in DEFAULT_TARGETS:
        for options in ({}, {"serious_harm": True}, {"jurisdiction": "eu"}, {"jurisdiction": "ca"},
                        {"jurisdiction": "other", "gdpr_pauses_for_identity": True}):
            for c in clocks_for(kind, DEFAULT_TARGETS[kind], **options):
                seen[(c.rule, c.name, c.pauses, c.amount)] = c
    return list(seen.values())


def test_every_clock_uses_a_known_measure_and_stop():
    clocks = every_clock()
    assert {c.rule for c in clocks} == {"terms-33-support-hours", "terms-33-legal", "privacy-10-gdpr",
                                        "privacy-10-ccpa", "aup-5.6-serious-harm"}
    for c in clocks:
        assert c.measure in MEASURES and c.stops_on in STOPS_ON, c
        # Only the support clocks pause by default; only the statutory answers extend.
        if c.rule == "terms-33-support-hours":
            assert c.pauses
        if c.extension is not None:
            assert c.rule in ("privacy-10-gdpr", "privacy-10-ccpa") and c.name == "statutory_answer"


# --- deadline ------------------------------------------------------------------------------

FRIDAY_NIGHT = sgt(2026, 7, 3, 22, 50)


@pytest.mark.parametrize("measure, amount, cal, due", [
    pytest.param("support", 30, DEFAULT_CALENDAR, sgt(2026, 7, 4, 10, 20), id="support-open-saturday"),
    pytest.param("support", 30, CLOSED_WEEKENDS, sgt(2026, 7, 6, 10, 20), id="support-closed-weekend"),
    pytest.param("wall", 60, DEFAULT_CALENDAR, sgt(2026, 7, 3, 23, 50), id="wall-ignores-closing-time"),
    pytest.param("wall", 60, NEVER_OPEN, sgt(2026, 7, 3, 23, 50), id="wall-ignores-a-closed-calendar"),
    pytest.param("business_days", 5, DEFAULT_CALENDAR, end_of_sgt_day(2026, 7, 10), id="5-business-days-from-friday"),
    pytest.param("business_days", 10, DEFAULT_CALENDAR, end_of_sgt_day(2026, 7, 17), id="10-business-days"),
    pytest.param("calendar_days", 30, DEFAULT_CALENDAR, end_of_sgt_day(2026, 8, 2), id="30-calendar-days"),
    pytest.param("calendar_days", 45, DEFAULT_CALENDAR, end_of_sgt_day(2026, 8, 17), id="45-calendar-days"),
    pytest.param("months", 1, DEFAULT_CALENDAR, end_of_sgt_day(2026, 8, 3), id="one-month"),
    pytest.param("months", 3, DEFAULT_CALENDAR, end_of_sgt_day(2026, 10, 3), id="three-months"),
])
def test_deadline_by_measure(measure, amount, cal, due):
    assert deadline(measure, FRIDAY_NIGHT, amount, cal) == due


def test_deadline_uses_the_calendar_functions():
    start = sgt(2026, 11, 20, 15, 0)
    cal = Calendar(holidays=frozenset({date(2026, 11, 23)}))
    assert deadline("support", start, 2340, cal) == add_support_minutes(start, 2340, cal)
    assert deadline("business_days", start, 10, cal) == add_business_days(start, 10, cal)
    assert deadline("calendar_days", start, 45, cal) == add_calendar_days(start, 45, cal)
    assert deadline("months", start, 1, cal) == add_months(start, 1, cal)
    assert deadline("wall", start, 60, cal) == start + timedelta(hours=1)


@pytest.mark.parametrize("measure", ["days", "hours", "", "Support"])
def test_unknown_measure_is_refused(measure):
    with pytest.raises(ValueError, match="unknown measure"):
        deadline(measure, FRIDAY_NIGHT, 1, DEFAULT_CALENDAR)


@pytest.mark.parametrize("measure", [
    "support", "business_days", "calendar_days", "months",
    "wall",
])
def test_naive_start_is_refused_by_every_measure(measure):
    with pytest.raises(ValueError):
        deadline(measure, datetime(2026, 7, 3, 22, 50), 1, DEFAULT_CALENDAR)


def test_wall_clock_counts_real_minutes_across_a_dst_change():
    # 25 October 2026, 00:30 BST (23:30 UTC on the 24th); clocks go back at 02:00 BST.
    start = datetime(2026, 10, 25, 0, 30, tzinfo=LONDON)
    due = deadline("wall", start, 90, Calendar(zone="Europe/London"))
    assert due.astimezone(UTC) - start.astimezone(UTC) == timedelta(minutes=90)


def test_wall_clock_from_a_utc_start_counts_real_minutes():
    start = datetime(2026, 10, 24, 23, 30, tzinfo=UTC)  # 00:30 BST on 25 October
    due = deadline("wall", start, 90, Calendar(zone="Europe/London"))
    assert due == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)


def test_deadlines_of_each_statutory_clock():
    received = sgt(2026, 11, 20, 15, 0)  # a Friday
    legal = by_name(clocks_for("rights", DEFAULT_TARGETS["rights"]))
    ccpa = by_name(clocks_for("privacy", DEFAULT_TARGETS["privacy"], jurisdiction="ca"))
    harm = by_name(clocks_for("abuse", DEFAULT_TARGETS["abuse"], serious_harm=True))

    def due(spec):
        return deadline(spec.measure, received, spec.amount, DEFAULT_CALENDAR)

    assert due(legal["acknowledgement"]) == end_of_sgt_day(2026, 11, 27)
    assert due(legal["response"]) == end_of_sgt_day(2026, 12, 20)
    assert due(ccpa["receipt_confirmation"]) == end_of_sgt_day(2026, 12, 4)
    assert due(ccpa["statutory_answer"]) == end_of_sgt_day(2027, 1, 4)
    assert due(harm["first_action"]) == sgt(2026, 11, 20, 16, 0)


# --- extensions (privacy-10-gdpr, privacy-10-ccpa) -----------------------------------------

GDPR_SPEC = clocks_for("privacy", DEFAULT_TARGETS["privacy"], jurisdiction="eu")[-1]
GDPR_PAUSING_SPEC = clocks_for("privacy", DEFAULT_TARGETS["privacy"], jurisdiction="eu",
                               gdpr_pauses_for_identity=True)[-1]
CCPA_SPECS = by_name(clocks_for("privacy", DEFAULT_TARGETS["privacy"], jurisdiction="ca"))
CCPA_SPEC = CCPA_SPECS["statutory_answer"]
RECEIVED = sgt(2026, 1, 31, 12, 0)  # GDPR month ends 28 Feb 2026; CCPA 45 days end 17 Mar 2026


def problem(spec, *, now, extended=False, stopped=False, reason="Complex request: several accounts.",
            started_at=RECEIVED, cal=DEFAULT_CALENDAR):
    return extension_problem(spec, started_at=started_at, extended=extended, stopped=stopped, now=now,
                             reason=reason, cal=cal)


def test_extension_spec_rules():
    assert GDPR_SPEC.rule == "privacy-10-gdpr" and GDPR_SPEC.extension.amount == 2
    assert CCPA_SPEC.rule == "privacy-10-ccpa" and CCPA_SPEC.extension.amount == 45
    assert GDPR_SPEC.extension.reason_required and CCPA_SPEC.extension.reason_required


@pytest.mark.parametrize("spec", [GDPR_SPEC, GDPR_PAUSING_SPEC, CCPA_SPEC],
                         ids=["gdpr", "gdpr-pausing", "ccpa"])
@pytest.mark.parametrize("now", [RECEIVED, sgt(2026, 2, 10, 9, 0), sgt(2026, 2, 28, 23, 59, 59, 999_999)],
                         ids=["at-receipt", "mid-period", "last-microsecond-of-the-month"])
def test_extension_allowed_once_within_the_first_period_with_a_reason(spec, now):
    assert problem(spec, now=now) is None


@pytest.mark.parametrize("spec", [
    pytest.param(clocks_for("general", DEFAULT_TARGETS["general"])[0], id="first-response"),
    pytest.param(clocks_for("general", DEFAULT_TARGETS["general"])[1], id="resolution"),
    pytest.param(clocks_for("rights", DEFAULT_TARGETS["rights"])[0], id="legal-acknowledgement"),
    pytest.param(clocks_for("rights", DEFAULT_TARGETS["rights"])[1], id="legal-response"),
    pytest.param(clocks_for("abuse", DEFAULT_TARGETS["abuse"], serious_harm=True)[0], id="serious-harm"),
    pytest.param(CCPA_SPECS["receipt_confirmation"], id="ccpa-receipt-confirmation"),
])
def test_only_statutory_answers_can_be_extended(spec):
    message = problem(spec, now=RECEIVED)
    assert message == f"This clock ({spec.rule}) cannot be extended."
    assert spec.rule in ("terms-33-support-hours", "terms-33-legal", "aup-5.6-serious-harm", "privacy-10-ccpa")


@pytest.mark.parametrize("spec", [GDPR_SPEC, CCPA_SPEC], ids=["gdpr", "ccpa"])
def test_extension_is_allowed_only_once(spec):
    assert problem(spec, now=RECEIVED, extended=True) == "This clock has already been extended once."


@pytest.mark.parametrize("spec", [GDPR_SPEC, CCPA_SPEC], ids=["gdpr", "ccpa"])
def test_a_stopped_clock_cannot_be_extended(spec):
    assert problem(spec, now=RECEIVED, stopped=True) == "This clock has stopped."


@pytest.mark.parametrize("spec, now, period", [
    pytest.param(GDPR_SPEC, sgt(2026, 3, 1, 0, 0), "1 month", id="gdpr-day-after-the-month"),
    pytest.param(GDPR_SPEC, end_of_sgt_day(2026, 2, 28) + timedelta(microseconds=1), "1 month",
                 id="gdpr-one-microsecond-late"),
    pytest.param(CCPA_SPEC, sgt(2026, 3, 18, 0, 0), "45 calendar days", id="ccpa-day-after-45-days"),
    pytest.param(CCPA_SPEC, sgt(2026, 6, 1, 12, 0), "45 calendar days", id="ccpa-months-late"),
])
def test_extension_only_within_the_first_period(spec, now, period):
    assert problem(spec, now=now) == (
        f"The extension had to be given within the first period ({period}), which has passed.")


def test_ccpa_extension_on_the_last_day_is_in_time():
    assert problem(CCPA_SPEC, now=end_of_sgt_day(2026, 3, 17)) is None
    assert problem(CCPA_SPEC, now=end_of_sgt_day(2026, 3, 17) + timedelta(microseconds=1)) is not None


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"], ids=["empty", "spaces", "whitespace"])
@pytest.mark.parametrize("spec", [GDPR_SPEC, CCPA_SPEC], ids=["gdpr", "ccpa"])
def test_extension_needs_a_reason(spec, reason):
    assert problem(spec, now=RECEIVED, reason=reason) == "Give the reason the requester will be told."


def test_a_reason_is_optional_only_when_the_extension_says_so():
    lenient = ClockSpec("statutory_answer", "Answer", "privacy-10-gdpr", "months", 1, "resolved", False,
                        Extension(2, reason_required=False))
    assert problem(lenient, now=RECEIVED, reason="") is None


def test_extension_problems_are_checked_in_order():
    late = sgt(2026, 6, 1)
    assert problem(GDPR_SPEC, now=late, extended=True, stopped=True, reason="") == \
        "This clock has already been extended once."
    assert problem(GDPR_SPEC, now=late, stopped=True, reason="") == "This clock has stopped."
    assert problem(GDPR_SPEC, now=late, reason="").startswith("The extension had to be given")


def test_the_first_period_follows_the_calendar_zone():
    # 28 Feb 23:30 in London is already 1 March in Singapore, but the calendar's zone decides.
    london = Calendar(zone="Europe/London")
    received = datetime(2026, 1, 31, 12, 0, tzinfo=LONDON)
    now = datetime(2026, 2, 28, 23, 30, tzinfo=LONDON)
    assert problem(GDPR_SPEC, now=now, started_at=received, cal=london) is None
    assert problem(GDPR_SPEC, now=now, started_at=received, cal=DEFAULT_CALENDAR) is not None


def extended_deadline(spec, start, cal=DEFAULT_CALENDAR):
    """What desk/sla/clocks.extend does: the amount grows by the extension, from the same start."""
    return deadline(spec.measure, start, spec.amount + spec.extension.amount, cal)


@pytest.mark.parametrize("start, first, extended", [
    pytest.param(sgt(2026, 1, 31, 12), end_of_sgt_day(2026, 3, 17), end_of_sgt_day(2026, 5, 1), id="31-jan-2026"),
    pytest.param(sgt(2026, 11, 20, 15), end_of_sgt_day(2027, 1, 4), end_of_sgt_day(2027, 2, 18), id="across-year-end"),
])
def test_ccpa_extension_makes_90_days_in_all(start, first, extended):
    assert deadline(CCPA_SPEC.measure, start, CCPA_SPEC.amount, DEFAULT_CALENDAR) == first
    assert extended_deadline(CCPA_SPEC, start) == extended == add_calendar_days(start, 90)


@pytest.mark.parametrize("start, first, extended", [
    pytest.param(sgt(2028, 1, 31, 12), end_of_sgt_day(2028, 2, 29), end_of_sgt_day(2028, 4, 30), id="leap-31-jan"),
    pytest.param(sgt(2027, 1, 31, 12), end_of_sgt_day(2027, 2, 28), end_of_sgt_day(2027, 4, 30), id="31-jan"),
    pytest.param(sgt(2026, 11, 30, 12), end_of_sgt_day(2026, 12, 30), end_of_sgt_day(2027, 2, 28),
                 id="30-nov-across-year-end"),
    pytest.param(sgt(2026, 1, 3, 12), end_of_sgt_day(2026, 2, 3), end_of_sgt_day(2026, 4, 3), id="3-jan"),
])
def test_gdpr_extension_makes_three_months_in_all(start, first, extended):
    assert deadline(GDPR_SPEC.measure, start, GDPR_SPEC.amount, DEFAULT_CALENDAR) == first
    assert extended_deadline(GDPR_SPEC, start) == extended == add_months(start, 3)


# --- describe and duration_words -----------------------------------------------------------

@pytest.mark.parametrize("measure, amount, words", [
    pytest.param("support", 80, "1 h 20 m of support time", id="support"),
    pytest.param("support", 45, "45 m of support time", id="support-minutes"),
    # Support time is told in hours: 39 h is three 13-hour support days, not "1 d 15 h".
    pytest.param("support", 2340, "39 h of support time", id="support-three-support-days-in-hours"),
    pytest.param("support", 525_600, "8760 h of support time", id="support-maximum-target"),
    pytest.param("wall", 2340, "1 d 15 h, round the clock", id="wall-in-days"),
    pytest.param("wall", 60, "1 h, round the clock", id="wall"),
    pytest.param("business_days", 1, "1 business day", id="one-business-day"),
    pytest.param("business_days", 5, "5 business days", id="business-days"),
    pytest.param("calendar_days", 1, "1 calendar day", id="one-calendar-day"),
    pytest.param("calendar_days", 45, "45 calendar days", id="calendar-days"),
    pytest.param("months", 1, "1 month", id="one-month"),
    pytest.param("months", 3, "3 months", id="months"),
])
def test_describe(measure, amount, words):
    assert describe(measure, amount) == words


def test_each_clock_describes_itself():
    described = {(c.rule, c.name): c.describe() for c in every_clock() if c.rule != "terms-33-support-hours"}
    assert described == {
        ("terms-33-legal", "acknowledgement"): "5 business days",
        ("terms-33-legal", "response"): "30 calendar days",
        ("aup-5.6-serious-harm", "first_action"): "1 h, round the clock",
        ("privacy-10-gdpr", "statutory_answer"): "1 month",
        ("privacy-10-ccpa", "receipt_confirmation"): "10 business days",
        ("privacy-10-ccpa", "statutory_answer"): "45 calendar days",
    }
    assert clocks_for("general", Targets(240, 90 * 60))[0].describe() == "4 h of support time"


@pytest.mark.parametrize("span, words", [
    pytest.param(timedelta(hours=1, minutes=20), "1 h 20 m", id="hours-and-minutes"),
    pytest.param(timedelta(days=3, hours=4), "3 d 4 h", id="days-and-hours"),
    pytest.param(timedelta(minutes=45), "45 m", id="minutes"),
    pytest.param(timedelta(0), "under 1 m", id="zero"),
    pytest.param(timedelta(seconds=59), "under 1 m", id="seconds"),
    pytest.param(timedelta(minutes=-5), "under 1 m", id="negative"),
    pytest.param(timedelta(minutes=1), "1 m", id="one-minute"),
    pytest.param(timedelta(seconds=119), "1 m", id="rounds-minutes-down"),
    pytest.param(timedelta(hours=1), "1 h", id="whole-hour"),
    pytest.param(timedelta(hours=2, minutes=59, seconds=59), "2 h 59 m", id="rounds-down-not-up"),
    pytest.param(timedelta(days=1), "1 d", id="whole-day"),
    pytest.param(timedelta(days=1, minutes=30), "1 d", id="two-units-at-most-drops-minutes"),
    pytest.param(timedelta(days=3, hours=4, minutes=59), "3 d 4 h", id="days-hours-minutes"),
    pytest.param(timedelta(days=400, hours=23), "400 d 23 h", id="long"),
])
def test_duration_words(span, words):
    assert duration_words(span) == words
    assert duration_words(span, days=True) == words


@pytest.mark.parametrize("span, words", [
    pytest.param(timedelta(hours=39), "39 h", id="three-support-days"),
    pytest.param(timedelta(days=3, hours=4, minutes=5), "76 h 5 m", id="days-become-hours"),
    pytest.param(timedelta(hours=1, minutes=20), "1 h 20 m", id="hours-and-minutes"),
    pytest.param(timedelta(minutes=45), "45 m", id="minutes"),
    pytest.param(timedelta(seconds=30), "under 1 m", id="seconds"),
    pytest.param(timedelta(minutes=-30), "under 1 m", id="negative"),
])
def test_duration_words_in_hours(span, words):
    assert duration_words(span, days=False) == words
