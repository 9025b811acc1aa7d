"""Claim decisions per second (DESIGN §7: ≥ 20,000/s in-process, ≥ 500/s through the API).

    .venv/bin/python bench/claims.py [--seconds 10] [--workers 3] [--threads 2] [--clients 8] [--profile]

In-process: desk.policy.claims.evaluate over a varied set of orders and claims.
Through the API: POST /api/v1/claims/evaluate against gunicorn as README's production
section runs it (gthread workers with keep-alive: bench/common.py's gunicorn_command; `--threads 1`
for sync workers) on 127.0.0.1 with PostgreSQL (database desk_bench_claims) and the rate
limit counted in Redis, loaded by wrk (else client threads) on keep-alive connections.
Prints both rates and what a request costs in CPU: the gunicorn workers' (from /proc, over
the load) and through the Flask test client (`--profile`: its cProfile, saved to
/tmp/desk-bench-claims.prof). On a shared machine the CPU figures are the comparable ones."""
import argparse
import http.client
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import psycopg

from common import GUNICORN_THREADS, REDIS_URL, children_cpu_seconds, db_name, gunicorn_command, recreate
from desk.policy.claims import Claim, OrderFacts, Tool, evaluate
from intake import free_port, stop_server, wait_for

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = db_name("desk_bench_claims")
DB_URL = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"
KINDS = ("non_delivery", "wrong_quantity", "not_as_described", "refill", "cancel")


def sample_orders(n: int, rng: random.Random):
    base = datetime(2026, 7, 1, tzinfo=timezone.utc)
    cases = []
    for i in range(n):
        created = base + timedelta(minutes=rng.randint(0, 60 * 24 * 30))
        status = rng.choice(["pending", "in_progress", "completed", "completed", "partial", "canceled"])
        finished = created + timedelta(hours=rng.randint(1, 72)) if status not in ("pending", "in_progress") else None
        quantity = rng.choice([100, 500, 1000, 5000])
        order = OrderFacts(
            panel_id=str(i), status=status, link=f"https://instagram.com/p/{i % 500}", quantity=quantity,
            created_at=created, finished_at=finished, start_count=rng.randint(0, 10000),
            remains=rng.randint(0, quantity) if status == "partial" else 0, charge=Decimal("2.50"),
            charge_promo=Decimal("0.50"), target_state=rng.choice(["ok"] * 9 + ["private"]),
            tool=Tool(refill=rng.random() < .6, refill_days=30, guarantee=rng.random() < .2, beta=rng.random() < .05),
        )
        claim = Claim(rng.choice(KINDS), (finished or created) + timedelta(hours=rng.randint(1, 100)),
                      order.start_count + rng.randint(-10, quantity) if order.start_count is not None else None)
        cases.append((order, claim))
    return cases


def bench_in_process(seconds: float) -> tuple[float, float]:
    """Decisions per second of wall time and per second of this process's CPU time (on the
    shared machine the second is what the code costs; the first what the load left it)."""
    rng = random.Random(1)
    cases = sample_orders(2000, rng)
    by_link = {}
    for order, _ in cases:
        by_link.setdefault(order.link, []).append(order)
    done = 0
    start, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        for order, claim in cases:
            evaluate(order, claim, by_link[order.link])
        done += len(cases)
    return done / (time.perf_counter() - start), done / (time.process_time() - cpu)


