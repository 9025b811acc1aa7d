"""Money requests, decided by the Terms (§9, §12–§18): refunds, withdrawals, closure,
verification, chargebacks and a negative Balance.

Every figure is derived from the customer's ledger lines (the panel's entries and the
desk's own), so a quote is the same whoever asks and whenever: the Promotional Credit an
earlier refund deducted is a `deduction` line, a deposit's processor fee once accounted for
is a `deduction` line naming that deposit. No Flask, no database.

Rule ids (DESIGN §2):
  terms-13-refund         refund to a payment method or the Balance, with its deductions
  terms-13-confirm        the customer confirms a materially reduced refund first
  terms-13-window         a refund about an order after its claim window is not considered
  terms-14-withdrawal     withdrawal from Deposited Funds: the fee in force, the deposit fees
  terms-14-pending-order  an order from Deposited Funds cancels a pending withdrawal
  terms-18-verification   large payouts and restorations (or fraud flags) wait for verification
  terms-15-closure        closure: Deposited Funds withdrawable, Promotional Credit forfeited
  terms-16-negative       a negative Balance is owed, recovered from later deposits
  terms-17-chargeback     a chargeback opens a billing case with the actions it allows
"""
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_DOWN, Decimal

from desk.policy.claims import CLAIM_WINDOW, ELIGIBLE, NEEDS_REVIEW, REJECTED, OrderFacts, Reason, said, strictest, when
from desk.policy.words import N_, Words
from desk.policy.ledger import CENT, ZERO, Balances, balances, signed

MAX_WITHDRAWAL_FEE_RATE = Decimal("0.10")  # Terms §14: "does not exceed 10% of the amount withdrawn"
METHODS = ("balance", "original")
DEDUCTION_KINDS = {"processor_fee": N_("Processor fee"), "promotional_credit": N_("Promotional Credit"),
                   "withdrawal_fee": N_("Withdrawal fee")}  # what the customer reads for each kind
PROMO_DEDUCTION = "promotional_credit"  # the source of the deduction line a refund leaves
FEE_SOURCE = "processor_fee:"  # + the deposit's id: that deposit's fee has been accounted for


@dataclass(frozen=True)
class Line:
    """One ledger entry as the money rules read it (what desk.policy.ledger.balances reads, and more)."""

    id: str
    kind: str
    amount: Decimal
    funding: str
    at: datetime
    processor_fee: Decimal | None = None
    order: str | None = None
    source: str | None = None
    method: str | None = None  # a deposit's payment method (card, paypal, crypto…)


@dataclass(frozen=True)
class Deduction:
    kind: str  # processor_fee, promotional_credit, withdrawal_fee
    amount: Decimal
    text: str
    deposit: str | None = None  # for a processor fee: the deposit it was charged on
    # `text` as message ids (one per sentence), for customers (desk.i18n.say)
    words: tuple[Words, ...] = field(default=(), compare=False)


def deduction(kind: str, amount: Decimal, *words: Words, deposit: str | None = None) -> Deduction:
    """A Deduction whose text is its sentences in English, translatable for customers."""
    return Deduction(kind, amount, " ".join(str(w) for w in words), deposit, tuple(words))


@dataclass(frozen=True)
class Quote:
    """What the customer is shown before anything is final, and what staff approve."""

    kind: str  # refund, withdrawal, closure
    decision: str
    reasons: tuple[Reason, ...]
    requested: Decimal = ZERO  # what the request takes from the Balance (or the order)
    available_deposited: Decimal = ZERO
    deductions: tuple[Deduction, ...] = ()
    amount: Decimal = ZERO  # paid out to the payment method, or credited to the Balance
    method: str = "original"
    order: str | None = None
    credit: Decimal = ZERO  # an order's refund: first credited back to the Balance as Deposited Funds
    fee_rate: Decimal | None = None
    forfeited_promotional: Decimal = ZERO  # closure: Promotional Credit forfeited
    confirmation_required: bool = False
    verification_required: bool = False

    @property
    def rules(self) -> list[str]:
        return list(dict.fromkeys(r.rule for r in self.reasons))

    @property
    def deducted(self) -> Decimal:
        return sum((d.amount for d in self.deductions), ZERO)

    def to_dict(self) -> dict:
        body = {
            "kind": self.kind, "decision": self.decision, "method": self.method, "order": self.order,
            "requested": str(self.requested), "available_deposited": str(self.available_deposited),
            "deductions": [{"kind": d.kind, "amount": str(d.amount), "text": d.text,
                            **({"deposit": d.deposit} if d.deposit else {})} for d in self.deductions],
            "amount": str(self.amount), "confirmation_required": self.confirmation_required,
            "verification_required": self.verification_required, "rules": self.rules,
            "reasons": [{"rule": r.rule, "outcome": r.outcome, "text": r.text} for r in self.reasons],
        }
        if self.credit:
            body["credit"] = str(self.credit)
        if self.fee_rate is not None:
            body["fee_rate"] = str(self.fee_rate)
            body["fee_percent"] = f"{self.fee_rate * 100:.2f}"
        if self.kind == "closure":
            body["forfeited_promotional"] = str(self.forfeited_promotional)
        return body


