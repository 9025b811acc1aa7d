"""Evidence snapshot of a large abuse case (issue 11: ≤ 3 s, memory flat).

    .venv/bin/python bench/evidence.py                                   # full size, ~1 min
    .venv/bin/python bench/evidence.py --orders 1000 --tickets 100 --noise 100 --runs 2   # smoke test

Drops and creates the database desk_bench_evidence and fills it as bench/privacy_export.py
fills its own (the same load, reused): one account with --orders orders (two status
changes each), a charge per order and a deposit per ten, --tickets tickets of three
messages and files, another with a tenth of each, and --noise other customers. Then an
abuse case names each account (subject account:<panel id>) and desk.abuse.evidence.take()
— what the RQ job workers.abuse.snapshot runs — writes a snapshot of each, --runs times
with a new reason each time (each snapshot is a new link of the case's chain), in its own
app context, timed, while a thread samples the RSS; then once more under tracemalloc.

Checks each document, read back from storage (EVIDENCE_DIR: the local backend) part by
part with desk.abuse.evidence.parts: as many orders, ledger entries and tickets (with their
messages) as the account has, and desk.abuse.evidence.verify() of the whole chain (hashes
of the stored objects, links, audit log). Exits non-zero on a problem. Memory: the document
is streamed (rows in batches, written piece by piece straight into its storage object
while hashed) and the row keeps only its key, size and hashes; the bench measures the
document's writing alone too.
"""
import argparse
import shutil
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
import privacy_export  # noqa: E402  the same load as the export's benchmark
from common import REDIS_URL, db_name, make_app, p95, recreate, report_checks  # noqa: E402
from desk.extensions import db  # noqa: E402

DATABASE = db_name("desk_bench_evidence")
WORK = Path("/tmp/desk-bench-evidence")
TARGET_S = 3.0

CASE = """
WITH t AS (
    INSERT INTO tickets (reference, kind, channel, subject, requester_email, requester_name, queue, status, priority,
                         due_at, created_at, updated_at)
    VALUES (:ref, 'abuse', 'web', 'Report against ' || :panel_id, 'reporter@bench.example', 'Reporter', 'abuse',
            'open', 'high', now() + interval '1 day', now(), now())
    RETURNING id),
c AS (
    INSERT INTO abuse_cases (ticket_id, kind, category, severity, serious_harm, csam, details, state, created_at)
    SELECT id, 'abuse', '3.4', 'high', false, false, CAST('{}' AS json), 'open', now() FROM t RETURNING id)
INSERT INTO case_subjects (case_id, subject, label) SELECT id, 'account:' || :panel_id, :panel_id FROM c RETURNING case_id
"""


def snapshot_once(app, case_id: int, reason: str, trace: bool = False) -> dict:
    from desk.abuse.evidence import take

    with app.app_context():
        if trace:
            tracemalloc.start()
        with privacy_export.RssSampler() as rss:
            started, cpu = time.perf_counter(), time.process_time()
            row = take(case_id, reason)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.stop()
        result = {"seconds": elapsed, "cpu": cpu, "size": row.size, "key": row.body_key, "rss": rss.growth,
                  "traced": peak}
        db.session.remove()
    return result


def document_peak(app, case_id: int) -> int:
    """tracemalloc peak of writing the case's document alone (desk.abuse.evidence.write into
    a temporary file, hashed as it goes): what take() adds to it is the storage object and
    the row."""
    import tempfile

    from desk.abuse.evidence import Document, write
    from desk.abuse.models import AbuseCase
    from desk.types import utcnow

    with app.app_context():
        case = db.session.get(AbuseCase, case_id)
        tracemalloc.start()
        with tempfile.TemporaryFile() as spool:
            write(Document(spool), case, "bench:document", 0, "0" * 64, utcnow())
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        db.session.rollback()
        db.session.remove()
    return peak


def verify_figures(app, case_id: int) -> dict:
    """One desk.abuse.evidence.verify() of the case's whole chain (every document read back
    from storage in chunks and parsed part by part), timed; then another under tracemalloc
    for its peak (tracemalloc slows it: not timed)."""
    from desk.abuse.evidence import verify
    from desk.abuse.models import AbuseCase

    figures = {}
    for traced in (False, True):
        with app.app_context():
            case = db.session.get(AbuseCase, case_id)
            if traced:
                tracemalloc.start()
            started, cpu = time.perf_counter(), time.process_time()
            checked, problems = verify(case)
            if traced:
                figures["traced"] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            else:
                figures.update(snapshots=checked, seconds=time.perf_counter() - started,
                               cpu=time.process_time() - cpu, problems=problems)
            db.session.remove()
    return figures


