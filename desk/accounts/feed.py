"""Accounts' receivers of the panel's feeds (desk.claims.feed): identifiers seen."""


def connect() -> None:
    """Called by the app factory."""
