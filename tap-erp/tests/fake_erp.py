"""An in-memory ERP behind a fake ``requests`` session, for unit tests.

It follows the sandbox API's rules: rows ordered by (ModifiedOn, key), live data
(no snapshot), ``modified_since`` (>=) / ``modified_before`` (<), three paging
styles, envelopes under ``value``. Tests mutate rows between requests.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
from urllib.parse import parse_qs, urlencode, urlparse

import orjson

from . import wire_dialects

UTC = dt.UTC
KEYS = {
    "customers": ("CustomerKey",),
    "inventory": ("ItemKey", "WhsCode"),
    "sales_order_lines": ("LineKey",),
}
PATHS = {
    "customers": "customers",
    "inventory": "inventory",
    "sales-order-lines": "sales_order_lines",
}


class FakeResponse:
    def __init__(self, status, body=None, *, headers=None, content=None, url=""):
        self.status_code = status
        self.headers = headers or {}
        self.content = content if content is not None else orjson.dumps(body)
        self.url = url
        self.reason = ""

    @property
    def text(self):
        return self.content.decode("utf-8", "replace")

    def iter_content(self, chunk_size):
        for start in range(0, len(self.content), chunk_size):
            yield self.content[start : start + chunk_size]

    def close(self):
        self.closed = True


def ts(base: dt.datetime, seconds: float) -> dt.datetime:
    return base + dt.timedelta(seconds=seconds)


class FakeERP:
    """Fake session + data. ``tables[entity]`` maps key -> row (with ``_ts``)."""

    BASE = "http://erp.test/acme"

    def __init__(self, *, style="offset", tz_hours=2, auth=("api_key", "secret-key-1")):
        self.style = style
        self.tz = dt.timezone(dt.timedelta(hours=tz_hours))
        self.auth = auth
        self.tables: dict[str, dict] = {name: {} for name in KEYS}
        self.log: list[tuple[str, str, dict]] = []
        self.bodies: list = []
        self.data_requests = 0
        self.hooks: list = []  # callables(fake, n) run before answering data request n
        self.faults: list = []  # queued FakeResponse or exception for data requests
        self.tombstones: list[dict] | None = []  # rows at {entity}/$deleted (None: 404)
        self.valid_tokens: set[str] = set()
        self.token_counter = itertools.count(1)
        self.token_ttl = 300
        self.metadata_status = 200
        self.clock = dt.datetime(2026, 1, 1, tzinfo=UTC)

    # data

    def add(self, entity, key, when, **fields):
        names = KEYS[entity]
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(names, key, strict=True))
        row.update(fields)
        row["_ts"] = when
        self.tables[entity][key] = row

    def touch(self, entity, key, when, **fields):
        key = key if isinstance(key, tuple) else (key,)
        row = self.tables[entity][key]
        row.update(fields)
        row["_ts"] = when

    def ordered(self, entity):
        rows = list(self.tables[entity].values())
        if entity == "inventory":
            return sorted(rows, key=lambda r: (r["ItemKey"], r["WhsCode"]))
        names = KEYS[entity]
        return sorted(rows, key=lambda r: (r["_ts"], *(r[n] for n in names)))

    def render(self, row):
        out = {k: v for k, v in row.items() if k != "_ts"}
        out["ModifiedOn"] = row["_ts"].astimezone(self.tz).isoformat(timespec="microseconds")
        return out

    # transport

    def close(self):
        pass

    def _authorized(self, headers):
        kind, secret = self.auth
        if kind == "api_key":
            return headers.get("X-API-Key") == secret
        if kind == "bearer":
            return headers.get("Authorization") == f"Bearer {secret}"
        if kind == "basic":
            expected = base64.b64encode(secret.encode()).decode()
            return headers.get("Authorization") == f"Basic {expected}"
        if kind == "oauth2":
            value = headers.get("Authorization", "")
            return value.startswith("Bearer ") and value[7:] in self.valid_tokens
        return False

    def request(
        self,
        method,
        url,
        params=None,
        data=None,
        headers=None,
        timeout=None,
        verify=None,
        stream=False,
    ):
        headers = headers or {}
        parsed = urlparse(url)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        query.update({k: str(v) for k, v in (params or {}).items()})
        path = parsed.path
        self.log.append((method, path, dict(query)))
        if data and isinstance(data, bytes):
            self.bodies.append(orjson.loads(data))
        if path.endswith("/oauth/token"):
            return self._token(data or {})
        self.data_requests += 1
        for hook in self.hooks:
            hook(self, self.data_requests)
        if self.faults:
            fault = self.faults.pop(0)
            if isinstance(fault, BaseException):
                raise fault
            return fault
        if not self._authorized(headers):
            return FakeResponse(
                401, {"error": {"code": "unauthorized", "message": "bad credentials"}}
            )
        if self.style in wire_dialects.PROFILES:
            return wire_dialects.answer(self, method, url, params, data, headers)
        if path.endswith("/$metadata"):
            if self.metadata_status != 200:
                return FakeResponse(self.metadata_status, {"error": {"message": "no metadata"}})
            return FakeResponse(200, self.metadata())
        if path.endswith("/$deleted"):
            if self.tombstones is None:
                return FakeResponse(404, {"error": {"message": "no such entity set"}})
            return FakeResponse(200, {"value": self.tombstones})
        entity = PATHS[path.rsplit("/", 1)[-1]]
        return self._list(entity, query, url)

    def _token(self, data):
        _, secret = self.auth
        if data.get("client_id") != "cid" or data.get("client_secret") != secret:
            return FakeResponse(401, {"error": "invalid_client"})
        token = f"tok{next(self.token_counter)}"
        self.valid_tokens.add(token)
        return FakeResponse(
            200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl}
        )

    def metadata(self):
        def f(name, kind, **extra):
            return {"name": name, "type": kind, "nullable": False, "custom": False, **extra}

        return {
            "entities": {
                "customers": {
                    "path": "customers",
                    "fields": [
                        f("CustomerKey", "integer"),
                        f("ModifiedOn", "datetime"),
                        {"name": "U_Segment", "type": "string", "nullable": True, "custom": True},
                        {
                            "name": "U_Weight",
                            "type": "decimal",
                            "scale": 3,
                            "nullable": True,
                            "custom": True,
                        },
                    ],
                }
            }
        }

    def _list(self, entity, query, url):
        rows = self.ordered(entity)
        since = query.pop("modified_since", None)
        before = query.pop("modified_before", None)
        cursor = query.pop("cursor", None)
        if cursor:
            state = orjson.loads(base64.urlsafe_b64decode(cursor))
            since, before, limit = state["since"], state["before"], state["limit"]
            last = (dt.datetime.fromisoformat(state["ts"]), tuple(state["key"]))
        else:
            last = None
        if since:
            s = dt.datetime.fromisoformat(since)
            rows = [r for r in rows if r["_ts"] >= s]
        if before:
            b = dt.datetime.fromisoformat(before)
            rows = [r for r in rows if r["_ts"] < b]
        names = KEYS[entity]
        if self.style == "offset":
            if "page" in query or "cursor" in query:
                return FakeResponse(400, {"error": {"message": "offset style"}})
            offset, limit = int(query["offset"]), int(query["limit"])
            return FakeResponse(
                200, {"value": [self.render(r) for r in rows[offset : offset + limit]]}
            )
        if self.style == "page":
            page, size = int(query["page"]), int(query["page_size"])
            chunk = rows[(page - 1) * size : page * size]
            return FakeResponse(
                200,
                {
                    "value": [self.render(r) for r in chunk],
                    "page": page,
                    "has_more": page * size < len(rows),
                },
            )
        if not cursor:
            limit = int(query["limit"])
        if last is not None:
            rows = [r for r in rows if (r["_ts"], tuple(r[n] for n in names)) > last]
        chunk = rows[:limit]
        nxt = None
        if len(rows) > limit:
            tail = chunk[-1]
            token = base64.urlsafe_b64encode(
                orjson.dumps(
                    {
                        "since": since,
                        "before": before,
                        "limit": limit,
                        "ts": tail["_ts"].isoformat(),
                        "key": [tail[n] for n in names],
                    }
                )
            ).decode()
            nxt = f"{self.BASE}/api/v1/{url.rsplit('/', 1)[-1].split('?')[0]}?" + urlencode(
                {"cursor": token}
            )
        return FakeResponse(200, {"value": [self.render(r) for r in chunk], "next": nxt})
