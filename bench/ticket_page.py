"""The staff ticket page at scale (issue 11), on the generated data set.

    .venv/bin/python bench/ticket_page.py                     # 1,000,000 tickets (bench/generate.py's set)
    .venv/bin/python bench/ticket_page.py --tickets 2000      # smoke test (loads its own small set)

Uses the database bench/generate.py makes (desk_bench_data at a million tickets; loaded
first when missing). Through the Flask test client as an agent (support, claims, billing),
server time, it times GET /tickets/<reference> for:

  claim        a claims ticket with its order, its claim's decision and files listed;
  long thread  the newest claims ticket with a claim, given --messages messages (a sixth
               internal notes) and --files files, added once by this bench;
  plain        a support ticket on a customer's account;

prints median and p95 per case, saves EXPLAIN (ANALYZE, BUFFERS) of every statement one
request sends to bench/plans/ticket-<case>.txt (a folder in /tmp at other sizes), and exits
non-zero when a page is not a 200 or a plan reads a big table sequentially (≥ 100,000
tickets). The target is the queue page's: p95 ≤ 50 ms server time.
"""
import argparse
import re
import sys
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Statements, login, make_app, page_arguments, plans_folder, staff_member, time_pages  # noqa: E402
from generate import data_set  # noqa: E402
from desk.extensions import db  # noqa: E402

TARGET_MS = 50.0
AGENT = "bench-ticket@desk.example.com"
MESSAGE = re.compile(r'<li class="msg ')

LONG_THREAD = """
INSERT INTO messages (ticket_id, author_kind, author_email, internal, body_html, body_text, created_at)
SELECT :ticket, CASE WHEN n % 2 = 0 THEN 'staff' ELSE 'requester' END,
       CASE WHEN n % 2 = 1 THEN 'long-thread@bench.example' END, n % 6 = 0,
       '<p>Message ' || n || ' of the long thread: the order is still not delivered, please check the link.</p>',
       'Message ' || n || ' of the long thread: the order is still not delivered, please check the link.',
       now() - (:n - n) * interval '10 minutes'
FROM generate_series(1, :n) AS n
"""
FILES = """
INSERT INTO attachments (ticket_id, message_id, filename, content_type, size, sha256, created_at, scan_state, scanned_at)
SELECT m.ticket_id, m.id, 'proof-' || m.id || '.png', 'image/png', 48000,
       encode(sha256(convert_to('long-' || m.id, 'UTF8')), 'hex'), m.created_at, 'clean', m.created_at
FROM messages m WHERE m.ticket_id = :ticket AND m.author_kind = 'requester' ORDER BY m.id LIMIT :n
"""


def pick(sql: str, **params):
    return db.session.execute(text(sql), params).scalar()


def prepare(app, args) -> dict[str, str]:
    """The three tickets' references; the long thread made once."""
    with app.app_context():
        staff_member(AGENT)
        # A claim with files listed when the set has one (2% of tickets have files).
        # The long thread is the one an earlier run made (its files are named proof-…), so a
        # rerun neither makes another nor times that thread as the "claim" case.
        made = pick("SELECT max(ticket_id) FROM attachments WHERE filename LIKE 'proof-%'") or 0
        claim_id = pick("SELECT c.ticket_id FROM claims c WHERE c.ticket_id <> :made ORDER BY EXISTS "
                        "(SELECT 1 FROM attachments a WHERE a.ticket_id = c.ticket_id) DESC, c.ticket_id DESC LIMIT 1",
                        made=made)
        long_id = made or pick(f"SELECT max(ticket_id) FROM claims WHERE ticket_id <> {claim_id}")
        if pick(f"SELECT count(*) FROM messages WHERE ticket_id = {long_id}") < args.messages:
            db.session.execute(text(LONG_THREAD), {"ticket": long_id, "n": args.messages})
            db.session.execute(text(FILES), {"ticket": long_id, "n": args.files})
            db.session.execute(text("ANALYZE messages"))
            db.session.commit()
        plain = pick("SELECT reference FROM tickets WHERE queue = 'support' AND status = 'open' "
                     "ORDER BY customer_id IS NOT NULL DESC, id DESC LIMIT 1 OFFSET 3")
        reference = "SELECT reference FROM tickets WHERE id = {}".format
        cases = {"claim": pick(reference(claim_id)), "long-thread": pick(reference(long_id)), "plain": plain}
        db.session.commit()
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    page_arguments(parser, runs=50)
    parser.add_argument("--messages", type=int, default=200, help="messages of the long thread")
    parser.add_argument("--files", type=int, default=20, help="files listed on the long thread")
    args = parser.parse_args()

    database = data_set(args.tickets, args.database)
    plans = plans_folder(args.plans, args.tickets, "ticket")
    app = make_app(database, args.redis)
    cases = prepare(app, args)
    with app.app_context():
        statements = Statements(db.engine)
    client = app.test_client()
    login(client, AGENT)
    time_pages(app, client, statements, {name: f"/tickets/{ref}" for name, ref in cases.items()}, args.runs, plans,
               "ticket", args.tickets, TARGET_MS,
               note=lambda body: f"{len(MESSAGE.findall(body))} messages shown")

if __name__ == "__main__":
    main()
