"""Every benchmark runs at a tiny size (issue 11: the million-row runs are not for CI, a
smaller size is): each script as a subprocess, as bench/README.md says to run it, must
exit 0 and print its figures line. Databases get a suffix of this run's own
(DESK_BENCH_SUFFIX) and are dropped after; Redis is the test session's database."""
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from redis import Redis

from conftest import fresh_redis

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SUFFIX = f"_t{os.getpid()}"
FIGURES = re.compile(r"^(figures|verdict|checked):", re.M)
TINY = ["--tickets", "2000"]

# In this order: the generated set first, the pages on it after.
BENCHES = {
    "generate": ["generate.py", *TINY, "--customers", "200", "--orders", "4000"],
    "queue_page": ["queue_page.py", *TINY, "--runs", "3", "--redis", "{redis}"],
    "ticket_page": ["ticket_page.py", *TINY, "--runs", "3", "--messages", "20", "--files", "3", "--redis", "{redis}"],
    "search": ["search.py", "--tickets", "1000", "--runs", "1", "--redis", "{redis}"],
    "sla_sweep": ["sla_sweep.py", *TINY, "--due", "20", "--idle", "2", "--rounds", "1", "--redis", "{redis}"],
    "privacy_export": ["privacy_export.py", "--orders", "200", "--tickets", "20", "--attachments", "5",
                       "--noise", "20", "--runs", "1"],
    "evidence": ["evidence.py", "--orders", "200", "--tickets", "20", "--attachments", "5", "--noise", "20",
                 "--runs", "1",
                 "--redis", "{redis}"],
    "claims": ["claims.py", "--seconds", "2", "--workers", "1", "--clients", "2", "--orders", "50",
               "--redis", "{redis}"],
    "intake": ["intake.py", "--seconds", "2", "--warmup", "1", "--workers", "1", "--clients", "2", "--redis", "{redis}"],
    "intake_cpu": ["intake_cpu.py", "--tickets", "20", "--warmup", "2", "--profile", "5", "--redis", "{redis}"],
}


@pytest.fixture(scope="module")
def bench_env(redis_server):
    # The benches' outbox jobs are outbox-1, outbox-2 … like every test's: a job an earlier
    # test left under the same id would pass for a bench's own (the relay skips a job Redis
    # already holds), and the SLA bench would count fewer notices than it sent.
    fresh_redis(redis_server)
    env = dict(os.environ, DESK_BENCH_SUFFIX=SUFFIX)
    yield env, redis_server.url
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                            (f"desk_bench_%{SUFFIX}%",))]
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(args, env, timeout=240):
    return subprocess.run([sys.executable, str(ROOT / "bench" / args[0]), *args[1:]], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", list(BENCHES))
def test_bench_runs_and_prints_its_figures(bench_env, name):
    env, redis_url = bench_env
    done = run([a.replace("{redis}", redis_url) for a in BENCHES[name]], env)
    assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert FIGURES.search(done.stdout), f"{name} printed no figures line:\n{done.stdout[-2000:]}"


def test_intake_falls_back_to_python_and_counts_every_ticket(bench_env):
    """Without wrk (forced here) the load comes from Python threads, and the check that each
    2xx is one ticket in the database is exact: the warm-up's tickets are not counted, and
    their jobs leave Redis with the run's."""
    env, redis_url = bench_env
    done = run(["intake.py", "--seconds", "2", "--warmup", "1", "--workers", "1", "--clients", "2", "--python",
                "--redis", redis_url], env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    answers = int(re.search(r"answers: ([\d,]+) 2xx", done.stdout).group(1).replace(",", ""))
    filed = int(re.search(r"in the database: ([\d,]+) tickets filed", done.stdout).group(1).replace(",", ""))
    assert answers == filed > 0
    assert "Python threads" in done.stdout
    with psycopg.connect(ADMIN.rsplit("/", 1)[0] + f"/desk_bench_intake{SUFFIX}") as conn:
        assert conn.execute("SELECT count(*) FROM tickets").fetchone()[0] > filed  # the warm-up's are there too
    assert not Redis.from_url(redis_url).keys("rq:job:outbox-*")


def test_generated_set_is_the_same_from_the_same_seed(bench_env):
    """Two loads with one seed give the same data (a hash of every message's text and the
    ledger), another seed other messages."""
    env, _ = bench_env

    def fingerprint(database, seed):
        done = run(["generate.py", "--tickets", "300", "--customers", "30", "--orders", "600", "--seed", str(seed),
                    "--database", database], env)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        with psycopg.connect(ADMIN.rsplit("/", 1)[0] + "/" + database) as conn:
            return conn.execute("SELECT md5(string_agg(body_text, '|' ORDER BY id)), "
                                "(SELECT md5(string_agg(panel_id || amount, '|' ORDER BY panel_id)) FROM ledger_entries) "
                                "FROM messages").fetchone()

    first = fingerprint(f"desk_bench_seed_a{SUFFIX}", 1)
    assert fingerprint(f"desk_bench_seed_b{SUFFIX}", 1) == first
    other = fingerprint(f"desk_bench_seed_c{SUFFIX}", 2)
    assert other[0] != first[0] and other[1] == first[1]


def test_a_bench_never_flushes_the_redis_database(bench_env, redis_server):
    """The SLA sweep's bench enqueues and removes its own jobs only: a key of someone else's survives."""
    env, redis_url = bench_env
    redis_server.set("someone-else:key", "kept")
    done = run(BENCHES["sla_sweep"][:1] + ["--tickets", "2000", "--due", "10", "--idle", "1", "--rounds", "1",
                                           "--redis", redis_url], env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert redis_server.get("someone-else:key") == b"kept"
    assert not list(redis_server.scan_iter("rq:job:outbox-*"))
