"""The API's rate limit (RATELIMIT_API, per client address, fixed window) counted in Redis in
one round trip a request (desk.ratelimit): the X-RateLimit-* headers from that trip, the 429
at the limit, a new window after the old one expires, one count for every process, and
Redis away as before (counted in memory meanwhile, never a 500).

Each test runs on SQLite and on PostgreSQL; the limiter counts in a Redis of the test's own
(own_redis) where the test watches or stops it, else in the session's."""
import json
import subprocess
import sys
import time
from pathlib import Path

from redis import Redis

from desk.audit.services import Actor

ROOT = Path(__file__).resolve().parent.parent
EVALUATE = "/api/v1/claims/evaluate"
CLAIM = {"order": "5001", "kind": "non_delivery", "current_count": 3600}


def order_body():
    return {"customer": "alice", "link": "https://www.instagram.com/p/RATE/", "quantity": 1000, "charge": "2.50",
            "start_count": 3572, "remains": 0, "status": "completed", "created_at": "2026-07-01T10:00:00Z",
            "status_changed_at": "2026-07-01T12:00:00Z",
            "tool": {"id": "17", "name": "Likes", "refill": True, "refill_days": 30}}


def limited_app(make_app, limit, **settings):
    """An app limiting the API to `limit`, with a panel key and order 5001 (put in by an app
    without limits, so the test's count starts at zero). Returns (app, key)."""
    from desk.auth.services import create_api_key

    setup = make_app()
    with setup.app_context():
        _, key = create_api_key("panel key", "panel", Actor("system"))
    assert setup.test_client().put("/api/v1/orders/5001", json=order_body(),
                                   headers={"Authorization": f"Bearer {key}"}).status_code == 201
    return make_app(RATELIMIT_ENABLED=True, RATELIMIT_API=limit, **settings), key


def evaluate(client, key):
    return client.post(EVALUATE, json=CLAIM, headers={"Authorization": f"Bearer {key}"})


def counted(redis_url) -> dict[str, int]:
    """The limiter's counters in Redis: key → count."""
    conn = Redis.from_url(redis_url)
    return {k.decode(): int(conn.get(k)) for k in conn.scan_iter("LIMITS:*")}


def test_headers_come_from_the_count_in_redis_and_the_limit_answers_429(make_app, redis_server):
    app, key = limited_app(make_app, "3 per minute")
    client = app.test_client()
    answers = [evaluate(client, key) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["X-RateLimit-Limit"] for a in answers] == ["3", "3", "3"]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    (name, count), = counted(redis_server.url).items()
    assert count == 3 and "api" in name
    ttl = Redis.from_url(redis_server.url).ttl(name)
    reset = int(answers[-1].headers["X-RateLimit-Reset"])
    assert 0 < ttl <= 60 and abs(reset - (time.time() + ttl)) <= 2  # the window's end, as Redis has it

    limited = evaluate(client, key)
    assert limited.status_code == 429
    assert limited.get_json()["error"]["code"] == "too_many_requests"
    assert limited.headers["X-RateLimit-Remaining"] == "0" and limited.headers["X-RateLimit-Limit"] == "3"
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert counted(redis_server.url)[name] == 4  # a refused call counts too, as with the stock fixed window


def test_a_new_window_opens_when_the_old_one_expires(make_app):
    app, key = limited_app(make_app, "2 per 2 seconds")
    client = app.test_client()
    assert [evaluate(client, key).status_code for _ in range(3)] == [200, 200, 429]
    reset = int(evaluate(client, key).headers["X-RateLimit-Reset"])
    time.sleep(max(0.0, reset - time.time()) + 0.2)
    again = evaluate(client, key)
    assert again.status_code == 200 and again.headers["X-RateLimit-Remaining"] == "1"


def test_one_round_trip_to_redis_a_request(make_app, own_redis):
    """MONITOR on the test's own Redis: each request sends one command (the script), and the
    increment, the expiry and the TTL run inside it; no GET, no TTL from the app."""
    app, key = limited_app(make_app, "100 per minute", REDIS_URL=own_redis.url)
    client = app.test_client()
    assert evaluate(client, key).status_code == 200  # the first loads the script
    marker = Redis.from_url(own_redis.url)
    marker.ping()  # connected (HELLO) before the watch begins
    with Redis.from_url(own_redis.url).monitor() as monitor:
        answers = [evaluate(client, key) for _ in range(5)]
        marker.echo("end of the requests")
        sent, in_script = [], []
        while True:
            command = monitor.next_command()
            if "end of the requests" in command["command"]:
                break
            (in_script if command["client_type"] == "lua" else sent).append(command["command"].split()[0].upper())
    assert [a.status_code for a in answers] == [200] * 5
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["98", "97", "96", "95", "94"]
    assert sent == ["EVALSHA"] * 5
    assert in_script == ["INCRBY", "TTL"] * 5  # EXPIRE only when a window opens


def test_every_process_shares_one_count(make_app, redis_server, tmp_path):
    """Another process (a second gunicorn worker, or host) on the same database and Redis
    counts into the same window: its calls leave this one fewer."""
    app, key = limited_app(make_app, "5 per minute")
    other = tmp_path / "other_process.py"
    other.write_text(
        "import json, sys\n"
        "from desk import create_app\n"
        "app = create_app(json.loads(sys.argv[1]))\n"
        "client = app.test_client()\n"
        "statuses = [client.post('/api/v1/claims/evaluate', json=json.loads(sys.argv[3]),\n"
        "                        headers={'Authorization': 'Bearer ' + sys.argv[2]}).status_code for _ in range(3)]\n"
        "print(json.dumps(statuses))\n")
    config = {k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "REDIS_URL", "RATELIMIT_API")}
    config.update(RATELIMIT_ENABLED=True, INSTANCE_PATH=str(tmp_path / "other"))
    done = subprocess.run([sys.executable, str(other), json.dumps(config), key, json.dumps(CLAIM)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [200, 200, 200]
    client = app.test_client()
    first = evaluate(client, key)
    assert first.status_code == 200 and first.headers["X-RateLimit-Remaining"] == "1"
    assert evaluate(client, key).status_code == 200
    assert evaluate(client, key).status_code == 429


def test_redis_away_counts_in_memory_and_back_counts_in_redis_again(make_app, own_redis):
    app, key = limited_app(make_app, "50 per minute", REDIS_URL=own_redis.url)
    client = app.test_client()
    assert evaluate(client, key).headers["X-RateLimit-Remaining"] == "49"
    own_redis.stop()
    away = [evaluate(client, key) for _ in range(3)]
    # As before the one-trip limiter: answered, never a 500, with headers from the memory count.
    assert [a.status_code for a in away] == [200] * 3
    assert all(int(a.headers["X-RateLimit-Remaining"]) < 50 for a in away)
    own_redis.start()  # empty, and without the script: it is loaded again on first use
    time.sleep(2.2)  # Flask-Limiter looks for its storage again after 1, 2, 4 … s
    back = evaluate(client, key)
    assert back.status_code == 200
    assert list(counted(own_redis.url).values()) == [1]
    assert back.headers["X-RateLimit-Remaining"] == "49"
