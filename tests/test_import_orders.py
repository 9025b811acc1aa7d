"""`flask desk import-orders FILE`: the panel's order exports (CSV, JSON Lines) into the
order mirror, streamed and committed in batches, bad rows reported by their line."""
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from desk.audit.models import AuditEvent
from desk.claims.models import Customer, Order, OrderStatusChange
from desk.extensions import db

CSV_HEADER = ("id,customer,link,quantity,charge,charge_deposited,charge_promo,start_count,remains,status,"
              "created_at,status_changed_at,target_state,tool_id,tool_name,tool_refill,tool_refill_days,"
              "tool_refill_min_drop,tool_guarantee,tool_beta\n")


def csv_row(order_id, customer="alice", link="https://www.instagram.com/p/AbC123/?utm_source=ig_web",
            quantity="1000", charge="2.50", deposited="2.00", promo="0.50", start_count="3572", remains="0",
            status="completed", created_at="2026-03-01T10:00:00Z", changed_at="2026-03-02T11:00:00Z",
            target_state="ok", tool_id="17", tool_name="Instagram Likes [Refill 30D]", refill="true",
            refill_days="30", min_drop="0", guarantee="no", beta="0"):
    return ",".join([str(order_id), customer, link, quantity, charge, deposited, promo, start_count, remains,
                     status, created_at, changed_at, target_state, tool_id, tool_name, refill, refill_days,
                     min_drop, guarantee, beta]) + "\n"


def body(order_id, **fields):
    data = {"id": order_id, "customer": "bob", "link": "http://youtu.be/dQw4w9WgXcQ?si=share", "quantity": 500,
            "charge": "1.20", "status": "in_progress", "created_at": "2026-03-05T08:00:00+02:00",
            "status_changed_at": "2026-03-05T09:00:00Z", "start_count": 100, "remains": 120,
            "tool": {"id": "9", "name": "YouTube Views", "refill": False, "guarantee": True, "beta": True,
                     "refill_days": 0}}
    data.update(fields)
    return data


def jsonl(*bodies) -> str:
    return "".join(json.dumps(b) + "\n" for b in bodies)


def write(tmp_path, name, content) -> str:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8", newline="")
    return str(path)


def import_orders(runner, *args, **kwargs):
    return runner.invoke(args=["desk", "import-orders", *args], **kwargs)


def summary_line(result) -> str:
    return result.stdout.strip().splitlines()[-1]


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar()


def order(app, panel_id):
    """The mirror of one order as plain values (the session closes with the context)."""
    with app.app_context():
        row = db.session.execute(select(Order).where(Order.panel_id == panel_id)).scalar_one_or_none()
        if row is None:
            return None
        return {"customer": row.customer.panel_id, "link": row.link, "link_normalized": row.link_normalized,
                "quantity": row.quantity, "charge": row.charge, "charge_deposited": row.charge_deposited,
                "charge_promo": row.charge_promo, "start_count": row.start_count, "remains": row.remains,
                "status": row.status, "target_state": row.target_state, "tool": row.tool,
                "created_at": row.created_at, "status_changed_at": row.status_changed_at,
                "finished_at": row.finished_at, "history": [(c.status, c.at) for c in row.history]}


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


def assert_usage_or_clean_error(result, *phrases):
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), result.exception
    for phrase in phrases:
        assert phrase in result.output, result.output


# --- good files ------------------------------------------------------------------------

