"""The order and customer mirrors: the panel pushes, the desk keeps what it needs to
decide claims (DESIGN §6). Orders and ledger entries naming a customer the desk has not
seen create a bare record a later PUT completes; nothing is refused for arriving early."""
from datetime import datetime
from types import SimpleNamespace
from typing import Iterator, NamedTuple

from sqlalchemy import func, insert, select, update

from desk.audit.services import Actor, record, record_many
from desk.claims import feed
from desk.claims.models import CUSTOMER_STATUSES, ORDER_STATUSES, TARGET_STATES, Customer, Order, OrderStatusChange
from desk.claims.parse import Fields
from desk.errors import NotFound, ValidationError
from desk.extensions import db
from desk.policy.claims import FINISHED
from desk.policy.links import normalize_link
from desk.types import utcnow

TOOL_FLAGS = ("refill", "guarantee", "beta")


def find_customer(panel_id: str) -> Customer | None:
    if "\x00" in panel_id:  # no stored id holds a NUL, and PostgreSQL would refuse the query (a 500)
        return None
    return db.session.execute(select(Customer).where(Customer.panel_id == panel_id)).scalar_one_or_none()


def no_customer(panel_id: str) -> NotFound:
    """The 404 of an unknown customer; a customer session naming someone else gets this same
    answer, so the two cannot be told apart."""
    return NotFound(f"No customer {panel_id} is known to the desk. The panel pushes customers with "
                    f"PUT /api/v1/customers/{panel_id}; check the id.")


def customer_or_404(panel_id: str) -> Customer:
    customer = find_customer(panel_id)
    if customer is None:
        raise no_customer(panel_id)
    return customer


def find_by_email(email: str, login: str | None = None) -> Customer | None:
    """The one account with this e-mail (any case) and login, when several share the
    e-mail; None when there is none or more than one (public forms ask for the login then)."""
    query = select(Customer).where(func.lower(Customer.email) == email.strip().lower())
    if login and login.strip():
        query = query.where(Customer.login == login.strip())
    found = db.session.execute(query.limit(2)).scalars().all()
    return found[0] if len(found) == 1 else None


def ensure_customer(panel_id: str) -> Customer:
    customer = find_customer(panel_id)
    if customer is None:
        customer = Customer(panel_id=panel_id)
        db.session.add(customer)
        db.session.flush()
    return customer


def find_order(panel_id: str) -> Order | None:
    if "\x00" in str(panel_id):  # as in find_customer: not found, not a 500
        return None
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
        # A login sent as null is no login, as on a bare record ("", the column is NOT NULL).
        "login": f.string("login", max_len=120, default=""),
        "email": f.string("email", max_len=254),
        "email_verified": f.boolean("email_verified"),
        "country": f.string("country", max_len=2),
        "status": f.choice("status", CUSTOMER_STATUSES),
        "last_login_at": f.time("last_login_at"),
        "last_deposit_at": f.time("last_deposit_at"),
        "last_order_at": f.time("last_order_at"),
    }
    if "status" in body and data["status"] is None and "status" not in f.problems:
        # Every customer has a status: null (or "") cannot clear it, as it clears the e-mail.
        f.problems["status"] = f"one of {', '.join(CUSTOMER_STATUSES)}"
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
    customer.last_active_at = latest(customer.last_login_at, customer.last_deposit_at, customer.last_order_at)
    db.session.flush()
    record(actor, "customer.created" if created else "customer.updated", "customer", panel_id,
           fields=sorted(data))
    feed.customer_updated.send(None, customer=customer, body=body)
    db.session.commit()
    return customer, created


def latest(*times):
    known = [t for t in times if t is not None]
    return max(known) if known else None


ACTIVITY = {"deposit": "last_deposit_at", "charge": "last_order_at"}


def note_activity(events) -> None:
    """A deposit or a charge the feeds report is activity (terms-30-dormancy counts 12
    months from the latest login, deposit or order): (customer, kind, at) each; the
    customer's times only move forward."""
    for customer, kind, at in events:
        attr = ACTIVITY.get(kind)
        if attr and (getattr(customer, attr) is None or getattr(customer, attr) < at):
            setattr(customer, attr, at)
            customer.last_active_at = latest(customer.last_active_at, at)


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


