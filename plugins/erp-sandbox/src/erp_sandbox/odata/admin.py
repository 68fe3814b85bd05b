"""Admin views of an OData tenant: rows, totals and changed keys per entity set."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from erp_sandbox import vocab
from erp_sandbox.odata import engine
from erp_sandbox.odata.model import Batch, EntitySet, Service
from erp_sandbox.store import TenantStore


def entity_sets(services: list[Service]) -> dict[str, EntitySet]:
    """Every entity set of a tenant by name (the first service wins on a repeated name)."""
    out: dict[str, EntitySet] = {}
    for svc in services:
        for name, es in svc.sets.items():
            out.setdefault(name, es)
    return out


def records(store: TenantStore, es: EntitySet) -> Iterator[list[dict[str, Any]]]:
    """Every row of an entity set in key order, as served (without `@odata.etag`), in chunks."""
    chunk: list[dict[str, Any]] = []
    for item in engine.all_rows(store, es):
        chunk.append(item.row)
        if len(chunk) >= 5000:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def totals(store: TenantStore, services: list[Service]) -> dict[str, int]:
    """Row counts per entity set."""
    return {name: engine.total(store, es) for name, es in entity_sets(services).items()}


def _indices(stream: str, keys: list[Any]) -> list[int]:
    if stream == "inventory":
        nwh = len(vocab.WAREHOUSES)
        return [(k[0] - 1) * nwh + vocab.WAREHOUSES.index(k[1]) for k in keys]
    return [k - 1 for k in keys]


def changed_keys(
    store: TenantStore, services: list[Service], changed: dict[str, list[Any]]
) -> dict[str, list[Any]]:
    """Keys, per entity set, of the rows an `advance` changed (a key of several parts: a list)."""
    out: dict[str, list[Any]] = {}
    for name, es in entity_sets(services).items():
        if es.static is not None:
            continue
        keys: list[Any] = []
        for src in es.sources:
            idx = np.array(_indices(src.stream, changed.get(src.stream, [])), dtype=np.int64)
            rows, mods, vers = store.render_meta(src.stream, idx)
            for row in src.project(Batch(store, idx, rows, mods, vers)):
                parts = [row[k] for k in es.key]
                keys.append(parts[0] if len(parts) == 1 else parts)
        out[name] = keys
    return out
