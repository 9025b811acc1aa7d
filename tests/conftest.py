"""Fixtures in the flaskr style: an app per test with its own database, on SQLite and on
PostgreSQL (127.0.0.1:5432), and the machine's real Redis (127.0.0.1:6379).

A missing service fails the run with a clear message; nothing is skipped."""
import glob
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from redis import Redis
from sqlalchemy import text

from desk import create_app
from desk.audit.services import Actor
from desk.extensions import db

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
# One database per test session, so two runs on one machine never share tables.
PG_TEST_DB = f"desk_test_{os.getpid()}"
PG_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_TEST_DB}"
REDIS_HOST = "redis://127.0.0.1:6379"
LOCK_KEY = "desk-test:session"
BACKENDS = ("sqlite", "postgresql")


def pytest_addoption(parser):
    parser.addoption("--db", default="all", choices=("all",) + BACKENDS,
                     help="which database backends the app fixture runs on")


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--db")
        backends = BACKENDS if choice == "all" else (choice,)
        if metafunc.definition.get_closest_marker("postgresql_only"):
            # What only PostgreSQL has (advisory locks): the test runs there, not skipped elsewhere.
            backends = tuple(b for b in backends if b == "postgresql")
        if metafunc.definition.get_closest_marker("sqlite_only"):
            # The pages' markup does not depend on the database: the cheaper backend is enough.
            backends = tuple(b for b in backends if b == "sqlite")
        metafunc.parametrize("backend", backends)


def _migrate(app):
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        db.engine.dispose()  # closing the last connection checkpoints SQLite's WAL into the file


@pytest.fixture(scope="session")
def redis_server():
    """A Redis database (1-15) of this session's own: each test flushes it, so a
    concurrent run must not be using it. A lock key claims it for the session."""
    try:
        Redis.from_url(f"{REDIS_HOST}/0", socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means the suite cannot run
        pytest.fail(f"Redis is not reachable at {REDIS_HOST} ({exc}). Start it (scripts/test does) and run again.",
                    pytrace=False)
    for number in range(1, 16):
        conn = Redis.from_url(f"{REDIS_HOST}/{number}")
        if conn.set(LOCK_KEY, os.getpid(), nx=True, ex=6 * 3600):
            break
    else:
        pytest.fail("every Redis database 1-15 is claimed by another test run", pytrace=False)
    conn.url = f"{REDIS_HOST}/{number}"
    yield conn
    conn.flushdb()  # the lock key goes with it


def fresh_redis(redis_server) -> None:
    """Empty the session's Redis database (what earlier tests left: their jobs are named
    outbox-<id> too), keeping the session's claim on it."""
    redis_server.flushdb()
    redis_server.set(LOCK_KEY, os.getpid(), ex=6 * 3600)


@pytest.fixture(scope="session")
def pg_database(tmp_path_factory):
    def admin(sql):
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql)

    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'desk_test_%'")]
        for name in names:  # left behind by runs that were killed
            pid = name.rsplit("_", 1)[1]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}"')
        admin(f'CREATE DATABASE "{PG_TEST_DB}"')
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({exc}). Start it (scripts/test does) "
                    "and run again.", pytrace=False)
    _migrate(create_app({"SQLALCHEMY_DATABASE_URI": PG_URL, "SECRET_KEY": "t",
                         "INSTANCE_PATH": str(tmp_path_factory.mktemp("pg-instance"))}))
    yield PG_URL
    admin(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """The migrations applied once; each test gets a copy of the result."""
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.sqlite"
    _migrate(create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "t",
                         "INSTANCE_PATH": str(folder)}))
    return path


def _truncate_pg(app):
    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            # Replica mode skips the triggers that keep audit_events append-only.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            conn.execute(text("INSERT INTO audit_head (id, last_hash) VALUES (1, :h)"), {"h": "0" * 64})
            # Ticket references come from sequences a TRUNCATE does not touch: each test
            # starts at T-YY-000001 again, as on a fresh database.
            for (name,) in conn.execute(text("SELECT sequencename FROM pg_sequences "
                                             "WHERE sequencename LIKE 'ticket\\_reference\\_%'")):
                conn.execute(text(f"ALTER SEQUENCE {name} RESTART WITH 1"))


