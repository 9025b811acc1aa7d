"""Ticket jobs."""
from desk.tickets import assignment, notices, scans


def send_acknowledgement(ticket_id: int) -> str:
    return notices.acknowledge(ticket_id)


def notify_requester(message_id: int) -> str:
    return notices.notify_reply(message_id)


def notify_status(ticket_id: int, status: str, change_id: int) -> str:
    return notices.notify_status(ticket_id, status, change_id)


def assign_waiting() -> str:
    """Hand out the unassigned tickets of queues that assign by themselves (those that came
    while support was closed, or when everyone was away or at their limit)."""
    return f"{assignment.assign_waiting()} ticket(s) assigned"


def scan_attachment(attachment_id: int, again: bool = False) -> str:
    """Scan one attachment with clamd; an infected one (and every copy of its bytes) is
    quarantined. Run twice, one verdict; a failed scan raises for RQ to retry. `again`: an
    admin asked for a quarantined file to be scanned once more (desk.tickets.scans.rescan)."""
    row = scans.scan(attachment_id, again)
    if row is None:
        return "no such attachment"
    return f"attachment {row.id} {row.scan_state or 'not scanned (scanning is off)'}"
