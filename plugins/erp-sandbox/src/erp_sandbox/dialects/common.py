"""Helpers the dialects share: GUIDs, DateTimeOffset text, currencies, plants."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from erp_sandbox import vocab
from erp_sandbox.hashing import h_np, make_salt
from erp_sandbox.store import TenantStore

ZERO_GUID = "00000000-0000-0000-0000-000000000000"
CURRENCY_OF_COUNTRY = {c[0]: c[1] for c in vocab.COUNTRIES}


def guids(tenant: str, kind: str, idx: Sequence[int] | np.ndarray) -> list[str]:
    """Stable GUIDs of rows by index; they sort as the indices do (creation order)."""
    arr = np.asarray(idx, dtype=np.int64)
    if arr.size == 0:
        return []
    a = h_np(make_salt(tenant, kind, "guid-a"), arr)
    b = h_np(make_salt(tenant, kind, "guid-b"), arr)
    return [
        f"{i + 1:08x}-{x & 0xFFFF:04x}-4{(x >> 16) & 0xFFF:03x}-"
        f"{0x8000 | ((x >> 28) & 0x3FFF):04x}-{y & 0xFFFFFFFFFFFF:012x}"
        for i, x, y in zip(arr.tolist(), a.tolist(), b.tolist(), strict=True)
    ]


def guid(tenant: str, kind: str, i: int) -> str:
    """The GUID of one row."""
    return guids(tenant, kind, [i])[0]


def dto(us: Sequence[int] | np.ndarray, digits: int, trim: bool = False) -> list[str]:
    """Epoch microseconds -> UTC DateTimeOffset text with `digits` fractional digits (0-7).

    With `trim`, trailing zeros of the fraction (and a bare dot) are dropped.
    """
    arr = np.asarray(us, dtype=np.int64)
    if arr.size == 0:
        return []
    text = np.datetime_as_string(arr.astype("datetime64[us]"), unit="us").tolist()
    out = []
    for t in text:
        head, frac = t[:19], (t[20:] + "0")[:digits]
        if trim:
            frac = frac.rstrip("0")
        out.append(f"{head}.{frac}Z" if frac else f"{head}Z")
    return out


def utc_dates(us: Sequence[int] | np.ndarray) -> list[str]:
    """Epoch microseconds -> UTC calendar dates."""
    arr = np.asarray(us, dtype=np.int64)
    return np.datetime_as_string(arr.astype("datetime64[D]"), unit="D").tolist()


def warehouse_index(code: str) -> int:
    """Index of a warehouse code (WH01 -> 0)."""
    return vocab.WAREHOUSES.index(code)


def inventory_on_hand(store: TenantStore, products: Sequence[int]) -> list[float]:
    """On-hand stock of products summed over the warehouses."""
    nwh = len(vocab.WAREHOUSES)
    if not products:
        return []
    idx = np.array([p * nwh + w for p in products for w in range(nwh)], dtype=np.int64)
    rows = store.render("inventory", idx)
    return [
        round(sum(r["OnHand"] for r in rows[k * nwh : (k + 1) * nwh]), 3)
        for k in range(len(products))
    ]
