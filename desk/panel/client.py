"""A small client for the panel's API v2, the one SMM panels share: every call is a POST
of form fields (`key`, `action`, …) to one URL, every answer JSON, a refusal
`{"error": "..."}`.

- Timeouts on every request (PANEL_API_TIMEOUT; connecting at most 5 s of it).
- Network errors and 5xx answers are tried again (PANEL_API_RETRIES more times) after a
  backoff that doubles from PANEL_API_BACKOFF, with jitter. Calls that change something on
  the panel (refill, cancel, add) are tried again only when the request cannot have
  reached it (the connection failed) or the answer says it was not taken (502, 503, 504):
  after a timeout or a 500 the panel may have acted, and a second refill is not ours to risk.
  That call fails with `maybe_done` set, for a person to check.
- An `{"error": ...}` answer is the panel's word and is never tried again (PanelRefused).
- An answer that is not JSON, or not the documented shape, is PanelBadAnswer.
- The key goes in the POST body only: never in the URL, an exception or a log line (any
  text kept from an answer has it blanked out too).
- Money arrives as strings with up to five decimals: read with Decimal, never float.
- Requests are paced to PANEL_API_RATE a minute (per client; 0: unpaced).
"""
import hashlib
import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable

import httpx

log = logging.getLogger(__name__)

MAX_ORDERS = 100  # ids per multi-order status or cancel call (API v2)
MAX_BACKOFF = 30.0  # seconds: the longest wait between two attempts
EXCERPT = 300  # characters of an unreadable answer kept in the error
CENT = Decimal("0.01")
RETRYABLE_WRITE_STATUSES = (502, 503, 504)
OFF = "Panel integration is off: set PANEL_API_URL and PANEL_API_KEY."  # a proxy or the panel saying it did not take the request


class PanelError(Exception):
    """The call did not give an answer to use; the message is safe to show and to log."""

    def __init__(self, message: str, *, attempts: int = 1, answer: Any = None):
        super().__init__(message)
        self.message = message
        self.attempts = attempts
        self.answer = answer  # what the panel said, when it said something


class PanelOff(PanelError):
    """PANEL_API_URL or PANEL_API_KEY is not set."""


class PanelUnavailable(PanelError):
    """No usable answer after the retries: the network, a timeout or a 5xx."""

    def __init__(self, message: str, *, attempts: int = 1, answer: Any = None, maybe_done: bool = False):
        super().__init__(message, attempts=attempts, answer=answer)
        # A change was sent and no answer came back: the panel may have made it.
        self.maybe_done = maybe_done


class PanelRefused(PanelError):
    """The panel answered `{"error": "..."}`."""


class PanelBadAnswer(PanelError):
    """The answer is not JSON, or not the shape API v2 documents."""


@dataclass(frozen=True)
class OrderStatus:
    """One order as `status` answers it. For a multi-order call, an id the panel does not
    know (or answered unreadably) has `error` set and nothing else."""

    order: str
    status: str | None = None  # the panel's word: Pending, In progress, Processing, Completed, Partial, Canceled
    charge: Decimal | None = None  # as sent (up to five decimals); cents() rounds it
    start_count: int | None = None
    remains: int | None = None
    currency: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class CancelResult:
    order: str
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class Balance:
    balance: Decimal
    currency: str | None


