"""The identifiers accounts are seen with (terms-12-promo): the e-mail domain, IP addresses
and payment fingerprints the panel sends. Each is stored once per (customer, kind, value);
old ones stay when a customer's e-mail or IP changes, since the history is the point."""
import ipaddress

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from desk.accounts.models import CustomerIdentifier
from desk.errors import ValidationError
from desk.extensions import db
from desk.policy.accounts import mail_domain

MAX_PER_LIST = 100
MAX_LEN = 255  # the column's width
# The keys of the customer body's "identifiers" object, and the kind each one stores.
LISTS = {"ips": "ip", "payment_fingerprints": "payment"}
CHUNK = 400  # values per IN (...): well inside SQLite's parameter limit


def parse(body: dict) -> set[tuple[str, str]]:
    """(kind, value) pairs from a customer body's optional
    {"identifiers": {"ips": [...], "payment_fingerprints": [...]}}; one ValidationError names
    every bad value as identifiers.ips[2]."""
    raw = body.get("identifiers")
    if raw is None:
        return set()
    if not isinstance(raw, dict):
        raise ValidationError("identifiers must be an object with ips and payment_fingerprints.",
                              {"identifiers": "an object with ips and payment_fingerprints"})
    problems, pairs = {}, set()
    for key in raw:
        if key not in LISTS:  # a typo ("ip") would otherwise drop the values without a word
            problems[f"identifiers.{key}"] = "unknown: send ips or payment_fingerprints"
    for key, kind in LISTS.items():
        values = raw.get(key)
        if values is None:
            continue
        name = f"identifiers.{key}"
        if not isinstance(values, list):
            problems[name] = "a list of strings"
            continue
        if len(values) > MAX_PER_LIST:
            problems[name] = f"at most {MAX_PER_LIST} values"
            continue
        for i, value in enumerate(values):
            cleaned, problem = clean_value(kind, value)
            if problem:
                problems[f"{name}[{i}]"] = problem
            else:
                pairs.add((kind, cleaned))
    if problems:
        raise ValidationError("The identifiers have problems: " + ", ".join(sorted(problems)) + ".", problems)
    return pairs


def clean_value(kind: str, value) -> tuple[str | None, str | None]:
    """(value as stored, None) or (None, the problem)."""
    if not isinstance(value, str):
        return None, "must be a string"
    value = value.strip()
    if not value:
        return None, "must not be empty"
    if len(value) > MAX_LEN:
        return None, f"at most {MAX_LEN} characters"
    if "\x00" in value:  # PostgreSQL text cannot hold NUL: refused here, not a 500 there
        return None, "must not contain NUL characters"
    if kind == "ip":
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return None, "not an IP address"
        # One address, one spelling: "::ffff:192.0.2.1" is 192.0.2.1, "2001:DB8::0:1" is 2001:db8::1.
        mapped = getattr(address, "ipv4_mapped", None)
        return str(mapped or address), None
    return value, None


def remember(found: dict[int, set[tuple[str, str]]]) -> int:
    """Store {customer row id: {(kind, value)}}, skipping those already stored; the number
    added. Runs inside the caller's transaction. Two deliveries at once may both find a pair
    missing: the insert skips rows the unique constraint already holds instead of failing."""
    found = {customer_id: pairs for customer_id, pairs in found.items() if pairs}
    if not found:
        return 0
    stored = set()
    ids = sorted(found)
    values = sorted({value for pairs in found.values() for _, value in pairs})
    for id_chunk in _chunks(ids):
        for value_chunk in _chunks(values):
            stored.update(tuple(row) for row in db.session.execute(
                select(CustomerIdentifier.customer_id, CustomerIdentifier.kind, CustomerIdentifier.value)
                .where(CustomerIdentifier.customer_id.in_(id_chunk), CustomerIdentifier.value.in_(value_chunk))
            ))
    missing = [{"customer_id": customer_id, "kind": kind, "value": value}
               for customer_id in ids for kind, value in sorted(found[customer_id])
               if (customer_id, kind, value) not in stored]
    if missing:
        db.session.execute(_insert_skipping_duplicates(), missing)
    return len(missing)


def _insert_skipping_duplicates():
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(CustomerIdentifier).on_conflict_do_nothing(
        index_elements=["customer_id", "kind", "value"])


def _chunks(items: list):
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def from_customer(customer, body: dict) -> None:
    """The customer feed: the e-mail's domain (none for a public mail service) and the
    identifiers in the body."""
    pairs = parse(body)
    domain = mail_domain(customer.email)
    if domain:
        pairs.add(("email_domain", domain[:MAX_LEN]))
    remember({customer.id: pairs})


def from_ledger(rows, extras: dict) -> None:
    """The ledger feed: the payment fingerprints deposits carried."""
    found: dict[int, set[tuple[str, str]]] = {}
    for row in rows:
        fingerprint = (extras.get(row.panel_id) or {}).get("payment_fingerprint")
        if fingerprint:
            found.setdefault(row.customer_id, set()).add(("payment", fingerprint))
    remember(found)
