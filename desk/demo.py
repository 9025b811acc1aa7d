"""Demo data for looking at the desk: customers, orders and a few hundred tickets.

Everything goes through the same services as real intake, so the demo also exercises
redaction, the audit log and the outbox."""
import random
from datetime import timedelta
from decimal import Decimal

from desk.audit.services import Actor
from desk.claims.models import Customer, Order
from desk.extensions import db
from desk.tickets import services
from desk.tickets.models import Ticket
from desk.types import utcnow

FIRST = ["Ana", "Ravi", "Olga", "Lucas", "Mei", "Tomás", "Aisha", "Kenji", "Priya", "Diego", "Sofia", "Ivan",
         "Fatima", "Noah", "Chloe", "Arjun", "Lina", "Mateo", "Yuki", "Omar"]
LAST = ["Silva", "Sharma", "Petrova", "Martins", "Chen", "García", "Khan", "Tanaka", "Patel", "López", "Rossi",
        "Ivanov", "Haddad", "Müller", "Dubois", "Nair", "Costa", "Kim", "Sato", "Ali"]
PLATFORMS = [
    ("https://www.instagram.com/p/{}/", "Instagram Likes [Refill 30D]", True, 30, False),
    ("https://www.tiktok.com/@user{}/video/7{}", "TikTok Views", False, 0, False),
    ("https://youtube.com/watch?v={}", "YouTube Views [Guarantee 60D]", True, 60, True),
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
    ("refund", "Refund to my card",
     "I want my remaining balance back to my card please. I deposited last week and only used a little."),
    ("withdrawal", "Withdraw my balance",
     "How do I withdraw my deposited funds? I don't need the panel anymore."),
    ("general", "Is the API rate limited?",
     "We are integrating your API into our reseller panel. How many requests per minute can we make?"),
    ("general", "Order stuck in progress",
     "Order {order} has been in progress for 3 days. Is something wrong?"),
    ("closure", "Close my account",
     "Please close my account and tell me what happens to my balance."),
    ("restoration", "Account frozen - restore balance",
     "I logged in after a long time and my account is frozen. I had money on it. Please restore."),
    ("multi_account", "More than 10 accounts for my agency",
     "We run an agency and need 14 accounts for different clients. What do you need from us?"),
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
        customer = db.session.query(Customer).filter_by(panel_id=f"demo-{i}").one_or_none() or Customer(
            panel_id=f"demo-{i}", login=login, email=f"{login}@example.com", email_verified=rng.random() < .8,
            country=rng.choice(["SG", "IN", "BR", "US", "DE", "RU", "ES", "ID"]),
            last_login_at=now - timedelta(days=rng.randint(0, 60)),
        )
        db.session.add(customer)
        customers.append((customer, f"{first} {last}"))
    db.session.flush()
    orders = []
    for i in range(200):
        customer, _ = rng.choice(customers)
        template, tool_name, refill, refill_days, guarantee = rng.choice(PLATFORMS)
        quantity = rng.choice([100, 250, 500, 1000, 2500, 5000])
        charge = (Decimal(quantity) * Decimal(rng.choice(["0.0012", "0.0025", "0.004"]))).quantize(Decimal("0.01"))
        promo = (charge * Decimal(rng.choice(["0", "0", "0.2"]))).quantize(Decimal("0.01"))
        status = rng.choice(["pending", "in_progress", "completed", "completed", "partial", "canceled"])
        created = now - timedelta(hours=rng.randint(1, 24 * 20))
        fields = dict(
            panel_id=str(100000 + i), customer=customer, link=template.format(rng.randint(1000, 9999), rng.randint(10**8, 10**9)),
            quantity=quantity, charge=charge, charge_deposited=charge - promo, charge_promo=promo,
            start_count=rng.randint(0, 20000), remains=rng.randint(1, quantity - 1) if status == "partial" else 0,
            status=status, created_at=created, status_changed_at=created + timedelta(hours=rng.randint(1, 48)),
            tool={"id": str(rng.randint(1, 400)), "name": tool_name, "refill": refill, "refill_days": refill_days,
                  "refill_min_drop": 0, "guarantee": guarantee, "beta": "[Beta]" in tool_name},
        )
        # A second run reuses the orders of the first (as it does the customers) instead of
        # failing on their unique panel ids.
        order = db.session.query(Order).filter_by(panel_id=fields["panel_id"]).one_or_none()
        if order is None:
            order = Order(**fields)
            order.link_normalized = order.link.lower().replace("https://www.", "https://").rstrip("/")
            db.session.add(order)
        orders.append(order)
    db.session.commit()
    for n in range(count):
        customer, name = rng.choice(customers)
        order = rng.choice(orders)
        kind, subject, body = rng.choice(TOPICS)
        figures = {"order": order.panel_id, "pct": rng.randint(20, 80), "start": order.start_count,
                   "drop": rng.randint(50, 400)}
        data = services.NewTicket(
            subject=subject.format(**figures), body=body.format(**figures), requester_email=customer.email,
            requester_name=name, kind=kind, channel=rng.choice(["web", "api", "email"]),
            customer=customer.panel_id, order=order.panel_id if "{order}" in subject + body else None,
            priority=rng.choice(["low", "normal", "normal", "normal", "high", "urgent"]),
        )
        ticket, _ = services.create_ticket(data, Actor("system", None, "demo seed"))
        # Open work is mostly recent (some of it late); finished work spreads over a fortnight.
        ticket.status = rng.choice(["new", "new", "open", "open", "waiting", "on_hold", "resolved", "closed"])
        hours = 14 * 24 if ticket.status in ("resolved", "closed") else rng.choice([6, 12, 36])
        ticket.created_at = now - timedelta(minutes=rng.randint(5, hours * 60))
        ticket.due_at = services.first_response_due(ticket.queue, ticket.created_at)
        for message in ticket.messages:
            message.created_at = ticket.created_at
        db.session.commit()
        progress(1)
