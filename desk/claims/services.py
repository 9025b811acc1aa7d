"""Claims: facts from the mirror, the decision from desk.policy.claims, and the claim
ticket that carries it to the Claims queue."""
from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from desk import jobs
from desk.audit.services import Actor, record
from desk.auth.roles import allows
from desk.claims.models import TARGET_STATES, Claim, LedgerEntry, Order
from desk.claims.orders import find_order
from desk.claims.parse import Fields
from desk.errors import DeskError, NotFound, ValidationError
from desk.extensions import db
from desk.panel import actions as panel_actions
from desk.policy import claims as policy
from desk.policy import ledger as ledger_policy
from desk.tickets import merge
from desk.tickets import services as tickets
from desk.tickets.models import OPEN_STATUSES, Ticket, TicketMove
from desk.types import utcnow
from desk.webhooks import services as webhooks
from desk.policy.words import N_
from desk.policy.words import stored as stored_words

KIND_LABELS = {
    "non_delivery": "Not delivered", "wrong_quantity": "Wrong quantity", "not_as_described": "Not as described",
    "refill": "Refill", "cancel": "Cancel",
}
# The same kinds in a customer's words, for the claim form.
CUSTOMER_KIND_LABELS = {
    "non_delivery": N_("The order was not delivered"), "wrong_quantity": N_("The quantity delivered is wrong"),
    "not_as_described": N_("It does not match the tool's description"), "refill": N_("I need a refill (the count dropped)"),
    "cancel": N_("Cancel the order"),
}
TICKET_KINDS = {"refill": "refill", "cancel": "cancel"}  # the rest are "claim" tickets
CLAIMS_ENGINE = Actor("system", None, "claims engine")


# What a decision reads of an order, as the table's columns: the decision's SELECT is a Core
# statement (plain rows, the columns' types; none of the ORM's per-statement work, a fifth
# of an API decision's CPU).
ORDERS = Order.__table__
ORDER_FACT_COLUMNS = tuple(ORDERS.c[name] for name in (
    "id", "panel_id", "status", "link_normalized", "quantity", "created_at", "finished_at", "start_count", "remains",
    "charge", "charge_promo", "target_state", "overlap_elsewhere", "tool",
))
# The order named by :order_id and every order on its link, in one statement. Built once: a
# statement made afresh per call cost as much CPU to build as to run.
FACTS_ON_LINK = select(*ORDER_FACT_COLUMNS).where(ORDERS.c.link_normalized == select(ORDERS.c.link_normalized).where(
    ORDERS.c.panel_id == bindparam("order_id")).scalar_subquery())



def stored_reasons(decision) -> list[dict]:
    """A decision's reasons as a claim keeps them: the API's form plus, where the sentence
    has a message id, the id and its figures, so the portal can show it in the customer's
    language later (desk.i18n.say) while `text` stays the English staff read."""
    out = decision.to_dict()["reasons"]
    for row, reason in zip(out, decision.reasons):
        if reason.words is not None:
            row["words"] = stored_words(reason.words)
    return out

def facts(order) -> policy.OrderFacts:
    """Plain facts for the policy, from an Order or a row of ORDER_FACT_COLUMNS."""
    tool = order.tool or {}
    return policy.OrderFacts(
        panel_id=order.panel_id, status=order.status, link=order.link_normalized, quantity=order.quantity,
        created_at=order.created_at, finished_at=order.finished_at, start_count=order.start_count,
        remains=order.remains or 0, charge=order.charge, charge_promo=order.charge_promo,
        target_state=order.target_state, overlap_elsewhere=order.overlap_elsewhere,
        tool=policy.Tool(refill=bool(tool.get("refill")), refill_days=int(tool.get("refill_days") or 0),
                         refill_min_drop=int(tool.get("refill_min_drop") or 0),
                         guarantee=bool(tool.get("guarantee")), beta=bool(tool.get("beta")),
                         name=tool.get("name") or ""),
    )


def orders_on_link(order: Order) -> list[Order]:
    """Other orders on the same normalised link (the index on link_normalized serves it)."""
    return list(db.session.execute(
        select(Order).where(Order.link_normalized == order.link_normalized, Order.id != order.id)
        .order_by(Order.created_at)
    ).scalars())


