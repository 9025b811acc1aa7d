"""Several accounts: the shared-promotion flags (terms-12-promo) and the request for more
than 10 accounts (terms-4-multi-account), filed as a ticket for the Support queue."""
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_, select, update

from desk.accounts.models import AccountRequest, CustomerIdentifier
from desk.audit.services import Actor, record
from desk.claims.models import Customer, LedgerEntry
from desk.claims.parse import Fields
from desk.errors import ValidationError
from desk.extensions import db, one_at_a_time
from desk.policy import accounts as policy
from desk.policy.claims import strictest
from desk.policy.clauses import clause
from desk.tickets import services as tickets
from desk.tickets.models import Ticket

MAX_ACCOUNTS = 10_000  # a bound on the figure typed, not a rule of the Terms
MIN_NEED, MAX_NEED = 20, 5_000
MAX_OTHERS = 50  # flags name at most this many other accounts
MAX_OWN = 500  # identifiers and promotions of the account read for its flags (the latest)
CLOSED = ("resolved", "closed")
# Serialises requests for one customer on PostgreSQL (the first two arguments of
# pg_advisory_xact_lock(int, int)); any constant no other lock in the desk uses.
LOCK_NAMESPACE = 40004


# --- flags (terms-12-promo) -------------------------------------------------------------

def flags(customer: Customer) -> list[policy.Flag]:
    """Other accounts that share an identifier with `customer` and redeemed one of the same
    promotions. Every query is served by an index (the customer's own rows; (kind, value)
    on customer_identifiers; ledger entries by customer or by (kind, source)), and at most
    MAX_OTHERS other accounts are read: those sharing the most identifiers."""
    own = _identifiers(customer.id)
    promotions = _promotions([customer.id]).get(customer.id, set())
    if not own or not promotions:
        return []
    others = _sharing(customer.id, own, promotions)
    if not others:
        return []
    their_identifiers = _identifiers_among(list(others), own)
    their_promotions = _promotions(list(others), promotions)
    account = policy.Account(customer.panel_id, frozenset(own), frozenset(promotions))
    return policy.shared_promotions(account, [
        policy.Account(panel_id, frozenset(their_identifiers.get(customer_id, ())),
                       frozenset(their_promotions.get(customer_id, ())))
        for customer_id, panel_id in others.items()
    ])


def _identifiers(customer_id: int) -> set[tuple[str, str]]:
    rows = db.session.execute(
        select(CustomerIdentifier.kind, CustomerIdentifier.value)
        .where(CustomerIdentifier.customer_id == customer_id)
        .order_by(CustomerIdentifier.id.desc()).limit(MAX_OWN)
    )
    # A public mail domain is never stored, but the list may grow after one was.
    return {(kind, value) for kind, value in rows
            if not (kind == "email_domain" and value in policy.PUBLIC_MAIL_DOMAINS)}


def _matching(pairs: set[tuple[str, str]]):
    """kind = ? AND value IN (...) for each kind: the (kind, value) index serves each arm."""
    by_kind: dict[str, list[str]] = {}
    for kind, value in pairs:
        by_kind.setdefault(kind, []).append(value)
    return or_(*(and_(CustomerIdentifier.kind == kind, CustomerIdentifier.value.in_(sorted(values)))
                 for kind, values in sorted(by_kind.items())))


def _redeemed(promotions: set[str]):
    return and_(LedgerEntry.kind == "promo_credit", LedgerEntry.source.in_(sorted(promotions)))


def _sharing(customer_id: int, own: set, promotions: set) -> dict[int, str]:
    """{customer row id: panel id} of up to MAX_OTHERS other accounts with a shared
    identifier and a shared promotion, those sharing the most identifiers first."""
    return {row.id: row.panel_id for row in db.session.execute(_sharing_query(customer_id, own, promotions))}


def _sharing_query(customer_id: int, own: set, promotions: set):
    redeemed = exists().where(LedgerEntry.customer_id == CustomerIdentifier.customer_id, _redeemed(promotions))
    shared = func.count().label("shared")
    candidates = (
        select(CustomerIdentifier.customer_id, shared)
        .where(_matching(own), CustomerIdentifier.customer_id != customer_id, redeemed)
        .group_by(CustomerIdentifier.customer_id)
        .order_by(shared.desc(), CustomerIdentifier.customer_id)
        .limit(MAX_OTHERS)
        .subquery()
    )
    return (select(Customer.id, Customer.panel_id)
            .join(candidates, candidates.c.customer_id == Customer.id)
            .order_by(candidates.c.shared.desc(), Customer.id))


def _identifiers_among(customer_ids: list[int], own: set) -> dict[int, set[tuple[str, str]]]:
    found: dict[int, set[tuple[str, str]]] = {}
    rows = db.session.execute(
        select(CustomerIdentifier.customer_id, CustomerIdentifier.kind, CustomerIdentifier.value)
        .where(CustomerIdentifier.customer_id.in_(customer_ids), _matching(own))
    )
    for customer_id, kind, value in rows:
        found.setdefault(customer_id, set()).add((kind, value))
    return found


