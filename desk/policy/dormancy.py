"""Dormant accounts, decided by the Terms (§30, with §18 for restorations).

terms-30-dormancy: no login, deposit or order for 12 consecutive months → the Balance is
frozen, with a notice 14 days before when the e-mail is verified (never to an unverified
one). Promotional Credit is forfeited at the freeze, always. Deposited Funds under $1,000
at the freeze are forfeited 6 months later (notice 14 days before, verified e-mail only);
$1,000 or more may be restored on request for 18 months from the freeze, then are
forfeited. Restoration after forfeiture is goodwill only. A negative Balance survives.

The schedule is worked out from what has happened (the last activity, the notices sent,
the freeze), so applying it is idempotent: a step that happened is never due again.
Where a notice is owed it is sent first and the step it announces follows 14 days after
it at the earliest: a notice is never shorter than the Terms promise because the daily
job ran late. No Flask, no database.
"""
import calendar
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from desk.policy.claims import ELIGIBLE, NEEDS_REVIEW, REJECTED, Reason, said, when
from desk.policy.words import N_, Words

RULE = "terms-30-dormancy"
INACTIVE_MONTHS = 12
NOTICE = timedelta(days=14)
STANDARD_MONTHS = 6  # Deposited Funds under the threshold: forfeited this long after the freeze
LARGER_MONTHS = 18  # at or above it: restoration may be requested this long after the freeze
LARGER_BALANCE = Decimal("1000.00")
DORMANT_STATUSES = ("active", "frozen")  # suspended, terminated and closed accounts follow their own rules


def add_months(moment: datetime, months: int) -> datetime:
    """The same instant `months` later, on the same-numbered day or the month's last day."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Facts:
    """What the desk knows of one account's dormancy."""

    status: str
    last_active_at: datetime | None  # the latest login, deposit or order
    email_verified: bool
    freeze_notice_at: datetime | None = None  # sent, for the inactivity that began at notice_basis
    notice_basis: datetime | None = None
    frozen_at: datetime | None = None
    deposited_at_freeze: Decimal | None = None
    forfeit_notice_at: datetime | None = None
    forfeited_at: datetime | None = None
    restoration_open: bool = False  # a restoration request is being decided
    restored_at: datetime | None = None


@dataclass(frozen=True)
class Step:
    action: str  # freeze_notice, freeze, forfeit_notice, forfeit
    due: datetime
    text: str
    rule: str = RULE
    words: Words | None = field(default=None, compare=False)  # `text` as a message id, for the customer's mail


def _step(action: str, due: datetime, msgid: str, **params) -> Step:
    words = Words(msgid, params)
    return Step(action, due, str(words), words=words)


@dataclass(frozen=True)
class Schedule:
    """When each step is (or was) due; None where it does not apply."""

    basis: datetime | None = None  # the activity the 12 months count from
    freeze_due: datetime | None = None  # 12 months after the basis
    freeze_notice_due: datetime | None = None
    freeze_at: datetime | None = None  # when the freeze takes effect (after any notice)
    band: str | None = None  # standard, larger (by the Deposited Funds at the freeze)
    forfeit_due: datetime | None = None  # standard: freeze + 6 months; larger: end of the restoration window
    forfeit_notice_due: datetime | None = None
    forfeit_at: datetime | None = None
    restoration_until: datetime | None = None


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return moment.astimezone(timezone.utc)


def basis(facts: Facts) -> datetime | None:
    """Inactivity counts from the latest activity, or from a restoration (which unfreezes)."""
    times = [t for t in (_utc(facts.last_active_at), _utc(facts.restored_at)) if t is not None]
    return max(times) if times else None


def band(deposited_at_freeze: Decimal | None) -> str | None:
    if deposited_at_freeze is None or deposited_at_freeze <= 0:
        return None  # nothing to forfeit; a negative Balance survives the freeze
    return "larger" if deposited_at_freeze >= LARGER_BALANCE else "standard"


def _after_notice(due: datetime, notice_at: datetime | None, verified: bool) -> datetime | None:
    """When a noticed step takes effect: its due time, but never sooner than 14 days after
    the notice; None while a notice owed has not gone out yet."""
    if not verified:
        return due
    if notice_at is None:
        return None
    return max(due, _utc(notice_at) + NOTICE)


def schedule(facts: Facts) -> Schedule:
    if facts.status not in DORMANT_STATUSES:
        return Schedule()
    frozen = _utc(facts.frozen_at)
    if frozen is None:
        start = basis(facts)
        if start is None:
            return Schedule()
        due = add_months(start, INACTIVE_MONTHS)
        noticed = facts.freeze_notice_at if facts.notice_basis and _utc(facts.notice_basis) == start else None
        return Schedule(basis=start, freeze_due=due, freeze_notice_due=due - NOTICE if facts.email_verified else None,
                        freeze_at=_after_notice(due, noticed, facts.email_verified))
    which = band(facts.deposited_at_freeze)
    if which is None:
        return Schedule(freeze_at=frozen)
    due = add_months(frozen, STANDARD_MONTHS if which == "standard" else LARGER_MONTHS)
    # The Terms promise a notice before a standard forfeiture; a larger balance's window is
    # 18 months whatever happens, so its courtesy notice never moves the date.
    forfeit_at = _after_notice(due, facts.forfeit_notice_at, facts.email_verified) if which == "standard" else due
    return Schedule(freeze_at=frozen, band=which, forfeit_due=due,
                    forfeit_notice_due=due - NOTICE if facts.email_verified else None,
                    forfeit_at=forfeit_at, restoration_until=due)


