"""Per-tenant live state: clock, overlays of changed and new rows, ordered queries.

Base rows (index < n_base) come from the generator; their ModifiedOn is
non-decreasing in the index, so a `modified_since` bound is a binary search on
the index. Rows changed or created by `advance` live in a small overlay: a
version and a ModifiedOn per index, plus a list of (ModifiedOn, index) kept
sorted. A changed base row is skipped in the base sequence and appears in the
overlay part instead, so a query is: base rows in [lo, hi) minus the
overridden ones, then overlay rows in (ModifiedOn, key) order. Overlay
timestamps are never earlier than the starting clock, and base timestamps are
always earlier, so the overlay part always comes last. Every query costs
O(page size + log n) plus O(log m) in the overlay size m.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from erp_sandbox import vocab
from erp_sandbox.generator import (
    US,
    Generator,
    RowSet,
    first_line_index,
    line_count,
    line_of_index_np,
    micros_to_iso,
)
from erp_sandbox.hashing import make_salt
from erp_sandbox.schema import ENTITIES
from erp_sandbox.tenants import Tenant

WITH_CREATED = {"sales_orders", "customers", "vendors", "products"}

#: advance() fields: (field, stream, kind)
CHANGE_FIELDS: dict[str, tuple[str, str]] = {
    "new_orders": ("sales_orders", "new"),
    "updated_orders": ("sales_orders", "update"),
    "updated_lines": ("sales_order_lines", "update"),
    "new_customers": ("customers", "new"),
    "updated_customers": ("customers", "update"),
    "new_vendors": ("vendors", "new"),
    "updated_vendors": ("vendors", "update"),
    "new_products": ("products", "new"),
    "updated_products": ("products", "update"),
    "updated_inventory": ("inventory", "update"),
    "deleted_orders": ("sales_orders", "delete"),
    "deleted_lines": ("sales_order_lines", "delete"),
    "deleted_customers": ("customers", "delete"),
    "deleted_vendors": ("vendors", "delete"),
}
#: Streams whose rows can be deleted (those with a replication key, except products,
#: whose inventory rows would go too); deleting an order deletes its lines.
DELETABLE = ("sales_orders", "sales_order_lines", "customers", "vendors")
MAX_CHANGE = 1_000_000


class ChangeError(ValueError):
    """An invalid `advance` request."""


@dataclass
class EntityState:
    """Live state of one entity of one tenant."""

    stream: str
    n_base: int
    n_total: int
    version: dict[int, int] = field(default_factory=dict)
    modified: dict[int, int] = field(default_factory=dict)
    created: dict[int, int] = field(default_factory=dict)  # rows created by advance
    ordered: list[tuple[int, int]] = field(default_factory=list)  # (modified, index)
    overridden: list[int] = field(default_factory=list)  # sorted base indices in the overlay
    line_map: dict[int, tuple[int, int]] = field(default_factory=dict)  # new line -> (order, ln)
    deleted: dict[int, int] = field(default_factory=dict)  # index -> deleted at (epoch µs)

    def count_overridden(self, a: int, b: int) -> int:
        """Overridden base indices in [a, b)."""
        if not self.overridden or a >= b:
            return 0
        return bisect_left(self.overridden, b) - bisect_left(self.overridden, a)


@dataclass
class Page:
    """One page of a query."""

    rows: list[dict[str, Any]]
    has_more: bool
    last: tuple[int | None, int] | None  # (ModifiedOn, index) of the last row


class TenantStore:
    """The data of one tenant as it is now."""

    def __init__(self, seed: int, tenant: Tenant, orders: int, clock_us: int) -> None:
        self.seed = seed
        self.tenant = tenant
        self.gen = Generator(seed, tenant, orders, clock_us)
        self.clock = clock_us
        self.data_version = 0
        self.advance_calls = 0
        self.entities = {
            s: EntityState(s, n, n) for s, n in self.gen.sizes.items() if s in ENTITIES
        }

    # -- reading ---------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Current row counts per stream."""
        return {s: es.n_total - len(es.deleted) for s, es in self.entities.items()}

    def clock_iso(self) -> str:
        """The tenant clock as an ISO timestamp in the tenant's offset."""
        return micros_to_iso(self.clock, self.tenant.utc_offset_minutes)

    def rowset(self, stream: str, idx: np.ndarray) -> tuple[RowSet, Any]:
        """Live attributes of rows by index (plus (order, line) arrays for lines)."""
        es = self.entities[stream]
        gen = self.gen
        mod = gen.base_modified(stream, idx)
        created = gen.base_created(stream, idx, mod) if stream in WITH_CREATED else None
        ver = np.zeros(idx.shape, dtype=np.int64)
        if es.version:
            vget, mods, cget = es.version.get, es.modified, es.created.get
            for k, i in enumerate(idx.tolist()):
                v = vget(i)
                if v is None:
                    continue
                ver[k] = v
                mod[k] = mods[i]
                c = cget(i)
                if c is not None and created is not None:
                    created[k] = c
        lines_of = None
        if stream == "sales_order_lines":
            order, ln = line_of_index_np(idx)
            if es.line_map and idx.size and int(idx.max()) >= es.n_base:
                for k, i in enumerate(idx.tolist()):
                    if i >= es.n_base:
                        order[k], ln[k] = es.line_map[i]
            lines_of = (order, ln)
        return RowSet(idx, ver, mod, created), lines_of

    def render(self, stream: str, idx: np.ndarray) -> list[dict[str, Any]]:
        """Rows by index, as wire dicts."""
        if idx.size == 0:
            return []
        rows, lines_of = self.rowset(stream, idx)
        return self.gen.render(stream, rows, lines_of)

    def render_meta(
        self, stream: str, idx: np.ndarray
    ) -> tuple[list[dict[str, Any]], list[int], list[int]]:
        """Rows by index with their ModifiedOn (epoch microseconds) and versions."""
        if idx.size == 0:
            return [], [], []
        rows, lines_of = self.rowset(stream, idx)
        rendered = self.gen.render(stream, rows, lines_of)
        return rendered, rows.modified.tolist(), rows.version.tolist()

    def ordered_indices(
        self,
        stream: str,
        *,
        since: int | None,
        before: int | None,
        after: tuple[int, int] | None,
        offset: int | None,
        need: int,
    ) -> np.ndarray:
        """Up to `need` row indices in (ModifiedOn, key) order within [since, before)."""
        return self._select_ordered(
            self.entities[stream], since=since, before=before, offset=offset, after=after, need=need
        )

    def count_range(self, stream: str, since: int | None, before: int | None) -> int:
        """Number of rows with since <= ModifiedOn < before (bounds optional)."""
        es = self.entities[stream]
        if ENTITIES[stream].replication_key is None:
            return es.n_total
        tl = self.gen.timelines[stream]
        lo = 0 if since is None else tl.first_ge(since)
        hi = es.n_base if before is None else max(lo, tl.first_ge(before))
        ov = es.ordered
        olo = 0 if since is None else bisect_left(ov, (since, -1))
        ohi = len(ov) if before is None else max(olo, bisect_left(ov, (before, -1)))
        return (hi - lo) - es.count_overridden(lo, hi) + (ohi - olo)

    def order_lines(self, orders: list[int]) -> dict[int, list[int]]:
        """Line indices of sales orders by order index, in line-number order."""
        lines = self.entities["sales_order_lines"]
        n_base = self.gen.sizes["sales_orders"]
        out: dict[int, list[int]] = {}
        wanted = set()
        for o in orders:
            if o < n_base:
                first = first_line_index(o)
                out[o] = list(range(first, first + line_count(o)))
            else:
                out[o] = []
                wanted.add(o)
        if wanted:
            for li, (o, _ln) in sorted(lines.line_map.items()):
                if o in wanted:
                    out[o].append(li)
        if lines.deleted:
            out = {o: [li for li in lis if li not in lines.deleted] for o, lis in out.items()}
        return out

    def select(
        self,
        stream: str,
        *,
        since: int | None,
        before: int | None,
        offset: int | None,
        after: tuple[int | None, int] | None,
        limit: int,
    ) -> Page:
        """One page in the entity's order, from an offset or after a keyset position."""
        es = self.entities[stream]
        need = limit + 1
        if ENTITIES[stream].replication_key is None:
            start = offset if offset is not None else (after[1] + 1 if after else 0)
            idx = np.arange(start, min(es.n_total, start + need), dtype=np.int64)
        else:
            idx = self._select_ordered(
                es, since=since, before=before, offset=offset, after=after, need=need
            )
        has_more = idx.size > limit
        idx = idx[:limit]
        rows = self.render(stream, idx)
        last = None
        if rows:
            i = int(idx[-1])
            if ENTITIES[stream].replication_key is None:
                last = (None, i)
            else:
                m = es.modified.get(i)
                last = (m if m is not None else self.gen.timelines[stream].ts(i), i)
        return Page(rows, has_more, last)

    def _select_ordered(
        self,
        es: EntityState,
        *,
        since: int | None,
        before: int | None,
        offset: int | None,
        after: tuple[int | None, int] | None,
        need: int,
    ) -> np.ndarray:
        tl = self.gen.timelines[es.stream]
        lo = 0 if since is None else tl.first_ge(since)
        hi = es.n_base if before is None else max(lo, tl.first_ge(before))
        ov = es.ordered
        olo = 0 if since is None else bisect_left(ov, (since, -1))
        ohi = len(ov) if before is None else max(olo, bisect_left(ov, (before, -1)))
        if after is not None:
            am, ai = after
            assert am is not None
            x = max(lo, tl.first_after(am, ai))
            base = self._take_free(es, x, hi, need)
            ostart = max(olo, bisect_right(ov, (am, ai)))
        else:
            k = offset or 0
            free = (hi - lo) - es.count_overridden(lo, hi)
            base = self._take_free(es, self._kth_free(es, lo, hi, k), hi, need) if k < free else []
            ostart = olo + max(0, k - free)
        rem = need - len(base)
        tail = [i for _, i in ov[ostart : min(ohi, ostart + rem)]] if rem > 0 else []
        if isinstance(base, np.ndarray):
            return np.concatenate((base, np.array(tail, dtype=np.int64))) if tail else base
        return np.array(base + tail, dtype=np.int64)

    @staticmethod
    def _kth_free(es: EntityState, lo: int, hi: int, k: int) -> int:
        """Index of the k-th (0-based) non-overridden base row in [lo, hi)."""
        if not es.overridden:
            return lo + k
        a, b = lo + k, hi - 1
        while a < b:
            mid = (a + b) >> 1
            if (mid + 1 - lo) - es.count_overridden(lo, mid + 1) >= k + 1:
                b = mid
            else:
                a = mid + 1
        return a

    @staticmethod
    def _take_free(es: EntityState, x: int, hi: int, need: int) -> np.ndarray:
        """Up to `need` non-overridden base indices from x (below hi)."""
        if x >= hi:
            return np.empty(0, dtype=np.int64)
        end = min(hi, x + need)
        for _ in range(len(es.overridden) + 2):
            free = (end - x) - es.count_overridden(x, end)
            if free >= need or end >= hi:
                break
            end = min(hi, end + need - free)
        idx = np.arange(x, end, dtype=np.int64)
        if es.count_overridden(x, end):
            gone = es.overridden[bisect_left(es.overridden, x) : bisect_left(es.overridden, end)]
            idx = idx[~np.isin(idx, np.array(gone, dtype=np.int64))]
        return idx[:need]

    def iter_all(self, stream: str, chunk: int = 5000) -> Iterator[list[dict[str, Any]]]:
        """Every current row ordered by primary key, in chunks."""
        n = self.entities[stream].n_total
        for start in range(0, n, chunk):
            idx = self.live(stream, np.arange(start, min(n, start + chunk), dtype=np.int64))
            if idx.size:
                yield self.render(stream, idx)

    def live(self, stream: str, idx: np.ndarray) -> np.ndarray:
        """`idx` without the deleted rows."""
        deleted = self.entities[stream].deleted
        if not deleted or idx.size == 0:
            return idx
        return idx[~np.isin(idx, np.fromiter(deleted, dtype=np.int64, count=len(deleted)))]

    def live_indices(self, stream: str, n: int) -> list[int]:
        """Indices below `n` of rows not deleted."""
        deleted = self.entities[stream].deleted
        return [i for i in range(n) if i not in deleted] if deleted else list(range(n))

    def deletions(self, stream: str, since: int | None) -> list[tuple[int, int]]:
        """(deleted at, index) of rows deleted at or after `since`, in that order."""
        found = sorted((at, i) for i, at in self.entities[stream].deleted.items())
        return found if since is None else found[bisect_left(found, (since, -1)) :]

    # -- changing -----------------------------------------------------------------

    def _touch(self, es: EntityState, i: int, now: int, new: bool, content: bool = True) -> None:
        """Stamp row i with `now`; `content` False keeps its values (a re-stamp only)."""
        ordered = ENTITIES[es.stream].replication_key is not None
        q = self.tenant.quantum(es.stream)
        now -= now % q
        old = es.modified.get(i)
        if old is not None:
            if ordered:
                pos = bisect_left(es.ordered, (old, i))
                del es.ordered[pos]
            es.version[i] += 1 if content else 0
        else:
            if i < es.n_base:
                insort(es.overridden, i)
            es.version[i] = 0 if new or not content else 1
        if new:
            es.created[i] = now
        es.modified[i] = now
        if ordered:
            insort(es.ordered, (now, i))

    def _new_row(self, es: EntityState, now: int) -> int:
        i = es.n_total
        es.n_total += 1
        self._touch(es, i, now, new=True)
        return i

    def advance(self, change: dict[str, Any]) -> dict[str, Any]:
        """Move the clock and apply changes; all touched rows share the new clock."""
        counts = self.validate_change(change)
        seconds = change.get("seconds", 0)
        self.clock += round(float(seconds) * US)
        now = self.clock
        rng = random.Random(make_salt(self.seed, self.tenant.name, "advance", self.advance_calls))
        self.advance_calls += 1
        self.data_version += 1  # odd while changing (see app._prefetch)
        try:
            return self._apply(counts, now, rng)
        finally:
            self.data_version += 1

    def _apply(self, counts: dict[str, int], now: int, rng: random.Random) -> dict[str, Any]:
        ents = self.entities
        before = {s: es.n_total for s, es in ents.items()}
        changed: dict[str, list[Any]] = {s: [] for s in ents}

        def update(stream: str, k: int) -> None:
            es = ents[stream]
            n = before[stream]
            live = self.live_indices(stream, n)
            for i in sorted(rng.sample(live, min(k, len(live)))):
                self._touch(es, i, now, new=False)
                changed[stream].append(i)

        for _ in range(counts.get("new_customers", 0)):
            changed["customers"].append(self._new_row(ents["customers"], now))
        for _ in range(counts.get("new_vendors", 0)):
            changed["vendors"].append(self._new_row(ents["vendors"], now))
        for _ in range(counts.get("new_products", 0)):
            changed["products"].append(self._new_row(ents["products"], now))
            for _w in vocab.WAREHOUSES:
                changed["inventory"].append(self._new_row(ents["inventory"], now))
        lines = ents["sales_order_lines"]
        for _ in range(counts.get("new_orders", 0)):
            o = self._new_row(ents["sales_orders"], now)
            changed["sales_orders"].append(o)
            for ln in range(line_count(o)):
                li = self._new_row(lines, now)
                lines.line_map[li] = (o, ln)
                changed["sales_order_lines"].append(li)
        for name, (stream, kind) in CHANGE_FIELDS.items():
            if kind == "update" and counts.get(name):
                update(stream, counts[name])
        if self.tenant.line_edits_touch_order and counts.get("updated_lines"):
            self._restamp_orders(changed, now)
        deleted: dict[str, list[int]] = {s: [] for s in DELETABLE}
        for name, (stream, kind) in CHANGE_FIELDS.items():
            if kind == "delete" and counts.get(name):
                live = self.live_indices(stream, before[stream])
                picked = sorted(rng.sample(live, min(counts[name], len(live))))
                for s, idxs in self._delete(stream, picked, now).items():
                    deleted[s] += idxs
        for s in deleted:
            changed[s] = [i for i in changed[s] if i not in self.entities[s].deleted]
        out: dict[str, list[Any]] = {}
        nwh = len(vocab.WAREHOUSES)
        for stream, idxs in changed.items():
            if stream == "inventory":
                out[stream] = [[i // nwh + 1, vocab.WAREHOUSES[i % nwh]] for i in sorted(idxs)]
            else:
                out[stream] = [i + 1 for i in sorted(set(idxs))]
        gone = {s: [i + 1 for i in sorted(set(idxs))] for s, idxs in deleted.items()}
        return {"clock": self.clock_iso(), "changed": out, "deleted": gone}

    def delete(self, keys: dict[str, list[int]]) -> dict[str, list[int]]:
        """Delete rows by key now (an order takes its lines along); the deleted keys."""
        for stream, ks in keys.items():
            if stream not in DELETABLE:
                raise ChangeError(
                    f"rows of {stream!r} cannot be deleted; deletable: {', '.join(DELETABLE)}"
                )
            if not isinstance(ks, list) or not all(type(k) is int for k in ks):
                raise ChangeError(f"{stream!r}: a list of integer keys is expected")
            es = self.entities[stream]
            for k in ks:
                if not 1 <= k <= es.n_total or (k - 1) in es.deleted:
                    raise ChangeError(f"{stream!r}: no row with key {k}")
        self.data_version += 1
        try:
            out: dict[str, list[int]] = {s: [] for s in DELETABLE}
            for stream, ks in keys.items():
                for s, idxs in self._delete(
                    stream, sorted({k - 1 for k in ks}), self.clock
                ).items():
                    out[s] += [i + 1 for i in idxs]
            return {s: sorted(v) for s, v in out.items()}
        finally:
            self.data_version += 1

    def _delete(self, stream: str, idxs: list[int], now: int) -> dict[str, list[int]]:
        """Remove rows (and the lines of removed orders) from every query."""
        out: dict[str, list[int]] = {stream: []}
        es = self.entities[stream]
        for i in idxs:
            if i in es.deleted:
                continue
            old = es.modified.get(i)
            # Its last version stays renderable (for admin answers); queries skip it:
            # a base row is overridden, an overlay row leaves the ordered overlay.
            if old is not None:
                del es.ordered[bisect_left(es.ordered, (old, i))]
            elif i < es.n_base:
                insort(es.overridden, i)
            es.deleted[i] = now
            out[stream].append(i)
        if stream == "sales_orders" and out[stream]:
            lines = [li for lis in self.order_lines(out[stream]).values() for li in lis]
            out["sales_order_lines"] = self._delete("sales_order_lines", lines, now)[
                "sales_order_lines"
            ]
        return out

    def _restamp_orders(self, changed: dict[str, list[Any]], now: int) -> None:
        """Give the orders of edited lines the transaction's timestamp (values unchanged)."""
        lines = self.entities["sales_order_lines"]
        orders = self.entities["sales_orders"]
        done = set(changed["sales_orders"])
        base = [i for i in changed["sales_order_lines"] if i < lines.n_base]
        owners, _ = line_of_index_np(np.array(base, dtype=np.int64))
        owner_list = owners.tolist() + [
            lines.line_map[i][0] for i in changed["sales_order_lines"] if i >= lines.n_base
        ]
        for o in sorted(set(owner_list) - done):
            self._touch(orders, o, now, new=False, content=False)
            changed["sales_orders"].append(o)

    @staticmethod
    def validate_change(change: Any) -> dict[str, int]:
        """Check an advance body; returns the change counts."""
        if not isinstance(change, dict):
            raise ChangeError("the body must be a JSON object")
        counts: dict[str, int] = {}
        for key, value in change.items():
            if key == "seconds":
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ChangeError("'seconds' must be a non-negative number")
                continue
            if key not in CHANGE_FIELDS:
                raise ChangeError(f"unknown change field {key!r}")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ChangeError(f"{key!r} must be a non-negative integer")
            if value > MAX_CHANGE:
                raise ChangeError(f"{key!r} must be at most {MAX_CHANGE}")
            counts[key] = value
        return counts
