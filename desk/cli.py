"""`flask desk ...`: the desk's command line."""
import os
import secrets
import signal
import subprocess
import sys
import time

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from desk import jobs
from desk.audit.services import Actor, verify_chain
from desk.auth import services as auth_services
from desk.auth.roles import API_KEY_ROLES, ROLES
from desk.claims.models import Customer
from desk.errors import DeskError, ValidationError
from desk.extensions import db

desk_cli = AppGroup("desk", help="Run and administer the desk.")
CLI_ACTOR = Actor("system", None, "command line")


def _fail(exc: DeskError):
    db.session.rollback()
    raise click.ClickException(exc.message)


@desk_cli.command("create-staff")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", default="")
@click.option("--password", help="Initial password (at least 12 characters); generated and printed if omitted.")
def create_staff(email, role, name, password):
    """Create a staff account."""
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        staff = auth_services.create_staff(email, role, password, CLI_ACTOR, name=name)
    except DeskError as exc:
        _fail(exc)
    click.echo(f"Created {staff.role} {staff.email}")
    if generated:
        click.echo(f"Password: {password}")


api_key_cli = AppGroup("api-key", help="Create, list and revoke API keys.")
desk_cli.add_command(api_key_cli)


@api_key_cli.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(API_KEY_ROLES), required=True)
@click.option("--staff", "staff_email", default=None,
              help="A staff key's person: it then works within their queues and scope.")
def api_key_create(name, role, staff_email):
    """Create an API key; the key is printed once, on the last line."""
    try:
        person = auth_services.find_staff(staff_email) if staff_email else None
        if staff_email and person is None:
            raise ValidationError(f"No staff member {staff_email}.", {"staff": "unknown"})
        api_key, key = auth_services.create_api_key(name, role, CLI_ACTOR, staff=person)
    except DeskError as exc:
        _fail(exc)
    click.echo(f"Created {role} key {api_key.name!r} (id {api_key.id}). It is shown once; only its hash is kept:")
    click.echo(key)


@api_key_cli.command("list")
def api_key_list():
    from desk.auth.models import ApiKey

    for key in db.session.execute(select(ApiKey).order_by(ApiKey.id)).scalars():
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        click.echo(f"{key.id}\t{key.prefix}…\t{key.role}\t{state}\tlast used {used}\t{key.name}")


@api_key_cli.command("revoke")
@click.argument("key_id", type=int)
def api_key_revoke(key_id):
    from desk.auth.models import ApiKey

    api_key = db.session.get(ApiKey, key_id)
    if api_key is None:
        raise click.ClickException(f"No API key with id {key_id}.")
    auth_services.revoke_api_key(api_key, CLI_ACTOR)
    click.echo(f"Revoked {api_key.name}.")


@desk_cli.command("seed-demo")
@click.option("--tickets", default=300, show_default=True)
@click.option("--seed", default=7, show_default=True, help="Random seed, for the same demo every time.")
def seed_demo(tickets, seed):
    """Fill the desk with realistic customers, orders and tickets to look at."""
    from desk.demo import seed as seed_demo_data  # not `seed`: that name is the --seed option

    with click.progressbar(length=tickets, label="Seeding demo tickets") as bar:
        seed_demo_data(tickets, seed, progress=bar.update)
    click.echo(f"Seeded {tickets} tickets, plus 40 claims filed through the claims engine and money requests "
               "at each step of their flow (refunds, a withdrawal, a closure, a restoration, a chargeback case), "
               "a request for more accounts, and abuse and rights-holder cases.")


