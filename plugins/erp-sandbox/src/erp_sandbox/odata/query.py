"""System query options, the `Prefer` header and the opaque keyset `$skiptoken`."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from erp_sandbox.odata.filter import Compiled, FilterError, compile_filter
from erp_sandbox.odata.model import BY_KEY, BY_REPLICATION_KEY, EntitySet

SUPPORTED = {
    "$filter",
    "$orderby",
    "$select",
    "$top",
    "$skip",
    "$skiptoken",
    "$count",
    "$expand",
    "$format",
}
BIG = 1 << 62


class QueryError(ValueError):
    """An invalid or unsupported query option (a 400)."""


#: A keyset position: (ModifiedOn, source rank, index) or (source rank, index).
Position = tuple[int, ...]


@dataclass
class Query:
    """A validated collection request."""

    compiled: Compiled
    order: str
    select: list[str] | None = None
    expand: list[str] = field(default_factory=list)
    top: int | None = None
    skip: int = 0
    count: bool = False
    after: Position | None = None  # from $skiptoken
    page_size: int | None = None  # carried by $skiptoken
    fingerprint: str = ""


def _int(name: str, text: str) -> int:
    if not text.strip().isdigit():
        raise QueryError(f"{name} must be a non-negative integer, got {text!r}")
    return int(text)


def _names(option: str, text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise QueryError(f"{option} is empty")
    for n in names:
        if "(" in n or "/" in n:
            raise QueryError(f"{option}: nested options and paths are not supported ({n!r})")
    return names


def _order(es: EntitySet, text: str | None) -> str:
    if text is None:
        return es.order_modes()[0]
    items = []
    for part in (p.strip() for p in text.split(",")):
        name, _, direction = part.partition(" ")
        direction = direction.strip().lower() or "asc"
        if es.prop(name) is None:
            raise QueryError(f"$orderby: could not find a property named {name!r}")
        if direction != "asc":
            raise QueryError(f"$orderby: only ascending order is supported ({part!r})")
        items.append(name)
    key = list(es.key)
    if items == key[: len(items)]:
        return BY_KEY
    rep = es.replication_key
    if rep and items[0] == rep and items[1:] == key[: len(items) - 1]:
        return BY_REPLICATION_KEY
    wanted = f"{', '.join(key)}" + (f" or {rep} asc, {', '.join(key)}" if rep else "")
    raise QueryError(f"$orderby {text!r} is not supported; order by {wanted}")


def parse_query(es: EntitySet, items: list[tuple[str, str]]) -> Query:
    """Validate the query options of a collection request."""
    params: dict[str, str] = {}
    for name, value in items:
        if not name.startswith("$"):
            continue  # custom query options (sap-client, company, ...) are ignored
        if name not in SUPPORTED:
            raise QueryError(f"the query option {name!r} is not supported")
        if name in params:
            raise QueryError(f"the query option {name!r} is given more than once")
        params[name] = value
    if params.get("$format", "json") not in ("json", "application/json"):
        raise QueryError("$format: only json is supported")
    try:
        compiled = compile_filter(es, params.get("$filter"))
    except FilterError as exc:
        raise QueryError(f"$filter: {exc}") from None
    q = Query(compiled=compiled, order=_order(es, params.get("$orderby")))
    if "$select" in params and params["$select"].strip() != "*":
        q.select = _names("$select", params["$select"])
        for n in q.select:
            if es.prop(n) is None and es.nav(n) is None:
                raise QueryError(f"$select: could not find a property named {n!r}")
    if "$expand" in params:
        q.expand = _names("$expand", params["$expand"])
        for n in q.expand:
            if es.nav(n) is None:
                raise QueryError(f"$expand: {es.type_name!r} has no navigation property {n!r}")
    if "$count" in params:
        value = params["$count"].strip().lower()
        if value not in ("true", "false"):
            raise QueryError("$count must be true or false")
        q.count = value == "true"
    q.fingerprint = _fingerprint(es, params)
    if "$skiptoken" in params:
        for name in ("$top", "$skip"):
            if name in params:
                raise QueryError(f"{name} cannot be combined with $skiptoken")
        decode_token(params["$skiptoken"], es, q)
        return q
    if "$top" in params:
        q.top = _int("$top", params["$top"])
    if "$skip" in params:
        q.skip = _int("$skip", params["$skip"])
    return q


def _fingerprint(es: EntitySet, params: Mapping[str, str]) -> str:
    text = "\n".join([es.name, params.get("$filter", ""), params.get("$orderby", "")])
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def encode_token(q: Query, es: EntitySet, last: Position, remaining: int | None) -> str:
    """An opaque token: the keyset position after the last row served, never an offset."""
    raw = orjson.dumps([1, es.name, q.fingerprint, q.order, list(last), remaining, q.page_size])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_token(text: str, es: EntitySet, q: Query) -> None:
    """Fill `q` from a token; QueryError if malformed or from another query."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise QueryError("$skiptoken is malformed") from None
    ok = (
        isinstance(data, list)
        and len(data) == 7
        and data[0] == 1
        and isinstance(data[4], list)
        and all(isinstance(x, int) and not isinstance(x, bool) for x in data[4])
        and (data[5] is None or isinstance(data[5], int))
        and (data[6] is None or isinstance(data[6], int))
    )
    if not ok:
        raise QueryError("$skiptoken is malformed")
    _, name, fingerprint, order, last, remaining, page_size = data
    if name != es.name or fingerprint != q.fingerprint or order != q.order:
        raise QueryError("$skiptoken belongs to another query ($filter and $orderby must match)")
    if len(last) != (3 if order == BY_REPLICATION_KEY else 2):
        raise QueryError("$skiptoken is malformed")
    q.after = tuple(last)
    q.top = remaining
    q.page_size = page_size


def max_page_size(headers: Mapping[str, str]) -> int | None:
    """The `odata.maxpagesize` preference of a request, if any (invalid values are ignored)."""
    for pref in headers.get("prefer", "").split(","):
        name, _, value = pref.strip().partition("=")
        if name.strip().lower() == "odata.maxpagesize":
            text = value.strip().strip('"')
            if text.isdigit() and int(text) > 0:
                return int(text)
    return None


def ieee754(headers: Mapping[str, str]) -> bool:
    """Does the request ask for `IEEE754Compatible=true` (Accept or Content-Type)?"""
    for name in ("accept", "content-type"):
        for part in headers.get(name, "").replace(",", ";").split(";"):
            key, _, value = part.strip().partition("=")
            if key.strip().lower() == "ieee754compatible" and value.strip().lower() == "true":
                return True
    return False
