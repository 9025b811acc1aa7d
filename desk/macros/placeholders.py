"""Macro placeholders: `{name}` in a macro's text, filled from a fixed set of values.

The syntax is one name in single braces (letters, digits, underscores): `{requester_name}`.
Filling is one regular-expression pass with a dictionary lookup. Nothing is evaluated — a
macro is never a template, so `{{7*7}}` and `{__class__}` stay text — and a value put in
is not read again for placeholders (a requester named "{agent_name}" stays so). A name the
desk does not know, or one with no value on this ticket, is left as typed and reported, so
the preview can flag it rather than drop it."""
import re
from dataclasses import dataclass

from desk.claims import replies

PLACEHOLDERS = {
    "requester_name": "the requester's name",
    "ticket_reference": "the ticket's reference (T-26-000123)",
    "order_id": "the order the ticket is about",
    "customer_login": "the customer's panel login",
    "agent_name": "your name (whoever applies the macro)",
    "claim_decision": "claims: the decision in a sentence, with each rule's reason and figures",
    "claim_clause": "claims: the words of the Terms' clauses that decided it, quoted exactly",
}
CLAIM_PLACEHOLDERS = ("claim_decision", "claim_clause")
PATTERN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# The engine's decision read as the way an answer closes the claim (needs_review: staff decide).
ENGINE_OUTCOME = {"eligible": "accepted", "rejected": "rejected"}


@dataclass
class Filled:
    text: str
    unknown: list[str]  # placeholders the desk does not know, as typed
    missing: dict[str, str]  # known placeholders with no value on this ticket: why


def fill(text: str, values: dict[str, str], missing: dict[str, str]) -> Filled:
    unknown, absent = [], {}

    def one(match: re.Match) -> str:
        name = match.group(1)
        if name in values:
            return values[name]
        if name in PLACEHOLDERS:
            absent[name] = missing.get(name, "no value on this ticket")
        elif match.group(0) not in unknown:
            unknown.append(match.group(0))
        return match.group(0)

    return Filled(PATTERN.sub(one, text), unknown, absent)


def claim_outcome(claim, wanted: str | None = None) -> str | None:
    """How the answer closes `claim`: the macro's own outcome, else how it was closed, else
    the engine's decision (None when the Terms left it to staff)."""
    if wanted:
        return wanted
    if claim.status in replies.OUTCOMES:
        return claim.status
    return ENGINE_OUTCOME.get(claim.decision)


def values_for(ticket, staff, outcome: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """({placeholder: value}, {placeholder: why it has none}) for `ticket`, applied by `staff`."""
    values, missing = {}, {}

    def put(name, value, why):
        if value:
            values[name] = str(value)
        else:
            missing[name] = why

    claim = getattr(ticket, "claim", None)
    put("requester_name", ticket.requester_name, "the requester gave no name")
    put("ticket_reference", ticket.reference, "")
    put("order_id", ticket.order_ref or (claim.order.panel_id if claim is not None else None),
        "this ticket names no order")
    put("customer_login", ticket.customer.login if ticket.customer is not None else None,
        "this ticket has no customer account with a login")
    put("agent_name", staff.label, "")
    if claim is None:
        missing.update(dict.fromkeys(CLAIM_PLACEHOLDERS, "this ticket has no claim"))
        return values, missing
    outcome = claim_outcome(claim, outcome)
    if outcome is None:
        missing.update(dict.fromkeys(CLAIM_PLACEHOLDERS, "the Terms left this claim to staff (needs review): "
                                                         "use a macro that accepts or rejects it"))
        return values, missing
    put("claim_decision", replies.decision_text(claim, outcome), "")
    put("claim_clause", replies.clause_text(claim, outcome), f"no clause of the Terms supports “{outcome}” here")
    return values, missing
