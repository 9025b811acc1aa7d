"""Privacy-rights requests: intake, identity verification, statutory deadlines, export and
erasure (Privacy Policy §3–§11)."""
