"""Abuse and rights-holder cases, decided by the Acceptable Use Policy (§3–§6) and the
Terms (§20, §23).

Rule ids (DESIGN §2):
  aup-6-report              a report needs a link or order reference and a description; without them it is kept as "needs info"
  aup-3-taxonomy            every case carries an AUP category (3.1–3.6, 4.1–4.8), and its severity follows from it
  aup-5.6-serious-harm      serious crime and exploitation (3.1): worked at once, no notice to the account holder
  aup-5.2-evidence          opening a case and every enforcement action preserve evidence
  aup-5.3-enforcement       the actions: reject/cancel order, warning, suspend, terminate, block identifier, forfeit, cancel credit
  aup-5.4-forfeiture        forfeited Deposited Funds are liquidated damages; a second staff member approves
  aup-5.5-disclosure        a referral or disclosure records what, to whom and on what basis
  aup-4.1-permission        tools directed at a target the customer does not control: a 4.1 case against the ordering account
  terms-23-referential-use  a rights holder's concern about a platform name is reviewed in good faith
  aup-appeal                a notified action can be contested within the window; someone else decides
  aup-csam-handling         CSAM is never stored or shown: hashes, the reference and the referral only
  aup-unfounded-notices     a reporter of manifestly unfounded reports can be muted, with a reason

A case's state and an account's strikes are never stored alone: they are worked out from
the append-only moderation log (`case_state`, `strikes`), the model of Bluesky's Ozone.

No Flask, no database.
"""
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from desk.policy.words import N_, Words

# AUP §3 (content) and §4 (conduct), in plain words for the public forms.
CATEGORIES: dict[str, str] = {
    "3.1": "Serious crime or exploitation (child abuse material, terrorism, trafficking, threats to life)",
    "3.2": "Fraud or financial crime (scams, phishing, fake fundraising)",
    "3.3": "Hate, harassment or harm to people (doxxing, incitement, self-harm)",
    "3.4": "Infringement or privacy (copyright, trademark, private information)",
    "3.5": "Serious deception (dangerous disinformation, election manipulation, impersonation)",
    "3.6": "Regulated goods (unlawful promotion of drugs, weapons, gambling; academic fraud)",
    "4.1": "Tools aimed at someone else's page without permission (harming a third party)",
    "4.2": "Technical abuse of the service (scanning, bots, malware)",
    "4.3": "Spam or unsolicited messages",
    "4.4": "Account or payment abuse (stolen cards, refund manipulation, account resale)",
    "4.5": "Affiliate program abuse (self-referrals, cookie stuffing)",
    "4.6": "Misuse of a third-party platform",
    "4.7": "A reseller's or child panel's customers breaking the rules",
    "4.8": "Sanctions or restricted regions",
}
SEVERITIES = ("critical", "high", "medium", "low")
_SEVERITY = {"3.1": "critical", "3.2": "high", "3.3": "high", "4.1": "high",
             "3.4": "medium", "3.5": "medium", "4.4": "medium", "4.5": "medium", "4.7": "medium"}
# The ticket priority each severity starts at.
PRIORITY = {"critical": "urgent", "high": "high", "medium": "normal", "low": "low"}

RIGHTS = {"trademark": N_("Trademark"), "copyright": N_("Copyright"), "other": N_("Another right (name, likeness)")}

# Enforcement (AUP §5.3), each with the clause that allows it and what it acts on.
ACTIONS: dict[str, tuple[str, str, str]] = {
    # action: (label, rule, target: order, account or identifier)
    "reject_order": (N_("Reject the order"), "aup-5.3-enforcement", "order"),
    "cancel_order": (N_("Cancel the order"), "aup-5.3-enforcement", "order"),
    "warning": (N_("Warn the account holder"), "aup-5.3-enforcement", "account"),
    "suspend": (N_("Suspend the account"), "aup-5.3-enforcement", "account"),
    "terminate": (N_("Terminate the account"), "aup-5.3-enforcement", "account"),
    "block_identifier": (N_("Block an identifier"), "aup-5.3-enforcement", "identifier"),
    "forfeit_deposited": (N_("Forfeit the Deposited Funds"), "aup-5.4-forfeiture", "account"),
    "cancel_promotional": (N_("Cancel the Promotional Credit"), "aup-5.3-enforcement", "account"),
}
# What a strike is: an action taken against an account that is still standing.
STRIKE_ACTIONS = frozenset({"warning", "suspend", "terminate", "forfeit_deposited"})

