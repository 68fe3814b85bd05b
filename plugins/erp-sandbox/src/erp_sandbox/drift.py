"""Schema drift a tenant can be told to show: values replaced, custom field types changed.

``PUT /_admin/{tenant}/drift`` with ``{stream: {"set": {field: value}, "keys": [..],
"types": {field: type}}}`` (``{}`` clears it). ``set`` serves ``value`` (``null``
included) instead of a field's value, for the rows whose primary key is in ``keys``
(every row when ``keys`` is absent); ``types`` makes the `$metadata` document describe a
custom field with another type (e.g. ``string`` for a decimal) and serves its values
as JSON text. Only the sandbox's own REST API shows drift.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

import orjson

from erp_sandbox.schema import ENTITIES
from erp_sandbox.tenants import Tenant

TYPES = ("string", "integer", "decimal", "boolean", "date", "datetime")


class DriftError(ValueError):
    """An invalid drift document."""


@dataclass
class StreamDrift:
    """What one stream serves differently."""

    values: dict[str, t.Any] = field(default_factory=dict)
    keys: set[t.Any] | None = None
    types: dict[str, str] = field(default_factory=dict)


def parse(tenant: Tenant, body: t.Any) -> dict[str, StreamDrift]:
    """Check a drift document against the tenant's entities and custom fields."""
    if not isinstance(body, dict):
        raise DriftError("drift must be a JSON object of streams")
    out = {}
    for stream, spec in body.items():
        if stream not in ENTITIES:
            raise DriftError(f"unknown stream {stream!r}")
        if not isinstance(spec, dict) or set(spec) - {"set", "keys", "types"}:
            raise DriftError(f"'{stream}' must be an object with 'set', 'keys' and 'types'")
        values, keys, types = spec.get("set") or {}, spec.get("keys"), spec.get("types") or {}
        if not isinstance(values, dict) or not isinstance(types, dict):
            raise DriftError(f"'{stream}.set' and '{stream}.types' must be objects")
        if keys is not None and not isinstance(keys, list):
            raise DriftError(f"'{stream}.keys' must be a list of primary keys")
        custom = {cf.name for cf in tenant.custom(stream)}
        for name, kind in types.items():
            if name not in custom:
                raise DriftError(f"'{stream}.types': {name!r} is not a custom field")
            if kind not in TYPES:
                raise DriftError(f"'{stream}.types.{name}' must be one of {', '.join(TYPES)}")
        out[stream] = StreamDrift(dict(values), None if keys is None else set(keys), dict(types))
    return out


def apply_rows(drift: StreamDrift, key: str, rows_json: bytes) -> bytes:
    """A page's rows with the drift applied."""
    rows = orjson.loads(rows_json)
    for row in rows:
        for name in drift.types:
            if row.get(name) is not None and not isinstance(row[name], str):
                row[name] = str(row[name])
        if drift.keys is None or row.get(key) in drift.keys:
            row.update(drift.values)
    return orjson.dumps(rows)


def apply_metadata(drifts: dict[str, StreamDrift], document: dict) -> dict:
    """The `$metadata` document with the drifted custom field types."""
    for stream, drift in drifts.items():
        for entry in document["entities"][stream]["fields"]:
            kind = drift.types.get(entry["name"])
            if kind is not None:
                entry["type"] = kind
                entry.pop("scale", None)
                entry.pop("precision", None)
    return document
