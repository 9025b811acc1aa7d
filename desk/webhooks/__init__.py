"""Webhooks out (issue 12): signed JSON events for the URLs admins register."""