ABUSE_OUTCOMES = {"no_breach": "No breach found", "actioned": "Breach found and acted on"}
# terms-23-referential-use: what a review of a rights holder's concern ends in.
RIGHTS_OUTCOMES = {
    "no_action": "No action: the use is referential and lawful",
    "content_action": "Action against the ordering account's content",
    "reference_changed": "The reference was changed",
}

DEFAULT_APPEAL_DAYS = 183  # six months, as the EU Digital Services Act (Art. 20) sets
CSAM_HOLD_DAYS = 365  # aup-csam-handling: records held at least a year after a referral
MIN_REASON = 10


@dataclass(frozen=True)
class Reason:
    rule: str
    text: str
    words: Words | None = field(default=None, compare=False)  # `text` as a message id, for reporters and customers


def said(rule: str, msgid: str, **params) -> Reason:
    """A Reason whose sentence is `msgid % params` in English and translatable (desk.i18n.say)."""
    words = Words(msgid, params)
    return Reason(rule, str(words), words)


def severity(category: str) -> str:
    """aup-3-taxonomy: critical for 3.1, high for 3.2, 3.3, 4.1, medium for 3.4, 3.5,
    4.4, 4.5, 4.7, low for the rest."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown AUP category {category!r}")
    return _SEVERITY.get(category, "low")


def is_serious_harm(category: str) -> bool:
    """aup-5.6-serious-harm follows from a critical category."""
    return severity(category) == "critical"


def triage(category: str) -> list[Reason]:
    """What the category means for the case, each with its rule."""
    level = severity(category)
    reasons = [Reason("aup-3-taxonomy", f"AUP {category} ({CATEGORIES[category].split(' (')[0]}): "
                                        f"severity {level}.")]
    if level == "critical":
        reasons.append(Reason("aup-5.6-serious-harm",
                              "Serious harm: worked round the clock with a first action within 1 hour, trust & "
                              "safety paged, evidence preserved at once, no notice to the account holder."))
    if category == "4.1":
        reasons.append(Reason("aup-4.1-permission",
                              "Tools may be directed only at targets the customer owns or has written permission "
                              "to act on: the case is against the ordering account."))
    if category == "3.4":
        reasons.append(Reason("terms-23-referential-use",
                              "A concern about the use of a name or work is reviewed in good faith."))
    return reasons


def completeness(has_target: bool, has_description: bool) -> Reason | None:
    """aup-6-report: None when the report can be worked; else what the reporter must add."""
    if has_target and has_description:
        return None
    return said("aup-6-report",
                N_("To act on a report we need the link or order reference and a description of the issue. The "
                   "report is kept; add what is missing and it will be reviewed.") if not (has_target or has_description)
                else N_("To act on a report we need the link or order reference. The report is kept; add what is "
                        "missing and it will be reviewed.") if not has_target
                else N_("To act on a report we need a description of the issue. The report is kept; add what is "
                        "missing and it will be reviewed."))


def needs_second_approval(action: str) -> bool:
    """aup-5.4-forfeiture: forfeiting Deposited Funds waits for a second staff member."""
    return action == "forfeit_deposited"


def notify_account_holder(action: str, serious_harm: bool) -> Reason:
    """Whether the account holder is told of an action (with a statement of reasons and a
    way to appeal), and the rule that says so."""
    if serious_harm:
        return Reason("aup-5.6-serious-harm", "Not notified: in serious-harm cases nothing requires a warning, a wait "
                                              "or an opportunity to respond before acting.")
    return Reason("aup-appeal", "Notified with a statement of reasons and how to contest the action.")


def appeal_deadline(notified_at: datetime, window_days: int) -> datetime:
    return notified_at + timedelta(days=window_days)


def appeal_allowed(*, notified_at: datetime | None, now: datetime, window_days: int, reversed_: bool) -> Reason | None:
    """aup-appeal: None when the action may be contested now; else why not."""
    if notified_at is None:
        return said("aup-appeal", N_("This action was not notified, so it cannot be contested here."))
    if reversed_:
        return said("aup-appeal", N_("This action has already been reversed."))
    if now > appeal_deadline(notified_at, window_days):
        return said("aup-appeal", N_("The window to contest this action (%(days)s days from the notice) has closed."),
                    days=window_days)
    return None


def may_decide_appeal(decider_id: int, actor_ids: set[int]) -> bool:
    """aup-appeal: an appeal is decided by someone who took no part in the action."""
    return decider_id not in actor_ids


def csam_hold_until(referred_at: datetime) -> datetime:
    """aup-csam-handling: a referral holds the case's records for at least a year."""
    return referred_at + timedelta(days=CSAM_HOLD_DAYS)


