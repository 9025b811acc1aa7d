"""Demo data for looking at the desk: customers, orders and a few hundred tickets.

Everything goes through the same services as real intake, so the demo also exercises
redaction, the audit log and the outbox."""
import random
from datetime import timedelta
from decimal import Decimal

from desk.audit.services import Actor
from desk.claims.ledger import store_entries
from desk.claims.models import Customer, Order
from desk.claims.orders import upsert_order
from desk.policy.ledger import return_owed
from desk.extensions import db
from desk.macros.services import seed_claim_macros
from desk.sla import clocks
from desk.tickets import services
from desk.types import utcnow

DEMO = Actor("system", None, "demo seed")

FIRST = ["Ana", "Ravi", "Olga", "Lucas", "Mei", "Tomás", "Aisha", "Kenji", "Priya", "Diego", "Sofia", "Ivan",
         "Fatima", "Noah", "Chloe", "Arjun", "Lina", "Mateo", "Yuki", "Omar"]
LAST = ["Silva", "Sharma", "Petrova", "Martins", "Chen", "García", "Khan", "Tanaka", "Patel", "López", "Rossi",
        "Ivanov", "Haddad", "Müller", "Dubois", "Nair", "Costa", "Kim", "Sato", "Ali"]
PLATFORMS = [
    ("https://www.instagram.com/p/{}/", "Instagram Likes [Refill 30D]", True, 30, False),
    ("https://www.tiktok.com/@user{}/video/7{}", "TikTok Views", False, 0, False),
    ("https://youtube.com/watch?v=dQw4w9W{}", "YouTube Views [Guarantee 60D]", True, 60, True),
    ("https://twitter.com/user{}/status/1{}", "X Followers [Beta]", False, 0, False),
    ("https://t.me/channel{}", "Telegram Members [Refill 15D]", True, 15, False),
]
TOPICS = [
    ("claim", "Order {order} only delivered part of the quantity",
     "Hi, my order {order} says completed but I only received about {pct}% of what I paid for. Start count was {start}. Can you check?"),
    ("refill", "Refill request for order {order}",
     "The likes on order {order} dropped by {drop} since yesterday. The service says refill 30 days, please refill."),
    ("cancel", "Please cancel order {order}",
     "I put the wrong link on order {order}, please cancel it before it starts."),
    ("general", "Order stuck in progress",
     "Order {order} has been in progress for 3 days. Is something wrong?"),
    ("general", "Payment went through but balance not updated",
     "I paid with my card 4111 1111 1111 1111 an hour ago but the balance still shows 0. Please help!"),
]


def seed(count: int = 300, seed_value: int = 7, progress=lambda n: None) -> None:
    rng = random.Random(seed_value)
    now = utcnow()
    customers = []
    for i in range(60):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        login = f"{first.lower()}{last.lower()[:3]}{i}"
        # Every random draw happens on every run, so a second seed makes the same choices.
        fields = dict(panel_id=f"demo-{i}", login=login, email=f"{login}@example.com",
                      email_verified=rng.random() < .8, country=rng.choice(["SG", "IN", "BR", "US", "DE", "RU", "ES", "ID"]),
                      last_login_at=now - timedelta(days=rng.randint(0, 60)))
        customer = db.session.query(Customer).filter_by(panel_id=fields["panel_id"]).one_or_none() or Customer(**fields)
        db.session.add(customer)
        customers.append((customer, f"{first} {last}"))
    db.session.flush()
    orders = _seed_orders(rng, customers, now)
    _seed_ledger(rng, customers, orders, now)
    _seed_claims(rng, orders, now)
    _seed_money(customers)
    _seed_abuse([c for c, _ in customers], orders)
    _seed_privacy([c for c, _ in customers], orders)
    _seed_mail([c for c, _ in customers])
    for n in range(count):
        customer, name = rng.choice(customers)
        order = rng.choice(orders)
        # Each topic once first (so even a small demo shows all of them), then at random.
        kind, subject, body = TOPICS[n] if n < len(TOPICS) else rng.choice(TOPICS)
        figures = {"order": order.panel_id, "pct": rng.randint(20, 80), "start": order.start_count,
                   "drop": rng.randint(50, 400)}
        data = services.NewTicket(
            subject=subject.format(**figures), body=body.format(**figures), requester_email=customer.email,
            requester_name=name, kind=kind, channel=rng.choice(["web", "api", "email"]),
            customer=customer.panel_id, order=order.panel_id if "{order}" in subject + body else None,
            priority=rng.choice(["low", "normal", "normal", "normal", "high", "urgent"]),
        )
        # Open work is mostly recent (some of it late); finished work spreads over a fortnight.
        status = rng.choice(["new", "new", "open", "open", "waiting", "on_hold", "resolved", "closed"])
        hours = 14 * 24 if status in ("resolved", "closed") else rng.choice([6, 12, 36])
        data.received_at = now - timedelta(minutes=rng.randint(5, hours * 60))
        ticket, _ = services.create_ticket(data, DEMO)
        _play_clocks(rng, ticket, status, now)
        if status == "resolved" and not ticket.serious_harm and rng.random() < .6:
            _answer_survey(rng, ticket, now)
        db.session.commit()
        progress(1)
    # The Claims queue's "Accept claim" and "Reject claim" macros (their words come from
    # desk.claims.replies when applied); a second seed leaves them as they are.
    seed_claim_macros()


