"""Importing the panel's order exports (CSV or JSON Lines) into the order mirror.

The same checks and the same upsert as `PUT /api/v1/orders/<id>` (DESIGN §6), row by row,
streamed: the file is read one physical line at a time, never whole, and the session is
committed every `batch` rows, so a 100,000-row export takes as little memory as a small one.

A bad row (not JSON, not valid UTF-8, an order with problems, no id, or one the database
refuses) is reported by the physical line it starts on and skipped; the good rows are
imported regardless. A later row with the same id updates the earlier one, as the API does.
"""
import csv
import json
from dataclasses import dataclass, field
from typing import Callable, Iterator

from sqlalchemy.exc import SQLAlchemyError

from desk.audit.services import Actor
from desk.claims.orders import apply_batch, apply_order, parse_order
from desk.claims.parse import Fields
from desk.extensions import db

FORMATS = ("csv", "jsonl")
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
MAX_REPORTED = 50  # bad rows kept (with their line and problems) for the report; the rest are counted

ID_COLUMNS = ("id", "panel_id", "order")  # the panel's order id, under any of these names
ORDER_COLUMNS = ("customer", "link", "quantity", "charge", "charge_deposited", "charge_promo", "start_count",
                 "remains", "status", "created_at", "status_changed_at", "target_state")
TOOL_COLUMNS = {"tool_id": "id", "tool_name": "name", "tool_refill": "refill", "tool_refill_days": "refill_days",
                "tool_refill_min_drop": "refill_min_drop", "tool_guarantee": "guarantee", "tool_beta": "beta"}
TOOL_BOOLEANS = ("refill", "guarantee", "beta")
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


class ImportFileError(Exception):
    """The file as a whole cannot be imported (no header, no id column, ...)."""


class RowError(ValueError):
    """One row cannot be read; the message says why."""


@dataclass
class Summary:
    created: int = 0
    updated: int = 0
    bad: int = 0
    bad_rows: list[tuple[int, str]] = field(default_factory=list)  # the first MAX_REPORTED (line, problems)

    @property
    def imported(self) -> int:
        return self.created + self.updated

    def add_bad(self, line: int, message: str):
        self.bad += 1
        if len(self.bad_rows) < MAX_REPORTED:
            self.bad_rows.append((line, message))

    def report_lines(self) -> list[str]:
        lines = [f"line {line}: {message}" for line, message in self.bad_rows]
        if self.bad > len(self.bad_rows):
            lines.append(f"… and {self.bad - len(self.bad_rows)} more bad rows")
        return lines

    @property
    def text(self) -> str:
        return (f"Imported {self.imported} orders ({self.created} created, {self.updated} updated); "
                f"{self.bad} bad rows.")


def format_for(filename: str) -> str | None:
    """The format a file name's extension implies (None when it implies none)."""
    name = str(filename).lower()
    for extension, fmt in EXTENSIONS.items():
        if name.endswith(extension):
            return fmt
    return None


MAX_LINE = 1 << 20  # bytes; a longer physical line is a bad row, read past rather than held


def _lines(fh, progress: Callable[[int], None] | None, spoiled: dict[int, str]) -> Iterator[str]:
    """The file's physical lines as text, each with its line ending, read one at a time.
    A binary handle is split on b"\\n" only and decoded line by line, so a stray byte spoils
    one line rather than the import. A line that cannot be used (not UTF-8, longer than
    MAX_LINE) is noted in `spoiled` with the reason (a line too long stands in as an empty one).
    `progress` is told the bytes read."""
    number = 0
    while True:
        raw = fh.readline(MAX_LINE + 1)
        if not raw:
            return
        number += 1
        binary = isinstance(raw, bytes)
        size = len(raw) if binary else len(raw.encode("utf-8", errors="replace"))
        newline = b"\n" if binary else "\n"
        if len(raw) > MAX_LINE and not raw.endswith(newline):
            while raw and not raw.endswith(newline):  # skip to the end of the line, a piece at a time
                raw = fh.readline(MAX_LINE)
                size += len(raw) if binary else len(raw.encode("utf-8", errors="replace"))
            spoiled[number] = f"longer than {MAX_LINE} bytes"
            raw = newline
        if progress is not None:
            progress(size)
        if binary:
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:  # the row is bad; its quotes and commas still say where it ends
                spoiled[number] = "not valid UTF-8"
                text = raw.decode("utf-8", errors="replace")
        else:
            text = raw.lstrip("\ufeff") if number == 1 else raw
        yield text


