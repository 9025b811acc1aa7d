"""Every Flask extension, created once and bound to the app in create_app()."""
import logging
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, func, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.dml import UpdateBase

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


REPLICA = "replica"  # the bind DATABASE_REPLICA_URL configures (desk.config)
T = TypeVar("T")
_on_replica: ContextVar[bool] = ContextVar("desk_on_replica", default=False)


class RoutingSession(Session):
    """Flask-SQLAlchemy's session, sending the reads made inside `from_replica()` to the
    read replica where one is configured. Writes never go there: a flush, and any INSERT,
    UPDATE or DELETE, take the primary whatever the block says."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if (bind is None and _on_replica.get() and not self._flushing and not isinstance(clause, UpdateBase)
                and REPLICA in self._db.engines):
            return self._db.engines[REPLICA]
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


@contextmanager
def _replica_reads():
    token = _on_replica.set(True)
    try:
        yield
    finally:
        _on_replica.reset(token)


def from_replica(read: Callable[[], T]) -> T:
    """read() on the replica where there is one (search, the dashboard, the shared counts:
    what may be a moment behind the primary), else on the primary as everywhere.

    A replica that cannot be reached must not take those pages with it: read() runs again
    on the primary. (A failed connect leaves the session's transaction on the primary as it
    was; should the primary be the one away, the second read fails too, with its 503.)"""
    if REPLICA not in db.engines:
        return read()
    try:
        with _replica_reads():
            return read()
    except (OperationalError, InterfaceError) as exc:
        logging.getLogger("desk").warning("read replica unavailable, reading the primary: %s",
                                          str(getattr(exc, "orig", exc)).strip().splitlines()[0])
        return read()


db = SQLAlchemy(model_class=Base, session_options={"class_": RoutingSession})
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


@contextmanager
def read_only_connection():
    """A connection of the primary outside any transaction (autocommit), for a request whose
    one statement is a read: no BEGIN and ROLLBACK round trips, and none of the Session's
    bookkeeping (the claim decision endpoint, at hundreds of calls a second). Back to the
    pool at the end of the block."""
    with db.engine.connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def kept_loaded(keep):
    """Commits within leave the objects `keep` loaded as this transaction wrote them, which
    is what the database now holds, instead of expiring them to be read back; every other
    object of the session is expired at the end, as the commit would have done. For an
    answer made of the rows just written (issue 11: an API intake read its ticket, message,
    clocks and files back after its commit, four SELECTs). A rollback expires all as ever."""
    session = db.session()
    expiring = session.expire_on_commit
    session.expire_on_commit = False
    try:
        yield
    finally:
        session.expire_on_commit = expiring
    if expiring:
        kept = {id(obj) for obj in keep}
        for obj in list(session.identity_map.values()):
            if id(obj) not in kept:
                session.expire(obj)


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
