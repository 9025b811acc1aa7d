"""The OpenAPI document (GET /api/v1/openapi.json) against the app: it is valid OpenAPI 3.1,
it names every route of the `api` blueprint, and schemathesis finds the real answers as
documented — no 5xx, documented status codes, content types and bodies — on SQLite and on
PostgreSQL, with real keys and a real customer session (signed in by the panel's single
sign-on, with its CSRF token) and seeded data (a customer, orders, ledger entries, a ticket
and a money request), so the happy paths are reached as well as the refusals."""
import copy
import itertools
import re
import shutil
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_headers_conformance, response_schema_conformance, status_code_conformance,
)

from conftest import PanelFeed, _truncate_pg, iso, ledger_entry
from desk.api import CSRF_HEADER, PUBLIC_ENDPOINTS, SESSION_ENDPOINTS
from desk.api.openapi import DOCUMENT, takes_session
from test_portal import SECRET, sso_token
from desk.audit.services import Actor
from desk.extensions import db
from desk.types import utcnow

PREFIX = "/api/v1"
# No 5xx; every status, content type, documented header and body as the document says.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")


def documented_operations(document) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item
            if method.upper() in METHODS}


def routed_operations(app) -> dict[tuple[str, str], str]:
    """(METHOD, OpenAPI path) -> endpoint for every rule of the api blueprint; an `any`
    converter is one path per value, as the document lists them."""
    found = {}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        assert rule.rule.startswith(PREFIX), rule.rule
        paths, rest = [""], rule.rule[len(PREFIX):]
        while rest:
            match = ARGUMENT.search(rest)
            if match is None:
                paths, rest = [p + rest for p in paths], ""
                continue
            head, rest = rest[:match.start()], rest[match.end():]
            if match["converter"] == "any":
                values = [v.strip().strip("'\"") for v in match["args"].split(",")]
            else:
                values = ["{" + match["name"] + "}"]
            paths = [p + head + v for p in paths for v in values]
        for method in rule.methods & METHODS:
            for path in paths:
                found[(method, path)] = rule.endpoint
    return found


def test_the_document_is_served_without_a_key_and_is_valid_openapi_3_1(client):
    response = client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    validate(document, cls=OpenAPIV31SpecValidator)
    assert document == DOCUMENT


def test_every_route_of_the_api_blueprint_is_documented_and_nothing_else(app):
    routed = routed_operations(app)
    documented = documented_operations(DOCUMENT)
    assert sorted(set(routed) - documented) == [], "routes missing from the OpenAPI document"
    assert sorted(documented - set(routed)) == [], "documented operations with no route"


def test_the_public_operations_are_the_ones_documented_without_security(app):
    for (method, path), endpoint in routed_operations(app).items():
        security = DOCUMENT["paths"][path][method.lower()]["security"]
        assert (security == []) == (endpoint in PUBLIC_ENDPOINTS), (method, path, security)


def test_the_operations_a_customer_session_takes_are_the_ones_documented_with_it(app):
    for (method, path), endpoint in routed_operations(app).items():
        security = DOCUMENT["paths"][path][method.lower()]["security"]
        assert takes_session(security) == (endpoint in SESSION_ENDPOINTS), (method, path, security)
        if takes_session(security) and method != "GET":  # unsafe: the CSRF header goes with the cookie
            assert {"customerSession": [], "csrfToken": []} in security, (method, path)


def test_every_operation_documents_its_errors_in_the_one_format():
    for path, item in DOCUMENT["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            assert "429" in codes, (method, path)
            if op["security"]:
                assert "401" in codes, (method, path)
            if "requestBody" in op:
                assert {"400", "413"} <= codes, (method, path)
            for code, response in op["responses"].items():
                if code.startswith("4"):
                    name = response["$ref"].rsplit("/", 1)[1]
                    schema = DOCUMENT["components"]["responses"][name]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, code)


# --- schemathesis against the real app --------------------------------------------------

