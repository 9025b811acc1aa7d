"""Webhooks out: the desk tells the URLs admins register what happened, as signed JSON.

- The services where things happen call `emit(event, payload)` in their own transaction;
  the event row and its job commit with the change (the outbox), so an event is never sent
  for a change that was rolled back, nor lost with Redis.
- Payloads carry ids and references only — the ticket reference, kind and queue, the
  panel's customer and order ids, amounts and rule ids — never a subject, a message, an
  e-mail address or a reporter. Tickets of the restricted queues (abuse, legal, privacy)
  send no ticket events at all: the queues API keys may read are the ones that do.
- Each delivery is a POST of `{"id", "type", "created_at", "data"}` with
  `X-Desk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`, signed
  afresh for every attempt. Anything but a 2xx (or no answer within WEBHOOK_TIMEOUT) is
  tried again after WEBHOOK_RETRY_INTERVALS (jittered), then marked failed; every attempt
  is logged on the delivery, and admins can send an event again.
- URLs are admin-entered (SSRF): only http(s), no credentials, no redirects followed, and
  no loopback, private, link-local or reserved address — checked when the URL is entered and
  again before every attempt — unless WEBHOOK_ALLOW_PRIVATE is set.
"""
import hashlib
import hmac
import ipaddress
import json
import random
import secrets
import socket
import time
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from flask import current_app
from sqlalchemy import select

from desk import jobs, remembered
from desk.audit.services import Actor, record
from desk.auth.roles import queues_for_api_key
from desk.errors import DeskError, ValidationError
from desk.extensions import db
from desk.types import utcnow
from desk.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

EVENTS = {
    "ticket.created": "a ticket was filed",
    "ticket.status_changed": "a ticket's status changed",
    "claim.decided": "staff accepted or rejected a claim",
    "money_request.approved": "a refund, withdrawal, closure or restoration was approved",
    "enforcement.taken": "an enforcement action was taken on an account or order",
}
SIGNATURE_HEADER = "X-Desk-Signature"
EXCERPT = 500  # characters of a receiver's answer kept per attempt
MAX_URL = 2048


# --- endpoints ------------------------------------------------------------------------

def check_url(url: str, allow_private: bool | None = None) -> str:
    """The URL as stored, or a ValidationError saying what is wrong with it."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise ValidationError("The URL cannot be read: check its host (an IPv6 address goes in [brackets]) and "
                              "its port (1 to 65535).", {"url": "unreadable"}) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("A webhook URL is an http:// or https:// address, such as "
                              "https://panel.example/hooks/desk.", {"url": "http(s) only"})
    if len(url) > MAX_URL:
        raise ValidationError(f"A webhook URL is at most {MAX_URL} characters.", {"url": "too long"})
    if parts.username or parts.password:
        raise ValidationError("Leave the user name and password out of the URL: the signature shows the request "
                              "came from the desk.", {"url": "no credentials"})
    problem = _address_problem(parts.hostname, allow_private)
    if problem:
        raise ValidationError(f"Refused: {problem}.", {"url": "not allowed"})
    return url


def _address_problem(host: str, allow_private: bool | None = None) -> str | None:
    """Why the desk will not call `host` (None: it may). Every address the name has must be
    public, so a name cannot lead the desk to a service on its own network."""
    if allow_private is None:
        allow_private = current_app.config["WEBHOOK_ALLOW_PRIVATE"]
    if allow_private:
        return None
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return f"{host} cannot be found"
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address.version == 6 and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast or address.is_reserved or address.is_unspecified:
            return (f"{host} is {address}, an address on a private network, loopback or reserved "
                    "(webhooks go to addresses outside the desk's network; WEBHOOK_ALLOW_PRIVATE lifts this)")
    return None


def check_events(events) -> list[str]:
    chosen = sorted(set(events or ()))
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown or not chosen:
        raise ValidationError("Choose at least one of the events: " + ", ".join(EVENTS) + ".", {"events": "required"})
    return chosen


def create_endpoint(url: str, events, description: str, staff) -> tuple[WebhookEndpoint, str]:
    """Register a URL; (endpoint, secret): the secret is shown this once."""
    url, chosen = check_url(url), check_events(events)
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(url=url, events=chosen, description=(description or "").strip()[:200],
                               secret=secret, created_by_id=staff.id)
    db.session.add(endpoint)
    db.session.flush()
    record(Actor.staff(staff), "webhook.created", "webhook_endpoint", endpoint.id, url=url, events=chosen)
    db.session.commit()
    return endpoint, secret


def set_active(endpoint: WebhookEndpoint, active: bool, staff) -> None:
    if endpoint.active != active:
        endpoint.active = active
        record(Actor.staff(staff), "webhook.activated" if active else "webhook.deactivated", "webhook_endpoint",
               endpoint.id, url=endpoint.url)
    db.session.commit()


def endpoints() -> list[WebhookEndpoint]:
    return list(db.session.execute(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).scalars())


def deliveries(endpoint_id: int | None = None, before: int | None = None, limit: int = 50) -> list[WebhookDelivery]:
    """The delivery log, newest first, a page at a time (by id)."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if endpoint_id:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    if before:
        query = query.where(WebhookDelivery.id < before)
    return list(db.session.execute(query).scalars())


