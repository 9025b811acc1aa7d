"""desk.policy.claims: claims on orders (Terms §5, §7, §9, §10, §11; DESIGN §2 "Claims on orders").

Pure tests: no Flask app, no database. Rule ids covered:
terms-7-claim-window, terms-11-delivery-time, terms-9-stalled, terms-11-overlap, terms-11-target,
terms-11-wrong-link, terms-5-beta, terms-10-refill, terms-10-guarantee, terms-9-finality,
terms-9-partial, terms-9-canceled.
"""
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from desk.policy.claims import (
    DELIVERY_CLAIMS, ELIGIBLE, KINDS, NEEDS_REVIEW, REJECTED, Claim, Decision, OrderFacts, Reason, Tool,
    evaluate, overlapping,
)

UTC = timezone.utc
PLUS8 = timezone(timedelta(hours=8))

FINISHED = datetime(2026, 7, 3, 14, 0, tzinfo=UTC)
CREATED = FINISHED - timedelta(hours=6)
LINK = "https://instagram.com/acme"
REFILL_TOOL = Tool(refill=True, refill_days=30, name="Followers R30")
START, QUANTITY = 3572, 1000
END = START + QUANTITY  # 4572

# Elapsed times around the 72 h claim window.
H72 = timedelta(hours=72)
SECOND = timedelta(seconds=1)


def order(**overrides) -> OrderFacts:
    """A Completed order finished 2026-07-03 14:00 UTC: 1000 on a 3572 Start Count, refill tool 30 days."""
    facts = dict(
        panel_id="1001", status="completed", link=LINK, quantity=QUANTITY, created_at=CREATED,
        finished_at=FINISHED, start_count=START, remains=0, charge=Decimal("10.00"),
        charge_promo=Decimal("0.00"), target_state="ok", tool=REFILL_TOOL,
    )
    if overrides.get("status") in ("pending", "in_progress"):
        facts["finished_at"] = None
    facts.update(overrides)
    return OrderFacts(**facts)


def unfinished(status="in_progress", **overrides) -> OrderFacts:
    return order(status=status, **overrides)


def claim(kind="non_delivery", after=timedelta(hours=1), current=None, at=None) -> Claim:
    """A claim filed `after` the default finish time (or `at` an explicit moment)."""
    return Claim(kind, at if at is not None else FINISHED + after, current)


def refill_claim(current=4400, after=timedelta(days=3), **kw) -> Claim:
    return claim("refill", after=after, current=current, **kw)


def by_rule(decision: Decision, rule: str) -> list[Reason]:
    return [r for r in decision.reasons if r.rule == rule]


def outcomes(decision: Decision, rule: str) -> list[str]:
    return [r.outcome for r in by_rule(decision, rule)]


def text(decision: Decision, rule: str) -> str:
    return " ".join(r.text for r in by_rule(decision, rule))


def at(hours=0, minutes=0, seconds=0, days=0) -> timedelta:
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


# --- terms-7-claim-window -----------------------------------------------------------------

@pytest.mark.parametrize("status, remains", [("completed", 0), ("partial", 400)])
@pytest.mark.parametrize("after, expected", [
    (at(hours=71, minutes=59, seconds=59), ELIGIBLE),
    (at(hours=72), ELIGIBLE),                      # "within 3 days": the 72nd hour is inclusive
    (at(hours=72, seconds=1), REJECTED),
    (at(seconds=0), ELIGIBLE),                     # filed the moment it finished
    (at(days=10), REJECTED),
])
def test_claim_window_boundaries(status, remains, after, expected):
    decision = evaluate(order(status=status, remains=remains), claim(after=after))
    assert outcomes(decision, "terms-7-claim-window") == [expected]
    assert decision.decision == expected


@pytest.mark.parametrize("kind", DELIVERY_CLAIMS)
def test_claim_window_applies_to_every_delivery_claim(kind):
    assert evaluate(order(), claim(kind, after=H72)).decision == ELIGIBLE
    assert evaluate(order(), claim(kind, after=H72 + SECOND)).decision == REJECTED