def _answer_survey(rng, ticket, now) -> None:
    """A satisfaction answer on a resolved demo ticket, so the dashboard shows figures."""
    from desk.csat.models import Survey

    if db.session.query(Survey.id).filter_by(ticket_id=ticket.id).first():
        return
    sent = ticket.updated_at if ticket.updated_at <= now else now
    db.session.add(Survey(ticket=ticket, queue=ticket.queue, sent_at=sent, rating=rng.choice(["good"] * 4 + ["bad"]),
                          answered_at=min(sent + timedelta(hours=rng.randint(1, 48)), now)))


def _play_clocks(rng, ticket, status, now) -> None:
    """Walk a demo ticket's clocks to `status` as if staff had worked it, so the queue and
    the dashboard show answered, waiting, late and on-time work."""
    start = ticket.created_at
    if status != "new":
        answered = min(start + timedelta(minutes=rng.choice([20, 90, 200, 600, 1500])), now)
        clocks.staff_acted(ticket, answered, public_reply=True)
        ticket.first_response_at = answered
        if status != "open":
            done = min(answered + timedelta(minutes=rng.randint(10, 3000)), now)
            clocks.status_changed(ticket, "open", status, done)
        ticket.status = status


def _seed_orders(rng, customers, now) -> list[Order]:
    """Orders through the same mirror code the panel's PUT uses. A few share a link with
    an earlier order so the overlap rule has something to find."""
    orders = []
    for i in range(200):
        customer, _ = rng.choice(customers)
        template, tool_name, refill, refill_days, guarantee = rng.choice(PLATFORMS)
        quantity = rng.choice([100, 250, 500, 1000, 2500, 5000])
        charge = (Decimal(quantity) * Decimal(rng.choice(["0.0012", "0.0025", "0.004"]))).quantize(Decimal("0.01"))
        promo = (charge * Decimal(rng.choice(["0", "0", "0.2"]))).quantize(Decimal("0.01"))
        status = rng.choice(["pending", "in_progress", "completed", "completed", "completed", "partial", "canceled"])
        created = now - timedelta(hours=rng.randint(6, 24 * 20))
        link = template.format(rng.randint(1000, 9999), rng.randint(10**8, 10**9))
        if orders and rng.random() < 0.08:
            link = orders[-1]["link"] + "?utm_source=panel"  # the same target, written differently
        finished = created + timedelta(hours=rng.randint(1, 48))
        body = {
            "customer": customer.panel_id, "link": link, "quantity": quantity, "charge": str(charge),
            "charge_deposited": str(charge - promo), "charge_promo": str(promo),
            "start_count": rng.randint(0, 20000), "status": status,
            "remains": rng.randint(1, quantity - 1) if status == "partial" else (quantity if status == "canceled" else 0),
            "created_at": created.isoformat(),
            "history": [{"status": "pending", "at": created.isoformat()}] + (
                [{"status": status, "at": finished.isoformat()}] if status != "pending" else []),
            "status_changed_at": (finished if status != "pending" else created).isoformat(),
            "tool": {"id": str(rng.randint(1, 400)), "name": tool_name, "refill": refill, "refill_days": refill_days,
                     "refill_min_drop": 0, "guarantee": guarantee, "beta": "[Beta]" in tool_name},
        }
        if rng.random() < 0.05:
            body["target_state"] = rng.choice(["private", "removed", "changed"])
        order, _ = upsert_order(str(100000 + i), body, DEMO, commit=False)
        orders.append({"order": order, "link": link})
    db.session.commit()
    return [o["order"] for o in orders]