def parse_claim(body: dict) -> tuple[str, str, int | None, datetime | None]:
    f = Fields(body)
    order_id = f.string("order", required=True, max_len=64)
    kind = body.get("kind")
    if kind not in policy.KINDS:
        raise DeskError(f"kind must be one of: {', '.join(policy.KINDS)}.", {"kind": f"one of {', '.join(policy.KINDS)}"},
                        code="invalid_kind", status=400)
    current = f.integer("current_count")
    at = f.time("at")
    if f.problems:
        raise ValidationError("The claim has problems: " + ", ".join(sorted(f.problems)) + ".", f.problems)
    return order_id, kind, current, at


def no_order(order_id: str) -> NotFound:
    """The 404 of an unknown order; a customer session naming someone else's order gets this
    same answer, so the two cannot be told apart."""
    return NotFound(f"No order {order_id} is known to the desk. The panel pushes orders with "
                    f"PUT /api/v1/orders/{order_id}; check the order id.")


def load_order(order_id: str) -> Order:
    order = find_order(order_id)
    if order is None:
        raise no_order(order_id)
    return order


def evaluate(order: Order, kind: str, current_count: int | None, at: datetime | None = None) -> policy.Decision:
    """The Terms' decision on a claim on `order` (its pending changes flushed first)."""
    db.session.flush()
    return evaluate_by_id(order.panel_id, kind, current_count, at)


def evaluate_by_id(order_id: str, kind: str, current_count: int | None, at: datetime | None = None,
                   connection=None) -> policy.Decision:
    """The decision in one round trip: the order and every order on its link are fetched
    together as plain rows (also the evaluate endpoint's hot path). Read on `connection`
    (the endpoint's, outside any transaction: desk.extensions.read_only_connection), else
    in the session's transaction, which sees what it has flushed."""
    rows = (connection or db.session.connection()).execute(FACTS_ON_LINK, {"order_id": order_id}).all()
    mine = next((r for r in rows if r.panel_id == order_id), None)
    if mine is None:
        load_order(order_id)  # raises the 404 with its message
    others = [facts(r) for r in rows if r.id != mine.id]
    return policy.evaluate(facts(mine), policy.Claim(kind, at or utcnow(), current_count), others)


def open_claim(order: Order, kind: str) -> Claim | None:
    return db.session.execute(
        select(Claim).where(Claim.order_id == order.id, Claim.kind == kind, Claim.status == "open")
    ).scalar_one_or_none()


def file_claim(order: Order, kind: str, current_count: int | None, actor: Actor, *, description: str = "",
               requester_email: str | None = None, requester_name: str = "", channel: str = "api",
               uploads=(), at: datetime | None = None) -> tuple[Claim, bool]:
    """File a claim ticket with its decision. (claim, created): an open claim on the same
    order and kind is returned instead of a second one, even when two arrive at once."""
    existing = open_claim(order, kind)
    if existing is not None:
        return existing, False
    filed_at = at or utcnow()
    decision = evaluate(order, kind, current_count, filed_at)
    customer = order.customer
    email = requester_email or (customer.email if customer else None)
    if not email:
        raise ValidationError("The customer has no e-mail on record; send requester_email.",
                              {"requester_email": "required"})
    label = KIND_LABELS[kind]
    body = description.strip() or f"{label} claim on order {order.panel_id}."
    if current_count is not None:
        body += f"\n\nCurrent count reported: {current_count}."
    data = tickets.NewTicket(
        subject=f"{label}: order {order.panel_id}", body=body, requester_email=email,
        requester_name=requester_name, kind=TICKET_KINDS.get(kind, "claim"), channel=channel,
        customer=customer.panel_id if customer else None, order=order.panel_id, uploads=list(uploads),
    )
    claim = Claim(order=order, kind=kind, current_count=current_count, filed_at=filed_at,
                  decision=decision.decision, reasons=stored_reasons(decision),
                  refill_quantity=decision.refill_quantity)
    try:
        ticket, _ = tickets.create_ticket(data, actor, attach=lambda t: _attach(claim, t, decision))
    except IntegrityError:
        # The partial unique index (one open claim per order and kind) refused a twin
        # filed at the same moment: answer with the one that won.
        db.session.rollback()
        existing = open_claim(order, kind)
        if existing is None:
            raise
        return existing, False
    return claim, True


