"""The words of the Terms behind each rule id, quoted verbatim from the storefront's Terms
of Service (shared/terms/smmpanelus-terms-aup-privacy.txt), so a decision sent to a
customer can cite the clause that made it."""
from desk.policy.words import N_
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
    "terms-13-refund": ("Terms §13 Refunds",
        "Refunds to a payment method are handled on a discretionary, case-by-case basis. We do not guarantee "
        "them. Where such a refund is granted, the default method is a credit to your Balance as Deposited Funds, "
        "available immediately for new Orders. The refunded amount reflects only your Deposited Funds and never "
        "exceeds what you actually paid in and have not yet spent. The Promotional Credit deduction never reduces "
        "the figure below zero — if it mathematically would, it is treated as zero, and we do not create or leave "
        "a negative Balance through a refund."),
    "terms-13-confirm": ("Terms §13 Refunds",
        "Before processing a refund that is materially reduced by these deductions, we will show you the final "
        "amount and confirm that you wish to proceed, so you can choose to keep the Balance instead."),
    "terms-13-window": ("Terms §13 Refunds",
        "Submitting a refund request does not guarantee one will be issued. A request raised after the Claim "
        "Window (Section 7) has passed will not be considered, even where a refund might otherwise have been "
        "reviewed."),
    "terms-14-withdrawal": ("Terms §14 Withdrawals",
        "A withdrawal processing fee applies to each withdrawal, reflecting our actual costs of handling the "
        "withdrawal itself (payment-out, currency conversion, and processing). This fee does not exceed 10% of "
        "the amount withdrawn; the exact rate in effect is shown at the time you request the withdrawal. "
        "Promotional Credit has no cash value and cannot be withdrawn."),
    "terms-14-pending-order": ("Terms §14 Withdrawals",
        "A withdrawal request is cancelled if you place an Order from your Deposited Funds while the request is "
        "pending. Any non-refundable processing fee already applied to that request is not returned."),
    "terms-18-verification": ("Terms §18 Verification & Fraud Prevention",
        "We may request verification of your identity or payment method before processing an Order, a payout, "
        "or a balance restoration request — particularly for large transactions or where we have a good-faith "
        "concern about fraud. We may suspend an Order, payout, or account pending verification, and we are not "
        "obligated to complete a transaction until verification is satisfactorily provided."),
    "terms-15-closure": ("Terms §15 Closing Your Account",
        "On closure, any remaining Deposited Funds may be withdrawn under the Withdrawals section (including its "
        "processing fee and verification), and any Promotional Credit is forfeited. We may decline to release a "
        "Balance where verification is incomplete or where there is an unresolved dispute, chargeback, or "
        "suspected violation of these Terms."),
    "terms-16-negative": ("Terms §16 Negative Balance",
        "If your Balance becomes negative — for example, due to a reversed payment, a chargeback, a correction "
        "of an error, or a clawback of affiliate or Promotional Credit — you are responsible for the negative "
        "amount. We may recover it from future deposits or credits to your account, or invoice you for it."),
    "terms-17-chargeback": ("Terms §17 Chargebacks Prohibited",
        "Initiating a chargeback, payment dispute, or reversal with your bank or payment provider instead of "
        "contacting us first is a violation of these Terms. We may immediately suspend or permanently ban your "
        "account, forfeit any positive Deposited Funds on it and cancel any Promotional Credit, and treat any "
        "resulting negative Balance under the Negative Balance section."),
    "terms-30-dormancy": ("Terms §30 Dormant Accounts & Balance",
        "An account is considered inactive if it has no login, deposit, or Order activity for 12 consecutive "
        "months. After 12 months of inactivity, the Balance is frozen. If your email address is verified, we "
        "will attempt to notify you 14 days before the freeze takes effect. Promotional Credit is forfeited at "
        "the freeze point in all cases, regardless of the Deposited Funds threshold, and is never eligible for "
        "restoration. Restoration after forfeiture is not guaranteed and may only be granted at our sole "
        "discretion as a goodwill exception."),
    "terms-4-multi-account": ("Terms §4 Multi-Account Policy",
        "Eligible users may create up to 10 accounts without prior notice. Open a support ticket describing the "
        "business need before creating additional accounts. We may request more information or decline further "
        "expansion at our discretion."),
    "terms-12-promo": ("Terms §12 Promotions & Credit",
        "Using promo codes across multiple accounts to claim a benefit intended for a single user, or otherwise "
        "abusing a promotion, violates these Terms and may result in forfeiture of the related Promotional "
        "Credit and further action under Account Suspension & Termination."),
    "aup-3-taxonomy": ("AUP §3 Prohibited Content; §4 Prohibited Conduct",
        "You may not use the Service in connection with content, pages, accounts, or links that involve any of the "
        "following. This list is illustrative, not exhaustive."),
    "aup-4.1-permission": ("AUP §4.1 Harm third parties through the Service",
        "You may direct tools only at targets you own or have explicit written permission to act on; directing "
        "tools at any resource you neither control nor have written permission to act on is prohibited."),
    "aup-5.2-evidence": ("AUP §5.2 Monitoring and investigation",
        "We may review Orders and accounts, on a routine or targeted basis or in response to a report, and may "
        "suspend an account together with all of its active Orders pending investigation, without prior notice. "
        "We may preserve relevant account data, Orders, and Balance as evidence for the duration of an "
        "investigation or dispute."),
    "aup-5.3-enforcement": ("AUP §5.3 Enforcement",
        "Depending on the severity of the breach, we may, alone or in combination and at our discretion: reject or "
        "cancel the affected Order; issue a warning; suspend or permanently terminate the account; block access by "
        "identifier (such as payment method or other unique data); and forfeit any positive Deposited Funds as set "
        "out in the Terms. Promotional Credit, which has no cash value, is cancelled in any case of abuse and is "
        "not part of the liquidated-damages calculation below."),
    "aup-5.4-forfeiture": ("AUP §5.4 Forfeited funds as liquidated damages",
        "Where a breach leads to suspension or termination and forfeiture of Deposited Funds, the forfeited amount "
        "is treated as liquidated damages — a reasonable pre-estimate of the costs the breach causes us, including "
        "administrative and investigation costs, reputational harm, and potential penalties from payment "
        "providers. It is not a penalty."),
    "aup-5.5-disclosure": ("AUP §5.5 Cooperation",
        "We may cooperate with law enforcement, regulators, payment providers, and affected parties where there "
        "is a valid and lawful basis, and may provide the information available to us for that purpose."),
    "aup-5.6-serious-harm": ("AUP §5.6 Serious harm — reporting without notice",
        "We may report the activity and disclose the information available to us to law enforcement or the "
        "relevant authorities without notifying you, and we may do so before, during, or instead of any internal "
        "process. Nothing in this Policy or the Terms requires us to warn you, to wait, or to give you an "
        "opportunity to respond before acting in such cases."),
    "aup-6-report": ("AUP §6 Reporting a Violation",
        "To help us act, include the specific link or Order reference and a clear description of the issue, with "
        "any evidence."),
    "terms-23-referential-use": ("Terms §23 Use of Third-Party Platform Names",
        "If a rights holder believes a specific reference exceeds legitimate referential use, they may contact us "
        "at legal@mail.smmpanelus.com, and we will review the specific reference in good faith."),
    "privacy-10-rights": ("Privacy Policy §10 Your Rights",
        "Subject to applicable law, you have rights over your personal data. We do not sell or share your personal "
        "information in the way those laws define it. We do not discriminate against you for exercising your "
        "rights."),
    "privacy-10-verify": ("Privacy Policy §10 Your Rights",
        "We may need to verify your identity before acting, and we will respond within the time required by "
        "applicable law."),
    "privacy-10-export": ("Privacy Policy §10 Your Rights",
        "Portability — ask for a copy of certain data in a portable form."),
    "privacy-10-gdpr": ("Privacy Policy §10 Your Rights (EU/UK)",
        "You also have the right to lodge a complaint with your local data protection authority."),
    "privacy-10-ccpa": ("Privacy Policy §10 Your Rights (California)",
        "We do not discriminate against you for exercising your rights."),
    "privacy-8-erasure": ("Privacy Policy §8 How Long We Keep Data",
        "We keep your personal data for as long as your account is active and for a reasonable period afterward — "
        "long enough to meet legal, accounting, regulatory, and dispute-resolution requirements, and to protect "
        "against fraud and abuse. When data is no longer needed for these purposes, we delete it or render it "
        "anonymous."),
    "privacy-11-minor": ("Privacy Policy §11 Children",
        "If we learn that we have collected data from a person under 18, we delete it. This does not limit the "
        "steps we may take in cases of serious harm to a minor, such as child sexual abuse material, which are "
        "handled as set out in When We Share Data and the Acceptable Use Policy."),
    "terms-3-account": ("Terms §3 Your Account",
        "Notify us immediately via a support ticket if you suspect unauthorized access to your account."),
    "terms-33-support-hours": ("Terms §33 Contact",
        "Support tickets are answered within our support hours (10:00–23:00 SGT)."),
    "terms-33-legal": ("Terms §33 Contact",
        "We aim to acknowledge written/email legal notices within 5 business days and provide a substantive "
        "response within 30 calendar days."),
    "privacy-9-security": ("Privacy Policy §9 Security",
        "We protect your data with technical and organizational measures appropriate to the Service: an encrypted "
        "(HTTPS/SSL) connection, hashing of passwords so they are never stored in readable form, encryption of API "
        "keys, and access controls."),
}


