"""Claims on orders, decided by the Terms (§5, §7, §9, §10, §11).

`evaluate()` takes plain facts about an order, the other orders on its link and the
claim, and returns a Decision: eligible, rejected or needs_review, with every rule that
spoke and a sentence with the figures it used. No Flask, no database: a rule can be
read next to its clause and tested in microseconds.

Rule ids (DESIGN §2):
  terms-7-claim-window    claims within 72 h of Completed/Partial
  terms-11-delivery-time  before Completed/Partial a claim is a status enquiry
  terms-11-overlap        orders on the same link at the same time
  terms-11-target         private/removed/changed target voids claims, cancel and refill
  terms-11-wrong-link     wrong or non-working links are the customer's responsibility
  terms-5-beta            beta tools: no claim eligibility, no refill
  terms-10-refill         refill maths and window
  terms-10-guarantee      only "Guarantee" tools carry a commitment
  terms-9-finality        cancel only while Pending
  terms-9-partial         the undelivered share returns, split by funding source
  terms-9-canceled        the full charge returns, split by funding source
  terms-9-stalled         orders that cannot complete
"""
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from desk.policy.ledger import Return, return_owed
from desk.policy.words import N_, Words

CLAIM_WINDOW = timedelta(hours=72)
KINDS = ("non_delivery", "wrong_quantity", "not_as_described", "refill", "cancel")
# Order statuses as the panel and the Terms write them (Terms §9: "In Progress", "Partial").
STATUS_NAMES = {"pending": N_("Pending"), "in_progress": N_("In Progress"), "completed": N_("Completed"), "partial": N_("Partial"),
                "canceled": "Canceled"}
DELIVERY_CLAIMS = ("non_delivery", "wrong_quantity", "not_as_described")
FINISHED = ("completed", "partial", "canceled")
ACTIVE = ("in_progress",)

ELIGIBLE, REJECTED, NEEDS_REVIEW = "eligible", "rejected", "needs_review"
_WEIGHT = {ELIGIBLE: 0, NEEDS_REVIEW: 1, REJECTED: 2}


def strictest(outcomes) -> str:
    """The decision of several reasons: the strictest outcome wins (none: staff review)."""
    return max(outcomes, key=_WEIGHT.__getitem__, default=NEEDS_REVIEW)


@dataclass(frozen=True)
class Tool:
    refill: bool = False
    refill_days: int = 0
    refill_min_drop: int = 0
    guarantee: bool = False
    beta: bool = False
    name: str = ""


@dataclass(frozen=True)
class OrderFacts:
    panel_id: str
    status: str  # pending, in_progress, completed, partial, canceled
    link: str  # normalised
    quantity: int
    created_at: datetime
    finished_at: datetime | None = None  # when it reached completed/partial/canceled
    start_count: int | None = None
    remains: int = 0
    charge: Decimal = Decimal("0.00")
    charge_promo: Decimal = Decimal("0.00")
    target_state: str = "ok"  # ok, private, removed, changed, invalid_link
    tool: Tool = field(default_factory=Tool)
    overlap_elsewhere: bool = False  # staff recorded an overlapping order placed elsewhere

    @property
    def delivered(self) -> int:
        return max(0, self.quantity - max(0, self.remains))

    @property
    def delivered_nothing(self) -> bool:
        return self.status == "canceled" and self.delivered == 0


@dataclass(frozen=True)
class Claim:
    kind: str
    filed_at: datetime
    current_count: int | None = None


@dataclass(frozen=True)
class Reason:
    rule: str
    outcome: str  # eligible, rejected or needs_review: what this rule alone would say
    text: str  # the English sentence (staff, the API, stored decisions)
    # The same sentence as a message id and parameters, which customer pages translate
    # (desk.i18n.say); None: not translatable, shown as `text`.
    words: Words | None = field(default=None, compare=False)


def said(rule: str, outcome: str, msgid: str, **params) -> Reason:
    """A Reason whose sentence is `msgid % params` in English and translatable for customers."""
    words = Words(msgid, params)
    return Reason(rule, outcome, str(words), words)


@dataclass(frozen=True)
class Decision:
    decision: str
    reasons: tuple[Reason, ...]
    refill_quantity: int | None = None
    expected_return: Return | None = None

    @property
    def rules(self) -> list[str]:
        seen = []
        for reason in self.reasons:
            if reason.rule not in seen:
                seen.append(reason.rule)
        return seen

    def to_dict(self) -> dict:
        body = {
            "decision": self.decision,
            "rules": self.rules,
            "reasons": [{"rule": r.rule, "outcome": r.outcome, "text": r.text} for r in self.reasons],
            "refill_quantity": self.refill_quantity,
        }
        if self.expected_return is not None:
            body["expected_return"] = {
                "rule": self.expected_return.rule,
                "deposited": str(self.expected_return.deposited),
                "promotional": str(self.expected_return.promotional),
            }
        return body