def _promotions(customer_ids: list[int], among: set[str] | None = None) -> dict[int, set[str]]:
    """The promotions each customer redeemed (promo_credit entries' source), limited to
    `among` when given."""
    condition = _redeemed(among) if among is not None else and_(
        LedgerEntry.kind == "promo_credit", LedgerEntry.source.is_not(None))
    rows = db.session.execute(
        select(LedgerEntry.customer_id, LedgerEntry.source)
        .where(LedgerEntry.customer_id.in_(customer_ids), condition)
        .group_by(LedgerEntry.customer_id, LedgerEntry.source)
        .limit(MAX_OWN * len(customer_ids))
    )
    found: dict[int, set[str]] = {}
    for customer_id, source in rows:
        found.setdefault(customer_id, set()).add(source)
    return found


# --- the request for more accounts (terms-4-multi-account) --------------------------------

@dataclass
class Ask:
    customer: str  # the panel's customer id
    category: str
    accounts_wanted: int
    business_need: str


def parse_request(body: dict) -> Ask:
    """The API body {"customer", "category", "accounts_wanted", "business_need"}."""
    f = Fields(body)
    customer = f.string("customer", required=True, max_len=64)
    category = f.choice("category", policy.CATEGORIES, required=True)
    wanted = f.integer("accounts_wanted", required=True, minimum=policy.FREE_ACCOUNTS + 1, maximum=MAX_ACCOUNTS)
    need = f.string("business_need", required=True, max_len=MAX_NEED)
    problems = f.problems
    if "accounts_wanted" in problems and problems["accounts_wanted"].startswith("at least"):
        problems["accounts_wanted"] = (f"at least {policy.FREE_ACCOUNTS + 1}: up to {policy.FREE_ACCOUNTS} "
                                       "accounts need no ticket (terms-4-multi-account)")
    if need is not None and len(need) < MIN_NEED:
        problems["business_need"] = f"at least {MIN_NEED} characters: say what the accounts are for"
    if problems:
        raise ValidationError("The request has problems: " + ", ".join(sorted(problems)) + ".", problems)
    return Ask(customer, category, wanted, need)


def open_request(customer: Customer) -> AccountRequest | None:
    return db.session.execute(
        select(AccountRequest).join(Ticket, AccountRequest.ticket_id == Ticket.id)
        .where(AccountRequest.customer_id == customer.id, Ticket.status.not_in(CLOSED))
        .order_by(AccountRequest.id).limit(1)
    ).scalar_one_or_none()


def file_request(customer: Customer, ask: Ask, actor: Actor, channel: str = "api") -> tuple[AccountRequest, bool]:
    """File the request as a multi_account ticket with its AccountRequest, in one
    transaction; (request, created). A customer's open request is returned instead of a
    second one, even when two arrive at once."""
    if not customer.email:
        raise ValidationError("The customer has no e-mail on record for the answer; the panel sends it with "
                              f"PUT /api/v1/customers/{customer.panel_id}.", {"customer": "no e-mail on record"})
    _one_at_a_time(customer)
    existing = open_request(customer)
    if existing is not None:
        db.session.rollback()  # releases the lock
        return existing, False
    reasons = [{"rule": r.rule, "outcome": r.outcome, "text": r.text}
               for r in policy.multi_account(ask.accounts_wanted, ask.category)]
    request = AccountRequest(customer=customer, category=ask.category, accounts_wanted=ask.accounts_wanted,
                             reasons=reasons)
    label = policy.CATEGORIES[ask.category]
    body = (f"{ask.accounts_wanted} accounts in all, as: {label}.\n\nBusiness need:\n{ask.business_need.strip()}")
    data = tickets.NewTicket(
        subject=(f"More than {policy.FREE_ACCOUNTS} accounts: {ask.accounts_wanted} for "
                 f"{customer.login or customer.panel_id}"),
        body=body, requester_email=customer.email, kind="multi_account", channel=channel,
        customer=customer.panel_id)
    tickets.create_ticket(data, actor, attach=lambda ticket: _attach(request, ticket))
    return request, True


def _one_at_a_time(customer: Customer) -> None:
    """Hold filings for this customer one after the other until the commit, so the check for
    an open request sees what a filing at the same moment committed."""
    one_at_a_time(LOCK_NAMESPACE, Customer, customer.id)


def _attach(request: AccountRequest, ticket) -> None:
    request.ticket = ticket
    db.session.add(request)
    db.session.flush()
    record(Actor("system", None, "accounts"), "account_request.filed", "account_request", request.id,
           ticket_id=ticket.id, decision=strictest(r["outcome"] for r in request.reasons), accounts_wanted=request.accounts_wanted,
           category=request.category)


def request_json(request: AccountRequest, created: bool) -> dict:
    return {
        "reference": request.ticket.reference, "id": request.id, "created": created,
        "customer": request.customer.panel_id if request.customer else None,
        "category": request.category, "accounts_wanted": request.accounts_wanted,
        "decision": strictest(r["outcome"] for r in request.reasons), "rules": list(dict.fromkeys(r["rule"] for r in request.reasons)),
        "reasons": request.reasons,
    }


def panel(request: AccountRequest, with_flags: bool) -> dict:
    """What the staff panel on the ticket shows: the request, the clauses behind its reasons,
    and (for the roles that may see customers) the customer's flags."""
    rules = list(dict.fromkeys(r["rule"] for r in request.reasons))
    return {
        "flags": flags(request.customer) if with_flags and request.customer else None,
        "request": request,
        "category_label": policy.CATEGORIES.get(request.category, request.category),
        "decision": strictest(r["outcome"] for r in request.reasons),
        "clauses": [(rule, *clause(rule)) for rule in rules if clause(rule)],
    }