@desk_cli.command("import-orders")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(("csv", "jsonl")),
              help="By default from FILE's extension (.csv, .jsonl, .ndjson); required when FILE is - (stdin).")
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(min=1), help="Rows per commit.")
def import_orders_command(file, fmt, batch):
    """Import the panel's order export (CSV with a header row, or JSON Lines) into the order
    mirror, as PUT /api/v1/orders/<id> would. Bad rows are listed by line and skipped; the
    exit code is 1 when there were any."""
    from desk.claims import importer

    if fmt is None:
        if file == "-":
            raise click.UsageError("Reading stdin needs --format csv or --format jsonl.")
        fmt = importer.format_for(file)
        if fmt is None:
            raise click.UsageError(f"Cannot tell the format of {file!r} from its extension (.csv, .jsonl, "
                                   ".ndjson); pass --format csv or --format jsonl.")
    try:
        if file == "-":
            summary = importer.import_orders(getattr(sys.stdin, "buffer", sys.stdin), fmt, CLI_ACTOR, batch)
        else:
            with open(file, "rb") as fh, click.progressbar(length=os.path.getsize(file), label="Importing orders",
                                                          file=sys.stderr) as bar:
                summary = importer.import_orders(fh, fmt, CLI_ACTOR, batch, progress=bar.update)
    except importer.ImportFileError as exc:
        raise click.ClickException(str(exc))
    except OSError as exc:
        raise click.ClickException(f"Cannot read {file}: {exc.strerror or exc}.")
    for line in summary.report_lines():
        click.echo(line, err=True)
    click.echo(summary.text)
    if summary.bad:
        sys.exit(1)


@desk_cli.command("panel-refresh")
def panel_refresh():
    """Refresh from the panel (API v2) the status of every order an open ticket is about,
    100 per call, as the schedule does every 10 minutes. The exit code is 1 when the run
    failed or some orders could not be refreshed."""
    from desk import panel
    from desk.panel import refresh
    from desk.panel.client import OFF

    if not panel.enabled():
        raise click.ClickException(OFF)
    row = refresh.start("cli")
    db.session.commit()
    with click.progressbar(length=1, label="Refreshing order statuses", file=sys.stderr) as bar:
        def progress(done, total):
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        row = refresh.run(row.id, progress)
    if row.message:
        click.echo(row.message, err=True)
    click.echo(f"Refresh {row.id} {row.status}: {row.done} of {row.total} order(s) in {row.calls} call(s); "
               f"{row.changed} changed, {row.unchanged} unchanged, {row.errors} not refreshed.")
    if row.status != "finished" or row.errors:
        sys.exit(1)


@desk_cli.command("relay-outbox")
def relay_outbox():
    """Hand pending outbox jobs to Redis (after an outage), and again those it lost."""
    jobs.requeue_lost(limit=100_000)
    sent = jobs.relay(limit=100_000)
    from desk.jobs import OutboxEntry

    left = db.session.execute(select(func.count()).select_from(OutboxEntry).where(OutboxEntry.status == "pending")).scalar()
    click.echo(f"Relayed {sent} job(s); {left} still pending.")
    if left:
        sys.exit(1)


@desk_cli.command("scan-attachments")
def scan_attachments():
    """Queue a virus scan of every attachment not scanned yet (stored before CLAMD_SOCKET or
    CLAMD_HOST was set) or whose scan failed; one job per file."""
    from desk.clamd import Clamd
    from desk.tickets import scans

    if Clamd.from_config(current_app.config) is None:
        raise click.ClickException("Scanning is off: set CLAMD_SOCKET or CLAMD_HOST first.")
    click.echo(f"Queued {scans.queue_unscanned()} scan(s).")


@desk_cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--simple", is_flag=True, help="Run jobs in this process instead of forking.")
def worker(burst, simple):
    """Run an RQ worker (with the scheduler) on the high, default and low queues."""
    w = jobs.make_worker(current_app._get_current_object(), simple=simple)
    w.work(burst=burst, with_scheduler=True)


@desk_cli.command("cron")
def cron():
    """Run the periodic schedule (workers/cron.py)."""
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=jobs.get_redis())
    scheduler.load_config_from_file("workers.cron")
    scheduler.start()


