"""The Starlette application: data, token, metadata, admin and health endpoints."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from erp_sandbox.auth import DEFAULT_TOKEN_TTL, TokenStore, authenticate, parse_token_request
from erp_sandbox.dialects import dialect_of
from erp_sandbox.faults import ERROR_CODES, Decision, FaultError, Faults
from erp_sandbox.generator import US, micros_to_iso
from erp_sandbox.odata import admin as odata_admin
from erp_sandbox.odata.handler import (
    Dialect,
    ODataError,
    find_service,
    resolve,
    respond,
    services_of,
)
from erp_sandbox.odata.handler import (
    delete as odata_delete,
)
from erp_sandbox.paging import (
    BadRequestError,
    ListQuery,
    encode_cursor,
    parse_list,
    parse_timestamp,
)
from erp_sandbox.request_log import RequestLog
from erp_sandbox.schema import BY_PATH, ENTITIES, Entity, metadata
from erp_sandbox.store import DELETABLE, ChangeError, TenantStore
from erp_sandbox.tenants import CURSOR, PAGE, Tenant, resolve_tenants

DEFAULT_CLOCK = "2026-01-01T00:00:00Z"
DEFAULT_TENANTS = [
    "acme",
    "globex",
    "initech",
    "contoso",
    "bestrun",
    "kestrel",
    "pelican",
    "bluepeak",
    "heron",
]
JSON = "application/json"
PAGE_CACHE_BYTES = 512 * 1024 * 1024
PREFETCH_MIN_LIMIT = 500
#: Render the next page of a bulk reader ahead of time in a worker thread (opt-in:
#: ERP_SANDBOX_PREFETCH=1); it only pays off when a spare core is idle.
PREFETCH = os.environ.get("ERP_SANDBOX_PREFETCH", "0") == "1"


def parse_clock(text: str) -> int:
    """ISO 8601 clock (offset or Z; naive means UTC) -> epoch microseconds."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    d = dt.astimezone(UTC).replace(tzinfo=None) - datetime(1970, 1, 1)
    return (d.days * 86_400 + d.seconds) * US + d.microseconds


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(obj), status_code=status, headers=headers, media_type=JSON)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"error": {"code": code, "message": message}}, status, headers)


class DropResponse(Response):
    """Sends the headers and part of the body, then lets the connection be cut."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Announce the full length, send half of it and return without finishing."""
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        part = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": part, "more_body": True})
        # Returning before the body is complete makes the server close the socket.


