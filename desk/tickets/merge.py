"""Merging a duplicate ticket into another, splitting a message out into a ticket of its
own, and undoing either within MERGE_UNDO_MINUTES (issue 10). Every step is audited on
both tickets, and each merge or split keeps what it moved (TicketMove.moved), so its undo
puts back exactly that.

The rules of a merge (the source into the target), and why:

- Both tickets are ones the agent may open (can_see_ticket); not into itself, not twice,
  not from or into a closed ticket, not into one that was merged itself (into that one's
  target instead).
- Cases: a claim, money request, account request, abuse case, privacy request or billing
  case is worked on its own ticket. Two tickets that each carry one are never merged, and
  one that carries one is only ever the target, so no case loses its ticket.
- Readers: a merge never shows messages to someone who could not read them: every role
  that reads the target's queue must read the source's (support into privacy, yes;
  privacy into support, no).
- Parties: the same customer account, or the same requester address (unless the tickets
  belong to two different accounts).
  * The same party: the source's messages and attachments move to the target, where they
    read in time order. The target's requester link and the portal show them, mail
    answering them threads on the target (the messages carry their Message-IDs and
    authors, so their senders are parties there), and the source's link and portal page
    lead to the target.
  * Different parties: refused unless the agent confirms. Then nothing moves, so neither
    requester ever reads the other's words: the source keeps its messages (its requester's
    privacy export and erasure still find them), staff read them on the target's page, the
    source's requester sees only their own conversation through their link or the portal,
    and their mail about it is held on the target for an agent to review (they are not a
    party there; desk.mail.inbound).
- Either way the tags are united, replies held for review (strangers' mail) wait on the
  target, and the source is closed with `merged_into`. Its clocks stop at the merge and
  stay on it, shown on the target's page with their SLA events; a clock running on both
  tickets keeps the sooner due time on the target (sla.clocks.adopt_sooner).

A split moves one message from the requester's side (not the ticket's first, which is the
ticket itself) with its attachments into a new ticket of the same kind, requester,
customer, order and queue, whose clocks start at the split; the two are linked both ways
by the split's record, shown on both pages.
"""
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from desk import jobs
from desk.audit.services import Actor, record
from desk.auth.access import can_see_ticket
from desk.auth.roles import QUEUE_ACCESS
from desk.errors import DeskError, NotFound, ValidationError
from desk.extensions import db, for_update
from desk.mail.models import InboundMail
from desk.policy.redaction import redact
from desk.sla import clocks
from desk.sla.models import SlaEvent, TicketClock
from desk.tickets import assignment, services
from desk.tickets.models import Attachment, Message, Ticket, TicketMove, TicketTag
from desk.types import utcnow

# The rows that make a ticket a case of its own (each a backref on Ticket).
CASES = {"claim": "a claim", "money_request": "a money request", "account_request": "a request for more accounts",
         "abuse_case": "an abuse case", "privacy_request": "a privacy request", "billing_case": "a billing case"}


class Refused(DeskError):
    status = 409
    code = "refused"


def case_of(ticket: Ticket) -> str | None:
    """The words for the case the ticket carries, or None."""
    return next((words for name, words in CASES.items() if getattr(ticket, name, None) is not None), None)


def same_party(a: Ticket, b: Ticket) -> bool:
    """Whether two tickets are one person's: the same account, or (unless they belong to two
    different accounts) the same requester address."""
    if a.customer_id is not None and b.customer_id is not None:
        return a.customer_id == b.customer_id
    return a.requester_email.lower() == b.requester_email.lower()


def readers(queue: str) -> frozenset[str]:
    """The roles that read a queue."""
    return frozenset(role for role, queues in QUEUE_ACCESS.items() if queue in queues)


def final(ticket: Ticket, *, requester: bool = False) -> Ticket:
    """The ticket a merged ticket lives on as (merges can chain); the ticket itself if not
    merged. requester=True: where its requester follows it, along merges of the same party
    only (a merge across requesters moved nothing, and shows them nothing of the other's)."""
    for _ in range(50):  # a merge needs an unmerged target, so there is no cycle; the bound is a guard
        if ticket.merged_into_id is None and "merged_into" not in vars(ticket):
            break  # never merged (nor merged in this session, unflushed): no lazy load to run (issue 11)
        onto = ticket.merged_into
        if onto is None or (requester and not same_party(ticket, onto)):
            break
        ticket = onto
    return ticket