@desk_cli.command("sla-sweep")
def sla_sweep():
    """Send due SLA reminders and escalations now (the schedule does this every minute)."""
    from desk.sla.sweep import sweep

    totals = sweep()
    click.echo(f"{totals['reminders']} reminder(s), {totals['breaches']} escalation(s).")


@desk_cli.command("sla-recompute")
def sla_recompute():
    """Work out every running clock's due time again (after support hours or holidays
    changed) and give open tickets filed before clocks existed their clocks."""
    from desk.sla.clocks import recompute

    with click.progressbar(length=1, label="Recomputing due times") as bar:
        def progress(done, total):
            bar.length = total
            bar.update(done - bar.pos)

        done = recompute(progress)
    click.echo(f"{done} ticket(s) recomputed.")


@desk_cli.command("dormancy")
@click.option("--at", "at", help="Run as of this ISO 8601 time (with its zone) instead of now.")
def dormancy_run(at):
    """Send the dormancy notices and apply the freezes and forfeitures due now
    (terms-30-dormancy; the schedule does this daily)."""
    from desk.claims.parse import parse_time
    from desk.money import dormancy

    now = parse_time(at) if at else None
    if at and now is None:
        raise click.BadParameter("an ISO 8601 time with its zone, e.g. 2027-07-01T00:00:00Z", param_hint="--at")
    with click.progressbar(length=1, label="Checking dormant accounts") as bar:
        def progress(done, total):
            bar.length = total
            bar.update(done - bar.pos)

        counts = dormancy.run(now, progress)
    click.echo(f"{counts['checked']} account(s) checked: {counts['freeze_notice']} freeze notice(s), "
               f"{counts['freeze']} freeze(s), {counts['forfeit_notice']} forfeiture notice(s), "
               f"{counts['forfeit']} forfeiture(s).")


@desk_cli.command("audit-verify")
def audit_verify():
    """Check the audit log's hash chain."""
    checked, broken = verify_chain()
    if broken == 0:
        raise click.ClickException(f"Audit chain cut short: {checked} events end before the recorded head hash.")
    if broken is not None:
        raise click.ClickException(f"Audit chain broken at event {broken} (after {checked} good events).")
    click.echo(f"Audit chain intact: {checked} events.")


evidence_cli = AppGroup("evidence", help="Evidence snapshots of abuse cases (aup-5.2-evidence).")
desk_cli.add_command(evidence_cli)


@evidence_cli.command("verify")
@click.argument("case")
def evidence_verify(case):
    """Recompute the snapshots of CASE (its number or ticket reference) and their chain."""
    from desk.abuse import evidence

    found = evidence.find_case(case)
    if found is None:
        raise click.ClickException(f"No abuse case {case}.")
    checked, problems = evidence.verify(found)
    name = f"Case {found.id} ({found.ticket.reference})"
    for key in evidence.orphans(found):
        click.echo(f"NOTE {key} is stored but no snapshot names it (a failed job or deletion left it).", err=True)
    if problems:
        for problem in problems:
            click.echo(f"BROKEN {problem}", err=True)
        raise click.ClickException(f"{name}: the evidence chain is broken ({len(problems)} problem(s) in "
                                   f"{checked} snapshot(s)).")
    click.echo(f"{name}: {checked} snapshot(s), every SHA-256 recomputed, chain intact.")


# sysexits.h, as an MTA's pipe transport reads them: 75 defers (tries again later), other
# failures bounce with what was written to stderr.
EX_DATAERR, EX_NOUSER, EX_TEMPFAIL = 65, 67, 75


@desk_cli.command("ingest-mail")
@click.option("--recipient", "-r", multiple=True,
              help="Envelope recipient (the MTA's ${recipient}); repeatable. Else read from the headers.")
