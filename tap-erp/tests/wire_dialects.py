"""Wire dialects for the fake ERP: the same live table served the way other ERPs do.

Each dialect is a profile (YAML, in the dialect language) and an answer function
that reads the request as that ERP would: OData-style `$filter` with server-driven
next links, JSON-RPC bodies with naive timestamps of whole seconds, `Link` headers,
cursor tokens, top-level lists. The scenarios of `test_dialect_engine.py` run on
every one of them.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from urllib.parse import parse_qs, urlencode, urlparse

import orjson

from . import fake_erp

UTC = dt.UTC
SCHEMAS = "SCHEMAS"  # replaced by the sandbox schema folder when written

COMMON = """
page_size: {default: 10, max: 100}
auth:
  default: api_key
  methods:
    api_key: {type: api_key, header: X-API-Key}
errors: {message_paths: [error.message, error]}
"""

PROFILES: dict[str, str] = {
    # OData v4 style: $filter expression built from optional parts, server-driven
    # paging with relative next links, page size in a Prefer header.
    "odata": """
name: fake_odata
defaults:
  records: value
  decoders: [odata]
  request:
    headers: {Prefer: "odata.maxpagesize={limit}"}
    query:
      $filter: {$join: ["ModifiedOn ge {since}", "ModifiedOn lt {before}"], $sep: " and "}
      $orderby: ModifiedOn asc,CustomerKey asc
default_paginator: server
paginators:
  server: {type: next_link, next: "@odata.nextLink"}
streams:
  customers:
    request: {path: odata/Customers}
    primary_keys: [CustomerKey]
    replication_key: ModifiedOn
""",
    # JSON-RPC style: one POST endpoint, domain + offset/limit in the body, rows
    # under result.records, naive UTC timestamps, filters in whole seconds.
    "rpc": """
name: fake_rpc
defaults:
  records: result.records
  decoders: [naive_timestamps, false_as_null]
  request:
    method: POST
    path: jsonrpc
default_paginator: offset
paginators:
  offset: {type: offset}
streams:
  customers:
    request:
      body:
        method: search_read
        params:
          model: customers
          domain:
            - ["ModifiedOn", ">=", "{since:naive_utc_seconds}"]
            - ["ModifiedOn", "<", "{before:naive_utc_seconds}"]
          offset: "{offset}"
          limit: "{limit}"
          order: ModifiedOn asc, CustomerKey asc
    primary_keys: [CustomerKey]
    replication_key: ModifiedOn
""",
    # Link header paging; the rows are the body itself (a top-level list).
    "link": """
name: fake_link
defaults:
  records: $
  request:
    query: {since: "{since:epoch_ms}", before: "{before:epoch_ms}"}
default_paginator: links
paginators:
  links: {type: next_link, link_header: true, query: {per_page: "{limit}"}}
streams:
  customers:
    request: {path: v2/customers}
    primary_keys: [CustomerKey]
    replication_key: ModifiedOn
""",
    # Opaque cursor tokens in the body, sent back as a query parameter.
    "token": """
name: fake_token
defaults:
  records: data
  request:
    query: {updated_since: "{since:iso_millis}", updated_before: "{before:iso_millis}"}
default_paginator: token
paginators:
  token: {type: cursor, cursor: meta.next_token, query: {after: "{cursor}", size: "{limit}"}}
streams:
  customers:
    request: {path: v3/customers}
    primary_keys: [CustomerKey]
    replication_key: ModifiedOn
