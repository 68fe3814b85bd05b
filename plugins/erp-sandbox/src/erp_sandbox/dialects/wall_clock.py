"""Listings in wall-clock order: how Frappe filters and sorts naive site-local times.

Frappe keeps `modified` naive in the site's time zone and compares and sorts it as that
local time. When summer time ends an hour of wall-clock times repeats: a row saved in
the second reading of that hour sorts among the rows of the first reading (by its
wall time), not after them, and a filter `modified >= "02:50"` leaves out a row saved
at the second 02:20 although it is newer. The store keeps instants; where a repeated
hour can fall in the range a listing asks for, this module reads that range whole and
serves it as Frappe would: filtered and ordered by wall time (then name).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from erp_sandbox.odata import engine
from erp_sandbox.odata.filter import Compiled
from erp_sandbox.odata.model import BY_REPLICATION_KEY, EntitySet

HOUR_US = 3_600_000_000
#: Clocks stay put for months around a change: a monthly look finds every fall-back.
STEP = datetime.timedelta(days=30)
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _instant(us: int) -> datetime.datetime:
    return EPOCH + datetime.timedelta(microseconds=us)


def clocks_go_back(zone: datetime.tzinfo, lo_us: int, hi_us: int) -> bool:
    """Whether the zone's UTC offset drops somewhere in [lo, hi] (wall times repeat)."""
    at, end = _instant(lo_us) - STEP, _instant(hi_us) + STEP
    offset = at.astimezone(zone).utcoffset()
    while at < end:
        at += STEP
        now = at.astimezone(zone).utcoffset()
        if now is not None and offset is not None and now < offset:
            return True
        offset = now
    return False


def page(
    store: Any,
    es: EntitySet,
    compiled: Compiled,
    zone: datetime.tzinfo,
    wall_us: Callable[[Any], int],
    *,
    start: int,
    limit: int | None,
) -> list[dict[str, Any]] | None:
    """Rows `start`..`start + limit` in wall-clock order with the bounds (already wall
    times) applied to wall times; None when no repeated hour is in range (then the
    store's order is the wall-clock order)."""
    lo, hi = compiled.since, compiled.before
    top = store.clock if hi is None else min(store.clock, hi + HOUR_US)
    if compiled.empty or not clocks_go_back(zone, (lo or 0) - HOUR_US, top):
        return None
    # A row's instant is its wall time or up to an hour later (the second reading).
    loose = Compiled(lo, None if hi is None else hi + HOUR_US, compiled.rest)
    keyed = []
    for item in engine.iterate(store, es, BY_REPLICATION_KEY, loose, chunk=5000):
        wall = wall_us(item.row["modified"])
        if (lo is None or wall >= lo) and (hi is None or wall < hi):
            keyed.append((wall, item.row["name"], item.row))
    keyed.sort(key=lambda k: (k[0], k[1]))
    end = None if limit is None else start + limit
    return [row for _wall, _name, row in keyed[start:end]]
