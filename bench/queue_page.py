"""Staff queue page at scale, on PostgreSQL (DESIGN §7: p95 ≤ 50 ms server time at 1,000,000 tickets).

    .venv/bin/python bench/queue_page.py                     # 1,000,000 tickets (bench/generate.py's set)
    .venv/bin/python bench/queue_page.py --tickets 2000      # smoke test (loads its own small set)

Uses the database bench/generate.py makes (desk_bench_data at a million tickets; loaded
first when missing, reused after), then times the queue page through the Flask test client
as an agent (support, claims, billing; server time, no network): the first page of one
queue and status, of all the agent's queues, and a keyset page 21 deep, sorted by SLA due.
Prints the median and p95 per case, saves EXPLAIN (ANALYZE, BUFFERS) of every statement of
one request per case to bench/plans/queue-<case>.txt (a folder in /tmp at other sizes),
and exits non-zero when a page fails or a plan reads a big table sequentially (≥ 100,000
tickets)."""
import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Statements, login, make_app, page_arguments, plans_folder, staff_member, time_pages  # noqa: E402
from generate import data_set  # noqa: E402
from desk.extensions import db  # noqa: E402

TARGET_MS = 50.0
AGENT = "bench-queue@desk.example.com"


def deep_page(client, url: str, pages: int) -> str:
    """The URL of the page `pages` further on by the keyset cursor ("More" link)."""
    for _ in range(pages):
        body = client.get(url).get_data(as_text=True)
        more = re.search(r'href="(/queue\?[^"]*after=[^"]+)"', body)
        if not more:
            break
        url = more.group(1).replace("&amp;", "&")
    return url


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    page_arguments(parser, runs=100)
    args = parser.parse_args()

    database = data_set(args.tickets, args.database)
    plans = plans_folder(args.plans, args.tickets, "queue")
    app = make_app(database, args.redis)
    with app.app_context():
        staff_member(AGENT)
        statements = Statements(db.engine)
    client = app.test_client()
    login(client, AGENT)
    cases = {
        "support-open": "/queue?queue=support&status=open",
        "my-queues": "/queue",
        "billing-waiting": "/queue?queue=billing&status=waiting",
    }
    cases["support-open-page-21"] = deep_page(client, cases["support-open"], 20)
    time_pages(app, client, statements, cases, args.runs, plans, "queue", args.tickets, TARGET_MS)

if __name__ == "__main__":
    main()