def _worst(reasons) -> str:
    return strictest(r.outcome for r in reasons)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return moment.astimezone(timezone.utc)


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


# --- what the ledger says -----------------------------------------------------------------

def withdrawable(bal: Balances) -> Decimal:
    """Deposited Funds that can leave the Balance without making it negative (Terms §13:
    "we do not create or leave a negative Balance"): a negative Promotional Credit (a
    clawback) holds back the same amount of Deposited Funds."""
    return max(ZERO, min(bal.deposited, bal.total))


def promotional_granted(lines) -> Decimal:
    """Promotional Credit ever granted: promo credits and positive promotional adjustments."""
    return sum((l.amount for l in lines if l.funding == "promotional"
                and (l.kind == "promo_credit" or (l.kind == "adjustment" and l.amount > 0))), ZERO)


def promotional_reversed(lines) -> Decimal:
    """Promotional Credit taken back: forfeited, charged back, or adjusted down."""
    return sum((abs(l.amount) for l in lines if l.funding == "promotional"
                and (l.kind in ("forfeiture", "chargeback") or (l.kind == "adjustment" and l.amount < 0))), ZERO)


def promotional_deducted(lines) -> Decimal:
    """Promotional Credit already deducted from earlier refunds (their deduction lines)."""
    return sum((l.amount for l in lines if l.kind == "deduction" and l.source == PROMO_DEDUCTION), ZERO)


def promotional_to_deduct(lines) -> Decimal:
    """terms-13-refund: the lifetime Promotional Credit not already deducted or reversed."""
    return max(ZERO, promotional_granted(lines) - promotional_reversed(lines) - promotional_deducted(lines))


def fees_accounted(lines) -> set[str]:
    return {l.source[len(FEE_SOURCE):] for l in lines
            if l.kind == "deduction" and l.source and l.source.startswith(FEE_SOURCE)}


# Which deposits the money in a Balance came from. Orders, forfeitures and chargebacks spend
# the oldest money first; what a refund or withdrawal takes out is taken from the newest.
TAKEN_NEWEST_FIRST = ("refund", "withdrawal", "withdrawal_fee", "deduction")


def _deposits_left(lines, until: datetime | None = None) -> list[list]:
    """[deposit line or None, amount still in the Balance] for each deposit, oldest first,
    from the ledger replayed in time order (up to just before `until`). Money that came back from an
    order or a refund credit is a bucket of its own, with no deposit and no fee."""
    buckets: list[list] = []
    for l in sorted(lines, key=lambda l: (l.at, l.id)):
        if until is not None and (l.at > until or (l.at == until and l.kind != "deposit")):
            continue  # after the moment (a deposit made at the very moment counts as before it)
        if l.funding != "deposited":
            continue
        moved = signed(l)
        if l.kind == "deposit":
            buckets.append([l, l.amount])
        elif moved > 0:
            buckets.append([None, moved])
        else:
            _take(buckets, -moved, newest_first=l.kind in TAKEN_NEWEST_FIRST)
    return buckets


def _take(buckets: list[list], amount: Decimal, newest_first: bool) -> list:
    """Take `amount` out of the buckets; the deposits it touched."""
    touched = []
    for bucket in (reversed(buckets) if newest_first else buckets):
        if amount <= 0:
            break
        used = min(bucket[1], amount)
        if used > 0:
            bucket[1] -= used
            amount -= used
            touched.append(bucket[0])
    return [d for d in touched if d is not None]


