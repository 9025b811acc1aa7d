"""A read replica (issue 11, "beyond one machine"): with DATABASE_REPLICA_URL set, search,
the dashboard and the shared counts read a streaming replica, and everything else — every
write, the ticket page — the primary.

The replica is a real one: a private PostgreSQL cluster made a standby of another private
cluster with pg_basebackup, following it by streaming replication. Pausing its replay
(pg_wal_replay_pause) holds it behind the primary, which is how the tests see who answered:
a ticket filed while the replica is paused is on its page at once, and in search and the
dashboard only once the replica has caught up."""
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from conftest import Auth, PrivatePostgres, _migrate, close_apps, text_of
from desk import create_app
from desk.config import settings_from_environment


@pytest.fixture(scope="module")
def clusters():
    """A primary and its streaming replica, clusters of this module's own."""
    folders = [Path(tempfile.mkdtemp(prefix=f"desk-replica-{name}-")) for name in ("primary", "standby")]
    primary, standby = PrivatePostgres(folders[0]), PrivatePostgres(folders[1])
    try:
        primary.init()
        primary.start()
        standby.standby_of(primary)
        standby.start()
        yield primary, standby
    finally:
        for server in (standby, primary):
            try:
                server.stop()
            except RuntimeError:
                pass  # never started, or stopped by a test that failed half-way
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


def sql(server: PrivatePostgres, query: str, database="postgres"):
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{server.port}/{database}", autocommit=True) as conn:
        return conn.execute(query).fetchone()


def caught_up(primary, standby, timeout=30.0):
    """Wait until the replica has replayed everything the primary has written so far."""
    target = sql(primary, "SELECT pg_current_wal_lsn()")[0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sql(standby, f"SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '{target}') >= 0")[0]:
            return
        time.sleep(0.05)
    raise AssertionError(f"the replica did not reach {target} within {timeout} s")


@pytest.fixture
def replicated_app(clusters, redis_server, tmp_path):
    primary, standby = clusters
    name = f"desk_replica_{uuid.uuid4().hex[:8]}"
    primary.create_database(name)
    redis_server.flushdb()
    app = create_app({
        "TESTING": True, "SECRET_KEY": "test-secret", "INSTANCE_PATH": str(tmp_path / "instance"),
        "SQLALCHEMY_DATABASE_URI": primary.url(name), "SQLALCHEMY_BINDS": {"replica": standby.url(name)},
        "REDIS_URL": redis_server.url, "ATTACHMENT_DIR": str(tmp_path / "attachments"), "RATELIMIT_ENABLED": False,
        "PUBLIC_URL": "http://desk.test", "QUEUE_COUNTS_TTL": 0, "DASHBOARD_TTL": 0, "VIEW_COUNTS_TTL": 0,
    })
    _migrate(app)
    caught_up(primary, standby)
    yield app, primary, standby
    close_apps([app])


def file_ticket(client, key, subject) -> str:
    answer = client.post("/api/v1/tickets", headers={"Authorization": f"Bearer {key}"}, json={
        "subject": subject, "body": f"{subject}: please look at my order.",
        "requester": {"email": "ada@example.com", "name": "Ada"}})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["reference"]


def api_key(app, role):
    from desk.audit.services import Actor
    from desk.auth.services import create_api_key

    with app.app_context():
        return create_api_key(f"{role} key", role, Actor("system"))[1]


def support_open(dashboard: str) -> int:
    """The dashboard's count of new Support tickets (its first status column)."""
    row = re.search(r'queue=support">Support</a></th>\s*<td class="num">(\d+)</td>', dashboard)
    assert row, dashboard[:2000]
    return int(row.group(1))


def test_search_and_the_dashboard_read_the_replica_and_the_ticket_page_the_primary(replicated_app):
    app, primary, standby = replicated_app
    client = app.test_client()
    panel, staff_key = api_key(app, "panel"), api_key(app, "staff")
    Auth(app, client).login("admin")
    first = file_ticket(client, panel, "Harbour lantern")
    caught_up(primary, standby)
    assert first in text_of(client.get("/queue?q=lantern"))
    assert support_open(text_of(client.get("/dashboard"))) == 1

    sql(standby, "SELECT pg_wal_replay_pause()")
    try:
        second = file_ticket(client, panel, "Harbour compass")
        # The primary has it: its page, and the plain queue (not a search) show it at once.
        assert "Harbour compass" in text_of(client.get(f"/tickets/{second}"))
        assert second in text_of(client.get("/queue"))
        # The replica does not yet: search and the dashboard answer from it.
        page = client.get("/queue?q=compass")
        assert page.status_code == 200 and second not in text_of(page)
        found = client.get("/api/v1/search/tickets?q=compass", headers={"Authorization": f"Bearer {staff_key}"})
        assert found.status_code == 200 and found.get_json()["results"] == []
        assert support_open(text_of(client.get("/dashboard"))) == 1
    finally:
        sql(standby, "SELECT pg_wal_replay_resume()")
    caught_up(primary, standby)
    assert second in text_of(client.get("/queue?q=compass"))
    found = client.get("/api/v1/search/tickets?q=compass", headers={"Authorization": f"Bearer {staff_key}"})
    assert [hit["reference"] for hit in found.get_json()["results"]] == [second]
    assert support_open(text_of(client.get("/dashboard"))) == 2


def test_with_the_replica_down_search_and_the_dashboard_read_the_primary(replicated_app, caplog):
    app, primary, standby = replicated_app
    client = app.test_client()
    panel = api_key(app, "panel")
    Auth(app, client).login("admin")
    standby.stop()
    try:
        reference = file_ticket(client, panel, "Harbour anchor")  # intake writes to the primary
        page = client.get(f"/tickets/{reference}")  # its sidebar counts came from the replica
        assert page.status_code == 200 and "Harbour anchor" in text_of(page)
        page = client.get("/queue?q=anchor")
        assert page.status_code == 200 and reference in text_of(page)
        assert support_open(text_of(client.get("/dashboard"))) == 1
        assert "read replica unavailable, reading the primary" in caplog.text
    finally:
        standby.start()
    caught_up(primary, standby)
    caplog.clear()
    assert reference in text_of(client.get("/queue?q=anchor"))
    assert "read replica unavailable" not in caplog.text


def test_the_replica_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://desk@db-primary/desk")
    monkeypatch.delenv("DATABASE_REPLICA_URL", raising=False)
    assert settings_from_environment(str(tmp_path))["SQLALCHEMY_BINDS"] == {}
    monkeypatch.setenv("DATABASE_REPLICA_URL", "postgresql://desk@db-replica/desk")
    settings = settings_from_environment(str(tmp_path))
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://desk@db-primary/desk"
    assert settings["SQLALCHEMY_BINDS"] == {"replica": "postgresql+psycopg://desk@db-replica/desk"}
