"""Calls to the panel about one ticket's order, each kept as a PanelCall shown on the ticket:
an agent's status refresh of the order, and what staff accepting a claim calls for
(desk.policy.claims.panel_action): an accepted refill asks the panel to `refill` and
follows `refill_status` until it ends, an accepted cancel asks it to `cancel`.

Every call, its answer and its outcome are on the ticket and in the audit log. A call that
fails leaves the ticket open with an internal note and the call marked failed, with a
retry button (claim.decide); nothing fails silently. A call is made once: one row per
claim and action (a unique key), and the jobs claim their row before they call the panel,
so an approval processed twice — or a job delivered twice — reaches the panel once.
"""
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update

from desk import jobs, panel
from desk.audit.services import SYSTEM, Actor, record
from desk.claims.orders import find_order
from desk.errors import DeskError
from desk.extensions import db
from desk.i18n import say, speaking
from desk.panel import refresh
from desk.panel.client import OFF, PanelError, PanelUnavailable
from desk.panel.models import PanelCall
from desk.policy import claims as policy
from desk.policy.words import N_, Words
from desk.tickets import services as tickets
from desk.types import utcnow

# refill_status words that end a refill, and how (the rest — Pending, In progress — go on).
REFILL_ENDS = {"completed": "done", "rejected": "failed", "error": "failed", "canceled": "failed",
               "cancelled": "failed"}
STUCK_AFTER = timedelta(minutes=15)  # a call "sending" this long lost its worker: it may be retried
ACTION_WORDS = {"status": "status refresh", "refill": "refill", "cancel": "cancellation"}


def calls_for(ticket) -> list[PanelCall]:
    return list(db.session.execute(
        select(PanelCall).where(PanelCall.ticket_id == ticket.id).order_by(PanelCall.id.desc())).scalars())


def failed_actions(limit: int = 50) -> list[PanelCall]:
    """Refills and cancellations that failed and wait for someone (the admins' panel page)."""
    return list(db.session.execute(
        select(PanelCall).where(PanelCall.status == "failed", PanelCall.action != "status")
        .order_by(PanelCall.id.desc()).limit(limit)).scalars())


def following_count() -> int:
    return db.session.execute(select(func.count()).select_from(PanelCall)
                              .where(PanelCall.status == "following")).scalar_one()


def retryable(call: PanelCall, now=None) -> bool:
    now = now or utcnow()
    return call.status == "failed" or (call.status == "sending" and call.updated_at < now - STUCK_AFTER)


def _audit(call: PanelCall, actor: Actor, action: str, **data) -> None:
    record(actor, f"panel.{action}", "panel_call", call.id, ticket_id=call.ticket_id, call=call.action,
           order=call.order_ref, **data)


# --- asking --------------------------------------------------------------------------

def for_claim(claim, staff) -> PanelCall | None:
    """After staff closed `claim` (in their transaction): the panel call it calls for,
    queued, or None (not a refill or cancel, not accepted, or the integration is off).
    Once per claim and action: a second approval finds the first call."""
    wanted = policy.panel_action(claim.kind, claim.status, claim.decision, claim.overridden)
    if wanted is None or not panel.enabled():
        return None
    action, rule = wanted
    key = f"claim:{claim.id}:{action}"
    existing = db.session.execute(select(PanelCall).where(PanelCall.key == key)).scalar_one_or_none()
    if existing is not None:
        return existing
    order = claim.order.panel_id
    call = PanelCall(ticket_id=claim.ticket_id, claim_id=claim.id, order_ref=order, action=action, key=key,
                     rule=rule, params={"order": order} if action == "refill" else {"orders": order},
                     requested_by_id=staff.id, status="queued")
    db.session.add(call)
    db.session.flush()
    # API v2 refills what dropped and takes no quantity: the decision's is recorded with the call.
    _audit(call, Actor.staff(staff), "requested", rule=rule, params=call.params,
           refill_quantity=claim.refill_quantity if action == "refill" else None,
           overridden=claim.overridden)
    jobs.enqueue("workers.panel.run_call", call.id)
    return call


def refresh_order(ticket, staff) -> PanelCall:
    """An agent asks for the ticket's order's status now (a job makes the call)."""
    if not panel.enabled():
        raise DeskError(OFF, code="panel_off", status=409)
    if not ticket.order_ref or find_order(ticket.order_ref) is None:
        raise DeskError("This ticket names no order the desk knows, so there is nothing to refresh.",
                        code="no_order", status=422)
    call = PanelCall(ticket_id=ticket.id, order_ref=ticket.order_ref, action="status",
                     params={"order": ticket.order_ref}, requested_by_id=staff.id, status="queued")
    db.session.add(call)
    db.session.flush()
    _audit(call, Actor.staff(staff), "requested", params=call.params)
    jobs.enqueue("workers.panel.run_call", call.id)
    db.session.commit()
    jobs.dispatch()
    return call