def _seed_ledger(rng, customers, orders, now) -> None:
    """Deposits, promo credits, charges and most (not all) automatic returns."""
    entries = []
    promo_spent = {}
    for order in orders:
        promo_spent[order.customer_id] = promo_spent.get(order.customer_id, 0) + order.charge_promo
    for customer, _ in customers:
        entries.append({"id": f"demo-dep-{customer.panel_id}", "customer": customer.panel_id, "kind": "deposit",
                        "amount": str(rng.choice([10, 25, 50, 100])) + ".00", "processor_fee": "0.30",
                        "method": rng.choice(["card", "crypto", "paypal"]), "at": (now - timedelta(days=25)).isoformat()})
        # Promotional Credit covers whatever the demo orders charged to it, and sometimes more.
        promo = promo_spent.get(customer.id, 0) + (2 if rng.random() < 0.4 else 0)
        if promo:
            entries.append({"id": f"demo-promo-{customer.panel_id}", "customer": customer.panel_id,
                            "kind": "promo_credit", "amount": f"{promo:.2f}", "source": "WELCOME10",
                            "at": (now - timedelta(days=24)).isoformat()})
    for order in orders:
        at = order.created_at.isoformat()
        for funding, amount in (("deposited", order.charge_deposited), ("promotional", order.charge_promo)):
            if amount > 0:
                entries.append({"id": f"demo-charge-{order.panel_id}-{funding}", "customer": order.customer.panel_id,
                                "kind": "charge", "amount": str(amount), "funding": funding,
                                "order": order.panel_id, "at": at})
        owed = return_owed(order)
        if owed and rng.random() < 0.8:  # a fifth are left missing for the returns check to find
            for funding, amount in (("deposited", owed.deposited), ("promotional", owed.promotional)):
                if amount > 0:
                    entries.append({"id": f"demo-return-{order.panel_id}-{funding}",
                                    "customer": order.customer.panel_id, "kind": "return", "amount": str(amount),
                                    "funding": funding, "order": order.panel_id,
                                    "at": (order.finished_at or order.created_at).isoformat()})
    for start in range(0, len(entries), 500):
        store_entries({"entries": entries[start:start + 500]}, DEMO)


# Two refunds, a withdrawal, a closure, a chargeback case, a restoration and a request for
# more accounts, three abuse and rights-holder cases, four privacy requests and one ticket
# by e-mail: tickets the demo files through their own services. A second report joins the
# fraud case as one more requester message.
EXTRA_TICKETS = 15
EXTRA_REQUESTER_MESSAGES = EXTRA_TICKETS + 1


def _seed_money(customers) -> None:
    """Money requests at each step of their flow, a chargeback case and a frozen account,
    all through the same services as the API (desk.money); then the accounts part."""
    from desk.money import dormancy, requests

    def ask(kind, customer, **fields):
        existing = requests.find_open(requests.open_key(kind, customer, fields.get("order")))
        if existing is None:
            return requests.file(requests.Ask(kind=kind, customer=customer.panel_id, **fields), DEMO, channel="web")[0]
        return existing

    people = [c for c, _ in customers]
    ask("refund", people[0], method="original", description="I would like my remaining balance back on my card.")
    ask("refund", people[1], method="original", amount=Decimal("5.00"),
        description="Part of my balance back, please.")
    withdrawal = ask("withdrawal", people[2], description="I don't need the panel any more.")
    if withdrawal.status == "awaiting_confirmation" and withdrawal.amount:
        requests.confirm(withdrawal.id, "confirm", Actor("requester", None, people[2].email))
    ask("closure", people[3], description="Please close my account; what happens to my balance?")
    store_entries({"entries": [{"id": f"demo-cb-{people[4].panel_id}", "customer": people[4].panel_id,
                                "kind": "chargeback", "amount": "10.00", "funding": "deposited",
                                "processor_fee": "15.00", "at": utcnow().isoformat()}]}, DEMO)
    # An account nobody used for 13 months: the dormancy run freezes it; its owner asks back.
    sleeper = people[5]
    sleeper.last_login_at = sleeper.last_deposit_at = sleeper.last_order_at = None
    sleeper.last_active_at = utcnow() - timedelta(days=400)
    sleeper.email_verified = False
    db.session.commit()
    dormancy.run()
    ask("restoration", sleeper, description="I logged in after a long time and my account is frozen.")
    _seed_accounts(people)


