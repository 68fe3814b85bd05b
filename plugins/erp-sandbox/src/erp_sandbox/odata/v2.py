"""OData v2 on the wire, as SAP Gateway serves it, over the shared OData engine.

JSON (verbose): rows under `d.results`, each with `__metadata` (id, uri, type,
etag); `d.__count` (a string) with `$inlinecount=allpages`; `d.__next` (absolute,
with the engine's keyset `$skiptoken`); Edm.DateTime and Edm.DateTimeOffset as
`/Date(<ms>)/` and `/Date(<ms>+0000)/`; Edm.Decimal and Edm.Int64 as strings.
URI literals `datetimeoffset'…'` and `datetime'…'` in `$filter`. `$metadata` is
EDMX 1.0 with `sap:` annotations; errors are
`{"error": {"code", "message": {"lang", "value"}}}`. References: the OData v2 JSON
format (https://www.odata.org/documentation/odata-version-2-0/json-format/), URI
conventions (https://www.odata.org/documentation/odata-version-2-0/uri-conventions/)
and MS-ODATA `$inlinecount`
(https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-odata/a079a72d-31c1-44df-b315-3972c4c85e57).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import quoteattr

import orjson
from starlette.requests import Request
from starlette.responses import Response

from erp_sandbox.odata import engine
from erp_sandbox.odata.handler import Answer, Dialect, ODataError, Target, find_entity
from erp_sandbox.odata.model import EntitySet, Prop, Service
from erp_sandbox.odata.query import QueryError, max_page_size, parse_query
from erp_sandbox.store import TenantStore

JSON = "application/json;charset=utf-8"
HEADERS = {"DataServiceVersion": "2.0"}
EDMX = "http://schemas.microsoft.com/ado/2007/06/edmx"
EDM = "http://schemas.microsoft.com/ado/2008/09/edm"
META = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
SAP = "http://www.sap.com/Protocols/SAPData"
STRING_NUMBERS = ("Edm.Decimal", "Edm.Int64")
_DATETIME = re.compile(r"datetime'([^']*)'")
_DATETIMEOFFSET = re.compile(r"datetimeoffset'([^']*)'")
#: v2 options -> the engine's (v4) options; `$count` is a path segment in v2.
_SUPPORTED = ("$filter", "$orderby", "$select", "$top", "$skip", "$skiptoken", "$format")


def date_ms(ms: int, offset: bool) -> str:
    """`/Date(<ms>)/` (Edm.DateTime) or `/Date(<ms>+0000)/` (Edm.DateTimeOffset, UTC)."""
    return f"/Date({ms}+0000)/" if offset else f"/Date({ms})/"


def _filter_v4(text: str) -> str:
    """v2 literals in a `$filter` as the engine reads them (DateTimeOffset text)."""
    text = _DATETIMEOFFSET.sub(lambda m: m.group(1), text)
    return _DATETIME.sub(lambda m: m.group(1) if m.group(1)[-1:] == "Z" else m.group(1) + "Z", text)


def query_items(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A v2 query as the engine's options; QueryError for what v2 does not have."""
    out = []
    for name, value in items:
        if not name.startswith("$"):
            continue  # sap-client, sap-language, ...
        if name == "$inlinecount":
            if value not in ("allpages", "none"):
                raise QueryError(f"$inlinecount must be allpages or none, got {value!r}")
            if value == "allpages":
                out.append(("$count", "true"))
        elif name == "$filter":
            out.append((name, _filter_v4(value)))
        elif name in _SUPPORTED:
            out.append((name, value))
        else:
            raise QueryError(f"the system query option {name!r} is not supported")
    return out


def _key_text(es: EntitySet, row: dict[str, Any]) -> str:
    parts = [f"'{str(row[k]).replace(chr(39), chr(39) * 2)}'" for k in es.key]
    if len(parts) == 1:
        return parts[0]
    return ",".join(f"{k}={p}" for k, p in zip(es.key, parts, strict=True))


def _row(
    es: EntitySet, service: Service, root: str, item: engine.Item, select: list[str] | None
) -> dict[str, Any]:
    uri = f"{root}{es.name}({_key_text(es, item.row)})"
    meta = {"id": uri, "uri": uri, "type": f"{service.namespace}.{es.type_name}"}
    out: dict[str, Any] = {"__metadata": {**meta, "etag": item.etag}}
    names = select if select is not None else [p.name for p in es.props]
    for name in names:
        prop = es.prop(name)
        value = item.row.get(name)
        if prop is not None and prop.edm in STRING_NUMBERS and value is not None:
            value = f"{value:.{prop.digits}f}" if prop.digits is not None else str(value)
        out[name] = value
    return out


def _next(root: str, es: EntitySet, request: Request, token: str) -> str:
    params = [
        (k, v)
        for k, v in request.query_params.multi_items()
        if k not in ("$skiptoken", "$skip", "$top")
    ]
    params.append(("$skiptoken", token))
    return f"{root}{es.name}?{urlencode(params, safe='$,()/:')}"