def test_claim_window_reason_has_both_times_and_the_window():
    decision = evaluate(order(), claim(after=H72 + SECOND))
    words = text(decision, "terms-7-claim-window")
    assert "Completed 2026-07-03 14:00:00 UTC" in words
    assert "filed 2026-07-06 14:00:01 UTC" in words
    assert "72 h" in words
    assert "72 h 00 m 01 s later" in words


def test_claim_window_reason_names_partial():
    decision = evaluate(order(status="partial", remains=10), claim(after=at(hours=5)))
    assert "Partial 2026-07-03 14:00:00 UTC" in text(decision, "terms-7-claim-window")


@pytest.mark.parametrize("after, expected", [
    (H72 - SECOND, ELIGIBLE), (H72, ELIGIBLE), (H72 + SECOND, REJECTED),
])
def test_claim_window_in_another_time_zone(after, expected):
    """Aware datetimes in +08:00 are the same instants: same decision, same sentences."""
    utc = evaluate(order(), claim(after=after))
    local = evaluate(order(finished_at=FINISHED.astimezone(PLUS8)),
                     claim(at=(FINISHED + after).astimezone(PLUS8)))
    assert local.decision == utc.decision == expected
    assert local.to_dict() == utc.to_dict()
    assert "2026-07-03 14:00:00 UTC" in text(local, "terms-7-claim-window")


def test_claim_window_mixed_zones_compare_instants_not_wall_clocks():
    # Finished 14:00 UTC = 22:00 +08:00; filed 3 days later at 22:00:01 +08:00 = 14:00:01 UTC.
    filed = datetime(2026, 7, 6, 22, 0, 1, tzinfo=PLUS8)
    assert evaluate(order(), claim(at=filed)).decision == REJECTED
    assert evaluate(order(), claim(at=filed - SECOND)).decision == ELIGIBLE


# --- terms-11-delivery-time and terms-9-stalled ------------------------------------------

@pytest.mark.parametrize("status", ["pending", "in_progress"])
@pytest.mark.parametrize("kind", DELIVERY_CLAIMS)
def test_unfinished_order_is_a_status_enquiry(status, kind):
    decision = evaluate(unfinished(status), claim(kind))
    assert decision.decision == REJECTED
    assert outcomes(decision, "terms-11-delivery-time") == [REJECTED]
    assert "terms-7-claim-window" not in decision.rules
    assert "not grounds for a refund" in text(decision, "terms-11-delivery-time")
    assert "status enquiry" in text(decision, "terms-11-delivery-time")


def test_delivery_time_reason_names_status_and_placement():
    decision = evaluate(unfinished("in_progress"), claim())
    assert "in progress (placed 2026-07-03 08:00:00 UTC)" in text(decision, "terms-11-delivery-time")


@pytest.mark.parametrize("state", ["private", "removed", "changed", "invalid_link"])
def test_stalled_because_of_the_target_is_rejected(state):
    decision = evaluate(unfinished(target_state=state), claim())
    assert decision.decision == REJECTED
    assert outcomes(decision, "terms-9-stalled") == [REJECTED]
    assert "not refunded" in text(decision, "terms-9-stalled")


@pytest.mark.parametrize("status", ["pending", "in_progress"])
def test_stalled_on_our_side_needs_review(status):
    decision = evaluate(unfinished(status), claim())
    assert outcomes(decision, "terms-9-stalled") == [NEEDS_REVIEW]
    assert "returns to the Balance" in text(decision, "terms-9-stalled")
    # Still a status enquiry overall, not a claim.
    assert decision.decision == REJECTED


# --- terms-11-overlap: overlapping() -----------------------------------------------------

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def a_order(**kw) -> OrderFacts:
    """Order A, placed at T0."""
    return order(panel_id="A", created_at=T0, **kw)


def b_order(**kw) -> OrderFacts:
    """Order B, placed an hour after T0 unless told otherwise."""
    kw.setdefault("created_at", T0 + timedelta(hours=1))
    kw.setdefault("finished_at", T0 + timedelta(hours=5))
    return order(panel_id="B", **kw)


def ids(found) -> list[str]:
    return [o.panel_id for o in found]


def test_overlap_while_a_is_in_progress():
    a = a_order(status="in_progress")
    b = b_order()
    assert ids(overlapping(b, [a])) == ["A"]
    assert ids(overlapping(a, [b])) == ["B"]


