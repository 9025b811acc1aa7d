"""Requests for more accounts over the API (terms-4-multi-account)."""
