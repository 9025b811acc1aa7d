"""What the portal does: sign-in links and single sign-on, spending their tokens once, and
the signed-in customer's own tickets. Plain functions; the views own the transaction
(and call jobs.dispatch() after it) unless a function says it commits."""
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import and_, delete, func, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from desk import jobs, links, pagination
from desk.accounts import services as accounts
from desk.claims import services as claims
from desk.claims.models import Customer, Order
from desk.claims.orders import find_customer, find_order
from desk.errors import DeskError
from desk.extensions import db
from desk.mail.outbound import compose, render
from desk.money import requests as money
from desk.money.models import MoneyRequest
from desk.portal import sessions, tokens
from desk.portal.models import SpentToken
from desk.portal.tokens import MAX_PANEL_ID, Refused
from desk.privacy import requests as privacy
from desk.sla.display import lead_clock, local_time
from desk.tickets import merge
from desk.tickets import services as tickets
from desk.tickets.models import Ticket
from desk.policy.words import N_
from desk.types import MAX_ID, utcnow
from flask_babel import gettext

# Trust & safety's cases never show to a customer: an abuse report or a rights holder's
# notice is someone else's report about the account (AUP §6; aup-5.6-serious-harm: no
# notice to the account holder), and a chargeback case is the desk's own billing case,
# opened without telling anyone (terms-17-chargeback). What the customer hears of any of
# them comes as a notice (a statement of reasons, a billing message), not as the case.
HIDDEN_KINDS = ("abuse", "rights", "chargeback")
# The statuses in the customer's words.
STATUS_WORDS = {"new": N_("Received"), "open": N_("Open"), "waiting": N_("Waiting for your reply"), "on_hold": N_("On hold"),
                "resolved": N_("Resolved"), "closed": N_("Closed")}
# Ledger entries and money requests in the customer's words.
ENTRY_WORDS = {
    "deposit": N_("Deposit"), "promo_credit": N_("Promotional Credit received"), "return": N_("Returned from an order"),
    "refund_credit": N_("Refund to your Balance"), "charge": N_("Order"), "refund": N_("Refund to your payment method"),
    "withdrawal": N_("Withdrawal"), "withdrawal_fee": N_("Withdrawal processing fee"), "deduction": N_("Deducted from a payout"),
    "forfeiture": N_("Forfeited"), "chargeback": N_("Chargeback"), "adjustment": N_("Correction"),
}
REQUEST_WORDS = {
    "awaiting_confirmation": N_("Waiting for you to confirm the figures"), "awaiting_verification": N_("Waiting for verification"),
    "pending_review": N_("With our billing team"), "approved": N_("Approved"), "declined": N_("Declined"),
    "rejected": N_("Not possible under the Terms"), "kept_balance": N_("You kept your Balance"), "cancelled": N_("Cancelled"),
}
ERASED = Refused("erased", N_("This account's data was erased at the owner's request, so it can no longer sign in "
                              "(Privacy Policy §8)."))


# -- spending a token once ------------------------------------------------------------

def spend(kind: str, jti: str, expires_at: datetime) -> bool:
    """Remember the token as used; False when it was used before. The unique (kind, jti)
    decides: of two requests with one token, even at the same instant, one insert wins
    and the other fails in the database."""
    try:
        with db.session.begin_nested():
            db.session.add(SpentToken(kind=kind, jti=jti, expires_at=expires_at, spent_at=utcnow()))
    except IntegrityError:
        return False
    return True


def forget_spent(now: datetime | None = None) -> int:
    """Drop the rows of tokens past their expiry: they are refused as expired anyway.
    Commits; the schedule runs it hourly."""
    gone = db.session.execute(delete(SpentToken).where(SpentToken.expires_at < (now or utcnow()))).rowcount
    db.session.commit()
    return gone


# -- the mailed link ------------------------------------------------------------------

