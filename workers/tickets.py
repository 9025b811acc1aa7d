"""Ticket jobs."""
from desk.tickets import assignment, notices


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