@pytest.fixture
def make_app(request, tmp_path, redis_server, backend):
    """Build an app on the test's backend; extra settings override the defaults."""
    if backend == "postgresql":
        db_url = request.getfixturevalue("pg_database")
    else:
        template = request.getfixturevalue("sqlite_template")
        target = tmp_path / "desk.sqlite"
        shutil.copy(template, target)
        db_url = f"sqlite:///{target}"
    built = []

    def factory(**overrides):
        config = {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SQLALCHEMY_DATABASE_URI": db_url,
            "REDIS_URL": redis_server.url,
            "ATTACHMENT_DIR": str(tmp_path / "attachments"),
            "RATELIMIT_ENABLED": False,
            "PUBLIC_URL": "http://desk.test",
            "QUEUE_COUNTS_TTL": 0,  # tests look at counts right after changing tickets
            "TAG_SUGGESTIONS_TTL": 0,
        }
        config.update(overrides)
        app = create_app(config)
        if backend == "postgresql" and not built:
            _truncate_pg(app)
        built.append(app)
        return app

    fresh_redis(redis_server)
    yield factory
    close_apps(built)


def close_apps(apps):
    """Give back the database connections and the Redis connection of apps a test built."""
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        conn = app.extensions.get("desk_redis")
        if conn is not None:
            conn.close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def file_ticket(app, **fields) -> str:
    """File a ticket through the service as the system, the way mail intake and imports do
    (and the only way for kinds with no public route yet). Returns its reference."""
    from desk.audit.services import SYSTEM
    from desk.tickets.services import NewTicket, create_ticket

    data = {"subject": "Order 1001 not delivered", "body": "Nothing arrived yet.",
            "requester_email": "alice@example.com", "requester_name": "Alice"}
    data.update(fields)
    with app.app_context():
        ticket, _ = create_ticket(NewTicket(**data), SYSTEM)
        return ticket.reference


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1) or match.group(2)


def post_form(client, page_url, data, post_url=None, **kwargs):
    """Fetch the page (as a browser would), then post the form with its CSRF token."""
    page = client.get(page_url)
    assert page.status_code == 200, page.status_code
    payload = {"csrf_token": csrf_from(page.get_data(as_text=True)), **data}
    return client.post(post_url or page_url, data=payload, **kwargs)


def text_of(response) -> str:
    return response.get_data(as_text=True)


