"""A transaction's new rows written in one statement on PostgreSQL (issue 11).

An intake adds a ticket, its first message, its clocks and its outbox rows, and changes
nothing else. The ORM's unit of work spent more CPU working out the order of those
INSERTs and keeping its books (a third of an intake's CPU) than sending them, and sent
each in its own round trip. write_new() writes such a transaction's rows itself: one
INSERT per table, all of them data-modifying CTEs of one statement (PostgreSQL checks the
foreign keys at the statement's end, so their order does not matter), the new ids read
back, and the objects made persistent as a flush would have left them.

The audit chain's statement rides along (Also): an intake is then one round trip. From a
commit (desk.audit's before_commit, the commit's last write) the COMMIT goes in that round
trip too (COMMIT_WITH), and the chain's part as a second statement between the rows' and
the COMMIT (Then): the chain's head is locked from its statement to the end of the COMMIT.
A COMMIT sent only once this process had read the answer kept the lock through that wait
— with two threads a worker, often until the other thread let go of the GIL; and in the
rows' own statement the lock was held through their triggers and foreign-key checks too,
which PostgreSQL runs at the statement's end. Sent this way, far fewer intakes wait on the
head (bench/README.md, issue 11).

It declines (returns None, having written nothing) whatever it cannot write as the flush
would: a changed or deleted row, a table with a mapper event, a watched one
(desk.remembered), a SQL default, a many-to-many link, a column type it does not know, a
JSON null, a row whose parent has no id yet (the ticket's id is drawn before; a message's
is not, so a message's files go the usual way). The caller then flushes as ever.
"""
import json
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import Decimal

import psycopg
from psycopg.pq import PipelineStatus
from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, String, event
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.orm import MANYTOONE, ONETOMANY, Mapper
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.types import TypeDecorator

from desk import remembered
from desk.types import Money, UTCDateTime


@dataclass(frozen=True)
class _Plan:
    """How one mapped class's new rows are written."""

    table: object
    pk: object  # the primary key Column, an integer the table's sequence numbers
    pk_key: str
    columns: tuple  # (Column, attribute key, its default or None, whether only the database has a default, to JSON)
    parents: tuple  # many-to-one: (relationship key, ((local attribute, remote attribute), ...))
    children: tuple  # one-to-many: (relationship key, a list or one, ((parent attribute, child attribute), ...))


_plans: dict[Mapper, _Plan | None] = {}


def _attr(mapper: Mapper, column) -> str:
    return mapper.get_property_by_column(column).key


def _plan(mapper: Mapper) -> _Plan | None:
    """The class's plan, or None when its rows must go through the unit of work."""
    if mapper in _plans:
        return _plans[mapper]
    plan = None
    table = mapper.local_table
    simple = (mapper.inherits is None and not mapper.polymorphic_on and mapper.version_id_col is None
              and len(mapper.tables) == 1 and len(mapper.primary_key) == 1
              and not mapper.dispatch.before_insert and not mapper.dispatch.after_insert
              and all(rel.secondary is None and not rel.post_update for rel in mapper.relationships))
    if simple:
        pk = mapper.primary_key[0]
        columns = []
        for column in table.columns:
            if column is pk:
                continue
            default = column.default
            if default is not None and not (default.is_scalar or default.is_callable):
                simple = False  # a sequence or SQL expression: the unit of work evaluates those
            encode = _encoder(column.type)
            if encode is None:
                simple = False
            columns.append((column, _attr(mapper, column), default,
                            default is None and column.server_default is not None, encode))
        parents, children = [], []
        for rel in mapper.relationships:
            if rel.direction is MANYTOONE:
                parents.append((rel.key, tuple((_attr(mapper, local), _attr(rel.mapper, remote))
                                              for local, remote in rel.local_remote_pairs)))
            elif rel.direction is ONETOMANY:
                children.append((rel.key, rel.uselist, tuple((_attr(mapper, local), _attr(rel.mapper, remote))
                                                            for local, remote in rel.local_remote_pairs)))
        if simple and pk.autoincrement in (True, "auto") and pk.type.python_type is int:
            plan = _Plan(table, pk, _attr(mapper, pk), tuple(columns), tuple(parents), tuple(children))
    _plans[mapper] = plan
    return plan


def _known(state) -> dict:
    """A row's values as far as they are loaded, with its id even when the row is expired
    (a commit expires a parent the intake then points at: its id is in its identity)."""
    if state.key is None or len(state.key[1]) != 1:
        return state.dict
    return {**state.dict, state.mapper.get_property_by_column(state.mapper.primary_key[0]).key: state.key[1][0]}


@dataclass(frozen=True)
class Also:
    """More of the statement: `ctes` (SQL, psycopg's %(name)s parameters) run with the
    inserts, and `select`, three columns (an integer and two texts), whose rows write_new()
    returns. The audit chain's events go this way, and an intake is one round trip."""

    ctes: str
    select: str
    params: dict


