"""Webhook jobs: an event fanned out to its endpoints, each delivery attempt, and retries
whose scheduled job was lost. Each runs once for the same ids."""
from desk.webhooks import services


def fan_out(uid: str) -> str:
    return f"{services.fan_out(uid)} delivery(ies)"


def deliver(delivery_id: int, attempt: int) -> str:
    return services.deliver(delivery_id, attempt)


def sweep() -> str:
    return f"{services.resume_overdue()} delivery(ies) resumed"