def window() -> timedelta:
    return timedelta(minutes=current_app.config["MERGE_UNDO_MINUTES"])


def undo_until(move: TicketMove):
    return move.at + window()


def can_undo(move: TicketMove, now=None) -> bool:
    """Still undoable: not undone, within the window, and nothing merged or split since
    touches either ticket (that must be undone first)."""
    return move.undone_at is None and (now or utcnow()) < undo_until(move) and _later(move) is None


def moves_of(ticket: Ticket) -> list[TicketMove]:
    """The merges and splits this ticket took part in, oldest first (its page lists them)."""
    return list(db.session.execute(select(TicketMove).where(
        or_(TicketMove.source_id == ticket.id, TicketMove.target_id == ticket.id)).order_by(TicketMove.id)).scalars())


def merged_here(ticket: Ticket, moves: list[TicketMove] | None = None) -> list[TicketMove]:
    """The merges into this ticket that stand; `moves`: its moves_of() when already read."""
    return [m for m in (moves_of(ticket) if moves is None else moves)
            if m.kind == "merge" and m.target_id == ticket.id and m.undone_at is None]


def origins(ticket: Ticket, moves: list[TicketMove] | None = None) -> dict[int, str]:
    """{message id: the reference of the ticket it was merged in from}, for the messages of
    this ticket that a standing merge brought (shown beside each)."""
    found = {}
    for move in merged_here(ticket, moves):
        for message_id in move.moved.get("messages", []):
            found[message_id] = move.source.reference
    return found


def sla_history(ticket: Ticket, moves: list[TicketMove] | None = None
                ) -> list[tuple[Ticket, list[tuple[TicketClock, bool]], list[SlaEvent]]]:
    """The clocks and SLA events of every ticket merged into this one (through chains too),
    so a merge keeps them within reach of the ticket they live on as: (ticket, [(clock,
    whether the merge stopped it)], events)."""
    found, seen, todo = [], {ticket.id}, [ticket]
    while todo:
        current = todo.pop(0)
        for move in merged_here(current, moves if current is ticket else None):
            source = move.source
            if source.id in seen:
                continue
            seen.add(source.id)
            events = list(db.session.execute(select(SlaEvent).where(SlaEvent.ticket_id == source.id)
                                             .order_by(SlaEvent.at, SlaEvent.id)).scalars())
            stopped = {e.clock_id for e in events if e.kind == "merged"}
            found.append((source, [(c, c.id in stopped) for c in source.clocks], events))
            todo.append(source)
    return found


# -- merge ---------------------------------------------------------------------------

def _locked(*tickets: Ticket) -> None:
    """Lock both rows until the commit and read them afresh: of two merges of one ticket
    at once, the second sees the first."""
    db.session.execute(for_update(select(Ticket).where(Ticket.id.in_([t.id for t in tickets])))).scalars().all()