# An execution option: the statement and its transaction's COMMIT go to PostgreSQL together,
# with, in between, a Then's statement when the option's value is one.
COMMIT_WITH = "desk_commit_with"


@dataclass
class Then:
    """A second statement for COMMIT_WITH to send after the first, before the COMMIT, in the
    same round trip; `rows` are its answer once the first's execute has returned."""

    statement: str
    params: dict
    rows: list | None = None


@event.listens_for(PGDialect_psycopg, "do_execute")
def _execute_and_commit(cursor, statement, parameters, context) -> bool:
    """Run a COMMIT_WITH statement (and its Then) and commit in one round trip (psycopg's
    pipeline mode): PostgreSQL runs the COMMIT as soon as the statements end, not when this
    process next gets to send it. Inside SQLAlchemy's execute, so its errors are SQLAlchemy's
    (a lost connection is dropped from the pool and answered 503) and its statement events
    fire, for the Then's statement too. The session's own COMMIT then finds the transaction
    ended and sends nothing (psycopg)."""
    then = context.execution_options.get(COMMIT_WITH)
    if not then:
        return False  # SQLAlchemy executes it
    connection = cursor.connection
    if isinstance(then, Then):
        engine_connection, second = context.root_connection, connection.cursor()
        engine_connection.dispatch.before_cursor_execute(engine_connection, second, then.statement, then.params,
                                                         context, False)
    try:
        # A libpq before 14 has no pipeline mode: the same, in more round trips.
        with connection.pipeline() if psycopg.Pipeline.is_supported() else nullcontext():
            cursor.execute(statement, parameters)
            if isinstance(then, Then):
                second.execute(then.statement, then.params)
            connection.commit()
    except psycopg.Error:
        if connection.pgconn.pipeline_status != PipelineStatus.OFF:
            # The server went away with answers still owed (issue 11's PostgreSQL restart
            # under load): libpq cannot leave pipeline mode, so not even the ROLLBACK could
            # go on this connection. Closed, SQLAlchemy takes it for a disconnect and drops
            # it from the pool — a 503 — instead of failing again in the request's teardown.
            connection.close()
        raise
    if isinstance(then, Then):
        then.rows = second.fetchall()
        second.close()
        engine_connection.dispatch.after_cursor_execute(engine_connection, second, then.statement, then.params,
                                                        context, False)
    return True


