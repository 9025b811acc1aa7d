"""Staff queue page at scale, on PostgreSQL (DESIGN §7: p95 ≤ 50 ms server time at 1,000,000 tickets).

    .venv/bin/python bench/queue_page.py --tickets 1000000

Creates (or reuses) the database `desk_bench` on 127.0.0.1:5432, fills it with generated
tickets in one INSERT … SELECT, then times the queue page through the Flask test client
(server time, no network): the first page and deep keyset pages, filtered by queue and
status and sorted by SLA due. Prints the median and p95 per case and the query plan."""
import argparse
from urllib.parse import parse_qs, urlsplit
import statistics
import time

import psycopg
from sqlalchemy import text

from desk import create_app
from desk.extensions import db

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
URL = "postgresql+psycopg://postgres@127.0.0.1:5432/desk_bench"

FILL = """
INSERT INTO tickets (reference, kind, channel, subject, requester_email, requester_name, queue, status,
                     priority, due_at, created_at, updated_at)
SELECT 'B-' || g, 'general', 'web', 'Bench ticket ' || g, 'user' || (g % 5000) || '@example.com', '',
       (ARRAY['support','billing','abuse','legal','privacy'])[1 + g % 5],
       (ARRAY['new','open','waiting','on_hold','resolved','closed','closed','closed'])[1 + (g * 7) % 8],
       'normal', now() + ((g % 20000) - 10000) * interval '1 minute', now() - (g % 500000) * interval '1 second', now()
FROM generate_series(:start, :stop) AS g
"""


def prepare(count: int):
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'desk_bench'").fetchone():
            conn.execute("CREATE DATABASE desk_bench")
    app = create_app({"SQLALCHEMY_DATABASE_URI": URL, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False,
                      "WTF_CSRF_ENABLED": False, "REDIS_URL": "redis://127.0.0.1:6379/14"})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        have = db.session.execute(text("SELECT count(*) FROM tickets")).scalar()
        if have < count:
            print(f"filling {count - have:,} tickets …", flush=True)
            step = 200_000
            for start in range(have + 1, count + 1, step):
                db.session.execute(text(FILL), {"start": start, "stop": min(start + step - 1, count)})
                db.session.commit()
                print(f"  {min(start + step - 1, count):,}", flush=True)
            db.session.execute(text("ANALYZE tickets"))
            db.session.commit()
        from desk.auth.services import create_staff, find_staff
        from desk.audit.services import Actor

        if not find_staff("bench@desk.example.com"):
            create_staff("bench@desk.example.com", "agent", "bench-password-long", Actor("system"))
    return app


def timed(client, url, runs):
    samples = []
    body = None
    for _ in range(runs):
        t0 = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.status_code
        body = response.get_data(as_text=True)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1], body


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    app = prepare(args.tickets)
    client = app.test_client()
    client.post("/login", data={"email": "bench@desk.example.com", "password": "bench-password-long"})
    with app.app_context():
        total = db.session.execute(text("SELECT count(*) FROM tickets")).scalar()
    print(f"tickets in table: {total:,}")
    cases = {
        "support, open, page 1": "/queue?queue=support&status=open",
        "all my queues, open, page 1": "/queue",
        "billing, waiting, page 1": "/queue?queue=billing&status=waiting",
    }
    for name, url in cases.items():
        median, p95, body = timed(client, url, args.runs)
        print(f"{name:34} median {median:6.1f} ms   p95 {p95:6.1f} ms")
    # Walk 20 pages deep with the keyset cursor, then time that page.
    url = "/queue?queue=support&status=open"
    import re

    for _ in range(20):
        body = client.get(url).get_data(as_text=True)
        url = re.search(r'href="(/queue\?[^"]*after=[^"]+)"', body).group(1).replace("&amp;", "&")
    median, p95, _ = timed(client, url, args.runs)
    print(f"{'support, open, page 21 (keyset)':34} median {median:6.1f} ms   p95 {p95:6.1f} ms")
    with app.app_context():
        from desk.auth.models import Staff
        from desk.tickets.queue import QueueFilter, decode_cursor, page_query

        viewer = db.session.query(Staff).filter_by(email="bench@desk.example.com").one()
        query = page_query(QueueFilter(queues=frozenset({"support"}), queue="support"), viewer,
                           decode_cursor(parse_qs(urlsplit(url).query)["after"][0]), 50)
        sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
        plan = db.session.execute(text("EXPLAIN ANALYZE " + sql)).scalars().all()
    print("plan for the keyset page query (page 21):\n  " + "\n  ".join(plan))


if __name__ == "__main__":
    main()