def test_overlap_while_a_is_pending():
    a = a_order(status="pending")
    b = b_order(status="pending", finished_at=None)
    assert ids(overlapping(b, [a])) == ["A"]


def test_no_overlap_when_a_finished_one_second_before_b():
    b_created = T0 + timedelta(hours=1)
    a = a_order(finished_at=b_created - SECOND)
    b = b_order(created_at=b_created)
    assert overlapping(b, [a]) == []
    assert overlapping(a, [b]) == []


def test_no_overlap_when_a_finished_at_the_instant_b_was_created():
    """Intervals are half-open, [created_at, finished_at): an order placed at the very second
    the other finished was placed after it finished ("wait until one Order is Completed")."""
    b_created = T0 + timedelta(hours=1)
    a = a_order(finished_at=b_created)
    b = b_order(created_at=b_created)
    assert overlapping(b, [a]) == []
    assert overlapping(a, [b]) == []


def test_overlap_when_b_created_one_second_before_a_finished():
    b_created = T0 + timedelta(hours=1)
    a = a_order(finished_at=b_created + SECOND)
    b = b_order(created_at=b_created)
    assert ids(overlapping(b, [a])) == ["A"]
    assert ids(overlapping(a, [b])) == ["B"]


def test_overlap_compares_instants_across_time_zones():
    b_created = T0 + timedelta(hours=1)
    a = a_order(finished_at=(b_created + SECOND).astimezone(PLUS8))
    b = b_order(created_at=b_created)
    assert ids(overlapping(b, [a])) == ["A"]


def test_canceled_order_that_delivered_nothing_does_not_count():
    a = a_order(status="canceled", remains=QUANTITY, finished_at=T0 + timedelta(hours=3))
    b = b_order()
    assert overlapping(b, [a]) == []
    assert overlapping(a, [b]) == []  # nor does it overlap anything itself


def test_canceled_order_that_over_reports_remains_delivered_nothing():
    a = a_order(status="canceled", remains=QUANTITY + 5, finished_at=T0 + timedelta(hours=3))
    assert overlapping(b_order(), [a]) == []


def test_canceled_order_that_delivered_something_counts():
    a = a_order(status="canceled", remains=QUANTITY - 1, finished_at=T0 + timedelta(hours=3))
    b = b_order()
    assert ids(overlapping(b, [a])) == ["A"]
    assert ids(overlapping(a, [b])) == ["B"]


def test_different_normalised_link_does_not_overlap():
    a = a_order(status="in_progress", link="https://instagram.com/other")
    assert overlapping(b_order(), [a]) == []


def test_the_order_itself_is_not_an_overlap():
    b = b_order()
    assert overlapping(b, [b]) == []


def test_overlapping_lists_every_overlapping_order():
    a = a_order(status="in_progress")
    c = order(panel_id="C", created_at=T0 + timedelta(minutes=90), status="in_progress")
    far = order(panel_id="D", created_at=T0 + timedelta(days=2), finished_at=T0 + timedelta(days=3))
    assert ids(overlapping(b_order(), [a, c, far])) == ["A", "C"]


# --- terms-11-overlap: evaluate() ---------------------------------------------------------

def overlapped_pair():
    """B (completed, within the claim window) was placed while A was still running."""
    a = a_order(finished_at=FINISHED - timedelta(hours=1))
    b = b_order(finished_at=FINISHED)
    return a, b


@pytest.mark.parametrize("kind", DELIVERY_CLAIMS)
def test_delivery_claim_with_overlap_is_rejected(kind):
    a, b = overlapped_pair()
    decision = evaluate(b, claim(kind), [a])
    assert decision.decision == REJECTED
    assert outcomes(decision, "terms-11-overlap") == [REJECTED]
    assert outcomes(decision, "terms-7-claim-window") == [ELIGIBLE]
    assert "overlapped order(s) A" in text(decision, "terms-11-overlap")


def test_delivery_claim_without_overlap_is_eligible():
    a = a_order(finished_at=T0 + timedelta(minutes=30))
    b = b_order(finished_at=FINISHED)
    decision = evaluate(b, claim(), [a])
    assert decision.decision == ELIGIBLE
    assert "terms-11-overlap" not in decision.rules