def prepare_api(orders: int, redis_url: str) -> tuple[dict, str]:
    recreate(DB_NAME)
    env = dict(os.environ, DATABASE_URL=DB_URL, REDIS_URL=redis_url, SECRET_KEY="bench",
               RATELIMIT_API="1000000 per minute", DESK_INSTANCE_PATH="/tmp/desk-bench-instance")
    flask = [sys.executable, "-m", "flask", "--app", "desk"]
    subprocess.run(flask + ["db", "upgrade"], env=env, check=True, cwd=ROOT, capture_output=True)
    key = subprocess.run(flask + ["desk", "api-key", "create", "bench", "--role", "panel"], env=env, check=True,
                         cwd=ROOT, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    # Orders go in through the real API, as the panel would send them.
    from desk import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": DB_URL.replace("postgresql://", "postgresql+psycopg://"),
                      "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False, "INSTANCE_PATH": "/tmp/desk-bench-instance"})
    client = app.test_client()
    rng = random.Random(2)
    for i, (order, _) in enumerate(sample_orders(orders, rng)):
        body = {"customer": f"c{i % 300}", "link": order.link, "quantity": order.quantity, "charge": "2.50",
                "charge_promo": "0.50", "start_count": order.start_count, "remains": order.remains,
                "status": order.status, "created_at": order.created_at.isoformat(),
                "status_changed_at": (order.finished_at or order.created_at).isoformat(),
                "target_state": order.target_state,
                "tool": {"refill": order.tool.refill, "refill_days": 30, "guarantee": order.tool.guarantee,
                         "beta": order.tool.beta}}
        response = client.put(f"/api/v1/orders/{i}", json=body, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 201, response.get_json()
    return env, key


def bench_api(args) -> tuple[float, int, float, float]:
    """(decisions/s, answers other than 200, ms of the workers' CPU a request under gunicorn,
    ms of CPU a request through the Flask test client)."""
    env, key = prepare_api(args.orders, args.redis)
    port = free_port()
    server = subprocess.Popen(gunicorn_command(port, args.workers, args.threads), env=env, cwd=ROOT,
                              start_new_session=True)
    try:
        wait_for(port, server, args.workers)  # every worker has loaded the app
        cpu = children_cpu_seconds(server.pid)
        load = run_wrk if shutil.which("wrk") else run_threads
        rate, requests, errors = load(port, key, args.seconds, args.clients, args.orders)
        worker_ms = 1000 * (children_cpu_seconds(server.pid) - cpu) / max(requests, 1)
    finally:
        stop_server(server)
    client_ms = cpu_through_test_client(key, args.orders, args.redis, args.requests, args.profile)
    return rate, errors, worker_ms, client_ms


def run_threads(port, key, seconds, clients, orders) -> tuple[float, int, int]:
    """The fallback load without wrk: a thread and a keep-alive connection per client."""
    counts, errors = [0] * clients, [0] * clients
    stop = threading.Event()

    def client_loop(slot):
        rng = random.Random(slot)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        while not stop.is_set():
            body = {"order": str(rng.randrange(orders)), "kind": rng.choice(KINDS),
                    "current_count": rng.randint(0, 10000), "at": "2026-08-01T00:00:00Z"}
            conn.request("POST", "/api/v1/claims/evaluate", json.dumps(body), headers)
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                counts[slot] += 1
            else:
                errors[slot] += 1

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return sum(counts) / elapsed, sum(counts) + sum(errors), sum(errors)


WRK_SCRIPT = """
math.randomseed(1)
local kinds = {"non_delivery", "wrong_quantity", "not_as_described", "refill", "cancel"}
request = function()
  local body = string.format('{"order": "%d", "kind": "%s", "current_count": %d, "at": "2026-08-01T00:00:00Z"}',
    math.random(0, ORDERS - 1), kinds[math.random(1, 5)], math.random(0, 10000))
  return wrk.format("POST", "/api/v1/claims/evaluate",
    {["Authorization"] = "Bearer KEY", ["Content-Type"] = "application/json"}, body)
end
"""


def run_wrk(port, key, seconds, clients, orders) -> tuple[float, int, int]:
    """wrk (C, from Debian's packages) as the load: the client takes almost no CPU from the
    two cores the server runs on, unlike Python client threads."""
    script = Path("/tmp/desk-bench-claims.lua")
    script.write_text(WRK_SCRIPT.replace("ORDERS", str(orders)).replace("KEY", key))
    out = subprocess.run(["wrk", "-t2", f"-c{clients}", f"-d{int(seconds)}s", "-s", str(script),
                          f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, requests, int(bad.group(1)) if bad else 0


def cpu_through_test_client(key: str, orders: int, redis_url: str, requests: int, profile: bool) -> float:
    """ms of this process's CPU a request through the Flask test client (the app as gunicorn
    runs it: rate limit counted in Redis, PostgreSQL), after a warm-up; with `profile`, the
    cProfile of those requests, its top functions printed (the profiler's own cost included)."""
    from desk import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": DB_URL.replace("postgresql://", "postgresql+psycopg://"),
                      "SECRET_KEY": "bench", "REDIS_URL": redis_url, "RATELIMIT_ENABLED": True,
                      "RATELIMIT_API": "1000000 per minute", "INSTANCE_PATH": "/tmp/desk-bench-instance"})
    client = app.test_client()
    rng = random.Random(3)
    headers = {"Authorization": f"Bearer {key}"}
    bodies = [{"order": str(rng.randrange(orders)), "kind": rng.choice(KINDS), "current_count": rng.randint(0, 10000),
               "at": "2026-08-01T00:00:00Z"} for _ in range(requests)]
    for body in bodies[:50]:  # warm: the key cache, compiled statements, the pools
        assert client.post("/api/v1/claims/evaluate", json=body, headers=headers).status_code == 200
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU, not the waits for PostgreSQL and Redis
        profiler.enable()
    cpu = time.process_time()
    for body in bodies:
        response = client.post("/api/v1/claims/evaluate", json=body, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"test client: {response.status_code} {response.get_data(as_text=True)[:300]}")
    cpu = time.process_time() - cpu
    if profiler is not None:
        import pstats

        profiler.disable()
        profiler.dump_stats("/tmp/desk-bench-claims.prof")  # for pstats' callers/callees
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    return 1000 * cpu / requests


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (threads cover the waits; a third worker kept ahead of two in the 2026-12-04 runs)")
    parser.add_argument("--threads", type=int, default=GUNICORN_THREADS, help="threads a gunicorn worker (gthread)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--redis", default=REDIS_URL, help="Redis for the app (claim decisions enqueue nothing)")
    parser.add_argument("--requests", type=int, default=500, help="requests through the test client (CPU a request)")
    parser.add_argument("--profile", action="store_true", help="print the test client requests' cProfile")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    in_process, per_cpu = bench_in_process(args.seconds / 2)
    print(f"claim decisions in-process (desk.policy):      {in_process:10,.0f} /s   (target ≥ 20,000; "
          f"{per_cpu:,.0f} per CPU second)")
    rate, errors, worker_ms, client_ms = bench_api(args)
    print(f"claim decisions via API (gunicorn, PostgreSQL): {rate:10,.0f} /s   (target ≥ 500; "
          f"{args.workers} workers × {args.threads} threads, {args.clients} connections, {errors} errors)")
    print(f"CPU a request: {worker_ms:.2f} ms of gunicorn's workers; {client_ms:.2f} ms through the Flask test client "
          f"({args.requests} requests{', profiled' if args.profile else ''})")
    print(f"figures: claim decisions {in_process:,.0f}/s in-process ({'met' if in_process >= 20_000 else 'NOT met'}), "
          f"{rate:,.0f}/s via the API ({'met' if rate >= 500 else 'NOT met'}); {worker_ms:.2f} ms of worker CPU a "
          f"request; load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    if errors:
        sys.exit(f"{errors} answers were not 200")


if __name__ == "__main__":
    main()