def iter_rows(fh, fmt: str, progress: Callable[[int], None] | None = None
              ) -> Iterator[tuple[int, dict | Exception]]:
    """(line number, row) for each row of a file opened for reading, streamed: a dict (a
    CSV row keyed by its lower-cased column names, or a JSON object), or the exception
    saying why the row cannot be read. The line is the physical line the row starts on
    (the CSV header is line 1). Blank lines are skipped. `fh` is best opened in binary; a
    text handle for CSV must be opened with newline=""."""
    if fmt not in FORMATS:
        raise ImportFileError(f"Unknown format {fmt!r}: use csv or jsonl.")
    spoiled: dict[int, str] = {}
    lines = _lines(fh, progress, spoiled)
    if fmt == "jsonl":
        yield from _jsonl_rows(lines, spoiled)
    else:
        yield from _csv_rows(lines, spoiled)


def _jsonl_rows(lines: Iterator[str], spoiled: dict[int, str]) -> Iterator[tuple[int, dict | Exception]]:
    for number, text in enumerate(lines, 1):
        if number in spoiled:
            yield number, RowError(spoiled.pop(number))
            continue
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except RecursionError:
            yield number, RowError("not valid JSON (nested too deeply)")
            continue
        except ValueError as exc:  # JSONDecodeError, or a number too long to convert
            where = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
            yield number, RowError(f"not valid JSON ({getattr(exc, 'msg', exc)}{where})")
            continue
        if not isinstance(row, dict):
            yield number, RowError("not a JSON object")
            continue
        yield number, row


