"""What the benchmarks share: the PostgreSQL and Redis they run against, the generated
tickets and messages (bench/search.py and bench/generate.py fill the same data set), the
search index build, timing and EXPLAIN capture.

Every benchmark works in a database of its own (desk_bench_*) and takes its Redis URL by
argument (--redis); none flushes a Redis database: a test session may own it."""
import math
import os
import re
import statistics
import time
from pathlib import Path

import psycopg
from sqlalchemy import event

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/14"
PLANS = Path(__file__).resolve().parent / "plans"  # the million-ticket runs' plans, kept in the repository
PASSWORD = "bench-password-long"
TEST_LOCK_KEY = "desk-test:session"  # tests/conftest.py claims a Redis database with it


def db_name(base: str) -> str:
    """A bench's database name: desk_bench_<what>, plus DESK_BENCH_SUFFIX when set (the smoke
    test's runs get names of their own and never touch the million-row databases)."""
    return base + os.environ.get("DESK_BENCH_SUFFIX", "")


def pg_url(name: str, driver: str = "postgresql+psycopg") -> str:
    return f"{driver}://postgres@127.0.0.1:5432/{name}"


def admin(sql: str, dbname: str = "postgres"):
    with psycopg.connect(pg_url(dbname, "postgresql"), autocommit=True) as conn:
        conn.execute(sql)


TEMPLATE = "desk_bench_template"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _template_head() -> str | None:
    try:
        with psycopg.connect(pg_url(TEMPLATE, "postgresql")) as conn:
            return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    except psycopg.Error:
        return None


def recreate(name: str):
    """Drop `name` and create it migrated, as a copy of desk_bench_template (the migrations
    run once per head, not once per bench: they cost 5-20 s on this machine)."""
    from alembic.script import ScriptDirectory

    admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('desk_bench_template'))")  # one builder at a time
        try:
            if _template_head() != ScriptDirectory(str(MIGRATIONS)).get_current_head():
                conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
                conn.execute(f"CREATE DATABASE {TEMPLATE}")
                app = make_app(TEMPLATE)
                migrate(app)
                from desk.extensions import db

                with app.app_context():
                    db.engine.dispose()  # CREATE DATABASE … TEMPLATE needs it without connections
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('desk_bench_template'))")


def count_tickets(name: str) -> int | None:
    """How many tickets the database holds; None when it does not exist or is not migrated."""
    try:
        with psycopg.connect(pg_url(name, "postgresql")) as conn:
            return conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
    except psycopg.Error:
        return None


def make_app(database: str, redis_url: str = REDIS_URL, **extra):
    from desk import create_app

    config = {"SQLALCHEMY_DATABASE_URI": pg_url(database), "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False,
              "WTF_CSRF_ENABLED": False, "REDIS_URL": redis_url, "QUEUE_COUNTS_TTL": 3600,
              "VIEW_COUNTS_TTL": 3600, "INSTANCE_PATH": f"/tmp/{database}"}
    config.update(extra)
    return create_app(config)


def migrate(app):
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


def forget_jobs(redis_url: str, outbox_ids: list[int]):
    """Remove the jobs this run enqueued (RQ job ids outbox-<id>) from Redis, and only them."""
    from redis import Redis

    conn = Redis.from_url(redis_url)
    ours = {f"outbox-{i}" for i in outbox_ids}
    for key in conn.scan_iter("rq:queue:*"):
        if conn.type(key) != b"list":
            continue
        queued = {j.decode() for j in conn.lrange(key, 0, -1)}
        if queued and queued <= ours:
            conn.delete(key)
        else:
            for job in queued & ours:
                conn.lrem(key, 0, job)
    pipe = conn.pipeline()
    for job in ours:
        pipe.delete(f"rq:job:{job}")
    pipe.execute()


def outbox_ids(database: str, after: int = 0) -> list[int]:
    """The outbox rows of a bench's database (those after id `after`): their RQ jobs are
    the ones it put on Redis."""
    try:
        with psycopg.connect(pg_url(database, "postgresql")) as conn:
            return [row[0] for row in conn.execute("SELECT id FROM job_outbox WHERE id > %s", (after,))]
    except psycopg.Error:
        return []


