"""desk.policy.abuse, pure (AUP §3-§6, Terms §23): severity and triage, report completeness,
enforcement approvals and notices, appeals, the CSAM hold, written reasons, and the case
state and strikes replayed from the moderation log. Table-driven; no Flask, no database.

Rule ids covered: aup-3-taxonomy, aup-6-report, aup-5.3-enforcement, aup-5.4-forfeiture,
aup-5.6-serious-harm, aup-4.1-permission, terms-23-referential-use, aup-appeal,
aup-csam-handling.
"""
from datetime import datetime, timedelta, timezone

import pytest

from desk.policy.abuse import (
    ACTIONS, CASE_STATES, CATEGORIES, CSAM_HOLD_DAYS, MIN_REASON, PRIORITY, SEVERITIES, STRIKE_ACTIONS, Event,
    Reason, appeal_allowed, appeal_deadline, case_state, check_reason, completeness, csam_hold_until,
    is_serious_harm, may_decide_appeal, needs_second_approval, notify_account_holder, severity, strikes, triage,
)

UTC = timezone.utc
SECOND = timedelta(seconds=1)
NOTIFIED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = 183


# --- aup-3-taxonomy: severity ---------------------------------------------------------------

SEVERITY = {
    "3.1": "critical",
    "3.2": "high", "3.3": "high", "4.1": "high",
    "3.4": "medium", "3.5": "medium", "4.4": "medium", "4.5": "medium", "4.7": "medium",
    "3.6": "low", "4.2": "low", "4.3": "low", "4.6": "low", "4.8": "low",
}


def test_the_severity_table_names_every_category():
    assert set(SEVERITY) == set(CATEGORIES)
    assert set(SEVERITY.values()) == set(SEVERITIES)


@pytest.mark.parametrize("category, level", sorted(SEVERITY.items()))
def test_severity(category, level):
    assert severity(category) == level


@pytest.mark.parametrize("category", ["9.9", "", "3.10", "3", "3.1 ", "4.9", "5.6"])
def test_an_unknown_category_is_refused(category):
    with pytest.raises(ValueError, match="unknown AUP category"):
        severity(category)


@pytest.mark.parametrize("category, serious", [(c, c == "3.1") for c in sorted(CATEGORIES)])
def test_is_serious_harm_only_for_3_1(category, serious):
    assert is_serious_harm(category) is serious


def test_is_serious_harm_refuses_an_unknown_category():
    with pytest.raises(ValueError):
        is_serious_harm("9.9")


@pytest.mark.parametrize("level, priority", [
    ("critical", "urgent"), ("high", "high"), ("medium", "normal"), ("low", "low"),
])
def test_priority(level, priority):
    assert PRIORITY[level] == priority


def test_priority_maps_every_severity_and_nothing_else():
    assert set(PRIORITY) == set(SEVERITIES)


# --- triage ---------------------------------------------------------------------------------

EXTRA_RULES = {"3.1": ["aup-5.6-serious-harm"], "4.1": ["aup-4.1-permission"], "3.4": ["terms-23-referential-use"]}


@pytest.mark.parametrize("category, rules", [
    (c, ["aup-3-taxonomy"] + EXTRA_RULES.get(c, [])) for c in sorted(CATEGORIES)
])
def test_triage_rules(category, rules):
    reasons = triage(category)
    assert [r.rule for r in reasons] == rules
    assert all(isinstance(r, Reason) and r.text for r in reasons)


@pytest.mark.parametrize("category", sorted(CATEGORIES))
def test_triage_states_the_category_and_its_severity(category):
    taxonomy = triage(category)[0]
    assert taxonomy.text.startswith(f"AUP {category} (")
    assert f"severity {SEVERITY[category]}." in taxonomy.text
    assert CATEGORIES[category].split(" (")[0] in taxonomy.text


@pytest.mark.parametrize("category, says", [
    ("3.1", "no notice to the account holder"),
    ("4.1", "the case is against the ordering account"),
    ("3.4", "reviewed in good faith"),
])
def test_triage_extra_reasons_say_what_they_mean(category, says):
    assert says in triage(category)[-1].text


def test_triage_refuses_an_unknown_category():
    with pytest.raises(ValueError):
        triage("3.10")


# --- aup-6-report: completeness -------------------------------------------------------------

