"""Signed, expiring links that let a requester without an account follow their ticket
(as osTicket and Zammad do). The token names the ticket and the requester's address, so
it opens that one ticket for that one person and nothing else."""
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

SALT = "desk.requester-link"


def _serializer() -> URLSafeTimedSerializer:
    """The app's serializer, made once for its secret key: every API answer about a ticket
    carries a link (issue 11: each intake made one)."""
    secret = current_app.config["SECRET_KEY"]
    made = current_app.extensions.get("desk.requester_links")
    if made is None or made[0] != secret:
        made = current_app.extensions["desk.requester_links"] = (secret, URLSafeTimedSerializer(secret, salt=SALT))
    return made[1]


def make_token(ticket) -> str:
    return _serializer().dumps({"t": ticket.reference, "e": ticket.requester_email.lower()})


def read_token(token: str) -> tuple[str, str] | None:
    """(reference, e-mail) for a valid, unexpired token; None otherwise."""
    try:
        data = _serializer().loads(token, max_age=current_app.config["REQUESTER_LINK_MAX_AGE"])
    except BadSignature:  # SignatureExpired is a BadSignature too
        return None
    if not isinstance(data, dict) or not isinstance(data.get("t"), str) or not isinstance(data.get("e"), str):
        return None
    return data["t"], data["e"]
