"""Shapes of the dialect language beyond one list per request (fake HTTP): rows per
parent row (stock per warehouse, the parent's key added), rows nested in their
parent document, login with a token in headers."""

from __future__ import annotations

import base64
import json

import orjson
import pytest
from tap_erp import http as http_mod
from tap_erp.profiles import SCHEMAS_DIR

from .conftest import select_only
from .fake_erp import FakeResponse

PROFILE = """
name: shapes
schemas_dir: {schemas}
page_size: {{default: 2, max: 10}}
settings:
  company: {{kind: integer, description: Company id, required: true}}
  db: {{description: Database name, default: shop}}
defaults:
  records: $
default_paginator: offset
paginators:
  offset: {{type: offset, query: {{offset: "{{offset}}", limit: "{{limit}}"}}}}
  single: {{type: single}}
auth:
  default: login
  methods:
    login:
      type: login
      request:
        path: "{{config.db}}/login"
        body: {{user: "{{config.username}}", password: "{{config.password}}"}}
      token: result.session
      headers: {{Authorization: "Session {{token}}"}}
streams:
  inventory:
    request:
      path: stock
      headers:
        X-Context: {{$base64url: {{company: "{{config.company}}", locations: ["{{parent.id}}"]}}}}
    primary_keys: [ItemKey]
    parent:
      request: {{path: warehouses}}
      paginator: single
      fields: {{WhsCode: code}}
  customers:
    request: {{path: parties, query: {{f: "{{fields}}"}}}}
    paginator: single
    primary_keys: [CustomerKey]
    derive: {{CardCode: "addresses[0].country.code", EmailAddress: "contact.email"}}
    constants: {{CreditLimit: 0, Phone1: null}}
  sales_order_lines:
    paginator: single
    records: {{path: value, each: lines, inherit: {{DocEntry: id, ModifiedOn: changed}}}}
    primary_keys: [LineKey]
    replication_key: ModifiedOn
    request: {{path: orders, query: {{expand: lines, since: "{{since}}"}}}}
"""

WAREHOUSES = [{"id": 1, "code": "WH1"}, {"id": 2, "code": "WH2"}]
STOCK = {
    1: [{"ItemKey": k, "OnHand": k * 1.5} for k in range(1, 6)],
    2: [{"ItemKey": 9, "OnHand": 2}],
}
PARTIES = [
    {"CustomerKey": 1, "addresses": [{"country": {"code": "DE"}}], "contact": {"email": "a@x"}},
    {"CustomerKey": 2, "addresses": [], "contact": None},
]
ORDERS = [
    {"id": 10, "changed": "2025-01-01T00:00:00Z", "lines": [{"LineKey": 100}, {"LineKey": 101}]},
    {"id": 11, "changed": "2025-01-02T00:00:00Z", "lines": []},
    {"id": 12, "changed": "2025-01-03T00:00:00Z", "lines": [{"LineKey": 120}]},
]


class Shapes:
    """A fake session speaking the profile above."""

    def __init__(self):
        self.logins = 0
        self.log = []

    def close(self):
        pass

    def request(self, method, url, params=None, data=None, headers=None, **_):
        path = url.rsplit("/", 1)[-1]
        self.log.append((method, path, dict(params or {}), dict(headers or {})))
        if path == "login":
            assert url.endswith("/shop/login")
            body = orjson.loads(data)
            if body != {"user": "u", "password": "p"}:
                return FakeResponse(401, {"error": "bad login"})
            self.logins += 1
            return FakeResponse(200, {"result": {"session": f"s{self.logins}"}})
        if headers.get("Authorization") != f"Session s{self.logins}":
            return FakeResponse(401, {"error": "no session"})
        if path == "warehouses":
            return FakeResponse(200, WAREHOUSES)
        if path == "stock":
            context = json.loads(base64.urlsafe_b64decode(headers["X-Context"]))
            assert context["company"] == 3
            rows = STOCK[context["locations"][0]]
            offset, limit = int(params["offset"]), int(params["limit"])
            return FakeResponse(200, rows[offset : offset + limit])
        if path == "parties":
            return FakeResponse(200, PARTIES)
        if path == "orders":
            since = params.get("since")
            rows = [o for o in ORDERS if since is None or o["changed"] >= since[:19] + "Z"]
            return FakeResponse(200, {"value": orjson.loads(orjson.dumps(rows))})
        return FakeResponse(404, {"error": "no route"})