def check_merge(source: Ticket, target: Ticket, *, confirm_parties: bool) -> None:
    """Every reason this merge may not happen, as a clear 4xx."""
    if source.id == target.id:
        raise ValidationError("A ticket cannot be merged into itself: give the other ticket's reference.",
                              {"target": "the same ticket"})
    if source.merged_into_id is not None:
        raise Refused(f"{source.reference} was already merged into {source.merged_into.reference}.",
                      code="already_merged")
    if target.merged_into_id is not None:
        raise Refused(f"{target.reference} was itself merged into {final(target).reference}: merge into that one.",
                      {"target": final(target).reference}, code="target_merged")
    for ticket, role in ((target, "the ticket to merge into"), (source, "this ticket")):
        if ticket.status == "closed":
            raise Refused(f"{ticket.reference} ({role}) is closed. Reopen it first if it should take this merge.",
                          code="closed")
    source_case, target_case = case_of(source), case_of(target)
    if source_case and target_case:
        raise Refused(f"{source.reference} carries {source_case} and {target.reference} carries {target_case}: each "
                      "is worked on its own ticket, so they are not merged. Answer one and link the other in a note.",
                      code="two_cases")
    if source_case:
        raise Refused(f"{source.reference} carries {source_case}, which is worked on its own ticket: merge "
                      f"{target.reference} into {source.reference} instead.", code="case_source")
    if not readers(target.queue) <= readers(source.queue):
        raise Refused(f"{target.reference} is in the {target.queue} queue, read by people who may not read the "
                      f"{source.queue} queue of {source.reference}: merge the other way round.", code="readers")
    if not confirm_parties and not same_party(source, target):
        raise Refused(
            f"{source.reference} ({source.requester_email}) and {target.reference} ({target.requester_email}) are "
            "from different requesters. Merged, neither will see the other's messages: this ticket's conversation "
            f"stays where it is (staff read it on {target.reference}), and its requester's mail is held there for "
            "review. Tick the confirmation to merge anyway.", {"confirm": "required"}, code="different_parties")


def merge(source: Ticket, target: Ticket, actor: Actor, *, staff=None, confirm_parties: bool = False,
          automatic: bool = False) -> TicketMove:
    """Merge `source` into `target` in the caller's transaction (see the module's rules)."""
    _locked(source, target)
    check_merge(source, target, confirm_parties=confirm_parties)
    now = utcnow()
    cross = not same_party(source, target)
    moved = {"status": source.status, "messages": [], "attachments": [], "held": [], "tags": [],
             "source_clocks": {}, "target_clocks": {}}
    if not cross:
        for message in list(source.messages):
            message.ticket = target
            moved["messages"].append(message.id)
        for attachment in _attachments_of(source.id):
            attachment.ticket = target
            moved["attachments"].append(attachment.id)
    # Replies held for review (strangers' mail) wait on the ticket whose page can be opened.
    for row in _held_on(source.id):
        row.ticket_id = target.id
        moved["held"].append(row.id)
    for tag in sorted(set(source.tags) - set(target.tags)):
        target.tag_rows.append(TicketTag(tag=tag))
        moved["tags"].append(tag)
    theirs = {clock.name: clock for clock in target.clocks}
    running = [clock for clock in source.clocks if clock.running]
    for clock in source.clocks:
        moved["source_clocks"][str(clock.id)] = clocks.snapshot(clock)
        if clock.name in theirs:
            change = clocks.adopt_sooner(theirs[clock.name], clock, now)
            if change is not None:
                moved["target_clocks"][str(theirs[clock.name].id)] = change
    clocks.refresh_due(target)
    source.merged_into = target
    services.set_status(source, actor, "closed")  # stops the source's clocks: the target carries on
    for clock in running:
        db.session.add(SlaEvent(ticket_id=source.id, clock=clock, kind="merged", at=now,
                                data={"rule": clock.rule, "into": target.reference}))
    move = TicketMove(kind="merge", source=source, target=target, staff_id=staff.id if staff else None,
                      cross_party=cross, moved=moved, at=now)
    db.session.add(move)
    db.session.flush()
    facts = {"move": move.id, "messages": len(moved["messages"]), "cross_party": cross, "automatic": automatic}
    record(actor, "ticket.merged", "ticket", source.reference, ticket_id=source.id, into=target.reference, **facts)
    record(actor, "ticket.merge_received", "ticket", target.reference, ticket_id=target.id, source=source.reference,
           **facts)
    return move


def merge_into(source: Ticket, reference: str, staff, *, confirm_parties: bool = False) -> TicketMove:
    """An agent merges `source` into the ticket with this reference; commits."""
    reference = (reference or "").strip()
    if not reference:
        raise ValidationError("Give the reference of the ticket to merge into (like T-26-000123).",
                              {"target": "required"})
    target = find_visible(reference, staff)
    move = merge(source, target, Actor.staff(staff), staff=staff, confirm_parties=confirm_parties)
    db.session.commit()
    jobs.dispatch()
    return move