def send_sign_in_links(email: str, asked: str) -> int:
    """One sign-in link per account with this address (any case), each naming its login;
    none for an erased account (privacy-8-erasure). The count is for the caller's log
    only: the page says the same whatever it is, so it tells nobody who has an account."""
    address = tickets.clean_text(email).lower()
    if not address:
        return 0
    accounts = db.session.execute(
        select(Customer).where(func.lower(Customer.email) == address, Customer.erased_at.is_(None))
        .order_by(Customer.login, Customer.id).limit(20)).scalars().all()
    minutes = current_app.config["PORTAL_LINK_MINUTES"]
    for customer in accounts:
        token = tokens.link_token(customer)
        subject, body = render("portal_sign_in.txt", customer=customer, minutes=minutes,
                               link=links.public_url(f"/portal/link/{token}"), several=len(accounts) > 1)
        # One mail per account and request (`asked`), however often the job runs.
        mail = compose(f"portal-sign-in:{customer.id}:{asked}", customer.email, subject, body)
        jobs.enqueue("workers.mail.deliver", mail.id)
    return len(accounts)


def customer_of_link(token: str) -> Customer:
    """The account a mailed link signs in to, or Refused: expired, changed, used, or the
    account's address changed or was erased since the link was sent."""
    found = tokens.read_link(token)
    if found is None:
        raise Refused("expired", N_("This sign-in link has expired or is not complete (links work for %(minutes)s "
                                    "minutes). Ask for a new one below."),
                      minutes=current_app.config["PORTAL_LINK_MINUTES"])
    customer = db.session.get(Customer, found[0]) if 0 < found[0] <= MAX_ID else None
    if customer is not None and customer.erased_at is not None:
        raise ERASED
    if customer is None or (customer.email or "").lower() != found[1]:
        raise Refused("changed", N_("This sign-in link is for an address the account no longer has. "
                                    "Ask for a new one below."))
    if customer.portal_epoch != found[2]:
        raise Refused("signed_out", N_("This sign-in link was sent before the account was signed out everywhere, "
                                       "so it no longer works. Ask for a new one below."))
    used = db.session.execute(select(SpentToken.id).where(
        SpentToken.kind == "link", SpentToken.jti == tokens.link_jti(token))).first()
    if used is not None:
        raise Refused("used", N_("This sign-in link was already used; each link works once. Ask for a new one below."))
    return customer


def sign_in_by_link(token: str) -> Customer:
    """Spend the link and sign the browser in; commits."""
    customer = customer_of_link(token)
    expires = utcnow() + timedelta(minutes=current_app.config["PORTAL_LINK_MINUTES"])
    if not spend("link", tokens.link_jti(token), expires):
        db.session.rollback()
        raise Refused("used", N_("This sign-in link was already used; each link works once. Ask for a new one below."))
    sessions.start(customer, via="link")
    db.session.commit()
    return customer


# -- single sign-on from the panel ----------------------------------------------------

def customer_of_sso(token, secret: str) -> tuple[tokens.SsoClaim, Customer]:
    """The panel's token checked (desk.portal.tokens) and its customer found, nothing spent;
    Refused for anything else."""
    claim = tokens.read_sso(token, secret, utcnow().timestamp())
    customer = find_customer(claim.customer)
    if customer is None:
        raise Refused("unknown_customer", N_("We have no account for this sign-in. If you just signed up, "
                                             "wait a minute and open the help desk from the panel again."))
    if customer.erased_at is not None:
        raise ERASED
    return claim, customer


def sign_in_by_sso(token, secret: str) -> Customer:
    """Spend the token's nonce and sign the browser in as its customer; commits."""
    claim, customer = customer_of_sso(token, secret)
    if not spend("sso", claim.nonce, datetime.fromtimestamp(claim.exp, timezone.utc)):
        db.session.rollback()
        raise Refused("replayed", N_("This sign-in link was already used; each works once. Please go back to the "
                                     "panel and open the help desk from there again."))
    sessions.start(customer, via="sso")
    db.session.commit()
    return customer


# -- the customer's tickets -----------------------------------------------------------

def _mine(customer: Customer):
    """The customer's tickets: those filed for the account, and — once the panel has
    verified the account's address — those sent from that address that no account claims;
    never trust & safety's cases (HIDDEN_KINDS). (Unverified, anyone could open a panel
    account with someone else's address and read what that person sent us.) Every portal
    page reads tickets through this, and nothing else (privacy-9-security: access controls)."""
    own = [Ticket.customer_id == customer.id]
    if customer.email and customer.email_verified:
        own.append(and_(Ticket.customer_id.is_(None), func.lower(Ticket.requester_email) == customer.email.lower()))
    return and_(or_(*own), Ticket.kind.not_in(HIDDEN_KINDS))


def encode_cursor(ticket: Ticket) -> str:
    return pagination.encode(ticket.updated_at, ticket.id)