def check(app, case_id: int, key: str, person: dict, label: str) -> list[str]:
    from desk.abuse.evidence import Items, parts, verify
    from desk.abuse.models import AbuseCase
    from desk.storage import get_storage

    problems, counts = [], person["counts"]
    got = {"orders": 0, "ledger": 0, "tickets": -1, "messages": 0}  # the case's own ticket is in too
    with app.app_context(), get_storage().open(key) as fh:
        for name, value in parts(fh):  # the stored document, a part at a time
            if name in ("orders", "ledger") and isinstance(value, Items):
                got[name] = sum(1 for _ in value)
            elif name == "tickets" and isinstance(value, Items):
                for ticket in value:
                    got["tickets"] += 1
                    got["messages"] += len(ticket["messages"])
    # Every message of the account's tickets, internal notes included (evidence, not an export).
    want = {"orders": counts["orders"], "ledger": counts["ledger"], "tickets": (counts["tickets"] + 1) // 2,
            "messages": 3 * ((counts["tickets"] + 1) // 2)}
    if got != want:
        problems.append(f"{label}: snapshot has {got}, the account has {want}")
    with app.app_context():
        checked, chain = verify(db.session.get(AbuseCase, case_id))
        problems += [f"{label}: {p}" for p in chain]
        db.session.remove()
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--tickets", type=int, default=1_000)
    parser.add_argument("--attachments", type=int, default=50)
    parser.add_argument("--noise", type=int, default=2_000, help="other customers")
    parser.add_argument("--runs", type=int, default=5, help="timed snapshots per case")
    parser.add_argument("--redis", default=REDIS_URL, help="Redis for the app (nothing is enqueued or flushed)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--profile", action="store_true", help="print where one snapshot of the large case goes")
    args = parser.parse_args()

    shutil.rmtree(WORK, ignore_errors=True)
    recreate(DATABASE)
    privacy_export.DB_NAME = DATABASE  # its load runs VACUUM ANALYZE on this name
    app = make_app(DATABASE, args.redis, INSTANCE_PATH=str(WORK / "instance"), EXPORT_DIR=str(WORK / "exports"),
                   ATTACHMENT_DIR=str(WORK / "attachments"), EVIDENCE_DIR=str(WORK / "evidence"))
    problems: list[str] = []
    try:
        print(f"filling: an account with {args.orders:,} orders / {args.tickets:,} tickets, another with a tenth, "
              f"{args.noise:,} other customers …", flush=True)
        people = privacy_export.load(app, args)
        with app.app_context():
            cases = {label: db.session.execute(text(CASE), {"ref": f"A-{label}", "panel_id": label}).scalar_one()
                     for label in ("small", "person")}
            db.session.commit()
        snapshot_once(app, cases["small"], "warm-up")
        results = {}
        for label in ("small", "person"):
            runs = [snapshot_once(app, cases[label], f"bench:{i}") for i in range(args.runs)]
            traced = snapshot_once(app, cases[label], "bench:traced", trace=True)
            for i, result in enumerate(runs + [traced]):
                problems += check(app, cases[label], result["key"], people[label], f"{label} run {i + 1}")
            results[label] = {"runs": runs, "traced": traced, "document": document_peak(app, cases[label]),
                              "verify": verify_figures(app, cases[label])}
        if args.profile:
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.runcall(snapshot_once, app, cases["person"], "bench:profiled")
            pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
        print()
        for label in ("small", "person"):
            c, r = people[label]["counts"], results[label]
            seconds = [x["seconds"] for x in r["runs"]]
            cpu = [x["cpu"] for x in r["runs"]]
            print(f"{label}: {c['orders']:,} orders, {c['ledger']:,} ledger entries, {(c['tickets'] + 1) // 2:,} tickets "
                  f"on the account; snapshot {privacy_export.mb(r['runs'][0]['size'])}")
            print(f"  snapshot x{len(seconds)}: median {statistics.median(seconds):.3f} s, p95 {p95(seconds):.3f} s "
                  f"(CPU of this process: median {statistics.median(cpu):.3f} s); "
                  f"RSS peak growth max {privacy_export.mb(max(x['rss'] for x in r['runs']))}; "
                  f"tracemalloc peak {privacy_export.mb(r['traced']['traced'])} "
                  f"({r['traced']['traced'] / r['runs'][0]['size']:.1f}× the snapshot; writing the document alone: "
                  f"{privacy_export.mb(r['document'])})")
            v = r["verify"]
            print(f"  verify of its chain ({v['snapshots']} snapshots read back from storage): {v['seconds']:.3f} s, "
                  f"CPU {v['cpu']:.3f} s ({v['cpu'] / max(v['snapshots'], 1):.3f} s a snapshot), "
                  f"tracemalloc peak {privacy_export.mb(v['traced'])}")
        small, big = results["small"]["traced"]["traced"], results["person"]["traced"]["traced"]
        ratio = big / max(small, 1)
        flat = ratio < 3
        worst = p95([x["seconds"] for x in results["person"]["runs"]])
        print(f"memory: tracemalloc peak {privacy_export.mb(big)} at 10× the data of the small case's {privacy_export.mb(small)} ({ratio:.1f}×): "
              f"{'flat' if flat else 'NOT flat: it grows with the case'}")
        print(f"figures: evidence snapshot p95 {worst:.3f} s (target ≤ {TARGET_S:.0f} s: "
              f"{'met' if worst <= TARGET_S else 'NOT met'}), memory {'flat' if flat else 'not flat'} "
              f"({privacy_export.mb(small)} → {privacy_export.mb(big)})")
        small_doc, big_doc = results["small"]["document"], results["person"]["document"]
        print(f"memory of the streamed document alone: {privacy_export.mb(small_doc)} → {privacy_export.mb(big_doc)} "
              f"({big_doc / max(small_doc, 1):.1f}×)")
        report_checks(problems, "every snapshot holds the account's orders, ledger and tickets; the chain verifies")
    finally:
        privacy_export.close(app, DATABASE, WORK, args.keep)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