def source_deposits(lines, amount: Decimal, before: datetime | None = None) -> list[Line]:
    """The deposits `amount` came from: those whose money is still in the Balance, newest
    first (see _deposits_left); with `before`, the money an order spent when it was placed
    then, oldest first (a refund about that order)."""
    lines = list(lines)
    if before is None:
        return _take(_deposits_left(lines), amount, newest_first=True)
    return _take(_deposits_left(lines, until=before), amount, newest_first=False)


def deposit_fees(lines, amount: Decimal, before: datetime | None = None) -> list[Deduction]:
    """The non-refundable processor fees on the deposits `amount` came from, each deposit's
    fee deducted once ever (terms-13-refund, terms-14-withdrawal: "where it was not already
    accounted for")."""
    lines = list(lines)
    accounted = fees_accounted(lines)
    touched = source_deposits(lines, amount, before)
    return [deduction("processor_fee", d.processor_fee,
                      Words(N_("Non-refundable processor fee on deposit %(deposit)s of %(amount)s (%(at)s)."),
                            {"deposit": d.id, "amount": _money(d.amount), "at": when(_utc(d.at))}), deposit=d.id)
            for d in touched if d.processor_fee and d.processor_fee > 0 and d.id not in accounted]


def method_support(lines, amount: Decimal, payout_methods, rule: str, what: str,
                   before: datetime | None = None) -> Reason | None:
    """Terms §13/§14: money goes back to the original payment method "where supported by that
    method and our payment processor". `payout_methods`: the methods that take a payout
    (None: every method does); a deposit made another way is for staff to settle."""
    if payout_methods is None:
        return None
    others = sorted({d.method for d in source_deposits(lines, amount, before)
                     if d.method and d.method.lower() not in payout_methods})
    if not others:
        return None
    msgid = (N_("Part of the money was paid in by %(methods)s, which cannot take a refund back: support will tell "
                "you what is possible (the Balance stays yours meanwhile).") if what == "refund" else
             N_("Part of the money was paid in by %(methods)s, which cannot take a withdrawal back: support will "
                "tell you what is possible (the Balance stays yours meanwhile)."))
    return said(rule, NEEDS_REVIEW, msgid, methods=", ".join(others))


def order_refundable(order: OrderFacts, charge_deposited: Decimal, lines) -> Decimal:
    """The part of an order's charge paid from Deposited Funds that has not come back yet
    (an automatic return, an earlier refund credit)."""
    back = sum((l.amount for l in lines if l.order == order.panel_id and l.funding == "deposited"
                and l.kind in ("return", "refund_credit")), ZERO)
    return max(ZERO, charge_deposited - back)


def _clip(deductions: list[Deduction], gross: Decimal) -> list[Deduction]:
    """Deductions in order, each cut so together they never exceed `gross` (the zero floor)."""
    left, out = gross, []
    for d in deductions:
        take = min(d.amount, left)
        if take < d.amount:
            d = deduction(d.kind, take, *d.words, Words(N_("Only %(taken)s of its %(amount)s is deducted: the refund "
                                                           "never goes below 0.00."),
                                                        {"taken": _money(take), "amount": _money(d.amount)}),
                          deposit=d.deposit)
        if take > 0:
            out.append(d)
        left -= take
    return out


def _cap(requested: Decimal | None, base: Decimal, what: str) -> tuple[Decimal, Reason | None]:
    if requested is None or requested >= base:
        note = None
        if requested is not None and requested > base:
            note = said("terms-13-refund" if what == "refund" else "terms-14-withdrawal", ELIGIBLE,
                        N_("You asked for %(requested)s; only %(base)s of Deposited Funds has been paid in and not "
                           "yet spent, so that is what the request covers."),
                        requested=_money(requested), base=_money(base))
        return base, note
    return requested, None


# --- refunds (Terms §13) -------------------------------------------------------------------

