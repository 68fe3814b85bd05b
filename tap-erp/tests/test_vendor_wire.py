"""The requests the erpnext, odoo and odoo_json2 profiles send, checked against the
examples of the vendors' own documentation (fake HTTP answering as those documents
show): exact paths, query parameters, JSON bodies, headers and envelopes. The sandbox
tenants speak these dialects too, but a test against our own server can only prove
that the tap and the sandbox agree; these pin both to the vendors' words.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import orjson
import pytest
from tap_erp import http as http_mod

from .conftest import select_only
from .fake_erp import FakeResponse

BASE = "https://erp.example.com"
BOOKMARK = "2026-03-05T10:10:11.123456Z"  # a Thursday in winter: Berlin is UTC+1


@dataclasses.dataclass
class Sent:
    """One request as the tap sent it."""

    method: str
    path: str
    params: dict
    body: object
    headers: dict


class Recorder:
    """A fake session: keeps every request, answers with `answer(request)`."""

    def __init__(self, answer: Callable[[Sent], tuple[int, object]]) -> None:
        self.answer = answer
        self.sent: list[Sent] = []

    def close(self) -> None:
        pass

    def request(self, method, url, params=None, data=None, headers=None, **_):
        body = orjson.loads(data) if data else None
        query = {k: str(v) for k, v in (params or {}).items()}  # as requests writes them
        sent = Sent(method, unquote(urlsplit(url).path), query, body, headers)
        self.sent.append(sent)
        status, answer = self.answer(sent)
        return FakeResponse(status, answer, url=url)


def run(monkeypatch, answer, config: dict, state: dict | None = None):
    """Sync the customers stream through a Recorder; the requests and the records."""
    recorder = Recorder(answer)
    monkeypatch.setattr(http_mod.requests, "Session", lambda: recorder)
    monkeypatch.setattr(http_mod.time, "sleep", lambda seconds: None)
    result = select_only(
        {"base_url": BASE, "page_size": 50, **config}, recorder, {"customers"}, state=state
    )
    return recorder.sent, result.records("customers")


def bookmarked(stream: str, replication_key: str) -> dict:
    bookmark = {"replication_key": replication_key, "replication_key_value": BOOKMARK}
    return {"bookmarks": {stream: bookmark}}


# -- ERPNext / Frappe ------------------------------------------------------------------

#: https://docs.frappe.io/framework/user/en/guides/integration/rest_api/listing_documents:
#: `GET /api/resource/Person/?fields=["name","first_name"]` answers {"data": [...]}.
FRAPPE_ROWS = {
    "data": [
        {
            "name": "CUST-0001",
            "customer_name": "ABC Pharma",
            "disabled": 0,
            "creation": "2026-03-01 09:00:00.000001",
            "modified": "2026-03-05 11:10:11.123456",
            "custom_tier": "Gold",
        }
    ]
}
FRAPPE_META = {
    "docs": [
        {
            "name": "Customer",
            "fields": [
                {"fieldname": "customer_name", "fieldtype": "Data"},
                {"fieldname": "custom_tier", "fieldtype": "Data", "is_custom_field": 1},
            ],
        }
    ]
}


def frappe(sent: Sent) -> tuple[int, object]:
    if sent.path == "/api/method/frappe.desk.form.load.getdoctype":
        return 200, FRAPPE_META
    if sent.path == "/api/resource/Deleted Document":
        return 200, {"data": []}  # nothing deleted
    return 200, FRAPPE_ROWS


FRAPPE_CONFIG = {
    "profile": "erpnext",
    "bearer_token": "api_key:api_secret",
    "site_timezone": "Europe/Berlin",
}


def test_frappe_token_auth_is_the_documented_header(monkeypatch):
    """https://docs.frappe.io/framework/user/en/api/rest: "Pass the string
    `token api_key:api_secret` to the Authorization header"."""
    sent, _ = run(monkeypatch, frappe, FRAPPE_CONFIG)
    assert sent
    assert {s.headers["Authorization"] for s in sent} == {"token api_key:api_secret"}