_NO_OFFSET = timedelta(0)


def when(moment: datetime) -> str:
    """A time in a decision's figures: `2026-07-01 09:05:00 UTC` (other offsets: ISO 8601).
    Formatted field by field: strftime was a tenth of a decision's time; years before 1000
    (never an order's) keep strftime's spelling."""
    if moment.utcoffset() != _NO_OFFSET:
        return moment.isoformat()
    if moment.year < 1000:
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return (f"{moment.year}-{moment.month:02d}-{moment.day:02d} "
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} UTC")


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("claim times must be timezone-aware")
    return moment.astimezone(timezone.utc)


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    return f"{sign}{seconds // 3600} h {seconds % 3600 // 60:02d} m {seconds % 60:02d} s"


# --- single rules -------------------------------------------------------------------------

def claim_window(order: OrderFacts, claim: Claim) -> Reason:
    """terms-7-claim-window: within 3 days (72 h, inclusive) of Completed or Partial."""
    finished, filed = _utc(order.finished_at), _utc(claim.filed_at)
    elapsed = filed - finished
    status = order.status.title()
    figures = f"{status} {when(finished)}; filed {when(filed)}; {_span(elapsed)} later; window 72 h"
    if elapsed <= CLAIM_WINDOW:
        return said("terms-7-claim-window", ELIGIBLE, N_("Filed within the claim window (%(figures)s)."),
                    figures=figures)
    return said("terms-7-claim-window", REJECTED,
                N_("Filed after the claim window (%(figures)s). Claims after 3 days are not accepted, "
                   "except where applicable law requires otherwise."), figures=figures)


def overlapping(order: OrderFacts, others) -> list[OrderFacts]:
    """terms-11-overlap: orders on the same link where one was placed before the other
    finished. A Canceled order that delivered nothing never counts."""
    if order.delivered_nothing:
        return []
    found = []
    for other in others:
        if other.panel_id == order.panel_id or other.link != order.link or other.delivered_nothing:
            continue
        # Two intervals [created, finished) overlap when each starts before the other ends;
        # an order finished one second before the other was placed does not overlap it.
        other_before_end = order.finished_at is None or other.created_at < order.finished_at
        order_before_other_end = other.finished_at is None or order.created_at < other.finished_at
        if other_before_end and order_before_other_end:
            found.append(other)
    return found


def overlap(order: OrderFacts, others) -> Reason | None:
    found = overlapping(order, others)
    if found:
        ids = ", ".join(o.panel_id for o in found)
        return said("terms-11-overlap", REJECTED,
                    N_("Order %(order)s overlapped order(s) %(ids)s on the same link; with overlapping "
                       "orders the Start Count and drops cannot be tracked, so claims arising from the overlap "
                       "are not accepted and refill is void."), order=order.panel_id, ids=ids)
    if order.overlap_elsewhere:
        return said("terms-11-overlap", REJECTED,
                    N_("An overlapping order on the same link elsewhere was recorded for order %(order)s; "
                       "claims arising from the overlap are not accepted and refill is void."), order=order.panel_id)
    return None


# One whole sentence per target state, so a translator sees each as it reads.
TARGET_WORDS = {
    "private": N_("For order %(order)s the target was private or restricted; such orders are not eligible for a "
                  "refund, cancellation or refill."),
    "removed": N_("For order %(order)s the target was removed; such orders are not eligible for a refund, "
                  "cancellation or refill."),
    "changed": N_("For order %(order)s the link, username or privacy setting was changed after ordering; such "
                  "orders are not eligible for a refund, cancellation or refill."),
}


def target(order: OrderFacts) -> Reason | None:
    """terms-11-target: private/removed/changed targets are not eligible for refund,
    cancellation or refill."""
    if order.target_state in TARGET_WORDS:
        return said("terms-11-target", REJECTED, TARGET_WORDS[order.target_state], order=order.panel_id)
    return None


def wrong_link(order: OrderFacts) -> Reason | None:
    """terms-11-wrong-link: the customer answers for wrong or non-working links."""
    if order.target_state != "invalid_link":
        return None
    if order.status == "canceled":
        return said("terms-11-wrong-link", REJECTED,
                    N_("The link on order %(order)s was wrong or not working; links are the customer's "
                       "responsibility and such orders are not eligible for a refund, cancellation or refill. "
                       "The panel cancelled it before delivery, so the charge returns to the Balance."),
                    order=order.panel_id)
    return said("terms-11-wrong-link", REJECTED,
                N_("The link on order %(order)s was wrong or not working; links are the customer's "
                   "responsibility and such orders are not eligible for a refund, cancellation or refill."),
                order=order.panel_id)