def write_new(session, also: Also | None = None, *, commit: bool = False) -> list | None:
    """Write the session's new rows in one statement, as the flush would, with `also`;
    `also`'s rows (none without it). None, having written nothing, when the flush must do
    it (or there is nothing new to write with `also`). PostgreSQL only (the caller's check).

    `commit`: the statement commits the transaction too (COMMIT_WITH), `also` then a
    statement of its own in the same round trip (Then) — only from a commit with nothing
    left to write after it: once written, the session holds nothing unwritten."""
    if session._deleted or session.identity_map._modified:
        return None  # a change to an existing row: the unit of work orders it with the inserts
    states = list(session._new)
    if not states:
        return None if also is not None else []
    plans = []
    for state in states:
        plan = _plan(state.mapper)
        if plan is None or remembered.watches(state.class_):
            return None  # a watched row's flush is what tells this process to forget
        plans.append(plan)
    # Foreign keys from the objects they point at, as the flush syncs them: first checked
    # (every parent has its id), then set, so that declining leaves every object as it was.
    links = []  # (the row's values, the values its key comes from, ((its attribute, theirs), ...))
    for state, plan in zip(states, plans):
        values = state.dict
        for key, pairs in plan.parents:
            parent = values.get(key)
            if parent is not None:
                links.append((values, _known(instance_state(parent)), pairs))
        for key, uselist, pairs in plan.children:
            held = values.get(key)
            for child in (held or ()) if uselist else ((held,) if held is not None else ()):
                child_state = instance_state(child)
                if child_state.key is not None:
                    return None  # an existing row moved under a new one: an UPDATE
                links.append((child_state.dict, values, tuple((theirs, mine) for mine, theirs in pairs)))
    if any(source.get(remote) is None for _, source, pairs in links for _, remote in pairs):
        return None
    for values, source, pairs in links:
        for local, remote in pairs:
            values[local] = source[remote]

    groups: dict[tuple, list] = {}  # (plan, columns written) -> [(state, its row), ...], in the order added
    expire = {}
    for state, plan in zip(states, plans):
        values = state.dict
        columns, row, unset = [], {}, []
        for column, key, default, server_only, encode in plan.columns:
            if key in values:
                value = values[key]
                if value is None and isinstance(column.type, JSON):
                    return None  # JSON's null, which the flush writes and a record's NULL cannot say
            elif server_only:
                unset.append(key)  # the database's default: read back when asked for
                continue
            else:
                value = values[key] = (None if default is None else default.arg if default.is_scalar
                                       else default.arg(None))
            columns.append(column.name)
            row[column.name] = None if value is None else encode(value)
        if values.get(plan.pk_key) is not None:
            columns.append(plan.pk.name)
            row[plan.pk.name] = values[plan.pk_key]
        if unset:
            expire[state] = unset
        groups.setdefault((plan, tuple(columns)), []).append((state, row))
    shape = tuple(groups)
    params = {f"rows_{n}": json.dumps([row for _, row in members], ensure_ascii=False, separators=(",", ":"))
              for n, members in enumerate(groups.values())}
    ctes, select = _statement(shape)
    then = None
    if also is not None and not commit:
        statement = f"WITH RECURSIVE {ctes}, {also.ctes} {select} UNION ALL SELECT -1, * FROM ({also.select}) AS also"
        params.update(also.params)
    else:
        statement = f"WITH {ctes} {select}"
        if also is not None:
            # From a commit, `also` a statement of its own after the rows', both sent with
            # the COMMIT: the rows' triggers and foreign-key checks run before `also` takes
            # its locks (the audit chain's head), held then for its statement and the COMMIT.
            then = Then(f"WITH RECURSIVE {also.ctes} {also.select}", also.params)
    options = {COMMIT_WITH: then or True} if commit else None
    new_ids: dict[int, list[int]] = {}
    also_rows = []
    # The session's connection, not session.execute(): that would autoflush these very rows.
    for n, new_id, *more in session.connection().exec_driver_sql(statement, params, execution_options=options):
        if n == -1:
            if new_id is not None:
                also_rows.append((new_id, *more))
        else:
            new_ids.setdefault(n, []).append(new_id)
    if then is not None:
        also_rows = [tuple(row) for row in then.rows]
    for n, ((plan, columns), members) in enumerate(groups.items()):
        # The rows are inserted in their array's order, so their ids from the sequence ascend in it.
        for (state, _), new_id in zip(members, sorted(new_ids.get(n, ()))):
            state.dict[plan.pk_key] = new_id
    session._register_persistent(set(states))  # pending -> persistent, history reset: the flush's own ending
    for state, keys in expire.items():
        session.expire(state.obj(), keys)
    return sorted(also_rows)


_statements: dict[tuple, tuple[str, str]] = {}  # the SQL of each shape of rows, made once


def _statement(shape: tuple) -> tuple[str, str]:
    """(CTEs, SELECT): one INSERT a table, each a CTE taking its rows from one JSON array,
    %(rows_<n>)s; a SELECT of (n, new id, NULL, NULL) for the rows the table's sequence
    numbers (the NULLs where Also's rows have their texts). One parameter a table keeps
    psycopg's parsing of the query cached (it is not past 50 of them)."""
    statement = _statements.get(shape)
    if statement is not None:
        return statement
    quote = postgresql.dialect().identifier_preparer
    ctes, selects = [], []
    for n, (plan, columns) in enumerate(shape):
        names = ", ".join(quote.quote(name) for name in columns)
        table = quote.format_table(plan.table)
        returning = "" if plan.pk.name in columns else f" RETURNING {quote.quote(plan.pk.name)}"
        ctes.append(f"new_{n} AS (INSERT INTO {table} ({names}) SELECT {names} "
                    f"FROM json_populate_recordset(NULL::{table}, %(rows_{n})s::json){returning})")
        if returning:
            selects.append(f"SELECT {n}, {quote.quote(plan.pk.name)}, NULL::text, NULL::text FROM new_{n}")
    statement = (", ".join(ctes),
                 " UNION ALL ".join(selects) if selects else "SELECT -1, NULL::integer, NULL::text, NULL::text")
    if len(_statements) > 500:
        _statements.clear()  # shapes are few; this only bounds the unusual
    _statements[shape] = statement
    return statement


def _encoder(column_type):
    """How a column's value goes into the rows' JSON, as PostgreSQL reads it back into the
    column; None for a type not known here (its rows go through the unit of work)."""
    if isinstance(column_type, UTCDateTime):
        dialect = postgresql.dialect()
        return lambda value: column_type.process_bind_param(value, dialect).isoformat()  # refuses a naive time
    if isinstance(column_type, Money):
        return lambda value: str(Decimal(value))
    if isinstance(column_type, TypeDecorator):
        return None
    if isinstance(column_type, (DateTime, Date)):
        return lambda value: value.isoformat()
    if isinstance(column_type, (JSON, Integer, String, Boolean)):  # Text is a String
        return _same
    return None


def _same(value):
    return value
