"""Macros: admins and supervisors keep them (macro.manage); whoever may reply applies them
on a ticket of the macro's queue. Applying one is a preview first (the reply with its
placeholders filled, editable, and the actions listed), then one transaction: the reply,
the claim's closing when the macro closes one, the status, tags and assignee, audited."""
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select

from desk import jobs
from desk.audit.services import SYSTEM, Actor, record
from desk.auth.models import Staff
from desk.auth.roles import allows
from desk.claims import replies
from desk.claims import services as claims
from desk.config import QUEUES
from desk.errors import DeskError, NotFound, ValidationError
from desk.extensions import db
from desk.macros import placeholders
from desk.macros.models import ASSIGN_MODES, Macro
from desk.tickets import services as tickets
from desk.tickets.models import STATUS_LABELS, STATUSES, Message, Ticket

MAX_NAME = 120
MAX_TAGS = 10


@dataclass
class MacroData:
    """A macro as typed on the admin page. `assign`: "", "me", "nobody" or a staff id."""
    name: str
    body: str
    queue: str | None = None
    set_status: str | None = None
    add_tags: str = ""
    assign: str = ""
    claim_outcome: str | None = None


@dataclass
class Preview:
    macro: Macro
    body: str
    unknown: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    actions: list[str] = field(default_factory=list)
    problem: str | None = None  # why sending would be refused, said before it is tried


# -- keeping macros ---------------------------------------------------------------------

def _check(data: MacroData, macro: Macro | None = None) -> dict:
    """The columns for `data`; one ValidationError lists every problem."""
    problems = {}
    name, body = tickets.clean_text(data.name), tickets.clean_text(data.body)
    queue = data.queue or None
    if not name:
        problems["name"] = "required"
    elif len(name) > MAX_NAME:
        problems["name"] = f"at most {MAX_NAME} characters"
    if not body:
        problems["body"] = "required"
    elif len(body) > tickets.MAX_BODY:
        problems["body"] = f"at most {tickets.MAX_BODY} characters"
    if queue is not None and queue not in QUEUES:
        problems["queue"] = f"one of {', '.join(QUEUES)}, or every queue"
    status = data.set_status or None
    if status is not None and status not in STATUSES:
        problems["set_status"] = f"one of {', '.join(STATUSES)}"
    try:
        tags = sorted(tickets.normalise_tags(data.add_tags or "", field="add_tags"))
    except ValidationError as exc:
        problems.update(exc.fields)
        tags = []
    if len(tags) > MAX_TAGS:
        problems["add_tags"] = f"at most {MAX_TAGS} tags"
    assign, assignee_id = (data.assign or "").strip(), None
    if assign.isdigit():
        staff = db.session.get(Staff, int(assign)) if len(assign) < 10 else None
        if staff is None or not staff.active:
            problems["assign"] = "no such active staff member"
        assign, assignee_id = "staff", int(assign)
    elif assign not in ASSIGN_MODES or assign == "staff":
        problems["assign"] = "keep, me, nobody or a staff member"
    outcome = data.claim_outcome or None
    if outcome is not None and outcome not in replies.OUTCOMES:
        problems["claim_outcome"] = "accepted or rejected"
    elif outcome is not None and queue not in (None, "claims"):
        problems["claim_outcome"] = "only a macro of the Claims queue (or of every queue) closes a claim"
    if name and "name" not in problems:
        same = select(Macro.id).where(func.lower(Macro.name) == name.lower(),
                                      Macro.queue.is_(None) if queue is None else Macro.queue == queue)
        if macro is not None:
            same = same.where(Macro.id != macro.id)
        if db.session.execute(same.limit(1)).first():
            problems["name"] = "another macro of this queue has this name"
    if problems:
        raise ValidationError("Some fields need attention: " + ", ".join(sorted(problems)) + ".", problems)
    return {"name": name, "body": body, "queue": queue, "set_status": status, "add_tags": tags,
            "assign": assign, "assignee_id": assignee_id, "claim_outcome": outcome}


