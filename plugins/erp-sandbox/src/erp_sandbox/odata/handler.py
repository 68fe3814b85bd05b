"""Answering OData requests for a dialect: resolve the URL, read the rows, render the body.

The app authenticates and injects faults (`app._gate`) between `resolve` (which
service and resource) and `respond` (the answer), exactly as for the sandbox's
own REST API.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from erp_sandbox.odata import engine, wire
from erp_sandbox.odata.filter import Compiled, FilterError, literal_of, tokenize
from erp_sandbox.odata.model import BY_KEY, EntitySet, Service
from erp_sandbox.odata.query import QueryError, ieee754, max_page_size, parse_query
from erp_sandbox.store import DELETABLE, ChangeError, TenantStore
from erp_sandbox.tenants import Tenant

_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\((.*)\))?$")


@dataclass(frozen=True)
class Answer:
    """A response to send: status, body, media type and extra headers."""

    status: int
    body: bytes
    media_type: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Dialect:
    """How one ERP speaks OData: its services, error codes, links and paging limits."""

    name: str
    services: Callable[[Tenant], list[Service]]
    error_codes: Mapping[str, str]  # the sandbox's error codes -> the dialect's
    absolute_links: bool  # nextLink and context as absolute URLs (else relative to the root)
    default_page_size: int
    max_page_size: int
    #: Extra endpoints outside the services (a token endpoint): (request, tenant state, path)
    #: -> a response, or None when the path is not theirs.
    special: Callable[[Request, Any, str], Awaitable[Any]] | None = None
    #: Another wire format over the same engine (OData v2): (dialect, store, target,
    #: request) -> the answer, and (dialect, status, code, message, headers) -> an error.
    respond: Callable[..., Answer] | None = None
    error: Callable[..., Any] | None = None

    def code(self, generic: str) -> str:
        """The dialect's error code for one of the sandbox's codes."""
        return self.error_codes.get(generic, generic)


@dataclass(frozen=True)
class Target:
    """What a request addresses."""

    service: Service
    kind: str  # "service", "metadata", "collection", "count", "entity", "children"
    entity_set: EntitySet | None = None
    key: dict[str, Any] | None = None  # entity / children: the addressed entity's key
    nav: str | None = None  # children: the navigation property
    scope: tuple[EntitySet, dict[str, Any]] | None = None  # parent(key)/set: the parent


class ODataError(Exception):
    """An error answer: status, the sandbox's code and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


_SERVICES: dict[tuple[str, str], list[Service]] = {}


def services_of(dialect: Dialect, tenant: Tenant) -> list[Service]:
    """A tenant's services (built once)."""
    key = (dialect.name, tenant.name)
    if key not in _SERVICES:
        _SERVICES[key] = dialect.services(tenant)
    return _SERVICES[key]


def find_service(dialect: Dialect, tenant: Tenant, path: str) -> tuple[Service, str] | None:
    """The service whose root starts `path`, and the rest of the path."""
    best = None
    for svc in services_of(dialect, tenant):
        inside = path == svc.root or path.startswith(svc.root + "/")
        if inside and (best is None or len(svc.root) > len(best.root)):
            best = svc
    if best is None:
        return None
    return best, path[len(best.root) :].strip("/")


def _key_values(es: EntitySet, text: str) -> dict[str, Any]:
    """Parse a key predicate: `(value)` or `(Name=value,...)`."""
    try:
        toks = tokenize(text)
    except FilterError as exc:
        raise ODataError(400, "bad_request", f"bad key predicate: {exc}") from None
    parts: list[list[tuple[str, str]]] = [[]]
    for tok in toks:
        if tok == ("punct", ","):
            parts.append([])
        else:
            parts[-1].append(tok)
    out: dict[str, Any] = {}
    for part in parts:
        if len(part) == 1 and len(es.key) == 1:
            name, lit = es.key[0], part[0]
        elif len(part) == 3 and part[0][0] == "name":
            name, lit = part[0][1], part[2]
        else:
            raise ODataError(400, "bad_request", f"bad key predicate ({text})")
        if name not in es.key or lit[0] in ("name", "punct"):
            raise ODataError(400, "bad_request", f"bad key predicate ({text})")
        out[name] = literal_of(lit[0], lit[1]).value
    if set(out) != set(es.key):
        raise ODataError(400, "bad_request", f"the key of {es.name} is {', '.join(es.key)}")
    return out


def resolve(service: Service, rest: str) -> Target:
    """What a path below a service root addresses."""
    if rest == "":
        return Target(service, "service")
    if rest == "$metadata":
        return Target(service, "metadata")
    segs = rest.split("/")
    count = segs[-1] == "$count"
    if count:
        segs = segs[:-1]
    parsed = []
    for seg in segs:
        m = _SEGMENT.match(seg)
        if m is None:
            raise ODataError(404, "not_found", f"resource not found for the segment {seg!r}")
        parsed.append((m.group(1), m.group(2)))
    name, key_text = parsed[0]
    es = service.entity_set(name)
    if es is None or es.parent is not None:
        raise ODataError(404, "not_found", f"resource not found for the segment {name!r}")
    scope = None
    if len(parsed) > 1 and key_text is not None:
        child = service.entity_set(parsed[1][0])
        if child is not None and child.parent == es.name:
            scope = (es, _key_values(es, key_text))
            es, key_text = child, parsed[1][1]
            parsed = parsed[1:]
    if len(parsed) == 1:
        if key_text is None:
            return Target(service, "count" if count else "collection", es, scope=scope)
        if count:
            raise ODataError(400, "bad_request", "$count applies to collections only")
        return Target(service, "entity", es, key=_key_values(es, key_text), scope=scope)
    nav = parsed[1][0]
    if len(parsed) == 2 and key_text is not None and es.nav(nav) is not None:
        if count or parsed[1][1] is not None:
            raise ODataError(400, "bad_request", f"only the whole {nav} collection can be read")
        key = _key_values(es, key_text)
        return Target(service, "children", es, key=key, nav=nav, scope=scope)
    raise ODataError(404, "not_found", f"resource not found for the segment {nav!r}")


