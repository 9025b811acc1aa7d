"""Ticket jobs."""
from desk.tickets import notices


def send_acknowledgement(ticket_id: int) -> str:
    return notices.acknowledge(ticket_id)


def notify_requester(message_id: int) -> str:
    return notices.notify_reply(message_id)


def notify_status(ticket_id: int, status: str, change_id: int) -> str:
    return notices.notify_status(ticket_id, status, change_id)
