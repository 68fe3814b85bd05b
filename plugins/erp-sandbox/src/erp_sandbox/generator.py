"""Deterministic, lazy generation of records.

Nothing is materialised: every field of record i is computed from hashes of
(seed, tenant, entity, field, i[, version]). Pages are generated column-wise with
numpy and turned into row dicts by a per-entity row builder.

Keys are 1-based (`key = index + 1`). Sales orders come in pairs sharing seven
lines (k and 7 - k, k in 1..6), so the order and line number of line index L are
O(1) arithmetic, and an order's lines are known without any table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from erp_sandbox import vocab
from erp_sandbox.hashing import h, h_np, make_salt, mix, mod_np, uniform_np
from erp_sandbox.schema import field_names
from erp_sandbox.tenants import Tenant

US = 1_000_000
DAY_US = 86_400 * US
HISTORY_START_US = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp()) * US
BLOCK_BITS = 5  # tie groups are drawn per block of 32 rows
_M32 = np.uint64(0xFFFFFFFF)

EA_LIKE = {"EA", "BOX", "PAL"}


def micros_to_iso(us: int, offset_minutes: int) -> str:
    """Format epoch microseconds as ISO 8601 with microseconds in a given offset."""
    arr = np.array([us + offset_minutes * 60 * US], dtype="datetime64[us]")
    sign = "+" if offset_minutes >= 0 else "-"
    m = abs(offset_minutes)
    return str(np.datetime_as_string(arr, unit="us")[0]) + f"{sign}{m // 60:02d}:{m % 60:02d}"


def sizes_for(orders: int) -> dict[str, int]:
    """Base row counts of every entity for `--orders N`."""
    products = max(1, orders // 8)
    pairs, odd = divmod(orders, 2)
    return {
        "sales_orders": orders,
        "sales_order_lines": 7 * pairs + (_pair_first(pairs) if odd else 0),
        "customers": max(1, orders // 10),
        "vendors": max(1, orders // 40),
        "products": products,
        "inventory": products * len(vocab.WAREHOUSES),
    }


_PAIR_SALT = make_salt("order-pairs")


def _pair_first(pair: int) -> int:
    """Number of lines (1..6) of the first order of pair `pair` (same for every tenant)."""
    return 1 + h(_PAIR_SALT, pair) % 6


def line_counts_np(orders: np.ndarray) -> np.ndarray:
    """Number of lines of each order index."""
    pair = orders >> 1
    k = 1 + mod_np(h_np(_PAIR_SALT, pair), 6)
    return np.where((orders & 1) == 0, k, 7 - k)


def line_of_index_np(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order index, line number) of base line indices."""
    pair, r = np.divmod(idx, 7)
    k = 1 + mod_np(h_np(_PAIR_SALT, pair), 6)
    first = r < k
    return np.where(first, 2 * pair, 2 * pair + 1), np.where(first, r, r - k)


def first_line_index(order: int) -> int:
    """Base line index of line 0 of a base order."""
    pair = order >> 1
    return 7 * pair + (0 if order % 2 == 0 else _pair_first(pair))


def line_count(order: int) -> int:
    """Number of lines of an order index."""
    k = _pair_first(order >> 1)
    return k if order % 2 == 0 else 7 - k


