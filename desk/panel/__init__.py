"""The panel's own API (API v2): the client, the status refresh of the order mirror, and
the calls the desk makes when staff accept a refill or a cancel (issue 12).

Off unless both PANEL_API_URL and PANEL_API_KEY are set; the pages say so."""
from flask import current_app

from desk.panel.client import PanelClient


def enabled(config=None) -> bool:
    config = config if config is not None else current_app.config
    return bool(config.get("PANEL_API_URL") and config.get("PANEL_API_KEY"))


def client() -> PanelClient:
    """A client on the app's settings (PanelOff when the integration is off), paced with
    every other process on the app's Redis (PANEL_API_RATE is the panel key's, not ours)."""
    from desk.jobs import get_redis

    return PanelClient.from_config(current_app.config, redis=get_redis() if current_app.config.get("PANEL_API_RATE") else None)