def respond(dialect: Dialect, store: TenantStore, target: Target, request: Request) -> Answer:
    """The v2 answer to a resolved, authenticated request."""
    svc = target.service
    root = f"{request.base_url}{store.tenant.name}/{svc.root}/"
    if target.kind == "metadata":
        return Answer(200, metadata_xml(svc), "application/xml", dict(HEADERS))
    if target.kind == "service":
        sets = [es.name for es in svc.sets.values() if es.parent is None]
        return Answer(200, orjson.dumps({"d": {"EntitySets": sets}}), JSON, dict(HEADERS))
    es = target.entity_set
    assert es is not None
    if target.kind == "entity":
        assert target.key is not None
        item = find_entity(store, es, target.key)
        return Answer(200, orjson.dumps({"d": _row(es, svc, root, item, None)}), JSON, HEADERS)
    if target.kind not in ("collection", "count"):
        raise ODataError(400, "bad_request", "navigation is not served in OData v2")
    try:
        q = parse_query(es, query_items(request.query_params.multi_items()))
    except QueryError as exc:
        raise ODataError(400, "bad_request", str(exc)) from None
    if target.kind == "count":
        return Answer(200, str(engine.count(store, es, q.compiled)).encode(), "text/plain", HEADERS)
    asked = max_page_size(request.headers)
    size = min(asked or q.page_size or dialect.default_page_size, dialect.max_page_size)
    q.page_size = size
    result = engine.page(store, es, q, size, {})
    doc: dict[str, Any] = {}
    if result.count is not None:
        doc["__count"] = str(result.count)
    doc["results"] = [_row(es, svc, root, item, q.select) for item in result.items]
    if result.next_token is not None:
        doc["__next"] = _next(root, es, request, result.next_token)
    headers = dict(HEADERS)
    if asked is not None:
        headers["Preference-Applied"] = f"odata.maxpagesize={size}"
    return Answer(200, orjson.dumps({"d": doc}), JSON, headers)


def error(
    dialect: Dialect, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """SAP Gateway's error envelope: `{"error": {"code", "message": {"lang", "value"}}}`."""
    body = {"error": {"code": dialect.code(code), "message": {"lang": "en", "value": message}}}
    return Response(orjson.dumps(body), status, {**HEADERS, **(headers or {})}, JSON)


# -- $metadata -------------------------------------------------------------------


def _property_xml(prop: Prop) -> str:
    attrs = [f"Name={quoteattr(prop.name)}", f"Type={quoteattr(prop.edm)}"]
    if not prop.nullable:
        attrs.append('Nullable="false"')
    if prop.max_length is not None:
        attrs.append(f'MaxLength="{prop.max_length}"')
    if prop.precision is not None:
        attrs.append(f'Precision="{prop.precision}"')
    if prop.scale is not None:
        attrs.append(f"Scale={quoteattr(str(prop.scale))}")
    if prop.edm == "Edm.DateTime":
        attrs.append('sap:display-format="Date"')  # a calendar date at midnight UTC
    label = prop.label or prop.name
    attrs.append(f"sap:label={quoteattr(label)}")
    if not prop.custom:
        attrs.append('sap:creatable="false" sap:updatable="false"')
    return f"<Property {' '.join(attrs)}/>"


def metadata_xml(service: Service) -> bytes:
    """`$metadata` as EDMX 1.0 / CSDL 2.0 with SAP annotations."""
    ns = service.namespace
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<edmx:Edmx Version="1.0" xmlns:edmx="{EDMX}" xmlns:m="{META}" xmlns:sap="{SAP}">',
        '<edmx:DataServices m:DataServiceVersion="2.0">',
        f'<Schema Namespace="{ns}" xml:lang="en" sap:schema-version="1" xmlns="{EDM}">',
    ]
    for es in service.sets.values():
        lines.append(f'<EntityType Name={quoteattr(es.type_name)} sap:content-version="1">')
        refs = "".join(f"<PropertyRef Name={quoteattr(k)}/>" for k in es.key)
        lines.append(f"<Key>{refs}</Key>")
        lines.extend(_property_xml(p) for p in es.props)
        lines.append("</EntityType>")
    lines.append(
        f"<EntityContainer Name={quoteattr(service.container)} "
        'm:IsDefaultEntityContainer="true" sap:supported-formats="atom json xlsx">'
    )
    for es in service.sets.values():
        lines.append(
            f"<EntitySet Name={quoteattr(es.name)} EntityType={quoteattr(f'{ns}.{es.type_name}')} "
            'sap:creatable="false" sap:updatable="false" sap:deletable="false" '
            'sap:content-version="1"/>'
        )
    lines += ["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"]
    return "\n".join(lines).encode()