def test_csv_export_imports_orders_with_normalised_links_tool_flags_and_history(app, runner, tmp_path):
    path = write(tmp_path, "orders.csv", CSV_HEADER + csv_row(1001) + csv_row(
        1002, customer="carol", link="https://WWW.TikTok.com/@Alice/", quantity="200", charge="0.40",
        deposited="", promo="", start_count="", remains="", status="pending", changed_at="", target_state="",
        tool_id="", tool_name="", refill="", refill_days="", min_drop="", guarantee="", beta=""))
    result = import_orders(runner, path)
    assert result.exit_code == 0, result.output
    assert summary_line(result) == "Imported 2 orders (2 created, 0 updated); 0 bad rows."
    assert "Importing orders" in result.stderr  # the progress bar's label (no bar off a terminal)
    first = order(app, "1001")
    assert first["customer"] == "alice" and first["link_normalized"] == "https://instagram.com/p/AbC123"
    assert first["link"] == "https://www.instagram.com/p/AbC123/?utm_source=ig_web"
    assert (first["quantity"], first["start_count"], first["remains"]) == (1000, 3572, 0)
    assert (first["charge"], first["charge_deposited"], first["charge_promo"]) == (
        Decimal("2.50"), Decimal("2.00"), Decimal("0.50"))
    assert first["tool"] == {"id": "17", "name": "Instagram Likes [Refill 30D]", "refill": True, "refill_days": 30,
                             "refill_min_drop": 0, "guarantee": False, "beta": False}
    assert first["status"] == "completed" and first["history"] == [("completed", utc(2026, 3, 2, 11))]
    assert first["finished_at"] == utc(2026, 3, 2, 11) and first["created_at"] == utc(2026, 3, 1, 10)
    # Empty cells are missing values: the defaults apply, as for a JSON body without them.
    second = order(app, "1002")
    assert second["link_normalized"] == "https://tiktok.com/@alice" and second["customer"] == "carol"
    assert (second["charge_deposited"], second["charge_promo"]) == (Decimal("0.40"), Decimal("0.00"))
    assert second["start_count"] is None and second["remains"] == 0 and second["target_state"] == "ok"
    assert second["tool"] == {"id": None, "name": None, "refill": False, "refill_days": 0, "refill_min_drop": 0,
                              "guarantee": False, "beta": False}
    assert second["history"] == [("pending", utc(2026, 3, 1, 10))] and second["finished_at"] is None
    # Customers the desk had not seen get a bare record, as through the API.
    assert count(app, Customer, Customer.panel_id.in_(["alice", "carol"])) == 2
    assert count(app, AuditEvent, AuditEvent.action == "order.created") == 2


def test_csv_accepts_panel_id_column_crlf_and_a_byte_order_mark(app, runner, tmp_path):
    content = "\ufeff" + CSV_HEADER.replace("id,", "Panel_ID,", 1) + csv_row(77)
    path = write(tmp_path, "export.csv", content.replace("\n", "\r\n"))
    result = import_orders(runner, path)
    assert result.exit_code == 0, result.output
    assert summary_line(result) == "Imported 1 orders (1 created, 0 updated); 0 bad rows."
    assert order(app, "77")["tool"]["refill"] is True


def test_jsonl_export_imports_orders(app, runner, tmp_path):
    path = write(tmp_path, "orders.jsonl", jsonl(
        body(2001), body("2002", customer="dave", status="completed", link="https://t.me/s/somechannel",
                         history=[{"status": "in_progress", "at": "2026-03-05T09:00:00Z"},
                                  {"status": "completed", "at": "2026-03-06T09:00:00Z"}])))
    result = import_orders(runner, path)
    assert result.exit_code == 0, result.output
    assert summary_line(result) == "Imported 2 orders (2 created, 0 updated); 0 bad rows."
    first = order(app, "2001")
    assert first["link_normalized"] == "https://youtube.com/watch?v=dQw4w9WgXcQ"
    assert first["created_at"] == utc(2026, 3, 5, 6) and first["status"] == "in_progress"
    assert first["tool"]["guarantee"] is True and first["tool"]["beta"] is True and first["tool"]["refill"] is False
    assert first["history"] == [("in_progress", utc(2026, 3, 5, 9))] and first["finished_at"] is None
    assert (first["charge_deposited"], first["charge_promo"]) == (Decimal("1.20"), Decimal("0.00"))
    second = order(app, "2002")
    assert second["customer"] == "dave" and second["link_normalized"] == "https://t.me/somechannel"
    assert second["history"] == [("in_progress", utc(2026, 3, 5, 9)), ("completed", utc(2026, 3, 6, 9))]
    assert second["finished_at"] == utc(2026, 3, 6, 9)


def test_ndjson_extension_is_json_lines(app, runner, tmp_path):
    result = import_orders(runner, write(tmp_path, "orders.ndjson", jsonl(body(1))))
    assert result.exit_code == 0, result.output
    assert order(app, "1") is not None


def test_format_option_overrides_the_extension(app, runner, tmp_path):
    result = import_orders(runner, write(tmp_path, "orders.txt", jsonl(body(5))), "--format", "jsonl")
    assert result.exit_code == 0, result.output
    assert order(app, "5") is not None