class Timeline:
    """Base `ModifiedOn` of an entity: non-decreasing in the index, with tie groups.

    Rows are grouped (per block of 32 rows, each row starts a new group with
    probability 1/2); every row of a group shares the group start's timestamp.
    One large group (a bulk import) is forced in: 60% of the table when it has
    at most 1,000 rows, otherwise min(3,000, max(1,001, 60%)) rows.
    """

    def __init__(self, salt: int, n: int, start_us: int, end_us: int, quantum: int = 1) -> None:
        self.n = n
        self.quantum = quantum  # timestamps are floored to a multiple of this
        self.salt_groups = make_salt(salt, "groups")
        self.salt_jitter = make_salt(salt, "jitter")
        self.start = start_us
        if n > 1000:
            big = min(3000, n, max(1001, int(n * 0.6)))
        else:
            big = max(2, int(n * 0.6)) if n >= 4 else 0
        self.big_size = big
        self.big_start = max(0, min(int(n * 0.37), n - big)) if big else 0
        self.big_end = self.big_start + big
        # Time advances per group start outside the big group, so history has no hole.
        self.shrink = max(0, big - 1)
        self.w = (end_us - start_us) / max(n - self.shrink, 1)
        self.jmod = max(1, math.floor(self.w) - 1)

    def group_start(self, i: int) -> int:
        """Index of the first row of i's tie group."""
        if self.big_start <= i < self.big_end:
            return self.big_start
        block = i >> BLOCK_BITS
        j = i & 31
        m = (mix(self.salt_groups + block * 0x9E3779B97F4A7C15) & 0xFFFFFFFF) | 1
        m &= 0xFFFFFFFF >> (31 - j)
        gs = (block << BLOCK_BITS) + m.bit_length() - 1
        if gs < self.big_end <= i:
            gs = self.big_end
        return gs

    def ts(self, i: int) -> int:
        """Base ModifiedOn (epoch microseconds) of row i."""
        g = self.group_start(i)
        slot = g - self.shrink if g >= self.big_end else g
        t = self.start + int(slot * self.w) + h(self.salt_jitter, g) % self.jmod
        return t - t % self.quantum if self.quantum > 1 else t

    def ts_np(self, idx: np.ndarray) -> np.ndarray:
        """Vectorised `ts`."""
        block = idx >> BLOCK_BITS
        j = (idx & 31).astype(np.uint64)
        m = (h_np(self.salt_groups, block) & _M32) | np.uint64(1)
        m &= _M32 >> (np.uint64(31) - j)
        hb = np.frexp(m.astype(np.float64))[1].astype(np.int64) - 1
        gs = (block << BLOCK_BITS) + hb
        if self.big_size:
            in_big = (idx >= self.big_start) & (idx < self.big_end)
            gs = np.where((gs < self.big_end) & (idx >= self.big_end), self.big_end, gs)
            gs = np.where(in_big, self.big_start, gs)
        jit = mod_np(h_np(self.salt_jitter, gs), self.jmod)
        slot = np.where(gs >= self.big_end, gs - self.shrink, gs) if self.shrink else gs
        t = self.start + (slot.astype(np.float64) * self.w).astype(np.int64) + jit
        return t - t % self.quantum if self.quantum > 1 else t

    def first_ge(self, t: int) -> int:
        """Smallest index whose ts >= t (n if none)."""
        lo, hi = 0, self.n
        while lo < hi:
            mid = (lo + hi) >> 1
            if self.ts(mid) >= t:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def first_after(self, t: int, i: int) -> int:
        """Smallest index x with (ts(x), x) > (t, i) (n if none)."""
        lo, hi = 0, self.n
        while lo < hi:
            mid = (lo + hi) >> 1
            if (self.ts(mid), mid) > (t, i):
                hi = mid
            else:
                lo = mid + 1
        return lo

    def tie_groups(self) -> list[tuple[int, int]]:
        """(start, size) of groups larger than 1,000 rows (for tests and docs)."""
        return [(self.big_start, self.big_size)] if self.big_size > 1000 else []


def _compile_builder(names: list[str]) -> Callable[[list[list[Any]]], list[dict[str, Any]]]:
    """A fast row builder: columns -> list of dicts with constant keys."""
    args = [f"v{k}" for k in range(len(names))]
    body = ", ".join(f"{n!r}: {a}" for n, a in zip(names, args, strict=True))
    src = f"def build(cols):\n    return [{{{body}}} for {', '.join(args)}, in zip(*cols)]\n"
    ns: dict[str, Any] = {}
    exec(compile(src, "<row-builder>", "exec"), ns)
    return ns["build"]


