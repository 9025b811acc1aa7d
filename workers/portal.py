"""Portal jobs."""
from desk import jobs
from desk.extensions import db
from desk.portal import services


def send_sign_in_links(address: str, asked: str) -> str:
    """The sign-in links for an address, worked out here rather than in the request, so the
    sign-in form does the same work — and takes the same time — whether or not an account
    has the address. `asked` names the request: run twice, the job mails its links once."""
    sent = services.send_sign_in_links(address, asked)
    db.session.commit()
    jobs.dispatch()
    return f"{sent} sign-in link(s)"


def forget_spent_tokens() -> str:
    """Used sign-in tokens past their expiry are forgotten: they are refused as expired
    anyway. Run twice, the second finds nothing."""
    return f"{services.forget_spent()} spent token(s) forgotten"