def beta(order: OrderFacts) -> Reason | None:
    """terms-5-beta: no claim eligibility and no refill while a tool is beta."""
    if order.tool.beta:
        if order.tool.name:
            return said("terms-5-beta", REJECTED,
                        N_("The tool %(tool)s was marked beta when the order was placed; beta tools carry no claim "
                           "eligibility and no refill."), tool=repr(order.tool.name))
        return said("terms-5-beta", REJECTED,
                    N_("The tool was marked beta when the order was placed; beta tools carry no claim eligibility "
                       "and no refill."))
    return None


def guarantee(order: OrderFacts) -> Reason:
    """terms-10-guarantee: only a tool labelled Guarantee carries a commitment."""
    if order.tool.guarantee:
        return said("terms-10-guarantee", ELIGIBLE, N_("The tool is labelled Guarantee: the refill is a commitment."))
    return said("terms-10-guarantee", ELIGIBLE,
                N_("The tool is not labelled Guarantee: a refill is best-effort, with no guaranteed outcome."))


REFILL_NOT_FINISHED = {
    "pending": N_("Refill applies to completed orders; order %(order)s is pending."),
    "in_progress": N_("Refill applies to completed orders; order %(order)s is in progress."),
    "canceled": N_("Refill applies to completed orders; order %(order)s is canceled."),
}


def refill(order: OrderFacts, claim: Claim) -> tuple[list[Reason], int | None]:
    """terms-10-refill: end count = Start Count + delivered quantity; eligible only when
    Start Count ≤ current < end count, the drop meets the tool's minimum, and the refill
    window (days from completion, as shown at order time) is open."""
    rule = "terms-10-refill"
    tool = order.tool
    if not tool.refill:
        return [said(rule, REJECTED, N_("The tool did not offer refill when the order was placed."))], None
    if order.status not in ("completed", "partial"):
        return [said(rule, REJECTED, REFILL_NOT_FINISHED[order.status], order=order.panel_id)], None
    closes = _utc(order.finished_at) + timedelta(days=tool.refill_days)
    filed = _utc(claim.filed_at)
    window = {"filed": when(filed), "days": tool.refill_days, "finished": when(_utc(order.finished_at)),
              "closes": when(closes)}
    if filed > closes:
        return [said(rule, REJECTED, N_("Filed %(filed)s, after the refill window %(days)s days from %(finished)s, "
                                        "closing %(closes)s."), **window)], None
    reasons = [said(rule, ELIGIBLE, N_("Filed %(filed)s, within the refill window %(days)s days from %(finished)s, "
                                       "closing %(closes)s."), **window)]
    if order.start_count is None or claim.current_count is None:
        reasons.append(said(rule, NEEDS_REVIEW,
                            N_("Refill needs the Start Count to be measured; staff will check it.")
                            if order.start_count is None else
                            N_("Refill needs the current count to be measured; staff will check it.")))
        return reasons, None
    end = order.start_count + order.delivered
    current = claim.current_count
    figures = f"Start Count {order.start_count}, end count {end} (Start Count + {order.delivered} delivered), current {current}"
    if current >= end:
        reasons.append(said(rule, REJECTED, N_("No drop to refill: %(figures)s."), figures=figures))
        return reasons, None
    if current < order.start_count:
        reasons.append(said(rule, REJECTED,
                            N_("The count is below the Start Count (%(figures)s); drops from a base that existed "
                               "before the order are not covered."), figures=figures))
        return reasons, None
    drop = end - current
    if drop < tool.refill_min_drop:
        reasons.append(said(rule, REJECTED, N_("The drop of %(drop)s is below the tool's minimum of %(minimum)s "
                                               "(%(figures)s)."), drop=drop, minimum=tool.refill_min_drop, figures=figures))
        return reasons, None
    reasons.append(said(rule, ELIGIBLE, N_("Refill %(drop)s (%(figures)s)."), drop=drop, figures=figures))
    return reasons, drop


# --- the whole decision -----------------------------------------------------------------

def _decide(reasons: list[Reason], refill_quantity=None, owed=None) -> Decision:
    worst = strictest(r.outcome for r in reasons)
    return Decision(worst, tuple(reasons), refill_quantity if worst == ELIGIBLE else None, owed)


