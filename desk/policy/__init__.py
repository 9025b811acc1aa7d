"""Pure policy rules (no Flask, no database): each module implements one rule id."""