@pytest.mark.parametrize("has_target, has_description, names, omits", [
    (False, True, ["the link or order reference"], ["a description"]),
    (True, False, ["a description of the issue"], ["link or order"]),
    (False, False, ["the link or order reference and a description of the issue"], []),
])
def test_an_incomplete_report_says_what_is_missing(has_target, has_description, names, omits):
    reason = completeness(has_target, has_description)
    assert reason is not None and reason.rule == "aup-6-report"
    for words in names:
        assert words in reason.text
    for words in omits:
        assert words not in reason.text
    assert "The report is kept" in reason.text


def test_a_complete_report_can_be_worked():
    assert completeness(True, True) is None


# --- aup-5.3-enforcement / aup-5.4-forfeiture ------------------------------------------------

@pytest.mark.parametrize("action, second", [(a, a == "forfeit_deposited") for a in sorted(ACTIONS)])
def test_needs_second_approval(action, second):
    assert needs_second_approval(action) is second


@pytest.mark.parametrize("serious, rule, says", [
    (True, "aup-5.6-serious-harm", "Not notified"),
    (False, "aup-appeal", "how to contest"),
])
@pytest.mark.parametrize("action", ["warning", "suspend", "forfeit_deposited"])
def test_notify_account_holder(action, serious, rule, says):
    reason = notify_account_holder(action, serious)
    assert reason.rule == rule and says in reason.text


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_action_has_its_clause_and_target(action):
    label, rule, target = ACTIONS[action]
    assert label.strip()
    assert rule in {"aup-5.3-enforcement", "aup-5.4-forfeiture"}
    assert target in {"order", "account", "identifier"}
    assert (rule == "aup-5.4-forfeiture") is (action == "forfeit_deposited")


def test_strike_actions_are_account_actions():
    assert STRIKE_ACTIONS == {"warning", "suspend", "terminate", "forfeit_deposited"}
    for action in STRIKE_ACTIONS:
        assert ACTIONS[action][2] == "account"


@pytest.mark.parametrize("category", sorted(CATEGORIES))
def test_every_category_has_a_plain_words_label(category):
    label = CATEGORIES[category]
    assert isinstance(label, str) and label.strip()
    assert category not in label  # words, not the clause number


# --- aup-appeal -----------------------------------------------------------------------------

def test_appeal_deadline():
    assert appeal_deadline(NOTIFIED, WINDOW) == NOTIFIED + timedelta(days=WINDOW)
    assert appeal_deadline(NOTIFIED, 0) == NOTIFIED


DEADLINE = NOTIFIED + timedelta(days=WINDOW)


@pytest.mark.parametrize("notified_at, now, reversed_, says", [
    (NOTIFIED, NOTIFIED, False, None),
    (NOTIFIED, NOTIFIED + timedelta(days=1), False, None),
    (NOTIFIED, DEADLINE - SECOND, False, None),
    (NOTIFIED, DEADLINE, False, None),  # the last moment of the window
    (NOTIFIED, DEADLINE + SECOND, False, f"window to contest this action ({WINDOW} days"),
    (NOTIFIED, DEADLINE + timedelta(days=400), False, "has closed"),
    (None, NOTIFIED, False, "not notified"),
    (None, DEADLINE + SECOND, False, "not notified"),
    (NOTIFIED, NOTIFIED + SECOND, True, "already been reversed"),
    (NOTIFIED, DEADLINE + SECOND, True, "already been reversed"),
])
def test_appeal_allowed(notified_at, now, reversed_, says):
    reason = appeal_allowed(notified_at=notified_at, now=now, window_days=WINDOW, reversed_=reversed_)
    if says is None:
        assert reason is None
    else:
        assert reason is not None and reason.rule == "aup-appeal" and says in reason.text


@pytest.mark.parametrize("window", [1, 14, 183])
def test_the_window_follows_window_days(window):
    deadline = appeal_deadline(NOTIFIED, window)
    assert appeal_allowed(notified_at=NOTIFIED, now=deadline, window_days=window, reversed_=False) is None
    late = appeal_allowed(notified_at=NOTIFIED, now=deadline + SECOND, window_days=window, reversed_=False)
    assert late is not None and f"({window} days" in late.text


def test_the_window_is_the_same_instant_in_any_time_zone():
    plus8 = timezone(timedelta(hours=8))
    now = DEADLINE.astimezone(plus8)
    assert appeal_allowed(notified_at=NOTIFIED, now=now, window_days=WINDOW, reversed_=False) is None
    assert appeal_allowed(notified_at=NOTIFIED, now=now + SECOND, window_days=WINDOW, reversed_=False) is not None


