"""The benchmarks' data set: a desk a few years into its life, loaded into PostgreSQL in
minutes and the same from the same seed (issue 11).

    .venv/bin/python bench/generate.py                     # 1,000,000 tickets, 100,000 customers, 2,000,000 orders
    .venv/bin/python bench/generate.py --tickets 2000 --customers 200 --orders 4000 --database desk_bench_tiny

Drops and creates the database (default desk_bench_data), migrates it, and fills it in the
server with INSERT … SELECT over generate_series, triggers and foreign-key checks off
(session_replication_role = replica), the big tables' secondary indexes dropped during the
load and built after:

  staff       20 agents (agent1..20@desk.example) and the benches' own agent and admin;
  customers   ids 1..C, customer u writes from user<u>@<domain> (1% frozen);
  tickets     as bench/search.py makes them (bench/common.FILL_TICKETS: kinds, queues,
              statuses, priorities, assignees, requesters 0..199,999 of which 1..C are the
              customers, so about half the tickets are on an account), 5% tagged vip;
  messages    1–5 a ticket (a sixth internal notes) from the SMM-support vocabulary and a
              Zipf tail of 60,000 words (bench/common.FILL_MESSAGES);
  orders      panel ids 1000001..1000000+O; order g is ticket g's order when the ticket names
              one, on the same customer; statuses completed 70%, in progress 10%, partial 8%,
              canceled 7%, pending 5%; a tenth paid partly with Promotional Credit; a status
              history (pending, then in_progress or the final status);
  ledger      per order a charge per funding source (deposited, promotional) and, for a
              partial or canceled order, the return the Terms owe (desk.policy.ledger's
              rule, in SQL); per customer a deposit of its deposited charges plus 10 + id % 50
              and a promo credit of its promotional charges: every balance is known ahead;
  claims      a claim with a decision on every claim, refill and cancel ticket that names an
              order (open on open tickets);
  attachments 1–3 files listed on the first message of 2% of the tickets;
  SLA clocks  for open tickets (new, open, waiting, on_hold): a resolution clock due at the
              ticket's due time, and a first-response clock on new ones; clocks already due
              are breached and reminded, clocks past their 75% point reminded, waiting and
              on-hold tickets' clocks paused: the sweep finds nothing left over;
  search      ticket_search built as migration 0017 builds it, then the GIN index.

Then VACUUM ANALYZE, a check of the counts and of 200 customers' balances through
desk.policy.ledger.balances against what the load meant them to be (exits non-zero on a
difference), and the tables' sizes. The seed drives every random() draw (messages' words);
everything else is a hash of the row's number, so a second load is the same data set.
"""
import argparse
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

import psycopg
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (DOMAINS, FILL_MESSAGES, FILL_TICKETS, admin, build_search_index, count_tickets, db_name,  # noqa: E402
                    in_steps, make_app, migrate, pg_url, recreate, sql_array)

DATABASE = db_name("desk_bench_data")
MAX = 2147483647
# The tables whose secondary indexes are built after the load (the primary keys and unique
# constraints stay: the load's own INSERT … SELECT reads some of them).
LOAD_TABLES = ("tickets", "messages", "orders", "order_status_changes", "ledger_entries", "ticket_clocks",
               "attachments", "claims", "customers", "ticket_tags")

STAFF = """
INSERT INTO staff (email, name, role, password_hash, active, session_token, created_at)
SELECT 'agent' || g || '@desk.example', 'Agent ' || g, 'agent', '-', true, md5(g::text), now() - interval '3 years'
FROM generate_series(1, 20) g
"""