def refund_quote(lines, *, method: str, requested: Decimal | None = None, order: OrderFacts | None = None,
                 charge_deposited: Decimal | None = None, now: datetime, confirm_threshold: Decimal = ZERO,
                 window_lifted: bool = False, payout_methods=None) -> Quote:
    """terms-13-refund / terms-13-confirm / terms-13-window.

    To the Balance (`balance`, the default outcome of §13): an order's unreturned Deposited
    Funds credited back, nothing deducted. To the payment method (`original`): Deposited
    Funds (the Balance's, or an order's credited back first), minus the processor fees on
    the deposits they came from and the lifetime Promotional Credit not yet deducted,
    floored at 0.00. Either way staff decide: refunds are discretionary. `window_lifted`: a
    supervisor took the request into review after terms-13-window refused it.
    `payout_methods`: see method_support."""
    if method not in METHODS:
        raise ValueError(f"unknown refund method {method!r}")
    if method == "balance" and order is None:
        raise ValueError("a refund to the Balance concerns an order")
    if requested is not None and requested <= 0:
        raise ValueError("a refund asks for more than 0.00")
    lines = list(lines)
    reasons: list[Reason] = []
    base_kwargs = {"kind": "refund", "method": method, "order": order.panel_id if order else None}

    if order is not None:
        refused = _order_refusal(order, _utc(now))
        if refused and not (window_lifted and refused.rule == "terms-13-window"):
            return Quote(decision=REJECTED, reasons=(refused,), **base_kwargs)
        base = order_refundable(order, charge_deposited if charge_deposited is not None
                                else order.charge - order.charge_promo, lines)
        reasons.append(said("terms-13-window", NEEDS_REVIEW,
                            N_("%(refusal)s A supervisor took it into review regardless."),
                            refusal=refused.words or refused.text) if refused else
                       said("terms-13-window", ELIGIBLE,
                            N_("Raised within the claim window of order %(order)s (%(status)s %(finished)s; asked "
                               "%(asked)s)."), order=order.panel_id, status=order.status.title(),
                            finished=when(_utc(order.finished_at)), asked=when(_utc(now))))
        if order.charge_promo > 0:
            reasons.append(said("terms-13-refund", ELIGIBLE,
                                N_("The %(amount)s of the order paid with Promotional Credit is not refundable: "
                                   "Promotional Credit has no cash value."), amount=_money(order.charge_promo)))
    else:
        base = withdrawable(balances(lines))
    if base <= 0:
        nothing = (said("terms-13-refund", REJECTED,
                        N_("Nothing of order %(order)s paid from Deposited Funds is left to refund."),
                        order=order.panel_id) if order is not None else
                   said("terms-13-refund", REJECTED, N_("There are no Deposited Funds in the Balance to refund (only "
                                                        "Deposited Funds are refundable).")))
        return Quote(decision=REJECTED, reasons=tuple(reasons) + (nothing,),
                     **base_kwargs)
    gross, capped = _cap(requested, base, "refund")
    if capped:
        reasons.append(capped)

    if method == "balance":
        reasons.append(said("terms-13-refund", NEEDS_REVIEW,
                            N_("%(amount)s of order %(order)s would be credited to your Balance as Deposited Funds, "
                               "available at once for new orders; nothing is deducted. Refunds are discretionary: "
                               "support reviews each request."), amount=_money(gross), order=order.panel_id))
        return Quote(decision=_worst(reasons), reasons=tuple(reasons), requested=gross, available_deposited=base,
                     amount=gross, credit=gross, **base_kwargs)

    fees = deposit_fees(lines, gross, before=_utc(order.created_at) if order is not None else None)
    promo = promotional_to_deduct(lines)
    wanted = fees + ([deduction(PROMO_DEDUCTION, promo, Words(
        N_("Promotional Credit granted over the account's lifetime and not yet deducted or reversed: %(amount)s "
           "(granted %(granted)s, reversed %(reversed)s, deducted by earlier refunds %(deducted)s)."),
        {"amount": _money(promo), "granted": _money(promotional_granted(lines)),
         "reversed": _money(promotional_reversed(lines)), "deducted": _money(promotional_deducted(lines))}))]
                     if promo > 0 else [])
    deductions = _clip(wanted, gross)
    amount = gross - sum((d.amount for d in deductions), ZERO)
    credit = gross if order is not None else ZERO
    if amount <= 0:
        reasons.append(said("terms-13-refund", REJECTED,
                            N_("After the deductions nothing would reach your payment method: %(gross)s minus "
                               "%(gross)s of deductions is 0.00 (a refund is never below zero). Your Balance stays "
                               "as it is."), gross=_money(gross)))
        return Quote(decision=REJECTED, reasons=tuple(reasons), requested=gross, available_deposited=base,
                     deductions=tuple(deductions), **base_kwargs)
    figures = {"gross": _money(gross), "deducted": _money(gross - amount), "amount": _money(amount)}
    reasons.append(said("terms-13-refund", NEEDS_REVIEW,
                        N_("%(gross)s of Deposited Funds from order %(order)s, minus %(deducted)s of deductions: "
                           "%(amount)s to your payment method, where the method and our processor support it. "
                           "Refunds are discretionary: support reviews each request."), order=order.panel_id,
                        **figures) if order is not None else
                   said("terms-13-refund", NEEDS_REVIEW,
                        N_("%(gross)s of Deposited Funds, minus %(deducted)s of deductions: %(amount)s to your "
                           "payment method, where the method and our processor support it. Refunds are "
                           "discretionary: support reviews each request."), **figures))
    unsupported = method_support(lines, gross, payout_methods, "terms-13-refund", "refund",
                                 before=_utc(order.created_at) if order is not None else None)
    if unsupported:
        reasons.append(unsupported)
    deducted = gross - amount
    confirm = deducted > confirm_threshold
    if confirm:
        reasons.append(said("terms-13-confirm", NEEDS_REVIEW,
                            N_("The deductions reduce the refund by %(deducted)s: you see the final %(amount)s "
                               "first and confirm it, or keep your Balance instead."),
                            deducted=_money(deducted), amount=_money(amount)))
    return Quote(decision=_worst(reasons), reasons=tuple(reasons), requested=gross, available_deposited=base,
                 deductions=tuple(deductions), amount=amount, credit=credit, confirmation_required=confirm,
                 **base_kwargs)