def test_overlap_elsewhere_is_rejected():
    decision = evaluate(order(overlap_elsewhere=True), claim())
    assert decision.decision == REJECTED
    assert outcomes(decision, "terms-11-overlap") == [REJECTED]
    assert "elsewhere" in text(decision, "terms-11-overlap")


def test_refill_with_overlap_is_void():
    a, b = overlapped_pair()
    decision = evaluate(b, refill_claim(current=4400), [a])
    assert decision.decision == REJECTED
    assert outcomes(decision, "terms-11-overlap") == [REJECTED]
    assert "refill is void" in text(decision, "terms-11-overlap")
    assert decision.refill_quantity is None
    # The maths alone would have allowed it: the void is what rejects.
    assert ELIGIBLE in outcomes(decision, "terms-10-refill")
    assert REJECTED not in outcomes(decision, "terms-10-refill")


def test_refill_with_overlap_elsewhere_is_void():
    decision = evaluate(order(overlap_elsewhere=True), refill_claim())
    assert decision.decision == REJECTED
    assert decision.refill_quantity is None


def test_cancel_with_overlap_is_rejected():
    """Terms §11: overlapping Orders are not eligible for a refund, cancellation or refill."""
    a = a_order(status="in_progress")
    b = b_order(status="pending", finished_at=None)
    decision = evaluate(b, claim("cancel"), [a])
    assert outcomes(decision, "terms-9-finality") == [ELIGIBLE]
    assert decision.decision == REJECTED


# --- terms-11-target ----------------------------------------------------------------------

TARGET_STATES = {
    "private": "private or restricted",
    "removed": "removed",
    "changed": "changed after ordering",
}


def claim_on(kind):
    """An order and a claim that would be eligible but for the target."""
    if kind == "cancel":
        return unfinished("pending"), claim("cancel")
    if kind == "refill":
        return order(), refill_claim(current=4400)
    return order(), claim(kind)


@pytest.mark.parametrize("state", sorted(TARGET_STATES))
@pytest.mark.parametrize("kind", KINDS)
def test_target_voids_every_kind(state, kind):
    facts, filed = claim_on(kind)
    assert evaluate(facts, filed).decision == ELIGIBLE  # the control
    decision = evaluate(replace(facts, target_state=state), filed)
    assert decision.decision == REJECTED
    assert outcomes(decision, "terms-11-target") == [REJECTED]
    assert TARGET_STATES[state] in text(decision, "terms-11-target")
    assert decision.refill_quantity is None


# --- terms-11-wrong-link ------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_invalid_link_is_the_customers_responsibility(kind):
    facts, filed = claim_on(kind)
    decision = evaluate(replace(facts, target_state="invalid_link"), filed)
    assert decision.decision == REJECTED
    assert outcomes(decision, "terms-11-wrong-link") == [REJECTED]
    assert "customer's responsibility" in text(decision, "terms-11-wrong-link")


def test_canceled_invalid_link_order_mentions_the_return():
    facts = order(status="canceled", remains=QUANTITY, target_state="invalid_link",
                  charge=Decimal("10.00"), charge_promo=Decimal("4.00"))
    decision = evaluate(facts, claim())
    assert decision.decision == REJECTED
    words = text(decision, "terms-11-wrong-link")
    assert "cancelled it before delivery" in words
    assert "returns to the Balance" in words
    assert decision.expected_return.rule == "terms-9-canceled"
    assert (decision.expected_return.deposited, decision.expected_return.promotional) == (
        Decimal("6.00"), Decimal("4.00"))


def test_invalid_link_on_an_uncanceled_order_does_not_mention_a_return():
    decision = evaluate(order(target_state="invalid_link"), claim())
    assert "cancelled it before delivery" not in text(decision, "terms-11-wrong-link")


# --- terms-5-beta -------------------------------------------------------------------------

BETA_TOOL = Tool(refill=True, refill_days=30, beta=True, name="Views Beta")


@pytest.mark.parametrize("kind", DELIVERY_CLAIMS)
def test_beta_tool_has_no_claim_eligibility(kind):
    decision = evaluate(order(tool=BETA_TOOL), claim(kind))
    assert decision.decision == REJECTED
    assert outcomes(decision, "terms-5-beta") == [REJECTED]
    assert outcomes(decision, "terms-7-claim-window") == [ELIGIBLE]
    assert "'Views Beta'" in text(decision, "terms-5-beta")


