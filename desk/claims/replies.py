"""The answer a customer gets when a claim is closed: the decision in plain words, each
rule's sentence with its figures, and the clause of the Terms that decided it."""
from desk.policy.clauses import clause

OPENING = {
    "accepted": "Your claim on order {order} has been accepted.",
    "rejected": "We are sorry, but your claim on order {order} cannot be accepted.",
}


def compose(claim, outcome: str, note: str = "") -> str:
    """Markdown for the reply; `note` is the agent's own words (an override's reason is
    internal and is not passed here)."""
    lines = [OPENING[outcome].format(order=claim.order.panel_id), ""]
    if outcome == "accepted" and claim.kind == "refill" and claim.refill_quantity:
        lines += [f"We will refill **{claim.refill_quantity}** on this order.", ""]
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