def _order_refusal(order: OrderFacts, now: datetime) -> Reason | None:
    """terms-9-finality for unfinished orders; terms-13-window once the claim window passed."""
    if order.status == "pending":
        return said("terms-9-finality", REJECTED,
                    N_("Order %(order)s is still Pending: ask to cancel it instead (a cancellation may be possible "
                       "before an order is active; the charge then returns to the Balance)."), order=order.panel_id)
    if order.status == "in_progress":
        return said("terms-9-finality", REJECTED,
                    N_("Order %(order)s is In Progress: an active order cannot be cancelled and its funds are "
                       "treated as used. A claim can be filed within 3 days once it is Completed or Partial."),
                    order=order.panel_id)
    if order.status == "canceled":
        return said("terms-9-canceled", REJECTED,
                    N_("Order %(order)s was Canceled: its full charge returns to the Balance automatically, in the "
                       "proportions it was paid. To move Deposited Funds to your payment method, ask for a refund "
                       "of the Balance instead."), order=order.panel_id)
    finished = _utc(order.finished_at)
    if now - finished > CLAIM_WINDOW:
        return said("terms-13-window", REJECTED,
                    N_("Order %(order)s reached %(status)s %(finished)s; the request was raised %(asked)s, after its "
                       "3-day claim window. A refund request raised after the claim window is not considered."),
                    order=order.panel_id, status=order.status.title(), finished=when(finished), asked=when(now))
    return None


# --- withdrawals and closure (Terms §14, §15, §18) ----------------------------------------

RATE_STEP = Decimal("0.0001")  # rates are kept to 0.01% (a request stores the rate in force)


def check_fee_rate(rate: Decimal) -> Decimal:
    """The withdrawal fee rate setting: a fraction between 0 and 0.10 (Terms §14), to at
    most four decimals; given back with four."""
    if not isinstance(rate, Decimal) or not rate.is_finite():
        raise ValueError("the withdrawal fee rate must be a decimal number")
    if rate < 0 or rate > MAX_WITHDRAWAL_FEE_RATE:
        raise ValueError(f"the withdrawal fee rate must be between 0 and {MAX_WITHDRAWAL_FEE_RATE} (10%), "
                         f"not {rate}: Terms §14 caps the fee at 10% of the amount withdrawn")
    if rate != rate.quantize(RATE_STEP):
        raise ValueError(f"the withdrawal fee rate is kept to 0.01% (four decimals), not {rate}")
    return rate.quantize(RATE_STEP)


