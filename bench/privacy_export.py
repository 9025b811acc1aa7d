"""The privacy export at scale, on PostgreSQL (target: ≤ 3 s for one person with 10,000
orders and 1,000 tickets, memory flat).

    .venv/bin/python bench/privacy_export.py [--orders 10000] [--tickets 1000] [--runs 5] [--keep]
    .venv/bin/python bench/privacy_export.py --orders 2000 --tickets 200 --noise 200 --runs 2   # smoke test

Figures and the verdict of the last full run are in bench/README.md.

Creates the database `desk_bench_export` on 127.0.0.1:5432 (dropped and made again each
run, dropped at the end unless --keep), migrates it and fills it in the server with INSERT
… SELECT over generate_series:

  the person   --orders orders (each with two status changes: pending, completed), a
               charge per order and a deposit per ten, --tickets tickets (half filed on the
               account, half by e-mail only, the address in another case) with three
               messages each (the requester's, a staff reply, an internal note: the note
               is not exported), --attachments files on their own messages (5 distinct
               20 KB files in the attachment store), 3 IP identifiers and the e-mail
               domain, 2 earlier privacy requests;
  a small one  a tenth of each (the memory comparison);
  the noise    --noise other customers with 25 orders, 25 charges, 10 tickets of 3
               messages, an identifier and a privacy request each, and attachments on their
               messages: none of it may reach the person's ZIP.

Then it builds a fresh export (desk.privacy.export.build, as the RQ job runs it, each in
its own app context) --runs times for the small person and --runs times for the person,
timing each (median, p95) while a thread samples the process's RSS every 5 ms (the growth
of its high-water mark over the start of the run); then once each under tracemalloc (its
peak: what Python allocated at most during the build). Flat memory: the person's peak is
well under 10× the small one's (the data is 10×). One timed build of the person is split
by dataset.

Checks, exiting non-zero when one fails: every count in the manifest against the rows
seeded; the ZIP's JSON and CSV row counts and attachment files against the manifest; the
SHA-256 and size recorded against the file; no noise customer's value (their e-mails,
logins, links, order ids, tickets) anywhere in the ZIP; no internal note.
"""
import argparse
import csv
import hashlib
import io
import json
import os
import re
import shutil
import statistics
import sys
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import psutil
import psycopg
from sqlalchemy import text

from common import db_name, recreate, report_checks
from desk import create_app
from desk.extensions import db

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = db_name("desk_bench_export")
URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB_NAME}"
WORK = Path("/tmp/desk-bench-export")
TARGET_S = 3.0
TARGET = "export of one person with 10,000 orders and 1,000 tickets: ≤ 3 s, memory flat"
FILES = 5  # distinct attachment files in the store
FILE_BYTES = 20_000

