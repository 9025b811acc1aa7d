"""The customer portal (issue 9): customers sign in without a desk password — by a
one-time link mailed to the account's address, or by single sign-on from the panel — and
see and answer their own tickets. Its session is its own, apart from staff Flask-Login."""