def test_frappe_listing_is_the_documented_get_with_json_parameters(monkeypatch):
    """https://docs.frappe.io/framework/user/en/guides/integration/rest_api/listing_documents:
    `GET /api/resource/{doctype}`, `fields` a JSON array of field names, `filters` a JSON
    array of conditions, pages by `limit_start` and `limit_page_length`; the rows under
    `data`. Ordered by `order_by` (SQL: field and direction)."""
    sent, records = run(monkeypatch, frappe, FRAPPE_CONFIG)
    (listing,) = [s for s in sent if s.path == "/api/resource/Customer"]
    assert listing.method == "GET"
    fields = json.loads(listing.params["fields"])
    assert {"name", "modified", "customer_name", "custom_tier"} <= set(fields)
    assert all(isinstance(f, str) for f in fields)
    assert json.loads(listing.params.get("filters", "[]")) == []  # no bookmark yet
    assert listing.params["order_by"] == "modified asc, name asc"
    assert (listing.params["limit_start"], listing.params["limit_page_length"]) == ("0", "50")
    assert records[0]["name"] == "CUST-0001"
    assert records[0]["custom_tier"] == "Gold"  # a custom field from the doctype meta
    assert records[0]["disabled"] is False  # a Check field's 0
    assert records[0]["modified"] == BOOKMARK  # site time (UTC+1) read as UTC


def test_frappe_changed_since_is_a_naive_site_time_filter(monkeypatch):
    """Same page: each condition is `[field, operator, value]`; Frappe stores datetimes
    naive in the site's time zone (System Settings), so the bound is written so."""
    sent, _ = run(monkeypatch, frappe, FRAPPE_CONFIG, state=bookmarked("customers", "modified"))
    (listing,) = [s for s in sent if s.path == "/api/resource/Customer"]
    assert json.loads(listing.params["filters"]) == [
        ["modified", ">=", "2026-03-05 11:10:11.123456"]
    ]


def test_frappe_doctype_meta_is_asked_for_by_name(monkeypatch):
    """Frappe's desk method `frappe.desk.form.load.getdoctype?doctype=<DocType>`, called
    like every whitelisted method: `GET /api/method/<dotted path>` (REST API page,
    "Remote Method Calls")."""
    sent, _ = run(monkeypatch, frappe, FRAPPE_CONFIG)
    meta = [s for s in sent if s.path == "/api/method/frappe.desk.form.load.getdoctype"]
    assert {s.method for s in meta} == {"GET"}
    assert {"doctype": "Customer"} in [s.params for s in meta]


# -- Odoo: external JSON-RPC API -------------------------------------------------------

DB, LOGIN, KEY, UID = "mycompany", "api@mycompany.example", "6578616d706c65206b6579", 7
#: Rows as search_read answers them (`false` for empty values, many2one `[id, name]`).
ODOO_ROWS = [
    {
        "id": 25,
        "name": "Deco Addict",
        "ref": False,
        "email": "deco.addict82@example.com",
        "phone": False,
        "city": "Pleasant Hill",
        "country_code": "US",
        "property_payment_term_id": [2, "15 Days"],
        "credit_limit": 0.0,
        "active": True,
        "create_date": "2026-03-01 08:00:00",
        "write_date": "2026-03-05 10:30:00",
        "x_tier": False,
    }
]
ODOO_FIELDS = {
    "name": {"type": "char", "string": "Name"},
    "x_tier": {"type": "char", "string": "Tier"},
}


def odoo_jsonrpc(sent: Sent) -> tuple[int, object]:
    params = sent.body["params"]
    if params["service"] == "common":
        result: object = UID
    elif params["args"][4] == "fields_get":
        result = ODOO_FIELDS
    else:
        result = ODOO_ROWS
    return 200, {"jsonrpc": "2.0", "id": sent.body["id"], "result": result}


ODOO_CONFIG = {"profile": "odoo", "database": DB, "username": LOGIN, "password": KEY}


def test_odoo_login_is_common_authenticate_in_a_json_rpc_call(monkeypatch):
    """https://www.odoo.com/documentation/18.0/developer/reference/external_api.html
    ("Logging in": `uid = common.authenticate(db, username, password, {})`) over the
    JSON-RPC envelope of
    https://www.odoo.com/documentation/17.0/developer/howtos/web_services.html
    ("JSON-RPC Library": POST `/jsonrpc`, `{"jsonrpc": "2.0", "method": "call",
    "params": {"service", "method", "args"}, "id"}`)."""
    sent, _ = run(monkeypatch, odoo_jsonrpc, ODOO_CONFIG)
    login = sent[0]
    assert (login.method, login.path) == ("POST", "/jsonrpc")
    assert login.headers["Content-Type"] == "application/json"
    assert login.body["jsonrpc"] == "2.0" and login.body["method"] == "call"
    assert "id" in login.body
    assert login.body["params"] == {
        "service": "common",
        "method": "authenticate",
        "args": [DB, LOGIN, KEY, {}],
    }