@click.option("--sender", "-f", default=None, help="Envelope sender (the MTA's ${sender}); empty for a bounce.")
def ingest_mail(recipient, sender):
    """Take one RFC 5322 message on stdin, the way an MTA pipes mail in."""
    from sqlalchemy.exc import SQLAlchemyError

    from desk.mail import inbound
    from desk.storage import StorageUnavailable

    unknown = [r for r in recipient if inbound.route_of(r) is None]
    if unknown:
        click.echo(f"5.1.1 no such mailbox here: {', '.join(unknown)}; the desk takes mail for "
                   f"{', '.join(sorted(inbound.mailboxes()))}", err=True)
        sys.exit(EX_NOUSER)
    limit = inbound.max_bytes()
    raw = sys.stdin.buffer.read(limit + 1)  # never more than one byte past the limit
    if len(raw) > limit:
        click.echo(f"5.3.4 {inbound.too_large_text()}", err=True)
        sys.exit(EX_DATAERR)
    try:
        outcome = inbound.ingest(raw, list(recipient), sender)
    except inbound.TooLarge as exc:
        click.echo(f"5.3.4 {exc.message}", err=True)
        sys.exit(EX_DATAERR)
    except (SQLAlchemyError, StorageUnavailable) as exc:
        click.echo(f"4.3.0 the desk cannot store mail just now ({type(exc).__name__}); try again later", err=True)
        sys.exit(EX_TEMPFAIL)
    click.echo(str(outcome))


@desk_cli.command("mail-server")
@click.option("--host", default=None, help="Address to listen on [MAIL_LISTEN_HOST, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [MAIL_LISTEN_PORT, 2424].")
@click.option("--protocol", type=click.Choice(("lmtp", "smtp")), default=None,
              help="LMTP for an MTA's lmtp transport, SMTP for a relay [MAIL_LISTEN_PROTOCOL, lmtp].")
def mail_server(host, port, protocol):
    """Listen for mail from the MTA (LMTP or SMTP) until stopped."""
    from desk.mail import inbound
    from desk.mail.server import DeskController

    config = current_app.config
    host, port = host or config["MAIL_LISTEN_HOST"], port or config["MAIL_LISTEN_PORT"]
    protocol = protocol or config["MAIL_LISTEN_PROTOCOL"]
    controller = DeskController(current_app._get_current_object(), host, port, protocol)
    controller.start()
    click.echo(f"Mail in: {protocol.upper()} on {host}:{port} for {', '.join(sorted(inbound.mailboxes()))}")
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        while not stop:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


MAIL_PORT = 2525  # the embedded run's listener, for trying mail in by hand