def seed(panel: PanelFeed) -> dict:
    """What the documented examples name: customer alice with Deposited Funds and Promotional
    Credit, her orders 1001 (completed an hour ago, refillable) and 1002 (pending), a
    ticket, and a withdrawal awaiting her confirmation."""
    now = utcnow()
    panel.customer("alice", email="alice@alice-shop.example")
    panel.order("1001", tool={"id": "1", "name": "Likes", "refill": True, "refill_days": 30})
    panel.order("1002", status="pending", created_at=iso(now - timedelta(minutes=30)))
    panel.ledger(ledger_entry("alice-d1", "deposit", "100.00", processor_fee="3.20"),
                 ledger_entry("alice-p1", "promo_credit", "20.00", source="WELCOME10"),
                 ledger_entry("alice-c1", "charge", "10.00", order="1001", funding="deposited"))
    ticket = panel.post("/tickets", {"subject": "Order 1001 not delivered", "body": "Nothing arrived yet.",
                                     "requester": {"email": "alice@alice-shop.example"}, "customer": "alice",
                                     "order": "1001"})
    assert ticket.status_code == 201, ticket.get_json()
    withdrawal = panel.post("/withdrawals", {"customer": "alice", "amount": "10.00"})
    assert withdrawal.status_code == 201, withdrawal.get_json()
    return {"reference": ticket.get_json()["reference"], "request_id": withdrawal.get_json()["id"]}


def with_examples(document: dict, examples: dict) -> dict:
    """The document with its path examples naming the seeded ticket and request."""
    patched = copy.deepcopy(document)
    for item in patched["paths"].values():
        for op in item.values():
            for parameter in op.get("parameters", []):
                if parameter["name"] in examples:
                    parameter["example"] = examples[parameter["name"]]
    return patched


# Each operation's test gets a fresh database (ids from 1), so what seed() files is known
# before it runs: the first ticket of the year and the first money request.
SEEDED = {"reference": f"T-{utcnow().year % 100:02d}-000001", "request_id": 1}
schema = schemathesis.openapi.from_dict(with_examples(DOCUMENT, SEEDED))


# Fuzzed ids rarely name a record, so half the time the fuzzing phase names seeded ones:
# then the generated amounts, counts, times and texts reach the services' decisions, not
# only the 404 of an unknown id.
SEEDED_IDS = {"customer": ["alice"], "order": ["1001", "1002"]}
SEEDED_PATHS = {"panel_id": ["alice", "1001"], "reference": [SEEDED["reference"]], "request_id": [1]}


def _name_seeded(values: dict, known: dict):
    names = [name for name in known if name in values]
    if not names:
        return st.just(values)
    choices = {name: st.one_of(st.just(values[name]), st.sampled_from(known[name])) for name in names}
    return st.fixed_dictionaries(choices).map(lambda chosen: {**values, **chosen})


@schema.hook("flatmap_body")
def name_seeded_records(context, body):
    if not isinstance(body, dict):
        return st.just(body)
    entries = body.get("entries")
    if isinstance(entries, list) and all(isinstance(e, dict) for e in entries):  # a ledger batch
        return st.tuples(*(_name_seeded(e, SEEDED_IDS) for e in entries)).map(
            lambda named: {**body, "entries": list(named)})
    return _name_seeded(body, SEEDED_IDS)


@schema.hook("flatmap_path_parameters")
def name_seeded_paths(context, path_parameters):
    return _name_seeded(path_parameters or {}, SEEDED_PATHS)


@pytest.fixture
def app(make_app):
    # Single sign-on on, so the customer role signs in as the panel's pages would have it.
    return make_app(PANEL_SSO_SECRET=SECRET)


@pytest.fixture(params=["panel", "staff", "customer"])
def role(request):
    return request.param