def test_odoo_search_read_is_execute_kw_with_positional_domain_and_keywords(monkeypatch):
    """Same reference ("Calling methods"): `execute_kw(db, uid, password, model, method,
    [positional args], {keyword args})`; "Search and read": `search_read` with the
    domain by position and `fields`, and `offset`/`limit` ("Pagination") by keyword.
    Domains are lists of `[field, operator, value]`; `order` is SQL-like."""
    sent, records = run(
        monkeypatch, odoo_jsonrpc, ODOO_CONFIG, state=bookmarked("customers", "write_date")
    )
    (call,) = [s for s in sent if s.body["params"]["args"][4:5] == ["search_read"]]
    params = call.body["params"]
    assert (call.path, params["service"], params["method"]) == ("/jsonrpc", "object", "execute_kw")
    db, uid, key, model, method, positional, keywords = params["args"]
    assert (db, uid, key, model, method) == (DB, UID, KEY, "res.partner", "search_read")
    (domain,) = positional
    assert ["write_date", ">=", "2026-03-05 10:10:11"] in domain  # naive UTC, to the second
    assert all(isinstance(leaf, list) and len(leaf) == 3 for leaf in domain)
    assert set(keywords) == {"fields", "offset", "limit", "order"}
    assert {"id", "write_date", "x_tier"} <= set(keywords["fields"])
    assert (keywords["offset"], keywords["limit"]) == (0, 50)
    assert keywords["order"] == "write_date asc, id asc"
    (row,) = records
    assert row["ref"] is None and row["x_tier"] is None  # `false` is null
    assert row["payment_terms"] == "15 Days"  # from the many2one pair
    assert row["write_date"] == "2026-03-05T10:30:00.000000Z"


def test_odoo_custom_fields_come_from_fields_get(monkeypatch):
    """Same reference ("List record fields": `fields_get` with `attributes`)."""
    sent, _ = run(monkeypatch, odoo_jsonrpc, ODOO_CONFIG)
    calls = [s.body["params"]["args"] for s in sent if s.body["params"]["service"] == "object"]
    (args,) = [a for a in calls if a[3:5] == ["res.partner", "fields_get"]][:1]
    assert args[:5] == [DB, UID, KEY, "res.partner", "fields_get"]
    assert args[5] == [] and set(args[6]) == {"attributes"}


# -- Odoo: JSON-2 API (Odoo 19) --------------------------------------------------------


def odoo_json2(sent: Sent) -> tuple[int, object]:
    if sent.path.endswith("/fields_get"):
        return 200, ODOO_FIELDS
    return 200, ODOO_ROWS  # the method's return value itself


JSON2_CONFIG = {"profile": "odoo_json2", "database": DB, "bearer_token": KEY}


def test_odoo_json2_request_is_the_documented_post(monkeypatch):
    """https://www.odoo.com/documentation/19.0/developer/reference/external_api.html:
    `POST /json/2/res.partner/search_read` with `Authorization: bearer <API key>`,
    `X-Odoo-Database: mycompany`, `Content-Type: application/json` and the method's
    parameters by name in the body (`domain`, `fields`, ...); the answer is the method's
    JSON-serialized return value."""
    sent, records = run(
        monkeypatch, odoo_json2, JSON2_CONFIG, state=bookmarked("customers", "write_date")
    )
    (call,) = [s for s in sent if s.path == "/json/2/res.partner/search_read"]
    assert call.method == "POST"
    assert call.headers["Authorization"] == f"bearer {KEY}"
    assert call.headers["X-Odoo-Database"] == DB
    assert call.headers["Content-Type"] == "application/json"
    assert set(call.body) == {"domain", "fields", "offset", "limit", "order"}
    assert ["write_date", ">=", "2026-03-05 10:10:11"] in call.body["domain"]
    assert (call.body["offset"], call.body["limit"]) == (0, 50)
    assert records[0]["id"] == 25 and records[0]["ref"] is None


def test_odoo_json2_error_is_one_line_with_the_documented_message(monkeypatch):
    """Same page, "Response": errors are 4xx/5xx with `{"name", "message", "arguments",
    "context", "debug"}`, e.g. 401 "Invalid apikey"."""
    error = {
        "name": "werkzeug.exceptions.Unauthorized",
        "message": "Invalid apikey",
        "arguments": ["Invalid apikey", 401],
        "context": {},
        "debug": "Traceback (most recent call last): ...",
    }
    with pytest.raises(Exception, match="Invalid apikey") as caught:
        run(monkeypatch, lambda sent: (401, error), JSON2_CONFIG)
    assert "Traceback" not in str(caught.value)
    assert KEY not in str(caught.value)
