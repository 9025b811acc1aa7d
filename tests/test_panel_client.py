"""The panel client (desk.panel.client) against a real API-v2 server on loopback
(tests/panel_server.py): the documented answers, refusals that are not tried again,
network errors, timeouts and 5xx that are, malformed answers, the pace, and the key that
never leaves the POST body."""
import logging
import time
from decimal import Decimal

import pytest

from desk.panel.client import (
    Balance, CancelResult, OrderStatus, Pacer, PanelBadAnswer, PanelClient, PanelOff, PanelRefused,
    PanelUnavailable, cents,
)
from panel_server import KEY, FakePanel, order_answer

from conftest import free_port


@pytest.fixture
def fake():
    server = FakePanel().start()
    server.orders["1001"] = order_answer("Partial", charge="0.27819", start_count="3572", remains="157")
    server.orders["1002"] = order_answer("Pending", charge="1.5", start_count="0", remains="1000")
    yield server
    server.stop()


def client_for(fake, **options):
    settings = {"timeout": 2.0, "retries": 2, "backoff": 0.01}
    settings.update(options)
    return PanelClient(fake.url, KEY, **settings)


def test_status_of_one_order_reads_every_field_without_float(fake):
    with client_for(fake) as client:
        found = client.status("1001")
    assert found == OrderStatus("1001", status="Partial", charge=Decimal("0.27819"), start_count=3572, remains=157,
                                currency="USD")
    assert isinstance(found.charge, Decimal) and cents(found.charge) == Decimal("0.28")
    assert cents(Decimal("0.12345")) == Decimal("0.12") and cents(Decimal("0.125")) == Decimal("0.13")  # half up
    [request] = fake.requests
    assert request["form"] == {"key": KEY, "action": "status", "order": "1001"}
    assert request["content_type"] == "application/x-www-form-urlencoded"


def test_status_of_many_orders_is_one_call_and_names_unknown_ids(fake):
    with client_for(fake) as client:
        found = client.statuses(["1001", "1002", "9"])
        with pytest.raises(ValueError):
            client.statuses([str(i) for i in range(101)])
    assert found["1001"].status == "Partial" and found["1002"].remains == 1000
    assert found["9"] == OrderStatus("9", error="Incorrect order ID")
    assert fake.actions() == ["status"] and fake.requests[0]["form"]["orders"] == "1001,1002,9"


def test_numbers_sent_as_json_numbers_are_read_exactly(fake):
    fake.orders["1003"] = {"charge": 0.1, "start_count": 12, "status": "Completed", "remains": 0, "currency": "USD"}
    with client_for(fake) as client:
        found = client.status("1003")
    assert found.charge == Decimal("0.1") and found.start_count == 12 and found.remains == 0


def test_refill_refill_status_cancel_balance_services_and_add(fake):
    with client_for(fake) as client:
        refill = client.refill("1001")
        assert refill == "1"
        assert [client.refill_status(refill) for _ in range(4)] == ["Pending", "In progress", "Completed",
                                                                    "Completed"]
        assert client.cancel(["1002", "1001", "9"]) == [
            CancelResult("1002", True), CancelResult("1001", False, "The order cannot be canceled"),
            CancelResult("9", False, "Incorrect order ID")]
        assert client.balance() == Balance(Decimal("100.84292"), "USD")
        assert client.services()[0]["service"] == 1
        assert client.add(1, "https://www.instagram.com/p/X/", 100) == "1003"
    assert fake.requests[0]["form"] == {"key": KEY, "action": "refill", "order": "1001"}


def test_an_error_answer_is_refused_and_not_tried_again(fake):
    with client_for(fake) as client:
        with pytest.raises(PanelRefused) as refused:
            client.status("404")
        assert refused.value.message == "Panel status: Incorrect order ID" and refused.value.attempts == 1
        with pytest.raises(PanelRefused):
            client.refill("404")
    assert fake.actions() == ["status", "refill"]  # once each


def test_a_wrong_key_is_a_refusal_that_does_not_show_the_key(fake):
    with PanelClient(fake.url, "pk_wrong_0000000000", retries=2, backoff=0.01) as client:
        with pytest.raises(PanelRefused) as refused:
            client.balance()
    assert refused.value.message == "Panel balance: Invalid API key"
    assert len(fake.requests) == 1


def test_a_500_then_an_answer_is_tried_again(fake):
    fake.fail(("http", 500), ("http", 503))
    with client_for(fake) as client:
        assert client.status("1001").status == "Partial"
    assert fake.actions() == ["status"] * 3


def test_5xx_every_time_gives_up_after_the_retries(fake):
    fake.fail(*[("http", 500)] * 5)
    with client_for(fake, retries=2) as client:
        with pytest.raises(PanelUnavailable) as unavailable:
            client.status("1001")
    assert unavailable.value.message == "Panel status: HTTP 500 after 3 attempt(s)."
    assert unavailable.value.attempts == 3 and not unavailable.value.maybe_done
    assert len(fake.requests) == 3