def test_empty_file_imports_nothing(app, runner, tmp_path):
    result = import_orders(runner, write(tmp_path, "empty.csv", ""))
    assert result.exit_code == 0, result.output
    assert summary_line(result) == "Imported 0 orders (0 created, 0 updated); 0 bad rows."


# --- bad rows ------------------------------------------------------------------------------

def test_csv_bad_rows_are_reported_by_physical_line_and_good_rows_still_import(app, runner, tmp_path):
    content = (CSV_HEADER                                                  # line 1
               + csv_row(1, tool_name='"Likes, with a\nline break"')       # lines 2-3: one row
               + csv_row(2, quantity="ten", charge="")                     # line 4: bad
               + "\n"                                                      # line 5: blank, skipped
               + csv_row(3)                                                # line 6
               + csv_row("", customer="x")                                 # line 7: no id
               + csv_row(4, status="lost", refill="maybe",                 # lines 8-9: bad, starts on 8
                         tool_name='"two\nlines"')
               + csv_row(5) + "1,2,3" + ",x" * 30 + "\n")                  # line 10, line 11: too many values
    result = import_orders(runner, write(tmp_path, "orders.csv", content))
    assert result.exit_code == 1, result.output
    bad = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert bad == [
        "line 4: quantity: must be a whole number; charge: required",
        "line 7: id: required",
        "line 8: status: one of pending, in_progress, completed, partial, canceled; tool.refill: true or false",
        "line 11: 33 values but the header names 20 columns",
    ]
    assert summary_line(result) == "Imported 3 orders (3 created, 0 updated); 4 bad rows."
    assert order(app, "1")["tool"]["name"] == "Likes, with a\nline break"
    assert {p for p in ("1", "2", "3", "4", "5") if order(app, p)} == {"1", "3", "5"}


def test_jsonl_bad_rows_are_reported_by_line_with_blank_and_garbage_lines(app, runner, tmp_path):
    lines = [json.dumps(body(1)),                                   # 1
             "",                                                    # 2: blank, skipped
             "this is not json {",                                  # 3
             json.dumps(body(2, quantity="1.5", charge=2.5)),       # 4
             "   ",                                                 # 5: blank, skipped
             json.dumps([1, 2, 3]),                                 # 6
             json.dumps(body(None)),                                # 7: no id
             json.dumps(body(3)),                                   # 8
             json.dumps(body("x" * 65)),                            # 9: id too long
             json.dumps(body(4, tool={"refill": "sometimes"}, remains=999))]  # 10
    result = import_orders(runner, write(tmp_path, "orders.jsonl", "\n".join(lines) + "\n"))
    assert result.exit_code == 1, result.output
    bad = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert bad == [
        "line 3: not valid JSON (Expecting value at column 1)",
        'line 4: quantity: must be a whole number; charge: a string such as "2.50"',
        "line 6: not a JSON object",
        "line 7: id: required",
        "line 9: id: at most 64 characters",
        "line 10: remains: at most the quantity; tool.refill: true or false",
    ]
    assert summary_line(result) == "Imported 2 orders (2 created, 0 updated); 6 bad rows."
    assert order(app, "1") and order(app, "3") and count(app, Order) == 2


def test_a_line_that_is_not_utf8_is_a_bad_row(app, runner, tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_bytes(jsonl(body(1)).encode() + b'{"id": "\xff\xfe"}\n' + jsonl(body(2)).encode())
    result = import_orders(runner, str(path))
    assert result.exit_code == 1, result.output
    assert "line 2: not valid UTF-8" in result.stderr
    assert summary_line(result) == "Imported 2 orders (2 created, 0 updated); 1 bad rows."


def test_csv_lines_that_are_not_utf8_or_too_long_are_bad_rows_not_a_failed_import(app, runner, tmp_path,
                                                                                    monkeypatch):
    from desk.claims import importer

    monkeypatch.setattr(importer, "MAX_LINE", 400)  # a real export's limit is 1 MiB; a small one to test
    path = tmp_path / "orders.csv"
    path.write_bytes(CSV_HEADER.encode() + csv_row(1).encode()                          # 1, 2
                     + csv_row(2, customer="caf\xe9").encode("latin-1")                  # 3
                     + csv_row(3, tool_name="x" * 2000).encode()                         # 4
                     + csv_row(4, tool_name='"a\nb\xff"').encode("latin-1")               # 5-6
                     + csv_row(5).encode())                                              # 7
    result = import_orders(runner, str(path))
    assert result.exit_code == 1, result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("line ")] == [
        "line 3: not valid UTF-8", "line 4: longer than 400 bytes", "line 5: not valid UTF-8 (in lines 5-6)"]
    assert summary_line(result) == "Imported 2 orders (2 created, 0 updated); 3 bad rows."
    assert order(app, "1") and order(app, "5")


