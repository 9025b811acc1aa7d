"""The append-only moderation log (DESIGN §2): every report, acknowledgement, escalation,
action, reversal, appeal, hold and disclosure is an event on its subject. A case's state
and an account's strikes are replayed from it by desk.policy.abuse; the case row's
`state` is that replay, refreshed on every event. Callers own the transaction."""
from sqlalchemy import select

from desk.abuse.models import AbuseCase, ModerationEvent
from desk.audit.services import Actor
from desk.extensions import db
from desk.policy import abuse as policy
from desk.types import utcnow


def append(case: AbuseCase | None, subject: str, kind: str, actor: Actor, staff_id: int | None = None,
           at=None, **data) -> ModerationEvent:
    event = ModerationEvent(case_id=case.id if case else None, subject=subject, kind=kind, data=data,
                            actor_kind=actor.kind, actor_label=actor.label, staff_id=staff_id, at=at or utcnow())
    db.session.add(event)
    db.session.flush()
    if case is not None:
        case.state = replay(case).state
    return event


def events_of(case: AbuseCase) -> list[ModerationEvent]:
    return list(db.session.execute(
        select(ModerationEvent).where(ModerationEvent.case_id == case.id).order_by(ModerationEvent.id)).scalars())


def _plain(rows) -> list[policy.Event]:
    return [policy.Event(row.kind, row.subject, row.data or {}) for row in rows]


def replay(case: AbuseCase) -> policy.CaseState:
    return policy.case_state(_plain(events_of(case)))


def strikes(panel_id: str) -> int:
    rows = db.session.execute(select(ModerationEvent).where(
        ModerationEvent.subject == account(panel_id), ModerationEvent.kind.in_(("action", "reversal")))
        .order_by(ModerationEvent.id)).scalars()
    return policy.strikes(_plain(rows))


def account(panel_id: str) -> str:
    return f"account:{panel_id}"


def order(panel_id: str) -> str:
    return f"order:{panel_id}"


def link(normalized: str) -> str:
    return f"link:{normalized}"


def open_cases_naming(panel_id: str) -> list[AbuseCase]:
    """Cases still under review that name this account (they hold back a closure's
    payout: terms-15-closure, "suspected violation")."""
    from desk.abuse.models import CaseSubject

    return list(db.session.execute(
        select(AbuseCase).join(CaseSubject, CaseSubject.case_id == AbuseCase.id)
        .where(CaseSubject.subject == account(panel_id), AbuseCase.state.not_in(("closed", "merged")))
        .order_by(AbuseCase.id)).scalars())
