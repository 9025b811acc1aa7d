"""Several accounts and shared promotions, decided by the Terms (§4, §12).

Rule ids (DESIGN §2):
  terms-4-multi-account  up to 10 accounts need no notice; more need a ticket with the business need
  terms-12-promo         accounts sharing an identifier that redeemed the same promotion are flagged

No Flask, no database.
"""
from dataclasses import dataclass

from desk.policy.claims import ELIGIBLE, NEEDS_REVIEW, Reason, said
from desk.policy.words import N_

FREE_ACCOUNTS = 10
CATEGORIES = {
    "reseller": N_("Reseller"),
    "agency": N_("Advertising or SMM agency"),
    "partner": N_("Official partner"),
    "other": N_("Something else"),
}
IDENTIFIER_KINDS = {"email_domain": "e-mail domain", "payment": "payment fingerprint", "ip": "IP address"}
# Domains shared by millions of unrelated people say nothing about who runs an account.
PUBLIC_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "ymail.com", "outlook.com", "hotmail.com",
    "hotmail.co.uk", "live.com", "msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me",
    "protonmail.com", "pm.me", "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com", "mail.ru", "bk.ru",
    "inbox.ru", "list.ru", "yandex.ru", "yandex.com", "ya.ru", "rambler.ru", "qq.com", "163.com", "126.com",
    "naver.com", "zoho.com", "tutanota.com", "fastmail.com", "rediffmail.com", "seznam.cz", "wp.pl",
})


def multi_account(accounts_wanted: int, category: str) -> list[Reason]:
    """terms-4-multi-account: what a request for more accounts needs."""
    rule = "terms-4-multi-account"
    if accounts_wanted <= FREE_ACCOUNTS:
        return [said(rule, ELIGIBLE, N_("Up to %(free)s accounts need no notice: %(wanted)s can be created without "
                                        "asking, by a reseller, agency or partner using them for legitimate "
                                        "segmentation."), free=FREE_ACCOUNTS, wanted=accounts_wanted)]
    reasons = [said(rule, NEEDS_REVIEW,
                    N_("%(wanted)s accounts is more than %(free)s: support reviews the business need before more are "
                       "created, and may ask for more information or decline."),
                    wanted=accounts_wanted, free=FREE_ACCOUNTS)]
    if category not in ("reseller", "agency", "partner"):
        reasons.append(said(rule, NEEDS_REVIEW, N_("Several accounts are for resellers, advertising or SMM agencies "
                                                   "and official partners: say which applies.")))
    return reasons


def mail_domain(email: str | None) -> str | None:
    """The domain an e-mail shares with others, or None for a public mail service."""
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower().rstrip(".")
    return None if not domain or domain in PUBLIC_MAIL_DOMAINS else domain


@dataclass(frozen=True)
class Account:
    """One account as the promotion check reads it."""

    panel_id: str
    identifiers: frozenset[tuple[str, str]]  # (kind, value)
    promotions: frozenset[str]  # promotion codes or sources redeemed


@dataclass(frozen=True)
class Flag:
    other: str
    shared: tuple[tuple[str, str], ...]
    promotions: tuple[str, ...]
    text: str
    rule: str = "terms-12-promo"


def shared_promotions(account: Account, others) -> list[Flag]:
    """terms-12-promo: other accounts that share an e-mail domain, a payment fingerprint or an
    IP address with `account` and redeemed one of the same promotions. A flag is for staff
    to look at, not a finding: one promotion per user may still have been respected."""
    flags = []
    for other in others:
        if other.panel_id == account.panel_id:
            continue
        shared = tuple(sorted(i for i in account.identifiers & other.identifiers
                              if not (i[0] == "email_domain" and i[1] in PUBLIC_MAIL_DOMAINS)))
        promotions = tuple(sorted(account.promotions & other.promotions))
        if shared and promotions:
            what = "; ".join(f"{IDENTIFIER_KINDS.get(kind, kind)} {value}" for kind, value in shared)
            flags.append(Flag(other.panel_id, shared, promotions,
                              f"Account {other.panel_id} shares {what} and also redeemed {', '.join(promotions)}: "
                              "one promotion claimed across several accounts breaks the Terms."))
    return flags