def test_jsonl_nested_too_deeply_or_too_long_is_a_bad_row(app, runner, tmp_path, monkeypatch):
    from desk.claims import importer

    monkeypatch.setattr(importer, "MAX_LINE", 200_000)
    content = jsonl(body(1)) + "[" * 100_000 + "\n" + '{"id": "' + "y" * 300_000 + '"}\n' + jsonl(body(2))
    result = import_orders(runner, write(tmp_path, "orders.jsonl", content))
    assert [line for line in result.stderr.splitlines() if line.startswith("line ")] == [
        "line 2: not valid JSON (nested too deeply)", "line 3: longer than 200000 bytes"]
    assert summary_line(result) == "Imported 2 orders (2 created, 0 updated); 2 bad rows."


def test_at_most_fifty_bad_rows_are_listed(app, runner, tmp_path):
    lines = [json.dumps(body(1))] + ["garbage"] * 120 + [json.dumps(body(2))]
    result = import_orders(runner, write(tmp_path, "orders.jsonl", "\n".join(lines) + "\n"))
    assert result.exit_code == 1
    bad = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert len(bad) == 50 and bad[0].startswith("line 2: ") and bad[-1].startswith("line 51: ")
    assert "… and 70 more bad rows" in result.stderr
    assert summary_line(result) == "Imported 2 orders (2 created, 0 updated); 120 bad rows."


@pytest.fixture
def refuse_order_poison(app, backend):
    """A real trigger that makes the database refuse the order whose panel id is 'poison'."""
    with app.app_context():
        if backend == "postgresql":
            db.session.execute(text(
                "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.panel_id = 'poison' THEN RAISE EXCEPTION 'poisoned order refused'; END IF; "
                "RETURN NEW; END $$"))
            db.session.execute(text("CREATE TRIGGER refuse_poison BEFORE INSERT ON orders FOR EACH ROW "
                                    "EXECUTE FUNCTION refuse_poison()"))
        else:
            db.session.execute(text("CREATE TRIGGER refuse_poison BEFORE INSERT ON orders "
                                    "WHEN NEW.panel_id = 'poison' BEGIN "
                                    "SELECT RAISE(ABORT, 'poisoned order refused'); END"))
        db.session.commit()
    yield
    with app.app_context():
        db.session.execute(text("DROP TRIGGER refuse_poison" + (" ON orders" if backend == "postgresql" else "")))
        if backend == "postgresql":
            db.session.execute(text("DROP FUNCTION refuse_poison()"))
        db.session.commit()


@pytest.mark.parametrize("batch", ["1000", "3"])
def test_a_row_the_database_refuses_is_reported_and_the_rest_of_its_batch_kept(
        app, runner, tmp_path, refuse_order_poison, batch):
    bodies = [body(1), body(2, customer="erin"), body("poison", customer="mallory"), body(3), body(4),
              body(2, status="completed", status_changed_at="2026-03-07T00:00:00Z"), body(5)]
    result = import_orders(runner, write(tmp_path, "orders.jsonl", jsonl(*bodies)), "--batch", batch)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    bad = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert len(bad) == 1 and bad[0].startswith("line 3: not saved: ") and "poisoned order refused" in bad[0]
    assert summary_line(result) == "Imported 6 orders (5 created, 1 updated); 1 bad rows."
    assert {p for p in ("1", "2", "3", "4", "5", "poison") if order(app, p)} == {"1", "2", "3", "4", "5"}
    assert order(app, "2")["history"] == [("in_progress", utc(2026, 3, 5, 9)), ("completed", utc(2026, 3, 7))]
    # The refused row left nothing behind: not its bare customer, not an audit event.
    assert count(app, Customer, Customer.panel_id == "mallory") == 0
    assert count(app, AuditEvent, AuditEvent.subject_id == "poison") == 0
    assert runner.invoke(args=["desk", "audit-verify"]).exit_code == 0