CUSTOMERS = f"""
INSERT INTO customers (id, panel_id, login, email, email_verified, country, status, last_login_at, last_order_at,
                       last_active_at, created_at)
SELECT g, 'c' || g, 'login' || g, 'user' || g || '@' || {sql_array(DOMAINS)}[1 + g % {len(DOMAINS)}], true,
       (ARRAY['US','DE','BR','IN','ID','RU','TR','GB','ES','MX'])[1 + g % 10],
       CASE WHEN g % 100 = 0 THEN 'frozen' ELSE 'active' END,
       now() - (g % 400) * interval '1 day', now() - (g % 300) * interval '1 day',
       now() - (g % 400) * interval '1 day', now() - interval '3 years' + (g % 700) * interval '1 day'
FROM generate_series(CAST(:start AS integer), CAST(:stop AS integer)) AS g
"""

# Order g: ticket g's customer when g ≤ tickets and the requester is a customer (the same
# hash as FILL_TICKETS's h4), another customer otherwise.
ORDERS = """
INSERT INTO orders (id, panel_id, customer_id, link, link_normalized, quantity, charge, charge_deposited, charge_promo,
                    start_count, remains, status, target_state, tool, created_at, status_changed_at, finished_at,
                    overlap_elsewhere, updated_at)
SELECT g, (1000000 + g)::text,
       CASE WHEN h4 % 200000 BETWEEN 1 AND :customers THEN h4 % 200000 ELSE 1 + h4 % :customers END,
       p.site || 'o' || substr(md5(g::text), 1, 10) || '/', p.norm || 'o' || substr(md5(g::text), 1, 10),
       x.quantity, x.charge, x.charge - x.promo, x.promo, h5 % 10000,
       CASE x.status WHEN 'completed' THEN 0 WHEN 'partial' THEN 1 + h1 % (x.quantity - 1)
                     WHEN 'in_progress' THEN x.quantity / 2 ELSE x.quantity END,
       x.status, CASE WHEN h5 % 100 < 3 THEN 'private' ELSE 'ok' END,
       CAST(p.tool AS json), x.created,
       CASE WHEN x.status <> 'pending' THEN x.created + (1 + h1 % 72) * interval '1 hour' END,
       CASE WHEN x.status IN ('completed', 'partial', 'canceled') THEN x.created + (1 + h1 % 72) * interval '1 hour' END,
       false, now()
FROM generate_series(CAST(:start AS integer), CAST(:stop AS integer)) AS g,
     LATERAL (SELECT hashint4(g) & 2147483647 AS h1, hashint4(g + 1000003) & 2147483647 AS h2,
                     hashint4(g + 2000003) & 2147483647 AS h3, hashint4(g + 3000017) & 2147483647 AS h4,
                     hashint4(g + 4000037) & 2147483647 AS h5) h,
     LATERAL (SELECT (ARRAY['https://www.instagram.com/p/', 'https://www.tiktok.com/@', 'https://youtu.be/'])[1 + h2 % 3]
                         AS site,
                     (ARRAY['https://instagram.com/p/', 'https://tiktok.com/@', 'https://youtu.be/'])[1 + h2 % 3] AS norm,
                     (ARRAY['{"id": "1", "name": "Instagram Likes", "refill": true, "refill_days": 30}',
                            '{"id": "7", "name": "TikTok Followers", "refill": false}',
                            '{"id": "12", "name": "YouTube Views", "refill": true, "refill_days": 60, "guarantee": true}'])
                         [1 + h2 % 3] AS tool) p,
     LATERAL (SELECT q.quantity, q.charge, CASE WHEN h2 % 10 = 0 THEN round(q.charge * 0.3, 2) ELSE 0 END AS promo,
                     CASE WHEN h3 % 100 < 70 THEN 'completed' WHEN h3 % 100 < 80 THEN 'in_progress'
                          WHEN h3 % 100 < 88 THEN 'partial' WHEN h3 % 100 < 95 THEN 'canceled' ELSE 'pending' END
                         AS status,
                     now() - (CAST(:orders AS integer) - g) * interval '20 seconds' - interval '1 hour' AS created
              FROM (SELECT (ARRAY[100, 500, 1000, 5000])[1 + h1 % 4] AS quantity,
                           round((ARRAY[100, 500, 1000, 5000])[1 + h1 % 4] * (1 + h2 % 40) / 10000.0, 2) + 0.01
                               AS charge) q) x
"""

