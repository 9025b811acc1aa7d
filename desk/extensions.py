"""Every Flask extension, created once and bound to the app in create_app()."""
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, func, select, update
from sqlalchemy.orm import DeclarativeBase

# Named constraints so Alembic can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# Redis away: limits are counted in memory meanwhile (in_memory_fallback_enabled), and an
# error in the moment Redis drops (a connection cut mid-command, before the fallback takes
# over) lets the request through rather than failing it with a 500 (swallow_errors).
limiter = Limiter(key_func=get_remote_address, in_memory_fallback_enabled=True, swallow_errors=True)


def for_update(query):
    """`query` locking the rows it reads until the commit where the database has row locks
    (PostgreSQL: SELECT … FOR UPDATE), and reading them afresh, so two decisions on one
    row run one after the other and the second sees the first. SQLite lets one writer in
    at a time already."""
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update()
    return query.execution_options(populate_existing=True)


STREAM_BATCH = 2000  # rows per fetch when a query is streamed


def stream(query, batch: int = STREAM_BATCH):
    """The rows of `query` (a select of columns, not of models), fetched `batch` at a time
    (a server-side cursor on PostgreSQL) so a long result is never held whole: for
    documents written row by row (privacy exports, evidence snapshots). Run on the
    session's connection, in its transaction, as plain Core rows: no ORM loading per row."""
    yield from db.session.connection().execute(query.execution_options(yield_per=batch))


def one_at_a_time(namespace: int, model, row_id: int) -> None:
    """Hold this transaction's work on one row's affairs (a customer's money, its account
    requests) until the commit, so two at once run one after the other and the second
    reads what the first committed. Take it before any row lock.

    PostgreSQL: a transaction advisory lock on (namespace, id) rather than the row's own
    lock: the feeds update customer rows after taking the audit head, and taking the row
    here in the other order could deadlock. SQLite: a write that changes nothing takes the
    database's one write lock (waiting up to busy_timeout)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(namespace, row_id)))
    else:
        db.session.execute(update(model).where(model.id == row_id).values(id=model.id)
                           .execution_options(synchronize_session=False))