# --- re-import, duplicates, batches ------------------------------------------------------

def test_importing_the_same_file_again_updates_and_does_not_duplicate(app, runner, tmp_path):
    path = write(tmp_path, "orders.csv", CSV_HEADER + "".join(csv_row(i, customer=f"c{i % 3}") for i in range(1, 8)))
    assert summary_line(import_orders(runner, path)) == "Imported 7 orders (7 created, 0 updated); 0 bad rows."
    before = {p: order(app, p) for p in map(str, range(1, 8))}
    events = count(app, AuditEvent)
    result = import_orders(runner, path)
    assert result.exit_code == 0, result.output
    assert summary_line(result) == "Imported 7 orders (0 created, 7 updated); 0 bad rows."
    assert count(app, Order) == 7 and count(app, OrderStatusChange) == 7 and count(app, Customer) == 3
    assert {p: order(app, p) for p in map(str, range(1, 8))} == before
    assert count(app, AuditEvent) == events  # nothing changed, nothing to audit


def test_a_later_export_moves_the_status_on_and_grows_the_history(app, runner, tmp_path):
    first = write(tmp_path, "monday.jsonl", jsonl(body(1, status="pending", status_changed_at=None)))
    later = write(tmp_path, "friday.jsonl", jsonl(
        body(1, status="partial", remains=40, status_changed_at="2026-03-09T12:00:00Z", customer="bob2")))
    assert import_orders(runner, first).exit_code == 0
    result = import_orders(runner, later)
    assert summary_line(result) == "Imported 1 orders (0 created, 1 updated); 0 bad rows."
    row = order(app, "1")
    assert row["history"] == [("pending", utc(2026, 3, 5, 6)), ("partial", utc(2026, 3, 9, 12))]
    assert row["status"] == "partial" and row["remains"] == 40 and row["customer"] == "bob2"
    assert row["finished_at"] == utc(2026, 3, 9, 12)
    with app.app_context():
        actions = db.session.execute(select(AuditEvent.action, AuditEvent.data).where(
            AuditEvent.subject_id == "1").order_by(AuditEvent.id)).all()
    assert [(a, d) for a, d in actions] == [("order.created", {"before": None, "after": "pending"}),
                                            ("order.status", {"before": "pending", "after": "partial"})]


@pytest.mark.parametrize("batch", ["1000", "1", "2"])
def test_a_repeated_id_in_one_file_updates_the_earlier_row(app, runner, tmp_path, batch):
    path = write(tmp_path, "orders.jsonl", jsonl(
        body(1, status="pending", status_changed_at=None), body(2),
        body(1, status="in_progress", status_changed_at="2026-03-05T10:00:00Z"),
        body(1, status="completed", status_changed_at="2026-03-05T12:00:00Z", remains=0)))
    result = import_orders(runner, path, "--batch", batch)
    assert result.exit_code == 0, result.output
    assert summary_line(result) == "Imported 4 orders (2 created, 2 updated); 0 bad rows."
    row = order(app, "1")
    assert row["status"] == "completed" and row["finished_at"] == utc(2026, 3, 5, 12)
    assert row["history"] == [("pending", utc(2026, 3, 5, 6)), ("in_progress", utc(2026, 3, 5, 10)),
                              ("completed", utc(2026, 3, 5, 12))]
    assert count(app, Order) == 2
    assert count(app, AuditEvent, AuditEvent.subject_id == "1") == 3
    assert runner.invoke(args=["desk", "audit-verify"]).exit_code == 0


