"""The role matrix: the one place that says which staff role may do what.

Least privilege: abuse and rights-holder work is restricted to trust & safety, privacy
requests to the privacy officer (DESIGN §1); admins configure the desk but do not read
restricted queues by virtue of being admins.
"""
ROLES = ("agent", "supervisor", "trust_safety", "privacy_officer", "admin")
API_KEY_ROLES = ("panel", "staff")

ALL_STAFF = frozenset(ROLES)

PERMISSIONS: dict[str, frozenset[str]] = {
    "queue.view": ALL_STAFF,
    "ticket.reply": ALL_STAFF,
    "ticket.note": ALL_STAFF,
    "ticket.update": ALL_STAFF,  # status, priority, tags
    "ticket.assign": frozenset({"agent", "supervisor", "trust_safety", "privacy_officer", "admin"}),
    "ticket.reassign_others": frozenset({"supervisor", "admin"}),
    "audit.view": frozenset({"supervisor", "admin"}),
    # Saved views of the queue: everyone keeps their own and may share them; supervisors and
    # admins may also delete a colleague's shared view (renaming stays with its owner).
    "view.manage_shared": frozenset({"supervisor", "admin"}),
    "customer.view": frozenset({"agent", "supervisor", "trust_safety", "privacy_officer", "admin"}),
    "claim.decide": frozenset({"agent", "supervisor", "admin"}),
    "claim.override": frozenset({"supervisor", "admin"}),
    # Money requests (Terms §13–§15, §30): agents in Billing approve or decline; verifying a
    # person, lifting the claim window, goodwill after forfeiture and acting on a
    # chargeback (forfeiture, suspension) are for supervisors.
    "money.decide": frozenset({"agent", "supervisor", "admin"}),
    "money.verify": frozenset({"supervisor", "admin"}),
    "money.override": frozenset({"supervisor", "admin"}),
    "billing.chargeback": frozenset({"supervisor", "admin"}),
    "customer.flag": frozenset({"supervisor", "admin"}),  # the fraud flag (terms-18-verification)
    # Abuse and rights-holder cases (AUP §5): trust & safety alone act, hold, disclose and
    # decide appeals; a second trust & safety member approves a forfeiture.
    "abuse.work": frozenset({"trust_safety"}),
    # Privacy requests (Privacy §10): verifying, erasing, exporting and answering are the
    # privacy officer's alone.
    "privacy.work": frozenset({"privacy_officer"}),
    # A report that an account holder is under 18 (privacy-11-minor) often reaches trust & safety first.
    "privacy.minor": frozenset({"privacy_officer", "trust_safety"}),
    "admin.staff": frozenset({"admin"}),
    "admin.api_keys": frozenset({"admin"}),
    "admin.sla": frozenset({"admin"}),  # support hours, holidays, targets
    "admin.fields": frozenset({"admin"}),  # custom fields per ticket kind
    "admin.jobs": frozenset({"admin"}),  # failed jobs: retry or delete
    # The panel's API v2 (issue 12): anyone who sees customers may ask for an order's status
    # now; trying a failed refill or cancel again is deciding claims (claim.decide); the
    # refresh's runs and webhooks out are the admins'.
    "panel.refresh": frozenset({"agent", "supervisor", "trust_safety", "privacy_officer", "admin"}),
    "admin.panel": frozenset({"admin"}),
    "admin.webhooks": frozenset({"admin"}),
    # Received mail that needs a person: quarantined messages (and the log of all mail), each
    # role seeing the desks its queues allow.
    "mail.review": frozenset({"supervisor", "admin", "trust_safety", "privacy_officer"}),
    "sla.dashboard": frozenset({"supervisor", "admin"}),
    # Canned replies (issue 10): supervisors and admins keep them; whoever may reply applies them.
    "macro.manage": frozenset({"supervisor", "admin"}),
    # Statutory extensions (privacy-10-gdpr/ccpa) are for those who work privacy requests.
    "sla.extend": frozenset({"supervisor", "privacy_officer"}),
}

# Which queues each role may open. A ticket in a queue not listed is a 404 to that role.
QUEUE_ACCESS: dict[str, frozenset[str]] = {
    "agent": frozenset({"support", "claims", "billing"}),
    "supervisor": frozenset({"support", "claims", "billing"}),
    "trust_safety": frozenset({"support", "claims", "billing", "abuse", "legal"}),
    "privacy_officer": frozenset({"support", "claims", "billing", "privacy"}),
    "admin": frozenset({"support", "claims", "billing"}),
}


# API keys read and write tickets in these queues only; restricted queues (abuse, legal,
# privacy) carry reporters' identities and stay with the roles above.
API_KEY_QUEUE_ACCESS: dict[str, frozenset[str]] = {
    "panel": frozenset({"support", "claims", "billing"}),
    "staff": frozenset({"support", "claims", "billing"}),
}


def allows(role: str | None, permission: str) -> bool:
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return role in PERMISSIONS[permission]


def queues_for(role: str | None) -> frozenset[str]:
    return QUEUE_ACCESS.get(role or "", frozenset())


def queues_for_api_key(role: str | None) -> frozenset[str]:
    return API_KEY_QUEUE_ACCESS.get(role or "", frozenset())