CUSTOMER = """
INSERT INTO customers (panel_id, login, email, email_verified, country, status, last_login_at, last_order_at,
                       last_active_at, created_at)
VALUES (:panel_id, :login, :email, true, 'DE', 'active', CAST(:t0 AS timestamptz), CAST(:t0 AS timestamptz),
        CAST(:t0 AS timestamptz), CAST(:t0 AS timestamptz) - interval '400 days')
RETURNING id
"""
NOISE_CUSTOMERS = """
INSERT INTO customers (panel_id, login, email, email_verified, status, created_at)
SELECT 'noise' || g, 'noise_login' || g, 'noise' || g || '@noise.example', true, 'active',
       CAST(:t0 AS timestamptz) - interval '300 days'
FROM generate_series(1, :n) AS g
"""
IDENTIFIERS = """
INSERT INTO customer_identifiers (customer_id, kind, value, first_seen_at)
SELECT :cid, 'ip', '198.51.100.' || (:base + g), CAST(:t0 AS timestamptz) - g * interval '30 days'
FROM generate_series(1, 3) AS g
UNION ALL SELECT :cid, 'email_domain', :domain, CAST(:t0 AS timestamptz) - interval '400 days'
"""
NOISE_IDENTIFIERS = """
INSERT INTO customer_identifiers (customer_id, kind, value, first_seen_at)
SELECT id, 'ip', '203.0.' || (id / 250) || '.' || (id % 250), created_at FROM customers WHERE panel_id LIKE 'noise%'
"""
# Orders of one customer, g = 1..n: an order a minute back from t0.
ORDERS = """
INSERT INTO orders (panel_id, customer_id, link, link_normalized, quantity, charge, charge_deposited, charge_promo,
                    start_count, remains, status, target_state, tool, created_at, status_changed_at, finished_at,
                    updated_at)
SELECT :prefix || '-o' || g, :cid, 'https://www.instagram.com/p/' || :tag || g || '/',
       'https://instagram.com/p/' || :tag || g, 1000, 10.00, 8.00, 2.00, 100, 0, 'completed', 'ok',
       CAST('{"id": "1", "name": "Instagram Likes", "refill": true}' AS json),
       CAST(:t0 AS timestamptz) - g * interval '1 minute',
       CAST(:t0 AS timestamptz) - g * interval '1 minute' + interval '1 hour',
       CAST(:t0 AS timestamptz) - g * interval '1 minute' + interval '1 hour', CAST(:t0 AS timestamptz)
FROM generate_series(1, :n) AS g
"""
NOISE_ORDERS = """
INSERT INTO orders (panel_id, customer_id, link, link_normalized, quantity, charge, charge_deposited, charge_promo,
                    start_count, remains, status, target_state, tool, created_at, updated_at)
SELECT 'noise-o' || c.id || '-' || g, c.id, 'https://www.instagram.com/p/NOISE' || c.id || 'X' || g || '/',
       'https://instagram.com/p/NOISE' || c.id || 'X' || g, 500, 5.00, 5.00, 0.00, 10, 0, 'completed', 'ok',
       CAST('{"id": "2", "name": "Followers"}' AS json), CAST(:t0 AS timestamptz) - g * interval '1 hour',
       CAST(:t0 AS timestamptz)
FROM customers c CROSS JOIN generate_series(1, 25) AS g WHERE c.panel_id LIKE 'noise%'
"""
HISTORY = """
INSERT INTO order_status_changes (order_id, status, at)
SELECT o.id, s.status, o.created_at + s.shift
FROM orders o CROSS JOIN (VALUES ('pending', interval '0'), ('completed', interval '1 hour')) AS s(status, shift)
WHERE o.customer_id = ANY(:cids)
"""
LEDGER = """
INSERT INTO ledger_entries (panel_id, customer_id, kind, amount, funding, order_ref, method, at, created_at)
SELECT :prefix || '-c' || g, :cid, 'charge', 10.00, 'deposited', :prefix || '-o' || g, NULL,
       CAST(:t0 AS timestamptz) - g * interval '1 minute', CAST(:t0 AS timestamptz)
FROM generate_series(1, :n) AS g
UNION ALL
SELECT :prefix || '-d' || g, :cid, 'deposit', 100.00, 'deposited', NULL, 'paypal',
       CAST(:t0 AS timestamptz) - g * interval '10 minutes' - interval '30 seconds', CAST(:t0 AS timestamptz)
FROM generate_series(1, :n / 10) AS g
"""
NOISE_LEDGER = """
INSERT INTO ledger_entries (panel_id, customer_id, kind, amount, funding, order_ref, at, created_at)
SELECT 'noise-c' || o.id, o.customer_id, 'charge', 5.00, 'deposited', o.panel_id, o.created_at, o.created_at
FROM orders o WHERE o.panel_id LIKE 'noise-o%'
"""
# Tickets g = 1..n: odd ones on the account, even ones by e-mail only (address in another case).
TICKETS = """
INSERT INTO tickets (reference, kind, channel, subject, requester_email, requester_name, customer_id, order_ref,
                     queue, status, priority, due_at, created_at, updated_at)
SELECT :ref || g, 'general', 'web', 'Question number ' || g || ' about my orders',
       CASE WHEN g % 2 = 1 THEN :email ELSE upper(:email) END, :name,
       CASE WHEN g % 2 = 1 THEN :cid END, :prefix || '-o' || (1 + g % :orders), 'support', 'resolved', 'normal',
       timestamptz '9000-01-01 00:00:00+00', CAST(:t0 AS timestamptz) - g * interval '2 hours',
       CAST(:t0 AS timestamptz) - g * interval '2 hours' + interval '1 day'
FROM generate_series(1, :n) AS g
"""
NOISE_TICKETS = """
INSERT INTO tickets (reference, kind, channel, subject, requester_email, requester_name, customer_id, queue, status,
                     priority, due_at, created_at, updated_at)
SELECT 'N-' || c.id || '-' || g, 'general', 'web', 'Noise ticket of noise_login' || c.id, c.email, 'Noise', c.id,
       'support', 'open', 'normal', timestamptz '9000-01-01 00:00:00+00', CAST(:t0 AS timestamptz) - g * interval '3 hours',
       CAST(:t0 AS timestamptz)
FROM customers c CROSS JOIN generate_series(1, 10) AS g WHERE c.panel_id LIKE 'noise%'
"""
MESSAGES = """
INSERT INTO messages (ticket_id, author_kind, author_email, internal, body_html, body_text, created_at)
SELECT t.id, m.kind, CASE WHEN m.kind = 'requester' THEN t.requester_email END, m.internal,
       '<p>' || m.body || t.reference || '</p>', m.body || t.reference || '. ' || repeat('Some more words here. ', 8),
       t.created_at + m.shift
FROM tickets t CROSS JOIN (VALUES
    ('requester', false, 'Hello, my order did not arrive, ticket ', interval '0'),
    ('staff', false, 'Thanks, we have looked into it, ticket ', interval '2 hours'),
    ('staff', true, 'INTERNAL-NOTE checked the logs for ', interval '1 hour')) AS m(kind, internal, body, shift)
WHERE t.reference LIKE :like
"""
ATTACHMENTS = """
INSERT INTO attachments (ticket_id, message_id, filename, content_type, size, sha256, created_at)
SELECT m.ticket_id, m.id, 'screenshot-' || m.id || '.png', 'image/png', :size,
       (CAST(:digests AS text[]))[1 + m.id % :files], m.created_at
FROM messages m JOIN tickets t ON t.id = m.ticket_id
WHERE t.reference LIKE :like AND m.author_kind = :kind AND NOT m.internal
ORDER BY m.id LIMIT :n
"""
REQUESTS = """
INSERT INTO privacy_requests (reference, rights, jurisdiction, channel, email, customer_id, details, status,
                              code_attempts, received_at, responded_at, response, outcome, created_at)
SELECT :ref || g, CAST('["opt_out"]' AS json), 'ca', 'web', lower(:email), :cid, '', 'answered', 0,
       CAST(:t0 AS timestamptz) - g * interval '90 days', CAST(:t0 AS timestamptz) - g * interval '89 days',
       'No sale or sharing takes place.', CAST('{}' AS json), CAST(:t0 AS timestamptz) - g * interval '90 days'
FROM generate_series(1, :n) AS g
"""
NOISE_REQUESTS = """
INSERT INTO privacy_requests (reference, rights, jurisdiction, channel, email, customer_id, details, status,
                              code_attempts, received_at, outcome, created_at)
SELECT 'NR-' || c.id, CAST('["access"]' AS json), 'eu', 'web', c.email, c.id, 'noise request', 'verified', 0,
       CAST(:t0 AS timestamptz), CAST('{}' AS json), CAST(:t0 AS timestamptz)
FROM customers c WHERE c.panel_id LIKE 'noise%'
"""
THE_REQUEST = """
INSERT INTO privacy_requests (reference, rights, jurisdiction, channel, email, customer_id, details, status,
                              code_attempts, received_at, verified_at, outcome, created_at)
VALUES (:ref, CAST('["access", "portability"]' AS json), 'eu', 'web', lower(:email), :cid, 'A copy of my data please',
        'verified', 0, CAST(:t0 AS timestamptz), CAST(:t0 AS timestamptz), CAST('{}' AS json), CAST(:t0 AS timestamptz))
RETURNING id
"""
NEW_EXPORT = """
INSERT INTO privacy_exports (request_id, status, manifest, redactions, downloads, created_at)
VALUES (:request, 'queued', CAST('{}' AS json), CAST('[]' AS json), 0, now()) RETURNING id
"""
# Values of the noise that must not reach a person's ZIP.
NOISE_MARKERS = (b"noise", b"NOISE", b"INTERNAL-NOTE", b"N-", b"NR-")


