"""What one API intake costs the app, in-process (issue 11): CPU, statements, commits.

    .venv/bin/python bench/intake_cpu.py                      # 200 tickets into a fresh desk_bench_intake_cpu
    .venv/bin/python bench/intake_cpu.py --profile 30         # and cProfile's top 30, by cumulative and by own time

The same POST /api/v1/tickets as bench/intake.py's load (a panel key, a distinct JSON
ticket each time), through Flask's test client on PostgreSQL and Redis (--redis; the jobs
the tickets enqueued are removed afterwards, one by one): no HTTP server, no load
generator, so what is timed is the app's own Python — `time.process_time()` of this
process, which a loaded machine does not inflate the way it does the wall clock
(PostgreSQL's and Redis's own work is in their processes, not here). The first
`--warmup` tickets are not counted (caches, the year's sequence, the key's last use).

Prints app CPU a ticket, SQL statements and commits a ticket (engine events: an
executemany counts once, as it is one round trip with insertmanyvalues), and checks every
answer was a 201 with its ticket, message and acknowledgement job in the database.
"""
import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

from sqlalchemy import event, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REDIS_URL, db_name, forget_jobs, make_app, outbox_ids, recreate  # noqa: E402


def ticket_body(n: int) -> dict:
    """Like bench/intake.py's wrk script: a subject, a body with an order number and a link, a requester."""
    return {"subject": f"Order {1000000 + n} not delivered (bench cpu {n})", "kind": "general" if n % 4 else "billing",
            "body": f"Hello, my order {2000000 + n} has not started after {n % 72 + 1} hours, please check the "
                    f"link https://www.instagram.com/p/b{n}/ thanks",
            "requester": {"email": f"intake{n % 50000}@bench.example", "name": f"Bench Customer {n}"}}


class Counter:
    """Statements sent and commits made on the engine while `on`."""

    def __init__(self, engine):
        self.statements = self.commits = 0
        self.on = False
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def _statement(self, *args):
        self.statements += self.on

    def _commit(self, *args):
        self.commits += self.on


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=db_name("desk_bench_intake_cpu"), help="made afresh")
    parser.add_argument("--redis", default=REDIS_URL)
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print cProfile's top N functions")
    parser.add_argument("--profile-out", metavar="FILE", help="and keep the whole profile (pstats) in FILE")
    args = parser.parse_args()

    recreate(args.database)
    # As bench/intake.py runs gunicorn: the API's rate limit on, counting in Redis, never reached.
    app = make_app(args.database, args.redis, RATELIMIT_ENABLED=True, RATELIMIT_API="100000000 per minute")
    try:
        from desk.audit.services import Actor
        from desk.auth.services import create_api_key
        from desk.extensions import db
        from desk.jobs import OutboxEntry
        from desk.tickets.models import Message, Ticket

        with app.app_context():
            _, key = create_api_key("bench-intake-cpu", "panel", Actor("system"))
            db.session.commit()
            counter = Counter(db.engine)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {key}"}
        statuses = [client.post("/api/v1/tickets", json=ticket_body(-n - 1), headers=headers).status_code
                    for n in range(args.warmup)]
        # Timed by CPU, as the figure is: by the wall clock PostgreSQL's commits (fsync) would top the list.
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        counter.on = True
        cpu = time.process_time()
        if profiler:
            profiler.enable()
        for n in range(args.tickets):
            statuses.append(client.post("/api/v1/tickets", json=ticket_body(n), headers=headers).status_code)
        if profiler:
            profiler.disable()
        cpu = time.process_time() - cpu
        counter.on = False
        with app.app_context():
            tickets = db.session.execute(select(func.count()).select_from(Ticket)).scalar_one()
            messages = db.session.execute(select(func.count(func.distinct(Message.ticket_id)))).scalar_one()
            jobs = db.session.execute(select(func.count()).select_from(OutboxEntry).where(
                OutboxEntry.func == "workers.tickets.send_acknowledgement")).scalar_one()
    finally:
        forget_jobs(args.redis, outbox_ids(args.database))
    if profiler:
        if args.profile_out:
            profiler.dump_stats(args.profile_out)
        for order in ("cumulative", "tottime"):
            print(f"--- cProfile, by {order} (the profiler's own overhead inflates these) ---")
            pstats.Stats(profiler, stream=sys.stdout).sort_stats(order).print_stats(args.profile)
    n = args.tickets
    print(f"figures: {cpu / n * 1000:.2f} ms app CPU a ticket{' (under cProfile)' if profiler else ''}, "
          f"{counter.statements / n:.1f} statements and {counter.commits / n:.1f} commits a ticket "
          f"({n} tickets after {args.warmup} warm-up)")
    problems = []
    if set(statuses) != {201}:
        problems.append(f"answers other than 201: {sorted(set(statuses) - {201})}")
    total = n + args.warmup
    if not tickets == messages == jobs == total:
        problems.append(f"{total} filed, {tickets} tickets, {messages} with a message, {jobs} acknowledgement jobs")
    if problems:
        raise SystemExit("PROBLEMS:\n  " + "\n  ".join(problems))
    print("checked: every answer a 201, each ticket with its message and acknowledgement job")


if __name__ == "__main__":
    main()
