"""The order and customer mirrors: the panel pushes, the desk keeps what it needs to
decide claims (DESIGN §6). Orders and ledger entries naming a customer the desk has not
seen create a bare record a later PUT completes; nothing is refused for arriving early."""
from sqlalchemy import select

from desk.audit.services import Actor, record
from desk.claims.models import CUSTOMER_STATUSES, ORDER_STATUSES, TARGET_STATES, Customer, Order, OrderStatusChange
from desk.claims.parse import Fields
from desk.errors import ValidationError
from desk.extensions import db
from desk.policy.claims import FINISHED
from desk.policy.links import normalize_link
from desk.types import utcnow

TOOL_FLAGS = ("refill", "guarantee", "beta")


def find_customer(panel_id: str) -> Customer | None:
    return db.session.execute(select(Customer).where(Customer.panel_id == panel_id)).scalar_one_or_none()


def ensure_customer(panel_id: str) -> Customer:
    customer = find_customer(panel_id)
    if customer is None:
        customer = Customer(panel_id=panel_id)
        db.session.add(customer)
        db.session.flush()
    return customer


def find_order(panel_id: str) -> Order | None:
    return db.session.execute(select(Order).where(Order.panel_id == str(panel_id))).scalar_one_or_none()


def check_panel_id(panel_id: str) -> None:
    """The id in the URL names a row by a String(64) column: a longer one (or a NUL) would
    fail in the database, so it is refused with a clear 422."""
    f = Fields({"panel_id": panel_id})
    f.string("panel_id", required=True, max_len=64)
    if f.problems:
        raise ValidationError("The id in the URL has problems: panel_id.", f.problems)


def parse_customer(body: dict) -> dict:
    f = Fields(body)
    data = {
        "login": f.string("login", max_len=120),
        "email": f.string("email", max_len=254),
        "email_verified": f.boolean("email_verified"),
        "country": f.string("country", max_len=2),
        "status": f.choice("status", CUSTOMER_STATUSES),
        "last_login_at": f.time("last_login_at"),
        "last_deposit_at": f.time("last_deposit_at"),
        "last_order_at": f.time("last_order_at"),
    }
    if f.problems:
        raise ValidationError("The customer record has problems: " + ", ".join(sorted(f.problems)) + ".", f.problems)
    return {k: v for k, v in data.items() if k in body}


def upsert_customer(panel_id: str, body: dict, actor: Actor) -> tuple[Customer, bool]:
    check_panel_id(panel_id)
    data = parse_customer(body)
    customer = find_customer(panel_id)
    created = customer is None
    if created:
        customer = Customer(panel_id=panel_id)
        db.session.add(customer)
    for key, value in data.items():
        setattr(customer, key, value.upper() if key == "country" and value else value)
    db.session.flush()
    record(actor, "customer.created" if created else "customer.updated", "customer", panel_id,
           fields=sorted(data))
    db.session.commit()
    return customer, created