def find_visible(reference: str, staff) -> Ticket:
    """The ticket with this reference if this staff member may open it; a 404 otherwise, the
    same for one they may not open as for none."""
    ticket = services.find_ticket(reference[:32])
    if ticket is None or not can_see_ticket(staff, ticket):
        raise NotFound(f"There is no ticket {reference.strip().upper()[:32]} that you can open.",
                       {"target": "not found"})
    return ticket


def _attachments_of(ticket_id: int) -> list[Attachment]:
    return list(db.session.execute(select(Attachment).where(Attachment.ticket_id == ticket_id)).scalars())


def _held_on(ticket_id: int, ids: list[int] | None = None) -> list[InboundMail]:
    query = select(InboundMail).where(InboundMail.ticket_id == ticket_id, InboundMail.status == "held")
    return list(db.session.execute(query if ids is None else query.where(InboundMail.id.in_(ids))).scalars())


# -- split ----------------------------------------------------------------------------

def split(origin: Ticket, message_id: int | None, staff, subject: str = "") -> Ticket:
    """Move one message of `origin` (and its attachments) into a new ticket; commits."""
    message = db.session.get(Message, message_id) if message_id else None
    if message is None or message.ticket_id != origin.id:
        raise NotFound("That message is not on this ticket.", {"message": "not found"})
    if origin.merged_into_id is not None:
        raise Refused(f"{origin.reference} was merged into another ticket; split messages there.", code="merged")
    if message.author_kind != "requester":
        raise ValidationError("Only a message from the requester's side can be split out into a ticket of its own.",
                              {"message": "not the requester's"})
    if origin.messages and origin.messages[0].id == message.id:
        raise ValidationError("The first message is the ticket itself: it cannot be split out.",
                              {"message": "the first message"})
    subject = services.clean_text(subject) or f"{origin.subject} (split from {origin.reference})"
    subject = redact(subject).text[:services.MAX_SUBJECT]
    now = utcnow()
    actor = Actor.staff(staff)
    _locked(origin)
    new = Ticket(reference=services.next_reference(now), kind=origin.kind, channel=origin.channel, subject=subject,
                 requester_email=origin.requester_email, requester_name=origin.requester_name,
                 customer_id=origin.customer_id, order_ref=origin.order_ref, queue=origin.queue, status="new",
                 priority=origin.priority, jurisdiction=origin.jurisdiction, serious_harm=origin.serious_harm,
                 created_at=now, updated_at=message.created_at)
    clocks.start(new, now)
    db.session.add(new)
    message.ticket = new
    attachments = [a for a in _attachments_of(origin.id) if a.message_id == message.id]
    for attachment in attachments:
        attachment.ticket = new
    db.session.flush()
    move = TicketMove(kind="split", source=origin, target=new, staff_id=staff.id, at=now,
                      moved={"messages": [message.id], "attachments": [a.id for a in attachments]})
    db.session.add(move)
    db.session.flush()
    record(actor, "ticket.split", "ticket", origin.reference, ticket_id=origin.id, into=new.reference,
           message=message.id, move=move.id)
    record(actor, "ticket.created", "ticket", new.reference, ticket_id=new.id, kind=new.kind, queue=new.queue,
           channel="split", split_from=origin.reference, message=message.id, move=move.id)
    assignment.auto_assign(new)
    db.session.commit()
    jobs.dispatch()
    return new


# -- undo -----------------------------------------------------------------------------

def _later(move: TicketMove) -> TicketMove | None:
    """A standing merge or split after this one that touches either of its tickets."""
    ids = (move.source_id, move.target_id)
    return db.session.execute(select(TicketMove).where(
        TicketMove.id > move.id, TicketMove.undone_at.is_(None),
        or_(TicketMove.source_id.in_(ids), TicketMove.target_id.in_(ids))).order_by(TicketMove.id).limit(1)
    ).scalar_one_or_none()


def find_move(ticket: Ticket, move_id: int) -> TicketMove:
    move = db.session.get(TicketMove, move_id)
    if move is None or ticket.id not in (move.source_id, move.target_id):
        raise NotFound("This ticket has no such merge or split.", {"move": "not found"})
    return move