# --- events ---------------------------------------------------------------------------

def ticket_fields(ticket) -> dict:
    """What an event says about a ticket: references, never its words or its requester."""
    return {"ticket": ticket.reference, "kind": ticket.kind, "queue": ticket.queue,
            "customer": ticket.customer.panel_id if ticket.customer is not None else None,
            "order": ticket.order_ref}


def emit_ticket(event: str, ticket, **extra) -> None:
    """A ticket event, unless the ticket is in a restricted queue (abuse, legal, privacy)."""
    if ticket.queue in queues_for_api_key("panel") and _subscribed(event):
        with db.session.no_autoflush:
            _store(event, {**ticket_fields(ticket), **extra})


def emit(event: str, payload: dict) -> None:
    """Send `event` to every active endpoint that takes it, once the caller's transaction
    commits (nothing when none does). `payload`: ids, references, amounts, rule ids."""
    if _subscribed(event):
        _store(event, payload)


SUBSCRIBED = "webhook_events"
remembered.watch(WebhookEndpoint, SUBSCRIBED)


def _subscribed(event: str) -> bool:
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    return event in remembered.recall(SUBSCRIBED, "active", _taken, current_app.config["SETTINGS_CACHE_SECONDS"])


def _taken() -> frozenset:
    """The events some active endpoint takes: every ticket filed asks, so each process
    remembers them for SETTINGS_CACHE_SECONDS (an endpoint added here counts at once)."""
    with db.session.no_autoflush:  # called in the middle of other services' changes
        return frozenset(event for events in db.session.execute(
            select(WebhookEndpoint.events).where(WebhookEndpoint.active.is_(True))).scalars() for event in events or ())


def _store(event: str, payload: dict) -> None:
    uid = "evt_" + uuid.uuid4().hex
    db.session.add(WebhookEvent(uid=uid, type=event, payload=json.loads(json.dumps(payload, default=str)),
                                created_at=utcnow()))
    jobs.enqueue("workers.webhooks.fan_out", uid)


def fan_out(uid: str) -> int:
    """One delivery (and its job) per active endpoint that takes the event; run twice, once."""
    event = db.session.execute(select(WebhookEvent).where(WebhookEvent.uid == uid)).scalar_one_or_none()
    if event is None:
        return 0
    if db.session.execute(select(WebhookDelivery.id).where(WebhookDelivery.event_id == event.id).limit(1)).first():
        return 0
    made = []
    for endpoint in db.session.execute(select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))).scalars():
        if event.type in (endpoint.events or ()):
            delivery = WebhookDelivery(event_id=event.id, endpoint_id=endpoint.id, log=[])
            db.session.add(delivery)
            made.append(delivery)
    db.session.flush()
    for delivery in made:
        jobs.enqueue("workers.webhooks.deliver", delivery.id, 1)
    db.session.commit()
    jobs.dispatch()
    return len(made)


def body_of(event: WebhookEvent) -> bytes:
    return json.dumps({"id": event.uid, "type": event.type, "created_at": event.created_at.isoformat(),
                       "data": event.payload}, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, body: bytes, at: int) -> str:
    """The X-Desk-Signature value for `body` sent at `at` (Unix seconds)."""
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


# --- delivering -----------------------------------------------------------------------

