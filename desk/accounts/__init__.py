"""Several accounts (terms-4-multi-account) and the identifiers accounts share, for the
shared-promotion flags (terms-12-promo)."""