def p95(samples: list[float]) -> float:
    """The nearest-rank 95th percentile (with few samples, the largest)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(len(ordered) * 0.95) - 1)]


def summary(samples: list[float]) -> str:
    return f"median {statistics.median(samples):7.1f} ms   p95 {p95(samples):7.1f} ms"


def timed(client, url, runs, headers=None) -> list[float]:
    """Server time of `runs` GETs through the Flask test client, in ms; exits on a non-200."""
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        response = client.get(url, headers=headers or {})
        samples.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code} {response.get_data(as_text=True)[:300]}")
    return samples


def login(client, email: str):
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    if response.status_code != 302:
        raise SystemExit(f"signing in as {email}: {response.status_code}")


def staff_member(email: str, role: str = "agent"):
    """The bench's staff member (created once), inside an app context."""
    from desk.audit.services import Actor
    from desk.auth.services import create_staff, find_staff

    return find_staff(email) or create_staff(email, role, PASSWORD, Actor("system"))


class Statements:
    """The SQL statements a request sends, with their parameters (to EXPLAIN them after)."""

    def __init__(self, engine):
        self.captured, self.on = [], False
        event.listen(engine, "before_cursor_execute", self.record)

    def record(self, conn, cursor, statement, parameters, context, executemany):
        if self.on and not executemany:
            self.captured.append((statement, parameters))

    def during(self, call):
        self.captured, self.on = [], True
        try:
            call()
        finally:
            self.on = False
        return list(self.captured)


BIG_TABLES = r"(tickets|ticket_search|messages|orders|ledger_entries|attachments|ticket_clocks|claims)"


def explain(app, statements, path: Path, title: str, tickets: int, tables: str = BIG_TABLES) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement that reads one of `tables`, into `path`;
    the problems found (sequential reads of those tables at ≥ 100,000 tickets)."""
    from desk.extensions import db

    path.parent.mkdir(parents=True, exist_ok=True)
    out, problems = [], []
    with app.app_context():
        conn = db.engine.raw_connection()
        try:
            cursor = conn.cursor()
            for number, (statement, parameters) in enumerate(statements, 1):
                if not re.search(rf"\b{tables}\b", statement) or "audit" in statement:
                    continue
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                plan = [row[0] for row in cursor.fetchall()]
                out += [f"-- statement {number}", statement.strip(), f"-- parameters: {parameters!r}", *plan, ""]
                for line in plan:
                    if tickets >= 100_000 and re.search(rf"Seq Scan on {tables}\b", line):
                        problems.append(f"{path.stem}: {line.strip()}")
            conn.rollback()
        finally:
            conn.close()
    path.write_text(f"# {title}, {tickets:,} tickets: EXPLAIN (ANALYZE, BUFFERS) of the statements of one request\n\n"
                    + "\n".join(out))
    return problems


def time_pages(app, client, statements, cases: dict, runs: int, plans: Path, what: str, tickets: int,
               target_ms: float, note=None):
    """Time each case's page (warm first), save its plans to <plans>/<what>-<case>.txt, print
    the figures line; exits non-zero on a big table read sequentially. `note(body)` adds to a
    case's line."""
    problems, worst = [], 0.0
    print(f"{what} page, {runs} runs each, server time (target p95 ≤ {target_ms:.0f} ms):")
    for name, url in cases.items():
        client.get(url)  # warm
        samples = timed(client, url, runs)
        worst = max(worst, p95(samples))
        extra = f"   ({note(client.get(url).get_data(as_text=True))})" if note else ""
        print(f"  {name:22} {summary(samples)}{extra}", flush=True)
        problems += explain(app, statements.during(lambda: client.get(url)), plans / f"{what}-{name}.txt",
                            f"bench/{what}_page.py", tickets)
    print(f"figures: {what} page p95 {worst:.1f} ms, the slowest of {len(cases)} cases "
          f"({'met' if worst <= target_ms else 'NOT met'}: p95 ≤ {target_ms:.0f} ms); plans in {plans}")
    if problems:
        raise SystemExit("sequential reads of the big tables:\n  " + "\n  ".join(problems))


def page_arguments(parser, runs: int):
    """The options of the benches that time pages on the generated data set."""
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--database", default=None, help="default: bench/generate.py's database of that size")
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--redis", default=REDIS_URL, help="Redis for the page caches (not flushed)")
    parser.add_argument("--plans", type=Path, default=None, help="default: bench/plans at 1,000,000 tickets")