def claim_kinds(ticket_kind: str) -> tuple[str, ...]:
    """The claim kinds a ticket of this kind is about (a "claim" ticket: any but refill and cancel)."""
    return tuple(k for k in policy.KINDS if TICKET_KINDS.get(k, "claim") == ticket_kind)


def merge_duplicates(order_ref: str | None, ticket_kind: str) -> list[TicketMove]:
    """One open claim per order and kind (issue 10). file_claim never files a second claim,
    but a plain ticket of a claim's kind naming its order still arrives — from the contact
    form or POST /api/v1/tickets, before or after the claim. Each such open ticket from the
    claim's own requester (merge.same_party: nobody else's words join a customer's claim)
    is merged into the open claim's ticket, by the desk, audited. In the caller's
    transaction; a merge the rules refuse is left for an agent."""
    kinds = claim_kinds(ticket_kind)
    order = find_order(order_ref) if order_ref and kinds else None
    if order is None:
        return []
    claim = db.session.execute(select(Claim).where(Claim.order_id == order.id, Claim.kind.in_(kinds),
                                                   Claim.status == "open").order_by(Claim.id).limit(1)
                               ).scalar_one_or_none()
    if claim is None or not claim.ticket.is_open or claim.ticket.merged_into_id is not None:
        return []
    duplicates = db.session.execute(select(Ticket).where(
        Ticket.order_ref == order.panel_id, Ticket.kind == ticket_kind, Ticket.id != claim.ticket_id,
        Ticket.merged_into_id.is_(None), Ticket.status.in_(OPEN_STATUSES), ~Ticket.claim.has()).order_by(Ticket.id)
    ).scalars().all()
    moves = []
    for duplicate in duplicates:
        if not merge.same_party(duplicate, claim.ticket):
            continue
        try:
            with db.session.begin_nested():
                moves.append(merge.merge(duplicate, claim.ticket, CLAIMS_ENGINE, automatic=True))
        except DeskError:
            continue  # the rules said no (a case of its own, another queue): an agent decides
    return moves


def _attach(claim: Claim, ticket, decision: policy.Decision) -> None:
    claim.ticket = ticket
    db.session.add(claim)
    db.session.flush()
    record(CLAIMS_ENGINE, "claim.decided", "claim", claim.id, ticket_id=ticket.id,
           decision=decision.decision, rules=decision.rules)