def data_of(order: Order) -> dict:
    """A stored order as parse_order gives one, sending no history: change a few of its
    values and hand it to apply_batch, and the update takes the one path every update takes
    (status history, finished_at, the audit trail). status_changed_at is None: kept as stored."""
    data = {key: getattr(order, key) for key in ORDER_FIELDS + ("created_at", "tool")}
    data.update(customer=order.customer.panel_id, status_changed_at=None, history=[])
    return data


def upsert_order(panel_id: str, body: dict, actor: Actor, commit: bool = True) -> tuple[Order, bool]:
    """Create or update the mirror of one order. The status history grows from successive
    updates (or the `history` sent); the tool's flags are kept as they were at order time."""
    check_panel_id(panel_id)
    data, problems = parse_order(body)
    if problems:
        raise ValidationError("The order has problems: " + ", ".join(sorted(problems)) + ".", problems)
    return apply_order(panel_id, data, actor, commit)


def apply_order(panel_id: str, data: dict, actor: Actor, commit: bool = True) -> tuple[Order, bool]:
    """Create or update one order from parsed data (see apply_batch); (order, created)."""
    created, _ = apply_batch([(str(panel_id), data)], actor)
    if commit:
        db.session.commit()
    else:
        db.session.expire_all()  # the rows were written in bulk: reload, never serve stale objects
    return find_order(panel_id), bool(created)


def finished_at(order: Order):
    """When the order first reached a final status, from its history (else the panel's
    status_changed_at for a final status)."""
    finals = [c.at for c in order.history if c.status in FINISHED]
    if finals:
        return min(finals)
    if order.status in FINISHED:
        return order.status_changed_at or order.created_at
    return None



# --- applying orders in bulk ------------------------------------------------------------
# One order or a whole import batch takes the same few statements (the API sends one,
# import-orders a thousand): existing rows and histories are read per batch, new rows
# inserted and changed rows updated together, and the audit events chained in one go.

CHUNK = 500  # ids per IN (...): well inside SQLite's and PostgreSQL's parameter limits
ORDER_FIELDS = ("link", "link_normalized", "quantity", "charge", "charge_deposited", "charge_promo",
                "start_count", "remains", "status", "target_state")
UPDATED_FIELDS = ("customer_id",) + ORDER_FIELDS + ("status_changed_at", "finished_at")


class _Change(NamedTuple):  # an OrderStatusChange, as finished_at reads one
    status: str
    at: datetime


def _chunks(items: list) -> Iterator[list]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def _customer_ids(panel_ids: set[str]) -> dict[str, int]:
    """The customers' row ids, creating a bare record for any the desk has not seen
    (as ensure_customer does)."""
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(panel_ids)):
        found.update(db.session.execute(
            select(Customer.panel_id, Customer.id).where(Customer.panel_id.in_(chunk))).all())
    missing = sorted(panel_ids - found.keys())
    if missing:  # no RETURNING: SQLite would send it a row at a time; the ids are read back by panel id
        db.session.execute(insert(Customer.__table__), [{"panel_id": p} for p in missing])
        for chunk in _chunks(missing):
            found.update(db.session.execute(
                select(Customer.panel_id, Customer.id).where(Customer.panel_id.in_(chunk))).all())
    return found


def _existing_orders(panel_ids: set[str]) -> dict[str, dict]:
    columns = [Order.id, Order.panel_id, Order.created_at] + [getattr(Order, f) for f in UPDATED_FIELDS]
    orders: dict[str, dict] = {}
    for chunk in _chunks(sorted(panel_ids)):
        for row in db.session.execute(select(*columns).where(Order.panel_id.in_(chunk))).mappings():
            order = dict(row)
            order["stored"] = {f: row[f] for f in UPDATED_FIELDS}
            order["history"], order["new_history"] = [], []
            orders[order["panel_id"]] = order
    by_id = {o["id"]: o for o in orders.values()}
    for chunk in _chunks(sorted(by_id)):
        query = select(OrderStatusChange.order_id, OrderStatusChange.status, OrderStatusChange.at) \
            .where(OrderStatusChange.order_id.in_(chunk)).order_by(OrderStatusChange.at)
        for order_id, status, at in db.session.execute(query):
            by_id[order_id]["history"].append(_Change(status, at))
    return orders


