"""The calendar, targets and switches admins set, read from the database.

Each process keeps what it read for SLA_SETTINGS_CACHE_SECONDS, so ticket intake does not
query three tables per ticket; the process that saves a change forgets its copy at once.
"""
import time
from dataclasses import dataclass
from datetime import date

from flask import current_app
from sqlalchemy import delete, select

from desk.audit.services import Actor, record
from desk.errors import ValidationError
from desk.extensions import db
from desk.policy.calendar import DEFAULT_WEEK, Calendar, Hours
from desk.policy.sla import DEFAULT_TARGETS, Targets
from desk.sla.models import Holiday, SlaSetting, SlaTarget, SupportDay

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Admin switches, with their defaults.
SWITCHES = {
    # privacy-10-gdpr: waiting for the requester's identity does not stop the month unless
    # an admin decides otherwise.
    "gdpr_pauses_for_identity": False,
}


@dataclass(frozen=True)
class SlaConfig:
    calendar: Calendar
    targets: dict[str, Targets]
    switches: dict[str, bool]

    def targets_for(self, kind: str) -> Targets:
        return self.targets.get(kind) or DEFAULT_TARGETS.get(kind) or DEFAULT_TARGETS["general"]


def _cache() -> dict:
    return current_app.extensions.setdefault("desk_sla_config", {})


def current() -> SlaConfig:
    cache = _cache()
    ttl = current_app.config["SLA_SETTINGS_CACHE_SECONDS"]
    if cache.get("config") is not None and time.monotonic() - cache["at"] < ttl:
        return cache["config"]
    config = load()
    cache.update(config=config, at=time.monotonic())
    return config


def forget() -> None:
    _cache().clear()


def load() -> SlaConfig:
    week = list(DEFAULT_WEEK)
    for row in db.session.execute(select(SupportDay)).scalars():
        week[row.weekday] = None if row.closed else Hours(row.opens, row.closes)
    holidays = frozenset(db.session.execute(select(Holiday.day)).scalars())
    targets = dict(DEFAULT_TARGETS)
    for row in db.session.execute(select(SlaTarget)).scalars():
        targets[row.kind] = Targets(row.first_response, row.resolution)
    switches = dict(SWITCHES)
    for row in db.session.execute(select(SlaSetting).where(SlaSetting.key.in_(SWITCHES))).scalars():
        switches[row.key] = bool(row.value.get("on"))
    zone = current_app.config["SUPPORT_TIMEZONE"]
    return SlaConfig(Calendar(zone=zone, week=tuple(week), holidays=holidays), targets, switches)


def _reasons(problems: dict[str, str]) -> str:
    return "; ".join(f"{name.replace('_', ' ')}: {why}" for name, why in problems.items())


def holidays() -> list[Holiday]:
    return db.session.execute(select(Holiday).order_by(Holiday.day)).scalars().all()


def parse_hhmm(value: str) -> int | None:
    """Minutes after midnight from "HH:MM" ("24:00" allowed as a closing time)."""
    try:
        hh, mm = value.strip().split(":")
        minutes = int(hh) * 60 + int(mm)
    except (ValueError, AttributeError):
        return None
    return minutes if 0 <= int(mm) < 60 and 0 <= minutes <= 24 * 60 else None


def save_week(rows: list[tuple[bool, str, str]], actor: Actor) -> None:
    """Seven (closed, opens "HH:MM", closes "HH:MM") rows, Monday first."""
    problems, week = {}, []
    for weekday, (closed, opens, closes) in enumerate(rows):
        if closed:
            week.append(None)
            continue
        start, end = parse_hhmm(opens), parse_hhmm(closes)
        if start is None or end is None or start >= end:
            problems[WEEKDAYS[weekday].lower()] = "opening and closing times as HH:MM, opening first"
            week.append(None)
        else:
            week.append(Hours(start, end))
    if not problems and all(day is None for day in week):
        problems["week"] = "support must be open on at least one day"
    if problems:
        raise ValidationError("Support hours need attention: " + _reasons(problems) + ".", problems)
    before = [str(h) if h else "closed" for h in current().calendar.week]
    db.session.execute(delete(SupportDay))
    for weekday, hours in enumerate(week):
        if hours != DEFAULT_WEEK[weekday]:
            db.session.add(SupportDay(weekday=weekday, opens=hours.opens if hours else 0,
                                      closes=hours.closes if hours else 0, closed=hours is None))
    record(actor, "sla.hours", "calendar", "week", before=before, after=[str(h) if h else "closed" for h in week])


def add_holiday(day: date, name: str, actor: Actor) -> None:
    name = name.strip()
    if not name:
        raise ValidationError("Name the holiday.", {"name": "required"})
    if len(name) > 120:  # holidays.name; the form says so first, the CLI and API rely on this
        raise ValidationError("A holiday's name is at most 120 characters.", {"name": "at most 120 characters"})
    if db.session.get(Holiday, day) is not None:
        raise ValidationError(f"{day.isoformat()} is already a holiday.", {"day": "already a holiday"})
    db.session.add(Holiday(day=day, name=name))
    record(actor, "sla.holiday_added", "calendar", day.isoformat(), name=name)


def remove_holiday(day: date, actor: Actor) -> bool:
    row = db.session.get(Holiday, day)
    if row is None:
        return False
    db.session.delete(row)
    record(actor, "sla.holiday_removed", "calendar", day.isoformat(), name=row.name)
    return True


def save_targets(kind: str, targets: Targets, actor: Actor) -> None:
    problems = targets.problems()
    if problems:
        raise ValidationError("Targets need attention: " + _reasons(problems) + ".", problems)
    before = current().targets_for(kind)
    row = db.session.get(SlaTarget, kind)
    if row is None:
        db.session.add(SlaTarget(kind=kind, first_response=targets.first_response, resolution=targets.resolution))
    else:
        row.first_response, row.resolution = targets.first_response, targets.resolution
    record(actor, "sla.targets", "ticket_kind", kind,
           before=[before.first_response, before.resolution], after=[targets.first_response, targets.resolution])


def save_switch(key: str, on: bool, actor: Actor) -> None:
    if key not in SWITCHES:
        raise ValidationError("Unknown setting.", {"key": key})
    row = db.session.get(SlaSetting, key)
    if row is None:
        db.session.add(SlaSetting(key=key, value={"on": on}))
    else:
        row.value = {"on": on}
    record(actor, "sla.setting", "setting", key, after=on)