def withdrawal_fee(amount: Decimal, rate: Decimal) -> Decimal:
    """rate × amount, cut to the cent: rounding never takes the fee above the rate."""
    return (amount * check_fee_rate(rate)).quantize(CENT, rounding=ROUND_DOWN)


def verification(amount: Decimal, threshold: Decimal, fraud_flag: bool, what: str) -> Reason | None:
    """terms-18-verification: above the threshold, or with a fraud concern, a payout or a
    restoration waits for identity and payment-method verification."""
    withdrawal = what == "withdrawal"  # else a restoration: one whole sentence each, for translators
    if fraud_flag:
        return said("terms-18-verification", NEEDS_REVIEW,
                    N_("The account is flagged for a fraud check: the withdrawal waits for verification of identity "
                       "and payment method.") if withdrawal else
                    N_("The account is flagged for a fraud check: the restoration waits for verification of "
                       "identity and payment method."))
    if amount > threshold:
        return said("terms-18-verification", NEEDS_REVIEW,
                    N_("The withdrawal of %(amount)s is above %(threshold)s: it waits for verification of identity "
                       "and payment method.") if withdrawal else
                    N_("The restoration of %(amount)s is above %(threshold)s: it waits for verification of "
                       "identity and payment method."), amount=_money(amount), threshold=_money(threshold))
    return None


def withdrawal_quote(lines, *, rate: Decimal, requested: Decimal | None = None, verify_above: Decimal,
                     fraud_flag: bool = False, payout_methods=None) -> Quote:
    """terms-14-withdrawal: from Deposited Funds only; the fee = the rate in force × the
    amount (at most 10%); the deposit processor fees not yet accounted for; Promotional
    Credit is not withdrawable. (A request worked out again leaves its own entries, such as
    the fee charged on confirmation, out of `lines`.)"""
    lines = list(lines)
    bal = balances(lines)
    base = withdrawable(bal)
    reasons: list[Reason] = []
    if bal.promotional > 0:
        reasons.append(said("terms-14-withdrawal", ELIGIBLE,
                            N_("The %(amount)s of Promotional Credit has no cash value and cannot be withdrawn."),
                            amount=_money(bal.promotional)))
    if base <= 0:
        reasons.append(said("terms-14-withdrawal", REJECTED,
                            N_("There are no Deposited Funds to withdraw: only Deposited Funds can be withdrawn.")))
        return Quote(kind="withdrawal", decision=REJECTED, reasons=tuple(reasons), fee_rate=rate)
    gross, capped = _cap(requested, base, "withdrawal")
    if capped:
        reasons.append(capped)
    fee = withdrawal_fee(gross, rate)
    wanted = ([deduction("withdrawal_fee", fee, Words(N_("Withdrawal processing fee: %(percent)s%% (the rate in force "
                                                         "when you asked) of %(gross)s."),
                                                      {"percent": f"{rate * 100:.2f}", "gross": _money(gross)}))]
              if fee > 0 else [])
    wanted += deposit_fees(lines, gross)
    deductions = _clip(wanted, gross)
    amount = gross - sum((d.amount for d in deductions), ZERO)
    if amount <= 0:
        reasons.append(said("terms-14-withdrawal", REJECTED, N_("The fees on %(gross)s leave nothing to pay out."),
                            gross=_money(gross)))
        return Quote(kind="withdrawal", decision=REJECTED, reasons=tuple(reasons), requested=gross,
                     available_deposited=base, deductions=tuple(deductions), fee_rate=rate)
    reasons.append(said("terms-14-withdrawal", ELIGIBLE,
                        N_("%(gross)s of Deposited Funds, minus %(fees)s of fees: %(amount)s to the original payment "
                           "method, where the method and our processor support it. You see these figures and "
                           "confirm them before the request counts."),
                        gross=_money(gross), fees=_money(gross - amount), amount=_money(amount)))
    unsupported = method_support(lines, gross, payout_methods, "terms-14-withdrawal", "withdrawal")
    if unsupported:
        reasons.append(unsupported)
    check = verification(gross, verify_above, fraud_flag, "withdrawal")
    if check:
        reasons.append(check)
    return Quote(kind="withdrawal", decision=_worst(reasons), reasons=tuple(reasons), requested=gross,
                 available_deposited=base, deductions=tuple(deductions), amount=amount, fee_rate=rate,
                 confirmation_required=True, verification_required=check is not None)