def plans_folder(given: Path | None, tickets: int, name: str) -> Path:
    """bench/plans for the million-ticket run (kept in the repository), else a folder in /tmp."""
    return given or (PLANS if tickets == 1_000_000 else Path(f"/tmp/desk-bench-plans/{name}-{tickets}"))


# Weighted kinds (queue follows from the kind, as desk.tickets.models.KIND_QUEUES says).
KINDS = (["general"] * 36 + ["claim"] * 14 + ["refill"] * 6 + ["cancel"] * 3 + ["multi_account"] * 1
         + ["billing"] * 4 + ["refund"] * 8 + ["withdrawal"] * 3 + ["closure"] * 1 + ["restoration"] * 1
         + ["chargeback"] * 1 + ["abuse"] * 12 + ["rights"] * 3 + ["privacy"] * 7)

# Words support mail is made of, most common first (drawn with a skew towards the front).
VOCABULARY = """
order please my the not i and followers is to it for of likes a refill you on was have drop
help delivered still instagram views no this hello thanks yet account link with why started
dropped refund tiktok but can what service youtube since are balance days post hours back
partial me start count got did missing want they when your am we only speed how subscribers
telegram comments reel story profile deposit money payment withdraw fast slow urgent today
yesterday again problem issue wrong quantity guarantee real bots fake private public spotify
plays members channel group twitter retweets facebook page cancel cancelled pending completed
processing stuck error waiting week month week-old customer panel api reseller provider
invoice paypal card crypto usdt bank transfer fee charged twice double missing credit promo
bonus code expired verification identity passport selfie please-help asap kindly sir madam
pedido seguidores reembolso saldo ayuda gracias заказ подписчики возврат баланс помогите спасибо
pesanan pengikut saldo tolong terima kasih dana
""".split()
FIRST_NAMES = "Ana Ben Carla Dmitri Elif Farid Grace Hugo Ines Jonas Kira Luis Maya Nikhil Olga Pedro Quinn Rosa Sven Tariq".split()
LAST_NAMES = "Silva Novak Kaya Ivanov Santos Müller Rossi Haddad Chen Kowalski Nguyen Garcia Okafor Berg Tanaka".split()
DOMAINS = "gmail.com yahoo.com outlook.com mail.ru proton.me yandex.ru hotmail.com icloud.com".split()
PLATFORMS = ["https://www.instagram.com/p/", "https://www.tiktok.com/@", "https://youtu.be/", "https://t.me/"]


def sql_array(values) -> str:
    return "(ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "])"


# Tickets 1..N (a fresh table: ids follow g). hashint(g, salt) spreads values evenly.
# Requester u (0 ≤ u < 200,000) writes from user<u>@DOMAINS[u % 8]; requesters 1..customers
# are the customers of the same id and address (CUSTOMERS below), the rest e-mail only.
# Format with count (N), customers (0: no ticket on an account) and year (two digits).
FILL_TICKETS = f"""
INSERT INTO tickets (id, reference, kind, channel, subject, requester_email, requester_name, customer_id, order_ref,
                     queue, assignee_id, status, priority, due_at, serious_harm, created_at, updated_at)
SELECT g, 'T-{{year}}-' || lpad(g::text, 7, '0'), k.kind, (ARRAY['web','email','api','portal'])[1 + h1 % 4],
       left((ARRAY['Refill request for','Order not delivered','Followers dropped on','Refund for order',
                   'Wrong quantity on','Likes missing from','Question about','Cancel order','Withdrawal of balance',
                   'Account locked','Payment charged twice','Views stuck at zero','Help with','Problem with'])
            [1 + h2 % 14] || ' ' || w1 || ' ' || CASE WHEN h3 % 3 = 0 THEN (1000000 + h4 % 3000000)::text ELSE w2 END, 200),
       'user' || (h4 % 200000) || '@' || {sql_array(DOMAINS)}[1 + h4 % {len(DOMAINS)}],
       {sql_array(FIRST_NAMES)}[1 + h4 % {len(FIRST_NAMES)}] || ' ' || {sql_array(LAST_NAMES)}[1 + (h4 / 7) % {len(LAST_NAMES)}],
       CASE WHEN h4 % 200000 BETWEEN 1 AND {{customers}} THEN h4 % 200000 END,
       CASE WHEN h3 % 5 < 2 THEN (1000000 + g)::text END,
       CASE k.kind WHEN 'general' THEN 'support' WHEN 'multi_account' THEN 'support'
                   WHEN 'claim' THEN 'claims' WHEN 'refill' THEN 'claims' WHEN 'cancel' THEN 'claims'
                   WHEN 'abuse' THEN 'abuse' WHEN 'rights' THEN 'legal' WHEN 'privacy' THEN 'privacy'
                   ELSE 'billing' END,
       CASE WHEN (h1 / 7) % 10 < CASE k.status WHEN 'new' THEN 1 ELSE 7 END THEN 1 + (h1 / 70) % 21 END,
       k.status,
       (ARRAY['low','normal','normal','normal','high','urgent'])[1 + h2 % 6],
       now() + ((h1 % 40000) - 20000) * interval '1 minute', false,
       now() - (({{count}} - g) * interval '30 seconds'), now() - (({{count}} - g) * interval '30 seconds')
FROM generate_series(CAST(:start AS integer), CAST(:stop AS integer)) AS g,
     LATERAL (SELECT hashint4(g) & 2147483647 AS h1, hashint4(g + 1000003) & 2147483647 AS h2,
                     hashint4(g + 2000003) & 2147483647 AS h3, hashint4(g + 3000017) & 2147483647 AS h4,
                     hashint4(g + 4000037) & 2147483647 AS h5) h,
     LATERAL (SELECT {sql_array(KINDS)}[1 + h3 % {len(KINDS)}] AS kind,
                     (ARRAY['new','open','open','waiting','on_hold','resolved','closed','closed','closed','closed'])
                         [1 + h5 % 10] AS status,
                     {sql_array(VOCABULARY)}[1 + floor({len(VOCABULARY)} * power((h1 % 10007) / 10007.0, 3))::int] AS w1,
                     {sql_array(VOCABULARY)}[1 + floor({len(VOCABULARY)} * power((h2 % 10009) / 10009.0, 2))::int] AS w2) k
"""

