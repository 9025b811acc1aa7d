"""Abuse jobs: evidence snapshots (aup-5.2-evidence)."""
from desk.abuse import evidence


def snapshot(case_id: int, reason: str) -> str:
    """Preserve the case's evidence for `reason` ("opened", "action:12"); run twice, one snapshot."""
    row = evidence.take(case_id, reason)
    return f"snapshot {row.seq} {row.sha256}" if row else "no such case"
