"""Customer satisfaction: a survey mailed when staff resolve a ticket, and its results (issue 10)."""