# The long tail: word k (1 ≤ k ≤ TAIL) spelled from syllables, drawn log-uniformly (Zipf's
# law: word k about 1/k as often as word 1): at a million tickets word 3 is in 26% of them,
# word 100 in 1%, word 2,000 in 0.06%, word 30,000 in 48.
SYLLABLES = "ka lo mi nu re sa ti vo be da fe gi ho ju ly po qua ri su te wa xi ze no".split()
TAIL = 60_000


def tail_word(k: int) -> str:
    """Word k of the long tail, as TAIL_WORD spells it in SQL."""
    out, n = SYLLABLES[k % 24] + SYLLABLES[(k // 24) % 24], k // 576
    while n:
        out, n = out + SYLLABLES[n % 24], n // 24
    return out


TAIL_WORD = f"""({sql_array(SYLLABLES)}[1 + k % 24] || {sql_array(SYLLABLES)}[1 + (k / 24) % 24]
    || CASE WHEN k >= 576 THEN {sql_array(SYLLABLES)}[1 + (k / 576) % 24] ELSE '' END
    || CASE WHEN k >= 13824 THEN {sql_array(SYLLABLES)}[1 + (k / 13824) % 24] ELSE '' END)"""

# 1–5 messages a ticket, a sixth of them internal notes. Each is 12–40 words from the
# vocabulary (skewed), 4 words of the long tail, and now and then a rare code (one of
# 300,000: a few tickets each), a link, an order id or an address.
FILL_MESSAGES = f"""
INSERT INTO messages (ticket_id, author_kind, internal, body_html, body_text, created_at)
SELECT t.id, CASE WHEN n = 1 THEN 'requester' WHEN n % 2 = 0 THEN 'staff' ELSE 'requester' END,
       n > 1 AND (hashint4(t.id * 7 + n) & 7) = 0, '<p>(bench)</p>', body.text, t.created_at + n * interval '1 hour'
FROM tickets t
CROSS JOIN LATERAL generate_series(1, 1 + (hashint4(t.id + 77) & 2147483647) % 5) AS n
CROSS JOIN LATERAL (
    SELECT array_to_string(ARRAY(
        SELECT {sql_array(VOCABULARY)}[1 + floor({len(VOCABULARY)} * power(random(), 2.6))::int]
        FROM generate_series(1, 12 + (hashint4(t.id * 31 + n) & 2147483647) % 29) AS w
        WHERE w > 0 AND t.id > 0 AND n > 0), ' ')
      || ' ' || array_to_string(ARRAY(
        SELECT {TAIL_WORD} FROM (SELECT floor(exp(random() * ln({TAIL})))::int AS k
                                 FROM generate_series(1, 4) AS x WHERE x > 0 AND t.id > 0 AND n > 0) tail), ' ')
      || CASE (hashint4(t.id * 13 + n) & 2147483647) % 9
           WHEN 0 THEN ' ' || {sql_array(PLATFORMS)}[1 + t.id % 4] || 'p' || substr(md5((t.id * 10 + n)::text), 1, 9)
           WHEN 1 THEN ' order ' || (1000000 + (hashint4(t.id + n) & 2147483647) % 3000000)
           WHEN 2 THEN ' contact me at ' || t.requester_email
           WHEN 3 THEN ' zq' || ((hashint4(t.id * 3 + n) & 2147483647) % 300000)
           ELSE '' END AS text
) body
WHERE t.id BETWEEN CAST(:start AS integer) AND CAST(:stop AS integer)
"""



def build_search_index(conn) -> dict:
    """The search index as migration 0017 builds it: the backfill from ticket_search_source,
    then the GIN index (on a connection with triggers off). Returns the timings."""
    figures = {}
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_ticket_search_document")
    conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
    t0 = time.perf_counter()
    conn.exec_driver_sql("INSERT INTO ticket_search (ticket_id, document) "
                         "SELECT ticket_id, document FROM ticket_search_source")
    figures["search backfill"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    conn.exec_driver_sql("CREATE INDEX ix_ticket_search_document ON ticket_search USING gin (document)")
    figures["search GIN index"] = time.perf_counter() - t0
    return figures


def in_steps(conn, sql: str, total: int, label: str, step: int = 100_000, **params):
    """Run `sql` (with :start and :stop) over 1..total in steps, printing progress."""
    from sqlalchemy import text

    for start in range(1, total + 1, step):
        stop = min(start + step - 1, total)
        conn.execute(text(sql), {"start": start, "stop": stop, **params})
        print(f"  {label} {stop:,}", flush=True)


def report_checks(problems: list[str], ok: str) -> None:
    """A bench's last word on correctness: its problems, one a line, or what it checked."""
    print("PROBLEMS:\n  " + "\n  ".join(problems) if problems else f"correctness: {ok}")


# The web server as README's production section runs it (one place for every bench that
# starts it: claims.py, intake.py). gthread: each worker serves a few connections at once
# on threads and keeps them open between requests (keep-alive), so a client such as wrk or
# a panel's HTTP pool does not pay a TCP set-up and a worker's accept per call, as it
# did with sync workers (one connection per request). Two threads: on the 2-core machine
# (2026-12-04, quiet) 4 workers × 1, × 2 and 2 × 2 filed 272–278 tickets/s and decided
# 1,229–1,270 claims/s alike, 4 × 4 filed 239/s (more transactions at once than cores).
# desk.server.ThreadWorker, not stock gthread: that one let the first worker to wake take
# all of wrk's connections in about half of the runs (~200 tickets/s on one core).
GUNICORN_THREADS = 2
# One worker a core: with desk.server.ThreadWorker spreading the connections, 4 workers on
# the 2 cores spent 4.75–5.30 ms of CPU a ticket against 3.96–4.18 for 2, and filed 7–19%
# fewer tickets a second in five A/B pairs (2026-12-04 14:50; bench/README.md).
GUNICORN_WORKERS = os.cpu_count() or 2
GUNICORN_KEEPALIVE = 5  # seconds an idle connection is kept open


def gunicorn_command(port: int, workers: int, threads: int = GUNICORN_THREADS, timeout: int = 60) -> list[str]:
    import sys

    return [sys.executable, "-m", "gunicorn", "-k", "desk.server.ThreadWorker", "-w", str(workers),
            "--threads", str(threads), "--keep-alive", str(GUNICORN_KEEPALIVE), "-b", f"127.0.0.1:{port}",
            "--log-level", "warning", "--timeout", str(timeout), "wsgi:app"]


def children_cpu_seconds(parent: int) -> float:
    """User + system CPU seconds of `parent`'s child processes (gunicorn's workers) so far,
    from /proc: what the requests cost the server, whatever else shares the cores."""
    ticks, tick = 0, os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if int(fields[1]) == parent:  # ppid
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / tick