def test_beta_tool_has_no_refill():
    decision = evaluate(order(tool=BETA_TOOL), refill_claim(current=4400))
    assert decision.decision == REJECTED
    assert outcomes(decision, "terms-5-beta") == [REJECTED]
    assert decision.refill_quantity is None
    assert "terms-10-guarantee" not in decision.rules


def test_unnamed_beta_tool_reason_reads_cleanly():
    decision = evaluate(order(tool=Tool(beta=True)), claim())
    assert "The tool was marked beta" in text(decision, "terms-5-beta")


# --- terms-10-refill ----------------------------------------------------------------------

def test_refill_on_a_tool_without_refill_is_rejected():
    decision = evaluate(order(tool=Tool(refill=False)), refill_claim())
    assert decision.decision == REJECTED
    assert outcomes(decision, "terms-10-refill") == [REJECTED]
    assert "did not offer refill" in text(decision, "terms-10-refill")


@pytest.mark.parametrize("after, expected", [
    (at(days=30), ELIGIBLE),                 # refill on the last day of the window
    (at(days=30) - SECOND, ELIGIBLE),
    (at(days=30, seconds=1), REJECTED),
    (at(days=4), ELIGIBLE),                  # refill is not bound by the 72 h claim window
])
def test_refill_window(after, expected):
    decision = evaluate(order(), refill_claim(current=4400, after=after))
    assert decision.decision == expected
    assert decision.refill_quantity == (172 if expected == ELIGIBLE else None)
    assert "refill window 30 days from 2026-07-03 14:00:00 UTC, closing 2026-08-02 14:00:00 UTC" in \
        text(decision, "terms-10-refill")


def test_refill_window_in_another_time_zone():
    closes = (FINISHED + at(days=30)).astimezone(PLUS8)
    assert evaluate(order(), refill_claim(at=closes)).decision == ELIGIBLE
    assert evaluate(order(), refill_claim(at=closes + SECOND)).decision == REJECTED


@pytest.mark.parametrize("current, expected, quantity", [
    (START, ELIGIBLE, QUANTITY),        # everything dropped back to the Start Count
    (START + 1, ELIGIBLE, QUANTITY - 1),
    (END - 1, ELIGIBLE, 1),
    (4400, ELIGIBLE, 172),              # DESIGN: start 3572, quantity 1000, current 4400 → 172
    (END, REJECTED, None),              # no drop
    (END + 250, REJECTED, None),        # grew
    (START - 1, REJECTED, None),        # below the Start Count: the pre-existing base
    (0, REJECTED, None),
])
def test_refill_quantity(current, expected, quantity):
    decision = evaluate(order(), refill_claim(current=current))
    assert decision.decision == expected
    assert decision.refill_quantity == quantity
    assert outcomes(decision, "terms-10-refill")[-1] == expected


def test_refill_reason_has_the_figures():
    decision = evaluate(order(), refill_claim(current=4400))
    assert "Refill 172 (Start Count 3572, end count 4572 (Start Count + 1000 delivered), current 4400)" in \
        text(decision, "terms-10-refill")


def test_refill_no_drop_and_below_base_say_why():
    assert "No drop" in text(evaluate(order(), refill_claim(current=END)), "terms-10-refill")
    below = text(evaluate(order(), refill_claim(current=START - 1)), "terms-10-refill")
    assert "below the Start Count" in below
    assert "not covered" in below


@pytest.mark.parametrize("current, expected, quantity", [
    (END - 50, ELIGIBLE, 50),   # drop == minimum
    (END - 51, ELIGIBLE, 51),
    (END - 49, REJECTED, None),  # drop == minimum − 1
])
def test_refill_minimum_drop(current, expected, quantity):
    tool = Tool(refill=True, refill_days=30, refill_min_drop=50)
    decision = evaluate(order(tool=tool), refill_claim(current=current))
    assert decision.decision == expected
    assert decision.refill_quantity == quantity
    if expected == REJECTED:
        assert "drop of 49 is below the tool's minimum of 50" in text(decision, "terms-10-refill")