HISTORY = """
INSERT INTO order_status_changes (order_id, status, at)
SELECT o.id, s.status, s.at
FROM orders o
CROSS JOIN LATERAL (VALUES ('pending', o.created_at),
                           (CASE WHEN o.status <> 'pending' THEN o.status END, o.status_changed_at)) AS s(status, at)
WHERE o.id BETWEEN :start AND :stop AND s.status IS NOT NULL
"""

# The charge by funding source, and the return a partial or canceled order is owed
# (desk.policy.ledger.expected_return: the undelivered share rounded half up, split in the
# proportions it was paid, the promotional share cut to the cent).
LEDGER = """
INSERT INTO ledger_entries (panel_id, customer_id, kind, amount, funding, order_ref, at, created_at)
SELECT e.panel_id, o.customer_id, e.kind, e.amount, e.funding, o.panel_id, e.at, e.at
FROM orders o
CROSS JOIN LATERAL (SELECT CASE o.status WHEN 'partial' THEN round(o.charge * o.remains / o.quantity, 2)
                                         WHEN 'canceled' THEN o.charge ELSE 0 END AS total) r
CROSS JOIN LATERAL (SELECT trunc(r.total * o.charge_promo / o.charge, 2) AS promo) rp
CROSS JOIN LATERAL (VALUES ('ch-d-' || o.panel_id, 'charge', o.charge_deposited, 'deposited', o.created_at),
                           ('ch-p-' || o.panel_id, 'charge', o.charge_promo, 'promotional', o.created_at),
                           ('rt-d-' || o.panel_id, 'return', r.total - rp.promo, 'deposited', o.finished_at),
                           ('rt-p-' || o.panel_id, 'return', rp.promo, 'promotional', o.finished_at))
                   AS e(panel_id, kind, amount, funding, at)
WHERE o.id BETWEEN :start AND :stop AND e.amount > 0
"""

FUNDS = """
INSERT INTO ledger_entries (panel_id, customer_id, kind, amount, funding, method, source, at, created_at)
SELECT f.panel_id, c.id, f.kind, f.amount, f.funding, f.method, f.source, c.created_at, c.created_at
FROM customers c
LEFT JOIN (SELECT customer_id, sum(charge_deposited) AS deposited, sum(charge_promo) AS promo
           FROM orders GROUP BY customer_id) s ON s.customer_id = c.id
CROSS JOIN LATERAL (VALUES ('dep-' || c.id, 'deposit', coalesce(s.deposited, 0) + 10 + c.id % 50, 'deposited',
                            'paypal', NULL),
                           ('promo-' || c.id, 'promo_credit', coalesce(s.promo, 0), 'promotional', NULL,
                            'bench-welcome-bonus'))
                   AS f(panel_id, kind, amount, funding, method, source)
WHERE f.amount > 0
"""

TAGS = """
INSERT INTO ticket_tags (ticket_id, tag)
SELECT id, 'vip' FROM tickets WHERE (hashint4(id + 99) & 2147483647) % 20 = 0
UNION ALL SELECT id, 'chargeback-risk' FROM tickets WHERE (hashint4(id + 199) & 2147483647) % 50 = 0
"""