def apply_batch(rows: list[tuple[str, dict]], actor: Actor) -> tuple[int, int]:
    """apply_order(panel_id, data, actor, commit=False) for each (panel_id, data) in turn,
    in bulk; returns (created, updated). Does not commit."""
    orders = _existing_orders({panel_id for panel_id, _ in rows})
    customers = _customer_ids({data["customer"] for _, data in rows})
    events = []  # (action, panel_id, before, after), in row order as record() would write them
    created_count = 0
    for panel_id, data in rows:
        order = orders.get(panel_id)
        created = order is None
        if created:
            order = {"id": None, "panel_id": panel_id, "tool": data["tool"], "created_at": data["created_at"],
                     "status": None, "status_changed_at": None, "history": [], "new_history": []}
            orders[panel_id] = order
            created_count += 1
        before = None if created else order["status"]
        order["customer_id"] = customers[data["customer"]]
        for key in ORDER_FIELDS:
            order[key] = data[key]
        order["status_changed_at"] = data["status_changed_at"] or order["status_changed_at"]
        changes = list(data["history"])
        if not changes and before != order["status"]:
            changes.append((order["status"], data["status_changed_at"] or (data["created_at"] if created else None)))
        known = set(order["history"])
        for status, at in changes:
            change = _Change(status, at or utcnow())
            if change not in known:
                order["history"].append(change)
                order["new_history"].append(change)
                known.add(change)
        if created or before != order["status"]:
            events.append(("order.created" if created else "order.status", panel_id, before, order["status"]))
    for order in orders.values():
        order["finished_at"] = finished_at(SimpleNamespace(
            history=order["history"], status=order["status"], status_changed_at=order["status_changed_at"],
            created_at=order["created_at"]))
    new = [o for o in orders.values() if o["id"] is None]
    if new:  # no RETURNING, as for customers
        keys = ("panel_id", "tool", "created_at") + UPDATED_FIELDS
        db.session.execute(insert(Order.__table__), [{k: o[k] for k in keys} for o in new])
        by_panel_id = {o["panel_id"]: o for o in new}
        for chunk in _chunks(list(by_panel_id)):
            for panel_id, order_id in db.session.execute(
                    select(Order.panel_id, Order.id).where(Order.panel_id.in_(chunk))):
                by_panel_id[panel_id]["id"] = order_id
    changed = [{"id": o["id"], **{f: o[f] for f in UPDATED_FIELDS}} for o in orders.values()
               if "stored" in o and any(o[f] != o["stored"][f] for f in UPDATED_FIELDS)]
    if changed:
        db.session.execute(update(Order), changed)  # by primary key; sets updated_at, as a flush would
    history = [{"order_id": o["id"], "status": s, "at": a} for o in orders.values() for s, a in o["new_history"]]
    if history:
        db.session.execute(insert(OrderStatusChange.__table__), history)
    record_many(actor, [(action, "order", panel_id, None, {"before": before, "after": after})
                        for action, panel_id, before, after in events])
    if new:
        _orders_are_activity(new)
        feed.orders_placed.send(None, orders=[(o["customer_id"], o["created_at"], o["charge_deposited"],
                                               o["panel_id"]) for o in new])
    return created_count, len(rows) - created_count


def _orders_are_activity(new: list[dict]) -> None:
    """New orders move their customers' last order time forward (as note_activity does),
    one UPDATE per customer."""
    newest: dict[int, datetime] = {}
    for order in new:
        at = order["created_at"]
        if order["customer_id"] not in newest or newest[order["customer_id"]] < at:
            newest[order["customer_id"]] = at
    for chunk in _chunks(sorted(newest)):
        for customer in db.session.execute(select(Customer).where(Customer.id.in_(chunk))).scalars():
            note_activity([(customer, "charge", newest[customer.id])])
