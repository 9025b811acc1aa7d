"""Sign-in tokens that have been used: each single sign-on nonce and each mailed link is
written here once, so the same token a second time (even at the same instant) is refused."""
from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from desk.extensions import db
from desk.types import UTCDateTime, utcnow


class SpentToken(db.Model):
    __tablename__ = "spent_tokens"
    # The unique pair is the replay check: the second insert of a token fails in the
    # database, whichever request gets there first.
    __table_args__ = (UniqueConstraint("kind", "jti"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # sso, link
    jti: Mapped[str] = mapped_column(String(128))  # the SSO nonce; a link's SHA-256
    # After this the token is refused as expired anyway, and its row may go.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    spent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