def evaluate(order: OrderFacts, claim: Claim, others=()) -> Decision:
    """Decide `claim` on `order`; `others` are the other orders on the same link."""
    if claim.kind not in KINDS:
        raise ValueError(f"unknown claim kind {claim.kind!r}")
    owed = return_owed(order)
    voiding = [r for r in (target(order), wrong_link(order), overlap(order, others)) if r]

    if claim.kind == "cancel":
        return _decide(_cancel(order) + voiding, owed=owed)

    if claim.kind == "refill":
        reasons = [r for r in (beta(order),) if r]
        refill_reasons, quantity = refill(order, claim)
        reasons += refill_reasons + voiding
        if not any(r.outcome == REJECTED for r in reasons):
            reasons.append(guarantee(order))
        return _decide(reasons, quantity, owed)

    # Delivery claims: non-delivery, wrong quantity, not as described.
    if order.status in ("pending", "in_progress"):
        return _decide(_not_finished(order) + voiding, owed=owed)
    if order.status == "canceled":
        reasons = [said("terms-9-canceled", REJECTED,
                        N_("Order %(order)s was Canceled: nothing is owed beyond the automatic return. Canceled: the "
                           "full %(charge)s charge returns to the Balance (%(deposited)s Deposited Funds, "
                           "%(promotional)s Promotional Credit); a return never turns Promotional Credit into "
                           "Deposited Funds."), order=order.panel_id, charge=order.charge,
                        deposited=owed.deposited, promotional=owed.promotional)]
        return _decide(reasons + voiding, owed=owed)
    reasons = [claim_window(order, claim)]
    reasons += [r for r in (beta(order),) if r] + voiding
    if order.status == "partial":
        reasons.append(Reason("terms-9-partial", ELIGIBLE, owed.text, owed.words))
    return _decide(reasons, owed=owed)


CANCEL_TOO_LATE = {
    "in_progress": N_("Order %(order)s is In Progress: once an order is active it cannot be cancelled, and a "
                      "Completed order is final."),
    "completed": N_("Order %(order)s is Completed: once an order is active it cannot be cancelled, and a "
                    "Completed order is final."),
    "partial": N_("Order %(order)s is Partial: once an order is active it cannot be cancelled, and a "
                  "Completed order is final."),
}


def _cancel(order: OrderFacts) -> list[Reason]:
    """terms-9-finality: only a Pending order may be cancelled (and even then not guaranteed)."""
    rule = "terms-9-finality"
    if order.status == "pending":
        return [said(rule, ELIGIBLE, N_("Order %(order)s is still Pending, so it may be cancelled "
                                        "(not guaranteed); the full charge would return to the Balance "
                                        "in the proportions it was paid."), order=order.panel_id)]
    if order.status == "canceled":
        return [said(rule, REJECTED, N_("Order %(order)s is already Canceled."), order=order.panel_id)]
    return [said(rule, REJECTED, CANCEL_TOO_LATE[order.status], order=order.panel_id)]


NOT_FINISHED = {
    "pending": N_("Order %(order)s is pending (placed %(placed)s): it is not a claim until it is Completed or "
                  "Partial. Delivery times are estimates, and a slow order is not grounds for a refund; we will "
                  "answer this as a status enquiry."),
    "in_progress": N_("Order %(order)s is in progress (placed %(placed)s): it is not a claim until it is Completed "
                      "or Partial. Delivery times are estimates, and a slow order is not grounds for a refund; we "
                      "will answer this as a status enquiry."),
}


def _not_finished(order: OrderFacts) -> list[Reason]:
    """terms-11-delivery-time and terms-9-stalled: an unfinished order is a status enquiry."""
    reasons = [said("terms-11-delivery-time", REJECTED, NOT_FINISHED[order.status], order=order.panel_id,
                    placed=when(_utc(order.created_at)))]
    if order.target_state in TARGET_WORDS or order.target_state == "invalid_link":
        reasons.append(said("terms-9-stalled", REJECTED,
                            N_("If it cannot complete because of its target, that is not refunded "
                               "(support may cancel it at its discretion).")))
    else:
        reasons.append(said("terms-9-stalled", NEEDS_REVIEW,
                            N_("If it cannot complete for reasons on our side, it is resolved as Canceled or "
                               "Partial and the amount returns to the Balance.")))
    return reasons


# What the panel is asked to do once staff accept a claim (issue 12), and the rule it
# carries out: an accepted refill is refilled on the panel, an accepted cancel cancelled.
PANEL_ACTIONS = {"refill": ("refill", "terms-10-refill"), "cancel": ("cancel", "terms-9-finality")}


def panel_action(kind: str, status: str, decision: str, overridden: bool) -> tuple[str, str] | None:
    """(action, rule) for a closed claim, or None: only an accepted refill or cancel, and
    only when accepting it agrees with the Terms' decision (eligible, or needs_review that
    staff decided) or is a supervisor's override of it."""
    if status != "accepted" or kind not in PANEL_ACTIONS:
        return None
    if decision == REJECTED and not overridden:
        return None
    return PANEL_ACTIONS[kind]