""",
}


def profile_text(name: str, schemas_dir: str) -> str:
    """The profile of dialect `name`, with its schema folder."""
    return PROFILES[name] + COMMON + f"schemas_dir: {json.dumps(schemas_dir)}\n"


def _token(ts: dt.datetime, key: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([ts.isoformat(), key])).decode()


def _after(rows, token: str):
    ts_text, key = orjson.loads(base64.urlsafe_b64decode(token))
    last = (dt.datetime.fromisoformat(ts_text), key)
    return [r for r in rows if (r["_ts"], r["CustomerKey"]) > last]


def _page_after(fake, rows, size):
    """Rows after a keyset position, and the position after the page (if more)."""
    chunk = rows[:size]
    more = len(rows) > size
    return chunk, (_token(chunk[-1]["_ts"], chunk[-1]["CustomerKey"]) if more else None)


def answer(fake, method, url, params, body, headers) -> fake_erp.FakeResponse:
    """Answer a data request in the fake's current wire dialect."""
    parsed = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    query.update({k: v if isinstance(v, list) else str(v) for k, v in (params or {}).items()})
    rows = fake.ordered("customers")
    dialect = fake.style
    if dialect == "odata":
        expr = query.get("$filter", "")
        for field, op, value in re.findall(r"(\w+) (ge|lt) (\S+)", expr):
            bound = dt.datetime.fromisoformat(value)
            rows = [r for r in rows if (r["_ts"] >= bound if op == "ge" else r["_ts"] < bound)]
            assert field == "ModifiedOn"
        if "$skiptoken" in query:
            rows = _after(rows, query["$skiptoken"])
        size = int(headers.get("Prefer", "odata.maxpagesize=1000").split("=")[1])
        chunk, token = _page_after(fake, rows, size)
        out = {"value": [{"@odata.etag": "W/1", **fake.render(r)} for r in chunk]}
        if token:
            keep = {k: v for k, v in query.items() if k != "$skiptoken"}
            out["@odata.nextLink"] = "Customers?" + urlencode({**keep, "$skiptoken": token})
        return fake_erp.FakeResponse(200, out)
    if dialect == "rpc":
        assert method == "POST"
        call = orjson.loads(body)
        assert call["method"] == "search_read"
        p = call["params"]
        for field, op, value in p["domain"]:
            if not re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", value):
                return fake_erp.FakeResponse(400, {"error": {"message": f"bad datetime {value!r}"}})
            bound = dt.datetime.fromisoformat(value).replace(tzinfo=UTC)
            assert field == "ModifiedOn"
            rows = [r for r in rows if (r["_ts"] >= bound if op == ">=" else r["_ts"] < bound)]
        chunk = rows[p["offset"] : p["offset"] + p["limit"]]
        records = []
        for r in chunk:
            rendered = fake.render(r)
            rendered["ModifiedOn"] = r["_ts"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            rendered["EmailAddress"] = False
            records.append(rendered)
        return fake_erp.FakeResponse(200, {"jsonrpc": "2.0", "result": {"records": records}})
    if dialect == "link":
        if "since" in query:
            bound = dt.datetime.fromtimestamp(int(query["since"]) / 1000, UTC)
            rows = [r for r in rows if r["_ts"] >= bound]
        if "before" in query:
            bound = dt.datetime.fromtimestamp(int(query["before"]) / 1000, UTC)
            rows = [r for r in rows if r["_ts"] < bound]
        if "page_after" in query:
            rows = _after(rows, query["page_after"])
        chunk, token = _page_after(fake, rows, int(query["per_page"]))
        link = {}
        if token:
            keep = {k: v for k, v in query.items() if k != "page_after"}
            nxt = f"{fake.BASE}/v2/customers?" + urlencode({**keep, "page_after": token})
            link = {"Link": f'<{nxt}>; rel="next", <{fake.BASE}/v2/customers>; rel="first"'}
        return fake_erp.FakeResponse(200, [fake.render(r) for r in chunk], headers=link)
    if dialect == "token":
        for name, keep_if in (("updated_since", "ge"), ("updated_before", "lt")):
            if name in query:
                bound = dt.datetime.fromisoformat(query[name])
                rows = [r for r in rows if (r["_ts"] >= bound) == (keep_if == "ge")]
        if "after" in query:
            rows = _after(rows, query["after"])
        chunk, token = _page_after(fake, rows, int(query["size"]))
        return fake_erp.FakeResponse(
            200, {"data": [fake.render(r) for r in chunk], "meta": {"next_token": token}}
        )
    msg = f"unknown dialect {dialect}"
    raise AssertionError(msg)
