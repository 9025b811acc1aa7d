"""Privacy jobs: the export (privacy-10-export) and the erasure (privacy-8-erasure). Both
take a row id and are safe to run twice."""
from desk import jobs
from desk.claims.models import Customer
from desk.extensions import db
from desk.privacy import delivery, erasure
from desk.privacy import export as exports


def export(export_id: int) -> str:
    """Build the ZIP of everything held on the requester; run twice, one ZIP."""
    row = exports.build(export_id)
    return f"export {row.id} {row.status}" if row else "no such export"


def erase(request_id: int) -> str:
    """Erase (or defer) one verified request's data; run twice, one erasure."""
    row = erasure.erase(request_id)
    db.session.commit()
    jobs.dispatch()
    return f"request {row.id} {row.status}" if row else "no such request"


def resume_erasures(customer_id: int) -> str:
    """A hold on this account was released: its deferred erasures run again."""
    customer = db.session.get(Customer, customer_id)
    count = erasure.resume_for(customer) if customer is not None else 0
    db.session.commit()
    jobs.dispatch()
    return f"{count} erasure(s) resumed"


def expire_exports() -> str:
    """Released exports whose link has expired: their files are deleted."""
    count = delivery.expire_due()
    db.session.commit()
    return f"{count} export(s) expired"