def _same(es: EntitySet, name: str, a: Any, b: Any) -> bool:
    prop = es.prop(name)
    x, y = str(a), str(b)
    if prop is not None and prop.alpha and x.isdigit() and y.isdigit():
        return int(x) == int(y)  # document numbers: '0000000042' is '42'
    return x.lower() == y.lower()


def _find(store: TenantStore, es: EntitySet, key: dict[str, Any]) -> engine.Item:
    def match(row: dict[str, Any], _mod: int) -> bool:
        return all(_same(es, k, row.get(k), v) for k, v in key.items())

    for item in engine.iterate(store, es, BY_KEY, Compiled(rest=match), chunk=5000):
        return item
    shown = ",".join(f"{k}={v}" for k, v in key.items())
    raise ODataError(404, "not_found", f"no {es.name} entity with the key ({shown})")


def delete(store: TenantStore, target: Target) -> None:
    """`DELETE {set}({key})`: the entity is gone (an order with its lines)."""
    es = target.entity_set
    if target.kind != "entity" or es is None or target.key is None:
        raise ODataError(405, "method_not_allowed", "DELETE needs one entity: {set}({key})")
    if target.scope is not None:
        _find(store, *target.scope)
    delete_entity(store, es, target.key)


def delete_entity(store: TenantStore, es: EntitySet, key: dict[str, Any]) -> None:
    """The entity of `key` is gone (an order with its lines); ODataError 404/405 if not."""
    item = _find(store, es, key)
    rank = item.pos[-2] if len(item.pos) == 3 else item.pos[0]
    stream = next(src.stream for src in es.sources if src.rank == rank)
    if stream not in DELETABLE:
        raise ODataError(405, "method_not_allowed", f"entities of {es.name} cannot be deleted")
    try:
        store.delete({stream: [item.idx + 1]})
    except ChangeError as exc:
        raise ODataError(404, "not_found", str(exc)) from None


def _links(dialect: Dialect, request: Request, tenant: Tenant, target: Target) -> tuple[str, str]:
    """(base for absolute links, path of the resource relative to the service root)."""
    base = str(request.base_url) if dialect.absolute_links else ""
    root = f"{base}{tenant.name}/{target.service.root}/" if base else ""
    rel = request.url.path.split(f"/{target.service.root}/", 1)[-1]
    return root, rel


def _next_link(root: str, rel: str, request: Request, token: str) -> str:
    params = [
        (k, v)
        for k, v in request.query_params.multi_items()
        if k not in ("$skiptoken", "$skip", "$top")
    ]
    params.append(("$skiptoken", token))
    return f"{root}{rel}?{urlencode(params, safe='$,()/:')}"


def respond(dialect: Dialect, store: TenantStore, target: Target, request: Request) -> Answer:
    """The answer to a resolved, authenticated request."""
    ieee = ieee754(request.headers)
    jtype = wire.json_type(ieee)
    headers = {"OData-Version": "4.0"}
    root, rel = _links(dialect, request, store.tenant, target)
    svc = target.service
    if target.kind == "metadata":
        return Answer(200, wire.metadata_xml(svc), "application/xml", headers)
    if target.kind == "service":
        return Answer(200, wire.service_document(svc, f"{root}$metadata"), jtype, headers)
    es = target.entity_set
    assert es is not None
    if target.scope is not None:
        _find(store, *target.scope)
    if target.kind == "entity":
        assert target.key is not None
        item = _find(store, es, target.key)
        ctx = f"{root}$metadata#{es.name}/$entity"
        return Answer(200, wire.entity_body(es, item, ctx, ieee), jtype, headers)
    if target.kind == "children":
        assert target.key is not None and target.nav is not None
        nav = es.nav(target.nav)
        assert nav is not None
        child_es = svc.sets[nav.target]
        parent = _find(store, es, target.key)
        kids = engine.children(store, es, child_es, nav.name, [parent.idx])[parent.idx]
        ctx = f"{root}$metadata#{child_es.name}"
        body = wire.collection_body(
            child_es, engine.Page(kids), ctx, next_link=None, select=None, ieee754=ieee, targets={}
        )
        return Answer(200, body, jtype, headers)
    try:
        q = parse_query(es, request.query_params.multi_items())
    except QueryError as exc:
        raise ODataError(400, "bad_request", str(exc)) from None
    if target.kind == "count":
        n = engine.count(store, es, q.compiled)
        return Answer(200, str(n).encode(), "text/plain", headers)
    asked = max_page_size(request.headers)
    size = min(asked or q.page_size or dialect.default_page_size, dialect.max_page_size)
    if asked is not None:
        headers["Preference-Applied"] = f"odata.maxpagesize={size}"
    q.page_size = size
    targets = {n.name: svc.sets[n.target] for n in es.navs if n.name in q.expand}
    result = engine.page(store, es, q, size, targets)
    scope = rel.rsplit("/", 1)[0] + "/" if target.scope is not None else ""
    shown = f"({','.join(q.select)})" if q.select else ""
    ctx = f"{root}$metadata#{scope}{es.name}{shown}"
    link = None
    if result.next_token is not None:
        link = _next_link(root, rel, request, result.next_token)
    body = wire.collection_body(
        es, result, ctx, next_link=link, select=q.select, ieee754=ieee, targets=targets
    )
    return Answer(200, body, jtype, headers)


#: The entity of a set with a key; ODataError 404 when there is none (other wire formats).
find_entity = _find