CLAIMS = """
INSERT INTO claims (ticket_id, order_id, kind, current_count, filed_at, decision, reasons, refill_quantity, status,
                    overridden, decided_at)
SELECT t.id, o.id, CASE t.kind WHEN 'claim' THEN 'non_delivery' ELSE t.kind END, o.start_count + o.quantity / 3,
       t.created_at, d.decision,
       CAST(json_build_array(json_build_object('rule', d.rule, 'outcome', d.decision, 'text', d.why)) AS json),
       CASE WHEN t.kind = 'refill' AND d.decision = 'eligible' THEN o.quantity / 3 END,
       CASE WHEN t.status IN ('resolved', 'closed') THEN
            CASE WHEN d.decision = 'rejected' THEN 'rejected' ELSE 'accepted' END ELSE 'open' END,
       false, CASE WHEN t.status IN ('resolved', 'closed') THEN t.updated_at END
FROM tickets t
JOIN orders o ON o.panel_id = t.order_ref
CROSS JOIN LATERAL (SELECT (ARRAY['eligible', 'eligible', 'rejected', 'needs_review'])[1 + t.id % 4] AS decision,
                           (ARRAY['terms-9-partial', 'terms-10-refill', 'terms-8-private', 'terms-7-review'])[1 + t.id % 4]
                               AS rule,
                           (ARRAY['Partial: the undelivered share returns to the Balance.',
                                  'Refill within the 30-day window.', 'The link was made private after the order.',
                                  'Staff review: the counts do not settle it.'])[1 + t.id % 4] AS why) d
WHERE t.kind IN ('claim', 'refill', 'cancel') AND t.id BETWEEN :start AND :stop
"""

# On the first message (the requester's, an hour after the ticket: FILL_MESSAGES's n = 1),
# found by a hash join: messages has no index on ticket_id during the load.
ATTACHMENTS = """
INSERT INTO attachments (ticket_id, message_id, filename, content_type, size, sha256, created_at, scan_state, scanned_at)
SELECT m.ticket_id, m.id, 'screenshot-' || m.ticket_id || '-' || n || '.png', 'image/png',
       20000 + (hashint4(m.id + n) & 65535), encode(sha256(convert_to(m.id || '-' || n, 'UTF8')), 'hex'),
       m.created_at, 'clean', m.created_at
FROM tickets t
JOIN messages m ON m.ticket_id = t.id AND m.created_at = t.created_at + interval '1 hour'
CROSS JOIN LATERAL generate_series(1, 1 + t.id % 3) AS n
WHERE (hashint4(t.id + 555) & 2147483647) % 50 = 0
"""

# Open tickets' clocks. resolution: due at the ticket's due time (the queue sorts by it),
# 2340 support minutes; first_response (new tickets): due 20 hours earlier, 240 minutes.
# Reminders at 75%. Already due: breached (and reminded) as the sweep left them; past the
# reminder: reminded, next check at due; waiting or on hold: paused.
CLOCKS = """
INSERT INTO ticket_clocks (ticket_id, name, label, rule, measure, amount, stops_on, pauses, started_at, resumed_at,
                           budget_seconds, due_at, warn_at, next_check_at, paused_at, reminded_at, breached_at)
SELECT t.id, c.name, c.label, 'terms-33-support-hours', 'support', c.amount, c.stops_on, true, t.created_at,
       CASE WHEN x.paused THEN NULL ELSE t.created_at END,
       c.amount * 60,
       CASE WHEN x.paused THEN NULL ELSE x.due END,
       CASE WHEN x.paused THEN NULL ELSE x.due - c.warn_before END,
       CASE WHEN x.paused OR x.due <= now() THEN NULL
            WHEN x.due - c.warn_before <= now() THEN x.due ELSE x.due - c.warn_before END,
       CASE WHEN x.paused THEN t.created_at + interval '10 minutes' END,
       CASE WHEN NOT x.paused AND x.due - c.warn_before <= now() THEN x.due - c.warn_before END,
       CASE WHEN NOT x.paused AND x.due <= now() THEN x.due END
FROM tickets t
CROSS JOIN (VALUES ('first_response', 'First response', 240, 'public_reply', interval '20 hours', interval '60 minutes'),
                   ('resolution', 'Resolution', 2340, 'resolved', interval '0', interval '585 minutes'))
           AS c(name, label, amount, stops_on, earlier, warn_before)
CROSS JOIN LATERAL (SELECT t.status IN ('waiting', 'on_hold') AS paused, t.due_at - c.earlier AS due) x
WHERE t.id BETWEEN :start AND :stop AND t.status IN ('new', 'open', 'waiting', 'on_hold')
  AND (c.name = 'resolution' OR t.status = 'new')
"""


