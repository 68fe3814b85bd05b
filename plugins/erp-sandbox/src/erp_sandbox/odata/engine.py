"""Reading an entity set from the store: keyset order, filters, paging, counts, children.

Rows are read in one of two orders: (replication key, source rank, index), which
is the store's (ModifiedOn, key) order, or (source rank, index), which is key
order. A page ends at a keyset position; the next page starts strictly after it,
so rows that change while a client pages are never skipped (a changed row moves
behind the position and is served again later).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np

from erp_sandbox.odata.filter import Compiled, Predicate, in_bounds
from erp_sandbox.odata.model import BY_REPLICATION_KEY, Batch, EntitySet, Source
from erp_sandbox.odata.query import BIG, Position, Query, encode_token
from erp_sandbox.store import TenantStore

FIRST_CHUNK = 64
MAX_CHUNK = 20_000


@dataclass
class Item:
    """One row with its keyset position and etag."""

    pos: Position
    row: dict[str, Any]
    etag: str
    idx: int


@dataclass
class Page:
    """A page of rows, the token of the next page, the count and expanded children."""

    items: list[Item]
    next_token: str | None = None
    count: int | None = None
    children: dict[str, dict[int, list[Item]]] = field(default_factory=dict)


def _start(order: str, after: Position | None, rank: int) -> tuple[int, int] | int | None:
    """Where source `rank` resumes after a position of a (possibly merged) order."""
    if after is None:
        return None
    if order == BY_REPLICATION_KEY:
        ts, arank, idx = after
        return (ts, BIG if rank < arank else idx if rank == arank else -1)
    arank, idx = after
    return BIG if rank < arank else idx + 1 if rank == arank else 0


def _iter_source(
    store: TenantStore,
    src: Source,
    order: str,
    compiled: Compiled,
    *,
    after: Position | None,
    skip: int,
    chunk: int,
) -> Iterator[Item]:
    stream, rank = src.stream, src.rank
    by_rep = order == BY_REPLICATION_KEY
    pred: Predicate | None = compiled.rest if by_rep else in_bounds(compiled)
    start = _start(order, after, rank)
    keyset = start if isinstance(start, tuple) else None
    offset: int | None = skip or None
    first = (start if isinstance(start, int) else 0) + skip
    while True:
        if by_rep:
            idx = store.ordered_indices(
                stream,
                since=compiled.since,
                before=compiled.before,
                after=keyset,
                offset=offset,
                need=chunk,
            )
            offset = None
        else:
            n = store.entities[stream].n_total
            end = min(n, first + chunk)
            if first >= n:
                return
            idx = store.live(stream, np.arange(first, end, dtype=np.int64))
            if idx.size == 0:  # every row of this chunk was deleted
                first = end
                continue
        if idx.size == 0:
            return
        rows, mods, vers = store.render_meta(stream, idx)
        out = src.project(Batch(store, idx, rows, mods, vers))
        keys = idx.tolist()
        for i, row, m, v in zip(keys, out, mods, vers, strict=True):
            if pred is None or pred(row, m):
                yield Item((m, rank, i) if by_rep else (rank, i), row, src.etag(m, v), i)
        if by_rep:
            keyset = (mods[-1], keys[-1])
            if idx.size < chunk:
                return
        else:
            first = end
            if end >= n:
                return
        chunk = min(chunk * 2, MAX_CHUNK)


def _iter_static(
    store: TenantStore, es: EntitySet, compiled: Compiled, after: Position | None
) -> Iterator[Item]:
    assert es.static is not None
    pred = in_bounds(compiled)
    begin = 0 if after is None else after[-1] + 1
    for i, row in enumerate(es.static(store)):
        if i >= begin and (pred is None or pred(row, 0)):
            yield Item((0, i), row, es.static_etag, i)


def iterate(
    store: TenantStore,
    es: EntitySet,
    order: str,
    compiled: Compiled,
    *,
    after: Position | None = None,
    skip: int = 0,
    chunk: int = FIRST_CHUNK,
) -> Iterator[Item]:
    """Every matching row after `after`, in order, with `skip` rows left out."""
    if compiled.empty:
        return iter(())
    if es.static is not None:
        return islice(_iter_static(store, es, compiled, after), skip, None)
    fast = len(es.sources) == 1 and (
        compiled.rest is None
        if order == BY_REPLICATION_KEY
        else (compiled.rest is None and compiled.since is None and compiled.before is None)
    )
    first_skip = skip if fast else 0
    chunk = max(FIRST_CHUNK, min(chunk, MAX_CHUNK))
    its = [
        _iter_source(store, src, order, compiled, after=after, skip=first_skip, chunk=chunk)
        for src in es.sources
    ]
    merged = its[0] if len(its) == 1 else heapq.merge(*its, key=lambda it: it.pos)
    return merged if fast or not skip else islice(merged, skip, None)


def count(store: TenantStore, es: EntitySet, compiled: Compiled) -> int:
    """How many rows match the filter (paging options aside)."""
    if compiled.empty:
        return 0
    if es.static is None and compiled.rest is None:
        return sum(store.count_range(s.stream, compiled.since, compiled.before) for s in es.sources)
    order = es.order_modes()[-1]
    return sum(1 for _ in iterate(store, es, order, compiled, chunk=5000))


def children(
    store: TenantStore, parent: EntitySet, target: EntitySet, nav: str, parents: list[int]
) -> dict[int, list[Item]]:
    """Child rows of parent rows (by index) through a navigation property."""
    found = parent.nav(nav)
    assert found is not None and len(target.sources) == 1
    src = target.sources[0]
    mapping = found.children(store, parents)
    flat = [i for p in parents for i in mapping.get(p, [])]
    out: dict[int, list[Item]] = {p: [] for p in parents}
    if not flat:
        return out
    idx = np.array(flat, dtype=np.int64)
    rows, mods, vers = store.render_meta(src.stream, idx)
    projected = src.project(Batch(store, idx, rows, mods, vers))
    by_idx = {
        i: Item((src.rank, i), row, src.etag(m, v), i)
        for i, row, m, v in zip(flat, projected, mods, vers, strict=True)
    }
    for p in parents:
        out[p] = [by_idx[i] for i in mapping.get(p, [])]
    return out


def page(
    store: TenantStore,
    es: EntitySet,
    q: Query,
    page_size: int,
    targets: dict[str, EntitySet],
) -> Page:
    """One page of a collection request; `targets` maps expanded navigations to their sets."""
    limit = page_size if q.top is None else min(page_size, q.top)
    items: list[Item] = []
    if limit > 0:
        it = iterate(store, es, q.order, q.compiled, after=q.after, skip=q.skip, chunk=limit + 1)
        items = list(islice(it, limit + 1))
    more = len(items) > limit
    items = items[:limit]
    result = Page(items)
    remaining = None if q.top is None else q.top - len(items)
    if more and items and remaining != 0:
        result.next_token = encode_token(q, es, items[-1].pos, remaining)
    if q.count:
        result.count = count(store, es, q.compiled)
    for nav in q.expand:
        result.children[nav] = children(store, es, targets[nav], nav, [i.idx for i in items])
    return result


def all_rows(store: TenantStore, es: EntitySet) -> Iterator[Item]:
    """Every row of an entity set in key order."""
    return iterate(store, es, es.order_modes()[0], Compiled(), chunk=5000)


def total(store: TenantStore, es: EntitySet) -> int:
    """The number of rows of an entity set."""
    return count(store, es, Compiled())
