"""Money requests (Terms §12–§18, §30): refunds, withdrawals, closure, restoration of a
dormant balance, chargeback cases and the daily dormancy job. The rules are in
desk/policy/money.py and desk/policy/dormancy.py; this package loads the facts, writes
the ledger entries and carries each request on a ticket in the Billing queue."""