def _seed_accounts(people) -> None:
    """Two accounts seen on one IP address that both redeemed WELCOME10 (a flag on both
    customer pages, terms-12-promo), and an agency asking for 14 accounts."""
    from desk.accounts import identifiers
    from desk.accounts import services as accounts

    pair = people[6:8]
    store_entries({"entries": [{"id": f"demo-promo2-{c.panel_id}", "customer": c.panel_id, "kind": "promo_credit",
                                "amount": "3.00", "source": "WELCOME10", "at": utcnow().isoformat()}
                               for c in pair]}, DEMO)
    identifiers.remember({c.id: {("ip", "203.0.113.7")} for c in pair})
    db.session.commit()
    agency = people[8]
    accounts.file_request(agency, accounts.Ask(agency.panel_id, "agency", 14,
                                               "We run an agency and need one account per client brand, to keep "
                                               "their budgets and reports apart."), DEMO, channel="web")


# Trust & safety's two demo members: a forfeiture proposed by one waits for the other.
TRUST_SAFETY = ("trust@desk.example.com", "trust2@desk.example.com")


def _seed_abuse(people, orders) -> None:
    """Abuse and rights-holder cases through the public intake (desk.abuse): a fraud case
    two reporters merged into, with a warning sent and a forfeiture waiting for a second
    approval; a serious-harm case (worked at once, the account held); a report waiting for
    its link; a rights holder's trademark notice. Run twice, nothing is added."""
    import secrets

    from sqlalchemy import select

    from desk.abuse import enforcement, intake
    from desk.abuse.models import Report
    from desk.auth.services import create_staff, find_staff
    from desk.claims.ledger import customer_balances

    if db.session.execute(select(Report.id).limit(1)).first():
        return
    staff = [find_staff(email) or create_staff(email, "trust_safety", secrets.token_urlsafe(12), DEMO,
                                               name=f"Trust & Safety {n}")
             for n, email in enumerate(TRUST_SAFETY, start=1)]

    def report(email, **fields):
        data = intake.NewReport(reporter_email=email, channel="web", **{"kind": "abuse", **fields})
        filed = intake.file_report(data, Actor("requester", None, email))
        return intake.confirm(filed, Actor("requester", None, email))

    scam, harm = orders[3], orders[11]
    first = report("watchdog@consumer-group.example", category="3.2", links=[scam.link],
                   description="This page promises 40% a week on crypto deposits: a Ponzi scheme.")
    report("victim@mailbox.example", category="3.2", links=[scam.link.upper().replace("HTTPS", "http")],
           description="I lost money to the page this panel is promoting.")
    case = first.case
    account = scam.customer.panel_id
    enforcement.propose(case, staff[0], "warning", account=account,
                        reason="Your order promoted a page running an investment scheme that promises guaranteed "
                               "returns (AUP 3.2). Further orders of this kind will lead to suspension.")
    if customer_balances(scam.customer).deposited > 0:
        enforcement.propose(case, staff[0], "forfeit_deposited", account=account,
                            reason="Repeated promotion of fraudulent investment pages after a warning.")
    report("hotline@child-safety.example", category="3.1", links=[harm.link],
           description="The promoted account exploits minors.")
    report("someone@mailbox.example", category="4.3", description="",
           links=[])  # kept as "needs info" (aup-6-report)
    report("legal@acme-brands.example", kind="rights", category="3.4", right="trademark", work="ACME",
           registration="EUTM 018000001", good_faith=True, links=["https://acme-outlet.example/shop"],
           description="The promoted shop sells counterfeit ACME goods under our registered mark.")