def test_a_change_is_not_sent_twice_when_the_panel_may_have_made_it(fake):
    fake.fail(("http", 500))
    with client_for(fake) as client:
        with pytest.raises(PanelUnavailable) as unavailable:
            client.refill("1001")
    assert unavailable.value.maybe_done and unavailable.value.attempts == 1
    assert "the panel may have acted" in unavailable.value.message
    assert fake.actions() == ["refill"]


def test_a_change_is_tried_again_when_the_panel_says_it_did_not_take_it(fake):
    fake.fail(("http", 503), ("http", 502))
    with client_for(fake) as client:
        assert client.refill("1001") == "1"
    assert fake.actions() == ["refill"] * 3 and len(fake.refills) == 1


def test_a_hanging_panel_times_out_and_reads_are_tried_again(fake):
    fake.fail(("hang", 3.0))
    started = time.monotonic()
    with client_for(fake, timeout=0.3) as client:
        assert client.status("1001").status == "Partial"  # the second attempt answers
    assert time.monotonic() - started < 2.5
    assert len(fake.requests) == 2


def test_a_timeout_on_a_change_is_not_tried_again(fake):
    fake.fail(("hang", 3.0))
    with client_for(fake, timeout=0.3) as client:
        with pytest.raises(PanelUnavailable) as unavailable:
            client.cancel(["1002"])
    assert unavailable.value.message.startswith("Panel cancel: no answer in time after 1 attempt(s)")
    assert unavailable.value.maybe_done and len(fake.requests) == 1


def test_hanging_every_time_gives_up(fake):
    fake.fail(*[("hang", 3.0)] * 3)
    with client_for(fake, timeout=0.2, retries=1) as client:
        with pytest.raises(PanelUnavailable) as unavailable:
            client.balance()
    assert unavailable.value.message == "Panel balance: no answer in time after 2 attempt(s)."


def test_nobody_listening_is_a_network_error_tried_again_even_for_a_change():
    url = f"http://127.0.0.1:{free_port()}/api/v2"
    with PanelClient(url, KEY, timeout=1.0, retries=2, backoff=0.01) as client:
        with pytest.raises(PanelUnavailable) as unavailable:
            client.refill("1001")
    assert unavailable.value.message == "Panel refill: network error (ConnectError) after 3 attempt(s)."
    assert not unavailable.value.maybe_done  # it never reached a panel


@pytest.mark.parametrize("answer, call, message", [
    ("<html>maintenance</html>", lambda c: c.status("1001"), "the answer is not JSON"),
    ('{"charge": "0.1", "status": ', lambda c: c.status("1001"), "the answer is not JSON"),
    ('["a list"]', lambda c: c.status("1001"), "expected an object"),
    ('{"status": "Completed", "remains": "many"}', lambda c: c.status("1001"), "remains 'many' is not a whole number"),
    ('{"status": "Completed", "charge": "NaN"}', lambda c: c.status("1001"), "out of range"),
    ('{"charge": "0.10"}', lambda c: c.status("1001"), "no status"),
    ('{"refill": null}', lambda c: c.refill("1001"), 'expected {"refill": id}'),
    ('{"state": "done"}', lambda c: c.refill_status("1"), 'expected {"status": "..."}'),
    ('{"order": 1, "cancel": 1}', lambda c: c.cancel(["1"]), "expected a list"),
    ('{"currency": "USD"}', lambda c: c.balance(), "no balance in the answer"),
])
def test_malformed_answers_are_bad_answers_not_tried_again(fake, answer, call, message):
    fake.fail(("raw", answer))
    with client_for(fake) as client:
        with pytest.raises(PanelBadAnswer) as bad:
            call(client)
    assert message in bad.value.message
    assert len(fake.requests) == 1


def test_one_unreadable_order_in_a_multi_status_spoils_only_itself(fake):
    fake.orders["1003"] = order_answer("Completed", remains="lots")
    with client_for(fake) as client:
        found = client.statuses(["1001", "1003"])
    assert found["1001"].status == "Partial"
    assert found["1003"].error == "unreadable answer: remains 'lots' is not a whole number"


def test_the_key_never_appears_in_a_url_or_a_log_line(fake, caplog):
    caplog.set_level(logging.DEBUG)  # everything: httpx, httpcore, the client
    fake.fail(("http", 500), ("hang", 3.0))
    with client_for(fake, timeout=0.3, retries=3) as client:
        assert client.status("1001").status == "Partial"  # after the 500 and the timeout
        fake.fail(("raw", f"echo {KEY}"), ("error", f"bad key {KEY}"))
        with pytest.raises(PanelBadAnswer) as bad:
            client.balance()
        with pytest.raises(PanelRefused) as refused:
            client.balance()
        assert KEY not in repr(client)
    assert KEY not in bad.value.message and "[key]" in bad.value.message
    assert KEY not in refused.value.message and KEY not in str(refused.value.answer)
    assert caplog.records, "the client logged its retries"
    assert KEY not in caplog.text
    assert all(r["query"] == "" and KEY not in r["path"] for r in fake.requests)
    assert all(r["form"]["key"] == KEY for r in fake.requests)  # in the body, where it belongs


