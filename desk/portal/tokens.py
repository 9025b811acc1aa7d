"""The portal's two sign-in tokens.

**Single sign-on** from the panel (README "Customer portal"): the panel signs

    payload = base64url(JSON {"customer": panel id, "exp": Unix seconds, "nonce": random})
    token   = payload + "." + hex(HMAC-SHA256(PANEL_SSO_SECRET, payload))

read_sso() checks one without Flask or the database: form, signature (in constant time,
before anything in the payload is read), expiry, and that it lives at most
SSO_MAX_AHEAD seconds. The caller looks the customer up and spends the nonce, so a
token works once.

**The mailed link** is the desk's one signed-link helper (desk.links) over the
customer's id and e-mail, valid PORTAL_LINK_MINUTES; its SHA-256 is what is spent.
"""
import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from flask import current_app

from desk import links
from desk.policy.words import N_

SSO_MAX_AHEAD = 10 * 60  # a token may live at most ten minutes
MAX_TOKEN = 4096  # far more than any honest token needs
NONCE_MIN, NONCE_MAX = 16, 128
MAX_PANEL_ID = 64  # customers.panel_id
LINK_SALT = "desk.portal-sign-in"

_PAYLOAD = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


class Refused(Exception):
    """A token the portal will not sign in with: `code` for the log and tests, `message` for the person."""

    def __init__(self, code: str, message: str, **params):
        # `message` is a message id (N_): the person reads it in their language (views._refused).
        super().__init__(message % params if params else message)
        self.code, self.msgid, self.params = code, message, params
        self.message = str(self)


MALFORMED = Refused("malformed", N_("This sign-in link is damaged or incomplete. Please go back to the panel and "
                                    "open the help desk from there again."))


@dataclass(frozen=True)
class SsoClaim:
    customer: str  # the panel's customer id
    exp: int
    nonce: str


def read_sso(token, secret: str, now: float) -> SsoClaim:
    """The claim of a well-signed, unexpired token, or Refused saying what is wrong."""
    if not isinstance(token, str) or not token.strip() or len(token) > MAX_TOKEN:
        raise MALFORMED
    payload, dot, signature = token.strip().rpartition(".")
    if not dot or not _PAYLOAD.fullmatch(payload) or not _SIGNATURE.fullmatch(signature):
        raise MALFORMED
    expected = hmac.new(secret.encode(), payload.encode("ascii"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        raise Refused("bad_signature", N_("This sign-in link was not signed by the panel, or was changed on the way. "
                                          "Please go back to the panel and open the help desk from there again."))
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise MALFORMED from None
    if not isinstance(data, dict):
        raise MALFORMED
    customer, exp, nonce = data.get("customer"), data.get("exp"), data.get("nonce")
    if type(customer) is int:  # a panel that numbers its customers
        customer = str(customer)
    if not isinstance(customer, str) or not 0 < len(customer) <= MAX_PANEL_ID or "\x00" in customer:
        raise MALFORMED
    if type(exp) is not int or not isinstance(nonce, str) or not NONCE_MIN <= len(nonce) <= NONCE_MAX:
        raise MALFORMED
    if exp <= now:
        raise Refused("expired", N_("This sign-in link has expired (they work for a few minutes). Please go back to "
                                    "the panel and open the help desk from there again."))
    if exp > now + SSO_MAX_AHEAD:
        raise Refused("too_long", N_("This sign-in link would stay valid for more than %(minutes)s minutes, longer "
                                     "than we accept. Please go back to the panel and open the help desk from there "
                                     "again."), minutes=SSO_MAX_AHEAD // 60)
    return SsoClaim(customer, exp, nonce)


def link_token(customer) -> str:
    # The address and the account's portal_epoch are signed together ("address#epoch"), so
    # "sign out everywhere" (which raises the epoch) also ends the links not used yet.
    return links.make(LINK_SALT, customer.id, f"{customer.email or ''}#{customer.portal_epoch}")


def read_link(token: str) -> tuple[int, str, int] | None:
    """(customer id, e-mail, portal epoch) of a valid link younger than PORTAL_LINK_MINUTES;
    None otherwise."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN:
        return None
    found = links.read(LINK_SALT, token, current_app.config["PORTAL_LINK_MINUTES"] * 60)
    if found is None:
        return None
    address, _, epoch = found[1].rpartition("#")  # "#" may be in an address; the epoch is after the last
    return (found[0], address, int(epoch)) if epoch.isdigit() else None


def link_jti(token: str) -> str:
    """What a used link is remembered by: two mails sent in the same second carry the same
    link (the timestamp is in seconds), and that one link works once."""
    return hashlib.sha256(token.encode()).hexdigest()
