"""Mail jobs."""
from desk.extensions import db
from desk.mail.models import OutboundMail
from desk.mail.outbound import send


def deliver(mail_id: int) -> str:
    """Send one composed mail; a mail already sent is left alone, so a retry sends it once.
    A temporary failure raises (after its attempt is committed): RQ retries the job."""
    mail = db.session.get(OutboundMail, mail_id)
    if mail is None:
        return "gone"
    return send(mail)
