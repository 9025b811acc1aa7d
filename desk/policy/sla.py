"""Which clocks a ticket runs, and when each is due. Pure.

Every ticket kind has a first-response and a resolution target counted in support time
(`terms-33-support-hours`; admins may change the minutes). Some tickets carry a clock the
Terms or the law set instead, and those are not configurable:

- rights-holder and legal notices (`terms-33-legal`): acknowledgement within 5 business
  days, a substantive response within 30 calendar days;
- EU/UK privacy requests (`privacy-10-gdpr`): one month, extendable once by two months;
- California privacy requests (`privacy-10-ccpa`): receipt confirmed within 10 business
  days, an answer within 45 calendar days, extendable once by 45 days;
- serious-harm abuse reports (`aup-5.6-serious-harm`): first action within 1 hour, round
  the clock.

Support-time clocks pause while the ticket waits on the customer. Legal and statutory
clocks do not (GDPR may, when an admin says waiting for identity stops it).
"""
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from desk.policy import calendar as cal_
from desk.policy.calendar import Calendar

SUPPORT_HOURS = "terms-33-support-hours"
LEGAL = "terms-33-legal"
GDPR = "privacy-10-gdpr"
CCPA = "privacy-10-ccpa"
SERIOUS_HARM = "aup-5.6-serious-harm"

MEASURES = ("support", "wall", "business_days", "calendar_days", "months")
# What stops a clock: the first public reply, any staff action (a reply, a note, a status
# change), or the ticket being resolved.
STOPS_ON = ("public_reply", "any_action", "resolved")
JURISDICTIONS = ("eu", "ca", "other")
JURISDICTION_LABELS = {"eu": "EU / UK", "ca": "California", "other": "Elsewhere"}
REMINDER_SHARE = 0.75  # reminders go out when 75% of a target has elapsed


@dataclass(frozen=True)
class Extension:
    amount: int
    reason_required: bool = True  # the requester is told why (GDPR Art. 12(3), 11 CCR §7021)


@dataclass(frozen=True)
class ClockSpec:
    name: str
    label: str
    rule: str
    measure: str
    amount: int  # minutes for support/wall, days, or months
    stops_on: str
    pauses: bool
    extension: Extension | None = None

    def describe(self) -> str:
        return describe(self.measure, self.amount)


@dataclass(frozen=True)
class Targets:
    """Support-time targets for one ticket kind, in support minutes."""

    first_response: int
    resolution: int

    def problems(self) -> dict[str, str]:
        out = {}
        for name in ("first_response", "resolution"):
            value = getattr(self, name)
            if type(value) is not int or not 1 <= value <= 60 * 24 * 365:  # bool is not a number of minutes
                out[name] = "a whole number of minutes from 1 to 525600"
        if not out and self.resolution < self.first_response:
            out["resolution"] = "must not be shorter than the first-response target"
        return out


SUPPORT_DAY = 13 * 60  # one default support day, 10:00–23:00
DEFAULT_TARGETS: dict[str, Targets] = {
    "general": Targets(240, 3 * SUPPORT_DAY),
    "claim": Targets(240, 3 * SUPPORT_DAY),
    "refill": Targets(240, 3 * SUPPORT_DAY),
    "cancel": Targets(120, SUPPORT_DAY),
    "multi_account": Targets(240, 3 * SUPPORT_DAY),
    "refund": Targets(240, 5 * SUPPORT_DAY),
    "withdrawal": Targets(240, 5 * SUPPORT_DAY),
    "closure": Targets(240, 5 * SUPPORT_DAY),
    "restoration": Targets(240, 5 * SUPPORT_DAY),
    "chargeback": Targets(240, 3 * SUPPORT_DAY),
    "abuse": Targets(120, 3 * SUPPORT_DAY),
    "rights": Targets(240, 5 * SUPPORT_DAY),
    "privacy": Targets(240, 5 * SUPPORT_DAY),
}


def support_clocks(targets: Targets) -> list[ClockSpec]:
    return [
        ClockSpec("first_response", "First response", SUPPORT_HOURS, "support", targets.first_response,
                  "public_reply", True),
        ClockSpec("resolution", "Resolution", SUPPORT_HOURS, "support", targets.resolution, "resolved", True),
    ]