def get_ok(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return text_of(response)


def alert(page: str) -> str:
    """The page's error message (the flash shown above a form), or ''."""
    match = re.search(r'<div class="flash error" role="alert">(.*?)</div>', page, re.S)
    return match.group(1) if match else ""


def field_error(page: str, name: str) -> str:
    """The error shown under a form field, or ''."""
    match = re.search(rf'<small class="error" id="{name}-error">(.*?)</small>', page, re.S)
    return match.group(1) if match else ""


def redirects_to(response, path: str) -> bool:
    from urllib.parse import urlparse

    return response.status_code == 302 and urlparse(response.headers["Location"]).path == path


class Auth:
    def __init__(self, app, client):
        self.app = app
        self.client = client

    def staff(self, role="agent", email=None, password="correct horse battery staple"):
        from desk.auth.services import create_staff, find_staff

        email = email or f"{role}@desk.test"
        with self.app.app_context():
            existing = find_staff(email)
            staff_id = existing.id if existing else create_staff(email, role, password, Actor("system")).id
        return staff_id

    def login(self, role="agent", email=None, password="correct horse battery staple"):
        email = email or f"{role}@desk.test"
        self.staff(role, email, password)
        response = post_form(self.client, "/login", {"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response

    def client_for(self, role="agent", email=None, password="correct horse battery staple"):
        """A browser of its own, signed in as this staff member (created if new)."""
        client = self.app.test_client()
        email = email or f"{role}@desk.test"
        self.staff(role, email, password)
        response = post_form(client, "/login", {"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    def logout(self):
        page = self.client.get("/queue")
        return self.client.post("/logout", data={"csrf_token": csrf_from(page.get_data(as_text=True))})


@pytest.fixture
def auth(app, client):
    return Auth(app, client)


@pytest.fixture
def api_key(app):
    """api_key("panel") -> the bearer key string."""
    from desk.auth.services import create_api_key

    def make(role="panel", name=None):
        with app.app_context():
            _, key = create_api_key(name or f"{role} key", role, Actor("system"))
        return key

    return make


@pytest.fixture
def make_ticket(app):
    from desk.tickets.services import NewTicket, create_ticket

    def make(**fields):
        data = {"subject": "Order 1001 not delivered", "body": "Nothing arrived yet.",
                "requester_email": "alice@example.com", "requester_name": "Alice"}
        data.update(fields)
        with app.app_context():
            ticket, _ = create_ticket(NewTicket(**data), Actor("system"))
            return ticket.reference

    return make


@pytest.fixture
def run_worker(app):
    """Run a real RQ worker (SimpleWorker, burst) over the app's queues."""
    from desk.jobs import make_worker

    def run(target_app=None):
        target = target_app or app
        worker = make_worker(target, simple=True)
        worker.work(burst=True, with_scheduler=False)
        return worker

    return run


def stored(app, key: str) -> bytes | None:
    """The bytes the app's storage (local or S3) holds under a key, or None."""
    from desk.storage import Missing, get_storage

    try:
        with get_storage(app).open(key) as fh:
            return fh.read()
    except Missing:
        return None


def stored_keys(app, prefix: str) -> list[str]:
    """The keys under a prefix ("exports/", "attachments/", "quarantine/"), half-written files included."""
    from desk.storage import get_storage

    return get_storage(app).keys(prefix)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisProcess:
    """A redis-server of the test's own on a spare loopback port, to stop and start at will."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed; the fault tests need it"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if Redis(port=self.port, socket_connect_timeout=0.2).ping():
                    return
            except Exception:  # noqa: BLE001 - still starting
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail(f"PostgreSQL's {name} is not installed (Debian: apt-get install postgresql)", pytrace=False)
    return found[-1]


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (initdb in a temporary folder, its own port
    and socket), to stop and start while the app runs. initdb refuses to run as root, so
    as root the cluster belongs to the `postgres` OS user and is driven through runuser."""

    def __init__(self, workdir: Path):
        self.dir = workdir / "pgdata"
        self.log = workdir / "postgres.log"
        self.port = free_port()
        self.workdir = workdir
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(workdir, "postgres")

    def run(self, *args, check=True):
        return subprocess.run([*self.as_user, *args], check=check, capture_output=True, text=True, timeout=60)

    def init(self):
        self.run(pg_bin("initdb"), "-D", str(self.dir), "-U", "postgres", "--auth=trust", "--no-sync")

    def pg_ctl(self, action: str, *extra):
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        result = self.run(pg_bin("pg_ctl"), "-D", str(self.dir), "-o", options, "-l", str(self.log), "-w",
                          action, *extra, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl {action} failed: {result.stdout}{result.stderr}\n{self.log_text()}")

    def start(self):
        self.pg_ctl("start")

    def stop(self):
        self.pg_ctl("stop", "-m", "fast")

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"

    def standby_of(self, primary: "PrivatePostgres"):
        """Make this cluster a streaming replica of `primary` (pg_basebackup -R: a copy of its
        data folder, told to follow it), to start afterwards."""
        self.run(pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                 "-D", str(self.dir), "-R", "-X", "stream", "--no-sync")

    def url(self, database="postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def s3_server():
    """An S3-compatible server on a loopback port (moto's, in a thread of this process):
    boto3 talks to it over HTTP as it would to any object store."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_settings(s3_server):
    """The settings of an app on a bucket of the test's own (created here, as an operator would)."""
    import uuid

    import boto3

    settings = {"STORAGE_BACKEND": "s3", "S3_BUCKET": f"desk-test-{uuid.uuid4().hex[:16]}",
                "S3_ENDPOINT_URL": s3_server, "S3_REGION": "us-east-1", "S3_ACCESS_KEY_ID": "test-key",
                "S3_SECRET_ACCESS_KEY": "test-secret", "S3_PREFIX": "desk/"}
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id="test-key",
                 aws_secret_access_key="test-secret").create_bucket(Bucket=settings["S3_BUCKET"])
    return settings


# The EICAR anti-virus test file, put together here so that no file of the repository holds
# it whole (a scanner on a developer's machine would flag that file).
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS" + b"-TEST-FILE!$H+H*"
EICAR_SIGNATURE = "Desk.Test.EICAR.UNOFFICIAL"  # clamd's name for our own signature below
CLAMD_STREAM_MAX = 1024 * 1024


class ClamdProcess:
    """A clamd of the test session's own: a generated config, a unix socket and a TCP port
    on loopback, and a signature database of one line (an MD5 hash signature of EICAR)."""

    def __init__(self, workdir: Path):
        binary = shutil.which("clamd") or ("/usr/sbin/clamd" if os.path.exists("/usr/sbin/clamd") else None)
        if binary is None:
            pytest.fail("clamd is not installed (Debian: apt-get install clamav-daemon; scripts/test installs it)",
                        pytrace=False)
        self.binary, self.workdir = binary, workdir
        self.socket = str(workdir / "clamd.sock")
        self.port = free_port()
        self.log = workdir / "clamd.log"
        database = workdir / "db"
        database.mkdir()
        import hashlib

        (database / "desk-test.hdb").write_text(f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:Desk.Test.EICAR\n")
        self.config = workdir / "clamd.conf"
        self.config.write_text("\n".join([
            f"LocalSocket {self.socket}", "TCPAddr 127.0.0.1", f"TCPSocket {self.port}",
            f"DatabaseDirectory {database}", f"TemporaryDirectory {workdir}", f"LogFile {self.log}",
            f"PidFile {workdir / 'clamd.pid'}", "Foreground yes", f"StreamMaxLength {CLAMD_STREAM_MAX}", ""]))
        self.proc = None

    def start(self):
        from desk.clamd import Clamd, ClamdError

        self.proc = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if Clamd(socket_path=self.socket, timeout=2).ping():  # PING → PONG
                    return
            except ClamdError:
                time.sleep(0.1)
        log = self.log.read_text() if self.log.exists() else "(no log)"
        self.stop()
        pytest.fail(f"clamd did not answer PING within 60 s:\n{log[-2000:]}", pytrace=False)

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@pytest.fixture(scope="session")
def clamd_server(tmp_path_factory):
    server = ClamdProcess(tmp_path_factory.mktemp("clamd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path):
    server = RedisProcess(tmp_path)
    server.start()
    yield server
    server.stop()


def iso(moment) -> str:
    from datetime import timezone

    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def ledger_entry(entry_id, kind, amount, customer="alice", at=None, **extra) -> dict:
    """One ledger entry as the panel sends it (DESIGN §6)."""
    from desk.types import utcnow

    return {"id": entry_id, "customer": customer, "kind": kind, "amount": amount, "at": iso(at or utcnow()), **extra}


class PanelFeed:
    """The panel's side of the API: customers, orders and ledger entries, pushed as the
    panel pushes them, with a panel key."""

    def __init__(self, client, key):
        self.client, self.key = client, key
        self.headers = {"Authorization": f"Bearer {key}"}

    def put_customer(self, panel_id="alice", **fields):
        from desk.types import utcnow

        body = {"login": panel_id, "email": f"{panel_id}@{panel_id}-shop.example", "email_verified": True,
                "status": "active", "last_login_at": iso(utcnow())}
        body.update(fields)
        return self.client.put(f"/api/v1/customers/{panel_id}", json=body, headers=self.headers)

    def customer(self, panel_id="alice", **fields):
        response = self.put_customer(panel_id, **fields)
        assert response.status_code in (200, 201), response.get_json()
        return response.get_json()

    def order(self, panel_id, customer="alice", **fields):
        from datetime import timedelta

        from desk.types import utcnow

        now = utcnow()
        body = {"customer": customer, "link": f"https://www.instagram.com/p/P{panel_id}/", "quantity": 1000,
                "charge": "10.00", "charge_deposited": "10.00", "charge_promo": "0.00", "start_count": 100,
                "remains": 0, "status": "completed", "created_at": iso(now - timedelta(hours=5)),
                "status_changed_at": iso(now - timedelta(hours=1)), "tool": {"id": "1", "name": "Likes"}}
        body.update(fields)
        response = self.client.put(f"/api/v1/orders/{panel_id}", json=body, headers=self.headers)
        assert response.status_code in (200, 201), response.get_json()
        return response.get_json()

    def post_ledger(self, *entries):
        return self.client.post("/api/v1/ledger", json={"entries": list(entries)}, headers=self.headers)

    def ledger(self, *entries):
        response = self.post_ledger(*entries)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def post(self, path, body):
        return self.client.post(f"/api/v1{path}", json=body, headers=self.headers)

    def get(self, path):
        return self.client.get(f"/api/v1{path}", headers=self.headers)


@pytest.fixture
def panel(client, api_key):
    return PanelFeed(client, api_key("panel"))


# One browser for the whole session, in conftest so every browser suite (test_browser,
# test_a11y) shares it: Playwright's sync API refuses a second instance while one runs.
@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("Chromium is not installed (Debian: apt-get install chromium); scripts/test installs it.",
                    pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        yield browser
        browser.close()