def test_bulk_apply_matches_apply_order(app):
    """The importer writes a batch in bulk (apply_batch); the result must be what
    apply_order, the API's path, makes of the same rows, one by one."""
    from desk.audit.services import Actor
    from desk.claims.orders import apply_batch
    from desk.claims.orders import apply_order, parse_order

    steps = [
        ("1", body(1, status="pending", status_changed_at=None)),
        ("2", body(2, status="canceled", status_changed_at=None, remains=500)),
        ("3", body(3, status="completed", history=[{"status": "in_progress", "at": "2026-03-05T09:00:00Z"},
                                                   {"status": "completed", "at": "2026-03-05T10:00:00Z"}])),
        ("1", body(1, status="pending", status_changed_at=None)),  # no change
        ("1", body(1, status="in_progress", status_changed_at="2026-03-06T00:00:00Z", customer="zoe")),
        ("4", body(4, charge="3.00", charge_promo="1.00", target_state="private")),
        ("3", body(3, status="completed", history=[{"status": "completed", "at": "2026-03-05T10:00:00Z"}])),
        ("1", body(1, status="completed", status_changed_at=None, link="https://www.instagram.com/reel/XyZ/")),
        ("2", body(2, status="partial", status_changed_at="2026-03-08T00:00:00Z", remains=10,
                   tool={"refill": True})),  # the tool is kept as it was at order time
        ("4", body(4, status="in_progress", status_changed_at="2026-03-05T09:00:00Z", start_count=None)),
    ]
    actor = Actor("system", None, "test")

    def parsed(prefix, panel_id, data):
        values, problems = parse_order(dict(data, customer=prefix + data["customer"]))
        assert not problems
        return prefix + panel_id, values

    def snapshot(prefix):
        rows = {}
        for panel_id in {p for p, _ in steps}:
            row = order(app, prefix + panel_id)
            row["customer"] = row["customer"].removeprefix(prefix)
            rows[panel_id] = row
        with app.app_context():
            events = [(a, s.removeprefix(prefix), d) for a, s, d in db.session.execute(
                select(AuditEvent.action, AuditEvent.subject_id, AuditEvent.data)
                .where(AuditEvent.subject_id.like(prefix + "%")).order_by(AuditEvent.id))]
        return rows, events

    with app.app_context():
        for panel_id, data in steps:
            apply_order(*parsed("A", panel_id, data), actor, commit=False)
        db.session.commit()
        apply_batch([parsed("B", p, d) for p, d in steps], actor)  # all in one batch
        db.session.commit()
        for start in range(0, len(steps), 3):  # in batches of three: updates across batches
            apply_batch([parsed("C", p, d) for p, d in steps[start:start + 3]], actor)
            db.session.commit()
    now = datetime.now(timezone.utc)

    def settle(snap):  # a change sent without a time is stamped "now" on both paths
        rows, events = snap
        for row in rows.values():
            row["history"] = [(s, "now" if now - a < timedelta(minutes=5) else a) for s, a in row["history"]]
            if row["finished_at"] and now - row["finished_at"] < timedelta(minutes=5):
                row["finished_at"] = "now"
        return rows, events

    expected = settle(snapshot("A"))
    assert settle(snapshot("B")) == expected
    assert settle(snapshot("C")) == expected
    assert expected[0]["2"]["tool"]["refill"] is False and expected[0]["1"]["history"][-1] == ("completed", "now")
    assert expected[0]["1"]["link_normalized"] == "https://instagram.com/p/XyZ"
    assert len(expected[1]) == 7  # 4 created, 3 status changes (a repeat with the same status records nothing)


# --- stdin, formats, errors -----------------------------------------------------------------

def test_stdin_with_format_jsonl(app, runner):
    result = import_orders(runner, "-", "--format", "jsonl", input=jsonl(body(1), body(2)) + "oops\n")
    assert result.exit_code == 1, result.output
    assert "line 3: not valid JSON" in result.stderr
    assert summary_line(result) == "Imported 2 orders (2 created, 0 updated); 1 bad rows."
    assert order(app, "2") is not None


def test_stdin_with_format_csv(app, runner):
    result = import_orders(runner, "-", "--format", "csv", input=CSV_HEADER + csv_row(9))
    assert result.exit_code == 0, result.output
    assert order(app, "9")["tool"]["refill"] is True


def test_stdin_without_format_is_a_usage_error(app, runner):
    result = import_orders(runner, "-", input=jsonl(body(1)))
    assert result.exit_code == 2
    assert "--format" in result.output and "Traceback" not in result.output
    assert count(app, Order) == 0


def test_unknown_extension_without_format_is_a_usage_error(app, runner, tmp_path):
    result = import_orders(runner, write(tmp_path, "orders.txt", jsonl(body(1))))
    assert result.exit_code == 2
    assert_usage_or_clean_error(result, "Cannot tell the format of", "--format csv or --format jsonl")
    assert count(app, Order) == 0


def test_unknown_format_option_is_a_usage_error(runner, tmp_path):
    result = import_orders(runner, write(tmp_path, "orders.csv", ""), "--format", "xml")
    assert result.exit_code == 2 and "'xml' is not one of 'csv', 'jsonl'" in result.output


