"""The app factory, settings, migrations and the embedded Redis."""
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from desk import create_app
from desk.extensions import db

ROOT = Path(__file__).resolve().parent.parent


def test_importing_the_package_opens_no_connections():
    """No work at import time: importing every module must not touch a database or Redis."""
    code = (
        "import socket, sqlite3\n"
        "def refuse(*a, **k): raise SystemExit('connection opened at import time')\n"
        "socket.socket.connect = refuse\n"
        "sqlite3.connect = refuse\n"
        "import desk, desk.jobs, desk.cli, desk.api.tickets, desk.api.claims, desk.api.mirror, desk.tickets.views, desk.tickets.public,"
        " desk.admin.views, desk.auth.views, workers.tickets, workers.outbox\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_secret_key_is_generated_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = create_app({"INSTANCE_PATH": str(tmp_path)}).config["SECRET_KEY"]
    second = create_app({"INSTANCE_PATH": str(tmp_path)}).config["SECRET_KEY"]
    assert first == second and len(first) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # readable by the owner only


def test_settings_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db.example:5432/desk")
    monkeypatch.setenv("REDIS_URL", "redis://cache.example:6379/0")
    monkeypatch.setenv("SECRET_KEY", "from-env")
    monkeypatch.setenv("MAIL_SERVER", "smtp.example")
    config = create_app({"INSTANCE_PATH": str(tmp_path)}).config
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example:5432/desk"
    assert config["REDIS_URL"] == "redis://cache.example:6379/0"
    assert config["SECRET_KEY"] == "from-env"
    assert config["MAIL_SERVER"] == "smtp.example"


def test_mail_without_a_relay_is_shown_in_the_log(tmp_path, monkeypatch, caplog):
    """The embedded default writes mail to the log (README): the desk's INFO lines pass its
    logger (Flask's app.logger, which writes to stderr), so a privacy requester's code can
    be read there."""
    import logging

    monkeypatch.delenv("MAIL_SERVER", raising=False)
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.logger.getEffectiveLevel() == logging.INFO
    caplog.set_level(logging.NOTSET)  # the capture takes what the desk's own level lets through
    logging.getLogger("desk.mail.outbound").info("mail (not sent: MAIL_SERVER unset) code 123456")
    logging.getLogger("desk.mail.outbound").debug("not shown at INFO")
    assert [r.getMessage() for r in caplog.records if r.name.startswith("desk")] == [
        "mail (not sent: MAIL_SERVER unset) code 123456"]
    monkeypatch.setenv("LOG_LEVEL", "loud")
    with pytest.raises(ValueError, match="LOG_LEVEL must be one of"):
        create_app({"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'desk.sqlite'}"
    assert app.config["REDIS_URL"] is None


def test_sqlite_enforces_foreign_keys(app, backend):
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        try:
            db.session.execute(text("INSERT INTO ticket_tags (ticket_id, tag) VALUES (424242, 'x')"))
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
        else:
            raise AssertionError(f"{backend}: a tag for a missing ticket was accepted")


# SQLite cannot reflect an index on an expression (lower(email)): Alembic skips comparing it
# there and says so; PostgreSQL compares it.
@pytest.mark.filterwarnings("ignore:.*expression-based index:UserWarning")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_migrations_match_the_models(app, backend):
    """The migrations (applied by the fixtures on this backend) produce exactly the models' schema.
    The search index's tables (migration 0011: a tsvector table, or FTS5's) have no model;
    desk.tickets.search.include_name leaves them, and only them, out, as for autogenerate."""
    from desk.tickets.search import include_name

    with app.app_context():
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name})
            diff = compare_metadata(context, db.metadata)
    assert diff == [], f"{backend}: models and migrations differ: {diff}"


def test_embedded_redis_serves_rq(tmp_path):
    """With REDIS_URL unset the desk starts the Redis bundled with the package."""
    from desk import jobs

    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "t", "REDIS_URL": None,
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite'}"})
    conn = jobs.get_redis(app)
    try:
        assert conn.ping()
        queue = jobs.queue_for("default", app)
        queue.enqueue("workers.outbox.relay_outbox")
        assert queue.count == 1
        assert str(tmp_path) in app.config["EMBEDDED_REDIS_PATH"]
    finally:
        conn.shutdown()


def test_the_bundled_redis_socket_counts_rate_limits_too(make_app):
    # `scripts/run` hands the worker and web processes REDIS_URL=unix://… (the bundled Redis);
    # the rate limiter's storage library spells that scheme redis+unix://, and refused the
    # plain one at start, so the desk did not come up.
    app = make_app(REDIS_URL="unix:///tmp/desk-bundled-redis.socket")
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis+unix:///tmp/desk-bundled-redis.socket"
