"""The answer a customer gets when a claim is closed: the decision in plain words, each
rule's sentence with its figures, and the clause of the Terms that decided it."""
from desk.policy.clauses import clause

OPENING = {
    "accepted": "Your claim on order {order} has been accepted.",
    "rejected": "We are sorry, but your claim on order {order} cannot be accepted.",
}


PANEL_UNDER_WAY = {
    "refill": "We have asked the panel to refill it and will write again when the refill is done.",
    "cancel": "We have asked the panel to cancel it and will write again when it is cancelled.",
}


def compose(claim, outcome: str, note: str = "", panel_action: str | None = None) -> str:
    """Markdown for the reply; `note` is the agent's own words (an override's reason is
    internal and is not passed here); `panel_action` the call the panel was asked to make."""
    lines = [OPENING[outcome].format(order=claim.order.panel_id), ""]
    if outcome == "accepted" and claim.kind == "refill" and claim.refill_quantity:
        lines += [f"We will refill **{claim.refill_quantity}** on this order.", ""]
    if panel_action:
        lines += [PANEL_UNDER_WAY[panel_action], ""]
    if note:
        lines += [note.strip(), ""]
    # Quote only the rules that point the way the claim was closed: an override closes it
    # against them, and quoting them would contradict the answer.
    relevant = [r for r in claim.reasons if (r["outcome"] == "eligible") == (outcome == "accepted")]
    if not relevant:
        return "\n".join(lines).rstrip()
    lines.append("How the Terms apply:")
    lines.append("")
    for reason in relevant:
        lines.append(f"- {reason['text']}")
    quoted = []
    for rule in dict.fromkeys(r["rule"] for r in relevant):
        found = clause(rule)
        if found:
            quoted += ["", f"> **{found[0]}**: {found[1]}"]
    return "\n".join(lines + quoted)
