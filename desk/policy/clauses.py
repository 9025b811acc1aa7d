"""The words of the Terms behind each rule id, quoted verbatim from the storefront's Terms
of Service (shared/terms/smmpanelus-terms-aup-privacy.txt), so a decision sent to a
customer can cite the clause that made it."""
CLAUSES: dict[str, tuple[str, str]] = {
    "terms-7-claim-window": ("Terms §7 Claim Window",
        "You must report any issue with an Order — non-delivery, incorrect quantity, or a discrepancy with the "
        "tool's description — within 3 days of the Order reaching \"Completed\" or \"Partial\" status. Claims "
        "submitted after this window will not be accepted, except where applicable law requires otherwise."),
    "terms-11-delivery-time": ("Terms §11 Delivery time",
        "Estimated delivery or start times shown for a tool are estimates, not guarantees. An Order being slow "
        "is not grounds for a refund; an Order in an active status is governed by the Order finality rule."),
    "terms-11-overlap": ("Terms §11 Overlapping Orders on the same link",
        "Do not run more than one Order on the same link at the same time — whether two Orders with us, or one "
        "with us and one elsewhere. When Orders overlap, the Start Count and Drops cannot be tracked reliably, "
        "and claims arising from overlap will not be accepted."),
    "terms-11-target": ("Terms §11 Private accounts or restricted content; Links changed after ordering",
        "If the target account is private, or the content is restricted or removed so delivery cannot "
        "complete, the Order will not qualify for a refund. Changing the link, username, or privacy setting "
        "after placing an Order is your responsibility and voids any claim or refill on that Order."),
    "terms-11-wrong-link": ("Terms §11 Wrong, non-working, or mistyped links",
        "Confirm every Order before placing it. An Order placed on an incorrect link is your responsibility. "
        "Where our system can detect a non-working link before delivery, the Order may be cancelled "
        "automatically and the amount returned to your Deposited Funds."),
    "terms-5-beta": ("Terms §5 Beta tools",
        "A tool marked as beta or experimental is provided as is, without claim eligibility or refill, while "
        "in that status."),
    "terms-10-refill": ("Terms §10 Refill & Guarantee",
        "Where available, refill is assessed per Order using the Order's own figures: Start Count plus ordered "
        "quantity equals the end count. A refill may apply only when the count has dropped below the end count "
        "while remaining at or above the Start Count, and is tied to the Order ID, not to the link."),
    "terms-10-guarantee": ("Terms §10 Refill & Guarantee",
        "Only a tool explicitly marked \"Guarantee\" carries a commitment from us. Any tool without that "
        "explicit label — including tools that offer a refill — is delivered as is, with no guaranteed outcome."),
    "terms-9-finality": ("Terms §9 Order finality",
        "Once an Order enters an active status (In Progress / Processing), it cannot be cancelled, and the "
        "funds charged for it are treated as used. A Completed Order is final."),
    "terms-9-partial": ("Terms §9 Partial completion",
        "If an Order ends in Partial status, the amount for the undelivered portion is returned to your Balance "
        "as credit, available for new Orders. It is returned to the same funding source it was paid from — the "
        "part paid from Deposited Funds returns as Deposited Funds, the part paid from Promotional Credit "
        "returns as Promotional Credit."),
    "terms-9-canceled": ("Terms §9 Canceled orders",
        "If an Order is Canceled, the full amount is returned to your Balance as credit, to the same funding "
        "sources it was paid from (Deposited Funds and Promotional Credit in the same proportions). A refund or "
        "cancellation never converts Promotional Credit into Deposited Funds."),
    "terms-9-stalled": ("Terms §9 Stalled orders",
        "Where an Order cannot be completed for reasons on our side or the tool becoming unavailable, it is "
        "resolved as Canceled or Partial and the corresponding amount is returned to your Deposited Funds. "
        "Where an Order cannot be completed because of how you placed it — a wrong, private, removed, or "
        "changed target — that is your responsibility under Order Accuracy and does not entitle you to a "
        "refund, though support may cancel it at its discretion."),
    "terms-5-pricing-error": ("Terms §5 Pricing errors",
        "If a tool is displayed with an obvious pricing error (for example, a price far below its normal level "
        "due to a feed or system error), we may cancel any affected Order and return the amount to your "
        "Deposited Funds, even after the Order was placed."),
}


def clause(rule: str) -> tuple[str, str] | None:
    return CLAUSES.get(rule)