@desk_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
def serve(host, port):
    """Run the whole desk locally: migrations, demo data on first start, the bundled
    Redis (when REDIS_URL is unset), a worker, the schedule and the web server."""
    from flask_migrate import upgrade

    from desk.tickets.models import Ticket

    app = current_app._get_current_object()
    upgrade()
    if not db.session.execute(select(Ticket.id).limit(1)).first():
        click.echo("First start: seeding demo data…")
        from desk.demo import seed

        seed(300, 7)
    logins = []
    from desk.demo import PRIVACY_OFFICER, TRUST_SAFETY

    # Abuse and rights-holder cases are for trust & safety alone; a second one approves a
    # forfeiture the first proposes. Privacy requests are the privacy officer's.
    accounts = [("admin@desk.example.com", "admin"), ("agent@desk.example.com", "agent"),
                ("supervisor@desk.example.com", "supervisor")] + [(email, "trust_safety") for email in TRUST_SAFETY] + [
                (PRIVACY_OFFICER, "privacy_officer")]
    for email, role in accounts:
        password = secrets.token_urlsafe(12)
        staff = auth_services.find_staff(email)
        if staff is None:
            auth_services.create_staff(email, role, password, CLI_ACTOR, name=role.replace("_", " ").title())
        else:
            staff.set_password(password)  # a fresh password each start, printed below
            db.session.commit()
        logins.append((email, role, password))

    env = dict(os.environ)
    embedded = None
    if not app.config.get("REDIS_URL"):
        embedded = jobs.get_redis(app)  # starts the bundled redis-server
        env["REDIS_URL"] = f"unix://{embedded.socket_file}"
        click.echo(f"Bundled Redis at {embedded.socket_file}")
    url = f"http://{host}:{port}"
    env.setdefault("PUBLIC_URL", url)
    app.config["PUBLIC_URL"] = env["PUBLIC_URL"]
    flask_cmd = [sys.executable, "-m", "flask", "--app", "desk"]
    children = [
        subprocess.Popen(flask_cmd + ["desk", "worker"], env=env),
        subprocess.Popen(flask_cmd + ["desk", "cron"], env=env),
        subprocess.Popen(flask_cmd + ["desk", "mail-server", "--protocol", "smtp", "--port", str(MAIL_PORT)], env=env),
    ]
    click.echo("\n" + "=" * 60)
    click.echo(f"desk is running at {url}")
    click.echo(f"  staff sign-in: {url}/login")
    for email, role, password in logins:
        click.echo(f"  {role:15} {email}  password: {password}")
    click.echo(f"  public contact form: {url}/contact    abuse report: {url}/report/abuse")
    example = db.session.execute(select(Customer.email).where(Customer.panel_id == "demo-1")).scalar()
    click.echo(f"  customer portal: {url}/portal/sign-in as {example or 'a demo account’s address'} "
               "(the sign-in link is written to this log)")
    click.echo(f"  mail in: SMTP on 127.0.0.1:{MAIL_PORT} (support@, billing@, abuse@, legal@, privacy@)")
    click.echo("=" * 60 + "\n")
    try:
        from werkzeug.serving import run_simple

        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        deadline = time.time() + 10
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                child.kill()
        if embedded is not None:
            embedded.shutdown()


# -- languages (desk.i18n) --------------------------------------------------------------

i18n_cli = AppGroup("i18n", help="Extract, update and compile the translation catalogues.")
desk_cli.add_command(i18n_cli)


def _pybabel(*args: str) -> None:
    from babel.messages.frontend import CommandLineInterface

    CommandLineInterface().run(["pybabel", "-q", *args])


def _catalogue_paths():
    from pathlib import Path

    from desk.i18n import TRANSLATIONS

    root = Path(__file__).resolve().parent.parent
    return root, TRANSLATIONS, TRANSLATIONS / "messages.pot"


@i18n_cli.command("extract")
def i18n_extract():
    """Write desk/translations/messages.pot from the code and templates (babel.cfg)."""
    root, _, pot = _catalogue_paths()
    # N_ marks the policy's sentences (desk/policy/words.py) without translating them there.
    _pybabel("extract", "-F", str(root / "babel.cfg"), "-k", "_l", "-k", "lazy_gettext", "-k", "N_",
             "-k", "Nn_:1,2", "--no-location", "--sort-output",
             "--project", "desk", "-o", str(pot), str(root))
    click.echo(f"extracted {pot}")


@i18n_cli.command("update")
def i18n_update():
    """Merge messages.pot into each language's messages.po (new languages are created)."""
    _, translations, pot = _catalogue_paths()
    for code in current_app.config["LANGUAGES"]:
        if code == "en":
            continue
        po = translations / code / "LC_MESSAGES" / "messages.po"
        if po.exists():
            _pybabel("update", "-i", str(pot), "-d", str(translations), "-l", code, "--no-fuzzy-matching")
        else:
            _pybabel("init", "-i", str(pot), "-d", str(translations), "-l", code)
        click.echo(f"updated {po}")


@i18n_cli.command("compile")
def i18n_compile():
    """Compile every messages.po to the messages.mo the desk reads."""
    _, translations, _ = _catalogue_paths()
    _pybabel("compile", "-d", str(translations), "--statistics")
    click.echo("compiled")