def check_reason(reason: str | None, what: str) -> str | None:
    """Every decision carries the staff member's words: None when they are enough."""
    if len((reason or "").strip()) < MIN_REASON:
        return f"{what} needs a written reason (at least {MIN_REASON} characters)."
    return None


# --- the moderation log ----------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    """One moderation event as the derivations read it."""

    kind: str
    subject: str = ""  # "account:alice", "order:1001", "link:instagram.com/p/x"
    data: dict = field(default_factory=dict)


CASE_STATES = {
    "unconfirmed": "Waiting for the reporter to confirm their e-mail",
    "needs_info": "Needs more information from the reporter",
    "open": N_("Under review"),
    "actioned": "Action taken",
    "appealed": "Under appeal",
    "closed": N_("Closed"),
    "merged": "Merged into another case",
}
# What a reporter is told: never the actions, the account or the evidence.
PUBLIC_STATES = {
    "unconfirmed": N_("Waiting for you to confirm your e-mail address"),
    "needs_info": N_("We need more information from you"),
    "open": N_("Under review"),
    "actioned": N_("Under review"),
    "appealed": N_("Under review"),
    "closed": N_("Closed"),
    "merged": N_("Under review"),
}


@dataclass(frozen=True)
class CaseState:
    state: str
    reports: int
    actions: tuple[str, ...]  # ids of standing actions
    awaiting_approval: tuple[str, ...]
    open_appeals: tuple[str, ...]
    holds: tuple[str, ...]  # ids of holds in force
    outcome: str | None


def case_state(events: list[Event]) -> CaseState:
    """The case's state, replayed from its log in order."""
    state, outcome, before_appeal = "open", None, "open"
    reports: set[str] = set()
    actions: dict[str, None] = {}
    awaiting: dict[str, None] = {}
    appeals: dict[str, None] = {}
    holds: dict[str, None] = {}
    for event in events:
        ref = str(event.data.get("id", ""))
        if event.kind == "report":
            # One report is logged on each subject it names: it counts once.
            reports.add(str(event.data.get("report", "")))
        elif event.kind == "needs_info":
            state = "needs_info"
        elif event.kind in ("info_added", "reopened"):
            state, outcome = "open", None
        elif event.kind == "action_proposed":
            awaiting[ref] = None
        elif event.kind == "action":
            awaiting.pop(ref, None)
            actions[ref] = None
            if state not in ("closed", "appealed"):
                state = "actioned"
        elif event.kind == "action_refused":
            awaiting.pop(ref, None)
        elif event.kind == "appeal":
            if not appeals:
                before_appeal = state
            appeals[ref] = None
            state = "appealed"
        elif event.kind == "appeal_decided":
            appeals.pop(ref, None)
            if not appeals:
                # A case closed before the appeal is closed again once it is decided.
                state = "closed" if before_appeal == "closed" else ("actioned" if actions else "open")
        elif event.kind == "reversal":
            actions.pop(ref, None)
            if not appeals and state == "actioned" and not actions:
                state = "open"
        elif event.kind == "hold_placed":
            holds[ref] = None
        elif event.kind == "hold_released":
            holds.pop(ref, None)
        elif event.kind == "closed":
            state, outcome = "closed", event.data.get("outcome")
        elif event.kind == "merged":
            state = "merged"
    return CaseState(state, len(reports), tuple(actions), tuple(awaiting), tuple(appeals), tuple(holds), outcome)


def strikes(events: list[Event]) -> int:
    """An account's strikes: the actions against it that still stand (a reversal takes its
    action's strike away)."""
    standing: set[str] = set()
    for event in events:
        ref = str(event.data.get("id", ""))
        if event.kind == "action" and event.data.get("action") in STRIKE_ACTIONS:
            standing.add(ref)
        elif event.kind == "reversal":
            standing.discard(ref)
    return len(standing)