def session_of(app, panel_id="alice") -> dict:
    """What a browser signed in as the customer sends: the portal's session cookie and the
    CSRF token GET /me gives (for the unsafe methods)."""
    browser = app.test_client()
    response = browser.get("/portal/sso", query_string={"token": sso_token(SECRET, panel_id)})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    token = browser.get(f"{PREFIX}/me").get_json()["csrf_token"]
    return {"cookies": {"session": browser.get_cookie("session").value}, "headers": {CSRF_HEADER: token}}


@pytest.fixture
def caller(role, seeded_app, api_key) -> dict:
    """The credentials a call of the role carries, as call_and_validate's keyword arguments."""
    if role == "customer":
        return session_of(seeded_app)
    return {"headers": {"Authorization": f"Bearer {api_key(role)}"}}


@pytest.fixture
def seeded_app(app, panel):
    assert seed(panel) == SEEDED
    return app


@pytest.fixture
def answers(role):
    """The statuses of one operation's answers in the run. Afterwards its happy path must have
    been reached by a key of a role it takes (the seed and the examples go stale otherwise),
    and a key of any other role refused with a 403 every time."""
    seen = {"operation": None, "statuses": set(), "failed": False}
    yield seen
    if seen["failed"] or seen["operation"] is None:
        return  # the failure itself is the report
    method, path = seen["operation"]
    op = DOCUMENT["paths"][path][method.lower()]
    roles = op.get("x-key-roles")
    successes = {status for status in seen["statuses"] if 200 <= status < 300}
    allowed = takes_session(op["security"]) if role == "customer" else role in (roles or ())
    if roles is None or allowed:
        assert successes, f"{method} {path} never succeeded for a {role} key: {sorted(seen['statuses'])}"
    else:
        assert not successes and 403 in seen["statuses"], (method, path, role, sorted(seen["statuses"]))


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_documented(case, seeded_app, caller, answers):
    answers["operation"] = (case.operation.method.upper(), case.operation.path)
    if "Authorization" not in caller.get("headers", {}) and case.headers:
        # The document lets a key or a session in; the session's calls carry no generated key.
        case.headers.pop("Authorization", None)
    try:
        response = case.call_and_validate(app=seeded_app, checks=CHECKS, **caller)
    except BaseException:
        answers["failed"] = True
        raise
    if case.method.upper() == answers["operation"][0]:  # not the probes with other methods (405)
        answers["statuses"].add(response.status_code)


@pytest.fixture
def fresh_seeded_app(make_app, backend, request, tmp_path):
    """A factory of seeded apps, each on a database of its own (SQLite: a copy of the
    migrated template; PostgreSQL: the test database emptied again), and a panel key."""
    from desk.auth.services import create_api_key

    count = itertools.count()

    def build():
        if backend == "sqlite":
            target = tmp_path / f"flow-{next(count)}.sqlite"
            shutil.copy(request.getfixturevalue("sqlite_template"), target)
            app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{target}")
        else:
            app = make_app()
            _truncate_pg(app)
        with app.app_context():
            _, key = create_api_key("panel key", "panel", Actor("system"))
        assert seed(PanelFeed(app.test_client(), key)) == SEEDED
        return app, key

    return build


def test_the_documented_links_lead_where_they_say(fresh_seeded_app):
    """Schemathesis's stateful phase: sequences that follow the document's links (a filed
    money request to its state, confirmation and cancellation; a ticket to its replies), so
    fresh requests are confirmed and cancelled with generated answers, not only the seeded
    one. Each sequence starts from the seeded database, as Hypothesis needs to replay one."""

    class Flows(schema.as_state_machine()):
        def setup(self):
            self.app, key = fresh_seeded_app()
            self.headers = {"Authorization": f"Bearer {key}"}

        def teardown(self):
            with self.app.app_context():
                db.session.remove()
                db.engine.dispose()  # nothing left open when the next sequence empties the database

        def get_call_kwargs(self, case):
            return {"app": self.app, "headers": self.headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Flows.run(settings=settings(max_examples=20, stateful_step_count=6, deadline=None,
                                suppress_health_check=list(HealthCheck)))