def decode_cursor(cursor: str):
    values = pagination.decode(cursor, datetime, int)
    if values is None:
        raise DeskError("That page of your tickets could not be found: the link is damaged. "
                        "Start again from My tickets.", code="bad_cursor")
    return values


def my_tickets(customer: Customer, cursor: str | None, size: int) -> tuple[list[Ticket], str | None]:
    """One page of the customer's tickets, latest activity first, and the cursor of the next
    page (None on the last). Keyset: the next page starts after the last row shown."""
    query = (select(Ticket).where(_mine(customer)).options(selectinload(Ticket.clocks))
             .order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(size + 1))
    if cursor:
        query = query.where(tuple_(Ticket.updated_at, Ticket.id) < decode_cursor(cursor))
    rows = db.session.execute(query).scalars().all()
    more = len(rows) > size
    rows = rows[:size]
    return rows, (encode_cursor(rows[-1]) if more else None)


def find_mine(customer: Customer, reference: str) -> Ticket | None:
    """The customer's ticket with this reference; None for a ticket of someone else's, as
    for one that does not exist, so the two cannot be told apart."""
    if "\x00" in reference or len(reference) > 32:
        return None
    return db.session.execute(select(Ticket).where(
        Ticket.reference == reference.strip().upper(), _mine(customer))).scalar_one_or_none()


def moved_to(customer: Customer, ticket: Ticket) -> Ticket | None:
    """The customer's ticket a ticket of theirs was merged into, which its page leads to;
    None when it was not merged, or not into one of theirs (then they keep reading their
    own conversation on it, and nothing of the other)."""
    home = merge.final(ticket, requester=True)
    return find_mine(customer, home.reference) if home is not ticket else None


def my_orders(customer: Customer, cursor: str | None, size: int) -> tuple[list[Order], str | None]:
    """One page of the customer's orders, newest first, and the next page's cursor (None on
    the last). Keyset on (created_at, id), served by ix_orders_customer_created."""
    query = (select(Order).where(Order.customer_id == customer.id)
             .order_by(Order.created_at.desc(), Order.id.desc()).limit(size + 1))
    if cursor:
        after = pagination.decode(cursor, datetime, int)
        if after is None:
            raise DeskError("That page of your orders could not be found: the link is damaged. "
                            "Start again from My orders.", code="bad_cursor")
        query = query.where(tuple_(Order.created_at, Order.id) < after)
    rows = db.session.execute(query).scalars().all()
    more = len(rows) > size
    rows = rows[:size]
    return rows, (pagination.encode(rows[-1].created_at, rows[-1].id) if more else None)


def find_my_order(customer: Customer, panel_id: str) -> Order | None:
    """The customer's order with this panel id; None for someone else's, as for none."""
    order = find_order(panel_id) if panel_id and len(panel_id) <= MAX_PANEL_ID and "\x00" not in panel_id else None
    return order if order is not None and order.customer_id == customer.id else None


def my_requests(customer: Customer, limit: int = 50) -> list[MoneyRequest]:
    """The customer's refund, withdrawal, closure and restoration requests, newest first."""
    return db.session.execute(select(MoneyRequest).where(MoneyRequest.customer_id == customer.id)
                              .order_by(MoneyRequest.id.desc()).limit(limit)).scalars().all()


def find_my_request(customer: Customer, request_id: int) -> MoneyRequest | None:
    request = db.session.get(MoneyRequest, request_id) if 0 < request_id <= MAX_ID else None
    return request if request is not None and request.customer_id == customer.id else None


def promise(ticket: Ticket, now: datetime | None = None) -> str | None:
    """When we aim to answer, in a customer's words: the due time of the ticket's leading
    clock, and nothing of the targets, rules or breaches behind it."""
    if not ticket.is_open:
        return None
    if ticket.status == "waiting":
        return gettext("We are waiting for your reply.")
    clock = lead_clock(ticket)
    if clock is None or not clock.running or clock.due_at is None:
        return None
    if clock.due_at <= (now or utcnow()):
        return gettext("We are taking longer than we aim to, and will answer as soon as we can.")
    if ticket.first_response_at is None:
        return gettext("We aim to answer by %(when)s.", when=local_time(clock.due_at))
    return gettext("We aim to resolve this by %(when)s.", when=local_time(clock.due_at))