def retry(call: PanelCall, staff) -> None:
    """Try a failed call again (or one whose worker stopped): a refill the panel took is
    followed again, anything else is sent again."""
    if not retryable(call):
        raise DeskError(f"This call is {call.status}; only a failed one can be tried again.", code="not_failed",
                        status=409)
    following = call.action == "refill" and call.refill_id is not None
    won = db.session.execute(
        update(PanelCall).where(PanelCall.id == call.id, PanelCall.status == call.status)
        .values(status="following" if following else "queued", polls=0, maybe_done=False, finished_at=None,
                next_poll_at=utcnow() if following else None, updated_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    if not won:
        db.session.rollback()
        raise DeskError("Someone retried this call a moment ago.", code="not_failed", status=409)
    _audit(call, Actor.staff(staff), "retried", before=call.status, outcome=call.outcome)
    if following:
        jobs.enqueue("workers.panel.follow_refill", call.id, 1)
    else:
        jobs.enqueue("workers.panel.run_call", call.id)
    if call.action != "status" and call.ticket.status == "open":
        tickets.set_status(call.ticket, Actor.staff(staff), "on_hold")  # waiting on the panel again
    db.session.commit()
    jobs.dispatch()


# --- the jobs' work --------------------------------------------------------------------

def run(call_id: int) -> str:
    """Make a queued call (the job workers.panel.run_call). Run twice, it calls once."""
    claimed = jobs.claim(PanelCall, call_id, PanelCall.status == "queued", status="sending", updated_at=utcnow())
    call = db.session.get(PanelCall, call_id)
    if not claimed:
        return f"call {call_id}: {call.status if call else 'gone'}, not sent again"
    try:
        client = panel.client()
    except PanelError as exc:
        return _failed(call, exc.message)
    with client:
        try:
            if call.action == "status":
                return _status(call, client)
            if call.action == "refill":
                return _refill(call, client)
            return _cancel(call, client)
        except PanelError as exc:
            call.attempts += exc.attempts
            return _failed(call, exc.message, exc.answer, maybe_done=getattr(exc, "maybe_done", False))


def _status(call: PanelCall, client) -> str:
    answer = client.status(call.order_ref)
    call.attempts += client.last_attempts
    call.answer = {"status": answer.status, "charge": str(answer.charge) if answer.charge is not None else None,
                   "start_count": answer.start_count, "remains": answer.remains, "currency": answer.currency}
    order = find_order(call.order_ref)
    if order is None:
        return _failed(call, f"Order {call.order_ref} is no longer in the mirror.")
    requester = Actor.staff(call.requested_by) if call.requested_by else refresh.REFRESH
    applied = refresh.apply_answers([order], {order.panel_id: answer}, requester)
    if applied.problems:
        return _failed(call, f"The panel's answer was not used: {applied.problems[0]}.", call.answer)
    outcome = (applied.changed[0] if applied.changed else f"{call.order_ref}: unchanged ({answer.status})")
    return _done(call, "; ".join([outcome] + applied.notes))


def _refill(call: PanelCall, client) -> str:
    refill_id = client.refill(call.order_ref)
    call.attempts += client.last_attempts
    interval = current_app.config["PANEL_REFILL_POLL_SECONDS"]
    call.answer, call.refill_id, call.status = {"refill": refill_id}, refill_id, "following"
    call.polls, call.next_poll_at = 0, utcnow() + timedelta(seconds=interval)
    call.outcome = f"The panel took the refill (refill {refill_id}); following its status."
    _audit(call, SYSTEM, "answered", answer=call.answer, outcome="following")
    db.session.commit()
    jobs.enqueue_in(interval, "workers.panel.follow_refill", call.id, 1)
    return f"refill {refill_id} requested for order {call.order_ref}"


def _cancel(call: PanelCall, client) -> str:
    [result] = client.cancel([call.order_ref])
    call.attempts += client.last_attempts
    call.answer = {"order": result.order, "cancel": 1 if result.ok else {"error": result.error}}
    if not result.ok:
        return _failed(call, f"The panel refused to cancel order {call.order_ref}: {result.error}", call.answer)
    return _done(call, f"The panel cancelled order {call.order_ref}.",
                 Words(N_("Order %(order)s is cancelled: the panel accepted the cancellation (%(rule)s). Its charge "
                          "returns to your Balance in the proportions it was paid (%(returns)s)."),
                       {"order": call.order_ref, "rule": call.rule, "returns": "terms-9-canceled"}))


def follow(call_id: int, poll: int) -> str:
    """Check a refill's status once (the job workers.panel.follow_refill, check number
    `poll`); it schedules the next check until the refill ends or PANEL_REFILL_MAX_POLLS.
    Run twice for the same check, it checks once."""
    claimed = jobs.claim(PanelCall, call_id, PanelCall.status == "following", PanelCall.polls == poll - 1,
                         polls=poll, updated_at=utcnow())
    call = db.session.get(PanelCall, call_id)
    if not claimed:
        return f"call {call_id}: check {poll} not due, nothing done"
    config = current_app.config
    try:
        with panel.client() as client:
            try:
                word = client.refill_status(call.refill_id)
            finally:
                call.attempts += client.last_attempts
    except PanelUnavailable as exc:  # no answer this time: the next check asks again
        word, problem = None, exc.message
    except PanelError as exc:
        return _failed(call, exc.message, exc.answer)
    else:
        problem = None
        call.answer = {"status": word}
    end = REFILL_ENDS.get(word.lower()) if word else None
    if end == "done":
        call.refill_status = word
        return _done(call, f"Refill {call.refill_id} {word} (after {poll} check(s)).",
                     Words(N_("The refill on order %(order)s is done: the panel reports refill %(refill)s as "
                              "%(status)s (%(rule)s)."),
                           {"order": call.order_ref, "refill": call.refill_id, "status": word, "rule": call.rule}))
    if end == "failed":
        call.refill_status = word
        return _failed(call, f"The panel reports refill {call.refill_id} as {word}.", call.answer)
    if word and word != call.refill_status:
        _audit(call, SYSTEM, "refill_status", refill=call.refill_id, before=call.refill_status, after=word)
        call.refill_status = word
    if poll >= config["PANEL_REFILL_MAX_POLLS"]:
        return _failed(call, f"Refill {call.refill_id} is still {call.refill_status or 'unknown'} after {poll} "
                             "check(s): the desk stopped following it. Retry to follow it again.")
    interval = config["PANEL_REFILL_POLL_SECONDS"]
    call.next_poll_at = utcnow() + timedelta(seconds=interval)
    call.outcome = (f"Refill {call.refill_id}: {call.refill_status or 'no status yet'} after {poll} check(s)"
                    + (f"; the last check got no answer ({problem})" if problem else "") + ".")
    db.session.commit()
    jobs.enqueue_in(interval, "workers.panel.follow_refill", call.id, poll + 1)
    return call.outcome


def resume_overdue(now=None) -> int:
    """Refills whose next check is long overdue (its scheduled job was lost with Redis)
    get it now; the check's number keeps a late original from checking twice."""
    now = now or utcnow()
    grace = timedelta(seconds=max(300, 2 * current_app.config["PANEL_REFILL_POLL_SECONDS"]))
    overdue = db.session.execute(select(PanelCall.id, PanelCall.polls).where(
        PanelCall.status == "following", PanelCall.next_poll_at < now - grace)).all()
    for call_id, polls in overdue:
        jobs.enqueue_in(0, "workers.panel.follow_refill", call_id, polls + 1)
    return len(overdue)


# --- outcomes --------------------------------------------------------------------------

def _done(call: PanelCall, outcome: str, reply: Words | None = None) -> str:
    """The call did what it was for; a claim's action resolves the ticket with `reply`,
    which names the rule it carried out, in the customer's language."""
    call.status, call.outcome, call.finished_at, call.next_poll_at = "done", outcome, utcnow(), None
    _audit(call, SYSTEM, "done", answer=call.answer, outcome=outcome, rule=call.rule)
    if reply and call.ticket.is_open:
        with speaking(call.ticket):
            told = say(reply)
        tickets.system_reply(call.ticket, told, status="resolved")
    db.session.commit()
    jobs.dispatch()
    return outcome


def _failed(call: PanelCall, message: str, answer=None, *, maybe_done: bool = False) -> str:
    """The call failed: kept as failed with the reason, and a claim's action brings the
    ticket back to the queue (open) with an internal note saying what to do."""
    call.status, call.outcome, call.finished_at, call.next_poll_at = "failed", message, utcnow(), None
    call.maybe_done = maybe_done
    if answer is not None:
        call.answer = answer
    _audit(call, SYSTEM, "failed", answer=call.answer, outcome=message, maybe_done=maybe_done)
    if call.action != "status":
        check = (" The panel may have acted on it: check the order on the panel before you retry."
                 if maybe_done else "")
        tickets.system_reply(
            call.ticket, f"Panel action failed: the {ACTION_WORDS[call.action]} of order {call.order_ref} "
                         f"({call.rule}) did not go through. {message}{check} Retry it on the Panel card, or do it "
                         "on the panel by hand and answer the customer.",
            internal=True, status="open" if call.ticket.status != "closed" else None)
    db.session.commit()
    jobs.dispatch()
    return f"failed: {message}"