def decide(claim: Claim, staff, outcome: str, reason: str = "", commit: bool = True):
    """Staff close a claim. Closing it against the engine's decision is an override: it
    needs the claim.override permission and a written reason, and both the decision and
    the override stay in the audit log. An accepted refill or cancel is handed to the panel
    (desk.panel.actions): the queued PanelCall is returned (None when there is none)."""
    if outcome not in ("accepted", "rejected"):
        raise ValidationError("Outcome must be accepted or rejected.", {"outcome": "accepted or rejected"})
    if claim.status != "open":
        raise DeskError(f"This claim is already {claim.status}.", code="claim_closed", status=409)
    # A needs_review decision is the engine asking staff to decide: either way agrees with it.
    agrees = claim.decision == policy.NEEDS_REVIEW or (outcome == "accepted" and claim.decision == policy.ELIGIBLE) or (
        outcome == "rejected" and claim.decision == policy.REJECTED)
    reason = (reason or "").strip()
    if not agrees:
        if not allows(staff.role, "claim.override"):
            raise DeskError("Closing a claim against the Terms' decision is an override, which needs a supervisor.",
                            code="forbidden", status=403)
        if len(reason) < 10:
            raise ValidationError("An override needs a written reason (at least 10 characters).",
                                  {"reason": "required for an override"})
    # Close it only if it is still open: of two staff deciding at once, one wins (the row
    # lock on PostgreSQL, the write lock on SQLite), and the other gets the 409 below.
    won = db.session.execute(
        update(Claim).where(Claim.id == claim.id, Claim.status == "open").values(status=outcome)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        db.session.rollback()
        raise DeskError(f"This claim is already {claim.status}.", code="claim_closed", status=409)
    claim.status = outcome
    claim.outcome_reason = reason or None
    claim.overridden = not agrees
    claim.decided_by_id = staff.id
    claim.decided_at = utcnow()
    record(Actor.staff(staff), "claim.overridden" if not agrees else f"claim.{outcome}", "claim", claim.id,
           ticket_id=claim.ticket_id, decision=claim.decision, outcome=outcome, reason=reason or None)
    webhooks.emit_ticket("claim.decided", claim.ticket, claim=claim.id, claim_kind=claim.kind,
                         decision=claim.decision, outcome=outcome, overridden=claim.overridden,
                         rules=sorted({r["rule"] for r in claim.reasons}), refill_quantity=claim.refill_quantity)
    call = panel_actions.for_claim(claim, staff)
    if commit:
        db.session.commit()
        jobs.dispatch()
    return call


def returns_check(limit: int = 200, after_id: int = 0) -> list[tuple[Order, ledger_policy.ReturnCheck]]:
    """Partial and Canceled orders whose return is missing or wrong in the ledger."""
    found = []
    last = after_id
    while len(found) < limit:
        batch = list(db.session.execute(
            select(Order).where(Order.status.in_(("partial", "canceled")), Order.id > last)
            .order_by(Order.id).limit(500)
        ).scalars())
        if not batch:
            break
        last = batch[-1].id
        sums = {}
        rows = db.session.execute(
            select(LedgerEntry.order_ref, LedgerEntry.funding, func.sum(LedgerEntry.amount))
            .where(LedgerEntry.kind == "return", LedgerEntry.order_ref.in_([o.panel_id for o in batch]))
            .group_by(LedgerEntry.order_ref, LedgerEntry.funding)
        ).all()
        for ref, funding, total in rows:
            sums.setdefault(ref, {})[funding] = total
        for order in batch:
            owed = ledger_policy.return_owed(order)
            got = sums.get(order.panel_id, {})
            check = ledger_policy.check_return(owed, [
                ledger_policy.Entry("return", Decimal(got.get(f, 0)).quantize(ledger_policy.CENT), f)
                for f in ledger_policy.FUNDING])
            if check.state != "ok":
                found.append((order, check))
    return found[:limit]


def record_facts(claim: Claim, staff, *, target_state: str, overlap_elsewhere: bool, reason: str) -> None:
    """Staff record what they learned about the order (terms-11-target: the target went
    private or changed; terms-11-overlap: the customer admitted an order elsewhere on the
    link) and the open claim is decided again on the new facts. Both decisions stay in
    the audit log."""
    if claim.status != "open":
        raise DeskError(f"This claim is already {claim.status}.", code="claim_closed", status=409)
    if target_state not in TARGET_STATES:
        raise ValidationError(f"Target must be one of: {', '.join(TARGET_STATES)}.", {"target_state": "unknown"})
    reason = (reason or "").strip()
    if len(reason) < 10:
        raise ValidationError("Say how you know (at least 10 characters).", {"reason": "required"})
    order = claim.order
    before = {"target_state": order.target_state, "overlap_elsewhere": order.overlap_elsewhere,
              "decision": claim.decision}
    order.target_state, order.overlap_elsewhere = target_state, overlap_elsewhere
    decision = evaluate(order, claim.kind, claim.current_count, claim.filed_at)
    claim.decision = decision.decision
    claim.reasons = stored_reasons(decision)
    claim.refill_quantity = decision.refill_quantity
    record(Actor.staff(staff), "claim.facts_recorded", "claim", claim.id, ticket_id=claim.ticket_id,
           before=before, after={"target_state": target_state, "overlap_elsewhere": overlap_elsewhere,
                                 "decision": decision.decision}, reason=reason)
    db.session.commit()


def panel(claim: Claim) -> dict:
    """What the staff claim panel shows: the order's facts and who else used its link."""
    order = claim.order
    order_facts = facts(order)
    end = order.start_count + order_facts.delivered if order.start_count is not None else None
    others = orders_on_link(order)
    overlapping = {f.panel_id for f in policy.overlapping(order_facts, [facts(o) for o in others])}
    return {
        "claim": claim,
        "order": order,
        "end_count": end,
        "on_link": [(o, o.panel_id in overlapping) for o in others],
        "expected_return": ledger_policy.return_owed(order),
        "kind_label": KIND_LABELS[claim.kind],
    }
