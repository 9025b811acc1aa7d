"""Portal jobs."""
from desk.portal import services


def forget_spent_tokens() -> str:
    """Used sign-in tokens past their expiry are forgotten: they are refused as expired
    anyway. Run twice, the second finds nothing."""
    return f"{services.forget_spent()} spent token(s) forgotten"