def unknown_placeholders(body: str) -> list[str]:
    """The placeholders in `body` the desk does not know (saved as typed, flagged)."""
    return placeholders.fill(body, {}, {}).unknown


def create(data: MacroData, staff) -> Macro:
    macro = Macro(**_check(data), created_by_id=staff.id if staff is not None else None)
    db.session.add(macro)
    db.session.flush()
    actor = Actor.staff(staff) if staff is not None else SYSTEM
    record(actor, "macro.created", "macro", macro.id, name=macro.name, queue=macro.queue)
    db.session.commit()
    return macro


def update(macro: Macro, data: MacroData, staff) -> None:
    fields = _check(data, macro)
    changed = sorted(k for k, v in fields.items() if getattr(macro, k) != v)
    for key, value in fields.items():
        setattr(macro, key, value)
    if changed:
        record(Actor.staff(staff), "macro.updated", "macro", macro.id, name=macro.name, changed=changed)
    db.session.commit()


def set_active(macro: Macro, active: bool, staff) -> None:
    if macro.active != active:
        macro.active = active
        record(Actor.staff(staff), "macro.activated" if active else "macro.deactivated", "macro", macro.id,
               name=macro.name)
    db.session.commit()


def all_macros() -> list[Macro]:
    return list(db.session.execute(select(Macro).order_by(Macro.active.desc(), Macro.queue, Macro.name)).scalars())


def find(macro_id: int | None) -> Macro | None:
    return db.session.get(Macro, macro_id) if macro_id else None


# -- applying one -----------------------------------------------------------------------

def available(ticket: Ticket) -> list[Macro]:
    """The active macros of the ticket's queue and of every queue, by name."""
    return list(db.session.execute(
        select(Macro).where(Macro.active.is_(True), or_(Macro.queue.is_(None), Macro.queue == ticket.queue))
        .order_by(func.lower(Macro.name), Macro.id)).scalars())


def for_ticket(ticket: Ticket, macro_id: int | None) -> Macro:
    """The macro to apply on `ticket`: NotFound if there is no such active macro; a 403 if
    it belongs to another queue."""
    macro = find(macro_id)
    if macro is None or not macro.active:
        raise NotFound("There is no such macro (it may have been deactivated).")
    if macro.queue is not None and macro.queue != ticket.queue:
        raise DeskError(f"The macro “{macro.name}” is for the {macro.queue.title()} queue, not "
                        f"{ticket.queue.title()}.", code="wrong_queue", status=403)
    return macro


def _assignee(macro: Macro, staff) -> Staff | None:
    if macro.assign == "me":
        return staff
    if macro.assign == "staff":
        return macro.assignee
    return None


def actions_of(macro: Macro, staff) -> list[str]:
    """What applying `macro` does besides sending its reply, in words."""
    said = []
    if macro.claim_outcome:
        said.append(f"Close the claim as {macro.claim_outcome}")
    if macro.set_status:
        said.append(f"Set the status to {STATUS_LABELS[macro.set_status]}")
    if macro.add_tags:
        said.append("Add the tags " + ", ".join(macro.add_tags))
    if macro.assign == "nobody":
        said.append("Unassign the ticket")
    elif macro.assign:
        assignee = _assignee(macro, staff)
        said.append("Assign the ticket to you" if assignee is not None and assignee.id == staff.id
                    else f"Assign the ticket to {assignee.label if assignee is not None else '(nobody)'}")
    return said


