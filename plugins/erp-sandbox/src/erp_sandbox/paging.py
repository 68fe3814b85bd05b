"""Parsing and validating list parameters, and the opaque keyset cursor."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

import orjson

from erp_sandbox.generator import US
from erp_sandbox.schema import Entity
from erp_sandbox.tenants import CURSOR, OFFSET, PAGE

DEFAULT_LIMIT = 100
MAX_LIMIT = 5000
FILTERS = ("modified_since", "modified_before")
STYLE_PARAMS: dict[str, tuple[str, ...]] = {
    OFFSET: ("offset", "limit"),
    PAGE: ("page", "page_size"),
    CURSOR: ("limit", "cursor"),
}
ALL_PAGING = {"offset", "limit", "page", "page_size", "cursor"}
STYLE_HELP = {
    OFFSET: "offset paging: use 'offset' and 'limit'",
    PAGE: "page-number paging: use 'page' (from 1) and 'page_size'",
    CURSOR: "cursor paging: use 'limit' on the first request, then follow 'next'",
}


class BadRequestError(ValueError):
    """A 400 answer; the message names the offending parameter."""


@dataclass
class ListQuery:
    """A validated list request."""

    limit: int
    since: int | None = None
    before: int | None = None
    offset: int | None = None  # offset / page styles
    after: tuple[int | None, int] | None = None  # cursor style: keyset position
    page: int | None = None


def parse_timestamp(name: str, value: str) -> int:
    """ISO 8601 with an offset (or Z) -> epoch microseconds."""
    text = value.strip()
    if " " in text and "T" in text:  # an unescaped '+' in a query string arrives as ' '
        text = text.replace(" ", "+")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequestError(f"'{name}' is not an ISO 8601 timestamp: {value!r}") from None
    if dt.tzinfo is None:
        raise BadRequestError(f"'{name}' needs a UTC offset or 'Z': {value!r}")
    return _to_micros(dt)


def _to_micros(dt: datetime) -> int:
    off = dt.utcoffset()
    assert off is not None
    naive = dt.replace(tzinfo=None) - off
    epoch = datetime(1970, 1, 1)
    d = naive - epoch
    return (d.days * 86_400 + d.seconds) * US + d.microseconds


def _int(name: str, value: str, minimum: int, maximum: int | None = None) -> int:
    text = value.strip()
    if not text.lstrip("-").isdigit():
        raise BadRequestError(f"'{name}' must be an integer, got {value!r}")
    n = int(text)
    if n < minimum:
        what = "a non-negative integer" if minimum == 0 else f"an integer >= {minimum}"
        raise BadRequestError(f"'{name}' must be {what}, got {value!r}")
    if maximum is not None and n > maximum:
        raise BadRequestError(f"'{name}' must be at most {maximum}, got {value!r}")
    return n


def encode_cursor(entity: Entity, q: ListQuery, last: tuple[int | None, int]) -> str:
    """Opaque cursor carrying filters, limit and the keyset position."""
    raw = orjson.dumps([1, entity.stream, q.since, q.before, q.limit, last[0], last[1]])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(entity: Entity, value: str) -> ListQuery:
    """Inverse of `encode_cursor`; BadRequestError if malformed or for another entity."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise BadRequestError("'cursor' is malformed") from None
    ok = (
        isinstance(data, list)
        and len(data) == 7
        and data[0] == 1
        and all(x is None or (isinstance(x, int) and not isinstance(x, bool)) for x in data[2:])
        and isinstance(data[4], int)
        and isinstance(data[6], int)
    )
    if not ok:
        raise BadRequestError("'cursor' is malformed")
    if data[1] != entity.stream:
        raise BadRequestError(f"'cursor' belongs to another entity ({data[1]})")
    _, _, since, before, limit, mod, key = data
    if not 1 <= limit <= MAX_LIMIT or key < -1 or (entity.replication_key and mod is None):
        raise BadRequestError("'cursor' is malformed")
    return ListQuery(limit=limit, since=since, before=before, after=(mod, key))


def parse_list(style: str, entity: Entity, items: list[tuple[str, str]]) -> ListQuery:
    """Validate query parameters of a list request for a tenant's paging style."""
    params: dict[str, str] = {}
    for name, value in items:
        if name in params:
            raise BadRequestError(f"parameter '{name}' is given more than once")
        params[name] = value
    allowed = set(STYLE_PARAMS[style])
    for name in params:
        if name in ALL_PAGING and name not in allowed:
            raise BadRequestError(
                f"parameter '{name}' is not supported: this tenant serves {STYLE_HELP[style]}"
            )
        if name in FILTERS:
            if entity.replication_key is None:
                raise BadRequestError(
                    f"parameter '{name}' is not supported: {entity.path} has no replication key"
                )
        elif name not in allowed:
            raise BadRequestError(f"unknown parameter '{name}'")
    since = (
        parse_timestamp("modified_since", params["modified_since"])
        if ("modified_since" in params)
        else None
    )
    before = (
        parse_timestamp("modified_before", params["modified_before"])
        if ("modified_before" in params)
        else None
    )
    if style == OFFSET:
        return ListQuery(
            limit=_int("limit", params["limit"], 1, MAX_LIMIT)
            if "limit" in params
            else DEFAULT_LIMIT,
            since=since,
            before=before,
            offset=_int("offset", params["offset"], 0) if "offset" in params else 0,
        )
    if style == PAGE:
        size = (
            _int("page_size", params["page_size"], 1, MAX_LIMIT)
            if "page_size" in params
            else DEFAULT_LIMIT
        )
        page = _int("page", params["page"], 1) if "page" in params else 1
        return ListQuery(
            limit=size, since=since, before=before, offset=(page - 1) * size, page=page
        )
    limit = _int("limit", params["limit"], 1, MAX_LIMIT) if "limit" in params else None
    if "cursor" not in params:
        return ListQuery(limit=limit or DEFAULT_LIMIT, since=since, before=before)
    q = decode_cursor(entity, params["cursor"])
    for name, given, carried in (
        ("modified_since", since, q.since),
        ("modified_before", before, q.before),
    ):
        if name in params and given != carried:
            raise BadRequestError(f"'{name}' differs from the filter carried by 'cursor'")
    if limit is not None:
        q.limit = limit
    return q