@dataclass
class NewQuestion:
    subject: str
    body: str
    uploads: list
    kind: str = "general"  # the API's customer session may also ask a billing question (CUSTOMER_KINDS)
    order: str | None = None  # one of the customer's own orders (the caller checks, find_my_order)


# What a customer files as a plain ticket. Claims, money requests and requests for more
# accounts have operations of their own that decide them; abuse and rights reports, privacy
# requests and chargebacks have their own intakes.
CUSTOMER_KINDS = ("general", "billing")


def address_of(customer: Customer) -> str:
    """The account's e-mail, where every answer goes; a clear 409 when it has none."""
    if not customer.email:
        raise DeskError("Your account has no e-mail address on record, and we answer by e-mail. Please add one "
                        "in the panel, then ask again.", code="no_email", status=409)
    return customer.email


def file_question(customer: Customer, data: NewQuestion) -> Ticket:
    """A question from the portal (or the API's customer session), filed for the account from
    its own address; commits and hands the acknowledgement to RQ."""
    ticket, _ = tickets.create_ticket(tickets.NewTicket(
        subject=data.subject, body=data.body, requester_email=address_of(customer),
        requester_name=customer.login or "", kind=data.kind, channel="portal", customer=customer.panel_id,
        order=data.order, uploads=data.uploads), sessions.actor_of(customer))
    return ticket


# -- the customer's requests: claims, money, more accounts, privacy -----------------------
# Each calls the desk's own service for that request, as the customer, for the account
# signed in: the portal decides nothing of its own.

def file_claim(customer: Customer, order: Order, kind: str, current_count: int | None, description: str,
               uploads: list):
    """(claim, created) on the customer's own order; commits."""
    return claims.file_claim(order, kind, current_count, sessions.actor_of(customer), description=description,
                             requester_email=address_of(customer), requester_name=customer.login or "",
                             channel="portal", uploads=uploads)


def money_ask(customer: Customer, kind: str, *, method: str | None = None, order: str | None = None,
              amount=None, description: str = "", shown=None) -> money.Ask:
    """The customer's money request as the billing desk reads it (checked, for this account)."""
    refund = kind == "refund"
    return money.check_ask(money.Ask(
        kind=kind, customer=customer.panel_id, method=method if refund else None,
        order=(order or "").strip() or None if refund else None,
        amount=amount if kind in ("refund", "withdrawal") else None, description=description,
        requester_email=address_of(customer), confirmed_amount=shown))


def file_money(customer: Customer, ask: money.Ask):
    """(request, created): filed for exactly the figures the customer confirmed
    (ask.confirmed_amount; terms-13-confirm), or FiguresChanged when the Terms now give
    others. Commits."""
    return money.file(ask, sessions.actor_of(customer), channel="portal")


def answer_money(customer: Customer, request: MoneyRequest, choice: str, shown=None) -> None:
    """The customer's answer on a request of theirs: confirm the figures, keep the Balance,
    or cancel it. Commits."""
    actor = sessions.actor_of(customer)
    if choice == "cancel":
        money.withdraw(request.id, actor)
    else:
        money.confirm(request.id, choice, actor, shown)


def ask_for_accounts(customer: Customer, category: str, wanted: int, need: str):
    """(request, created) for more than 10 accounts (terms-4-multi-account); commits."""
    address_of(customer)
    return accounts.file_request(customer, accounts.Ask(customer.panel_id, category, wanted, need),
                                 sessions.actor_of(customer), channel="portal")


def ask_privacy(customer: Customer, rights: list, jurisdiction: str, details: str):
    """A privacy-rights request for the account (privacy-10-rights). Signing in to the portal
    is not the identity check: the code goes to the account's address, as for every
    request (privacy-10-verify), and the customer types it on the request's page. Commits."""
    request = privacy.file(privacy.NewRequest(
        email=address_of(customer), rights=rights, jurisdiction=jurisdiction, details=details,
        name=customer.login or "", channel="portal", login=customer.login or ""), sessions.actor_of(customer))
    db.session.commit()
    jobs.dispatch()
    return request


def reply(customer: Customer, ticket: Ticket, body: str, uploads: list) -> None:
    """The customer's reply on their ticket (the requester link's own service); commits."""
    tickets.requester_reply(ticket, body, uploads, sessions.actor_of(customer))


def signed_out_everywhere(customer: Customer) -> None:
    sessions.end_everywhere(customer)
    db.session.commit()