@dataclass(frozen=True)
class Blocker:
    """Something that holds back the release of a Balance at closure (terms-15-closure)."""

    what: str  # dispute, chargeback, abuse, verification
    text: str
    # The closure sentence it makes ("The Balance is not released while …"), translatable
    words: Words | None = field(default=None, compare=False)


BLOCKER_WORDS = {
    "chargeback": N_("The Balance is not released while chargeback case %(case)s is open."),
    "refund": N_("The Balance is not released while refund request %(request)s is not decided yet."),
    "claim": N_("The Balance is not released while claim %(claim)s on order %(order)s is not decided yet."),
    "abuse": N_("The Balance is not released while a suspected violation of the Terms is being looked into."),
    "verification": N_("The Balance is not released while verification of identity and payment method is "
                       "incomplete."),
}


def blocker(what: str, words: str, **params) -> Blocker:
    """A Blocker of kind `what` whose closure sentence is BLOCKER_WORDS[words] % params."""
    sentence = Words(BLOCKER_WORDS[words], params)
    text = str(sentence).removeprefix("The Balance is not released while ").removesuffix(".")
    return Blocker(what, text, sentence)


def closure_quote(lines, *, rate: Decimal, verify_above: Decimal, fraud_flag: bool = False,
                  blockers=(), payout_methods=None) -> Quote:
    """terms-15-closure: the Deposited Funds are withdrawable under §14 (its fee and
    verification), the Promotional Credit is forfeited, and the release is refused while
    verification is incomplete or a dispute, chargeback or abuse case is open, naming each.
    A negative Balance stays owed (terms-16-negative)."""
    lines = list(lines)
    bal = balances(lines)
    reasons: list[Reason] = []
    payout = withdrawal_quote(lines, rate=rate, verify_above=verify_above, fraud_flag=fraud_flag,
                              payout_methods=payout_methods) if withdrawable(bal) > 0 else None
    forfeit = max(ZERO, bal.promotional)
    if payout is not None and payout.decision != REJECTED:
        reasons.append(said("terms-15-closure", ELIGIBLE,
                            N_("On closure the %(requested)s of Deposited Funds is withdrawn under the withdrawal "
                               "rules: %(amount)s after %(fees)s of fees."), requested=_money(payout.requested),
                            amount=_money(payout.amount), fees=_money(payout.deducted)))
        reasons += [r for r in payout.reasons if r.outcome == NEEDS_REVIEW]  # verification, methods
    elif payout is not None:
        reasons.append(said("terms-15-closure", ELIGIBLE,
                            N_("The fees on the %(requested)s of Deposited Funds leave nothing to pay out on "
                               "closure."), requested=_money(payout.requested)))
    else:
        reasons.append(said("terms-15-closure", ELIGIBLE, N_("There are no Deposited Funds to withdraw on closure.")))
    if forfeit > 0:
        reasons.append(said("terms-15-closure", ELIGIBLE,
                            N_("The %(amount)s of Promotional Credit is forfeited on closure."), amount=_money(forfeit)))
    owed = negative(bal)
    if owed:
        reasons.append(owed)
    for held in blockers:
        words = held.words or Words(N_("The Balance is not released while %(blocker)s."), {"blocker": held.text})
        reasons.append(Reason("terms-15-closure", NEEDS_REVIEW, str(words), words))
    usable = payout is not None and payout.decision != REJECTED
    return Quote(kind="closure", decision=_worst(reasons), reasons=tuple(reasons),
                 requested=payout.requested if usable else ZERO,
                 available_deposited=payout.available_deposited if usable else ZERO,
                 deductions=payout.deductions if usable else (), amount=payout.amount if usable else ZERO,
                 fee_rate=rate, forfeited_promotional=forfeit, confirmation_required=True,
                 verification_required=usable and payout.verification_required)


# --- a negative Balance and chargebacks (Terms §16, §17) ----------------------------------