def next_step(facts: Facts, now: datetime) -> Step | None:
    """The one step due at `now`, if any. Apply it, record it, and ask again."""
    now = _utc(now)
    plan = schedule(facts)
    if facts.frozen_at is None:
        if plan.freeze_due is None:
            return None
        if plan.freeze_at is None:  # a verified e-mail is owed its notice first
            if now >= plan.freeze_notice_due:
                return _step("freeze_notice", plan.freeze_notice_due,
                             N_("No login, deposit or order since %(since)s: the Balance will be frozen on %(on)s "
                                "unless the account is used before then."),
                             since=when(plan.basis), on=when(max(plan.freeze_due, now + NOTICE)))
            return None
        if now >= plan.freeze_at:
            return _step("freeze", plan.freeze_at,
                         N_("12 consecutive months without a login, deposit or order (since %(since)s): the Balance "
                            "is frozen and its Promotional Credit forfeited."), since=when(plan.basis))
        return None
    if facts.forfeited_at is not None or plan.forfeit_due is None or facts.restoration_open:
        return None  # done, nothing to forfeit, or paused while a restoration request is decided
    owed_notice = plan.forfeit_notice_due is not None and facts.forfeit_notice_at is None
    if plan.forfeit_at is None or (owed_notice and plan.forfeit_notice_due <= now < plan.forfeit_at):
        if now >= plan.forfeit_notice_due:
            on = plan.forfeit_due if plan.band == "larger" else max(plan.forfeit_due, now + NOTICE)
            return _step("forfeit_notice", plan.forfeit_notice_due,
                         N_("The Deposited Funds frozen on %(frozen)s will be forfeited on %(on)s unless restoration "
                            "is requested before then.") if plan.band == "larger" else
                         N_("The Deposited Funds frozen on %(frozen)s will be forfeited on %(on)s."),
                         frozen=when(plan.freeze_at), on=when(on))
        return None
    if now >= plan.forfeit_at:
        return _step("forfeit", plan.forfeit_at,
                     N_("6 months after the freeze of %(frozen)s, the remaining Deposited Funds (under %(larger)s at "
                        "the freeze) are forfeited in full.") if plan.band == "standard" else
                     N_("No restoration was requested within 18 months of the freeze of %(frozen)s: the Deposited "
                        "Funds are forfeited in full."), frozen=when(plan.freeze_at), larger=f"{LARGER_BALANCE:,.2f}")
    return None


def restoration(facts: Facts, now: datetime) -> Reason:
    """What the Terms say of a request to restore a frozen Balance (terms-30-dormancy).
    Each sentence is one message id, the note on Promotional Credit included."""
    now = _utc(now)
    plan = schedule(facts)
    if facts.frozen_at is None:
        return said(RULE, REJECTED, N_("The account is not frozen: there is nothing to restore, and the Balance "
                                       "can be used as it is."))
    if facts.forfeited_at is not None:
        return said(RULE, NEEDS_REVIEW,
                    N_("The Deposited Funds were forfeited on %(forfeited)s. Restoration after forfeiture is not "
                       "guaranteed: it may only be granted at our sole discretion, as a goodwill exception. "
                       "Promotional Credit forfeited at the freeze is never restored."),
                    forfeited=when(_utc(facts.forfeited_at)))
    if facts.status not in DORMANT_STATUSES:
        return said(RULE, NEEDS_REVIEW,
                    N_("The account is %(status)s: its Balance follows the rules of that status, not the dormancy "
                       "rules, and staff review the request. Promotional Credit forfeited at the freeze is never "
                       "restored."), status=facts.status)
    frozen = when(plan.freeze_at)
    if plan.band is None:
        return said(RULE, ELIGIBLE, N_("Frozen on %(frozen)s with no positive Deposited Funds: the account can be "
                                       "unfrozen; nothing else is restored. Promotional Credit forfeited at the "
                                       "freeze is never restored."), frozen=frozen)
    figures = {"frozen": frozen, "deposited": f"{facts.deposited_at_freeze:,.2f}", "larger": f"{LARGER_BALANCE:,.2f}"}
    if plan.band == "standard" and plan.forfeit_at is not None and now > plan.forfeit_at:
        return said(RULE, NEEDS_REVIEW,
                    N_("Frozen on %(frozen)s with %(deposited)s of Deposited Funds (under %(larger)s): they fell to "
                       "be forfeited on %(forfeit)s, 6 months after the freeze, with no further right to "
                       "restoration: restoration is goodwill only. Promotional Credit forfeited at the freeze is "
                       "never restored."), forfeit=when(plan.forfeit_at), **figures)
    if plan.band == "standard":
        return said(RULE, ELIGIBLE,
                    N_("Frozen on %(frozen)s with %(deposited)s of Deposited Funds (under %(larger)s): they can be "
                       "restored until they are forfeited 6 months after the freeze (%(forfeit)s). Promotional "
                       "Credit forfeited at the freeze is never restored."), forfeit=when(plan.forfeit_due), **figures)
    if now <= plan.restoration_until:
        return said(RULE, ELIGIBLE,
                    N_("Frozen on %(frozen)s with %(deposited)s of Deposited Funds (%(larger)s or more): restoration "
                       "may be requested for 18 months from the freeze, until %(until)s. Promotional Credit "
                       "forfeited at the freeze is never restored."), until=when(plan.restoration_until), **figures)
    return said(RULE, NEEDS_REVIEW,
                N_("The 18-month restoration window after the freeze of %(frozen)s ended on %(until)s: restoration "
                   "is goodwill only. Promotional Credit forfeited at the freeze is never restored."),
                frozen=frozen, until=when(plan.restoration_until))