def secondary_indexes(conn) -> list[tuple[str, str]]:
    """(name, CREATE INDEX …) of the load tables' indexes that back no constraint."""
    return conn.exec_driver_sql(f"""
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = 'public' AND i.tablename IN {LOAD_TABLES!r}
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        ORDER BY i.indexname""").all()


def step(figures: dict, name: str, call):
    t0 = time.perf_counter()
    call()
    figures[name] = time.perf_counter() - t0
    print(f"{name}: {figures[name]:.1f} s", flush=True)


def load(database: str, tickets: int, customers: int, orders: int, seed: int) -> dict:
    figures = {}
    recreate(database)
    app = make_app(database)
    migrate(app)
    from desk.extensions import db

    year = time.gmtime().tm_year % 100
    with app.app_context():
        with db.engine.begin() as conn:
            conn.exec_driver_sql("SET session_replication_role = replica")  # no triggers, no FK checks
            conn.exec_driver_sql("SET work_mem = '64MB'")
            conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
            conn.execute(text("SELECT setseed(:s)"), {"s": random.Random(seed).uniform(-1, 1)})
            indexes = secondary_indexes(conn)
            for name, _ in indexes:
                conn.exec_driver_sql(f"DROP INDEX {name}")
            conn.exec_driver_sql(STAFF)
            step(figures, "customers", lambda: in_steps(conn, CUSTOMERS, customers, "customers"))
            step(figures, "tickets", lambda: in_steps(
                conn, FILL_TICKETS.format(count=tickets, customers=customers, year=f"{year:02d}"), tickets, "tickets"))
            step(figures, "messages", lambda: in_steps(conn, FILL_MESSAGES, tickets, "messages of tickets to"))
            step(figures, "orders", lambda: in_steps(conn, ORDERS, orders, "orders", 200_000,
                                                     customers=customers, orders=orders))
            step(figures, "order history", lambda: in_steps(conn, HISTORY, orders, "order history to", 500_000))
            step(figures, "ledger", lambda: (in_steps(conn, LEDGER, orders, "ledger of orders to", 500_000),
                                             conn.execute(text(FUNDS))))
            step(figures, "tags, claims, attachments, clocks", lambda: (
                conn.execute(text(TAGS)),
                in_steps(conn, CLAIMS, tickets, "claims of tickets to", 500_000),
                conn.execute(text(ATTACHMENTS)),
                in_steps(conn, CLOCKS, tickets, "clocks of tickets to", 500_000)))
            for table in ("customers", "tickets", "orders"):
                conn.exec_driver_sql(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
            # Intake after the load goes on from the last generated reference (T-YY-0NNNNNN).
            conn.execute(text("INSERT INTO ticket_sequences (year, last) VALUES (:y, :n)"), {"y": year, "n": tickets})

            def build_indexes():
                for name, definition in indexes:
                    t0 = time.perf_counter()
                    conn.exec_driver_sql(definition)
                    print(f"  {name} {time.perf_counter() - t0:.1f} s", flush=True)

            step(figures, "indexes", build_indexes)
            figures.update(build_search_index(conn))
        db.engine.dispose()
    step(figures, "vacuum analyze", lambda: admin("VACUUM ANALYZE", database))
    return figures


def expected_balances(conn, customer_id: int) -> tuple[Decimal, Decimal]:
    """What the load meant the customer's balance to be, from its orders through the policy."""
    from desk.policy.ledger import expected_return

    deposited, promotional = Decimal(10 + customer_id % 50), Decimal("0.00")
    for status, quantity, remains, charge, promo in conn.execute(
            "SELECT status, quantity, remains, charge, charge_promo FROM orders WHERE customer_id = %s", (customer_id,)):
        owed = expected_return(status, quantity, remains, charge, promo)
        if owed is not None:
            deposited, promotional = deposited + owed.deposited, promotional + owed.promotional
    return deposited, promotional


def check(database: str, tickets: int, customers: int, orders: int) -> list[str]:
    from desk.policy.ledger import Entry, balances

    problems = []
    with psycopg.connect(pg_url(database, "postgresql")) as conn:
        counts = conn.execute("SELECT (SELECT count(*) FROM tickets), (SELECT count(*) FROM customers), "
                              "(SELECT count(*) FROM orders), (SELECT count(*) FROM ticket_search), "
                              "(SELECT count(*) FROM tickets t WHERE t.order_ref IS NOT NULL AND NOT EXISTS "
                              "  (SELECT 1 FROM orders o WHERE o.panel_id = t.order_ref))").fetchone()
        if counts[:4] != (tickets, customers, orders, tickets):
            problems.append(f"counts tickets/customers/orders/search {counts[:4]}, "
                            f"meant {(tickets, customers, orders, tickets)}")
        if counts[4]:
            problems.append(f"{counts[4]} tickets name an order that is not there")
        for customer_id in random.Random(7).sample(range(1, customers + 1), min(200, customers)):
            entries = [Entry(kind, amount, funding) for kind, amount, funding in conn.execute(
                "SELECT kind, amount, funding FROM ledger_entries WHERE customer_id = %s", (customer_id,))]
            got = balances(entries)
            meant = expected_balances(conn, customer_id)
            if (got.deposited, got.promotional) != meant:
                problems.append(f"customer {customer_id}: balance {got}, meant {meant}")
    return problems


def sizes(database: str) -> str:
    with psycopg.connect(pg_url(database, "postgresql")) as conn:
        rows = conn.execute("""
            SELECT relname, n_live_tup, pg_size_pretty(pg_total_relation_size(relid)) FROM pg_stat_user_tables
            WHERE n_live_tup > 0 ORDER BY pg_total_relation_size(relid) DESC LIMIT 12""").fetchall()
        total = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    return "\n".join(f"  {name:22} {count:>12,} rows  {size}" for name, count, size in rows) + f"\n  database {total}"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tickets", type=int, default=1_000_000)
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--orders", type=int, default=2_000_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--database", default=None, help="default: desk_bench_data at 1,000,000 tickets, "
                                                   "desk_bench_data_<tickets> at another size")
    return p