def test_refill_missing_current_count_needs_review():
    decision = evaluate(order(), refill_claim(current=None))
    assert decision.decision == NEEDS_REVIEW
    assert decision.refill_quantity is None
    assert NEEDS_REVIEW in outcomes(decision, "terms-10-refill")
    assert "the current count" in text(decision, "terms-10-refill")


def test_refill_missing_start_count_needs_review():
    decision = evaluate(order(start_count=None), refill_claim(current=4400))
    assert decision.decision == NEEDS_REVIEW
    assert decision.refill_quantity is None
    assert "the Start Count" in text(decision, "terms-10-refill")


@pytest.mark.parametrize("current, expected, quantity", [
    (START + 600 - 72, ELIGIBLE, 72),
    (START, ELIGIBLE, 600),        # refill never exceeds what was delivered
    (START + 600, REJECTED, None),  # at the delivered end count: no drop, although < START + 1000
    (START + 800, REJECTED, None),
])
def test_partial_refill_uses_the_delivered_quantity(current, expected, quantity):
    facts = order(status="partial", remains=400)  # 600 delivered
    decision = evaluate(facts, refill_claim(current=current))
    assert decision.decision == expected
    assert decision.refill_quantity == quantity
    assert "end count 4172 (Start Count + 600 delivered)" in text(decision, "terms-10-refill")


@pytest.mark.parametrize("status", ["pending", "in_progress", "canceled"])
def test_refill_on_an_unfinished_or_canceled_order_is_rejected(status):
    facts = order(status=status, remains=QUANTITY if status == "canceled" else 0)
    decision = evaluate(facts, refill_claim(current=4400))
    assert decision.decision == REJECTED
    assert outcomes(decision, "terms-10-refill") == [REJECTED]
    assert "Refill applies to completed orders" in text(decision, "terms-10-refill")


# --- terms-10-guarantee -------------------------------------------------------------------

def test_guarantee_tool_is_a_commitment():
    tool = Tool(refill=True, refill_days=30, guarantee=True)
    decision = evaluate(order(tool=tool), refill_claim(current=4400))
    assert decision.decision == ELIGIBLE
    assert outcomes(decision, "terms-10-guarantee") == [ELIGIBLE]
    assert "commitment" in text(decision, "terms-10-guarantee")
    assert "best-effort" not in text(decision, "terms-10-guarantee")


def test_refill_without_guarantee_is_best_effort():
    decision = evaluate(order(), refill_claim(current=4400))
    assert decision.decision == ELIGIBLE
    assert "best-effort" in text(decision, "terms-10-guarantee")
    assert "commitment" not in text(decision, "terms-10-guarantee")


def test_refill_needing_review_still_says_best_effort():
    decision = evaluate(order(), refill_claim(current=None))
    assert "best-effort" in text(decision, "terms-10-guarantee")


# --- terms-9-finality ---------------------------------------------------------------------

def test_cancel_while_pending_is_eligible_but_not_guaranteed():
    decision = evaluate(unfinished("pending"), claim("cancel"))
    assert decision.decision == ELIGIBLE
    assert outcomes(decision, "terms-9-finality") == [ELIGIBLE]
    assert "not guaranteed" in text(decision, "terms-9-finality")


@pytest.mark.parametrize("status, remains, words", [
    ("in_progress", 0, "is In Progress"),
    ("completed", 0, "is Completed"),
    ("partial", 300, "is Partial"),
    ("canceled", QUANTITY, "already Canceled"),
])
def test_cancel_after_pending_is_rejected(status, remains, words):
    decision = evaluate(order(status=status, remains=remains), claim("cancel"))
    assert decision.decision == REJECTED
    assert outcomes(decision, "terms-9-finality") == [REJECTED]
    assert words in text(decision, "terms-9-finality")


# --- terms-9-partial / terms-9-canceled in evaluate() -------------------------------------

