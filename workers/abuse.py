"""Evidence jobs (aup-5.2-evidence, terms-17-chargeback)."""
from desk.abuse import evidence


def snapshot(case_id: int, reason: str, kind: str = "abuse") -> str:
    """Preserve a case's evidence for `reason` ("opened", "action:12"); run twice, one
    snapshot. `kind`: "abuse" or "billing" (a chargeback case)."""
    row = evidence.take(case_id, reason, kind)
    return f"snapshot {row.seq} {row.sha256}" if row else "no such case"