def admin(sql: str, dbname: str = "postgres"):
    with psycopg.connect(ADMIN.rsplit("/", 1)[0] + "/" + dbname, autocommit=True) as conn:
        conn.execute(sql)


def make_app():
    return create_app({"SQLALCHEMY_DATABASE_URI": URL, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False,
                       "INSTANCE_PATH": str(WORK / "instance"), "EXPORT_DIR": str(WORK / "exports"),
                       "ATTACHMENT_DIR": str(WORK / "attachments")})


def close(app, database: str, work: Path, keep: bool):
    """The app's connections closed; the database and the work folder dropped unless kept."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if not keep:
        admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        shutil.rmtree(work, ignore_errors=True)


def fill_person(t0, prefix: str, email: str, orders: int, tickets: int, attachments: int, digests) -> dict:
    """One person's rows; returns their request id and the counts the manifest must give."""
    sql = lambda statement, **p: db.session.execute(text(statement), {"t0": t0, **p})
    login = f"{prefix}_login"
    cid = sql(CUSTOMER, panel_id=prefix, login=login, email=email).scalar_one()
    sql(IDENTIFIERS, cid=cid, base=10 if prefix == "person" else 50, domain=email.split("@", 1)[1])
    sql(ORDERS, prefix=prefix, tag=prefix.upper(), cid=cid, n=orders)
    sql(HISTORY, cids=[cid])
    sql(LEDGER, prefix=prefix, cid=cid, n=orders)
    ref = {"person": "P-", "small": "S-"}[prefix]
    sql(TICKETS, ref=ref, email=email, name=prefix.title(), cid=cid, prefix=prefix, orders=orders, n=tickets)
    sql(MESSAGES, like=f"{ref}%")
    sql(ATTACHMENTS, size=FILE_BYTES, digests=digests, files=len(digests), like=f"{ref}%", kind="requester",
        n=attachments)
    sql(REQUESTS, ref=f"{ref}R", email=email, cid=cid, n=2)
    request_id = sql(THE_REQUEST, ref=f"{ref}R0", email=email, cid=cid).scalar_one()
    db.session.commit()
    counts = {"account": 1, "identifiers": 4, "orders": orders, "order_status_history": 2 * orders,
              "tickets": tickets, "messages": 2 * tickets, "attachments": attachments,
              "ledger": orders + orders // 10, "privacy_requests": 3}
    return {"request": request_id, "counts": counts, "files": attachments, "login": login}


def load(app, args) -> dict:
    from flask_migrate import upgrade

    from desk.tickets.attachments import store

    with app.app_context():
        upgrade()
        started = time.perf_counter()
        t0 = db.session.execute(text("SELECT now()")).scalar()
        db.session.execute(text("SET synchronous_commit = off"))
        digests = [store(os.urandom(FILE_BYTES)) for _ in range(FILES)]
        sql = lambda statement, **p: db.session.execute(text(statement), {"t0": t0, **p})
        sql(NOISE_CUSTOMERS, n=args.noise)
        sql(NOISE_IDENTIFIERS)
        sql(NOISE_ORDERS)
        noise = db.session.execute(text("SELECT array_agg(id) FROM customers WHERE panel_id LIKE 'noise%'")).scalar()
        sql(HISTORY, cids=noise or [])
        sql(NOISE_LEDGER)
        sql(NOISE_TICKETS)
        sql(MESSAGES, like="N-%")
        sql(ATTACHMENTS, size=FILE_BYTES, digests=digests, files=len(digests), like="N-%", kind="requester",
            n=args.noise * 2)
        sql(NOISE_REQUESTS)
        db.session.commit()
        people = {
            "person": fill_person(t0, "person", "Person.Subject@Bench.example", args.orders, args.tickets,
                                  args.attachments, digests),
            "small": fill_person(t0, "small", "Small.Subject@Bench.example", args.orders // 10, args.tickets // 10,
                                 max(1, args.attachments // 10), digests),
        }
        totals = dict(db.session.execute(text(
            "SELECT 'orders', count(*) FROM orders UNION ALL SELECT 'tickets', count(*) FROM tickets "
            "UNION ALL SELECT 'messages', count(*) FROM messages UNION ALL SELECT 'ledger', count(*) "
            "FROM ledger_entries UNION ALL SELECT 'attachments', count(*) FROM attachments")).all())
        db.session.commit()
    load_s = time.perf_counter() - started
    admin("VACUUM ANALYZE", DB_NAME)
    print(f"loaded in {load_s:.1f} s (then VACUUM ANALYZE): {totals['orders']:,} orders, {totals['tickets']:,} tickets, "
          f"{totals['messages']:,} messages, {totals['ledger']:,} ledger entries, {totals['attachments']:,} "
          f"attachments, {args.noise:,} noise customers")
    return people


class RssSampler:
    """The process's RSS every 5 ms while running: the growth of its peak over the start."""

    def __init__(self):
        self.process = psutil.Process()
        self.stop = threading.Event()

    def __enter__(self):
        self.start = self.peak = self.process.memory_info().rss
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self.stop.wait(0.005):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *_):
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.start


def new_export(app, request_id: int) -> int:
    with app.app_context():
        export_id = db.session.execute(text(NEW_EXPORT), {"request": request_id}).scalar_one()
        db.session.commit()
    return export_id


def build_once(app, request_id: int, trace: bool = False) -> dict:
    from desk.privacy.export import build
    from desk.storage import get_storage

    export_id = new_export(app, request_id)
    with app.app_context():
        if trace:
            tracemalloc.start()
        with RssSampler() as rss:
            started = time.perf_counter()
            row = build(export_id)
            elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.stop()
        # The ZIP's file: the bench runs on the local storage (EXPORT_DIR); the row keeps its key.
        path = str(get_storage().path(row.path)) if row.path else None
        result = {"seconds": elapsed, "status": row.status, "path": path, "size": row.size,
                  "sha256": row.sha256, "manifest": dict(row.manifest), "rss": rss.growth, "traced": peak}
        db.session.remove()
    return result


def breakdown(app, request_id: int) -> list[tuple[str, float]]:
    """One build with each dataset's writing timed (a wrapper around the module's functions)."""
    from desk.privacy import export as exports

    spent: list[tuple[str, float]] = []
    write_dataset, write_files = exports._write_dataset, exports._write_files

    def timed_dataset(archive, dataset, person, when):
        started = time.perf_counter()
        try:
            return write_dataset(archive, dataset, person, when)
        finally:
            spent.append((dataset.name, time.perf_counter() - started))

    def timed_files(archive, person):
        started = time.perf_counter()
        try:
            return write_files(archive, person)
        finally:
            spent.append(("attachment files", time.perf_counter() - started))

    exports._write_dataset, exports._write_files = timed_dataset, timed_files
    try:
        total = build_once(app, request_id)["seconds"]
    finally:
        exports._write_dataset, exports._write_files = write_dataset, write_files
    spent.append(("the rest (claim, README, SHA-256, rename, commit)", total - sum(s for _, s in spent)))
    return spent


def plans(app, request_id: int) -> None:
    """EXPLAIN of every SELECT one build of the person runs (captured from the engine), by
    the scans in its plan."""
    from sqlalchemy import event

    captured: list[tuple[str, dict]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "pg_" not in statement:
            captured.append((statement, parameters))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", capture)
    try:
        build_once(app, request_id)
    finally:
        with app.app_context():
            event.remove(db.engine, "before_cursor_execute", capture)
    print("plans of the build's SELECTs (EXPLAIN, the scans in each):")
    with app.app_context():
        conn = db.session.connection()
        for statement, parameters in captured:
            plan = [row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters)]
            scans = sorted(set(re.findall(r"(Seq Scan on \w+|Index Scan using \w+|Index Only Scan using \w+|"
                                          r"Bitmap Index Scan on \w+)", "\n".join(plan))))
            tables = re.findall(r"FROM (\w+)", statement)
            print(f"  {', '.join(dict.fromkeys(tables)):45} {'; '.join(scans)}")
        db.session.rollback()


def check(result: dict, person: dict, label: str) -> list[str]:
    problems = []
    if result["status"] != "ready":
        return [f"{label}: export {result['status']}"]
    manifest = result["manifest"]
    for name, want in person["counts"].items():
        for ext in ("json", "csv"):
            got = manifest.get(f"{name}.{ext}")
            if got != want:
                problems.append(f"{label}: manifest {name}.{ext} = {got}, expected {want}")
    if manifest.get("attachments/") != person["files"]:
        problems.append(f"{label}: manifest attachments/ = {manifest.get('attachments/')}, expected {person['files']}")
    data = Path(result["path"]).read_bytes()
    if len(data) != result["size"] or hashlib.sha256(data).hexdigest() != result["sha256"]:
        problems.append(f"{label}: size or SHA-256 recorded does not match the file")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if archive.testzip() is not None:
            problems.append(f"{label}: a damaged entry in the ZIP")
        names = archive.namelist()
        files = [n for n in names if n.startswith("attachments/")]
        if len(files) != person["files"]:
            problems.append(f"{label}: {len(files)} attachment files in the ZIP, expected {person['files']}")
        for name in person["counts"]:
            rows = len(json.loads(archive.read(f"{name}.json")))
            lines = sum(1 for _ in csv.reader(io.StringIO(archive.read(f"{name}.csv").decode("utf-8"), newline="")))
            if not rows == lines - 1 == manifest[f"{name}.json"]:
                problems.append(f"{label}: {name}.json has {rows} rows, {name}.csv {lines - 1}, "
                                f"manifest {manifest[f'{name}.json']}")
        for name in names:
            if name.startswith("attachments/"):
                continue
            body = archive.read(name)
            for marker in NOISE_MARKERS:
                if marker in body:
                    problems.append(f"{label}: {marker.decode()!r} (someone else's data or an internal note) in {name}")
    return problems


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95 + 0.5) - 1)]