def test_missing_file_is_a_clear_error(runner, tmp_path):
    result = import_orders(runner, str(tmp_path / "nowhere.csv"))
    assert_usage_or_clean_error(result, "nowhere.csv", "does not exist")


def test_csv_without_an_id_column_is_refused_with_a_clear_message(app, runner, tmp_path):
    result = import_orders(runner, write(tmp_path, "orders.csv", "customer,link\nalice,https://x.com/a\n"))
    assert result.exit_code == 1
    assert_usage_or_clean_error(result, "The header has no id column (id, panel_id or order)")


def test_batch_must_be_positive(runner, tmp_path):
    result = import_orders(runner, write(tmp_path, "orders.jsonl", jsonl(body(1))), "--batch", "0")
    assert result.exit_code == 2 and "--batch" in result.output


# --- size ----------------------------------------------------------------------------------

ROWS = 100_000


def write_export(path, rows: int):
    statuses = ("pending", "in_progress", "completed", "partial", "canceled")
    with path.open("w") as fh:
        for i in range(rows):
            status = statuses[i % 5]
            fh.write(json.dumps({
                "id": str(500_000 + i), "customer": f"cust{i % 7_919}",
                "link": f"https://www.instagram.com/p/Post{i}/?utm_source=ig_web", "quantity": 1000 + i % 50,
                "charge": f"{1 + i % 9}.{i % 100:02d}", "status": status, "remains": 0 if status != "partial" else 5,
                "start_count": i % 4000, "created_at": f"2026-02-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
                "status_changed_at": None if status == "pending" else f"2026-03-{1 + i % 28:02d}T12:00:00Z",
                "tool": {"id": str(i % 40), "name": "Instagram Likes", "refill": i % 2 == 0, "refill_days": 30,
                         "guarantee": i % 3 == 0, "beta": False}}) + "\n")


def import_in_a_process(tmp_path, db_path, export) -> tuple[int, str]:
    """Run `flask desk import-orders` in its own process; (peak RSS in KiB, output)."""
    script = (
        "import resource, subprocess, sys\n"
        "run = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "print(run.returncode, run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-500:])\n"
    )
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{db_path}", DESK_INSTANCE_PATH=str(tmp_path / "instance"),
               SECRET_KEY="t", REDIS_URL="redis://127.0.0.1:6379/0")
    done = subprocess.run([sys.executable, "-c", script, sys.executable, "-m", "flask", "--app", "desk", "desk",
                           "import-orders", str(export)], env=env, capture_output=True, text=True, timeout=600)
    rss, result = done.stdout.strip().splitlines()[:2]
    return int(rss), result


def test_a_hundred_thousand_rows_import_completely_in_flat_memory(app, backend, tmp_path):
    """Streamed and committed in batches: an import of 100,000 rows peaks at about the
    memory of an import of 1,000 (holding the rows would take hundreds of MB). Measured
    as each import process's peak RSS, through the real command."""
    if backend == "postgresql":
        return  # the same code on both; the size test runs once (on the SQLite file) to keep the suite fast
    db_path = tmp_path / "desk.sqlite"  # the app fixture's migrated copy
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    write_export(small, 1_000)
    write_export(large, ROWS)
    started = time.perf_counter()
    small_rss, small_result = import_in_a_process(tmp_path, db_path, small)
    large_rss, large_result = import_in_a_process(tmp_path, db_path, large)
    elapsed = time.perf_counter() - started
    print(f"imports took {elapsed:.1f} s; peak RSS {small_rss / 1024:.0f} MiB for 1,000 rows, "
          f"{large_rss / 1024:.0f} MiB for {ROWS:,}")
    assert small_result == "0 Imported 1000 orders (1000 created, 0 updated); 0 bad rows."
    assert large_result == f"0 Imported {ROWS} orders ({ROWS - 1000} created, 1000 updated); 0 bad rows."
    assert large_rss - small_rss < 40 * 1024, (small_rss, large_rss)
    assert count(app, Order) == ROWS and count(app, Customer) == 7_919
    assert count(app, AuditEvent, AuditEvent.action == "order.created") == ROWS
    last = order(app, str(500_000 + ROWS - 1))
    assert last["link_normalized"] == f"https://instagram.com/p/Post{ROWS - 1}" and last["status"] == "canceled"
