"""Custom fields per ticket kind and tag suggestions (issue 10): what admins define, what
staff fill in on a ticket, and the queue's filter by a field's value."""
import re

from flask import current_app
from sqlalchemy import func, or_, select

from desk.audit.services import Actor, record
from desk.cache import cached_json
from desk.errors import DeskError, ValidationError
from desk.extensions import db
from desk.tickets.models import FIELD_TYPES, KIND_QUEUES, CustomField, Ticket, TicketFieldValue, TicketTag

KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_VALUE = 200
MAX_CHOICES = 50
SUGGESTED_TAGS = 20


def fields_for(kind: str) -> list[CustomField]:
    """The active fields of a ticket kind: its own and those of every kind."""
    return db.session.execute(select(CustomField).where(
        CustomField.active.is_(True), or_(CustomField.kind == kind, CustomField.kind.is_(None)))
        .order_by(CustomField.id)).scalars().all()


def values_of(ticket: Ticket) -> dict[int, str]:
    return dict(db.session.execute(select(TicketFieldValue.field_id, TicketFieldValue.value)
                                   .where(TicketFieldValue.ticket_id == ticket.id)).all())


def clean_value(field: CustomField, raw) -> str | None:
    """The value as stored (None: empty), or ValidationError naming the field."""
    value = " ".join(str(raw or "").split())
    if not value:
        return None
    if "\x00" in value or len(value) > MAX_VALUE:
        raise ValidationError(f"{field.label}: at most {MAX_VALUE} characters.", {field.key: "too long"})
    if field.type == "number":
        if not re.fullmatch(r"-?\d{1,15}", value):
            raise ValidationError(f"{field.label}: a whole number.", {field.key: "a whole number"})
        return str(int(value))
    if field.type == "choice" and value not in field.choices:
        raise ValidationError(f"{field.label}: one of {', '.join(field.choices)}.", {field.key: "not a choice"})
    return value


def set_values(ticket: Ticket, staff, raw: dict[str, str]) -> None:
    """Staff fill in the ticket's fields (`raw` by key; a missing key leaves its value);
    commits, audited with what changed."""
    fields = {f.key: f for f in fields_for(ticket.kind)}
    current = values_of(ticket)
    wanted = {f.id: clean_value(f, raw[key]) for key, f in fields.items() if key in raw}
    changed = {}
    for field_id, value in wanted.items():
        if current.get(field_id) == value:
            continue
        row = db.session.get(TicketFieldValue, (ticket.id, field_id))
        if value is None:
            db.session.delete(row)
        elif row is None:
            db.session.add(TicketFieldValue(ticket_id=ticket.id, field_id=field_id, value=value))
        else:
            row.value = value
        changed[next(k for k, f in fields.items() if f.id == field_id)] = [current.get(field_id), value]
    if changed:
        record(Actor.staff(staff), "ticket.fields", "ticket", ticket.reference, ticket_id=ticket.id, changed=changed)
    db.session.commit()


def define(key: str, label: str, kind: str | None, type_: str, choices: list[str], staff) -> CustomField:
    """An admin adds a field; commits."""
    key, label = (key or "").strip().lower(), " ".join((label or "").split())
    problems = {}
    if not KEY.fullmatch(key):
        problems["key"] = "lower-case letters, digits and _, starting with a letter, at most 40"
    if not label or len(label) > 80:
        problems["label"] = "1 to 80 characters"
    if kind is not None and kind not in KIND_QUEUES:
        problems["kind"] = "a ticket kind, or every kind"
    if type_ not in FIELD_TYPES:
        problems["type"] = f"one of {', '.join(FIELD_TYPES)}"
    choices = [c for c in dict.fromkeys(" ".join(c.split()) for c in choices) if c]
    if type_ == "choice" and not 1 <= len(choices) <= MAX_CHOICES:
        problems["choices"] = f"1 to {MAX_CHOICES} choices, one per line"
    if any(len(c) > MAX_VALUE for c in choices):
        problems["choices"] = f"each at most {MAX_VALUE} characters"
    if not problems and db.session.execute(select(CustomField.id).where(CustomField.key == key)).first():
        problems["key"] = "already used by another field"
    if problems:
        raise ValidationError("The field has problems: " + "; ".join(f"{k}: {v}" for k, v in problems.items()) + ".",
                              problems)
    field = CustomField(key=key, label=label, kind=kind, type=type_, choices=choices if type_ == "choice" else [])
    db.session.add(field)
    db.session.flush()
    record(Actor.staff(staff), "field.defined", "custom_field", field.id, key=key, kind=kind, type=type_)
    db.session.commit()
    return field


def set_active(field: CustomField, active: bool, staff) -> None:
    """Retire a field (its values stay, for the record and old filters) or bring it back."""
    if field.active != active:
        field.active = active
        record(Actor.staff(staff), "field.active", "custom_field", field.id, after=active)
    db.session.commit()


def parse_filter(raw: str | None) -> tuple[int, str] | None:
    """`key:value` from the queue's ?field= into (field id, value); DeskError when the key
    names no field, so a mistyped filter says so instead of showing an empty queue."""
    if not raw:
        return None
    key, sep, value = raw.partition(":")
    field = db.session.execute(select(CustomField).where(CustomField.key == key.strip().lower())) \
        .scalar_one_or_none() if sep else None
    if field is None:
        raise DeskError(f"No field {key.strip()!r}: filter by a field as key:value.", {"field": "unknown"},
                        code="unknown_field")
    return field.id, " ".join(value.split())


def tag_suggestions(kind: str) -> list[str]:
    """The tags most used on tickets of this kind, for the tag box; counted at most every
    TAG_SUGGESTIONS_TTL seconds (shared through Redis)."""
    def count():
        return list(db.session.execute(
            select(TicketTag.tag).join(Ticket, Ticket.id == TicketTag.ticket_id).where(Ticket.kind == kind)
            .group_by(TicketTag.tag).order_by(func.count().desc(), TicketTag.tag).limit(SUGGESTED_TAGS)).scalars())

    return cached_json(f"desk:tag-suggestions:{kind}", current_app.config["TAG_SUGGESTIONS_TTL"], count)