def _fill_pattern(pattern: str, hv: int) -> str:
    out = []
    for ch in pattern:
        if ch == "#":
            out.append(str(hv % 10))
            hv //= 10
        elif ch == "A":
            out.append(chr(65 + hv % 26))
            hv //= 26
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class RowSet:
    """Per-row live attributes the store passes to the generator."""

    idx: np.ndarray  # int64 row indices (key - 1)
    version: np.ndarray  # int64, 0 for untouched rows
    modified: np.ndarray  # int64 epoch microseconds
    created: np.ndarray | None = None  # int64 epoch microseconds (entities with CreatedOn)


class Generator:
    """All record generation of one tenant."""

    def __init__(self, seed: int, tenant: Tenant, orders: int, clock_us: int) -> None:
        self.seed = seed
        self.tenant = tenant
        self.clock0 = clock_us
        self.sizes = sizes_for(orders)
        self.offset_us = tenant.utc_offset_minutes * 60 * US
        self.suffix = tenant.offset_suffix
        start = HISTORY_START_US
        if clock_us - start < 30 * DAY_US:
            start = clock_us - 3 * 365 * DAY_US
        end = clock_us - 3600 * US
        self.timelines = {
            stream: Timeline(
                self._salt(stream, "modified"),
                self.sizes[stream],
                start,
                end,
                tenant.quantum(stream),
            )
            for stream in ("sales_orders", "sales_order_lines", "customers", "vendors", "products")
        }
        self.history_start = start
        self.builders = {
            stream: _compile_builder(field_names(tenant, stream))
            for stream in (
                "sales_orders",
                "sales_order_lines",
                "customers",
                "vendors",
                "products",
                "inventory",
            )
        }
        # Small lookup tables (not tables of records).
        self.postal: list[list[str]] = [
            [_fill_pattern(c[4], h(self._salt("postal", c[0]), k)) for k in range(257)]
            for c in vocab.COUNTRIES
        ]
        names: list[str] = []
        self.name_offsets: list[int] = []
        for _group, nouns, _uoms in vocab.ITEM_GROUPS:
            self.name_offsets.append(len(names))
            for noun in nouns:
                for adj in vocab.ITEM_ADJECTIVES:
                    for size in vocab.ITEM_SIZES:
                        names.append(f"{adj} {noun} {size}")
        self.item_names = np.array(names, dtype=object)
        self.tag_sets = self._make_tag_sets()

    # -- helpers -----------------------------------------------------------

    def _salt(self, *parts: object) -> int:
        return make_salt(self.seed, self.tenant.name, *parts)

    def _hash(self, stream: str, name: str, idx: np.ndarray, ver: np.ndarray | None = None) -> Any:
        return h_np(self._salt(stream, name), idx, ver)

    def _make_tag_sets(self) -> list[list[str]]:
        sets: list[list[str]] = [[] for _ in range(10)]
        tags = vocab.ORDER_TAGS
        for k in range(54):
            a, b, c = k % len(tags), (k * 5 + 3) % len(tags), (k * 7 + 1) % len(tags)
            sets.append([tags[a]] if k < 27 else sorted({tags[a], tags[b], tags[c]}))
        return sets

    def fmt_ts(self, us: np.ndarray) -> list[str]:
        """Epoch microseconds -> ISO strings in the tenant's offset."""
        local = (us + self.offset_us).astype("datetime64[us]")
        return np.char.add(np.datetime_as_string(local, unit="us"), self.suffix).tolist()

    def fmt_date(self, us: np.ndarray) -> list[str]:
        """Epoch microseconds -> local calendar dates."""
        days = ((us + self.offset_us) // DAY_US).astype("datetime64[D]")
        return np.datetime_as_string(days, unit="D").tolist()

    def base_modified(self, stream: str, idx: np.ndarray) -> np.ndarray:
        """Base ModifiedOn of rows (entities with a replication key, and inventory)."""
        if stream == "inventory":
            hv = self._hash("inventory", "modified", idx)
            span = 180 * DAY_US
            return self.clock0 - 3600 * US - span + (uniform_np(hv) * span).astype(np.int64)
        return self.timelines[stream].ts_np(idx)

    def base_created(self, stream: str, idx: np.ndarray, modified: np.ndarray) -> np.ndarray:
        """Base CreatedOn: at or before the base ModifiedOn."""
        hv = self._hash(stream, "created", idx)
        room = np.clip(modified - self.history_start, 0, 40 * DAY_US)
        back = (uniform_np(hv) * room).astype(np.int64)
        return modified - np.where(mod_np(hv, 100) < 35, 0, back)

    @staticmethod
    def _money(cents: np.ndarray) -> list[float]:
        return (cents / 100.0).tolist()

    @staticmethod
    def _with_nulls(values: list[Any], null_mask: np.ndarray) -> list[Any]:
        return [None if n else v for v, n in zip(values, null_mask.tolist(), strict=True)]

    # -- geography and parties -----------------------------------------------

    def _party(self, stream: str, idx: np.ndarray, ver: np.ndarray) -> dict[str, Any]:
        """Columns shared by customers and vendors (name, contact, address)."""
        hc = self._hash(stream, "country", idx)
        country = mod_np(hc, len(vocab.COUNTRIES)).tolist()
        hn = self._hash(stream, "name", idx)
        sur = mod_np(hn, len(vocab.SURNAMES)).tolist()
        word = mod_np(hn >> np.uint64(20), len(vocab.COMPANY_WORDS)).tolist()
        names, slugs = [], []
        for c, s, w in zip(country, sur, word, strict=True):
            cc = vocab.COUNTRIES[c][0]
            base = f"{vocab.SURNAMES[s]} {vocab.COMPANY_WORDS[w]}"
            names.append(f"{base} {vocab.COMPANY_SUFFIX[cc]}")
            slugs.append(f"{vocab.SURNAMES[s]}-{vocab.COMPANY_WORDS[w]}".lower())
        hcontact = self._hash(stream, "contact", idx, ver)
        mailbox = mod_np(hcontact, 4).tolist()
        first = mod_np(hcontact >> np.uint64(8), len(vocab.FIRST_NAMES)).tolist()
        emails = []
        for k, (slug, mb, fn) in enumerate(zip(slugs, mailbox, first, strict=True)):
            local = ("info", "orders", "purchasing", vocab.FIRST_NAMES[fn].lower())[mb]
            emails.append(f"{local}@{slug}{idx[k] % 7 or ''}.example")
        email_null = mod_np(hcontact >> np.uint64(16), 100) < 7
        hp = self._hash(stream, "phone", idx, ver)
        area = (10 + mod_np(hp, 890)).tolist()
        num = (1_000_000 + mod_np(hp >> np.uint64(12), 8_999_999)).tolist()
        phones = [
            f"{vocab.COUNTRIES[c][3]} {a} {n}" for c, a, n in zip(country, area, num, strict=True)
        ]
        phone_null = mod_np(hp >> np.uint64(40), 100) < 10
        return {
            "country": country,
            "names": names,
            "emails": self._with_nulls(emails, email_null),
            "phones": self._with_nulls(phones, phone_null),
        }

    def addresses(self, stream: str, idx: np.ndarray, country: list[int]) -> list[dict[str, str]]:
        """Street addresses (nested objects) in the given countries."""
        ha = self._hash(stream, "address", idx)
        street = mod_np(ha, len(vocab.STREETS)).tolist()
        number = (1 + mod_np(ha >> np.uint64(8), 240)).tolist()
        city = (ha >> np.uint64(20)).tolist()
        postal = mod_np(ha >> np.uint64(40), 257).tolist()
        out = []
        for c, s, n, ci, p in zip(country, street, number, city, postal, strict=True):
            cinfo = vocab.COUNTRIES[c]
            out.append(
                {
                    "Street": f"{vocab.STREETS[s]} {n}",
                    "City": cinfo[5][ci % len(cinfo[5])],
                    "PostalCode": self.postal[c][p],
                    "CountryCode": cinfo[0],
                }
            )
        return out

    def customer_country(self, cidx: np.ndarray) -> np.ndarray:
        """Country index of customers (consistent with their BillTo)."""
        return mod_np(self._hash("customers", "country", cidx), len(vocab.COUNTRIES))

    def party_names(self, stream: str, idx: np.ndarray) -> list[str]:
        """Names of customers or vendors by index (as their rows show them)."""
        country = mod_np(self._hash(stream, "country", idx), len(vocab.COUNTRIES)).tolist()
        hn = self._hash(stream, "name", idx)
        sur = mod_np(hn, len(vocab.SURNAMES)).tolist()
        word = mod_np(hn >> np.uint64(20), len(vocab.COMPANY_WORDS)).tolist()
        return [
            f"{vocab.SURNAMES[s]} {vocab.COMPANY_WORDS[w]} "
            f"{vocab.COMPANY_SUFFIX[vocab.COUNTRIES[c][0]]}"
            for c, s, w in zip(country, sur, word, strict=True)
        ]

    def order_currencies(self, order: np.ndarray) -> list[str]:
        """Currency codes of sales orders by index (their customer's country)."""
        cust = mod_np(self._hash("sales_orders", "customer", order), self.sizes["customers"])
        return [vocab.COUNTRIES[c][1] for c in self.customer_country(cust).tolist()]

    # -- products --------------------------------------------------------------

    def product_attrs(self, p: np.ndarray, ver: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Group, name id, UoM and prices of products (prices at `ver`, default 0)."""
        hg = self._hash("products", "group", p)
        group = mod_np(hg, len(vocab.ITEM_GROUPS))
        noun_counts = np.array([len(g[1]) for g in vocab.ITEM_GROUPS])
        uom_counts = np.array([len(g[2]) for g in vocab.ITEM_GROUPS])
        noun = mod_np(hg >> np.uint64(8), 1 << 20) % noun_counts[group]
        adj = mod_np(hg >> np.uint64(28), len(vocab.ITEM_ADJECTIVES))
        size = mod_np(hg >> np.uint64(36), len(vocab.ITEM_SIZES))
        name_id = (
            np.array(self.name_offsets)[group]
            + (noun * len(vocab.ITEM_ADJECTIVES) + adj) * len(vocab.ITEM_SIZES)
            + size
        )
        uom_k = mod_np(hg >> np.uint64(44), 1 << 16) % uom_counts[group]
        hp = self._hash("products", "price", p)
        price = np.exp(np.log(0.05) + uniform_np(hp) * (np.log(2500.0) - np.log(0.05)))
        p4 = np.round(price * 10_000).astype(np.int64)
        p4 = np.where(p4 >= 100_000, (p4 // 100) * 100, np.maximum(p4, 1))
        if ver is not None and ver.any():
            hv = self._hash("products", "reprice", p, ver)
            pct = 100 + mod_np(hv, 13) - 4
            p4 = np.where(ver > 0, (p4 * pct) // 100, p4)
        return {"group": group, "name_id": name_id, "uom_k": uom_k, "price4": p4}

    def uom_codes(self, group: np.ndarray, uom_k: np.ndarray) -> list[str]:
        """UoM codes from group and per-group choice."""
        return [
            vocab.ITEM_GROUPS[g][2][k] for g, k in zip(group.tolist(), uom_k.tolist(), strict=True)
        ]

    # -- order lines -------------------------------------------------------------

    def line_values(self, order: np.ndarray, ln: np.ndarray, ver: np.ndarray) -> dict[str, Any]:
        """Numeric content of lines identified by (order index, line number)."""
        lid = order * 8 + ln
        hl = self._hash("sales_order_lines", "item", lid)
        item = mod_np(hl, self.sizes["products"])
        pa = self.product_attrs(item)
        uoms = self.uom_codes(pa["group"], pa["uom_k"])
        ea = np.array([u in EA_LIKE for u in uoms], dtype=bool)
        hq = self._hash("sales_order_lines", "qty", lid, ver)
        qty = np.where(ea, (1 + mod_np(hq, 48)) * 1000, 100 + mod_np(hq, 499_900))
        price4 = (pa["price4"] * (100 - 5 * mod_np(hl >> np.uint64(20), 4))) // 100
        price4 = np.maximum(price4, 1)
        gross = (qty * price4 + 50_000) // 100_000  # cents
        hd = self._hash("sales_order_lines", "discount", lid, ver)
        disc = np.where(
            mod_np(hd, 100) < 75, 0, (gross * (2 + mod_np(hd >> np.uint64(8), 9))) // 100
        )
        whs = mod_np(hl >> np.uint64(40), len(vocab.WAREHOUSES))
        return {
            "item": item,
            "name_id": pa["name_id"],
            "uoms": uoms,
            "qty": qty,
            "price4": price4,
            "disc": disc,
            "total": gross - disc,
            "whs": whs,
        }

    # -- entity renderers ----------------------------------------------------------

    def render(self, stream: str, rows: RowSet, lines_of: np.ndarray | None = None) -> list[dict]:
        """Render rows of an entity as dicts in wire format."""
        if stream == "sales_order_lines":
            if lines_of is None:
                order, ln = line_of_index_np(rows.idx)
            else:
                order, ln = lines_of[0], lines_of[1]
            return self._lines(rows, order, ln)
        return getattr(self, f"_{stream}")(rows)

    def _lines(self, rows: RowSet, order: np.ndarray, ln: np.ndarray) -> list[dict]:
        v = self.line_values(order, ln, rows.version)
        item = v["item"]
        codes = [f"SKU-{k:06d}" for k in (item + 1).tolist()]
        whs = np.array(vocab.WAREHOUSES, dtype=object)[v["whs"]].tolist()
        cols = [
            (rows.idx + 1).tolist(),
            (order + 1).tolist(),
            ln.tolist(),
            (item + 1).tolist(),
            codes,
            self.item_names[v["name_id"]].tolist(),
            (v["qty"] / 1000.0).tolist(),
            v["uoms"],
            (v["price4"] / 10_000.0).tolist(),
            self._money(v["disc"]),
            self._money(v["total"]),
            whs,
            self.fmt_ts(rows.modified),
        ]
        return self.builders["sales_order_lines"](cols)

    def order_subtotals(self, order: np.ndarray) -> np.ndarray:
        """Sum of the version-0 line totals of each order, in cents."""
        counts = line_counts_np(order)
        rep = np.repeat(order, counts)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        ln = np.arange(rep.size) - np.repeat(starts, counts)
        v = self.line_values(rep, ln, np.zeros_like(rep))
        return np.add.reduceat(v["total"], starts)

    def _sales_orders(self, rows: RowSet) -> list[dict]:
        idx, ver = rows.idx, rows.version
        assert rows.created is not None
        hc = self._hash("sales_orders", "customer", idx)
        cust = mod_np(hc, self.sizes["customers"])
        country = self.customer_country(cust).tolist()
        sub = self.order_subtotals(idx)
        vat = np.array([vocab.COUNTRIES[c][2] for c in country], dtype=np.int64)
        tax = (sub * vat + 500) // 1000
        hs = self._hash("sales_orders", "status", idx)
        age_days = (self.clock0 - rows.created) // DAY_US
        recent = mod_np(hs, 4)
        old = np.where(mod_np(hs >> np.uint64(8), 100) < 94, 3, 2)
        status = np.where(age_days > 60, old, recent)
        status = np.minimum(status + ver, 3)
        status = np.where(mod_np(hs >> np.uint64(20), 100) < 4, 4, status)
        statuses = np.array(vocab.ORDER_STATUSES, dtype=object)[status].tolist()
        terms = np.array([14, 30, 30, 45, 60])[mod_np(hs >> np.uint64(28), 5)]
        doc_date_us = rows.created
        due_null = mod_np(hs >> np.uint64(36), 100) < 8
        due = self._with_nulls(self.fmt_date(doc_date_us + terms * DAY_US), due_null)
        hm = self._hash("sales_orders", "comments", idx, ver)
        comment_null = mod_np(hm, 100) < np.where(ver > 0, 30, 60)
        comments = np.array(vocab.ORDER_COMMENTS, dtype=object)[
            mod_np(hm >> np.uint64(8), len(vocab.ORDER_COMMENTS))
        ].tolist()
        ship_alt = mod_np(hc >> np.uint64(32), 100) < 20
        addr_idx = np.where(ship_alt, idx + (1 << 40), cust)
        ship = self.addresses("customers", addr_idx, country)
        tag_sets = self.tag_sets
        tags = [tag_sets[k] for k in mod_np(self._hash("sales_orders", "tags", idx), len(tag_sets))]
        currency = [vocab.COUNTRIES[c][1] for c in country]
        cols = [
            (idx + 1).tolist(),
            [f"SO-{k:07d}" for k in (idx + 1).tolist()],
            (cust + 1).tolist(),
            self.fmt_date(doc_date_us),
            due,
            statuses,
            currency,
            self._money(sub),
            self._money(tax),
            self._money(sub + tax),
            self._with_nulls(comments, comment_null),
            ship,
            tags,
            self.fmt_ts(rows.created),
            self.fmt_ts(rows.modified),
        ]
        return self.builders["sales_orders"](cols)

    def _customers(self, rows: RowSet) -> list[dict]:
        idx, ver = rows.idx, rows.version
        assert rows.created is not None
        party = self._party("customers", idx, ver)
        hx = self._hash("customers", "commercial", idx, ver)
        credit = (1 + mod_np(hx, 200)) * 50_000
        active = (mod_np(hx >> np.uint64(16), 100) >= 7).tolist()
        terms = np.array(vocab.PAYMENT_TERMS, dtype=object)[
            mod_np(self._hash("customers", "terms", idx), len(vocab.PAYMENT_TERMS))
        ].tolist()
        cols = [
            (idx + 1).tolist(),
            [f"C{k:05d}" for k in (idx + 1).tolist()],
            party["names"],
            party["emails"],
            party["phones"],
            self.addresses("customers", idx, party["country"]),
            terms,
            self._money(credit),
            active,
            self.fmt_ts(rows.created),
            self.fmt_ts(rows.modified),
        ]
        cols.extend(self._custom("customers", idx, ver, None))
        return self.builders["customers"](cols)

    def _vendors(self, rows: RowSet) -> list[dict]:
        idx, ver = rows.idx, rows.version
        assert rows.created is not None
        party = self._party("vendors", idx, ver)
        hx = self._hash("vendors", "commercial", idx, ver)
        terms = np.array(vocab.PAYMENT_TERMS, dtype=object)[
            mod_np(hx, len(vocab.PAYMENT_TERMS))
        ].tolist()
        cols = [
            (idx + 1).tolist(),
            [f"V{k:04d}" for k in (idx + 1).tolist()],
            party["names"],
            party["emails"],
            party["phones"],
            [vocab.COUNTRIES[c][0] for c in party["country"]],
            terms,
            (mod_np(hx >> np.uint64(16), 100) >= 5).tolist(),
            self.fmt_ts(rows.created),
            self.fmt_ts(rows.modified),
        ]
        return self.builders["vendors"](cols)

    def _products(self, rows: RowSet) -> list[dict]:
        idx, ver = rows.idx, rows.version
        assert rows.created is not None
        pa = self.product_attrs(idx, ver)
        hc = self._hash("products", "cost", idx, ver)
        cost = (pa["price4"] * (55 + mod_np(hc, 26))) // 100
        groups = np.array([g[0] for g in vocab.ITEM_GROUPS], dtype=object)[pa["group"]].tolist()
        cols = [
            (idx + 1).tolist(),
            [f"SKU-{k:06d}" for k in (idx + 1).tolist()],
            self.item_names[pa["name_id"]].tolist(),
            groups,
            self.uom_codes(pa["group"], pa["uom_k"]),
            (pa["price4"] / 10_000.0).tolist(),
            (np.maximum(cost, 1) / 10_000.0).tolist(),
            (mod_np(hc >> np.uint64(20), 100) >= 4).tolist(),
            self.fmt_ts(rows.created),
            self.fmt_ts(rows.modified),
        ]
        cols.extend(self._custom("products", idx, ver, pa))
        return self.builders["products"](cols)

    def _inventory(self, rows: RowSet) -> list[dict]:
        idx, ver = rows.idx, rows.version
        p, w = np.divmod(idx, len(vocab.WAREHOUSES))
        pa = self.product_attrs(p)
        uoms = self.uom_codes(pa["group"], pa["uom_k"])
        ea = np.array([u in EA_LIKE for u in uoms], dtype=bool)
        hs = self._hash("inventory", "stock", idx, ver)
        on_hand = np.where(ea, mod_np(hs, 2000) * 1000, mod_np(hs, 5_000_000))
        share = mod_np(hs >> np.uint64(32), 61)
        committed = (on_hand * share) // 100
        committed = np.where(ea, (committed // 1000) * 1000, committed)
        cols = [
            (p + 1).tolist(),
            [f"SKU-{k:06d}" for k in (p + 1).tolist()],
            np.array(vocab.WAREHOUSES, dtype=object)[w].tolist(),
            (on_hand / 1000.0).tolist(),
            (committed / 1000.0).tolist(),
            ((on_hand - committed) / 1000.0).tolist(),
            self.fmt_ts(rows.modified),
        ]
        cols.extend(self._custom("inventory", idx, ver, pa))
        return self.builders["inventory"](cols)

    # -- custom fields -------------------------------------------------------------

    def _custom(
        self, stream: str, idx: np.ndarray, ver: np.ndarray, pa: dict[str, Any] | None
    ) -> list[list[Any]]:
        cols = []
        for cf in self.tenant.custom(stream):
            hv = self._hash(stream, cf.name, idx, ver if cf.source in ("tier", "bin") else None)
            null = mod_np(hv >> np.uint64(56), 100) < 10
            values = self._custom_values(cf.source, hv, pa)
            cols.append(self._with_nulls(values, null))
        return cols

    def _custom_values(self, source: str, hv: np.ndarray, pa: dict[str, Any] | None) -> list[Any]:
        pick: Callable[[list[Any]], list[Any]] = lambda opts: np.array(opts, dtype=object)[  # noqa: E731
            mod_np(hv, len(opts))
        ].tolist()
        if source == "segment":
            return pick(vocab.SEGMENTS)
        if source == "tier":
            return (1 + mod_np(hv, 4)).tolist()
        if source == "manager":
            first = np.array(vocab.FIRST_NAMES, dtype=object)[mod_np(hv, len(vocab.FIRST_NAMES))]
            last = np.array(vocab.SURNAMES, dtype=object)[
                mod_np(hv >> np.uint64(8), len(vocab.SURNAMES))
            ]
            return [f"{a} {b}" for a, b in zip(first.tolist(), last.tolist(), strict=True)]
        if source == "color":
            return pick(vocab.COLORS)
        if source == "weight":
            return ((1 + mod_np(hv, 250_000)) / 1000.0).tolist()
        if source == "voltage":
            return pick(vocab.VOLTAGES)
        if source == "material":
            return pick(vocab.MATERIALS)
        if source == "length":
            return ((5 + mod_np(hv, 30_000)) / 10.0).tolist()
        if source == "hazardous":
            chem = (pa["group"] == 7) if pa is not None else np.zeros(hv.shape, bool)
            return (chem | (mod_np(hv, 100) < 3)).tolist()
        if source == "certified":
            days = HISTORY_START_US - 900 * DAY_US + mod_np(hv, 1800) * DAY_US
            return self.fmt_date(days - self.offset_us)
        if source == "grade":
            return pick(vocab.GRADES)
        if source == "bin":
            aisle = mod_np(hv, 12)
            rack = 1 + mod_np(hv >> np.uint64(8), 30)
            level = 1 + mod_np(hv >> np.uint64(16), 5)
            return [
                f"{chr(65 + a)}-{r:02d}-{lv}"
                for a, r, lv in zip(aisle.tolist(), rack.tolist(), level.tolist(), strict=True)
            ]
        if source == "shelf":
            return pick([90, 180, 365, 730, 1095])
        if source == "storage":
            return pick(vocab.STORAGE_CLASSES)
        raise ValueError(f"unknown custom field source {source!r}")