def _column(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace(".", "_")


def _csv_rows(lines: Iterator[str], spoiled: dict[int, str]) -> Iterator[tuple[int, dict | Exception]]:
    reader = csv.reader(lines)
    header = None
    while not header:  # the first row that is not blank
        try:
            header = next(reader)
        except StopIteration:
            return  # an empty file: nothing to import
        except csv.Error as exc:
            raise ImportFileError(f"The header (line {reader.line_num}) cannot be read: {exc}.") from None
        if spoiled:
            line = min(spoiled)
            raise ImportFileError(f"line {line}, before the first row, is {spoiled[line]}: the first line must "
                                  "name the columns.")
    columns = [_column(name) for name in header]
    duplicates = sorted({c for c in columns if c and columns.count(c) > 1})
    if duplicates:
        raise ImportFileError(f"The header names {', '.join(duplicates)} more than once.")
    if not any(c in ID_COLUMNS for c in columns):
        raise ImportFileError("The header has no id column (id, panel_id or order): the first line must name "
                              "the columns, e.g. id,customer,link,quantity,charge,status,created_at.")
    end = reader.line_num
    while True:
        start = end + 1  # csv.reader consumes every line (a blank one as []): the next row starts here
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if reader.line_num == end:  # nothing consumed: do not spin
                raise ImportFileError(f"line {start}: {exc}") from None
            end = reader.line_num
            for n in range(start, end + 1):
                spoiled.pop(n, None)
            yield start, RowError(f"not readable as CSV ({exc})")
            continue
        end = reader.line_num
        if spoiled:
            reasons = [spoiled.pop(n) for n in range(start, end + 1) if n in spoiled]
            if reasons:
                yield start, RowError(reasons[0] if end == start else f"{reasons[0]} (in lines {start}-{end})")
                continue
        if not any(v.strip() for v in values):
            continue  # a blank line, or one of only commas
        if len(values) > len(columns):
            yield start, RowError(f"{len(values)} values but the header names {len(columns)} columns")
            continue
        yield start, dict(zip(columns, values))


def _clean(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return None
    return value


def row_to_body(row: dict) -> dict:
    """A CSV row (strings keyed by column) as an order body as in DESIGN §6, plus "id".
    Empty cells are missing values; the tool's flags become booleans when they read as
    true/false/1/0/yes/no (anything else is left for parse_order to refuse); numbers and
    money stay strings, which parse_order reads. Unknown columns are ignored."""
    body = {}
    for key in ID_COLUMNS:
        value = _clean(row.get(key))
        if value is not None:
            body["id"] = value
            break
    for key in ORDER_COLUMNS:
        value = _clean(row.get(key))
        if value is not None:
            body[key] = value
    tool = {}
    for column, key in TOOL_COLUMNS.items():
        value = _clean(row.get(column))
        if value is None:
            continue
        if key in TOOL_BOOLEANS and value.lower() in TRUE + FALSE:
            value = value.lower() in TRUE
        tool[key] = value
    if tool:
        body["tool"] = tool
    return body


def body_id(body: dict) -> tuple[str | None, dict]:
    """The order's panel id from a body ("id", or "panel_id"/"order"), and its problems."""
    value = next((body[k] for k in ID_COLUMNS if body.get(k) not in (None, "")), None)
    f = Fields({"id": value})
    return f.string("id", required=True, max_len=64), f.problems


def _open_transaction():
    """Make sure the batch's transaction is open in the database before a SAVEPOINT.
    pysqlite (in its default mode) sends BEGIN only before an INSERT/UPDATE/DELETE, so a
    SAVEPOINT as the batch's first statement would open the transaction itself and its
    RELEASE would commit it: every row its own commit (and fsync), not one per batch."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN")


def _database_message(exc: SQLAlchemyError) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:300]


def import_orders(fh, fmt: str, actor: Actor, batch: int = 1000,
                  progress: Callable[[int], None] | None = None) -> Summary:
    """Upsert every good row of an open export (see iter_rows) and return the counts.

    Rows are applied `batch` at a time and committed per batch. A batch is written in bulk
    (a few statements, not a few per row) inside a SAVEPOINT; if the database refuses any
    of it, that SAVEPOINT is rolled back and the batch is applied again row by row with
    apply_order, each row in its own SAVEPOINT, so the refused row is reported and skipped
    and the rest of its batch is kept. Either way the result is what PUT /api/v1/orders/<id>
    would have made of the same rows in the same order."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    summary = Summary()
    pending: list[_Good] = []
    since_commit = 0
    try:
        for line, row in iter_rows(fh, fmt, progress):
            good = _check_row(summary, line, row, fmt)
            if good is not None:
                pending.append(good)
            since_commit += 1
            if since_commit >= batch:
                _write_batch(summary, pending, actor)
                pending, since_commit = [], 0
        _write_batch(summary, pending, actor)
    except BaseException:
        db.session.rollback()  # the batch under way; the committed ones stay (a re-run updates them)
        raise
    summary.bad_rows.sort()
    return summary


@dataclass
class _Good:
    line: int
    panel_id: str
    data: dict


def _check_row(summary: Summary, line: int, row: dict | Exception, fmt: str) -> _Good | None:
    if isinstance(row, Exception):
        summary.add_bad(line, str(row))
        return None
    body = row_to_body(row) if fmt == "csv" else row
    panel_id, problems = body_id(body)
    data, order_problems = parse_order(body)
    problems.update(order_problems)
    if problems:
        summary.add_bad(line, "; ".join(f"{name}: {message}" for name, message in problems.items()))
        return None
    return _Good(line, panel_id, data)


def _write_batch(summary: Summary, rows: list[_Good], actor: Actor):
    if rows:
        _open_transaction()
        try:
            with db.session.begin_nested():
                created, updated = apply_batch([(r.panel_id, r.data) for r in rows], actor)
        except SQLAlchemyError:
            for row in rows:  # find the row the database refuses: one SAVEPOINT each
                _write_row(summary, row, actor)
        else:
            summary.created += created
            summary.updated += updated
    db.session.commit()


def _write_row(summary: Summary, row: _Good, actor: Actor):
    _open_transaction()
    try:
        with db.session.begin_nested():
            _, created = apply_order(row.panel_id, row.data, actor, commit=False)
    except SQLAlchemyError as exc:
        summary.add_bad(row.line, f"not saved: {_database_message(exc)}")
        return
    if created:
        summary.created += 1
    else:
        summary.updated += 1