def test_partial_delivery_claim_carries_the_return():
    facts = order(status="partial", remains=250, charge=Decimal("10.00"), charge_promo=Decimal("4.00"))
    decision = evaluate(facts, claim())
    assert decision.decision == ELIGIBLE
    assert outcomes(decision, "terms-9-partial") == [ELIGIBLE]
    assert decision.expected_return.rule == "terms-9-partial"
    assert (decision.expected_return.deposited, decision.expected_return.promotional) == (
        Decimal("1.50"), Decimal("1.00"))
    assert "250 of 1000 undelivered" in text(decision, "terms-9-partial")


def test_delivery_claim_on_a_canceled_order_points_to_the_automatic_return():
    facts = order(status="canceled", remains=QUANTITY, charge=Decimal("5.00"), charge_promo=Decimal("5.00"))
    decision = evaluate(facts, claim())
    assert decision.decision == REJECTED
    assert outcomes(decision, "terms-9-canceled") == [REJECTED]
    assert "automatic return" in text(decision, "terms-9-canceled")
    assert (decision.expected_return.deposited, decision.expected_return.promotional) == (
        Decimal("0.00"), Decimal("5.00"))


# --- Decision -----------------------------------------------------------------------------

def test_to_dict_of_an_eligible_refill():
    body = evaluate(order(), refill_claim(current=4400)).to_dict()
    assert set(body) == {"decision", "rules", "reasons", "refill_quantity"}
    assert body["decision"] == ELIGIBLE
    assert body["rules"] == ["terms-10-refill", "terms-10-guarantee"]  # unique, in order
    assert [r["rule"] for r in body["reasons"]] == ["terms-10-refill", "terms-10-refill", "terms-10-guarantee"]
    assert all(set(r) == {"rule", "outcome", "text"} for r in body["reasons"])
    assert all(r["text"] for r in body["reasons"])
    assert body["refill_quantity"] == 172


def test_to_dict_rules_are_unique_and_ordered():
    decision = Decision(REJECTED, (
        Reason("b", ELIGIBLE, "1"), Reason("a", REJECTED, "2"), Reason("b", REJECTED, "3"), Reason("c", ELIGIBLE, "4"),
    ))
    assert decision.to_dict()["rules"] == ["b", "a", "c"]
    assert decision.to_dict()["reasons"][2] == {"rule": "b", "outcome": REJECTED, "text": "3"}


def test_to_dict_of_a_rejected_refill_has_no_quantity():
    body = evaluate(order(), refill_claim(current=END)).to_dict()
    assert body["decision"] == REJECTED
    assert body["refill_quantity"] is None


def test_to_dict_of_a_partial_order_has_the_expected_return():
    facts = order(status="partial", remains=1, quantity=3, charge=Decimal("1.00"), charge_promo=Decimal("0.33"))
    body = evaluate(facts, claim()).to_dict()
    assert body["expected_return"] == {"rule": "terms-9-partial", "deposited": "0.23", "promotional": "0.10"}
    assert body["rules"] == ["terms-7-claim-window", "terms-9-partial"]


def test_to_dict_of_a_canceled_order_has_the_expected_return():
    facts = order(status="canceled", remains=QUANTITY, charge=Decimal("10.00"), charge_promo=Decimal("4.00"))
    body = evaluate(facts, claim("cancel")).to_dict()
    assert body["expected_return"] == {"rule": "terms-9-canceled", "deposited": "6.00", "promotional": "4.00"}


@pytest.mark.parametrize("status", ["completed", "pending", "in_progress"])
def test_to_dict_without_a_return_has_no_expected_return(status):
    body = evaluate(order(status=status), claim("cancel")).to_dict()
    assert "expected_return" not in body


def test_the_strictest_outcome_wins():
    # eligible (window) + needs_review (missing count) → needs_review; + rejected → rejected.
    assert evaluate(order(), refill_claim(current=None)).decision == NEEDS_REVIEW
    assert evaluate(order(target_state="private"), refill_claim(current=None)).decision == REJECTED


# --- evaluate() input ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["refund", "", "Refill", "non-delivery", "withdrawal"])
def test_unknown_kind_raises(kind):
    with pytest.raises(ValueError, match="unknown claim kind"):
        evaluate(order(), claim(kind))


def test_kinds_catalogue():
    assert KINDS == ("non_delivery", "wrong_quantity", "not_as_described", "refill", "cancel")
    assert set(DELIVERY_CLAIMS) < set(KINDS)