def _refusal(ticket: Ticket, macro: Macro, staff) -> DeskError | None:
    """Why applying `macro` on `ticket` by `staff` would be refused, or None."""
    if macro.assign:
        assignee = _assignee(macro, staff)
        if macro.assign == "staff" and (assignee is None or not assignee.active):
            return DeskError(f"The macro assigns the ticket to {assignee.label if assignee else 'a staff member'}, "
                             "who is no longer active: an admin should edit it.", code="inactive_assignee", status=409)
        if not tickets.may_assign(staff, ticket, assignee):
            return DeskError("This macro gives the ticket to someone else (or takes it from them), which needs a "
                             "supervisor.", code="forbidden", status=403)
    if not macro.claim_outcome:
        return None
    claim = getattr(ticket, "claim", None)
    if claim is None:
        return ValidationError("This macro closes a claim, and this ticket has none.", {"macro": "claims only"})
    if not allows(staff.role, "claim.decide"):
        return DeskError("Your role does not decide claims.", code="forbidden", status=403)
    if claim.status != "open":
        return DeskError(f"This claim is already {claim.status}.", code="claim_closed", status=409)
    engine = placeholders.ENGINE_OUTCOME.get(claim.decision)
    if engine is not None and engine != macro.claim_outcome:
        # claims.decide would call this an override: a supervisor's, with a written reason.
        return DeskError(f"The Terms' decision on this claim is {claim.decision}: closing it as "
                         f"{macro.claim_outcome} is an override, made in the claim panel with a reason.",
                         code="override", status=409)
    return None


def preview(ticket: Ticket, macro: Macro, staff) -> Preview:
    """The reply `macro` would send on `ticket`, its placeholders filled (unknown or empty
    ones left as typed and listed), with its actions and any reason it would be refused."""
    values, missing = placeholders.values_for(ticket, staff, macro.claim_outcome)
    filled = placeholders.fill(macro.body, values, missing)
    refusal = _refusal(ticket, macro, staff)
    return Preview(macro, filled.text, filled.unknown, filled.missing, actions_of(macro, staff),
                   refusal.message if refusal else None)


def apply(ticket: Ticket, macro: Macro, staff, body: str) -> Message:
    """Send `body` (the preview as the agent left it) and take the macro's actions, in one
    transaction; the reply is Markdown, cleaned like every reply (desk.sanitize)."""
    refusal = _refusal(ticket, macro, staff)
    if refusal is not None:
        raise refusal
    actor = Actor.staff(staff)
    call = claims.decide(ticket.claim, staff, macro.claim_outcome, commit=False) if macro.claim_outcome else None
    if call is not None:
        # Handed to the panel (desk.panel.actions), the ticket waits for it, as after the
        # claim panel's buttons; the reply says so.
        body = f"{body.rstrip()}\n\n{replies.PANEL_UNDER_WAY[call.action]}"
    status = "on_hold" if call is not None else macro.set_status
    message = tickets.add_staff_reply(ticket, actor, body, internal=False, status=status, staff=staff)
    if macro.add_tags:
        tickets.set_tags(ticket, actor, set(ticket.tags) | set(macro.add_tags))
    if macro.assign:
        tickets.set_assignee(ticket, staff, _assignee(macro, staff))
    record(actor, "macro.applied", "ticket", ticket.reference, ticket_id=ticket.id, macro=macro.id,
           name=macro.name, message=message.id)
    db.session.commit()
    jobs.dispatch()
    return message


# -- the claim macros -------------------------------------------------------------------

# Their words are the claim panel's (desk.claims.replies through {claim_decision} and
# {claim_clause}), so a macro and the Accept/Reject buttons quote the Terms alike.
CLAIM_MACROS = (
    ("Accept claim", "accepted", "claim-accepted"),
    ("Reject claim", "rejected", "claim-rejected"),
)
CLAIM_MACRO_BODY = "Hello,\n\n{claim_decision}\n\n{claim_clause}\n\nBest regards,\n\n{agent_name}"


def seed_claim_macros() -> int:
    """The Claims queue's "Accept claim" and "Reject claim" macros, unless a macro of that
    name is there already (so a second run, or an admin's edits, are left alone)."""
    made = 0
    for name, outcome, tag in CLAIM_MACROS:
        exists = db.session.execute(select(Macro.id).where(Macro.queue == "claims", Macro.name == name)).first()
        if not exists:
            create(MacroData(name=name, body=CLAIM_MACRO_BODY, queue="claims", set_status="resolved", add_tags=tag,
                             claim_outcome=outcome), None)
            made += 1
    return made