def parse_order(body: dict, prefix: str = "") -> tuple[dict, dict]:
    """(values, problems) for an order body as in DESIGN §6."""
    f = Fields(body, prefix)
    data = {
        "customer": f.string("customer", required=True, max_len=64),
        "link": f.string("link", required=True),
        "quantity": f.integer("quantity", required=True, minimum=1),
        "charge": f.money("charge", required=True),
        "charge_deposited": f.money("charge_deposited"),
        "charge_promo": f.money("charge_promo"),
        "start_count": f.integer("start_count"),
        "remains": f.integer("remains", default=0),
        "status": f.choice("status", ORDER_STATUSES, required=True),
        "created_at": f.time("created_at", required=True),
        "status_changed_at": f.time("status_changed_at"),
        "target_state": f.choice("target_state", TARGET_STATES, default="ok"),
    }
    problems = f.problems
    charge, deposited, promo = data["charge"], data["charge_deposited"], data["charge_promo"]
    if charge is not None:
        if deposited is None and promo is None:
            deposited, promo = charge, charge - charge  # all paid from Deposited Funds
        elif deposited is None:
            deposited = charge - promo
        elif promo is None:
            promo = charge - deposited
        if deposited is not None and promo is not None and (deposited + promo != charge or deposited < 0 or promo < 0):
            problems[f"{prefix}charge"] = "charge_deposited + charge_promo must equal charge"
        data["charge_deposited"], data["charge_promo"] = deposited, promo
    if data["remains"] is not None and data["quantity"] is not None and data["remains"] > data["quantity"]:
        problems[f"{prefix}remains"] = "at most the quantity"
    tool = body.get("tool") or {}
    if not isinstance(tool, dict):
        problems[f"{prefix}tool"] = "an object with the tool's flags"
        tool = {}
    tf = Fields(tool, f"{prefix}tool.")
    data["tool"] = {
        "id": tf.string("id", max_len=64),
        "name": tf.string("name", max_len=300),
        "refill": tf.boolean("refill"),
        # A window is added to the completion time: beyond a century it would overflow the
        # calendar (a 500 on every refill decision) and means nothing anyway.
        "refill_days": tf.integer("refill_days", default=0, maximum=36500),
        "refill_min_drop": tf.integer("refill_min_drop", default=0),
        "guarantee": tf.boolean("guarantee"),
        "beta": tf.boolean("beta"),
    }
    problems.update(tf.problems)
    history = body.get("history")
    data["history"] = []
    if history is not None:
        if not isinstance(history, list):
            problems[f"{prefix}history"] = "a list of {status, at}"
        else:
            for i, item in enumerate(history):
                hf = Fields(item if isinstance(item, dict) else {}, f"{prefix}history[{i}].")
                status, at = hf.choice("status", ORDER_STATUSES, required=True), hf.time("at", required=True)
                problems.update(hf.problems)
                if status and at:
                    data["history"].append((status, at))
    if data["link"] is not None:
        data["link_normalized"] = normalize_link(data["link"])
    return data, problems


def upsert_order(panel_id: str, body: dict, actor: Actor, commit: bool = True) -> tuple[Order, bool]:
    """Create or update the mirror of one order. The status history grows from successive
    updates (or the `history` sent); the tool's flags are kept as they were at order time."""
    check_panel_id(panel_id)
    data, problems = parse_order(body)
    if problems:
        raise ValidationError("The order has problems: " + ", ".join(sorted(problems)) + ".", problems)
    return apply_order(panel_id, data, actor, commit)


def apply_order(panel_id: str, data: dict, actor: Actor, commit: bool = True) -> tuple[Order, bool]:
    order = find_order(panel_id)
    created = order is None
    customer = ensure_customer(data["customer"])
    if created:
        # The tool's flags are copied once: a later change to the catalogue does not
        # change what this order was sold with (Terms §10 "shown for the tool at order time").
        order = Order(panel_id=str(panel_id), tool=data["tool"], created_at=data["created_at"])
        db.session.add(order)
    before = None if created else order.status
    order.customer = customer
    for key in ("link", "link_normalized", "quantity", "charge", "charge_deposited", "charge_promo",
                "start_count", "remains", "status", "target_state"):
        setattr(order, key, data[key])
    order.status_changed_at = data["status_changed_at"] or order.status_changed_at
    changes = list(data["history"])
    if not changes and before != order.status:
        changes.append((order.status, data["status_changed_at"] or (data["created_at"] if created else None)))
    known = {(c.status, c.at) for c in order.history}
    for status, at in changes:
        at = at or utcnow()
        if (status, at) not in known:
            order.history.append(OrderStatusChange(status=status, at=at))
            known.add((status, at))
    order.finished_at = finished_at(order)
    db.session.flush()
    if created or before != order.status:
        record(actor, "order.created" if created else "order.status", "order", order.panel_id,
               before=before, after=order.status)
    if commit:
        db.session.commit()
    return order, created


def finished_at(order: Order):
    """When the order first reached a final status, from its history (else the panel's
    status_changed_at for a final status)."""
    finals = [c.at for c in order.history if c.status in FINISHED]
    if finals:
        return min(finals)
    if order.status in FINISHED:
        return order.status_changed_at or order.created_at
    return None