@pytest.mark.parametrize("decider, actors, allowed", [
    (3, {1, 2}, True),
    (1, {1, 2}, False),  # the proposer
    (2, {1, 2}, False),  # the approver
    (1, {1}, False),
    (3, {1, None}, True),  # no approver: None does not count
    (1, {1, None}, False),
    (3, set(), True),
])
def test_may_decide_appeal(decider, actors, allowed):
    assert may_decide_appeal(decider, actors) is allowed


# --- aup-csam-handling ----------------------------------------------------------------------

@pytest.mark.parametrize("referred_at", [
    NOTIFIED,
    datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 12, 31, 0, 0, tzinfo=timezone(timedelta(hours=-5))),
])
def test_csam_hold_until(referred_at):
    assert CSAM_HOLD_DAYS == 365
    until = csam_hold_until(referred_at)
    assert until - referred_at == timedelta(days=365)
    assert until.tzinfo == referred_at.tzinfo


# --- check_reason ---------------------------------------------------------------------------

@pytest.mark.parametrize("reason, ok", [
    ("0123456789", True),
    ("a" * MIN_REASON, True),
    ("Spam links posted", True),
    ("   0123456789   ", True),
    ("\n\tfraud case!\n", True),
    (None, False),
    ("", False),
    ("          ", False),
    (" \t\n " * 5, False),
    ("012345678", False),
    ("    012345678    ", False),
])
def test_check_reason(reason, ok):
    problem = check_reason(reason, "Suspending an account")
    if ok:
        assert problem is None
    else:
        assert problem == f"Suspending an account needs a written reason (at least {MIN_REASON} characters)."


def test_min_reason_is_ten():
    assert MIN_REASON == 10


# --- case_state -----------------------------------------------------------------------------

def report(n, subject="link:instagram.com/p/x"):
    return Event("report", subject, {"report": n})


def ev(kind, id=None, subject="account:alice", **data):
    if id is not None:
        data["id"] = id
    return Event(kind, subject, data)


def test_an_empty_log_is_an_open_case():
    state = case_state([])
    assert (state.state, state.reports, state.actions, state.awaiting_approval, state.open_appeals, state.holds,
            state.outcome) == ("open", 0, (), (), (), (), None)


@pytest.mark.parametrize("events, reports", [
    ([report("R1")], 1),
    ([report("R1", "link:a"), report("R1", "order:1001")], 1),  # one report on two subjects
    ([report("R1", "link:a"), report("R2", "link:a")], 2),
    ([report("R1"), report("R2"), report("R1", "order:7")], 2),
    ([report(1), report("1")], 1),
])
def test_reports_count_once_each(events, reports):
    assert case_state(events).reports == reports


@pytest.mark.parametrize("kinds, state", [
    (["needs_info"], "needs_info"),
    (["needs_info", "info_added"], "open"),
    (["needs_info", "info_added", "needs_info"], "needs_info"),
    (["merged"], "merged"),
    (["needs_info", "merged"], "merged"),
])
def test_state_without_actions(kinds, state):
    assert case_state([report("R1")] + [Event(k) for k in kinds]).state == state


def test_a_proposed_action_waits_for_approval_then_stands():
    proposed = [report("R1"), ev("action_proposed", 7, action="forfeit_deposited")]
    state = case_state(proposed)
    assert (state.state, state.awaiting_approval, state.actions) == ("open", ("7",), ())
    state = case_state(proposed + [ev("action", 7, action="forfeit_deposited")])
    assert (state.state, state.awaiting_approval, state.actions) == ("actioned", (), ("7",))


def test_a_refused_action_leaves_the_queue():
    state = case_state([ev("action_proposed", 7), ev("action_proposed", 8), ev("action_refused", 7)])
    assert (state.state, state.awaiting_approval, state.actions) == ("open", ("8",), ())


def test_an_action_taken_at_once_is_actioned():
    state = case_state([report("R1"), ev("action", 3, action="suspend")])
    assert (state.state, state.actions, state.awaiting_approval) == ("actioned", ("3",), ())


