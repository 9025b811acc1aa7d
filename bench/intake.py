"""Ticket intake through the JSON API under gunicorn (issue 11: ≥ 300 tickets/s, nothing lost).

    .venv/bin/python bench/intake.py --database desk_bench_data          # on the million-ticket set
    .venv/bin/python bench/intake.py --seconds 3 --workers 1 --clients 4  # smoke test (its own database)

Runs gunicorn (--workers gthread workers of --threads threads, as README's production
section runs it: bench/common.py's gunicorn_command) on a free loopback port
against PostgreSQL (--database: created and migrated when it has no tables; the default
desk_bench_intake is made afresh) and Redis (--redis; the acknowledgement jobs the tickets
enqueue are removed from it afterwards, job by job, and nothing is flushed). A panel API
key is made with `flask desk api-key create`. The load is wrk (Debian's `wrk`, C, a Lua
script posting a distinct JSON ticket per request on keep-alive connections) for --seconds
with --clients connections, after --warmup seconds of the same load that are not counted
(each worker thread's first intakes fill caches a long-running server has filled long
before); without wrk, Python threads with httpx do the same.

Prints tickets/s (2xx answers per second), latency median and p95 as the client saw it,
the CPU gunicorn's workers spent a ticket, and then checks, in the database: the tickets filed during the run, each with its first
message and its acknowledgement job in the outbox, are as many as the 2xx answers (wrk
stops without reading the answers still in flight: those tickets, at most one per
connection, are counted apart), and no answer was a 5xx. Exits non-zero otherwise.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    GUNICORN_THREADS, GUNICORN_WORKERS, REDIS_URL, children_cpu_seconds, db_name, forget_jobs, gunicorn_command,
    outbox_ids, pg_url, recreate,
)

ROOT = Path(__file__).resolve().parent.parent
TARGET = 300.0

WRK_SCRIPT = r"""
local threads, next_id = {}, 0
function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  table.insert(threads, thread)
end
function init(args)
  ok, server_errors, other, n = 0, 0, 0, 0
  math.randomseed(tid)
end
local kinds = {"general", "general", "general", "billing"}
request = function()
  n = n + 1
  local body = string.format(
    '{"subject": "Order %d not delivered (bench %d-%d)", "body": "Hello, my order %d has not started after %d hours, '
    .. 'please check the link https://www.instagram.com/p/b%d%d/ thanks", "kind": "%s", '
    .. '"requester": {"email": "intake%d@bench.example", "name": "Bench Customer %d"}}',
    math.random(1000000, 3000000), tid, n, math.random(1000000, 3000000), math.random(1, 72), tid, n,
    kinds[math.random(1, 4)], math.random(1, 50000), tid)
  return wrk.format("POST", "/api/v1/tickets",
    {["Authorization"] = "Bearer KEY", ["Content-Type"] = "application/json"}, body)