LEGAL_CLOCKS = [
    ClockSpec("acknowledgement", "Legal acknowledgement", LEGAL, "business_days", 5, "public_reply", False),
    ClockSpec("response", "Substantive response", LEGAL, "calendar_days", 30, "resolved", False),
]
SERIOUS_HARM_CLOCK = ClockSpec("first_action", "First action (serious harm)", SERIOUS_HARM, "wall", 60,
                               "any_action", False)
GDPR_CLOCK = ClockSpec("statutory_answer", "Answer (GDPR)", GDPR, "months", 1, "resolved", False, Extension(2))
CCPA_CLOCKS = [
    ClockSpec("receipt_confirmation", "Confirm receipt (CCPA)", CCPA, "business_days", 10, "public_reply", False),
    ClockSpec("statutory_answer", "Answer (CCPA)", CCPA, "calendar_days", 45, "resolved", False, Extension(45)),
]


# Kinds whose tickets run the legal clocks instead of support-time targets.
LEGAL_KINDS = frozenset({"rights"})


def clocks_for(kind: str, targets: Targets, *, jurisdiction: str | None = None, serious_harm: bool = False,
               gdpr_pauses_for_identity: bool = False) -> list[ClockSpec]:
    """The clocks a new ticket of `kind` runs."""
    if kind in LEGAL_KINDS:
        # Rights holders send legal notices: the legal clocks replace the support ones.
        return list(LEGAL_CLOCKS)
    clocks = support_clocks(targets)
    if kind == "abuse" and serious_harm:
        clocks.insert(0, SERIOUS_HARM_CLOCK)
    if kind == "privacy":
        if jurisdiction == "ca":
            clocks += CCPA_CLOCKS
        else:
            # The Privacy Policy promises "the time required by applicable law"; where the
            # requester names no statute the strictest common one (GDPR's month) is kept.
            clocks.append(replace(GDPR_CLOCK, pauses=gdpr_pauses_for_identity))
    return clocks


def deadline(measure: str, start: datetime, amount: int, cal: Calendar) -> datetime:
    """When a clock of `measure` and `amount` that started at `start` is due."""
    if measure == "support":
        return cal_.add_support_minutes(start, amount, cal)
    if measure == "wall":
        # Real minutes: in UTC, so a DST change in the start's zone cannot add an hour.
        return cal_.require_aware(start).astimezone(timezone.utc) + timedelta(minutes=amount)
    if measure == "business_days":
        return cal_.add_business_days(start, amount, cal)
    if measure == "calendar_days":
        return cal_.add_calendar_days(start, amount, cal)
    if measure == "months":
        return cal_.add_months(start, amount, cal)
    raise ValueError(f"unknown measure {measure!r}")


def extension_problem(spec: ClockSpec, *, started_at: datetime, extended: bool, stopped: bool, now: datetime,
                      reason: str, cal: Calendar) -> str | None:
    """Why this clock may not be extended now, or None. An extension is allowed once, with
    reasons given to the requester, and only within the first period (GDPR Art. 12(3);
    11 CCR §7021(b))."""
    if spec.extension is None:
        return f"This clock ({spec.rule}) cannot be extended."
    if extended:
        return "This clock has already been extended once."
    if stopped:
        return "This clock has stopped."
    if now > deadline(spec.measure, started_at, spec.amount, cal):
        return f"The extension had to be given within the first period ({spec.describe()}), which has passed."
    if spec.extension.reason_required and not reason.strip():
        return "Give the reason the requester will be told."
    return None


def describe(measure: str, amount: int) -> str:
    if measure == "support":
        return f"{duration_words(timedelta(minutes=amount), days=False)} of support time"
    if measure == "wall":
        return f"{duration_words(timedelta(minutes=amount))}, round the clock"
    if measure == "business_days":
        return f"{amount} business day{'s' * (amount != 1)}"
    if measure == "calendar_days":
        return f"{amount} calendar day{'s' * (amount != 1)}"
    return f"{amount} month{'s' * (amount != 1)}"


def duration_words(span: timedelta, days: bool = True) -> str:
    """1 h 20 m, 3 d 4 h, 45 m: two units at most, rounded down. Support time is told in
    hours (`days=False`): 39 h of it is three support days, not "1 d 15 h"."""
    seconds = max(int(span.total_seconds()), 0)
    days, rest = divmod(seconds, 86400) if days else (0, seconds)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} m" if minutes else f"{hours} h"
    return f"{minutes} m" if minutes else "under 1 m"
