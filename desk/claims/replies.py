"""The answer a customer gets when a claim is closed: the decision in plain words, each
rule's sentence with its figures, and the clause of the Terms that decided it.

The claim panel's Accept/Reject buttons send compose(); a macro's {claim_decision} and
{claim_clause} placeholders (desk.macros.placeholders) are its two halves, so both say
the same words.

The words are in the language in force: the claim panel composes inside
desk.i18n.speaking(ticket), so the customer reads their own; a macro's placeholders are
filled in the staff member's English, as the rest of the macro is."""
from flask_babel import gettext

from desk.i18n import say
from desk.policy.clauses import clause
from desk.policy.words import N_

OPENING = {
    "accepted": N_("Your claim on order %(order)s has been accepted."),
    "rejected": N_("We are sorry, but your claim on order %(order)s cannot be accepted."),
}
OUTCOMES = tuple(OPENING)


PANEL_UNDER_WAY = {
    "refill": N_("We have asked the panel to refill it and will write again when the refill is done."),
    "cancel": N_("We have asked the panel to cancel it and will write again when it is cancelled."),
}


def _relevant(claim, outcome: str) -> list[dict]:
    # Quote only the rules that point the way the claim was closed: an override closes it
    # against them, and quoting them would contradict the answer.
    return [r for r in claim.reasons if (r["outcome"] == "eligible") == (outcome == "accepted")]


def decision_text(claim, outcome: str, note: str = "", panel_action: str | None = None) -> str:
    """The decision in a sentence, the refill, what the panel was asked to do
    (`panel_action`), the agent's `note`, and each rule's sentence with its figures (Markdown)."""
    lines = [gettext(OPENING[outcome], order=claim.order.panel_id), ""]
    if outcome == "accepted" and claim.kind == "refill" and claim.refill_quantity:
        lines += [gettext("We will refill **%(quantity)s** on this order.", quantity=claim.refill_quantity), ""]
    if panel_action:
        lines += [gettext(PANEL_UNDER_WAY[panel_action]), ""]
    if note:
        lines += [note.strip(), ""]
    relevant = _relevant(claim, outcome)
    if relevant:
        lines += [gettext("How the Terms apply:"), ""] + [f"- {say(reason)}" for reason in relevant]
    return "\n".join(lines).rstrip()


def clause_text(claim, outcome: str) -> str:
    """The Terms' own words of each rule behind the outcome, quoted (Markdown), or ''."""
    quoted = []
    for rule in dict.fromkeys(r["rule"] for r in _relevant(claim, outcome)):
        found = clause(rule)
        if found:
            quoted.append(f"> **{found[0]}**: {found[1]}")
    return "\n\n".join(quoted)


def compose(claim, outcome: str, note: str = "", panel_action: str | None = None) -> str:
    """Markdown for the reply; `note` is the agent's own words (an override's reason is
    internal and is not passed here); `panel_action` the call the panel was asked to make."""
    text, quoted = decision_text(claim, outcome, note, panel_action), clause_text(claim, outcome)
    return f"{text}\n\n{quoted}" if quoted else text
