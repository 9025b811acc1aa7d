"""Satisfaction survey jobs."""
from desk.csat import services


def send_survey(ticket_id: int, staff_id: int) -> str:
    return services.send_survey(ticket_id, staff_id)