def cents(amount: Decimal) -> Decimal:
    """A panel amount (up to five decimals) as the mirror keeps money: to the cent, half up
    (as the Terms round a Partial order's return, terms-9-partial)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


class Pacer:
    """At most `per_minute` requests a minute, spaced evenly (0: no limit). Thread-safe.

    With `redis`, the spacing is shared by every process and machine that paces against the
    same Redis and `key` (the panel's limit is per key, not per worker): each call reserves
    the next free slot with one atomic script on Redis's own clock. When Redis cannot be
    reached the slot is kept in this process, as without it, and a warning logged."""

    ALONE_FOR = 30  # seconds of pacing alone after Redis could not be reached

    # The next free slot, in microseconds of Redis's clock; returns how long to wait for ours.
    RESERVE = """
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
    local start = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
    local after = start + tonumber(ARGV[1])
    redis.call('SET', KEYS[1], after, 'PX', math.floor((after - now) / 1000) + 1000)
    return start - now
    """

    def __init__(self, per_minute: int, sleep: Callable[[float], None] = time.sleep, *, redis=None,
                 key: str = "desk:panel:pace"):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()
        self._sleep = sleep
        self._reserve = redis.register_script(self.RESERVE) if redis is not None and self.interval else None
        self._key = key
        self._alone_until = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        delay = self._shared_delay()
        if delay is None:
            with self._lock:
                now = time.monotonic()
                start = max(now, self._next)
                self._next = start + self.interval
            delay = start - now
        if delay > 0:
            self._sleep(delay)

    def _shared_delay(self) -> float | None:
        if self._reserve is None or time.monotonic() < self._alone_until:
            return None
        try:
            return int(self._reserve(keys=[self._key], args=[round(self.interval * 1_000_000)])) / 1_000_000
        except Exception as exc:  # redis.RedisError and OSError: pace alone rather than not call at all
            # Reaching a Redis that is down takes seconds (the client's own retries): not on every call.
            self._alone_until = time.monotonic() + self.ALONE_FOR
            log.warning("panel pacing on this process only for %d s: Redis unavailable (%s)",
                        self.ALONE_FOR, type(exc).__name__)
            return None


class PanelClient:
    def __init__(self, url: str, key: str, *, timeout: float = 10.0, retries: int = 2, backoff: float = 1.0,
                 per_minute: int = 0, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep, redis=None):
        if not url or not key:
            raise PanelOff(OFF)
        self.url = url
        self._key = key
        self.retries = max(0, retries)
        self.backoff = max(0.0, backoff)
        self.pacer = Pacer(per_minute, sleep, redis=redis, key=f"desk:panel:pace:{hashlib.sha256(url.encode()).hexdigest()[:16]}")
        self._sleep = sleep
        self.last_attempts = 0  # the HTTP requests the latest call made (each retry is one)
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), follow_redirects=False,
                                  headers={"User-Agent": "desk-panel-client/1"}, transport=transport)

    @classmethod
    def from_config(cls, config, redis=None) -> "PanelClient":
        """`redis`: where the pace is shared between processes (desk.panel.client())."""
        return cls(config.get("PANEL_API_URL"), config.get("PANEL_API_KEY"),
                   timeout=config["PANEL_API_TIMEOUT"], retries=config["PANEL_API_RETRIES"],
                   backoff=config["PANEL_API_BACKOFF"], per_minute=config["PANEL_API_RATE"], redis=redis)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "PanelClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:  # never the key
        return f"PanelClient({self.url!r})"

    # --- the wire ---------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """Text from the panel or the network as it may be kept: without the key."""
        return text.replace(self._key, "[key]") if self._key else text

    def call(self, action: str, *, write: bool = False, **params) -> Any:
        """POST one action and give back its JSON answer. Raises PanelRefused on an
        `{"error": ...}` answer, PanelBadAnswer on one that is not JSON, PanelUnavailable
        when no answer came after the retries."""
        data = {"key": self._key, "action": action, **{name: str(value) for name, value in params.items()}}
        attempt = 0
        while True:
            attempt += 1
            self.last_attempts = attempt
            self.pacer.wait()
            problem, sent, again = None, True, False
            try:
                response = self._http.post(self.url, data=data)
            except httpx.TransportError as exc:
                # Only a failed connection is sure not to have reached the panel.
                sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                problem = "no answer in time" if isinstance(exc, httpx.TimeoutException) else (
                    f"network error ({type(exc).__name__})")
                again = not (write and sent)
            else:
                if response.status_code >= 500:
                    problem = f"HTTP {response.status_code}"
                    again = not write or response.status_code in RETRYABLE_WRITE_STATUSES
                    sent = response.status_code not in RETRYABLE_WRITE_STATUSES
            if problem is None:
                return self._answer(action, response, attempt)
            if not again or attempt > self.retries:
                more = "" if again else (" (not tried again: the panel may have acted)" if write and sent else "")
                raise PanelUnavailable(f"Panel {action}: {problem} after {attempt} attempt(s){more}.",
                                       attempts=attempt, maybe_done=write and sent)
            delay = self._delay(attempt)
            log.warning("Panel %s: %s (attempt %d); trying again in %.1f s", action, problem, attempt, delay)
            self._sleep(delay)

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half the step fixed, half random."""
        step = min(MAX_BACKOFF, self.backoff * 2 ** (attempt - 1))
        return step / 2 + random.uniform(0, step / 2)

    def _answer(self, action: str, response: httpx.Response, attempts: int) -> Any:
        try:
            # Amounts must never pass through float: JSON numbers are read as Decimal.
            body = json.loads(response.text, parse_float=Decimal)
        except ValueError:
            excerpt = self.scrub(response.text[:EXCERPT])
            raise PanelBadAnswer(f"Panel {action}: the answer is not JSON (HTTP {response.status_code}): "
                                 f"{excerpt!r}", attempts=attempts, answer=excerpt) from None
        if isinstance(body, dict) and "error" in body:
            message = self.scrub(str(body["error"]))[:EXCERPT]
            raise PanelRefused(f"Panel {action}: {message}", attempts=attempts, answer={"error": message})
        if response.status_code >= 400:
            raise PanelBadAnswer(f"Panel {action}: HTTP {response.status_code}", attempts=attempts,
                                 answer=_jsonable(body))
        return body

    # --- the actions ------------------------------------------------------------------

    def services(self) -> list[dict]:
        body = self.call("services")
        if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
            raise PanelBadAnswer("Panel services: expected a list of services.", answer=_jsonable(body))
        return [_jsonable(item) for item in body]

    def add(self, service: int | str, link: str, quantity: int, **extra) -> str:
        """Place an order; its id. (The desk places none itself; here for completeness.)"""
        body = self.call("add", write=True, service=service, link=link, quantity=quantity, **extra)
        return _id_field(body, "order", "add")

    def status(self, order: str) -> OrderStatus:
        body = self.call("status", order=order)
        if not isinstance(body, dict):
            raise PanelBadAnswer(f"Panel status: expected an object for order {order}.", answer=_jsonable(body))
        try:
            return _order_status(str(order), body)
        except ValueError as exc:
            raise PanelBadAnswer(f"Panel status: order {order}: {exc}.", answer=_jsonable(body)) from None

    def statuses(self, orders: list[str]) -> dict[str, OrderStatus]:
        """Up to 100 orders in one call; every id asked for is in the answer (an id the panel
        did not answer for has `error` set)."""
        ids = [str(o) for o in orders]
        if not 0 < len(ids) <= MAX_ORDERS:
            raise ValueError(f"between 1 and {MAX_ORDERS} orders per status call, not {len(ids)}")
        body = self.call("status", orders=",".join(ids))
        if not isinstance(body, dict):
            raise PanelBadAnswer("Panel status: expected an object keyed by order id.", answer=_jsonable(body))
        found = {}
        for order in ids:
            item = body.get(order)
            if not isinstance(item, dict):
                found[order] = OrderStatus(order, error="not in the panel's answer")
            elif "error" in item:
                found[order] = OrderStatus(order, error=self.scrub(str(item["error"]))[:EXCERPT])
            else:
                try:
                    found[order] = _order_status(order, item)
                except ValueError as exc:
                    found[order] = OrderStatus(order, error=f"unreadable answer: {exc}")
        return found

    def refill(self, order: str) -> str:
        """Ask for a refill of one order; the panel's refill id."""
        return _id_field(self.call("refill", write=True, order=order), "refill", "refill")

    def refill_status(self, refill: str) -> str:
        """Pending, In progress, Completed, Rejected, Error (the panel's word)."""
        body = self.call("refill_status", refill=refill)
        if not isinstance(body, dict) or not isinstance(body.get("status"), str) or not body["status"].strip():
            raise PanelBadAnswer("Panel refill_status: expected {\"status\": \"...\"}.", answer=_jsonable(body))
        return body["status"].strip()

    def cancel(self, orders: list[str]) -> list[CancelResult]:
        ids = [str(o) for o in orders]
        if not 0 < len(ids) <= MAX_ORDERS:
            raise ValueError(f"between 1 and {MAX_ORDERS} orders per cancel call, not {len(ids)}")
        body = self.call("cancel", write=True, orders=",".join(ids))
        if not isinstance(body, list):
            raise PanelBadAnswer("Panel cancel: expected a list of {order, cancel}.", answer=_jsonable(body))
        answered = {}
        for item in body:
            if not isinstance(item, dict) or "order" not in item:
                continue
            order, outcome = str(item["order"]), item.get("cancel")
            if isinstance(outcome, dict) and "error" in outcome:
                answered[order] = CancelResult(order, False, self.scrub(str(outcome["error"]))[:EXCERPT])
            elif outcome in (1, "1", True):
                answered[order] = CancelResult(order, True)
            else:
                answered[order] = CancelResult(order, False, f"unreadable answer: {str(outcome)[:100]!r}")
        return [answered.get(order) or CancelResult(order, False, "not in the panel's answer") for order in ids]

    def balance(self) -> Balance:
        body = self.call("balance")
        if not isinstance(body, dict):
            raise PanelBadAnswer("Panel balance: expected an object.", answer=_jsonable(body))
        try:
            amount = _amount(body.get("balance"))
        except ValueError as exc:
            raise PanelBadAnswer(f"Panel balance: {exc}.", answer=_jsonable(body)) from None
        if amount is None:
            raise PanelBadAnswer("Panel balance: no balance in the answer.", answer=_jsonable(body))
        return Balance(amount, _text(body.get("currency")))


# --- reading answers --------------------------------------------------------------------

def _amount(value) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise ValueError(f"amount {value!r} is not a decimal string")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"amount {str(value)[:40]!r} is not a number") from None
    if not amount.is_finite() or abs(amount) >= Decimal("1e10"):
        raise ValueError(f"amount {str(value)[:40]!r} is out of range")
    return amount


