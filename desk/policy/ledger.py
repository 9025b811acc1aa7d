"""The Balance as the Terms define it (Terms §6, §9, §12): one pool made of Deposited
Funds and Promotional Credit, told apart by each entry's funding source, and the
automatic returns for Partial and Canceled orders (terms-9-partial, terms-9-canceled).

Balances are derived from entries; nothing here stores them.
"""
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from desk.policy.words import N_, Words

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# Which way each kind of entry moves the Balance. Amounts arrive positive; only an
# adjustment carries its own sign.
SIGNS = {
    "deposit": 1,
    "promo_credit": 1,
    "return": 1,
    "refund_credit": 1,  # a refund credited to the Balance as Deposited Funds (terms-13-refund)
    "charge": -1,
    "refund": -1,
    "withdrawal": -1,
    "withdrawal_fee": -1,
    "deduction": -1,  # kept from a refund or withdrawal: processor fees, Promotional Credit deducted
    "forfeiture": -1,
    "chargeback": -1,
    "adjustment": 1,
}
KINDS = tuple(SIGNS)
FUNDING = ("deposited", "promotional")

# A kind that can only ever be one funding source (Terms §6: only Deposited Funds are
# refundable or withdrawable; a deposit is real money, a promo credit is not).
FIXED_FUNDING = {
    "deposit": "deposited",
    "promo_credit": "promotional",
    "refund": "deposited",
    "withdrawal": "deposited",
    "withdrawal_fee": "deposited",
    "refund_credit": "deposited",
    "deduction": "deposited",
}


@dataclass(frozen=True)
class Entry:
    kind: str
    amount: Decimal
    funding: str


@dataclass(frozen=True)
class Balances:
    deposited: Decimal
    promotional: Decimal

    @property
    def total(self) -> Decimal:
        return self.deposited + self.promotional


def signed(entry: Entry) -> Decimal:
    return SIGNS[entry.kind] * entry.amount


def balances(entries) -> Balances:
    """Deposited Funds and Promotional Credit from a customer's entries. Either may be
    negative (terms-16-negative): a chargeback or clawback is not clipped."""
    totals = {"deposited": ZERO, "promotional": ZERO}
    for entry in entries:
        totals[entry.funding] += signed(entry)
    return Balances(totals["deposited"], totals["promotional"])


def entry_problems(kind: str, amount: Decimal, funding: str) -> dict[str, str]:
    """What is wrong with an entry's kind, amount and funding (empty when nothing)."""
    problems = {}
    if kind not in SIGNS:
        problems["kind"] = f"one of {', '.join(KINDS)}"
    if funding not in FUNDING:
        problems["funding"] = "deposited or promotional"
    elif kind in FIXED_FUNDING and funding != FIXED_FUNDING[kind]:
        problems["funding"] = f"a {kind} is always {FIXED_FUNDING[kind]}"
    if amount != amount.quantize(CENT):
        problems["amount"] = "at most two decimals"
    elif kind != "adjustment" and amount <= 0:
        problems["amount"] = "positive (the kind says which way it moves the balance)"
    elif kind == "adjustment" and amount == 0:
        problems["amount"] = "not zero"
    return problems


@dataclass(frozen=True)
class Return:
    """What an order's automatic return must be, split by funding source."""

    rule: str
    deposited: Decimal
    promotional: Decimal
    text: str
    words: Words | None = field(default=None, compare=False)  # `text` as a message id, for customers

    @property
    def total(self) -> Decimal:
        return self.deposited + self.promotional


def _split(total: Decimal, charge: Decimal, charge_promo: Decimal) -> tuple[Decimal, Decimal]:
    """Split `total` in the proportions the charge was paid. The promotional share is cut
    to the cent (never rounded up) and the remainder goes to the deposited side, so
    Promotional Credit never grows by a rounding cent."""
    if charge <= 0:
        return total, ZERO
    promotional = (total * charge_promo / charge).quantize(CENT, rounding=ROUND_DOWN)
    return total - promotional, promotional


def expected_return(status: str, quantity: int, remains: int, charge: Decimal, charge_promo: Decimal) -> Return | None:
    """terms-9-partial / terms-9-canceled: the return an order's final status owes, or None."""
    if status == "partial":
        remains = max(0, min(remains, quantity))
        total = (charge * remains / quantity).quantize(CENT, rounding=ROUND_HALF_UP) if quantity else ZERO
        deposited, promotional = _split(total, charge, charge_promo)
        words = Words(N_("Partial: %(remains)s of %(quantity)s undelivered, so %(total)s of the %(charge)s charge "
                         "returns to the Balance (%(deposited)s Deposited Funds, %(promotional)s Promotional Credit, "
                         "in the proportions it was paid)."),
                      {"remains": remains, "quantity": quantity, "total": total, "charge": charge,
                       "deposited": deposited, "promotional": promotional})
        return Return("terms-9-partial", deposited, promotional, str(words), words)
    if status == "canceled":
        deposited, promotional = _split(charge, charge, charge_promo)
        words = Words(N_("Canceled: the full %(charge)s charge returns to the Balance (%(deposited)s Deposited Funds, "
                         "%(promotional)s Promotional Credit); a return never turns Promotional Credit into Deposited "
                         "Funds."), {"charge": charge, "deposited": deposited, "promotional": promotional})
        return Return("terms-9-canceled", deposited, promotional, str(words), words)
    return None


def return_owed(order) -> Return | None:
    """expected_return() for anything carrying an order's status, quantity, remains and
    charges (the policy's OrderFacts or the mirror's Order row)."""
    return expected_return(order.status, order.quantity, order.remains or 0, order.charge, order.charge_promo)


@dataclass(frozen=True)
class ReturnCheck:
    expected: Return
    found_deposited: Decimal
    found_promotional: Decimal

    @property
    def state(self) -> str:
        if self.found_deposited == self.expected.deposited and self.found_promotional == self.expected.promotional:
            return "ok"
        if self.found_deposited == ZERO and self.found_promotional == ZERO:
            return "missing"
        return "wrong"

    @property
    def text(self) -> str:
        found = f"found {self.found_deposited} Deposited Funds and {self.found_promotional} Promotional Credit"
        return {
            "ok": f"{self.expected.text} The ledger has it.",
            "missing": f"{self.expected.text} The ledger has no return for this order.",
            "wrong": f"{self.expected.text} The ledger does not match: {found}.",
        }[self.state]


def check_return(expected: Return, returns: list[Entry]) -> ReturnCheck:
    """Compare the ledger's return entries for one order with what its status owes."""
    found = balances(e for e in returns if e.kind == "return")
    return ReturnCheck(expected, found.deposited, found.promotional)