def mb(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 1e6:.1f} MB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--tickets", type=int, default=1_000)
    parser.add_argument("--attachments", type=int, default=50, help="files on the person's own messages")
    parser.add_argument("--noise", type=int, default=2_000, help="other customers")
    parser.add_argument("--runs", type=int, default=5, help="timed builds per person")
    parser.add_argument("--keep", action="store_true", help="keep the database and the ZIPs afterwards")
    args = parser.parse_args()

    shutil.rmtree(WORK, ignore_errors=True)
    recreate(DB_NAME)
    app = make_app()
    problems: list[str] = []
    try:
        print(f"filling: the person {args.orders:,} orders / {args.tickets:,} tickets, the small one a tenth, "
              f"{args.noise:,} noise customers …", flush=True)
        people = load(app, args)
        build_once(app, people["small"]["request"])  # warm-up: imports, the first connections, plan caches
        results: dict[str, dict] = {}
        for label in ("small", "person"):
            runs = [build_once(app, people[label]["request"]) for _ in range(args.runs)]
            traced = build_once(app, people[label]["request"], trace=True)
            for i, result in enumerate(runs + [traced]):
                problems += check(result, people[label], f"{label} run {i + 1}")
            results[label] = {"runs": runs, "traced": traced}
        spent = breakdown(app, people["person"]["request"])
        plans(app, people["person"]["request"])

        print()
        for label in ("small", "person"):
            p, r = people[label], results[label]
            median, p95 = summary([x["seconds"] for x in r["runs"]])
            c = p["counts"]
            print(f"{label}: {c['orders']:,} orders ({c['order_status_history']:,} status changes), "
                  f"{c['tickets']:,} tickets, {c['messages']:,} messages exported (internal notes left out), "
                  f"{c['ledger']:,} ledger entries, {p['files']} files")
            print(f"  build x{len(r['runs'])}: median {median:.3f} s, p95 {p95:.3f} s; ZIP {mb(r['runs'][0]['size'])}; "
                  f"RSS peak growth per build max {mb(max(x['rss'] for x in r['runs']))}; "
                  f"tracemalloc peak {mb(r['traced']['traced'])} (that build {r['traced']['seconds']:.3f} s)")
        print("one build of the person, by part:")
        for name, seconds in spent:
            print(f"  {name:50} {seconds * 1000:8.1f} ms")
        small, big = results["small"]["traced"]["traced"], results["person"]["traced"]["traced"]
        ratio = big / max(small, 1)
        flat = ratio < 3
        median, p95 = summary([x["seconds"] for x in results["person"]["runs"]])
        scale = "" if args.orders >= 10_000 and args.tickets >= 1_000 else \
            f" [this run: {args.orders:,} orders, {args.tickets:,} tickets, not the target's scale]"
        print(f"memory: tracemalloc peak {mb(big)} at 10× the data of the small person's {mb(small)} "
              f"({ratio:.1f}×): {'flat' if flat else 'NOT flat'} (flat: well under the 10× the data grew)")
        verdict = "MET" if p95 <= TARGET_S and flat else "NOT MET"
        print(f"verdict: {TARGET} — {verdict} (p95 {p95:.3f} s){scale}")
        report_checks(problems, "all checks passed (manifest counts, JSON/CSV rows, files, SHA-256, no one else's data)")
    finally:
        close(app, DB_NAME, WORK, args.keep)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