def _count(value, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} {value!r} is not a whole number")
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ValueError(f"{name} {value} is not a whole number")
        value = int(value)
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.lstrip("-").isdigit()):
            raise ValueError(f"{name} {text[:40]!r} is not a whole number")
        value = int(text)
    if not isinstance(value, int):
        raise ValueError(f"{name} {value!r} is not a whole number")
    if not -2**31 <= value < 2**31:
        raise ValueError(f"{name} {value} is out of range")
    return value


def _text(value) -> str | None:
    return str(value).strip()[:40] or None if value is not None else None


def _order_status(order: str, body: dict) -> OrderStatus:
    status = body.get("status")
    if not isinstance(status, str) or not status.strip():
        raise ValueError("no status")
    return OrderStatus(order, status=status.strip(), charge=_amount(body.get("charge")),
                       start_count=_count(body.get("start_count"), "start_count"),
                       remains=_count(body.get("remains"), "remains"), currency=_text(body.get("currency")))


def _id_field(body, field: str, action: str) -> str:
    value = body.get(field) if isinstance(body, dict) else None
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip():
        raise PanelBadAnswer(f"Panel {action}: expected {{\"{field}\": id}}.", answer=_jsonable(body))
    return str(value).strip()[:64]


def _jsonable(value):
    """An answer as it can be stored in a JSON column (Decimals as their strings)."""
    return json.loads(json.dumps(value, default=str))
