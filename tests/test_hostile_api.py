"""Hostile JSON for every unsafe route of /api/v1 (issue 11): deep nesting, huge numbers,
NaN and Infinity, NUL characters, lone surrogates, wrong types, extra fields, enormous
arrays, bodies that are not JSON at all. Every answer is a 4xx (or a 2xx for a body that
happens to be acceptable) in the one error format, never a 500, on both databases.
Schemathesis (tests/test_openapi.py) covers what the document allows; this covers what
an attacker sends instead."""
import json
import time
import re

import pytest


HOSTILE_VALUES = [
    None, True, -1, 0, 10**400, -(10**40), 1.5e308, "NaN-literal", "Infinity-literal", "", "\x00", "a\x00b",
    "\ud800", "x" * 20_000, [], {}, [1] * 2_000, {"$gt": ""}, "../../etc/passwd", "<script>alert(1)</script>",
    "1e999999", "-0.00", "99999999999999999999.99",
]


def unsafe_routes(app) -> list[tuple[str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH"}):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: "1" if "int" in m.group(0) else "alice", rule.rule)
            found.append((method, path))
    return found


def raw_json(value) -> str:
    """JSON as a hostile client writes it: NaN/Infinity literals and lone surrogates included."""
    text = json.dumps(value, allow_nan=True, ensure_ascii=True)
    return text.replace('"NaN-literal"', "NaN").replace('"Infinity-literal"', "Infinity")


def bodies(fields: list[str]):
    yield "not json", "text/plain"
    yield "{", "application/json"
    yield "[" * 5_000 + "]" * 5_000, "application/json"
    yield "[]", "application/json"
    yield "null", "application/json"
    yield '"\\ud800"', "application/json"
    yield '{"a": 1, "a": 2}', "application/json"
    yield "\xff\xfe{}", "application/json"
    for value in HOSTILE_VALUES:
        yield raw_json({name: value for name in fields} | {"extra_field": value}), "application/json"
    nested = {"subject": "x"}
    for _ in range(50):
        nested = {"subject": nested, "body": [1, [2, [3]]]}
    yield raw_json(nested), "application/json"


def documented_fields(doc: dict, method: str, path: str) -> list[str]:
    """The request body's property names the OpenAPI document gives this route (every
    field of every one of its schemas), or a few common ones."""
    names = {"subject", "body", "customer", "order", "kind", "email", "entries", "amount", "reason", "status"}
    for template, operations in doc.get("paths", {}).items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", "/api/v1" + template) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            text = json.dumps(operations[method.lower()].get("requestBody", {}))
            names |= set(re.findall(r'"([a-z_]+)": \{"(?:type|\$ref|enum|format|oneOf|anyOf|description)', text))
    return sorted(names)


@pytest.mark.parametrize("role", ["panel", "staff"])
def test_no_unsafe_api_route_answers_hostile_json_with_a_500(app, client, api_key, role):
    headers = {"Authorization": f"Bearer {api_key(role)}"}
    failures = []
    doc = client.get("/api/v1/openapi.json").get_json()
    routes = [(m, p, documented_fields(doc, m, p)) for m, p in unsafe_routes(app)]
    assert len(routes) > 10
    for method, path, fields in routes:
        for body, content_type in bodies(fields):
            started = time.monotonic()
            response = client.open(path, method=method, data=body.encode("utf-8", "surrogatepass"),
                                   headers={**headers, "Content-Type": content_type})
            if time.monotonic() - started > 5:  # hostile input must not cost seconds of work either
                failures.append((method, path, body[:120], "slow", round(time.monotonic() - started, 1)))
            if response.status_code >= 500:
                failures.append((method, path, body[:120], response.status_code))
                continue
            if response.status_code >= 400:
                error = (response.get_json(silent=True) or {}).get("error")
                if not (isinstance(error, dict) and error.get("code") and error.get("message")):
                    failures.append((method, path, body[:120], response.status_code, response.data[:200]))
    assert not failures, failures[:20]
    assert client.get("/api/v1/openapi.json").status_code == 200  # the app still answers