end
response = function(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1
  elseif status >= 500 then server_errors = server_errors + 1
  else other = other + 1 end
end
done = function(summary, latency, requests)
  local o, s, x = 0, 0, 0
  for _, t in ipairs(threads) do
    o, s, x = o + t:get("ok"), s + t:get("server_errors"), x + t:get("other")
  end
  io.write(string.format("RESULT ok=%d server_errors=%d other=%d p50=%d p95=%d us=%d socket_errors=%d\n", o, s, x,
    latency:percentile(50), latency:percentile(95), summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(database: str, env: dict) -> str:
    """The database migrated (made afresh when it is the bench's own); a panel API key."""
    flask = [sys.executable, "-m", "flask", "--app", "desk"]
    if database == db_name("desk_bench_intake"):
        recreate(database)
    subprocess.run(flask + ["db", "upgrade"], env=env, check=True, cwd=ROOT, capture_output=True)
    out = subprocess.run(flask + ["desk", "api-key", "create", "bench-intake", "--role", "panel"], env=env,
                         check=True, cwd=ROOT, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def high_water(database: str) -> tuple[int, int]:
    with psycopg.connect(pg_url(database, "postgresql")) as conn:
        return conn.execute("SELECT coalesce((SELECT max(id) FROM tickets), 0), "
                            "coalesce((SELECT max(id) FROM job_outbox), 0)").fetchone()


def filed_since(database: str, ticket_id: int, outbox_id: int) -> dict:
    with psycopg.connect(pg_url(database, "postgresql")) as conn:
        row = conn.execute("""
            SELECT count(*),
                   count(*) FILTER (WHERE EXISTS (SELECT 1 FROM messages m WHERE m.ticket_id = t.id)),
                   (SELECT count(*) FROM job_outbox o WHERE o.id > %s)
            FROM tickets t WHERE t.id > %s AND t.channel = 'api'""", (outbox_id, ticket_id)).fetchone()
    return {"tickets": row[0], "with_message": row[1], "outbox": row[2]}


def run_wrk(port: int, key: str, seconds: float, clients: int) -> dict:
    script = Path(f"/tmp/desk-bench-intake-{os.getpid()}.lua")
    script.write_text(WRK_SCRIPT.replace("KEY", key))
    try:
        out = subprocess.run(["wrk", "-t2" if clients >= 2 else "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s",
                              "--timeout", "30s", "-s", str(script), f"http://127.0.0.1:{port}"],
                             capture_output=True, text=True, check=True).stdout
    finally:
        script.unlink(missing_ok=True)
    result = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", re.search(r"RESULT .*", out).group(0)))
    # wrk's own duration in microseconds: its text ("requests in 1.00m") changes unit with the length.
    result["seconds"] = result.pop("us") / 1e6
    result["p50_ms"], result["p95_ms"] = result.pop("p50") / 1000, result.pop("p95") / 1000
    result["tool"] = "wrk"
    return result


def run_python(port: int, key: str, seconds: float, clients: int) -> dict:
    """The fallback load: one thread and keep-alive connection per client; each finishes the
    request it has sent, so every ticket filed had its answer read."""
    import httpx

    latencies, counts, lock = [], {"ok": 0, "server_errors": 0, "other": 0, "socket_errors": 0}, threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(slot: int):
        n = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                          headers={"Authorization": f"Bearer {key}"}) as http:
            while time.perf_counter() < deadline:
                n += 1
                body = {"subject": f"Order not delivered (bench {slot}-{n})", "kind": "general",
                        "body": f"Hello, my order has not started, please check (bench {slot}-{n}).",
                        "requester": {"email": f"intake{slot}@bench.example", "name": f"Bench Customer {slot}"}}
                t0 = time.perf_counter()
                try:
                    status = http.post("/api/v1/tickets", json=body).status_code
                except httpx.HTTPError:
                    status = None
                spent = (time.perf_counter() - t0) * 1000
                kind = ("socket_errors" if status is None else "ok" if 200 <= status < 300
                        else "server_errors" if status >= 500 else "other")
                with lock:
                    counts[kind] += 1
                    latencies.append(spent)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ordered = sorted(latencies) or [0.0]
    return {**counts, "seconds": time.perf_counter() - started, "p50_ms": statistics.median(ordered),
            "p95_ms": ordered[max(0, -(-len(ordered) * 95 // 100) - 1)], "tool": "python threads + httpx"}


def wait_for(port: int, server: subprocess.Popen, workers: int):
    """Until every worker answers (the master takes connections before a worker has loaded the app)."""
    import httpx

    deadline, answered = time.time() + 120, 0
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/tickets", timeout=10)
            answered += 1
            if answered >= 2 * workers:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer in 120 s")


def stop_server(server: subprocess.Popen):
    """gunicorn and its workers, by their process group; SIGKILL when a loaded machine makes them slow to go."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=db_name("desk_bench_intake"),
                        help="desk_bench_intake (default, made afresh) or e.g. desk_bench_data (the generated set)")
    parser.add_argument("--redis", default=REDIS_URL, help="Redis for the jobs (only this run's are removed)")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=GUNICORN_WORKERS, help="gunicorn workers (default: one a core)")
    parser.add_argument("--threads", type=int, default=GUNICORN_THREADS, help="threads a worker (gthread)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--warmup", type=float, default=3,
                        help="seconds of the same load first, not counted (each thread's first intakes)")
    parser.add_argument("--python", action="store_true", help="use the Python load generator even if wrk is there")
    args = parser.parse_args()

    instance = Path(f"/tmp/desk-bench-intake-{os.getpid()}")
    env = dict(os.environ, DATABASE_URL=pg_url(args.database, "postgresql"), REDIS_URL=args.redis,
               SECRET_KEY="bench", RATELIMIT_API="100000000 per minute", DESK_INSTANCE_PATH=str(instance))
    key = prepare(args.database, env)
    outbox_start = high_water(args.database)[1]
    port = free_port()
    server = subprocess.Popen(gunicorn_command(port, args.workers, args.threads), env=env, cwd=ROOT,
                              start_new_session=True)
    try:
        wait_for(port, server, args.workers)
        use_wrk = shutil.which("wrk") and not args.python
        print(f"POST /api/v1/tickets: gunicorn {args.workers} workers × {args.threads} threads, {args.clients} connections, "
              f"{args.seconds:.0f} s, {'wrk' if use_wrk else 'Python threads + httpx'}, database {args.database}",
              flush=True)
        load = run_wrk if use_wrk else run_python
        if args.warmup > 0:
            warm = load(port, key, args.warmup, args.clients)
            if warm["server_errors"]:
                raise SystemExit(f"PROBLEMS:\n  {warm['server_errors']} answers were 5xx during the warm-up")
            time.sleep(1)  # the warm-up's answers in flight finish on the server
        tickets_before, outbox_before = high_water(args.database)
        server_cpu = children_cpu_seconds(server.pid)
        result = load(port, key, args.seconds, args.clients)
        server_cpu = children_cpu_seconds(server.pid) - server_cpu
        time.sleep(1)  # the answers wrk left in flight finish on the server
    finally:
        stop_server(server)
        shutil.rmtree(instance, ignore_errors=True)
        # The warm-up's jobs and the run's, also when the run failed (a 5xx in the warm-up, wrk).
        forget_jobs(args.redis, outbox_ids(args.database, outbox_start))
    filed = filed_since(args.database, tickets_before, outbox_before)
    rate = result["ok"] / result["seconds"]
    in_flight = filed["tickets"] - result["ok"]
    print(f"  answers: {result['ok']:,} 2xx, {result['server_errors']} 5xx, {result['other']} other, "
          f"{result['socket_errors']} socket errors, in {result['seconds']:.1f} s")
    print(f"  in the database: {filed['tickets']:,} tickets filed ({filed['with_message']:,} with their message, "
          f"{filed['outbox']:,} acknowledgement jobs in the outbox)")
    print(f"figures: intake {rate:,.0f} tickets/s, latency median {result['p50_ms']:.1f} ms, p95 "
          f"{result['p95_ms']:.1f} ms (target ≥ {TARGET:.0f}/s: {'met' if rate >= TARGET else 'NOT met'})")
    problems = [] if result["ok"] else ["no ticket was filed"]
    if result["server_errors"]:
        problems.append(f"{result['server_errors']} answers were 5xx")
    allowed = args.clients if result["tool"] == "wrk" else 0
    if not 0 <= in_flight <= allowed:
        problems.append(f"{filed['tickets']} tickets filed for {result['ok']} 2xx answers "
                        f"({'lost' if in_flight < 0 else 'unanswered'}: {abs(in_flight)})")
    elif in_flight:
        print(f"  {in_flight} tickets were filed for requests in flight when wrk stopped (≤ {allowed} connections)")
    if result["ok"]:
        # What an intake costs the server, beside the rate: on a shared virtual machine the
        # same code's CPU a request varies by half from one run to the next.
        print(f"  server: gunicorn's workers spent {server_cpu / result['ok'] * 1000:.2f} ms of CPU a ticket")
    if filed["with_message"] != filed["tickets"] or filed["outbox"] != filed["tickets"]:
        problems.append("a ticket without its message or its acknowledgement job")
    if problems:
        raise SystemExit("PROBLEMS:\n  " + "\n  ".join(problems))
    print("checked: every 2xx is a ticket in the database with its message and job; no 5xx")


if __name__ == "__main__":
    main()
