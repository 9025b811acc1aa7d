"""Money requests over the API: quotes, filing, the customer's confirmation."""