def deliver(delivery_id: int, attempt: int) -> str:
    """Attempt number `attempt` of a delivery (the job workers.webhooks.deliver). Run twice
    for the same attempt, it posts once. A failure schedules the next attempt, until
    WEBHOOK_RETRY_INTERVALS run out."""
    config = current_app.config
    # The claim leaves a lease in next_retry_at: a worker killed while it posts (the row
    # claimed, the outcome never written) leaves a delivery that resume_overdue() picks up
    # once the lease has run out, as attempt + 1 with the same event id. Without it the
    # delivery stayed "pending" with its attempt spent, and the event was never delivered.
    lease = utcnow() + timedelta(seconds=config["WEBHOOK_TIMEOUT"] * 2 + 10)
    claimed = jobs.claim(WebhookDelivery, delivery_id, WebhookDelivery.attempts == attempt - 1,
                         WebhookDelivery.status.in_(("pending", "retrying")), attempts=attempt, next_retry_at=lease)
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if not claimed:
        return f"delivery {delivery_id}: attempt {attempt} not due, nothing sent"
    endpoint, body = delivery.endpoint, body_of(delivery.event)
    entry = {"n": attempt, "at": utcnow().isoformat(timespec="seconds"), "status_code": None, "response": None,
             "error": None, "ms": 0}
    started = time.monotonic()
    problem = None if endpoint.active else "the endpoint is turned off"
    problem = problem or _address_problem(urlsplit(endpoint.url).hostname or "")
    if problem:
        entry["error"] = f"not sent: {problem}"
    else:
        headers = {"Content-Type": "application/json", "User-Agent": "desk-webhooks/1",
                   SIGNATURE_HEADER: sign(endpoint.secret, body, int(time.time())),
                   "X-Desk-Event": delivery.event.type, "X-Desk-Event-Id": delivery.event.uid,
                   "X-Desk-Delivery": str(delivery.id)}
        try:
            with httpx.Client(timeout=config["WEBHOOK_TIMEOUT"], follow_redirects=False) as client:
                response = client.post(endpoint.url, content=body, headers=headers)
        except httpx.TimeoutException:
            entry["error"] = f"no answer within {config['WEBHOOK_TIMEOUT']:g} s"
        except httpx.HTTPError as exc:
            entry["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        else:
            entry["status_code"] = response.status_code
            entry["response"] = response.text[:EXCERPT]
            if not 200 <= response.status_code < 300:
                entry["error"] = f"HTTP {response.status_code}"
    entry["ms"] = round((time.monotonic() - started) * 1000)
    delivery.log = list(delivery.log or []) + [entry]
    delivery.last_status_code, delivery.last_response = entry["status_code"], entry["response"]
    delivery.next_retry_at = None
    if entry["error"] is None:
        delivery.status, delivery.delivered_at = "delivered", utcnow()
        db.session.commit()
        return f"delivery {delivery.id}: delivered (HTTP {entry['status_code']})"
    intervals = list(config["WEBHOOK_RETRY_INTERVALS"])
    if attempt > len(intervals) or not endpoint.active:
        delivery.status = "failed"
        db.session.commit()
        return f"delivery {delivery.id}: failed after {attempt} attempt(s): {entry['error']}"
    wait = intervals[attempt - 1] * random.uniform(0.8, 1.2)  # jitter: retries of many events spread out
    delivery.status, delivery.next_retry_at = "retrying", utcnow() + timedelta(seconds=wait)
    db.session.commit()
    jobs.enqueue_in(wait, "workers.webhooks.deliver", delivery.id, attempt + 1)
    return f"delivery {delivery.id}: attempt {attempt} failed ({entry['error']}); next in {wait:.0f} s"


def resend(delivery: WebhookDelivery, staff) -> WebhookDelivery:
    """Send a delivery's event to its endpoint again, as a new delivery with its own
    attempts (the event keeps its id, so the receiver can tell it has seen it)."""
    if not delivery.endpoint.active:
        raise DeskError("The endpoint is turned off; turn it on to send to it again.", code="inactive", status=409)
    again = WebhookDelivery(event_id=delivery.event_id, endpoint_id=delivery.endpoint_id, resend_of_id=delivery.id,
                            log=[])
    db.session.add(again)
    db.session.flush()
    record(Actor.staff(staff), "webhook.resent", "webhook_delivery", again.id, event=delivery.event.uid,
           resend_of=delivery.id)
    jobs.enqueue("workers.webhooks.deliver", again.id, 1)
    db.session.commit()
    jobs.dispatch()
    return again


def resume_overdue(now=None) -> int:
    """Retries whose scheduled job was lost with Redis, and attempts whose worker died
    while posting (their lease ran out), are sent now (the attempt number keeps a late
    original from posting twice)."""
    now = now or utcnow()
    overdue = db.session.execute(select(WebhookDelivery.id, WebhookDelivery.attempts).where(
        WebhookDelivery.status.in_(("pending", "retrying")),
        WebhookDelivery.next_retry_at < now - timedelta(minutes=5))).all()
    for delivery_id, attempts in overdue:
        jobs.enqueue_in(0, "workers.webhooks.deliver", delivery_id, attempts + 1)
    return len(overdue)