@pytest.mark.parametrize("events, state, actions, appeals", [
    ([ev("action", 1), ev("appeal", 1)], "appealed", ("1",), ("1",)),
    ([ev("action", 1), ev("appeal", 1), ev("appeal_decided", 1)], "actioned", ("1",), ()),  # upheld
    ([ev("action", 1), ev("appeal", 1), ev("reversal", 1), ev("appeal_decided", 1)], "open", (), ()),  # reversed
    ([ev("action", 1), ev("action", 2), ev("appeal", 1), ev("reversal", 1), ev("appeal_decided", 1)],
     "actioned", ("2",), ()),  # another action still stands
    ([ev("action", 1), ev("action", 2), ev("appeal", 1), ev("appeal", 2), ev("appeal_decided", 1)],
     "appealed", ("1", "2"), ("2",)),  # one appeal still open
    ([ev("action", 1), ev("reversal", 1)], "open", (), ()),
])
def test_appeals_and_reversals(events, state, actions, appeals):
    result = case_state(events)
    assert (result.state, result.actions, result.open_appeals) == (state, actions, appeals)


@pytest.mark.parametrize("events, holds", [
    ([ev("hold_placed", "h1")], ("h1",)),
    ([ev("hold_placed", "h1"), ev("hold_placed", "h2")], ("h1", "h2")),
    ([ev("hold_placed", "h1"), ev("hold_released", "h1")], ()),
    ([ev("hold_placed", "h1"), ev("hold_placed", "h2"), ev("hold_released", "h1")], ("h2",)),
    ([ev("hold_released", "h1")], ()),
])
def test_holds(events, holds):
    result = case_state(events)
    assert result.holds == holds
    assert result.state == "open"  # a hold does not change the review


@pytest.mark.parametrize("tail, state, outcome", [
    ([ev("closed", outcome="no_breach")], "closed", "no_breach"),
    ([ev("action", 1), ev("closed", outcome="actioned")], "closed", "actioned"),
    ([ev("closed", outcome="no_breach"), ev("reopened")], "open", None),
    ([ev("closed", outcome="no_breach"), ev("reopened"), ev("closed", outcome="actioned")], "closed", "actioned"),
    ([ev("closed", outcome="no_action"), ev("merged")], "merged", "no_action"),
    # An appeal on a closed case is under appeal, then closed again once decided.
    ([ev("action", 1), ev("closed", outcome="actioned"), ev("appeal", 1)], "appealed", "actioned"),
    ([ev("action", 1), ev("closed", outcome="actioned"), ev("appeal", 1), ev("appeal_decided", 1)], "closed",
     "actioned"),
    ([ev("action", 1), ev("closed", outcome="actioned"), ev("appeal", 1), ev("reversal", 1),
      ev("appeal_decided", 1)], "closed", "actioned"),
])
def test_closed_and_reopened(tail, state, outcome):
    result = case_state([report("R1")] + tail)
    assert (result.state, result.outcome) == (state, outcome)


def test_every_replayed_state_is_a_case_state():
    logs = [[], [Event("needs_info")], [ev("action", 1)], [ev("action", 1), ev("appeal", 1)],
            [ev("closed", outcome="no_breach")], [Event("merged")]]
    assert {case_state(log).state for log in logs} <= set(CASE_STATES)


# --- strikes --------------------------------------------------------------------------------

def action(id, name):
    return ev("action", id, action=name)


@pytest.mark.parametrize("name, counts", [
    ("warning", 1), ("suspend", 1), ("terminate", 1), ("forfeit_deposited", 1),
    ("reject_order", 0), ("cancel_order", 0), ("block_identifier", 0), ("cancel_promotional", 0),
])
def test_which_actions_are_strikes(name, counts):
    assert strikes([action(1, name)]) == counts


@pytest.mark.parametrize("events, count", [
    ([], 0),
    ([action(1, "warning"), action(2, "suspend")], 2),
    ([action(1, "warning"), ev("reversal", 1, action="warning")], 0),
    ([action(1, "warning"), action(2, "suspend"), ev("reversal", 1)], 1),
    ([action(1, "warning"), ev("reversal", 2)], 1),  # another action's reversal
    ([action(1, "warning"), action(1, "warning")], 1),  # the same id twice
    ([action(1, "warning"), action("1", "warning")], 1),
    ([action(1, "warning"), action(2, "reject_order"), action(3, "cancel_promotional")], 1),
    ([ev("action_proposed", 1, action="forfeit_deposited")], 0),  # not yet taken
    ([ev("action_proposed", 1, action="forfeit_deposited"), action(1, "forfeit_deposited")], 1),
    ([ev("reversal", 1), action(1, "terminate")], 1),  # a reversal before the action takes nothing away
])
def test_strikes(events, count):
    assert strikes(events) == count