def clause(rule: str) -> tuple[str, str] | None:
    return CLAUSES.get(rule)


# Each rule in a customer's words: what it means for them, in a sentence or two, shown
# beside the decision (and the Terms' own words) wherever a customer meets it.
PLAIN: dict[str, str] = {
    "terms-7-claim-window": N_("Problems with an order can be reported for 3 days (72 hours) after it is Completed "
                            "or Partial. Before that, the order is still running; after that, we can no longer "
                            "accept a claim."),
    "terms-11-delivery-time": N_("Delivery times shown are estimates. A slow order is still running, so it is not a "
                              "reason for a refund."),
    "terms-11-overlap": N_("When two orders run on the same link at the same time (with us or elsewhere), we cannot "
                        "tell which one delivered what, so claims and refills on them are not possible."),
    "terms-11-target": N_("If the account or post became private, was removed, or its link or username changed after "
                       "you ordered, the order cannot be refunded, cancelled or refilled."),
    "terms-11-wrong-link": N_("Please check links before ordering: an order on a wrong link is your responsibility. If "
                           "our system finds a link that does not work before delivery starts, the order is "
                           "cancelled and the money goes back to your Deposited Funds."),
    "terms-5-beta": N_("Tools marked beta or experimental are offered as they are: they have no claims and no refill."),
    "terms-10-refill": N_("A refill tops an order back up when the count dropped after delivery, while the tool's "
                       "refill period is open. We refill the difference between the count the order reached and "
                       "the count now; drops below the count before your order are not covered."),
    "terms-10-guarantee": N_("Only tools labelled \"Guarantee\" promise a result. On other tools a refill is a "
                          "best effort."),
    "terms-9-finality": N_("An order can be cancelled only while it is Pending. Once it has started (In Progress or "
                        "Processing), or is Completed, it is final."),
    "terms-9-partial": N_("When an order ends Partial, the part not delivered comes back to your Balance, to the same "
                       "place it was paid from: Deposited Funds back as Deposited Funds, Promotional Credit back as "
                       "Promotional Credit."),
    "terms-9-canceled": N_("When an order is Canceled, its whole charge comes back to your Balance, in the same split "
                        "between Deposited Funds and Promotional Credit that paid for it."),
    "terms-9-stalled": N_("If an order cannot finish because of a problem on our side, it is closed as Canceled or "
                       "Partial and the money comes back to your Deposited Funds. If it fails because of the link "
                       "or target, it is not refunded."),
    "terms-5-pricing-error": N_("If a tool was shown at an obviously wrong price, we may cancel the order and give the "
                             "money back to your Deposited Funds."),
    "terms-13-refund": N_("A refund to your payment method is decided case by case. It can only come from Deposited "
                       "Funds you paid in and have not spent, less the payment provider's fees on that deposit and "
                       "any Promotional Credit you received; it never goes below zero. By default we credit your "
                       "Balance instead."),
    "terms-13-confirm": N_("When fees or Promotional Credit reduce a refund, we show you the final amount first; you "
                        "choose to go ahead or keep your Balance as it is."),
    "terms-13-window": N_("A refund about an order must be asked for within that order's 3-day claim window."),
    "terms-14-withdrawal": N_("You can withdraw Deposited Funds (not Promotional Credit) to the method you paid with. "
                           "A processing fee applies, at the rate shown when you ask, never more than 10%."),
    "terms-14-pending-order": N_("If you place an order from your Deposited Funds while a withdrawal is waiting, the "
                              "withdrawal is cancelled; a processing fee already charged is not given back."),
    "terms-18-verification": N_("For large payouts or restorations, or when something looks wrong, we first check "
                             "your identity and payment method; nothing is paid until that is done."),
    "terms-15-closure": N_("When you close your account, your Deposited Funds can be withdrawn (with the withdrawal "
                        "fee) and Promotional Credit ends. We cannot release the Balance while a dispute, a "
                        "chargeback, a suspected violation or a verification is still open."),
    "terms-16-negative": N_("If your Balance goes below zero (for example after a reversed payment), the amount owed "
                         "is taken from your next deposits."),
    "terms-17-chargeback": N_("Disputing a payment with your bank instead of contacting us first breaks the Terms: "
                           "the account may be suspended and its Balance forfeited. Please contact us first."),
    "terms-30-dormancy": N_("After 12 months with no login, deposit or order, the Balance is frozen and Promotional "
                         "Credit ends. Deposited Funds under $1,000 are forfeited 6 months after the freeze; from "
                         "$1,000 you can ask to restore them for 18 months. We e-mail you before, if your e-mail "
                         "is verified."),
    "terms-4-multi-account": N_("You may have up to 10 accounts without telling us. For more, open a ticket that "
                             "explains the business need."),
    "terms-12-promo": N_("A promotion is for one person: claiming it from several accounts can cost the Promotional "
                      "Credit it gave."),
    "terms-3-account": N_("If you think someone else used your account, tell us in a ticket straight away."),
    "terms-33-support-hours": N_("Support works every day from 10:00 to 23:00 Singapore time, except public "
                              "holidays; we answer within those hours."),
    "privacy-10-rights": N_("You can ask to see, correct, delete, restrict or take a copy of your personal data, "
                         "object to its use, or withdraw consent. We do not sell or share it, and asking never "
                         "counts against you."),
    "privacy-10-verify": N_("Before we act on a privacy request we check that it comes from you, with a code sent to "
                         "your account's e-mail."),
    "privacy-10-export": N_("A copy of your data comes as one file you can download, behind a link that expires."),
    "privacy-8-erasure": N_("When you ask us to delete your data, we delete or anonymise it, except what the law, "
                         "accounting or fraud prevention needs us to keep; we tell you what was kept and why."),
    "privacy-10-gdpr": N_("In the EU and UK we answer a privacy request within one month, and you can complain to "
                       "your data protection authority."),
    "privacy-10-ccpa": N_("In California we confirm a privacy request within 10 business days and answer within 45 "
                       "days."),
    "privacy-3-minimal": N_("Never send us card numbers or passwords: we remove them from messages when we find them."),
    "privacy-11-minor": N_("The Service is for people 18 and over; data of a younger person is deleted."),
}


def plain(rule: str) -> str | None:
    """The rule in a customer's words, or None for a rule customers never meet."""
    return PLAIN.get(rule)


def explain(rules) -> list[dict]:
    """Each rule once, in order, with its clause's title and words and its plain words:
    what a decision shown to a customer carries (the portal's pages, the API's answers)."""
    out = []
    for rule in dict.fromkeys(rules):
        title, words = CLAUSES.get(rule, (None, None))
        out.append({"rule": rule, "title": title, "words": words, "plain": PLAIN.get(rule)})
    return out