@pytest.fixture
def shapes(monkeypatch, tmp_path):
    fake = Shapes()
    monkeypatch.setattr(http_mod.requests, "Session", lambda: fake)
    path = tmp_path / "shapes.yaml"
    path.write_text(PROFILE.format(schemas=json.dumps(str(SCHEMAS_DIR / "erp_sandbox"))))
    config = {
        "base_url": "http://erp.test",
        "profile": str(path),
        "username": "u",
        "password": "p",
        "company": 3,
    }
    return fake, config


def test_rows_per_parent_row_carry_the_parent_key(shapes):
    fake, config = shapes
    run = select_only(config, fake, {"inventory"})
    rows = [(r["ItemKey"], r["WhsCode"], r["OnHand"]) for r in run.records("inventory")]
    assert rows == [(k, "WH1", k * 1.5) for k in range(1, 6)] + [(9, "WH2", 2)]
    schema = next(m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == "inventory")
    assert schema["key_properties"] == ["ItemKey", "WhsCode"]
    assert fake.logins == 1


def test_rows_nested_in_their_parent_document_inherit_its_fields(shapes):
    fake, config = shapes
    run = select_only(config, fake, {"sales_order_lines"})
    rows = [
        (r["LineKey"], r["DocEntry"], r["ModifiedOn"]) for r in run.records("sales_order_lines")
    ]
    assert rows == [
        (100, 10, "2025-01-01T00:00:00.000000Z"),
        (101, 10, "2025-01-01T00:00:00.000000Z"),
        (120, 12, "2025-01-03T00:00:00.000000Z"),
    ]
    again = select_only(config, fake, {"sales_order_lines"}, state=run.final_state)
    assert again.records("sales_order_lines") == []


def test_an_expired_session_logs_in_again(shapes):
    fake, config = shapes
    original = fake.request
    calls = []

    def expiring(method, url, **kwargs):
        calls.append(url)
        if len(calls) == 3:
            fake.logins += 1  # the server forgot the session
        return original(method, url, **kwargs)

    fake.request = expiring
    run = select_only(config, fake, {"inventory"})
    assert len(run.records("inventory")) == 6
    assert fake.logins == 3


def test_a_required_profile_setting_is_named(shapes):
    from singer_sdk.exceptions import ConfigValidationError
    from tap_erp.tap import build_runtime

    _, config = shapes
    del config["company"]
    with pytest.raises(
        ConfigValidationError, match="setting 'company': required by profile 'shapes'"
    ):
        build_runtime(config)


def test_derived_fields_are_read_from_paths_and_asked_for_by_path(shapes):
    fake, config = shapes
    run = select_only(config, fake, {"customers"})
    rows = [(r["CustomerKey"], r["CardCode"], r["EmailAddress"]) for r in run.records("customers")]
    assert rows == [(1, "DE", "a@x"), (2, None, None)]
    assert {(r["CreditLimit"], r["Phone1"]) for r in run.records("customers")} == {(0, None)}
    assert all("addresses" not in r and "contact" not in r for r in run.records("customers"))
    (asked,) = [params["f"] for _, path, params, _ in fake.log if path == "parties"]
    assert "addresses.country.code" in asked
    assert "contact.email" in asked
    assert "CardCode" not in asked
    assert "CreditLimit" not in asked
    assert "CustomerKey" in asked


def test_profile_settings_given_as_text_are_read_as_their_kind(shapes):
    from singer_sdk.exceptions import ConfigValidationError
    from tap_erp.tap import build_runtime

    _, config = shapes
    assert build_runtime({**config, "company": "3"}).config["company"] == 3
    with pytest.raises(
        ConfigValidationError, match="setting 'company': 'three' is not a valid integer"
    ):
        build_runtime({**config, "company": "three"})