PRIVACY_OFFICER = "privacy@desk.example.com"


def _seed_privacy(people, orders) -> None:
    """Privacy requests through their own services (desk.privacy): an access request
    waiting for the requester's code; an access and portability request verified, its
    export queued for the worker and then the officer's review; a Californian opt-out
    answered; and a deletion from the serious-harm case's account, deferred by its hold.
    Run twice, nothing is added."""
    import secrets

    from sqlalchemy import select

    from desk.auth.services import create_staff, find_staff
    from desk.privacy import erasure, requests
    from desk.privacy.models import PrivacyRequest

    if db.session.execute(select(PrivacyRequest.id).limit(1)).first():
        return
    officer = find_staff(PRIVACY_OFFICER) or create_staff(PRIVACY_OFFICER, "privacy_officer",
                                                          secrets.token_urlsafe(12), DEMO, name="Privacy Officer")

    def ask(customer, rights, jurisdiction, details=""):
        return requests.file(requests.NewRequest(email=customer.email, rights=rights, jurisdiction=jurisdiction,
                                                 details=details, channel="web"), DEMO)

    ask(people[9], ["access"], "eu")
    copy = ask(people[10], ["access", "portability"], "eu", "Please send everything you hold on my account.")
    requests.verify_by_staff(copy, officer, "Replied from the account's address and named two recent orders")
    opt_out = ask(people[11], ["opt_out"], "ca")
    requests.verify_by_staff(opt_out, officer, "Confirmed by a reply from the account's e-mail address")
    requests.apply_flags(opt_out, officer)
    held = orders[11].customer  # the serious-harm case's account (see _seed_abuse)
    deletion = ask(held, ["deletion"], "eu", "Delete my account and everything about me.")
    requests.verify_by_staff(deletion, officer, "Confirmed by a reply from the account's e-mail address")
    requests.start_erasure(deletion, officer)
    erasure.erase(deletion.id)  # what the job does: deferred while the hold stands
    db.session.commit()


def _seed_mail(people) -> None:
    """Mail through the desk's own intake (desk.mail.inbound): a customer's e-mail to
    support@, a stranger's reply to it held for review, and a message too broken to read,
    quarantined. Each has a fixed Message-ID, so a second run adds nothing."""
    from email.message import EmailMessage

    from desk.mail import inbound

    customer = people[12]

    def message(sender, subject, body, message_id, **headers) -> bytes:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = sender, "support@mail.smmpanelus.com", subject, message_id
        for name, value in headers.items():
            msg[name.replace("_", "-")] = value
        msg.set_content(body)
        return msg.as_bytes()

    first = inbound.ingest(message(customer.email, "Refill for my YouTube views?",
                                   "Hello,\n\nMy views dropped by half since last week. Can you refill them?\n\nThanks",
                                   "<demo-mail-1@example.com>"), ["support@mail.smmpanelus.com"])
    inbound.ingest(message("someone.else@example.net", f"Re: [{first.ticket}] Refill for my YouTube views?",
                           "This is my account too, please send the refund to me.", "<demo-mail-2@example.net>",
                           In_Reply_To="<demo-mail-1@example.com>"), ["support@mail.smmpanelus.com"])
    inbound.ingest(b"From: scanner@printer.example\r\nSubject: Scan\r\nMessage-ID: <demo-mail-3@printer.example>\r\n"
                   b'Content-Type: multipart/mixed; boundary="lost"\r\n\r\n%PDF-1.4 truncated scan\r\n',
                   ["support@mail.smmpanelus.com"])


def _seed_claims(rng, orders, now) -> None:
    """A few dozen claims filed through the claims engine, so the Claims queue shows decisions."""
    from desk.claims.services import file_claim

    for order in rng.sample(orders, 40):
        kind = rng.choice(["non_delivery", "wrong_quantity", "refill", "refill", "cancel"])
        current = None
        if kind == "refill" and order.start_count is not None:
            current = order.start_count + rng.randint(-50, order.quantity)
        file_claim(order, kind, current, DEMO, description="Please check this order.", channel="web")