def generate(database: str, tickets: int, customers: int, orders: int, seed: int = 1) -> dict:
    """Load the data set and check it; exits non-zero when the check fails."""
    if orders < tickets:
        raise SystemExit("--orders must be at least --tickets (ticket g's order is order g)")
    started = time.perf_counter()
    print(f"generating {database}: {tickets:,} tickets, {customers:,} customers, {orders:,} orders, seed {seed}",
          flush=True)
    figures = load(database, tickets, customers, orders, seed)
    problems = check(database, tickets, customers, orders)
    figures["whole load"] = time.perf_counter() - started
    print("load: " + ", ".join(f"{k} {v:.1f} s" for k, v in figures.items()))
    print(sizes(database))
    if problems:
        raise SystemExit("the data set is wrong:\n  " + "\n  ".join(problems))
    print("checked: counts, every ticket's order, 200 customers' balances (desk.policy.ledger)")
    return figures


def default_database(tickets: int) -> str:
    """desk_bench_data for the million, a name of its own for any other size (a smoke run
    never replaces the big data set)."""
    return DATABASE if tickets == 1_000_000 else f"{DATABASE}_{tickets}"


def data_set(tickets: int, database: str | None = None, seed: int = 1) -> str:
    """The generated database of `tickets` tickets (a customer per 10 tickets and 2 orders a
    ticket, as in the default set), loaded only when it does not hold that many yet; its name."""
    database = database or default_database(tickets)
    if (count_tickets(database) or 0) >= tickets:  # intake.py may have added some
        print(f"reusing {database} ({tickets:,} tickets; bench/generate.py reloads it)", flush=True)
    else:
        generate(database, tickets, max(10, tickets // 10), 2 * tickets, seed)
    return database


def main():
    args = parser().parse_args()
    generate(args.database or default_database(args.tickets), args.tickets, args.customers, args.orders, args.seed)


if __name__ == "__main__":
    main()
