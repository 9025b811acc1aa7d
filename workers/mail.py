"""Mail jobs."""
from desk.extensions import db
from desk.mail.models import OutboundMail
from desk.mail.outbound import deliver as send


def deliver(mail_id: int) -> str:
    """Send one composed mail; a mail already sent is left alone, so a retry sends it once."""
    mail = db.session.get(OutboundMail, mail_id)
    if mail is None:
        return "gone"
    send(mail)
    db.session.commit()
    return mail.status
