"""Macros: named canned replies per queue, with placeholders and actions (issue 10)."""