def undo(move: TicketMove, staff) -> None:
    """Undo a merge or split within the window, putting back what it moved; commits."""
    what = "merge" if move.kind == "merge" else "split"
    for ticket in (move.source, move.target):
        if not can_see_ticket(staff, ticket):
            raise NotFound("This ticket has no such merge or split.", {"move": "not found"})
    if move.undone_at is not None:
        raise Refused(f"This {what} was already undone.", code="undone")
    now = utcnow()
    if now >= undo_until(move):
        minutes = current_app.config["MERGE_UNDO_MINUTES"]
        raise Refused(f"A {what} can be undone within {minutes} minutes of it; this one was made at "
                      f"{move.at:%Y-%m-%d %H:%M} UTC, so the time to undo it is over.", code="undo_window")
    later = _later(move)
    if later is not None:
        raise Refused(f"{later.source.reference} was {'merged into' if later.kind == 'merge' else 'split into'} "
                      f"{later.target.reference} since: undo that first.", code="undo_later")
    if move.kind == "split":
        extra = [m.id for m in move.target.messages if m.id not in move.moved["messages"]]
        if extra:
            raise Refused(f"{move.target.reference} has messages of its own since the split, so it is not undone: "
                          f"merge {move.target.reference} back into {move.source.reference} instead.",
                          code="undo_split")
    # Of two undos at once, one wins: the row changes only while it is not undone.
    won = db.session.execute(update(TicketMove).where(TicketMove.id == move.id, TicketMove.undone_at.is_(None))
                             .values(undone_at=now, undone_by_id=staff.id)
                             .execution_options(synchronize_session=False)).rowcount
    if not won:
        db.session.rollback()
        raise Refused(f"This {what} was already undone.", code="undone")
    move.undone_at, move.undone_by_id = now, staff.id
    actor = Actor.staff(staff)
    (_undo_merge if move.kind == "merge" else _undo_split)(move, actor, now)
    facts = {"move": move.id}
    record(actor, f"ticket.{what}_undone", "ticket", move.source.reference, ticket_id=move.source_id,
           other=move.target.reference, **facts)
    record(actor, f"ticket.{what}_undone", "ticket", move.target.reference, ticket_id=move.target_id,
           other=move.source.reference, **facts)
    db.session.commit()
    jobs.dispatch()


def _move_back(move: TicketMove, to: Ticket) -> None:
    """The messages and attachments a move took, back to `to` (only those, wherever they are)."""
    moved = move.moved
    for message in db.session.execute(select(Message).where(Message.id.in_(moved["messages"] or [0]))).scalars():
        message.ticket = to
    for attachment in db.session.execute(select(Attachment).where(
            Attachment.id.in_(moved["attachments"] or [0]))).scalars():
        attachment.ticket = to


def _undo_merge(move: TicketMove, actor: Actor, now) -> None:
    source, target = move.source, move.target
    moved = move.moved
    _move_back(move, source)
    for row in _held_on(target.id, moved.get("held") or [0]):
        row.ticket_id = source.id
    added = set(moved["tags"])
    target.tag_rows = [row for row in target.tag_rows if row.tag not in added]
    source.merged_into = None
    services.set_status(source, actor, moved["status"])
    # The source's clocks exactly as they were: the target carried them meanwhile.
    for clock in source.clocks:
        state = moved["source_clocks"].get(str(clock.id))
        if state is not None:
            clocks.restore(clock, state)
            db.session.add(SlaEvent(ticket_id=source.id, clock=clock, kind="merge_undone", at=now,
                                    data={"rule": clock.rule, "from": target.reference}))
    clocks.refresh_due(source)
    for clock in target.clocks:
        change = moved["target_clocks"].get(str(clock.id))
        if change is not None:
            clocks.give_back(clock, change)
    clocks.refresh_due(target)


def _undo_split(move: TicketMove, actor: Actor, now) -> None:
    origin, new = move.source, move.target
    _move_back(move, origin)
    new.merged_into = origin  # its links and pages lead back to where the message is
    services.set_status(new, actor, "closed")