class _QuietIncomplete(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


@dataclass
class TenantState:
    """Everything live about one tenant."""

    tenant: Tenant
    store: TenantStore
    faults: Faults = field(default_factory=Faults)
    tokens: TokenStore = field(default_factory=TokenStore)
    requests: dict[str, int] = field(default_factory=lambda: {"data": 0, "token": 0})


class PageCache:
    """A bounded LRU of rendered page bodies, keyed by query and data version."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.items: OrderedDict[tuple[Any, ...], tuple[bytes, Any, bool]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> tuple[bytes, Any, bool] | None:
        """A cached (rows JSON, last position, has_more), if any."""
        with self.lock:
            hit = self.items.get(key)
            if hit is not None:
                self.items.move_to_end(key)
            return hit

    def put(self, key: tuple[Any, ...], value: tuple[bytes, Any, bool]) -> None:
        """Remember a page, evicting the least recently used ones."""
        if len(value[0]) > self.max_bytes // 4:
            return
        with self.lock:
            old = self.items.pop(key, None)
            if old is not None:
                self.size -= len(old[0])
            self.items[key] = value
            self.size += len(value[0])
            while self.size > self.max_bytes and self.items:
                _, gone = self.items.popitem(last=False)
                self.size -= len(gone[0])

    def clear(self) -> None:
        """Forget everything."""
        with self.lock:
            self.items.clear()
            self.size = 0


class Sandbox:
    """Server-wide state: the configured tenants, resettable to the start.

    A tenant's state is built on first use after a start or reset, so serving
    more tenants costs nothing until they are used.
    """

    def __init__(
        self,
        seed: int,
        orders: int,
        tenants: list[str],
        clock: str,
        cache_bytes: int = PAGE_CACHE_BYTES,
    ) -> None:
        self.seed = seed
        self.orders = orders
        self.tenant_names = tenants
        self.clock_us = parse_clock(clock)
        self.cache = PageCache(cache_bytes)
        self.generation = 0
        self.prefetching: tuple[tuple[Any, ...], asyncio.Future[Any]] | None = None
        self.configs = {t.name: t for t in resolve_tenants(tenants)}
        self.tenants: dict[str, TenantState] = {}
        self.reset()

    def reset(self) -> None:
        """Back to the state at start."""
        self.generation += 1
        self.cache.clear()
        self.tenants = {}

    def state(self, name: str) -> TenantState | None:
        """The live state of a configured tenant (None if not configured)."""
        ts = self.tenants.get(name)
        if ts is None and name in self.configs:
            t = self.configs[name]
            ts = TenantState(t, TenantStore(self.seed, t, self.orders, self.clock_us))
            self.tenants[name] = ts
        return ts


def _tenant(request: Request) -> TenantState:
    sandbox: Sandbox = request.app.state.sandbox
    ts = sandbox.state(request.path_params["tenant"])
    if ts is None:
        raise HTTPException(404, f"unknown tenant {request.path_params['tenant']!r}")
    return ts


def _rest_tenant(request: Request) -> TenantState:
    """A tenant of the sandbox's own REST API (OData tenants answer 404 there)."""
    ts = _tenant(request)
    if ts.tenant.dialect is not None:
        raise HTTPException(
            404, f"tenant {ts.tenant.name!r} serves OData v4 ({ts.tenant.dialect}); see API.md"
        )
    return ts


def _stream(name: str) -> Entity:
    ent = ENTITIES.get(name)
    if ent is None:
        raise HTTPException(404, f"unknown entity {name!r}; known: {', '.join(ENTITIES)}")
    return ent


# -- data endpoints -------------------------------------------------------------------


ErrorFn = Callable[..., Response]


async def _gate(
    request: Request, ts: TenantState, error: ErrorFn = _error
) -> tuple[Response | None, Decision]:
    """Authentication and faults common to every data request."""
    ts.requests["data"] += 1
    failure = authenticate(ts.tenant, request.headers, ts.tokens)
    if failure is not None:
        hdrs = {"WWW-Authenticate": failure.www_authenticate}
        return error(401, "unauthorized", failure.message, hdrs), Decision()
    decision = ts.faults.on_data_request()
    if decision.mutate is not None:
        ts.store.advance(decision.mutate)
    if decision.delay:
        await asyncio.sleep(decision.delay)
    if decision.status == 429:
        ra = decision.retry_after or 0
        hdrs = {"Retry-After": str(int(ra)) if float(ra).is_integer() else str(ra)}
        return error(429, "rate_limited", "too many requests; retry later", hdrs), decision
    if decision.status is not None:
        code = ERROR_CODES.get(decision.status, "error")
        return error(decision.status, code, "injected server error"), decision
    return None, decision


def _deliver(
    body: bytes,
    decision: Decision,
    media_type: str = JSON,
    headers: dict[str, str] | None = None,
) -> Response:
    if decision.drop:
        return DropResponse(body, headers=headers, media_type=media_type)
    if decision.malformed:
        return Response(body[: max(1, len(body) // 2)], headers=headers, media_type=media_type)
    return Response(body, headers=headers, media_type=media_type)


def _page_key(sandbox: Sandbox, ts: TenantState, ent: Entity, q: ListQuery) -> tuple[Any, ...]:
    v = ts.store.data_version
    return (
        sandbox.generation,
        ts.tenant.name,
        ent.stream,
        v,
        q.since,
        q.before,
        q.offset,
        q.after,
        q.limit,
    )


def _render_page(ts: TenantState, ent: Entity, q: ListQuery) -> tuple[bytes, Any, bool]:
    page = ts.store.select(
        ent.stream, since=q.since, before=q.before, offset=q.offset, after=q.after, limit=q.limit
    )
    return orjson.dumps(page.rows), page.last, page.has_more


def _page_rows(
    sandbox: Sandbox, ts: TenantState, ent: Entity, q: ListQuery
) -> tuple[bytes, Any, bool]:
    key = _page_key(sandbox, ts, ent, q)
    hit = sandbox.cache.get(key)
    if hit is not None:
        return hit
    value = _render_page(ts, ent, q)
    sandbox.cache.put(key, value)
    return value


def _prefetch(
    sandbox: Sandbox, ts: TenantState, ent: Entity, q: ListQuery, key: tuple[Any, ...]
) -> None:
    """Render a page into the cache in a worker thread (bulk readers page ahead).

    The store's data_version is odd while an `advance` runs; a page rendered
    while it changed is thrown away, so the cache never holds a stale page.
    """
    try:
        if key[3] % 2 or sandbox.cache.get(key) is not None:
            return
        value = _render_page(ts, ent, q)
        if _page_key(sandbox, ts, ent, q) == key and sandbox.generation == key[0]:
            sandbox.cache.put(key, value)
    except Exception:  # a failed guess is simply not cached
        logging.getLogger(__name__).debug("prefetch failed", exc_info=True)


def _schedule_prefetch(
    sandbox: Sandbox, ts: TenantState, ent: Entity, q: ListQuery, page: tuple[Any, bool]
) -> None:
    last, has_more = page
    if not has_more or q.limit < PREFETCH_MIN_LIMIT or sandbox.prefetching or not PREFETCH:
        return
    if q.after is not None or (q.offset is None and last is not None):
        nq = ListQuery(limit=q.limit, since=q.since, before=q.before, after=last)
    elif q.offset is not None:
        nq = ListQuery(
            limit=q.limit,
            since=q.since,
            before=q.before,
            offset=q.offset + q.limit,
            page=None if q.page is None else q.page + 1,
        )
    else:
        return
    key = _page_key(sandbox, ts, ent, nq)
    fut = asyncio.get_running_loop().run_in_executor(None, _prefetch, sandbox, ts, ent, nq, key)
    sandbox.prefetching = (key, fut)

    def done(_f: asyncio.Future[Any]) -> None:
        if sandbox.prefetching is not None and sandbox.prefetching[1] is fut:
            sandbox.prefetching = None

    fut.add_done_callback(done)


async def list_entity(request: Request) -> Response:
    """GET /{tenant}/api/v1/{entity}."""
    ts = _rest_tenant(request)
    ent = BY_PATH.get(request.path_params["entity"])
    if ent is None:
        raise HTTPException(404, f"unknown entity {request.path_params['entity']!r}")
    refused, decision = await _gate(request, ts)
    if refused is not None:
        return refused
    try:
        q = parse_list(ts.tenant.paging, ent, request.query_params.multi_items())
    except BadRequestError as exc:
        return _error(400, "bad_request", str(exc))
    sandbox: Sandbox = request.app.state.sandbox
    if sandbox.prefetching is not None and sandbox.prefetching[0] == _page_key(sandbox, ts, ent, q):
        await asyncio.shield(sandbox.prefetching[1])  # the page is being rendered already
    rows_json, last, has_more = _page_rows(sandbox, ts, ent, q)
    _schedule_prefetch(sandbox, ts, ent, q, (last, has_more))
    style = ts.tenant.paging
    if style == CURSOR:
        nxt = None
        if has_more and last is not None:
            base = str(request.base_url)
            nxt = f"{base}{ts.tenant.name}/api/v1/{ent.path}?cursor={encode_cursor(ent, q, last)}"
        tail = b',"next":' + orjson.dumps(nxt) + b"}"
    elif style == PAGE:
        tail = b',"page":%d,"has_more":%s}' % (q.page or 1, b"true" if has_more else b"false")
    else:
        tail = b"}"
    return _deliver(b'{"value":' + rows_json + tail, decision)


def _rest_entity(request: Request) -> Entity:
    ent = BY_PATH.get(request.path_params["entity"])
    if ent is None:
        raise HTTPException(404, f"unknown entity {request.path_params['entity']!r}")
    return ent


async def delete_row(request: Request) -> Response:
    """DELETE /{tenant}/api/v1/{entity}/{key}: the row is gone (an order with its lines)."""
    ts = _rest_tenant(request)
    ent = _rest_entity(request)
    refused, _decision = await _gate(request, ts)
    if refused is not None:
        return refused
    key = request.path_params["key"]
    if ent.stream not in DELETABLE:
        return _error(405, "method_not_allowed", f"rows of {ent.path} cannot be deleted")
    if not key.isdigit():
        return _error(400, "bad_request", f"{ent.primary_key[0]} must be an integer")
    try:
        ts.store.delete({ent.stream: [int(key)]})
    except ChangeError as exc:
        return _error(404, "not_found", str(exc))
    return Response(status_code=204)


async def list_deleted(request: Request) -> Response:
    """GET /{tenant}/api/v1/{entity}/$deleted: tombstones (key, DeletedOn), oldest first."""
    ts = _rest_tenant(request)
    ent = _rest_entity(request)
    refused, decision = await _gate(request, ts)
    if refused is not None:
        return refused
    since = None
    for name, value in request.query_params.multi_items():
        if name != "deleted_since":
            return _error(400, "bad_request", f"unknown parameter {name!r}; known: deleted_since")
        try:
            since = parse_timestamp("deleted_since", value)
        except BadRequestError as exc:
            return _error(400, "bad_request", str(exc))
    if ent.stream not in DELETABLE:
        return _error(404, "not_found", f"{ent.path} keeps no deleted rows")
    offset = ts.tenant.utc_offset_minutes
    rows = [
        {ent.primary_key[0]: i + 1, "DeletedOn": micros_to_iso(at, offset)}
        for at, i in ts.store.deletions(ent.stream, since)
    ]
    return _deliver(orjson.dumps({"value": rows}), decision)


async def get_metadata(request: Request) -> Response:
    """GET /{tenant}/api/v1/$metadata."""
    ts = _rest_tenant(request)
    refused, decision = await _gate(request, ts)
    if refused is not None:
        return refused
    return _deliver(orjson.dumps(metadata(ts.tenant)), decision)


async def token(request: Request) -> Response:
    """POST /{tenant}/oauth/token (client credentials)."""
    ts = _rest_tenant(request)
    if not ts.tenant.oauth_clients:
        raise HTTPException(404, f"tenant {ts.tenant.name!r} does not issue OAuth2 tokens")
    ts.requests["token"] += 1
    grant, client_id, secret = parse_token_request(await request.body(), request.headers)
    if grant is None:
        return _json({"error": "invalid_request", "error_description": "grant_type missing"}, 400)
    if grant != "client_credentials":
        return _json({"error": "unsupported_grant_type"}, 400)
    if (client_id, secret) not in ts.tenant.oauth_clients:
        hdrs = {"WWW-Authenticate": f'Basic realm="{ts.tenant.name}"'}
        return _json({"error": "invalid_client"}, 401, hdrs)
    ttl = ts.faults.token_ttl
    ttl = DEFAULT_TOKEN_TTL if ttl is None else ttl
    access = ts.tokens.issue(ttl)
    expires = int(ttl) if float(ttl).is_integer() else ttl
    body = {"access_token": access, "token_type": "Bearer", "expires_in": expires}
    return _json(body, headers={"Cache-Control": "no-store"})


# -- OData tenants -----------------------------------------------------------------


def _odata_error(
    dialect: Dialect, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    body = {"error": {"code": dialect.code(code), "message": message}}
    return _json(body, status, {"OData-Version": "4.0", **(headers or {})})


def _not_served(request: Request) -> None:
    """404, or 405 when another route serves the path with other methods (as without this one)."""
    for route in request.app.router.routes:
        if route.endpoint is not odata and route.matches(request.scope)[0] == Match.PARTIAL:
            raise HTTPException(405, "Method Not Allowed")
    raise HTTPException(404, "Not Found")


async def odata(request: Request) -> Response:
    """Any other path of a tenant: the OData v4 services of tenants in OData mode."""
    ts = _tenant(request)
    dialect = dialect_of(ts.tenant)
    rest = request.path_params["rest"]
    if dialect is None:
        _not_served(request)
    error = partial(dialect.error or _odata_error, dialect)
    if dialect.special is not None:
        answer = await dialect.special(request, ts, rest)
        if answer is not None:
            return answer
    found = find_service(dialect, ts.tenant, rest)
    if found is None:
        return error(404, "not_found", f"no OData service at /{ts.tenant.name}/{rest}")
    if request.method not in ("GET", "HEAD", "DELETE"):
        return error(405, "method_not_allowed", "the sandbox serves reads (GET) and DELETE only")
    refused, decision = await _gate(request, ts, error)
    if refused is not None:
        return refused
    if request.method == "DELETE":
        try:
            odata_delete(ts.store, resolve(*found))
        except ODataError as exc:
            return error(exc.status, exc.code, exc.message)
        return Response(status_code=204, headers={"OData-Version": "4.0"})
    try:
        answer = (dialect.respond or respond)(dialect, ts.store, resolve(*found), request)
    except ODataError as exc:
        return error(exc.status, exc.code, exc.message)
    return _deliver(answer.body, decision, answer.media_type, answer.headers)


# -- admin ---------------------------------------------------------------------


async def health(request: Request) -> Response:
    """GET /_health."""
    return _json({"status": "ok"})


async def admin_stats(request: Request) -> Response:
    """GET /_admin/{tenant}/stats."""
    ts = _tenant(request)
    doc = {
        "clock": ts.store.clock_iso(),
        "counts": ts.store.counts(),
        "requests": dict(ts.requests),
        "faults": ts.faults.settings,
    }
    dialect = dialect_of(ts.tenant)
    if dialect is not None:
        doc["entity_sets"] = odata_admin.totals(ts.store, services_of(dialect, ts.tenant))
    return _json(doc)


async def admin_records(request: Request) -> Response:
    """GET /_admin/{tenant}/records/{entity} as JSON lines (a stream or an entity set)."""
    ts = _tenant(request)
    name = request.path_params["entity"]
    dialect = dialect_of(ts.tenant)
    sets = {} if dialect is None else odata_admin.entity_sets(services_of(dialect, ts.tenant))
    if name in sets:  # an OData tenant's entity set wins over a stream of the same name
        source = odata_admin.records(ts.store, sets[name])
    else:
        source = ts.store.iter_all(_stream(name).stream)
    opt = orjson.OPT_APPEND_NEWLINE

    async def chunks() -> AsyncIterator[bytes]:
        for rows in source:
            yield b"".join([orjson.dumps(r, option=opt) for r in rows])
            await asyncio.sleep(0)

    return StreamingResponse(chunks(), media_type="application/x-ndjson")


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise HTTPException(400, "the body is not valid JSON") from None


async def admin_advance(request: Request) -> Response:
    """POST /_admin/{tenant}/advance."""
    ts = _tenant(request)
    body = await _json_body(request)
    try:
        result = ts.store.advance(body)
    except ChangeError as exc:
        return _error(400, "bad_request", str(exc))
    dialect = dialect_of(ts.tenant)
    if dialect is not None:
        svcs = services_of(dialect, ts.tenant)
        result["changed_sets"] = odata_admin.changed_keys(ts.store, svcs, result["changed"])
        result["deleted_sets"] = odata_admin.changed_keys(ts.store, svcs, result["deleted"])
    return _json(result)


async def admin_delete(request: Request) -> Response:
    """POST /_admin/{tenant}/delete: `{"customers": [keys], ...}` deleted now."""
    ts = _tenant(request)
    body = await _json_body(request)
    if not isinstance(body, dict):
        return _error(400, "bad_request", "the body must be a JSON object")
    try:
        deleted = ts.store.delete(body)
    except ChangeError as exc:
        return _error(400, "bad_request", str(exc))
    result: dict[str, Any] = {"clock": ts.store.clock_iso(), "deleted": deleted}
    dialect = dialect_of(ts.tenant)
    if dialect is not None:
        svcs = services_of(dialect, ts.tenant)
        result["deleted_sets"] = odata_admin.changed_keys(ts.store, svcs, deleted)
    return _json(result)


async def admin_faults(request: Request) -> Response:
    """PUT /_admin/{tenant}/faults."""
    ts = _tenant(request)
    body = await _json_body(request)
    try:
        ts.faults.replace(body)
    except FaultError as exc:
        return _error(400, "bad_request", str(exc))
    return _json({"faults": ts.faults.settings})


async def admin_revoke(request: Request) -> Response:
    """POST /_admin/{tenant}/revoke-tokens."""
    ts = _tenant(request)
    n = len(ts.tokens.tokens)
    ts.tokens.revoke_all()
    return _json({"revoked": n})


async def admin_reset(request: Request) -> Response:
    """POST /_admin/reset."""
    request.app.state.sandbox.reset()
    return _json({"status": "reset"})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
    return _error(exc.status_code, codes.get(exc.status_code, "error"), str(exc.detail))


def create_app(
    seed: int = 42,
    orders: int = 2000,
    tenants: list[str] | None = None,
    clock: str = DEFAULT_CLOCK,
    cache_mb: int = PAGE_CACHE_BYTES >> 20,
    *,
    request_log: str | None = None,
) -> Starlette | RequestLog:
    """Build the ASGI application (with a request log file when `request_log` names one)."""
    logging.getLogger("uvicorn.error").addFilter(_QuietIncomplete())
    routes = [
        Route("/_health", health),
        Route("/_admin/reset", admin_reset, methods=["POST"]),
        Route("/_admin/{tenant}/stats", admin_stats),
        Route("/_admin/{tenant}/records/{entity}", admin_records),
        Route("/_admin/{tenant}/advance", admin_advance, methods=["POST"]),
        Route("/_admin/{tenant}/delete", admin_delete, methods=["POST"]),
        Route("/_admin/{tenant}/faults", admin_faults, methods=["PUT"]),
        Route("/_admin/{tenant}/revoke-tokens", admin_revoke, methods=["POST"]),
        Route("/{tenant}/oauth/token", token, methods=["POST"]),
        Route("/{tenant}/api/v1/$metadata", get_metadata),
        Route("/{tenant}/api/v1/{entity}", list_entity),
        Route("/{tenant}/api/v1/{entity}/$deleted", list_deleted),
        Route("/{tenant}/api/v1/{entity}/{key}", delete_row, methods=["DELETE"]),
        Route("/{tenant}/{rest:path}", odata, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.sandbox = Sandbox(seed, orders, tenants or DEFAULT_TENANTS, clock, cache_mb << 20)
    return RequestLog(app, Path(request_log)) if request_log else app