def test_off_without_url_or_key():
    with pytest.raises(PanelOff):
        PanelClient("", KEY)
    with pytest.raises(PanelOff):
        PanelClient("http://127.0.0.1:9/api/v2", "")


def test_requests_are_paced_to_the_rate(fake):
    with client_for(fake, per_minute=600) as client:  # one every 0.1 s
        started = time.monotonic()
        for _ in range(4):
            client.balance()
        elapsed = time.monotonic() - started
    assert elapsed >= 0.29


def test_the_pacer_spaces_calls_evenly():
    waits = []
    pacer = Pacer(60, sleep=waits.append)  # one a second
    for _ in range(3):
        pacer.wait()
    assert waits[0] == pytest.approx(1.0, abs=0.05) and waits[1] == pytest.approx(2.0, abs=0.05)
    assert Pacer(0).interval == 0


def test_processes_on_one_redis_share_the_pace(redis_server):
    """Two workers (two clients, as two processes have) on one Redis: the panel's limit is
    its key's, so the second waits for the first's slot, and a third call for the next."""
    from redis import Redis

    conn = Redis.from_url(redis_server.url)
    key = f"desk:test:pace:{time.monotonic_ns()}"
    first, second = [], []
    a = Pacer(60, sleep=first.append, redis=conn, key=key)  # one a second
    b = Pacer(60, sleep=second.append, redis=conn, key=key)
    a.wait()
    b.wait()
    a.wait()
    assert first[0] == pytest.approx(2.0, abs=0.2) and second[0] == pytest.approx(1.0, abs=0.2)
    assert 0 < conn.pttl(key) <= 4000  # the slot expires: nothing left behind for long
    conn.delete(key)


def test_pacing_falls_back_to_the_process_when_redis_is_unreachable(caplog):
    from redis import Redis

    waits = []
    pacer = Pacer(6, sleep=waits.append, redis=Redis(port=1, socket_connect_timeout=0.2))  # one per 10 s
    for _ in range(3):
        pacer.wait()
    # (The sleeps are recorded, not slept.) The first call's tries to reach Redis may take a
    # little of the 10 s; then the process paces alone for a while without trying again:
    # the third call's slot is exactly one interval after the second's, one warning said so.
    assert len(waits) == 2 and 0 < waits[0] <= 10 and waits[1] - waits[0] == pytest.approx(10.0, abs=0.05)
    assert caplog.text.count("Redis unavailable") == 1


@pytest.mark.parametrize("settings, message", [
    ({"PANEL_API_URL": f"https://panel.example/api/v2?key={KEY}"}, "must not carry the key"),
    ({"PANEL_API_URL": "https://admin:pw@panel.example/api/v2"}, "must not carry the key or a password"),
    ({"PANEL_API_URL": "ftp://panel.example/api/v2"}, "must be an http(s) address"),
    ({"PANEL_API_TIMEOUT": 0}, "PANEL_API_TIMEOUT must be more than 0"),
    ({"PANEL_REFILL_MAX_POLLS": 0}, "PANEL_REFILL_MAX_POLLS must be at least 1"),
    ({"WEBHOOK_RETRY_INTERVALS": (60, -1)}, "WEBHOOK_RETRY_INTERVALS must be seconds"),
])
def test_the_desk_refuses_to_start_on_panel_settings_that_leak_or_make_no_sense(tmp_path, settings, message):
    from desk import create_app

    with pytest.raises(ValueError) as refused:
        create_app({"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "t",
                    "PANEL_API_KEY": KEY, **settings})
    assert message in str(refused.value) and KEY not in str(refused.value)


def test_settings_from_the_environment(monkeypatch, tmp_path):
    from desk.config import settings_from_environment

    monkeypatch.setenv("PANEL_API_URL", "https://panel.example/api/v2")
    monkeypatch.setenv("PANEL_API_TIMEOUT", "2.5")
    monkeypatch.setenv("WEBHOOK_RETRY_INTERVALS", "10,20")
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "yes")
    monkeypatch.delenv("PANEL_API_KEY", raising=False)
    config = settings_from_environment(str(tmp_path))
    assert config["PANEL_API_URL"] == "https://panel.example/api/v2" and config["PANEL_API_KEY"] is None
    assert config["PANEL_API_TIMEOUT"] == 2.5 and config["WEBHOOK_RETRY_INTERVALS"] == (10, 20)
    assert config["WEBHOOK_ALLOW_PRIVATE"] is True and config["PANEL_API_RATE"] == 60
    from desk import panel

    assert not panel.enabled(config)  # a URL without a key: off