def negative(bal: Balances) -> Reason | None:
    """terms-16-negative: a negative Balance (the one pool, Deposited Funds and Promotional
    Credit together) is owed; later deposits or credits recover it."""
    if bal.total < 0:
        owed = -bal.total
        return said("terms-16-negative", NEEDS_REVIEW,
                    N_("The Balance is negative by %(owed)s (Deposited Funds %(deposited)s, Promotional Credit "
                       "%(promotional)s): the customer owes it; it is recovered from later deposits or credits, or "
                       "invoiced."), owed=_money(owed), deposited=_money(bal.deposited),
                    promotional=_money(bal.promotional))
    return None


@dataclass(frozen=True)
class Proposal:
    """An action a chargeback allows, for staff to confirm (terms-17-chargeback)."""

    action: str  # suspend, forfeit_deposited, cancel_promotional, invoice_fees
    amount: Decimal | None
    text: str
    rule: str = "terms-17-chargeback"


CHARGEBACK_ACTIONS = ("suspend", "forfeit_deposited", "cancel_promotional", "invoice_fees")


def chargeback_proposals(lines, customer_status: str) -> list[Proposal]:
    """terms-17-chargeback: suspend, forfeit the positive Deposited Funds, cancel the
    Promotional Credit, invoice the processor's chargeback fees; the negative Balance that
    remains is handled under terms-16-negative."""
    lines = list(lines)
    bal = balances(lines)
    chargebacks = [l for l in lines if l.kind == "chargeback"]
    fees = sum((l.processor_fee or ZERO for l in chargebacks), ZERO)
    found = []
    if customer_status not in ("suspended", "terminated", "closed"):
        found.append(Proposal("suspend", None, "Suspend the account: a chargeback instead of contacting us first "
                                               "is a violation of the Terms."))
    if bal.deposited > 0:
        found.append(Proposal("forfeit_deposited", bal.deposited,
                              f"Forfeit the positive Deposited Funds of {_money(bal.deposited)}."))
    if bal.promotional > 0:
        found.append(Proposal("cancel_promotional", bal.promotional,
                              f"Cancel the Promotional Credit of {_money(bal.promotional)}."))
    if fees > 0:
        found.append(Proposal("invoice_fees", fees,
                              f"Invoice the processor's chargeback fees of {_money(fees)} (costs, fees and damages "
                              "arising from the chargeback may be invoiced and collected)."))
    return found


def chargeback_summary(lines) -> list[Reason]:
    lines = list(lines)
    reasons = []
    for l in (l for l in lines if l.kind == "chargeback"):
        figures = {"id": l.id, "amount": _money(l.amount), "funding": l.funding, "at": when(_utc(l.at))}
        reasons.append(said("terms-17-chargeback", NEEDS_REVIEW,
                            N_("Chargeback %(id)s of %(amount)s (%(funding)s) on %(at)s, processor fee %(fee)s."),
                            fee=_money(l.processor_fee), **figures) if l.processor_fee else
                       said("terms-17-chargeback", NEEDS_REVIEW, N_("Chargeback %(id)s of %(amount)s (%(funding)s) "
                                                                    "on %(at)s."), **figures))
    owed = negative(balances(lines))
    if owed:
        reasons.append(owed)
    return reasons


def cancels_withdrawal(requested_at: datetime, charge_at: datetime, charge_deposited: Decimal) -> bool:
    """Does a charge to Deposited Funds at `charge_at` cancel a withdrawal pending since
    `requested_at`? Only one placed after the request, and only one paid (in part) with
    Deposited Funds."""
    return charge_deposited > 0 and _utc(charge_at) > _utc(requested_at)


def pending_order_text(order_or_entry, fee: Decimal) -> Words:
    """terms-14-pending-order: why a pending withdrawal was cancelled; `order_or_entry` names
    what was paid (Words, or plain text), and the fee kept or none."""
    return (Words(N_("The withdrawal was cancelled because %(what)s was paid from Deposited Funds while it was "
                     "pending. The processing fee of %(fee)s already applied is not returned."),
                  {"what": order_or_entry, "fee": _money(fee)}) if fee > 0 else
            Words(N_("The withdrawal was cancelled because %(what)s was paid from Deposited Funds while it was "
                     "pending. No processing fee had been applied."), {"what": order_or_entry}))
